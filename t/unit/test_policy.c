/* Unit tests: certificate profiles. The request proposes, the profile
 * decides: every rule is tried with a request that fits and one that
 * tries to exceed it. */
#include <string.h>
#include <openssl/x509v3.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include "tests.h"
#include "scep_policy.h"

/* the request as the engine hands it to the policy (key decoded with it) */
#define REQ(csr) scep_policy_request(test_pool, (csr), NULL)
#include "scep_ossl.h"

static EVP_PKEY *rsa2048, *rsa1024, *ec256;

static void setup(void)
{
    if (rsa2048) return;
    rsa2048 = t_rsa_key(2048);
    rsa1024 = t_rsa_key(1024);
    ec256 = EVP_EC_gen("P-256");
}

/* A CSR with subject entries "CN=x", "O=y" ... and optional extensions. */
static X509_REQ *csr(EVP_PKEY *key, const char *const *subject,
                     const char *san, const char *ku, const char *bc, const char *tmpl)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509V3_CTX v3;

    for (; subject && *subject; subject += 2) {
        X509_NAME_add_entry_by_txt(n, subject[0], MBSTRING_UTF8,
                                   (const unsigned char *)subject[1], -1, -1, 0);
    }
    X509_REQ_set_subject_name(req, n);
    X509_NAME_free(n);
    X509_REQ_set_pubkey(req, key);
    X509V3_set_ctx(&v3, NULL, NULL, req, NULL, 0);
    if (san) sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san));
    if (ku) sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, ku));
    if (bc) sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, bc));
    if (tmpl) {
        ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
        ASN1_STRING *bmp = ASN1_STRING_type_new(V_ASN1_BMPSTRING);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        unsigned char buf[128], *der = NULL;
        size_t i, len = strlen(tmpl);
        int dlen;
        for (i = 0; i < len; i++) { buf[2 * i] = 0; buf[2 * i + 1] = (unsigned char)tmpl[i]; }
        ASN1_STRING_set(bmp, buf, (int)(2 * len));
        dlen = i2d_ASN1_BMPSTRING(bmp, &der);
        ASN1_OCTET_STRING_set(os, der, dlen);
        sk_X509_EXTENSION_push(exts, X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os));
        OPENSSL_free(der);
        ASN1_OBJECT_free(oid);
        ASN1_STRING_free(bmp);
        ASN1_OCTET_STRING_free(os);
    }
    if (sk_X509_EXTENSION_num(exts) > 0) X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_sign(req, key, EVP_sha256());
    scep_own_req(test_pool, req);
    return req;
}

static scep_rule_t rule(int nid, int san_type, scep_source_t src, const char *re, const char *value)
{
    scep_rule_t r;
    const char *err = NULL;
    memset(&r, 0, sizeof(r));
    r.nid = nid;
    r.san_type = (scep_san_type_t)san_type;
    r.source = src;
    if (re) {
        r.pattern_text = re;
        r.pattern = scep_policy_regex(test_pool, re, &err);
        ck_assert_ptr_nonnull(r.pattern);
    }
    r.expr = value;
    r.expr_text = value;
    return r;
}

/* stand-in for ap_expr: "%{user}" evaluates to "alice", others are literal */
static const char *eval(void *baton, const void *expr, const char **perr)
{
    (void)baton;
    if (!strcmp(expr, "%{fail}")) { *perr = "no such variable"; return NULL; }
    return !strcmp(expr, "%{user}") ? "alice" : expr;
}

static const char *subj(scep_cert_plan_t *plan)
{
    return scep_name_str(test_pool, plan->subject);
}

static apr_status_t apply(scep_cert_plan_t **plan, const char **why, scep_policy_t *pol, X509_REQ *r)
{
    return scep_policy_apply(plan, why, test_pool, pol, REQ(r), NULL, eval, NULL);
}

START_TEST(default_keeps_only_cn)
{
    static const char *const s[] = { "C", "US", "O", "scep-client", "CN", "dev1", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;

    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, "DNS:evil.example", NULL, NULL, NULL)),
                     APR_SUCCESS);
    ck_assert_str_eq(subj(plan), "CN=dev1");
    ck_assert_int_eq(sk_GENERAL_NAME_num(plan->san), 0);     /* SAN dropped */
    ck_assert_uint_eq(plan->key_usage, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    pol->subject_excess = SCEP_EXCESS_REFUSE;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "attribute C is not allowed"));
}
END_TEST

START_TEST(subject_rules_pattern_value_and_expression)
{
    static const char *const ok[] = { "CN", "host1.example.com", "OU", "a", "OU", "b", NULL };
    static const char *const bad[] = { "CN", "admin", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;

    pol->subject = apr_array_make(test_pool, 4, sizeof(scep_rule_t));
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_organizationName, 0, SCEP_FROM_VALUE, NULL, "Example Corp");
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_organizationalUnitName, 0, SCEP_FROM_REQUEST, NULL, NULL);
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_commonName, 0, SCEP_FROM_REQUEST, "^[a-z0-9.-]+\\.example\\.com$", NULL);
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_userId, 0, SCEP_FROM_VALUE, NULL, "%{user}");
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, ok, NULL, NULL, NULL, NULL)), APR_SUCCESS);
    ck_assert_str_eq(subj(plan), "UID=alice,CN=host1.example.com,OU=b,OU=a,O=Example Corp");
    /* a CN outside the pattern: dropped, leaving O and UID; refused in refuse mode */
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, bad, NULL, NULL, NULL, NULL)), APR_SUCCESS);
    ck_assert_str_eq(subj(plan), "UID=alice,O=Example Corp");
    pol->subject_excess = SCEP_EXCESS_REFUSE;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, bad, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "does not match"));
    /* an expression that fails refuses, naming it */
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_title, 0, SCEP_FROM_VALUE, NULL, "%{fail}");
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, ok, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "%{fail}"));
}
END_TEST

/* A value rule with a pattern: an empty or non-matching result refuses. */
START_TEST(value_rule_with_pattern)
{
    static const char *const s[] = { "CN", "dev1", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;

    pol->subject = apr_array_make(test_pool, 2, sizeof(scep_rule_t));
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_commonName, 0, SCEP_FROM_REQUEST, NULL, NULL);
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_userId, 0, SCEP_FROM_VALUE, "^[a-z]+$", "%{user}");
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), APR_SUCCESS);
    ck_assert_str_eq(subj(plan), "UID=alice,CN=dev1");
    APR_ARRAY_IDX(pol->subject, 1, scep_rule_t) = rule(NID_userId, 0, SCEP_FROM_VALUE, "^[0-9]+$", "%{user}");
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "does not match its pattern"));
    APR_ARRAY_IDX(pol->subject, 1, scep_rule_t) = rule(NID_userId, 0, SCEP_FROM_VALUE, ".*", "");
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "value ''"));
    /* the same for a SAN value rule */
    pol->subject = NULL;
    pol->san = apr_array_make(test_pool, 1, sizeof(scep_rule_t));
    APR_ARRAY_PUSH(pol->san, scep_rule_t) = rule(0, SCEP_SAN_DNS, SCEP_FROM_VALUE, "\\.example$", "evil.org");
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "dns value 'evil.org'"));
}
END_TEST

/* A renewal's kept names go through the target profile's rules; what a
 * value rule sets is replaced, not counted as excess. */
START_TEST(kept_names_follow_the_rules)
{
    static const char *const asks[] = { "CN", "asked-for", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    scep_names_t kept;
    X509_NAME *old = scep_own_name(test_pool, X509_NAME_new());
    const char *why = NULL;
    X509_REQ *r = csr(rsa2048, asks, "DNS:asked.example", NULL, NULL, NULL);

    X509_NAME_add_entry_by_txt(old, "O", MBSTRING_UTF8, (const unsigned char *)"Old Corp", -1, -1, 0);
    X509_NAME_add_entry_by_txt(old, "CN", MBSTRING_UTF8, (const unsigned char *)"dev-7", -1, -1, 0);
    kept.subject = old;
    kept.san = NULL;
    pol->subject = apr_array_make(test_pool, 2, sizeof(scep_rule_t));
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_organizationName, 0, SCEP_FROM_VALUE, NULL, "New Corp");
    APR_ARRAY_PUSH(pol->subject, scep_rule_t) = rule(NID_commonName, 0, SCEP_FROM_REQUEST, "^dev-[0-9]+$", NULL);
    pol->subject_excess = SCEP_EXCESS_REFUSE;
    ck_assert_int_eq(scep_policy_apply(&plan, &why, test_pool, pol, REQ(r), &kept, eval, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(subj(plan), "CN=dev-7,O=New Corp");      /* kept CN, O anew */
    ck_assert_int_eq(sk_GENERAL_NAME_num(plan->san), 0);      /* the request's SAN is not used */
    /* a kept CN the target's rule does not allow */
    X509_NAME_ENTRY_free(X509_NAME_delete_entry(old, 1));
    X509_NAME_add_entry_by_txt(old, "CN", MBSTRING_UTF8, (const unsigned char *)"admin", -1, -1, 0);
    ck_assert_int_eq(scep_policy_apply(&plan, &why, test_pool, pol, REQ(r), &kept, eval, NULL),
                     SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "subject CN 'admin' does not match"));
    /* a kept attribute with no rule at all is excess */
    X509_NAME_ENTRY_free(X509_NAME_delete_entry(old, 1));
    X509_NAME_add_entry_by_txt(old, "CN", MBSTRING_UTF8, (const unsigned char *)"dev-8", -1, -1, 0);
    X509_NAME_add_entry_by_txt(old, "OU", MBSTRING_UTF8, (const unsigned char *)"admins", -1, -1, 0);
    ck_assert_int_eq(scep_policy_apply(&plan, &why, test_pool, pol, REQ(r), &kept, eval, NULL),
                     SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "attribute OU is not allowed"));
}
END_TEST

START_TEST(empty_subject_is_refused)
{
    static const char *const s[] = { "O", "x", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "empty subject"));
}
END_TEST

START_TEST(san_rules)
{
    static const char *const s[] = { "CN", "dev", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    X509_EXTENSION *ext;
    char *text;
    long len;

    pol->san = apr_array_make(test_pool, 4, sizeof(scep_rule_t));
    APR_ARRAY_PUSH(pol->san, scep_rule_t) = rule(0, SCEP_SAN_DNS, SCEP_FROM_REQUEST, "\\.example\\.com$", NULL);
    APR_ARRAY_PUSH(pol->san, scep_rule_t) = rule(0, SCEP_SAN_URI, SCEP_FROM_VALUE, NULL,
                                                 "tag:microsoft.com,2022-09-14:sid:S-1-5-21-1");
    APR_ARRAY_PUSH(pol->san, scep_rule_t) = rule(0, SCEP_SAN_UPN, SCEP_FROM_VALUE, NULL, "%{user}");
    APR_ARRAY_PUSH(pol->san, scep_rule_t) = rule(0, SCEP_SAN_IP, SCEP_FROM_REQUEST, "^10\\.", NULL);
    ck_assert_int_eq(apply(&plan, &why, pol,
        csr(rsa2048, s, "DNS:a.example.com,DNS:evil.org,IP:10.1.2.3,IP:192.168.1.1,email:x@y", NULL, NULL, NULL)),
        APR_SUCCESS);
    ck_assert_int_eq(sk_GENERAL_NAME_num(plan->san), 4);
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, plan->san);
    X509V3_EXT_print(bio, ext, 0, 0);
    X509_EXTENSION_free(ext);
    len = BIO_get_mem_data(bio, &text);
    text = apr_pstrndup(test_pool, text, (apr_size_t)len);
    ck_assert_ptr_nonnull(strstr(text, "DNS:a.example.com"));
    ck_assert_ptr_null(strstr(text, "evil.org"));
    ck_assert_ptr_nonnull(strstr(text, "IP Address:10.1.2.3"));
    ck_assert_ptr_null(strstr(text, "192.168"));
    ck_assert_ptr_nonnull(strstr(text, "URI:tag:microsoft.com,2022-09-14:sid:S-1-5-21-1"));
    ck_assert_ptr_nonnull(strstr(text, "alice"));
    BIO_free(bio);
    pol->san_excess = SCEP_EXCESS_REFUSE;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, "DNS:evil.org", NULL, NULL, NULL)),
                     SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "dns:evil.org"));
}
END_TEST

START_TEST(key_rules)
{
    static const char *const s[] = { "CN", "dev", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;

    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa1024, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "1024"));
    ck_assert_int_eq(apply(&plan, &why, pol, csr(ec256, s, NULL, NULL, NULL, NULL)), APR_SUCCESS);
    ck_assert_uint_eq(plan->key_usage, KU_DIGITAL_SIGNATURE);     /* no keyEncipherment for EC */
    pol->key_algs = SCEP_KEY_RSA;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(ec256, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "prime256v1"));
    pol->rsa_max_bits = 2047;
    pol->rsa_min_bits = 1024;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, NULL, NULL)), SCEP_EFAILURE);
}
END_TEST

START_TEST(ca_true_refused_and_usages_narrowed_only)
{
    static const char *const s[] = { "CN", "dev", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;

    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, "critical,CA:TRUE", NULL)),
                     SCEP_EFAILURE);
    ck_assert_ptr_nonnull(strstr(why, "CA:TRUE"));
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, NULL, "CA:FALSE", NULL)),
                     APR_SUCCESS);
    /* a requested keyUsage is ignored unless honoured, and can only narrow */
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, "keyCertSign,digitalSignature", NULL, NULL)),
                     APR_SUCCESS);
    ck_assert_uint_eq(plan->key_usage, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    pol->honour_requested = SCEP_REQ_EXT_KEY_USAGE;
    ck_assert_int_eq(apply(&plan, &why, pol, csr(rsa2048, s, NULL, "keyCertSign,digitalSignature", NULL, NULL)),
                     APR_SUCCESS);
    ck_assert_uint_eq(plan->key_usage, KU_DIGITAL_SIGNATURE);
}
END_TEST

START_TEST(types_names_and_checks)
{
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    const char *err = NULL;

    ck_assert_int_eq(scep_policy_set_type(pol, test_pool, "server"), APR_SUCCESS);
    ck_assert_int_eq(OBJ_obj2nid(APR_ARRAY_IDX(pol->eku, 0, ASN1_OBJECT *)), NID_server_auth);
    ck_assert_int_eq(scep_policy_set_type(pol, test_pool, "ipsec"), APR_SUCCESS);
    ck_assert_int_eq(OBJ_obj2nid(APR_ARRAY_IDX(pol->eku, 0, ASN1_OBJECT *)), NID_ipsec_IKE);
    ck_assert_int_ne(scep_policy_set_type(pol, test_pool, "root"), APR_SUCCESS);
    ck_assert_int_eq(scep_policy_subject_nid("cn"), NID_commonName);
    ck_assert_int_eq(scep_policy_subject_nid("bogus"), NID_undef);
    ck_assert_int_eq(scep_policy_san_type("upn"), SCEP_SAN_UPN);
    ck_assert_int_eq(scep_policy_san_type("x400"), -1);
    ck_assert_uint_eq(scep_policy_key_usage_bit("keyAgreement"), KU_KEY_AGREEMENT);
    ck_assert_uint_eq(scep_policy_key_usage_bit("bogus"), 0);
    ck_assert_ptr_nonnull(scep_policy_oid(test_pool, "1.2.3.4"));
    ck_assert_ptr_null(scep_policy_oid(test_pool, "notAnOid"));
    ck_assert_ptr_null(scep_policy_regex(test_pool, "([", &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(scep_policy_digest_nid("sha384"), NID_sha384);
    ck_assert_int_eq(scep_policy_digest_nid("md5"), NID_undef);
    ck_assert_ptr_null(scep_policy_check(pol, test_pool, 3650 * 86400LL));
    ck_assert_ptr_nonnull(scep_policy_check(pol, test_pool, 100 * 86400LL));   /* 365d > CA */
    pol->key_usage |= KU_KEY_CERT_SIGN;
    ck_assert_ptr_nonnull(scep_policy_check(pol, test_pool, 0));
}
END_TEST

START_TEST(template_name_is_read)
{
    static const char *const s[] = { "CN", "dev", NULL };
    scep_policy_t *pol = scep_policy_make(test_pool, "p");
    scep_cert_plan_t *plan;
    const char *why = NULL;
    X509_REQ *r = csr(rsa2048, s, NULL, NULL, NULL, "WifiCert");

    ck_assert_str_eq(REQ(r)->template_name, "WifiCert");
    ck_assert_ptr_null(REQ(csr(rsa2048, s, NULL, NULL, NULL, NULL))->template_name);
    ck_assert_int_eq(apply(&plan, &why, pol, r), APR_SUCCESS);
    ck_assert_str_eq(plan->template_name, "WifiCert");
}
END_TEST

/* The recorded copy of a request: the challengePassword is gone, the rest
 * (subject, key, extension request, signature) is what the client sent,
 * byte for byte the same as duplicating the request and deleting it. */
START_TEST(request_without_challenge)
{
    static const char *const subj[] = { "CN", "redact-me", NULL };
    X509_REQ *req = csr(rsa2048, subj, "DNS:a.example", NULL, NULL, NULL);
    X509_REQ *dup, *back;
    unsigned char *der = NULL, *ref = NULL;
    const unsigned char *q;
    apr_size_t len;
    int idx, rlen;

    ck_assert(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_ASC,
                                        (const unsigned char *)"s3cret", -1));
    ck_assert(X509_REQ_sign(req, rsa2048, EVP_sha256()) > 0);
    ck_assert_int_eq(X509_REQ_get_attr_count(req), 2);

    ck_assert_int_eq(scep_req_der_without(&der, &len, test_pool, req,
                                          NID_pkcs9_challengePassword), APR_SUCCESS);
    ck_assert_ptr_null(memmem(der, len, "s3cret", 6));
    q = der;
    back = d2i_X509_REQ(NULL, &q, (long)len);
    ck_assert_ptr_nonnull(back);
    ck_assert_ptr_eq(q, der + len);
    ck_assert_int_eq(X509_REQ_get_attr_count(back), 1);
    ck_assert_int_lt(X509_REQ_get_attr_by_NID(back, NID_pkcs9_challengePassword, -1), 0);
    ck_assert_int_eq(X509_NAME_cmp(X509_REQ_get_subject_name(back),
                                   X509_REQ_get_subject_name(req)), 0);
    ck_assert_int_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(back), rsa2048), 1);
    X509_REQ_free(back);

    dup = X509_REQ_dup(req);
    while ((idx = X509_REQ_get_attr_by_NID(dup, NID_pkcs9_challengePassword, -1)) >= 0) {
        X509_ATTRIBUTE_free(X509_REQ_delete_attr(dup, idx));
    }
    rlen = i2d_X509_REQ(dup, &ref);
    ck_assert_int_eq(rlen, (int)len);
    ck_assert_mem_eq(ref, der, len);
    OPENSSL_free(ref);
    X509_REQ_free(dup);

    /* nothing to remove: the request as it is */
    ck_assert_int_eq(scep_req_der_without(&der, &len, test_pool, req, NID_pkcs9_unstructuredName),
                     APR_SUCCESS);
    ref = NULL;
    rlen = i2d_X509_REQ(req, &ref);
    ck_assert_int_eq(rlen, (int)len);
    ck_assert_mem_eq(ref, der, len);
    OPENSSL_free(ref);
}
END_TEST

/* The engine reads a request without decoding its key (scep_oids_t.no_keys),
 * then takes the key from elsewhere: the request must read whole, keep its
 * key undecoded, verify with the key decoded alone, and plan with it. */
START_TEST(request_parsed_without_its_key)
{
    static const char *const subj_cn[] = { "CN", "keyless", NULL };
    EVP_PKEY *keys[2];
    OSSL_LIB_CTX *no_keys = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *null_provider = OSSL_PROVIDER_load(no_keys, "null");
    int i;

    keys[0] = rsa2048;
    keys[1] = ec256;
    ck_assert_ptr_nonnull(null_provider);
    for (i = 0; i < 2; i++) {
        X509_REQ *req = csr(keys[i], subj_cn, NULL, NULL, NULL, NULL);
        unsigned char *der = NULL;
        const unsigned char *q;
        int len;
        X509_REQ *back;
        EVP_PKEY *key;
        scep_cert_plan_t *plan = NULL;
        const char *why = NULL;

        len = i2d_X509_REQ(req, &der);
        ck_assert_int_gt(len, 0);
        ERR_clear_error();
        q = der;
        back = scep_req_parse_keyless(test_pool, no_keys, &q, len);
        ck_assert_ptr_nonnull(back);
        ck_assert_ptr_eq(q, der + len);
        ck_assert_int_eq(ERR_peek_error(), 0);
        ck_assert_ptr_null(X509_REQ_get0_pubkey(back));   /* says why on the error queue */
        ERR_clear_error();

        key = scep_pubkey_decode(test_pool, X509_REQ_get_X509_PUBKEY(back));
        ck_assert_ptr_nonnull(key);
        ck_assert_int_eq(EVP_PKEY_eq(key, keys[i]), 1);
        ck_assert_int_eq(X509_REQ_verify_ex(back, key, NULL, NULL), 1);
        ck_assert_int_ne(X509_REQ_verify_ex(back, keys[1 - i], NULL, NULL), 1);
        ERR_clear_error();

        ck_assert_int_eq(scep_policy_apply(&plan, &why, test_pool, scep_policy_make(test_pool, "default"),
                                           scep_policy_request(test_pool, back, key), NULL, eval,
                                           NULL), APR_SUCCESS);
        ck_assert_ptr_eq(plan->pubkey, key);
        ck_assert_ptr_eq(plan->spki, X509_REQ_get_X509_PUBKEY(back));

        /* cut short: nothing */
        q = der;
        ck_assert_ptr_null(scep_req_parse_keyless(test_pool, no_keys, &q, len - 1));
        ERR_clear_error();
        OPENSSL_free(der);
    }
    OSSL_PROVIDER_unload(null_provider);
    OSSL_LIB_CTX_free(no_keys);
}
END_TEST

Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, default_keeps_only_cn);
    tcase_add_test(tc, subject_rules_pattern_value_and_expression);
    tcase_add_test(tc, empty_subject_is_refused);
    tcase_add_test(tc, value_rule_with_pattern);
    tcase_add_test(tc, kept_names_follow_the_rules);
    tcase_add_test(tc, san_rules);
    tcase_add_test(tc, key_rules);
    tcase_add_test(tc, ca_true_refused_and_usages_narrowed_only);
    tcase_add_test(tc, types_names_and_checks);
    tcase_add_test(tc, template_name_is_read);
    tcase_add_test(tc, request_without_challenge);
    tcase_add_test(tc, request_parsed_without_its_key);
    suite_add_tcase(s, tc);
    return s;
}
