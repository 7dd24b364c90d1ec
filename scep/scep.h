/**
 * @file scep.h
 * @brief mod_scep core library: shared types and protocol constants.
 *
 * The core knows APR, APR-util and OpenSSL only: it never sees httpd, so it
 * can be unit-tested, fuzzed and driven by command-line tools.
 */
#ifndef SCEP_H
#define SCEP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "scep_log.h"

#define SCEP_VERSION "0.1.0"

/** Request context: where to allocate and where to log. */
typedef struct scep_ctx_t {
    apr_pool_t *pool;
    scep_log_fn *log;
    void *log_baton;
    scep_log_level_t log_level;  /**< messages above this level are not formatted */
    struct scep_metrics_t *metrics;  /**< the shared counters (scep_metrics.h), or NULL */
} scep_ctx_t;

/** RFC 8894 messageType values. */
typedef enum {
    SCEP_MSG_CERTREP = 3,
    SCEP_MSG_RENEWALREQ = 17,
    SCEP_MSG_UPDATEREQ = 18,   /* old drafts only: always refused */
    SCEP_MSG_PKCSREQ = 19,
    SCEP_MSG_CERTPOLL = 20,
    SCEP_MSG_GETCERT = 21,
    SCEP_MSG_GETCRL = 22
} scep_msg_type_t;

typedef enum {
    SCEP_STATUS_SUCCESS = 0,
    SCEP_STATUS_FAILURE = 2,
    SCEP_STATUS_PENDING = 3
} scep_pki_status_t;

/** failInfo: only 0..4 are ever sent (sscep rejects anything else). */
typedef enum {
    SCEP_FAIL_BADALG = 0,
    SCEP_FAIL_BADMESSAGECHECK = 1,
    SCEP_FAIL_BADREQUEST = 2,
    SCEP_FAIL_BADTIME = 3,
    SCEP_FAIL_BADCERTID = 4
} scep_fail_info_t;

/* Own status codes, outside APR's range. */
#define SCEP_EUNREADABLE   (APR_OS_START_USERERR + 1)  /**< nothing to answer: HTTP 400 */
#define SCEP_EFAILURE      (APR_OS_START_USERERR + 2)  /**< answer with a signed FAILURE */
#define SCEP_EDB           (APR_OS_START_USERERR + 3)  /**< database error */
#define SCEP_ECONFLICT     (APR_OS_START_USERERR + 4)  /**< a concurrent writer won */
#define SCEP_ECHALLENGE    (APR_OS_START_USERERR + 5)  /**< the one-time challenge is used up */
#define SCEP_ERENEWED      (APR_OS_START_USERERR + 6)  /**< the certificate was renewed already */
#define SCEP_EDONE         (APR_OS_START_USERERR + 7)  /**< the reply is decided: no further step */
#define SCEP_EHTTP         (APR_OS_START_USERERR + 8)  /**< an outbound call got no answer */
#define SCEP_EKEY          (APR_OS_START_USERERR + 9)  /**< a key in a token failed: HTTP 503 */

#endif
