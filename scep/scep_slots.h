/**
 * @file scep_slots.h
 * @brief SCEPOperationSlots: how many PKIOperations one child works on at
 * once. The others wait for a slot in the order they came, so that at
 * saturation a request's time is its turn plus its own work, not its share
 * of every request's CPU under the scheduler (bench/RESULTS.md, thirteenth
 * pass).
 */
#ifndef SCEP_SLOTS_H
#define SCEP_SLOTS_H

#include "scep.h"

typedef struct scep_slots_t scep_slots_t;

/** n slots (n >= 1), for the threads of one process; in p. */
apr_status_t scep_slots_make(scep_slots_t **pslots, apr_pool_t *p, int n);

/** How many wait for a slot now. */
int scep_slots_waiting(scep_slots_t *slots);

/** One request's hold on a slot (in its engine environment). */
typedef struct scep_slot_t {
    scep_slots_t *slots;             /**< NULL: no bound */
    int held;
    struct scep_metrics_t *metrics;  /**< waits are counted here, or NULL */
} scep_slot_t;

/** Take a slot, waiting for it in order of arrival; front: ahead of every
 *  waiter, for a request that gave its slot back while it waited for
 *  something else (a validator). Nothing without slots or when held. */
void scep_slot_take(scep_slot_t *h, int front);
/** Give the slot back to the first waiter (nothing when none is held). */
void scep_slot_give(scep_slot_t *h);

#endif
