/* Unit tests: the engine (scep_op_handle) end to end, on an in-memory
 * database, with pkiMessages a device builds with client/ (test_enroll.c):
 * issuance on record, one answer per request, transactionIDs bound to
 * their key, wrong challenges refused and throttled, one-time challenges,
 * manual approval, and no certificate without a database. */
#include <string.h>
#include "tests.h"
#include "scep_util.h"

static apr_pool_t *pool;
static t_loc_t *loc;
static const t_device_t *dev, *other_dev;

static void setup(void)
{
    apr_pool_create(&pool, test_pool);
    loc = t_loc_make(pool);
    dev = &t_devices[0];
    other_dev = &t_devices[1];
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* PKCSReq of dev with tid and challenge, sent. */
static t_answer_t enroll(const t_device_t *d, const char *tid, const char *challenge)
{
    t_msg_t req = t_pkcsreq(loc, d, tid, challenge);

    return t_send(loc, &req);
}

static t_answer_t poll_for(const t_device_t *d, const char *tid)
{
    t_msg_t poll = t_certpoll(loc, d, tid);

    return t_send(loc, &poll);
}

/* Do the bytes hold the string s? */
static int holds(const unsigned char *bytes, apr_size_t len, const char *s)
{
    apr_size_t n = strlen(s), i;

    for (i = 0; i + n <= len; i++) {
        if (!memcmp(bytes + i, s, n)) {
            return 1;
        }
    }
    return 0;
}

START_TEST(right_challenge_issues_a_certificate_on_record)
{
    t_answer_t a = enroll(dev, "TID-1", T_SECRET);
    apr_array_header_t *live = NULL;
    scep_cert_t *cert = NULL;
    scep_txn_t *txn = NULL;
    unsigned char *csr;
    apr_size_t csr_len;

    ck_assert_int_eq(a.http, 200);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert(a.cert_ok);
    ck_assert_int_eq(t_count(loc, "scep_transactions"), 1);
    ck_assert_int_eq(t_count(loc, "scep_transactions WHERE status = 'ISSUED' "
                                  "AND transaction_id = 'TID-1'"), 1);
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 1);
    /* the record is the certificate the device got */
    ck_assert_int_eq(scep_store_find_live(&live, &loc->ctx, loc->db->store, t_ca->fingerprint,
                                          "TID-1"), APR_SUCCESS);
    ck_assert_int_eq(live->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(live, 0, scep_txn_t).serial, a.serial);
    ck_assert_int_eq(scep_store_cert_get(&cert, &loc->ctx, loc->db->store, t_ca->fingerprint,
                                         a.serial), APR_SUCCESS);
    ck_assert_str_eq(cert->profile, T_PROFILE);
    ck_assert_int_eq(cert->revoked_at, 0);
    /* the record keeps the request, not its challengePassword */
    ck_assert_int_eq(scep_store_txn_get(&txn, &loc->ctx, loc->db->store, t_ca->fingerprint,
                                        t_live_id(loc, "TID-1")), APR_SUCCESS);
    ck_assert_int_eq(scep_b64_decode(&csr, &csr_len, pool, txn->csr, strlen(txn->csr)),
                     APR_SUCCESS);
    ck_assert(!holds(csr, csr_len, T_SECRET));
}
END_TEST

/* A client that lost the answer sends again: the same certificate, no
 * second one, whether it sends the same bytes or builds the request anew
 * (new senderNonce and envelope, the same transactionID and CSR). */
START_TEST(resent_request_gets_the_same_certificate)
{
    t_msg_t req = t_pkcsreq(loc, dev, "TID-1", T_SECRET);
    t_msg_t rebuilt = t_pkcsreq(loc, dev, "TID-1", T_SECRET);
    t_answer_t first = t_send(loc, &req);
    t_answer_t again = t_send(loc, &req);
    t_answer_t anew = t_send(loc, &rebuilt);

    ck_assert_int_eq(first.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert_int_eq(again.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert_int_eq(anew.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert(again.cert_ok);
    ck_assert_str_eq(again.serial, first.serial);
    ck_assert_str_eq(anew.serial, first.serial);
    ck_assert_int_eq(t_count(loc, "scep_transactions"), 1);
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 1);
}
END_TEST

START_TEST(transaction_id_of_another_key_is_refused)
{
    t_answer_t first = enroll(dev, "TID-1", T_SECRET);
    t_answer_t other = enroll(other_dev, "TID-1", T_SECRET);

    ck_assert_int_eq(first.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert_int_eq(other.http, 200);
    ck_assert_int_eq(other.pki_status, SCEP_STATUS_FAILURE);
    ck_assert_int_eq(other.fail_info, SCEP_FAIL_BADREQUEST);
    ck_assert_ptr_nonnull(strstr(other.fail_text, "different key"));
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 1);
    ck_assert_int_eq(t_count(loc, "scep_transactions WHERE status = 'ISSUED'"), 1);
    ck_assert_int_eq(t_count(loc, "scep_transactions WHERE status = 'REJECTED'"), 1);
    /* the first device still gets its certificate */
    ck_assert_str_eq(enroll(dev, "TID-1", T_SECRET).serial, first.serial);
}
END_TEST

/* SCEPChallengeThrottle 2 600: two wrong challenges from an address, and
 * the right one is refused there too (not elsewhere). */
START_TEST(wrong_challenges_are_refused_then_throttled)
{
    t_answer_t a;

    loc->profile->throttle_count = 2;
    loc->profile->throttle_window = 600;
    a = enroll(dev, "TID-W1", "not-the-secret");
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_FAILURE);
    ck_assert_int_eq(a.fail_info, SCEP_FAIL_BADREQUEST);
    ck_assert_str_eq(a.fail_text, "the challengePassword is wrong");
    ck_assert_int_eq(t_count(loc, "scep_transactions WHERE status = 'REJECTED' "
                                  "AND transaction_id = 'TID-W1' AND auth_failed = 1 "
                                  "AND fail_info = 2 AND dedup_key IS NULL"), 1);
    ck_assert_int_eq(enroll(dev, "TID-W2", NULL).pki_status, SCEP_STATUS_FAILURE);

    a = enroll(dev, "TID-R", T_SECRET);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_FAILURE);
    ck_assert_ptr_nonnull(strstr(a.fail_text, "too many failed attempts"));
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 0);
    ck_assert_int_eq(t_count(loc, "scep_transactions WHERE status = 'REJECTED'"), 3);

    loc->client_addr = "192.0.2.99";
    a = enroll(dev, "TID-R2", T_SECRET);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert(a.cert_ok);
}
END_TEST

START_TEST(one_time_challenge_serves_one_enrollment)
{
    static const char secret[] = "one-time-7f3a";
    scep_challenge_t ch, *found = NULL;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    t_answer_t first, second;

    loc->profile->challenge = NULL;              /* only one-time challenges here */
    loc->profile->challenge_len = 0;
    loc->profile->one_time = 1;
    memset(&ch, 0, sizeof(ch));
    ch.ca = t_ca->fingerprint;
    ch.hash = scep_sha256_hex(pool, (const unsigned char *)secret, strlen(secret));
    ch.profile = T_PROFILE;
    ch.created_at = now;
    ch.expires_at = now + 3600;
    ck_assert_int_eq(scep_store_challenge_insert(&loc->ctx, loc->db->store, &ch), APR_SUCCESS);

    first = enroll(dev, "TID-1", secret);
    ck_assert_int_eq(first.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert(first.cert_ok);
    ck_assert_int_eq(scep_store_challenge_find(&found, &loc->ctx, loc->db->store,
                                               t_ca->fingerprint, ch.hash), APR_SUCCESS);
    ck_assert_str_eq(found->used_tid, "TID-1");
    ck_assert(found->used_at > 0);

    second = enroll(other_dev, "TID-2", secret);
    ck_assert_int_eq(second.pki_status, SCEP_STATUS_FAILURE);
    ck_assert_int_eq(second.fail_info, SCEP_FAIL_BADREQUEST);
    ck_assert_ptr_nonnull(strstr(second.fail_text, "already used"));
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 1);
    /* the one that used it still gets its answer */
    ck_assert_str_eq(enroll(dev, "TID-1", secret).serial, first.serial);
}
END_TEST

START_TEST(manual_approval_holds_until_approved)
{
    const char *id, *serial = NULL, *err = NULL;
    t_answer_t a;

    loc->profile->manual_approval = 1;
    a = enroll(dev, "TID-1", T_SECRET);
    ck_assert_int_eq(a.http, 200);
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_PENDING);
    a = poll_for(dev, "TID-1");
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_PENDING);
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 0);
    ck_assert_int_eq(t_count(loc, "scep_transactions WHERE status = 'PENDING'"), 1);
    /* another key cannot poll for it */
    a = poll_for(other_dev, "TID-1");
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_FAILURE);
    ck_assert_int_eq(a.fail_info, SCEP_FAIL_BADCERTID);

    id = t_live_id(loc, "TID-1");
    ck_assert_msg(scep_admin_approve(&err, &serial, &loc->ctx, t_admin(loc, t_ca),
                                     loc->db->store, id) == APR_SUCCESS, "%s", err);
    a = poll_for(dev, "TID-1");
    ck_assert_int_eq(a.pki_status, SCEP_STATUS_SUCCESS);
    ck_assert(a.cert_ok);
    ck_assert_str_eq(a.serial, serial);
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 1);
    /* the PKCSReq resent gets the approved certificate too */
    ck_assert_str_eq(enroll(dev, "TID-1", T_SECRET).serial, serial);
}
END_TEST

START_TEST(no_database_no_certificate)
{
    t_answer_t a;

    loc->db_down = 1;
    a = enroll(dev, "TID-1", T_SECRET);
    ck_assert_int_eq(a.http, 503);
    ck_assert_int_eq(a.pki_status, -1);
    loc->db_down = 0;
    ck_assert_int_eq(t_count(loc, "scep_certificates"), 0);
    ck_assert_int_eq(t_count(loc, "scep_transactions"), 0);
}
END_TEST

Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("enroll");

    tcase_add_unchecked_fixture(tc, t_pki_setup, t_pki_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, right_challenge_issues_a_certificate_on_record);
    tcase_add_test(tc, resent_request_gets_the_same_certificate);
    tcase_add_test(tc, transaction_id_of_another_key_is_refused);
    tcase_add_test(tc, wrong_challenges_are_refused_then_throttled);
    tcase_add_test(tc, one_time_challenge_serves_one_enrollment);
    tcase_add_test(tc, manual_approval_holds_until_approved);
    tcase_add_test(tc, no_database_no_certificate);
    suite_add_tcase(s, tc);
    return s;
}
