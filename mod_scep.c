/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep: an RFC 8894 SCEP service for Apache httpd 2.4.
 *
 * The hooks and the handlers: request-body reading, the logging bridge,
 * SetHandler scep, scep-crl and scep-admin. Directives and start-up checks
 * are in mod_scep_config.c, mod_dbd in mod_scep_dbd.c; everything that
 * does not need httpd is in scep/.
 */

#include "mod_scep_private.h"
#include "mpm_common.h"

static apr_status_t unload_provider(void *data)
{
    OSSL_PROVIDER_unload(data);
    return APR_SUCCESS;
}

static int scep_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    return scep_dbd_pre_config(pconf) != OK ? !OK : scep_ocsp_pre_config(pconf);
}

/* Runs before mod_dbd's post_config (see scep_dbd_post_config). */
static int scep_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    int any_ca = 0, legacy = 0;
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        any_ca |= c->ca != NULL;
        legacy |= c->legacy_wanted == 1;
    }
    scep_check_admin_sections(ap_conftree, s);
    if (scep_admin_secrets(pconf, s) != OK) {
        return !OK;
    }
    if (!any_ca) {
        return OK;
    }
    /* httpd reads its configuration twice at start: say it once */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        scep_warn_ca_material(s, ptemp);
    }
    if (scep_dbd_post_config(pconf, ptemp, s) != OK
        || scep_ocsp_post_config(pconf, ptemp, s) != OK
        || scep_metrics_post_config(pconf, ptemp, s) != OK
        || scep_pkcs11_post_config(pconf, s) != OK) {
        return !OK;
    }
    if (legacy) {
        /* DES and MD5 live in OpenSSL's legacy provider; loading it alone
         * would stop the default one from loading, so load both. */
        OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
        OSSL_PROVIDER *leg = OSSL_PROVIDER_load(NULL, "legacy");
        if (!def || !leg) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00006)
                         "SCEPLegacyAlgorithms on: cannot load OpenSSL's legacy provider");
            ERR_clear_error();
            if (def) OSSL_PROVIDER_unload(def);
            if (leg) OSSL_PROVIDER_unload(leg);
            return !OK;
        }
        apr_pool_cleanup_register(pconf, def, unload_provider, apr_pool_cleanup_null);
        apr_pool_cleanup_register(pconf, leg, unload_provider, apr_pool_cleanup_null);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SCEPLOGNO(00007)
                 "mod_scep %s ready%s", SCEP_VERSION,
                 legacy ? " (legacy DES/MD5 enabled on some Locations)" : "");
    return OK;
}

/******************************************************************************/
/* request handling                                                           */

static void log_bridge(void *baton, const char *file, int line,
                       scep_log_level_t level, apr_status_t rv, const char *msg)
{
    request_rec *r = baton;
    ap_log_rerror(file, line, APLOG_MODULE_INDEX, (int)level, rv, r, "%s", msg);
}

/* The profile's "value" rules are ap_expr strings, evaluated per request. */
static const char *eval_expr(void *baton, const void *expr, const char **perr)
{
    request_rec *r = baton;
    const char *err = NULL;
    const char *v = ap_expr_str_exec(r, expr, &err);

    if (err) {
        *perr = err;
        return NULL;
    }
    return v ? v : "";
}

/* Read the whole body, refusing more than max bytes (also when chunked). */
int scep_read_body(request_rec *r, apr_size_t max, unsigned char **pbuf, apr_size_t *plen)
{
    unsigned char *buf;
    apr_size_t len = 0, cap;
    long n;
    int rc;

    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return rc;
    }
    if (r->remaining > (apr_off_t)max) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00302)
                      "request body of %" APR_OFF_T_FMT " bytes is over the limit "
                      "of %" APR_SIZE_T_FMT " (SCEPMaxRequestBody)", r->remaining, max);
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    /* one byte more than allowed shows a chunked body that is too long */
    cap = r->remaining > 0 ? (apr_size_t)r->remaining + 1 : (max + 1 < 8192 ? max + 1 : 8192);
    buf = apr_palloc(r->pool, cap + 1);
    if (ap_should_client_block(r)) {
        for (;;) {
            if (len == cap) {
                unsigned char *bigger;
                cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                bigger = apr_palloc(r->pool, cap + 1);
                memcpy(bigger, buf, len);
                buf = bigger;
            }
            n = ap_get_client_block(r, (char *)buf + len, cap - len);
            if (n < 0) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00308)
                              "cannot read the request body after %" APR_SIZE_T_FMT
                              " bytes (closed early, timed out, or bad chunked encoding)",
                              len);
                return HTTP_BAD_REQUEST;
            }
            if (n == 0) {
                break;
            }
            len += (apr_size_t)n;
            if (len > max) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00303)
                              "request body over the limit of %" APR_SIZE_T_FMT
                              " bytes (SCEPMaxRequestBody)", max);
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
        }
    }
    *pbuf = buf;
    *plen = len;
    return OK;
}


static int send_plain(request_rec *r, int status, const char *text)
{
    r->status = status;
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, (apr_off_t)strlen(text) + 1);
    if (!r->header_only) {
        ap_rvputs(r, text, "\n", NULL);
    }
    return OK;
}

/* A value of the summary line: quoted, with '"', '\\', '%' and control
 * characters as %XX (httpd's error log would double a backslash escape). */
static const char *kv_value(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out, *o;

    if (!s) {
        return "-";
    }
    out = o = apr_palloc(p, strlen(s) * 3 + 3);
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\' || c == '%' || c < 0x20 || c == 0x7f) {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* One line per transaction, key=value, for log shippers. */
static void log_summary(request_rec *r, const scep_service_t *svc, const scep_http_out_t *out)
{
    apr_int64_t ms = (apr_int64_t)((apr_time_now() - r->request_time) / 1000);

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00367)
                  "transaction tid=%s location=%s op=%s outcome=%s failinfo=%s serial=%s "
                  "subject=%s client=%s http=%d ms=%" APR_INT64_T_FMT,
                  kv_value(r->pool, out->tid), kv_value(r->pool, svc->profile->name),
                  scep_msg_type_name(out->msg_type), scep_pki_status_name(out->pki_status),
                  scep_fail_info_name(out->fail_info), out->serial ? out->serial : "-",
                  kv_value(r->pool, out->subject), r->useragent_ip ? r->useragent_ip : "-",
                  out->status, ms);
}

static int scep_handler(request_rec *r)
{
    scep_dir_conf_t *dconf;
    apr_table_t *args;
    scep_ctx_t ctx;
    const scep_service_t *svc;
    scep_env_t env;
    scep_http_in_t in;
    scep_http_out_t out;
    scep_slot_t slot;
    int rc;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_POST, -1);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_discard_request_body(r);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    dconf = ap_get_module_config(r->per_dir_config, &scep_module);
    if (!(svc = scep_service_of(r))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00304)
                      "SetHandler scep in a server without SCEPCACertificateFile");
        ap_discard_request_body(r);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    memset(&in, 0, sizeof(in));
    args = scep_query_parse(r->pool, r->args);
    in.operation = apr_table_get(args, "operation");
    in.message = apr_table_get(args, "message");
    in.client_addr = r->useragent_ip;
    in.is_post = r->method_number == M_POST;
    if (in.is_post) {
        unsigned char *body = NULL;
        apr_size_t max = dconf->max_body != UNSET ? (apr_size_t)dconf->max_body
                                                  : DEFAULT_MAX_BODY;
        if ((rc = scep_read_body(r, max, &body, &in.body_len)) != OK) {
            if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
                r->connection->keepalive = AP_CONN_CLOSE;
                return send_plain(r, rc, "Request Entity Too Large: SCEP message over the limit");
            }
            return rc;
        }
        in.body = body;
    }
    else {
        ap_discard_request_body(r);
    }

    scep_request_ctx(&ctx, r);
    memset(&env, 0, sizeof(env));
    scep_ask_env(&env, r);
    env.open_store = scep_dbd_open_store;
    env.store_baton = r;
    env.eval = eval_expr;
    env.eval_baton = r;
    scep_slots_env(&env, &slot, r);
    scep_op_handle(&ctx, svc, &env, &in, &out);
    if (out.tid && APLOG_R_IS_LEVEL(r, APLOG_INFO)) {
        log_summary(r, svc, &out);      /* (its values are escaped only when it is logged) */
    }
    scep_metrics_request(r, ap_get_module_config(r->server->module_config, &scep_module),
                         in.operation, svc->profile->name, &out);
    return scep_send(r, out.status, out.content_type, out.body, out.len);
}

int scep_send(request_rec *r, int status, const char *type, const unsigned char *body,
              apr_size_t len)
{
    r->status = status;
    ap_set_content_type(r, type);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

void scep_request_ctx(scep_ctx_t *ctx, request_rec *r)
{
    ctx->pool = r->pool;
    ctx->log = log_bridge;
    ctx->log_baton = r;
    ctx->log_level = (scep_log_level_t)ap_get_request_module_loglevel(r, APLOG_MODULE_INDEX);
    ctx->metrics = ((scep_srv_conf_t *)ap_get_module_config(r->server->module_config,
                                                            &scep_module))->metrics;
}

const char *scep_location_path(request_rec *r, const char *dflt)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);

    return core && core->d && core->d[0] == '/' ? core->d : dflt;
}

const char *scep_path_below(request_rec *r, const char *base)
{
    apr_size_t blen = strlen(base);
    const char *rest;

    if (strncmp(r->uri, base, blen)) {
        return NULL;
    }
    for (rest = r->uri + blen; *rest == '/'; rest++);
    return rest;
}

/* The CA whose CRL a scep-crl request asks: SCEPCACertificateFile's at the
 * Location itself, any CA of the server at LOCATION/ID (or ID.crl), where
 * ID is the CA's (README "CA rollover"); NULL for an unknown one. */
static const scep_ca_t *crl_ca_of(request_rec *r, const scep_srv_conf_t *sconf)
{
    const char *base = scep_location_path(r, NULL);
    const char *rest = base ? scep_path_below(r, base) : NULL, *dot;

    if (!rest || !*rest) {
        return sconf->ca;
    }
    dot = strrchr(rest, '.');
    if (dot && !strcmp(dot, ".crl")) {
        rest = apr_pstrmemdup(r->pool, rest, (apr_size_t)(dot - rest));
    }
    return sconf->cas ? scep_cas_by_id(sconf->cas, rest) : NULL;
}

/* SetHandler scep-crl: the CA's current CRL, for CRL distribution points. */
static int crl_handler(request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    const scep_ca_t *ca;
    scep_store_t *st;
    scep_ctx_t ctx;
    unsigned char *der;
    apr_size_t len;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!sconf->ca) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00305)
                      "SetHandler scep-crl in a server without SCEPCACertificateFile");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!(ca = crl_ca_of(r, sconf))) {
        return HTTP_NOT_FOUND;
    }
    scep_request_ctx(&ctx, r);
    if (scep_dbd_open_store(r, &st) != APR_SUCCESS
        || scep_crl_current(&der, &len, &ctx, st, ca,
                               scep_crl_validity_of(sconf))
           != APR_SUCCESS) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_set_content_type(r, "application/pkix-crl");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(der, (int)len, r);
    }
    return OK;
}

static const char *cookie_value(request_rec *r, const char *name)
{
    const char *cookies = apr_table_get(r->headers_in, "Cookie");
    apr_size_t n = strlen(name);

    while (cookies && *cookies) {
        while (*cookies == ' ' || *cookies == ';') cookies++;
        if (!strncmp(cookies, name, n) && cookies[n] == '=') {
            const char *v = cookies + n + 1, *end = strchr(v, ';');
            return end ? apr_pstrmemdup(r->pool, v, (apr_size_t)(end - v)) : v;
        }
        cookies = strchr(cookies, ';');
    }
    return NULL;
}

/* A piece of a streamed admin body, to the client through httpd's output
 * filters (which send it on once enough is buffered). */
static apr_status_t admin_write(void *baton, const char *data, apr_size_t len)
{
    request_rec *r = baton;
    return ap_rwrite(data, (int)len, r) < 0 ? APR_EGENERAL : APR_SUCCESS;
}

/* The admin endpoint's answer, with the headers that keep it in its own
 * window, out of caches, and its CSRF cookie on this origin. */
static int admin_send(request_rec *r, const scep_admin_out_t *o, const char *cookie,
                      const char *cookie_path, int https)
{
    scep_admin_out_t out = *o;

    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                   "frame-ancestors 'none'");
    if (out.set_csrf_cookie) {
        apr_table_addn(r->headers_out, "Set-Cookie", apr_pstrcat(r->pool, cookie, "=",
                       out.set_csrf_cookie, "; Path=", cookie_path,
                       https ? "; Secure" : "", "; HttpOnly; SameSite=Strict", NULL));
    }
    if (out.filename) {
        apr_table_setn(r->headers_out, "Content-Disposition",
                       apr_pstrcat(r->pool, "attachment; filename=\"", out.filename, "\"",
                                   NULL));
    }
    if (out.location) {
        apr_table_setn(r->headers_out, "Location",
                       ap_construct_url(r->pool, out.location, r));
    }
    r->status = out.status;
    ap_set_content_type(r, out.content_type);
    if (out.stream) {
        /* no Content-Length: the body is written as it is formatted */
        if (!r->header_only) {
            out.stream(out.stream_state, r->pool, admin_write, r);
        }
        return OK;
    }
    ap_set_content_length(r, (apr_off_t)out.len);
    if (!r->header_only) {
        ap_rwrite(out.body, (int)out.len, r);
    }
    return OK;
}

/* SetHandler scep-admin: fails closed without an authenticated user, since
 * every decision records who made it. */
static int admin_handler(request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    scep_admin_t adm;
    scep_admin_in_t in;
    scep_admin_out_t out;
    scep_ctx_t ctx;
    const char *base = scep_location_path(r, "/");
    apr_size_t blen;
    int rc, https = !strcmp(ap_http_scheme(r), "https");
    /* under HTTPS a __Host- cookie: only this origin can set it (Secure,
     * Path=/, no Domain), so no sibling host can plant one */
    const char *cookie = https ? "__Host-scep_admin_csrf" : "scep_admin_csrf";
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *cookie_path;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_POST, -1);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_discard_request_body(r);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!r->user) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SCEPLOGNO(00306)
                      "refusing scep-admin at %s: no authenticated user (configure "
                      "AuthType and Require for this Location)", base);
        ap_discard_request_body(r);
        return HTTP_FORBIDDEN;
    }
    if (!sconf->ca) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00307)
                      "SetHandler scep-admin in a server without SCEPCACertificateFile");
        ap_discard_request_body(r);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&in, 0, sizeof(in));
    in.is_post = r->method_number == M_POST;
    in.query = scep_admin_query_parse(r->pool, r->args);
    in.content_type = apr_table_get(r->headers_in, "Content-Type");
    in.csrf_cookie = cookie_value(r, cookie);
    in.origin = apr_table_get(r->headers_in, "Origin");
    in.fetch_site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    /* what a browser sends as Origin for a page of this very Location */
    in.own_origin = host ? apr_pstrcat(r->pool, ap_http_scheme(r), "://", host, NULL) : NULL;
    in.client_addr = r->useragent_ip;
    blen = strlen(base);
    if (!(in.path = scep_path_below(r, base))) {
        in.path = "";
    }
    if (in.is_post) {
        unsigned char *body = NULL;
        if ((rc = scep_read_body(r, ADMIN_MAX_BODY, &body, &in.body_len)) != OK) {
            return rc;
        }
        body[in.body_len] = '\0';
        in.body = (const char *)body;
    }
    else {
        ap_discard_request_body(r);
    }
    adm.ca = scep_active_ca(sconf, r);
    adm.cas = sconf->cas;
    adm.named = sconf->named;
    adm.crl_validity = scep_crl_validity_of(sconf);
    adm.open_store = scep_dbd_open_store;
    adm.store_baton = r;
    adm.user = r->user;
    adm.client_addr = r->useragent_ip;
    adm.base = base[blen - 1] == '/' ? base : apr_pstrcat(r->pool, base, "/", NULL);
    cookie_path = https ? "/" : adm.base;
    adm.home = adm.base;
    if (!strncmp(in.path, "ca/", 3) && sconf->cas) {
        /* another CA of the server (README "CA rollover"): ca/ID/ and below */
        const char *id = in.path + 3, *slash = strchr(id, '/');
        const scep_ca_t *ca = scep_cas_by_id(sconf->cas, slash
                                             ? apr_pstrmemdup(r->pool, id, (apr_size_t)(slash - id))
                                             : id);
        if (!ca) {
            return HTTP_NOT_FOUND;
        }
        adm.ca = ca;
        adm.base = apr_pstrcat(r->pool, adm.base, "ca/", ca->id, "/", NULL);
        in.path = slash ? slash + 1 : "";
        while (*in.path == '/') in.path++;
    }
    adm.secret = sconf->admin_secret;
    adm.secret_len = sconf->admin_secret_len;
    adm.mc_cert = sconf->mc_cert;
    adm.mc_key = sconf->mc_key;
    scep_request_ctx(&ctx, r);
    scep_admin_handle(&ctx, &adm, &in, &out);
    if (out.action_done) {
        scep_metrics_add(sconf->metrics, !strcmp(out.action_done, "approve") ? SCEP_M_APPROVALS
                         : !strcmp(out.action_done, "reject") ? SCEP_M_REJECTIONS
                         : SCEP_M_REVOCATIONS, 1);
    }

    return admin_send(r, &out, cookie, cookie_path, https);
}

typedef int (*scep_handler_fn)(request_rec *r);

static scep_handler_fn handler_of(const char *name)
{
    static const struct { const char *name; scep_handler_fn fn; } handlers[] = {
        { "scep", scep_handler }, { "scep-crl", crl_handler }, { "scep-admin", admin_handler },
        { "scep-ndes", scep_ndes_handler }, { "scep-ocsp", scep_ocsp_handler },
        { "scep-health", scep_health_handler }, { "scep-metrics", scep_metrics_handler },
    };
    apr_size_t i;

    for (i = 0; name && i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (!strcmp(name, handlers[i].name)) {
            return handlers[i].fn;
        }
    }
    return NULL;
}

static int dispatch(request_rec *r)
{
    scep_handler_fn handler = handler_of(r->handler);

    if (!handler) {
        return DECLINED;
    }
    scep_memory_request(r);
    return handler(r);
}

static void scep_register_hooks(apr_pool_t *p)
{
    static const char *const before_dbd[] = { "mod_dbd.c", NULL };

    ap_hook_pre_config(scep_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(scep_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(scep_post_config, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_drop_privileges(scep_dbd_before_drop, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_child_init(scep_dbd_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_child_init(scep_dbd_child_init_done, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_child_init(scep_ask_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(scep_ocsp_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* before anything signs: the child's own sessions with the token */
    ap_hook_child_init(scep_pkcs11_child_init, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_monitor(scep_pkcs11_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(scep_health_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(scep_memory_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(scep_slots_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_dbd's child_init: the worker's first pass opens a connection */
    ap_hook_child_init(scep_outbox_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(dispatch, NULL, NULL, APR_HOOK_MIDDLE);
    scep_metrics_register();
}

module AP_MODULE_DECLARE_DATA scep_module = {
    STANDARD20_MODULE_STUFF,
    scep_create_dir_conf,
    scep_merge_dir_conf,
    scep_create_srv_conf,
    scep_merge_srv_conf,
    scep_cmds,
    scep_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
