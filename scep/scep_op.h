/**
 * @file scep_op.h
 * @brief The engine: (operation, parameters, body) -> (HTTP status, type,
 * bytes). It never sees a request_rec.
 */
#ifndef SCEP_OP_H
#define SCEP_OP_H

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
    apr_array_header_t *renewal_from;  /**< const char *: other profiles whose
                                            certificates may renew here */
    scep_limits_t limits;
    apr_hash_t *templates;             /**< Microsoft template name -> profile name */
    apr_hash_t *named;                 /**< profile name -> const scep_profile_t *,
                                            every Location of the server */
} scep_profile_t;

/** SCEPApproval's word: 1 for manual, 0 for auto, -1 for anything else. */
int scep_profile_manual_approval(const char *word);
/** SCEPRenewalSubject's word: 1 for keep, 0 for profile, -1 otherwise. */
int scep_profile_renewal_keeps_names(const char *word);

/** Opens the database only when an operation needs it. */
typedef apr_status_t scep_store_open_fn(void *baton, scep_store_t **pstore);

typedef struct scep_service_t {
    const scep_ca_t *ca;
    const scep_oids_t *oids;
    const scep_profile_t *profile;
    scep_store_open_fn *open_store;
    void *store_baton;
    apr_int64_t crl_validity;          /**< seconds from thisUpdate to nextUpdate */
    scep_eval_fn *eval;                /**< evaluates the profile's expressions */
    void *eval_baton;
} scep_service_t;

typedef struct scep_http_in_t {
    int is_post;
    const char *operation;             /**< NULL if absent */
    const char *message;               /**< GET message=, NULL if absent */
    const unsigned char *body;         /**< POST body */
    apr_size_t body_len;
    const char *client_addr;
} scep_http_in_t;

typedef struct scep_http_out_t {
    int status;                        /**< HTTP status */
    const char *content_type;
    const unsigned char *body;
    apr_size_t len;
} scep_http_out_t;

/** Answer one SCEP HTTP request. Always fills *out. */
void scep_op_handle(scep_ctx_t *ctx, const scep_service_t *svc,
                    const scep_http_in_t *in, scep_http_out_t *out);

#endif
