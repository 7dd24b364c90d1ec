/* mod_scep core: Apple configuration profiles (.mobileconfig) for a
 * Location: the CA as a com.apple.security.root payload and a
 * com.apple.security.scep payload whose values come from the Location's
 * profile, so the profile and the server cannot disagree; optionally
 * signed (CMS), so that the device shows it as verified. */
#include <string.h>
#include <apr_strings.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "scep_mobileconfig.h"
#include "scep_ossl.h"
#include "scep_util.h"

/* A string as plist XML text. */
static const char *xml(apr_pool_t *p, const char *s)
{
    const char *out = "";
    const char *run = s;

    for (; *s; s++) {
        const char *ent = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        if (ent) {
            out = apr_pstrcat(p, out, apr_pstrndup(p, run, (apr_size_t)(s - run)), ent, NULL);
            run = s + 1;
        }
    }
    return apr_pstrcat(p, out, run, NULL);
}

static const char *key_string(apr_pool_t *p, const char *key, const char *value)
{
    return apr_pstrcat(p, "<key>", key, "</key><string>", xml(p, value), "</string>\n", NULL);
}

static const char *key_int(apr_pool_t *p, const char *key, long value)
{
    return apr_psprintf(p, "<key>%s</key><integer>%ld</integer>\n", key, value);
}

static const char *key_data(apr_pool_t *p, const char *key, const unsigned char *d,
                            apr_size_t len)
{
    return apr_pstrcat(p, "<key>", key, "</key><data>", scep_b64_encode(p, d, len),
                       "</data>\n", NULL);
}

/* A random version 4 UUID, upper case as Apple writes them. */
static const char *uuid(apr_pool_t *p)
{
    unsigned char b[16];
    const char *h;

    if (RAND_bytes(b, sizeof(b)) != 1) {
        memset(b, 0, sizeof(b));      /* a valid UUID all the same */
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    h = scep_hex(p, b, sizeof(b));
    return apr_psprintf(p, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* "/CN=a/O=b" -> [[["CN","a"]],[["O","b"]]], each RDN its own set. */
static apr_status_t subject_array(const char **pout, const char **perr, apr_pool_t *p,
                                  const char *subject)
{
    X509_NAME *name = NULL;
    const char *out = "<key>Subject</key><array>";
    int i;

    if (scep_policy_parse_subject(&name, perr, p, subject) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    for (i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        int nid = OBJ_obj2nid(obj);
        unsigned char *utf8 = NULL;
        char oid[80];
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));

        if (len < 0) {
            *perr = "a subject value is not text";
            return APR_EINVAL;
        }
        if (nid == NID_countryName || nid == NID_localityName || nid == NID_stateOrProvinceName
            || nid == NID_organizationName || nid == NID_organizationalUnitName
            || nid == NID_commonName) {
            apr_cpystrn(oid, OBJ_nid2sn(nid), sizeof(oid));
        }
        else {
            OBJ_obj2txt(oid, sizeof(oid), obj, 1);
        }
        out = apr_pstrcat(p, out, "<array><array><string>", oid, "</string><string>",
                          xml(p, apr_pstrndup(p, (const char *)utf8, (apr_size_t)len)),
                          "</string></array></array>", NULL);
        OPENSSL_free(utf8);
    }
    *pout = apr_pstrcat(p, out, "</array>\n", NULL);
    return APR_SUCCESS;
}

/* SANs as Apple's dictionary: one array of strings per kind it knows. */
static apr_status_t san_dict(const char **pout, const char **perr, apr_pool_t *p,
                             const char *lines)
{
    static const char *const keys[] = { "dNSName", "rfc822Name", "uniformResourceIdentifier",
                                        "ntPrincipalName" };
    static const char *const prefixes[] = { "DNS:", "email:", "URI:", "UPN:" };
    GENERAL_NAMES *san = NULL;
    apr_array_header_t *names;
    const char *out = "<key>SubjectAltName</key><dict>";
    int k, i;

    if (scep_policy_parse_sans(&san, perr, p, lines) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    names = scep_policy_san_strings(p, san);
    for (i = 0; i < names->nelts; i++) {
        if (!strncmp(APR_ARRAY_IDX(names, i, const char *), "IP:", 3)) {
            *perr = "an Apple SCEP payload cannot ask for an IP address subjectAltName";
            return APR_EINVAL;
        }
    }
    for (k = 0; k < 4; k++) {
        const char *values = "";
        apr_size_t plen = strlen(prefixes[k]);
        for (i = 0; i < names->nelts; i++) {
            const char *n = APR_ARRAY_IDX(names, i, const char *);
            if (!strncmp(n, prefixes[k], plen)) {
                values = apr_pstrcat(p, values, "<string>", xml(p, n + plen), "</string>", NULL);
            }
        }
        if (*values) {
            out = apr_pstrcat(p, out, "<key>", keys[k], "</key><array>", values, "</array>",
                              NULL);
        }
    }
    *pout = apr_pstrcat(p, out, "</dict>\n", NULL);
    return APR_SUCCESS;
}

/* What the profile lets a device ask for, as the payload says it. */
static apr_status_t key_terms(long *pbits, long *pusage, const char **perr,
                              const scep_policy_t *pol)
{
    if (!(pol->key_algs & SCEP_KEY_RSA)) {
        *perr = "the profile takes no RSA keys, and Apple's SCEP payload asks only for RSA";
        return APR_EINVAL;
    }
    *pbits = pol->rsa_min_bits <= 2048 ? 2048 : pol->rsa_min_bits <= 4096 ? 4096 : 0;
    if (!*pbits || (pol->rsa_max_bits > 0 && pol->rsa_max_bits < *pbits)) {
        *perr = "the profile's RSA key sizes include neither 2048 nor 4096 bits";
        return APR_EINVAL;
    }
    /* Apple: 1 signing, 4 encryption (some CAs take only one of them) */
    *pusage = ((pol->key_usage & KU_DIGITAL_SIGNATURE) ? 1 : 0)
              | ((pol->key_usage & KU_KEY_ENCIPHERMENT) ? 4 : 0);
    return APR_SUCCESS;
}

static const char *payload_head(apr_pool_t *p, const char *type, const char *id,
                                const char *name)
{
    return apr_pstrcat(p, key_string(p, "PayloadType", type), key_int(p, "PayloadVersion", 1),
                       key_string(p, "PayloadIdentifier", id),
                       key_string(p, "PayloadUUID", uuid(p)),
                       key_string(p, "PayloadDisplayName", name), NULL);
}

/* The payload's parts that come from the profile and the names. */
static apr_status_t terms_and_names(long *pbits, long *pusage, const char **psubject,
                                    const char **psan, const char **perr, apr_pool_t *p,
                                    const scep_mobileconfig_in_t *in)
{
    *psubject = *psan = "";
    if (key_terms(pbits, pusage, perr, in->prof->policy) != APR_SUCCESS
        || (in->subject && subject_array(psubject, perr, p, in->subject) != APR_SUCCESS)
        || (in->san && *in->san && san_dict(psan, perr, p, in->san) != APR_SUCCESS)) {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t scep_mobileconfig_check(const char **perr, apr_pool_t *p,
                                     const scep_mobileconfig_in_t *in)
{
    const char *subject, *san;
    long bits, usage;

    return terms_and_names(&bits, &usage, &subject, &san, perr, p, in);
}

static apr_status_t scep_payload(const char **pout, const char **perr, apr_pool_t *p,
                                 const scep_mobileconfig_in_t *in, const char *id)
{
    const char *subject, *san;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    long bits, usage;

    if (terms_and_names(&bits, &usage, &subject, &san, perr, p, in) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (!X509_digest(in->ca->cert, EVP_sha1(), md, &mdlen)) {
        *perr = "cannot digest the CA certificate";
        return APR_EGENERAL;
    }
    *pout = apr_pstrcat(p, "<dict>\n",
        payload_head(p, "com.apple.security.scep", apr_pstrcat(p, id, ".scep", NULL),
                     "SCEP enrollment"),
        "<key>PayloadContent</key><dict>\n",
        key_string(p, "URL", in->url), key_string(p, "Name", in->prof->name), subject,
        key_string(p, "Challenge", in->challenge), key_int(p, "Keysize", bits),
        key_string(p, "Key Type", "RSA"), key_int(p, "Key Usage", usage),
        key_data(p, "CAFingerprint", md, mdlen), san,
        key_int(p, "Retries", 3), key_int(p, "RetryDelay", 10),
        "<key>KeyIsExtractable</key><false/>\n<key>AllowAllAppsAccess</key><false/>\n",
        "</dict>\n</dict>\n", NULL);
    return APR_SUCCESS;
}

static apr_status_t sign(const unsigned char **pout, apr_size_t *plen, const char **perr,
                         apr_pool_t *p, const char *plist, const scep_mobileconfig_in_t *in)
{
    BIO *data = BIO_new_mem_buf(plist, (int)strlen(plist));
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL;
    apr_status_t rv = APR_EGENERAL;
    int len;

    if (data) {
        cms = CMS_sign(in->signer_cert, in->signer_key, in->signer_chain, data, CMS_BINARY);
    }
    if (cms && (len = i2d_CMS_ContentInfo(cms, &der)) > 0) {
        *pout = apr_pmemdup(p, der, (apr_size_t)len);
        *plen = (apr_size_t)len;
        rv = APR_SUCCESS;
    }
    else {
        *perr = "cannot sign the configuration profile (SCEPMobileconfigSigner)";
    }
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(data);
    ERR_clear_error();
    return rv;
}

apr_status_t scep_mobileconfig_make(const unsigned char **pout, apr_size_t *plen,
                                    const char **perr, apr_pool_t *p,
                                    const scep_mobileconfig_in_t *in)
{
    const char *id = apr_pstrcat(p, "org.mod-scep.", in->identifier, NULL);
    const char *scep = NULL, *plist;
    unsigned char *ca_der;
    apr_size_t ca_len;

    if (scep_payload(&scep, perr, p, in, id) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (scep_x509_der(&ca_der, &ca_len, p, in->ca->cert) != APR_SUCCESS) {
        *perr = "cannot encode the CA certificate";
        return APR_EGENERAL;
    }
    plist = apr_pstrcat(p,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
        "<plist version=\"1.0\">\n<dict>\n",
        payload_head(p, "Configuration", id, in->display_name),
        key_string(p, "PayloadOrganization", in->organization),
        "<key>PayloadContent</key>\n<array>\n<dict>\n",
        payload_head(p, "com.apple.security.root", apr_pstrcat(p, id, ".root", NULL),
                     "CA certificate"),
        key_data(p, "PayloadContent", ca_der, ca_len), "</dict>\n", scep,
        "</array>\n</dict>\n</plist>\n", NULL);
    if (in->signer_cert && in->signer_key) {
        return sign(pout, plen, perr, p, plist, in);
    }
    *pout = (const unsigned char *)plist;
    *plen = strlen(plist);
    return APR_SUCCESS;
}
