/* mod_scep core: the NDES challenge page (see scep_ndes.h). */
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "scep_ndes.h"
#include "scep_util.h"

#define NDES_SECRET_BYTES 8            /* NDES's default: 16 hex characters */

#define PAGE_HEAD "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; " \
    "charset=UTF-16\"><Title>Network Device Enrollment Service</Title></Head>\r\n" \
    "<Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">\r\n" \
    "<Table Border=0 CellSpacing=0 CellPadding=4 Width=100% BgColor=#008080><TR><TD>" \
    "<Font Color=#FFFFFF><B><I>Network Device Enrollment Service</I></B></Font>" \
    "</TD></TR></Table>\r\n"
#define PAGE_TAIL "</Font></Body></HTML>\r\n"

void scep_ndes_utf16(const unsigned char **pout, apr_size_t *plen, apr_pool_t *p,
                     const char *ascii)
{
    apr_size_t n = strlen(ascii), i;
    unsigned char *out = apr_palloc(p, 2 * n + 2);

    out[0] = 0xFF;
    out[1] = 0xFE;
    for (i = 0; i < n; i++) {
        out[2 + 2 * i] = (unsigned char)ascii[i];
        out[3 + 2 * i] = 0;
    }
    *pout = out;
    *plen = 2 * n + 2;
}

static void page(scep_ndes_out_t *out, apr_pool_t *p, const char *body)
{
    out->status = 200;
    out->content_type = "text/html; charset=UTF-16";
    scep_ndes_utf16(&out->body, &out->len, p,
                    apr_pstrcat(p, PAGE_HEAD, body, PAGE_TAIL, NULL));
}

/* The CA certificate's MD5 in groups of 8 hex digits, as NDES shows it
 * (a group is too short for the scrapers' 16-digit match). */
static const char *thumbprint(apr_pool_t *p, const scep_ca_t *ca)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;
    const char *hex, *out = "";

    if (!X509_digest(ca->cert, EVP_md5(), md, &len)) {
        return "";
    }
    hex = scep_hex(p, md, len);
    for (i = 0; i < 2 * len; i += 8) {
        out = apr_pstrcat(p, out, i ? " " : "", apr_pstrndup(p, hex + i, 8), NULL);
    }
    return out;
}

void scep_ndes_handle(scep_ctx_t *ctx, const scep_ndes_t *nd, scep_store_t *st,
                      scep_ndes_out_t *out)
{
    apr_pool_t *p = ctx->pool;
    apr_int64_t open = 0, now = (apr_int64_t)apr_time_sec(apr_time_now());
    unsigned char raw[NDES_SECRET_BYTES];
    scep_challenge_t c;
    scep_audit_t a;
    const char *secret;

    if (!nd->allowed) {
        SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00700)
                 "NDES challenge refused to %s: not among SCEPNDESUsers", nd->user);
        page(out, p, "<P> You do not have sufficient permission to enroll with SCEP. "
             "Please contact your system administrator. </P>\r\n");
        return;
    }
    if (scep_store_challenge_count_by(&open, ctx, st, nd->ca->fingerprint, nd->user)
        != APR_SUCCESS) {
        goto unavailable;
    }
    if (open >= nd->cache_size) {
        SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00701)
                 "NDES challenge refused to %s: %" APR_INT64_T_FMT " unused challenges "
                 "(SCEPNDESPasswordCache %d)", nd->user, open, nd->cache_size);
        page(out, p, "<P> The password cache is full. </P>\r\n<P> Please wait until the "
             "existing passwords are used or expire, or contact your system "
             "administrator. </P>\r\n");
        return;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        goto unavailable;
    }
    secret = scep_hex(p, raw, sizeof(raw));
    memset(&c, 0, sizeof(c));
    c.ca = nd->ca->fingerprint;
    c.hash = scep_sha256_hex(p, (const unsigned char *)secret, strlen(secret));
    c.profile = nd->profile;
    c.created_by = nd->user;
    c.created_at = now;
    c.expires_at = now + nd->validity;
    memset(&a, 0, sizeof(a));
    a.ca = c.ca;
    a.actor = nd->user;
    a.client_addr = nd->client_addr;
    a.action = "ndes-challenge";
    a.detail = apr_pstrcat(p, "profile ", nd->profile, NULL);
    scep_store_stage_audit(st, &a);
    if (scep_store_challenge_insert(ctx, st, &c) != APR_SUCCESS) {
        goto unavailable;
    }
    SCEP_LOG(ctx, SCEP_LOG_NOTICE, 0, SCEPLOGNO(00702)
             "%s made one-time challenge for profile %s through the NDES page, valid %"
             APR_INT64_T_FMT " minutes", nd->user, nd->profile, nd->validity / 60);
    page(out, p, apr_psprintf(p,
         "<P> Network Device Enrollment Service allows you to obtain certificates for routers "
         "or other network devices using the Simple Certificate Enrollment Protocol (SCEP). "
         "</P>\r\n<P> To complete certificate enrollment for your network device you will "
         "need the following information: </P>\r\n<P> The thumbprint (hash value) for the CA "
         "certificate is: <B> %s </B> </P>\r\n<P> The enrollment challenge password is: "
         "<B> %s </B> </P>\r\n<P> This password can be used only once and will expire within "
         "%" APR_INT64_T_FMT " minutes. </P>\r\n<P> Each enrollment requires a new challenge "
         "password. You can refresh this web page to obtain a new challenge password. </P>\r\n",
         thumbprint(p, nd->ca), secret, nd->validity / 60));
    return;

unavailable:
    out->status = 503;
    out->content_type = "text/plain";
    out->body = (const unsigned char *)"Service Unavailable: enrollment database unavailable\n";
    out->len = strlen((const char *)out->body);
}
