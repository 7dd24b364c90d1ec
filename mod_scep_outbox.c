/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: the outbox worker. Every child of a server whose
 * Locations notify runs one thread; the one that holds the database lease
 * of the CA's outbox (one among every process and node sharing the
 * database) delivers the events, oldest first, keeping the order of each
 * request's events (its transaction is their key; a revocation has the key
 * of the transaction that issued the certificate): a failed event holds
 * back the later ones of its key, and is tried again with a growing
 * back-off.
 */

#include "mod_scep_private.h"
#include "apr_thread_proc.h"
#include "apr_atomic.h"
#include "scep/scep_http.h"
#include "scep/scep_notify.h"
#include "scep/scep_intune.h"

#define OUTBOX_IDLE_MS     1000     /* between passes that found nothing to do */
#define OUTBOX_BATCH       100      /* events read per pass */
#define OUTBOX_SENDERS     8        /* deliveries at once (different keys) */
#define OUTBOX_LEASE_SECS  30       /* a lease outlives a holder that died by this
                                       (and by the longest delivery) */
#define OUTBOX_BACKOFF_MIN 2        /* seconds before the first retry, doubling ... */
#define OUTBOX_BACKOFF_MAX 300      /* ... up to five minutes */
#define OUTBOX_KEEP_SECS   (7 * 86400)   /* delivered events kept a week */

typedef struct outbox_worker_t {
    server_rec *s;
    scep_srv_conf_t *conf;
    apr_pool_t *pass;           /* the thread's, on an allocator of its own */
    apr_thread_t *thread;
    volatile apr_uint32_t stop;
    const char *lease;          /* "outbox <CA fingerprint>" */
    const char *holder;         /* "<host> <pid>" */
    apr_int64_t call_secs;      /* the longest one delivery may take */
    apr_int64_t next_purge;
} outbox_worker_t;

static void log_to_server(void *baton, const char *file, int line,
                          scep_log_level_t level, apr_status_t rv, const char *msg)
{
    server_rec *s = baton;
    ap_log_error(file, line, APLOG_MODULE_INDEX, (int)level, rv, s, "%s", msg);
}

static apr_int64_t backoff(int attempts)
{
    apr_int64_t wait = OUTBOX_BACKOFF_MIN;

    while (attempts-- > 0 && wait < OUTBOX_BACKOFF_MAX) {
        wait *= 2;
    }
    return wait < OUTBOX_BACKOFF_MAX ? wait : OUTBOX_BACKOFF_MAX;
}

/* Deliver one event by its sink; APR_SUCCESS when the receiver took it. */
static apr_status_t deliver(const char **perr, scep_ctx_t *ctx, outbox_worker_t *w,
                            const scep_event_t *ev)
{
    const scep_profile_t *prof = apr_hash_get(w->conf->named, ev->profile,
                                              APR_HASH_KEY_STRING);

    if (!w->conf->http) {
        *perr = "this process has no outbound HTTPS client";
        return APR_EGENERAL;
    }
    if (!strcmp(ev->sink, "webhook")) {
        if (!prof || !prof->notify) {
            *perr = apr_psprintf(ctx->pool, "the Location of profile %s has no "
                                 "SCEPNotifyWebhook (any more)", ev->profile);
            return APR_EGENERAL;
        }
        return scep_notify_deliver(perr, ctx, w->conf->http, prof->notify, ev);
    }
    if (!strcmp(ev->sink, "intune")) {
        scep_intune_t *intune = prof ? scep_ask_intune(w->conf, prof) : NULL;
        scep_intune_event_t *iev = NULL;

        if (!intune) {
            *perr = apr_psprintf(ctx->pool, "the Location of profile %s has no Intune "
                                 "client (any more)", ev->profile);
            return APR_EGENERAL;
        }
        if (scep_intune_event_from_json(&iev, perr, ctx->pool, ev->payload,
                                        strlen(ev->payload)) != APR_SUCCESS) {
            return APR_EGENERAL;
        }
        return scep_intune_notify(perr, ctx, w->conf->http, intune, iev);
    }
    *perr = apr_psprintf(ctx->pool, "unknown sink %s", ev->sink);
    return APR_EGENERAL;
}

/* One event's outcome: delivered, or tried again after its back-off (its
 * key's later events wait behind it: scep_store_outbox_due reads only the
 * oldest undelivered event of each key). */
static int handle_event(scep_ctx_t *ctx, outbox_worker_t *w, scep_store_t *st,
                        const scep_event_t *ev, apr_status_t rv, const char *err,
                        apr_int64_t now)
{
    if (rv != APR_SUCCESS) {
        /* said once per event: the retries are visible in the admin view */
        ap_log_error(APLOG_MARK, ev->attempts ? APLOG_DEBUG : APLOG_WARNING, 0, w->s,
                     SCEPLOGNO(00330) "event %s (%s of %s, profile %s) not delivered, "
                     "retrying: %s", ev->id, ev->event, ev->event_key, ev->profile,
                     err ? err : "no answer");
        scep_store_outbox_failed(ctx, st, ev->id, now + backoff(ev->attempts),
                                 err ? err : "no answer");
        scep_metrics_add(w->conf->metrics, SCEP_M_NOTIFY_FAILED, 1);
        return 0;
    }
    if (ev->attempts) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, w->s, SCEPLOGNO(00331)
                     "event %s (%s of %s) delivered after %d failed attempts", ev->id,
                     ev->event, ev->event_key, ev->attempts);
    }
    scep_metrics_add(w->conf->metrics, SCEP_M_NOTIFY_DELIVERED, 1);
    if (scep_store_outbox_delivered(ctx, st, ev->id) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s, SCEPLOGNO(00334)
                     "event %s was delivered but could not be marked so: it will be sent "
                     "again (receivers deduplicate by X-SCEP-Event-Id)", ev->id);
    }
    return 1;
}

static apr_status_t keep_lease(scep_ctx_t *ctx, outbox_worker_t *w, scep_store_t *st,
                               apr_int64_t *puntil);

/* Up to OUTBOX_SENDERS deliveries at once: the events of a batch are the
 * heads of different keys, so their order does not matter; each sender has
 * a pool (and allocator) of its own, the store stays with the worker. */
typedef struct send_t {
    outbox_worker_t *w;
    const scep_event_t *ev;
    apr_pool_t *pool;
    apr_status_t rv;
    const char *err;
} send_t;

static void *APR_THREAD_FUNC send_one(apr_thread_t *thread, void *data)
{
    send_t *d = data;
    scep_ctx_t ctx = { d->pool, log_to_server, d->w->s, (scep_log_level_t)APLOG_NOTICE,
                       d->w->conf->metrics };

    (void)thread;
    d->err = NULL;
    d->rv = deliver(&d->err, &ctx, d->w, d->ev);
    return NULL;     /* a plain return (see outbox_run) */
}

/* Send the group at once; each send_t gets its outcome. */
static void send_group(send_t *group, int n)
{
    apr_thread_t *threads[OUTBOX_SENDERS];
    apr_status_t rv;
    int i;

    for (i = 0; i < n; i++) {
        threads[i] = NULL;
        if (n == 1 || apr_thread_create(&threads[i], NULL, send_one, &group[i], group[i].pool)
                      != APR_SUCCESS) {
            threads[i] = NULL;
            send_one(NULL, &group[i]);          /* no thread: in this one */
        }
    }
    for (i = 0; i < n; i++) {
        if (threads[i]) {
            apr_thread_join(&rv, threads[i]);
        }
    }
}

/* A pool on an allocator of its own, for a sender thread. */
static apr_pool_t *sender_pool(void)
{
    apr_allocator_t *alloc = NULL;
    apr_pool_t *p = NULL;

    if (apr_allocator_create(&alloc) != APR_SUCCESS) {
        return NULL;
    }
    if (apr_pool_create_ex(&p, NULL, NULL, alloc) != APR_SUCCESS) {
        apr_allocator_destroy(alloc);
        return NULL;
    }
    apr_allocator_owner_set(alloc, p);
    return p;
}

/* The batch, a group of senders at a time: sent together, then recorded
 * here, in order; a lost lease ends the pass. */
static int deliver_batch(scep_ctx_t *ctx, outbox_worker_t *w, scep_store_t *st,
                         const apr_array_header_t *events, apr_int64_t *puntil)
{
    send_t group[OUTBOX_SENDERS];
    int i = 0, n, k, delivered = 0;

    while (i < events->nelts && !apr_atomic_read32(&w->stop)
           && keep_lease(ctx, w, st, puntil) == APR_SUCCESS) {
        for (n = 0; i < events->nelts && n < OUTBOX_SENDERS; i++) {
            group[n].w = w;
            group[n].ev = &APR_ARRAY_IDX(events, i, scep_event_t);
            if (!(group[n].pool = sender_pool())) {
                break;
            }
            n++;
        }
        send_group(group, n);
        for (k = 0; k < n; k++) {
            /* a retry waits from the failure, not from the pass's start */
            delivered += handle_event(ctx, w, st, group[k].ev, group[k].rv, group[k].err,
                                      (apr_int64_t)apr_time_sec(apr_time_now()));
            apr_pool_destroy(group[k].pool);
        }
    }
    return delivered;
}

/* Hold the lease, before each delivery, for longer than the delivery may
 * take: another worker takes it only once this one cannot be sending any
 * more, however long its pass. APR_SUCCESS while this worker holds it. */
static apr_status_t keep_lease(scep_ctx_t *ctx, outbox_worker_t *w, scep_store_t *st,
                               apr_int64_t *puntil)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_int64_t until = now + OUTBOX_LEASE_SECS + w->call_secs;
    apr_status_t rv;

    if (*puntil - now > w->call_secs + OUTBOX_LEASE_SECS / 2) {
        return APR_SUCCESS;
    }
    if ((rv = scep_store_lease(ctx, st, w->lease, w->holder, until)) == APR_SUCCESS) {
        *puntil = until;
    }
    return rv;
}

/* The worker's context: every field set (an unset metrics pointer was
 * stack garbage), logging to the server. */
static void worker_ctx(scep_ctx_t *ctx, outbox_worker_t *w, apr_pool_t *p,
                       struct scep_metrics_t *metrics)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->pool = p;
    ctx->log = log_to_server;
    ctx->log_baton = w->s;
    ctx->log_level = (scep_log_level_t)w->s->log.level;
    ctx->metrics = metrics;
}

/* One pass: if this child holds the lease, a batch of events. Returns how
 * many were delivered (the worker goes on at once after a full batch). */
static int outbox_pass(outbox_worker_t *w, apr_pool_t *p)
{
    apr_int64_t now = (apr_int64_t)apr_time_sec(apr_time_now()), until = 0;
    apr_array_header_t *events = NULL;
    scep_store_t *st;
    ap_dbd_t *dbd;
    scep_ctx_t ctx;
    int delivered = 0;

    worker_ctx(&ctx, w, p, w->conf->metrics);
    if (scep_dbd_open_server(&st, &dbd, p, w->s) != APR_SUCCESS) {
        return 0;
    }
    if (keep_lease(&ctx, w, st, &until) == APR_SUCCESS) {
        /* each CA's events: after a rollover's switch-over the next CA's too */
        const apr_array_header_t *all = w->conf->cas ? w->conf->cas->all : NULL;
        int i, n = all ? all->nelts : 1;
        for (i = 0; i < n; i++) {
            const scep_ca_t *ca = all ? APR_ARRAY_IDX(all, i, const scep_ca_t *) : w->conf->ca;
            if (scep_store_outbox_due(&events, &ctx, st, ca->fingerprint, now, OUTBOX_BATCH)
                == APR_SUCCESS) {
                delivered += deliver_batch(&ctx, w, st, events, &until);
            }
        }
        if (now >= w->next_purge) {
            scep_store_outbox_purge(&ctx, st, now - OUTBOX_KEEP_SECS);
            w->next_purge = now + 3600;
        }
    }
    scep_dbd_close_server(w->s, dbd);
    /* a key's next event becomes its head once this one is delivered: go on
     * at once while there is progress */
    return delivered;
}

static void *APR_THREAD_FUNC outbox_run(apr_thread_t *thread, void *data)
{
    outbox_worker_t *w = data;
    apr_pool_t *p = w->pass;
    int waited;

    while (!apr_atomic_read32(&w->stop)) {
        int busy = outbox_pass(w, p);
        apr_pool_clear(p);
        /* short naps, so that a child that exits is not kept waiting */
        for (waited = 0; !busy && waited < OUTBOX_IDLE_MS && !apr_atomic_read32(&w->stop);
             waited += 100) {
            apr_sleep(apr_time_from_msec(100));
        }
    }
    /* a plain return: ASan takes apr_thread_exit's longjmp-free exit for a
     * stack underflow (gcc 12) */
    (void)thread;
    return NULL;
}

static apr_status_t outbox_stop(void *data)
{
    outbox_worker_t *w = data;
    apr_status_t rv;
    scep_store_t *st;
    ap_dbd_t *dbd;
    scep_ctx_t ctx;

    apr_atomic_set32(&w->stop, 1);
    if (w->thread) {
        apr_thread_join(&rv, w->thread);
    }
    /* a clean stop gives the lease up: the next process need not wait it out
     * (nothing counted: the child is going) */
    worker_ctx(&ctx, w, w->pass, NULL);
    if (scep_dbd_open_server(&st, &dbd, w->pass, w->s) == APR_SUCCESS) {
        scep_store_lease_release(&ctx, st, w->lease, w->holder);
        scep_dbd_close_server(w->s, dbd);
    }
    return APR_SUCCESS;
}

/* Seconds the longest delivery of the server's Locations may take: the
 * notification webhook's timeout, or Intune's for each of the calls one
 * notification may need (tokens, discovery, the call, again after a 401). */
static apr_int64_t longest_call(const scep_srv_conf_t *c)
{
    apr_hash_index_t *hi;
    apr_interval_time_t longest = 0;

    for (hi = c->named ? apr_hash_first(NULL, c->named) : NULL; hi; hi = apr_hash_next(hi)) {
        const scep_profile_t *prof = apr_hash_this_val(hi);
        if (prof->notify && prof->notify->http.timeout > longest) {
            longest = prof->notify->http.timeout;
        }
        if (prof->intune && 6 * prof->intune->http.timeout > longest) {
            longest = 6 * prof->intune->http.timeout;
        }
    }
    return (apr_int64_t)apr_time_sec(longest) + 1;
}


void scep_outbox_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *started = apr_hash_make(pchild);
    char host[256];
    server_rec *sp;

    if (apr_gethostname(host, sizeof(host), pchild) != APR_SUCCESS) {
        apr_cpystrn(host, "localhost", sizeof(host));
    }
    for (sp = s; sp; sp = sp->next) {
        scep_srv_conf_t *c = ap_get_module_config(sp->module_config, &scep_module);
        outbox_worker_t *w;
        apr_allocator_t *alloc = NULL;
        apr_status_t rv;

        /* one worker per CA in a child: virtual hosts of one CA share it */
        if (!c->ca || !scep_ask_configured(c, SCEP_TELLS)
            || apr_hash_get(started, c->ca->fingerprint, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(started, c->ca->fingerprint, APR_HASH_KEY_STRING, "");
        w = apr_pcalloc(pchild, sizeof(*w));
        w->s = sp;
        w->conf = c;
        if ((rv = apr_allocator_create(&alloc)) != APR_SUCCESS
            || (rv = apr_pool_create_ex(&w->pass, pchild, NULL, alloc)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, sp, SCEPLOGNO(00333)
                         "cannot make the outbox worker's pool");
            continue;
        }
        apr_allocator_owner_set(alloc, w->pass);
        w->lease = apr_pstrcat(pchild, "outbox ", c->ca->fingerprint, NULL);
        w->holder = apr_psprintf(pchild, "%s %" APR_PID_T_FMT, host, getpid());
        w->call_secs = longest_call(c);
        rv = apr_thread_create(&w->thread, NULL, outbox_run, w, pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, sp, SCEPLOGNO(00332)
                         "cannot start the outbox worker: notifications wait for "
                         "another process");
            continue;
        }
        /* before the child's subpools (the thread's, mod_dbd's) go away */
        apr_pool_pre_cleanup_register(pchild, w, outbox_stop);
    }
}
