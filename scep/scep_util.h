/**
 * @file scep_util.h
 * @brief Small helpers: query strings, base64, hex, durations, secrets.
 */
#ifndef SCEP_UTIL_H
#define SCEP_UTIL_H

#include "scep.h"

/**
 * Parse a URL query string into a table. Percent escapes are decoded but
 * '+' is kept as '+' (Apple sends base64 with literal '+'). Later duplicate
 * keys do not replace the first. Keys are matched case-insensitively.
 */
apr_table_t *scep_query_parse(apr_pool_t *p, const char *args);

/**
 * Decode base64 as SCEP clients really send it: standard or URL-safe
 * alphabet, with or without padding, with line breaks or spaces anywhere
 * (a space stands for a '+' that a form decoder mangled).
 * @return APR_SUCCESS, or APR_EINVAL for anything that is not base64.
 */
apr_status_t scep_b64_decode(unsigned char **pout, apr_size_t *plen,
                             apr_pool_t *p, const char *in, apr_size_t inlen);

/** Standard base64 without line breaks. */
const char *scep_b64_encode(apr_pool_t *p, const unsigned char *in,
                            apr_size_t len);

/** Uppercase hex of the bytes. */
const char *scep_hex(apr_pool_t *p, const unsigned char *in, apr_size_t len);

/** Uppercase hex SHA-256 of the bytes. */
const char *scep_sha256_hex(apr_pool_t *p, const unsigned char *in,
                            apr_size_t len);

/**
 * Parse a duration: a number with an optional unit s, m, h, d (default d).
 * @return APR_SUCCESS or APR_EINVAL.
 */
apr_status_t scep_parse_duration(apr_int64_t *pseconds, const char *s);

/**
 * Compare two secrets in time that depends on neither content nor length:
 * both are hashed first, then compared with CRYPTO_memcmp.
 */
int scep_secret_equal(const unsigned char *a, apr_size_t alen,
                      const unsigned char *b, apr_size_t blen);

/** Percent-encode everything but unreserved characters (RFC 3986). */
const char *scep_url_escape(apr_pool_t *p, const char *s);

/** Printable rendering of untrusted bytes for log lines (max 64 chars). */
const char *scep_log_safe(apr_pool_t *p, const char *s, apr_size_t len);
/** The same, at most max characters ("..." after them when cut). */
const char *scep_log_safe_max(apr_pool_t *p, const char *s, apr_size_t len,
                              apr_size_t max);

/** s cut to at most max bytes (on a UTF-8 character boundary, "..." at the
 *  end when cut), for database columns; NULL stays NULL. */
/** s cut to at most max bytes, on a UTF-8 character boundary (no mark). */
const char *scep_utf8_prefix(apr_pool_t *p, const char *s, apr_size_t max);
const char *scep_bounded(apr_pool_t *p, const char *s, apr_size_t max);

/** Names for the log: messageType, pkiStatus, failInfo ("-" for none). */
const char *scep_msg_type_name(int type);
const char *scep_pki_status_name(int status);
const char *scep_fail_info_name(int fail);

#endif
