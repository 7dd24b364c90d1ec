/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: the counters of scep/scep_metrics.c in anonymous shared
 * memory made before the children are forked (so every child adds to the
 * same ones), one slot per Location of every server; SetHandler
 * scep-metrics (Prometheus text) and a section in mod_status.
 */

#include <apr_shm.h>
#include "mod_status.h"

#include "mod_scep_private.h"
#include "scep/scep_crl.h"

/* Every Location's name, by slot: "profile" in the main server,
 * "server profile" in a virtual host (names repeat across them). */
typedef struct metrics_names_t {
    const char **names;
    int n;
} metrics_names_t;

static const char *const *slot_names;    /* read-only after post_config */

static void assign_slots(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                         apr_array_header_t *names)
{
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        apr_hash_index_t *hi;

        c->metric_slots = apr_hash_make(pconf);
        if (!c->ca || !c->named) {
            continue;
        }
        for (hi = apr_hash_first(ptemp, c->named); hi; hi = apr_hash_next(hi)) {
            const void *name;
            int *slot = apr_palloc(pconf, sizeof(*slot));
            apr_hash_this(hi, &name, NULL, NULL);
            *slot = names->nelts;
            APR_ARRAY_PUSH(names, const char *) = sp == s ? apr_pstrdup(pconf, name)
                : apr_pstrcat(pconf, scep_vhost_name(pconf, sp), " ", (const char *)name, NULL);
            apr_hash_set(c->metric_slots, apr_pstrdup(pconf, name), APR_HASH_KEY_STRING, slot);
        }
    }
}

int scep_metrics_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *names = apr_array_make(pconf, 8, sizeof(const char *));
    scep_metrics_t *m;
    apr_shm_t *shm;
    apr_status_t rv;
    server_rec *sp;

    assign_slots(pconf, ptemp, s, names);
    rv = apr_shm_create(&shm, scep_metrics_size(names->nelts), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, SCEPLOGNO(00370)
                     "cannot create the shared memory of mod_scep's metrics: "
                     "scep-metrics and mod_status show none");
        return OK;
    }
    m = scep_metrics_init(apr_shm_baseaddr_get(shm), names->nelts);
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        c->metrics = m;
    }
    slot_names = (const char *const *)names->elts;
    return OK;
}

void scep_metrics_request(request_rec *r, const scep_srv_conf_t *c, const char *operation,
                          const char *profile, const scep_http_out_t *out)
{
    scep_metrics_op_t op = scep_metrics_op_of(operation, out->tid ? out->msg_type : -1);
    const int *slot;

    if (!c->metrics) {
        return;
    }
    scep_metrics_latency(c->metrics, op, (apr_int64_t)(apr_time_now() - r->request_time));
    if (out->status == HTTP_SERVICE_UNAVAILABLE) {
        scep_metrics_add(c->metrics, SCEP_M_UNAVAILABLE, 1);
    }
    if ((op == SCEP_OP_PKCSREQ || op == SCEP_OP_RENEWALREQ) && profile
        && (slot = apr_hash_get(c->metric_slots, profile, APR_HASH_KEY_STRING)) != NULL) {
        scep_metrics_txn_t t = { out->pki_status, out->fail_info, out->renewal,
                                 out->auth_failed, out->throttled };
        scep_metrics_txn(c->metrics, *slot, &t);
    }
}

/* The gauges of the virtual host that serves the request. */
static void ca_gauges(scep_metrics_ca_t *g, request_rec *r, const scep_srv_conf_t *c)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now()), revoked;
    scep_crl_rec_t *crl = NULL;
    scep_store_t *st;
    scep_ctx_t ctx;
    const scep_ca_t *ca = scep_active_ca(c, r);   /* the one that issues now */

    memset(g, 0, sizeof(*g));
    g->ca = ca->subject;
    g->ca_expires_in = ca->not_after - now;
    g->ra_expires_in = scep_ca_ra_not_after(ca) - now;
    g->pending = -1;
    scep_request_ctx(&ctx, r);
    if (scep_dbd_open_store(r, &st) != APR_SUCCESS) {
        return;
    }
    if (scep_store_crl_latest(&crl, &revoked, &ctx, st, ca->fingerprint) == APR_SUCCESS) {
        g->crl_known = 1;
        g->crl_expires_in = crl->next_update - now;
    }
    if (scep_store_pending_count(&g->pending, &ctx, st, ca->fingerprint) != APR_SUCCESS) {
        g->pending = -1;
    }
}

int scep_metrics_handler(request_rec *r)
{
    scep_srv_conf_t *c = ap_get_module_config(r->server->module_config, &scep_module);
    scep_metrics_ca_t g;
    const char *text;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
    ap_discard_request_body(r);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!c->ca || !c->metrics) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00371)
                      "SetHandler scep-metrics: %s", !c->ca ? "no SCEPCACertificateFile in "
                      "this server" : "no shared memory for the metrics (see SCEP00370)");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ca_gauges(&g, r, c);
    text = scep_metrics_prometheus(r->pool, c->metrics, slot_names, &g, 1);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return scep_send(r, HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                     (const unsigned char *)text, strlen(text));
}

/* mod_status (ExtendedStatus): the totals and each Location's. */
static int status_section(request_rec *r, int flags)
{
    scep_srv_conf_t *c = ap_get_module_config(r->server->module_config, &scep_module);
    const char *plain;

    if (!c->metrics) {
        return OK;
    }
    plain = scep_metrics_plain(r->pool, c->metrics, slot_names);
    if (flags & AP_STATUS_SHORT) {
        ap_rputs(plain, r);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_scep</h2>\n<pre>", r);
    ap_rputs(ap_escape_html(r->pool, plain), r);
    ap_rputs("</pre>\n", r);
    return OK;
}

void scep_metrics_register(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, status_section, NULL, NULL, APR_HOOK_MIDDLE);
}
