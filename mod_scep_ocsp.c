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
#include <openssl/ocsp.h>

#include "mod_scep_private.h"
#include "scep/scep_ocsp.h"
#include "scep/scep_util.h"

#define OCSP_DEFAULT_VALIDITY 3600

int scep_ocsp_check(apr_pool_t *ptemp, server_rec *s)
{
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        const char *why, *warning;

        if (!c->ocsp_cert || !c->ca) {
            continue;
        }
        why = scep_ocsp_signer_check(&warning, ptemp, c->ca, c->ocsp_cert, c->ocsp_key);
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
    apr_size_t blen = strlen(base);
    char *b64;

    if (strncmp(r->uri, base, blen)) {
        return HTTP_NOT_FOUND;
    }
    b64 = apr_pstrdup(r->pool, r->uri + blen);
    while (*b64 == '/') b64++;
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
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    const char *base = core && core->d && core->d[0] == '/' ? core->d : "/";
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
    o.signer = sconf->ocsp_cert;
    o.signer_key = sconf->ocsp_key;
    o.validity = sconf->ocsp_validity != UNSET ? sconf->ocsp_validity : OCSP_DEFAULT_VALIDITY;
    o.open_store = scep_dbd_open_store;
    o.store_baton = r;
    scep_request_ctx(&ctx, r);
    scep_ocsp_respond(&der, &len, &ans, &ctx, &o, req, req_len);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00363)
                  "OCSP %s from %s: %s%s", r->method, r->useragent_ip, ans.summary,
                  ans.from_cache ? " (cached)" : "");
    caching_headers(r, &ans, der, len);
    ap_set_content_type(r, "application/ocsp-response");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(der, (int)len, r);
    }
    return OK;
}
