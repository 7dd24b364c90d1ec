/* mod_scep core: asking others about a request, and telling them what
 * became of it (see scep_ask.h). */
#include <string.h>
#include <apr_strings.h>
#include <openssl/x509.h>

#include "scep_ask.h"
#include "scep_webhook.h"
#include "scep_intune.h"
#include "scep_util.h"

/* The request's first commonName, UTF-8; NULL if it has none. */
static const char *common_name(apr_pool_t *p, X509_REQ *csr)
{
    const X509_NAME *name = X509_REQ_get_subject_name(csr);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    const char *out = NULL;
    int len;

    if (i < 0) {
        return NULL;
    }
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (len > 0 && (int)strlen((const char *)utf8) == len) {
        out = apr_pstrndup(p, (const char *)utf8, (apr_size_t)len);
    }
    OPENSSL_free(utf8);
    return out;
}

scep_verdict_kind_t scep_ask_password(apr_pool_t *p, const scep_env_t *env,
                                      const scep_profile_t *prof, X509_REQ *csr,
                                      const char *given, apr_size_t len)
{
    scep_verdict_kind_t verdict;
    const char *user;

    if (!env->check_password || !prof->authn_providers || strlen(given) != len
        || !(user = common_name(p, csr)) || !*user) {
        return SCEP_VERDICT_DENY;
    }
    /* (a provider may ask a directory server: no slot held meanwhile) */
    scep_slot_give(env->slot);
    verdict = env->check_password(env->check_baton, prof->authn_providers, user, given);
    scep_slot_take(env->slot, 1);
    return verdict;
}

static void ask_validators(scep_verdict_t *out, const char **pwho, int *pintune,
                           scep_ctx_t *ctx, const scep_env_t *env, const scep_profile_t *prof,
                           const scep_validation_in_t *in);

void scep_ask_validators(scep_verdict_t *out, const char **pwho, int *pintune,
                         scep_ctx_t *ctx, const scep_env_t *env, const scep_profile_t *prof,
                         const scep_validation_in_t *in)
{
    /* a slow or dead validator holds at most its Location's share of the
     * child's threads: past it, no answer at once (SCEPOutboundMaxCalls) */
    if (env->outbound_enter && !env->outbound_enter(env->outbound_baton, prof)) {
        memset(out, 0, sizeof(*out));
        out->kind = SCEP_VERDICT_UNAVAILABLE;
        out->reason = "too many calls of this Location are waiting for an answer "
                      "(SCEPOutboundMaxCalls)";
        *pwho = "mod_scep";
        return;
    }
    /* its slot is for CPU work, not for waiting on a validator's answer */
    scep_slot_give(env->slot);
    ask_validators(out, pwho, pintune, ctx, env, prof, in);
    scep_slot_take(env->slot, 1);
    if (env->outbound_leave) {
        env->outbound_leave(env->outbound_baton, prof);
    }
}

static void ask_validators(scep_verdict_t *out, const char **pwho, int *pintune,
                           scep_ctx_t *ctx, const scep_env_t *env, const scep_profile_t *prof,
                           const scep_validation_in_t *in)
{
    scep_validation_t *v = scep_validation_make(ctx->pool, in);

    memset(out, 0, sizeof(*out));
    out->kind = SCEP_VERDICT_ALLOW;
    *pwho = "";
    if (!env->http) {
        out->kind = SCEP_VERDICT_UNAVAILABLE;
        out->reason = "this process has no outbound HTTPS client";
        *pwho = "mod_scep";
        return;
    }
    if (prof->webhook) {
        *pwho = "the validation webhook";
        if (scep_webhook_validate(out, ctx, env->http, prof->webhook, v) != APR_SUCCESS) {
            out->kind = SCEP_VERDICT_UNAVAILABLE;     /* never an ALLOW by default */
            out->reason = "the request could not be sent to the webhook";
            return;
        }
    }
    /* Intune judges challenges it minted: a renewal without one is not its */
    if (out->kind == SCEP_VERDICT_ALLOW && prof->intune && (!v->renewal || v->challenge)) {
        scep_intune_t *intune = env->intune_of ? env->intune_of(env->intune_baton, prof) : NULL;
        scep_verdict_t answer;

        *pwho = "Intune";
        if (!intune) {
            out->kind = SCEP_VERDICT_UNAVAILABLE;
            out->reason = "this process has no Intune client for the profile";
            return;
        }
        /* no verdict (an incomplete request) is no answer, never an ALLOW */
        if (scep_intune_validate(&answer, ctx, env->http, intune, v) != APR_SUCCESS) {
            answer.kind = SCEP_VERDICT_UNAVAILABLE;
            answer.reason = "the request could not be sent to Intune";
        }
        /* Intune hears how what it judged ended; a request it gave no answer
         * about (no token, no service, no reply) it may never have seen */
        *pintune = answer.kind != SCEP_VERDICT_UNAVAILABLE;
        if (answer.kind != SCEP_VERDICT_ALLOW) {
            *out = answer;
        }
    }
}

/* Intune hears how a request it validated ended: success with the
 * certificate, or failure with the reason (pending: nothing yet). */
static void tell_intune(scep_store_t *st, apr_pool_t *p, const scep_notice_t *n,
                        const unsigned char *csr_der, apr_size_t csr_len)
{
    scep_intune_event_t *iev = NULL;
    unsigned char *cert_der;
    apr_size_t cert_len;
    const char *json = NULL;

    if (n->certificate) {
        if (scep_b64_decode(&cert_der, &cert_len, p, n->certificate, strlen(n->certificate)) != APR_SUCCESS
            || scep_intune_event_issued(&iev, p, n->transaction_id, csr_der, csr_len, cert_der,
                                        cert_len) != APR_SUCCESS) {
            return;
        }
    }
    else if (n->reason && strcmp(n->event, "pending")) {
        iev = apr_pcalloc(p, sizeof(*iev));
        iev->kind = SCEP_INTUNE_EVENT_FAILURE;
        iev->transaction_id = n->transaction_id;
        iev->csr_der = csr_der;
        iev->csr_len = csr_len;
        iev->hresult = SCEP_INTUNE_E_FAIL;
        iev->error_description = n->reason;
    }
    if (!iev || scep_intune_event_to_json(&json, p, iev) != APR_SUCCESS) {
        return;
    }
    scep_notice_stage(st, n, "intune", json);
}

void scep_tell(scep_store_t *st, apr_pool_t *p, const scep_profile_t *prof,
               const scep_notice_t *n, X509_REQ *intune_csr)
{
    unsigned char *der = NULL;
    int len;

    scep_notify_stage(st, p, prof->notify, n);
    if (!intune_csr || !prof->intune) {
        return;
    }
    len = i2d_X509_REQ(intune_csr, &der);
    if (len > 0) {
        tell_intune(st, p, n, apr_pmemdup(p, der, (apr_size_t)len), (apr_size_t)len);
    }
    OPENSSL_free(der);
}

void scep_tell_stored(scep_store_t *st, apr_pool_t *p, const scep_profile_t *prof,
                      const scep_notice_t *n, const char *csr_b64)
{
    unsigned char *der;
    apr_size_t len;

    scep_notify_stage(st, p, prof->notify, n);
    if (prof->intune && csr_b64 && scep_b64_decode(&der, &len, p, csr_b64, strlen(csr_b64)) == APR_SUCCESS) {
        tell_intune(st, p, n, der, len);
    }
}
