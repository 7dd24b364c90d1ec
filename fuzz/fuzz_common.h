/* mod_scep fuzzers: shared set-up (APR, OpenSSL providers, the fixed fuzz
 * CA/RA from fuzz/pki/, the SCEP OIDs) and helpers. */
#ifndef SCEP_FUZZ_COMMON_H
#define SCEP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#include "scep.h"
#include "scep_ca.h"
#include "scep_msg.h"
#include "scep_policy.h"

/** What every harness shares; built once per process. */
typedef struct fuzz_env_t {
    apr_pool_t *pool;          /**< lives as long as the process */
    scep_ca_t *ca;             /**< the fuzz CA with its RA (fuzz/pki) */
    scep_oids_t *oids;
} fuzz_env_t;

/** Set everything up once; aborts on failure (a broken harness must not
 *  look like a clean run). */
fuzz_env_t *fuzz_env(void);

/** A fresh pool for one input; destroy it at the end so leaks show. */
apr_pool_t *fuzz_input_pool(void);

/** A NUL-terminated copy of the input in the pool. */
char *fuzz_cstr(apr_pool_t *p, const uint8_t *data, size_t size);

/** A context that formats every log message (to exercise the format
 *  strings) and throws it away. */
void fuzz_ctx(scep_ctx_t *ctx, apr_pool_t *p);

/** Stand-in for ap_expr: "%{fail}" fails, "%{user}" is "alice", anything
 *  else is literal. */
const char *fuzz_eval(void *baton, const void *expr, const char **perr);

/** A rule for a policy, pattern compiled in the pool (NULL pattern = any). */
scep_rule_t fuzz_rule(apr_pool_t *p, int nid, int san_type, scep_source_t src,
                      const char *re, const char *value);

/** A restrictive policy: subject and SAN rules with patterns and values,
 *  honouring requested keyUsage/EKU; excess as given. */
scep_policy_t *fuzz_strict_policy(apr_pool_t *p, scep_excess_t excess);

/** Abort with a message: libFuzzer saves the input as a crash. */
void fuzz_fail(const char *what) __attribute__((noreturn));

#endif
