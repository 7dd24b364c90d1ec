/* mod_scep core: what the fleet view reads beyond single records (the
 * certificates about to expire, counts per Location, status and day) and
 * the audit trail of administrators' actions, through apr_dbd (their SQL
 * is in scep_store.c with the rest). An action's audit record is staged on
 * the store and written by the transaction of the action itself, so an
 * action is never without its record, nor a record without its action. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "scep_store_dialect.h"
#include "scep_util.h"

#define AUDIT_DETAIL_MAX 512
#define AUDIT_NAME_MAX 255

void scep_store_stage_audit(scep_store_t *st, const scep_audit_t *a)
{
    if (!st->staged_audit) {
        st->staged_audit = apr_array_make(st->pool, 1, sizeof(scep_audit_t));
    }
    *(scep_audit_t *)apr_array_push(st->staged_audit) = *a;
}

apr_status_t scep_store_write_audit(scep_ctx_t *ctx, scep_store_t *st)
{
    apr_pool_t *p = ctx->pool;
    const char *now = scep_store_num(p, (apr_int64_t)apr_time_sec(apr_time_now()));
    apr_status_t rv = APR_SUCCESS;
    int i;

    for (i = 0; st->staged_audit && i < st->staged_audit->nelts && rv == APR_SUCCESS; i++) {
        const scep_audit_t *a = &APR_ARRAY_IDX(st->staged_audit, i, scep_audit_t);
        /* bounded by the narrowest schema (MySQL's VARCHARs), on a character */
        const char *args[] = {
            a->ca, now, scep_bounded(p, a->actor ? a->actor : "-", AUDIT_NAME_MAX),
            a->client_addr, a->action, scep_bounded(p, a->target, AUDIT_NAME_MAX),
            scep_bounded(p, a->detail, AUDIT_DETAIL_MAX)
        };
        rv = scep_store_exec(ctx, st, "scep_audit_insert", NULL, 7, args);
    }
    return rv;
}

static void read_audit(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_audit_t *a = apr_array_push(baton);

    a->id = scep_store_dup(p, st, row, 0);
    a->ca = scep_store_dup(p, st, row, 1);
    a->at = scep_store_i64(apr_dbd_get_entry(st->driver, row, 2));
    a->actor = scep_store_dup(p, st, row, 3);
    a->client_addr = scep_store_dup(p, st, row, 4);
    a->action = scep_store_dup(p, st, row, 5);
    a->target = scep_store_dup(p, st, row, 6);
    a->detail = scep_store_dup(p, st, row, 7);
}

apr_status_t scep_store_audit_list(apr_array_header_t **prows, scep_ctx_t *ctx,
                                   scep_store_t *st, const char *ca, apr_int64_t before,
                                   int limit)
{
    const char *args[] = {
        ca, scep_store_num(ctx->pool, before > 0 ? before : APR_INT64_MAX),
        scep_store_num(ctx->pool, limit)
    };
    return scep_store_select_rows(prows, ctx, st, "scep_audit_list", 3, args, read_audit,
                                  sizeof(scep_audit_t));
}

apr_status_t scep_store_audit_of(apr_array_header_t **prows, scep_ctx_t *ctx,
                                 scep_store_t *st, const char *ca, const char *target,
                                 int limit)
{
    const char *args[] = { ca, target, scep_store_num(ctx->pool, limit) };
    return scep_store_select_rows(prows, ctx, st, "scep_audit_of", 3, args, read_audit,
                                  sizeof(scep_audit_t));
}

apr_status_t scep_store_cert_expiring(apr_array_header_t **prows, scep_ctx_t *ctx,
                                      scep_store_t *st, const char *ca, apr_int64_t upto,
                                      apr_int64_t after, const char *after_serial, int limit)
{
    apr_pool_t *p = ctx->pool;
    const char *t = scep_store_num(p, after);
    const char *args[] = {
        ca, t, scep_store_num(p, upto), t, after_serial ? after_serial : "",
        scep_store_num(p, limit)
    };
    return scep_store_select_rows(prows, ctx, st, "scep_cert_expiring", 6, args,
                                  scep_store_read_cert, sizeof(scep_cert_t));
}

static void read_count_by_profile(void *baton, apr_pool_t *p, scep_store_t *st,
                                  apr_dbd_row_t *row)
{
    scep_count_t *c = apr_array_push(baton);

    c->profile = scep_store_dup(p, st, row, 0);
    c->day = 0;
    c->status = scep_store_dup(p, st, row, 1);
    c->n = scep_store_i64(apr_dbd_get_entry(st->driver, row, 2));
}

static void read_count_by_day(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_count_t *c = apr_array_push(baton);
    const char *day = apr_dbd_get_entry(st->driver, row, 0);

    c->profile = NULL;
    /* FLOOR() reads back as "20424" or "20424.0", depending on the database */
    c->day = day ? (apr_int64_t)strtoll(day, NULL, 10) * 86400 : 0;
    c->status = scep_store_dup(p, st, row, 1);
    c->n = scep_store_i64(apr_dbd_get_entry(st->driver, row, 2));
}

apr_status_t scep_store_counts(apr_array_header_t **pby_profile,
                               apr_array_header_t **pby_day, scep_ctx_t *ctx,
                               scep_store_t *st, const char *ca, apr_int64_t profile_since,
                               apr_int64_t day_since)
{
    const char *by_profile[] = { ca, scep_store_num(ctx->pool, profile_since) };
    const char *by_day[] = { ca, scep_store_num(ctx->pool, day_since) };
    apr_status_t rv = APR_SUCCESS;

    if (pby_profile) {
        rv = scep_store_select_rows(pby_profile, ctx, st, "scep_count_by_profile", 2,
                                    by_profile, read_count_by_profile, sizeof(scep_count_t));
    }
    if (rv == APR_SUCCESS && pby_day) {
        rv = scep_store_select_rows(pby_day, ctx, st, "scep_count_by_day", 2, by_day,
                                    read_count_by_day, sizeof(scep_count_t));
    }
    return rv;
}
