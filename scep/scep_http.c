/* mod_scep core: outbound HTTPS with libcurl (webhooks, Intune, notifications). */
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_uri.h>

#include "scep_http.h"

/* Idle easy handles a client keeps, each with its open connections. */
#define IDLE_MAX 8

/* libcurl does not support sharing connections (CURL_LOCK_DATA_CONNECT)
 * between concurrent threads: its connection cache races (curl issues
 * #4544, #13347, #13840). Connections are reused instead by handing whole
 * easy handles from call to call, so that a handle and its connections are
 * in one thread's hands at a time. DNS and TLS sessions go through the
 * share, which the locks make thread-safe. */
struct scep_http_t {
    CURLSH *share;
    apr_thread_mutex_t *locks[CURL_LOCK_DATA_LAST];  /* one per kind of data */
    apr_thread_mutex_t *idle_lock;
    CURL *idle[IDLE_MAX];
    int nidle;
};

/* The answer's body as it arrives, up to max bytes. */
typedef struct {
    apr_pool_t *pool;
    char *buf;
    apr_size_t len, size, max;
    int too_large;
} sink_t;

void scep_http_conf_init(scep_http_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->connect_timeout = apr_time_from_sec(5);
    conf->timeout = apr_time_from_sec(10);
    conf->max_response = 64 * 1024;
}

static apr_status_t global_cleanup(void *data)
{
    (void)data;
    curl_global_cleanup();
    return APR_SUCCESS;
}

apr_status_t scep_http_global_init(apr_pool_t *p)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(p, NULL, global_cleanup, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *baton)
{
    scep_http_t *http = baton;

    (void)h; (void)access;
    if (data >= 0 && data < CURL_LOCK_DATA_LAST) {
        apr_thread_mutex_lock(http->locks[data]);
    }
}

static void share_unlock(CURL *h, curl_lock_data data, void *baton)
{
    scep_http_t *http = baton;

    (void)h;
    if (data >= 0 && data < CURL_LOCK_DATA_LAST) {
        apr_thread_mutex_unlock(http->locks[data]);
    }
}

/* Runs before the mutexes' own cleanups: they were registered first. */
static apr_status_t http_cleanup(void *data)
{
    scep_http_t *http = data;

    while (http->nidle > 0) {
        curl_easy_cleanup(http->idle[--http->nidle]);
    }
    if (http->share) {
        curl_share_cleanup(http->share);
        http->share = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t scep_http_make(scep_http_t **phttp, apr_pool_t *p)
{
    scep_http_t *http = apr_pcalloc(p, sizeof(*http));
    apr_status_t rv;
    int i;

    for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        rv = apr_thread_mutex_create(&http->locks[i], APR_THREAD_MUTEX_DEFAULT, p);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    if ((rv = apr_thread_mutex_create(&http->idle_lock, APR_THREAD_MUTEX_DEFAULT, p))
        != APR_SUCCESS) {
        return rv;
    }
    if (!(http->share = curl_share_init())) {
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, http, http_cleanup, apr_pool_cleanup_null);
    if (curl_share_setopt(http->share, CURLSHOPT_USERDATA, http) != CURLSHE_OK
        || curl_share_setopt(http->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK
        || curl_share_setopt(http->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK
        || curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK
        || curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)
           != CURLSHE_OK) {
        return APR_EGENERAL;
    }
    *phttp = http;
    return APR_SUCCESS;
}

/* An idle handle (with its connections), or a new one; NULL if none. */
static CURL *handle_take(scep_http_t *http)
{
    CURL *h = NULL;

    apr_thread_mutex_lock(http->idle_lock);
    if (http->nidle > 0) {
        h = http->idle[--http->nidle];
    }
    apr_thread_mutex_unlock(http->idle_lock);
    return h ? h : curl_easy_init();
}

/* Options are reset (they point into the caller's frame); connections stay. */
static void handle_give_back(scep_http_t *http, CURL *h)
{
    curl_easy_reset(h);
    apr_thread_mutex_lock(http->idle_lock);
    if (http->nidle < IDLE_MAX) {
        http->idle[http->nidle++] = h;
        h = NULL;
    }
    apr_thread_mutex_unlock(http->idle_lock);
    if (h) {
        curl_easy_cleanup(h);
    }
}

static size_t sink_write(char *data, size_t size, size_t n, void *baton)
{
    sink_t *s = baton;
    apr_size_t len = size * n;

    if (len > s->max - s->len) {
        s->too_large = 1;
        return 0;                       /* curl stops with CURLE_WRITE_ERROR */
    }
    if (s->len + len + 1 > s->size) {
        apr_size_t size2 = s->size ? s->size : 4096;
        char *buf;

        while (size2 < s->len + len + 1) {
            size2 *= 2;
        }
        buf = apr_palloc(s->pool, size2);
        if (s->len) {
            memcpy(buf, s->buf, s->len);
        }
        s->buf = buf;
        s->size = size2;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return len;
}

/* Milliseconds for curl, rounded up: 0 would mean no limit at all. */
static long to_ms(apr_interval_time_t t)
{
    return t <= 0 ? 1 : (long)((t + 999) / 1000);
}

static struct curl_slist *header_list(const scep_http_request_t *req, int *pok)
{
    struct curl_slist *list = NULL, *next;
    int i;

    /* no 100-continue round trip (servers that ignore it cost a second) */
    *pok = (list = curl_slist_append(NULL, "Expect:")) != NULL;
    for (i = 0; *pok && req->headers && i < req->headers->nelts; i++) {
        next = curl_slist_append(list, APR_ARRAY_IDX(req->headers, i, const char *));
        if (next) {
            list = next;
        }
        else {
            *pok = 0;
        }
    }
    return list;
}

#define SETOPT(opt, val) if (e == CURLE_OK) e = curl_easy_setopt(h, opt, val)

static CURLcode set_tls(CURL *h, const scep_http_conf_t *c)
{
    CURLcode e = CURLE_OK;

    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca_file) {
        /* only these CAs: not the system's directory as well */
        SETOPT(CURLOPT_CAINFO, c->ca_file);
        SETOPT(CURLOPT_CAPATH, (const char *)NULL);
    }
    if (c->client_cert) {
        SETOPT(CURLOPT_SSLCERT, c->client_cert);
        SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (c->client_key) {
        SETOPT(CURLOPT_SSLKEY, c->client_key);
        SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
    }
    return e;
}

static CURLcode set_options(CURL *h, scep_http_t *http, const scep_http_request_t *req,
                            sink_t *sink, char *errbuf, struct curl_slist *headers)
{
    const scep_http_conf_t *c = req->conf;
    int plain = strncasecmp(req->url, "http://", 7) == 0;
    CURLcode e = CURLE_OK;

    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_SHARE, http->share);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
#else
    SETOPT(CURLOPT_PROTOCOLS, plain ? (long)CURLPROTO_HTTP : (long)CURLPROTO_HTTPS);
#endif
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    /* "": no proxy, whatever the environment's *_proxy say */
    SETOPT(CURLOPT_PROXY, c->proxy ? c->proxy : "");
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, to_ms(c->connect_timeout));
    SETOPT(CURLOPT_TIMEOUT_MS, to_ms(c->timeout));
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
    SETOPT(CURLOPT_WRITEFUNCTION, sink_write);
    SETOPT(CURLOPT_WRITEDATA, sink);
    SETOPT(CURLOPT_HTTPHEADER, headers);
    if (strcmp(req->method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
    else {
        if (strcmp(req->method, "POST") != 0) {
            SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
        }
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }
    if (e == CURLE_OK) {
        e = set_tls(h, c);
    }
    return e;
}

#undef SETOPT

/* scheme://host:port of a URL for the log: no user, path or query, which
 * may carry secrets. */
static const char *log_origin(apr_pool_t *p, const char *url)
{
    apr_uri_t uri;

    if (apr_uri_parse(p, url, &uri) != APR_SUCCESS || !uri.hostname) {
        return "(unparsable URL)";
    }
    return apr_psprintf(p, "%s://%s:%u", uri.scheme ? uri.scheme : "?", uri.hostname,
                        uri.port ? uri.port : apr_uri_port_of_scheme(uri.scheme));
}

/* What the transfer left in resp; SCEP_EHTTP unless an answer came back. */
static apr_status_t read_result(scep_http_response_t *resp, apr_pool_t *p, CURL *h,
                                CURLcode code, const sink_t *sink, const char *errbuf)
{
    long status = 0;
    char *ctype = NULL;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    if (code == CURLE_OK && curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK
        && ctype) {
        resp->content_type = apr_pstrdup(p, ctype);
    }
    resp->body = sink->len ? sink->buf : "";
    resp->len = sink->len;
    if (sink->len) {
        sink->buf[sink->len] = '\0';
    }
    if (code == CURLE_OK) {
        return APR_SUCCESS;
    }
    if (sink->too_large || code == CURLE_FILESIZE_EXCEEDED) {
        resp->error = apr_psprintf(p, "answer larger than %" APR_SIZE_T_FMT " bytes",
                                   sink->max);
    }
    else {
        resp->error = apr_pstrdup(p, *errbuf ? errbuf : curl_easy_strerror(code));
    }
    return SCEP_EHTTP;
}

apr_status_t scep_http_send(scep_http_response_t *resp, scep_ctx_t *ctx, scep_http_t *http,
                            const scep_http_request_t *req)
{
    apr_pool_t *p = ctx->pool;
    char errbuf[CURL_ERROR_SIZE] = "";
    sink_t sink = { p, NULL, 0, 0, req->conf->max_response, 0 };
    struct curl_slist *headers = NULL;
    apr_time_t start = apr_time_now();
    apr_status_t rv = SCEP_EHTTP;
    CURLcode code = CURLE_FAILED_INIT;
    CURL *h = handle_take(http);
    int ok = 0;

    memset(resp, 0, sizeof(*resp));
    headers = header_list(req, &ok);
    if (!h || !ok) {
        resp->error = "out of memory for the request";
        goto leave;
    }
    code = set_options(h, http, req, &sink, errbuf, headers);
    if (code == CURLE_OK) {
        code = curl_easy_perform(h);
    }
    rv = read_result(resp, p, h, code, &sink, errbuf);
leave:
    if (h) {
        handle_give_back(http, h);
    }
    curl_slist_free_all(headers);
    if (rv == APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00600)
                 "%s %s: HTTP %d, %" APR_SIZE_T_FMT " bytes in %" APR_TIME_T_FMT " ms",
                 req->method, log_origin(p, req->url), resp->status, resp->len,
                 apr_time_as_msec(apr_time_now() - start));
    }
    else {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, rv, SCEPLOGNO(00601)
                 "%s %s: no answer after %" APR_TIME_T_FMT " ms: %s",
                 req->method, log_origin(p, req->url),
                 apr_time_as_msec(apr_time_now() - start), resp->error);
    }
    return rv;
}
