/* mod_scep core: pkiMessage parsing and CertRep construction. */
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "scep_msg.h"
#include "scep_ossl.h"
#include "scep_util.h"

static apr_status_t make_oid(ASN1_OBJECT **pobj, apr_pool_t *p, const char *txt)
{
    ASN1_OBJECT *o = OBJ_txt2obj(txt, 1);
    if (!o) {
        return APR_EGENERAL;
    }
    *pobj = scep_own_obj(p, o);
    return APR_SUCCESS;
}

apr_status_t scep_oids_make(scep_oids_t **poids, apr_pool_t *p)
{
    scep_oids_t *o = apr_pcalloc(p, sizeof(*o));

    if (make_oid(&o->message_type, p, "2.16.840.1.113733.1.9.2")
        || make_oid(&o->pki_status, p, "2.16.840.1.113733.1.9.3")
        || make_oid(&o->fail_info, p, "2.16.840.1.113733.1.9.4")
        || make_oid(&o->sender_nonce, p, "2.16.840.1.113733.1.9.5")
        || make_oid(&o->recipient_nonce, p, "2.16.840.1.113733.1.9.6")
        || make_oid(&o->transaction_id, p, "2.16.840.1.113733.1.9.7")
        || make_oid(&o->fail_info_text, p, "1.3.6.1.5.5.7.24.1")
        || !(o->no_keys = scep_no_keys_make(p))) {
        return APR_EGENERAL;
    }
    *poids = o;
    return APR_SUCCESS;
}

/* The single value of a signed attribute, or NULL. */
static ASN1_TYPE *signed_attr(CMS_SignerInfo *si, const ASN1_OBJECT *obj)
{
    int idx = CMS_signed_get_attr_by_OBJ(si, obj, -1);
    X509_ATTRIBUTE *attr;

    if (idx < 0 || !(attr = CMS_signed_get_attr(si, idx))
        || X509_ATTRIBUTE_count(attr) != 1) {
        return NULL;
    }
    return X509_ATTRIBUTE_get0_type(attr, 0);
}

static int is_string_type(int type)
{
    return type == V_ASN1_PRINTABLESTRING || type == V_ASN1_UTF8STRING
           || type == V_ASN1_IA5STRING || type == V_ASN1_T61STRING;
}

static int printable(const unsigned char *s, apr_size_t len)
{
    apr_size_t i;
    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] >= 0x7f) return 0;
    }
    return 1;
}

/* transactionID, senderNonce and messageType: without them no answer can
 * be addressed (SCEP_EUNREADABLE and *perr). */
static apr_status_t read_ids(scep_msg_t *msg, const char **perr, apr_pool_t *p,
                             const scep_oids_t *oids, CMS_SignerInfo *si)
{
    ASN1_TYPE *t;

    t = signed_attr(si, oids->transaction_id);
    if (!t || !is_string_type(t->type) || t->value.asn1_string->length <= 0) {
        *perr = "no usable transactionID";
        return SCEP_EUNREADABLE;
    }
    if (t->value.asn1_string->length > SCEP_MAX_TID_LEN) {
        *perr = apr_psprintf(p, "transactionID of %d bytes (the limit is %d)",
                             t->value.asn1_string->length, SCEP_MAX_TID_LEN);
        return SCEP_EUNREADABLE;
    }
    msg->tid = scep_own_string(p, ASN1_STRING_dup(t->value.asn1_string));
    {
        const unsigned char *d = ASN1_STRING_get0_data(msg->tid);
        apr_size_t dl = (apr_size_t)ASN1_STRING_length(msg->tid);
        msg->tid_str = printable(d, dl) ? apr_pstrndup(p, (const char *)d, dl)
                                        : apr_pstrcat(p, "hex:", scep_hex(p, d, dl), NULL);
    }
    t = signed_attr(si, oids->sender_nonce);
    if (!t || t->type != V_ASN1_OCTET_STRING || t->value.octet_string->length <= 0) {
        *perr = "no usable senderNonce";
        return SCEP_EUNREADABLE;
    }
    if (t->value.octet_string->length > SCEP_MAX_NONCE_LEN) {
        *perr = apr_psprintf(p, "senderNonce of %d bytes (the limit is %d)",
                             t->value.octet_string->length, SCEP_MAX_NONCE_LEN);
        return SCEP_EUNREADABLE;
    }
    msg->sender_nonce = apr_pmemdup(p, ASN1_STRING_get0_data(t->value.octet_string),
                                    (apr_size_t)t->value.octet_string->length);
    msg->sender_nonce_len = (apr_size_t)t->value.octet_string->length;
    t = signed_attr(si, oids->message_type);
    if (!t || !is_string_type(t->type) || t->value.asn1_string->length <= 0
        || t->value.asn1_string->length > 8) {
        *perr = "no usable messageType";
        return SCEP_EUNREADABLE;
    }
    {
        const char *s = apr_pstrndup(p, (const char *)ASN1_STRING_get0_data(t->value.asn1_string),
                                     (apr_size_t)t->value.asn1_string->length);
        char *end;
        long v = strtol(s, &end, 10);
        msg->type_str = scep_log_safe(p, s, strlen(s));
        msg->type = (*s && !*end && v >= 0 && v < 1000) ? (int)v : -1;
    }

    return APR_SUCCESS;
}

/* The signer's certificate among the message's, or NULL. */
static X509 *signer_among(CMS_SignerInfo *si, STACK_OF(X509) *certs)
{
    int i;

    for (i = 0; i < sk_X509_num(certs); i++) {
        if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
            return sk_X509_value(certs, i);
        }
    }
    return NULL;
}

/* The certificate parsed again on its own, its key still undecoded: the
 * message's certificates belong to the keyless library context, which
 * X509_verify() and the like would use; this one to the default context.
 * Owned by the pool; NULL if x is. */
static X509 *standalone(apr_pool_t *p, OSSL_LIB_CTX *no_keys, X509 *x)
{
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    X509 *copy;

    if (!x || scep_x509_der(&der, &len, p, x) != APR_SUCCESS) {
        return NULL;
    }
    q = der;
    ERR_set_mark();
    copy = (X509 *)ASN1_item_d2i_ex(NULL, &q, (long)len, ASN1_ITEM_rptr(X509), no_keys, NULL);
    ERR_pop_to_mark();
    return scep_own_x509(p, copy);
}

/* Signed attributes the quick check takes: each once, with one value,
 * contentType and messageDigest among them, no countersignature (a subset
 * of what OpenSSL's CMS accepts; anything else goes to OpenSSL's own). */
static int plain_attributes(CMS_SignerInfo *si)
{
    int n = CMS_signed_get_attr_count(si), i, j, content_type = 0, digest = 0;

    for (i = 0; i < n; i++) {
        X509_ATTRIBUTE *a = CMS_signed_get_attr(si, i);
        ASN1_OBJECT *obj = X509_ATTRIBUTE_get0_object(a);
        int nid = OBJ_obj2nid(obj);

        if (X509_ATTRIBUTE_count(a) != 1 || nid == NID_pkcs9_countersignature) {
            return 0;
        }
        for (j = 0; j < i; j++) {
            if (!OBJ_cmp(obj, X509_ATTRIBUTE_get0_object(CMS_signed_get_attr(si, j)))) {
                return 0;
            }
        }
        content_type += nid == NID_pkcs9_contentType;
        digest += nid == NID_pkcs9_messageDigest;
    }
    return content_type == 1 && digest == 1;
}

/* The quick check of the common message: an RSA signer (PKCS#1 v1.5) with
 * SHA-1/2 over plain signed attributes. The same checks as CMS's (the
 * messageDigest against the eContent, the signature over the attributes
 * DER-encoded in the order received), without decoding every certificate's
 * key through OpenSSL 3.0's decoder chain (a tenth of an enrollment's
 * CPU). 1 when all hold; 0 leaves the message to OpenSSL's CMS. */
static int quick_verify(scep_msg_t *msg, apr_pool_t *p, OSSL_LIB_CTX *no_keys,
                        CMS_ContentInfo *cms, CMS_SignerInfo *si, STACK_OF(X509) *certs)
{
    X509 *signer = standalone(p, no_keys, signer_among(si, certs));
    ASN1_OCTET_STRING **pcontent = CMS_get0_content(cms), *sig = CMS_SignerInfo_get0_signature(si);
    ASN1_OCTET_STRING *digest = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest),
                                                            -3, V_ASN1_OCTET_STRING);
    STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
    const EVP_MD *md = EVP_get_digestbynid(msg->md_nid);
    unsigned char computed[EVP_MAX_MD_SIZE], *der = NULL;
    unsigned int computed_len = 0;
    X509_ALGOR *sig_alg = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *mctx = NULL;
    int der_len, i, pk_nid = NID_undef, ok = 0;

    CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig_alg);
    if (!signer || !md || !digest || !sig || !pcontent || !*pcontent
        || ASN1_STRING_length(*pcontent) <= 0 || !plain_attributes(si)
        || !scep_msg_digest_allowed(msg->md_nid, 0)      /* SHA-1/2, never MD5 here */
        || !sig_alg || (OBJ_obj2nid(sig_alg->algorithm) != NID_rsaEncryption
                        && (!OBJ_find_sigid_algs(OBJ_obj2nid(sig_alg->algorithm), NULL, &pk_nid)
                            || pk_nid != NID_rsaEncryption))
        || !(key = scep_pubkey_decode(p, X509_get_X509_PUBKEY(signer)))
        || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        return 0;
    }
    /* the messageDigest against the content */
    if (EVP_Digest(ASN1_STRING_get0_data(*pcontent), (size_t)ASN1_STRING_length(*pcontent),
                   computed, &computed_len, md, NULL) != 1
        || (int)computed_len != ASN1_STRING_length(digest)
        || CRYPTO_memcmp(computed, ASN1_STRING_get0_data(digest), computed_len)) {
        return 0;
    }
    /* the signature over the signed attributes, in the order received */
    attrs = sk_X509_ATTRIBUTE_new_null();
    for (i = 0; attrs && i < CMS_signed_get_attr_count(si); i++) {
        if (!sk_X509_ATTRIBUTE_push(attrs, CMS_signed_get_attr(si, i))) {
            goto leave;
        }
    }
    if (!attrs || (der_len = ASN1_item_i2d((ASN1_VALUE *)attrs, &der,
                                           ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY))) <= 0
        || !(mctx = EVP_MD_CTX_new())
        || EVP_DigestVerifyInit_ex(mctx, NULL, EVP_MD_get0_name(md), NULL, NULL, key, NULL) != 1
        || EVP_DigestVerify(mctx, ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig),
                            der, (size_t)der_len) != 1) {
        goto leave;
    }
    msg->signer = signer;
    msg->signer_key = key;
    msg->content = ASN1_STRING_get0_data(*pcontent);
    msg->content_len = (apr_size_t)ASN1_STRING_length(*pcontent);
    ok = 1;
leave:
    sk_X509_ATTRIBUTE_free(attrs);
    OPENSSL_free(der);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return ok;
}

int scep_msg_signer_self_signed(const scep_msg_t *msg)
{
    X509 *x = msg->signer;
    AUTHORITY_KEYID *akid;
    int crit = 0, pk_nid = NID_undef, ok;

    if (!x || !msg->signer_key) {
        return 0;
    }
    /* X509_self_signed()'s checks, with the key decoded apart */
    if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x))
        || (X509_get_extension_flags(x) & EXFLAG_INVALID)
        || !OBJ_find_sigid_algs(X509_get_signature_nid(x), NULL, &pk_nid)
        || !EVP_PKEY_is_a(msg->signer_key, OBJ_nid2sn(pk_nid))) {
        ERR_clear_error();
        return 0;
    }
    akid = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL);
    ok = (akid || crit == -1) && X509_check_akid(x, akid) == X509_V_OK
         && X509_verify(x, msg->signer_key) == 1;
    AUTHORITY_KEYID_free(akid);
    ERR_clear_error();
    return ok;
}

/* The signer certificate among the message's, the signature over the
 * signed attributes, then messageDigest against the content: 1 if all
 * hold, else 0 with msg->signature_error (and detail) saying which. */
static int verify_signer(scep_msg_t *msg, apr_pool_t *p, CMS_ContentInfo *cms,
                         CMS_SignerInfo *si, STACK_OF(X509) *certs)
{
    X509 *signer = signer_among(si, certs);
    ASN1_OCTET_STRING **pcontent;

    if (signer && X509_up_ref(signer)) {
        msg->signer = scep_own_x509(p, signer);
    }
    if (!msg->signer) {
        msg->signature_error = "the signer certificate is not in the message";
        return 0;
    }
    pcontent = CMS_get0_content(cms);
    if (!pcontent || !*pcontent || ASN1_STRING_length(*pcontent) <= 0) {
        msg->signature_error = "the message has no content";
        return 0;
    }
    msg->content = ASN1_STRING_get0_data(*pcontent);
    msg->content_len = (apr_size_t)ASN1_STRING_length(*pcontent);

    ERR_clear_error();
    msg->signer_key = X509_get0_pubkey(msg->signer);
    CMS_SignerInfo_set1_signer_cert(si, msg->signer);
    if (CMS_SignerInfo_verify(si) != 1) {
        msg->detail = scep_ossl_errors(p);
        msg->signature_error = "the signature over the signed attributes does not verify";
        return 0;
    }
    /* signed attributes already checked: now messageDigest vs eContent */
    if (CMS_verify(cms, NULL, NULL, NULL, NULL, CMS_NO_SIGNER_CERT_VERIFY
                   | CMS_BINARY | CMS_NO_ATTR_VERIFY) != 1) {
        msg->detail = scep_ossl_errors(p);
        msg->signature_error = "the messageDigest does not match the content";
        return 0;
    }
    return 1;
}

/* Every other message (and any the quick check refused): parsed again
 * where certificates' keys are decoded, and verified by OpenSSL's CMS. */
static int openssl_verify(scep_msg_t *msg, apr_pool_t *p, const unsigned char *der,
                          apr_size_t len)
{
    const unsigned char *q = der;
    CMS_ContentInfo *cms = scep_own_cms(p, d2i_CMS_ContentInfo(NULL, &q, (long)len));
    STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;
    STACK_OF(X509) *certs;
    int ok;

    if (!sis || sk_CMS_SignerInfo_num(sis) != 1) {
        msg->signature_error = "the message cannot be read again";
        return 0;
    }
    certs = CMS_get1_certs(cms);
    ok = verify_signer(msg, p, cms, sk_CMS_SignerInfo_value(sis, 0), certs);
    sk_X509_pop_free(certs, X509_free);
    return ok;
}

apr_status_t scep_msg_parse(scep_msg_t **pmsg, const char **perr,
                            apr_pool_t *p, const scep_oids_t *oids,
                            const unsigned char *der, apr_size_t len)
{
    scep_msg_t *msg = apr_pcalloc(p, sizeof(*msg));
    const unsigned char *q = der;
    CMS_ContentInfo *cms = NULL;
    STACK_OF(CMS_SignerInfo) *sis;
    STACK_OF(X509) *certs = NULL;
    CMS_SignerInfo *si;
    X509_ALGOR *dig = NULL;
    apr_status_t rv = SCEP_EUNREADABLE;

    ERR_clear_error();
    /* parsed where certificates keep their keys undecoded (quick_verify) */
    cms = CMS_ContentInfo_new_ex(oids->no_keys, NULL);
    ERR_set_mark();
    if (len > LONG_MAX || !d2i_CMS_ContentInfo(&cms, &q, (long)len)) {
        ERR_pop_to_mark();
        CMS_ContentInfo_free(cms);      /* NULL when d2i freed it */
        *perr = "not a CMS ContentInfo";
        goto leave;
    }
    ERR_pop_to_mark();
    scep_own_cms(p, cms);
    if (q != der + len) {
        *perr = "trailing bytes after the CMS ContentInfo";
        goto leave;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        *perr = "not a CMS SignedData";
        goto leave;
    }
    sis = CMS_get0_SignerInfos(cms);
    if (!sis || sk_CMS_SignerInfo_num(sis) != 1) {
        *perr = "a pkiMessage needs exactly one signer";
        goto leave;
    }
    si = sk_CMS_SignerInfo_value(sis, 0);
    if (CMS_signed_get_attr_count(si) <= 0) {
        *perr = "the signer has no signed attributes";
        goto leave;
    }
    if (CMS_signed_get_attr_count(si) > SCEP_MAX_ATTRS) {
        *perr = apr_psprintf(p, "too many signed attributes (%d, the limit is %d)",
                             CMS_signed_get_attr_count(si), SCEP_MAX_ATTRS);
        goto leave;
    }
    /* bounded before any of them is looked at (nothing verified yet) */
    certs = CMS_get1_certs(cms);
    if (sk_X509_num(certs) > SCEP_MAX_CERTS) {
        *perr = apr_psprintf(p, "too many certificates in the message (%d, the limit is %d)",
                             sk_X509_num(certs), SCEP_MAX_CERTS);
        goto leave;
    }

    /* the three attributes without which no answer can be addressed */
    if (read_ids(msg, perr, p, oids, si) != APR_SUCCESS) {
        goto leave;
    }

    /* From here on every problem is answered with a signed FAILURE. */
    rv = APR_SUCCESS;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
    msg->md_nid = dig ? OBJ_obj2nid(dig->algorithm) : NID_undef;
    msg->no_keys = oids->no_keys;

    msg->signature_ok = quick_verify(msg, p, oids->no_keys, cms, si, certs)
                        || openssl_verify(msg, p, der, len);
leave:
    if (rv == APR_SUCCESS) {
        *pmsg = msg;
    }
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
    return rv;
}

int scep_msg_digest_allowed(int md_nid, int allow_legacy)
{
    switch (md_nid) {
    case NID_sha1: case NID_sha224: case NID_sha256: case NID_sha384: case NID_sha512:
        return 1;
    case NID_md5:
        return allow_legacy;
    default:
        return 0;
    }
}

static int cipher_allowed(int nid, int allow_legacy)
{
    switch (nid) {
    case NID_des_ede3_cbc: case NID_aes_128_cbc: case NID_aes_192_cbc: case NID_aes_256_cbc:
        return 1;
    case NID_des_cbc:
        return allow_legacy;
    default:
        return 0;
    }
}

int scep_msg_addressed_to(const scep_msg_t *msg, X509 *const *certs, int ncerts)
{
    const unsigned char *q = msg->content;
    CMS_ContentInfo *env = NULL;
    STACK_OF(CMS_RecipientInfo) *recipients = NULL;
    int c, i, n, found = -1;

    if (msg->content_len > LONG_MAX) {
        return -1;
    }
    /* Read as scep_msg_decrypt reads it, so that an envelope is routed to
     * the CA whose certificate CMS_decrypt will then match (by issuer and
     * serial, or by subjectKeyIdentifier); in the keyless context, since
     * nothing is proved yet: the certificates an originatorInfo may carry
     * cost no key decoding. */
    ERR_set_mark();
    env = CMS_ContentInfo_new_ex(msg->no_keys, NULL);
    if (env && d2i_CMS_ContentInfo(&env, &q, (long)msg->content_len)
        && OBJ_obj2nid(CMS_get0_type(env)) == NID_pkcs7_enveloped) {
        recipients = CMS_get0_RecipientInfos(env);
    }
    n = sk_CMS_RecipientInfo_num(recipients);
    for (c = 0; c < ncerts && found < 0; c++) {
        for (i = 0; i < n && i < SCEP_MAX_RECIPIENTS && found < 0; i++) {
            CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(recipients, i);

            if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS
                && CMS_RecipientInfo_ktri_cert_cmp(ri, certs[c]) == 0) {
                found = c;
            }
        }
    }
    CMS_ContentInfo_free(env);
    ERR_pop_to_mark();
    return found;
}

/* DER read in place: what is left of an element's content. */
typedef struct der_cursor_t {
    const unsigned char *at, *end;
} der_cursor_t;

/* The next element at c, whatever it is, if it is definite-length and
 * fits: c moves past it, *cls and *tag get its class and tag, and inside
 * (if not NULL) gets its content. 0 if not (c stays). */
static int der_next(der_cursor_t *c, int *cls, int *tag, der_cursor_t *inside)
{
    const unsigned char *q = c->at;
    long len;

    if (c->at >= c->end
        || (ASN1_get_object(&q, &len, tag, cls, (long)(c->end - c->at)) & 0x81)) {
        return 0;                                               /* 0x01: indefinite */
    }
    if (inside) {
        inside->at = q;
        inside->end = q + len;
    }
    c->at = q + len;
    return 1;
}

/* The next element at c, if it is definite-length, fits and has this
 * class and tag: c moves past it, and inside (if not NULL) gets its
 * content. 0 if not (c and inside stay). */
static int der_take(der_cursor_t *c, int cls, int tag, der_cursor_t *inside)
{
    der_cursor_t next = *c, content;
    int got_cls, got_tag;

    if (!der_next(&next, &got_cls, &got_tag, &content) || got_cls != cls || got_tag != tag) {
        return 0;
    }
    if (inside) {
        *inside = content;
    }
    *c = next;
    return 1;
}

/* Is the next element at c of this class and tag, whatever the form of
 * its length? */
static int der_next_is(const der_cursor_t *c, int cls, int tag)
{
    const unsigned char *q = c->at;
    long len;
    int got_tag, got_cls;

    return c->at < c->end
           && !(ASN1_get_object(&q, &len, &got_tag, &got_cls, (long)(c->end - c->at)) & 0x80)
           && got_cls == cls && got_tag == tag;
}

/* The content of a ContentInfo's EnvelopedData read in place from its DER,
 * past the version: ContentInfo { contentType, [0] EnvelopedData {
 * version, [0] originatorInfo OPTIONAL, recipientInfos,
 * encryptedContentInfo } }. 0 if the DER does not have that shape. */
static int envelope_in_der(const unsigned char *der, long len, der_cursor_t *env)
{
    const int U = V_ASN1_UNIVERSAL, CTX = V_ASN1_CONTEXT_SPECIFIC;
    der_cursor_t all = { der, der + len }, info, explicit0;

    return der_take(&all, U, V_ASN1_SEQUENCE, &info) && der_take(&info, U, V_ASN1_OBJECT, NULL)
           && der_take(&info, CTX, 0, &explicit0)
           && der_take(&explicit0, U, V_ASN1_SEQUENCE, env)
           && der_take(env, U, V_ASN1_INTEGER, NULL);
}

/* The content cipher's OID read in place from an EnvelopedData's DER: its
 * NID (NID_undef if OpenSSL has no name for it), or -1 if the DER does not
 * have that shape (BER, with indefinite lengths, among others). */
static int envelope_cipher_in_der(const unsigned char *der, long len)
{
    const int U = V_ASN1_UNIVERSAL, CTX = V_ASN1_CONTEXT_SPECIFIC;
    der_cursor_t env, content, alg;
    const unsigned char *oid_at;
    ASN1_OBJECT *oid = NULL;
    int nid;

    /* ... encryptedContentInfo { contentType, contentEncryptionAlgorithm {
     * algorithm, ... }, ... } */
    if (!envelope_in_der(der, len, &env)) {
        return -1;
    }
    der_take(&env, CTX, 0, NULL);    /* originatorInfo, if there is one */
    if (!der_take(&env, U, V_ASN1_SET, NULL) || !der_take(&env, U, V_ASN1_SEQUENCE, &content)
        || !der_take(&content, U, V_ASN1_OBJECT, NULL)
        || !der_take(&content, U, V_ASN1_SEQUENCE, &alg)) {
        return -1;
    }
    oid_at = alg.at;
    if (!der_take(&alg, U, V_ASN1_OBJECT, NULL)
        || !d2i_ASN1_OBJECT(&oid, &oid_at, (long)(alg.at - oid_at))) {
        return -1;
    }
    nid = OBJ_obj2nid(oid);
    ASN1_OBJECT_free(oid);
    return nid;
}

/* How many certificates and CRLs an EnvelopedData's originatorInfo
 * carries, counted in place in its DER (0 without one); -1 if the DER does
 * not have that shape (BER, with indefinite lengths, among others). */
static int originator_items_in_der(const unsigned char *der, long len)
{
    const int CTX = V_ASN1_CONTEXT_SPECIFIC;
    der_cursor_t env, originator, set;
    int n = 0, tag;

    if (!envelope_in_der(der, len, &env)) {
        return -1;
    }
    if (!der_next_is(&env, CTX, 0)) {
        return 0;
    }
    if (!der_take(&env, CTX, 0, &originator)) {
        return -1;      /* there, but not in DER */
    }
    /* OriginatorInfo { certs [0] OPTIONAL, crls [1] OPTIONAL }: count the
     * elements of each, whatever they are */
    for (tag = 0; tag <= 1; tag++) {
        if (!der_next_is(&originator, CTX, tag)) {
            continue;
        }
        if (!der_take(&originator, CTX, tag, &set)) {
            return -1;
        }
        while (set.at < set.end) {
            int item_cls, item_tag;

            if (!der_next(&set, &item_cls, &item_tag, NULL)) {
                return -1;
            }
            n++;
        }
    }
    return n;
}

/* How many certificates and CRLs the envelope's originatorInfo carries,
 * before the envelope is parsed where their keys would be decoded (a
 * request of SCEPMaxRequestBody full of them cost 124 ms a parse): in place
 * in DER; a request in BER is parsed in the keyless context and counted in
 * CMS's DER of it. -1 if it cannot be read at all. */
static int originator_items(const scep_msg_t *msg)
{
    const unsigned char *q = msg->content;
    CMS_ContentInfo *keyless;
    unsigned char *again = NULL;
    int n, again_len;

    ERR_set_mark();
    n = originator_items_in_der(msg->content, (long)msg->content_len);
    /* (CMS_get1_certs would count identical copies once) */
    if (n == -1 && msg->no_keys && (keyless = CMS_ContentInfo_new_ex(msg->no_keys, NULL)) != NULL) {
        if (d2i_CMS_ContentInfo(&keyless, &q, (long)msg->content_len)
            && (again_len = i2d_CMS_ContentInfo(keyless, &again)) > 0) {
            n = originator_items_in_der(again, again_len);
        }
        OPENSSL_free(again);
        CMS_ContentInfo_free(keyless);
    }
    ERR_pop_to_mark();
    return n;
}

/* The content cipher of the EnvelopedData env that CMS parsed from der:
 * read in place where the request is DER (no second parse); a request in
 * BER is read in CMS's DER of it, so that both encodings get one answer.
 * -1 if it cannot be read. OpenSSL's errors on the way are dropped. */
static int envelope_cipher_nid(CMS_ContentInfo *env, const unsigned char *der, long len)
{
    unsigned char *again = NULL;
    int nid, again_len;

    ERR_set_mark();
    nid = envelope_cipher_in_der(der, len);
    if (nid == -1 && (again_len = i2d_CMS_ContentInfo(env, &again)) > 0) {
        nid = envelope_cipher_in_der(again, again_len);
    }
    OPENSSL_free(again);
    ERR_pop_to_mark();
    return nid;
}

apr_status_t scep_msg_decrypt(scep_msg_t *msg, scep_fail_info_t *pfail,
                              const char **perr, apr_pool_t *p,
                              X509 *ra_cert, EVP_PKEY *ra_key,
                              int allow_legacy)
{
    const unsigned char *q = msg->content;
    CMS_ContentInfo *env = NULL;
    STACK_OF(CMS_RecipientInfo) *recipients;
    BIO *out = NULL;
    apr_status_t rv = APR_EGENERAL;
    char *data;
    long dlen;

    ERR_clear_error();
    *pfail = SCEP_FAIL_BADMESSAGECHECK;
    if (msg->content_len > LONG_MAX) {
        *perr = "the content is not a CMS EnvelopedData";
        goto leave;
    }
    /* What the envelope carries besides recipients, bounded before the
     * parse that decodes their keys */
    if (originator_items(msg) > SCEP_MAX_CERTS) {
        *pfail = SCEP_FAIL_BADREQUEST;    /* a limit, not an integrity failure */
        *perr = apr_psprintf(p, "the envelope's originatorInfo carries more than %d "
                             "certificates and CRLs", SCEP_MAX_CERTS);
        goto leave;
    }
    /* The recipients and the content cipher first: refuse before any key
     * operation. */
    env = d2i_CMS_ContentInfo(NULL, &q, (long)msg->content_len);
    recipients = env && OBJ_obj2nid(CMS_get0_type(env)) == NID_pkcs7_enveloped
                 ? CMS_get0_RecipientInfos(env) : NULL;
    if (!recipients) {
        *perr = "the content is not a CMS EnvelopedData";
        goto leave;
    }
    if (sk_CMS_RecipientInfo_num(recipients) > SCEP_MAX_RECIPIENTS) {
        *pfail = SCEP_FAIL_BADREQUEST;    /* a limit, not an integrity failure */
        *perr = apr_psprintf(p, "the envelope has too many recipients (%d, the limit is %d)",
                             sk_CMS_RecipientInfo_num(recipients), SCEP_MAX_RECIPIENTS);
        goto leave;
    }
    msg->cipher_nid = envelope_cipher_nid(env, msg->content, (long)msg->content_len);
    if (msg->cipher_nid == -1) {
        msg->cipher_nid = NID_undef;
        *perr = "the content is not a CMS EnvelopedData";
        goto leave;
    }
    if (!cipher_allowed(msg->cipher_nid, allow_legacy)) {
        *pfail = SCEP_FAIL_BADALG;
        *perr = apr_psprintf(p, "content encryption %s is not allowed%s",
                             msg->cipher_nid == NID_undef ? "(unknown)"
                             : OBJ_nid2sn(msg->cipher_nid),
                             msg->cipher_nid == NID_des_cbc
                             ? " (single DES needs SCEPLegacyAlgorithms on)" : "");
        goto leave;
    }
    out = BIO_new(BIO_s_mem());
    if (!out) {
        *perr = "out of memory";
        goto leave;
    }
    /* Passing our certificate makes OpenSSL pick our RecipientInfo among
     * several (micromdm encrypts to every GetCACert certificate). OpenSSL
     * itself goes on with a random content key when the key transport
     * fails; a bad content padding fails here, and we go on with random
     * bytes in turn. */
    rv = APR_SUCCESS;
    if (CMS_decrypt(env, ra_key, ra_cert, NULL, out, CMS_BINARY) != 1) {
        msg->detail = scep_ossl_errors(p);
        msg->decrypt_error = "the envelope cannot be decrypted with this server's key (not "
                             "addressed to it, or damaged)";
        dlen = 0;
    }
    else {
        dlen = BIO_get_mem_data(out, &data);
    }
    if (dlen > 0) {
        msg->payload = apr_pmemdup(p, data, (apr_size_t)dlen);
        msg->payload_len = (apr_size_t)dlen;
    }
    else {
        unsigned char *dummy = apr_palloc(p, msg->content_len);
        if (!msg->decrypt_error) {
            msg->decrypt_error = "the envelope is empty";
        }
        if (RAND_bytes(dummy, (int)msg->content_len) != 1) {
            memset(dummy, 0, msg->content_len);
        }
        msg->payload = dummy;
        msg->payload_len = msg->content_len;
    }
leave:
    CMS_ContentInfo_free(env);
    BIO_free(out);
    ERR_clear_error();
    return rv;
}

/* len -1 means a C string; OpenSSL would read -1 as "data is an ASN1 object" */
static int add_string_attr(CMS_SignerInfo *si, const ASN1_OBJECT *obj, int type,
                           const void *data, int len)
{
    if (len < 0) {
        len = (int)strlen(data);
    }
    return CMS_signed_add1_attr_by_OBJ(si, obj, type, data, len) == 1;
}

/* The certificate the reply is encrypted to: the signer's issuer and
 * serial (the RecipientInfo names them) with its decoded key. The signer
 * itself when its key was decoded with it. */
static X509 *recipient_of(apr_pool_t *p, const scep_msg_t *req)
{
    X509 *x;

    ERR_set_mark();
    x = X509_get0_pubkey(req->signer) ? req->signer : NULL;
    ERR_pop_to_mark();
    if (x || !req->signer_key) {
        return x;
    }
    x = scep_own_x509(p, X509_new());
    if (!x || !X509_set_issuer_name(x, X509_get_issuer_name(req->signer))
        || !X509_set_serialNumber(x, X509_get_serialNumber(req->signer))
        || !X509_set_pubkey(x, req->signer_key)) {
        return NULL;
    }
    return x;
}

/* DER of the fixed pieces of the envelope and the signed reply */
static const unsigned char id_data[] = {                 /* OID id-data */
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
};
static const unsigned char rsa_encryption[] = {          /* with NULL parameters */
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00
};

/* DER of an EnvelopedData to an RSA key: the content encrypted with a
 * random key, which PKCS#1 v1.5 carries to the recipient named by issuer
 * and serial (a KeyTransRecipientInfo, as OpenSSL's CMS_encrypt writes
 * it). Written out, because CMS_encrypt's objects were about a third of
 * the envelope's CPU (bench/RESULTS.md, fifteenth pass). */
static apr_status_t envelope_to_rsa(unsigned char **pder, int *plen, apr_pool_t *p,
                                    X509 *recipient, EVP_PKEY *key, const EVP_CIPHER *cipher,
                                    int cipher_nid, const unsigned char *content,
                                    apr_size_t content_len)
{
    static const unsigned char version_0[] = { 0x02, 0x01, 0x00 };
    static const unsigned char id_enveloped_data[] = {
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03
    };
    EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
    EVP_PKEY_CTX *kctx = NULL;
    unsigned char cek[EVP_MAX_KEY_LENGTH], iv[EVP_MAX_IV_LENGTH], *ct = NULL, *ek = NULL;
    /* issuerAndSerialNumber's two, then the cipher's OID */
    scep_der_part_t ias[2], alg[2];
    int keylen, ivlen, n1 = 0, n2 = 0;
    size_t ek_len = 0;
    apr_size_t len;
    apr_status_t rv = APR_EGENERAL;

    if (!cctx || (keylen = EVP_CIPHER_get_key_length(cipher)) <= 0
        || keylen > EVP_MAX_KEY_LENGTH || (ivlen = EVP_CIPHER_get_iv_length(cipher)) <= 0
        || ivlen > EVP_MAX_IV_LENGTH || content_len > INT_MAX - EVP_MAX_BLOCK_LENGTH
        || EVP_EncryptInit_ex(cctx, cipher, NULL, NULL, NULL) != 1
        /* as CMS does: DES keys get their parity bits */
        || EVP_CIPHER_CTX_rand_key(cctx, cek) != 1 || RAND_bytes(iv, ivlen) != 1
        || EVP_EncryptInit_ex(cctx, NULL, NULL, cek, iv) != 1) {
        goto leave;
    }
    ct = apr_palloc(p, content_len + EVP_MAX_BLOCK_LENGTH);
    if (EVP_EncryptUpdate(cctx, ct, &n1, content, (int)content_len) != 1
        || EVP_EncryptFinal_ex(cctx, ct + n1, &n2) != 1
        || !(kctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_encrypt_init(kctx) != 1
        || EVP_PKEY_CTX_set_rsa_padding(kctx, RSA_PKCS1_PADDING) != 1
        || EVP_PKEY_encrypt(kctx, NULL, &ek_len, cek, (size_t)keylen) != 1
        || !(ek = apr_palloc(p, ek_len))
        || EVP_PKEY_encrypt(kctx, ek, &ek_len, cek, (size_t)keylen) != 1
        || !SCEP_ITEM_DER(p, X509_NAME, X509_get_issuer_name(recipient), &ias[0])
        || !SCEP_ITEM_DER(p, ASN1_INTEGER, X509_get0_serialNumber(recipient), &ias[1])
        || !SCEP_ITEM_DER(p, ASN1_OBJECT, OBJ_nid2obj(cipher_nid), &alg[0])) {
        goto leave;
    }
    {
        /* KeyTransRecipientInfo: version 0, issuerAndSerialNumber,
         * rsaEncryption, encryptedKey */
        scep_der_part_t ekey = { ek, ek_len }, ktri[4] = {
            { version_0, sizeof(version_0) }, { NULL, 0 },
            { rsa_encryption, sizeof(rsa_encryption) }, { NULL, 0 } };
        /* EncryptedContentInfo: id-data, the cipher with its IV as
         * parameters, [0] IMPLICIT the ciphertext */
        scep_der_part_t ivp = { iv, (apr_size_t)ivlen };
        scep_der_part_t ctp = { ct, (apr_size_t)(n1 + n2) }, eci[3] = {
            { id_data, sizeof(id_data) }, { NULL, 0 }, { NULL, 0 } };
        /* EnvelopedData: version 0, recipientInfos, encryptedContentInfo */
        scep_der_part_t ri, ed[3] = { { version_0, sizeof(version_0) }, { NULL, 0 }, { NULL, 0 } };
        scep_der_part_t body, ci[2] = { { id_enveloped_data, sizeof(id_enveloped_data) },
                                        { NULL, 0 } };

        ktri[1].data = scep_der_wrap(p, 0x30, ias, 2, &ktri[1].len);
        ktri[3].data = scep_der_wrap(p, 0x04, &ekey, 1, &ktri[3].len);
        ri.data = scep_der_wrap(p, 0x30, ktri, 4, &ri.len);
        ed[1].data = scep_der_wrap(p, 0x31, &ri, 1, &ed[1].len);
        alg[1].data = scep_der_wrap(p, 0x04, &ivp, 1, &alg[1].len);
        eci[1].data = scep_der_wrap(p, 0x30, alg, 2, &eci[1].len);
        eci[2].data = scep_der_wrap(p, 0x80, &ctp, 1, &eci[2].len);
        ed[2].data = scep_der_wrap(p, 0x30, eci, 3, &ed[2].len);
        body.data = scep_der_wrap(p, 0x30, ed, 3, &body.len);
        ci[1].data = scep_der_wrap(p, 0xa0, &body, 1, &ci[1].len);
        *pder = scep_der_wrap(p, 0x30, ci, 2, &len);
    }
    if (len > INT_MAX) {
        goto leave;
    }
    *plen = (int)len;
    rv = APR_SUCCESS;
leave:
    OPENSSL_cleanse(cek, sizeof(cek));
    EVP_CIPHER_CTX_free(cctx);
    EVP_PKEY_CTX_free(kctx);
    ERR_clear_error();
    return rv;
}

/* DER of an EnvelopedData, for the requester, holding a certs-only bundle
 * (in the pool). */
static apr_status_t envelope_certs(unsigned char **pder, int *plen, apr_pool_t *p,
                                   const scep_msg_t *req, const scep_reply_t *reply)
{
    STACK_OF(X509) *bundle_certs = sk_X509_new_null();
    STACK_OF(X509) *recips = NULL;
    CMS_ContentInfo *env = NULL;
    X509 *recip;
    BIO *in = NULL;
    unsigned char *bder = NULL, *der = NULL;
    apr_size_t blen;
    int i;
    const EVP_CIPHER *cipher = EVP_get_cipherbynid(req->cipher_nid);
    apr_status_t rv = APR_EGENERAL;

    if (!bundle_certs || !cipher) {
        goto leave;
    }
    if (reply->issued) {
        sk_X509_push(bundle_certs, reply->issued);    /* issued first: clients take [0] */
    }
    for (i = 0; reply->extra && i < sk_X509_num(reply->extra); i++) {
        sk_X509_push(bundle_certs, sk_X509_value(reply->extra, i));
    }
    if (scep_bundle_der(&bder, &blen, p, bundle_certs, reply->crl) != APR_SUCCESS) {
        goto leave;
    }
    if (req->signer && req->signer_key && EVP_PKEY_get_base_id(req->signer_key) == EVP_PKEY_RSA) {
        rv = envelope_to_rsa(pder, plen, p, req->signer, req->signer_key, cipher,
                             req->cipher_nid, bder, blen);
        goto leave;
    }
    /* other keys (key agreement for EC) by OpenSSL's CMS */
    if (!(recips = sk_X509_new_null()) || !(recip = recipient_of(p, req))
        || !sk_X509_push(recips, recip)) {
        goto leave;
    }
    in = BIO_new_mem_buf(bder, (int)blen);
    env = in ? CMS_encrypt(recips, in, cipher, CMS_BINARY) : NULL;
    if (!env || (*plen = i2d_CMS_ContentInfo(env, &der)) <= 0) {
        goto leave;
    }
    *pder = apr_pmemdup(p, der, (apr_size_t)*plen);
    rv = APR_SUCCESS;
leave:
    sk_X509_free(bundle_certs);
    sk_X509_free(recips);
    CMS_ContentInfo_free(env);
    BIO_free(in);
    OPENSSL_free(der);
    return rv;
}

/* Attribute ::= SEQUENCE { type, SET { value } }, value a whole TLV */
static int attribute(apr_pool_t *p, scep_der_part_t *out, const ASN1_OBJECT *type,
                     scep_der_part_t value)
{
    scep_der_part_t parts[2];

    if (!SCEP_ITEM_DER(p, ASN1_OBJECT, type, &parts[0])) {
        return 0;
    }
    parts[1].data = scep_der_wrap(p, 0x31, &value, 1, &parts[1].len);
    out->data = scep_der_wrap(p, 0x30, parts, 2, &out->len);
    return 1;
}

/* an attribute whose value is a string of this universal tag */
static int string_attribute(apr_pool_t *p, scep_der_part_t *out, const ASN1_OBJECT *type,
                            int tag, const void *data, int len)
{
    scep_der_part_t raw, value;

    raw.data = data;
    raw.len = (apr_size_t)(len < 0 ? (int)strlen(data) : len);
    value.data = scep_der_wrap(p, (unsigned char)tag, &raw, 1, &value.len);
    return attribute(p, out, type, value);
}

/* SCEP's signed attributes of a CertRep, as added (DER sorts them) */
typedef struct {
    const ASN1_OBJECT *type;
    int tag;
    const void *data;
    int len;                        /* -1: a C string */
} certrep_attr_t;

#define CERTREP_MAX_ATTRS 7

static int certrep_attrs(certrep_attr_t *a, apr_pool_t *p, const scep_oids_t *oids,
                         const scep_msg_t *req, const scep_reply_t *reply,
                         const unsigned char *nonce, int nonce_len)
{
    int n = 0;

#define ATTR(t, g, d, l) (a[n].type = (t), a[n].tag = (g), a[n].data = (d), a[n++].len = (l))
    ATTR(oids->message_type, V_ASN1_PRINTABLESTRING, apr_itoa(p, SCEP_MSG_CERTREP), -1);
    ATTR(oids->transaction_id, ASN1_STRING_type(req->tid), ASN1_STRING_get0_data(req->tid),
         ASN1_STRING_length(req->tid));
    ATTR(oids->sender_nonce, V_ASN1_OCTET_STRING, nonce, nonce_len);
    ATTR(oids->recipient_nonce, V_ASN1_OCTET_STRING, req->sender_nonce,
         (int)req->sender_nonce_len);
    ATTR(oids->pki_status, V_ASN1_PRINTABLESTRING, apr_itoa(p, (int)reply->status), -1);
    if (reply->status == SCEP_STATUS_FAILURE) {
        ATTR(oids->fail_info, V_ASN1_PRINTABLESTRING, apr_itoa(p, (int)reply->fail_info), -1);
        if (reply->fail_text && *reply->fail_text) {
            ATTR(oids->fail_info_text, V_ASN1_UTF8STRING, reply->fail_text, -1);
        }
    }
#undef ATTR
    return n;
}

/* The SignerInfo's signatureAlgorithm as CMS writes it: rsaEncryption with
 * NULL parameters for an RSA key; for an EC key, ECDSA with the digest and
 * no parameters. 0 for any other key, or a digest ECDSA has no OID for
 * (left to CMS). */
static int signature_algorithm(scep_der_part_t *out, apr_pool_t *p, EVP_PKEY *key,
                               const EVP_MD *md)
{
    scep_der_part_t oid;
    int sig_nid;

    /* (EVP_PKEY_is_a, as CMS tells them apart: SM2 keys are not "EC") */
    if (EVP_PKEY_is_a(key, "RSA")) {
        out->data = rsa_encryption;
        out->len = sizeof(rsa_encryption);
        return 1;
    }
    if (!EVP_PKEY_is_a(key, "EC")
        || !OBJ_find_sigid_by_algs(&sig_nid, EVP_MD_get_type(md), EVP_PKEY_EC)
        || !SCEP_ITEM_DER(p, ASN1_OBJECT, OBJ_nid2obj(sig_nid), &oid)) {
        return 0;
    }
    out->data = scep_der_wrap(p, 0x30, &oid, 1, &out->len);
    return 1;
}

/* The CertRep's certificates, in DER order: the signer's, the CA's beside
 * an RA, the chain. APR_ENOTIMPL if one is there twice (CMS refuses it). */
static apr_status_t certrep_certs(scep_der_part_t **pcerts, int *pncerts, apr_pool_t *p,
                                  const scep_ca_t *ca)
{
    scep_der_part_t *certs = apr_palloc(p, sizeof(*certs)
                                           * (apr_size_t)(2 + sk_X509_num(ca->chain)));
    int ncerts = 0, i;

    if (!SCEP_ITEM_DER(p, X509, ca->ra_cert, &certs[ncerts++])
        || (ca->has_ra && !SCEP_ITEM_DER(p, X509, ca->cert, &certs[ncerts++]))) {
        return APR_EGENERAL;
    }
    for (i = 0; i < sk_X509_num(ca->chain); i++) {
        if (!SCEP_ITEM_DER(p, X509, sk_X509_value(ca->chain, i), &certs[ncerts++])) {
            return APR_EGENERAL;
        }
    }
    qsort(certs, (size_t)ncerts, sizeof(certs[0]), scep_der_order);
    for (i = 1; i < ncerts; i++) {
        if (!scep_der_order(&certs[i - 1], &certs[i])) {
            return APR_ENOTIMPL;
        }
    }
    *pcerts = certs;
    *pncerts = ncerts;
    return APR_SUCCESS;
}

/* The CertRep's SignedData written out for an RSA or EC signing key: the
 * bytes CMS_sign, CMS_add1_signer and CMS_final give (contentType,
 * signingTime and messageDigest beside SCEP's attributes, all in DER order;
 * the certificates in DER order; signature_algorithm's; version 1), which
 * t/unit/test_msg.c checks. CMS's objects were about two fifths of what
 * signing the reply cost besides the RSA operation (bench/RESULTS.md,
 * fifteenth pass). APR_ENOTIMPL: left to CMS (another key, a certificate
 * twice). */
static apr_status_t certrep_written_out(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                                        const scep_oids_t *oids, const scep_ca_t *ca,
                                        const scep_msg_t *req, const scep_reply_t *reply,
                                        const EVP_MD *md, const unsigned char *env,
                                        apr_size_t env_len, const unsigned char *nonce,
                                        apr_size_t nonce_len, time_t now)
{
    static const unsigned char id_signed_data[] = {
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
    };
    static const unsigned char version_1[] = { 0x02, 0x01, 0x01 };
    certrep_attr_t scep_attrs[CERTREP_MAX_ATTRS];
    scep_der_part_t attrs[3 + CERTREP_MAX_ATTRS], *certs, value, si[6], sd[5], ci[2], tmp;
    unsigned char digest[EVP_MAX_MD_SIZE], *sig = NULL;
    unsigned int digest_len = 0;
    size_t sig_len = 0;
    int nattrs = 0, ncerts = 0, nscep, i;
    X509_ALGOR *digest_alg = X509_ALGOR_new();
    ASN1_TIME *signing_time = ASN1_TIME_set(NULL, now);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    apr_status_t rv = APR_EGENERAL;

    if (!signature_algorithm(&si[4], p, ca->ra_key, md)) {
        rv = APR_ENOTIMPL;
        goto leave;
    }
    if (!digest_alg || !signing_time || !mctx) {
        goto leave;
    }
    if ((rv = certrep_certs(&certs, &ncerts, p, ca)) != APR_SUCCESS) {
        goto leave;
    }
    rv = APR_EGENERAL;
    /* the signed attributes */
    if (EVP_Digest(env, env_len, digest, &digest_len, md, NULL) != 1) {
        goto leave;
    }
    value.data = id_data;
    value.len = sizeof(id_data);
    if (!attribute(p, &attrs[nattrs++], OBJ_nid2obj(NID_pkcs9_contentType), value)
        || !SCEP_ITEM_DER(p, ASN1_TIME, signing_time, &value)
        || !attribute(p, &attrs[nattrs++], OBJ_nid2obj(NID_pkcs9_signingTime), value)
        || !string_attribute(p, &attrs[nattrs++], OBJ_nid2obj(NID_pkcs9_messageDigest),
                             V_ASN1_OCTET_STRING, digest, (int)digest_len)) {
        goto leave;
    }
    nscep = certrep_attrs(scep_attrs, p, oids, req, reply, nonce, (int)nonce_len);
    for (i = 0; i < nscep; i++) {
        if (!string_attribute(p, &attrs[nattrs++], scep_attrs[i].type, scep_attrs[i].tag,
                              scep_attrs[i].data, scep_attrs[i].len)) {
            goto leave;
        }
    }
    qsort(attrs, (size_t)nattrs, sizeof(attrs[0]), scep_der_order);
    /* signed: the attributes as a SET */
    tmp.data = scep_der_wrap(p, 0x31, attrs, nattrs, &tmp.len);
    if (EVP_DigestSignInit(mctx, NULL, md, NULL, ca->ra_key) != 1
        || EVP_DigestSign(mctx, NULL, &sig_len, tmp.data, tmp.len) != 1
        || !(sig = apr_palloc(p, sig_len))
        || EVP_DigestSign(mctx, sig, &sig_len, tmp.data, tmp.len) != 1) {
        goto leave;
    }
    X509_ALGOR_set_md(digest_alg, md);   /* SHA-1/2 without parameters, MD5 with NULL */
    /* SignerInfo: version 1, issuerAndSerialNumber, digestAlgorithm,
     * [0] IMPLICIT signedAttrs, signatureAlgorithm, signature */
    si[0].data = version_1;
    si[0].len = sizeof(version_1);
    if (!SCEP_ITEM_DER(p, X509_NAME, X509_get_issuer_name(ca->ra_cert), &ci[0])
        || !SCEP_ITEM_DER(p, ASN1_INTEGER, X509_get0_serialNumber(ca->ra_cert), &ci[1])
        || !SCEP_ITEM_DER(p, X509_ALGOR, digest_alg, &si[2])) {
        goto leave;
    }
    si[1].data = scep_der_wrap(p, 0x30, ci, 2, &si[1].len);
    si[3].data = scep_der_wrap(p, 0xa0, attrs, nattrs, &si[3].len);
    tmp.data = sig;
    tmp.len = sig_len;
    si[5].data = scep_der_wrap(p, 0x04, &tmp, 1, &si[5].len);
    /* SignedData: version 1, digestAlgorithms, encapContentInfo (id-data,
     * the envelope or an empty eContent), [0] certificates, signerInfos */
    sd[0] = si[0];
    sd[1].data = scep_der_wrap(p, 0x31, &si[2], 1, &sd[1].len);
    tmp.data = env;
    tmp.len = env_len;
    value.data = scep_der_wrap(p, 0x04, &tmp, 1, &value.len);
    ci[0].data = id_data;
    ci[0].len = sizeof(id_data);
    ci[1].data = scep_der_wrap(p, 0xa0, &value, 1, &ci[1].len);
    sd[2].data = scep_der_wrap(p, 0x30, ci, 2, &sd[2].len);
    sd[3].data = scep_der_wrap(p, 0xa0, certs, ncerts, &sd[3].len);
    tmp.data = scep_der_wrap(p, 0x30, si, 6, &tmp.len);
    sd[4].data = scep_der_wrap(p, 0x31, &tmp, 1, &sd[4].len);
    tmp.data = scep_der_wrap(p, 0x30, sd, 5, &tmp.len);
    ci[0].data = id_signed_data;
    ci[0].len = sizeof(id_signed_data);
    ci[1].data = scep_der_wrap(p, 0xa0, &tmp, 1, &ci[1].len);
    *pder = scep_der_wrap(p, 0x30, ci, 2, plen);
    rv = APR_SUCCESS;
leave:
    X509_ALGOR_free(digest_alg);
    ASN1_TIME_free(signing_time);
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return rv;
}

apr_status_t scep_msg_certrep_as(unsigned char **pder, apr_size_t *plen,
                                 const char **perr, apr_pool_t *p,
                                 const scep_oids_t *oids, const scep_ca_t *ca,
                                 const scep_msg_t *req, const scep_reply_t *reply,
                                 int allow_legacy, const unsigned char *sender_nonce,
                                 scep_certrep_way_t way)
{
    CMS_ContentInfo *cms = NULL;
    CMS_SignerInfo *si;
    BIO *content = NULL;
    unsigned char *env_der = NULL, *der = NULL, nonce[16];
    int env_len = 0, len, i, nattrs;
    certrep_attr_t attrs[CERTREP_MAX_ATTRS];
    const EVP_MD *md;
    apr_status_t rv = APR_EGENERAL;

    ERR_clear_error();
    /* Mirror the requester's digest where this Location allows it, else
     * SHA-256: a reply is never signed with a digest that is refused here. */
    md = (req->md_nid != NID_undef && scep_msg_digest_allowed(req->md_nid, allow_legacy))
         ? EVP_get_digestbynid(req->md_nid) : NULL;
    if (!md) {
        md = EVP_sha256();
    }
    if (reply->status == SCEP_STATUS_SUCCESS
        && envelope_certs(&env_der, &env_len, p, req, reply) != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "cannot encrypt the reply to the requester: ",
                            scep_ossl_errors(p), NULL);
        goto leave;
    }
    if (sender_nonce) {
        memcpy(nonce, sender_nonce, sizeof(nonce));
    }
    else if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        goto fail;
    }
    if (way != SCEP_CERTREP_CMS) {
        rv = certrep_written_out(pder, plen, p, oids, ca, req, reply, md,
                                 env_der ? env_der : (const unsigned char *)"",
                                 (apr_size_t)env_len, nonce, sizeof(nonce), time(NULL));
        if (rv == APR_SUCCESS) {
            goto leave;
        }
        if (way == SCEP_CERTREP_WRITTEN) {
            *perr = "the CertRep cannot be written out";
            goto leave;
        }
        rv = APR_EGENERAL;      /* CMS goes again, and says why it cannot */
    }
    cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    if (!cms) {
        goto fail;
    }
    si = CMS_add1_signer(cms, ca->ra_cert, ca->ra_key, md,
                         CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP);
    if (!si) {
        goto fail;
    }
    /* certmonger looks for the signer's issuer in the message itself */
    if (ca->has_ra && CMS_add1_cert(cms, ca->cert) != 1) {
        goto fail;
    }
    for (i = 0; i < sk_X509_num(ca->chain); i++) {
        if (CMS_add1_cert(cms, sk_X509_value(ca->chain, i)) != 1) {
            goto fail;
        }
    }
    nattrs = certrep_attrs(attrs, p, oids, req, reply, nonce, (int)sizeof(nonce));
    for (i = 0; i < nattrs; i++) {
        if (!add_string_attr(si, attrs[i].type, attrs[i].tag, attrs[i].data, attrs[i].len)) {
            goto fail;
        }
    }
    /* FAILURE and PENDING carry an empty (not absent) eContent */
    content = BIO_new_mem_buf(env_der ? (const void *)env_der : (const void *)"",
                              env_len);
    if (!content || CMS_final(cms, content, NULL, CMS_BINARY) != 1) {
        goto fail;
    }
    if ((len = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
        goto fail;
    }
    *pder = apr_pmemdup(p, der, (apr_size_t)len);
    *plen = (apr_size_t)len;
    rv = APR_SUCCESS;
    goto leave;
fail:
    *perr = apr_pstrcat(p, "cannot build the CertRep: ", scep_ossl_errors(p), NULL);
leave:
    CMS_ContentInfo_free(cms);
    BIO_free(content);
    OPENSSL_free(der);
    ERR_clear_error();
    return rv;
}

apr_status_t scep_msg_certrep(unsigned char **pder, apr_size_t *plen,
                              const char **perr, apr_pool_t *p,
                              const scep_oids_t *oids, const scep_ca_t *ca,
                              const scep_msg_t *req, const scep_reply_t *reply,
                              int allow_legacy)
{
    return scep_msg_certrep_as(pder, plen, perr, p, oids, ca, req, reply, allow_legacy, NULL,
                               SCEP_CERTREP_AUTO);
}
