/**
 * @file scep_admin_int.h
 * @brief Inside the administration endpoint: what its three files share.
 * scep_admin.c routes requests and does the actions (approve, reject,
 * revoke, challenges) and guards the forms; scep_admin_json.c reads the
 * API's bodies and writes its answers; scep_admin_html.c writes the page
 * and reads its forms. Output is streamed (admin_emit) so that time and
 * memory grow with one row, not with the answer.
 */
#ifndef SCEP_ADMIN_INT_H
#define SCEP_ADMIN_INT_H

#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <jansson.h>

#include "scep_admin.h"
#include "scep_records.h"
#include "scep_store.h"

#define CT_JSON "application/json"
#define CT_HTML "text/html; charset=utf-8"

/* MEMBER_TEXT: a string that may hold line breaks (a PEM) */
typedef enum { MEMBER_STRING, MEMBER_ARRAY, MEMBER_TEXT } member_type_t;

/* What one API call takes: its members, ended by a NULL name. */
typedef struct member_t {
    const char *name;
    member_type_t type;
    int required;
} member_t;

/* The page and the lists are not built in memory: they are written through
 * the glue's callback as they are formatted, each row in a pool cleared
 * after it, so time and memory grow with one row, not with the answer. */
typedef struct emit_t {
    scep_admin_write_fn *write;
    void *baton;
    apr_status_t rv;                 /* the first failure: nothing more is written */
} emit_t;

/* Rows of a list, and where the next page starts. */
typedef struct rows_t {
    apr_array_header_t *rows;        /* scep_txn_t or scep_challenge_t */
    const char *older;               /* URL of the next (older) rows, or NULL */
} rows_t;

#define PAGE_ROWS 50                 /* rows of each table on the page */
#define API_ROWS 100                 /* rows of an API list without limit= */
#define API_MAX_ROWS 1000

typedef struct page_t {
    scep_admin_t adm;
    rows_t pending, recent, open;
    apr_array_header_t *undelivered; /* scep_event_t: notifications not delivered
                                        yet, oldest first; NULL if unreadable */
    int older;                       /* showing older rows of some table */
    const char *csrf, *notice, *secret;
    scep_search_t search;            /* what the enrollments table shows */
    const char *search_query;        /* it as a URL query ("" or ending in '&') */
    int searching;                   /* a search or filter is set */
    /* scep_count_t per Location and status in the last day and 30 days,
     * and per day; NULL when they cannot be read */
    apr_array_header_t *last_day, *last_month, *daily;
    apr_array_header_t *audit;       /* scep_audit_t, newest first; NULL if unreadable */
} page_t;

typedef struct list_t {
    const char *name;                /* "enrollments" or "challenges" */
    int challenges;                  /* rows are scep_challenge_t, else scep_txn_t */
    rows_t r;
} list_t;

#define MAX_ID APR_INT64_C(999999999999999999)   /* is_digits: at most 18 digits */

/** One undelivered notification as the API shows it (not its payload). */
const char *admin_event_json(apr_pool_t *p, const scep_event_t *ev);

/* One call of the API as it reaches its action: arg is the id or serial
 * in its path, body its JSON (POST). */
typedef struct api_call_t {
    scep_ctx_t *ctx;
    const scep_admin_t *adm;
    scep_store_t *st;
    const scep_admin_in_t *in;
    const char *arg;
    json_t *body;
    scep_admin_out_t *out;
} api_call_t;

typedef void api_fn(api_call_t *c);

/* ---- scep_admin.c: answers, streaming, paging ---------------------------- */

/** Stage the audit record of an action: the action's write commits it. */
void admin_audit(scep_store_t *st, const scep_admin_t *adm, const char *action,
                 const char *target, const char *detail);

/** A serial: 1 to 64 hex digits. */
int admin_is_hex(const char *s);
/** A whole answer, from memory. */
void admin_respond(scep_admin_out_t *out, int status, const char *type, const char *body);
/** A streamed answer: fn writes it through the glue's callback. */
void admin_stream(scep_admin_out_t *out, int status, const char *type,
                  scep_admin_stream_fn *fn, const void *state);
/** Write the strings, up to a NULL; after a failure, nothing more. */
void admin_emit(emit_t *e, ...);
/** limit + 1 rows were asked for: if they came, r->older is url + last_id. */
void admin_paginate(rows_t *r, apr_pool_t *p, apr_array_header_t *rows, int limit,
                    const char *last_id, const char *url);
/** The id of row i of transactions / challenges, "" past the end. */
const char *admin_txn_id(apr_array_header_t *rows, int i);
const char *admin_challenge_id(apr_array_header_t *rows, int i);
/** A number of the query: def when absent, -1 when not 1..max. */
apr_int64_t admin_query_number(const scep_admin_in_t *in, const char *name, apr_int64_t def,
                               apr_int64_t max);
/** Writes what stands for byte c into out (at most 7 bytes and a NUL) and
 *  returns its length; 0 keeps c as it is. */
typedef apr_size_t admin_rewrite_fn(unsigned char c, char out[8]);
/** s with each byte kept or rewritten, between quote and quote ("" for
 *  none). */
const char *admin_escape(apr_pool_t *p, const char *s, admin_rewrite_fn *rewrite,
                         const char *quote);
/** base64 to DER; APR_EINVAL for NULL. */
apr_status_t admin_decode_der(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                              const char *b64);

/* ---- scep_admin_json.c: the API's JSON ------------------------------------ */

/** A JSON string literal (escaped for HTML contexts too), or null. */
const char *admin_json_str(apr_pool_t *p, const char *s);
/** {"error": msg} with status. */
void admin_json_error(scep_admin_out_t *out, apr_pool_t *p, int status, const char *msg);
/** The first control character in s (line breaks allowed where asked), or NULL. */
const char *admin_ctl_in(const char *s, apr_size_t len, int newlines_ok);
/** A member's name quoted for a message. */
const char *admin_member_quoted(apr_pool_t *p, const char *name);
/** The body as one JSON object holding only the members of spec, each of its
 *  type, with no control characters; *perr says what is wrong. */
apr_status_t admin_json_body(json_t **pobj, const char **perr, apr_pool_t *p,
                             const scep_admin_in_t *in, const member_t *spec);
/** A string member, or NULL. */
const char *admin_member(json_t *obj, const char *name);
/** Bound names given as arrays of {"type", "value"}, in the stored form that
 *  reads back as exactly those names. */
apr_status_t admin_subject_of_json(const char **psubject, const char **perr, apr_pool_t *p,
                                   json_t *arr);
apr_status_t admin_sans_of_json(const char **psan, const char **perr, apr_pool_t *p,
                                json_t *arr);
/** A challenge, a transaction as JSON objects; what a held request will be
 *  issued as (else what it asked for). */
const char *admin_challenge_json(apr_pool_t *p, const scep_challenge_t *c);
const char *admin_txn_json(apr_pool_t *p, const scep_txn_t *t);
/** The members of admin_txn_json without the trace and the closing brace. */
const char *admin_txn_json_fields(apr_pool_t *p, const scep_txn_t *t);
const char *admin_subject_of(apr_pool_t *p, const scep_txn_t *t);
/** scep_admin_stream_fn of a list_t: {"NAME": [...], "next": URL or null}. */
apr_status_t admin_list_stream(const void *state, apr_pool_t *pool,
                               scep_admin_write_fn *write, void *baton);

/* ---- scep_admin_fleet.c: search, counts, expiring, detail, audit ---------- */

#define AUDIT_ON_PAGE 10             /* newest actions on the main page */

/** The search and filters of the query (q, status, profile, since, until,
 *  before) into *q; *pquery is them again as a URL query for the next
 *  page's link. APR_EINVAL with *perr for a value that is not one. */
apr_status_t admin_search_parse(scep_search_t *q, const char **pquery, const char **perr,
                                apr_pool_t *p, const scep_admin_t *adm,
                                const scep_admin_in_t *in, int limit);
/** A time as "2026-12-03 11:59 UTC" ("" for 0). */
const char *admin_date(apr_pool_t *p, apr_int64_t secs);
/** The counts of the page (per Location in the last day and 30 days, per
 *  day): left NULL when they cannot be read. */
void admin_counts_read(page_t *pg, scep_ctx_t *ctx, scep_store_t *st);
/** The "Activity" section: counts per Location and a chart per day. */
void admin_counts_html(emit_t *e, const page_t *pg, apr_pool_t *p);
/** The newest actions of the audit trail (the main page's section). */
void admin_audit_html(emit_t *e, const page_t *pg, const char *base, apr_pool_t *p);
/** One action of the audit trail as a table row, as JSON. */
const char *admin_audit_row(apr_pool_t *p, const scep_audit_t *a, const char *base);
const char *admin_audit_json(apr_pool_t *p, const scep_audit_t *a);
/** The page's head and the start of its body, for every view. */
void admin_page_head(emit_t *e, apr_pool_t *p, const scep_admin_t *adm, const char *title);
/** GET views below the page: expiring, audit, certificates/SERIAL[/pem|/der];
 *  0 when path is none of them. */
int admin_fleet_page(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                     const scep_admin_in_t *in, const char **seg, int n, const char *csrf,
                     scep_admin_out_t *out);
/** The API's fleet calls. */
void admin_api_certificates(api_call_t *c);
void admin_api_certificate(api_call_t *c);
void admin_api_certificate_pem(api_call_t *c);
void admin_api_certificate_der(api_call_t *c);
void admin_api_stats(api_call_t *c);
void admin_api_audit(api_call_t *c);
void admin_api_dry_run(api_call_t *c);

/* ---- scep_admin_html.c: the page and its forms ---------------------------- */

/** Text escaped for HTML. */
const char *admin_html(apr_pool_t *p, const char *s);
/** The page's rows, each table from its cursor in the query. */
apr_status_t admin_page_make(page_t **ppage, const char **perr, scep_ctx_t *ctx,
                             const scep_admin_t *adm, scep_store_t *st,
                             const scep_admin_in_t *in, const char *csrf,
                             const char *notice, const char *secret);
/** scep_admin_stream_fn of a page_t. */
apr_status_t admin_page_stream(const void *state, apr_pool_t *pool,
                               scep_admin_write_fn *write, void *baton);
/** A form body (a '+' is a space); the first field with a control character. */
apr_table_t *admin_form_parse(apr_pool_t *p, const char *body);
const char *admin_form_ctl(apr_pool_t *p, apr_table_t *form);

#endif
