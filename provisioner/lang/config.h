/*
 * config.h - loading a stack and an environment overlay from YAML.
 *
 * A stack directory holds `stack.yaml` (variables, resources, outputs) and one
 * overlay file per environment, `<env>.yaml` (variable values and provider
 * settings). Files are read with libyaml; every value is compiled into a
 * cairn_expr tree (expr.h) that keeps its file:line:col, so that later stages
 * (planner, graph) report errors at the exact place in the user's file.
 *
 * Folder provisioner/lang/: the stack language: YAML loading, variables,
 * expressions (expr.h), the function library (funcs.c). May use base/ only:
 * it knows no engine, state or cloud.
 *
 * stack.yaml:
 *   stack: NAME                      # optional; default: the directory name
 *   variables:
 *     NAME:
 *       type: string|number|bool|list|map|any|list(T)|map(T)   (default any)
 *       default: VALUE
 *       description: TEXT
 *       sensitive: BOOL
 *       nullable: BOOL               # default false: null is "not set"
 *       validation:                  # a list, or a single mapping
 *         - condition: "${...}"      # must evaluate to a bool
 *           message: TEXT
 *   resources:
 *     NAME:                          # [A-Za-z_][A-Za-z0-9_-]*, unique
 *       type: TYPE                   # e.g. local.file, aws.vpc
 *       depends_on: [NAME, ...]
 *       count: EXPR | for_each: EXPR # not both
 *       lifecycle:
 *         prevent_destroy: BOOL|EXPR
 *         ignore_changes: [PROP, ...] | all
 *         create_before_destroy: BOOL
 *       checks: [CHECK, ...]         # health checks after each instance is applied (the
 *                                    # stack's checks: shape; self.ATTR), config_checks.c
 *       rollout: { batch: N | "P%" } # count/for_each: changed instances N at a time
 *       timeouts:                    # deadlines of its operations (Terraform's):
 *         create: 30m                # create, read, update, delete; a duration
 *         delete: 2h                 # ("90s", "30m", "1h30m") or seconds
 *       PROP: VALUE                  # everything else: the type's properties
 *       host: NAME                   # host.* types: the host, written web or web[0]
 *   hosts:                           # machines over SSH: resources of type ssh.host,
 *     NAME:                          # appended to resources (config_hosts.c)
 *       address: EXPR                # + port, user, key_file, bastion: NAME, become...
 *       count: EXPR | for_each: EXPR
 *   outputs:
 *     NAME:
 *       value: EXPR
 *       description: TEXT
 *       sensitive: BOOL
 *   drift:                           # ignore rules for `cairn drift` (config_drift.c)
 *     ignore:
 *       - address: GLOB | type: GLOB | id: GLOB   # at least one
 *         attribute: NAME            # optional
 *         kind: changed|deleted|unapplied|unmanaged|parity   # optional
 *         reason: TEXT               # required
 *         expires: YYYY-MM-DD        # optional
 *   environments:                    # settings per environment name (config_envs.c)
 *     prod: { protected: true, approvals: { required: 1, distinct_author: true } }
 *
 * <env>.yaml:
 *   provider:                        # free-form map, passed to modules as ctx.provider
 *     region: us-east-1
 *     endpoint: http://127.0.0.1:4566
 *     profile: default
 *   variables:
 *     NAME: VALUE                    # constants only (no ${ } references)
 *
 * Unknown top-level keys, unknown variable keys, unknown lifecycle and timeouts keys and
 * names that do not match the pattern are errors at their position.
 *
 * Also checked at load time: every called function exists; every var.NAME
 * is declared; count.index / each.key / each.value appear only in resources
 * with count / for_each (and not in count / for_each themselves); variable
 * defaults are constants that match the type; validation conditions refer
 * only to their own variable. Resource names var, env, count, each, path,
 * self, null, true and false are reserved. YAML aliases are expanded (merge
 * keys '<<' are not supported); a second document in a file is an error.
 * Plain scalars follow the YAML 1.2 core schema (.inf / .nan are errors).
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include "expr.h"

#include <stdint.h>

/* The most instances one resource's count may make. */
#define CAIRN_COUNT_MAX 100000

typedef struct cairn_validation {
	cairn_expr *condition;
	char *message;
	cairn_pos pos;
} cairn_validation;

typedef struct cairn_var_cfg {
	char *name;
	char *type;          /* as written, normalised without spaces; "any" if absent */
	cairn_expr *def;     /* NULL: no default (required) */
	char *description;   /* may be NULL */
	bool sensitive;
	bool nullable;
	cairn_validation *validations;
	size_t nvalidations;
	cairn_pos pos;       /* of the variable's name */
} cairn_var_cfg;

/* One health check (config_checks.c): of the stack, run after an apply, or
 * of a resource, run after each of its instances is applied. */
typedef struct cairn_check_cfg {
	char *name;
	cairn_pos pos;
	enum { CAIRN_CHECK_HTTP, CAIRN_CHECK_TCP, CAIRN_CHECK_SSH, CAIRN_CHECK_MODULE } kind;
			      /* http: {url, status, body}; tcp: {host, port}; ssh: {host, command};
			       * module: {expect} (a resource's only: its module's status function) */
	cairn_expr *target;   /* that map (expressions, evaluated after the apply) */
	int retries;          /* attempts after the first (default 3) */
	double interval;      /* seconds between attempts (default 2) */
	double deadline;      /* seconds for all attempts (default 60) */
} cairn_check_cfg;

typedef struct cairn_res_cfg {
	char *name;
	char *type;
	cairn_pos pos;       /* of the resource's name */
	cairn_pos type_pos;  /* of the type's value */
	cairn_expr *props;   /* MAP of the properties (meta-keys removed) */
	cairn_expr *count;   /* NULL if absent */
	cairn_expr *for_each;
	char **depends_on;
	cairn_pos *depends_on_pos;
	size_t ndepends_on;
	cairn_expr *prevent_destroy; /* NULL if absent */
	char **ignore_changes;
	cairn_pos *ignore_changes_pos;
	size_t nignore_changes;
	bool ignore_all_changes;
	bool create_before_destroy;
	double timeouts[4];  /* seconds for create, read, update, delete (the order of
			      * lua's cairn_timeout_kind); 0: the module's default */
	cairn_check_cfg *checks; /* its checks: (config_checks.c), run after each of its
				  * instances is created, updated or replaced */
	size_t nchecks;
	int rollout_batch;   /* rollout: {batch: N}: instances changed at a time, 0: none */
	double rollout_percent; /* rollout: {batch: "P%"}: P (then rollout_batch is 0) */
} cairn_res_cfg;

typedef struct cairn_output_cfg {
	char *name;
	cairn_expr *value;
	char *description;
	bool sensitive;
	cairn_pos pos;
} cairn_output_cfg;

/* One rule of the stack's drift: ignore list (config_drift.c). Patterns are
 * globs (fnmatch); NULL members match anything. */
typedef struct cairn_drift_ignore {
	char *address;       /* glob on the address, or NULL */
	char *type;          /* glob on the resource type, or NULL */
	char *id;            /* glob on the object's cloud id, or NULL */
	char *attribute;     /* the attribute (a map's keys too: "tags" covers "tags.X"), or NULL */
	char *kind;          /* changed|deleted|unapplied|unmanaged|parity, or NULL */
	char *reason;        /* never NULL */
	char *expires;       /* "YYYY-MM-DD" as written, or NULL */
	int64_t expires_at;  /* unix seconds when it stops hiding (the day after), 0 = never */
	cairn_pos pos;       /* of the rule */
} cairn_drift_ignore;

typedef struct cairn_stack {
	char *name;
	char *path;          /* the stack file as given */
	char *dir;           /* its directory */
	char *state;         /* the state its state: key names (a path joined to dir, or
			      * a postgres:// URL), NULL without one (docs/stack-format.md) */
	cairn_var_cfg *vars;
	size_t nvars;
	cairn_res_cfg *resources;   /* in file order */
	size_t nresources;
	cairn_output_cfg *outputs;
	size_t noutputs;
	cairn_drift_ignore *drift_ignores; /* the drift: ignore rules, in file order */
	size_t ndrift_ignores;
	cairn_check_cfg *checks; /* checks: (config_checks.c), in file order */
	size_t nchecks;
	json_t *envs;        /* environments: NAME -> {protected, approvals: {required,
			      * distinct_author}} (config_envs.c), or NULL */
	struct cairn_env_pos {
		char *name;
		cairn_pos pos;   /* of the name's key in environments: */
	} *env_pos;
	size_t nenv_pos;
	/* every file path a cairn_pos of this stack points to is owned here */
	char **files;
	size_t nfiles;
} cairn_stack;

typedef struct cairn_env_cfg {
	char *name;
	char *path;          /* the overlay file */
	json_t *provider;    /* object, never NULL (empty if absent) */
	cairn_expr *variables; /* MAP of values (CONST trees), never NULL */
	char **files;        /* owned file paths for positions */
	size_t nfiles;
} cairn_env_cfg;

/* Load and check a stack file. Errors (CAIRN_EINVAL) carry file:line:col:
 * malformed YAML, wrong shapes, duplicate names, bad names, unknown keys,
 * expression syntax errors. CAIRN_ENOTFOUND / CAIRN_EIO for a missing or
 * unreadable file. */
int cairn_stack_load(cairn_stack **out, const char *path);
void cairn_stack_free(cairn_stack *s);
/* The state that the stack file at path names with its state: key, checked
 * as cairn_stack_load checks it, without loading the rest of the stack (for
 * the commands on the state alone): *out the location (malloc'd), NULL when
 * the file has no state: key or there is no file. */
int cairn_stack_state_of(const char *path, char **out);
const cairn_res_cfg *cairn_stack_resource(const cairn_stack *s, const char *name);

/* Environment names: [a-z0-9][a-z0-9_-]{0,62}, not "stack". */
bool cairn_env_name_valid(const char *name);
/* Load <stack dir>/<name>.yaml. An invalid name or a missing file is
 * CAIRN_EINVAL "unknown environment 'x' (no file DIR/x.yaml)" listing the
 * environments that do exist. */
int cairn_env_load(cairn_env_cfg **out, const cairn_stack *s, const char *name);
void cairn_env_free(cairn_env_cfg *e);
/* Does name have an overlay file beside the stack? (An environment without
 * one may still be an ephemeral one, recorded in the state.) */
bool cairn_env_has_overlay(const cairn_stack *s, const char *name);
/* The environment names that have an overlay beside the stack, sorted.
 * The caller owns the array and its strings: free with cairn_env_list_free. */
int cairn_env_list(char ***out, size_t *n, const cairn_stack *s);
void cairn_env_list_free(char **list, size_t n);

/* config_envs.c: the stack's per-environment settings
 *   environments:
 *     prod: { protected: true, approvals: { required: 1, distinct_author: true } }
 * The configuration they are read from: the stack. */
typedef struct cairn_stack cairn_config;
/* Is env marked `protected: true` in the stack's environments: section? */
bool cairn_config_env_protected(const cairn_config *cfg, const char *env);
/* Where the stack's environments: section names env (the key's position,
 * for file:line:col in messages about it), or NULL if it does not. */
const cairn_pos *cairn_config_env_pos(const cairn_config *cfg, const char *env);
/* env's approvals: (0 and false when it has none). Returns 0. */
int cairn_config_env_approvals(const cairn_config *cfg, const char *env, int *required, bool *distinct_author);
/* env's approvals.approvers: {name: "ssh-ed25519 ..."} (borrowed; checked
 * when the stack was loaded), or NULL when approvals are not signed. */
const json_t *cairn_config_env_approvers(const cairn_config *cfg, const char *env);

/* Resolve the final variable values for an environment: overlay values,
 * then `overrides` (an object name -> json value from --var flags, may be
 * NULL), then defaults. Checks: unknown variable in overlay/overrides (error
 * at its position), type conformance with conversion where lossless ("3" is
 * not a number: error), missing required variable (error at the variable's
 * declaration naming the environment file), validations (evaluated with
 * root {var: {NAME: value}}, message shown on failure at the condition's
 * position). Returns a new object in *out. */
int cairn_vars_resolve(json_t **out, const cairn_stack *s, const cairn_env_cfg *env, json_t *overrides);

/* Check a value against a type string ("string", "list(number)", ...). On
 * success returns 0 and in *out a new reference to the value converted where
 * lossless (number 3 -> "3" for string). On mismatch CAIRN_EINVAL with a
 * message "expected TYPE, got TYPE" (no position: the caller adds it). */
int cairn_type_check(json_t **out, const char *type, json_t *v);
/* True if the type string is well-formed. */
bool cairn_type_valid(const char *type);


#endif
