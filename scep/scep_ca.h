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
#include "scep_pkcs11.h"

/** In a profile's URLs (SCEPCRLDistributionPoint, SCEPOCSPResponder,
 *  SCEPCAIssuersURL): replaced by the issuing CA's id (scep_ca_t.id). */
#define SCEP_URL_CA "%{CA}"

/** Seconds between two attempts to open a failing token's keys again. */
#define SCEP_KEY_REOPEN_SECONDS 5

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
    scep_pkcs11_t *pkcs11;  /* for keys named by pkcs11: URIs; NULL: none may be */
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
    /** Keys in a token (NULL: read from a file): opened again in each child
     *  (scep_ca_reopen_keys), since PKCS#11 sessions do not survive fork. */
    const scep_pkcs11_ref_t *key_ref, *ra_key_ref, *enc_key_ref;
    /** This child's pool for keys opened again after a token failure (set in
     *  child_init; NULL: never), used by one thread at a time (reopening). */
    apr_pool_t *key_pool;
    apr_uint32_t reopening;
    apr_uint32_t reopened_at;     /**< seconds: one attempt every few seconds */
    apr_uint32_t *token_alarm;    /**< raised when a token key fails (shared with the
                                       parent, which probes the token and restarts
                                       the children once it answers), or NULL */
    apr_uint32_t probe;           /**< the encryption token's last probe: its second
                                       (31 bits) and whether it failed (the low bit),
                                       one word so that no thread pairs one probe's
                                       second with another's answer */
    const char *fingerprint;     /**< hex SHA-256 of the CA cert: the CA's id in records */
    const char *id;              /**< its first 16 hex digits: the CA's name in URLs */
    const char *subject;
    apr_int64_t not_after;
    /** What every certificate it issues carries alike, built once at load:
     *  basicConstraints (critical, CA:FALSE) and authorityKeyIdentifier
     *  ("keyid,issuer"), and SHA-1 fetched for the subjectKeyIdentifier */
    X509_EXTENSION *basic_constraints, *authority_key_id;
    EVP_MD *key_id_md;
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

/** Open the CA's token keys again, in this process (a child after the
 *  fork). *perr names the URI and says why not. */
apr_status_t scep_ca_reopen_keys(scep_ca_t *ca, apr_pool_t *p, const char **perr);

/** An operation with a token key of ca failed: open its keys again (once
 *  every few seconds, one thread at a time), so that the CA works again
 *  once the token is back. Operations under way keep the keys they took
 *  (the old ones are freed with the child). 1 when new keys were opened. */
int scep_ca_key_trouble(const scep_ca_t *ca);

/** Can key sign (a probe of a key in a token)? */
int scep_ca_key_signs(EVP_PKEY *key);

/** An envelope could not be opened with ca's encryption key: was it the
 *  token's fault (1), not the sender's (0)? Only for a key in a token,
 *  probed at most once a second (a flood of bad envelopes costs no more).
 *  Whether an envelope opens does not tell whether its RSA padding was
 *  right (OpenSSL goes on with a random key), so the probe is no oracle. */
int scep_ca_enc_token_failed(const scep_ca_t *ca);

/** Does ca keep a key in a token? */
int scep_ca_has_token(const scep_ca_t *ca);

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
