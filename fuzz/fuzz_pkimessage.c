/* Fuzz target: a pkiMessage as the engine receives it (DER).
 *
 * scep_msg_parse; then, for any message that carries content, decryption
 * with the RA key with legacy algorithms on and off; a decrypted PKCS#10 is
 * read as the engine reads it (scep_req_parse_keyless, then its key decoded
 * alone) and goes through the default profile (scep_policy_apply) and the
 * template lookup,
 * a decrypted IssuerAndSerialNumber through what getcert() does; finally the
 * FAILURE CertRep the engine would answer, which must always be buildable.
 *
 * Decryption is tried even when the signature does not verify: anyone can
 * sign with a self-signed certificate, so for an attacker signature_ok is
 * free, and mutated seeds keep reaching the envelope and the CSR code.
 * The seeds are encrypted to the RA in fuzz/pki (see tools/mkseeds.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "fuzz_common.h"
#include "scep_ossl.h"
#include "scep_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose;     /* SCEP_FUZZ_VERBOSE=1: say what each input reached */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *v = getenv("SCEP_FUZZ_VERBOSE");

    (void)argc; (void)argv;
    verbose = v && *v && *v != '0';
    fuzz_env();
    return 0;
}

/* What the engine does with a decrypted PKCS#10 once the requester is
 * authorised (the engine itself needs a database to get there). */
static void csr_payload(apr_pool_t *p, const unsigned char *der, apr_size_t len)
{
    const unsigned char *q = der;
    X509_REQ *csr;
    EVP_PKEY *key;
    scep_cert_plan_t *plan = NULL;
    const char *why = NULL;
    scep_request_t *req;

    /* as the engine reads it: key undecoded, then decoded on its own */
    ERR_clear_error();
    if (!(csr = scep_req_parse_keyless(p, fuzz_env()->oids->no_keys, &q, (long)len))) {
        ERR_clear_error();
        return;
    }
    if (X509_REQ_get0_pubkey(csr)) {
        fuzz_fail("a request parsed without key decoders has a decoded key");
    }
    if (!(key = scep_pubkey_decode(p, X509_REQ_get_X509_PUBKEY(csr)))) {
        ERR_clear_error();
        return;
    }
    (void)X509_REQ_verify_ex(csr, key, NULL, NULL);
    req = scep_policy_request(p, csr, key);
    if (req->template_name) {
        (void)scep_log_safe(p, req->template_name, strlen(req->template_name));
    }
    (void)scep_name_str(p, X509_REQ_get_subject_name(csr));
    if (scep_policy_apply(&plan, &why, p, scep_policy_make(p, "default"), req,
                          NULL, fuzz_eval, NULL) == APR_SUCCESS) {
        if (!plan || !plan->subject || !plan->pubkey || !plan->md) {
            fuzz_fail("scep_policy_apply succeeded with an incomplete plan");
        }
        (void)scep_name_str(p, plan->subject);
    }
    else if (!why) {
        fuzz_fail("scep_policy_apply refused without a reason");
    }
    ERR_clear_error();
}

/* What getcert()/getcrl() do with a decrypted IssuerAndSerialNumber. */
static void ias_payload(apr_pool_t *p, const scep_ca_t *ca,
                        const unsigned char *der, apr_size_t len)
{
    const unsigned char *q = der;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q, (long)len);

    ERR_clear_error();
    if (!ias) {
        return;
    }
    (void)scep_serial_hex(p, ias->serial);
    (void)X509_NAME_cmp(ias->issuer, X509_get_subject_name(ca->cert));
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_env_t *env = fuzz_env();
    apr_pool_t *p = fuzz_input_pool();
    scep_msg_t *msg = NULL;
    const char *err = NULL;
    int legacy, decrypted = 0;

    if (scep_msg_parse(&msg, &err, p, env->oids, data, size) != APR_SUCCESS) {
        if (!err) {
            fuzz_fail("scep_msg_parse failed without a reason");
        }
        if (verbose) fprintf(stderr, "unreadable: %s\n", err);
        goto leave;
    }
    /* what the engine relies on once a message parses */
    if (!msg || !msg->tid || !msg->tid_str || !msg->type_str || !msg->sender_nonce
        || msg->sender_nonce_len == 0 || msg->sender_nonce_len > SCEP_MAX_NONCE_LEN) {
        fuzz_fail("scep_msg_parse succeeded with an incomplete message");
    }
    if (msg->signature_ok ? (!msg->signer || !msg->content || !msg->content_len)
                          : !msg->signature_error) {
        fuzz_fail("signature_ok/signature_error inconsistent");
    }
    (void)scep_log_safe(p, msg->tid_str, strlen(msg->tid_str));
    (void)scep_msg_digest_allowed(msg->md_nid, 1);
    if (msg->signer) {
        (void)scep_cert_fingerprint(p, msg->signer);
        (void)scep_pubkey_fingerprint(p, X509_get_X509_PUBKEY(msg->signer));
    }

    for (legacy = 0; msg->content && legacy <= 1; legacy++) {
        scep_msg_t m = *msg;     /* decrypt fills in cipher, payload, detail */
        scep_fail_info_t fail = (scep_fail_info_t)-1;
        const char *derr = NULL;

        apr_status_t drv = scep_msg_decrypt(&m, &fail, &derr, p, env->ca->ra_cert,
                                            env->ca->ra_key, legacy);
        if (verbose) {
            fprintf(stderr, "type %d sig %s legacy %d: %s%s (%lu bytes)\n", msg->type,
                    msg->signature_ok ? "ok" : msg->signature_error, legacy,
                    drv == APR_SUCCESS ? "decrypted" : "not decrypted: ",
                    drv == APR_SUCCESS ? "" : derr, (unsigned long)m.payload_len);
        }
        if (drv == APR_SUCCESS) {
            /* a failed decryption goes on with random bytes, never nothing */
            if (!m.payload || m.payload_len == 0) {
                fuzz_fail("scep_msg_decrypt succeeded without a payload");
            }
            if (!decrypted && !m.decrypt_error) {
                decrypted = 1;
                csr_payload(p, m.payload, m.payload_len);
                ias_payload(p, env->ca, m.payload, m.payload_len);
            }
            if (msg->signature_ok && legacy) {
                /* a SUCCESS reply encrypted to this signer: fails cleanly
                 * for keys it cannot encrypt to */
                scep_reply_t ok;
                unsigned char *rep;
                apr_size_t rep_len;
                const char *rerr = NULL;
                memset(&ok, 0, sizeof(ok));
                ok.status = SCEP_STATUS_SUCCESS;
                ok.issued = env->ca->ra_cert;
                if (scep_msg_certrep(&rep, &rep_len, &rerr, p, env->oids, env->ca, &m, &ok,
                                     legacy) != APR_SUCCESS && !rerr) {
                    fuzz_fail("scep_msg_certrep failed without a reason");
                }
            }
        }
        else if (!derr || (int)fail < SCEP_FAIL_BADALG || (int)fail > SCEP_FAIL_BADCERTID) {
            fuzz_fail("scep_msg_decrypt failed without a reason or failInfo");
        }
    }

    /* the engine answers every parsed message; a FAILURE must always build */
    {
        scep_reply_t no;
        unsigned char *rep;
        apr_size_t rep_len;
        const char *rerr = NULL;
        memset(&no, 0, sizeof(no));
        no.status = SCEP_STATUS_FAILURE;
        no.fail_info = SCEP_FAIL_BADMESSAGECHECK;
        no.fail_text = msg->signature_error ? msg->signature_error : "fuzz";
        if (scep_msg_certrep(&rep, &rep_len, &rerr, p, env->oids, env->ca, msg, &no, 0)
            != APR_SUCCESS) {
            fprintf(stderr, "scep_msg_certrep: %s\n", rerr ? rerr : "?");
            fuzz_fail("no FAILURE CertRep for a message that parsed (HTTP 500)");
        }
    }
leave:
    ERR_clear_error();
    apr_pool_destroy(p);
    return 0;
}
