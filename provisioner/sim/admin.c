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
 *                                     "tags":{k:"v"|null}, "status":"s"}
 *   DELETE /_sim/resources/{id}       delete (children are not touched)
 *   POST   /_sim/reset                delete everything
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

/* Apply {"attributes":{...}, "tags":{...}, "status":"..."} to r. */
static int apply_patch(cairn_sim_resource *r, json_t *patch, const char **why)
{
	json_t *attrs = json_object_get(patch, "attributes"), *tags = json_object_get(patch, "tags");
	json_t *st = json_object_get(patch, "status"), *v;
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
	if (st)
		return cairn_sim_resource_set_status(r, json_string_value(st), NULL, 0);
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

int cairn_sim_admin_handle(cairn_sim *sim, const char *method, const char *path,
	const char *body, size_t body_len, int *status, char **body_out)
{
	int rc = 0, write = strcmp(method, "GET") != 0;

	*body_out = NULL;
	*status = 404;
	if (strcmp(path, "/_sim/health") == 0) {
		*status = 200;
		*body_out = strdup("{\"status\":\"ok\"}");
		return 0;
	}
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
	if (rc) {
		const cairn_error *e = cairn_error_last();

		free(*body_out);
		*status = 500;
		*body_out = json_message("%s", e ? e->message : "internal error");
	}
	return rc;
}
