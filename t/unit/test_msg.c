/* Unit tests: pkiMessage parsing, decryption policy, CertRep shape. The
 * requests are built here with plain OpenSSL, not with the library. */
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include "tests.h"
#include "scep_msg.h"
#include "scep_ossl.h"

static EVP_PKEY *ca_key, *dev_key;
static X509 *ca, *dev_self;
static scep_ca_t *sca;
static scep_oids_t *oids;
static const unsigned char nonce[16] = "0123456789abcdef";
static X509 *envelope_to;    /* the recipient of build()'s envelope: the CA unless a test says */
static int envelope_ber;     /* build()'s envelope in BER, indefinite lengths, as streamed */
static int envelope_originator;   /* build()'s envelope (DER) with an originatorInfo, which
                                     CMS reads and PKCS#7 does not: 1 empty, 2 holding
                                     originator_certs certificates */
static int originator_certs = 20;
static int originator_indefinite;   /* that originatorInfo with an indefinite length, in an
                                       envelope otherwise DER */
static int envelope_outer_indefinite;   /* build()'s envelope (DER) with its outermost
                                           length made indefinite: BER */

static void setup(void)
{
    const char *dir, *err;
    scep_ca_files_t files = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL };
    scep_ca_file_t which;

    if (sca) return;
    dir = t_tmpdir();
    ca_key = t_rsa_key(2048);
    dev_key = t_rsa_key(2048);
    ca = t_cert(ca_key, NULL, NULL, "Msg CA",
                "critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment", 1, 3650);
    dev_self = t_cert(dev_key, NULL, NULL, "SCEP SIGNER", "digitalSignature", 0, 1);
    files.cert = t_write_pem(dir, "ca.pem", ca, NULL);
    files.key = t_write_pem(dir, "ca.key", NULL, ca_key);
    ck_assert_int_eq(scep_ca_load(&sca, test_pool, &files, &err, &which), APR_SUCCESS);
    ck_assert_int_eq(scep_oids_make(&oids, test_pool), APR_SUCCESS);
}

/* The element at *pq (definite length): its whole DER as a part, *pq past it. */
static scep_der_part_t next_element(const unsigned char **pq, long left, const unsigned char **pbody,
                                    long *pbody_len)
{
    const unsigned char *start = *pq, *q = *pq;
    long len;
    int tag, cls;
    scep_der_part_t part;

    ck_assert_int_eq(ASN1_get_object(&q, &len, &tag, &cls, left) & 0x81, 0);
    if (pbody) {
        *pbody = q;
        *pbody_len = len;
    }
    *pq = q + len;
    part.data = start;
    part.len = (apr_size_t)(*pq - start);
    return part;
}

/* DER whose outermost element is then written with an indefinite length
 * (and its end-of-contents): BER that no DER walker reads. */
static unsigned char *outer_indefinite(unsigned char *der, int *plen)
{
    const unsigned char *q = der, *body;
    long body_len;
    unsigned char *ber;

    next_element(&q, *plen, &body, &body_len);
    ber = OPENSSL_malloc((size_t)body_len + 4);
    ck_assert_ptr_nonnull(ber);
    ber[0] = der[0];
    ber[1] = 0x80;
    memcpy(ber + 2, body, (size_t)body_len);
    ber[body_len + 2] = 0;
    ber[body_len + 3] = 0;
    OPENSSL_free(der);
    *plen = (int)body_len + 4;
    return ber;
}

/* A DER ContentInfo of an EnvelopedData, written again with an
 * originatorInfo ([0], after the version): empty, or with ncerts copies of
 * cert. CMS reads it, PKCS#7 does not. */
static unsigned char *with_originator_info(unsigned char *der, int *plen, X509 *cert, int ncerts)
{
    const unsigned char *q = der, *body, *end;
    long body_len;
    scep_der_part_t info[2], env[3], wrapped, certs_part, *copies;
    apr_size_t len, cert_len = 0;
    unsigned char *out, *copy, *cert_der = NULL;
    int i;

    next_element(&q, *plen, &body, &body_len);                   /* ContentInfo */
    q = body;
    end = body + body_len;
    info[0] = next_element(&q, end - q, NULL, NULL);             /* contentType */
    next_element(&q, end - q, &body, &body_len);                 /* [0] */
    q = body;
    next_element(&q, body_len, &body, &body_len);                /* EnvelopedData */
    q = body;
    end = body + body_len;
    env[0] = next_element(&q, end - q, NULL, NULL);              /* version */
    /* OriginatorInfo ::= [0] IMPLICIT SEQUENCE { certs [0] IMPLICIT SET OF ... } */
    copies = apr_palloc(test_pool, sizeof(*copies) * (apr_size_t)(ncerts + 1));
    if (ncerts > 0) {
        i = i2d_X509(cert, &cert_der);
        cert_der = t_pool_der(cert_der, i, &cert_len);
    }
    for (i = 0; i < ncerts; i++) {
        copies[i].data = cert_der;
        copies[i].len = cert_len;
    }
    certs_part.data = ncerts > 0 ? scep_der_wrap(test_pool, 0xa0, copies, ncerts, &certs_part.len)
                                 : NULL;
    env[1].data = scep_der_wrap(test_pool, 0xa0, &certs_part, ncerts > 0, &env[1].len);
    if (originator_indefinite) {
        int ber_len = (int)env[1].len;
        unsigned char *ber = outer_indefinite(OPENSSL_memdup(env[1].data, env[1].len), &ber_len);

        env[1].data = t_pool_der(ber, ber_len, &env[1].len);
    }
    env[2].data = q;                                             /* the rest */
    env[2].len = (apr_size_t)(end - q);
    wrapped.data = scep_der_wrap(test_pool, 0x30, env, 3, &wrapped.len);
    info[1].data = scep_der_wrap(test_pool, 0xa0, &wrapped, 1, &info[1].len);
    out = scep_der_wrap(test_pool, 0x30, info, 2, &len);
    copy = OPENSSL_memdup(out, len);
    OPENSSL_free(der);
    *plen = (int)len;
    return copy;
}

/* An envelope of "payload-bytes" to recips, in DER, or in BER if
 * envelope_ber, with an originatorInfo if envelope_originator. flags adds
 * to CMS_encrypt's (CMS_USE_KEYID: recipients named by key identifier). */
static unsigned char *envelope_of(STACK_OF(X509) *recips, const EVP_CIPHER *cipher, int flags,
                                  int *plen)
{
    BIO *in = BIO_new_mem_buf("payload-bytes", 13);
    CMS_ContentInfo *env;
    unsigned char *envder = NULL;

    flags |= CMS_BINARY | (envelope_ber ? CMS_STREAM : 0);
    env = CMS_encrypt(recips, in, cipher, flags);
    ck_assert_ptr_nonnull(env);
    if (envelope_ber) {
        BIO *ber = BIO_new(BIO_s_mem());
        char *bytes;

        ck_assert_int_eq(i2d_CMS_bio_stream(ber, env, in, flags), 1);
        *plen = (int)BIO_get_mem_data(ber, &bytes);
        envder = OPENSSL_memdup(bytes, (size_t)*plen);
        BIO_free(ber);
        ck_assert_uint_eq(envder[1], 0x80);    /* indefinite length */
    }
    else {
        *plen = i2d_CMS_ContentInfo(env, &envder);
    }
    if (envelope_originator) {
        envder = with_originator_info(envder, plen, dev_self,
                                      envelope_originator > 1 ? originator_certs : 0);
    }
    if (envelope_outer_indefinite) {
        envder = outer_indefinite(envder, plen);
    }
    CMS_ContentInfo_free(env);
    BIO_free(in);
    return envder;
}

/* A PKCSReq-shaped message: envelope of `payload` to the CA, signed. */
static unsigned char *build(apr_size_t *plen, const char *type, const EVP_CIPHER *cipher,
                            const EVP_MD *md, int with_tid)
{
    STACK_OF(X509) *recips = sk_X509_new_null();
    BIO *envbio;
    CMS_ContentInfo *sd;
    CMS_SignerInfo *si;
    unsigned char *envder, *der = NULL, *out;
    int envlen, len;

    sk_X509_push(recips, envelope_to ? envelope_to : ca);
    envder = envelope_of(recips, cipher, 0, &envlen);
    sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    si = CMS_add1_signer(sd, dev_self, dev_key, md, CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP);
    ck_assert_ptr_nonnull(si);
    CMS_signed_add1_attr_by_OBJ(si, oids->message_type, V_ASN1_PRINTABLESTRING, type, (int)strlen(type));
    if (with_tid)
        CMS_signed_add1_attr_by_OBJ(si, oids->transaction_id, V_ASN1_PRINTABLESTRING, "TID-1", 5);
    CMS_signed_add1_attr_by_OBJ(si, oids->sender_nonce, V_ASN1_OCTET_STRING, nonce, 16);
    envbio = BIO_new_mem_buf(envder, envlen);
    ck_assert_int_eq(CMS_final(sd, envbio, NULL, CMS_BINARY), 1);
    len = i2d_CMS_ContentInfo(sd, &der);
    out = t_pool_der(der, len, plen);
    OPENSSL_free(envder);
    BIO_free(envbio);
    CMS_ContentInfo_free(sd);
    sk_X509_free(recips);
    return out;
}

START_TEST(garbage_is_unreadable)
{
    scep_msg_t *m;
    const char *err = NULL;
    const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, junk, sizeof(junk)), SCEP_EUNREADABLE);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, junk, 1), SCEP_EUNREADABLE);
}
END_TEST

START_TEST(parse_verify_decrypt)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
    scep_msg_t *m;
    scep_fail_info_t fail;
    const char *err = NULL;

    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert_int_eq(m->type, 19);
    ck_assert_str_eq(m->tid_str, "TID-1");
    ck_assert_uint_eq(m->sender_nonce_len, 16);
    ck_assert(m->signature_ok);
    ck_assert_int_eq(m->md_nid, NID_sha256);
    ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key, 0),
                     APR_SUCCESS);
    ck_assert_uint_eq(m->payload_len, 13);
    ck_assert(memcmp(m->payload, "payload-bytes", 13) == 0);
    ck_assert_int_eq(m->cipher_nid, NID_aes_128_cbc);
}
END_TEST

START_TEST(tampered_content_fails_signature)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
    scep_msg_t *m;
    const char *err = NULL;
    unsigned char *hit = NULL;
    apr_size_t i;

    /* flip a byte in the middle of the eContent (the envelope) */
    {
        const unsigned char *q = der;
        CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
        ASN1_OCTET_STRING *c = *CMS_get0_content(cms);
        const unsigned char *cd = ASN1_STRING_get0_data(c);
        apr_size_t clen = (apr_size_t)ASN1_STRING_length(c);
        for (i = 0; i + clen <= len; i++) {
            if (memcmp(der + i, cd, clen) == 0) { hit = der + i + clen / 2; break; }
        }
        CMS_ContentInfo_free(cms);
    }
    ck_assert_ptr_nonnull(hit);
    *hit ^= 0xff;
    if (scep_msg_parse(&m, &err, test_pool, oids, der, len) == APR_SUCCESS) {
        ck_assert(!m->signature_ok);
        ck_assert_ptr_nonnull(m->signature_error);
    }
}
END_TEST

START_TEST(missing_tid_is_unreadable)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 0);
    scep_msg_t *m;
    const char *err = NULL;
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), SCEP_EUNREADABLE);
    ck_assert_ptr_nonnull(strstr(err, "transactionID"));
}
END_TEST

START_TEST(policy_refuses_weak_and_unknown)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_des_ede3_cbc(), EVP_sha1(), 1);
    scep_msg_t *m;
    scep_fail_info_t fail;
    const char *err = NULL;

    ck_assert(scep_msg_digest_allowed(NID_sha1, 0));
    ck_assert(!scep_msg_digest_allowed(NID_md5, 0));
    ck_assert(scep_msg_digest_allowed(NID_md5, 1));
    ck_assert(!scep_msg_digest_allowed(NID_undef, 1));
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key, 0),
                     APR_SUCCESS);
    ck_assert_int_eq(m->cipher_nid, NID_des_ede3_cbc);
}
END_TEST

static CMS_ContentInfo *reply_for(scep_msg_t *m, scep_reply_t *rep)
{
    unsigned char *der;
    const unsigned char *q;
    apr_size_t len;
    const char *err = NULL;
    CMS_ContentInfo *cms;

    ck_assert_int_eq(scep_msg_certrep(&der, &len, &err, test_pool, oids, sca, m, rep, 0), APR_SUCCESS);
    q = der;
    cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
    ck_assert_ptr_nonnull(cms);
    /* verifies against the CA alone, as certmonger does */
    {
        X509_STORE *st = X509_STORE_new();
        X509_STORE_add_cert(st, ca);
        ck_assert_int_eq(CMS_verify(cms, NULL, st, NULL, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY), 1);
        X509_STORE_free(st);
    }
    return cms;
}

static ASN1_STRING *attr(CMS_ContentInfo *cms, ASN1_OBJECT *obj)
{
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
    int idx = CMS_signed_get_attr_by_OBJ(si, obj, -1);
    ASN1_TYPE *t;
    if (idx < 0) return NULL;
    t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
    return t->value.asn1_string;
}

START_TEST(failure_reply_shape)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha512(), 1);
    scep_msg_t *m;
    const char *err = NULL;
    scep_reply_t rep = { SCEP_STATUS_FAILURE, SCEP_FAIL_BADREQUEST, "wrong challenge", NULL, NULL, NULL };
    CMS_ContentInfo *cms;
    ASN1_OCTET_STRING **content;
    X509_ALGOR *dig;

    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    cms = reply_for(m, &rep);
    ck_assert_mem_eq(ASN1_STRING_get0_data(attr(cms, oids->message_type)), "3", 1);
    ck_assert_mem_eq(ASN1_STRING_get0_data(attr(cms, oids->pki_status)), "2", 1);
    ck_assert_mem_eq(ASN1_STRING_get0_data(attr(cms, oids->fail_info)), "2", 1);
    ck_assert_int_eq(ASN1_STRING_length(attr(cms, oids->fail_info_text)), 15);
    ck_assert_int_eq(ASN1_STRING_type(attr(cms, oids->transaction_id)), V_ASN1_PRINTABLESTRING);
    ck_assert_mem_eq(ASN1_STRING_get0_data(attr(cms, oids->recipient_nonce)), nonce, 16);
    ck_assert_int_eq(ASN1_STRING_length(attr(cms, oids->sender_nonce)), 16);
    ck_assert(memcmp(ASN1_STRING_get0_data(attr(cms, oids->sender_nonce)), nonce, 16) != 0);
    content = CMS_get0_content(cms);
    ck_assert_ptr_nonnull(*content);                 /* empty, not absent */
    ck_assert_int_eq(ASN1_STRING_length(*content), 0);
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0),
                             NULL, NULL, &dig, NULL);
    ck_assert_int_eq(OBJ_obj2nid(dig->algorithm), NID_sha512);   /* mirrored */
    CMS_ContentInfo_free(cms);
}
END_TEST

/* An envelope this server cannot decrypt is not told apart from one it can:
 * decryption "succeeds" with random bytes in place of the plaintext, and
 * the reason is kept for the record only. */
START_TEST(undecryptable_goes_on_with_random_bytes)
{
    apr_size_t len;
    unsigned char *der;
    scep_msg_t *m;
    scep_fail_info_t fail;
    const char *err = NULL;

    envelope_to = dev_self;          /* addressed to someone else */
    der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
    envelope_to = NULL;
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key, 0),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(m->decrypt_error);
    ck_assert_ptr_nonnull(strstr(m->decrypt_error, "cannot be decrypted"));
    ck_assert_ptr_nonnull(m->payload);
    ck_assert_uint_eq(m->payload_len, m->content_len);
}
END_TEST

/* A reply is never signed with a digest its Location refuses. */
START_TEST(reply_digest_only_where_allowed)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), EVP_md5(), 1), *rep;
    scep_msg_t *m;
    const char *err = NULL;
    scep_reply_t no = { SCEP_STATUS_FAILURE, SCEP_FAIL_BADALG, "md5", NULL, NULL, NULL };
    int legacy;

    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert_int_eq(m->md_nid, NID_md5);
    for (legacy = 0; legacy <= 1; legacy++) {
        const unsigned char *q;
        CMS_ContentInfo *cms;
        X509_ALGOR *dig;
        ck_assert_int_eq(scep_msg_certrep(&rep, &len, &err, test_pool, oids, sca, m, &no, legacy),
                         APR_SUCCESS);
        q = rep;
        cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
        ck_assert_ptr_nonnull(cms);
        CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0),
                                 NULL, NULL, &dig, NULL);
        ck_assert_int_eq(OBJ_obj2nid(dig->algorithm), legacy ? NID_md5 : NID_sha256);
        CMS_ContentInfo_free(cms);
    }
}
END_TEST

START_TEST(success_reply_is_encrypted_to_signer)
{
    apr_size_t len;
    unsigned char *der = build(&len, "19", EVP_aes_256_cbc(), EVP_sha256(), 1);
    scep_msg_t *m;
    scep_fail_info_t fail;
    const char *err = NULL;
    X509 *issued = t_cert(dev_key, ca, ca_key, "device", "digitalSignature", 0, 30);
    scep_reply_t rep = { SCEP_STATUS_SUCCESS, 0, NULL, issued, NULL, NULL };
    CMS_ContentInfo *cms, *env, *bundle;
    ASN1_OCTET_STRING **content;
    const unsigned char *q;
    BIO *out = BIO_new(BIO_s_mem());
    char *plain;
    long plen;
    STACK_OF(X509) *certs;

    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key, 0),
                     APR_SUCCESS);
    cms = reply_for(m, &rep);
    content = CMS_get0_content(cms);
    q = ASN1_STRING_get0_data(*content);
    env = d2i_CMS_ContentInfo(NULL, &q, ASN1_STRING_length(*content));
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(CMS_decrypt(env, dev_key, dev_self, NULL, out, CMS_BINARY), 1);
    plen = BIO_get_mem_data(out, &plain);
    q = (const unsigned char *)plain;
    bundle = d2i_CMS_ContentInfo(NULL, &q, plen);
    certs = CMS_get1_certs(bundle);
    ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), issued), 0);   /* issued first */
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(bundle);
    CMS_ContentInfo_free(env);
    CMS_ContentInfo_free(cms);
    BIO_free(out);
    X509_free(issued);
}
END_TEST

/* DER of a CertRep with its signature replaced by another's: ECDSA's are
 * random, so the written-out reply is compared with CMS's this way. */
static unsigned char *with_signature_of(apr_size_t *plen, const unsigned char *der,
                                        apr_size_t len, const unsigned char *other,
                                        apr_size_t other_len)
{
    const unsigned char *q = der, *r = other;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
    CMS_ContentInfo *theirs = d2i_CMS_ContentInfo(NULL, &r, (long)other_len);
    ASN1_OCTET_STRING *sig, *their_sig;
    unsigned char *out = NULL, *copy;
    int n;

    ck_assert(cms && theirs);
    sig = CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0));
    their_sig = CMS_SignerInfo_get0_signature(
        sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(theirs), 0));
    ck_assert_int_eq(ASN1_OCTET_STRING_set(sig, ASN1_STRING_get0_data(their_sig),
                                           ASN1_STRING_length(their_sig)), 1);
    n = i2d_CMS_ContentInfo(cms, &out);
    copy = t_pool_der(out, n, plen);
    CMS_ContentInfo_free(cms);
    CMS_ContentInfo_free(theirs);
    return copy;
}

/* 1 if the CertRep's signature verifies with the certificate it carries */
static int certrep_verifies(const unsigned char *der, apr_size_t len, X509 *trusted)
{
    const unsigned char *q = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
    X509_STORE *st = X509_STORE_new();
    int ok;

    X509_STORE_add_cert(st, trusted);
    ok = cms && CMS_verify(cms, NULL, st, NULL, NULL,
                           CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1;
    X509_STORE_free(st);
    CMS_ContentInfo_free(cms);
    return ok;
}

/* With CA c, for each digest and each reply without an envelope: the
 * CertRep written out (no fallback to CMS) is CMS's, same senderNonce, same
 * second. RSA's signatures are deterministic, so the bytes are equal;
 * ECDSA's are random, so CMS's reply with our signature put in must be our
 * bytes, and ours must verify. Where ECDSA has no digest (MD5), the reply
 * as served is CMS's answer. */
static void certrep_matches_cms(const scep_ca_t *c, X509 *trusted)
{
    static const unsigned char fixed_nonce[16] = "fixed-nonce-0001";
    const EVP_MD *mds[] = { EVP_sha256(), EVP_sha1(), EVP_sha384(), EVP_sha512(), EVP_md5() };
    scep_reply_t replies[] = {
        { SCEP_STATUS_FAILURE, SCEP_FAIL_BADREQUEST, "try again later", NULL, NULL, NULL },
        { SCEP_STATUS_FAILURE, SCEP_FAIL_BADALG, NULL, NULL, NULL, NULL },
        { SCEP_STATUS_PENDING, 0, NULL, NULL, NULL, NULL },
    };
    int ec = EVP_PKEY_is_a(c->ra_key, "EC");
    size_t i, j;

    for (i = 0; i < sizeof(mds) / sizeof(mds[0]); i++) {
        apr_size_t len;
        unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), mds[i], 1);
        scep_msg_t *m;
        const char *err = NULL;
        int legacy = EVP_MD_get_type(mds[i]) == NID_md5;

        ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
        for (j = 0; j < sizeof(replies) / sizeof(replies[0]); j++) {
            unsigned char *ours = NULL, *theirs = NULL, *same = NULL;
            apr_size_t ours_len = 0, theirs_len = 0, same_len = 0;
            int tries;

            if (ec && legacy) {
                ck_assert_int_eq(scep_msg_certrep_as(&ours, &ours_len, &err, test_pool, oids, c,
                                                     m, &replies[j], legacy, fixed_nonce,
                                                     SCEP_CERTREP_AUTO),
                                 scep_msg_certrep_as(&theirs, &theirs_len, &err, test_pool, oids,
                                                     c, m, &replies[j], legacy, fixed_nonce,
                                                     SCEP_CERTREP_CMS));
                continue;
            }
            /* the same second for signingTime: a try that straddles one goes again */
            for (tries = 0; tries < 3; tries++) {
                ck_assert_int_eq(scep_msg_certrep_as(&theirs, &theirs_len, &err, test_pool, oids,
                                                     c, m, &replies[j], legacy, fixed_nonce,
                                                     SCEP_CERTREP_CMS), APR_SUCCESS);
                ck_assert_int_eq(scep_msg_certrep_as(&ours, &ours_len, &err, test_pool, oids, c,
                                                     m, &replies[j], legacy, fixed_nonce,
                                                     SCEP_CERTREP_WRITTEN), APR_SUCCESS);
                same = theirs;
                same_len = theirs_len;
                if (ec) {
                    same = with_signature_of(&same_len, theirs, theirs_len, ours, ours_len);
                }
                if (same_len == ours_len && !memcmp(same, ours, ours_len)) {
                    break;
                }
            }
            ck_assert(certrep_verifies(ours, ours_len, trusted));
            ck_assert_uint_eq(ours_len, same_len);
            ck_assert_mem_eq(ours, same, ours_len);
        }
    }
}

/* An EC RA signing key (beside an RSA encryption certificate): the reply
 * written out is CMS's but for the random ECDSA signature, and verifies,
 * for each digest ECDSA has; where ECDSA has none (MD5) both ways agree. */
START_TEST(certrep_ec_same_as_cms)
{
    OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
    OSSL_PROVIDER *leg = OSSL_PROVIDER_load(NULL, "legacy");
    EVP_PKEY *ec_ca_key = EVP_EC_gen("P-256"), *sig_key = EVP_EC_gen("P-256");
    EVP_PKEY *enc_key = t_rsa_key(2048);
    X509 *ec_ca = t_cert(ec_ca_key, NULL, NULL, "Unit EC CA", "critical,keyCertSign,cRLSign",
                         1, 3650);
    X509 *sig = t_cert(sig_key, ec_ca, ec_ca_key, "Unit RA signing", "critical,digitalSignature",
                       0, 365);
    X509 *enc = t_cert(enc_key, ec_ca, ec_ca_key, "Unit RA encryption",
                       "critical,keyEncipherment", 0, 365);
    const char *dir = t_tmpdir(), *lerr;
    scep_ca_files_t files = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL };
    scep_ca_file_t which;
    scep_ca_t *ec;

    ck_assert(def && leg && ec_ca_key && sig_key);
    files.cert = t_write_pem(dir, "ec-ca.pem", ec_ca, NULL);
    files.key = t_write_pem(dir, "ec-ca.key", NULL, ec_ca_key);
    files.ra_cert = t_write_pem(dir, "ec-sig.pem", sig, NULL);
    files.ra_key = t_write_pem(dir, "ec-sig.key", NULL, sig_key);
    files.enc_cert = t_write_pem(dir, "rsa-enc.pem", enc, NULL);
    files.enc_key = t_write_pem(dir, "rsa-enc.key", NULL, enc_key);
    ck_assert_int_eq(scep_ca_load(&ec, test_pool, &files, &lerr, &which), APR_SUCCESS);
    ck_assert_int_eq(EVP_PKEY_get_base_id(ec->ra_key), EVP_PKEY_EC);
    certrep_matches_cms(ec, ec_ca);
    X509_free(enc);
    X509_free(sig);
    X509_free(ec_ca);
    EVP_PKEY_free(enc_key);
    EVP_PKEY_free(sig_key);
    EVP_PKEY_free(ec_ca_key);
    OSSL_PROVIDER_unload(leg);
    OSSL_PROVIDER_unload(def);
}
END_TEST

/* The content cipher is read in place from a DER envelope and from a BER
 * one (indefinite lengths, as a streaming encoder writes them), with and
 * without originatorInfo (which PKCS#7 cannot read): allowed ciphers
 * decrypt, single DES without SCEPLegacyAlgorithms gets badAlg. */
START_TEST(envelope_cipher_in_der_and_ber)
{
    OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
    OSSL_PROVIDER *leg = OSSL_PROVIDER_load(NULL, "legacy");
    const EVP_CIPHER *ciphers[] = { EVP_aes_128_cbc(), EVP_des_ede3_cbc(), EVP_des_cbc() };
    size_t i;
    int ber, originator;

    ck_assert(def && leg);
    for (ber = 0; ber <= 1; ber++)
    for (originator = 0; originator <= !ber; originator++) {    /* (written into DER) */
        envelope_ber = ber;
        envelope_originator = originator;
        for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
            int nid = EVP_CIPHER_get_nid(ciphers[i]), legacy;
            apr_size_t len;
            unsigned char *der = build(&len, "19", ciphers[i], EVP_sha256(), 1);

            for (legacy = 0; legacy <= 1; legacy++) {
                scep_msg_t *m;
                scep_fail_info_t fail = 99;
                const char *err = NULL;
                int refused = nid == NID_des_cbc && !legacy;

                ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
                ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert,
                                                  sca->ra_key, legacy),
                                 refused ? APR_EGENERAL : APR_SUCCESS);
                ck_assert_int_eq(m->cipher_nid, nid);
                if (refused) {
                    ck_assert_int_eq(fail, SCEP_FAIL_BADALG);
                    ck_assert_ptr_nonnull(strstr(err, "SCEPLegacyAlgorithms"));
                }
                else {
                    ck_assert_ptr_null(m->decrypt_error);
                    ck_assert_uint_eq(m->payload_len, 13);
                    ck_assert(memcmp(m->payload, "payload-bytes", 13) == 0);
                }
            }
        }
    }
    envelope_ber = 0;
    envelope_originator = 0;
    OSSL_PROVIDER_unload(leg);
    OSSL_PROVIDER_unload(def);
}
END_TEST

/* An envelope whose originatorInfo carries more certificates than
 * SCEP_MAX_CERTS is refused (badRequest) before the parse that would
 * decode their keys, in DER (counted in place) and in BER (counted in a
 * keyless parse), the whole envelope or only its originatorInfo with an
 * indefinite length; up to the limit it decrypts. */
START_TEST(originator_certificates_bounded)
{
    static const int counts[] = { 3, SCEP_MAX_CERTS, SCEP_MAX_CERTS + 1, 200 };
    static const char *const encodings[] = { "DER", "BER", "DER, originatorInfo in BER" };
    size_t i;
    int indefinite;

    envelope_originator = 2;
    for (indefinite = 0; indefinite <= 2; indefinite++)
    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        apr_size_t len;
        unsigned char *der;
        scep_msg_t *m;
        scep_fail_info_t fail = 99;
        const char *err = NULL;
        int refused = counts[i] > SCEP_MAX_CERTS;
        apr_status_t rv;

        originator_certs = counts[i];
        envelope_outer_indefinite = indefinite == 1;
        originator_indefinite = indefinite == 2;
        der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
        ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
        rv = scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key, 0);
        ck_assert_msg(rv == (refused ? APR_EGENERAL : APR_SUCCESS), "%d certificates, %s: %s",
                      counts[i], encodings[indefinite], err ? err : "");
        if (refused) {
            ck_assert_int_eq(fail, SCEP_FAIL_BADREQUEST);
            ck_assert_ptr_nonnull(strstr(err, "originatorInfo"));
        }
        else {
            ck_assert_ptr_null(m->decrypt_error);
            ck_assert_uint_eq(m->payload_len, 13);
        }
    }
    envelope_originator = 0;
    envelope_outer_indefinite = 0;
    originator_indefinite = 0;
    originator_certs = 20;
}
END_TEST

/* scep_msg_addressed_to among a and b (b may be NULL): the index, or -1. */
static int addressed(const scep_msg_t *m, X509 *a, X509 *b)
{
    X509 *certs[2];

    certs[0] = a;
    certs[1] = b;
    return scep_msg_addressed_to(m, certs, b ? 2 : 1);
}

/* Which CA an envelope is addressed to (the routing during a rollover) is
 * read as CMS_decrypt reads it: by issuer and serial or by key identifier,
 * in DER, BER, and with an originatorInfo (empty, or carrying
 * certificates); one recipient among several; the first certificate
 * addressed wins. */
START_TEST(addressed_to_as_decrypt_reads)
{
    X509 *keyed = t_with_key_id(ca, ca_key), *other_keyed = t_with_key_id(dev_self, dev_key);
    STACK_OF(X509) *recips = sk_X509_new_null();
    scep_msg_t m;
    int ber, originator, keyid, len;

    memset(&m, 0, sizeof(m));
    m.no_keys = oids->no_keys;      /* as scep_msg_parse sets it */
    ERR_clear_error();
    for (ber = 0; ber <= 1; ber++)
    for (originator = 0; originator <= (ber ? 0 : 2); originator++)
    for (keyid = 0; keyid <= 1; keyid++) {
        X509 *to = keyid ? keyed : ca, *other = keyid ? other_keyed : dev_self;
        unsigned char *der;

        envelope_ber = ber;
        envelope_originator = originator;
        sk_X509_zero(recips);
        sk_X509_push(recips, to);
        der = envelope_of(recips, EVP_aes_128_cbc(), keyid ? CMS_USE_KEYID : 0, &len);
        m.content = der;
        m.content_len = (apr_size_t)len;
        ck_assert_msg(addressed(&m, to, NULL) == 0, "ber %d originator %d keyid %d", ber,
                      originator, keyid);
        ck_assert_int_eq(addressed(&m, other, NULL), -1);
        ck_assert_int_eq(addressed(&m, other, to), 1);
        OPENSSL_free(der);

        sk_X509_push(recips, other);    /* micromdm encrypts to every certificate */
        der = envelope_of(recips, EVP_aes_128_cbc(), keyid ? CMS_USE_KEYID : 0, &len);
        m.content = der;
        m.content_len = (apr_size_t)len;
        ck_assert_int_eq(addressed(&m, to, other), 0);
        ck_assert_int_eq(addressed(&m, other, to), 0);
        OPENSSL_free(der);
    }
    envelope_ber = 0;
    envelope_originator = 0;
    /* not an envelope, or not DER at all */
    {
        static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
        apr_size_t signed_len;

        m.content = build(&signed_len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
        m.content_len = signed_len;
        ck_assert_int_eq(addressed(&m, ca, NULL), -1);
        m.content = junk;
        m.content_len = sizeof(junk);
        ck_assert_int_eq(addressed(&m, ca, NULL), -1);
    }
    ck_assert_int_eq(ERR_peek_error(), 0);
    sk_X509_free(recips);
    X509_free(keyed);
    X509_free(other_keyed);
}
END_TEST

/* The reply's envelope, written out by hand for an RSA signer, with each
 * content cipher a request may use: OpenSSL's CMS reads it back to the
 * bundle, addressed to the signer by issuer and serial, with the request's
 * cipher, and its bytes are DER (re-encoding them gives the same bytes). */
START_TEST(reply_envelope_each_cipher)
{
    const EVP_CIPHER *ciphers[] = { EVP_des_cbc(), EVP_des_ede3_cbc(), EVP_aes_128_cbc(),
                                    EVP_aes_192_cbc(), EVP_aes_256_cbc() };
    X509 *issued = t_cert(dev_key, ca, ca_key, "device", "digitalSignature", 0, 30);
    /* single DES is in the legacy provider (SCEPLegacyAlgorithms loads both) */
    OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
    OSSL_PROVIDER *leg = OSSL_PROVIDER_load(NULL, "legacy");
    size_t i;

    ck_assert(def && leg);
    for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
        int legacy = EVP_CIPHER_get_nid(ciphers[i]) == NID_des_cbc;
        apr_size_t len;
        unsigned char *der = build(&len, "19", ciphers[i], EVP_sha256(), 1), *again = NULL;
        scep_msg_t *m;
        scep_fail_info_t fail;
        const char *err = NULL;
        scep_reply_t rep = { SCEP_STATUS_SUCCESS, 0, NULL, issued, NULL, NULL };
        CMS_ContentInfo *cms, *env, *bundle;
        CMS_RecipientInfo *ri;
        ASN1_OCTET_STRING **content;
        X509_ALGOR *kek_alg = NULL;
        const unsigned char *q;
        BIO *out = BIO_new(BIO_s_mem());
        char *plain;
        long plen;
        int env_len;
        STACK_OF(X509) *certs;

        ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
        ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key,
                                          legacy), APR_SUCCESS);
        ck_assert_int_eq(m->cipher_nid, EVP_CIPHER_get_nid(ciphers[i]));
        cms = reply_for(m, &rep);
        content = CMS_get0_content(cms);
        q = ASN1_STRING_get0_data(*content);
        env_len = ASN1_STRING_length(*content);
        env = d2i_CMS_ContentInfo(NULL, &q, env_len);
        ck_assert_ptr_nonnull(env);
        ck_assert_ptr_eq(q, ASN1_STRING_get0_data(*content) + env_len);
        ck_assert_int_eq(OBJ_obj2nid(CMS_get0_type(env)), NID_pkcs7_enveloped);
        ck_assert_int_eq(i2d_CMS_ContentInfo(env, &again), env_len);
        ck_assert_mem_eq(again, ASN1_STRING_get0_data(*content), (size_t)env_len);
        ck_assert_int_eq(sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(env)), 1);
        ri = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(env), 0);
        ck_assert_int_eq(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_TRANS);
        ck_assert_int_eq(CMS_RecipientInfo_ktri_cert_cmp(ri, dev_self), 0);
        ck_assert_int_eq(CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &kek_alg), 1);
        ck_assert_int_eq(OBJ_obj2nid(kek_alg->algorithm), NID_rsaEncryption);
        ck_assert_int_eq(CMS_decrypt(env, dev_key, dev_self, NULL, out, CMS_BINARY), 1);
        plen = BIO_get_mem_data(out, &plain);
        q = (const unsigned char *)plain;
        bundle = d2i_CMS_ContentInfo(NULL, &q, plen);
        ck_assert_ptr_nonnull(bundle);
        certs = CMS_get1_certs(bundle);
        ck_assert_int_eq(X509_cmp(sk_X509_value(certs, 0), issued), 0);
        /* the cipher is the request's: the same parameters decrypt it with
         * the algorithm named in the envelope */
        {
            const unsigned char *e = ASN1_STRING_get0_data(*content);
            PKCS7 *p7 = d2i_PKCS7(NULL, &e, env_len);
            ck_assert_ptr_nonnull(p7);
            ck_assert_int_eq(OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm),
                             EVP_CIPHER_get_nid(ciphers[i]));
            PKCS7_free(p7);
        }
        sk_X509_pop_free(certs, X509_free);
        OPENSSL_free(again);
        CMS_ContentInfo_free(bundle);
        CMS_ContentInfo_free(env);
        CMS_ContentInfo_free(cms);
        BIO_free(out);
    }
    X509_free(issued);
    OSSL_PROVIDER_unload(leg);
    OSSL_PROVIDER_unload(def);
}
END_TEST

/* The CertRep written out is the bytes OpenSSL's CMS gives for the same
 * reply (same senderNonce, the signature being deterministic), for each
 * digest and each reply without an envelope; a reply with one verifies
 * and carries the same attributes and certificates as CMS's. */
START_TEST(certrep_same_bytes_as_cms)
{
    static const unsigned char fixed_nonce[16] = "fixed-nonce-0001";
    OSSL_PROVIDER *def = OSSL_PROVIDER_load(NULL, "default");
    OSSL_PROVIDER *leg = OSSL_PROVIDER_load(NULL, "legacy");
    /* beside the CA alone: an RA, the CA and a root, whose DER order differs from this */
    EVP_PKEY *root_key = t_rsa_key(2048), *sub_key = t_rsa_key(2048), *ra_key = t_rsa_key(2048);
    X509 *root = t_cert(root_key, NULL, NULL, "Z Root", "critical,keyCertSign,cRLSign", 1, 3650);
    X509 *sub = t_cert(sub_key, root, root_key, "M Sub CA", "critical,keyCertSign,cRLSign", 1, 3650);
    X509 *ra = t_cert(ra_key, sub, sub_key, "A RA", "digitalSignature,keyEncipherment", 0, 365);
    const char *dir = t_tmpdir(), *lerr;
    scep_ca_files_t files = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL };
    scep_ca_file_t which;
    scep_ca_t *with_ra;

    ck_assert(def && leg);
    files.cert = t_write_pem(dir, "sub.pem", sub, NULL);
    files.key = t_write_pem(dir, "sub.key", NULL, sub_key);
    files.chain = t_write_pem(dir, "root.pem", root, NULL);
    files.ra_cert = t_write_pem(dir, "ra.pem", ra, NULL);
    files.ra_key = t_write_pem(dir, "ra.key", NULL, ra_key);
    ck_assert_int_eq(scep_ca_load(&with_ra, test_pool, &files, &lerr, &which), APR_SUCCESS);
    ck_assert(with_ra->has_ra && sk_X509_num(with_ra->chain) == 1);
    certrep_matches_cms(sca, ca);
    certrep_matches_cms(with_ra, root);
    {
        /* a SUCCESS: its envelope is random, so compared by what it holds */
        apr_size_t len;
        unsigned char *der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1), *rep[2];
        apr_size_t rep_len[2];
        scep_msg_t *m;
        scep_fail_info_t fail;
        const char *err = NULL;
        X509 *issued = t_cert(dev_key, ca, ca_key, "device", "digitalSignature", 0, 30);
        scep_reply_t ok = { SCEP_STATUS_SUCCESS, 0, NULL, issued, NULL, NULL };
        CMS_ContentInfo *cms[2];
        int k, a;

        ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
        ck_assert_int_eq(scep_msg_decrypt(m, &fail, &err, test_pool, sca->ra_cert, sca->ra_key, 0),
                         APR_SUCCESS);
        for (k = 0; k < 2; k++) {
            const unsigned char *q;
            X509_STORE *st = X509_STORE_new();
            ck_assert_int_eq(scep_msg_certrep_as(&rep[k], &rep_len[k], &err, test_pool, oids, sca,
                                                 m, &ok, 0, fixed_nonce,
                                                 k ? SCEP_CERTREP_CMS : SCEP_CERTREP_WRITTEN),
                             APR_SUCCESS);
            q = rep[k];
            cms[k] = d2i_CMS_ContentInfo(NULL, &q, (long)rep_len[k]);
            ck_assert_ptr_nonnull(cms[k]);
            X509_STORE_add_cert(st, ca);
            ck_assert_int_eq(CMS_verify(cms[k], NULL, st, NULL, NULL,
                                        CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY), 1);
            X509_STORE_free(st);
        }
        {
            CMS_SignerInfo *s0 = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms[0]), 0);
            CMS_SignerInfo *s1 = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms[1]), 0);
            STACK_OF(X509) *c0 = CMS_get1_certs(cms[0]), *c1 = CMS_get1_certs(cms[1]);

            ck_assert_int_eq(CMS_signed_get_attr_count(s0), CMS_signed_get_attr_count(s1));
            for (a = 0; a < CMS_signed_get_attr_count(s0); a++) {
                ck_assert_int_eq(OBJ_cmp(X509_ATTRIBUTE_get0_object(CMS_signed_get_attr(s0, a)),
                                         X509_ATTRIBUTE_get0_object(CMS_signed_get_attr(s1, a))),
                                 0);
            }
            ck_assert_int_eq(sk_X509_num(c0), sk_X509_num(c1));
            for (a = 0; a < sk_X509_num(c0); a++) {
                ck_assert_int_eq(X509_cmp(sk_X509_value(c0, a), sk_X509_value(c1, a)), 0);
            }
            sk_X509_pop_free(c0, X509_free);
            sk_X509_pop_free(c1, X509_free);
        }
        CMS_ContentInfo_free(cms[0]);
        CMS_ContentInfo_free(cms[1]);
        X509_free(issued);
    }
    X509_free(ra);
    X509_free(sub);
    X509_free(root);
    EVP_PKEY_free(ra_key);
    EVP_PKEY_free(sub_key);
    EVP_PKEY_free(root_key);
    OSSL_PROVIDER_unload(leg);
    OSSL_PROVIDER_unload(def);
}
END_TEST

/* The certs-only bundle, written out by hand: the bytes OpenSSL's PKCS#7
 * encoder gives, with and without a CRL, with and without certificates. */
static void bundle_as_pkcs7_api(unsigned char **pder, int *plen, STACK_OF(X509) *certs,
                                X509_CRL *crl)
{
    PKCS7 *p7 = PKCS7_new();
    int i;

    ck_assert(PKCS7_set_type(p7, NID_pkcs7_signed) && PKCS7_content_new(p7, NID_pkcs7_data));
    ASN1_OCTET_STRING_free(p7->d.sign->contents->d.data);
    p7->d.sign->contents->d.data = NULL;
    for (i = 0; i < sk_X509_num(certs); i++) {
        ck_assert(PKCS7_add_certificate(p7, sk_X509_value(certs, i)));
    }
    if (crl) {
        ck_assert(PKCS7_add_crl(p7, crl));
    }
    *pder = NULL;
    *plen = i2d_PKCS7(p7, pder);
    ck_assert_int_gt(*plen, 0);
    PKCS7_free(p7);
}

START_TEST(bundle_same_bytes_as_pkcs7)
{
    X509 *issued = t_cert(dev_key, ca, ca_key, "device", "digitalSignature", 0, 30);
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = ASN1_TIME_set(NULL, 1700000000);
    STACK_OF(X509) *certs = sk_X509_new_null(), *none = sk_X509_new_null();
    struct { STACK_OF(X509) *certs; X509_CRL *crl; } cases[4];
    int i;

    sk_X509_push(certs, issued);
    sk_X509_push(certs, ca);
    ck_assert(X509_CRL_set_version(crl, 1)
              && X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca))
              && X509_CRL_set1_lastUpdate(crl, now) && X509_CRL_sign(crl, ca_key, EVP_sha256()));
    cases[0].certs = certs; cases[0].crl = NULL;
    cases[1].certs = certs; cases[1].crl = crl;
    cases[2].certs = none;  cases[2].crl = crl;
    cases[3].certs = none;  cases[3].crl = NULL;
    for (i = 0; i < 4; i++) {
        unsigned char *want, *got;
        int want_len;
        apr_size_t got_len;

        bundle_as_pkcs7_api(&want, &want_len, cases[i].certs, cases[i].crl);
        ck_assert_int_eq(scep_bundle_der(&got, &got_len, test_pool, cases[i].certs, cases[i].crl),
                         APR_SUCCESS);
        ck_assert_uint_eq(got_len, (apr_size_t)want_len);
        ck_assert_mem_eq(got, want, got_len);
        OPENSSL_free(want);
    }
    sk_X509_free(certs);
    sk_X509_free(none);
    ASN1_TIME_free(now);
    X509_CRL_free(crl);
    X509_free(issued);
}
END_TEST

/* The signer's key is decoded apart (RSA) or by OpenSSL's CMS (other keys):
 * both verify a good message, refuse a bad signature and a bad
 * messageDigest, and give the same key. */
static void check_both_ways(EVP_PKEY *key, int key_type)
{
    EVP_PKEY *saved_key = dev_key;
    X509 *saved_self = dev_self;
    apr_size_t len;
    unsigned char *der;
    scep_msg_t *m;
    const char *err = NULL;

    dev_key = key;
    dev_self = t_cert(key, NULL, NULL, "SCEP SIGNER", "digitalSignature", 0, 1);
    der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert(m->signature_ok);
    ck_assert_ptr_nonnull(m->signer_key);
    ck_assert_int_eq(EVP_PKEY_get_base_id(m->signer_key), key_type);
    ck_assert_int_eq(EVP_PKEY_eq(m->signer_key, key), 1);
    ck_assert(scep_msg_signer_self_signed(m));
    /* the signature is the SignerInfo's last field: the DER's last byte */
    der[len - 1] ^= 0x01;
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert(!m->signature_ok);
    ck_assert_str_eq(m->signature_error, "the signature over the signed attributes does not verify");
    X509_free(dev_self);
    dev_self = saved_self;
    dev_key = saved_key;
}

START_TEST(signer_key_both_ways)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");

    ck_assert_ptr_nonnull(ec);
    check_both_ways(dev_key, EVP_PKEY_RSA);
    check_both_ways(ec, EVP_PKEY_EC);
    EVP_PKEY_free(ec);
}
END_TEST

/* A signer certificate whose own signature is broken is not self-signed,
 * whichever way its key was decoded. */
START_TEST(broken_self_signature_is_not_self_signed)
{
    X509 *saved_self = dev_self;
    unsigned char *cder = NULL, *der;
    const unsigned char *q;
    int clen = i2d_X509(dev_self, &cder);
    apr_size_t len;
    scep_msg_t *m;
    const char *err = NULL;

    cder[clen - 1] ^= 0x01;       /* the certificate's signature */
    q = cder;
    dev_self = d2i_X509(NULL, &q, clen);
    ck_assert_ptr_nonnull(dev_self);
    der = build(&len, "19", EVP_aes_128_cbc(), EVP_sha256(), 1);
    ck_assert_int_eq(scep_msg_parse(&m, &err, test_pool, oids, der, len), APR_SUCCESS);
    ck_assert(m->signature_ok);       /* the message's signature is fine */
    ck_assert(!scep_msg_signer_self_signed(m));
    X509_free(dev_self);
    OPENSSL_free(cder);
    dev_self = saved_self;
}
END_TEST

Suite *msg_suite(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("msg");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, garbage_is_unreadable);
    tcase_add_test(tc, parse_verify_decrypt);
    tcase_add_test(tc, tampered_content_fails_signature);
    tcase_add_test(tc, missing_tid_is_unreadable);
    tcase_add_test(tc, policy_refuses_weak_and_unknown);
    tcase_add_test(tc, failure_reply_shape);
    tcase_add_test(tc, success_reply_is_encrypted_to_signer);
    tcase_add_test(tc, reply_envelope_each_cipher);
    tcase_add_test(tc, envelope_cipher_in_der_and_ber);
    tcase_add_test(tc, addressed_to_as_decrypt_reads);
    tcase_add_test(tc, originator_certificates_bounded);
    tcase_add_test(tc, bundle_same_bytes_as_pkcs7);
    tcase_add_test(tc, certrep_same_bytes_as_cms);
    tcase_add_test(tc, certrep_ec_same_as_cms);
    tcase_add_test(tc, undecryptable_goes_on_with_random_bytes);
    tcase_add_test(tc, reply_digest_only_where_allowed);
    tcase_add_test(tc, signer_key_both_ways);
    tcase_add_test(tc, broken_self_signature_is_not_self_signed);
    suite_add_tcase(s, tc);
    return s;
}
