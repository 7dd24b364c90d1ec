/**
 * @file scep_mobileconfig.h
 * @brief Apple configuration profiles (.mobileconfig) for a Location: a
 * com.apple.security.root payload with the CA, a com.apple.security.scep
 * payload (URL, Name, Subject, Challenge, Keysize, Key Type, Key Usage,
 * CAFingerprint, SubjectAltName, Retries, RetryDelay, KeyIsExtractable,
 * AllowAllAppsAccess) whose key terms come from the Location's profile;
 * optionally CMS-signed.
 */
#ifndef SCEP_MOBILECONFIG_H
#define SCEP_MOBILECONFIG_H

#include "scep.h"
#include "scep_service.h"

typedef struct scep_mobileconfig_in_t {
    const scep_ca_t *ca;
    const scep_profile_t *prof;
    const char *url;                   /**< the Location's SCEP URL */
    const char *challenge;             /**< a fresh one-time challenge */
    const char *subject;               /**< "/CN=a/O=b", or NULL */
    const char *san;                   /**< "type:value" lines, or NULL */
    const char *identifier;            /**< PayloadIdentifier suffix */
    const char *display_name;
    const char *organization;
    X509 *signer_cert;                 /**< NULL: not signed */
    EVP_PKEY *signer_key;
    STACK_OF(X509) *signer_chain;      /**< sent with the signature, or NULL */
} scep_mobileconfig_in_t;

/** Can the profile and the names be expressed (RSA keys, no IP SAN, a
 *  subject that parses)? APR_EINVAL with *perr when not; nothing is built. */
apr_status_t scep_mobileconfig_check(const char **perr, apr_pool_t *p,
                                     const scep_mobileconfig_in_t *in);

/** The profile (XML plist, or its CMS SignedData in DER when signed), from
 *  p. APR_EINVAL with *perr when the Location's profile or the names cannot
 *  be expressed (no RSA, an IP SAN, a subject that does not parse). */
apr_status_t scep_mobileconfig_make(const unsigned char **pout, apr_size_t *plen,
                                    const char **perr, apr_pool_t *p,
                                    const scep_mobileconfig_in_t *in);

#endif
