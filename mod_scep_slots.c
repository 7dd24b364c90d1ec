/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 */

/*
 * mod_scep glue: SCEPOperationSlots, how many PKIOperations a child works
 * on at once (the others wait their turn in the order they came; see
 * scep/scep_slots.c). Off by default.
 */

#include "mod_scep_private.h"
#include "http_main.h"

/* more than any MPM's threads a child */
#define MAX_OPERATION_SLOTS 100000

const char *scep_set_operation_slots(cmd_parms *cmd, void *dummy, const char *arg)
{
    scep_srv_conf_t *conf = ap_get_module_config(cmd->server->module_config, &scep_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t n;

    (void)dummy;
    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        conf->operation_slots = -1;
        return NULL;
    }
    if ((err = scep_number_arg(cmd, arg, 1, MAX_OPERATION_SLOTS, "off or a number of slots",
                               &n)) != NULL) {
        return err;
    }
    conf->operation_slots = (int)n;
    return NULL;
}

void scep_slots_child_init(apr_pool_t *pchild, server_rec *s)
{
    scep_srv_conf_t *conf = ap_get_module_config(s->module_config, &scep_module);
    apr_status_t rv;

    if (conf->operation_slots <= 0) {
        return;
    }
    if ((rv = scep_slots_make(&conf->slots, pchild, conf->operation_slots)) != APR_SUCCESS) {
        conf->slots = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, SCEPLOGNO(00659)
                     "SCEPOperationSlots: cannot make this child's slots; its PKIOperations "
                     "run without the bound");
    }
}

void scep_slots_env(scep_env_t *env, scep_slot_t *hold, request_rec *r)
{
    scep_srv_conf_t *main_conf = ap_get_module_config(ap_server_conf->module_config,
                                                      &scep_module);
    scep_srv_conf_t *conf = ap_get_module_config(r->server->module_config, &scep_module);

    memset(hold, 0, sizeof(*hold));
    hold->slots = main_conf->slots;
    hold->metrics = conf->metrics;
    env->slot = hold;
}
