/* mod_rsa_ceiling: bench/run.sh's "ceiling" cell, not part of mod_scep.
 *
 * What an enrollment costs at the least on this stack: httpd reads the
 * request's body, makes the three RSA private-key operations the floor
 * counts (one decryption, as of the envelope's key, and two signatures,
 * as of the certificate and the CertRep), each with a new EVP_PKEY_CTX as
 * CMS and X509_sign make them, and answers with the body it read. No SCEP,
 * no records. Its rate against the floor is the most any SCEP server built
 * on httpd and OpenSSL could reach here; mod_scep's rate against it is what
 * SCEP and its records cost.
 *
 *   <Location /scep>
 *       RSACeilingKeyFile /path/ca.key    (PEM, RSA)
 *   </Location>
 *
 * A POST there is answered by this module; anything else goes on to the
 * Location's handler (GetCACert from mod_scep). The reply carries the
 * last signature, of the body's SHA-256 (PKCS#1 v1.5), base64 in
 * X-RSA-Ceiling-Signature, so that a test can check the work was done. */
#include <string.h>

#include <httpd.h>
#include <apr_base64.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define MAX_BODY (64 * 1024)

module AP_MODULE_DECLARE_DATA rsa_ceiling_module;

#define MAX_KEY_BYTES 512           /* RSA keys up to 4096 bits */

static const unsigned char secret[16] = "content-enc-key";

typedef struct {
    EVP_PKEY *key;                  /* owned by the config pool's cleanup */
    unsigned char cipher[MAX_KEY_BYTES]; /* secret encrypted to the key, at load */
    size_t cipher_len;
} ceiling_dir_t;

static void *create_dir(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(ceiling_dir_t));
}

/* A section inside the Location without a key of its own keeps the key. */
static void *merge_dir(apr_pool_t *p, void *base, void *add)
{
    const ceiling_dir_t *b = base, *a = add;
    ceiling_dir_t *m = apr_palloc(p, sizeof(*m));

    *m = a->key ? *a : *b;
    return m;
}

static apr_status_t free_key(void *key)
{
    EVP_PKEY_free(key);
    return APR_SUCCESS;
}

/* The key, and one ciphertext under its public half for the decryptions. */
static const char *set_key(cmd_parms *cmd, void *dconf, const char *file)
{
    ceiling_dir_t *d = dconf;
    const char *path = ap_server_root_relative(cmd->pool, file);
    EVP_PKEY_CTX *pctx = NULL;
    FILE *f;
    int ok = 0;

    if (!path || !(f = fopen(path, "r"))) {
        return apr_psprintf(cmd->pool, "RSACeilingKeyFile: cannot open %s", file);
    }
    d->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!d->key || EVP_PKEY_get_base_id(d->key) != EVP_PKEY_RSA
        || EVP_PKEY_get_size(d->key) > MAX_KEY_BYTES) {
        EVP_PKEY_free(d->key);
        d->key = NULL;
        ERR_clear_error();
        return apr_psprintf(cmd->pool, "RSACeilingKeyFile: %s is not an RSA private key "
                            "of at most 4096 bits", file);
    }
    apr_pool_cleanup_register(cmd->pool, d->key, free_key, apr_pool_cleanup_null);
    d->cipher_len = sizeof(d->cipher);
    if ((pctx = EVP_PKEY_CTX_new(d->key, NULL)) != NULL
        && EVP_PKEY_encrypt_init(pctx) > 0
        && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0
        && EVP_PKEY_encrypt(pctx, d->cipher, &d->cipher_len, secret, sizeof(secret)) > 0) {
        ok = 1;
    }
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    return ok ? NULL : "RSACeilingKeyFile: cannot encrypt with the key";
}

/* One private-key operation with a new context: a decryption of the
 * secret, or a PKCS#1 v1.5 signature of the SHA-256 digest md into
 * sig (MAX_KEY_BYTES) and *sig_len. 1 on success. */
static int private_op(const ceiling_dir_t *d, int decrypt, const unsigned char *md,
                      unsigned char *sig, size_t *sig_len)
{
    unsigned char out[MAX_KEY_BYTES];
    size_t out_len = sizeof(out);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(d->key, NULL);
    int ok;

    if (decrypt) {
        ok = pctx && EVP_PKEY_decrypt_init(pctx) > 0
             && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0
             && EVP_PKEY_decrypt(pctx, out, &out_len, d->cipher, d->cipher_len) > 0
             && out_len == sizeof(secret) && !memcmp(out, secret, sizeof(secret));
    } else {
        *sig_len = MAX_KEY_BYTES;
        ok = pctx && EVP_PKEY_sign_init(pctx) > 0
             && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0
             && EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) > 0
             && EVP_PKEY_sign(pctx, sig, sig_len, md, 32) > 0;
    }
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* The body, whole (up to MAX_BODY), into the request's pool: OK, or the
 * HTTP status to answer with. */
static int read_body(request_rec *r, unsigned char **body, apr_size_t *len)
{
    unsigned char *buf;
    long got;
    int rv;

    if ((rv = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return rv;
    }
    if (!ap_should_client_block(r)) {
        return HTTP_BAD_REQUEST;
    }
    /* one byte more than allowed: a body that fills it is too long */
    buf = apr_palloc(r->pool, MAX_BODY + 1);
    *len = 0;
    while ((got = ap_get_client_block(r, (char *)buf + *len, MAX_BODY + 1 - *len)) > 0) {
        *len += (apr_size_t)got;
        if (*len > MAX_BODY) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }
    if (got < 0) {
        return HTTP_BAD_REQUEST;
    }
    *body = buf;
    return OK;
}

static int ceiling_handler(request_rec *r)
{
    const ceiling_dir_t *d = ap_get_module_config(r->per_dir_config, &rsa_ceiling_module);
    unsigned char md[32], sig[MAX_KEY_BYTES], *body = NULL;
    unsigned int md_len = 0;
    apr_size_t len = 0;
    size_t sig_len = 0;
    char *sig64;
    int rv;

    if (!d || !d->key || r->method_number != M_POST) {
        return DECLINED;
    }
    if ((rv = read_body(r, &body, &len)) != OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "rsa_ceiling: cannot read the body (%d)", rv);
        return rv;
    }
    if (!EVP_Digest(body, len, md, &md_len, EVP_sha256(), NULL)
        || !private_op(d, 1, md, sig, &sig_len) || !private_op(d, 0, md, sig, &sig_len)
        || !private_op(d, 0, md, sig, &sig_len)) {
        unsigned long e = ERR_get_error();

        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "rsa_ceiling: an RSA operation failed: %s",
                      e ? ERR_reason_error_string(e) : "(no OpenSSL error)");
        ERR_clear_error();
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    sig64 = apr_palloc(r->pool, (apr_size_t)apr_base64_encode_len((int)sig_len));
    apr_base64_encode(sig64, (const char *)sig, (int)sig_len);
    apr_table_setn(r->headers_out, "X-RSA-Ceiling-Signature", sig64);
    ap_set_content_type(r, "application/x-pki-message");
    ap_set_content_length(r, (apr_off_t)len);
    ap_rwrite(body, (int)len, r);
    return OK;
}

static const command_rec ceiling_cmds[] = {
    AP_INIT_TAKE1("RSACeilingKeyFile", set_key, NULL, ACCESS_CONF,
                  "an RSA private key (PEM): answer POSTs here with three operations of it"),
    { NULL }
};

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(ceiling_handler, NULL, NULL, APR_HOOK_FIRST);
}

AP_DECLARE_MODULE(rsa_ceiling) = {
    STANDARD20_MODULE_STUFF, create_dir, merge_dir, NULL, NULL, ceiling_cmds, register_hooks,
#if defined(AP_MODULE_FLAG_NONE)
    AP_MODULE_FLAG_NONE
#endif
};
