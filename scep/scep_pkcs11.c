/* mod_scep core: private keys in a PKCS#11 token, through libp11's engine.
 * OpenSSL 3.0 deprecates ENGINE; Debian 12's libp11 is an engine, not a
 * provider, so this file (and only this one) uses the deprecated API. */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#define OPENSSL_SUPPRESS_DEPRECATED
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <stdlib.h>

#include <openssl/engine.h>
#include <openssl/err.h>

#include "scep_pkcs11.h"
#include "scep_ossl.h"

#define PIN_MAX 256

struct scep_pkcs11_t {
    ENGINE *engine;
    const char *module;
};

int scep_pkcs11_is_uri(const char *name)
{
    return name && !strncmp(name, "pkcs11:", 7);
}

static apr_status_t engine_release(void *data)
{
    scep_pkcs11_t *pk = data;

    if (pk->engine) {
        ENGINE_finish(pk->engine);
        ENGINE_free(pk->engine);
        pk->engine = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t scep_pkcs11_make(scep_pkcs11_t **ppk, apr_pool_t *p, const char *module,
                              const char **perr)
{
    scep_pkcs11_t *pk = apr_pcalloc(p, sizeof(*pk));
    ENGINE *e;

    ERR_clear_error();
    /* found in OpenSSL's engines folder (Debian: libengine-pkcs11-openssl) */
    if (!(e = ENGINE_by_id("pkcs11"))) {
        *perr = apr_psprintf(p, "OpenSSL has no \"pkcs11\" engine (install "
                             "libengine-pkcs11-openssl): %s", scep_ossl_errors(p));
        ERR_clear_error();
        return APR_EINVAL;
    }
    if ((module && !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0))
        || !ENGINE_init(e)) {
        *perr = apr_psprintf(p, "the pkcs11 engine cannot load the PKCS#11 module %s: %s",
                             module ? module : "(libp11's default)", scep_ossl_errors(p));
        ENGINE_free(e);
        ERR_clear_error();
        return APR_EINVAL;
    }
    pk->engine = e;
    pk->module = module;
    apr_pool_cleanup_register(p, pk, engine_release, apr_pool_cleanup_null);
    *ppk = pk;
    return APR_SUCCESS;
}

/* The PIN in file (its first line), or NULL with *perr. */
static const char *pin_from_file(apr_pool_t *p, const char *path, const char **perr)
{
    char buf[PIN_MAX + 2];
    apr_file_t *f;
    apr_size_t n = sizeof(buf) - 1;
    apr_status_t rv;

    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p)) != APR_SUCCESS) {
        *perr = apr_psprintf(p, "cannot read the PIN file %s: %pm", path, &rv);
        return NULL;
    }
    rv = apr_file_read(f, buf, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *perr = apr_psprintf(p, "cannot read the PIN file %s: %pm", path, &rv);
        return NULL;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!*buf || strlen(buf) > PIN_MAX) {
        *perr = apr_psprintf(p, "the PIN file %s holds no PIN on its first line", path);
        return NULL;
    }
    return apr_pstrdup(p, buf);
}

/* An attribute value of the URI, percent-decoded (RFC 7512 section 2.3). */
static char *uri_unescape(apr_pool_t *p, const char *v, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (v[i] == '%' && i + 2 < len && apr_isxdigit(v[i + 1]) && apr_isxdigit(v[i + 2])) {
            char hex[3] = { v[i + 1], v[i + 2], '\0' };
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        else {
            *o++ = v[i];
        }
    }
    *o = '\0';
    return out;
}

apr_status_t scep_pkcs11_ref(scep_pkcs11_ref_t **pref, apr_pool_t *p, scep_pkcs11_t *pk,
                             const char *uri, const char **perr)
{
    scep_pkcs11_ref_t *ref = apr_pcalloc(p, sizeof(*ref));
    const char *q = strchr(uri, '?'), *attr, *kept = "";

    ref->pk = pk;
    ref->uri = q ? apr_pstrmemdup(p, uri, (apr_size_t)(q - uri)) : uri;
    for (attr = q ? q + 1 : NULL; attr && *attr; ) {
        apr_size_t len = strcspn(attr, "&");
        if (!strncmp(attr, "pin-value=", 10)) {
            ref->pin = uri_unescape(p, attr + 10, len - 10);
        }
        else if (!strncmp(attr, "pin-source=", 11)) {
            const char *src = uri_unescape(p, attr + 11, len - 11);
            if (strncmp(src, "file:", 5)) {
                *perr = apr_psprintf(p, "%s: pin-source must be file:PATH",
                                     scep_pkcs11_safe_uri(p, uri));
                return APR_EINVAL;
            }
            if (!(ref->pin = pin_from_file(p, src + 5, perr))) {
                return APR_EINVAL;
            }
        }
        else {
            kept = apr_pstrcat(p, kept, *kept ? "&" : "", apr_pstrmemdup(p, attr, len), NULL);
        }
        attr += len;
        attr += *attr == '&';
    }
    if (*kept) {
        ref->uri = apr_pstrcat(p, ref->uri, "?", kept, NULL);
    }
    *pref = ref;
    return APR_SUCCESS;
}

apr_status_t scep_pkcs11_open(EVP_PKEY **pkey, apr_pool_t *p, const scep_pkcs11_ref_t *ref,
                              const char **perr)
{
    EVP_PKEY *k;

    ERR_clear_error();
    /* the engine keeps one PIN: set it for this key's token each time */
    if (ref->pin && !ENGINE_ctrl_cmd_string(ref->pk->engine, "PIN", ref->pin, 0)) {
        *perr = apr_psprintf(p, "%s: the pkcs11 engine refused the PIN: %s", ref->uri,
                             scep_ossl_errors(p));
        ERR_clear_error();
        return APR_EINVAL;
    }
    k = ENGINE_load_private_key(ref->pk->engine, ref->uri, NULL, NULL);
    if (!k) {
        *perr = apr_psprintf(p, "%s: the token gives no such private key (token, object or "
                             "PIN wrong, or the token is missing): %s", ref->uri,
                             scep_ossl_errors(p));
        ERR_clear_error();
        return APR_EINVAL;
    }
    *pkey = scep_own_pkey(p, k);
    return APR_SUCCESS;
}

const char *scep_pkcs11_safe_uri(apr_pool_t *p, const char *uri)
{
    const char *q = strchr(uri, '?');
    const char *pin = q ? strstr(q, "pin-value=") : NULL;

    if (!pin) {
        return uri;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, uri, (apr_size_t)(pin - uri)), "pin-value=***",
                       strchr(pin, '&') ? strchr(pin, '&') : "", NULL);
}
