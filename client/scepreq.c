/*
 * scepreq - independent SCEP (RFC 8894) client-side test tool.
 *
 * Builds well-formed and deliberately malformed PKIOperation messages and
 * parses/verifies/decrypts CertRep replies, with the client library of
 * client/ (scepc.h): OpenSSL's CMS API directly, nothing of mod_scep's own
 * scep/ library, so that a bug in that library cannot hide itself by being
 * present on both ends. This file is the command line: scepreq build,
 * scepreq parse, scepreq selfsigned.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "scepc.h"

#define DEFAULT_CSR_DN "/CN=scepreq"

static void usage(void)
{
    fputs(
        "usage:\n"
        "  scepreq build --key FILE [options] -o OUT.der\n"
        "    --recipient FILE      GetCACert certs (PEM, DER cert or PKCS#7); envelope goes to\n"
        "                          the keyEncipherment-capable ones, else the first\n"
        "    --all-recipients      encrypt to every --recipient cert\n"
        "    --csr FILE            send this CSR (PEM/DER) as-is\n"
        "    --subject DN          CSR subject (default " DEFAULT_CSR_DN ")\n"
        "    --challenge STR       challengePassword   --challenge-utf8  force UTF8String\n"
        "    --san-dns NAME        subjectAltName dNSName (repeatable)\n"
        "    --csr-digest NAME     CSR signature digest (default sha256)\n"
        "    --signer-cert FILE --signer-key FILE   existing signer (renewal)\n"
        "    --signer-self-key FILE  key for the self-signed signer (default --key)\n"
        "    --signer-out FILE     write the signer cert used (PEM)\n"
        "    --cipher des|des3|aes128|aes192|aes256|<openssl name>   (default aes128)\n"
        "    --digest NAME         signer digest (default sha256)\n"
        "    --type N              messageType (default 19)\n"
        "    --tid STR             transactionID    --nonce HEX   senderNonce\n"
        "    --payload FILE        raw plaintext instead of the CSR\n"
        "    --issuer-serial CERT  plaintext = IssuerAndSerialNumber of CERT\n"
        "    --issuer-subject CERT plaintext = IssuerAndSubject(CERT's issuer, CSR subject)\n"
        "    --omit tid|nonce|type (repeatable)\n"
        "    --tamper signature|content|iv|padding (repeatable; iv and padding change the\n"
        "                          envelope, also one given by --no-envelope --payload)\n"
        "    --csr-extra-attrs N   N more CSR attributes (private OIDs, UTF8String \"x\")\n"
        "    --no-envelope         plaintext directly as eContent\n"
        "    --extra-certs N       N more (self-signed, unrelated) certs in SignedData "
        "certificates\n"
        "    --extra-recipients N  N more KeyTransRecipientInfos (to unrelated self-signed certs)\n"
        "    --extra-attrs N       N more signed attributes (private OIDs, UTF8String values)\n"
        "    --print               print tid=, nonce=, certs=, signed_attrs=, recipients= lines\n"
        "  scepreq parse -i REPLY.der --verify FILE [--key FILE --signer-cert FILE]\n"
        "                [--out-cert OUT.pem] [--out-crl OUT.pem] [--expect-nonce HEX]\n"
        "  scepreq selfsigned --key FILE -o CERT.pem [--subject DN]\n",
        stderr);
}


#define OPT(name) (strcmp(a, (name)) == 0)
/* Takes the option's value or jumps to the usage error label. */
#define TAKE(dst)             \
    do {                      \
        if (v == NULL)        \
            goto missing;     \
        (dst) = v;            \
        i++;                  \
    } while (0)

/* ------------------------------------------------------------------------ */
/* scepreq build                                                             */
/* ------------------------------------------------------------------------ */

struct build_opts {
    const char *recipient, *key, *csr, *subject, *challenge, *csr_digest;
    const char *signer_cert, *signer_key, *signer_self_key, *signer_out;
    const char *cipher, *digest, *type, *tid, *nonce;
    const char *payload, *issuer_serial, *issuer_subject, *out;
    const char **san;
    int n_san, challenge_utf8, all_recipients, no_envelope, print, csr_extra_attrs;
    int omit_tid, omit_nonce, omit_type;
    int extra_certs, extra_recipients, extra_attrs;
    unsigned tamper;
};

/* What scepreq build makes on its way; build_free() frees it. */
struct build {
    struct build_opts o;
    EVP_PKEY *key, *signer_key;
    X509 *signer;
    X509_REQ *req;                    /* NULL when --csr does not parse */
    STACK_OF(X509) *signer_certs;     /* --signer-cert */
    STACK_OF(X509) *rcpt_all, *rcpt;  /* --recipient, and those of them the envelope is for */
    STACK_OF(X509) *chain;            /* --extra-certs: the SignedData's certificates */
    STACK_OF(X509) *extra_owned;      /* the unrelated certs of --extra-recipients/-certs */
    EVP_CIPHER *cipher;
    unsigned char *csr_der, *pt, *env, *msg, *nonce;
    long csr_len, pt_len, nonce_len;
    int env_len, msg_len;
    const unsigned char *content;     /* the SignedData's eContent: pt or env */
    int content_len;
    char *tid;
    struct scepc_attr *attrs;
    int nattrs;
};

/* A count option's value: 0..1000. */
static int parse_count(const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < 0 || n > 1000) {
        fprintf(stderr, "scepreq: %s %s: expected a number 0..1000\n", opt, v);
        return 0;
    }
    *out = (int)n;
    return 1;
}

/* --omit tid|nonce|type */
static int omit_parse(struct build_opts *o, const char *w)
{
    if (strcmp(w, "tid") == 0)
        o->omit_tid = 1;
    else if (strcmp(w, "nonce") == 0)
        o->omit_nonce = 1;
    else if (strcmp(w, "type") == 0)
        o->omit_type = 1;
    else {
        fprintf(stderr, "scepreq: --omit %s: expected tid|nonce|type\n", w);
        return 0;
    }
    return 1;
}

/* --tamper signature|content|iv|padding */
static int tamper_parse(struct build_opts *o, const char *w)
{
    static const struct {
        const char *name;
        unsigned bit;
    } what[] = {
        { "signature", SCEPC_TAMPER_SIGNATURE }, { "content", SCEPC_TAMPER_CONTENT },
        { "iv", SCEPC_TAMPER_IV },               { "padding", SCEPC_TAMPER_PADDING },
    };
    size_t i;

    for (i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
        if (strcmp(w, what[i].name) == 0) {
            o->tamper |= what[i].bit;
            return 1;
        }
    }
    fprintf(stderr, "scepreq: --tamper %s: expected signature|content|iv|padding\n", w);
    return 0;
}

/* --csr-extra-attrs N: 0..100000 */
static int csr_extra_parse(struct build_opts *o, const char *w)
{
    char *end;

    o->csr_extra_attrs = (int)strtol(w, &end, 10);
    if (*end || o->csr_extra_attrs < 0 || o->csr_extra_attrs > 100000) {
        fprintf(stderr, "scepreq: --csr-extra-attrs %s: expected 0..100000\n", w);
        return 0;
    }
    return 1;
}

/* The options of scepreq build (o->san holds argc entries): 0, or 2 for a
 * usage error. */
static int build_opts_parse(struct build_opts *o, int argc, char **argv)
{
    int i;

    o->subject = DEFAULT_CSR_DN;
    o->csr_digest = "sha256";
    o->cipher = "aes128";
    o->digest = "sha256";
    o->type = "19";
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL, *w = NULL;

        if (OPT("--recipient")) TAKE(o->recipient);
        else if (OPT("--all-recipients")) o->all_recipients = 1;
        else if (OPT("--key")) TAKE(o->key);
        else if (OPT("--csr")) TAKE(o->csr);
        else if (OPT("--subject")) TAKE(o->subject);
        else if (OPT("--challenge")) TAKE(o->challenge);
        else if (OPT("--challenge-utf8")) o->challenge_utf8 = 1;
        else if (OPT("--san-dns")) TAKE(o->san[o->n_san++]);
        else if (OPT("--csr-extra-attrs")) {
            TAKE(w);
            if (!csr_extra_parse(o, w))
                return 2;
        }
        else if (OPT("--csr-digest")) TAKE(o->csr_digest);
        else if (OPT("--signer-cert")) TAKE(o->signer_cert);
        else if (OPT("--signer-key")) TAKE(o->signer_key);
        else if (OPT("--signer-self-key")) TAKE(o->signer_self_key);
        else if (OPT("--signer-out")) TAKE(o->signer_out);
        else if (OPT("--cipher")) TAKE(o->cipher);
        else if (OPT("--digest")) TAKE(o->digest);
        else if (OPT("--type")) TAKE(o->type);
        else if (OPT("--tid")) TAKE(o->tid);
        else if (OPT("--nonce")) TAKE(o->nonce);
        else if (OPT("--payload")) TAKE(o->payload);
        else if (OPT("--issuer-serial")) TAKE(o->issuer_serial);
        else if (OPT("--issuer-subject")) TAKE(o->issuer_subject);
        else if (OPT("--no-envelope")) o->no_envelope = 1;
        else if (OPT("--print")) o->print = 1;
        else if (OPT("--extra-certs") || OPT("--extra-recipients") || OPT("--extra-attrs")) {
            TAKE(w);
            if (!parse_count(a, w, OPT("--extra-certs") ? &o->extra_certs
                                   : OPT("--extra-recipients") ? &o->extra_recipients
                                   : &o->extra_attrs))
                return 2;
        }
        else if (OPT("-o") || OPT("--out")) TAKE(o->out);
        else if (OPT("--omit")) {
            TAKE(w);
            if (!omit_parse(o, w))
                return 2;
        } else if (OPT("--tamper")) {
            TAKE(w);
            if (!tamper_parse(o, w))
                return 2;
        } else {
            fprintf(stderr, "scepreq: build: unknown option %s\n", a);
            return 2;
        }
    }
    return 0;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
    return 2;
}

/* Each step of scepreq build returns 0 to go on, or the command's exit
 * status: 1 for a failure, 2 for a usage error. */

/* The options that go together, and those that do not. */
static int build_opts_check(struct build *b)
{
    const struct build_opts *o = &b->o;

    if (o->out == NULL) {
        fprintf(stderr, "scepreq: build: -o is required\n");
        return 2;
    }
    if ((o->signer_cert == NULL) != (o->signer_key == NULL)) {
        fprintf(stderr, "scepreq: --signer-cert and --signer-key go together\n");
        return 2;
    }
    if (o->signer_cert != NULL && o->signer_self_key != NULL) {
        fprintf(stderr, "scepreq: --signer-self-key conflicts with --signer-cert\n");
        return 2;
    }
    if ((o->payload != NULL) + (o->issuer_serial != NULL) + (o->issuer_subject != NULL) > 1) {
        fprintf(stderr, "scepreq: use only one of --payload, --issuer-serial, --issuer-subject\n");
        return 2;
    }
    /* --key is only needed to make a CSR or the default signer. */
    if (o->key == NULL
        && (o->csr == NULL || (o->signer_cert == NULL && o->signer_self_key == NULL))) {
        fprintf(stderr, "scepreq: build: --key is required\n");
        return 2;
    }
    if (!o->no_envelope && o->recipient == NULL) {
        fprintf(stderr, "scepreq: build: --recipient is required (or --no-envelope)\n");
        return 2;
    }
    return 0;
}

/* --key, and the CSR: the bytes of --csr as they are, or a fresh one. */
static int build_csr(struct build *b)
{
    const struct build_opts *o = &b->o;
    struct scepc_csr_params cp;
    const unsigned char *p;
    int n;

    if (o->key != NULL && (b->key = scepc_load_key(o->key)) == NULL)
        return 1;
    if (o->csr != NULL) {
        if (!scepc_load_csr_der(o->csr, &b->csr_der, &b->csr_len))
            return 1;
        p = b->csr_der;
        if ((b->req = d2i_X509_REQ(NULL, &p, b->csr_len)) == NULL) {
            fprintf(stderr, "scepreq: warning: %s does not parse as a CSR; sending it anyway\n",
                    o->csr);
            ERR_clear_error();
        }
        return 0;
    }
    cp.subject = o->subject;
    cp.challenge = o->challenge;
    cp.challenge_utf8 = o->challenge_utf8;
    cp.san_dns = o->san;
    cp.n_san = o->n_san;
    cp.extra_attrs = o->csr_extra_attrs;
    if ((cp.md = scepc_digest_get(o->csr_digest)) == NULL
        || (b->req = scepc_csr_build(b->key, &cp)) == NULL)
        return 1;
    if ((n = i2d_X509_REQ(b->req, &b->csr_der)) <= 0)
        return 1;
    b->csr_len = n;
    return 0;
}

/* transactionID (--tid, else from the CSR's key or --key) and senderNonce
 * (--nonce, else random). */
static int build_ids(struct build *b)
{
    const struct build_opts *o = &b->o;

    if (o->tid == NULL) {
        EVP_PKEY *pub = b->req != NULL ? X509_REQ_get0_pubkey(b->req) : b->key;

        if (pub == NULL) {
            fprintf(stderr, "scepreq: no public key for the default transactionID; use --tid\n");
            return 1;
        }
        if ((b->tid = scepc_tid_from_pubkey(pub)) == NULL)
            return 1;
    } else if ((b->tid = OPENSSL_strdup(o->tid)) == NULL) {
        return 1;
    }
    if (o->nonce != NULL)
        return scepc_hex_decode(o->nonce, &b->nonce, &b->nonce_len) ? 0 : 2;
    if ((b->nonce = OPENSSL_malloc(SCEPC_NONCE_LEN)) == NULL
        || RAND_bytes(b->nonce, SCEPC_NONCE_LEN) != 1)
        return 1;
    b->nonce_len = SCEPC_NONCE_LEN;
    return 0;
}

/* The signer: an existing certificate (renewal) or a temporary self-signed
 * one; written to --signer-out. */
static int build_signer(struct build *b)
{
    const struct build_opts *o = &b->o;

    if (o->signer_cert != NULL) {
        if ((b->signer_certs = scepc_load_certs(o->signer_cert)) == NULL
            || (b->signer_key = scepc_load_key(o->signer_key)) == NULL)
            return 1;
        b->signer = sk_X509_value(b->signer_certs, 0);
        if (!X509_up_ref(b->signer)) {
            b->signer = NULL;
            return 1;
        }
    } else {
        if (o->signer_self_key != NULL) {
            if ((b->signer_key = scepc_load_key(o->signer_self_key)) == NULL)
                return 1;
        } else if (EVP_PKEY_up_ref(b->key)) {
            b->signer_key = b->key;
        } else {
            return 1;
        }
        if ((b->signer = scepc_signer_selfsigned(b->signer_key, SCEPC_DEFAULT_SIGNER_DN)) == NULL)
            return 1;
    }
    if (o->signer_out != NULL && !scepc_write_cert_pem(o->signer_out, b->signer))
        return 1;
    return 0;
}

/* Plaintext of the envelope according to the options; the CSR (which may
 * be NULL if --csr could not be parsed) supplies IssuerAndSubject's subject. */
static int build_plaintext(struct build *b)
{
    const struct build_opts *o = &b->o;
    STACK_OF(X509) *certs = NULL;
    int n = 0, rc = 1;

    if (o->payload != NULL) {
        rc = scepc_read_file(o->payload, &b->pt, &b->pt_len) ? 0 : 1;
    } else if (o->issuer_serial != NULL || o->issuer_subject != NULL) {
        const char *path = o->issuer_serial ? o->issuer_serial : o->issuer_subject;

        if ((certs = scepc_load_certs(path)) == NULL)
            return 1;
        if (o->issuer_serial != NULL) {
            rc = scepc_der_issuer_and_serial(sk_X509_value(certs, 0), &b->pt, &n) ? 0 : 1;
        } else if (b->req == NULL) {
            fprintf(stderr, "scepreq: --issuer-subject needs a parseable CSR\n");
        } else {
            rc = scepc_der_issuer_and_subject(X509_get_issuer_name(sk_X509_value(certs, 0)),
                                              X509_REQ_get_subject_name(b->req), &b->pt, &n)
                     ? 0 : 1;
        }
        b->pt_len = n;
    } else if ((b->pt = OPENSSL_memdup(b->csr_der, (size_t)b->csr_len)) != NULL) {
        b->pt_len = b->csr_len;
        rc = 0;
    }
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* n unrelated self-signed certs ("/CN=scepreq <what> i") of the signer key
 * into b->extra_owned, and onto to as well. */
static int extra_push(struct build *b, STACK_OF(X509) *to, const char *what, int n)
{
    int i, first = b->extra_owned != NULL ? sk_X509_num(b->extra_owned) : 0;

    if (!scepc_selfsigned_push(&b->extra_owned, b->signer_key, what, n))
        return 1;
    for (i = first; i < sk_X509_num(b->extra_owned); i++)
        if (!sk_X509_push(to, sk_X509_value(b->extra_owned, i)))
            return 1;
    return 0;
}

/* The EnvelopedData of the plaintext to the recipients. */
static int build_envelope(struct build *b)
{
    const struct build_opts *o = &b->o;

    if ((b->rcpt_all = scepc_load_certs(o->recipient)) == NULL
        || (b->rcpt = scepc_recipients_select(b->rcpt_all, o->all_recipients)) == NULL
        || (b->cipher = scepc_cipher_fetch(o->cipher)) == NULL)
        return 1;
    /* --extra-recipients: more RecipientInfos, none of them the server's */
    if (o->extra_recipients > 0
        && extra_push(b, b->rcpt, "extra recipient", o->extra_recipients) != 0)
        return 1;
    if (!scepc_envelope_build(b->pt, (int)b->pt_len, b->rcpt, b->cipher, &b->env, &b->env_len))
        return 1;
    return 0;
}

/* The SignedData's content: the plaintext, in an envelope unless
 * --no-envelope, changed by --tamper iv|padding. */
static int build_content(struct build *b)
{
    const struct build_opts *o = &b->o;
    int rc;

    if ((rc = build_plaintext(b)) != 0)
        return rc;
    if (o->no_envelope) {
        b->content = b->pt;
        b->content_len = (int)b->pt_len;
    } else {
        if ((rc = build_envelope(b)) != 0)
            return rc;
        b->content = b->env;
        b->content_len = b->env_len;
    }
    /* --tamper iv|padding: the envelope built here, or the one given as
     * --payload with --no-envelope (someone else's, replayed) */
    if (o->tamper & (SCEPC_TAMPER_IV | SCEPC_TAMPER_PADDING)) {
        if (o->no_envelope) {
            b->env = b->pt;
            b->env_len = (int)b->pt_len;
            b->pt = NULL;
        }
        if (!scepc_envelope_tamper(&b->env, &b->env_len, o->tamper))
            return 1;
        b->content = b->env;
        b->content_len = b->env_len;
    }
    return 0;
}

/* --extra-certs: the signer's own chain (renewal) plus unrelated certs */
static int build_chain(struct build *b)
{
    int i;

    if (b->o.extra_certs == 0)
        return 0;
    if ((b->chain = sk_X509_new_null()) == NULL)
        return 1;
    for (i = 0; i < sk_X509_num(b->signer_certs); i++)
        if (!sk_X509_push(b->chain, sk_X509_value(b->signer_certs, i)))
            return 1;
    return extra_push(b, b->chain, "extra cert", b->o.extra_certs);
}

/* The signed attributes: messageType, transactionID and senderNonce unless
 * --omit, and --extra-attrs more. */
static int build_attrs(struct build *b)
{
    static const char value[] = "scepreq extra attribute";
    const struct build_opts *o = &b->o;
    int i, nid;

    if ((b->attrs = OPENSSL_zalloc(sizeof(*b->attrs) * (size_t)(3 + o->extra_attrs))) == NULL)
        return 1;
    if (!o->omit_type)
        scepc_attr_add(b->attrs, &b->nattrs, scepc_nid.message_type, V_ASN1_PRINTABLESTRING,
                       o->type, (int)strlen(o->type));
    if (!o->omit_tid)
        scepc_attr_add(b->attrs, &b->nattrs, scepc_nid.transaction_id, V_ASN1_PRINTABLESTRING,
                       b->tid, (int)strlen(b->tid));
    if (!o->omit_nonce)
        scepc_attr_add(b->attrs, &b->nattrs, scepc_nid.sender_nonce, V_ASN1_OCTET_STRING,
                       b->nonce, (int)b->nonce_len);
    /* --extra-attrs: private OIDs 1.3.6.1.4.1.55555.1.i, one UTF8String each */
    for (i = 0; i < o->extra_attrs; i++) {
        char oid[64], sn[32];

        snprintf(oid, sizeof(oid), "1.3.6.1.4.1.55555.1.%d", i + 1);
        snprintf(sn, sizeof(sn), "scepreqExtra%d", i + 1);
        if ((nid = scepc_register_oid(oid, sn, sn)) == NID_undef)
            return 1;
        scepc_attr_add(b->attrs, &b->nattrs, nid, V_ASN1_UTF8STRING, value,
                       (int)strlen(value));
    }
    return 0;
}

/* For --print: what the built message holds (certificates, signed
 * attributes, recipients of the envelope; -1 where there is none). */
static void print_counts(const unsigned char *msg, int msg_len, const unsigned char *env,
                         int env_len)
{
    const unsigned char *p = msg;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, msg_len), *e = NULL;
    STACK_OF(X509) *certs = cms != NULL ? CMS_get1_certs(cms) : NULL;
    STACK_OF(CMS_SignerInfo) *sis = cms != NULL ? CMS_get0_SignerInfos(cms) : NULL;
    int nattrs = -1, nrecip = -1;

    if (sk_CMS_SignerInfo_num(sis) > 0)
        nattrs = CMS_signed_get_attr_count(sk_CMS_SignerInfo_value(sis, 0));
    if (env != NULL) {
        p = env;
        if ((e = d2i_CMS_ContentInfo(NULL, &p, env_len)) != NULL)
            nrecip = sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(e));
    }
    printf("certs=%d\nsigned_attrs=%d\nrecipients=%d\n", certs != NULL ? sk_X509_num(certs) : 0,
           nattrs, nrecip);
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    CMS_ContentInfo_free(e);
}

/* The pkiMessage, signed and written to -o; --print says what it holds. */
static int build_sign(struct build *b)
{
    const struct build_opts *o = &b->o;
    const EVP_MD *md;
    char *nonce_hex;

    if ((md = scepc_digest_get(o->digest)) == NULL
        || !scepc_pkimessage_sign(b->content, b->content_len, b->signer, b->signer_key,
                                  b->chain != NULL ? b->chain : b->signer_certs, md, b->attrs,
                                  b->nattrs, o->tamper, &b->msg, &b->msg_len)
        || !scepc_write_file(o->out, b->msg, b->msg_len))
        return 1;
    if (!o->print)
        return 0;
    if ((nonce_hex = scepc_hex_encode(b->nonce, (size_t)b->nonce_len)) == NULL)
        return 1;
    printf("tid=%s\nnonce=%s\n", b->tid, nonce_hex);
    OPENSSL_free(nonce_hex);
    print_counts(b->msg, b->msg_len, o->no_envelope ? NULL : b->env, b->env_len);
    return 0;
}

static void build_free(struct build *b)
{
    OPENSSL_free(b->o.san);
    EVP_PKEY_free(b->key);
    EVP_PKEY_free(b->signer_key);
    X509_free(b->signer);
    X509_REQ_free(b->req);
    sk_X509_pop_free(b->signer_certs, X509_free);
    sk_X509_free(b->rcpt);
    sk_X509_pop_free(b->rcpt_all, X509_free);
    sk_X509_free(b->chain);
    sk_X509_pop_free(b->extra_owned, X509_free);
    OPENSSL_free(b->attrs);
    EVP_CIPHER_free(b->cipher);
    OPENSSL_free(b->csr_der);
    OPENSSL_free(b->pt);
    OPENSSL_free(b->env);
    OPENSSL_free(b->msg);
    OPENSSL_free(b->nonce);
    OPENSSL_free(b->tid);
}

static int cmd_build(int argc, char **argv)
{
    static int (*const steps[])(struct build *) = {
        build_opts_check, build_csr, build_ids, build_signer, build_content, build_chain,
        build_attrs, build_sign,
    };
    struct build b;
    size_t i;
    int rc = 1;

    memset(&b, 0, sizeof(b));
    if ((b.o.san = OPENSSL_zalloc(sizeof(*b.o.san) * (size_t)(argc + 1))) == NULL)
        goto done;
    rc = build_opts_parse(&b.o, argc, argv);
    for (i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
        rc = steps[i](&b);
    if (rc == 2)
        usage();
done:
    build_free(&b);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* scepreq parse                                                             */
/* ------------------------------------------------------------------------ */

struct parse_opts {
    const char *in, *verify, *keyfile, *certfile, *out_cert, *out_crl, *expect_nonce;
};

/* 1, or 0 for a usage error. */
static int parse_opts_parse(struct parse_opts *po, int argc, char **argv)
{
    int i;

    memset(po, 0, sizeof(*po));
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (OPT("-i") || OPT("--in")) TAKE(po->in);
        else if (OPT("--verify")) TAKE(po->verify);
        else if (OPT("--key")) TAKE(po->keyfile);
        else if (OPT("--signer-cert")) TAKE(po->certfile);
        else if (OPT("--out-cert")) TAKE(po->out_cert);
        else if (OPT("--out-crl")) TAKE(po->out_crl);
        else if (OPT("--expect-nonce")) TAKE(po->expect_nonce);
        else {
            fprintf(stderr, "scepreq: parse: unknown option %s\n", a);
            return 0;
        }
    }
    if (po->in == NULL || po->verify == NULL) {
        fprintf(stderr, "scepreq: parse: -i and --verify are required\n");
        return 0;
    }
    return 1;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
    return 0;
}

/* Prints key=value with control characters escaped as \xNN, so each field
 * stays on one line whatever the server sent. */
static void print_str(const char *key, const ASN1_STRING *s)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int i, n = ASN1_STRING_length(s);

    printf("%s=", key);
    for (i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02X", p[i]);
        else
            putchar(p[i]);
    }
    putchar('\n');
}

static int print_hex(const char *key, const ASN1_STRING *s)
{
    char *hex = scepc_hex_encode(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));

    if (hex == NULL)
        return 0;
    printf("%s=%s\n", key, hex);
    OPENSSL_free(hex);
    return 1;
}

/* "name=subject" of a certificate */
static int print_subject(const char *name, X509 *x)
{
    char *subj = scepc_name_rfc2253(X509_get_subject_name(x));

    if (subj == NULL)
        return 0;
    printf("%s=%s\n", name, subj);
    OPENSSL_free(subj);
    return 1;
}

/* The reply's fields, and nonceMatch= with --expect-nonce. */
static int reply_print(const struct scepc_reply *r, const unsigned char *want, long want_len)
{
    const ASN1_STRING *rn = r->recipient_nonce;

    printf("verified=%d\n", r->verified);
    if (r->message_type) print_str("messageType", r->message_type);
    if (r->pki_status) print_str("pkiStatus", r->pki_status);
    if (r->fail_info) print_str("failInfo", r->fail_info);
    if (r->fail_info_text) print_str("failInfoText", r->fail_info_text);
    if (r->tid) {
        print_str("transactionID", r->tid);
        printf("transactionIDType=%s\n", ASN1_tag2str(r->tid_type));
    }
    if (r->sender_nonce && !print_hex("senderNonce", r->sender_nonce))
        return 0;
    if (rn && !print_hex("recipientNonce", rn))
        return 0;
    printf("digest=%s\n", r->digest);
    if (r->econtent)
        printf("eContentLength=%d\n", ASN1_STRING_length(r->econtent));
    else
        printf("eContentLength=absent\n");
    if (r->signer && !print_subject("signerSubject", r->signer))
        return 0;
    if (want != NULL)
        printf("nonceMatch=%d\n", rn != NULL && ASN1_STRING_length(rn) == want_len
                                      && memcmp(ASN1_STRING_get0_data(rn), want,
                                                (size_t)want_len) == 0);
    fflush(stdout);
    return 1;
}

/* The bundle's certificates and CRLs: listed, and to --out-cert/--out-crl. */
static int bundle_out(const struct parse_opts *po, STACK_OF(X509) *certs,
                      STACK_OF(X509_CRL) *crls)
{
    char name[32];
    int i;

    printf("certCount=%d\n", sk_X509_num(certs));
    for (i = 0; i < sk_X509_num(certs); i++) {
        snprintf(name, sizeof(name), "cert%d", i);
        if (!print_subject(name, sk_X509_value(certs, i)))
            return 0;
    }
    printf("crlCount=%d\n", sk_X509_CRL_num(crls));
    fflush(stdout);
    if (po->out_cert != NULL) {
        if (sk_X509_num(certs) == 0) {
            fprintf(stderr, "scepreq: no certificate to write to %s\n", po->out_cert);
            return 0;
        }
        if (!scepc_write_certs_pem(po->out_cert, certs, 1))
            return 0;
    }
    return po->out_crl == NULL || scepc_write_crls_pem(po->out_crl, crls);
}

/* A SUCCESS reply: its envelope opened with --key and --signer-cert. */
static int reply_open(const struct scepc_reply *r, const struct parse_opts *po)
{
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *mycert = NULL, *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    unsigned char *pt = NULL;
    long pt_len = 0;
    char cipher[80];
    int ok = 0;

    if (r->econtent == NULL || ASN1_STRING_length(r->econtent) == 0) {
        fprintf(stderr, "scepreq: SUCCESS reply without EnvelopedData\n");
        goto done;
    }
    if ((key = scepc_load_key(po->keyfile)) == NULL
        || (mycert = scepc_load_certs(po->certfile)) == NULL)
        goto done;
    if (!scepc_envelope_open(ASN1_STRING_get0_data(r->econtent),
                             ASN1_STRING_length(r->econtent), key, sk_X509_value(mycert, 0),
                             cipher, sizeof(cipher), &pt, &pt_len))
        goto done;
    printf("cipher=%s\n", cipher);
    ok = scepc_bundle_parse(pt, pt_len, &certs, &crls) && bundle_out(po, certs, crls);
done:
    OPENSSL_free(pt);
    sk_X509_pop_free(mycert, X509_free);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    EVP_PKEY_free(key);
    return ok;
}

static int cmd_parse(int argc, char **argv)
{
    struct parse_opts po;
    struct scepc_reply r;
    int have_reply = 0, success, rc = 2;
    unsigned char *der = NULL, *want = NULL;
    long der_len = 0, want_len = 0;
    STACK_OF(X509) *trust = NULL;
    X509_STORE *store = NULL;

    if (!parse_opts_parse(&po, argc, argv)
        || (po.expect_nonce != NULL && !scepc_hex_decode(po.expect_nonce, &want, &want_len))) {
        usage();
        goto done;
    }
    if ((trust = scepc_load_certs(po.verify)) == NULL
        || (store = scepc_trust_store(trust)) == NULL)
        goto done;
    if (!scepc_read_file(po.in, &der, &der_len) || !scepc_reply_parse(der, der_len, store, &r))
        goto done;
    have_reply = 1;
    if (!reply_print(&r, want, want_len))
        goto done;
    if (!r.verified) {
        rc = 1;
        goto done;
    }
    /* SUCCESS: open the envelope and list the bundle. */
    success = r.pki_status != NULL && ASN1_STRING_length(r.pki_status) == 1
              && ASN1_STRING_get0_data(r.pki_status)[0] == '0';
    if (success && (po.keyfile == NULL) != (po.certfile == NULL))
        fprintf(stderr, "scepreq: decrypting needs both --key and --signer-cert\n");
    if (success && po.keyfile != NULL && po.certfile != NULL && !reply_open(&r, &po))
        goto done;
    rc = 0;
done:
    if (rc == 2)
        ERR_print_errors_fp(stderr);
    if (have_reply)
        scepc_reply_free(&r);
    OPENSSL_free(der);
    OPENSSL_free(want);
    sk_X509_pop_free(trust, X509_free);
    X509_STORE_free(store);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* scepreq selfsigned                                                        */
/* ------------------------------------------------------------------------ */

static int cmd_selfsigned(int argc, char **argv)
{
    const char *keyfile = NULL, *out = NULL, *subject = SCEPC_DEFAULT_SIGNER_DN;
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int i, rc = 1;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (OPT("--key")) TAKE(keyfile);
        else if (OPT("-o") || OPT("--out")) TAKE(out);
        else if (OPT("--subject")) TAKE(subject);
        else {
            fprintf(stderr, "scepreq: selfsigned: unknown option %s\n", a);
            goto usage;
        }
    }
    if (keyfile == NULL || out == NULL) {
        fprintf(stderr, "scepreq: selfsigned: --key and -o are required\n");
        goto usage;
    }
    if ((key = scepc_load_key(keyfile)) == NULL
        || (x = scepc_signer_selfsigned(key, subject)) == NULL
        || !scepc_write_cert_pem(out, x))
        goto done;
    rc = 0;
    goto done;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
usage:
    usage();
    rc = 2;
done:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 2;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (!scepc_init())
        goto done;
    if (strcmp(argv[1], "build") == 0)
        rc = cmd_build(argc - 2, argv + 2);
    else if (strcmp(argv[1], "parse") == 0)
        rc = cmd_parse(argc - 2, argv + 2);
    else if (strcmp(argv[1], "selfsigned") == 0)
        rc = cmd_selfsigned(argc - 2, argv + 2);
    else {
        fprintf(stderr, "scepreq: unknown command %s\n", argv[1]);
        usage();
    }
done:
    scepc_cleanup();
    return rc;
}

