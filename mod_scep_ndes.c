/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: SetHandler scep-ndes, the page of Microsoft NDES's
 * /certsrv/mscep_admin/ that MDMs and scripts fetch one-time challenges
 * from (the page itself is scep/scep_ndes.c). Its directives, their
 * start-up check, and the handler, which fails closed without an
 * authenticated user.
 */

#include "mod_scep_private.h"
#include "scep/scep_ndes.h"

#define NDES_DEFAULT_VALIDITY (60 * 60)    /* NDES: 60 minutes */
#define NDES_DEFAULT_CACHE    5            /* NDES: 5 passwords per user */

void scep_ndes_conf_init(scep_ndes_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->validity = UNSET;
    c->cache_size = UNSET;
}

void scep_ndes_conf_merge(scep_ndes_conf_t *out, const scep_ndes_conf_t *base,
                          const scep_ndes_conf_t *add)
{
    out->profile = add->profile ? add->profile : base->profile;
    out->where = add->profile ? add->where : base->where;
    out->validity = add->validity != UNSET ? add->validity : base->validity;
    out->cache_size = add->cache_size != UNSET ? add->cache_size : base->cache_size;
    out->users = add->users ? add->users : base->users;
}

const char *scep_ndes_set_profile(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = dirconf;
    scep_srv_conf_t *sconf = ap_get_module_config(cmd->server->module_config, &scep_module);

    d->ndes.profile = apr_pstrdup(cmd->pool, arg);
    d->ndes.where = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                                 cmd->directive->line_num);
    APR_ARRAY_PUSH(sconf->ndes_sections, scep_dir_conf_t *) = d;
    return NULL;
}

const char *scep_ndes_set_validity(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = dirconf;
    apr_int64_t secs;

    if (scep_parse_duration(&secs, arg) != APR_SUCCESS || secs < 60 || secs > 30 * 86400) {
        return "SCEPNDESChallengeValidity: a duration from 60s to 30d, e.g. 60m";
    }
    d->ndes.validity = secs;
    return NULL;
}

const char *scep_ndes_set_cache(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = dirconf;
    apr_int64_t n = 0;
    const char *err = scep_number_arg(cmd, arg, 1, 1000, "a number", &n);

    d->ndes.cache_size = err ? d->ndes.cache_size : (int)n;
    return err;
}

const char *scep_ndes_set_users(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = dirconf;

    if (!d->ndes.users) {
        d->ndes.users = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(d->ndes.users, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

/* The profile must exist in the server and take one-time challenges: a
 * challenge the SCEP Location would refuse is worse than no page. */
int scep_ndes_check(apr_pool_t *ptemp, server_rec *s)
{
    for (; s; s = s->next) {
        scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);
        int i;

        for (i = 0; i < c->ndes_sections->nelts; i++) {
            const scep_dir_conf_t *d = APR_ARRAY_IDX(c->ndes_sections, i, scep_dir_conf_t *);
            const scep_profile_t *prof = c->named ? apr_hash_get(c->named, d->ndes.profile,
                                                                 APR_HASH_KEY_STRING) : NULL;
            const char *why = !c->ca ? "the server has no SCEPCACertificateFile"
                              : !prof ? "no Location of the server has this profile "
                                        "(SCEPProfileName, or the Location's path)"
                              : !prof->one_time ? "its Location does not take one-time "
                                                  "challenges (SCEPOneTimeChallenges on)"
                              : NULL;
            if (why) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00340)
                             "SCEPNDESProfile %s (%s, in %s): %s", d->ndes.profile,
                             d->ndes.where, scep_vhost_name(ptemp, s), why);
                return !OK;
            }
        }
    }
    return OK;
}

static int user_allowed(const scep_ndes_conf_t *c, const char *user)
{
    int i;

    for (i = 0; c->users && i < c->users->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(c->users, i, const char *), user)) {
            return 1;
        }
    }
    return !c->users;
}

int scep_ndes_handler(request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    scep_dir_conf_t *dconf = ap_get_module_config(r->per_dir_config, &scep_module);
    scep_store_t *st = NULL;
    scep_ndes_out_t out;
    scep_ndes_t nd;
    scep_ctx_t ctx;

    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
    ap_discard_request_body(r);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!r->user) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, SCEPLOGNO(00341)
                      "refusing scep-ndes: no authenticated user (configure AuthType and "
                      "Require for this Location)");
        return HTTP_FORBIDDEN;
    }
    if (!sconf->ca || !dconf->ndes.profile) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00342)
                      "SetHandler scep-ndes needs SCEPNDESProfile in its Location and a CA "
                      "in its server");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    scep_request_ctx(&ctx, r);
    memset(&nd, 0, sizeof(nd));
    nd.ca = scep_active_ca(sconf, r);
    nd.profile = dconf->ndes.profile;
    nd.validity = dconf->ndes.validity != UNSET ? dconf->ndes.validity : NDES_DEFAULT_VALIDITY;
    nd.cache_size = dconf->ndes.cache_size != UNSET ? dconf->ndes.cache_size
                                                    : NDES_DEFAULT_CACHE;
    nd.user = r->user;
    nd.client_addr = r->useragent_ip;
    nd.allowed = user_allowed(&dconf->ndes, r->user);
    if (nd.allowed && scep_dbd_open_store(r, &st) != APR_SUCCESS) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    scep_ndes_handle(&ctx, &nd, st, &out);
    /* a challenge is a secret: no cache may keep the page */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return scep_send(r, out.status, out.content_type, out.body, out.len);
}
