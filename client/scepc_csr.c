/*
 * scepc_csr.c: the PKCS#10 request, the self-signed signer certificate,
 * the default transactionID.
 * Part of the independent SCEP client library (scepc.h).
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "scepc.h"

#define SCEPC_SIGNER_VALIDITY 3600L /* seconds; same as micromdm's temporary signer */

/* True if every byte is in the ASN.1 PrintableString repertoire. */
static int is_printable_string(const char *s)
{
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && strchr(" '()+,-./:=?", *s) == NULL)
            return 0;
    }
    return 1;
}

/* The challengePassword and cp->extra_attrs private attributes. */
static int csr_attrs(X509_REQ *req, const struct scepc_csr_params *cp)
{
    int i;

    if (cp->challenge != NULL) {
        /* Clients send PrintableString when they can (micromdm, sscep,
         * certmonger); UTF8String is what RFC 8894 allows in addition. */
        int type = (!cp->challenge_utf8 && is_printable_string(cp->challenge))
                       ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING;

        if (!X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, type,
                                       (const unsigned char *)cp->challenge,
                                       (int)strlen(cp->challenge)))
            return 0;
    }
    for (i = 0; i < cp->extra_attrs; i++) {
        char oid[48];

        snprintf(oid, sizeof(oid), "1.3.6.1.4.1.55555.2.%d", i + 1);
        if (!X509_REQ_add1_attr_by_txt(req, oid, V_ASN1_UTF8STRING,
                                       (const unsigned char *)"x", 1))
            return 0;
    }
    return 1;
}

/* A subjectAltName of dNSNames among the requested extensions. */
static int csr_san(X509_REQ *req, const char *const *dns, int n)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *gn = NULL;
    ASN1_IA5STRING *ia5 = NULL;
    X509_EXTENSION *ext = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    int i, ok = 0;

    if (gens == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        if ((gn = GENERAL_NAME_new()) == NULL || (ia5 = ASN1_IA5STRING_new()) == NULL
            || !ASN1_STRING_set(ia5, dns[i], -1))
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
    ok = X509_REQ_add_extensions(req, exts);
done:
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(gens);
    X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return ok;
}

/* Builds and self-signs a PKCS#10 request for key. */
X509_REQ *scepc_csr_build(EVP_PKEY *key, const struct scepc_csr_params *cp)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    int ok;

    ok = req != NULL && X509_REQ_set_version(req, X509_REQ_VERSION_1)
         && (name = scepc_dn_parse(cp->subject)) != NULL && X509_REQ_set_subject_name(req, name)
         && X509_REQ_set_pubkey(req, key) && csr_attrs(req, cp)
         && (cp->n_san == 0 || csr_san(req, cp->san_dns, cp->n_san))
         && X509_REQ_sign(req, key, cp->md);
    X509_NAME_free(name);
    if (!ok) {
        scepc_report("cannot build CSR");
        X509_REQ_free(req);
        req = NULL;
    }
    return req;
}

/* A random serial of exactly 16 bytes, positive (DER needs no leading zero). */
static int serial_random(X509 *x)
{
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    int ok;

    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return 0;
    serial[0] &= 0x7f; /* keep it positive so DER needs no leading zero */
    serial[0] |= 0x40; /* and exactly 16 bytes long */
    ok = (bn = BN_bin2bn(serial, sizeof(serial), NULL)) != NULL
         && (sn = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_set_serialNumber(x, sn);
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    return ok;
}

/* Subject and issuer: the one name, self-signed. */
static int names_self(X509 *x, const char *subject)
{
    X509_NAME *name = scepc_dn_parse(subject);
    int ok = name != NULL && X509_set_subject_name(x, name) && X509_set_issuer_name(x, name);

    X509_NAME_free(name);
    return ok;
}

/* keyUsage digitalSignature and keyEncipherment (critical). */
static int ku_sign_encipher(X509 *x)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    int ok = ku != NULL && ASN1_BIT_STRING_set_bit(ku, 0, 1) && ASN1_BIT_STRING_set_bit(ku, 2, 1)
             && X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT);

    ASN1_BIT_STRING_free(ku);
    return ok;
}

/* The temporary signer certificate of a first enrolment: self-signed, v3,
 * random 16-byte serial, valid SCEPC_SIGNER_VALIDITY seconds from now, KU
 * digitalSignature+keyEncipherment (the server encrypts the reply to it). */
X509 *scepc_signer_selfsigned(EVP_PKEY *key, const char *subject)
{
    X509 *x = X509_new();

    if (x != NULL && X509_set_version(x, X509_VERSION_3) && serial_random(x)
        && names_self(x, subject) && X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(x), SCEPC_SIGNER_VALIDITY) != NULL
        && X509_set_pubkey(x, key) && ku_sign_encipher(x) && X509_sign(x, key, EVP_sha256()))
        return x;
    scepc_report("cannot make self-signed signer certificate");
    X509_free(x);
    return NULL;
}

/* n unrelated self-signed certificates of key ("/CN=scepreq <what> i"),
 * pushed onto *st (created if NULL); the stack owns them. */
int scepc_selfsigned_push(STACK_OF(X509) **st, EVP_PKEY *key, const char *what, int n)
{
    char dn[64];
    X509 *x;
    int i;

    if (*st == NULL && (*st = sk_X509_new_null()) == NULL)
        return 0;
    for (i = 0; i < n; i++) {
        snprintf(dn, sizeof(dn), "/CN=scepreq %s %d", what, i + 1);
        if ((x = scepc_signer_selfsigned(key, dn)) == NULL)
            return 0;
        if (!sk_X509_push(*st, x)) {
            X509_free(x);
            return 0;
        }
    }
    return 1;
}

/* Default transactionID: uppercase hex SHA-256 of the DER
 * SubjectPublicKeyInfo.  OPENSSL_malloc'd. */
char *scepc_tid_from_pubkey(EVP_PKEY *pub)
{
    unsigned char *spki = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int len = i2d_PUBKEY(pub, &spki);
    char *tid = NULL;

    if (len > 0 && EVP_Digest(spki, (size_t)len, md, &mdlen, EVP_sha256(), NULL))
        tid = scepc_hex_encode(md, mdlen);
    OPENSSL_free(spki);
    return tid;
}
