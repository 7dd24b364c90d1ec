/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* mod_scep glue: mod_dbd. Its optional functions, the driver a server uses
 * (read from the configuration tree), the SQLite writers' lock, our
 * statements prepared on every connection, and a store per request. */

#include <sys/stat.h>
#include <pwd.h>
#include <grp.h>
#include "unixd.h"

#include "mod_scep_private.h"

/* Optional functions of mod_dbd: the only statics, reset every generation. */
static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dbd_prepare_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close_fn;

int scep_dbd_pre_config(apr_pool_t *pconf)
{
    dbd_prepare_fn = NULL;
    dbd_open_fn = NULL;
    dbd_close_fn = NULL;
    return ap_mutex_register(pconf, DB_LOCK_TYPE, NULL, APR_LOCK_DEFAULT, 0) == APR_SUCCESS
           ? OK : !OK;
}

/* The DBDriver that applies to server s, read from the configuration tree
 * (mod_dbd keeps its own configuration private): the one inside s's
 * <VirtualHost>, else the one outside every <VirtualHost>. */
static const char *directive_in(const ap_directive_t *node, const server_rec *vhost,
                                int inside, apr_pool_t *p, const char *name)
{
    const char *found = NULL, *sub;

    for (; node; node = node->next) {
        int in = inside;

        if (!strcasecmp(node->directive, "<VirtualHost")) {
            in = vhost && (unsigned)node->line_num == vhost->defn_line_number
                 && vhost->defn_name && !strcmp(node->filename, vhost->defn_name);
            if (!in) {
                continue;
            }
        }
        else if (in && !strcasecmp(node->directive, name) && node->args) {
            const char *args = node->args;
            found = ap_getword_conf(p, &args);
        }
        if ((sub = directive_in(node->first_child, vhost, in, p, name))) {
            found = sub;
        }
    }
    return found;
}

/* A mod_dbd directive's value for server s (DBDriver, DBDParams). */
static const char *dbd_setting_for(const server_rec *s, apr_pool_t *p, const char *name)
{
    const char *value = NULL;

    if (s->is_virtual) {
        value = directive_in(ap_conftree, s, 0, p, name);
    }
    return value ? value : directive_in(ap_conftree, NULL, 1, p, name);
}

static const char *dbdriver_for(const server_rec *s, apr_pool_t *p)
{
    return dbd_setting_for(s, p, "DBDriver");
}

/* Can user uid (groups) do bits (4 read, 2 write, 1 search) on st? */
static int user_may(const struct stat *st, uid_t uid, const gid_t *groups, int ngroups,
                    unsigned bits)
{
    int i;

    if (uid == 0) {
        return 1;
    }
    if (st->st_uid == uid) {
        return ((st->st_mode >> 6) & bits) == bits;
    }
    for (i = 0; i < ngroups; i++) {
        if (st->st_gid == groups[i]) {
            return ((st->st_mode >> 3) & bits) == bits;
        }
    }
    return (st->st_mode & bits) == bits;
}

static const char *mode_of(apr_pool_t *p, const struct stat *st)
{
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);

    return apr_psprintf(p, "mode %04o, owner %s:%s", (unsigned)(st->st_mode & 07777),
                        pw ? pw->pw_name : apr_itoa(p, (int)st->st_uid),
                        gr ? gr->gr_name : apr_itoa(p, (int)st->st_gid));
}

/* Why the children's user cannot use the SQLite file at path, or NULL:
 * each directory on the way, the file, and its directory (WAL's files). */
static const char *sqlite_unusable(apr_pool_t *p, const char *path, uid_t uid,
                                   const gid_t *groups, int ngroups)
{
    char *dir = apr_pstrdup(p, path), *slash;
    struct stat st;
    apr_size_t i;

    if ((slash = strrchr(dir, '/')) == NULL || *path != '/') {
        return "DBDParams is not an absolute path";
    }
    *slash = '\0';
    for (i = 1; i <= strlen(dir); i++) {
        if (dir[i] == '/' || dir[i] == '\0') {
            const char *component = apr_pstrndup(p, dir, i);
            if (stat(component, &st) != 0) {
                return apr_psprintf(p, "%s does not exist", component);
            }
            if (!user_may(&st, uid, groups, ngroups, 1)) {
                return apr_psprintf(p, "the folder %s (%s) cannot be entered", component,
                                    mode_of(p, &st));
            }
        }
    }
    if (stat(path, &st) != 0) {
        return "the file does not exist (load the schema from conf/ first)";
    }
    if (!user_may(&st, uid, groups, ngroups, 6)) {
        return apr_psprintf(p, "the file (%s) is not readable and writable", mode_of(p, &st));
    }
    if (stat(*dir ? dir : "/", &st) == 0 && !user_may(&st, uid, groups, ngroups, 3)) {
        return apr_psprintf(p, "its folder %s (%s) is not writable: SQLite makes its -wal and "
                            "-shm files there", *dir ? dir : "/", mode_of(p, &st));
    }
    return NULL;
}

/* DBDParams without what follows a password key. */
static const char *redacted(apr_pool_t *p, const char *params)
{
    char *out = apr_pstrdup(p, params), *k;

    for (k = out; (k = strstr(k, "pass")) != NULL; k++) {
        char *eq = strchr(k, '=');
        if (eq && eq - k <= 8) {
            for (eq++; *eq && *eq != ' ' && *eq != ','; eq++) *eq = '*';
        }
    }
    return out;
}

/* At start-up, once: can the children reach the database? Said with the
 * file or server, the user, and why, instead of a 503 at the first request. */
static void check_database(apr_pool_t *ptemp, server_rec *sp, const char *driver)
{
    const char *params = dbd_setting_for(sp, ptemp, "DBDParams");
    /* the children switch to User only when httpd starts as root */
    uid_t uid = geteuid() == 0 ? ap_unixd_config.user_id : geteuid();
    gid_t gid = geteuid() == 0 ? ap_unixd_config.group_id : getegid();
    struct passwd *pw = getpwuid(uid);
    const char *user = pw ? apr_pstrdup(ptemp, pw->pw_name) : "?";
    const apr_dbd_driver_t *drv;
    apr_dbd_t *handle = NULL;
    const char *why = NULL;
    gid_t groups[64];
    int ngroups = 64;

    if (!driver || !params) {
        return;
    }
    if (!strcasecmp(driver, "sqlite3")) {
        if (getgrouplist(user, gid, groups, &ngroups) < 0) {
            groups[0] = gid;
            ngroups = 1;
        }
        why = sqlite_unusable(ptemp, params, uid, groups, ngroups);
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, SCEPLOGNO(00022)
                         "the SQLite database %s cannot be used by the children's user %s "
                         "(uid %d): %s; every enrollment will get 503 until this is fixed",
                         params, user, (int)uid, why);
        }
        return;
    }
    if (apr_dbd_get_driver(ptemp, driver, &drv) != APR_SUCCESS) {
        return;     /* mod_dbd says so */
    }
    if (apr_dbd_open_ex(drv, ptemp, params, &handle, &why) != APR_SUCCESS || !handle) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, sp, SCEPLOGNO(00023)
                     "cannot connect to the %s database \"%s\" (tried at start-up, from the "
                     "parent): %s; enrollments get 503 until it answers", driver,
                     redacted(ptemp, params), why ? why : "no reason given");
        return;
    }
    apr_dbd_close(drv, handle);
}

/* Runs before mod_dbd's post_config, so the statements of every enrollment
 * are prepared on each connection it opens; a connection prepares the
 * others when it first runs them (scep_store.c). And each mod_dbd
 * configuration gets its SQLite writers' lock. */
int scep_dbd_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    module *dbd_module = ap_find_linked_module("mod_dbd.c");
    apr_hash_t *prepared_for = apr_hash_make(ptemp);
    server_rec *sp;

    dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    dbd_open_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_prepare_fn || !dbd_open_fn || !dbd_close_fn || !dbd_module) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00005)
                     "mod_scep records every enrollment through mod_dbd: "
                     "add LoadModule dbd_module and DBDriver/DBDParams");
        return !OK;
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        void *dbd_conf = ap_get_module_config(sp->module_config, dbd_module);
        const char *const *label;
        const char *driver;
        scep_db_lock_t *lock;
        apr_status_t rv;

        if (!c->ca) {
            continue;
        }
        /* vhosts without DBD directives share the main server's mod_dbd
         * configuration: prepare once per configuration object */
        if ((lock = apr_hash_get(prepared_for, &dbd_conf, sizeof(dbd_conf)))) {
            c->db_lock = lock;
            continue;
        }
        /* the driver is only known once mod_dbd connects: every
         * configuration gets a lock, used only with sqlite3 */
        lock = apr_pcalloc(pconf, sizeof(*lock));
        rv = ap_global_mutex_create(&lock->mutex, NULL, DB_LOCK_TYPE,
                                    apr_psprintf(ptemp, "%u", apr_hash_count(prepared_for)),
                                    sp, pconf, 0);
        if (rv != APR_SUCCESS) {
            return !OK;     /* ap_global_mutex_create logged why */
        }
        driver = dbdriver_for(sp, ptemp);
        lock->sqlite = driver && !strcasecmp(driver, "sqlite3");
        c->db_lock = lock;
        apr_hash_set(prepared_for, apr_pmemdup(ptemp, &dbd_conf, sizeof(dbd_conf)),
                     sizeof(dbd_conf), lock);
        for (label = scep_store_sql_at_connect; *label; label++) {
            const scep_sql_t *q = scep_store_sql_find(driver, *label);
            if (q) {
                dbd_prepare_fn(sp, q->sql, q->label);
            }
        }
        /* httpd reads its configuration twice at start: check once */
        if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
            check_database(ptemp, sp, driver);
        }
    }
    return OK;
}

/* A request's connection, on loan from mod_dbd's pool only while the
 * store runs statements: a request holds none during its RSA work, so a
 * child needs as many connections as it has requests at the database at
 * once, not as many as it has requests (ap_dbd_acquire keeps one until the
 * request ends). */
typedef struct dbd_loan_t {
    request_rec *r;
    ap_dbd_t *dbd;              /* NULL while given back */
} dbd_loan_t;

static void loan_give_back(void *baton)
{
    dbd_loan_t *loan = baton;

    if (loan->dbd) {
        dbd_close_fn(loan->r->server, loan->dbd);
        loan->dbd = NULL;
    }
}

/* (the request's end gives back what is still held) */
static apr_status_t loan_end(void *baton)
{
    loan_give_back(baton);
    return APR_SUCCESS;
}

static apr_status_t loan_open(dbd_loan_t *loan)
{
    loan->dbd = dbd_open_fn(loan->r->pool, loan->r->server);
    if (!loan->dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, loan->r, SCEPLOGNO(00301)
                      "no database connection from mod_dbd (check DBDriver/DBDParams "
                      "and that the schema from conf/ is loaded)");
        return SCEP_EDB;
    }
    return APR_SUCCESS;
}

static apr_status_t loan_take(void *baton, scep_store_t *st)
{
    dbd_loan_t *loan = baton;

    if (loan_open(loan) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    scep_store_attach(st, loan->dbd->handle, loan->dbd->prepared);
    return APR_SUCCESS;
}

apr_status_t scep_dbd_open_store(void *baton, scep_store_t **pstore)
{
    request_rec *r = baton;
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    dbd_loan_t *loan = apr_pcalloc(r->pool, sizeof(*loan));

    loan->r = r;
    if (!dbd_open_fn || loan_open(loan) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    apr_pool_cleanup_register(r->pool, loan, loan_end, apr_pool_cleanup_null);
    *pstore = scep_store_make(r->pool, loan->dbd->driver, loan->dbd->handle,
                              loan->dbd->prepared,
                              sconf->db_lock ? sconf->db_lock->mutex : NULL);
    scep_store_on_loan(*pstore, loan_take, loan_give_back, loan);
    if (sconf->db_lock && sconf->db_lock->queue) {
        scep_store_join_queue(*pstore, sconf->db_lock->queue);
    }
    return APR_SUCCESS;
}

apr_status_t scep_dbd_open_server(scep_store_t **pstore, ap_dbd_t **pdbd, apr_pool_t *p,
                                  server_rec *s)
{
    scep_srv_conf_t *sconf = ap_get_module_config(s->module_config, &scep_module);
    ap_dbd_t *dbd = dbd_open_fn ? dbd_open_fn(p, s) : NULL;

    if (!dbd) {
        return SCEP_EDB;      /* mod_dbd logged why */
    }
    *pdbd = dbd;
    *pstore = scep_store_make(p, dbd->driver, dbd->handle, dbd->prepared,
                              sconf->db_lock ? sconf->db_lock->mutex : NULL);
    return APR_SUCCESS;
}

void scep_dbd_close_server(server_rec *s, ap_dbd_t *dbd)
{
    if (dbd_close_fn) {
        dbd_close_fn(s, dbd);
    }
}

/* Every child re-attaches to the SQLite writers' locks, and holds the
 * SQLite ones while mod_dbd's child_init opens its first connections: the
 * first connection to a WAL database with no other open rebuilds the WAL
 * index, and a child opening at that moment fails to prepare its statements
 * with "database is locked" (SQLITE_BUSY_RECOVERY, before any busy handler
 * could be set). Children started together then open one after the other. */
void scep_dbd_child_init(apr_pool_t *p, server_rec *s)
{
    apr_hash_t *done = apr_hash_make(p);

    for (; s; s = s->next) {
        scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);
        apr_status_t rv;

        if (!c->db_lock || apr_hash_get(done, &c->db_lock, sizeof(c->db_lock))) {
            continue;
        }
        apr_hash_set(done, &c->db_lock, sizeof(c->db_lock), "");
        rv = apr_global_mutex_child_init(&c->db_lock->mutex,
                                         apr_global_mutex_lockfile(c->db_lock->mutex), p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, SCEPLOGNO(00012)
                         "cannot re-open the database write lock (Mutex " DB_LOCK_TYPE ") "
                         "in this child");
            continue;
        }
        if (c->db_lock->sqlite && !c->db_lock->queue
            && !(c->db_lock->queue = scep_commit_queue_make(p))) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SCEPLOGNO(00031)
                         "cannot make the group commit's mutex in this child: each "
                         "SQLite write commits alone");
        }
        /* every child takes them in server order, so never crosswise */
        c->db_lock->held = c->db_lock->sqlite
                           && apr_global_mutex_lock(c->db_lock->mutex) == APR_SUCCESS;
    }
}

/* In the child, before it drops its privileges (only root may raise a
 * thread's priority): SCEPSQLiteWriter realtime starts each SQLite
 * database's writer thread. Never refuses: without the thread, the
 * requests' threads write the groups (child_init makes the queue then). */
int scep_dbd_before_drop(apr_pool_t *pchild, server_rec *s)
{
    for (; s; s = s->next) {
        scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);
        int priority_err = 0;
        apr_status_t rv;

        if (c->sqlite_writer != SQLITE_WRITER_REALTIME || !c->db_lock || !c->db_lock->sqlite
            || c->db_lock->queue || !(c->db_lock->queue = scep_commit_queue_make(pchild))) {
            continue;
        }
        rv = scep_commit_queue_start_writer(c->db_lock->queue, pchild, 1, &priority_err);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, SCEPLOGNO(00032)
                         "SCEPSQLiteWriter realtime: cannot start the writer thread; the "
                         "requests' threads write SQLite's group commits in this child");
        }
        else if (priority_err) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, priority_err, s, SCEPLOGNO(00033)
                         "SCEPSQLiteWriter realtime: the SQLite writer thread runs at the "
                         "usual priority (real-time priority needs httpd started as root, "
                         "with CAP_SYS_NICE)");
        }
    }
    return DECLINED;
}

/* After every other module's child_init, mod_dbd's included. */
void scep_dbd_child_init_done(apr_pool_t *p, server_rec *s)
{
    (void)p;
    for (; s; s = s->next) {
        scep_srv_conf_t *c = ap_get_module_config(s->module_config, &scep_module);

        if (c->db_lock && c->db_lock->held) {
            c->db_lock->held = 0;
            apr_global_mutex_unlock(c->db_lock->mutex);
        }
    }
}

