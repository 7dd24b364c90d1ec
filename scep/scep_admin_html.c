/* mod_scep core: the admin page, written as it is formatted, and its forms. */
#include <apr_date.h>

#include "scep_admin_int.h"
#include "scep_util.h"

static apr_size_t html_entity(unsigned char c, char out[8])
{
    static const char *const entities[256] = {
        ['<'] = "&lt;", ['>'] = "&gt;", ['&'] = "&amp;", ['"'] = "&quot;", ['\''] = "&#39;"
    };
    const char *e = entities[c];

    return e ? (apr_size_t)(apr_cpystrn(out, e, 8) - out) : 0;
}

const char *admin_html(apr_pool_t *p, const char *s)
{
    return s ? admin_escape(p, s, html_entity, "") : "";
}

static void older_link(emit_t *e, apr_pool_t *p, const char *url, const char *id,
                       const char *text)
{
    if (url) {
        admin_emit(e, "<p><a href=\"", admin_html(p, url), "\" id=\"", id, "\">", text,
                   "</a></p>\n", NULL);
    }
}

/* Requests waiting for approval, each with its Approve and Reject forms. */
static void page_pending(emit_t *e, const page_t *pg, const char *base, apr_pool_t *pool,
                         apr_pool_t *p)
{
    const char *csrf = pg->csrf;
    int i;

    admin_emit(e, "<h2>Waiting for approval</h2>\n", NULL);
    if (pg->pending.rows->nelts == 0) {
        admin_emit(e, "<p id=\"no-pending\">Nothing is waiting.</p>\n", NULL);
    }
    else {
        admin_emit(e, "<table id=\"pending\"><tr><th>#</th><th>Subject</th><th>Profile</th>"
                   "<th>Client</th><th>Transaction</th><th></th></tr>\n", NULL);
    }
    for (i = 0; i < pg->pending.rows->nelts; i++) {
        const scep_txn_t *t = &APR_ARRAY_IDX(pg->pending.rows, i, scep_txn_t);
        const char *id;
        apr_pool_clear(p);
        id = admin_html(p, t->id);
        admin_emit(e, "<tr><td>", id, "</td><td>", admin_html(p, admin_subject_of(p, t)),
                   "</td><td>",
                   admin_html(p, t->profile), "</td><td>", admin_html(p, t->client_addr),
                   "</td><td>",
                   admin_html(p, t->tid), "</td><td>"
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
        admin_emit(e, "</table>\n", NULL);
    }
    older_link(e, pool, pg->pending.older, "older-pending", "Older requests waiting");
}

/* The form for a new one-time challenge, the new secret once, the open ones. */
static void page_challenges(emit_t *e, const page_t *pg, const char *base, apr_pool_t *pool,
                            apr_pool_t *p)
{
    const scep_admin_t *adm = &pg->adm;
    const char *csrf = pg->csrf;
    apr_hash_index_t *hi;
    int i;

    apr_pool_clear(p);
    admin_emit(e, "<h2>One-time challenges</h2>\n", NULL);
    if (pg->secret) {
        admin_emit(e,
                   "<p class=\"notice\">New challenge (shown once): <code id=\"challenge-secret\">",
                   pg->secret, "</code></p>\n", NULL);
    }
    admin_emit(e, "<form method=\"post\" action=\"", base, "ui/challenge\" id=\"challenge\">"
               "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
               "<label>Profile <select name=\"profile\" id=\"profile\">", NULL);
    for (hi = adm->named ? apr_hash_first(p, adm->named) : NULL; hi; hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        admin_emit(e, "<option>", admin_html(p, k), "</option>", NULL);
    }
    admin_emit(e, "</select></label> "
               "<label>Valid for <input name=\"ttl\" id=\"ttl\" value=\"60m\" size=\"6\"></label> "
               "<label>Bound subject "
               "<input name=\"subject\" id=\"subject\" placeholder=\"/CN=device1\">"
               "</label> <label>Bound SANs <textarea name=\"san\" id=\"san\" rows=\"2\" "
               "placeholder=\"dns:device1.example.com\"></textarea></label> "
               "<button type=\"submit\" id=\"challenge-submit\">Create</button> "
               "<button type=\"submit\" id=\"mobileconfig-submit\" formaction=\"", base,
               "ui/mobileconfig\">Apple profile (.mobileconfig)</button></form>\n", NULL);
    if (pg->open.rows->nelts) {
        admin_emit(e, "<table id=\"challenges\"><tr><th>#</th><th>Profile</th><th>Subject</th>"
                   "<th>SANs</th><th>By</th><th>Expires</th><th></th></tr>\n", NULL);
    }
    for (i = 0; i < pg->open.rows->nelts; i++) {
        const scep_challenge_t *c = &APR_ARRAY_IDX(pg->open.rows, i, scep_challenge_t);
        char when[APR_RFC822_DATE_LEN];
        apr_pool_clear(p);
        apr_rfc822_date(when, apr_time_from_sec(c->expires_at));
        admin_emit(e, "<tr><td>", admin_html(p, c->id), "</td><td>", admin_html(p, c->profile),
                   "</td><td>",
                   admin_html(p, c->subject), "</td><td>", admin_html(p, c->san), "</td><td>",
                   admin_html(p, c->created_by), "</td><td>", when, "</td><td>"
                   "<form method=\"post\" action=\"", base, "ui/revoke-challenge\">"
                   "<input type=\"hidden\" name=\"csrf\" value=\"", csrf, "\">"
                   "<input type=\"hidden\" name=\"id\" value=\"", admin_html(p, c->id), "\">"
                   "<button type=\"submit\">Revoke</button></form></td></tr>\n", NULL);
    }
    if (pg->open.rows->nelts) {
        admin_emit(e, "</table>\n", NULL);
    }
    older_link(e, pool, pg->open.older, "older-challenges", "Older open challenges");
}

/* The search form, its values kept. */
static void search_form(emit_t *e, const page_t *pg, const char *base, apr_pool_t *p)
{
    static const char *const statuses[] = { "ISSUED", "PENDING", "REJECTED", NULL };
    const scep_search_t *q = &pg->search;
    apr_hash_index_t *hi;
    int i;

    admin_emit(e, "<form method=\"get\" action=\"", base, "\" id=\"search\">"
               "<input name=\"q\" id=\"q\" size=\"30\" value=\"", admin_html(p, q->q),
               "\" placeholder=\"name, serial, transaction or address\"> "
               "<select name=\"status\" id=\"status-filter\"><option value=\"\">any status"
               "</option>", NULL);
    for (i = 0; statuses[i]; i++) {
        admin_emit(e, "<option", q->status && !strcmp(q->status, statuses[i]) ? " selected" : "",
                   ">", statuses[i], "</option>", NULL);
    }
    admin_emit(e, "</select> <select name=\"profile\" id=\"profile-filter\">"
               "<option value=\"\">any Location</option>", NULL);
    for (hi = pg->adm.named ? apr_hash_first(p, pg->adm.named) : NULL; hi;
         hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        admin_emit(e, "<option", q->profile && !strcmp(q->profile, k) ? " selected" : "", ">",
                   admin_html(p, k), "</option>", NULL);
    }
    admin_emit(e, "</select> <label>From <input type=\"date\" name=\"since\" id=\"since\" "
               "value=\"", q->since ? apr_pstrndup(p, admin_date(p, q->since), 10) : "",
               "\"></label> <label>To <input type=\"date\" name=\"until\" id=\"until\" "
               "value=\"", q->until ? apr_pstrndup(p, admin_date(p, q->until - 86400), 10) : "",
               "\"></label> <button type=\"submit\" id=\"search-submit\">Search</button> "
               "<a href=\"", base, "\" id=\"search-clear\">Clear</a> &middot; "
               "<a href=\"", base, "expiring?days=30\" id=\"expiring-link\">Expiring within "
               "30 days</a></form>\n", NULL);
}

/* The revocation form and the enrollments, newest first, as searched. */
static void page_revoke_and_recent(emit_t *e, const page_t *pg, const char *base,
                                   apr_pool_t *pool, apr_pool_t *p)
{
    const char *csrf = pg->csrf;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    int i;

    apr_pool_clear(p);
    admin_emit(e, "<h2>Revoke a certificate</h2>\n<form method=\"post\" action=\"", base,
               "ui/revoke\" id=\"revoke\"><input type=\"hidden\" name=\"csrf\" value=\"", csrf,
               "\">"
               "<label>Serial (hex) <input name=\"serial\" id=\"serial\" required></label> "
               "<label>Reason <select name=\"reason\" id=\"reason\">"
               "<option>unspecified</option><option>keyCompromise</option>"
               "<option>affiliationChanged</option><option>superseded</option>"
               "<option>cessationOfOperation</option><option>certificateHold</option>"
               "<option>privilegeWithdrawn</option></select></label> "
               "<button type=\"submit\" id=\"revoke-submit\">Revoke</button></form>\n"
               "<h2>", pg->searching ? "Enrollments found" : "Recent enrollments", "</h2>\n",
               NULL);
    search_form(e, pg, base, p);
    admin_emit(e, "<table id=\"recent\"><tr><th>#</th><th>Status</th>"
               "<th>Subject</th><th>Serial</th><th>Profile</th><th>Client</th>"
               "<th>Reason</th><th>Requested</th><th>Issued</th><th>Expires</th></tr>\n", NULL);
    for (i = 0; i < pg->recent.rows->nelts; i++) {
        const scep_txn_t *t = &APR_ARRAY_IDX(pg->recent.rows, i, scep_txn_t);
        const char *serial, *expires;
        apr_pool_clear(p);
        serial = admin_html(p, t->serial);
        expires = t->cert_revoked_at ? "revoked" : !t->cert_not_after ? ""
                  : t->cert_not_after < now ? "expired" : admin_date(p, t->cert_not_after);
        admin_emit(e, "<tr><td>", admin_html(p, t->id), "</td><td>", admin_html(p, t->status),
                   "</td><td>",
                   admin_html(p, t->subject), "</td><td>", *serial ? "<a href=\"" : "",
                   *serial ? base : "", *serial ? "certificates/" : "", serial,
                   *serial ? "\">" : "", serial, *serial ? "</a>" : "", "</td><td>",
                   admin_html(p, t->profile), "</td><td>", admin_html(p, t->client_addr),
                   "</td><td>",
                   admin_html(p, t->fail_text), "</td><td>", admin_date(p, t->created_at),
                   "</td><td>", admin_date(p, t->cert_issued_at), "</td><td>", expires,
                   "</td></tr>\n", NULL);
    }
    admin_emit(e, "</table>\n", NULL);
    if (pg->recent.rows->nelts == 0) {
        admin_emit(e, "<p id=\"no-enrollments\">No enrollment matches.</p>\n", NULL);
    }
    older_link(e, pool, pg->recent.older, "older-recent", "Older enrollments");
}

/* Notifications not delivered yet: shown only when there are some. */
static void page_outbox(emit_t *e, const page_t *pg, apr_pool_t *p)
{
    int i;

    if (!pg->undelivered) {
        admin_emit(e, "<p id=\"outbox-unreadable\">The notification outbox cannot be read "
                   "(is the schema up to date?).</p>\n", NULL);
        return;
    }
    if (pg->undelivered->nelts == 0) {
        return;
    }
    admin_emit(e, "<h2>Notifications not delivered</h2>\n<table id=\"outbox\"><tr><th>#</th>"
               "<th>Event</th><th>Of</th><th>Profile</th><th>To</th><th>Attempts</th>"
               "<th>Last error</th></tr>\n", NULL);
    for (i = 0; i < pg->undelivered->nelts; i++) {
        const scep_event_t *ev = &APR_ARRAY_IDX(pg->undelivered, i, scep_event_t);
        apr_pool_clear(p);
        admin_emit(e, "<tr><td>", admin_html(p, ev->id), "</td><td>", admin_html(p, ev->event),
                   "</td><td>", admin_html(p, ev->event_key), "</td><td>",
                   admin_html(p, ev->profile), "</td><td>", admin_html(p, ev->sink),
                   "</td><td>", apr_itoa(p, ev->attempts), "</td><td>",
                   admin_html(p, ev->last_error), "</td></tr>\n", NULL);
    }
    admin_emit(e, "</table>\n", NULL);
}

/* A rollover's CAs (README "CA rollover"), each a link to its pages. */
static void ca_links(emit_t *e, apr_pool_t *p, const scep_admin_t *adm)
{
    const scep_ca_t *active;
    int i;

    if (!adm->cas || adm->cas->all->nelts < 2 || !adm->home) {
        return;
    }
    active = scep_cas_active(adm->cas, (apr_int64_t)apr_time_sec(apr_time_now()));
    admin_emit(e, "<p>CAs of this server:", NULL);
    for (i = 0; i < adm->cas->all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(adm->cas->all, i, const scep_ca_t *);
        const char *role = ca == active ? "issuing" : ca == adm->cas->next
                           ? apr_pstrcat(p, "next, issues from ",
                                         admin_date(p, adm->cas->switch_at), NULL)
                           : "previous";
        admin_emit(e, i ? " &middot; " : " ", "<a href=\"", admin_html(p, adm->home),
                   ca == active ? "" : apr_pstrcat(p, "ca/", ca->id, "/", NULL), "\">",
                   admin_html(p, ca->subject), "</a> (", admin_html(p, role), ", ", ca->id,
                   ca == adm->ca ? ", shown" : "", ")", NULL);
    }
    admin_emit(e, "</p>\n", NULL);
}

void admin_page_head(emit_t *e, apr_pool_t *p, const scep_admin_t *adm, const char *title)
{
    admin_emit(e, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>", admin_html(p, title), "</title>"
               "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
               "pre{margin:0;white-space:pre-wrap}form{margin:.3em 0}"
               ".notice{background:#eef;padding:.5em}</style></head><body>\n"
               "<h1>", admin_html(p, title), "</h1>\n<p>CA: ", admin_html(p, adm->ca->subject),
               " &mdash; signed in as ", admin_html(p, adm->user), "</p>\n", NULL);
    ca_links(e, p, adm);
}

apr_status_t admin_page_stream(const void *state, apr_pool_t *pool,
                               scep_admin_write_fn *write, void *baton)
{
    const page_t *pg = state;
    const scep_admin_t *adm = &pg->adm;
    const char *base;
    emit_t e = { write, baton, APR_SUCCESS };
    apr_pool_t *p;

    if (apr_pool_create(&p, pool) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    base = admin_html(pool, adm->base);
    admin_page_head(&e, p, adm, "mod_scep administration");
    if (pg->notice) {
        admin_emit(&e, "<p class=\"notice\" id=\"notice\">", admin_html(p, pg->notice), "</p>\n",
                   NULL);
    }
    if (pg->older) {
        admin_emit(&e, "<p><a href=\"", base, "\" id=\"newest\">Back to the newest</a></p>\n",
                   NULL);
    }

    if (!pg->older && !pg->searching) {
        admin_counts_html(&e, pg, p);
    }
    page_pending(&e, pg, base, pool, p);
    page_outbox(&e, pg, p);
    page_challenges(&e, pg, base, pool, p);
    page_revoke_and_recent(&e, pg, base, pool, p);
    if (!pg->older && !pg->searching) {
        admin_audit_html(&e, pg, base, p);
    }
    admin_emit(&e, "</body></html>\n", NULL);
    apr_pool_destroy(p);
    return e.rv;
}

/* The page: each table from its cursor in the query (before=ID for recent
 * enrollments, pending_before=, challenges_before=), PAGE_ROWS rows each. */
apr_status_t admin_page_make(page_t **ppage, const char **perr, scep_ctx_t *ctx,
                             const scep_admin_t *adm, scep_store_t *st,
                             const scep_admin_in_t *in, const char *csrf,
                             const char *notice, const char *secret)
{
    apr_pool_t *p = ctx->pool;
    const char *fp = adm->ca->fingerprint;
    page_t *pg = apr_pcalloc(p, sizeof(*pg));
    apr_int64_t pending_before = admin_query_number(in, "pending_before", 0, MAX_ID);
    apr_int64_t open_before = admin_query_number(in, "challenges_before", 0, MAX_ID);
    apr_array_header_t *pending, *recent, *open;

    if (pending_before < 0 || open_before < 0) {
        *perr = "pending_before and challenges_before must be ids";
        return APR_EINVAL;
    }
    if (admin_search_parse(&pg->search, &pg->search_query, perr, p, adm, in, PAGE_ROWS + 1)
        != APR_SUCCESS) {
        return APR_EINVAL;
    }
    pg->searching = *pg->search_query != '\0';
    if (scep_store_txn_list(&pending, ctx, st, fp, "PENDING", pending_before, PAGE_ROWS + 1)
        != APR_SUCCESS
        || scep_store_txn_search(&recent, ctx, st, &pg->search) != APR_SUCCESS
        || scep_store_challenge_open(&open, ctx, st, fp, open_before, PAGE_ROWS + 1)
        != APR_SUCCESS) {
        *perr = "enrollment database unavailable";
        return SCEP_EDB;
    }
    if (scep_store_outbox_pending_of(&pg->undelivered, ctx, st, fp, PAGE_ROWS) != APR_SUCCESS) {
        pg->undelivered = NULL;    /* the page still serves the decisions */
    }
    pg->adm = *adm;
    if (!pending_before && !pg->search.before && !open_before && !pg->searching) {
        admin_counts_read(pg, ctx, st);
        if (scep_store_audit_list(&pg->audit, ctx, st, fp, 0, AUDIT_ON_PAGE) != APR_SUCCESS) {
            pg->audit = NULL;
        }
    }
    admin_paginate(&pg->pending, p, pending, PAGE_ROWS, admin_txn_id(pending, PAGE_ROWS - 1),
                   apr_pstrcat(p, adm->base, "?pending_before=", NULL));
    admin_paginate(&pg->recent, p, recent, PAGE_ROWS, admin_txn_id(recent, PAGE_ROWS - 1),
                   apr_pstrcat(p, adm->base, "?", pg->search_query, "before=", NULL));
    admin_paginate(&pg->open, p, open, PAGE_ROWS, admin_challenge_id(open, PAGE_ROWS - 1),
                   apr_pstrcat(p, adm->base, "?challenges_before=", NULL));
    pg->older = pending_before || pg->search.before || open_before;
    pg->csrf = csrf;
    pg->notice = notice;
    pg->secret = secret;
    *ppage = pg;
    return APR_SUCCESS;
}

/* An application/x-www-form-urlencoded body: browsers send a space as '+'
 * (and a '+' as %2B), which scep_query_parse, made for SCEP's base64 in
 * URLs, keeps as it is. */
apr_table_t *admin_form_parse(apr_pool_t *p, const char *body)
{
    char *copy = apr_pstrdup(p, body ? body : ""), *c;

    for (c = copy; *c; c++) {
        if (*c == '+') *c = ' ';
    }
    return scep_query_parse(p, copy);
}

apr_table_t *scep_admin_query_parse(apr_pool_t *p, const char *args)
{
    return admin_form_parse(p, args);
}

/* The name of a form field with a control character in its name or value,
 * or NULL: only the SANs' textarea may hold line breaks, between names. */
const char *admin_form_ctl(apr_pool_t *p, apr_table_t *form)
{
    const apr_array_header_t *elts = apr_table_elts(form);
    const apr_table_entry_t *e = (const apr_table_entry_t *)elts->elts;
    int i;

    for (i = 0; i < elts->nelts; i++) {
        const char *v = e[i].val ? e[i].val : "";
        if (admin_ctl_in(e[i].key, strlen(e[i].key), 0)
            || admin_ctl_in(v, strlen(v), !strcmp(e[i].key, "san"))) {
            return admin_member_quoted(p, e[i].key);
        }
    }
    return NULL;
}
