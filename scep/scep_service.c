/* mod_scep core: a Location's service, built once at start-up. */
#include <strings.h>
#include <apr_strings.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "scep_service.h"
#include "scep_ossl.h"

/* What clients are told we can do: only what is implemented. Apple ignores
 * SCEPStandard, so its parts are listed one by one too. SHA-384 is listed
 * (it is accepted) also because strongSwan's pki before 5.9.11 reads the
 * capabilities as bit numbers, not bits: it takes AES and SCEPStandard for
 * granted only when SHA-384 is listed (README, client notes). */
static const char caps_body[] =
    "AES\n"
    "DES3\n"
    "POSTPKIOperation\n"
    "SHA-1\n"
    "SHA-256\n"
    "SHA-384\n"
    "SHA-512\n"
    "SCEPStandard\n";
static const char caps_renewal_body[] =
    "AES\n"
    "DES3\n"
    "POSTPKIOperation\n"
    "Renewal\n"
    "SHA-1\n"
    "SHA-256\n"
    "SHA-384\n"
    "SHA-512\n"
    "SCEPStandard\n";

int scep_profile_manual_approval(const char *word)
{
    return !strcasecmp(word, "manual") ? 1 : !strcasecmp(word, "auto") ? 0 : -1;
}

int scep_profile_renewal_keeps_names(const char *word)
{
    return !strcasecmp(word, "keep") ? 1 : !strcasecmp(word, "profile") ? 0 : -1;
}

static apr_status_t cacert_answer(const scep_cacert_t **pcacert, const char **perr,
                                  apr_pool_t *p, const scep_ca_t *ca, int with_chain)
{
    scep_cacert_t *out = apr_pcalloc(p, sizeof(*out));
    STACK_OF(X509) *bundle;
    unsigned char *der = NULL;
    apr_size_t len = 0;
    apr_status_t rv;
    int i;

    if (!ca->has_ra && (!with_chain || sk_X509_num(ca->chain) == 0)) {
        rv = scep_x509_der(&der, &len, p, ca->cert);
        out->content_type = "application/x-x509-ca-cert";
    }
    else {
        bundle = sk_X509_new_null();
        /* the certificate devices encrypt to first: clients that take the
         * first RA for everything still encrypt to the right one */
        if (ca->split_ra) sk_X509_push(bundle, ca->enc_cert);
        if (ca->has_ra) sk_X509_push(bundle, ca->ra_cert);
        sk_X509_push(bundle, ca->cert);
        for (i = 0; with_chain && i < sk_X509_num(ca->chain); i++) {
            sk_X509_push(bundle, sk_X509_value(ca->chain, i));
        }
        rv = scep_bundle_der(&der, &len, p, bundle, NULL);
        sk_X509_free(bundle);   /* borrowed references only */
        out->content_type = "application/x-x509-ca-ra-cert";
    }
    if (rv != APR_SUCCESS) {
        *perr = apr_pstrcat(p, "cannot build the GetCACert answer: ", scep_ossl_errors(p),
                            NULL);
        return rv;
    }
    out->der = der;
    out->len = len;
    *pcacert = out;
    return APR_SUCCESS;
}

apr_status_t scep_service_cacert(const scep_cacert_t **pcacert, const char **perr,
                                 apr_pool_t *p, const scep_ca_t *ca)
{
    return cacert_answer(pcacert, perr, p, ca, 1);
}

apr_status_t scep_service_cacert_nochain(const scep_cacert_t **pcacert, const char **perr,
                                         apr_pool_t *p, const scep_ca_t *ca)
{
    return cacert_answer(pcacert, perr, p, ca, 0);
}

scep_service_t *scep_service_make(apr_pool_t *p, const scep_ca_t *ca,
                                  const scep_oids_t *oids, const scep_profile_t *profile,
                                  apr_int64_t crl_validity, const scep_cacert_t *cacert)
{
    scep_service_t *svc = apr_pcalloc(p, sizeof(*svc));

    svc->ca = ca;
    svc->oids = oids;
    svc->profile = profile;
    svc->crl_validity = crl_validity;
    svc->caps = profile->renewal ? caps_renewal_body : caps_body;
    svc->cacert = cacert;
    if (profile->cacert_no_chain && sk_X509_num(ca->chain) > 0) {
        /* this Location's own answer (SCEPGetCACertChain off) */
        const char *err;
        if (scep_service_cacert_nochain(&svc->cacert, &err, p, ca) != APR_SUCCESS) {
            svc->cacert = cacert;
        }
    }
    return svc;
}

/* Why next_ca cannot be the next CA, or NULL. */
static const char *not_a_next_ca(const scep_ca_t *ca, X509 *next_ca, X509 *next_ra)
{
    if (X509_check_ca(next_ca) != 1 || !(X509_get_key_usage(next_ca) & KU_KEY_CERT_SIGN)) {
        return "the next CA certificate is not a CA (basicConstraints CA:TRUE, keyCertSign)";
    }
    if (X509_cmp(next_ca, ca->cert) == 0) {
        return "the next CA certificate is the current one";
    }
    if (next_ra && X509_check_issued(next_ca, next_ra) != X509_V_OK) {
        return "the next RA certificate is not issued by the next CA";
    }
    return NULL;
}

apr_status_t scep_service_nextcacert(const scep_cacert_t **pnext, const char **perr,
                                     apr_pool_t *p, const scep_ca_t *ca, X509 *next_ca,
                                     X509 *next_ra)
{
    scep_cacert_t *out = apr_pcalloc(p, sizeof(*out));
    STACK_OF(X509) *bundle = NULL;
    CMS_ContentInfo *cms = NULL;
    BIO *inner = NULL;
    unsigned char *der = NULL, *signed_der = NULL;
    apr_size_t len = 0;
    apr_status_t rv = APR_EGENERAL;
    int slen;

    if ((*perr = not_a_next_ca(ca, next_ca, next_ra)) != NULL) {
        return APR_EINVAL;
    }
    bundle = sk_X509_new_null();
    if (!bundle || (next_ra && !sk_X509_push(bundle, next_ra)) || !sk_X509_push(bundle, next_ca)
        || scep_bundle_der(&der, &len, p, bundle, NULL) != APR_SUCCESS
        || !(inner = BIO_new_mem_buf(der, (int)len))
        || !(cms = CMS_sign(ca->ra_cert, ca->ra_key, NULL, inner, CMS_BINARY))
        || (slen = i2d_CMS_ContentInfo(cms, &signed_der)) <= 0) {
        *perr = apr_pstrcat(p, "cannot build the GetNextCACert answer: ", scep_ossl_errors(p),
                            NULL);
        goto done;
    }
    out->content_type = "application/x-x509-next-ca-cert";
    out->der = apr_pmemdup(p, signed_der, (apr_size_t)slen);
    out->len = (apr_size_t)slen;
    *pnext = out;
    rv = APR_SUCCESS;
done:
    OPENSSL_free(signed_der);
    CMS_ContentInfo_free(cms);
    BIO_free(inner);
    sk_X509_free(bundle);           /* borrowed references only */
    return rv;
}

void scep_service_set_next(scep_service_t *svc, apr_pool_t *p, const scep_cacert_t *next)
{
    svc->nextcacert = next;
    if (next) {
        svc->caps = apr_pstrcat(p, svc->caps, "GetNextCACert\n", NULL);
    }
}

void scep_service_set_cas(scep_service_t *svc, apr_pool_t *p, const scep_cas_t *cas,
                          const scep_cacert_t *next_cacert)
{
    scep_service_t *after;

    svc->cas = cas;
    if (!cas || !cas->next || !next_cacert) {
        return;
    }
    /* the same profile at the next CA, with nothing next to offer */
    after = apr_pmemdup(p, svc, sizeof(*svc));
    after->ca = cas->next;
    after->cacert = next_cacert;
    if (svc->profile->cacert_no_chain && sk_X509_num(cas->next->chain) > 0) {
        const char *err;
        if (scep_service_cacert_nochain(&after->cacert, &err, p, cas->next) != APR_SUCCESS) {
            after->cacert = next_cacert;
        }
    }
    after->nextcacert = NULL;
    after->caps = svc->profile->renewal ? caps_renewal_body : caps_body;
    after->after = NULL;
    svc->after = after;
    svc->switch_at = cas->switch_at;
}

const scep_service_t *scep_service_at(const scep_service_t *svc, apr_int64_t now)
{
    return svc->after && now >= svc->switch_at ? svc->after : svc;
}
