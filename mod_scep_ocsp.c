/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: SetHandler scep-ocsp, an OCSP responder (RFC 6960) for the
 * virtual host's CA, by POST (application/ocsp-request) and by GET with the
 * request in the URL (RFC 5019), answering from the enrollment records
 * (the responder itself is scep/scep_ocsp.c). Its start-up check, and the
 * HTTP caching headers that go with each response.
 */

#include <apr_date.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>
#include <openssl/ocsp.h>

#include "mod_scep_private.h"
#include "scep/scep_ocsp.h"
#include "scep/scep_util.h"

#define OCSP_DEFAULT_VALIDITY 3600
#define OCSP_CACHE_LOCK "scep-ocsp-cache"
#define OCSP_CACHE_MAX_ENTRY 16384     /* bytes of one kept response */

/* The shared cache: a socache provider's instance, and the lock it needs
 * when it is not safe across processes (shmcb is not). */
typedef struct scep_ocsp_cache_t {
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    apr_global_mutex_t *mutex;
    server_rec *s;
} scep_ocsp_cache_t;

int scep_ocsp_pre_config(apr_pool_t *pconf)
{
    return ap_mutex_register(pconf, OCSP_CACHE_LOCK, NULL, APR_LOCK_DEFAULT, 0) == APR_SUCCESS
           ? OK : !OK;
}

static apr_status_t cache_destroy(void *data)
{
    scep_ocsp_cache_t *c = data;
    c->provider->destroy(c->instance, c->s);
    return APR_SUCCESS;
}

/* SCEPOCSPCache: none, or PROVIDER[:ARGS]; by default shmcb if loaded. */
static int make_cache(scep_ocsp_cache_t **pcache, apr_pool_t *pconf, apr_pool_t *ptemp,
                      server_rec *s, const char *spec)
{
    struct ap_socache_hints hints = { 64, 2048, 3600 * APR_USEC_PER_SEC };
    const char *name = spec ? spec : "shmcb", *args = NULL, *colon, *err;
    scep_ocsp_cache_t *c = apr_pcalloc(pconf, sizeof(*c));

    *pcache = NULL;
    if (!strcasecmp(name, "none")) {
        return OK;
    }
    if ((colon = strchr(name, ':')) != NULL) {
        args = colon + 1;
        name = apr_pstrmemdup(ptemp, name, (apr_size_t)(colon - name));
    }
    c->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                     AP_SOCACHE_PROVIDER_VERSION);
    if (!c->provider) {
        if (spec) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00364)
                         "SCEPOCSPCache %s: no socache provider %s (LoadModule "
                         "socache_%s_module?)", spec, name, name);
            return !OK;
        }
        return OK;      /* no cache: every OCSP response is signed */
    }
    if ((err = c->provider->create(&c->instance, args, ptemp, pconf)) != NULL
        || c->provider->init(c->instance, "scep-ocsp", &hints, s, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00365)
                     "SCEPOCSPCache %s: %s", spec ? spec : name, err ? err : "cannot start it");
        return !OK;
    }
    c->s = s;
    apr_pool_cleanup_register(pconf, c, cache_destroy, apr_pool_cleanup_null);
    if ((c->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE)
        && ap_global_mutex_create(&c->mutex, NULL, OCSP_CACHE_LOCK, NULL, s, pconf, 0)
           != APR_SUCCESS) {
        return !OK;     /* ap_global_mutex_create logged why */
    }
    *pcache = c;
    return OK;
}

int scep_ocsp_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    scep_srv_conf_t *main_conf = ap_get_module_config(s->module_config, &scep_module);
    scep_ocsp_cache_t *cache;
    server_rec *sp;

    if (make_cache(&cache, pconf, ptemp, s, main_conf->ocsp_cache_spec) != OK) {
        return !OK;
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        c->ocsp_cache = cache;
    }
    return OK;
}

void scep_ocsp_child_init(apr_pool_t *p, server_rec *s)
{
    scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);
    apr_status_t rv;

    if (c->ocsp_cache && c->ocsp_cache->mutex
        && (rv = apr_global_mutex_child_init(&c->ocsp_cache->mutex,
                                             apr_global_mutex_lockfile(c->ocsp_cache->mutex),
                                             p)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, SCEPLOGNO(00366)
                     "cannot re-open the OCSP cache's lock (Mutex " OCSP_CACHE_LOCK "): "
                     "responses are signed without it");
        c->ocsp_cache = NULL;
    }
}

/* A kept response: next_update and this_update (8 bytes each), then DER. */
static int cache_get(void *baton, const char *key, scep_ocsp_cached_t *out, apr_pool_t *p)
{
    scep_ocsp_cache_t *c = baton;
    unsigned char *buf = apr_palloc(p, OCSP_CACHE_MAX_ENTRY);
    unsigned int len = OCSP_CACHE_MAX_ENTRY;
    apr_status_t rv;

    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return 0;
    }
    rv = c->provider->retrieve(c->instance, c->s, (const unsigned char *)key,
                               (unsigned int)strlen(key), buf, &len, p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
    if (rv != APR_SUCCESS || len <= 16) {
        return 0;
    }
    memcpy(&out->next_update, buf, 8);
    memcpy(&out->this_update, buf + 8, 8);
    out->der = buf + 16;
    out->len = len - 16;
    return 1;
}

static void cache_put(void *baton, const char *key, const scep_ocsp_cached_t *in, apr_pool_t *p)
{
    scep_ocsp_cache_t *c = baton;
    unsigned char *buf;

    if (in->len + 16 > OCSP_CACHE_MAX_ENTRY) {
        return;
    }
    buf = apr_palloc(p, in->len + 16);
    memcpy(buf, &in->next_update, 8);
    memcpy(buf + 8, &in->this_update, 8);
    memcpy(buf + 16, in->der, in->len);
    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return;
    }
    c->provider->store(c->instance, c->s, (const unsigned char *)key, (unsigned int)strlen(key),
                       apr_time_from_sec(in->next_update), buf,
                       (unsigned int)(in->len + 16), p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
}

int scep_ocsp_check(apr_pool_t *ptemp, server_rec *s)
{
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        const char *why, *warning;

        if (!c->ocsp_cert || !c->ca) {
            continue;
        }
        why = scep_ocsp_signer_check(&warning, ptemp, c->ca, c->ocsp_cert);
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00360)
                         "SCEPOCSPSigner (%s, in %s): %s", c->ocsp_signer_where,
                         scep_vhost_name(ptemp, sp), why);
            return !OK;
        }
        if (warning) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp, SCEPLOGNO(00361)
                         "SCEPOCSPSigner (%s, in %s): %s", c->ocsp_signer_where,
                         scep_vhost_name(ptemp, sp), warning);
        }
    }
    return OK;
}

/* The request of a GET: the rest of the URL, URL-encoded base64. */
static int get_request(request_rec *r, const char *base, unsigned char **pder, apr_size_t *plen)
{
    const char *below = scep_path_below(r, base);
    char *b64;

    if (!below) {
        return HTTP_NOT_FOUND;
    }
    b64 = apr_pstrdup(r->pool, below);
    /* with AllowEncodedSlashes NoDecode (which a '/' of base64 needs, see
     * README) a %2F stays as it came */
    {
        char *in = b64, *out = b64;
        for (; *in; in++) {
            if (in[0] == '%' && in[1] == '2' && (in[2] == 'F' || in[2] == 'f')) {
                *out++ = '/';
                in += 2;
            }
            else {
                *out++ = *in;
            }
        }
        *out = '\0';
    }
    /* the path is unescaped already (ap_unescape_url): %2B, %2F and %3D
     * are '+', '/' and '='; bound it before decoding */
    if (!*b64 || strlen(b64) > (SCEP_OCSP_MAX_REQUEST * 4) / 3 + 4
        || scep_b64_decode(pder, plen, r->pool, b64, strlen(b64)) != APR_SUCCESS) {
        *pder = NULL;
        *plen = 0;
    }
    return OK;
}

/* RFC 5019 section 6: a response without a nonce may be cached until its
 * nextUpdate, and is named by its hash. */
static void caching_headers(request_rec *r, const scep_ocsp_answer_t *ans,
                            const unsigned char *der, apr_size_t len)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    char date[APR_RFC822_DATE_LEN];

    if (!ans->cacheable || r->method_number != M_GET || ans->next_update <= now) {
        apr_table_setn(r->headers_out, "Cache-Control", "no-cache, no-store");
        return;
    }
    apr_rfc822_date(date, apr_time_from_sec(ans->this_update));
    apr_table_set(r->headers_out, "Last-Modified", date);
    apr_rfc822_date(date, apr_time_from_sec(ans->next_update));
    apr_table_set(r->headers_out, "Expires", date);
    apr_table_set(r->headers_out, "Cache-Control",
                  apr_psprintf(r->pool, "max-age=%" APR_INT64_T_FMT
                               ", public, no-transform, must-revalidate",
                               ans->next_update - now));
    apr_table_set(r->headers_out, "ETag", apr_pstrcat(r->pool, "\"",
                  apr_pstrndup(r->pool, scep_sha256_hex(r->pool, der, len), 40), "\"", NULL));
}

int scep_ocsp_handler(request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    const char *base = scep_location_path(r, "/");
    const char *type = apr_table_get(r->headers_in, "Content-Type");
    unsigned char *req = NULL;
    const unsigned char *der;
    apr_size_t req_len = 0, len;
    scep_ocsp_answer_t ans;
    scep_ocsp_t o;
    scep_ctx_t ctx;
    int rc;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_POST, -1);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_discard_request_body(r);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!sconf->ca) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00362)
                      "SetHandler scep-ocsp in a server without SCEPCACertificateFile");
        ap_discard_request_body(r);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (r->method_number == M_POST) {
        if (!type || strncasecmp(type, "application/ocsp-request", 24)) {
            ap_discard_request_body(r);
            return HTTP_UNSUPPORTED_MEDIA_TYPE;
        }
        if ((rc = scep_read_body(r, SCEP_OCSP_MAX_REQUEST, &req, &req_len)) != OK) {
            return rc;
        }
    }
    else if ((rc = get_request(r, base, &req, &req_len)) != OK) {
        return rc;
    }
    memset(&o, 0, sizeof(o));
    o.ca = sconf->ca;
    o.cas = sconf->cas;
    o.signer = sconf->ocsp_cert;
    o.signer_key = sconf->ocsp_key;
    o.validity = sconf->ocsp_validity != UNSET ? sconf->ocsp_validity : OCSP_DEFAULT_VALIDITY;
    o.open_store = scep_dbd_open_store;
    o.store_baton = r;
    if (sconf->ocsp_cache) {
        o.cache_get = cache_get;
        o.cache_put = cache_put;
        o.cache_baton = sconf->ocsp_cache;
    }
    scep_request_ctx(&ctx, r);
    scep_ocsp_respond(&der, &len, &ans, &ctx, &o, req, req_len);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00363)
                  "OCSP %s from %s: %s%s", r->method, r->useragent_ip, ans.summary,
                  ans.from_cache ? " (cached)" : "");
    scep_metrics_add(sconf->metrics, SCEP_M_OCSP_RESPONSES, 1);
    if (ans.from_cache) {
        scep_metrics_add(sconf->metrics, SCEP_M_OCSP_CACHED, 1);
    }
    caching_headers(r, &ans, der, len);
    ap_set_content_type(r, "application/ocsp-response");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(der, (int)len, r);
    }
    return OK;
}
