/*
 * ec2.h - shared helpers of the simulated EC2 service (ec2.c: VPCs, subnets,
 * tags, the Describe engine; ec2_net.c: gateways, route tables, security
 * groups; ec2_instances.c: instances and AMIs; ec2_keys.c: key pairs;
 * ec2_hosts.c: the SSH hosts of --instance-hosts). Internal to
 * provisioner/sim.
 */
#ifndef CAIRN_SIM_EC2_H
#define CAIRN_SIM_EC2_H

#include "sim_internal.h"

#include <stdint.h>

#define EC2_VPC "ec2:vpc"
#define EC2_SUBNET "ec2:subnet"
#define EC2_IGW "ec2:internet-gateway"
#define EC2_RTB "ec2:route-table"
#define EC2_SG "ec2:security-group"
#define EC2_INSTANCE "ec2:instance"
#define EC2_KEY_PAIR "ec2:key-pair"

/* Owned strings collected for filter matching. */
typedef struct ec2_vals {
	char **v;
	size_t n, alloc;
} ec2_vals;

int ec2_vals_add(ec2_vals *v, const char *s);
int ec2_vals_addf(ec2_vals *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ec2_vals_clear(ec2_vals *v);

/* One kind of EC2 resource, for the generic lookup and Describe code. */
typedef struct ec2_kind {
	const char *type;      /* EC2_VPC */
	const char *prefix;    /* "vpc" */
	const char *noun;      /* "vpc ID" in "The vpc ID '...' does not exist" */
	const char *code;      /* "InvalidVpcID": + ".NotFound" */
	const char *malformed; /* "InvalidVpcID.Malformed" (EC2 spells some "...Id.Malformed") */
	const char *tag_type;  /* resource-type of DescribeTags / TagSpecification */
	const char *id_param;  /* "VpcId" (Describe's VpcId.N) */
	const char *set_elem;  /* "vpcSet" */
	int max_min, max_max;  /* MaxResults range */
	/* Values of filter `name` for r into out; CAIRN_ENOTFOUND for an unknown name. */
	int (*filter)(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out);
	int (*render)(cairn_sim_req *req, const cairn_sim_resource *r);
} ec2_kind;

extern const ec2_kind ec2_kind_vpc, ec2_kind_subnet, ec2_kind_igw, ec2_kind_rtb, ec2_kind_sg;
extern const ec2_kind ec2_kind_instance, ec2_kind_key_pair;

/* Load a resource of kind by id in the request's region. Fails the request
 * with <code>.Malformed / <code>.NotFound when it is not there. */
int ec2_load(cairn_sim_req *req, const ec2_kind *kind, const char *id, cairn_sim_resource **out);
/* The value of a required parameter, or a MissingParameter failure. */
int ec2_required(cairn_sim_req *req, const char *name, const char **out);
/* Parse "true"/"false" (InvalidParameterValue otherwise). */
int ec2_bool(cairn_sim_req *req, const char *name, const char *v, int *out);
/* Parse a.b.c.d/n with zero host bits. */
int ec2_parse_cidr(const char *s, uint32_t *net, int *prefix);
/* Create a resource of kind with a new id; TagSpecification of the request applied. */
int ec2_new(cairn_sim_req *req, const ec2_kind *kind, cairn_sim_resource **out);
int ec2_apply_tag_specs(cairn_sim_req *req, cairn_sim_resource *r, const char *tag_type);
/* The same, also accepting the resource types in dropped (NULL-terminated;
 * may be NULL) and ignoring their tags: RunInstances takes tags for the
 * instance's volume and network interface, which the sim does not model. */
int ec2_apply_tag_specs_dropping(cairn_sim_req *req, cairn_sim_resource *r, const char *tag_type,
				 const char *const *dropped);
/* Helpers for JSON attributes. */
const char *ec2_str(const cairn_sim_resource *r, const char *key);
int ec2_bool_attr(const cairn_sim_resource *r, const char *key);
/* <tagSet> of r. */
void ec2_render_tags(cairn_sim_req *req, const cairn_sim_resource *r);
void ec2_return_true(cairn_sim_req *req);
/* The generic Describe: ids (kind->id_param.N), filters, pagination.
 * extra may veto resources (NULL: none) and returns 1 to keep. */
int ec2_describe(cairn_sim_req *req, const ec2_kind *kind,
	int (*extra)(cairn_sim_req *req, const cairn_sim_resource *r));

/* Pieces of the generic Describe, for the kinds with a Describe of their
 * own (instances, key pairs): an id of the form <prefix>-<8 or 17 hex>;
 * at most 200 filter values in a call; r against every filter (1 kept, 0
 * not, negative: the request failed for an unknown filter name; tag:K,
 * tag-key and tag-value are handled, kind->filter the rest); MaxResults in
 * [lo, hi] and NextToken (*max = 0 when not paginating); a tag set as
 * CreateTags would (key and value checked, at most 50). */
int ec2_id_well_formed(const char *id, const char *prefix);
int ec2_filter_limit(cairn_sim_req *req, const cairn_sim_filters *fl);
int ec2_match_filters(cairn_sim_req *req, const ec2_kind *kind, const cairn_sim_resource *r,
	const cairn_sim_filters *fl, ec2_vals *scratch);
int ec2_parse_paging(cairn_sim_req *req, int lo, int hi, long *max, int64_t *after);
int ec2_set_tag(cairn_sim_req *req, cairn_sim_resource *r, const char *key, const char *value);

/* ec2_net.c */
int ec2_create_main_route_table(cairn_sim_req *req, const cairn_sim_resource *vpc, char *id_out, size_t size);
int ec2_create_default_sg(cairn_sim_req *req, const cairn_sim_resource *vpc, char *id_out, size_t size);
int ec2_create_igw_attached(cairn_sim_req *req, const char *vpc_id, char *id_out, size_t size);
int ec2_add_route(cairn_sim_req *req, const char *rtb_id, const char *dest, const char *igw_id);
/* Forget route table associations of a subnet being deleted. */
int ec2_drop_subnet_associations(cairn_sim_req *req, const char *subnet_id);

int ec2_create_internet_gateway(cairn_sim_req *req);
int ec2_describe_internet_gateways(cairn_sim_req *req);
int ec2_delete_internet_gateway(cairn_sim_req *req);
int ec2_attach_internet_gateway(cairn_sim_req *req);
int ec2_detach_internet_gateway(cairn_sim_req *req);
int ec2_create_route_table(cairn_sim_req *req);
int ec2_describe_route_tables(cairn_sim_req *req);
int ec2_delete_route_table(cairn_sim_req *req);
int ec2_create_route(cairn_sim_req *req);
int ec2_delete_route(cairn_sim_req *req);
int ec2_associate_route_table(cairn_sim_req *req);
int ec2_disassociate_route_table(cairn_sim_req *req);
int ec2_create_security_group(cairn_sim_req *req);
int ec2_describe_security_groups(cairn_sim_req *req);
int ec2_delete_security_group(cairn_sim_req *req);
int ec2_authorize_ingress(cairn_sim_req *req);
int ec2_authorize_egress(cairn_sim_req *req);
int ec2_revoke_ingress(cairn_sim_req *req);
int ec2_revoke_egress(cairn_sim_req *req);

/* ec2_instances.c */
int ec2_run_instances(cairn_sim_req *req);
int ec2_describe_instances(cairn_sim_req *req);
int ec2_start_instances(cairn_sim_req *req);
int ec2_stop_instances(cairn_sim_req *req);
int ec2_terminate_instances(cairn_sim_req *req);
int ec2_modify_instance_attribute(cairn_sim_req *req);
int ec2_describe_instance_attribute(cairn_sim_req *req);
int ec2_describe_instance_status(cairn_sim_req *req);
int ec2_describe_images(cairn_sim_req *req);
/* Base64 (whitespace ignored) into *out (malloc'd, NUL-terminated, *n
 * bytes before the NUL): 0, or CAIRN_EINVAL (no message) when it is not
 * base64. */
int ec2_b64_decode(const char *in, unsigned char **out, size_t *n);
/* Append to out every instance of region (NULL: of every region) in
 * creation order; a terminated one whose --terminated-retention is over is
 * removed first and left out. Needs the store lock and a write transaction. */
int ec2_instances_list(cairn_sim *sim, const char *region, cairn_sim_reslist *out);
/* The tag the sim puts on an instance under --instance-hosts: the loopback
 * address its sshd listens on (port 22). */
#define EC2_SSH_ADDRESS_TAG "cairn-sim:ssh-address"

/* ec2_keys.c */
int ec2_import_key_pair(cairn_sim_req *req);
int ec2_describe_key_pairs(cairn_sim_req *req);
int ec2_delete_key_pair(cairn_sim_req *req);
/* The key pair named name in the request's region: *out (owned by the
 * caller), or an InvalidKeyPair.NotFound failure. */
int ec2_key_pair_by_name(cairn_sim_req *req, const char *name, cairn_sim_resource **out);

#endif
