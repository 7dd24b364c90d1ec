/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: CA and RA keys in a PKCS#11 token (README "Keys"). The
 * pkcs11 engine is loaded once per configuration cycle, in the parent,
 * when a key directive names a pkcs11: URI; the keys are opened there to
 * check them at start-up, and again in each child (child_init), since
 * PKCS#11 sessions do not survive fork.
 */

#include "mod_scep_private.h"
#include "http_main.h"
#include "scep/scep_pkcs11.h"

const char *scep_set_pkcs11_module(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dummy;
    if (err) {
        return err;
    }
    conf->pkcs11_module = ap_server_root_relative(cmd->pool, arg);
    if (!conf->pkcs11_module) {
        return apr_pstrcat(cmd->pool, "SCEPPKCS11Module: invalid path ", arg, NULL);
    }
    return NULL;
}

/* The engine of this configuration cycle, made at the first key that
 * needs it (NULL, said once, when it cannot be loaded). */
scep_pkcs11_t *scep_pkcs11_of(server_rec *s)
{
    scep_srv_conf_t *main_conf = ap_get_module_config(ap_server_conf ? ap_server_conf->module_config
                                                      : s->module_config, &scep_module);
    const char *err = NULL;

    if (!main_conf->pkcs11 && !main_conf->pkcs11_failed) {
        if (scep_pkcs11_make(&main_conf->pkcs11, s->process->pconf, main_conf->pkcs11_module,
                             &err) != APR_SUCCESS) {
            main_conf->pkcs11_failed = 1;
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00026)
                         "keys in a token (pkcs11: URIs) cannot be used: %s%s", err,
                         main_conf->pkcs11_module ? "" : " (name the PKCS#11 module with "
                         "SCEPPKCS11Module)");
        }
    }
    return main_conf->pkcs11;
}

/* child_init: each token key of every CA of every server, opened in this
 * child (a CA shared by servers once). */
void scep_pkcs11_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *done = apr_hash_make(pchild);
    server_rec *sp;
    int i;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        for (i = 0; c->cas && i < c->cas->all->nelts; i++) {
            scep_ca_t *ca = (scep_ca_t *)APR_ARRAY_IDX(c->cas->all, i, const scep_ca_t *);
            const char *err = NULL;
            if ((!ca->key_ref && !ca->ra_key_ref && !ca->enc_key_ref)
                || apr_hash_get(done, &ca, sizeof(ca))) {
                continue;
            }
            apr_hash_set(done, apr_pmemdup(pchild, &ca, sizeof(ca)), sizeof(ca), "");
            /* for keys opened again after a token failure (scep_ca_key_trouble) */
            apr_pool_create(&ca->key_pool, pchild);
            if (scep_ca_reopen_keys(ca, pchild, &err) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, SCEPLOGNO(00027)
                             "this child cannot open the keys of CA %s in their token: %s; "
                             "its requests that need them fail until it is replaced",
                             ca->subject, err);
            }
        }
    }
}
