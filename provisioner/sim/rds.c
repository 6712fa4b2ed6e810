/*
 * rds.c - the simulated Amazon RDS (Query API version 2014-10-31): DB subnet
 * groups over the EC2 store's subnets, DB instances with their lifecycle
 * (creating -> available, modifying -> available, storage-optimization ->
 * available after a storage change, deleting -> gone), pending
 * modifications, engine versions (prefixes, major upgrades), tags by ARN. An instance links itself (qsvc_link)
 * to the subnet it runs in (and its standby's) and to its security groups,
 * so EC2 refuses to delete them while it exists.
 *
 * Store ids are the ARN without "arn:aws:" and the account:
 * "rds:<region>:db:<id>", "rds:<region>:subgrp:<name>".
 */
#include "qsvc.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDS_DB "rds:db-instance"
#define RDS_SUBGRP "rds:db-subnet-group"
#define RDS_SNAPSHOT "rds:db-snapshot"

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

static void store_id(cairn_sim_req *req, const char *kind, const char *name, char *out, size_t size)
{
	snprintf(out, size, "rds:%s:%s:%s", req->region, kind, name);
}

/* The status after a storage change, which AWS lets the instance be used,
 * modified (but for its storage) and snapshotted in, as when available. */
#define OPTIMIZING "storage-optimization"

/* Whether instance r takes a modification or a final snapshot now. */
static int usable(const cairn_sim_resource *r)
{
	return strcmp(r->status, "available") == 0 || strcmp(r->status, OPTIMIZING) == 0;
}

/* RDS identifiers: a letter first, letters, digits and single hyphens, no
 * trailing hyphen, at most max characters. Lowercased into out. */
static int identifier(cairn_sim_req *req, const char *param, const char *v, size_t max,
	char *out, size_t size)
{
	size_t i, n = strlen(v);

	if (n == 0 || n > max || n >= size || !isalpha((unsigned char)v[0]) || v[n - 1] == '-')
		goto bad;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!isalnum(c) && c != '-')
			goto bad;
		if (c == '-' && v[i + 1] == '-')
			goto bad;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	return 0;
bad:
	return cairn_sim_fail(req, 400, "InvalidParameterValue",
		"The parameter %s is not a valid identifier. Identifiers must begin with a letter; "
		"must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen "
		"or contain two consecutive hyphens.", param);
}

/* Load a resource of type by store id; CAIRN_ENOTFOUND when absent. */
static int load(cairn_sim_req *req, const char *id, const char *type, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	int rc = cairn_sim_store_get(req->sim->store, id, &r);

	if (rc)
		return rc;
	if (strcmp(r->type, type) != 0) {
		cairn_sim_resource_free(r);
		return CAIRN_ENOTFOUND;
	}
	*out = r;
	return 0;
}

static int load_db(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	char id[256], lower[128];
	size_t i;
	int rc;

	for (i = 0; name[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	store_id(req, "db", lower, id, sizeof(id));
	rc = load(req, id, RDS_DB, out);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_sim_fail(req, 404, "DBInstanceNotFound", "DBInstance %s not found.", name);
	return rc;
}

static int load_subgrp(cairn_sim_req *req, const char *name, cairn_sim_resource **out)
{
	char id[512], lower[300];
	size_t i;
	int rc;

	for (i = 0; name[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	store_id(req, "subgrp", lower, id, sizeof(id));
	rc = load(req, id, RDS_SUBGRP, out);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_sim_fail(req, 404, "DBSubnetGroupNotFoundFault",
			"DBSubnetGroup '%s' not found.", name);
	return rc;
}

/* ---- DB subnet groups -------------------------------------------------------- */

static void render_subnets(cairn_sim_xml *x, const json_t *subnets)
{
	size_t i;
	json_t *s;

	cairn_sim_xml_open(x, "Subnets");
	json_array_foreach((json_t *)subnets, i, s) {
		cairn_sim_xml_open(x, "Subnet");
		cairn_sim_xml_elem(x, "SubnetIdentifier", json_string_value(json_object_get(s, "id")));
		cairn_sim_xml_open(x, "SubnetAvailabilityZone");
		cairn_sim_xml_elem(x, "Name", json_string_value(json_object_get(s, "az")));
		cairn_sim_xml_close(x, "SubnetAvailabilityZone");
		cairn_sim_xml_empty(x, "SubnetOutpost");
		cairn_sim_xml_elem(x, "SubnetStatus", "Active");
		cairn_sim_xml_close(x, "Subnet");
	}
	cairn_sim_xml_close(x, "Subnets");
}

static void render_subgrp_body(cairn_sim_req *req, const cairn_sim_resource *g, int full)
{
	cairn_sim_xml *x = &req->xml;

	cairn_sim_xml_elem(x, "DBSubnetGroupName", attr(g, "name"));
	cairn_sim_xml_elem(x, "DBSubnetGroupDescription", attr(g, "description"));
	cairn_sim_xml_elem(x, "VpcId", attr(g, "vpcId"));
	cairn_sim_xml_elem(x, "SubnetGroupStatus", "Complete");
	render_subnets(x, json_object_get(g->attrs, "subnets"));
	if (!full)
		return;
	cairn_sim_xml_elemf(x, "DBSubnetGroupArn", "arn:aws:rds:%s:%s:subgrp:%s", g->region,
		req->sim->opt.account_id, attr(g, "name"));
	cairn_sim_xml_raw(x, "<SupportedNetworkTypes><member>IPV4</member></SupportedNetworkTypes>");
}

static void render_subgrp(cairn_sim_req *req, const cairn_sim_resource *g)
{
	cairn_sim_xml_open(&req->xml, "DBSubnetGroup");
	render_subgrp_body(req, g, 1);
	cairn_sim_xml_close(&req->xml, "DBSubnetGroup");
}

/* SubnetIds into g's "subnets" and "vpcId", with RDS's checks. */
static int set_subnets(cairn_sim_req *req, cairn_sim_resource *g)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	json_t *subnets = NULL;
	char vpc[64];
	size_t azs = 0;
	int rc;

	if ((rc = qsvc_list(req, "SubnetIds", "SubnetIdentifier", &ids)) != 0)
		goto cleanup;
	if (ids.n == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter",
			"The parameter SubnetIds must be provided and must not be blank.");
		goto cleanup;
	}
	if ((rc = qsvc_load_subnets(req, &ids, "InvalidSubnet", &subnets, vpc, sizeof(vpc), &azs)) != 0)
		goto cleanup;
	if (azs < 2) {
		rc = cairn_sim_fail(req, 400, "DBSubnetGroupDoesNotCoverEnoughAZs",
			"The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. "
			"Current AZ coverage: %s. Add subnets to cover at least 2 AZs.",
			json_string_value(json_object_get(json_array_get(subnets, 0), "az")));
		goto cleanup;
	}
	json_object_set_new(g->attrs, "vpcId", json_string(vpc));
	json_object_set(g->attrs, "subnets", subnets);
cleanup:
	json_decref(subnets);
	cairn_sim_strs_release(&ids);
	return rc;
}

static int create_db_subnet_group(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL, *old = NULL;
	const char *name, *desc;
	char lower[300], id[400];
	int rc;

	if ((rc = qsvc_required(req, "DBSubnetGroupName", &name)) != 0 ||
	    (rc = qsvc_required(req, "DBSubnetGroupDescription", &desc)) != 0)
		return rc;
	if (strlen(name) > 255 || strcasecmp(name, "default") == 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"The parameter DBSubnetGroupName is not a valid identifier: %s", name);
	snprintf(lower, sizeof(lower), "%s", name);
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	store_id(req, "subgrp", lower, id, sizeof(id));
	if ((rc = load(req, id, RDS_SUBGRP, &old)) == 0) {
		cairn_sim_resource_free(old);
		return cairn_sim_fail(req, 400, "DBSubnetGroupAlreadyExists",
			"The DB subnet group '%s' already exists.", lower);
	}
	if (rc != CAIRN_ENOTFOUND)
		return rc;
	if ((rc = cairn_sim_resource_new(&g, id, RDS_SUBGRP, req->region)) != 0)
		return rc;
	json_object_set_new(g->attrs, "name", json_string(lower));
	json_object_set_new(g->attrs, "description", json_string(desc));
	if ((rc = set_subnets(req, g)) != 0 || (rc = qsvc_tags(req, g->tags)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, g)) != 0)
		goto cleanup;
	render_subgrp(req, g);
cleanup:
	cairn_sim_resource_free(g);
	return rc;
}

static int describe_db_subnet_groups(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL;
	const char *name = cairn_sim_form_get(req->form, "DBSubnetGroupName");
	int rc;

	if (name && (rc = load_subgrp(req, name, &g)) != 0)
		return rc;
	rc = qsvc_describe(req, RDS_SUBGRP, "DBSubnetGroups", g, NULL, NULL, render_subgrp);
	cairn_sim_resource_free(g);
	return rc;
}

/* The DB instances whose subnet group is g. */
static int subgrp_users(cairn_sim_req *req, const cairn_sim_resource *g, cairn_sim_reslist *out)
{
	return cairn_sim_store_list(req->sim->store, RDS_DB, req->region, g->id, out);
}

static int modify_db_subnet_group(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL;
	cairn_sim_reslist users = { NULL, 0, 0 };
	const char *name, *desc = cairn_sim_form_get(req->form, "DBSubnetGroupDescription");
	char *old_vpc = NULL;
	size_t i, j;
	json_t *s;
	int rc;

	if ((rc = qsvc_required(req, "DBSubnetGroupName", &name)) != 0 || (rc = load_subgrp(req, name, &g)) != 0)
		return rc;
	if (!(old_vpc = strdup(attr(g, "vpcId") ? attr(g, "vpcId") : ""))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = set_subnets(req, g)) != 0 || (rc = subgrp_users(req, g, &users)) != 0)
		goto cleanup;
	for (i = 0; i < users.n; i++) {
		const char *used[2] = { attr(users.v[i], "subnetId"), attr(users.v[i], "secondarySubnetId") };
		int k;

		if (strcmp(old_vpc, attr(g, "vpcId")) != 0) {
			rc = cairn_sim_fail(req, 400, "InvalidSubnet",
				"The new subnets are not in the same VPC as the existing subnet group");
			goto cleanup;
		}
		for (k = 0; k < 2; k++) {
			int found = !used[k];

			json_array_foreach(json_object_get(g->attrs, "subnets"), j, s)
				if (used[k] && strcmp(used[k], json_string_value(json_object_get(s, "id"))) == 0)
					found = 1;
			if (!found) {
				rc = cairn_sim_fail(req, 400, "SubnetAlreadyInUse",
					"Some of the subnets to be deleted are currently in use: %s", used[k]);
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
	free(old_vpc);
	cairn_sim_reslist_release(&users);
	cairn_sim_resource_free(g);
	return rc;
}

static int delete_db_subnet_group(cairn_sim_req *req)
{
	cairn_sim_resource *g = NULL;
	cairn_sim_reslist users = { NULL, 0, 0 };
	const char *name;
	int rc;

	if ((rc = qsvc_required(req, "DBSubnetGroupName", &name)) != 0 || (rc = load_subgrp(req, name, &g)) != 0)
		return rc;
	if ((rc = subgrp_users(req, g, &users)) != 0)
		goto cleanup;
	if (users.n) {
		rc = cairn_sim_fail(req, 400, "InvalidDBSubnetGroupStateFault",
			"Cannot delete the subnet group '%s' because at least one database instance: %s is still using it.",
			attr(g, "name"), attr(users.v[0], "identifier"));
		goto cleanup;
	}
	rc = cairn_sim_store_delete(req->sim->store, g->id);
cleanup:
	cairn_sim_reslist_release(&users);
	cairn_sim_resource_free(g);
	return rc;
}

/* ---- DB instances: rendering ------------------------------------------------------ */

typedef struct engine_info {
	const char *engine;
	const char *version;
	int port;
	const char *license;
	int major_parts; /* version components in the parameter group family */
} engine_info;

static const engine_info engines[] = {
	{ "postgres", "16.3", 5432, "postgresql-license", 1 },
	{ "mysql", "8.0.35", 3306, "general-public-license", 2 },
	{ "mariadb", "10.11.6", 3306, "general-public-license", 2 },
	{ "oracle-ee", "19.0.0.0.ru-2024-01.rur-2024-01.r1", 1521, "bring-your-own-license", 1 },
	{ "oracle-se2", "19.0.0.0.ru-2024-01.rur-2024-01.r1", 1521, "license-included", 1 },
	{ "sqlserver-ex", "15.00.4345.5.v1", 1433, "license-included", 2 },
	{ "sqlserver-web", "15.00.4345.5.v1", 1433, "license-included", 2 },
	{ "sqlserver-se", "15.00.4345.5.v1", 1433, "license-included", 2 },
	{ "sqlserver-ee", "15.00.4345.5.v1", 1433, "license-included", 2 },
};

static const engine_info *find_engine(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(engines) / sizeof(engines[0]); i++)
		if (strcmp(engines[i].engine, name) == 0)
			return &engines[i];
	return NULL;
}

/* The length of v's major version: e->major_parts components ("8.0",
 * "10.11", "15.00", "19", "16"), except postgres 9.x, whose major version
 * has two ("9.6"). */
static size_t major_len(const engine_info *e, const char *v)
{
	int parts = e ? e->major_parts : 1, dots = 0;
	size_t n = 0;

	if (e && strcmp(e->engine, "postgres") == 0 && strncmp(v, "9.", 2) == 0)
		parts = 2;
	while (v[n] && (v[n] != '.' || ++dots < parts))
		n++;
	return n;
}

/* Whether versions a and b have the same major version. */
static int same_major(const engine_info *e, const char *a, const char *b)
{
	size_t n = major_len(e, a);

	return n == major_len(e, b) && strncmp(a, b, n) == 0;
}

/* An EngineVersion as RDS takes it: a prefix of the engine's default
 * version at a component boundary ("16" of "16.3", "8" or "8.0" of
 * "8.0.35") is that default; another major version alone ("15", "5.7")
 * gets ".0" appended (AWS would pick that major version's default minor;
 * the sim knows one version per engine); anything else is kept. */
static void resolve_version(const engine_info *e, const char *v, char *out, size_t size)
{
	size_t n = strlen(v);

	if (qsvc_version_prefix(v, e->version))
		snprintf(out, size, "%s", e->version);
	else if (n && major_len(e, v) == n)
		snprintf(out, size, "%s.0", v);
	else
		snprintf(out, size, "%s", v);
}

/* EngineVersion ver resolved (resolve_version) into out; an overlong one is
 * InvalidParameterValue. */
static int engine_version(cairn_sim_req *req, const engine_info *e, const char *ver, char *out, size_t size)
{
	if (strlen(ver) + 3 > size)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid DB engine version: %s", ver);
	resolve_version(e, ver, out, size);
	return 0;
}

/* "postgres16", "mysql8.0", "postgres9.6": the default parameter group family. */
static void family(const cairn_sim_resource *r, char *out, size_t size)
{
	const char *v = attr(r, "engineVersion");

	if (!v)
		v = "";
	snprintf(out, size, "%s%.*s", attr(r, "engine"), (int)major_len(find_engine(attr(r, "engine")), v), v);
}

static void render_pending(cairn_sim_xml *x, const cairn_sim_resource *r)
{
	json_t *p = json_object_get(r->attrs, "pending");

	if (json_object_size(p) == 0) {
		cairn_sim_xml_empty(x, "PendingModifiedValues");
		return;
	}
	cairn_sim_xml_open(x, "PendingModifiedValues");
	cairn_sim_xml_elem(x, "DBInstanceClass", json_string_value(json_object_get(p, "class")));
	if (json_object_get(p, "allocatedStorage"))
		cairn_sim_xml_elemf(x, "AllocatedStorage", "%lld",
			(long long)json_integer_value(json_object_get(p, "allocatedStorage")));
	if (json_object_get(p, "password"))
		cairn_sim_xml_elem(x, "MasterUserPassword", "****");
	if (json_object_get(p, "backupRetention"))
		cairn_sim_xml_elemf(x, "BackupRetentionPeriod", "%lld",
			(long long)json_integer_value(json_object_get(p, "backupRetention")));
	if (json_object_get(p, "multiAZ"))
		cairn_sim_xml_bool(x, "MultiAZ", json_is_true(json_object_get(p, "multiAZ")));
	cairn_sim_xml_elem(x, "EngineVersion", json_string_value(json_object_get(p, "engineVersion")));
	cairn_sim_xml_elem(x, "StorageType", json_string_value(json_object_get(p, "storageType")));
	cairn_sim_xml_close(x, "PendingModifiedValues");
}

/* VpcSecurityGroups: after a change of the groups, for a moment, the new
 * ones are "adding" and the old ones still listed as "removing", as on AWS
 * (attrs "sgChange": {"until", "adding": [...], "removing": [...]}). */
static bool listed(json_t *arr, const char *id)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), id) == 0)
			return true;
	return false;
}

static void render_memberships(cairn_sim_xml *x, const cairn_sim_resource *r)
{
	json_t *change = json_object_get(r->attrs, "sgChange"), *e;
	bool moving = change && cairn_sim_now() < json_real_value(json_object_get(change, "until"));
	json_t *adding = json_object_get(change, "adding"), *removing = json_object_get(change, "removing");
	size_t i;

	cairn_sim_xml_open(x, "VpcSecurityGroups");
	json_array_foreach(json_object_get(r->attrs, "vpcSecurityGroups"), i, e) {
		cairn_sim_xml_open(x, "VpcSecurityGroupMembership");
		cairn_sim_xml_elem(x, "VpcSecurityGroupId", json_string_value(e));
		cairn_sim_xml_elem(x, "Status", moving && listed(adding, json_string_value(e)) ? "adding" : "active");
		cairn_sim_xml_close(x, "VpcSecurityGroupMembership");
	}
	json_array_foreach(moving ? removing : NULL, i, e) {
		cairn_sim_xml_open(x, "VpcSecurityGroupMembership");
		cairn_sim_xml_elem(x, "VpcSecurityGroupId", json_string_value(e));
		cairn_sim_xml_elem(x, "Status", "removing");
		cairn_sim_xml_close(x, "VpcSecurityGroupMembership");
	}
	cairn_sim_xml_close(x, "VpcSecurityGroups");
}

static void render_db(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;
	cairn_sim_resource *g = NULL;
	const char *id = attr(r, "identifier");
	char fam[64], hash[13], when[32];

	cairn_sim_xml_open(x, "DBInstance");
	cairn_sim_xml_elem(x, "DBInstanceIdentifier", id);
	cairn_sim_xml_elem(x, "DBInstanceClass", attr(r, "class"));
	cairn_sim_xml_elem(x, "Engine", attr(r, "engine"));
	cairn_sim_xml_elem(x, "DBInstanceStatus", r->status);
	cairn_sim_xml_elem(x, "MasterUsername", attr(r, "masterUsername"));
	cairn_sim_xml_elem(x, "DBName", attr(r, "dbName"));
	if (strcmp(r->status, "creating") != 0) {
		qsvc_account_hash(req, hash);
		cairn_sim_xml_open(x, "Endpoint");
		cairn_sim_xml_elemf(x, "Address", "%s.%s.%s.rds.amazonaws.com", id, hash, r->region);
		cairn_sim_xml_elemf(x, "Port", "%ld", attr_int(r, "port"));
		cairn_sim_xml_elem(x, "HostedZoneId", "Z2R2ITUGPM61AM");
		cairn_sim_xml_close(x, "Endpoint");
	}
	cairn_sim_xml_elemf(x, "AllocatedStorage", "%ld", attr_int(r, "allocatedStorage"));
	if (strcmp(r->status, "creating") != 0) {
		cairn_sim_iso_time(when, r->created_at);
		cairn_sim_xml_elem(x, "InstanceCreateTime", when);
	}
	cairn_sim_xml_elem(x, "PreferredBackupWindow", "03:00-03:30");
	cairn_sim_xml_elemf(x, "BackupRetentionPeriod", "%ld", attr_int(r, "backupRetention"));
	cairn_sim_xml_empty(x, "DBSecurityGroups");
	render_memberships(x, r);
	family(r, fam, sizeof(fam));
	cairn_sim_xml_open(x, "DBParameterGroups");
	cairn_sim_xml_open(x, "DBParameterGroup");
	cairn_sim_xml_elemf(x, "DBParameterGroupName", "default.%s", fam);
	cairn_sim_xml_elem(x, "ParameterApplyStatus", "in-sync");
	cairn_sim_xml_close(x, "DBParameterGroup");
	cairn_sim_xml_close(x, "DBParameterGroups");
	cairn_sim_xml_elem(x, "AvailabilityZone", attr(r, "availabilityZone"));
	if (r->parent_id && cairn_sim_store_get(req->sim->store, r->parent_id, &g) == 0) {
		cairn_sim_xml_open(x, "DBSubnetGroup");
		render_subgrp_body(req, g, 0);
		cairn_sim_xml_close(x, "DBSubnetGroup");
		cairn_sim_resource_free(g);
	}
	cairn_sim_xml_elem(x, "PreferredMaintenanceWindow", "sun:05:00-sun:05:30");
	render_pending(x, r);
	cairn_sim_xml_bool(x, "MultiAZ", attr_bool(r, "multiAZ"));
	cairn_sim_xml_elem(x, "EngineVersion", attr(r, "engineVersion"));
	cairn_sim_xml_bool(x, "AutoMinorVersionUpgrade", 1);
	cairn_sim_xml_empty(x, "ReadReplicaDBInstanceIdentifiers");
	cairn_sim_xml_elem(x, "LicenseModel", find_engine(attr(r, "engine"))->license);
	cairn_sim_xml_open(x, "OptionGroupMemberships");
	cairn_sim_xml_open(x, "OptionGroupMembership");
	cairn_sim_xml_elemf(x, "OptionGroupName", "default:%s", attr(r, "engine"));
	cairn_sim_xml_elem(x, "Status", "in-sync");
	cairn_sim_xml_close(x, "OptionGroupMembership");
	cairn_sim_xml_close(x, "OptionGroupMemberships");
	cairn_sim_xml_elem(x, "SecondaryAvailabilityZone", attr(r, "secondaryAvailabilityZone"));
	cairn_sim_xml_bool(x, "PubliclyAccessible", attr_bool(r, "publiclyAccessible"));
	cairn_sim_xml_elem(x, "StorageType", attr(r, "storageType"));
	cairn_sim_xml_elem(x, "DbInstancePort", "0");
	cairn_sim_xml_bool(x, "StorageEncrypted", attr_bool(r, "storageEncrypted"));
	cairn_sim_xml_elem(x, "DbiResourceId", attr(r, "dbiResourceId"));
	cairn_sim_xml_elem(x, "CACertificateIdentifier", "rds-ca-rsa2048-g1");
	cairn_sim_xml_empty(x, "DomainMemberships");
	cairn_sim_xml_bool(x, "CopyTagsToSnapshot", 0);
	cairn_sim_xml_elem(x, "MonitoringInterval", "0");
	cairn_sim_xml_elemf(x, "DBInstanceArn", "arn:aws:rds:%s:%s:db:%s", r->region, req->sim->opt.account_id, id);
	cairn_sim_xml_bool(x, "IAMDatabaseAuthenticationEnabled", 0);
	cairn_sim_xml_bool(x, "PerformanceInsightsEnabled", 0);
	cairn_sim_xml_bool(x, "DeletionProtection", 0);
	qsvc_render_tags(x, r->tags);
	cairn_sim_xml_elem(x, "BackupTarget", "region");
	cairn_sim_xml_elem(x, "NetworkType", "IPV4");
	cairn_sim_xml_close(x, "DBInstance");
}

/* ---- DB instances: actions --------------------------------------------------------- */

/* Place r in its subnet group: primary subnet (first of the group), and a
 * standby subnet in another AZ with MultiAZ. */
static void place(cairn_sim_resource *r, const cairn_sim_resource *g)
{
	json_t *subnets = json_object_get(g->attrs, "subnets"), *first = json_array_get(subnets, 0), *s;
	const char *az = json_string_value(json_object_get(first, "az"));
	size_t i;

	json_object_set_new(r->attrs, "subnetId", json_copy(json_object_get(first, "id")));
	json_object_set_new(r->attrs, "availabilityZone", json_string(az ? az : ""));
	json_object_del(r->attrs, "secondarySubnetId");
	json_object_del(r->attrs, "secondaryAvailabilityZone");
	if (!attr_bool(r, "multiAZ"))
		return;
	json_array_foreach(subnets, i, s) {
		const char *saz = json_string_value(json_object_get(s, "az"));

		if (az && saz && strcmp(saz, az) != 0) {
			json_object_set_new(r->attrs, "secondarySubnetId", json_copy(json_object_get(s, "id")));
			json_object_set_new(r->attrs, "secondaryAvailabilityZone", json_string(saz));
			break;
		}
	}
}

/* (Re)create r's dependency links to its subnets and security groups. */
static int relink(cairn_sim_req *req, const cairn_sim_resource *r)
{
	const char *subnets[2] = { attr(r, "subnetId"), attr(r, "secondarySubnetId") };
	size_t i;
	json_t *e;
	int rc;

	if ((rc = qsvc_unlink_all(req, r->id, 0)) != 0)
		return rc;
	for (i = 0; i < 2; i++)
		if (subnets[i] && (rc = qsvc_link(req, r->id, subnets[i])) != 0)
			return rc;
	json_array_foreach(json_object_get(r->attrs, "vpcSecurityGroups"), i, e)
		if ((rc = qsvc_link(req, r->id, json_string_value(e))) != 0)
			return rc;
	return 0;
}

static int check_storage(cairn_sim_req *req, const char *engine, const char *type, long gb)
{
	long lo = strcmp(type, "standard") == 0 ? 5 : 20;
	long hi = strcmp(type, "standard") == 0 ? 3072 : 65536;

	if (gb < lo || gb > hi)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Invalid storage size for engine name %s and storage type %s: %ld", engine, type, gb);
	return 0;
}

static int check_storage_type(cairn_sim_req *req, const char *type)
{
	if (strcmp(type, "standard") && strcmp(type, "gp2") && strcmp(type, "gp3") &&
	    strcmp(type, "io1") && strcmp(type, "io2"))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid storage type: %s", type);
	return 0;
}

static int check_class(cairn_sim_req *req, const char *cls)
{
	if (strncmp(cls, "db.", 3) != 0 || !strchr(cls + 3, '.'))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid DB Instance class: %s", cls);
	return 0;
}

/* VpcSecurityGroupIds into r's "vpcSecurityGroups" (the VPC's default
 * group when none are given and `dflt`). */
static int set_sgs(cairn_sim_req *req, cairn_sim_resource *r, const char *vpc, int dflt)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	json_t *sgs = NULL;
	int rc;

	if ((rc = qsvc_list(req, "VpcSecurityGroupIds", "VpcSecurityGroupId", &ids)) != 0)
		goto cleanup;
	if (!ids.n && !dflt)
		goto cleanup;
	if (!vpc) {
		if (ids.n)
			rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
				"VPC security groups need a DB subnet group (DBSubnetGroupName).");
		goto cleanup;
	}
	if ((rc = qsvc_check_sgs(req, &ids, vpc, "InvalidParameterValue", &sgs)) != 0)
		goto cleanup;
	if (!dflt) {
		/* a change of the groups takes a moment (longer than the
		 * instance's own "modifying"): see render_memberships */
		json_t *old = json_object_get(r->attrs, "vpcSecurityGroups"), *adding = json_array(),
			*removing = json_array(), *e;
		size_t i;

		json_array_foreach(sgs, i, e)
			if (!listed(old, json_string_value(e)))
				json_array_append(adding, e);
		json_array_foreach(old, i, e)
			if (!listed(sgs, json_string_value(e)))
				json_array_append(removing, e);
		if (json_array_size(adding) || json_array_size(removing))
			json_object_set_new(r->attrs, "sgChange", json_pack("{s:f, s:o, s:o}", "until",
				cairn_sim_delay(req->sim, 2500, 2 * 60 * 1000), "adding", adding, "removing", removing));
		else {
			json_decref(adding);
			json_decref(removing);
		}
	}
	json_object_set(r->attrs, "vpcSecurityGroups", sgs);
cleanup:
	json_decref(sgs);
	cairn_sim_strs_release(&ids);
	return rc;
}

/* Engine, class, storage, credentials of CreateDBInstance into r. */
static int create_params(cairn_sim_req *req, cairn_sim_resource *r, const engine_info **eng)
{
	const char *cls, *engine, *user, *pw, *ver = cairn_sim_form_get(req->form, "EngineVersion");
	const char *stype = cairn_sim_form_get(req->form, "StorageType");
	const char *dbname = cairn_sim_form_get(req->form, "DBName");
	long storage = 0, port, backup = 1;
	int multi = 0, pub = 0, enc = 0, rc;
	char version[128];

	if ((rc = qsvc_required(req, "DBInstanceClass", &cls)) != 0 || (rc = qsvc_required(req, "Engine", &engine)) != 0)
		return rc;
	if ((rc = check_class(req, cls)) != 0)
		return rc;
	if (!(*eng = find_engine(engine)))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid DB engine: %s", engine);
	if ((rc = qsvc_required(req, "AllocatedStorage", &pw)) != 0 ||
	    (rc = qsvc_int(req, "AllocatedStorage", 1, 65536, &storage, NULL)) != 0)
		return rc;
	if (!stype)
		stype = "gp2";
	if ((rc = check_storage_type(req, stype)) != 0 || (rc = check_storage(req, engine, stype, storage)) != 0)
		return rc;
	if ((rc = qsvc_required(req, "MasterUsername", &user)) != 0 ||
	    (rc = qsvc_required(req, "MasterUserPassword", &pw)) != 0)
		return rc;
	if (strlen(pw) < 8 || strlen(pw) > 128)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.");
	port = (*eng)->port;
	if ((rc = qsvc_int(req, "Port", 1150, 65535, &port, NULL)) != 0 ||
	    (rc = qsvc_int(req, "BackupRetentionPeriod", 0, 35, &backup, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "MultiAZ", &multi, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "PubliclyAccessible", &pub, NULL)) != 0 ||
	    (rc = qsvc_bool(req, "StorageEncrypted", &enc, NULL)) != 0 ||
	    (rc = engine_version(req, *eng, ver && *ver ? ver : (*eng)->version, version, sizeof(version))) != 0)
		return rc;
	json_object_set_new(r->attrs, "class", json_string(cls));
	json_object_set_new(r->attrs, "engine", json_string(engine));
	json_object_set_new(r->attrs, "engineVersion", json_string(version));
	json_object_set_new(r->attrs, "allocatedStorage", json_integer(storage));
	json_object_set_new(r->attrs, "storageType", json_string(stype));
	json_object_set_new(r->attrs, "masterUsername", json_string(user));
	/* how many times a password was set (never the password): what a test
	 * can see of a write-only value */
	json_object_set_new(r->attrs, "passwordSets", json_integer(1));
	if (dbname)
		json_object_set_new(r->attrs, "dbName", json_string(dbname));
	json_object_set_new(r->attrs, "port", json_integer(port));
	json_object_set_new(r->attrs, "backupRetention", json_integer(backup));
	json_object_set_new(r->attrs, "multiAZ", json_boolean(multi));
	json_object_set_new(r->attrs, "publiclyAccessible", json_boolean(pub));
	json_object_set_new(r->attrs, "storageEncrypted", json_boolean(enc));
	json_object_set_new(r->attrs, "vpcSecurityGroups", json_array());
	return 0;
}

static void new_resource_id(char out[32])
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	char hex[53];
	size_t i;

	cairn_sim_hex_id(hex, 52);
	memcpy(out, "db-", 3);
	for (i = 0; i < 26; i++) {
		unsigned v = (unsigned)strtoul((char[3]){ hex[2 * i], hex[2 * i + 1], 0 }, NULL, 16);

		out[3 + i] = alnum[v % 36];
	}
	out[29] = '\0';
}

static int create_db_instance(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *g = NULL, *old = NULL;
	const engine_info *eng = NULL;
	const char *name, *sgname = cairn_sim_form_get(req->form, "DBSubnetGroupName");
	char ident[64], id[160], rid[32];
	int rc;

	if ((rc = qsvc_required(req, "DBInstanceIdentifier", &name)) != 0 ||
	    (rc = identifier(req, "DBInstanceIdentifier", name, 63, ident, sizeof(ident))) != 0)
		return rc;
	store_id(req, "db", ident, id, sizeof(id));
	if ((rc = load(req, id, RDS_DB, &old)) == 0) {
		cairn_sim_resource_free(old);
		return cairn_sim_fail(req, 400, "DBInstanceAlreadyExists", "DB instance already exists");
	}
	if (rc != CAIRN_ENOTFOUND)
		return rc;
	if ((rc = cairn_sim_resource_new(&r, id, RDS_DB, req->region)) != 0)
		return rc;
	json_object_set_new(r->attrs, "identifier", json_string(ident));
	if ((rc = create_params(req, r, &eng)) != 0)
		goto cleanup;
	if (sgname && *sgname) {
		if ((rc = load_subgrp(req, sgname, &g)) != 0 || (rc = cairn_sim_resource_set_parent(r, g->id)) != 0)
			goto cleanup;
		place(r, g);
	} else {
		char az[80];

		snprintf(az, sizeof(az), "%sa", req->region);
		json_object_set_new(r->attrs, "availabilityZone", json_string(az));
	}
	if ((rc = set_sgs(req, r, g ? attr(g, "vpcId") : NULL, 1)) != 0 || (rc = qsvc_tags(req, r->tags)) != 0)
		goto cleanup;
	new_resource_id(rid);
	json_object_set_new(r->attrs, "dbiResourceId", json_string(rid));
	json_object_set_new(r->attrs, "pending", json_object());
	if ((rc = cairn_sim_resource_set_status(r, "creating", "available",
			cairn_sim_delay(req->sim, 1500, 8 * 60 * 1000))) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = relink(req, r)) != 0)
		goto cleanup;
	render_db(req, r);
cleanup:
	cairn_sim_resource_free(g);
	cairn_sim_resource_free(r);
	return rc;
}

typedef struct db_filter_ctx {
	cairn_sim_filters *fl;
} db_filter_ctx;

static int db_keep(cairn_sim_req *req, const cairn_sim_resource *r, void *ctx)
{
	cairn_sim_filters *fl = ((db_filter_ctx *)ctx)->fl;
	char arn[512];
	size_t i;

	snprintf(arn, sizeof(arn), "arn:aws:rds:%s:%s:db:%s", r->region, req->sim->opt.account_id,
		attr(r, "identifier"));
	for (i = 0; i < fl->n; i++) {
		const char *n = fl->v[i].name;
		const char *vals[2] = { NULL, NULL };

		if (!strcmp(n, "db-instance-id")) {
			vals[0] = attr(r, "identifier");
			vals[1] = arn;
		} else if (!strcmp(n, "dbi-resource-id")) {
			vals[0] = attr(r, "dbiResourceId");
		} else if (!strcmp(n, "engine")) {
			vals[0] = attr(r, "engine");
		} else if (strcmp(n, "db-cluster-id") != 0 && strcmp(n, "domain") != 0) {
			return cairn_sim_fail(req, 400, "InvalidParameterValue", "Unrecognized filter name: %s", n);
		}
		if (!qsvc_filter_match(&fl->v[i], vals, 2))
			return 0;
	}
	return 1;
}

static int describe_db_instances(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	cairn_sim_filters fl = { NULL, 0 };
	db_filter_ctx ctx = { &fl };
	const char *name = cairn_sim_form_get(req->form, "DBInstanceIdentifier");
	int rc;

	if ((rc = qsvc_filters(req, &fl)) != 0)
		return rc;
	if (name && (rc = load_db(req, name, &r)) != 0)
		goto cleanup;
	rc = qsvc_describe(req, RDS_DB, "DBInstances", r, db_keep, &ctx, render_db);
cleanup:
	cairn_sim_filters_release(&fl);
	cairn_sim_resource_free(r);
	return rc;
}

/* EngineVersion of ModifyDBInstance, resolved, into p when it differs
 * from r's (a prefix of r's is no change): a new major version needs
 * AllowMajorVersionUpgrade=true. */
static int modify_version(cairn_sim_req *req, const cairn_sim_resource *r, json_t *p)
{
	const engine_info *e = find_engine(attr(r, "engine"));
	const char *ver = cairn_sim_form_get(req->form, "EngineVersion");
	char version[128];
	int major = 0, rc;

	if (!ver || !*ver || !e)
		return 0;
	if ((rc = engine_version(req, e, ver, version, sizeof(version))) != 0 ||
	    (rc = qsvc_bool(req, "AllowMajorVersionUpgrade", &major, NULL)) != 0)
		return rc;
	if (qsvc_version_prefix(ver, attr(r, "engineVersion")))
		return 0;
	if (qsvc_version_older(version, attr(r, "engineVersion")))
		return cairn_sim_fail(req, 400, "InvalidParameterCombination", "Cannot upgrade %s from %s to %s",
			attr(r, "engine"), attr(r, "engineVersion"), version);
	if (!major && !same_major(e, version, attr(r, "engineVersion")))
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.");
	json_object_set_new(p, "engineVersion", json_string(version));
	return 0;
}

/* The changes ModifyDBInstance asks for, as a "pending" object.
 * PubliclyAccessible is not one: AWS applies it at once whatever
 * ApplyImmediately says, so it goes straight into r. */
static int modify_params(cairn_sim_req *req, cairn_sim_resource *r, json_t *p)
{
	const char *cls = cairn_sim_form_get(req->form, "DBInstanceClass");
	const char *pw = cairn_sim_form_get(req->form, "MasterUserPassword");
	const char *stype = cairn_sim_form_get(req->form, "StorageType");
	long storage = 0, backup = 0;
	int multi = 0, pub = 0, g_storage = 0, g_backup = 0, g_multi = 0, g_pub = 0, rc;

	if (cls && ((rc = check_class(req, cls)) != 0))
		return rc;
	if (stype && (rc = check_storage_type(req, stype)) != 0)
		return rc;
	if ((rc = qsvc_bool(req, "PubliclyAccessible", &pub, &g_pub)) != 0)
		return rc;
	if ((rc = qsvc_int(req, "AllocatedStorage", 1, 65536, &storage, &g_storage)) != 0 ||
	    (rc = qsvc_int(req, "BackupRetentionPeriod", 0, 35, &backup, &g_backup)) != 0 ||
	    (rc = qsvc_bool(req, "MultiAZ", &multi, &g_multi)) != 0)
		return rc;
	if (g_storage && storage < attr_int(r, "allocatedStorage"))
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Invalid storage size for engine name %s and storage type %s: %ld (storage cannot be decreased)",
			attr(r, "engine"), attr(r, "storageType"), storage);
	if (g_storage && (rc = check_storage(req, attr(r, "engine"), attr(r, "storageType"), storage)) != 0)
		return rc;
	if (g_storage && storage != attr_int(r, "allocatedStorage") && strcmp(r->status, OPTIMIZING) == 0)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"You can't currently modify the storage of this DB instance because the previous storage "
			"change is being optimized.");
	if (pw && (strlen(pw) < 8 || strlen(pw) > 128))
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.");
	if ((rc = modify_version(req, r, p)) != 0)
		return rc;
	if (cls && strcmp(cls, attr(r, "class")) != 0)
		json_object_set_new(p, "class", json_string(cls));
	if (g_storage && storage != attr_int(r, "allocatedStorage"))
		json_object_set_new(p, "allocatedStorage", json_integer(storage));
	if (g_backup && backup != attr_int(r, "backupRetention"))
		json_object_set_new(p, "backupRetention", json_integer(backup));
	if (g_multi && multi != attr_bool(r, "multiAZ"))
		json_object_set_new(p, "multiAZ", json_boolean(multi));
	if (stype && strcmp(stype, attr(r, "storageType")) != 0)
		json_object_set_new(p, "storageType", json_string(stype));
	if (g_pub)
		json_object_set_new(r->attrs, "publiclyAccessible", json_boolean(pub));
	if (pw)
		json_object_set_new(p, "password", json_true());
	return 0;
}

/* Apply pending changes p to r's attributes. */
static int apply_pending(cairn_sim_req *req, cairn_sim_resource *r, json_t *p)
{
	static const char *const keys[] = { "class", "engineVersion", "allocatedStorage", "backupRetention", "multiAZ",
					    "storageType" };
	cairn_sim_resource *g = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(p, keys[i]))
			json_object_set(r->attrs, keys[i], json_object_get(p, keys[i]));
	if (json_object_get(p, "multiAZ") && r->parent_id && cairn_sim_store_get(req->sim->store, r->parent_id, &g) == 0) {
		place(r, g);
		cairn_sim_resource_free(g);
	}
	return rc;
}

/* The status after changes applied at once (applied: what was applied,
 * changes: what this request changed). Grown storage is optimized for a
 * long while (AWS: up to hours; the instance is usable all along): until
 * then the status is storage-optimization. Other changes make it modifying
 * for a moment, except during a storage optimization, which they leave as
 * it is (the sim has no modifying phase in the middle of one). */
static int modified_status(cairn_sim_req *req, cairn_sim_resource *r, const json_t *applied, const json_t *changes)
{
	if (json_object_get(applied, "allocatedStorage"))
		return cairn_sim_resource_set_status(r, OPTIMIZING, "available",
			cairn_sim_delay(req->sim, 10 * 60 * 1000, 6 * 3600 * 1000));
	if (json_object_size(changes) == 0 || strcmp(r->status, OPTIMIZING) == 0)
		return 0;
	return cairn_sim_resource_set_status(r, "modifying", "available",
		cairn_sim_delay(req->sim, 1000, 5 * 60 * 1000));
}

static int modify_db_instance(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *g = NULL;
	const char *name;
	json_t *changes = json_object(), *pending;
	int now = 0, rc;

	if (!changes)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = qsvc_required(req, "DBInstanceIdentifier", &name)) != 0 || (rc = load_db(req, name, &r)) != 0)
		goto cleanup;
	if (!usable(r)) {
		rc = cairn_sim_fail(req, 400, "InvalidDBInstanceState", "Database instance is not in available state.");
		goto cleanup;
	}
	if ((rc = qsvc_bool(req, "ApplyImmediately", &now, NULL)) != 0 || (rc = modify_params(req, r, changes)) != 0)
		goto cleanup;
	if (r->parent_id && (rc = cairn_sim_store_get(req->sim->store, r->parent_id, &g)) != 0)
		goto cleanup;
	if ((rc = set_sgs(req, r, g ? attr(g, "vpcId") : NULL, 0)) != 0)
		goto cleanup;
	if (json_object_get(changes, "password")) /* applied at once, never shown afterwards */
		json_object_set_new(r->attrs, "passwordSets", json_integer(attr_int(r, "passwordSets") + 1));
	json_object_del(changes, "password");
	pending = json_object_get(r->attrs, "pending");
	if (!json_is_object(pending)) {
		json_object_set_new(r->attrs, "pending", json_object());
		pending = json_object_get(r->attrs, "pending");
	}
	if (now) {
		json_object_update(pending, changes);
		if ((rc = apply_pending(req, r, pending)) != 0 || (rc = modified_status(req, r, pending, changes)) != 0)
			goto cleanup;
		json_object_clear(pending);
	} else {
		json_object_update(pending, changes);
	}
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = relink(req, r)) != 0)
		goto cleanup;
	render_db(req, r);
cleanup:
	json_decref(changes);
	cairn_sim_resource_free(g);
	cairn_sim_resource_free(r);
	return rc;
}

/* The final snapshot of instance r, kept after the instance is gone (as
 * on AWS: snapshots outlive their instance); its identifier must be new. */
static int final_snapshot(cairn_sim_req *req, const cairn_sim_resource *r, const char *name)
{
	cairn_sim_resource *s = NULL;
	char ident[256], id[320];
	int rc;

	if ((rc = identifier(req, "FinalDBSnapshotIdentifier", name, 255, ident, sizeof(ident))) != 0)
		return rc;
	store_id(req, "snapshot", ident, id, sizeof(id));
	if ((rc = load(req, id, RDS_SNAPSHOT, &s)) == 0) {
		cairn_sim_resource_free(s);
		return cairn_sim_fail(req, 400, "DBSnapshotAlreadyExists",
			"Cannot create the snapshot because a snapshot with the identifier %s already exists.", name);
	}
	if (rc != CAIRN_ENOTFOUND || (rc = cairn_sim_resource_new(&s, id, RDS_SNAPSHOT, req->region)) != 0)
		return rc;
	json_object_set_new(s->attrs, "identifier", json_string(ident));
	json_object_set_new(s->attrs, "dbInstanceIdentifier", json_string(attr(r, "identifier")));
	json_object_set_new(s->attrs, "engine", json_string(attr(r, "engine")));
	json_object_set_new(s->attrs, "allocatedStorage", json_integer(attr_int(r, "allocatedStorage")));
	if ((rc = cairn_sim_resource_set_status(s, "available", NULL, 0)) == 0)
		rc = cairn_sim_store_put(req->sim->store, s);
	cairn_sim_resource_free(s);
	return rc;
}

static int delete_db_instance(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *name, *snap = cairn_sim_form_get(req->form, "FinalDBSnapshotIdentifier");
	int skip = 0, rc;
	double at;

	if ((rc = qsvc_required(req, "DBInstanceIdentifier", &name)) != 0 || (rc = qsvc_bool(req, "SkipFinalSnapshot", &skip, NULL)) != 0)
		return rc;
	if (skip && snap && *snap)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier.");
	if (!skip && !(snap && *snap))
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.");
	if ((rc = load_db(req, name, &r)) != 0)
		return rc;
	if (strcmp(r->status, "deleting") == 0) {
		rc = cairn_sim_fail(req, 400, "InvalidDBInstanceState", "Instance %s is already being deleted.",
			attr(r, "identifier"));
		goto cleanup;
	}
	if (!skip && !usable(r)) {
		rc = cairn_sim_fail(req, 400, "InvalidDBInstanceState",
			"Instance %s is currently %s - a final snapshot cannot be taken.", attr(r, "identifier"), r->status);
		goto cleanup;
	}
	if (!skip && (rc = final_snapshot(req, r, snap)) != 0)
		goto cleanup;
	at = cairn_sim_delay(req->sim, 1500, 5 * 60 * 1000);
	if ((rc = cairn_sim_resource_set_status(r, "deleting", CAIRN_SIM_STATUS_GONE, at)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = qsvc_unlink_all(req, r->id, at)) != 0)
		goto cleanup;
	render_db(req, r);
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- tags ------------------------------------------------------------------------------ */

/* Tags on DB instances and DB subnet groups. RemoveTagsFromResource
 * ignores keys that are not there and, like AddTagsToResource, answers
 * nothing. An ARN of another kind is answered as a missing DB instance. */
static const qsvc_tagging tagging = {
	.service = "rds",
	.bad_arn = { 400, "InvalidParameterValue", "Invalid resource name: %s" },
	.kinds = {
		{ "db", RDS_DB, { 404, "DBInstanceNotFound", "DBInstance %s not found." } },
		{ "subgrp", RDS_SUBGRP, { 404, "DBSubnetGroupNotFoundFault", "DBSubnetGroup %s not found." } },
	},
	.other_kind = { 404, "DBInstanceNotFound", "DBInstance %s not found." },
};

static const cairn_sim_action actions[] = {
	{ "CreateDBSubnetGroup", NULL, NULL, create_db_subnet_group, CAIRN_SIM_MUTATING, NULL },
	{ "DescribeDBSubnetGroups", NULL, NULL, describe_db_subnet_groups, CAIRN_SIM_READ, NULL },
	{ "ModifyDBSubnetGroup", NULL, NULL, modify_db_subnet_group, CAIRN_SIM_MUTATING, NULL },
	{ "DeleteDBSubnetGroup", NULL, NULL, delete_db_subnet_group, CAIRN_SIM_MUTATING, NULL },
	{ "CreateDBInstance", NULL, NULL, create_db_instance, CAIRN_SIM_MUTATING, NULL },
	{ "DescribeDBInstances", NULL, NULL, describe_db_instances, CAIRN_SIM_READ, NULL },
	{ "ModifyDBInstance", NULL, NULL, modify_db_instance, CAIRN_SIM_MUTATING, NULL },
	{ "DeleteDBInstance", NULL, NULL, delete_db_instance, CAIRN_SIM_MUTATING, NULL },
	{ "AddTagsToResource", NULL, NULL, qsvc_tags_by_arn, CAIRN_SIM_MUTATING, NULL },
	{ "RemoveTagsFromResource", NULL, NULL, qsvc_tags_by_arn, CAIRN_SIM_MUTATING, NULL },
	{ "ListTagsForResource", NULL, NULL, qsvc_tags_by_arn, CAIRN_SIM_READ, NULL },
};

const cairn_sim_service cairn_sim_rds_service = {
	.name = "rds",
	.protocol = CAIRN_SIM_PROTO_QUERY,
	.version = "2014-10-31",
	.xmlns = "http://rds.amazonaws.com/doc/2014-10-31/",
	.actions = actions,
	.n_actions = sizeof(actions) / sizeof(actions[0]),
	.throttle_code = "Throttling",
	.throttle_status = 400,
	.throttle_message = "Rate exceeded",
	.internal_code = "InternalFailure",
	.data = &tagging,
};
