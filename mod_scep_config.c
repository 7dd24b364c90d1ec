/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* mod_scep glue: directives, configuration create/merge, and the start-up
 * checks that load the CA material and every Location's profile. */

#include "mod_scep_private.h"

void *scep_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    scep_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    conf->s = s;
    conf->legacy_wanted = UNSET;
    conf->crl_validity = UNSET;
    conf->ocsp_validity = UNSET;
    conf->locations = apr_array_make(p, 4, sizeof(scep_dir_conf_t *));
    conf->ndes_sections = apr_array_make(p, 1, sizeof(scep_dir_conf_t *));
    return conf;
}

#define MERGE_SETTING(f) conf->f = add->f.value ? add->f : base->f

void *scep_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    scep_srv_conf_t *base = basev, *add = addv;
    scep_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->s = add->s;
    if (add->ca_cert.value || add->ca_key.value) {
        /* a virtual host with its own CA takes nothing of the main server's
         * CA material: an inherited RA or chain would belong to another CA */
        conf->ca_cert = add->ca_cert;
        conf->ca_key = add->ca_key;
        conf->ca_chain = add->ca_chain;
        conf->ra_cert = add->ra_cert;
        conf->ra_key = add->ra_key;
        conf->ra_enc_cert = add->ra_enc_cert;
        conf->ra_enc_key = add->ra_enc_key;
        conf->next_ca = add->next_ca;
        conf->next_ra = add->next_ra;
        conf->next_ca_key = add->next_ca_key;
        conf->next_ra_key = add->next_ra_key;
        conf->switch_time = add->switch_time;
        conf->previous = add->previous;
    }
    else {
        MERGE_SETTING(ca_cert);
        MERGE_SETTING(ca_key);
        MERGE_SETTING(ca_chain);
        MERGE_SETTING(ra_cert);
        MERGE_SETTING(ra_key);
        MERGE_SETTING(ra_enc_cert);
        MERGE_SETTING(ra_enc_key);
        MERGE_SETTING(next_ca);
        MERGE_SETTING(next_ra);
        MERGE_SETTING(next_ca_key);
        MERGE_SETTING(next_ra_key);
        MERGE_SETTING(switch_time);
        conf->previous = add->previous ? add->previous : base->previous;
    }
    conf->legacy_wanted = add->legacy_wanted != UNSET ? add->legacy_wanted
                                                      : base->legacy_wanted;
    conf->crl_validity = add->crl_validity != UNSET ? add->crl_validity : base->crl_validity;
    conf->admin_secret = add->admin_secret ? add->admin_secret : base->admin_secret;
    conf->pass_dialog = add->pass_dialog ? add->pass_dialog : base->pass_dialog;
    conf->outbound_max = add->outbound_max ? add->outbound_max : base->outbound_max;
    conf->sqlite_writer = add->sqlite_writer ? add->sqlite_writer : base->sqlite_writer;
    conf->mc_cert = add->mc_cert ? add->mc_cert : base->mc_cert;
    conf->mc_key = add->mc_cert ? add->mc_key : base->mc_key;
    conf->ocsp_cert = add->ocsp_cert ? add->ocsp_cert : base->ocsp_cert;
    conf->ocsp_key = add->ocsp_cert ? add->ocsp_key : base->ocsp_key;
    conf->ocsp_signer_where = add->ocsp_cert ? add->ocsp_signer_where : base->ocsp_signer_where;
    conf->ocsp_validity = add->ocsp_validity != UNSET ? add->ocsp_validity : base->ocsp_validity;
    conf->admin_secret_len = add->admin_secret ? add->admin_secret_len : base->admin_secret_len;
    /* a virtual host serves the main server's Locations too */
    conf->locations = apr_array_append(p, base->locations, add->locations);
    conf->inherited = base->locations->nelts;
    conf->ndes_sections = apr_array_append(p, base->ndes_sections, add->ndes_sections);
    return conf;
}

static const char *profile_name_of(const scep_dir_conf_t *d)
{
    return d->profile_name ? d->profile_name : d->path ? d->path : "/";
}

/* The one place a Location's settings become its profile, every default
 * applied: at start-up for each section (check_profiles), or for a request
 * that nested sections shape together (scep_service_of). */
static scep_profile_t *build_profile(apr_pool_t *p, const scep_dir_conf_t *d,
                                     apr_hash_t *named, const char **pproblem)
{
    scep_profile_t *prof = apr_pcalloc(p, sizeof(*prof));
    scep_policy_t *policy = apr_pmemdup(p, d->policy, sizeof(*policy));

    prof->name = profile_name_of(d);
    prof->path = d->path;
    prof->challenge = (const unsigned char *)d->challenge;
    prof->challenge_len = d->challenge_len;
    prof->allow_legacy = d->legacy == 1;
    prof->manual_approval = d->approval_manual == 1;
    prof->one_time = d->one_time == 1;
    prof->throttle_count = d->throttle_count != UNSET ? d->throttle_count : DEFAULT_THROTTLE_COUNT;
    prof->throttle_window = d->throttle_window != UNSET ? d->throttle_window
                                                        : DEFAULT_THROTTLE_WINDOW;
    prof->renewal = d->renewal == 1;
    prof->renewal_window = d->renewal_window != UNSET ? d->renewal_window : 0;
    prof->renewal_challenge = d->renewal_challenge == 1;
    prof->renewal_keep_subject = d->renewal_keep != 0;
    prof->renewal_supersede = d->renewal_supersede == 1;
    prof->cacert_no_chain = d->cacert_chain == 0;
    prof->certrep_chain = d->certrep_chain == 1;
    prof->renewal_from = d->renewal_from;
#define LIMIT(f, dflt) prof->limits.f = d->limits.f != UNSET ? d->limits.f : (dflt)
    LIMIT(attributes, DEFAULT_MAX_ATTRIBUTES);
    LIMIT(extensions, DEFAULT_MAX_EXTENSIONS);
    LIMIT(subject_rdns, DEFAULT_MAX_SUBJECT_RDNS);
    LIMIT(subject_length, DEFAULT_MAX_SUBJECT_LEN);
    LIMIT(sans, DEFAULT_MAX_SANS);
#undef LIMIT
    policy->name = prof->name;
    prof->policy = policy;
    prof->templates = d->templates;
    prof->named = named;
    *pproblem = scep_ask_build(p, &d->ask, prof);
    return prof;
}

void *scep_create_dir_conf(apr_pool_t *p, char *dir)
{
    scep_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    conf->path = dir ? apr_pstrdup(p, dir) : NULL;
    conf->legacy = UNSET;
    conf->max_body = UNSET;
    conf->approval_manual = conf->renewal = conf->renewal_challenge = UNSET;
    conf->renewal_keep = conf->renewal_supersede = UNSET;
    conf->cacert_chain = conf->certrep_chain = UNSET;
    conf->renewal_window = UNSET;
    conf->limits.attributes = conf->limits.extensions = conf->limits.subject_rdns = UNSET;
    conf->limits.subject_length = conf->limits.sans = UNSET;
    conf->one_time = conf->throttle_count = UNSET;
    conf->throttle_window = UNSET;
    conf->policy = scep_policy_make(p, NULL);
    scep_ask_conf_init(&conf->ask);
    scep_ndes_conf_init(&conf->ndes);
    return conf;
}

/* A section's own settings over its parent's; runs per request, so it only
 * copies pointers and numbers. */
static void merge_policy(scep_policy_t *out, const scep_policy_t *base,
                         const scep_policy_t *add, unsigned set)
{
    *out = *base;
#define TAKE(bit, field) if (set & (bit)) out->field = add->field
    TAKE(SET_SUBJECT, subject);
    TAKE(SET_SUBJECT_EXCESS, subject_excess);
    TAKE(SET_SAN, san);
    TAKE(SET_SAN_EXCESS, san_excess);
    TAKE(SET_KEY_ALGS, key_algs);
    TAKE(SET_RSA_SIZE, rsa_min_bits);
    TAKE(SET_RSA_SIZE, rsa_max_bits);
    TAKE(SET_VALIDITY, validity);
    TAKE(SET_BACKDATE, backdate);
    TAKE(SET_CAP, cap_at_ca);
    TAKE(SET_MD, md_nid);
    TAKE(SET_KU, key_usage);
    TAKE(SET_KU, key_usage_ec);
    TAKE(SET_EKU, eku);
    TAKE(SET_HONOUR, honour_requested);
    TAKE(SET_POLICIES, policies);
    TAKE(SET_CRL, crl_urls);
    TAKE(SET_OCSP, ocsp_urls);
    TAKE(SET_CAISSUERS, ca_issuer_urls);
    TAKE(SET_TEMPLATE, include_template);
#undef TAKE
}

void *scep_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    scep_dir_conf_t *base = basev, *add = addv;
    scep_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->path = add->path ? add->path : base->path;
    conf->where = add->where ? add->where : base->where;
    conf->profile_name = add->profile_name ? add->profile_name
                         : add->path ? NULL : base->profile_name;
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
    conf->legacy = add->legacy != UNSET ? add->legacy : base->legacy;
    conf->max_body = add->max_body != UNSET ? add->max_body : base->max_body;
#define MERGE_INT(f) conf->f = add->f != UNSET ? add->f : base->f
    MERGE_INT(approval_manual);
    MERGE_INT(renewal);
    MERGE_INT(renewal_challenge);
    MERGE_INT(renewal_keep);
    MERGE_INT(renewal_window);
    MERGE_INT(one_time);
    MERGE_INT(throttle_count);
    MERGE_INT(throttle_window);
    MERGE_INT(renewal_supersede);
    MERGE_INT(cacert_chain);
    MERGE_INT(certrep_chain);
    MERGE_INT(limits.attributes);
    MERGE_INT(limits.extensions);
    MERGE_INT(limits.subject_rdns);
    MERGE_INT(limits.subject_length);
    MERGE_INT(limits.sans);
#undef MERGE_INT
    conf->renewal_from = add->renewal_from ? add->renewal_from : base->renewal_from;
    conf->set = add->set | base->set;
    conf->policy = apr_palloc(p, sizeof(*conf->policy));
    merge_policy(conf->policy, base->policy, add->policy, add->set);
    conf->templates = add->templates ? add->templates : base->templates;
    scep_ask_conf_merge(&conf->ask, &base->ask, &add->ask);
    scep_ndes_conf_merge(&conf->ndes, &base->ndes, &add->ndes);
    /* the service built at start-up holds while one section shapes the
     * request: a section without our directives changes nothing, and one
     * with them over the server's defaults is what check_profiles built */
    conf->home = base->home;
    conf->defaults_only = base->defaults_only && !add->where;
    conf->service = !add->where ? base->service
                    : base->defaults_only && add->services
                      ? apr_hash_get(add->services, &base->home, sizeof(base->home)) : NULL;
    return conf;
}

const char *scep_directive_where(cmd_parms *cmd)
{
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                        cmd->directive->line_num);
}

/* Every section that shapes a profile is remembered by its server, so the
 * profiles can be checked (and found by name) at start-up. */
scep_dir_conf_t *scep_touch(cmd_parms *cmd, void *dirconf, unsigned set)
{
    scep_dir_conf_t *conf = dirconf;
    scep_srv_conf_t *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &scep_module);
    if (!conf->where) {
        conf->where = scep_directive_where(cmd);
        conf->wheres = apr_hash_make(cmd->pool);
        APR_ARRAY_PUSH(sconf->locations, scep_dir_conf_t *) = conf;
    }
    apr_hash_set(conf->wheres, cmd->cmd->name, APR_HASH_KEY_STRING, scep_directive_where(cmd));
    conf->set |= set;
    return conf;
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
    /* a key in a token is named by its RFC 7512 URI, not a path */
    path = scep_pkcs11_is_uri(arg) ? arg : ap_server_root_relative(cmd->pool, arg);
    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg, NULL);
    }
    setting->value = path;
    setting->where = scep_directive_where(cmd);
    return NULL;
}

static const char *set_challenge(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);

    if (!*arg) {
        return "SCEPChallengePassword must not be empty";
    }
    conf->challenge = apr_pstrdup(cmd->pool, arg);
    conf->challenge_len = strlen(arg);
    conf->challenge_set = 1;
    return NULL;
}

/* Read a secret from a file once, at start-up, as root (before privileges
 * are dropped): min to max bytes, a trailing newline not part of it. */
const char *scep_read_secret_file(cmd_parms *cmd, const char *arg, apr_size_t min,
                                  apr_size_t max, const char **pbuf, apr_size_t *plen)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    char *buf = NULL;
    apr_size_t len = 0;
    apr_status_t rv;

    if (!path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg, NULL);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        if (rv == APR_SUCCESS && fi.size > 0 && (apr_size_t)fi.size <= max + 2) {
            len = (apr_size_t)fi.size;
            buf = apr_palloc(cmd->pool, len + 1);
            rv = apr_file_read_full(f, buf, len, &len);
        }
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        char msg[120];
        return apr_psprintf(cmd->pool, "%s %s: cannot read: %s", cmd->cmd->name, path,
                            apr_strerror(rv, msg, sizeof(msg)));
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    if (len < min || len > max) {
        return apr_psprintf(cmd->pool, "%s %s: the file must hold a secret of %"
                            APR_SIZE_T_FMT " to %" APR_SIZE_T_FMT " bytes%s", cmd->cmd->name,
                            path, min, max, min > 1 ? " (e.g. openssl rand -hex 32)" : "");
    }
    buf[len] = '\0';
    *pbuf = buf;
    *plen = len;
    return NULL;
}

static const char *set_challenge_file(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    const char *err = scep_read_secret_file(cmd, arg, 1, 65536, &conf->challenge,
                                            &conf->challenge_len);

    conf->challenge_set = !err;
    return err;
}

static const char *duration_arg(cmd_parms *cmd, const char *arg, apr_int64_t min,
                                apr_int64_t *out)
{
    if (scep_parse_duration(out, arg) != APR_SUCCESS || *out < min) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a duration of at least %"
                            APR_INT64_T_FMT "s (a number with unit s, m, h or d; "
                            "default unit d)", cmd->cmd->name, arg, min);
    }
    return NULL;
}

static const char *set_validity(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_VALIDITY);
    const char *err = duration_arg(cmd, arg, 60, &conf->policy->validity);
    return err;
}

static const char *set_backdate(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_BACKDATE);
    if (!strcmp(arg, "0")) {
        conf->policy->backdate = 0;
        return NULL;
    }
    return duration_arg(cmd, arg, 1, &conf->policy->backdate);
}

static const char *set_cap(cmd_parms *cmd, void *dirconf, int flag)
{
    scep_touch(cmd, dirconf, SET_CAP)->policy->cap_at_ca = flag;
    return NULL;
}

static const char *set_legacy(cmd_parms *cmd, void *dirconf, int flag)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    scep_srv_conf_t *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &scep_module);
    conf->legacy = flag;
    if (flag) {
        sconf->legacy_wanted = 1;   /* so post_config loads the legacy provider */
    }
    return NULL;
}

const char *scep_number_arg(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                            const char *what, apr_int64_t *out)
{
    char *end = NULL;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);

    if (!end || end == arg || *end || n < min || n > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not %s from %" APR_INT64_T_FMT " to %"
                            APR_INT64_T_FMT, cmd->cmd->name, arg, what, min, max);
    }
    *out = n;
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

static const char *set_profile_name(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    conf->profile_name = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *excess_arg(cmd_parms *cmd, const char *arg, scep_excess_t *out)
{
    int excess = scep_policy_excess(arg);

    if (excess < 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": '", arg,
                           "' must be drop or refuse", NULL);
    }
    *out = (scep_excess_t)excess;
    return NULL;
}

static const char *set_subject_excess(cmd_parms *cmd, void *dirconf, const char *arg)
{
    return excess_arg(cmd, arg, &scep_touch(cmd, dirconf, SET_SUBJECT_EXCESS)->policy->subject_excess);
}

static const char *set_san_excess(cmd_parms *cmd, void *dirconf, const char *arg)
{
    return excess_arg(cmd, arg, &scep_touch(cmd, dirconf, SET_SAN_EXCESS)->policy->san_excess);
}

static const char *rule_pattern(cmd_parms *cmd, scep_rule_t *rule, const char *re)
{
    const char *err = NULL;

    rule->pattern_text = apr_pstrdup(cmd->pool, re);
    if (!(rule->pattern = scep_policy_regex(cmd->pool, re, &err))) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
    }
    return NULL;
}

/* "request [pattern]" or "value expression [pattern]": argv[0] is the source */
static const char *parse_rule(cmd_parms *cmd, scep_rule_t *rule, int argc,
                              char *const argv[])
{
    const char *err = NULL, *source = argv[0];

    if (!strcasecmp(source, "request") && argc <= 2) {
        rule->source = SCEP_FROM_REQUEST;
        return argc == 2 ? rule_pattern(cmd, rule, argv[1]) : NULL;
    }
    if (!strcasecmp(source, "value") && argc >= 2 && argc <= 3) {
        ap_expr_info_t *expr;
        rule->source = SCEP_FROM_VALUE;
        rule->expr_text = apr_pstrdup(cmd->pool, argv[1]);
        expr = ap_expr_parse_cmd(cmd, argv[1], AP_EXPR_FLAG_STRING_RESULT, &err, NULL);
        if (err) {
            return apr_pstrcat(cmd->pool, cmd->cmd->name, ": cannot parse '", argv[1],
                               "': ", err, NULL);
        }
        rule->expr = expr;
        return argc == 3 ? rule_pattern(cmd, rule, argv[2]) : NULL;
    }
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": after the ",
                       strcmp(cmd->cmd->name, "SCEPSubject") ? "type" : "attribute",
                       " comes 'request [pattern]' or 'value expression [pattern]'", NULL);
}

static const char *set_subject(cmd_parms *cmd, void *dirconf, int argc, char *const argv[])
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_SUBJECT);
    scep_rule_t rule;
    const char *err, *attr = argc > 0 ? argv[0] : "";

    memset(&rule, 0, sizeof(rule));
    if (argc < 2) {
        return "SCEPSubject: give an attribute, then 'request [pattern]' or "
               "'value expression [pattern]'";
    }
    if ((rule.nid = scep_policy_subject_nid(attr)) == NID_undef) {
        return apr_pstrcat(cmd->pool, "SCEPSubject: unknown attribute '", attr,
                           "' (CN, O, OU, C, L, ST, emailAddress, serialNumber, DC, "
                           "UID, ...)", NULL);
    }
    if ((err = parse_rule(cmd, &rule, argc - 1, argv + 1)) != NULL) {
        return err;
    }
    /* a section's rules replace inherited ones: start its own list */
    if (!conf->own_subject) {
        conf->policy->subject = apr_array_make(cmd->pool, 4, sizeof(scep_rule_t));
        conf->own_subject = 1;
    }
    APR_ARRAY_PUSH(conf->policy->subject, scep_rule_t) = rule;
    return NULL;
}

static const char *set_san(cmd_parms *cmd, void *dirconf, int argc, char *const argv[])
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_SAN);
    scep_rule_t rule;
    const char *err, *type = argc > 0 ? argv[0] : "";
    int t = scep_policy_san_type(type);

    memset(&rule, 0, sizeof(rule));
    if (argc < 2) {
        return "SCEPSubjectAltName: give a type, then 'request [pattern]' or "
               "'value expression [pattern]'";
    }
    if (t < 0) {
        return apr_pstrcat(cmd->pool, "SCEPSubjectAltName: unknown type '", type,
                           "' (dns, email, uri, ip, upn)", NULL);
    }
    rule.san_type = (scep_san_type_t)t;
    if ((err = parse_rule(cmd, &rule, argc - 1, argv + 1)) != NULL) {
        return err;
    }
    if (!conf->own_san) {
        conf->policy->san = apr_array_make(cmd->pool, 4, sizeof(scep_rule_t));
        conf->own_san = 1;
    }
    APR_ARRAY_PUSH(conf->policy->san, scep_rule_t) = rule;
    return NULL;
}

/* The first argument of a list directive's line starts a fresh list. */
static int new_line(cmd_parms *cmd, void *dirconf, unsigned bit,
                    const ap_directive_t **line)
{
    if (*line == cmd->directive) {
        return 0;
    }
    scep_touch(cmd, dirconf, bit);
    *line = cmd->directive;
    return 1;
}

static const char *set_key_algs(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;

    unsigned bit = scep_policy_key_alg_bit(arg);

    if (!bit) {
        return apr_pstrcat(cmd->pool, "SCEPKeyAlgorithms: unknown key type '", arg,
                           "' (rsa, ec-p256, ec-p384)", NULL);
    }
    if (new_line(cmd, dirconf, SET_KEY_ALGS, &conf->algs_line)) {
        conf->policy->key_algs = 0;
    }
    conf->policy->key_algs |= bit;
    return NULL;
}

static const char *set_rsa_size(cmd_parms *cmd, void *dirconf, const char *min,
                                const char *max)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_RSA_SIZE);
    char *end;
    long lo = strtol(min, &end, 10), hi;

    if (*end || lo < 1024 || lo > 16384) {
        return apr_pstrcat(cmd->pool, "SCEPRSAKeySize: '", min,
                           "' must be a number of bits from 1024 to 16384", NULL);
    }
    hi = max ? strtol(max, &end, 10) : 8192;
    if ((max && *end) || hi < lo || hi > 16384) {
        return apr_pstrcat(cmd->pool, "SCEPRSAKeySize: the maximum '", max ? max : "8192",
                           "' must be a number of bits not below the minimum", NULL);
    }
    conf->policy->rsa_min_bits = (int)lo;
    conf->policy->rsa_max_bits = (int)hi;
    return NULL;
}

static const char *set_digest(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_MD);
    int nid = scep_policy_digest_nid(arg);
    if (nid == NID_undef) {
        return apr_pstrcat(cmd->pool, "SCEPSignatureDigest: '", arg,
                           "' must be sha256, sha384 or sha512", NULL);
    }
    conf->policy->md_nid = nid;
    return NULL;
}

static const char *set_type(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, SET_KU | SET_EKU);
    if (scep_policy_set_type(conf->policy, cmd->pool, arg) != APR_SUCCESS) {
        return apr_pstrcat(cmd->pool, "SCEPCertificateType: '", arg, "' must be client, "
                           "server, client+server, email or ipsec", NULL);
    }
    return NULL;
}

static const char *set_key_usage(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    unsigned bit = scep_policy_key_usage_bit(arg);

    if (!bit) {
        return apr_pstrcat(cmd->pool, "SCEPKeyUsage: unknown key usage '", arg,
                           "' (digitalSignature, nonRepudiation, keyEncipherment, "
                           "dataEncipherment, keyAgreement, encipherOnly, decipherOnly)", NULL);
    }
    if (new_line(cmd, dirconf, SET_KU, &conf->ku_line)) {
        conf->policy->key_usage = conf->policy->key_usage_ec = 0;
    }
    scep_policy_add_key_usage(conf->policy, bit);
    return NULL;
}

static const char *oid_list(cmd_parms *cmd, scep_dir_conf_t *conf, unsigned bit,
                            const ap_directive_t **line, apr_array_header_t **plist,
                            const char *arg)
{
    ASN1_OBJECT *o = scep_policy_oid(cmd->pool, arg);

    if (!o) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": unknown name or OID '", arg, "'", NULL);
    }
    if (new_line(cmd, conf, bit, line)) {
        *plist = apr_array_make(cmd->pool, 2, sizeof(ASN1_OBJECT *));
    }
    APR_ARRAY_PUSH(*plist, ASN1_OBJECT *) = o;
    return NULL;
}

static const char *set_eku(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    return oid_list(cmd, conf, SET_EKU, &conf->eku_line, &conf->policy->eku, arg);
}

static const char *set_policies(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    return oid_list(cmd, conf, SET_POLICIES, &conf->policies_line, &conf->policy->policies, arg);
}

static const char *set_honour(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;
    int bit = scep_policy_requested_ext_bit(arg);

    if (bit < 0) {
        return apr_pstrcat(cmd->pool, "SCEPRequestedExtensions: '", arg,
                           "' must be keyUsage, extendedKeyUsage or none", NULL);
    }
    if (new_line(cmd, dirconf, SET_HONOUR, &conf->honour_line)) {
        conf->policy->honour_requested = 0;
    }
    conf->policy->honour_requested |= (unsigned)bit;
    return NULL;
}

static const char *url_list(cmd_parms *cmd, void *dirconf, unsigned bit,
                            apr_array_header_t **plist, const char *arg)
{
    scep_dir_conf_t *conf = dirconf;

    if (!scep_policy_url_ok(arg)) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": '", arg,
                           "' is not an http, https or ldap URL", NULL);
    }
    if (!(conf->set & bit)) {
        scep_touch(cmd, dirconf, bit);
        *plist = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(*plist, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_crl_url(cmd_parms *cmd, void *dirconf, const char *arg)
{
    return url_list(cmd, dirconf, SET_CRL, &((scep_dir_conf_t *)dirconf)->policy->crl_urls, arg);
}

static const char *set_ocsp_url(cmd_parms *cmd, void *dirconf, const char *arg)
{
    return url_list(cmd, dirconf, SET_OCSP, &((scep_dir_conf_t *)dirconf)->policy->ocsp_urls, arg);
}

static const char *set_ca_issuers_url(cmd_parms *cmd, void *dirconf, const char *arg)
{
    return url_list(cmd, dirconf, SET_CAISSUERS,
                    &((scep_dir_conf_t *)dirconf)->policy->ca_issuer_urls, arg);
}

static const char *set_template(cmd_parms *cmd, void *dirconf, const char *tmpl,
                                const char *profile)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);

    if (!conf->templates) {
        conf->templates = apr_hash_make(cmd->pool);
    }
    /* without a profile name, the template selects this section's profile;
     * resolved at start-up, when every profile is known */
    apr_hash_set(conf->templates, apr_pstrdup(cmd->pool, tmpl), APR_HASH_KEY_STRING,
                 profile ? apr_pstrdup(cmd->pool, profile) : "");
    return NULL;
}

static const char *set_include_template(cmd_parms *cmd, void *dirconf, int flag)
{
    scep_touch(cmd, dirconf, SET_TEMPLATE)->policy->include_template = flag;
    return NULL;
}

/* on/off settings of the enrollment point: cmd->info is the field's offset */
static const char *set_point_flag(cmd_parms *cmd, void *dirconf, int flag)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    *(int *)((char *)conf + (apr_size_t)cmd->info) = flag;
    return NULL;
}

#define POINT_FLAG(name, field, help) \
    AP_INIT_FLAG(name, set_point_flag, (void *)APR_OFFSETOF(scep_dir_conf_t, field), LOC, help)

static const char *set_approval(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);

    if ((conf->approval_manual = scep_profile_manual_approval(arg)) < 0) {
        return apr_pstrcat(cmd->pool, "SCEPApproval: '", arg, "' must be auto or manual", NULL);
    }
    return NULL;
}

static const char *set_renewal_window(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    const char *err = duration_arg(cmd, arg, 60, &conf->renewal_window);
    return err;
}

static const char *set_renewal_subject(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);

    if ((conf->renewal_keep = scep_profile_renewal_keeps_names(arg)) < 0) {
        return apr_pstrcat(cmd->pool, "SCEPRenewalSubject: '", arg,
                           "' must be keep or profile", NULL);
    }
    return NULL;
}

static const char *set_throttle(cmd_parms *cmd, void *dirconf, const char *count,
                                const char *window)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    char *end;
    long n;

    if (!strcasecmp(count, "off") && !window) {
        conf->throttle_count = 0;
        conf->throttle_window = 0;
        return NULL;
    }
    n = strtol(count, &end, 10);
    if (*end || n < 1 || n > 100000 || !window) {
        return "SCEPChallengeThrottle: give a number of failures and a duration "
               "(e.g. 10 15m), or off";
    }
    conf->throttle_count = (int)n;
    if ((end = (char *)duration_arg(cmd, window, 1, &conf->throttle_window)) != NULL) {
        return end;
    }
    return NULL;
}

static const char *set_renewal_from(cmd_parms *cmd, void *dirconf, const char *arg)
{
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);

    if (new_line(cmd, dirconf, 0, &conf->renewal_from_line)) {
        conf->renewal_from = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(conf->renewal_from, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

static const char *set_request_limit(cmd_parms *cmd, void *dirconf, const char *what,
                                     const char *value)
{
    static const struct { const char *name; apr_size_t offset; int max; } limits[] = {
        { "attributes", APR_OFFSETOF(scep_limits_t, attributes), 10000 },
        { "extensions", APR_OFFSETOF(scep_limits_t, extensions), 10000 },
        { "subject-attributes", APR_OFFSETOF(scep_limits_t, subject_rdns), 10000 },
        { "subject-length", APR_OFFSETOF(scep_limits_t, subject_length), 65536 },
        { "subject-alt-names", APR_OFFSETOF(scep_limits_t, sans), 10000 },
    };
    scep_dir_conf_t *conf = scep_touch(cmd, dirconf, 0);
    char *end;
    long n = strtol(value, &end, 10);
    apr_size_t i;

    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        if (!strcasecmp(what, limits[i].name)) {
            if (*end || end == value || n < 1 || n > limits[i].max) {
                return apr_psprintf(cmd->pool, "SCEPRequestLimit %s: '%s' must be a number "
                                    "from 1 to %d", limits[i].name, value, limits[i].max);
            }
            *(int *)((char *)&conf->limits + limits[i].offset) = (int)n;
            return NULL;
        }
    }
    return apr_pstrcat(cmd->pool, "SCEPRequestLimit: unknown limit '", what, "' (attributes, "
                       "extensions, subject-attributes, subject-length, subject-alt-names)",
                       NULL);
}

static const char *set_crl_validity(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    return err ? err : duration_arg(cmd, arg, 3600, &conf->crl_validity);
}

#define ADMIN_SECRET_MIN 32
#define ADMIN_SECRET_MAX 4096

/* The key of the admin forms' tokens, for nodes behind one balancer: read
 * once at start-up (as root); a trailing newline is not part of it. */
/* A signer's certificate and key (SCEPMobileconfigSigner, SCEPOCSPSigner):
 * loaded at once, as root, since the children sign with them; the key must
 * be the certificate's. */
static const char *load_signer(cmd_parms *cmd, const char *cert, const char *key,
                               X509 **pcert, EVP_PKEY **pkey)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    const char *cpath = ap_server_root_relative(cmd->pool, cert);
    const char *kpath = ap_server_root_relative(cmd->pool, key);

    if (err) {
        return err;
    }
    if (!cpath || scep_load_cert(pcert, cmd->pool, cpath, &err) != APR_SUCCESS
        || !kpath || scep_load_key(pkey, cmd->pool, kpath, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s %s %s: %s", cmd->cmd->name, cert, key,
                            err ? err : "invalid path");
    }
    if (X509_check_private_key(*pcert, *pkey) != 1) {
        ERR_clear_error();
        return apr_psprintf(cmd->pool, "%s: %s is not the key of %s", cmd->cmd->name,
                            key, cert);
    }
    return NULL;
}

static const char *set_mobileconfig_signer(cmd_parms *cmd, void *dummy, const char *cert,
                                           const char *key)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    return load_signer(cmd, cert, key, &conf->mc_cert, &conf->mc_key);
}

/* Checked against the CA in check_config (scep_ocsp_check). */
static const char *set_ocsp_signer(cmd_parms *cmd, void *dummy, const char *cert,
                                   const char *key)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = load_signer(cmd, cert, key, &conf->ocsp_cert, &conf->ocsp_key);

    if (!err) {
        conf->ocsp_signer_where = scep_directive_where(cmd);
    }
    return err;
}

static const char *set_ocsp_cache(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    conf->ocsp_cache_spec = arg;
    return NULL;
}

static const char *set_ocsp_validity(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    return err ? err : duration_arg(cmd, arg, 60, &conf->ocsp_validity);
}

static const char *set_sqlite_writer(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "requests")) {
        conf->sqlite_writer = SQLITE_WRITER_REQUESTS;
    }
    else if (!strcasecmp(arg, "realtime")) {
        conf->sqlite_writer = SQLITE_WRITER_REALTIME;
    }
    else {
        return apr_psprintf(cmd->pool, "SCEPSQLiteWriter must be requests or realtime, not '%s'",
                            arg);
    }
    return NULL;
}

static const char *set_admin_secret_file(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    const char *buf = NULL;

    if (!err) {
        err = scep_read_secret_file(cmd, arg, ADMIN_SECRET_MIN, ADMIN_SECRET_MAX, &buf,
                                    &conf->admin_secret_len);
    }
    conf->admin_secret = (const unsigned char *)buf;
    return err;
}

#define SRV_FILE(name, field, help) \
    AP_INIT_TAKE1(name, set_file, (void *)APR_OFFSETOF(scep_srv_conf_t, field), \
                  RSRC_CONF, help)
#define LOC RSRC_CONF | ACCESS_CONF

const command_rec scep_cmds[] = {
    SRV_FILE("SCEPCACertificateFile", ca_cert, "the issuing CA certificate (PEM)"),
    SRV_FILE("SCEPCACertificateKeyFile", ca_key, "the issuing CA private key (PEM)"),
    SRV_FILE("SCEPCAChainFile", ca_chain, "certificates above the CA, up to the root (PEM)"),
    SRV_FILE("SCEPRACertificateFile", ra_cert, "RA certificate: signs replies, decrypts requests"),
    SRV_FILE("SCEPRACertificateKeyFile", ra_key, "RA private key (PEM)"),
    SRV_FILE("SCEPRAEncryptionCertificateFile", ra_enc_cert,
             "RA certificate that decrypts requests (SCEPRACertificateFile then only signs)"),
    AP_INIT_TAKE1("SCEPPKCS11Module", scep_set_pkcs11_module, NULL, RSRC_CONF,
                  "the PKCS#11 library of the token that holds keys named by pkcs11: URIs"),
    SRV_FILE("SCEPRAEncryptionCertificateKeyFile", ra_enc_key,
             "private key of the RA encryption certificate (RSA)"),
    SRV_FILE("SCEPNextCACertificateFile", next_ca,
             "the CA certificate that follows this one (GetNextCACert)"),
    SRV_FILE("SCEPNextRACertificateFile", next_ra,
             "the RA certificate of the next CA (GetNextCACert), if it has one"),
    SRV_FILE("SCEPNextCACertificateKeyFile", next_ca_key,
             "the next CA's private key: it issues from SCEPNextCASwitchTime on"),
    SRV_FILE("SCEPNextRACertificateKeyFile", next_ra_key,
             "the next RA's private key"),
    AP_INIT_TAKE1("SCEPNextCASwitchTime", scep_set_switch_time, NULL, RSRC_CONF,
                  "when the next CA takes over: a UTC time (2027-01-31T00:00:00Z) or "
                  "notBefore (default: the next CA certificate's)"),
    AP_INIT_TAKE2("SCEPPreviousCA", scep_set_previous_ca, NULL, RSRC_CONF,
                  "certificate and key of a CA this server issued from before: its CRL, "
                  "GetCert, revocation, renewal and OCSP go on"),
    AP_INIT_TAKE1("SCEPChallengePassword", set_challenge, NULL, LOC,
                  "static challenge password for this enrollment point"),
    AP_INIT_TAKE1("SCEPChallengePasswordFile", set_challenge_file, NULL, LOC,
                  "file holding the static challenge password"),
    AP_INIT_FLAG("SCEPLegacyAlgorithms", set_legacy, NULL, LOC,
                 "accept single DES and MD5 (micromdm scepclient, old Cisco)"),
    AP_INIT_TAKE1("SCEPMaxRequestBody", set_max_body, NULL, LOC,
                  "largest PKIOperation body accepted, in bytes"),
    AP_INIT_TAKE1("SCEPProfileName", set_profile_name, NULL, LOC,
                  "name of this Location's profile (default: its path)"),
    AP_INIT_TAKE_ARGV("SCEPSubject", set_subject, NULL, LOC,
                      "attribute request [pattern] | attribute value expression [pattern]"),
    AP_INIT_TAKE1("SCEPSubjectExcess", set_subject_excess, NULL, LOC,
                  "drop or refuse subject attributes no rule allows"),
    AP_INIT_TAKE_ARGV("SCEPSubjectAltName", set_san, NULL, LOC,
                      "type request [pattern] | type value expression [pattern]"),
    AP_INIT_TAKE1("SCEPSubjectAltNameExcess", set_san_excess, NULL, LOC,
                  "drop or refuse subjectAltNames no rule allows"),
    AP_INIT_ITERATE("SCEPKeyAlgorithms", set_key_algs, NULL, LOC,
                    "allowed key types: rsa ec-p256 ec-p384"),
    AP_INIT_TAKE12("SCEPRSAKeySize", set_rsa_size, NULL, LOC,
                   "minimum [maximum] RSA key size in bits"),
    AP_INIT_TAKE1("SCEPValidity", set_validity, NULL, LOC,
                  "validity of issued certificates, e.g. 365d, 12h"),
    AP_INIT_TAKE1("SCEPValidityBackdate", set_backdate, NULL, LOC,
                  "notBefore this far in the past, for clock skew"),
    AP_INIT_FLAG("SCEPValidityCapAtCA", set_cap, NULL, LOC,
                 "on: cut validity at the CA's expiry; off: refuse such requests"),
    AP_INIT_TAKE1("SCEPSignatureDigest", set_digest, NULL, LOC,
                  "digest for signing certificates: sha256 sha384 sha512"),
    AP_INIT_TAKE1("SCEPCertificateType", set_type, NULL, LOC,
                  "client, server, client+server, email or ipsec"),
    AP_INIT_ITERATE("SCEPKeyUsage", set_key_usage, NULL, LOC,
                    "keyUsage bits of issued certificates"),
    AP_INIT_ITERATE("SCEPExtendedKeyUsage", set_eku, NULL, LOC,
                    "extendedKeyUsage names or OIDs"),
    AP_INIT_ITERATE("SCEPRequestedExtensions", set_honour, NULL, LOC,
                    "requested extensions that may narrow the profile: keyUsage extendedKeyUsage"),
    AP_INIT_ITERATE("SCEPCertificatePolicies", set_policies, NULL, LOC,
                    "certificatePolicies OIDs"),
    AP_INIT_ITERATE("SCEPCRLDistributionPoint", set_crl_url, NULL, LOC,
                    "CRL distribution point URLs"),
    AP_INIT_ITERATE("SCEPOCSPResponder", set_ocsp_url, NULL, LOC,
                    "OCSP responder URLs (authorityInfoAccess)"),
    AP_INIT_ITERATE("SCEPCAIssuersURL", set_ca_issuers_url, NULL, LOC,
                    "CA certificate URLs (authorityInfoAccess caIssuers)"),
    AP_INIT_TAKE12("SCEPTemplate", set_template, NULL, LOC,
                   "Microsoft template name [profile name] this Location accepts"),
    AP_INIT_FLAG("SCEPIncludeTemplateName", set_include_template, NULL, LOC,
                 "copy the requested template name into the certificate"),
    POINT_FLAG("SCEPOneTimeChallenges", one_time,
               "accept one-time challenges made for this profile (admin API)"),
    AP_INIT_TAKE12("SCEPChallengeThrottle", set_throttle, NULL, LOC,
                   "failures per address and window before refusing, e.g. 10 15m; or off"),
    AP_INIT_TAKE1("SCEPApproval", set_approval, NULL, LOC,
                  "auto: issue at once; manual: PENDING until an administrator decides"),
    POINT_FLAG("SCEPRenewal", renewal,
               "renewal with a certificate this CA issued (and Renewal in GetCACaps)"),
    AP_INIT_TAKE1("SCEPRenewalWindow", set_renewal_window, NULL, LOC,
                  "renewal only this long before expiry, e.g. 30d"),
    POINT_FLAG("SCEPRenewalChallenge", renewal_challenge,
               "renewals need the challenge password too"),
    AP_INIT_TAKE1("SCEPRenewalSubject", set_renewal_subject, NULL, LOC,
                  "keep: the renewed certificate keeps subject and SANs; profile: rebuild them"),
    AP_INIT_ITERATE("SCEPRenewalFrom", set_renewal_from, NULL, LOC,
                    "profiles (besides this one) whose certificates may renew here"),
    POINT_FLAG("SCEPRenewalSupersede", renewal_supersede,
               "revoke the renewed certificate (reason superseded) when its successor is issued"),
    POINT_FLAG("SCEPGetCACertChain", cacert_chain,
               "on (default): GetCACert lists the certificates above the CA too; off: RA and CA"),
    POINT_FLAG("SCEPCertRepChain", certrep_chain,
               "on: the CertRep carries the CA and its chain after the issued certificate"),
    AP_INIT_TAKE2("SCEPRequestLimit", set_request_limit, NULL, LOC,
                  "attributes|extensions|subject-attributes|subject-length|subject-alt-names N: "
                  "bounds on a PKCS#10 request"),
    AP_INIT_TAKE1("SCEPCRLValidity", set_crl_validity, NULL, RSRC_CONF,
                  "time from a CRL's thisUpdate to its nextUpdate, e.g. 7d"),
    AP_INIT_TAKE1("SCEPSQLiteWriter", set_sqlite_writer, NULL, RSRC_CONF,
                  "who writes SQLite's group commits: requests (their own threads) or "
                  "realtime (a writer thread a child, at real-time priority)"),
    AP_INIT_FLAG("SCEPMemoryTrim", scep_set_memory_trim, NULL, RSRC_CONF,
                 "on (default): a child gives its free heap back to the system when its "
                 "last mod_scep request ends (glibc), at most once a second"),
    AP_INIT_TAKE1("SCEPOperationSlots", scep_set_operation_slots, NULL, RSRC_CONF,
                  "N or off (default): how many PKIOperations a child works on at once; "
                  "the others wait their turn in the order they came"),
    AP_INIT_TAKE1("SCEPAdminSecretFile", set_admin_secret_file, NULL, RSRC_CONF,
                  "file with the key of the admin forms' tokens (same on every node)"),
    AP_INIT_TAKE1("SCEPPassPhraseDialog", scep_set_passphrase_dialog, NULL, RSRC_CONF,
                  "how encrypted CA/RA keys get their passphrase: builtin, exec:/path "
                  "or file:/path"),
    AP_INIT_TAKE2("SCEPOCSPSigner", set_ocsp_signer, NULL, RSRC_CONF,
                  "a delegated OCSP responder's certificate and key (id-kp-OCSPSigning, "
                  "issued by the CA); without it the CA signs OCSP responses"),
    AP_INIT_TAKE1("SCEPOCSPCache", set_ocsp_cache, NULL, RSRC_CONF,
                  "where OCSP responses are kept for every child: none, or a socache "
                  "provider such as shmcb or shmcb:/path(bytes) (default: shmcb when "
                  "mod_socache_shmcb is loaded)"),
    AP_INIT_TAKE1("SCEPOCSPValidity", set_ocsp_validity, NULL, RSRC_CONF,
                  "how long an OCSP response is valid (thisUpdate to nextUpdate), e.g. 1h"),
    AP_INIT_TAKE2("SCEPMobileconfigSigner", set_mobileconfig_signer, NULL, RSRC_CONF,
                  "certificate and key that sign the Apple configuration profiles"),
    SCEP_ASK_COMMANDS(LOC),
    SCEP_NDES_COMMANDS(LOC),
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
    case SCEP_CA_FILE_ENC_CERT: return "SCEPRAEncryptionCertificateFile";
    case SCEP_CA_FILE_ENC_KEY: return "SCEPRAEncryptionCertificateKeyFile";
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
    case SCEP_CA_FILE_ENC_CERT: return &c->ra_enc_cert;
    case SCEP_CA_FILE_ENC_KEY: return &c->ra_enc_key;
    default: return &c->ca_cert;
    }
}

const char *scep_vhost_name(apr_pool_t *p, server_rec *s)
{
    if (!s->defn_name) {
        return apr_psprintf(p, "%s", s->server_hostname ? s->server_hostname : "main server");
    }
    return apr_psprintf(p, "%s (%s:%u)", s->server_hostname ? s->server_hostname : "",
                        s->defn_name, s->defn_line_number);
}

/* Where the directive a start-up problem names was written: problems start
 * with the directive's name. */
static const char *where_of(apr_pool_t *p, const scep_dir_conf_t *d,
                            const scep_dir_conf_t *defaults, const char *problem)
{
    apr_size_t n = strcspn(problem, " :");
    const char *name = apr_pstrmemdup(p, problem, n), *w = NULL;

    if (d->wheres) w = apr_hash_get(d->wheres, name, APR_HASH_KEY_STRING);
    if (!w && defaults->wheres) w = apr_hash_get(defaults->wheres, name, APR_HASH_KEY_STRING);
    return w ? w : d->where ? d->where : "-";
}

/* SCEPRenewalFrom names a profile of this server, or it is a warning;
 * SCEPTemplate's target must be one, or nothing starts. A template
 * without a target selects its own section's profile. */
static int resolve_templates(apr_pool_t *ptemp, server_rec *sp, scep_srv_conf_t *c,
                             const scep_dir_conf_t *defaults)
{
    int i;

    for (i = 0; i < c->locations->nelts; i++) {
        scep_dir_conf_t *d = APR_ARRAY_IDX(c->locations, i, scep_dir_conf_t *);
        apr_hash_index_t *hi;
        int k;
        /* a retired profile's certificates may still renew: only a warning */
        for (k = 0; d->renewal_from && k < d->renewal_from->nelts; k++) {
            const char *from = APR_ARRAY_IDX(d->renewal_from, k, const char *);
            if (i >= c->inherited && !apr_hash_get(c->named, from, APR_HASH_KEY_STRING)) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sp, SCEPLOGNO(00013)
                             "SCEPRenewalFrom %s (%s, in %s): no Location of this server "
                             "has SCEPProfileName %s (a retired profile, or a typo?)", from,
                             where_of(ptemp, d, defaults, "SCEPRenewalFrom"),
                             scep_vhost_name(ptemp, sp), from);
            }
        }
        if (!d->templates) {
            continue;
        }
        for (hi = apr_hash_first(ptemp, d->templates); hi; hi = apr_hash_next(hi)) {
            const void *key;
            void *val;
            apr_hash_this(hi, &key, NULL, &val);
            if (!*(const char *)val) {
                apr_hash_set(d->templates, key, APR_HASH_KEY_STRING, profile_name_of(d));
            }
            else if (!apr_hash_get(c->named, val, APR_HASH_KEY_STRING)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00010)
                             "SCEPTemplate %s %s (%s, in %s): no Location of this server "
                             "has SCEPProfileName %s", (const char *)key,
                             (const char *)val, where_of(ptemp, d, defaults, "SCEPTemplate"),
                             scep_vhost_name(ptemp, sp), (const char *)val);
                return !OK;
            }
        }
    }
    return OK;
}

/* The service of a section over home (a server's defaults) with profile
 * prof at server c, built once: the section keeps it for that server. */
static void build_service(apr_pool_t *pconf, const scep_srv_conf_t *c,
                          scep_dir_conf_t *section, const scep_dir_conf_t *home,
                          const scep_profile_t *prof)
{
    scep_service_t *svc;

    if (!c->ca) {
        return;     /* no CA: SetHandler scep answers 500 and says why */
    }
    svc = scep_service_make(pconf, c->ca, c->oids, prof, scep_crl_validity_of(c), c->cacert);
    scep_service_set_next(svc, pconf, c->nextcacert);
    scep_service_set_cas(svc, pconf, c->cas, c->next_cacert);
    if (!section->services) {
        section->services = apr_hash_make(pconf);
    }
    apr_hash_set(section->services, apr_pmemdup(pconf, &home, sizeof(home)), sizeof(home), svc);
}

/* Every Location's profile as requests there will see it (server defaults
 * plus the section), checked against the CA, indexed by name so that
 * SCEPTemplate can point at it, and its service built. */
static int check_profiles(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sp)
{
    scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
    scep_dir_conf_t *defaults = ap_get_module_config(sp->lookup_defaults, &scep_module);
    apr_hash_t *inherited;          /* names that came from the main server */
    apr_int64_t lifetime = 0;
    int i;

    if (c->ca) {
        lifetime = scep_asn1_time_epoch(X509_get0_notAfter(c->ca->cert))
                   - scep_asn1_time_epoch(X509_get0_notBefore(c->ca->cert));
    }
    c->named = apr_hash_make(pconf);
    inherited = apr_hash_make(ptemp);
    defaults->home = defaults;
    for (i = -1; i < c->locations->nelts; i++) {
        scep_dir_conf_t *d = i < 0 ? defaults : APR_ARRAY_IDX(c->locations, i, scep_dir_conf_t *);
        const char *name = profile_name_of(d), *problem;
        const scep_dir_conf_t *merged;
        const scep_profile_t *prof;
        const void *other;

        /* the server's own settings are no Location; a virtual host with
         * a configuration of its own has them merged into its defaults */
        if (i >= 0 && (d == defaults || (i < c->inherited && !d->path))) {
            continue;
        }
        /* the Location as a request there sees it: server defaults + section */
        merged = i < 0 ? d : scep_merge_dir_conf(pconf, defaults, d);
        if ((problem = scep_policy_check(merged->policy, ptemp, lifetime)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00008)
                         "profile %s (%s, in %s): %s", name,
                         where_of(ptemp, d, defaults, problem), scep_vhost_name(ptemp, sp), problem);
            return !OK;
        }
        other = apr_hash_get(c->named, name, APR_HASH_KEY_STRING);
        /* a virtual host's own Location may reuse a name it inherited */
        if (other && i >= 0
            && !(i >= c->inherited && apr_hash_get(inherited, name, APR_HASH_KEY_STRING))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00009)
                         "SCEPProfileName %s (%s, in %s) is already used by another "
                         "Location of this server", name,
                         where_of(ptemp, d, defaults, "SCEPProfileName"), scep_vhost_name(ptemp, sp));
            return !OK;
        }
        prof = build_profile(pconf, merged, c->named, &problem);
        if (problem) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00020)
                         "profile %s (%s, in %s): %s", name, d->where,
                         scep_vhost_name(ptemp, sp), problem);
            return !OK;
        }
        apr_hash_set(c->named, name, APR_HASH_KEY_STRING, prof);
        apr_hash_set(inherited, name, APR_HASH_KEY_STRING,
                     i >= 0 && i < c->inherited ? "" : NULL);
        build_service(pconf, c, d, defaults, prof);
    }
    defaults->service = defaults->services
                        ? apr_hash_get(defaults->services, &defaults, sizeof(defaults)) : NULL;
    defaults->defaults_only = 1;
    return resolve_templates(ptemp, sp, c, defaults);
}

const scep_service_t *scep_service_of(request_rec *r)
{
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    scep_dir_conf_t *dconf = ap_get_module_config(r->per_dir_config, &scep_module);
    const scep_service_t *svc = dconf->service;
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    const char *name = profile_name_of(dconf);
    scep_profile_t *prof;
    scep_service_t *named;

    if (!sconf->ca) {
        return NULL;
    }
    if (!dconf->profile_name && core && core->d && core->d[0] == '/') {
        /* our configuration exists only in sections with our directives:
         * an unnamed profile takes the name of the section that matched */
        name = core->d;
    }
    if (!svc) {
        /* nested sections that each set our directives: their profile is
         * built for this request (not checked at start-up as a whole) */
        const char *problem = NULL;     /* each section's was checked at start-up */
        prof = build_profile(r->pool, dconf, sconf->named, &problem);
        scep_service_t *made = scep_service_make(r->pool, sconf->ca, sconf->oids, prof,
                                                 scep_crl_validity_of(sconf), sconf->cacert);
        scep_service_set_next(made, r->pool, sconf->nextcacert);
        scep_service_set_cas(made, r->pool, sconf->cas, sconf->next_cacert);
        svc = made;
    }
    /* the next CA's service from the switch-over on */
    svc = scep_service_at(svc, (apr_int64_t)apr_time_sec(r->request_time));
    if (strcmp(svc->profile->name, name)) {
        /* a section without our directives is named after itself */
        scep_policy_t *policy = apr_pmemdup(r->pool, svc->profile->policy, sizeof(*policy));
        prof = apr_pmemdup(r->pool, svc->profile, sizeof(*prof));
        prof->name = policy->name = name;
        prof->policy = policy;
        named = apr_pmemdup(r->pool, svc, sizeof(*named));
        named->profile = prof;
        svc = named;
    }
    return svc;
}

/* A private key file that others than its owner may read deserves a word. */
static void warn_key_file(server_rec *s, const char *directive, const scep_setting_t *file,
                          apr_pool_t *ptemp)
{
    apr_finfo_t fi;

    if (apr_stat(&fi, file->value, APR_FINFO_PROT, ptemp) == APR_SUCCESS
        && (fi.protection & (APR_FPROT_GREAD | APR_FPROT_WREAD))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SCEPLOGNO(00014)
                     "%s %s (%s, in %s) is readable by %s: a private key should be "
                     "readable by its owner only (chmod 600)", directive, file->value,
                     file->where, scep_vhost_name(ptemp, s),
                     (fi.protection & APR_FPROT_WREAD) ? "everyone" : "its group");
    }
}

/* Once per loaded CA (in post_config, where the error log is open): keys
 * that others may read, and a CA key that works without an RA. */
void scep_warn_ca_material(server_rec *s, apr_pool_t *ptemp)
{
    apr_hash_t *seen = apr_hash_make(ptemp);

    for (; s; s = s->next) {
        scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);

        if (!c->ca || apr_hash_get(seen, &c->ca, sizeof(c->ca))) {
            continue;
        }
        apr_hash_set(seen, apr_pmemdup(ptemp, &c->ca, sizeof(c->ca)), sizeof(c->ca), "");
        warn_key_file(s, "SCEPCACertificateKeyFile", &c->ca_key, ptemp);
        if (c->ra_key.value) {
            warn_key_file(s, "SCEPRACertificateKeyFile", &c->ra_key, ptemp);
            if (c->ra_enc_key.value) {
                warn_key_file(s, "SCEPRAEncryptionCertificateKeyFile", &c->ra_enc_key, ptemp);
            }
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SCEPLOGNO(00015)
                         "%s has no SCEPRACertificateFile: the CA key itself decrypts "
                         "every request and signs every reply, i.e. works on data anyone "
                         "can send; an RA certificate keeps it to signing certificates",
                         scep_vhost_name(ptemp, s));
        }
    }
}

/* GetNextCACert's answer, from SCEPNextCACertificateFile (and
 * SCEPNextRACertificateFile), signed by the CA's RA. */
static int load_next_ca(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *sp,
                        scep_srv_conf_t *c)
{
    X509 *next_ca = NULL, *next_ra = NULL;
    const scep_setting_t *bad = &c->next_ca;
    const char *err = NULL;

    c->nextcacert = NULL;
    if (!c->next_ca.value) {
        if (!c->next_ra.value) {
            return OK;
        }
        err = "is set without SCEPNextCACertificateFile";
        bad = &c->next_ra;
    }
    else if (scep_load_cert(&next_ca, pconf, c->next_ca.value, &err) != APR_SUCCESS
             || (c->next_ra.value && (bad = &c->next_ra, scep_load_cert(&next_ra, pconf,
                 c->next_ra.value, &err) != APR_SUCCESS))) {
        /* err says why */
    }
    else if (scep_service_nextcacert(&c->nextcacert, &err, pconf, c->ca, next_ca, next_ra)
             == APR_SUCCESS) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00021)
                 "%s %s (%s, in %s): %s", bad == &c->next_ra ? "SCEPNextRACertificateFile"
                 : "SCEPNextCACertificateFile", bad->value, bad->where,
                 scep_vhost_name(ptemp, sp), err);
    return !OK;
}

/* Load every server's CA material as root, before privileges are dropped.
 * Runs under `apachectl -t` too, so configuration errors surface there. */
int scep_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *loaded = apr_hash_make(ptemp);
    scep_oids_t *oids;
    server_rec *sp;

    if (scep_oids_make(&oids, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00001)
                     "cannot create the SCEP attribute OIDs, or OpenSSL's library context "
                     "with its \"null\" provider (for parsing without decoding keys)");
        return !OK;
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        scep_ca_files_t files;
        scep_ca_file_t which = SCEP_CA_FILE_CERT;
        const char *err = NULL, *key;
        const scep_srv_conf_t *same;
        scep_ca_t *ca = NULL;

        c->oids = oids;
        if (!c->ca_cert.value && !c->ca_key.value) {
            const scep_setting_t *orphan = c->ra_cert.value ? &c->ra_cert
                                           : c->ra_key.value ? &c->ra_key
                                           : c->ra_enc_cert.value ? &c->ra_enc_cert
                                           : c->ca_chain.value ? &c->ca_chain : NULL;
            if (orphan) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00002)
                             "%s %s (%s, in %s) is set but there is no SCEPCACertificateFile",
                             orphan == &c->ra_cert ? "SCEPRACertificateFile"
                             : orphan == &c->ra_key ? "SCEPRACertificateKeyFile"
                             : orphan == &c->ra_enc_cert ? "SCEPRAEncryptionCertificateFile"
                             : "SCEPCAChainFile", orphan->value, orphan->where,
                             scep_vhost_name(ptemp, sp));
                return !OK;
            }
            continue;
        }
        if (!c->ca_cert.value || !c->ca_key.value) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00003)
                         "%s: %s is set (%s) but %s is missing", scep_vhost_name(ptemp, sp),
                         c->ca_cert.value ? "SCEPCACertificateFile" : "SCEPCACertificateKeyFile",
                         c->ca_cert.value ? c->ca_cert.where : c->ca_key.where,
                         c->ca_cert.value ? "SCEPCACertificateKeyFile" : "SCEPCACertificateFile");
            return !OK;
        }
        memset(&files, 0, sizeof(files));
        files.cert = c->ca_cert.value;
        files.key = c->ca_key.value;
        files.chain = c->ca_chain.value;
        files.ra_cert = c->ra_cert.value;
        files.ra_key = c->ra_key.value;
        files.enc_cert = c->ra_enc_cert.value;
        files.enc_key = c->ra_enc_key.value;
        scep_passphrase_source(&files, sp);
        /* vhosts that inherit the same files share one loaded CA */
        key = apr_pstrcat(ptemp, files.cert, "|", files.key, "|",
                          files.chain ? files.chain : "", "|",
                          files.ra_cert ? files.ra_cert : "", "|",
                          files.ra_key ? files.ra_key : "", "|",
                          files.enc_cert ? files.enc_cert : "", "|",
                          files.enc_key ? files.enc_key : "", NULL);
        if (!(same = apr_hash_get(loaded, key, APR_HASH_KEY_STRING))) {
            if (scep_ca_load(&ca, pconf, &files, &err, &which) != APR_SUCCESS
                || scep_service_cacert(&c->cacert, &err, pconf, ca) != APR_SUCCESS) {
                const scep_setting_t *bad = setting_of(c, which);
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, SCEPLOGNO(00004)
                             "%s %s (%s, in %s): %s", directive_of(which),
                             bad->value ? scep_pkcs11_safe_uri(ptemp, bad->value) : "(not set)",
                             bad->where ? bad->where : "-", scep_vhost_name(ptemp, sp), err);
                return !OK;
            }
            c->ca = ca;
            apr_hash_set(loaded, key, APR_HASH_KEY_STRING, c);
        }
        else {
            c->ca = same->ca;
            c->cacert = same->cacert;
        }
        if (load_next_ca(pconf, ptemp, sp, c) != OK
            || scep_rollover_load(pconf, ptemp, sp, c) != OK) {
            return !OK;
        }
    }
    for (sp = s; sp; sp = sp->next) {
        if (check_profiles(pconf, ptemp, sp) != OK) {
            return !OK;
        }
    }
    return scep_ndes_check(ptemp, s) != OK ? !OK : scep_ocsp_check(ptemp, s);
}

/* Does this section (or a section inside it) restrict access? */
static int has_access_control(const ap_directive_t *section)
{
    const ap_directive_t *d;

    for (d = section ? section->first_child : NULL; d; d = d->next) {
        if (!strcasecmp(d->directive, "Require") || !strncasecmp(d->directive, "<Require", 8)
            || !strcasecmp(d->directive, "SSLVerifyClient")) {
            return 1;
        }
    }
    return 0;
}

/* Say at start-up where scep-admin would be open: requests there are
 * refused (fail closed), and the administrator should know why. */
void scep_check_admin_sections(const ap_directive_t *node, server_rec *s)
{
    for (; node; node = node->next) {
        if (!strcasecmp(node->directive, "SetHandler") && node->args
            && (!strcasecmp(node->args, "scep-admin") || !strcasecmp(node->args, "scep-ndes"))
            && !has_access_control(node->parent)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SCEPLOGNO(00011)
                         "SetHandler %s (%s:%d) has no Require in its section: "
                         "mod_scep refuses every request there until authentication "
                         "is configured", node->args, node->filename, node->line_num);
        }
        scep_check_admin_sections(node->first_child, s);
    }
}

/* Every server without SCEPAdminSecretFile gets a random key for its admin
 * forms' tokens, in the parent: the children share it, a restart makes a
 * new one (the page then hands out new tokens). */
int scep_admin_secrets(apr_pool_t *pconf, server_rec *s)
{
    for (; s; s = s->next) {
        scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);
        unsigned char *key;

        if (c->admin_secret) {
            continue;
        }
        key = apr_palloc(pconf, ADMIN_SECRET_MIN);
        if (apr_generate_random_bytes(key, ADMIN_SECRET_MIN) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00320)
                         "cannot make a random key for the admin forms' tokens");
            return !OK;
        }
        c->admin_secret = key;
        c->admin_secret_len = ADMIN_SECRET_MIN;
    }
    return OK;
}


apr_int64_t scep_crl_validity_of(const scep_srv_conf_t *c)
{
    return c->crl_validity != UNSET ? c->crl_validity : DEFAULT_CRL_VALIDITY;
}
