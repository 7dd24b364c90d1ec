/* mod_scep core: what SQLite (apr_dbd_sqlite3) needs done its own way.
 *
 * SQLite allows one writer at a time, and apr_dbd_sqlite3 answers a busy
 * database by sleeping 100 ms per retry (15 tries, then an error): so our
 * writers queue on a lock shared by every process and thread (Mutex
 * scep-db) instead, which is fair and immediate. */
#include <apr_strings.h>

#include "scep_store_dialect.h"

/* SQLite's WAL is copied back into the database file by a checkpoint. Left
 * to SQLite, the writer whose commit passes 1,000 WAL pages runs it inside
 * its commit, i.e. inside the writers' lock, and every other writer waits
 * while scattered pages of a large database are written and synced
 * (enrollments/s fell by a quarter with 1,000,000 rows). So our connections
 * leave it to us: about one write in CHECKPOINT_ODDS checkpoints after
 * releasing the lock (PASSIVE: writers go on meanwhile). Copying pages back
 * does not shorten the WAL: the next writer starts it over only if no
 * reader is using it at that moment, which a busy server rarely offers (the
 * WAL grew to 300 MB in six seconds at 550 enrollments/s). So once it
 * passes WAL_MAX_FRAMES, a checkpoint under the lock copies the rest and
 * waits up to RESTART_WAIT_MS for the readers of the WAL to finish, after
 * which the next write starts it over. */
#define CHECKPOINT_ODDS 16
#define WAL_MAX_FRAMES  20000
#define RESTART_WAIT_MS "200"

/* Run a PRAGMA; the first row's integer columns go to out[]. */
static apr_status_t sqlite_pragma(scep_ctx_t *ctx, scep_store_t *st, const char *sql,
                                  apr_int64_t *out, int nout)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int err, i, first = 1;

    err = apr_dbd_select(st->driver, ctx->pool, st->handle, &res, sql, 0);
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00108) "%s failed: %s", sql,
                 apr_dbd_error(st->driver, st->handle, err));
        return SCEP_EDB;
    }
    while (apr_dbd_get_row(st->driver, ctx->pool, res, &row, -1) == 0) {
        for (i = 0; first && i < nout; i++) {
            const char *v = apr_dbd_get_entry(st->driver, row, i);
            out[i] = v && *v ? apr_atoi64(v) : 0;
        }
        first = 0;
    }
    return APR_SUCCESS;
}

/* Inside the lock, before BEGIN: per connection, and mod_dbd's connections
 * are not ours to mark when they open. The savepoints of a group commit
 * (and each statement that may fail halfway) keep the pages they change
 * in a sub-journal, which SQLite moves to a temporary file once it passes
 * 64 KiB unless temp_store is MEMORY: a group of five enrollments did, and
 * then every page it touched cost two more pwrite()s inside the lock, a
 * third of the children's pwrite()s. In memory it holds at most the
 * group's pages (about 100 kB an enrollment) until its commit. */
static void sqlite_txn_opening(scep_ctx_t *ctx, scep_store_t *st)
{
    apr_int64_t ignored;

    sqlite_pragma(ctx, st, "PRAGMA wal_autocheckpoint=0", &ignored, 1);
    sqlite_pragma(ctx, st, "PRAGMA temp_store=MEMORY", &ignored, 1);
}

/* A long WAL: finish its checkpoint under the writers' lock, waiting for
 * the readers (apr_dbd_sqlite3 sets no busy handler: ours for this only). */
static void wal_restart(scep_ctx_t *ctx, scep_store_t *st)
{
    /* busy, WAL frames, frames in the database file */
    apr_int64_t result[3] = { 0, 0, 0 }, ignored;

    if (scep_store_lock(ctx, st) != APR_SUCCESS) {
        return;
    }
    sqlite_pragma(ctx, st, "PRAGMA busy_timeout=" RESTART_WAIT_MS, &ignored, 1);
    sqlite_pragma(ctx, st, "PRAGMA wal_checkpoint(RESTART)", result, 3);
    sqlite_pragma(ctx, st, "PRAGMA busy_timeout=0", &ignored, 1);
    scep_store_unlock(st);
    if (result[0]) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00112)
                 "WAL not restarted: readers still used it after " RESTART_WAIT_MS
                 " ms (%" APR_INT64_T_FMT " pages; retried at a later write)", result[1]);
    }
}

/* After the lock is released: now and then, a checkpoint. */
static void sqlite_txn_closed(scep_ctx_t *ctx, scep_store_t *st)
{
    apr_int64_t result[3] = { 0, 0, 0 };
    unsigned char dice = 0;

    if (apr_generate_random_bytes(&dice, 1) != APR_SUCCESS || dice % CHECKPOINT_ODDS) {
        return;
    }
    if (sqlite_pragma(ctx, st, "PRAGMA wal_checkpoint(PASSIVE)", result, 3) == APR_SUCCESS
        && result[1] > WAL_MAX_FRAMES) {
        wal_restart(ctx, st);
    }
}

/* apr_dbd_sqlite3's transaction starts with BEGIN IMMEDIATE: it takes
 * SQLite's own write lock at once. Sequential reads. */
const scep_dialect_t scep_dialect_sqlite = {
    "sqlite3", 0, 1, scep_store_begin_dbd, scep_store_end_dbd, NULL,
    sqlite_txn_opening, sqlite_txn_closed, NULL
};
