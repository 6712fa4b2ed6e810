/*
 * config_hosts.c - the stack's `hosts:` section, and how resources name
 * their host.
 *
 * A host is a resource of type ssh.host (modules/ssh/host.lua) written in
 * its own section, without a type: it can have count or for_each, and its
 * properties are expressions like any resource's (an address taken from a
 * variable, an inventory list of the overlay, or a cloud instance's
 * attribute), so the plan orders "create the machine" before "configure
 * it". A resource of a host.* type names its host in `host:`, and a host
 * its jump host in `bastion:`, as a reference written without ${ }:
 * `web`, `web[0]`, `web[count.index]`, 'web["eu"]'. config.c loads both;
 * this file turns such a reference into the expression NAME....name, the
 * host's name ("web[0]"), which the engine uses to find the host's
 * connection and which makes the host a dependency.
 */
#include "config_int.h"
#include "base/buf.h"

#include <string.h>

static int first_ref(void *ud, const cairn_ref *r)
{
	const char **root = ud;

	if (!*root)
		*root = r->root;
	return 0;
}

int cairn_config__host_ref(cairn_expr *map, const char *key)
{
	static const char *const not_hosts[] = { "var", "env", "path", "count", "each", "self", NULL };
	const cairn_expr *v = cairn_expr_get(map, key);
	const cairn_pos *kp = NULL, *vp;
	cairn_buf text = CAIRN_BUF_INIT;
	cairn_expr *x = NULL, *old;
	const char *root = NULL;
	const json_t *c;
	size_t i;
	int rc;

	if (!v || cairn_expr_kind_of(v) != CAIRN_EXPR_CONST)
		return 0; /* absent, or a ${ } expression: it must give the host's name */
	c = cairn_expr_const(v);
	vp = cairn_expr_pos(v);
	if (json_is_null(c))
		return 0;
	if (!json_is_string(c) || !*json_string_value(c))
		return cairn_error_set_at(CAIRN_EINVAL, vp, "'%s' must name a host of the hosts: section, "
			"like web or web[0]", key);
	if ((rc = cairn_buf_printf(&text, "%s.name", json_string_value(c))) < 0)
		goto cleanup;
	if (cairn_expr_parse(&x, text.ptr, vp) != 0) {
		rc = cairn_error_set_at(CAIRN_EINVAL, vp, "'%s' must name a host of the hosts: section, like web, "
			"web[0] or web[count.index]; got '%s'", key, json_string_value(c));
		goto cleanup;
	}
	cairn_expr_refs(x, first_ref, &root);
	for (i = 0; root && not_hosts[i]; i++)
		if (!strcmp(root, not_hosts[i]))
			root = NULL;
	if (!root) {
		rc = cairn_error_set_at(CAIRN_EINVAL, vp, "'%s' must name a host of the hosts: section, like web "
			"or web[0]; got '%s'", key, json_string_value(c));
		goto cleanup;
	}
	for (i = 0; i < cairn_expr_size(map); i++)
		if (!strcmp(cairn_expr_key(map, i, &kp), key))
			break;
	{
		cairn_pos at = *kp;

		old = cairn_expr_take(map, key);
		cairn_expr_free(old);
		rc = cairn_expr_map_set(map, key, &at, x);
	}
	x = NULL;
cleanup:
	cairn_expr_free(x);
	cairn_buf_release(&text);
	return rc;
}
