/* mod_scep unit tests (Check): shared fixtures. */
#ifndef SCEP_TESTS_H
#define SCEP_TESTS_H

#include <check.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/x509.h>
#include <openssl/evp.h>
#include "scep_store.h"

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
/* A scep_log_fn that drops every message (set SCEP_UNIT_LOG=1 to see them). */
void t_quiet_log(void *baton, const char *file, int line, scep_log_level_t level,
                 apr_status_t rv, const char *msg);

/* ---- test_db.c: records in memory --------------------------------------- */

/* conf/schema-sqlite3.sql in a fresh in-memory SQLite database, every
 * statement of scep_store_sql prepared on it, and a store on it; all of it
 * closed when pool is destroyed. */
typedef struct t_db_t {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    scep_store_t *store;
} t_db_t;
t_db_t *t_db_open(apr_pool_t *pool);
/* The number a "SELECT COUNT(*) ..." answers. */
long t_db_count(t_db_t *db, apr_pool_t *pool, const char *sql);

#endif
