/* mod_scep fuzzers: give every apr_palloc() its own malloc() so that
 * AddressSanitizer sees overflows of pool memory.
 *
 * APR pools hand out slices of 8 KB blocks: writing past the end of one
 * allocation lands in the next one and ASan never notices. Debian's libapr
 * is built without pool debugging, so this file interposes apr_palloc
 * (apr_pcalloc is a macro over it; libapr and libaprutil call it through
 * the PLT, so their allocations come here too). Each allocation is a
 * malloc() chained to its pool; a cleanup registered first on the pool
 * (so it runs last) frees them when the pool is cleared or destroyed.
 * apr_psprintf() still writes into the pool's own blocks.
 *
 * Single-threaded, like libFuzzer. Set SCEP_FUZZ_REAL_POOLS=1 to turn it
 * off (e.g. to compare speed). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>
#include <apr_pools.h>

typedef void *palloc_fn(apr_pool_t *p, apr_size_t size);

typedef union chunk_t {
    union chunk_t *next;
    max_align_t align;       /* keep the user part aligned like malloc's */
} chunk_t;

typedef struct tracked_t {
    apr_pool_t *pool;
    chunk_t *chunks;
    struct tracked_t *next;
} tracked_t;

static palloc_fn *real_palloc;
static tracked_t *tracked;
static int in_hook, disabled = -1;

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

void *apr_palloc(apr_pool_t *p, apr_size_t size)
{
    tracked_t *t;
    chunk_t *c;

    if (!real_palloc) {
        real_palloc = (palloc_fn *)dlsym(RTLD_NEXT, "apr_palloc");
        if (!real_palloc) {
            abort();
        }
    }
    if (disabled < 0) {
        const char *e = getenv("SCEP_FUZZ_REAL_POOLS");
        disabled = e && *e && *e != '0';
    }
    if (in_hook || disabled) {
        return real_palloc(p, size);
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
        /* registered before anything else on this pool: runs last */
        in_hook = 1;
        apr_pool_cleanup_register(p, t, free_chunks, apr_pool_cleanup_null);
        in_hook = 0;
    }
    if (!(c = malloc(sizeof(chunk_t) + size))) {
        abort();
    }
    c->next = t->chunks;
    t->chunks = c;
    return c + 1;
}
