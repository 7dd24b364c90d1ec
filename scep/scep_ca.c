/* mod_scep core: CA/RA material and certificate issuance. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_lib.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <openssl/cms.h>

#include "scep_ca.h"
#include "scep_ossl.h"

static int key_usage_has(X509 *x, uint32_t bits)
{
    /* no keyUsage extension means no restriction */
    if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE)) {
        return 1;
    }
    return (X509_get_key_usage(x) & bits) == bits;
}

static int is_self_signed(X509 *x)
{
    return X509_self_signed(x, 0) == 1;
}

static apr_status_t check_chain(apr_pool_t *p, X509 *cert,
                                STACK_OF(X509) *chain, const char **perr)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *sctx = X509_STORE_CTX_new();
    apr_status_t rv = APR_EINVAL;
    int i, roots = 0;

    if (!store || !sctx) {
        *perr = "out of memory";
        goto leave;
    }
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (is_self_signed(c)) {
            X509_STORE_add_cert(store, c);
            roots++;
        }
    }
    if (is_self_signed(cert)) {
        X509_STORE_add_cert(store, cert);
        roots++;
    }
    if (roots == 0) {
        *perr = "the chain does not end in a self-signed root certificate";
        goto leave;
    }
    ERR_clear_error();
    if (!X509_STORE_CTX_init(sctx, store, cert, chain)) {
        *perr = scep_ossl_errors(p);
        goto leave;
    }
    if (X509_verify_cert(sctx) != 1) {
        *perr = apr_psprintf(p, "the CA certificate does not chain to a root: %s",
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
        goto leave;
    }
    rv = APR_SUCCESS;
leave:
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rv;
}

static int expired(X509 *x)
{
    return X509_cmp_current_time(X509_get0_notAfter(x)) <= 0;
}

/* A start-up refusal: which file, and why. */
static apr_status_t ca_fail(const char **perr, scep_ca_file_t *pwhich, scep_ca_file_t which,
                            const char *why)
{
    *pwhich = which;
    *perr = why;
    return APR_EINVAL;
}

/* A private key: a file (PEM or DER, maybe encrypted), or a key in a token
 * (*pref set) named by a pkcs11: URI. */
static apr_status_t load_key(EVP_PKEY **pkey, const scep_pkcs11_ref_t **pref, apr_pool_t *p,
                             const scep_ca_files_t *files, const char *name, const char **perr)
{
    scep_pkcs11_ref_t *ref;
    apr_status_t rv;

    *pref = NULL;
    if (!scep_pkcs11_is_uri(name)) {
        return scep_load_key_pass(pkey, p, name, files->passphrase, files->passphrase_baton,
                                  perr);
    }
    if (!files->pkcs11) {
        *perr = apr_psprintf(p, "%s: a key in a token, but the pkcs11 engine is not "
                             "loaded", scep_pkcs11_safe_uri(p, name));
        return APR_EINVAL;
    }
    if ((rv = scep_pkcs11_ref(&ref, p, files->pkcs11, name, perr)) != APR_SUCCESS
        || (rv = scep_pkcs11_open(pkey, p, ref, perr)) != APR_SUCCESS) {
        return rv;
    }
    *pref = ref;
    return APR_SUCCESS;
}

/* Open ref into *pkey's place (atomically: other threads may be reading
 * it); alias: where the key is also another role's. */
static apr_status_t reopen_one(EVP_PKEY **pkey, apr_pool_t *p, const scep_pkcs11_ref_t *ref,
                               const char **perr)
{
    EVP_PKEY *fresh;
    apr_status_t rv = scep_pkcs11_open(&fresh, p, ref, perr);

    if (rv == APR_SUCCESS) {
        apr_atomic_xchgptr((void *)pkey, fresh);
    }
    return rv;
}

apr_status_t scep_ca_reopen_keys(scep_ca_t *ca, apr_pool_t *p, const char **perr)
{
    EVP_PKEY *old_key = ca->key, *old_ra = ca->ra_key;
    apr_status_t rv = APR_SUCCESS;

    if (ca->key_ref) {
        rv = reopen_one(&ca->key, p, ca->key_ref, perr);
    }
    /* without an RA (or with a retired CA) the RA keys are the CA's */
    if (rv == APR_SUCCESS && old_ra == old_key) {
        apr_atomic_xchgptr((void *)&ca->ra_key, ca->key);
    }
    else if (rv == APR_SUCCESS && ca->ra_key_ref) {
        rv = reopen_one(&ca->ra_key, p, ca->ra_key_ref, perr);
    }
    if (rv == APR_SUCCESS && ca->enc_key == old_key) {
        apr_atomic_xchgptr((void *)&ca->enc_key, ca->key);
    }
    else if (rv == APR_SUCCESS && ca->enc_key == old_ra) {
        apr_atomic_xchgptr((void *)&ca->enc_key, ca->ra_key);
    }
    else if (rv == APR_SUCCESS && ca->enc_key_ref) {
        rv = reopen_one(&ca->enc_key, p, ca->enc_key_ref, perr);
    }
    return rv;
}

int scep_ca_key_signs(EVP_PKEY *key)
{
    static const unsigned char probe[] = "mod_scep key probe";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t len = sizeof(sig);
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1
             && EVP_DigestSign(md, sig, &len, probe, sizeof(probe) - 1) == 1;

    EVP_MD_CTX_free(md);
    return ok;
}

int scep_ca_enc_token_failed(const scep_ca_t *ca)
{
    scep_ca_t *c = (scep_ca_t *)ca;     /* this child's copy: its probe only */
    /* the second, shifted up to leave the low bit for the answer */
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now()) << 1, last;
    int failed;

    if (!ca->enc_key_ref && !(ca->enc_key == ca->key && ca->key_ref)
        && !(ca->enc_key == ca->ra_key && ca->ra_key_ref)) {
        return 0;
    }
    last = apr_atomic_read32(&c->probe);
    if ((last & ~1u) == now) {
        return (int)(last & 1u);
    }
    ERR_set_mark();
    failed = !scep_ca_key_signs(ca->enc_key);
    ERR_pop_to_mark();
    /* a slow probe that stores its answer after a newer one stores its own
     * second with it: the threads of the newer second probe again */
    apr_atomic_set32(&c->probe, now | (apr_uint32_t)failed);
    return failed;
}

int scep_ca_has_token(const scep_ca_t *ca)
{
    return ca->key_ref || ca->ra_key_ref || ca->enc_key_ref;
}

int scep_ca_key_trouble(const scep_ca_t *ca)
{
    scep_ca_t *c = (scep_ca_t *)ca;     /* this child's copy: its keys only */
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    const char *err = NULL;
    int reopened;

    if (scep_ca_has_token(ca) && c->token_alarm) {
        apr_atomic_set32(c->token_alarm, 1);
    }
    if (!scep_ca_has_token(ca) || !c->key_pool
        || now - apr_atomic_read32(&c->reopened_at) < SCEP_KEY_REOPEN_SECONDS
        || apr_atomic_cas32(&c->reopening, 1, 0) != 0) {
        return 0;
    }
    apr_atomic_set32(&c->reopened_at, now);
    reopened = scep_ca_reopen_keys(c, c->key_pool, &err) == APR_SUCCESS;
    ERR_clear_error();
    apr_atomic_set32(&c->reopening, 0);
    return reopened;
}

/* The CA certificate and its key: matching, a CA, unexpired. */
static apr_status_t load_ca_pair(scep_ca_t *ca, apr_pool_t *p, const scep_ca_files_t *files,
                                 const char **perr, scep_ca_file_t *pwhich)
{
    apr_status_t rv;

    *pwhich = SCEP_CA_FILE_CERT;
    if ((rv = scep_load_cert(&ca->cert, p, files->cert, perr)) != APR_SUCCESS) {
        return rv;
    }
    *pwhich = SCEP_CA_FILE_KEY;
    if ((rv = load_key(&ca->key, &ca->key_ref, p, files, files->key, perr)) != APR_SUCCESS) {
        return rv;
    }
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        return ca_fail(perr, pwhich, SCEP_CA_FILE_KEY, apr_psprintf(p, "the key in %s does "
                       "not match the CA certificate %s", files->key, files->cert));
    }
    if (X509_check_ca(ca->cert) < 1 || !key_usage_has(ca->cert, KU_KEY_CERT_SIGN)) {
        return ca_fail(perr, pwhich, SCEP_CA_FILE_CERT, apr_psprintf(p, "%s is not a CA "
                       "certificate (needs basicConstraints CA:TRUE and keyUsage "
                       "keyCertSign)", files->cert));
    }
    if (expired(ca->cert) && !files->retired) {
        return ca_fail(perr, pwhich, SCEP_CA_FILE_CERT, apr_psprintf(p, "the CA certificate "
                       "%s has expired", files->cert));
    }
    return APR_SUCCESS;
}

/* The certificates above the CA, which must lead to a self-signed root. */
static apr_status_t load_chain(scep_ca_t *ca, apr_pool_t *p, const scep_ca_files_t *files,
                               const char **perr, scep_ca_file_t *pwhich)
{
    apr_status_t rv;
    int i;

    ca->chain = scep_own_x509_stack(p, sk_X509_new_null());
    if (files->chain) {
        STACK_OF(X509) *extra;
        *pwhich = SCEP_CA_FILE_CHAIN;
        if ((rv = scep_load_certs(&extra, p, files->chain, perr)) != APR_SUCCESS) {
            return rv;
        }
        for (i = 0; i < sk_X509_num(extra); i++) {
            X509 *c = sk_X509_value(extra, i);
            if (X509_cmp(c, ca->cert) != 0) {
                X509_up_ref(c);
                sk_X509_push(ca->chain, c);
            }
        }
    }
    if ((files->chain || !is_self_signed(ca->cert))
        && check_chain(p, ca->cert, ca->chain, perr) != APR_SUCCESS) {
        return ca_fail(perr, pwhich, files->chain ? SCEP_CA_FILE_CHAIN : SCEP_CA_FILE_CERT,
                       apr_psprintf(p, "%s%s", *perr, files->chain ? "" : " (the CA is not "
                       "self-signed: name its issuers in SCEPCAChainFile)"));
    }
    return APR_SUCCESS;
}

/* A certificate and its key, issued by the CA and unexpired: the RA's
 * (what names it: "RA", "RA encryption"). */
static apr_status_t load_issued_pair(X509 **pcert, EVP_PKEY **pkey,
                                     const scep_pkcs11_ref_t **pref, scep_ca_t *ca,
                                     apr_pool_t *p, const scep_ca_files_t *files,
                                     const char *cert_file, const char *key_file,
                                     scep_ca_file_t which_cert, scep_ca_file_t which_key,
                                     const char *what, const char **perr,
                                     scep_ca_file_t *pwhich)
{
    apr_status_t rv;

    if (!cert_file || !key_file) {
        return ca_fail(perr, pwhich, cert_file ? which_cert : which_key,
                       apr_psprintf(p, "the %s needs both a certificate and a key", what));
    }
    *pwhich = which_cert;
    if ((rv = scep_load_cert(pcert, p, cert_file, perr)) != APR_SUCCESS) {
        return rv;
    }
    *pwhich = which_key;
    if ((rv = load_key(pkey, pref, p, files, key_file, perr)) != APR_SUCCESS) {
        return rv;
    }
    if (X509_check_private_key(*pcert, *pkey) != 1) {
        ERR_clear_error();
        return ca_fail(perr, pwhich, which_key, apr_psprintf(p, "the key in %s does not "
                       "match the %s certificate %s", key_file, what, cert_file));
    }
    if (!scep_ca_issued(ca, *pcert)) {
        return ca_fail(perr, pwhich, which_cert, apr_psprintf(p, "the %s certificate %s was "
                       "not issued by the CA %s", what, cert_file, files->cert));
    }
    if (expired(*pcert)) {
        return ca_fail(perr, pwhich, which_cert, apr_psprintf(p, "the %s certificate %s has "
                       "expired", what, cert_file));
    }
    return APR_SUCCESS;
}

/* Without an RA the CA itself signs replies and decrypts requests. */
static apr_status_t ca_is_ra(scep_ca_t *ca, apr_pool_t *p, const scep_ca_files_t *files,
                             const char **perr, scep_ca_file_t *pwhich)
{
    if (files->enc_cert || files->enc_key) {
        return ca_fail(perr, pwhich, files->enc_cert ? SCEP_CA_FILE_ENC_CERT
                       : SCEP_CA_FILE_ENC_KEY, "an RA encryption certificate goes with an "
                       "RA signing certificate (SCEPRACertificateFile)");
    }
    if (!key_usage_has(ca->cert, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)) {
        return ca_fail(perr, pwhich, SCEP_CA_FILE_CERT, apr_psprintf(p, "without an RA "
                       "the CA certificate %s signs replies and decrypts requests, so "
                       "it needs keyUsage digitalSignature and keyEncipherment; add "
                       "them or configure SCEPRACertificateFile", files->cert));
    }
    if (EVP_PKEY_get_base_id(ca->key) != EVP_PKEY_RSA) {
        return ca_fail(perr, pwhich, SCEP_CA_FILE_KEY, apr_psprintf(p, "without an RA "
                       "the CA key %s must be RSA; configure an RSA RA "
                       "(SCEPRACertificateFile)", files->key));
    }
    ca->ra_cert = ca->enc_cert = ca->cert;
    ca->ra_key = ca->enc_key = ca->key;
    return APR_SUCCESS;
}

/* The RA, issued by the CA: one certificate that signs replies and decrypts
 * requests, or one that signs (RSA or EC) beside an RSA one that decrypts
 * (SCEPRAEncryptionCertificateFile); without one the CA itself does both. */
static apr_status_t load_ra(scep_ca_t *ca, apr_pool_t *p, const scep_ca_files_t *files,
                            const char **perr, scep_ca_file_t *pwhich)
{
    int split = files->enc_cert || files->enc_key;
    apr_status_t rv;

    if (files->retired) {
        /* decrypts only what a device still encrypts to it, if it can */
        ca->ra_cert = ca->enc_cert = ca->cert;
        ca->ra_key = ca->enc_key = ca->key;
        return APR_SUCCESS;
    }
    if (!files->ra_cert && !files->ra_key) {
        return ca_is_ra(ca, p, files, perr, pwhich);
    }
    if ((rv = load_issued_pair(&ca->ra_cert, &ca->ra_key, &ca->ra_key_ref, ca, p, files,
                               files->ra_cert, files->ra_key, SCEP_CA_FILE_RA_CERT,
                               SCEP_CA_FILE_RA_KEY, "RA", perr, pwhich)) != APR_SUCCESS) {
        return rv;
    }
    if (!split) {
        if (!key_usage_has(ca->ra_cert, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT)) {
            return ca_fail(perr, pwhich, SCEP_CA_FILE_RA_CERT, apr_psprintf(p, "the RA "
                           "certificate %s needs keyUsage digitalSignature and "
                           "keyEncipherment (it signs replies and decrypts requests; or "
                           "name an encryption certificate apart with "
                           "SCEPRAEncryptionCertificateFile)", files->ra_cert));
        }
        ca->enc_cert = ca->ra_cert;
        ca->enc_key = ca->ra_key;
    }
    else {
        if (!key_usage_has(ca->ra_cert, KU_DIGITAL_SIGNATURE)) {
            return ca_fail(perr, pwhich, SCEP_CA_FILE_RA_CERT, apr_psprintf(p, "the RA "
                           "signing certificate %s needs keyUsage digitalSignature",
                           files->ra_cert));
        }
        if ((rv = load_issued_pair(&ca->enc_cert, &ca->enc_key, &ca->enc_key_ref, ca, p,
                                   files, files->enc_cert, files->enc_key, SCEP_CA_FILE_ENC_CERT,
                                   SCEP_CA_FILE_ENC_KEY, "RA encryption", perr, pwhich))
            != APR_SUCCESS) {
            return rv;
        }
        if (!key_usage_has(ca->enc_cert, KU_KEY_ENCIPHERMENT)) {
            return ca_fail(perr, pwhich, SCEP_CA_FILE_ENC_CERT, apr_psprintf(p, "the RA "
                           "encryption certificate %s needs keyUsage keyEncipherment",
                           files->enc_cert));
        }
        ca->split_ra = 1;
    }
    if (EVP_PKEY_get_base_id(ca->enc_key) != EVP_PKEY_RSA) {
        return ca_fail(perr, pwhich, split ? SCEP_CA_FILE_ENC_KEY : SCEP_CA_FILE_RA_KEY,
                       apr_psprintf(p, "the RA key %s must be RSA (SCEP clients encrypt to "
                       "it with RSA key transport%s)", split ? files->enc_key : files->ra_key,
                       split ? "" : "; an EC RA signs only, beside an RSA "
                       "SCEPRAEncryptionCertificateFile"));
    }
    if (EVP_PKEY_get_base_id(ca->ra_key) != EVP_PKEY_RSA
        && EVP_PKEY_get_base_id(ca->ra_key) != EVP_PKEY_EC) {
        return ca_fail(perr, pwhich, SCEP_CA_FILE_RA_KEY, apr_psprintf(p, "the RA signing "
                       "key %s must be RSA or EC", files->ra_key));
    }
    ca->has_ra = 1;
    return APR_SUCCESS;
}

static apr_status_t free_extension(void *ext)
{
    X509_EXTENSION_free(ext);
    return APR_SUCCESS;
}

static apr_status_t free_md(void *md)
{
    EVP_MD_free(md);
    return APR_SUCCESS;
}

/* The extensions that depend on the CA alone, made once as X509V3 makes
 * them for each certificate (its text parsed, and SHA-1 fetched, each
 * time: a fifth of the issuance's CPU besides the signature).
 * authorityKeyIdentifier "keyid,issuer" reads only the issuer's
 * certificate, as long as the certificate is not the issuer's own. */
static apr_status_t issued_extensions(scep_ca_t *ca, apr_pool_t *p)
{
    X509 *other = X509_new();
    X509V3_CTX v3;

    ERR_set_mark();
    X509V3_set_ctx(&v3, ca->cert, other, NULL, NULL, 0);
    ca->basic_constraints = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                                "critical,CA:FALSE");
    ca->authority_key_id = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
                                               "keyid,issuer");
    ca->key_id_md = EVP_MD_fetch(NULL, SN_sha1, NULL);
    ERR_pop_to_mark();
    X509_free(other);
    if (ca->basic_constraints) {
        apr_pool_cleanup_register(p, ca->basic_constraints, free_extension, apr_pool_cleanup_null);
    }
    if (ca->authority_key_id) {
        apr_pool_cleanup_register(p, ca->authority_key_id, free_extension, apr_pool_cleanup_null);
    }
    if (ca->key_id_md) {
        apr_pool_cleanup_register(p, ca->key_id_md, free_md, apr_pool_cleanup_null);
    }
    return ca->basic_constraints && ca->authority_key_id && ca->key_id_md ? APR_SUCCESS
                                                                          : APR_EGENERAL;
}

apr_status_t scep_ca_load(scep_ca_t **pca, apr_pool_t *p,
                          const scep_ca_files_t *files,
                          const char **perr, scep_ca_file_t *pwhich)
{
    scep_ca_t *ca = apr_pcalloc(p, sizeof(*ca));
    apr_status_t rv;
    int i;

    if ((rv = load_ca_pair(ca, p, files, perr, pwhich)) != APR_SUCCESS
        || (rv = load_chain(ca, p, files, perr, pwhich)) != APR_SUCCESS
        || (rv = load_ra(ca, p, files, perr, pwhich)) != APR_SUCCESS) {
        return rv;
    }
    ca->fingerprint = scep_cert_fingerprint(p, ca->cert);
    ca->id = apr_pstrmemdup(p, ca->fingerprint, 16);
    for (i = 0; i < 16; i++) {
        ((char *)ca->id)[i] = (char)apr_tolower(ca->id[i]);   /* as sha256sum prints it */
    }
    ca->subject = scep_name_str(p, X509_get_subject_name(ca->cert));
    ca->not_after = scep_asn1_time_epoch(X509_get0_notAfter(ca->cert));
    if (issued_extensions(ca, p) != APR_SUCCESS) {
        return ca_fail(perr, pwhich, SCEP_CA_FILE_CERT,
                       "cannot make the extensions of the certificates it issues");
    }
    *pca = ca;
    return APR_SUCCESS;
}

apr_int64_t scep_ca_ra_not_after(const scep_ca_t *ca)
{
    apr_int64_t sig = scep_asn1_time_epoch(X509_get0_notAfter(ca->ra_cert));
    apr_int64_t enc = scep_asn1_time_epoch(X509_get0_notAfter(ca->enc_cert));
    return sig < enc ? sig : enc;
}

int scep_ca_issued(const scep_ca_t *ca, X509 *cert)
{
    EVP_PKEY *pub = X509_get0_pubkey(ca->cert);
    int ok;

    ERR_clear_error();
    ok = X509_check_issued(ca->cert, cert) == X509_V_OK
         && pub && X509_verify(cert, pub) == 1;
    ERR_clear_error();
    return ok;
}

const scep_ca_t *scep_cas_active(const scep_cas_t *cas, apr_int64_t now)
{
    return cas->next && now >= cas->switch_at ? cas->next : cas->current;
}

const scep_ca_t *scep_cas_by_id(const scep_cas_t *cas, const char *id)
{
    int i;

    for (i = 0; i < cas->all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(cas->all, i, const scep_ca_t *);
        if (!strcasecmp(ca->id, id)) {
            return ca;
        }
    }
    return NULL;
}

const scep_ca_t *scep_cas_by_fingerprint(const scep_cas_t *cas, const char *fingerprint)
{
    int i;

    for (i = 0; i < cas->all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(cas->all, i, const scep_ca_t *);
        if (!strcmp(ca->fingerprint, fingerprint)) {
            return ca;
        }
    }
    return NULL;
}

const scep_ca_t *scep_cas_issuer_of(const scep_cas_t *cas, X509 *cert)
{
    int i;

    for (i = 0; i < cas->all->nelts; i++) {
        const scep_ca_t *ca = APR_ARRAY_IDX(cas->all, i, const scep_ca_t *);
        if (scep_ca_issued(ca, cert)) {
            return ca;
        }
    }
    return NULL;
}

static int add_ext(X509 *cert, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static int add_ext_obj(X509 *cert, int nid, int critical, void *obj)
{
    return X509_add1_ext_i2d(cert, nid, obj, critical, X509V3_ADD_DEFAULT) == 1;
}

/* subjectKeyIdentifier as X509V3's "hash" makes it (RFC 5280, 4.2.1.2
 * (1)): SHA-1 over the subjectPublicKey's bits. */
static int add_subject_key_id(X509 *cert, const EVP_MD *sha1)
{
    const unsigned char *bits = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASN1_OCTET_STRING *id = NULL;
    int key_len = 0, ok;

    ok = X509_PUBKEY_get0_param(NULL, &bits, &key_len, NULL, X509_get_X509_PUBKEY(cert))
         && bits && key_len > 0
         && EVP_Digest(bits, (size_t)key_len, md, &md_len, sha1, NULL)
         && (id = ASN1_OCTET_STRING_new()) != NULL
         && ASN1_OCTET_STRING_set(id, md, (int)md_len)
         && add_ext_obj(cert, NID_subject_key_identifier, 0, id);
    ASN1_OCTET_STRING_free(id);
    return ok;
}

static int random_serial(ASN1_INTEGER *serial)
{
    unsigned char buf[16];
    BIGNUM *bn = NULL;
    int ok;

    /* 127 random bits, positive, never shorter than 64 bits of entropy */
    if (RAND_bytes(buf, sizeof(buf)) != 1) {
        return 0;
    }
    buf[0] &= 0x7f;
    buf[0] |= 0x40;
    bn = BN_bin2bn(buf, sizeof(buf), NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, serial) != NULL;
    BN_free(bn);
    return ok;
}

static int add_key_usage(X509 *cert, unsigned ku)
{
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    int ok = bits != NULL, i;

    for (i = 0; ok && i < 16; i++) {
        /* KU_* are the DER bit-string bytes: bit 0x80 of byte 0 is bit 0 */
        int byte = i / 8, mask = 0x80 >> (i % 8);
        if (ku & ((unsigned)mask << (8 * byte))) {
            ok = ASN1_BIT_STRING_set_bit(bits, i, 1);
        }
    }
    ok = ok && add_ext_obj(cert, NID_key_usage, 1, bits);
    ASN1_BIT_STRING_free(bits);
    return ok;
}

static int add_eku(X509 *cert, const apr_array_header_t *eku)
{
    EXTENDED_KEY_USAGE *ext;
    int ok = 1, i;

    if (!eku || eku->nelts == 0) {
        return 1;
    }
    ext = sk_ASN1_OBJECT_new_null();
    for (i = 0; ext && ok && i < eku->nelts; i++) {
        ok = sk_ASN1_OBJECT_push(ext, OBJ_dup(APR_ARRAY_IDX(eku, i, ASN1_OBJECT *))) > 0;
    }
    ok = ext && ok && add_ext_obj(cert, NID_ext_key_usage, 0, ext);
    sk_ASN1_OBJECT_pop_free(ext, ASN1_OBJECT_free);
    return ok;
}

static int add_policies(X509 *cert, const apr_array_header_t *oids)
{
    CERTIFICATEPOLICIES *pols;
    int ok = 1, i;

    if (!oids || oids->nelts == 0) {
        return 1;
    }
    pols = sk_POLICYINFO_new_null();
    for (i = 0; pols && ok && i < oids->nelts; i++) {
        POLICYINFO *pi = POLICYINFO_new();
        ok = pi != NULL;
        if (ok) {
            ASN1_OBJECT_free(pi->policyid);
            pi->policyid = OBJ_dup(APR_ARRAY_IDX(oids, i, ASN1_OBJECT *));
            ok = sk_POLICYINFO_push(pols, pi) > 0;
            if (!ok) POLICYINFO_free(pi);
        }
    }
    ok = pols && ok && add_ext_obj(cert, NID_certificate_policies, 0, pols);
    sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
    return ok;
}

/* A URL of the profile with every %{CA} replaced by the issuing CA's id:
 * each CA of a rollover names its own CRL and certificate. */
static const char *url_for(apr_pool_t *p, const scep_ca_t *ca, const char *url)
{
    const char *at, *out = "";

    while ((at = strstr(url, SCEP_URL_CA)) != NULL) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, url, (apr_size_t)(at - url)),
                          ca->id ? ca->id : "", NULL);
        url = at + sizeof(SCEP_URL_CA) - 1;
    }
    return apr_pstrcat(p, out, url, NULL);
}

static int add_urls(X509 *cert, X509V3_CTX *v3, apr_pool_t *p, const scep_ca_t *ca, int nid,
                    const apr_array_header_t *a, const apr_array_header_t *b)
{
    const char *value = NULL;
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        const char *url = url_for(p, ca, APR_ARRAY_IDX(a, i, const char *));
        const char *item = nid == NID_info_access ? apr_pstrcat(p, "OCSP;URI:", url, NULL)
                                                  : apr_pstrcat(p, "URI:", url, NULL);
        value = value ? apr_pstrcat(p, value, ",", item, NULL) : item;
    }
    for (i = 0; b && i < b->nelts; i++) {
        const char *item = apr_pstrcat(p, "caIssuers;URI:",
                                       url_for(p, ca, APR_ARRAY_IDX(b, i, const char *)), NULL);
        value = value ? apr_pstrcat(p, value, ",", item, NULL) : item;
    }
    return !value || add_ext(cert, v3, nid, value);
}

static int add_template(X509 *cert, const char *name)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
    ASN1_STRING *bmp = ASN1_STRING_type_new(V_ASN1_BMPSTRING);
    ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    int len, ok = 0;
    apr_size_t i, n = strlen(name);
    unsigned char *ucs2 = OPENSSL_malloc(n * 2 + 1);

    if (!oid || !bmp || !data || !ucs2) goto leave;
    for (i = 0; i < n; i++) {           /* template names are ASCII */
        ucs2[2 * i] = 0;
        ucs2[2 * i + 1] = (unsigned char)name[i];
    }
    if (!ASN1_STRING_set(bmp, ucs2, (int)(n * 2))) goto leave;
    len = i2d_ASN1_BMPSTRING(bmp, &der);
    if (len <= 0 || !ASN1_OCTET_STRING_set(data, der, len)) goto leave;
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, data);
    ok = ext && X509_add_ext(cert, ext, -1);
leave:
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_STRING_free(bmp);
    ASN1_OCTET_STRING_free(data);
    OPENSSL_free(der);
    OPENSSL_free(ucs2);
    return ok;
}

/* The certificate's key: the request's SubjectPublicKeyInfo copied field by
 * field. X509_set_pubkey() would run an OpenSSL 3 encoder and a decoder
 * for a key that is already encoded (a sixth of an enrollment's CPU). */
static int set_pubkey(X509 *cert, const scep_cert_plan_t *plan)
{
    ASN1_OBJECT *alg = NULL;
    const ASN1_OBJECT *param_alg = NULL;
    const unsigned char *bits = NULL;
    const void *param = NULL;
    X509_ALGOR *algor = NULL;
    void *param_copy = NULL;
    unsigned char *bits_copy;
    int key_len = 0, ptype = V_ASN1_UNDEF;

    if (!plan->spki || !X509_PUBKEY_get0_param(&alg, &bits, &key_len, &algor, plan->spki)
        || !bits || key_len <= 0) {
        return X509_set_pubkey(cert, plan->pubkey);
    }
    X509_ALGOR_get0(&param_alg, &ptype, &param, algor);
    switch (ptype) {
    case V_ASN1_UNDEF:
    case V_ASN1_NULL:
        break;
    case V_ASN1_OBJECT:
        param_copy = OBJ_dup(param);
        break;
    case V_ASN1_SEQUENCE:
        param_copy = ASN1_STRING_dup(param);
        break;
    default:    /* parameters no key type in use has */
        return X509_set_pubkey(cert, plan->pubkey);
    }
    bits_copy = OPENSSL_memdup(bits, (size_t)key_len);
    /* set0 takes the algorithm (a static table object), parameter and bits */
    if (((ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE) && !param_copy) || !bits_copy
        || !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_dup(alg), ptype,
                                   param_copy, bits_copy, key_len)) {
        ptype == V_ASN1_OBJECT ? ASN1_OBJECT_free(param_copy) : ASN1_STRING_free(param_copy);
        OPENSSL_free(bits_copy);
        return 0;
    }
    return 1;
}

apr_status_t scep_ca_issue(X509 **pcert, const char **perr, apr_pool_t *p,
                           const scep_ca_t *ca, const scep_cert_plan_t *plan)
{
    const scep_policy_t *pol = plan->policy;
    X509 *cert = X509_new();
    X509V3_CTX v3;
    apr_status_t rv = APR_EGENERAL;
    time_t now = time(NULL);
    apr_int64_t not_after = (apr_int64_t)now + plan->validity;

    ERR_clear_error();
    *perr = "";
    if (not_after > ca->not_after) {
        if (!plan->cap_at_ca) {
            *perr = "the certificate would outlive the CA (SCEPValidityCapAtCA off)";
            rv = SCEP_EFAILURE;
            goto leave;
        }
        not_after = ca->not_after;   /* never outlive the CA */
    }
    if (!cert) {
        *perr = "out of memory";
        goto leave;
    }
    if (!X509_set_version(cert, X509_VERSION_3)
        || !random_serial(X509_get_serialNumber(cert))
        || !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert))
        || !X509_set_subject_name(cert, plan->subject)
        || !set_pubkey(cert, plan)
        || !ASN1_TIME_set(X509_getm_notBefore(cert), now - plan->backdate)
        || !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_after)) {
        *perr = "cannot fill in the certificate";
        goto leave;
    }
    X509V3_set_ctx(&v3, ca->cert, cert, NULL, NULL, 0);
    /* (X509_add_ext adds a copy: the CA's own are shared by every thread) */
    if (!X509_add_ext(cert, ca->basic_constraints, -1)
        || !add_subject_key_id(cert, ca->key_id_md)
        || !X509_add_ext(cert, ca->authority_key_id, -1)
        || (plan->key_usage && !add_key_usage(cert, plan->key_usage))
        || !add_eku(cert, plan->eku)
        || (plan->san && sk_GENERAL_NAME_num(plan->san) > 0
            && !add_ext_obj(cert, NID_subject_alt_name,
                            X509_NAME_entry_count(plan->subject) == 0, plan->san))
        || (pol && !add_policies(cert, pol->policies))
        || (pol && !add_urls(cert, &v3, p, ca, NID_crl_distribution_points, pol->crl_urls, NULL))
        || (pol && !add_urls(cert, &v3, p, ca, NID_info_access, pol->ocsp_urls,
                             pol->ca_issuer_urls))
        || (pol && pol->include_template && plan->template_name && *plan->template_name
            && !add_template(cert, plan->template_name))) {
        *perr = "cannot add the certificate extensions";
        goto leave;
    }
    if (X509_sign(cert, ca->key, plan->md ? plan->md : EVP_sha256()) <= 0) {
        *perr = "signing the certificate failed";
        goto leave;
    }
    *pcert = scep_own_x509(p, cert);
    cert = NULL;
    rv = APR_SUCCESS;
leave:
    if (rv == APR_EGENERAL) {
        *perr = apr_pstrcat(p, *perr, ": ", scep_ossl_errors(p), NULL);
    }
    X509_free(cert);
    ERR_clear_error();
    return rv;
}
