/* mod_scep core: records through apr_dbd. SQL lives here and only here. */
#include <apr_strings.h>

#include "scep_store.h"

#define TXN_COLUMNS "ca, transaction_id, message_type, status, dedup_key, key_fp, " \
    "signer_fp, signer_cert, csr, subject, renewal_of, profile, client_addr, serial, " \
    "fail_info, fail_text, created_at, updated_at"
#define TXN_VALUES "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s"

const scep_sql_t scep_store_sql[] = {
    { "scep_txn_find_live",
      "SELECT t.status, t.dedup_key, t.key_fp, t.serial, c.der "
      "FROM scep_transactions t LEFT JOIN scep_certificates c "
      "ON c.ca = t.ca AND c.serial = t.serial "
      "WHERE t.ca = %s AND t.transaction_id = %s AND t.dedup_key IS NOT NULL" },
    { "scep_txn_insert",
      "INSERT INTO scep_transactions (" TXN_COLUMNS ") VALUES (" TXN_VALUES ")" },
    { "scep_cert_insert",
      "INSERT INTO scep_certificates (ca, serial, subject, not_before, not_after, "
      "der, issued_at) VALUES (%s, %s, %s, %s, %s, %s, %s)" },
    { NULL, NULL }
};

static apr_dbd_prepared_t *stmt(scep_ctx_t *ctx, scep_store_t *st,
                                const char *label)
{
    apr_dbd_prepared_t *s = apr_hash_get(st->prepared, label, APR_HASH_KEY_STRING);
    if (!s) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00101)
                 "SQL statement %s is not prepared on this connection: "
                 "is the schema from conf/ loaded?", label);
    }
    return s;
}

static const char *num(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

static apr_status_t insert_txn(scep_ctx_t *ctx, scep_store_t *st,
                               const scep_txn_t *t)
{
    apr_dbd_prepared_t *s = stmt(ctx, st, "scep_txn_insert");
    apr_pool_t *p = ctx->pool;
    const char *now = num(p, (apr_int64_t)apr_time_sec(apr_time_now()));
    int nrows = 0, err;

    if (!s) {
        return SCEP_EDB;
    }
    err = apr_dbd_pvquery(st->driver, p, st->handle, &nrows, s,
                          t->ca, t->tid, num(p, t->msg_type), t->status,
                          t->dedup_key, t->key_fp, t->signer_fp, t->signer_cert,
                          t->csr, t->subject, t->renewal_of, t->profile,
                          t->client_addr, t->serial,
                          t->fail_info >= 0 ? num(p, t->fail_info) : NULL,
                          t->fail_text, now, now);
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00102)
                 "insert into scep_transactions failed: %s",
                 apr_dbd_error(st->driver, st->handle, err));
        return SCEP_EDB;
    }
    return APR_SUCCESS;
}

apr_status_t scep_store_find_live(apr_array_header_t **prows, scep_ctx_t *ctx,
                                  scep_store_t *st, const char *ca,
                                  const char *tid)
{
    apr_dbd_prepared_t *s = stmt(ctx, st, "scep_txn_find_live");
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_array_header_t *rows;
    apr_pool_t *p = ctx->pool;
    int err;

    if (!s) {
        return SCEP_EDB;
    }
    err = apr_dbd_pvselect(st->driver, p, st->handle, &res, s, 0, ca, tid);
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00103)
                 "looking up transaction %s failed: %s", tid,
                 apr_dbd_error(st->driver, st->handle, err));
        return SCEP_EDB;
    }
    rows = apr_array_make(p, 2, sizeof(scep_live_t));
    /* read to the end (-1) so the result set is released */
    while (apr_dbd_get_row(st->driver, p, res, &row, -1) == 0) {
        scep_live_t *l = apr_array_push(rows);
        l->status = apr_pstrdup(p, apr_dbd_get_entry(st->driver, row, 0));
        l->dedup_key = apr_pstrdup(p, apr_dbd_get_entry(st->driver, row, 1));
        l->key_fp = apr_pstrdup(p, apr_dbd_get_entry(st->driver, row, 2));
        l->serial = apr_pstrdup(p, apr_dbd_get_entry(st->driver, row, 3));
        l->cert_der = apr_pstrdup(p, apr_dbd_get_entry(st->driver, row, 4));
    }
    *prows = rows;
    return APR_SUCCESS;
}

apr_status_t scep_store_record_issued(scep_ctx_t *ctx, scep_store_t *st,
                                      const scep_txn_t *txn,
                                      const scep_cert_t *cert)
{
    apr_dbd_prepared_t *s = stmt(ctx, st, "scep_cert_insert");
    apr_dbd_transaction_t *trans = NULL;
    apr_pool_t *p = ctx->pool;
    apr_status_t rv = SCEP_EDB;
    int nrows = 0, err;
    const char *now = num(p, (apr_int64_t)apr_time_sec(apr_time_now()));

    if (!s) {
        return SCEP_EDB;
    }
    err = apr_dbd_transaction_start(st->driver, p, st->handle, &trans);
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00104)
                 "cannot start a database transaction: %s",
                 apr_dbd_error(st->driver, st->handle, err));
        return SCEP_EDB;
    }
    err = apr_dbd_pvquery(st->driver, p, st->handle, &nrows, s,
                          cert->ca, cert->serial, cert->subject,
                          num(p, cert->not_before), num(p, cert->not_after),
                          cert->der, now);
    if (err) {
        SCEP_LOG(ctx, SCEP_LOG_DEBUG, 0, SCEPLOGNO(00105)
                 "insert into scep_certificates failed: %s",
                 apr_dbd_error(st->driver, st->handle, err));
        goto leave;
    }
    if (insert_txn(ctx, st, txn) != APR_SUCCESS) {
        goto leave;
    }
    rv = APR_SUCCESS;
leave:
    if (rv != APR_SUCCESS) {
        apr_dbd_transaction_mode_set(st->driver, trans, APR_DBD_TRANSACTION_ROLLBACK);
    }
    err = apr_dbd_transaction_end(st->driver, p, trans);
    if (rv == APR_SUCCESS && err) {
        SCEP_LOG(ctx, SCEP_LOG_ERR, 0, SCEPLOGNO(00106)
                 "commit of certificate %s failed: %s", cert->serial,
                 apr_dbd_error(st->driver, st->handle, err));
        rv = SCEP_EDB;
    }
    if (rv != APR_SUCCESS && txn->dedup_key) {
        /* Did an identical request commit first? Then that is the answer. */
        apr_array_header_t *rows;
        int i;
        if (scep_store_find_live(&rows, ctx, st, txn->ca, txn->tid) == APR_SUCCESS) {
            for (i = 0; i < rows->nelts; i++) {
                if (!strcmp(APR_ARRAY_IDX(rows, i, scep_live_t).dedup_key, txn->dedup_key)) {
                    return SCEP_ECONFLICT;
                }
            }
        }
    }
    return rv;
}

apr_status_t scep_store_record_rejected(scep_ctx_t *ctx, scep_store_t *st,
                                        const scep_txn_t *txn)
{
    return insert_txn(ctx, st, txn);
}
