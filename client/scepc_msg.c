/*
 * scepc_msg.c: the CMS messages of a request: IssuerAndSerialNumber and
 * IssuerAndSubject, the EnvelopedData, the signed pkiMessage, and the ways
 * to tamper with them.
 * Part of the independent SCEP client library (scepc.h).
 */

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "scepc.h"

void scepc_attr_add(struct scepc_attr *attrs, int *n, int nid, int type, const void *data,
                    int len)
{
    attrs[*n].nid = nid;
    attrs[*n].type = type;
    attrs[*n].data = data;
    attrs[*n].len = len;
    (*n)++;
}

/* DER SEQUENCE { a, b } from two already DER-encoded elements. */
static int der_sequence2(const unsigned char *a, int alen, const unsigned char *b, int blen,
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
int scepc_der_issuer_and_serial(X509 *cert, unsigned char **out, int *outlen)
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
int scepc_der_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
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
STACK_OF(X509) *scepc_recipients_select(STACK_OF(X509) *all, int everyone)
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

/* The end of both builders: cms DER-encoded into *out (when ok so far),
 * cms and in freed, "cannot build WHAT" said on failure. */
static int cms_finish(int ok, CMS_ContentInfo *cms, BIO *in, const char *what,
                      unsigned char **out, int *outlen)
{
    char msg[64];

    if (ok) {
        *outlen = i2d_CMS_ContentInfo(cms, out);
        ok = *outlen > 0;
    }
    if (!ok) {
        snprintf(msg, sizeof(msg), "cannot build %s", what);
        scepc_report(msg);
    }
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return ok;
}

/* EnvelopedData (KeyTransRecipientInfo, RSA PKCS#1 v1.5) of the plaintext,
 * DER-encoded into *out. */
int scepc_envelope_build(const unsigned char *pt, int ptlen, STACK_OF(X509) *recips,
                         const EVP_CIPHER *cipher, unsigned char **out, int *outlen)
{
    BIO *in = BIO_new_mem_buf(ptlen > 0 ? pt : (const unsigned char *)"", ptlen);
    CMS_ContentInfo *env = NULL;

    *out = NULL;
    if (in != NULL)
        env = CMS_encrypt(recips, in, cipher, CMS_BINARY);
    return cms_finish(env != NULL, env, in, "EnvelopedData", out, outlen);
}

/* Tampers with an EnvelopedData (DER, replaced in place): SCEPC_TAMPER_IV flips
 * the first IV byte (the plaintext's first byte changes, the padding stays
 * valid); SCEPC_TAMPER_PADDING flips the top bit of the byte that the last
 * plaintext byte (a padding length, 1..16) depends on, which makes the
 * padding invalid whatever the plaintext. */
int scepc_envelope_tamper(unsigned char **der, int *len, unsigned what)
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
    if (what & SCEPC_TAMPER_IV)
        iv->data[0] ^= 0x01;
    if (what & SCEPC_TAMPER_PADDING) {
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
static int flip_last_byte(ASN1_STRING *s)
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
int scepc_pkimessage_sign(const unsigned char *content, int clen, X509 *cert, EVP_PKEY *key,
                          STACK_OF(X509) *chain, const EVP_MD *md,
                          const struct scepc_attr *attrs, int nattrs, unsigned tamper,
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
    if ((tamper & SCEPC_TAMPER_SIGNATURE) && !flip_last_byte(CMS_SignerInfo_get0_signature(si)))
        goto done;
    if (tamper & SCEPC_TAMPER_CONTENT) {
        pos = CMS_get0_content(cms);
        if (pos == NULL || !flip_last_byte(*pos))
            goto done;
    }
    ok = 1;
done:
    return cms_finish(ok, cms, in, "SignedData", out, outlen);
}

