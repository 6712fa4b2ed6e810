/*
 * policy.h - running one policy file in the module sandbox.
 *
 * A policy (a Lua file of a stack's policies/ folder, docs/guardrails.md)
 * returns a function, or a table with a `check` function, called with one
 * argument: the plan as policies see it (engine/policy.c builds it). It
 * runs in a Lua state of its own, created for it and freed after it: the
 * curated globals of the module sandbox (runtime.h), the bare `cairn` API
 * without fs or ssh, no require; an instruction cap, a memory cap and a
 * wall-clock deadline. It may not wait: a call of cairn.http.request,
 * cairn.sleep or anything that yields to the event loop fails the policy
 * (no network). Folder lua/; uses base/ only.
 */
#ifndef CAIRN_LUA_POLICY_H
#define CAIRN_LUA_POLICY_H

#include "base/error.h"
#include "base/value.h"

#include <stddef.h>

typedef struct cairn_lua_policy_limits {
	long long instructions; /* 0 = 50 million */
	size_t mem_bytes;       /* 0 = 64 MiB */
	double seconds;         /* 0 = 10 */
} cairn_lua_policy_limits;

/* Run the policy at `path` (named `display` in messages) on `input`
 * (borrowed). *out: what the check function returned (new reference; JSON
 * null if nothing). On failure (the file does not load, a runtime error, a
 * limit, a wait) a cairn error whose message names display and, where
 * there is one, the line. */
int cairn_lua_policy_run(const char *path, const char *display, const json_t *input,
			 const cairn_lua_policy_limits *lim, json_t **out);

#endif
