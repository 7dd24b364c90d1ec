/* mod_scep core: what PostgreSQL (apr_dbd_pgsql) needs done its own way. */
#include <string.h>
#include <apr_strings.h>

#include "scep_store_dialect.h"

/* apr_dbd_pgsql's transaction_start writes through a NULL transaction when
 * BEGIN fails with a result (e.g. the server is shutting down): the child
 * crashes. So the transaction is plain SQL here. */
static int pgsql_begin(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t **ptrans)
{
    int nrows = 0;

    (void)ctx;
    (void)ptrans;
    return apr_dbd_query(st->driver, st->handle, &nrows, "BEGIN");
}

static int pgsql_end(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t *trans,
                     int commit)
{
    int nrows = 0;

    (void)ctx;
    (void)trans;
    return apr_dbd_query(st->driver, st->handle, &nrows, commit ? "COMMIT" : "ROLLBACK");
}

/* After a database restart, a pooled connection's session is gone. mod_dbd
 * checks a connection only when it lends it, so the first statement after
 * the restart meets the closed session: here libpq opens a new one
 * (apr_dbd_check_conn: PQreset), as mod_dbd would at the next loan, and
 * the statement is run again instead of failing its request. The new
 * session has none of the statements the connection had prepared. So after
 * any failure, those of the connection's (its table, st->prepared) that the
 * server says this session lacks (pg_prepared_statements) are prepared
 * again under the same names: one query, nothing prepared on a sound
 * connection. The others are prepared when first used, as on any
 * connection. */
static int pgsql_restore(scep_ctx_t *ctx, scep_store_t *st, int err)
{
    apr_hash_t *have = apr_hash_make(ctx->pool);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const scep_sql_t *q;
    int restored = 0, list;

    if (apr_dbd_check_conn(st->driver, ctx->pool, st->handle) != APR_SUCCESS
        || apr_dbd_select(st->driver, ctx->pool, st->handle, &res,
                          "SELECT name FROM pg_prepared_statements", 1)) {
        return 0;
    }
    while (apr_dbd_get_row(st->driver, ctx->pool, res, &row, -1) == 0) {
        const char *name = apr_dbd_get_entry(st->driver, row, 0);
        if (name) {
            apr_hash_set(have, apr_pstrdup(ctx->pool, name), APR_HASH_KEY_STRING, "");
        }
    }
    for (list = 0; list < 2; list++) {
        q = list ? scep_store_sql_of_driver("pgsql") : scep_store_sql;
        for (; q->label; q++) {
            apr_dbd_prepared_t *again = NULL;
            if (apr_hash_get(st->prepared, q->label, APR_HASH_KEY_STRING)
                && !apr_hash_get(have, q->label, APR_HASH_KEY_STRING)
                && apr_dbd_prepare(st->driver, ctx->pool, st->handle, q->sql, q->label,
                                   &again) == 0) {
                restored++;
            }
        }
    }
    scep_store_restored(ctx, restored, err);
    return restored;
}

/* PostgreSQL plans a prepared statement once for any parameters (its
 * generic plan, after five runs) and keeps that plan until the table's
 * statistics change. A new database has none until autovacuum's first pass
 * over it (autovacuum_naptime, a minute by default), and without them every
 * index that starts with the CA looks as good as the one a lookup needs: a
 * connection that planned while the tables were small went on reading every
 * row of its CA for each preflight and challenge lookup (10 ms a lookup at
 * 5,000 rows, growing with each enrollment, in the bench's fresh databases).
 * So the enrollment whose transaction id is a multiple of YOUNG_EVERY (one in
 * that many, across every child) asks whether a table of the enrollment path
 * has rows and was never analyzed (nor vacuumed), and if so analyzes it: the
 * first time soon after the first enrollments, and every connection plans
 * again with the statistics. From then on autovacuum keeps them. A table we
 * do not own is left to its owner (no statement, no warning). */
#define YOUNG_EVERY 64

static const char *const young_tables[] = {
    "scep_transactions", "scep_challenges", "scep_certificates", NULL
};

static void pgsql_recorded(scep_ctx_t *ctx, scep_store_t *st, apr_int64_t id)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *const *t;
    int err, nrows;

    if (id % YOUNG_EVERY) {
        return;
    }
    /* (reltuples is -1 until a table's first VACUUM or ANALYZE, from
     * PostgreSQL 14 on; pg_stats itself is far too slow to ask this often) */
    err = apr_dbd_select(st->driver, ctx->pool, st->handle, &res,
                         "SELECT relname FROM pg_class WHERE oid IN "
                         "('scep_transactions'::regclass, 'scep_challenges'::regclass, "
                         "'scep_certificates'::regclass) AND reltuples < 0 "
                         "AND pg_relation_size(oid) > 0 AND pg_has_role(relowner, 'USAGE')", 1);
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00374)
                 "PostgreSQL: cannot tell whether the tables have statistics: %s",
                 apr_dbd_error(st->driver, st->handle, err));
        return;
    }
    while (apr_dbd_get_row(st->driver, ctx->pool, res, &row, -1) == 0) {
        const char *name = apr_dbd_get_entry(st->driver, row, 0);
        /* only our own names go into the statement */
        for (t = young_tables; *t && (!name || strcmp(name, *t)); t++) {
        }
        if (!*t) {
            continue;
        }
        err = apr_dbd_query(st->driver, st->handle, &nrows,
                            apr_pstrcat(ctx->pool, "ANALYZE (SKIP_LOCKED) ", *t, NULL));
        if (err) {
            SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00375)
                     "PostgreSQL: %s has no statistics yet, and ANALYZE failed: %s "
                     "(lookups may read every row until autovacuum analyzes it)", *t,
                     apr_dbd_error(st->driver, st->handle, err));
        }
        else {
            SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00376)
                     "PostgreSQL: %s had rows and no statistics: analyzed, so that "
                     "its lookups are planned on its indexes", *t);
        }
    }
}

/* Random access: the whole result at once, because the sequential mode of
 * apr_dbd_pgsql sleeps 100 ms on an empty result, i.e. on every lookup that
 * finds nothing. */
const scep_dialect_t scep_dialect_pgsql = {
    "pgsql", 1, 0, pgsql_begin, pgsql_end, pgsql_restore, NULL, NULL, pgsql_recorded,
    NULL
};
