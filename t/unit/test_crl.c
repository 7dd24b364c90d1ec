/* Unit tests: CRL building, reading back, reason names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/x509v3.h>
#include "tests.h"
#include "scep_crl.h"
#include "scep_ossl.h"

static EVP_PKEY *ca_key;
static X509 *ca_ski, *ca_no_ski;
static scep_ca_t *with_ski, *without_ski;
static const char *dir;

static scep_ca_t *load(const char *cert)
{
    scep_ca_files_t files = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL };
    scep_ca_file_t which;
    scep_ca_t *c = NULL;
    const char *err = NULL;

    files.cert = apr_pstrcat(test_pool, dir, "/", cert, NULL);
    files.key = apr_pstrcat(test_pool, dir, "/ca.key", NULL);
    ck_assert_msg(scep_ca_load(&c, test_pool, &files, &err, &which) == APR_SUCCESS,
                  "%s", err);
    return c;
}

static void setup(void)
{
    const char *ku = "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment";

    if (with_ski) return;
    dir = t_tmpdir();
    ca_key = t_rsa_key(2048);
    ca_no_ski = t_cert(ca_key, NULL, NULL, "CRL Unit CA", ku, 1, 3650);
    /* the keyid path of the CRL's authorityKeyIdentifier needs one */
    ca_ski = t_with_key_id(ca_no_ski, ca_key);
    t_write_pem(dir, "ca.pem", ca_ski, NULL);
    t_write_pem(dir, "ca-no-ski.pem", ca_no_ski, NULL);
    t_write_pem(dir, "ca.key", NULL, ca_key);
    with_ski = load("ca.pem");
    without_ski = load("ca-no-ski.pem");
}

static void teardown(void)
{
    /* the loaded CAs are owned by test_pool */
    X509_free(ca_ski);
    X509_free(ca_no_ski);
    EVP_PKEY_free(ca_key);
}

static apr_array_header_t *revoked_list(int n)
{
    return apr_array_make(test_pool, n, sizeof(scep_revoked_t));
}

static void push(apr_array_header_t *a, const char *serial, apr_int64_t at, int reason)
{
    scep_revoked_t *r = apr_array_push(a);
    r->serial = serial;
    r->revoked_at = at;
    r->reason = reason;
}

static X509_CRL *parse(const unsigned char *der, apr_size_t len)
{
    const unsigned char *q = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);

    ck_assert_ptr_nonnull(crl);
    ck_assert_ptr_eq(q, der + len);
    return crl;
}

static const char *write_der(const char *name, const unsigned char *der, apr_size_t len)
{
    const char *path = apr_pstrcat(test_pool, dir, "/", name, NULL);
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(der, 1, len, f), len);
    fclose(f);
    return path;
}

/* What `openssl crl` says about the CRL against the CA file. */
static int cli_verifies(const char *crl_path, const char *ca_file)
{
    const char *out = apr_pstrcat(test_pool, crl_path, ".out", NULL);
    const char *cmd = apr_psprintf(test_pool, "openssl crl -inform DER -in '%s' "
                                   "-CAfile '%s/%s' -noout >'%s' 2>&1",
                                   crl_path, dir, ca_file, out);
    char buf[256] = "";
    FILE *f;
    int status = system(cmd);

    f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    if (!fgets(buf, sizeof(buf), f)) buf[0] = '\0';
    fclose(f);
    return status == 0 && strstr(buf, "verify OK") != NULL;
}

static int entry_reason(X509_REVOKED *rev)
{
    int crit = 0;
    ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
    int code;

    if (!e) {
        ck_assert_int_eq(crit, -1);     /* absent, not malformed */
        return -1;
    }
    code = (int)ASN1_ENUMERATED_get(e);
    ASN1_ENUMERATED_free(e);
    return code;
}

static X509_REVOKED *find(X509_CRL *crl, const char *hex)
{
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    int i;

    for (i = 0; i < sk_X509_REVOKED_num(revs); i++) {
        X509_REVOKED *rev = sk_X509_REVOKED_value(revs, i);
        if (!strcmp(scep_serial_hex(test_pool, X509_REVOKED_get0_serialNumber(rev)), hex)) {
            return rev;
        }
    }
    return NULL;
}

START_TEST(build_signs_a_v2_crl)
{
    apr_array_header_t *revs = revoked_list(3);
    apr_int64_t t0 = (apr_int64_t)time(NULL) - 86400;
    apr_int64_t number = 0x123456789ALL, secs = 7 * 86400, this_up, next_up;
    unsigned char *der = NULL;
    apr_size_t len = 0;
    const char *err = NULL;
    X509_CRL *crl;
    X509_REVOKED *rev;
    ASN1_INTEGER *num;
    AUTHORITY_KEYID *akid;
    int64_t n;

    push(revs, "4F2A9C01D3E5B7", t0, scep_crl_reason_code("keyCompromise"));
    push(revs, "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", t0 + 60, -1);   /* 20 octets */
    push(revs, "01", t0 + 120, scep_crl_reason_code("superseded"));
    ck_assert_msg(scep_crl_build(&der, &len, &err, test_pool, with_ski, revs, number,
                                 secs, NULL) == APR_SUCCESS, "%s", err);
    ck_assert_uint_gt(len, 0);
    crl = parse(der, len);

    ck_assert_int_eq(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    ck_assert_int_eq(X509_CRL_verify(crl, X509_get0_pubkey(with_ski->cert)), 1);
    ck_assert_int_eq(X509_NAME_cmp(X509_CRL_get_issuer(crl),
                                   X509_get_subject_name(with_ski->cert)), 0);
    ck_assert_int_eq(X509_CRL_get_signature_nid(crl), NID_sha256WithRSAEncryption);

    num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    ck_assert_ptr_nonnull(num);
    ck_assert(ASN1_INTEGER_get_int64(&n, num));
    ck_assert(n == number);
    ASN1_INTEGER_free(num);

    this_up = scep_asn1_time_epoch(X509_CRL_get0_lastUpdate(crl));
    next_up = scep_asn1_time_epoch(X509_CRL_get0_nextUpdate(crl));
    ck_assert(llabs((long long)(this_up - time(NULL))) <= 2);
    ck_assert(llabs((long long)(next_up - this_up - secs)) <= 2);

    /* keyid from the CA's SKI, no issuer+serial beside it */
    akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
    ck_assert_ptr_nonnull(akid);
    ck_assert_ptr_nonnull(akid->keyid);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(akid->keyid,
                                           X509_get0_subject_key_id(with_ski->cert)), 0);
    ck_assert_ptr_null(akid->issuer);
    ck_assert_ptr_null(akid->serial);
    AUTHORITY_KEYID_free(akid);

    ck_assert_int_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);
    ck_assert_ptr_nonnull(rev = find(crl, "4F2A9C01D3E5B7"));
    ck_assert_int_eq(entry_reason(rev), 1);
    ck_assert(scep_asn1_time_epoch(X509_REVOKED_get0_revocationDate(rev)) == t0);
    ck_assert_ptr_nonnull(rev = find(crl, "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
    ck_assert_int_eq(entry_reason(rev), -1);
    ck_assert(scep_asn1_time_epoch(X509_REVOKED_get0_revocationDate(rev)) == t0 + 60);
    ck_assert_ptr_nonnull(rev = find(crl, "01"));
    ck_assert_int_eq(entry_reason(rev), 4);
    /* sorted by serial */
    ck_assert_ptr_eq(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0), rev);
    X509_CRL_free(crl);

    ck_assert(cli_verifies(write_der("ski.der", der, len), "ca.pem"));
    /* the CLI is not just saying yes: a broken signature fails */
    der[len - 1] ^= 0x01;
    ck_assert(!cli_verifies(write_der("tampered.der", der, len), "ca.pem"));
}
END_TEST

START_TEST(no_ski_names_issuer_and_serial)
{
    apr_array_header_t *revs = revoked_list(1);
    unsigned char *der = NULL;
    apr_size_t len = 0;
    const char *err = NULL;
    X509_CRL *crl;
    AUTHORITY_KEYID *akid;
    GENERAL_NAME *gn;

    push(revs, "abcdef0123", 1000000000, 0);    /* lowercase is fine too */
    ck_assert_msg(scep_crl_build(&der, &len, &err, test_pool, without_ski, revs, 0,
                                 3600, EVP_sha384()) == APR_SUCCESS, "%s", err);
    crl = parse(der, len);
    ck_assert_int_eq(X509_CRL_verify(crl, X509_get0_pubkey(without_ski->cert)), 1);
    ck_assert_int_eq(X509_CRL_get_signature_nid(crl), NID_sha384WithRSAEncryption);

    akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
    ck_assert_ptr_nonnull(akid);
    ck_assert_ptr_null(akid->keyid);
    ck_assert_ptr_nonnull(akid->issuer);
    ck_assert_int_eq(sk_GENERAL_NAME_num(akid->issuer), 1);
    gn = sk_GENERAL_NAME_value(akid->issuer, 0);
    ck_assert_int_eq(gn->type, GEN_DIRNAME);
    ck_assert_int_eq(X509_NAME_cmp(gn->d.directoryName,
                                   X509_get_issuer_name(without_ski->cert)), 0);
    ck_assert_int_eq(ASN1_INTEGER_cmp(akid->serial,
                                      X509_get0_serialNumber(without_ski->cert)), 0);
    AUTHORITY_KEYID_free(akid);

    /* 'unspecified' is left out (RFC 5280 §5.3.1) */
    ck_assert_int_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
    ck_assert_int_eq(entry_reason(find(crl, "ABCDEF0123")), -1);
    X509_CRL_free(crl);
    ck_assert(cli_verifies(write_der("no-ski.der", der, len), "ca-no-ski.pem"));
}
END_TEST

START_TEST(empty_list_is_a_valid_crl)
{
    unsigned char *der = NULL;
    apr_size_t len = 0;
    const char *err = NULL;
    X509_CRL *crl;

    ck_assert_msg(scep_crl_build(&der, &len, &err, test_pool, with_ski, NULL, 1,
                                 86400, NULL) == APR_SUCCESS, "%s", err);
    crl = parse(der, len);
    ck_assert_int_eq(X509_CRL_verify(crl, X509_get0_pubkey(with_ski->cert)), 1);
    /* RFC 5280 §5.1.2.6: no entries means no revokedCertificates at all */
    ck_assert_ptr_null(X509_CRL_get_REVOKED(crl));
    X509_CRL_free(crl);
    ck_assert(cli_verifies(write_der("empty.der", der, len), "ca.pem"));

    ck_assert_msg(scep_crl_build(&der, &len, &err, test_pool, with_ski, revoked_list(0),
                                 2, 86400, NULL) == APR_SUCCESS, "%s", err);
    crl = parse(der, len);
    ck_assert_ptr_null(X509_CRL_get_REVOKED(crl));
    X509_CRL_free(crl);
}
END_TEST

START_TEST(info_reads_back)
{
    apr_array_header_t *revs = revoked_list(1);
    unsigned char *der = NULL;
    apr_size_t len = 0;
    const char *err = NULL;
    apr_int64_t before = (apr_int64_t)time(NULL), after;
    apr_int64_t number = -1, this_up = -1, next_up = -1;
    static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };

    push(revs, "0A", before - 10, 5);
    ck_assert_msg(scep_crl_build(&der, &len, &err, test_pool, with_ski, revs,
                                 APR_INT64_MAX, 3600, NULL) == APR_SUCCESS, "%s", err);
    after = (apr_int64_t)time(NULL);
    ck_assert_int_eq(scep_crl_info(&number, &this_up, &next_up, der, len), APR_SUCCESS);
    ck_assert(number == APR_INT64_MAX);
    ck_assert(this_up >= before && this_up <= after);
    ck_assert(next_up - this_up == 3600);
    /* out-params are optional */
    ck_assert_int_eq(scep_crl_info(NULL, NULL, &next_up, der, len), APR_SUCCESS);
    ck_assert(next_up - this_up == 3600);

    number = 77;
    ck_assert_int_eq(scep_crl_info(&number, NULL, NULL, junk, sizeof(junk)), APR_EINVAL);
    ck_assert_int_eq(scep_crl_info(&number, NULL, NULL, der, len - 1), APR_EINVAL);
    ck_assert_int_eq(scep_crl_info(&number, NULL, NULL, NULL, 0), APR_EINVAL);
    ck_assert(number == 77);    /* untouched on failure */
}
END_TEST

START_TEST(reason_names_both_ways)
{
    static const char *const names[] = {
        "unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
        "superseded", "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn", "aACompromise"
    };
    int code;

    for (code = 0; code <= 10; code++) {
        if (!names[code]) continue;
        ck_assert_str_eq(scep_crl_reason_name(code), names[code]);
        ck_assert_int_eq(scep_crl_reason_code(names[code]), code);
    }
    ck_assert_ptr_null(scep_crl_reason_name(7));
    ck_assert_ptr_null(scep_crl_reason_name(-1));
    ck_assert_ptr_null(scep_crl_reason_name(11));
    ck_assert_int_eq(scep_crl_reason_code("KEYCOMPROMISE"), 1);
    ck_assert_int_eq(scep_crl_reason_code("bogus"), -1);
    ck_assert_int_eq(scep_crl_reason_code(""), -1);
    ck_assert_int_eq(scep_crl_reason_code(NULL), -1);
}
END_TEST

/* Build with one entry; expect APR_EINVAL, *pder untouched, and want in *perr. */
static void refused(const char *serial, apr_int64_t at, int reason,
                    apr_int64_t number, apr_int64_t secs, const char *want)
{
    apr_array_header_t *revs = revoked_list(2);
    unsigned char *der = (unsigned char *)"untouched";
    apr_size_t len = 9;
    const char *err = NULL;

    push(revs, "1234", 0, -1);      /* a good entry before the bad one */
    push(revs, serial, at, reason);
    ck_assert_int_eq(scep_crl_build(&der, &len, &err, test_pool, with_ski, revs,
                                    number, secs, NULL), APR_EINVAL);
    ck_assert_str_eq((const char *)der, "untouched");
    ck_assert_uint_eq(len, 9);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' not in '%s'", want, err);
}

START_TEST(bad_input_fails_cleanly)
{
    refused("12G4", 0, -1, 1, 60, "'12G4'");
    refused("-1A", 0, -1, 1, 60, "'-1A'");
    refused("0x1A", 0, -1, 1, 60, "'0x1A'");
    refused("1A ", 0, -1, 1, 60, "'1A '");
    refused("", 0, -1, 1, 60, "''");
    refused(NULL, 0, -1, 1, 60, "not a hex number");
    refused("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 0, -1, 1, 60, "longer than 20 octets");
    refused("1B", 0, 7, 1, 60, "serial 1B");
    refused("1B", 0, 11, 1, 60, "reason code 11");
    refused("1B", 0, -2, 1, 60, "reason code -2");
    refused("1B", -5, -1, 1, 60, "negative");
    refused("1B", 0, -1, -1, 60, "CRL number -1");
    refused("1B", 0, -1, 1, 0, "out of range");
    refused("1B", 0, -1, 1, -60, "out of range");
    refused("1B", 0, -1, 1, APR_INT64_MAX, "out of range");
}
END_TEST

Suite *crl_suite(void)
{
    Suite *s = suite_create("crl");
    TCase *tc = tcase_create("crl");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, build_signs_a_v2_crl);
    tcase_add_test(tc, no_ski_names_issuer_and_serial);
    tcase_add_test(tc, empty_list_is_a_valid_crl);
    tcase_add_test(tc, info_reads_back);
    tcase_add_test(tc, reason_names_both_ways);
    tcase_add_test(tc, bad_input_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}
