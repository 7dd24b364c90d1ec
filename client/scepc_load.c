/*
 * scepc_load.c: keys, certificates and CSRs from files; certificates and
 * CRLs to files; the trust store for replies.
 * Part of the independent SCEP client library (scepc.h).
 */

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "scepc.h"

EVP_PKEY *scepc_load_key(const char *path)
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
STACK_OF(X509) *scepc_load_certs(const char *path)
{
    STACK_OF(X509) *certs = NULL;
    unsigned char *buf = NULL;
    const unsigned char *p;
    long len;
    BIO *bio = NULL;
    X509 *x = NULL;
    CMS_ContentInfo *cms = NULL;
    int ok = 0;

    if (!scepc_read_file(path, &buf, &len))
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

int scepc_write_certs_pem(const char *path, STACK_OF(X509) *certs, int count)
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

int scepc_write_crls_pem(const char *path, STACK_OF(X509_CRL) *crls)
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

/* True if the buffer contains a PEM "-----BEGIN" line anywhere. */
static int has_pem_header(const unsigned char *buf, long n)
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
int scepc_load_csr_der(const char *path, unsigned char **der, long *len)
{
    unsigned char *buf = NULL;
    long n;
    BIO *bio = NULL;
    int ok = 0;

    *der = NULL;
    if (!scepc_read_file(path, &buf, &n))
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

int scepc_write_cert_pem(const char *path, X509 *cert)
{
    STACK_OF(X509) *one = sk_X509_new_null();
    int ok = one != NULL && sk_X509_push(one, cert) && scepc_write_certs_pem(path, one, 1);

    sk_X509_free(one);
    return ok;
}

X509_STORE *scepc_trust_store(STACK_OF(X509) *certs)
{
    X509_STORE *store = X509_STORE_new();
    int i, ok = store != NULL;

    for (i = 0; ok && i < sk_X509_num(certs); i++)
        ok = X509_STORE_add_cert(store, sk_X509_value(certs, i));
    /* Trust what GetCACert returned as-is: any of those certs may anchor
     * the chain (e.g. only the RA cert), and purpose/KU are not checked. */
    ok = ok && X509_STORE_set_purpose(store, X509_PURPOSE_ANY)
         && X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    if (!ok) {
        X509_STORE_free(store);
        store = NULL;
    }
    return store;
}
