/**
 * @file scep_crl.h
 * @brief Certificate revocation lists: building and signing a v2 CRL for
 * the CA (RFC 5280 §5), and reading back what decides a rebuild.
 */
#ifndef SCEP_CRL_H
#define SCEP_CRL_H

#include <openssl/evp.h>
#include "scep.h"
#include "scep_ca.h"
#include "scep_records.h"


/**
 * RFC 5280 CRLReason name to code: unspecified (0), keyCompromise (1),
 * cACompromise (2), affiliationChanged (3), superseded (4),
 * cessationOfOperation (5), certificateHold (6), removeFromCRL (8),
 * privilegeWithdrawn (9), aACompromise (10). Case is ignored.
 * @return the code, or -1 if the name is unknown or NULL.
 */
int scep_crl_reason_code(const char *name);

/**
 * RFC 5280 CRLReason code to its name (as listed at scep_crl_reason_code).
 * @return the name, or NULL for -1, 7 and anything out of range.
 */
const char *scep_crl_reason_name(int code);

/**
 * Build and sign a v2 CRL for the CA.
 *
 * - issuer = the CA's subject; thisUpdate = now; nextUpdate = now +
 *   next_update_secs (must be > 0);
 * - cRLNumber = number (must be >= 0);
 * - authorityKeyIdentifier: keyid from the CA's subjectKeyIdentifier, or
 *   the CA's issuer and serial if the CA has none;
 * - one entry per revoked certificate, sorted by serial: serial,
 *   revocationDate and, for reason >= 1, a reasonCode entry extension
 *   (0 'unspecified' is left out, as RFC 5280 §5.3.1 asks);
 * - signed with ca->key and md (EVP_sha256() if NULL).
 *
 * @param pder    on success: the DER, allocated in p
 * @param plen    on success: its length
 * @param perr    on failure: why, with the OpenSSL errors if any
 * @param p       pool for the result and messages
 * @param ca      the loaded CA (scep_ca_load)
 * @param revoked array of scep_revoked_t (by value); NULL or empty gives a
 *                valid CRL without entries
 * @param number  the cRLNumber
 * @param next_update_secs seconds from thisUpdate to nextUpdate
 * @param md      signature digest, or NULL for SHA-256
 * @return APR_SUCCESS; APR_EINVAL for bad arguments (a serial that is not
 *         hex, a reason out of range, a negative number or time; *perr
 *         names the entry); APR_EGENERAL if OpenSSL fails.
 */
apr_status_t scep_crl_build(unsigned char **pder, apr_size_t *plen,
                            const char **perr, apr_pool_t *p,
                            const scep_ca_t *ca,
                            const apr_array_header_t *revoked,
                            apr_int64_t number, apr_int64_t next_update_secs,
                            const EVP_MD *md);

/**
 * Read back a DER CRL we built: its cRLNumber, thisUpdate and nextUpdate
 * (seconds since the epoch), to decide whether to rebuild it. The
 * signature is not checked. Any out-param may be NULL.
 * @return APR_SUCCESS; APR_EINVAL if the DER does not parse or lacks a
 *         cRLNumber (or it is negative or above 63 bits) or a nextUpdate.
 */
apr_status_t scep_crl_info(apr_int64_t *pnumber, apr_int64_t *pthis_update,
                           apr_int64_t *pnext_update,
                           const unsigned char *der, apr_size_t len);

#endif
