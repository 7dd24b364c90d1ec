/**
 * @file scep_intune.h
 * @brief Microsoft Intune as the judge of a request's challenge: the
 * contract of Microsoft's "Intune SCEP validation" library
 * (microsoft/Intune-Resource-Access, src/CsrValidation; docs/intune.md
 * cites it field by field). Three services: an Entra ID token
 * (client credentials), the Intune service principal's endpoint list on
 * Microsoft Graph (where ScepRequestValidationFEService lives), then
 * ScepActions/validateRequest, successNotification and failureNotification.
 *
 * Client-certificate (JWT assertion) authentication to Entra ID is not
 * implemented: a client secret only.
 */
#ifndef SCEP_INTUNE_H
#define SCEP_INTUNE_H

#include <apr_time.h>
#include "scep.h"
#include "scep_http.h"
#include "scep_validate.h"

/** Intune answered a notification, but not with "Success" (the reason
 *  says what it answered). Outside scep.h's range on purpose. */
#define SCEP_EINTUNE_REFUSED (APR_OS_START_USERERR + 60)

/** The contract's constants (overridable for national clouds and tests). */
#define SCEP_INTUNE_TOKEN_URL_FMT  "https://login.microsoftonline.com/%s/oauth2/v2.0/token"
#define SCEP_INTUNE_APP_ID         "0000000a-0000-0000-c000-000000000000"
#define SCEP_INTUNE_DISCOVERY_URL  "https://graph.microsoft.com/v1.0/servicePrincipals/appId=" \
                                   SCEP_INTUNE_APP_ID "/endpoints"
/* The Intune resource keeps its trailing slash: Entra ID takes what comes
 * before the last '/' as the audience, so the library asks for "//.default". */
#define SCEP_INTUNE_SCOPE          "https://api.manage.microsoft.com//.default"
#define SCEP_INTUNE_GRAPH_SCOPE    "https://graph.microsoft.com/.default"
#define SCEP_INTUNE_SERVICE_NAME   "ScepRequestValidationFEService"
#define SCEP_INTUNE_API_VERSION    "2018-02-20"

/** What one Intune connection is configured with; built at start-up, read
 *  only after. NULL or 0 fields take the defaults above. */
typedef struct scep_intune_conf_t {
    const char *tenant;                /**< "contoso.onmicrosoft.com" or its GUID */
    const char *client_id;             /**< the app registration's Application (client) ID */
    const unsigned char *client_secret;/**< its secret's value (read from a file by the
                                            glue; trailing CR/LF are ignored) */
    apr_size_t client_secret_len;
    const char *caller_info;           /**< callerInfo and UserAgent: "product/version" */
    const char *token_url;             /**< NULL: SCEP_INTUNE_TOKEN_URL_FMT with tenant */
    const char *discovery_url;         /**< NULL: SCEP_INTUNE_DISCOVERY_URL */
    const char *service_url;           /**< the ScepRequestValidationFEService base URL;
                                            set, it skips discovery (and the Graph token) */
    const char *scope;                 /**< NULL: SCEP_INTUNE_SCOPE */
    const char *graph_scope;           /**< NULL: SCEP_INTUNE_GRAPH_SCOPE */
    const char *api_version;           /**< NULL: SCEP_INTUNE_API_VERSION */
    apr_interval_time_t token_margin;  /**< renew a token this long before it expires;
                                            0: 5 minutes */
    apr_interval_time_t discovery_ttl; /**< ask Graph again after this; 0: 1 hour */
    scep_http_conf_t http;             /**< TLS, proxy and timeouts of every call */
} scep_intune_conf_t;

/** NULL when conf can work, else why not (for the glue's start-up check):
 *  required fields, https:// URLs, a tenant that fits in a URL. */
const char *scep_intune_conf_check(apr_pool_t *p, const scep_intune_conf_t *conf);

/** One child's Intune client: the access tokens until they expire (less the
 *  margin) and the discovered service URL, shared by its threads. */
typedef struct scep_intune_t scep_intune_t;

/** A client living as long as p (conf is copied; the secret is wiped when p
 *  goes). NULL when conf does not pass scep_intune_conf_check or no mutex
 *  could be made. */
scep_intune_t *scep_intune_make(apr_pool_t *p, const scep_intune_conf_t *conf);

/**
 * Ask Intune whether the request (v->csr_der, with its challengePassword
 * inside, and v->transaction_id) may be issued: ALLOW only for the code
 * "Success"; DENY, with Intune's code and errorDescription as the reason, for
 * any other code; UNAVAILABLE when no usable answer came (token, discovery,
 * transport, a non-2xx status, a malformed body), with a reason an admin can
 * act on. A rejected token (HTTP 401) is renewed and the call sent again,
 * once. Strings of *out are from ctx->pool.
 * @return APR_SUCCESS whenever *out is set; APR_EINVAL when v lacks the
 *         transaction id or the request.
 */
apr_status_t scep_intune_validate(scep_verdict_t *out, scep_ctx_t *ctx, scep_http_t *http,
                                  scep_intune_t *in, const scep_validation_t *v);

typedef enum {
    SCEP_INTUNE_EVENT_SUCCESS = 1,     /**< a certificate was issued */
    SCEP_INTUNE_EVENT_FAILURE = 2      /**< the request failed after validation */
} scep_intune_event_kind_t;

/** A notification for Intune, kept in an outbox until delivered: every field
 *  survives scep_intune_event_to_json and _from_json unchanged. */
typedef struct scep_intune_event_t {
    scep_intune_event_kind_t kind;
    const char *transaction_id;        /**< the SCEP transactionID */
    const unsigned char *csr_der;      /**< the PKCS#10 request as the device sent it */
    apr_size_t csr_len;
    /* SCEP_INTUNE_EVENT_SUCCESS */
    const char *thumbprint;            /**< SHA-1 of the certificate's DER, hex */
    const char *serial;                /**< the certificate's serial number, hex */
    const char *expires_utc;           /**< notAfter, "YYYY-MM-DDThh:mm:ss.000Z" */
    const char *issuing_ca;            /**< the issuer's name */
    const char *ca_configuration;      /**< optional: NULL */
    const char *certificate_authority; /**< optional: NULL */
    /* SCEP_INTUNE_EVENT_FAILURE */
    apr_int64_t hresult;               /**< a 32-bit HRESULT (MS-ERREF) as a number */
    const char *error_description;     /**< at most 255 characters are sent */
} scep_intune_event_t;

/** The common HRESULT E_FAIL ("unspecified failure"), as an unsigned 32-bit
 *  value. */
#define SCEP_INTUNE_E_FAIL ((apr_int64_t)0x80004005)

/** A success event filled from the certificate issued (thumbprint, serial,
 *  expiry and issuer computed here); the request is not copied. */
apr_status_t scep_intune_event_issued(scep_intune_event_t **pev, apr_pool_t *p,
                                      const char *transaction_id,
                                      const unsigned char *csr_der, apr_size_t csr_len,
                                      const unsigned char *cert_der, apr_size_t cert_len);

/** The event as one JSON object (from p); APR_EINVAL if it lacks a field
 *  its kind requires. */
apr_status_t scep_intune_event_to_json(const char **pjson, apr_pool_t *p,
                                       const scep_intune_event_t *ev);

/** The event stored by _to_json; APR_EINVAL (and *perr, when not NULL) for
 *  anything else: not JSON, an unknown kind, a field missing or mistyped. */
apr_status_t scep_intune_event_from_json(scep_intune_event_t **pev, const char **perr,
                                         apr_pool_t *p, const char *json, apr_size_t len);

/**
 * Tell Intune a certificate was issued (ScepActions/successNotification).
 * @return APR_SUCCESS only when Intune acknowledged it ("Success");
 *         SCEP_EINTUNE_REFUSED when it answered another code; SCEP_EHTTP when
 *         no usable answer came; APR_EINVAL for an incomplete event. *preason
 *         (when not NULL) says why, from ctx->pool.
 */
apr_status_t scep_intune_notify_success(const char **preason, scep_ctx_t *ctx,
                                        scep_http_t *http, scep_intune_t *in,
                                        const scep_intune_event_t *ev);

/** Tell Intune a validated request failed (ScepActions/failureNotification);
 *  the same answers as scep_intune_notify_success. */
apr_status_t scep_intune_notify_failure(const char **preason, scep_ctx_t *ctx,
                                        scep_http_t *http, scep_intune_t *in,
                                        const scep_intune_event_t *ev);

/** Either of the two, after ev->kind: what an outbox worker calls. */
apr_status_t scep_intune_notify(const char **preason, scep_ctx_t *ctx, scep_http_t *http,
                                scep_intune_t *in, const scep_intune_event_t *ev);

#endif
