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
 * Location's handler (GetCACert from mod_scep). */
#include <string.h>

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define MAX_BODY (64 * 1024)

module AP_MODULE_DECLARE_DATA rsa_ceiling_module;

typedef struct {
    EVP_PKEY *key;                  /* owned by the config pool's cleanup */
    unsigned char cipher[512];      /* a key's length of ciphertext, made at load */
    size_t cipher_len;
} ceiling_dir_t;

static void *create_dir(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(ceiling_dir_t));
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
    static const unsigned char secret[16] = "content-enc-key";
    EVP_PKEY_CTX *pctx = NULL;
    FILE *f;
    int ok = 0;

    if (!path || !(f = fopen(path, "r"))) {
        return apr_psprintf(cmd->pool, "RSACeilingKeyFile: cannot open %s", file);
    }
    d->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!d->key || EVP_PKEY_get_base_id(d->key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(d->key);
        d->key = NULL;
        return apr_psprintf(cmd->pool, "RSACeilingKeyFile: %s is not an RSA private key", file);
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
    return ok ? NULL : "RSACeilingKeyFile: cannot encrypt with the key";
}

/* One private-key operation with a new context: a decryption, or a
 * PKCS#1 v1.5 signature of the SHA-256 digest md. 1 on success. */
static int private_op(const ceiling_dir_t *d, int decrypt, const unsigned char *md)
{
    unsigned char out[512];
    size_t out_len = sizeof(out);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(d->key, NULL);
    int ok;

    if (decrypt) {
        ok = pctx && EVP_PKEY_decrypt_init(pctx) > 0
             && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0
             && EVP_PKEY_decrypt(pctx, out, &out_len, d->cipher, d->cipher_len) > 0;
    } else {
        ok = pctx && EVP_PKEY_sign_init(pctx) > 0
             && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0
             && EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) > 0
             && EVP_PKEY_sign(pctx, out, &out_len, md, 32) > 0;
    }
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* The body, whole, into the request's pool; NULL if unreadable or too big. */
static unsigned char *read_body(request_rec *r, apr_size_t *len)
{
    unsigned char *buf;
    long got;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK || !ap_should_client_block(r)) {
        return NULL;
    }
    buf = apr_palloc(r->pool, MAX_BODY);
    *len = 0;
    while ((got = ap_get_client_block(r, (char *)buf + *len, MAX_BODY - *len)) > 0) {
        *len += (apr_size_t)got;
        if (*len == MAX_BODY) {
            return NULL;
        }
    }
    return got < 0 ? NULL : buf;
}

static int ceiling_handler(request_rec *r)
{
    const ceiling_dir_t *d = ap_get_module_config(r->per_dir_config, &rsa_ceiling_module);
    unsigned char md[32], *body;
    unsigned int md_len = 0;
    apr_size_t len = 0;

    if (!d || !d->key || r->method_number != M_POST) {
        return DECLINED;
    }
    if (!(body = read_body(r, &len))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "rsa_ceiling: cannot read the body");
        return HTTP_BAD_REQUEST;
    }
    if (!EVP_Digest(body, len, md, &md_len, EVP_sha256(), NULL)
        || !private_op(d, 1, md) || !private_op(d, 0, md) || !private_op(d, 0, md)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "rsa_ceiling: an RSA operation failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
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
    STANDARD20_MODULE_STUFF, create_dir, NULL, NULL, NULL, ceiling_cmds, register_hooks,
#if defined(AP_MODULE_FLAG_NONE)
    AP_MODULE_FLAG_NONE
#endif
};
