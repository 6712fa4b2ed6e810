/*
 * ec2.c - the simulated EC2 service (API version 2016-11-15), part one:
 * the action table, shared helpers (lookups, CIDRs, tags, the generic
 * Describe with filters and pagination), VPCs, subnets, tags and the
 * default VPC. Gateways, route tables and security groups are in ec2_net.c,
 * instances in ec2_instances.c, key pairs in ec2_keys.c.
 */
#include "ec2.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

/* ---- small helpers --------------------------------------------------------- */

int ec2_vals_add(ec2_vals *v, const char *s)
{
	char *d;

	if (!s)
		return 0;
	if (v->n == v->alloc) {
		size_t alloc = v->alloc ? v->alloc * 2 : 8;
		char **nv = realloc(v->v, alloc * sizeof(*nv));

		if (!nv)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		v->v = nv;
		v->alloc = alloc;
	}
	if (!(d = strdup(s)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	v->v[v->n++] = d;
	return 0;
}

int ec2_vals_addf(ec2_vals *v, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return ec2_vals_add(v, tmp);
}

void ec2_vals_clear(ec2_vals *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	v->n = 0;
}

static void vals_release(ec2_vals *v)
{
	ec2_vals_clear(v);
	free(v->v);
	v->v = NULL;
	v->alloc = 0;
}

const char *ec2_str(const cairn_sim_resource *r, const char *key)
{
	return json_string_value(json_object_get(r->attrs, key));
}

int ec2_bool_attr(const cairn_sim_resource *r, const char *key)
{
	return json_is_true(json_object_get(r->attrs, key));
}

int ec2_required(cairn_sim_req *req, const char *name, const char **out)
{
	const char *v = cairn_sim_form_get(req->form, name);

	if (!v || !*v)
		return cairn_sim_fail(req, 400, "MissingParameter",
			"The request must contain the parameter %s", name);
	*out = v;
	return 0;
}

int ec2_bool(cairn_sim_req *req, const char *name, const char *v, int *out)
{
	if (strcasecmp(v, "true") == 0)
		*out = 1;
	else if (strcasecmp(v, "false") == 0)
		*out = 0;
	else
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter %s is invalid. Expected: 'true' or 'false'.", v, name);
	return 0;
}

int ec2_parse_cidr(const char *s, uint32_t *net, int *prefix)
{
	char addr[32];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	char *end;
	long p;
	uint32_t a, mask;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1])
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1)
		return -1;
	errno = 0;
	p = strtol(slash + 1, &end, 10);
	if (*end || errno || p < 0 || p > 32 || slash[1] == '+' || slash[1] == '-')
		return -1;
	a = ntohl(in.s_addr);
	mask = p == 0 ? 0 : 0xFFFFFFFFu << (32 - p);
	if (a & ~mask)
		return -1;
	*net = a;
	*prefix = (int)p;
	return 0;
}

static int id_well_formed(const char *id, const char *prefix)
{
	size_t pl = strlen(prefix), n, i;

	if (strncmp(id, prefix, pl) != 0 || id[pl] != '-')
		return 0;
	n = strlen(id + pl + 1);
	if (n != 8 && n != 17)
		return 0;
	for (i = 0; i < n; i++) {
		char c = id[pl + 1 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return 1;
}

static int not_found(cairn_sim_req *req, const ec2_kind *kind, const char *id)
{
	char code[96];

	snprintf(code, sizeof(code), "%s.NotFound", kind->code);
	if (kind == &ec2_kind_sg)
		return cairn_sim_fail(req, 400, code, "The security group '%s' does not exist", id);
	return cairn_sim_fail(req, 400, code, "The %s '%s' does not exist", kind->noun, id);
}

static int malformed(cairn_sim_req *req, const ec2_kind *kind, const char *id)
{
	return cairn_sim_fail(req, 400, kind->malformed, "Invalid id: \"%s\"", id);
}

/* EC2 takes at most 200 filter values in one call, all filters together */
#define EC2_MAX_FILTER_VALUES 200

static int filter_limit(cairn_sim_req *req, const cairn_sim_filters *fl)
{
	size_t i, n = 0;

	for (i = 0; i < fl->n; i++)
		n += fl->v[i].values.n;
	if (n > EC2_MAX_FILTER_VALUES)
		return cairn_sim_fail(req, 400, "FilterLimitExceeded",
			"The maximum number of filter values specified on a single call is %d", EC2_MAX_FILTER_VALUES);
	return 0;
}

int ec2_load(cairn_sim_req *req, const ec2_kind *kind, const char *id, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	int rc;

	if (!id_well_formed(id, kind->prefix))
		return malformed(req, kind, id);
	rc = cairn_sim_store_get(req->sim->store, id, &r);
	if (rc == CAIRN_ENOTFOUND)
		return not_found(req, kind, id);
	if (rc)
		return rc;
	if (strcmp(r->type, kind->type) != 0 || strcmp(r->region, req->region) != 0) {
		cairn_sim_resource_free(r);
		return not_found(req, kind, id);
	}
	*out = r;
	return 0;
}

void ec2_return_true(cairn_sim_req *req)
{
	cairn_sim_xml_elem(&req->xml, "return", "true");
}

void ec2_render_tags(cairn_sim_req *req, const cairn_sim_resource *r)
{
	const char *k;
	json_t *v;

	if (json_object_size(r->tags) == 0) {
		cairn_sim_xml_empty(&req->xml, "tagSet");
		return;
	}
	cairn_sim_xml_open(&req->xml, "tagSet");
	json_object_foreach(r->tags, k, v) {
		cairn_sim_xml_open(&req->xml, "item");
		cairn_sim_xml_elem(&req->xml, "key", k);
		cairn_sim_xml_elem(&req->xml, "value", json_string_value(v));
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "tagSet");
}

/* ---- tags ---------------------------------------------------------------- */

static int validate_tag(cairn_sim_req *req, const char *key, const char *value)
{
	if (!key || !*key)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Tag key must not be empty");
	if (strlen(key) > 128)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Tag key exceeds the maximum length of 128 characters");
	if (value && strlen(value) > 256)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Tag value exceeds the maximum length of 256 characters");
	if (strncasecmp(key, "aws:", 4) == 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Tag keys starting with 'aws:' are reserved for internal use");
	/* neither is echoed: the answer must stay UTF-8 */
	if (!cairn_sim_utf8_valid(key))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Tag key contains invalid characters (not UTF-8)");
	if (value && !cairn_sim_utf8_valid(value))
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Tag value for key '%s' contains invalid characters (not UTF-8)", key);
	return 0;
}

static int set_tag(cairn_sim_req *req, cairn_sim_resource *r, const char *key, const char *value)
{
	int rc;

	if ((rc = validate_tag(req, key, value)) != 0)
		return rc;
	if (!json_object_get(r->tags, key) && json_object_size(r->tags) >= 50)
		return cairn_sim_fail(req, 400, "TagLimitExceeded",
			"The maximum number of tags for resource '%s' has been reached.", r->id);
	if (json_object_set_new(r->tags, key, json_string(value ? value : "")) != 0)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

int ec2_apply_tag_specs(cairn_sim_req *req, cairn_sim_resource *r, const char *tag_type)
{
	return ec2_apply_tag_specs_dropping(req, r, tag_type, NULL);
}

static bool name_listed(const char *const *names, const char *name)
{
	for (; names && *names; names++)
		if (strcmp(*names, name) == 0)
			return true;
	return false;
}

int ec2_apply_tag_specs_dropping(cairn_sim_req *req, cairn_sim_resource *r, const char *tag_type,
				 const char *const *dropped)
{
	long *idx = NULL;
	size_t n = 0, i, j, nt = 0;
	cairn_sim_tag *tags = NULL;
	int rc;

	if ((rc = cairn_sim_form_indices(req->form, "TagSpecification", &idx, &n)) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
	for (i = 0; i < n; i++) {
		char prefix[64];
		const char *rt = cairn_sim_form_getf(req->form, "TagSpecification.%ld.ResourceType", idx[i]);

		if (!rt || !*rt) {
			rc = cairn_sim_fail(req, 400, "MissingParameter",
				"The request must contain the parameter TagSpecification.%ld.ResourceType", idx[i]);
			goto cleanup;
		}
		if (strcmp(rt, tag_type) != 0 && !name_listed(dropped, rt)) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"'%s' is not a valid taggable resource type for this operation.", rt);
			goto cleanup;
		}
		snprintf(prefix, sizeof(prefix), "TagSpecification.%ld.Tag", idx[i]);
		free(tags);
		tags = NULL;
		if ((rc = cairn_sim_form_tags(req->form, prefix, &tags, &nt)) != 0) {
			rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter %s",
				cairn_error_last()->message);
			goto cleanup;
		}
		for (j = 0; j < nt && strcmp(rt, tag_type) == 0; j++)
			if ((rc = set_tag(req, r, tags[j].key, tags[j].value)) != 0)
				goto cleanup;
	}
cleanup:
	free(tags);
	free(idx);
	return rc;
}

int ec2_new(cairn_sim_req *req, const ec2_kind *kind, cairn_sim_resource **out)
{
	char id[48];
	cairn_sim_resource *r = NULL;
	int rc;

	cairn_sim_new_id(id, sizeof(id), kind->prefix);
	if ((rc = cairn_sim_resource_new(&r, id, kind->type, req->region)) != 0)
		return rc;
	if ((rc = ec2_apply_tag_specs(req, r, kind->tag_type)) != 0) {
		cairn_sim_resource_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* The kind of a resource id, from its prefix. */
static const ec2_kind *kind_of_id(const char *id)
{
	static const ec2_kind *const kinds[] = {
		&ec2_kind_vpc, &ec2_kind_subnet, &ec2_kind_igw, &ec2_kind_rtb, &ec2_kind_sg,
		&ec2_kind_instance, &ec2_kind_key_pair, NULL
	};
	size_t i;

	for (i = 0; kinds[i]; i++) {
		size_t n = strlen(kinds[i]->prefix);

		if (strncmp(id, kinds[i]->prefix, n) == 0 && id[n] == '-')
			return kinds[i];
	}
	return NULL;
}

static int load_any(cairn_sim_req *req, const char *id, cairn_sim_resource **out)
{
	const ec2_kind *kind = kind_of_id(id);

	if (!kind)
		return cairn_sim_fail(req, 400, "InvalidID", "The ID '%s' is not valid", id);
	return ec2_load(req, kind, id, out);
}

static int create_tags(cairn_sim_req *req)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	cairn_sim_tag *tags = NULL;
	cairn_sim_resource *r = NULL;
	size_t nt = 0, i, j;
	int rc;

	if ((rc = cairn_sim_form_list(req->form, "ResourceId", &ids)) != 0 ||
	    (rc = cairn_sim_form_tags(req->form, "Tag", &tags, &nt)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if (ids.n == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter resourceIdSet");
		goto cleanup;
	}
	if (nt == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter tagSet");
		goto cleanup;
	}
	for (i = 0; i < ids.n; i++) {
		if ((rc = load_any(req, ids.v[i], &r)) != 0)
			goto cleanup;
		for (j = 0; j < nt; j++)
			if ((rc = set_tag(req, r, tags[j].key, tags[j].value)) != 0)
				goto cleanup;
		if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
			goto cleanup;
		cairn_sim_resource_free(r);
		r = NULL;
	}
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(r);
	free(tags);
	cairn_sim_strs_release(&ids);
	return rc;
}

static int delete_tags(cairn_sim_req *req)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	cairn_sim_tag *tags = NULL;
	cairn_sim_resource *r = NULL;
	size_t nt = 0, i, j;
	int rc;

	if ((rc = cairn_sim_form_list(req->form, "ResourceId", &ids)) != 0 ||
	    (rc = cairn_sim_form_tags(req->form, "Tag", &tags, &nt)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if (ids.n == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter resourceIdSet");
		goto cleanup;
	}
	for (i = 0; i < ids.n; i++) {
		if ((rc = load_any(req, ids.v[i], &r)) != 0)
			goto cleanup;
		if (nt == 0) {
			json_object_clear(r->tags);
		} else {
			for (j = 0; j < nt; j++) {
				const char *cur = json_string_value(json_object_get(r->tags, tags[j].key));

				if (cur && (!tags[j].value || strcmp(cur, tags[j].value) == 0))
					json_object_del(r->tags, tags[j].key);
			}
		}
		if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
			goto cleanup;
		cairn_sim_resource_free(r);
		r = NULL;
	}
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(r);
	free(tags);
	cairn_sim_strs_release(&ids);
	return rc;
}

/* ---- filters and the generic Describe ---------------------------------------- */

/* tag:Key, tag-key, tag-value; CAIRN_ENOTFOUND for other names. */
static int tag_filter(const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (strncmp(name, "tag:", 4) == 0) {
		return ec2_vals_add(out, json_string_value(json_object_get(r->tags, name + 4)));
	} else if (strcmp(name, "tag-key") == 0 || strcmp(name, "tag-value") == 0) {
		json_object_foreach(r->tags, k, v) {
			if ((rc = ec2_vals_add(out, name[4] == 'k' ? k : json_string_value(v))) != 0)
				return rc;
		}
		return 0;
	}
	return CAIRN_ENOTFOUND;
}

/* 1 when r passes every filter, 0 when not; negative on error (the request
 * has failed for an unknown filter name). */
static int match_filters(cairn_sim_req *req, const ec2_kind *kind, const cairn_sim_resource *r,
	const cairn_sim_filters *fl, ec2_vals *scratch)
{
	size_t i, j, k;
	int rc;

	for (i = 0; i < fl->n; i++) {
		const cairn_sim_filter *f = &fl->v[i];
		int hit = 0;

		ec2_vals_clear(scratch);
		rc = tag_filter(r, f->name, scratch);
		if (rc == CAIRN_ENOTFOUND)
			rc = kind->filter(req, r, f->name, scratch);
		if (rc == CAIRN_ENOTFOUND)
			return cairn_sim_fail(req, 400, "InvalidParameterValue", "The filter '%s' is invalid", f->name);
		if (rc)
			return rc;
		for (j = 0; j < f->values.n && !hit; j++)
			for (k = 0; k < scratch->n && !hit; k++)
				hit = cairn_sim_glob_match(f->values.v[j], scratch->v[k]);
		if (!hit)
			return 0;
	}
	return 1;
}

/* MaxResults and NextToken; *max = 0 when not paginating. */
static int parse_paging(cairn_sim_req *req, int lo, int hi, long *max, int64_t *after)
{
	const char *m = cairn_sim_form_get(req->form, "MaxResults");
	const char *t = cairn_sim_form_get(req->form, "NextToken");
	char *end;
	long long v;

	*max = 0;
	*after = 0;
	if (m) {
		errno = 0;
		v = strtoll(m, &end, 10);
		if (end == m || *end || errno || v < lo || v > hi)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value ( %s ) for parameter maxResults is invalid. Parameter must be between %d and %d.",
				m, lo, hi);
		*max = (long)v;
	}
	if (t && *t) {
		errno = 0;
		if (strncmp(t, "cairn1-", 7) != 0 || (v = strtoll(t + 7, &end, 10), end == t + 7) ||
		    *end || errno || v < 0)
			return cairn_sim_fail(req, 400, "InvalidPaginationToken",
				"The specified pagination token is not valid or is expired.");
		*after = (int64_t)v;
	}
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const cairn_sim_resource *x = *(const cairn_sim_resource *const *)a;
	const cairn_sim_resource *y = *(const cairn_sim_resource *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Load the resources named by ids (each once), in creation order; the ids
 * that do not exist (or are of another kind or region) go to missing. */
static int load_ids(cairn_sim_req *req, const ec2_kind *kind, const cairn_sim_strs *ids,
	cairn_sim_reslist *l, cairn_buf *missing, size_t *n_missing)
{
	size_t i, j;
	int rc;

	for (i = 0; i < ids->n; i++) {
		cairn_sim_resource *r = NULL;

		for (j = 0; j < i && strcmp(ids->v[j], ids->v[i]) != 0; j++)
			;
		if (j < i)
			continue; /* asked twice */
		rc = cairn_sim_store_get(req->sim->store, ids->v[i], &r);
		if (rc && rc != CAIRN_ENOTFOUND)
			return rc;
		if (rc == CAIRN_ENOTFOUND || strcmp(r->type, kind->type) != 0 || strcmp(r->region, req->region) != 0) {
			cairn_sim_resource_free(r);
			if ((rc = cairn_buf_printf(missing, "%s%s", *n_missing ? ", " : "", ids->v[i])) != 0)
				return rc;
			(*n_missing)++;
			continue;
		}
		if (l->n == l->alloc) {
			size_t a = l->alloc ? l->alloc * 2 : 16;
			cairn_sim_resource **v = realloc(l->v, a * sizeof(*v));

			if (!v) {
				cairn_sim_resource_free(r);
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			}
			l->v = v;
			l->alloc = a;
		}
		l->v[l->n++] = r;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), by_seq);
	return 0;
}

int ec2_describe(cairn_sim_req *req, const ec2_kind *kind,
	int (*extra)(cairn_sim_req *req, const cairn_sim_resource *r))
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	cairn_sim_filters fl = { NULL, 0 };
	cairn_sim_reslist l = { NULL, 0, 0 };
	ec2_vals scratch = { NULL, 0, 0 };
	cairn_buf missing = CAIRN_BUF_INIT;
	size_t i, shown = 0, n_missing = 0;
	long max;
	int64_t after, last = 0;
	int rc, more = 0;

	if ((rc = cairn_sim_form_list(req->form, kind->id_param, &ids)) != 0 ||
	    (rc = cairn_sim_form_filters(req->form, "Filter", &fl)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if ((rc = filter_limit(req, &fl)) != 0)
		goto cleanup;
	if ((rc = parse_paging(req, kind->max_min, kind->max_max, &max, &after)) != 0)
		goto cleanup;
	for (i = 0; i < ids.n; i++)
		if (!id_well_formed(ids.v[i], kind->prefix)) {
			rc = malformed(req, kind, ids.v[i]);
			goto cleanup;
		}
	if (ids.n) {
		/* only the ids asked for: a lookup each, not a scan of everything */
		if ((rc = load_ids(req, kind, &ids, &l, &missing, &n_missing)) != 0)
			goto cleanup;
	} else if ((rc = cairn_sim_store_list(req->sim->store, kind->type, req->region, NULL, &l)) != 0) {
		goto cleanup;
	}
	if (n_missing) {
		char code[96];

		snprintf(code, sizeof(code), "%s.NotFound", kind->code);
		if (n_missing == 1) {
			rc = not_found(req, kind, missing.ptr);
		} else if (kind == &ec2_kind_sg) {
			rc = cairn_sim_fail(req, 400, code, "The security groups '%s' do not exist", missing.ptr);
		} else {
			rc = cairn_sim_fail(req, 400, code, "The %ss '%s' do not exist", kind->noun, missing.ptr);
		}
		goto cleanup;
	}
	cairn_sim_xml_open(&req->xml, kind->set_elem);
	for (i = 0; i < l.n; i++) {
		const cairn_sim_resource *r = l.v[i];

		if (r->seq <= after)
			continue;
		if (ids.n && !cairn_sim_strs_has(&ids, r->id))
			continue;
		if ((rc = match_filters(req, kind, r, &fl, &scratch)) < 0)
			goto cleanup;
		if (rc == 0 || (extra && !extra(req, r))) {
			rc = 0;
			continue;
		}
		rc = 0;
		if (max && shown == (size_t)max) {
			more = 1;
			break;
		}
		cairn_sim_xml_open(&req->xml, "item");
		if ((rc = kind->render(req, r)) != 0)
			goto cleanup;
		cairn_sim_xml_close(&req->xml, "item");
		shown++;
		last = r->seq;
	}
	cairn_sim_xml_close(&req->xml, kind->set_elem);
	if (more)
		cairn_sim_xml_elemf(&req->xml, "nextToken", "cairn1-%lld", (long long)last);
cleanup:
	cairn_buf_release(&missing);
	vals_release(&scratch);
	cairn_sim_reslist_release(&l);
	cairn_sim_filters_release(&fl);
	cairn_sim_strs_release(&ids);
	return rc;
}

static int describe_tags(cairn_sim_req *req)
{
	static const ec2_kind *const kinds[] = {
		&ec2_kind_vpc, &ec2_kind_subnet, &ec2_kind_igw, &ec2_kind_rtb, &ec2_kind_sg,
		&ec2_kind_instance, &ec2_kind_key_pair, NULL
	};
	cairn_sim_filters fl = { NULL, 0 };
	cairn_sim_reslist l = { NULL, 0, 0 };
	long max;
	int64_t after, index = 0;
	size_t i, j, shown = 0;
	int rc, more = 0;

	if ((rc = cairn_sim_form_filters(req->form, "Filter", &fl)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if ((rc = filter_limit(req, &fl)) != 0)
		goto cleanup;
	for (i = 0; i < fl.n; i++) {
		const char *n = fl.v[i].name;

		if (strcmp(n, "key") && strcmp(n, "value") && strcmp(n, "resource-id") &&
		    strcmp(n, "resource-type") && strncmp(n, "tag:", 4)) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "The filter '%s' is invalid", n);
			goto cleanup;
		}
	}
	if ((rc = parse_paging(req, 5, 1000, &max, &after)) != 0 ||
	    (rc = cairn_sim_store_list(req->sim->store, NULL, req->region, NULL, &l)) != 0)
		goto cleanup;
	cairn_sim_xml_open(&req->xml, "tagSet");
	for (i = 0; i < l.n && !more; i++) {
		const cairn_sim_resource *r = l.v[i];
		const ec2_kind *kind = NULL;
		const char *k;
		json_t *v;

		for (j = 0; kinds[j]; j++)
			if (strcmp(kinds[j]->type, r->type) == 0)
				kind = kinds[j];
		if (!kind)
			continue;
		json_object_foreach(r->tags, k, v) {
			const char *val = json_string_value(v);
			int ok = 1;

			for (j = 0; j < fl.n && ok; j++) {
				const cairn_sim_filter *f = &fl.v[j];
				const char *subject = strcmp(f->name, "key") == 0 ? k :
					strcmp(f->name, "value") == 0 ? val :
					strcmp(f->name, "resource-id") == 0 ? r->id :
					strcmp(f->name, "resource-type") == 0 ? kind->tag_type :
					json_string_value(json_object_get(r->tags, f->name + 4));
				size_t m;

				ok = 0;
				for (m = 0; subject && m < f->values.n && !ok; m++)
					ok = cairn_sim_glob_match(f->values.v[m], subject);
			}
			if (!ok)
				continue;
			index++;
			if (index <= after)
				continue;
			if (max && shown == (size_t)max) {
				more = 1;
				break;
			}
			cairn_sim_xml_open(&req->xml, "item");
			cairn_sim_xml_elem(&req->xml, "resourceId", r->id);
			cairn_sim_xml_elem(&req->xml, "resourceType", kind->tag_type);
			cairn_sim_xml_elem(&req->xml, "key", k);
			cairn_sim_xml_elem(&req->xml, "value", val);
			cairn_sim_xml_close(&req->xml, "item");
			shown++;
		}
	}
	cairn_sim_xml_close(&req->xml, "tagSet");
	if (more)
		cairn_sim_xml_elemf(&req->xml, "nextToken", "cairn1-%lld", (long long)(index - 1));
cleanup:
	cairn_sim_reslist_release(&l);
	cairn_sim_filters_release(&fl);
	return rc;
}

/* ---- VPCs ---------------------------------------------------------------------- */

static int vpc_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;

	cairn_sim_xml_elem(x, "vpcId", r->id);
	cairn_sim_xml_elem(x, "ownerId", req->sim->opt.account_id);
	cairn_sim_xml_elem(x, "state", r->status);
	cairn_sim_xml_elem(x, "cidrBlock", ec2_str(r, "cidrBlock"));
	cairn_sim_xml_open(x, "cidrBlockAssociationSet");
	cairn_sim_xml_open(x, "item");
	cairn_sim_xml_elem(x, "cidrBlock", ec2_str(r, "cidrBlock"));
	cairn_sim_xml_elem(x, "associationId", ec2_str(r, "cidrAssociationId"));
	cairn_sim_xml_raw(x, "<cidrBlockState><state>associated</state></cidrBlockState>");
	cairn_sim_xml_close(x, "item");
	cairn_sim_xml_close(x, "cidrBlockAssociationSet");
	cairn_sim_xml_empty(x, "ipv6CidrBlockAssociationSet");
	cairn_sim_xml_elem(x, "dhcpOptionsId", ec2_str(r, "dhcpOptionsId"));
	cairn_sim_xml_elem(x, "instanceTenancy", ec2_str(r, "instanceTenancy"));
	cairn_sim_xml_bool(x, "isDefault", ec2_bool_attr(r, "isDefault"));
	ec2_render_tags(req, r);
	return 0;
}

static int vpc_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	(void)req;
	if (!strcmp(name, "vpc-id"))
		return ec2_vals_add(out, r->id);
	if (!strcmp(name, "cidr") || !strcmp(name, "cidr-block-association.cidr-block") || !strcmp(name, "cidrBlock"))
		return ec2_vals_add(out, ec2_str(r, "cidrBlock"));
	if (!strcmp(name, "cidr-block-association.association-id"))
		return ec2_vals_add(out, ec2_str(r, "cidrAssociationId"));
	if (!strcmp(name, "cidr-block-association.state"))
		return ec2_vals_add(out, "associated");
	if (!strcmp(name, "state"))
		return ec2_vals_add(out, r->status);
	if (!strcmp(name, "is-default") || !strcmp(name, "isDefault"))
		return ec2_vals_add(out, ec2_bool_attr(r, "isDefault") ? "true" : "false");
	if (!strcmp(name, "owner-id"))
		return ec2_vals_add(out, req->sim->opt.account_id);
	if (!strcmp(name, "dhcp-options-id"))
		return ec2_vals_add(out, ec2_str(r, "dhcpOptionsId"));
	if (!strcmp(name, "instance-tenancy"))
		return ec2_vals_add(out, ec2_str(r, "instanceTenancy"));
	return CAIRN_ENOTFOUND;
}

const ec2_kind ec2_kind_vpc = {
	EC2_VPC, "vpc", "vpc ID", "InvalidVpcID", "InvalidVpcID.Malformed", "vpc", "VpcId", "vpcSet", 5, 1000,
	vpc_filter, vpc_render,
};

/* The region's dhcp options id: one per region, made up once. */
static int dhcp_options_id(cairn_sim_req *req, char *out, size_t size)
{
	char key[96], *v = NULL;
	int rc;

	snprintf(key, sizeof(key), "ec2:dhcp:%s", req->region);
	if ((rc = cairn_sim_store_meta_get(req->sim->store, key, &v)) != 0)
		return rc;
	if (v) {
		snprintf(out, size, "%s", v);
		free(v);
		return 0;
	}
	cairn_sim_new_id(out, size, "dopt");
	return cairn_sim_store_meta_set(req->sim->store, key, out);
}

/* Make a VPC (with its main route table and default security group). */
static int make_vpc(cairn_sim_req *req, const char *cidr, const char *tenancy, int is_default,
	int tags, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	char assoc[64], dopt[48], rtb[48], sg[48];
	int rc;

	if (tags) {
		if ((rc = ec2_new(req, &ec2_kind_vpc, &r)) != 0)
			return rc;
	} else {
		char id[48];

		cairn_sim_new_id(id, sizeof(id), "vpc");
		if ((rc = cairn_sim_resource_new(&r, id, EC2_VPC, req->region)) != 0)
			return rc;
	}
	cairn_sim_new_id(assoc, sizeof(assoc), "vpc-cidr-assoc");
	if ((rc = dhcp_options_id(req, dopt, sizeof(dopt))) != 0)
		goto cleanup;
	json_object_set_new(r->attrs, "cidrBlock", json_string(cidr));
	json_object_set_new(r->attrs, "cidrAssociationId", json_string(assoc));
	json_object_set_new(r->attrs, "dhcpOptionsId", json_string(dopt));
	json_object_set_new(r->attrs, "instanceTenancy", json_string(tenancy));
	json_object_set_new(r->attrs, "isDefault", json_boolean(is_default));
	json_object_set_new(r->attrs, "enableDnsSupport", json_true());
	json_object_set_new(r->attrs, "enableDnsHostnames", json_boolean(is_default));
	json_object_set_new(r->attrs, "enableNetworkAddressUsageMetrics", json_false());
	if (is_default)
		rc = cairn_sim_resource_set_status(r, "available", NULL, 0);
	else
		rc = cairn_sim_resource_set_status(r, "pending", "available", cairn_sim_delay(req->sim, 0, 2000));
	if (rc || (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	if ((rc = ec2_create_main_route_table(req, r, rtb, sizeof(rtb))) != 0 ||
	    (rc = ec2_create_default_sg(req, r, sg, sizeof(sg))) != 0)
		goto cleanup;
	json_object_set_new(r->attrs, "mainRouteTableId", json_string(rtb));
	json_object_set_new(r->attrs, "defaultSecurityGroupId", json_string(sg));
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	*out = r;
	r = NULL;
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

static int create_vpc(cairn_sim_req *req)
{
	const char *cidr = cairn_sim_form_get(req->form, "CidrBlock");
	const char *tenancy = cairn_sim_form_get(req->form, "InstanceTenancy");
	cairn_sim_resource *r = NULL;
	uint32_t net;
	int prefix, rc;

	if (!cidr || !*cidr) {
		if (cairn_sim_form_get(req->form, "Ipv4IpamPoolId"))
			return cairn_sim_fail(req, 400, "InvalidParameterValue", "IPAM pools are not supported by cairn sim");
		return cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter CidrBlock");
	}
	if (ec2_parse_cidr(cidr, &net, &prefix) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", cidr);
	if (prefix < 16 || prefix > 28)
		return cairn_sim_fail(req, 400, "InvalidVpc.Range", "The CIDR '%s' is invalid.", cidr);
	if (!tenancy)
		tenancy = "default";
	/* "host" is an instance tenancy, not one a VPC can have */
	if (strcmp(tenancy, "default") && strcmp(tenancy, "dedicated"))
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter instanceTenancy is invalid.", tenancy);
	if ((rc = make_vpc(req, cidr, tenancy, 0, 1, &r)) != 0)
		return rc;
	cairn_sim_xml_open(&req->xml, "vpc");
	vpc_render(req, r);
	cairn_sim_xml_close(&req->xml, "vpc");
	cairn_sim_resource_free(r);
	return 0;
}

static int describe_vpcs(cairn_sim_req *req)
{
	return ec2_describe(req, &ec2_kind_vpc, NULL);
}

static int delete_vpc(cairn_sim_req *req)
{
	cairn_sim_reslist kids = { NULL, 0, 0 };
	cairn_sim_resource *r = NULL;
	const char *id, *main_rtb, *def_sg;
	size_t i;
	int rc;

	if ((rc = ec2_required(req, "VpcId", &id)) != 0 || (rc = ec2_load(req, &ec2_kind_vpc, id, &r)) != 0)
		return rc;
	main_rtb = ec2_str(r, "mainRouteTableId");
	def_sg = ec2_str(r, "defaultSecurityGroupId");
	if ((rc = cairn_sim_store_list(req->sim->store, NULL, NULL, id, &kids)) != 0)
		goto cleanup;
	for (i = 0; i < kids.n; i++) {
		const char *kid = kids.v[i]->id;

		if ((main_rtb && strcmp(kid, main_rtb) == 0) || (def_sg && strcmp(kid, def_sg) == 0))
			continue;
		rc = cairn_sim_fail(req, 400, "DependencyViolation",
			"The vpc '%s' has dependencies and cannot be deleted.", id);
		goto cleanup;
	}
	for (i = 0; i < kids.n; i++)
		if ((rc = cairn_sim_store_delete(req->sim->store, kids.v[i]->id)) != 0)
			goto cleanup;
	if ((rc = cairn_sim_store_delete(req->sim->store, id)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_reslist_release(&kids);
	cairn_sim_resource_free(r);
	return rc;
}

static const char *const vpc_attrs[][2] = {
	{ "EnableDnsSupport", "enableDnsSupport" },
	{ "EnableDnsHostnames", "enableDnsHostnames" },
	{ "EnableNetworkAddressUsageMetrics", "enableNetworkAddressUsageMetrics" },
};

static int modify_vpc_attribute(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id, *which = NULL, *val = NULL;
	size_t i, n = 0;
	int rc, b;

	if ((rc = ec2_required(req, "VpcId", &id)) != 0)
		return rc;
	for (i = 0; i < sizeof(vpc_attrs) / sizeof(vpc_attrs[0]); i++) {
		const char *v = cairn_sim_form_getf(req->form, "%s.Value", vpc_attrs[i][0]);

		if (v) {
			which = vpc_attrs[i][1];
			val = v;
			n++;
		}
	}
	if (n == 0)
		return cairn_sim_fail(req, 400, "MissingParameter",
			"The request must contain one of EnableDnsSupport, EnableDnsHostnames or EnableNetworkAddressUsageMetrics");
	if (n > 1)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Fields for multiple attribute types specified: only one attribute can be modified at a time");
	if ((rc = ec2_bool(req, which, val, &b)) != 0 || (rc = ec2_load(req, &ec2_kind_vpc, id, &r)) != 0)
		return rc;
	if (strcmp(which, "enableDnsHostnames") == 0 && b && !ec2_bool_attr(r, "enableDnsSupport")) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Cannot enable DNS hostnames for a VPC whose DNS support is disabled");
		goto cleanup;
	}
	json_object_set_new(r->attrs, which, json_boolean(b));
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

static int describe_vpc_attribute(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id, *attr;
	size_t i;
	int rc;

	if ((rc = ec2_required(req, "VpcId", &id)) != 0 || (rc = ec2_required(req, "Attribute", &attr)) != 0)
		return rc;
	for (i = 0; i < sizeof(vpc_attrs) / sizeof(vpc_attrs[0]); i++)
		if (strcmp(attr, vpc_attrs[i][1]) == 0)
			break;
	if (i == sizeof(vpc_attrs) / sizeof(vpc_attrs[0]))
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter attribute is invalid. Unknown attribute.", attr);
	if ((rc = ec2_load(req, &ec2_kind_vpc, id, &r)) != 0)
		return rc;
	cairn_sim_xml_elem(&req->xml, "vpcId", r->id);
	cairn_sim_xml_open(&req->xml, attr);
	cairn_sim_xml_bool(&req->xml, "value", ec2_bool_attr(r, attr));
	cairn_sim_xml_close(&req->xml, attr);
	cairn_sim_resource_free(r);
	return 0;
}

/* ---- subnets ---------------------------------------------------------------------- */

/* "us-east-1" -> "use1", for availability zone ids (use1-az1). */
static void az_id(char *out, size_t size, const char *region, char letter)
{
	char short_name[32];
	size_t n = 0;
	const char *p = region;

	while (*p && n + 2 < sizeof(short_name)) {
		const char *dash = strchr(p, '-');

		if (!dash) {
			n += (size_t)snprintf(short_name + n, sizeof(short_name) - n, "%s", p);
			break;
		}
		short_name[n++] = *p;
		if (p == region && dash - p >= 2)
			short_name[n++] = p[1];
		p = dash + 1;
	}
	short_name[n < sizeof(short_name) ? n : sizeof(short_name) - 1] = '\0';
	if (strlen(short_name) + 8 > size)
		short_name[size > 8 ? size - 8 : 0] = '\0';
	snprintf(out, size, "%s-az%d", short_name, (letter - 'a' + 1) % 10);
}

static int subnet_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;
	uint32_t net;
	int prefix = 32;

	ec2_parse_cidr(ec2_str(r, "cidrBlock"), &net, &prefix);
	cairn_sim_xml_elem(x, "subnetId", r->id);
	cairn_sim_xml_elemf(x, "subnetArn", "arn:aws:ec2:%s:%s:subnet/%s", r->region,
		req->sim->opt.account_id, r->id);
	cairn_sim_xml_elem(x, "state", r->status);
	cairn_sim_xml_elem(x, "ownerId", req->sim->opt.account_id);
	cairn_sim_xml_elem(x, "vpcId", r->parent_id);
	cairn_sim_xml_elem(x, "cidrBlock", ec2_str(r, "cidrBlock"));
	cairn_sim_xml_empty(x, "ipv6CidrBlockAssociationSet");
	cairn_sim_xml_elemf(x, "availableIpAddressCount", "%lld", (1LL << (32 - prefix)) - 5);
	cairn_sim_xml_elem(x, "availabilityZone", ec2_str(r, "availabilityZone"));
	cairn_sim_xml_elem(x, "availabilityZoneId", ec2_str(r, "availabilityZoneId"));
	cairn_sim_xml_bool(x, "defaultForAz", ec2_bool_attr(r, "defaultForAz"));
	cairn_sim_xml_bool(x, "mapPublicIpOnLaunch", ec2_bool_attr(r, "mapPublicIpOnLaunch"));
	cairn_sim_xml_bool(x, "mapCustomerOwnedIpOnLaunch", ec2_bool_attr(r, "mapCustomerOwnedIpOnLaunch"));
	cairn_sim_xml_bool(x, "assignIpv6AddressOnCreation", ec2_bool_attr(r, "assignIpv6AddressOnCreation"));
	cairn_sim_xml_bool(x, "enableDns64", ec2_bool_attr(r, "enableDns64"));
	cairn_sim_xml_bool(x, "ipv6Native", 0);
	cairn_sim_xml_raw(x, "<privateDnsNameOptionsOnLaunch><hostnameType>ip-name</hostnameType>"
		"<enableResourceNameDnsARecord>false</enableResourceNameDnsARecord>"
		"<enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord>"
		"</privateDnsNameOptionsOnLaunch>");
	ec2_render_tags(req, r);
	return 0;
}

static int subnet_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	uint32_t net;
	int prefix = 32;

	if (!strcmp(name, "subnet-id"))
		return ec2_vals_add(out, r->id);
	if (!strcmp(name, "vpc-id"))
		return ec2_vals_add(out, r->parent_id);
	if (!strcmp(name, "cidr") || !strcmp(name, "cidr-block") || !strcmp(name, "cidrBlock"))
		return ec2_vals_add(out, ec2_str(r, "cidrBlock"));
	if (!strcmp(name, "availability-zone") || !strcmp(name, "availabilityZone"))
		return ec2_vals_add(out, ec2_str(r, "availabilityZone"));
	if (!strcmp(name, "availability-zone-id"))
		return ec2_vals_add(out, ec2_str(r, "availabilityZoneId"));
	if (!strcmp(name, "state"))
		return ec2_vals_add(out, r->status);
	if (!strcmp(name, "owner-id"))
		return ec2_vals_add(out, req->sim->opt.account_id);
	if (!strcmp(name, "default-for-az") || !strcmp(name, "defaultForAz"))
		return ec2_vals_add(out, ec2_bool_attr(r, "defaultForAz") ? "true" : "false");
	if (!strcmp(name, "map-public-ip-on-launch"))
		return ec2_vals_add(out, ec2_bool_attr(r, "mapPublicIpOnLaunch") ? "true" : "false");
	if (!strcmp(name, "subnet-arn"))
		return ec2_vals_addf(out, "arn:aws:ec2:%s:%s:subnet/%s", r->region, req->sim->opt.account_id, r->id);
	if (!strcmp(name, "available-ip-address-count")) {
		ec2_parse_cidr(ec2_str(r, "cidrBlock"), &net, &prefix);
		return ec2_vals_addf(out, "%lld", (1LL << (32 - prefix)) - 5);
	}
	return CAIRN_ENOTFOUND;
}

const ec2_kind ec2_kind_subnet = {
	EC2_SUBNET, "subnet", "subnet ID", "InvalidSubnetID", "InvalidSubnetID.Malformed", "subnet", "SubnetId", "subnetSet", 5, 1000,
	subnet_filter, subnet_render,
};

static int valid_az(const char *region, const char *az)
{
	size_t n = strlen(region);

	return strncmp(az, region, n) == 0 && az[n] >= 'a' && az[n] <= 'f' && az[n + 1] == '\0';
}

/* A sibling's CIDR: CIDR_OVERLAP when it overlaps the new one. */
#define CIDR_OVERLAP 1
typedef struct cidr_probe {
	uint32_t net;
	int prefix;
} cidr_probe;

static int cidr_overlaps(void *ud, const char *sibling)
{
	const cidr_probe *p = ud;
	uint32_t snet, smask, mask;
	int sprefix;

	if (ec2_parse_cidr(sibling, &snet, &sprefix) != 0)
		return 0;
	smask = sprefix ? 0xFFFFFFFFu << (32 - sprefix) : 0;
	mask = p->prefix ? 0xFFFFFFFFu << (32 - p->prefix) : 0;
	return (p->net & smask) == snet || (snet & mask) == p->net ? CIDR_OVERLAP : 0;
}

/* Make a subnet after validating its CIDR against the VPC and its siblings. */
static int make_subnet(cairn_sim_req *req, const cairn_sim_resource *vpc, const char *cidr,
	const char *az, int default_for_az, int tags, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	cidr_probe probe;
	uint32_t vnet;
	int vprefix, rc;
	char azid[32];

	if (ec2_parse_cidr(cidr, &probe.net, &probe.prefix) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", cidr);
	ec2_parse_cidr(ec2_str(vpc, "cidrBlock"), &vnet, &vprefix);
	if (probe.prefix < 16 || probe.prefix > 28 || probe.prefix < vprefix ||
	    (probe.net & (vprefix ? 0xFFFFFFFFu << (32 - vprefix) : 0)) != vnet)
		return cairn_sim_fail(req, 400, "InvalidSubnet.Range", "The CIDR '%s' is invalid.", cidr);
	rc = cairn_sim_store_child_attrs(req->sim->store, vpc->id, EC2_SUBNET, "cidrBlock", cidr_overlaps, &probe);
	if (rc == CIDR_OVERLAP)
		return cairn_sim_fail(req, 400, "InvalidSubnet.Conflict",
			"The CIDR '%s' conflicts with another subnet", cidr);
	if (rc)
		return rc;
	if (tags) {
		if ((rc = ec2_new(req, &ec2_kind_subnet, &r)) != 0)
			goto cleanup;
	} else {
		char id[48];

		cairn_sim_new_id(id, sizeof(id), "subnet");
		if ((rc = cairn_sim_resource_new(&r, id, EC2_SUBNET, req->region)) != 0)
			goto cleanup;
	}
	az_id(azid, sizeof(azid), req->region, az[strlen(az) - 1]);
	if ((rc = cairn_sim_resource_set_parent(r, vpc->id)) != 0)
		goto cleanup;
	json_object_set_new(r->attrs, "cidrBlock", json_string(cidr));
	json_object_set_new(r->attrs, "availabilityZone", json_string(az));
	json_object_set_new(r->attrs, "availabilityZoneId", json_string(azid));
	json_object_set_new(r->attrs, "defaultForAz", json_boolean(default_for_az));
	json_object_set_new(r->attrs, "mapPublicIpOnLaunch", json_boolean(default_for_az));
	json_object_set_new(r->attrs, "mapCustomerOwnedIpOnLaunch", json_false());
	json_object_set_new(r->attrs, "assignIpv6AddressOnCreation", json_false());
	json_object_set_new(r->attrs, "enableDns64", json_false());
	if (default_for_az)
		rc = cairn_sim_resource_set_status(r, "available", NULL, 0);
	else
		rc = cairn_sim_resource_set_status(r, "pending", "available", cairn_sim_delay(req->sim, 0, 1000));
	if (rc || (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	*out = r;
	r = NULL;
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

static int create_subnet(cairn_sim_req *req)
{
	const char *vpc_id, *cidr, *az = cairn_sim_form_get(req->form, "AvailabilityZone");
	const char *azid = cairn_sim_form_get(req->form, "AvailabilityZoneId");
	cairn_sim_resource *vpc = NULL, *r = NULL;
	char azbuf[64];
	int rc;

	if ((rc = ec2_required(req, "VpcId", &vpc_id)) != 0 || (rc = ec2_required(req, "CidrBlock", &cidr)) != 0)
		return rc;
	if (az && azid)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Only one of availabilityZone or availabilityZoneId may be specified");
	if (azid) {
		char letter;

		for (letter = 'a'; letter <= 'f'; letter++) {
			char cand[32];

			az_id(cand, sizeof(cand), req->region, letter);
			if (strcmp(cand, azid) == 0)
				break;
		}
		if (letter > 'f')
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value (%s) for parameter availabilityZoneId is invalid.", azid);
		snprintf(azbuf, sizeof(azbuf), "%s%c", req->region, letter);
		az = azbuf;
	} else if (!az) {
		snprintf(azbuf, sizeof(azbuf), "%s%c", req->region, 'a' + (int)(cairn_sim_random() * 3));
		az = azbuf;
	} else if (!valid_az(req->region, az)) {
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created "
			"in the following availability zones: %sa, %sb, %sc, %sd, %se, %sf.", az,
			req->region, req->region, req->region, req->region, req->region, req->region);
	}
	if ((rc = ec2_load(req, &ec2_kind_vpc, vpc_id, &vpc)) != 0)
		return rc;
	if ((rc = make_subnet(req, vpc, cidr, az, 0, 1, &r)) != 0)
		goto cleanup;
	cairn_sim_xml_open(&req->xml, "subnet");
	subnet_render(req, r);
	cairn_sim_xml_close(&req->xml, "subnet");
cleanup:
	cairn_sim_resource_free(r);
	cairn_sim_resource_free(vpc);
	return rc;
}

static int describe_subnets(cairn_sim_req *req)
{
	return ec2_describe(req, &ec2_kind_subnet, NULL);
}

static int delete_subnet(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id;
	int64_t kids = 0;
	int rc;

	if ((rc = ec2_required(req, "SubnetId", &id)) != 0 || (rc = ec2_load(req, &ec2_kind_subnet, id, &r)) != 0)
		return rc;
	if ((rc = cairn_sim_store_count_children(req->sim->store, id, NULL, &kids)) != 0)
		goto cleanup;
	if (kids) {
		rc = cairn_sim_fail(req, 400, "DependencyViolation",
			"The subnet '%s' has dependencies and cannot be deleted.", id);
		goto cleanup;
	}
	if ((rc = ec2_drop_subnet_associations(req, id)) != 0 ||
	    (rc = cairn_sim_store_delete(req->sim->store, id)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

static int modify_subnet_attribute(cairn_sim_req *req)
{
	static const char *const attrs[][2] = {
		{ "MapPublicIpOnLaunch", "mapPublicIpOnLaunch" },
		{ "AssignIpv6AddressOnCreation", "assignIpv6AddressOnCreation" },
		{ "MapCustomerOwnedIpOnLaunch", "mapCustomerOwnedIpOnLaunch" },
		{ "EnableDns64", "enableDns64" },
	};
	cairn_sim_resource *r = NULL;
	const char *id;
	size_t i, n = 0;
	int rc, b;

	if ((rc = ec2_required(req, "SubnetId", &id)) != 0 || (rc = ec2_load(req, &ec2_kind_subnet, id, &r)) != 0)
		return rc;
	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		const char *v = cairn_sim_form_getf(req->form, "%s.Value", attrs[i][0]);

		if (!v)
			continue;
		if ((rc = ec2_bool(req, attrs[i][0], v, &b)) != 0)
			goto cleanup;
		if (b && strcmp(attrs[i][1], "assignIpv6AddressOnCreation") == 0) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Invalid value for AssignIpv6AddressOnCreation: the subnet has no IPv6 CIDR block");
			goto cleanup;
		}
		json_object_set_new(r->attrs, attrs[i][1], json_boolean(b));
		n++;
	}
	if (n == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter",
			"The request must contain an attribute to modify, such as MapPublicIpOnLaunch");
		goto cleanup;
	}
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- for the kinds with a Describe of their own (ec2_instances.c, ec2_keys.c) ---- */

int ec2_id_well_formed(const char *id, const char *prefix)
{
	return id_well_formed(id, prefix);
}

int ec2_filter_limit(cairn_sim_req *req, const cairn_sim_filters *fl)
{
	return filter_limit(req, fl);
}

int ec2_match_filters(cairn_sim_req *req, const ec2_kind *kind, const cairn_sim_resource *r,
	const cairn_sim_filters *fl, ec2_vals *scratch)
{
	return match_filters(req, kind, r, fl, scratch);
}

int ec2_parse_paging(cairn_sim_req *req, int lo, int hi, long *max, int64_t *after)
{
	return parse_paging(req, lo, hi, max, after);
}

int ec2_set_tag(cairn_sim_req *req, cairn_sim_resource *r, const char *key, const char *value)
{
	return set_tag(req, r, key, value);
}

/* ---- the default VPC ---------------------------------------------------------------- */

static int region_init(cairn_sim_req *req)
{
	static const char *const cidrs[] = { "172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20" };
	cairn_sim_resource *vpc = NULL, *sn = NULL;
	char igw[48], az[64];
	size_t i;
	int rc;

	if (!req->sim->opt.default_vpc)
		return 0;
	if ((rc = make_vpc(req, "172.31.0.0/16", "default", 1, 0, &vpc)) != 0)
		return rc;
	for (i = 0; i < 3; i++) {
		snprintf(az, sizeof(az), "%s%c", req->region, (char)('a' + i));
		if ((rc = make_subnet(req, vpc, cidrs[i], az, 1, 0, &sn)) != 0)
			goto cleanup;
		cairn_sim_resource_free(sn);
		sn = NULL;
	}
	if ((rc = ec2_create_igw_attached(req, vpc->id, igw, sizeof(igw))) != 0 ||
	    (rc = ec2_add_route(req, ec2_str(vpc, "mainRouteTableId"), "0.0.0.0/0", igw)) != 0)
		goto cleanup;
cleanup:
	cairn_sim_resource_free(vpc);
	return rc;
}

/* ---- the service ---------------------------------------------------------------------- */

/* The parameters each action knows (first segments), from the API reference. */
#define PARAMS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define PAGED "Filter", "MaxResults", "NextToken"
#define RULE_PARAMS "GroupId", "IpPermissions", "TagSpecification", "CidrIp", "FromPort", "ToPort", \
	"IpProtocol", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId"

static const cairn_sim_action ec2_actions[] = {
	{ "CreateVpc", NULL, NULL, create_vpc, CAIRN_SIM_MUTATING,
	  PARAMS("CidrBlock", "InstanceTenancy", "TagSpecification", "AmazonProvidedIpv6CidrBlock", "Ipv6Pool",
		"Ipv6CidrBlock", "Ipv4IpamPoolId", "Ipv4NetmaskLength", "Ipv6IpamPoolId", "Ipv6NetmaskLength",
		"Ipv6CidrBlockNetworkBorderGroup") },
	{ "DescribeVpcs", NULL, NULL, describe_vpcs, CAIRN_SIM_READ, PARAMS("VpcId", PAGED) },
	{ "DeleteVpc", NULL, NULL, delete_vpc, CAIRN_SIM_MUTATING, PARAMS("VpcId") },
	{ "ModifyVpcAttribute", NULL, NULL, modify_vpc_attribute, CAIRN_SIM_MUTATING,
	  PARAMS("VpcId", "EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics") },
	{ "DescribeVpcAttribute", NULL, NULL, describe_vpc_attribute, CAIRN_SIM_READ, PARAMS("VpcId", "Attribute") },
	{ "CreateSubnet", NULL, NULL, create_subnet, CAIRN_SIM_MUTATING,
	  PARAMS("VpcId", "CidrBlock", "AvailabilityZone", "AvailabilityZoneId", "TagSpecification",
		"Ipv6CidrBlock", "OutpostArn", "Ipv6Native", "Ipv4IpamPoolId", "Ipv4NetmaskLength",
		"Ipv6IpamPoolId", "Ipv6NetmaskLength") },
	{ "DescribeSubnets", NULL, NULL, describe_subnets, CAIRN_SIM_READ, PARAMS("SubnetId", PAGED) },
	{ "DeleteSubnet", NULL, NULL, delete_subnet, CAIRN_SIM_MUTATING, PARAMS("SubnetId") },
	{ "ModifySubnetAttribute", NULL, NULL, modify_subnet_attribute, CAIRN_SIM_MUTATING,
	  PARAMS("SubnetId", "MapPublicIpOnLaunch", "AssignIpv6AddressOnCreation", "MapCustomerOwnedIpOnLaunch",
		"CustomerOwnedIpv4Pool", "EnableDns64", "PrivateDnsHostnameTypeOnLaunch",
		"EnableResourceNameDnsARecordOnLaunch", "EnableResourceNameDnsAAAARecordOnLaunch",
		"EnableLniAtDeviceIndex", "DisableLniAtDeviceIndex") },
	{ "CreateInternetGateway", NULL, NULL, ec2_create_internet_gateway, CAIRN_SIM_MUTATING,
	  PARAMS("TagSpecification") },
	{ "DescribeInternetGateways", NULL, NULL, ec2_describe_internet_gateways, CAIRN_SIM_READ,
	  PARAMS("InternetGatewayId", PAGED) },
	{ "DeleteInternetGateway", NULL, NULL, ec2_delete_internet_gateway, CAIRN_SIM_MUTATING,
	  PARAMS("InternetGatewayId") },
	{ "AttachInternetGateway", NULL, NULL, ec2_attach_internet_gateway, CAIRN_SIM_MUTATING,
	  PARAMS("InternetGatewayId", "VpcId") },
	{ "DetachInternetGateway", NULL, NULL, ec2_detach_internet_gateway, CAIRN_SIM_MUTATING,
	  PARAMS("InternetGatewayId", "VpcId") },
	{ "CreateRouteTable", NULL, NULL, ec2_create_route_table, CAIRN_SIM_MUTATING,
	  PARAMS("VpcId", "TagSpecification", "ClientToken") },
	{ "DescribeRouteTables", NULL, NULL, ec2_describe_route_tables, CAIRN_SIM_READ,
	  PARAMS("RouteTableId", PAGED) },
	{ "DeleteRouteTable", NULL, NULL, ec2_delete_route_table, CAIRN_SIM_MUTATING, PARAMS("RouteTableId") },
	{ "CreateRoute", NULL, NULL, ec2_create_route, CAIRN_SIM_MUTATING,
	  PARAMS("RouteTableId", "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId",
		"GatewayId", "NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId",
		"InstanceId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId",
		"VpcEndpointId", "CoreNetworkArn") },
	{ "DeleteRoute", NULL, NULL, ec2_delete_route, CAIRN_SIM_MUTATING,
	  PARAMS("RouteTableId", "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId") },
	{ "AssociateRouteTable", NULL, NULL, ec2_associate_route_table, CAIRN_SIM_MUTATING,
	  PARAMS("RouteTableId", "SubnetId", "GatewayId") },
	{ "DisassociateRouteTable", NULL, NULL, ec2_disassociate_route_table, CAIRN_SIM_MUTATING,
	  PARAMS("AssociationId") },
	{ "CreateSecurityGroup", NULL, NULL, ec2_create_security_group, CAIRN_SIM_MUTATING,
	  PARAMS("GroupName", "GroupDescription", "VpcId", "TagSpecification") },
	{ "DescribeSecurityGroups", NULL, NULL, ec2_describe_security_groups, CAIRN_SIM_READ,
	  PARAMS("GroupId", "GroupName", PAGED) },
	{ "DeleteSecurityGroup", NULL, NULL, ec2_delete_security_group, CAIRN_SIM_MUTATING,
	  PARAMS("GroupId", "GroupName") },
	{ "AuthorizeSecurityGroupIngress", NULL, NULL, ec2_authorize_ingress, CAIRN_SIM_MUTATING,
	  PARAMS(RULE_PARAMS, "GroupName") },
	{ "AuthorizeSecurityGroupEgress", NULL, NULL, ec2_authorize_egress, CAIRN_SIM_MUTATING,
	  PARAMS(RULE_PARAMS) },
	{ "RevokeSecurityGroupIngress", NULL, NULL, ec2_revoke_ingress, CAIRN_SIM_MUTATING,
	  PARAMS(RULE_PARAMS, "GroupName", "SecurityGroupRuleId") },
	{ "RevokeSecurityGroupEgress", NULL, NULL, ec2_revoke_egress, CAIRN_SIM_MUTATING,
	  PARAMS(RULE_PARAMS, "SecurityGroupRuleId") },
	{ "RunInstances", NULL, NULL, ec2_run_instances, CAIRN_SIM_MUTATING,
	  PARAMS("ImageId", "InstanceType", "MinCount", "MaxCount", "KeyName", "SecurityGroupId", "SecurityGroup",
		"SubnetId", "PrivateIpAddress", "UserData", "ClientToken", "TagSpecification", "NetworkInterface",
		"Placement", "Monitoring", "DisableApiTermination", "InstanceInitiatedShutdownBehavior", "EbsOptimized",
		"BlockDeviceMapping", "IamInstanceProfile", "MetadataOptions", "CreditSpecification", "CpuOptions",
		"HibernationOptions", "LaunchTemplate", "AdditionalInfo", "PrivateDnsNameOptions",
		"MaintenanceOptions", "EnablePrimaryIpv6", "DisableApiStop") },
	{ "DescribeInstances", NULL, NULL, ec2_describe_instances, CAIRN_SIM_READ, PARAMS("InstanceId", PAGED) },
	{ "StartInstances", NULL, NULL, ec2_start_instances, CAIRN_SIM_MUTATING, PARAMS("InstanceId", "AdditionalInfo") },
	{ "StopInstances", NULL, NULL, ec2_stop_instances, CAIRN_SIM_MUTATING, PARAMS("InstanceId", "Force", "Hibernate") },
	{ "TerminateInstances", NULL, NULL, ec2_terminate_instances, CAIRN_SIM_MUTATING, PARAMS("InstanceId") },
	{ "ModifyInstanceAttribute", NULL, NULL, ec2_modify_instance_attribute, CAIRN_SIM_MUTATING,
	  PARAMS("InstanceId", "Attribute", "Value", "InstanceType", "UserData", "GroupId", "SourceDestCheck",
		"DisableApiTermination", "DisableApiStop", "InstanceInitiatedShutdownBehavior", "EbsOptimized") },
	{ "DescribeInstanceAttribute", NULL, NULL, ec2_describe_instance_attribute, CAIRN_SIM_READ,
	  PARAMS("InstanceId", "Attribute") },
	{ "DescribeInstanceStatus", NULL, NULL, ec2_describe_instance_status, CAIRN_SIM_READ,
	  PARAMS("InstanceId", "IncludeAllInstances") },
	{ "DescribeImages", NULL, NULL, ec2_describe_images, CAIRN_SIM_READ,
	  PARAMS("ImageId", "Owner", "ExecutableBy", "IncludeDeprecated", "IncludeDisabled", PAGED) },
	{ "ImportKeyPair", NULL, NULL, ec2_import_key_pair, CAIRN_SIM_MUTATING,
	  PARAMS("KeyName", "PublicKeyMaterial", "TagSpecification") },
	{ "DescribeKeyPairs", NULL, NULL, ec2_describe_key_pairs, CAIRN_SIM_READ,
	  PARAMS("KeyName", "KeyPairId", "Filter", "IncludePublicKey") },
	{ "DeleteKeyPair", NULL, NULL, ec2_delete_key_pair, CAIRN_SIM_MUTATING, PARAMS("KeyName", "KeyPairId") },
	{ "CreateTags", NULL, NULL, create_tags, CAIRN_SIM_MUTATING, PARAMS("ResourceId", "Tag") },
	{ "DeleteTags", NULL, NULL, delete_tags, CAIRN_SIM_MUTATING, PARAMS("ResourceId", "Tag") },
	{ "DescribeTags", NULL, NULL, describe_tags, CAIRN_SIM_READ, PARAMS(PAGED) },
};

const cairn_sim_service cairn_sim_ec2_service = {
	.name = "ec2",
	.protocol = CAIRN_SIM_PROTO_EC2,
	.version = "2016-11-15",
	.xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/",
	.actions = ec2_actions,
	.n_actions = sizeof(ec2_actions) / sizeof(ec2_actions[0]),
	.throttle_code = "RequestLimitExceeded",
	.throttle_status = 503,
	.throttle_message = "Request limit exceeded.",
	.internal_code = "InternalError",
	.region_init = region_init,
};
