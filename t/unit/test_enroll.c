/* Unit-test fixture: enrollments as a device makes them. A CA with its RA,
 * one Location's service on an in-memory database (t_db_open), and devices
 * whose pkiMessages are built and whose CertReps are read with the
 * independent client library (client/scepc.h), not with scep/: a bug in
 * the library cannot hide itself by being on both ends. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "tests.h"
#include "scepc.h"
#include "scep_ossl.h"

#define T_SUBJECT "/CN=unit-device"

scep_ca_t *t_ca, *t_other_ca;
t_device_t t_devices[T_DEVICES];

static apr_pool_t *pki_pool;          /* the loaded CAs and the OIDs */
static EVP_PKEY *ca_key, *ra_key, *other_key;
static X509 *ca_cert, *ra_cert, *other_cert;
static X509_STORE *trust;             /* what a device trusts: GetCACert's certificates */
static scep_oids_t *oids;

/* A CA as mod_scep loads it (from PEM files, removed after). */
static scep_ca_t *load_ca(const char *name, X509 *cert, EVP_PKEY *key, X509 *ra, EVP_PKEY *rkey)
{
    const char *dir = t_tmpdir(), *err = NULL;
    scep_ca_files_t files;
    scep_ca_file_t which;
    scep_ca_t *ca = NULL;

    memset(&files, 0, sizeof(files));
    files.cert = t_write_pem(dir, "ca.pem", cert, NULL);
    files.key = t_write_pem(dir, "ca.key", NULL, key);
    if (ra) {
        files.ra_cert = t_write_pem(dir, "ra.pem", ra, NULL);
        files.ra_key = t_write_pem(dir, "ra.key", NULL, rkey);
    }
    ck_assert_msg(scep_ca_load(&ca, pki_pool, &files, &err, &which) == APR_SUCCESS, "%s: %s",
                  name, err);
    unlink(files.cert);
    unlink(files.key);
    if (ra) {
        unlink(files.ra_cert);
        unlink(files.ra_key);
    }
    rmdir(dir);
    return ca;
}

void t_pki_setup(void)
{
    STACK_OF(X509) *anchors = sk_X509_new_null();
    int i;

    if (t_ca) return;
    ck_assert(scepc_init());
    apr_pool_create(&pki_pool, test_pool);
    ca_key = t_rsa_key(2048);
    ra_key = t_rsa_key(2048);
    other_key = t_rsa_key(2048);
    ca_cert = t_cert(ca_key, NULL, NULL, "Enroll CA", "critical,keyCertSign,cRLSign", 1, 3650);
    ra_cert = t_cert(ra_key, ca_cert, ca_key, "Enroll RA",
                     "critical,digitalSignature,keyEncipherment", 0, 365);
    /* without an RA: the CA signs and decrypts itself */
    other_cert = t_cert(other_key, NULL, NULL, "Other CA",
                        "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment", 1, 3650);
    t_ca = load_ca("Enroll CA", ca_cert, ca_key, ra_cert, ra_key);
    t_other_ca = load_ca("Other CA", other_cert, other_key, NULL, NULL);
    ck_assert_int_eq(scep_oids_make(&oids, pki_pool), APR_SUCCESS);
    sk_X509_push(anchors, ra_cert);
    sk_X509_push(anchors, ca_cert);
    trust = scepc_trust_store(anchors);
    ck_assert_ptr_nonnull(trust);
    sk_X509_free(anchors);
    for (i = 0; i < T_DEVICES; i++) {
        t_devices[i].key = t_rsa_key(2048);
        t_devices[i].signer = scepc_signer_selfsigned(t_devices[i].key,
                                                       SCEPC_DEFAULT_SIGNER_DN);
        ck_assert_ptr_nonnull(t_devices[i].signer);
    }
}

void t_pki_teardown(void)
{
    int i;

    for (i = 0; i < T_DEVICES; i++) {
        X509_free(t_devices[i].signer);
        EVP_PKEY_free(t_devices[i].key);
    }
    memset(t_devices, 0, sizeof(t_devices));
    X509_STORE_free(trust);
    apr_pool_destroy(pki_pool);
    X509_free(ca_cert);
    X509_free(ra_cert);
    X509_free(other_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(ra_key);
    EVP_PKEY_free(other_key);
    t_ca = t_other_ca = NULL;
    scepc_cleanup();
}

static apr_status_t open_loc_store(void *baton, scep_store_t **pstore)
{
    t_loc_t *loc = baton;

    if (loc->db_down) {
        return SCEP_EDB;
    }
    *pstore = loc->db->store;
    return APR_SUCCESS;
}

/* The profile's expressions (none here) stand for themselves. */
static const char *literal(void *baton, const void *expr, const char **perr)
{
    (void)baton;
    (void)perr;
    return expr;
}

t_loc_t *t_loc_make(apr_pool_t *pool)
{
    t_loc_t *loc = apr_pcalloc(pool, sizeof(*loc));
    scep_profile_t *prof = apr_pcalloc(pool, sizeof(*prof));
    const scep_cacert_t *cacert = NULL;
    const char *err = NULL;

    loc->pool = pool;
    loc->ctx.pool = pool;
    loc->ctx.log = t_quiet_log;
    loc->ctx.log_level = SCEP_LOG_DEBUG;      /* every message formatted */
    loc->db = t_db_open(pool);
    prof->name = T_PROFILE;
    prof->challenge = (const unsigned char *)T_SECRET;
    prof->challenge_len = strlen(T_SECRET);
    prof->policy = scep_policy_make(pool, "unit");
    /* SCEPRequestLimit's defaults: zero would refuse every request */
    prof->limits.attributes = 16;
    prof->limits.extensions = 32;
    prof->limits.subject_rdns = 16;
    prof->limits.subject_length = 1024;
    prof->limits.sans = 64;
    prof->templates = apr_hash_make(pool);
    prof->named = apr_hash_make(pool);
    apr_hash_set(prof->named, prof->name, APR_HASH_KEY_STRING, prof);
    ck_assert_int_eq(scep_service_cacert(&cacert, &err, pool, t_ca), APR_SUCCESS);
    loc->profile = prof;
    loc->svc = scep_service_make(pool, t_ca, oids, prof, 7 * 86400, cacert);
    loc->env.open_store = open_loc_store;
    loc->env.store_baton = loc;
    loc->env.eval = literal;
    loc->client_addr = "192.0.2.10";
    return loc;
}

long t_count(t_loc_t *loc, const char *from)
{
    return t_db_count(loc->db, loc->pool, apr_pstrcat(loc->pool, "SELECT COUNT(*) FROM ",
                                                      from, NULL));
}

const char *t_live_id(t_loc_t *loc, const char *tid)
{
    apr_array_header_t *live = NULL;

    ck_assert_int_eq(scep_store_find_live(&live, &loc->ctx, loc->db->store, t_ca->fingerprint,
                                          tid), APR_SUCCESS);
    ck_assert_int_eq(live->nelts, 1);
    return APR_ARRAY_IDX(live, 0, scep_txn_t).id;
}

scep_admin_t *t_admin(t_loc_t *loc, const scep_ca_t *ca)
{
    static const char secret[] = "unit-admin-form-secret";
    scep_admin_t *adm = apr_pcalloc(loc->pool, sizeof(*adm));

    adm->ca = ca;
    adm->named = loc->profile->named;
    adm->crl_validity = 7 * 86400;
    adm->open_store = open_loc_store;
    adm->store_baton = loc;
    adm->user = "alice";
    adm->base = "/admin/";
    adm->secret = (const unsigned char *)secret;
    adm->secret_len = sizeof(secret) - 1;
    return adm;
}

/* The pkiMessage: payload in an AES envelope to the RA, signed by the
 * device's self-signed certificate with messageType, transactionID and a
 * fresh senderNonce. */
static t_msg_t signed_message(t_loc_t *loc, const t_device_t *dev, const char *type,
                              const char *tid, const unsigned char *payload, int payload_len)
{
    STACK_OF(X509) *recipients = sk_X509_new_null();
    EVP_CIPHER *aes = scepc_cipher_fetch("aes128");
    unsigned char nonce[SCEPC_NONCE_LEN], *env = NULL, *der = NULL;
    struct scepc_attr attrs[3];
    int n = 0, env_len = 0, der_len = 0;
    t_msg_t msg;

    ck_assert_int_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
    sk_X509_push(recipients, ra_cert);
    ck_assert(scepc_envelope_build(payload, payload_len, recipients, aes, &env, &env_len));
    scepc_attr_add(attrs, &n, scepc_nid.message_type, V_ASN1_PRINTABLESTRING, type,
                   (int)strlen(type));
    scepc_attr_add(attrs, &n, scepc_nid.transaction_id, V_ASN1_PRINTABLESTRING, tid,
                   (int)strlen(tid));
    scepc_attr_add(attrs, &n, scepc_nid.sender_nonce, V_ASN1_OCTET_STRING, nonce,
                   (int)sizeof(nonce));
    ck_assert(scepc_pkimessage_sign(env, env_len, dev->signer, dev->key, NULL, EVP_sha256(),
                                    attrs, n, 0, &der, &der_len));
    msg.dev = dev;
    msg.tid = apr_pstrdup(loc->pool, tid);
    msg.der = apr_pmemdup(loc->pool, der, (apr_size_t)der_len);
    msg.len = (apr_size_t)der_len;
    OPENSSL_free(der);
    OPENSSL_free(env);
    EVP_CIPHER_free(aes);
    sk_X509_free(recipients);
    return msg;
}

t_msg_t t_pkcsreq(t_loc_t *loc, const t_device_t *dev, const char *tid, const char *challenge)
{
    struct scepc_csr_params cp;
    unsigned char *der = NULL;
    X509_REQ *csr;
    t_msg_t msg;
    int len;

    memset(&cp, 0, sizeof(cp));
    cp.subject = T_SUBJECT;
    cp.challenge = challenge;
    cp.md = EVP_sha256();
    csr = scepc_csr_build(dev->key, &cp);
    ck_assert_ptr_nonnull(csr);
    len = i2d_X509_REQ(csr, &der);
    ck_assert_int_gt(len, 0);
    msg = signed_message(loc, dev, "19", tid, der, len);
    OPENSSL_free(der);
    X509_REQ_free(csr);
    return msg;
}

t_msg_t t_certpoll(t_loc_t *loc, const t_device_t *dev, const char *tid)
{
    X509_NAME *subject = scepc_dn_parse(T_SUBJECT);
    unsigned char *der = NULL;
    t_msg_t msg;
    int len = 0;

    ck_assert(scepc_der_issuer_and_subject(X509_get_subject_name(ca_cert), subject, &der, &len));
    msg = signed_message(loc, dev, "20", tid, der, len);
    OPENSSL_free(der);
    X509_NAME_free(subject);
    return msg;
}

static const char *text_of(apr_pool_t *pool, const ASN1_STRING *s)
{
    return s ? apr_pstrmemdup(pool, (const char *)ASN1_STRING_get0_data(s),
                              (apr_size_t)ASN1_STRING_length(s)) : NULL;
}

/* A SUCCESS as the device reads it: the envelope opened with its key, the
 * first certificate of the bundle inside, which the CA must have signed
 * for the device's key. */
static void read_issued(t_answer_t *a, apr_pool_t *pool, const t_msg_t *msg,
                        const struct scepc_reply *r)
{
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    unsigned char *pt = NULL;
    long pt_len = 0;
    char cipher[80];
    X509 *cert;

    ck_assert_ptr_nonnull(r->econtent);
    ck_assert(scepc_envelope_open(ASN1_STRING_get0_data(r->econtent),
                                  ASN1_STRING_length(r->econtent), msg->dev->key,
                                  msg->dev->signer, cipher, sizeof(cipher), &pt, &pt_len));
    ck_assert(scepc_bundle_parse(pt, pt_len, &certs, &crls));
    ck_assert_int_ge(sk_X509_num(certs), 1);
    cert = sk_X509_value(certs, 0);
    a->cert_ok = X509_check_issued(ca_cert, cert) == X509_V_OK
                 && X509_verify(cert, X509_get0_pubkey(ca_cert)) == 1
                 && EVP_PKEY_eq(X509_get0_pubkey(cert), msg->dev->key) == 1;
    a->serial = scep_serial_hex(pool, X509_get0_serialNumber(cert));
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    OPENSSL_free(pt);
}

t_answer_t t_send(t_loc_t *loc, const t_msg_t *msg)
{
    scep_http_in_t in;
    scep_http_out_t out;
    struct scepc_reply r;
    t_answer_t a;

    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    memset(&a, 0, sizeof(a));
    in.is_post = 1;
    in.operation = "PKIOperation";
    in.body = msg->der;
    in.body_len = msg->len;
    in.client_addr = loc->client_addr;
    scep_op_handle(&loc->ctx, loc->svc, &loc->env, &in, &out);
    a.http = out.status;
    a.pki_status = a.fail_info = -1;
    a.fail_text = "";
    if (out.status != 200) {
        return a;
    }
    ck_assert_str_eq(out.content_type, "application/x-pki-message");
    ck_assert(scepc_reply_parse(out.body, (long)out.len, trust, &r));
    ck_assert_msg(r.verified, "the CertRep does not verify with the RA certificate");
    ck_assert_ptr_nonnull(r.pki_status);
    ck_assert_str_eq(text_of(loc->pool, r.tid), msg->tid);
    a.pki_status = atoi(text_of(loc->pool, r.pki_status));
    if (r.fail_info) {
        a.fail_info = atoi(text_of(loc->pool, r.fail_info));
    }
    if (r.fail_info_text) {
        a.fail_text = text_of(loc->pool, r.fail_info_text);
    }
    if (a.pki_status == SCEP_STATUS_SUCCESS) {
        read_issued(&a, loc->pool, msg, &r);
    }
    scepc_reply_free(&r);
    return a;
}
