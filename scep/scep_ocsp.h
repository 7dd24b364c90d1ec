/**
 * @file scep_ocsp.h
 * @brief An OCSP responder (RFC 6960, the RFC 5019 profile) answering from
 * the enrollment records: good, revoked (time and reason) or unknown for
 * each certificate of this CA, signed by the CA or a delegated responder.
 */
#ifndef SCEP_OCSP_H
#define SCEP_OCSP_H

#include "scep.h"
#include "scep_ca.h"
#include "scep_service.h"
#include "scep_store.h"

#define SCEP_OCSP_MAX_REQUEST 8192   /**< bytes of a request, before anything is parsed */
#define SCEP_OCSP_MAX_SINGLES 16     /**< certificates asked about in one request */

/** A response to keep and serve again (see scep_ocsp_t.cache_get). */
typedef struct scep_ocsp_cached_t {
    const unsigned char *der;
    apr_size_t len;
    apr_int64_t this_update, next_update;
} scep_ocsp_cached_t;

typedef struct scep_ocsp_t {
    const scep_ca_t *ca;
    const scep_cas_t *cas;           /**< every CA of the host (a rollover's previous and
                                          next ones answered too), or NULL: ca alone */
    X509 *signer;                    /**< a delegated responder (OCSPSigning), or NULL: the CA */
    EVP_PKEY *signer_key;
    apr_int64_t validity;            /**< seconds from thisUpdate to nextUpdate */
    scep_store_open_fn *open_store;
    void *store_baton;
    /** A shared cache of responses to one certificate without a nonce,
     *  keyed by what the records say of it (so a revocation makes a new
     *  key at once, on every node). NULL: none. */
    int (*cache_get)(void *baton, const char *key, scep_ocsp_cached_t *out, apr_pool_t *p);
    void (*cache_put)(void *baton, const char *key, const scep_ocsp_cached_t *in,
                      apr_pool_t *p);
    void *cache_baton;
} scep_ocsp_t;

/** What scep_ocsp_respond answered, for the HTTP headers and the log. */
typedef struct scep_ocsp_answer_t {
    int response_status;             /**< OCSP_RESPONSE_STATUS_* */
    int cacheable;                   /**< one certificate, no nonce: HTTP caches may keep it */
    int from_cache;
    apr_int64_t this_update, next_update;
    const char *summary;             /**< e.g. "4F1E...: good", for the log */
} scep_ocsp_answer_t;

/** The DER OCSPResponse to the DER OCSPRequest req (len bytes): always a
 *  response, an error status (malformedRequest, unauthorized, tryLater)
 *  when no statuses can be given. */
void scep_ocsp_respond(const unsigned char **pder, apr_size_t *plen, scep_ocsp_answer_t *ans,
                       scep_ctx_t *ctx, const scep_ocsp_t *o, const unsigned char *req,
                       apr_size_t len);

/** NULL if cert can sign OCSP responses for ca (issued by it, with
 *  id-kp-OCSPSigning), else why not; *pwarning says what a relying party
 *  may dislike (no id-pkix-ocsp-nocheck), or NULL. (That the key is the
 *  certificate's is checked where both are loaded.) */
const char *scep_ocsp_signer_check(const char **pwarning, apr_pool_t *p, const scep_ca_t *ca,
                                   X509 *cert);

#endif
