/**
 * @file scep_policy.h
 * @brief Certificate profiles: what a certificate may contain, decided by
 * the administrator, never by the requester. A profile turns a checked
 * PKCS#10 request into a certificate plan, or refuses it with the rule
 * that refused it.
 */
#ifndef SCEP_POLICY_H
#define SCEP_POLICY_H

#include <regex.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "scep.h"

/** Where a subject attribute or SAN comes from. */
typedef enum {
    SCEP_FROM_REQUEST,     /**< copied from the CSR, optionally matched by a pattern */
    SCEP_FROM_VALUE        /**< set by the server: an expression the glue evaluates */
} scep_source_t;

typedef enum {
    SCEP_SAN_DNS, SCEP_SAN_EMAIL, SCEP_SAN_URI, SCEP_SAN_IP, SCEP_SAN_UPN,
    SCEP_SAN_TYPES
} scep_san_type_t;

/** One subject attribute or SAN rule; rules keep their configured order. */
typedef struct scep_rule_t {
    int nid;                       /**< subject attribute (subject rules) */
    scep_san_type_t san_type;      /**< SAN type (SAN rules) */
    scep_source_t source;
    regex_t *pattern;              /**< NULL = any value; FROM_VALUE: the result
                                        must match it (and not be empty) */
    const char *pattern_text;
    const void *expr;              /**< FROM_VALUE: opaque, evaluated by the glue */
    const char *expr_text;
} scep_rule_t;

/** What to do with something the request asks for and the profile does not allow. */
typedef enum { SCEP_EXCESS_DROP = 0, SCEP_EXCESS_REFUSE = 1 } scep_excess_t;

#define SCEP_KEY_RSA   0x1
#define SCEP_KEY_P256  0x2
#define SCEP_KEY_P384  0x4

/** Requested extensions a profile may honour. */
#define SCEP_REQ_EXT_KEY_USAGE  0x1
#define SCEP_REQ_EXT_EKU        0x2

typedef struct scep_policy_t {
    const char *name;
    apr_array_header_t *subject;   /**< scep_rule_t; NULL = CN from the request */
    scep_excess_t subject_excess;
    apr_array_header_t *san;       /**< scep_rule_t; NULL/empty = no SAN */
    scep_excess_t san_excess;
    unsigned key_algs;             /**< SCEP_KEY_* */
    int rsa_min_bits, rsa_max_bits;
    apr_int64_t validity;          /**< seconds */
    apr_int64_t backdate;          /**< seconds */
    int cap_at_ca;                 /**< 1: cut at the CA's notAfter; 0: refuse */
    int md_nid;                    /**< signature digest of issued certificates */
    unsigned key_usage;            /**< KU_* bits for RSA keys */
    unsigned key_usage_ec;         /**< KU_* bits for EC keys */
    apr_array_header_t *eku;       /**< ASN1_OBJECT * */
    unsigned honour_requested;     /**< SCEP_REQ_EXT_* */
    apr_array_header_t *policies;  /**< ASN1_OBJECT *: certificatePolicies */
    apr_array_header_t *crl_urls;  /**< const char *: CRL distribution points */
    apr_array_header_t *ocsp_urls; /**< const char *: AIA OCSP */
    apr_array_header_t *ca_issuer_urls; /**< const char *: AIA caIssuers */
    int include_template;          /**< copy the Microsoft template name into the cert */
} scep_policy_t;

/** A policy with the defaults: CN from the request, RSA >= 2048, 1 year,
 *  SHA-256, a client certificate. */
scep_policy_t *scep_policy_make(apr_pool_t *p, const char *name);

/* ---- parsing configuration values (used by the glue's directives) ---- */

/** Subject attribute name (CN, O, OU, C, L, ST, emailAddress, serialNumber,
 *  DC, UID, ...) to NID. NID_undef if unknown. */
int scep_policy_subject_nid(const char *name);
/** SAN type name: dns, email, uri, ip, upn. -1 if unknown. */
int scep_policy_san_type(const char *name);
const char *scep_policy_san_name(scep_san_type_t t);
/** Compile a POSIX extended regex owned by the pool. NULL + *perr on error. */
regex_t *scep_policy_regex(apr_pool_t *p, const char *re, const char **perr);
/** "client", "server", "client+server", "email", "ipsec": set usages. */
apr_status_t scep_policy_set_type(scep_policy_t *pol, apr_pool_t *p, const char *type);
/** One keyUsage name to its KU_* bit, 0 if unknown. */
unsigned scep_policy_key_usage_bit(const char *name);
/** Add a keyUsage bit to a profile: encipherment bits only for RSA keys
 *  (an EC key cannot encipher keys). */
void scep_policy_add_key_usage(scep_policy_t *pol, unsigned bit);
/** A key type of SCEPKeyAlgorithms (rsa, ec-p256/p256, ec-p384/p384) to its
 *  SCEP_KEY_* bit, 0 if unknown. */
unsigned scep_policy_key_alg_bit(const char *name);
/** A requested extension a profile may honour (keyUsage, extendedKeyUsage)
 *  to its SCEP_REQ_EXT_* bit; 0 for "none", -1 if unknown. */
int scep_policy_requested_ext_bit(const char *name);
/** drop or refuse; -1 if neither. */
int scep_policy_excess(const char *name);
/** Is this a URL a certificate may point to (http, https, ldap)? */
int scep_policy_url_ok(const char *url);
/** An EKU name (serverAuth, clientAuth, emailProtection, ipsecIKE, ...) or
 *  dotted OID to an object owned by the pool; NULL if unknown. */
ASN1_OBJECT *scep_policy_oid(apr_pool_t *p, const char *name);
/** Digest name (sha256, sha384, sha512) to NID; NID_undef if not allowed. */
int scep_policy_digest_nid(const char *name);

/** Cross-setting checks for start-up: contradictions, limits beyond the
 *  CA (lifetime in seconds). NULL if fine, else the problem. */
const char *scep_policy_check(const scep_policy_t *pol, apr_pool_t *p,
                              apr_int64_t ca_lifetime);

/* ---- applying a policy to a request ---- */

/** Evaluates a FROM_VALUE expression for this request (the glue's ap_expr). */
typedef const char *scep_eval_fn(void *baton, const void *expr, const char **perr);

/** Everything the CA needs to sign. Objects are owned by the pool. */
typedef struct scep_cert_plan_t {
    X509_NAME *subject;
    GENERAL_NAMES *san;            /**< NULL when none */
    EVP_PKEY *pubkey;              /**< the CSR's key, borrowed */
    X509_PUBKEY *spki;             /**< the same key as the CSR encodes it, borrowed */
    unsigned key_usage;
    apr_array_header_t *eku;       /**< ASN1_OBJECT * */
    const scep_policy_t *policy;
    const char *template_name;     /**< from the request, NULL if none */
    const EVP_MD *md;
    apr_int64_t validity, backdate;
    int cap_at_ca;
} scep_cert_plan_t;

/** The names a renewal keeps from the certificate it renews. */
typedef struct scep_names_t {
    const X509_NAME *subject;
    const GENERAL_NAMES *san;      /**< NULL when it has none */
} scep_names_t;

/** A certificate request as the policy reads it: what is asked for once
 *  read, so that choosing the profile and applying it read it once. */
typedef struct scep_request_t {
    X509_REQ *csr;
    EVP_PKEY *key;                 /**< the CSR's public key, or NULL for the one
                                        OpenSSL decoded with it (NULL for a request
                                        from scep_req_parse_keyless) */
    const char *template_name;     /**< Microsoft certificate template, NULL if none */
    /** Where the decisions are told, one line each (const char *), for the
     *  transaction's trace and the admin's dry-run; NULL: not told. */
    apr_array_header_t *trace;
} scep_request_t;

/** The request csr with its key (or NULL, see scep_request_t), its
 *  template name read. Allocated from p; csr and key are borrowed. */
scep_request_t *scep_policy_request(apr_pool_t *p, X509_REQ *csr, EVP_PKEY *key);

/**
 * Decide what the certificate for this request contains. With kept, its subject and SANs
 * stand in for the request's and go through the same rules; only what a
 * value rule sets anew is replaced rather than counted as excess. Returns
 * APR_SUCCESS and the plan, or SCEP_EFAILURE with *prefusal naming the rule.
 */
apr_status_t scep_policy_apply(scep_cert_plan_t **pplan, const char **prefusal,
                               apr_pool_t *p, const scep_policy_t *pol,
                               const scep_request_t *req, const scep_names_t *kept,
                               scep_eval_fn *eval, void *baton);

/**
 * The parts of a plan that come from the policy alone (key, usages,
 * validity, digest): for issuing a held request whose subject and SANs were
 * decided when it arrived. The key is checked against the policy again.
 */
apr_status_t scep_policy_plan(scep_cert_plan_t **pplan, const char **prefusal,
                              apr_pool_t *p, const scep_policy_t *pol,
                              const scep_request_t *req);

/** Parse a subject written as "/CN=device1/O=Example" ("\/" for a
 *  slash in a value); the result is owned by the pool. */
apr_status_t scep_policy_parse_subject(X509_NAME **pname, const char **perr,
                                       apr_pool_t *p, const char *text);

/** Parse subjectAltNames written one "type:value" a line (dns, email, uri,
 *  ip, upn); the result is owned by the pool. */
apr_status_t scep_policy_parse_sans(GENERAL_NAMES **psan, const char **perr,
                                    apr_pool_t *p, const char *lines);

/** The names a SAN extension holds, "DNS:a.example", "IP:10.0.0.1", "email:..",
 *  "URI:..", "UPN:.." (names of other types are left out). */
apr_array_header_t *scep_policy_san_strings(apr_pool_t *p, const GENERAL_NAMES *san);

/** The names a certificate of this subject and SANs carries, for search:
 *  each attribute value and each SAN value (without its type), lower case,
 *  at most 8 of 200 bytes each (const char *). */
apr_array_header_t *scep_plan_names(apr_pool_t *p, const X509_NAME *subject,
                                    const GENERAL_NAMES *san);

#endif
