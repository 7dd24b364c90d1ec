/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep: an RFC 8894 SCEP service for Apache httpd 2.4.
 *
 * This is the only file that knows httpd: directives, configuration
 * create/merge, start-up checks, the handler, request-body reading, the
 * mod_dbd adapter and the logging bridge. Everything else is in scep/.
 */

#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "apr_dbd.h"
#include "mod_dbd.h"
#include "apr_strings.h"
#include "apr_optional.h"

#include <openssl/err.h>
#include <openssl/provider.h>

#include "scep/scep.h"
#include "scep/scep_ca.h"
#include "scep/scep_msg.h"
#include "scep/scep_op.h"
#include "scep/scep_store.h"
#include "scep/scep_util.h"

module AP_MODULE_DECLARE_DATA scep_module;
APLOG_USE_MODULE(scep);

#define UNSET (-1)
#define DEFAULT_VALIDITY   (365 * 86400)
#define DEFAULT_MAX_BODY   (256 * 1024)

/******************************************************************************/
/* configuration                                                              */

/** A directive's value and where it was written, for start-up errors. */
typedef struct scep_setting_t {
    const char *value;
    const char *where;        /* file:line */
} scep_setting_t;

typedef struct scep_srv_conf_t {
    server_rec *s;
    scep_setting_t ca_cert, ca_key, ca_chain, ra_cert, ra_key;
    int legacy_wanted;        /* some Location enables legacy algorithms */
    scep_ca_t *ca;            /* loaded in check_config, read-only after */
    scep_oids_t *oids;
} scep_srv_conf_t;

typedef struct scep_dir_conf_t {
    const char *path;
    const char *challenge;    /* static secret, never logged */
    apr_size_t challenge_len;
    int challenge_set;
    apr_int64_t validity;
    int legacy;
    apr_int64_t max_body;
    scep_profile_t *profile;  /* built at merge: read-only per request */
} scep_dir_conf_t;

/* Optional functions of mod_dbd: the only statics, reset every generation. */
static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dbd_prepare_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire_fn;

static void *create_srv_conf(apr_pool_t *p, server_rec *s)
{
    scep_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    conf->s = s;
    conf->legacy_wanted = UNSET;
    return conf;
}

#define MERGE_SETTING(f) conf->f = add->f.value ? add->f : base->f

static void *merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    scep_srv_conf_t *base = basev, *add = addv;
    scep_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->s = add->s;
    MERGE_SETTING(ca_cert);
    MERGE_SETTING(ca_key);
    MERGE_SETTING(ca_chain);
    MERGE_SETTING(ra_cert);
    MERGE_SETTING(ra_key);
    conf->legacy_wanted = add->legacy_wanted != UNSET ? add->legacy_wanted
                                                      : base->legacy_wanted;
    return conf;
}

static scep_profile_t *make_profile(apr_pool_t *p, const scep_dir_conf_t *d)
{
    scep_profile_t *prof = apr_pcalloc(p, sizeof(*prof));
    prof->name = d->path ? d->path : "/";
    prof->challenge = (const unsigned char *)d->challenge;
    prof->challenge_len = d->challenge_len;
    prof->validity = d->validity != UNSET ? d->validity : DEFAULT_VALIDITY;
    prof->allow_legacy = d->legacy == 1;
    return prof;
}

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    scep_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    conf->path = dir ? apr_pstrdup(p, dir) : NULL;
    conf->validity = UNSET;
    conf->legacy = UNSET;
    conf->max_body = UNSET;
    conf->profile = make_profile(p, conf);
    return conf;
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    scep_dir_conf_t *base = basev, *add = addv;
    scep_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->path = add->path ? add->path : base->path;
    if (add->challenge_set) {
        conf->challenge = add->challenge;
        conf->challenge_len = add->challenge_len;
        conf->challenge_set = 1;
    }
    else {
        conf->challenge = base->challenge;
        conf->challenge_len = base->challenge_len;
        conf->challenge_set = base->challenge_set;
    }
    conf->validity = add->validity != UNSET ? add->validity : base->validity;
    conf->legacy = add->legacy != UNSET ? add->legacy : base->legacy;
    conf->max_body = add->max_body != UNSET ? add->max_body : base->max_body;
    conf->profile = make_profile(p, conf);
    return conf;
}

static const char *where(cmd_parms *cmd)
{
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                        cmd->directive->line_num);
}

static const char *set_file(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config,
                                                 &scep_module);
    scep_setting_t *setting = (scep_setting_t *)((char *)conf + (apr_size_t)cmd->info);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    const char *path;

    if (err) {
        return err;
    }
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg, NULL);
    }
    setting->value = path;
    setting->where = where(cmd);
    return NULL;
}

static const char *set_challenge(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;

    if (!*arg) {
        return "SCEPChallengePassword must not be empty";
    }
    conf->challenge = apr_pstrdup(cmd->pool, arg);
    conf->challenge_len = strlen(arg);
    conf->challenge_set = 1;
    conf->profile = make_profile(cmd->pool, conf);
    return NULL;
}

static const char *set_challenge_file(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    char *buf;
    apr_size_t len;
    apr_status_t rv;

    if (!path) {
        return apr_pstrcat(cmd->pool, "SCEPChallengePasswordFile: invalid path ", arg, NULL);
    }
    /* read once at start-up, as root, before privileges are dropped */
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    }
    if (rv == APR_SUCCESS && (fi.size <= 0 || fi.size > 65536)) {
        apr_file_close(f);
        return apr_psprintf(cmd->pool, "SCEPChallengePasswordFile %s: the file must hold "
                            "a secret of 1 to 65536 bytes", path);
    }
    if (rv == APR_SUCCESS) {
        len = (apr_size_t)fi.size;
        buf = apr_palloc(cmd->pool, len + 1);
        rv = apr_file_read_full(f, buf, len, &len);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        char msg[120];
        return apr_psprintf(cmd->pool, "SCEPChallengePasswordFile %s: cannot read: %s",
                            path, apr_strerror(rv, msg, sizeof(msg)));
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;          /* a trailing newline is not part of the secret */
    }
    if (len == 0) {
        return apr_psprintf(cmd->pool, "SCEPChallengePasswordFile %s is empty", path);
    }
    buf[len] = '\0';
    conf->challenge = buf;
    conf->challenge_len = len;
    conf->challenge_set = 1;
    conf->profile = make_profile(cmd->pool, conf);
    return NULL;
}

static const char *set_validity(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    apr_int64_t secs;

    if (scep_parse_duration(&secs, arg) != APR_SUCCESS || secs < 60) {
        return apr_pstrcat(cmd->pool, "SCEPValidity: '", arg, "' is not a duration "
                           "of at least 60s (a number with unit s, m, h or d; "
                           "default unit d)", NULL);
    }
    conf->validity = secs;
    conf->profile = make_profile(cmd->pool, conf);
    return NULL;
}

static const char *set_legacy(cmd_parms *cmd, void *dirconf, int flag)
{
    scep_dir_conf_t *conf = dirconf;
    scep_srv_conf_t *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &scep_module);
    conf->legacy = flag;
    if (flag) {
        sconf->legacy_wanted = 1;   /* so post_config loads the legacy provider */
    }
    conf->profile = make_profile(cmd->pool, conf);
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);

    if (*end || n < 1024 || n > 16 * 1024 * 1024) {
        return apr_pstrcat(cmd->pool, "SCEPMaxRequestBody: '", arg,
                           "' must be a number of bytes from 1024 to 16777216", NULL);
    }
    conf->max_body = n;
    return NULL;
}

#define SRV_FILE(name, field, help) \
    AP_INIT_TAKE1(name, set_file, (void *)APR_OFFSETOF(scep_srv_conf_t, field), \
                  RSRC_CONF, help)

static const command_rec scep_cmds[] = {
    SRV_FILE("SCEPCACertificateFile", ca_cert, "the issuing CA certificate (PEM)"),
    SRV_FILE("SCEPCACertificateKeyFile", ca_key, "the issuing CA private key (PEM)"),
    SRV_FILE("SCEPCAChainFile", ca_chain, "certificates above the CA, up to the root (PEM)"),
    SRV_FILE("SCEPRACertificateFile", ra_cert, "RA certificate: signs replies, decrypts requests"),
    SRV_FILE("SCEPRACertificateKeyFile", ra_key, "RA private key (PEM)"),
    AP_INIT_TAKE1("SCEPChallengePassword", set_challenge, NULL, RSRC_CONF | ACCESS_CONF,
                  "static challenge password for this enrollment point"),
    AP_INIT_TAKE1("SCEPChallengePasswordFile", set_challenge_file, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "file holding the static challenge password"),
    AP_INIT_TAKE1("SCEPValidity", set_validity, NULL, RSRC_CONF | ACCESS_CONF,
                  "validity of issued certificates, e.g. 365d, 12h"),
    AP_INIT_FLAG("SCEPLegacyAlgorithms", set_legacy, NULL, RSRC_CONF | ACCESS_CONF,
                 "accept single DES and MD5 (micromdm scepclient, old Cisco)"),
    AP_INIT_TAKE1("SCEPMaxRequestBody", set_max_body, NULL, RSRC_CONF | ACCESS_CONF,
                  "largest PKIOperation body accepted, in bytes"),
    { NULL }
};

/******************************************************************************/
/* start-up                                                                   */

static const char *directive_of(scep_ca_file_t which)
{
    switch (which) {
    case SCEP_CA_FILE_KEY: return "SCEPCACertificateKeyFile";
    case SCEP_CA_FILE_CHAIN: return "SCEPCAChainFile";
    case SCEP_CA_FILE_RA_CERT: return "SCEPRACertificateFile";
    case SCEP_CA_FILE_RA_KEY: return "SCEPRACertificateKeyFile";
    default: return "SCEPCACertificateFile";
    }
}

static const scep_setting_t *setting_of(scep_srv_conf_t *c, scep_ca_file_t which)
{
    switch (which) {
    case SCEP_CA_FILE_KEY: return &c->ca_key;
    case SCEP_CA_FILE_CHAIN: return &c->ca_chain;
    case SCEP_CA_FILE_RA_CERT: return &c->ra_cert;
    case SCEP_CA_FILE_RA_KEY: return &c->ra_key;
    default: return &c->ca_cert;
    }
}

static const char *vhost_name(apr_pool_t *p, server_rec *s)
{
    if (!s->defn_name) {
        return apr_psprintf(p, "%s", s->server_hostname ? s->server_hostname : "main server");
    }
    return apr_psprintf(p, "%s (%s:%u)", s->server_hostname ? s->server_hostname : "",
                        s->defn_name, s->defn_line_number);
}

/* Load every server's CA material as root, before privileges are dropped.
 * Runs under `apachectl -t` too, so configuration errors surface there. */
static int scep_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *loaded = apr_hash_make(ptemp);
    scep_oids_t *oids;
    server_rec *sp;

    if (scep_oids_make(&oids, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00001)
                     "cannot create the SCEP attribute OIDs");
        return !OK;
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        scep_ca_files_t files;
        scep_ca_file_t which;
        const char *err = NULL, *key;
        scep_ca_t *ca;

        c->oids = oids;
        if (!c->ca_cert.value && !c->ca_key.value) {
            if (c->ra_cert.value || c->ra_key.value || c->ca_chain.value) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00002)
                             "%s: SCEPRACertificateFile/SCEPCAChainFile set but no "
                             "SCEPCACertificateFile", vhost_name(ptemp, sp));
                return !OK;
            }
            continue;
        }
        if (!c->ca_cert.value || !c->ca_key.value) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00003)
                         "%s: %s is set (%s) but %s is missing", vhost_name(ptemp, sp),
                         c->ca_cert.value ? "SCEPCACertificateFile" : "SCEPCACertificateKeyFile",
                         c->ca_cert.value ? c->ca_cert.where : c->ca_key.where,
                         c->ca_cert.value ? "SCEPCACertificateKeyFile" : "SCEPCACertificateFile");
            return !OK;
        }
        files.cert = c->ca_cert.value;
        files.key = c->ca_key.value;
        files.chain = c->ca_chain.value;
        files.ra_cert = c->ra_cert.value;
        files.ra_key = c->ra_key.value;
        /* vhosts that inherit the same files share one loaded CA */
        key = apr_pstrcat(ptemp, files.cert, "|", files.key, "|",
                          files.chain ? files.chain : "", "|",
                          files.ra_cert ? files.ra_cert : "", "|",
                          files.ra_key ? files.ra_key : "", NULL);
        ca = apr_hash_get(loaded, key, APR_HASH_KEY_STRING);
        if (!ca) {
            if (scep_ca_load(&ca, pconf, &files, &err, &which) != APR_SUCCESS) {
                const scep_setting_t *bad = setting_of(c, which);
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00004)
                             "%s %s (%s, in %s): %s", directive_of(which),
                             bad->value ? bad->value : "(not set)",
                             bad->where ? bad->where : "-", vhost_name(ptemp, sp), err);
                return !OK;
            }
            apr_hash_set(loaded, key, APR_HASH_KEY_STRING, ca);
        }
        c->ca = ca;
    }
    return OK;
}

static apr_status_t unload_provider(void *data)
{
    OSSL_PROVIDER_unload(data);
    return APR_SUCCESS;
}

static int scep_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    dbd_prepare_fn = NULL;
    dbd_acquire_fn = NULL;
    return OK;
}

/* Runs before mod_dbd's post_config, so our statements are prepared on
 * every connection it opens. */
static int scep_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    module *dbd_module = ap_find_linked_module("mod_dbd.c");
    apr_hash_t *prepared_for = apr_hash_make(ptemp);
    int any_ca = 0, legacy = 0;
    server_rec *sp;

    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        any_ca |= c->ca != NULL;
        legacy |= c->legacy_wanted == 1;
    }
    if (!any_ca) {
        return OK;
    }
    dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    dbd_acquire_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    if (!dbd_prepare_fn || !dbd_acquire_fn || !dbd_module) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00005)
                     "mod_scep records every enrollment through mod_dbd: "
                     "add LoadModule dbd_module and DBDriver/DBDParams");
        return !OK;
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        void *dbd_conf = ap_get_module_config(sp->module_config, dbd_module);
        const scep_sql_t *q;

        /* vhosts without DBD directives share the main server's mod_dbd
         * configuration: prepare once per configuration object */
        if (!c->ca || apr_hash_get(prepared_for, &dbd_conf, sizeof(dbd_conf))) {
            continue;
        }
        apr_hash_set(prepared_for, apr_pmemdup(ptemp, &dbd_conf, sizeof(dbd_conf)),
                     sizeof(dbd_conf), "");
        for (q = scep_store_sql; q->label; q++) {
            dbd_prepare_fn(sp, q->sql, q->label);
        }
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

static apr_status_t open_store(void *baton, scep_store_t **pstore)
{
    request_rec *r = baton;
    ap_dbd_t *dbd = dbd_acquire_fn ? dbd_acquire_fn(r) : NULL;
    scep_store_t *st;

    if (!dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00301)
                      "no database connection from mod_dbd (check DBDriver/DBDParams "
                      "and that the schema from conf/ is loaded)");
        return SCEP_EDB;
    }
    st = apr_palloc(r->pool, sizeof(*st));
    st->driver = dbd->driver;
    st->handle = dbd->handle;
    st->prepared = dbd->prepared;
    *pstore = st;
    return APR_SUCCESS;
}

/* Read the whole body, refusing more than max bytes. */
static int read_body(request_rec *r, apr_size_t max, unsigned char **pbuf,
                     apr_size_t *plen)
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
    cap = r->remaining > 0 ? (apr_size_t)r->remaining : 8192;
    buf = apr_palloc(r->pool, cap + 1);
    if (ap_should_client_block(r)) {
        for (;;) {
            if (len == cap) {
                unsigned char *bigger;
                if (cap >= max) {
                    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SCEPLOGNO(00303)
                                  "chunked request body over the limit of %"
                                  APR_SIZE_T_FMT " bytes (SCEPMaxRequestBody)", max);
                    return HTTP_REQUEST_ENTITY_TOO_LARGE;
                }
                cap = cap * 2 > max ? max : cap * 2;
                bigger = apr_palloc(r->pool, cap + 1);
                memcpy(bigger, buf, len);
                buf = bigger;
            }
            n = ap_get_client_block(r, (char *)buf + len, cap - len);
            if (n < 0) {
                return HTTP_BAD_REQUEST;
            }
            if (n == 0) {
                break;
            }
            len += (apr_size_t)n;
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

static int scep_handler(request_rec *r)
{
    scep_srv_conf_t *sconf;
    scep_dir_conf_t *dconf;
    apr_table_t *args;
    scep_ctx_t ctx;
    scep_service_t svc;
    scep_http_in_t in;
    scep_http_out_t out;
    int rc;

    if (!r->handler || strcmp(r->handler, "scep")) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_discard_request_body(r);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    sconf = ap_get_module_config(r->server->module_config, &scep_module);
    dconf = ap_get_module_config(r->per_dir_config, &scep_module);
    if (!sconf->ca) {
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
        if ((rc = read_body(r, max, &body, &in.body_len)) != OK) {
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

    ctx.pool = r->pool;
    ctx.log = log_bridge;
    ctx.log_baton = r;
    ctx.log_level = (scep_log_level_t)ap_get_request_module_loglevel(r, APLOG_MODULE_INDEX);
    svc.ca = sconf->ca;
    svc.oids = sconf->oids;
    svc.profile = dconf->profile;
    svc.open_store = open_store;
    svc.store_baton = r;
    scep_op_handle(&ctx, &svc, &in, &out);

    r->status = out.status;
    ap_set_content_type(r, out.content_type);
    ap_set_content_length(r, (apr_off_t)out.len);
    if (!r->header_only) {
        ap_rwrite(out.body, (int)out.len, r);
    }
    return OK;
}

static void scep_register_hooks(apr_pool_t *p)
{
    static const char *const before_dbd[] = { "mod_dbd.c", NULL };

    ap_hook_pre_config(scep_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(scep_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(scep_post_config, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_handler(scep_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA scep_module = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    create_srv_conf,
    merge_srv_conf,
    scep_cmds,
    scep_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
