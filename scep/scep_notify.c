/* mod_scep core: notifications to a webhook. The JSON is made when the
 * record is written and kept in the outbox, so a delivery an hour later
 * tells what was true then. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>

#include "scep_notify.h"
#include "scep_webhook.h"

static void set_string(json_t *o, const char *key, const char *value)
{
    if (value) {
        json_object_set_new(o, key, json_string(value));
    }
}

const char *scep_notify_payload(apr_pool_t *p, const scep_notice_t *n, apr_int64_t now)
{
    json_t *o = json_object();
    char *text;
    const char *out;

    json_object_set_new(o, "type", json_string("event"));
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "time", json_integer((json_int_t)now));
    set_string(o, "event", n->event);
    set_string(o, "ca", n->ca);
    set_string(o, "location", n->location);
    set_string(o, "transaction_id", n->transaction_id);
    set_string(o, "serial", n->serial);
    set_string(o, "subject", n->subject);
    if (n->not_after > 0) {
        json_object_set_new(o, "not_after", json_integer((json_int_t)n->not_after));
    }
    set_string(o, "certificate", n->certificate);
    set_string(o, "reason", n->reason);
    set_string(o, "by", n->by);
    set_string(o, "client_address", n->client_addr);
    set_string(o, "renewal_of", n->renewal_of && *n->renewal_of ? n->renewal_of : NULL);
    /* strings that are not UTF-8 were left out by json_string: nothing
     * a sender chose can make the body invalid */
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    out = text ? apr_pstrdup(p, text) : "{}";
    free(text);
    return out;
}

void scep_notice_stage(scep_store_t *st, const scep_notice_t *n, const char *sink,
                       const char *payload)
{
    scep_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.ca = n->ca;
    ev.sink = sink;
    ev.profile = n->location;
    ev.event = n->event;
    /* one key for a request's whole story (pending, approved, revoked ...):
     * its transaction; the worker keeps each key's events in order */
    ev.event_key = n->transaction_id ? n->transaction_id : n->serial ? n->serial : "";
    ev.payload = payload;
    scep_store_stage_event(st, &ev);
}

void scep_notify_stage(scep_store_t *st, apr_pool_t *p, const scep_notify_t *notify,
                       const scep_notice_t *n)
{
    if (notify && st) {
        scep_notice_stage(st, n, "webhook",
                          scep_notify_payload(p, n, (apr_int64_t)apr_time_sec(apr_time_now())));
    }
}

apr_status_t scep_notify_deliver(const char **perr, scep_ctx_t *ctx, scep_http_t *http,
                                 const scep_notify_t *notify, const scep_event_t *ev)
{
    apr_pool_t *p = ctx->pool;
    apr_size_t len = strlen(ev->payload);
    scep_http_request_t req;
    scep_http_response_t resp;
    apr_array_header_t *headers;
    apr_status_t rv;

    headers = scep_webhook_headers(p, notify->secret, notify->secret_len, ev->payload, len,
                                   (apr_int64_t)apr_time_sec(apr_time_now()));
    APR_ARRAY_PUSH(headers, const char *) = apr_pstrcat(p, "X-SCEP-Event-Id: ", ev->id, NULL);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = notify->url;
    req.headers = headers;
    req.body = ev->payload;
    req.body_len = len;
    req.conf = &notify->http;
    rv = scep_http_send(&resp, ctx, http, &req);
    if (rv != APR_SUCCESS) {
        *perr = resp.error ? resp.error : "no answer";
        return rv;
    }
    if (resp.status < 200 || resp.status > 299) {
        *perr = apr_psprintf(p, "the receiver answered HTTP %d", resp.status);
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}
