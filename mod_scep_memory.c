/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: SCEPMemoryTrim, a child's free heap given back to the
 * system when its last mod_scep request ends.
 *
 * glibc returns to the system only the free memory at the top of each of
 * its heaps. The temporaries of a child's concurrent requests (OpenSSL's,
 * SQLite's, APR's beyond MaxMemFree) leave free pages in the middle, and
 * RSS keeps the high-water mark of its busiest moment. malloc_trim() gives
 * those pages back; at most once a second, when no other mod_scep request
 * of the child is running, so that it costs a busy child little.
 */

#include "mod_scep_private.h"
#include "http_main.h"
#include <apr_atomic.h>

#if defined(__GLIBC__)
#include <malloc.h>
#define HAVE_MALLOC_TRIM 1
#endif

struct scep_trim_t {
    volatile apr_uint32_t active;   /* this child's mod_scep requests running */
    volatile apr_uint32_t last;     /* second of the last trim */
};

const char *scep_set_memory_trim(cmd_parms *cmd, void *dummy, int on)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dummy;
    if (err) {
        return err;
    }
    conf->memory_trim = on ? 1 : -1;
    return NULL;
}

void scep_memory_child_init(apr_pool_t *pchild, server_rec *s)
{
#ifdef HAVE_MALLOC_TRIM
    scep_srv_conf_t *conf = ap_get_module_config(s->module_config, &scep_module);

    if (conf->memory_trim >= 0) {
        conf->trim = apr_pcalloc(pchild, sizeof(*conf->trim));
    }
#else
    (void)pchild;
    (void)s;
#endif
}

#ifdef HAVE_MALLOC_TRIM
static apr_status_t request_ended(void *data)
{
    scep_trim_t *t = data;
    apr_uint32_t now, last;

    if (apr_atomic_dec32(&t->active) != 0) {
        return APR_SUCCESS;
    }
    now = (apr_uint32_t)apr_time_sec(apr_time_now());
    last = apr_atomic_read32(&t->last);
    if (now != last && apr_atomic_cas32(&t->last, now, last) == last) {
        malloc_trim(0);
    }
    return APR_SUCCESS;
}
#endif

void scep_memory_request(request_rec *r)
{
#ifdef HAVE_MALLOC_TRIM
    scep_srv_conf_t *conf = ap_get_module_config(ap_server_conf->module_config, &scep_module);

    if (conf->trim) {
        apr_atomic_inc32(&conf->trim->active);
        /* when the request's pool goes: after its answer was sent and logged */
        apr_pool_cleanup_register(r->pool, conf->trim, request_ended, apr_pool_cleanup_null);
    }
#else
    (void)r;
#endif
}
