/* Unit tests: query strings, base64 as clients send it, durations, secrets. */
#include <string.h>
#include "tests.h"
#include "scep_util.h"

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
    suite_add_tcase(s, tc);
    return s;
}
