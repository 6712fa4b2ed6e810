/*
 * eks.c - the simulated EKS service (REST-JSON, API version 2017-11-01):
 * clusters, managed node groups, updates and tags.
 *
 * Store layout:
 *   eks:cluster    id = the cluster ARN; attrs hold the output shape of the
 *                  cluster (keys starting with '_' are private), status
 *                  CREATING -> ACTIVE -> UPDATING -> ACTIVE -> DELETING -> gone.
 *   eks:nodegroup  id = the node group ARN, parent = the cluster ARN; attrs
 *                  hold its Kubernetes version (the cluster's at create, then
 *                  moved by UpdateNodegroupVersion). UpdateClusterVersion is
 *                  refused while any node group's version is not the cluster's.
 *   eks:update     id = the update id, parent = the cluster or node group ARN,
 *                  status InProgress -> Successful, due with its owner's change.
 *   eks:eni        id = eni-..., parent = an EC2 subnet or security group the
 *                  cluster or node group uses (attrs.owner = its ARN). Being a
 *                  child is what makes EC2 refuse to delete the subnet or group
 *                  (DependencyViolation) while EKS uses it.
 * The cluster security group EKS creates is an ordinary EC2 group (with an
 * eks:eni child of its own); it goes away with the cluster.
 */
#include "ec2.h"

#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EKS_CLUSTER "eks:cluster"
#define EKS_NODEGROUP "eks:nodegroup"
#define EKS_UPDATE "eks:update"
#define EKS_ENI "eks:eni"

#define DEFAULT_VERSION "1.29"
#define PLATFORM_VERSION "eks.7"

/* Durations: fast (default) and --realistic-timings, in ms. */
#define T_CLUSTER_CREATE 1500, 10L * 60 * 1000
#define T_CLUSTER_DELETE 1000, 5L * 60 * 1000
#define T_CLUSTER_UPDATE 1500, 8L * 60 * 1000
#define T_NG_CREATE 1500, 4L * 60 * 1000
#define T_NG_DELETE 1000, 3L * 60 * 1000
#define T_NG_UPDATE 1500, 2L * 60 * 1000

static const char *const versions[] = { "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", NULL };
static const char *const log_types[] = { "api", "audit", "authenticator", "controllerManager", "scheduler", NULL };
static const char *const ami_types[] = {
	"AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64", "CUSTOM", "BOTTLEROCKET_ARM_64",
	"BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA",
	"WINDOWS_CORE_2019_x86_64", "WINDOWS_FULL_2019_x86_64", "WINDOWS_CORE_2022_x86_64",
	"WINDOWS_FULL_2022_x86_64", "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD",
	"AL2023_x86_64_NEURON", "AL2023_x86_64_NVIDIA", NULL
};
static const char *const capacity_types[] = { "ON_DEMAND", "SPOT", "CAPACITY_BLOCK", NULL };

/* ---- errors and input ------------------------------------------------------- */

static int invalid_param(cairn_sim_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int invalid_param(cairn_sim_req *req, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cairn_sim_fail(req, 400, "InvalidParameterException", "%s", msg);
}

static int not_found(cairn_sim_req *req, const char *what, const char *name)
{
	return cairn_sim_fail(req, 404, "ResourceNotFoundException", "No %s found for name: %s.", what, name);
}

static int in_list(const char *const *list, const char *s)
{
	size_t i;

	for (i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int oom(void)
{
	return cairn_error_set(CAIRN_ENOMEM, "out of memory");
}

/* The member `key` of obj: absent (NULL) or of the JSON type `want`. */
static int member(cairn_sim_req *req, json_t *obj, const char *key, json_type want, json_t **out)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_typeof(v) != want && !(want == JSON_TRUE && json_is_boolean(v)) &&
	    !(want == JSON_INTEGER && json_is_integer(v)))
		return cairn_sim_fail(req, 400, "SerializationException",
			"Unexpected type for field '%s'", key);
	*out = v;
	return 0;
}

static int opt_str(cairn_sim_req *req, json_t *obj, const char *key, const char **out)
{
	json_t *v;
	int rc = member(req, obj, key, JSON_STRING, &v);

	*out = v ? json_string_value(v) : NULL;
	return rc;
}

static int req_str(cairn_sim_req *req, json_t *obj, const char *key, const char **out)
{
	int rc = opt_str(req, obj, key, out);

	if (rc == 0 && (!*out || !**out))
		return invalid_param(req, "%s is required", key);
	return rc;
}

/* An array of strings (or absent). */
static int opt_str_array(cairn_sim_req *req, json_t *obj, const char *key, json_t **out)
{
	size_t i;
	json_t *v, *e;
	int rc = member(req, obj, key, JSON_ARRAY, &v);

	if (rc)
		return rc;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return cairn_sim_fail(req, 400, "SerializationException",
				"Unexpected type for an element of '%s'", key);
	*out = v;
	return 0;
}

static int opt_bool(cairn_sim_req *req, json_t *obj, const char *key, int *out, int *present)
{
	json_t *v;
	int rc = member(req, obj, key, JSON_TRUE, &v);

	*present = v != NULL;
	if (v)
		*out = json_is_true(v);
	return rc;
}

static int valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 100)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (!alnum && (i == 0 || (c != '-' && c != '_')))
			return 0;
	}
	return 1;
}

/* tags: an object of strings within EKS's limits. */
static int check_tags(cairn_sim_req *req, json_t *tags, const char *code, int status)
{
	const char *k;
	json_t *v;

	if (json_object_size(tags) > 50)
		return cairn_sim_fail(req, status, code, "Tag limit exceeded: a resource can have at most 50 tags");
	json_object_foreach(tags, k, v) {
		if (!json_is_string(v))
			return cairn_sim_fail(req, 400, "SerializationException", "Unexpected type for the value of tag '%s'", k);
		if (!*k || strlen(k) > 128 || strlen(json_string_value(v)) > 256)
			return cairn_sim_fail(req, status, code, "Tag '%s': keys are 1 to 128 characters, values at most 256", k);
		if (strncasecmp(k, "aws:", 4) == 0)
			return cairn_sim_fail(req, status, code, "Tag keys starting with 'aws:' are reserved for internal use");
	}
	return 0;
}

/* SHA-256 of the request body with keys sorted: "the same request". */
static int request_hash(cairn_sim_req *req, char out[65])
{
	char *s = json_dumps(req->json ? req->json : json_object(), JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		return oom();
	cairn_sim_sha256_hex(out, s, strlen(s));
	free(s);
	return 0;
}

/* ---- store helpers ------------------------------------------------------------ */

static void cluster_arn(const cairn_sim_req *req, const char *name, char *out, size_t size)
{
	snprintf(out, size, "arn:aws:eks:%s:%s:cluster/%s", req->region, req->sim->opt.account_id, name);
}

static const char *attr_str(const cairn_sim_resource *r, const char *key)
{
	return json_string_value(json_object_get(r->attrs, key));
}

static int load_cluster(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	char arn[512];
	cairn_sim_resource *r = NULL;
	int rc;

	if (!name || !valid_name(name))
		return not_found(req, "cluster", name ? name : "");
	cluster_arn(req, name, arn, sizeof(arn));
	rc = cairn_sim_store_get(req->sim->store, arn, &r);
	if (rc == CAIRN_ENOTFOUND)
		return not_found(req, "cluster", name);
	if (rc)
		return rc;
	if (strcmp(r->type, EKS_CLUSTER) != 0) {
		cairn_sim_resource_free(r);
		return not_found(req, "cluster", name);
	}
	*out = r;
	return 0;
}

/* The node group `name` of cluster, or *out = NULL when there is none. */
static int find_nodegroup(cairn_sim_req *req, const cairn_sim_resource *cluster, const char *name,
	cairn_sim_resource **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = cairn_sim_store_list(req->sim->store, EKS_NODEGROUP, req->region, cluster->id, &l)) != 0)
		return rc;
	for (i = 0; i < l.n && name; i++) {
		const char *n = attr_str(l.v[i], "nodegroupName");

		if (n && strcmp(n, name) == 0) {
			*out = l.v[i];
			l.v[i] = NULL;
			break;
		}
	}
	cairn_sim_reslist_release(&l);
	return 0;
}

static int load_nodegroup(cairn_sim_req *req, const cairn_sim_resource *cluster, const char *name,
	cairn_sim_resource **out)
{
	int rc = find_nodegroup(req, cluster, name, out);

	if (rc == 0 && !*out)
		return cairn_sim_fail(req, 404, "ResourceNotFoundException",
			"No node group found for name: %s.", name ? name : "");
	return rc;
}

static int load_cluster_and_nodegroup(cairn_sim_req *req, cairn_sim_resource **cluster,
	cairn_sim_resource **ng)
{
	int rc = load_cluster(req, cairn_sim_req_param(req, "name"), cluster);

	*ng = NULL;
	if (rc == 0 && (rc = load_nodegroup(req, *cluster, cairn_sim_req_param(req, "nodegroupName"), ng)) != 0) {
		cairn_sim_resource_free(*cluster);
		*cluster = NULL;
	}
	return rc;
}

/* Record that owner uses the EC2 resource `used` (a subnet or group). */
static int eni_add(cairn_sim_req *req, const char *owner, const char *used)
{
	cairn_sim_resource *r = NULL;
	char id[48];
	int rc;

	cairn_sim_new_id(id, sizeof(id), "eni");
	if ((rc = cairn_sim_resource_new(&r, id, EKS_ENI, req->region)) != 0)
		return rc;
	json_object_set_new(r->attrs, "owner", json_string(owner));
	if ((rc = cairn_sim_resource_set_parent(r, used)) == 0)
		rc = cairn_sim_store_put(req->sim->store, r);
	cairn_sim_resource_free(r);
	return rc;
}

/* Resources of type whose attrs[key] (or parent, key NULL) is owner: they
 * go away at `at` (the time the owner goes). */
static int expire_owned(cairn_sim_req *req, const char *type, const char *key, const char *owner, double at)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = cairn_sim_store_list(req->sim->store, type, req->region, key ? NULL : owner, &l)) != 0)
		return rc;
	for (i = 0; i < l.n && rc == 0; i++) {
		const char *o = key ? attr_str(l.v[i], key) : owner;

		if (!o || strcmp(o, owner) != 0)
			continue;
		if ((rc = cairn_sim_resource_set_status(l.v[i], l.v[i]->status, CAIRN_SIM_STATUS_GONE, at)) == 0)
			rc = cairn_sim_store_put(req->sim->store, l.v[i]);
	}
	cairn_sim_reslist_release(&l);
	return rc;
}

/* The resource id (if it still exists) goes away at `at`. */
static int expire_one(cairn_sim_req *req, const char *id, double at)
{
	cairn_sim_resource *r = NULL;
	int rc;

	if (!id)
		return 0;
	rc = cairn_sim_store_get(req->sim->store, id, &r);
	if (rc == CAIRN_ENOTFOUND)
		return 0;
	if (rc == 0 && (rc = cairn_sim_resource_set_status(r, r->status, CAIRN_SIM_STATUS_GONE, at)) == 0)
		rc = cairn_sim_store_put(req->sim->store, r);
	cairn_sim_resource_free(r);
	return rc;
}

/* Drop the private ('_') keys of a copy of attrs. */
static json_t *public_attrs(const cairn_sim_resource *r)
{
	json_t *o = json_deep_copy(r->attrs);
	const char *k;
	json_t *v;
	void *tmp;

	if (!o)
		return NULL;
	json_object_foreach_safe(o, tmp, k, v) {
		(void)v;
		if (k[0] == '_')
			json_object_del(o, k);
	}
	return o;
}

/* ---- rendering ----------------------------------------------------------------- */

static json_t *render_cluster(const cairn_sim_resource *r)
{
	json_t *o = public_attrs(r);

	if (!o)
		return NULL;
	json_object_set_new(o, "arn", json_string(r->id));
	json_object_set_new(o, "createdAt", json_real(r->created_at));
	json_object_set_new(o, "status", json_string(r->status));
	json_object_set_new(o, "tags", json_deep_copy(r->tags));
	if (strcmp(r->status, "CREATING") == 0) {
		/* the endpoint and its CA exist once the control plane is up */
		json_object_del(o, "endpoint");
		json_object_del(o, "certificateAuthority");
	}
	return o;
}

static json_t *render_nodegroup(const cairn_sim_resource *r)
{
	json_t *o = public_attrs(r);

	if (!o)
		return NULL;
	json_object_set_new(o, "nodegroupArn", json_string(r->id));
	json_object_set_new(o, "createdAt", json_real(r->created_at));
	json_object_set_new(o, "modifiedAt", json_real(r->updated_at));
	json_object_set_new(o, "status", json_string(r->status));
	json_object_set_new(o, "tags", json_deep_copy(r->tags));
	return o;
}

static json_t *render_update(const cairn_sim_resource *r)
{
	json_t *o = public_attrs(r);

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "status", json_string(r->status));
	json_object_set_new(o, "createdAt", json_real(r->created_at));
	json_object_set_new(o, "errors", json_array());
	return o;
}

/* req->json_out = { key: v } (v stolen). */
static int output(cairn_sim_req *req, const char *key, json_t *v)
{
	if (!v)
		return oom();
	req->json_out = json_object();
	if (!req->json_out || json_object_set_new(req->json_out, key, v) != 0)
		return oom();
	return 0;
}

/* ---- pagination ---------------------------------------------------------------- */

typedef struct page {
	long max;
	int64_t after; /* seq of the last item of the previous page */
} page;

static int parse_page(cairn_sim_req *req, page *p)
{
	const char *m = cairn_sim_req_query(req, "maxResults");
	const char *t = cairn_sim_req_query(req, "nextToken");
	char *end;

	p->max = 100;
	p->after = 0;
	if (m) {
		errno = 0;
		p->max = strtol(m, &end, 10);
		if (!*m || *end || errno || p->max < 1 || p->max > 100)
			return cairn_sim_fail(req, 400, "InvalidParameterException",
				"maxResults must be between 1 and 100, got '%s'", m);
	}
	if (t && *t) {
		long long v;

		errno = 0;
		v = strncmp(t, "eks-", 4) == 0 ? strtoll(t + 4, &end, 16) : -1;
		if (v < 0 || errno || *end)
			return cairn_sim_fail(req, 400, "InvalidParameterException", "The nextToken is invalid");
		p->after = (int64_t)v;
	}
	return 0;
}

/* Names (attrs[key]) of l after p->after, at most p->max, into {field: [...], nextToken}. */
static int output_page(cairn_sim_req *req, const cairn_sim_reslist *l, const page *p,
	const char *key, const char *field)
{
	json_t *names = json_array();
	size_t i, n = 0;
	int64_t last = 0;
	int more = 0;

	if (!names || !(req->json_out = json_object())) {
		json_decref(names);
		return oom();
	}
	json_object_set_new(req->json_out, field, names);
	for (i = 0; i < l->n; i++) {
		if (l->v[i]->seq <= p->after)
			continue;
		if ((long)n == p->max) {
			more = 1;
			break;
		}
		json_array_append_new(names, json_string(attr_str(l->v[i], key)));
		last = l->v[i]->seq;
		n++;
	}
	if (more) {
		char tok[40];

		snprintf(tok, sizeof(tok), "eks-%llx", (unsigned long long)last);
		json_object_set_new(req->json_out, "nextToken", json_string(tok));
	}
	return 0;
}

/* ---- clusters: input checks ------------------------------------------------------- */

/* The subnets exist, share one VPC (into vpc_out) and span two AZs. */
static int check_subnets(cairn_sim_req *req, json_t *ids, int need_two_azs, const char *want_vpc,
	char *vpc_out, size_t size)
{
	cairn_sim_resource *s = NULL;
	char first_az[64] = "";
	int two_azs = 0, rc = 0;
	size_t i;
	json_t *e;

	vpc_out[0] = '\0';
	json_array_foreach(ids, i, e) {
		const char *id = json_string_value(e), *az;

		rc = cairn_sim_store_get(req->sim->store, id, &s);
		if (rc == CAIRN_ENOTFOUND || (rc == 0 && (strcmp(s->type, EC2_SUBNET) != 0 || strcmp(s->region, req->region) != 0)))
			rc = invalid_param(req, "The subnet ID '%s' does not exist", id);
		if (rc)
			goto cleanup;
		if (want_vpc && strcmp(s->parent_id, want_vpc) != 0) {
			rc = invalid_param(req, "Subnet %s is not in the VPC %s of the cluster", id, want_vpc);
			goto cleanup;
		}
		if (!vpc_out[0])
			snprintf(vpc_out, size, "%s", s->parent_id);
		else if (strcmp(vpc_out, s->parent_id) != 0) {
			rc = invalid_param(req, "Subnets specified must be in the same VPC");
			goto cleanup;
		}
		az = attr_str(s, "availabilityZone");
		if (!first_az[0])
			snprintf(first_az, sizeof(first_az), "%s", az ? az : "");
		else if (az && strcmp(az, first_az) != 0)
			two_azs = 1;
		cairn_sim_resource_free(s);
		s = NULL;
	}
	if (need_two_azs && !two_azs)
		rc = invalid_param(req, "Subnets specified must be in at least two different AZs");
cleanup:
	cairn_sim_resource_free(s);
	return rc;
}

static int check_groups(cairn_sim_req *req, json_t *ids, const char *vpc)
{
	cairn_sim_resource *g = NULL;
	size_t i;
	json_t *e;
	int rc = 0;

	if (json_array_size(ids) > 5)
		return invalid_param(req, "You may specify at most 5 security groups");
	json_array_foreach(ids, i, e) {
		const char *id = json_string_value(e);

		rc = cairn_sim_store_get(req->sim->store, id, &g);
		if (rc == CAIRN_ENOTFOUND || (rc == 0 && (strcmp(g->type, EC2_SG) != 0 || strcmp(g->region, req->region) != 0)))
			rc = invalid_param(req, "The security group '%s' does not exist", id);
		else if (rc == 0 && strcmp(g->parent_id, vpc) != 0)
			rc = invalid_param(req, "Security group %s is not in the VPC %s of the subnets", id, vpc);
		cairn_sim_resource_free(g);
		g = NULL;
		if (rc)
			return rc;
	}
	return 0;
}

/* logging {clusterLogging: [{types: [...], enabled: bool}]} into a normalized copy. */
static int parse_logging(cairn_sim_req *req, json_t *logging, json_t **out)
{
	json_t *list = NULL, *e, *types, *norm;
	size_t i, j;
	int rc;

	*out = NULL;
	if ((rc = member(req, logging, "clusterLogging", JSON_ARRAY, &list)) != 0)
		return rc;
	if (!list)
		return invalid_param(req, "logging.clusterLogging is required");
	if (!(norm = json_array()))
		return oom();
	json_array_foreach(list, i, e) {
		json_t *t, *en;
		int enabled = 0, present = 0;

		if (!json_is_object(e) || (rc = opt_str_array(req, e, "types", &types)) != 0 ||
		    (rc = opt_bool(req, e, "enabled", &enabled, &present)) != 0) {
			if (!rc)
				rc = cairn_sim_fail(req, 400, "SerializationException", "Unexpected type in clusterLogging");
			goto fail;
		}
		json_array_foreach(types, j, t)
			if (!in_list(log_types, json_string_value(t))) {
				rc = invalid_param(req, "Invalid log type %s: expected api, audit, authenticator, controllerManager or scheduler",
					json_string_value(t));
				goto fail;
			}
		en = json_pack("{s:o, s:b}", "types", types ? json_incref(types) : json_array(), "enabled", enabled);
		if (!en || json_array_append_new(norm, en)) {
			rc = oom();
			goto fail;
		}
	}
	*out = norm;
	return 0;
fail:
	json_decref(norm);
	return rc;
}

static json_t *default_logging(void)
{
	json_t *types = json_array();
	size_t i;

	for (i = 0; log_types[i]; i++)
		json_array_append_new(types, json_string(log_types[i]));
	return json_pack("{s:[{s:o, s:b}]}", "clusterLogging", "types", types, "enabled", 0);
}

/* The one enabled/disabled list of log types AWS reports, from a request list. */
static json_t *merge_logging(json_t *current, json_t *changes)
{
	json_t *enabled = json_array(), *disabled = json_array(), *e, *t, *cl;
	size_t i, j, k;

	json_array_foreach(json_object_get(current, "clusterLogging"), i, e)
		json_array_foreach(json_object_get(e, "types"), j, t)
			json_array_append(json_is_true(json_object_get(e, "enabled")) ? enabled : disabled, t);
	json_array_foreach(changes, i, e) {
		int on = json_is_true(json_object_get(e, "enabled"));

		json_array_foreach(json_object_get(e, "types"), j, t) {
			json_t *from = on ? disabled : enabled, *to = on ? enabled : disabled, *x;
			int have = 0;

			json_array_foreach(from, k, x)
				if (json_equal(x, t)) {
					json_array_remove(from, k);
					break;
				}
			json_array_foreach(to, k, x)
				if (json_equal(x, t))
					have = 1;
			if (!have)
				json_array_append(to, t);
		}
	}
	cl = json_array();
	if (json_array_size(enabled))
		json_array_append_new(cl, json_pack("{s:O, s:b}", "types", enabled, "enabled", 1));
	if (json_array_size(disabled))
		json_array_append_new(cl, json_pack("{s:O, s:b}", "types", disabled, "enabled", 0));
	json_decref(enabled);
	json_decref(disabled);
	return json_pack("{s:o}", "clusterLogging", cl);
}

/* ---- clusters: creation --------------------------------------------------------- */

static int base64(const unsigned char *in, size_t n, char **out)
{
	char *b = malloc(4 * ((n + 2) / 3) + 1);

	if (!b)
		return oom();
	EVP_EncodeBlock((unsigned char *)b, in, (int)n);
	*out = b;
	return 0;
}

/* A fake PEM certificate, base64-encoded as EKS reports it. */
static int fake_ca(char **out)
{
	unsigned char raw[96];
	char *inner = NULL, *pem = NULL;
	cairn_buf b = CAIRN_BUF_INIT;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(cairn_sim_random() * 256);
	if ((rc = base64(raw, sizeof(raw), &inner)) != 0)
		return rc;
	if ((rc = cairn_buf_printf(&b, "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAV"
		"%s\n-----END CERTIFICATE-----\n", inner)) == 0 &&
	    (pem = cairn_buf_detach(&b)) != NULL)
		rc = base64((const unsigned char *)pem, strlen(pem), out);
	else if (!rc)
		rc = oom();
	free(pem);
	free(inner);
	cairn_buf_release(&b);
	return rc;
}

/* The security group EKS creates for the cluster, in the EC2 store. */
static int create_cluster_sg(cairn_sim_req *req, const char *name, const char *vpc, char *id_out, size_t size)
{
	cairn_sim_resource *r = NULL;
	char id[48], rid[48], gname[200], digits[11], tagk[200];
	json_t *rules;
	size_t i;
	int rc;

	cairn_sim_new_id(id, sizeof(id), "sg");
	for (i = 0; i < 10; i++)
		digits[i] = (char)('0' + (int)(cairn_sim_random() * 10));
	digits[10] = '\0';
	snprintf(gname, sizeof(gname), "eks-cluster-sg-%s-%s", name, digits);
	if ((rc = cairn_sim_resource_new(&r, id, EC2_SG, req->region)) != 0)
		return rc;
	cairn_sim_new_id(rid, sizeof(rid), "sgr");
	rules = json_pack("[{s:s, s:b, s:s, s:I, s:I, s:s}]", "id", rid, "egress", 0, "proto", "-1",
		"from", (json_int_t)-1, "to", (json_int_t)-1, "group", id);
	cairn_sim_new_id(rid, sizeof(rid), "sgr");
	if (rules)
		json_array_append_new(rules, json_pack("{s:s, s:b, s:s, s:I, s:I, s:s}", "id", rid, "egress", 1,
			"proto", "-1", "from", (json_int_t)-1, "to", (json_int_t)-1, "cidr", "0.0.0.0/0"));
	json_object_set_new(r->attrs, "groupName", json_string(gname));
	json_object_set_new(r->attrs, "description", json_string("EKS created security group applied to ENI "
		"that is attached to EKS Control Plane master nodes, as well as any managed workloads."));
	json_object_set_new(r->attrs, "isDefault", json_false());
	json_object_set_new(r->attrs, "rules", rules ? rules : json_array());
	snprintf(tagk, sizeof(tagk), "kubernetes.io/cluster/%s", name);
	json_object_set_new(r->tags, "aws:eks:cluster-name", json_string(name));
	json_object_set_new(r->tags, tagk, json_string("owned"));
	json_object_set_new(r->tags, "Name", json_string(gname));
	if ((rc = cairn_sim_resource_set_parent(r, vpc)) == 0 &&
	    (rc = cairn_sim_store_put(req->sim->store, r)) == 0)
		snprintf(id_out, size, "%s", id);
	cairn_sim_resource_free(r);
	return rc;
}

/* An existing resource created with the same clientRequestToken: 1 and
 * *out when it is the same request, a failure when the token was used
 * for another request, 0 when unused. */
static int token_lookup(cairn_sim_req *req, const char *type, const char *parent, const char *token,
	const char *hash, cairn_sim_resource **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if (!token)
		return 0;
	if ((rc = cairn_sim_store_list(req->sim->store, type, req->region, parent, &l)) != 0)
		return rc;
	for (i = 0; i < l.n; i++) {
		const char *t = attr_str(l.v[i], "clientRequestToken"), *h = attr_str(l.v[i], "_requestHash");

		if (!t || strcmp(t, token) != 0)
			continue;
		if (h && strcmp(h, hash) == 0) {
			*out = l.v[i];
			l.v[i] = NULL;
			rc = 1;
		} else {
			rc = invalid_param(req, "The client request token %s was already used with a different request",
				token);
		}
		break;
	}
	cairn_sim_reslist_release(&l);
	return rc;
}

typedef struct cluster_input {
	const char *name, *version, *role, *token;
	json_t *vpc_cfg, *subnets, *groups, *tags, *logging, *knc;
	int pub, priv, pub_set, priv_set;
	char vpc[64];
} cluster_input;

static int parse_cluster_input(cairn_sim_req *req, cluster_input *in)
{
	json_t *j = req->json;
	int rc;

	if ((rc = req_str(req, j, "name", &in->name)) != 0)
		return rc;
	if (!valid_name(in->name))
		return invalid_param(req, "Invalid cluster name '%s': 1 to 100 letters, digits, '-' and '_', starting "
			"with a letter or digit%s", in->name, "");
	if ((rc = opt_str(req, j, "version", &in->version)) != 0 || (rc = req_str(req, j, "roleArn", &in->role)) != 0 ||
	    (rc = opt_str(req, j, "clientRequestToken", &in->token)) != 0 ||
	    (rc = member(req, j, "resourcesVpcConfig", JSON_OBJECT, &in->vpc_cfg)) != 0 ||
	    (rc = member(req, j, "tags", JSON_OBJECT, &in->tags)) != 0 ||
	    (rc = member(req, j, "logging", JSON_OBJECT, &in->logging)) != 0 ||
	    (rc = member(req, j, "kubernetesNetworkConfig", JSON_OBJECT, &in->knc)) != 0)
		return rc;
	if (in->version && !in->version[0])
		in->version = NULL;
	if (in->version && !in_list(versions, in->version))
		return invalid_param(req, "unsupported Kubernetes version %s", in->version);
	if (strncmp(in->role, "arn:aws:iam::", 13) != 0 || !strstr(in->role, ":role/"))
		return invalid_param(req, "Invalid roleArn %s: expected the ARN of an IAM role", in->role);
	if (!in->vpc_cfg)
		return invalid_param(req, "resourcesVpcConfig is required");
	if ((rc = opt_str_array(req, in->vpc_cfg, "subnetIds", &in->subnets)) != 0 ||
	    (rc = opt_str_array(req, in->vpc_cfg, "securityGroupIds", &in->groups)) != 0 ||
	    (rc = opt_bool(req, in->vpc_cfg, "endpointPublicAccess", &in->pub, &in->pub_set)) != 0 ||
	    (rc = opt_bool(req, in->vpc_cfg, "endpointPrivateAccess", &in->priv, &in->priv_set)) != 0)
		return rc;
	if (json_array_size(in->subnets) == 0)
		return invalid_param(req, "resourcesVpcConfig.subnetIds is required: specify at least two subnets");
	if (in->tags && (rc = check_tags(req, in->tags, "InvalidParameterException", 400)) != 0)
		return rc;
	if ((rc = check_subnets(req, in->subnets, 1, NULL, in->vpc, sizeof(in->vpc))) != 0 ||
	    (rc = check_groups(req, in->groups, in->vpc)) != 0)
		return rc;
	if (in->pub_set && in->priv_set && !in->pub && !in->priv)
		return invalid_param(req, "The cluster must have public or private endpoint access enabled");
	return 0;
}

/* The attributes of a new cluster (its output shape, plus '_' keys). */
static int cluster_attrs(cairn_sim_req *req, cairn_sim_resource *r, const cluster_input *in,
	const char *cluster_sg, const char *hash)
{
	char hex[33], url[256], issuer[256];
	char *ca = NULL;
	json_t *logging = NULL, *knc, *vpc;
	const char *svc_cidr = NULL, *family = NULL;
	size_t i;
	int rc;

	cairn_sim_hex_id(hex, 32);
	for (i = 0; hex[i]; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	snprintf(url, sizeof(url), "https://%s.gr7.%s.eks.amazonaws.com", hex, req->region);
	snprintf(issuer, sizeof(issuer), "https://oidc.eks.%s.amazonaws.com/id/%s", req->region, hex);
	if (in->logging) {
		json_t *list = NULL;

		if ((rc = parse_logging(req, in->logging, &list)) != 0)
			return rc;
		json_t *defaults = default_logging();

		logging = merge_logging(defaults, list);
		json_decref(defaults);
		json_decref(list);
	} else {
		logging = default_logging();
	}
	if ((rc = opt_str(req, in->knc, "serviceIpv4Cidr", &svc_cidr)) != 0 ||
	    (rc = opt_str(req, in->knc, "ipFamily", &family)) != 0)
		goto cleanup;
	if (family && strcmp(family, "ipv4") != 0 && strcmp(family, "ipv6") != 0) {
		rc = invalid_param(req, "Invalid ipFamily %s: expected ipv4 or ipv6", family);
		goto cleanup;
	}
	if (svc_cidr) {
		uint32_t net;
		int prefix;

		if (ec2_parse_cidr(svc_cidr, &net, &prefix) != 0 || prefix < 12 || prefix > 24) {
			rc = invalid_param(req, "Invalid serviceIpv4Cidr %s: expected a /12 to /24 block", svc_cidr);
			goto cleanup;
		}
	}
	knc = json_pack("{s:s, s:s}", "serviceIpv4Cidr", svc_cidr ? svc_cidr : "10.100.0.0/16",
		"ipFamily", family ? family : "ipv4");
	vpc = json_pack("{s:o, s:o, s:s, s:s, s:b, s:b, s:[s]}", "subnetIds", json_deep_copy(in->subnets),
		"securityGroupIds", in->groups ? json_deep_copy(in->groups) : json_array(), "clusterSecurityGroupId", cluster_sg,
		"vpcId", in->vpc, "endpointPublicAccess", in->pub_set ? in->pub : 1,
		"endpointPrivateAccess", in->priv_set ? in->priv : 0, "publicAccessCidrs", "0.0.0.0/0");
	if ((rc = fake_ca(&ca)) != 0)
		goto cleanup;
	json_object_set_new(r->attrs, "name", json_string(in->name));
	json_object_set_new(r->attrs, "version", json_string(in->version ? in->version : DEFAULT_VERSION));
	json_object_set_new(r->attrs, "endpoint", json_string(url));
	json_object_set_new(r->attrs, "roleArn", json_string(in->role));
	json_object_set_new(r->attrs, "resourcesVpcConfig", vpc);
	json_object_set_new(r->attrs, "kubernetesNetworkConfig", knc);
	json_object_set_new(r->attrs, "logging", logging);
	logging = NULL;
	json_object_set_new(r->attrs, "identity", json_pack("{s:{s:s}}", "oidc", "issuer", issuer));
	json_object_set_new(r->attrs, "certificateAuthority", json_pack("{s:s}", "data", ca));
	json_object_set_new(r->attrs, "platformVersion", json_string(PLATFORM_VERSION));
	json_object_set_new(r->attrs, "accessConfig", json_pack("{s:s}", "authenticationMode", "CONFIG_MAP"));
	json_object_set_new(r->attrs, "health", json_pack("{s:[]}", "issues"));
	if (in->token)
		json_object_set_new(r->attrs, "clientRequestToken", json_string(in->token));
	json_object_set_new(r->attrs, "_requestHash", json_string(hash));
	if (in->tags)
		json_object_update(r->tags, in->tags);
cleanup:
	json_decref(logging);
	free(ca);
	return rc;
}

static int create_cluster(cairn_sim_req *req)
{
	cluster_input in;
	cairn_sim_resource *r = NULL;
	char arn[512], hash[65], sg[48];
	size_t i;
	json_t *e;
	int rc;

	memset(&in, 0, sizeof(in));
	if ((rc = parse_cluster_input(req, &in)) != 0 || (rc = request_hash(req, hash)) != 0)
		return rc;
	rc = token_lookup(req, EKS_CLUSTER, NULL, in.token, hash, &r);
	if (rc == 1) {
		/* a retry of a request that already succeeded */
		rc = output(req, "cluster", render_cluster(r));
		cairn_sim_resource_free(r);
		return rc;
	}
	if (rc)
		return rc;
	cluster_arn(req, in.name, arn, sizeof(arn));
	rc = cairn_sim_store_get(req->sim->store, arn, &r);
	if (rc == 0) {
		cairn_sim_resource_free(r);
		return cairn_sim_fail(req, 409, "ResourceInUseException", "Cluster already exists with name: %s", in.name);
	}
	if (rc != CAIRN_ENOTFOUND)
		return rc;
	r = NULL;
	if ((rc = create_cluster_sg(req, in.name, in.vpc, sg, sizeof(sg))) != 0 ||
	    (rc = cairn_sim_resource_new(&r, arn, EKS_CLUSTER, req->region)) != 0 ||
	    (rc = cluster_attrs(req, r, &in, sg, hash)) != 0)
		goto cleanup;
	if ((rc = cairn_sim_resource_set_status(r, "CREATING", "ACTIVE",
		cairn_sim_delay(req->sim, T_CLUSTER_CREATE))) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	/* the control plane's network interfaces: in every subnet, with every group */
	json_array_foreach(in.subnets, i, e)
		if ((rc = eni_add(req, arn, json_string_value(e))) != 0)
			goto cleanup;
	json_array_foreach(in.groups, i, e)
		if ((rc = eni_add(req, arn, json_string_value(e))) != 0)
			goto cleanup;
	if ((rc = eni_add(req, arn, sg)) != 0)
		goto cleanup;
	rc = output(req, "cluster", render_cluster(r));
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- clusters: the rest ------------------------------------------------------------- */

static int describe_cluster(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	int rc;

	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &r)) != 0)
		return rc;
	rc = output(req, "cluster", render_cluster(r));
	cairn_sim_resource_free(r);
	return rc;
}

static int list_clusters(cairn_sim_req *req)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	page p;
	int rc;

	if ((rc = parse_page(req, &p)) != 0)
		return rc;
	if ((rc = cairn_sim_store_list(req->sim->store, EKS_CLUSTER, req->region, NULL, &l)) == 0)
		rc = output_page(req, &l, &p, "name", "clusters");
	cairn_sim_reslist_release(&l);
	return rc;
}

static int delete_cluster(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	int64_t ngs = 0;
	double at;
	int rc;

	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &r)) != 0)
		return rc;
	if (strcmp(r->status, "DELETING") == 0)
		goto done;
	if (strcmp(r->status, "UPDATING") == 0) {
		rc = cairn_sim_fail(req, 409, "ResourceInUseException",
			"Cannot delete because cluster %s currently has an update in progress", attr_str(r, "name"));
		goto cleanup;
	}
	if ((rc = cairn_sim_store_count_children(req->sim->store, r->id, EKS_NODEGROUP, &ngs)) != 0)
		goto cleanup;
	if (ngs) {
		rc = cairn_sim_fail(req, 409, "ResourceInUseException",
			"Cluster has nodegroups attached");
		goto cleanup;
	}
	at = cairn_sim_delay(req->sim, T_CLUSTER_DELETE);
	if ((rc = cairn_sim_resource_set_status(r, "DELETING", CAIRN_SIM_STATUS_GONE, at)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0 ||
	    (rc = expire_owned(req, EKS_ENI, "owner", r->id, at)) != 0 ||
	    (rc = expire_owned(req, EKS_UPDATE, NULL, r->id, at)) != 0)
		goto cleanup;
	if ((rc = expire_one(req, json_string_value(json_object_get(json_object_get(r->attrs,
		"resourcesVpcConfig"), "clusterSecurityGroupId")), at)) != 0)
		goto cleanup;
done:
	rc = output(req, "cluster", render_cluster(r));
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- updates ------------------------------------------------------------------------ */

/* A new update of owner (a cluster or node group), InProgress until `at`. */
static int update_new(cairn_sim_req *req, const char *owner, const char *type, json_t *params,
	const char *token, double at)
{
	cairn_sim_resource *u = NULL;
	char id[37];
	int rc;

	cairn_sim_uuid(id);
	if ((rc = cairn_sim_resource_new(&u, id, EKS_UPDATE, req->region)) != 0) {
		json_decref(params);
		return rc;
	}
	json_object_set_new(u->attrs, "type", json_string(type));
	json_object_set_new(u->attrs, "params", params);
	if (token)
		json_object_set_new(u->attrs, "_token", json_string(token));
	if ((rc = cairn_sim_resource_set_parent(u, owner)) == 0 &&
	    (rc = cairn_sim_resource_set_status(u, "InProgress", "Successful", at)) == 0 &&
	    (rc = cairn_sim_store_put(req->sim->store, u)) == 0)
		rc = output(req, "update", render_update(u));
	cairn_sim_resource_free(u);
	return rc;
}

/* An update of owner made with the same token: 1 (and the output set). */
static int update_by_token(cairn_sim_req *req, const char *owner, const char *token)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if (!token)
		return 0;
	if ((rc = cairn_sim_store_list(req->sim->store, EKS_UPDATE, req->region, owner, &l)) != 0)
		return rc;
	for (i = 0; i < l.n; i++) {
		const char *t = attr_str(l.v[i], "_token");

		if (t && strcmp(t, token) == 0) {
			rc = output(req, "update", render_update(l.v[i]));
			if (!rc)
				rc = 1;
			break;
		}
	}
	cairn_sim_reslist_release(&l);
	return rc;
}

static json_t *param(const char *type, const char *value)
{
	return json_pack("{s:s, s:s}", "type", type, "value", value);
}

static json_t *param_json(const char *type, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	json_t *p = s ? param(type, s) : NULL;

	free(s);
	return p;
}

/* The cluster must be ACTIVE to change. */
static int cluster_changeable(cairn_sim_req *req, const cairn_sim_resource *r)
{
	if (strcmp(r->status, "UPDATING") == 0)
		return cairn_sim_fail(req, 409, "ResourceInUseException",
			"Cluster %s has an update in progress", attr_str(r, "name"));
	if (strcmp(r->status, "ACTIVE") != 0)
		return cairn_sim_fail(req, 400, "InvalidRequestException",
			"Cluster '%s' is not in ACTIVE status", attr_str(r, "name"));
	return 0;
}

static int endpoint_update(cairn_sim_req *req, cairn_sim_resource *r, json_t *cfg, json_t **params, const char **type)
{
	json_t *cur = json_object_get(r->attrs, "resourcesVpcConfig"), *cidrs = NULL;
	int pub = json_is_true(json_object_get(cur, "endpointPublicAccess"));
	int priv = json_is_true(json_object_get(cur, "endpointPrivateAccess"));
	int npub = pub, npriv = priv, set_pub, set_priv, rc;

	if ((rc = opt_bool(req, cfg, "endpointPublicAccess", &npub, &set_pub)) != 0 ||
	    (rc = opt_bool(req, cfg, "endpointPrivateAccess", &npriv, &set_priv)) != 0 ||
	    (rc = opt_str_array(req, cfg, "publicAccessCidrs", &cidrs)) != 0)
		return rc;
	if (json_object_get(cfg, "subnetIds") || json_object_get(cfg, "securityGroupIds"))
		return invalid_param(req, "Subnets and security groups cannot be changed with an endpoint "
			"access update");
	if (!npub && !npriv)
		return invalid_param(req, "The cluster must have public or private endpoint access enabled");
	if (npub == pub && npriv == priv && (!cidrs || json_equal(cidrs, json_object_get(cur, "publicAccessCidrs"))))
		return cairn_sim_fail(req, 400, "InvalidParameterException",
			"Cluster is already at the desired configuration with endpointPrivateAccess: %s , "
			"endpointPublicAccess: %s", priv ? "true" : "false", pub ? "true" : "false");
	json_object_set_new(cur, "endpointPublicAccess", json_boolean(npub));
	json_object_set_new(cur, "endpointPrivateAccess", json_boolean(npriv));
	if (cidrs)
		json_object_set(cur, "publicAccessCidrs", cidrs);
	*params = json_pack("[o, o]", param("EndpointPublicAccess", npub ? "true" : "false"),
		param("EndpointPrivateAccess", npriv ? "true" : "false"));
	if (*params && cidrs)
		json_array_append_new(*params, param_json("PublicAccessCidrs", cidrs));
	*type = "EndpointAccessUpdate";
	return *params ? 0 : oom();
}

static int logging_update(cairn_sim_req *req, cairn_sim_resource *r, json_t *logging, json_t **params, const char **type)
{
	json_t *list = NULL, *merged;
	int rc;

	if ((rc = parse_logging(req, logging, &list)) != 0)
		return rc;
	merged = merge_logging(json_object_get(r->attrs, "logging"), list);
	if (merged && json_equal(merged, json_object_get(r->attrs, "logging"))) {
		json_decref(merged);
		json_decref(list);
		return invalid_param(req, "No changes needed for the logging config provided");
	}
	*params = json_pack("[o]", param_json("ClusterLogging", list));
	json_decref(list);
	json_object_set_new(r->attrs, "logging", merged);
	*type = "LoggingUpdate";
	return *params && merged ? 0 : oom();
}

/* Put r into UPDATING with a new update made of params. */
static int start_cluster_update(cairn_sim_req *req, cairn_sim_resource *r, const char *type, json_t *params,
	const char *token)
{
	double at = cairn_sim_delay(req->sim, T_CLUSTER_UPDATE);
	int rc;

	if ((rc = cairn_sim_resource_set_status(r, "UPDATING", "ACTIVE", at)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0) {
		json_decref(params);
		return rc;
	}
	return update_new(req, r->id, type, params, token, at);
}

static int update_cluster_config(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	json_t *cfg = NULL, *logging = NULL, *params = NULL;
	const char *token = NULL, *type = NULL;
	int rc;

	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &r)) != 0)
		return rc;
	if ((rc = opt_str(req, req->json, "clientRequestToken", &token)) != 0 ||
	    (rc = update_by_token(req, r->id, token)) != 0)
		goto cleanup;
	if ((rc = member(req, req->json, "resourcesVpcConfig", JSON_OBJECT, &cfg)) != 0 ||
	    (rc = member(req, req->json, "logging", JSON_OBJECT, &logging)) != 0 ||
	    (rc = cluster_changeable(req, r)) != 0)
		goto cleanup;
	if (cfg && logging)
		rc = invalid_param(req, "Only one type of update can be allowed.");
	else if (cfg)
		rc = endpoint_update(req, r, cfg, &params, &type);
	else if (logging)
		rc = logging_update(req, r, logging, &params, &type);
	else
		rc = invalid_param(req, "No changes requested: specify resourcesVpcConfig or logging");
	if (rc == 0) {
		rc = start_cluster_update(req, r, type, params, token);
		params = NULL;
	}
cleanup:
	json_decref(params);
	cairn_sim_resource_free(r);
	return rc < 0 ? rc : 0;
}

/* "1.29" -> 29 (the minor version), -1 when malformed. */
static long minor_of(const char *v)
{
	char *end;
	long m;

	if (strncmp(v, "1.", 2) != 0)
		return -1;
	errno = 0;
	m = strtol(v + 2, &end, 10);
	return errno || *end || end == v + 2 ? -1 : m;
}

/* The names of cluster's node groups whose version is not `version`, as
 * "a, b" appended to out (nothing when every one matches). */
static int lagging_nodegroups(cairn_sim_req *req, const cairn_sim_resource *cluster, const char *version,
	cairn_buf *out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = cairn_sim_store_list(req->sim->store, EKS_NODEGROUP, req->region, cluster->id, &l)) != 0)
		return rc;
	for (i = 0; i < l.n && rc == 0; i++) {
		const char *v = attr_str(l.v[i], "version");

		if (v && strcmp(v, version) != 0)
			rc = cairn_buf_printf(out, "%s%s", out->len ? ", " : "", attr_str(l.v[i], "nodegroupName"));
	}
	cairn_sim_reslist_release(&l);
	return rc;
}

static int update_cluster_version(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	cairn_buf lagging = CAIRN_BUF_INIT;
	const char *token = NULL, *version = NULL, *cur;
	json_t *params;
	int rc;

	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &r)) != 0)
		return rc;
	if ((rc = opt_str(req, req->json, "clientRequestToken", &token)) != 0 ||
	    (rc = update_by_token(req, r->id, token)) != 0 ||
	    (rc = req_str(req, req->json, "version", &version)) != 0 ||
	    (rc = cluster_changeable(req, r)) != 0)
		goto cleanup;
	cur = attr_str(r, "version");
	if (!in_list(versions, version)) {
		rc = invalid_param(req, "unsupported Kubernetes version %s", version);
		goto cleanup;
	}
	if (minor_of(version) != minor_of(cur) + 1) {
		rc = invalid_param(req, "Unsupported Kubernetes minor version update from %s to %s", cur, version);
		goto cleanup;
	}
	/* AWS: every managed node group must be at the cluster's version first */
	if ((rc = lagging_nodegroups(req, r, cur, &lagging)) != 0)
		goto cleanup;
	if (lagging.len) {
		rc = cairn_sim_fail(req, 400, "InvalidRequestException",
			"Nodegroups %s must be updated to match cluster version %s before updating cluster version",
			lagging.ptr, cur);
		goto cleanup;
	}
	json_object_set_new(r->attrs, "version", json_string(version));
	params = json_pack("[o, o]", param("Version", version), param("PlatformVersion", "eks.1"));
	if (!params) {
		rc = oom();
		goto cleanup;
	}
	rc = start_cluster_update(req, r, "VersionUpdate", params, token);
cleanup:
	cairn_buf_release(&lagging);
	cairn_sim_resource_free(r);
	return rc < 0 ? rc : 0;
}

/* The update's owner: the cluster, or its node group with ?nodegroupName=. */
static int update_owner(cairn_sim_req *req, char **out)
{
	cairn_sim_resource *c = NULL, *ng = NULL;
	const char *ngname = cairn_sim_req_query(req, "nodegroupName");
	int rc;

	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &c)) != 0)
		return rc;
	if (ngname && *ngname && (rc = load_nodegroup(req, c, ngname, &ng)) != 0)
		goto cleanup;
	if (!(*out = strdup(ng ? ng->id : c->id)))
		rc = oom();
cleanup:
	cairn_sim_resource_free(ng);
	cairn_sim_resource_free(c);
	return rc;
}

static int describe_update(cairn_sim_req *req)
{
	cairn_sim_resource *u = NULL;
	const char *id = cairn_sim_req_param(req, "updateId");
	char *owner = NULL;
	int rc;

	if ((rc = update_owner(req, &owner)) != 0)
		return rc;
	rc = cairn_sim_store_get(req->sim->store, id, &u);
	if (rc == 0 && (strcmp(u->type, EKS_UPDATE) != 0 || !u->parent_id || strcmp(u->parent_id, owner) != 0))
		rc = CAIRN_ENOTFOUND;
	if (rc == CAIRN_ENOTFOUND)
		rc = cairn_sim_fail(req, 404, "ResourceNotFoundException", "No update found for ID: %s", id);
	else if (rc == 0)
		rc = output(req, "update", render_update(u));
	cairn_sim_resource_free(u);
	free(owner);
	return rc;
}

static int list_updates(cairn_sim_req *req)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	char *owner = NULL;
	json_t *ids;
	size_t i;
	int rc;

	if ((rc = update_owner(req, &owner)) != 0)
		return rc;
	if ((rc = cairn_sim_store_list(req->sim->store, EKS_UPDATE, req->region, owner, &l)) == 0) {
		if (!(ids = json_array()))
			rc = oom();
		for (i = 0; ids && i < l.n; i++)
			json_array_append_new(ids, json_string(l.v[i]->id));
		if (ids)
			rc = output(req, "updateIds", ids);
	}
	cairn_sim_reslist_release(&l);
	free(owner);
	return rc;
}

/* ---- node groups ---------------------------------------------------------------------- */

typedef struct scaling {
	json_int_t min, max, desired;
} scaling;

static int parse_scaling(cairn_sim_req *req, json_t *cfg, scaling *s)
{
	static const char *const keys[] = { "minSize", "maxSize", "desiredSize" };
	json_int_t *dst[3] = { &s->min, &s->max, &s->desired };
	size_t i;
	int rc;

	for (i = 0; i < 3; i++) {
		json_t *v;

		if ((rc = member(req, cfg, keys[i], JSON_INTEGER, &v)) != 0)
			return rc;
		if (v)
			*dst[i] = json_integer_value(v);
	}
	if (s->min < 0)
		return cairn_sim_fail(req, 400, "InvalidParameterException", "Minimum capacity %lld can't be negative",
			(long long)s->min);
	if (s->max < 1)
		return cairn_sim_fail(req, 400, "InvalidParameterException", "Maximum capacity %lld must be at least 1",
			(long long)s->max);
	if (s->min > s->max)
		return cairn_sim_fail(req, 400, "InvalidParameterException",
			"Minimum capacity %lld can't be greater than max size %lld", (long long)s->min, (long long)s->max);
	if (s->desired > s->max)
		return cairn_sim_fail(req, 400, "InvalidParameterException",
			"Desired capacity %lld can't be greater than max size %lld", (long long)s->desired, (long long)s->max);
	if (s->desired < s->min)
		return cairn_sim_fail(req, 400, "InvalidParameterException",
			"Minimum capacity %lld can't be greater than desired size %lld", (long long)s->min, (long long)s->desired);
	return 0;
}

static int check_labels(cairn_sim_req *req, json_t *labels)
{
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v) {
		if (!json_is_string(v))
			return cairn_sim_fail(req, 400, "SerializationException", "Unexpected type for the value of label '%s'", k);
		if (!*k || strlen(k) > 63 || strlen(json_string_value(v)) > 63)
			return invalid_param(req, "Invalid label %s: keys are 1 to 63 characters, values at most 63", k);
	}
	return 0;
}

typedef struct ng_input {
	const char *name, *role, *token, *ami, *capacity, *version, *release;
	json_t *subnets, *types, *labels, *tags, *scaling_cfg, *taints;
	json_int_t disk;
	scaling sc;
} ng_input;

static int parse_ng_input(cairn_sim_req *req, const cairn_sim_resource *cluster, ng_input *in)
{
	json_t *j = req->json, *disk = NULL;
	const char *vpc = json_string_value(json_object_get(json_object_get(cluster->attrs, "resourcesVpcConfig"), "vpcId"));
	char got_vpc[64];
	int rc;

	if ((rc = req_str(req, j, "nodegroupName", &in->name)) != 0)
		return rc;
	if (!valid_name(in->name))
		return invalid_param(req, "Invalid node group name '%s'", in->name);
	if ((rc = req_str(req, j, "nodeRole", &in->role)) != 0 ||
	    (rc = opt_str(req, j, "clientRequestToken", &in->token)) != 0 ||
	    (rc = opt_str(req, j, "amiType", &in->ami)) != 0 ||
	    (rc = opt_str(req, j, "capacityType", &in->capacity)) != 0 ||
	    (rc = opt_str(req, j, "version", &in->version)) != 0 ||
	    (rc = opt_str(req, j, "releaseVersion", &in->release)) != 0 ||
	    (rc = opt_str_array(req, j, "subnets", &in->subnets)) != 0 ||
	    (rc = opt_str_array(req, j, "instanceTypes", &in->types)) != 0 ||
	    (rc = member(req, j, "labels", JSON_OBJECT, &in->labels)) != 0 ||
	    (rc = member(req, j, "tags", JSON_OBJECT, &in->tags)) != 0 ||
	    (rc = member(req, j, "taints", JSON_ARRAY, &in->taints)) != 0 ||
	    (rc = member(req, j, "scalingConfig", JSON_OBJECT, &in->scaling_cfg)) != 0 ||
	    (rc = member(req, j, "diskSize", JSON_INTEGER, &disk)) != 0)
		return rc;
	if (strncmp(in->role, "arn:aws:iam::", 13) != 0 || !strstr(in->role, ":role/"))
		return invalid_param(req, "Invalid nodeRole %s: expected the ARN of an IAM role", in->role);
	if (json_array_size(in->subnets) == 0)
		return invalid_param(req, "subnets is required: specify at least one subnet");
	if (in->ami && !in_list(ami_types, in->ami))
		return invalid_param(req, "Invalid amiType %s", in->ami);
	if (in->capacity && !in_list(capacity_types, in->capacity))
		return invalid_param(req, "Invalid capacityType %s: expected ON_DEMAND, SPOT or CAPACITY_BLOCK",
			in->capacity);
	if (in->version && strcmp(in->version, attr_str(cluster, "version")) != 0)
		return invalid_param(req, "Requested Nodegroup version %s is not the cluster version %s",
			in->version, attr_str(cluster, "version"));
	in->disk = disk ? json_integer_value(disk) : 20;
	if (in->disk < 1 || in->disk > 16384)
		return invalid_param(req, "diskSize must be between 1 and 16384");
	in->sc.min = 1;
	in->sc.max = 2;
	in->sc.desired = 2;
	if ((rc = parse_scaling(req, in->scaling_cfg, &in->sc)) != 0 ||
	    (in->labels && (rc = check_labels(req, in->labels)) != 0) ||
	    (in->tags && (rc = check_tags(req, in->tags, "InvalidParameterException", 400)) != 0))
		return rc;
	return check_subnets(req, in->subnets, 0, vpc, got_vpc, sizeof(got_vpc));
}

/* The AMI release version the sim reports for a Kubernetes version. */
static void default_release(const char *version, char *out, size_t size)
{
	snprintf(out, size, "%s.0-20240514", version);
}

static int nodegroup_attrs(cairn_sim_resource *r, const cairn_sim_resource *cluster, const ng_input *in,
	const char *hash)
{
	const char *version = attr_str(cluster, "version");
	char release[64], asg[128], uuid[37];

	cairn_sim_uuid(uuid);
	default_release(version, release, sizeof(release));
	snprintf(asg, sizeof(asg), "eks-%s-%s", in->name, uuid);
	json_object_set_new(r->attrs, "nodegroupName", json_string(in->name));
	json_object_set_new(r->attrs, "clusterName", json_string(attr_str(cluster, "name")));
	json_object_set_new(r->attrs, "version", json_string(version));
	json_object_set_new(r->attrs, "releaseVersion", json_string(in->release ? in->release : release));
	json_object_set_new(r->attrs, "capacityType", json_string(in->capacity ? in->capacity : "ON_DEMAND"));
	json_object_set_new(r->attrs, "scalingConfig", json_pack("{s:I, s:I, s:I}", "minSize", in->sc.min,
		"maxSize", in->sc.max, "desiredSize", in->sc.desired));
	json_object_set_new(r->attrs, "instanceTypes", in->types ? json_deep_copy(in->types) :
		json_pack("[s]", "t3.medium"));
	json_object_set_new(r->attrs, "subnets", json_deep_copy(in->subnets));
	json_object_set_new(r->attrs, "amiType", json_string(in->ami ? in->ami : "AL2_x86_64"));
	json_object_set_new(r->attrs, "nodeRole", json_string(in->role));
	json_object_set_new(r->attrs, "labels", in->labels ? json_deep_copy(in->labels) : json_object());
	if (in->taints)
		json_object_set_new(r->attrs, "taints", json_deep_copy(in->taints));
	json_object_set_new(r->attrs, "resources", json_pack("{s:[{s:s}]}", "autoScalingGroups", "name", asg));
	json_object_set_new(r->attrs, "diskSize", json_integer(in->disk));
	json_object_set_new(r->attrs, "health", json_pack("{s:[]}", "issues"));
	json_object_set_new(r->attrs, "updateConfig", json_pack("{s:i}", "maxUnavailable", 1));
	if (in->token)
		json_object_set_new(r->attrs, "clientRequestToken", json_string(in->token));
	json_object_set_new(r->attrs, "_requestHash", json_string(hash));
	if (in->tags)
		json_object_update(r->tags, in->tags);
	return 0;
}

static int create_nodegroup(cairn_sim_req *req)
{
	cairn_sim_resource *c = NULL, *r = NULL, *old = NULL;
	ng_input in;
	char arn[768], uuid[37], hash[65];
	size_t i;
	json_t *e;
	int rc;

	memset(&in, 0, sizeof(in));
	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &c)) != 0)
		return rc;
	if ((rc = parse_ng_input(req, c, &in)) != 0 || (rc = request_hash(req, hash)) != 0)
		goto cleanup;
	if ((rc = token_lookup(req, EKS_NODEGROUP, c->id, in.token, hash, &r)) != 0) {
		if (rc == 1)
			rc = output(req, "nodegroup", render_nodegroup(r));
		goto cleanup;
	}
	if (strcmp(c->status, "ACTIVE") != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidRequestException", "Cluster '%s' is not in ACTIVE status",
			attr_str(c, "name"));
		goto cleanup;
	}
	if ((rc = find_nodegroup(req, c, in.name, &old)) != 0)
		goto cleanup;
	if (old) {
		rc = cairn_sim_fail(req, 409, "ResourceInUseException",
			"NodeGroup already exists with name %s and cluster name %s", in.name, attr_str(c, "name"));
		goto cleanup;
	}
	cairn_sim_uuid(uuid);
	snprintf(arn, sizeof(arn), "arn:aws:eks:%s:%s:nodegroup/%s/%s/%s", req->region, req->sim->opt.account_id,
		attr_str(c, "name"), in.name, uuid);
	if ((rc = cairn_sim_resource_new(&r, arn, EKS_NODEGROUP, req->region)) != 0 ||
	    (rc = nodegroup_attrs(r, c, &in, hash)) != 0 ||
	    (rc = cairn_sim_resource_set_parent(r, c->id)) != 0 ||
	    (rc = cairn_sim_resource_set_status(r, "CREATING", "ACTIVE", cairn_sim_delay(req->sim, T_NG_CREATE))) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	/* the nodes' network interfaces */
	json_array_foreach(in.subnets, i, e)
		if ((rc = eni_add(req, arn, json_string_value(e))) != 0)
			goto cleanup;
	rc = output(req, "nodegroup", render_nodegroup(r));
cleanup:
	cairn_sim_resource_free(old);
	cairn_sim_resource_free(r);
	cairn_sim_resource_free(c);
	return rc;
}

static int describe_nodegroup(cairn_sim_req *req)
{
	cairn_sim_resource *c = NULL, *ng = NULL;
	int rc;

	if ((rc = load_cluster_and_nodegroup(req, &c, &ng)) != 0)
		return rc;
	rc = output(req, "nodegroup", render_nodegroup(ng));
	cairn_sim_resource_free(ng);
	cairn_sim_resource_free(c);
	return rc;
}

static int list_nodegroups(cairn_sim_req *req)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	cairn_sim_resource *c = NULL;
	page p;
	int rc;

	if ((rc = load_cluster(req, cairn_sim_req_param(req, "name"), &c)) != 0)
		return rc;
	if ((rc = parse_page(req, &p)) == 0 &&
	    (rc = cairn_sim_store_list(req->sim->store, EKS_NODEGROUP, req->region, c->id, &l)) == 0)
		rc = output_page(req, &l, &p, "nodegroupName", "nodegroups");
	cairn_sim_reslist_release(&l);
	cairn_sim_resource_free(c);
	return rc;
}

/* labels {addOrUpdateLabels: {}, removeLabels: []} applied to ng; params appended. */
static int labels_update(cairn_sim_req *req, cairn_sim_resource *ng, json_t *labels, json_t *params)
{
	json_t *add = NULL, *remove = NULL, *cur = json_object_get(ng->attrs, "labels"), *e;
	size_t i;
	int rc;

	if ((rc = member(req, labels, "addOrUpdateLabels", JSON_OBJECT, &add)) != 0 ||
	    (rc = opt_str_array(req, labels, "removeLabels", &remove)) != 0 ||
	    (add && (rc = check_labels(req, add)) != 0))
		return rc;
	json_array_foreach(remove, i, e)
		if (json_object_get(add, json_string_value(e)))
			return invalid_param(req, "The label %s cannot be both added and removed", json_string_value(e));
	if (!cur) {
		cur = json_object();
		json_object_set_new(ng->attrs, "labels", cur);
	}
	if (add) {
		json_object_update(cur, add);
		json_array_append_new(params, param_json("LabelsToAdd", add));
	}
	if (remove) {
		json_array_foreach(remove, i, e)
			json_object_del(cur, json_string_value(e));
		json_array_append_new(params, param_json("LabelsToRemove", remove));
	}
	return 0;
}

/* The node group must be settled to change. A DEGRADED one (running, with
 * health issues) takes updates: scaling out is how one that could not get
 * capacity comes back. */
static int nodegroup_changeable(cairn_sim_req *req, const cairn_sim_resource *ng)
{
	if (strcmp(ng->status, "UPDATING") == 0)
		return cairn_sim_fail(req, 409, "ResourceInUseException", "Nodegroup %s has an update in progress",
			attr_str(ng, "nodegroupName"));
	if (strcmp(ng->status, "ACTIVE") != 0 && strcmp(ng->status, "DEGRADED") != 0)
		return cairn_sim_fail(req, 400, "InvalidRequestException", "Nodegroup %s is not in ACTIVE status",
			attr_str(ng, "nodegroupName"));
	return 0;
}

static int update_nodegroup_config(cairn_sim_req *req)
{
	cairn_sim_resource *c = NULL, *ng = NULL;
	json_t *cfg = NULL, *labels = NULL, *params = json_array(), *cur;
	const char *token = NULL;
	scaling sc;
	double at;
	int rc;

	if (!params)
		return oom();
	if ((rc = load_cluster_and_nodegroup(req, &c, &ng)) != 0)
		goto cleanup;
	if ((rc = opt_str(req, req->json, "clientRequestToken", &token)) != 0 ||
	    (rc = update_by_token(req, ng->id, token)) != 0)
		goto cleanup;
	if ((rc = member(req, req->json, "scalingConfig", JSON_OBJECT, &cfg)) != 0 ||
	    (rc = member(req, req->json, "labels", JSON_OBJECT, &labels)) != 0 ||
	    (rc = nodegroup_changeable(req, ng)) != 0)
		goto cleanup;
	if (!cfg && !labels) {
		rc = invalid_param(req, "No changes requested: specify scalingConfig or labels");
		goto cleanup;
	}
	cur = json_object_get(ng->attrs, "scalingConfig");
	sc.min = json_integer_value(json_object_get(cur, "minSize"));
	sc.max = json_integer_value(json_object_get(cur, "maxSize"));
	sc.desired = json_integer_value(json_object_get(cur, "desiredSize"));
	if (cfg) {
		char v[32];

		if ((rc = parse_scaling(req, cfg, &sc)) != 0)
			goto cleanup;
		json_object_set_new(ng->attrs, "scalingConfig", json_pack("{s:I, s:I, s:I}", "minSize", sc.min,
			"maxSize", sc.max, "desiredSize", sc.desired));
		snprintf(v, sizeof(v), "%lld", (long long)sc.min);
		json_array_append_new(params, param("MinSize", v));
		snprintf(v, sizeof(v), "%lld", (long long)sc.max);
		json_array_append_new(params, param("MaxSize", v));
		snprintf(v, sizeof(v), "%lld", (long long)sc.desired);
		json_array_append_new(params, param("DesiredSize", v));
	}
	if (labels && (rc = labels_update(req, ng, labels, params)) != 0)
		goto cleanup;
	at = cairn_sim_delay(req->sim, T_NG_UPDATE);
	if ((rc = cairn_sim_resource_set_status(ng, "UPDATING", "ACTIVE", at)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, ng)) != 0)
		goto cleanup;
	rc = update_new(req, ng->id, "ConfigUpdate", params, token, at);
	params = NULL;
cleanup:
	json_decref(params);
	cairn_sim_resource_free(ng);
	cairn_sim_resource_free(c);
	return rc < 0 ? rc : 0;
}

/* The Kubernetes version a node group may move to: a supported one, not
 * newer than its cluster's (cluster_version), not older than its own. */
static int check_nodegroup_version(cairn_sim_req *req, const cairn_sim_resource *ng, const char *version,
	const char *cluster_version)
{
	const char *cur = attr_str(ng, "version");

	if (!in_list(versions, version))
		return invalid_param(req, "unsupported Kubernetes version %s", version);
	if (minor_of(version) > minor_of(cluster_version))
		return invalid_param(req, "Requested Nodegroup version %s is newer than the cluster version %s",
			version, cluster_version);
	if (cur && minor_of(version) < minor_of(cur))
		return invalid_param(req, "Nodegroup %s is at version %s and cannot be rolled back to %s",
			attr_str(ng, "nodegroupName"), cur, version);
	return 0;
}

/* UpdateNodegroupVersion: a new Kubernetes version (or, at the same one,
 * a new AMI release) rolled out to the nodes, like UpdateNodegroupConfig:
 * UPDATING, then ACTIVE with a VersionUpdate update. */
static int update_nodegroup_version(cairn_sim_req *req)
{
	cairn_sim_resource *c = NULL, *ng = NULL;
	const char *token = NULL, *version = NULL, *release = NULL;
	char dflt[64];
	int force = 0, force_set = 0, rc;
	json_t *params;
	double at;

	if ((rc = load_cluster_and_nodegroup(req, &c, &ng)) != 0)
		return rc;
	if ((rc = opt_str(req, req->json, "clientRequestToken", &token)) != 0 ||
	    (rc = update_by_token(req, ng->id, token)) != 0 ||
	    (rc = opt_str(req, req->json, "version", &version)) != 0 ||
	    (rc = opt_str(req, req->json, "releaseVersion", &release)) != 0 ||
	    (rc = opt_bool(req, req->json, "force", &force, &force_set)) != 0 ||
	    (rc = nodegroup_changeable(req, ng)) != 0)
		goto cleanup;
	/* force (replace nodes whose pods a disruption budget protects) is
	 * only type-checked: the sim's nodes run no pods */
	(void)force;
	/* without a version, the node group goes to its cluster's (the API
	 * reference of the current SDKs) */
	if (!version || !*version)
		version = attr_str(c, "version");
	if ((rc = check_nodegroup_version(req, ng, version, attr_str(c, "version"))) != 0)
		goto cleanup;
	default_release(version, dflt, sizeof(dflt));
	if (release && *release) {
		size_t n = strlen(version);

		if (strncmp(release, version, n) != 0 || release[n] != '.') {
			rc = invalid_param(req, "Requested release version %s is not valid for kubernetes version %s.",
				release, version);
			goto cleanup;
		}
	} else {
		release = dflt;
	}
	params = json_pack("[o, o]", param("Version", version), param("ReleaseVersion", release));
	if (!params) {
		rc = oom();
		goto cleanup;
	}
	json_object_set_new(ng->attrs, "version", json_string(version));
	json_object_set_new(ng->attrs, "releaseVersion", json_string(release));
	at = cairn_sim_delay(req->sim, T_NG_UPDATE);
	if ((rc = cairn_sim_resource_set_status(ng, "UPDATING", "ACTIVE", at)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, ng)) != 0) {
		json_decref(params);
		goto cleanup;
	}
	rc = update_new(req, ng->id, "VersionUpdate", params, token, at);
cleanup:
	cairn_sim_resource_free(ng);
	cairn_sim_resource_free(c);
	return rc < 0 ? rc : 0;
}

static int delete_nodegroup(cairn_sim_req *req)
{
	cairn_sim_resource *c = NULL, *ng = NULL;
	double at;
	int rc;

	if ((rc = load_cluster_and_nodegroup(req, &c, &ng)) != 0)
		return rc;
	if (strcmp(ng->status, "DELETING") != 0) {
		at = cairn_sim_delay(req->sim, T_NG_DELETE);
		if ((rc = cairn_sim_resource_set_status(ng, "DELETING", CAIRN_SIM_STATUS_GONE, at)) != 0 ||
		    (rc = cairn_sim_store_put(req->sim->store, ng)) != 0 ||
		    (rc = expire_owned(req, EKS_ENI, "owner", ng->id, at)) != 0 ||
		    (rc = expire_owned(req, EKS_UPDATE, NULL, ng->id, at)) != 0)
			goto cleanup;
	}
	rc = output(req, "nodegroup", render_nodegroup(ng));
cleanup:
	cairn_sim_resource_free(ng);
	cairn_sim_resource_free(c);
	return rc;
}

/* ---- tags --------------------------------------------------------------------------- */

static int load_tagged(cairn_sim_req *req, cairn_sim_resource **out)
{
	const char *arn = cairn_sim_req_param(req, "resourceArn");
	cairn_sim_resource *r = NULL;
	int rc;

	if (!arn || strncmp(arn, "arn:aws:eks:", 12) != 0)
		return cairn_sim_fail(req, 400, "BadRequestException", "Invalid ARN: %s", arn ? arn : "");
	rc = cairn_sim_store_get(req->sim->store, arn, &r);
	if (rc == 0 && ((strcmp(r->type, EKS_CLUSTER) != 0 && strcmp(r->type, EKS_NODEGROUP) != 0) ||
	    strcmp(r->region, req->region) != 0))
		rc = CAIRN_ENOTFOUND;
	if (rc == CAIRN_ENOTFOUND) {
		cairn_sim_resource_free(r);
		return cairn_sim_fail(req, 404, "NotFoundException", "Resource not found: %s", arn);
	}
	if (rc)
		return rc;
	*out = r;
	return 0;
}

static int tag_resource(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	json_t *tags = NULL, *merged = NULL;
	int rc;

	if ((rc = load_tagged(req, &r)) != 0)
		return rc;
	if ((rc = member(req, req->json, "tags", JSON_OBJECT, &tags)) != 0)
		goto cleanup;
	if (json_object_size(tags) == 0) {
		rc = cairn_sim_fail(req, 400, "BadRequestException", "tags is required: specify at least one tag");
		goto cleanup;
	}
	if (!(merged = json_deep_copy(r->tags)) || json_object_update(merged, tags) != 0) {
		rc = oom();
		goto cleanup;
	}
	if ((rc = check_tags(req, merged, "BadRequestException", 400)) != 0)
		goto cleanup;
	json_object_update(r->tags, tags);
	if ((rc = cairn_sim_store_put(req->sim->store, r)) == 0)
		rc = (req->json_out = json_object()) ? 0 : oom();
cleanup:
	json_decref(merged);
	cairn_sim_resource_free(r);
	return rc;
}

static int untag_resource(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	cairn_sim_strs keys = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = load_tagged(req, &r)) != 0)
		return rc;
	if ((rc = cairn_sim_req_query_all(req, "tagKeys", &keys)) != 0)
		goto cleanup;
	if (keys.n == 0) {
		rc = cairn_sim_fail(req, 400, "BadRequestException", "tagKeys is required: specify at least one key");
		goto cleanup;
	}
	for (i = 0; i < keys.n; i++)
		json_object_del(r->tags, keys.v[i]);
	if ((rc = cairn_sim_store_put(req->sim->store, r)) == 0)
		rc = (req->json_out = json_object()) ? 0 : oom();
cleanup:
	cairn_sim_strs_release(&keys);
	cairn_sim_resource_free(r);
	return rc;
}

static int list_tags_for_resource(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	int rc;

	if ((rc = load_tagged(req, &r)) != 0)
		return rc;
	rc = output(req, "tags", json_deep_copy(r->tags));
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- the service -------------------------------------------------------------------- */

static const cairn_sim_action actions[] = {
	{ "CreateCluster", "POST", "/clusters", create_cluster, CAIRN_SIM_MUTATING, NULL },
	{ "ListClusters", "GET", "/clusters", list_clusters, CAIRN_SIM_READ, NULL },
	{ "DescribeCluster", "GET", "/clusters/{name}", describe_cluster, CAIRN_SIM_READ, NULL },
	{ "DeleteCluster", "DELETE", "/clusters/{name}", delete_cluster, CAIRN_SIM_MUTATING, NULL },
	{ "UpdateClusterConfig", "POST", "/clusters/{name}/update-config", update_cluster_config, CAIRN_SIM_MUTATING, NULL },
	{ "UpdateClusterVersion", "POST", "/clusters/{name}/updates", update_cluster_version, CAIRN_SIM_MUTATING, NULL },
	{ "ListUpdates", "GET", "/clusters/{name}/updates", list_updates, CAIRN_SIM_READ, NULL },
	{ "DescribeUpdate", "GET", "/clusters/{name}/updates/{updateId}", describe_update, CAIRN_SIM_READ, NULL },
	{ "CreateNodegroup", "POST", "/clusters/{name}/node-groups", create_nodegroup, CAIRN_SIM_MUTATING, NULL },
	{ "ListNodegroups", "GET", "/clusters/{name}/node-groups", list_nodegroups, CAIRN_SIM_READ, NULL },
	{ "DescribeNodegroup", "GET", "/clusters/{name}/node-groups/{nodegroupName}", describe_nodegroup, CAIRN_SIM_READ, NULL },
	{ "DeleteNodegroup", "DELETE", "/clusters/{name}/node-groups/{nodegroupName}", delete_nodegroup, CAIRN_SIM_MUTATING, NULL },
	{ "UpdateNodegroupConfig", "POST", "/clusters/{name}/node-groups/{nodegroupName}/update-config",
		update_nodegroup_config, CAIRN_SIM_MUTATING, NULL },
	{ "UpdateNodegroupVersion", "POST", "/clusters/{name}/node-groups/{nodegroupName}/update-version",
		update_nodegroup_version, CAIRN_SIM_MUTATING, NULL },
	{ "TagResource", "POST", "/tags/{resourceArn}", tag_resource, CAIRN_SIM_MUTATING, NULL },
	{ "UntagResource", "DELETE", "/tags/{resourceArn}", untag_resource, CAIRN_SIM_MUTATING, NULL },
	{ "ListTagsForResource", "GET", "/tags/{resourceArn}", list_tags_for_resource, CAIRN_SIM_READ, NULL },
};

const cairn_sim_service cairn_sim_eks_service = {
	.name = "eks", .protocol = CAIRN_SIM_PROTO_REST_JSON, .version = "2017-11-01",
	.actions = actions, .n_actions = sizeof(actions) / sizeof(actions[0]),
	.throttle_code = "ThrottlingException", .throttle_status = 429,
	.throttle_message = "Rate exceeded",
	.internal_code = "ServerException",
};
