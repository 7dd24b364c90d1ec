/* mod_scep core: small helpers (no httpd here). */
#include <string.h>
#include <stdio.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "scep_util.h"

void scep_log_(const scep_ctx_t *ctx, const char *file, int line,
               scep_log_level_t level, apr_status_t rv, const char *fmt, ...)
{
    va_list ap;
    char buf[2048];

    if (!ctx || !ctx->log || level > ctx->log_level) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_baton, file, line, level, rv, buf);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode in place; '+' stays '+'. A malformed escape is kept as is. */
static char *unescape(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len
            && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

apr_table_t *scep_query_parse(apr_pool_t *p, const char *args)
{
    apr_table_t *t = apr_table_make(p, 4);
    const char *s = args;

    while (s && *s) {
        const char *end = strchr(s, '&');
        apr_size_t len = end ? (apr_size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (len > 0) {
            const char *key, *val;
            if (eq) {
                key = unescape(p, s, (apr_size_t)(eq - s));
                val = unescape(p, eq + 1, len - (apr_size_t)(eq - s) - 1);
            }
            else {
                key = unescape(p, s, len);
                val = "";
            }
            if (*key && !apr_table_get(t, key)) {
                apr_table_setn(t, key, val);
            }
        }
        s = end ? end + 1 : NULL;
    }
    return t;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-' || c == ' ') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

apr_status_t scep_b64_decode(unsigned char **pout, apr_size_t *plen,
                             apr_pool_t *p, const char *in, apr_size_t inlen)
{
    unsigned char *out = apr_palloc(p, inlen / 4 * 3 + 3);
    apr_size_t n = 0, i;
    apr_uint32_t acc = 0;
    int bits = 0, pad = 0;

    for (i = 0; i < inlen; i++) {
        int c = (unsigned char)in[i], v;
        if (c == '\r' || c == '\n' || c == '\t') {
            continue;
        }
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad) {
            return APR_EINVAL;        /* data after padding */
        }
        v = b64val(c);
        if (v < 0) {
            return APR_EINVAL;
        }
        acc = (acc << 6) | (apr_uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* 6 leftover bits can never come from real base64 */
    if (bits >= 6 || pad > 2 || n == 0) {
        return APR_EINVAL;
    }
    *pout = out;
    *plen = n;
    return APR_SUCCESS;
}

const char *scep_b64_encode(apr_pool_t *p, const unsigned char *in,
                            apr_size_t len)
{
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

const char *scep_hex(apr_pool_t *p, const unsigned char *in, apr_size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, len * 2 + 1);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[len * 2] = '\0';
    return out;
}

const char *scep_sha256_hex(apr_pool_t *p, const unsigned char *in,
                            apr_size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(in, len, md);
    return scep_hex(p, md, sizeof(md));
}

apr_status_t scep_parse_duration(apr_int64_t *pseconds, const char *s)
{
    char *end = NULL;
    apr_int64_t n, mult = 86400;

    if (!s || !apr_isdigit(*s)) {
        return APR_EINVAL;
    }
    n = apr_strtoi64(s, &end, 10);
    if (n <= 0 || n > 100000000) {
        return APR_EINVAL;
    }
    if (*end) {
        if (end[1] != '\0') return APR_EINVAL;
        switch (*end) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default: return APR_EINVAL;
        }
    }
    if (n > APR_INT64_MAX / mult) {
        return APR_EINVAL;
    }
    *pseconds = n * mult;
    return APR_SUCCESS;
}

int scep_secret_equal(const unsigned char *a, apr_size_t alen,
                      const unsigned char *b, apr_size_t blen)
{
    unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
    int same;

    SHA256(a, alen, ha);
    SHA256(b, blen, hb);
    same = CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
    return same && alen == blen;
}

const char *scep_url_escape(apr_pool_t *p, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = digits[c >> 4];
            *o++ = digits[c & 0x0f];
        }
    }
    *o = '\0';
    return out;
}

const char *scep_log_safe(apr_pool_t *p, const char *s, apr_size_t len)
{
    return scep_log_safe_max(p, s, len, 64);
}

const char *scep_log_safe_max(apr_pool_t *p, const char *s, apr_size_t len,
                              apr_size_t max)
{
    apr_size_t i, n = len > max ? max : len;
    char *out = apr_palloc(p, n + 4);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > n) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

const char *scep_utf8_prefix(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = max;

    if (!s || strlen(s) <= max) {
        return s;
    }
    /* not inside a UTF-8 sequence: step back over continuation bytes */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    return apr_pstrmemdup(p, s, n);
}

const char *scep_bounded(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n;
    char *out;

    if (!s || strlen(s) <= max || max < 4) {
        return s;
    }
    n = max - 3;
    /* not inside a UTF-8 sequence: step back over continuation bytes */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    out = apr_palloc(p, n + 4);
    memcpy(out, s, n);
    memcpy(out + n, "...", 4);
    return out;
}

const char *scep_msg_type_name(int type)
{
    switch (type) {
    case SCEP_MSG_RENEWALREQ: return "RenewalReq";
    case SCEP_MSG_UPDATEREQ: return "UpdateReq";
    case SCEP_MSG_PKCSREQ: return "PKCSReq";
    case SCEP_MSG_CERTPOLL: return "CertPoll";
    case SCEP_MSG_GETCERT: return "GetCert";
    case SCEP_MSG_GETCRL: return "GetCRL";
    default: return "other";
    }
}

const char *scep_pki_status_name(int status)
{
    return status == SCEP_STATUS_SUCCESS ? "SUCCESS" : status == SCEP_STATUS_FAILURE
           ? "FAILURE" : status == SCEP_STATUS_PENDING ? "PENDING" : "none";
}

const char *scep_fail_info_name(int fail)
{
    static const char *const names[] = {
        "badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId"
    };
    return fail >= 0 && fail <= SCEP_FAIL_BADCERTID ? names[fail] : "-";
}
