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
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    const scep_dialect_t *dialect;
    /* SQLite only: one writer at a time across every process and thread,
     * taken around each write transaction (see scep_store_sqlite.c) */
    apr_global_mutex_t *write_lock;
    int in_transaction;          /* inside begin..end */
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
    /** Around a write transaction, inside and after the lock. NULL: nothing. */
    void (*txn_opening)(scep_ctx_t *ctx, scep_store_t *st);
    void (*txn_closed)(scep_ctx_t *ctx, scep_store_t *st);
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

/* The restore's one log line. */
void scep_store_restored(scep_ctx_t *ctx, int restored, int err);

#endif
