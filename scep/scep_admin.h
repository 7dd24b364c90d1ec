/**
 * @file scep_admin.h
 * @brief The administration endpoint: a JSON API and a plain HTML page to
 * approve or reject held enrollments, revoke certificates and look at
 * recent enrollments. Who may call it is httpd's business (Apache auth);
 * the glue only passes the authenticated user.
 */
#ifndef SCEP_ADMIN_H
#define SCEP_ADMIN_H

#include "scep.h"
#include "scep_ca.h"
#include "scep_op.h"

typedef struct scep_admin_t {
    const scep_ca_t *ca;             /**< whose records the page shows */
    const scep_cas_t *cas;           /**< every CA of the host (a certificate named by
                                          serial is looked for in each), or NULL */
    apr_hash_t *named;               /**< profile name -> const scep_policy_t * */
    apr_int64_t crl_validity;
    scep_store_open_fn *open_store;
    void *store_baton;
    const char *user;                /**< authenticated user: recorded with decisions */
    const char *client_addr;         /**< where the user is: recorded in the audit trail */
    const char *base;                /**< URL path of the pages of adm->ca, ending in '/' */
    const char *home;                /**< URL path of the admin Location, ending in '/'
                                          (another CA's pages are at home/ca/ID/) */
    const unsigned char *secret;     /**< key of the form tokens' HMAC (server config) */
    apr_size_t secret_len;
    X509 *mc_cert;                   /**< signs .mobileconfig profiles, or NULL */
    EVP_PKEY *mc_key;
} scep_admin_t;

typedef struct scep_admin_in_t {
    int is_post;
    const char *path;                /**< below the Location: "", "api/enrollments", ... */
    apr_table_t *query;
    const char *content_type;
    const char *body;                /**< NUL-terminated */
    apr_size_t body_len;
    const char *csrf_cookie;         /**< value of the CSRF cookie, or NULL */
    const char *origin;              /**< the Origin request header, or NULL */
    const char *fetch_site;          /**< the Sec-Fetch-Site request header, or NULL */
    const char *own_origin;          /**< this request's scheme://host[:port], or NULL */
    const char *client_addr;
} scep_admin_in_t;

/** Writes the next piece of a streamed body; anything but APR_SUCCESS
 *  ends the stream. */
typedef apr_status_t scep_admin_write_fn(void *baton, const char *data, apr_size_t len);

/** Writes a whole body through write, in pieces; p is a pool to work in. */
typedef apr_status_t scep_admin_stream_fn(const void *state, apr_pool_t *p,
                                          scep_admin_write_fn *write, void *baton);

typedef struct scep_admin_out_t {
    int status;
    const char *content_type;
    const unsigned char *body;
    apr_size_t len;
    const char *location;            /**< redirect target, or NULL */
    const char *filename;            /**< a download's name (Content-Disposition), or NULL */
    const char *set_csrf_cookie;     /**< a new CSRF token to set, or NULL */
    const char *action_done;         /**< "approve", "reject" or "revoke" when one happened */
    /** Set instead of body for what grows with the records (the page, the
     *  lists): the glue sends status and headers, then calls
     *  stream(stream_state, ...) once, which writes the body a row at a time
     *  (each row formatted in a pool cleared after it). */
    scep_admin_stream_fn *stream;
    const void *stream_state;
} scep_admin_out_t;

/** The query of an admin request: form encoding, a '+' is a space. */
apr_table_t *scep_admin_query_parse(apr_pool_t *p, const char *args);

void scep_admin_handle(scep_ctx_t *ctx, const scep_admin_t *adm,
                       const scep_admin_in_t *in, scep_admin_out_t *out);

/** Approve a held enrollment: the certificate is issued and recorded. */
apr_status_t scep_admin_approve(const char **perr, const char **pserial, scep_ctx_t *ctx,
                                const scep_admin_t *adm, scep_store_t *st, const char *id);

#endif
