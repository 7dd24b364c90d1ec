/**
 * @file scep_store_dialect.h
 * @brief Inside the store: the connection, and what each database driver
 * needs done its own way, as one table of behaviour chosen when the store
 * is made (scep_store_make). Only scep_store*.c include this.
 */
#ifndef SCEP_STORE_DIALECT_H
#define SCEP_STORE_DIALECT_H

#include "scep_store.h"

typedef struct scep_dialect_t scep_dialect_t;

struct scep_store_t {
    apr_pool_t *pool;            /* the store's lifetime (a request, a worker's pass) */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    const scep_dialect_t *dialect;
    /* SQLite only: one writer at a time across every process and thread,
     * taken around each write transaction (see scep_store_sqlite.c) */
    apr_global_mutex_t *write_lock;
    apr_time_t locked_at;        /* while it holds it: since when, counted in */
    struct scep_metrics_t *lock_metrics;     /* (SCEP_M_DB_LOCK_HELD_US) */
    int in_transaction;          /* inside begin..end */
    /* SQLite only: this transaction commits without its own fsync, and
     * txn_closed syncs the WAL after the lock, then sets the connection's
     * synchronous level back to this (scep_store_sqlite.c); 0: not so */
    int sync_wal_after;
    /* the last transaction committed but could not be made durable: its
     * writes are reported failed, not answered as another writer's */
    int commit_unsure;
    /* scep_event_t: notifications the next write commits with its record
     * (scep_store_stage_event); emptied by that write, committed or not */
    apr_array_header_t *staged;
    /* scep_audit_t: the administrator's action the next write commits with
     * its change (scep_store_stage_audit) */
    apr_array_header_t *staged_audit;
    /* SQLite only: the process's group commit (scep_commit_queue_make) */
    struct scep_commit_queue_t *queue;
    /* the loan (scep_store_on_loan): handle is NULL while given back */
    scep_store_take_fn *take;
    void (*give_back)(void *baton);
    void *loan_baton;
};

struct scep_dialect_t {
    const char *driver;          /**< apr_dbd's name for it */
    int random_access;           /**< read whole results at once (apr_dbd_pselect) */
    int uses_write_lock;         /**< writers queue on the scep-db lock */
    /** Start and end a transaction; apr_dbd's error code, 0 on success. */
    int (*begin)(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t **ptrans);
    int (*end)(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t *trans, int commit);
    /** After a failed statement (driver error err, 0 after a rolled-back
     *  transaction): prepare again what a re-opened session lacks; how many
     *  it prepared (the caller then tries once more). NULL: nothing to do. */
    int (*restore)(scep_ctx_t *ctx, scep_store_t *st, int err);
    /** Around a write transaction, inside and after the lock. NULL: nothing.
     *  txn_closed is told whether the transaction committed; a commit is
     *  reported failed unless it returns APR_SUCCESS (then durable). */
    void (*txn_opening)(scep_ctx_t *ctx, scep_store_t *st);
    apr_status_t (*txn_closed)(scep_ctx_t *ctx, scep_store_t *st, int committed);
    /** After an enrollment's record in one statement (scep_record_one),
     *  with its transaction's id. NULL: nothing. */
    void (*recorded)(scep_ctx_t *ctx, scep_store_t *st, apr_int64_t id);
    /** What the connection reads is on disk (scep_store_durable). NULL:
     *  it is once committed. */
    apr_status_t (*durable)(scep_ctx_t *ctx, scep_store_t *st);
};

extern const scep_dialect_t scep_dialect_pgsql;
extern const scep_dialect_t scep_dialect_mysql;
extern const scep_dialect_t scep_dialect_sqlite;

/* apr_dbd's own transaction calls (sound for every driver but pgsql) */
int scep_store_begin_dbd(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t **ptrans);
int scep_store_end_dbd(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t *trans,
                       int commit);

/* The writers' lock, where the dialect has one (SCEP_EDB if it cannot be taken). */
apr_status_t scep_store_lock(scep_ctx_t *ctx, scep_store_t *st);
void scep_store_unlock(scep_store_t *st);

/* The statements of the store's parts, for the other scep_store_*.c. */
typedef void scep_store_row_fn(void *baton, apr_pool_t *p, scep_store_t *st,
                               apr_dbd_row_t *row);
/* Run a prepared write; *pnrows (may be NULL) gets the affected rows. */
apr_status_t scep_store_exec(scep_ctx_t *ctx, scep_store_t *st, const char *label,
                             int *pnrows, int nargs, const char **args);
/* Run a prepared select, fn called on each row. */
apr_status_t scep_store_select(scep_ctx_t *ctx, scep_store_t *st, const char *label,
                               int nargs, const char **args, scep_store_row_fn *fn,
                               void *baton);
/* Run a prepared select into a new array of row_size elements (*prows is
 * set only on success). */
apr_status_t scep_store_select_rows(apr_array_header_t **prows, scep_ctx_t *ctx,
                                   scep_store_t *st, const char *label, int nargs,
                                   const char **args, scep_store_row_fn *fn, int row_size);
const char *scep_store_num(apr_pool_t *p, apr_int64_t v);
apr_int64_t scep_store_i64(const char *s);
const char *scep_store_dup(apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row, int col);
/* Write the staged events (scep_store_outbox.c), inside the transaction. */
apr_status_t scep_store_write_staged(scep_ctx_t *ctx, scep_store_t *st);

/* Write the staged audit records (scep_store_fleet.c), inside the transaction. */
apr_status_t scep_store_write_audit(scep_ctx_t *ctx, scep_store_t *st);
/* scep_store_row_fn of a scep_cert_t (the columns of scep_cert_get). */
void scep_store_read_cert(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row);

/* The restore's one log line. */
void scep_store_restored(scep_ctx_t *ctx, int restored, int err);

#endif
