/*
 * qsvc.h - helpers shared by the Query-protocol services that live inside
 * a VPC (rds.c, elasticache.c): parameters in both list spellings the SDKs
 * and the API reference use, MaxRecords/Marker pagination, tags by ARN,
 * subnet and security group checks against the EC2 store, and the
 * dependency links that make EC2 refuse to delete a subnet or a security
 * group a database still uses. Internal to provisioner/sim.
 */
#ifndef CAIRN_SIM_QSVC_H
#define CAIRN_SIM_QSVC_H

#include "sim_internal.h"

#include <stdint.h>

/* The resource type of dependency links (see qsvc_link). */
#define QSVC_LINK "sim:link"

/* A required parameter, or MissingParameter ("The parameter X must be
 * provided and must not be blank."). */
int qsvc_required(cairn_sim_req *req, const char *name, const char **out);
/* Optional boolean parameter: *out untouched when absent;
 * InvalidParameterValue when not true/false. *given set to 1 when present
 * (given may be NULL). */
int qsvc_bool(cairn_sim_req *req, const char *name, int *out, int *given);
/* Optional integer parameter in [lo, hi]; *out untouched when absent. */
int qsvc_int(cairn_sim_req *req, const char *name, long lo, long hi, long *out, int *given);

/* The values of a list parameter, in either spelling: "<prefix>.member.N"
 * or "<prefix>.<elem>.N" (SubnetIds.SubnetIdentifier.N). Borrowed strings. */
int qsvc_list(cairn_sim_req *req, const char *prefix, const char *elem, cairn_sim_strs *out);
/* Tags.Tag.N.Key / Tags.member.N.Key (and .Value) merged into obj
 * (a JSON object key -> string). */
int qsvc_tags(cairn_sim_req *req, json_t *obj);
/* <TagList><Tag><Key/><Value/></Tag>...</TagList> of a tag object. */
void qsvc_render_tags(cairn_sim_xml *x, const json_t *tags);
/* Filters.Filter.N.Name + Filters.Filter.N.Values.Value.M (or .member.). */
int qsvc_filters(cairn_sim_req *req, cairn_sim_filters *out);
/* Whether any of values matches one of filter f's values (exact). */
int qsvc_filter_match(const cairn_sim_filter *f, const char *const *values, size_t n);

/* Whether engine version v is full (NULL: no) or a prefix of it at a
 * component boundary ("16" of "16.3", "7.1" of "7.1.0", not "1" of "16.3"). */
int qsvc_version_prefix(const char *v, const char *full);
/* Whether engine version a is older than b, component by component (digits
 * as numbers: "9.6" < "10.1"; other text by strcmp); a prefix is not older. */
int qsvc_version_older(const char *a, const char *b);

/* MaxRecords (20..100, default 100) and Marker ("cairn1-<seq>"). */
int qsvc_paging(cairn_sim_req *req, long *max, int64_t *after);
/* <Marker> for a page that stopped after the resource with seq. */
void qsvc_marker(cairn_sim_xml *x, int64_t seq);

/* A Describe answer: <list_elem> with `one` (when not NULL) or a page of
 * the region's resources of type, each kept when keep (NULL: all) returns 1
 * (negative: a failure), rendered by render; then <Marker> when more remain. */
int qsvc_describe(cairn_sim_req *req, const char *type, const char *list_elem,
	cairn_sim_resource *one, int (*keep)(cairn_sim_req *, const cairn_sim_resource *, void *),
	void *ctx, void (*render)(cairn_sim_req *, const cairn_sim_resource *));

/* "arn:aws:<service>:<region>:<account>:<kind>:<name>" -> store id
 * "<service>:<region>:<kind>:<name>" when service, region and account are
 * the request's; CAIRN_EINVAL otherwise (no error message). */
int qsvc_arn_to_id(cairn_sim_req *req, const char *service, const char *arn, char *id, size_t size);

/* ---- tags by ARN: AddTagsToResource, RemoveTagsFromResource, ListTagsForResource */

/* An error answer: HTTP status, code, and a message format with at most
 * one %s (the ARN). */
typedef struct qsvc_tag_error {
	int status;
	const char *code;
	const char *message;
} qsvc_tag_error;

/* A kind of resource that takes tags by ARN: the ARN's resource type
 * ("db" in arn:aws:rds:<region>:<account>:db:<name>), the store type of its
 * rows, and the answer when there is no such resource. A kind with a
 * `ready` status (ElastiCache's replication groups: "available") answers
 * all three actions with `not_ready` in any other status, and a tag change
 * puts it in the `busy` status ("modifying") until `ready` again, after
 * cairn_sim_delay(busy_ms[0], busy_ms[1]). */
typedef struct qsvc_tag_kind {
	const char *kind;
	const char *type;
	qsvc_tag_error not_found;
	const char *ready;   /* NULL: tags in any status, and no busy status */
	qsvc_tag_error not_ready;
	const char *busy;
	long busy_ms[2];     /* fast, realistic */
} qsvc_tag_kind;

#define QSVC_TAG_KINDS 4

/* How a service answers the three tag-by-ARN actions. What differs between
 * RDS and ElastiCache, as their API references document it: whether
 * removing a key the resource lacks is TagNotFound (404, ElastiCache) or
 * ignored (RDS); whether AddTagsToResource and RemoveTagsFromResource
 * answer with the resource's TagList (ElastiCache) or nothing (RDS); the
 * errors for an ARN that is not the service's, in this region and account
 * (or names a row of another type), and for one of a kind not listed. */
typedef struct qsvc_tagging {
	const char *service;      /* the ARN's service and the store ids' prefix: "rds" */
	int tag_not_found;
	int answer_tags;
	qsvc_tag_error bad_arn;
	qsvc_tag_kind kinds[QSVC_TAG_KINDS]; /* up to the first with kind NULL */
	qsvc_tag_error other_kind;
} qsvc_tagging;

/* The action function of all three, told apart by req->action->name, for
 * a service whose `data` is its qsvc_tagging. ResourceName (required) is
 * the ARN; AddTagsToResource merges Tags.Tag.N / Tags.member.N in
 * (qsvc_tags), RemoveTagsFromResource removes TagKeys.member.N /
 * TagKeys.TagKey.N, ListTagsForResource answers the <TagList>. */
int qsvc_tags_by_arn(cairn_sim_req *req);

/* Short region code of AWS host names: us-east-1 -> use1. */
void qsvc_region_code(const char *region, char *out, size_t size);
/* 12 lowercase characters, stable per account and region
 * (the "xxxxxxxxxxxx" of RDS endpoints). */
void qsvc_account_hash(cairn_sim_req *req, char out[13]);

/* Load the EC2 subnets ids: each must exist in the request's region and
 * all must be in one VPC; failures are `code` (InvalidSubnet) errors.
 * *out: array of {"id", "az"}; vpc receives the VPC id. *azs: distinct AZs. */
int qsvc_load_subnets(cairn_sim_req *req, const cairn_sim_strs *ids, const char *code,
	json_t **out, char *vpc, size_t vpc_size, size_t *azs);
/* Check EC2 security groups exist in vpc_id; `code` error otherwise.
 * With no ids, the VPC's default group is appended to *out (array of ids). */
int qsvc_check_sgs(cairn_sim_req *req, const cairn_sim_strs *ids, const char *vpc_id,
	const char *code, json_t **out);

/* A dependency link: a store row whose parent is an EC2 resource (subnet,
 * security group) and whose owner is a database, so that EC2's
 * count-of-children check answers DependencyViolation. */
int qsvc_link(cairn_sim_req *req, const char *owner, const char *target);
/* Drop owner's links, now (at == 0) or when a pending "gone" at `at` falls due. */
int qsvc_unlink_all(cairn_sim_req *req, const char *owner, double at);

#endif
