/* Unit tests: the administration actions through scep_admin_handle's JSON
 * API, on enrollments a device made through the engine (test_enroll.c):
 * approve once, reject, revoke, and nothing of a CA for another CA's
 * administrator; a POST that a browser form or another site could send
 * decides nothing. */
#include <string.h>
#include "tests.h"

static apr_pool_t *pool;
static t_loc_t *loc;
static const scep_admin_t *adm;
static const t_device_t *dev;

static void setup(void)
{
    apr_pool_create(&pool, test_pool);
    loc = t_loc_make(pool);
    loc->profile->manual_approval = 1;
    adm = t_admin(loc, t_ca);
    dev = &t_devices[0];
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* A call of the API as the glue passes it: JSON, same origin. */
static scep_admin_in_t api_call(int is_post, const char *path, const char *json)
{
    scep_admin_in_t in;

    memset(&in, 0, sizeof(in));
    in.is_post = is_post;
    in.path = path;
    in.query = apr_table_make(pool, 1);
    in.content_type = is_post ? "application/json" : NULL;
    in.body = json ? json : "";
    in.body_len = strlen(in.body);
    in.client_addr = "192.0.2.1";
    return in;
}

static scep_admin_out_t handle(const scep_admin_t *a, const scep_admin_in_t *in)
{
    scep_admin_out_t out;

    scep_admin_handle(&loc->ctx, a, in, &out);
    return out;
}

/* POST api/<path> with a JSON body ("{}" when NULL) by administrator a. */
static scep_admin_out_t post(const scep_admin_t *a, const char *path, const char *json)
{
    scep_admin_in_t in = api_call(1, path, json ? json : "{}");

    return handle(a, &in);
}

static scep_admin_out_t get(const scep_admin_t *a, const char *path)
{
    scep_admin_in_t in = api_call(0, path, NULL);

    return handle(a, &in);
}

static const char *body_of(const scep_admin_out_t *out)
{
    ck_assert_ptr_null(out->stream);      /* the actions answer from memory */
    return apr_pstrmemdup(pool, (const char *)out->body, out->len);
}

static const char *enrollment_path(const char *id, const char *action)
{
    return apr_pstrcat(pool, "api/enrollments/", id, action ? "/" : "", action ? action : "",
                       NULL);
}

/* A request of dev held for approval: its row's id. */
static const char *held(const char *tid)
{
    t_msg_t req = t_pkcsreq(loc, dev, tid, T_SECRET);

    ck_assert_int_eq(t_send(loc, &req).pki_status, SCEP_STATUS_PENDING);
    return t_live_id(loc, tid);
}

static scep_txn_t *txn_of(const char *id)
{
    scep_txn_t *t = NULL;

    ck_assert_int_eq(scep_store_txn_get(&t, &loc->ctx, loc->db->store, t_ca->fingerprint, id),
                     APR_SUCCESS);
    return t;
}

START_TEST(approve_issues_once)
{
    const char *id = held("TID-1");
    scep_admin_out_t out = post(adm, enrollment_path(id, "approve"), NULL);
    t_msg_t poll = t_certpoll(loc, dev, "TID-1");
    scep_txn_t *t;
    t_answer_t a;

    ck_assert_int_eq(out.status, 200);
    ck_assert_str_eq(out.content_type, "application/json");
    ck_assert_ptr_nonnull(strstr(body_of(&out), "\"status\":\"ISSUED\""));
    t = txn_of(id);
    ck_assert_str_eq(t->status, "ISSUED");
    ck_assert_str_eq(t->decided_by, "alice");
    ck_assert_ptr_nonnull(t->serial);
    ck_assert_ptr_nonnull(strstr(body_of(&out), t->serial));
    ck_assert_int_eq(scep_store_cert_get(&(scep_cert_t *){ NULL }, &loc->ctx, loc->db->store,
                                         t_ca->fingerprint, t->serial), APR_SUCCESS);
    /* decided: neither a second approval nor a rejection changes it */
    out = post(adm, enrollment_path(id, "approve"), NULL);
    ck_assert_int_eq(out.status, 409);
    ck_assert_ptr_nonnull(strstr(body_of(&out), "ISSUED, not PENDING"));
    out = post(adm, enrollment_path(id, "reject"), NULL);
    ck_assert_int_eq(out.status, 409);
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 1);
    ck_assert_str_eq(txn_of(id)->status, "ISSUED");
    /* the device polls and gets that certificate */
    a = t_send(loc, &poll);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert(a.cert_ok);
    ck_assert_str_eq(a.serial, t->serial);
}
END_TEST

START_TEST(reject_answers_the_device_with_its_reason)
{
    const char *id = held("TID-1");
    scep_admin_out_t out = post(adm, enrollment_path(id, "reject"),
                                "{\"reason\": \"unknown device\"}");
    t_msg_t poll = t_certpoll(loc, dev, "TID-1");
    scep_txn_t *t;
    t_answer_t a;

    ck_assert_int_eq(out.status, 200);
    ck_assert_ptr_nonnull(strstr(body_of(&out), "\"status\":\"REJECTED\""));
    t = txn_of(id);
    ck_assert_str_eq(t->status, "REJECTED");
    ck_assert_str_eq(t->decided_by, "alice");
    ck_assert_str_eq(t->fail_text, "unknown device");
    a = t_send(loc, &poll);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_FAILURE);
    ck_assert_int_eq(a.fail_info, SCEP_FAIL_BADREQUEST);
    ck_assert_str_eq(a.fail_text, "unknown device");
    /* rejected: it cannot be approved after */
    out = post(adm, enrollment_path(id, "approve"), NULL);
    ck_assert_int_eq(out.status, 409);
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 0);
}
END_TEST

START_TEST(revoke_marks_the_certificate)
{
    t_msg_t req = t_pkcsreq(loc, dev, "TID-1", T_SECRET);
    scep_cert_t *cert = NULL;
    scep_admin_out_t out;
    const char *path;
    t_answer_t a;

    loc->profile->manual_approval = 0;
    a = t_send(loc, &req);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_SUCCESS);
    path = apr_pstrcat(pool, "api/certificates/", a.serial, "/revoke", NULL);
    out = post(adm, path, "{\"reason\": \"keyCompromise\"}");
    ck_assert_int_eq(out.status, 200);
    ck_assert_ptr_nonnull(strstr(body_of(&out), "\"revoked\":true"));
    ck_assert_ptr_nonnull(strstr(body_of(&out), "\"crl_number\":1"));   /* rebuilt at once */
    ck_assert_int_eq(scep_store_cert_get(&cert, &loc->ctx, loc->db->store, t_ca->fingerprint,
                                         a.serial), APR_SUCCESS);
    ck_assert(cert->revoked_at > 0);
    ck_assert_int_eq(cert->reason, 1);                                  /* keyCompromise */
    out = get(adm, apr_pstrcat(pool, "api/certificates/", a.serial, NULL));
    ck_assert_int_eq(out.status, 200);
    ck_assert_ptr_nonnull(strstr(body_of(&out), "\"revocation_reason\":\"keyCompromise\""));
    /* once */
    ck_assert_int_eq(post(adm, path, NULL).status, 409);
    ck_assert_int_eq(post(adm, "api/certificates/0BADC0DE/revoke", NULL).status, 404);
}
END_TEST

START_TEST(another_cas_admin_sees_and_decides_nothing)
{
    const char *id = held("TID-1");
    const scep_admin_t *other = t_admin(loc, t_other_ca);
    scep_admin_out_t out;

    ck_assert_int_eq(get(adm, enrollment_path(id, NULL)).status, 200);   /* the path is right */
    out = get(other, enrollment_path(id, NULL));
    ck_assert_int_eq(out.status, 404);
    ck_assert_ptr_null(strstr(body_of(&out), "TID-1"));
    ck_assert_int_eq(post(other, enrollment_path(id, "approve"), NULL).status, 404);
    ck_assert_int_eq(post(other, enrollment_path(id, "reject"), NULL).status, 404);
    ck_assert_str_eq(txn_of(id)->status, "PENDING");
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 0);
}
END_TEST

/* What a browser sends for another site's page (a form's type, a foreign
 * Origin or Sec-Fetch-Site) is refused before anything is decided. */
START_TEST(cross_site_and_form_posts_decide_nothing)
{
    const char *id = held("TID-1");
    scep_admin_in_t in = api_call(1, enrollment_path(id, "approve"), "{}");
    scep_admin_out_t out;

    in.content_type = "application/x-www-form-urlencoded";
    out = handle(adm, &in);
    ck_assert_int_eq(out.status, 415);
    in.content_type = "application/json";
    in.origin = "https://evil.example";
    in.own_origin = "https://ca.example";
    ck_assert_int_eq(handle(adm, &in).status, 403);
    in.origin = NULL;
    in.fetch_site = "cross-site";
    ck_assert_int_eq(handle(adm, &in).status, 403);
    ck_assert_str_eq(txn_of(id)->status, "PENDING");
    /* the same call from its own origin goes through */
    in.origin = "https://CA.example:443";
    in.fetch_site = "same-origin";
    ck_assert_int_eq(handle(adm, &in).status, 200);
    ck_assert_str_eq(txn_of(id)->status, "ISSUED");
}
END_TEST

/* A GET of the API with one query parameter. */
static scep_admin_out_t get_query(const char *path, const char *name, const char *value)
{
    scep_admin_in_t in = api_call(0, path, NULL);

    apr_table_set(in.query, name, value);
    return handle(adm, &in);
}

/* A streamed list's body. */
static apr_status_t collect(void *baton, const char *data, apr_size_t len)
{
    const char **text = baton;
    *text = apr_pstrcat(pool, *text, apr_pstrmemdup(pool, data, len), NULL);
    return APR_SUCCESS;
}

static const char *streamed(const scep_admin_out_t *out)
{
    const char *text = "";

    ck_assert_ptr_nonnull(out->stream);
    ck_assert_int_eq(out->stream(out->stream_state, pool, collect, &text), APR_SUCCESS);
    return text;
}

START_TEST(audit_records_each_action_with_it)
{
    const char *id = held("TID-1"), *body;
    scep_admin_out_t out;

    ck_assert_int_eq(post(adm, enrollment_path(id, "approve"), NULL).status, 200);
    ck_assert_int_eq(t_count(loc, "scep_audit WHERE action = 'approve' AND actor = 'alice'"), 1);
    out = get(adm, "api/audit");
    ck_assert_int_eq(out.status, 200);
    body = body_of(&out);
    ck_assert_ptr_nonnull(strstr(body, "\"action\":\"approve\""));
    ck_assert_ptr_nonnull(strstr(body, apr_pstrcat(pool, "\"target\":\"", id, "\"", NULL)));
    /* a refused action leaves no record */
    ck_assert_int_eq(post(adm, enrollment_path(id, "reject"), NULL).status, 409);
    ck_assert_int_eq(t_count(loc, "scep_audit"), 1);
}
END_TEST

/* The record is written in the action's own database transaction: when it
 * cannot be written, the action does not happen either. */
START_TEST(no_action_without_its_audit_record)
{
    const char *id = held("TID-1");

    t_db_change_schema(loc->db, loc->pool, "CREATE TRIGGER audit_unavailable BEFORE INSERT "
                       "ON scep_audit BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END");
    ck_assert_int_ge(post(adm, enrollment_path(id, "approve"), NULL).status, 500);
    ck_assert_str_eq(txn_of(id)->status, "PENDING");
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 0);
    ck_assert_int_ge(post(adm, enrollment_path(id, "reject"), NULL).status, 500);
    ck_assert_str_eq(txn_of(id)->status, "PENDING");
}
END_TEST

/* Search by the names the certificate carries, by serial, transactionID
 * and address; another CA's administrator finds nothing. */
START_TEST(search_finds_an_enrollment_by_what_it_carries)
{
    static const char *const finds[][2] = {
        { "q", "UNIT-dev" },                 /* the start of the CN, any case */
        { "q", "TID-SEARCH" },
        { "q", "192.0.2.10" },
        { "status", "ISSUED" },
        { "profile", T_PROFILE },
        { "since", "2000-01-01" },
    };
    static const char *const misses[][2] = {
        { "q", "device" },                   /* inside the name, not its start */
        { "q", "TID-SEARC" },
        { "status", "REJECTED" },
        { "until", "2000-01-01" },
    };
    t_msg_t req;
    t_answer_t a;
    scep_admin_out_t out;
    apr_size_t i;

    loc->profile->manual_approval = 0;
    req = t_pkcsreq(loc, dev, "TID-SEARCH", T_SECRET);
    a = t_send(loc, &req);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_SUCCESS);
    for (i = 0; i < sizeof(finds) / sizeof(finds[0]); i++) {
        out = get_query("api/enrollments", finds[i][0], finds[i][1]);
        ck_assert_int_eq(out.status, 200);
        ck_assert_msg(strstr(streamed(&out), a.serial) != NULL, "%s=%s finds it",
                      finds[i][0], finds[i][1]);
    }
    out = get_query("api/enrollments", "q", apr_pstrcat(pool, a.serial, NULL));
    ck_assert_ptr_nonnull(strstr(streamed(&out), "TID-SEARCH"));
    for (i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        out = get_query("api/enrollments", misses[i][0], misses[i][1]);
        ck_assert_int_eq(out.status, 200);
        ck_assert_msg(strstr(streamed(&out), "TID-SEARCH") == NULL, "%s=%s misses it",
                      misses[i][0], misses[i][1]);
    }
    ck_assert_int_eq(get_query("api/enrollments", "since", "yesterday").status, 400);
    ck_assert_int_eq(get_query("api/enrollments", "status", "LOST").status, 400);
    /* another CA's administrator finds nothing */
    adm = t_admin(loc, t_other_ca);
    out = get_query("api/enrollments", "q", "unit-device");
    ck_assert_ptr_null(strstr(streamed(&out), "TID-SEARCH"));
}
END_TEST

Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("api");

    tcase_add_unchecked_fixture(tc, t_pki_setup, t_pki_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, approve_issues_once);
    tcase_add_test(tc, reject_answers_the_device_with_its_reason);
    tcase_add_test(tc, revoke_marks_the_certificate);
    tcase_add_test(tc, another_cas_admin_sees_and_decides_nothing);
    tcase_add_test(tc, cross_site_and_form_posts_decide_nothing);
    tcase_add_test(tc, audit_records_each_action_with_it);
    tcase_add_test(tc, no_action_without_its_audit_record);
    tcase_add_test(tc, search_finds_an_enrollment_by_what_it_carries);
    suite_add_tcase(s, tc);
    return s;
}
