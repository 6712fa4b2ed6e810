/*
 * ignore.c - the stack's drift ignore rules applied to findings
 * (lang/config_drift.c parses them; docs/stack-format.md).
 *
 * An ignored finding stays in every report, marked with the rule's reason
 * and position, and is counted apart: it is not drift for the exit code.
 * A rule past its expiry hides nothing; the findings it would have hidden
 * say so ("ignore_expired"), so that whoever reads the report knows a
 * rule ran out rather than a new drift appeared.
 */
#include "drift_int.h"

#include <string.h>

bool cairn_drift__glob(const char *pat, const char *s)
{
	const char *star = NULL, *mark = NULL;

	while (*s) {
		if (*pat == '?' || *pat == *s) {
			pat++;
			s++;
		} else if (*pat == '*') {
			star = pat++;
			mark = s;
		} else if (star) {
			pat = star + 1;
			s = ++mark;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

static bool field_matches(const char *pat, const json_t *f, const char *key)
{
	const char *v = json_string_value(json_object_get(f, key));

	return !pat || (v && cairn_drift__glob(pat, v));
}

static bool rule_matches(const cairn_drift_ignore *r, const json_t *f)
{
	const char *kind = json_string_value(json_object_get(f, "kind"));
	const char *attr = json_string_value(json_object_get(f, "attribute"));

	if (r->kind && (!kind || strcmp(r->kind, kind) != 0))
		return false;
	if (!field_matches(r->address, f, "address") || !field_matches(r->type, f, "type") ||
	    !field_matches(r->id, f, "id"))
		return false;
	if (r->attribute) {
		size_t n = strlen(r->attribute);

		if (!attr || strncmp(attr, r->attribute, n) != 0 || (attr[n] != '\0' && attr[n] != '.'))
			return false;
	}
	return true;
}

static json_t *rule_json(const cairn_drift_ignore *r)
{
	json_t *o = json_pack("{s:s}", "reason", r->reason);
	char where[640];

	snprintf(where, sizeof(where), "%s:%d:%d", r->pos.file ? r->pos.file : "stack.yaml", r->pos.line, r->pos.col);
	json_object_set_new(o, "rule", json_string(where));
	if (r->expires)
		json_object_set_new(o, "expires", json_string(r->expires));
	return o;
}

void cairn_drift__apply_ignores(const cairn_stack *st, json_t *findings, int64_t now)
{
	size_t i, k;
	json_t *f;

	json_array_foreach(findings, i, f) {
		if (json_object_get(f, "ignored"))
			continue; /* lifecycle.ignore_changes came first */
		for (k = 0; k < st->ndrift_ignores; k++) {
			const cairn_drift_ignore *r = &st->drift_ignores[k];

			if (!rule_matches(r, f))
				continue;
			if (r->expires_at && now >= r->expires_at) {
				if (!json_object_get(f, "ignore_expired"))
					json_object_set_new(f, "ignore_expired", rule_json(r));
				continue;
			}
			json_object_set_new(f, "ignored", rule_json(r));
			json_object_del(f, "ignore_expired");
			break;
		}
	}
}
