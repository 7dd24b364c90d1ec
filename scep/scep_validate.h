/**
 * @file scep_validate.h
 * @brief Asking someone else whether a request may be issued (a webhook,
 * Microsoft Intune): what they are told, and what they may answer. The
 * engine builds the facts once, after the profile's rules, and before it
 * issues or holds.
 */
#ifndef SCEP_VALIDATE_H
#define SCEP_VALIDATE_H

#include <openssl/x509.h>
#include "scep.h"
#include "scep_policy.h"

/** What a validator is told about one request. Strings are NUL-terminated
 *  and from the request's pool; an absent field is NULL. */
typedef struct scep_validation_t {
    const char *transaction_id;        /**< as the device sent it (printable) */
    const char *location;              /**< the profile's name */
    const char *ca;                    /**< the CA's fingerprint (hex) */
    int renewal;                       /**< 1: "renewal", 0: "new" */
    const char *challenge;             /**< the challengePassword as sent, or NULL */
    apr_size_t challenge_len;
    const unsigned char *csr_der;      /**< the request as sent */
    apr_size_t csr_len;
    const char *csr_pem;
    const char *subject;               /**< requested subject, RFC 2253 */
    const apr_array_header_t *sans;    /**< const char *: "DNS:a.example", "IP:10.0.0.1",
                                            "email:..", "URI:..", "UPN:.." */
    const char *key_type;              /**< "RSA", "EC", "Ed25519", ... */
    int key_bits;
    const char *client_addr;
    const char *signer_pem;            /**< renewal: the certificate it is signed with */
} scep_validation_t;

typedef enum {
    SCEP_VERDICT_ALLOW = 0,
    SCEP_VERDICT_DENY = 1,             /**< the validator said no */
    SCEP_VERDICT_UNAVAILABLE = 2       /**< no usable answer: timeout, TLS, non-2xx,
                                            malformed */
} scep_verdict_kind_t;

typedef struct scep_verdict_t {
    scep_verdict_kind_t kind;
    const char *reason;                /**< for the log and the record, never the device */
    const char *subject;               /**< ALLOW: names the validator fixes (RFC 2253),
                                            or NULL */
    const apr_array_header_t *sans;    /**< ALLOW: const char * as in scep_validation_t,
                                            or NULL */
} scep_verdict_t;

/** What the engine knows of a request when it asks (borrowed). */
typedef struct scep_validation_in_t {
    const char *tid;
    const char *location;
    const char *ca;
    X509_REQ *csr;
    EVP_PKEY *key;                     /**< the request's key, proven by its signature */
    const char *challenge;             /**< NULL if the request has none */
    apr_size_t challenge_len;
    X509 *renewal_of;                  /**< the certificate a renewal is signed with */
    const char *client_addr;
} scep_validation_in_t;

/** The facts a validator is told, from p. */
scep_validation_t *scep_validation_make(apr_pool_t *p, const scep_validation_in_t *in);

/** The names an ALLOW fixes, as names a profile's rules read like a
 *  renewal's kept names; *pnames NULL when it fixes none. APR_EINVAL with
 *  *perr when they cannot be read (subject "/CN=a/O=b", SANs "DNS:x"). */
apr_status_t scep_validation_names(scep_names_t **pnames, const char **perr, apr_pool_t *p,
                                   const scep_verdict_t *verdict);

/** Asks httpd's authentication providers (by name, in order) whether
 *  password is user's: ALLOW, DENY, or UNAVAILABLE when a provider failed. */
typedef scep_verdict_kind_t scep_check_password_fn(void *baton,
                                                   const apr_array_header_t *providers,
                                                   const char *user, const char *password);

#endif
