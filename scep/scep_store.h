/**
 * @file scep_store.h
 * @brief Enrollment records through apr_dbd. Every SQL statement is in the
 * one table scep_store_sql; the glue prepares them under their labels.
 */
#ifndef SCEP_STORE_H
#define SCEP_STORE_H

#include <apr_dbd.h>
#include <apr_global_mutex.h>
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
    /* SQLite: one writer at a time across every process and thread, taken
     * around each write transaction. SQLite allows one writer anyway, and
     * apr_dbd_sqlite3 answers a busy database by sleeping 100 ms per retry
     * (15 tries, then an error); waiting on a lock is fair and immediate.
     * NULL for databases with row locks. */
    apr_global_mutex_t *write_lock;
    int in_transaction;          /* set while the lock is held by in_transaction */
} scep_store_t;

/** One row of scep_transactions. */
typedef struct scep_txn_t {
    const char *id;              /* set when read back */
    const char *ca;
    const char *tid;
    int msg_type;
    const char *status;          /* PENDING, ISSUED, REJECTED */
    const char *dedup_key;       /* NULL for automatic refusals: a retry is a new request */
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
    const char *plan_subject;    /* PENDING: base64 DER of the subject the profile decided */
    const char *plan_san;        /* PENDING: base64 DER of the subjectAltNames, or NULL */
    int auth_failed;             /* refused for a wrong or unusable challenge */
    const char *decided_by;      /* manual decisions: who */
    apr_int64_t decided_at;
    apr_int64_t created_at;
    const char *cert_der;        /* read back: the issued certificate, base64 */
} scep_txn_t;

/** One row of scep_certificates. */
typedef struct scep_cert_t {
    const char *ca;
    const char *serial;
    const char *subject;
    apr_int64_t not_before;
    apr_int64_t not_after;
    const char *der;             /* base64 */
    apr_int64_t revoked_at;      /* 0 = not revoked */
    int reason;                  /* -1 = none */
    const char *profile;         /* the profile that issued it; NULL in records
                                    from before it was kept */
    const char *lineage;         /* serial of the first certificate of its chain
                                    of renewals (its own serial if none) */
    const char *renewed_by;      /* serial of the certificate that renewed it */
} scep_cert_t;

/** A renewal recorded with the new certificate: the old one points to its
 *  successor, at most once. */
typedef struct scep_renewal_t {
    const char *old_serial;
    int supersede;               /* also revoke the old one (reason superseded) */
} scep_renewal_t;

/** A stored CRL. */
typedef struct scep_crl_rec_t {
    apr_int64_t number;
    apr_int64_t this_update;
    apr_int64_t next_update;
    apr_int64_t revoked_count;
    const char *der;             /* base64 */
} scep_crl_rec_t;

/** A one-time challenge (the secret itself is never stored). */
typedef struct scep_challenge_t {
    const char *id;
    const char *ca;
    const char *hash;            /* hex SHA-256 of the secret */
    const char *profile;
    const char *subject;         /* bound subject or NULL */
    const char *san;             /* bound SANs, "type:value" lines, or NULL */
    const char *created_by;
    apr_int64_t created_at, expires_at, used_at, revoked_at;
    const char *used_tid;
} scep_challenge_t;

/** Consume this one-time challenge in the same database transaction. */
typedef struct scep_consume_t {
    const char *hash;
    const char *tid;
} scep_consume_t;

/** Transactions with this CA and transactionID that have an answer to
 *  repeat: issued, pending, or rejected by an administrator. */
apr_status_t scep_store_find_live(apr_array_header_t **prows /* scep_txn_t */,
                                  scep_ctx_t *ctx, scep_store_t *st,
                                  const char *ca, const char *tid);

/** Record an issued certificate and its transaction in one database
 *  transaction. SCEP_ECONFLICT: an identical request committed first.
 *  With a renewal, SCEP_ERENEWED when the old certificate was renewed
 *  meanwhile (nothing is recorded). */
apr_status_t scep_store_record_issued(scep_ctx_t *ctx, scep_store_t *st,
                                      const scep_txn_t *txn,
                                      const scep_cert_t *cert,
                                      const scep_consume_t *consume,
                                      const scep_renewal_t *renewal);

/** Record a request waiting for approval. SCEP_ECONFLICT as above. With a
 *  one-time challenge, SCEP_ECHALLENGE when it was used up meanwhile. */
apr_status_t scep_store_record_pending(scep_ctx_t *ctx, scep_store_t *st,
                                       const scep_txn_t *txn,
                                       const scep_consume_t *consume);

/** Record a refused request. */
apr_status_t scep_store_record_rejected(scep_ctx_t *ctx, scep_store_t *st,
                                        const scep_txn_t *txn);

/** One transaction of this CA by id (APR_NOTFOUND if none, or if it
 *  belongs to another CA). */
apr_status_t scep_store_txn_get(scep_txn_t **ptxn, scep_ctx_t *ctx,
                                scep_store_t *st, const char *ca, const char *id);

/** Recent transactions of this CA, newest first: at most limit, with ids
 *  below before (0: from the newest); status NULL for all. */
apr_status_t scep_store_txn_list(apr_array_header_t **prows /* scep_txn_t */,
                                 scep_ctx_t *ctx, scep_store_t *st,
                                 const char *ca, const char *status,
                                 apr_int64_t before, int limit);

/** Approve a PENDING transaction of this CA with its certificate,
 *  atomically: SCEP_ECONFLICT if it was no longer PENDING (or is not this
 *  CA's), SCEP_ERENEWED when the certificate it renews was renewed meanwhile. */
apr_status_t scep_store_approve(scep_ctx_t *ctx, scep_store_t *st,
                                const char *ca, const char *id, const char *by,
                                const scep_cert_t *cert,
                                const scep_renewal_t *renewal);

/** Reject a PENDING transaction of this CA. SCEP_ECONFLICT if no longer
 *  PENDING (or not this CA's). */
apr_status_t scep_store_reject(scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                               const char *id, const char *by, const char *why);

/** A certificate this CA issued (APR_NOTFOUND if none). */
apr_status_t scep_store_cert_get(scep_cert_t **pcert, scep_ctx_t *ctx,
                                 scep_store_t *st, const char *ca,
                                 const char *serial);

/** Revoke; APR_NOTFOUND if unknown, SCEP_ECONFLICT if already revoked. */
apr_status_t scep_store_cert_revoke(scep_ctx_t *ctx, scep_store_t *st,
                                    const char *ca, const char *serial,
                                    int reason);

/** Revoked certificates of a CA (array of scep_revoked_t, see scep_crl.h). */
apr_status_t scep_store_revoked(apr_array_header_t **prows, scep_ctx_t *ctx,
                                scep_store_t *st, const char *ca);

/** The newest CRL (APR_NOTFOUND if none) and the number of revocations now. */
apr_status_t scep_store_crl_latest(scep_crl_rec_t **pcrl, apr_int64_t *prevoked,
                                   scep_ctx_t *ctx, scep_store_t *st,
                                   const char *ca);

/** Store a CRL; SCEP_ECONFLICT if that number exists (another node was first). */
apr_status_t scep_store_crl_insert(scep_ctx_t *ctx, scep_store_t *st,
                                   const char *ca, const scep_crl_rec_t *crl);

apr_status_t scep_store_challenge_insert(scep_ctx_t *ctx, scep_store_t *st,
                                        const scep_challenge_t *ch);
/** A challenge by the hash of its secret (APR_NOTFOUND if none). */
apr_status_t scep_store_challenge_find(scep_challenge_t **pch, scep_ctx_t *ctx,
                                       scep_store_t *st, const char *ca, const char *hash);
/** Challenges neither used, revoked nor expired, newest first: at most
 *  limit, with ids below before (0: from the newest). */
apr_status_t scep_store_challenge_open(apr_array_header_t **prows, scep_ctx_t *ctx,
                                       scep_store_t *st, const char *ca,
                                       apr_int64_t before, int limit);
/** Revoke an open challenge: APR_NOTFOUND if there is no such open one. */
apr_status_t scep_store_challenge_revoke(scep_ctx_t *ctx, scep_store_t *st,
                                         const char *ca, const char *id);
/** Does this chain of renewals hold a certificate revoked for keyCompromise? */
apr_status_t scep_store_lineage_compromised(int *pyes, scep_ctx_t *ctx, scep_store_t *st,
                                            const char *ca, const char *lineage);

/** Failed attempts (wrong challenge, unreadable content) from this address
 *  at this profile since a time, from their own table. */
apr_status_t scep_store_auth_failures(apr_int64_t *pcount, scep_ctx_t *ctx,
                                      scep_store_t *st, const char *ca,
                                      const char *profile, const char *client_addr,
                                      apr_int64_t since);

/** Count one failed attempt; now and then, forget those of this profile
 *  older than the window (keep_since). */
apr_status_t scep_store_auth_failure_add(scep_ctx_t *ctx, scep_store_t *st,
                                         const char *ca, const char *profile,
                                         const char *client_addr, apr_int64_t keep_since);

#endif
