/* mod_scep unit tests: runner and fixtures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "tests.h"

apr_pool_t *test_pool;

/* RSA key generation dominates the run time under valgrind (about 15 s a
 * key). With SCEP_UNIT_KEY_CACHE=DIR the n-th key of each size is read from
 * DIR/rsa<bits>-<n>.pem, made and saved there the first time (test.sh runs
 * the tests natively first, then under valgrind with the same folder). */
EVP_PKEY *t_rsa_key(int bits)
{
    static int n1024, n2048, nother;
    const char *dir = getenv("SCEP_UNIT_KEY_CACHE");
    int *n = bits == 1024 ? &n1024 : bits == 2048 ? &n2048 : &nother;
    EVP_PKEY *key = NULL;
    char path[4096];
    FILE *f;

    if (!dir || !*dir)
        return EVP_RSA_gen((unsigned int)bits);
    snprintf(path, sizeof(path), "%s/rsa%d-%d.pem", dir, bits, (*n)++);
    if ((f = fopen(path, "r")) != NULL) {
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (key && EVP_PKEY_get_bits(key) == bits)
        return key;
    EVP_PKEY_free(key);
    key = EVP_RSA_gen((unsigned int)bits);
    if (key && (f = fopen(path, "w")) != NULL) {
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    }
    return key;
}

void t_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ck_assert_ptr_nonnull(ext);
    ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

X509 *t_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
             const char *cn, const char *ku, int is_ca, long days)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char serial[8];

    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), 0);
    {
        BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
        BN_free(bn);
    }
    X509_set_version(x, X509_VERSION_3);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_set_pubkey(x, key);
    t_add_ext(x, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (ku) {
        t_add_ext(x, issuer, NID_key_usage, ku);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

/* x again, with a subjectKeyIdentifier, signed by key: a recipient that
 * CMS_USE_KEYID can name by key identifier. */
X509 *t_with_key_id(X509 *x, EVP_PKEY *key)
{
    X509 *copy = X509_dup(x), *reread;
    unsigned char *der = NULL;
    const unsigned char *q;
    int len;

    t_add_ext(copy, NULL, NID_subject_key_identifier, "hash");
    X509_sign(copy, key, EVP_sha256());
    len = i2d_X509(copy, &der);    /* read back, so no cached extension state is stale */
    q = der;
    reread = d2i_X509(NULL, &q, len);
    ck_assert_ptr_nonnull(reread);
    OPENSSL_free(der);
    X509_free(copy);
    return reread;
}

const char *t_write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
    const char *path = apr_pstrcat(test_pool, dir, "/", name, NULL);
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    if (cert) PEM_write_X509(f, cert);
    if (key) PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return path;
}

unsigned char *t_pool_der(unsigned char *der, int len, apr_size_t *plen)
{
    unsigned char *copy;

    ck_assert_int_gt(len, 0);
    copy = apr_pmemdup(test_pool, der, (apr_size_t)len);
    *plen = (apr_size_t)len;
    OPENSSL_free(der);
    return copy;
}

const char *t_tmpdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *tmpl = apr_pstrcat(test_pool, tmp && *tmp ? tmp : "/tmp", "/scep-unit-XXXXXX", NULL);
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return tmpl;
}

void t_quiet_log(void *baton, const char *file, int line, scep_log_level_t level,
                 apr_status_t rv, const char *msg)
{
    static int show = -1;

    (void)baton; (void)file; (void)line; (void)rv;
    if (show < 0) {
        const char *v = getenv("SCEP_UNIT_LOG");
        show = v && *v && strcmp(v, "0");
    }
    if (show) {
        fprintf(stderr, "[%d] %s\n", (int)level, msg);
    }
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    apr_pool_create(&test_pool, NULL);
    sr = srunner_create(util_suite());
    srunner_add_suite(sr, ca_suite());
    srunner_add_suite(sr, msg_suite());
    srunner_add_suite(sr, policy_suite());
    srunner_add_suite(sr, crl_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, engine_suite());
    srunner_add_suite(sr, admin_suite());
    srunner_add_suite(sr, intune_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, webhook_suite());
    srunner_add_suite(sr, regress_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_pool_destroy(test_pool);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
