/* mod_scep core: OpenSSL ownership, loading and error handling. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/bio.h>
#include <openssl/sha.h>

#include "scep_ossl.h"
#include "scep_util.h"

#define OWN(name, type, freefn)                                          \
    static apr_status_t name##_cleanup(void *data)                       \
    {                                                                    \
        freefn((type *)data);                                            \
        return APR_SUCCESS;                                              \
    }                                                                    \
    type *scep_own_##name(apr_pool_t *p, type *obj)                      \
    {                                                                    \
        if (obj) {                                                       \
            apr_pool_cleanup_register(p, obj, name##_cleanup,            \
                                      apr_pool_cleanup_null);            \
        }                                                                \
        return obj;                                                      \
    }

OWN(x509, X509, X509_free)
OWN(pkey, EVP_PKEY, EVP_PKEY_free)
OWN(req, X509_REQ, X509_REQ_free)
OWN(crl, X509_CRL, X509_CRL_free)
OWN(cms, CMS_ContentInfo, CMS_ContentInfo_free)
OWN(obj, ASN1_OBJECT, ASN1_OBJECT_free)
OWN(string, ASN1_STRING, ASN1_STRING_free)
OWN(name, X509_NAME, X509_NAME_free)
OWN(general_names, GENERAL_NAMES, GENERAL_NAMES_free)

static apr_status_t x509_stack_cleanup(void *data)
{
    sk_X509_pop_free((STACK_OF(X509) *)data, X509_free);
    return APR_SUCCESS;
}

STACK_OF(X509) *scep_own_x509_stack(apr_pool_t *p, STACK_OF(X509) *s)
{
    if (s) {
        apr_pool_cleanup_register(p, s, x509_stack_cleanup,
                                  apr_pool_cleanup_null);
    }
    return s;
}

const char *scep_ossl_errors(apr_pool_t *p)
{
    const char *out = "";
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        out = *out ? apr_pstrcat(p, out, "; ", buf, NULL) : apr_pstrdup(p, buf);
    }
    return out;
}

static BIO *open_file(apr_pool_t *p, const char *path, const char **perr)
{
    BIO *bio;

    ERR_clear_error();
    bio = BIO_new_file(path, "rb");
    if (!bio) {
        *perr = apr_psprintf(p, "cannot read %s: %s", path, scep_ossl_errors(p));
    }
    return bio;
}

apr_status_t scep_load_certs(STACK_OF(X509) **pcerts, apr_pool_t *p,
                             const char *path, const char **perr)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    apr_status_t rv = APR_EINVAL;
    BIO *bio = NULL;
    X509 *x;

    if (!certs || !(bio = open_file(p, path, perr))) {
        goto leave;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(certs, x);
    }
    if (sk_X509_num(certs) == 0) {
        /* not PEM: try one DER certificate */
        ERR_clear_error();
        (void)BIO_reset(bio);
        if ((x = d2i_X509_bio(bio, NULL)) != NULL) {
            sk_X509_push(certs, x);
        }
    }
    if (sk_X509_num(certs) == 0) {
        *perr = apr_psprintf(p, "%s holds no certificate (PEM or DER): %s",
                             path, scep_ossl_errors(p));
        goto leave;
    }
    ERR_clear_error();  /* PEM end-of-file */
    *pcerts = scep_own_x509_stack(p, certs);
    certs = NULL;
    rv = APR_SUCCESS;
leave:
    if (certs) sk_X509_pop_free(certs, X509_free);
    BIO_free(bio);
    return rv;
}

apr_status_t scep_load_cert(X509 **pcert, apr_pool_t *p, const char *path,
                            const char **perr)
{
    STACK_OF(X509) *certs;
    apr_status_t rv = scep_load_certs(&certs, p, path, perr);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (sk_X509_num(certs) != 1) {
        *perr = apr_psprintf(p, "%s holds %d certificates, expected exactly one",
                             path, sk_X509_num(certs));
        return APR_EINVAL;
    }
    *pcert = sk_X509_value(certs, 0);
    return APR_SUCCESS;
}

/* OpenSSL asks for a passphrase only for an encrypted key: then ours is
 * asked, once per key. */
typedef struct pass_ctx_t {
    apr_pool_t *p;
    const char *path;
    scep_passphrase_fn *fn;
    void *baton;
    const char *err;           /* the source's reason, if it had none */
    int asked;
} pass_ctx_t;

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    pass_ctx_t *c = u;
    const char *pass;
    size_t len;

    (void)rwflag;
    if (!c->fn) {
        c->err = "the key is encrypted (set SCEPPassPhraseDialog)";
        return -1;
    }
    c->asked = 1;
    pass = c->fn(c->baton, c->path, &c->err);
    if (!pass || (len = strlen(pass)) >= (size_t)size) {
        if (pass && !c->err) {
            c->err = "the passphrase is too long";
        }
        return -1;
    }
    memcpy(buf, pass, len);
    return (int)len;
}

apr_status_t scep_load_key_pass(EVP_PKEY **pkey, apr_pool_t *p, const char *path,
                                scep_passphrase_fn *fn, void *baton, const char **perr)
{
    pass_ctx_t c = { p, path, fn, baton, NULL, 0 };
    EVP_PKEY *k = NULL;
    BIO *bio = open_file(p, path, perr);

    if (!bio) {
        return APR_EINVAL;
    }
    k = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &c);
    if (!k && !c.asked) {
        (void)BIO_reset(bio);
        k = d2i_PKCS8PrivateKey_bio(bio, NULL, pass_cb, &c);   /* DER, maybe encrypted */
    }
    if (!k && !c.asked) {
        (void)BIO_reset(bio);
        k = d2i_PrivateKey_bio(bio, NULL);
    }
    BIO_free(bio);
    if (!k) {
        *perr = c.asked || c.err
                ? apr_psprintf(p, "%s: cannot decrypt the private key: %s", path,
                               c.err ? c.err : "wrong passphrase")
                : apr_psprintf(p, "%s holds no readable private key: %s", path,
                               scep_ossl_errors(p));
        ERR_clear_error();
        return APR_EINVAL;
    }
    ERR_clear_error();
    *pkey = scep_own_pkey(p, k);
    return APR_SUCCESS;
}

apr_status_t scep_load_key(EVP_PKEY **pkey, apr_pool_t *p, const char *path,
                           const char **perr)
{
    return scep_load_key_pass(pkey, p, path, NULL, NULL, perr);
}

unsigned char *scep_der_wrap(apr_pool_t *p, unsigned char tag, const scep_der_part_t *parts,
                             int nparts, apr_size_t *plen)
{
    apr_size_t body = 0, header, n;
    unsigned char *der, *q;
    int i, octets = 0;

    for (i = 0; i < nparts; i++) {
        body += parts[i].len;
    }
    for (n = body; n > 0 && body >= 0x80; n >>= 8) {
        octets++;
    }
    header = 2 + (apr_size_t)octets;
    q = der = apr_palloc(p, header + body);
    *q++ = tag;
    if (body < 0x80) {
        *q++ = (unsigned char)body;
    }
    else {
        *q++ = (unsigned char)(0x80 | octets);
        for (i = octets - 1; i >= 0; i--) {
            *q++ = (unsigned char)(body >> (8 * i));
        }
    }
    for (i = 0; i < nparts; i++) {
        if (parts[i].len) {
            memcpy(q, parts[i].data, parts[i].len);
            q += parts[i].len;
        }
    }
    *plen = header + body;
    return der;
}

int scep_der_order(const void *a, const void *b)
{
    const scep_der_part_t *x = a, *y = b;
    int c = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);

    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Written out rather than through the PKCS#7 API, whose objects cost more
 * than copying the certificates' DER: the bytes are fixed but for the
 * certificates and the CRL (t/unit/test_msg.c checks they are the same). */
apr_status_t scep_bundle_der(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                             STACK_OF(X509) *certs, X509_CRL *crl)
{
    static const unsigned char signed_data_oid[] = {     /* id-signedData */
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
    };
    /* version 1, no digestAlgorithms, id-data without its content */
    static const unsigned char head[] = {
        0x02, 0x01, 0x01, 0x31, 0x00,
        0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01
    };
    static const unsigned char no_signers[] = { 0x31, 0x00 };
    int ncerts = certs ? sk_X509_num(certs) : 0, i, n = 0;
    scep_der_part_t *cert_der = apr_palloc(p, sizeof(*cert_der) * (apr_size_t)(ncerts + 1));
    scep_der_part_t sd[4], ci[2], crl_der;
    apr_size_t len;

    for (i = 0; i < ncerts; i++) {
        if (!SCEP_ITEM_DER(p, X509, sk_X509_value(certs, i), &cert_der[i])) {
            return APR_EGENERAL;
        }
    }
    sd[n].data = head;
    sd[n++].len = sizeof(head);
    if (ncerts) {                                   /* [0] IMPLICIT, in this order */
        sd[n].data = scep_der_wrap(p, 0xa0, cert_der, ncerts, &len);
        sd[n++].len = len;
    }
    if (crl) {                                      /* [1] IMPLICIT */
        if (!SCEP_ITEM_DER(p, X509_CRL, crl, &crl_der)) {
            ERR_clear_error();
            return APR_EGENERAL;
        }
        sd[n].data = scep_der_wrap(p, 0xa1, &crl_der, 1, &len);
        sd[n++].len = len;
    }
    sd[n].data = no_signers;
    sd[n++].len = sizeof(no_signers);
    ci[0].data = scep_der_wrap(p, 0x30, sd, n, &len);   /* SignedData */
    ci[0].len = len;
    ci[1].data = scep_der_wrap(p, 0xa0, ci, 1, &len);   /* [0] EXPLICIT */
    ci[1].len = len;
    ci[0].data = signed_data_oid;
    ci[0].len = sizeof(signed_data_oid);
    *pder = scep_der_wrap(p, 0x30, ci, 2, plen);
    return APR_SUCCESS;
}

int scep_item_der(apr_pool_t *p, const ASN1_VALUE *obj, const ASN1_ITEM *it,
                  scep_der_part_t *part)
{
    int len = obj ? ASN1_item_i2d(obj, NULL, it) : -1;
    unsigned char *der, *q;

    if (len <= 0) {
        return 0;
    }
    q = der = apr_palloc(p, (apr_size_t)len);
    if (ASN1_item_i2d(obj, &q, it) != len) {
        return 0;
    }
    part->data = der;
    part->len = (apr_size_t)len;
    return 1;
}

apr_status_t scep_x509_der(unsigned char **pder, apr_size_t *plen,
                           apr_pool_t *p, X509 *x)
{
    scep_der_part_t der;

    if (!SCEP_ITEM_DER(p, X509, x, &der)) {
        return APR_EINVAL;
    }
    *pder = (unsigned char *)der.data;
    *plen = der.len;
    return APR_SUCCESS;
}

const char *scep_name_str(apr_pool_t *p, const X509_NAME *n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    const char *out = "";
    char *data;
    long len;

    if (!bio) {
        return out;
    }
    if (X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        len = BIO_get_mem_data(bio, &data);
        out = apr_pstrndup(p, data, (apr_size_t)len);
    }
    BIO_free(bio);
    return out;
}

const char *scep_cert_fingerprint(apr_pool_t *p, X509 *x)
{
    unsigned char *der;
    apr_size_t len;

    if (scep_x509_der(&der, &len, p, x) != APR_SUCCESS) {
        return "";
    }
    return scep_sha256_hex(p, der, len);
}

typedef struct no_keys_t {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *null_provider;
} no_keys_t;

static apr_status_t free_no_keys(void *data)
{
    no_keys_t *nk = data;

    OSSL_PROVIDER_unload(nk->null_provider);
    OSSL_LIB_CTX_free(nk->libctx);
    return APR_SUCCESS;
}

OSSL_LIB_CTX *scep_no_keys_make(apr_pool_t *p)
{
    no_keys_t *nk = apr_pcalloc(p, sizeof(*nk));

    if (!(nk->libctx = OSSL_LIB_CTX_new())) {
        return NULL;
    }
    if (!(nk->null_provider = OSSL_PROVIDER_load(nk->libctx, "null"))) {
        OSSL_LIB_CTX_free(nk->libctx);
        return NULL;
    }
    apr_pool_cleanup_register(p, nk, free_no_keys, apr_pool_cleanup_null);
    return nk->libctx;
}

X509_REQ *scep_req_parse_keyless(apr_pool_t *p, OSSL_LIB_CTX *no_keys,
                                 const unsigned char **pq, long len)
{
    X509_REQ *r;

    /* the opportunistic key decode fails there, and leaves errors behind */
    ERR_set_mark();
    r = (X509_REQ *)ASN1_item_d2i_ex(NULL, pq, len, ASN1_ITEM_rptr(X509_REQ), no_keys, NULL);
    ERR_pop_to_mark();
    return scep_own_req(p, r);
}

/* The SubjectPublicKeyInfo's DER in the pool; NULL (len 0) if none. */
static const unsigned char *spki_der(apr_pool_t *p, const X509_PUBKEY *k, int *plen)
{
    int len = k ? i2d_X509_PUBKEY(k, NULL) : 0;
    unsigned char *der, *q;

    *plen = 0;
    if (len <= 0) {
        return NULL;
    }
    der = q = apr_palloc(p, (apr_size_t)len);
    i2d_X509_PUBKEY(k, &q);
    *plen = len;
    return der;
}

/* An rsaEncryption key (parameters NULL or absent) through the RSA
 * routines, without OpenSSL 3.0's decoder chain: ~15 us instead of ~110. */
static EVP_PKEY *rsa_pubkey_decode(const X509_PUBKEY *k)
{
    ASN1_OBJECT *alg = NULL;
    const unsigned char *bits = NULL, *q;
    X509_ALGOR *algor = NULL;
    const void *param = NULL;
    int nbits = 0, ptype = V_ASN1_UNDEF;
    EVP_PKEY *key;

    if (!X509_PUBKEY_get0_param(&alg, &bits, &nbits, &algor, k) || !bits || nbits <= 0
        || OBJ_obj2nid(alg) != NID_rsaEncryption) {
        return NULL;
    }
    X509_ALGOR_get0(NULL, &ptype, &param, algor);
    if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
        return NULL;
    }
    q = bits;
    key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, nbits);
    if (key && q != bits + nbits) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

EVP_PKEY *scep_pubkey_decode(apr_pool_t *p, const X509_PUBKEY *k)
{
    int len;
    const unsigned char *in;
    EVP_PKEY *key = rsa_pubkey_decode(k);

    if (key) {
        return scep_own_pkey(p, key);
    }
    ERR_clear_error();
    in = spki_der(p, k, &len);
    return in ? scep_own_pkey(p, d2i_PUBKEY(NULL, &in, len)) : NULL;
}

const char *scep_pubkey_fingerprint(apr_pool_t *p, const X509_PUBKEY *k)
{
    int len;
    const unsigned char *der = spki_der(p, k, &len);

    return der ? scep_sha256_hex(p, der, (apr_size_t)len) : "";
}

/* A growing DER buffer in a pool. */
typedef struct der_buf_t {
    apr_pool_t *p;
    unsigned char *data;
    apr_size_t len;
    int ok;
} der_buf_t;

static void der_put(der_buf_t *b, const unsigned char *src, apr_size_t n)
{
    unsigned char *grown = apr_palloc(b->p, b->len + n);

    if (b->len) {
        memcpy(grown, b->data, b->len);
    }
    memcpy(grown + b->len, src, n);
    b->data = grown;
    b->len += n;
}

/* Append an object's DER (of OpenSSL's ASN.1 type). */
static void der_append(der_buf_t *b, const ASN1_VALUE *obj, const ASN1_ITEM *it)
{
    scep_der_part_t der;

    if (b->ok && scep_item_der(b->p, obj, it, &der)) {
        der_put(b, der.data, der.len);
    }
    else {
        b->ok = 0;
    }
}
#define DER_APPEND(b, type, obj) der_append((b), (const ASN1_VALUE *)(obj), ASN1_ITEM_rptr(type))

/* Wrap the buffer's content in a TLV header (a constructed tag). */
static void der_wrap(der_buf_t *b, int tag, int xclass)
{
    scep_der_part_t content;

    if (!b->ok || tag >= 31) {
        b->ok = 0;
        return;
    }
    content.data = b->data;
    content.len = b->len;
    b->data = scep_der_wrap(b->p, (unsigned char)(xclass | V_ASN1_CONSTRUCTED | tag), &content,
                            1, &b->len);
}

static int der_cmp(const void *a, const void *b)
{
    const der_buf_t *x = a, *y = b;
    scep_der_part_t px = { x->data, x->len }, py = { y->data, y->len };

    return scep_der_order(&px, &py);
}

/* An element's DER, if it reads back. OpenSSL accepts some values it
 * cannot encode again: a constructed element of tag 0 in an ANY (in an
 * attribute's SET OF ANY, or as a signature algorithm's parameters) is
 * written back as end-of-contents octets, which no parser takes inside a
 * definite length (found by fuzz_csr, in both places). A copy that does not
 * read back is no copy. */
static int item_der(der_buf_t *out, apr_pool_t *p, const ASN1_ITEM *it, const void *obj)
{
    int len = obj ? ASN1_item_i2d((const ASN1_VALUE *)obj, NULL, it) : -1, ok;
    unsigned char *q;
    const unsigned char *r;
    ASN1_VALUE *back;

    if (len <= 0) {
        return 0;
    }
    out->p = p;
    out->data = q = apr_palloc(p, (apr_size_t)len);
    out->len = (apr_size_t)ASN1_item_i2d((const ASN1_VALUE *)obj, &q, it);
    out->ok = 1;
    r = out->data;
    back = ASN1_item_d2i(NULL, &r, (long)out->len, it);
    ok = back != NULL && r == out->data + out->len;
    ASN1_item_free(back, it);
    return ok;
}

apr_status_t scep_req_der_without(unsigned char **pder, apr_size_t *plen, apr_pool_t *p,
                                  const X509_REQ *req, int nid)
{
    der_buf_t info = { p, NULL, 0, 1 }, attrs = { p, NULL, 0, 1 }, all = { p, NULL, 0, 1 };
    der_buf_t algor = { p, NULL, 0, 1 };
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    X509_ALGOR *key_alg = NULL;
    X509_PUBKEY *pubkey;
    ASN1_INTEGER *version = ASN1_INTEGER_new();
    long v = X509_REQ_get_version(req);   /* -1 when unreadable: v1 is the only one */
    der_buf_t *kept;
    apr_size_t total;
    int i, n, nkept;

    if (!version || !ASN1_INTEGER_set(version, v < 0 ? 0 : v)) {
        info.ok = 0;
    }
    DER_APPEND(&info, ASN1_INTEGER, version);
    ASN1_INTEGER_free(version);
    DER_APPEND(&info, X509_NAME, X509_REQ_get_subject_name(req));
    /* the request's ANY fields, where OpenSSL may read what it cannot write
     * again, are each read back (item_der): the key's and the signature's
     * algorithm parameters, and the attributes' values */
    pubkey = X509_REQ_get_X509_PUBKEY((X509_REQ *)req);
    if (!pubkey || !X509_PUBKEY_get0_param(NULL, NULL, NULL, &key_alg, pubkey)
        || !item_der(&algor, p, ASN1_ITEM_rptr(X509_ALGOR), key_alg)) {
        info.ok = 0;
    }
    DER_APPEND(&info, X509_PUBKEY, pubkey);
    /* one pass: each kept attribute encoded once, then copied once in
     * order (appending one at a time would copy the buffer each time) */
    n = X509_REQ_get_attr_count(req);
    kept = apr_palloc(p, sizeof(*kept) * (apr_size_t)(n > 0 ? n : 1));
    for (i = 0, nkept = 0, total = 0; i < n; i++) {
        X509_ATTRIBUTE *a = X509_REQ_get_attr(req, i);
        if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a)) != nid) {
            if (!item_der(&kept[nkept], p, ASN1_ITEM_rptr(X509_ATTRIBUTE), a)) {
                attrs.ok = 0;
                break;
            }
            total += kept[nkept++].len;
        }
    }
    /* DER orders a SET OF by the encodings, as i2d_X509_REQ would */
    qsort(kept, (size_t)nkept, sizeof(*kept), der_cmp);
    if (attrs.ok) {
        unsigned char *o = attrs.data = apr_palloc(p, total ? total : 1);
        for (i = 0; i < nkept; i++) {
            memcpy(o, kept[i].data, kept[i].len);
            o += kept[i].len;
        }
        attrs.len = total;
    }
    der_wrap(&attrs, 0, V_ASN1_CONTEXT_SPECIFIC);     /* attributes [0] IMPLICIT SET OF */
    if (attrs.ok) {
        der_put(&info, attrs.data, attrs.len);
    }
    der_wrap(&info, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    if (info.ok && attrs.ok) {
        der_put(&all, info.data, info.len);
    } else {
        all.ok = 0;
    }
    X509_REQ_get0_signature(req, &sig, &alg);
    if (all.ok && !item_der(&algor, p, ASN1_ITEM_rptr(X509_ALGOR), alg)) {
        all.ok = 0;
    }
    if (all.ok) {
        der_put(&all, algor.data, algor.len);
    }
    DER_APPEND(&all, ASN1_BIT_STRING, sig);
    der_wrap(&all, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    if (!all.ok) {
        ERR_clear_error();
        return APR_EGENERAL;
    }
    *pder = all.data;
    *plen = all.len;
    return APR_SUCCESS;
}

const char *scep_serial_hex(apr_pool_t *p, const ASN1_INTEGER *serial)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    const char *out = "";
    char *hex;

    if (bn && (hex = BN_bn2hex(bn)) != NULL) {
        out = apr_pstrdup(p, hex);
        OPENSSL_free(hex);
    }
    BN_free(bn);
    return out;
}

apr_int64_t scep_asn1_time_epoch(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (!ASN1_TIME_to_tm(t, &tm)) {
        return 0;
    }
    return (apr_int64_t)timegm(&tm);
}
