/* mod_scep core: the admin API's JSON: strict reading of request bodies
 * (jansson), and the answers, escaped for any context they may land in. */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "scep_admin_int.h"
#include "scep_ossl.h"
#include "scep_policy.h"
#include "scep_util.h"

/* Quotes, backslashes and control characters as JSON wants them, and the
 * characters that matter to HTML as \u escapes, so that a JSON answer is
 * inert in any page that shows it. */
static apr_size_t json_escape(unsigned char c, char out[8])
{
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c == '\n') {
        memcpy(out, "\\n", 2);
        return 2;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        return (apr_size_t)apr_snprintf(out, 8, "\\u%04x", c);
    }
    return 0;
}

const char *admin_json_str(apr_pool_t *p, const char *s)
{
    return s ? admin_escape(p, s, json_escape, "\"") : "null";
}

void admin_json_error(scep_admin_out_t *out, apr_pool_t *p, int status, const char *msg)
{
    admin_respond(out, status, CT_JSON,
                  apr_psprintf(p, "{\"error\":%s}\n", admin_json_str(p, msg)));
}

/* Control characters (C0 and DEL) have no place in admin input: a newline
 * split one bound name into two, and they would reach the logs. */
const char *admin_ctl_in(const char *s, apr_size_t len, int newlines_ok)
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

const char *admin_member_quoted(apr_pool_t *p, const char *name)
{
    return apr_pstrcat(p, "\"", scep_log_safe(p, name, strlen(name)), "\"", NULL);
}

/* The body of an API call: one JSON object (an empty body is an empty
 * object) with no member but those of spec, each of its type, strings free
 * of control characters. The object belongs to the pool. */
apr_status_t admin_json_body(json_t **pobj, const char **perr, apr_pool_t *p,
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
            *perr = apr_pstrcat(p, "unknown member ", admin_member_quoted(p, key), NULL);
            return APR_EINVAL;
        }
        if (m->type != MEMBER_ARRAY && !json_is_string(val)) {
            *perr = apr_pstrcat(p, admin_member_quoted(p, key), " must be a string", NULL);
            return APR_EINVAL;
        }
        if (m->type == MEMBER_ARRAY && !json_is_array(val)) {
            *perr = apr_pstrcat(p, admin_member_quoted(p, key), " must be an array", NULL);
            return APR_EINVAL;
        }
        if (m->type != MEMBER_ARRAY
            && admin_ctl_in(json_string_value(val), json_string_length(val),
                            m->type == MEMBER_TEXT)) {
            *perr = apr_pstrcat(p, admin_member_quoted(p, key), " contains a control character",
                                NULL);
            return APR_EINVAL;
        }
    }
    for (m = spec; m->name; m++) {
        if (m->required && !json_object_get(root, m->name)) {
            *perr = apr_pstrcat(p, admin_member_quoted(p, m->name), " is required", NULL);
            return APR_EINVAL;
        }
    }
    *pobj = root;
    return APR_SUCCESS;
}

/* A string member of a checked body, or NULL. */
const char *admin_member(json_t *obj, const char *name)
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
    if (admin_ctl_in(json_string_value(type), json_string_length(type), 0)
        || admin_ctl_in(json_string_value(value), json_string_length(value), 0)) {
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
apr_status_t admin_subject_of_json(const char **psubject, const char **perr, apr_pool_t *p,
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
                                 (apr_size_t)i, admin_member_quoted(p, type));
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
apr_status_t admin_sans_of_json(const char **psan, const char **perr, apr_pool_t *p,
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
                                 "uri, ip, upn)", (apr_size_t)i, admin_member_quoted(p, type));
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

const char *admin_challenge_json(apr_pool_t *p, const scep_challenge_t *c)
{
    return apr_psprintf(p, "{\"id\":%s,\"profile\":%s,\"subject\":%s,\"san\":%s,"
        "\"created_by\":%s,\"created_at\":%" APR_INT64_T_FMT ",\"expires_at\":%"
        APR_INT64_T_FMT "}", c->id, admin_json_str(p, c->profile), admin_json_str(p, c->subject),
        admin_json_str(p, c->san), admin_json_str(p, c->created_by), c->created_at, c->expires_at);
}

/* What a held request will be issued as (the profile's decision), else
 * what it asked for. */
const char *admin_subject_of(apr_pool_t *p, const scep_txn_t *t)
{
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    X509_NAME *n;

    if (t->plan_subject && admin_decode_der(&der, &len, p, t->plan_subject) == APR_SUCCESS) {
        q = der;
        if ((n = scep_own_name(p, d2i_X509_NAME(NULL, &q, (long)len))) != NULL) {
            return scep_name_str(p, n);
        }
    }
    ERR_clear_error();
    return t->subject;
}

/* The trace's lines as a JSON array. */
static const char *trace_json(apr_pool_t *p, const char *trace)
{
    char *copy, *line, *last = NULL;
    const char *out = "[";
    int n = 0;

    if (!trace) {
        return "[]";
    }
    copy = apr_pstrdup(p, trace);
    for (line = apr_strtok(copy, "\n", &last); line; line = apr_strtok(NULL, "\n", &last)) {
        out = apr_pstrcat(p, out, n++ ? "," : "", admin_json_str(p, line), NULL);
    }
    return apr_pstrcat(p, out, "]", NULL);
}

const char *admin_txn_json(apr_pool_t *p, const scep_txn_t *t)
{
    return apr_pstrcat(p, admin_txn_json_fields(p, t), ",\"issued_at\":",
                       t->cert_issued_at ? apr_psprintf(p, "%" APR_INT64_T_FMT, t->cert_issued_at)
                                         : "null",
                       ",\"expires_at\":",
                       t->cert_not_after ? apr_psprintf(p, "%" APR_INT64_T_FMT, t->cert_not_after)
                                         : "null",
                       ",\"trace\":", trace_json(p, t->trace), "}", NULL);
}

const char *admin_txn_json_fields(apr_pool_t *p, const scep_txn_t *t)
{
    return apr_psprintf(p,
        "{\"id\":%s,\"transaction_id\":%s,\"status\":%s,\"message_type\":%d,"
        "\"subject\":%s,\"requested_subject\":%s,\"profile\":%s,\"client_addr\":%s,\"serial\":%s,"
        "\"fail_info\":%s,\"fail_text\":%s,\"renewal_of\":%s,\"decided_by\":%s,"
        "\"decided_at\":%s,\"created_at\":%" APR_INT64_T_FMT,
        t->id, admin_json_str(p, t->tid), admin_json_str(p, t->status), t->msg_type,
        admin_json_str(p, admin_subject_of(p, t)), admin_json_str(p, t->subject),
        admin_json_str(p, t->profile), admin_json_str(p, t->client_addr),
        admin_json_str(p, t->serial), t->fail_info >= 0 ? apr_itoa(p, t->fail_info) : "null",
        admin_json_str(p, t->fail_text),
        admin_json_str(p, t->renewal_of && *t->renewal_of ? t->renewal_of : NULL),
        admin_json_str(p, t->decided_by),
        t->decided_at ? apr_psprintf(p, "%" APR_INT64_T_FMT, t->decided_at) : "null",
        t->created_at);
}

const char *admin_event_json(apr_pool_t *p, const scep_event_t *ev)
{
    return apr_psprintf(p, "{\"id\":%s,\"sink\":%s,\"profile\":%s,\"event\":%s,"
        "\"key\":%s,\"created_at\":%" APR_INT64_T_FMT ",\"attempts\":%d,"
        "\"next_attempt_at\":%" APR_INT64_T_FMT ",\"last_error\":%s}", ev->id,
        admin_json_str(p, ev->sink), admin_json_str(p, ev->profile),
        admin_json_str(p, ev->event), admin_json_str(p, ev->event_key), ev->created_at,
        ev->attempts, ev->next_at, admin_json_str(p, ev->last_error));
}

/* {"NAME": [row, ...], "next": URL of the older rows or null} */
apr_status_t admin_list_stream(const void *state, apr_pool_t *pool,
                               scep_admin_write_fn *write, void *baton)
{
    const list_t *l = state;
    emit_t e = { write, baton, APR_SUCCESS };
    apr_pool_t *p;
    int i;

    if (apr_pool_create(&p, pool) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    admin_emit(&e, "{\"", l->name, "\":[", NULL);
    for (i = 0; i < l->r.rows->nelts && e.rv == APR_SUCCESS; i++) {
        apr_pool_clear(p);
        admin_emit(&e, i ? ",\n" : "", l->challenges
                   ? admin_challenge_json(p, &APR_ARRAY_IDX(l->r.rows, i, scep_challenge_t))
                   : admin_txn_json(p, &APR_ARRAY_IDX(l->r.rows, i, scep_txn_t)), NULL);
    }
    apr_pool_clear(p);
    admin_emit(&e, "],\n\"next\":", admin_json_str(p, l->r.older), "}\n", NULL);
    apr_pool_destroy(p);
    return e.rv;
}
