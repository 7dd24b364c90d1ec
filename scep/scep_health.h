/**
 * @file scep_health.h
 * @brief The health check for load balancers and orchestrators: can the
 * records be read, can the CA and RA keys sign, how long until the CA, the
 * RA and the CRL run out. One small JSON answer, 200 or 503.
 */
#ifndef SCEP_HEALTH_H
#define SCEP_HEALTH_H

#include <apr_thread_mutex.h>
#include "scep.h"
#include "scep_ca.h"
#include "scep_service.h"

#define SCEP_HEALTH_KEY_CHECK_SECONDS 10   /**< a key signs once per this, per child */

/** The last key check of a child, shared by its threads under lock. */
typedef struct scep_health_keys_t {
    apr_thread_mutex_t *lock;
    apr_int64_t checked_at;
    int ok;
    const char *why;                 /**< what failed, in the child's pool */
    apr_pool_t *pool;
} scep_health_keys_t;

typedef struct scep_health_in_t {
    const scep_ca_t *ca;
    scep_store_open_fn *open_store;
    void *store_baton;
    scep_health_keys_t *keys;        /**< the child's cache, or NULL: sign each time */
} scep_health_in_t;

/** *pstatus 200 or 503 and *pjson the answer. */
void scep_health_check(const char **pjson, int *pstatus, scep_ctx_t *ctx,
                       const scep_health_in_t *in);

#endif
