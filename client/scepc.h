/*
 * scepc - the independent SCEP (RFC 8894) client library of the tests.
 *
 * Builds well-formed and deliberately malformed PKIOperation messages and
 * parses, verifies and decrypts CertRep replies with OpenSSL's CMS API
 * directly. It includes and links nothing of mod_scep's scep/ library, so
 * that a bug there cannot hide itself by being present on both ends.
 * Its users are scepreq (the tests' command-line client) and scepbench (the
 * load generator); its messages say "scepreq:" as they always did.
 *
 * Conventions: functions that return int return 1 on success and 0 on
 * failure (OpenSSL style) unless documented otherwise; every function has a
 * single exit path that frees what it allocated. The only state is what
 * scepc_init() sets up (providers, the NIDs of the SCEP attributes).
 */
#ifndef SCEPC_H
#define SCEPC_H

#include <stddef.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define SCEPC_DEFAULT_SIGNER_DN "/O=scep-client/CN=SCEP SIGNER"
#define SCEPC_NONCE_LEN         16

/* ------------------------------------------------------------------------ */
/* scepc_util.c: initialisation, files, hex, names, algorithms              */
/* ------------------------------------------------------------------------ */

/* NIDs of the SCEP signed attributes, set by scepc_init() */
struct scepc_nids {
    int message_type, pki_status, fail_info, sender_nonce, recipient_nonce;
    int transaction_id, fail_info_text;
};
extern struct scepc_nids scepc_nid;

/* Loads the providers (default, and legacy for DES) and registers the OIDs. */
int scepc_init(void);
void scepc_cleanup(void);
/* The NID of a dotted OID, created unless OpenSSL already knows it. */
int scepc_register_oid(const char *oid, const char *sn, const char *ln);

/* A whole file ("-" = stdin) into an OPENSSL_malloc'd buffer. */
int scepc_read_file(const char *path, unsigned char **buf, long *len);
/* Bytes to a file ("-" = stdout). */
int scepc_write_file(const char *path, const unsigned char *buf, long len);
/* Uppercase hex, OPENSSL_malloc'd. */
char *scepc_hex_encode(const unsigned char *p, size_t n);
/* An even-length hex string (either case, any length including 0). */
int scepc_hex_decode(const char *s, unsigned char **out, long *outlen);
/* One-line RFC 2253 rendering, OPENSSL_malloc'd. */
char *scepc_name_rfc2253(const X509_NAME *name);
/* Lower-case long name of an algorithm OID ("sha256"), or the dotted OID. */
void scepc_algo_name(const ASN1_OBJECT *obj, char *buf, int buflen);
/* An openssl "-subj" style name: "/type=value/type=value+type=value". */
X509_NAME *scepc_dn_parse(const char *s);
/* des|des3|aes128|aes192|aes256|aes, or any OpenSSL cipher name. */
EVP_CIPHER *scepc_cipher_fetch(const char *kw);
const EVP_MD *scepc_digest_get(const char *name);
/* Prints "scepreq: WHAT" and OpenSSL's error queue to stderr. */
void scepc_report(const char *what);

/* ------------------------------------------------------------------------ */
/* scepc_load.c: keys, certificates, CSR files                              */
/* ------------------------------------------------------------------------ */

EVP_PKEY *scepc_load_key(const char *path);
/* PEM certs, else one DER cert, else a DER CMS/PKCS#7 bundle (a raw
 * GetCACert body); a stack owning its certs, or NULL if none were found. */
STACK_OF(X509) *scepc_load_certs(const char *path);
/* The first count certs of the stack as PEM. */
int scepc_write_certs_pem(const char *path, STACK_OF(X509) *certs, int count);
int scepc_write_cert_pem(const char *path, X509 *cert);
int scepc_write_crls_pem(const char *path, STACK_OF(X509_CRL) *crls);
/* A CSR file (PEM or DER) as raw DER bytes, even a deliberately broken one. */
int scepc_load_csr_der(const char *path, unsigned char **der, long *len);
/* A store trusting every cert as an anchor (partial chains, any purpose),
 * as replies are checked against what GetCACert returned. */
X509_STORE *scepc_trust_store(STACK_OF(X509) *certs);

/* ------------------------------------------------------------------------ */
/* scepc_csr.c: the PKCS#10 request, the self-signed signer, transactionID  */
/* ------------------------------------------------------------------------ */

struct scepc_csr_params {
    const char *subject;         /* openssl -subj syntax */
    const char *challenge;       /* NULL: no challengePassword attribute */
    int challenge_utf8;          /* force UTF8String */
    const char *const *san_dns;  /* dNSName entries for subjectAltName */
    int n_san;
    int extra_attrs;             /* that many more attributes (a private OID) */
    const EVP_MD *md;            /* self-signature digest */
};

/* Builds and self-signs a PKCS#10 request for key. */
X509_REQ *scepc_csr_build(EVP_PKEY *key, const struct scepc_csr_params *cp);
/* The temporary signer certificate of a first enrolment. */
X509 *scepc_signer_selfsigned(EVP_PKEY *key, const char *subject);
/* n unrelated self-signed certificates of key ("/CN=scepreq <what> i"),
 * pushed onto *st (created if NULL); the stack owns them. */
int scepc_selfsigned_push(STACK_OF(X509) **st, EVP_PKEY *key, const char *what, int n);
/* Uppercase hex SHA-256 of the DER SubjectPublicKeyInfo, OPENSSL_malloc'd. */
char *scepc_tid_from_pubkey(EVP_PKEY *pub);

/* ------------------------------------------------------------------------ */
/* scepc_msg.c: the CMS messages of a request                               */
/* ------------------------------------------------------------------------ */

/* One signed attribute to add: value bytes of the given universal type. */
struct scepc_attr {
    int nid;
    int type; /* V_ASN1_PRINTABLESTRING, V_ASN1_OCTET_STRING, V_ASN1_UTF8STRING ... */
    const unsigned char *data;
    int len;
};

#define SCEPC_TAMPER_SIGNATURE 1u
#define SCEPC_TAMPER_CONTENT   2u
#define SCEPC_TAMPER_IV        4u   /* the envelope's IV: its first plaintext block changes */
#define SCEPC_TAMPER_PADDING   8u   /* the envelope's last block: its padding becomes invalid */

/* Sets attrs[*n] and counts it. */
void scepc_attr_add(struct scepc_attr *attrs, int *n, int nid, int type, const void *data,
                    int len);
/* IssuerAndSerialNumber of cert (GetCert, GetCRL). */
int scepc_der_issuer_and_serial(X509 *cert, unsigned char **out, int *outlen);
/* IssuerAndSubject (CertPoll). */
int scepc_der_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
                                 unsigned char **out, int *outlen);
/* The envelope recipients among GetCACert's certs; borrows them. */
STACK_OF(X509) *scepc_recipients_select(STACK_OF(X509) *all, int everyone);
/* EnvelopedData (KeyTransRecipientInfo, RSA PKCS#1 v1.5) of the plaintext. */
int scepc_envelope_build(const unsigned char *pt, int ptlen, STACK_OF(X509) *recips,
                         const EVP_CIPHER *cipher, unsigned char **out, int *outlen);
/* SCEPC_TAMPER_IV and/or SCEPC_TAMPER_PADDING on a DER EnvelopedData. */
int scepc_envelope_tamper(unsigned char **der, int *len, unsigned what);
/* The pkiMessage: SignedData over content, optionally tampered after signing. */
int scepc_pkimessage_sign(const unsigned char *content, int clen, X509 *cert, EVP_PKEY *key,
                          STACK_OF(X509) *chain, const EVP_MD *md,
                          const struct scepc_attr *attrs, int nattrs, unsigned tamper,
                          unsigned char **out, int *outlen);

/* ------------------------------------------------------------------------ */
/* scepc_reply.c: CertRep parsing, the envelope and the bundle inside       */
/* ------------------------------------------------------------------------ */

struct scepc_reply {
    int verified;
    /* Signed attribute values as received; NULL when absent. */
    ASN1_STRING *message_type, *pki_status, *fail_info, *fail_info_text;
    ASN1_STRING *tid, *sender_nonce, *recipient_nonce;
    int tid_type;               /* universal tag of transactionID */
    char digest[80];            /* signer digest algorithm, lower case */
    ASN1_OCTET_STRING *econtent; /* NULL when eContent is absent */
    X509 *signer;               /* signer cert found in certificates, or NULL */
};

void scepc_reply_free(struct scepc_reply *r);
/* 1 if the CertRep parsed (r->verified tells the signature check), 0 if not. */
int scepc_reply_parse(const unsigned char *der, long len, X509_STORE *store,
                      struct scepc_reply *r);
/* Decrypts a DER EnvelopedData with the requester key (cert selects the
 * RecipientInfo); the plaintext and the content-encryption algorithm. */
int scepc_envelope_open(const unsigned char *der, long len, EVP_PKEY *key, X509 *cert,
                        char *cipher, int cipherlen, unsigned char **pt, long *ptlen);
/* Certs and CRLs of a degenerate certs-only SignedData (both non-NULL). */
int scepc_bundle_parse(const unsigned char *der, long len, STACK_OF(X509) **certs,
                       STACK_OF(X509_CRL) **crls);

/* ------------------------------------------------------------------------ */
/* scepc_http.c: HTTP/1.1 keep-alive to a loopback server (scepbench)       */
/* ------------------------------------------------------------------------ */

#define SCEPC_MAX_RESPONSE (4L * 1024 * 1024)

struct scepc_url {
    struct sockaddr_in addr;
    char host[64];    /* Host header value */
    char path[2048];  /* path without query */
};

struct scepc_conn {
    const struct scepc_url *url;
    int timeout;         /* seconds per socket operation */
    int fd;              /* -1: not connected */
    int served;          /* responses read on this connection */
    char *buf;
    size_t len, cap;     /* unread bytes are buf[0..len) */
};

struct scepc_response {
    int status;
    int close;           /* server asked to close */
    char content_type[128];
    unsigned char *body;
    size_t body_len;
};

/* http://HOST[:PORT]/PATH with HOST in 127.0.0.0/8 (or localhost). */
int scepc_url_parse(struct scepc_url *u, const char *url);
void scepc_conn_close(struct scepc_conn *c);
/* One request on a keep-alive connection, reconnecting when needed; a
 * request that met a reused connection the server had closed is sent once
 * more on a new one (*resent counts that). */
int scepc_http_exchange(struct scepc_conn *c, const unsigned char *req, size_t reqlen,
                        struct scepc_response *r, int *resent, char *err, size_t errlen);

#endif /* SCEPC_H */
