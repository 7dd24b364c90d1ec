/* mod_scep core: certificate profiles. The requester proposes, the profile
 * decides: nothing from the request reaches a certificate unless a rule
 * of the profile lets it through. */
#include <stdarg.h>
#include <string.h>
#include <arpa/inet.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/err.h>
#include <openssl/core_names.h>

#include "scep_policy.h"
#include "scep_ossl.h"
#include "scep_util.h"

#define UPN_OID "1.3.6.1.4.1.311.20.2.3"
#define TEMPLATE_NAME_OID "1.3.6.1.4.1.311.20.2"

scep_policy_t *scep_policy_make(apr_pool_t *p, const char *name)
{
    scep_policy_t *pol = apr_pcalloc(p, sizeof(*pol));

    pol->name = name;
    pol->key_algs = SCEP_KEY_RSA | SCEP_KEY_P256 | SCEP_KEY_P384;
    pol->rsa_min_bits = 2048;
    pol->rsa_max_bits = 8192;
    pol->validity = 365 * 86400;
    pol->backdate = 300;
    pol->cap_at_ca = 1;
    pol->md_nid = NID_sha256;
    scep_policy_set_type(pol, p, "client");
    return pol;
}

int scep_policy_subject_nid(const char *name)
{
    static const char *const allowed[] = {
        "CN", "O", "OU", "C", "L", "ST", "street", "emailAddress", "serialNumber",
        "DC", "UID", "title", "GN", "SN", "initials", "pseudonym", "description",
        "postalCode", "unstructuredName", "unstructuredAddress", NULL
    };
    int i;

    for (i = 0; allowed[i]; i++) {
        if (!strcasecmp(name, allowed[i])) {
            return OBJ_txt2nid(allowed[i]);
        }
    }
    return NID_undef;
}

static const char *const san_names[SCEP_SAN_TYPES] = { "dns", "email", "uri", "ip", "upn" };

int scep_policy_san_type(const char *name)
{
    int i;
    for (i = 0; i < SCEP_SAN_TYPES; i++) {
        if (!strcasecmp(name, san_names[i])) return i;
    }
    if (!strcasecmp(name, "dNSName")) return SCEP_SAN_DNS;
    if (!strcasecmp(name, "rfc822Name")) return SCEP_SAN_EMAIL;
    if (!strcasecmp(name, "uniformResourceIdentifier")) return SCEP_SAN_URI;
    if (!strcasecmp(name, "iPAddress")) return SCEP_SAN_IP;
    return -1;
}

const char *scep_policy_san_name(scep_san_type_t t)
{
    return t < SCEP_SAN_TYPES ? san_names[t] : "?";
}

static apr_status_t regex_cleanup(void *data)
{
    regfree(data);
    return APR_SUCCESS;
}

regex_t *scep_policy_regex(apr_pool_t *p, const char *re, const char **perr)
{
    regex_t *rx = apr_pcalloc(p, sizeof(*rx));
    int rc = regcomp(rx, re, REG_EXTENDED | REG_NOSUB);

    if (rc != 0) {
        char buf[200];
        regerror(rc, rx, buf, sizeof(buf));
        *perr = apr_psprintf(p, "bad regular expression '%s': %s", re, buf);
        return NULL;
    }
    apr_pool_cleanup_register(p, rx, regex_cleanup, apr_pool_cleanup_null);
    return rx;
}

ASN1_OBJECT *scep_policy_oid(apr_pool_t *p, const char *name)
{
    ASN1_OBJECT *o = OBJ_txt2obj(name, 0);
    ERR_clear_error();
    return o ? scep_own_obj(p, o) : NULL;
}

static apr_array_header_t *eku_list(apr_pool_t *p, const char *const *names)
{
    apr_array_header_t *a = apr_array_make(p, 2, sizeof(ASN1_OBJECT *));
    for (; *names; names++) {
        APR_ARRAY_PUSH(a, ASN1_OBJECT *) = scep_policy_oid(p, *names);
    }
    return a;
}

apr_status_t scep_policy_set_type(scep_policy_t *pol, apr_pool_t *p, const char *type)
{
    static const char *const client[] = { "clientAuth", NULL };
    static const char *const server[] = { "serverAuth", NULL };
    static const char *const both[] = { "serverAuth", "clientAuth", NULL };
    static const char *const email[] = { "emailProtection", NULL };
    static const char *const ipsec[] = { "ipsecIKE", NULL };
    const char *const *eku;

    /* keyEncipherment only makes sense for RSA; EC keys sign (and agree) */
    pol->key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
    pol->key_usage_ec = KU_DIGITAL_SIGNATURE;
    if (!strcasecmp(type, "client")) eku = client;
    else if (!strcasecmp(type, "server")) eku = server;
    else if (!strcasecmp(type, "client+server")) eku = both;
    else if (!strcasecmp(type, "email")) {
        eku = email;
        pol->key_usage |= KU_NON_REPUDIATION;
        pol->key_usage_ec |= KU_NON_REPUDIATION | KU_KEY_AGREEMENT;
    }
    else if (!strcasecmp(type, "ipsec")) eku = ipsec;
    else return APR_EINVAL;
    pol->eku = eku_list(p, eku);
    return APR_SUCCESS;
}

unsigned scep_policy_key_usage_bit(const char *name)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "digitalSignature", KU_DIGITAL_SIGNATURE },
        { "nonRepudiation", KU_NON_REPUDIATION },
        { "contentCommitment", KU_NON_REPUDIATION },
        { "keyEncipherment", KU_KEY_ENCIPHERMENT },
        { "dataEncipherment", KU_DATA_ENCIPHERMENT },
        { "keyAgreement", KU_KEY_AGREEMENT },
        { "keyCertSign", KU_KEY_CERT_SIGN },
        { "cRLSign", KU_CRL_SIGN },
        { "encipherOnly", KU_ENCIPHER_ONLY },
        { "decipherOnly", KU_DECIPHER_ONLY },
        { NULL, 0 }
    };
    int i;
    for (i = 0; names[i].name; i++) {
        if (!strcasecmp(name, names[i].name)) return names[i].bit;
    }
    return 0;
}

void scep_policy_add_key_usage(scep_policy_t *pol, unsigned bit)
{
    pol->key_usage |= bit;
    if (!(bit & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT))) {
        pol->key_usage_ec |= bit;
    }
}

unsigned scep_policy_key_alg_bit(const char *name)
{
    if (!strcasecmp(name, "rsa")) return SCEP_KEY_RSA;
    if (!strcasecmp(name, "ec-p256") || !strcasecmp(name, "p256")) return SCEP_KEY_P256;
    if (!strcasecmp(name, "ec-p384") || !strcasecmp(name, "p384")) return SCEP_KEY_P384;
    return 0;
}

int scep_policy_requested_ext_bit(const char *name)
{
    if (!strcasecmp(name, "keyUsage")) return SCEP_REQ_EXT_KEY_USAGE;
    if (!strcasecmp(name, "extendedKeyUsage")) return SCEP_REQ_EXT_EKU;
    return strcasecmp(name, "none") ? -1 : 0;
}

int scep_policy_excess(const char *name)
{
    if (!strcasecmp(name, "drop")) return SCEP_EXCESS_DROP;
    if (!strcasecmp(name, "refuse")) return SCEP_EXCESS_REFUSE;
    return -1;
}

int scep_policy_url_ok(const char *url)
{
    return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8)
           || !strncasecmp(url, "ldap://", 7);
}

int scep_policy_digest_nid(const char *name)
{
    if (!strcasecmp(name, "sha256") || !strcasecmp(name, "SHA-256")) return NID_sha256;
    if (!strcasecmp(name, "sha384") || !strcasecmp(name, "SHA-384")) return NID_sha384;
    if (!strcasecmp(name, "sha512") || !strcasecmp(name, "SHA-512")) return NID_sha512;
    return NID_undef;
}

const char *scep_policy_check(const scep_policy_t *pol, apr_pool_t *p,
                              apr_int64_t ca_lifetime)
{
    if ((pol->key_usage | pol->key_usage_ec) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
        return "SCEPKeyUsage: keyCertSign and cRLSign are for CAs; "
               "mod_scep issues end-entity certificates only";
    }
    if (pol->key_algs == 0) {
        return "SCEPKeyAlgorithms allows no key type";
    }
    if ((pol->key_algs & SCEP_KEY_RSA)
        && (pol->rsa_min_bits < 1024 || pol->rsa_max_bits < pol->rsa_min_bits)) {
        return apr_psprintf(p, "SCEPRSAKeySize %d %d: the minimum must be at least 1024 "
                            "and not above the maximum", pol->rsa_min_bits, pol->rsa_max_bits);
    }
    if (ca_lifetime > 0 && pol->validity > ca_lifetime) {
        return apr_psprintf(p, "SCEPValidity of %" APR_INT64_T_FMT " days is longer than "
                            "the CA certificate's whole lifetime (%" APR_INT64_T_FMT " days)",
                            pol->validity / 86400, ca_lifetime / 86400);
    }
    if (pol->backdate >= pol->validity) {
        return "SCEPValidityBackdate must be shorter than SCEPValidity";
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */

typedef struct apply_t {
    apr_pool_t *p;
    const scep_policy_t *pol;
    scep_eval_fn *eval;
    void *baton;
    int kept;                      /* names from the renewed certificate */
    const char *refusal;
    apr_array_header_t *trace;     /* the decisions, or NULL */
} apply_t;

/* One decision, told (the values come from the request: made safe). */
static void trace(apply_t *a, const char *fmt, ...)
{
    va_list ap;

    if (!a->trace) {
        return;
    }
    va_start(ap, fmt);
    APR_ARRAY_PUSH(a->trace, const char *) = apr_pvsprintf(a->p, fmt, ap);
    va_end(ap);
}

static const char *safe(apply_t *a, const char *v)
{
    return v ? scep_log_safe(a->p, v, strlen(v)) : "(binary)";
}

static int matches(const scep_rule_t *r, const char *value)
{
    return !r->pattern || regexec(r->pattern, value, 0, NULL, 0) == 0;
}

/* UTF-8 text of an ASN1 string; NULL when it holds a NUL byte. */
static const char *utf8_of(apr_pool_t *p, const ASN1_STRING *s)
{
    unsigned char *u = NULL;
    int len = ASN1_STRING_to_UTF8(&u, s);
    const char *out = NULL;

    if (len >= 0 && memchr(u, 0, (size_t)len) == NULL) {
        out = apr_pstrmemdup(p, (const char *)u, (apr_size_t)len);
    }
    OPENSSL_free(u);
    return out;
}

/* A value rule's result; NULL (and the refusal) when it cannot be had or
 * does not match the rule's pattern. */
static const char *value_of(apply_t *a, const scep_rule_t *r, const char *what)
{
    const char *err = NULL, *v;

    v = a->eval ? a->eval(a->baton, r->expr, &err) : r->expr_text;
    if (!v) {
        a->refusal = apr_psprintf(a->p, "the profile's expression '%s' could not be "
                                  "evaluated%s%s", r->expr_text, err ? ": " : "",
                                  err ? err : "");
    }
    else if (r->pattern && (!*v || !matches(r, v))) {
        a->refusal = apr_psprintf(a->p, "the profile's %s value '%s' (from '%s') does not "
                                  "match its pattern '%s'", what,
                                  scep_log_safe(a->p, v, strlen(v)), r->expr_text,
                                  r->pattern_text);
        v = NULL;
    }
    return v;
}

/* Kept names that a value rule sets anew are replaced, not excess: a
 * subject attribute (nid, san_type -1) or a SAN type (nid -1). */
static int replaced(apply_t *a, const apr_array_header_t *rules, int nid, int san_type)
{
    int i;

    for (i = 0; a->kept && rules && i < rules->nelts; i++) {
        const scep_rule_t *r = &APR_ARRAY_IDX(rules, i, scep_rule_t);
        if (r->source == SCEP_FROM_VALUE
            && (nid >= 0 ? r->nid == nid : (int)r->san_type == san_type)) {
            return 1;
        }
    }
    return 0;
}

static apr_status_t check_key(apply_t *a, EVP_PKEY *key)
{
    const scep_policy_t *pol = a->pol;
    int bits = EVP_PKEY_get_bits(key);

    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        if (!(pol->key_algs & SCEP_KEY_RSA)) {
            a->refusal = "RSA keys are not allowed by this profile (SCEPKeyAlgorithms)";
        }
        else if (bits < pol->rsa_min_bits || bits > pol->rsa_max_bits) {
            a->refusal = apr_psprintf(a->p, "RSA key of %d bits is outside %d..%d "
                                      "(SCEPRSAKeySize)", bits, pol->rsa_min_bits,
                                      pol->rsa_max_bits);
        }
    }
    else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        char group[64] = "", encoding[32] = "";
        size_t glen = 0;
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), &glen);
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING,
                                       encoding, sizeof(encoding), &glen);
        /* OpenSSL names the curve of explicit parameters too; RFC 5480
         * allows only the named form, and verifiers reject the other */
        if (strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP)) {
            a->refusal = "EC key with explicit curve parameters (only named curves are "
                         "allowed, RFC 5480)";
        }
        else if (!strcmp(group, "prime256v1") ? !(pol->key_algs & SCEP_KEY_P256)
            : !strcmp(group, "secp384r1") ? !(pol->key_algs & SCEP_KEY_P384) : 1) {
            a->refusal = apr_psprintf(a->p, "EC key on curve %s is not allowed by this "
                                      "profile (SCEPKeyAlgorithms)", *group ? group : "(unknown)");
        }
    }
    else {
        a->refusal = apr_psprintf(a->p, "key type %s is not allowed (SCEPKeyAlgorithms)",
                                  OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
    }
    ERR_clear_error();
    if (!a->refusal) {
        trace(a, "key: %s of %d bits, allowed by SCEPKeyAlgorithms",
              OBJ_nid2sn(EVP_PKEY_get_base_id(key)), bits);
    }
    return a->refusal ? SCEP_EFAILURE : APR_SUCCESS;
}

static const scep_rule_t default_cn = {
    NID_commonName, 0, SCEP_FROM_REQUEST, NULL, NULL, NULL, NULL
};

static apr_status_t build_subject(apply_t *a, const X509_NAME *req, X509_NAME *out)
{
    const apr_array_header_t *rules = a->pol->subject;
    int nrules = rules ? rules->nelts : 1;
    int i, j;

    for (i = 0; i < nrules; i++) {
        const scep_rule_t *r = rules ? &APR_ARRAY_IDX(rules, i, scep_rule_t) : &default_cn;
        if (r->source == SCEP_FROM_VALUE) {
            const char *v = value_of(a, r, OBJ_nid2sn(r->nid));
            if (!v) return SCEP_EFAILURE;
            trace(a, "subject %s = '%s', the profile's value %s", OBJ_nid2sn(r->nid),
                  safe(a, v), r->expr_text);
            if (*v && !X509_NAME_add_entry_by_NID(out, r->nid, MBSTRING_UTF8,
                                                  (const unsigned char *)v, -1, -1, 0)) {
                a->refusal = apr_psprintf(a->p, "the profile's %s value '%s' is not valid "
                                          "for that attribute", OBJ_nid2sn(r->nid),
                                          scep_log_safe(a->p, v, strlen(v)));
                return SCEP_EFAILURE;
            }
            continue;
        }
        for (j = 0; j < X509_NAME_entry_count(req); j++) {
            X509_NAME_ENTRY *e = X509_NAME_get_entry(req, j);
            const char *v;
            if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != r->nid) continue;
            v = utf8_of(a->p, X509_NAME_ENTRY_get_data(e));
            if (!v || !matches(r, v)) {
                trace(a, "subject %s '%s' does not match the pattern '%s': %s",
                      OBJ_nid2sn(r->nid), safe(a, v), r->pattern_text,
                      a->pol->subject_excess == SCEP_EXCESS_REFUSE ? "refused" : "left out");
                if (a->pol->subject_excess == SCEP_EXCESS_REFUSE) {
                    a->refusal = apr_psprintf(a->p, "subject %s '%s' does not match the "
                                              "profile's pattern '%s'", OBJ_nid2sn(r->nid),
                                              v ? scep_log_safe(a->p, v, strlen(v)) : "(binary)",
                                              r->pattern_text);
                    return SCEP_EFAILURE;
                }
                continue;
            }
            trace(a, "subject %s = '%s', from the request", OBJ_nid2sn(r->nid), safe(a, v));
            if (!X509_NAME_add_entry_by_NID(out, r->nid, MBSTRING_UTF8,
                                            (const unsigned char *)v, -1, -1, 0)) {
                /* e.g. a CN over 64 characters: never left out silently */
                ERR_clear_error();
                if (a->pol->subject_excess == SCEP_EXCESS_REFUSE) {
                    a->refusal = apr_psprintf(a->p, "subject %s '%s' is not a valid value for "
                                              "that attribute (too long?)", OBJ_nid2sn(r->nid),
                                              scep_log_safe(a->p, v, strlen(v)));
                    return SCEP_EFAILURE;
                }
            }
        }
    }
    /* attributes the request has and no rule takes from it */
    for (j = 0; j < X509_NAME_entry_count(req); j++) {
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(req, j)));
        int taken = 0;
        for (i = 0; i < nrules && !taken; i++) {
            const scep_rule_t *r = rules ? &APR_ARRAY_IDX(rules, i, scep_rule_t) : &default_cn;
            taken = r->source == SCEP_FROM_REQUEST && r->nid == nid;
        }
        if (!taken && !replaced(a, rules, nid, -1)) {
            trace(a, "subject attribute %s of the request: no rule takes it, %s",
                  nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid),
                  a->pol->subject_excess == SCEP_EXCESS_REFUSE ? "refused" : "left out");
        }
        if (!taken && !replaced(a, rules, nid, -1)
            && a->pol->subject_excess == SCEP_EXCESS_REFUSE) {
            a->refusal = apr_psprintf(a->p, "subject attribute %s is not allowed by the "
                                      "profile", nid == NID_undef ? "(unknown)" : OBJ_nid2sn(nid));
            return SCEP_EFAILURE;
        }
    }
    if (X509_NAME_entry_count(out) == 0) {
        a->refusal = "the profile leaves the certificate with an empty subject";
        return SCEP_EFAILURE;
    }
    return APR_SUCCESS;
}

/* Type and text of a requested SAN; -1 for types no rule can allow. */
static int san_text(apr_pool_t *p, const GENERAL_NAME *gn, const char **ptext)
{
    const ASN1_STRING *s;
    char buf[64];

    switch (gn->type) {
    case GEN_DNS: s = gn->d.dNSName; *ptext = utf8_of(p, s); return SCEP_SAN_DNS;
    case GEN_EMAIL: s = gn->d.rfc822Name; *ptext = utf8_of(p, s); return SCEP_SAN_EMAIL;
    case GEN_URI: s = gn->d.uniformResourceIdentifier; *ptext = utf8_of(p, s); return SCEP_SAN_URI;
    case GEN_IPADD:
        s = gn->d.iPAddress;
        if (s->length == 4 && inet_ntop(AF_INET, s->data, buf, sizeof(buf))) {
            *ptext = apr_pstrdup(p, buf);
        }
        else if (s->length == 16 && inet_ntop(AF_INET6, s->data, buf, sizeof(buf))) {
            *ptext = apr_pstrdup(p, buf);
        }
        else {
            *ptext = NULL;
        }
        return SCEP_SAN_IP;
    case GEN_OTHERNAME: {
        char oid[64];
        OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1);
        if (!strcmp(oid, UPN_OID) && gn->d.otherName->value
            && gn->d.otherName->value->type == V_ASN1_UTF8STRING) {
            *ptext = utf8_of(p, gn->d.otherName->value->value.utf8string);
            return SCEP_SAN_UPN;
        }
        return -1;
    }
    default:
        return -1;
    }
}

apr_array_header_t *scep_policy_san_strings(apr_pool_t *p, const GENERAL_NAMES *san)
{
    static const char *const prefix[SCEP_SAN_TYPES] = { "DNS:", "email:", "URI:", "IP:", "UPN:" };
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (i = 0; san && i < sk_GENERAL_NAME_num(san); i++) {
        const char *text = NULL;
        int type = san_text(p, sk_GENERAL_NAME_value(san, i), &text);

        if (type >= 0 && text) {
            APR_ARRAY_PUSH(out, const char *) = apr_pstrcat(p, prefix[type], text, NULL);
        }
    }
    return out;
}

static GENERAL_NAME *make_san(apr_pool_t *p, scep_san_type_t type, const char *v)
{
    GENERAL_NAME *gn = NULL;

    switch (type) {
    case SCEP_SAN_DNS: gn = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_DNS, v, 0); break;
    case SCEP_SAN_EMAIL: gn = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_EMAIL, v, 0); break;
    case SCEP_SAN_URI: gn = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_URI, v, 0); break;
    case SCEP_SAN_IP: gn = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, v, 0); break;
    case SCEP_SAN_UPN: {
        ASN1_TYPE *val = ASN1_TYPE_new();
        ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
        ASN1_OBJECT *oid = OBJ_txt2obj(UPN_OID, 1);
        gn = GENERAL_NAME_new();
        if (!val || !u || !oid || !gn || !ASN1_STRING_set(u, v, -1)) {
            ASN1_TYPE_free(val); ASN1_UTF8STRING_free(u); ASN1_OBJECT_free(oid);
            GENERAL_NAME_free(gn);
            return NULL;
        }
        ASN1_TYPE_set(val, V_ASN1_UTF8STRING, u);
        if (!GENERAL_NAME_set0_othername(gn, oid, val)) {
            ASN1_TYPE_free(val); ASN1_OBJECT_free(oid); GENERAL_NAME_free(gn);
            return NULL;
        }
        break;
    }
    default:
        break;
    }
    (void)p;
    ERR_clear_error();
    return gn;
}

static apr_status_t build_san(apply_t *a, const GENERAL_NAMES *req, GENERAL_NAMES *out)
{
    const apr_array_header_t *rules = a->pol->san;
    int nrules = rules ? rules->nelts : 0;
    int i, j;

    for (j = 0; req && j < sk_GENERAL_NAME_num(req); j++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(req, j);
        const char *text = NULL;
        int type = san_text(a->p, gn, &text), allowed = 0;
        for (i = 0; i < nrules && !allowed && type >= 0 && text; i++) {
            const scep_rule_t *r = &APR_ARRAY_IDX(rules, i, scep_rule_t);
            allowed = r->source == SCEP_FROM_REQUEST && (int)r->san_type == type
                      && matches(r, text);
        }
        if (allowed) {
            trace(a, "subjectAltName %s:%s, from the request", san_names[type], safe(a, text));
            sk_GENERAL_NAME_push(out, GENERAL_NAME_dup(gn));
            continue;
        }
        if (!(type >= 0 && replaced(a, rules, -1, type))) {
            trace(a, "subjectAltName %s%s%s of the request: not allowed by the profile, %s",
                  type >= 0 ? san_names[type] : "(other type)", text ? ":" : "",
                  text ? safe(a, text) : "", a->pol->san_excess == SCEP_EXCESS_REFUSE
                  ? "refused" : "left out");
        }
        if (a->pol->san_excess == SCEP_EXCESS_REFUSE
                 && !(type >= 0 && replaced(a, rules, -1, type))) {
            a->refusal = apr_psprintf(a->p, "subjectAltName %s%s%s is not allowed by the "
                                      "profile", type >= 0 ? san_names[type] : "(other type)",
                                      text ? ":" : "",
                                      text ? scep_log_safe(a->p, text, strlen(text)) : "");
            return SCEP_EFAILURE;
        }
    }
    for (i = 0; i < nrules; i++) {
        const scep_rule_t *r = &APR_ARRAY_IDX(rules, i, scep_rule_t);
        const char *v;
        GENERAL_NAME *gn;
        if (r->source != SCEP_FROM_VALUE) continue;
        if (!(v = value_of(a, r, san_names[r->san_type]))) return SCEP_EFAILURE;
        if (!*v) continue;
        trace(a, "subjectAltName %s:%s, the profile's value %s", san_names[r->san_type],
              safe(a, v), r->expr_text);
        if (!(gn = make_san(a->p, r->san_type, v))) {
            a->refusal = apr_psprintf(a->p, "the profile's %s value '%s' is not a valid "
                                      "subjectAltName", san_names[r->san_type],
                                      scep_log_safe(a->p, v, strlen(v)));
            return SCEP_EFAILURE;
        }
        sk_GENERAL_NAME_push(out, gn);
    }
    return APR_SUCCESS;
}

static apr_status_t general_names_cleanup(void *data)
{
    GENERAL_NAMES_free(data);
    return APR_SUCCESS;
}

static apr_status_t name_cleanup(void *data)
{
    X509_NAME_free(data);
    return APR_SUCCESS;
}

/* The Microsoft certificate template name a request carries
 * (1.3.6.1.4.1.311.20.2), NULL if none, "" if unreadable. */
static const char *requested_template(apr_pool_t *p, X509_REQ *csr)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    ASN1_OBJECT *oid = OBJ_txt2obj(TEMPLATE_NAME_OID, 1);
    const char *name = NULL;
    int i;

    for (i = 0; oid && i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_cmp(X509_EXTENSION_get_object(ext), oid) == 0) {
            ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
            const unsigned char *q = ASN1_STRING_get0_data(os);
            ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &q, ASN1_STRING_length(os));
            if (t && (t->type == V_ASN1_BMPSTRING || t->type == V_ASN1_UTF8STRING
                      || t->type == V_ASN1_PRINTABLESTRING || t->type == V_ASN1_IA5STRING)) {
                name = utf8_of(p, t->value.asn1_string);
            }
            ASN1_TYPE_free(t);
            if (!name) name = "";
            break;
        }
    }
    ASN1_OBJECT_free(oid);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return name;
}

scep_request_t *scep_policy_request(apr_pool_t *p, X509_REQ *csr, EVP_PKEY *key)
{
    scep_request_t *req = apr_pcalloc(p, sizeof(*req));

    req->csr = csr;
    req->key = key;
    req->template_name = requested_template(p, csr);
    return req;
}

/* The parts of a plan that come from the profile alone: the key (checked
 * against the profile), usages, digest, validity, the template name. */
static apr_status_t plan_basics(apply_t *a, scep_cert_plan_t *plan, const scep_request_t *req)
{
    const scep_policy_t *pol = a->pol;

    plan->policy = pol;
    plan->pubkey = req->key ? req->key : X509_REQ_get0_pubkey(req->csr);
    plan->spki = X509_REQ_get_X509_PUBKEY(req->csr);
    if (!plan->pubkey) {
        a->refusal = "the request's public key is unreadable";
        return SCEP_EFAILURE;
    }
    if (check_key(a, plan->pubkey) != APR_SUCCESS) {
        return SCEP_EFAILURE;
    }
    plan->key_usage = EVP_PKEY_get_base_id(plan->pubkey) == EVP_PKEY_RSA
                      ? pol->key_usage : pol->key_usage_ec;
    plan->eku = pol->eku;
    plan->template_name = req->template_name;
    plan->md = EVP_get_digestbynid(pol->md_nid);
    plan->validity = pol->validity;
    plan->backdate = pol->backdate;
    plan->cap_at_ca = pol->cap_at_ca;
    return APR_SUCCESS;
}

apr_status_t scep_policy_plan(scep_cert_plan_t **pplan, const char **prefusal,
                              apr_pool_t *p, const scep_policy_t *pol,
                              const scep_request_t *req)
{
    scep_cert_plan_t *plan = apr_pcalloc(p, sizeof(*plan));
    apply_t a;

    memset(&a, 0, sizeof(a));
    a.p = p;
    a.pol = pol;
    if (plan_basics(&a, plan, req) != APR_SUCCESS) {
        *prefusal = a.refusal;
        return SCEP_EFAILURE;
    }
    *pplan = plan;
    return APR_SUCCESS;
}

/* What the request asks for in its extensions (PKCS#9 extensionRequest or
 * Microsoft's): the first of each kind; freed with requested_free. */
typedef struct requested_t {
    GENERAL_NAMES *san;
    unsigned ku;
    int has_ku;
    EXTENDED_KEY_USAGE *eku;
} requested_t;

static void requested_free(requested_t *r)
{
    GENERAL_NAMES_free(r->san);
    EXTENDED_KEY_USAGE_free(r->eku);
}

/* A request for a CA certificate is refused whatever the profile says. */
static apr_status_t read_requested(apply_t *a, X509_REQ *csr, requested_t *r)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    apr_status_t rv = APR_SUCCESS;
    int i;

    for (i = 0; i < sk_X509_EXTENSION_num(exts) && rv == APR_SUCCESS; i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_subject_alt_name && !r->san) {
            r->san = X509V3_EXT_d2i(ext);
        }
        else if (nid == NID_basic_constraints) {
            BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(ext);
            if (bc && bc->ca) {
                a->refusal = "the request asks for a CA certificate (basicConstraints CA:TRUE)";
                rv = SCEP_EFAILURE;
            }
            BASIC_CONSTRAINTS_free(bc);
        }
        else if (nid == NID_key_usage && !r->has_ku) {
            ASN1_BIT_STRING *ku = X509V3_EXT_d2i(ext);
            if (ku) {
                r->ku = (unsigned)(ku->length > 0 ? ku->data[0] : 0)
                        | (unsigned)(ku->length > 1 ? ku->data[1] << 8 : 0);
                r->has_ku = 1;
            }
            ASN1_BIT_STRING_free(ku);
        }
        else if (nid == NID_ext_key_usage && !r->eku) {
            r->eku = X509V3_EXT_d2i(ext);
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return rv;
}

/* Requested usages the profile honours (SCEPRequestedExtensions) may
 * narrow the profile's, never widen them. */
static apr_status_t narrow_usages(apply_t *a, const requested_t *r, scep_cert_plan_t *plan)
{
    const scep_policy_t *pol = a->pol;
    int refuse = pol->subject_excess == SCEP_EXCESS_REFUSE, i, k;

    if (r->has_ku && !(pol->honour_requested & SCEP_REQ_EXT_KEY_USAGE)) {
        trace(a, "requested keyUsage ignored: the profile's applies (SCEPRequestedExtensions)");
    }
    if (r->eku && !(pol->honour_requested & SCEP_REQ_EXT_EKU)) {
        trace(a, "requested extendedKeyUsage ignored: the profile's applies "
              "(SCEPRequestedExtensions)");
    }
    if ((pol->honour_requested & SCEP_REQ_EXT_KEY_USAGE) && r->has_ku) {
        if ((r->ku & ~plan->key_usage) && refuse) {
            a->refusal = "the requested keyUsage exceeds the profile's";
            return SCEP_EFAILURE;
        }
        if (r->ku & plan->key_usage) {
            plan->key_usage &= r->ku;
        }
    }
    if ((pol->honour_requested & SCEP_REQ_EXT_EKU) && r->eku) {
        apr_array_header_t *narrowed = apr_array_make(a->p, 2, sizeof(ASN1_OBJECT *));
        for (i = 0; i < sk_ASN1_OBJECT_num(r->eku); i++) {
            ASN1_OBJECT *want = sk_ASN1_OBJECT_value(r->eku, i);
            int found = 0;
            for (k = 0; pol->eku && k < pol->eku->nelts && !found; k++) {
                found = OBJ_cmp(want, APR_ARRAY_IDX(pol->eku, k, ASN1_OBJECT *)) == 0;
                if (found) APR_ARRAY_PUSH(narrowed, ASN1_OBJECT *) =
                               APR_ARRAY_IDX(pol->eku, k, ASN1_OBJECT *);
            }
            if (!found && refuse) {
                a->refusal = "the requested extendedKeyUsage exceeds the profile's";
                return SCEP_EFAILURE;
            }
        }
        if (narrowed->nelts > 0) {
            plan->eku = narrowed;
        }
    }
    return APR_SUCCESS;
}

apr_status_t scep_policy_apply(scep_cert_plan_t **pplan, const char **prefusal,
                               apr_pool_t *p, const scep_policy_t *pol,
                               const scep_request_t *request, const scep_names_t *kept,
                               scep_eval_fn *eval, void *baton)
{
    scep_cert_plan_t *plan = apr_pcalloc(p, sizeof(*plan));
    X509_REQ *csr = request->csr;
    requested_t req;
    apply_t a;
    apr_status_t rv;

    memset(&a, 0, sizeof(a));
    memset(&req, 0, sizeof(req));
    a.p = p;
    a.pol = pol;
    a.eval = eval;
    a.baton = baton;
    a.kept = kept != NULL;
    a.trace = request->trace;
    if (kept) {
        trace(&a, "renewal: the names of the certificate being renewed are kept "
              "(SCEPRenewalNames keep)");
    }
    plan->subject = X509_NAME_new();
    apr_pool_cleanup_register(p, plan->subject, name_cleanup, apr_pool_cleanup_null);
    plan->san = GENERAL_NAMES_new();
    apr_pool_cleanup_register(p, plan->san, general_names_cleanup, apr_pool_cleanup_null);
    if ((rv = plan_basics(&a, plan, request)) == APR_SUCCESS
        && (rv = read_requested(&a, csr, &req)) == APR_SUCCESS
        && (rv = build_subject(&a, kept ? kept->subject : X509_REQ_get_subject_name(csr),
                               plan->subject)) == APR_SUCCESS
        && (rv = build_san(&a, kept ? kept->san : req.san, plan->san)) == APR_SUCCESS) {
        rv = narrow_usages(&a, &req, plan);
    }
    requested_free(&req);
    ERR_clear_error();
    if (rv == APR_SUCCESS) {
        *pplan = plan;
    }
    else {
        *prefusal = a.refusal ? a.refusal : "the request does not fit the profile";
    }
    return rv;
}

apr_status_t scep_policy_parse_subject(X509_NAME **pname, const char **perr,
                                       apr_pool_t *p, const char *text)
{
    X509_NAME *name;
    const char *s = text;

    if (!text || *text != '/') {
        *perr = "a subject is written /ATTR=value/ATTR=value, e.g. /CN=device1/O=Example";
        return APR_EINVAL;
    }
    name = scep_own_name(p, X509_NAME_new());
    while (*s == '/') {
        char *attr, *val, *o;
        const char *eq = strchr(++s, '=');
        int nid;
        if (!eq || eq == s) {
            *perr = apr_psprintf(p, "'%s' is not ATTR=value", s);
            return APR_EINVAL;
        }
        attr = apr_pstrmemdup(p, s, (apr_size_t)(eq - s));
        if ((nid = scep_policy_subject_nid(attr)) == NID_undef) {
            *perr = apr_psprintf(p, "unknown subject attribute '%s'", attr);
            return APR_EINVAL;
        }
        val = o = apr_palloc(p, strlen(eq));
        for (s = eq + 1; *s && *s != '/'; s++) {
            if (*s == '\\' && s[1]) s++;
            *o++ = *s;
        }
        *o = '\0';
        if (!*val || !X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                                 (const unsigned char *)val, -1, -1, 0)) {
            ERR_clear_error();
            *perr = apr_psprintf(p, "'%s' is not a valid value for %s", val, attr);
            return APR_EINVAL;
        }
    }
    if (*s || X509_NAME_entry_count(name) == 0) {
        *perr = "a subject is written /ATTR=value/ATTR=value, e.g. /CN=device1/O=Example";
        return APR_EINVAL;
    }
    *pname = name;
    return APR_SUCCESS;
}

apr_status_t scep_policy_parse_sans(GENERAL_NAMES **psan, const char **perr,
                                    apr_pool_t *p, const char *lines)
{
    GENERAL_NAMES *san = scep_own_general_names(p, GENERAL_NAMES_new());
    char *copy = apr_pstrdup(p, lines ? lines : ""), *line, *last = NULL;

    for (line = apr_strtok(copy, "\r\n", &last); line; line = apr_strtok(NULL, "\r\n", &last)) {
        char *colon = strchr(line, ':');
        GENERAL_NAME *gn;
        int type;
        if (!*line) continue;
        if (!colon) {
            *perr = apr_psprintf(p, "'%s' is not type:value", line);
            return APR_EINVAL;
        }
        *colon = '\0';
        if ((type = scep_policy_san_type(line)) < 0) {
            *perr = apr_psprintf(p, "unknown subjectAltName type '%s' (dns, email, uri, ip, upn)",
                                 line);
            return APR_EINVAL;
        }
        if (!colon[1] || !(gn = make_san(p, (scep_san_type_t)type, colon + 1))) {
            *perr = apr_psprintf(p, "'%s' is not a valid %s name", colon + 1, line);
            return APR_EINVAL;
        }
        sk_GENERAL_NAME_push(san, gn);
    }
    *psan = san;
    return APR_SUCCESS;
}

/* Names a search may use: bounded, since a requester chose them. */
#define PLAN_NAMES_MAX 8
#define PLAN_NAME_MAX 200

static void push_name(apr_array_header_t *out, apr_pool_t *p, const char *v)
{
    char *lower, *c;

    if (!v || !*v || out->nelts >= PLAN_NAMES_MAX) {
        return;
    }
    lower = apr_pstrdup(p, scep_utf8_prefix(p, v, PLAN_NAME_MAX));
    for (c = lower; *c; c++) *c = (char)apr_tolower(*c);
    APR_ARRAY_PUSH(out, const char *) = lower;
}

apr_array_header_t *scep_plan_names(apr_pool_t *p, const X509_NAME *subject,
                                    const GENERAL_NAMES *san)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (i = 0; subject && i < X509_NAME_entry_count(subject); i++) {
        push_name(out, p, utf8_of(p, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
    }
    for (i = 0; san && i < sk_GENERAL_NAME_num(san); i++) {
        const char *text = NULL;
        if (san_text(p, sk_GENERAL_NAME_value(san, i), &text) >= 0) {
            push_name(out, p, text);
        }
    }
    return out;
}
