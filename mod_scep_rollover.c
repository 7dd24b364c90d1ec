/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep's glue for a CA rollover (README "CA rollover"): the next CA and
 * the time it takes over, the previous CAs, and every CA of a server as one
 * set (scep_cas_t) that the handlers look certificates up in.
 */
#include "mod_scep_private.h"
#include "scep/scep_service.h"

/* "YYYY-MM-DDTHH:MM:SSZ" as seconds since the epoch, or -1. */
static apr_int64_t parse_utc(const char *s)
{
    apr_time_exp_t t;
    apr_time_t at;
    int y, mo, d, h, mi, sec, n = 0;

    if (strlen(s) != 20
        || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6
        || n != 20 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
        || sec > 59 || h < 0 || mi < 0 || sec < 0) {
        return -1;
    }
    memset(&t, 0, sizeof(t));
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = sec;
    if (apr_time_exp_gmt_get(&at, &t) != APR_SUCCESS) {
        return -1;
    }
    return (apr_int64_t)apr_time_sec(at);
}

const char *scep_set_switch_time(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err) {
        return err;
    }
    if (strcasecmp(arg, "notBefore") && parse_utc(arg) < 0) {
        return apr_pstrcat(cmd->pool, "SCEPNextCASwitchTime: '", arg, "' is neither a UTC "
                           "time such as 2027-01-31T00:00:00Z nor notBefore", NULL);
    }
    conf->switch_time.value = arg;
    conf->switch_time.where = scep_directive_where(cmd);
    return NULL;
}

const char *scep_set_previous_ca(cmd_parms *cmd, void *dummy, const char *cert,
                                 const char *key)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    scep_previous_ca_t *prev;

    if (err) {
        return err;
    }
    if (!conf->previous) {
        conf->previous = apr_array_make(cmd->pool, 2, sizeof(scep_previous_ca_t));
    }
    prev = apr_array_push(conf->previous);
    prev->cert = ap_server_root_relative(cmd->pool, cert);
    prev->key = scep_pkcs11_is_uri(key) ? key : ap_server_root_relative(cmd->pool, key);
    prev->where = scep_directive_where(cmd);
    if (!prev->cert || !prev->key) {
        return apr_pstrcat(cmd->pool, "SCEPPreviousCA: invalid path ", prev->cert ? key : cert,
                           NULL);
    }
    return NULL;
}

static int rollover_fail(server_rec *sp, apr_pool_t *ptemp, const char *directive,
                         const scep_setting_t *bad, const char *err)
{
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00024)
                 "%s %s (%s, in %s): %s", directive,
                 bad->value ? scep_pkcs11_safe_uri(ptemp, bad->value) : "",
                 bad->where ? bad->where : "-", scep_vhost_name(ptemp, sp), err);
    return !OK;
}

/* Which next-CA directive a load failure is about. */
static const char *next_directive(scep_ca_file_t which, const scep_srv_conf_t *c,
                                  const scep_setting_t **pbad)
{
    switch (which) {
    case SCEP_CA_FILE_KEY:
        *pbad = &c->next_ca_key;
        return "SCEPNextCACertificateKeyFile";
    case SCEP_CA_FILE_RA_CERT:
        *pbad = &c->next_ra;
        return "SCEPNextRACertificateFile";
    case SCEP_CA_FILE_RA_KEY:
        *pbad = &c->next_ra_key;
        return "SCEPNextRACertificateKeyFile";
    case SCEP_CA_FILE_CHAIN:
        *pbad = &c->ca_chain;
        return "SCEPCAChainFile";
    default:
        *pbad = &c->next_ca;
        return "SCEPNextCACertificateFile";
    }
}

/* The next CA with its key (it will issue), its GetCACert answer, and when
 * it takes over. */
static int load_next_issuer(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sp,
                            scep_srv_conf_t *c, scep_cas_t *cas)
{
    scep_ca_files_t files;
    scep_ca_file_t which = SCEP_CA_FILE_CERT;
    const scep_setting_t *bad;
    const char *err = NULL, *directive;
    scep_ca_t *next;

    memset(&files, 0, sizeof(files));
    files.cert = c->next_ca.value;
    files.key = c->next_ca_key.value;
    files.chain = c->ca_chain.value;     /* the intermediates above it, if any */
    files.ra_cert = c->next_ra.value;
    files.ra_key = c->next_ra_key.value;
    scep_passphrase_source(&files, sp);
    if (scep_ca_load(&next, pconf, &files, &err, &which) != APR_SUCCESS
        || scep_service_cacert(&c->next_cacert, &err, pconf, next) != APR_SUCCESS) {
        directive = next_directive(which, c, &bad);
        return rollover_fail(sp, ptemp, directive, bad, err);
    }
    if (!strcmp(next->fingerprint, c->ca->fingerprint)) {
        return rollover_fail(sp, ptemp, "SCEPNextCACertificateFile", &c->next_ca,
                             "the next CA certificate is the current one");
    }
    cas->next = next;
    cas->switch_at = !c->switch_time.value || !strcasecmp(c->switch_time.value, "notBefore")
                     ? scep_asn1_time_epoch(X509_get0_notBefore(next->cert))
                     : parse_utc(c->switch_time.value);
    APR_ARRAY_PUSH(cas->all, const scep_ca_t *) = next;
    return OK;
}

/* The CAs of SCEPPreviousCA: each signs its own CRL. */
static int load_previous(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sp,
                         scep_srv_conf_t *c, scep_cas_t *cas)
{
    int i;

    for (i = 0; c->previous && i < c->previous->nelts; i++) {
        const scep_previous_ca_t *prev = &APR_ARRAY_IDX(c->previous, i, scep_previous_ca_t);
        scep_setting_t bad = { prev->cert, prev->where };
        scep_ca_files_t files;
        scep_ca_file_t which;
        const char *err = NULL;
        scep_ca_t *ca;

        memset(&files, 0, sizeof(files));
        files.cert = prev->cert;
        files.key = prev->key;
        files.retired = 1;
        scep_passphrase_source(&files, sp);
        if (scep_ca_load(&ca, pconf, &files, &err, &which) != APR_SUCCESS) {
            return rollover_fail(sp, ptemp, "SCEPPreviousCA", &bad, err);
        }
        if (scep_cas_by_fingerprint(cas, ca->fingerprint)) {
            return rollover_fail(sp, ptemp, "SCEPPreviousCA", &bad, "this CA is configured "
                                 "already (as the current, next or another previous CA)");
        }
        if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp, SCEPLOGNO(00025)
                         "SCEPPreviousCA %s (%s, in %s) has expired, and with it every "
                         "certificate it issued: its CRL is no longer needed, remove it",
                         prev->cert, prev->where, scep_vhost_name(ptemp, sp));
        }
        APR_ARRAY_PUSH(cas->all, const scep_ca_t *) = ca;
    }
    return OK;
}

/* Why the next-CA directives do not fit together, or NULL. */
static const char *next_settings_problem(const scep_srv_conf_t *c,
                                         const scep_setting_t **pbad, const char **pdirective)
{
    if (c->next_ca_key.value && !c->next_ca.value) {
        *pbad = &c->next_ca_key;
        *pdirective = "SCEPNextCACertificateKeyFile";
        return "is set without SCEPNextCACertificateFile";
    }
    if (c->switch_time.value && !c->next_ca_key.value) {
        *pbad = &c->switch_time;
        *pdirective = "SCEPNextCASwitchTime";
        return "needs the next CA's key (SCEPNextCACertificateKeyFile): without it the next "
               "CA cannot issue";
    }
    if (!c->next_ra.value != !c->next_ra_key.value && c->next_ca_key.value) {
        *pbad = c->next_ra.value ? &c->next_ra : &c->next_ra_key;
        *pdirective = c->next_ra.value ? "SCEPNextRACertificateFile"
                                       : "SCEPNextRACertificateKeyFile";
        return "the next RA needs both SCEPNextRACertificateFile and "
               "SCEPNextRACertificateKeyFile";
    }
    if (c->next_ra_key.value && !c->next_ca_key.value) {
        *pbad = &c->next_ra_key;
        *pdirective = "SCEPNextRACertificateKeyFile";
        return "is set without SCEPNextCACertificateKeyFile";
    }
    return NULL;
}

int scep_rollover_load(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sp,
                       scep_srv_conf_t *c)
{
    scep_cas_t *cas = apr_pcalloc(pconf, sizeof(*cas));
    const scep_setting_t *bad;
    const char *err, *directive;

    c->cas = NULL;
    c->next_cacert = NULL;
    if ((err = next_settings_problem(c, &bad, &directive)) != NULL) {
        return rollover_fail(sp, ptemp, directive, bad, err);
    }
    cas->current = c->ca;
    cas->all = apr_array_make(pconf, 3, sizeof(const scep_ca_t *));
    APR_ARRAY_PUSH(cas->all, const scep_ca_t *) = c->ca;
    if (c->next_ca_key.value && load_next_issuer(pconf, ptemp, sp, c, cas) != OK) {
        return !OK;
    }
    if (load_previous(pconf, ptemp, sp, c, cas) != OK) {
        return !OK;
    }
    c->cas = cas;
    return OK;
}

const scep_ca_t *scep_active_ca(const scep_srv_conf_t *c, request_rec *r)
{
    return c->cas ? scep_cas_active(c->cas, (apr_int64_t)apr_time_sec(r->request_time))
                  : c->ca;
}
