/*
 * runtime.h - the Lua 5.4 sandbox that runs resource modules.
 *
 * One lua_State holds every module of a run. It opens only base (minus
 * dofile, loadfile, load of binary chunks, collectgarbage's control verbs),
 * string, table, math, utf8; no io, os, package, debug. Each module file is
 * loaded in text mode into its own environment table whose __index is the
 * curated globals plus `cairn` (the API, api.c) and a `require` that only
 * loads other files from the module search path; a text already compiled
 * in this process is loaded from its bytecode (chunks.c). A custom allocator caps the
 * state's memory; a count hook caps the instructions one operation may run.
 *
 * Folder lua/: the sandbox and the cairn API (api.c, json.c, xml.c). May use
 * base/ only: HTTP waits are handed to the engine's scheduler, which owns
 * the loop.
 *
 * Modules are found by type: "local.file" -> <dir>/local/file.lua, searched
 * in the given directories in order (the stack's own `modules/` first, then
 * the built-in modules directory). A module returns a table:
 *
 *   return {
 *     type = "local.file",           -- must equal the requested type
 *     description = "...",
 *     id_attr = "id",                -- attribute holding the cloud id (default "id")
 *     read_many_batch = 200,         -- optional: most objects per read_many call
 *     read_many_attrs = false,       -- optional: read_many's list carries only
 *                                    -- id and address, not the recorded attrs
 *                                    -- (default true); or a list of attribute
 *                                    -- names: only those of the recorded attrs
 *     read_marks = true,             -- optional (default false): cairn drift's
 *                                    -- read marks (below) may skip decoding
 *                                    -- objects whose bytes did not change
 *     remote = false,                -- optional: the objects live only in cairn's
 *                                    -- state (null.resource, random.*); default true
 *     schema = {
 *       path = { type = "string", required = true, force_new = true },
 *       mode = { type = "string", default = "0644" },
 *       content = { type = "string", sensitive = false },
 *       id = { type = "string", computed = true },
 *       -- type: string | number | bool | list | map | any
 *       -- required / optional (default) / computed (set by the module;
 *       -- optional+computed: user may set it, else the module does)
 *       -- default, force_new, sensitive, description
 *       -- write_only = true: the cloud takes it but never returns it (a
 *       --   password); read/import leave it out and the recorded value is
 *       --   kept. When the state has no value (after an import), the plan
 *       --   sets it and says why; lifecycle.ignore_changes keeps the
 *       --   cloud's. Cannot be computed.
 *       -- watch = true (type list): the user lists resource names; when
 *       --   one of them is created, updated or replaced in an apply, the
 *       --   plan updates this resource too and `changed` names the attribute
 *       -- constraints on the value, checked before any module runs (at
 *       -- validate for constants, at plan or apply once the value is known;
 *       -- a failure names the property's file:line:col):
 *       --   min = N, max = N      number: inclusive bounds
 *       --   integer = true        number: a whole number
 *       --   pattern = "ERE"       string: a POSIX extended regular
 *       --                         expression the whole value must match
 *       --   enum = { "a", "b" }   string or number: the allowed values
 *       --   local_path = true     string: a path on this machine (relative
 *       --                         to the stack directory) the module writes;
 *       --                         it may not point into cairn's state
 *     },
 *     create = function(ctx, props) return attrs end,
 *     read   = function(ctx, id, attrs) return attrs_or_nil end,
 *               -- attrs may carry _run = "why": the object is as configured
 *               -- but its update must run (a command whose guard says so);
 *               -- the plan shows "will run (why)"
 *     read_many = function(ctx, list) return map_id_to_attrs end,  -- optional
 *     update = function(ctx, id, old, new, changed) return attrs end, -- optional
 *     delete = function(ctx, id, attrs) end,
 *     list   = function(ctx, filter) return array_of_attrs end,  -- optional
 *               -- ctx.keep_listed (cairn drift's first list calls): the
 *               -- read_many that follows in the same run may take the
 *               -- objects listed instead of asking for them again;
 *               -- ctx.list_fields (cairn drift's search): the attributes
 *               -- the caller reads, e.g. {"id", "vpc_id", "tags"}: a list
 *               -- may return only those (with the values read would give);
 *               -- ctx.marks (cairn drift, read_marks modules): see below
 *     import = function(ctx, id) return attrs_or_nil end,       -- optional, default read
 *     recover = function(ctx, token, props) return attrs_or_nil end, -- optional:
 *               -- find what an interrupted create made (by token/tag/name)
 *     status = function(ctx, id, attrs) return "available" end, -- optional:
 *               -- the object's health, for a resource's checks of kind
 *               -- module (engine/checks.c): a status, or {ok, status, message}
 *     timeouts = { create = "2h", delete = "1h" },  -- optional: deadlines
 *               -- (seconds, or "90s", "30m", "1h30m") per kind of operation:
 *               -- create, read (read, read_many, list, import, recover, status),
 *               -- update, delete; defaults 1h, 10m, 1h, 1h
 *   }
 *
 * Read marks (cairn drift, modules with read_marks = true). A drift run
 * that found an object's attributes equal to the recorded ones remembers
 * the digest (SHA-256) of the bytes the cloud described it with, keyed by
 * the module sources loaded (cairn_lua_sources_digest), the provider
 * settings and the recorded row's text. The next run offers, in ctx.marks
 * ({ [digest] = id } of the rows whose key still holds) to list and
 * read_many; cairn.xml.decode's marks argument (lua/xml.c) then returns a
 * stub for an object whose bytes have that digest instead of decoding it,
 * and read_many answers "#unchanged:DIGEST" for its id: the engine takes
 * the recorded attributes as read, with no decoding, no attrs_of and no
 * comparison. ctx also has an empty table `unchanged`: given to decode as
 * marks.hits, such objects are left out of its answer and
 * unchanged[id] = digest is set instead (no table per object); the
 * engine takes what it holds when the operation ends as though list or
 * read_many had answered "#unchanged:DIGEST" for each id (a list's are
 * managed objects, and the refresh that follows takes their rows without
 * asking again). A list's ctx.marks also holds its type's page marks,
 * { ["#" .. P] = record } (lua/xml.c): decode keeps one in
 * unchanged["#page:" .. P] when at least half an answer's items were
 * hits, and serves an answer with the same bytes from it, unparsed
 * (unchanged["#page:" .. P] = ""); the engine keeps a new record only
 * when every digest it names is one the run offered for the type. A
 * record begins with CAIRN_PAGE_RECORD_MAGIC. Objects decoded in full carry "#digest"; read_many returns
 * it in their attrs ("#digest" = digest, taken out by the engine) so that
 * the mark can be kept. So a read_marks module's attributes must be a
 * function of the object's bytes, the provider settings and the recorded
 * attributes alone (no other call), and it must require everything it
 * uses when it loads. aws.common does this for EC2 Describe items
 * (aws.read_result). A page mark keeps the listing answer's bytes, less
 * its unchanged items, in the state as they came: a module whose
 * listings can carry a secret must not opt in.
 *
 * An operation runs as a coroutine. When the module calls a function that
 * must wait (cairn.http.request, cairn.sleep, and everything built on them)
 * the coroutine yields a *request* to the C side, described as JSON:
 *   {"kind":"sleep","seconds":1.5}
 *   {"kind":"http","method":"POST","url":"https://...","headers":{"k":"v"},
 *    "body":"...","sigv4":"aws:amz:us-east-1:ec2", "service":"ec2",
 *    "action":"DescribeVpcs", "timeout":30}
 *   {"kind":"ssh","op":"exec","command":"...",...}   (cairn.ssh, lua/ssh.c;
 *    the requests of provisioner/ssh/ssh.h, sent to the task's host)
 * The scheduler performs it in its event loop and resumes the coroutine with
 * the result, also JSON:
 *   sleep -> null
 *   http  -> {"status":200,"headers":{"lower-case-name":"v"},"body":"..."}
 *            or {"error":"connection refused","curl_code":7}
 *   ssh   -> the answers of provisioner/ssh/ssh.h, or {"error":...}
 * and the Lua side returns it to the module as a table.
 *
 * A module's error (error(), a runtime error, a limit hit) fails the
 * operation: cairn_lua_op_resume returns CAIRN_OP_FAILED and sets a cairn
 * error whose message names the module file and line
 * ("modules/local/file.lua:42: cannot write /x: Permission denied").
 * error({code=..., message=...}) from a module is formatted as "code: message".
 *
 * Every operation has a wall-clock deadline (cairn_lua_op_set_timeout: the
 * module's `timeouts`, or the stack's per resource). Running Lua code is
 * stopped at it by the count hook; a C library call cannot outlast it by
 * much (pattern matching runs a step-counted matcher, patterns.c, that
 * checks the deadline; string.rep and every allocation are bounded by the
 * memory cap and check it every MiB); a wait (HTTP, sleep) is ended by the
 * scheduler, which aborts the operation (cairn_lua_op_abort). The same
 * checks stop everything at once after cairn_lua_interrupt (a signal).
 * Neither the instruction limit, nor a deadline, nor an interrupt can be
 * caught: pcall, xpcall (its message handler is not run once the operation
 * is being stopped), __close and error objects' metamethods all count.
 *
 * Isolation: each module file runs in its own _ENV; require("a.b") runs
 * the library once per module that needs it (a fresh instance per module
 * type: what one module changes in a library no other module sees); the
 * libraries, the `cairn` API and the string metatable are read-only.
 * Capabilities come from where a module was found, never from its name:
 * only local.* modules in the trusted directories (the ones cairn ships,
 * cairn_lua_set_trusted) get cairn.fs; a trusted module's require resolves
 * only among trusted directories, so a stack cannot shadow what the built-in
 * modules load. cairn.fs refuses every path that resolves (symlinks
 * followed) into cairn's own files (cairn_lua_protect: the state
 * directory, database and key).
 *
 * Conventions of this implementation (details in lua/json.c, lua/api.c):
 *  - JSON null: a null object member arrives in Lua as an absent key, a null
 *    array element as cairn.null; a module returns cairn.null for null.
 *    JSON arrays arrive as tables marked as arrays (cairn.json.array), so an
 *    empty one goes back as [] and not {}.
 *  - load, dofile, loadfile, string.dump, rawset and coroutine are absent;
 *    require("a.b") runs <dir>/a/b.lua once per requiring module type.
 *  - ctx.log is cairn.log. cairn.fs exists only for trusted local.* modules.
 *  - a failed operation's error class is CAIRN_ELIMIT (instruction or memory
 *    limit), CAIRN_ETIMEOUT (its deadline), CAIRN_EREMOTE
 *    (error({code=...})), CAIRN_EINVAL (a result that cannot be converted to
 *    JSON), else CAIRN_ERROR (interrupted: cairn_lua_op_abandoned).
 *  - the runtime is single-threaded and not re-entrant: do not resume an
 *    operation from inside the log callback. Free every op before the runtime.
 */
#ifndef CAIRN_LUA_RUNTIME_H
#define CAIRN_LUA_RUNTIME_H

/* The first line of a page mark's record (lua/xml.c makes them, the
 * engine checks them before it keeps one) */
#define CAIRN_PAGE_RECORD_MAGIC "cairn-page 1\n"

#include "base/error.h"
#include "base/value.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cairn_lua cairn_lua;
typedef struct cairn_lua_op cairn_lua_op;

typedef struct cairn_lua_limits {
	size_t mem_bytes;       /* whole state; 0 = default 256 MiB */
	long long instructions; /* per operation; 0 = default 200 million */
} cairn_lua_limits;

typedef enum {
	CAIRN_T_ANY = 0, CAIRN_T_STRING, CAIRN_T_NUMBER, CAIRN_T_BOOL, CAIRN_T_LIST, CAIRN_T_MAP,
} cairn_attr_type;

typedef struct cairn_attr_schema {
	char *name;
	cairn_attr_type type;
	bool required;
	bool computed;   /* set by the module (with !required: optional+computed if `optional`) */
	bool optional;   /* user may set it (true unless computed-only or required) */
	bool force_new;
	bool sensitive;
	bool write_only; /* the cloud never returns it (a password): read and
			  * import leave it out, so after an import the state
			  * has no value and the plan says why it sets it */
	bool watch;      /* a list of resource names: when one of them changes in an
			  * apply, so does this attribute (host.service's restart_on) */
	json_t *def;     /* default value or NULL */
	char *description;
	/* constraints (see the schema above); the default satisfies them */
	bool has_min, has_max;
	double min, max;
	bool integer;
	char *pattern;       /* as written, or NULL */
	regex_t *pattern_re; /* "^(pattern)$", compiled */
	json_t *enum_values; /* array of strings or numbers, or NULL */
	bool local_path;
} cairn_attr_schema;

enum {
	CAIRN_OPS_CREATE = 1 << 0, CAIRN_OPS_READ = 1 << 1, CAIRN_OPS_READ_MANY = 1 << 2,
	CAIRN_OPS_UPDATE = 1 << 3, CAIRN_OPS_DELETE = 1 << 4, CAIRN_OPS_LIST = 1 << 5,
	CAIRN_OPS_IMPORT = 1 << 6, CAIRN_OPS_RECOVER = 1 << 7,
	CAIRN_OPS_STATUS = 1 << 8, /* status(ctx, id, attrs): the object's health, for checks of kind module */
};

/* The kinds of operation a deadline is given for. */
typedef enum {
	CAIRN_TIMEOUT_CREATE = 0, CAIRN_TIMEOUT_READ, CAIRN_TIMEOUT_UPDATE, CAIRN_TIMEOUT_DELETE,
	CAIRN_TIMEOUT_N,
} cairn_timeout_kind;

/* "create", "read", "update", "delete" */
extern const char *const cairn_timeout_names[CAIRN_TIMEOUT_N];
/* The kind of an operation name ("read_many" -> CAIRN_TIMEOUT_READ). */
cairn_timeout_kind cairn_lua_timeout_kind(const char *op);

typedef struct cairn_schema {
	char *type;
	char *file;        /* the module's path */
	char *description;
	char *id_attr;     /* "id" unless the module says otherwise */
	cairn_attr_schema *attrs; /* sorted by name */
	size_t nattrs;
	unsigned ops;      /* CAIRN_OPS_* present in the module */
	size_t read_many_batch; /* most objects one read_many call is given (default 200);
				 * the engine runs several such calls in parallel */
	bool read_many_attrs; /* read_many's list carries the recorded attrs */
	json_t *read_many_keys; /* NULL, or the only attrs it carries (array of strings) */
	bool read_marks;   /* read_many may answer "#unchanged:DIGEST" (see read marks) */
	bool remote;       /* false: objects exist only in cairn's state (null, random):
			    * nothing outside can be lost in a crash, so no intents */
	double timeouts[CAIRN_TIMEOUT_N]; /* seconds: the module's `timeouts`, else defaults */
} cairn_schema;

/* The SHA-256 of every distinct chunk this runtime has loaded so far
 * (modules and what they required: name and text), in a stable order;
 * cairn drift's read marks are keyed by it. CAIRN_EINVAL when none, or
 * when one could not be kept. */
int cairn_lua_sources_digest(cairn_lua *rt, unsigned char out[32]);

/* Has a module of this runtime read the clock, randomness or a file
 * (cairn.time.now, cairn.random, cairn.fs)? What it did then is not a
 * function of its answers alone (cairn drift's environment memo). */
bool cairn_lua_saw_outside(const cairn_lua *rt);

/* The types of the modules this runtime has loaded so far, as a new
 * array of strings (cairn drift's environment memo loads them again to
 * digest their sources). */
json_t *cairn_lua_loaded_types(const cairn_lua *rt);

/* Create the sandbox. dirs: module search path, in order (copied). */
int cairn_lua_new(cairn_lua **out, const char *const *dirs, size_t ndirs, const cairn_lua_limits *lim);
void cairn_lua_free(cairn_lua *rt);

/* The directories of the search path from index `first` on hold trusted
 * modules (the ones cairn ships, or the operator's CAIRN_MODULES_PATH):
 * local.* modules found there get cairn.fs, and their require() searches
 * only there. Default: the last directory only. Call before loading. */
void cairn_lua_set_trusted(cairn_lua *rt, size_t first);

/* A full garbage collection of the modules' state: what the operations
 * left (cairn drift, after its refresh: the decoded answers) freed now, so
 * that what follows reuses the memory instead of growing the process. */
void cairn_lua_collect(cairn_lua *rt);
/* Stop whatever runs: the running operation (and every later resume, and
 * module loading) fails with "interrupted" at the next hook, pattern step
 * or allocation check. Async-signal-safe: call it from a signal handler. */
void cairn_lua_interrupt(cairn_lua *rt);
bool cairn_lua_interrupted(const cairn_lua *rt);

/* Load (once) the module for `type` and return its schema (owned by rt).
 * CAIRN_ENOTFOUND "unknown resource type 'x'" if no file; CAIRN_EINVAL for a
 * module that fails to load or has a malformed schema (message names the
 * file). */
int cairn_lua_schema(cairn_lua *rt, const char *type, const cairn_schema **out);
const cairn_attr_schema *cairn_schema_attr(const cairn_schema *s, const char *name);
/* Check a known, non-null value (already of a's type) against a's
 * constraints (min, max, integer, pattern, enum). CAIRN_EINVAL with a
 * message without position ("must be a whole number from 1 to 1024, got
 * -1"); the value is left out of it when a is sensitive or `sensitive`. */
int cairn_attr_check(const cairn_attr_schema *a, const json_t *v, bool sensitive);

/* cairn's own files, which no module may write: `path` (relative to the
 * working directory or absolute) and, when `tree`, everything under it;
 * else also the files whose names continue it with '-' (SQLite's -wal,
 * -shm, -journal). `what` names it in messages ("cairn's state
 * directory"). The fs functions of local.* modules refuse such paths. */
int cairn_lua_protect(cairn_lua *rt, const char *path, bool tree, const char *what);
/* CAIRN_EINVAL "points into WHAT (P)" (the caller names the path) if path (relative to the
 * working directory or absolute) is protected, after resolving symlinks
 * and '..' of the parts that exist; else 0. */
int cairn_lua_check_path(const cairn_lua *rt, const char *path);

/* A log line from a module (cairn.log.info(...)), delivered synchronously. */
typedef void (*cairn_lua_log_fn)(void *ud, const char *level, const char *address, const char *msg);
void cairn_lua_set_log(cairn_lua *rt, cairn_lua_log_fn fn, void *ud);

typedef enum { CAIRN_OP_DONE = 0, CAIRN_OP_YIELDED = 1, CAIRN_OP_FAILED = 2 } cairn_op_status;

/* Start an operation `op` ("create", "read", "read_many", "update",
 * "delete", "list", "import", "recover", "status") of the module for `type`, called as
 * module[op](ctx, args[0], args[1], ...). ctx is converted to a Lua table;
 * it carries at least env, stack, address, token, provider (object). args:
 * array (borrowed). The coroutine has not run yet: call resume with NULL. */
int cairn_lua_op_new(cairn_lua_op **out, cairn_lua *rt, const char *type, const char *op,
		     json_t *ctx, json_t *args);
/* Run until the operation finishes, fails or yields. `value` answers the
 * previous request (NULL the first time). Returns the status. */
cairn_op_status cairn_lua_op_resume(cairn_lua_op *op, json_t *value);
/* The operation's deadline: `seconds` from now (wall clock, monotonic).
 * The scheduler sets it right after cairn_lua_op_new; <= 0: none. */
void cairn_lua_op_set_timeout(cairn_lua_op *op, double seconds);
double cairn_lua_op_timeout(const cairn_lua_op *op);
/* Fail a YIELDED (or not yet started) operation without running it again:
 * its deadline passed while it waited, or the run is being stopped. The
 * message names the module's position and says why. Returns FAILED. */
typedef enum { CAIRN_ABORT_DEADLINE = 1, CAIRN_ABORT_INTERRUPT = 2 } cairn_abort_why;
cairn_op_status cairn_lua_op_abort(cairn_lua_op *op, cairn_abort_why why);
/* FAILED because of its deadline or an interrupt (not the module's own
 * error): what it was doing may be half done, so its intent stays. */
bool cairn_lua_op_abandoned(const cairn_lua_op *op);
/* When YIELDED: the request (borrowed until the next resume). */
json_t *cairn_lua_op_request(cairn_lua_op *op);
/* When DONE: the module's return value (borrowed; json null if it returned
 * nothing). Lua tables become objects, or arrays when they are sequences
 * (an empty table is an empty object unless created with cairn.json.array()). */
json_t *cairn_lua_op_result(cairn_lua_op *op);
/* When DONE, an operation whose ctx had marks: what ctx.unchanged held at
 * its end (id -> digest; borrowed), or NULL when it held nothing. */
const json_t *cairn_lua_op_unchanged(const cairn_lua_op *op);
void cairn_lua_op_free(cairn_lua_op *op);

/* When FAILED: the message (as set in the cairn error), the `code` of an
 * error({code=, message=}) (NULL otherwise), and a traceback of the
 * module's stack at the failure ("stack traceback:\n\tfile:line: in ...",
 * may be NULL). Borrowed from op. Additions by the Lua runtime's owner. */
const char *cairn_lua_op_error(const cairn_lua_op *op);
const char *cairn_lua_op_error_code(const cairn_lua_op *op);
const char *cairn_lua_op_traceback(const cairn_lua_op *op);

/* Names of modules found on the search path ("local.file", ...), sorted. */
int cairn_lua_types(cairn_lua *rt, char ***out, size_t *n);

#endif
