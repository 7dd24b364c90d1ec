/**
 * @file scep_http.h
 * @brief Outbound HTTPS (libcurl): the one client of the webhooks, Intune
 * and the notifications. TLS is verified unless a test says otherwise; every
 * call is bounded by its timeouts and by a cap on the answer's size.
 */
#ifndef SCEP_HTTP_H
#define SCEP_HTTP_H

#include <apr_time.h>
#include "scep.h"

/** How to reach one endpoint; built at start-up, read-only after. */
typedef struct scep_http_conf_t {
    const char *ca_file;               /**< trusted CAs (PEM); NULL: the system's */
    const char *proxy;                 /**< "http://host:port"; NULL: none (the
                                            environment's *_proxy is ignored) */
    const char *client_cert;           /**< PEM certificate for mutual TLS, or NULL */
    const char *client_key;            /**< its key (PEM), or NULL */
    apr_interval_time_t connect_timeout; /**< 0 or less: 1 ms, never unbounded */
    apr_interval_time_t timeout;       /**< the whole exchange, connect included
                                            (0 or less: 1 ms) */
    apr_size_t max_response;           /**< bytes of the answer's body kept at most */
} scep_http_conf_t;

/** Defaults: 5 s to connect, 10 s in all, 64 KiB of answer. */
void scep_http_conf_init(scep_http_conf_t *conf);

/** One child's client: its connections, DNS and TLS sessions are shared by
 *  the child's threads (thread-safe), and reused from call to call. A
 *  connection is reused by one call at a time: libcurl cannot share a
 *  connection cache between concurrent threads, so whole easy handles (at
 *  most 8 idle) pass from call to call; DNS and TLS sessions go through a
 *  CURLSH with a mutex per kind of data. */
typedef struct scep_http_t scep_http_t;

/** Once per process before any scep_http_make (curl_global_init); undone
 *  by a cleanup of p. */
apr_status_t scep_http_global_init(apr_pool_t *p);

/** A client whose lifetime is p's (the connections close with it). */
apr_status_t scep_http_make(scep_http_t **phttp, apr_pool_t *p);

typedef struct scep_http_request_t {
    const char *method;                /**< "GET" or "POST" (another is sent as is,
                                            with the body) */
    const char *url;                   /**< https://, or http:// when it says so;
                                            redirects are never followed */
    const apr_array_header_t *headers; /**< const char *: "Name: value"; may be NULL */
    const char *body;                  /**< POST body, or NULL */
    apr_size_t body_len;
    const scep_http_conf_t *conf;
} scep_http_request_t;

typedef struct scep_http_response_t {
    int status;                        /**< HTTP status; 0 when nothing came back
                                            (set also when the answer was too large) */
    const char *content_type;          /**< or NULL */
    const char *body;                  /**< NUL-terminated, from ctx->pool */
    apr_size_t len;
    const char *error;                 /**< transport failure, for the log (curl's
                                            error text); NULL on success */
} scep_http_response_t;

/** Send one request and wait for its answer (at most conf->timeout).
 *  APR_SUCCESS when an answer came back, whatever its status; SCEP_EHTTP
 *  with resp->error when none did (DNS, connect, TLS, timeout, too large). */
apr_status_t scep_http_send(scep_http_response_t *resp, scep_ctx_t *ctx, scep_http_t *http,
                            const scep_http_request_t *req);

#endif
