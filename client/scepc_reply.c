/*
 * scepc_reply.c: the CertRep (its signature and attributes), the
 * EnvelopedData inside it, the certs-only bundle inside that.
 * Part of the independent SCEP client library (scepc.h).
 */

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "scepc.h"

void scepc_reply_free(struct scepc_reply *r)
{
    ASN1_STRING **values[] = {
        &r->message_type, &r->pki_status, &r->fail_info, &r->fail_info_text,
        &r->tid, &r->sender_nonce, &r->recipient_nonce, &r->econtent,
    };
    size_t i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        ASN1_STRING_free(*values[i]);
    X509_free(r->signer);
    memset(r, 0, sizeof(*r));
}

/* A DER ContentInfo of the type nid, or NULL after saying "WHAT is not a
 * CMS ContentInfo" or "WHAT is not TYPE". */
static CMS_ContentInfo *cms_decode(const unsigned char *der, long len, int nid, const char *what,
                                   const char *type)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, len);

    if (cms == NULL) {
        fprintf(stderr, "scepreq: %s is not a CMS ContentInfo\n", what);
    } else if (OBJ_obj2nid(CMS_get0_type(cms)) != nid) {
        fprintf(stderr, "scepreq: %s is not %s\n", what, type);
        CMS_ContentInfo_free(cms);
        cms = NULL;
    }
    return cms;
}

/* Copy of the first value of a signed attribute, with its ASN.1 type. */
static ASN1_STRING *si_attr(CMS_SignerInfo *si, int nid, int *type)
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
int scepc_reply_parse(const unsigned char *der, long len, X509_STORE *store,
                      struct scepc_reply *r)
{
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
    if ((cms = cms_decode(der, len, NID_pkcs7_signed, "reply", "SignedData")) == NULL)
        goto done;
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
    scepc_algo_name(dobj, r->digest, sizeof(r->digest));

    r->message_type = si_attr(si, scepc_nid.message_type, NULL);
    r->pki_status = si_attr(si, scepc_nid.pki_status, NULL);
    r->fail_info = si_attr(si, scepc_nid.fail_info, NULL);
    r->fail_info_text = si_attr(si, scepc_nid.fail_info_text, NULL);
    r->tid = si_attr(si, scepc_nid.transaction_id, &r->tid_type);
    r->sender_nonce = si_attr(si, scepc_nid.sender_nonce, NULL);
    r->recipient_nonce = si_attr(si, scepc_nid.recipient_nonce, NULL);

    pos = CMS_get0_content(cms);
    if (pos != NULL && *pos != NULL && (r->econtent = ASN1_OCTET_STRING_dup(*pos)) == NULL)
        goto done;

    r->verified = CMS_verify(cms, NULL, store, NULL, NULL, CMS_BINARY) > 0;
    if (!r->verified)
        scepc_report("CertRep signature verification failed");
    ok = 1;
done:
    if (!ok)
        scepc_reply_free(r);
    CMS_ContentInfo_free(cms);
    return ok;
}

/* Reads a DER TLV header at *p (bounded by end), leaving *p at the contents.
 * Fails on errors, indefinite lengths (not DER), or an unexpected tag. */
static int der_enter(const unsigned char **p, const unsigned char *end, int tag, int cls,
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
static void envelope_cipher_name(const unsigned char *der, long len, char *buf, int buflen)
{
    enum { INTO, HEAD, OVER, OPTIONAL }; /* what to do with each element in turn */
    static const struct {
        int tag, cls, step;
    } path[] = {
        { V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, INTO },    /* ContentInfo */
        { V_ASN1_OBJECT, V_ASN1_UNIVERSAL, OVER },      /* contentType */
        { 0, V_ASN1_CONTEXT_SPECIFIC, HEAD },           /* [0] content */
        { V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, INTO },    /* EnvelopedData */
        { V_ASN1_INTEGER, V_ASN1_UNIVERSAL, OVER },     /* version */
        { 0, V_ASN1_CONTEXT_SPECIFIC, OPTIONAL },       /* [0] originatorInfo */
        { V_ASN1_SET, V_ASN1_UNIVERSAL, OVER },         /* recipientInfos */
        { V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, INTO },    /* encryptedContentInfo */
        { V_ASN1_OBJECT, V_ASN1_UNIVERSAL, OVER },      /* contentType */
        { V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, INTO },    /* contentEncryptionAlgorithm */
    };
    const unsigned char *p = der, *end = der + len, *q;
    ASN1_OBJECT *obj = NULL;
    size_t i;
    long l;

    for (i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
        q = p;
        if (!der_enter(&q, end, path[i].tag, path[i].cls, &l)) {
            if (path[i].step == OPTIONAL)
                continue;
            goto done;
        }
        p = q;
        if (path[i].step == INTO)
            end = p + l;
        else if (path[i].step != HEAD)
            p += l;
    }
    obj = d2i_ASN1_OBJECT(NULL, &p, end - p);
done:
    ERR_clear_error();
    scepc_algo_name(obj, buf, buflen);
    ASN1_OBJECT_free(obj);
}

/*
 * Decrypts a DER EnvelopedData with the requester key; cert (the signer
 * cert of the request) selects the RecipientInfo.  Returns the plaintext
 * (OPENSSL_malloc'd) and the content-encryption algorithm name.
 */
int scepc_envelope_open(const unsigned char *der, long len, EVP_PKEY *key, X509 *cert,
                        char *cipher, int cipherlen, unsigned char **pt, long *ptlen)
{
    CMS_ContentInfo *env = NULL;
    BIO *out = NULL;
    char *data;
    long n;
    int ok = 0;

    *pt = NULL;
    snprintf(cipher, (size_t)cipherlen, "unknown");
    if ((env = cms_decode(der, len, NID_pkcs7_enveloped, "eContent", "EnvelopedData")) == NULL)
        goto done;
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
int scepc_bundle_parse(const unsigned char *der, long len, STACK_OF(X509) **certs,
                       STACK_OF(X509_CRL) **crls)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = NULL;
    int ok = 0;

    *certs = NULL;
    *crls = NULL;
    if ((cms = d2i_CMS_ContentInfo(NULL, &p, len)) == NULL
        || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        scepc_report("decrypted content is not a SignedData bundle");
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
