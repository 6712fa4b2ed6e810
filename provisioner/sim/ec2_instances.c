/*
 * ec2_instances.c - the simulated EC2 service, part three: instances and
 * the AMIs the sim knows.
 *
 * RunInstances is idempotent by ClientToken (the same token and the same
 * parameters give the same reservation back; other parameters give
 * IdempotentParameterMismatch), takes private IPs from the subnet's range
 * (the first four and the last address are reserved, as on AWS) and a
 * public IP when the subnet maps them or NetworkInterface.1 asks for one
 * (from 198.18.0.0/15, a range nobody routes: a copied address never
 * reaches someone's real machine). States move as on AWS, asynchronously
 * through the store's pending status: pending -> running, stopping ->
 * stopped, shutting-down -> terminated; a stop releases the public IP and a
 * start gets a new one. A terminated instance stays visible for
 * --terminated-retention seconds (AWS: about an hour) and then goes; its
 * links to its subnet and security groups (qsvc_link, which make EC2 refuse
 * to delete them) go when it terminates. Key pairs are in ec2_keys.c; with
 * --instance-hosts ec2_hosts.c turns running instances into SSH hosts.
 */
#include "ec2.h"
#include "qsvc.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- AMIs and instance types ------------------------------------------------ */

typedef struct ec2_ami {
	const char *id;
	const char *name;
	const char *description;
	const char *arch;
	const char *owner;  /* the account that publishes it on AWS */
	const char *alias;  /* imageOwnerAlias, or NULL */
} ec2_ami;

static const ec2_ami amis[] = {
	{ "ami-0deb1a12c0ffee000", "debian-12-amd64-cairn-sim", "Debian 12 (bookworm) amd64", "x86_64",
	  "136693071363", NULL },
	{ "ami-0deb1a12c0ffeea64", "debian-12-arm64-cairn-sim", "Debian 12 (bookworm) arm64", "arm64",
	  "136693071363", NULL },
	{ "ami-0a12023c0ffee0000", "al2023-ami-cairn-sim-x86_64", "Amazon Linux 2023 x86_64", "x86_64",
	  "137112412989", "amazon" },
	{ "ami-0123456789abcdef0", "example-cairn-sim", "The AMI id of AWS's documentation examples", "x86_64",
	  "137112412989", "amazon" },
};
#define N_AMIS (sizeof(amis) / sizeof(amis[0]))
/* --instance-hosts: how long a booting instance may stay pending waiting
 * for its sshd to listen (see settle_boot) */
#define BOOT_WAIT_S 60.0

static const ec2_ami *find_ami(const char *id)
{
	size_t i;

	for (i = 0; i < N_AMIS; i++)
		if (strcmp(amis[i].id, id) == 0)
			return &amis[i];
	return NULL;
}

static int check_ami(cairn_sim_req *req, const char *id, const ec2_ami **out)
{
	if (!ec2_id_well_formed(id, "ami"))
		return cairn_sim_fail(req, 400, "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id);
	if (!(*out = find_ami(id)))
		return cairn_sim_fail(req, 400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id);
	return 0;
}

/* The architecture of an instance type, or NULL when EC2 has no such type.
 * Graviton families end in 'g' (t4g, m7g). */
static const char *type_arch(const char *type)
{
	static const char *const families[] = {
		"m1", "t2", "t3", "t3a", "t4g", "m5", "m5a", "m6i", "m6a", "m6g", "m7i", "m7a", "m7g",
		"c5", "c6i", "c6a", "c6g", "c7i", "c7g", "r5", "r6i", "r6g", "r7i", "r7g", NULL
	};
	static const char *const sizes[] = {
		"nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge",
		"12xlarge", "16xlarge", "24xlarge", "metal", NULL
	};
	const char *dot = strchr(type, '.');
	size_t i, fl;

	if (!dot)
		return NULL;
	fl = (size_t)(dot - type);
	for (i = 0; families[i]; i++)
		if (strlen(families[i]) == fl && strncmp(families[i], type, fl) == 0)
			break;
	if (!families[i])
		return NULL;
	for (i = 0; sizes[i]; i++)
		if (strcmp(sizes[i], dot + 1) == 0)
			return type[fl - 1] == 'g' ? "arm64" : "x86_64";
	return NULL;
}

static int check_type(cairn_sim_req *req, const char *type, const char *ami_arch)
{
	const char *arch = type_arch(type);

	if (!arch)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"The following supplied instance types do not exist: [%s]", type);
	if (ami_arch && strcmp(arch, ami_arch) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"The architecture '%s' of the specified instance type does not match the architecture '%s' "
			"of the specified AMI. Specify an instance type and an AMI that have matching architectures, "
			"and try again.", arch, ami_arch);
	return 0;
}

/* ---- states ---------------------------------------------------------------- */

static const struct {
	const char *name;
	int code;
} states[] = {
	{ "pending", 0 }, { "running", 16 }, { "shutting-down", 32 },
	{ "terminated", 48 }, { "stopping", 64 }, { "stopped", 80 },
};

static int state_code(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(states[i].name, name) == 0)
			return states[i].code;
	return 0;
}

static int is(const cairn_sim_resource *r, const char *status)
{
	return strcmp(r->status, status) == 0;
}

static int gone_or_going(const cairn_sim_resource *r)
{
	return is(r, "terminated") || is(r, "shutting-down");
}

/* The store applies one pending status change at a time; the second one of
 * a termination (terminated -> gone after the retention) is set here. */
/* With --instance-hosts an instance that boots (launched or started) has
 * bootUntil: it stays pending until its sshd listens, so that `running`
 * means SSH reaches it, or until bootUntil has passed (an sshd that cannot
 * start: the sim's log says why). */
static int settle_boot(cairn_sim *sim, cairn_sim_resource *r)
{
	json_t *until = json_object_get(r->attrs, "bootUntil");
	double now = cairn_sim_now();

	if (!until || !is(r, "running"))
		return 0;
	if (!sim->hosts || cairn_sim_hosts_ready(sim->hosts, r->id) || json_number_value(until) <= now) {
		json_object_del(r->attrs, "bootUntil");
	} else {
		int rc = cairn_sim_resource_set_status(r, "pending", "running", now + 0.1);

		if (rc)
			return rc;
	}
	return cairn_sim_store_put(sim->store, r);
}

static int settle(cairn_sim *sim, cairn_sim_resource *r, int *gone)
{
	json_t *t = json_object_get(r->attrs, "terminatedAt");
	double at;
	int rc;

	*gone = 0;
	if ((rc = settle_boot(sim, r)) != 0)
		return rc;
	if (!is(r, "terminated") || r->next_status)
		return 0;
	at = (json_is_number(t) ? json_number_value(t) : r->updated_at) + (double)sim->opt.terminated_retention;
	if (at <= cairn_sim_now()) {
		*gone = 1;
		return cairn_sim_store_delete(sim->store, r->id);
	}
	if ((rc = cairn_sim_resource_set_status(r, "terminated", CAIRN_SIM_STATUS_GONE, at)) != 0)
		return rc;
	return cairn_sim_store_put(sim->store, r);
}

int ec2_instances_list(cairn_sim *sim, const char *region, cairn_sim_reslist *out)
{
	cairn_sim_reslist all = { NULL, 0, 0 };
	size_t i;
	int rc, gone;

	if ((rc = cairn_sim_store_list(sim->store, EC2_INSTANCE, region, NULL, &all)) != 0)
		goto cleanup;
	for (i = 0; i < all.n; i++) {
		if ((rc = settle(sim, all.v[i], &gone)) != 0)
			goto cleanup;
		if (gone)
			continue;
		if (out->n == out->alloc) {
			size_t a = out->alloc ? out->alloc * 2 : 16;
			cairn_sim_resource **v = realloc(out->v, a * sizeof(*v));

			if (!v) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			out->v = v;
			out->alloc = a;
		}
		out->v[out->n++] = all.v[i];
		all.v[i] = NULL;
	}
cleanup:
	cairn_sim_reslist_release(&all);
	return rc;
}

static int load_instance(cairn_sim_req *req, const char *id, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	int rc, gone;

	if ((rc = ec2_load(req, &ec2_kind_instance, id, &r)) != 0)
		return rc;
	if ((rc = settle(req->sim, r, &gone)) != 0 || gone) {
		cairn_sim_resource_free(r);
		return rc ? rc : cairn_sim_fail(req, 400, "InvalidInstanceID.NotFound",
			"The instance ID '%s' does not exist", id);
	}
	*out = r;
	return 0;
}

/* ---- base64 ------------------------------------------------------------------ */

int ec2_b64_decode(const char *in, unsigned char **out, size_t *n)
{
	size_t len = strlen(in), i, k = 0, pad = 0;
	char *clean = malloc(len + 1);
	unsigned char *buf = NULL;
	int got;

	if (!clean)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (pad && c != '=')
			goto bad;
		if (c == '=')
			pad++;
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   c == '+' || c == '/'))
			goto bad;
		clean[k++] = c;
	}
	if (k % 4 != 0 || pad > 2)
		goto bad;
	if (!(buf = malloc(k / 4 * 3 + 1))) {
		free(clean);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	got = k ? EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)k) : 0;
	if (got < 0 || (size_t)got < pad)
		goto bad;
	*n = (size_t)got - pad;
	buf[*n] = '\0';
	*out = buf;
	free(clean);
	return 0;
bad:
	free(buf);
	free(clean);
	return CAIRN_EINVAL;
}

/* User data as RunInstances and ModifyInstanceAttribute take it: base64 of
 * at most 16 KB. */
static int check_user_data(cairn_sim_req *req, const char *b64)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	int rc = ec2_b64_decode(b64, &raw, &n);

	free(raw);
	if (rc == CAIRN_EINVAL)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid BASE64 encoding of user data.");
	if (rc)
		return rc;
	if (n > 16384)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "User data is limited to 16384 bytes");
	return 0;
}

/* ---- addresses ------------------------------------------------------------------ */

static int json_has_string(const json_t *arr, const char *s)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
			return 1;
	return 0;
}

/* The values of attribute `attr` of the instances of l that are not
 * terminated (optionally only those in subnet), appended to out. */
static int collect_attr(const cairn_sim_reslist *l, const char *attr, const char *subnet, json_t *out)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const cairn_sim_resource *r = l->v[i];
		const char *v = ec2_str(r, attr), *sn = ec2_str(r, "subnetId");

		if (!v || is(r, "terminated") || (subnet && (!sn || strcmp(sn, subnet) != 0)))
			continue;
		if (json_array_append_new(out, json_string(v)) != 0)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	return 0;
}

static void ip_string(uint32_t a, char *out, size_t size)
{
	snprintf(out, size, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* A private IP of the subnet: `want` when given (in range, not reserved,
 * not taken), else the lowest free one. */
static int private_ip(cairn_sim_req *req, const cairn_sim_resource *subnet, const char *want,
	const json_t *taken, char *out, size_t size)
{
	uint32_t net, first, last, a;
	int prefix;
	struct in_addr in;

	if (ec2_parse_cidr(ec2_str(subnet, "cidrBlock"), &net, &prefix) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "subnet %s has no CIDR block", subnet->id);
	first = net + 4;
	last = net + (uint32_t)((1ULL << (32 - prefix)) - 2);
	if (want) {
		if (inet_pton(AF_INET, want, &in) != 1)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value (%s) for parameter privateIpAddress is invalid. Invalid format.", want);
		a = ntohl(in.s_addr);
		if (a < net || a > last + 1)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Address %s does not fall within the subnet's address range", want);
		if (a < first || a > last)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Address %s is in subnet's reserved address range", want);
		ip_string(a, out, size);
		if (json_has_string(taken, out))
			return cairn_sim_fail(req, 400, "InvalidIPAddress.InUse", "Address %s is in use.", want);
		return 0;
	}
	for (a = first; a <= last; a++) {
		ip_string(a, out, size);
		if (!json_has_string(taken, out))
			return 0;
	}
	return cairn_sim_fail(req, 400, "InsufficientFreeAddressesInSubnet",
		"There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.",
		subnet->id);
}

/* A public IP from 198.18.0.0/15 that no instance of the region has. */
static int public_ip(const json_t *taken, char *out, size_t size)
{
	int i;

	for (i = 0; i < 1000; i++) {
		uint32_t a = (198u << 24) | (18u << 16) | (uint32_t)(cairn_sim_random() * 131072.0);

		if ((a & 255) == 0 || (a & 255) == 255)
			continue;
		ip_string(a, out, size);
		if (!json_has_string(taken, out))
			return 0;
	}
	return cairn_error_set(CAIRN_ELIMIT, "no public IP address left in 198.18.0.0/15");
}

/* The region's public IPs in use (also those handed out in this request). */
static int taken_public_ips(cairn_sim_req *req, json_t **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	json_t *taken = json_array();
	int rc;

	if (!taken)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = ec2_instances_list(req->sim, req->region, &l)) == 0 &&
	    (rc = collect_attr(&l, "publicIpAddress", NULL, taken)) == 0) {
		*out = taken;
		taken = NULL;
	}
	json_decref(taken);
	cairn_sim_reslist_release(&l);
	return rc;
}

static int give_public_ip(cairn_sim_resource *r, json_t *taken)
{
	char ip[32];
	int rc;

	if ((rc = public_ip(taken, ip, sizeof(ip))) != 0)
		return rc;
	json_object_set_new(r->attrs, "publicIpAddress", json_string(ip));
	if (json_array_append_new(taken, json_string(ip)) != 0)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

/* "ip-10-0-1-5.ec2.internal" in us-east-1, else "ip-10-0-1-5.REGION.compute.internal";
 * "ec2-198-18-0-5.compute-1.amazonaws.com" or "ec2-...REGION.compute.amazonaws.com" */
static void dns_name(char *out, size_t size, const char *region, const char *ip, int public)
{
	char dashed[32];
	size_t i;

	snprintf(dashed, sizeof(dashed), "%s", ip ? ip : "");
	for (i = 0; dashed[i]; i++)
		if (dashed[i] == '.')
			dashed[i] = '-';
	if (!ip)
		out[0] = '\0';
	else if (public)
		snprintf(out, size, strcmp(region, "us-east-1") == 0 ? "ec2-%s.compute-1.amazonaws.com" :
			"ec2-%s.%s.compute.amazonaws.com", dashed, region);
	else
		snprintf(out, size, strcmp(region, "us-east-1") == 0 ? "ip-%s.ec2.internal" :
			"ip-%s.%s.compute.internal", dashed, region);
}

/* ---- rendering ------------------------------------------------------------------- */

static void render_state(cairn_sim_xml *x, const char *elem, const char *status)
{
	cairn_sim_xml_open(x, elem);
	cairn_sim_xml_elemf(x, "code", "%d", state_code(status));
	cairn_sim_xml_elem(x, "name", status);
	cairn_sim_xml_close(x, elem);
}

static void render_groups(cairn_sim_req *req, const cairn_sim_resource *r)
{
	json_t *groups = json_object_get(r->attrs, "groupIds"), *e;
	size_t i;

	if (json_array_size(groups) == 0) {
		cairn_sim_xml_empty(&req->xml, "groupSet");
		return;
	}
	cairn_sim_xml_open(&req->xml, "groupSet");
	json_array_foreach(groups, i, e) {
		cairn_sim_resource *sg = NULL;

		cairn_sim_xml_open(&req->xml, "item");
		cairn_sim_xml_elem(&req->xml, "groupId", json_string_value(e));
		if (cairn_sim_store_get(req->sim->store, json_string_value(e), &sg) == 0)
			cairn_sim_xml_elem(&req->xml, "groupName", ec2_str(sg, "groupName"));
		cairn_sim_resource_free(sg);
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "groupSet");
}

static void render_interface(cairn_sim_req *req, const cairn_sim_resource *r, const char *priv_dns,
	const char *pub_dns, const char *launched)
{
	cairn_sim_xml *x = &req->xml;
	const char *pub = ec2_str(r, "publicIpAddress");

	cairn_sim_xml_open(x, "networkInterfaceSet");
	cairn_sim_xml_open(x, "item");
	cairn_sim_xml_elem(x, "networkInterfaceId", ec2_str(r, "networkInterfaceId"));
	cairn_sim_xml_elem(x, "subnetId", ec2_str(r, "subnetId"));
	cairn_sim_xml_elem(x, "vpcId", ec2_str(r, "vpcId"));
	cairn_sim_xml_empty(x, "description");
	cairn_sim_xml_elem(x, "ownerId", req->sim->opt.account_id);
	cairn_sim_xml_elem(x, "status", "in-use");
	cairn_sim_xml_elem(x, "macAddress", ec2_str(r, "macAddress"));
	cairn_sim_xml_elem(x, "privateIpAddress", ec2_str(r, "privateIpAddress"));
	cairn_sim_xml_elem(x, "privateDnsName", priv_dns);
	cairn_sim_xml_bool(x, "sourceDestCheck", !json_is_false(json_object_get(r->attrs, "sourceDestCheck")));
	render_groups(req, r);
	cairn_sim_xml_open(x, "attachment");
	cairn_sim_xml_elem(x, "attachmentId", ec2_str(r, "attachmentId"));
	cairn_sim_xml_elem(x, "deviceIndex", "0");
	cairn_sim_xml_elem(x, "status", "attached");
	cairn_sim_xml_elem(x, "attachTime", launched);
	cairn_sim_xml_bool(x, "deleteOnTermination", 1);
	cairn_sim_xml_elem(x, "networkCardIndex", "0");
	cairn_sim_xml_close(x, "attachment");
	if (pub) {
		cairn_sim_xml_open(x, "association");
		cairn_sim_xml_elem(x, "publicIp", pub);
		cairn_sim_xml_elem(x, "publicDnsName", pub_dns);
		cairn_sim_xml_elem(x, "ipOwnerId", "amazon");
		cairn_sim_xml_close(x, "association");
	}
	cairn_sim_xml_open(x, "privateIpAddressesSet");
	cairn_sim_xml_open(x, "item");
	cairn_sim_xml_elem(x, "privateIpAddress", ec2_str(r, "privateIpAddress"));
	cairn_sim_xml_elem(x, "privateDnsName", priv_dns);
	cairn_sim_xml_bool(x, "primary", 1);
	if (pub) {
		cairn_sim_xml_open(x, "association");
		cairn_sim_xml_elem(x, "publicIp", pub);
		cairn_sim_xml_elem(x, "publicDnsName", pub_dns);
		cairn_sim_xml_elem(x, "ipOwnerId", "amazon");
		cairn_sim_xml_close(x, "association");
	}
	cairn_sim_xml_close(x, "item");
	cairn_sim_xml_close(x, "privateIpAddressesSet");
	cairn_sim_xml_empty(x, "ipv6AddressesSet");
	cairn_sim_xml_elem(x, "interfaceType", "interface");
	cairn_sim_xml_close(x, "item");
	cairn_sim_xml_close(x, "networkInterfaceSet");
}

/* The inside of an instancesSet <item>, as DescribeInstances and
 * RunInstances write it. A terminated instance has no addresses left. */
static int instance_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;
	char launched[32], priv_dns[128], pub_dns[128];
	json_t *lt = json_object_get(r->attrs, "launchTime");
	const char *priv = is(r, "terminated") ? NULL : ec2_str(r, "privateIpAddress");
	const char *pub = ec2_str(r, "publicIpAddress"), *reason = ec2_str(r, "stateReasonCode");

	cairn_sim_iso_time(launched, json_is_number(lt) ? json_number_value(lt) : r->created_at);
	dns_name(priv_dns, sizeof(priv_dns), r->region, priv, 0);
	dns_name(pub_dns, sizeof(pub_dns), r->region, pub, 1);
	cairn_sim_xml_elem(x, "instanceId", r->id);
	cairn_sim_xml_elem(x, "imageId", ec2_str(r, "imageId"));
	render_state(x, "instanceState", r->status);
	cairn_sim_xml_elem(x, "privateDnsName", priv_dns);
	cairn_sim_xml_elem(x, "dnsName", pub_dns);
	cairn_sim_xml_elem(x, "reason", ec2_str(r, "stateTransitionReason") ? ec2_str(r, "stateTransitionReason") : "");
	cairn_sim_xml_elem(x, "keyName", ec2_str(r, "keyName"));
	cairn_sim_xml_elemf(x, "amiLaunchIndex", "%lld", (long long)json_integer_value(json_object_get(r->attrs,
		"amiLaunchIndex")));
	cairn_sim_xml_empty(x, "productCodes");
	cairn_sim_xml_elem(x, "instanceType", ec2_str(r, "instanceType"));
	cairn_sim_xml_elem(x, "launchTime", launched);
	cairn_sim_xml_open(x, "placement");
	cairn_sim_xml_elem(x, "availabilityZone", ec2_str(r, "availabilityZone"));
	cairn_sim_xml_empty(x, "groupName");
	cairn_sim_xml_elem(x, "tenancy", "default");
	cairn_sim_xml_close(x, "placement");
	cairn_sim_xml_raw(x, "<monitoring><state>disabled</state></monitoring>");
	cairn_sim_xml_elem(x, "subnetId", ec2_str(r, "subnetId"));
	cairn_sim_xml_elem(x, "vpcId", ec2_str(r, "vpcId"));
	cairn_sim_xml_elem(x, "privateIpAddress", priv);
	cairn_sim_xml_elem(x, "ipAddress", pub);
	cairn_sim_xml_bool(x, "sourceDestCheck", !json_is_false(json_object_get(r->attrs, "sourceDestCheck")));
	render_groups(req, r);
	if (reason) {
		cairn_sim_xml_open(x, "stateReason");
		cairn_sim_xml_elem(x, "code", reason);
		cairn_sim_xml_elem(x, "message", ec2_str(r, "stateReasonMessage"));
		cairn_sim_xml_close(x, "stateReason");
	}
	cairn_sim_xml_elem(x, "architecture", ec2_str(r, "architecture"));
	cairn_sim_xml_elem(x, "rootDeviceType", "ebs");
	cairn_sim_xml_elem(x, "rootDeviceName", "/dev/xvda");
	if (is(r, "terminated")) {
		cairn_sim_xml_empty(x, "blockDeviceMapping");
	} else {
		cairn_sim_xml_open(x, "blockDeviceMapping");
		cairn_sim_xml_open(x, "item");
		cairn_sim_xml_elem(x, "deviceName", "/dev/xvda");
		cairn_sim_xml_open(x, "ebs");
		cairn_sim_xml_elem(x, "volumeId", ec2_str(r, "volumeId"));
		cairn_sim_xml_elem(x, "status", "attached");
		cairn_sim_xml_elem(x, "attachTime", launched);
		cairn_sim_xml_bool(x, "deleteOnTermination", 1);
		cairn_sim_xml_close(x, "ebs");
		cairn_sim_xml_close(x, "item");
		cairn_sim_xml_close(x, "blockDeviceMapping");
	}
	cairn_sim_xml_elem(x, "virtualizationType", "hvm");
	cairn_sim_xml_elem(x, "clientToken", ec2_str(r, "clientToken") ? ec2_str(r, "clientToken") : "");
	ec2_render_tags(req, r);
	cairn_sim_xml_elem(x, "hypervisor", "xen");
	if (is(r, "terminated"))
		cairn_sim_xml_empty(x, "networkInterfaceSet");
	else
		render_interface(req, r, priv_dns, pub_dns, launched);
	cairn_sim_xml_bool(x, "ebsOptimized", ec2_bool_attr(r, "ebsOptimized"));
	cairn_sim_xml_bool(x, "enaSupport", 1);
	cairn_sim_xml_elem(x, "platformDetails", "Linux/UNIX");
	cairn_sim_xml_elem(x, "usageOperation", "RunInstances");
	return 0;
}

static int instance_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	static const char *const simple[][2] = {
		{ "image-id", "imageId" }, { "instance-type", "instanceType" }, { "key-name", "keyName" },
		{ "subnet-id", "subnetId" }, { "vpc-id", "vpcId" }, { "private-ip-address", "privateIpAddress" },
		{ "ip-address", "publicIpAddress" }, { "availability-zone", "availabilityZone" },
		{ "client-token", "clientToken" }, { "reservation-id", "reservationId" },
		{ "architecture", "architecture" }, { "network-interface.subnet-id", "subnetId" },
		{ "network-interface.vpc-id", "vpcId" },
	};
	json_t *e;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcmp(name, simple[i][0]) == 0)
			return ec2_vals_add(out, ec2_str(r, simple[i][1]));
	if (!strcmp(name, "instance-id"))
		return ec2_vals_add(out, r->id);
	if (!strcmp(name, "instance-state-name"))
		return ec2_vals_add(out, r->status);
	if (!strcmp(name, "instance-state-code"))
		return ec2_vals_addf(out, "%d", state_code(r->status));
	if (!strcmp(name, "owner-id"))
		return ec2_vals_add(out, req->sim->opt.account_id);
	if (!strcmp(name, "launch-index"))
		return ec2_vals_addf(out, "%lld", (long long)json_integer_value(json_object_get(r->attrs, "amiLaunchIndex")));
	if (!strcmp(name, "private-dns-name") || !strcmp(name, "dns-name")) {
		char dns[128];
		int pub = name[0] == 'd';

		dns_name(dns, sizeof(dns), r->region, ec2_str(r, pub ? "publicIpAddress" : "privateIpAddress"), pub);
		return dns[0] ? ec2_vals_add(out, dns) : 0;
	}
	if (!strcmp(name, "instance.group-id") || !strcmp(name, "group-id") ||
	    !strcmp(name, "network-interface.group-id")) {
		json_array_foreach(json_object_get(r->attrs, "groupIds"), i, e)
			if ((rc = ec2_vals_add(out, json_string_value(e))) != 0)
				return rc;
		return 0;
	}
	return CAIRN_ENOTFOUND;
}

const ec2_kind ec2_kind_instance = {
	EC2_INSTANCE, "i", "instance ID", "InvalidInstanceID", "InvalidInstanceID.Malformed", "instance",
	"InstanceId", "reservationSet", 5, 1000, instance_filter, instance_render,
};

/* ---- RunInstances ------------------------------------------------------------------ */

typedef struct launch {
	const char *image, *type, *key_name, *subnet_id, *private_ip, *user_data, *token, *az, *shutdown;
	long min, max;
	int public_ip;           /* -1: as the subnet maps them */
	int no_termination;
	int via_interface;       /* NetworkInterface.1 carries subnet, groups, address */
	const ec2_ami *ami;
	cairn_sim_resource *subnet, *key;
	json_t *groups;          /* security group ids */
	char hash[65];           /* of every parameter but ClientToken */
} launch;

static void launch_release(launch *l)
{
	cairn_sim_resource_free(l->subnet);
	cairn_sim_resource_free(l->key);
	json_decref(l->groups);
}

static int by_key(const void *a, const void *b)
{
	const cairn_sim_form_pair *x = *(const cairn_sim_form_pair *const *)a;
	const cairn_sim_form_pair *y = *(const cairn_sim_form_pair *const *)b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

/* What makes two RunInstances the same request: every parameter but
 * Action, Version, DryRun and ClientToken, in key order. */
static int params_hash(cairn_sim_req *req, char out[65])
{
	const cairn_sim_form *f = req->form;
	const cairn_sim_form_pair **v = calloc(f->n ? f->n : 1, sizeof(*v));
	cairn_buf b = CAIRN_BUF_INIT;
	size_t i, n = 0;
	int rc = 0;

	if (!v)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < f->n; i++) {
		const char *k = f->pairs[i].key;

		if (strcmp(k, "Action") && strcmp(k, "Version") && strcmp(k, "DryRun") && strcmp(k, "ClientToken"))
			v[n++] = &f->pairs[i];
	}
	qsort(v, n, sizeof(*v), by_key);
	for (i = 0; i < n && !rc; i++)
		rc = cairn_buf_printf(&b, "%s=%s\n", v[i]->key, v[i]->value);
	if (!rc)
		cairn_sim_sha256_hex(out, b.ptr ? b.ptr : "", b.len);
	cairn_buf_release(&b);
	free(v);
	return rc;
}

static int parse_count(cairn_sim_req *req, const char *name, long *out)
{
	const char *v;
	long long n;
	int rc;

	if ((rc = ec2_required(req, name, &v)) != 0)
		return rc;
	if (cairn_sim_parse_integer(v, &n) != 0 || n < 1 || n > 1000000)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter %s is invalid. Expected a positive integer.", v, name);
	*out = (long)n;
	return 0;
}

/* NetworkInterface.1 (device index 0) instead of the instance-level
 * SubnetId, SecurityGroupId.N and PrivateIpAddress: the only way to ask
 * for a public IP (AssociatePublicIpAddress). */
static int parse_interface(cairn_sim_req *req, launch *l, cairn_sim_strs *group_ids)
{
	const cairn_sim_form *f = req->form;
	const char *dev = cairn_sim_form_get(f, "NetworkInterface.1.DeviceIndex");
	const char *pub = cairn_sim_form_get(f, "NetworkInterface.1.AssociatePublicIpAddress");
	long *idx = NULL;
	size_t n = 0;
	int rc, b;

	if ((rc = cairn_sim_form_indices(f, "NetworkInterface", &idx, &n)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if (n == 0)
		goto cleanup;
	l->via_interface = 1;
	if (n > 1 || idx[0] != 1 || (dev && strcmp(dev, "0") != 0)) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
			"cairn sim launches instances with one network interface: NetworkInterface.1 with DeviceIndex 0");
		goto cleanup;
	}
	if (cairn_sim_form_get(f, "NetworkInterface.1.NetworkInterfaceId")) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
			"cairn sim cannot attach an existing network interface (NetworkInterfaceId)");
		goto cleanup;
	}
	if (l->subnet_id) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Network interfaces and an instance-level subnet ID may not be specified on the same request");
		goto cleanup;
	}
	if (group_ids->n || cairn_sim_form_get(f, "SecurityGroup.1")) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Network interfaces and an instance-level security groups may not be specified on the same request");
		goto cleanup;
	}
	if (l->private_ip) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Network interfaces and an instance-level private IP address may not be specified on the same request");
		goto cleanup;
	}
	l->subnet_id = cairn_sim_form_get(f, "NetworkInterface.1.SubnetId");
	l->private_ip = cairn_sim_form_get(f, "NetworkInterface.1.PrivateIpAddress");
	if (pub) {
		if ((rc = ec2_bool(req, "NetworkInterface.1.AssociatePublicIpAddress", pub, &b)) != 0)
			goto cleanup;
		l->public_ip = b;
	}
	if ((rc = cairn_sim_form_list(f, "NetworkInterface.1.SecurityGroupId", group_ids)) != 0)
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
cleanup:
	free(idx);
	return rc;
}

static int parse_launch(cairn_sim_req *req, launch *l, cairn_sim_strs *group_ids, cairn_sim_strs *group_names)
{
	const cairn_sim_form *f = req->form;
	const char *v;
	int rc;

	memset(l, 0, sizeof(*l));
	l->public_ip = -1;
	l->token = cairn_sim_form_get(f, "ClientToken");
	l->type = cairn_sim_form_get(f, "InstanceType");
	l->key_name = cairn_sim_form_get(f, "KeyName");
	l->subnet_id = cairn_sim_form_get(f, "SubnetId");
	l->private_ip = cairn_sim_form_get(f, "PrivateIpAddress");
	l->user_data = cairn_sim_form_get(f, "UserData");
	l->az = cairn_sim_form_get(f, "Placement.AvailabilityZone");
	l->shutdown = cairn_sim_form_get(f, "InstanceInitiatedShutdownBehavior");
	if (!l->type)
		l->type = "m1.small"; /* EC2's default */
	if ((rc = params_hash(req, l->hash)) != 0)
		return rc;
	if (l->token && strlen(l->token) > 64)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter clientToken is invalid. Length exceeds maximum of 64.", l->token);
	if (cairn_sim_form_get(f, "LaunchTemplate.LaunchTemplateId") ||
	    cairn_sim_form_get(f, "LaunchTemplate.LaunchTemplateName"))
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "cairn sim has no launch templates");
	if ((rc = ec2_required(req, "ImageId", &l->image)) != 0 || (rc = parse_count(req, "MinCount", &l->min)) != 0 ||
	    (rc = parse_count(req, "MaxCount", &l->max)) != 0)
		return rc;
	if (l->min > l->max)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%ld) for parameter minCount is invalid. Must be less than or equal to maxCount (%ld).",
			l->min, l->max);
	if (l->min > 20)
		return cairn_sim_fail(req, 400, "InstanceLimitExceeded",
			"You have requested more instances (%ld) than your current instance limit of 20 allows for the "
			"specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request "
			"an adjustment to this limit.", l->min);
	if (l->max > 20)
		l->max = 20; /* as many as the limit allows, at least min */
	if ((v = cairn_sim_form_get(f, "DisableApiTermination")) != NULL &&
	    (rc = ec2_bool(req, "DisableApiTermination", v, &l->no_termination)) != 0)
		return rc;
	if (l->shutdown && strcmp(l->shutdown, "stop") && strcmp(l->shutdown, "terminate"))
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid.", l->shutdown);
	if ((rc = cairn_sim_form_list(f, "SecurityGroupId", group_ids)) != 0 ||
	    (rc = cairn_sim_form_list(f, "SecurityGroup", group_names)) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
	if ((rc = parse_interface(req, l, group_ids)) != 0)
		return rc;
	if (l->private_ip && l->max > 1)
		return cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Cannot specify a private IP address when launching more than one instance");
	return 0;
}

/* The default subnet of the region's default VPC (in az, when given). */
static int default_subnet(cairn_sim_req *req, const char *az, cairn_sim_resource **out)
{
	cairn_sim_reslist vpcs = { NULL, 0, 0 }, subnets = { NULL, 0, 0 };
	const cairn_sim_resource *vpc = NULL;
	size_t i;
	int rc;

	if ((rc = cairn_sim_store_list(req->sim->store, EC2_VPC, req->region, NULL, &vpcs)) != 0)
		goto cleanup;
	for (i = 0; i < vpcs.n && !vpc; i++)
		if (ec2_bool_attr(vpcs.v[i], "isDefault"))
			vpc = vpcs.v[i];
	if (!vpc) {
		rc = cairn_sim_fail(req, 400, "VPCIdNotSpecified", "No default VPC for this user. GroupName is only "
			"supported for EC2-Classic and default VPC.");
		goto cleanup;
	}
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_SUBNET, req->region, vpc->id, &subnets)) != 0)
		goto cleanup;
	for (i = 0; i < subnets.n; i++) {
		const char *saz = ec2_str(subnets.v[i], "availabilityZone");

		if (ec2_bool_attr(subnets.v[i], "defaultForAz") && (!az || (saz && strcmp(saz, az) == 0))) {
			*out = subnets.v[i];
			subnets.v[i] = NULL;
			goto cleanup;
		}
	}
	rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
		"Value (%s) for parameter availabilityZone is invalid: the default VPC has no subnet there", az ? az : "");
cleanup:
	cairn_sim_reslist_release(&subnets);
	cairn_sim_reslist_release(&vpcs);
	return rc;
}

/* The security group ids (checked: they exist and are in the VPC), group
 * names looked up in the VPC, or the VPC's default group. */
static int resolve_groups(cairn_sim_req *req, const char *vpc_id, const cairn_sim_strs *ids,
	const cairn_sim_strs *names, json_t **out)
{
	cairn_sim_reslist sgs = { NULL, 0, 0 };
	cairn_sim_resource *sg = NULL;
	json_t *arr = json_array();
	size_t i, j;
	int rc = 0;

	if (!arr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < ids->n; i++) {
		if ((rc = ec2_load(req, &ec2_kind_sg, ids->v[i], &sg)) != 0)
			goto cleanup;
		if (!sg->parent_id || strcmp(sg->parent_id, vpc_id) != 0) {
			rc = cairn_sim_fail(req, 400, "InvalidParameter",
				"Security group %s and subnet belong to different networks.", sg->id);
			goto cleanup;
		}
		if (!json_has_string(arr, sg->id))
			json_array_append_new(arr, json_string(sg->id));
		cairn_sim_resource_free(sg);
		sg = NULL;
	}
	if (names->n || ids->n == 0) {
		if ((rc = cairn_sim_store_list(req->sim->store, EC2_SG, req->region, vpc_id, &sgs)) != 0)
			goto cleanup;
	}
	for (i = 0; i < names->n; i++) {
		for (j = 0; j < sgs.n; j++)
			if (ec2_str(sgs.v[j], "groupName") && strcmp(ec2_str(sgs.v[j], "groupName"), names->v[i]) == 0)
				break;
		if (j == sgs.n) {
			rc = cairn_sim_fail(req, 400, "InvalidGroup.NotFound",
				"The security group '%s' does not exist in VPC '%s'", names->v[i], vpc_id);
			goto cleanup;
		}
		if (!json_has_string(arr, sgs.v[j]->id))
			json_array_append_new(arr, json_string(sgs.v[j]->id));
	}
	if (ids->n == 0 && names->n == 0)
		for (j = 0; j < sgs.n; j++)
			if (ec2_bool_attr(sgs.v[j], "isDefault"))
				json_array_append_new(arr, json_string(sgs.v[j]->id));
	*out = arr;
	arr = NULL;
cleanup:
	cairn_sim_resource_free(sg);
	cairn_sim_reslist_release(&sgs);
	json_decref(arr);
	return rc;
}

/* Everything RunInstances checks before it makes anything. */
static int resolve_launch(cairn_sim_req *req, launch *l, const cairn_sim_strs *group_ids,
	const cairn_sim_strs *group_names)
{
	const char *saz;
	int rc;

	if ((rc = check_ami(req, l->image, &l->ami)) != 0 || (rc = check_type(req, l->type, l->ami->arch)) != 0)
		return rc;
	if (l->user_data && (rc = check_user_data(req, l->user_data)) != 0)
		return rc;
	if (l->key_name && (rc = ec2_key_pair_by_name(req, l->key_name, &l->key)) != 0)
		return rc;
	if (l->subnet_id)
		rc = ec2_load(req, &ec2_kind_subnet, l->subnet_id, &l->subnet);
	else
		rc = default_subnet(req, l->az, &l->subnet);
	if (rc)
		return rc;
	saz = ec2_str(l->subnet, "availabilityZone");
	if (l->az && saz && strcmp(l->az, saz) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter availabilityZone is invalid. Subnet '%s' is in the availability zone %s",
			l->az, l->subnet->id, saz);
	return resolve_groups(req, l->subnet->parent_id, group_ids, group_names, &l->groups);
}

/* TagSpecification.N of RunInstances: instance tags go on the instance;
 * those for its volume and network interface are accepted and dropped. */
static int launch_tags(cairn_sim_req *req, cairn_sim_resource *r)
{
	static const char *const dropped[] = { "volume", "network-interface", NULL };

	return ec2_apply_tag_specs_dropping(req, r, "instance", dropped);
}

/* (Re)link an instance to its subnet and security groups: EC2 refuses to
 * delete them while it uses them. */
static int relink(cairn_sim_req *req, const cairn_sim_resource *r)
{
	json_t *e;
	size_t i;
	int rc;

	if ((rc = qsvc_unlink_all(req, r->id, 0)) != 0 || (rc = qsvc_link(req, r->id, ec2_str(r, "subnetId"))) != 0)
		return rc;
	json_array_foreach(json_object_get(r->attrs, "groupIds"), i, e)
		if ((rc = qsvc_link(req, r->id, json_string_value(e))) != 0)
			return rc;
	return 0;
}

static int host_address_used(void *ud, const char *address)
{
	return json_has_string(ud, address);
}

/* The instance hosts' addresses in use in every region (and those given
 * out in this request, added by the caller). */
static int taken_host_addresses(cairn_sim_req *req, json_t **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	json_t *taken = json_array();
	int rc;

	if (!taken)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if ((rc = ec2_instances_list(req->sim, NULL, &l)) == 0 && (rc = collect_attr(&l, "hostAddress", NULL, taken)) == 0) {
		*out = taken;
		taken = NULL;
	}
	json_decref(taken);
	cairn_sim_reslist_release(&l);
	return rc;
}

static void new_mac(char out[18])
{
	char hex[11];

	cairn_sim_hex_id(hex, 10);
	snprintf(out, 18, "0e:%c%c:%c%c:%c%c:%c%c:%c%c", hex[0], hex[1], hex[2], hex[3], hex[4], hex[5],
		hex[6], hex[7], hex[8], hex[9]);
}

typedef struct taken_sets {
	json_t *private_ips, *public_ips, *hosts;
} taken_sets;

/* One instance of a launch, stored, with its links. */
static int make_instance(cairn_sim_req *req, const launch *l, const char *reservation, long index,
	taken_sets *taken, cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	char id[48], ip[32], eni[48], attach[48], vol[48], mac[18], host[32];
	int rc, map_public = l->public_ip < 0 ? ec2_bool_attr(l->subnet, "mapPublicIpOnLaunch") : l->public_ip;

	if ((rc = private_ip(req, l->subnet, l->private_ip, taken->private_ips, ip, sizeof(ip))) != 0)
		return rc;
	cairn_sim_new_id(id, sizeof(id), "i");
	if ((rc = cairn_sim_resource_new(&r, id, EC2_INSTANCE, req->region)) != 0)
		return rc;
	if ((rc = launch_tags(req, r)) != 0)
		goto cleanup;
	cairn_sim_new_id(eni, sizeof(eni), "eni");
	cairn_sim_new_id(attach, sizeof(attach), "eni-attach");
	cairn_sim_new_id(vol, sizeof(vol), "vol");
	new_mac(mac);
	json_object_set_new(r->attrs, "reservationId", json_string(reservation));
	json_object_set_new(r->attrs, "imageId", json_string(l->ami->id));
	json_object_set_new(r->attrs, "architecture", json_string(l->ami->arch));
	json_object_set_new(r->attrs, "instanceType", json_string(l->type));
	json_object_set_new(r->attrs, "subnetId", json_string(l->subnet->id));
	json_object_set_new(r->attrs, "vpcId", json_string(l->subnet->parent_id));
	json_object_set_new(r->attrs, "availabilityZone", json_string(ec2_str(l->subnet, "availabilityZone")));
	json_object_set_new(r->attrs, "privateIpAddress", json_string(ip));
	json_object_set_new(r->attrs, "groupIds", json_deep_copy(l->groups));
	json_object_set_new(r->attrs, "amiLaunchIndex", json_integer(index));
	json_object_set_new(r->attrs, "launchTime", json_real(cairn_sim_now()));
	json_object_set_new(r->attrs, "tokenHash", json_string(l->hash));
	json_object_set_new(r->attrs, "networkInterfaceId", json_string(eni));
	json_object_set_new(r->attrs, "attachmentId", json_string(attach));
	json_object_set_new(r->attrs, "volumeId", json_string(vol));
	json_object_set_new(r->attrs, "macAddress", json_string(mac));
	json_object_set_new(r->attrs, "publicIpWanted", json_boolean(map_public));
	json_object_set_new(r->attrs, "disableApiTermination", json_boolean(l->no_termination));
	json_object_set_new(r->attrs, "shutdownBehavior", json_string(l->shutdown ? l->shutdown : "stop"));
	if (l->token)
		json_object_set_new(r->attrs, "clientToken", json_string(l->token));
	if (l->user_data && *l->user_data)
		json_object_set_new(r->attrs, "userData", json_string(l->user_data));
	if (l->key) {
		/* what the instance gets at first boot: the key as it was at launch */
		json_object_set_new(r->attrs, "keyName", json_string(ec2_str(l->key, "keyName")));
		json_object_set_new(r->attrs, "keyMaterial", json_string(ec2_str(l->key, "publicKey")));
	}
	if (json_array_append_new(taken->private_ips, json_string(ip)) != 0 ||
	    (map_public && (rc = give_public_ip(r, taken->public_ips)) != 0)) {
		rc = rc ? rc : cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (req->sim->hosts) {
		if ((rc = cairn_sim_hosts_pick(req->sim->hosts, host_address_used, taken->hosts, host, sizeof(host))) != 0)
			goto cleanup;
		json_object_set_new(r->attrs, "hostAddress", json_string(host));
		json_array_append_new(taken->hosts, json_string(host));
		if ((rc = ec2_set_tag(req, r, EC2_SSH_ADDRESS_TAG, host)) != 0)
			goto cleanup;
		json_object_set_new(r->attrs, "bootUntil", json_real(cairn_sim_now() + BOOT_WAIT_S));
	}
	if ((rc = cairn_sim_resource_set_status(r, "pending", "running", cairn_sim_delay(req->sim, 1000, 30000))) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0 || (rc = relink(req, r)) != 0)
		goto cleanup;
	*out = r;
	r = NULL;
cleanup:
	cairn_sim_resource_free(r);
	return rc;
}

static void render_reservation_head(cairn_sim_req *req, const char *reservation)
{
	cairn_sim_xml_elem(&req->xml, "reservationId", reservation);
	cairn_sim_xml_elem(&req->xml, "ownerId", req->sim->opt.account_id);
	cairn_sim_xml_empty(&req->xml, "groupSet");
}

static int render_run(cairn_sim_req *req, const char *reservation, const cairn_sim_reslist *l)
{
	size_t i;
	int rc;

	render_reservation_head(req, reservation);
	cairn_sim_xml_open(&req->xml, "instancesSet");
	for (i = 0; i < l->n; i++) {
		cairn_sim_xml_open(&req->xml, "item");
		if ((rc = instance_render(req, l->v[i])) != 0)
			return rc;
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "instancesSet");
	return 0;
}

static int reslist_push(cairn_sim_reslist *l, cairn_sim_resource *r)
{
	if (l->n == l->alloc) {
		size_t a = l->alloc ? l->alloc * 2 : 8;
		cairn_sim_resource **v = realloc(l->v, a * sizeof(*v));

		if (!v)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		l->v = v;
		l->alloc = a;
	}
	l->v[l->n++] = r;
	return 0;
}

/* A request with a ClientToken seen before: the same reservation again, or
 * IdempotentParameterMismatch. *done = 1 when answered. */
static int replay(cairn_sim_req *req, const launch *l, int *done)
{
	cairn_sim_reslist all = { NULL, 0, 0 }, mine = { NULL, 0, 0 };
	const char *reservation = NULL;
	size_t i;
	int rc;

	*done = 0;
	if (!l->token || !*l->token)
		return 0;
	if ((rc = ec2_instances_list(req->sim, req->region, &all)) != 0)
		goto cleanup;
	for (i = 0; i < all.n; i++) {
		const char *t = ec2_str(all.v[i], "clientToken"), *h = ec2_str(all.v[i], "tokenHash");

		if (!t || strcmp(t, l->token) != 0)
			continue;
		if (!h || strcmp(h, l->hash) != 0) {
			rc = cairn_sim_fail(req, 400, "IdempotentParameterMismatch",
				"Arguments on this idempotent request are inconsistent with arguments used in previous request(s).");
			goto cleanup;
		}
		reservation = ec2_str(all.v[i], "reservationId");
		if ((rc = reslist_push(&mine, all.v[i])) != 0)
			goto cleanup;
		all.v[i] = NULL;
	}
	if (mine.n) {
		*done = 1;
		rc = render_run(req, reservation, &mine);
	}
cleanup:
	cairn_sim_reslist_release(&mine);
	cairn_sim_reslist_release(&all);
	return rc;
}

int ec2_run_instances(cairn_sim_req *req)
{
	cairn_sim_strs group_ids = { NULL, 0, 0 }, group_names = { NULL, 0, 0 };
	cairn_sim_reslist made = { NULL, 0, 0 }, region = { NULL, 0, 0 };
	taken_sets taken = { NULL, NULL, NULL };
	char reservation[48];
	launch l;
	long i;
	int rc, done = 0;

	if ((rc = parse_launch(req, &l, &group_ids, &group_names)) != 0 || (rc = replay(req, &l, &done)) != 0 || done)
		goto cleanup;
	if ((rc = resolve_launch(req, &l, &group_ids, &group_names)) != 0)
		goto cleanup;
	if (!(taken.private_ips = json_array())) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = ec2_instances_list(req->sim, req->region, &region)) != 0 ||
	    (rc = collect_attr(&region, "privateIpAddress", l.subnet->id, taken.private_ips)) != 0 ||
	    (rc = taken_public_ips(req, &taken.public_ips)) != 0 ||
	    (req->sim->hosts && (rc = taken_host_addresses(req, &taken.hosts)) != 0))
		goto cleanup;
	cairn_sim_new_id(reservation, sizeof(reservation), "r");
	for (i = 0; i < l.max; i++) {
		cairn_sim_resource *r = NULL;

		if ((rc = make_instance(req, &l, reservation, i, &taken, &r)) != 0)
			goto cleanup;
		if ((rc = reslist_push(&made, r)) != 0) {
			cairn_sim_resource_free(r);
			goto cleanup;
		}
	}
	rc = render_run(req, reservation, &made);
cleanup:
	json_decref(taken.private_ips);
	json_decref(taken.public_ips);
	json_decref(taken.hosts);
	cairn_sim_reslist_release(&region);
	cairn_sim_reslist_release(&made);
	cairn_sim_strs_release(&group_ids);
	cairn_sim_strs_release(&group_names);
	launch_release(&l);
	return rc;
}

/* ---- DescribeInstances ---------------------------------------------------------------- */

/* The ids asked for, each checked; InvalidInstanceID.NotFound names all
 * that do not exist. */
static int check_ids(cairn_sim_req *req, const cairn_sim_strs *ids, const cairn_sim_reslist *l)
{
	cairn_buf missing = CAIRN_BUF_INIT;
	size_t i, j, n = 0;
	int rc = 0;

	for (i = 0; i < ids->n; i++)
		if (!ec2_id_well_formed(ids->v[i], "i"))
			return cairn_sim_fail(req, 400, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", ids->v[i]);
	for (i = 0; i < ids->n && !rc; i++) {
		for (j = 0; j < l->n && strcmp(l->v[j]->id, ids->v[i]) != 0; j++)
			;
		if (j == l->n && !strstr(cairn_buf_cstr(&missing), ids->v[i]))
			rc = cairn_buf_printf(&missing, "%s%s", n++ ? ", " : "", ids->v[i]);
	}
	if (!rc && n == 1)
		rc = cairn_sim_fail(req, 400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist",
			missing.ptr);
	else if (!rc && n > 1)
		rc = cairn_sim_fail(req, 400, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist",
			missing.ptr);
	cairn_buf_release(&missing);
	return rc;
}

/* Render the kept instances (keep[i] = 1) grouped by reservation, each
 * reservation where its first instance comes. */
static int render_reservations(cairn_sim_req *req, const cairn_sim_reslist *l, const char *keep)
{
	char *done = calloc(l->n ? l->n : 1, 1);
	size_t i, j;
	int rc = 0;

	if (!done)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cairn_sim_xml_open(&req->xml, "reservationSet");
	for (i = 0; i < l->n && !rc; i++) {
		const char *res = ec2_str(l->v[i], "reservationId");

		if (!keep[i] || done[i])
			continue;
		cairn_sim_xml_open(&req->xml, "item");
		render_reservation_head(req, res);
		cairn_sim_xml_open(&req->xml, "instancesSet");
		for (j = i; j < l->n && !rc; j++) {
			const char *rj = ec2_str(l->v[j], "reservationId");

			if (!keep[j] || done[j] || !res || !rj || strcmp(res, rj) != 0)
				continue;
			done[j] = 1;
			cairn_sim_xml_open(&req->xml, "item");
			rc = instance_render(req, l->v[j]);
			cairn_sim_xml_close(&req->xml, "item");
		}
		cairn_sim_xml_close(&req->xml, "instancesSet");
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "reservationSet");
	free(done);
	return rc;
}

int ec2_describe_instances(cairn_sim_req *req)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	cairn_sim_filters fl = { NULL, 0 };
	cairn_sim_reslist l = { NULL, 0, 0 };
	ec2_vals scratch = { NULL, 0, 0 };
	char *keep = NULL;
	size_t i, shown = 0;
	long max;
	int64_t after, last = 0;
	int rc, more = 0;

	if ((rc = cairn_sim_form_list(req->form, "InstanceId", &ids)) != 0 ||
	    (rc = cairn_sim_form_filters(req->form, "Filter", &fl)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if ((rc = ec2_filter_limit(req, &fl)) != 0 || (rc = ec2_parse_paging(req, 5, 1000, &max, &after)) != 0)
		goto cleanup;
	if (ids.n && max) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"The parameter instancesSet cannot be used with the parameter maxResults");
		goto cleanup;
	}
	if ((rc = ec2_instances_list(req->sim, req->region, &l)) != 0 || (rc = check_ids(req, &ids, &l)) != 0)
		goto cleanup;
	if (!(keep = calloc(l.n ? l.n : 1, 1))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < l.n; i++) {
		const cairn_sim_resource *r = l.v[i];

		if (r->seq <= after || (ids.n && !cairn_sim_strs_has(&ids, r->id)))
			continue;
		if ((rc = ec2_match_filters(req, &ec2_kind_instance, r, &fl, &scratch)) < 0)
			goto cleanup;
		if (rc == 0)
			continue;
		rc = 0;
		if (max && shown == (size_t)max) {
			more = 1;
			break;
		}
		keep[i] = 1;
		shown++;
		last = r->seq;
	}
	if ((rc = render_reservations(req, &l, keep)) != 0)
		goto cleanup;
	if (more)
		cairn_sim_xml_elemf(&req->xml, "nextToken", "cairn1-%lld", (long long)last);
cleanup:
	free(keep);
	ec2_vals_clear(&scratch);
	free(scratch.v);
	cairn_sim_reslist_release(&l);
	cairn_sim_filters_release(&fl);
	cairn_sim_strs_release(&ids);
	return rc;
}

/* ---- Start, Stop, Terminate ---------------------------------------------------------- */

typedef struct change_ctx {
	json_t *public_ips; /* the region's, for a start; NULL until needed */
} change_ctx;

static void user_initiated(cairn_sim_resource *r, const char *code, const char *message)
{
	char when[32], reason[96];

	cairn_sim_iso_time(when, cairn_sim_now());
	when[10] = ' ';
	when[19] = '\0';
	snprintf(reason, sizeof(reason), "User initiated (%s GMT)", when);
	json_object_set_new(r->attrs, "stateTransitionReason", json_string(reason));
	json_object_set_new(r->attrs, "stateReasonCode", json_string(code));
	json_object_set_new(r->attrs, "stateReasonMessage", json_string(message));
}

static int stop_one(cairn_sim_req *req, cairn_sim_resource *r, change_ctx *c)
{
	(void)c;
	if (is(r, "stopping") || is(r, "stopped"))
		return 0;
	if (!is(r, "running"))
		return cairn_sim_fail(req, 400, "IncorrectInstanceState",
			"This instance '%s' is not in a state from which it can be stopped.", r->id);
	/* the public IP goes back to AWS's pool; a start gets a new one */
	json_object_del(r->attrs, "publicIpAddress");
	user_initiated(r, "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown");
	return cairn_sim_resource_set_status(r, "stopping", "stopped", cairn_sim_delay(req->sim, 1000, 30000));
}

static int start_one(cairn_sim_req *req, cairn_sim_resource *r, change_ctx *c)
{
	int rc;

	if (is(r, "pending") || is(r, "running"))
		return 0;
	if (!is(r, "stopped"))
		return cairn_sim_fail(req, 400, "IncorrectInstanceState",
			"The instance '%s' is not in a state from which it can be started.", r->id);
	if (ec2_bool_attr(r, "publicIpWanted")) {
		if (!c->public_ips && (rc = taken_public_ips(req, &c->public_ips)) != 0)
			return rc;
		if ((rc = give_public_ip(r, c->public_ips)) != 0)
			return rc;
	}
	json_object_del(r->attrs, "stateTransitionReason");
	json_object_del(r->attrs, "stateReasonCode");
	json_object_del(r->attrs, "stateReasonMessage");
	json_object_set_new(r->attrs, "launchTime", json_real(cairn_sim_now()));
	if (req->sim->hosts && ec2_str(r, "hostAddress"))
		json_object_set_new(r->attrs, "bootUntil", json_real(cairn_sim_now() + BOOT_WAIT_S));
	return cairn_sim_resource_set_status(r, "pending", "running", cairn_sim_delay(req->sim, 1000, 30000));
}

static int terminate_one(cairn_sim_req *req, cairn_sim_resource *r, change_ctx *c)
{
	double at = cairn_sim_delay(req->sim, 1000, 30000);
	int rc;

	(void)c;
	if (gone_or_going(r))
		return 0;
	if (ec2_bool_attr(r, "disableApiTermination"))
		return cairn_sim_fail(req, 400, "OperationNotPermitted", "The instance '%s' may not be terminated. "
			"Modify its 'disableApiTermination' instance attribute and try again.", r->id);
	json_object_del(r->attrs, "publicIpAddress");
	json_object_set_new(r->attrs, "terminatedAt", json_real(at));
	user_initiated(r, "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown");
	/* its subnet and groups are free once it is terminated */
	if ((rc = qsvc_unlink_all(req, r->id, at)) != 0)
		return rc;
	return cairn_sim_resource_set_status(r, "shutting-down", "terminated", at);
}

/* Start/Stop/TerminateInstances: every id must exist (else nothing
 * changes); the answer lists each one's current and previous state. */
static int change_states(cairn_sim_req *req, int (*change)(cairn_sim_req *, cairn_sim_resource *, change_ctx *))
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	cairn_sim_reslist l = { NULL, 0, 0 };
	change_ctx c = { NULL };
	char **prev = NULL;
	size_t i;
	int rc;

	if ((rc = cairn_sim_form_list(req->form, "InstanceId", &ids)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if (ids.n == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter InstanceId");
		goto cleanup;
	}
	if ((rc = ec2_instances_list(req->sim, req->region, &l)) != 0 || (rc = check_ids(req, &ids, &l)) != 0)
		goto cleanup;
	cairn_sim_reslist_release(&l);
	if (!(prev = calloc(ids.n, sizeof(*prev)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < ids.n; i++) {
		cairn_sim_resource *r = NULL;

		if ((rc = load_instance(req, ids.v[i], &r)) != 0)
			goto cleanup;
		if ((rc = reslist_push(&l, r)) != 0) {
			cairn_sim_resource_free(r);
			goto cleanup;
		}
		if (!(prev[i] = strdup(r->status))) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((rc = change(req, r, &c)) != 0 || (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
			goto cleanup;
	}
	cairn_sim_xml_open(&req->xml, "instancesSet");
	for (i = 0; i < l.n; i++) {
		cairn_sim_xml_open(&req->xml, "item");
		cairn_sim_xml_elem(&req->xml, "instanceId", l.v[i]->id);
		render_state(&req->xml, "currentState", l.v[i]->status);
		render_state(&req->xml, "previousState", prev[i]);
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "instancesSet");
cleanup:
	for (i = 0; prev && i < ids.n; i++)
		free(prev[i]);
	free(prev);
	json_decref(c.public_ips);
	cairn_sim_reslist_release(&l);
	cairn_sim_strs_release(&ids);
	return rc;
}

int ec2_start_instances(cairn_sim_req *req)
{
	return change_states(req, start_one);
}

int ec2_stop_instances(cairn_sim_req *req)
{
	return change_states(req, stop_one);
}

int ec2_terminate_instances(cairn_sim_req *req)
{
	return change_states(req, terminate_one);
}

/* ---- Modify/DescribeInstanceAttribute -------------------------------------------------- */

/* The attributes ModifyInstanceAttribute takes as <Name>.Value, with the
 * name DescribeInstanceAttribute and the Attribute parameter use. */
static const char *const attr_names[][2] = {
	{ "InstanceType", "instanceType" },
	{ "UserData", "userData" },
	{ "SourceDestCheck", "sourceDestCheck" },
	{ "DisableApiTermination", "disableApiTermination" },
	{ "DisableApiStop", "disableApiStop" },
	{ "InstanceInitiatedShutdownBehavior", "instanceInitiatedShutdownBehavior" },
	{ "EbsOptimized", "ebsOptimized" },
};
#define N_ATTR_NAMES (sizeof(attr_names) / sizeof(attr_names[0]))

static int must_be_stopped(cairn_sim_req *req, const cairn_sim_resource *r)
{
	if (!is(r, "stopped"))
		return cairn_sim_fail(req, 400, "IncorrectInstanceState",
			"The instance '%s' is not in the 'stopped' state.", r->id);
	return 0;
}

static int set_groups(cairn_sim_req *req, cairn_sim_resource *r, const cairn_sim_strs *ids)
{
	cairn_sim_strs none = { NULL, 0, 0 };
	json_t *groups = NULL;
	int rc;

	if ((rc = resolve_groups(req, ec2_str(r, "vpcId"), ids, &none, &groups)) != 0)
		return rc;
	json_object_set_new(r->attrs, "groupIds", groups);
	return relink(req, r);
}

/* One attribute (by its describe name) set to value. */
static int set_attribute(cairn_sim_req *req, cairn_sim_resource *r, const char *name, const char *value)
{
	int rc, b;

	if (!strcmp(name, "instanceType")) {
		if ((rc = must_be_stopped(req, r)) != 0 || (rc = check_type(req, value, ec2_str(r, "architecture"))) != 0)
			return rc;
		json_object_set_new(r->attrs, "instanceType", json_string(value));
	} else if (!strcmp(name, "userData")) {
		if ((rc = must_be_stopped(req, r)) != 0 || (rc = check_user_data(req, value)) != 0)
			return rc;
		if (*value)
			json_object_set_new(r->attrs, "userData", json_string(value));
		else
			json_object_del(r->attrs, "userData");
	} else if (!strcmp(name, "instanceInitiatedShutdownBehavior")) {
		if (strcmp(value, "stop") && strcmp(value, "terminate"))
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid.", value);
		json_object_set_new(r->attrs, "shutdownBehavior", json_string(value));
	} else {
		if ((rc = ec2_bool(req, name, value, &b)) != 0)
			return rc;
		json_object_set_new(r->attrs, name, json_boolean(b));
	}
	return 0;
}

int ec2_modify_instance_attribute(cairn_sim_req *req)
{
	cairn_sim_strs groups = { NULL, 0, 0 };
	cairn_sim_resource *r = NULL;
	const char *id, *attr = cairn_sim_form_get(req->form, "Attribute");
	const char *value = cairn_sim_form_get(req->form, "Value"), *name = NULL;
	size_t i, n = 0;
	int rc;

	if ((rc = ec2_required(req, "InstanceId", &id)) != 0)
		return rc;
	if ((rc = cairn_sim_form_list(req->form, "GroupId", &groups)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	n = groups.n ? 1 : 0;
	for (i = 0; i < N_ATTR_NAMES; i++) {
		const char *v = cairn_sim_form_getf(req->form, "%s.Value", attr_names[i][0]);

		if (v) {
			name = attr_names[i][1];
			value = v;
			n++;
		}
	}
	if (attr) {
		for (i = 0; i < N_ATTR_NAMES && strcmp(attr, attr_names[i][1]) != 0; i++)
			;
		if (i == N_ATTR_NAMES) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value (%s) for parameter attribute is invalid. Unknown attribute.", attr);
			goto cleanup;
		}
		if (!cairn_sim_form_get(req->form, "Value")) {
			rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter value");
			goto cleanup;
		}
		name = attr;
		value = cairn_sim_form_get(req->form, "Value");
		n++;
	}
	if (n == 0) {
		rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain an attribute to modify");
		goto cleanup;
	}
	if (n > 1) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterCombination",
			"Fields for multiple attribute types specified: only one attribute can be modified at a time");
		goto cleanup;
	}
	if ((rc = load_instance(req, id, &r)) != 0)
		goto cleanup;
	if (gone_or_going(r)) {
		rc = cairn_sim_fail(req, 400, "IncorrectInstanceState",
			"The instance '%s' is not in a state from which it can be modified.", id);
		goto cleanup;
	}
	rc = groups.n ? set_groups(req, r, &groups) : set_attribute(req, r, name, value);
	if (rc || (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(r);
	cairn_sim_strs_release(&groups);
	return rc;
}

static void value_elem(cairn_sim_xml *x, const char *name, const char *value)
{
	cairn_sim_xml_open(x, name);
	cairn_sim_xml_elem(x, "value", value);
	cairn_sim_xml_close(x, name);
}

int ec2_describe_instance_attribute(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id, *attr;
	cairn_sim_xml *x = &req->xml;
	int rc;

	if ((rc = ec2_required(req, "InstanceId", &id)) != 0 || (rc = ec2_required(req, "Attribute", &attr)) != 0)
		return rc;
	if (strcmp(attr, "groupSet") && strcmp(attr, "rootDeviceName")) {
		size_t i;

		for (i = 0; i < N_ATTR_NAMES && strcmp(attr, attr_names[i][1]) != 0; i++)
			;
		if (i == N_ATTR_NAMES)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Value (%s) for parameter attribute is invalid. Unknown attribute.", attr);
	}
	if ((rc = load_instance(req, id, &r)) != 0)
		return rc;
	cairn_sim_xml_elem(x, "instanceId", r->id);
	if (!strcmp(attr, "groupSet")) {
		render_groups(req, r);
	} else if (!strcmp(attr, "userData")) {
		if (ec2_str(r, "userData"))
			value_elem(x, "userData", ec2_str(r, "userData"));
		else
			cairn_sim_xml_empty(x, "userData");
	} else if (!strcmp(attr, "instanceType")) {
		value_elem(x, attr, ec2_str(r, "instanceType"));
	} else if (!strcmp(attr, "rootDeviceName")) {
		value_elem(x, attr, "/dev/xvda");
	} else if (!strcmp(attr, "instanceInitiatedShutdownBehavior")) {
		value_elem(x, attr, ec2_str(r, "shutdownBehavior") ? ec2_str(r, "shutdownBehavior") : "stop");
	} else if (!strcmp(attr, "sourceDestCheck")) {
		value_elem(x, attr, json_is_false(json_object_get(r->attrs, attr)) ? "false" : "true");
	} else {
		value_elem(x, attr, ec2_bool_attr(r, attr) ? "true" : "false");
	}
	cairn_sim_resource_free(r);
	return 0;
}

/* ---- DescribeInstanceStatus ------------------------------------------------------------ */

/* One status item: the state and the two status checks. A running
 * instance's checks are "ok" unless the admin endpoint set the instance's
 * systemStatus / instanceStatus attribute ("impaired", "initializing");
 * any other state's are "not-applicable", as EC2's. */
static void status_render(cairn_sim_xml *x, const cairn_sim_resource *r)
{
	static const char *const checks[] = { "systemStatus", "instanceStatus" };
	int running = is(r, "running"), i;

	cairn_sim_xml_open(x, "item");
	cairn_sim_xml_elem(x, "instanceId", r->id);
	cairn_sim_xml_elem(x, "availabilityZone", ec2_str(r, "availabilityZone"));
	render_state(x, "instanceState", r->status);
	for (i = 0; i < 2; i++) {
		const char *v = ec2_str(r, checks[i]);

		cairn_sim_xml_open(x, checks[i]);
		cairn_sim_xml_elem(x, "status", !running ? "not-applicable" : v ? v : "ok");
		cairn_sim_xml_close(x, checks[i]);
	}
	cairn_sim_xml_close(x, "item");
}

/* InstanceId.N (each must exist); without IncludeAllInstances=true, only
 * running instances are listed, as EC2 does. */
int ec2_describe_instance_status(cairn_sim_req *req)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	cairn_sim_reslist l = { NULL, 0, 0 };
	const char *all = cairn_sim_form_get(req->form, "IncludeAllInstances");
	size_t i;
	int rc;

	if ((rc = cairn_sim_form_list(req->form, "InstanceId", &ids)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if ((rc = ec2_instances_list(req->sim, req->region, &l)) != 0 || (rc = check_ids(req, &ids, &l)) != 0)
		goto cleanup;
	cairn_sim_xml_open(&req->xml, "instanceStatusSet");
	for (i = 0; i < l.n; i++) {
		const cairn_sim_resource *r = l.v[i];

		if (ids.n && !cairn_sim_strs_has(&ids, r->id))
			continue;
		if (!(all && !strcmp(all, "true")) && !is(r, "running"))
			continue;
		status_render(&req->xml, r);
	}
	cairn_sim_xml_close(&req->xml, "instanceStatusSet");
cleanup:
	cairn_sim_strs_release(&ids);
	cairn_sim_reslist_release(&l);
	return rc;
}

/* ---- DescribeImages -------------------------------------------------------------------- */

static int image_matches(cairn_sim_req *req, const ec2_ami *a, const cairn_sim_filters *fl, const cairn_sim_strs *owners)
{
	size_t i, j;

	if (owners->n) {
		int hit = 0;

		for (i = 0; i < owners->n && !hit; i++)
			hit = strcmp(owners->v[i], a->owner) == 0 || (a->alias && strcmp(owners->v[i], a->alias) == 0);
		if (!hit)
			return 0;
	}
	for (i = 0; i < fl->n; i++) {
		const char *n = fl->v[i].name, *subject;
		int hit = 0;

		if (!strcmp(n, "image-id"))
			subject = a->id;
		else if (!strcmp(n, "name"))
			subject = a->name;
		else if (!strcmp(n, "architecture"))
			subject = a->arch;
		else if (!strcmp(n, "owner-id"))
			subject = a->owner;
		else if (!strcmp(n, "owner-alias"))
			subject = a->alias ? a->alias : "";
		else if (!strcmp(n, "state"))
			subject = "available";
		else if (!strcmp(n, "description"))
			subject = a->description;
		else if (!strcmp(n, "root-device-type"))
			subject = "ebs";
		else if (!strcmp(n, "virtualization-type"))
			subject = "hvm";
		else
			return cairn_sim_fail(req, 400, "InvalidParameterValue", "The filter '%s' is invalid", n);
		for (j = 0; j < fl->v[i].values.n && !hit; j++)
			hit = cairn_sim_glob_match(fl->v[i].values.v[j], subject);
		if (!hit)
			return 0;
	}
	return 1;
}

static void image_render(cairn_sim_xml *x, const ec2_ami *a)
{
	cairn_sim_xml_elem(x, "imageId", a->id);
	cairn_sim_xml_elemf(x, "imageLocation", "%s/%s", a->owner, a->name);
	cairn_sim_xml_elem(x, "imageState", "available");
	cairn_sim_xml_elem(x, "imageOwnerId", a->owner);
	cairn_sim_xml_elem(x, "creationDate", "2024-06-01T00:00:00.000Z");
	cairn_sim_xml_bool(x, "isPublic", 1);
	cairn_sim_xml_elem(x, "architecture", a->arch);
	cairn_sim_xml_elem(x, "imageType", "machine");
	cairn_sim_xml_elem(x, "platformDetails", "Linux/UNIX");
	cairn_sim_xml_elem(x, "usageOperation", "RunInstances");
	cairn_sim_xml_elem(x, "imageOwnerAlias", a->alias);
	cairn_sim_xml_elem(x, "name", a->name);
	cairn_sim_xml_elem(x, "description", a->description);
	cairn_sim_xml_elem(x, "rootDeviceType", "ebs");
	cairn_sim_xml_elem(x, "rootDeviceName", "/dev/xvda");
	cairn_sim_xml_raw(x, "<blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs>"
		"<volumeSize>8</volumeSize><deleteOnTermination>true</deleteOnTermination>"
		"<volumeType>gp3</volumeType><encrypted>false</encrypted></ebs></item></blockDeviceMapping>");
	cairn_sim_xml_elem(x, "virtualizationType", "hvm");
	cairn_sim_xml_elem(x, "hypervisor", "xen");
	cairn_sim_xml_bool(x, "enaSupport", 1);
}

int ec2_describe_images(cairn_sim_req *req)
{
	cairn_sim_strs ids = { NULL, 0, 0 }, owners = { NULL, 0, 0 };
	cairn_sim_filters fl = { NULL, 0 };
	const ec2_ami *a;
	size_t i;
	int rc;

	if ((rc = cairn_sim_form_list(req->form, "ImageId", &ids)) != 0 ||
	    (rc = cairn_sim_form_list(req->form, "Owner", &owners)) != 0 ||
	    (rc = cairn_sim_form_filters(req->form, "Filter", &fl)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	for (i = 0; i < ids.n; i++)
		if ((rc = check_ami(req, ids.v[i], &a)) != 0)
			goto cleanup;
	cairn_sim_xml_open(&req->xml, "imagesSet");
	for (i = 0; i < N_AMIS; i++) {
		if (ids.n && !cairn_sim_strs_has(&ids, amis[i].id))
			continue;
		if ((rc = image_matches(req, &amis[i], &fl, &owners)) < 0)
			goto cleanup;
		if (rc == 0)
			continue;
		rc = 0;
		cairn_sim_xml_open(&req->xml, "item");
		image_render(&req->xml, &amis[i]);
		cairn_sim_xml_close(&req->xml, "item");
	}
	cairn_sim_xml_close(&req->xml, "imagesSet");
cleanup:
	cairn_sim_filters_release(&fl);
	cairn_sim_strs_release(&owners);
	cairn_sim_strs_release(&ids);
	return rc;
}
