/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: the passphrases of encrypted CA and RA keys, obtained the
 * way mod_ssl's SSLPassPhraseDialog does (SCEPPassPhraseDialog builtin,
 * exec:/path, or file:/path), in the parent at start-up. A passphrase is
 * kept in the parent's retained data, so that httpd's second reading of
 * its configuration and graceful restarts do not ask again.
 */

#include "mod_scep_private.h"
#include "apr_thread_proc.h"
#include "apr_lib.h"
#include <unistd.h>

#define PASS_MAX 1024
#define RETAINED_KEY "mod_scep-passphrases"

const char *scep_set_passphrase_dialog(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    (void)dummy;
    if (err) {
        return err;
    }
    if (!strcmp(arg, "builtin")) {
        conf->pass_dialog = arg;
        return NULL;
    }
    if (!strncmp(arg, "exec:", 5) || !strncmp(arg, "file:", 5)) {
        const char *path = ap_server_root_relative(cmd->pool, arg + 5);
        if (!path || !*(arg + 5)) {
            return apr_pstrcat(cmd->pool, "SCEPPassPhraseDialog: invalid path in ", arg, NULL);
        }
        conf->pass_dialog = apr_pstrcat(cmd->pool, apr_pstrndup(cmd->pool, arg, 5), path, NULL);
        return NULL;
    }
    return "SCEPPassPhraseDialog: builtin, exec:/path/to/program or file:/path/to/file";
}

/* The first line of a string, without its line end. */
static const char *first_line(apr_pool_t *p, const char *s, apr_size_t len)
{
    apr_size_t n = 0;

    while (n < len && s[n] != '\n' && s[n] != '\r' && s[n]) {
        n++;
    }
    return apr_pstrndup(p, s, n);
}

/* file:/path, readable by its owner only */
static const char *from_file(apr_pool_t *p, server_rec *s, const char *path,
                             const char **perr)
{
    apr_finfo_t fi;
    apr_file_t *f;
    char buf[PASS_MAX + 2];
    apr_size_t len = sizeof(buf) - 1;

    if (apr_stat(&fi, path, APR_FINFO_PROT, p) == APR_SUCCESS
        && (fi.protection & (APR_FPROT_GREAD | APR_FPROT_WREAD))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SCEPLOGNO(00350)
                     "SCEPPassPhraseDialog file:%s is readable by %s: it should be "
                     "readable by its owner only (chmod 600)", path,
                     (fi.protection & APR_FPROT_WREAD) ? "everyone" : "its group");
    }
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "cannot read the passphrase file ", path, NULL);
        return NULL;
    }
    apr_file_read(f, buf, &len);
    apr_file_close(f);
    return first_line(p, buf, len);
}

/* exec:/path, run as mod_ssl runs it: program servername:port keyfile */
static const char *from_program(apr_pool_t *p, server_rec *s, const char *prog,
                                const char *key, const char **perr)
{
    const char *args[4];
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    char buf[PASS_MAX + 2];
    apr_size_t len = sizeof(buf) - 1;
    int code = -1;

    args[0] = prog;
    args[1] = apr_psprintf(p, "%s:%u", s->server_hostname ? s->server_hostname : "localhost",
                           (unsigned)s->port);
    args[2] = key;
    args[3] = NULL;
    if (apr_procattr_create(&attr, p) != APR_SUCCESS
        || apr_procattr_io_set(attr, APR_NO_PIPE, APR_FULL_BLOCK, APR_NO_PIPE) != APR_SUCCESS
        || apr_procattr_cmdtype_set(attr, APR_PROGRAM) != APR_SUCCESS
        || apr_proc_create(&proc, prog, args, NULL, attr, p) != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "cannot run SCEPPassPhraseDialog exec:", prog, NULL);
        return NULL;
    }
    apr_file_read_full(proc.out, buf, len, &len);
    apr_file_close(proc.out);
    apr_proc_wait(&proc, &code, &why, APR_WAIT);
    if (why != APR_PROC_EXIT || code != 0) {
        *perr = apr_psprintf(p, "SCEPPassPhraseDialog exec:%s failed (exit %d)", prog, code);
        return NULL;
    }
    return first_line(p, buf, len);
}

/* builtin: asked on the terminal httpd was started from */
static const char *from_terminal(apr_pool_t *p, server_rec *s, const char *key,
                                 const char **perr)
{
    char buf[PASS_MAX + 2];
    apr_size_t len = sizeof(buf);
    const char *prompt;

    if (!isatty(STDIN_FILENO)) {
        *perr = "no terminal to ask the passphrase on: start httpd from one, or set "
                "SCEPPassPhraseDialog exec:/path or file:/path";
        return NULL;
    }
    prompt = apr_psprintf(p, "Enter the pass phrase of %s (mod_scep, %s): ", key,
                          scep_vhost_name(p, s));
    if (apr_password_get(prompt, buf, &len) != APR_SUCCESS) {
        *perr = "the passphrase could not be read from the terminal";
        return NULL;
    }
    return apr_pstrdup(p, buf);
}

/* scep_passphrase_fn (baton: the server whose key it is) */
static const char *passphrase_of(void *baton, const char *key, const char **perr)
{
    server_rec *s = baton;
    scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);
    const char *dialog = c->pass_dialog ? c->pass_dialog : "builtin";
    apr_hash_t **slot = ap_retained_data_get(RETAINED_KEY);
    apr_hash_t *known;
    apr_pool_t *kp;
    const char *pass;

    if (!slot) {
        slot = ap_retained_data_create(RETAINED_KEY, sizeof(*slot));
    }
    if (!(known = *slot)) {
        /* the retained data outlives every configuration cycle */
        apr_pool_create(&kp, NULL);
        known = *slot = apr_hash_make(kp);
    }
    kp = apr_hash_pool_get(known);
    if ((pass = apr_hash_get(known, key, APR_HASH_KEY_STRING))) {
        return pass;
    }
    pass = !strncmp(dialog, "file:", 5) ? from_file(kp, s, dialog + 5, perr)
           : !strncmp(dialog, "exec:", 5) ? from_program(kp, s, dialog + 5, key, perr)
           : from_terminal(kp, s, key, perr);
    if (pass) {
        apr_hash_set(known, apr_pstrdup(kp, key), APR_HASH_KEY_STRING, pass);
    }
    return pass;
}

void scep_passphrase_source(scep_ca_files_t *files, server_rec *s)
{
    files->passphrase = passphrase_of;
    files->passphrase_baton = s;
    /* keys in a token: the engine is loaded only when a key names one */
    files->pkcs11 = (scep_pkcs11_is_uri(files->key) || scep_pkcs11_is_uri(files->ra_key)
                     || scep_pkcs11_is_uri(files->enc_key)) ? scep_pkcs11_of(s) : NULL;
}
