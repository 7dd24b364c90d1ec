/**
 * @file scep_ndes.h
 * @brief Microsoft NDES's challenge page (/certsrv/mscep_admin/), as the
 * MDMs and scripts that scrape it expect: UTF-16LE HTML with a BOM, the
 * one-time challenge in "The enrollment challenge password is: <B> ... </B>",
 * 16 uppercase hex characters, valid 60 minutes by default; "The password
 * cache is full." and "You do not have sufficient permission to enroll with
 * SCEP." pages. The challenge is the module's one-time challenge: hashed at
 * rest, consumed atomically, recorded with who asked for it.
 */
#ifndef SCEP_NDES_H
#define SCEP_NDES_H

#include "scep.h"
#include "scep_ca.h"
#include "scep_store.h"

/** One request for a challenge. */
typedef struct scep_ndes_t {
    const scep_ca_t *ca;
    const char *profile;               /**< the profile the challenges are for */
    apr_int64_t validity;              /**< seconds */
    int cache_size;                    /**< unused challenges a user may hold */
    const char *user;                  /**< the authenticated user */
    const char *client_addr;           /**< where from (the audit trail) */
    int allowed;                       /**< the user may enroll (SCEPNDESUsers) */
} scep_ndes_t;

typedef struct scep_ndes_out_t {
    int status;
    const char *content_type;
    const unsigned char *body;
    apr_size_t len;
} scep_ndes_out_t;

/** The page for nd: a new challenge, the cache-full page or the
 *  permission page; 503 (plain text) when the database cannot be used. */
void scep_ndes_handle(scep_ctx_t *ctx, const scep_ndes_t *nd, scep_store_t *st,
                      scep_ndes_out_t *out);

/** The page's text encoded as NDES sends it: UTF-16LE with a BOM. */
void scep_ndes_utf16(const unsigned char **pout, apr_size_t *plen, apr_pool_t *p,
                     const char *ascii);

#endif
