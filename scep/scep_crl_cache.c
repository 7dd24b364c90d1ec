/* mod_scep core: the CA's current CRL, built once per change. */
#include <apr_time.h>

#include "scep_crl_cache.h"
#include "scep_crl.h"
#include "scep_util.h"

apr_status_t scep_crl_current(unsigned char **pder, apr_size_t *plen,
                              scep_ctx_t *ctx, scep_store_t *st,
                              const scep_ca_t *ca, apr_int64_t validity)
{
    apr_pool_t *p = ctx->pool;
    scep_crl_rec_t *latest = NULL, rec;
    apr_array_header_t *revoked;
    apr_int64_t count = 0, now = (apr_int64_t)apr_time_sec(apr_time_now());
    const char *err = "";
    unsigned char *der;
    apr_size_t len;
    apr_status_t rv;
    int attempt;

    for (attempt = 0; attempt < 3; attempt++) {
        rv = scep_store_crl_latest(&latest, &count, ctx, st, ca->fingerprint);
        if (rv != APR_SUCCESS && rv != APR_NOTFOUND) {
            return rv;
        }
        if (rv == APR_SUCCESS && latest->revoked_count == count
            && now < latest->this_update + validity / 2) {
            return scep_b64_decode(pder, plen, p, latest->der, strlen(latest->der));
        }
        if ((rv = scep_store_revoked(&revoked, ctx, st, ca->fingerprint)) != APR_SUCCESS) {
            return rv;
        }
        rec.number = latest ? latest->number + 1 : 1;
        rec.this_update = now;
        rec.next_update = now + validity;
        rec.revoked_count = revoked->nelts;
        if (scep_crl_build(&der, &len, &err, p, ca, revoked, rec.number, validity, NULL)
            != APR_SUCCESS) {
            SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00212) "cannot build the CRL: %s", err);
            return APR_EGENERAL;
        }
        rec.der = scep_b64_encode(p, der, len);
        rv = scep_store_crl_insert(ctx, st, ca->fingerprint, &rec);
        if (rv == APR_SUCCESS) {
            SCEP_LOG(ctx, SCEP_LOG_INFO, 0, SCEPLOGNO(00213)
                     "CRL number %" APR_INT64_T_FMT " built with %d revoked certificates",
                     rec.number, revoked->nelts);
            *pder = der;
            *plen = len;
            return APR_SUCCESS;
        }
        /* another request or node stored this number first: use theirs */
        latest = NULL;
    }
    SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00214) "cannot store a new CRL");
    return SCEP_EDB;
}
