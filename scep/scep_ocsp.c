/* mod_scep core: the OCSP responder. A request is bounded (bytes, then
 * certificates) before any work; each certificate of this CA is looked up
 * in the records (one indexed read), so a revocation on any node is seen at
 * once; a response to one certificate without a nonce is kept in the shared
 * cache under what the records say of it, so most answers need no
 * signature. Every OpenSSL object is freed on the one exit path. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/ocsp.h>
#include <openssl/err.h>

#include "scep_ocsp.h"
#include "scep_ossl.h"
#include "scep_util.h"

#define NONCE_MAX 32                 /* RFC 8954 */

/* One certificate asked about, and what the records say of it. */
typedef struct single_t {
    OCSP_CERTID *id;                 /* the request's, borrowed */
    int ours;                        /* issued by this CA (name and key hash match) */
    int md_nid;
    const char *serial;
    int status;                      /* V_OCSP_CERTSTATUS_* */
    apr_int64_t revoked_at;
    int reason;                      /* CRLReason, -1: none */
} single_t;

static void error_response(const unsigned char **pder, apr_size_t *plen,
                           scep_ocsp_answer_t *ans, apr_pool_t *p, int status,
                           const char *why)
{
    OCSP_RESPONSE *r = OCSP_response_create(status, NULL);
    unsigned char *der = NULL;
    int len = r ? i2d_OCSP_RESPONSE(r, &der) : -1;

    *pder = len > 0 ? apr_pmemdup(p, der, (apr_size_t)len) : (const unsigned char *)"";
    *plen = len > 0 ? (apr_size_t)len : 0;
    OPENSSL_free(der);
    OCSP_RESPONSE_free(r);
    ans->response_status = status;
    ans->summary = why;
}

/* 0: no nonce; 1: a nonce of 1 to 32 octets; -1: another (RFC 8954). */
static int nonce_state(OCSP_REQUEST *req)
{
    int idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
    ASN1_OCTET_STRING *v, *inner;
    const unsigned char *q;
    int size;

    if (idx < 0) {
        return 0;
    }
    v = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(req, idx));
    q = ASN1_STRING_get0_data(v);
    /* the value is an OCTET STRING inside the extension's OCTET STRING */
    inner = d2i_ASN1_OCTET_STRING(NULL, &q, ASN1_STRING_length(v));
    size = inner && q == ASN1_STRING_get0_data(v) + ASN1_STRING_length(v)
           ? ASN1_STRING_length(inner) : ASN1_STRING_length(v);
    ASN1_OCTET_STRING_free(inner);
    ERR_clear_error();
    return size >= 1 && size <= NONCE_MAX ? 1 : -1;
}

/* Is the CertID about a certificate of this CA (name and key hashes with
 * the request's own hash algorithm)? */
static void identify(single_t *s, apr_pool_t *p, const scep_ca_t *ca, OCSP_CERTID *id)
{
    ASN1_OBJECT *md_obj = NULL;
    ASN1_INTEGER *serial = NULL;
    const EVP_MD *md;
    OCSP_CERTID *mine = NULL;

    s->id = id;
    OCSP_id_get0_info(NULL, &md_obj, NULL, &serial, id);
    md = md_obj ? EVP_get_digestbyobj(md_obj) : NULL;
    s->md_nid = md_obj ? OBJ_obj2nid(md_obj) : NID_undef;
    if (md && serial) {
        mine = OCSP_cert_id_new(md, X509_get_subject_name(ca->cert),
                                X509_get0_pubkey_bitstr(ca->cert), serial);
    }
    s->ours = mine && OCSP_id_issuer_cmp(mine, id) == 0;
    s->serial = serial ? scep_serial_hex(p, serial) : "";
    s->status = V_OCSP_CERTSTATUS_UNKNOWN;
    s->reason = -1;
    OCSP_CERTID_free(mine);
}

/* What the records say of each certificate of ours; SCEP_EDB when they
 * cannot be read. */
static apr_status_t look_up(single_t *singles, int n, scep_ctx_t *ctx, const scep_ocsp_t *o)
{
    scep_store_t *st = NULL;
    int i, found;

    for (i = 0; i < n; i++) {
        single_t *s = &singles[i];
        if (!s->ours) {
            continue;
        }
        if (!st && (!o->open_store || o->open_store(o->store_baton, &st) != APR_SUCCESS)) {
            return SCEP_EDB;
        }
        if (scep_store_cert_status(&found, &s->revoked_at, &s->reason, ctx, st,
                                   o->ca->fingerprint, s->serial) != APR_SUCCESS) {
            return SCEP_EDB;
        }
        s->status = !found ? V_OCSP_CERTSTATUS_UNKNOWN : s->revoked_at
                    ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD;
    }
    return APR_SUCCESS;
}

static const char *status_name(const single_t *s)
{
    return s->status == V_OCSP_CERTSTATUS_GOOD ? "good"
           : s->status == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "unknown";
}

/* Sign the statuses: the basic response, then the OCSPResponse's DER. */
static apr_status_t sign(const unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                         const scep_ocsp_t *o, OCSP_REQUEST *req, const single_t *singles,
                         int n, apr_int64_t now)
{
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_RESPONSE *resp = NULL;
    ASN1_TIME *this_update = ASN1_TIME_set(NULL, (time_t)now);
    ASN1_TIME *next_update = ASN1_TIME_set(NULL, (time_t)(now + o->validity));
    ASN1_TIME *revoked = NULL;
    unsigned char *der = NULL;
    apr_status_t rv = APR_EGENERAL;
    int i, len;

    if (!bs || !this_update || !next_update) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        const single_t *s = &singles[i];
        ASN1_TIME_free(revoked);
        revoked = s->status == V_OCSP_CERTSTATUS_REVOKED
                  ? ASN1_TIME_set(NULL, (time_t)s->revoked_at) : NULL;
        if (!OCSP_basic_add1_status(bs, s->id, s->status,
                                    s->reason >= 0 ? s->reason : OCSP_REVOKED_STATUS_NOSTATUS,
                                    revoked, this_update, next_update)) {
            goto done;
        }
    }
    if ((req && nonce_state(req) == 1 && OCSP_copy_nonce(bs, req) <= 0)
        || !OCSP_basic_sign(bs, o->signer ? o->signer : o->ca->cert,
                            o->signer ? o->signer_key : o->ca->key, EVP_sha256(), NULL,
                            o->signer ? 0 : OCSP_NOCERTS)
        || !(resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs))
        || (len = i2d_OCSP_RESPONSE(resp, &der)) <= 0) {
        goto done;
    }
    *pder = apr_pmemdup(p, der, (apr_size_t)len);
    *plen = (apr_size_t)len;
    rv = APR_SUCCESS;
done:
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    ASN1_TIME_free(revoked);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(this_update);
    OCSP_BASICRESP_free(bs);
    return rv;
}

/* The cache's key: what the records say of one certificate, and the form
 * of the request's CertID the response echoes. */
static const char *cache_key(apr_pool_t *p, const scep_ocsp_t *o, const single_t *s)
{
    /* (and who signs it for how long: virtual hosts with one CA may differ) */
    return apr_psprintf(p, "%s|%s|%" APR_INT64_T_FMT "|%d|%s|%d|%" APR_INT64_T_FMT "|%d",
                        o->ca->fingerprint,
                        o->signer ? scep_serial_hex(p, X509_get0_serialNumber(o->signer)) : "ca",
                        o->validity, s->md_nid, s->serial, s->status, s->revoked_at, s->reason);
}

/* The responder for a request about a certificate of another CA of the
 * host (README "CA rollover"): that CA, which signs itself unless the
 * delegated responder is its own. One response has one signer: the CA of
 * the first certificate asked about answers; the others are unknown. */
static const scep_ocsp_t *responder_for(apr_pool_t *p, const scep_ocsp_t *o, OCSP_REQUEST *req)
{
    scep_ocsp_t *other;
    single_t first;
    int i;

    if (!o->cas || o->cas->all->nelts < 2 || OCSP_request_onereq_count(req) < 1) {
        return o;
    }
    for (i = 0; i < o->cas->all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(o->cas->all, i, const scep_ca_t *);
        identify(&first, p, ca, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0)));
        if (first.ours && ca != o->ca) {
            other = apr_pmemdup(p, o, sizeof(*o));
            other->ca = ca;
            if (o->signer && X509_check_issued(ca->cert, o->signer) != X509_V_OK) {
                other->signer = NULL;
                other->signer_key = NULL;
            }
            ERR_clear_error();
            return other;
        }
        if (first.ours) {
            break;
        }
    }
    return o;
}

static void answer(const unsigned char **pder, apr_size_t *plen, scep_ocsp_answer_t *ans,
                   scep_ctx_t *ctx, const scep_ocsp_t *o, OCSP_REQUEST *req)
{
    apr_pool_t *p = ctx->pool;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    int n = OCSP_request_onereq_count(req), i, ours = 0, nonce = nonce_state(req);
    single_t *singles;
    scep_ocsp_cached_t hit;
    const char *key = NULL;

    if (n < 1 || n > SCEP_OCSP_MAX_SINGLES || nonce < 0) {
        error_response(pder, plen, ans, p, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                       n < 1 || n > SCEP_OCSP_MAX_SINGLES
                       ? "malformedRequest: no certificate, or more than 16"
                       : "malformedRequest: a nonce of 0 or more than 32 octets");
        return;
    }
    singles = apr_pcalloc(p, sizeof(*singles) * (apr_size_t)n);
    o = responder_for(p, o, req);
    for (i = 0; i < n; i++) {
        identify(&singles[i], p, o->ca, OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i)));
        ours += singles[i].ours;
    }
    if (!ours) {
        error_response(pder, plen, ans, p, OCSP_RESPONSE_STATUS_UNAUTHORIZED,
                       "unauthorized: no certificate of this CA asked about");
        return;
    }
    if (look_up(singles, n, ctx, o) != APR_SUCCESS) {
        error_response(pder, plen, ans, p, OCSP_RESPONSE_STATUS_TRYLATER,
                       "tryLater: the records cannot be read");
        return;
    }
    ans->response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
    ans->cacheable = n == 1 && nonce == 0;
    ans->summary = apr_pstrcat(p, singles[0].serial, ": ", status_name(&singles[0]),
                               n > 1 ? " and others" : "", nonce ? " (nonce)" : "", NULL);
    if (ans->cacheable && o->cache_get) {
        key = cache_key(p, o, &singles[0]);
        /* kept while at least half of its validity is left */
        if (o->cache_get(o->cache_baton, key, &hit, p) && hit.next_update - now > o->validity / 2) {
            *pder = hit.der;
            *plen = hit.len;
            ans->this_update = hit.this_update;
            ans->next_update = hit.next_update;
            ans->from_cache = 1;
            return;
        }
    }
    if (sign(pder, plen, p, o, req, singles, n, now) != APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00801)
                 "cannot sign an OCSP response: %s", scep_ossl_errors(p));
        error_response(pder, plen, ans, p, OCSP_RESPONSE_STATUS_INTERNALERROR,
                       "internalError: the response could not be signed");
        return;
    }
    ans->this_update = now;
    ans->next_update = now + o->validity;
    if (key && o->cache_put) {
        scep_ocsp_cached_t in = { *pder, *plen, ans->this_update, ans->next_update };
        o->cache_put(o->cache_baton, key, &in, p);
    }
}

void scep_ocsp_respond(const unsigned char **pder, apr_size_t *plen, scep_ocsp_answer_t *ans,
                       scep_ctx_t *ctx, const scep_ocsp_t *o, const unsigned char *der,
                       apr_size_t len)
{
    const unsigned char *q = der;
    OCSP_REQUEST *req = NULL;

    memset(ans, 0, sizeof(*ans));
    if (len == 0 || len > SCEP_OCSP_MAX_REQUEST
        || !(req = d2i_OCSP_REQUEST(NULL, &q, (long)len)) || q != der + len) {
        ERR_clear_error();
        error_response(pder, plen, ans, ctx->pool, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                       "malformedRequest: not one DER OCSPRequest of at most 8192 bytes");
    }
    else {
        answer(pder, plen, ans, ctx, o, req);
    }
    OCSP_REQUEST_free(req);
}

const char *scep_ocsp_signer_check(const char **pwarning, apr_pool_t *p, const scep_ca_t *ca,
                                   X509 *cert)
{
    *pwarning = NULL;
    if (X509_check_issued(ca->cert, cert) != X509_V_OK) {
        return "the OCSP signer certificate is not issued by this CA";
    }
    if (!(X509_get_extension_flags(cert) & EXFLAG_XKUSAGE)
        || !(X509_get_extended_key_usage(cert) & XKU_OCSP_SIGN)) {
        return "the OCSP signer certificate lacks extendedKeyUsage id-kp-OCSPSigning";
    }
    if (X509_get_ext_by_NID(cert, NID_id_pkix_OCSP_noCheck, -1) < 0) {
        *pwarning = apr_pstrdup(p, "the OCSP signer certificate has no id-pkix-ocsp-nocheck: "
                                "relying parties may try to check its own revocation");
    }
    return NULL;
}
