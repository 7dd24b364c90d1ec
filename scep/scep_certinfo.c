/* mod_scep core: a certificate decoded for the admin detail view and API.
 * Every OpenSSL object is freed on the one exit path. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "scep_certinfo.h"
#include "scep_ossl.h"
#include "scep_policy.h"

#define EXT_VALUE_MAX 2048       /* what one extension's text may take on the page */

/* What a memory BIO holds, at most max bytes. */
static const char *bio_text(apr_pool_t *p, BIO *b, apr_size_t max)
{
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);

    if (len <= 0 || !data) {
        return "";
    }
    return apr_pstrmemdup(p, data, (apr_size_t)len < max ? (apr_size_t)len : max);
}

static const char *fingerprint(apr_pool_t *p, const EVP_MD *md, const unsigned char *der,
                               apr_size_t len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0, i;
    char *out, *o;

    if (!EVP_Digest(der, len, digest, &dlen, md, NULL) || dlen == 0) {
        return "";
    }
    out = o = apr_palloc(p, dlen * 3);
    for (i = 0; i < dlen; i++) {
        apr_snprintf(o, 4, i + 1 < dlen ? "%02X:" : "%02X", digest[i]);
        o += 3;
    }
    return out;
}

static const char *key_text(apr_pool_t *p, X509 *x)
{
    EVP_PKEY *k = X509_get0_pubkey(x);
    char group[80];
    size_t glen = 0;

    if (!k) {
        return "unreadable";
    }
    if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) && glen > 0) {
        return apr_psprintf(p, "%s %d bits (%s)", EVP_PKEY_get0_type_name(k),
                            EVP_PKEY_get_bits(k), group);
    }
    return apr_psprintf(p, "%s %d bits", EVP_PKEY_get0_type_name(k), EVP_PKEY_get_bits(k));
}

static void read_extensions(scep_certinfo_t *info, apr_pool_t *p, X509 *x)
{
    int i;

    info->extensions = apr_array_make(p, 8, sizeof(scep_extension_t));
    for (i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *ext = X509_get_ext(x, i);
        scep_extension_t *e = apr_array_push(info->extensions);
        ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
        int nid = OBJ_obj2nid(obj);
        char oid[80];
        BIO *b = BIO_new(BIO_s_mem());

        OBJ_obj2txt(oid, sizeof(oid), obj, 1);
        e->name = nid != NID_undef ? OBJ_nid2sn(nid) : apr_pstrdup(p, oid);
        e->title = nid != NID_undef ? OBJ_nid2ln(nid) : e->name;
        e->critical = X509_EXTENSION_get_critical(ext);
        if (b && !X509V3_EXT_print(b, ext, 0, 0)) {
            (void)BIO_reset(b);
            ASN1_STRING_print(b, X509_EXTENSION_get_data(ext));
        }
        e->value = b ? bio_text(p, b, EXT_VALUE_MAX) : "";
        BIO_free(b);
    }
}

apr_status_t scep_certinfo_make(scep_certinfo_t **pinfo, apr_pool_t *p,
                                const unsigned char *der, apr_size_t len)
{
    const unsigned char *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    GENERAL_NAMES *san = NULL;
    BIO *pem = NULL;
    scep_certinfo_t *info;
    apr_status_t rv = APR_EINVAL;

    if (!x || q != der + len) {
        goto done;
    }
    info = apr_pcalloc(p, sizeof(*info));
    info->subject = scep_name_str(p, X509_get_subject_name(x));
    info->issuer = scep_name_str(p, X509_get_issuer_name(x));
    info->serial = scep_serial_hex(p, X509_get0_serialNumber(x));
    info->not_before = scep_asn1_time_epoch(X509_get0_notBefore(x));
    info->not_after = scep_asn1_time_epoch(X509_get0_notAfter(x));
    info->key = key_text(p, x);
    info->signature = OBJ_nid2ln(X509_get_signature_nid(x));
    info->sha1 = fingerprint(p, EVP_sha1(), der, len);
    info->sha256 = fingerprint(p, EVP_sha256(), der, len);
    san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    info->sans = scep_policy_san_strings(p, san);
    read_extensions(info, p, x);
    if ((pem = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(pem, x)) {
        goto done;
    }
    info->pem = bio_text(p, pem, len * 2 + 256);
    *pinfo = info;
    rv = APR_SUCCESS;
done:
    BIO_free(pem);
    GENERAL_NAMES_free(san);
    X509_free(x);
    return rv;
}
