/* mod_scep core: what a validator (webhook, Intune) is told about a
 * request, and how the names a validator fixes become the certificate's. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "scep_validate.h"
#include "scep_ossl.h"

/* PEM of a DER object through a memory BIO; NULL if it cannot be written. */
static const char *pem_of(apr_pool_t *p, int (*write)(BIO *, const void *), const void *obj)
{
    BIO *bio = BIO_new(BIO_s_mem());
    const char *out = NULL;
    char *data;
    long len;

    if (bio && write(bio, obj) == 1) {
        len = BIO_get_mem_data(bio, &data);
        out = apr_pstrndup(p, data, (apr_size_t)len);
    }
    BIO_free(bio);
    return out;
}

static int write_req(BIO *bio, const void *req)
{
    return PEM_write_bio_X509_REQ(bio, (X509_REQ *)req);
}

static int write_cert(BIO *bio, const void *cert)
{
    return PEM_write_bio_X509(bio, (X509 *)cert);
}

/* The subjectAltNames a request asks for, owned by p; NULL if none. */
static GENERAL_NAMES *requested_san(apr_pool_t *p, X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *san = NULL;
    int i;

    for (i = 0; i < sk_X509_EXTENSION_num(exts) && !san; i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name) {
            san = X509V3_EXT_d2i(ext);
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return san ? scep_own_general_names(p, san) : NULL;
}

static const char *key_type_of(const EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: return "RSA";
    case EVP_PKEY_EC: return "EC";
    case EVP_PKEY_ED25519: return "Ed25519";
    case EVP_PKEY_ED448: return "Ed448";
    default: return "other";
    }
}

scep_validation_t *scep_validation_make(apr_pool_t *p, const scep_validation_in_t *in)
{
    scep_validation_t *v = apr_pcalloc(p, sizeof(*v));
    GENERAL_NAMES *san;
    unsigned char *der = NULL;
    int len;

    v->transaction_id = in->tid;
    v->location = in->location;
    v->ca = in->ca;
    v->renewal = in->renewal_of != NULL;
    v->challenge = in->challenge;
    v->challenge_len = in->challenge_len;
    len = i2d_X509_REQ(in->csr, &der);
    if (len > 0) {
        v->csr_der = apr_pmemdup(p, der, (apr_size_t)len);
        v->csr_len = (apr_size_t)len;
    }
    OPENSSL_free(der);
    v->csr_pem = pem_of(p, write_req, in->csr);
    v->subject = scep_name_str(p, X509_REQ_get_subject_name(in->csr));
    san = requested_san(p, in->csr);
    v->sans = scep_policy_san_strings(p, san);
    v->key_type = key_type_of(in->key);
    v->key_bits = EVP_PKEY_get_bits(in->key);
    v->client_addr = in->client_addr;
    v->signer_pem = in->renewal_of ? pem_of(p, write_cert, in->renewal_of) : NULL;
    ERR_clear_error();
    return v;
}

apr_status_t scep_validation_names(scep_names_t **pnames, const char **perr, apr_pool_t *p,
                                   const scep_verdict_t *verdict)
{
    scep_names_t *names = apr_pcalloc(p, sizeof(*names));
    X509_NAME *subject = NULL;
    GENERAL_NAMES *san = NULL;
    const char *lines = "";
    int i;

    if (!verdict->subject && !verdict->sans) {
        *pnames = NULL;
        return APR_SUCCESS;
    }
    if (verdict->subject
        && scep_policy_parse_subject(&subject, perr, p, verdict->subject) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    for (i = 0; verdict->sans && i < verdict->sans->nelts; i++) {
        lines = apr_pstrcat(p, lines, APR_ARRAY_IDX(verdict->sans, i, const char *), "\n",
                            NULL);
    }
    if (scep_policy_parse_sans(&san, perr, p, lines) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    names->subject = subject;
    names->san = sk_GENERAL_NAME_num(san) > 0 ? san : NULL;
    *pnames = names;
    return APR_SUCCESS;
}
