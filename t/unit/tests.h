/* mod_scep unit tests (Check): shared fixtures. */
#ifndef SCEP_TESTS_H
#define SCEP_TESTS_H

#include <check.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

extern apr_pool_t *test_pool;

Suite *util_suite(void);
Suite *ca_suite(void);
Suite *msg_suite(void);
Suite *policy_suite(void);
Suite *crl_suite(void);
Suite *store_suite(void);

/* Fixtures made with OpenSSL directly, not with the library under test. */
EVP_PKEY *t_rsa_key(int bits);
X509 *t_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
             const char *cn, const char *ku, int is_ca, long days);
const char *t_write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key);
const char *t_tmpdir(void);

#endif
