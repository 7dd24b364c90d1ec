/* Unit tests: CA/RA loading and its start-up checks, certificate issuance. */
#include <string.h>
#include <openssl/x509v3.h>
#include "tests.h"
#include "scep_ca.h"
#include "scep_ossl.h"
#include "scep_service.h"

/* the request as the engine hands it to the policy (key decoded with it) */
#define REQ(csr) scep_policy_request(test_pool, (csr), NULL)

static EVP_PKEY *ca_key, *ra_key, *other_key;
static X509 *ca, *ra, *ra_no_ke, *foreign_ra, *ca_sign_only;
static const char *dir;

static void setup(void)
{
    if (ca) return;
    dir = t_tmpdir();
    ca_key = t_rsa_key(2048);
    ra_key = t_rsa_key(2048);
    other_key = t_rsa_key(2048);
    ca = t_cert(ca_key, NULL, NULL, "Unit CA",
                "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment", 1, 3650);
    ca_sign_only = t_cert(ca_key, NULL, NULL, "Unit CA", "critical,keyCertSign,cRLSign", 1, 3650);
    ra = t_cert(ra_key, ca, ca_key, "Unit RA", "critical,digitalSignature,keyEncipherment", 0, 365);
    ra_no_ke = t_cert(ra_key, ca, ca_key, "Unit RA", "critical,digitalSignature", 0, 365);
    foreign_ra = t_cert(ra_key, NULL, NULL, "Unit RA", "critical,digitalSignature,keyEncipherment", 0, 365);
    t_write_pem(dir, "ca.pem", ca, NULL);
    t_write_pem(dir, "ca-sign-only.pem", ca_sign_only, NULL);
    t_write_pem(dir, "ca.key", NULL, ca_key);
    t_write_pem(dir, "other.key", NULL, other_key);
    t_write_pem(dir, "ra.pem", ra, NULL);
    t_write_pem(dir, "ra-no-ke.pem", ra_no_ke, NULL);
    t_write_pem(dir, "foreign-ra.pem", foreign_ra, NULL);
    t_write_pem(dir, "ra.key", NULL, ra_key);
}

static const char *f(const char *name)
{
    return name ? apr_pstrcat(test_pool, dir, "/", name, NULL) : NULL;
}

/* An EC CA with an EC RA that signs beside an RSA RA that decrypts: the
 * keys and certificates, written once. */
static void split_setup(void)
{
    static int done;
    EVP_PKEY *ec_ca_key, *sig_key;
    X509 *ec_ca, *sig, *enc, *ec_enc;

    if (done++) return;
    ec_ca_key = EVP_EC_gen("P-256");
    sig_key = EVP_EC_gen("P-384");
    ec_ca = t_cert(ec_ca_key, NULL, NULL, "Unit EC CA", "critical,keyCertSign,cRLSign", 1, 3650);
    sig = t_cert(sig_key, ec_ca, ec_ca_key, "Unit RA signing", "critical,digitalSignature", 0, 365);
    enc = t_cert(ra_key, ec_ca, ec_ca_key, "Unit RA encryption", "critical,keyEncipherment", 0, 365);
    ec_enc = t_cert(sig_key, ec_ca, ec_ca_key, "Unit RA encryption", "critical,keyEncipherment",
                    0, 365);
    t_write_pem(dir, "ec-ca.pem", ec_ca, NULL);
    t_write_pem(dir, "ec-ca.key", NULL, ec_ca_key);
    t_write_pem(dir, "sig.pem", sig, NULL);
    t_write_pem(dir, "sig.key", NULL, sig_key);
    t_write_pem(dir, "enc.pem", enc, NULL);
    t_write_pem(dir, "ec-enc.pem", ec_enc, NULL);
    X509_free(ec_enc);
    X509_free(enc);
    X509_free(sig);
    X509_free(ec_ca);
    EVP_PKEY_free(sig_key);
    EVP_PKEY_free(ec_ca_key);
}

static apr_status_t load_split(scep_ca_t **pca, const char *sig, const char *sig_key,
                               const char *enc, const char *enc_key, scep_ca_file_t *which,
                               const char **err)
{
    scep_ca_files_t files = { f("ec-ca.pem"), f("ec-ca.key"), NULL, f(sig), f(sig_key), NULL,
                              NULL, 0, f(enc), f(enc_key), NULL };
    return scep_ca_load(pca, test_pool, &files, err, which);
}

static apr_status_t load(scep_ca_t **pca, const char *cert, const char *key,
                         const char *ra_cert, const char *ra_key_file,
                         scep_ca_file_t *which, const char **err)
{
    scep_ca_files_t files = { f(cert), f(key), NULL, f(ra_cert), f(ra_key_file), NULL, NULL, 0, NULL, NULL,
                              NULL };
    return scep_ca_load(pca, test_pool, &files, err, which);
}

/* A Location's service at CA c, renewing or not. */
static const scep_service_t *service(const scep_ca_t *c, int renewal)
{
    scep_profile_t *prof = apr_pcalloc(test_pool, sizeof(*prof));
    const scep_cacert_t *cacert = NULL;
    const char *err = NULL;

    ck_assert_int_eq(scep_service_cacert(&cacert, &err, test_pool, c), APR_SUCCESS);
    prof->name = "/unit";
    prof->renewal = renewal;
    return scep_service_make(test_pool, c, NULL, prof, 86400, cacert);
}

/* GetCACert's answer of svc, parsed (a SignedData in RA mode). */
static CMS_ContentInfo *cacert_cms(const scep_service_t *svc)
{
    const unsigned char *q = svc->cacert->der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)svc->cacert->len);

    ck_assert_ptr_nonnull(cms);
    return cms;
}

/* An RA that signs (EC) beside one that decrypts (RSA): each where it
 * belongs, and GetCACert with the encryption certificate first. */
START_TEST(split_ra_loads_and_orders_getcacert)
{
    scep_ca_t *c;
    scep_ca_file_t which;
    const char *err = NULL;
    const scep_service_t *svc;
    CMS_ContentInfo *cms;
    STACK_OF(X509) *certs;

    split_setup();
    ck_assert_int_eq(load_split(&c, "sig.pem", "sig.key", "enc.pem", "ra.key", &which, &err),
                     APR_SUCCESS);
    ck_assert(c->has_ra && c->split_ra);
    ck_assert_int_eq(EVP_PKEY_get_base_id(c->ra_key), EVP_PKEY_EC);
    ck_assert_int_eq(EVP_PKEY_get_base_id(c->enc_key), EVP_PKEY_RSA);
    ck_assert_int_ne(X509_cmp(c->ra_cert, c->enc_cert), 0);
    svc = service(c, 0);
    cms = cacert_cms(svc);
    certs = CMS_get1_certs(cms);
    ck_assert_int_eq(sk_X509_num(certs), 3);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), c->enc_cert), 0);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 1), c->ra_cert), 0);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 2), c->cert), 0);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);

    /* the encryption key must be RSA, each certificate must have its usage */
    ck_assert_int_ne(load_split(&c, "sig.pem", "sig.key", "ec-enc.pem", "sig.key", &which, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_ENC_KEY);
    ck_assert_ptr_nonnull(strstr(err, "must be RSA"));
    ck_assert_int_ne(load_split(&c, "sig.pem", "sig.key", "sig.pem", "sig.key", &which, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_ENC_CERT);
    ck_assert_ptr_nonnull(strstr(err, "keyEncipherment"));
    ck_assert_int_ne(load_split(&c, "enc.pem", "ra.key", "enc.pem", "ra.key", &which, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_RA_CERT);
    ck_assert_ptr_nonnull(strstr(err, "digitalSignature"));
    /* an encryption certificate alone is no RA */
    ck_assert_int_ne(load_split(&c, NULL, NULL, "enc.pem", "ra.key", &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_ENC_CERT);
    /* a single EC RA cannot decrypt */
    ck_assert_int_ne(load_split(&c, "sig.pem", "sig.key", NULL, NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_RA_CERT);
}
END_TEST

START_TEST(ra_mode_builds_bundle_and_caps)
{
    scep_ca_t *c;
    scep_ca_file_t which;
    const char *err = NULL;
    const scep_service_t *svc;
    CMS_ContentInfo *cms;
    STACK_OF(X509) *certs;

    ck_assert_int_eq(load(&c, "ca.pem", "ca.key", "ra.pem", "ra.key", &which, &err), APR_SUCCESS);
    svc = service(c, 0);
    ck_assert_str_eq(svc->cacert->content_type, "application/x-x509-ca-ra-cert");
    ck_assert(c->has_ra);
    ck_assert_ptr_nonnull(strstr(svc->caps, "AES\n"));
    ck_assert_ptr_nonnull(strstr(svc->caps, "POSTPKIOperation\n"));
    ck_assert_ptr_nonnull(strstr(svc->caps, "SHA-256\n"));
    ck_assert_ptr_null(strstr(svc->caps, "Renewal"));
    ck_assert_ptr_null(strstr(svc->caps, "GetNextCACert"));
    ck_assert_ptr_nonnull(strstr(service(c, 1)->caps, "Renewal\n"));   /* SCEPRenewal on */
    cms = cacert_cms(svc);
    certs = CMS_get1_certs(cms);
    ck_assert_int_eq(sk_X509_num(certs), 2);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), ra), 0);   /* RA first */
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 1), ca), 0);
    ck_assert_int_eq(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)), 0);
    ck_assert_ptr_null(*CMS_get0_content(cms));                   /* content omitted */
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
}
END_TEST

START_TEST(single_ca_mode_is_der)
{
    scep_ca_t *c;
    scep_ca_file_t which;
    const char *err = NULL;
    const unsigned char *q;
    const scep_service_t *svc;
    X509 *x;

    ck_assert_int_eq(load(&c, "ca.pem", "ca.key", NULL, NULL, &which, &err), APR_SUCCESS);
    svc = service(c, 0);
    ck_assert_str_eq(svc->cacert->content_type, "application/x-x509-ca-cert");
    q = svc->cacert->der;
    x = d2i_X509(NULL, &q, (long)svc->cacert->len);
    ck_assert_int_eq(X509_cmp(x, ca), 0);
    ck_assert_ptr_eq(c->ra_cert, c->cert);
    X509_free(x);
}
END_TEST

START_TEST(startup_checks_name_the_file)
{
    scep_ca_t *c;
    scep_ca_file_t which;
    const char *err = NULL;

    ck_assert_int_ne(load(&c, "ca.pem", "other.key", NULL, NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_KEY);
    ck_assert_ptr_nonnull(strstr(err, "does not match"));

    ck_assert_int_ne(load(&c, "ca.pem", "ca.key", "foreign-ra.pem", "ra.key", &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_RA_CERT);
    ck_assert_ptr_nonnull(strstr(err, "not issued by the CA"));

    ck_assert_int_ne(load(&c, "ca.pem", "ca.key", "ra-no-ke.pem", "ra.key", &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_RA_CERT);
    ck_assert_ptr_nonnull(strstr(err, "keyEncipherment"));

    ck_assert_int_ne(load(&c, "ca.pem", "ca.key", "ra.pem", "other.key", &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_RA_KEY);

    ck_assert_int_ne(load(&c, "ca.pem", "ca.key", "ra.pem", NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_RA_CERT);

    ck_assert_int_ne(load(&c, "ca-sign-only.pem", "ca.key", NULL, NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_CERT);
    ck_assert_ptr_nonnull(strstr(err, "SCEPRACertificateFile"));

    /* with an RA, a sign-only CA is fine */
    ck_assert_int_eq(load(&c, "ca-sign-only.pem", "ca.key", "ra.pem", "ra.key", &which, &err), APR_SUCCESS);

    ck_assert_int_ne(load(&c, "missing.pem", "ca.key", NULL, NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_CERT);
    ck_assert_ptr_nonnull(strstr(err, "missing.pem"));

    ck_assert_int_ne(load(&c, "ra.pem", "ra.key", NULL, NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(which, SCEP_CA_FILE_CERT);
    ck_assert_ptr_nonnull(strstr(err, "not a CA"));
}
END_TEST

START_TEST(issue_follows_the_seam)
{
    scep_ca_t *c;
    scep_ca_file_t which;
    const char *err = NULL;
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *k = t_rsa_key(2048);
    X509_NAME *n = X509_NAME_new();
    scep_policy_t *pol = scep_policy_make(test_pool, "unit");
    scep_cert_plan_t *plan;
    X509 *cert;
    BIGNUM *serial;

    ck_assert_int_eq(load(&c, "ca.pem", "ca.key", "ra.pem", "ra.key", &which, &err), APR_SUCCESS);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"device", -1, -1, 0);
    X509_REQ_set_subject_name(req, n);
    X509_REQ_set_pubkey(req, k);
    X509_REQ_sign(req, k, EVP_sha256());
    pol->validity = 20 * 365 * 86400LL;
    ck_assert_int_eq(scep_policy_apply(&plan, &err, test_pool, pol, REQ(req), NULL, NULL, NULL), APR_SUCCESS);
    ck_assert_msg(scep_ca_issue(&cert, &err, test_pool, c, plan) == APR_SUCCESS, "%s", err);
    ck_assert_int_eq(X509_verify(cert, ca_key), 1);
    ck_assert(scep_ca_issued(c, cert));
    ck_assert(!scep_ca_issued(c, foreign_ra));
    serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    ck_assert(!BN_is_negative(serial));
    ck_assert_int_ge(BN_num_bits(serial), 64);
    BN_free(serial);
    /* 20 years asked: capped at the CA's own expiry */
    ck_assert_int_le(ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca)), 0);
    ck_assert_int_eq(X509_check_ca(cert), 0);
    ck_assert(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
    ck_assert(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);
    ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(cert), n), 0);
    {
        /* the key is the request's, and reads back as a key after a round trip */
        unsigned char *der = NULL, *want = NULL;
        const unsigned char *q;
        int len = i2d_X509(cert, &der), wlen = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &want);
        X509 *back;
        unsigned char *got = NULL;
        int glen;
        q = der;
        back = d2i_X509(NULL, &q, len);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(back), k), 1);
        glen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(back), &got);
        ck_assert_int_eq(glen, wlen);
        ck_assert_mem_eq(got, want, (size_t)wlen);
        ck_assert_int_eq(X509_verify(back, ca_key), 1);
        OPENSSL_free(got);
        OPENSSL_free(want);
        OPENSSL_free(der);
        X509_free(back);
    }
    /* an EC key keeps its curve parameter */
    {
        EVP_PKEY *ec = EVP_EC_gen("P-256");
        X509_REQ *ereq = X509_REQ_new();
        X509 *ecert;
        X509_REQ_set_subject_name(ereq, n);
        X509_REQ_set_pubkey(ereq, ec);
        X509_REQ_sign(ereq, ec, EVP_sha256());
        unsigned char *der = NULL;
        const unsigned char *q;
        X509 *back;
        int len;
        pol->key_algs |= SCEP_KEY_P256;
        ck_assert_msg(scep_policy_apply(&plan, &err, test_pool, pol, REQ(ereq), NULL, NULL, NULL)
                      == APR_SUCCESS, "%s", err);
        ck_assert_msg(scep_ca_issue(&ecert, &err, test_pool, c, plan) == APR_SUCCESS, "%s", err);
        len = i2d_X509(ecert, &der);
        q = der;
        back = d2i_X509(NULL, &q, len);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(back), ec), 1);
        ck_assert_int_eq(X509_verify(back, ca_key), 1);
        X509_free(back);
        OPENSSL_free(der);
        X509_REQ_free(ereq);
        EVP_PKEY_free(ec);
        ck_assert_int_eq(scep_policy_apply(&plan, &err, test_pool, pol, REQ(req), NULL, NULL, NULL),
                         APR_SUCCESS);
    }
    /* the same plan with capping off is refused */
    plan->cap_at_ca = 0;
    ck_assert_int_eq(scep_ca_issue(&cert, &err, test_pool, c, plan), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(err, "outlive"));
    X509_NAME_free(n);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
}
END_TEST

/* The extension at index i of cert, DER; freed by the caller. */
static int ext_der(X509 *cert, int i, unsigned char **der)
{
    X509_EXTENSION *ext = X509_get_ext(cert, i);

    ck_assert_ptr_nonnull(ext);
    *der = NULL;
    return i2d_X509_EXTENSION(ext, der);
}

/* basicConstraints, subjectKeyIdentifier and authorityKeyIdentifier, made
 * once per CA (and SHA-1 over the key for the subject's), are the bytes
 * X509V3 makes from their text for each certificate, in that order; for a
 * CA with a subjectKeyIdentifier (AKI: keyid) and one without (AKI: its
 * issuer and serial). */
START_TEST(issued_extensions_as_x509v3_makes_them)
{
    static const struct { int nid; const char *text; } want[] = {
        { NID_basic_constraints, "critical,CA:FALSE" },
        { NID_subject_key_identifier, "hash" },
        { NID_authority_key_identifier, "keyid,issuer" },
    };
    X509 *keyed = t_with_key_id(ca, ca_key);
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    EVP_PKEY *k = t_rsa_key(2048);
    scep_policy_t *pol = scep_policy_make(test_pool, "unit");
    scep_cert_plan_t *plan;
    const char *err = NULL, *cas[] = { "ca.pem", "ca-keyid.pem" };
    scep_ca_file_t which;
    size_t c, i;

    t_write_pem(dir, "ca-keyid.pem", keyed, NULL);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"device", -1, -1, 0);
    X509_REQ_set_subject_name(req, n);
    X509_REQ_set_pubkey(req, k);
    X509_REQ_sign(req, k, EVP_sha256());
    ck_assert_int_eq(scep_policy_apply(&plan, &err, test_pool, pol, REQ(req), NULL, NULL, NULL),
                     APR_SUCCESS);
    for (c = 0; c < 2; c++) {
        scep_ca_t *sca;
        X509 *cert;
        X509V3_CTX v3;
        AUTHORITY_KEYID *akid;

        ck_assert_int_eq(load(&sca, cas[c], "ca.key", NULL, NULL, &which, &err), APR_SUCCESS);
        ck_assert_msg(scep_ca_issue(&cert, &err, test_pool, sca, plan) == APR_SUCCESS, "%s", err);
        X509V3_set_ctx(&v3, sca->cert, cert, NULL, NULL, 0);
        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            X509_EXTENSION *made = X509V3_EXT_conf_nid(NULL, &v3, want[i].nid, want[i].text);
            unsigned char *got = NULL, *expected = NULL;
            int got_len = ext_der(cert, (int)i, &got), expected_len;

            ck_assert_ptr_nonnull(made);
            expected_len = i2d_X509_EXTENSION(made, &expected);
            ck_assert_msg(got_len == expected_len && !memcmp(got, expected, (size_t)got_len),
                          "CA %s: %s differs", cas[c], OBJ_nid2sn(want[i].nid));
            OPENSSL_free(got);
            OPENSSL_free(expected);
            X509_EXTENSION_free(made);
        }
        /* and they say what they should, not only the same as X509V3 */
        akid = X509_get_ext_d2i(cert, NID_authority_key_identifier, NULL, NULL);
        ck_assert_ptr_nonnull(akid);
        ck_assert_int_eq(akid->keyid != NULL, c == 1);
        ck_assert_int_eq(akid->serial != NULL, c == 0);
        ck_assert_int_eq(X509_check_akid(sca->cert, akid), X509_V_OK);
        AUTHORITY_KEYID_free(akid);
        ck_assert_int_eq(X509_check_ca(cert), 0);
    }
    X509_free(keyed);
    X509_NAME_free(n);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
}
END_TEST

/* The encryption token's probe: an answer counts only in the second it was
 * measured in, even when a slow probe stores it after a newer one. A file
 * key stands for the token's (enc_key_ref set, never dereferenced); it
 * signs, so a fresh probe answers 0. */
START_TEST(enc_token_probe_keeps_its_second)
{
    scep_ca_t *c;
    scep_ca_file_t which;
    const char *err = NULL;
    scep_pkcs11_ref_t ref;
    apr_uint32_t now;

    ck_assert_int_eq(load(&c, "ca.pem", "ca.key", NULL, NULL, &which, &err), APR_SUCCESS);
    ck_assert_int_eq(scep_ca_enc_token_failed(c), 0);       /* a file key: never probed */
    memset(&ref, 0, sizeof(ref));
    c->enc_key_ref = &ref;
    now = (apr_uint32_t)apr_time_sec(apr_time_now());
    c->probe = (now << 1) | 1u;                              /* this second: failed */
    if ((apr_uint32_t)apr_time_sec(apr_time_now()) == now) {
        ck_assert_int_eq(scep_ca_enc_token_failed(c), 1);    /* kept, not probed again */
    }
    c->probe = ((now - 1) << 1) | 1u;                        /* an older second's failure */
    ck_assert_int_eq(scep_ca_enc_token_failed(c), 0);        /* probed again: it signs */
    ck_assert_uint_eq(c->probe & 1u, 0);
    ck_assert_uint_ge(c->probe >> 1, now);
}
END_TEST

Suite *ca_suite(void)
{
    Suite *s = suite_create("ca");
    TCase *tc = tcase_create("ca");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ra_mode_builds_bundle_and_caps);
    tcase_add_test(tc, split_ra_loads_and_orders_getcacert);
    tcase_add_test(tc, single_ca_mode_is_der);
    tcase_add_test(tc, startup_checks_name_the_file);
    tcase_add_test(tc, issue_follows_the_seam);
    tcase_add_test(tc, issued_extensions_as_x509v3_makes_them);
    tcase_add_test(tc, enc_token_probe_keeps_its_second);
    suite_add_tcase(s, tc);
    return s;
}
