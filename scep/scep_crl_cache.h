/**
 * @file scep_crl_cache.h
 * @brief The CA's current CRL, kept in the records: above the store and
 * the CRL builder, used by GetCRL, SetHandler scep-crl and revocation.
 */
#ifndef SCEP_CRL_CACHE_H
#define SCEP_CRL_CACHE_H

#include "scep.h"
#include "scep_ca.h"
#include "scep_store.h"

/**
 * The CA's current CRL: the newest stored one while it lists every
 * revocation and is younger than half its validity, else a new one (number
 * + 1), built once per change even with several nodes (the number is unique).
 */
apr_status_t scep_crl_current(unsigned char **pder, apr_size_t *plen,
                              scep_ctx_t *ctx, scep_store_t *st,
                              const scep_ca_t *ca, apr_int64_t validity);

#endif
