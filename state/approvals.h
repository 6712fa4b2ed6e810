/*
 * approvals.h - what guardrails keep in an environment's history
 * (docs/guardrails.md): approvals of saved plans, notes on revisions
 * (policy warnings, rollbacks), and the configuration each apply applied.
 *
 * An approval is a revision of its own (command "approve", status "ok",
 * summary {"approval": {"digest", "author", "plan"}}): `state history`
 * shows it with who and when, and it changes no serial, so the plan it
 * approves stays current. The configuration of an apply is kept in the
 * table applied_configs (schema step 4), sealed whole with the
 * state key (secret.h): it holds the stack's files and the variables,
 * sensitive ones included.
 */
#ifndef CAIRN_STATE_APPROVALS_H
#define CAIRN_STATE_APPROVALS_H

#include "store.h"

/* Who runs cairn: $CAIRN_USER, else $USER, else the OS user of the uid. */
void cairn_store_whoami(char *out, size_t n);
/* The name this handle records revisions under (cairn_store_whoami's). */
const char *cairn_store_user(const cairn_store *st);

/* Set summary[key] = value (borrowed) in revision rev's summary. */
int cairn_store_rev_annotate(cairn_store *st, int64_t rev, const char *key, json_t *value);

/* Record an approval of the plan with `digest` by this handle's user. */
int cairn_store_approve(cairn_store *st, const char *env, const char *digest, const char *author,
			const char *plan, int64_t *rev_out);
/* The same, signed (docs/guardrails.md): signature's members (borrowed:
 * "approver", "key", "signature") are kept in the approval beside the
 * digest, author and plan. */
int cairn_store_approve_signed(cairn_store *st, const char *env, const char *digest, const char *author,
			       const char *plan, const json_t *signature, int64_t *rev_out);
/* The approvals of env for `digest`: [{rev, who, at, author, and for a
 * signed one approver, key, signature}] in order. */
int cairn_store_approvals(cairn_store *st, const char *env, const char *digest, json_t **out);

/* Keep the configuration applied at revision rev (sealed). */
int cairn_store_config_put(cairn_store *st, const char *env, int64_t rev, const json_t *config);
/* The configuration recorded for revision rev of env (unsealed, new);
 * CAIRN_ENOTFOUND if none was recorded. */
int cairn_store_config_get(cairn_store *st, const char *env, int64_t rev, json_t **out);

#endif
