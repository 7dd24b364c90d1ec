/**
 * @file scep_ask.h
 * @brief The engine asks and tells others: httpd's authentication
 * providers check a challenge, the validators (the webhook, Microsoft
 * Intune) decide a request, and the receivers (the notification webhook,
 * Intune) hear what became of it, through the outbox.
 */
#ifndef SCEP_ASK_H
#define SCEP_ASK_H

#include "scep_op.h"
#include "scep_notify.h"
#include "scep_validate.h"

/** SCEPChallengeAuthProvider: the request's CN is the user, the challenge
 *  the password. DENY when the request has no CN or the challenge holds a
 *  NUL byte (no provider could check it). */
scep_verdict_kind_t scep_ask_password(apr_pool_t *p, const scep_env_t *env,
                                      const scep_profile_t *prof, X509_REQ *csr,
                                      const char *given, apr_size_t len);

/** The profile's validators in turn (the webhook, then Intune): the first
 *  that does not allow decides; names an ALLOW fixes are kept. *pwho names
 *  who answered ("the validation webhook", "Intune"); *pintune is set when
 *  Intune answered, allowing or refusing (it then hears the outcome). */
void scep_ask_validators(scep_verdict_t *out, const char **pwho, int *pintune,
                         scep_ctx_t *ctx, const scep_env_t *env, const scep_profile_t *prof,
                         const scep_validation_in_t *in);

/** Stage what became of a request for the profile's receivers: the
 *  notification webhook, and Intune when intune_csr (the request Intune
 *  validated) is given. */
void scep_tell(scep_store_t *st, apr_pool_t *p, const scep_profile_t *prof,
               const scep_notice_t *n, X509_REQ *intune_csr);

/** The same for an administrator's decision on a stored request (its
 *  CSR as stored, base64): Intune hears it when the profile asks Intune. */
void scep_tell_stored(scep_store_t *st, apr_pool_t *p, const scep_profile_t *prof,
                      const scep_notice_t *n, const char *csr_b64);

#endif
