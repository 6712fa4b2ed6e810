/*
 * refresh_only.c - `cairn apply -e ENV --refresh-only` (docs/drift.md):
 * the cloud's attributes accepted into the state. Shown as a plan first,
 * confirmed like an apply, recorded under the lock as one revision.
 */
#include "drift_cmd.h"
#include "cli.h"
#include "ci.h"
#include "drift/drift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_BOLD "\033[1m"
#define C_RESET "\033[0m"

static const char *col(bool color, const char *c)
{
	return color ? c : "";
}

static void print_value(const json_t *v, bool sensitive)
{
	char *r;

	if (sensitive && json_is_string(v)) {
		fputs(json_string_value(v), stdout);
		return;
	}
	r = cairn_value_render(v ? v : json_null());
	fputs(r ? r : "?", stdout);
	free(r);
}

static void print_changes(const json_t *changes, const char *env, bool color)
{
	size_t i, j, nref = 0, nfor = 0;
	json_t *c, *a;

	if (!json_array_size(changes)) {
		printf("No changes. The state of environment '%s' matches what exists.\n", env);
		return;
	}
	printf("cairn will record what exists in environment '%s' (nothing in the cloud changes):\n\n", env);
	json_array_foreach(changes, i, c) {
		const char *addr = json_string_value(json_object_get(c, "address"));
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *id = json_string_value(json_object_get(c, "id"));

		if (!strcmp(json_string_value(json_object_get(c, "action")), "forget")) {
			printf("  %s-%s %s%s%s (%s%s%s): gone from the cloud; will be forgotten\n\n", col(color, C_RED),
			       col(color, C_RESET), col(color, C_BOLD), addr, col(color, C_RESET), type, id ? " " : "",
			       id ? id : "");
			nfor++;
			continue;
		}
		printf("  %s~%s %s%s%s (%s%s%s): the recorded attributes will be what exists\n", col(color, C_YELLOW),
		       col(color, C_RESET), col(color, C_BOLD), addr, col(color, C_RESET), type, id ? " " : "", id ? id : "");
		json_array_foreach(json_object_get(c, "attributes"), j, a) {
			bool s = json_is_true(json_object_get(a, "sensitive"));

			printf("      %s: ", json_string_value(json_object_get(a, "attribute")));
			print_value(json_object_get(a, "recorded"), s);
			fputs(" -> ", stdout);
			print_value(json_object_get(a, "actual"), s);
			fputc('\n', stdout);
		}
		fputc('\n', stdout);
		nref++;
	}
	printf("%sRefresh-only plan:%s %zu to update in the state, %zu to forget.\n", col(color, C_BOLD),
	       col(color, C_RESET), nref, nfor);
}

static int confirm(bool auto_approve, const char *env)
{
	char line[64];

	if (auto_approve)
		return 0;
	if (cairn_cli_no_prompt())
		return cairn_error_set(CAIRN_EINVAL, "apply --refresh-only needs confirmation, and %s: run with "
			"--auto-approve", cairn_cli_no_prompt());
	printf("\nDo you want to record these in the state of environment '%s'?\n"
	       "  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", env);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "yes\n") != 0)
		return cairn_error_set(CAIRN_EINVAL, "apply --refresh-only cancelled");
	return 0;
}

int cairn_cli_refresh_only(const cairn_engine_opts *o, bool auto_approve, bool color)
{
	cairn_engine *e = NULL;
	json_t *changes = NULL;
	int64_t rev = 0;
	int rc;

	if (o->ntargets || o->nexcludes)
		rc = cairn_error_set(CAIRN_EINVAL, "--refresh-only records every resource that differs; it takes no "
			"--target or --exclude");
	else if (!o->refresh)
		rc = cairn_error_set(CAIRN_EINVAL, "--refresh-only with --refresh=false has nothing to record");
	else if ((rc = cairn_engine_open(&e, o)) == 0 && (rc = cairn_engine_lock(e, "apply --refresh-only")) == 0) {
		if (e->nintents)
			rc = cairn_error_set(CAIRN_EINVAL, "an interrupted run left %zu pending operation(s) in environment "
				"'%s': run 'cairn apply' first, which reconciles them", e->nintents, o->env);
		else if ((rc = cairn_engine_refresh(e)) == 0 && (rc = cairn_drift_accept_plan(e, &changes)) == 0) {
			print_changes(changes, o->env, color);
			if (json_array_size(changes) && (rc = confirm(auto_approve, o->env)) == 0 &&
			    (rc = cairn_drift_accept(e, changes, &rev)) == 0)
				printf("\nRefresh-only apply complete! Recorded in revision %lld of environment '%s' "
				       "('cairn state history').\n", (long long)rev, o->env);
		}
	}
	if (rc) {
		const cairn_error *err = cairn_error_last();
		char msg[4096];
		char *red;

		fflush(stdout);
		cairn_error_format(err, msg, sizeof(msg));
		red = cairn_engine_redact(e, msg);
		fprintf(stderr, "cairn: error: %s\n", red ? red : msg);
		free(red);
	}
	json_decref(changes);
	cairn_engine_free(e);
	return rc == 0 ? CAIRN_EXIT_OK : rc == CAIRN_ELOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_ERROR;
}
