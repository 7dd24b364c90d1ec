/* mod_scep core: the health check. Cheap enough to be polled every second
 * by several balancers: one indexed read of the records, and a signature
 * by each key at most every SCEP_HEALTH_KEY_CHECK_SECONDS per child (the
 * answer in between is the last one). Failing: the records cannot be read,
 * a key cannot sign, the CA or RA has expired. A CRL past its nextUpdate
 * is a warning only: the next fetch builds a new one. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/err.h>

#include "scep_health.h"
#include "scep_ossl.h"
#include "scep_store.h"

/* Does key sign? NULL, or why not. */
static const char *key_signs(apr_pool_t *p, EVP_PKEY *key, const char *which)
{
    const char *why = NULL;

    if (!scep_ca_key_signs(key)) {
        why = apr_pstrcat(p, "the ", which, " key cannot sign: ", scep_ossl_errors(p), NULL);
    }
    ERR_clear_error();
    return why;
}

/* The keys' check, from the child's cache when it is recent. */
static const char *keys_sign(apr_pool_t *p, const scep_health_in_t *in, apr_int64_t now)
{
    scep_health_keys_t *k = in->keys;
    const char *why;

    if (k && apr_thread_mutex_lock(k->lock) == APR_SUCCESS) {
        if (k->checked_at && now - k->checked_at < SCEP_HEALTH_KEY_CHECK_SECONDS) {
            why = k->ok ? NULL : apr_pstrdup(p, k->why);
            apr_thread_mutex_unlock(k->lock);
            return why;
        }
        apr_thread_mutex_unlock(k->lock);
    }
    why = key_signs(p, in->ca->key, "CA");
    if (why && scep_ca_key_trouble(in->ca)) {
        why = key_signs(p, in->ca->key, "CA");     /* the token came back */
    }
    if (!why && in->ca->has_ra) {
        why = key_signs(p, in->ca->ra_key, "RA");
    }
    if (!why && in->ca->split_ra) {
        why = key_signs(p, in->ca->enc_key, "RA encryption");
    }
    if (k && apr_thread_mutex_lock(k->lock) == APR_SUCCESS) {
        k->checked_at = now;
        k->ok = why == NULL;
        /* the child's pool: bounded, only when the answer changes */
        if (why && (!k->why || strcmp(k->why, why))) {
            k->why = apr_pstrdup(k->pool, why);
        }
        apr_thread_mutex_unlock(k->lock);
    }
    return why;
}

/* s as a JSON string literal (the reasons come from OpenSSL). */
static const char *quoted(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 6 + 3), *o = out;

    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        }
        else if (c < 0x20 || c == 0x7f) {
            o += apr_snprintf(o, 7, "\\u%04x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *num(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

void scep_health_check(const char **pjson, int *pstatus, scep_ctx_t *ctx,
                       const scep_health_in_t *in)
{
    apr_pool_t *p = ctx->pool;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now()), revoked = 0;
    apr_int64_t ra_end = scep_ca_ra_not_after(in->ca);
    scep_store_t *st = NULL;
    scep_crl_rec_t *crl = NULL;
    const char *db = "ok", *keys, *crl_json = "null", *problems = "", *warnings = "";
    apr_status_t rv;

    if (!in->open_store || in->open_store(in->store_baton, &st) != APR_SUCCESS) {
        db = "the database cannot be opened";
    }
    else if ((rv = scep_store_crl_latest(&crl, &revoked, ctx, st, in->ca->fingerprint))
             != APR_SUCCESS && rv != APR_NOTFOUND) {
        db = "the records cannot be read";
    }
    keys = keys_sign(p, in, now);
    if (strcmp(db, "ok")) {
        problems = quoted(p, db);
    }
    if (keys) {
        problems = apr_pstrcat(p, problems, *problems ? "," : "", quoted(p, keys), NULL);
    }
    if (in->ca->not_after <= now || ra_end <= now) {
        problems = apr_pstrcat(p, problems, *problems ? "," : "",
                               in->ca->not_after <= now ? "\"the CA certificate has expired\""
                               : "\"the RA certificate has expired\"", NULL);
    }
    if (crl && !strcmp(db, "ok")) {
        crl_json = apr_pstrcat(p, "{\"number\":", num(p, crl->number), ",\"next_update\":",
                               num(p, crl->next_update), ",\"expires_in\":",
                               num(p, crl->next_update - now), "}", NULL);
        if (crl->next_update <= now) {
            warnings = "\"the newest CRL is past its nextUpdate (the next fetch builds one)\"";
        }
    }
    *pstatus = *problems ? 503 : 200;
    *pjson = apr_pstrcat(p, "{\"status\":\"", *problems ? "fail" : "ok",
                         "\",\"database\":", !strcmp(db, "ok") ? "\"ok\"" : "\"error\"",
                         ",\"keys\":", keys ? "\"error\"" : "\"ok\"",
                         ",\"ca_expires_in\":", num(p, in->ca->not_after - now),
                         ",\"ra_expires_in\":", num(p, ra_end - now),
                         ",\"crl\":", crl_json, ",\"problems\":[", problems,
                         "],\"warnings\":[", warnings, "]}\n", NULL);
}
