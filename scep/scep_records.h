/**
 * @file scep_records.h
 * @brief The rows mod_scep keeps: transactions, certificates, CRLs,
 * one-time challenges. Plain structs of strings and numbers, at the bottom
 * of the core: the store reads and writes them, the engine, the admin and
 * the CRL code use them, and none of those needs another for it.
 */
#ifndef SCEP_RECORDS_H
#define SCEP_RECORDS_H

#include <apr.h>

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
    apr_int64_t cert_not_after;  /* read back: its expiry, 0 if none */
    apr_int64_t cert_revoked_at; /* read back: its revocation, 0 if none */
    apr_int64_t cert_issued_at;  /* read back: when it was issued, 0 if none */
    /* written with it (scep_names): the names its certificate carries, each
     * value of the subject and of the subjectAltNames in lower case, so a
     * search finds it by any of them; NULL for none */
    const apr_array_header_t *names;   /* const char * */
    const char *trace;           /* the decisions taken, one a line (bounded), or NULL */
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
    int lineage_compromised;     /* read back: a certificate of its chain of
                                    renewals is revoked for keyCompromise */
} scep_cert_t;

/** A renewal recorded with the new certificate: the old one points to its
 *  successor, at most once. */
typedef struct scep_renewal_t {
    const char *old_serial;
    int supersede;               /* also revoke the old one (reason superseded) */
    const char *old_ca;          /* the old certificate's CA (another one across a
                                    rollover); NULL: the new certificate's */
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
    const char *ca;              /* whose challenge (another CA's across a rollover);
                                    NULL: the transaction's */
} scep_consume_t;

/** One revoked certificate as the CRL lists it. */
typedef struct scep_revoked_t {
    const char *serial;        /**< uppercase hex, as stored in scep_certificates.serial
                                    (lowercase is accepted too) */
    apr_int64_t revoked_at;    /**< seconds since the epoch, >= 0 */
    int reason;                /**< RFC 5280 CRLReason code 0..10 except 7;
                                    -1 = none (no reasonCode extension) */
} scep_revoked_t;

/** A notification (scep_outbox): written with the record it tells of, in
 *  the same database transaction, and delivered later by the worker. */
typedef struct scep_event_t {
    const char *id;              /* set when read back */
    const char *ca;
    const char *sink;            /* who delivers it: "webhook" or "intune" */
    const char *profile;         /* whose configuration the sink uses */
    const char *event;           /* issued, refused, pending, approved, rejected, revoked */
    const char *event_key;       /* the certificate's serial, else the transactionID:
                                    events with one key are delivered in order */
    const char *payload;         /* JSON */
    apr_int64_t created_at;
    int attempts;
    apr_int64_t next_at;         /* not before (back-off) */
    apr_int64_t delivered_at;    /* 0 = not yet */
    const char *last_error;
} scep_event_t;

/** One action of an administrator (scep_audit), written in the database
 *  transaction of the action. */
typedef struct scep_audit_t {
    const char *id;              /* set when read back */
    const char *ca;
    apr_int64_t at;
    const char *actor;           /* the authenticated user */
    const char *client_addr;     /* where from */
    const char *action;          /* approve, reject, revoke, challenge, challenge-revoke,
                                    mobileconfig, ndes-challenge */
    const char *target;          /* enrollment id, serial or challenge id */
    const char *detail;          /* reason, profile, ... or NULL */
} scep_audit_t;

/** What the fleet view asks of the transactions: every member may be left
 *  out (NULL or 0), and they all hold together. */
typedef struct scep_search_t {
    const char *ca;
    const char *q;               /* a serial, a transactionID, a client address,
                                    or the start of a name (subject or SAN value) */
    const char *status;          /* PENDING, ISSUED, REJECTED */
    const char *profile;         /* the Location */
    apr_int64_t since, until;    /* created in [since, until) */
    apr_int64_t before;          /* ids below this one (the next page) */
    int limit;
} scep_search_t;

/** A count of transactions: per Location and status, or per day and status. */
typedef struct scep_count_t {
    const char *profile;         /* NULL in a count per day */
    apr_int64_t day;             /* start of the day (UTC), 0 in a count per Location */
    const char *status;
    apr_int64_t n;
} scep_count_t;

#endif
