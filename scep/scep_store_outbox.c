/* mod_scep core: the notification outbox and the worker's lease, through
 * apr_dbd (their SQL is in scep_store.c with the rest). Events are staged on a store and written by the transaction of
 * the record they tell of (scep_store.c calls scep_store_write_staged), so
 * a record never exists without its events, nor an event without its
 * record. */
#include <string.h>
#include <apr_strings.h>

#include "scep_store_dialect.h"
#include "scep_util.h"

#define LAST_ERROR_MAX 512

void scep_store_stage_event(scep_store_t *st, const scep_event_t *ev)
{
    if (!st->staged) {
        st->staged = apr_array_make(st->pool, 2, sizeof(scep_event_t));
    }
    *(scep_event_t *)apr_array_push(st->staged) = *ev;
}

apr_status_t scep_store_write_staged(scep_ctx_t *ctx, scep_store_t *st)
{
    apr_pool_t *p = ctx->pool;
    const char *now = scep_store_num(p, (apr_int64_t)apr_time_sec(apr_time_now()));
    apr_status_t rv = APR_SUCCESS;
    int i;

    for (i = 0; st->staged && i < st->staged->nelts && rv == APR_SUCCESS; i++) {
        const scep_event_t *ev = &APR_ARRAY_IDX(st->staged, i, scep_event_t);
        const char *args[] = {
            ev->ca, ev->sink, ev->profile, ev->event, ev->event_key, ev->payload, now, now
        };
        rv = scep_store_exec(ctx, st, "scep_outbox_insert", NULL, 8, args);
    }
    return rv;
}

static void read_event(void *baton, apr_pool_t *p, scep_store_t *st, apr_dbd_row_t *row)
{
    scep_event_t *ev = apr_array_push(baton);
#define COL(n) apr_dbd_get_entry(st->driver, row, (n))
    ev->id = scep_store_dup(p, st, row, 0);
    ev->ca = scep_store_dup(p, st, row, 1);
    ev->sink = scep_store_dup(p, st, row, 2);
    ev->profile = scep_store_dup(p, st, row, 3);
    ev->event = scep_store_dup(p, st, row, 4);
    ev->event_key = scep_store_dup(p, st, row, 5);
    ev->payload = scep_store_dup(p, st, row, 6);
    ev->created_at = scep_store_i64(COL(7));
    ev->attempts = (int)scep_store_i64(COL(8));
    ev->next_at = scep_store_i64(COL(9));
    ev->delivered_at = scep_store_i64(COL(10));
    ev->last_error = scep_store_dup(p, st, row, 11);
#undef COL
}

static apr_status_t events(apr_array_header_t **prows, scep_ctx_t *ctx, scep_store_t *st,
                           const char *label, const char *first, int limit)
{
    const char *args[] = { first, scep_store_num(ctx->pool, limit) };
    return scep_store_select_rows(prows, ctx, st, label, 2, args, read_event,
                                  sizeof(scep_event_t));
}

apr_status_t scep_store_outbox_pending(apr_array_header_t **prows, scep_ctx_t *ctx,
                                       scep_store_t *st, const char *after, int limit)
{
    return events(prows, ctx, st, "scep_outbox_pending", after ? after : "0", limit);
}

apr_status_t scep_store_outbox_pending_of(apr_array_header_t **prows, scep_ctx_t *ctx,
                                          scep_store_t *st, const char *ca, int limit)
{
    return events(prows, ctx, st, "scep_outbox_pending_of", ca, limit);
}

apr_status_t scep_store_outbox_due(apr_array_header_t **prows, scep_ctx_t *ctx,
                                   scep_store_t *st, const char *ca, apr_int64_t now,
                                   int limit)
{
    const char *args[] = { ca, scep_store_num(ctx->pool, now), scep_store_num(ctx->pool, limit) };
    return scep_store_select_rows(prows, ctx, st, "scep_outbox_due", 3, args, read_event,
                                  sizeof(scep_event_t));
}

apr_status_t scep_store_outbox_delivered(scep_ctx_t *ctx, scep_store_t *st, const char *id)
{
    const char *args[] = {
        scep_store_num(ctx->pool, (apr_int64_t)apr_time_sec(apr_time_now())), id
    };
    return scep_store_exec(ctx, st, "scep_outbox_delivered", NULL, 2, args);
}

apr_status_t scep_store_outbox_failed(scep_ctx_t *ctx, scep_store_t *st, const char *id,
                                      apr_int64_t next_at, const char *why)
{
    const char *args[] = {
        scep_store_num(ctx->pool, next_at), scep_bounded(ctx->pool, why, LAST_ERROR_MAX), id
    };
    return scep_store_exec(ctx, st, "scep_outbox_failed", NULL, 3, args);
}

apr_status_t scep_store_outbox_purge(scep_ctx_t *ctx, scep_store_t *st, apr_int64_t before)
{
    const char *args[] = { scep_store_num(ctx->pool, before) };
    return scep_store_exec(ctx, st, "scep_outbox_purge", NULL, 1, args);
}

apr_status_t scep_store_lease(scep_ctx_t *ctx, scep_store_t *st, const char *name,
                              const char *holder, apr_int64_t expires_at)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    const char *until = scep_store_num(ctx->pool, expires_at);
    const char *take[] = { holder, until, name, holder, scep_store_num(ctx->pool, now) };
    const char *insert[] = { name, holder, until };
    int nrows = 0;
    apr_status_t rv = scep_store_exec(ctx, st, "scep_lease_take", &nrows, 5, take);

    if (rv != APR_SUCCESS || nrows == 1) {
        return rv;
    }
    /* no row yet, or another holder's: the first insert wins the name */
    return scep_store_exec(ctx, st, "scep_lease_insert", NULL, 3, insert) == APR_SUCCESS
           ? APR_SUCCESS : APR_EBUSY;
}

apr_status_t scep_store_lease_release(scep_ctx_t *ctx, scep_store_t *st, const char *name,
                                      const char *holder)
{
    const char *args[] = { name, holder };
    return scep_store_exec(ctx, st, "scep_lease_release", NULL, 2, args);
}
