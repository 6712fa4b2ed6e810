/*
 * sim_internal.h - the framework of `cairn sim`, and how to add a service.
 *
 * The sim is one HTTP endpoint (libmicrohttpd, server.c) that serves several
 * AWS services. For every request the framework:
 *
 *   1. reads the body (capped), picks the service and region from the SigV4
 *      credential scope of the Authorization header (or, with --no-auth and
 *      no header, from the path / the form's Version);
 *   2. applies latency and the connection-drop fault, checks the signature
 *      (sigv4.c);
 *   3. parses the request per the service's protocol: a form (Query: EC2,
 *      RDS, ElastiCache) or JSON plus path parameters (REST-JSON: EKS), and
 *      finds the action in the service's action table;
 *   4. applies the fault rules of the admin endpoint, throttling, rate
 *      limits and error faults (faults.c), then calls the action with the
 *      store lock held, inside one SQLite transaction if the action mutates;
 *   5. wraps the action's output in the protocol's envelope (requestId,
 *      namespaces) or renders the error the action raised in the protocol's
 *      error shape, with the right status code.
 *
 * ADDING A SERVICE (e.g. rds.c)
 *
 *   - Write provisioner/sim/rds.c with action functions and one table:
 *
 *       static int create_db_instance(cairn_sim_req *req) {
 *           const char *id = cairn_sim_form_get(req->form, "DBInstanceIdentifier");
 *           if (!id) return cairn_sim_fail(req, 400, "MissingParameter",
 *                       "The request must contain the parameter DBInstanceIdentifier");
 *           ... cairn_sim_store_put(req->sim->store, res) ...
 *           cairn_sim_xml_open(&req->xml, "DBInstance"); ... close ...
 *           return 0;
 *       }
 *       static const cairn_sim_action actions[] = {
 *           { "CreateDBInstance", NULL, NULL, create_db_instance, CAIRN_SIM_MUTATING },
 *           { "DescribeDBInstances", NULL, NULL, describe_db_instances, CAIRN_SIM_READ },
 *       };
 *       const cairn_sim_service cairn_sim_rds_service = {
 *           .name = "rds", .protocol = CAIRN_SIM_PROTO_QUERY,
 *           .version = "2014-10-31", .xmlns = "http://rds.amazonaws.com/doc/2014-10-31/",
 *           .actions = actions, .n_actions = sizeof(actions) / sizeof(actions[0]),
 *           .throttle_code = "Throttling", .throttle_status = 400,
 *           .internal_code = "InternalFailure",
 *       };
 *
 *   - Declare it below (extern const cairn_sim_service cairn_sim_rds_service;),
 *     add it to the registry in server.c (`services[]`), and the file to the
 *     sim_lib block of meson.build. That is all: auth, faults, logging, the
 *     envelope, errors and transactions come from the framework.
 *
 *   For Query services the action writes only the inside of the result into
 *   req->xml: the framework writes <ActionResponse xmlns=...> and, for
 *   CAIRN_SIM_PROTO_EC2, <requestId> first; for CAIRN_SIM_PROTO_QUERY,
 *   <ActionResult> around the output and <ResponseMetadata><RequestId> after.
 *   For REST-JSON services the action sets req->json_out (a jansson object,
 *   owned by req) and optionally req->status (default 200); actions are found
 *   by method + path pattern ("/clusters/{name}"), path parameters are read
 *   with cairn_sim_req_param(), the query string with cairn_sim_req_query().
 *
 *   Errors: return cairn_sim_fail(req, status, code, fmt, ...) from anywhere
 *   in an action; it records the AWS error and returns CAIRN_EREMOTE. Any
 *   other negative return is rendered as the service's internal error (500)
 *   with the cairn_error message. Output written before the failure is
 *   discarded and the transaction rolled back.
 *
 *   State: resources live in the store (store.c), keyed by id, with a type
 *   ("rds:db-instance"), region, parent id, JSON attributes, JSON tags,
 *   status and a pending status change ("becomes `available` at time T"),
 *   which is applied lazily when the resource is read. Use
 *   cairn_sim_delay(sim, fast_ms, realistic_ms) to pick T's offset: fast by
 *   default, real durations with --realistic-timings. A next_status of
 *   CAIRN_SIM_STATUS_GONE deletes the resource when it falls due (for
 *   "deleting" -> gone).
 *
 *   Per-region setup (e.g. EC2's default VPC) goes in service->region_init,
 *   called once per region (remembered in the store, undone by a reset)
 *   before the first action in that region.
 *
 * Threads: actions run on libmicrohttpd's worker threads but one at a time
 * (the store lock is held around each action), so an action may read and
 * write the store freely and needs no locking of its own.
 */
#ifndef CAIRN_SIM_INTERNAL_H
#define CAIRN_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/error.h"

typedef struct cairn_sim cairn_sim;
typedef struct cairn_sim_req cairn_sim_req;
typedef struct cairn_sim_store cairn_sim_store;

/* ---- protocols and the service table ---------------------------------- */

enum cairn_sim_protocol {
	CAIRN_SIM_PROTO_EC2,       /* EC2's Query dialect: <requestId>, <Response><Errors> */
	CAIRN_SIM_PROTO_QUERY,     /* RDS, ElastiCache: <XResult>, <ErrorResponse> */
	CAIRN_SIM_PROTO_REST_JSON, /* EKS: REST paths, JSON bodies, x-amzn-ErrorType */
};

/* Action classes, for --rate-limit (EC2's documented token buckets). */
enum cairn_sim_action_class {
	CAIRN_SIM_READ = 0,     /* non-mutating: bucket 100, refill 20/s */
	CAIRN_SIM_MUTATING = 1, /* mutating: bucket 50, refill 5/s; runs in a write transaction */
};

typedef int (*cairn_sim_action_fn)(cairn_sim_req *req);

typedef struct cairn_sim_action {
	const char *name;   /* Query: the Action; REST: the operation name (for logs, limits) */
	const char *method; /* REST only: "POST", "GET", ... (NULL for Query) */
	const char *path;   /* REST only: "/clusters/{name}" (NULL for Query) */
	cairn_sim_action_fn fn;
	int klass;          /* enum cairn_sim_action_class */
	/* Query only, optional: the parameters the action knows, by their first
	 * segment ("Filter" covers Filter.1.Name); NULL-terminated. Any other
	 * parameter (besides Action, Version, DryRun) is answered with
	 * UnknownParameter, as AWS does. NULL: no check. */
	const char *const *params;
} cairn_sim_action;

typedef struct cairn_sim_service {
	const char *name;      /* SigV4 scope service: "ec2", "rds", "elasticache", "eks", "sts" */
	int protocol;          /* enum cairn_sim_protocol */
	const char *version;   /* Query API version, "2016-11-15"; used to route unsigned requests */
	const char *xmlns;     /* Query namespace */
	const cairn_sim_action *actions;
	size_t n_actions;
	const char *throttle_code;  /* "RequestLimitExceeded" */
	int throttle_status;        /* 503 */
	const char *throttle_message;
	const char *internal_code;  /* "InternalError" */
	/* Optional: called once per region, with the store lock held and in a
	 * write transaction, before the first action in that region. */
	int (*region_init)(cairn_sim_req *req);
	/* Optional: what action functions shared between services read about
	 * this one (RDS, ElastiCache: a qsvc_tagging for qsvc_tags_by_arn). */
	const void *data;
} cairn_sim_service;

extern const cairn_sim_service cairn_sim_ec2_service;
extern const cairn_sim_service cairn_sim_rds_service;
extern const cairn_sim_service cairn_sim_elasticache_service;
extern const cairn_sim_service cairn_sim_eks_service;
extern const cairn_sim_service cairn_sim_sts_service;

/* ---- the simulator ---------------------------------------------------- */

typedef struct cairn_sim_cred {
	char *access_key;
	char *secret_key;
} cairn_sim_cred;

typedef struct cairn_sim_options {
	char *listen_host;     /* "127.0.0.1" */
	int listen_port;       /* 4566; 0 = any free port */
	char *db_path;         /* NULL: in-memory */
	int log;               /* --log: a line per request on stderr */
	int no_auth;
	int default_vpc;
	int realistic_timings;
	int threads;           /* worker threads (0 = automatic) */
	char *account_id;      /* "123456789012" */
	char *default_region;  /* for unsigned requests with --no-auth */
	long latency_ms;
	double throttle_rate, error_rate, drop_rate;
	double retry_after_share; /* share of throttled answers with Retry-After */
	int retry_after_s;
	int rate_limit;
	double rate_limit_scale;  /* multiplies bucket sizes and refill rates */
	cairn_sim_cred *creds;
	size_t n_creds;
	int instance_hosts;        /* --instance-hosts: running instances are SSH hosts (ec2_hosts.c) */
	char *instance_hosts_dir;  /* their layers; NULL: <db>.hosts beside --db, else a temporary one */
	long terminated_retention; /* seconds a terminated instance stays visible (AWS: about an hour) */
} cairn_sim_options;

struct cairn_sim {
	cairn_sim_options opt;
	cairn_sim_store *store;
	pthread_mutex_t lock;    /* held around each action (see above) */
	struct cairn_sim_faults *faults;
	struct cairn_sim_sessions *sessions; /* STS's temporary credentials (sts.c); own lock */
	struct cairn_sim_hosts *hosts;       /* --instance-hosts (ec2_hosts.c), NULL without; own lock */
};

/* The services the sim serves, NULL-terminated (server.c). */
extern const cairn_sim_service *const cairn_sim_services[];
const cairn_sim_service *cairn_sim_service_find(const char *name);

/* A pending status change falls due `fast_ms` from now, or `realistic_ms`
 * with --realistic-timings. Returns the absolute time (seconds, epoch). */
double cairn_sim_delay(const cairn_sim *sim, long fast_ms, long realistic_ms);
double cairn_sim_now(void);

/* ---- form (Query) parsing: query.c ------------------------------------ */

typedef struct cairn_sim_form_pair {
	char *key;
	char *value;
} cairn_sim_form_pair;

typedef struct cairn_sim_form {
	cairn_sim_form_pair *pairs;
	size_t n, alloc;
} cairn_sim_form;

/* Parse an application/x-www-form-urlencoded body (percent-decoding, '+' as
 * space). *out is allocated; free with cairn_sim_form_free. */
int cairn_sim_form_parse(cairn_sim_form **out, const char *body, size_t len);
void cairn_sim_form_free(cairn_sim_form *f);
/* The value of the (last) pair named key, or NULL. Borrowed from f. */
const char *cairn_sim_form_get(const cairn_sim_form *f, const char *key);
const char *cairn_sim_form_getf(const cairn_sim_form *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* v as a whole decimal number (what strtoll reads, and nothing after it)
 * into *out: 0, or CAIRN_EINVAL (no error message set). */
int cairn_sim_parse_integer(const char *v, long long *out);
/* The distinct indices N of keys "prefix.N" or "prefix.N.<anything>", sorted.
 * *out is malloc'd (NULL when none). Non-numeric or non-positive N are
 * CAIRN_EINVAL with an error naming the key. */
int cairn_sim_form_indices(const cairn_sim_form *f, const char *prefix, long **out, size_t *n);

/* A list of borrowed strings. */
typedef struct cairn_sim_strs {
	const char **v;
	size_t n, alloc;
} cairn_sim_strs;
int cairn_sim_strs_add(cairn_sim_strs *s, const char *v);
void cairn_sim_strs_release(cairn_sim_strs *s);
int cairn_sim_strs_has(const cairn_sim_strs *s, const char *v);

/* The values of "prefix.1", "prefix.2", ... in index order (VpcId.N). */
int cairn_sim_form_list(const cairn_sim_form *f, const char *prefix, cairn_sim_strs *out);

typedef struct cairn_sim_tag {
	const char *key;   /* borrowed from the form */
	const char *value; /* NULL when absent */
} cairn_sim_tag;

typedef struct cairn_sim_filter {
	const char *name;
	cairn_sim_strs values;
} cairn_sim_filter;

typedef struct cairn_sim_filters {
	cairn_sim_filter *v;
	size_t n;
} cairn_sim_filters;

/* "<prefix>.N.Key" / "<prefix>.N.Value" (Tag.N...). out->v malloc'd. */
int cairn_sim_form_tags(const cairn_sim_form *f, const char *prefix, cairn_sim_tag **out, size_t *n);
/* EC2 filters: "Filter.N.Name" and "Filter.N.Value.M". */
int cairn_sim_form_filters(const cairn_sim_form *f, const char *prefix, cairn_sim_filters *out);
void cairn_sim_filters_release(cairn_sim_filters *fl);
/* AWS filter value matching: '*' and '?' wildcards, '\' escapes. */
int cairn_sim_glob_match(const char *pattern, const char *s);

/* ---- XML writer: query.c ---------------------------------------------- */

/* Writes into a cairn_buf; the first failure is remembered in `err` and
 * later calls do nothing, so a writer can be checked once at the end. */
typedef struct cairn_sim_xml {
	cairn_buf buf;
	int err;
} cairn_sim_xml;

void cairn_sim_xml_init(cairn_sim_xml *x);
void cairn_sim_xml_release(cairn_sim_xml *x);
void cairn_sim_xml_open(cairn_sim_xml *x, const char *name);   /* <name> */
void cairn_sim_xml_close(cairn_sim_xml *x, const char *name);  /* </name> */
/* <name>escaped text</name>; nothing when text is NULL. */
void cairn_sim_xml_elem(cairn_sim_xml *x, const char *name, const char *text);
void cairn_sim_xml_elemf(cairn_sim_xml *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cairn_sim_xml_bool(cairn_sim_xml *x, const char *name, int v);
void cairn_sim_xml_empty(cairn_sim_xml *x, const char *name);  /* <name/> */
/* Escaped character data (& < > " '); control characters and bytes
 * that are not UTF-8 become U+FFFD, so that the answer stays XML. */
void cairn_sim_xml_text(cairn_sim_xml *x, const char *text);
void cairn_sim_xml_raw(cairn_sim_xml *x, const char *s);
/* Append text to b, XML-escaped. */
int cairn_sim_xml_escape(cairn_buf *b, const char *text);
/* Is s well-formed UTF-8 (RFC 3629)? What AWS stores as text (tag keys and
 * values) must be; the sim's JSON store cannot hold anything else. */
bool cairn_sim_utf8_valid(const char *s);

/* ---- requests --------------------------------------------------------- */

#define CAIRN_SIM_MAX_PARAMS 8

struct cairn_sim_req {
	cairn_sim *sim;
	const cairn_sim_service *service;
	const cairn_sim_action *action;
	const char *method;
	const char *path;
	const char *region;      /* from the credential scope */
	const char *access_key;  /* NULL with --no-auth */
	char request_id[40];
	void *conn;              /* struct MHD_Connection *, for query args */

	const char *body;
	size_t body_len;
	cairn_sim_form *form;    /* Query protocols */
	json_t *json;            /* REST-JSON body, NULL when empty */
	const char *param_names[CAIRN_SIM_MAX_PARAMS];
	char *param_values[CAIRN_SIM_MAX_PARAMS];
	size_t n_params;

	/* output */
	cairn_sim_xml xml;       /* Query: the inside of <XResult> */
	json_t *json_out;        /* REST-JSON: response body (owned) */
	int status;              /* default 200 */

	/* error (set by cairn_sim_fail) */
	int err_status;
	char err_code[96];
	char err_message[1024];
	int err_sender;          /* 1 = Sender, 0 = Receiver */
	char retry_after[16];    /* Retry-After header value, "" = none */
};

/* Record an AWS error on req; returns CAIRN_EREMOTE. Status >= 500 is
 * typed Receiver, otherwise Sender. */
int cairn_sim_fail(cairn_sim_req *req, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* REST path parameter ({name}) / query-string argument, or NULL. */
const char *cairn_sim_req_param(const cairn_sim_req *req, const char *name);
const char *cairn_sim_req_query(const cairn_sim_req *req, const char *name);
/* Every value of a repeated query-string argument (?k=a&k=b), in order,
 * appended to out (borrowed from the request: valid until it is answered). */
int cairn_sim_req_query_all(const cairn_sim_req *req, const char *name, cairn_sim_strs *out);

/* Random lowercase hex (n digits) into out (n + 1 bytes). */
void cairn_sim_hex_id(char *out, size_t n);
/* "<prefix>-" + 17 hex digits (AWS's long ids), into out (>= 40 bytes). */
void cairn_sim_new_id(char *out, size_t size, const char *prefix);
/* A UUID v4 string (37 bytes). */
void cairn_sim_uuid(char out[37]);
/* ISO 8601 UTC with milliseconds, "2024-01-02T03:04:05.000Z" (25 bytes). */
void cairn_sim_iso_time(char out[32], double t);

/* ---- signatures: sigv4.c ---------------------------------------------- */

typedef struct cairn_sim_sigv4 {
	char access_key[128];
	char date[9];       /* 20240102 */
	char region[64];
	char service[64];
	char signed_headers[1024];
	char signature[65];
} cairn_sim_sigv4;

/* Parse "AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request,
 * SignedHeaders=..., Signature=..." into out. CAIRN_EINVAL when malformed. */
int cairn_sim_sigv4_parse(cairn_sim_sigv4 *out, const char *authorization);

/* What verification found. */
enum cairn_sim_auth_result {
	CAIRN_SIM_AUTH_OK = 0,
	CAIRN_SIM_AUTH_MISSING,       /* no Authorization header */
	CAIRN_SIM_AUTH_MALFORMED,     /* unparseable header / scope */
	CAIRN_SIM_AUTH_UNKNOWN_KEY,
	CAIRN_SIM_AUTH_BAD_SIGNATURE,
	CAIRN_SIM_AUTH_EXPIRED,       /* x-amz-date more than 15 minutes off */
	CAIRN_SIM_AUTH_TOKEN_EXPIRED, /* temporary credentials past their expiry */
};

/* Header lookup callback: the value of header `name` (lowercase) or NULL. */
typedef const char *(*cairn_sim_header_fn)(void *ctx, const char *name);

/* Verify a request signed with the parsed `sig` using `secret`. raw_path and
 * raw_query (NULL when none) are the request target as received, still
 * percent-encoded. Returns enum cairn_sim_auth_result; *detail (static text)
 * says why it failed. */
int cairn_sim_sigv4_verify(const cairn_sim_sigv4 *sig, const char *secret,
	const char *method, const char *raw_path, const char *raw_query,
	cairn_sim_header_fn header, void *ctx, const char *body, size_t body_len,
	time_t now, const char **detail);

/* Lowercase hex SHA-256 of data into out (65 bytes). */
void cairn_sim_sha256_hex(char out[65], const void *data, size_t len);

/* ---- the store: store.c ----------------------------------------------- */

#define CAIRN_SIM_STATUS_GONE "__gone__"

typedef struct cairn_sim_resource {
	char *id;
	char *type;        /* "ec2:vpc" */
	char *region;
	char *parent_id;   /* NULL when none */
	char *status;      /* "" when the type has none */
	char *next_status; /* NULL when no change is pending */
	double status_at;  /* when next_status falls due (epoch seconds) */
	json_t *attrs;     /* object, owned */
	json_t *tags;      /* object key -> string, owned */
	double created_at, updated_at;
	int64_t seq;       /* creation order, for stable pagination */
} cairn_sim_resource;

typedef struct cairn_sim_reslist {
	cairn_sim_resource **v;
	size_t n, alloc;
} cairn_sim_reslist;

/* Open (creating) the store at path; NULL path = a private in-memory db. */
int cairn_sim_store_open(cairn_sim_store **out, const char *path);
void cairn_sim_store_free(cairn_sim_store *s);
int cairn_sim_store_begin(cairn_sim_store *s, int write);
int cairn_sim_store_commit(cairn_sim_store *s);
void cairn_sim_store_rollback(cairn_sim_store *s);

/* New resource with id, type, region, empty attrs and tags, status "".
 * Not stored until cairn_sim_store_put. */
int cairn_sim_resource_new(cairn_sim_resource **out, const char *id,
	const char *type, const char *region);
void cairn_sim_resource_free(cairn_sim_resource *r);
int cairn_sim_resource_set_status(cairn_sim_resource *r, const char *status,
	const char *next_status, double at);
int cairn_sim_resource_set_parent(cairn_sim_resource *r, const char *parent_id);

/* Insert or replace r (its seq is assigned on first insert). */
int cairn_sim_store_put(cairn_sim_store *s, cairn_sim_resource *r);
/* Load by id, applying a due status change. CAIRN_ENOTFOUND (no error
 * message set) when absent or gone. *out owned by the caller. */
int cairn_sim_store_get(cairn_sim_store *s, const char *id, cairn_sim_resource **out);
/* Append to out every resource of type (NULL: any) in region (NULL: any)
 * whose parent is parent_id (NULL: any), in creation order (seq). Due
 * status changes are applied; resources that fall due as gone are left out. */
int cairn_sim_store_list(cairn_sim_store *s, const char *type, const char *region,
	const char *parent_id, cairn_sim_reslist *out);
void cairn_sim_reslist_release(cairn_sim_reslist *l);
int cairn_sim_store_delete(cairn_sim_store *s, const char *id);
/* Number of resources whose parent is id (of type, or any when NULL). */
int cairn_sim_store_count_children(cairn_sim_store *s, const char *parent_id,
	const char *type, int64_t *out);
/* fn(ud, value) for the string attribute `attr` of every child of `type`
 * still there (as cairn_sim_store_list sees them), without decoding whole
 * rows; value lives until fn returns; a non-zero return stops and is
 * returned. */
int cairn_sim_store_child_attrs(cairn_sim_store *s, const char *parent_id, const char *type,
	const char *attr, int (*fn)(void *ud, const char *value), void *ud);
/* Small key/value table for framework bookkeeping (region_init, ...).
 * get: *out malloc'd or NULL when absent. */
int cairn_sim_store_meta_get(cairn_sim_store *s, const char *key, char **out);
int cairn_sim_store_meta_set(cairn_sim_store *s, const char *key, const char *value);
/* Delete everything. */
int cairn_sim_store_reset(cairn_sim_store *s);
/* The resource as JSON (admin API); new reference. */
json_t *cairn_sim_resource_to_json(const cairn_sim_resource *r);

/* ---- faults: faults.c ------------------------------------------------- */

int cairn_sim_faults_new(struct cairn_sim_faults **out, const cairn_sim_options *opt);
void cairn_sim_faults_free(struct cairn_sim_faults *f);
/* A uniform random number in [0, 1). Thread-safe. */
double cairn_sim_random(void);
/* Decide the faults for one request; 0 to go on, or CAIRN_EREMOTE with an
 * error recorded on req (a fault rule, throttling, rate limit, injected
 * error). */
int cairn_sim_faults_check(cairn_sim *sim, cairn_sim_req *req);

/* A fault rule (POST /_sim/faults): the next `count` requests for `action`
 * (of `service`, or of any service when NULL) get the error answer
 * status / code / message in the service's error format instead of being
 * served. The strings are borrowed; cairn_sim_faults_add copies them. */
typedef struct cairn_sim_fault_rule {
	const char *service;  /* "ec2"; NULL: any service */
	const char *action;   /* "DescribeVpcAttribute" (REST: the operation name) */
	const char *code;     /* "InvalidVpcID.NotFound" */
	const char *message;  /* NULL: one that names the action and says it is injected */
	int status;           /* 400..599 */
	long count;           /* >= 1, or -1: until the rules are cleared */
} cairn_sim_fault_rule;

/* Add a rule after the others (the first rule that matches a request
 * answers it). Thread-safe, as are the two below. */
int cairn_sim_faults_add(struct cairn_sim_faults *f, const cairn_sim_fault_rule *rule);
/* The rules still in force, oldest first, as a JSON array of objects with
 * the keys of POST /_sim/faults ("count": what is left; absent when
 * unlimited). New reference; NULL when out of memory. */
json_t *cairn_sim_faults_rules_json(struct cairn_sim_faults *f);
/* Remove every rule. */
void cairn_sim_faults_clear(struct cairn_sim_faults *f);

/* ---- temporary credentials: sts.c ----------------------------------- */

typedef struct cairn_sim_sessions cairn_sim_sessions;

int cairn_sim_sessions_new(cairn_sim_sessions **out);
void cairn_sim_sessions_free(cairn_sim_sessions *s);
/* Check a temporary access key and the X-Amz-Security-Token that came with
 * it (token may be NULL) at time now: CAIRN_SIM_AUTH_OK with its secret
 * copied into secret (size bytes); CAIRN_SIM_AUTH_UNKNOWN_KEY when there is
 * no such key or the token is missing or not the key's;
 * CAIRN_SIM_AUTH_TOKEN_EXPIRED after its expiry. s may be NULL (no
 * sessions). Thread-safe, as is the one below. */
int cairn_sim_sessions_check(cairn_sim_sessions *s, const char *access_key, const char *token, double now,
	char *secret, size_t size);
/* Every temporary credential still valid expires now; returns how many. */
size_t cairn_sim_sessions_expire_all(cairn_sim_sessions *s);

/* ---- instance hosts: ec2_hosts.c ------------------------------------- */

/* With --instance-hosts every running EC2 instance is an SSH host: an
 * sshd the sim starts in a private mount and PID namespace whose /etc,
 * /usr, /var, /opt, /srv, /home and /root are overlays with the instance's
 * own upper layer, listening on the instance's loopback address. */
typedef struct cairn_sim_hosts cairn_sim_hosts;

/* Check that this machine lets the sim do it (root, a private mount
 * namespace, an overlay over a directory of the data directory, tmpfs,
 * /usr/sbin/sshd, port 22 of the loopback addresses) and prepare the data
 * directory. Fails with a message that says what is missing. */
int cairn_sim_hosts_new(cairn_sim_hosts **out, cairn_sim *sim);
/* Start the thread that starts and stops the sshds (call with the stop
 * signals blocked: the thread inherits the mask, the sshds do not). */
int cairn_sim_hosts_start(cairn_sim_hosts *h);
/* Stop the thread and every sshd (SIGTERM, SIGKILL after 5 s); remove a
 * temporary data directory. NULL is fine. */
void cairn_sim_hosts_free(cairn_sim_hosts *h);
/* An address for a new instance (127.0.x.y) that used(ud, address) does
 * not claim and whose port 22 can be bound, into out. Called with the
 * store lock held. */
int cairn_sim_hosts_pick(cairn_sim_hosts *h, int (*used)(void *ud, const char *address), void *ud,
	char *out, size_t size);
/* Has the instance's sshd started and accepted a connection on its port 22?
 * An instance launched or started with an address stays pending until
 * then (ec2_instances.c). Takes the hosts' own lock only. */
int cairn_sim_hosts_ready(cairn_sim_hosts *h, const char *instance_id);
/* GET /_sim/hosts: {"dir": ..., "hosts": [{"instance_id", "address",
 * "port", "pid" (absent when not running), "layer"}]}. New reference. */
json_t *cairn_sim_hosts_json(cairn_sim_hosts *h);

/* ---- admin endpoint: admin.c ------------------------------------------ */

/* Handle a request under /_sim/. Sets *status and *body_out (malloc'd JSON). */
int cairn_sim_admin_handle(cairn_sim *sim, const char *method, const char *path,
	const char *body, size_t body_len, int *status, char **body_out);
/* ---- server: server.c ------------------------------------------------- */

typedef struct cairn_sim_server cairn_sim_server;
/* Start serving; *bound_port is the port actually bound (for port 0). */
int cairn_sim_server_start(cairn_sim_server **out, cairn_sim *sim, int *bound_port);
/* Stop: waits for requests in flight, then frees srv. NULL is fine. */
void cairn_sim_server_stop(cairn_sim_server *srv);
/* Run req's service region_init for req's region unless done before (the
 * store remembers it; a reset forgets). Called with the lock held. */
int cairn_sim_region_ensure(cairn_sim_req *req);

#endif
