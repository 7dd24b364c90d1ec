/* Fuzz target: the request as mod_scep's handler hands it to the engine.
 *
 * The input is a query string: scep_query_parse, then scep_b64_decode of
 * its message value (and of the whole input). Then the whole engine,
 * scep_op_handle, three ways:
 *   1. GET with operation/message taken from the parsed query, as the
 *      handler does (GetCACaps, GetCACert, unknown operations, ...);
 *   2. GET operation=PKIOperation&message=<input> (certmonger, sscep);
 *   3. POST with the input as the body (micromdm, Apple; DER or base64).
 * The service has no database (open_store returns SCEP_EDB), which is the
 * path every request takes up to the first record: message decoding,
 * parsing, signature, decryption and the refusals. Every call must set an
 * HTTP status, a content type and a body; every 200 PKIOperation answer
 * must itself parse as a pkiMessage whose signature verifies. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/cms.h>
#include <openssl/err.h>

#include "fuzz_common.h"
#include "scep_op.h"
#include "scep_ossl.h"
#include "scep_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const scep_service_t *svc_legacy, *svc_strict;
static scep_env_t no_db;

static apr_status_t no_store(void *baton, scep_store_t **pstore)
{
    (void)baton;
    (void)pstore;
    return SCEP_EDB;
}

static const scep_service_t *make_service(fuzz_env_t *env, int legacy)
{
    static const unsigned char secret[] = "fuzz-challenge";
    scep_profile_t *prof = apr_pcalloc(env->pool, sizeof(*prof));
    const scep_cacert_t *cacert = NULL;
    const char *err = NULL;

    prof->name = legacy ? "/scep-legacy" : "/scep";
    prof->challenge = secret;
    prof->challenge_len = sizeof(secret) - 1;
    prof->allow_legacy = legacy;
    prof->policy = scep_policy_make(env->pool, "fuzz");
    prof->renewal = !legacy;
    prof->templates = apr_hash_make(env->pool);
    prof->named = apr_hash_make(env->pool);
    if (scep_service_cacert(&cacert, &err, env->pool, env->ca) != APR_SUCCESS) {
        fuzz_fail(err);
    }
    return scep_service_make(env->pool, env->ca, env->oids, prof, 7 * 86400, cacert);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_env_t *env = fuzz_env();

    (void)argc; (void)argv;
    svc_legacy = make_service(env, 1);
    svc_strict = make_service(env, 0);
    no_db.open_store = no_store;
    no_db.eval = fuzz_eval;
    return 0;
}

static void check_out(apr_pool_t *p, const scep_http_out_t *out, const char *how)
{
    fuzz_env_t *env = fuzz_env();

    switch (out->status) {
    case 200: case 400: case 404: case 405: case 503:
        break;
    case 500:
        fprintf(stderr, "%s: HTTP 500: %.*s\n", how, (int)out->len,
                out->body ? (const char *)out->body : "");
        fuzz_fail("the engine could not build a reply (HTTP 500)");
    default:
        fprintf(stderr, "%s: HTTP status %d\n", how, out->status);
        fuzz_fail("scep_op_handle left no or an unexpected HTTP status");
    }
    if (!out->content_type || (out->len && !out->body)) {
        fuzz_fail("scep_op_handle left no content type or body");
    }
    if (out->body && out->len) {
        /* touch every byte: a dangling or short body shows under ASan */
        volatile unsigned char sink = 0;
        apr_size_t i;
        for (i = 0; i < out->len; i++) sink ^= out->body[i];
        (void)sink;
    }
    if (out->status == 200 && !strcmp(out->content_type, "application/x-pki-message")) {
        /* as a client checks it: a pkiMessage of type CertRep, signed by the
         * RA (a FAILURE or PENDING has an empty eContent, which
         * scep_msg_parse, made for requests, reports as unsigned) */
        scep_msg_t *rep = NULL;
        const char *err = NULL;
        const unsigned char *q = out->body;
        CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)out->len);
        STACK_OF(X509) *signers = sk_X509_new_null();
        BIO *content = BIO_new(BIO_s_mem());
        int ok = cms && signers && content && sk_X509_push(signers, env->ca->ra_cert) > 0
                 && CMS_verify(cms, signers, NULL, NULL, content,
                               CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY | CMS_NOINTERN) == 1;
        CMS_ContentInfo_free(cms);
        sk_X509_free(signers);
        BIO_free(content);
        if (!ok) {
            fprintf(stderr, "%s: %s\n", how, scep_ossl_errors(p));
            fuzz_fail("the engine's CertRep does not verify with the RA certificate");
        }
        if (scep_msg_parse(&rep, &err, p, env->oids, out->body, out->len) != APR_SUCCESS
            || rep->type != SCEP_MSG_CERTREP) {
            fprintf(stderr, "%s: %s\n", how, err ? err : "messageType is not CertRep");
            fuzz_fail("the engine's CertRep is not a pkiMessage of type CertRep");
        }
    }
}

static void handle(apr_pool_t *p, const scep_service_t *svc, const scep_http_in_t *in,
                   const char *how)
{
    scep_ctx_t ctx;
    scep_http_out_t out;

    fuzz_ctx(&ctx, p);
    memset(&out, 0, sizeof(out));
    scep_op_handle(&ctx, svc, &no_db, in, &out);
    check_out(p, &out, how);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_input_pool();
    char *s = fuzz_cstr(p, data, size);
    apr_table_t *args = scep_query_parse(p, s);
    const char *message = apr_table_get(args, "message");
    unsigned char *der;
    apr_size_t len;
    scep_http_in_t in;

    (void)scep_log_safe(p, s, size);
    if (message && scep_b64_decode(&der, &len, p, message, strlen(message)) == APR_SUCCESS
        && (len == 0 || len > strlen(message) / 4 * 3 + 2)) {
        fuzz_fail("scep_b64_decode returned an impossible length");
    }
    if (scep_b64_decode(&der, &len, p, (const char *)data, size) == APR_SUCCESS
        && (len == 0 || len > size / 4 * 3 + 2)) {
        fuzz_fail("scep_b64_decode returned an impossible length");
    }

    /* 1: GET as the handler builds it from the query */
    memset(&in, 0, sizeof(in));
    in.operation = apr_table_get(args, "operation");
    in.message = message;
    in.client_addr = "192.0.2.1";
    handle(p, svc_legacy, &in, "GET query");

    /* 2: GET PKIOperation with the whole input as message */
    memset(&in, 0, sizeof(in));
    in.operation = "PKIOperation";
    in.message = s;
    in.client_addr = "192.0.2.2";
    handle(p, svc_legacy, &in, "GET message");

    /* 3: POST with the input as body (any operation: a POST is a PKIOperation) */
    memset(&in, 0, sizeof(in));
    in.is_post = 1;
    in.operation = "PKIOperation";
    in.body = data;
    in.body_len = size;
    handle(p, svc_strict, &in, "POST");

    apr_pool_destroy(p);
    return 0;
}
