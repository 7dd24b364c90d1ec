/* mod_scep core: the validation webhook (signed JSON out, a verdict back). */
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "scep_webhook.h"
#include "scep_util.h"

#define NAMES_IGNORED "names ignored: SCEPValidationWebhookNames is off"

/* ---- the request ------------------------------------------------------- */

/* A JSON string, null for NULL; bytes that are not UTF-8 become '?' rather
 * than lose the whole body (jansson refuses them). */
static json_t *jstr(apr_pool_t *p, const char *s)
{
    json_t *j;

    if (!s) {
        return json_null();
    }
    if ((j = json_string(s)) != NULL) {
        return j;
    }
    return json_string(scep_log_safe_max(p, s, strlen(s), strlen(s)));
}

/* *bad once a member could not be made (out of memory). */
static void put(json_t *obj, const char *key, json_t *val, int *bad)
{
    if (json_object_set_new(obj, key, val) != 0) {
        *bad = 1;
    }
}

static const char *pem_of(apr_pool_t *p, const unsigned char *der, apr_size_t len,
                          const char *label)
{
    const char *b64 = scep_b64_encode(p, der, len);
    apr_size_t i, n = strlen(b64);
    char *out = apr_palloc(p, n + n / 64 + 2 * strlen(label) + 64), *o = out;

    o += sprintf(o, "-----BEGIN %s-----\n", label);
    for (i = 0; i < n; i += 64) {
        apr_size_t k = n - i < 64 ? n - i : 64;
        memcpy(o, b64 + i, k);
        o += k;
        *o++ = '\n';
    }
    sprintf(o, "-----END %s-----\n", label);
    return out;
}

/* The challenge as a string when it is UTF-8 without NUL, else as base64. */
static void put_challenge(json_t *obj, apr_pool_t *p, const scep_validation_t *v, int *bad)
{
    json_t *s = NULL;

    if (v->challenge && !memchr(v->challenge, '\0', v->challenge_len)) {
        s = json_stringn(v->challenge, v->challenge_len);
    }
    put(obj, "challenge", s ? s : json_null(), bad);
    if (v->challenge && !s) {
        put(obj, "challenge_base64",
            json_string(scep_b64_encode(p, (const unsigned char *)v->challenge,
                                        v->challenge_len)), bad);
    }
}

const char *scep_webhook_body(apr_pool_t *p, const scep_validation_t *v, apr_int64_t now)
{
    json_t *obj = json_object(), *sans = json_array(), *key = json_object();
    const char *csr = v->csr_pem;
    char *text = NULL, *body = NULL;
    int bad = !obj || !sans || !key, i;

    if (!csr && v->csr_der) {
        csr = pem_of(p, v->csr_der, v->csr_len, "CERTIFICATE REQUEST");
    }
    for (i = 0; !bad && v->sans && i < v->sans->nelts; i++) {
        bad = json_array_append_new(sans, jstr(p, APR_ARRAY_IDX(v->sans, i, const char *))) != 0;
    }
    if (!bad) {
        put(key, "type", jstr(p, v->key_type), &bad);
        put(key, "bits", json_integer(v->key_bits), &bad);
        put(obj, "type", json_string("validate"), &bad);
        put(obj, "version", json_integer(1), &bad);
        put(obj, "time", json_integer((json_int_t)now), &bad);
        put(obj, "transaction_id", jstr(p, v->transaction_id), &bad);
        put(obj, "location", jstr(p, v->location), &bad);
        put(obj, "ca", jstr(p, v->ca), &bad);
        put(obj, "message_type", json_string(v->renewal ? "renewal" : "new"), &bad);
        put_challenge(obj, p, v, &bad);
        put(obj, "csr", jstr(p, csr), &bad);
        put(obj, "subject", jstr(p, v->subject), &bad);
        put(obj, "sans", json_incref(sans), &bad);
        put(obj, "key", json_incref(key), &bad);
        put(obj, "client_address", jstr(p, v->client_addr), &bad);
        put(obj, "signer_certificate", jstr(p, v->signer_pem), &bad);
    }
    if (!bad && (text = json_dumps(obj, JSON_COMPACT)) != NULL) {
        body = apr_pstrdup(p, text);
        free(text);
    }
    json_decref(sans);
    json_decref(key);
    json_decref(obj);
    return body;
}

/* ---- the signature ----------------------------------------------------- */

const char *scep_webhook_signature(apr_pool_t *p, const unsigned char *secret, apr_size_t len,
                                   const char *timestamp, const char *body,
                                   apr_size_t body_len)
{
    static const char digits[] = "0123456789abcdef";
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *mc = NULL;
    OSSL_PARAM params[2];
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0, i;
    char *out = NULL;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    ERR_clear_error();
    if (!(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(mc = EVP_MAC_CTX_new(mac))
        || !EVP_MAC_init(mc, secret ? secret : (const unsigned char *)"", secret ? len : 0,
                         params)
        || !EVP_MAC_update(mc, (const unsigned char *)timestamp, strlen(timestamp))
        || !EVP_MAC_update(mc, (const unsigned char *)".", 1)
        || !EVP_MAC_update(mc, (const unsigned char *)body, body_len)
        || !EVP_MAC_final(mc, md, &mdlen, sizeof(md))) {
        goto leave;
    }
    out = apr_palloc(p, sizeof("sha256=") + 2 * mdlen);
    memcpy(out, "sha256=", 7);
    for (i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = digits[md[i] >> 4];
        out[7 + 2 * i + 1] = digits[md[i] & 0x0f];
    }
    out[7 + 2 * mdlen] = '\0';
leave:
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(mac);
    ERR_clear_error();              /* a failure is the caller's NULL, no stale queue */
    return out;
}

apr_array_header_t *scep_webhook_headers(apr_pool_t *p, const unsigned char *secret,
                                         apr_size_t secret_len, const char *body,
                                         apr_size_t body_len, apr_int64_t now)
{
    apr_array_header_t *h = apr_array_make(p, 4, sizeof(const char *));
    const char *ts = apr_psprintf(p, "%" APR_INT64_T_FMT, now), *sig;

    APR_ARRAY_PUSH(h, const char *) = "Content-Type: application/json";
    APR_ARRAY_PUSH(h, const char *) = "User-Agent: mod_scep/" SCEP_VERSION;
    APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "X-SCEP-Timestamp: ", ts, NULL);
    if (secret && secret_len) {
        if (!(sig = scep_webhook_signature(p, secret, secret_len, ts, body, body_len))) {
            return NULL;
        }
        APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "X-SCEP-Signature: ", sig, NULL);
    }
    return h;
}

/* ---- the answer -------------------------------------------------------- */

/* A string member of at most max bytes, not empty, without control
 * characters (they would reach a certificate or a log line). */
static const char *name_of(json_t *val, apr_size_t max)
{
    const char *s = json_string_value(val);
    apr_size_t i, len = json_string_length(val);

    if (!json_is_string(val) || len == 0 || len > max) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return NULL;
        }
    }
    return s;
}

/* "TYPE:value" with a known type (its spelling ours), or NULL. */
static const char *san_of(apr_pool_t *p, json_t *val)
{
    static const struct { const char *prefix; int ip; } types[] = {
        { "DNS:", 0 }, { "IP:", 1 }, { "email:", 0 }, { "URI:", 0 }, { "UPN:", 0 }
    };
    const char *s = name_of(val, SCEP_WEBHOOK_NAME_MAX);
    unsigned char addr[16];
    size_t i, n;

    for (i = 0; s && i < sizeof(types) / sizeof(types[0]); i++) {
        n = strlen(types[i].prefix);
        if (strncasecmp(s, types[i].prefix, n) != 0 || !s[n]) {
            continue;
        }
        if (types[i].ip && inet_pton(AF_INET, s + n, addr) != 1
            && inet_pton(AF_INET6, s + n, addr) != 1) {
            return NULL;
        }
        return apr_pstrcat(p, types[i].prefix, s + n, NULL);
    }
    return NULL;
}

/* The names an ALLOW fixes into out; what is malformed, or NULL. */
static const char *take_names(scep_verdict_t *out, apr_pool_t *p, json_t *root)
{
    json_t *subject = json_object_get(root, "subject"), *sans = json_object_get(root, "sans");
    apr_array_header_t *arr;
    size_t i;

    if (subject && !json_is_null(subject)) {
        if (!(out->subject = name_of(subject, SCEP_WEBHOOK_NAME_MAX))) {
            return "the webhook's \"subject\" is malformed";
        }
        out->subject = apr_pstrdup(p, out->subject);
    }
    if (!sans || json_is_null(sans)) {
        return NULL;
    }
    if (!json_is_array(sans) || json_array_size(sans) > SCEP_WEBHOOK_SANS_MAX) {
        return "the webhook's \"sans\" is not an array of at most 64 names";
    }
    arr = apr_array_make(p, (int)json_array_size(sans) + 1, sizeof(const char *));
    for (i = 0; i < json_array_size(sans); i++) {
        const char *san = san_of(p, json_array_get(sans, i));
        if (!san) {
            return apr_psprintf(p, "the webhook's \"sans\" entry %d is malformed "
                                "(a string TYPE:value, TYPE one of DNS, IP, email, URI, UPN)",
                                (int)i + 1);
        }
        APR_ARRAY_PUSH(arr, const char *) = san;
    }
    out->sans = arr;
    return NULL;
}

static int has_names(json_t *root)
{
    json_t *subject = json_object_get(root, "subject"), *sans = json_object_get(root, "sans");

    return (subject && !json_is_null(subject)) || (sans && !json_is_null(sans));
}

/* ALLOW or DENY from an answer whose "allow" is a boolean. */
static void decide(scep_verdict_t *out, apr_pool_t *p, json_t *root, int names_allowed)
{
    json_t *allow = json_object_get(root, "allow"), *reason = json_object_get(root, "reason");
    const char *theirs = NULL, *bad;

    if (reason && !json_is_null(reason)) {
        if (!json_is_string(reason)) {
            out->reason = "the webhook's \"reason\" is not a string";
            return;
        }
        theirs = scep_log_safe_max(p, json_string_value(reason), json_string_length(reason),
                                   SCEP_WEBHOOK_REASON_MAX);
    }
    if (json_is_false(allow)) {
        out->kind = SCEP_VERDICT_DENY;
        out->reason = theirs ? theirs : "the webhook denied the request";
        return;
    }
    if (!names_allowed) {
        out->kind = SCEP_VERDICT_ALLOW;
        out->reason = !has_names(root) ? (theirs ? theirs : "the webhook allowed the request")
                      : theirs ? apr_pstrcat(p, theirs, "; " NAMES_IGNORED, NULL)
                      : NAMES_IGNORED;
        return;
    }
    if ((bad = take_names(out, p, root)) != NULL) {
        out->subject = NULL;
        out->sans = NULL;
        out->reason = bad;
        return;
    }
    out->kind = SCEP_VERDICT_ALLOW;
    out->reason = theirs ? theirs : "the webhook allowed the request";
}

void scep_webhook_verdict(scep_verdict_t *out, apr_pool_t *p, const scep_http_response_t *resp,
                          int names_allowed)
{
    json_error_t jerr;
    json_t *root = NULL;

    memset(out, 0, sizeof(*out));
    out->kind = SCEP_VERDICT_UNAVAILABLE;
    if (resp->status < 200 || resp->status > 299) {
        out->reason = apr_psprintf(p, "the webhook answered HTTP %d", resp->status);
        return;
    }
    /* duplicate members could be read one way here and another there */
    root = json_loadb(resp->body ? resp->body : "", resp->body ? resp->len : 0,
                      JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        out->reason = "the webhook's answer is not JSON";
    }
    else if (!json_is_object(root)) {
        out->reason = "the webhook's answer is not a JSON object";
    }
    else if (!json_is_boolean(json_object_get(root, "allow"))) {
        out->reason = "the webhook's answer has no boolean \"allow\"";
    }
    else {
        decide(out, p, root, names_allowed);
    }
    json_decref(root);
}

/* ---- the call ---------------------------------------------------------- */

static const char *kind_name(scep_verdict_kind_t kind)
{
    return kind == SCEP_VERDICT_ALLOW ? "allow" : kind == SCEP_VERDICT_DENY ? "deny"
           : "unavailable";
}

apr_status_t scep_webhook_validate(scep_verdict_t *out, scep_ctx_t *ctx, scep_http_t *http,
                                   const scep_webhook_t *hook, const scep_validation_t *v)
{
    apr_pool_t *p = ctx->pool;
    apr_time_t start = apr_time_now();
    scep_http_response_t resp;
    scep_http_request_t req;
    apr_array_header_t *headers = NULL;
    const char *body;

    if (!hook || !hook->url || !v) {
        return APR_EINVAL;
    }
    memset(&resp, 0, sizeof(resp));
    body = scep_webhook_body(p, v, apr_time_sec(start));
    if (body) {
        headers = scep_webhook_headers(p, hook->secret, hook->secret_len, body, strlen(body),
                                       apr_time_sec(start));
    }
    if (!headers) {
        memset(out, 0, sizeof(*out));
        out->kind = SCEP_VERDICT_UNAVAILABLE;
        out->reason = "cannot build the webhook's request";
    }
    else {
        req.method = "POST";
        req.url = hook->url;
        req.headers = headers;
        req.body = body;
        req.body_len = strlen(body);
        req.conf = &hook->http;
        if (scep_http_send(&resp, ctx, http, &req) == APR_SUCCESS) {
            scep_webhook_verdict(out, p, &resp, hook->names_allowed);
        }
        else {
            memset(out, 0, sizeof(*out));
            out->kind = SCEP_VERDICT_UNAVAILABLE;
            out->reason = apr_pstrcat(p, "the webhook call failed: ", resp.error, NULL);
        }
    }
    SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00610)
             "webhook: %s for transaction %s (HTTP %d, %" APR_TIME_T_FMT " ms): %s",
             kind_name(out->kind), v->transaction_id
             ? scep_log_safe(p, v->transaction_id, strlen(v->transaction_id)) : "(none)",
             resp.status, apr_time_as_msec(apr_time_now() - start), out->reason);
    return APR_SUCCESS;
}
