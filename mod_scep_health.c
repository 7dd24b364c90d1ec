/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: SetHandler scep-health, the health check for load
 * balancers (the check itself is scep/scep_health.c), and each child's
 * cache of its last key check.
 */

#include "mod_scep_private.h"
#include "scep/scep_health.h"

void scep_health_child_init(apr_pool_t *pchild, server_rec *s)
{
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        scep_health_keys_t *k;

        if (!c->ca || c->health_keys) {
            continue;       /* (virtual hosts without their own conf share the main's) */
        }
        k = apr_pcalloc(pchild, sizeof(*k));
        k->pool = pchild;
        if (apr_thread_mutex_create(&k->lock, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS) {
            continue;       /* then every check signs */
        }
        c->health_keys = k;
    }
}

int scep_health_handler(request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    scep_health_in_t in;
    scep_ctx_t ctx;
    const char *json;
    int status;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
    ap_discard_request_body(r);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!sconf->ca) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00368)
                      "SetHandler scep-health in a server without SCEPCACertificateFile");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&in, 0, sizeof(in));
    in.ca = scep_active_ca(sconf, r);
    in.open_store = scep_dbd_open_store;
    in.store_baton = r;
    in.keys = sconf->health_keys;
    scep_request_ctx(&ctx, r);
    scep_health_check(&json, &status, &ctx, &in);
    if (status != 200) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00369)
                      "health check failed: %s", json);
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return scep_send(r, status, "application/json", (const unsigned char *)json, strlen(json));
}
