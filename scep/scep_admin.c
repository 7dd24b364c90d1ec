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

#include "scep_admin.h"
#include "scep_issue.h"
#include "scep_crl_cache.h"
#include "scep_crl.h"
#include "scep_ossl.h"
#include "scep_store.h"
#include "scep_util.h"
#include "scep_policy.h"

#define CT_JSON "application/json"
#define CT_HTML "text/html; charset=utf-8"

/* ---- output helpers ---------------------------------------------------- */

static const char *json_str(apr_pool_t *p, const char *s)
{
    apr_size_t i, n;
    char *out, *o;

    if (!s) {
        return "null";
    }
    n = strlen(s);
    out = o = apr_palloc(p, n * 6 + 3);
    *o++ = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
        else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            o += apr_snprintf(o, 7, "\\u%04x", c);
        }
        else *o++ = (char)c;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *html(apr_pool_t *p, const char *s)
{
    apr_size_t i, n;
    char *out, *o;

    if (!s) {
        return "";
    }
    n = strlen(s);
    out = o = apr_palloc(p, n * 6 + 1);
    for (i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': memcpy(o, "&lt;", 4); o += 4; break;
        case '>': memcpy(o, "&gt;", 4); o += 4; break;
        case '&': memcpy(o, "&amp;", 5); o += 5; break;
        case '"': memcpy(o, "&quot;", 6); o += 6; break;
        case '\'': memcpy(o, "&#39;", 5); o += 5; break;
        default: *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static void respond(scep_admin_out_t *out, int status, const char *type, const char *body)
{
    out->status = status;
    out->content_type = type;
    out->body = (const unsigned char *)body;
    out->len = strlen(body);
}

static void json_error(scep_admin_out_t *out, apr_pool_t *p, int status, const char *msg)
{
    respond(out, status, CT_JSON, apr_psprintf(p, "{\"error\":%s}\n", json_str(p, msg)));
}

/* ---- input ---------------------------------------------------------------- */

/* Control characters (C0 and DEL) have no place in admin input: a newline
 * split one bound name into two, and they would reach the logs. */
static const char *ctl_in(const char *s, apr_size_t len, int newlines_ok)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 || c == 0x7f) && !(newlines_ok && (c == '\n' || c == '\r'))) {
            return s + i;
        }
    }
    return NULL;
}

static apr_status_t json_release(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

typedef enum { MEMBER_STRING, MEMBER_ARRAY } member_type_t;

/* What one API call takes: its members, ended by a NULL name. */
typedef struct member_t {
    const char *name;
    member_type_t type;
    int required;
} member_t;

static const char *member_quoted(apr_pool_t *p, const char *name)
{
    return apr_pstrcat(p, "\"", scep_log_safe(p, name, strlen(name)), "\"", NULL);
}

/* The body of an API call: one JSON object (an empty body is an empty
 * object) with no member but those of spec, each of its type, strings free
 * of control characters. The object belongs to the pool. */
static apr_status_t json_body(json_t **pobj, const char **perr, apr_pool_t *p,
                              const scep_admin_in_t *in, const member_t *spec)
{
    json_error_t jerr;
    json_t *root, *val;
    const char *key;
    const member_t *m;
    apr_size_t i;

    for (i = 0; i < in->body_len; i++) {
        char c = in->body[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    }
    if (i == in->body_len) {
        root = json_object();
    }
    else if (!(root = json_loadb(in->body, in->body_len, JSON_REJECT_DUPLICATES, &jerr))) {
        char *text = apr_pstrdup(p, jerr.text), *c;
        for (c = text; *c; c++) {
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
        }
        *perr = apr_psprintf(p, "the body is not valid JSON: %s (line %d, column %d)",
                             text, jerr.line, jerr.column);
        return APR_EINVAL;
    }
    if (!root) {
        *perr = "out of memory";
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, root, json_release, apr_pool_cleanup_null);
    if (!json_is_object(root)) {
        *perr = "the body must be one JSON object";
        return APR_EINVAL;
    }
    json_object_foreach(root, key, val) {
        for (m = spec; m->name && strcmp(m->name, key); m++)
            ;
        if (!m->name) {
            *perr = apr_pstrcat(p, "unknown member ", member_quoted(p, key), NULL);
            return APR_EINVAL;
        }
        if (m->type == MEMBER_STRING && !json_is_string(val)) {
            *perr = apr_pstrcat(p, member_quoted(p, key), " must be a string", NULL);
            return APR_EINVAL;
        }
        if (m->type == MEMBER_ARRAY && !json_is_array(val)) {
            *perr = apr_pstrcat(p, member_quoted(p, key), " must be an array", NULL);
            return APR_EINVAL;
        }
        if (m->type == MEMBER_STRING
            && ctl_in(json_string_value(val), json_string_length(val), 0)) {
            *perr = apr_pstrcat(p, member_quoted(p, key), " contains a control character",
                                NULL);
            return APR_EINVAL;
        }
    }
    for (m = spec; m->name; m++) {
        if (m->required && !json_object_get(root, m->name)) {
            *perr = apr_pstrcat(p, member_quoted(p, m->name), " is required", NULL);
            return APR_EINVAL;
        }
    }
    *pobj = root;
    return APR_SUCCESS;
}

/* A string member of a checked body, or NULL. */
static const char *member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return v ? json_string_value(v) : NULL;
}

/* Item i of a "subject" or "san" array: {"type": "...", "value": "..."}
 * and nothing else, both non-empty strings without control characters. */
static apr_status_t name_item(const char **ptype, const char **pvalue, const char **perr,
                              apr_pool_t *p, const char *what, json_t *arr, size_t i)
{
    json_t *item = json_array_get(arr, i);
    json_t *type = json_object_get(item, "type"), *value = json_object_get(item, "value");

    if (!json_is_object(item) || json_object_size(item) != 2
        || !json_is_string(type) || !json_is_string(value)) {
        *perr = apr_psprintf(p, "%s[%" APR_SIZE_T_FMT "] must be an object "
                             "{\"type\": \"...\", \"value\": \"...\"} of two strings",
                             what, (apr_size_t)i);
        return APR_EINVAL;
    }
    if (!json_string_length(type) || !json_string_length(value)) {
        *perr = apr_psprintf(p, "%s[%" APR_SIZE_T_FMT "]: type and value must not be empty",
                             what, (apr_size_t)i);
        return APR_EINVAL;
    }
    if (ctl_in(json_string_value(type), json_string_length(type), 0)
        || ctl_in(json_string_value(value), json_string_length(value), 0)) {
        *perr = apr_psprintf(p, "%s[%" APR_SIZE_T_FMT "] contains a control character",
                             what, (apr_size_t)i);
        return APR_EINVAL;
    }
    *ptype = json_string_value(type);
    *pvalue = json_string_value(value);
    return APR_SUCCESS;
}

/* Does the entry hold exactly this UTF-8 value? */
static int entry_is(X509_NAME_ENTRY *e, int nid, const char *value)
{
    unsigned char *utf8 = NULL;
    int n, same;

    if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != nid
        || (n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))) < 0) {
        ERR_clear_error();
        return 0;
    }
    same = (apr_size_t)n == strlen(value) && !memcmp(utf8, value, (apr_size_t)n);
    OPENSSL_free(utf8);
    return same;
}

/* "subject": [{"type": "CN", "value": "device1"}, ...] in the stored form
 * "/CN=device1/..." ("\" and "/" in a value escaped as
 * scep_policy_parse_subject reads them); read back, it must give exactly
 * these attributes, so no value can add one. */
static apr_status_t subject_of_json(const char **psubject, const char **perr, apr_pool_t *p,
                                    json_t *arr)
{
    size_t i, n = json_array_size(arr);
    apr_array_header_t *parts = apr_array_make(p, (int)(4 * n + 1), sizeof(const char *));
    int *nids = apr_palloc(p, (n + 1) * sizeof(*nids));
    const char **values = apr_palloc(p, (n + 1) * sizeof(*values));
    const char *text, *type;
    X509_NAME *name;

    if (n == 0) {
        *perr = "subject must list at least one attribute (leave it out to bind none)";
        return APR_EINVAL;
    }
    for (i = 0; i < n; i++) {
        char *esc, *o;
        const char *v;
        if (name_item(&type, &values[i], perr, p, "subject", arr, i) != APR_SUCCESS) {
            return APR_EINVAL;
        }
        if ((nids[i] = scep_policy_subject_nid(type)) == NID_undef) {
            *perr = apr_psprintf(p, "subject[%" APR_SIZE_T_FMT "]: unknown attribute type %s",
                                 (apr_size_t)i, member_quoted(p, type));
            return APR_EINVAL;
        }
        esc = o = apr_palloc(p, 2 * strlen(values[i]) + 1);
        for (v = values[i]; *v; v++) {
            if (*v == '/' || *v == '\\') *o++ = '\\';
            *o++ = *v;
        }
        *o = '\0';
        APR_ARRAY_PUSH(parts, const char *) = "/";
        APR_ARRAY_PUSH(parts, const char *) = type;
        APR_ARRAY_PUSH(parts, const char *) = "=";
        APR_ARRAY_PUSH(parts, const char *) = esc;
    }
    text = apr_array_pstrcat(p, parts, 0);
    if (scep_policy_parse_subject(&name, perr, p, text) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if ((size_t)X509_NAME_entry_count(name) != n
            || !entry_is(X509_NAME_get_entry(name, (int)i), nids[i], values[i])) {
            *perr = apr_psprintf(p, "subject[%" APR_SIZE_T_FMT "] cannot be stored as given",
                                 (apr_size_t)i);
            return APR_EINVAL;
        }
    }
    *psubject = text;
    return APR_SUCCESS;
}

/* "san": [{"type": "dns", "value": "device1.example.com"}, ...] in the
 * stored form, one "type:value" a line; read back, exactly these names. */
static apr_status_t sans_of_json(const char **psan, const char **perr, apr_pool_t *p,
                                 json_t *arr)
{
    size_t i, n = json_array_size(arr);
    apr_array_header_t *parts = apr_array_make(p, (int)(4 * n + 1), sizeof(const char *));
    const char *text, *type, *value;
    GENERAL_NAMES *gens;

    if (n == 0) {
        *perr = "san must list at least one name (leave it out to bind none)";
        return APR_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (name_item(&type, &value, perr, p, "san", arr, i) != APR_SUCCESS) {
            return APR_EINVAL;
        }
        if (scep_policy_san_type(type) < 0) {
            *perr = apr_psprintf(p, "san[%" APR_SIZE_T_FMT "]: unknown type %s (dns, email, "
                                 "uri, ip, upn)", (apr_size_t)i, member_quoted(p, type));
            return APR_EINVAL;
        }
        APR_ARRAY_PUSH(parts, const char *) = i ? "\n" : "";
        APR_ARRAY_PUSH(parts, const char *) = type;
        APR_ARRAY_PUSH(parts, const char *) = ":";
        APR_ARRAY_PUSH(parts, const char *) = value;
    }
    text = apr_array_pstrcat(p, parts, 0);
    if (scep_policy_parse_sans(&gens, perr, p, text) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if ((size_t)sk_GENERAL_NAME_num(gens) != n) {
        *perr = "san cannot be stored as given";
        return APR_EINVAL;
    }
    *psan = text;
    return APR_SUCCESS;
}

static const char *challenge_json(apr_pool_t *p, const scep_challenge_t *c)
{
    return apr_psprintf(p, "{\"id\":%s,\"profile\":%s,\"subject\":%s,\"san\":%s,"
        "\"created_by\":%s,\"created_at\":%" APR_INT64_T_FMT ",\"expires_at\":%"
        APR_INT64_T_FMT "}", c->id, json_str(p, c->profile), json_str(p, c->subject),
        json_str(p, c->san), json_str(p, c->created_by), c->created_at, c->expires_at);
}

static apr_status_t decode_der(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                               const char *b64);

/* What a held request will be issued as (the profile's decision), else
 * what it asked for. */
static const char *subject_of(apr_pool_t *p, const scep_txn_t *t)
{
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    X509_NAME *n;

    if (t->plan_subject && decode_der(&der, &len, p, t->plan_subject) == APR_SUCCESS) {
        q = der;
        if ((n = scep_own_name(p, d2i_X509_NAME(NULL, &q, (long)len))) != NULL) {
            return scep_name_str(p, n);
        }
    }
    ERR_clear_error();
    return t->subject;
}

static const char *txn_json(apr_pool_t *p, const scep_txn_t *t)
{
    return apr_psprintf(p,
        "{\"id\":%s,\"transaction_id\":%s,\"status\":%s,\"message_type\":%d,"
        "\"subject\":%s,\"requested_subject\":%s,\"profile\":%s,\"client_addr\":%s,\"serial\":%s,"
        "\"fail_info\":%s,\"fail_text\":%s,\"renewal_of\":%s,\"decided_by\":%s,"
        "\"decided_at\":%s,\"created_at\":%" APR_INT64_T_FMT "}",
        t->id, json_str(p, t->tid), json_str(p, t->status), t->msg_type,
        json_str(p, subject_of(p, t)), json_str(p, t->subject), json_str(p, t->profile), json_str(p, t->client_addr),
        json_str(p, t->serial), t->fail_info >= 0 ? apr_itoa(p, t->fail_info) : "null",
        json_str(p, t->fail_text),
        json_str(p, t->renewal_of && *t->renewal_of ? t->renewal_of : NULL),
        json_str(p, t->decided_by),
        t->decided_at ? apr_psprintf(p, "%" APR_INT64_T_FMT, t->decided_at) : "null",
        t->created_at);
}

/* ---- operations ---------------------------------------------------------- */

static apr_status_t decode_der(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                               const char *b64)
{
    return b64 ? scep_b64_decode(pder, plen, p, b64, strlen(b64)) : APR_EINVAL;
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
    if (decode_der(&der, &len, p, t->csr) != APR_SUCCESS
        || !(q = der, csr = scep_own_req(p, d2i_X509_REQ(NULL, &q, (long)len)))) {
        *perr = "the stored request is unreadable";
        return APR_EGENERAL;
    }
    if (scep_policy_plan(&plan, perr, p, prof->policy, csr) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    /* a held renewal: the old certificate must still be renewable */
    if (t->renewal_of && *t->renewal_of) {
        rv = scep_store_cert_get(&old, ctx, st, adm->ca->fingerprint, t->renewal_of);
        if (rv == APR_SUCCESS) {
            rv = scep_issue_renewable(&why, ctx, st, old);
        }
        if (rv != APR_SUCCESS) {
            *perr = rv == APR_NOTFOUND ? "the certificate being renewed is not on record"
                                       : "database error";
            return rv == APR_NOTFOUND ? APR_EGENERAL : rv;
        }
        if (why) {
            *perr = why;
            return SCEP_ECONFLICT;
        }
    }
    /* subject and SANs as the profile decided when the request arrived */
    if (decode_der(&der, &len, p, t->plan_subject) != APR_SUCCESS
        || !(q = der, plan->subject = d2i_X509_NAME(NULL, &q, (long)len))) {
        *perr = "the stored subject is unreadable";
        return APR_EGENERAL;
    }
    scep_own_name(p, plan->subject);
    if (t->plan_san && decode_der(&der, &len, p, t->plan_san) == APR_SUCCESS) {
        q = der;
        plan->san = d2i_GENERAL_NAMES(NULL, &q, (long)len);
        scep_own_general_names(p, plan->san);
    }
    ERR_clear_error();
    if ((rv = scep_issue_sign(&cert, &rec, &renewal, perr, p, adm->ca, plan, prof->name, old,
                              prof->renewal_supersede)) != APR_SUCCESS) {
        return rv;
    }
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
                                 const char *profile, const char *ttl, const char *subject,
                                 const char *san, const char **psecret,
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

/* ---- streamed bodies ------------------------------------------------------- */

/* The page and the lists are not built in memory: they are written through
 * the glue's callback as they are formatted, each row in a pool cleared
 * after it, so time and memory grow with one row, not with the answer. */
typedef struct emit_t {
    scep_admin_write_fn *write;
    void *baton;
    apr_status_t rv;                 /* the first failure: nothing more is written */
} emit_t;

/* Write the strings, up to a NULL. */
static void emit(emit_t *e, ...)
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

static void stream(scep_admin_out_t *out, int status, const char *type,
                   scep_admin_stream_fn *fn, const void *state)
{
    out->status = status;
    out->content_type = type;
    out->stream = fn;
    out->stream_state = state;
}

/* Rows of a list, and where the next page starts. */
typedef struct rows_t {
    apr_array_header_t *rows;        /* scep_txn_t or scep_challenge_t */
    const char *older;               /* URL of the next (older) rows, or NULL */
} rows_t;

/* One more row than shown was asked for: if it came, there are older rows,
 * from below the last one shown. */
static void paginate(rows_t *r, apr_pool_t *p, apr_array_header_t *rows, int limit,
                     const char *last_id, const char *url)
{
    r->rows = rows;
    r->older = NULL;
    if (rows->nelts > limit) {
        rows->nelts = limit;
        r->older = apr_pstrcat(p, url, last_id, NULL);
    }
}

static const char *txn_id(apr_array_header_t *rows, int i)
{
    return i >= 0 && i < rows->nelts ? APR_ARRAY_IDX(rows, i, scep_txn_t).id : "";
}

static const char *challenge_id(apr_array_header_t *rows, int i)
{
    return i >= 0 && i < rows->nelts ? APR_ARRAY_IDX(rows, i, scep_challenge_t).id : "";
}

/* ---- the HTML page --------------------------------------------------------- */

#define PAGE_ROWS 50                 /* rows of each table on the page */
#define API_ROWS 100                 /* rows of an API list without limit= */
#define API_MAX_ROWS 1000

typedef struct page_t {
    scep_admin_t adm;
    rows_t pending, recent, open;
    int older;                       /* showing older rows of some table */
    const char *csrf, *notice, *secret;
} page_t;

static void older_link(emit_t *e, apr_pool_t *p, const char *url, const char *id,
                       const char *text)
{
    if (url) {
        emit(e, "<p><a href=\"", html(p, url), "\" id=\"", id, "\">", text, "</a></p>\n", NULL);
    }
}

static apr_status_t page_stream(const void *state, apr_pool_t *pool,
                                scep_admin_write_fn *write, void *baton)
{
    const page_t *pg = state;
    const scep_admin_t *adm = &pg->adm;
    const char *base, *csrf = pg->csrf;
    emit_t e = { write, baton, APR_SUCCESS };
    apr_hash_index_t *hi;
    apr_pool_t *p;
    int i;

    if (apr_pool_create(&p, pool) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    base = html(pool, adm->base);
    emit(&e, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<title>mod_scep administration</title>"
         "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
         ".notice{background:#eef;padding:.5em}</style></head><body>\n"
         "<h1>mod_scep administration</h1>\n<p>CA: ", html(p, adm->ca->subject),
         " &mdash; signed in as ", html(p, adm->user), "</p>\n", NULL);
    if (pg->notice) {
        emit(&e, "<p class=\"notice\" id=\"notice\">", html(p, pg->notice), "</p>\n", NULL);
    }
    if (pg->older) {
        emit(&e, "<p><a href=\"", base, "\" id=\"newest\">Back to the newest</a></p>\n", NULL);
    }

    emit(&e, "<h2>Waiting for approval</h2>\n", NULL);
    if (pg->pending.rows->nelts == 0) {
        emit(&e, "<p id=\"no-pending\">Nothing is waiting.</p>\n", NULL);
    }
    else {
        emit(&e, "<table id=\"pending\"><tr><th>#</th><th>Subject</th><th>Profile</th>"
             "<th>Client</th><th>Transaction</th><th></th></tr>\n", NULL);
    }
    for (i = 0; i < pg->pending.rows->nelts; i++) {
        const scep_txn_t *t = &APR_ARRAY_IDX(pg->pending.rows, i, scep_txn_t);
        const char *id;
        apr_pool_clear(p);
        id = html(p, t->id);
        emit(&e, "<tr><td>", id, "</td><td>", html(p, subject_of(p, t)), "</td><td>",
             html(p, t->profile), "</td><td>", html(p, t->client_addr), "</td><td>",
             html(p, t->tid), "</td><td>"
             "<form method=\"post\" action=\"", base, "ui/approve\">"
             "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
             "<input type=\"hidden\" name=\"id\" value=\"", id, "\">"
             "<button type=\"submit\" id=\"approve-", id, "\">Approve</button>"
             "</form><form method=\"post\" action=\"", base, "ui/reject\">"
             "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
             "<input type=\"hidden\" name=\"id\" value=\"", id, "\">"
             "<input name=\"reason\" placeholder=\"reason\">"
             "<button type=\"submit\" id=\"reject-", id, "\">Reject</button>"
             "</form></td></tr>\n", NULL);
    }
    if (pg->pending.rows->nelts) {
        emit(&e, "</table>\n", NULL);
    }
    older_link(&e, pool, pg->pending.older, "older-pending", "Older requests waiting");

    apr_pool_clear(p);
    emit(&e, "<h2>One-time challenges</h2>\n", NULL);
    if (pg->secret) {
        emit(&e, "<p class=\"notice\">New challenge (shown once): <code id=\"challenge-secret\">",
             pg->secret, "</code></p>\n", NULL);
    }
    emit(&e, "<form method=\"post\" action=\"", base, "ui/challenge\" id=\"challenge\">"
         "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
         "<label>Profile <select name=\"profile\" id=\"profile\">", NULL);
    for (hi = adm->named ? apr_hash_first(p, adm->named) : NULL; hi; hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        emit(&e, "<option>", html(p, k), "</option>", NULL);
    }
    emit(&e, "</select></label> "
         "<label>Valid for <input name=\"ttl\" id=\"ttl\" value=\"60m\" size=\"6\"></label> "
         "<label>Bound subject <input name=\"subject\" id=\"subject\" placeholder=\"/CN=device1\">"
         "</label> <label>Bound SANs <textarea name=\"san\" id=\"san\" rows=\"2\" "
         "placeholder=\"dns:device1.example.com\"></textarea></label> "
         "<button type=\"submit\" id=\"challenge-submit\">Create</button></form>\n", NULL);
    if (pg->open.rows->nelts) {
        emit(&e, "<table id=\"challenges\"><tr><th>#</th><th>Profile</th><th>Subject</th>"
             "<th>SANs</th><th>By</th><th>Expires</th><th></th></tr>\n", NULL);
    }
    for (i = 0; i < pg->open.rows->nelts; i++) {
        const scep_challenge_t *c = &APR_ARRAY_IDX(pg->open.rows, i, scep_challenge_t);
        char when[APR_RFC822_DATE_LEN];
        apr_pool_clear(p);
        apr_rfc822_date(when, apr_time_from_sec(c->expires_at));
        emit(&e, "<tr><td>", html(p, c->id), "</td><td>", html(p, c->profile), "</td><td>",
             html(p, c->subject), "</td><td>", html(p, c->san), "</td><td>",
             html(p, c->created_by), "</td><td>", when, "</td><td>"
             "<form method=\"post\" action=\"", base, "ui/revoke-challenge\">"
             "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
             "<input type=\"hidden\" name=\"id\" value=\"", html(p, c->id), "\">"
             "<button type=\"submit\">Revoke</button></form></td></tr>\n", NULL);
    }
    if (pg->open.rows->nelts) {
        emit(&e, "</table>\n", NULL);
    }
    older_link(&e, pool, pg->open.older, "older-challenges", "Older open challenges");

    emit(&e, "<h2>Revoke a certificate</h2>\n<form method=\"post\" action=\"", base,
         "ui/revoke\" id=\"revoke\"><input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
         "<label>Serial (hex) <input name=\"serial\" id=\"serial\" required></label> "
         "<label>Reason <select name=\"reason\" id=\"reason\">"
         "<option>unspecified</option><option>keyCompromise</option>"
         "<option>affiliationChanged</option><option>superseded</option>"
         "<option>cessationOfOperation</option><option>certificateHold</option>"
         "<option>privilegeWithdrawn</option></select></label> "
         "<button type=\"submit\" id=\"revoke-submit\">Revoke</button></form>\n"
         "<h2>Recent enrollments</h2>\n<table id=\"recent\"><tr><th>#</th><th>Status</th>"
         "<th>Subject</th><th>Serial</th><th>Profile</th><th>Client</th><th>Reason</th></tr>\n",
         NULL);
    for (i = 0; i < pg->recent.rows->nelts; i++) {
        const scep_txn_t *t = &APR_ARRAY_IDX(pg->recent.rows, i, scep_txn_t);
        apr_pool_clear(p);
        emit(&e, "<tr><td>", html(p, t->id), "</td><td>", html(p, t->status), "</td><td>",
             html(p, t->subject), "</td><td>", html(p, t->serial), "</td><td>",
             html(p, t->profile), "</td><td>", html(p, t->client_addr), "</td><td>",
             html(p, t->fail_text), "</td></tr>\n", NULL);
    }
    emit(&e, "</table>\n", NULL);
    older_link(&e, pool, pg->recent.older, "older-recent", "Older enrollments");
    emit(&e, "</body></html>\n", NULL);
    apr_pool_destroy(p);
    return e.rv;
}

/* ---- the API's lists ------------------------------------------------------ */

typedef struct list_t {
    const char *name;                /* "enrollments" or "challenges" */
    int challenges;                  /* rows are scep_challenge_t, else scep_txn_t */
    rows_t r;
} list_t;

/* {"NAME": [row, ...], "next": URL of the older rows or null} */
static apr_status_t list_stream(const void *state, apr_pool_t *pool,
                                scep_admin_write_fn *write, void *baton)
{
    const list_t *l = state;
    emit_t e = { write, baton, APR_SUCCESS };
    apr_pool_t *p;
    int i;

    if (apr_pool_create(&p, pool) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    emit(&e, "{\"", l->name, "\":[", NULL);
    for (i = 0; i < l->r.rows->nelts && e.rv == APR_SUCCESS; i++) {
        apr_pool_clear(p);
        emit(&e, i ? ",\n" : "", l->challenges
             ? challenge_json(p, &APR_ARRAY_IDX(l->r.rows, i, scep_challenge_t))
             : txn_json(p, &APR_ARRAY_IDX(l->r.rows, i, scep_txn_t)), NULL);
    }
    apr_pool_clear(p);
    emit(&e, "],\n\"next\":", json_str(p, l->r.older), "}\n", NULL);
    apr_pool_destroy(p);
    return e.rv;
}

/* ---- cross-site request forgery ------------------------------------------ */

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

/* ---- routing ------------------------------------------------------------------ */

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

/* A number from the query (a cursor or a limit): def when absent, -1 when
 * it is not a number from 1 to max. */
static apr_int64_t query_number(const scep_admin_in_t *in, const char *name, apr_int64_t def,
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

#define MAX_ID APR_INT64_C(999999999999999999)   /* is_digits: at most 18 digits */

/* The page: each table from its cursor in the query (before=ID for recent
 * enrollments, pending_before=, challenges_before=), PAGE_ROWS rows each. */
static apr_status_t page_make(page_t **ppage, const char **perr, scep_ctx_t *ctx,
                              const scep_admin_t *adm, scep_store_t *st,
                              const scep_admin_in_t *in, const char *csrf,
                              const char *notice, const char *secret)
{
    apr_pool_t *p = ctx->pool;
    const char *fp = adm->ca->fingerprint;
    page_t *pg = apr_pcalloc(p, sizeof(*pg));
    apr_int64_t pending_before = query_number(in, "pending_before", 0, MAX_ID);
    apr_int64_t recent_before = query_number(in, "before", 0, MAX_ID);
    apr_int64_t open_before = query_number(in, "challenges_before", 0, MAX_ID);
    apr_array_header_t *pending, *recent, *open;

    if (pending_before < 0 || recent_before < 0 || open_before < 0) {
        *perr = "before, pending_before and challenges_before must be ids";
        return APR_EINVAL;
    }
    if (scep_store_txn_list(&pending, ctx, st, fp, "PENDING", pending_before, PAGE_ROWS + 1)
        != APR_SUCCESS
        || scep_store_txn_list(&recent, ctx, st, fp, NULL, recent_before, PAGE_ROWS + 1)
        != APR_SUCCESS
        || scep_store_challenge_open(&open, ctx, st, fp, open_before, PAGE_ROWS + 1)
        != APR_SUCCESS) {
        *perr = "enrollment database unavailable";
        return SCEP_EDB;
    }
    pg->adm = *adm;
    paginate(&pg->pending, p, pending, PAGE_ROWS, txn_id(pending, PAGE_ROWS - 1),
             apr_pstrcat(p, adm->base, "?pending_before=", NULL));
    paginate(&pg->recent, p, recent, PAGE_ROWS, txn_id(recent, PAGE_ROWS - 1),
             apr_pstrcat(p, adm->base, "?before=", NULL));
    paginate(&pg->open, p, open, PAGE_ROWS, challenge_id(open, PAGE_ROWS - 1),
             apr_pstrcat(p, adm->base, "?challenges_before=", NULL));
    pg->older = pending_before || recent_before || open_before;
    pg->csrf = csrf;
    pg->notice = notice;
    pg->secret = secret;
    *ppage = pg;
    return APR_SUCCESS;
}

/* What each POST of the API takes */
static const member_t NOTHING[] = { { NULL, MEMBER_STRING, 0 } };
static const member_t REASON[] = {
    { "reason", MEMBER_STRING, 0 }, { NULL, MEMBER_STRING, 0 }
};
static const member_t CHALLENGE[] = {
    { "profile", MEMBER_STRING, 1 }, { "ttl", MEMBER_STRING, 0 },
    { "subject", MEMBER_ARRAY, 0 }, { "san", MEMBER_ARRAY, 0 }, { NULL, MEMBER_STRING, 0 }
};

static void api(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                const scep_admin_in_t *in, const char **seg, int n, scep_admin_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    int status;
    const char *msg, *serial;
    json_t *body;

    if (in->is_post && (!in->content_type
                        || strncasecmp(in->content_type, "application/json", 16))) {
        /* a cross-site form cannot send this type without a preflight */
        json_error(out, p, 415, "POST to the API needs Content-Type: application/json");
        return;
    }
    if (n == 2 && !strcmp(seg[1], "enrollments") && !in->is_post) {
        const char *filter = apr_table_get(in->query, "status");
        apr_int64_t limit = query_number(in, "limit", API_ROWS, API_MAX_ROWS);
        apr_int64_t before = query_number(in, "before", 0, MAX_ID);
        list_t *l = apr_pcalloc(p, sizeof(*l));
        apr_array_header_t *rows;
        if (filter && strcmp(filter, "PENDING") && strcmp(filter, "ISSUED")
            && strcmp(filter, "REJECTED")) {
            json_error(out, p, 400, "status must be PENDING, ISSUED or REJECTED");
            return;
        }
        if (limit < 0 || before < 0) {
            json_error(out, p, 400, "limit must be a number from 1 to 1000, before an id");
            return;
        }
        if (scep_store_txn_list(&rows, ctx, st, adm->ca->fingerprint, filter, before,
                                (int)limit + 1) != APR_SUCCESS) {
            json_error(out, p, 503, "database error");
            return;
        }
        l->name = "enrollments";
        paginate(&l->r, p, rows, (int)limit, txn_id(rows, (int)limit - 1),
                 apr_psprintf(p, "%sapi/enrollments?%s%s%slimit=%d&before=", adm->base,
                              filter ? "status=" : "", filter ? filter : "",
                              filter ? "&" : "", (int)limit));
        stream(out, 200, CT_JSON, list_stream, l);
        return;
    }
    if (n == 3 && !strcmp(seg[1], "enrollments") && is_digits(seg[2]) && !in->is_post) {
        scep_txn_t *t;
        apr_status_t rv = scep_store_txn_get(&t, ctx, st, adm->ca->fingerprint, seg[2]);
        if (rv != APR_SUCCESS) {
            json_error(out, p, status_of(rv), rv == APR_NOTFOUND ? "no such enrollment" : "database error");
            return;
        }
        respond(out, 200, CT_JSON, apr_pstrcat(p, txn_json(p, t), "\n", NULL));
        return;
    }
    if (n == 4 && !strcmp(seg[1], "enrollments") && is_digits(seg[2]) && in->is_post
        && !strcmp(seg[3], "approve")) {
        apr_status_t rv;
        if (json_body(&body, &msg, p, in, NOTHING) != APR_SUCCESS) {
            json_error(out, p, 400, msg);
            return;
        }
        rv = scep_admin_approve(&msg, &serial, ctx, adm, st, seg[2]);
        if (rv != APR_SUCCESS) {
            json_error(out, p, status_of(rv), msg);
            return;
        }
        respond(out, 200, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"status\":\"ISSUED\","
                "\"serial\":%s}\n", seg[2], json_str(p, serial)));
        return;
    }
    if (n == 4 && !strcmp(seg[1], "enrollments") && is_digits(seg[2]) && in->is_post
        && !strcmp(seg[3], "reject")) {
        if (json_body(&body, &msg, p, in, REASON) != APR_SUCCESS) {
            json_error(out, p, 400, msg);
            return;
        }
        do_reject(ctx, adm, st, seg[2], member(body, "reason"), &status, &msg);
        if (msg) {
            json_error(out, p, status, msg);
            return;
        }
        respond(out, 200, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"status\":\"REJECTED\"}\n",
                                                seg[2]));
        return;
    }
    if (n == 3 && !strcmp(seg[1], "certificates") && is_hex(seg[2]) && !in->is_post) {
        scep_cert_t *c;
        apr_status_t rv;
        char *u;
        for (u = (char *)seg[2]; *u; u++) *u = (char)apr_toupper(*u);
        rv = scep_store_cert_get(&c, ctx, st, adm->ca->fingerprint, seg[2]);
        if (rv != APR_SUCCESS) {
            json_error(out, p, status_of(rv), rv == APR_NOTFOUND ? "no such certificate" : "database error");
            return;
        }
        respond(out, 200, CT_JSON, apr_psprintf(p, "{\"serial\":%s,\"subject\":%s,"
            "\"not_before\":%" APR_INT64_T_FMT ",\"not_after\":%" APR_INT64_T_FMT ","
            "\"revoked_at\":%s,\"revocation_reason\":%s,\"der\":%s}\n",
            json_str(p, c->serial), json_str(p, c->subject), c->not_before, c->not_after,
            c->revoked_at ? apr_psprintf(p, "%" APR_INT64_T_FMT, c->revoked_at) : "null",
            c->reason >= 0 ? json_str(p, scep_crl_reason_name(c->reason)) : "null",
            json_str(p, c->der)));
        return;
    }
    if (n == 4 && !strcmp(seg[1], "certificates") && is_hex(seg[2]) && in->is_post
        && !strcmp(seg[3], "revoke")) {
        apr_int64_t crl_number;
        if (json_body(&body, &msg, p, in, REASON) != APR_SUCCESS) {
            json_error(out, p, 400, msg);
            return;
        }
        do_revoke(ctx, adm, st, seg[2], member(body, "reason"), &status, &msg, &crl_number);
        if (msg) {
            json_error(out, p, status, msg);
            return;
        }
        respond(out, 200, CT_JSON, apr_psprintf(p, "{\"serial\":%s,\"revoked\":true,"
                "\"crl_number\":%" APR_INT64_T_FMT "}\n", json_str(p, seg[2]), crl_number));
        return;
    }
    if (n == 2 && !strcmp(seg[1], "challenges")) {
        const char *err = NULL, *secret, *subject = NULL, *san = NULL;
        scep_challenge_t *c;
        apr_array_header_t *rows;
        apr_status_t rv;
        apr_int64_t limit = query_number(in, "limit", API_ROWS, API_MAX_ROWS);
        apr_int64_t before = query_number(in, "before", 0, MAX_ID);
        list_t *l;
        if (in->is_post) {
            json_t *names;
            if (json_body(&body, &err, p, in, CHALLENGE) != APR_SUCCESS
                || ((names = json_object_get(body, "subject"))
                    && subject_of_json(&subject, &err, p, names) != APR_SUCCESS)
                || ((names = json_object_get(body, "san"))
                    && sans_of_json(&san, &err, p, names) != APR_SUCCESS)) {
                json_error(out, p, 400, err);
                return;
            }
            rv = do_challenge(ctx, adm, st, member(body, "profile"), member(body, "ttl"),
                              subject, san, &secret, &c, &err);
            if (rv != APR_SUCCESS) {
                json_error(out, p, rv == APR_EINVAL ? 400 : 503, err);
                return;
            }
            respond(out, 201, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"challenge\":%s,"
                    "\"profile\":%s,\"expires_at\":%" APR_INT64_T_FMT "}\n", c->id,
                    json_str(p, secret), json_str(p, c->profile), c->expires_at));
            return;
        }
        if (limit < 0 || before < 0) {
            json_error(out, p, 400, "limit must be a number from 1 to 1000, before an id");
            return;
        }
        if (scep_store_challenge_open(&rows, ctx, st, adm->ca->fingerprint, before,
                                      (int)limit + 1) != APR_SUCCESS) {
            json_error(out, p, 503, "database error");
            return;
        }
        l = apr_pcalloc(p, sizeof(*l));
        l->name = "challenges";
        l->challenges = 1;
        paginate(&l->r, p, rows, (int)limit, challenge_id(rows, (int)limit - 1),
                 apr_psprintf(p, "%sapi/challenges?limit=%d&before=", adm->base, (int)limit));
        stream(out, 200, CT_JSON, list_stream, l);
        return;
    }
    if (n == 4 && !strcmp(seg[1], "challenges") && is_digits(seg[2]) && in->is_post
        && !strcmp(seg[3], "revoke")) {
        apr_status_t rv;
        if (json_body(&body, &msg, p, in, NOTHING) != APR_SUCCESS) {
            json_error(out, p, 400, msg);
            return;
        }
        rv = scep_store_challenge_revoke(ctx, st, adm->ca->fingerprint, seg[2]);
        if (rv != APR_SUCCESS) {
            json_error(out, p, status_of(rv), rv == APR_NOTFOUND
                       ? "no such open challenge" : "database error");
            return;
        }
        SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00405)
                 "%s revoked one-time challenge %s", adm->user, seg[2]);
        respond(out, 200, CT_JSON, apr_psprintf(p, "{\"id\":%s,\"revoked\":true}\n", seg[2]));
        return;
    }
    json_error(out, p, in->is_post ? 405 : 404, "no such API call (see the README)");
}

/* An application/x-www-form-urlencoded body: browsers send a space as '+'
 * (and a '+' as %2B), which scep_query_parse, made for SCEP's base64 in
 * URLs, keeps as it is. */
static apr_table_t *form_parse(apr_pool_t *p, const char *body)
{
    char *copy = apr_pstrdup(p, body ? body : ""), *c;

    for (c = copy; *c; c++) {
        if (*c == '+') *c = ' ';
    }
    return scep_query_parse(p, copy);
}

/* The name of a form field with a control character in its name or value,
 * or NULL: only the SANs' textarea may hold line breaks, between names. */
static const char *form_ctl(apr_pool_t *p, apr_table_t *form)
{
    const apr_array_header_t *elts = apr_table_elts(form);
    const apr_table_entry_t *e = (const apr_table_entry_t *)elts->elts;
    int i;

    for (i = 0; i < elts->nelts; i++) {
        const char *v = e[i].val ? e[i].val : "";
        if (ctl_in(e[i].key, strlen(e[i].key), 0)
            || ctl_in(v, strlen(v), !strcmp(e[i].key, "san"))) {
            return member_quoted(p, e[i].key);
        }
    }
    return NULL;
}

static void ui_post(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                    const scep_admin_in_t *in, const char *action, scep_admin_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    apr_table_t *form = form_parse(p, in->body);
    const char *token = apr_table_get(form, "csrf");
    const char *notice = NULL, *msg = NULL, *serial, *bad;
    int status;

    /* the form field must equal our SameSite cookie (double submit), and
     * be a token we made for this user (never empty, planted or another's) */
    if (!token || !in->csrf_cookie
        || !scep_secret_equal((const unsigned char *)token, strlen(token),
                              (const unsigned char *)in->csrf_cookie, strlen(in->csrf_cookie))
        || !token_ok(ctx, adm, token)) {
        SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00410)
                 "refused an admin form of %s: missing or wrong CSRF token", adm->user);
        respond(out, 403, "text/plain", "Forbidden: missing or wrong CSRF token; reload the page\n");
        return;
    }
    if ((bad = form_ctl(p, form)) != NULL) {
        respond(out, 400, "text/plain", apr_pstrcat(p, "Bad Request: the form field ", bad,
                                                    " contains a control character\n", NULL));
        return;
    }
    if (!strcmp(action, "approve")) {
        const char *id = apr_table_get(form, "id");
        if (!id || !is_digits(id)) {
            msg = "no enrollment id";
        }
        else if (scep_admin_approve(&msg, &serial, ctx, adm, st, id) == APR_SUCCESS) {
            notice = apr_psprintf(p, "Approved enrollment %s: certificate %s issued.", id, serial);
            msg = NULL;
        }
    }
    else if (!strcmp(action, "reject")) {
        const char *id = apr_table_get(form, "id");
        if (!id || !is_digits(id)) {
            msg = "no enrollment id";
        }
        else {
            do_reject(ctx, adm, st, id, apr_table_get(form, "reason"), &status, &msg);
            if (!msg) notice = apr_psprintf(p, "Rejected enrollment %s.", id);
        }
    }
    else if (!strcmp(action, "challenge")) {
        const char *secret = NULL, *err;
        scep_challenge_t *c;
        page_t *pg;
        apr_status_t rv;
        if (do_challenge(ctx, adm, st, apr_table_get(form, "profile"), apr_table_get(form, "ttl"),
                         apr_table_get(form, "subject"), apr_table_get(form, "san"),
                         &secret, &c, &msg) == APR_SUCCESS) {
            notice = apr_psprintf(p, "Created one-time challenge %s for %s.", c->id, c->profile);
        }
        /* rendered here, not redirected: the secret must not travel in a URL */
        rv = page_make(&pg, &err, ctx, adm, st, in, token,
                       msg ? apr_pstrcat(p, "Failed: ", msg, NULL) : notice, secret);
        if (rv != APR_SUCCESS) {
            respond(out, rv == APR_EINVAL ? 400 : 503, "text/plain",
                    apr_pstrcat(p, rv == APR_EINVAL ? "Bad Request: " : "Service Unavailable: ",
                                err, "\n", NULL));
            return;
        }
        stream(out, msg ? 400 : 200, CT_HTML, page_stream, pg);
        return;
    }
    else if (!strcmp(action, "revoke-challenge")) {
        const char *id = apr_table_get(form, "id");
        if (!id || !is_digits(id)
            || scep_store_challenge_revoke(ctx, st, adm->ca->fingerprint, id) != APR_SUCCESS) {
            msg = "no such open challenge";
        }
        else {
            SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00406)
                     "%s revoked one-time challenge %s", adm->user, id);
            notice = apr_psprintf(p, "Revoked challenge %s.", id);
        }
    }
    else if (!strcmp(action, "revoke")) {
        const char *s = apr_table_get(form, "serial");
        apr_int64_t crl_number;
        if (!s || !is_hex(s)) {
            msg = "the serial must be hexadecimal";
        }
        else {
            do_revoke(ctx, adm, st, s, apr_table_get(form, "reason"), &status, &msg, &crl_number);
            if (!msg) notice = apr_psprintf(p, "Revoked certificate %s; CRL number %"
                                            APR_INT64_T_FMT ".", s, crl_number);
        }
    }
    else {
        respond(out, 404, "text/plain", "Not Found\n");
        return;
    }
    /* post/redirect/get: the page shows what happened */
    out->status = 303;
    out->location = apr_pstrcat(p, adm->base, "?notice=", scep_url_escape(p,
                                msg ? apr_pstrcat(p, "Failed: ", msg, NULL) : notice), NULL);
    respond(out, 303, "text/plain", "See Other\n");
}

void scep_admin_handle(scep_ctx_t *ctx, const scep_admin_t *adm, const scep_admin_in_t *in,
                       scep_admin_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    const char *seg[6];
    int n = split(p, in->path ? in->path : "", seg, 5);
    scep_store_t *st = NULL;
    const char *why;

    memset(out, 0, sizeof(*out));
    if (n > 5) {
        respond(out, 404, "text/plain", "Not Found\n");
        return;
    }
    if (in->is_post && (why = cross_site(p, in)) != NULL) {
        SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00411)
                 "refused a cross-site admin POST of %s (%s)", adm->user, why);
        if (n >= 1 && !strcmp(seg[0], "api")) {
            json_error(out, p, 403, "cross-site request refused");
        }
        else {
            respond(out, 403, "text/plain", "Forbidden: cross-site request refused\n");
        }
        return;
    }
    if (!adm->open_store || adm->open_store(adm->store_baton, &st) != APR_SUCCESS) {
        respond(out, 503, "text/plain", "Service Unavailable: enrollment database unavailable\n");
        return;
    }
    if (n >= 1 && !strcmp(seg[0], "api")) {
        api(ctx, adm, st, in, seg, n, out);
        return;
    }
    if (n == 2 && !strcmp(seg[0], "ui") && in->is_post) {
        ui_post(ctx, adm, st, in, seg[1], out);
        return;
    }
    if (n == 0 && !in->is_post) {
        const char *csrf = token_ok(ctx, adm, in->csrf_cookie) ? in->csrf_cookie : NULL;
        const char *err;
        page_t *pg;
        apr_status_t rv;
        if (!csrf && !(csrf = new_token(ctx, adm))) {
            respond(out, 500, "text/plain", "Internal Server Error: no form token\n");
            return;
        }
        if (csrf != in->csrf_cookie) {
            /* a new browser, another user, or a secret changed by a restart */
            out->set_csrf_cookie = csrf;
        }
        rv = page_make(&pg, &err, ctx, adm, st, in, csrf, apr_table_get(in->query, "notice"),
                       NULL);
        if (rv != APR_SUCCESS) {
            respond(out, rv == APR_EINVAL ? 400 : 503, "text/plain",
                    apr_pstrcat(p, rv == APR_EINVAL ? "Bad Request: " : "Service Unavailable: ",
                                err, "\n", NULL));
            return;
        }
        stream(out, 200, CT_HTML, page_stream, pg);
        return;
    }
    respond(out, in->is_post ? 405 : 404, "text/plain", in->is_post ? "Method Not Allowed\n"
                                                                    : "Not Found\n");
}
