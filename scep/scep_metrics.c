/* mod_scep core: counters and latency histograms in one block of memory
 * that every child shares. Updates are atomic adds of 64-bit counters, so
 * no lock is taken on the request path; a scrape reads them as they are. */
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>

#include "scep_metrics.h"

/* Per Location: issued, pending, a failure per failInfo, renewals,
 * challenge failures, throttled. */
enum { L_ISSUED, L_PENDING, L_FAIL0, L_FAIL_LAST = L_FAIL0 + 4, L_NO_REPLY, L_RENEWALS,
       L_AUTH_FAILED, L_THROTTLED, L_COUNT };

/* Latency buckets, in milliseconds (then +Inf). */
static const int bucket_ms[] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 };
#define BUCKETS ((int)(sizeof(bucket_ms) / sizeof(bucket_ms[0])))

typedef struct histogram_t {
    apr_uint64_t bucket[BUCKETS + 1];     /* not cumulative; the last is +Inf */
    apr_uint64_t count;
    apr_uint64_t sum_usec;
} histogram_t;

struct scep_metrics_t {
    int nlocations;
    apr_uint64_t counter[SCEP_M_COUNT];
    histogram_t latency[SCEP_OP_COUNT];
    apr_uint64_t location[1][L_COUNT];    /* nlocations of them */
};

static const char *const op_names[SCEP_OP_COUNT] = {
    "GetCACaps", "GetCACert", "GetNextCACert", "PKCSReq", "RenewalReq", "CertPoll",
    "GetCert", "GetCRL", "other"
};

static const char *const fail_names[] = {
    "badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId"
};

apr_size_t scep_metrics_size(int nlocations)
{
    return sizeof(scep_metrics_t)
           + sizeof(apr_uint64_t[L_COUNT]) * (apr_size_t)(nlocations > 1 ? nlocations - 1 : 0);
}

scep_metrics_t *scep_metrics_init(void *mem, int nlocations)
{
    scep_metrics_t *m = mem;

    memset(mem, 0, scep_metrics_size(nlocations));
    m->nlocations = nlocations;
    return m;
}

void scep_metrics_txn(scep_metrics_t *m, int slot, const scep_metrics_txn_t *t)
{
    apr_uint64_t *c;

    if (!m || slot < 0 || slot >= m->nlocations) {
        return;
    }
    c = m->location[slot];
    if (t->pki_status == SCEP_STATUS_SUCCESS) apr_atomic_inc64(&c[L_ISSUED]);
    else if (t->pki_status == SCEP_STATUS_PENDING) apr_atomic_inc64(&c[L_PENDING]);
    else if (t->pki_status == SCEP_STATUS_FAILURE && t->fail_info >= 0 && t->fail_info <= 4)
        apr_atomic_inc64(&c[L_FAIL0 + t->fail_info]);
    else apr_atomic_inc64(&c[L_NO_REPLY]);
    if (t->renewal) apr_atomic_inc64(&c[L_RENEWALS]);
    if (t->auth_failed) apr_atomic_inc64(&c[L_AUTH_FAILED]);
    if (t->throttled) apr_atomic_inc64(&c[L_THROTTLED]);
}

void scep_metrics_latency(scep_metrics_t *m, scep_metrics_op_t op, apr_int64_t usec)
{
    histogram_t *h;
    int b;

    if (!m || op < 0 || op >= SCEP_OP_COUNT) {
        return;
    }
    h = &m->latency[op];
    for (b = 0; b < BUCKETS && usec > (apr_int64_t)bucket_ms[b] * 1000; b++) {
    }
    apr_atomic_inc64(&h->bucket[b]);
    apr_atomic_add64(&h->sum_usec, usec > 0 ? (apr_uint64_t)usec : 0);
    apr_atomic_inc64(&h->count);
}

void scep_metrics_add(scep_metrics_t *m, scep_metrics_counter_t which, apr_uint64_t n)
{
    if (m && which >= 0 && which < SCEP_M_COUNT) {
        apr_atomic_add64(&m->counter[which], n);
    }
}

scep_metrics_op_t scep_metrics_op_of(const char *operation, int msg_type)
{
    if (msg_type == SCEP_MSG_PKCSREQ) return SCEP_OP_PKCSREQ;
    if (msg_type == SCEP_MSG_RENEWALREQ) return SCEP_OP_RENEWALREQ;
    if (msg_type == SCEP_MSG_CERTPOLL) return SCEP_OP_CERTPOLL;
    if (msg_type == SCEP_MSG_GETCERT) return SCEP_OP_GETCERT;
    if (msg_type == SCEP_MSG_GETCRL) return SCEP_OP_GETCRL;
    if (operation && !strcasecmp(operation, "GetCACaps")) return SCEP_OP_GETCACAPS;
    if (operation && !strcasecmp(operation, "GetCACert")) return SCEP_OP_GETCACERT;
    if (operation && !strcasecmp(operation, "GetNextCACert")) return SCEP_OP_GETNEXTCACERT;
    return SCEP_OP_OTHER;
}

/* A label value: '\', '"' and a line break escaped, as the format wants. */
static const char *label(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, strlen(v) * 2 + 1), *o = out;

    for (; *v; v++) {
        if (*v == '\\' || *v == '"') { *o++ = '\\'; *o++ = *v; }
        else if (*v == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else *o++ = *v;
    }
    *o = '\0';
    return out;
}

static const char *u64(apr_pool_t *p, apr_uint64_t v)
{
    return apr_psprintf(p, "%" APR_UINT64_T_FMT, v);
}

static const char *location_series(apr_pool_t *p, const scep_metrics_t *m,
                                   const char *const *locations)
{
    const char *out = "# HELP scep_enrollments_total Enrollment transactions by Location "
        "and outcome (issued, pending, failure with its failInfo, noreply: no CertRep).\n"
        "# TYPE scep_enrollments_total counter\n";
    const char *more = "# HELP scep_renewals_total Transactions that renew a certificate of ours.\n"
        "# TYPE scep_renewals_total counter\n";
    const char *auth = "# HELP scep_challenge_failures_total Refusals for a wrong or unusable "
        "challenge.\n# TYPE scep_challenge_failures_total counter\n";
    const char *thr = "# HELP scep_throttled_total Refusals by SCEPChallengeThrottle.\n"
        "# TYPE scep_throttled_total counter\n";
    int i, f;

    for (i = 0; i < m->nlocations; i++) {
        const apr_uint64_t *c = m->location[i];
        const char *loc = label(p, locations[i]);
        out = apr_pstrcat(p, out,
            "scep_enrollments_total{location=\"", loc, "\",outcome=\"issued\",failinfo=\"\"} ",
            u64(p, c[L_ISSUED]), "\n",
            "scep_enrollments_total{location=\"", loc, "\",outcome=\"pending\",failinfo=\"\"} ",
            u64(p, c[L_PENDING]), "\n",
            "scep_enrollments_total{location=\"", loc, "\",outcome=\"noreply\",failinfo=\"\"} ",
            u64(p, c[L_NO_REPLY]), "\n", NULL);
        for (f = 0; f < 5; f++) {
            out = apr_pstrcat(p, out, "scep_enrollments_total{location=\"", loc,
                              "\",outcome=\"failure\",failinfo=\"", fail_names[f], "\"} ",
                              u64(p, c[L_FAIL0 + f]), "\n", NULL);
        }
        more = apr_pstrcat(p, more, "scep_renewals_total{location=\"", loc, "\"} ",
                           u64(p, c[L_RENEWALS]), "\n", NULL);
        auth = apr_pstrcat(p, auth, "scep_challenge_failures_total{location=\"", loc, "\"} ",
                           u64(p, c[L_AUTH_FAILED]), "\n", NULL);
        thr = apr_pstrcat(p, thr, "scep_throttled_total{location=\"", loc, "\"} ",
                          u64(p, c[L_THROTTLED]), "\n", NULL);
    }
    return apr_pstrcat(p, out, more, auth, thr, NULL);
}

static const char *latency_series(apr_pool_t *p, const scep_metrics_t *m)
{
    const char *out = "# HELP scep_request_duration_seconds Time from a request's arrival "
        "to its answer, by SCEP operation.\n# TYPE scep_request_duration_seconds histogram\n";
    int op, b;

    for (op = 0; op < SCEP_OP_COUNT; op++) {
        const histogram_t *h = &m->latency[op];
        apr_uint64_t cumulative = 0;
        for (b = 0; b <= BUCKETS; b++) {
            cumulative += h->bucket[b];
            out = apr_pstrcat(p, out, "scep_request_duration_seconds_bucket{operation=\"",
                              op_names[op], "\",le=\"", b < BUCKETS
                              ? apr_psprintf(p, "%g", bucket_ms[b] / 1000.0) : "+Inf", "\"} ",
                              u64(p, cumulative), "\n", NULL);
        }
        out = apr_pstrcat(p, out, "scep_request_duration_seconds_sum{operation=\"", op_names[op],
                          "\"} ", apr_psprintf(p, "%.6f", h->sum_usec / 1e6), "\n",
                          "scep_request_duration_seconds_count{operation=\"", op_names[op],
                          "\"} ", u64(p, h->count), "\n", NULL);
    }
    return out;
}

/* One counter family of one sample: its HELP, TYPE and value. */
static const char *counter_family(apr_pool_t *p, const char *name, const char *help,
                                  const char *value)
{
    return apr_pstrcat(p, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ",
                       value, "\n", NULL);
}

static const char *counter(apr_pool_t *p, const scep_metrics_t *m, scep_metrics_counter_t c,
                           const char *name, const char *help)
{
    return counter_family(p, name, help, u64(p, m->counter[c]));
}

/* A counter of microseconds, exposed in seconds. */
static const char *seconds(apr_pool_t *p, const scep_metrics_t *m, scep_metrics_counter_t c,
                           const char *name, const char *help)
{
    apr_uint64_t us = m->counter[c];

    return counter_family(p, name, help, apr_pstrcat(p, u64(p, us / 1000000),
                          apr_psprintf(p, ".%06u", (unsigned)(us % 1000000)), NULL));
}

static const char *ca_series(apr_pool_t *p, const scep_metrics_ca_t *cas, int ncas)
{
    const char *exp = "# HELP scep_certificate_expiry_seconds Seconds until the CA and RA "
        "certificates and the newest CRL run out.\n"
        "# TYPE scep_certificate_expiry_seconds gauge\n";
    const char *pend = "# HELP scep_pending_enrollments Enrollments waiting for approval.\n"
        "# TYPE scep_pending_enrollments gauge\n";
    int i;

    for (i = 0; i < ncas; i++) {
        const char *ca = label(p, cas[i].ca);
        exp = apr_pstrcat(p, exp,
            "scep_certificate_expiry_seconds{ca=\"", ca, "\",what=\"ca\"} ",
            apr_psprintf(p, "%" APR_INT64_T_FMT, cas[i].ca_expires_in), "\n",
            "scep_certificate_expiry_seconds{ca=\"", ca, "\",what=\"ra\"} ",
            apr_psprintf(p, "%" APR_INT64_T_FMT, cas[i].ra_expires_in), "\n", cas[i].crl_known
            ? apr_pstrcat(p, "scep_certificate_expiry_seconds{ca=\"", ca, "\",what=\"crl\"} ",
                          apr_psprintf(p, "%" APR_INT64_T_FMT, cas[i].crl_expires_in), "\n",
                          NULL) : "", NULL);
        if (cas[i].pending >= 0) {
            pend = apr_pstrcat(p, pend, "scep_pending_enrollments{ca=\"", ca, "\"} ",
                               apr_psprintf(p, "%" APR_INT64_T_FMT, cas[i].pending), "\n", NULL);
        }
    }
    return apr_pstrcat(p, exp, pend, NULL);
}

const char *scep_metrics_prometheus(apr_pool_t *p, const scep_metrics_t *m,
                                    const char *const *locations,
                                    const scep_metrics_ca_t *cas, int ncas)
{
    return apr_pstrcat(p, location_series(p, m, locations), latency_series(p, m),
        counter(p, m, SCEP_M_APPROVALS, "scep_approvals_total", "Enrollments approved by an administrator."),
        counter(p, m, SCEP_M_REJECTIONS, "scep_rejections_total", "Enrollments rejected by an administrator."),
        counter(p, m, SCEP_M_REVOCATIONS, "scep_revocations_total", "Certificates revoked by an administrator."),
        counter(p, m, SCEP_M_DB_ERRORS, "scep_database_errors_total", "SQL statements that failed."),
        counter(p, m, SCEP_M_DB_RETRIES, "scep_database_retries_total", "SQL statements tried again after their connection was re-opened (statements prepared again)."),
        counter(p, m, SCEP_M_UNAVAILABLE, "scep_unavailable_total", "SCEP requests answered 503: the records could not be read or written."),
        counter(p, m, SCEP_M_NOTIFY_DELIVERED, "scep_notifications_delivered_total", "Notifications delivered (webhook, Intune)."),
        counter(p, m, SCEP_M_NOTIFY_FAILED, "scep_notification_failures_total", "Notification attempts that failed (retried later)."),
        counter(p, m, SCEP_M_OCSP_RESPONSES, "scep_ocsp_responses_total", "OCSP responses sent."),
        counter(p, m, SCEP_M_OCSP_CACHED, "scep_ocsp_cached_total", "OCSP responses served from the shared cache."),
        counter(p, m, SCEP_M_DB_COMMITS, "scep_database_commits_total", "The records' write transactions (a group commit is one)."),
        counter(p, m, SCEP_M_DB_WRITES, "scep_database_writes_total", "The records' writes (a decision, an approval ...), alone or in a group commit."),
        seconds(p, m, SCEP_M_DB_LOCK_WAIT_US, "scep_database_write_lock_wait_seconds_total", "SQLite: time writers waited for the writers' lock (Mutex scep-db)."),
        seconds(p, m, SCEP_M_DB_LOCK_HELD_US, "scep_database_write_lock_held_seconds_total", "SQLite: time the writers' lock was held; near one second a second, the single writer is the bottleneck."),
        counter(p, m, SCEP_M_SLOT_WAITS, "scep_operation_slot_waits_total", "Times a PKIOperation waited for one of its child's slots (SCEPOperationSlots): before its work, or after a validator's answer."),
        seconds(p, m, SCEP_M_SLOT_WAIT_US, "scep_operation_slot_wait_seconds_total", "Time PKIOperations waited for a slot (SCEPOperationSlots)."),
        ca_series(p, cas, ncas), NULL);
}

const char *scep_metrics_plain(apr_pool_t *p, const scep_metrics_t *m,
                               const char *const *locations)
{
    const char *out = "";
    apr_uint64_t issued = 0, failed = 0;
    int i, f;

    for (i = 0; i < m->nlocations; i++) {
        const apr_uint64_t *c = m->location[i];
        apr_uint64_t fails = 0;
        for (f = 0; f < 5; f++) fails += c[L_FAIL0 + f];
        issued += c[L_ISSUED];
        failed += fails;
        out = apr_pstrcat(p, out, "SCEPIssued ", locations[i], ": ", u64(p, c[L_ISSUED]),
                          "\nSCEPPending ", locations[i], ": ", u64(p, c[L_PENDING]),
                          "\nSCEPFailed ", locations[i], ": ", u64(p, fails), "\n", NULL);
    }
    return apr_pstrcat(p, "SCEPIssuedTotal: ", u64(p, issued), "\nSCEPFailedTotal: ",
                       u64(p, failed), "\nSCEPRevocations: ",
                       u64(p, m->counter[SCEP_M_REVOCATIONS]), "\n", out, NULL);
}
