/**
 * @file scep_op.h
 * @brief The engine: (operation, parameters, body) -> (HTTP status, type,
 * bytes). It never sees a request_rec.
 */
#ifndef SCEP_OP_H
#define SCEP_OP_H

#include "scep.h"
#include "scep_service.h"
#include "scep_validate.h"
#include "scep_slots.h"

/** What one request brings besides its bytes: how to reach the database
 *  and evaluate the profile's expressions (both need the request). */
typedef struct scep_env_t {
    scep_store_open_fn *open_store;    /**< opens the database only when needed */
    void *store_baton;
    scep_eval_fn *eval;                /**< evaluates the profile's expressions */
    void *eval_baton;
    /** SCEPChallengeAuthProvider: httpd's providers check user and password */
    scep_check_password_fn *check_password;
    void *check_baton;
    /** this child's outbound HTTPS client (NULL: none configured) */
    struct scep_http_t *http;
    /** the child's Intune state for a profile (tokens, service URL) */
    struct scep_intune_t *(*intune_of)(void *baton, const scep_profile_t *prof);
    void *intune_baton;
    /** a call to the profile's validators may start (0: too many wait); each
     *  started call ends with outbound_leave. NULL: no bound. */
    int (*outbound_enter)(void *baton, const scep_profile_t *prof);
    void (*outbound_leave)(void *baton, const scep_profile_t *prof);
    void *outbound_baton;
    /** SCEPOperationSlots: the request's hold on one of the child's slots
     *  (NULL: no bound); given back while it waits for a validator */
    scep_slot_t *slot;
} scep_env_t;

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
    /* a PKIOperation, for the one summary line of the transaction: */
    const char *tid;                   /**< its transactionID, NULL for other operations */
    int msg_type;                      /**< messageType */
    int pki_status;                    /**< the CertRep's pkiStatus, -1 without one */
    int fail_info;                     /**< its failInfo, -1 without one */
    const char *serial;                /**< the certificate issued, or NULL */
    const char *subject;               /**< the subject it asked for, or NULL */
    int renewal;                       /**< it renews a certificate of ours */
    int auth_failed;                   /**< refused for a wrong or unusable challenge */
    int throttled;                     /**< refused by SCEPChallengeThrottle */
} scep_http_out_t;

/** Answer one SCEP HTTP request at the Location svc serves. Always fills *out. */
void scep_op_handle(scep_ctx_t *ctx, const scep_service_t *svc, const scep_env_t *env,
                    const scep_http_in_t *in, scep_http_out_t *out);

#endif
