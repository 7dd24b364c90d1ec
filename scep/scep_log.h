/**
 * @file scep_log.h
 * @brief Logging from the core library without knowing httpd.
 *
 * The glue installs a callback in the scep_ctx_t; levels use the same
 * numbers as httpd's APLOG_* so the glue passes them through unchanged.
 */
#ifndef SCEP_LOG_H
#define SCEP_LOG_H

#include <stdarg.h>
#include <apr_errno.h>

typedef enum {
    SCEP_LOG_EMERG = 0, SCEP_LOG_ALERT, SCEP_LOG_CRIT, SCEP_LOG_ERR,
    SCEP_LOG_WARNING, SCEP_LOG_NOTICE, SCEP_LOG_INFO, SCEP_LOG_DEBUG,
    SCEP_LOG_TRACE1, SCEP_LOG_TRACE2
} scep_log_level_t;

/** Every message at debug or above starts with a unique tag. */
#define SCEPLOGNO(n) "SCEP" #n ": "

struct scep_ctx_t;

/** Receives one formatted log line. */
typedef void scep_log_fn(void *baton, const char *file, int line,
                         scep_log_level_t level, apr_status_t rv,
                         const char *msg);

void scep_log_(const struct scep_ctx_t *ctx, const char *file, int line,
               scep_log_level_t level, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define SCEP_LOG(ctx, level, rv, ...) \
    scep_log_((ctx), __FILE__, __LINE__, (level), (rv), __VA_ARGS__)

#endif
