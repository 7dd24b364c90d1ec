/* mod_scep core: what MySQL/MariaDB (apr_dbd_mysql) needs done its own way. */
#include "scep_store_dialect.h"

#define MYSQL_GONE(err) ((err) == 2030 /* CR_NO_PREPARE_STMT */             \
                         || (err) == 1243 /* ER_UNKNOWN_STMT_HANDLER */     \
                         || (err) == 2006 /* CR_SERVER_GONE_ERROR */        \
                         || (err) == 2013 /* CR_SERVER_LOST */)

/* After a server restart libmysqlclient reconnects by itself (apr_dbd_mysql
 * always enables it), and every prepared statement handle of the connection
 * is dead. So only after an error that says the statement or the session
 * is gone (never after a duplicate key: that would leak live server-side
 * statements), all of them are prepared again, in place. apr_dbd cannot
 * close the dead handles, so each such event leaves the connection's dead
 * client-side handles until the connection closes. They must live as long as the
 * connection, but its pool shares the child's allocator with other
 * threads, so they go to a pool of their own below it. */
static int mysql_restore(scep_ctx_t *ctx, scep_store_t *st, int err)
{
    apr_allocator_t *alloc = NULL;
    apr_pool_t *keep = NULL;
    const scep_sql_t *q;
    int restored = 0;

    if (!MYSQL_GONE(err) || apr_allocator_create(&alloc) != APR_SUCCESS) {
        return 0;
    }
    if (apr_pool_create_ex(&keep, apr_hash_pool_get(st->prepared), NULL, alloc)
        != APR_SUCCESS) {
        apr_allocator_destroy(alloc);
        return 0;
    }
    apr_allocator_owner_set(alloc, keep);
    for (q = scep_store_sql; q->label; q++) {
        apr_dbd_prepared_t *s = apr_hash_get(st->prepared, q->label, APR_HASH_KEY_STRING);
        if (s && apr_dbd_prepare(st->driver, keep, st->handle, q->sql, q->label, &s) == 0) {
            restored++;
        }
    }
    scep_store_restored(ctx, restored, err);
    return restored;
}

/* Sequential reads: the driver's random mode does not read to the end. */
const scep_dialect_t scep_dialect_mysql = {
    "mysql", 0, 0, scep_store_begin_dbd, scep_store_end_dbd, mysql_restore, NULL, NULL, NULL,
    NULL
};
