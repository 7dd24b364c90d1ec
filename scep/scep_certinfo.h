/**
 * @file scep_certinfo.h
 * @brief A certificate decoded for people: what the admin detail view and
 * API show (names, key, extensions, fingerprints, PEM).
 */
#ifndef SCEP_CERTINFO_H
#define SCEP_CERTINFO_H

#include "scep.h"

typedef struct scep_extension_t {
    const char *name;            /**< short name ("keyUsage"), or the OID */
    const char *title;           /**< long name ("X509v3 Key Usage"), or the OID */
    int critical;
    const char *value;           /**< as openssl x509 -text prints it (bounded) */
} scep_extension_t;

typedef struct scep_certinfo_t {
    const char *subject;         /**< RFC 2253 */
    const char *issuer;
    const char *serial;          /**< upper-case hex */
    apr_int64_t not_before, not_after;
    const char *key;             /**< e.g. "RSA 2048 bits", "EC 256 bits (prime256v1)" */
    const char *signature;       /**< the signature algorithm */
    const char *sha1, *sha256;   /**< fingerprints of the DER, upper-case hex with colons */
    apr_array_header_t *sans;    /**< const char *: "DNS:...", "email:...", "IP:..." */
    apr_array_header_t *extensions;   /**< scep_extension_t */
    const char *pem;
} scep_certinfo_t;

/** Decode a certificate's DER; APR_EINVAL if it is not one. */
apr_status_t scep_certinfo_make(scep_certinfo_t **pinfo, apr_pool_t *p,
                                const unsigned char *der, apr_size_t len);

#endif
