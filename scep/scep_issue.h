/**
 * @file scep_issue.h
 * @brief One issuance path for an enrollment issued at once (the engine)
 * and a held one approved later (the admin): is the certificate being
 * renewed still renewable, and the signed certificate with its record.
 */
#ifndef SCEP_ISSUE_H
#define SCEP_ISSUE_H

#include "scep.h"
#include "scep_ca.h"
#include "scep_policy.h"
#include "scep_store.h"

/**
 * Why the certificate old (as scep_store_cert_get read it) may not be
 * renewed now: revoked, renewed already, or a certificate of its chain of
 * renewals revoked for keyCompromise; NULL when it may.
 */
const char *scep_issue_why_not_renewable(apr_pool_t *p, const scep_cert_t *old);

/**
 * Sign the certificate the plan describes and fill its record (*rec, for
 * the CA ca with profile), linked to the certificate it renews when old is
 * given (*renewal, with supersede). SCEP_EFAILURE when the plan cannot be
 * signed as it stands (*perr says why, e.g. a validity beyond the CA),
 * another error when the CA failed.
 */
apr_status_t scep_issue_sign(X509 **pcert, scep_cert_t *rec, scep_renewal_t *renewal,
                             const char **perr, apr_pool_t *p, const scep_ca_t *ca,
                             const scep_cert_plan_t *plan, const char *profile,
                             const scep_cert_t *old, int supersede);

#endif
