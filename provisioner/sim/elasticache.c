/*
 * elasticache.c - the simulated Amazon ElastiCache (Query API version
 * 2015-02-02): cache subnet groups over the EC2 store's subnets, and Redis
 * (or Valkey) replication groups with their member cache clusters, node
 * groups and endpoints, in cluster mode disabled (NumCacheClusters) or
 * enabled (NumNodeGroups / ReplicasPerNodeGroup), with their lifecycle
 * (creating -> available, modifying -> available, deleting -> gone) and tags
 * by ARN (only while available; a tag change makes the group modifying).
 * The member clusters live inside their replication group's row (they are
 * created and deleted with it); DescribeCacheClusters reads them from
 * there. Like RDS, a replication group links itself to the subnets its
 * nodes run in and to its security groups (qsvc_link).
 *
 * Store ids: "elasticache:<region>:replicationgroup:<id>",
 * "elasticache:<region>:subnetgroup:<name>".
 */
#include "qsvc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC_RG "elasticache:replication-group"
#define EC_SUBGRP "elasticache:subnet-group"

/* ---- helpers --------------------------------------------------------------- */

static const char *attr(const cairn_sim_resource *r, const char *key)
{
	return json_string_value(json_object_get(r->attrs, key));
}

static long attr_int(const cairn_sim_resource *r, const char *key)
{
	return (long)json_integer_value(json_object_get(r->attrs, key));
}

static int attr_bool(const cairn_sim_resource *r, const char *key)
{
	return json_is_true(json_object_get(r->attrs, key));
}

static void lower_copy(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

static void store_id(cairn_sim_req *req, const char *kind, const char *name, char *out, size_t size)
{
	char lower[300];

	lower_copy(name, lower, sizeof(lower));
	snprintf(out, size, "elasticache:%s:%s:%s", req->region, kind, lower);
}

/* A letter first, letters, digits and single hyphens, no trailing hyphen. */
static int identifier(cairn_sim_req *req, const char *param, const char *v, size_t max)
{
	size_t i, n = strlen(v);

	if (n == 0 || n > max || !isalpha((unsigned char)v[0]) || v[n - 1] == '-')
		goto bad;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)v[i]) && v[i] != '-')
			goto bad;
		if (v[i] == '-' && v[i + 1] == '-')
			goto bad;
	}
	return 0;
bad:
	return cairn_sim_fail(req, 400, "InvalidParameterValue",
		"The parameter %s is not a valid identifier: it must begin with a letter, contain only "
		"ASCII letters, digits and hyphens, be at most %zu characters, and must not end with a "
		"hyphen or contain two consecutive hyphens.", param, max);
}

static int load(cairn_sim_req *req, const char *kind, const char *type, const char *name,
	cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	char id[400];
	int rc;

	store_id(req, kind, name, id, sizeof(id));
	if ((rc = cairn_sim_store_get(req->sim->store, id, &r)) != 0)
		return rc;
	if (strcmp(r->type, type) != 0) {
		cairn_sim_resource_free(r);
		return CAIRN_ENOTFOUND;
	}
	*out = r;
	return 0;
}

static int load_rg(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	int rc = load(req, "replicationgroup", EC_RG, name, out);

	if (rc == CAIRN_ENOTFOUND)
		return cairn_sim_fail(req, 404, "ReplicationGroupNotFoundFault",
			"Replication group %s not found.", name);
	return rc;
}

static int load_subgrp(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	int rc = load(req, "subnetgroup", EC_SUBGRP, name, out);

	if (rc == CAIRN_ENOTFOUND)
		return cairn_sim_fail(req, 400, "CacheSubnetGroupNotFoundFault",
			"Cache subnet group %s not found.", name);
	return rc;
}

static void endpoint(cairn_sim_xml *x, const char *elem, const char *address, long port)
{
	cairn_sim_xml_open(x, elem);
	cairn_sim_xml_elem(x, "Address", address);
	cairn_sim_xml_elemf(x, "Port", "%ld", port);
	cairn_sim_xml_close(x, elem);
}

/* ---- cache subnet groups ---------------------------------------------------------- */

static void render_subgrp(cairn_sim_req *req, const cairn_sim_resource *g)
{
	cairn_sim_xml *x = &req->xml;
	size_t i;
	json_t *s;

	cairn_sim_xml_open(x, "CacheSubnetGroup");
	cairn_sim_xml_elem(x, "CacheSubnetGroupName", attr(g, "name"));
	cairn_sim_xml_elem(x, "CacheSubnetGroupDescription", attr(g, "description"));
	cairn_sim_xml_elem(x, "VpcId", attr(g, "vpcId"));
	cairn_sim_xml_open(x, "Subnets");
	json_array_foreach(json_object_get(g->attrs, "subnets"), i, s) {
		cairn_sim_xml_open(x, "Subnet");
		cairn_sim_xml_elem(x, "SubnetIdentifier", json_string_value(json_object_get(s, "id")));
		cairn_sim_xml_open(x, "SubnetAvailabilityZone");
		cairn_sim_xml_elem(x, "Name", json_string_value(json_object_get(s, "az")));
		cairn_sim_xml_close(x, "SubnetAvailabilityZone");
		cairn_sim_xml_raw(x, "<SupportedNetworkTypes><member>ipv4</member></SupportedNetworkTypes>");
		cairn_sim_xml_close(x, "Subnet");
	}
	cairn_sim_xml_close(x, "Subnets");
	cairn_sim_xml_elemf(x, "ARN", "arn:aws:elasticache:%s:%s:subnetgroup:%s", g->region,
		req->sim->opt.account_id, attr(g, "name"));
	cairn_sim_xml_raw(x, "<SupportedNetworkTypes><member>ipv4</member></SupportedNetworkTypes>");
	cairn_sim_xml_close(x, "CacheSubnetGroup");
}

static int set_subnets(cairn_sim_req *req, cairn_sim_resource *g, int required)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	json_t *subnets = NULL;
	char vpc[64];
	size_t azs = 0;
	int rc;

	if ((rc = qsvc_list(req, "SubnetIds", "SubnetIdentifier", &ids)) != 0)
		goto cleanup;
	if (ids.n == 0) {
		if (required)
			rc = cairn_sim_fail(req, 400, "MissingParameter",
				"The parameter SubnetIds must be provided and must not be blank.");
		goto cleanup;
	}
	if ((rc = qsvc_load_subnets(req, &ids, "InvalidSubnet", &subnets, vpc, sizeof(vpc), &azs)) != 0)
		goto cleanup;
	json_object_set_new(g->attrs, "vpcId", json_string(vpc));
	json_object_set(g->attrs, "subnets", subnets);
cleanup:
	json_decref(subnets);
	cairn_sim_strs_release(&ids);
	return rc;
}

static int create_cache_subnet_group(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL, *old = NULL;
	const char *name, *desc;
	char id[400], lower[300];
	int rc;

	if ((rc = qsvc_required(req, "CacheSubnetGroupName", &name)) != 0 ||
	    (rc = qsvc_required(req, "CacheSubnetGroupDescription", &desc)) != 0 ||
	    (rc = identifier(req, "CacheSubnetGroupName", name, 255)) != 0)
		return rc;
	if ((rc = load(req, "subnetgroup", EC_SUBGRP, name, &old)) == 0) {
		cairn_sim_resource_free(old);
		return cairn_sim_fail(req, 400, "CacheSubnetGroupAlreadyExists",
			"Cache subnet group %s already exists.", name);
	}
	if (rc != CAIRN_ENOTFOUND)
		return rc;
	store_id(req, "subnetgroup", name, id, sizeof(id));
	lower_copy(name, lower, sizeof(lower));
	if ((rc = cairn_sim_resource_new(&g, id, EC_SUBGRP, req->region)) != 0)
		return rc;
	json_object_set_new(g->attrs, "name", json_string(lower));
	json_object_set_new(g->attrs, "description", json_string(desc));
	if ((rc = set_subnets(req, g, 1)) != 0 || (rc = qsvc_tags(req, g->tags)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, g)) != 0)
		goto cleanup;
	render_subgrp(req, g);
cleanup:
	cairn_sim_resource_free(g);
	return rc;
}

static int describe_cache_subnet_groups(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL;
	const char *name = cairn_sim_form_get(req->form, "CacheSubnetGroupName");
	int rc;

	if (name && (rc = load_subgrp(req, name, &g)) != 0)
		return rc;
	rc = qsvc_describe(req, EC_SUBGRP, "CacheSubnetGroups", g, NULL, NULL, render_subgrp);
	cairn_sim_resource_free(g);
	return rc;
}

static int modify_cache_subnet_group(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL;
	cairn_sim_reslist users = { NULL, 0, 0 };
	const char *name, *desc = cairn_sim_form_get(req->form, "CacheSubnetGroupDescription");
	size_t i, j, k;
	json_t *m, *s;
	int rc;

	if ((rc = qsvc_required(req, "CacheSubnetGroupName", &name)) != 0 || (rc = load_subgrp(req, name, &g)) != 0)
		return rc;
	if ((rc = set_subnets(req, g, 0)) != 0 ||
	    (rc = cairn_sim_store_list(req->sim->store, EC_RG, req->region, g->id, &users)) != 0)
		goto cleanup;
	for (i = 0; i < users.n; i++) {
		json_array_foreach(json_object_get(users.v[i]->attrs, "members"), j, m) {
			const char *used = json_string_value(json_object_get(m, "subnet"));
			int found = 0;

			json_array_foreach(json_object_get(g->attrs, "subnets"), k, s)
				if (used && strcmp(used, json_string_value(json_object_get(s, "id"))) == 0)
					found = 1;
			if (!found) {
				rc = cairn_sim_fail(req, 400, "SubnetInUse",
					"The subnet %s is in use by replication group %s.", used, attr(users.v[i], "id"));
				goto cleanup;
			}
		}
	}
	if (desc)
		json_object_set_new(g->attrs, "description", json_string(desc));
	if ((rc = cairn_sim_store_put(req->sim->store, g)) != 0)
		goto cleanup;
	render_subgrp(req, g);
cleanup:
	cairn_sim_reslist_release(&users);
	cairn_sim_resource_free(g);
	return rc;
}

static int delete_cache_subnet_group(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL;
	const char *name;
	int64_t users = 0;
	int rc;

	if ((rc = qsvc_required(req, "CacheSubnetGroupName", &name)) != 0 || (rc = load_subgrp(req, name, &g)) != 0)
		return rc;
	if ((rc = cairn_sim_store_count_children(req->sim->store, g->id, EC_RG, &users)) != 0)
		goto cleanup;
	if (users) {
		rc = cairn_sim_fail(req, 400, "CacheSubnetGroupInUse",
			"Cache subnet group %s is currently in use by a cache cluster or replication group.",
			attr(g, "name"));
		goto cleanup;
	}
	rc = cairn_sim_store_delete(req->sim->store, g->id);
cleanup:
	cairn_sim_resource_free(g);
	return rc;
}

/* ---- replication groups: rendering ------------------------------------------------ */

typedef struct host_parts {
	char hash[7];  /* per account and region */
	char rc[16];   /* use1 */
} host_parts;

static void host_init(cairn_sim_req *req, host_parts *h)
{
	char full[13];

	qsvc_account_hash(req, full);
	memcpy(h->hash, full, 6);
	h->hash[6] = '\0';
	qsvc_region_code(req->region, h->rc, sizeof(h->rc));
}

static void render_node_group(cairn_sim_req *req, const cairn_sim_resource *r, const host_parts *h,
	long shard, int clustered, int ready)
{
	cairn_sim_xml *x = &req->xml;
	const char *id = attr(r, "id");
	long port = attr_int(r, "port");
	char addr[512];
	size_t i;
	json_t *m;

	cairn_sim_xml_open(x, "NodeGroup");
	cairn_sim_xml_elemf(x, "NodeGroupId", "%04ld", shard);
	cairn_sim_xml_elem(x, "Status", r->status);
	if (!clustered && ready) {
		snprintf(addr, sizeof(addr), "%s.%s.ng.0001.%s.cache.amazonaws.com", id, h->hash, h->rc);
		endpoint(x, "PrimaryEndpoint", addr, port);
		snprintf(addr, sizeof(addr), "%s-ro.%s.ng.0001.%s.cache.amazonaws.com", id, h->hash, h->rc);
		endpoint(x, "ReaderEndpoint", addr, port);
	}
	if (clustered)
		cairn_sim_xml_elem(x, "Slots", json_string_value(json_object_get(
			json_array_get(json_object_get(r->attrs, "slots"), (size_t)(shard - 1)), "range")));
	cairn_sim_xml_open(x, "NodeGroupMembers");
	json_array_foreach(json_object_get(r->attrs, "members"), i, m) {
		const char *cid = json_string_value(json_object_get(m, "cluster"));

		if (json_integer_value(json_object_get(m, "shard")) != shard)
			continue;
		cairn_sim_xml_open(x, "NodeGroupMember");
		cairn_sim_xml_elem(x, "CacheClusterId", cid);
		cairn_sim_xml_elem(x, "CacheNodeId", "0001");
		if (!clustered && ready) {
			snprintf(addr, sizeof(addr), "%s.%s.0001.%s.cache.amazonaws.com", cid, h->hash, h->rc);
			endpoint(x, "ReadEndpoint", addr, port);
		}
		cairn_sim_xml_elem(x, "PreferredAvailabilityZone", json_string_value(json_object_get(m, "az")));
		if (!clustered)
			cairn_sim_xml_elem(x, "CurrentRole", json_string_value(json_object_get(m, "role")));
		cairn_sim_xml_close(x, "NodeGroupMember");
	}
	cairn_sim_xml_close(x, "NodeGroupMembers");
	cairn_sim_xml_close(x, "NodeGroup");
}

static void render_pending(cairn_sim_xml *x, const cairn_sim_resource *r)
{
	json_t *p = json_object_get(r->attrs, "pending");

	if (json_object_size(p) == 0) {
		cairn_sim_xml_empty(x, "PendingModifiedValues");
		return;
	}
	cairn_sim_xml_open(x, "PendingModifiedValues");
	if (json_object_get(p, "automaticFailover"))
		cairn_sim_xml_elem(x, "AutomaticFailoverStatus",
			json_is_true(json_object_get(p, "automaticFailover")) ? "enabled" : "disabled");
	cairn_sim_xml_close(x, "PendingModifiedValues");
}

static void render_rg(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;
	int clustered = attr_bool(r, "clusterEnabled"), ready = strcmp(r->status, "creating") != 0;
	host_parts h;
	char when[32], addr[512];
	long shard;
	size_t i;
	json_t *m;

	host_init(req, &h);
	cairn_sim_xml_open(x, "ReplicationGroup");
	cairn_sim_xml_elem(x, "ReplicationGroupId", attr(r, "id"));
	cairn_sim_xml_elem(x, "Description", attr(r, "description"));
	cairn_sim_xml_elem(x, "Status", r->status);
	render_pending(x, r);
	cairn_sim_xml_open(x, "MemberClusters");
	json_array_foreach(json_object_get(r->attrs, "members"), i, m)
		cairn_sim_xml_elem(x, "ClusterId", json_string_value(json_object_get(m, "cluster")));
	cairn_sim_xml_close(x, "MemberClusters");
	cairn_sim_xml_open(x, "NodeGroups");
	for (shard = 1; shard <= attr_int(r, "numNodeGroups"); shard++)
		render_node_group(req, r, &h, shard, clustered, ready);
	cairn_sim_xml_close(x, "NodeGroups");
	if (clustered && ready) {
		snprintf(addr, sizeof(addr), "clustercfg.%s.%s.%s.cache.amazonaws.com", attr(r, "id"), h.hash, h.rc);
		endpoint(x, "ConfigurationEndpoint", addr, attr_int(r, "port"));
	}
	cairn_sim_xml_elem(x, "AutomaticFailover", attr_bool(r, "automaticFailover") ? "enabled" : "disabled");
	cairn_sim_xml_elem(x, "MultiAZ", attr_bool(r, "multiAZ") ? "enabled" : "disabled");
	cairn_sim_xml_elem(x, "SnapshotRetentionLimit", "0");
	cairn_sim_xml_elem(x, "SnapshotWindow", "05:00-06:00");
	cairn_sim_xml_bool(x, "ClusterEnabled", clustered);
	cairn_sim_xml_elem(x, "CacheNodeType", attr(r, "nodeType"));
	cairn_sim_xml_bool(x, "AuthTokenEnabled", 0);
	cairn_sim_xml_bool(x, "TransitEncryptionEnabled", attr_bool(r, "transitEncryption"));
	cairn_sim_xml_bool(x, "AtRestEncryptionEnabled", attr_bool(r, "atRestEncryption"));
	cairn_sim_xml_elemf(x, "ARN", "arn:aws:elasticache:%s:%s:replicationgroup:%s", r->region,
		req->sim->opt.account_id, attr(r, "id"));
	cairn_sim_xml_empty(x, "LogDeliveryConfigurations");
	cairn_sim_iso_time(when, r->created_at);
	cairn_sim_xml_elem(x, "ReplicationGroupCreateTime", when);
	cairn_sim_xml_elem(x, "DataTiering", "disabled");
	cairn_sim_xml_bool(x, "AutoMinorVersionUpgrade", 1);
	cairn_sim_xml_elem(x, "NetworkType", "ipv4");
	cairn_sim_xml_elem(x, "IpDiscovery", "ipv4");
	cairn_sim_xml_elem(x, "ClusterMode", clustered ? "enabled" : "disabled");
	cairn_sim_xml_elem(x, "Engine", attr(r, "engine"));
	cairn_sim_xml_close(x, "ReplicationGroup");
}

/* ---- replication groups: actions ---------------------------------------------------- */

/* The node layout: shards x nodes, member names, AZs and subnets spread
 * round-robin over the subnet group's subnets, slot ranges. */
static int lay_out(cairn_sim_resource *r, const cairn_sim_resource *g, long shards, long nodes, int clustered)
{
	json_t *members = json_array(), *slots = json_array();
	json_t *subnets = g ? json_object_get(g->attrs, "subnets") : NULL;
	const char *id = attr(r, "id");
	size_t nsub = json_array_size(subnets), k = 0;
	long s, n;
	char name[96];

	if (!members || !slots) {
		json_decref(members);
		json_decref(slots);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (s = 1; s <= shards; s++) {
		long lo = (16384 * (s - 1)) / shards, hi = (16384 * s) / shards - 1;
		char range[48]; /* two longs and a dash */

		snprintf(range, sizeof(range), "%ld-%ld", lo, hi);
		json_array_append_new(slots, json_pack("{s:s}", "range", range));
		for (n = 1; n <= nodes; n++, k++) {
			json_t *sub = nsub ? json_array_get(subnets, k % nsub) : NULL;
			const char *az = sub ? json_string_value(json_object_get(sub, "az")) : "";
			json_t *m;

			if (clustered)
				snprintf(name, sizeof(name), "%s-%04ld-%03ld", id, s, n);
			else
				snprintf(name, sizeof(name), "%s-%03ld", id, n);
			m = json_pack("{s:s, s:I, s:s, s:s}", "cluster", name, "shard", (json_int_t)s,
				"role", n == 1 ? "primary" : "replica", "az", az ? az : "");
			if (m && sub)
				json_object_set(m, "subnet", json_object_get(sub, "id"));
			json_array_append_new(members, m);
		}
	}
	json_object_set_new(r->attrs, "members", members);
	json_object_set_new(r->attrs, "slots", slots);
	json_object_set_new(r->attrs, "numNodeGroups", json_integer(shards));
	return 0;
}

static int relink(cairn_sim_req *req, const cairn_sim_resource *r)
{
	size_t i;
	json_t *e;
	int rc;

	if ((rc = qsvc_unlink_all(req, r->id, 0)) != 0)
		return rc;
	json_array_foreach(json_object_get(r->attrs, "members"), i, e) {
		const char *sub = json_string_value(json_object_get(e, "subnet"));

		if (sub && (rc = qsvc_link(req, r->id, sub)) != 0)
			return rc;
	}
	json_array_foreach(json_object_get(r->attrs, "securityGroups"), i, e)
		if ((rc = qsvc_link(req, r->id, json_string_value(e))) != 0)
			return rc;
	return 0;
}

static int set_sgs(cairn_sim_req *req, cairn_sim_resource *r, const char *vpc, int dflt)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	json_t *sgs = NULL;
	int rc;

	if ((rc = qsvc_list(req, "SecurityGroupIds", "SecurityGroupId", &ids)) != 0)
		goto cleanup;
	if ((!ids.n && !dflt) || !vpc) {
		if (ids.n && !vpc)
			rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
				"SecurityGroupIds need a cache subnet group (CacheSubnetGroupName).");
		goto cleanup;
	}
	if ((rc = qsvc_check_sgs(req, &ids, vpc, "InvalidParameterValue", &sgs)) != 0)
		goto cleanup;
	json_object_set(r->attrs, "securityGroups", sgs);
cleanup:
	json_decref(sgs);
	cairn_sim_strs_release(&ids);
	return rc;
}

/* The shape of a new group: shards, nodes per shard, cluster mode. */
static int shape(cairn_sim_req *req, long *shards, long *nodes, int *clustered)
{
	long ncc = 0, nng = 0, rpn = 0;
	int g_ncc = 0, g_nng = 0, g_rpn = 0, rc;

	if ((rc = qsvc_int(req, "NumCacheClusters", 1, 6, &ncc, &g_ncc)) != 0 ||
	    (rc = qsvc_int(req, "NumNodeGroups", 1, 500, &nng, &g_nng)) != 0 ||
	    (rc = qsvc_int(req, "ReplicasPerNodeGroup", 0, 5, &rpn, &g_rpn)) != 0)
		return rc;
	if (g_ncc && (g_nng || g_rpn))
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"NumCacheClusters cannot be used together with NumNodeGroups or ReplicasPerNodeGroup.");
	*clustered = g_nng != 0;
	*shards = g_nng ? nng : 1;
	*nodes = g_ncc ? ncc : (g_rpn ? rpn + 1 : 1);
	return 0;
}

/* Failover and Multi-AZ against the shape (both create and modify). */
static int check_failover(cairn_sim_req *req, long nodes, int clustered, int failover, int multi)
{
	if (failover && nodes < 2)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Automatic failover needs at least one replica: a group of %ld node(s) per shard cannot fail over.", nodes);
	if (clustered && !failover)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Redis with cluster mode enabled cannot be created with automatic failover disabled.");
	if (multi && !failover)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Multi-AZ requires automatic failover to be enabled.");
	return 0;
}

/* EngineVersion as ElastiCache reports it, major.minor.patch: a shorter
 * one is completed with ".0" ("7.1" -> "7.1.0", "7" -> "7.0.0"; AWS picks
 * that version's latest patch, the sim knows none). An overlong or
 * malformed one is InvalidParameterValue. */
static int engine_version(cairn_sim_req *req, const char *ver, char *out, size_t size)
{
	size_t i, n = strlen(ver), dots = 0;

	for (i = 0; i < n; i++)
		if (ver[i] == '.')
			dots++;
		else if (!isalnum((unsigned char)ver[i]))
			break;
	if (n == 0 || i < n || n + 5 > size || ver[0] == '.' || ver[n - 1] == '.' || strstr(ver, ".."))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid engine version: %s", ver);
	snprintf(out, size, "%s%s", ver, dots == 0 ? ".0.0" : dots == 1 ? ".0" : "");
	return 0;
}

static int create_params(cairn_sim_req *req, cairn_sim_resource *r, long *shards, long *nodes, int *clustered)
{
	const char *desc, *type, *engine = cairn_sim_form_get(req->form, "Engine");
	const char *ver = cairn_sim_form_get(req->form, "EngineVersion");
	long port = 6379;
	int failover = 0, multi = 0, rest = 0, transit = 0, rc;
	char version[64];

	if ((rc = qsvc_required(req, "ReplicationGroupDescription", &desc)) != 0 ||
	    (rc = qsvc_required(req, "CacheNodeType", &type)) != 0)
		return rc;
	if (strncmp(type, "cache.", 6) != 0 || !strchr(type + 6, '.'))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid cache node type: %s", type);
	if (!engine)
		engine = "redis";
	if (strcasecmp(engine, "redis") != 0 && strcasecmp(engine, "valkey") != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Invalid engine %s: replication groups support redis and valkey.", engine);
	if ((rc = shape(req, shards, nodes, clustered)) != 0 ||
	    (rc = qsvc_int(req, "Port", 1, 65535, &port, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "AutomaticFailoverEnabled", &failover, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "MultiAZEnabled", &multi, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "AtRestEncryptionEnabled", &rest, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "TransitEncryptionEnabled", &transit, NULL)) != 0 ||
	    (rc = check_failover(req, *nodes, *clustered, failover, multi)) != 0 ||
	    (rc = engine_version(req, ver && *ver ? ver : strcasecmp(engine, "redis") == 0 ? "7.1.0" : "7.2.6",
			version, sizeof(version))) != 0)
		return rc;
	json_object_set_new(r->attrs, "description", json_string(desc));
	json_object_set_new(r->attrs, "nodeType", json_string(type));
	json_object_set_new(r->attrs, "engine", json_string(strcasecmp(engine, "redis") == 0 ? "redis" : "valkey"));
	json_object_set_new(r->attrs, "engineVersion", json_string(version));
	json_object_set_new(r->attrs, "port", json_integer(port));
	json_object_set_new(r->attrs, "automaticFailover", json_boolean(failover));
	json_object_set_new(r->attrs, "multiAZ", json_boolean(multi));
	json_object_set_new(r->attrs, "atRestEncryption", json_boolean(rest));
	json_object_set_new(r->attrs, "transitEncryption", json_boolean(transit));
	json_object_set_new(r->attrs, "clusterEnabled", json_boolean(*clustered));
	json_object_set_new(r->attrs, "securityGroups", json_array());
	json_object_set_new(r->attrs, "pending", json_object());
	return 0;
}

static int create_replication_group(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *g = NULL, *old = NULL;
	const char *name, *sgname = cairn_sim_form_get(req->form, "CacheSubnetGroupName");
	char id[400], lower[64];
	long shards = 1, nodes = 1;
	int clustered = 0, rc;

	if ((rc = qsvc_required(req, "ReplicationGroupId", &name)) != 0 ||
	    (rc = identifier(req, "ReplicationGroupId", name, 40)) != 0)
		return rc;
	if ((rc = load(req, "replicationgroup", EC_RG, name, &old)) == 0) {
		cairn_sim_resource_free(old);
		return cairn_sim_fail(req, 400, "ReplicationGroupAlreadyExists",
			"Replication group %s already exists.", name);
	}
	if (rc != CAIRN_ENOTFOUND)
		return rc;
	store_id(req, "replicationgroup", name, id, sizeof(id));
	lower_copy(name, lower, sizeof(lower));
	if ((rc = cairn_sim_resource_new(&r, id, EC_RG, req->region)) != 0)
		return rc;
	json_object_set_new(r->attrs, "id", json_string(lower));
	if ((rc = create_params(req, r, &shards, &nodes, &clustered)) != 0)
		goto cleanup;
	if (sgname && *sgname) {
		if ((rc = load_subgrp(req, sgname, &g)) != 0 || (rc = cairn_sim_resource_set_parent(r, g->id)) != 0)
			goto cleanup;
		json_object_set_new(r->attrs, "subnetGroup", json_string(attr(g, "name")));
	}
	if ((rc = set_sgs(req, r, g ? attr(g, "vpcId") : NULL, 1)) != 0 || (rc = qsvc_tags(req, r->tags)) != 0 ||
	    (rc = lay_out(r, g, shards, nodes, clustered)) != 0)
		goto cleanup;
	if ((rc = cairn_sim_resource_set_status(r, "creating", "available",
			cairn_sim_delay(req->sim, 1500, 10 * 60 * 1000))) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = relink(req, r)) != 0)
		goto cleanup;
	render_rg(req, r);
cleanup:
	cairn_sim_resource_free(g);
	cairn_sim_resource_free(r);
	return rc;
}

static int describe_replication_groups(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *name = cairn_sim_form_get(req->form, "ReplicationGroupId");
	int rc;

	if (name && (rc = load_rg(req, name, &r)) != 0)
		return rc;
	rc = qsvc_describe(req, EC_RG, "ReplicationGroups", r, NULL, NULL, render_rg);
	cairn_sim_resource_free(r);
	return rc;
}

static int modify_replication_group(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *g = NULL;
	const char *name, *type = cairn_sim_form_get(req->form, "CacheNodeType");
	const char *ver = cairn_sim_form_get(req->form, "EngineVersion");
	const char *desc = cairn_sim_form_get(req->form, "ReplicationGroupDescription");
	json_t *pending;
	long nodes;
	int now = 0, failover, multi, changed = 0, rc;
	char version[64];

	if ((rc = qsvc_required(req, "ReplicationGroupId", &name)) != 0 || (rc = load_rg(req, name, &r)) != 0)
		return rc;
	if (strcmp(r->status, "available") != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidReplicationGroupState",
			"Replication group %s is not in available state (%s).", attr(r, "id"), r->status);
		goto cleanup;
	}
	failover = attr_bool(r, "automaticFailover");
	multi = attr_bool(r, "multiAZ");
	nodes = (long)json_array_size(json_object_get(r->attrs, "members")) / attr_int(r, "numNodeGroups");
	if ((rc = qsvc_bool(req, "ApplyImmediately", &now, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "AutomaticFailoverEnabled", &failover, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "MultiAZEnabled", &multi, NULL)) != 0 ||
	    (rc = check_failover(req, nodes, attr_bool(r, "clusterEnabled"), failover, multi)) != 0)
		goto cleanup;
	if (type && (strncmp(type, "cache.", 6) != 0 || !strchr(type + 6, '.'))) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid cache node type: %s", type);
		goto cleanup;
	}
	if (r->parent_id && (rc = cairn_sim_store_get(req->sim->store, r->parent_id, &g)) != 0)
		goto cleanup;
	if ((rc = set_sgs(req, r, g ? attr(g, "vpcId") : NULL, 0)) != 0)
		goto cleanup;
	pending = json_object_get(r->attrs, "pending");
	if (!json_is_object(pending)) {
		json_object_set_new(r->attrs, "pending", json_object());
		pending = json_object_get(r->attrs, "pending");
	}
	if (type && strcmp(type, attr(r, "nodeType")) != 0)
		json_object_set_new(pending, "nodeType", json_string(type));
	if (ver && *ver && !qsvc_version_prefix(ver, attr(r, "engineVersion"))) {
		if ((rc = engine_version(req, ver, version, sizeof(version))) != 0)
			goto cleanup;
		if (qsvc_version_older(version, attr(r, "engineVersion"))) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
				"Cannot downgrade the engine version from %s to %s", attr(r, "engineVersion"), version);
			goto cleanup;
		}
		json_object_set_new(pending, "engineVersion", json_string(version));
	}
	if (desc)
		json_object_set_new(r->attrs, "description", json_string(desc));
	if (failover != attr_bool(r, "automaticFailover") || multi != attr_bool(r, "multiAZ")) {
		json_object_set_new(r->attrs, "automaticFailover", json_boolean(failover));
		json_object_set_new(r->attrs, "multiAZ", json_boolean(multi));
		changed = 1;
	}
	if (now && json_object_size(pending)) {
		if (json_object_get(pending, "nodeType"))
			json_object_set(r->attrs, "nodeType", json_object_get(pending, "nodeType"));
		if (json_object_get(pending, "engineVersion"))
			json_object_set(r->attrs, "engineVersion", json_object_get(pending, "engineVersion"));
		json_object_clear(pending);
		changed = 1;
	}
	if (changed && (rc = cairn_sim_resource_set_status(r, "modifying", "available",
			cairn_sim_delay(req->sim, 1000, 10 * 60 * 1000))) != 0)
		goto cleanup;
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = relink(req, r)) != 0)
		goto cleanup;
	render_rg(req, r);
cleanup:
	cairn_sim_resource_free(g);
	cairn_sim_resource_free(r);
	return rc;
}

static int delete_replication_group(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *name;
	int retain = 0, rc;
	double at;

	if ((rc = qsvc_required(req, "ReplicationGroupId", &name)) != 0 ||
	    (rc = qsvc_bool(req, "RetainPrimaryCluster", &retain, NULL)) != 0)
		return rc;
	if (retain)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"cairn sim does not keep a primary cluster outside its replication group (RetainPrimaryCluster).");
	if ((rc = load_rg(req, name, &r)) != 0)
		return rc;
	if (strcmp(r->status, "available") != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidReplicationGroupState",
			"Replication group %s has status %s which is not valid for deletion.", attr(r, "id"), r->status);
		goto cleanup;
	}
	at = cairn_sim_delay(req->sim, 1500, 5 * 60 * 1000);
	if ((rc = cairn_sim_resource_set_status(r, "deleting", CAIRN_SIM_STATUS_GONE, at)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = qsvc_unlink_all(req, r->id, at)) != 0)
		goto cleanup;
	render_rg(req, r);
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- member cache clusters ---------------------------------------------------------- */

static void render_cluster(cairn_sim_req *req, const cairn_sim_resource *r, const json_t *m)
{
	cairn_sim_xml *x = &req->xml;
	const char *pending_type = json_string_value(json_object_get(json_object_get(r->attrs, "pending"), "nodeType"));
	const char *pending_ver = json_string_value(json_object_get(json_object_get(r->attrs, "pending"), "engineVersion"));
	const char *status = r->status;
	char when[32];
	size_t i;
	json_t *e;

	if (!strcmp(status, "creating") || !strcmp(status, "deleting") || !strcmp(status, "modifying"))
		;
	else
		status = "available";
	cairn_sim_xml_open(x, "CacheCluster");
	cairn_sim_xml_elem(x, "CacheClusterId", json_string_value(json_object_get(m, "cluster")));
	cairn_sim_xml_elem(x, "CacheNodeType", attr(r, "nodeType"));
	cairn_sim_xml_elem(x, "Engine", attr(r, "engine"));
	cairn_sim_xml_elem(x, "EngineVersion", attr(r, "engineVersion"));
	cairn_sim_xml_elem(x, "CacheClusterStatus", status);
	cairn_sim_xml_elem(x, "NumCacheNodes", "1");
	cairn_sim_xml_elem(x, "PreferredAvailabilityZone", json_string_value(json_object_get(m, "az")));
	cairn_sim_iso_time(when, r->created_at);
	cairn_sim_xml_elem(x, "CacheClusterCreateTime", when);
	cairn_sim_xml_elem(x, "PreferredMaintenanceWindow", "sun:23:00-mon:01:30");
	if (pending_type || pending_ver) {
		cairn_sim_xml_open(x, "PendingModifiedValues");
		cairn_sim_xml_elem(x, "EngineVersion", pending_ver);
		cairn_sim_xml_elem(x, "CacheNodeType", pending_type);
		cairn_sim_xml_close(x, "PendingModifiedValues");
	} else {
		cairn_sim_xml_empty(x, "PendingModifiedValues");
	}
	cairn_sim_xml_empty(x, "CacheSecurityGroups");
	cairn_sim_xml_elem(x, "CacheSubnetGroupName", attr(r, "subnetGroup"));
	cairn_sim_xml_bool(x, "AutoMinorVersionUpgrade", 1);
	cairn_sim_xml_open(x, "SecurityGroups");
	json_array_foreach(json_object_get(r->attrs, "securityGroups"), i, e) {
		cairn_sim_xml_open(x, "member");
		cairn_sim_xml_elem(x, "SecurityGroupId", json_string_value(e));
		cairn_sim_xml_elem(x, "Status", "active");
		cairn_sim_xml_close(x, "member");
	}
	cairn_sim_xml_close(x, "SecurityGroups");
	cairn_sim_xml_elem(x, "ReplicationGroupId", attr(r, "id"));
	cairn_sim_xml_elem(x, "SnapshotRetentionLimit", "0");
	cairn_sim_xml_bool(x, "AuthTokenEnabled", 0);
	cairn_sim_xml_bool(x, "TransitEncryptionEnabled", attr_bool(r, "transitEncryption"));
	cairn_sim_xml_bool(x, "AtRestEncryptionEnabled", attr_bool(r, "atRestEncryption"));
	cairn_sim_xml_elemf(x, "ARN", "arn:aws:elasticache:%s:%s:cluster:%s", r->region,
		req->sim->opt.account_id, json_string_value(json_object_get(m, "cluster")));
	cairn_sim_xml_bool(x, "ReplicationGroupLogDeliveryEnabled", 0);
	cairn_sim_xml_elem(x, "NetworkType", "ipv4");
	cairn_sim_xml_close(x, "CacheCluster");
}

/* All member clusters in order (or the one named), paginated by position. */
static int describe_cache_clusters(cairn_sim_req *req)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	const char *want = cairn_sim_form_get(req->form, "CacheClusterId");
	int64_t after = 0, index = 0;
	long max = 100, n = 0;
	size_t i, j;
	json_t *m;
	int rc, found = 0, more = 0;

	if ((rc = qsvc_paging(req, &max, &after)) != 0 ||
	    (rc = cairn_sim_store_list(req->sim->store, EC_RG, req->region, NULL, &l)) != 0)
		goto cleanup;
	cairn_sim_xml_open(&req->xml, "CacheClusters");
	for (i = 0; i < l.n && !more; i++) {
		json_array_foreach(json_object_get(l.v[i]->attrs, "members"), j, m) {
			const char *cid = json_string_value(json_object_get(m, "cluster"));

			if (want && strcasecmp(want, cid) != 0)
				continue;
			found = 1;
			if (++index <= after)
				continue;
			if (n == max) {
				more = 1;
				break;
			}
			render_cluster(req, l.v[i], m);
			n++;
		}
	}
	cairn_sim_xml_close(&req->xml, "CacheClusters");
	if (more)
		qsvc_marker(&req->xml, index - 1);
	if (want && !found)
		rc = cairn_sim_fail(req, 404, "CacheClusterNotFound", "CacheCluster not found: %s", want);
cleanup:
	cairn_sim_reslist_release(&l);
	return rc;
}

/* ---- tags ------------------------------------------------------------------------------ */

/* Tags on replication groups and cache subnet groups. A replication group
 * takes tag calls only when available (AWS: "If the cluster is not in the
 * available state, ListTagsForResource returns an error"), and a tag change
 * makes it modifying for a moment. */
static const qsvc_tagging tagging = {
	.service = "elasticache",
	.tag_not_found = 1, /* RemoveTagsFromResource of a key that is not there */
	.answer_tags = 1,   /* Add/RemoveTagsFromResource answer with the TagList */
	.bad_arn = { 400, "InvalidARN", "ARN %s is invalid." },
	.kinds = {
		{ "subnetgroup", EC_SUBGRP, { 400, "CacheSubnetGroupNotFoundFault", "Cache subnet group not found: %s" } },
		{ "replicationgroup", EC_RG, { 404, "ReplicationGroupNotFoundFault", "Replication group not found: %s" },
		  "available", { 400, "InvalidReplicationGroupState",
			"Cluster not in available state to perform tagging operations." },
		  "modifying", { 1000, 30 * 1000 } },
	},
	.other_kind = { 400, "InvalidARN", "ARN %s does not name a replication group or a cache subnet group." },
};

static const cairn_sim_action actions[] = {
	{ "CreateCacheSubnetGroup", NULL, NULL, create_cache_subnet_group, CAIRN_SIM_MUTATING, NULL },
	{ "DescribeCacheSubnetGroups", NULL, NULL, describe_cache_subnet_groups, CAIRN_SIM_READ, NULL },
	{ "ModifyCacheSubnetGroup", NULL, NULL, modify_cache_subnet_group, CAIRN_SIM_MUTATING, NULL },
	{ "DeleteCacheSubnetGroup", NULL, NULL, delete_cache_subnet_group, CAIRN_SIM_MUTATING, NULL },
	{ "CreateReplicationGroup", NULL, NULL, create_replication_group, CAIRN_SIM_MUTATING, NULL },
	{ "DescribeReplicationGroups", NULL, NULL, describe_replication_groups, CAIRN_SIM_READ, NULL },
	{ "ModifyReplicationGroup", NULL, NULL, modify_replication_group, CAIRN_SIM_MUTATING, NULL },
	{ "DeleteReplicationGroup", NULL, NULL, delete_replication_group, CAIRN_SIM_MUTATING, NULL },
	{ "DescribeCacheClusters", NULL, NULL, describe_cache_clusters, CAIRN_SIM_READ, NULL },
	{ "AddTagsToResource", NULL, NULL, qsvc_tags_by_arn, CAIRN_SIM_MUTATING, NULL },
	{ "RemoveTagsFromResource", NULL, NULL, qsvc_tags_by_arn, CAIRN_SIM_MUTATING, NULL },
	{ "ListTagsForResource", NULL, NULL, qsvc_tags_by_arn, CAIRN_SIM_READ, NULL },
};

const cairn_sim_service cairn_sim_elasticache_service = {
	.name = "elasticache",
	.protocol = CAIRN_SIM_PROTO_QUERY,
	.version = "2015-02-02",
	.xmlns = "http://elasticache.amazonaws.com/doc/2015-02-02/",
	.actions = actions,
	.n_actions = sizeof(actions) / sizeof(actions[0]),
	.throttle_code = "Throttling",
	.throttle_status = 400,
	.throttle_message = "Rate exceeded",
	.internal_code = "InternalFailure",
	.data = &tagging,
};
