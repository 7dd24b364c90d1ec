/* mod_scep core: one issuance path (engine and admin approval). */
#include <string.h>
#include <apr_strings.h>

#include "scep_issue.h"
#include "scep_ossl.h"
#include "scep_util.h"

const char *scep_issue_why_not_renewable(apr_pool_t *p, const scep_cert_t *old)
{
    if (old->revoked_at) {
        return "the certificate being renewed is revoked";
    }
    if (old->renewed_by) {
        return apr_psprintf(p, "the certificate being renewed was renewed already "
                            "(by serial %s)", old->renewed_by);
    }
    if (old->lineage_compromised) {
        return "a certificate this one was renewed from is revoked for keyCompromise";
    }
    return NULL;
}

apr_status_t scep_issue_sign(X509 **pcert, scep_cert_t *rec, scep_renewal_t *renewal,
                             const char **perr, apr_pool_t *p, const scep_ca_t *ca,
                             const scep_cert_plan_t *plan, const char *profile,
                             const scep_cert_t *old, int supersede)
{
    unsigned char *der = NULL;
    apr_size_t len = 0;
    X509 *cert;
    apr_status_t rv = scep_ca_issue(&cert, perr, p, ca, plan);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    scep_x509_der(&der, &len, p, cert);
    memset(rec, 0, sizeof(*rec));
    rec->ca = ca->fingerprint;
    rec->serial = scep_serial_hex(p, X509_get0_serialNumber(cert));
    rec->subject = scep_name_str(p, X509_get_subject_name(cert));
    rec->not_before = scep_asn1_time_epoch(X509_get0_notBefore(cert));
    rec->not_after = scep_asn1_time_epoch(X509_get0_notAfter(cert));
    rec->der = scep_b64_encode(p, der, len);
    rec->profile = profile;
    if (old) {
        /* a chain of renewals is named by its first certificate */
        rec->lineage = old->lineage ? old->lineage : old->serial;
        renewal->old_ca = old->ca;
        renewal->old_serial = old->serial;
        renewal->supersede = supersede;
    }
    *pcert = cert;
    return APR_SUCCESS;
}
