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
#include "scep_records.h"

typedef struct scep_sql_t {
    const char *label;
    const char *sql;
} scep_sql_t;

/** All statements, ended by {NULL, NULL}. Placeholders are apr_dbd's %s. */
extern const scep_sql_t scep_store_sql[];

/** The statements only one driver can prepare (apr_dbd's name for it),
 *  prepared beside scep_store_sql; an empty table for the others. */
const scep_sql_t *scep_store_sql_of_driver(const char *driver);

/** The statement called label for driver (apr_dbd's name; NULL: only the
 *  common ones), NULL if there is none. */
const scep_sql_t *scep_store_sql_find(const char *driver, const char *label);

/** The statements of every enrollment and OCSP answer, NULL-terminated:
 *  given to mod_dbd (ap_dbd_prepare), which prepares them on each
 *  connection it opens. A connection prepares the others when it first
 *  runs them. */
extern const char *const scep_store_sql_at_connect[];

/** A database connection with our prepared statements (from mod_dbd),
 *  and what its driver needs done differently (scep_store_dialect.h). */
typedef struct scep_store_t scep_store_t;

/**
 * The store for one request on a connection mod_dbd lent: the dialect is
 * chosen here, once, from the driver's name. sqlite_lock is the lock that
 * queues SQLite writers across processes and threads (Mutex scep-db); other
 * drivers ignore it (they have row locks). Allocated from p.
 */
scep_store_t *scep_store_make(apr_pool_t *p, const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_hash_t *prepared,
                              apr_global_mutex_t *sqlite_lock);

/**
 * Group commit (SQLite): the threads of one process that write at the same
 * time share one database transaction, hence one commit and one fsync. A
 * thread that finds no other writing leads: it takes every write waiting
 * then, runs each inside a savepoint of one transaction on its own
 * connection (a write that fails is rolled back alone), commits, and wakes
 * the others; a thread returns only once its write is committed, so nothing
 * leaves before it is durable. One per process and database, from the
 * process's pool; NULL if it cannot be made (each write then goes alone).
 */
typedef struct scep_commit_queue_t scep_commit_queue_t;
scep_commit_queue_t *scep_commit_queue_make(apr_pool_t *p);

/**
 * A thread of its own writes q's groups (SCEPSQLiteWriter realtime), at
 * real-time priority (SCHED_FIFO 1) when realtime is set: a writer that the
 * other requests' RSA work preempts holds the writers' lock, and every
 * writer behind it waits, while the CPUs have work. Start it in the child
 * before it drops its privileges: only root may raise a thread's priority.
 * *ppriority_err is pthread_setschedparam()'s error, 0 if it worked; the
 * thread writes in either case. It stops when p is cleared.
 */
apr_status_t scep_commit_queue_start_writer(scep_commit_queue_t *q, apr_pool_t *p, int realtime,
                                            int *ppriority_err);

/**
 * What st's connection has read is on disk, before a reply built from it
 * leaves: SQLite syncs its WAL after a commit has released the writers'
 * lock, so a row another writer committed a moment ago may not be yet
 * (scep_store_sqlite.c). Other drivers: at once. SCEP_EDB if it cannot be.
 */
apr_status_t scep_store_durable(scep_ctx_t *ctx, scep_store_t *st);

/** Have st's write transactions join q (only with the SQLite dialect). */
void scep_store_join_queue(scep_store_t *st, scep_commit_queue_t *q);

/**
 * A store whose connection is on loan only while statements run: between them
 * (while the engine does its RSA work, say) scep_store_release() gives it
 * back, and the next statement takes one again through take(), which
 * attaches it with scep_store_attach(). Otherwise a store keeps the
 * connection it was made with.
 */
typedef apr_status_t scep_store_take_fn(void *baton, scep_store_t *st);
void scep_store_on_loan(scep_store_t *st, scep_store_take_fn *take, void (*give_back)(void *baton),
                      void *baton);
void scep_store_attach(scep_store_t *st, apr_dbd_t *handle, apr_hash_t *prepared);
/** Give the connection back until the next statement (kept inside a
 *  transaction, and off loan). NULL st: nothing. */
void scep_store_release(scep_store_t *st);

/** Transactions with this CA and transactionID that have an answer to
 *  repeat: issued, pending, or rejected by an administrator. */
apr_status_t scep_store_find_live(apr_array_header_t **prows /* scep_txn_t */,
                                  scep_ctx_t *ctx, scep_store_t *st,
                                  const char *ca, const char *tid);

/** What the engine asks before it decrypts anything. */
typedef struct scep_preflight_t {
    const char *ca;
    const char *tid;             /* the message's transactionID */
    const char *profile;         /* the Location's profile */
    const char *client_addr;     /* NULL: none counted */
    apr_int64_t since;           /* count failures from this time; -1: none */
} scep_preflight_t;

/** One read: the failed attempts from the address at the profile since
 *  q->since (SCEPChallengeThrottle), and the live transactions with the
 *  transactionID (as scep_store_find_live). */
apr_status_t scep_store_preflight(apr_int64_t *pfailures,
                                  apr_array_header_t **plive /* scep_txn_t */,
                                  scep_ctx_t *ctx, scep_store_t *st,
                                  const scep_preflight_t *q);

/** Record an issued certificate and its transaction in one database
 *  transaction. SCEP_ECONFLICT: an identical request committed first, and
 *  *pwinner is its row (to answer with). With a renewal, SCEP_ERENEWED
 *  when the old certificate was renewed meanwhile (nothing is recorded). */
apr_status_t scep_store_record_issued(scep_ctx_t *ctx, scep_store_t *st,
                                      const scep_txn_t *txn,
                                      const scep_cert_t *cert,
                                      const scep_consume_t *consume,
                                      const scep_renewal_t *renewal,
                                      scep_txn_t **pwinner);

/** Record a request waiting for approval. SCEP_ECONFLICT as above. With a
 *  one-time challenge, SCEP_ECHALLENGE when it was used up meanwhile. */
apr_status_t scep_store_record_pending(scep_ctx_t *ctx, scep_store_t *st,
                                       const scep_txn_t *txn,
                                       const scep_consume_t *consume,
                                       scep_txn_t **pwinner);

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

/** The fleet view: transactions matching every member of q, newest first
 *  (q->q as a serial, a transactionID, a client address or the start of a
 *  name the certificate carries; see scep_search_t). */
apr_status_t scep_store_txn_search(apr_array_header_t **prows /* scep_txn_t */,
                                   scep_ctx_t *ctx, scep_store_t *st, const scep_search_t *q);

/** The transactions that asked for the certificate serial, oldest first. */
apr_status_t scep_store_txn_of_cert(apr_array_header_t **prows /* scep_txn_t */,
                                    scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                    const char *serial);

/* ---- the fleet view and the audit trail (scep_store_fleet.c) ----------- */

/** Certificates neither revoked nor renewed that expire before upto, after
 *  the cursor (expiry after, serial after_serial), soonest first; their der
 *  is not read. */
apr_status_t scep_store_cert_expiring(apr_array_header_t **prows /* scep_cert_t */,
                                      scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                      apr_int64_t upto, apr_int64_t after,
                                      const char *after_serial, int limit);

/** Transactions created since, counted per Location and status (NULL: not
 *  asked) and per day and status. */
apr_status_t scep_store_counts(apr_array_header_t **pby_profile /* scep_count_t */,
                               apr_array_header_t **pby_day /* scep_count_t */,
                               scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                               apr_int64_t profile_since, apr_int64_t day_since);

/** Stage an administrator's action: the next write on this store commits it
 *  in the same database transaction as its change (writes that are one
 *  statement then take a transaction of their own). */
void scep_store_stage_audit(scep_store_t *st, const scep_audit_t *a);

/** The audit trail, newest first, ids below before (0: from the newest). */
apr_status_t scep_store_audit_list(apr_array_header_t **prows /* scep_audit_t */,
                                   scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                   apr_int64_t before, int limit);

/** The actions on one target (an enrollment id, a serial), oldest first. */
apr_status_t scep_store_audit_of(apr_array_header_t **prows /* scep_audit_t */,
                                 scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                 const char *target, int limit);

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

/** A certificate this CA issued (APR_NOTFOUND if none), with whether its
 *  chain of renewals holds a certificate revoked for keyCompromise. */
apr_status_t scep_store_cert_get(scep_cert_t **pcert, scep_ctx_t *ctx,
                                 scep_store_t *st, const char *ca,
                                 const char *serial);

/** What the records say of a certificate (OCSP): *pfound 0 if this CA
 *  never issued it; *prevoked_at 0 if not revoked; *preason -1 for none. */
apr_status_t scep_store_cert_status(int *pfound, apr_int64_t *prevoked_at, int *preason,
                                    scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                    const char *serial);

/** How many enrollments of this CA wait for approval. */
apr_status_t scep_store_pending_count(apr_int64_t *pcount, scep_ctx_t *ctx, scep_store_t *st,
                                      const char *ca);

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
/** The transactionID that issued a certificate (*ptid NULL if none). */
apr_status_t scep_store_tid_of_serial(const char **ptid, scep_ctx_t *ctx, scep_store_t *st,
                                      const char *ca, const char *serial);
/** How many unused, unexpired, unrevoked challenges user made (NDES). */
apr_status_t scep_store_challenge_count_by(apr_int64_t *pcount, scep_ctx_t *ctx,
                                           scep_store_t *st, const char *ca, const char *user);
apr_status_t scep_store_challenge_revoke(scep_ctx_t *ctx, scep_store_t *st,
                                         const char *ca, const char *id);

/** Count one failed attempt (a wrong challenge, unreadable content) from
 *  this address at this profile, on its own: it stands even when the
 *  refusal's record cannot be written. Now and then, forget those of this
 *  profile older than the window (keep_since). */
apr_status_t scep_store_auth_failure_add(scep_ctx_t *ctx, scep_store_t *st,
                                         const char *ca, const char *profile,
                                         const char *client_addr, apr_int64_t keep_since);

/* ---- notifications (scep_store_outbox.c) ------------------------------- */

/** Stage a notification: the next write of a record on this store
 *  (record_issued/pending/rejected, approve, reject, cert_revoke) commits it
 *  in the same transaction, or neither is written. The struct is copied;
 *  its strings must live as long as the store. */
void scep_store_stage_event(scep_store_t *st, const scep_event_t *ev);

/** Up to limit events not delivered yet, oldest first, those due or not
 *  (the worker keeps order per key), with id > after. */
apr_status_t scep_store_outbox_pending(apr_array_header_t **prows /* scep_event_t */,
                                       scep_ctx_t *ctx, scep_store_t *st,
                                       const char *after, int limit);
/** The same for one CA (the admin view). */
apr_status_t scep_store_outbox_pending_of(apr_array_header_t **prows, scep_ctx_t *ctx,
                                          scep_store_t *st, const char *ca, int limit);
/** What the worker may deliver now: the oldest undelivered event of each
 *  key (sink, profile, event_key) of the CA, if due by now; oldest first. */
apr_status_t scep_store_outbox_due(apr_array_header_t **prows /* scep_event_t */,
                                   scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                   apr_int64_t now, int limit);
/** The event was delivered. */
apr_status_t scep_store_outbox_delivered(scep_ctx_t *ctx, scep_store_t *st, const char *id);
/** Delivery failed: try again from next_at; why is kept (bounded). */
apr_status_t scep_store_outbox_failed(scep_ctx_t *ctx, scep_store_t *st, const char *id,
                                      apr_int64_t next_at, const char *why);
/** Forget delivered events older than before. */
apr_status_t scep_store_outbox_purge(scep_ctx_t *ctx, scep_store_t *st, apr_int64_t before);

/** Take or keep the lease name for holder until expires_at: APR_SUCCESS if
 *  this holder has it, APR_EBUSY if another live holder does. One worker
 *  of all the processes and nodes sharing the database delivers. */
apr_status_t scep_store_lease(scep_ctx_t *ctx, scep_store_t *st, const char *name,
                              const char *holder, apr_int64_t expires_at);

/** Give the lease up now (a worker that stops), if holder has it. */
apr_status_t scep_store_lease_release(scep_ctx_t *ctx, scep_store_t *st, const char *name,
                                      const char *holder);

#endif
