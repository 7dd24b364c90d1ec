/* Unit tests: scep_http against a real HTTPS server (t/tools/https-echo.py),
 * and the helpers that start such servers for the other suites. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <apr_thread_proc.h>
#include <jansson.h>
#include <openssl/x509v3.h>

#include "tests.h"
#include "scep_http.h"

/* ---- helpers: a PKI for TLS, servers in python3 ------------------------- */

/* A certificate for 127.0.0.1 only (not "localhost"), signed by ca. */
static X509 *server_cert(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
    X509 *x = t_cert(key, ca, ca_key, "127.0.0.1", "critical,digitalSignature", 0, 2);

    t_add_ext(x, ca, NID_subject_alt_name, "IP:127.0.0.1");
    X509_sign(x, ca_key, EVP_sha256());
    return x;
}

const t_tls_pki_t *t_tls_pki(apr_pool_t *pool)
{
    t_tls_pki_t *pki = apr_pcalloc(pool, sizeof(*pki));
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256"),
             *other_key = EVP_EC_gen("P-256");
    X509 *ca = t_cert(ca_key, NULL, NULL, "Unit TLS CA", "critical,keyCertSign,cRLSign", 1, 2);
    X509 *other = t_cert(other_key, NULL, NULL, "Other TLS CA", "critical,keyCertSign,cRLSign",
                         1, 2);
    X509 *srv = server_cert(key, ca, ca_key);

    pki->dir = t_tmpdir();
    pki->ca = t_write_pem(pki->dir, "ca.pem", ca, NULL);
    pki->other_ca = t_write_pem(pki->dir, "other-ca.pem", other, NULL);
    pki->server_cert = t_write_pem(pki->dir, "server.pem", srv, NULL);
    pki->server_key = t_write_pem(pki->dir, "server.key", NULL, key);
    X509_free(ca);
    X509_free(other);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    return pki;
}

int t_have_python3(const char *suite)
{
    const char *path = getenv("PATH");
    char *dirs = strdup(path ? path : "/usr/bin:/bin"), *dir, *save = NULL;
    char file[4096];
    int found = 0;

    for (dir = strtok_r(dirs, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof(file), "%s/python3", *dir ? dir : ".");
        found = access(file, X_OK) == 0;
    }
    free(dirs);
    if (!found) {
        fprintf(stderr, "SKIP %s: python3 is not on PATH, its live HTTPS cases do not run\n",
                suite);
    }
    return found;
}

/* The port in the server's first line "listening N", within 30 s; or -1. */
static int read_port(int fd)
{
    char line[128];
    size_t len = 0;
    struct pollfd pfd = { fd, POLLIN, 0 };
    int port = -1;

    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        ssize_t n;

        if (poll(&pfd, 1, 30000) <= 0) {
            break;
        }
        if ((n = read(fd, line + len, sizeof(line) - 1 - len)) <= 0) {
            break;
        }
        len += (size_t)n;
    }
    line[len] = '\0';
    if (sscanf(line, "listening %d", &port) != 1) {
        fprintf(stderr, "server did not start: \"%s\"\n", line);
        return -1;
    }
    return port;
}

int t_server_start(pid_t *ppid, const char *script, const char *const *args)
{
    const char *argv[32];
    int fds[2], n = 0, port;
    pid_t pid;

    argv[n++] = "python3";
    argv[n++] = apr_pstrcat(test_pool, SRCDIR, "/t/tools/", script, NULL);
    while (*args && n < 30) {
        argv[n++] = *args++;
    }
    argv[n] = NULL;
    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    port = read_port(fds[0]);
    close(fds[0]);
    *ppid = pid;
    if (port < 0) {
        t_server_stop(pid);
        *ppid = 0;
    }
    return port;
}

void t_server_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
}

/* ---- the live cases ----------------------------------------------------- */

static apr_pool_t *fix_pool;
static const t_tls_pki_t *pki;
static scep_http_t *http;
static pid_t echo_pid;
static int echo_port = -1;

static void live_setup(void)
{
    const char *args[6];

    apr_pool_create(&fix_pool, test_pool);
    pki = t_tls_pki(fix_pool);
    args[0] = "--cert"; args[1] = pki->server_cert;
    args[2] = "--key"; args[3] = pki->server_key;
    args[4] = NULL;
    echo_port = t_server_start(&echo_pid, "https-echo.py", args);
    if (scep_http_global_init(fix_pool) != APR_SUCCESS
        || scep_http_make(&http, fix_pool) != APR_SUCCESS) {
        http = NULL;
    }
}

static void live_teardown(void)
{
    t_server_stop(echo_pid);
    apr_pool_destroy(fix_pool);       /* the client, then curl_global_cleanup */
    http = NULL;
}

static scep_ctx_t *new_ctx(void)
{
    scep_ctx_t *ctx = apr_pcalloc(test_pool, sizeof(*ctx));

    apr_pool_create(&ctx->pool, test_pool);
    ctx->log = t_quiet_log;
    ctx->log_level = SCEP_LOG_TRACE2;
    return ctx;
}

/* One request to the echo server (host "127.0.0.1" unless given). */
static apr_status_t call(scep_http_response_t *resp, scep_ctx_t *ctx, const char *method,
                         const char *host, const char *path, const scep_http_conf_t *conf,
                         const apr_array_header_t *headers, const char *body)
{
    scep_http_request_t req;

    ck_assert_msg(echo_port > 0 && http, "the echo server or the client did not start");
    req.method = method;
    req.url = apr_psprintf(ctx->pool, "https://%s:%d%s", host ? host : "127.0.0.1", echo_port,
                           path);
    req.headers = headers;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.conf = conf;
    return scep_http_send(resp, ctx, http, &req);
}

static scep_http_conf_t trusting(const char *ca)
{
    scep_http_conf_t conf;

    scep_http_conf_init(&conf);
    conf.ca_file = ca;
    return conf;
}

START_TEST(conf_defaults)
{
    scep_http_conf_t conf;

    memset(&conf, 0x5a, sizeof(conf));
    scep_http_conf_init(&conf);
    ck_assert_ptr_null(conf.ca_file);
    ck_assert_ptr_null(conf.proxy);
    ck_assert_ptr_null(conf.client_cert);
    ck_assert_ptr_null(conf.client_key);
    ck_assert_int_eq(conf.connect_timeout, apr_time_from_sec(5));
    ck_assert_int_eq(conf.timeout, apr_time_from_sec(10));
    ck_assert_uint_eq(conf.max_response, 65536);
}
END_TEST

START_TEST(post_with_headers_over_verified_tls)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->ca);
    apr_array_header_t *h = apr_array_make(ctx->pool, 2, sizeof(const char *));
    scep_http_response_t resp;
    json_t *echo;

    APR_ARRAY_PUSH(h, const char *) = "Content-Type: application/json";
    APR_ARRAY_PUSH(h, const char *) = "X-Unit: yes";
    ck_assert_int_eq(call(&resp, ctx, "POST", NULL, "/echo", &conf, h, "{\"a\":1}"),
                     APR_SUCCESS);
    ck_assert_int_eq(resp.status, 200);
    ck_assert_ptr_null(resp.error);
    ck_assert_str_eq(resp.content_type, "application/json");
    ck_assert_uint_eq(strlen(resp.body), resp.len);
    echo = json_loadb(resp.body, resp.len, 0, NULL);
    ck_assert_ptr_nonnull(echo);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), "POST");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), "{\"a\":1}");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(echo, "headers"),
                                                       "X-Unit")), "yes");
    /* no 100-continue, whatever the body's size */
    ck_assert_ptr_null(json_object_get(json_object_get(echo, "headers"), "Expect"));
    json_decref(echo);
    /* a GET on the same client (and, maybe, the same connection) */
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/big/10", &conf, NULL, NULL), APR_SUCCESS);
    ck_assert_str_eq(resp.body, "xxxxxxxxxx");
}
END_TEST

START_TEST(untrusted_server_fails)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->other_ca);
    scep_http_response_t resp;

    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/echo", &conf, NULL, NULL), SCEP_EHTTP);
    ck_assert_int_eq(resp.status, 0);
    ck_assert_ptr_nonnull(resp.error);
    ck_assert_msg(strstr(resp.error, "certificate") != NULL, "error: %s", resp.error);
    ck_assert_str_eq(resp.body ? resp.body : "", "");
}
END_TEST

START_TEST(another_host_name_fails)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->ca);
    scep_http_response_t resp;

    /* the certificate names 127.0.0.1, not localhost */
    ck_assert_int_eq(call(&resp, ctx, "GET", "localhost", "/echo", &conf, NULL, NULL),
                     SCEP_EHTTP);
    ck_assert_ptr_nonnull(resp.error);
}
END_TEST

START_TEST(slow_server_times_out)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->ca);
    scep_http_response_t resp;
    apr_time_t start = apr_time_now(), took;

    conf.timeout = apr_time_from_sec(1);
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/sleep/3", &conf, NULL, NULL), SCEP_EHTTP);
    took = apr_time_now() - start;
    ck_assert_msg(strstr(resp.error, "timed out") != NULL, "error: %s", resp.error);
    ck_assert_int_ge(took, apr_time_from_msec(900));
    ck_assert_msg(took < apr_time_from_msec(2900), "took %d ms", (int)apr_time_as_msec(took));
}
END_TEST

START_TEST(answer_over_the_cap_is_an_error)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->ca);
    scep_http_response_t resp;

    conf.max_response = 1000;
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/big/1000", &conf, NULL, NULL), APR_SUCCESS);
    ck_assert_uint_eq(resp.len, 1000);
    /* announced by Content-Length */
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/big/1001", &conf, NULL, NULL), SCEP_EHTTP);
    ck_assert_str_eq(resp.error, "answer larger than 1000 bytes");
    /* found out while reading */
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/stream/5000", &conf, NULL, NULL),
                     SCEP_EHTTP);
    ck_assert_str_eq(resp.error, "answer larger than 1000 bytes");
    ck_assert_int_eq(resp.status, 200);
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/stream/900", &conf, NULL, NULL),
                     APR_SUCCESS);
    ck_assert_uint_eq(resp.len, 900);
}
END_TEST

START_TEST(any_status_is_an_answer_and_redirects_are_not_followed)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->ca);
    scep_http_response_t resp;

    ck_assert_int_eq(call(&resp, ctx, "POST", NULL, "/status/503", &conf, NULL, "x"),
                     APR_SUCCESS);
    ck_assert_int_eq(resp.status, 503);
    ck_assert_str_eq(resp.body, "status 503");
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/redirect", &conf, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(resp.status, 302);
    ck_assert_str_eq(resp.body, "moved");
}
END_TEST

START_TEST(environment_proxy_is_ignored_and_other_schemes_refused)
{
    scep_ctx_t *ctx = new_ctx();
    scep_http_conf_t conf = trusting(pki->ca);
    scep_http_response_t resp;
    scep_http_request_t req = { "GET", "file:///etc/hostname", NULL, NULL, 0, &conf };

    /* nothing listens on port 9: going through it would fail */
    setenv("https_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
    ck_assert_int_eq(call(&resp, ctx, "GET", NULL, "/echo", &conf, NULL, NULL), APR_SUCCESS);
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    ck_assert_int_eq(scep_http_send(&resp, ctx, http, &req), SCEP_EHTTP);
    req.url = apr_psprintf(ctx->pool, "ftp://127.0.0.1:%d/", echo_port);
    ck_assert_int_eq(scep_http_send(&resp, ctx, http, &req), SCEP_EHTTP);
}
END_TEST

/* Threads of one child share one client. */
#define THREADS 8
#define CALLS 4

typedef struct {
    scep_ctx_t ctx;
    const scep_http_conf_t *conf;
    int ok;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    scep_http_response_t resp;
    int i;

    for (i = 0; i < CALLS; i++) {
        if (call(&resp, &w->ctx, "POST", NULL, "/echo", w->conf, NULL, "ping") == APR_SUCCESS
            && resp.status == 200) {
            w->ok++;
        }
    }
    (void)t;
    /* a plain return: apr_thread_exit's pthread_exit trips ASan (gcc 12) */
    return NULL;
}

START_TEST(threads_share_one_client)
{
    scep_http_conf_t conf = trusting(pki->ca);
    apr_thread_t *threads[THREADS];
    worker_t w[THREADS];
    apr_status_t trv;
    int i;

    ck_assert_msg(echo_port > 0 && http, "the echo server or the client did not start");
    for (i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        apr_pool_create(&w[i].ctx.pool, test_pool);   /* made here: pools are not shared */
        w[i].ctx.log = t_quiet_log;
        w[i].conf = &conf;
    }
    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(apr_thread_create(&threads[i], NULL, worker, &w[i], test_pool),
                         APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        apr_thread_join(&trv, threads[i]);
        ck_assert_int_eq(w[i].ok, CALLS);
    }
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("conf"), *live;

    tcase_add_test(tc, conf_defaults);
    suite_add_tcase(s, tc);
    if (t_have_python3("http")) {
        live = tcase_create("live");
        tcase_add_unchecked_fixture(live, live_setup, live_teardown);
        tcase_set_timeout(live, 60);
        tcase_add_test(live, post_with_headers_over_verified_tls);
        tcase_add_test(live, untrusted_server_fails);
        tcase_add_test(live, another_host_name_fails);
        tcase_add_test(live, slow_server_times_out);
        tcase_add_test(live, answer_over_the_cap_is_an_error);
        tcase_add_test(live, any_status_is_an_answer_and_redirects_are_not_followed);
        tcase_add_test(live, environment_proxy_is_ignored_and_other_schemes_refused);
        tcase_add_test(live, threads_share_one_client);
        suite_add_tcase(s, live);
    }
    return s;
}
