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
#include "mpm_common.h"
#include "scep/scep_pkcs11.h"
#include <apr_shm.h>
#include <apr_atomic.h>
#include <apr_thread_proc.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

/* How often the parent probes a token a child found failing, and how long
 * a probe may take before it is given up. */
#define TOKEN_PROBE_SECONDS 5
#define TOKEN_PROBE_TIMEOUT 30
/* At most one restart in this long: a token that answers the probe while
 * the children still fail is not a reason to restart them in a loop. */
#define TOKEN_RESTART_SECONDS 60

/* libp11 keeps, in a running process, the object handles a token dropped
 * (SoftHSM 2.6, libp11 0.4.12: README "Keys"); a process forked afterwards
 * opens the token afresh. So a child that finds its token failing raises
 * the alarm, and the parent probes the token in a forked process until it
 * answers, then restarts the children gracefully. */
typedef struct scep_token_watch_t {
    apr_uint32_t *alarm;     /* shared memory: a child's token failed */
    pid_t probe;             /* the parent's: the probe under way, or 0 */
    apr_time_t probe_started, last_probe;
    int said;                /* the failure is in the log */
    server_rec *s;           /* where the probe's end is logged */
    apr_time_t *last_restart;  /* retained across restarts (ap_retained_data) */
} scep_token_watch_t;

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
    scep_srv_conf_t *main_conf = ap_get_module_config(s->module_config, &scep_module);
    scep_token_watch_t *watch = main_conf->token_watch;
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
            ca->token_alarm = watch ? watch->alarm : NULL;
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

int scep_pkcs11_post_config(apr_pool_t *pconf, server_rec *s)
{
    scep_srv_conf_t *main_conf = ap_get_module_config(s->module_config, &scep_module);
    scep_token_watch_t *watch;
    apr_shm_t *shm;
    apr_status_t rv;

    main_conf->token_watch = NULL;
    if (!main_conf->pkcs11) {
        return OK;              /* no key in a token */
    }
    if ((rv = apr_shm_create(&shm, sizeof(apr_uint32_t), NULL, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, SCEPLOGNO(00028)
                     "no shared memory for the token's alarm: after a token failure, "
                     "restart httpd gracefully once the token is back");
        return OK;
    }
    watch = apr_pcalloc(pconf, sizeof(*watch));
    watch->alarm = apr_shm_baseaddr_get(shm);
    if (!(watch->last_restart = ap_retained_data_get("mod_scep-token-restart"))) {
        watch->last_restart = ap_retained_data_create("mod_scep-token-restart",
                                                      sizeof(apr_time_t));
        *watch->last_restart = 0;
    }
    apr_atomic_set32(watch->alarm, 0);
    main_conf->token_watch = watch;
    return OK;
}

/* In a process forked from the parent: do every token key of every CA
 * open and sign? (exit status 0 when they do) */
static int probe_tokens(server_rec *s)
{
    apr_pool_t *p;
    server_rec *sp;
    int i, ok = 1;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return 0;
    }
    for (sp = s; sp && ok; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        for (i = 0; ok && c->cas && i < c->cas->all->nelts; i++) {
            scep_ca_t copy = *APR_ARRAY_IDX(c->cas->all, i, const scep_ca_t *);
            const char *err = NULL;
            if (!scep_ca_has_token(&copy)) {
                continue;
            }
            ok = scep_ca_reopen_keys(&copy, p, &err) == APR_SUCCESS
                 && (!copy.key_ref || scep_ca_key_signs(copy.key))
                 && (!copy.ra_key_ref || scep_ca_key_signs(copy.ra_key))
                 && (!copy.enc_key_ref || scep_ca_key_signs(copy.enc_key));
        }
    }
    return ok;
}

/* The probe's end, told by the MPM, which reaps every process of the
 * parent (APR's "other child"): a token that answers again restarts the
 * children gracefully (they open it afresh). */
static void probe_ended(int reason, void *data, int status)
{
    scep_token_watch_t *w = data;

    if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST
        && reason != APR_OC_REASON_UNREGISTER) {
        return;                 /* a restart: the probe goes on */
    }
    if (reason != APR_OC_REASON_UNREGISTER) {
        apr_proc_other_child_unregister(w);
    }
    w->probe = 0;
    if (reason != APR_OC_REASON_DEATH || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return;                 /* still failing: the next probe tells */
    }
    if (*w->last_restart && apr_time_now() - *w->last_restart
                            < apr_time_from_sec(TOKEN_RESTART_SECONDS)) {
        return;                 /* not a restart loop: probe again later */
    }
    *w->last_restart = apr_time_now();
    apr_atomic_set32(w->alarm, 0);
    w->said = 0;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, w->s, SCEPLOGNO(00029)
                 "the keys' token answers again: restarting the children gracefully, so "
                 "that they open it afresh");
    kill(getpid(), AP_SIG_GRACEFUL);
}

int scep_pkcs11_monitor(apr_pool_t *p, server_rec *s)
{
    scep_srv_conf_t *main_conf = ap_get_module_config(s->module_config, &scep_module);
    scep_token_watch_t *w = main_conf->token_watch;
    apr_time_t now = apr_time_now();
    apr_proc_t proc;

    (void)p;
    if (!w) {
        return DECLINED;
    }
    if (w->probe) {
        /* a token that hangs: give the probe up (the MPM reaps it) */
        if (now - w->probe_started > apr_time_from_sec(TOKEN_PROBE_TIMEOUT)) {
            kill(w->probe, SIGKILL);
        }
        return DECLINED;
    }
    if (!apr_atomic_read32(w->alarm)
        || now - w->last_probe < apr_time_from_sec(TOKEN_PROBE_SECONDS)) {
        return DECLINED;
    }
    if (!w->said) {
        w->said = 1;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, SCEPLOGNO(00030)
                     "a child found the keys' token failing: probing it every %d s; the "
                     "children restart gracefully once it answers", TOKEN_PROBE_SECONDS);
    }
    w->last_probe = now;
    w->s = s;
    switch (apr_proc_fork(&proc, s->process->pconf)) {
    case APR_INCHILD:
        _exit(probe_tokens(s) ? 0 : 1);
    case APR_INPARENT:
        w->probe = proc.pid;
        w->probe_started = now;
        apr_proc_other_child_register(&proc, probe_ended, w, NULL, s->process->pconf);
        break;
    default:
        break;
    }
    return DECLINED;
}
