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
        "    --extra-certs N       N more (self-signed, unrelated) certs in SignedData certificates\n"
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

/* Plaintext of the envelope according to the options; the CSR (which may
 * be NULL if --csr could not be parsed) supplies IssuerAndSubject's subject. */
static int build_plaintext(const struct build_opts *o, const unsigned char *csr_der,
                           long csr_len, X509_REQ *req, unsigned char **pt, long *ptlen)
{
    STACK_OF(X509) *certs = NULL;
    int n = 0, ok = 0;

    *pt = NULL;
    if (o->payload != NULL) {
        ok = scepc_read_file(o->payload, pt, ptlen);
    } else if (o->issuer_serial != NULL || o->issuer_subject != NULL) {
        const char *path = o->issuer_serial ? o->issuer_serial : o->issuer_subject;

        if ((certs = scepc_load_certs(path)) == NULL)
            goto done;
        if (o->issuer_serial != NULL) {
            ok = scepc_der_issuer_and_serial(sk_X509_value(certs, 0), pt, &n);
        } else if (req == NULL) {
            fprintf(stderr, "scepreq: --issuer-subject needs a parseable CSR\n");
        } else {
            ok = scepc_der_issuer_and_subject(X509_get_issuer_name(sk_X509_value(certs, 0)),
                                        X509_REQ_get_subject_name(req), pt, &n);
        }
        *ptlen = n;
    } else if ((*pt = OPENSSL_memdup(csr_der, (size_t)csr_len)) != NULL) {
        *ptlen = csr_len;
        ok = 1;
    }
done:
    sk_X509_pop_free(certs, X509_free);
    return ok;
}

static int cmd_build(int argc, char **argv)
{
    struct build_opts o;
    struct scepc_csr_params cp;
    struct scepc_attr *attrs = NULL;
    EVP_PKEY *key = NULL, *signer_key = NULL;
    X509 *signer = NULL;
    X509_REQ *req = NULL;
    STACK_OF(X509) *signer_certs = NULL, *rcpt_all = NULL, *rcpt = NULL;
    STACK_OF(X509) *chain = NULL, *extra_owned = NULL;
    EVP_CIPHER *cipher = NULL;
    const EVP_MD *md = NULL;
    unsigned char *csr_der = NULL, *pt = NULL, *env = NULL, *msg = NULL, *nonce = NULL;
    long csr_len = 0, pt_len = 0, nonce_len = 0;
    int env_len = 0, msg_len = 0, nattrs = 0, i, rc = 1;
    char *tid = NULL, *nonce_hex = NULL;
    const unsigned char *content;
    int content_len;

    memset(&o, 0, sizeof(o));
    o.subject = DEFAULT_CSR_DN;
    o.csr_digest = "sha256";
    o.cipher = "aes128";
    o.digest = "sha256";
    o.type = "19";
    if ((o.san = OPENSSL_zalloc(sizeof(*o.san) * (size_t)(argc + 1))) == NULL)
        goto done;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL, *w = NULL;

        if (OPT("--recipient")) TAKE(o.recipient);
        else if (OPT("--all-recipients")) o.all_recipients = 1;
        else if (OPT("--key")) TAKE(o.key);
        else if (OPT("--csr")) TAKE(o.csr);
        else if (OPT("--subject")) TAKE(o.subject);
        else if (OPT("--challenge")) TAKE(o.challenge);
        else if (OPT("--challenge-utf8")) o.challenge_utf8 = 1;
        else if (OPT("--san-dns")) TAKE(o.san[o.n_san++]);
        else if (OPT("--csr-extra-attrs")) {
            char *end;
            TAKE(w);
            o.csr_extra_attrs = (int)strtol(w, &end, 10);
            if (*end || o.csr_extra_attrs < 0 || o.csr_extra_attrs > 100000) {
                fprintf(stderr, "scepreq: --csr-extra-attrs %s: expected 0..100000\n", w);
                goto usage;
            }
        }
        else if (OPT("--csr-digest")) TAKE(o.csr_digest);
        else if (OPT("--signer-cert")) TAKE(o.signer_cert);
        else if (OPT("--signer-key")) TAKE(o.signer_key);
        else if (OPT("--signer-self-key")) TAKE(o.signer_self_key);
        else if (OPT("--signer-out")) TAKE(o.signer_out);
        else if (OPT("--cipher")) TAKE(o.cipher);
        else if (OPT("--digest")) TAKE(o.digest);
        else if (OPT("--type")) TAKE(o.type);
        else if (OPT("--tid")) TAKE(o.tid);
        else if (OPT("--nonce")) TAKE(o.nonce);
        else if (OPT("--payload")) TAKE(o.payload);
        else if (OPT("--issuer-serial")) TAKE(o.issuer_serial);
        else if (OPT("--issuer-subject")) TAKE(o.issuer_subject);
        else if (OPT("--no-envelope")) o.no_envelope = 1;
        else if (OPT("--print")) o.print = 1;
        else if (OPT("--extra-certs") || OPT("--extra-recipients") || OPT("--extra-attrs")) {
            TAKE(w);
            if (!parse_count(a, w, OPT("--extra-certs") ? &o.extra_certs
                                   : OPT("--extra-recipients") ? &o.extra_recipients
                                   : &o.extra_attrs))
                goto usage;
        }
        else if (OPT("-o") || OPT("--out")) TAKE(o.out);
        else if (OPT("--omit")) {
            TAKE(w);
            if (strcmp(w, "tid") == 0) o.omit_tid = 1;
            else if (strcmp(w, "nonce") == 0) o.omit_nonce = 1;
            else if (strcmp(w, "type") == 0) o.omit_type = 1;
            else {
                fprintf(stderr, "scepreq: --omit %s: expected tid|nonce|type\n", w);
                goto usage;
            }
        } else if (OPT("--tamper")) {
            TAKE(w);
            if (strcmp(w, "signature") == 0) o.tamper |= SCEPC_TAMPER_SIGNATURE;
            else if (strcmp(w, "content") == 0) o.tamper |= SCEPC_TAMPER_CONTENT;
            else if (strcmp(w, "iv") == 0) o.tamper |= SCEPC_TAMPER_IV;
            else if (strcmp(w, "padding") == 0) o.tamper |= SCEPC_TAMPER_PADDING;
            else {
                fprintf(stderr, "scepreq: --tamper %s: expected signature|content|iv|padding\n", w);
                goto usage;
            }
        } else {
            fprintf(stderr, "scepreq: build: unknown option %s\n", a);
            goto usage;
        }
    }
    if (o.out == NULL) {
        fprintf(stderr, "scepreq: build: -o is required\n");
        goto usage;
    }
    if ((o.signer_cert == NULL) != (o.signer_key == NULL)) {
        fprintf(stderr, "scepreq: --signer-cert and --signer-key go together\n");
        goto usage;
    }
    if (o.signer_cert != NULL && o.signer_self_key != NULL) {
        fprintf(stderr, "scepreq: --signer-self-key conflicts with --signer-cert\n");
        goto usage;
    }
    if ((o.payload != NULL) + (o.issuer_serial != NULL) + (o.issuer_subject != NULL) > 1) {
        fprintf(stderr, "scepreq: use only one of --payload, --issuer-serial, --issuer-subject\n");
        goto usage;
    }
    /* --key is only needed to make a CSR or the default signer. */
    if (o.key == NULL && (o.csr == NULL || (o.signer_cert == NULL && o.signer_self_key == NULL))) {
        fprintf(stderr, "scepreq: build: --key is required\n");
        goto usage;
    }
    if (!o.no_envelope && o.recipient == NULL) {
        fprintf(stderr, "scepreq: build: --recipient is required (or --no-envelope)\n");
        goto usage;
    }

    if (o.key != NULL && (key = scepc_load_key(o.key)) == NULL)
        goto done;

    /* The CSR: existing bytes as-is, or a fresh one. */
    if (o.csr != NULL) {
        const unsigned char *p;

        if (!scepc_load_csr_der(o.csr, &csr_der, &csr_len))
            goto done;
        p = csr_der;
        if ((req = d2i_X509_REQ(NULL, &p, csr_len)) == NULL) {
            fprintf(stderr, "scepreq: warning: %s does not parse as a CSR; sending it anyway\n",
                    o.csr);
            ERR_clear_error();
        }
    } else {
        int n;

        cp.subject = o.subject;
        cp.challenge = o.challenge;
        cp.challenge_utf8 = o.challenge_utf8;
        cp.san_dns = o.san;
        cp.n_san = o.n_san;
        cp.extra_attrs = o.csr_extra_attrs;
        if ((cp.md = scepc_digest_get(o.csr_digest)) == NULL || (req = scepc_csr_build(key, &cp)) == NULL)
            goto done;
        if ((n = i2d_X509_REQ(req, &csr_der)) <= 0)
            goto done;
        csr_len = n;
    }

    /* transactionID and senderNonce. */
    if (o.tid == NULL) {
        EVP_PKEY *pub = req != NULL ? X509_REQ_get0_pubkey(req) : key;

        if (pub == NULL) {
            fprintf(stderr, "scepreq: no public key for the default transactionID; use --tid\n");
            goto done;
        }
        if ((tid = scepc_tid_from_pubkey(pub)) == NULL)
            goto done;
    } else if ((tid = OPENSSL_strdup(o.tid)) == NULL) {
        goto done;
    }
    if (o.nonce != NULL) {
        if (!scepc_hex_decode(o.nonce, &nonce, &nonce_len))
            goto usage;
    } else {
        if ((nonce = OPENSSL_malloc(SCEPC_NONCE_LEN)) == NULL || RAND_bytes(nonce, SCEPC_NONCE_LEN) != 1)
            goto done;
        nonce_len = SCEPC_NONCE_LEN;
    }

    /* Signer: existing cert (renewal) or a temporary self-signed one. */
    if (o.signer_cert != NULL) {
        if ((signer_certs = scepc_load_certs(o.signer_cert)) == NULL
            || (signer_key = scepc_load_key(o.signer_key)) == NULL)
            goto done;
        signer = sk_X509_value(signer_certs, 0);
        if (!X509_up_ref(signer)) {
            signer = NULL;
            goto done;
        }
    } else {
        if (o.signer_self_key != NULL) {
            if ((signer_key = scepc_load_key(o.signer_self_key)) == NULL)
                goto done;
        } else if (EVP_PKEY_up_ref(key)) {
            signer_key = key;
        } else {
            goto done;
        }
        if ((signer = scepc_signer_selfsigned(signer_key, SCEPC_DEFAULT_SIGNER_DN)) == NULL)
            goto done;
    }
    if (o.signer_out != NULL && !scepc_write_cert_pem(o.signer_out, signer))
        goto done;

    /* Plaintext, then the envelope around it (unless --no-envelope). */
    if (!build_plaintext(&o, csr_der, csr_len, req, &pt, &pt_len))
        goto done;
    if (o.no_envelope) {
        content = pt;
        content_len = (int)pt_len;
    } else {
        if ((rcpt_all = scepc_load_certs(o.recipient)) == NULL
            || (rcpt = scepc_recipients_select(rcpt_all, o.all_recipients)) == NULL
            || (cipher = scepc_cipher_fetch(o.cipher)) == NULL)
            goto done;
        /* --extra-recipients: more RecipientInfos, none of them the server's */
        if (o.extra_recipients > 0) {
            int first;

            first = extra_owned != NULL ? sk_X509_num(extra_owned) : 0;
            if (!scepc_selfsigned_push(&extra_owned, signer_key, "extra recipient",
                                  o.extra_recipients))
                goto done;
            for (i = first; i < sk_X509_num(extra_owned); i++)
                if (!sk_X509_push(rcpt, sk_X509_value(extra_owned, i)))
                    goto done;
        }
        if (!scepc_envelope_build(pt, (int)pt_len, rcpt, cipher, &env, &env_len))
            goto done;
        content = env;
        content_len = env_len;
    }
    /* --tamper iv|padding: the envelope built here, or the one given as
     * --payload with --no-envelope (someone else's, replayed) */
    if (o.tamper & (SCEPC_TAMPER_IV | SCEPC_TAMPER_PADDING)) {
        if (o.no_envelope) {
            env = pt;
            env_len = (int)pt_len;
            pt = NULL;
        }
        if (!scepc_envelope_tamper(&env, &env_len, o.tamper))
            goto done;
        content = env;
        content_len = env_len;
    }

    /* --extra-certs: the signer's own chain (renewal) plus unrelated certs */
    if (o.extra_certs > 0) {
        int first;

        if ((chain = sk_X509_new_null()) == NULL)
            goto done;
        for (i = 0; i < sk_X509_num(signer_certs); i++)
            if (!sk_X509_push(chain, sk_X509_value(signer_certs, i)))
                goto done;
        first = extra_owned != NULL ? sk_X509_num(extra_owned) : 0;
        if (!scepc_selfsigned_push(&extra_owned, signer_key, "extra cert", o.extra_certs))
            goto done;
        for (i = first; i < sk_X509_num(extra_owned); i++)
            if (!sk_X509_push(chain, sk_X509_value(extra_owned, i)))
                goto done;
    }

    if ((attrs = OPENSSL_zalloc(sizeof(*attrs) * (size_t)(3 + o.extra_attrs))) == NULL)
        goto done;

    if (!o.omit_type)
        scepc_attr_add(attrs, &nattrs, scepc_nid.message_type, V_ASN1_PRINTABLESTRING, o.type,
                       (int)strlen(o.type));
    if (!o.omit_tid)
        scepc_attr_add(attrs, &nattrs, scepc_nid.transaction_id, V_ASN1_PRINTABLESTRING, tid,
                       (int)strlen(tid));
    if (!o.omit_nonce)
        scepc_attr_add(attrs, &nattrs, scepc_nid.sender_nonce, V_ASN1_OCTET_STRING, nonce,
                       (int)nonce_len);
    /* --extra-attrs: private OIDs 1.3.6.1.4.1.55555.1.i, one UTF8String each */
    for (i = 0; i < o.extra_attrs; i++) {
        static const char value[] = "scepreq extra attribute";
        char oid[64], sn[32];
        int nid;

        snprintf(oid, sizeof(oid), "1.3.6.1.4.1.55555.1.%d", i + 1);
        snprintf(sn, sizeof(sn), "scepreqExtra%d", i + 1);
        if ((nid = scepc_register_oid(oid, sn, sn)) == NID_undef)
            goto done;
        scepc_attr_add(attrs, &nattrs, nid, V_ASN1_UTF8STRING, value, (int)strlen(value));
    }
    if ((md = scepc_digest_get(o.digest)) == NULL)
        goto done;
    if (!scepc_pkimessage_sign(content, content_len, signer, signer_key,
                         chain != NULL ? chain : signer_certs, md, attrs, nattrs,
                         o.tamper, &msg, &msg_len))
        goto done;
    if (!scepc_write_file(o.out, msg, msg_len))
        goto done;
    if (o.print) {
        if ((nonce_hex = scepc_hex_encode(nonce, (size_t)nonce_len)) == NULL)
            goto done;
        printf("tid=%s\nnonce=%s\n", tid, nonce_hex);
        print_counts(msg, msg_len, o.no_envelope ? NULL : env, env_len);
    }
    rc = 0;
    goto done;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
usage:
    usage();
    rc = 2;
done:
    OPENSSL_free(o.san);
    EVP_PKEY_free(key);
    EVP_PKEY_free(signer_key);
    X509_free(signer);
    X509_REQ_free(req);
    sk_X509_pop_free(signer_certs, X509_free);
    sk_X509_free(rcpt);
    sk_X509_pop_free(rcpt_all, X509_free);
    sk_X509_free(chain);
    sk_X509_pop_free(extra_owned, X509_free);
    OPENSSL_free(attrs);
    EVP_CIPHER_free(cipher);
    OPENSSL_free(csr_der);
    OPENSSL_free(pt);
    OPENSSL_free(env);
    OPENSSL_free(msg);
    OPENSSL_free(nonce);
    OPENSSL_free(tid);
    OPENSSL_free(nonce_hex);
    return rc;
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

static int cmd_parse(int argc, char **argv)
{
    const char *in = NULL, *verify = NULL, *keyfile = NULL, *certfile = NULL;
    const char *out_cert = NULL, *out_crl = NULL, *expect_nonce = NULL;
    struct scepc_reply r;
    int have_reply = 0, success, i, rc = 2;
    unsigned char *der = NULL, *want = NULL, *pt = NULL;
    long der_len = 0, want_len = 0, pt_len = 0;
    STACK_OF(X509) *trust = NULL, *mycert = NULL, *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    X509_STORE *store = NULL;
    EVP_PKEY *key = NULL;
    char *subj = NULL, cipher[80];

    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (OPT("-i") || OPT("--in")) TAKE(in);
        else if (OPT("--verify")) TAKE(verify);
        else if (OPT("--key")) TAKE(keyfile);
        else if (OPT("--signer-cert")) TAKE(certfile);
        else if (OPT("--out-cert")) TAKE(out_cert);
        else if (OPT("--out-crl")) TAKE(out_crl);
        else if (OPT("--expect-nonce")) TAKE(expect_nonce);
        else {
            fprintf(stderr, "scepreq: parse: unknown option %s\n", a);
            goto usage;
        }
    }
    if (in == NULL || verify == NULL) {
        fprintf(stderr, "scepreq: parse: -i and --verify are required\n");
        goto usage;
    }
    if (expect_nonce != NULL && !scepc_hex_decode(expect_nonce, &want, &want_len))
        goto usage;

    if ((trust = scepc_load_certs(verify)) == NULL || (store = scepc_trust_store(trust)) == NULL)
        goto done;

    if (!scepc_read_file(in, &der, &der_len))
        goto done;
    if (!scepc_reply_parse(der, der_len, store, &r))
        goto done;
    have_reply = 1;

    printf("verified=%d\n", r.verified);
    if (r.message_type) print_str("messageType", r.message_type);
    if (r.pki_status) print_str("pkiStatus", r.pki_status);
    if (r.fail_info) print_str("failInfo", r.fail_info);
    if (r.fail_info_text) print_str("failInfoText", r.fail_info_text);
    if (r.tid) {
        print_str("transactionID", r.tid);
        printf("transactionIDType=%s\n", ASN1_tag2str(r.tid_type));
    }
    if (r.sender_nonce && !print_hex("senderNonce", r.sender_nonce))
        goto done;
    if (r.recipient_nonce && !print_hex("recipientNonce", r.recipient_nonce))
        goto done;
    printf("digest=%s\n", r.digest);
    if (r.econtent)
        printf("eContentLength=%d\n", ASN1_STRING_length(r.econtent));
    else
        printf("eContentLength=absent\n");
    if (r.signer) {
        if ((subj = scepc_name_rfc2253(X509_get_subject_name(r.signer))) == NULL)
            goto done;
        printf("signerSubject=%s\n", subj);
    }
    if (want != NULL) {
        const ASN1_STRING *rn = r.recipient_nonce;

        printf("nonceMatch=%d\n", rn != NULL && ASN1_STRING_length(rn) == want_len
                                      && memcmp(ASN1_STRING_get0_data(rn), want,
                                                (size_t)want_len) == 0);
    }
    fflush(stdout);

    if (!r.verified) {
        rc = 1;
        goto done;
    }

    /* SUCCESS: open the envelope and list the bundle. */
    success = r.pki_status != NULL && ASN1_STRING_length(r.pki_status) == 1
              && ASN1_STRING_get0_data(r.pki_status)[0] == '0';
    if (success && (keyfile == NULL) != (certfile == NULL))
        fprintf(stderr, "scepreq: decrypting needs both --key and --signer-cert\n");
    if (success && keyfile != NULL && certfile != NULL) {
        if (r.econtent == NULL || ASN1_STRING_length(r.econtent) == 0) {
            fprintf(stderr, "scepreq: SUCCESS reply without EnvelopedData\n");
            goto done;
        }
        if ((key = scepc_load_key(keyfile)) == NULL || (mycert = scepc_load_certs(certfile)) == NULL)
            goto done;
        if (!scepc_envelope_open(ASN1_STRING_get0_data(r.econtent), ASN1_STRING_length(r.econtent), key,
                           sk_X509_value(mycert, 0), cipher, sizeof(cipher), &pt, &pt_len))
            goto done;
        printf("cipher=%s\n", cipher);
        if (!scepc_bundle_parse(pt, pt_len, &certs, &crls))
            goto done;
        printf("certCount=%d\n", sk_X509_num(certs));
        for (i = 0; i < sk_X509_num(certs); i++) {
            OPENSSL_free(subj);
            if ((subj = scepc_name_rfc2253(X509_get_subject_name(sk_X509_value(certs, i)))) == NULL)
                goto done;
            printf("cert%d=%s\n", i, subj);
        }
        printf("crlCount=%d\n", sk_X509_CRL_num(crls));
        fflush(stdout);
        if (out_cert != NULL) {
            if (sk_X509_num(certs) == 0) {
                fprintf(stderr, "scepreq: no certificate to write to %s\n", out_cert);
                goto done;
            }
            if (!scepc_write_certs_pem(out_cert, certs, 1))
                goto done;
        }
        if (out_crl != NULL && !scepc_write_crls_pem(out_crl, crls))
            goto done;
    }
    rc = 0;
    goto done;
missing:
    fprintf(stderr, "scepreq: option %s needs a value\n", argv[i]);
usage:
    usage();
done:
    if (rc == 2)
        ERR_print_errors_fp(stderr);
    if (have_reply)
        scepc_reply_free(&r);
    OPENSSL_free(der);
    OPENSSL_free(want);
    OPENSSL_free(pt);
    OPENSSL_free(subj);
    sk_X509_pop_free(trust, X509_free);
    sk_X509_pop_free(mycert, X509_free);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    X509_STORE_free(store);
    EVP_PKEY_free(key);
    return rc;
}

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
    if ((key = scepc_load_key(keyfile)) == NULL || (x = scepc_signer_selfsigned(key, subject)) == NULL)
        goto done;
    if (!scepc_write_cert_pem(out, x))
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

