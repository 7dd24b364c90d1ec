/* mod_scep core: the administration endpoint (JSON API and HTML page). */
#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <jansson.h>

#include "scep_admin_int.h"
#include "scep_ask.h"
#include "scep_mobileconfig.h"
#include "scep_issue.h"
#include "scep_crl_cache.h"
#include "scep_crl.h"
#include "scep_ossl.h"
#include "scep_store.h"
#include "scep_util.h"
#include "scep_policy.h"

void admin_respond(scep_admin_out_t *out, int status, const char *type, const char *body)
{
    out->status = status;
    out->content_type = type;
    out->body = (const unsigned char *)body;
    out->len = strlen(body);
}

const char *admin_escape(apr_pool_t *p, const char *s, admin_rewrite_fn *rewrite,
                         const char *quote)
{
    apr_size_t n = strlen(s), q = strlen(quote), i;
    char *out = apr_palloc(p, n * 7 + 2 * q + 1), *o = out;

    memcpy(o, quote, q);
    o += q;
    for (i = 0; i < n; i++) {
        apr_size_t len = rewrite((unsigned char)s[i], o);
        if (!len) {
            *o = s[i];
            len = 1;
        }
        o += len;
    }
    memcpy(o, quote, q);
    o[q] = '\0';
    return out;
}

apr_status_t admin_decode_der(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                              const char *b64)
{
    return b64 ? scep_b64_decode(pder, plen, p, b64, strlen(b64)) : APR_EINVAL;
}

/* Tell the receivers of the profile (SCEPNotifyWebhook) of a decision:
 * staged, so that the decision's write commits it. */
static void tell_decision(scep_store_t *st, apr_pool_t *p, const scep_admin_t *adm,
                          const char *profile, const char *event, const scep_txn_t *t,
                          const scep_cert_t *cert, const char *reason, const char *tid)
{
    const scep_profile_t *prof = adm->named && profile
                                 ? apr_hash_get(adm->named, profile, APR_HASH_KEY_STRING) : NULL;
    scep_notice_t n;

    if (!prof || (!prof->notify && !prof->intune)) {
        return;
    }
    memset(&n, 0, sizeof(n));
    n.event = event;
    n.ca = adm->ca->fingerprint;
    n.location = profile;
    n.transaction_id = t ? t->tid : tid;
    n.subject = cert ? cert->subject : t ? t->subject : NULL;
    n.serial = cert ? cert->serial : NULL;
    n.not_after = cert ? cert->not_after : 0;
    n.certificate = cert && t ? cert->der : NULL;
    n.reason = reason;
    n.by = adm->user;
    n.renewal_of = t ? t->renewal_of : NULL;
    /* Intune hears the decisions on the requests it validated, not revocations */
    scep_tell_stored(st, p, prof, &n, t ? t->csr : NULL);
}

void admin_audit(scep_store_t *st, const scep_admin_t *adm, const char *action,
                 const char *target, const char *detail)
{
    scep_audit_t a;

    memset(&a, 0, sizeof(a));
    a.ca = adm->ca->fingerprint;
    a.actor = adm->user;
    a.client_addr = adm->client_addr;
    a.action = action;
    a.target = target;
    a.detail = detail;
    scep_store_stage_audit(st, &a);
}

/* The record of serial at adm's CA or, when it has none, at another CA of
 * the host (a rollover): APR_NOTFOUND when none has it; *pca (if asked)
 * is the CA that does. */
static apr_status_t cert_in_host(scep_cert_t **prec, const scep_ca_t **pca, scep_ctx_t *ctx,
                                 const scep_admin_t *adm, scep_store_t *st, const char *serial)
{
    const scep_ca_t *ca = adm->ca;
    apr_status_t rv = scep_store_cert_get(prec, ctx, st, ca->fingerprint, serial);
    int i;

    for (i = 0; rv == APR_NOTFOUND && adm->cas && i < adm->cas->all->nelts; i++) {
        ca = APR_ARRAY_IDX(adm->cas->all, i, const scep_ca_t *);
        if (ca != adm->ca) {
            rv = scep_store_cert_get(prec, ctx, st, ca->fingerprint, serial);
        }
    }
    if (pca) {
        *pca = ca;
    }
    return rv;
}

apr_status_t scep_admin_approve(const char **perr, const char **pserial, scep_ctx_t *ctx,
                                const scep_admin_t *adm, scep_store_t *st, const char *id)
{
    apr_pool_t *p = ctx->pool;
    scep_txn_t *t;
    const scep_profile_t *prof;
    scep_cert_plan_t *plan;
    scep_cert_t rec, *old = NULL;
    scep_renewal_t renewal;
    X509_REQ *csr;
    X509 *cert;
    const char *why = NULL;
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    apr_status_t rv;

    if ((rv = scep_store_txn_get(&t, ctx, st, adm->ca->fingerprint, id)) != APR_SUCCESS) {
        *perr = rv == APR_NOTFOUND ? "no such enrollment" : "database error";
        return rv;
    }
    if (strcmp(t->status, "PENDING")) {
        *perr = apr_pstrcat(p, "the enrollment is ", t->status, ", not PENDING", NULL);
        return SCEP_ECONFLICT;
    }
    prof = adm->named && t->profile ? apr_hash_get(adm->named, t->profile, APR_HASH_KEY_STRING)
                                    : NULL;
    if (!prof) {
        *perr = apr_pstrcat(p, "profile ", t->profile ? t->profile : "(none)",
                            " is no longer configured", NULL);
        return APR_EGENERAL;
    }
    if (admin_decode_der(&der, &len, p, t->csr) != APR_SUCCESS
        || !(q = der, csr = scep_own_req(p, d2i_X509_REQ(NULL, &q, (long)len)))) {
        *perr = "the stored request is unreadable";
        return APR_EGENERAL;
    }
    if (scep_policy_plan(&plan, perr, p, prof->policy, scep_policy_request(p, csr, NULL))
        != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    /* a held renewal: the old certificate must still be renewable */
    if (t->renewal_of && *t->renewal_of) {
        /* (renewing a certificate of another CA of the host: a rollover) */
        rv = cert_in_host(&old, NULL, ctx, adm, st, t->renewal_of);
        if (rv != APR_SUCCESS) {
            *perr = rv == APR_NOTFOUND ? "the certificate being renewed is not on record"
                                       : "database error";
            return rv == APR_NOTFOUND ? APR_EGENERAL : rv;
        }
        if ((why = scep_issue_why_not_renewable(p, old))) {
            *perr = why;
            return SCEP_ECONFLICT;
        }
    }
    /* subject and SANs as the profile decided when the request arrived */
    if (admin_decode_der(&der, &len, p, t->plan_subject) != APR_SUCCESS
        || !(q = der, plan->subject = d2i_X509_NAME(NULL, &q, (long)len))) {
        *perr = "the stored subject is unreadable";
        return APR_EGENERAL;
    }
    scep_own_name(p, plan->subject);
    if (t->plan_san && admin_decode_der(&der, &len, p, t->plan_san) == APR_SUCCESS) {
        q = der;
        plan->san = d2i_GENERAL_NAMES(NULL, &q, (long)len);
        scep_own_general_names(p, plan->san);
    }
    ERR_clear_error();
    if ((rv = scep_issue_sign(&cert, &rec, &renewal, perr, p, adm->ca, plan, prof->name, old,
                              prof->renewal_supersede)) != APR_SUCCESS) {
        return rv;
    }
    tell_decision(st, p, adm, prof->name, "approved", t, &rec, NULL, NULL);
    admin_audit(st, adm, "approve", id, apr_pstrcat(p, "issued ", rec.serial, NULL));
    rv = scep_store_approve(ctx, st, adm->ca->fingerprint, id, adm->user, &rec,
                            old ? &renewal : NULL);
    if (rv == SCEP_ECONFLICT || rv == SCEP_ERENEWED) {
        *perr = rv == SCEP_ECONFLICT ? "the enrollment was decided meanwhile"
                                     : "the certificate being renewed was renewed meanwhile";
        return SCEP_ECONFLICT;
    }
    if (rv != APR_SUCCESS) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00407)
                 "approving enrollment %s: the certificate could not be recorded", id);
        *perr = "database error";
        return rv;
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00401)
             "%s approved enrollment %s (transaction %s): issued serial %s to %s",
             adm->user, id, t->tid, rec.serial, rec.subject);
    *pserial = rec.serial;
    return APR_SUCCESS;
}

static int status_of(apr_status_t rv)
{
    return rv == APR_NOTFOUND ? 404 : rv == SCEP_ECONFLICT ? 409 : rv == SCEP_EDB ? 503 : 500;
}

static void do_reject(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                      const char *id, const char *why, int *pstatus, const char **pmsg)
{
    scep_txn_t *t;
    apr_status_t rv;

    if (!why || !*why) {
        why = "rejected by an administrator";
    }
    rv = scep_store_txn_get(&t, ctx, st, adm->ca->fingerprint, id);
    if (rv == APR_SUCCESS) {
        tell_decision(st, ctx->pool, adm, t->profile, "rejected", t, NULL, why, NULL);
        admin_audit(st, adm, "reject", id, why);
        rv = scep_store_reject(ctx, st, adm->ca->fingerprint, id, adm->user, why);
    }
    if (rv != APR_SUCCESS) {
        *pstatus = status_of(rv);
        *pmsg = rv == APR_NOTFOUND ? "no such enrollment" : rv == SCEP_ECONFLICT
                ? "the enrollment is not PENDING" : "database error";
        return;
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00402)
             "%s rejected enrollment %s (transaction %s): %s", adm->user, id, t->tid, why);
    *pstatus = 200;
    *pmsg = NULL;
}

static void do_revoke(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                      const char *serial, const char *reason_name, int *pstatus,
                      const char **pmsg, apr_int64_t *pcrl_number)
{
    int reason = reason_name && *reason_name ? scep_crl_reason_code(reason_name) : 0;
    unsigned char *der;
    apr_size_t len;
    apr_int64_t this_update, next_update;
    apr_status_t rv;
    const char *upper;
    scep_cert_t *cert = NULL;
    char *u;

    *pcrl_number = 0;
    if (reason < 0 || reason == 8) {
        *pstatus = 400;
        *pmsg = "unknown revocation reason (RFC 5280 names: unspecified, keyCompromise, "
                "affiliationChanged, superseded, cessationOfOperation, certificateHold, "
                "privilegeWithdrawn, ...)";
        return;
    }
    upper = u = apr_pstrdup(ctx->pool, serial);
    for (; *u; u++) *u = (char)apr_toupper(*u);
    if (scep_store_cert_get(&cert, ctx, st, adm->ca->fingerprint, upper) == APR_SUCCESS) {
        const char *tid = NULL;
        /* keyed by the transaction that issued it: after its "approved" */
        scep_store_tid_of_serial(&tid, ctx, st, adm->ca->fingerprint, upper);
        tell_decision(st, ctx->pool, adm, cert->profile, "revoked", NULL, cert,
                      scep_crl_reason_name(reason), tid);
    }
    admin_audit(st, adm, "revoke", upper, scep_crl_reason_name(reason));
    rv = scep_store_cert_revoke(ctx, st, adm->ca->fingerprint, upper, reason);
    if (rv != APR_SUCCESS) {
        *pstatus = status_of(rv);
        *pmsg = rv == APR_NOTFOUND ? "no certificate with this serial was issued by this CA"
                : rv == SCEP_ECONFLICT ? "the certificate is already revoked" : "database error";
        return;
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00403)
             "%s revoked certificate %s (%s)", adm->user, upper, scep_crl_reason_name(reason));
    /* rebuild now, so that no request waits for it */
    if (scep_crl_current(&der, &len, ctx, st, adm->ca, adm->crl_validity) == APR_SUCCESS) {
        scep_crl_info(pcrl_number, &this_update, &next_update, der, len);
    }
    *pstatus = 200;
    *pmsg = NULL;
}

static const char *one_line(apr_pool_t *p, const char *lines)
{
    char *s = apr_pstrdup(p, lines), *c;
    for (c = s; *c; c++) {
        if (*c == '\n' || *c == '\r') *c = ',';
    }
    return s;
}

/* Make a one-time challenge; *psecret is shown once and never stored. */
static apr_status_t do_challenge(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                                 const char *action, const char *profile, const char *ttl,
                                 const char *subject, const char *san, const char **psecret,
                                 scep_challenge_t **pch, const char **perr)
{
    apr_pool_t *p = ctx->pool;
    scep_challenge_t c;
    apr_int64_t secs = 3600;
    unsigned char raw[16];
    X509_NAME *name;
    GENERAL_NAMES *gens;
    const char *secret;

    memset(&c, 0, sizeof(c));
    if (!profile || !*profile || !adm->named
        || !apr_hash_get(adm->named, profile, APR_HASH_KEY_STRING)) {
        *perr = "profile must name an enrollment point's profile (SCEPProfileName or its path)";
        return APR_EINVAL;
    }
    if (ttl && *ttl && (scep_parse_duration(&secs, ttl) != APR_SUCCESS
                        || secs < 60 || secs > 30 * 86400)) {
        *perr = "ttl must be a duration from 60s to 30d, e.g. 60m";
        return APR_EINVAL;
    }
    if (subject && *subject && scep_policy_parse_subject(&name, perr, p, subject) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (san && *san && scep_policy_parse_sans(&gens, perr, p, san) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        *perr = "no randomness";
        return APR_EGENERAL;
    }
    secret = scep_hex(p, raw, sizeof(raw));
    c.ca = adm->ca->fingerprint;
    c.hash = scep_sha256_hex(p, (const unsigned char *)secret, strlen(secret));
    c.profile = profile;
    c.subject = subject && *subject ? subject : NULL;
    c.san = san && *san ? san : NULL;
    c.created_by = adm->user;
    c.created_at = (apr_int64_t)apr_time_sec(apr_time_now());
    c.expires_at = c.created_at + secs;
    admin_audit(st, adm, action, c.subject, apr_pstrcat(p, "profile ", profile,
                c.san ? ", SANs " : "", c.san ? one_line(p, c.san) : "", NULL));
    if (scep_store_challenge_insert(ctx, st, &c) != APR_SUCCESS
        || scep_store_challenge_find(pch, ctx, st, c.ca, c.hash) != APR_SUCCESS) {
        *perr = "database error";
        return SCEP_EDB;
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00404)
             "%s made one-time challenge %s for profile %s, valid %" APR_INT64_T_FMT
             " minutes%s%s%s%s", adm->user, (*pch)->id, profile, secs / 60,
             c.subject ? ", bound to " : "", c.subject ? c.subject : "",
             c.san ? " and SANs " : "", c.san ? one_line(p, c.san) : "");
    *psecret = secret;
    return APR_SUCCESS;
}

/* An Apple configuration profile for a profile's Location: a fresh
 * one-time challenge bound to subject/san, the key terms of the profile.
 * On failure *pstatus is the HTTP status and *perr says why. */
static apr_status_t do_mobileconfig(scep_ctx_t *ctx, const scep_admin_t *adm,
                                    scep_store_t *st, const scep_admin_in_t *in,
                                    const char *profile, const char *ttl, const char *subject,
                                    const char *san, scep_admin_out_t *out, int *pstatus,
                                    const char **perr)
{
    apr_pool_t *p = ctx->pool;
    const scep_profile_t *prof = adm->named && profile
                                 ? apr_hash_get(adm->named, profile, APR_HASH_KEY_STRING) : NULL;
    scep_mobileconfig_in_t mc;
    scep_challenge_t *ch;
    const char *secret;
    const unsigned char *body;
    apr_size_t len;
    apr_status_t rv;

    *pstatus = 400;
    if (!subject || !*subject) {
        *perr = "a configuration profile needs the device's subject, e.g. /CN=device1";
        return APR_EINVAL;
    }
    if (!in->own_origin || !prof || !prof->path) {
        *perr = !in->own_origin ? "the request has no Host to build the SCEP URL from"
                                : "profile must name an enrollment point's profile";
        return APR_EINVAL;
    }
    memset(&mc, 0, sizeof(mc));
    mc.ca = adm->ca;
    mc.prof = prof;
    mc.url = apr_pstrcat(p, in->own_origin, prof->path, NULL);
    mc.subject = subject;
    mc.san = san;
    /* check that the profile can be expressed before a challenge is made */
    if (scep_mobileconfig_check(perr, p, &mc) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if ((rv = do_challenge(ctx, adm, st, "mobileconfig", profile, ttl, subject, san, &secret,
                           &ch, perr))
        != APR_SUCCESS) {
        *pstatus = rv == APR_EINVAL ? 400 : 503;
        return rv;
    }
    mc.challenge = secret;
    mc.identifier = apr_pstrcat(p, "challenge-", ch->id, NULL);
    mc.display_name = apr_pstrcat(p, "SCEP enrollment for ", subject, NULL);
    mc.organization = adm->ca->subject;
    mc.signer_cert = adm->mc_cert;
    mc.signer_key = adm->mc_key;
    if (scep_mobileconfig_make(&body, &len, perr, p, &mc) != APR_SUCCESS) {
        *pstatus = 500;
        return APR_EGENERAL;
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00420)
             "%s made an Apple configuration profile for %s at %s (challenge %s)%s",
             adm->user, subject, mc.url, ch->id, adm->mc_cert ? ", signed" : "");
    out->status = 200;
    out->content_type = "application/x-apple-aspen-config";
    out->body = body;
    out->len = len;
    out->filename = apr_pstrcat(p, "scep-", ch->id, ".mobileconfig", NULL);
    return APR_SUCCESS;
}

/* Write the strings, up to a NULL. */
void admin_emit(emit_t *e, ...)
{
    va_list ap;
    const char *s;

    va_start(ap, e);
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (e->rv == APR_SUCCESS && *s) {
            e->rv = e->write(e->baton, s, strlen(s));
        }
    }
    va_end(ap);
}

void admin_stream(scep_admin_out_t *out, int status, const char *type,
                  scep_admin_stream_fn *fn, const void *state)
{
    out->status = status;
    out->content_type = type;
    out->stream = fn;
    out->stream_state = state;
}

/* One more row than shown was asked for: if it came, there are older rows,
 * from below the last one shown. */
void admin_paginate(rows_t *r, apr_pool_t *p, apr_array_header_t *rows, int limit,
                    const char *last_id, const char *url)
{
    r->rows = rows;
    r->older = NULL;
    if (rows->nelts > limit) {
        rows->nelts = limit;
        r->older = apr_pstrcat(p, url, last_id, NULL);
    }
}

const char *admin_txn_id(apr_array_header_t *rows, int i)
{
    return i >= 0 && i < rows->nelts ? APR_ARRAY_IDX(rows, i, scep_txn_t).id : "";
}

const char *admin_challenge_id(apr_array_header_t *rows, int i)
{
    return i >= 0 && i < rows->nelts ? APR_ARRAY_IDX(rows, i, scep_challenge_t).id : "";
}

/* A form token is a random nonce and the HMAC-SHA256, under the server's
 * secret, of the authenticated user and that nonce, in hex: a token
 * someone planted in a browser (cookie and form field alike) does not
 * verify, nor does another user's. */
#define NONCE_LEN 16
#define MAC_LEN 32
#define TOKEN_HEX_LEN (2 * (NONCE_LEN + MAC_LEN))

static apr_status_t token_mac(unsigned char *mac, scep_ctx_t *ctx, const scep_admin_t *adm,
                             const unsigned char *nonce)
{
    static const char label[] = "mod_scep admin form";
    apr_size_t ulen = strlen(adm->user), len = sizeof(label) + ulen + 1 + NONCE_LEN;
    unsigned char *data = apr_palloc(ctx->pool, len), *d = data;
    size_t maclen = 0;

    if (!adm->secret || !adm->secret_len) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00408)
                 "no secret for the admin forms' tokens");
        return APR_EGENERAL;
    }
    /* "label\0user\0nonce": neither part can pass for the other */
    memcpy(d, label, sizeof(label));
    d += sizeof(label);
    memcpy(d, adm->user, ulen + 1);
    d += ulen + 1;
    memcpy(d, nonce, NONCE_LEN);
    ERR_clear_error();
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, adm->secret, adm->secret_len,
                   data, len, mac, MAC_LEN, &maclen) || maclen != MAC_LEN) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00409)
                 "HMAC-SHA256 for an admin form token failed: %s",
                 scep_ossl_errors(ctx->pool));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static const char *new_token(scep_ctx_t *ctx, const scep_admin_t *adm)
{
    unsigned char raw[NONCE_LEN + MAC_LEN];

    if (RAND_bytes(raw, NONCE_LEN) != 1
        || token_mac(raw + NONCE_LEN, ctx, adm, raw) != APR_SUCCESS) {
        ERR_clear_error();
        return NULL;
    }
    return scep_hex(ctx->pool, raw, sizeof(raw));
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Did we make this token for this user? */
static int token_ok(scep_ctx_t *ctx, const scep_admin_t *adm, const char *token)
{
    unsigned char raw[NONCE_LEN + MAC_LEN], mac[MAC_LEN];
    apr_size_t i;

    if (!token || strlen(token) != TOKEN_HEX_LEN) {
        return 0;
    }
    for (i = 0; i < sizeof(raw); i++) {
        int hi = hex_value(token[2 * i]), lo = hex_value(token[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return 0;
        }
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    return token_mac(mac, ctx, adm, raw) == APR_SUCCESS
           && CRYPTO_memcmp(mac, raw + NONCE_LEN, MAC_LEN) == 0;
}

/* "HTTP://Host:80" -> "http://host": origins compared as browsers send them */
static const char *origin_norm(apr_pool_t *p, const char *origin)
{
    char *o = apr_pstrdup(p, origin), *c;
    apr_size_t n;

    for (c = o; *c; c++) *c = (char)apr_tolower(*c);
    n = strlen(o);
    if (!strncmp(o, "http://", 7) && n > 3 && !strcmp(o + n - 3, ":80")) {
        o[n - 3] = '\0';
    }
    else if (!strncmp(o, "https://", 8) && n > 4 && !strcmp(o + n - 4, ":443")) {
        o[n - 4] = '\0';
    }
    return o;
}

/* Why a state-changing request comes from another site, or NULL: browsers
 * say where a request comes from (Sec-Fetch-Site, Origin), so a page of
 * another site cannot post here, whatever token it managed to plant. */
static const char *cross_site(apr_pool_t *p, const scep_admin_in_t *in)
{
    if (in->fetch_site && strcasecmp(in->fetch_site, "same-origin")
        && strcasecmp(in->fetch_site, "none")) {
        return apr_pstrcat(p, "Sec-Fetch-Site: ",
                           scep_log_safe(p, in->fetch_site, strlen(in->fetch_site)), NULL);
    }
    if (in->origin && (!in->own_origin
                       || strcmp(origin_norm(p, in->origin), origin_norm(p, in->own_origin)))) {
        return apr_pstrcat(p, "Origin: ", scep_log_safe(p, in->origin, strlen(in->origin)),
                           in->own_origin ? ", not " : "",
                           in->own_origin ? scep_log_safe(p, in->own_origin,
                                                          strlen(in->own_origin)) : "", NULL);
    }
    return NULL;
}

/* "api/enrollments/17/approve" -> segments */
static int split(apr_pool_t *p, const char *path, const char **seg, int max)
{
    char *copy = apr_pstrdup(p, path), *tok, *last = NULL;
    int n = 0;

    for (tok = apr_strtok(copy, "/", &last); tok && n < max; tok = apr_strtok(NULL, "/", &last)) {
        seg[n++] = tok;
    }
    return tok ? max + 1 : n;
}

static int is_digits(const char *s)
{
    if (!*s || strlen(s) > 18) return 0;
    for (; *s; s++) if (!apr_isdigit(*s)) return 0;
    return 1;
}

static int is_hex(const char *s)
{
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++) if (!apr_isxdigit(*s)) return 0;
    return 1;
}

int admin_is_hex(const char *s)
{
    return s && is_hex(s);
}

/* A number from the query (a cursor or a limit): def when absent, -1 when
 * it is not a number from 1 to max. */
apr_int64_t admin_query_number(const scep_admin_in_t *in, const char *name, apr_int64_t def,
                               apr_int64_t max)
{
    const char *v = in->query ? apr_table_get(in->query, name) : NULL;
    apr_int64_t n;

    if (!v) {
        return def;
    }
    if (!is_digits(v) || (n = apr_atoi64(v)) < 1 || n > max) {
        return -1;
    }
    return n;
}

/* What each POST of the API takes */
static const member_t NOTHING[] = { { NULL, MEMBER_STRING, 0 } };
static const member_t REASON[] = {
    { "reason", MEMBER_STRING, 0 }, { NULL, MEMBER_STRING, 0 }
};
static const member_t DRY_RUN[] = {
    { "profile", MEMBER_STRING, 1 }, { "csr", MEMBER_TEXT, 1 }, { NULL, MEMBER_STRING, 0 }
};
static const member_t CHALLENGE[] = {
    { "profile", MEMBER_STRING, 1 }, { "ttl", MEMBER_STRING, 0 },
    { "subject", MEMBER_ARRAY, 0 }, { "san", MEMBER_ARRAY, 0 }, { NULL, MEMBER_STRING, 0 }
};


/* GET api/enrollments[?q=][&status=][&profile=][&since=][&until=][&limit=][&before=] */
static void api_enrollments(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t limit = admin_query_number(c->in, "limit", API_ROWS, API_MAX_ROWS);
    list_t *l = apr_pcalloc(p, sizeof(*l));
    scep_search_t q;
    const char *query, *err;
    apr_array_header_t *rows;

    if (limit < 0) {
        admin_json_error(c->out, p, 400, "limit must be a number from 1 to 1000, before an id");
        return;
    }
    if (admin_search_parse(&q, &query, &err, p, c->adm, c->in, (int)limit + 1) != APR_SUCCESS) {
        admin_json_error(c->out, p, 400, err);
        return;
    }
    if (scep_store_txn_search(&rows, c->ctx, c->st, &q) != APR_SUCCESS) {
        admin_json_error(c->out, p, 503, "database error");
        return;
    }
    l->name = "enrollments";
    admin_paginate(&l->r, p, rows, (int)limit, admin_txn_id(rows, (int)limit - 1),
                   apr_psprintf(p, "%sapi/enrollments?%slimit=%d&before=", c->adm->base, query,
                                (int)limit));
    admin_stream(c->out, 200, CT_JSON, admin_list_stream, l);
}

/* GET api/enrollments/ID */
static void api_enrollment(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    scep_txn_t *t;
    apr_status_t rv = scep_store_txn_get(&t, c->ctx, c->st, c->adm->ca->fingerprint, c->arg);

    if (rv != APR_SUCCESS) {
        admin_json_error(c->out, p, status_of(rv), rv == APR_NOTFOUND ? "no such enrollment"
                         : "database error");
        return;
    }
    admin_respond(c->out, 200, CT_JSON, apr_pstrcat(p, admin_txn_json(p, t), "\n", NULL));
}

/* POST api/enrollments/ID/approve */
static void api_approve(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *msg, *serial;
    apr_status_t rv = scep_admin_approve(&msg, &serial, c->ctx, c->adm, c->st, c->arg);

    if (rv != APR_SUCCESS) {
        admin_json_error(c->out, p, status_of(rv), msg);
        return;
    }
    c->out->action_done = "approve";
    admin_respond(c->out, 200, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"status\":\"ISSUED\","
                  "\"serial\":%s}\n", c->arg, admin_json_str(p, serial)));
}

/* POST api/enrollments/ID/reject {"reason"} */
static void api_reject(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *msg;
    int status;

    do_reject(c->ctx, c->adm, c->st, c->arg, admin_member(c->body, "reason"), &status, &msg);
    if (msg) {
        admin_json_error(c->out, p, status, msg);
        return;
    }
    c->out->action_done = "reject";
    admin_respond(c->out, 200, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"status\":\"REJECTED\"}\n",
                  c->arg));
}

/* POST api/certificates/SERIAL/revoke {"reason"} */
static void api_revoke(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t crl_number;
    const char *msg;
    int status;

    do_revoke(c->ctx, c->adm, c->st, c->arg, admin_member(c->body, "reason"), &status, &msg,
              &crl_number);
    if (msg) {
        admin_json_error(c->out, p, status, msg);
        return;
    }
    c->out->action_done = "revoke";
    admin_respond(c->out, 200, CT_JSON, apr_psprintf(p, "{\"serial\":%s,\"revoked\":true,"
                  "\"crl_number\":%" APR_INT64_T_FMT "}\n", admin_json_str(p, c->arg),
                  crl_number));
}

/* GET api/challenges[?limit=][&before=]: the open ones */
static void api_challenges(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t limit = admin_query_number(c->in, "limit", API_ROWS, API_MAX_ROWS);
    apr_int64_t before = admin_query_number(c->in, "before", 0, MAX_ID);
    apr_array_header_t *rows;
    list_t *l;

    if (limit < 0 || before < 0) {
        admin_json_error(c->out, p, 400, "limit must be a number from 1 to 1000, before an id");
        return;
    }
    if (scep_store_challenge_open(&rows, c->ctx, c->st, c->adm->ca->fingerprint, before,
                                  (int)limit + 1) != APR_SUCCESS) {
        admin_json_error(c->out, p, 503, "database error");
        return;
    }
    l = apr_pcalloc(p, sizeof(*l));
    l->name = "challenges";
    l->challenges = 1;
    admin_paginate(&l->r, p, rows, (int)limit, admin_challenge_id(rows, (int)limit - 1),
                   apr_psprintf(p, "%sapi/challenges?limit=%d&before=", c->adm->base,
                   (int)limit));
    admin_stream(c->out, 200, CT_JSON, admin_list_stream, l);
}

/* The "subject" and "san" members of an API body, in their stored form. */
static apr_status_t names_of_body(const char **psubject, const char **psan, const char **perr,
                                  apr_pool_t *p, json_t *body)
{
    json_t *names;

    *psubject = *psan = NULL;
    if (((names = json_object_get(body, "subject"))
         && admin_subject_of_json(psubject, perr, p, names) != APR_SUCCESS)
        || ((names = json_object_get(body, "san"))
            && admin_sans_of_json(psan, perr, p, names) != APR_SUCCESS)) {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* POST api/challenges {"profile", "ttl", "subject", "san"}: a new one */
static void api_challenge_make(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *err = NULL, *secret, *subject, *san;
    scep_challenge_t *ch;
    apr_status_t rv;

    if (names_of_body(&subject, &san, &err, p, c->body) != APR_SUCCESS) {
        admin_json_error(c->out, p, 400, err);
        return;
    }
    rv = do_challenge(c->ctx, c->adm, c->st, "challenge", admin_member(c->body, "profile"),
                      admin_member(c->body, "ttl"), subject, san, &secret, &ch, &err);
    if (rv != APR_SUCCESS) {
        admin_json_error(c->out, p, rv == APR_EINVAL ? 400 : 503, err);
        return;
    }
    admin_respond(c->out, 201, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"challenge\":%s,"
                  "\"profile\":%s,\"expires_at\":%" APR_INT64_T_FMT "}\n", ch->id,
                  admin_json_str(p, secret), admin_json_str(p, ch->profile), ch->expires_at));
}

/* POST api/challenges/ID/revoke */
static void api_challenge_revoke(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_status_t rv;

    admin_audit(c->st, c->adm, "challenge-revoke", c->arg, NULL);
    rv = scep_store_challenge_revoke(c->ctx, c->st, c->adm->ca->fingerprint, c->arg);

    if (rv != APR_SUCCESS) {
        admin_json_error(c->out, p, status_of(rv), rv == APR_NOTFOUND
                         ? "no such open challenge" : "database error");
        return;
    }
    SCEP_LOG(c->ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00405)
             "%s revoked one-time challenge %s", c->adm->user, c->arg);
    admin_respond(c->out, 200, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"revoked\":true}\n",
                  c->arg));
}

/* POST api/mobileconfig {"profile", "subject", "san", "ttl"}: an Apple
 * configuration profile with a fresh challenge bound to those names */
static void api_mobileconfig(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *err = NULL, *subject, *san;
    int status;

    if (names_of_body(&subject, &san, &err, p, c->body) != APR_SUCCESS) {
        admin_json_error(c->out, p, 400, err);
        return;
    }
    if (do_mobileconfig(c->ctx, c->adm, c->st, c->in, admin_member(c->body, "profile"),
                        admin_member(c->body, "ttl"), subject, san, c->out, &status, &err)
        != APR_SUCCESS) {
        admin_json_error(c->out, p, status, err);
    }
}

/* GET api/outbox[?limit=]: the notifications not delivered yet, oldest
 * first (a receiver that is down shows here, with the last error) */
static void api_outbox(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t limit = admin_query_number(c->in, "limit", API_ROWS, API_MAX_ROWS);
    apr_array_header_t *rows;
    const char *body = "{\"events\":[";
    int i;

    if (limit < 0) {
        admin_json_error(c->out, p, 400, "limit must be a number from 1 to 1000");
        return;
    }
    if (scep_store_outbox_pending_of(&rows, c->ctx, c->st, c->adm->ca->fingerprint,
                                     (int)limit) != APR_SUCCESS) {
        admin_json_error(c->out, p, 503, "database error");
        return;
    }
    for (i = 0; i < rows->nelts; i++) {
        body = apr_pstrcat(p, body, i ? ",\n" : "",
                           admin_event_json(p, &APR_ARRAY_IDX(rows, i, scep_event_t)), NULL);
    }
    admin_respond(c->out, 200, CT_JSON, apr_pstrcat(p, body, "]}\n", NULL));
}

/* The API: method, path below api/ (ID: decimal digits, SERIAL: hex), what
 * a POST's body may hold, the action. */
static const struct api_route_t {
    int post;
    const char *path;
    const member_t *body;
    api_fn *fn;
} api_routes[] = {
    { 0, "enrollments", NULL, api_enrollments },
    { 0, "enrollments/ID", NULL, api_enrollment },
    { 1, "enrollments/ID/approve", NOTHING, api_approve },
    { 1, "enrollments/ID/reject", REASON, api_reject },
    { 0, "certificates", NULL, admin_api_certificates },
    { 0, "certificates/SERIAL", NULL, admin_api_certificate },
    { 0, "certificates/SERIAL/pem", NULL, admin_api_certificate_pem },
    { 0, "certificates/SERIAL/der", NULL, admin_api_certificate_der },
    { 0, "stats", NULL, admin_api_stats },
    { 0, "audit", NULL, admin_api_audit },
    { 1, "dry-run", DRY_RUN, admin_api_dry_run },
    { 1, "certificates/SERIAL/revoke", REASON, api_revoke },
    { 0, "challenges", NULL, api_challenges },
    { 1, "challenges", CHALLENGE, api_challenge_make },
    { 1, "challenges/ID/revoke", NOTHING, api_challenge_revoke },
    { 0, "outbox", NULL, api_outbox },
    { 1, "mobileconfig", CHALLENGE, api_mobileconfig },
    { 0, NULL, NULL, NULL }
};

/* Do the segments seg[0..n) match path; *parg gets the ID or SERIAL. */
static int route_matches(apr_pool_t *p, const char *path, const char **seg, int n,
                         const char **parg)
{
    const char *parts[4];
    int k = split(p, path, parts, 3), i;

    if (k != n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!strcmp(parts[i], "ID") ? !is_digits(seg[i])
            : !strcmp(parts[i], "SERIAL") ? !is_hex(seg[i]) : strcmp(parts[i], seg[i])) {
            return 0;
        }
        if (!strcmp(parts[i], "ID") || !strcmp(parts[i], "SERIAL")) {
            *parg = seg[i];
        }
    }
    return 1;
}

static void api(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                const scep_admin_in_t *in, const char **seg, int n, scep_admin_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    api_call_t call = { ctx, adm, st, in, NULL, NULL, out };
    const struct api_route_t *r;
    const char *err;

    if (in->is_post && (!in->content_type
                        || strncasecmp(in->content_type, "application/json", 16))) {
        /* a cross-site form cannot send this type without a preflight */
        admin_json_error(out, p, 415, "POST to the API needs Content-Type: application/json");
        return;
    }
    for (r = api_routes; r->path; r++) {
        if (r->post == in->is_post && route_matches(p, r->path, seg + 1, n - 1, &call.arg)) {
            if (r->post && admin_json_body(&call.body, &err, p, in, r->body) != APR_SUCCESS) {
                admin_json_error(out, p, 400, err);
                return;
            }
            r->fn(&call);
            return;
        }
    }
    admin_json_error(out, p, in->is_post ? 405 : 404, "no such API call (see the README)");
}

/* One form of the page as it reaches its action, which sets notice or msg
 * (a failure) for the page that follows. */
typedef struct ui_call_t {
    scep_ctx_t *ctx;
    const scep_admin_t *adm;
    scep_store_t *st;
    apr_table_t *form;
    const char *notice, *msg;
} ui_call_t;

/* The form's "id", or NULL (and msg) when it is not one. */
static const char *form_id(ui_call_t *c, const char *what)
{
    const char *id = apr_table_get(c->form, "id");

    if (!id || !is_digits(id)) {
        c->msg = what;
        return NULL;
    }
    return id;
}

static void ui_approve(ui_call_t *c)
{
    const char *id = form_id(c, "no enrollment id"), *serial, *msg;

    if (id && scep_admin_approve(&msg, &serial, c->ctx, c->adm, c->st, id) == APR_SUCCESS) {
        c->notice = apr_psprintf(c->ctx->pool, "Approved enrollment %s: certificate %s issued.",
                                 id, serial);
    }
    else if (id) {
        c->msg = msg;
    }
}

static void ui_reject(ui_call_t *c)
{
    const char *id = form_id(c, "no enrollment id");
    int status;

    if (id) {
        do_reject(c->ctx, c->adm, c->st, id, apr_table_get(c->form, "reason"), &status, &c->msg);
        if (!c->msg) {
            c->notice = apr_psprintf(c->ctx->pool, "Rejected enrollment %s.", id);
        }
    }
}

static void ui_revoke_challenge(ui_call_t *c)
{
    const char *id = form_id(c, "no such open challenge");

    if (id) {
        admin_audit(c->st, c->adm, "challenge-revoke", id, NULL);
    }
    if (id && scep_store_challenge_revoke(c->ctx, c->st, c->adm->ca->fingerprint, id)
              != APR_SUCCESS) {
        c->msg = "no such open challenge";
    }
    else if (id) {
        SCEP_LOG(c->ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00406)
                 "%s revoked one-time challenge %s", c->adm->user, id);
        c->notice = apr_psprintf(c->ctx->pool, "Revoked challenge %s.", id);
    }
}

static void ui_revoke(ui_call_t *c)
{
    const char *s = apr_table_get(c->form, "serial");
    apr_int64_t crl_number;
    int status;

    if (!s || !is_hex(s)) {
        c->msg = "the serial must be hexadecimal";
        return;
    }
    do_revoke(c->ctx, c->adm, c->st, s, apr_table_get(c->form, "reason"), &status, &c->msg,
              &crl_number);
    if (!c->msg) {
        c->notice = apr_psprintf(c->ctx->pool, "Revoked certificate %s; CRL number %"
                                 APR_INT64_T_FMT ".", s, crl_number);
    }
}

/* The forms that answer with post/redirect/get: the page shows what happened. */
static const struct ui_route_t {
    const char *action;
    void (*fn)(ui_call_t *c);
} ui_routes[] = {
    { "approve", ui_approve },
    { "reject", ui_reject },
    { "revoke-challenge", ui_revoke_challenge },
    { "revoke", ui_revoke },
    { NULL, NULL }
};

/* A new one-time challenge: the page is rendered here, not redirected to,
 * since the secret must not travel in a URL. */
static void ui_challenge(ui_call_t *c, const scep_admin_in_t *in, const char *token,
                         scep_admin_out_t *out)
{
    apr_pool_t *p = c->ctx->pool;
    const char *secret = NULL, *err;
    scep_challenge_t *ch;
    page_t *pg;
    apr_status_t rv;

    if (do_challenge(c->ctx, c->adm, c->st, "challenge", apr_table_get(c->form, "profile"),
                     apr_table_get(c->form, "ttl"), apr_table_get(c->form, "subject"),
                     apr_table_get(c->form, "san"), &secret, &ch, &c->msg) == APR_SUCCESS) {
        c->notice = apr_psprintf(p, "Created one-time challenge %s for %s.", ch->id,
                                 ch->profile);
    }
    rv = admin_page_make(&pg, &err, c->ctx, c->adm, c->st, in, token,
                         c->msg ? apr_pstrcat(p, "Failed: ", c->msg, NULL) : c->notice, secret);
    if (rv != APR_SUCCESS) {
        admin_respond(out, rv == APR_EINVAL ? 400 : 503, "text/plain",
                      apr_pstrcat(p, rv == APR_EINVAL ? "Bad Request: " : "Service Unavailable: ",
                      err, "\n", NULL));
        return;
    }
    admin_stream(out, c->msg ? 400 : 200, CT_HTML, admin_page_stream, pg);
}

/* The challenge form's other button: the profile is downloaded, or the
 * page says why not. */
static void ui_mobileconfig(ui_call_t *c, const scep_admin_in_t *in, scep_admin_out_t *out)
{
    apr_pool_t *p = c->ctx->pool;
    const char *err = NULL;
    int status;

    if (do_mobileconfig(c->ctx, c->adm, c->st, in, apr_table_get(c->form, "profile"),
                        apr_table_get(c->form, "ttl"), apr_table_get(c->form, "subject"),
                        apr_table_get(c->form, "san"), out, &status, &err) != APR_SUCCESS) {
        out->location = apr_pstrcat(p, c->adm->base, "?notice=",
                                    scep_url_escape(p, apr_pstrcat(p, "Failed: ", err, NULL)),
                                    NULL);
        admin_respond(out, 303, "text/plain", "See Other\n");
    }
}

static void ui_post(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                    const scep_admin_in_t *in, const char *action, scep_admin_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    ui_call_t call = { ctx, adm, st, admin_form_parse(p, in->body), NULL, NULL };
    const char *token = apr_table_get(call.form, "csrf"), *bad;
    const struct ui_route_t *r;

    /* the form field must equal our SameSite cookie (double submit), and
     * be a token we made for this user (never empty, planted or another's) */
    if (!token || !in->csrf_cookie
        || !scep_secret_equal((const unsigned char *)token, strlen(token),
                              (const unsigned char *)in->csrf_cookie, strlen(in->csrf_cookie))
        || !token_ok(ctx, adm, token)) {
        SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00410)
                 "refused an admin form of %s: missing or wrong CSRF token", adm->user);
        admin_respond(out, 403, "text/plain",
                      "Forbidden: missing or wrong CSRF token; reload the page\n");
        return;
    }
    if ((bad = admin_form_ctl(p, call.form)) != NULL) {
        admin_respond(out, 400, "text/plain", apr_pstrcat(p, "Bad Request: the form field ",
                      bad, " contains a control character\n", NULL));
        return;
    }
    if (!strcmp(action, "challenge")) {
        ui_challenge(&call, in, token, out);
        return;
    }
    if (!strcmp(action, "mobileconfig")) {
        ui_mobileconfig(&call, in, out);
        return;
    }
    for (r = ui_routes; r->action && strcmp(r->action, action); r++) {
    }
    if (!r->action) {
        admin_respond(out, 404, "text/plain", "Not Found\n");
        return;
    }
    r->fn(&call);
    if (!call.msg && (!strcmp(action, "approve") || !strcmp(action, "reject")
                      || !strcmp(action, "revoke"))) {
        out->action_done = r->action;
    }
    out->location = apr_pstrcat(p, adm->base, "?notice=",
                                scep_url_escape(p, call.msg ? apr_pstrcat(p, "Failed: ",
                                                                          call.msg, NULL)
                                                            : call.notice), NULL);
    admin_respond(out, 303, "text/plain", "See Other\n");
}

/* The form token of a view with forms: the browser's, or a new one it is
 * given (a new browser, another user, or a secret changed by a restart);
 * NULL when none can be made. */
static const char *page_token(scep_ctx_t *ctx, const scep_admin_t *adm,
                              const scep_admin_in_t *in, scep_admin_out_t *out)
{
    const char *csrf = token_ok(ctx, adm, in->csrf_cookie) ? in->csrf_cookie : NULL;

    if (!csrf && (csrf = new_token(ctx, adm)) != NULL) {
        out->set_csrf_cookie = csrf;
    }
    return csrf;
}

/* A certificate named by serial (its detail, download or revocation) that
 * another CA of the host issued (README "CA rollover") is that CA's
 * business: adm as that CA sees it. Otherwise adm itself. */
static const scep_admin_t *admin_of_serial(scep_ctx_t *ctx, const scep_admin_t *adm,
                                           scep_store_t *st, const char **seg, int n)
{
    const char *serial = n >= 2 && !strcmp(seg[0], "certificates") ? seg[1]
                         : n >= 3 && !strcmp(seg[0], "api") && !strcmp(seg[1], "certificates")
                         ? seg[2] : NULL;
    const scep_ca_t *ca;
    scep_admin_t *other;
    scep_cert_t *rec;
    char *upper, *u;

    if (!serial || !adm->cas || adm->cas->all->nelts < 2 || !admin_is_hex(serial)) {
        return adm;
    }
    upper = apr_pstrdup(ctx->pool, serial);
    for (u = upper; *u; u++) *u = (char)apr_toupper(*u);
    if (cert_in_host(&rec, &ca, ctx, adm, st, upper) != APR_SUCCESS || ca == adm->ca) {
        return adm;
    }
    other = apr_pmemdup(ctx->pool, adm, sizeof(*adm));
    other->ca = ca;
    return other;
}

void scep_admin_handle(scep_ctx_t *ctx, const scep_admin_t *adm, const scep_admin_in_t *in,
                       scep_admin_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    const char *seg[6];
    int n = split(p, in->path ? in->path : "", seg, 5);
    scep_store_t *st = NULL;
    const char *why, *csrf = "";

    memset(out, 0, sizeof(*out));
    if (n > 5) {
        admin_respond(out, 404, "text/plain", "Not Found\n");
        return;
    }
    if (in->is_post && (why = cross_site(p, in)) != NULL) {
        SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00411)
                 "refused a cross-site admin POST of %s (%s)", adm->user, why);
        if (n >= 1 && !strcmp(seg[0], "api")) {
            admin_json_error(out, p, 403, "cross-site request refused");
        }
        else {
            admin_respond(out, 403, "text/plain", "Forbidden: cross-site request refused\n");
        }
        return;
    }
    if (!adm->open_store || adm->open_store(adm->store_baton, &st) != APR_SUCCESS) {
        admin_respond(out, 503, "text/plain",
                      "Service Unavailable: enrollment database unavailable\n");
        return;
    }
    adm = admin_of_serial(ctx, adm, st, seg, n);
    if (n >= 1 && !strcmp(seg[0], "api")) {
        api(ctx, adm, st, in, seg, n, out);
        return;
    }
    if (n == 2 && !strcmp(seg[0], "ui") && in->is_post) {
        ui_post(ctx, adm, st, in, seg[1], out);
        return;
    }
    /* the page and the detail view have forms */
    if (!in->is_post && (n == 0 || (n == 2 && !strcmp(seg[0], "certificates")))
        && !(csrf = page_token(ctx, adm, in, out))) {
        admin_respond(out, 500, "text/plain", "Internal Server Error: no form token\n");
        return;
    }
    if (!in->is_post && n >= 1 && admin_fleet_page(ctx, adm, st, in, seg, n, csrf, out)) {
        return;
    }
    if (n == 0 && !in->is_post) {
        const char *err;
        page_t *pg;
        apr_status_t rv;
        rv = admin_page_make(&pg, &err, ctx, adm, st, in, csrf, apr_table_get(in->query, "notice"),
                             NULL);
        if (rv != APR_SUCCESS) {
            admin_respond(out, rv == APR_EINVAL ? 400 : 503, "text/plain",
                          apr_pstrcat(p, rv == APR_EINVAL ? "Bad Request: "
                                                          : "Service Unavailable: ",
                                      err, "\n", NULL));
            return;
        }
        admin_stream(out, 200, CT_HTML, admin_page_stream, pg);
        return;
    }
    admin_respond(out, in->is_post ? 405 : 404, "text/plain", in->is_post ? "Method Not Allowed\n"
                  : "Not Found\n");
}

