/* mod_scep unit tests (Check): shared fixtures. */
#ifndef SCEP_TESTS_H
#define SCEP_TESTS_H

#include <check.h>
#include <sys/types.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/x509.h>
#include <openssl/evp.h>
#include "scep_admin.h"
#include "scep_op.h"
#include "scep_store.h"

extern apr_pool_t *test_pool;

Suite *util_suite(void);
Suite *ca_suite(void);
Suite *msg_suite(void);
Suite *policy_suite(void);
Suite *crl_suite(void);
Suite *store_suite(void);
Suite *engine_suite(void);
Suite *admin_suite(void);
Suite *intune_suite(void);
Suite *http_suite(void);
Suite *webhook_suite(void);
Suite *regress_suite(void);

/* Fixtures made with OpenSSL directly, not with the library under test. */
EVP_PKEY *t_rsa_key(int bits);
/* Add to x the extension X509V3 makes of value (issuer NULL: x itself). */
void t_add_ext(X509 *x, X509 *issuer, int nid, const char *value);
X509 *t_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
             const char *cn, const char *ku, int is_ca, long days);
const char *t_write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key);
const char *t_tmpdir(void);
/* DER that an OpenSSL i2d allocated (len its return), moved into test_pool. */
unsigned char *t_pool_der(unsigned char *der, int len, apr_size_t *plen);
/* x again with a subjectKeyIdentifier ("hash"), signed by key; the caller frees it */
X509 *t_with_key_id(X509 *x, EVP_PKEY *key);
/* A scep_log_fn that drops every message (set SCEP_UNIT_LOG=1 to see them). */
void t_quiet_log(void *baton, const char *file, int line, scep_log_level_t level,
                 apr_status_t rv, const char *msg);

/* ---- test_http.c: live HTTPS servers (python3, t/tools/) ---------------- */

/* PEM files in a fresh folder: a CA, a server certificate it signed for
 * the IP address 127.0.0.1 only (not "localhost"), its key, and another CA
 * that signed nothing here. EC P-256 keys: quick to make. */
typedef struct t_tls_pki_t {
    const char *dir;
    const char *ca, *server_cert, *server_key, *other_ca;
} t_tls_pki_t;
const t_tls_pki_t *t_tls_pki(apr_pool_t *pool);
/* 1 if python3 is on PATH; else prints that the suite's live cases are
 * skipped (they are left out, not passed). */
int t_have_python3(const char *suite);
/* Starts python3 SRCDIR/t/tools/<script> args... (NULL-terminated) and
 * waits for its "listening <port>" line: the port, or -1. */
int t_server_start(pid_t *ppid, const char *script, const char *const *args);
/* SIGTERM to the server started above, and wait for it. */
void t_server_stop(pid_t pid);

/* ---- test_db.c: records in memory --------------------------------------- */

/* conf/schema-sqlite3.sql in a fresh in-memory SQLite database, every
 * statement of scep_store_sql prepared on it, and a store on it; all of it
 * closed when pool is destroyed. */
typedef struct t_db_t {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    scep_store_t *store;
    apr_hash_t *prepared;                /* the store's statements, by label */
} t_db_t;
t_db_t *t_db_open(apr_pool_t *pool);
/* The number a "SELECT COUNT(*) ..." answers. */
long t_db_count(t_db_t *db, apr_pool_t *pool, const char *sql);
/* Run a schema change (a trigger, say), then prepare every statement again,
 * as httpd does after one (SQLite does not re-prepare apr_dbd's statements). */
void t_db_change_schema(t_db_t *db, apr_pool_t *pool, const char *sql);

/* ---- test_enroll.c: enrollments as a device makes them ------------------ */

/* The CA of the enrollment tests (with an RA) and an unrelated CA; made
 * once for a test case (an unchecked fixture), with the devices. */
void t_pki_setup(void);
void t_pki_teardown(void);
extern scep_ca_t *t_ca, *t_other_ca;

/* A device: its key and the self-signed certificate it signs requests with. */
typedef struct t_device_t {
    EVP_PKEY *key;
    X509 *signer;
} t_device_t;
#define T_DEVICES 3
extern t_device_t t_devices[T_DEVICES];

#define T_SECRET  "unit-secret"         /* the Location's static challenge */
#define T_PROFILE "/scep"               /* its profile's name */

/* One test's Location: t_ca's service with a profile the test may change
 * before it sends anything, on a fresh in-memory database. */
typedef struct t_loc_t {
    apr_pool_t *pool;
    scep_ctx_t ctx;
    t_db_t *db;
    scep_profile_t *profile;            /* named T_PROFILE in profile->named */
    const scep_service_t *svc;
    scep_env_t env;
    int db_down;                        /* 1: the database cannot be opened */
    const char *client_addr;            /* the sender's address */
} t_loc_t;
t_loc_t *t_loc_make(apr_pool_t *pool);
/* The rows of "FROM ..." in the Location's database. */
long t_count(t_loc_t *loc, const char *from);
/* The id of the one live transaction with this transactionID. */
const char *t_live_id(t_loc_t *loc, const char *tid);
/* The administrator "alice" of ca, on the Location's database. */
scep_admin_t *t_admin(t_loc_t *loc, const scep_ca_t *ca);

/* A pkiMessage as the device sends it (built with client/, not scep/). */
typedef struct t_msg_t {
    const t_device_t *dev;
    const char *tid;
    const unsigned char *der;
    apr_size_t len;
} t_msg_t;
/* PKCSReq for the device's key, with this challengePassword (NULL: none). */
t_msg_t t_pkcsreq(t_loc_t *loc, const t_device_t *dev, const char *tid, const char *challenge);
/* CertPoll for the request t_pkcsreq made. */
t_msg_t t_certpoll(t_loc_t *loc, const t_device_t *dev, const char *tid);

/* What the engine answered, as the device reads it. */
typedef struct t_answer_t {
    int http;                           /* HTTP status */
    int pki_status;                     /* SCEP_STATUS_*; -1 without a CertRep */
    int fail_info;                      /* -1 when absent */
    const char *fail_text;              /* failInfoText, "" when absent */
    const char *serial;                 /* SUCCESS: the certificate's serial (hex) */
    int cert_ok;                        /* SUCCESS: signed by t_ca, for the device's key */
} t_answer_t;
/* POST the message to the engine; a CertRep must verify and echo the
 * transactionID. */
t_answer_t t_send(t_loc_t *loc, const t_msg_t *msg);

#endif
