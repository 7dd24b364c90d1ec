/* Unit tests: inputs that made a fuzz harness crash or fail a check
 * (fuzz/regressions/), fed through the same library calls. */
#include <stdio.h>
#include <string.h>
#include <openssl/x509.h>
#include "tests.h"
#include "scep_ossl.h"

/* fuzz/regressions/NAME, read whole */
static unsigned char *regression(const char *name, long *plen)
{
    const char *path = apr_pstrcat(test_pool, SRCDIR, "/fuzz/regressions/", name, NULL);
    FILE *f = fopen(path, "rb");
    unsigned char *buf = apr_palloc(test_pool, 65536);

    ck_assert_msg(f != NULL, "cannot open %s", path);
    *plen = (long)fread(buf, 1, 65536, f);
    fclose(f);
    ck_assert_int_gt(*plen, 0);
    return buf;
}

/* fuzz_csr: a request whose extensionRequest holds a constructed element of
 * tag 0 parses, but OpenSSL writes that element back as end-of-contents
 * octets, so a copy without the challengePassword did not read back. Now
 * no copy is made; the request itself still parses and keeps its names. */
START_TEST(csr_copy_that_would_not_read_back_is_refused)
{
    long len;
    const unsigned char *q = regression("csr-attribute-eoc", &len);
    X509_REQ *req = d2i_X509_REQ(NULL, &q, len);
    unsigned char *der = NULL;
    apr_size_t dlen = 0;

    ck_assert_ptr_nonnull(req);
    ck_assert_int_eq(scep_req_der_without(&der, &dlen, test_pool, req,
                                          NID_pkcs9_challengePassword), APR_EGENERAL);
    X509_REQ_free(req);
}
END_TEST

Suite *regress_suite(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("fuzz");

    tcase_add_test(tc, csr_copy_that_would_not_read_back_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
