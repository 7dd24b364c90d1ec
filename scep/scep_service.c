/* mod_scep core: a Location's service, built once at start-up. */
#include <strings.h>
#include <apr_strings.h>

#include "scep_service.h"
#include "scep_ossl.h"

/* What clients are told we can do: only what is implemented. Apple ignores
 * SCEPStandard, so its parts are listed one by one too. */
static const char caps_body[] =
    "AES\n"
    "DES3\n"
    "POSTPKIOperation\n"
    "SHA-1\n"
    "SHA-256\n"
    "SHA-512\n"
    "SCEPStandard\n";
static const char caps_renewal_body[] =
    "AES\n"
    "DES3\n"
    "POSTPKIOperation\n"
    "Renewal\n"
    "SHA-1\n"
    "SHA-256\n"
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

apr_status_t scep_service_cacert(const scep_cacert_t **pcacert, const char **perr,
                                 apr_pool_t *p, const scep_ca_t *ca)
{
    scep_cacert_t *out = apr_pcalloc(p, sizeof(*out));
    STACK_OF(X509) *bundle;
    unsigned char *der = NULL;
    apr_size_t len = 0;
    apr_status_t rv;
    int i;

    if (!ca->has_ra && sk_X509_num(ca->chain) == 0) {
        rv = scep_x509_der(&der, &len, p, ca->cert);
        out->content_type = "application/x-x509-ca-cert";
    }
    else {
        bundle = sk_X509_new_null();
        if (ca->has_ra) sk_X509_push(bundle, ca->ra_cert);
        sk_X509_push(bundle, ca->cert);
        for (i = 0; i < sk_X509_num(ca->chain); i++) {
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
    return svc;
}
