/**
 * @file scep_notify.h
 * @brief Notifications of what happened to an enrollment (SCEPNotifyWebhook):
 * the event's JSON, staged on the store so that the write of the record
 * commits it (scep_store_stage_event), and its delivery by the outbox
 * worker, signed like the validation webhook.
 */
#ifndef SCEP_NOTIFY_H
#define SCEP_NOTIFY_H

#include "scep.h"
#include "scep_http.h"
#include "scep_store.h"

/** Where a Location's events go; built at start-up, read-only after. */
typedef struct scep_notify_t {
    const char *url;
    const unsigned char *secret;       /**< HMAC key (SCEPWebhookSecretFile) */
    apr_size_t secret_len;
    scep_http_conf_t http;
} scep_notify_t;

/** What one event tells; absent fields are NULL (or 0). */
typedef struct scep_notice_t {
    const char *event;                 /**< issued, refused, pending, approved,
                                            rejected, revoked */
    const char *ca;                    /**< the CA's fingerprint */
    const char *location;              /**< the profile's name */
    const char *transaction_id;
    const char *serial;
    const char *subject;
    apr_int64_t not_after;
    const char *certificate;           /**< issued, approved: base64 DER */
    const char *reason;                /**< refused, rejected, revoked, pending */
    const char *by;                    /**< the administrator who decided */
    const char *client_addr;
    const char *renewal_of;            /**< serial of the renewed certificate */
} scep_notice_t;

/** The event's JSON body. */
const char *scep_notify_payload(apr_pool_t *p, const scep_notice_t *n, apr_int64_t now);

/** Stage what n tells for sink ("webhook", "intune") with this payload:
 *  keyed by n's transaction (else its serial), for n's profile and CA. */
void scep_notice_stage(scep_store_t *st, const scep_notice_t *n, const char *sink,
                       const char *payload);

/** Stage n for notify's receiver on st (nothing when notify is NULL): it is
 *  written with the next record, in the same transaction. */
void scep_notify_stage(scep_store_t *st, apr_pool_t *p, const scep_notify_t *notify,
                       const scep_notice_t *n);

/** Deliver one stored event: a signed POST, its id in X-SCEP-Event-Id.
 *  APR_SUCCESS on a 2xx answer; otherwise *perr says why. */
apr_status_t scep_notify_deliver(const char **perr, scep_ctx_t *ctx, scep_http_t *http,
                                 const scep_notify_t *notify, const scep_event_t *ev);

#endif
