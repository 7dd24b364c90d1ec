/*
 * scepc_util.c: initialisation (providers, the SCEP OIDs), errors, files,
 * hex, names, algorithms.
 * Part of the independent SCEP client library (scepc.h).
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/provider.h>

#include "scepc.h"

/* ------------------------------------------------------------------------ */
/* Library initialisation: providers and SCEP attribute OIDs                 */
/* ------------------------------------------------------------------------ */

static OSSL_PROVIDER *prov_legacy;
static OSSL_PROVIDER *prov_default;

struct scepc_nids scepc_nid = {
    NID_undef, NID_undef, NID_undef, NID_undef, NID_undef, NID_undef, NID_undef
};

/* Returns the NID for a dotted OID, creating it only if OpenSSL (or an
 * earlier call) does not know it yet, so that repeated initialisation and a
 * future OpenSSL that ships these OIDs both work. */
int scepc_register_oid(const char *oid, const char *sn, const char *ln)
{
    int nid = OBJ_txt2nid(oid);

    if (nid == NID_undef)
        nid = OBJ_create(oid, sn, ln);
    return nid;
}

/* Loads providers and registers OIDs.  Returns 1 on success. */
int scepc_init(void)
{
    static const struct {
        const char *oid, *sn, *ln;
        int *nid;
    } oids[] = {
        { "2.16.840.1.113733.1.9.2", "messageType", "SCEP messageType",
          &scepc_nid.message_type },
        { "2.16.840.1.113733.1.9.3", "pkiStatus", "SCEP pkiStatus", &scepc_nid.pki_status },
        { "2.16.840.1.113733.1.9.4", "failInfo", "SCEP failInfo", &scepc_nid.fail_info },
        { "2.16.840.1.113733.1.9.5", "senderNonce", "SCEP senderNonce",
          &scepc_nid.sender_nonce },
        { "2.16.840.1.113733.1.9.6", "recipientNonce", "SCEP recipientNonce",
          &scepc_nid.recipient_nonce },
        { "2.16.840.1.113733.1.9.7", "transactionID", "SCEP transactionID",
          &scepc_nid.transaction_id },
        { "1.3.6.1.5.5.7.24.1", "failInfoText", "SCEP failInfoText",
          &scepc_nid.fail_info_text },
    };
    size_t i;
    int ok = 1;

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
    for (i = 0; i < sizeof(oids) / sizeof(oids[0]); i++) {
        *oids[i].nid = scepc_register_oid(oids[i].oid, oids[i].sn, oids[i].ln);
        if (*oids[i].nid == NID_undef)
            ok = 0;
    }
    if (!ok)
        scepc_report("cannot register SCEP OIDs");
    return ok;
}

void scepc_cleanup(void)
{
    if (prov_legacy != NULL)
        OSSL_PROVIDER_unload(prov_legacy);
    if (prov_default != NULL)
        OSSL_PROVIDER_unload(prov_default);
    prov_legacy = prov_default = NULL;
}

/* ------------------------------------------------------------------------ */
/* Small helpers: errors, files, hex, names                                  */
/* ------------------------------------------------------------------------ */

void scepc_report(const char *what)
{
    fprintf(stderr, "scepreq: %s\n", what);
    ERR_print_errors_fp(stderr);
}

/* Reads a whole file ("-" = stdin) into an OPENSSL_malloc'd buffer. */
int scepc_read_file(const char *path, unsigned char **buf, long *len)
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
int scepc_write_file(const char *path, const unsigned char *buf, long len)
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
char *scepc_hex_encode(const unsigned char *p, size_t n)
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

static int hex_digit(int c)
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
int scepc_hex_decode(const char *s, unsigned char **out, long *outlen)
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
char *scepc_name_rfc2253(const X509_NAME *name)
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
void scepc_algo_name(const ASN1_OBJECT *obj, char *buf, int buflen)
{
    char *p;

    if (obj == NULL || OBJ_obj2txt(buf, buflen, obj, 0) <= 0)
        snprintf(buf, (size_t)buflen, "unknown");
    for (p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

/*
 * Parses an openssl "-subj" style name: "/type=value/type=value+type=value".
 * A backslash escapes the next character; "+" joins a multi-valued RDN.
 * Values are added as UTF-8 and OpenSSL picks the string type.
 */
X509_NAME *scepc_dn_parse(const char *s)
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
/* Maps the CLI cipher keywords; anything else is passed to OpenSSL as a
 * cipher name so unsupported algorithms (rc2-cbc, bf-cbc) can be sent. */
EVP_CIPHER *scepc_cipher_fetch(const char *kw)
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

const EVP_MD *scepc_digest_get(const char *name)
{
    const EVP_MD *md = EVP_get_digestbyname(name);

    if (md == NULL)
        fprintf(stderr, "scepreq: unknown digest '%s'\n", name);
    return md;
}
