/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep's glue: what the three files of the module share. mod_scep.c
 * has the hooks and the handlers, mod_scep_config.c the directives and the
 * start-up checks, mod_scep_dbd.c everything that touches mod_dbd.
 */
#ifndef MOD_SCEP_PRIVATE_H
#define MOD_SCEP_PRIVATE_H

#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "util_mutex.h"
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
#include "scep/scep_metrics.h"
#include "scep/scep_ossl.h"
#include "scep/scep_policy.h"
#include "scep/scep_admin.h"
#include "scep/scep_crl_cache.h"
#include "ap_expr.h"

extern module AP_MODULE_DECLARE_DATA scep_module;
APLOG_USE_MODULE(scep);

#define UNSET (-1)
#define DEFAULT_MAX_BODY   (256 * 1024)
#define DEFAULT_CRL_VALIDITY (7 * 86400)
#define DEFAULT_THROTTLE_COUNT 20
#define DEFAULT_THROTTLE_WINDOW (10 * 60)
/* SCEPRequestLimit defaults: far above what real clients send */
#define DEFAULT_MAX_ATTRIBUTES  16
#define DEFAULT_MAX_EXTENSIONS  32
#define DEFAULT_MAX_SUBJECT_RDNS 16
#define DEFAULT_MAX_SUBJECT_LEN 1024
#define DEFAULT_MAX_SANS        64
#define ADMIN_MAX_BODY     (64 * 1024)

/******************************************************************************/
/* configuration                                                              */

/** A directive's value and where it was written, for start-up errors. */
typedef struct scep_setting_t {
    const char *value;
    const char *where;        /* file:line */
} scep_setting_t;

/* SCEPPreviousCA: a CA the server issued from before. */
typedef struct scep_previous_ca_t {
    const char *cert, *key;
    const char *where;        /* file:line */
} scep_previous_ca_t;

typedef struct scep_srv_conf_t {
    server_rec *s;
    scep_setting_t ca_cert, ca_key, ca_chain, ra_cert, ra_key;
    scep_setting_t ra_enc_cert, ra_enc_key;  /* SCEPRAEncryptionCertificate(Key)File */
    scep_setting_t next_ca, next_ra;  /* SCEPNextCACertificateFile, SCEPNextRACertificateFile */
    const scep_cacert_t *nextcacert;  /* GetNextCACert's answer, or NULL */
    scep_setting_t next_ca_key, next_ra_key;  /* the next CA issues from switch_time */
    scep_setting_t switch_time;       /* SCEPNextCASwitchTime: UTC or "notBefore" */
    apr_array_header_t *previous;     /* scep_previous_ca_t: SCEPPreviousCA, or NULL */
    scep_cas_t *cas;                  /* every CA of the server (check_config) */
    const scep_cacert_t *next_cacert; /* GetCACert's answer after the switch-over */
    int legacy_wanted;        /* some Location enables legacy algorithms */
    apr_int64_t crl_validity; /* SCEPCRLValidity */
    apr_array_header_t *locations;  /* scep_dir_conf_t * with profile directives */
    int inherited;                  /* locations[0..inherited-1] are the main server's */
    scep_ca_t *ca;            /* loaded in check_config, read-only after */
    scep_oids_t *oids;
    apr_hash_t *named;        /* profile name -> scep_profile_t *, built at start-up */
    const scep_cacert_t *cacert;  /* GetCACert's answer, built at start-up */
    const unsigned char *admin_secret;  /* SCEPAdminSecretFile, else made in post_config */
    apr_size_t admin_secret_len;
    const char *pass_dialog;          /* SCEPPassPhraseDialog, or NULL (builtin) */
    const char *pkcs11_module;        /* SCEPPKCS11Module (main server), or NULL */
    scep_pkcs11_t *pkcs11;            /* main server: the engine, when a key needs it */
    int pkcs11_failed;                /* main server: it could not be loaded (said) */
    struct scep_token_watch_t *token_watch;  /* main server: children's alarm and the
                                                parent's probe (mod_scep_pkcs11.c) */
    X509 *mc_cert;                    /* SCEPMobileconfigSigner, or NULL */
    EVP_PKEY *mc_key;
    X509 *ocsp_cert;                  /* SCEPOCSPSigner, or NULL: the CA signs */
    EVP_PKEY *ocsp_key;
    const char *ocsp_signer_where;    /* its directive's file:line */
    apr_int64_t ocsp_validity;        /* SCEPOCSPValidity, UNSET: 1 hour */
    const char *ocsp_cache_spec;      /* SCEPOCSPCache (main server), NULL: shmcb if loaded */
    struct scep_ocsp_cache_t *ocsp_cache;  /* shared by every child, or NULL */
    struct scep_health_keys_t *health_keys;  /* this child's last key check (child_init) */
    struct scep_metrics_t *metrics;   /* shared by every child and server (post_config) */
    apr_hash_t *metric_slots;         /* profile name -> int *: its Location's counters */
    struct scep_db_lock_t *db_lock;   /* shared by servers with the same mod_dbd config */
    /* this child's, set in child_init (mod_scep_ask.c) */
    struct scep_http_t *http;         /* outbound HTTPS, shared by the child's threads */
    apr_hash_t *intune;               /* profile name -> scep_intune_t * */
    apr_hash_t *inflight;             /* profile name -> apr_uint32_t: requests waiting
                                         for its validators, in this child */
    int outbound_max;                 /* SCEPOutboundMaxCalls, 0: default */
    int sqlite_writer;                /* SCEPSQLiteWriter: SQLITE_WRITER_*, 0: unset */
    apr_array_header_t *ndes_sections;  /* scep_dir_conf_t * with SCEPNDESProfile */
    int memory_trim;                  /* SCEPMemoryTrim (main server): 1 on, -1 off, 0 unset */
    struct scep_trim_t *trim;         /* main server: this child's (child_init), NULL: off */
    int operation_slots;              /* SCEPOperationSlots (main server): N, -1 off, 0 unset */
    scep_slots_t *slots;              /* main server: this child's (child_init), NULL: off */
} scep_srv_conf_t;

/* The SQLite writers' lock (see scep_store_t.write_lock), one per mod_dbd
 * configuration; a holder so that every server sharing it sees the handle
 * child_init re-opens. */
typedef struct scep_db_lock_t {
    apr_global_mutex_t *mutex;
    int sqlite;               /* its DBDriver is sqlite3 */
    int held;                 /* this child holds it across mod_dbd's child_init */
    scep_commit_queue_t *queue;   /* this child's group commit (SQLite) */
} scep_db_lock_t;

#define DB_LOCK_TYPE "scep-db"

/* SCEPSQLiteWriter: who writes SQLite's group commits */
enum { SQLITE_WRITER_REQUESTS = 1, SQLITE_WRITER_REALTIME };

/* Which policy fields a section sets itself (the rest is inherited). */
enum {
    SET_SUBJECT = 1 << 0, SET_SUBJECT_EXCESS = 1 << 1, SET_SAN = 1 << 2,
    SET_SAN_EXCESS = 1 << 3, SET_KEY_ALGS = 1 << 4, SET_RSA_SIZE = 1 << 5,
    SET_VALIDITY = 1 << 6, SET_BACKDATE = 1 << 7, SET_CAP = 1 << 8, SET_MD = 1 << 9,
    SET_KU = 1 << 10, SET_EKU = 1 << 11, SET_HONOUR = 1 << 12, SET_POLICIES = 1 << 13,
    SET_CRL = 1 << 14, SET_OCSP = 1 << 15, SET_CAISSUERS = 1 << 16, SET_TEMPLATE = 1 << 17
};

/* Who else a Location asks and tells (mod_scep_ask.c); NULL or UNSET where
 * a section does not say. */
typedef struct scep_ask_conf_t {
    const char *webhook_url;          /* SCEPValidationWebhook */
    int webhook_names;                /* SCEPValidationWebhookNames */
    int unavailable_pending;          /* SCEPValidationUnavailable */
    const char *notify_url;           /* SCEPNotifyWebhook */
    const char *secret;               /* SCEPWebhookSecretFile, never logged */
    apr_size_t secret_len;
    apr_int64_t timeout;              /* SCEPOutboundTimeout, seconds */
    const char *ca_file;              /* SCEPOutboundCAFile */
    const char *proxy;                /* SCEPOutboundProxy */
    apr_array_header_t *authn;        /* SCEPChallengeAuthProvider: const char * */
    const ap_directive_t *authn_line; /* the line that started the list */
    const char *intune_tenant;        /* SCEPIntuneTenant */
    const char *intune_client_id;     /* SCEPIntuneClientID */
    const char *intune_secret;        /* SCEPIntuneSecretFile, never logged */
    apr_size_t intune_secret_len;
    const char *intune_token_url;     /* SCEPIntuneEndpoints (tests, other clouds) */
    const char *intune_discovery_url;
    const char *intune_service_url;   /* SCEPIntuneServiceURL: no discovery */
} scep_ask_conf_t;

/* SetHandler scep-ndes (mod_scep_ndes.c); NULL or UNSET where not given. */
typedef struct scep_ndes_conf_t {
    const char *profile;              /* SCEPNDESProfile */
    const char *where;                /* its file:line */
    apr_int64_t validity;             /* SCEPNDESChallengeValidity, seconds */
    int cache_size;                   /* SCEPNDESPasswordCache */
    apr_array_header_t *users;        /* SCEPNDESUsers: const char *; NULL = any */
} scep_ndes_conf_t;

typedef struct scep_dir_conf_t {
    const char *path;
    const char *where;        /* file:line of the section's first SCEP directive */
    apr_hash_t *wheres;       /* directive name -> file:line, for start-up errors */
    const char *profile_name; /* SCEPProfileName */
    const char *challenge;    /* static secret, never logged */
    apr_size_t challenge_len;
    int challenge_set;
    int legacy;
    apr_int64_t max_body;
    int approval_manual, renewal, renewal_challenge, renewal_keep;
    int one_time, throttle_count;
    apr_int64_t throttle_window;
    apr_int64_t renewal_window;
    int renewal_supersede;
    int cacert_chain;         /* SCEPGetCACertChain */
    int certrep_chain;        /* SCEPCertRepChain */
    apr_array_header_t *renewal_from;   /* SCEPRenewalFrom: const char * */
    const ap_directive_t *renewal_from_line;
    scep_limits_t limits;     /* SCEPRequestLimit, UNSET where not given */
    unsigned set;             /* SET_* */
    int own_subject, own_san; /* rule lists started in this section */
    /* list directives: each line replaces what came before it */
    const ap_directive_t *algs_line, *ku_line, *eku_line, *policies_line, *honour_line;
    scep_policy_t *policy;    /* defaults + this section's settings */
    apr_hash_t *templates;    /* template name -> profile name */
    scep_ask_conf_t ask;      /* validators, receivers, outbound HTTPS */
    scep_ndes_conf_t ndes;    /* the NDES challenge page */
    /* built at start-up (check_profiles), read-only after: this section
     * over a server's defaults, per server (key: that server's defaults) */
    apr_hash_t *services;
    /* set by the merge, per request: the server's defaults this conf grew
     * from, whether nothing else shaped it, and the service built for it
     * (NULL when nested sections shape it together: see scep_service_of) */
    const struct scep_dir_conf_t *home;
    int defaults_only;
    const scep_service_t *service;
} scep_dir_conf_t;

/* ---- mod_scep.c ---------------------------------------------------------- */

/** The core's context for a request: its pool, and logging to its log. */
void scep_request_ctx(scep_ctx_t *ctx, request_rec *r);
/** Answer with these bytes (no body for HEAD). */
int scep_send(request_rec *r, int status, const char *type, const unsigned char *body,
              apr_size_t len);

/* ---- mod_scep_config.c --------------------------------------------------- */

void *scep_create_srv_conf(apr_pool_t *p, server_rec *s);
void *scep_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
void *scep_create_dir_conf(apr_pool_t *p, char *dir);
void *scep_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
extern const command_rec scep_cmds[];

/** check_config: load every server's CA material and check every profile. */
int scep_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                      server_rec *s);
/** post_config: warn about unprotected scep-admin sections. */
void scep_check_admin_sections(const ap_directive_t *node, server_rec *s);
/** post_config: a random admin-form key for servers without SCEPAdminSecretFile. */
int scep_admin_secrets(apr_pool_t *pconf, server_rec *s);
/** post_config: key files others may read, a CA without an RA. */
void scep_warn_ca_material(server_rec *s, apr_pool_t *ptemp);
/** The service that answers a request at its Location: the one built at
 *  start-up, or one built now when nested sections shape the request.
 *  NULL when the server has no CA. */
const scep_service_t *scep_service_of(request_rec *r);
/** SCEPCRLValidity, or its default. */
apr_int64_t scep_crl_validity_of(const scep_srv_conf_t *c);
/** file:line of the directive being read, for start-up messages. */
const char *scep_directive_where(cmd_parms *cmd);
/** The path of r's Location (from core: our own section config exists only
 *  where a SCEP directive appears), or dflt when its section is no path. */
const char *scep_location_path(request_rec *r, const char *dflt);
/** The part of r's path below base, its leading '/' skipped ("" at base
 *  itself), or NULL when the path is not below base. */
const char *scep_path_below(request_rec *r, const char *base);
/** "name" or "name:port" of a server, for start-up messages. */
const char *scep_vhost_name(apr_pool_t *p, server_rec *s);

/** The section's conf, remembered by its server as one that shapes a
 *  profile; set (SET_*) marks the policy fields it sets. */
scep_dir_conf_t *scep_touch(cmd_parms *cmd, void *dirconf, unsigned set);
/** A directive's whole-number argument from min to max ("what" names it
 *  in the error: "a number", "seconds"). */
const char *scep_number_arg(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                            const char *what, apr_int64_t *out);
/** Read a secret of min..max bytes from a file (named by arg) at start-up. */
const char *scep_read_secret_file(cmd_parms *cmd, const char *arg, apr_size_t min,
                                  apr_size_t max, const char **pbuf, apr_size_t *plen);

/* ---- mod_scep_ask.c ------------------------------------------------------ */

void scep_ask_conf_init(scep_ask_conf_t *c);
void scep_ask_conf_merge(scep_ask_conf_t *out, const scep_ask_conf_t *base,
                         const scep_ask_conf_t *add);
/** Fill prof's validators and receivers from c; a message when the section
 *  is inconsistent (a URL without a secret, an unknown provider). */
const char *scep_ask_build(apr_pool_t *p, const scep_ask_conf_t *c, scep_profile_t *prof);
/** The request's part of scep_env_t: providers, HTTPS client, Intune. */
void scep_ask_env(scep_env_t *env, request_rec *r);
/** Does a Location of the server ask validators (SCEP_ASKS: a webhook,
 *  Intune) or tell receivers (SCEP_TELLS: a notification webhook, Intune)? */
#define SCEP_ASKS  0x1
#define SCEP_TELLS 0x2
int scep_ask_configured(const scep_srv_conf_t *c, unsigned what);
/** This child's Intune client of a profile, or NULL. */
struct scep_intune_t *scep_ask_intune(const scep_srv_conf_t *sconf, const scep_profile_t *prof);
/** child_init: this child's outbound HTTPS client and Intune clients. */
void scep_ask_child_init(apr_pool_t *pchild, server_rec *s);
const char *scep_ask_set_url(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_flag(cmd_parms *cmd, void *dirconf, int flag);
const char *scep_ask_set_unavailable(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_secret(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_timeout(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_path(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_provider(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_word(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_max_calls(cmd_parms *cmd, void *dummy, const char *arg);
const char *scep_ask_set_intune_secret(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ask_set_intune_endpoints(cmd_parms *cmd, void *dirconf, const char *token,
                                          const char *discovery);
#define ASK_FIELD(f) (void *)APR_OFFSETOF(scep_dir_conf_t, ask.f)
/* the directives of mod_scep_ask.c, in scep_cmds */
#define SCEP_ASK_COMMANDS(LOC)                                                          \
    AP_INIT_TAKE1("SCEPValidationWebhook", scep_ask_set_url, ASK_FIELD(webhook_url), LOC, \
                  "https URL asked before each issuance (JSON, signed with HMAC-SHA256)"), \
    AP_INIT_FLAG("SCEPValidationWebhookNames", scep_ask_set_flag, ASK_FIELD(webhook_names), \
                 LOC, "on: the webhook's answer may fix the subject and subjectAltNames"), \
    AP_INIT_TAKE1("SCEPValidationUnavailable", scep_ask_set_unavailable, NULL, LOC,       \
                  "refuse (default) or pending: when a validator gives no answer"),       \
    AP_INIT_TAKE1("SCEPNotifyWebhook", scep_ask_set_url, ASK_FIELD(notify_url), LOC,      \
                  "https URL told of every issuance, refusal and decision (outbox)"),     \
    AP_INIT_TAKE1("SCEPWebhookSecretFile", scep_ask_set_secret, NULL, LOC,                \
                  "file with the HMAC key of the webhooks' signatures"),                  \
    AP_INIT_TAKE1("SCEPOutboundTimeout", scep_ask_set_timeout, NULL, LOC,                 \
                  "seconds an outbound call may take, connection included (default 10)"), \
    AP_INIT_TAKE1("SCEPOutboundCAFile", scep_ask_set_path, ASK_FIELD(ca_file), LOC,       \
                  "PEM file of the CAs outbound TLS trusts (default: the system's)"),     \
    AP_INIT_TAKE1("SCEPOutboundMaxCalls", scep_ask_set_max_calls, NULL, RSRC_CONF,        \
                  "requests of one Location that may wait for its validators, per child " \
                  "(default: 3/4 of its threads)"),                                       \
    AP_INIT_TAKE1("SCEPOutboundProxy", scep_ask_set_url, ASK_FIELD(proxy), LOC,           \
                  "proxy for outbound calls, http://host:port (default: none)"),          \
    AP_INIT_ITERATE("SCEPChallengeAuthProvider", scep_ask_set_provider, NULL, LOC,        \
                    "httpd authn providers that check the challenge (user: the CN)"),     \
    AP_INIT_TAKE1("SCEPIntuneTenant", scep_ask_set_word, ASK_FIELD(intune_tenant), LOC,   \
                  "Entra ID tenant (name or id): challenges are validated by Intune"),    \
    AP_INIT_TAKE1("SCEPIntuneClientID", scep_ask_set_word, ASK_FIELD(intune_client_id),   \
                  LOC, "application (client) id of the app registration"),               \
    AP_INIT_TAKE1("SCEPIntuneSecretFile", scep_ask_set_intune_secret, NULL, LOC,          \
                  "file with the app registration's client secret"),                      \
    AP_INIT_TAKE2("SCEPIntuneEndpoints", scep_ask_set_intune_endpoints, NULL, LOC,        \
                  "token URL and discovery URL (default: Microsoft's public cloud)"),     \
    AP_INIT_TAKE1("SCEPIntuneServiceURL", scep_ask_set_url, ASK_FIELD(intune_service_url), \
                  LOC, "fixed URL of Intune's SCEP validation service (no discovery)")

/* ---- mod_scep_outbox.c --------------------------------------------------- */

/** child_init: the outbox worker of each server whose Locations notify. */
void scep_outbox_child_init(apr_pool_t *pchild, server_rec *s);

/* ---- mod_scep_passphrase.c ----------------------------------------------- */

const char *scep_set_passphrase_dialog(cmd_parms *cmd, void *dummy, const char *arg);
/** The passphrases of s's encrypted keys, as SCEPPassPhraseDialog says. */
void scep_passphrase_source(scep_ca_files_t *files, server_rec *s);

/* ---- mod_scep_pkcs11.c: keys in a token ---------------------------------- */

const char *scep_set_pkcs11_module(cmd_parms *cmd, void *dummy, const char *arg);
/** The pkcs11 engine of this configuration cycle (made at first use), or
 *  NULL when it cannot be loaded (said once). */
scep_pkcs11_t *scep_pkcs11_of(server_rec *s);
/** child_init: every token key, opened again in the child. */
void scep_pkcs11_child_init(apr_pool_t *pchild, server_rec *s);
/** post_config: the alarm children raise when a token fails. */
int scep_pkcs11_post_config(apr_pool_t *pconf, server_rec *s);
/** monitor (parent): probe a failed token; restart gracefully once it answers. */
int scep_pkcs11_monitor(apr_pool_t *p, server_rec *s);

/* ---- mod_scep_ndes.c ----------------------------------------------------- */

void scep_ndes_conf_init(scep_ndes_conf_t *c);
void scep_ndes_conf_merge(scep_ndes_conf_t *out, const scep_ndes_conf_t *base,
                          const scep_ndes_conf_t *add);
/** check_config: every SCEPNDESProfile names a profile with one-time
 *  challenges. */
int scep_ndes_check(apr_pool_t *ptemp, server_rec *s);
/** SetHandler scep-ndes. */
int scep_ndes_handler(request_rec *r);

/* ---- mod_scep_rollover.c: the next and previous CAs ---------------------- */

const char *scep_set_switch_time(cmd_parms *cmd, void *dummy, const char *arg);
const char *scep_set_previous_ca(cmd_parms *cmd, void *dummy, const char *cert,
                                 const char *key);
/** check_config: the next CA with its key and the previous CAs, as c->cas. */
int scep_rollover_load(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sp,
                       scep_srv_conf_t *c);
/** The CA that issues at the time of r (the next one after the switch-over). */
const scep_ca_t *scep_active_ca(const scep_srv_conf_t *c, request_rec *r);

/* ---- mod_scep_ocsp.c: SetHandler scep-ocsp --------------------------------- */
int scep_ocsp_handler(request_rec *r);
/* The signer of every vhost with one fits its CA (check_config). */
int scep_ocsp_check(apr_pool_t *ptemp, server_rec *s);
/* The shared cache of OCSP responses: its lock type (pre_config), the
 * cache (post_config), its lock in each child. */
int scep_ocsp_pre_config(apr_pool_t *pconf);
int scep_ocsp_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void scep_ocsp_child_init(apr_pool_t *p, server_rec *s);
/* ---- mod_scep_health.c: SetHandler scep-health ----------------------------- */
void scep_health_child_init(apr_pool_t *pchild, server_rec *s);
int scep_health_handler(request_rec *r);
/* ---- mod_scep_memory.c: SCEPMemoryTrim ------------------------------------ */
typedef struct scep_trim_t scep_trim_t;
const char *scep_set_memory_trim(cmd_parms *cmd, void *dummy, int on);
void scep_memory_child_init(apr_pool_t *pchild, server_rec *s);
void scep_memory_request(request_rec *r);

/* ---- mod_scep_slots.c: SCEPOperationSlots --------------------------------- */

const char *scep_set_operation_slots(cmd_parms *cmd, void *dummy, const char *arg);
void scep_slots_child_init(apr_pool_t *pchild, server_rec *s);
/** env->slot: the request's hold on one of the child's slots (in hold) */
void scep_slots_env(scep_env_t *env, scep_slot_t *hold, request_rec *r);
/* ---- mod_scep_metrics.c: counters shared by the children, SetHandler
 * scep-metrics (Prometheus) and a mod_status section ---------------------- */
int scep_metrics_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void scep_metrics_register(void);
/* After a SCEP request was answered. */
void scep_metrics_request(request_rec *r, const scep_srv_conf_t *c, const char *operation,
                          const char *profile, const struct scep_http_out_t *out);
int scep_metrics_handler(request_rec *r);
/* Read the whole body, refusing more than max bytes (mod_scep.c). */
int scep_read_body(request_rec *r, apr_size_t max, unsigned char **pbuf, apr_size_t *plen);
const char *scep_ndes_set_profile(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ndes_set_validity(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ndes_set_cache(cmd_parms *cmd, void *dirconf, const char *arg);
const char *scep_ndes_set_users(cmd_parms *cmd, void *dirconf, const char *arg);
#define SCEP_NDES_COMMANDS(LOC)                                                         \
    AP_INIT_TAKE1("SCEPNDESProfile", scep_ndes_set_profile, NULL, LOC,                    \
                  "the profile whose one-time challenges the NDES page hands out"),       \
    AP_INIT_TAKE1("SCEPNDESChallengeValidity", scep_ndes_set_validity, NULL, LOC,         \
                  "how long an NDES challenge is valid (default 60m)"),                   \
    AP_INIT_TAKE1("SCEPNDESPasswordCache", scep_ndes_set_cache, NULL, LOC,                \
                  "unused challenges one user may hold (default 5)"),                     \
    AP_INIT_ITERATE("SCEPNDESUsers", scep_ndes_set_users, NULL, LOC,                       \
                    "the authenticated users who may get challenges (default: all)")

/* ---- mod_scep_dbd.c ------------------------------------------------------ */

/** pre_config: forget the last generation's mod_dbd functions; register
 *  the scep-db mutex type. */
int scep_dbd_pre_config(apr_pool_t *pconf);
/** post_config: find mod_dbd, give every DBD configuration its lock and
 *  have mod_dbd prepare our statements. */
int scep_dbd_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
/** scep_store_open_fn for a request (baton: the request_rec). */
apr_status_t scep_dbd_open_store(void *baton, scep_store_t **pstore);
/** A store on a connection of server s's pool, for work outside a request
 *  (the outbox worker); give the connection back with scep_dbd_close_server. */
apr_status_t scep_dbd_open_server(scep_store_t **pstore, ap_dbd_t **pdbd, apr_pool_t *p,
                                  server_rec *s);
void scep_dbd_close_server(server_rec *s, ap_dbd_t *dbd);
/** drop_privileges, first (declines): SCEPSQLiteWriter realtime's threads. */
int scep_dbd_before_drop(apr_pool_t *pchild, server_rec *s);
/** child_init, first and last: the SQLite locks around mod_dbd's own. */
void scep_dbd_child_init(apr_pool_t *p, server_rec *s);
void scep_dbd_child_init_done(apr_pool_t *p, server_rec *s);

#endif
