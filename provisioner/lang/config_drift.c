/*
 * config_drift.c - the stack's `drift:` section: ignore rules for
 * `cairn drift` (see config.h and docs/stack-format.md).
 *
 *   drift:
 *     ignore:
 *       - address: "app_sg"          # glob on the address (fnmatch), and/or
 *         type: "aws.security_group" # glob on the resource type, and/or
 *         id: "sg-*"                 # glob on the object's id in its cloud
 *         attribute: tags.Team       # optional: only this attribute (or its keys)
 *         kind: changed              # optional: changed|deleted|unapplied|unmanaged|parity
 *         reason: managed by the security team   # required
 *         expires: 2026-12-31        # optional: the rule hides nothing after that day (UTC)
 *
 * Everything is checked when the stack is loaded, with file:line:col; the
 * rules themselves are applied by provisioner/drift/.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const drift_keys[] = { "ignore", NULL };
static const char *const rule_keys[] = { "address", "type", "id", "attribute", "kind", "reason", "expires", NULL };
static const char *const kinds[] = { "changed", "deleted", "unapplied", "unmanaged", "parity", NULL };

static int bad(const cairn_expr *e, const char *fmt, const char *what)
{
	return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(e), fmt, what);
}

/* A literal, non-empty string. */
static int rule_string(char **out, const cairn_expr *e, const char *what)
{
	const json_t *v = cairn_expr_const(e);

	if (!v || !json_is_string(v))
		return bad(e, "%s must be a string without ${ } references", what);
	if (json_string_length(v) == 0)
		return bad(e, "%s must not be empty", what);
	if (!(*out = strdup(json_string_value(v))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

/* "YYYY-MM-DD", a real date: the end of that day (UTC) in *out. */
static int parse_date(const char *s, int64_t *out)
{
	struct tm tm, back;
	char extra;
	int y, m, d;
	time_t t;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	back = tm;
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != back.tm_mday || tm.tm_mon != back.tm_mon)
		return -1; /* 2026-02-30 normalised into March */
	*out = (int64_t)t + 86400; /* the rule holds through that whole day */
	return 0;
}

static bool known(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static int check_keys(const cairn_expr *map, const char *const *allowed, const char *what)
{
	const cairn_pos *kp;
	size_t i;

	for (i = 0; i < cairn_expr_size(map); i++) {
		const char *k = cairn_expr_key(map, i, &kp);

		if (!known(allowed, k))
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown key '%s' in %s", k, what);
	}
	return 0;
}

static int load_rule(cairn_drift_ignore *r, const cairn_expr *e)
{
	struct { const char *key; char **field; const char *what; } fields[] = {
		{ "address", &r->address, "an ignore rule's address" },
		{ "type", &r->type, "an ignore rule's type" },
		{ "id", &r->id, "an ignore rule's id" },
		{ "attribute", &r->attribute, "an ignore rule's attribute" },
		{ "kind", &r->kind, "an ignore rule's kind" },
		{ "reason", &r->reason, "an ignore rule's reason" },
		{ "expires", &r->expires, "an ignore rule's expires" },
	};
	size_t i;
	int rc;

	r->pos = *cairn_expr_pos(e);
	if (cairn_expr_kind_of(e) != CAIRN_EXPR_MAP)
		return bad(e, "%s must be a mapping (address or type, reason, optional attribute, kind and expires)",
			   "each drift ignore rule");
	if ((rc = check_keys(e, rule_keys, "a drift ignore rule (address, type, id, attribute, kind, reason, expires)")) != 0)
		return rc;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const cairn_expr *v = cairn_expr_get(e, fields[i].key);

		if (v && (rc = rule_string(fields[i].field, v, fields[i].what)) != 0)
			return rc;
	}
	if (!r->address && !r->type && !r->id)
		return cairn_error_set_at(CAIRN_EINVAL, &r->pos,
			"a drift ignore rule needs an address, a type or an id pattern to say what it ignores");
	if (!r->reason)
		return cairn_error_set_at(CAIRN_EINVAL, &r->pos,
			"a drift ignore rule needs a reason (why this drift is accepted, shown in every report)");
	if (r->kind && !known(kinds, r->kind))
		return bad(cairn_expr_get(e, "kind"), "unknown drift kind '%s' (changed, deleted, unapplied, unmanaged or parity)",
			   r->kind);
	if (r->expires && parse_date(r->expires, &r->expires_at) != 0)
		return bad(cairn_expr_get(e, "expires"), "expires must be a date as YYYY-MM-DD, got '%s'", r->expires);
	return 0;
}

int cairn_config__load_drift(cairn_stack *s, const cairn_expr *drift)
{
	const cairn_expr *ign;
	size_t i, n;
	int rc;

	if (!drift || (cairn_expr_kind_of(drift) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(drift))))
		return 0;
	if (cairn_expr_kind_of(drift) != CAIRN_EXPR_MAP)
		return bad(drift, "%s must be a mapping (with a list 'ignore')", "drift");
	if ((rc = check_keys(drift, drift_keys, "drift")) != 0)
		return rc;
	if (!(ign = cairn_expr_get(drift, "ignore")) ||
	    (cairn_expr_kind_of(ign) == CAIRN_EXPR_CONST && json_is_null(cairn_expr_const(ign))))
		return 0;
	if (cairn_expr_kind_of(ign) != CAIRN_EXPR_LIST)
		return bad(ign, "%s must be a list of rules", "drift.ignore");
	n = cairn_expr_size(ign);
	if (!(s->drift_ignores = calloc(n ? n : 1, sizeof(*s->drift_ignores))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		s->ndrift_ignores = i + 1;
		if ((rc = load_rule(&s->drift_ignores[i], cairn_expr_item(ign, i))) != 0)
			return rc;
	}
	return 0;
}

void cairn_config__free_drift(cairn_stack *s)
{
	size_t i;

	for (i = 0; i < s->ndrift_ignores; i++) {
		cairn_drift_ignore *r = &s->drift_ignores[i];

		free(r->address);
		free(r->type);
		free(r->id);
		free(r->attribute);
		free(r->kind);
		free(r->reason);
		free(r->expires);
	}
	free(s->drift_ignores);
	s->drift_ignores = NULL;
	s->ndrift_ignores = 0;
}
