/**
 * @file scep_ca.h
 * @brief CA and RA material: loading, start-up checks, and certificate
 * issuance.
 */
#ifndef SCEP_CA_H
#define SCEP_CA_H

#include <openssl/x509.h>
#include "scep.h"
#include "scep_ossl.h"
#include "scep_policy.h"

/** In a profile's URLs (SCEPCRLDistributionPoint, SCEPOCSPResponder,
 *  SCEPCAIssuersURL): replaced by the issuing CA's id (scep_ca_t.id). */
#define SCEP_URL_CA "%{CA}"

/** Which configured file an error is about (the glue names the directive). */
typedef enum {
    SCEP_CA_FILE_CERT, SCEP_CA_FILE_KEY, SCEP_CA_FILE_CHAIN,
    SCEP_CA_FILE_RA_CERT, SCEP_CA_FILE_RA_KEY, SCEP_CA_FILE_ENC_CERT, SCEP_CA_FILE_ENC_KEY
} scep_ca_file_t;

typedef struct scep_ca_files_t {
    const char *cert;
    const char *key;
    const char *chain;      /* may be NULL */
    const char *ra_cert;    /* may be NULL: the CA signs and decrypts */
    const char *ra_key;
    scep_passphrase_fn *passphrase;   /* for encrypted keys; NULL: none may be */
    void *passphrase_baton;
    int retired;            /* a previous CA: it only signs CRLs (no RA checks,
                               and it may have expired) */
    const char *enc_cert;   /* may be NULL: the RA decrypts (an RA that only */
    const char *enc_key;    /*   signs goes with one) */
} scep_ca_files_t;

typedef struct scep_ca_t {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;       /**< intermediates/root above the CA; never NULL */
    X509 *ra_cert;               /**< signs replies (== cert without RA) */
    EVP_PKEY *ra_key;
    X509 *enc_cert;              /**< decrypts requests: ra_cert, unless split_ra */
    EVP_PKEY *enc_key;
    int has_ra;
    int split_ra;                /**< an RA encryption certificate apart */
    const char *fingerprint;     /**< hex SHA-256 of the CA cert: the CA's id in records */
    const char *id;              /**< its first 16 hex digits: the CA's name in URLs */
    const char *subject;
    apr_int64_t not_after;
    /** A library context with no provider but "null": a request parsed
     * there keeps its key undecoded (OpenSSL 3.0 builds a decoder chain for
     * every key it parses, ~0.1 ms; see scep_req_parse_keyless). */
    OSSL_LIB_CTX *no_keys;
} scep_ca_t;

/**
 * Load and check CA/RA material. On failure *perr says why and *pwhich
 * names the file it is about.
 */
apr_status_t scep_ca_load(scep_ca_t **pca, apr_pool_t *p,
                          const scep_ca_files_t *files,
                          const char **perr, scep_ca_file_t *pwhich);

/**
 * Issue a certificate as the plan says (see scep_policy_apply). It is never
 * valid beyond the CA itself: cut at the CA's expiry when the plan allows,
 * otherwise refused (*perr says why, SCEP_EFAILURE).
 */
apr_status_t scep_ca_issue(X509 **pcert, const char **perr, apr_pool_t *p,
                           const scep_ca_t *ca, const scep_cert_plan_t *plan);

/** When the first of the RA certificates expires (signing, encryption). */
apr_int64_t scep_ca_ra_not_after(const scep_ca_t *ca);

/** Did this CA issue the certificate (name and signature)? */
int scep_ca_issued(const scep_ca_t *ca, X509 *cert);

/** Every CA of a virtual host (README "CA rollover"): the one that issues
 *  now (SCEPCACertificateFile), the next one with the time from which it
 *  issues instead, and the previous ones, whose certificates are still
 *  served, revoked, renewed and answered for. */
typedef struct scep_cas_t {
    const scep_ca_t *current;
    const scep_ca_t *next;           /**< NULL: no switch-over configured */
    apr_int64_t switch_at;           /**< seconds since the epoch: next issues from then */
    apr_array_header_t *all;         /**< const scep_ca_t *: current, next, previous ones */
} scep_cas_t;

/** The CA that issues at time now. */
const scep_ca_t *scep_cas_active(const scep_cas_t *cas, apr_int64_t now);

/** The CA of the set with this id (scep_ca_t.id), or NULL. */
const scep_ca_t *scep_cas_by_id(const scep_cas_t *cas, const char *id);

/** The CA of the set with this fingerprint, or NULL. */
const scep_ca_t *scep_cas_by_fingerprint(const scep_cas_t *cas, const char *fingerprint);

/** The CA of the set that issued cert (name and signature), or NULL. */
const scep_ca_t *scep_cas_issuer_of(const scep_cas_t *cas, X509 *cert);

#endif
