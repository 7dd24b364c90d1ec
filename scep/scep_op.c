/* mod_scep core: the engine, one function per step of an enrollment. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "scep_op.h"
#include "scep_ossl.h"
#include "scep_util.h"
#include "scep_crl.h"

#define CT_TEXT "text/plain"
#define CT_PKI  "application/x-pki-message"

static void http_text(scep_http_out_t *out, apr_pool_t *p, int status,
                      const char *text)
{
    out->status = status;
    out->content_type = CT_TEXT;
    out->body = (const unsigned char *)apr_pstrcat(p, text, "\n", NULL);
    out->len = strlen((const char *)out->body);
}

/* State of one PKIOperation as it moves through the steps. */
typedef struct enroll_t {
    scep_ctx_t *ctx;
    const scep_service_t *svc;
    const scep_http_in_t *in;
    scep_store_t *store;
    scep_msg_t *msg;
    X509_REQ *csr;          /* parsed without its key (scep_req_parse_keyless) */
    EVP_PKEY *csr_key;      /* the CSR's key, checked by its signature */
    scep_txn_t txn;
    scep_reply_t reply;
    const char *refusal;    /* why we answer FAILURE (for the log) */
    int is_enrollment;      /* PKCSReq/RenewalReq: decisions are recorded */
    scep_cert_t *renewed;   /* the record of the certificate being renewed */
    scep_challenge_t *challenge;   /* the one-time challenge used, if any */
    scep_consume_t consume;
} enroll_t;

static apr_status_t open_store(enroll_t *e)
{
    if (!e->store && e->svc->open_store) {
        if (e->svc->open_store(e->svc->store_baton, &e->store) != APR_SUCCESS) {
            e->store = NULL;
        }
    }
    return e->store ? APR_SUCCESS : SCEP_EDB;
}

/* Decide FAILURE: remember why, record it, log once. */
static apr_status_t refuse(enroll_t *e, scep_fail_info_t fail, const char *why)
{
    static const char *const names[] = {
        "badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId"
    };
    scep_ctx_t *ctx = e->ctx;

    e->reply.status = SCEP_STATUS_FAILURE;
    e->reply.fail_info = fail;
    e->reply.fail_text = why;
    e->refusal = why;
    if (e->msg->detail && *e->msg->detail) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00215) "transaction %s: OpenSSL says: %s",
                 scep_log_safe(ctx->pool, e->msg->tid_str, strlen(e->msg->tid_str)),
                 e->msg->detail);
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00201)
             "refused transaction %s from %s (profile %s): %s: %s",
             scep_log_safe(ctx->pool, e->msg->tid_str, strlen(e->msg->tid_str)),
             e->in->client_addr ? e->in->client_addr : "-",
             e->svc->profile->name, names[fail], why);
    e->txn.status = "REJECTED";
    e->txn.dedup_key = NULL;
    e->txn.fail_info = (int)fail;
    e->txn.fail_text = why;
    if (e->is_enrollment && open_store(e) == APR_SUCCESS) {
        if (scep_store_record_rejected(ctx, e->store, &e->txn) != APR_SUCCESS) {
            SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00202)
                     "could not record the refusal of transaction %s",
                     e->msg->tid_str);
        }
    }
    return SCEP_EFAILURE;
}

/* Step: the request's bytes, from a POST body or a GET message=. */
static apr_status_t read_message(const unsigned char **pder, apr_size_t *plen,
                                 const char **perr, apr_pool_t *p,
                                 const scep_http_in_t *in)
{
    unsigned char *der;
    apr_size_t len;

    if (in->is_post) {
        if (in->body_len == 0) {
            *perr = "empty request body";
            return SCEP_EUNREADABLE;
        }
        if (in->body[0] == 0x30) {
            *pder = in->body;
            *plen = in->body_len;
            return APR_SUCCESS;
        }
        /* some clients POST base64 */
        if (scep_b64_decode(&der, &len, p, (const char *)in->body, in->body_len)
            != APR_SUCCESS) {
            *perr = "the request body is neither DER nor base64";
            return SCEP_EUNREADABLE;
        }
    }
    else {
        if (!in->message || !*in->message) {
            *perr = "PKIOperation by GET needs a message parameter";
            return SCEP_EUNREADABLE;
        }
        if (scep_b64_decode(&der, &len, p, in->message, strlen(in->message))
            != APR_SUCCESS) {
            *perr = "the message parameter is not base64";
            return SCEP_EUNREADABLE;
        }
    }
    *pder = der;
    *plen = len;
    return APR_SUCCESS;
}

static const char *challenge_of(apr_pool_t *p, X509_REQ *csr, apr_size_t *plen)
{
    int idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
    X509_ATTRIBUTE *attr;
    ASN1_TYPE *t;

    if (idx < 0 || !(attr = X509_REQ_get_attr(csr, idx))
        || !(t = X509_ATTRIBUTE_get0_type(attr, 0))) {
        return NULL;
    }
    switch (t->type) {
    case V_ASN1_PRINTABLESTRING: case V_ASN1_UTF8STRING: case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING: case V_ASN1_BMPSTRING:
        break;
    default:
        return NULL;
    }
    *plen = (apr_size_t)ASN1_STRING_length(t->value.asn1_string);
    return apr_pstrmemdup(p, (const char *)ASN1_STRING_get0_data(t->value.asn1_string),
                          *plen);
}

/* Step: read and check the PKCS#10 request and the proof of possession.
 * The request is parsed without decoding its key (~0.1 ms with OpenSSL
 * 3.0): on a first enrollment the CSR carries the very SubjectPublicKeyInfo
 * of the self-signed signer certificate, whose key is decoded already. */
static apr_status_t check_csr(enroll_t *e)
{
    apr_pool_t *p = e->ctx->pool;
    const unsigned char *q = e->msg->payload;
    EVP_PKEY *csr_key;
    X509 *signer = e->msg->signer;

    ERR_clear_error();
    e->csr = scep_req_parse_keyless(p, e->svc->ca->no_keys, &q, (long)e->msg->payload_len);
    if (!e->csr) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the envelope does not hold a PKCS#10 request");
    }
    if (q != e->msg->payload + e->msg->payload_len) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "trailing bytes after the PKCS#10 request");
    }
    {
        /* the record keeps the request without its challengePassword: the
         * secret must not sit in the database (the copy's signature no
         * longer verifies, which the record does not need) */
        unsigned char *redacted;
        apr_size_t rlen;
        if (scep_req_der_without(&redacted, &rlen, p, e->csr,
                                 NID_pkcs9_challengePassword) == APR_SUCCESS) {
            e->txn.csr = scep_b64_encode(p, redacted, rlen);
        }
    }
    e->txn.subject = scep_name_str(p, X509_REQ_get_subject_name(e->csr));
    e->txn.key_fp = scep_pubkey_fingerprint(p, X509_REQ_get_X509_PUBKEY(e->csr));
    csr_key = *e->txn.key_fp
              && !strcmp(e->txn.key_fp,
                         scep_pubkey_fingerprint(p, X509_get_X509_PUBKEY(signer)))
              ? X509_get0_pubkey(signer)
              : scep_pubkey_decode(p, X509_REQ_get_X509_PUBKEY(e->csr));
    if (!csr_key || X509_REQ_verify_ex(e->csr, csr_key, NULL, NULL) != 1) {
        ERR_clear_error();
        return refuse(e, SCEP_FAIL_BADREQUEST, "the PKCS#10 request's signature does not verify");
    }
    e->csr_key = csr_key;
    if (X509_NAME_entry_count(X509_REQ_get_subject_name(e->csr)) == 0) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the request has an empty subject");
    }
    if (X509_self_signed(signer, 1) == 1) {
        if (e->msg->type == SCEP_MSG_RENEWALREQ) {
            return refuse(e, SCEP_FAIL_BADREQUEST, "a RenewalReq must be signed by the "
                          "certificate being renewed, not a self-signed one");
        }
        /* first enrollment: the self-signed signer proves the CSR key */
        if (EVP_PKEY_eq(X509_get0_pubkey(signer), csr_key) != 1) {
            ERR_clear_error();
            return refuse(e, SCEP_FAIL_BADREQUEST,
                          "the self-signed signer certificate's key differs from the request's key");
        }
        e->txn.renewal_of = "";
    }
    else if (scep_ca_issued(e->svc->ca, signer)) {
        if (X509_cmp_current_time(X509_get0_notAfter(signer)) <= 0) {
            return refuse(e, SCEP_FAIL_BADREQUEST, "the signer certificate has expired");
        }
        e->txn.renewal_of = scep_serial_hex(p, X509_get0_serialNumber(signer));
    }
    else {
        ERR_clear_error();
        return refuse(e, SCEP_FAIL_BADREQUEST,
                      "the signer certificate is neither self-signed nor issued by this CA");
    }
    /* One answer per request: the same transactionID, the same CSR and the
     * same kind of signer (self-signed, or the certificate being renewed). */
    {
        const char *id = apr_pstrcat(p, e->txn.ca, "|", e->txn.tid, "|",
                                     scep_sha256_hex(p, e->msg->payload,
                                                     e->msg->payload_len),
                                     "|", e->txn.renewal_of, NULL);
        e->txn.dedup_key = scep_sha256_hex(p, (const unsigned char *)id, strlen(id));
    }
    return APR_SUCCESS;
}

static X509 *decode_cert(apr_pool_t *p, const char *b64)
{
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    X509 *cert;

    if (!b64 || scep_b64_decode(&der, &len, p, b64, strlen(b64)) != APR_SUCCESS) {
        return NULL;
    }
    q = der;
    cert = d2i_X509(NULL, &q, (long)len);
    return scep_own_x509(p, cert);
}

/* Answer as a stored transaction says: its certificate, PENDING, or the
 * administrator's rejection. */
static apr_status_t reply_stored(enroll_t *e, const scep_txn_t *t)
{
    if (!strcmp(t->status, "PENDING")) {
        e->reply.status = SCEP_STATUS_PENDING;
        return APR_SUCCESS;
    }
    if (!strcmp(t->status, "REJECTED")) {
        e->reply.status = SCEP_STATUS_FAILURE;
        e->reply.fail_info = t->fail_info >= 0 && t->fail_info <= 4
                             ? (scep_fail_info_t)t->fail_info : SCEP_FAIL_BADREQUEST;
        e->reply.fail_text = t->fail_text ? t->fail_text : "rejected";
        e->refusal = e->reply.fail_text;
        return APR_SUCCESS;
    }
    if (!(e->reply.issued = decode_cert(e->ctx->pool, t->cert_der))) {
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00203)
                 "stored certificate for transaction %s is unreadable", e->txn.tid);
        e->is_enrollment = 0;
        return refuse(e, SCEP_FAIL_BADREQUEST, "the stored certificate is unreadable");
    }
    e->reply.status = SCEP_STATUS_SUCCESS;
    return APR_SUCCESS;
}

/* Step: a transactionID we know. Resent: same answer. Other key: refused.
 * Returns APR_SUCCESS when the reply is decided, APR_NOTFOUND to go on. */
static apr_status_t check_known(enroll_t *e)
{
    apr_array_header_t *rows;
    int i;

    if (open_store(e) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    if (scep_store_find_live(&rows, e->ctx, e->store, e->txn.ca, e->txn.tid) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    for (i = 0; i < rows->nelts; i++) {
        scep_txn_t *l = &APR_ARRAY_IDX(rows, i, scep_txn_t);
        if (!strcmp(l->dedup_key, e->txn.dedup_key)) {
            SCEP_LOG(e->ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00204)
                     "transaction %s resent: answering as before (%s%s%s)",
                     e->msg->tid_str, l->status, l->serial ? ", serial " : "",
                     l->serial ? l->serial : "");
            return reply_stored(e, l) == APR_SUCCESS ? APR_SUCCESS : SCEP_EFAILURE;
        }
    }
    /* a renewal is a new transaction even when the client keeps its
     * transactionID (micromdm derives it from the key it keeps) */
    for (i = 0; i < rows->nelts && !*e->txn.renewal_of; i++) {
        scep_txn_t *l = &APR_ARRAY_IDX(rows, i, scep_txn_t);
        return refuse(e, SCEP_FAIL_BADREQUEST, strcmp(l->key_fp, e->txn.key_fp)
                      ? "this transactionID was already used with a different key"
                      : "this transactionID was already used for a different request");
    }
    return APR_NOTFOUND;
}

/* Step (renewal): the certificate being renewed must be ours, on record,
 * unexpired (checked with the signature), unrevoked, and in the window. */
static apr_status_t check_renewal(enroll_t *e)
{
    const scep_profile_t *prof = e->svc->profile;
    apr_status_t rv;
    apr_int64_t left;

    if (!prof->renewal) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "renewal is not enabled at this enrollment "
                      "point (SCEPRenewal)");
    }
    if (open_store(e) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    rv = scep_store_cert_get(&e->renewed, e->ctx, e->store, e->txn.ca, e->txn.renewal_of);
    if (rv == APR_NOTFOUND) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the certificate being renewed is not in "
                      "this CA's records");
    }
    if (rv != APR_SUCCESS) {
        return SCEP_EDB;
    }
    if (e->renewed->revoked_at) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the certificate being renewed is revoked");
    }
    left = e->renewed->not_after - (apr_int64_t)apr_time_sec(apr_time_now());
    if (prof->renewal_window > 0 && left > prof->renewal_window) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_psprintf(e->ctx->pool,
                      "renewal is allowed only in the last %" APR_INT64_T_FMT " days before "
                      "expiry (SCEPRenewalWindow); this certificate has %" APR_INT64_T_FMT
                      " days left", prof->renewal_window / 86400, left / 86400));
    }
    return APR_SUCCESS;
}

/* A refusal for a wrong or unusable challenge: counted for throttling. */
static apr_status_t refuse_auth(enroll_t *e, const char *why)
{
    e->txn.auth_failed = 1;
    return refuse(e, SCEP_FAIL_BADREQUEST, why);
}

/* Step: is the requester allowed to enroll here? The static secret, or a
 * one-time challenge made for this profile (consumed when recorded). */
static apr_status_t authorize(enroll_t *e)
{
    const scep_profile_t *prof = e->svc->profile;
    apr_pool_t *p = e->ctx->pool;
    const char *given;
    apr_size_t len = 0;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());

    if (!prof->challenge && !prof->one_time) {
        return refuse(e, SCEP_FAIL_BADREQUEST,
                      "this enrollment point has no challenge password configured");
    }
    if (prof->throttle_window > 0 && e->in->client_addr && open_store(e) == APR_SUCCESS) {
        apr_int64_t failures = 0;
        if (scep_store_auth_failures(&failures, e->ctx, e->store, e->in->client_addr,
                                     now - prof->throttle_window) == APR_SUCCESS
            && failures >= prof->throttle_count) {
            return refuse(e, SCEP_FAIL_BADREQUEST, "too many failed challenge attempts from "
                          "this address; try again later (SCEPChallengeThrottle)");
        }
    }
    given = challenge_of(p, e->csr, &len);
    if (!given) {
        return refuse_auth(e, "the request has no challengePassword");
    }
    if (prof->challenge && scep_secret_equal((const unsigned char *)given, len,
                                             prof->challenge, prof->challenge_len)) {
        return APR_SUCCESS;
    }
    if (prof->one_time) {
        /* only the hash is stored, so the lookup compares hashes, not secrets */
        const char *hash = scep_sha256_hex(p, (const unsigned char *)given, len);
        scep_challenge_t *ch;
        apr_status_t rv;

        if (open_store(e) != APR_SUCCESS) {
            return SCEP_EDB;
        }
        rv = scep_store_challenge_find(&ch, e->ctx, e->store, e->txn.ca, hash);
        if (rv == APR_SUCCESS) {
            if (strcmp(ch->profile, prof->name)) {
                return refuse_auth(e, "this one-time challenge is for another enrollment point");
            }
            if (ch->used_at) {
                return refuse_auth(e, "this one-time challenge was already used");
            }
            if (ch->revoked_at) {
                return refuse_auth(e, "this one-time challenge was revoked");
            }
            if (ch->expires_at <= now) {
                return refuse_auth(e, "this one-time challenge has expired");
            }
            e->challenge = ch;
            e->consume.hash = hash;
            e->consume.tid = e->txn.tid;
            return APR_SUCCESS;
        }
        if (rv != APR_NOTFOUND) {
            return SCEP_EDB;
        }
    }
    return refuse_auth(e, "the challengePassword is wrong");
}

/* A one-time challenge bound to names: the certificate carries exactly
 * those, whatever the request asked for. */
static apr_status_t bind_names(enroll_t *e, scep_cert_plan_t *plan)
{
    apr_pool_t *p = e->ctx->pool;
    const char *err = NULL;

    if (e->challenge->subject && *e->challenge->subject
        && scep_policy_parse_subject(&plan->subject, &err, p, e->challenge->subject)
           != APR_SUCCESS) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(p, "the challenge's bound "
                      "subject is unusable: ", err, NULL));
    }
    if (e->challenge->san && *e->challenge->san
        && scep_policy_parse_sans(&plan->san, &err, p, e->challenge->san) != APR_SUCCESS) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(p, "the challenge's bound "
                      "subjectAltNames are unusable: ", err, NULL));
    }
    return APR_SUCCESS;
}

/* Step: the profile decides what the certificate contains. A Microsoft
 * template name in the request selects among the profiles mapped here. */
static apr_status_t apply_policy(enroll_t *e, scep_cert_plan_t **pplan)
{
    const scep_profile_t *prof = e->svc->profile;
    const scep_policy_t *pol = prof->policy;
    const char *tmpl = scep_policy_requested_template(e->ctx->pool, e->csr);
    const char *refusal = NULL;

    if (tmpl) {
        const char *target = prof->templates
                             ? apr_hash_get(prof->templates, tmpl, APR_HASH_KEY_STRING) : NULL;
        pol = target && prof->named ? apr_hash_get(prof->named, target, APR_HASH_KEY_STRING)
                                    : NULL;
        if (!pol) {
            return refuse(e, SCEP_FAIL_BADREQUEST, apr_psprintf(e->ctx->pool,
                          "certificate template '%s' is not mapped at this enrollment "
                          "point (SCEPTemplate)",
                          scep_log_safe(e->ctx->pool, tmpl, strlen(tmpl))));
        }
    }
    if (scep_policy_apply(pplan, &refusal, e->ctx->pool, pol, e->csr, e->csr_key,
                          e->svc->eval, e->svc->eval_baton) != APR_SUCCESS) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(e->ctx->pool, "profile ",
                      pol == prof->policy ? prof->name : pol->name, ": ", refusal, NULL));
    }
    e->txn.profile = pol == prof->policy ? prof->name : pol->name;
    return APR_SUCCESS;
}

/* Step: sign the certificate and commit it before anyone sees it. */
static apr_status_t issue(enroll_t *e, const scep_cert_plan_t *plan)
{
    apr_pool_t *p = e->ctx->pool;
    scep_cert_t rec;
    X509 *cert;
    unsigned char *der;
    apr_size_t len;
    const char *err = "";
    apr_status_t rv;

    rv = scep_ca_issue(&cert, &err, p, e->svc->ca, plan);
    if (rv == SCEP_EFAILURE) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(p, "profile ", e->txn.profile,
                                                            ": ", err, NULL));
    }
    if (rv != APR_SUCCESS) {
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00205)
                 "issuing for transaction %s failed: %s", e->txn.tid, err);
        return refuse(e, SCEP_FAIL_BADREQUEST, "the CA could not sign the certificate");
    }
    scep_x509_der(&der, &len, p, cert);
    rec.ca = e->txn.ca;
    rec.serial = scep_serial_hex(p, X509_get0_serialNumber(cert));
    rec.subject = scep_name_str(p, X509_get_subject_name(cert));
    rec.not_before = scep_asn1_time_epoch(X509_get0_notBefore(cert));
    rec.not_after = scep_asn1_time_epoch(X509_get0_notAfter(cert));
    rec.der = scep_b64_encode(p, der, len);
    e->txn.status = "ISSUED";
    e->txn.serial = rec.serial;
    e->txn.fail_info = -1;

    rv = scep_store_record_issued(e->ctx, e->store, &e->txn, &rec,
                                  e->challenge ? &e->consume : NULL);
    if (rv == SCEP_ECHALLENGE) {
        e->txn.serial = NULL;      /* rolled back with the transaction */
        return refuse_auth(e, "this one-time challenge was already used");
    }
    if (rv == SCEP_ECONFLICT) {
        /* an identical request won the race: answer with its certificate */
        return check_known(e) == APR_SUCCESS ? APR_SUCCESS : SCEP_EFAILURE;
    }
    if (rv != APR_SUCCESS) {
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00206)
                 "certificate %s for transaction %s was not recorded: not sent",
                 rec.serial, e->txn.tid);
        e->txn.serial = NULL;
        return refuse(e, SCEP_FAIL_BADREQUEST,
                      "the server could not record the enrollment; try again later");
    }
    SCEP_LOG(e->ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00207)
             "issued serial %s to %s for transaction %s from %s (profile %s)",
             rec.serial, rec.subject, e->msg->tid_str,
             e->in->client_addr ? e->in->client_addr : "-", e->txn.profile);
    e->reply.status = SCEP_STATUS_SUCCESS;
    e->reply.issued = cert;
    return APR_SUCCESS;
}

/* A renewal keeps the subject and subjectAltNames of the certificate it
 * renews (unless SCEPRenewalSubject profile): the profile still decides
 * key, usages and validity. */
static void keep_names(enroll_t *e, scep_cert_plan_t *plan)
{
    apr_pool_t *p = e->ctx->pool;
    X509 *old = e->msg->signer;
    GENERAL_NAMES *san = X509_get_ext_d2i(old, NID_subject_alt_name, NULL, NULL);

    /* the plan's previous names stay owned by the pool */
    plan->subject = scep_own_name(p, X509_NAME_dup(X509_get_subject_name(old)));
    plan->san = scep_own_general_names(p, san ? san : GENERAL_NAMES_new());
    ERR_clear_error();
}

/* base64 of an object's DER (i2d); NULL if it cannot be encoded */
#define DER_B64(p, i2d, obj, out) do {                                  \
        unsigned char *der_ = NULL;                                     \
        int len_ = i2d(obj, &der_);                                     \
        (out) = len_ > 0 ? scep_b64_encode(p, der_, (apr_size_t)len_) : NULL; \
        OPENSSL_free(der_);                                             \
    } while (0)

/* Step (manual approval): record the request as decided by the profile,
 * and answer PENDING until an administrator decides. */
static apr_status_t hold(enroll_t *e, const scep_cert_plan_t *plan)
{
    apr_pool_t *p = e->ctx->pool;
    apr_status_t rv;

    e->txn.status = "PENDING";
    e->txn.fail_info = -1;
    DER_B64(p, i2d_X509_NAME, plan->subject, e->txn.plan_subject);
    if (plan->san && sk_GENERAL_NAME_num(plan->san) > 0) {
        DER_B64(p, i2d_GENERAL_NAMES, plan->san, e->txn.plan_san);
    }
    rv = scep_store_record_pending(e->ctx, e->store, &e->txn,
                                   e->challenge ? &e->consume : NULL);
    if (rv == SCEP_ECHALLENGE) {
        return refuse_auth(e, "this one-time challenge was already used");
    }
    if (rv == SCEP_ECONFLICT) {
        return check_known(e) == APR_SUCCESS ? APR_SUCCESS : SCEP_EFAILURE;
    }
    if (rv != APR_SUCCESS) {
        return refuse(e, SCEP_FAIL_BADREQUEST,
                      "the server could not record the request; try again later");
    }
    SCEP_LOG(e->ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00211)
             "transaction %s from %s (profile %s) waits for approval: %s",
             e->msg->tid_str, e->in->client_addr ? e->in->client_addr : "-",
             e->txn.profile, scep_name_str(p, plan->subject));
    e->reply.status = SCEP_STATUS_PENDING;
    return APR_SUCCESS;
}

static void pkcsreq(enroll_t *e)
{
    const scep_profile_t *prof = e->svc->profile;
    scep_cert_plan_t *plan;
    int renewal;
    apr_status_t rv;

    if (check_csr(e) != APR_SUCCESS) {
        return;
    }
    rv = check_known(e);
    if (rv == APR_SUCCESS || rv == SCEP_EFAILURE || rv == SCEP_EDB) {
        return;
    }
    /* sscep -O and certmonger renew with a PKCSReq signed by the old
     * certificate; where renewal is off, that is an ordinary enrollment */
    renewal = *e->txn.renewal_of && (prof->renewal || e->msg->type == SCEP_MSG_RENEWALREQ);
    if (renewal) {
        if (check_renewal(e) != APR_SUCCESS
            || (prof->renewal_challenge && authorize(e) != APR_SUCCESS)) {
            return;
        }
    }
    else if (authorize(e) != APR_SUCCESS) {
        return;
    }
    if (apply_policy(e, &plan) != APR_SUCCESS) {
        return;
    }
    if (renewal && prof->renewal_keep_subject) {
        keep_names(e, plan);
    }
    if (e->challenge && bind_names(e, plan) != APR_SUCCESS) {
        return;
    }
    if (prof->manual_approval) {
        hold(e, plan);
        return;
    }
    issue(e, plan);
}

/* CertPoll: the answer recorded for this transactionID, to the key that
 * asked for it. */
static void certpoll(enroll_t *e)
{
    apr_array_header_t *rows;
    const char *signer_key;
    int i;

    if (open_store(e) != APR_SUCCESS
        || scep_store_find_live(&rows, e->ctx, e->store, e->txn.ca, e->txn.tid) != APR_SUCCESS) {
        return;
    }
    signer_key = scep_pubkey_fingerprint(e->ctx->pool, X509_get_X509_PUBKEY(e->msg->signer));
    for (i = 0; i < rows->nelts; i++) {
        scep_txn_t *t = &APR_ARRAY_IDX(rows, i, scep_txn_t);
        if (!strcmp(t->key_fp, signer_key)
            || (t->signer_fp && !strcmp(t->signer_fp, e->txn.signer_fp))) {
            reply_stored(e, t);
            return;
        }
    }
    refuse(e, SCEP_FAIL_BADCERTID, rows->nelts
           ? "this transaction belongs to another key"
           : "no request with this transactionID is known");
}

/* The IssuerAndSerialNumber of GetCert and GetCRL; NULL if unreadable. */
static PKCS7_ISSUER_AND_SERIAL *issuer_and_serial(enroll_t *e)
{
    const unsigned char *q = e->msg->payload;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q,
                                                               (long)e->msg->payload_len);
    ERR_clear_error();
    if (!ias) {
        refuse(e, SCEP_FAIL_BADREQUEST, "the envelope does not hold an IssuerAndSerialNumber");
    }
    return ias;
}

/* GetCert: any certificate this CA issued, to anyone who asks with a signed
 * message (certificates are public; the reply is encrypted to the asker). */
static void getcert(enroll_t *e)
{
    PKCS7_ISSUER_AND_SERIAL *ias = issuer_and_serial(e);
    scep_cert_t *rec;
    const char *serial;
    apr_status_t rv;

    if (!ias) {
        return;
    }
    serial = scep_serial_hex(e->ctx->pool, ias->serial);
    if (X509_NAME_cmp(ias->issuer, X509_get_subject_name(e->svc->ca->cert)) != 0) {
        refuse(e, SCEP_FAIL_BADCERTID, "the issuer named is not this CA");
    }
    else if (open_store(e) != APR_SUCCESS) {
        /* answered 503 */
    }
    else if ((rv = scep_store_cert_get(&rec, e->ctx, e->store, e->txn.ca, serial))
             == APR_NOTFOUND) {
        refuse(e, SCEP_FAIL_BADCERTID, apr_psprintf(e->ctx->pool, "no certificate with "
               "serial %s was issued by this CA", serial));
    }
    else if (rv == APR_SUCCESS) {
        scep_txn_t t;
        memset(&t, 0, sizeof(t));
        t.status = "ISSUED";
        t.cert_der = rec->der;
        reply_stored(e, &t);
    }
    PKCS7_ISSUER_AND_SERIAL_free(ias);
}

/* GetCRL: the CA's current CRL, whatever serial the request names (sscep
 * names the CA certificate itself). */
static void getcrl(enroll_t *e)
{
    PKCS7_ISSUER_AND_SERIAL *ias = issuer_and_serial(e);
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    X509_CRL *crl;

    if (!ias) {
        return;
    }
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    if (open_store(e) != APR_SUCCESS
        || scep_op_current_crl(&der, &len, e->ctx, e->store, e->svc->ca,
                               e->svc->crl_validity) != APR_SUCCESS) {
        e->store = NULL;    /* answered 503 */
        return;
    }
    q = der;
    if (!(crl = scep_own_crl(e->ctx->pool, d2i_X509_CRL(NULL, &q, (long)len)))) {
        refuse(e, SCEP_FAIL_BADREQUEST, "the CRL could not be read back");
        return;
    }
    e->reply.status = SCEP_STATUS_SUCCESS;
    e->reply.crl = crl;
}

static void pki_operation(scep_ctx_t *ctx, const scep_service_t *svc,
                          const scep_http_in_t *in, scep_http_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    const unsigned char *der;
    apr_size_t len;
    const char *err = NULL;
    scep_fail_info_t fail;
    unsigned char *rep;
    apr_size_t rep_len;
    enroll_t e;

    memset(&e, 0, sizeof(e));
    e.ctx = ctx;
    e.svc = svc;
    e.in = in;
    if (read_message(&der, &len, &err, p, in) != APR_SUCCESS
        || scep_msg_parse(&e.msg, &err, p, svc->oids, der, len) != APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00208)
                 "unreadable PKIOperation from %s: %s",
                 in->client_addr ? in->client_addr : "-", err);
        http_text(out, p, 400, apr_pstrcat(p, "Bad Request: ", err, NULL));
        return;
    }
    /* polls and fetches are not enrollments: only these leave records */
    e.is_enrollment = e.msg->type != SCEP_MSG_CERTPOLL && e.msg->type != SCEP_MSG_GETCERT
                      && e.msg->type != SCEP_MSG_GETCRL;
    e.txn.ca = svc->ca->fingerprint;
    e.txn.tid = e.msg->tid_str;
    e.txn.msg_type = e.msg->type;
    e.txn.profile = svc->profile->name;
    e.txn.client_addr = in->client_addr;
    e.txn.fail_info = -1;
    e.txn.renewal_of = "";
    if (e.msg->signer) {
        unsigned char *sder;
        apr_size_t slen;
        e.txn.signer_fp = scep_cert_fingerprint(p, e.msg->signer);
        if (scep_x509_der(&sder, &slen, p, e.msg->signer) == APR_SUCCESS) {
            e.txn.signer_cert = scep_b64_encode(p, sder, slen);
        }
    }

    if (!e.msg->signature_ok) {
        refuse(&e, SCEP_FAIL_BADMESSAGECHECK, e.msg->signature_error);
    }
    else if (!scep_msg_digest_allowed(e.msg->md_nid, svc->profile->allow_legacy)) {
        refuse(&e, SCEP_FAIL_BADALG, apr_psprintf(p, "digest %s is not allowed%s",
               e.msg->md_nid == NID_undef ? "(unknown)" : OBJ_nid2sn(e.msg->md_nid),
               e.msg->md_nid == NID_md5 ? " (MD5 needs SCEPLegacyAlgorithms on)" : ""));
    }
    else if (e.msg->type != SCEP_MSG_PKCSREQ && e.msg->type != SCEP_MSG_RENEWALREQ
             && e.msg->type != SCEP_MSG_CERTPOLL && e.msg->type != SCEP_MSG_GETCERT
             && e.msg->type != SCEP_MSG_GETCRL) {
        /* strict allow-list: anything else (UpdateReq, CertRep, ...) is
         * refused, never handled like a request we know */
        refuse(&e, SCEP_FAIL_BADREQUEST,
               apr_psprintf(p, "messageType %s is not supported here", e.msg->type_str));
    }
    else if (scep_msg_decrypt(e.msg, &fail, &err, p, svc->ca->ra_cert, svc->ca->ra_key,
                              svc->profile->allow_legacy) != APR_SUCCESS) {
        refuse(&e, fail, err);
    }
    else if (e.msg->type == SCEP_MSG_CERTPOLL) {
        certpoll(&e);
    }
    else if (e.msg->type == SCEP_MSG_GETCERT) {
        getcert(&e);
    }
    else if (e.msg->type == SCEP_MSG_GETCRL) {
        getcrl(&e);
    }
    else {
        pkcsreq(&e);
    }

    if (e.reply.status == SCEP_STATUS_SUCCESS && !e.reply.issued && !e.reply.crl) {
        /* no store: nothing may be issued without a record */
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00209)
                 "the enrollment database is unavailable; transaction %s not served",
                 e.msg->tid_str);
        http_text(out, p, 503, "Service Unavailable: enrollment database unavailable");
        return;
    }
    if (scep_msg_certrep(&rep, &rep_len, &err, p, svc->oids, svc->ca, e.msg, &e.reply)
        != APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00210)
                 "transaction %s: %s", e.msg->tid_str, err);
        http_text(out, p, 500, "Internal Server Error: cannot build the reply");
        return;
    }
    out->status = 200;
    out->content_type = CT_PKI;
    out->body = rep;
    out->len = rep_len;
}

apr_status_t scep_op_current_crl(unsigned char **pder, apr_size_t *plen,
                                 scep_ctx_t *ctx, scep_store_t *st,
                                 const scep_ca_t *ca, apr_int64_t validity)
{
    apr_pool_t *p = ctx->pool;
    scep_crl_rec_t *latest = NULL, rec;
    apr_array_header_t *revoked;
    apr_int64_t count = 0, now = (apr_int64_t)apr_time_sec(apr_time_now());
    const char *err = "";
    unsigned char *der;
    apr_size_t len;
    apr_status_t rv;
    int attempt;

    for (attempt = 0; attempt < 3; attempt++) {
        rv = scep_store_crl_latest(&latest, &count, ctx, st, ca->fingerprint);
        if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
            return rv;
        }
        if (rv == APR_SUCCESS && latest->revoked_count == count
            && now < latest->this_update + validity / 2) {
            return scep_b64_decode(pder, plen, p, latest->der, strlen(latest->der));
        }
        if ((rv = scep_store_revoked(&revoked, ctx, st, ca->fingerprint)) != APR_SUCCESS) {
            return rv;
        }
        rec.number = latest ? latest->number + 1 : 1;
        rec.this_update = now;
        rec.next_update = now + validity;
        rec.revoked_count = revoked->nelts;
        if (scep_crl_build(&der, &len, &err, p, ca, revoked, rec.number, validity, NULL)
            != APR_SUCCESS) {
            SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00212) "cannot build the CRL: %s", err);
            return APR_EGENERAL;
        }
        rec.der = scep_b64_encode(p, der, len);
        rv = scep_store_crl_insert(ctx, st, ca->fingerprint, &rec);
        if (rv == APR_SUCCESS) {
            SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00213)
                     "CRL number %" APR_INT64_T_FMT " built with %d revoked certificates",
                     rec.number, revoked->nelts);
            *pder = der;
            *plen = len;
            return APR_SUCCESS;
        }
        /* another request or node stored this number first: use theirs */
        latest = NULL;
    }
    SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00214) "cannot store a new CRL");
    return SCEP_EDB;
}

void scep_op_handle(scep_ctx_t *ctx, const scep_service_t *svc,
                    const scep_http_in_t *in, scep_http_out_t *out)
{
    const char *op = in->operation;
    apr_pool_t *p = ctx->pool;

    if (op && !strcasecmp(op, "GetCACaps")) {
        if (in->is_post) {
            http_text(out, p, 405, "Method Not Allowed: GetCACaps is a GET");
            return;
        }
        out->status = 200;
        out->content_type = CT_TEXT;
        out->body = (const unsigned char *)(svc->profile->renewal ? svc->ca->caps_renewal
                                                                   : svc->ca->caps);
        out->len = strlen((const char *)out->body);
    }
    else if (op && !strcasecmp(op, "GetCACert")) {
        if (in->is_post) {
            http_text(out, p, 405, "Method Not Allowed: GetCACert is a GET");
            return;
        }
        out->status = 200;
        out->content_type = svc->ca->cacert_type;
        out->body = svc->ca->cacert_body;
        out->len = svc->ca->cacert_len;
    }
    else if ((op && !strcasecmp(op, "PKIOperation")) || in->is_post) {
        /* a POST is a PKIOperation whatever operation it names */
        pki_operation(ctx, svc, in, out);
    }
    else if (op && !strcasecmp(op, "GetNextCACert")) {
        http_text(out, p, 404, "Not Found: no CA rollover certificate");
    }
    else if (!op) {
        http_text(out, p, 400, "Bad Request: missing operation parameter");
    }
    else {
        http_text(out, p, 400, apr_pstrcat(p, "Bad Request: unknown operation ",
                                           scep_log_safe(p, op, strlen(op)), NULL));
    }
}
