/* mod_scep core: the engine, one function per step of an enrollment. */
#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "scep_op.h"
#include "scep_ossl.h"
#include "scep_util.h"
#include "scep_issue.h"
#include "scep_crl_cache.h"
#include "scep_ask.h"

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
    const scep_env_t *env;
    const scep_profile_t *prof;   /* the Location's, or the one its template selects */
    const scep_http_in_t *in;
    scep_store_t *store;
    scep_msg_t *msg;
    int self_signed;        /* the signer is a self-signed certificate */
    X509_REQ *csr;          /* parsed without its key (scep_req_parse_keyless) */
    EVP_PKEY *csr_key;      /* the CSR's key, checked by its signature */
    scep_request_t *request;   /* the CSR as the policy reads it (after the limits) */
    scep_txn_t txn;
    scep_reply_t reply;
    const char *refusal;    /* why we answer FAILURE (for the log and the record) */
    int refused;            /* a refusal decided: recorded and counted at the end */
    int is_enrollment;      /* PKCSReq/RenewalReq: decisions are recorded */
    apr_array_header_t *live;   /* scep_txn_t: the transactions with this
                                   transactionID, read before decryption */
    scep_cert_t *renewed;   /* the record of the certificate being renewed */
    const scep_ca_t *signer_ca;  /* the host's CA that issued the signer, if one did */
    const scep_ca_t *replier;    /* the CA whose RA the envelope is addressed to: it
                                    decrypts, and its RA signs the reply */
    int throttled;          /* refused by SCEPChallengeThrottle */
    apr_array_header_t *trace;   /* the decisions taken, one a line (const char *) */
    scep_challenge_t *challenge;   /* the one-time challenge used, if any */
    scep_consume_t consume;
    const char *given;      /* the challengePassword as sent, NULL if none */
    apr_size_t given_len;
    const char *held_because;  /* a validator could not answer: PENDING (why) */
    int intune_asked;       /* Intune validated it: tell Intune how it ended */
} enroll_t;

/* What stored refusals keep of the subject and the reason (an
 * unauthenticated sender chooses both). */
#define STORED_SUBJECT_MAX 1024
#define STORED_REASON_MAX  512

/* The one answer to every failure between decrypting the envelope and
 * proving that the request's key is the signer's (or, for the other
 * messages, reading what the envelope holds): a sender who wraps someone
 * else's envelope learns nothing about its plaintext (no padding oracle). */
#define SEALED_TEXT "the message content cannot be decrypted and verified"

/* What the device hears when a check it cannot influence has no answer. */
#define UNAVAILABLE_TEXT "the enrollment service cannot decide now; try again later"

static apr_status_t open_store(enroll_t *e)
{
    if (!e->store && e->env->open_store) {
        if (e->env->open_store(e->env->store_baton, &e->store) != APR_SUCCESS) {
            e->store = NULL;
        }
    }
    return e->store ? APR_SUCCESS : SCEP_EDB;
}

/* Count a failed attempt against the sender's address (SCEPChallengeThrottle). */
static void count_failure(enroll_t *e)
{
    const scep_profile_t *loc = e->svc->profile;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());

    if (loc->throttle_window <= 0 || !e->in->client_addr || open_store(e) != APR_SUCCESS) {
        return;
    }
    if (scep_store_auth_failure_add(e->ctx, e->store, e->svc->ca->fingerprint, loc->name,
                                    e->in->client_addr, now - loc->throttle_window)
        != APR_SUCCESS) {
        SCEP_LOG(e->ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00216)
                 "could not count the failed attempt of transaction %s from %s "
                 "(SCEPChallengeThrottle)",
                 scep_log_safe(e->ctx->pool, e->msg->tid_str, strlen(e->msg->tid_str)),
                 e->in->client_addr);
    }
}

/* Tell the profile's receivers (SCEPNotifyWebhook, Intune) what became of
 * the request: staged, so the record's write commits it. */
static void tell(enroll_t *e, const char *event, const scep_cert_t *cert, const char *reason)
{
    scep_notice_t n;

    if (!e->store || (!e->prof->notify && !e->intune_asked)) {
        return;
    }
    memset(&n, 0, sizeof(n));
    n.event = event;
    n.ca = e->txn.ca;
    n.location = e->prof->name;
    n.transaction_id = e->txn.tid;
    n.subject = cert ? cert->subject : e->txn.subject;
    n.serial = cert ? cert->serial : NULL;
    n.not_after = cert ? cert->not_after : 0;
    n.certificate = cert ? cert->der : NULL;
    n.reason = reason;
    n.client_addr = e->in->client_addr;
    n.renewal_of = e->txn.renewal_of;
    scep_tell(e->store, e->ctx->pool, e->prof, &n, e->intune_asked ? e->csr : NULL);
}

/* Record a refusal, once, when the reply is decided: an enrollment's as a
 * bounded summary (nothing the sender chose is kept whole); a failed
 * attempt is counted. */
#define STORED_TRACE_MAX 4096

/* One decision of this transaction, for its record's trace. */
static void note(enroll_t *e, const char *fmt, ...)
{
    va_list ap;

    if (!e->trace) {
        return;
    }
    va_start(ap, fmt);
    APR_ARRAY_PUSH(e->trace, const char *) = apr_pvsprintf(e->ctx->pool, fmt, ap);
    va_end(ap);
}

/* The trace as the record keeps it: one decision a line, bounded. */
static const char *trace_text(enroll_t *e)
{
    const char *text;

    if (!e->trace || e->trace->nelts == 0) {
        return NULL;
    }
    text = apr_array_pstrcat(e->ctx->pool, e->trace, '\n');
    return scep_bounded(e->ctx->pool, text, STORED_TRACE_MAX);
}

static void record_refusal(enroll_t *e)
{
    scep_ctx_t *ctx = e->ctx;

    if (e->txn.auth_failed) {
        count_failure(e);
    }
    if (e->is_enrollment && open_store(e) == APR_SUCCESS) {
        scep_txn_t rec = e->txn;
        rec.status = "REJECTED";
        rec.dedup_key = NULL;
        rec.fail_info = (int)e->reply.fail_info;
        rec.fail_text = scep_bounded(ctx->pool, e->refusal, STORED_REASON_MAX);
        rec.subject = scep_bounded(ctx->pool, rec.subject, STORED_SUBJECT_MAX);
        rec.csr = rec.signer_cert = rec.plan_subject = rec.plan_san = NULL;
        rec.serial = NULL;
        rec.trace = trace_text(e);
        if (e->csr) {           /* a request was read: someone may want to know */
            tell(e, "refused", NULL, rec.fail_text);
        }
        if (scep_store_record_rejected(ctx, e->store, &rec) != APR_SUCCESS) {
            SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00202)
                     "could not record the refusal of transaction %s",
                     scep_log_safe(ctx->pool, e->msg->tid_str, strlen(e->msg->tid_str)));
        }
    }
}

/* Decide FAILURE: the client is told shown, the log (now) and the record
 * (at the end) keep why. */
static apr_status_t refuse_as(enroll_t *e, scep_fail_info_t fail, const char *shown,
                              const char *why)
{
    scep_ctx_t *ctx = e->ctx;

    e->reply.status = SCEP_STATUS_FAILURE;
    e->reply.fail_info = fail;
    e->reply.fail_text = shown;
    e->refusal = why;
    note(e, "refused, %s: %s", scep_fail_info_name(fail), why);
    if (e->msg->detail && *e->msg->detail) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00215) "transaction %s: OpenSSL says: %s",
                 scep_log_safe(ctx->pool, e->msg->tid_str, strlen(e->msg->tid_str)),
                 e->msg->detail);
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00201)
             "refused transaction %s from %s (profile %s): %s: %s",
             scep_log_safe(ctx->pool, e->msg->tid_str, strlen(e->msg->tid_str)),
             e->in->client_addr ? e->in->client_addr : "-",
             e->svc->profile->name, scep_fail_info_name(fail), why);
    e->refused = 1;
    return SCEP_EDONE;
}

static apr_status_t refuse(enroll_t *e, scep_fail_info_t fail, const char *why)
{
    return refuse_as(e, fail, why, why);
}

/* A refusal for a wrong or unusable challenge: counted for throttling. */
static apr_status_t refuse_auth(enroll_t *e, const char *why)
{
    e->txn.auth_failed = 1;
    return refuse(e, SCEP_FAIL_BADREQUEST, why);
}

/* A refusal inside the sealed part (see SEALED_TEXT): one answer whatever
 * went wrong, counted like a wrong challenge; the record and the log keep
 * the first real reason (a failed decryption, when that came first). */
static apr_status_t refuse_sealed(enroll_t *e, const char *why)
{
    e->txn.auth_failed = 1;
    return refuse_as(e, SCEP_FAIL_BADMESSAGECHECK, SEALED_TEXT,
                     e->msg->decrypt_error ? e->msg->decrypt_error : why);
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

/* The CA of this host (any of its CAs, README "CA rollover") that issued
 * cert, or NULL. */
static const scep_ca_t *issuer_in_host(const scep_service_t *svc, X509 *cert)
{
    if (svc->cas) {
        return scep_cas_issuer_of(svc->cas, cert);
    }
    return scep_ca_issued(svc->ca, cert) ? svc->ca : NULL;
}

/* The CA whose RA (or itself) the envelope is addressed to: the issuing
 * one, unless the device still encrypts to another CA of the host (it
 * fetched GetCACert before the switch-over, or GetNextCACert). Clear-text
 * reading only, one parse: no key operation. */
static const scep_ca_t *recipient_ca(apr_pool_t *p, const scep_service_t *svc,
                                     const scep_msg_t *msg)
{
    const apr_array_header_t *all = svc->cas ? svc->cas->all : NULL;
    const scep_ca_t **cas;
    X509 **certs;
    int i, n = 0, found;

    if (!all || all->nelts < 2) {
        return svc->ca;
    }
    cas = apr_palloc(p, sizeof(*cas) * (apr_size_t)all->nelts + sizeof(*cas));
    certs = apr_palloc(p, sizeof(*certs) * (apr_size_t)all->nelts + sizeof(*certs));
    cas[n] = svc->ca;                   /* the issuing CA first */
    certs[n++] = svc->ca->enc_cert;
    for (i = 0; i < all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(all, i, const scep_ca_t *);
        if (ca != svc->ca) {
            cas[n] = ca;
            certs[n++] = ca->enc_cert;
        }
    }
    found = scep_msg_addressed_to(msg, certs, n);
    return found >= 0 ? cas[found] : svc->ca;
}

/* Step (enrollments, before any private-key work): who signed the message.
 * A self-signed certificate (a first enrollment), or one this CA issued and
 * that has not expired (a renewal, or sscep's and certmonger's re-enrollment). */
static apr_status_t classify_signer(enroll_t *e)
{
    X509 *signer = e->msg->signer;

    if (scep_msg_signer_self_signed(e->msg)) {
        if (e->msg->type == SCEP_MSG_RENEWALREQ) {
            return refuse(e, SCEP_FAIL_BADREQUEST, "a RenewalReq must be signed by the "
                          "certificate being renewed, not a self-signed one");
        }
        e->self_signed = 1;
        e->txn.renewal_of = "";
        return APR_SUCCESS;
    }
    ERR_clear_error();
    if (!(e->signer_ca = issuer_in_host(e->svc, signer))) {
        ERR_clear_error();
        return refuse(e, SCEP_FAIL_BADREQUEST,
                      "the signer certificate is neither self-signed nor issued by this CA");
    }
    if (X509_cmp_current_time(X509_get0_notAfter(signer)) <= 0) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the signer certificate has expired");
    }
    e->txn.renewal_of = scep_serial_hex(e->ctx->pool, X509_get0_serialNumber(signer));
    return APR_SUCCESS;
}

/* Step (sealed): the PKCS#10 request and its proof of possession; every
 * failure gets the one SEALED_TEXT answer. The request is parsed without
 * decoding its key (~0.1 ms with OpenSSL 3.0): on a first enrollment it
 * carries the very SubjectPublicKeyInfo of the self-signed signer, whose
 * key is decoded already. */
static apr_status_t open_csr(enroll_t *e)
{
    apr_pool_t *p = e->ctx->pool;
    const unsigned char *q = e->msg->payload;
    X509 *signer = e->msg->signer;
    EVP_PKEY *csr_key;
    int same_spki;

    ERR_clear_error();
    e->csr = scep_req_parse_keyless(p, e->svc->oids->no_keys, &q, (long)e->msg->payload_len);
    if (!e->csr || e->msg->decrypt_error) {
        ERR_clear_error();
        return refuse_sealed(e, "the envelope does not hold a PKCS#10 request");
    }
    if (q != e->msg->payload + e->msg->payload_len) {
        return refuse_sealed(e, "trailing bytes after the PKCS#10 request");
    }
    e->txn.key_fp = scep_pubkey_fingerprint(p, X509_REQ_get_X509_PUBKEY(e->csr));
    same_spki = *e->txn.key_fp
                && !strcmp(e->txn.key_fp,
                           scep_pubkey_fingerprint(p, X509_get_X509_PUBKEY(signer)));
    csr_key = same_spki ? e->msg->signer_key
                        : scep_pubkey_decode(p, X509_REQ_get_X509_PUBKEY(e->csr));
    /* a first enrollment: the self-signed signer proves the request's key */
    if (e->self_signed && (!csr_key || EVP_PKEY_eq(e->msg->signer_key, csr_key) != 1)) {
        ERR_clear_error();
        return refuse_sealed(e, "the self-signed signer certificate's key differs from "
                             "the request's key");
    }
    if (!csr_key || X509_REQ_verify_ex(e->csr, csr_key, NULL, NULL) != 1) {
        ERR_clear_error();
        return refuse_sealed(e, "the PKCS#10 request's signature does not verify");
    }
    e->csr_key = csr_key;
    return APR_SUCCESS;
}

/* The subjectAltNames the request asks for, over all its SAN extensions. */
static int requested_san_count(STACK_OF(X509_EXTENSION) *exts)
{
    int i, n = 0;

    for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        GENERAL_NAMES *gens;
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) {
            continue;
        }
        gens = X509V3_EXT_d2i(ext);
        n += gens ? sk_GENERAL_NAME_num(gens) : 0;
        GENERAL_NAMES_free(gens);
    }
    return n;
}

/* The first extension a list asks for twice, or NULL. */
static const ASN1_OBJECT *repeated_extension(STACK_OF(X509_EXTENSION) *exts)
{
    int i, j;

    for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        const ASN1_OBJECT *o = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
        for (j = i + 1; j < sk_X509_EXTENSION_num(exts); j++) {
            if (!OBJ_cmp(o, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, j)))) {
                return o;
            }
        }
    }
    return NULL;
}

/* Step: the request's counts and sizes against SCEPRequestLimit, before
 * anything is built from it, and one reading of it: a second list of
 * requested extensions (PKCS#9 or Microsoft's), an extension asked for
 * twice or a second challengePassword would be read by one part of the
 * code and not by another, so they are refused. */
static apr_status_t check_limits(enroll_t *e)
{
    const scep_limits_t *lim = &e->svc->profile->limits;
    apr_pool_t *p = e->ctx->pool;
    STACK_OF(X509_EXTENSION) *exts;
    const X509_NAME *subject = X509_REQ_get_subject_name(e->csr);
    const ASN1_OBJECT *twice = NULL;
    int i, values = 0, ext_lists = 0, challenges = 0, nexts, nsans = 0, len;
    const char *over = NULL;

    for (i = 0; i < X509_REQ_get_attr_count(e->csr); i++) {
        X509_ATTRIBUTE *a = X509_REQ_get_attr(e->csr, i);
        int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a)), n = X509_ATTRIBUTE_count(a);
        values += n;
        ext_lists += nid == NID_ext_req || nid == NID_ms_ext_req ? n : 0;
        challenges += nid == NID_pkcs9_challengePassword ? n : 0;
    }
    if (values > lim->attributes) {
        over = apr_psprintf(p, "the request has %d attribute values; the limit is %d "
                            "(SCEPRequestLimit attributes)", values, lim->attributes);
        return refuse(e, SCEP_FAIL_BADREQUEST, over);
    }
    if (X509_NAME_entry_count(subject) > lim->subject_rdns) {
        over = apr_psprintf(p, "the subject has %d attributes; the limit is %d "
                            "(SCEPRequestLimit subject-attributes)",
                            X509_NAME_entry_count(subject), lim->subject_rdns);
        return refuse(e, SCEP_FAIL_BADREQUEST, over);
    }
    if ((len = i2d_X509_NAME(subject, NULL)) > lim->subject_length) {
        over = apr_psprintf(p, "the subject is %d bytes long; the limit is %d "
                            "(SCEPRequestLimit subject-length)", len, lim->subject_length);
        return refuse(e, SCEP_FAIL_BADREQUEST, over);
    }
    if (ext_lists > 1 || challenges > 1) {
        return refuse(e, SCEP_FAIL_BADREQUEST, ext_lists > 1
                      ? "the request has more than one list of requested extensions"
                      : "the request has more than one challengePassword");
    }
    exts = X509_REQ_get_extensions(e->csr);
    nexts = sk_X509_EXTENSION_num(exts);
    if (nexts <= lim->extensions && (twice = repeated_extension(exts)) == NULL) {
        nsans = requested_san_count(exts);
    }
    if (!exts && ext_lists) {
        over = "the request's list of requested extensions cannot be read";
    }
    else if (nexts > lim->extensions) {
        over = apr_psprintf(p, "the request asks for %d extensions; the limit is %d "
                            "(SCEPRequestLimit extensions)", nexts, lim->extensions);
    }
    else if (twice) {
        char oid[80];
        OBJ_obj2txt(oid, sizeof(oid), twice, 0);
        over = apr_psprintf(p, "the request asks for extension %s twice", oid);
    }
    else if (nsans > lim->sans) {
        over = apr_psprintf(p, "the request asks for %d subjectAltNames; the limit is %d "
                            "(SCEPRequestLimit subject-alt-names)", nsans, lim->sans);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return over ? refuse(e, SCEP_FAIL_BADREQUEST, over) : APR_SUCCESS;
}

/* Step: what is recorded of a request that proved its key and fits the
 * limits, and the key that makes a resend recognizable. */
static const apr_array_header_t *requested_names(apr_pool_t *p, X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *san = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    const apr_array_header_t *names = scep_plan_names(p, X509_REQ_get_subject_name(csr), san);

    GENERAL_NAMES_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return names;
}

static apr_status_t read_csr(enroll_t *e)
{
    apr_pool_t *p = e->ctx->pool;
    unsigned char *redacted;
    apr_size_t rlen;

    e->txn.subject = scep_bounded(p, scep_name_str(p, X509_REQ_get_subject_name(e->csr)),
                                  STORED_SUBJECT_MAX);
    if (X509_NAME_entry_count(X509_REQ_get_subject_name(e->csr)) == 0) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the request has an empty subject");
    }
    /* what it asked for, so that a refusal is found by name too (the
     * certificate's names replace them when one is issued or held) */
    e->txn.names = requested_names(p, e->csr);
    /* the record keeps the request without its challengePassword: the
     * secret must not sit in the database (the copy's signature no longer
     * verifies, which the record does not need) */
    if (scep_req_der_without(&redacted, &rlen, p, e->csr, NID_pkcs9_challengePassword)
        == APR_SUCCESS) {
        e->txn.csr = scep_b64_encode(p, redacted, rlen);
    }
    else {
        note(e, "record: the request's copy is not kept (a part of it does not "
                "encode back as it was read)");
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
 * administrator's rejection. The reply is decided: SCEP_EDONE. */
static apr_status_t reply_stored(enroll_t *e, const scep_txn_t *t)
{
    if (!strcmp(t->status, "PENDING")) {
        e->reply.status = SCEP_STATUS_PENDING;
        return SCEP_EDONE;
    }
    if (!strcmp(t->status, "REJECTED")) {
        e->reply.status = SCEP_STATUS_FAILURE;
        e->reply.fail_info = t->fail_info >= 0 && t->fail_info <= 4
                             ? (scep_fail_info_t)t->fail_info : SCEP_FAIL_BADREQUEST;
        e->reply.fail_text = t->fail_text ? t->fail_text : "rejected";
        e->refusal = e->reply.fail_text;
        return SCEP_EDONE;
    }
    if (!(e->reply.issued = decode_cert(e->ctx->pool, t->cert_der))) {
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00203)
                 "stored certificate for transaction %s is unreadable", e->txn.tid);
        e->is_enrollment = 0;
        return refuse(e, SCEP_FAIL_BADREQUEST, "the stored certificate is unreadable");
    }
    /* the row may have been committed a moment ago, not yet synced */
    if (e->store && scep_store_durable(e->ctx, e->store) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    e->reply.status = SCEP_STATUS_SUCCESS;
    return SCEP_EDONE;
}

/* Step: a transactionID we know. Resent: same answer. Other key: refused. */
static apr_status_t check_known(enroll_t *e)
{
    apr_array_header_t *rows = e->live;
    int i;

    for (i = 0; i < rows->nelts; i++) {
        scep_txn_t *l = &APR_ARRAY_IDX(rows, i, scep_txn_t);
        if (!strcmp(l->dedup_key, e->txn.dedup_key)) {
            SCEP_LOG(e->ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00204)
                     "transaction %s resent: answering as before (%s%s%s)",
                     e->msg->tid_str, l->status, l->serial ? ", serial " : "",
                     l->serial ? l->serial : "");
            return reply_stored(e, l);
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
    return APR_SUCCESS;
}

/* Is name this profile, or one it accepts renewals from (SCEPRenewalFrom)? */
static int renews_here(const scep_profile_t *prof, const char *name)
{
    int i;

    if (!strcmp(name, prof->name)) {
        return 1;
    }
    for (i = 0; prof->renewal_from && i < prof->renewal_from->nelts; i++) {
        if (!strcmp(name, APR_ARRAY_IDX(prof->renewal_from, i, const char *))) {
            return 1;
        }
    }
    return 0;
}

/* Step (renewal): the certificate being renewed must be ours, on record,
 * issued by this profile (or one it names), not renewed before, unrevoked,
 * in no chain of renewals with a compromised key, and in the window. */
static apr_status_t check_renewal(enroll_t *e)
{
    const scep_profile_t *prof = e->prof;
    apr_pool_t *p = e->ctx->pool;
    apr_status_t rv;
    apr_int64_t left;
    const char *why;

    if (!prof->renewal) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "renewal is not enabled at this enrollment "
                      "point (SCEPRenewal)");
    }
    if (open_store(e) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    rv = scep_store_cert_get(&e->renewed, e->ctx, e->store, e->signer_ca->fingerprint,
                             e->txn.renewal_of);
    if (rv == APR_NOTFOUND) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the certificate being renewed is not in "
                      "this CA's records");
    }
    if (rv != APR_SUCCESS) {
        return SCEP_EDB;
    }
    if (!e->renewed->profile) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the record of the certificate being renewed "
                      "does not name the profile that issued it (a record from before "
                      "mod_scep kept it: see README, upgrading the schema)");
    }
    if (!renews_here(prof, e->renewed->profile)) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_psprintf(p, "the certificate being "
                      "renewed was issued by profile %s, which does not renew at profile %s "
                      "(SCEPRenewalFrom)", e->renewed->profile, prof->name));
    }
    if ((why = scep_issue_why_not_renewable(p, e->renewed))) {
        return refuse(e, SCEP_FAIL_BADREQUEST, why);
    }
    left = e->renewed->not_after - (apr_int64_t)apr_time_sec(apr_time_now());
    if (prof->renewal_window > 0 && left > prof->renewal_window) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_psprintf(p,
                      "renewal is allowed only in the last %" APR_INT64_T_FMT " days before "
                      "expiry (SCEPRenewalWindow); this certificate has %" APR_INT64_T_FMT
                      " days left", prof->renewal_window / 86400, left / 86400));
    }
    return APR_SUCCESS;
}

/* Step (before decrypting anything), the engine's one read: the
 * transactions with this transactionID, and the sender's failed attempts
 * at this Location in the window; an address with too many is refused.
 * Fails closed: when they cannot be read, nothing goes on (HTTP 503). */
static apr_status_t preflight(enroll_t *e)
{
    const scep_profile_t *loc = e->svc->profile;
    int throttled = loc->throttle_window > 0 && e->in->client_addr;
    apr_int64_t failures = 0, now = (apr_int64_t)apr_time_sec(apr_time_now());
    scep_preflight_t q;

    q.ca = e->txn.ca;
    q.tid = e->txn.tid;
    q.profile = loc->name;
    q.client_addr = e->in->client_addr;
    q.since = throttled ? now - loc->throttle_window : -1;
    if (open_store(e) != APR_SUCCESS
        || scep_store_preflight(&failures, &e->live, e->ctx, e->store, &q) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    if (throttled) {
        note(e, "throttle: %" APR_INT64_T_FMT " failed attempts from %s in the last %"
             APR_INT64_T_FMT " s (the limit is %d)", failures, e->in->client_addr,
             (apr_int64_t)loc->throttle_window, loc->throttle_count);
    }
    if (throttled && failures >= loc->throttle_count) {
        e->throttled = 1;
        return refuse(e, SCEP_FAIL_BADREQUEST, "too many failed attempts from this address; "
                      "try again later (SCEPChallengeThrottle)");
    }
    return APR_SUCCESS;
}

/* Is the challenge checked here (secret, one-time, httpd's providers), or
 * only by the validators the profile asks (webhook, Intune)? */
static int checks_challenge(const scep_profile_t *prof)
{
    return prof->challenge || prof->one_time || prof->authn_providers;
}

/* A one-time challenge made for this profile, not used, revoked or expired:
 * APR_SUCCESS (it is consumed when recorded), SCEP_EDONE refused,
 * APR_NOTFOUND when no challenge has this secret, SCEP_EDB. */
static apr_status_t one_time(enroll_t *e, const char *given, apr_size_t len)
{
    /* only the hash is stored, so the lookup compares hashes, not secrets */
    const char *hash = scep_sha256_hex(e->ctx->pool, (const unsigned char *)given, len);
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    scep_challenge_t *ch;
    apr_status_t rv;
    int i;

    if (open_store(e) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    rv = scep_store_challenge_find(&ch, e->ctx, e->store, e->txn.ca, hash);
    for (i = 0; rv == APR_NOTFOUND && e->svc->cas && i < e->svc->cas->all->nelts; i++) {
        /* made before the switch-over, for the CA that issued then */
        const scep_ca_t *ca = APR_ARRAY_IDX(e->svc->cas->all, i, const scep_ca_t *);
        if (ca != e->svc->ca
            && (rv = scep_store_challenge_find(&ch, e->ctx, e->store, ca->fingerprint,
                                               hash)) == APR_SUCCESS) {
            e->consume.ca = ca->fingerprint;
        }
    }
    if (rv != APR_SUCCESS) {
        return rv == APR_NOTFOUND ? APR_NOTFOUND : SCEP_EDB;
    }
    if (strcmp(ch->profile, e->prof->name)) {
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
    note(e, "challenge: one-time challenge %s of %s, consumed with the record",
         e->challenge->id ? e->challenge->id : "?", e->challenge->profile);
    return APR_SUCCESS;
}

/* Step: is the requester allowed to enroll here? The static secret,
 * httpd's authentication providers, or a one-time challenge made for this
 * profile (consumed when recorded). A profile that only asks validators
 * leaves the challenge to them (ask_others). */
static apr_status_t authorize(enroll_t *e)
{
    const scep_profile_t *prof = e->prof;
    apr_pool_t *p = e->ctx->pool;
    apr_status_t rv;

    if (!checks_challenge(prof) && !prof->webhook && !prof->intune) {
        return refuse(e, SCEP_FAIL_BADREQUEST,
                      "this enrollment point has no challenge password configured");
    }
    e->given = challenge_of(p, e->csr, &e->given_len);
    if (!checks_challenge(prof)) {
        note(e, "challenge: left to the profile's validators (webhook, Intune)");
        return APR_SUCCESS;
    }
    if (!e->given) {
        return refuse_auth(e, "the request has no challengePassword");
    }
    if (prof->challenge && scep_secret_equal((const unsigned char *)e->given, e->given_len,
                                             prof->challenge, prof->challenge_len)) {
        note(e, "challenge: the static password of %s matched", prof->name);
        return APR_SUCCESS;
    }
    if (prof->authn_providers) {
        switch (scep_ask_password(p, e->env, prof, e->csr, e->given, e->given_len)) {
        case SCEP_VERDICT_ALLOW:
            note(e, "challenge: accepted by an authentication provider (SCEPChallengeAuthProvider)");
            return APR_SUCCESS;
        case SCEP_VERDICT_UNAVAILABLE:
            return refuse_as(e, SCEP_FAIL_BADREQUEST, UNAVAILABLE_TEXT,
                             "an authentication provider (SCEPChallengeAuthProvider) failed");
        default:
            break;
        }
    }
    if (prof->one_time && (rv = one_time(e, e->given, e->given_len)) != APR_NOTFOUND) {
        return rv;
    }
    return refuse_auth(e, "the challengePassword is wrong");
}

/* Step: the validators of the profile (webhook, then Intune) decide; an
 * answer that fixes the names has them go through the profile's rules. */
static apr_status_t ask_others(enroll_t *e, scep_cert_plan_t **pplan, int renewal)
{
    apr_pool_t *p = e->ctx->pool;
    scep_validation_in_t in;
    scep_verdict_t verdict;
    scep_names_t *names = NULL;
    const char *who = "", *err = NULL, *refusal = NULL;

    if (!e->prof->webhook && !e->prof->intune) {
        return APR_SUCCESS;
    }
    memset(&in, 0, sizeof(in));
    in.tid = e->msg->tid_str;
    in.location = e->prof->name;
    in.ca = e->txn.ca;
    in.csr = e->csr;
    in.key = e->csr_key;
    in.challenge = e->given;
    in.challenge_len = e->given_len;
    in.renewal_of = renewal ? e->msg->signer : NULL;
    in.client_addr = e->in->client_addr;
    scep_ask_validators(&verdict, &who, &e->intune_asked, e->ctx, e->env, e->prof, &in);
    if (verdict.kind == SCEP_VERDICT_DENY) {
        e->txn.auth_failed = 1;
        return refuse_as(e, SCEP_FAIL_BADREQUEST, "the request was not authorized",
                         apr_pstrcat(p, who, " refused it: ", verdict.reason, NULL));
    }
    if (verdict.kind == SCEP_VERDICT_UNAVAILABLE) {
        const char *why = apr_pstrcat(p, who, " gave no answer: ", verdict.reason, NULL);
        if (!e->prof->validation_pending) {
            return refuse_as(e, SCEP_FAIL_BADREQUEST, UNAVAILABLE_TEXT, why);
        }
        e->held_because = why;
        return APR_SUCCESS;
    }
    if (scep_validation_names(&names, &err, p, &verdict) != APR_SUCCESS) {
        return refuse_as(e, SCEP_FAIL_BADREQUEST, UNAVAILABLE_TEXT,
                         apr_pstrcat(p, who, "'s names are unusable: ", err, NULL));
    }
    if (names && scep_policy_apply(pplan, &refusal, p, e->prof->policy, e->request, names,
                                   e->env->eval, e->env->eval_baton) != APR_SUCCESS) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(p, "profile ", e->prof->name,
                      " (the names ", who, " fixed): ", refusal, NULL));
    }
    return APR_SUCCESS;
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

/* Step: the profile that serves this request. A Microsoft template name in
 * the request selects among the profiles mapped here (SCEPTemplate); the
 * selected profile then decides everything, its challenge included, so a
 * template never reaches a profile whose challenge the request lacks. */
static apr_status_t select_profile(enroll_t *e)
{
    const scep_profile_t *loc = e->svc->profile;
    const char *tmpl, *target;

    e->request = scep_policy_request(e->ctx->pool, e->csr, e->csr_key);
    e->request->trace = e->trace;
    tmpl = e->request->template_name;
    e->prof = loc;
    if (!tmpl) {
        return APR_SUCCESS;
    }
    target = loc->templates ? apr_hash_get(loc->templates, tmpl, APR_HASH_KEY_STRING) : NULL;
    if (target && strcmp(target, loc->name)) {
        e->prof = loc->named ? apr_hash_get(loc->named, target, APR_HASH_KEY_STRING) : NULL;
    }
    if (!target || !e->prof) {
        e->prof = loc;
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_psprintf(e->ctx->pool,
                      "certificate template '%s' is not mapped at this enrollment "
                      "point (SCEPTemplate)",
                      scep_log_safe(e->ctx->pool, tmpl, strlen(tmpl))));
    }
    e->txn.profile = e->prof->name;
    return APR_SUCCESS;
}

/* Step: the profile decides what the certificate contains. A renewal that
 * keeps its names (SCEPRenewalSubject keep) has the old certificate's
 * subject and subjectAltNames go through the same rules as a request's. */
static apr_status_t apply_policy(enroll_t *e, scep_cert_plan_t **pplan, int keep)
{
    const scep_profile_t *prof = e->prof;
    apr_pool_t *p = e->ctx->pool;
    const char *refusal = NULL;
    scep_names_t kept;

    if (keep) {
        X509 *old = e->msg->signer;
        kept.subject = X509_get_subject_name(old);
        kept.san = scep_own_general_names(p, X509_get_ext_d2i(old, NID_subject_alt_name,
                                                              NULL, NULL));
        ERR_clear_error();
    }
    if (scep_policy_apply(pplan, &refusal, p, prof->policy, e->request, keep ? &kept : NULL,
                          e->env->eval, e->env->eval_baton) != APR_SUCCESS) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(p, "profile ", prof->name,
                      keep ? " (the renewed certificate's names)" : "", ": ", refusal, NULL));
    }
    return APR_SUCCESS;
}

/* Step: sign the certificate and commit it before anyone sees it. */
static apr_status_t issue(enroll_t *e, const scep_cert_plan_t *plan)
{
    apr_pool_t *p = e->ctx->pool;
    scep_cert_t rec;
    scep_renewal_t renewal;
    scep_txn_t *winner = NULL;
    X509 *cert;
    const char *err = "";
    apr_status_t rv;

    scep_store_release(e->store);
    rv = scep_issue_sign(&cert, &rec, &renewal, &err, p, e->svc->ca, plan, e->txn.profile,
                         e->renewed, e->prof->renewal_supersede);
    if (rv == SCEP_EFAILURE) {
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_pstrcat(p, "profile ", e->txn.profile,
                                                            ": ", err, NULL));
    }
    if (rv != APR_SUCCESS) {
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00205)
                 "issuing for transaction %s failed: %s", e->txn.tid, err);
        if (scep_ca_has_token(e->svc->ca)) {
            /* a token that failed: try again later (503), nothing recorded */
            scep_ca_key_trouble(e->svc->ca);
            return SCEP_EKEY;
        }
        return refuse(e, SCEP_FAIL_BADREQUEST, "the CA could not sign the certificate");
    }
    e->txn.status = "ISSUED";
    e->txn.serial = rec.serial;
    e->txn.fail_info = -1;
    e->txn.names = scep_plan_names(p, plan->subject, plan->san);
    note(e, "issued serial %s", rec.serial);
    e->txn.trace = trace_text(e);
    tell(e, "issued", &rec, NULL);
    rv = scep_store_record_issued(e->ctx, e->store, &e->txn, &rec,
                                  e->challenge ? &e->consume : NULL,
                                  e->renewed ? &renewal : NULL, &winner);
    if (rv == SCEP_ECHALLENGE || rv == SCEP_ERENEWED) {
        e->txn.serial = NULL;      /* rolled back with the transaction */
        return rv == SCEP_ECHALLENGE
               ? refuse_auth(e, "this one-time challenge was already used")
               : refuse(e, SCEP_FAIL_BADREQUEST, "the certificate being renewed was "
                        "renewed meanwhile");
    }
    if (rv == SCEP_ECONFLICT) {
        /* an identical request won the race: answer with its certificate */
        return reply_stored(e, winner);
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
             "issued serial %s to %s for transaction %s from %s (profile %s%s%s)",
             rec.serial, rec.subject, e->msg->tid_str,
             e->in->client_addr ? e->in->client_addr : "-", e->txn.profile,
             e->renewed ? ", renewing " : "", e->renewed ? e->renewed->serial : "");
    e->reply.status = SCEP_STATUS_SUCCESS;
    e->reply.issued = cert;
    return SCEP_EDONE;
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
    scep_txn_t *winner = NULL;
    apr_status_t rv;

    e->txn.status = "PENDING";
    e->txn.fail_info = -1;
    e->txn.names = scep_plan_names(p, plan->subject, plan->san);
    DER_B64(p, i2d_X509_NAME, plan->subject, e->txn.plan_subject);
    if (plan->san && sk_GENERAL_NAME_num(plan->san) > 0) {
        DER_B64(p, i2d_GENERAL_NAMES, plan->san, e->txn.plan_san);
    }
    if (e->held_because) {
        /* the administrator sees why it waits */
        e->txn.fail_text = scep_bounded(p, e->held_because, STORED_REASON_MAX);
    }
    note(e, "held for an administrator's approval%s%s", e->held_because ? ": " : "",
         e->held_because ? e->held_because : " (SCEPApproval manual)");
    e->txn.trace = trace_text(e);
    tell(e, "pending", NULL, e->held_because);
    rv = scep_store_record_pending(e->ctx, e->store, &e->txn,
                                   e->challenge ? &e->consume : NULL, &winner);
    if (rv == SCEP_ECHALLENGE) {
        return refuse_auth(e, "this one-time challenge was already used");
    }
    if (rv == SCEP_ECONFLICT) {
        return reply_stored(e, winner);
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
    return SCEP_EDONE;
}

/* A PKCSReq or RenewalReq, step after step: each step returns APR_SUCCESS
 * to go on, SCEP_EDONE when the reply is decided, SCEP_EDB when the
 * database cannot be reached. */
static apr_status_t pkcsreq(enroll_t *e)
{
    scep_cert_plan_t *plan;
    int renewal;
    apr_status_t rv;

    if ((rv = open_csr(e)) != APR_SUCCESS || (rv = check_limits(e)) != APR_SUCCESS
        || (rv = read_csr(e)) != APR_SUCCESS || (rv = check_known(e)) != APR_SUCCESS
        || (rv = select_profile(e)) != APR_SUCCESS) {
        return rv;
    }
    /* sscep -O and certmonger renew with a PKCSReq signed by the old
     * certificate; where renewal is off, that is an ordinary enrollment */
    renewal = *e->txn.renewal_of && (e->prof->renewal || e->msg->type == SCEP_MSG_RENEWALREQ);
    if (renewal) {
        if ((rv = check_renewal(e)) != APR_SUCCESS
            || (e->prof->renewal_challenge && (rv = authorize(e)) != APR_SUCCESS)) {
            return rv;
        }
    }
    else if ((rv = authorize(e)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apply_policy(e, &plan, renewal && e->prof->renewal_keep_subject)) != APR_SUCCESS
        || (rv = ask_others(e, &plan, renewal)) != APR_SUCCESS
        || (e->challenge && (rv = bind_names(e, plan)) != APR_SUCCESS)) {
        return rv;
    }
    return e->prof->manual_approval || e->held_because ? hold(e, plan) : issue(e, plan);
}

/* CertPoll: the answer recorded for this transactionID, to the key that
 * asked for it. */
static apr_status_t certpoll(enroll_t *e)
{
    apr_array_header_t *rows = e->live;
    const char *signer_key;
    int i;

    if (e->msg->decrypt_error) {
        return refuse_sealed(e, e->msg->decrypt_error);
    }
    signer_key = scep_pubkey_fingerprint(e->ctx->pool, X509_get_X509_PUBKEY(e->msg->signer));
    /* a request made to another CA of the host (before the switch-over) */
    for (i = 0; !rows->nelts && e->svc->cas && i < e->svc->cas->all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(e->svc->cas->all, i, const scep_ca_t *);
        if (ca != e->svc->ca && scep_store_find_live(&rows, e->ctx, e->store, ca->fingerprint,
                                                     e->txn.tid) != APR_SUCCESS) {
            return SCEP_EDB;
        }
    }
    for (i = 0; i < rows->nelts; i++) {
        scep_txn_t *t = &APR_ARRAY_IDX(rows, i, scep_txn_t);
        if (!strcmp(t->key_fp, signer_key)
            || (t->signer_fp && !strcmp(t->signer_fp, e->txn.signer_fp))) {
            return reply_stored(e, t);
        }
    }
    return refuse(e, SCEP_FAIL_BADCERTID, rows->nelts
                  ? "this transaction belongs to another key"
                  : "no request with this transactionID is known");
}

/* The IssuerAndSerialNumber of GetCert and GetCRL, or NULL when it cannot
 * be read (answered like every other failure to read what an envelope
 * holds). */
static PKCS7_ISSUER_AND_SERIAL *issuer_and_serial(enroll_t *e)
{
    const unsigned char *q = e->msg->payload;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q,
                                                               (long)e->msg->payload_len);
    ERR_clear_error();
    if (ias && e->msg->decrypt_error) {
        PKCS7_ISSUER_AND_SERIAL_free(ias);
        ias = NULL;
    }
    return ias;
}

/* The i-th CA of the host (the issuing one first) named issuer, or NULL
 * past the last. */
static const scep_ca_t *host_ca_named(const enroll_t *e, X509_NAME *issuer, int *pi)
{
    const apr_array_header_t *all = e->svc->cas ? e->svc->cas->all : NULL;

    for (; *pi <= (all ? all->nelts : 0); (*pi)++) {
        const scep_ca_t *ca = *pi == 0 ? e->svc->ca : APR_ARRAY_IDX(all, *pi - 1, const scep_ca_t *);
        if ((*pi == 0 || ca != e->svc->ca)
            && !X509_NAME_cmp(issuer, X509_get_subject_name(ca->cert))) {
            (*pi)++;
            return ca;
        }
    }
    return NULL;
}

/* The record of serial at the CA of the host named issuer (several CAs of
 * a rollover may share a name): APR_NOTFOUND when none has it. */
static apr_status_t host_cert_get(scep_cert_t **prec, const scep_ca_t **pca, enroll_t *e,
                                  X509_NAME *issuer, const char *serial)
{
    apr_status_t rv = APR_NOTFOUND;
    int i = 0;

    while (rv == APR_NOTFOUND && (*pca = host_ca_named(e, issuer, &i)) != NULL) {
        rv = scep_store_cert_get(prec, e->ctx, e->store, (*pca)->fingerprint, serial);
    }
    return rv;
}

/* GetCert: any certificate this CA issued, to anyone who asks with a signed
 * message (certificates are public; the reply is encrypted to the asker). */
static apr_status_t getcert(enroll_t *e)
{
    PKCS7_ISSUER_AND_SERIAL *ias = issuer_and_serial(e);
    const scep_ca_t *ca;
    scep_cert_t *rec;
    const char *serial;
    apr_status_t rv;
    int i = 0;

    if (!ias) {
        return refuse_sealed(e, "the envelope does not hold an IssuerAndSerialNumber");
    }
    serial = scep_serial_hex(e->ctx->pool, ias->serial);
    if (!host_ca_named(e, ias->issuer, &i)) {
        rv = refuse(e, SCEP_FAIL_BADCERTID, "the issuer named is not this CA");
    }
    else if (open_store(e) != APR_SUCCESS) {
        rv = SCEP_EDB;
    }
    else if ((rv = host_cert_get(&rec, &ca, e, ias->issuer, serial)) == APR_NOTFOUND) {
        rv = refuse(e, SCEP_FAIL_BADCERTID, apr_psprintf(e->ctx->pool, "no certificate with "
                    "serial %s was issued by this CA", serial));
    }
    else if (rv == APR_SUCCESS) {
        scep_txn_t t;
        memset(&t, 0, sizeof(t));
        t.status = "ISSUED";
        t.cert_der = rec->der;
        rv = reply_stored(e, &t);
    }
    else {
        rv = SCEP_EDB;
    }
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    return rv;
}

/* The CA whose CRL GetCRL asks: the one of the host named issuer; when
 * CAs of a rollover share a name, the one that is the serial named (sscep
 * names the CA certificate itself) or that issued it; the issuing CA when
 * none is named. */
static apr_status_t crl_issuer(const scep_ca_t **pca, enroll_t *e,
                               PKCS7_ISSUER_AND_SERIAL *ias)
{
    const scep_ca_t *first, *ca;
    scep_cert_t *rec;
    apr_status_t rv;
    int i = 0;

    if (!(first = host_ca_named(e, ias->issuer, &i)) || !host_ca_named(e, ias->issuer, &i)) {
        *pca = first ? first : e->svc->ca;
        return APR_SUCCESS;
    }
    for (i = 0; (ca = host_ca_named(e, ias->issuer, &i)) != NULL; ) {
        if (!ASN1_INTEGER_cmp(ias->serial, X509_get0_serialNumber(ca->cert))) {
            *pca = ca;
            return APR_SUCCESS;
        }
    }
    rv = host_cert_get(&rec, pca, e, ias->issuer, scep_serial_hex(e->ctx->pool, ias->serial));
    if (rv == APR_NOTFOUND) {
        *pca = first;
        return APR_SUCCESS;
    }
    return rv;
}

/* GetCRL: the current CRL of the CA named (see crl_issuer). */
static apr_status_t getcrl(enroll_t *e)
{
    PKCS7_ISSUER_AND_SERIAL *ias = issuer_and_serial(e);
    const scep_ca_t *ca = NULL;
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    X509_CRL *crl;
    apr_status_t rv;

    if (!ias) {
        return refuse_sealed(e, "the envelope does not hold an IssuerAndSerialNumber");
    }
    rv = open_store(e) == APR_SUCCESS ? crl_issuer(&ca, e, ias) : SCEP_EDB;
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    if (rv != APR_SUCCESS
        || scep_crl_current(&der, &len, e->ctx, e->store, ca,
                            e->svc->crl_validity) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    q = der;
    if (!(crl = scep_own_crl(e->ctx->pool, d2i_X509_CRL(NULL, &q, (long)len)))) {
        return refuse(e, SCEP_FAIL_BADREQUEST, "the CRL could not be read back");
    }
    e->reply.status = SCEP_STATUS_SUCCESS;
    e->reply.crl = crl;
    return SCEP_EDONE;
}

/* Before anything is decrypted: the signature, the digest, the message
 * type, the throttle and (for enrollments) the signer. */
static apr_status_t check_outside(enroll_t *e)
{
    const scep_profile_t *loc = e->svc->profile;
    scep_msg_t *m = e->msg;
    apr_status_t rv;

    if (!m->signature_ok) {
        return refuse(e, SCEP_FAIL_BADMESSAGECHECK, m->signature_error);
    }
    if (!scep_msg_digest_allowed(m->md_nid, loc->allow_legacy)) {
        return refuse(e, SCEP_FAIL_BADALG, apr_psprintf(e->ctx->pool,
                      "digest %s is not allowed%s",
                      m->md_nid == NID_undef ? "(unknown)" : OBJ_nid2sn(m->md_nid),
                      m->md_nid == NID_md5 ? " (MD5 needs SCEPLegacyAlgorithms on)" : ""));
    }
    if (m->type != SCEP_MSG_PKCSREQ && m->type != SCEP_MSG_RENEWALREQ
        && m->type != SCEP_MSG_CERTPOLL && m->type != SCEP_MSG_GETCERT
        && m->type != SCEP_MSG_GETCRL) {
        /* strict allow-list: anything else (UpdateReq, CertRep, ...) is
         * refused, never handled like a request we know */
        return refuse(e, SCEP_FAIL_BADREQUEST, apr_psprintf(e->ctx->pool,
                      "messageType %s is not supported here", m->type_str));
    }
    if ((rv = preflight(e)) != APR_SUCCESS) {
        return rv;
    }
    return e->is_enrollment ? classify_signer(e) : APR_SUCCESS;
}

/* The steps of one PKIOperation whose message could be read. */
static apr_status_t pki_steps(enroll_t *e)
{
    const scep_profile_t *loc = e->svc->profile;
    scep_fail_info_t fail;
    const char *err = NULL;
    apr_status_t rv;

    if ((rv = check_outside(e)) != APR_SUCCESS) {
        return rv;
    }
    /* no connection held through the RSA work: the next statement takes one */
    scep_store_release(e->store);
    if (scep_msg_decrypt(e->msg, &fail, &err, e->ctx->pool, e->replier->enc_cert,
                         e->replier->enc_key, loc->allow_legacy) != APR_SUCCESS) {
        return refuse(e, fail, err);
    }
    if (e->msg->decrypt_error && scep_ca_enc_token_failed(e->replier)) {
        /* the token failed, not the sender: nothing is refused or recorded */
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00372)
                 "transaction %s: the RA key's token cannot decrypt: %s", e->txn.tid,
                 e->msg->detail);
        scep_ca_key_trouble(e->replier);
        return SCEP_EKEY;
    }
    switch (e->msg->type) {
    case SCEP_MSG_CERTPOLL: return certpoll(e);
    case SCEP_MSG_GETCERT:  return getcert(e);
    case SCEP_MSG_GETCRL:   return getcrl(e);
    default:                return pkcsreq(e);
    }
}

/* SCEPCertRepChain on: after the issued certificate, the CA that issued it
 * and the certificates above it (some VPN clients want them). */
static STACK_OF(X509) *certrep_chain(enroll_t *e)
{
    const scep_ca_t *ca = issuer_in_host(e->svc, e->reply.issued);
    STACK_OF(X509) *extra = scep_own_x509_stack(e->ctx->pool, sk_X509_new_null());
    int i;

    ERR_clear_error();
    if (!ca) {
        ca = e->svc->ca;
    }
    for (i = -1; extra && i < sk_X509_num(ca->chain); i++) {
        X509 *x = i < 0 ? ca->cert : sk_X509_value(ca->chain, i);
        if (X509_up_ref(x) && !sk_X509_push(extra, x)) {
            X509_free(x);
        }
    }
    return extra;
}

/* The signed CertRep of what the steps decided, then the refusal's record
 * (once the answer exists: a refusal that cannot be sent because the RA's
 * token failed is none). */
static void answer(enroll_t *e, scep_http_out_t *out)
{
    apr_pool_t *p = e->ctx->pool;
    const char *err = NULL;
    unsigned char *rep;
    apr_size_t rep_len;

    if (e->reply.issued && e->prof->certrep_chain) {
        e->reply.extra = certrep_chain(e);
    }
    scep_store_release(e->store);
    if (scep_msg_certrep(&rep, &rep_len, &err, p, e->svc->oids, e->replier, e->msg, &e->reply,
                         e->svc->profile->allow_legacy) != APR_SUCCESS) {
        SCEP_LOG(e->ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00210)
                 "transaction %s: %s", e->msg->tid_str, err);
        if (scep_ca_has_token(e->replier)) {
            /* the token failed, not the sender (an envelope it could not
             * open included): nothing is recorded or counted against it */
            scep_ca_key_trouble(e->replier);
            http_text(out, p, 503, "Service Unavailable: the RA's keys are unavailable");
            return;
        }
        if (e->refused) {
            record_refusal(e);
        }
        http_text(out, p, 500, "Internal Server Error: cannot build the reply");
        return;
    }
    if (e->refused) {
        record_refusal(e);
    }
    out->status = 200;
    out->content_type = CT_PKI;
    out->body = rep;
    out->len = rep_len;
    out->pki_status = e->reply.status;
    out->fail_info = e->reply.status == SCEP_STATUS_FAILURE ? (int)e->reply.fail_info : -1;
    out->serial = e->reply.issued ? scep_serial_hex(p, X509_get0_serialNumber(e->reply.issued))
                                  : NULL;
}

static void pki_operation(scep_ctx_t *ctx, const scep_service_t *svc, const scep_env_t *env,
                          const scep_http_in_t *in, scep_http_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    const unsigned char *der;
    apr_size_t len;
    const char *err = NULL;
    apr_status_t rv;
    enroll_t e;

    memset(&e, 0, sizeof(e));
    e.ctx = ctx;
    e.svc = svc;
    e.env = env;
    e.prof = svc->profile;
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
    if (e.is_enrollment) {
        e.trace = apr_array_make(p, 8, sizeof(const char *));
    }
    e.txn.ca = svc->ca->fingerprint;
    e.replier = recipient_ca(p, svc, e.msg);
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

    rv = pki_steps(&e);
    if (e.refused && rv == SCEP_EDB) {
        record_refusal(&e);
    }
    out->tid = e.msg->tid_str;
    out->msg_type = e.msg->type;
    out->subject = e.txn.subject;
    out->renewal = e.renewed != NULL;
    out->auth_failed = e.txn.auth_failed;
    out->throttled = e.throttled;
    if (rv == SCEP_EDB) {
        /* nothing may be issued without a record */
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00209)
                 "the enrollment database is unavailable; transaction %s not served",
                 scep_log_safe(p, e.msg->tid_str, strlen(e.msg->tid_str)));
        http_text(out, p, 503, "Service Unavailable: enrollment database unavailable");
        return;
    }
    if (rv == SCEP_EKEY) {
        http_text(out, p, 503, "Service Unavailable: the CA's keys are unavailable");
        return;
    }
    answer(&e, out);
}

void scep_op_handle(scep_ctx_t *ctx, const scep_service_t *svc, const scep_env_t *env,
                    const scep_http_in_t *in, scep_http_out_t *out)
{
    const char *op = in->operation;
    apr_pool_t *p = ctx->pool;

    memset(out, 0, sizeof(*out));
    out->pki_status = out->fail_info = -1;
    if (op && !strcasecmp(op, "GetCACaps")) {
        if (in->is_post) {
            http_text(out, p, 405, "Method Not Allowed: GetCACaps is a GET");
            return;
        }
        out->status = 200;
        out->content_type = CT_TEXT;
        out->body = (const unsigned char *)svc->caps;
        out->len = strlen(svc->caps);
    }
    else if (op && !strcasecmp(op, "GetCACert")) {
        if (in->is_post) {
            http_text(out, p, 405, "Method Not Allowed: GetCACert is a GET");
            return;
        }
        out->status = 200;
        out->content_type = svc->cacert->content_type;
        out->body = svc->cacert->der;
        out->len = svc->cacert->len;
    }
    else if ((op && !strcasecmp(op, "PKIOperation")) || in->is_post) {
        /* a POST is a PKIOperation whatever operation it names; its
         * turn comes in the order it came (SCEPOperationSlots) */
        scep_slot_take(env->slot, 0);
        pki_operation(ctx, svc, env, in, out);
        scep_slot_give(env->slot);
    }
    else if (op && !strcasecmp(op, "GetNextCACert")) {
        if (!svc->nextcacert) {
            http_text(out, p, 404, "Not Found: no next CA certificate is configured "
                      "(GetCACaps does not list GetNextCACert)");
            return;
        }
        out->status = 200;
        out->content_type = svc->nextcacert->content_type;
        out->body = svc->nextcacert->der;
        out->len = svc->nextcacert->len;
    }
    else if (!op) {
        http_text(out, p, 400, "Bad Request: missing operation parameter");
    }
    else {
        http_text(out, p, 400, apr_pstrcat(p, "Bad Request: unknown operation ",
                                           scep_log_safe(p, op, strlen(op)), NULL));
    }
}
