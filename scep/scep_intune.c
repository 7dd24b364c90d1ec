/* mod_scep core: Microsoft Intune's SCEP challenge validation and its
 * notifications, as Microsoft's own library calls them (docs/intune.md has
 * the contract and the files it was read from). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "scep_intune.h"
#include "scep_ossl.h"
#include "scep_util.h"

#define DEFAULT_MARGIN    apr_time_from_sec(300)
#define DEFAULT_DISCOVERY apr_time_from_sec(3600)
#define MAX_DESCRIPTION   255     /* the library's limit on errorDescription */

/**** the client and what it keeps ***************************************/

/* One access token, for one scope. Its value is malloc'd rather than taken
 * from a pool: a child renews its tokens for as long as it lives, and a pool
 * would only grow. Readers copy it under the lock, so the old one can go at
 * once. */
typedef struct token_t {
    const char *scope;
    const char *name;               /* for the log: "Intune", "Graph" */
    char *value;                    /* NULL: none yet, or dropped */
    apr_time_t renew_at;
    apr_uint32_t gen;               /* bumped at each renewal */
    apr_thread_mutex_t *renewing;   /* one thread asks Entra ID, the others wait */
} token_t;

struct scep_intune_t {
    scep_intune_conf_t conf;        /* with the defaults applied */
    unsigned char *secret;          /* trailing CR/LF cut; wiped with the pool */
    apr_size_t secret_len;
    apr_thread_mutex_t *lock;       /* guards the tokens' values and the service URL */
    token_t intune, graph;
    char *service;                  /* the discovered base URL (malloc'd), or NULL */
    apr_time_t service_until;
    apr_thread_mutex_t *discovering;
};

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static char *malloc_copy(const char *s)
{
    apr_size_t n = strlen(s) + 1;
    char *c = malloc(n);

    if (c) {
        memcpy(c, s, n);
    }
    return c;
}

static apr_status_t intune_cleanup(void *data)
{
    scep_intune_t *in = data;

    wipe_free(in->intune.value);
    wipe_free(in->graph.value);
    free(in->service);
    in->intune.value = in->graph.value = in->service = NULL;
    OPENSSL_cleanse(in->secret, in->secret_len);
    return APR_SUCCESS;
}

/* The secret's length without the line break a file ends with. */
static apr_size_t secret_len(const scep_intune_conf_t *c)
{
    apr_size_t n = c->client_secret ? c->client_secret_len : 0;

    while (n && (c->client_secret[n - 1] == '\n' || c->client_secret[n - 1] == '\r')) {
        n--;
    }
    return n;
}

static int is_https(const char *url)
{
    return url && !strncasecmp(url, "https://", 8) && url[8];
}

const char *scep_intune_conf_check(apr_pool_t *p, const scep_intune_conf_t *c)
{
    const char *s;

    if (!c->tenant || !*c->tenant) {
        return "the Entra ID tenant (its GUID or domain) is not set";
    }
    for (s = c->tenant; *s; s++) {
        if (!apr_isalnum(*s) && *s != '.' && *s != '-') {
            return apr_psprintf(p, "the tenant '%s' is neither a GUID nor a domain",
                                scep_log_safe(p, c->tenant, strlen(c->tenant)));
        }
    }
    if (!c->client_id || !*c->client_id) {
        return "the application (client) ID is not set";
    }
    if (!secret_len(c)) {
        return "the client secret is empty";
    }
    if (!c->caller_info || !*c->caller_info) {
        return "the caller information (product/version) is not set";
    }
    if ((c->token_url && !is_https(c->token_url))
        || (c->discovery_url && !is_https(c->discovery_url))
        || (c->service_url && !is_https(c->service_url))) {
        return "the token, discovery and service URLs must be https:// URLs";
    }
    return NULL;
}

static apr_status_t mutex_make(apr_thread_mutex_t **pm, apr_pool_t *p)
{
    return apr_thread_mutex_create(pm, APR_THREAD_MUTEX_DEFAULT, p);
}

scep_intune_t *scep_intune_make(apr_pool_t *p, const scep_intune_conf_t *conf)
{
    scep_intune_t *in;
    scep_intune_conf_t *c;

    if (scep_intune_conf_check(p, conf)) {
        return NULL;
    }
    in = apr_pcalloc(p, sizeof(*in));
    c = &in->conf;
    *c = *conf;
    if (!c->token_url) {
        c->token_url = apr_psprintf(p, SCEP_INTUNE_TOKEN_URL_FMT, c->tenant);
    }
    c->discovery_url = c->discovery_url ? c->discovery_url : SCEP_INTUNE_DISCOVERY_URL;
    c->api_version = c->api_version ? c->api_version : SCEP_INTUNE_API_VERSION;
    c->token_margin = c->token_margin > 0 ? c->token_margin : DEFAULT_MARGIN;
    c->discovery_ttl = c->discovery_ttl > 0 ? c->discovery_ttl : DEFAULT_DISCOVERY;
    /* a service URL is used as a prefix: no trailing slash */
    if (c->service_url) {
        char *u = apr_pstrdup(p, c->service_url);
        apr_size_t n = strlen(u);
        while (n > 8 && u[n - 1] == '/') {
            u[--n] = '\0';
        }
        c->service_url = u;
    }
    in->secret_len = secret_len(conf);
    in->secret = apr_pmemdup(p, conf->client_secret, in->secret_len);
    c->client_secret = NULL;
    c->client_secret_len = 0;
    in->intune.scope = c->scope ? c->scope : SCEP_INTUNE_SCOPE;
    in->intune.name = "Intune";
    in->graph.scope = c->graph_scope ? c->graph_scope : SCEP_INTUNE_GRAPH_SCOPE;
    in->graph.name = "Graph";
    if (mutex_make(&in->lock, p) != APR_SUCCESS
        || mutex_make(&in->intune.renewing, p) != APR_SUCCESS
        || mutex_make(&in->graph.renewing, p) != APR_SUCCESS
        || mutex_make(&in->discovering, p) != APR_SUCCESS) {
        return NULL;
    }
    apr_pool_cleanup_register(p, in, intune_cleanup, apr_pool_cleanup_null);
    return in;
}

/**** small helpers ******************************************************/

static apr_time_t ms_since(apr_time_t t0)
{
    return apr_time_as_msec(apr_time_now() - t0);
}

/* A random (version 4) UUID: the client-request-id Intune's support can
 * correlate with. */
static const char *uuid4(apr_pool_t *p)
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        ERR_clear_error();
        apr_generate_random_bytes(b, sizeof(b));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    return apr_psprintf(p, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                        "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
                        b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Text from a service, fit for a log line and a database column: line
 * breaks become spaces, other control characters '?', at most max bytes. */
static const char *printable(apr_pool_t *p, const char *s, apr_size_t max)
{
    char *out;
    apr_size_t i;

    if (!s) {
        return "";
    }
    out = apr_pstrdup(p, scep_bounded(p, s, max));
    for (i = 0; out[i]; i++) {
        if (out[i] == '\r' || out[i] == '\n' || out[i] == '\t') {
            out[i] = ' ';
        }
        else if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) {
            out[i] = '?';
        }
    }
    return out;
}

static apr_status_t json_release(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

/* The body as a JSON object owned by p, or NULL. */
static json_t *json_object_of(apr_pool_t *p, const char *body, apr_size_t len)
{
    json_t *j;

    if (!body || !len || !(j = json_loadb(body, len, 0, NULL))) {
        return NULL;
    }
    apr_pool_cleanup_register(p, j, json_release, apr_pool_cleanup_null);
    return json_is_object(j) ? j : NULL;
}

static const char *json_str(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Compact text of a JSON value (from p); the value is released. */
static const char *json_text(apr_pool_t *p, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    const char *out = s ? apr_pstrdup(p, s) : NULL;

    free(s);
    json_decref(j);
    return out;
}

/* application/x-www-form-urlencoded value: everything but unreserved
 * characters escaped. */
static char *form_escape(apr_pool_t *p, const unsigned char *s, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, 3 * len + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static apr_array_header_t *headers(apr_pool_t *p, const char *activity)
{
    apr_array_header_t *h = apr_array_make(p, 8, sizeof(const char *));

    APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "client-request-id: ", activity, NULL);
    return h;
}

/**** Entra ID: access tokens (client credentials) ***********************/

/* Why a step failed, and the HTTP status of the exchange that did (0: none
 * came back), for the outcome's log line. */
typedef struct why_t {
    const char *text;
    int status;
} why_t;

/* What Entra ID said when it refused: "HTTP 401 invalid_client
 * (AADSTS7000215)"; its description goes to the debug log only. */
static const char *entra_refusal(scep_ctx_t *ctx, const scep_http_response_t *r)
{
    json_t *j = json_object_of(ctx->pool, r->body, r->len);
    json_t *codes = j ? json_object_get(j, "error_codes") : NULL;
    const char *err = json_str(j, "error");
    const char *sts = "";

    if (json_is_array(codes) && json_is_integer(json_array_get(codes, 0))) {
        sts = apr_psprintf(ctx->pool, " (AADSTS%" APR_INT64_T_FMT ")",
                           (apr_int64_t)json_integer_value(json_array_get(codes, 0)));
    }
    if (json_str(j, "error_description")) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00650) "Entra ID: %s",
                 printable(ctx->pool, json_str(j, "error_description"), 512));
    }
    return apr_psprintf(ctx->pool, "HTTP %d%s%s%s", r->status, err ? " " : "",
                        err ? printable(ctx->pool, err, 64) : "", sts);
}

/* The seconds a token answer says it lives: a number, or digits in a string
 * (the v1 endpoint's habit); 0 when neither. */
static apr_int64_t expires_in(json_t *j)
{
    json_t *v = json_object_get(j, "expires_in");

    if (json_is_integer(v)) {
        return json_integer_value(v);
    }
    if (json_is_real(v)) {
        return (apr_int64_t)json_real_value(v);
    }
    if (json_is_string(v)) {
        return apr_atoi64(json_string_value(v));
    }
    return 0;
}

/* The token request's body holds the secret: it is built in its own pool and
 * wiped before that pool goes. */
static apr_status_t token_request(char **pvalue, apr_int64_t *plife, why_t *why,
                                  scep_ctx_t *ctx, scep_http_t *http, scep_intune_t *in,
                                  const token_t *t)
{
    apr_pool_t *p;
    scep_http_request_t req;
    scep_http_response_t resp;
    apr_array_header_t *h = headers(ctx->pool, uuid4(ctx->pool));
    json_t *j;
    const char *type, *value;
    char *body;
    apr_status_t rv;
    apr_time_t t0 = apr_time_now();

    why->text = NULL;
    why->status = 0;
    if ((rv = apr_pool_create(&p, ctx->pool)) != APR_SUCCESS) {
        why->text = "out of memory";
        return rv;
    }
    body = apr_pstrcat(p, "grant_type=client_credentials&client_id=",
                       form_escape(p, (const unsigned char *)in->conf.client_id,
                                   strlen(in->conf.client_id)),
                       "&scope=", form_escape(p, (const unsigned char *)t->scope, strlen(t->scope)),
                       "&client_secret=", form_escape(p, in->secret, in->secret_len), NULL);
    APR_ARRAY_PUSH(h, const char *) = "Content-Type: application/x-www-form-urlencoded";
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.method = "POST";
    req.url = in->conf.token_url;
    req.headers = h;
    req.body = body;
    req.body_len = strlen(body);
    req.conf = &in->conf.http;
    rv = scep_http_send(&resp, ctx, http, &req);
    OPENSSL_cleanse(body, req.body_len);
    apr_pool_destroy(p);

    j = rv == APR_SUCCESS && resp.status == 200 ? json_object_of(ctx->pool, resp.body, resp.len)
                                                : NULL;
    value = json_str(j, "access_token");
    type = json_str(j, "token_type");
    why->status = resp.status;
    if (rv != APR_SUCCESS) {
        why->text = apr_psprintf(ctx->pool, "%s (%s)", resp.error ? resp.error : "no answer",
                                 in->conf.token_url);
    }
    else if (resp.status != 200) {
        why->text = entra_refusal(ctx, &resp);
    }
    else if (!value || !*value || (type && strcasecmp(type, "Bearer"))) {
        why->text = "HTTP 200 without a Bearer access_token";
    }
    else {
        *pvalue = malloc_copy(value);
        *plife = expires_in(j);
        why->text = *pvalue ? NULL : "out of memory";
    }
    SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00651) "Entra ID token for %s: %s (HTTP %d, %"
             APR_TIME_T_FMT " ms)", t->scope, why->text ? why->text : "issued", resp.status,
             ms_since(t0));
    return why->text ? SCEP_EHTTP : APR_SUCCESS;
}

/* A copy (from ctx->pool) of the token for t's scope, asking Entra ID for a
 * new one when there is none or it is about to expire. *pgen tells
 * token_drop which one a service refused. */
static apr_status_t token_get(const char **ptoken, apr_uint32_t *pgen, why_t *why,
                              scep_ctx_t *ctx, scep_http_t *http, scep_intune_t *in, token_t *t)
{
    char *fresh = NULL;
    apr_int64_t life = 0;
    apr_interval_time_t keep;
    apr_status_t rv = APR_SUCCESS;
    int i;

    /* twice: before and after waiting for the thread already renewing it */
    for (i = 0; i < 2; i++) {
        apr_thread_mutex_lock(in->lock);
        if (t->value && apr_time_now() < t->renew_at) {
            *ptoken = apr_pstrdup(ctx->pool, t->value);
            *pgen = t->gen;
            apr_thread_mutex_unlock(in->lock);
            if (i) {
                apr_thread_mutex_unlock(t->renewing);
            }
            return APR_SUCCESS;
        }
        apr_thread_mutex_unlock(in->lock);
        if (!i) {
            apr_thread_mutex_lock(t->renewing);
        }
    }
    rv = token_request(&fresh, &life, why, ctx, http, in, t);
    if (rv == APR_SUCCESS) {
        /* renew before the margin; a short-lived token at half its life */
        keep = apr_time_from_sec(life) - in->conf.token_margin;
        if (keep < apr_time_from_sec(life) / 2) {
            keep = apr_time_from_sec(life) / 2;
        }
        apr_thread_mutex_lock(in->lock);
        wipe_free(t->value);
        t->value = fresh;
        t->renew_at = apr_time_now() + keep;
        *pgen = ++t->gen;
        *ptoken = apr_pstrdup(ctx->pool, fresh);
        apr_thread_mutex_unlock(in->lock);
    }
    apr_thread_mutex_unlock(t->renewing);
    return rv;
}

/* A service refused the token of generation gen: forget it, unless another
 * thread has renewed it since. */
static void token_drop(scep_intune_t *in, token_t *t, apr_uint32_t gen)
{
    apr_thread_mutex_lock(in->lock);
    if (t->gen == gen && t->value) {
        wipe_free(t->value);
        t->value = NULL;
    }
    apr_thread_mutex_unlock(in->lock);
}

/**** one authorized call ************************************************/

/* What one call to a service came to. */
typedef struct answer_t {
    int status;                     /* HTTP status of the last attempt; 0: none */
    json_t *json;                   /* 2xx: the body (owned by ctx->pool) */
    const char *fail;               /* no usable answer: why */
    int transport;                  /* 1: the service was not reached or failed (5xx,
                                       404): a discovered URL is doubtful */
} answer_t;

typedef struct call_t {
    const char *what;               /* for reasons: "Intune validateRequest" */
    const char *method, *url, *body;
    const char *activity;           /* client-request-id */
    int scep_action;                /* 1: add the ScepActions headers */
} call_t;

static apr_status_t send_once(scep_http_response_t *resp, scep_ctx_t *ctx, scep_http_t *http,
                              scep_intune_t *in, const call_t *c, const char *token)
{
    scep_http_request_t req;
    apr_array_header_t *h = headers(ctx->pool, c->activity);

    APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(ctx->pool, "Authorization: Bearer ", token,
                                                  NULL);
    if (c->scep_action) {
        APR_ARRAY_PUSH(h, const char *) = "Content-Type: application/json";
        APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(ctx->pool, "api-version: ",
                                                      in->conf.api_version, NULL);
        /* the library's own header name, not User-Agent */
        APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(ctx->pool, "UserAgent: ",
                                                      in->conf.caller_info, NULL);
    }
    memset(&req, 0, sizeof(req));
    memset(resp, 0, sizeof(*resp));
    req.method = c->method;
    req.url = c->url;
    req.headers = h;
    req.body = c->body;
    req.body_len = c->body ? strlen(c->body) : 0;
    req.conf = &in->conf.http;
    return scep_http_send(resp, ctx, http, &req);
}

/* The call with t's token; a 401 drops the token, and the call goes again
 * once with a new one. A 2xx answer must be a JSON object. */
static void call_authorized(answer_t *a, scep_ctx_t *ctx, scep_http_t *http,
                            scep_intune_t *in, token_t *t, const call_t *c)
{
    scep_http_response_t resp;
    const char *token = NULL;
    why_t why;
    apr_uint32_t gen = 0;
    int attempt;

    memset(a, 0, sizeof(*a));
    memset(&resp, 0, sizeof(resp));
    for (attempt = 0; attempt < 2; attempt++) {
        if (token_get(&token, &gen, &why, ctx, http, in, t) != APR_SUCCESS) {
            a->fail = apr_psprintf(ctx->pool, "%s token request failed: %s", t->name, why.text);
            a->status = why.status;
            return;
        }
        if (send_once(&resp, ctx, http, in, c, token) != APR_SUCCESS) {
            a->fail = apr_psprintf(ctx->pool, "%s failed: %s (%s)", c->what,
                                   resp.error ? resp.error : "no answer", c->url);
            a->transport = 1;
            return;
        }
        a->status = resp.status;
        if (resp.status != 401) {
            break;
        }
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00652) "%s: the %s token was refused "
                 "(HTTP 401)%s", c->what, t->name, attempt ? "" : ": renewing it");
        token_drop(in, t, gen);
    }
    if (resp.status == 401) {
        a->fail = apr_psprintf(ctx->pool, "%s: the %s access token was refused twice "
                               "(HTTP 401): check the app's API permissions and their admin "
                               "consent", c->what, t->name);
    }
    else if (resp.status < 200 || resp.status > 299) {
        a->fail = apr_psprintf(ctx->pool, "%s failed: HTTP %d", c->what, resp.status);
        a->transport = resp.status >= 500 || resp.status == 404;
    }
    else if (!(a->json = json_object_of(ctx->pool, resp.body, resp.len))) {
        a->fail = apr_psprintf(ctx->pool, "%s: HTTP %d without a JSON object", c->what,
                               resp.status);
    }
}

/**** discovery: where ScepRequestValidationFEService lives ***************/

/* Graph lists the endpoints of the Intune service principal as {"value":
 * [{"providerName", "uri"}, ...]} (AAD Graph's older list said
 * "serviceName"). */
static const char *find_service(json_t *list, apr_size_t *pcount)
{
    json_t *values = json_object_get(list, "value"), *e;
    apr_size_t i;
    const char *name, *uri;

    *pcount = json_is_array(values) ? json_array_size(values) : 0;
    json_array_foreach(values, i, e) {
        name = json_str(e, "providerName") ? json_str(e, "providerName")
                                           : json_str(e, "serviceName");
        uri = json_str(e, "uri");
        if (name && uri && !strcasecmp(name, SCEP_INTUNE_SERVICE_NAME)) {
            return uri;
        }
    }
    return NULL;
}

static apr_status_t discover(const char **purl, why_t *why, scep_ctx_t *ctx,
                             scep_http_t *http, scep_intune_t *in)
{
    answer_t a;
    call_t c = { "Intune service discovery", "GET", in->conf.discovery_url, NULL,
                 uuid4(ctx->pool), 0 };
    const char *uri;
    apr_size_t n = 0;
    char *copy;

    call_authorized(&a, ctx, http, in, &in->graph, &c);
    why->status = a.status;
    if (a.fail) {
        why->text = a.status == 403
            ? apr_pstrcat(ctx->pool, a.fail, " (grant the app Microsoft Graph's application "
                          "permission Application.Read.All, with admin consent)", NULL)
            : a.fail;
        return SCEP_EHTTP;
    }
    uri = find_service(a.json, &n);
    if (!uri || !is_https(uri)) {
        why->text = apr_psprintf(ctx->pool, "Intune service discovery: %s among the %"
                              APR_SIZE_T_FMT " endpoints of the Intune service principal",
                              uri ? "no https:// " SCEP_INTUNE_SERVICE_NAME
                                  : "no " SCEP_INTUNE_SERVICE_NAME, n);
        return SCEP_EHTTP;
    }
    if (!(copy = malloc_copy(uri))) {
        why->text = "out of memory";
        return APR_ENOMEM;
    }
    while (strlen(copy) > 8 && copy[strlen(copy) - 1] == '/') {
        copy[strlen(copy) - 1] = '\0';
    }
    apr_thread_mutex_lock(in->lock);
    free(in->service);
    in->service = copy;
    in->service_until = apr_time_now() + in->conf.discovery_ttl;
    *purl = apr_pstrdup(ctx->pool, copy);
    apr_thread_mutex_unlock(in->lock);
    SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00653) SCEP_INTUNE_SERVICE_NAME " is at %s",
             *purl);
    return APR_SUCCESS;
}

/* The service's base URL: the configured one, the one discovered less than
 * discovery_ttl ago, or a new discovery (one thread at a time). */
static apr_status_t service_url(const char **purl, why_t *why, scep_ctx_t *ctx,
                                scep_http_t *http, scep_intune_t *in)
{
    apr_status_t rv = APR_SUCCESS;
    int i;

    if (in->conf.service_url) {
        *purl = in->conf.service_url;
        return APR_SUCCESS;
    }
    for (i = 0; i < 2; i++) {
        apr_thread_mutex_lock(in->lock);
        if (in->service && apr_time_now() < in->service_until) {
            *purl = apr_pstrdup(ctx->pool, in->service);
            apr_thread_mutex_unlock(in->lock);
            if (i) {
                apr_thread_mutex_unlock(in->discovering);
            }
            return APR_SUCCESS;
        }
        apr_thread_mutex_unlock(in->lock);
        if (!i) {
            apr_thread_mutex_lock(in->discovering);
        }
    }
    rv = discover(purl, why, ctx, http, in);
    apr_thread_mutex_unlock(in->discovering);
    return rv;
}

/* The discovered URL failed: ask Graph again next time, as the library
 * does (the service may have moved). */
static void service_forget(scep_intune_t *in, const char *url)
{
    apr_thread_mutex_lock(in->lock);
    if (in->service && !strcmp(in->service, url)) {
        free(in->service);
        in->service = NULL;
    }
    apr_thread_mutex_unlock(in->lock);
}

/**** ScepActions ********************************************************/

/* What Intune answered to one ScepActions call. */
typedef struct outcome_t {
    answer_t a;
    const char *code;               /* NULL when a.fail */
    const char *description;        /* errorDescription, printable, or "" */
    const char *activity;
    apr_time_t t0;
} outcome_t;

static void scep_action(outcome_t *o, scep_ctx_t *ctx, scep_http_t *http, scep_intune_t *in,
                        const char *action, json_t *body)
{
    call_t c = { NULL, "POST", NULL, json_text(ctx->pool, body), uuid4(ctx->pool), 1 };
    const char *base = NULL;
    why_t why = { NULL, 0 };

    memset(o, 0, sizeof(*o));
    o->t0 = apr_time_now();
    o->activity = c.activity;
    c.what = apr_pstrcat(ctx->pool, "Intune ", action, NULL);
    if (!c.body) {
        o->a.fail = apr_pstrcat(ctx->pool, c.what, ": no JSON body could be made "
                                "(is every field UTF-8?)", NULL);
        return;
    }
    if (service_url(&base, &why, ctx, http, in) != APR_SUCCESS) {
        o->a.fail = why.text;
        o->a.status = why.status;
        return;
    }
    c.url = apr_pstrcat(ctx->pool, base, "/ScepActions/", action, NULL);
    call_authorized(&o->a, ctx, http, in, &in->intune, &c);
    if (o->a.fail) {
        if (o->a.transport && !in->conf.service_url) {
            service_forget(in, base);
        }
        return;
    }
    if (!(o->code = json_str(o->a.json, "code")) || !*o->code) {
        o->a.fail = apr_psprintf(ctx->pool, "%s: HTTP %d without a code", c.what, o->a.status);
        return;
    }
    o->code = printable(ctx->pool, o->code, 64);
    o->description = printable(ctx->pool, json_str(o->a.json, "errorDescription"),
                               MAX_DESCRIPTION);
}

static json_t *csr_b64(apr_pool_t *p, const unsigned char *der, apr_size_t len)
{
    return json_string(scep_b64_encode(p, der, len));
}

apr_status_t scep_intune_validate(scep_verdict_t *out, scep_ctx_t *ctx, scep_http_t *http,
                                  scep_intune_t *in, const scep_validation_t *v)
{
    outcome_t o;
    const char *tid;

    if (!v->transaction_id || !*v->transaction_id || !v->csr_der || !v->csr_len) {
        return APR_EINVAL;
    }
    tid = scep_log_safe(ctx->pool, v->transaction_id, strlen(v->transaction_id));
    scep_action(&o, ctx, http, in, "validateRequest",
                json_pack("{s:{s:s,s:o,s:s}}", "request", "transactionId", v->transaction_id,
                          "certificateRequest", csr_b64(ctx->pool, v->csr_der, v->csr_len),
                          "callerInfo", in->conf.caller_info));
    memset(out, 0, sizeof(*out));
    if (o.a.fail) {
        out->kind = SCEP_VERDICT_UNAVAILABLE;
        out->reason = o.a.fail;
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00654) "Intune validateRequest, transaction "
                 "%s: no answer: %s (HTTP %d, %" APR_TIME_T_FMT " ms, client-request-id %s)",
                 tid, o.a.fail, o.a.status, ms_since(o.t0), o.activity);
    }
    else if (!strcmp(o.code, "Success")) {
        out->kind = SCEP_VERDICT_ALLOW;
        out->reason = "Intune: Success";
        SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00655) "Intune validateRequest, transaction "
                 "%s: Success (HTTP %d, %" APR_TIME_T_FMT " ms, client-request-id %s)",
                 tid, o.a.status, ms_since(o.t0), o.activity);
    }
    else {
        out->kind = SCEP_VERDICT_DENY;
        out->reason = apr_psprintf(ctx->pool, "Intune: %s%s%s", o.code,
                                   *o.description ? ": " : "", o.description);
        SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00656) "Intune validateRequest, "
                 "transaction %s: refused: %s (HTTP %d, %" APR_TIME_T_FMT " ms, "
                 "client-request-id %s)", tid, out->reason, o.a.status, ms_since(o.t0),
                 o.activity);
    }
    return APR_SUCCESS;
}

/**** notifications ******************************************************/

static int filled(const char *s)
{
    return s && *s;
}

static int event_complete(const scep_intune_event_t *ev)
{
    if (!filled(ev->transaction_id) || !ev->csr_der || !ev->csr_len) {
        return 0;
    }
    if (ev->kind == SCEP_INTUNE_EVENT_SUCCESS) {
        return filled(ev->thumbprint) && filled(ev->serial) && filled(ev->expires_utc)
               && filled(ev->issuing_ca);
    }
    return ev->kind == SCEP_INTUNE_EVENT_FAILURE && filled(ev->error_description);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The notification's body, as the library builds it; a NULL optional field
 * goes as JSON null. */
static json_t *notification(apr_pool_t *p, scep_intune_t *in, const scep_intune_event_t *ev)
{
    if (ev->kind == SCEP_INTUNE_EVENT_SUCCESS) {
        return json_pack("{s:{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:o,s:o}}", "notification",
                         "transactionId", ev->transaction_id,
                         "certificateRequest", csr_b64(p, ev->csr_der, ev->csr_len),
                         "certificateThumbprint", ev->thumbprint,
                         "certificateSerialNumber", ev->serial,
                         "certificateExpirationDateUtc", ev->expires_utc,
                         "issuingCertificateAuthority", ev->issuing_ca,
                         "callerInfo", in->conf.caller_info,
                         "caConfiguration", str_or_null(ev->ca_configuration),
                         "certificateAuthority", str_or_null(ev->certificate_authority));
    }
    return json_pack("{s:{s:s,s:o,s:I,s:s,s:s}}", "notification",
                     "transactionId", ev->transaction_id,
                     "certificateRequest", csr_b64(p, ev->csr_der, ev->csr_len),
                     "hResult", (json_int_t)ev->hresult,
                     "errorDescription", scep_bounded(p, ev->error_description, MAX_DESCRIPTION),
                     "callerInfo", in->conf.caller_info);
}

static apr_status_t notify_kind(const char **preason, scep_ctx_t *ctx, scep_http_t *http,
                                scep_intune_t *in, const scep_intune_event_t *ev,
                                scep_intune_event_kind_t kind)
{
    const char *action = kind == SCEP_INTUNE_EVENT_SUCCESS ? "successNotification"
                                                          : "failureNotification";
    const char *tid, *reason;
    outcome_t o;
    apr_status_t rv;

    if (ev->kind != kind || !event_complete(ev)) {
        if (preason) {
            *preason = apr_pstrcat(ctx->pool, "Intune ", action, ": incomplete event", NULL);
        }
        return APR_EINVAL;
    }
    tid = scep_log_safe(ctx->pool, ev->transaction_id, strlen(ev->transaction_id));
    scep_action(&o, ctx, http, in, action, notification(ctx->pool, in, ev));
    if (o.a.fail) {
        rv = SCEP_EHTTP;
        reason = o.a.fail;
    }
    else if (strcmp(o.code, "Success")) {
        rv = SCEP_EINTUNE_REFUSED;
        reason = apr_psprintf(ctx->pool, "Intune %s: %s%s%s", action, o.code,
                              *o.description ? ": " : "", o.description);
    }
    else {
        rv = APR_SUCCESS;
        reason = apr_pstrcat(ctx->pool, "Intune ", action, ": Success", NULL);
    }
    if (rv == APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00657) "Intune %s, transaction %s: "
                 "acknowledged (HTTP %d, %" APR_TIME_T_FMT " ms, client-request-id %s)",
                 action, tid, o.a.status, ms_since(o.t0), o.activity);
    }
    else {
        SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00658) "Intune %s, transaction %s: not "
                 "acknowledged, to be sent again: %s (HTTP %d, %" APR_TIME_T_FMT " ms, "
                 "client-request-id %s)", action, tid, reason, o.a.status, ms_since(o.t0),
                 o.activity);
    }
    if (preason) {
        *preason = reason;
    }
    return rv;
}

apr_status_t scep_intune_notify_success(const char **preason, scep_ctx_t *ctx,
                                        scep_http_t *http, scep_intune_t *in,
                                        const scep_intune_event_t *ev)
{
    return notify_kind(preason, ctx, http, in, ev, SCEP_INTUNE_EVENT_SUCCESS);
}

apr_status_t scep_intune_notify_failure(const char **preason, scep_ctx_t *ctx,
                                        scep_http_t *http, scep_intune_t *in,
                                        const scep_intune_event_t *ev)
{
    return notify_kind(preason, ctx, http, in, ev, SCEP_INTUNE_EVENT_FAILURE);
}

apr_status_t scep_intune_notify(const char **preason, scep_ctx_t *ctx, scep_http_t *http,
                                scep_intune_t *in, const scep_intune_event_t *ev)
{
    return notify_kind(preason, ctx, http, in, ev, ev->kind);
}

/**** events: from a certificate, to and from JSON ***********************/

apr_status_t scep_intune_event_issued(scep_intune_event_t **pev, apr_pool_t *p,
                                      const char *transaction_id,
                                      const unsigned char *csr_der, apr_size_t csr_len,
                                      const unsigned char *cert_der, apr_size_t cert_len)
{
    const unsigned char *d = cert_der;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    X509 *x;
    struct tm tm;
    scep_intune_event_t *ev;
    apr_status_t rv = APR_EINVAL;

    ERR_clear_error();
    if (!(x = d2i_X509(NULL, &d, (long)cert_len))) {
        goto leave;
    }
    memset(&tm, 0, sizeof(tm));
    if (!EVP_Digest(cert_der, cert_len, md, &mdlen, EVP_sha1(), NULL)
        || !ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
        goto leave;
    }
    ev = apr_pcalloc(p, sizeof(*ev));
    ev->kind = SCEP_INTUNE_EVENT_SUCCESS;
    ev->transaction_id = transaction_id;
    ev->csr_der = csr_der;
    ev->csr_len = csr_len;
    ev->thumbprint = scep_hex(p, md, mdlen);
    ev->serial = scep_serial_hex(p, X509_get0_serialNumber(x));
    ev->expires_utc = apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.000Z",
                                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                   tm.tm_hour, tm.tm_min, tm.tm_sec);
    ev->issuing_ca = scep_name_str(p, X509_get_issuer_name(x));
    *pev = ev;
    rv = APR_SUCCESS;
leave:
    X509_free(x);
    ERR_clear_error();
    return rv;
}

apr_status_t scep_intune_event_to_json(const char **pjson, apr_pool_t *p,
                                       const scep_intune_event_t *ev)
{
    json_t *j;

    if (!event_complete(ev)) {
        return APR_EINVAL;
    }
    j = json_pack("{s:i,s:s,s:s,s:s}", "v", 1,
                  "kind", ev->kind == SCEP_INTUNE_EVENT_SUCCESS ? "success" : "failure",
                  "transactionId", ev->transaction_id,
                  "certificateRequest", scep_b64_encode(p, ev->csr_der, ev->csr_len));
    if (j && ev->kind == SCEP_INTUNE_EVENT_SUCCESS) {
        json_object_set_new(j, "certificateThumbprint", json_string(ev->thumbprint));
        json_object_set_new(j, "certificateSerialNumber", json_string(ev->serial));
        json_object_set_new(j, "certificateExpirationDateUtc", json_string(ev->expires_utc));
        json_object_set_new(j, "issuingCertificateAuthority", json_string(ev->issuing_ca));
        json_object_set_new(j, "caConfiguration", str_or_null(ev->ca_configuration));
        json_object_set_new(j, "certificateAuthority", str_or_null(ev->certificate_authority));
    }
    else if (j) {
        json_object_set_new(j, "hResult", json_integer((json_int_t)ev->hresult));
        json_object_set_new(j, "errorDescription", json_string(ev->error_description));
    }
    return (*pjson = json_text(p, j)) != NULL ? APR_SUCCESS : APR_EINVAL;
}

/* A member that must be a string (optional: may be absent or null). */
static int take_str(const char **pout, json_t *j, const char *key, int optional)
{
    json_t *v = json_object_get(j, key);

    if (optional && (!v || json_is_null(v))) {
        *pout = NULL;
        return 1;
    }
    if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v))) {
        return 0;
    }
    *pout = json_string_value(v);
    return 1;
}

static const char *event_fields(scep_intune_event_t *ev, json_t *j)
{
    if (ev->kind == SCEP_INTUNE_EVENT_SUCCESS) {
        if (!take_str(&ev->thumbprint, j, "certificateThumbprint", 0)
            || !take_str(&ev->serial, j, "certificateSerialNumber", 0)
            || !take_str(&ev->expires_utc, j, "certificateExpirationDateUtc", 0)
            || !take_str(&ev->issuing_ca, j, "issuingCertificateAuthority", 0)
            || !take_str(&ev->ca_configuration, j, "caConfiguration", 1)
            || !take_str(&ev->certificate_authority, j, "certificateAuthority", 1)) {
            return "a success event's field is missing or not a string";
        }
        return NULL;
    }
    if (!json_is_integer(json_object_get(j, "hResult"))
        || !take_str(&ev->error_description, j, "errorDescription", 0)) {
        return "a failure event needs hResult (integer) and errorDescription (string)";
    }
    ev->hresult = (apr_int64_t)json_integer_value(json_object_get(j, "hResult"));
    return NULL;
}

apr_status_t scep_intune_event_from_json(scep_intune_event_t **pev, const char **perr,
                                         apr_pool_t *p, const char *json, apr_size_t len)
{
    json_t *j = json_object_of(p, json, len);
    scep_intune_event_t *ev = apr_pcalloc(p, sizeof(*ev));
    const char *kind = json_str(j, "kind"), *b64 = NULL, *err = NULL;
    unsigned char *der = NULL;

    if (!j) {
        err = "not a JSON object";
    }
    else if (!json_is_integer(json_object_get(j, "v"))
             || json_integer_value(json_object_get(j, "v")) != 1) {
        err = "not an event of version 1";
    }
    else if (!kind || (strcmp(kind, "success") && strcmp(kind, "failure"))) {
        err = "kind is neither \"success\" nor \"failure\"";
    }
    else if (!take_str(&ev->transaction_id, j, "transactionId", 0)
             || !take_str(&b64, j, "certificateRequest", 0)
             || scep_b64_decode(&der, &ev->csr_len, p, b64, strlen(b64)) != APR_SUCCESS) {
        err = "transactionId or certificateRequest (base64) is missing";
    }
    else {
        ev->csr_der = der;
        ev->kind = strcmp(kind, "success") ? SCEP_INTUNE_EVENT_FAILURE
                                           : SCEP_INTUNE_EVENT_SUCCESS;
        err = event_fields(ev, j);
    }
    if (!err && !event_complete(ev)) {
        err = "a required field is empty";
    }
    if (perr) {
        *perr = err;
    }
    if (err) {
        return APR_EINVAL;
    }
    *pev = ev;
    return APR_SUCCESS;
}
