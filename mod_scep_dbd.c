/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/* mod_scep glue: mod_dbd. Its optional functions, the driver a server uses
 * (read from the configuration tree), the SQLite writers' lock, our
 * statements prepared on every connection, and a store per request. */

#include "mod_scep_private.h"

/* Optional functions of mod_dbd: the only statics, reset every generation. */
static APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *dbd_prepare_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close_fn;

int scep_dbd_pre_config(apr_pool_t *pconf)
{
    dbd_prepare_fn = NULL;
    dbd_acquire_fn = NULL;
    dbd_open_fn = NULL;
    dbd_close_fn = NULL;
    return ap_mutex_register(pconf, DB_LOCK_TYPE, NULL, APR_LOCK_DEFAULT, 0) == APR_SUCCESS
           ? OK : !OK;
}

/* The DBDriver that applies to server s, read from the configuration tree
 * (mod_dbd keeps its own configuration private): the one inside s's
 * <VirtualHost>, else the one outside every <VirtualHost>. */
static const char *dbdriver_in(const ap_directive_t *node, const server_rec *vhost,
                               int inside, apr_pool_t *p)
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
        else if (in && !strcasecmp(node->directive, "DBDriver") && node->args) {
            const char *args = node->args;
            found = ap_getword_conf(p, &args);
        }
        if ((sub = dbdriver_in(node->first_child, vhost, in, p))) {
            found = sub;
        }
    }
    return found;
}

static const char *dbdriver_for(const server_rec *s, apr_pool_t *p)
{
    const char *name = NULL;

    if (s->is_virtual) {
        name = dbdriver_in(ap_conftree, s, 0, p);
    }
    return name ? name : dbdriver_in(ap_conftree, NULL, 1, p);
}

/* Runs before mod_dbd's post_config, so our statements are prepared on
 * every connection it opens. */
int scep_dbd_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    module *dbd_module = ap_find_linked_module("mod_dbd.c");
    apr_hash_t *prepared_for = apr_hash_make(ptemp);
    server_rec *sp;

    dbd_prepare_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    dbd_acquire_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    dbd_open_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!dbd_prepare_fn || !dbd_acquire_fn || !dbd_open_fn || !dbd_close_fn || !dbd_module) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, SCEPLOGNO(00005)
                     "mod_scep records every enrollment through mod_dbd: "
                     "add LoadModule dbd_module and DBDriver/DBDParams");
        return !OK;
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        void *dbd_conf = ap_get_module_config(sp->module_config, dbd_module);
        const scep_sql_t *q;
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
        for (q = scep_store_sql; q->label; q++) {
            dbd_prepare_fn(sp, q->sql, q->label);
        }
    }
    return OK;
}

apr_status_t scep_dbd_open_store(void *baton, scep_store_t **pstore)
{
    request_rec *r = baton;
    scep_srv_conf_t *sconf = ap_get_module_config(r->server->module_config, &scep_module);
    ap_dbd_t *dbd = dbd_acquire_fn ? dbd_acquire_fn(r) : NULL;

    if (!dbd) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SCEPLOGNO(00301)
                      "no database connection from mod_dbd (check DBDriver/DBDParams "
                      "and that the schema from conf/ is loaded)");
        return SCEP_EDB;
    }
    *pstore = scep_store_make(r->pool, dbd->driver, dbd->handle, dbd->prepared,
                              sconf->db_lock ? sconf->db_lock->mutex : NULL);
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
        /* every child takes them in server order, so never crosswise */
        c->db_lock->held = c->db_lock->sqlite
                           && apr_global_mutex_lock(c->db_lock->mutex) == APR_SUCCESS;
    }
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

