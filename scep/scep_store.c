/* mod_scep core: records through apr_dbd. SQL lives here and only here;
 * what a driver needs done its own way is in scep_store_<driver>.c. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <pthread.h>
#include <sched.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "scep_store_dialect.h"
#include "scep_metrics.h"

#define TXN_COLUMNS "ca, transaction_id, message_type, status, dedup_key, key_fp, " \
    "signer_fp, signer_cert, csr, subject, renewal_of, profile, client_addr, serial, " \
    "fail_info, fail_text, plan_subject, plan_san, auth_failed, created_at, updated_at, trace"
/* numbers are %lld: PostgreSQL types each parameter from its placeholder */
#define TXN_VALUES "%s, %s, %lld, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %lld, %s, " \
    "%s, %s, %lld, %lld, %lld, %s"
/* what the read-back functions select, in this order (see fill_txn) */
#define TXN_READ_COLUMNS "t.id, t.ca, t.transaction_id, t.message_type, t.status, " \
    "t.dedup_key, t.key_fp, t.signer_fp, t.csr, t.subject, t.renewal_of, t.profile, " \
    "t.client_addr, t.serial, t.fail_info, t.fail_text, t.plan_subject, t.plan_san, " \
    "t.decided_by, t.decided_at, t.created_at, c.der, c.not_after, c.revoked_at, t.trace, " \
    "c.issued_at "
#define TXN_CERT_JOIN "LEFT JOIN scep_certificates c ON c.ca = t.ca AND c.serial = t.serial "
#define TXN_READ TXN_READ_COLUMNS "FROM scep_transactions t " TXN_CERT_JOIN
/* a transaction with an answer to repeat (automatic refusals have none) */
#define TXN_LIVE "t.ca = %s AND t.transaction_id = %s AND t.dedup_key IS NOT NULL"

/* The fleet view's search (scep_store_txn_search): a statement for each
 * shape of question, so that each is planned with the index it needs. q
 * is matched as a serial, a transactionID, a client address, or the start
 * of a name; each of the four is an index lookup. Without dates the rows
 * come newest id first, from the cursor "id below before"; with dates,
 * newest created first (ties by id), so that the date index reads only the
 * range asked for, from the cursor "after the row before" in that order. */
#define SEARCH_Q "AND t.id IN (SELECT id FROM scep_transactions WHERE ca = %s AND serial = %s " \
    "UNION SELECT id FROM scep_transactions WHERE ca = %s AND transaction_id = %s " \
    "UNION SELECT id FROM scep_transactions WHERE ca = %s AND client_addr = %s " \
    "UNION SELECT txn FROM scep_names WHERE ca = %s AND name >= %s AND name < %s) "
#define SEARCH_S "AND t.status = %s "
#define SEARCH_P "AND t.profile = %s "
#define SEARCH_BY_ID "AND t.id < %lld ", "ORDER BY t.id DESC "
#define CREATED_OF_CURSOR \
    "COALESCE((SELECT b.created_at FROM scep_transactions b WHERE b.id = %lld), %lld)"
#define SEARCH_BY_DATE "AND t.created_at >= %lld AND t.created_at < %lld " \
    "AND t.created_at <= " CREATED_OF_CURSOR " " \
    "AND (t.created_at < " CREATED_OF_CURSOR " OR t.id < %lld) ", \
    "ORDER BY t.created_at DESC, t.id DESC "
/* (the cursor comes first: SQLite then probes the ids q found, in order,
 * instead of reading the index from the newest id to test each) */
#define SEARCH(shape, q, s, pr, d) SEARCH_(shape, q, s, pr, d)
#define SEARCH_(shape, q, s, pr, cursor, order) { "scep_txn_search_" shape, \
    "SELECT " TXN_READ "WHERE t.ca = %s " cursor q s pr order "LIMIT %lld" }

#define CERT_COLUMNS(der) "c.serial, c.subject, c.not_before, c.not_after, " der ", " \
    "c.revoked_at, c.revocation_reason, c.profile, c.lineage, c.renewed_by"

#define EVENT_COLUMNS "id, ca, sink, profile, event, event_key, payload, created_at, " \
    "attempts, next_at, delivered_at, last_error"

const scep_sql_t scep_store_sql[] = {
    { "scep_txn_find_live", "SELECT " TXN_READ "WHERE " TXN_LIVE },
    /* the engine's one read before it decides: the sender's failed
     * attempts, then the transactions with its transactionID, if any (the
     * outer join leaves one row of NULLs when there are none) */
    { "scep_preflight",
      "SELECT (SELECT COUNT(*) FROM scep_auth_failures WHERE ca = %s AND profile = %s "
      "AND client_addr = %s AND created_at >= %lld), " TXN_READ_COLUMNS
      "FROM (SELECT 1 AS one) d LEFT JOIN scep_transactions t ON " TXN_LIVE " "
      TXN_CERT_JOIN },
    /* the admin's statements name the CA: an administrator of one CA never
     * sees or decides another's enrollments in a shared database */
    { "scep_txn_get", "SELECT " TXN_READ "WHERE t.ca = %s AND t.id = %lld" },
    SEARCH("0000", "", "", "", SEARCH_BY_ID),
    SEARCH("0001", "", "", "", SEARCH_BY_DATE),
    SEARCH("0010", "", "", SEARCH_P, SEARCH_BY_ID),
    SEARCH("0011", "", "", SEARCH_P, SEARCH_BY_DATE),
    SEARCH("0100", "", SEARCH_S, "", SEARCH_BY_ID),
    SEARCH("0101", "", SEARCH_S, "", SEARCH_BY_DATE),
    SEARCH("0110", "", SEARCH_S, SEARCH_P, SEARCH_BY_ID),
    SEARCH("0111", "", SEARCH_S, SEARCH_P, SEARCH_BY_DATE),
    SEARCH("1000", SEARCH_Q, "", "", SEARCH_BY_ID),
    SEARCH("1001", SEARCH_Q, "", "", SEARCH_BY_DATE),
    SEARCH("1010", SEARCH_Q, "", SEARCH_P, SEARCH_BY_ID),
    SEARCH("1011", SEARCH_Q, "", SEARCH_P, SEARCH_BY_DATE),
    SEARCH("1100", SEARCH_Q, SEARCH_S, "", SEARCH_BY_ID),
    SEARCH("1101", SEARCH_Q, SEARCH_S, "", SEARCH_BY_DATE),
    SEARCH("1110", SEARCH_Q, SEARCH_S, SEARCH_P, SEARCH_BY_ID),
    SEARCH("1111", SEARCH_Q, SEARCH_S, SEARCH_P, SEARCH_BY_DATE),
    /* the transactions that asked for a certificate (its history) */
    { "scep_txn_of_cert",
      "SELECT " TXN_READ "WHERE t.ca = %s AND t.serial = %s ORDER BY t.id" },
    /* the latest transaction with this transactionID is the one just
     * written: its names go with it */
    { "scep_name_insert",
      "INSERT INTO scep_names (ca, name, txn) SELECT %s, %s, MAX(id) FROM scep_transactions "
      "WHERE ca = %s AND transaction_id = %s" },
    /* certificates in use that expire in a window, soonest first, from a
     * cursor (expiry, serial) */
    /* (COALESCE keeps the planner on the expiry index: the revocation
     * index, where every certificate in use is NULL, would read them all) */
    { "scep_cert_expiring",
      "SELECT " CERT_COLUMNS("NULL") ", 0 FROM scep_certificates c WHERE c.ca = %s "
      "AND c.not_after >= %lld AND c.not_after < %lld "
      "AND (c.not_after > %lld OR c.serial > %s) "
      "AND COALESCE(c.revoked_at, 0) = 0 AND c.renewed_by IS NULL "
      "ORDER BY c.not_after, c.serial LIMIT %lld" },
    { "scep_count_by_profile",
      "SELECT profile, status, COUNT(*) FROM scep_transactions WHERE ca = %s "
      "AND created_at >= %lld GROUP BY profile, status" },
    { "scep_count_by_day",
      "SELECT FLOOR(created_at / 86400), status, COUNT(*) FROM scep_transactions "
      "WHERE ca = %s AND created_at >= %lld GROUP BY FLOOR(created_at / 86400), status" },
    { "scep_audit_insert",
      "INSERT INTO scep_audit (ca, at, actor, client_addr, action, target, detail) "
      "VALUES (%s, %lld, %s, %s, %s, %s, %s)" },
    { "scep_audit_list",
      "SELECT id, ca, at, actor, client_addr, action, target, detail FROM scep_audit "
      "WHERE ca = %s AND id < %lld ORDER BY id DESC LIMIT %lld" },
    { "scep_audit_of",
      "SELECT id, ca, at, actor, client_addr, action, target, detail FROM scep_audit "
      "WHERE ca = %s AND target = %s ORDER BY id LIMIT %lld" },
    { "scep_txn_insert",
      "INSERT INTO scep_transactions (" TXN_COLUMNS ") VALUES (" TXN_VALUES ")" },
    /* conditional: only a PENDING row can be decided, and only once */
    { "scep_txn_approve",
      "UPDATE scep_transactions SET status = 'ISSUED', serial = %s, decided_by = %s, "
      "decided_at = %lld, updated_at = %lld "
      "WHERE ca = %s AND id = %lld AND status = 'PENDING'" },
    { "scep_txn_reject",
      "UPDATE scep_transactions SET status = 'REJECTED', fail_info = 2, fail_text = %s, "
      "decided_by = %s, decided_at = %lld, updated_at = %lld "
      "WHERE ca = %s AND id = %lld AND status = 'PENDING'" },
    { "scep_cert_insert",
      "INSERT INTO scep_certificates (ca, serial, subject, not_before, not_after, "
      "der, issued_at, profile, lineage) VALUES (%s, %s, %s, %lld, %lld, %s, %lld, %s, %s)" },
    /* with whether its chain of renewals holds a key revoked as compromised */
    { "scep_cert_get",
      "SELECT " CERT_COLUMNS("c.der") ", "
      "(SELECT COUNT(*) FROM scep_certificates x WHERE x.ca = c.ca "
      "AND x.lineage = COALESCE(c.lineage, c.serial) AND x.revocation_reason = 1) "
      "FROM scep_certificates c WHERE c.ca = %s AND c.serial = %s" },
    /* the metrics' gauge */
    { "scep_txn_pending_count",
      "SELECT COUNT(*) FROM scep_transactions WHERE ca = %s AND status = 'PENDING'" },
    /* the OCSP responder's one read */
    { "scep_cert_status",
      "SELECT revoked_at, revocation_reason FROM scep_certificates WHERE ca = %s AND serial = %s" },
    /* conditional: a certificate is renewed once */
    { "scep_cert_renewed",
      "UPDATE scep_certificates SET renewed_by = %s "
      "WHERE ca = %s AND serial = %s AND renewed_by IS NULL" },
    { "scep_cert_supersede",
      "UPDATE scep_certificates SET revoked_at = %lld, revocation_reason = 4 "
      "WHERE ca = %s AND serial = %s AND revoked_at IS NULL" },
    { "scep_cert_revoke",
      "UPDATE scep_certificates SET revoked_at = %lld, revocation_reason = %lld "
      "WHERE ca = %s AND serial = %s AND revoked_at IS NULL" },
    { "scep_cert_revoked",
      "SELECT serial, revoked_at, revocation_reason FROM scep_certificates "
      "WHERE ca = %s AND revoked_at IS NOT NULL" },
    { "scep_cert_revoked_count",
      "SELECT COUNT(*) FROM scep_certificates WHERE ca = %s AND revoked_at IS NOT NULL" },
    { "scep_crl_latest",
      "SELECT number, this_update, next_update, revoked_count, der FROM scep_crls "
      "WHERE ca = %s ORDER BY number DESC LIMIT 1" },
    { "scep_crl_insert",
      "INSERT INTO scep_crls (ca, number, this_update, next_update, revoked_count, der) "
      "VALUES (%s, %lld, %lld, %lld, %lld, %s)" },
    /* the atomic consumption: only one request can turn used_at from NULL */
    { "scep_challenge_consume",
      "UPDATE scep_challenges SET used_at = %lld, used_tid = %s WHERE ca = %s AND hash = %s "
      "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > %lld" },
    /* the transaction that issued a certificate (its notifications' key) */
    { "scep_txn_of_serial",
      "SELECT transaction_id FROM scep_transactions WHERE ca = %s AND serial = %s "
      "AND status = 'ISSUED' ORDER BY id LIMIT 1" },
    { "scep_challenge_insert",
      "INSERT INTO scep_challenges (ca, hash, profile, subject, san, created_by, "
      "created_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %lld, %lld)" },
    { "scep_challenge_find",
      "SELECT id, ca, hash, profile, subject, san, created_by, created_at, expires_at, "
      "used_at, used_tid, revoked_at FROM scep_challenges WHERE ca = %s AND hash = %s" },
    /* NDES's password cache: the unused challenges one user holds */
    { "scep_challenge_count_by",
      "SELECT COUNT(*) FROM scep_challenges WHERE ca = %s AND created_by = %s "
      "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > %lld" },
    { "scep_challenge_open",
      "SELECT id, ca, hash, profile, subject, san, created_by, created_at, expires_at, "
      "used_at, used_tid, revoked_at FROM scep_challenges WHERE ca = %s AND id < %lld "
      "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > %lld "
      "ORDER BY id DESC LIMIT %lld" },
    { "scep_challenge_revoke",
      "UPDATE scep_challenges SET revoked_at = %lld WHERE ca = %s AND id = %lld "
      "AND used_at IS NULL AND revoked_at IS NULL" },
    { "scep_auth_failure_add",
      "INSERT INTO scep_auth_failures (ca, profile, client_addr, created_at) "
      "VALUES (%s, %s, %s, %lld)" },
    { "scep_auth_failure_purge",
      "DELETE FROM scep_auth_failures WHERE ca = %s AND profile = %s AND created_at < %lld" },
    /* the notification outbox and the worker's lease (scep_store_outbox.c) */
    { "scep_outbox_insert",
      "INSERT INTO scep_outbox (ca, sink, profile, event, event_key, payload, created_at, "
      "attempts, next_at) VALUES (%s, %s, %s, %s, %s, %s, %lld, 0, %lld)" },
    { "scep_outbox_pending",
      "SELECT " EVENT_COLUMNS " FROM scep_outbox WHERE delivered_at IS NULL AND id > %lld "
      "ORDER BY id LIMIT %lld" },
    /* what the worker may send now: the oldest undelivered event of each
     * key, if its retry is due (a key's later events wait behind it, and
     * events that keep failing never hide the others) */
    { "scep_outbox_due",
      "SELECT " EVENT_COLUMNS " FROM scep_outbox o WHERE o.delivered_at IS NULL AND o.ca = %s "
      "AND o.next_at <= %lld AND o.id = (SELECT MIN(h.id) FROM scep_outbox h "
      "WHERE h.delivered_at IS NULL AND h.ca = o.ca AND h.sink = o.sink "
      "AND h.profile = o.profile AND h.event_key = o.event_key) ORDER BY o.id LIMIT %lld" },
    { "scep_outbox_pending_of",
      "SELECT " EVENT_COLUMNS " FROM scep_outbox WHERE delivered_at IS NULL AND ca = %s "
      "ORDER BY id LIMIT %lld" },
    { "scep_outbox_delivered",
      "UPDATE scep_outbox SET delivered_at = %lld, attempts = attempts + 1, last_error = NULL "
      "WHERE id = %lld" },
    { "scep_outbox_failed",
      "UPDATE scep_outbox SET attempts = attempts + 1, next_at = %lld, last_error = %s "
      "WHERE id = %lld" },
    { "scep_outbox_purge",
      "DELETE FROM scep_outbox WHERE delivered_at IS NOT NULL AND delivered_at < %lld" },
    /* the holder keeps it, or anyone takes it once it has lapsed */
    { "scep_lease_take",
      "UPDATE scep_leases SET holder = %s, expires_at = %lld "
      "WHERE name = %s AND (holder = %s OR expires_at < %lld)" },
    { "scep_lease_release",
      "UPDATE scep_leases SET expires_at = 0 WHERE name = %s AND holder = %s" },
    { "scep_lease_insert",
      "INSERT INTO scep_leases (name, holder, expires_at) VALUES (%s, %s, %lld)" },
    { NULL, NULL }
};

/* PostgreSQL: an enrollment's record as one statement, one round trip where
 * BEGIN, the challenge, the certificate, the transaction, its names and
 * COMMIT took six. A statement is a transaction of its own: the parts of
 * its WITH commit together or not at all. "ok" has its one row when the
 * one-time challenge was consumed, or when there is none to consume; then
 * the certificate (if any), the transaction and its names are written.
 * The names take SCEP_RECORD_ONE_NAMES slots (NULL: unused). */
#define SCEP_RECORD_ONE_NAMES 4
static const scep_sql_t pgsql_sql[] = {
    { "scep_record_one",
      "WITH used AS (UPDATE scep_challenges SET used_at = %lld, used_tid = %s "
      "WHERE ca = %s AND hash = %s AND used_at IS NULL AND revoked_at IS NULL "
      "AND expires_at > %lld AND %lld = 1 RETURNING 1), "
      "ok AS (SELECT 1 AS one WHERE %lld = 0 OR EXISTS (SELECT 1 FROM used)), "
      "cert AS (INSERT INTO scep_certificates (ca, serial, subject, not_before, not_after, "
      "der, issued_at, profile, lineage) SELECT %s, %s, %s, %lld, %lld, %s, %lld, %s, %s "
      "FROM ok WHERE %lld = 1 RETURNING 1), "
      "txn AS (INSERT INTO scep_transactions (" TXN_COLUMNS ") SELECT " TXN_VALUES " "
      "FROM ok RETURNING id, ca), "
      "named AS (INSERT INTO scep_names (ca, name, txn) SELECT txn.ca, v.name, txn.id "
      "FROM txn, (VALUES (%s), (%s), (%s), (%s)) v (name) WHERE v.name IS NOT NULL) "
      "SELECT (SELECT COUNT(*) FROM ok), COUNT(*), MAX(id) FROM txn" },
    { NULL, NULL }
};

static const scep_sql_t no_sql[] = { { NULL, NULL } };

const scep_sql_t *scep_store_sql_of_driver(const char *driver)
{
    return driver && !strcmp(driver, "pgsql") ? pgsql_sql : no_sql;
}

/* The statement called label in the table q, NULL if it has none. */
static const scep_sql_t *sql_in(const scep_sql_t *q, const char *label)
{
    for (; q->label; q++) {
        if (!strcmp(q->label, label)) {
            return q;
        }
    }
    return NULL;
}

const scep_sql_t *scep_store_sql_find(const char *driver, const char *label)
{
    const scep_sql_t *q = sql_in(scep_store_sql, label);
    return q ? q : sql_in(scep_store_sql_of_driver(driver), label);
}

const char *const scep_store_sql_at_connect[] = {
    "scep_preflight", "scep_record_one", "scep_challenge_find", "scep_challenge_consume",
    "scep_cert_insert", "scep_txn_insert", "scep_name_insert", "scep_txn_find_live",
    "scep_cert_status", NULL
};

static const scep_sql_t *sql_of(const scep_store_t *st, const char *label)
{
    return scep_store_sql_find(apr_dbd_name(st->driver), label);
}

/* The driver's error text for err, copied: a restore's own queries (or a
 * new session) would replace it. */
static const char *db_error(scep_ctx_t *ctx, const scep_store_t *st, int err)
{
    const char *text = apr_dbd_error(st->driver, st->handle, err);
    return apr_pstrdup(ctx->pool, text ? text : "");
}

/* After a database restart, a pooled connection's session is gone (or the
 * driver re-opened it, without the statements it had): the dialect opens a
 * new one if it can and prepares them again (not inside a transaction: the
 * session's state is the transaction's). Non-zero: run the statement again. */
static int restore_statements(scep_ctx_t *ctx, scep_store_t *st, int err)
{
    return st->in_transaction || !st->dialect->restore ? 0
           : st->dialect->restore(ctx, st, err);
}

/* mod_dbd prepares only scep_store_sql_at_connect when it opens a
 * connection: it does so while holding its pool's lock, which every other
 * thread of the child needs to borrow or give back a connection, and a new
 * PostgreSQL connection preparing all 61 statements under load took
 * 51-107 ms. The others are prepared here, on a connection that first runs
 * them. The statement lives in the pool of the connection's table of
 * statements, which mod_dbd clears before it closes the connection (and
 * whose allocator, the child's, is shared under a mutex). */
static apr_dbd_prepared_t *stmt(scep_ctx_t *ctx, scep_store_t *st,
                                const char *label)
{
    apr_dbd_prepared_t *s = apr_hash_get(st->prepared, label, APR_HASH_KEY_STRING);
    const scep_sql_t *q;
    const char *why;
    int err;

    if (s) {
        return s;
    }
    if (!(q = sql_of(st, label))) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00101)
                 "SQL statement %s is not one of mod_scep's for the %s driver", label,
                 apr_dbd_name(st->driver));
        return NULL;
    }
    err = apr_dbd_prepare(st->driver, apr_hash_pool_get(st->prepared), st->handle, q->sql,
                          q->label, &s);
    why = err ? db_error(ctx, st, err) : NULL;
    if (err && restore_statements(ctx, st, err)) {
        s = NULL;       /* (apr_dbd_pgsql would reuse the failed one) */
        err = apr_dbd_prepare(st->driver, apr_hash_pool_get(st->prepared), st->handle,
                              q->sql, q->label, &s);
        why = err ? db_error(ctx, st, err) : NULL;
    }
    if (err || !s) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00373)
                 "cannot prepare SQL statement %s: %s; is the schema from conf/ loaded, "
                 "and upgraded (README, Upgrading the schema)?", label, why ? why : "");
        return NULL;
    }
    apr_hash_set(st->prepared, q->label, APR_HASH_KEY_STRING, s);
    return s;
}

/* The dialects that are not apr_dbd's defaults; others (odbc, freetds ...)
 * read sequentially and use apr_dbd's transactions. */
static const scep_dialect_t *const dialects[] = {
    &scep_dialect_pgsql, &scep_dialect_mysql, &scep_dialect_sqlite, NULL
};

static const scep_dialect_t generic_dialect = {
    "", 0, 0, scep_store_begin_dbd, scep_store_end_dbd, NULL, NULL, NULL, NULL, NULL
};

scep_store_t *scep_store_make(apr_pool_t *p, const apr_dbd_driver_t *driver,
                              apr_dbd_t *handle, apr_hash_t *prepared,
                              apr_global_mutex_t *sqlite_lock)
{
    scep_store_t *st = apr_pcalloc(p, sizeof(*st));
    const char *name = apr_dbd_name(driver);
    int i;

    st->pool = p;
    st->driver = driver;
    st->handle = handle;
    st->prepared = prepared;
    st->dialect = &generic_dialect;
    for (i = 0; dialects[i]; i++) {
        if (!strcmp(name, dialects[i]->driver)) {
            st->dialect = dialects[i];
        }
    }
    st->write_lock = st->dialect->uses_write_lock ? sqlite_lock : NULL;
    return st;
}

void scep_store_on_loan(scep_store_t *st, scep_store_take_fn *take, void (*give_back)(void *baton),
                      void *baton)
{
    st->take = take;
    st->give_back = give_back;
    st->loan_baton = baton;
}

void scep_store_attach(scep_store_t *st, apr_dbd_t *handle, apr_hash_t *prepared)
{
    st->handle = handle;
    st->prepared = prepared;
}

void scep_store_release(scep_store_t *st)
{
    if (st && st->handle && st->give_back && !st->in_transaction) {
        st->give_back(st->loan_baton);
        st->handle = NULL;
    }
}

/* A connection for the next statement: the one held, or a new loan. */
static apr_status_t attached(scep_store_t *st)
{
    if (st->handle) {
        return APR_SUCCESS;
    }
    return st->take && st->take(st->loan_baton, st) == APR_SUCCESS && st->handle
           ? APR_SUCCESS : SCEP_EDB;
}

int scep_store_begin_dbd(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t **ptrans)
{
    return apr_dbd_transaction_start(st->driver, ctx->pool, st->handle, ptrans);
}

int scep_store_end_dbd(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t *trans,
                       int commit)
{
    if (!commit) {
        apr_dbd_transaction_mode_set(st->driver, trans, APR_DBD_TRANSACTION_ROLLBACK);
    }
    return apr_dbd_transaction_end(st->driver, ctx->pool, trans);
}

void scep_store_restored(scep_ctx_t *ctx, int restored, int err)
{
    if (restored) {
        SCEP_LOG(ctx, SCEP_LOG_WARNING, 0, SCEPLOGNO(00109)
                 "prepared %d SQL statements again on a database connection that "
                 "failed (driver error %d; re-opened after a database restart?)",
                 restored, err);
    }
}

/* above every id and time: where a list without a cursor starts */
#define NO_CURSOR APR_INT64_C(9223372036854775807)

const char *scep_store_num(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

static const char *now_str(apr_pool_t *p)
{
    return scep_store_num(p, (apr_int64_t)apr_time_sec(apr_time_now()));
}

apr_int64_t scep_store_i64(const char *s)
{
    return s && *s ? apr_atoi64(s) : 0;
}

const char *scep_store_dup(apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row, int col)
{
    const char *v = apr_dbd_get_entry(st->driver, row, col);
    return v ? apr_pstrdup(p, v) : NULL;
}

/* (a clock set back counts nothing) */
static apr_uint64_t usec_since(apr_time_t from, apr_time_t to)
{
    return to > from ? (apr_uint64_t)(to - from) : 0;
}

apr_status_t scep_store_lock(scep_ctx_t *ctx, scep_store_t *st)
{
    apr_status_t rv;
    apr_time_t asked;

    if (!st->write_lock) {
        return APR_SUCCESS;
    }
    asked = apr_time_now();
    rv = apr_global_mutex_lock(st->write_lock);
    if (rv != APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, rv, SCEPLOGNO(00107)
                 "cannot take the database write lock (Mutex scep-db)");
        return SCEP_EDB;
    }
    st->locked_at = apr_time_now();
    st->lock_metrics = ctx->metrics;
    scep_metrics_add(ctx->metrics, SCEP_M_DB_LOCK_WAIT_US, usec_since(asked, st->locked_at));
    return APR_SUCCESS;
}

void scep_store_unlock(scep_store_t *st)
{
    if (st->write_lock) {
        scep_metrics_add(st->lock_metrics, SCEP_M_DB_LOCK_HELD_US,
                         usec_since(st->locked_at, apr_time_now()));
        apr_global_mutex_unlock(st->write_lock);
    }
}

/* Run a prepared write; *pnrows gets the affected rows. Outside a
 * transaction it is one of its own, under the write lock. */
apr_status_t scep_store_exec(scep_ctx_t *ctx, scep_store_t *st, const char *label,
                              int *pnrows, int nargs, const char **args)
{
    apr_dbd_prepared_t *s;
    const char *why;
    int nrows = 0, err, locked = !st->in_transaction && st->write_lock;

    if (attached(st) != APR_SUCCESS || !(s = stmt(ctx, st, label))) {
        return SCEP_EDB;
    }
    if (locked && scep_store_lock(ctx, st) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    err = apr_dbd_pquery(st->driver, ctx->pool, st->handle, &nrows, s, nargs, args);
    why = err ? db_error(ctx, st, err) : NULL;
    if (err && restore_statements(ctx, st, err)) {
        scep_metrics_add(ctx->metrics, SCEP_M_DB_RETRIES, 1);
        err = apr_dbd_pquery(st->driver, ctx->pool, st->handle, &nrows, s, nargs, args);
        why = err ? db_error(ctx, st, err) : NULL;
    }
    if (err) {
        scep_metrics_add(ctx->metrics, SCEP_M_DB_ERRORS, 1);
    }
    if (locked) {
        scep_store_unlock(st);
    }
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00102) "%s failed: %s", label, why);
        return SCEP_EDB;
    }
    if (pnrows) {
        *pnrows = nrows;
    }
    return APR_SUCCESS;
}

/* Run a prepared select; rows are read to the end so the result is freed;
 * a failure is logged at level. */
static apr_status_t select_logged(scep_ctx_t *ctx, scep_store_t *st, const char *label,
                                  int nargs, const char **args, scep_store_row_fn *fn,
                                  void *baton, int level)
{
    apr_dbd_prepared_t *s;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int random = st->dialect->random_access;
    const char *why;
    int err;

    if (attached(st) != APR_SUCCESS || !(s = stmt(ctx, st, label))) {
        return SCEP_EDB;
    }
    err = apr_dbd_pselect(st->driver, ctx->pool, st->handle, &res, s, random, nargs, args);
    why = err ? db_error(ctx, st, err) : NULL;
    if (err && restore_statements(ctx, st, err)) {
        scep_metrics_add(ctx->metrics, SCEP_M_DB_RETRIES, 1);
        err = apr_dbd_pselect(st->driver, ctx->pool, st->handle, &res, s, random, nargs, args);
        why = err ? db_error(ctx, st, err) : NULL;
    }
    if (err) {
        scep_metrics_add(ctx->metrics, SCEP_M_DB_ERRORS, 1);
        SCEP_LOG(ctx, level, 0, SCEPLOGNO(00103) "%s failed: %s", label, why);
        return SCEP_EDB;
    }
    while (apr_dbd_get_row(st->driver, ctx->pool, res, &row, -1) == 0) {
        fn(baton, ctx->pool, st, row);
    }
    return APR_SUCCESS;
}

apr_status_t scep_store_select(scep_ctx_t *ctx, scep_store_t *st, const char *label,
                               int nargs, const char **args, scep_store_row_fn *fn, void *baton)
{
    return select_logged(ctx, st, label, nargs, args, fn, baton, SCEP_LOG_ERR);
}

/* A select that writes, and may fail for the caller to judge (a request
 * that lost a race): its failure is logged at debug, as scep_store_exec's. */
static apr_status_t select_quiet(scep_ctx_t *ctx, scep_store_t *st, const char *label,
                                 int nargs, const char **args, scep_store_row_fn *fn,
                                 void *baton)
{
    return select_logged(ctx, st, label, nargs, args, fn, baton, SCEP_LOG_DEBUG);
}

apr_status_t scep_store_select_rows(apr_array_header_t **prows, scep_ctx_t *ctx,
                                   scep_store_t *st, const char *label, int nargs,
                                   const char **args, scep_store_row_fn *fn, int size)
{
    apr_array_header_t *rows = apr_array_make(ctx->pool, 8, size);
    apr_status_t rv = scep_store_select(ctx, st, label, nargs, args, fn, rows);

    if (rv == APR_SUCCESS) {
        *prows = rows;
    }
    return rv;
}

/* The first row of a prepared select: APR_NOTFOUND when there is none. */
static apr_status_t select_one(void **prow, apr_size_t row_size, scep_ctx_t *ctx,
                               scep_store_t *st, const char *label, int nargs,
                               const char **args, scep_store_row_fn *fn)
{
    apr_array_header_t *rows = apr_array_make(ctx->pool, 1, (int)row_size);
    apr_status_t rv = scep_store_select(ctx, st, label, nargs, args, fn, rows);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows->nelts == 0) {
        return APR_NOTFOUND;
    }
    *prow = rows->elts;
    return APR_SUCCESS;
}

/* A transaction read back from TXN_READ_COLUMNS, starting at column base. */
static void fill_txn(scep_txn_t *t, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row,
                     int base)
{
    const char *fi;
#define COL(n) apr_dbd_get_entry(st->driver, row, base + (n))
#define DUP(n) scep_store_dup(p, st, row, base + (n))
    t->id = DUP(0);
    t->ca = DUP(1);
    t->tid = DUP(2);
    t->msg_type = (int)scep_store_i64(COL(3));
    t->status = DUP(4);
    t->dedup_key = DUP(5);
    t->key_fp = DUP(6);
    t->signer_fp = DUP(7);
    t->csr = DUP(8);
    t->subject = DUP(9);
    t->renewal_of = DUP(10);
    t->profile = DUP(11);
    t->client_addr = DUP(12);
    t->serial = DUP(13);
    fi = COL(14);
    t->fail_info = fi && *fi ? atoi(fi) : -1;
    t->fail_text = DUP(15);
    t->plan_subject = DUP(16);
    t->plan_san = DUP(17);
    t->decided_by = DUP(18);
    t->decided_at = scep_store_i64(COL(19));
    t->created_at = scep_store_i64(COL(20));
    t->cert_der = DUP(21);
    t->cert_not_after = scep_store_i64(COL(22));
    t->cert_revoked_at = scep_store_i64(COL(23));
    t->trace = DUP(24);
    t->cert_issued_at = scep_store_i64(COL(25));
#undef COL
#undef DUP
}

static void read_txn(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    fill_txn(apr_array_push(baton), p, st, row, 0);
}

/* TXN_VALUES's arguments into args (TXN_NARGS of them); how many. */
#define TXN_NARGS 22
static int txn_args(const char **args, apr_pool_t *p, const scep_txn_t *t, const char *now)
{
    const char *v[TXN_NARGS] = {
        t->ca, t->tid, scep_store_num(p, t->msg_type), t->status, t->dedup_key, t->key_fp,
        t->signer_fp, t->signer_cert, t->csr, t->subject, t->renewal_of, t->profile,
        t->client_addr, t->serial, t->fail_info >= 0 ? scep_store_num(p, t->fail_info) : NULL,
        t->fail_text, t->plan_subject, t->plan_san, t->auth_failed ? "1" : "0", now, now,
        t->trace
    };
    memcpy(args, v, sizeof(v));
    return TXN_NARGS;
}

static apr_status_t insert_txn(scep_ctx_t *ctx, scep_store_t *st, const scep_txn_t *t)
{
    const char *args[TXN_NARGS];
    apr_status_t rv = scep_store_exec(ctx, st, "scep_txn_insert", NULL,
                                      txn_args(args, ctx->pool, t, now_str(ctx->pool)), args);
    int i;

    for (i = 0; rv == APR_SUCCESS && t->names && i < t->names->nelts; i++) {
        const char *name[] = { t->ca, APR_ARRAY_IDX(t->names, i, const char *), t->ca, t->tid };
        rv = scep_store_exec(ctx, st, "scep_name_insert", NULL, 4, name);
    }
    return rv;
}

/* scep_cert_insert's arguments into args (CERT_NARGS of them), each NULL
 * without a certificate; how many. */
#define CERT_NARGS 9
static int cert_args(const char **args, apr_pool_t *p, const scep_cert_t *c, const char *now)
{
    const char *v[CERT_NARGS] = { NULL };

    if (c) {
        const char *w[CERT_NARGS] = {
            c->ca, c->serial, c->subject, scep_store_num(p, c->not_before),
            scep_store_num(p, c->not_after), c->der, now, c->profile,
            c->lineage ? c->lineage : c->serial
        };
        memcpy(v, w, sizeof(v));
    }
    memcpy(args, v, sizeof(v));
    return CERT_NARGS;
}

static apr_status_t insert_cert(scep_ctx_t *ctx, scep_store_t *st, const scep_cert_t *c)
{
    const char *args[CERT_NARGS];
    return scep_store_exec(ctx, st, "scep_cert_insert", NULL,
                           cert_args(args, ctx->pool, c, now_str(ctx->pool)), args);
}

/* Inside the transaction that records the new certificate: the old one
 * points to it, once (a second renewal finds renewed_by set and fails). */
static apr_status_t link_renewal(scep_ctx_t *ctx, scep_store_t *st, const scep_cert_t *cert,
                                 const scep_renewal_t *r)
{
    const char *old_ca = r->old_ca ? r->old_ca : cert->ca;
    const char *args[] = { cert->serial, old_ca, r->old_serial };
    const char *revoke[] = { now_str(ctx->pool), old_ca, r->old_serial };
    int nrows = 0;
    apr_status_t rv = scep_store_exec(ctx, st, "scep_cert_renewed", &nrows, 3, args);

    if (rv == APR_SUCCESS && nrows != 1) {
        return SCEP_ERENEWED;
    }
    if (rv == APR_SUCCESS && r->supersede) {
        rv = scep_store_exec(ctx, st, "scep_cert_supersede", NULL, 3, revoke);
    }
    return rv;
}

apr_status_t scep_store_find_live(apr_array_header_t **prows, scep_ctx_t *ctx,
                                  scep_store_t *st, const char *ca, const char *tid)
{
    const char *args[] = { ca, tid };
    return scep_store_select_rows(prows, ctx, st, "scep_txn_find_live", 2, args, read_txn,
                                  sizeof(scep_txn_t));
}

typedef struct preflight_rows_t {
    apr_int64_t failures;
    apr_array_header_t *live;
} preflight_rows_t;

static void read_preflight(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    preflight_rows_t *r = baton;

    const char *id = apr_dbd_get_entry(st->driver, row, 1);

    r->failures = scep_store_i64(apr_dbd_get_entry(st->driver, row, 0));
    /* t.id is NULL when no transaction matched (pgsql reads a NULL as "") */
    if (id && *id) {
        fill_txn(apr_array_push(r->live), p, st, row, 1);
    }
}

apr_status_t scep_store_preflight(apr_int64_t *pfailures, apr_array_header_t **plive,
                                  scep_ctx_t *ctx, scep_store_t *st,
                                  const scep_preflight_t *q)
{
    preflight_rows_t r = { 0, apr_array_make(ctx->pool, 2, sizeof(scep_txn_t)) };
    /* no window: a time after every failure, so the count is 0 */
    const char *since = scep_store_num(ctx->pool, q->since >= 0 ? q->since : NO_CURSOR);
    const char *args[] = {
        q->ca, q->profile, q->client_addr ? q->client_addr : "", since, q->ca, q->tid
    };
    apr_status_t rv = scep_store_select(ctx, st, "scep_preflight", 6, args, read_preflight, &r);

    if (rv == APR_SUCCESS) {
        *pfailures = r.failures;
        *plive = r.live;
    }
    return rv;
}

/* Run body() inside a database transaction; roll back unless it succeeds. */
typedef apr_status_t txn_body_fn(scep_ctx_t *ctx, scep_store_t *st, const void *a,
                                 const void *b);

/* One write transaction: alone, or waiting for the group's commit. */
typedef struct commit_job_t {
    scep_ctx_t *ctx;
    scep_store_t *st;                 /* the writer's store: what it staged */
    txn_body_fn *body;
    const void *a, *b;
    apr_status_t rv;
    int done;                         /* rv is final (under the queue's mutex) */
    struct commit_job_t *next;
} commit_job_t;

struct scep_commit_queue_t {
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;          /* a group was written */
    commit_job_t *head, *tail;        /* waiting for the next group */
    int leading;                      /* a group is being written */
    /* the writer thread, when there is one: it writes every group */
    apr_thread_t *writer;
    apr_thread_cond_t *work;          /* a job is waiting, or stopping */
    int realtime, priority_err, started, stopping;
};

scep_commit_queue_t *scep_commit_queue_make(apr_pool_t *p)
{
    scep_commit_queue_t *q = apr_pcalloc(p, sizeof(*q));

    if (apr_thread_mutex_create(&q->mutex, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS
        || apr_thread_cond_create(&q->cond, p) != APR_SUCCESS) {
        return NULL;
    }
    return q;
}

apr_status_t scep_store_durable(scep_ctx_t *ctx, scep_store_t *st)
{
    if (!st->dialect->durable) {
        return APR_SUCCESS;
    }
    return attached(st) == APR_SUCCESS ? st->dialect->durable(ctx, st) : SCEP_EDB;
}

void scep_store_join_queue(scep_store_t *st, scep_commit_queue_t *q)
{
    st->queue = st->dialect->uses_write_lock ? q : NULL;
}

/* The writers' lock, then BEGIN: APR_SUCCESS, or SCEP_EDB (logged, unlocked). */
static apr_status_t txn_open(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t **ptrans)
{
    const char *why;
    int err;

    if (attached(st) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    if (scep_store_lock(ctx, st) != APR_SUCCESS) {
        return SCEP_EDB;
    }
    if (st->dialect->txn_opening) {
        st->dialect->txn_opening(ctx, st);
    }
    err = st->dialect->begin(ctx, st, ptrans);
    why = err ? db_error(ctx, st, err) : NULL;
    if (err && restore_statements(ctx, st, err)) {
        /* a session the server closed, opened again */
        err = st->dialect->begin(ctx, st, ptrans);
        why = err ? db_error(ctx, st, err) : NULL;
    }
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00104)
                 "cannot start a database transaction: %s", why);
        if (*ptrans) {
            /* apr_dbd_sqlite3 (and mysql) hang the transaction on the
             * connection even when BEGIN failed, and apr_dbd ends it (a
             * COMMIT) when this request's pool goes: by then the connection
             * is back in mod_dbd's pool, maybe inside another request's
             * transaction. So it is ended (rolled back) now. */
            st->dialect->end(ctx, st, *ptrans, 0);
            *ptrans = NULL;
        }
        scep_store_unlock(st);
        if (st->dialect->txn_closed) {
            /* what txn_opening set on the connection is set back (SQLite's
             * sync level: left lowered, its later commits would go unsynced) */
            st->dialect->txn_closed(ctx, st, 0);
        }
        return SCEP_EDB;
    }
    st->in_transaction = 1;
    st->commit_unsure = 0;
    return APR_SUCCESS;
}

/* COMMIT (or ROLLBACK), then unlock: SCEP_EDB when a commit failed. */
static apr_status_t txn_close(scep_ctx_t *ctx, scep_store_t *st, apr_dbd_transaction_t *trans,
                              int commit)
{
    int err = st->dialect->end(ctx, st, trans, commit), nrows = 0;
    const char *why = err ? db_error(ctx, st, err) : NULL;
    apr_status_t durable = APR_SUCCESS;

    if (commit && err) {
        /* SQLite keeps a transaction whose COMMIT found the database busy
         * (a reader, outside WAL mode), and the driver forgets it: ended
         * here, or the connection would go back to the pool inside it, and
         * its rows be read there as if committed */
        apr_dbd_query(st->driver, st->handle, &nrows, "ROLLBACK");
    }
    st->in_transaction = 0;
    scep_store_unlock(st);
    if (!commit || err) {
        /* a statement inside may have failed for that reason: the next
         * request on this connection finds them again */
        restore_statements(ctx, st, 0);
    }
    if (st->dialect->txn_closed) {
        durable = st->dialect->txn_closed(ctx, st, commit && !err);
    }
    if (commit && err) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00106) "commit failed: %s", why);
        return SCEP_EDB;
    }
    st->commit_unsure = commit && durable != APR_SUCCESS;
    return st->commit_unsure ? SCEP_EDB : APR_SUCCESS;
}

/* The job's body and what its writer staged (notifications, audit), on
 * st's connection; the staged lists are emptied, written or not. */
static apr_status_t run_body(commit_job_t *j, scep_store_t *st)
{
    apr_array_header_t *staged = st->staged, *audit = st->staged_audit;
    apr_status_t rv;

    st->staged = j->st->staged;
    st->staged_audit = j->st->staged_audit;
    rv = j->body(j->ctx, st, j->a, j->b);
    if (rv == APR_SUCCESS) {
        rv = scep_store_write_staged(j->ctx, st);
    }
    if (rv == APR_SUCCESS) {
        rv = scep_store_write_audit(j->ctx, st);
    }
    st->staged = staged;
    st->staged_audit = audit;
    if (j->st->staged) {
        apr_array_clear(j->st->staged);
    }
    if (j->st->staged_audit) {
        apr_array_clear(j->st->staged_audit);
    }
    return rv;
}

static int savepoint(scep_store_t *st, const char *sql)
{
    int nrows = 0;
    return apr_dbd_query(st->driver, st->handle, &nrows, sql) == 0;
}

/* The group's writes in one transaction on st's connection (the leader's),
 * each inside a savepoint so that one that fails is rolled back alone;
 * a failed commit, or a savepoint SQLite lost (it rolls the whole
 * transaction back on some errors), fails them all. A group of one (a
 * write alone) needs no savepoint: its failure rolls the transaction back. */
static void run_group(scep_ctx_t *ctx, scep_store_t *st, commit_job_t *jobs)
{
    apr_dbd_transaction_t *trans = NULL;
    int grouped = jobs->next != NULL, any = 0, broken = 0, count = 0, failed = 0;
    apr_status_t rv = txn_open(ctx, st, &trans);
    commit_job_t *j;

    if (rv == APR_SUCCESS && grouped) {
        apr_dbd_transaction_mode_set(st->driver, trans, APR_DBD_TRANSACTION_COMMIT
                                                        | APR_DBD_TRANSACTION_IGNORE_ERRORS);
    }
    for (j = jobs; j; j = j->next) {
        if (rv != APR_SUCCESS || broken
            || (grouped && !savepoint(st, "SAVEPOINT scep_write"))) {
            broken = broken || rv == APR_SUCCESS;
            j->rv = SCEP_EDB;
            continue;
        }
        j->rv = run_body(j, st);
        any = any || j->rv == APR_SUCCESS;
        if (grouped && ((j->rv != APR_SUCCESS
                         && !savepoint(st, "ROLLBACK TO scep_write"))
                        || !savepoint(st, "RELEASE scep_write"))) {
            broken = 1;
        }
    }
    if (rv != APR_SUCCESS) {
        return;
    }
    if (broken) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00110)
                 "a group of writes was rolled back (the database lost its savepoint): %s",
                 apr_dbd_error(st->driver, st->handle, 1));
    }
    rv = txn_close(ctx, st, trans, any && !broken);
    for (j = jobs; j; j = j->next) {
        if (j->rv == APR_SUCCESS && (broken || rv != APR_SUCCESS)) {
            j->rv = SCEP_EDB;
        }
        /* (each writer looks at its own store afterwards: scep_store_record_*) */
        j->st->commit_unsure = st->commit_unsure;
        count++;
        failed += j->rv != APR_SUCCESS;
    }
    scep_metrics_add(ctx->metrics, SCEP_M_DB_COMMITS, 1);
    scep_metrics_add(ctx->metrics, SCEP_M_DB_WRITES, (apr_uint64_t)count);
    if (grouped) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00111)
                 "group commit: %d writes in one transaction, %d of them rolled back",
                 count, failed);
    }
}

/* Under q's mutex: every write waiting becomes one group, written on the
 * leader's connection (self: the job of the thread leading it), or with no
 * leader (the writer thread) on the first's, whose thread waits meanwhile
 * as the others do; then they are all woken. */
static void write_waiting(scep_commit_queue_t *q, commit_job_t *self)
{
    commit_job_t *group = q->head, *j;

    q->head = q->tail = NULL;
    q->leading = 1;
    apr_thread_mutex_unlock(q->mutex);
    run_group(self ? self->ctx : group->ctx, self ? self->st : group->st, group);
    apr_thread_mutex_lock(q->mutex);
    for (j = group; j; j = j->next) {
        j->done = 1;
    }
    q->leading = 0;
    apr_thread_cond_broadcast(q->cond);
}

/* Alone, or in the process's group commit: the writer thread, when there
 * is one, writes each group; otherwise the writer whose write finds no
 * group being written leads the next one, with every write waiting. */
static apr_status_t in_transaction(scep_ctx_t *ctx, scep_store_t *st, txn_body_fn *body,
                                   const void *a, const void *b)
{
    commit_job_t job = { ctx, st, body, a, b, APR_SUCCESS, 0, NULL };
    scep_commit_queue_t *q = st->queue;

    if (!q) {
        run_group(ctx, st, &job);
        return job.rv;
    }
    /* a connection on loan goes back while its write waits for a group:
     * only the group's is used, taken again by its leader (or by the writer
     * thread, on the first writer's loan) */
    scep_store_release(st);
    apr_thread_mutex_lock(q->mutex);
    if (q->tail) {
        q->tail->next = &job;
    }
    else {
        q->head = &job;
    }
    q->tail = &job;
    if (q->writer) {
        apr_thread_cond_signal(q->work);
    }
    while (!job.done && (q->writer || q->leading)) {
        apr_thread_cond_wait(q->cond, q->mutex);
    }
    if (!job.done) {
        write_waiting(q, &job);
    }
    apr_thread_mutex_unlock(q->mutex);
    return job.rv;
}

/* The writer thread: each group as it comes, on the connection of its
 * first writer (that thread waits, so its store and pool are free to use). */
static void *APR_THREAD_FUNC writer_main(apr_thread_t *thread, void *data)
{
    scep_commit_queue_t *q = data;
    struct sched_param fifo = { 1 };

#ifdef __linux__
    prctl(PR_SET_NAME, "scep-db-writer", 0, 0, 0);  /* as ps -L and top -H show it */
#endif
    apr_thread_mutex_lock(q->mutex);
    q->priority_err = q->realtime ? pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) : 0;
    q->started = 1;
    apr_thread_cond_broadcast(q->cond);
    for (;;) {
        while (!q->head && !q->stopping) {
            apr_thread_cond_wait(q->work, q->mutex);
        }
        if (!q->head) {
            break;
        }
        write_waiting(q, NULL);
    }
    apr_thread_mutex_unlock(q->mutex);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* (the child's pool pre-cleanup: every request is over by then) */
static apr_status_t writer_stop(void *data)
{
    scep_commit_queue_t *q = data;
    apr_status_t ignored;

    apr_thread_mutex_lock(q->mutex);
    q->stopping = 1;
    apr_thread_cond_signal(q->work);
    apr_thread_mutex_unlock(q->mutex);
    apr_thread_join(&ignored, q->writer);
    q->writer = NULL;
    return APR_SUCCESS;
}

apr_status_t scep_commit_queue_start_writer(scep_commit_queue_t *q, apr_pool_t *p, int realtime,
                                            int *ppriority_err)
{
    apr_status_t rv;

    if ((rv = apr_thread_cond_create(&q->work, p)) != APR_SUCCESS) {
        return rv;
    }
    q->realtime = realtime;
    apr_thread_mutex_lock(q->mutex);
    rv = apr_thread_create(&q->writer, NULL, writer_main, q, p);
    while (rv == APR_SUCCESS && !q->started) {
        apr_thread_cond_wait(q->cond, q->mutex);
    }
    apr_thread_mutex_unlock(q->mutex);
    if (rv != APR_SUCCESS) {
        q->writer = NULL;
        return rv;
    }
    *ppriority_err = q->priority_err;
    apr_pool_pre_cleanup_register(p, q, writer_stop);  /* before p's subpools, the thread's among them */
    return APR_SUCCESS;
}

typedef struct record_t {
    const scep_txn_t *txn;
    const scep_cert_t *cert;          /* NULL for PENDING */
    const scep_consume_t *consume;    /* NULL without a one-time challenge */
    const scep_renewal_t *renewal;    /* NULL unless a certificate renews another */
} record_t;

/* scep_challenge_consume's arguments into args (CONSUME_NARGS of them),
 * each NULL without a challenge to consume; how many. ca: the
 * transaction's, when the challenge is not another CA's. */
#define CONSUME_NARGS 5
static int consume_args(const char **args, const char *ca, const scep_consume_t *c,
                        const char *now)
{
    const char *v[CONSUME_NARGS] = { NULL };

    if (c) {
        const char *w[CONSUME_NARGS] = { now, c->tid, c->ca ? c->ca : ca, c->hash, now };
        memcpy(v, w, sizeof(v));
    }
    memcpy(args, v, sizeof(v));
    return CONSUME_NARGS;
}

static apr_status_t consume_challenge(scep_ctx_t *ctx, scep_store_t *st,
                                      const char *ca, const scep_consume_t *c)
{
    const char *args[CONSUME_NARGS];
    int nrows = 0;
    apr_status_t rv = scep_store_exec(ctx, st, "scep_challenge_consume", &nrows,
                                      consume_args(args, ca, c, now_str(ctx->pool)), args);
    return rv == APR_SUCCESS && nrows != 1 ? SCEP_ECHALLENGE : rv;
}

static apr_status_t record_body(scep_ctx_t *ctx, scep_store_t *st, const void *a,
                                const void *b)
{
    const record_t *r = a;
    apr_status_t rv = APR_SUCCESS;

    if (r->consume) {
        rv = consume_challenge(ctx, st, r->txn->ca, r->consume);
    }
    if (rv == APR_SUCCESS && r->cert && r->renewal) {
        rv = link_renewal(ctx, st, r->cert, r->renewal);
    }
    if (rv == APR_SUCCESS && r->cert) {
        rv = insert_cert(ctx, st, r->cert);
    }
    return rv == APR_SUCCESS ? insert_txn(ctx, st, r->txn) : rv;
}

/* After a failed write: did an identical request commit first? Then its
 * row is the answer, as a resend's would be. That includes a one-time
 * challenge found used: by an identical copy sent at the same moment, or by
 * this very write when PostgreSQL's reply to it was lost and the statement
 * ran again on a new session. */
static apr_status_t conflict_or(apr_status_t rv, scep_ctx_t *ctx, scep_store_t *st,
                                const scep_txn_t *txn, scep_txn_t **pwinner)
{
    apr_array_header_t *rows;
    int i;

    /* (a row that committed without reaching the disk is our own, not a
     * winner's: it is not answered until a resend finds it) */
    if (rv == APR_SUCCESS || !txn->dedup_key || st->commit_unsure
        || scep_store_find_live(&rows, ctx, st, txn->ca, txn->tid) != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < rows->nelts; i++) {
        scep_txn_t *row = &APR_ARRAY_IDX(rows, i, scep_txn_t);
        if (row->dedup_key && !strcmp(row->dedup_key, txn->dedup_key)) {
            *pwinner = row;
            return SCEP_ECONFLICT;
        }
    }
    return rv;
}

/* Staged notifications or audit records: a write commits them with it. */
static int has_staged(const scep_store_t *st)
{
    return (st->staged && st->staged->nelts > 0)
           || (st->staged_audit && st->staged_audit->nelts > 0);
}

/* the rows "ok" and "txn" had, and the new transaction's id */
static void read_record_one(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    apr_int64_t *counts = baton;
    const char *id = apr_dbd_get_entry(st->driver, row, 2);

    (void)p;
    counts[0] = scep_store_i64(apr_dbd_get_entry(st->driver, row, 0));
    counts[1] = scep_store_i64(apr_dbd_get_entry(st->driver, row, 1));
    counts[2] = id && *id ? scep_store_i64(id) : 0;
}

/* The record in one statement where the driver has it (scep_record_one):
 * APR_ENOTIMPL when it does not, or when the record needs more than it
 * writes (a renewal, staged notifications or audit, more names). */
static apr_status_t record_one(scep_ctx_t *ctx, scep_store_t *st, const record_t *r)
{
    apr_pool_t *p = ctx->pool;
    const scep_txn_t *t = r->txn;
    const scep_cert_t *c = r->cert;
    const scep_consume_t *u = r->consume;
    int nnames = t->names ? t->names->nelts : 0, n = 0, i;
    apr_int64_t counts[3] = { -1, -1, 0 };
    const char *now = now_str(p);
    const char *args[CONSUME_NARGS + 2 + CERT_NARGS + 1 + TXN_NARGS + SCEP_RECORD_ONE_NAMES];
    apr_status_t rv;

    if (r->renewal || has_staged(st)
        || nnames > SCEP_RECORD_ONE_NAMES || attached(st) != APR_SUCCESS
        /* (in the driver's own table: on the others, a lookup in none) */
        || !sql_in(scep_store_sql_of_driver(apr_dbd_name(st->driver)), "scep_record_one")) {
        return APR_ENOTIMPL;
    }
    /* the challenge (scep_challenge_consume's), whether there is one (twice:
     * "used" and "ok"), the certificate (scep_cert_insert's), whether there
     * is one, the transaction (scep_txn_insert's) and its names */
    n += consume_args(args + n, t->ca, u, now);
    args[n++] = u ? "1" : "0";
    args[n++] = u ? "1" : "0";
    n += cert_args(args + n, p, c, now);
    args[n++] = c ? "1" : "0";
    n += txn_args(args + n, p, t, now);
    for (i = 0; i < SCEP_RECORD_ONE_NAMES; i++) {
        args[n++] = i < nnames ? APR_ARRAY_IDX(t->names, i, const char *) : NULL;
    }
    rv = select_quiet(ctx, st, "scep_record_one", n, args, read_record_one, counts);
    if (rv == APR_SUCCESS) {
        scep_metrics_add(ctx->metrics, SCEP_M_DB_COMMITS, 1);
        scep_metrics_add(ctx->metrics, SCEP_M_DB_WRITES, 1);
        if (counts[2] > 0 && st->dialect->recorded) {
            st->dialect->recorded(ctx, st, counts[2]);
        }
    }
    return rv != APR_SUCCESS ? rv : counts[0] != 1 ? SCEP_ECHALLENGE
           : counts[1] != 1 ? SCEP_EDB : APR_SUCCESS;
}

/* Its record: one statement where the driver can, else one transaction. */
static apr_status_t record(scep_ctx_t *ctx, scep_store_t *st, const record_t *r)
{
    apr_status_t rv = record_one(ctx, st, r);
    return rv != APR_ENOTIMPL ? rv : in_transaction(ctx, st, record_body, r, NULL);
}

apr_status_t scep_store_record_issued(scep_ctx_t *ctx, scep_store_t *st,
                                      const scep_txn_t *txn, const scep_cert_t *cert,
                                      const scep_consume_t *consume,
                                      const scep_renewal_t *renewal, scep_txn_t **pwinner)
{
    record_t r = { txn, cert, consume, renewal };
    /* an identical request that won first also renewed the old certificate */
    return conflict_or(record(ctx, st, &r), ctx, st, txn, pwinner);
}

apr_status_t scep_store_record_pending(scep_ctx_t *ctx, scep_store_t *st,
                                       const scep_txn_t *txn, const scep_consume_t *consume,
                                       scep_txn_t **pwinner)
{
    record_t r = { txn, NULL, consume, NULL };
    return conflict_or(record(ctx, st, &r), ctx, st, txn, pwinner);
}

static apr_status_t rejected_body(scep_ctx_t *ctx, scep_store_t *st, const void *a,
                                  const void *b)
{
    (void)b;
    return insert_txn(ctx, st, a);
}

apr_status_t scep_store_record_rejected(scep_ctx_t *ctx, scep_store_t *st,
                                        const scep_txn_t *txn)
{
    return has_staged(st) || (txn->names && txn->names->nelts)
           ? in_transaction(ctx, st, rejected_body, txn, NULL) : insert_txn(ctx, st, txn);
}

apr_status_t scep_store_txn_get(scep_txn_t **ptxn, scep_ctx_t *ctx, scep_store_t *st,
                                const char *ca, const char *id)
{
    const char *args[] = { ca, id };
    return select_one((void **)ptxn, sizeof(scep_txn_t), ctx, st, "scep_txn_get", 2, args,
                      read_txn);
}

apr_status_t scep_store_txn_list(apr_array_header_t **prows, scep_ctx_t *ctx,
                                 scep_store_t *st, const char *ca, const char *status,
                                 apr_int64_t before, int limit)
{
    scep_search_t q = { ca, NULL, status, NULL, 0, 0, before, limit };
    return scep_store_txn_search(prows, ctx, st, &q);
}

/* A name's prefix as a range of bytes: [q, q + the last code point). */
#define LAST_CODE_POINT "\xf4\x8f\xbf\xbf"

apr_status_t scep_store_txn_search(apr_array_header_t **prows, scep_ctx_t *ctx,
                                   scep_store_t *st, const scep_search_t *q)
{
    apr_pool_t *p = ctx->pool;
    const char *args[20];
    const char *before = scep_store_num(p, q->before > 0 ? q->before : NO_CURSOR);
    const char *top = scep_store_num(p, NO_CURSOR);
    int dated = q->since || q->until, n = 0;
    char shape[5];

    args[n++] = q->ca;
    if (dated) {
        args[n++] = scep_store_num(p, q->since);
        args[n++] = q->until ? scep_store_num(p, q->until) : top;
        args[n++] = before;
        args[n++] = top;
        args[n++] = before;
        args[n++] = top;
    }
    args[n++] = before;
    if (q->q) {
        char *upper = apr_pstrdup(p, q->q), *lower = apr_pstrdup(p, q->q), *c;
        for (c = upper; *c; c++) *c = (char)apr_toupper(*c);
        for (c = lower; *c; c++) *c = (char)apr_tolower(*c);
        args[n++] = q->ca;
        args[n++] = upper;                       /* serials are stored in upper case */
        args[n++] = q->ca;
        args[n++] = q->q;
        args[n++] = q->ca;
        args[n++] = q->q;
        args[n++] = q->ca;
        args[n++] = lower;                       /* names are stored in lower case */
        args[n++] = apr_pstrcat(p, lower, LAST_CODE_POINT, NULL);
    }
    if (q->status) {
        args[n++] = q->status;
    }
    if (q->profile) {
        args[n++] = q->profile;
    }
    args[n++] = scep_store_num(p, q->limit);
    apr_snprintf(shape, sizeof(shape), "%d%d%d%d", q->q != NULL, q->status != NULL,
                 q->profile != NULL, dated);
    return scep_store_select_rows(prows, ctx, st,
                                  apr_pstrcat(p, "scep_txn_search_", shape, NULL), n, args,
                                  read_txn, sizeof(scep_txn_t));
}

apr_status_t scep_store_txn_of_cert(apr_array_header_t **prows, scep_ctx_t *ctx,
                                    scep_store_t *st, const char *ca, const char *serial)
{
    const char *args[] = { ca, serial };
    return scep_store_select_rows(prows, ctx, st, "scep_txn_of_cert", 2, args, read_txn,
                                  sizeof(scep_txn_t));
}

typedef struct decide_t {
    const char *ca, *id, *by, *why;
    const scep_renewal_t *renewal;
} decide_t;

static apr_status_t approve_body(scep_ctx_t *ctx, scep_store_t *st, const void *a,
                                 const void *b)
{
    const decide_t *d = a;
    const scep_cert_t *cert = b;
    const char *now = now_str(ctx->pool);
    const char *args[] = { cert->serial, d->by, now, now, d->ca, d->id };
    int nrows = 0;
    apr_status_t rv = d->renewal ? link_renewal(ctx, st, cert, d->renewal) : APR_SUCCESS;

    /* the certificate first: the transaction row refers to it */
    if (rv == APR_SUCCESS) {
        rv = insert_cert(ctx, st, cert);
    }
    if (rv == APR_SUCCESS) {
        rv = scep_store_exec(ctx, st, "scep_txn_approve", &nrows, 6, args);
    }
    return rv == APR_SUCCESS && nrows != 1 ? SCEP_ECONFLICT : rv;   /* decided meanwhile */
}

apr_status_t scep_store_approve(scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                const char *id, const char *by, const scep_cert_t *cert,
                                const scep_renewal_t *renewal)
{
    decide_t d = { ca, id, by, NULL, renewal };
    return in_transaction(ctx, st, approve_body, &d, cert);
}

/* One UPDATE that must change exactly one row (else SCEP_ECONFLICT). */
typedef struct one_row_t {
    const char *label;
    int nargs;
    const char **args;
} one_row_t;

static apr_status_t one_row_body(scep_ctx_t *ctx, scep_store_t *st, const void *a,
                                 const void *b)
{
    const one_row_t *u = a;
    int nrows = 0;
    apr_status_t rv = scep_store_exec(ctx, st, u->label, &nrows, u->nargs, u->args);

    (void)b;
    return rv == APR_SUCCESS && nrows != 1 ? SCEP_ECONFLICT : rv;
}

/* One statement, whatever it changes. */
static apr_status_t exec_body(scep_ctx_t *ctx, scep_store_t *st, const void *a, const void *b)
{
    const one_row_t *u = a;

    (void)b;
    return scep_store_exec(ctx, st, u->label, NULL, u->nargs, u->args);
}

static apr_status_t update_one_row(scep_ctx_t *ctx, scep_store_t *st, const one_row_t *u)
{
    return has_staged(st) ? in_transaction(ctx, st, one_row_body, u, NULL)
                          : one_row_body(ctx, st, u, NULL);
}

apr_status_t scep_store_reject(scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                               const char *id, const char *by, const char *why)
{
    const char *now = now_str(ctx->pool);
    const char *args[] = { why, by, now, now, ca, id };
    one_row_t u = { "scep_txn_reject", 6, args };

    return update_one_row(ctx, st, &u);
}

void scep_store_read_cert(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_cert_t *c = apr_array_push(baton);
    const char *reason;

    c->serial = scep_store_dup(p, st, row, 0);
    c->subject = scep_store_dup(p, st, row, 1);
    c->not_before = scep_store_i64(apr_dbd_get_entry(st->driver, row, 2));
    c->not_after = scep_store_i64(apr_dbd_get_entry(st->driver, row, 3));
    c->der = scep_store_dup(p, st, row, 4);
    c->revoked_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 5));
    reason = apr_dbd_get_entry(st->driver, row, 6);
    c->reason = reason && *reason ? atoi(reason) : -1;
    c->profile = scep_store_dup(p, st, row, 7);
    c->lineage = scep_store_dup(p, st, row, 8);
    c->renewed_by = scep_store_dup(p, st, row, 9);
    c->lineage_compromised = scep_store_i64(apr_dbd_get_entry(st->driver, row, 10)) > 0;
}

apr_status_t scep_store_cert_get(scep_cert_t **pcert, scep_ctx_t *ctx, scep_store_t *st,
                                 const char *ca, const char *serial)
{
    const char *args[] = { ca, serial };
    apr_status_t rv = select_one((void **)pcert, sizeof(scep_cert_t), ctx, st,
                                 "scep_cert_get", 2, args, scep_store_read_cert);

    if (rv == APR_SUCCESS) {
        (*pcert)->ca = ca;
    }
    return rv;
}

typedef struct status_t {
    int found;
    apr_int64_t revoked_at;
    int reason;
} status_t;

static void read_status(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    status_t *s = baton;
    const char *reason = apr_dbd_get_entry(st->driver, row, 1);

    (void)p;
    s->found = 1;
    s->revoked_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 0));
    s->reason = reason && *reason ? atoi(reason) : -1;
}

apr_status_t scep_store_cert_status(int *pfound, apr_int64_t *prevoked_at, int *preason,
                                    scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                    const char *serial)
{
    const char *args[] = { ca, serial };
    status_t s = { 0, 0, -1 };
    apr_status_t rv = scep_store_select(ctx, st, "scep_cert_status", 2, args, read_status, &s);

    *pfound = s.found;
    *prevoked_at = s.revoked_at;
    *preason = s.revoked_at ? s.reason : -1;
    return rv;
}

static void read_count(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row);

apr_status_t scep_store_pending_count(apr_int64_t *pcount, scep_ctx_t *ctx, scep_store_t *st,
                                      const char *ca)
{
    const char *args[] = { ca };
    *pcount = 0;
    return scep_store_select(ctx, st, "scep_txn_pending_count", 1, args, read_count, pcount);
}

apr_status_t scep_store_cert_revoke(scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                    const char *serial, int reason)
{
    scep_cert_t *c;
    const char *args[] = { now_str(ctx->pool), scep_store_num(ctx->pool, reason), ca, serial };
    one_row_t u = { "scep_cert_revoke", 4, args };
    apr_status_t rv = update_one_row(ctx, st, &u);

    if (rv == SCEP_ECONFLICT) {
        rv = scep_store_cert_get(&c, ctx, st, ca, serial);
        return rv == APR_SUCCESS ? SCEP_ECONFLICT : rv;
    }
    return rv;
}

static void read_revoked(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_revoked_t *r = apr_array_push(baton);
    const char *reason = apr_dbd_get_entry(st->driver, row, 2);

    r->serial = scep_store_dup(p, st, row, 0);
    r->revoked_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 1));
    r->reason = reason && *reason ? atoi(reason) : -1;
}

apr_status_t scep_store_revoked(apr_array_header_t **prows, scep_ctx_t *ctx,
                                scep_store_t *st, const char *ca)
{
    const char *args[] = { ca };
    return scep_store_select_rows(prows, ctx, st, "scep_cert_revoked", 1, args, read_revoked,
                                  sizeof(scep_revoked_t));
}

static void read_count(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    *(apr_int64_t *)baton = scep_store_i64(apr_dbd_get_entry(st->driver, row, 0));
}

static void read_crl(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_crl_rec_t *c = apr_array_push(baton);

    c->number = scep_store_i64(apr_dbd_get_entry(st->driver, row, 0));
    c->this_update = scep_store_i64(apr_dbd_get_entry(st->driver, row, 1));
    c->next_update = scep_store_i64(apr_dbd_get_entry(st->driver, row, 2));
    c->revoked_count = scep_store_i64(apr_dbd_get_entry(st->driver, row, 3));
    c->der = scep_store_dup(p, st, row, 4);
}

apr_status_t scep_store_crl_latest(scep_crl_rec_t **pcrl, apr_int64_t *prevoked,
                                   scep_ctx_t *ctx, scep_store_t *st, const char *ca)
{
    apr_array_header_t *rows = apr_array_make(ctx->pool, 1, sizeof(scep_crl_rec_t));
    const char *args[] = { ca };
    apr_status_t rv;

    *prevoked = 0;
    rv = scep_store_select(ctx, st, "scep_cert_revoked_count", 1, args, read_count, prevoked);
    if (rv == APR_SUCCESS) {
        rv = scep_store_select(ctx, st, "scep_crl_latest", 1, args, read_crl, rows);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows->nelts == 0) {
        return APR_NOTFOUND;
    }
    *pcrl = &APR_ARRAY_IDX(rows, 0, scep_crl_rec_t);
    return APR_SUCCESS;
}

apr_status_t scep_store_crl_insert(scep_ctx_t *ctx, scep_store_t *st, const char *ca,
                                   const scep_crl_rec_t *crl)
{
    apr_pool_t *p = ctx->pool;
    const char *args[] = {
        ca, scep_store_num(p, crl->number), scep_store_num(p, crl->this_update), scep_store_num(p, crl->next_update),
        scep_store_num(p, crl->revoked_count), crl->der
    };
    /* the primary key (ca, number) turns a concurrent build into a conflict */
    return scep_store_exec(ctx, st, "scep_crl_insert", NULL, 6, args) == APR_SUCCESS
           ? APR_SUCCESS : SCEP_ECONFLICT;
}

static void read_challenge(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_challenge_t *c = apr_array_push(baton);

    c->id = scep_store_dup(p, st, row, 0);
    c->ca = scep_store_dup(p, st, row, 1);
    c->hash = scep_store_dup(p, st, row, 2);
    c->profile = scep_store_dup(p, st, row, 3);
    c->subject = scep_store_dup(p, st, row, 4);
    c->san = scep_store_dup(p, st, row, 5);
    c->created_by = scep_store_dup(p, st, row, 6);
    c->created_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 7));
    c->expires_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 8));
    c->used_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 9));
    c->used_tid = scep_store_dup(p, st, row, 10);
    c->revoked_at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 11));
}

apr_status_t scep_store_challenge_insert(scep_ctx_t *ctx, scep_store_t *st,
                                        const scep_challenge_t *c)
{
    apr_pool_t *p = ctx->pool;
    const char *args[] = {
        c->ca, c->hash, c->profile, c->subject, c->san, c->created_by,
        scep_store_num(p, c->created_at), scep_store_num(p, c->expires_at)
    };
    one_row_t u = { "scep_challenge_insert", 8, args };

    return has_staged(st) ? in_transaction(ctx, st, exec_body, &u, NULL)
                          : exec_body(ctx, st, &u, NULL);
}

apr_status_t scep_store_challenge_find(scep_challenge_t **pch, scep_ctx_t *ctx,
                                       scep_store_t *st, const char *ca, const char *hash)
{
    const char *args[] = { ca, hash };
    return select_one((void **)pch, sizeof(scep_challenge_t), ctx, st, "scep_challenge_find",
                      2, args, read_challenge);
}

apr_status_t scep_store_challenge_open(apr_array_header_t **prows, scep_ctx_t *ctx,
                                       scep_store_t *st, const char *ca,
                                       apr_int64_t before, int limit)
{
    const char *args[] = { ca, scep_store_num(ctx->pool, before > 0 ? before : NO_CURSOR),
                           now_str(ctx->pool), scep_store_num(ctx->pool, limit) };
    return scep_store_select_rows(prows, ctx, st, "scep_challenge_open", 4, args,
                                  read_challenge, sizeof(scep_challenge_t));
}

static void read_first(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    const char **out = baton;

    if (!*out) {
        *out = scep_store_dup(p, st, row, 0);
    }
}

apr_status_t scep_store_tid_of_serial(const char **ptid, scep_ctx_t *ctx, scep_store_t *st,
                                      const char *ca, const char *serial)
{
    const char *args[] = { ca, serial };

    *ptid = NULL;
    return scep_store_select(ctx, st, "scep_txn_of_serial", 2, args, read_first, (void *)ptid);
}

apr_status_t scep_store_challenge_count_by(apr_int64_t *pcount, scep_ctx_t *ctx,
                                           scep_store_t *st, const char *ca, const char *user)
{
    const char *args[] = { ca, user, now_str(ctx->pool) };

    *pcount = 0;
    return scep_store_select(ctx, st, "scep_challenge_count_by", 3, args, read_count, pcount);
}

apr_status_t scep_store_challenge_revoke(scep_ctx_t *ctx, scep_store_t *st,
                                         const char *ca, const char *id)
{
    const char *args[] = { now_str(ctx->pool), ca, id };
    one_row_t u = { "scep_challenge_revoke", 3, args };
    apr_status_t rv = update_one_row(ctx, st, &u);

    return rv == SCEP_ECONFLICT ? APR_NOTFOUND : rv;
}

/* about one failure in PURGE_ODDS forgets the old ones of its profile */
#define PURGE_ODDS 32

apr_status_t scep_store_auth_failure_add(scep_ctx_t *ctx, scep_store_t *st,
                                         const char *ca, const char *profile,
                                         const char *client_addr, apr_int64_t keep_since)
{
    const char *args[] = { ca, profile, client_addr, now_str(ctx->pool) };
    const char *purge[] = { ca, profile, scep_store_num(ctx->pool, keep_since) };
    unsigned char dice = 0;
    apr_status_t rv = scep_store_exec(ctx, st, "scep_auth_failure_add", NULL, 4, args);

    if (rv == APR_SUCCESS && apr_generate_random_bytes(&dice, 1) == APR_SUCCESS
        && dice % PURGE_ODDS == 0) {
        scep_store_exec(ctx, st, "scep_auth_failure_purge", NULL, 3, purge);
    }
    return rv;
}
