/*
 * policy.c - one policy file, run in a Lua state of its own (policy.h).
 *
 * The policy is loaded by runtime.c as a pseudo-module whose `read` is its
 * check function, so it runs as an operation does: in a coroutine, under
 * the count hook (instructions, deadline), the allocator's cap, with the
 * errors described as a module's are (file:line). What differs is here: a
 * fresh state per policy (one policy cannot see or change another's
 * globals), no capabilities, and a yield (a request to the event loop:
 * HTTP, sleep) is a failure, since a policy gets no network.
 */
#include "policy.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define POLICY_INSTRUCTIONS 50000000LL
#define POLICY_MEM ((size_t)64 << 20)
#define POLICY_SECONDS 10.0

int cairn_lua_policy_run(const char *path, const char *display, const json_t *input,
			 const cairn_lua_policy_limits *lim, json_t **out)
{
	cairn_lua_limits l = { 0 };
	cairn_lua *rt = NULL;
	cairn_lua_op *op = NULL;
	json_t *args = NULL;
	double seconds = lim && lim->seconds > 0 ? lim->seconds : POLICY_SECONDS;
	int rc;

	l.instructions = lim && lim->instructions > 0 ? lim->instructions : POLICY_INSTRUCTIONS;
	l.mem_bytes = lim && lim->mem_bytes ? lim->mem_bytes : POLICY_MEM;
	if ((rc = cairn_lua_new(&rt, NULL, 0, &l)) != 0)
		goto cleanup;
	if ((rc = cairn_lua__load_policy(rt, display, path, display)) != 0)
		goto cleanup;
	/* the check's one argument is the operation's ctx (which also gets ctx.log) */
	if (!(args = json_deep_copy(input))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = cairn_lua_op_new(&op, rt, display, "read", args, NULL)) != 0)
		goto cleanup;
	cairn_lua_op_set_timeout(op, seconds);
	switch (cairn_lua_op_resume(op, NULL)) {
	case CAIRN_OP_DONE:
		*out = json_incref(cairn_lua_op_result(op));
		rc = 0;
		break;
	case CAIRN_OP_YIELDED:
		rc = cairn_error_set(CAIRN_EINVAL, "a policy may not wait (no network, no sleep): it asked for %s",
				     json_string_value(json_object_get(cairn_lua_op_request(op), "kind")) ?
				     json_string_value(json_object_get(cairn_lua_op_request(op), "kind")) : "a request");
		break;
	default:
		if (cairn_error_last()->code == CAIRN_ETIMEOUT)
			rc = cairn_error_set(CAIRN_ETIMEOUT, "did not finish within its time limit of %gs", seconds);
		else if (cairn_error_last()->code == CAIRN_ELIMIT)
			rc = cairn_error_set(CAIRN_ELIMIT, "%s", cairn_lua_op_error(op) ?
					     cairn_lua_op_error(op) : "exceeded its limits");
		else
			rc = cairn_error_set(CAIRN_EINVAL, "%s", cairn_lua_op_error(op) ? cairn_lua_op_error(op) : "failed");
		break;
	}
cleanup:
	cairn_lua_op_free(op);
	cairn_lua_free(rt);
	json_decref(args);
	return rc;
}
