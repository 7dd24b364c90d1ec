/**
 * @file scep_webhook.h
 * @brief The validation webhook: the facts of a request POSTed as signed
 * JSON to an HTTPS endpoint, and its answer read as a verdict.
 *
 * The request carries
 *   X-SCEP-Timestamp: <unix seconds>
 *   X-SCEP-Signature: sha256=<lowercase hex HMAC-SHA256(secret, timestamp "." body)>
 * and the receiver recomputes the HMAC over the body as received, compares
 * in constant time and refuses a timestamp more than a few minutes away
 * (t/tools/webhook-receiver.py does it in ten lines). The answer:
 *   {"allow": true|false, "reason": "...", "subject": "CN=...", "sans": ["DNS:..", ...]}
 */
#ifndef SCEP_WEBHOOK_H
#define SCEP_WEBHOOK_H

#include "scep.h"
#include "scep_http.h"
#include "scep_validate.h"

/** The webhook's "reason" is kept up to this many bytes. */
#define SCEP_WEBHOOK_REASON_MAX 512
/** At most this many "sans" in an answer, each at most SCEP_WEBHOOK_NAME_MAX
 *  bytes, like the "subject". */
#define SCEP_WEBHOOK_SANS_MAX 64
#define SCEP_WEBHOOK_NAME_MAX 1024

/** One Location's webhook; built at start-up, read-only after. */
typedef struct scep_webhook_t {
    const char *url;
    const unsigned char *secret;       /**< the HMAC key; NULL or empty: no signature */
    apr_size_t secret_len;
    scep_http_conf_t http;
    int names_allowed;                 /**< the Location lets the answer fix the
                                            subject and SANs */
} scep_webhook_t;

/**
 * The JSON body (compact) telling the webhook about one request:
 * {"type":"validate","version":1,"time":now,"transaction_id","location","ca",
 *  "message_type":"new"|"renewal","challenge","csr"(PEM),"subject","sans":[],
 *  "key":{"type","bits"},"client_address","signer_certificate"(PEM)}.
 * An absent field is null. A challenge that is not UTF-8, or holds a NUL,
 * is null with "challenge_base64" beside it. NULL only when out of memory.
 */
const char *scep_webhook_body(apr_pool_t *p, const scep_validation_t *v, apr_int64_t now);

/**
 * "sha256=" and the lowercase hex HMAC-SHA256, keyed with secret, of
 * timestamp, "." and the body; for every signed POST (webhook and
 * notifications). NULL if OpenSSL fails.
 */
const char *scep_webhook_signature(apr_pool_t *p, const unsigned char *secret, apr_size_t len,
                                   const char *timestamp, const char *body,
                                   apr_size_t body_len);

/**
 * The headers of a signed POST (const char *, "Name: value"):
 * Content-Type: application/json, User-Agent: mod_scep/<SCEP_VERSION>,
 * X-SCEP-Timestamp: now and X-SCEP-Signature (left out when there is no
 * secret). NULL if the signature cannot be computed.
 */
apr_array_header_t *scep_webhook_headers(apr_pool_t *p, const unsigned char *secret,
                                         apr_size_t secret_len, const char *body,
                                         apr_size_t body_len, apr_int64_t now);

/**
 * The verdict in an answer that came back. 2xx with a JSON object whose
 * "allow" is a boolean: ALLOW or DENY, the reason the webhook's "reason"
 * (log-safe, at most SCEP_WEBHOOK_REASON_MAX bytes) or a sentence of ours.
 * An ALLOW takes "subject" and "sans" only when names_allowed, and says in
 * its reason that it ignored them otherwise; a malformed name (not a
 * string, too long, a control character, no DNS:/IP:/email:/URI:/UPN:
 * prefix) makes the answer UNAVAILABLE. Anything else (another status, not
 * JSON, no boolean "allow", a "reason" that is not a string) is
 * UNAVAILABLE, its reason saying what was wrong. out->subject and out->sans
 * are NULL unless the webhook fixed them ("sans": [] fixes none).
 */
void scep_webhook_verdict(scep_verdict_t *out, apr_pool_t *p, const scep_http_response_t *resp,
                          int names_allowed);

/**
 * Ask the webhook about one request: the body, signed, POSTed to hook->url,
 * its answer read by scep_webhook_verdict. When no answer came back
 * (connect, TLS, timeout, too large) the verdict is UNAVAILABLE with the
 * transport's error as its reason. Logs the outcome once at INFO
 * (transaction, HTTP status, milliseconds; never the challenge or the
 * secret). Allocates from ctx->pool.
 * @return APR_SUCCESS with *out set, or APR_EINVAL (no URL) with *out untouched.
 */
apr_status_t scep_webhook_validate(scep_verdict_t *out, scep_ctx_t *ctx, scep_http_t *http,
                                   const scep_webhook_t *hook, const scep_validation_t *v);

#endif
