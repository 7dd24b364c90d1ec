/**
 * @file scep_service.h
 * @brief What a Location serves, built once at start-up and read-only
 * after: its profile (who may enroll, and how), its CA, and the answers
 * that never change until the next restart (GetCACaps, GetCACert).
 */
#ifndef SCEP_SERVICE_H
#define SCEP_SERVICE_H

#include "scep.h"
#include "scep_ca.h"
#include "scep_msg.h"
#include "scep_store.h"
#include "scep_policy.h"

/** Bounds on what a PKCS#10 request may carry, checked before anything is
 *  built from it (SCEPRequestLimit). */
typedef struct scep_limits_t {
    int attributes;                    /**< attribute values, all attributes together */
    int extensions;                    /**< requested extensions */
    int subject_rdns;                  /**< subject attributes */
    int subject_length;                /**< bytes of the subject's DER */
    int sans;                          /**< subjectAltNames, all extensions together */
} scep_limits_t;

/** One enrollment point (a Location): who may enroll, and how. */
typedef struct scep_profile_t {
    const char *name;                  /**< recorded with each transaction */
    const char *path;                  /**< its Location's path (its SCEP URL) */
    const unsigned char *challenge;    /**< static secret; NULL = none configured */
    apr_size_t challenge_len;
    int allow_legacy;                  /**< single DES and MD5 */
    const scep_policy_t *policy;       /**< what certificates contain */
    int one_time;                      /**< one-time challenges for this profile */
    int throttle_count;                /**< failed challenges per address ... */
    apr_int64_t throttle_window;       /**< ... in this many seconds; 0 = off */
    int manual_approval;               /**< PENDING until an administrator decides */
    int renewal;                       /**< renewal by a certificate we issued */
    apr_int64_t renewal_window;        /**< seconds before expiry; 0 = any time */
    int renewal_challenge;             /**< renewals need the challenge too */
    int renewal_keep_subject;          /**< renewed certificate keeps subject and SANs */
    int renewal_supersede;             /**< revoke the renewed certificate (superseded) */
    int cacert_no_chain;               /**< GetCACert leaves out the chain above the CA */
    int certrep_chain;                 /**< the CertRep carries the CA and its chain */
    apr_array_header_t *renewal_from;  /**< const char *: other profiles whose
                                            certificates may renew here */
    scep_limits_t limits;
    apr_hash_t *templates;             /**< Microsoft template name -> profile name */
    apr_hash_t *named;                 /**< profile name -> const scep_profile_t *,
                                            every Location of the server */
    /* who else is asked, and told (all NULL where not configured) */
    const apr_array_header_t *authn_providers;  /**< const char *: httpd authn
                                                     providers that check the
                                                     challenge */
    const struct scep_webhook_t *webhook;       /**< the validation webhook */
    const struct scep_intune_conf_t *intune;    /**< Microsoft Intune validation */
    int validation_pending;            /**< a validator without an answer: PENDING
                                            (an administrator decides), not FAILURE */
    const struct scep_notify_t *notify;         /**< where events go */
} scep_profile_t;

/** SCEPApproval's word: 1 for manual, 0 for auto, -1 for anything else. */
int scep_profile_manual_approval(const char *word);
/** SCEPRenewalSubject's word: 1 for keep, 0 for profile, -1 otherwise. */
int scep_profile_renewal_keeps_names(const char *word);

/** Opens the database only when an operation needs it. */
typedef apr_status_t scep_store_open_fn(void *baton, scep_store_t **pstore);

/** GetCACert's answer for a CA: the CA alone, or RA first (clients pick it
 *  by key usage), then the CA, then the chain above it. */
typedef struct scep_cacert_t {
    const char *content_type;
    const unsigned char *der;
    apr_size_t len;
} scep_cacert_t;

typedef struct scep_service_t {
    const scep_ca_t *ca;               /**< the CA that issues here */
    const scep_cas_t *cas;             /**< every CA of the host (renewals, GetCert,
                                            GetCRL, polls), or NULL: ca alone */
    const struct scep_service_t *after;  /**< the service from switch_at on (the next
                                            CA issues), or NULL */
    apr_int64_t switch_at;
    const scep_oids_t *oids;
    const scep_profile_t *profile;
    apr_int64_t crl_validity;          /**< seconds from thisUpdate to nextUpdate */
    const char *caps;                  /**< GetCACaps: what this Location can do */
    const scep_cacert_t *cacert;       /**< GetCACert, shared by the CA's Locations */
    const scep_cacert_t *nextcacert;   /**< GetNextCACert, or NULL: none configured */
} scep_service_t;

/** GetCACert's answer for ca, from p. On failure *perr says why. */
apr_status_t scep_service_cacert(const scep_cacert_t **pcacert, const char **perr,
                                 apr_pool_t *p, const scep_ca_t *ca);

/** The same without the chain above the CA (SCEPGetCACertChain off). */
apr_status_t scep_service_cacert_nochain(const scep_cacert_t **pcacert, const char **perr,
                                         apr_pool_t *p, const scep_ca_t *ca);

/** The service of one Location, from p: its profile at its CA, with the
 *  CA's GetCACert answer (scep_service_cacert). Nothing in it changes
 *  after; requests share it. */
/** GetNextCACert's answer (RFC 8894 section 4.7.1): the next CA (and its
 *  RA, if any) as a degenerate certificates-only SignedData, inside a
 *  SignedData signed by the current RA (the CA without one), so a client
 *  trusts it by what it trusts now. *perr says why not: next_ca is not a CA
 *  (basicConstraints CA:TRUE, keyCertSign), or next_ra is not issued by it. */
apr_status_t scep_service_nextcacert(const scep_cacert_t **pnext, const char **perr,
                                     apr_pool_t *p, const scep_ca_t *ca, X509 *next_ca,
                                     X509 *next_ra);

/** The host's CAs at this service; with a next CA and its GetCACert answer
 *  (next_cacert), the service it becomes at the switch-over (svc->after). */
void scep_service_set_cas(scep_service_t *svc, apr_pool_t *p, const scep_cas_t *cas,
                          const scep_cacert_t *next_cacert);

/** The service as it is at time now: svc, or svc->after once the switch-over
 *  time has come. */
const scep_service_t *scep_service_at(const scep_service_t *svc, apr_int64_t now);

/** Offer GetNextCACert at this service (and say so in GetCACaps). */
void scep_service_set_next(scep_service_t *svc, apr_pool_t *p, const scep_cacert_t *next);

scep_service_t *scep_service_make(apr_pool_t *p, const scep_ca_t *ca,
                                  const scep_oids_t *oids, const scep_profile_t *profile,
                                  apr_int64_t crl_validity, const scep_cacert_t *cacert);

#endif
