/**
 * @file scep_store.h
 * @brief Enrollment records through apr_dbd. Every SQL statement is in the
 * one table scep_store_sql; the glue prepares them under their labels.
 */
#ifndef SCEP_STORE_H
#define SCEP_STORE_H

#include <apr_dbd.h>
#include <apr_hash.h>
#include "scep.h"

typedef struct scep_sql_t {
    const char *label;
    const char *sql;
} scep_sql_t;

/** All statements, ended by {NULL, NULL}. Placeholders are apr_dbd's %s. */
extern const scep_sql_t scep_store_sql[];

/** A database connection with our prepared statements (from mod_dbd). */
typedef struct scep_store_t {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
} scep_store_t;

/** One row of scep_transactions, as written. */
typedef struct scep_txn_t {
    const char *ca;
    const char *tid;
    int msg_type;
    const char *status;          /* PENDING, ISSUED, REJECTED */
    const char *dedup_key;       /* NULL for REJECTED rows */
    const char *key_fp;
    const char *signer_fp;
    const char *signer_cert;     /* base64 DER */
    const char *csr;             /* base64 DER */
    const char *subject;
    const char *renewal_of;      /* serial of the signer cert, "" if not a renewal */
    const char *profile;
    const char *client_addr;
    const char *serial;
    int fail_info;               /* -1 when none */
    const char *fail_text;
} scep_txn_t;

/** One row of scep_certificates. */
typedef struct scep_cert_t {
    const char *ca;
    const char *serial;
    const char *subject;
    apr_int64_t not_before;
    apr_int64_t not_after;
    const char *der;             /* base64 */
} scep_cert_t;

/** A live (ISSUED or PENDING) transaction found by transactionID. */
typedef struct scep_live_t {
    const char *status;
    const char *dedup_key;
    const char *key_fp;
    const char *serial;
    const char *cert_der;        /* base64, NULL if not issued */
} scep_live_t;

/** Live transactions with this CA and transactionID (array of scep_live_t). */
apr_status_t scep_store_find_live(apr_array_header_t **prows, scep_ctx_t *ctx,
                                  scep_store_t *st, const char *ca,
                                  const char *tid);

/**
 * Record an issued certificate and its transaction in one database
 * transaction. SCEP_ECONFLICT: an identical request committed first.
 */
apr_status_t scep_store_record_issued(scep_ctx_t *ctx, scep_store_t *st,
                                      const scep_txn_t *txn,
                                      const scep_cert_t *cert);

/** Record a refused request. */
apr_status_t scep_store_record_rejected(scep_ctx_t *ctx, scep_store_t *st,
                                        const scep_txn_t *txn);

#endif
