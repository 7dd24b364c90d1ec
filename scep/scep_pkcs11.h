/**
 * @file scep_pkcs11.h
 * @brief Private keys in a PKCS#11 token (an HSM, SoftHSM), named by an RFC
 * 7512 URI, through OpenSSL's "pkcs11" engine (libp11). The key never
 * leaves the token: OpenSSL asks the token to sign or decrypt.
 *
 * Everything PKCS#11 is here, so that moving to an OpenSSL 3 provider and
 * OSSL_STORE later changes this file only.
 */
#ifndef SCEP_PKCS11_H
#define SCEP_PKCS11_H

#include <openssl/evp.h>
#include "scep.h"

/** The engine with its PKCS#11 module, for one process. */
typedef struct scep_pkcs11_t scep_pkcs11_t;

/** Is this key name a PKCS#11 URI ("pkcs11:...")? */
int scep_pkcs11_is_uri(const char *name);

/** The engine, initialised with the module (a PKCS#11 library such as
 *  /usr/lib/softhsm/libsofthsm2.so; NULL: libp11's default, p11-kit's
 *  proxy). Released with p. *perr says why not. */
apr_status_t scep_pkcs11_make(scep_pkcs11_t **ppk, apr_pool_t *p, const char *module,
                              const char **perr);

/** A key of a token as it can be opened again (in each child after the
 *  fork: PKCS#11 sessions do not survive it): the URI without its PIN,
 *  and the PIN, read once. */
typedef struct scep_pkcs11_ref_t {
    scep_pkcs11_t *pk;
    const char *uri;                 /**< without pin-source or pin-value: loggable */
    const char *pin;                 /**< NULL: none (a token without login) */
} scep_pkcs11_ref_t;

/** The reference of uri: its PIN from the URI's pin-source (file:PATH, read
 *  now, as root at start-up) or pin-value. *perr says why not. */
apr_status_t scep_pkcs11_ref(scep_pkcs11_ref_t **pref, apr_pool_t *p, scep_pkcs11_t *pk,
                             const char *uri, const char **perr);

/** The private key ref names, opened now in this process. *perr names the
 *  URI (without PIN) and says why the token refused. */
apr_status_t scep_pkcs11_open(EVP_PKEY **pkey, apr_pool_t *p, const scep_pkcs11_ref_t *ref,
                              const char **perr);

/** The URI as it may be logged: without pin-value. */
const char *scep_pkcs11_safe_uri(apr_pool_t *p, const char *uri);

#endif
