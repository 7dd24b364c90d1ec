/**
 * @file scep_metrics.h
 * @brief Counters and latency histograms shared by every child: a plain
 * block of memory (the glue puts it in shared memory before the children
 * are forked) updated with atomic adds, and its Prometheus text.
 */
#ifndef SCEP_METRICS_H
#define SCEP_METRICS_H

#include "scep.h"

/** Operations timed (a PKIOperation by its messageType). */
typedef enum {
    SCEP_OP_GETCACAPS, SCEP_OP_GETCACERT, SCEP_OP_GETNEXTCACERT, SCEP_OP_PKCSREQ,
    SCEP_OP_RENEWALREQ, SCEP_OP_CERTPOLL, SCEP_OP_GETCERT, SCEP_OP_GETCRL, SCEP_OP_OTHER,
    SCEP_OP_COUNT
} scep_metrics_op_t;

/** Counters of the whole server. */
typedef enum {
    SCEP_M_APPROVALS, SCEP_M_REJECTIONS, SCEP_M_REVOCATIONS, SCEP_M_DB_ERRORS,
    SCEP_M_DB_RETRIES, SCEP_M_UNAVAILABLE,
    SCEP_M_NOTIFY_DELIVERED, SCEP_M_NOTIFY_FAILED, SCEP_M_OCSP_RESPONSES, SCEP_M_OCSP_CACHED,
    /* the records' write transactions, the writes they committed, and (SQLite)
     * microseconds waited for and holding the writers' lock */
    SCEP_M_DB_COMMITS, SCEP_M_DB_WRITES, SCEP_M_DB_LOCK_WAIT_US, SCEP_M_DB_LOCK_HELD_US,
    /* PKIOperations that waited for a slot (SCEPOperationSlots), and how long */
    SCEP_M_SLOT_WAITS, SCEP_M_SLOT_WAIT_US,
    SCEP_M_COUNT
} scep_metrics_counter_t;

typedef struct scep_metrics_t scep_metrics_t;

/** What one enrollment transaction (at Location slot) came to. */
typedef struct scep_metrics_txn_t {
    int pki_status;                  /**< SCEP_STATUS_*, -1: no CertRep (e.g. 503) */
    int fail_info;                   /**< SCEP_FAIL_*, -1 */
    int renewal, auth_failed, throttled;
} scep_metrics_txn_t;

/** Bytes for nlocations Locations. */
apr_size_t scep_metrics_size(int nlocations);
/** Lay out (zeroed) in mem of scep_metrics_size(nlocations) bytes. */
scep_metrics_t *scep_metrics_init(void *mem, int nlocations);

void scep_metrics_txn(scep_metrics_t *m, int slot, const scep_metrics_txn_t *t);
void scep_metrics_latency(scep_metrics_t *m, scep_metrics_op_t op, apr_int64_t usec);
void scep_metrics_add(scep_metrics_t *m, scep_metrics_counter_t which, apr_uint64_t n);
/** The operation of a SCEP request (operation=..., and its messageType). */
scep_metrics_op_t scep_metrics_op_of(const char *operation, int msg_type);

/** Gauges read at scrape time, one per CA. */
typedef struct scep_metrics_ca_t {
    const char *ca;                  /**< the CA's subject */
    apr_int64_t ca_expires_in, ra_expires_in, crl_expires_in;   /**< seconds */
    int crl_known;                   /**< a CRL exists */
    apr_int64_t pending;             /**< enrollments waiting, -1: unknown */
} scep_metrics_ca_t;

/** The Prometheus text exposition (version 0.0.4) of m, the Locations'
 *  names by slot, and the CAs' gauges. */
const char *scep_metrics_prometheus(apr_pool_t *p, const scep_metrics_t *m,
                                    const char *const *locations,
                                    const scep_metrics_ca_t *cas, int ncas);

/** One "name value" line per series, for mod_status's ?auto. */
const char *scep_metrics_plain(apr_pool_t *p, const scep_metrics_t *m,
                               const char *const *locations);

#endif
