/**
 * @file scep_ossl.h
 * @brief OpenSSL objects owned by APR pools, loaders, error draining.
 */
#ifndef SCEP_OSSL_H
#define SCEP_OSSL_H

#include <openssl/x509.h>
#include <openssl/evp.h>
#include <openssl/cms.h>
#include <openssl/x509v3.h>
#include "scep.h"

/* Hand an object to a pool: it is freed when the pool is cleared. */
X509 *scep_own_x509(apr_pool_t *p, X509 *x);
EVP_PKEY *scep_own_pkey(apr_pool_t *p, EVP_PKEY *k);
X509_REQ *scep_own_req(apr_pool_t *p, X509_REQ *r);
X509_CRL *scep_own_crl(apr_pool_t *p, X509_CRL *c);
CMS_ContentInfo *scep_own_cms(apr_pool_t *p, CMS_ContentInfo *c);
STACK_OF(X509) *scep_own_x509_stack(apr_pool_t *p, STACK_OF(X509) *s);
ASN1_OBJECT *scep_own_obj(apr_pool_t *p, ASN1_OBJECT *o);
ASN1_STRING *scep_own_string(apr_pool_t *p, ASN1_STRING *s);
X509_NAME *scep_own_name(apr_pool_t *p, X509_NAME *n);
GENERAL_NAMES *scep_own_general_names(apr_pool_t *p, GENERAL_NAMES *g);

/** Drain the thread's OpenSSL error queue into one string ("" if empty). */
const char *scep_ossl_errors(apr_pool_t *p);

/** Load every certificate of a PEM (or one DER) file. *perr says why not. */
apr_status_t scep_load_certs(STACK_OF(X509) **pcerts, apr_pool_t *p,
                             const char *path, const char **perr);
/** Load exactly one certificate. */
apr_status_t scep_load_cert(X509 **pcert, apr_pool_t *p, const char *path,
                            const char **perr);
/** Load an unencrypted private key (PEM or DER). */
apr_status_t scep_load_key(EVP_PKEY **pkey, apr_pool_t *p, const char *path,
                           const char **perr);
/** The passphrase of the encrypted key at path (NUL-terminated), or NULL
 *  with *perr saying why. Asked only when the key is encrypted. */
typedef const char *scep_passphrase_fn(void *baton, const char *path, const char **perr);
/** Load a private key, encrypted or not (PEM, or DER PKCS#8 / traditional),
 *  asking fn for the passphrase of an encrypted one. */
apr_status_t scep_load_key_pass(EVP_PKEY **pkey, apr_pool_t *p, const char *path,
                                scep_passphrase_fn *fn, void *baton, const char **perr);

/**
 * DER of a degenerate certs-only SignedData (no signers, content omitted)
 * holding the certificates in this order and an optional CRL: its
 * certificates a SEQUENCE, as OpenSSL's PKCS#7 encoder writes them, while
 * CMS sorts them as a SET and clients take the first one.
 */
apr_status_t scep_bundle_der(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                             STACK_OF(X509) *certs, X509_CRL *crl);

/** One piece of DER, for scep_der_wrap. */
typedef struct {
    const unsigned char *data;
    apr_size_t len;
} scep_der_part_t;
/** DER: tag and definite length around the parts, one after the other
 *  (allocated in the pool; *plen gets the whole length). */
unsigned char *scep_der_wrap(apr_pool_t *p, unsigned char tag, const scep_der_part_t *parts,
                             int nparts, apr_size_t *plen);
/** qsort order of a DER SET OF's elements (scep_der_part_t), as OpenSSL
 *  sorts them: by their bytes, then the shorter first. */
int scep_der_order(const void *a, const void *b);

/** DER of an object of OpenSSL's ASN.1 type it, in the pool: 1, or 0 if
 *  it has none (obj NULL, or not encodable). SCEP_ITEM_DER names the type. */
int scep_item_der(apr_pool_t *p, const ASN1_VALUE *obj, const ASN1_ITEM *it,
                  scep_der_part_t *part);
#define SCEP_ITEM_DER(p, type, obj, part) \
    scep_item_der((p), (const ASN1_VALUE *)(obj), ASN1_ITEM_rptr(type), (part))
/** DER of a certificate, allocated in the pool. */
apr_status_t scep_x509_der(unsigned char **pder, apr_size_t *plen,
                           apr_pool_t *p, X509 *x);
/** One-line RFC 2253 rendering of a name. */
const char *scep_name_str(apr_pool_t *p, const X509_NAME *n);
/** Uppercase hex SHA-256 of a certificate's DER. */
const char *scep_cert_fingerprint(apr_pool_t *p, X509 *x);
/**
 * A library context with only OpenSSL's "null" provider (which keeps it
 * from falling back to the default one): what is parsed in it keeps its
 * public keys undecoded, sparing OpenSSL 3.0's decoder chain. Freed with p.
 */
OSSL_LIB_CTX *scep_no_keys_make(apr_pool_t *p);

/**
 * Parse a DER PKCS#10 request in a library context without key decoders
 * (scep_oids_t.no_keys), so that its key stays undecoded:
 * X509_REQ_get0_pubkey() is NULL for it, verify with X509_REQ_verify_ex()
 * and a key from elsewhere. *pq advances as with d2i.
 */
X509_REQ *scep_req_parse_keyless(apr_pool_t *p, OSSL_LIB_CTX *no_keys,
                                 const unsigned char **pq, long len);

/** Decode a SubjectPublicKeyInfo into a key owned by the pool, or NULL
 *  (RSA keys by the RSA routines, others by OpenSSL's decoders). */
EVP_PKEY *scep_pubkey_decode(apr_pool_t *p, const X509_PUBKEY *k);

/** Uppercase hex SHA-256 of a SubjectPublicKeyInfo's DER, as the
 * certificate or request carries it (re-encoding an EVP_PKEY would cost an
 * OpenSSL 3 encoder and decoder per call). */
const char *scep_pubkey_fingerprint(apr_pool_t *p, const X509_PUBKEY *k);
/**
 * DER of a PKCS#10 request without its attributes of type nid (e.g. the
 * challengePassword, before the request is recorded). The copy keeps the
 * request's signature, which then no longer verifies. Built from the parts'
 * own encodings: duplicating the request would decode its key again.
 * APR_EGENERAL when it cannot be built, or when a kept attribute or an
 * algorithm's parameters would not read back (OpenSSL parses values it
 * cannot write again): keep no copy.
 */
apr_status_t scep_req_der_without(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                                  const X509_REQ *req, int nid);
/** Serial number as uppercase hex. */
const char *scep_serial_hex(apr_pool_t *p, const ASN1_INTEGER *serial);
/** Seconds since the epoch of an ASN1_TIME. */
apr_int64_t scep_asn1_time_epoch(const ASN1_TIME *t);

#endif
