/* Unit tests: the validation webhook (body, signature, verdict), and the
 * whole call against t/tools/webhook-receiver.py. */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "tests.h"
#include "scep_webhook.h"

#define NOW 1700000000

static scep_validation_t sample(apr_pool_t *p)
{
    scep_validation_t v;
    apr_array_header_t *sans = apr_array_make(p, 2, sizeof(const char *));

    APR_ARRAY_PUSH(sans, const char *) = "DNS:device.example";
    APR_ARRAY_PUSH(sans, const char *) = "IP:10.0.0.1";
    memset(&v, 0, sizeof(v));
    v.transaction_id = "tid-0001";
    v.location = "/scep";
    v.ca = "AB12CD";
    v.challenge = "one-time";
    v.challenge_len = 8;
    v.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    v.subject = "CN=device,O=Example";
    v.sans = sans;
    v.key_type = "RSA";
    v.key_bits = 2048;
    v.client_addr = "192.0.2.7";
    return v;
}

static json_t *parsed(const char *body)
{
    json_error_t err;
    json_t *j;

    ck_assert_ptr_nonnull(body);
    j = json_loads(body, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(j != NULL, "not JSON: %s", err.text);
    return j;
}

static const char *member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    ck_assert_msg(json_is_string(v), "\"%s\" is not a string", key);
    return json_string_value(v);
}

/* ---- the body ----------------------------------------------------------- */

START_TEST(body_carries_every_fact)
{
    scep_validation_t v = sample(test_pool);
    const char *body = scep_webhook_body(test_pool, &v, NOW);
    json_t *j = parsed(body), *sans = json_object_get(j, "sans"), *key = json_object_get(j, "key");

    ck_assert_uint_eq(json_object_size(j), 14);
    ck_assert_ptr_nonnull(strstr(body, "{\"type\":\"validate\",\"version\":1,"));  /* compact */
    ck_assert_str_eq(member(j, "type"), "validate");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "time")), NOW);
    ck_assert_str_eq(member(j, "transaction_id"), "tid-0001");
    ck_assert_str_eq(member(j, "location"), "/scep");
    ck_assert_str_eq(member(j, "ca"), "AB12CD");
    ck_assert_str_eq(member(j, "message_type"), "new");
    ck_assert_str_eq(member(j, "challenge"), "one-time");
    ck_assert_ptr_null(json_object_get(j, "challenge_base64"));
    ck_assert_str_eq(member(j, "csr"), v.csr_pem);
    ck_assert_str_eq(member(j, "subject"), "CN=device,O=Example");
    ck_assert_uint_eq(json_array_size(sans), 2);
    ck_assert_str_eq(json_string_value(json_array_get(sans, 0)), "DNS:device.example");
    ck_assert_str_eq(json_string_value(json_array_get(sans, 1)), "IP:10.0.0.1");
    ck_assert_str_eq(member(key, "type"), "RSA");
    ck_assert_int_eq(json_integer_value(json_object_get(key, "bits")), 2048);
    ck_assert_str_eq(member(j, "client_address"), "192.0.2.7");
    ck_assert(json_is_null(json_object_get(j, "signer_certificate")));
    json_decref(j);

    v.renewal = 1;
    v.signer_pem = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
    v.challenge = NULL;
    v.challenge_len = 0;
    v.sans = NULL;
    j = parsed(scep_webhook_body(test_pool, &v, NOW));
    ck_assert_str_eq(member(j, "message_type"), "renewal");
    ck_assert_str_eq(member(j, "signer_certificate"), v.signer_pem);
    ck_assert(json_is_null(json_object_get(j, "challenge")));
    ck_assert_ptr_null(json_object_get(j, "challenge_base64"));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "sans")), 0);
    json_decref(j);
}
END_TEST

/* The challenge as the body carries it: a string, or null and base64. */
static void check_challenge(const char *c, apr_size_t len, const char *str, const char *b64)
{
    scep_validation_t v = sample(test_pool);
    json_t *j;

    v.challenge = c;
    v.challenge_len = len;
    j = parsed(scep_webhook_body(test_pool, &v, NOW));
    if (str) {
        ck_assert_uint_eq(json_string_length(json_object_get(j, "challenge")), strlen(str));
        ck_assert_str_eq(member(j, "challenge"), str);
        ck_assert_ptr_null(json_object_get(j, "challenge_base64"));
    }
    else {
        ck_assert(json_is_null(json_object_get(j, "challenge")));
        ck_assert_str_eq(member(j, "challenge_base64"), b64);
    }
    json_decref(j);
}

START_TEST(challenge_not_utf8_goes_as_base64)
{
    check_challenge("p\xc3\xa4ssw\xc3\xb6rd", 10, "p\xc3\xa4ssw\xc3\xb6rd", NULL);
    check_challenge("quote\" and \\", 12, "quote\" and \\", NULL);
    check_challenge("\xff\xfe" "ab", 4, NULL, "//5hYg==");
    check_challenge("a\0b", 3, NULL, "YQBi");
    check_challenge("\xc0\xaf", 2, NULL, "wK8=");               /* overlong '/' */
    check_challenge("\xed\xa0\x80", 3, NULL, "7aCA");           /* a surrogate */
    check_challenge("", 0, "", NULL);
}
END_TEST

START_TEST(csr_pem_made_from_der)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_REQ *req = X509_REQ_new(), *back;
    unsigned char *der = NULL, *der2 = NULL;
    int len, len2;
    scep_validation_t v = sample(test_pool);
    json_t *j;
    BIO *bio;

    X509_REQ_set_pubkey(req, key);
    X509_REQ_sign(req, key, EVP_sha256());
    len = i2d_X509_REQ(req, &der);
    ck_assert_int_gt(len, 0);
    v.csr_pem = NULL;
    v.csr_der = der;
    v.csr_len = (apr_size_t)len;
    j = parsed(scep_webhook_body(test_pool, &v, NOW));
    bio = BIO_new_mem_buf(member(j, "csr"), -1);
    back = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(back);
    len2 = i2d_X509_REQ(back, &der2);
    ck_assert_int_eq(len2, len);
    ck_assert(memcmp(der, der2, (size_t)len) == 0);
    BIO_free(bio);
    X509_REQ_free(back);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    OPENSSL_free(der);
    OPENSSL_free(der2);
    json_decref(j);
}
END_TEST

/* ---- the signature ------------------------------------------------------ */

/* "sha256=" and the hex HMAC of ts "." body, by OpenSSL's HMAC() */
static const char *hmac_hex(const char *secret, const char *ts, const char *body)
{
    const char *msg = apr_pstrcat(test_pool, ts, ".", body, NULL);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char *out = apr_pstrdup(test_pool, "sha256=");

    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
                               (const unsigned char *)msg, strlen(msg), md, &n));
    for (i = 0; i < n; i++) {
        out = apr_psprintf(test_pool, "%s%02x", out, md[i]);
    }
    return out;
}

START_TEST(signature_is_hmac_sha256_of_timestamp_dot_body)
{
    const unsigned char *secret = (const unsigned char *)"webhook-secret";
    const char *body = "{\"type\":\"validate\",\"version\":1}";
    scep_validation_t v = sample(test_pool);
    const char *big = scep_webhook_body(test_pool, &v, NOW);

    /* computed with Python's hmac module */
    ck_assert_str_eq(scep_webhook_signature(test_pool, secret, 14, "1700000000", body,
                                            strlen(body)),
                     "sha256=cc9c9050ce7d3451af62983e378edd63e96856eb6ed01de93c01ab9de5e654a0");
    ck_assert_str_eq(scep_webhook_signature(test_pool, secret, 14, "1700000000", big,
                                            strlen(big)),
                     hmac_hex("webhook-secret", "1700000000", big));
    /* the length counts: a body with a NUL in it is signed whole */
    ck_assert_str_ne(scep_webhook_signature(test_pool, secret, 14, "1", "a\0b", 3),
                     scep_webhook_signature(test_pool, secret, 14, "1", "a", 1));
}
END_TEST

START_TEST(headers_sign_and_name_the_sender)
{
    const unsigned char *secret = (const unsigned char *)"webhook-secret";
    const char *body = "{\"allow\":true}";
    apr_array_header_t *h = scep_webhook_headers(test_pool, secret, 14, body, strlen(body), NOW);

    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->nelts, 4);
    ck_assert_str_eq(APR_ARRAY_IDX(h, 0, const char *), "Content-Type: application/json");
    ck_assert_str_eq(APR_ARRAY_IDX(h, 1, const char *), "User-Agent: mod_scep/" SCEP_VERSION);
    ck_assert_str_eq(APR_ARRAY_IDX(h, 2, const char *), "X-SCEP-Timestamp: 1700000000");
    ck_assert_str_eq(APR_ARRAY_IDX(h, 3, const char *),
                     apr_pstrcat(test_pool, "X-SCEP-Signature: ",
                                 hmac_hex("webhook-secret", "1700000000", body), NULL));
    h = scep_webhook_headers(test_pool, NULL, 0, body, strlen(body), NOW);
    ck_assert_int_eq(h->nelts, 3);
}
END_TEST

/* ---- the verdict -------------------------------------------------------- */

static scep_verdict_t verdict(int status, const char *body, int names)
{
    scep_http_response_t r = { status, "application/json", body, body ? strlen(body) : 0, NULL };
    scep_verdict_t v;

    memset(&v, 0x5a, sizeof(v));
    scep_webhook_verdict(&v, test_pool, &r, names);
    ck_assert_ptr_nonnull(v.reason);
    return v;
}

static void unavailable(int status, const char *body, int names, const char *reason)
{
    scep_verdict_t v = verdict(status, body, names);

    ck_assert_msg(v.kind == SCEP_VERDICT_UNAVAILABLE, "%d %s: kind %d", status, body, v.kind);
    ck_assert_msg(strstr(v.reason, reason) != NULL, "%s: reason \"%s\"", body, v.reason);
    ck_assert_ptr_null(v.subject);
    ck_assert_ptr_null(v.sans);
}

START_TEST(verdict_allow_and_deny)
{
    scep_verdict_t v = verdict(200, "{\"allow\":true}", 0);

    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_ptr_null(v.subject);
    ck_assert_ptr_null(v.sans);
    v = verdict(204, "{\"allow\":true,\"reason\":\"known device\",\"extra\":[1]}", 1);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_str_eq(v.reason, "known device");
    v = verdict(200, "{\"allow\":false,\"reason\":\"not in the inventory\"}", 1);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_DENY);
    ck_assert_str_eq(v.reason, "not in the inventory");
    v = verdict(200, "{\"allow\":false,\"reason\":null}", 0);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_DENY);
    /* a deny's names are not looked at */
    v = verdict(200, "{\"allow\":false,\"sans\":[42]}", 1);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_DENY);
    ck_assert_ptr_null(v.sans);
}
END_TEST

START_TEST(verdict_reason_is_bounded_and_log_safe)
{
    char body[2048], *r;
    scep_verdict_t v;
    int i;

    r = body + sprintf(body, "{\"allow\":false,\"reason\":\"line\\none\\u0007");
    for (i = 0; i < 700; i++) {
        *r++ = 'x';
    }
    strcpy(r, "\"}");
    v = verdict(200, body, 0);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_DENY);
    ck_assert_uint_eq(strlen(v.reason), SCEP_WEBHOOK_REASON_MAX + 3);
    ck_assert(strncmp(v.reason, "line?one?xxx", 12) == 0);
    ck_assert_str_eq(v.reason + SCEP_WEBHOOK_REASON_MAX, "...");
}
END_TEST

START_TEST(verdict_unavailable_says_why)
{
    unavailable(500, "{\"allow\":true}", 0, "the webhook answered HTTP 500");
    unavailable(302, "", 0, "the webhook answered HTTP 302");
    unavailable(0, NULL, 0, "the webhook answered HTTP 0");
    unavailable(200, "this is not JSON", 0, "the webhook's answer is not JSON");
    unavailable(200, "", 0, "the webhook's answer is not JSON");
    unavailable(200, NULL, 0, "the webhook's answer is not JSON");
    unavailable(200, "{\"allow\":true} trailing", 0, "is not JSON");
    unavailable(200, "{\"allow\":false,\"allow\":true}", 0, "is not JSON");  /* duplicate */
    unavailable(200, "[{\"allow\":true}]", 0, "is not a JSON object");
    unavailable(200, "{}", 0, "the webhook's answer has no boolean \"allow\"");
    unavailable(200, "{\"allow\":\"true\"}", 0, "no boolean \"allow\"");
    unavailable(200, "{\"allow\":1}", 0, "no boolean \"allow\"");
    unavailable(200, "{\"allow\":null}", 0, "no boolean \"allow\"");
    unavailable(200, "{\"Allow\":true}", 0, "no boolean \"allow\"");
    unavailable(200, "{\"allow\":true,\"reason\":7}", 0, "\"reason\" is not a string");
}
END_TEST

START_TEST(verdict_names_only_when_allowed)
{
    const char *body = "{\"allow\":true,\"reason\":\"ok\",\"subject\":\"CN=fixed,O=Example\","
                       "\"sans\":[\"DNS:a.example\",\"ip:10.0.0.2\",\"IP:2001:db8::1\","
                       "\"Email:me@example.org\",\"URI:https://example.org/d\","
                       "\"UPN:me@corp.example\"]}";
    scep_verdict_t v = verdict(200, body, 1);

    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_str_eq(v.reason, "ok");
    ck_assert_str_eq(v.subject, "CN=fixed,O=Example");
    ck_assert_int_eq(v.sans->nelts, 6);
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 0, const char *), "DNS:a.example");
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 1, const char *), "IP:10.0.0.2");  /* our spelling */
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 2, const char *), "IP:2001:db8::1");
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 3, const char *), "email:me@example.org");
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 4, const char *), "URI:https://example.org/d");
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 5, const char *), "UPN:me@corp.example");

    v = verdict(200, body, 0);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_ptr_null(v.subject);
    ck_assert_ptr_null(v.sans);
    ck_assert_str_eq(v.reason, "ok; names ignored: SCEPValidationWebhookNames is off");
    v = verdict(200, "{\"allow\":true,\"sans\":[\"not even a name\"]}", 0);
    ck_assert_str_eq(v.reason, "names ignored: SCEPValidationWebhookNames is off");

    /* [] fixes no SANs; an absent "sans" keeps the request's */
    v = verdict(200, "{\"allow\":true,\"sans\":[]}", 1);
    ck_assert_ptr_nonnull(v.sans);
    ck_assert_int_eq(v.sans->nelts, 0);
    ck_assert_ptr_null(v.subject);
    v = verdict(200, "{\"allow\":true,\"subject\":\"CN=x\",\"sans\":null}", 1);
    ck_assert_str_eq(v.subject, "CN=x");
    ck_assert_ptr_null(v.sans);
}
END_TEST

/* {"allow":true,"sans":[ n entries of len bytes "DNS:xxx..." ]} */
static const char *many_sans(int n, apr_size_t len)
{
    char *name = apr_palloc(test_pool, len + 1);
    const char *body = "{\"allow\":true,\"sans\":[";
    int i;

    memcpy(name, "DNS:", 4);
    memset(name + 4, 'a', len - 4);
    name[len] = '\0';
    for (i = 0; i < n; i++) {
        body = apr_pstrcat(test_pool, body, i ? "," : "", "\"", name, "\"", NULL);
    }
    return apr_pstrcat(test_pool, body, "]}", NULL);
}

START_TEST(verdict_malformed_names_are_unavailable)
{
    char subject[1100];
    scep_verdict_t v;

    ck_assert_int_eq(verdict(200, many_sans(64, 1024), 1).kind, SCEP_VERDICT_ALLOW);
    unavailable(200, many_sans(65, 10), 1, "\"sans\" is not an array of at most 64");
    unavailable(200, many_sans(3, 1025), 1, "\"sans\" entry 1 is malformed");
    unavailable(200, "{\"allow\":true,\"sans\":[\"DNS:a\",42]}", 1, "entry 2 is malformed");
    unavailable(200, "{\"allow\":true,\"sans\":[\"FOO:bar\"]}", 1, "entry 1 is malformed");
    unavailable(200, "{\"allow\":true,\"sans\":[\"a.example\"]}", 1, "entry 1 is malformed");
    unavailable(200, "{\"allow\":true,\"sans\":[\"DNS:\"]}", 1, "entry 1 is malformed");
    unavailable(200, "{\"allow\":true,\"sans\":[\"IP:10.0.0.300\"]}", 1, "entry 1");
    unavailable(200, "{\"allow\":true,\"sans\":[\"DNS:a\\nb\"]}", 1, "entry 1");
    /* jansson refuses \u0000 (without JSON_ALLOW_NUL): unavailable all the same */
    unavailable(200, "{\"allow\":true,\"sans\":[\"DNS:a\\u0000b\"]}", 1, "is not JSON");
    unavailable(200, "{\"allow\":true,\"sans\":\"DNS:a\"}", 1, "not an array");
    unavailable(200, "{\"allow\":true,\"subject\":42}", 1, "\"subject\" is malformed");
    unavailable(200, "{\"allow\":true,\"subject\":\"\"}", 1, "\"subject\" is malformed");
    /* the subject is not kept when the sans are malformed */
    unavailable(200, "{\"allow\":true,\"subject\":\"CN=a\",\"sans\":[1]}", 1, "entry 1");

    memset(subject, 0, sizeof(subject));
    strcpy(subject, "{\"allow\":true,\"subject\":\"CN=");
    memset(subject + strlen(subject), 'a', 1024 - 3);
    strcat(subject, "\"}");
    v = verdict(200, subject, 1);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_uint_eq(strlen(v.subject), 1024);
    strcpy(subject + strlen(subject) - 2, "a\"}");
    unavailable(200, subject, 1, "\"subject\" is malformed");
}
END_TEST

/* ---- the whole call, against t/tools/webhook-receiver.py ---------------- */

static apr_pool_t *fix_pool;
static const t_tls_pki_t *pki;
static scep_http_t *http;
static pid_t receiver_pid;
static int receiver_port = -1;
static const char *mode_file, *log_file;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void live_setup(void)
{
    const char *secret_file, *args[12];

    apr_pool_create(&fix_pool, test_pool);
    pki = t_tls_pki(fix_pool);
    secret_file = apr_pstrcat(fix_pool, pki->dir, "/secret", NULL);
    mode_file = apr_pstrcat(fix_pool, pki->dir, "/mode", NULL);
    log_file = apr_pstrcat(fix_pool, pki->dir, "/requests.jsonl", NULL);
    write_file(secret_file, "live-secret\n");     /* the newline is not the secret's */
    write_file(mode_file, "allow\n");
    args[0] = "--cert"; args[1] = pki->server_cert;
    args[2] = "--key"; args[3] = pki->server_key;
    args[4] = "--secret-file"; args[5] = secret_file;
    args[6] = "--log"; args[7] = log_file;
    args[8] = "--mode-file"; args[9] = mode_file;
    args[10] = NULL;
    receiver_port = t_server_start(&receiver_pid, "webhook-receiver.py", args);
    if (scep_http_global_init(fix_pool) != APR_SUCCESS
        || scep_http_make(&http, fix_pool) != APR_SUCCESS) {
        http = NULL;
    }
}

static void live_teardown(void)
{
    t_server_stop(receiver_pid);
    apr_pool_destroy(fix_pool);
    http = NULL;
}

/* The log lines of a call, one after another. */
static void keep_log(void *baton, const char *file, int line, scep_log_level_t level,
                     apr_status_t rv, const char *msg)
{
    const char **all = baton;

    (void)file; (void)line; (void)level; (void)rv;
    *all = apr_pstrcat(test_pool, *all, msg, "\n", NULL);
}

/* Ask the receiver in this mode; the verdict, and what was logged. */
static scep_verdict_t ask(const char *mode, const char *secret, int names, int timeout_s,
                          const char **plog)
{
    scep_validation_t v = sample(test_pool);
    scep_ctx_t ctx = { test_pool, keep_log, (void *)plog, SCEP_LOG_TRACE2, NULL };
    scep_webhook_t hook;
    scep_verdict_t out;

    ck_assert_msg(receiver_port > 0 && http, "the receiver or the client did not start");
    *plog = "";
    write_file(mode_file, mode);
    memset(&hook, 0, sizeof(hook));
    hook.url = apr_psprintf(test_pool, "https://127.0.0.1:%d/validate", receiver_port);
    hook.secret = (const unsigned char *)secret;
    hook.secret_len = strlen(secret);
    hook.names_allowed = names;
    scep_http_conf_init(&hook.http);
    hook.http.ca_file = pki->ca;
    hook.http.timeout = apr_time_from_sec(timeout_s);
    ck_assert_int_eq(scep_webhook_validate(&out, &ctx, http, &hook, &v), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(*plog, "SCEP00610: webhook: "));
    ck_assert_ptr_nonnull(strstr(*plog, "transaction tid-0001"));
    ck_assert_ptr_null(strstr(*plog, "one-time"));                 /* the challenge */
    ck_assert_ptr_null(strstr(*plog, secret));
    return out;
}

/* The receiver's last log line. */
static json_t *last_request(void)
{
    FILE *f = fopen(log_file, "r");
    char line[65536], last[65536] = "";

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        strcpy(last, line);
    }
    fclose(f);
    return parsed(last);
}

START_TEST(live_allow_is_signed_and_tells_everything)
{
    const char *log;
    scep_verdict_t v = ask("allow", "live-secret", 0, 10, &log);
    json_t *req = last_request(), *body = json_object_get(req, "body");

    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_ptr_nonnull(strstr(log, "webhook: allow for transaction tid-0001 (HTTP 200, "));
    ck_assert(json_is_true(json_object_get(req, "signature_ok")));
    ck_assert_str_eq(member(req, "path"), "/validate");
    ck_assert_str_eq(member(req, "method"), "POST");
    ck_assert_str_eq(member(json_object_get(req, "headers"), "User-Agent"),
                     "mod_scep/" SCEP_VERSION);
    ck_assert_str_eq(member(json_object_get(req, "headers"), "Content-Type"), "application/json");
    ck_assert_str_eq(member(body, "transaction_id"), "tid-0001");
    ck_assert_str_eq(member(body, "challenge"), "one-time");
    ck_assert_str_eq(member(body, "type"), "validate");
    json_decref(req);
}
END_TEST

START_TEST(live_deny_and_names)
{
    const char *log;
    scep_verdict_t v = ask("deny not in the inventory", "live-secret", 0, 10, &log);

    ck_assert_int_eq(v.kind, SCEP_VERDICT_DENY);
    ck_assert_str_eq(v.reason, "not in the inventory");
    ck_assert_ptr_nonnull(strstr(log, "webhook: deny for transaction tid-0001 (HTTP 200, "));
    v = ask("names CN=fixed|DNS:a.example,IP:10.1.2.3", "live-secret", 1, 10, &log);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_str_eq(v.subject, "CN=fixed");
    ck_assert_int_eq(v.sans->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(v.sans, 1, const char *), "IP:10.1.2.3");
    v = ask("names CN=fixed|DNS:a.example", "live-secret", 0, 10, &log);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_ALLOW);
    ck_assert_ptr_null(v.subject);
    ck_assert_ptr_nonnull(strstr(v.reason, "names ignored"));
}
END_TEST

START_TEST(live_unavailable)
{
    const char *log;
    scep_verdict_t v = ask("status 500", "live-secret", 0, 10, &log);

    ck_assert_int_eq(v.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_str_eq(v.reason, "the webhook answered HTTP 500");
    ck_assert_ptr_nonnull(strstr(log, "webhook: unavailable for transaction tid-0001 (HTTP 500, "));
    v = ask("garbage", "live-secret", 0, 10, &log);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_str_eq(v.reason, "the webhook's answer is not JSON");
    v = ask("down", "live-secret", 0, 10, &log);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_msg(strncmp(v.reason, "the webhook call failed: ", 25) == 0, "%s", v.reason);
    ck_assert_ptr_nonnull(strstr(log, "(HTTP 0, "));
    v = ask("sleep 3", "live-secret", 0, 1, &log);
    ck_assert_int_eq(v.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_msg(strstr(v.reason, "timed out") != NULL, "%s", v.reason);
}
END_TEST

START_TEST(live_wrong_secret_is_refused)
{
    const char *log;
    scep_verdict_t v = ask("allow", "not-the-secret", 0, 10, &log);
    json_t *req = last_request();

    ck_assert_int_eq(v.kind, SCEP_VERDICT_UNAVAILABLE);
    ck_assert_str_eq(v.reason, "the webhook answered HTTP 401");
    ck_assert(json_is_false(json_object_get(req, "signature_ok")));
    json_decref(req);
}
END_TEST

Suite *webhook_suite(void)
{
    Suite *s = suite_create("webhook");
    TCase *tc = tcase_create("offline"), *live;

    tcase_add_test(tc, body_carries_every_fact);
    tcase_add_test(tc, challenge_not_utf8_goes_as_base64);
    tcase_add_test(tc, csr_pem_made_from_der);
    tcase_add_test(tc, signature_is_hmac_sha256_of_timestamp_dot_body);
    tcase_add_test(tc, headers_sign_and_name_the_sender);
    tcase_add_test(tc, verdict_allow_and_deny);
    tcase_add_test(tc, verdict_reason_is_bounded_and_log_safe);
    tcase_add_test(tc, verdict_unavailable_says_why);
    tcase_add_test(tc, verdict_names_only_when_allowed);
    tcase_add_test(tc, verdict_malformed_names_are_unavailable);
    suite_add_tcase(s, tc);
    if (t_have_python3("webhook")) {
        live = tcase_create("live");
        tcase_add_unchecked_fixture(live, live_setup, live_teardown);
        tcase_set_timeout(live, 60);
        tcase_add_test(live, live_allow_is_signed_and_tells_everything);
        tcase_add_test(live, live_deny_and_names);
        tcase_add_test(live, live_unavailable);
        tcase_add_test(live, live_wrong_secret_is_refused);
        suite_add_tcase(s, live);
    }
    return s;
}
