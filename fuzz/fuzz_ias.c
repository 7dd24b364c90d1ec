/* Fuzz target: the small DER structures the engine reads besides CSRs.
 *
 * - IssuerAndSerialNumber (GetCert, GetCRL payloads), used as getcert()
 *   in scep/scep_op.c uses it: d2i_PKCS7_ISSUER_AND_SERIAL, scep_serial_hex
 *   of the serial, X509_NAME_cmp of the issuer with the CA's subject; the
 *   name is also rendered (scep_name_str) as records and logs do.
 * - IssuerAndSubject (CertPoll/GetCertInitial payloads): the engine matches
 *   polls by transactionID and key and does not decode it, so only the two
 *   names are read here the way a decoder would.
 * - A CRL: scep_crl_info (the engine reads back stored CRLs with it).
 * Every input goes through all three. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "fuzz_common.h"
#include "scep_crl.h"
#include "scep_ossl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8894 §3.3.3: IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } */
typedef struct issuer_and_subject_st {
    X509_NAME *issuer;
    X509_NAME *subject;
} ISSUER_AND_SUBJECT;

DECLARE_ASN1_FUNCTIONS(ISSUER_AND_SUBJECT)
ASN1_SEQUENCE(ISSUER_AND_SUBJECT) = {
    ASN1_SIMPLE(ISSUER_AND_SUBJECT, issuer, X509_NAME),
    ASN1_SIMPLE(ISSUER_AND_SUBJECT, subject, X509_NAME)
} ASN1_SEQUENCE_END(ISSUER_AND_SUBJECT)
IMPLEMENT_ASN1_FUNCTIONS(ISSUER_AND_SUBJECT)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    fuzz_env();
    return 0;
}

static void issuer_and_serial(apr_pool_t *p, const scep_ca_t *ca,
                              const uint8_t *data, size_t size)
{
    const unsigned char *q = data;
    PKCS7_ISSUER_AND_SERIAL *ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &q, (long)size);
    const char *serial;

    ERR_clear_error();
    if (!ias) {
        return;
    }
    serial = scep_serial_hex(p, ias->serial);
    if (!serial) {
        fuzz_fail("scep_serial_hex returned NULL");
    }
    (void)X509_NAME_cmp(ias->issuer, X509_get_subject_name(ca->cert));
    (void)scep_name_str(p, ias->issuer);
    (void)apr_psprintf(p, "no certificate with serial %s was issued by this CA", serial);
    PKCS7_ISSUER_AND_SERIAL_free(ias);
    ERR_clear_error();
}

static void issuer_and_subject(apr_pool_t *p, const scep_ca_t *ca,
                               const uint8_t *data, size_t size)
{
    const unsigned char *q = data;
    ISSUER_AND_SUBJECT *ias = d2i_ISSUER_AND_SUBJECT(NULL, &q, (long)size);

    ERR_clear_error();
    if (!ias) {
        return;
    }
    (void)X509_NAME_cmp(ias->issuer, X509_get_subject_name(ca->cert));
    (void)scep_name_str(p, ias->issuer);
    (void)scep_name_str(p, ias->subject);
    ISSUER_AND_SUBJECT_free(ias);
    ERR_clear_error();
}

static void crl(const uint8_t *data, size_t size)
{
    apr_int64_t number = -1, this_update = 0, next_update = 0;

    if (scep_crl_info(&number, &this_update, &next_update, data, size) == APR_SUCCESS
        && number < 0) {
        fuzz_fail("scep_crl_info returned a negative cRLNumber");
    }
    /* every out-param may be NULL */
    (void)scep_crl_info(NULL, NULL, NULL, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_env_t *env = fuzz_env();
    apr_pool_t *p = fuzz_input_pool();

    issuer_and_serial(p, env->ca, data, size);
    issuer_and_subject(p, env->ca, data, size);
    crl(data, size);
    apr_pool_destroy(p);
    return 0;
}
