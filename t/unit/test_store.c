/* Unit tests: the store against an in-memory SQLite database made from
 * conf/schema-sqlite3.sql, each statement prepared when first run, as in
 * httpd (t_db_open, test_db.c): one answer per request, one use per challenge,
 * one renewal per certificate, approvals scoped to their CA, the
 * throttle's counts. */
#include <string.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_dbd.h>
#include <apr_strings.h>
#include "tests.h"
#include "scep_store.h"
#include "scep_issue.h"

static apr_pool_t *pool;
static scep_ctx_t ctx;

/* A fresh database and a store on it, for each test (closed with pool). */
static scep_store_t *fresh_store(void)
{
    return t_db_open(pool)->store;
}

static void setup(void)
{
    apr_pool_create(&pool, test_pool);
    ctx.pool = pool;
    ctx.log = t_quiet_log;
    ctx.log_level = SCEP_LOG_DEBUG;
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static scep_txn_t txn(const char *tid, const char *dedup, const char *serial)
{
    scep_txn_t t;
    memset(&t, 0, sizeof(t));
    t.ca = "CA1";
    t.tid = tid;
    t.msg_type = 19;
    t.status = serial ? "ISSUED" : "PENDING";
    t.dedup_key = dedup;
    t.key_fp = "KEYFP";
    t.subject = "CN=x";
    t.renewal_of = "";
    t.profile = "wifi";
    t.client_addr = "192.0.2.1";
    t.serial = serial;
    t.fail_info = -1;
    t.plan_subject = serial ? NULL : "MAA=";
    return t;
}

static scep_cert_t cert(const char *serial)
{
    scep_cert_t c;
    memset(&c, 0, sizeof(c));
    c.ca = "CA1";
    c.serial = serial;
    c.subject = "CN=x";
    c.not_before = 1;
    c.not_after = 4102444800;
    c.der = "MAA=";
    c.profile = "wifi";
    return c;
}

/* A connection on loan (mod_scep_dbd.c lends mod_dbd's): given back
 * between statements, taken again by the next one, kept by a write. */
typedef struct loan_t {
    t_db_t *db;
    int held, takes, gives;
} loan_t;

static apr_status_t loan_take(void *baton, scep_store_t *st)
{
    loan_t *l = baton;

    ck_assert_int_eq(l->held, 0);
    l->held = 1;
    l->takes++;
    scep_store_attach(st, l->db->handle, l->db->prepared);
    return APR_SUCCESS;
}

static void loan_give(void *baton)
{
    loan_t *l = baton;

    ck_assert_int_eq(l->held, 1);
    l->held = 0;
    l->gives++;
}

/* The messages logged, one a line (a scep_log_fn). */
static void log_into(void *baton, const char *file, int line, scep_log_level_t level,
                     apr_status_t rv, const char *msg)
{
    char **text = baton;

    (void)file; (void)line; (void)level; (void)rv;
    *text = apr_pstrcat(pool, *text, msg, "\n", NULL);
}

START_TEST(statements_prepared_when_first_run)
{
    t_db_t *db = t_db_open(pool);
    apr_array_header_t *rows;

    ck_assert_uint_eq(apr_hash_count(db->prepared), 0);
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, db->store, "CA1", "T1"), APR_SUCCESS);
    ck_assert_ptr_nonnull(apr_hash_get(db->prepared, "scep_txn_find_live", APR_HASH_KEY_STRING));
    ck_assert_uint_eq(apr_hash_count(db->prepared), 1);
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, db->store, "CA1", "T1"), APR_SUCCESS);
    ck_assert_uint_eq(apr_hash_count(db->prepared), 1);      /* once per connection */
}
END_TEST

/* What mod_dbd prepares at connect names real statements: all of them for
 * PostgreSQL, all but its one-statement record for the others. */
START_TEST(statements_at_connect_exist)
{
    const char *const *label;
    int n = 0;

    for (label = scep_store_sql_at_connect; *label; label++, n++) {
        ck_assert_msg(scep_store_sql_find("pgsql", *label) != NULL, "%s", *label);
        ck_assert_msg(scep_store_sql_find("sqlite3", *label) != NULL
                      || !strcmp(*label, "scep_record_one"), "%s", *label);
    }
    ck_assert_int_ge(n, 5);
    ck_assert_ptr_null(scep_store_sql_find("sqlite3", "scep_record_one"));
    ck_assert_ptr_null(scep_store_sql_find(NULL, "scep_no_such_statement"));
}
END_TEST

/* A statement the schema cannot serve fails its request, naming the
 * statement, the database's reason and the fix; nothing is kept for it. */
START_TEST(statement_the_schema_lacks_fails_and_says_why)
{
    t_db_t *db = t_db_open(pool);
    apr_array_header_t *rows;
    char *logged = "";

    t_db_change_schema(db, pool, "DROP TABLE scep_names");
    t_db_change_schema(db, pool, "DROP TABLE scep_transactions");
    ctx.log = log_into;
    ctx.log_baton = &logged;
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, db->store, "CA1", "T1"), SCEP_EDB);
    ctx.log = t_quiet_log;
    ctx.log_baton = NULL;
    ck_assert_msg(strstr(logged, "SCEP00373: cannot prepare SQL statement scep_txn_find_live: "
                                 "no such table: scep_transactions; is the schema from conf/"),
                  "logged: %s", logged);
    ck_assert_uint_eq(apr_hash_count(db->prepared), 0);
}
END_TEST

START_TEST(connection_on_loan_only_while_statements_run)
{
    loan_t l = { t_db_open(pool), 1, 0, 0 };
    scep_store_t *st = l.db->store;
    scep_txn_t *winner = NULL;
    scep_txn_t t = txn("T1", "D1", "01");
    scep_cert_t c = cert("01");
    apr_array_header_t *rows;

    scep_store_on_loan(st, loan_take, loan_give, &l);
    scep_store_release(st);
    scep_store_release(st);               /* given back once */
    ck_assert_int_eq(l.gives, 1);
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t, &c, NULL, NULL, &winner), APR_SUCCESS);
    ck_assert_int_eq(l.takes, 1);         /* the write took one again */
    scep_store_release(st);
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, st, "CA1", "T1"), APR_SUCCESS);
    ck_assert_int_eq(rows->nelts, 1);     /* and the read another: same records */
    ck_assert_int_eq(l.takes, 2);
    ck_assert_int_eq(l.gives, 2);
    ck_assert_int_eq(l.held, 1);
}
END_TEST

START_TEST(one_answer_per_request)
{
    scep_store_t *st = fresh_store();
    scep_txn_t *winner = NULL;
    scep_txn_t t = txn("T1", "D1", "01");
    scep_cert_t c = cert("01"), c2 = cert("02");
    apr_array_header_t *rows;

    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t, &c, NULL, NULL, &winner), APR_SUCCESS);
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, st, "CA1", "T1"), APR_SUCCESS);
    ck_assert_int_eq(rows->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(rows, 0, scep_txn_t).serial, "01");
    /* the same request again (another certificate): the first one stands */
    t.serial = "02";
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t, &c2, NULL, NULL, &winner), SCEP_ECONFLICT);
    ck_assert_str_eq(winner->serial, "01");        /* the row to answer with */
    ck_assert_ptr_nonnull(winner->cert_der);
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, st, "CA1", "T1"), APR_SUCCESS);
    ck_assert_int_eq(rows->nelts, 1);
    ck_assert_int_eq(scep_store_cert_get(&(scep_cert_t *){ NULL }, &ctx, st, "CA1", "02"),
                     APR_NOTFOUND);    /* rolled back with the transaction */
}
END_TEST

START_TEST(challenge_used_once)
{
    scep_store_t *st = fresh_store();
    scep_txn_t *winner = NULL;
    scep_challenge_t ch;
    scep_consume_t use = { "HASH1", "T1", NULL };
    scep_txn_t t1 = txn("T1", "D1", "01"), t2 = txn("T2", "D2", "02");
    scep_cert_t c1 = cert("01"), c2 = cert("02");
    scep_challenge_t *found;

    memset(&ch, 0, sizeof(ch));
    ch.ca = "CA1";
    ch.hash = "HASH1";
    ch.profile = "wifi";
    ch.created_at = 1;
    ch.expires_at = 4102444800;
    ck_assert_int_eq(scep_store_challenge_insert(&ctx, st, &ch), APR_SUCCESS);
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t1, &c1, &use, NULL, &winner), APR_SUCCESS);
    use.tid = "T2";
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t2, &c2, &use, NULL, &winner), SCEP_ECHALLENGE);
    ck_assert_int_eq(scep_store_challenge_find(&found, &ctx, st, "CA1", "HASH1"), APR_SUCCESS);
    ck_assert_str_eq(found->used_tid, "T1");
    ck_assert_int_eq(scep_store_cert_get(&(scep_cert_t *){ NULL }, &ctx, st, "CA1", "02"),
                     APR_NOTFOUND);
}
END_TEST

START_TEST(renewal_once_and_compromise_stops_the_chain)
{
    scep_store_t *st = fresh_store();
    scep_txn_t *winner = NULL;
    scep_txn_t ta = txn("TA", "DA", "0A"), tb = txn("TB", "DB", "0B"), tc = txn("TC", "DC", "0C");
    scep_cert_t a = cert("0A"), b = cert("0B"), c = cert("0C"), *got;
    scep_renewal_t from_a = { "0A", 0, NULL };

    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &ta, &a, NULL, NULL, &winner), APR_SUCCESS);
    b.lineage = "0A";
    tb.renewal_of = "0A";
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &tb, &b, NULL, &from_a, &winner), APR_SUCCESS);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0A"), APR_SUCCESS);
    ck_assert_str_eq(got->renewed_by, "0B");
    ck_assert_str_eq(got->lineage, "0A");          /* the first of a chain is its own */
    ck_assert_str_eq(got->profile, "wifi");
    /* a second renewal of A: nothing of it is recorded */
    c.lineage = "0A";
    tc.renewal_of = "0A";
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &tc, &c, NULL, &from_a, &winner), SCEP_ERENEWED);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0C"), APR_NOTFOUND);
    /* A revoked for keyCompromise: B's chain is compromised */
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0B"), APR_SUCCESS);
    ck_assert_int_eq(got->lineage_compromised, 0);
    ck_assert_ptr_null(scep_issue_why_not_renewable(ctx.pool, got));
    ck_assert_int_eq(scep_store_cert_revoke(&ctx, st, "CA1", "0A", 1), APR_SUCCESS);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0B"), APR_SUCCESS);
    ck_assert_int_eq(got->lineage_compromised, 1);
    ck_assert_ptr_nonnull(strstr(scep_issue_why_not_renewable(ctx.pool, got),
                                 "keyCompromise"));
    /* superseded is not compromised */
    ck_assert_int_eq(scep_store_cert_revoke(&ctx, st, "CA1", "0B", 4), APR_SUCCESS);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0B"), APR_SUCCESS);
    ck_assert_str_eq(scep_issue_why_not_renewable(ctx.pool, got),
                     "the certificate being renewed is revoked");
}
END_TEST

START_TEST(supersede_revokes_the_old_one)
{
    scep_store_t *st = fresh_store();
    scep_txn_t *winner = NULL;
    scep_txn_t ta = txn("TA", "DA", "0A"), tb = txn("TB", "DB", "0B");
    scep_cert_t a = cert("0A"), b = cert("0B"), *got;
    scep_renewal_t from_a = { "0A", 1, NULL };

    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &ta, &a, NULL, NULL, &winner), APR_SUCCESS);
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &tb, &b, NULL, &from_a, &winner), APR_SUCCESS);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0A"), APR_SUCCESS);
    ck_assert(got->revoked_at > 0);
    ck_assert_int_eq(got->reason, 4);
}
END_TEST

START_TEST(approval_once_and_only_by_its_ca)
{
    scep_store_t *st = fresh_store();
    scep_txn_t *winner = NULL;
    scep_txn_t t = txn("TP", "DP", NULL);
    scep_cert_t c = cert("0D"), *got;
    apr_array_header_t *rows;
    scep_txn_t *row;

    ck_assert_int_eq(scep_store_record_pending(&ctx, st, &t, NULL, &winner), APR_SUCCESS);
    ck_assert_int_eq(scep_store_txn_list(&rows, &ctx, st, "CA1", "PENDING", 0, 10), APR_SUCCESS);
    ck_assert_int_eq(rows->nelts, 1);
    row = &APR_ARRAY_IDX(rows, 0, scep_txn_t);
    /* another CA's administrator: as if it did not exist */
    ck_assert_int_eq(scep_store_txn_get(&row, &ctx, st, "CA2", row->id), APR_NOTFOUND);
    c.ca = "CA2";
    ck_assert_int_eq(scep_store_approve(&ctx, st, "CA2", APR_ARRAY_IDX(rows, 0, scep_txn_t).id,
                                        "mallory", &c, NULL), SCEP_ECONFLICT);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA2", "0D"), APR_NOTFOUND);
    c.ca = "CA1";
    ck_assert_int_eq(scep_store_approve(&ctx, st, "CA1", APR_ARRAY_IDX(rows, 0, scep_txn_t).id,
                                        "alice", &c, NULL), APR_SUCCESS);
    ck_assert_int_eq(scep_store_txn_get(&row, &ctx, st, "CA1",
                                        APR_ARRAY_IDX(rows, 0, scep_txn_t).id), APR_SUCCESS);
    ck_assert_str_eq(row->status, "ISSUED");
    ck_assert_str_eq(row->decided_by, "alice");
    /* decided: a second approval does not issue again */
    c.serial = "0E";
    ck_assert_int_eq(scep_store_approve(&ctx, st, "CA1", row->id, "bob", &c, NULL),
                     SCEP_ECONFLICT);
    ck_assert_int_eq(scep_store_cert_get(&got, &ctx, st, "CA1", "0E"), APR_NOTFOUND);
}
END_TEST

static apr_int64_t failures_of(scep_store_t *st, const char *profile, const char *addr,
                               apr_int64_t since, const char *tid, int *plive)
{
    scep_preflight_t q = { "CA1", tid, profile, addr, since };
    apr_array_header_t *live = NULL;
    apr_int64_t n = -1;

    ck_assert_int_eq(scep_store_preflight(&n, &live, &ctx, st, &q), APR_SUCCESS);
    *plive = live->nelts;
    return n;
}

START_TEST(failed_attempts_are_counted_per_address_and_profile)
{
    scep_store_t *st = fresh_store();
    int live = -1, i;

    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(scep_store_auth_failure_add(&ctx, st, "CA1", "wifi", "192.0.2.7", 0),
                         APR_SUCCESS);
    }
    ck_assert_int_eq(scep_store_auth_failure_add(&ctx, st, "CA1", "vpn", "192.0.2.7", 0),
                     APR_SUCCESS);
    ck_assert_int_eq(failures_of(st, "wifi", "192.0.2.7", 0, "TR", &live), 3);
    ck_assert_int_eq(live, 0);
    ck_assert_int_eq(failures_of(st, "wifi", "192.0.2.8", 0, "TR", &live), 0);
    ck_assert_int_eq(failures_of(st, "vpn", "192.0.2.7", 0, "TR", &live), 1);
    ck_assert_int_eq(failures_of(st, "vpn", "192.0.2.7", -1, "TR", &live), 0);   /* no window */
}
END_TEST

/* A BEGIN that fails leaves no transaction hanging on the connection.
 * apr_dbd_sqlite3 (and mysql) attach one even then, and apr_dbd ends it
 * (COMMIT) when the writer's pool goes: after the connection went back to
 * mod_dbd's pool, so in the middle of whatever transaction another request
 * then runs on it. Here BEGIN fails because the connection is already
 * inside a transaction (in httpd: SQLite busy past the driver's retries, a
 * disk error); the next user's transaction must stay its own. */
START_TEST(failed_begin_leaves_no_transaction_on_the_connection)
{
    t_db_t *db = t_db_open(pool);
    scep_ctx_t wctx = ctx;
    scep_txn_t t = txn("T9", "D9", "09"), *winner = NULL;
    scep_cert_t c = cert("09");
    apr_dbd_transaction_t *next = NULL;
    apr_pool_t *wpool;
    int nrows;

    apr_pool_create(&wpool, pool);
    wctx.pool = wpool;
    ck_assert_int_eq(apr_dbd_query(db->driver, db->handle, &nrows, "BEGIN"), 0);
    ck_assert_int_eq(scep_store_record_issued(&wctx, db->store, &t, &c, NULL, NULL, &winner),
                     SCEP_EDB);
    /* (the failed write rolled that transaction back, or it is still open) */
    apr_dbd_query(db->driver, db->handle, &nrows, "ROLLBACK");
    /* the next user of the connection: a transaction it will roll back */
    ck_assert_int_eq(apr_dbd_transaction_start(db->driver, pool, db->handle, &next), 0);
    ck_assert_int_eq(apr_dbd_query(db->driver, db->handle, &nrows,
                                   "INSERT INTO scep_auth_failures (ca, profile, "
                                   "client_addr, created_at) VALUES ('CA9', 'p', "
                                   "'192.0.2.9', 1)"), 0);
    apr_pool_destroy(wpool);        /* the failed writer's request ends */
    apr_dbd_transaction_mode_set(db->driver, next, APR_DBD_TRANSACTION_ROLLBACK);
    apr_dbd_transaction_end(db->driver, pool, next);
    ck_assert_int_eq(t_db_count(db, pool, "SELECT count(*) FROM scep_auth_failures"), 0);
    ck_assert_int_eq(scep_store_record_issued(&ctx, db->store, &t, &c, NULL, NULL, &winner),
                     APR_SUCCESS);
    ck_assert_int_eq(t_db_count(db, pool, "SELECT count(*) FROM scep_transactions"), 1);
}
END_TEST

/* The one read before decryption finds the request's transactions with
 * their certificate, and none of another CA's. */
START_TEST(preflight_reads_live_transactions)
{
    scep_store_t *st = fresh_store();
    scep_txn_t *winner = NULL;
    scep_txn_t t = txn("T1", "D1", "01"), other = txn("T1", "D9", "09");
    scep_cert_t c = cert("01"), c9 = cert("09");
    scep_preflight_t q = { "CA1", "T1", "wifi", NULL, -1 };
    apr_array_header_t *live = NULL;
    apr_int64_t n = -1;

    ck_assert_int_eq(scep_store_preflight(&n, &live, &ctx, st, &q), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(live->nelts, 0);
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t, &c, NULL, NULL, &winner), APR_SUCCESS);
    other.ca = c9.ca = "CA2";
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &other, &c9, NULL, NULL, &winner),
                     APR_SUCCESS);
    ck_assert_int_eq(scep_store_preflight(&n, &live, &ctx, st, &q), APR_SUCCESS);
    ck_assert_int_eq(live->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(live, 0, scep_txn_t).serial, "01");
    ck_assert_str_eq(APR_ARRAY_IDX(live, 0, scep_txn_t).dedup_key, "D1");
    ck_assert_str_eq(APR_ARRAY_IDX(live, 0, scep_txn_t).cert_der, "MAA=");
}
END_TEST

/* How many threads of this process are named name (/proc: Linux only). */
static int threads_named(const char *name)
{
    apr_dir_t *dir;
    apr_finfo_t f;
    int n = 0;

    ck_assert_int_eq(apr_dir_open(&dir, "/proc/self/task", pool), APR_SUCCESS);
    while (apr_dir_read(&f, APR_FINFO_NAME, dir) == APR_SUCCESS) {
        char comm[32] = "";
        apr_file_t *fh;
        apr_size_t len = sizeof(comm) - 1;

        if (f.name[0] == '.' || apr_file_open(&fh, apr_pstrcat(pool, "/proc/self/task/", f.name,
                                                                "/comm", NULL),
                                              APR_FOPEN_READ, 0, pool) != APR_SUCCESS) {
            continue;
        }
        apr_file_read(fh, comm, &len);
        apr_file_close(fh);
        n += !strncmp(comm, name, strlen(name)) && comm[strlen(name)] == '\n';
    }
    apr_dir_close(dir);
    return n;
}

/* SCEPSQLiteWriter realtime: the writer thread writes the groups (a
 * refused write rolled back as without it), and stops with its pool. */
START_TEST(writer_thread_writes_the_groups)
{
    scep_store_t *st = fresh_store();
    apr_pool_t *child;
    scep_commit_queue_t *q;
    scep_txn_t *winner = NULL;
    scep_txn_t t = txn("T1", "D1", "01");
    scep_cert_t c = cert("01"), c2 = cert("02");
    apr_array_header_t *rows;
    int priority_err = -1;

    apr_pool_create(&child, pool);
    ck_assert_ptr_nonnull(q = scep_commit_queue_make(child));
    ck_assert_int_eq(scep_commit_queue_start_writer(q, child, 0, &priority_err), APR_SUCCESS);
    ck_assert_int_eq(priority_err, 0);    /* no priority asked: nothing failed */
    ck_assert_int_eq(threads_named("scep-db-writer"), 1);
    scep_store_join_queue(st, q);
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t, &c, NULL, NULL, &winner), APR_SUCCESS);
    t.serial = "02";
    ck_assert_int_eq(scep_store_record_issued(&ctx, st, &t, &c2, NULL, NULL, &winner),
                     SCEP_ECONFLICT);
    ck_assert_str_eq(winner->serial, "01");
    ck_assert_int_eq(scep_store_find_live(&rows, &ctx, st, "CA1", "T1"), APR_SUCCESS);
    ck_assert_int_eq(rows->nelts, 1);
    ck_assert_int_eq(scep_store_cert_get(&(scep_cert_t *){ NULL }, &ctx, st, "CA1", "02"),
                     APR_NOTFOUND);
    apr_pool_destroy(child);              /* the child's exit: the thread is joined */
    ck_assert_int_eq(threads_named("scep-db-writer"), 0);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("sqlite");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, connection_on_loan_only_while_statements_run);
    tcase_add_test(tc, one_answer_per_request);
    tcase_add_test(tc, challenge_used_once);
    tcase_add_test(tc, renewal_once_and_compromise_stops_the_chain);
    tcase_add_test(tc, supersede_revokes_the_old_one);
    tcase_add_test(tc, approval_once_and_only_by_its_ca);
    tcase_add_test(tc, failed_attempts_are_counted_per_address_and_profile);
    tcase_add_test(tc, preflight_reads_live_transactions);
    tcase_add_test(tc, failed_begin_leaves_no_transaction_on_the_connection);
    tcase_add_test(tc, writer_thread_writes_the_groups);
    tcase_add_test(tc, statements_prepared_when_first_run);
    tcase_add_test(tc, statements_at_connect_exist);
    tcase_add_test(tc, statement_the_schema_lacks_fails_and_says_why);
    suite_add_tcase(s, tc);
    return s;
}
