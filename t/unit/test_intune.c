/* Unit tests: Intune challenge validation and notifications against the
 * local mock of Microsoft's services (t/tools/intune-mock.py, run with
 * python3 over HTTPS with a certificate made here), and the notification
 * events' JSON. Without python3 the live cases say so and pass. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <apr_thread_proc.h>
#include <jansson.h>
#include <openssl/x509v3.h>

#include "tests.h"
#include "scep_http.h"
#include "scep_intune.h"
#include "scep_util.h"

#define TENANT    "contoso.onmicrosoft.com"
#define CLIENT_ID "11111111-2222-3333-4444-555555555555"
#define SECRET    "mock-secret"
#define CALLER    "mod_scep/" SCEP_VERSION
#define CHALLENGE "open-sesame-4711"

/**** the mock: one per test case, started by an unchecked fixture *******/

static pid_t mock_pid;
static int mock_port;                   /* 0: not running (see skip_reason) */
static const char *skip_reason;
static const char *dir, *ca_file, *state_file, *log_file;

static int have_python3(void)
{
    const char *path = getenv("PATH");
    char *copy, *d, *last = NULL;

    if (!path) {
        return 0;
    }
    copy = apr_pstrdup(test_pool, path);
    for (d = apr_strtok(copy, ":", &last); d; d = apr_strtok(NULL, ":", &last)) {
        if (access(apr_pstrcat(test_pool, d, "/python3", NULL), X_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The mock's certificate: self-signed, for 127.0.0.1. */
static void make_server_cert(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = t_cert(key, NULL, NULL, "127.0.0.1", NULL, 0, 2);

    t_add_ext(x, NULL, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    X509_sign(x, key, EVP_sha256());
    ca_file = t_write_pem(dir, "mock.pem", x, NULL);
    t_write_pem(dir, "mock.key", NULL, key);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* "listening <port>" on the mock's stdout, within 20 s. */
static int read_port(int fd)
{
    char buf[64];
    size_t n = 0;
    struct pollfd pfd = { fd, POLLIN, 0 };

    while (n < sizeof(buf) - 1 && poll(&pfd, 1, 20000) > 0) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0 || buf[n] == '\n') {
            break;
        }
        n++;
    }
    buf[n] = '\0';
    return strncmp(buf, "listening ", 10) ? 0 : atoi(buf + 10);
}

static void mock_start(void)
{
    int out[2];
    const char *script = SRCDIR "/t/tools/intune-mock.py";

    dir = t_tmpdir();
    state_file = apr_pstrcat(test_pool, dir, "/state", NULL);
    log_file = apr_pstrcat(test_pool, dir, "/log", NULL);
    if (!have_python3()) {
        skip_reason = "python3 is not on the PATH";
        return;
    }
    make_server_cert();
    ck_assert_int_eq(pipe(out), 0);
    if ((mock_pid = fork()) == 0) {
        int err = open(apr_pstrcat(test_pool, dir, "/mock.err", NULL),
                       O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(out[1], 1);
        if (err >= 0) {
            dup2(err, 2);
        }
        close(out[0]);
        execlp("python3", "python3", script, "--port", "0", "--cert", ca_file,
               "--key", apr_pstrcat(test_pool, dir, "/mock.key", NULL), "--log", log_file,
               "--state", state_file, "--tenant", TENANT, "--client-id", CLIENT_ID,
               "--secret", SECRET, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    mock_port = read_port(out[0]);
    close(out[0]);
    if (!mock_port) {
        skip_reason = apr_pstrcat(test_pool, "the mock did not start (see ", dir,
                                  "/mock.err)", NULL);
    }
    scep_http_global_init(test_pool);
}

static void mock_stop(void)
{
    if (mock_pid > 0) {
        kill(mock_pid, SIGTERM);
        waitpid(mock_pid, NULL, 0);
        mock_pid = 0;
    }
    mock_port = 0;
}

#define NEED_MOCK()                                                         \
    do {                                                                    \
        if (!mock_port) {                                                   \
            printf("%s: skipped: %s\n", __func__, skip_reason);             \
            return;                                                         \
        }                                                                   \
    } while (0)

/**** what a test does with it *******************************************/

/* The log lines of the core, to check what they never show. */
typedef struct seen_t {
    apr_pool_t *pool;
    const char *all;
} seen_t;

static void keep_log(void *baton, const char *file, int line, scep_log_level_t level,
                     apr_status_t rv, const char *msg)
{
    seen_t *s = baton;

    t_quiet_log(NULL, file, line, level, rv, msg);
    s->all = apr_pstrcat(s->pool, s->all, msg, "\n", NULL);
}

typedef struct env_t {
    apr_pool_t *pool;
    scep_ctx_t ctx;
    seen_t seen;
    scep_http_t *http;
    scep_intune_conf_t conf;
} env_t;

static const char *url(const char *path)
{
    return apr_psprintf(test_pool, "https://127.0.0.1:%d%s", mock_port, path);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh client configuration for the mock, the state scripted, the log
 * emptied. */
static env_t *env_make(const char *state)
{
    env_t *e = apr_pcalloc(test_pool, sizeof(*e));

    apr_pool_create(&e->pool, test_pool);
    e->seen.pool = e->pool;
    e->seen.all = "";
    e->ctx.pool = e->pool;
    e->ctx.log = keep_log;
    e->ctx.log_baton = &e->seen;
    e->ctx.log_level = SCEP_LOG_TRACE2;
    ck_assert_int_eq(scep_http_make(&e->http, e->pool), APR_SUCCESS);
    e->conf.tenant = TENANT;
    e->conf.client_id = CLIENT_ID;
    e->conf.client_secret = (const unsigned char *)SECRET "\n";   /* as read from a file */
    e->conf.client_secret_len = strlen(SECRET) + 1;
    e->conf.caller_info = CALLER;
    e->conf.token_url = url("/" TENANT "/oauth2/v2.0/token");
    e->conf.discovery_url = url("/v1.0/servicePrincipals/appId=" SCEP_INTUNE_APP_ID
                                "/endpoints");
    scep_http_conf_init(&e->conf.http);
    e->conf.http.ca_file = ca_file;
    write_file(state_file, state);
    write_file(log_file, "");
    return e;
}

/* A PKCS#10 request (DER) with this challengePassword (NULL: none). */
static const unsigned char *csr_with(apr_size_t *plen, const char *challenge)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    unsigned char *der = NULL, *copy;
    int len;

    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"device-1",
                               -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, key);
    if (challenge) {
        X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                                  (const unsigned char *)challenge, -1);
    }
    X509_REQ_sign(req, key, EVP_sha256());
    len = i2d_X509_REQ(req, &der);
    copy = t_pool_der(der, len, plen);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return copy;
}

static scep_validation_t request_with(const char *tid, const char *challenge)
{
    scep_validation_t v;

    memset(&v, 0, sizeof(v));
    v.transaction_id = tid;
    v.challenge = challenge;
    v.challenge_len = challenge ? strlen(challenge) : 0;
    v.csr_der = csr_with(&v.csr_len, challenge);
    return v;
}

static scep_verdict_t validate(env_t *e, scep_intune_t *in, const char *challenge)
{
    scep_verdict_t out;
    scep_validation_t v = request_with("tid-0001", challenge);

    ck_assert_int_eq(scep_intune_validate(&out, &e->ctx, e->http, in, &v), APR_SUCCESS);
    ck_assert_ptr_nonnull(out.reason);
    return out;
}

/* The mock's log: the records whose path ends with suffix (and, when
 * status is not 0, answered with it). */
static json_t *records(const char *suffix, int status)
{
    json_t *all = json_array();
    FILE *f = fopen(log_file, "r");
    char line[65536];

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        json_t *r = json_loads(line, 0, NULL);
        const char *path = r ? json_string_value(json_object_get(r, "path")) : NULL;
        size_t pl = path ? strlen(path) : 0, sl = strlen(suffix);
        if (path && pl >= sl && !strcmp(path + pl - sl, suffix)
            && (!status || json_integer_value(json_object_get(r, "status")) == status)) {
            json_array_append(all, r);
        }
        json_decref(r);
    }
    fclose(f);
    return all;
}

static size_t count(const char *suffix, int status)
{
    json_t *r = records(suffix, status);
    size_t n = json_array_size(r);

    json_decref(r);
    return n;
}

#define TOKEN     "/oauth2/v2.0/token"
#define DISCOVERY "/endpoints"
#define VALIDATE  "/ScepActions/validateRequest"

/* Nothing the core logged holds a secret, a token or the challenge. */
static void assert_discreet(env_t *e)
{
    ck_assert_ptr_null(strstr(e->seen.all, SECRET));
    ck_assert_ptr_null(strstr(e->seen.all, "mock-intune-"));
    ck_assert_ptr_null(strstr(e->seen.all, "mock-graph-"));
    ck_assert_ptr_null(strstr(e->seen.all, CHALLENGE));
}

/**** validation *********************************************************/

START_TEST(valid_challenge_allowed_as_the_library_asks)
{
    env_t *e;
    scep_intune_t *in;
    scep_verdict_t out;
    json_t *r, *h, *body;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\n");
    in = scep_intune_make(e->pool, &e->conf);
    ck_assert_ptr_nonnull(in);
    out = validate(e, in, CHALLENGE);
    ck_assert_int_eq(out.kind, SCEP_VERDICT_ALLOW);
    /* a Graph token, discovery, an Intune token, the call */
    ck_assert_uint_eq(count(TOKEN, 200), 2);
    ck_assert_uint_eq(count(DISCOVERY, 200), 1);
    ck_assert_uint_eq(count(VALIDATE, 200), 1);
    r = records(VALIDATE, 200);
    h = json_object_get(json_array_get(r, 0), "headers");
    body = json_object_get(json_object_get(json_array_get(r, 0), "body"), "request");
    ck_assert_str_eq(json_string_value(json_object_get(h, "api-version")), "2018-02-20");
    ck_assert_str_eq(json_string_value(json_object_get(h, "useragent")), CALLER);
    ck_assert_int_eq(strlen(json_string_value(json_object_get(h, "client-request-id"))), 36);
    ck_assert_str_eq(json_string_value(json_object_get(body, "transactionId")), "tid-0001");
    ck_assert_str_eq(json_string_value(json_object_get(body, "callerInfo")), CALLER);
    json_decref(r);
    /* the secret without the file's newline, the library's two scopes */
    r = records(TOKEN, 200);
    ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(
        json_array_get(r, 0), "body"), "client_secret"), "matches")));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        json_array_get(r, 1), "body"), "scope")), SCEP_INTUNE_SCOPE);
    json_decref(r);
    /* a second request: the tokens and the service URL are kept */
    ck_assert_int_eq(validate(e, in, CHALLENGE).kind, SCEP_VERDICT_ALLOW);
    ck_assert_uint_eq(count(TOKEN, 0), 2);
    ck_assert_uint_eq(count(DISCOVERY, 0), 1);
    ck_assert_uint_eq(count(VALIDATE, 200), 2);
    ck_assert_ptr_nonnull(strstr(e->seen.all, "SCEP00655"));
    assert_discreet(e);
}
END_TEST

START_TEST(invalid_or_missing_challenge_denied)
{
    env_t *e;
    scep_intune_t *in;
    scep_verdict_t out;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\ndeny expired-one ChallengeExpired\n");
    in = scep_intune_make(e->pool, &e->conf);
    out = validate(e, in, "not-" CHALLENGE);
    ck_assert_int_eq(out.kind, SCEP_VERDICT_DENY);
    ck_assert_ptr_nonnull(strstr(out.reason, "ChallengeDecryptionError"));
    out = validate(e, in, NULL);
    ck_assert_int_eq(out.kind, SCEP_VERDICT_DENY);
    ck_assert_ptr_nonnull(strstr(out.reason, "ChallengePasswordMissing"));
    out = validate(e, in, "expired-one");
    ck_assert_int_eq(out.kind, SCEP_VERDICT_DENY);
    ck_assert_str_eq(out.reason, "Intune: ChallengeExpired: The challenge was refused "
                     "(scripted).");
    ck_assert_ptr_nonnull(strstr(e->seen.all, "SCEP00656"));
}
END_TEST

START_TEST(expired_token_renewed_once)
{
    env_t *e;
    scep_intune_t *in;
    json_t *r;
    const char *first, *second;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\ntoken expire-next\n");
    in = scep_intune_make(e->pool, &e->conf);
    ck_assert_int_eq(validate(e, in, CHALLENGE).kind, SCEP_VERDICT_ALLOW);
    ck_assert_uint_eq(count(VALIDATE, 401), 1);
    ck_assert_uint_eq(count(VALIDATE, 200), 1);
    ck_assert_uint_eq(count(TOKEN, 200), 3);          /* Graph, Intune, Intune again */
    r = records(VALIDATE, 0);
    first = json_string_value(json_object_get(json_object_get(json_array_get(r, 0), "headers"),
                                              "authorization"));
    second = json_string_value(json_object_get(json_object_get(json_array_get(r, 1), "headers"),
                                               "authorization"));
    ck_assert_str_ne(first, second);
    json_decref(r);
    assert_discreet(e);
}
END_TEST

START_TEST(short_lived_token_renewed_before_it_expires)
{
    env_t *e;
    scep_intune_t *in;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\ntoken lifetime 1\n");
    e->conf.service_url = url("/ScepRequestValidationFEService/");
    in = scep_intune_make(e->pool, &e->conf);
    ck_assert_int_eq(validate(e, in, CHALLENGE).kind, SCEP_VERDICT_ALLOW);
    apr_sleep(apr_time_from_msec(600));               /* past half its life */
    ck_assert_int_eq(validate(e, in, CHALLENGE).kind, SCEP_VERDICT_ALLOW);
    ck_assert_uint_eq(count(TOKEN, 200), 2);
    ck_assert_uint_eq(count(VALIDATE, 401), 0);
}
END_TEST

START_TEST(fixed_service_url_skips_discovery)
{
    env_t *e;
    scep_intune_t *in;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\ndiscovery fail\n");
    e->conf.service_url = url("/ScepRequestValidationFEService");
    in = scep_intune_make(e->pool, &e->conf);
    ck_assert_int_eq(validate(e, in, CHALLENGE).kind, SCEP_VERDICT_ALLOW);
    ck_assert_uint_eq(count(DISCOVERY, 0), 0);
    ck_assert_uint_eq(count(TOKEN, 0), 1);            /* no Graph token */
}
END_TEST

/**** no usable answer ***************************************************/

START_TEST(discovery_failures_unavailable)
{
    static const struct {
        const char *state, *reason;
    } cases[] = {
        { "discovery fail\n", "Intune service discovery failed: HTTP 503" },
        { "discovery fail 403\n", "Application.Read.All" },
        { "discovery missing\n", "no ScepRequestValidationFEService among the 2 endpoints" },
    };
    size_t i;

    NEED_MOCK();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        env_t *e = env_make(apr_pstrcat(test_pool, "valid " CHALLENGE "\n", cases[i].state,
                                        NULL));
        scep_intune_t *in = scep_intune_make(e->pool, &e->conf);
        scep_verdict_t out = validate(e, in, CHALLENGE);

        ck_assert_int_eq(out.kind, SCEP_VERDICT_UNAVAILABLE);
        ck_assert_msg(strstr(out.reason, cases[i].reason), "%s", out.reason);
        ck_assert_uint_eq(count(VALIDATE, 0), 0);
        ck_assert_ptr_nonnull(strstr(e->seen.all, "SCEP00654"));
    }
}
END_TEST

START_TEST(wrong_secret_unavailable_without_showing_it)
{
    env_t *e;
    scep_intune_t *in;
    scep_verdict_t out;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\ntoken secret another-secret\n");
    in = scep_intune_make(e->pool, &e->conf);
    out = validate(e, in, CHALLENGE);
    ck_assert_int_eq(out.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_str_eq(out.reason, "Graph token request failed: HTTP 401 invalid_client "
                     "(AADSTS7000215)");
    assert_discreet(e);
    ck_assert_ptr_null(strstr(e->seen.all, "another-secret"));
}
END_TEST

START_TEST(service_failure_unavailable_then_rediscovered)
{
    env_t *e;
    scep_intune_t *in;
    scep_verdict_t out;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\nservice fail 503\n");
    in = scep_intune_make(e->pool, &e->conf);
    out = validate(e, in, CHALLENGE);
    ck_assert_int_eq(out.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_str_eq(out.reason, "Intune validateRequest failed: HTTP 503");
    write_file(state_file, "valid " CHALLENGE "\n");
    ck_assert_int_eq(validate(e, in, CHALLENGE).kind, SCEP_VERDICT_ALLOW);
    ck_assert_uint_eq(count(DISCOVERY, 200), 2);      /* the failed URL was forgotten */
}
END_TEST

START_TEST(unreachable_service_unavailable)
{
    env_t *e;
    scep_intune_t *in;
    scep_verdict_t out;

    NEED_MOCK();
    e = env_make("");
    e->conf.token_url = "https://127.0.0.1:1/" TENANT "/oauth2/v2.0/token";
    in = scep_intune_make(e->pool, &e->conf);
    out = validate(e, in, CHALLENGE);
    ck_assert_int_eq(out.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_msg(strstr(out.reason, "Graph token request failed: ") == out.reason,
                  "%s", out.reason);
}
END_TEST

/* Four threads on a cold client: one token of each kind, one discovery. */
typedef struct worker_t {
    apr_pool_t *pool;
    scep_http_t *http;
    scep_intune_t *in;
    scep_validation_t v;
    scep_verdict_kind_t kind;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    scep_ctx_t ctx = { w->pool, t_quiet_log, NULL, SCEP_LOG_TRACE2, NULL };
    scep_verdict_t out;

    scep_intune_validate(&out, &ctx, w->http, w->in, &w->v);
    w->kind = out.kind;
    /* a plain return: gcc 12's ASan takes apr_thread_exit for a stack overflow */
    (void)t;
    return NULL;
}

START_TEST(threads_share_one_token_and_one_discovery)
{
    env_t *e;
    scep_intune_t *in;
    worker_t w[4];
    apr_thread_t *th[4];
    apr_status_t rv;
    int i;

    NEED_MOCK();
    e = env_make("valid " CHALLENGE "\n");
    in = scep_intune_make(e->pool, &e->conf);
    for (i = 0; i < 4; i++) {
        apr_pool_create(&w[i].pool, e->pool);
        w[i].http = e->http;
        w[i].in = in;
        w[i].v = request_with("tid-threads", CHALLENGE);
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, worker, &w[i], e->pool), APR_SUCCESS);
    }
    for (i = 0; i < 4; i++) {
        apr_thread_join(&rv, th[i]);
        ck_assert_int_eq(w[i].kind, SCEP_VERDICT_ALLOW);
    }
    ck_assert_uint_eq(count(TOKEN, 0), 2);
    ck_assert_uint_eq(count(DISCOVERY, 0), 1);
    ck_assert_uint_eq(count(VALIDATE, 200), 4);
}
END_TEST

/**** notifications ******************************************************/

static scep_intune_event_t *issued_event(void)
{
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = t_cert(ca_key, NULL, NULL, "Unit Issuing CA", NULL, 1, 30);
    X509 *x = t_cert(key, ca, ca_key, "device-1", NULL, 0, 10);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    scep_intune_event_t *ev = NULL;
    apr_size_t csr_len;
    const unsigned char *csr = csr_with(&csr_len, CHALLENGE);

    ck_assert_int_eq(scep_intune_event_issued(&ev, test_pool, "tid-0002", csr, csr_len,
                                              der, (apr_size_t)len), APR_SUCCESS);
    OPENSSL_free(der);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return ev;
}

START_TEST(success_notification_acknowledged)
{
    env_t *e;
    scep_intune_t *in;
    scep_intune_event_t *ev = issued_event();
    const char *reason = NULL;
    json_t *r, *n;

    NEED_MOCK();
    ck_assert_int_eq(strlen(ev->thumbprint), 40);
    ck_assert_str_eq(ev->issuing_ca, "CN=Unit Issuing CA");
    ck_assert_int_eq(strlen(ev->expires_utc), 24);
    e = env_make("");
    in = scep_intune_make(e->pool, &e->conf);
    ck_assert_int_eq(scep_intune_notify_success(&reason, &e->ctx, e->http, in, ev),
                     APR_SUCCESS);
    r = records("/ScepActions/successNotification", 200);
    ck_assert_uint_eq(json_array_size(r), 1);
    n = json_object_get(json_object_get(json_array_get(r, 0), "body"), "notification");
    ck_assert_str_eq(json_string_value(json_object_get(n, "certificateSerialNumber")),
                     ev->serial);
    ck_assert_str_eq(json_string_value(json_object_get(n, "certificateExpirationDateUtc")),
                     ev->expires_utc);
    ck_assert(json_is_null(json_object_get(n, "caConfiguration")));
    json_decref(r);
    /* the failure function refuses a success event; Intune may refuse one */
    ck_assert_int_eq(scep_intune_notify_failure(&reason, &e->ctx, e->http, in, ev),
                     APR_EINVAL);
    write_file(state_file, "notify refuse SigningCertThumbprintMismatch\n");
    ck_assert_int_eq(scep_intune_notify(&reason, &e->ctx, e->http, in, ev),
                     SCEP_EINTUNE_REFUSED);
    ck_assert_ptr_nonnull(strstr(reason, "SigningCertThumbprintMismatch"));
    write_file(state_file, "service fail 500\n");
    ck_assert_int_eq(scep_intune_notify(&reason, &e->ctx, e->http, in, ev), SCEP_EHTTP);
    ck_assert_ptr_nonnull(strstr(e->seen.all, "SCEP00657"));
    ck_assert_ptr_nonnull(strstr(e->seen.all, "SCEP00658"));
}
END_TEST

START_TEST(failure_notification_acknowledged)
{
    env_t *e;
    scep_intune_t *in;
    scep_intune_event_t ev;
    char longtext[301];
    json_t *r, *n;

    NEED_MOCK();
    memset(longtext, 'x', 300);
    longtext[300] = '\0';
    memset(&ev, 0, sizeof(ev));
    ev.kind = SCEP_INTUNE_EVENT_FAILURE;
    ev.transaction_id = "tid-0003";
    ev.csr_der = csr_with(&ev.csr_len, CHALLENGE);
    ev.hresult = SCEP_INTUNE_E_FAIL;
    ev.error_description = longtext;              /* the mock refuses over 255 */
    e = env_make("");
    in = scep_intune_make(e->pool, &e->conf);
    ck_assert_int_eq(scep_intune_notify_failure(NULL, &e->ctx, e->http, in, &ev), APR_SUCCESS);
    r = records("/ScepActions/failureNotification", 200);
    n = json_object_get(json_object_get(json_array_get(r, 0), "body"), "notification");
    ck_assert_int_eq(json_integer_value(json_object_get(n, "hResult")), 0x80004005LL);
    ck_assert_int_le(strlen(json_string_value(json_object_get(n, "errorDescription"))), 255);
    json_decref(r);
}
END_TEST

/**** events as JSON, configuration **************************************/

START_TEST(event_json_round_trip)
{
    scep_intune_event_t *ev = issued_event(), *back = NULL, f;
    const char *json = NULL, *err = NULL;

    ev->certificate_authority = "ca.example";
    ck_assert_int_eq(scep_intune_event_to_json(&json, test_pool, ev), APR_SUCCESS);
    ck_assert_int_eq(scep_intune_event_from_json(&back, &err, test_pool, json, strlen(json)),
                     APR_SUCCESS);
    ck_assert_int_eq(back->kind, SCEP_INTUNE_EVENT_SUCCESS);
    ck_assert_str_eq(back->transaction_id, ev->transaction_id);
    ck_assert_uint_eq(back->csr_len, ev->csr_len);
    ck_assert(memcmp(back->csr_der, ev->csr_der, ev->csr_len) == 0);
    ck_assert_str_eq(back->thumbprint, ev->thumbprint);
    ck_assert_str_eq(back->serial, ev->serial);
    ck_assert_str_eq(back->expires_utc, ev->expires_utc);
    ck_assert_str_eq(back->issuing_ca, ev->issuing_ca);
    ck_assert_ptr_null(back->ca_configuration);
    ck_assert_str_eq(back->certificate_authority, "ca.example");

    memset(&f, 0, sizeof(f));
    f.kind = SCEP_INTUNE_EVENT_FAILURE;
    f.transaction_id = "tid-f";
    f.csr_der = ev->csr_der;
    f.csr_len = ev->csr_len;
    f.hresult = -2147467259LL;                    /* E_FAIL as a signed 32-bit value */
    f.error_description = "CA unreachable";
    ck_assert_int_eq(scep_intune_event_to_json(&json, test_pool, &f), APR_SUCCESS);
    ck_assert_int_eq(scep_intune_event_from_json(&back, NULL, test_pool, json, strlen(json)),
                     APR_SUCCESS);
    ck_assert_int_eq(back->kind, SCEP_INTUNE_EVENT_FAILURE);
    ck_assert(back->hresult == -2147467259LL);
    ck_assert_str_eq(back->error_description, "CA unreachable");
}
END_TEST

START_TEST(event_json_refuses_what_it_did_not_write)
{
    static const char *bad[] = {
        "", "[]", "{\"v\":1}", "{\"v\":2,\"kind\":\"failure\"}",
        "{\"v\":1,\"kind\":\"other\",\"transactionId\":\"t\",\"certificateRequest\":\"AAAA\"}",
        "{\"v\":1,\"kind\":\"failure\",\"transactionId\":\"t\",\"certificateRequest\":\"AAAA\","
        "\"hResult\":\"1\",\"errorDescription\":\"x\"}",
        "{\"v\":1,\"kind\":\"failure\",\"transactionId\":\"t\",\"certificateRequest\":\"*\","
        "\"hResult\":1,\"errorDescription\":\"x\"}",
        "{\"v\":1,\"kind\":\"success\",\"transactionId\":\"t\",\"certificateRequest\":\"AAAA\","
        "\"certificateThumbprint\":\"AB\",\"certificateSerialNumber\":1}",
        "{\"v\":1,\"kind\":\"failure\",\"transactionId\":\"\",\"certificateRequest\":\"AAAA\","
        "\"hResult\":1,\"errorDescription\":\"x\"}",
    };
    scep_intune_event_t *ev = NULL, empty;
    const char *err = NULL, *json = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(scep_intune_event_from_json(&ev, &err, test_pool, bad[i],
                                                     strlen(bad[i])), APR_EINVAL);
        ck_assert_ptr_nonnull(err);
    }
    memset(&empty, 0, sizeof(empty));
    empty.kind = SCEP_INTUNE_EVENT_SUCCESS;
    ck_assert_int_eq(scep_intune_event_to_json(&json, test_pool, &empty), APR_EINVAL);
}
END_TEST

START_TEST(conf_check_names_what_is_missing)
{
    scep_intune_conf_t c;

    memset(&c, 0, sizeof(c));
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "tenant"));
    c.tenant = "contoso/../x";
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "neither a GUID"));
    c.tenant = TENANT;
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "client) ID"));
    c.client_id = CLIENT_ID;
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "secret"));
    c.client_secret = (const unsigned char *)"\r\n";   /* an empty file's line break */
    c.client_secret_len = 2;
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "secret"));
    c.client_secret = (const unsigned char *)SECRET;
    c.client_secret_len = strlen(SECRET);
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "caller"));
    c.caller_info = CALLER;
    ck_assert_ptr_null(scep_intune_conf_check(test_pool, &c));
    c.service_url = "http://intune.example/x";
    ck_assert_ptr_nonnull(strstr(scep_intune_conf_check(test_pool, &c), "https://"));
    ck_assert_ptr_null(scep_intune_make(test_pool, &c));
}
END_TEST

Suite *intune_suite(void)
{
    Suite *s = suite_create("intune");
    TCase *tc = tcase_create("mock");
    TCase *plain = tcase_create("events");

    tcase_add_unchecked_fixture(tc, mock_start, mock_stop);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, valid_challenge_allowed_as_the_library_asks);
    tcase_add_test(tc, invalid_or_missing_challenge_denied);
    tcase_add_test(tc, expired_token_renewed_once);
    tcase_add_test(tc, short_lived_token_renewed_before_it_expires);
    tcase_add_test(tc, fixed_service_url_skips_discovery);
    tcase_add_test(tc, discovery_failures_unavailable);
    tcase_add_test(tc, wrong_secret_unavailable_without_showing_it);
    tcase_add_test(tc, service_failure_unavailable_then_rediscovered);
    tcase_add_test(tc, unreachable_service_unavailable);
    tcase_add_test(tc, threads_share_one_token_and_one_discovery);
    tcase_add_test(tc, success_notification_acknowledged);
    tcase_add_test(tc, failure_notification_acknowledged);
    suite_add_tcase(s, tc);
    tcase_set_timeout(plain, 60);
    tcase_add_test(plain, event_json_round_trip);
    tcase_add_test(plain, event_json_refuses_what_it_did_not_write);
    tcase_add_test(plain, conf_check_names_what_is_missing);
    suite_add_tcase(s, plain);
    return s;
}
