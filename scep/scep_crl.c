/* mod_scep core: certificate revocation lists (RFC 5280 §5). */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "scep_crl.h"
#include "scep_ossl.h"
#include "scep_util.h"

/* RFC 5280 §5.3.1 CRLReason, indexed by code; 7 is not assigned. */
static const char *const reason_names[] = {
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
    "superseded", "cessationOfOperation", "certificateHold", NULL,
    "removeFromCRL", "privilegeWithdrawn", "aACompromise"
};
#define REASON_COUNT ((int)(sizeof(reason_names) / sizeof(reason_names[0])))

/* RFC 5280 §4.1.2.2: serials are at most 20 octets. Leading zeros in the
 * hex are tolerated, so the text limit is looser than 40 digits. */
#define SERIAL_MAX_OCTETS 20
#define SERIAL_MAX_HEX    64

int scep_crl_reason_code(const char *name)
{
    int i;

    if (!name) {
        return -1;
    }
    for (i = 0; i < REASON_COUNT; i++) {
        if (reason_names[i] && !strcasecmp(name, reason_names[i])) {
            return i;
        }
    }
    return -1;
}

const char *scep_crl_reason_name(int code)
{
    return (code >= 0 && code < REASON_COUNT) ? reason_names[code] : NULL;
}

static int reason_valid(int code)
{
    return code == -1 || scep_crl_reason_name(code) != NULL;
}

/* Append one entry. APR_EINVAL: the caller's data is wrong, *perr is
 * complete; APR_EGENERAL: OpenSSL failed, the caller adds its errors. */
static apr_status_t add_entry(X509_CRL *crl, const char **perr, apr_pool_t *p,
                              const scep_revoked_t *r)
{
    X509_REVOKED *rev = NULL;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *reason = NULL;
    apr_status_t rv = APR_EINVAL;
    const char *s = r->serial ? r->serial : "";
    apr_size_t i, n = strlen(s);

    /* BN_hex2bn stops quietly at the first non-hex character and takes a
     * sign, so check every character first */
    for (i = 0; i < n && apr_isxdigit(s[i]); i++)
        ;
    if (n == 0 || i < n || n > SERIAL_MAX_HEX) {
        *perr = apr_psprintf(p, "the serial '%s' is not a hex number",
                             scep_log_safe(p, s, n));
        goto leave;
    }
    if (r->revoked_at < 0) {
        *perr = apr_psprintf(p, "the revocation time of serial %s is negative", s);
        goto leave;
    }
    if (!reason_valid(r->reason)) {
        *perr = apr_psprintf(p, "serial %s has the invalid reason code %d",
                             s, r->reason);
        goto leave;
    }

    rv = APR_EGENERAL;
    *perr = apr_psprintf(p, "cannot add serial %s to the CRL", s);
    ERR_clear_error();
    if (!BN_hex2bn(&bn, s)) {
        goto leave;
    }
    if (BN_num_bytes(bn) > SERIAL_MAX_OCTETS) {
        *perr = apr_psprintf(p, "the serial %s is longer than %d octets",
                             s, SERIAL_MAX_OCTETS);
        rv = APR_EINVAL;
        goto leave;
    }
    if (!(rev = X509_REVOKED_new())
        || !(serial = BN_to_ASN1_INTEGER(bn, NULL))
        || !X509_REVOKED_set_serialNumber(rev, serial)
        || !(when = ASN1_TIME_set(NULL, (time_t)r->revoked_at))
        || !X509_REVOKED_set_revocationDate(rev, when)) {
        goto leave;
    }
    /* RFC 5280 §5.3.1: 'unspecified' SHOULD NOT be sent */
    if (r->reason >= 1) {
        if (!(reason = ASN1_ENUMERATED_new())
            || !ASN1_ENUMERATED_set(reason, r->reason)
            || X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0,
                                         X509V3_ADD_DEFAULT) != 1) {
            goto leave;
        }
    }
    if (!X509_CRL_add0_revoked(crl, rev)) {
        goto leave;
    }
    rev = NULL;     /* the CRL owns it now */
    rv = APR_SUCCESS;
leave:
    X509_REVOKED_free(rev);
    BN_free(bn);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(when);
    ASN1_ENUMERATED_free(reason);
    return rv;
}

apr_status_t scep_crl_build(unsigned char **pder, apr_size_t *plen,
                            const char **perr, apr_pool_t *p,
                            const scep_ca_t *ca,
                            const apr_array_header_t *revoked,
                            apr_int64_t number, apr_int64_t next_update_secs,
                            const EVP_MD *md)
{
    X509_CRL *crl = NULL;
    ASN1_TIME *this_update = NULL, *next_update = NULL;
    ASN1_INTEGER *crl_number = NULL;
    X509_EXTENSION *akid = NULL;
    X509V3_CTX v3;
    unsigned char *der = NULL;
    apr_status_t rv = APR_EINVAL;
    apr_int64_t now = (apr_int64_t)time(NULL);
    int i, len;

    if (!ca || !ca->cert || !ca->key) {
        *perr = "no CA certificate and key to sign the CRL with";
        goto leave;
    }
    if (number < 0) {
        *perr = apr_psprintf(p, "the CRL number %" APR_INT64_T_FMT " is negative",
                             number);
        goto leave;
    }
    if (next_update_secs <= 0 || next_update_secs > APR_INT64_MAX - now) {
        *perr = apr_psprintf(p, "the CRL lifetime %" APR_INT64_T_FMT
                             "s is out of range", next_update_secs);
        goto leave;
    }
    if (revoked && revoked->nelts > 0
        && revoked->elt_size != (int)sizeof(scep_revoked_t)) {
        *perr = "the revoked list is not an array of scep_revoked_t";
        goto leave;
    }

    rv = APR_EGENERAL;
    ERR_clear_error();
    if (!(crl = X509_CRL_new())
        || !X509_CRL_set_version(crl, X509_CRL_VERSION_2)
        || !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert))
        || !(this_update = ASN1_TIME_set(NULL, (time_t)now))
        || !(next_update = ASN1_TIME_set(NULL, (time_t)(now + next_update_secs)))
        || !X509_CRL_set1_lastUpdate(crl, this_update)
        || !X509_CRL_set1_nextUpdate(crl, next_update)) {
        *perr = "cannot fill in the CRL";
        goto leave;
    }
    for (i = 0; revoked && i < revoked->nelts; i++) {
        rv = add_entry(crl, perr, p, &APR_ARRAY_IDX(revoked, i, scep_revoked_t));
        if (rv != APR_SUCCESS) {
            goto leave;
        }
    }
    rv = APR_EGENERAL;
    /* sorted entries let relying parties search them (X509_CRL_sort) */
    if (!X509_CRL_sort(crl)) {
        *perr = "cannot sort the CRL entries";
        goto leave;
    }

    /* keyid from the CA's SKI; issuer and serial only when it has none */
    X509V3_set_ctx(&v3, ca->cert, NULL, NULL, crl, 0);
    if (!(crl_number = ASN1_INTEGER_new())
        || !ASN1_INTEGER_set_int64(crl_number, number)
        || X509_CRL_add1_ext_i2d(crl, NID_crl_number, crl_number, 0,
                                 X509V3_ADD_DEFAULT) != 1
        || !(akid = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
                                        "keyid,issuer"))
        || !X509_CRL_add_ext(crl, akid, -1)) {
        *perr = "cannot add the CRL extensions";
        goto leave;
    }
    if (X509_CRL_sign(crl, ca->key, md ? md : EVP_sha256()) <= 0) {
        *perr = "signing the CRL failed";
        goto leave;
    }
    if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
        *perr = "cannot encode the CRL";
        goto leave;
    }
    *pder = apr_pmemdup(p, der, (apr_size_t)len);
    *plen = (apr_size_t)len;
    rv = APR_SUCCESS;
leave:
    if (rv == APR_EGENERAL) {
        const char *errs = scep_ossl_errors(p);
        if (*errs) {
            *perr = apr_pstrcat(p, *perr, ": ", errs, NULL);
        }
    }
    OPENSSL_free(der);
    X509_EXTENSION_free(akid);
    ASN1_INTEGER_free(crl_number);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(this_update);
    X509_CRL_free(crl);
    ERR_clear_error();
    return rv;
}

apr_status_t scep_crl_info(apr_int64_t *pnumber, apr_int64_t *pthis_update,
                           apr_int64_t *pnext_update,
                           const unsigned char *der, apr_size_t len)
{
    const unsigned char *q = der;
    X509_CRL *crl = NULL;
    ASN1_INTEGER *num = NULL;
    const ASN1_TIME *this_update, *next_update;
    int64_t number;
    apr_status_t rv = APR_EINVAL;

    if (!der || len == 0 || len > LONG_MAX) {
        goto leave;
    }
    ERR_clear_error();
    if (!(crl = d2i_X509_CRL(NULL, &q, (long)len))
        || !(this_update = X509_CRL_get0_lastUpdate(crl))
        || !(next_update = X509_CRL_get0_nextUpdate(crl))
        || !(num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL))
        || !ASN1_INTEGER_get_int64(&number, num)
        || number < 0) {
        goto leave;
    }
    if (pnumber) *pnumber = (apr_int64_t)number;
    if (pthis_update) *pthis_update = scep_asn1_time_epoch(this_update);
    if (pnext_update) *pnext_update = scep_asn1_time_epoch(next_update);
    rv = APR_SUCCESS;
leave:
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    ERR_clear_error();
    return rv;
}
