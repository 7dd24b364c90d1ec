/*
 * scepreq - independent SCEP (RFC 8894) client-side test tool.
 *
 * Builds well-formed and deliberately malformed PKIOperation messages and
 * parses/verifies/decrypts CertRep replies.  It uses OpenSSL's CMS API
 * directly and shares no code with mod_scep's own scep/ library, so that a
 * bug in that library cannot hide itself by being present on both ends.
 *
 * The building blocks (csr_build, signer_selfsigned, envelope_build,
 * pkimessage_sign, reply_parse, envelope_open, bundle_parse) are plain
 * functions without global state besides the providers and OID NIDs set up
 * by scep_init(), so other test programs (e.g. a benchmark) can reuse them
 * by #including this file after defining SCEPREQ_NO_MAIN.
 *
 * Conventions: functions that return int return 1 on success and 0 on
 * failure (OpenSSL style) unless documented otherwise; every function has a
 * single exit path that frees what it allocated.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Everything outside main() is file-local.  When this file is #included by
 * another test program (-DSCEPREQ_NO_MAIN), functions it does not call must
 * not trigger -Wunused-function. */
#ifdef SCEPREQ_NO_MAIN
#define SCEPREQ_API static __attribute__((unused))
#else
#define SCEPREQ_API static
#endif

#define DEFAULT_SIGNER_DN "/O=scep-client/CN=SCEP SIGNER"
#define DEFAULT_CSR_DN    "/CN=scepreq"
#define SIGNER_VALIDITY   3600L /* seconds; same as micromdm's temporary signer */
#define NONCE_LEN         16

/* ------------------------------------------------------------------------ */
/* Library initialisation: providers and SCEP attribute OIDs                 */
/* ------------------------------------------------------------------------ */

static OSSL_PROVIDER *prov_legacy;
static OSSL_PROVIDER *prov_default;

static int nid_messageType = NID_undef;
static int nid_pkiStatus = NID_undef;
static int nid_failInfo = NID_undef;
static int nid_senderNonce = NID_undef;
static int nid_recipientNonce = NID_undef;
static int nid_transactionID = NID_undef;
static int nid_failInfoText = NID_undef;

/* Returns the NID for a dotted OID, creating it only if OpenSSL (or an
 * earlier call) does not know it yet, so that repeated initialisation and a
 * future OpenSSL that ships these OIDs both work. */
SCEPREQ_API int register_oid(const char *oid, const char *sn, const char *ln)
{
    int nid = OBJ_txt2nid(oid);

    if (nid == NID_undef)
        nid = OBJ_create(oid, sn, ln);
    return nid;
}

/* Loads providers and registers OIDs.  Returns 1 on success. */
SCEPREQ_API int scep_init(void)
{
    /* DES-CBC (micromdm) lives in the legacy provider.  Loading any provider
     * explicitly disables the implicit load of "default", so load both.  The
     * legacy provider is optional: without it only DES tests fail. */
    prov_legacy = OSSL_PROVIDER_load(NULL, "legacy");
    prov_default = OSSL_PROVIDER_load(NULL, "default");
    ERR_clear_error();
    if (prov_default == NULL) {
        fprintf(stderr, "scepreq: cannot load the OpenSSL default provider\n");
        return 0;
    }

    nid_messageType = register_oid("2.16.840.1.113733.1.9.2", "messageType", "SCEP messageType");
    nid_pkiStatus = register_oid("2.16.840.1.113733.1.9.3", "pkiStatus", "SCEP pkiStatus");
    nid_failInfo = register_oid("2.16.840.1.113733.1.9.4", "failInfo", "SCEP failInfo");
    nid_senderNonce = register_oid("2.16.840.1.113733.1.9.5", "senderNonce", "SCEP senderNonce");
    nid_recipientNonce = register_oid("2.16.840.1.113733.1.9.6", "recipientNonce",
                                      "SCEP recipientNonce");
    nid_transactionID = register_oid("2.16.840.1.113733.1.9.7", "transactionID",
                                     "SCEP transactionID");
    nid_failInfoText = register_oid("1.3.6.1.5.5.7.24.1", "failInfoText", "SCEP failInfoText");
    if (nid_messageType == NID_undef || nid_pkiStatus == NID_undef || nid_failInfo == NID_undef
        || nid_senderNonce == NID_undef || nid_recipientNonce == NID_undef
        || nid_transactionID == NID_undef || nid_failInfoText == NID_undef) {
        fprintf(stderr, "scepreq: cannot register SCEP OIDs\n");
        ERR_print_errors_fp(stderr);
        return 0;
    }
    return 1;
}

SCEPREQ_API void scep_cleanup(void)
{
    if (prov_legacy != NULL)
        OSSL_PROVIDER_unload(prov_legacy);
    if (prov_default != NULL)
        OSSL_PROVIDER_unload(prov_default);
    prov_legacy = prov_default = NULL;
}

/* ------------------------------------------------------------------------ */
/* Small helpers: files, hex, names                                          */
/* ------------------------------------------------------------------------ */

/* Reads a whole file ("-" = stdin) into an OPENSSL_malloc'd buffer. */
SCEPREQ_API int read_file(const char *path, unsigned char **buf, long *len)
{
    FILE *fp = NULL;
    unsigned char *data = NULL, *tmp;
    size_t cap = 0, n = 0, got;
    int ok = 0;

    *buf = NULL;
    *len = 0;
    fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "scepreq: %s: %s\n", path, strerror(errno));
        goto done;
    }
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > 0x7fffffffUL) {
                fprintf(stderr, "scepreq: %s: file too large\n", path);
                goto done;
            }
            if ((tmp = OPENSSL_realloc(data, cap)) == NULL)
                goto done;
            data = tmp;
        }
        got = fread(data + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        fprintf(stderr, "scepreq: %s: read error\n", path);
        goto done;
    }
    *buf = data;
    *len = (long)n;
    data = NULL;
    ok = 1;
done:
    if (fp != NULL && fp != stdin)
        fclose(fp);
    OPENSSL_free(data);
    return ok;
}

/* Writes bytes to a file ("-" = stdout). */
SCEPREQ_API int write_file(const char *path, const unsigned char *buf, long len)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    int ok = 0;

    if (fp == NULL) {
        fprintf(stderr, "scepreq: %s: %s\n", path, strerror(errno));
        return 0;
    }
    ok = fwrite(buf, 1, (size_t)len, fp) == (size_t)len;
    if (fp == stdout)
        ok = fflush(fp) == 0 && ok;
    else
        ok = fclose(fp) == 0 && ok;
    if (!ok)
        fprintf(stderr, "scepreq: %s: write error\n", path);
    return ok;
}

/* Uppercase hex of a byte string, OPENSSL_malloc'd. */
SCEPREQ_API char *hex_encode(const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    char *s = OPENSSL_malloc(n * 2 + 1);
    size_t i;

    if (s == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

SCEPREQ_API int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes an even-length hex string (either case).  Any length, including
 * zero, is accepted so that odd nonce sizes can be tested. */
SCEPREQ_API int hex_decode(const char *s, unsigned char **out, long *outlen)
{
    size_t n = strlen(s), i;
    unsigned char *b = NULL;
    int ok = 0;

    *out = NULL;
    *outlen = 0;
    if (n % 2 != 0)
        goto done;
    if ((b = OPENSSL_malloc(n / 2 + 1)) == NULL)
        goto done;
    for (i = 0; i < n; i += 2) {
        int hi = hex_digit((unsigned char)s[i]), lo = hex_digit((unsigned char)s[i + 1]);

        if (hi < 0 || lo < 0)
            goto done;
        b[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *out = b;
    *outlen = (long)(n / 2);
    b = NULL;
    ok = 1;
done:
    if (!ok)
        fprintf(stderr, "scepreq: invalid hex string '%s'\n", s);
    OPENSSL_free(b);
    return ok;
}

/* One-line RFC 2253 rendering of a name, OPENSSL_malloc'd. */
SCEPREQ_API char *name_rfc2253(const X509_NAME *name)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data, *s = NULL;
    long n;

    if (mem == NULL)
        return NULL;
    if (X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(mem, &data);
        if ((s = OPENSSL_malloc((size_t)n + 1)) != NULL) {
            memcpy(s, data, (size_t)n);
            s[n] = '\0';
        }
    }
    BIO_free(mem);
    return s;
}

/* Long name of an algorithm OID in lower case ("sha256", "aes-128-cbc"), or
 * the dotted OID when OpenSSL does not know it. */
SCEPREQ_API void algo_name(const ASN1_OBJECT *obj, char *buf, int buflen)
{
    char *p;

    if (obj == NULL || OBJ_obj2txt(buf, buflen, obj, 0) <= 0)
        snprintf(buf, (size_t)buflen, "unknown");
    for (p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* True if every byte is in the ASN.1 PrintableString repertoire. */
SCEPREQ_API int is_printable_string(const char *s)
{
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && strchr(" '()+,-./:=?", *s) == NULL)
            return 0;
    }
    return 1;
}

/*
 * Parses an openssl "-subj" style name: "/type=value/type=value+type=value".
 * A backslash escapes the next character; "+" joins a multi-valued RDN.
 * Values are added as UTF-8 and OpenSSL picks the string type.
 */
SCEPREQ_API X509_NAME *dn_parse(const char *s)
{
    X509_NAME *name = X509_NAME_new();
    char *buf = NULL;
    const char *p = s;
    int set = 0, ok = 0;

    if (name == NULL || (buf = OPENSSL_malloc(strlen(s) + 1)) == NULL)
        goto done;
    if (*p != '/') {
        fprintf(stderr, "scepreq: subject must start with '/': %s\n", s);
        goto done;
    }
    p++;
    while (*p != '\0') {
        size_t k = 0;
        char *value;

        while (*p != '\0' && *p != '=') {
            if (*p == '\\' && p[1] != '\0')
                p++;
            buf[k++] = *p++;
        }
        if (*p != '=') {
            fprintf(stderr, "scepreq: missing '=' in subject: %s\n", s);
            goto done;
        }
        buf[k++] = '\0';
        p++;
        value = buf + k;
        while (*p != '\0' && *p != '/' && *p != '+') {
            if (*p == '\\' && p[1] != '\0')
                p++;
            buf[k++] = *p++;
        }
        buf[k] = '\0';
        if (!X509_NAME_add_entry_by_txt(name, buf, MBSTRING_UTF8, (unsigned char *)value, -1, -1,
                                        set)) {
            fprintf(stderr, "scepreq: bad subject attribute '%s'\n", buf);
            goto done;
        }
        set = *p == '+' ? -1 : 0; /* -1: add to the RDN just written */
        if (*p != '\0')
            p++;
    }
    ok = 1;
done:
    OPENSSL_free(buf);
    if (!ok) {
        X509_NAME_free(name);
        name = NULL;
    }
    return name;
}

SCEPREQ_API EVP_PKEY *load_key(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *key = NULL;

    if (bio != NULL)
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (key == NULL) {
        fprintf(stderr, "scepreq: cannot read private key %s\n", path);
        ERR_print_errors_fp(stderr);
    }
    BIO_free(bio);
    return key;
}

/*
 * Loads certificates from a file: any number of PEM certs, or else one DER
 * cert, or else a DER CMS/PKCS#7 bundle (so a raw GetCACert body works too).
 * Returns a stack owning its certs, or NULL if none were found.
 */
SCEPREQ_API STACK_OF(X509) *load_certs(const char *path)
{
    STACK_OF(X509) *certs = NULL;
    unsigned char *buf = NULL;
    const unsigned char *p;
    long len;
    BIO *bio = NULL;
    X509 *x = NULL;
    CMS_ContentInfo *cms = NULL;
    int ok = 0;

    if (!read_file(path, &buf, &len))
        goto done;
    if ((certs = sk_X509_new_null()) == NULL || (bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
        goto done;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(certs, x))
            goto done;
        x = NULL;
    }
    if (sk_X509_num(certs) == 0) {
        p = buf;
        if ((x = d2i_X509(NULL, &p, len)) != NULL) {
            if (!sk_X509_push(certs, x))
                goto done;
            x = NULL;
        } else {
            p = buf;
            if ((cms = d2i_CMS_ContentInfo(NULL, &p, len)) != NULL) {
                sk_X509_free(certs);
                certs = CMS_get1_certs(cms);
            }
        }
    }
    /* The loops above end on an expected "no start line" / decode error. */
    ERR_clear_error();
    if (certs == NULL || sk_X509_num(certs) == 0) {
        fprintf(stderr, "scepreq: no certificates found in %s\n", path);
        goto done;
    }
    ok = 1;
done:
    X509_free(x);
    BIO_free(bio);
    CMS_ContentInfo_free(cms);
    OPENSSL_free(buf);
    if (!ok) {
        sk_X509_pop_free(certs, X509_free);
        certs = NULL;
    }
    return certs;
}

SCEPREQ_API int write_certs_pem(const char *path, STACK_OF(X509) *certs, int count)
{
    BIO *bio = BIO_new_file(path, "w");
    int i, ok = bio != NULL;

    for (i = 0; ok && i < count && i < sk_X509_num(certs); i++)
        ok = PEM_write_bio_X509(bio, sk_X509_value(certs, i));
    if (!ok)
        fprintf(stderr, "scepreq: cannot write %s\n", path);
    BIO_free(bio);
    return ok;
}

SCEPREQ_API int write_crls_pem(const char *path, STACK_OF(X509_CRL) *crls)
{
    BIO *bio = BIO_new_file(path, "w");
    int i, ok = bio != NULL;

    for (i = 0; ok && i < sk_X509_CRL_num(crls); i++)
        ok = PEM_write_bio_X509_CRL(bio, sk_X509_CRL_value(crls, i));
    if (!ok)
        fprintf(stderr, "scepreq: cannot write %s\n", path);
    BIO_free(bio);
    return ok;
}

/* Maps the CLI cipher keywords; anything else is passed to OpenSSL as a
 * cipher name so unsupported algorithms (rc2-cbc, bf-cbc) can be sent. */
SCEPREQ_API EVP_CIPHER *cipher_fetch(const char *kw)
{
    static const char *const map[][2] = {
        { "des", "DES-CBC" },         { "des3", "DES-EDE3-CBC" },   { "aes128", "AES-128-CBC" },
        { "aes192", "AES-192-CBC" },  { "aes256", "AES-256-CBC" },  { "aes", "AES-128-CBC" },
    };
    const char *name = kw;
    EVP_CIPHER *c;
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(kw, map[i][0]) == 0)
            name = map[i][1];
    if ((c = EVP_CIPHER_fetch(NULL, name, NULL)) == NULL) {
        fprintf(stderr, "scepreq: cipher '%s' not available\n", kw);
        ERR_print_errors_fp(stderr);
    }
    return c;
}

SCEPREQ_API const EVP_MD *digest_get(const char *name)
{
    const EVP_MD *md = EVP_get_digestbyname(name);

    if (md == NULL)
        fprintf(stderr, "scepreq: unknown digest '%s'\n", name);
    return md;
}

/* ------------------------------------------------------------------------ */
/* Request building                                                          */
/* ------------------------------------------------------------------------ */

struct csr_params {
    const char *subject;         /* openssl -subj syntax */
    const char *challenge;       /* NULL: no challengePassword attribute */
    int challenge_utf8;          /* force UTF8String */
    const char *const *san_dns;  /* dNSName entries for subjectAltName */
    int n_san;
    int extra_attrs;             /* that many more attributes (a private OID) */
    const EVP_MD *md;            /* self-signature digest */
};

/* Builds and self-signs a PKCS#10 request for key. */
SCEPREQ_API X509_REQ *csr_build(EVP_PKEY *key, const struct csr_params *cp)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    GENERAL_NAMES *gens = NULL;
    GENERAL_NAME *gn = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    X509_EXTENSION *ext = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    int i, ok = 0;

    if (req == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1))
        goto done;
    if ((name = dn_parse(cp->subject)) == NULL || !X509_REQ_set_subject_name(req, name))
        goto done;
    if (!X509_REQ_set_pubkey(req, key))
        goto done;
    if (cp->challenge != NULL) {
        /* Clients send PrintableString when they can (micromdm, sscep,
         * certmonger); UTF8String is what RFC 8894 allows in addition. */
        int type = (!cp->challenge_utf8 && is_printable_string(cp->challenge))
                       ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING;

        if (!X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, type,
                                       (const unsigned char *)cp->challenge,
                                       (int)strlen(cp->challenge)))
            goto done;
    }
    for (i = 0; i < cp->extra_attrs; i++) {
        char oid[48];

        snprintf(oid, sizeof(oid), "1.3.6.1.4.1.55555.2.%d", i + 1);
        if (!X509_REQ_add1_attr_by_txt(req, oid, V_ASN1_UTF8STRING,
                                       (const unsigned char *)"x", 1))
            goto done;
    }
    if (cp->n_san > 0) {
        if ((gens = GENERAL_NAMES_new()) == NULL)
            goto done;
        for (i = 0; i < cp->n_san; i++) {
            if ((gn = GENERAL_NAME_new()) == NULL || (ia5 = ASN1_IA5STRING_new()) == NULL
                || !ASN1_STRING_set(ia5, cp->san_dns[i], -1))
                goto done;
            GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
            ia5 = NULL;
            if (!sk_GENERAL_NAME_push(gens, gn))
                goto done;
            gn = NULL;
        }
        if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL
            || (exts = sk_X509_EXTENSION_new_null()) == NULL || !sk_X509_EXTENSION_push(exts, ext))
            goto done;
        ext = NULL;
        if (!X509_REQ_add_extensions(req, exts))
            goto done;
    }
    if (!X509_REQ_sign(req, key, cp->md))
        goto done;
    ok = 1;
done:
    if (!ok) {
        fprintf(stderr, "scepreq: cannot build CSR\n");
        ERR_print_errors_fp(stderr);
        X509_REQ_free(req);
        req = NULL;
    }
    X509_NAME_free(name);
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(gens);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return req;
}

/* The temporary signer certificate of a first enrolment: self-signed, v3,
 * random 16-byte serial, valid SIGNER_VALIDITY seconds from now, KU
 * digitalSignature+keyEncipherment (the server encrypts the reply to it). */
SCEPREQ_API X509 *signer_selfsigned(EVP_PKEY *key, const char *subject)
{
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    ASN1_BIT_STRING *ku = NULL;
    int ok = 0;

    if (x == NULL || !X509_set_version(x, X509_VERSION_3))
        goto done;
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto done;
    serial[0] &= 0x7f; /* keep it positive so DER needs no leading zero */
    serial[0] |= 0x40; /* and exactly 16 bytes long */
    if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL
        || (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !X509_set_serialNumber(x, sn))
        goto done;
    if ((name = dn_parse(subject)) == NULL || !X509_set_subject_name(x, name)
        || !X509_set_issuer_name(x, name))
        goto done;
    if (X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x), SIGNER_VALIDITY) == NULL)
        goto done;
    if (!X509_set_pubkey(x, key))
        goto done;
    if ((ku = ASN1_BIT_STRING_new()) == NULL || !ASN1_BIT_STRING_set_bit(ku, 0, 1)
        || !ASN1_BIT_STRING_set_bit(ku, 2, 1)
        || !X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT))
        goto done;
    if (!X509_sign(x, key, EVP_sha256()))
        goto done;
    ok = 1;
done:
    if (!ok) {
        fprintf(stderr, "scepreq: cannot make self-signed signer certificate\n");
        ERR_print_errors_fp(stderr);
        X509_free(x);
        x = NULL;
    }
    X509_NAME_free(name);
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    ASN1_BIT_STRING_free(ku);
    return x;
}

/* DER SEQUENCE { a, b } from two already DER-encoded elements. */
SCEPREQ_API int der_sequence2(const unsigned char *a, int alen, const unsigned char *b, int blen,
                              unsigned char **out, int *outlen)
{
    int total = ASN1_object_size(1, alen + blen, V_ASN1_SEQUENCE);
    unsigned char *buf, *p;

    *out = NULL;
    if (total <= 0 || (buf = OPENSSL_malloc((size_t)total)) == NULL)
        return 0;
    p = buf;
    ASN1_put_object(&p, 1, alen + blen, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(p, a, (size_t)alen);
    memcpy(p + alen, b, (size_t)blen);
    *out = buf;
    *outlen = total;
    return 1;
}

/* IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }
 * of cert (payload of GetCert/GetCRL). */
SCEPREQ_API int der_issuer_and_serial(X509 *cert, unsigned char **out, int *outlen)
{
    unsigned char *name = NULL, *serial = NULL;
    int nlen, slen, ok;

    nlen = i2d_X509_NAME(X509_get_issuer_name(cert), &name);
    slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &serial);
    ok = nlen > 0 && slen > 0 && der_sequence2(name, nlen, serial, slen, out, outlen);
    OPENSSL_free(name);
    OPENSSL_free(serial);
    return ok;
}

/* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } (CertPoll). */
SCEPREQ_API int der_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
                                       unsigned char **out, int *outlen)
{
    unsigned char *i = NULL, *s = NULL;
    int ilen, slen, ok;

    ilen = i2d_X509_NAME(issuer, &i);
    slen = i2d_X509_NAME(subject, &s);
    ok = ilen > 0 && slen > 0 && der_sequence2(i, ilen, s, slen, out, outlen);
    OPENSSL_free(i);
    OPENSSL_free(s);
    return ok;
}

/*
 * Picks the envelope recipients from what GetCACert returned: every cert
 * whose keyUsage allows keyEncipherment (or has no keyUsage), falling back to
 * the first cert; or all of them (micromdm behaviour).  The returned stack
 * borrows the certs from all (free it with sk_X509_free only).
 */
SCEPREQ_API STACK_OF(X509) *recipients_select(STACK_OF(X509) *all, int everyone)
{
    STACK_OF(X509) *r = sk_X509_new_null();
    int i, ok = 0;

    if (r == NULL)
        goto done;
    for (i = 0; i < sk_X509_num(all); i++) {
        X509 *x = sk_X509_value(all, i);

        /* X509_get_key_usage() returns all bits set when KU is absent. */
        if ((everyone || (X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT)) && !sk_X509_push(r, x))
            goto done;
    }
    if (sk_X509_num(r) == 0 && sk_X509_num(all) > 0 && !sk_X509_push(r, sk_X509_value(all, 0)))
        goto done;
    ok = 1;
done:
    if (!ok) {
        sk_X509_free(r);
        r = NULL;
    }
    return r;
}

/* EnvelopedData (KeyTransRecipientInfo, RSA PKCS#1 v1.5) of the plaintext,
 * DER-encoded into *out. */
SCEPREQ_API int envelope_build(const unsigned char *pt, int ptlen, STACK_OF(X509) *recips,
                               const EVP_CIPHER *cipher, unsigned char **out, int *outlen)
{
    BIO *in = BIO_new_mem_buf(ptlen > 0 ? pt : (const unsigned char *)"", ptlen);
    CMS_ContentInfo *env = NULL;
    int ok = 0;

    *out = NULL;
    if (in == NULL || (env = CMS_encrypt(recips, in, cipher, CMS_BINARY)) == NULL)
        goto done;
    *outlen = i2d_CMS_ContentInfo(env, out);
    ok = *outlen > 0;
done:
    if (!ok) {
        fprintf(stderr, "scepreq: cannot build EnvelopedData\n");
        ERR_print_errors_fp(stderr);
    }
    CMS_ContentInfo_free(env);
    BIO_free(in);
    return ok;
}

/* One signed attribute to add: value bytes of the given universal type. */
struct scep_attr {
    int nid;
    int type; /* V_ASN1_PRINTABLESTRING, V_ASN1_OCTET_STRING, V_ASN1_UTF8STRING ... */
    const unsigned char *data;
    int len;
};

#define TAMPER_SIGNATURE 1u
#define TAMPER_CONTENT   2u
#define TAMPER_IV        4u   /* the envelope's IV: its first plaintext block changes */
#define TAMPER_PADDING   8u   /* the envelope's last block: its padding becomes invalid */

/* Tampers with an EnvelopedData (DER, replaced in place): TAMPER_IV flips
 * the first IV byte (the plaintext's first byte changes, the padding stays
 * valid); TAMPER_PADDING flips the top bit of the byte that the last
 * plaintext byte (a padding length, 1..16) depends on, which makes the
 * padding invalid whatever the plaintext. */
SCEPREQ_API int envelope_tamper(unsigned char **der, int *len, unsigned what)
{
    const unsigned char *p = *der;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, *len);
    ASN1_TYPE *param;
    ASN1_OCTET_STRING *iv, *ct;
    unsigned char *out = NULL;
    int outlen, ok = 0;

    if (p7 == NULL || !PKCS7_type_is_enveloped(p7)
        || (param = p7->d.enveloped->enc_data->algorithm->parameter) == NULL
        || param->type != V_ASN1_OCTET_STRING || (iv = param->value.octet_string)->length < 1
        || (ct = p7->d.enveloped->enc_data->enc_data) == NULL || ct->length < iv->length) {
        fprintf(stderr, "scepreq: --tamper iv|padding needs a CBC EnvelopedData\n");
        goto done;
    }
    if (what & TAMPER_IV)
        iv->data[0] ^= 0x01;
    if (what & TAMPER_PADDING) {
        if (ct->length >= 2 * iv->length)
            ct->data[ct->length - iv->length - 1] ^= 0x80;
        else
            iv->data[iv->length - 1] ^= 0x80;
    }
    if ((outlen = i2d_PKCS7(p7, &out)) <= 0)
        goto done;
    OPENSSL_free(*der);
    *der = out;
    *len = outlen;
    ok = 1;
done:
    ERR_print_errors_fp(stderr);
    PKCS7_free(p7);
    return ok;
}

/* Inverts the last byte of an OCTET STRING (after signing, to break it).
 * For the envelope the last byte is ciphertext, so the DER stays parseable
 * and only the digest check fails. */
SCEPREQ_API int flip_last_byte(ASN1_STRING *s)
{
    unsigned char *copy;
    int len, ok;

    if (s == NULL || (len = ASN1_STRING_length(s)) <= 0)
        return 0;
    if ((copy = OPENSSL_memdup(ASN1_STRING_get0_data(s), (size_t)len)) == NULL)
        return 0;
    copy[len - 1] ^= 0xff;
    ok = ASN1_STRING_set(s, copy, len);
    OPENSSL_free(copy);
    return ok;
}

/*
 * The pkiMessage: SignedData over id-data content, signer cert (plus chain)
 * in certificates, SCEP attributes in signedAttrs (CMS adds contentType,
 * messageDigest and signingTime), optionally tampered after signing.
 */
SCEPREQ_API int pkimessage_sign(const unsigned char *content, int clen, X509 *cert, EVP_PKEY *key,
                                STACK_OF(X509) *chain, const EVP_MD *md,
                                const struct scep_attr *attrs, int nattrs, unsigned tamper,
                                unsigned char **out, int *outlen)
{
    const unsigned flags = CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP;
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si;
    ASN1_OCTET_STRING **pos;
    BIO *in = NULL;
    int i, ok = 0;

    *out = NULL;
    /* CMS_PARTIAL: create an empty SignedData, add the signer and its
     * attributes, and only sign in CMS_final. */
    if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
        goto done;
    if ((si = CMS_add1_signer(cms, cert, key, md, flags)) == NULL)
        goto done;
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);

        if (X509_cmp(x, cert) != 0 && !CMS_add1_cert(cms, x))
            goto done;
    }
    for (i = 0; i < nattrs; i++)
        if (!CMS_signed_add1_attr_by_OBJ(si, OBJ_nid2obj(attrs[i].nid), attrs[i].type,
                                         attrs[i].data, attrs[i].len))
            goto done;
    if ((in = BIO_new_mem_buf(clen > 0 ? content : (const unsigned char *)"", clen)) == NULL
        || !CMS_final(cms, in, NULL, CMS_BINARY))
        goto done;
    if ((tamper & TAMPER_SIGNATURE) && !flip_last_byte(CMS_SignerInfo_get0_signature(si)))
        goto done;
    if (tamper & TAMPER_CONTENT) {
        pos = CMS_get0_content(cms);
        if (pos == NULL || !flip_last_byte(*pos))
            goto done;
    }
    *outlen = i2d_CMS_ContentInfo(cms, out);
    ok = *outlen > 0;
done:
    if (!ok) {
        fprintf(stderr, "scepreq: cannot build SignedData\n");
        ERR_print_errors_fp(stderr);
    }
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    return ok;
}

/* Default transactionID: uppercase hex SHA-256 of the DER
 * SubjectPublicKeyInfo.  OPENSSL_malloc'd. */
SCEPREQ_API char *tid_from_pubkey(EVP_PKEY *pub)
{
    unsigned char *spki = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int len = i2d_PUBKEY(pub, &spki);
    char *tid = NULL;

    if (len > 0 && EVP_Digest(spki, (size_t)len, md, &mdlen, EVP_sha256(), NULL))
        tid = hex_encode(md, mdlen);
    OPENSSL_free(spki);
    return tid;
}

/* True if the buffer contains a PEM "-----BEGIN" line anywhere. */
SCEPREQ_API int has_pem_header(const unsigned char *buf, long n)
{
    static const char tag[] = "-----BEGIN";
    long i;

    for (i = 0; i + (long)sizeof(tag) - 1 <= n; i++)
        if (memcmp(buf + i, tag, sizeof(tag) - 1) == 0)
            return 1;
    return 0;
}

/* Reads a CSR file (PEM or DER) as raw DER bytes, so that it is sent
 * byte for byte even if it is deliberately broken. */
SCEPREQ_API int load_csr_der(const char *path, unsigned char **der, long *len)
{
    unsigned char *buf = NULL;
    long n;
    BIO *bio = NULL;
    int ok = 0;

    *der = NULL;
    if (!read_file(path, &buf, &n))
        goto done;
    if (has_pem_header(buf, n)) {
        /* PEM_STRING_X509_REQ also matches "NEW CERTIFICATE REQUEST". */
        if ((bio = BIO_new_mem_buf(buf, (int)n)) == NULL
            || !PEM_bytes_read_bio(der, len, NULL, PEM_STRING_X509_REQ, bio, NULL, NULL)) {
            fprintf(stderr, "scepreq: %s: no CERTIFICATE REQUEST PEM block\n", path);
            ERR_print_errors_fp(stderr);
            goto done;
        }
    } else {
        *der = buf;
        *len = n;
        buf = NULL;
    }
    ok = 1;
done:
    BIO_free(bio);
    OPENSSL_free(buf);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Reply parsing                                                             */
/* ------------------------------------------------------------------------ */

struct scep_reply {
    int verified;
    /* Signed attribute values as received; NULL when absent. */
    ASN1_STRING *message_type, *pki_status, *fail_info, *fail_info_text;
    ASN1_STRING *tid, *sender_nonce, *recipient_nonce;
    int tid_type;               /* universal tag of transactionID */
    char digest[80];            /* signer digest algorithm, lower case */
    ASN1_OCTET_STRING *econtent; /* NULL when eContent is absent */
    X509 *signer;               /* signer cert found in certificates, or NULL */
};

SCEPREQ_API void reply_free(struct scep_reply *r)
{
    ASN1_STRING_free(r->message_type);
    ASN1_STRING_free(r->pki_status);
    ASN1_STRING_free(r->fail_info);
    ASN1_STRING_free(r->fail_info_text);
    ASN1_STRING_free(r->tid);
    ASN1_STRING_free(r->sender_nonce);
    ASN1_STRING_free(r->recipient_nonce);
    ASN1_OCTET_STRING_free(r->econtent);
    X509_free(r->signer);
    memset(r, 0, sizeof(*r));
}

/* Copy of the first value of a signed attribute, with its ASN.1 type. */
SCEPREQ_API ASN1_STRING *si_attr(CMS_SignerInfo *si, int nid, int *type)
{
    int idx = CMS_signed_get_attr_by_NID(si, nid, -1);
    ASN1_TYPE *t;

    if (idx < 0)
        return NULL;
    t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
    /* These types have no string representation in ASN1_TYPE. */
    if (t == NULL || t->type == V_ASN1_BOOLEAN || t->type == V_ASN1_NULL
        || t->type == V_ASN1_OBJECT)
        return NULL;
    if (type != NULL)
        *type = t->type;
    return ASN1_STRING_dup(t->value.asn1_string);
}

/*
 * Parses a CertRep and verifies its signature against store (certs carried
 * in the message are untrusted intermediates).  Returns 1 if the message
 * could be parsed (r->verified tells the verification outcome), 0 on parse
 * errors.
 */
SCEPREQ_API int reply_parse(const unsigned char *der, long len, X509_STORE *store,
                            struct scep_reply *r)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) *sis;
    CMS_SignerInfo *si;
    X509 *signer = NULL;
    X509_ALGOR *dig = NULL;
    const ASN1_OBJECT *dobj = NULL;
    ASN1_OCTET_STRING **pos;
    int ok = 0;

    memset(r, 0, sizeof(*r));
    r->tid_type = -1;
    if ((cms = d2i_CMS_ContentInfo(NULL, &p, len)) == NULL) {
        fprintf(stderr, "scepreq: reply is not a CMS ContentInfo\n");
        goto done;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        fprintf(stderr, "scepreq: reply is not SignedData\n");
        goto done;
    }
    sis = CMS_get0_SignerInfos(cms);
    if (sk_CMS_SignerInfo_num(sis) < 1) {
        fprintf(stderr, "scepreq: reply has no signerInfo\n");
        goto done;
    }
    if (sk_CMS_SignerInfo_num(sis) > 1)
        fprintf(stderr, "scepreq: warning: reply has %d signerInfos, using the first\n",
                sk_CMS_SignerInfo_num(sis));
    si = sk_CMS_SignerInfo_value(sis, 0);

    /* Only the certificates in the message are searched, as certmonger
     * does: a reply that omits its signer cert is a server bug to see. */
    if (CMS_set1_signers_certs(cms, NULL, 0) < 0)
        ERR_clear_error();
    CMS_SignerInfo_get0_algs(si, NULL, &signer, &dig, NULL);
    if (signer != NULL && X509_up_ref(signer))
        r->signer = signer;
    if (dig != NULL)
        X509_ALGOR_get0(&dobj, NULL, NULL, dig);
    algo_name(dobj, r->digest, sizeof(r->digest));

    r->message_type = si_attr(si, nid_messageType, NULL);
    r->pki_status = si_attr(si, nid_pkiStatus, NULL);
    r->fail_info = si_attr(si, nid_failInfo, NULL);
    r->fail_info_text = si_attr(si, nid_failInfoText, NULL);
    r->tid = si_attr(si, nid_transactionID, &r->tid_type);
    r->sender_nonce = si_attr(si, nid_senderNonce, NULL);
    r->recipient_nonce = si_attr(si, nid_recipientNonce, NULL);

    pos = CMS_get0_content(cms);
    if (pos != NULL && *pos != NULL && (r->econtent = ASN1_OCTET_STRING_dup(*pos)) == NULL)
        goto done;

    r->verified = CMS_verify(cms, NULL, store, NULL, NULL, CMS_BINARY) > 0;
    if (!r->verified) {
        fprintf(stderr, "scepreq: CertRep signature verification failed\n");
        ERR_print_errors_fp(stderr);
    }
    ok = 1;
done:
    if (!ok)
        reply_free(r);
    CMS_ContentInfo_free(cms);
    return ok;
}

/* Reads a DER TLV header at *p (bounded by end), leaving *p at the contents.
 * Fails on errors, indefinite lengths (not DER), or an unexpected tag. */
SCEPREQ_API int der_enter(const unsigned char **p, const unsigned char *end, int tag, int cls,
                          long *len)
{
    int t, c, r;

    if (*p >= end)
        return 0;
    r = ASN1_get_object(p, len, &t, &c, end - *p);
    if ((r & 0x80) || (r & 0x01))
        return 0;
    return t == tag && c == cls;
}

/*
 * Content-encryption algorithm of a DER EnvelopedData ContentInfo.  The CMS
 * API has no getter for it, so walk the DER:
 *   ContentInfo { OID, [0] EnvelopedData { version, [0] originatorInfo OPT,
 *     recipientInfos SET, encryptedContentInfo { OID, AlgorithmIdentifier }}}
 */
SCEPREQ_API void envelope_cipher_name(const unsigned char *der, long len, char *buf, int buflen)
{
    const unsigned char *p = der, *end = der + len, *q;
    ASN1_OBJECT *obj = NULL;
    long l;

    if (!der_enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &l))
        goto done;
    end = p + l;
    if (!der_enter(&p, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, &l))
        goto done;
    p += l;
    if (!der_enter(&p, end, 0, V_ASN1_CONTEXT_SPECIFIC, &l)
        || !der_enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &l))
        goto done;
    end = p + l;
    if (!der_enter(&p, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, &l))
        goto done;
    p += l;
    q = p;
    if (der_enter(&q, end, 0, V_ASN1_CONTEXT_SPECIFIC, &l))
        p = q + l;
    if (!der_enter(&p, end, V_ASN1_SET, V_ASN1_UNIVERSAL, &l))
        goto done;
    p += l;
    if (!der_enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &l))
        goto done;
    end = p + l;
    if (!der_enter(&p, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, &l))
        goto done;
    p += l;
    if (!der_enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &l))
        goto done;
    end = p + l;
    obj = d2i_ASN1_OBJECT(NULL, &p, end - p);
done:
    ERR_clear_error();
    algo_name(obj, buf, buflen);
    ASN1_OBJECT_free(obj);
}

/*
 * Decrypts a DER EnvelopedData with the requester key; cert (the signer
 * cert of the request) selects the RecipientInfo.  Returns the plaintext
 * (OPENSSL_malloc'd) and the content-encryption algorithm name.
 */
SCEPREQ_API int envelope_open(const unsigned char *der, long len, EVP_PKEY *key, X509 *cert,
                              char *cipher, int cipherlen, unsigned char **pt, long *ptlen)
{
    const unsigned char *p = der;
    CMS_ContentInfo *env = NULL;
    BIO *out = NULL;
    char *data;
    long n;
    int ok = 0;

    *pt = NULL;
    snprintf(cipher, (size_t)cipherlen, "unknown");
    if ((env = d2i_CMS_ContentInfo(NULL, &p, len)) == NULL) {
        fprintf(stderr, "scepreq: eContent is not a CMS ContentInfo\n");
        goto done;
    }
    if (OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
        fprintf(stderr, "scepreq: eContent is not EnvelopedData\n");
        goto done;
    }
    envelope_cipher_name(der, len, cipher, cipherlen);
    if ((out = BIO_new(BIO_s_mem())) == NULL)
        goto done;
    if (!CMS_decrypt(env, key, cert, NULL, out, CMS_BINARY)) {
        fprintf(stderr, "scepreq: cannot decrypt EnvelopedData\n");
        goto done;
    }
    n = BIO_get_mem_data(out, &data);
    if ((*pt = OPENSSL_malloc(n > 0 ? (size_t)n : 1)) == NULL)
        goto done;
    if (n > 0)
        memcpy(*pt, data, (size_t)n);
    *ptlen = n;
    ok = 1;
done:
    if (!ok)
        ERR_print_errors_fp(stderr);
    BIO_free(out);
    CMS_ContentInfo_free(env);
    return ok;
}

/* Certs and CRLs of a degenerate certs-only SignedData.  Both returned
 * stacks are non-NULL (possibly empty) on success. */
SCEPREQ_API int bundle_parse(const unsigned char *der, long len, STACK_OF(X509) **certs,
                             STACK_OF(X509_CRL) **crls)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = NULL;
    int ok = 0;

    *certs = NULL;
    *crls = NULL;
    if ((cms = d2i_CMS_ContentInfo(NULL, &p, len)) == NULL
        || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        fprintf(stderr, "scepreq: decrypted content is not a SignedData bundle\n");
        ERR_print_errors_fp(stderr);
        goto done;
    }
    /* CMS_get1_* return NULL for "none" as well as for errors. */
    if ((*certs = CMS_get1_certs(cms)) == NULL && (*certs = sk_X509_new_null()) == NULL)
        goto done;
    if ((*crls = CMS_get1_crls(cms)) == NULL && (*crls = sk_X509_CRL_new_null()) == NULL)
        goto done;
    ok = 1;
done:
    if (!ok) {
        sk_X509_pop_free(*certs, X509_free);
        sk_X509_CRL_pop_free(*crls, X509_CRL_free);
        *certs = NULL;
        *crls = NULL;
    }
    CMS_ContentInfo_free(cms);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

#ifndef SCEPREQ_NO_MAIN

static void usage(void)
{
    fputs(
        "usage:\n"
        "  scepreq build --key FILE [options] -o OUT.der\n"
        "    --recipient FILE      GetCACert certs (PEM, DER cert or PKCS#7); envelope goes to\n"
        "                          the keyEncipherment-capable ones, else the first\n"
        "    --all-recipients      encrypt to every --recipient cert\n"
        "    --csr FILE            send this CSR (PEM/DER) as-is\n"
        "    --subject DN          CSR subject (default " DEFAULT_CSR_DN ")\n"
        "    --challenge STR       challengePassword   --challenge-utf8  force UTF8String\n"
        "    --san-dns NAME        subjectAltName dNSName (repeatable)\n"
        "    --csr-digest NAME     CSR signature digest (default sha256)\n"
        "    --signer-cert FILE --signer-key FILE   existing signer (renewal)\n"
        "    --signer-self-key FILE  key for the self-signed signer (default --key)\n"
        "    --signer-out FILE     write the signer cert used (PEM)\n"
        "    --cipher des|des3|aes128|aes192|aes256|<openssl name>   (default aes128)\n"
        "    --digest NAME         signer digest (default sha256)\n"
        "    --type N              messageType (default 19)\n"
        "    --tid STR             transactionID    --nonce HEX   senderNonce\n"
        "    --payload FILE        raw plaintext instead of the CSR\n"
        "    --issuer-serial CERT  plaintext = IssuerAndSerialNumber of CERT\n"
        "    --issuer-subject CERT plaintext = IssuerAndSubject(CERT's issuer, CSR subject)\n"
        "    --omit tid|nonce|type (repeatable)\n"
        "    --tamper signature|content|iv|padding (repeatable; iv and padding change the\n"
        "                          envelope, also one given by --no-envelope --payload)\n"
        "    --csr-extra-attrs N   N more CSR attributes (private OIDs, UTF8String \"x\")\n"
        "    --no-envelope         plaintext directly as eContent\n"
        "    --extra-certs N       N more (self-signed, unrelated) certs in SignedData certificates\n"
        "    --extra-recipients N  N more KeyTransRecipientInfos (to unrelated self-signed certs)\n"
        "    --extra-attrs N       N more signed attributes (private OIDs, UTF8String values)\n"
        "    --print               print tid=, nonce=, certs=, signed_attrs=, recipients= lines\n"
        "  scepreq parse -i REPLY.der --verify FILE [--key FILE --signer-cert FILE]\n"
        "                [--out-cert OUT.pem] [--out-crl OUT.pem] [--expect-nonce HEX]\n"
        "  scepreq selfsigned --key FILE -o CERT.pem [--subject DN]\n",
        stderr);
}

#define OPT(name) (strcmp(a, (name)) == 0)
/* Takes the option's value or jumps to the usage error label. */
#define TAKE(dst)             \
    do {                      \
        if (v == NULL)        \
            goto missing;     \
        (dst) = v;            \
        i++;                  \
    } while (0)

struct build_opts {
    const char *recipient, *key, *csr, *subject, *challenge, *csr_digest;
    const char *signer_cert, *signer_key, *signer_self_key, *signer_out;
    const char *cipher, *digest, *type, *tid, *nonce;
    const char *payload, *issuer_serial, *issuer_subject, *out;
    const char **san;
    int n_san, challenge_utf8, all_recipients, no_envelope, print, csr_extra_attrs;
    int omit_tid, omit_nonce, omit_type;
    int extra_certs, extra_recipients, extra_attrs;
    unsigned tamper;
};

/* A count option's value: 0..1000. */
static int parse_count(const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < 0 || n > 1000) {
        fprintf(stderr, "scepreq: %s %s: expected a number 0..1000\n", opt, v);
        return 0;
    }
    *out = (int)n;
    return 1;
}

/* n unrelated self-signed certificates of key ("/CN=scepreq <what> i"),
 * pushed onto *st (created if NULL); the stack owns them. */
static int extra_certs_make(STACK_OF(X509) **st, EVP_PKEY *key, const char *what, int n)
{
    char dn[64];
    X509 *x;
    int i;

    if (*st == NULL && (*st = sk_X509_new_null()) == NULL)
        return 0;
    for (i = 0; i < n; i++) {
        snprintf(dn, sizeof(dn), "/CN=scepreq %s %d", what, i + 1);
        if ((x = signer_selfsigned(key, dn)) == NULL)
            return 0;
        if (!sk_X509_push(*st, x)) {
            X509_free(x);
            return 0;
        }
    }
    return 1;
}

/* For --print: what the built message holds (certificates, signed
 * attributes, recipients of the envelope; -1 where there is none). */
static void print_counts(const unsigned char *msg, int msg_len, const unsigned char *env,
                         int env_len)
{
    const unsigned char *p = msg;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, msg_len), *e = NULL;
    STACK_OF(X509) *certs = cms != NULL ? CMS_get1_certs(cms) : NULL;
    STACK_OF(CMS_SignerInfo) *sis = cms != NULL ? CMS_get0_SignerInfos(cms) : NULL;
    int nattrs = -1, nrecip = -1;

    if (sk_CMS_SignerInfo_num(sis) > 0)
        nattrs = CMS_signed_get_attr_count(sk_CMS_SignerInfo_value(sis, 0));
    if (env != NULL) {
        p = env;
        if ((e = d2i_CMS_ContentInfo(NULL, &p, env_len)) != NULL)
            nrecip = sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(e));
    }
    printf("certs=%d\nsigned_attrs=%d\nrecipients=%d\n", certs != NULL ? sk_X509_num(certs) : 0,
           nattrs, nrecip);
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    CMS_ContentInfo_free(e);
}

/* Plaintext of the envelope according to the options; the CSR (which may
 * be NULL if --csr could not be parsed) supplies IssuerAndSubject's subject. */
static int build_plaintext(const struct build_opts *o, const unsigned char *csr_der,
                           long csr_len, X509_REQ *req, unsigned char **pt, long *ptlen)
{
    STACK_OF(X509) *certs = NULL;
    int n = 0, ok = 0;

    *pt = NULL;
    if (o->payload != NULL) {
        ok = read_file(o->payload, pt, ptlen);
    } else if (o->issuer_serial != NULL || o->issuer_subject != NULL) {
        const char *path = o->issuer_serial ? o->issuer_serial : o->issuer_subject;

        if ((certs = load_certs(path)) == NULL)
            goto done;
        if (o->issuer_serial != NULL) {
            ok = der_issuer_and_serial(sk_X509_value(certs, 0), pt, &n);
        } else if (req == NULL) {
            fprintf(stderr, "scepreq: --issuer-subject needs a parseable CSR\n");
        } else {
            ok = der_issuer_and_subject(X509_get_issuer_name(sk_X509_value(certs, 0)),
                                        X509_REQ_get_subject_name(req), pt, &n);
        }
        *ptlen = n;
    } else if ((*pt = OPENSSL_memdup(csr_der, (size_t)csr_len)) != NULL) {
        *ptlen = csr_len;
        ok = 1;
    }
done:
    sk_X509_pop_free(certs, X509_free);
    return ok;
}

static int cmd_build(int argc, char **argv)
{
    struct build_opts o;
    struct csr_params cp;
    struct scep_attr *attrs = NULL;
    EVP_PKEY *key = NULL, *signer_key = NULL;
    X509 *signer = NULL;
    X509_REQ *req = NULL;
    STACK_OF(X509) *signer_certs = NULL, *rcpt_all = NULL, *rcpt = NULL;
    STACK_OF(X509) *chain = NULL, *extra_owned = NULL;
    EVP_CIPHER *cipher = NULL;
    const EVP_MD *md = NULL;
    unsigned char *csr_der = NULL, *pt = NULL, *env = NULL, *msg = NULL, *nonce = NULL;
    long csr_len = 0, pt_len = 0, nonce_len = 0;
    int env_len = 0, msg_len = 0, nattrs = 0, i, rc = 1;
    char *tid = NULL, *nonce_hex = NULL;
    const unsigned char *content;
    int content_len;

    memset(&o, 0, sizeof(o));
    o.subject = DEFAULT_CSR_DN;
    o.csr_digest = "sha256";
    o.cipher = "aes128";
    o.digest = "sha256";
    o.type = "19";
    if ((o.san = OPENSSL_zalloc(sizeof(*o.san) * (size_t)(argc + 1))) == NULL)
        goto done;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL, *w = NULL;

        if (OPT("--recipient")) TAKE(o.recipient);
        else if (OPT("--all-recipients")) o.all_recipients = 1;
        else if (OPT("--key")) TAKE(o.key);
        else if (OPT("--csr")) TAKE(o.csr);
        else if (OPT("--subject")) TAKE(o.subject);
        else if (OPT("--challenge")) TAKE(o.challenge);
        else if (OPT("--challenge-utf8")) o.challenge_utf8 = 1;
        else if (OPT("--san-dns")) TAKE(o.san[o.n_san++]);
        else if (OPT("--csr-extra-attrs")) {
            char *end;
            TAKE(w);
            o.csr_extra_attrs = (int)strtol(w, &end, 10);
            if (*end || o.csr_extra_attrs < 0 || o.csr_extra_attrs > 100000) {
                fprintf(stderr, "scepreq: --csr-extra-attrs %s: expected 0..100000\n", w);
                goto usage;
            }
        }
        else if (OPT("--csr-digest")) TAKE(o.csr_digest);
        else if (OPT("--signer-cert")) TAKE(o.signer_cert);
        else if (OPT("--signer-key")) TAKE(o.signer_key);
        else if (OPT("--signer-self-key")) TAKE(o.signer_self_key);
        else if (OPT("--signer-out")) TAKE(o.signer_out);
        else if (OPT("--cipher")) TAKE(o.cipher);
        else if (OPT("--digest")) TAKE(o.digest);
        else if (OPT("--type")) TAKE(o.type);
        else if (OPT("--tid")) TAKE(o.tid);
        else if (OPT("--nonce")) TAKE(o.nonce);
        else if (OPT("--payload")) TAKE(o.payload);
        else if (OPT("--issuer-serial")) TAKE(o.issuer_serial);
        else if (OPT("--issuer-subject")) TAKE(o.issuer_subject);
        else if (OPT("--no-envelope")) o.no_envelope = 1;
        else if (OPT("--print")) o.print = 1;
        else if (OPT("--extra-certs") || OPT("--extra-recipients") || OPT("--extra-attrs")) {
            TAKE(w);
            if (!parse_count(a, w, OPT("--extra-certs") ? &o.extra_certs
                                   : OPT("--extra-recipients") ? &o.extra_recipients
                                   : &o.extra_attrs))
                goto usage;
        }
        else if (OPT("-o") || OPT("--out")) TAKE(o.out);
        else if (OPT("--omit")) {
            TAKE(w);
            if (strcmp(w, "tid") == 0) o.omit_tid = 1;
            else if (strcmp(w, "nonce") == 0) o.omit_nonce = 1;
            else if (strcmp(w, "type") == 0) o.omit_type = 1;
            else {
                fprintf(stderr, "scepreq: --omit %s: expected tid|nonce|type\n", w);
                goto usage;
            }
        } else if (OPT("--tamper")) {
            TAKE(w);
            if (strcmp(w, "signature") == 0) o.tamper |= TAMPER_SIGNATURE;
            else if (strcmp(w, "content") == 0) o.tamper |= TAMPER_CONTENT;
            else if (strcmp(w, "iv") == 0) o.tamper |= TAMPER_IV;
            else if (strcmp(w, "padding") == 0) o.tamper |= TAMPER_PADDING;
            else {
                fprintf(stderr, "scepreq: --tamper %s: expected signature|content|iv|padding\n", w);
                goto usage;
            }
        } else {
            fprintf(stderr, "scepreq: build: unknown option %s\n", a);
            goto usage;
        }
    }
    if (o.out == NULL) {
        fprintf(stderr, "scepreq: build: -o is required\n");
        goto usage;
    }
    if ((o.signer_cert == NULL) != (o.signer_key == NULL)) {
        fprintf(stderr, "scepreq: --signer-cert and --signer-key go together\n");
        goto usage;
    }
    if (o.signer_cert != NULL && o.signer_self_key != NULL) {
        fprintf(stderr, "scepreq: --signer-self-key conflicts with --signer-cert\n");
        goto usage;
    }
    if ((o.payload != NULL) + (o.issuer_serial != NULL) + (o.issuer_subject != NULL) > 1) {
        fprintf(stderr, "scepreq: use only one of --payload, --issuer-serial, --issuer-subject\n");
        goto usage;
    }
    /* --key is only needed to make a CSR or the default signer. */
    if (o.key == NULL && (o.csr == NULL || (o.signer_cert == NULL && o.signer_self_key == NULL))) {
        fprintf(stderr, "scepreq: build: --key is required\n");
        goto usage;
    }
    if (!o.no_envelope && o.recipient == NULL) {
        fprintf(stderr, "scepreq: build: --recipient is required (or --no-envelope)\n");
        goto usage;
    }

    if (o.key != NULL && (key = load_key(o.key)) == NULL)
        goto done;

    /* The CSR: existing bytes as-is, or a fresh one. */
    if (o.csr != NULL) {
        const unsigned char *p;

        if (!load_csr_der(o.csr, &csr_der, &csr_len))
            goto done;
        p = csr_der;
        if ((req = d2i_X509_REQ(NULL, &p, csr_len)) == NULL) {
            fprintf(stderr, "scepreq: warning: %s does not parse as a CSR; sending it anyway\n",
                    o.csr);
            ERR_clear_error();
        }
    } else {
        int n;

        cp.subject = o.subject;
        cp.challenge = o.challenge;
        cp.challenge_utf8 = o.challenge_utf8;
        cp.san_dns = o.san;
        cp.n_san = o.n_san;
        cp.extra_attrs = o.csr_extra_attrs;
        if ((cp.md = digest_get(o.csr_digest)) == NULL || (req = csr_build(key, &cp)) == NULL)
            goto done;
        if ((n = i2d_X509_REQ(req, &csr_der)) <= 0)
            goto done;
        csr_len = n;
    }

    /* transactionID and senderNonce. */
    if (o.tid == NULL) {
        EVP_PKEY *pub = req != NULL ? X509_REQ_get0_pubkey(req) : key;

        if (pub == NULL) {
            fprintf(stderr, "scepreq: no public key for the default transactionID; use --tid\n");
            goto done;
        }
        if ((tid = tid_from_pubkey(pub)) == NULL)
            goto done;
    } else if ((tid = OPENSSL_strdup(o.tid)) == NULL) {
        goto done;
    }
    if (o.nonce != NULL) {
        if (!hex_decode(o.nonce, &nonce, &nonce_len))
            goto usage;
    } else {
        if ((nonce = OPENSSL_malloc(NONCE_LEN)) == NULL || RAND_bytes(nonce, NONCE_LEN) != 1)
            goto done;
        nonce_len = NONCE_LEN;
    }

    /* Signer: existing cert (renewal) or a temporary self-signed one. */
    if (o.signer_cert != NULL) {
        if ((signer_certs = load_certs(o.signer_cert)) == NULL
            || (signer_key = load_key(o.signer_key)) == NULL)
            goto done;
        signer = sk_X509_value(signer_certs, 0);
        if (!X509_up_ref(signer)) {
            signer = NULL;
            goto done;
        }
    } else {
        if (o.signer_self_key != NULL) {
            if ((signer_key = load_key(o.signer_self_key)) == NULL)
                goto done;
        } else if (EVP_PKEY_up_ref(key)) {
            signer_key = key;
        } else {
            goto done;
        }
        if ((signer = signer_selfsigned(signer_key, DEFAULT_SIGNER_DN)) == NULL)
            goto done;
    }
    if (o.signer_out != NULL) {
        BIO *bio = BIO_new_file(o.signer_out, "w");
        int ok = bio != NULL && PEM_write_bio_X509(bio, signer);

        BIO_free(bio);
        if (!ok) {
            fprintf(stderr, "scepreq: cannot write %s\n", o.signer_out);
            goto done;
        }
    }

    /* Plaintext, then the envelope around it (unless --no-envelope). */
    if (!build_plaintext(&o, csr_der, csr_len, req, &pt, &pt_len))
        goto done;
    if (o.no_envelope) {
        content = pt;
        content_len = (int)pt_len;
    } else {
        if ((rcpt_all = load_certs(o.recipient)) == NULL
            || (rcpt = recipients_select(rcpt_all, o.all_recipients)) == NULL
            || (cipher = cipher_fetch(o.cipher)) == NULL)
            goto done;
        /* --extra-recipients: more RecipientInfos, none of them the server's */
        if (o.extra_recipients > 0) {
            int first;

            first = extra_owned != NULL ? sk_X509_num(extra_owned) : 0;
            if (!extra_certs_make(&extra_owned, signer_key, "extra recipient",
                                  o.extra_recipients))
                goto done;
            for (i = first; i < sk_X509_num(extra_owned); i++)
                if (!sk_X509_push(rcpt, sk_X509_value(extra_owned, i)))
                    goto done;
        }
        if (!envelope_build(pt, (int)pt_len, rcpt, cipher, &env, &env_len))
            goto done;
        content = env;
        content_len = env_len;
    }
    /* --tamper iv|padding: the envelope built here, or the one given as
     * --payload with --no-envelope (someone else's, replayed) */
    if (o.tamper & (TAMPER_IV | TAMPER_PADDING)) {
        if (o.no_envelope) {
            env = pt;
            env_len = (int)pt_len;
            pt = NULL;
        }
        if (!envelope_tamper(&env, &env_len, o.tamper))
            goto done;
        content = env;
        content_len = env_len;
    }

    /* --extra-certs: the signer's own chain (renewal) plus unrelated certs */
    if (o.extra_certs > 0) {
        int first;

        if ((chain = sk_X509_new_null()) == NULL)
            goto done;
        for (i = 0; i < sk_X509_num(signer_certs); i++)
            if (!sk_X509_push(chain, sk_X509_value(signer_certs, i)))
                goto done;
        first = extra_owned != NULL ? sk_X509_num(extra_owned) : 0;
        if (!extra_certs_make(&extra_owned, signer_key, "extra cert", o.extra_certs))
            goto done;
        for (i = first; i < sk_X509_num(extra_owned); i++)
            if (!sk_X509_push(chain, sk_X509_value(extra_owned, i)))
                goto done;
    }

    if ((attrs = OPENSSL_zalloc(sizeof(*attrs) * (size_t)(3 + o.extra_attrs))) == NULL)
        goto done;

    if (!o.omit_type) {
        attrs[nattrs].nid = nid_messageType;
        attrs[nattrs].type = V_ASN1_PRINTABLESTRING;
        attrs[nattrs].data = (const unsigned char *)o.type;
        attrs[nattrs++].len = (int)strlen(o.type);
    }
    if (!o.omit_tid) {
        attrs[nattrs].nid = nid_transactionID;
        attrs[nattrs].type = V_ASN1_PRINTABLESTRING;
        attrs[nattrs].data = (const unsigned char *)tid;
        attrs[nattrs++].len = (int)strlen(tid);
    }
    if (!o.omit_nonce) {
        attrs[nattrs].nid = nid_senderNonce;
        attrs[nattrs].type = V_ASN1_OCTET_STRING;
        attrs[nattrs].data = nonce;
        attrs[nattrs++].len = (int)nonce_len;
    }
    /* --extra-attrs: private OIDs 1.3.6.1.4.1.55555.1.i, one UTF8String each */
    for (i = 0; i < o.extra_attrs; i++) {
        char oid[64], sn[32];

        snprintf(oid, sizeof(oid), "1.3.6.1.4.1.55555.1.%d", i + 1);
        snprintf(sn, sizeof(sn), "scepreqExtra%d", i + 1);
        if ((attrs[nattrs].nid = register_oid(oid, sn, sn)) == NID_undef)
            goto done;
        attrs[nattrs].type = V_ASN1_UTF8STRING;
        attrs[nattrs].data = (const unsigned char *)"scepreq extra attribute";
        attrs[nattrs++].len = (int)strlen("scepreq extra attribute");
    }
    if ((md = digest_get(o.digest)) == NULL)
        goto done;
    if (!pkimessage_sign(content, content_len, signer, signer_key,
                         chain != NULL ? chain : signer_certs, md, attrs, nattrs,
                         o.tamper, &msg, &msg_len))
        goto done;
    if (!write_file(o.out, msg, msg_len))
        goto done;
    if (o.print) {
        if ((nonce_hex = hex_encode(nonce, (size_t)nonce_len)) == NULL)
            goto done;
        printf("tid=%s\nnonce=%s\n", tid, nonce_hex);
        print_counts(msg, msg_len, o.no_envelope ? NULL : env, env_len);
    }
    rc = 0;
    goto done;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
usage:
    usage();
    rc = 2;
done:
    OPENSSL_free(o.san);
    EVP_PKEY_free(key);
    EVP_PKEY_free(signer_key);
    X509_free(signer);
    X509_REQ_free(req);
    sk_X509_pop_free(signer_certs, X509_free);
    sk_X509_free(rcpt);
    sk_X509_pop_free(rcpt_all, X509_free);
    sk_X509_free(chain);
    sk_X509_pop_free(extra_owned, X509_free);
    OPENSSL_free(attrs);
    EVP_CIPHER_free(cipher);
    OPENSSL_free(csr_der);
    OPENSSL_free(pt);
    OPENSSL_free(env);
    OPENSSL_free(msg);
    OPENSSL_free(nonce);
    OPENSSL_free(tid);
    OPENSSL_free(nonce_hex);
    return rc;
}

/* Prints key=value with control characters escaped as \xNN, so each field
 * stays on one line whatever the server sent. */
static void print_str(const char *key, const ASN1_STRING *s)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int i, n = ASN1_STRING_length(s);

    printf("%s=", key);
    for (i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02X", p[i]);
        else
            putchar(p[i]);
    }
    putchar('\n');
}

static int print_hex(const char *key, const ASN1_STRING *s)
{
    char *hex = hex_encode(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));

    if (hex == NULL)
        return 0;
    printf("%s=%s\n", key, hex);
    OPENSSL_free(hex);
    return 1;
}

static int cmd_parse(int argc, char **argv)
{
    const char *in = NULL, *verify = NULL, *keyfile = NULL, *certfile = NULL;
    const char *out_cert = NULL, *out_crl = NULL, *expect_nonce = NULL;
    struct scep_reply r;
    int have_reply = 0, success, i, rc = 2;
    unsigned char *der = NULL, *want = NULL, *pt = NULL;
    long der_len = 0, want_len = 0, pt_len = 0;
    STACK_OF(X509) *trust = NULL, *mycert = NULL, *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    X509_STORE *store = NULL;
    EVP_PKEY *key = NULL;
    char *subj = NULL, cipher[80];

    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (OPT("-i") || OPT("--in")) TAKE(in);
        else if (OPT("--verify")) TAKE(verify);
        else if (OPT("--key")) TAKE(keyfile);
        else if (OPT("--signer-cert")) TAKE(certfile);
        else if (OPT("--out-cert")) TAKE(out_cert);
        else if (OPT("--out-crl")) TAKE(out_crl);
        else if (OPT("--expect-nonce")) TAKE(expect_nonce);
        else {
            fprintf(stderr, "scepreq: parse: unknown option %s\n", a);
            goto usage;
        }
    }
    if (in == NULL || verify == NULL) {
        fprintf(stderr, "scepreq: parse: -i and --verify are required\n");
        goto usage;
    }
    if (expect_nonce != NULL && !hex_decode(expect_nonce, &want, &want_len))
        goto usage;

    if ((trust = load_certs(verify)) == NULL || (store = X509_STORE_new()) == NULL)
        goto done;
    for (i = 0; i < sk_X509_num(trust); i++)
        if (!X509_STORE_add_cert(store, sk_X509_value(trust, i)))
            goto done;
    /* Trust what GetCACert returned as-is: any of those certs may anchor
     * the chain (e.g. only the RA cert), and purpose/KU are not checked. */
    if (!X509_STORE_set_purpose(store, X509_PURPOSE_ANY)
        || !X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN))
        goto done;

    if (!read_file(in, &der, &der_len))
        goto done;
    if (!reply_parse(der, der_len, store, &r))
        goto done;
    have_reply = 1;

    printf("verified=%d\n", r.verified);
    if (r.message_type) print_str("messageType", r.message_type);
    if (r.pki_status) print_str("pkiStatus", r.pki_status);
    if (r.fail_info) print_str("failInfo", r.fail_info);
    if (r.fail_info_text) print_str("failInfoText", r.fail_info_text);
    if (r.tid) {
        print_str("transactionID", r.tid);
        printf("transactionIDType=%s\n", ASN1_tag2str(r.tid_type));
    }
    if (r.sender_nonce && !print_hex("senderNonce", r.sender_nonce))
        goto done;
    if (r.recipient_nonce && !print_hex("recipientNonce", r.recipient_nonce))
        goto done;
    printf("digest=%s\n", r.digest);
    if (r.econtent)
        printf("eContentLength=%d\n", ASN1_STRING_length(r.econtent));
    else
        printf("eContentLength=absent\n");
    if (r.signer) {
        if ((subj = name_rfc2253(X509_get_subject_name(r.signer))) == NULL)
            goto done;
        printf("signerSubject=%s\n", subj);
    }
    if (want != NULL) {
        const ASN1_STRING *rn = r.recipient_nonce;

        printf("nonceMatch=%d\n", rn != NULL && ASN1_STRING_length(rn) == want_len
                                      && memcmp(ASN1_STRING_get0_data(rn), want,
                                                (size_t)want_len) == 0);
    }
    fflush(stdout);

    if (!r.verified) {
        rc = 1;
        goto done;
    }

    /* SUCCESS: open the envelope and list the bundle. */
    success = r.pki_status != NULL && ASN1_STRING_length(r.pki_status) == 1
              && ASN1_STRING_get0_data(r.pki_status)[0] == '0';
    if (success && (keyfile == NULL) != (certfile == NULL))
        fprintf(stderr, "scepreq: decrypting needs both --key and --signer-cert\n");
    if (success && keyfile != NULL && certfile != NULL) {
        if (r.econtent == NULL || ASN1_STRING_length(r.econtent) == 0) {
            fprintf(stderr, "scepreq: SUCCESS reply without EnvelopedData\n");
            goto done;
        }
        if ((key = load_key(keyfile)) == NULL || (mycert = load_certs(certfile)) == NULL)
            goto done;
        if (!envelope_open(ASN1_STRING_get0_data(r.econtent), ASN1_STRING_length(r.econtent), key,
                           sk_X509_value(mycert, 0), cipher, sizeof(cipher), &pt, &pt_len))
            goto done;
        printf("cipher=%s\n", cipher);
        if (!bundle_parse(pt, pt_len, &certs, &crls))
            goto done;
        printf("certCount=%d\n", sk_X509_num(certs));
        for (i = 0; i < sk_X509_num(certs); i++) {
            OPENSSL_free(subj);
            if ((subj = name_rfc2253(X509_get_subject_name(sk_X509_value(certs, i)))) == NULL)
                goto done;
            printf("cert%d=%s\n", i, subj);
        }
        printf("crlCount=%d\n", sk_X509_CRL_num(crls));
        fflush(stdout);
        if (out_cert != NULL) {
            if (sk_X509_num(certs) == 0) {
                fprintf(stderr, "scepreq: no certificate to write to %s\n", out_cert);
                goto done;
            }
            if (!write_certs_pem(out_cert, certs, 1))
                goto done;
        }
        if (out_crl != NULL && !write_crls_pem(out_crl, crls))
            goto done;
    }
    rc = 0;
    goto done;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
usage:
    usage();
done:
    if (rc == 2)
        ERR_print_errors_fp(stderr);
    if (have_reply)
        reply_free(&r);
    OPENSSL_free(der);
    OPENSSL_free(want);
    OPENSSL_free(pt);
    OPENSSL_free(subj);
    sk_X509_pop_free(trust, X509_free);
    sk_X509_pop_free(mycert, X509_free);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    X509_STORE_free(store);
    EVP_PKEY_free(key);
    return rc;
}

static int cmd_selfsigned(int argc, char **argv)
{
    const char *keyfile = NULL, *out = NULL, *subject = DEFAULT_SIGNER_DN;
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    BIO *bio = NULL;
    int i, rc = 1;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (OPT("--key")) TAKE(keyfile);
        else if (OPT("-o") || OPT("--out")) TAKE(out);
        else if (OPT("--subject")) TAKE(subject);
        else {
            fprintf(stderr, "scepreq: selfsigned: unknown option %s\n", a);
            goto usage;
        }
    }
    if (keyfile == NULL || out == NULL) {
        fprintf(stderr, "scepreq: selfsigned: --key and -o are required\n");
        goto usage;
    }
    if ((key = load_key(keyfile)) == NULL || (x = signer_selfsigned(key, subject)) == NULL)
        goto done;
    if ((bio = BIO_new_file(out, "w")) == NULL || !PEM_write_bio_X509(bio, x)) {
        fprintf(stderr, "scepreq: cannot write %s\n", out);
        goto done;
    }
    rc = 0;
    goto done;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
usage:
    usage();
    rc = 2;
done:
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 2;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (!scep_init())
        goto done;
    if (strcmp(argv[1], "build") == 0)
        rc = cmd_build(argc - 2, argv + 2);
    else if (strcmp(argv[1], "parse") == 0)
        rc = cmd_parse(argc - 2, argv + 2);
    else if (strcmp(argv[1], "selfsigned") == 0)
        rc = cmd_selfsigned(argc - 2, argv + 2);
    else {
        fprintf(stderr, "scepreq: unknown command %s\n", argv[1]);
        usage();
    }
done:
    scep_cleanup();
    return rc;
}

#endif /* SCEPREQ_NO_MAIN */
