/**
 * @file scep_msg.h
 * @brief pkiMessage bytes <-> structs: parse, verify, decrypt; CertRep build.
 */
#ifndef SCEP_MSG_H
#define SCEP_MSG_H

#include <openssl/cms.h>
#include <openssl/x509.h>
#include "scep.h"
#include "scep_ca.h"

/** The SCEP attribute OIDs, created once per configuration. */
typedef struct scep_oids_t {
    ASN1_OBJECT *message_type;     /* 2.16.840.1.113733.1.9.2 */
    ASN1_OBJECT *pki_status;       /* .3 */
    ASN1_OBJECT *fail_info;        /* .4 */
    ASN1_OBJECT *sender_nonce;     /* .5 */
    ASN1_OBJECT *recipient_nonce;  /* .6 */
    ASN1_OBJECT *transaction_id;   /* .7 */
    ASN1_OBJECT *fail_info_text;   /* 1.3.6.1.5.5.7.24.1 */
    /* where messages and the requests inside them are parsed: their keys
     * stay undecoded (scep_no_keys_make; OpenSSL 3.0 builds a decoder
     * chain for every key it parses, ~0.1 ms), the signer's is decoded on
     * its own */
    OSSL_LIB_CTX *no_keys;
} scep_oids_t;

apr_status_t scep_oids_make(scep_oids_t **poids, apr_pool_t *p);

/** Bounds on what a request may carry. */
#define SCEP_MAX_TID_LEN     1024
#define SCEP_MAX_NONCE_LEN   256
#define SCEP_MAX_CERTS       16
#define SCEP_MAX_ATTRS       64
#define SCEP_MAX_RECIPIENTS  16

/** A parsed request pkiMessage. */
typedef struct scep_msg_t {
    int type;                        /**< messageType, -1 if not a number */
    const char *type_str;            /**< as sent, printable */
    ASN1_STRING *tid;                /**< transactionID, echoed with its type */
    const char *tid_str;             /**< printable form for records and logs */
    const unsigned char *sender_nonce;
    apr_size_t sender_nonce_len;
    X509 *signer;                    /**< NULL if the message did not carry it;
                                          its key may be undecoded: use signer_key */
    EVP_PKEY *signer_key;            /**< the signer's public key (with signer) */
    int md_nid;                      /**< signer digest */
    int signature_ok;                /**< signature and messageDigest verified */
    const char *signature_error;     /**< for the requester: no library internals */
    const char *detail;              /**< OpenSSL's errors, for the log only */
    const unsigned char *content;    /**< eContent: DER EnvelopedData */
    apr_size_t content_len;
    OSSL_LIB_CTX *no_keys;           /**< scep_oids_t's, for reading content
                                          before anything is proved */
    int cipher_nid;                  /**< of the envelope, after scep_msg_decrypt */
    const unsigned char *payload;    /**< decrypted messageData (random bytes when
                                          decrypt_error is set) */
    apr_size_t payload_len;
    const char *decrypt_error;       /**< why the envelope could not be decrypted
                                          (for the record and the log only) */
} scep_msg_t;

/**
 * Parse a pkiMessage and check its signature. Returns SCEP_EUNREADABLE (and
 * *perr) when nothing can be answered: not CMS SignedData, not one signer,
 * no messageType/transactionID/senderNonce, or over a limit above (signed
 * attributes, certificates, transactionID, senderNonce length). Otherwise
 * APR_SUCCESS; the caller looks at msg->signature_ok.
 */
apr_status_t scep_msg_parse(scep_msg_t **pmsg, const char **perr,
                            apr_pool_t *p, const scep_oids_t *oids,
                            const unsigned char *der, apr_size_t len);

/** Is the signer certificate self-signed, its signature verified (as
 *  X509_self_signed(signer, 1), with signer_key)? */
int scep_msg_signer_self_signed(const scep_msg_t *msg);

/** Is the signer digest acceptable (MD5 only with legacy on)? */
int scep_msg_digest_allowed(int md_nid, int allow_legacy);

/**
 * Decrypt the envelope with the RA key. A refusal that depends only on what
 * the sender wrote in the clear (not an EnvelopedData, too many recipients,
 * a cipher we refuse) returns SCEP_EFAILURE with *pfail (badMessageCheck,
 * badRequest, badAlg) and *perr. When the decryption itself fails, it
 * returns APR_SUCCESS with msg->decrypt_error set and random bytes of the
 * ciphertext's length as payload: the caller goes on reading them exactly
 * as it would read a real payload, so that a bad padding, junk inside good
 * padding and an empty plaintext take the same path and get the same answer
 * (no padding oracle).
 */
apr_status_t scep_msg_decrypt(scep_msg_t *msg, scep_fail_info_t *pfail,
                              const char **perr, apr_pool_t *p,
                              X509 *ra_cert, EVP_PKEY *ra_key,
                              int allow_legacy);

/** The first of certs[0..ncerts) that one of the envelope's recipients is
 *  (by issuer and serial, or by subjectKeyIdentifier, as CMS_decrypt
 *  matches it); -1 if none. Reads the clear part only, parsed once in the
 *  message's keyless context (it runs before anything is proved): no key
 *  operation, no key decoding. */
int scep_msg_addressed_to(const scep_msg_t *msg, X509 *const *certs, int ncerts);

/** What to answer. */
typedef struct scep_reply_t {
    scep_pki_status_t status;
    scep_fail_info_t fail_info;
    const char *fail_text;           /**< optional failInfoText */
    X509 *issued;                    /**< SUCCESS: first in the bundle */
    STACK_OF(X509) *extra;           /**< SUCCESS: chain after it (may be NULL) */
    X509_CRL *crl;                   /**< SUCCESS of GetCRL: the CRL (no certificate) */
} scep_reply_t;

/** Build the signed CertRep for a request. It mirrors the request's digest
 *  where that digest is allowed (MD5 only with allow_legacy), else SHA-256. */
apr_status_t scep_msg_certrep(unsigned char **pder, apr_size_t *plen,
                              const char **perr, apr_pool_t *p,
                              const scep_oids_t *oids, const scep_ca_t *ca,
                              const scep_msg_t *req, const scep_reply_t *reply,
                              int allow_legacy);
/** How scep_msg_certrep_as builds the reply. */
typedef enum {
    SCEP_CERTREP_AUTO,      /**< written out where it can be, else by CMS (as served) */
    SCEP_CERTREP_CMS,       /**< by OpenSSL's CMS */
    SCEP_CERTREP_WRITTEN    /**< written out, or an error where only CMS can (tests) */
} scep_certrep_way_t;
/**
 * scep_msg_certrep with the senderNonce given (NULL: random), built the
 * way asked: for the tests that compare the two ways.
 */
apr_status_t scep_msg_certrep_as(unsigned char **pder, apr_size_t *plen,
                                 const char **perr, apr_pool_t *p,
                                 const scep_oids_t *oids, const scep_ca_t *ca,
                                 const scep_msg_t *req, const scep_reply_t *reply,
                                 int allow_legacy, const unsigned char *sender_nonce,
                                 scep_certrep_way_t way);

#endif
