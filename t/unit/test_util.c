/* Unit tests: query strings, base64 as clients send it, durations, secrets. */
#include <string.h>
#include "tests.h"
#include "scep_util.h"
#include "scep_slots.h"
#include <apr_thread_proc.h>
#include <apr_atomic.h>

START_TEST(query_keeps_plus_and_decodes_escapes)
{
    apr_table_t *t = scep_query_parse(test_pool,
        "message=ab+c%2Bd%3D%0A&operation=PKIOperation&flag");
    ck_assert_str_eq(apr_table_get(t, "operation"), "PKIOperation");
    ck_assert_str_eq(apr_table_get(t, "message"), "ab+c+d=\n");
    ck_assert_str_eq(apr_table_get(t, "FLAG"), "");
    ck_assert_ptr_null(apr_table_get(t, "missing"));
}
END_TEST

START_TEST(query_first_value_wins_and_bad_escape_kept)
{
    apr_table_t *t = scep_query_parse(test_pool, "operation=A&operation=B&m=%zz%4");
    ck_assert_str_eq(apr_table_get(t, "operation"), "A");
    ck_assert_str_eq(apr_table_get(t, "m"), "%zz%4");
    ck_assert_int_eq(apr_table_elts(scep_query_parse(test_pool, NULL))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(scep_query_parse(test_pool, "&&="))->nelts, 0);
}
END_TEST

static void check_b64(const char *in, const char *expect)
{
    unsigned char *out;
    apr_size_t len;
    ck_assert_int_eq(scep_b64_decode(&out, &len, test_pool, in, strlen(in)), APR_SUCCESS);
    ck_assert_uint_eq(len, strlen(expect));
    ck_assert(memcmp(out, expect, len) == 0);
}

START_TEST(b64_all_client_variants)
{
    /* ">>>?" encodes to "Pj4+Pw==" standard, "Pj4-Pw" URL-safe unpadded */
    check_b64("Pj4+Pw==", ">>>?");
    check_b64("Pj4-Pw", ">>>?");
    check_b64("Pj4 Pw==", ">>>?");            /* '+' turned into ' ' */
    check_b64("Pj4+\nPw==\r\n", ">>>?");      /* sscep line breaks */
    check_b64("aGVsbG8", "hello");
}
END_TEST

START_TEST(b64_rejects_garbage)
{
    unsigned char *out;
    apr_size_t len;
    ck_assert_int_ne(scep_b64_decode(&out, &len, test_pool, "a", 1), APR_SUCCESS);
    ck_assert_int_ne(scep_b64_decode(&out, &len, test_pool, "ab*d", 4), APR_SUCCESS);
    ck_assert_int_ne(scep_b64_decode(&out, &len, test_pool, "ab==cd", 6), APR_SUCCESS);
    ck_assert_int_ne(scep_b64_decode(&out, &len, test_pool, "", 0), APR_SUCCESS);
}
END_TEST

START_TEST(duration_units)
{
    apr_int64_t s;
    ck_assert_int_eq(scep_parse_duration(&s, "365"), APR_SUCCESS);
    ck_assert_int_eq(s, 365 * 86400);
    ck_assert_int_eq(scep_parse_duration(&s, "12h"), APR_SUCCESS);
    ck_assert_int_eq(s, 12 * 3600);
    ck_assert_int_eq(scep_parse_duration(&s, "90s"), APR_SUCCESS);
    ck_assert_int_eq(s, 90);
    ck_assert_int_ne(scep_parse_duration(&s, "banana"), APR_SUCCESS);
    ck_assert_int_ne(scep_parse_duration(&s, "10y"), APR_SUCCESS);
    ck_assert_int_ne(scep_parse_duration(&s, "0"), APR_SUCCESS);
    ck_assert_int_ne(scep_parse_duration(&s, "-5"), APR_SUCCESS);
    ck_assert_int_ne(scep_parse_duration(&s, "5dd"), APR_SUCCESS);
}
END_TEST

START_TEST(secret_compare)
{
    const unsigned char *a = (const unsigned char *)"s3cret";
    ck_assert(scep_secret_equal(a, 6, (const unsigned char *)"s3cret", 6));
    ck_assert(!scep_secret_equal(a, 6, (const unsigned char *)"s3creT", 6));
    ck_assert(!scep_secret_equal(a, 6, (const unsigned char *)"s3cret!", 7));
    ck_assert(!scep_secret_equal(a, 6, (const unsigned char *)"", 0));
}
END_TEST

START_TEST(hex_and_log_safe)
{
    const unsigned char b[] = { 0x00, 0xab, 0x7f };
    ck_assert_str_eq(scep_hex(test_pool, b, 3), "00AB7F");
    ck_assert_str_eq(scep_log_safe(test_pool, "a\nb", 3), "a?b");
    ck_assert_uint_eq(strlen(scep_log_safe(test_pool,
        "0123456789012345678901234567890123456789012345678901234567890123456789", 70)), 67);
}
END_TEST

/* stored fields are cut to a byte budget, never inside a UTF-8 character */
START_TEST(bounded_cuts_on_a_character)
{
    const char *s;

    ck_assert_ptr_null(scep_bounded(test_pool, NULL, 10));
    ck_assert_str_eq(scep_bounded(test_pool, "short", 10), "short");
    ck_assert_str_eq(scep_bounded(test_pool, "exactly10!", 10), "exactly10!");
    ck_assert_str_eq(scep_bounded(test_pool, "abcdefghijkl", 10), "abcdefg...");
    /* "é" is two bytes: a cut between them steps back before it */
    s = scep_bounded(test_pool, "abcdef\xc3\xa9ghij", 10);
    ck_assert_str_eq(s, "abcdef...");
    ck_assert_uint_le(strlen(s), 10);
}
END_TEST


/* ---- SCEPOperationSlots (scep_slots.c) ---- */

typedef struct slot_user_t {
    scep_slot_t hold;
    int front;                       /* takes its slot back, ahead of the others */
    volatile apr_uint32_t *order;    /* the next turn's number */
    volatile apr_uint32_t *inside;   /* holders now */
    volatile apr_uint32_t *most;     /* most holders at once */
    apr_uint32_t turn;               /* its turn's number */
} slot_user_t;

static void *APR_THREAD_FUNC slot_user(apr_thread_t *t, void *data)
{
    slot_user_t *u = data;
    apr_uint32_t now, most;

    (void)t;
    scep_slot_take(&u->hold, u->front);
    u->turn = apr_atomic_inc32(u->order);
    now = apr_atomic_inc32(u->inside) + 1;
    while ((most = apr_atomic_read32(u->most)) < now
           && apr_atomic_cas32(u->most, now, most) != most) {
    }
    apr_sleep(2000);
    apr_atomic_dec32(u->inside);
    scep_slot_give(&u->hold);
    /* a plain return: apr_thread_exit's pthread_exit trips ASan (gcc 12) */
    return NULL;
}

typedef struct slot_counts_t {
    volatile apr_uint32_t order, inside, most;
} slot_counts_t;

static apr_thread_t *start_user(slot_user_t *u, scep_slots_t *slots, slot_counts_t *n,
                                int front)
{
    apr_thread_t *th = NULL;

    memset(u, 0, sizeof(*u));
    u->hold.slots = slots;
    u->front = front;
    u->order = &n->order;
    u->inside = &n->inside;
    u->most = &n->most;
    ck_assert_int_eq(apr_thread_create(&th, NULL, slot_user, u, test_pool), APR_SUCCESS);
    return th;
}

/* Until n wait (at most 5 s). */
static void await_waiting(scep_slots_t *slots, int n)
{
    int i;

    for (i = 0; i < 5000 && scep_slots_waiting(slots) < n; i++) {
        apr_sleep(1000);
    }
    ck_assert_int_eq(scep_slots_waiting(slots), n);
}

/* One slot: the waiters get it in the order they came, one at a time; one
 * that comes back from a validator (front) goes ahead of them. Without
 * slots, take and give do nothing. */
START_TEST(slots_first_come_first_served)
{
    enum { USERS = 5 };
    scep_slots_t *slots;
    scep_slot_t first, none;
    slot_user_t u[USERS];
    apr_thread_t *th[USERS];
    slot_counts_t n = { 0, 0, 0 };
    apr_status_t trv;
    int i;

    ck_assert_int_eq(scep_slots_make(&slots, test_pool, 1), APR_SUCCESS);
    memset(&first, 0, sizeof(first));
    first.slots = slots;
    scep_slot_take(&first, 0);
    ck_assert_int_eq(first.held, 1);
    ck_assert_int_eq(scep_slots_waiting(slots), 0);
    /* users 0..3 queue in this order, then 4 comes back from a validator */
    for (i = 0; i < USERS; i++) {
        th[i] = start_user(&u[i], slots, &n, i == USERS - 1);
        await_waiting(slots, i + 1);
    }
    scep_slot_give(&first);
    ck_assert_int_eq(first.held, 0);
    scep_slot_give(&first);          /* (not held: nothing) */
    for (i = 0; i < USERS; i++) {
        apr_thread_join(&trv, th[i]);
    }
    ck_assert_uint_eq(u[USERS - 1].turn, 0);
    for (i = 0; i < USERS - 1; i++) {
        ck_assert_uint_eq(u[i].turn, (apr_uint32_t)i + 1);
    }
    ck_assert_uint_eq(n.most, 1);
    ck_assert_int_eq(scep_slots_waiting(slots), 0);
    /* the slot is free again: taken at once */
    scep_slot_take(&first, 0);
    ck_assert_int_eq(first.held, 1);
    scep_slot_give(&first);
    memset(&none, 0, sizeof(none));
    scep_slot_take(&none, 0);
    ck_assert_int_eq(none.held, 0);
    scep_slot_take(NULL, 0);
    scep_slot_give(NULL);
}
END_TEST

/* Three slots, eight users at once: never more than three inside. */
START_TEST(slots_bound_holders)
{
    enum { USERS = 8 };
    scep_slots_t *slots;
    slot_user_t u[USERS];
    apr_thread_t *th[USERS];
    slot_counts_t n = { 0, 0, 0 };
    apr_status_t trv;
    int i;

    ck_assert_int_eq(scep_slots_make(&slots, test_pool, 3), APR_SUCCESS);
    for (i = 0; i < USERS; i++) {
        th[i] = start_user(&u[i], slots, &n, 0);
    }
    for (i = 0; i < USERS; i++) {
        apr_thread_join(&trv, th[i]);
    }
    ck_assert_uint_eq(n.order, USERS);
    ck_assert_uint_ge(n.most, 1);
    ck_assert_uint_le(n.most, 3);
    ck_assert_uint_eq(n.inside, 0);
}
END_TEST

Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, query_keeps_plus_and_decodes_escapes);
    tcase_add_test(tc, query_first_value_wins_and_bad_escape_kept);
    tcase_add_test(tc, b64_all_client_variants);
    tcase_add_test(tc, b64_rejects_garbage);
    tcase_add_test(tc, duration_units);
    tcase_add_test(tc, secret_compare);
    tcase_add_test(tc, hex_and_log_safe);
    tcase_add_test(tc, bounded_cuts_on_a_character);
    tcase_add_test(tc, slots_first_come_first_served);
    tcase_add_test(tc, slots_bound_holders);
    suite_add_tcase(s, tc);
    return s;
}
