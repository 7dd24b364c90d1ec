/* mod_scep fuzzers: give every pool allocation of the fuzzed code its own
 * malloc() so that AddressSanitizer sees overflows of pool memory.
 *
 * APR pools hand out slices of 8 KB blocks: writing past the end of one
 * allocation lands in the next one and ASan never notices. Debian's libapr
 * is built without pool debugging, so fuzz/build.sh links the harnesses
 * with the linker's --wrap for the allocating functions scep/ and the
 * harnesses call: their calls come to __wrap_NAME here, and __real_NAME is
 * APR's own. Nothing here defines a name APR defines.
 *
 * Wrapped: apr_palloc and apr_pcalloc (a macro over apr_palloc in APR 1.x
 * without APR_POOL_DEBUG, so normally no call reaches the function; it is
 * wrapped for an APR where it is one), the copies whose memory scep/ then
 * reads and writes (apr_pmemdup, apr_pstrdup, apr_pstrndup,
 * apr_pstrmemdup, apr_pstrcat) and the arrays' storage (apr_array_make,
 * apr_array_push), each as APR 1.7 does it but on top of __wrap_apr_palloc.
 * What libapr allocates inside its own functions (apr_psprintf, tables,
 * hashes, apr_array_pstrcat) stays in the pool's blocks: --wrap changes
 * only the calls made by the objects it links.
 *
 * Each allocation is a malloc() chained to its pool; a cleanup registered
 * first on the pool (so it runs last) frees them when the pool is cleared
 * or destroyed. Single-threaded, like libFuzzer. Set SCEP_FUZZ_REAL_POOLS=1
 * to turn it off (e.g. to compare speed). */
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

void *__real_apr_palloc(apr_pool_t *p, apr_size_t size);
void *__wrap_apr_palloc(apr_pool_t *p, apr_size_t size);
void *__wrap_apr_pcalloc(apr_pool_t *p, apr_size_t size);
void *__wrap_apr_pmemdup(apr_pool_t *p, const void *m, apr_size_t n);
char *__wrap_apr_pstrdup(apr_pool_t *p, const char *s);
char *__wrap_apr_pstrndup(apr_pool_t *p, const char *s, apr_size_t n);
char *__wrap_apr_pstrmemdup(apr_pool_t *p, const char *s, apr_size_t n);
char *__wrap_apr_pstrcat(apr_pool_t *p, ...);
apr_array_header_t *__wrap_apr_array_make(apr_pool_t *p, int nelts, int elt_size);
void *__wrap_apr_array_push(apr_array_header_t *arr);

typedef union chunk_t {
    union chunk_t *next;
    max_align_t align;       /* keep the user part aligned like malloc's */
} chunk_t;

typedef struct tracked_t {
    apr_pool_t *pool;
    chunk_t *chunks;
    struct tracked_t *next;
} tracked_t;

static tracked_t *tracked;
static int disabled = -1;

static apr_status_t free_chunks(void *data)
{
    tracked_t *t = data, **pt;
    chunk_t *c, *next;

    for (c = t->chunks; c; c = next) {
        next = c->next;
        free(c);
    }
    for (pt = &tracked; *pt; pt = &(*pt)->next) {
        if (*pt == t) {
            *pt = t->next;
            break;
        }
    }
    free(t);
    return APR_SUCCESS;
}

void *__wrap_apr_palloc(apr_pool_t *p, apr_size_t size)
{
    tracked_t *t;
    chunk_t *c;

    if (disabled < 0) {
        const char *e = getenv("SCEP_FUZZ_REAL_POOLS");
        disabled = e && *e && *e != '0';
    }
    if (disabled) {
        return __real_apr_palloc(p, size);
    }
    for (t = tracked; t && t->pool != p; t = t->next)
        ;
    if (!t) {
        if (!(t = calloc(1, sizeof(*t)))) {
            abort();
        }
        t->pool = p;
        t->next = tracked;
        tracked = t;
        /* registered before anything else on this pool: runs last (its
         * own allocation is libapr's, which the wrap does not see) */
        apr_pool_cleanup_register(p, t, free_chunks, apr_pool_cleanup_null);
    }
    if (!(c = malloc(sizeof(chunk_t) + size))) {
        abort();
    }
    c->next = t->chunks;
    t->chunks = c;
    return c + 1;
}

void *__wrap_apr_pcalloc(apr_pool_t *p, apr_size_t size)
{
    return memset(__wrap_apr_palloc(p, size), 0, size);
}

void *__wrap_apr_pmemdup(apr_pool_t *p, const void *m, apr_size_t n)
{
    void *res;

    if (m == NULL) {
        return NULL;
    }
    res = __wrap_apr_palloc(p, n);
    memcpy(res, m, n);
    return res;
}

char *__wrap_apr_pstrmemdup(apr_pool_t *p, const char *s, apr_size_t n)
{
    char *res;

    if (s == NULL) {
        return NULL;
    }
    res = __wrap_apr_palloc(p, n + 1);
    memcpy(res, s, n);
    res[n] = '\0';
    return res;
}

char *__wrap_apr_pstrdup(apr_pool_t *p, const char *s)
{
    return s == NULL ? NULL : __wrap_apr_pstrmemdup(p, s, strlen(s));
}

char *__wrap_apr_pstrndup(apr_pool_t *p, const char *s, apr_size_t n)
{
    const char *end;

    if (s == NULL) {
        return NULL;
    }
    end = memchr(s, '\0', n);
    return __wrap_apr_pstrmemdup(p, s, end != NULL ? (apr_size_t)(end - s) : n);
}

char *__wrap_apr_pstrcat(apr_pool_t *p, ...)
{
    va_list ap;
    const char *s;
    apr_size_t len = 0;
    char *res, *d;

    va_start(ap, p);
    while ((s = va_arg(ap, const char *)) != NULL) {
        len += strlen(s);
    }
    va_end(ap);
    d = res = __wrap_apr_palloc(p, len + 1);
    va_start(ap, p);
    while ((s = va_arg(ap, const char *)) != NULL) {
        size_t n = strlen(s);

        memcpy(d, s, n);
        d += n;
    }
    va_end(ap);
    *d = '\0';
    return res;
}

apr_array_header_t *__wrap_apr_array_make(apr_pool_t *p, int nelts, int elt_size)
{
    apr_array_header_t *arr = __wrap_apr_palloc(p, sizeof(*arr));

    if (nelts < 1) {
        nelts = 1;
    }
    arr->pool = p;
    arr->elt_size = elt_size;
    arr->nelts = 0;
    arr->nalloc = nelts;
    arr->elts = __wrap_apr_pcalloc(p, (apr_size_t)nelts * (apr_size_t)elt_size);
    return arr;
}

void *__wrap_apr_array_push(apr_array_header_t *arr)
{
    if (arr->nelts == arr->nalloc) {
        int new_size = arr->nalloc <= 0 ? 1 : arr->nalloc * 2;
        apr_size_t have = (apr_size_t)arr->nalloc * (apr_size_t)arr->elt_size;
        char *new_data = __wrap_apr_palloc(arr->pool, (apr_size_t)new_size * arr->elt_size);

        memcpy(new_data, arr->elts, have);
        memset(new_data + have, 0, (apr_size_t)new_size * arr->elt_size - have);
        arr->elts = new_data;
        arr->nalloc = new_size;
    }
    ++arr->nelts;
    return arr->elts + (apr_size_t)arr->elt_size * (apr_size_t)(arr->nelts - 1);
}
