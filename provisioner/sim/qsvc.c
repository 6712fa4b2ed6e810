/*
 * qsvc.c - helpers shared by the simulated RDS and ElastiCache (see qsvc.h):
 * parameter parsing in both list spellings, pagination, tags and the
 * tag-by-ARN actions, ARNs, and the VPC side (subnets, security groups,
 * dependency links on EC2 resources).
 */
#include "qsvc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EC2_SUBNET_TYPE "ec2:subnet"
#define EC2_SG_TYPE "ec2:security-group"

int qsvc_required(cairn_sim_req *req, const char *name, const char **out)
{
	const char *v = cairn_sim_form_get(req->form, name);

	if (!v || !*v)
		return cairn_sim_fail(req, 400, "MissingParameter",
			"The parameter %s must be provided and must not be blank.", name);
	*out = v;
	return 0;
}

int qsvc_bool(cairn_sim_req *req, const char *name, int *out, int *given)
{
	const char *v = cairn_sim_form_get(req->form, name);

	if (!v)
		return 0;
	if (strcasecmp(v, "true") == 0)
		*out = 1;
	else if (strcasecmp(v, "false") == 0)
		*out = 0;
	else
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Invalid value '%s' for %s: expected true or false.", v, name);
	if (given)
		*given = 1;
	return 0;
}

int qsvc_int(cairn_sim_req *req, const char *name, long lo, long hi, long *out, int *given)
{
	const char *v = cairn_sim_form_get(req->form, name);
	long long n;

	if (!v)
		return 0;
	if (cairn_sim_parse_integer(v, &n) != 0 || n < lo || n > hi)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Invalid value '%s' for %s: must be an integer between %ld and %ld.", v, name, lo, hi);
	*out = (long)n;
	if (given)
		*given = 1;
	return 0;
}

static int form_error(cairn_sim_req *req, int rc)
{
	if (rc == CAIRN_EINVAL)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s",
			cairn_error_last() ? cairn_error_last()->message : "list index");
	return rc;
}

int qsvc_list(cairn_sim_req *req, const char *prefix, const char *elem, cairn_sim_strs *out)
{
	char p[128];
	int rc;

	snprintf(p, sizeof(p), "%s.member", prefix);
	if ((rc = cairn_sim_form_list(req->form, p, out)) != 0)
		return form_error(req, rc);
	snprintf(p, sizeof(p), "%s.%s", prefix, elem);
	if ((rc = cairn_sim_form_list(req->form, p, out)) != 0)
		return form_error(req, rc);
	return 0;
}

static int tags_from(cairn_sim_req *req, const char *prefix, json_t *obj)
{
	cairn_sim_tag *tags = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = cairn_sim_form_tags(req->form, prefix, &tags, &n)) != 0)
		return form_error(req, rc);
	for (i = 0; i < n; i++) {
		if (!*tags[i].key) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Tag keys must not be empty.");
			break;
		}
		if (!cairn_sim_utf8_valid(tags[i].key)) { /* not echoed: the answer must stay UTF-8 */
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Tag key contains invalid characters (not UTF-8).");
			break;
		}
		if (tags[i].value && !cairn_sim_utf8_valid(tags[i].value)) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Tag value for key '%s' contains invalid characters (not UTF-8).", tags[i].key);
			break;
		}
		if (json_object_set_new(obj, tags[i].key, json_string(tags[i].value ? tags[i].value : "")) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
	}
	free(tags);
	return rc;
}

int qsvc_tags(cairn_sim_req *req, json_t *obj)
{
	int rc;

	if ((rc = tags_from(req, "Tags.member", obj)) != 0)
		return rc;
	return tags_from(req, "Tags.Tag", obj);
}

void qsvc_render_tags(cairn_sim_xml *x, const json_t *tags)
{
	const char *k;
	json_t *v;

	if (json_object_size(tags) == 0) {
		cairn_sim_xml_empty(x, "TagList");
		return;
	}
	cairn_sim_xml_open(x, "TagList");
	json_object_foreach((json_t *)tags, k, v) {
		cairn_sim_xml_open(x, "Tag");
		cairn_sim_xml_elem(x, "Key", k);
		cairn_sim_xml_elem(x, "Value", json_string_value(v));
		cairn_sim_xml_close(x, "Tag");
	}
	cairn_sim_xml_close(x, "TagList");
}

static int filters_from(cairn_sim_req *req, const char *prefix, cairn_sim_filters *out)
{
	long *idx = NULL;
	size_t cnt = 0, i;
	char vp[128];
	int rc;

	if ((rc = cairn_sim_form_indices(req->form, prefix, &idx, &cnt)) != 0)
		return form_error(req, rc);
	if (cnt) {
		cairn_sim_filter *nv = realloc(out->v, (out->n + cnt) * sizeof(*nv));

		if (!nv) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		out->v = nv;
	}
	for (i = 0; i < cnt; i++) {
		cairn_sim_filter *f = &out->v[out->n];

		memset(f, 0, sizeof(*f));
		f->name = cairn_sim_form_getf(req->form, "%s.%ld.Name", prefix, idx[i]);
		if (!f->name) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"The parameter Filter.Name must be provided.");
			goto cleanup;
		}
		out->n++;
		snprintf(vp, sizeof(vp), "%s.%ld.Values.Value", prefix, idx[i]);
		if ((rc = cairn_sim_form_list(req->form, vp, &f->values)) != 0)
			goto cleanup;
		snprintf(vp, sizeof(vp), "%s.%ld.Values.member", prefix, idx[i]);
		if ((rc = cairn_sim_form_list(req->form, vp, &f->values)) != 0)
			goto cleanup;
		if (f->values.n == 0) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"The parameter Filter.Values must be provided.");
			goto cleanup;
		}
	}
cleanup:
	free(idx);
	return rc == CAIRN_EINVAL ? form_error(req, rc) : rc;
}

int qsvc_filters(cairn_sim_req *req, cairn_sim_filters *out)
{
	int rc;

	out->v = NULL;
	out->n = 0;
	if ((rc = filters_from(req, "Filters.Filter", out)) == 0)
		rc = filters_from(req, "Filters.member", out);
	if (rc)
		cairn_sim_filters_release(out);
	return rc;
}

int qsvc_filter_match(const cairn_sim_filter *f, const char *const *values, size_t n)
{
	size_t i, j;

	for (i = 0; i < f->values.n; i++)
		for (j = 0; j < n; j++)
			if (values[j] && strcmp(f->values.v[i], values[j]) == 0)
				return 1;
	return 0;
}

int qsvc_version_prefix(const char *v, const char *full)
{
	size_t n = strlen(v);

	return n && full && strncmp(full, v, n) == 0 && (full[n] == '\0' || full[n] == '.');
}

int qsvc_version_older(const char *a, const char *b)
{
	while (a && b && *a && *b) {
		size_t na = strcspn(a, "."), nb = strcspn(b, ".");
		char *ea, *eb;
		long x = strtol(a, &ea, 10), y = strtol(b, &eb, 10);
		int c;

		if (ea == a + na && eb == b + nb && na && nb) {
			if (x != y)
				return x < y;
		} else if ((c = strncmp(a, b, na < nb ? na : nb)) != 0 || na != nb) {
			return c ? c < 0 : na < nb;
		}
		a += na + (a[na] == '.');
		b += nb + (b[nb] == '.');
	}
	return 0;
}

int qsvc_paging(cairn_sim_req *req, long *max, int64_t *after)
{
	const char *m = cairn_sim_form_get(req->form, "Marker");
	char *end;
	long long v;
	int rc;

	*max = 100;
	*after = 0;
	if (cairn_sim_form_get(req->form, "MaxRecords") &&
	    (rc = qsvc_int(req, "MaxRecords", 20, 100, max, NULL)) != 0)
		return rc;
	if (m && *m) {
		errno = 0;
		if (strncmp(m, "cairn1-", 7) != 0 || (v = strtoll(m + 7, &end, 10), end == m + 7) ||
		    *end || errno || v < 0)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"The marker '%s' is not valid.", m);
		*after = v;
	}
	return 0;
}

void qsvc_marker(cairn_sim_xml *x, int64_t seq)
{
	cairn_sim_xml_elemf(x, "Marker", "cairn1-%lld", (long long)seq);
}

/* Describe a page of resources of type (all, or just `one`). */
int qsvc_describe(cairn_sim_req *req, const char *type, const char *list_elem,
	cairn_sim_resource *one, int (*keep)(cairn_sim_req *, const cairn_sim_resource *, void *),
	void *ctx, void (*render)(cairn_sim_req *, const cairn_sim_resource *))
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	int64_t after = 0, last = 0;
	long max = 100, n = 0;
	size_t i;
	int rc, more = 0;

	if ((rc = qsvc_paging(req, &max, &after)) != 0)
		return rc;
	if (!one && (rc = cairn_sim_store_list(req->sim->store, type, req->region, NULL, &l)) != 0)
		return rc;
	cairn_sim_xml_open(&req->xml, list_elem);
	if (one && (rc = keep ? keep(req, one, ctx) : 1) < 0)
		goto cleanup;
	if (one && rc == 1)
		render(req, one);
	rc = 0;
	for (i = 0; i < l.n; i++) {
		if (l.v[i]->seq <= after)
			continue;
		if (keep && (rc = keep(req, l.v[i], ctx)) != 1) {
			if (rc < 0)
				goto cleanup;
			rc = 0;
			continue;
		}
		rc = 0;
		if (n == max) {
			more = 1;
			break;
		}
		render(req, l.v[i]);
		last = l.v[i]->seq;
		n++;
	}
	cairn_sim_xml_close(&req->xml, list_elem);
	if (more)
		qsvc_marker(&req->xml, last);
cleanup:
	cairn_sim_reslist_release(&l);
	return rc;
}

int qsvc_arn_to_id(cairn_sim_req *req, const char *service, const char *arn, char *id, size_t size)
{
	char want[256];
	size_t wl;
	const char *rest, *colon;
	int n;

	n = snprintf(want, sizeof(want), "arn:aws:%s:%s:%s:", service, req->region, req->sim->opt.account_id);
	if (n < 0 || (size_t)n >= sizeof(want))
		return CAIRN_EINVAL;
	wl = (size_t)n;
	if (!arn || strncmp(arn, want, wl) != 0)
		return CAIRN_EINVAL;
	rest = arn + wl;
	colon = strchr(rest, ':');
	if (!colon || colon == rest || !colon[1])
		return CAIRN_EINVAL;
	n = snprintf(id, size, "%s:%s:%s", service, req->region, rest);
	if (n < 0 || (size_t)n >= size)
		return CAIRN_EINVAL;
	return 0;
}

/* The entry of t->kinds for id, a store id as qsvc_arn_to_id makes it
 * ("<service>:<region>:<kind>:<name>"), or NULL for a kind not listed. */
static const qsvc_tag_kind *tag_kind(cairn_sim_req *req, const qsvc_tagging *t, const char *id)
{
	const char *kind = id + strlen(t->service) + 1 + strlen(req->region) + 1;
	size_t i, n;

	for (i = 0; i < QSVC_TAG_KINDS && t->kinds[i].kind; i++) {
		n = strlen(t->kinds[i].kind);
		if (strncmp(kind, t->kinds[i].kind, n) == 0 && kind[n] == ':')
			return &t->kinds[i];
	}
	return NULL;
}

static int tag_error(cairn_sim_req *req, const qsvc_tag_error *e, const char *arn)
{
	return cairn_sim_fail(req, e->status, e->code, e->message, arn);
}

/* The resource ResourceName names (and its kind), or the service's error. */
static int load_tagged(cairn_sim_req *req, const qsvc_tagging *t, cairn_sim_resource **out,
	const qsvc_tag_kind **kind)
{
	const qsvc_tag_kind *k;
	cairn_sim_resource *r = NULL;
	const char *arn;
	char id[512];
	int rc;

	if ((rc = qsvc_required(req, "ResourceName", &arn)) != 0)
		return rc;
	if (qsvc_arn_to_id(req, t->service, arn, id, sizeof(id)) != 0)
		return tag_error(req, &t->bad_arn, arn);
	if (!(k = tag_kind(req, t, id)))
		return tag_error(req, &t->other_kind, arn);
	rc = cairn_sim_store_get(req->sim->store, id, &r);
	if (rc == CAIRN_ENOTFOUND)
		return tag_error(req, &k->not_found, arn);
	if (rc)
		return rc;
	if (strcmp(r->type, k->type) != 0) {
		cairn_sim_resource_free(r);
		return tag_error(req, &t->bad_arn, arn);
	}
	if (k->ready && strcmp(r->status, k->ready) != 0) {
		cairn_sim_resource_free(r);
		return tag_error(req, &k->not_ready, arn);
	}
	*out = r;
	*kind = k;
	return 0;
}

/* A tag change made to r: into the busy status of its kind, if any. */
static int tagged(cairn_sim_req *req, const qsvc_tag_kind *k, cairn_sim_resource *r)
{
	int rc;

	if (k->busy && (rc = cairn_sim_resource_set_status(r, k->busy, k->ready,
			cairn_sim_delay(req->sim, k->busy_ms[0], k->busy_ms[1]))) != 0)
		return rc;
	return cairn_sim_store_put(req->sim->store, r);
}

static int remove_tags(cairn_sim_req *req, const qsvc_tagging *t, const qsvc_tag_kind *k,
	cairn_sim_resource *r)
{
	cairn_sim_strs keys = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = qsvc_list(req, "TagKeys", "TagKey", &keys)) != 0)
		goto cleanup;
	for (i = 0; i < keys.n; i++) {
		if (t->tag_not_found && !json_object_get(r->tags, keys.v[i])) {
			rc = cairn_sim_fail(req, 404, "TagNotFound", "The tag %s is not on the resource.", keys.v[i]);
			goto cleanup;
		}
		json_object_del(r->tags, keys.v[i]);
	}
	rc = tagged(req, k, r);
cleanup:
	cairn_sim_strs_release(&keys);
	return rc;
}

int qsvc_tags_by_arn(cairn_sim_req *req)
{
	const qsvc_tagging *t = req->service->data;
	const qsvc_tag_kind *k = NULL;
	const char *action = req->action->name;
	cairn_sim_resource *r = NULL;
	int rc, answer = 1;

	assert(t);
	if ((rc = load_tagged(req, t, &r, &k)) != 0)
		return rc;
	if (strcmp(action, "AddTagsToResource") == 0) {
		if ((rc = qsvc_tags(req, r->tags)) == 0)
			rc = tagged(req, k, r);
		answer = t->answer_tags;
	} else if (strcmp(action, "RemoveTagsFromResource") == 0) {
		rc = remove_tags(req, t, k, r);
		answer = t->answer_tags;
	} else {
		assert(strcmp(action, "ListTagsForResource") == 0);
	}
	if (rc == 0 && answer)
		qsvc_render_tags(&req->xml, r->tags);
	cairn_sim_resource_free(r);
	return rc;
}

void qsvc_region_code(const char *region, char *out, size_t size)
{
	size_t o = 0;
	const char *p = region;
	int part = 0;

	/* us-east-1 -> use1, eu-west-2 -> euw2, ap-southeast-1 -> aps1 */
	while (*p && o + 1 < size) {
		if (part == 0 && *p != '-')
			out[o++] = *p;
		else if (*p == '-') {
			part++;
			if (p[1] && o + 1 < size)
				out[o++] = p[1];
			p++;
		}
		p++;
	}
	out[o] = '\0';
}

void qsvc_account_hash(cairn_sim_req *req, char out[13])
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char seed[160], hex[65];
	size_t i;

	snprintf(seed, sizeof(seed), "%s/%s", req->sim->opt.account_id, req->region);
	cairn_sim_sha256_hex(hex, seed, strlen(seed));
	for (i = 0; i < 12; i++) {
		unsigned v = (unsigned)strtoul((char[3]){ hex[2 * i], hex[2 * i + 1], 0 }, NULL, 16);

		out[i] = alnum[v % 36];
	}
	out[12] = '\0';
}

/* Load an EC2 resource of type in the request's region; NULL when absent. */
static int load_ec2(cairn_sim_req *req, const char *id, const char *type, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	int rc = cairn_sim_store_get(req->sim->store, id, &r);

	*out = NULL;
	if (rc == CAIRN_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (strcmp(r->type, type) != 0 || strcmp(r->region, req->region) != 0) {
		cairn_sim_resource_free(r);
		return 0;
	}
	*out = r;
	return 0;
}

int qsvc_load_subnets(cairn_sim_req *req, const cairn_sim_strs *ids, const char *code,
	json_t **out, char *vpc, size_t vpc_size, size_t *azs)
{
	json_t *arr = json_array(), *seen = json_object();
	cairn_sim_resource *r = NULL;
	size_t i;
	int rc = 0;

	if (!arr || !seen) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	vpc[0] = '\0';
	for (i = 0; i < ids->n; i++) {
		const char *az;

		if ((rc = load_ec2(req, ids->v[i], EC2_SUBNET_TYPE, &r)) != 0)
			goto cleanup;
		if (!r) {
			rc = cairn_sim_fail(req, 400, code, "The subnet ID '%s' does not exist", ids->v[i]);
			goto cleanup;
		}
		if (!vpc[0])
			snprintf(vpc, vpc_size, "%s", r->parent_id ? r->parent_id : "");
		else if (!r->parent_id || strcmp(vpc, r->parent_id) != 0) {
			rc = cairn_sim_fail(req, 400, code,
				"Subnets %s and %s are not in a common VPC (%s, %s).", ids->v[0], ids->v[i],
				vpc, r->parent_id ? r->parent_id : "");
			goto cleanup;
		}
		az = json_string_value(json_object_get(r->attrs, "availabilityZone"));
		if (!az)
			az = "";
		if (!json_object_get(seen, ids->v[i]) &&
		    json_array_append_new(arr, json_pack("{s:s, s:s}", "id", ids->v[i], "az", az)) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		json_object_set_new(seen, ids->v[i], json_true());
		json_object_set_new(seen, az, json_true());
		cairn_sim_resource_free(r);
		r = NULL;
	}
	*azs = json_object_size(seen) - json_array_size(arr);
	*out = arr;
	arr = NULL;
cleanup:
	cairn_sim_resource_free(r);
	json_decref(arr);
	json_decref(seen);
	return rc;
}

int qsvc_check_sgs(cairn_sim_req *req, const cairn_sim_strs *ids, const char *vpc_id,
	const char *code, json_t **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	cairn_sim_resource *r = NULL;
	json_t *arr = json_array();
	size_t i;
	int rc = 0;

	if (!arr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < ids->n; i++) {
		if ((rc = load_ec2(req, ids->v[i], EC2_SG_TYPE, &r)) != 0)
			goto cleanup;
		if (!r || !r->parent_id || strcmp(r->parent_id, vpc_id) != 0) {
			rc = cairn_sim_fail(req, 400, code, r ?
				"The security group '%s' is not in the VPC of the subnet group" :
				"The security group '%s' does not exist", ids->v[i]);
			goto cleanup;
		}
		cairn_sim_resource_free(r);
		r = NULL;
		if (json_array_append_new(arr, json_string(ids->v[i])) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (ids->n == 0) {
		if ((rc = cairn_sim_store_list(req->sim->store, EC2_SG_TYPE, req->region, vpc_id, &l)) != 0)
			goto cleanup;
		for (i = 0; i < l.n; i++)
			if (json_is_true(json_object_get(l.v[i]->attrs, "isDefault")))
				json_array_append_new(arr, json_string(l.v[i]->id));
	}
	*out = arr;
	arr = NULL;
cleanup:
	cairn_sim_reslist_release(&l);
	cairn_sim_resource_free(r);
	json_decref(arr);
	return rc;
}

int qsvc_link(cairn_sim_req *req, const char *owner, const char *target)
{
	cairn_sim_resource *r = NULL;
	char id[512];
	int rc;

	snprintf(id, sizeof(id), "link:%s:%s", owner, target);
	rc = cairn_sim_store_get(req->sim->store, id, &r);
	cairn_sim_resource_free(r);
	r = NULL;
	if (rc != CAIRN_ENOTFOUND)
		return rc; /* 0: linked already (several nodes in one subnet) */
	if ((rc = cairn_sim_resource_new(&r, id, QSVC_LINK, req->region)) != 0)
		return rc;
	if ((rc = cairn_sim_resource_set_parent(r, target)) == 0) {
		json_object_set_new(r->attrs, "owner", json_string(owner));
		rc = cairn_sim_store_put(req->sim->store, r);
	}
	cairn_sim_resource_free(r);
	return rc;
}

int qsvc_unlink_all(cairn_sim_req *req, const char *owner, double at)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = cairn_sim_store_list(req->sim->store, QSVC_LINK, req->region, NULL, &l)) != 0)
		return rc;
	for (i = 0; !rc && i < l.n; i++) {
		const char *o = json_string_value(json_object_get(l.v[i]->attrs, "owner"));

		if (!o || strcmp(o, owner) != 0)
			continue;
		if (at <= 0)
			rc = cairn_sim_store_delete(req->sim->store, l.v[i]->id);
		else if ((rc = cairn_sim_resource_set_status(l.v[i], "", CAIRN_SIM_STATUS_GONE, at)) == 0)
			rc = cairn_sim_store_put(req->sim->store, l.v[i]);
	}
	cairn_sim_reslist_release(&l);
	return rc;
}
