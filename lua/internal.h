/*
 * internal.h - what runtime.c, api.c, json.c and xml.c share.
 *
 * Not an API: the structs behind cairn_lua and cairn_lua_op, and the
 * conversions between jansson values and Lua values. Everything here is
 * used only inside lua/.
 */
#ifndef CAIRN_LUA_INTERNAL_H
#define CAIRN_LUA_INTERNAL_H

#include "runtime.h"

#include <lua.h>
#include <lauxlib.h>
#include <signal.h>

/* Registry keys (namespaced strings). */
#define CAIRN_REG_GLOBALS   "cairn.globals"    /* the curated, read-only globals */
#define CAIRN_REG_ENV_MT    "cairn.env_mt"     /* metatable of every module _ENV */
#define CAIRN_REG_ARRAY_MT  "cairn.array_mt"   /* marks a table as a JSON array */
#define CAIRN_REG_API_LOCAL "cairn.api_local"  /* `cairn` with `ssh` and `fs`, for trusted local.* */
#define CAIRN_REG_API_TRUSTED "cairn.api_trusted" /* `cairn` with `ssh`, for trusted modules */

typedef struct cairn_lua_module {
	cairn_schema schema;
	char *display;   /* "modules/local/file.lua", the chunk name without '@' */
	int ref;         /* registry ref of the module table */
} cairn_lua_module;

struct cairn_lua {
	lua_State *L;
	char **dirs;
	size_t ndirs;
	size_t mem_used, mem_limit;
	long long instr_limit;
	long long load_instr;       /* instructions run while loading a module */
	const char *loading;        /* type being loaded (for the limit message) */
	unsigned long outside;      /* calls that read the clock, randomness or files */
	bool killed;                /* the running code is being stopped: a limit, its
				     * deadline or an interrupt (nothing may catch it) */
	volatile sig_atomic_t interrupted; /* cairn_lua_interrupt() was called */
	size_t alloc_since_check;   /* bytes allocated by the running op since the
				     * allocator last looked at the clock */
	size_t first_trusted;       /* dirs[first_trusted..] hold trusted modules */
	cairn_lua_log_fn log_fn;
	void *log_ud;
	cairn_lua_module **mods;
	size_t nmods, amods;
	cairn_lua_op *current;      /* the operation being resumed, or NULL */
	const void *array_mt;       /* identity of the array metatable */
	struct cairn_lua_protected {
		char *real;         /* resolved absolute path */
		char *given;        /* as the engine gave it, for messages */
		char *what;
		bool tree;
	} *prot;                    /* cairn_lua_protect() */
	size_t nprot;
	unsigned char (*srcs)[32];  /* SHA-256 of each distinct chunk loaded (its
				     * name and text): cairn_lua_sources_digest */
	size_t nsrcs, asrcs;
	bool srcs_lost;             /* one could not be kept: no digest */
};

struct cairn_lua_op {
	cairn_lua *rt;
	cairn_lua_module *mod;
	char *name;          /* "create", ... */
	char *address;       /* ctx.address, for log lines */
	lua_State *co;
	int co_ref;
	int nargs;           /* arguments waiting on co for the first resume */
	bool started;
	int kill;            /* KILL_*: why the running code is being stopped */
	cairn_op_status status;
	long long instr;
	double timeout;      /* seconds, or 0 */
	double deadline;     /* cairn_lua_clock() value, or 0 */
	json_t *request;     /* set by cairn.http.request / cairn.sleep before yielding */
	json_t *result;
	int hits_ref;        /* ctx.unchanged (ctx with marks), or LUA_NOREF */
	json_t *unchanged;   /* what it held at the end: id -> digest, or NULL */
	char *errmsg, *errcode, *traceback;
	int errclass;
};

/* Why running code is stopped (cairn_lua_op.kill). */
enum { KILL_NONE = 0, KILL_LIMIT, KILL_DEADLINE, KILL_INTERRUPT };

/* Monotonic seconds. */
double cairn_lua_clock(void);
/* Should the running code stop now (an interrupt, the running operation's
 * deadline)? Sets the kill reason and rt->killed when so; KILL_* or 0.
 * Never raises: the caller raises (or fails an allocation). */
int cairn_lua_should_stop(cairn_lua *rt);
/* Raise the error that stops the running code (after should_stop). */
int cairn_lua_stop(lua_State *L);
/* Charge `steps` units of C work (pattern matching) to the running
 * operation: counted as instructions; checks limit, deadline, interrupt
 * and raises when one is hit. */
void cairn_lua_charge(lua_State *L, long long steps);

/* api.c: path as an absolute path with every symlink of its existing part
 * resolved and "." / ".." of the rest applied (malloc'd; NULL if out of
 * memory or the working directory is unknown). */

/* patterns.c: replace string.find, match, gmatch, gsub (table at idx) with
 * the step-counted matcher, and string.rep with a bounded one. */
void cairn_lua_open_patterns(lua_State *L, int string_idx);

/* runtime.c: the index in rt->prot of the protected path that `path` is
 * or lies in, or -1 (also when it cannot be resolved: the file operation
 * then fails on its own). */
int cairn_lua__protected(const cairn_lua *rt, const char *path);

/* The unique light userdata that stands for JSON null in Lua (cairn.json.null). */
extern char cairn_lua_null_tag;
#define cairn_lua_pushnull(L) lua_pushlightuserdata((L), &cairn_lua_null_tag)

static inline cairn_lua *cairn_lua_rt(lua_State *L)
{
	void *ud = NULL;

	lua_getallocf(L, &ud);
	return ud;
}

/* json.c: push j (borrowed) as a Lua value. Raises on memory errors. */
void cairn_lua_push_json(lua_State *L, json_t *j);
/* Same in protected mode: LUA_OK, or an error status with the error object
 * pushed instead. j stays owned by the caller either way. */
int cairn_lua_push_json_safe(lua_State *L, json_t *j);
/* Convert the Lua value at idx to JSON. Never raises. NULL on failure with a
 * message (naming the path of the bad value) in err. */
json_t *cairn_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);
/* Push a copy of (p, n) as a Lua string; frees p (with free) even when the
 * push raises, then re-raises. */
void cairn_lua_push_owned(lua_State *L, char *p, size_t n);
/* Make the table at the top an array (sets the array metatable). */
void cairn_lua_mark_array(lua_State *L);
/* Is the value at idx a table marked as an array? */
bool cairn_lua_is_marked_array(lua_State *L, int idx);

/* The `cairn.json` and `cairn.xml` libraries. */
/* chunks.c: load a module file's text (luaL_loadbufferx in text mode),
 * from the bytecode this process compiled from the same text under the
 * same name when there is some. Pushes the function or an error message,
 * as luaL_loadbufferx. */
int cairn_lua__load_text(lua_State *L, const char *src, size_t n, const char *name);
/* How many texts this process compiled (not loaded from their bytecode). */
size_t cairn_lua__chunks_compiled(void);

int cairn_lua_open_json(lua_State *L);
int cairn_lua_open_xml(lua_State *L);
/* ssh.c: the `cairn.ssh` library (requests to the resource's host). */
int cairn_lua_open_ssh(lua_State *L);
/* regex.c: the `cairn.regex` library (POSIX extended regular expressions). */
int cairn_lua_open_regex(lua_State *L);
/* xml.c: parse XML text into JSON (root element content); *root_name set
 * (malloc'd). Returns NULL with err filled on failure. */

/* api.c: build the `cairn` table and leave it (and the variant with `fs`)
 * where runtime.c finds them: pushes the plain `cairn` table; the `fs`
 * variant is stored at CAIRN_REG_API_LOCAL. Raises on errors. */
void cairn_lua_open_api(lua_State *L);
/* Wrap the table at the top in a read-only proxy (replaces it). Deep: nested
 * tables are proxied too. */
void cairn_lua_readonly(lua_State *L);

/* runtime.c, for policy.c: load the policy file at path as a module of
 * pseudo-type `type` whose `read` operation is the policy's check
 * function; CAPS_NONE, no require. Errors name `display`. */
int cairn_lua__load_policy(cairn_lua *rt, const char *type, const char *path, const char *display);

#endif
