/* mod_scep core: what SQLite (apr_dbd_sqlite3) needs done its own way.
 *
 * SQLite allows one writer at a time, and apr_dbd_sqlite3 answers a busy
 * database by sleeping 100 ms per retry (15 tries, then an error): so our
 * writers queue on a lock shared by every process and thread (Mutex
 * scep-db) instead, which is fair and immediate. */
#include <string.h>

#include <apr_file_io.h>
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
/* PRAGMA synchronous's levels: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA */
#define SYNC_FULL 2

/* Run a PRAGMA: the first ncols columns of its first row, copied, go to
 * out[] (NULL where there is none, or no row); apr_dbd's error code. */
static int pragma_row(scep_ctx_t *ctx, scep_store_t *st, const char *sql, const char **out,
                      int ncols)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int err, i, first = 1;

    for (i = 0; i < ncols; i++) {
        out[i] = NULL;
    }
    if ((err = apr_dbd_select(st->driver, ctx->pool, st->handle, &res, sql, 0)) != 0) {
        return err;
    }
    while (apr_dbd_get_row(st->driver, ctx->pool, res, &row, -1) == 0) {
        for (i = 0; first && i < ncols; i++) {
            const char *v = apr_dbd_get_entry(st->driver, row, i);
            out[i] = v ? apr_pstrdup(ctx->pool, v) : NULL;
        }
        first = 0;
    }
    return 0;
}

/* Run a PRAGMA; the first row's integer columns go to out[] (0 without). */
static apr_status_t sqlite_pragma(scep_ctx_t *ctx, scep_store_t *st, const char *sql,
                                  apr_int64_t *out, int nout)
{
    const char **text = apr_palloc(ctx->pool, sizeof(*text) * (apr_size_t)nout);
    int err = pragma_row(ctx, st, sql, text, nout), i;

    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00108) "%s failed: %s", sql,
                 apr_dbd_error(st->driver, st->handle, err));
        return SCEP_EDB;
    }
    for (i = 0; i < nout; i++) {
        out[i] = text[i] && *text[i] ? apr_atoi64(text[i]) : 0;
    }
    return APR_SUCCESS;
}

/* Run a PRAGMA; column col of its first row, NULL if none (or it failed). */
static const char *sqlite_pragma_text(scep_ctx_t *ctx, scep_store_t *st, const char *sql,
                                      int col)
{
    const char **text = apr_palloc(ctx->pool, sizeof(*text) * (apr_size_t)(col + 1));

    return pragma_row(ctx, st, sql, text, col + 1) ? NULL : text[col];
}

/* What a connection's transactions need of it, set and read on its first
 * write transaction (mod_dbd's connections are not ours to mark when they
 * open), rather than seven PRAGMAs a transaction, each parsed again and
 * five of them inside the writers' lock (together about 0.5% of the
 * children's CPU; two remain). Kept in the pool of the connection's table
 * of statements (as stmt() keeps its statements), which lives as long as
 * the connection; only the thread that has the connection on loan uses it. */
typedef struct sqlite_conn_t {
    int sync_level;          /* PRAGMA synchronous as the connection had it */
    const char *wal;         /* WAL mode: the WAL's file; NULL: another journal */
} sqlite_conn_t;

#define SQLITE_CONN_KEY "mod_scep:sqlite-connection"

/* The connection's settings: wal_autocheckpoint=0 (we checkpoint) and
 * temp_store=MEMORY set once, and what it journals and syncs with read
 * once; NULL if they cannot be read (asked again next time). The savepoints
 * of a group commit (and each statement that may fail halfway) keep the
 * pages they change in a sub-journal, which SQLite moves to a temporary
 * file once it passes 64 KiB unless temp_store is MEMORY: a group of five
 * enrollments did, and then every page it touched cost two more pwrite()s
 * inside the lock, a third of the children's pwrite()s. In memory it holds
 * at most the group's pages (about 100 kB an enrollment) until its commit. */
static sqlite_conn_t *connection(scep_ctx_t *ctx, scep_store_t *st)
{
    apr_pool_t *conn_pool = apr_hash_pool_get(st->prepared);
    sqlite_conn_t *conn = NULL;
    apr_int64_t ignored, level = 0;
    const char *mode, *db = NULL;

    if (apr_pool_userdata_get((void **)&conn, SQLITE_CONN_KEY, conn_pool) == APR_SUCCESS && conn) {
        return conn;
    }
    if (sqlite_pragma(ctx, st, "PRAGMA wal_autocheckpoint=0", &ignored, 1) != APR_SUCCESS
        || sqlite_pragma(ctx, st, "PRAGMA temp_store=MEMORY", &ignored, 1) != APR_SUCCESS
        || sqlite_pragma(ctx, st, "PRAGMA synchronous", &level, 1) != APR_SUCCESS
        || !(mode = sqlite_pragma_text(ctx, st, "PRAGMA journal_mode", 0))) {
        return NULL;
    }
    /* (seq, name, file): the main database's file, as SQLite opened it */
    if (!strcmp(mode, "wal") && !(db = sqlite_pragma_text(ctx, st, "PRAGMA database_list", 2))) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00377)
                 "cannot find the SQLite database's file to sync its WAL: %s",
                 apr_dbd_error(st->driver, st->handle, 1));
        return NULL;
    }
    conn = apr_pcalloc(conn_pool, sizeof(*conn));
    conn->sync_level = (int)level;
    conn->wal = strcmp(mode, "wal") ? NULL : apr_pstrcat(conn_pool, db, "-wal", NULL);
    apr_pool_userdata_setn(conn, SQLITE_CONN_KEY, NULL, conn_pool);
    return conn;
}

/* Inside the lock, before BEGIN. The commit's fsync, under the writers'
 * lock, kept every other writer waiting for the disk and then for a CPU to
 * wake the holder on. In WAL mode the commit only appends to the WAL, so
 * synchronous=NORMAL skips that fsync, and sync_wal syncs the WAL after the
 * lock, before the writes are reported committed. Any other journal keeps
 * FULL, and a connection set to sync less than FULL (DBDInitSQL) is left
 * as set. Without the connection's settings (a PRAGMA failed, and logged)
 * the transaction syncs as the connection is set. */
static void sqlite_txn_opening(scep_ctx_t *ctx, scep_store_t *st)
{
    sqlite_conn_t *conn = connection(ctx, st);
    apr_int64_t ignored;

    st->sync_wal_after = 0;
    if (conn && conn->wal && conn->sync_level >= SYNC_FULL
        && sqlite_pragma(ctx, st, "PRAGMA synchronous=NORMAL", &ignored, 1) == APR_SUCCESS) {
        st->sync_wal_after = conn->sync_level;
    }
}

/* After the lock: the WAL on disk, with the frames just committed (and all
 * before them; it is only appended to, and reset after a checkpoint that
 * synced it into the database file). While this connection is open SQLite
 * does not delete the WAL, so failing to open it is an error too. */
static apr_status_t sync_wal(scep_ctx_t *ctx, const char *wal)
{
    apr_file_t *f = NULL;
    apr_status_t rv;

    rv = apr_file_open(&f, wal, APR_FOPEN_READ, APR_OS_DEFAULT, ctx->pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_datasync(f);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, rv, SCEPLOGNO(00378)
                 "cannot sync the SQLite WAL %s: the writes just committed are not known "
                 "to be on disk, so they are reported failed (their clients' resends are "
                 "answered from the records)", wal);
        return SCEP_EDB;
    }
    return APR_SUCCESS;
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

/* After the lock is released: the WAL synced if the commit did not, and
 * now and then a checkpoint. */
static apr_status_t sqlite_txn_closed(scep_ctx_t *ctx, scep_store_t *st, int committed)
{
    apr_int64_t result[3] = { 0, 0, 0 }, ignored;
    apr_status_t durable = APR_SUCCESS;
    unsigned char dice = 0;

    if (st->sync_wal_after) {
        /* (sync_wal_after is only set with the connection's WAL known) */
        durable = committed ? sync_wal(ctx, connection(ctx, st)->wal) : APR_SUCCESS;
        /* the connection's other writes (outside a transaction) sync as set */
        sqlite_pragma(ctx, st, st->sync_wal_after > SYNC_FULL ? "PRAGMA synchronous=EXTRA"
                      : "PRAGMA synchronous=FULL", &ignored, 1);
        st->sync_wal_after = 0;
    }
    if (apr_generate_random_bytes(&dice, 1) != APR_SUCCESS || dice % CHECKPOINT_ODDS) {
        return durable;
    }
    if (sqlite_pragma(ctx, st, "PRAGMA wal_checkpoint(PASSIVE)", result, 3) == APR_SUCCESS
        && result[1] > WAL_MAX_FRAMES) {
        wal_restart(ctx, st);
    }
    return durable;
}

/* Before a reply built from a row leaves: the WAL synced, for a row that
 * another writer committed and has not synced yet (a resend, an identical
 * request, a poll arriving in that moment). Not in WAL mode: a commit is
 * on disk once it can be read. A connection whose settings cannot be read
 * cannot show it. */
static apr_status_t sqlite_durable(scep_ctx_t *ctx, scep_store_t *st)
{
    sqlite_conn_t *conn = connection(ctx, st);

    if (!conn) {
        return SCEP_EDB;
    }
    return conn->wal ? sync_wal(ctx, conn->wal) : APR_SUCCESS;
}

/* apr_dbd_sqlite3's transaction starts with BEGIN IMMEDIATE: it takes
 * SQLite's own write lock at once. Sequential reads. */
const scep_dialect_t scep_dialect_sqlite = {
    "sqlite3", 0, 1, scep_store_begin_dbd, scep_store_end_dbd, NULL,
    sqlite_txn_opening, sqlite_txn_closed, NULL, sqlite_durable
};
