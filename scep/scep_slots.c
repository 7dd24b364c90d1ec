/* mod_scep core: SCEPOperationSlots, a first-come, first-served bound on
 * the PKIOperations a child works on at once.
 *
 * A slot given back goes to the first waiter directly (it never becomes
 * free while someone waits), and only that waiter is woken: each waiter
 * sleeps on a condition of its own, kept for the next one when it is done.
 */
#include <apr_allocator.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "scep_slots.h"
#include "scep_metrics.h"

typedef struct waiter_t {
    struct waiter_t *next;
    apr_thread_cond_t *cond;
    int ready;                   /* it was handed a slot */
} waiter_t;

struct scep_slots_t {
    apr_thread_mutex_t *mutex;   /* guards the rest, and pool */
    apr_pool_t *pool;            /* the waiters' (used under mutex only) */
    int free;                    /* slots free (none while someone waits) */
    waiter_t *head, *tail;       /* in order of their turn */
    waiter_t *spare;             /* waiters done, their conditions kept */
};

apr_status_t scep_slots_make(scep_slots_t **pslots, apr_pool_t *p, int n)
{
    scep_slots_t *s = apr_pcalloc(p, sizeof(*s));
    apr_allocator_t *allocator;
    apr_status_t rv;

    /* the waiters' pool has an allocator of its own: the child's is shared
     * by other pools, and this one is used only under s->mutex */
    if ((rv = apr_allocator_create(&allocator)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_pool_create_ex(&s->pool, p, NULL, allocator)) != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return rv;
    }
    apr_allocator_owner_set(allocator, s->pool);
    if ((rv = apr_thread_mutex_create(&s->mutex, APR_THREAD_MUTEX_DEFAULT, p))
        != APR_SUCCESS) {
        return rv;
    }
    s->free = n;
    *pslots = s;
    return APR_SUCCESS;
}

int scep_slots_waiting(scep_slots_t *s)
{
    const waiter_t *w;
    int n = 0;

    apr_thread_mutex_lock(s->mutex);
    for (w = s->head; w; w = w->next) {
        n++;
    }
    apr_thread_mutex_unlock(s->mutex);
    return n;
}

/* A waiter with its condition (under the mutex), or NULL. */
static waiter_t *waiter_of(scep_slots_t *s)
{
    waiter_t *w = s->spare;

    if (w) {
        s->spare = w->next;
    }
    else if (!(w = apr_pcalloc(s->pool, sizeof(*w)))
             || apr_thread_cond_create(&w->cond, s->pool) != APR_SUCCESS) {
        return NULL;
    }
    w->next = NULL;
    w->ready = 0;
    return w;
}

void scep_slot_take(scep_slot_t *h, int front)
{
    scep_slots_t *s = h ? h->slots : NULL;
    apr_time_t since;
    waiter_t *w;

    if (!s || h->held) {
        return;
    }
    h->held = 1;
    apr_thread_mutex_lock(s->mutex);
    if (s->free > 0) {
        s->free--;
        apr_thread_mutex_unlock(s->mutex);
        return;
    }
    if (!(w = waiter_of(s))) {
        /* (no memory for a condition: it goes on, over the bound) */
        apr_thread_mutex_unlock(s->mutex);
        h->held = 0;
        return;
    }
    if (front) {
        w->next = s->head;
        s->head = w;
        if (!s->tail) {
            s->tail = w;
        }
    }
    else {
        if (s->tail) {
            s->tail->next = w;
        }
        else {
            s->head = w;
        }
        s->tail = w;
    }
    since = apr_time_now();
    while (!w->ready) {
        apr_thread_cond_wait(w->cond, s->mutex);
    }
    w->next = s->spare;
    s->spare = w;
    apr_thread_mutex_unlock(s->mutex);
    if (h->metrics) {
        scep_metrics_add(h->metrics, SCEP_M_SLOT_WAITS, 1);
        scep_metrics_add(h->metrics, SCEP_M_SLOT_WAIT_US,
                         (apr_uint64_t)(apr_time_now() - since));
    }
}

void scep_slot_give(scep_slot_t *h)
{
    scep_slots_t *s = h ? h->slots : NULL;
    waiter_t *w;

    if (!s || !h->held) {
        return;
    }
    h->held = 0;
    apr_thread_mutex_lock(s->mutex);
    if ((w = s->head) != NULL) {
        /* handed over: the slot stays taken */
        if (!(s->head = w->next)) {
            s->tail = NULL;
        }
        w->ready = 1;
        apr_thread_cond_signal(w->cond);
    }
    else {
        s->free++;
    }
    apr_thread_mutex_unlock(s->mutex);
}
