/*
 * scepbench - SCEP (RFC 8894) enrollment load generator.
 *
 * Pre-builds N unique PKCSReq messages (distinct RSA-2048 keys, cached on
 * disk between runs), sends each exactly once over HTTP/1.1 keep-alive
 * connections to 127.0.0.1 at a given concurrency (one thread per
 * connection), then verifies every reply: a CertRep whose signature verifies
 * against the GetCACert certificates (or --ca-certs), pkiStatus SUCCESS, the
 * transactionID and recipientNonce of its request; a sample of replies is
 * also decrypted and the issued certificate's key compared with the
 * request's.  Prints enrollments/s, latency percentiles and failures, and a
 * final machine-readable "RESULT key=value ..." line.
 *
 * Uses OpenSSL directly through the independent client library of client/
 * (scepc.h, shared with scepreq), never mod_scep's scep/ library.
 *
 * Exit status: 0 when every request succeeded, 1 when any failed, 2 on
 * usage or set-up errors.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "scepc.h"

#define MAX_CONCURRENCY 1024
#define MAX_REQUESTS    1000000
#define MAX_THREADS     64
#define KEY_BITS        2048

/* ------------------------------------------------------------------------ */
/* options                                                                   */

struct opts {
    const char *url;
    long n;
    int concurrency;
    const char *challenge;
    const char *challenge_file;
    const char *challenges;   /* one challenge per request, a line each */
    const char *cipher;
    const char *digest;
    const char *ca_certs;
    const char *cache_dir;
    const char *save_cacert;
    const char *cn_prefix;
    long key_pool;       /* 0: one key per request */
    long key_offset;
    long decrypt_every;  /* 0: never; 1: every reply */
    int timeout;         /* seconds per socket operation */
    int max_time;        /* seconds for the whole load phase */
    int threads;         /* build/verify threads */
    int verify_inline;
    int quiet;
    int wait;            /* seconds to wait for the server to answer GetCACert */
    int cacert_only;
    int prepare_keys;
    int echo;            /* the server echoes the message: no CertRep checks */
    const char *results; /* one line per request to this file */
};

static struct opts O;
static struct scepc_url g_url;    /* -u */

static void usage(void)
{
    fputs(
        "usage: scepbench -u URL [options]\n"
        "  -u, --url URL            http://127.0.0.1:PORT/path (only loopback addresses)\n"
        "  -n, --requests N         PKCSReq messages to send, each once (default 1000)\n"
        "  -c, --concurrency C      keep-alive connections, one thread each (default 8)\n"
        "  --challenge S            challengePassword    --challenge-file F  read it from F\n"
        "  --challenges F           one challenge a request: line i of F for request i\n"
        "                           (one-time challenges; F has at least N lines)\n"
        "  --cipher NAME            des|des3|aes128|aes192|aes256 (default aes128)\n"
        "  --digest NAME            signer digest (default sha256)\n"
        "  --ca-certs FILE          trust these certificates (PEM/DER/PKCS#7) for replies\n"
        "                           instead of what GetCACert returns\n"
        "  --save-cacert FILE       write the GetCACert body to FILE\n"
        "  --cache DIR              RSA-2048 key cache (default: cache/ beside the binary)\n"
        "  --key-pool K             reuse K keys round-robin with random transactionIDs\n"
        "                           (default: one key per request)\n"
        "  --key-offset I           start at cached key I (default 0)\n"
        "  --cn-prefix S            subject CN = S-RUNID-INDEX (default scepbench)\n"
        "  --decrypt-every K        decrypt every K-th reply and check the issued key\n"
        "                           (default 50; 1 = all, 0 = none)\n"
        "  --timeout S              per socket operation (default 60)\n"
        "  --max-time S             stop sending after S seconds (default 600)\n"
        "  --threads T              build/verify threads (default: online CPUs)\n"
        "  --verify-inline          verify each reply in the sender thread (default: after\n"
        "                           the timed phase, so verification does not steal CPU)\n"
        "  --wait S                 retry GetCACert for up to S seconds until the server\n"
        "                           answers (default 0: one try)\n"
        "  --cacert-only            fetch GetCACert (with --wait, --save-cacert) and exit\n"
        "  --results FILE           write one tab-separated line per request to FILE:\n"
        "                           index, transactionID, outcome (SUCCESS or the failure\n"
        "                           kind), HTTP status (0: no response), pkiStatus,\n"
        "                           failInfo, serial of the issued certificate (decrypted\n"
        "                           replies only; see --decrypt-every), resends, when it\n"
        "                           was sent (ms after the first), its latency (ms), detail\n"
        "                           ('-' for an absent field)\n"
        "  --prepare-keys           only make sure the key cache holds the keys a run with\n"
        "                           these -n/--key-pool/--key-offset needs, then exit\n"
        "  --echo                   a reply succeeds when it is HTTP 200 and its body is the\n"
        "                           request's message, byte for byte (bench/run.sh's ceiling\n"
        "                           cell, whose server answers no SCEP)\n"
        "  -q, --quiet              only the RESULT line\n",
        stderr);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "scepbench: %s: expected an integer in %ld..%ld, got '%s'\n", what, lo,
                hi, s);
        exit(2);
    }
    return v;
}

/* CPU seconds (user + system) this process has used so far */
static double cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The machine's CPU time (jiffies) from /proc/stat's first line: user
 * (with nice), system (with irq and softirq), idle (with iowait), steal,
 * and the total; 0 when it cannot be read. */
struct machine_cpu { unsigned long long user, sys, idle, steal, total; };

static int machine_cpu(struct machine_cpu *m)
{
    unsigned long long v[8] = { 0 };
    FILE *f = fopen("/proc/stat", "r");
    int n;

    memset(m, 0, sizeof(*m));
    if (f == NULL)
        return 0;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return 0;
    m->user = v[0] + v[1];
    m->sys = v[2] + v[5] + v[6];
    m->idle = v[3] + v[4];
    m->steal = v[7];
    m->total = m->user + m->sys + m->idle + m->steal;
    return 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;

    if (O.quiet)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

/* ------------------------------------------------------------------------ */
/* key cache                                                                 */

static EVP_PKEY **g_keys;
static long g_nkeys;
static atomic_long g_keygen_next;
static long g_keygen_want;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_cache_fp;

static void *keygen_thread(void *arg)
{
    (void)arg;
    for (;;) {
        long i = atomic_fetch_add(&g_keygen_next, 1);
        EVP_PKEY *k;
        unsigned char *der = NULL;
        int len;

        if (i >= g_keygen_want)
            break;
        if ((k = EVP_RSA_gen(KEY_BITS)) == NULL || (len = i2d_PrivateKey(k, &der)) <= 0) {
            fprintf(stderr, "scepbench: RSA key generation failed\n");
            ERR_print_errors_fp(stderr);
            EVP_PKEY_free(k);
            continue;
        }
        pthread_mutex_lock(&g_lock);
        if (g_cache_fp != NULL && fwrite(der, 1, (size_t)len, g_cache_fp) != (size_t)len) {
            fprintf(stderr, "scepbench: cannot append to the key cache\n");
            fclose(g_cache_fp);
            g_cache_fp = NULL;
        }
        g_keys[g_nkeys++] = k;
        if (g_nkeys % 100 == 0)
            note("scepbench: generated %ld/%ld RSA-%d keys\n", g_nkeys, g_keygen_want,
                 KEY_BITS);
        pthread_mutex_unlock(&g_lock);
        OPENSSL_free(der);
    }
    return NULL;
}

static int exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    char *slash;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if ((slash = strrchr(buf, '/')) == NULL)
        return 0;
    *slash = '\0';
    return 1;
}

/* DIR/rsa2048.der (DIR: --cache, else cache/ beside the binary), opened and
 * locked: its descriptor, or -1. */
static int cache_open(char *path, size_t pathlen)
{
    char dir[PATH_MAX];
    int fd;

    if (O.cache_dir != NULL)
        snprintf(dir, sizeof(dir), "%s", O.cache_dir);
    else if (exe_dir(dir, sizeof(dir) - 8))
        strcat(dir, "/cache");
    else
        snprintf(dir, sizeof(dir), "cache");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "scepbench: mkdir %s: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(path, pathlen, "%s/rsa%d.der", dir, KEY_BITS);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "scepbench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "scepbench: flock %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Generates the keys up to `want` on O.threads threads, appending them to
 * the cache file fd after its first `good` bytes. */
static int keys_generate(int fd, long good, const char *path, long want)
{
    pthread_t th[MAX_THREADS];
    int fd2, nthreads, i;
    double t0;

    g_keygen_want = want;
    atomic_store(&g_keygen_next, g_nkeys);
    fd2 = dup(fd);
    if (fd2 < 0 || lseek(fd2, good > 0 ? good : 0, SEEK_SET) < 0
        || (g_cache_fp = fdopen(fd2, "r+")) == NULL || fseek(g_cache_fp, good, SEEK_SET) != 0) {
        fprintf(stderr, "scepbench: cannot write the key cache %s\n", path);
        return 0;
    }
    note("scepbench: generating %ld RSA-%d keys into %s (once; cached for later runs)\n",
         want - g_nkeys, KEY_BITS, path);
    t0 = now_s();
    nthreads = O.threads;
    for (i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, keygen_thread, NULL) != 0) {
            nthreads = i;
            break;
        }
    for (i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    if (g_cache_fp != NULL && fclose(g_cache_fp) != 0)
        fprintf(stderr, "scepbench: writing %s failed\n", path);
    g_cache_fp = NULL;
    note("scepbench: key generation took %.1f s\n", now_s() - t0);
    return g_nkeys == want;
}

/* Loads `want` keys from DIR/rsa2048.der (concatenated DER RSAPrivateKey),
 * generating and appending any missing ones.  The file is locked while in
 * use, so concurrent runs share it safely. */
static int keys_load(long want)
{
    char path[PATH_MAX + 32];
    unsigned char *buf = NULL;
    const unsigned char *p, *end;
    long len = 0, good = 0;
    int fd, ok = 0;

    if ((fd = cache_open(path, sizeof(path))) < 0)
        return 0;
    if ((g_keys = OPENSSL_zalloc(sizeof(*g_keys) * (size_t)want)) == NULL)
        goto done;
    if (!scepc_read_file(path, &buf, &len))
        goto done;
    p = buf;
    end = buf + len;
    while (g_nkeys < want && p < end) {
        EVP_PKEY *k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, end - p);

        if (k == NULL) {
            ERR_clear_error();
            break;
        }
        g_keys[g_nkeys++] = k;
        good = p - buf;
    }
    if (g_nkeys < want && p < end) {
        /* scan the rest: a torn append at the end is cut off */
        long count_ok = g_nkeys;

        good = p - buf;
        note("scepbench: %s: keeping the first %ld keys (damaged tail cut)\n", path, count_ok);
        if (ftruncate(fd, good) != 0) {
            fprintf(stderr, "scepbench: ftruncate %s: %s\n", path, strerror(errno));
            goto done;
        }
    }
    ok = g_nkeys == want || keys_generate(fd, good, path, want);
done:
    OPENSSL_free(buf);
    close(fd); /* releases the lock */
    return ok;
}

/* ------------------------------------------------------------------------ */
/* requests                                                                  */

struct item {
    /* built before the run */
    EVP_PKEY *key;               /* borrowed from g_keys */
    X509 *signer;
    unsigned char *http;         /* the whole HTTP request */
    size_t http_len;
    size_t msg_len;              /* the PKIMessage, the request's last bytes */
    unsigned char nonce[SCEPC_NONCE_LEN];
    char *tid;
    /* filled by the run */
    int sent;
    double sent_at;              /* seconds since the first request */
    double latency;              /* seconds */
    int resent;
    struct scepc_response resp;
    const char *fail_kind;       /* NULL = success */
    char fail[200];
    /* from the verified reply, for --results ("" when absent) */
    char pki_status[8];
    char fail_info[8];
    char serial[80];             /* uppercase hex, from the decrypted certificate */
};

static struct item *g_items;
static STACK_OF(X509) *g_cacerts;    /* GetCACert */
static STACK_OF(X509) *g_recips;     /* borrowed from g_cacerts */
static STACK_OF(X509) *g_trust;      /* --ca-certs or g_cacerts */
static X509_STORE *g_store;
static EVP_CIPHER *g_cipher;
static const EVP_MD *g_md;
static char g_runid[16];
static char g_challenge[1024];
static char **g_challenges;          /* --challenges: one a request */
static long g_nchallenges;
static atomic_long g_next;
static atomic_int g_build_failed;
static X509 **g_signer_cache;        /* --key-pool: one self-signed signer per key */
static pthread_mutex_t g_signer_lock = PTHREAD_MUTEX_INITIALIZER;

/* The request's signer: with --key-pool one self-signed certificate per pool
 * key, made on first use and shared (as a device keeps its own), so building
 * costs two RSA signatures per request instead of three; otherwise a new one. */
static X509 *signer_for(long k, EVP_PKEY *key)
{
    X509 *x;

    if (g_signer_cache == NULL)
        return scepc_signer_selfsigned(key, SCEPC_DEFAULT_SIGNER_DN);
    pthread_mutex_lock(&g_signer_lock);
    if (g_signer_cache[k] == NULL)
        g_signer_cache[k] = scepc_signer_selfsigned(key, SCEPC_DEFAULT_SIGNER_DN);
    x = g_signer_cache[k];
    if (x != NULL && !X509_up_ref(x))
        x = NULL;
    pthread_mutex_unlock(&g_signer_lock);
    return x;
}

static int build_one(long i)
{
    struct item *it = &g_items[i];
    struct scepc_csr_params cp;
    struct scepc_attr attrs[3];
    X509_REQ *req = NULL;
    unsigned char *csr = NULL, *env = NULL, *msg = NULL;
    int csr_len, env_len = 0, msg_len = 0, nattrs = 0, hl, ok = 0;
    char subject[200], head[4096];
    long k = O.key_pool > 0 ? (O.key_offset + i % O.key_pool) : (O.key_offset + i);

    it->key = g_keys[k];
    snprintf(subject, sizeof(subject), "/CN=%s-%s-%ld", O.cn_prefix, g_runid, i);
    memset(&cp, 0, sizeof(cp));
    cp.subject = subject;
    cp.challenge = g_challenges != NULL ? g_challenges[i] : g_challenge[0] ? g_challenge : NULL;
    cp.md = EVP_sha256();
    if ((req = scepc_csr_build(it->key, &cp)) == NULL || (csr_len = i2d_X509_REQ(req, &csr)) <= 0)
        goto done;
    if (O.key_pool > 0) {
        unsigned char r[16];

        if (RAND_bytes(r, sizeof(r)) != 1 || (it->tid = scepc_hex_encode(r, sizeof(r))) == NULL)
            goto done;
    } else if ((it->tid = scepc_tid_from_pubkey(it->key)) == NULL) {
        goto done;
    }
    if (RAND_bytes(it->nonce, SCEPC_NONCE_LEN) != 1)
        goto done;
    if ((it->signer = signer_for(k, it->key)) == NULL)
        goto done;
    if (!scepc_envelope_build(csr, csr_len, g_recips, g_cipher, &env, &env_len))
        goto done;
    scepc_attr_add(attrs, &nattrs, scepc_nid.message_type, V_ASN1_PRINTABLESTRING, "19", 2);
    scepc_attr_add(attrs, &nattrs, scepc_nid.transaction_id, V_ASN1_PRINTABLESTRING, it->tid,
                   (int)strlen(it->tid));
    scepc_attr_add(attrs, &nattrs, scepc_nid.sender_nonce, V_ASN1_OCTET_STRING, it->nonce,
                   SCEPC_NONCE_LEN);
    if (!scepc_pkimessage_sign(env, env_len, it->signer, it->key, NULL, g_md, attrs, nattrs, 0,
                               &msg, &msg_len))
        goto done;
    hl = snprintf(head, sizeof(head),
                  "POST %s?operation=PKIOperation HTTP/1.1\r\n"
                  "Host: %s\r\n"
                  "User-Agent: scepbench\r\n"
                  "Content-Type: application/x-pki-message\r\n"
                  "Content-Length: %d\r\n"
                  "\r\n",
                  g_url.path, g_url.host, msg_len);
    if (hl <= 0 || (size_t)hl >= sizeof(head)
        || (it->http = malloc((size_t)hl + (size_t)msg_len)) == NULL)
        goto done;
    memcpy(it->http, head, (size_t)hl);
    memcpy(it->http + hl, msg, (size_t)msg_len);
    it->http_len = (size_t)hl + (size_t)msg_len;
    it->msg_len = (size_t)msg_len;
    ok = 1;
done:
    X509_REQ_free(req);
    OPENSSL_free(csr);
    OPENSSL_free(env);
    OPENSSL_free(msg);
    return ok;
}

static void *build_thread(void *arg)
{
    (void)arg;
    for (;;) {
        long i = atomic_fetch_add(&g_next, 1);

        if (i >= O.n || atomic_load(&g_build_failed))
            break;
        if (!build_one(i))
            atomic_store(&g_build_failed, 1);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* verification                                                              */

static atomic_long g_decrypted;

static void fail(struct item *it, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct item *it, const char *kind, const char *fmt, ...)
{
    va_list ap;

    it->fail_kind = kind;
    va_start(ap, fmt);
    vsnprintf(it->fail, sizeof(it->fail), fmt, ap);
    va_end(ap);
}

static int str_is(const ASN1_STRING *s, const char *v)
{
    return s != NULL && ASN1_STRING_length(s) == (int)strlen(v)
           && memcmp(ASN1_STRING_get0_data(s), v, strlen(v)) == 0;
}

static void verify_one(long i)
{
    struct item *it = &g_items[i];
    struct scepc_reply r;
    unsigned char *pt = NULL;
    long pt_len = 0;
    char cipher[80];
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;

    if (it->fail_kind != NULL)
        return;
    if (it->resp.status != 200) {
        fail(it, "http", "HTTP status %d", it->resp.status);
        return;
    }
    if (O.echo) {
        /* the message is the request's last msg_len bytes, after its headers */
        if (it->resp.body_len != it->msg_len
            || memcmp(it->resp.body, it->http + it->http_len - it->msg_len, it->msg_len) != 0)
            fail(it, "echo", "reply body is not the request's message (%zu bytes, %zu sent)",
                 it->resp.body_len, it->msg_len);
        free(it->resp.body);
        it->resp.body = NULL;
        return;
    }
    if (!scepc_reply_parse(it->resp.body, (long)it->resp.body_len, g_store, &r)) {
        fail(it, "parse", "reply is not a CertRep SignedData (%zu bytes, %s)",
             it->resp.body_len, it->resp.content_type);
        ERR_clear_error();
        return;
    }
    if (r.verified) {
        if (r.pki_status != NULL)
            snprintf(it->pki_status, sizeof(it->pki_status), "%.*s",
                     ASN1_STRING_length(r.pki_status),
                     (const char *)ASN1_STRING_get0_data(r.pki_status));
        if (r.fail_info != NULL)
            snprintf(it->fail_info, sizeof(it->fail_info), "%.*s",
                     ASN1_STRING_length(r.fail_info),
                     (const char *)ASN1_STRING_get0_data(r.fail_info));
    }
    if (!r.verified)
        fail(it, "signature", "CertRep signature does not verify against the CA/RA certs");
    else if (!str_is(r.message_type, "3"))
        fail(it, "messageType", "messageType is not 3 (CertRep)");
    else if (!str_is(r.pki_status, "0")) {
        char text[120] = "";

        if (r.fail_info_text != NULL)
            snprintf(text, sizeof(text), ": %.*s", ASN1_STRING_length(r.fail_info_text),
                     (const char *)ASN1_STRING_get0_data(r.fail_info_text));
        fail(it, str_is(r.pki_status, "3") ? "PENDING" : "FAILURE",
             "pkiStatus %.*s failInfo %.*s%s",
             r.pki_status ? ASN1_STRING_length(r.pki_status) : 1,
             r.pki_status ? (const char *)ASN1_STRING_get0_data(r.pki_status) : "-",
             r.fail_info ? ASN1_STRING_length(r.fail_info) : 1,
             r.fail_info ? (const char *)ASN1_STRING_get0_data(r.fail_info) : "-", text);
    } else if (!str_is(r.tid, it->tid))
        fail(it, "transactionID", "transactionID differs from the request's");
    else if (r.recipient_nonce == NULL || ASN1_STRING_length(r.recipient_nonce) != SCEPC_NONCE_LEN
             || memcmp(ASN1_STRING_get0_data(r.recipient_nonce), it->nonce, SCEPC_NONCE_LEN) != 0)
        fail(it, "recipientNonce", "recipientNonce is not the request's senderNonce");
    else if (r.econtent == NULL || ASN1_STRING_length(r.econtent) == 0)
        fail(it, "envelope", "SUCCESS without EnvelopedData");
    else if (O.decrypt_every > 0 && i % O.decrypt_every == 0) {
        if (!scepc_envelope_open(ASN1_STRING_get0_data(r.econtent), ASN1_STRING_length(r.econtent),
                           it->key, it->signer, cipher, sizeof(cipher), &pt, &pt_len)
            || !scepc_bundle_parse(pt, pt_len, &certs, &crls))
            fail(it, "decrypt", "cannot decrypt the reply envelope");
        else if (sk_X509_num(certs) < 1)
            fail(it, "decrypt", "no certificate in the reply");
        else if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, 0)), it->key) != 1)
            fail(it, "decrypt", "issued certificate carries another public key");
        else {
            BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(sk_X509_value(certs, 0)),
                                            NULL);
            char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

            if (hex != NULL)
                snprintf(it->serial, sizeof(it->serial), "%s", hex);
            OPENSSL_free(hex);
            BN_free(bn);
            atomic_fetch_add(&g_decrypted, 1);
        }
        ERR_clear_error();
    }
    scepc_reply_free(&r);
    OPENSSL_free(pt);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    /* the body is no longer needed */
    free(it->resp.body);
    it->resp.body = NULL;
}

static void *verify_thread(void *arg)
{
    (void)arg;
    for (;;) {
        long i = atomic_fetch_add(&g_next, 1);

        if (i >= O.n)
            break;
        if (g_items[i].sent)
            verify_one(i);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* load                                                                      */

static double g_deadline;
static double g_run_start;       /* now_s() when the load started */

static void *load_thread(void *arg)
{
    struct scepc_conn c = { .url = &g_url, .timeout = O.timeout, .fd = -1 };
    char err[200];

    (void)arg;
    for (;;) {
        long i;
        struct item *it;
        double t0;

        if (now_s() >= g_deadline)
            break;
        i = atomic_fetch_add(&g_next, 1);
        if (i >= O.n)
            break;
        it = &g_items[i];
        it->sent = 1;
        t0 = now_s();
        it->sent_at = t0 - g_run_start;
        if (!scepc_http_exchange(&c, it->http, it->http_len, &it->resp, &it->resent, err,
                           sizeof(err))) {
            it->latency = now_s() - t0;
            fail(it, "transport", "%s", err);
            continue;
        }
        it->latency = now_s() - t0;
        if (O.verify_inline)
            verify_one(i);
    }
    scepc_conn_close(&c);
    free(c.buf);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* GetCACert                                                                 */

static STACK_OF(X509) *certs_from_body(const unsigned char *b, size_t n)
{
    STACK_OF(X509) *s = NULL;
    const unsigned char *p = b;
    X509 *x;
    CMS_ContentInfo *cms;

    if ((x = d2i_X509(NULL, &p, (long)n)) != NULL && p == b + n) {
        if ((s = sk_X509_new_null()) == NULL || !sk_X509_push(s, x)) {
            X509_free(x);
            sk_X509_free(s);
            return NULL;
        }
        return s;
    }
    X509_free(x);
    p = b;
    if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)n)) != NULL) {
        s = CMS_get1_certs(cms);
        CMS_ContentInfo_free(cms);
    }
    ERR_clear_error();
    return s;
}

static int get_cacert(void)
{
    struct scepc_conn c = { .url = &g_url, .timeout = O.timeout, .fd = -1 };
    struct scepc_response r;
    char req[4096], err[200];
    int resent = 0, ok = 0, n, got;
    double until = now_s() + O.wait;

    n = snprintf(req, sizeof(req),
                 "GET %s?operation=GetCACert&message=scepbench HTTP/1.1\r\n"
                 "Host: %s\r\nUser-Agent: scepbench\r\nConnection: close\r\n\r\n",
                 g_url.path, g_url.host);
    memset(&r, 0, sizeof(r));
    for (;;) {
        got = scepc_http_exchange(&c, (unsigned char *)req, (size_t)n, &r, &resent, err,
                                  sizeof(err));
        if (got && r.status == 200)
            break;
        if (now_s() >= until) {
            if (!got)
                fprintf(stderr, "scepbench: GetCACert from %s: %s\n", g_url.host, err);
            else
                fprintf(stderr, "scepbench: GetCACert: HTTP %d\n", r.status);
            goto done;
        }
        free(r.body);
        memset(&r, 0, sizeof(r));
        scepc_conn_close(&c);
        usleep(100000);
    }
    if (O.save_cacert != NULL && !scepc_write_file(O.save_cacert, r.body, (long)r.body_len))
        goto done;
    if ((g_cacerts = certs_from_body(r.body, r.body_len)) == NULL
        || sk_X509_num(g_cacerts) == 0) {
        fprintf(stderr, "scepbench: GetCACert: no certificate in the %zu-byte body (%s)\n",
                r.body_len, r.content_type);
        goto done;
    }
    note("scepbench: GetCACert: %d certificate(s), %s\n", sk_X509_num(g_cacerts),
         r.content_type);
    ok = 1;
done:
    scepc_conn_close(&c);
    free(c.buf);
    free(r.body);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* --results                                                                 */

/* A field for the results file: '-' when empty; tabs and newlines become spaces. */
static void field(FILE *f, const char *s, int last)
{
    if (s == NULL || *s == '\0')
        fputc('-', f);
    for (; s != NULL && *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
    fputc(last ? '\n' : '\t', f);
}

static int write_results(const char *path)
{
    FILE *f = fopen(path, "w");
    long i;

    if (f == NULL) {
        fprintf(stderr, "scepbench: %s: %s\n", path, strerror(errno));
        return 0;
    }
    fprintf(f, "# index\ttid\toutcome\thttp\tpki_status\tfail_info\tserial\tresent\tsent_ms"
               "\tlatency_ms\tdetail\n");
    for (i = 0; i < O.n; i++) {
        struct item *it = &g_items[i];
        char num[32];

        snprintf(num, sizeof(num), "%ld", i);
        field(f, num, 0);
        field(f, it->tid, 0);
        field(f, it->fail_kind == NULL ? "SUCCESS" : it->fail_kind, 0);
        snprintf(num, sizeof(num), "%d", it->sent ? it->resp.status : 0);
        field(f, num, 0);
        field(f, it->pki_status, 0);
        field(f, it->fail_info, 0);
        field(f, it->serial, 0);
        snprintf(num, sizeof(num), "%d", it->resent);
        field(f, num, 0);
        snprintf(num, sizeof(num), "%.3f", it->sent ? it->sent_at * 1e3 : 0.0);
        field(f, it->sent ? num : NULL, 0);
        snprintf(num, sizeof(num), "%.3f", it->sent ? it->latency * 1e3 : 0.0);
        field(f, it->sent ? num : NULL, 0);
        field(f, it->fail_kind == NULL ? NULL : it->fail, 1);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "scepbench: writing %s failed\n", path);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
    long k;

    if (n == 0)
        return 0;
    k = (long)(p / 100.0 * (double)n + 0.999999) - 1; /* nearest rank */
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

static int run_threads(int n, void *(*fn)(void *))
{
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    int i, started = 0;

    if (th == NULL)
        return 0;
    atomic_store(&g_next, 0);
    for (i = 0; i < n; i++) {
        if (pthread_create(&th[i], NULL, fn, NULL) != 0) {
            fprintf(stderr, "scepbench: pthread_create: %s\n", strerror(errno));
            break;
        }
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    return started == n;
}

/* The options: a string, a number in lo..hi (long or int), or a flag. */
enum opt_kind { OPT_STR, OPT_LONG, OPT_INT, OPT_FLAG };

static const struct bench_opt {
    const char *s, *l; /* short name (or NULL) and long name */
    enum opt_kind kind;
    void *dst;
    long lo, hi;
} bench_optv[] = {
    { "-u", "--url", OPT_STR, &O.url, 0, 0 },
    { "-n", "--requests", OPT_LONG, &O.n, 1, MAX_REQUESTS },
    { "-c", "--concurrency", OPT_INT, &O.concurrency, 1, MAX_CONCURRENCY },
    { NULL, "--challenge", OPT_STR, &O.challenge, 0, 0 },
    { NULL, "--challenge-file", OPT_STR, &O.challenge_file, 0, 0 },
    { NULL, "--challenges", OPT_STR, &O.challenges, 0, 0 },
    { NULL, "--cipher", OPT_STR, &O.cipher, 0, 0 },
    { NULL, "--digest", OPT_STR, &O.digest, 0, 0 },
    { NULL, "--ca-certs", OPT_STR, &O.ca_certs, 0, 0 },
    { NULL, "--save-cacert", OPT_STR, &O.save_cacert, 0, 0 },
    { NULL, "--cache", OPT_STR, &O.cache_dir, 0, 0 },
    { NULL, "--key-pool", OPT_LONG, &O.key_pool, 1, MAX_REQUESTS },
    { NULL, "--key-offset", OPT_LONG, &O.key_offset, 0, MAX_REQUESTS },
    { NULL, "--cn-prefix", OPT_STR, &O.cn_prefix, 0, 0 },
    { NULL, "--decrypt-every", OPT_LONG, &O.decrypt_every, 0, MAX_REQUESTS },
    { NULL, "--timeout", OPT_INT, &O.timeout, 1, 3600 },
    { NULL, "--max-time", OPT_INT, &O.max_time, 1, 86400 },
    { NULL, "--threads", OPT_INT, &O.threads, 1, MAX_THREADS },
    { NULL, "--verify-inline", OPT_FLAG, &O.verify_inline, 0, 0 },
    { NULL, "--wait", OPT_INT, &O.wait, 0, 3600 },
    { NULL, "--cacert-only", OPT_FLAG, &O.cacert_only, 0, 0 },
    { NULL, "--prepare-keys", OPT_FLAG, &O.prepare_keys, 0, 0 },
    { NULL, "--echo", OPT_FLAG, &O.echo, 0, 0 },
    { NULL, "--results", OPT_STR, &O.results, 0, 0 },
    { "-q", "--quiet", OPT_FLAG, &O.quiet, 0, 0 },
};

static const struct bench_opt *bench_opt_find(const char *a)
{
    size_t i;

    for (i = 0; i < sizeof(bench_optv) / sizeof(bench_optv[0]); i++)
        if ((bench_optv[i].s != NULL && strcmp(a, bench_optv[i].s) == 0)
            || strcmp(a, bench_optv[i].l) == 0)
            return &bench_optv[i];
    return NULL;
}

/* The options into O: -1 to go on, else the exit status (0 for --help). */
static int bench_opts(int argc, char **argv)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int i;

    O.n = 1000;
    O.concurrency = 8;
    O.cipher = "aes128";
    O.digest = "sha256";
    O.cn_prefix = "scepbench";
    O.decrypt_every = 50;
    O.timeout = 60;
    O.max_time = 600;
    O.threads = ncpu > 0 ? (int)(ncpu < MAX_THREADS ? ncpu : MAX_THREADS) : 2;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const struct bench_opt *o = bench_opt_find(a);

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        }
        if (o == NULL || (o->kind != OPT_FLAG && v == NULL)) {
            if (o == NULL)
                fprintf(stderr, "scepbench: unknown option %s\n", a);
            else
                fprintf(stderr, "scepbench: %s needs a value\n", a);
            usage();
            return 2;
        }
        if (o->kind == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        i++;
        if (o->kind == OPT_STR)
            *(const char **)o->dst = v;
        else if (o->kind == OPT_LONG)
            *(long *)o->dst = parse_long(v, a, o->lo, o->hi);
        else
            *(int *)o->dst = (int)parse_long(v, a, o->lo, o->hi);
    }
    return -1;
}

/* --challenges: line i is request i's challenge; 1, or 0 after saying why. */
static int challenges_load(const char *file)
{
    unsigned char *b;
    long l, i, start = 0;

    if (!scepc_read_file(file, &b, &l))
        return 0;
    if ((g_challenges = calloc((size_t)O.n, sizeof(*g_challenges))) == NULL) {
        OPENSSL_free(b);
        return 0;
    }
    for (i = 0; i <= l && g_nchallenges < O.n; i++) {
        if (i < l && b[i] != '\n')
            continue;
        if (i > start && (g_challenges[g_nchallenges] = strndup((char *)b + start,
                              (size_t)(i - start - (b[i - 1] == '\r')))) != NULL)
            g_nchallenges++;
        start = i + 1;
    }
    OPENSSL_free(b);
    if (g_nchallenges < O.n) {
        fprintf(stderr, "scepbench: %s has %ld challenges for %ld requests\n", file,
                g_nchallenges, O.n);
        return 0;
    }
    return 1;
}

/* -u and the challenge: 1, or 0 after saying what is wrong. */
static int bench_inputs(void)
{
    unsigned char *b;
    long l;

    if (O.url == NULL) {
        fprintf(stderr, "scepbench: -u URL is required\n");
        usage();
        return 0;
    }
    if (!scepc_url_parse(&g_url, O.url))
        return 0;
    if ((O.challenge != NULL) + (O.challenge_file != NULL) + (O.challenges != NULL) > 1) {
        fprintf(stderr, "scepbench: use one of --challenge, --challenge-file, --challenges\n");
        return 0;
    }
    if (O.challenges != NULL && !challenges_load(O.challenges))
        return 0;
    if (O.challenge != NULL)
        snprintf(g_challenge, sizeof(g_challenge), "%s", O.challenge);
    if (O.challenge_file != NULL) {
        if (!scepc_read_file(O.challenge_file, &b, &l))
            return 0;
        while (l > 0 && (b[l - 1] == '\n' || b[l - 1] == '\r'))
            l--;
        snprintf(g_challenge, sizeof(g_challenge), "%.*s", (int)l, (char *)b);
        OPENSSL_free(b);
    }
    return 1;
}

/* What the run sends with: its id (in the subjects), cipher, digest, the
 * CA/RA certificates (recipients from GetCACert; trust from there or
 * --ca-certs). 0 to go on, else the exit status. */
static int bench_prepare(void)
{
    unsigned char r[4];
    char *h;

    if (RAND_bytes(r, sizeof(r)) != 1 || (h = scepc_hex_encode(r, sizeof(r))) == NULL)
        return 2;
    snprintf(g_runid, sizeof(g_runid), "%s", h);
    OPENSSL_free(h);
    if ((g_cipher = scepc_cipher_fetch(O.cipher)) == NULL
        || (g_md = scepc_digest_get(O.digest)) == NULL)
        return 2;
    if (!get_cacert())
        return 2;
    if (O.cacert_only)
        return 0;
    if ((g_recips = scepc_recipients_select(g_cacerts, 0)) == NULL)
        return 2;
    g_trust = g_cacerts;
    if (O.ca_certs != NULL && (g_trust = scepc_load_certs(O.ca_certs)) == NULL)
        return 2;
    if ((g_store = scepc_trust_store(g_trust)) == NULL)
        return 2;
    return 0;
}

/* The outcome of a run */
struct tally {
    long ok, failed, unsent, resent;
    double *lat;   /* latencies of the requests that were answered, sorted */
    long nlat;
    struct {
        const char *kind;
        long count;
        char example[200];
    } kinds[16];   /* the kinds of failure, each with its first message */
    int nkinds;
};

static void tally_failure(struct tally *t, const struct item *it)
{
    int k;

    for (k = 0; k < t->nkinds; k++)
        if (strcmp(t->kinds[k].kind, it->fail_kind) == 0)
            break;
    if (k == t->nkinds && t->nkinds < (int)(sizeof(t->kinds) / sizeof(t->kinds[0]))) {
        t->kinds[k].kind = it->fail_kind;
        snprintf(t->kinds[k].example, sizeof(t->kinds[k].example), "%s", it->fail);
        t->nkinds++;
    }
    if (k < t->nkinds)
        t->kinds[k].count++;
}

static int tally_items(struct tally *t)
{
    long i;

    if ((t->lat = calloc((size_t)O.n, sizeof(*t->lat))) == NULL)
        return 0;
    for (i = 0; i < O.n; i++) {
        struct item *it = &g_items[i];

        t->resent += it->resent;
        if (!it->sent) {
            t->unsent++;
            fail(it, "not sent", "not sent: --max-time %d s reached", O.max_time);
        } else if (it->fail_kind == NULL || strcmp(it->fail_kind, "transport") != 0) {
            t->lat[t->nlat++] = it->latency;
        }
        if (it->fail_kind == NULL) {
            t->ok++;
            continue;
        }
        t->failed++;
        tally_failure(t, it);
    }
    qsort(t->lat, (size_t)t->nlat, sizeof(*t->lat), cmp_double);
    return 1;
}

static void tally_print(const struct tally *t, double elapsed, double client_cpu,
                        const struct machine_cpu *m0, const struct machine_cpu *m1)
{
    double span = m1->total > m0->total ? (double)(m1->total - m0->total) : 0.0;
#define CPU_PCT(f) (span > 0 ? 100.0 * (double)(m1->f - m0->f) / span : -1.0)
    double rate = elapsed > 0 ? (double)t->ok / elapsed : 0.0;
    double p50 = 1e3 * pct(t->lat, t->nlat, 50), p90 = 1e3 * pct(t->lat, t->nlat, 90);
    double p99 = 1e3 * pct(t->lat, t->nlat, 99);
    double max = 1e3 * (t->nlat ? t->lat[t->nlat - 1] : 0);
    int k;

    for (k = 0; k < t->nkinds; k++)
        fprintf(stderr, "scepbench: %ld failure(s) of kind %s, e.g.: %s\n", t->kinds[k].count,
                t->kinds[k].kind, t->kinds[k].example);
    if (!O.quiet) {
        printf("requests      %ld (concurrency %d, %s)\n", O.n, O.concurrency, O.url);
        printf("succeeded     %ld\n", t->ok);
        printf("failed        %ld\n", t->failed);
        printf("elapsed       %.3f s\n", elapsed);
        printf("rate          %.1f enrollments/s (successful)\n", rate);
        printf("latency       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p90,
               p99, max);
        printf("decrypted     %ld sample replies (issued key checked)\n",
               atomic_load(&g_decrypted));
        printf("client CPU    %.2f s during the timed phase (%.0f%% of one core)\n", client_cpu,
               elapsed > 0 ? 100 * client_cpu / elapsed : 0.0);
        printf("machine CPU   %.1f%% user, %.1f%% system, %.1f%% idle, %.1f%% steal "
               "(/proc/stat over the timed phase, all cores)\n", CPU_PCT(user), CPU_PCT(sys),
               CPU_PCT(idle), CPU_PCT(steal));
    }
    printf("RESULT n=%ld concurrency=%d ok=%ld failures=%ld unsent=%ld resent=%ld "
           "elapsed_s=%.3f rate=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "decrypted=%ld client_cpu_s=%.2f user_pct=%.1f sys_pct=%.1f idle_pct=%.1f "
           "steal_pct=%.1f\n",
           O.n, O.concurrency, t->ok, t->failed, t->unsent, t->resent, elapsed, rate, p50, p90,
           p99, max, atomic_load(&g_decrypted), client_cpu, CPU_PCT(user), CPU_PCT(sys),
           CPU_PCT(idle), CPU_PCT(steal));
#undef CPU_PCT
    fflush(stdout);
}

/* The keys, the requests, the timed phase, the verification, the report:
 * the exit status. */
static int bench_run(void)
{
    struct tally t;
    double t0, tb, elapsed, c0, client_cpu;
    struct machine_cpu m0, m1;
    int rc = 2;

    memset(&t, 0, sizeof(t));
    if (!keys_load(O.key_offset + (O.key_pool > 0 ? O.key_pool : O.n)))
        goto done;
    if ((g_items = calloc((size_t)O.n, sizeof(*g_items))) == NULL)
        goto done;
    if (O.key_pool > 0
        && (g_signer_cache = calloc((size_t)(O.key_offset + O.key_pool), sizeof(X509 *))) == NULL)
        goto done;
    tb = now_s();
    if (!run_threads(O.threads, build_thread) || atomic_load(&g_build_failed)) {
        fprintf(stderr, "scepbench: building the requests failed\n");
        goto done;
    }
    note("scepbench: built %ld PKCSReq messages (%s, %s, %zu-byte requests) in %.1f s\n", O.n,
         EVP_CIPHER_get0_name(g_cipher), EVP_MD_get0_name(g_md), g_items[0].http_len,
         now_s() - tb);

    /* the timed phase */
    note("scepbench: sending %ld requests to %s at concurrency %d\n", O.n, O.url,
         O.concurrency);
    c0 = cpu_s();
    machine_cpu(&m0);
    t0 = now_s();
    g_deadline = t0 + O.max_time;
    g_run_start = t0;
    if (!run_threads(O.concurrency, load_thread))
        goto done;
    elapsed = now_s() - t0;
    machine_cpu(&m1);
    client_cpu = cpu_s() - c0;
    if (!O.verify_inline) {
        tb = now_s();
        run_threads(O.threads, verify_thread);
        note("scepbench: verified the replies in %.1f s\n", now_s() - tb);
    }

    /* results */
    if (!tally_items(&t) || (O.results != NULL && !write_results(O.results)))
        goto done;
    tally_print(&t, elapsed, client_cpu, &m0, &m1);
    rc = t.failed == 0 ? 0 : 1;
done:
    free(t.lat);
    return rc;
}

static void bench_free(void)
{
    long i;

    if (g_items != NULL) {
        for (i = 0; i < O.n; i++) {
            X509_free(g_items[i].signer);
            free(g_items[i].http);
            free(g_items[i].resp.body);
            OPENSSL_free(g_items[i].tid);
        }
        free(g_items);
    }
    if (g_signer_cache != NULL)
        for (i = 0; i < O.key_offset + O.key_pool; i++)
            X509_free(g_signer_cache[i]);
    free(g_signer_cache);
    for (i = 0; g_challenges != NULL && i < g_nchallenges; i++)
        free(g_challenges[i]);
    free(g_challenges);
    for (i = 0; i < g_nkeys; i++)
        EVP_PKEY_free(g_keys[i]);
    OPENSSL_free(g_keys);
    sk_X509_free(g_recips);
    if (g_trust != g_cacerts)
        sk_X509_pop_free(g_trust, X509_free);
    sk_X509_pop_free(g_cacerts, X509_free);
    X509_STORE_free(g_store);
    EVP_CIPHER_free(g_cipher);
}

int main(int argc, char **argv)
{
    int rc = bench_opts(argc, argv);

    if (rc >= 0)
        return rc;
    if (O.prepare_keys) {
        if (!scepc_init())
            return 2;
        rc = keys_load(O.key_offset + (O.key_pool > 0 ? O.key_pool : O.n)) ? 0 : 2;
    } else {
        if (!bench_inputs() || !scepc_init())
            return 2;
        rc = bench_prepare();
        if (rc == 0 && !O.cacert_only)
            rc = bench_run();
    }
    if (rc == 2)
        ERR_print_errors_fp(stderr);
    bench_free();
    scepc_cleanup();
    return rc;
}
