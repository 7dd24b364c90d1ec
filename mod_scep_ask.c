/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep's glue for whom a Location asks and tells: the directives of
 * the validation and notification webhooks and of httpd's authentication
 * providers, turned into the profile's parts at start-up; the bridge to
 * the providers for a request; and the child's outbound HTTPS client.
 */

#include "mod_scep_private.h"
#include "mod_auth.h"
#include "apr_atomic.h"
#include "ap_mpm.h"
#include "scep/scep_http.h"
#include "scep/scep_notify.h"
#include "scep/scep_webhook.h"
#include "scep/scep_intune.h"

#define DEFAULT_OUTBOUND_TIMEOUT 10
#define MAX_CONNECT_TIMEOUT 5
/* requests of one Location that may wait for its validators, per child:
 * by default three quarters of the child's threads, so a validator that
 * hangs always leaves the others a quarter */
#define DEFAULT_OUTBOUND_SHARE(threads) ((threads) * 3 / 4 > 0 ? (threads) * 3 / 4 : 1)

static void http_conf_of(scep_http_conf_t *h, const scep_ask_conf_t *c);

void scep_ask_conf_init(scep_ask_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->webhook_names = UNSET;
    c->unavailable_pending = UNSET;
    c->timeout = UNSET;
}

void scep_ask_conf_merge(scep_ask_conf_t *out, const scep_ask_conf_t *base,
                         const scep_ask_conf_t *add)
{
#define TAKE_PTR(f) out->f = add->f ? add->f : base->f
#define TAKE_INT(f) out->f = add->f != UNSET ? add->f : base->f
    TAKE_PTR(webhook_url);
    TAKE_INT(webhook_names);
    TAKE_INT(unavailable_pending);
    TAKE_PTR(notify_url);
    TAKE_PTR(ca_file);
    TAKE_PTR(proxy);
    TAKE_PTR(authn);
    TAKE_INT(timeout);
    TAKE_PTR(intune_tenant);
    TAKE_PTR(intune_client_id);
    TAKE_PTR(intune_token_url);
    TAKE_PTR(intune_discovery_url);
    TAKE_PTR(intune_service_url);
#undef TAKE_PTR
#undef TAKE_INT
    out->secret = add->secret ? add->secret : base->secret;
    out->secret_len = add->secret ? add->secret_len : base->secret_len;
    out->intune_secret = add->intune_secret ? add->intune_secret : base->intune_secret;
    out->intune_secret_len = add->intune_secret ? add->intune_secret_len
                                                : base->intune_secret_len;
}

/* SCEPIntune*: the client's configuration, or a reason it cannot work. */
static const char *intune_of_conf(apr_pool_t *p, const scep_ask_conf_t *c,
                                  const scep_profile_t *prof)
{
    scep_intune_conf_t *ic;
    const char *problem;

    if (!c->intune_tenant && !c->intune_client_id && !c->intune_secret) {
        return NULL;
    }
    if (!c->intune_tenant || !c->intune_client_id || !c->intune_secret) {
        return "Intune validation needs SCEPIntuneTenant, SCEPIntuneClientID and "
               "SCEPIntuneSecretFile";
    }
    ic = apr_pcalloc(p, sizeof(*ic));
    ic->tenant = c->intune_tenant;
    ic->client_id = c->intune_client_id;
    ic->client_secret = (const unsigned char *)c->intune_secret;
    ic->client_secret_len = c->intune_secret_len;
    ic->caller_info = "mod_scep/" SCEP_VERSION;
    ic->token_url = c->intune_token_url;
    ic->discovery_url = c->intune_discovery_url;
    ic->service_url = c->intune_service_url;
    http_conf_of(&ic->http, c);
    if ((problem = scep_intune_conf_check(p, ic)) != NULL) {
        return apr_pstrcat(p, "Intune: ", problem, NULL);
    }
    ((scep_profile_t *)prof)->intune = ic;
    return NULL;
}

static void http_conf_of(scep_http_conf_t *h, const scep_ask_conf_t *c)
{
    apr_int64_t timeout = c->timeout != UNSET ? c->timeout : DEFAULT_OUTBOUND_TIMEOUT;

    scep_http_conf_init(h);
    h->timeout = apr_time_from_sec(timeout);
    h->connect_timeout = apr_time_from_sec(timeout < MAX_CONNECT_TIMEOUT ? timeout
                                                                         : MAX_CONNECT_TIMEOUT);
    h->ca_file = c->ca_file;
    h->proxy = c->proxy;
}

const char *scep_ask_build(apr_pool_t *p, const scep_ask_conf_t *c, scep_profile_t *prof)
{
    int i;

    if ((c->webhook_url || c->notify_url) && !c->secret) {
        return "SCEPValidationWebhook and SCEPNotifyWebhook need SCEPWebhookSecretFile "
               "(the key receivers check the signature with)";
    }
    if (c->webhook_url) {
        scep_webhook_t *hook = apr_pcalloc(p, sizeof(*hook));
        hook->url = c->webhook_url;
        hook->secret = (const unsigned char *)c->secret;
        hook->secret_len = c->secret_len;
        hook->names_allowed = c->webhook_names == 1;
        http_conf_of(&hook->http, c);
        prof->webhook = hook;
    }
    if (c->notify_url) {
        scep_notify_t *notify = apr_pcalloc(p, sizeof(*notify));
        notify->url = c->notify_url;
        notify->secret = (const unsigned char *)c->secret;
        notify->secret_len = c->secret_len;
        http_conf_of(&notify->http, c);
        prof->notify = notify;
    }
    prof->validation_pending = c->unavailable_pending == 1;
    for (i = 0; c->authn && i < c->authn->nelts; i++) {
        const char *name = APR_ARRAY_IDX(c->authn, i, const char *);
        const authn_provider *prov = ap_lookup_provider(AUTHN_PROVIDER_GROUP, name,
                                                        AUTHN_PROVIDER_VERSION);
        if (!prov || !prov->check_password) {
            return apr_psprintf(p, "SCEPChallengeAuthProvider %s: no such authentication "
                                "provider (is mod_authn_%s loaded?)", name, name);
        }
    }
    prof->authn_providers = c->authn;
    return intune_of_conf(p, c, prof);
}

/* ---- directives ---------------------------------------------------------- */

#define ASK_SLOT(cmd, dirconf, type) \
    ((type *)((char *)scep_touch(cmd, dirconf, 0) + (apr_size_t)(cmd)->info))

const char *scep_ask_set_url(cmd_parms *cmd, void *dirconf, const char *arg)
{
    int proxy = !strcmp(cmd->cmd->name, "SCEPOutboundProxy");
    apr_uri_t uri;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme || !uri.hostname
        || (strcasecmp(uri.scheme, "https") && !(proxy && !strcasecmp(uri.scheme, "http")))) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an %s URL", cmd->cmd->name, arg,
                            proxy ? "http:// or https://" : "https://");
    }
    *ASK_SLOT(cmd, dirconf, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

const char *scep_ask_set_flag(cmd_parms *cmd, void *dirconf, int flag)
{
    *ASK_SLOT(cmd, dirconf, int) = flag;
    return NULL;
}

const char *scep_ask_set_unavailable(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = scep_touch(cmd, dirconf, 0);

    if (!strcasecmp(arg, "refuse") || !strcasecmp(arg, "pending")) {
        d->ask.unavailable_pending = !strcasecmp(arg, "pending");
        return NULL;
    }
    return "SCEPValidationUnavailable: refuse or pending";
}

const char *scep_ask_set_secret(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = scep_touch(cmd, dirconf, 0);

    return scep_read_secret_file(cmd, arg, 16, 4096, &d->ask.secret, &d->ask.secret_len);
}

const char *scep_ask_set_timeout(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = scep_touch(cmd, dirconf, 0);

    return scep_number_arg(cmd, arg, 1, 300, "seconds", &d->ask.timeout);
}

const char *scep_ask_set_path(cmd_parms *cmd, void *dirconf, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;

    if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || fi.filetype != APR_REG) {
        return apr_psprintf(cmd->pool, "%s: %s is not a readable file", cmd->cmd->name, arg);
    }
    *ASK_SLOT(cmd, dirconf, const char *) = path;
    return NULL;
}

const char *scep_ask_set_provider(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = scep_touch(cmd, dirconf, 0);

    /* one directive line is the whole list (ITERATE calls once a word) */
    if (!d->ask.authn || d->ask.authn_line != cmd->directive) {
        d->ask.authn = apr_array_make(cmd->pool, 2, sizeof(const char *));
        d->ask.authn_line = cmd->directive;
    }
    APR_ARRAY_PUSH(d->ask.authn, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

const char *scep_ask_set_word(cmd_parms *cmd, void *dirconf, const char *arg)
{
    *ASK_SLOT(cmd, dirconf, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

const char *scep_ask_set_intune_secret(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *d = scep_touch(cmd, dirconf, 0);

    return scep_read_secret_file(cmd, arg, 1, 4096, &d->ask.intune_secret,
                                 &d->ask.intune_secret_len);
}

const char *scep_ask_set_intune_endpoints(cmd_parms *cmd, void *dirconf, const char *token,
                                          const char *discovery)
{
    scep_dir_conf_t *d = scep_touch(cmd, dirconf, 0);

    if (strncasecmp(token, "https://", 8) || strncasecmp(discovery, "https://", 8)) {
        return "SCEPIntuneEndpoints: two https:// URLs, the token's and the discovery's";
    }
    d->ask.intune_token_url = apr_pstrdup(cmd->pool, token);
    d->ask.intune_discovery_url = apr_pstrdup(cmd->pool, discovery);
    return NULL;
}

const char *scep_ask_set_max_calls(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    apr_int64_t n = 0;
    const char *err = scep_number_arg(cmd, arg, 1, 10000, "a number", &n);

    (void)dummy;
    conf->outbound_max = err ? conf->outbound_max : (int)n;
    return err;
}

/* ---- a request ----------------------------------------------------------- */

/* scep_check_password_fn: httpd's providers in turn, as mod_auth_basic
 * asks them: the next is asked only when one does not know the user, so
 * the first that knows the device decides (a password it refuses is not
 * tried on the others); an error makes no answer. */
static scep_verdict_kind_t check_password(void *baton, const apr_array_header_t *providers,
                                          const char *user, const char *password)
{
    request_rec *r = baton;
    int i;

    for (i = 0; i < providers->nelts; i++) {
        const char *name = APR_ARRAY_IDX(providers, i, const char *);
        const authn_provider *prov = ap_lookup_provider(AUTHN_PROVIDER_GROUP, name,
                                                        AUTHN_PROVIDER_VERSION);
        authn_status st;

        if (!prov || !prov->check_password) {
            continue;
        }
        apr_table_setn(r->notes, AUTHN_PROVIDER_NAME_NOTE, name);
        st = prov->check_password(r, user, password);
        apr_table_unset(r->notes, AUTHN_PROVIDER_NAME_NOTE);
        if (st == AUTH_GRANTED) {
            return SCEP_VERDICT_ALLOW;
        }
        if (st == AUTH_GENERAL_ERROR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00323)
                          "authentication provider %s could not check the challenge of %s "
                          "(SCEPChallengeAuthProvider)", name, user);
            return SCEP_VERDICT_UNAVAILABLE;
        }
        if (st != AUTH_USER_NOT_FOUND) {
            break;
        }
    }
    return SCEP_VERDICT_DENY;
}

/* The child's Intune client of a profile (by name: a profile built for a
 * request of nested sections is the same Location's). */
static scep_intune_t *intune_of(void *baton, const scep_profile_t *prof)
{
    const scep_srv_conf_t *sconf = baton;

    return sconf->intune ? apr_hash_get(sconf->intune, prof->name, APR_HASH_KEY_STRING) : NULL;
}

/* Per child and Location: how many requests wait for a validator. */
static apr_uint32_t *inflight_of(const scep_srv_conf_t *sconf, const scep_profile_t *prof)
{
    return sconf->inflight ? apr_hash_get(sconf->inflight, prof->name, APR_HASH_KEY_STRING)
                           : NULL;
}

static int outbound_enter(void *baton, const scep_profile_t *prof)
{
    const scep_srv_conf_t *sconf = baton;
    apr_uint32_t *n = inflight_of(sconf, prof);
    int max = sconf->outbound_max;

    if (!n) {
        return 1;          /* a profile built for one request: not bounded */
    }
    if (apr_atomic_inc32(n) >= (apr_uint32_t)max) {
        apr_atomic_dec32(n);
        return 0;
    }
    return 1;
}

static void outbound_leave(void *baton, const scep_profile_t *prof)
{
    apr_uint32_t *n = inflight_of(baton, prof);

    if (n) {
        apr_atomic_dec32(n);
    }
}

void scep_ask_env(scep_env_t *env, request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);

    env->check_password = check_password;
    env->check_baton = r;
    env->http = sconf->http;
    env->intune_of = intune_of;
    env->intune_baton = sconf;
    env->outbound_enter = outbound_enter;
    env->outbound_leave = outbound_leave;
    env->outbound_baton = sconf;
}

scep_intune_t *scep_ask_intune(const scep_srv_conf_t *sconf, const scep_profile_t *prof)
{
    return intune_of((void *)sconf, prof);
}

/* ---- a child ------------------------------------------------------------- */

int scep_ask_configured(const scep_srv_conf_t *c, unsigned what)
{
    apr_hash_index_t *hi;

    for (hi = c->named ? apr_hash_first(NULL, c->named) : NULL; hi; hi = apr_hash_next(hi)) {
        const scep_profile_t *prof = apr_hash_this_val(hi);
        if (((what & SCEP_ASKS) && (prof->webhook || prof->intune))
            || ((what & SCEP_TELLS) && (prof->notify || prof->intune))) {
            return 1;
        }
    }
    return 0;
}

/* Each Intune profile's client, in this child (its tokens are its own). */
static void make_intune_clients(apr_pool_t *pchild, server_rec *s, scep_srv_conf_t *c)
{
    apr_hash_index_t *hi;

    c->intune = apr_hash_make(pchild);
    c->inflight = apr_hash_make(pchild);
    if (c->outbound_max <= 0) {
        int threads = 1;
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        c->outbound_max = DEFAULT_OUTBOUND_SHARE(threads > 0 ? threads : 1);
    }
    for (hi = apr_hash_first(pchild, c->named); hi; hi = apr_hash_next(hi)) {
        const scep_profile_t *prof = apr_hash_this_val(hi);
        scep_intune_t *client;

        if (prof->webhook || prof->intune) {
            apr_hash_set(c->inflight, prof->name, APR_HASH_KEY_STRING,
                         apr_pcalloc(pchild, sizeof(apr_uint32_t)));
        }
        if (!prof->intune) {
            continue;
        }
        if (!(client = scep_intune_make(pchild, prof->intune))) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SCEPLOGNO(00322)
                         "profile %s: cannot make the Intune client in this child", prof->name);
            continue;
        }
        apr_hash_set(c->intune, prof->name, APR_HASH_KEY_STRING, client);
    }
}

void scep_ask_child_init(apr_pool_t *pchild, server_rec *s)
{
    scep_http_t *http = NULL;
    server_rec *sp;
    apr_status_t rv;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        if (!c->ca || !scep_ask_configured(c, SCEP_ASKS | SCEP_TELLS)) {
            continue;
        }
        if (!http) {
            if ((rv = scep_http_global_init(pchild)) != APR_SUCCESS
                || (rv = scep_http_make(&http, pchild)) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SCEPLOGNO(00321)
                             "cannot set up outbound HTTPS (libcurl) in this child: "
                             "webhooks and Intune will answer as unavailable");
                return;
            }
        }
        c->http = http;
        make_intune_clients(pchild, sp, c);
    }
}
