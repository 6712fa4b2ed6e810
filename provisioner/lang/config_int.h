/*
 * config_int.h - private interfaces between the parts of the configuration
 * loader: config_yaml.c (YAML text -> cairn_expr tree), config.c (stack and
 * overlay checks) and config_vars.c (types, variable resolution).
 */
#ifndef CAIRN_CONFIG_INT_H
#define CAIRN_CONFIG_INT_H

#include "config.h"

/* Parse one YAML document from path into a tree of cairn_expr nodes (MAP,
 * LIST, CONST, TEMPLATE, ...) whose positions point to `file` (borrowed:
 * it must outlive the tree). An empty file gives an empty MAP; the top level
 * must be a mapping. CAIRN_ENOTFOUND / CAIRN_EIO if unreadable. */
int cairn_config__load_yaml(cairn_expr **out, const char *path, const char *file);

/* Same, from memory (for tests and fuzzing). */
int cairn_config__parse_yaml(cairn_expr **out, const char *data, size_t len, const char *file);

/* Is name a valid resource / variable / output name? */
bool cairn_config__name_valid(const char *name);

/* True if e is made only of CONST, LIST and MAP nodes; else sets an error
 * at the first offending node with `what` ("overlay values") in it. */
int cairn_config__check_const(const cairn_expr *e, const char *what);

/* config_hosts.c: map[key] (`host:` of a host.* resource, `bastion:` of a
 * host), when it is a plain string naming a host ("web[0]"), becomes the
 * expression web[0].name; a ${ } expression is left as it is. */
int cairn_config__host_ref(cairn_expr *map, const char *key);

/* The stack's drift: section (config_drift.c): checked and stored in
 * s->drift_ignores; NULL drift is none. Errors carry file:line:col. */
int cairn_config__load_drift(cairn_stack *s, const cairn_expr *drift);
void cairn_config__free_drift(cairn_stack *s);

/* The stack's environments: section (config_envs.c): checked and stored
 * in s->envs; NULL is none. Errors carry file:line:col. */
int cairn_config__load_envs(cairn_stack *s, const cairn_expr *envs);

/* The stack's checks: list (config_checks.c): checked and stored in
 * s->checks. */
int cairn_config__load_checks(cairn_stack *s, const cairn_expr *checks);
void cairn_config__free_checks(cairn_stack *s);
/* A resource's checks: list and rollout: map (config_checks.c), into r;
 * NULL is none. rollout needs count or for_each (has_count). */
int cairn_config__load_res_checks(cairn_res_cfg *r, const cairn_expr *checks);
int cairn_config__load_rollout(cairn_res_cfg *r, const cairn_expr *rollout, bool has_count);
void cairn_config__free_res_checks(cairn_res_cfg *r);

#endif
