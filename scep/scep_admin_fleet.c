/* mod_scep core: the fleet view of the administration endpoint. Search and
 * filters for the enrollments, counts per Location and day (an inline SVG
 * chart: the page's CSP allows no script and no outside image), the
 * certificates about to expire, a certificate's detail with its history,
 * and the audit trail; each as a page and in the JSON API. */
#include <apr_date.h>

#include <openssl/pem.h>
#include <openssl/err.h>

#include "scep_admin_int.h"
#include "scep_certinfo.h"
#include "scep_ossl.h"
#include "scep_policy.h"
#include "scep_crl.h"
#include "scep_util.h"

#define SEARCH_MAX 200               /* bytes of a search */
#define DAY 86400
#define CHART_DAYS 30
#define EXPIRING_DEFAULT_DAYS 30
#define EXPIRING_MAX_DAYS 3650
#define HISTORY_MAX 50               /* audit records shown per target */

static const char *const STATUSES[] = { "ISSUED", "PENDING", "REJECTED", NULL };

const char *admin_date(apr_pool_t *p, apr_int64_t secs)
{
    apr_time_exp_t t;
    char buf[32];
    apr_size_t len;

    if (secs <= 0 || apr_time_exp_gmt(&t, apr_time_from_sec(secs)) != APR_SUCCESS) {
        return "";
    }
    apr_strftime(buf, &len, sizeof(buf), "%Y-%m-%d %H:%M UTC", &t);
    return apr_pstrdup(p, buf);
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian, UTC). */
static apr_int64_t days_from_civil(int y, int m, int d)
{
    apr_int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2026-12-03" (the start of that day, UTC) or seconds since the epoch;
 * -1 for anything else. */
static apr_int64_t parse_when(const char *s)
{
    int y, m, d, n = 0;

    if (!s || !*s) {
        return 0;
    }
    if (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10
        && y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= 31) {
        return days_from_civil(y, m, d) * DAY;
    }
    for (n = 0; s[n]; n++) {
        if (!apr_isdigit(s[n]) || n >= 12) return -1;
    }
    return apr_atoi64(s);
}

/* A query value, or NULL when absent or empty. */
static const char *query_value(const scep_admin_in_t *in, const char *name)
{
    const char *v = in->query ? apr_table_get(in->query, name) : NULL;
    return v && *v ? v : NULL;
}

static const char *query_pair(apr_pool_t *p, const char *name, const char *v)
{
    return v ? apr_pstrcat(p, name, "=", scep_url_escape(p, v), "&", NULL) : "";
}

apr_status_t admin_search_parse(scep_search_t *q, const char **pquery, const char **perr,
                                apr_pool_t *p, const scep_admin_t *adm,
                                const scep_admin_in_t *in, int limit)
{
    const char *text = query_value(in, "q"), *since = query_value(in, "since");
    const char *until = query_value(in, "until");
    apr_int64_t before = admin_query_number(in, "before", 0, MAX_ID);
    int i;

    memset(q, 0, sizeof(*q));
    q->ca = adm->ca->fingerprint;
    q->status = query_value(in, "status");
    q->profile = query_value(in, "profile");
    q->limit = limit;
    if (text) {
        while (apr_isspace(*text)) text++;
        q->q = *text ? apr_pstrdup(p, text) : NULL;
        for (i = q->q ? (int)strlen(q->q) - 1 : -1; i >= 0 && apr_isspace(q->q[i]); i--) {
            ((char *)q->q)[i] = '\0';
        }
    }
    for (i = 0; q->status && STATUSES[i] && strcmp(STATUSES[i], q->status); i++) {
    }
    if (q->status && !STATUSES[i]) {
        *perr = "status must be PENDING, ISSUED or REJECTED";
        return APR_EINVAL;
    }
    if ((q->q && (strlen(q->q) > SEARCH_MAX || admin_ctl_in(q->q, strlen(q->q), 0)))
        || (q->profile && (strlen(q->profile) > 255
                           || admin_ctl_in(q->profile, strlen(q->profile), 0)))) {
        *perr = "q and profile must be at most 200 and 255 characters, without control "
                "characters";
        return APR_EINVAL;
    }
    q->since = parse_when(since);
    q->until = parse_when(until);
    if (q->since < 0 || q->until < 0 || before < 0) {
        *perr = "since and until must be dates (2026-12-03) or seconds since the epoch, "
                "before an id";
        return APR_EINVAL;
    }
    if (until && strchr(until, '-')) {
        q->until += DAY;             /* a date: up to the end of that day */
    }
    q->before = before;
    *pquery = apr_pstrcat(p, query_pair(p, "q", q->q), query_pair(p, "status", q->status),
                          query_pair(p, "profile", q->profile), query_pair(p, "since", since),
                          query_pair(p, "until", until), NULL);
    return APR_SUCCESS;
}

/* ---- counts ------------------------------------------------------------- */

void admin_counts_read(page_t *pg, scep_ctx_t *ctx, scep_store_t *st)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_int64_t month = now - now % DAY - (CHART_DAYS - 1) * DAY;
    const char *ca = pg->adm.ca->fingerprint;

    if (scep_store_counts(&pg->last_day, NULL, ctx, st, ca, now - DAY, 0) != APR_SUCCESS
        || scep_store_counts(&pg->last_month, &pg->daily, ctx, st, ca, month, month)
           != APR_SUCCESS) {
        pg->last_day = pg->last_month = pg->daily = NULL;
    }
}

static int status_index(const char *status)
{
    int i;
    for (i = 0; status && STATUSES[i]; i++) {
        if (!strcmp(STATUSES[i], status)) return i;
    }
    return -1;
}

/* The Locations of two count lists, in order of first appearance. */
static apr_array_header_t *profiles_of(apr_pool_t *p, const apr_array_header_t *a,
                                       const apr_array_header_t *b)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);
    const apr_array_header_t *lists[2] = { a, b };
    int l, i;

    for (l = 0; l < 2; l++) {
        for (i = 0; i < lists[l]->nelts; i++) {
            const char *name = APR_ARRAY_IDX(lists[l], i, scep_count_t).profile;
            name = name ? name : "(none)";
            if (!apr_hash_get(seen, name, APR_HASH_KEY_STRING)) {
                apr_hash_set(seen, name, APR_HASH_KEY_STRING, name);
                APR_ARRAY_PUSH(out, const char *) = name;
            }
        }
    }
    return out;
}

static apr_int64_t count_of(const apr_array_header_t *rows, const char *profile, int status)
{
    apr_int64_t n = 0;
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const scep_count_t *c = &APR_ARRAY_IDX(rows, i, scep_count_t);
        if (!strcmp(c->profile ? c->profile : "(none)", profile)
            && status_index(c->status) == status) {
            n += c->n;
        }
    }
    return n;
}

/* Stacked bars, one per day of the last CHART_DAYS, oldest on the left. */
static void chart_svg(emit_t *e, const page_t *pg, apr_pool_t *p)
{
    apr_int64_t per_day[CHART_DAYS][3], top = 1;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_int64_t first = now - now % DAY - (CHART_DAYS - 1) * DAY;
    static const char *const colour[3] = { "#2e7d32", "#f9a825", "#c62828" };
    const int bar = 14, height = 100;
    int d, s, i;

    memset(per_day, 0, sizeof(per_day));
    for (i = 0; i < pg->daily->nelts; i++) {
        const scep_count_t *c = &APR_ARRAY_IDX(pg->daily, i, scep_count_t);
        d = (int)((c->day - first) / DAY);
        s = status_index(c->status);
        if (d >= 0 && d < CHART_DAYS && s >= 0) per_day[d][s] += c->n;
    }
    for (d = 0; d < CHART_DAYS; d++) {
        apr_int64_t sum = per_day[d][0] + per_day[d][1] + per_day[d][2];
        if (sum > top) top = sum;
    }
    admin_emit(e, "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"",
               apr_itoa(p, CHART_DAYS * bar + 60), "\" height=\"", apr_itoa(p, height + 20),
               "\" role=\"img\" aria-label=\"Enrollments per day, last 30 days\">"
               "<text x=\"", apr_itoa(p, CHART_DAYS * bar + 4), "\" y=\"10\" font-size=\"10\">",
               apr_psprintf(p, "%" APR_INT64_T_FMT, top), "</text><text x=\"",
               apr_itoa(p, CHART_DAYS * bar + 4), "\" y=\"", apr_itoa(p, height),
               "\" font-size=\"10\">0</text>", NULL);
    for (d = 0; d < CHART_DAYS; d++) {
        int y = height;
        const char *title = apr_psprintf(p, "%.10s: %" APR_INT64_T_FMT " issued, %"
                                         APR_INT64_T_FMT " pending, %" APR_INT64_T_FMT
                                         " rejected", admin_date(p, first + d * DAY),
                                         per_day[d][0], per_day[d][1], per_day[d][2]);
        admin_emit(e, "<g><title>", title, "</title>", NULL);
        for (s = 0; s < 3; s++) {
            int h = (int)(per_day[d][s] * height / top);
            if (h == 0 && per_day[d][s] > 0) h = 1;
            y -= h;
            if (h > 0) {
                admin_emit(e, "<rect x=\"", apr_itoa(p, d * bar), "\" y=\"", apr_itoa(p, y),
                           "\" width=\"", apr_itoa(p, bar - 2), "\" height=\"", apr_itoa(p, h),
                           "\" fill=\"", colour[s], "\"/>", NULL);
            }
        }
        admin_emit(e, "</g>", NULL);
    }
    admin_emit(e, "<text x=\"0\" y=\"", apr_itoa(p, height + 14), "\" font-size=\"10\">",
               apr_pstrndup(p, admin_date(p, first), 10), "</text><text x=\"",
               apr_itoa(p, (CHART_DAYS - 5) * bar), "\" y=\"", apr_itoa(p, height + 14),
               "\" font-size=\"10\">today</text></svg>\n"
               "<p class=\"legend\"><span style=\"color:#2e7d32\">&#9632;</span> issued "
               "<span style=\"color:#f9a825\">&#9632;</span> pending "
               "<span style=\"color:#c62828\">&#9632;</span> rejected</p>\n", NULL);
}

void admin_counts_html(emit_t *e, const page_t *pg, apr_pool_t *p)
{
    apr_array_header_t *profiles;
    int i, s;

    apr_pool_clear(p);
    admin_emit(e, "<h2>Activity</h2>\n", NULL);
    if (!pg->last_day) {
        admin_emit(e, "<p id=\"counts-unreadable\">The counts cannot be read "
                   "(is the schema up to date?).</p>\n", NULL);
        return;
    }
    profiles = profiles_of(p, pg->last_day, pg->last_month);
    admin_emit(e, "<table id=\"counts\"><tr><th rowspan=\"2\">Location</th>"
               "<th colspan=\"3\">Last 24 hours</th><th colspan=\"3\">Last 30 days</th></tr>"
               "<tr><th>Issued</th><th>Pending</th><th>Rejected</th>"
               "<th>Issued</th><th>Pending</th><th>Rejected</th></tr>\n", NULL);
    for (i = 0; i < profiles->nelts; i++) {
        const char *name = APR_ARRAY_IDX(profiles, i, const char *);
        admin_emit(e, "<tr><td>", admin_html(p, name), "</td>", NULL);
        for (s = 0; s < 6; s++) {
            admin_emit(e, "<td>", apr_psprintf(p, "%" APR_INT64_T_FMT,
                       count_of(s < 3 ? pg->last_day : pg->last_month, name, s % 3)), "</td>",
                       NULL);
        }
        admin_emit(e, "</tr>\n", NULL);
    }
    if (profiles->nelts == 0) {
        admin_emit(e, "<tr><td colspan=\"7\">No enrollments in the last 30 days.</td></tr>\n",
                   NULL);
    }
    admin_emit(e, "</table>\n", NULL);
    chart_svg(e, pg, p);
}

static const char *counts_json(apr_pool_t *p, const apr_array_header_t *rows, int by_day)
{
    const char *out = "[";
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const scep_count_t *c = &APR_ARRAY_IDX(rows, i, scep_count_t);
        out = apr_pstrcat(p, out, i ? "," : "", by_day
                          ? apr_psprintf(p, "{\"day\":%" APR_INT64_T_FMT, c->day)
                          : apr_pstrcat(p, "{\"profile\":", admin_json_str(p, c->profile), NULL),
                          ",\"status\":", admin_json_str(p, c->status),
                          apr_psprintf(p, ",\"count\":%" APR_INT64_T_FMT "}", c->n), NULL);
    }
    return apr_pstrcat(p, out, "]", NULL);
}

/* GET api/stats */
void admin_api_stats(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    page_t pg;

    memset(&pg, 0, sizeof(pg));
    pg.adm = *c->adm;
    admin_counts_read(&pg, c->ctx, c->st);
    if (!pg.last_day) {
        admin_json_error(c->out, p, 503, "database error");
        return;
    }
    admin_respond(c->out, 200, CT_JSON, apr_pstrcat(p, "{\"last_24h\":",
                  counts_json(p, pg.last_day, 0), ",\n\"last_30d\":",
                  counts_json(p, pg.last_month, 0), ",\n\"daily\":",
                  counts_json(p, pg.daily, 1), "}\n", NULL));
}

/* ---- the audit trail ---------------------------------------------------- */

const char *admin_audit_row(apr_pool_t *p, const scep_audit_t *a, const char *base)
{
    const char *target = a->target ? admin_html(p, a->target) : "";

    if (a->target && admin_is_hex(a->target) && !strcmp(a->action, "revoke")) {
        target = apr_pstrcat(p, "<a href=\"", base, "certificates/", target, "\">", target,
                             "</a>", NULL);
    }
    return apr_pstrcat(p, "<tr><td>", admin_html(p, a->id), "</td><td>",
                       admin_date(p, a->at), "</td><td>", admin_html(p, a->actor), "</td><td>",
                       admin_html(p, a->client_addr), "</td><td>", admin_html(p, a->action),
                       "</td><td>", target, "</td><td>", admin_html(p, a->detail),
                       "</td></tr>\n", NULL);
}

#define AUDIT_HEAD "<tr><th>#</th><th>When</th><th>Who</th><th>From</th><th>Action</th>" \
    "<th>Target</th><th>Detail</th></tr>\n"

const char *admin_audit_json(apr_pool_t *p, const scep_audit_t *a)
{
    return apr_psprintf(p, "{\"id\":%s,\"at\":%" APR_INT64_T_FMT ",\"actor\":%s,"
                        "\"client_addr\":%s,\"action\":%s,\"target\":%s,\"detail\":%s}",
                        a->id, a->at, admin_json_str(p, a->actor),
                        admin_json_str(p, a->client_addr), admin_json_str(p, a->action),
                        admin_json_str(p, a->target), admin_json_str(p, a->detail));
}

void admin_audit_html(emit_t *e, const page_t *pg, const char *base, apr_pool_t *p)
{
    int i;

    apr_pool_clear(p);
    admin_emit(e, "<h2>Audit trail</h2>\n", NULL);
    if (!pg->audit) {
        admin_emit(e, "<p id=\"audit-unreadable\">The audit trail cannot be read "
                   "(is the schema up to date?).</p>\n", NULL);
        return;
    }
    admin_emit(e, "<table id=\"audit\">" AUDIT_HEAD, NULL);
    for (i = 0; i < pg->audit->nelts; i++) {
        admin_emit(e, admin_audit_row(p, &APR_ARRAY_IDX(pg->audit, i, scep_audit_t), base),
                   NULL);
    }
    admin_emit(e, "</table>\n<p><a href=\"", base, "audit\" id=\"audit-all\">Every action"
               "</a></p>\n", NULL);
}

/* GET api/audit[?before=][&limit=] */
void admin_api_audit(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t limit = admin_query_number(c->in, "limit", API_ROWS, API_MAX_ROWS);
    apr_int64_t before = admin_query_number(c->in, "before", 0, MAX_ID);
    apr_array_header_t *rows;
    const char *body = "{\"audit\":[", *next = NULL;
    int i;

    if (limit < 0 || before < 0) {
        admin_json_error(c->out, p, 400, "limit must be a number from 1 to 1000, before an id");
        return;
    }
    if (scep_store_audit_list(&rows, c->ctx, c->st, c->adm->ca->fingerprint, before,
                              (int)limit + 1) != APR_SUCCESS) {
        admin_json_error(c->out, p, 503, "database error");
        return;
    }
    for (i = 0; i < rows->nelts && i < limit; i++) {
        body = apr_pstrcat(p, body, i ? ",\n" : "",
                           admin_audit_json(p, &APR_ARRAY_IDX(rows, i, scep_audit_t)), NULL);
    }
    if (rows->nelts > limit) {
        next = apr_psprintf(p, "%sapi/audit?limit=%d&before=%s", c->adm->base, (int)limit,
                            APR_ARRAY_IDX(rows, limit - 1, scep_audit_t).id);
    }
    admin_respond(c->out, 200, CT_JSON, apr_pstrcat(p, body, "],\n\"next\":",
                  admin_json_str(p, next), "}\n", NULL));
}

/* ---- certificates about to expire ---------------------------------------- */

typedef struct expiring_t {
    apr_int64_t days;
    apr_array_header_t *rows;        /* scep_cert_t */
    const char *next;                /* query of the next rows, or NULL */
} expiring_t;

/* The window (days=, or expiring_within= in the API) and the cursor
 * (after=EXPIRY-SERIAL) of the query. */
static apr_status_t expiring_read(expiring_t *x, const char **perr, api_call_t *c,
                                  const char *days_name, int limit)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now()), after = now;
    const char *cursor = query_value(c->in, "after"), *after_serial = "", *dash;

    x->days = admin_query_number(c->in, days_name, EXPIRING_DEFAULT_DAYS, EXPIRING_MAX_DAYS);
    if (x->days < 0) {
        *perr = apr_pstrcat(p, days_name, " must be a number of days from 1 to 3650", NULL);
        return APR_EINVAL;
    }
    if (cursor) {
        dash = strchr(cursor, '-');
        if (!dash || !admin_is_hex(dash + 1) || (after = parse_when(
                apr_pstrmemdup(p, cursor, (apr_size_t)(dash - cursor)))) <= 0) {
            *perr = "after must be a cursor from a previous answer";
            return APR_EINVAL;
        }
        after_serial = dash + 1;
    }
    if (scep_store_cert_expiring(&x->rows, c->ctx, c->st, c->adm->ca->fingerprint,
                                 now + x->days * DAY, after, after_serial, limit + 1)
        != APR_SUCCESS) {
        *perr = "database error";
        return SCEP_EDB;
    }
    x->next = NULL;
    if (x->rows->nelts > limit) {
        const scep_cert_t *last = &APR_ARRAY_IDX(x->rows, limit - 1, scep_cert_t);
        x->rows->nelts = limit;
        x->next = apr_psprintf(p, "%s=%" APR_INT64_T_FMT "&after=%" APR_INT64_T_FMT "-%s",
                               days_name, x->days, last->not_after, last->serial);
    }
    return APR_SUCCESS;
}

/* GET api/certificates?expiring_within=DAYS[&after=][&limit=] */
void admin_api_certificates(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    apr_int64_t limit = admin_query_number(c->in, "limit", API_ROWS, API_MAX_ROWS);
    const char *err, *body = "{\"certificates\":[";
    expiring_t x;
    apr_status_t rv;
    int i;

    if (limit < 0 || !query_value(c->in, "expiring_within")) {
        admin_json_error(c->out, p, 400, "certificates are listed by expiring_within=DAYS "
                         "(limit from 1 to 1000); look one up by its serial");
        return;
    }
    if ((rv = expiring_read(&x, &err, c, "expiring_within", (int)limit)) != APR_SUCCESS) {
        admin_json_error(c->out, p, rv == APR_EINVAL ? 400 : 503, err);
        return;
    }
    for (i = 0; i < x.rows->nelts; i++) {
        const scep_cert_t *k = &APR_ARRAY_IDX(x.rows, i, scep_cert_t);
        body = apr_pstrcat(p, body, i ? ",\n" : "", apr_psprintf(p,
                           "{\"serial\":%s,\"subject\":%s,\"profile\":%s,\"not_before\":%"
                           APR_INT64_T_FMT ",\"not_after\":%" APR_INT64_T_FMT "}",
                           admin_json_str(p, k->serial), admin_json_str(p, k->subject),
                           admin_json_str(p, k->profile), k->not_before, k->not_after), NULL);
    }
    admin_respond(c->out, 200, CT_JSON, apr_pstrcat(p, body, "],\n\"next\":",
                  admin_json_str(p, x.next ? apr_pstrcat(p, c->adm->base,
                                 "api/certificates?", x.next, "&limit=",
                                 apr_itoa(p, (int)limit), NULL) : NULL), "}\n", NULL));
}

static void expiring_page(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *base = admin_html(p, c->adm->base), *err, *body;
    expiring_t x;
    apr_status_t rv;
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    int i;

    if ((rv = expiring_read(&x, &err, c, "days", PAGE_ROWS)) != APR_SUCCESS) {
        admin_respond(c->out, rv == APR_EINVAL ? 400 : 503, "text/plain",
                      apr_pstrcat(p, rv == APR_EINVAL ? "Bad Request: " : "Service Unavailable: ",
                                  err, "\n", NULL));
        return;
    }
    body = apr_psprintf(p, "<h2>Certificates in use that expire within %" APR_INT64_T_FMT
                        " days</h2>\n<form method=\"get\" action=\"%sexpiring\" id=\"expiring\">"
                        "<label>Within <input name=\"days\" id=\"days\" size=\"4\" value=\"%"
                        APR_INT64_T_FMT "\"> days</label> <button type=\"submit\" "
                        "id=\"expiring-submit\">Show</button></form>\n<table id=\"expiring-list\">"
                        "<tr><th>Serial</th><th>Subject</th><th>Location</th><th>Expires</th>"
                        "<th>Days left</th></tr>\n", x.days, base, x.days);
    for (i = 0; i < x.rows->nelts; i++) {
        const scep_cert_t *k = &APR_ARRAY_IDX(x.rows, i, scep_cert_t);
        const char *serial = admin_html(p, k->serial);
        body = apr_pstrcat(p, body, "<tr><td><a href=\"", base, "certificates/", serial, "\">",
                           serial, "</a></td><td>", admin_html(p, k->subject), "</td><td>",
                           admin_html(p, k->profile), "</td><td>", admin_date(p, k->not_after),
                           "</td><td>", apr_psprintf(p, "%" APR_INT64_T_FMT,
                                                     (k->not_after - now) / DAY),
                           "</td></tr>\n", NULL);
    }
    body = apr_pstrcat(p, body, "</table>\n", x.rows->nelts ? "" : "<p id=\"none-expiring\">"
                       "None.</p>\n", x.next ? apr_pstrcat(p, "<p><a id=\"later-expiring\" "
                       "href=\"", base, "expiring?", admin_html(p, x.next), "\">Later</a></p>\n",
                       NULL) : "", NULL);
    admin_respond(c->out, 200, CT_HTML, body);
}

/* ---- one certificate ------------------------------------------------------ */

typedef struct detail_t {
    scep_cert_t *cert;
    scep_certinfo_t *info;
    apr_array_header_t *txns;        /* scep_txn_t that asked for it */
    apr_array_header_t *audit;       /* scep_audit_t on it and on its transactions */
} detail_t;

static apr_status_t detail_read(detail_t *d, const char **perr, api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *ca = c->adm->ca->fingerprint;
    char *serial = apr_pstrdup(p, c->arg), *u;
    unsigned char *der;
    apr_size_t len;
    apr_array_header_t *more;
    apr_status_t rv;
    int i;

    for (u = serial; *u; u++) *u = (char)apr_toupper(*u);
    if ((rv = scep_store_cert_get(&d->cert, c->ctx, c->st, ca, serial)) != APR_SUCCESS) {
        *perr = rv == APR_NOTFOUND ? "no such certificate" : "database error";
        return rv;
    }
    if (admin_decode_der(&der, &len, p, d->cert->der) != APR_SUCCESS
        || scep_certinfo_make(&d->info, p, der, len) != APR_SUCCESS) {
        *perr = "the stored certificate is unreadable";
        return APR_EGENERAL;
    }
    if (scep_store_txn_of_cert(&d->txns, c->ctx, c->st, ca, serial) != APR_SUCCESS
        || scep_store_audit_of(&d->audit, c->ctx, c->st, ca, serial, HISTORY_MAX)
           != APR_SUCCESS) {
        *perr = "database error";
        return SCEP_EDB;
    }
    for (i = 0; i < d->txns->nelts; i++) {
        const char *id = APR_ARRAY_IDX(d->txns, i, scep_txn_t).id;
        int k;
        if (scep_store_audit_of(&more, c->ctx, c->st, ca, id, HISTORY_MAX) != APR_SUCCESS) {
            *perr = "database error";
            return SCEP_EDB;
        }
        /* an enrollment's id is a target only of its decisions (a
         * challenge's id, from another counter, may be the same number) */
        for (k = 0; k < more->nelts; k++) {
            const scep_audit_t *a = &APR_ARRAY_IDX(more, k, scep_audit_t);
            if (!strcmp(a->action, "approve") || !strcmp(a->action, "reject")) {
                *(scep_audit_t *)apr_array_push(d->audit) = *a;
            }
        }
    }
    return APR_SUCCESS;
}

static const char *strings_json(apr_pool_t *p, const apr_array_header_t *a)
{
    const char *out = "[";
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        out = apr_pstrcat(p, out, i ? "," : "",
                          admin_json_str(p, APR_ARRAY_IDX(a, i, const char *)), NULL);
    }
    return apr_pstrcat(p, out, "]", NULL);
}

/* A certificate's extensions as a JSON array. */
static const char *extensions_json(apr_pool_t *p, const scep_certinfo_t *in)
{
    const char *ext = "[";
    int i;

    for (i = 0; i < in->extensions->nelts; i++) {
        const scep_extension_t *e = &APR_ARRAY_IDX(in->extensions, i, scep_extension_t);
        ext = apr_pstrcat(p, ext, i ? "," : "", "{\"name\":", admin_json_str(p, e->name),
                          ",\"title\":", admin_json_str(p, e->title), ",\"critical\":",
                          e->critical ? "true" : "false", ",\"value\":",
                          admin_json_str(p, e->value), "}", NULL);
    }
    return apr_pstrcat(p, ext, "]", NULL);
}

static const char *detail_json(apr_pool_t *p, const detail_t *d)
{
    const scep_cert_t *k = d->cert;
    const scep_certinfo_t *in = d->info;
    const char *ext = extensions_json(p, in), *txns = "[", *audit = "[";
    int i;

    for (i = 0; i < d->txns->nelts; i++) {
        txns = apr_pstrcat(p, txns, i ? "," : "",
                           admin_txn_json(p, &APR_ARRAY_IDX(d->txns, i, scep_txn_t)), NULL);
    }
    for (i = 0; i < d->audit->nelts; i++) {
        audit = apr_pstrcat(p, audit, i ? "," : "",
                            admin_audit_json(p, &APR_ARRAY_IDX(d->audit, i, scep_audit_t)), NULL);
    }
    return apr_pstrcat(p, apr_psprintf(p, "{\"serial\":%s,\"subject\":%s,\"issuer\":%s,"
        "\"not_before\":%" APR_INT64_T_FMT ",\"not_after\":%" APR_INT64_T_FMT ",\"revoked_at\":%s,"
        "\"revocation_reason\":%s,\"profile\":%s,\"lineage\":%s,\"renewed_by\":%s,\"key\":%s,"
        "\"signature\":%s,\"sha1\":%s,\"sha256\":%s,\"sans\":%s,",
        admin_json_str(p, k->serial), admin_json_str(p, k->subject),
        admin_json_str(p, in->issuer), k->not_before, k->not_after,
        k->revoked_at ? apr_psprintf(p, "%" APR_INT64_T_FMT, k->revoked_at) : "null",
        k->reason >= 0 ? admin_json_str(p, scep_crl_reason_name(k->reason)) : "null",
        admin_json_str(p, k->profile), admin_json_str(p, k->lineage),
        admin_json_str(p, k->renewed_by), admin_json_str(p, in->key),
        admin_json_str(p, in->signature), admin_json_str(p, in->sha1),
        admin_json_str(p, in->sha256), strings_json(p, in->sans)),
        "\"extensions\":", ext, ",\"transactions\":", txns, "],\"audit\":", audit,
        "],\"der\":", admin_json_str(p, k->der), "}\n", NULL);
}

/* GET api/certificates/SERIAL */
void admin_api_certificate(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    detail_t d;
    const char *err;
    apr_status_t rv = detail_read(&d, &err, c);

    if (rv != APR_SUCCESS) {
        admin_json_error(c->out, p, rv == APR_NOTFOUND ? 404 : rv == SCEP_EDB ? 503 : 500, err);
        return;
    }
    admin_respond(c->out, 200, CT_JSON, detail_json(p, &d));
}

/* GET api/certificates/SERIAL/pem and /der: the certificate to download */
static void download(api_call_t *c, int pem)
{
    apr_pool_t *p = c->ctx->pool;
    char *serial = apr_pstrdup(p, c->arg), *u;
    scep_cert_t *cert;
    unsigned char *der;
    apr_size_t len;
    apr_status_t rv;

    for (u = serial; *u; u++) *u = (char)apr_toupper(*u);
    rv = scep_store_cert_get(&cert, c->ctx, c->st, c->adm->ca->fingerprint, serial);
    if (rv != APR_SUCCESS || admin_decode_der(&der, &len, p, cert->der) != APR_SUCCESS) {
        admin_respond(c->out, rv == APR_NOTFOUND ? 404 : 503, "text/plain",
                      rv == APR_NOTFOUND ? "Not Found: no such certificate\n"
                                         : "Service Unavailable: database error\n");
        return;
    }
    c->out->filename = apr_pstrcat(p, serial, pem ? ".pem" : ".cer", NULL);
    if (pem) {
        scep_certinfo_t *info;
        if (scep_certinfo_make(&info, p, der, len) != APR_SUCCESS) {
            admin_respond(c->out, 500, "text/plain", "the stored certificate is unreadable\n");
            return;
        }
        admin_respond(c->out, 200, "application/x-pem-file", info->pem);
        return;
    }
    c->out->status = 200;
    c->out->content_type = "application/pkix-cert";
    c->out->body = der;
    c->out->len = len;
}

void admin_api_certificate_pem(api_call_t *c)
{
    download(c, 1);
}

void admin_api_certificate_der(api_call_t *c)
{
    download(c, 0);
}

static const char *state_of(apr_pool_t *p, const scep_cert_t *k)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());

    if (k->revoked_at) {
        return apr_pstrcat(p, "revoked ", admin_date(p, k->revoked_at), " (",
                           k->reason >= 0 ? scep_crl_reason_name(k->reason) : "no reason", ")",
                           NULL);
    }
    return k->not_after < now ? "expired" : "valid";
}

static const char *serial_link(apr_pool_t *p, const char *base, const char *serial)
{
    const char *s = admin_html(p, serial);
    return serial && *serial ? apr_pstrcat(p, "<a href=\"", base, "certificates/", s, "\">", s,
                                           "</a>", NULL) : "";
}

/* What happened to it: its requests and decisions, renewal, revocation. */
static const char *history_html(apr_pool_t *p, const detail_t *d, const char *base)
{
    const char *out = "<h3>History</h3>\n<table id=\"history\"><tr><th>When</th><th>What</th>"
                      "<th>Who / from</th><th>Detail</th></tr>\n";
    int i;

    for (i = 0; i < d->txns->nelts; i++) {
        const scep_txn_t *t = &APR_ARRAY_IDX(d->txns, i, scep_txn_t);
        out = apr_pstrcat(p, out, "<tr><td>", admin_date(p, t->created_at), "</td><td>",
                          t->renewal_of && *t->renewal_of ? "renewal requested" : "requested",
                          "</td><td>", admin_html(p, t->client_addr), "</td><td>enrollment ",
                          admin_html(p, t->id), ", transaction ", admin_html(p, t->tid),
                          ", Location ", admin_html(p, t->profile),
                          t->renewal_of && *t->renewal_of ? ", renewing " : "",
                          serial_link(p, base, t->renewal_of), "</td></tr>\n", NULL);
        if (t->trace) {
            out = apr_pstrcat(p, out, "<tr><td></td><td>decisions</td><td></td><td><pre "
                              "class=\"trace\">", admin_html(p, t->trace), "</pre></td></tr>\n",
                              NULL);
        }
        if (t->decided_by) {
            out = apr_pstrcat(p, out, "<tr><td>", admin_date(p, t->decided_at),
                              "</td><td>approved</td><td>", admin_html(p, t->decided_by),
                              "</td><td></td></tr>\n", NULL);
        }
    }
    out = apr_pstrcat(p, out, "<tr><td>", admin_date(p, d->cert->not_before),
                      "</td><td>valid from</td><td></td><td>until ",
                      admin_date(p, d->cert->not_after), "</td></tr>\n", NULL);
    if (d->cert->renewed_by) {
        out = apr_pstrcat(p, out, "<tr><td></td><td>renewed</td><td></td><td>by ",
                          serial_link(p, base, d->cert->renewed_by), "</td></tr>\n", NULL);
    }
    for (i = 0; i < d->audit->nelts; i++) {
        const scep_audit_t *a = &APR_ARRAY_IDX(d->audit, i, scep_audit_t);
        out = apr_pstrcat(p, out, "<tr><td>", admin_date(p, a->at), "</td><td>",
                          admin_html(p, a->action), "</td><td>", admin_html(p, a->actor), " / ",
                          admin_html(p, a->client_addr), "</td><td>", admin_html(p, a->detail),
                          "</td></tr>\n", NULL);
    }
    if (d->cert->revoked_at) {
        out = apr_pstrcat(p, out, "<tr><td>", admin_date(p, d->cert->revoked_at),
                          "</td><td>revoked</td><td></td><td>",
                          d->cert->reason >= 0 ? scep_crl_reason_name(d->cert->reason) : "",
                          "</td></tr>\n", NULL);
    }
    return apr_pstrcat(p, out, "</table>\n", NULL);
}

static const char *revoke_form(apr_pool_t *p, const char *base, const char *csrf,
                               const char *serial)
{
    return apr_pstrcat(p, "<h3>Revoke</h3>\n<form method=\"post\" action=\"", base,
                       "ui/revoke\" id=\"revoke\"><input type=\"hidden\" name=\"csrf\" value=\"",
                       csrf, "\"><input type=\"hidden\" name=\"serial\" value=\"", serial, "\">"
                       "<label>Reason <select name=\"reason\" id=\"reason\">"
                       "<option>unspecified</option><option>keyCompromise</option>"
                       "<option>affiliationChanged</option><option>superseded</option>"
                       "<option>cessationOfOperation</option><option>certificateHold</option>"
                       "<option>privilegeWithdrawn</option></select></label> "
                       "<button type=\"submit\" id=\"revoke-submit\">Revoke</button></form>\n",
                       NULL);
}

static void detail_page(api_call_t *c, const char *csrf)
{
    apr_pool_t *p = c->ctx->pool;
    const char *base = admin_html(p, c->adm->base), *err, *body, *serial;
    const scep_certinfo_t *in;
    detail_t d;
    apr_status_t rv = detail_read(&d, &err, c);
    int i;

    if (rv != APR_SUCCESS) {
        admin_respond(c->out, rv == APR_NOTFOUND ? 404 : rv == SCEP_EDB ? 503 : 500,
                      "text/plain", apr_pstrcat(p, err, "\n", NULL));
        return;
    }
    in = d.info;
    serial = admin_html(p, d.cert->serial);
    body = apr_pstrcat(p, "<table id=\"certificate\">"
        "<tr><th>Status</th><td id=\"cert-status\">", admin_html(p, state_of(p, d.cert)),
        "</td></tr><tr><th>Subject</th><td id=\"cert-subject\">", admin_html(p, in->subject),
        "</td></tr><tr><th>Subject alternative names</th><td id=\"cert-sans\">", NULL);
    for (i = 0; i < in->sans->nelts; i++) {
        body = apr_pstrcat(p, body, i ? "<br>" : "",
                           admin_html(p, APR_ARRAY_IDX(in->sans, i, const char *)), NULL);
    }
    body = apr_pstrcat(p, body, "</td></tr><tr><th>Issuer</th><td>", admin_html(p, in->issuer),
        "</td></tr><tr><th>Valid</th><td>", admin_date(p, in->not_before), " to ",
        admin_date(p, in->not_after), "</td></tr><tr><th>Key</th><td>", admin_html(p, in->key),
        "</td></tr><tr><th>Signature</th><td>", admin_html(p, in->signature),
        "</td></tr><tr><th>SHA-256</th><td id=\"cert-sha256\"><code>", in->sha256,
        "</code></td></tr><tr><th>SHA-1</th><td><code>", in->sha1,
        "</code></td></tr><tr><th>Location</th><td>", admin_html(p, d.cert->profile),
        "</td></tr></table>\n<p><a id=\"download-pem\" href=\"", base, "certificates/", serial,
        "/pem\">Download PEM</a> <a id=\"download-der\" href=\"", base, "certificates/", serial,
        "/der\">Download DER</a></p>\n<h3>Extensions</h3>\n<table id=\"extensions\">"
        "<tr><th>Extension</th><th>Critical</th><th>Value</th></tr>\n", NULL);
    for (i = 0; i < in->extensions->nelts; i++) {
        const scep_extension_t *e = &APR_ARRAY_IDX(in->extensions, i, scep_extension_t);
        body = apr_pstrcat(p, body, "<tr><td>", admin_html(p, e->title), "</td><td>",
                           e->critical ? "yes" : "no", "</td><td><pre>", admin_html(p, e->value),
                           "</pre></td></tr>\n", NULL);
    }
    body = apr_pstrcat(p, body, "</table>\n", history_html(p, &d, base),
                       d.cert->revoked_at ? "" : revoke_form(p, base, csrf, serial),
                       "<h3>PEM</h3>\n<pre id=\"cert-pem\">", admin_html(p, in->pem), "</pre>\n",
                       NULL);
    admin_respond(c->out, 200, CT_HTML, body);
}

/* ---- the audit page ------------------------------------------------------- */

static void audit_page(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *base = admin_html(p, c->adm->base), *body;
    apr_int64_t before = admin_query_number(c->in, "before", 0, MAX_ID);
    apr_array_header_t *rows;
    int i;

    if (before < 0) {
        admin_respond(c->out, 400, "text/plain", "Bad Request: before must be an id\n");
        return;
    }
    if (scep_store_audit_list(&rows, c->ctx, c->st, c->adm->ca->fingerprint, before,
                              PAGE_ROWS + 1) != APR_SUCCESS) {
        admin_respond(c->out, 503, "text/plain", "Service Unavailable: database error\n");
        return;
    }
    body = "<table id=\"audit\">" AUDIT_HEAD;
    for (i = 0; i < rows->nelts && i < PAGE_ROWS; i++) {
        body = apr_pstrcat(p, body, admin_audit_row(p, &APR_ARRAY_IDX(rows, i, scep_audit_t),
                                                     base), NULL);
    }
    body = apr_pstrcat(p, body, "</table>\n", rows->nelts > PAGE_ROWS
                       ? apr_pstrcat(p, "<p><a id=\"older-audit\" href=\"", base, "audit?before=",
                                     APR_ARRAY_IDX(rows, PAGE_ROWS - 1, scep_audit_t).id,
                                     "\">Older actions</a></p>\n", NULL) : "", NULL);
    admin_respond(c->out, 200, CT_HTML, body);
}

/* ---- the views' router ---------------------------------------------------- */

typedef struct text_t {
    apr_pool_t *p;
    const char *s;
} text_t;

static apr_status_t append(void *baton, const char *data, apr_size_t len)
{
    text_t *t = baton;
    t->s = apr_pstrcat(t->p, t->s, apr_pstrmemdup(t->p, data, len), NULL);
    return APR_SUCCESS;
}

/* A view's HTML body inside the page's frame (its head, a way back). */
static void framed(scep_admin_out_t *out, apr_pool_t *p, const scep_admin_t *adm,
                   const char *title)
{
    text_t head = { p, "" };
    emit_t e = { append, &head, APR_SUCCESS };

    if (out->status != 200 || strncmp(out->content_type, "text/html", 9)) {
        return;
    }
    admin_page_head(&e, p, adm, title);
    admin_emit(&e, "<p><a href=\"", admin_html(p, adm->base), "\" id=\"back\">Back to the "
               "enrollments</a></p>\n", (const char *)out->body, "</body></html>\n", NULL);
    out->body = (const unsigned char *)head.s;
    out->len = strlen(head.s);
}

int admin_fleet_page(scep_ctx_t *ctx, const scep_admin_t *adm, scep_store_t *st,
                     const scep_admin_in_t *in, const char **seg, int n, const char *csrf,
                     scep_admin_out_t *out)
{
    api_call_t call = { ctx, adm, st, in, NULL, NULL, out };
    apr_pool_t *p = ctx->pool;

    if (n == 1 && !strcmp(seg[0], "expiring")) {
        expiring_page(&call);
        framed(out, p, adm, "Expiring certificates");
    }
    else if (n == 1 && !strcmp(seg[0], "audit")) {
        audit_page(&call);
        framed(out, p, adm, "Audit trail");
    }
    else if (n >= 2 && n <= 3 && !strcmp(seg[0], "certificates") && admin_is_hex(seg[1])) {
        call.arg = seg[1];
        if (n == 2) {
            detail_page(&call, csrf);
            framed(out, p, adm, apr_pstrcat(p, "Certificate ", seg[1], NULL));
        }
        else if (!strcmp(seg[2], "pem") || !strcmp(seg[2], "der")) {
            download(&call, !strcmp(seg[2], "pem"));
        }
        else {
            return 0;
        }
    }
    else {
        return 0;
    }
    return 1;
}

/* ---- the dry-run ------------------------------------------------------------ */

#define DRY_RUN_NOTE "dry run: no challenge is checked, nothing is issued, recorded or " \
    "consumed; a value from an expression is shown as written"

/* The certificate the plan makes, signed by a throwaway key (never by the
 * CA: a dry-run mints nothing), decoded. */
static apr_status_t dry_certificate(scep_certinfo_t **pinfo, const char **perr, apr_pool_t *p,
                                    const scep_ca_t *ca, const scep_cert_plan_t *plan)
{
    scep_ca_t throwaway = *ca;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    unsigned char *der = NULL;
    X509 *cert = NULL;
    apr_status_t rv = APR_EGENERAL;
    int len;

    throwaway.key = key;
    if (key && scep_ca_issue(&cert, perr, p, &throwaway, plan) == APR_SUCCESS
        && (len = i2d_X509(cert, &der)) > 0) {
        rv = scep_certinfo_make(pinfo, p, der, (apr_size_t)len);
    }
    else if (!*perr) {
        *perr = "the certificate could not be built";
    }
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rv;
}

static const char *lines_json(apr_pool_t *p, const apr_array_header_t *lines)
{
    const char *out = "[";
    int i;

    for (i = 0; i < lines->nelts; i++) {
        out = apr_pstrcat(p, out, i ? "," : "",
                          admin_json_str(p, APR_ARRAY_IDX(lines, i, const char *)), NULL);
    }
    return apr_pstrcat(p, out, "]", NULL);
}

static const char *dry_cert_json(apr_pool_t *p, const scep_certinfo_t *in)
{
    return apr_pstrcat(p, "{\"subject\":", admin_json_str(p, in->subject), ",\"issuer\":",
                       admin_json_str(p, in->issuer), ",\"not_before\":",
                       apr_psprintf(p, "%" APR_INT64_T_FMT, in->not_before), ",\"not_after\":",
                       apr_psprintf(p, "%" APR_INT64_T_FMT, in->not_after), ",\"key\":",
                       admin_json_str(p, in->key), ",\"sans\":", strings_json(p, in->sans),
                       ",\"extensions\":", extensions_json(p, in), "}", NULL);
}

/* POST api/dry-run {"profile", "csr"}: what the profile would do with this
 * request, with the trace of its decisions */
void admin_api_dry_run(api_call_t *c)
{
    apr_pool_t *p = c->ctx->pool;
    const char *name = admin_member(c->body, "profile"), *pem = admin_member(c->body, "csr");
    const scep_profile_t *prof = c->adm->named && name
                                 ? apr_hash_get(c->adm->named, name, APR_HASH_KEY_STRING) : NULL;
    apr_array_header_t *trace = apr_array_make(p, 8, sizeof(const char *));
    BIO *bio = pem ? BIO_new_mem_buf(pem, (int)strlen(pem)) : NULL;
    X509_REQ *csr = bio ? scep_own_req(p, PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) : NULL;
    const char *refusal = NULL, *err = NULL, *body;
    scep_request_t *req;
    scep_cert_plan_t *plan;
    scep_certinfo_t *info;

    BIO_free(bio);
    ERR_clear_error();
    if (!prof || !csr) {
        admin_json_error(c->out, p, 400, !prof ? "profile must name an enrollment point's "
                         "profile (SCEPProfileName or its path)"
                         : "csr must be a PEM certificate request (BEGIN CERTIFICATE REQUEST)");
        return;
    }
    APR_ARRAY_PUSH(trace, const char *) = DRY_RUN_NOTE;
    if (X509_REQ_verify(csr, X509_REQ_get0_pubkey(csr)) != 1) {
        ERR_clear_error();
        refusal = "the request's signature does not verify with its own key";
    }
    req = scep_policy_request(p, csr, NULL);
    req->trace = trace;
    if (!refusal
        && scep_policy_apply(&plan, &refusal, p, prof->policy, req, NULL, NULL, NULL)
           == APR_SUCCESS
        && dry_certificate(&info, &err, p, c->adm->ca, plan) == APR_SUCCESS) {
        body = apr_pstrcat(p, "{\"profile\":", admin_json_str(p, prof->name),
                           ",\"outcome\":\"would issue\",\"certificate\":",
                           dry_cert_json(p, info), ",\"trace\":", lines_json(p, trace), "}\n",
                           NULL);
    }
    else {
        APR_ARRAY_PUSH(trace, const char *) = apr_pstrcat(p, "refused: ",
                                                          refusal ? refusal : err, NULL);
        body = apr_pstrcat(p, "{\"profile\":", admin_json_str(p, prof->name),
                           ",\"outcome\":\"refused\",\"refusal\":",
                           admin_json_str(p, refusal ? refusal : err), ",\"trace\":",
                           lines_json(p, trace), "}\n", NULL);
    }
    admin_respond(c->out, 200, CT_JSON, body);
}
