/* Fuzz target: a PKCS#10 request (DER) through the certificate profiles,
 * and the same bytes as text through the administrator-side parsers.
 *
 * DER: d2i_X509_REQ, the checks check_csr() makes (signature, subject,
 * challengePassword), then scep_policy_apply with the default profile and
 * with a strict one (subject and SAN rules with patterns and values,
 * requested keyUsage/EKU honoured; excess dropped, then refused),
 * scep_policy_plan and scep_policy_request (the template name). A plan that passes
 * is issued with the fuzz CA (scep_ca_issue), and the certificate must
 * encode.
 * Text: scep_policy_parse_subject and scep_policy_parse_sans (what one-time
 * challenges bind), whose results must encode too. */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz_common.h"
#include "scep_ossl.h"
#include "scep_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static scep_policy_t *pol_default, *pol_drop, *pol_refuse;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_env_t *env = fuzz_env();

    (void)argc; (void)argv;
    pol_default = scep_policy_make(env->pool, "default");
    pol_drop = fuzz_strict_policy(env->pool, SCEP_EXCESS_DROP);
    pol_refuse = fuzz_strict_policy(env->pool, SCEP_EXCESS_REFUSE);
    return 0;
}

/* as challenge_of() in scep_op.c */
static void challenge(X509_REQ *csr)
{
    int idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
    X509_ATTRIBUTE *attr;
    ASN1_TYPE *t;

    if (idx < 0 || !(attr = X509_REQ_get_attr(csr, idx))
        || !(t = X509_ATTRIBUTE_get0_type(attr, 0))) {
        return;
    }
    switch (t->type) {
    case V_ASN1_PRINTABLESTRING: case V_ASN1_UTF8STRING: case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING: case V_ASN1_BMPSTRING:
        (void)scep_secret_equal(ASN1_STRING_get0_data(t->value.asn1_string),
                                (apr_size_t)ASN1_STRING_length(t->value.asn1_string),
                                (const unsigned char *)"secret", 6);
        break;
    default:
        break;
    }
}

static void issue(apr_pool_t *p, const scep_cert_plan_t *plan, const char *which)
{
    X509 *cert = NULL;
    const char *err = NULL;
    unsigned char *der;
    apr_size_t len;
    apr_status_t rv;

    rv = scep_ca_issue(&cert, &err, p, fuzz_env()->ca, plan);
    if (rv == APR_SUCCESS) {
        if (!cert || scep_x509_der(&der, &len, p, cert) != APR_SUCCESS) {
            fuzz_fail("scep_ca_issue made a certificate that does not encode");
        }
        (void)scep_serial_hex(p, X509_get0_serialNumber(cert));
        (void)scep_name_str(p, X509_get_subject_name(cert));
    }
    else if (!err) {
        fprintf(stderr, "%s\n", which);
        fuzz_fail("scep_ca_issue failed without a reason");
    }
    ERR_clear_error();
}

static void apply(apr_pool_t *p, const scep_policy_t *pol, X509_REQ *csr, int do_issue)
{
    scep_cert_plan_t *plan = NULL;
    const char *why = NULL;

    if (scep_policy_apply(&plan, &why, p, pol, scep_policy_request(p, csr, NULL), NULL, fuzz_eval, NULL) == APR_SUCCESS) {
        if (!plan || !plan->subject || !plan->san || !plan->pubkey || !plan->md
            || X509_NAME_entry_count(plan->subject) == 0) {
            fuzz_fail("scep_policy_apply succeeded with an incomplete plan");
        }
        (void)scep_name_str(p, plan->subject);
        if (do_issue) {
            issue(p, plan, pol->name);
        }
    }
    else if (!why) {
        fuzz_fail("scep_policy_apply refused without a reason");
    }
    ERR_clear_error();
}

static void as_der(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const unsigned char *q = data;
    X509_REQ *csr;
    EVP_PKEY *key;
    scep_cert_plan_t *plan = NULL;
    const char *why = NULL, *tmpl;

    ERR_clear_error();
    if (!(csr = scep_own_req(p, d2i_X509_REQ(NULL, &q, (long)size)))) {
        ERR_clear_error();
        return;
    }
    (void)scep_name_str(p, X509_REQ_get_subject_name(csr));
    key = X509_REQ_get0_pubkey(csr);
    if (key) {
        (void)scep_pubkey_fingerprint(p, X509_REQ_get_X509_PUBKEY(csr));
        (void)X509_REQ_verify(csr, key);
    }
    ERR_clear_error();
    {
        /* the recorded copy: must read back as a request without the
         * challengePassword, whatever the request held */
        unsigned char *der;
        apr_size_t len;
        if (scep_req_der_without(&der, &len, p, csr, NID_pkcs9_challengePassword)
            == APR_SUCCESS) {
            const unsigned char *r = der;
            X509_REQ *back = d2i_X509_REQ(NULL, &r, (long)len);
            if (!back) {
                fuzz_fail("scep_req_der_without made a request that does not read back");
            }
            if (X509_REQ_get_attr_by_NID(back, NID_pkcs9_challengePassword, -1) >= 0) {
                fuzz_fail("scep_req_der_without kept a challengePassword");
            }
            X509_REQ_free(back);
        }
        ERR_clear_error();
    }
    challenge(csr);
    tmpl = scep_policy_request(p, csr, NULL)->template_name;
    if (tmpl) {
        (void)scep_log_safe(p, tmpl, strlen(tmpl));
    }
    apply(p, pol_default, csr, 0);
    apply(p, pol_drop, csr, 1);
    apply(p, pol_refuse, csr, 0);
    if (scep_policy_plan(&plan, &why, p, pol_default, scep_policy_request(p, csr, NULL)) == APR_SUCCESS) {
        /* a held request: names decided earlier, the rest by the policy */
        plan->subject = X509_REQ_get_subject_name(csr);
        plan->san = NULL;
        if (X509_NAME_entry_count(plan->subject) > 0) {
            issue(p, plan, "plan");
        }
    }
    else if (!why) {
        fuzz_fail("scep_policy_plan refused without a reason");
    }
    ERR_clear_error();
}

static void as_text(apr_pool_t *p, const char *text)
{
    X509_NAME *name = NULL;
    GENERAL_NAMES *san = NULL;
    const char *err = NULL;
    unsigned char *der = NULL;
    int len;

    if (scep_policy_parse_subject(&name, &err, p, text) == APR_SUCCESS) {
        if (!name || X509_NAME_entry_count(name) == 0
            || (len = i2d_X509_NAME(name, &der)) <= 0) {
            fuzz_fail("scep_policy_parse_subject returned an unusable name");
        }
        OPENSSL_free(der);
        der = NULL;
        (void)scep_name_str(p, name);
    }
    else if (!err) {
        fuzz_fail("scep_policy_parse_subject failed without a reason");
    }
    err = NULL;
    if (scep_policy_parse_sans(&san, &err, p, text) == APR_SUCCESS) {
        if (!san) {
            fuzz_fail("scep_policy_parse_sans returned no names");
        }
        if (sk_GENERAL_NAME_num(san) > 0 && (len = i2d_GENERAL_NAMES(san, &der)) <= 0) {
            fuzz_fail("scep_policy_parse_sans returned names that do not encode");
        }
        OPENSSL_free(der);
    }
    else if (!err) {
        fuzz_fail("scep_policy_parse_sans failed without a reason");
    }
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_input_pool();

    as_der(p, data, size);
    as_text(p, fuzz_cstr(p, data, size));
    apr_pool_destroy(p);
    return 0;
}
