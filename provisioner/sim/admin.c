/*
 * admin.c - the out-of-band endpoint of `cairn sim` under /_sim/, outside
 * AWS's paths and without authentication (it is a local test tool): list
 * every resource, reset the cloud, and change or delete a resource behind
 * the API's back the way someone in the console would, so that tests can
 * produce drift.
 *
 *   GET    /_sim/health               {"status":"ok"}
 *   GET    /_sim/resources            {"resources":[{id,type,region,...}]}
 *   GET    /_sim/resources/{id}       one resource, 404 when absent
 *   POST   /_sim/resources/{id}       JSON patch: {"attributes":{k:v|null},
 *                                     "tags":{k:"v"|null}, "status":"s",
 *                                     "then":"s2", "after":SECONDS}
 *   DELETE /_sim/resources/{id}       delete (children are not touched)
 *   POST   /_sim/reset                delete everything
 *   POST   /_sim/faults               add a fault rule: {"action":"A",
 *                                     "code":"C", "status":400, "message":"M",
 *                                     "count":N, "service":"S"}: the next N
 *                                     requests for A (of S) get that error
 *                                     answer (status: 400, count: until
 *                                     cleared, message and service optional);
 *                                     answers {"rules":[...]}
 *   GET    /_sim/faults               {"rules":[...]}, those still in force
 *   DELETE /_sim/faults               remove every rule
 *   POST   /_sim/sts/expire           every temporary credential STS gave
 *                                     expires now: {"expired": N}
 *   GET    /_sim/hosts                with --instance-hosts: each instance
 *                                     host's address, sshd pid, layer
 *
 * Fault rules (faults.c) and temporary credentials (sts.c) are outside the
 * store: a reset keeps them.
 */
#include "sim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *json_message(const char *fmt, const char *arg)
{
	char msg[512];
	json_t *j;
	char *s;

	snprintf(msg, sizeof(msg), fmt, arg);
	j = json_pack("{s:s}", "message", msg);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

static char *dump_and_free(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_INDENT(0)) : NULL;

	json_decref(j);
	return s;
}

static int list_all(cairn_sim *sim, int *status, char **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	json_t *arr = json_array(), *res;
	size_t i;
	int rc;

	if ((rc = cairn_sim_store_list(sim->store, NULL, NULL, NULL, &l)) != 0)
		goto cleanup;
	for (i = 0; arr && i < l.n; i++)
		json_array_append_new(arr, cairn_sim_resource_to_json(l.v[i]));
	res = json_pack("{s:o}", "resources", arr);
	arr = NULL;
	*out = dump_and_free(res);
	*status = 200;
cleanup:
	json_decref(arr);
	cairn_sim_reslist_release(&l);
	return rc;
}

/* Apply {"attributes":{...}, "tags":{...}, "status":"...", "then":"...",
 * "after":N} to r. */
static int apply_patch(cairn_sim_resource *r, json_t *patch, const char **why)
{
	json_t *attrs = json_object_get(patch, "attributes"), *tags = json_object_get(patch, "tags");
	json_t *st = json_object_get(patch, "status"), *then = json_object_get(patch, "then");
	json_t *after = json_object_get(patch, "after"), *v;
	const char *k;

	if (!json_is_object(patch)) {
		*why = "the patch must be a JSON object";
		return CAIRN_EINVAL;
	}
	if (attrs && !json_is_object(attrs)) {
		*why = "\"attributes\" must be an object";
		return CAIRN_EINVAL;
	}
	if (tags && !json_is_object(tags)) {
		*why = "\"tags\" must be an object";
		return CAIRN_EINVAL;
	}
	if (st && !json_is_string(st)) {
		*why = "\"status\" must be a string";
		return CAIRN_EINVAL;
	}
	if (then && (!st || !json_is_string(then))) {
		*why = "\"then\" must be a string, with \"status\"";
		return CAIRN_EINVAL;
	}
	if (after && (!then || !json_is_number(after) || json_number_value(after) < 0)) {
		*why = "\"after\" must be seconds (a number >= 0), with \"then\"";
		return CAIRN_EINVAL;
	}
	json_object_foreach(attrs, k, v) {
		if (json_is_null(v))
			json_object_del(r->attrs, k);
		else
			json_object_set(r->attrs, k, v);
	}
	json_object_foreach(tags, k, v) {
		if (json_is_null(v)) {
			json_object_del(r->tags, k);
		} else if (json_is_string(v)) {
			json_object_set(r->tags, k, v);
		} else {
			*why = "tag values must be strings or null";
			return CAIRN_EINVAL;
		}
	}
	/* "then" (after "after" seconds, default 1): the status the object
	 * moves on to, as the sim's own transitions do; without it, the
	 * status stays (frozen: a pending transition is dropped) */
	if (st)
		return cairn_sim_resource_set_status(r, json_string_value(st), then ? json_string_value(then) : NULL,
			then ? cairn_sim_now() + (after ? json_number_value(after) : 1.0) : 0);
	return 0;
}

static int resource_op(cairn_sim *sim, const char *method, const char *id,
	const char *body, size_t body_len, int *status, char **out)
{
	cairn_sim_resource *r = NULL;
	json_t *patch = NULL;
	const char *why = NULL;
	int rc;

	rc = cairn_sim_store_get(sim->store, id, &r);
	if (rc == CAIRN_ENOTFOUND) {
		*status = 404;
		*out = json_message("no resource %s", id);
		return 0;
	}
	if (rc)
		return rc;
	if (strcmp(method, "GET") == 0) {
		*status = 200;
	} else if (strcmp(method, "DELETE") == 0) {
		if ((rc = cairn_sim_store_delete(sim->store, id)) != 0)
			goto cleanup;
		*status = 200;
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
		patch = json_loadb(body ? body : "", body_len, 0, NULL);
		if (!patch || apply_patch(r, patch, &why) != 0) {
			*status = 400;
			*out = json_message("%s", why ? why : "the body must be a JSON object");
			goto cleanup;
		}
		if ((rc = cairn_sim_store_put(sim->store, r)) != 0)
			goto cleanup;
		*status = 200;
	} else {
		*status = 405;
		*out = json_message("method %s not allowed", method);
		goto cleanup;
	}
	*out = dump_and_free(cairn_sim_resource_to_json(r));
cleanup:
	json_decref(patch);
	cairn_sim_resource_free(r);
	return rc;
}

/* Is name an action (REST: an operation) of svc, or of any service when
 * svc is NULL? */
static int action_known(const cairn_sim_service *svc, const char *name)
{
	size_t i, k;

	for (i = 0; cairn_sim_services[i]; i++) {
		const cairn_sim_service *s = cairn_sim_services[i];

		if (svc && s != svc)
			continue;
		for (k = 0; k < s->n_actions; k++)
			if (strcmp(s->actions[k].name, name) == 0)
				return 1;
	}
	return 0;
}

/* An error code goes into an XML element or the x-amzn-ErrorType header:
 * AWS's own characters only. */
static int code_valid(const char *code)
{
	size_t n = strlen(code);

	return n > 0 && n < sizeof(((cairn_sim_req *)0)->err_code) &&
		strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:_-") == n;
}

/* The string member key of j: *out borrowed, NULL when absent; non-zero
 * (and *why set) when present but not a non-empty string. */
static int opt_string(json_t *j, const char *key, const char **out, char *why, size_t why_size)
{
	json_t *v = json_object_get(j, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || !*json_string_value(v)) {
		snprintf(why, why_size, "\"%s\" must be a non-empty string", key);
		return CAIRN_EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

/* The integer member key of j in [min, max] into *out (left alone when
 * absent); non-zero (and *why set) when present but not such a number. */
static int opt_int(json_t *j, const char *key, long min, long max, long *out, char *why, size_t why_size)
{
	json_t *v = json_object_get(j, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(why, why_size, "\"%s\" must be an integer from %ld to %ld", key, min, max);
		return CAIRN_EINVAL;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

/* Check a POST /_sim/faults body and read it into out (strings borrowed
 * from j). Non-zero with *why set when it is not a valid rule. */
static int parse_rule(json_t *j, cairn_sim_fault_rule *out, char *why, size_t why_size)
{
	static const char *const keys[] = { "service", "action", "code", "status", "message", "count", NULL };
	const cairn_sim_service *svc = NULL;
	const char *k;
	long status = 400, count = -1;
	size_t i;
	json_t *v;

	if (!json_is_object(j)) {
		snprintf(why, why_size, "the body must be a JSON object");
		return CAIRN_EINVAL;
	}
	json_object_foreach(j, k, v) {
		for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
			;
		if (!keys[i]) {
			snprintf(why, why_size, "unknown key \"%.64s\" (known: service, action, code, status, "
				"message, count)", k);
			return CAIRN_EINVAL;
		}
	}
	if (opt_string(j, "service", &out->service, why, why_size) ||
	    opt_string(j, "action", &out->action, why, why_size) ||
	    opt_string(j, "code", &out->code, why, why_size) ||
	    opt_string(j, "message", &out->message, why, why_size) ||
	    opt_int(j, "status", 400, 599, &status, why, why_size) ||
	    opt_int(j, "count", 1, 1000000000L, &count, why, why_size))
		return CAIRN_EINVAL;
	if (out->service && !(svc = cairn_sim_service_find(out->service))) {
		snprintf(why, why_size, "the sim serves no service \"%.64s\"", out->service);
		return CAIRN_EINVAL;
	}
	if (!out->action || !out->code) {
		snprintf(why, why_size, "\"action\" and \"code\" are required");
		return CAIRN_EINVAL;
	}
	if (!action_known(svc, out->action)) {
		snprintf(why, why_size, "no action \"%.64s\" in %s", out->action, svc ? svc->name : "any service");
		return CAIRN_EINVAL;
	}
	if (!code_valid(out->code)) {
		snprintf(why, why_size, "\"code\" must be letters, digits and . : _ - (at most 95)");
		return CAIRN_EINVAL;
	}
	if (out->message && strlen(out->message) >= sizeof(((cairn_sim_req *)0)->err_message)) {
		snprintf(why, why_size, "\"message\" is too long (at most 1023 bytes)");
		return CAIRN_EINVAL;
	}
	out->status = (int)status;
	out->count = count;
	return 0;
}

/* /_sim/faults: GET lists the rules, POST adds one, DELETE clears them;
 * each answers with the rules in force. */
static int faults_op(cairn_sim *sim, const char *method, const char *body, size_t body_len,
	int *status, char **out)
{
	cairn_sim_fault_rule rule = { NULL, NULL, NULL, NULL, 400, -1 };
	json_error_t jerr;
	json_t *j = NULL;
	char why[256];
	int rc = 0;

	if (strcmp(method, "POST") == 0) {
		j = json_loadb(body ? body : "", body_len, 0, &jerr);
		if (!j)
			snprintf(why, sizeof(why), "cannot parse the body as JSON: %s", jerr.text);
		if (!j || parse_rule(j, &rule, why, sizeof(why)) != 0) {
			*status = 400;
			*out = json_message("%s", why);
			goto cleanup;
		}
		if ((rc = cairn_sim_faults_add(sim->faults, &rule)) != 0)
			goto cleanup;
	} else if (strcmp(method, "DELETE") == 0) {
		cairn_sim_faults_clear(sim->faults);
	} else if (strcmp(method, "GET") != 0) {
		*status = 405;
		*out = json_message("method %s not allowed", method);
		goto cleanup;
	}
	*status = 200;
	*out = dump_and_free(json_pack("{s:o}", "rules", cairn_sim_faults_rules_json(sim->faults)));
	if (!*out)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	json_decref(j);
	return rc;
}

/* POST /_sim/sts/expire: every temporary credential expires now. */
static int expire_op(cairn_sim *sim, const char *method, int *status, char **out)
{
	size_t n;

	if (strcmp(method, "POST") != 0) {
		*status = 405;
		*out = json_message("method %s not allowed", method);
		return 0;
	}
	n = sim->sessions ? cairn_sim_sessions_expire_all(sim->sessions) : 0;
	*status = 200;
	if (!(*out = dump_and_free(json_pack("{s:I}", "expired", (json_int_t)n))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

/* GET /_sim/hosts: the instance hosts (ec2_hosts.c). */
static int hosts_op(cairn_sim *sim, const char *method, int *status, char **out)
{
	if (strcmp(method, "GET") != 0) {
		*status = 405;
		*out = json_message("method %s not allowed", method);
		return 0;
	}
	if (!sim->hosts) {
		*status = 404;
		*out = json_message("%s", "the sim runs without --instance-hosts");
		return 0;
	}
	*status = 200;
	if (!(*out = dump_and_free(cairn_sim_hosts_json(sim->hosts))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

/* The endpoints on the store: under the store lock, in one transaction. */
static int store_op(cairn_sim *sim, const char *method, const char *path,
	const char *body, size_t body_len, int *status, char **body_out)
{
	int rc, write = strcmp(method, "GET") != 0;

	pthread_mutex_lock(&sim->lock);
	if ((rc = cairn_sim_store_begin(sim->store, write)) != 0)
		goto unlock;
	if (strcmp(path, "/_sim/resources") == 0 && strcmp(method, "GET") == 0) {
		rc = list_all(sim, status, body_out);
	} else if (strncmp(path, "/_sim/resources/", 16) == 0 && path[16]) {
		rc = resource_op(sim, method, path + 16, body, body_len, status, body_out);
	} else if (strcmp(path, "/_sim/reset") == 0 && strcmp(method, "POST") == 0) {
		if ((rc = cairn_sim_store_reset(sim->store)) == 0) {
			*status = 200;
			*body_out = strdup("{\"status\":\"reset\"}");
		}
	} else {
		*body_out = json_message("no admin endpoint %s", path);
	}
	if (rc == 0)
		rc = cairn_sim_store_commit(sim->store);
	else
		cairn_sim_store_rollback(sim->store);
unlock:
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int cairn_sim_admin_handle(cairn_sim *sim, const char *method, const char *path,
	const char *body, size_t body_len, int *status, char **body_out)
{
	int rc;

	*body_out = NULL;
	*status = 404;
	if (strcmp(path, "/_sim/health") == 0) {
		*status = 200;
		*body_out = strdup("{\"status\":\"ok\"}");
		return 0;
	}
	if (strcmp(path, "/_sim/faults") == 0)
		rc = faults_op(sim, method, body, body_len, status, body_out); /* own lock, no store */
	else if (strcmp(path, "/_sim/sts/expire") == 0)
		rc = expire_op(sim, method, status, body_out); /* own lock, no store */
	else if (strcmp(path, "/_sim/hosts") == 0)
		rc = hosts_op(sim, method, status, body_out); /* own lock, no store */
	else
		rc = store_op(sim, method, path, body, body_len, status, body_out);
	if (rc) {
		const cairn_error *e = cairn_error_last();

		free(*body_out);
		*status = 500;
		*body_out = json_message("%s", e ? e->message : "internal error");
	}
	return rc;
}
