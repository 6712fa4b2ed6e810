/*
 * engine.h - one run of cairn against one environment of one stack.
 *
 * The engine owns everything a command needs: the loaded stack and overlay,
 * the resolved variables, the Lua runtime and the schemas of the types in
 * use, the resource graph, the state store and its rows, the instances
 * (resources expanded by count / for_each, plus orphans found only in
 * state), the event loop, and the evaluation root that expressions see.
 *
 * Folder provisioner/engine/: instances, graph, plan, apply, scheduler,
 * hosts (hosts.c: which machine an operation runs on). May use lang/,
 * lua/, aws/ (the provider whose signer it installs), ssh/ (the sessions
 * host operations go through), loop/, state/ and base/; never cli/. It returns data and errors; the opts.log
 * stream it is given is the only thing it writes to.
 *
 * Flow: cairn_engine_open (load + check, no cloud calls) -> optional
 * cairn_engine_refresh (module reads, batched) -> cairn_engine_plan (diff
 * per instance) -> cairn_engine_apply (scheduler) ; or cairn_engine_destroy.
 * plan.c writes plans as JSON and checks saved ones; apply.c executes
 * them; cli/render.c renders them for people.
 */
#ifndef CAIRN_ENGINE_H
#define CAIRN_ENGINE_H

#include "lang/config.h"
#include "graph.h"
#include "loop/loop.h"
#include "lua/runtime.h"
#include "ssh/ssh.h"
#include "state/lock.h"
#include "state/store.h"

#include <stdbool.h>
#include <stdio.h>

typedef enum {
	CAIRN_ACT_NOOP = 0,
	CAIRN_ACT_CREATE,
	CAIRN_ACT_UPDATE,
	CAIRN_ACT_REPLACE,
	CAIRN_ACT_DELETE,
} cairn_action;

const char *cairn_action_name(cairn_action a); /* "no-op", "create", ... */

typedef struct cairn_inst {
	char *address;
	size_t res;              /* index in stack->resources, or SIZE_MAX for an orphan */
	char *name;              /* config name */
	char *type;
	json_t *key;             /* count index / for_each key, or NULL */
	json_t *each_value;      /* for_each value, or NULL */
	const cairn_schema *schema;
	cairn_state_res *prior;  /* state row (borrowed from the engine), or NULL */
	json_t *current;         /* prior attrs after refresh; NULL if none / gone */
	bool gone;               /* refresh found it deleted outside cairn */
	bool deleting;           /* gone: being deleted still (a plan does not wait, see refreshed) */
	bool refreshed_changed;  /* refresh saw different attributes */
	json_t *desired;         /* evaluated properties with defaults */
	json_t *planned;         /* attributes as other resources see them during plan */
	cairn_action action;
	bool cbd;                /* replace with create_before_destroy */
	json_t *changes;         /* [{attribute, before, after, force_new, sensitive}] */
	json_t *sensitive;       /* attribute names that are sensitive */
	char *reason;            /* why (for orphans, replacements); may be NULL */
	size_t *deps;            /* instances this one depends on (config) */
	size_t ndeps;
	bool targeted;           /* included by --target / --exclude filtering */
	bool run_pending;        /* an update with nothing to change but a run due (read's _run) */
} cairn_inst;

/* What an apply or destroy tells the command line as it goes (opts.on_event):
 * an operation started, finished or failed, and TICK, about five times a
 * second while operations run, so that the command line can say which are
 * still running (progress lines). Every pointer is borrowed for the call. */
typedef enum { CAIRN_EV_START, CAIRN_EV_DONE, CAIRN_EV_FAILED, CAIRN_EV_TICK } cairn_event_kind;

typedef struct cairn_event {
	cairn_event_kind kind;
	const char *address;  /* the instance's address (NULL for TICK) */
	const char *label;    /* what the log lines name: the address, or "ADDRESS (old)"
			       * for the object a replacement deletes */
	const char *type;     /* the resource type */
	const char *action;   /* "create", "update", "replace", "delete", "forget" */
	const char *message;  /* FAILED: the error, redacted and escaped; else NULL */
} cairn_event;

typedef void (*cairn_event_fn)(void *ud, const cairn_event *ev);

typedef struct cairn_engine_opts {
	const char *dir;         /* stack directory (default ".") */
	const char *stack_file;  /* default DIR/stack.yaml */
	const char *state_file;  /* default DIR/.cairn/state.db */
	const char *env;
	json_t *var_overrides;   /* object, borrowed, may be NULL */
	int parallelism;         /* default 10 */
	bool refresh;            /* default true */
	bool for_write;          /* open the store for writing (apply, destroy, state mv...) */
	char **targets;  size_t ntargets;
	char **excludes; size_t nexcludes;
	double lock_timeout;     /* seconds */
	int lease;               /* seconds */
	FILE *log;               /* progress lines (stderr); NULL = quiet */
	bool verbose;
	bool no_state;           /* do not open the state store (validate) */
	bool ssh_accept_new;     /* accept (and record) the keys of hosts not yet known */
	bool lazy_rows;          /* rows' attributes parsed on first use (cairn drift;
				  * read them through cairn_state_res_attrs) */
	bool store_checked;      /* the state file has just passed this process's checks
				  * (CAIRN_STORE_CHECKED: no quick_check again) */
	cairn_event_fn on_event; /* apply / destroy progress (see cairn_event), or NULL */
	void *event_ud;
	bool check_stop;         /* a resource's check that fails outside a rollout and blue-green
				  * stops the apply and asks for the environment's rollback
				  * (summary "rollback_environment"; apply, not a rollback) */
	const char *env_from;    /* env is an ephemeral environment not yet recorded (env create):
				  * use this environment's overlay; NULL: see cairn_engine_open */
} cairn_engine_opts;

typedef struct cairn_engine {
	cairn_engine_opts opts;
	cairn_stack *stack;
	cairn_env_cfg *env;
	json_t *vars;
	json_t *sensitive_vars;  /* object name -> true */
	cairn_lua *lua;
	const cairn_schema **schemas;    /* per stack resource */
	json_t *tainted;         /* object res name -> array of sensitive prop names */
	json_t *each_sensitive;  /* object res name -> true: its for_each reads a
				  * sensitive value, so each.value is sensitive */
	cairn_graph *graph;
	const char **graph_names; /* borrowed by the graph */
	cairn_pos *graph_pos;
	size_t *order;           /* resources in dependency order */
	cairn_store *store;
	char *state_path;
	cairn_state_res *state;
	size_t nstate;
	cairn_intent *intents;
	size_t nintents;
	cairn_inst *insts;
	size_t ninsts, ainsts;
	json_t *index;           /* address -> instance index */
	json_t *root;            /* evaluation root */
	json_t *inputs;          /* files the expressions read: path -> fingerprint */
	json_t *secrets;         /* set of sensitive strings to redact from messages:
				  * object text -> true */
	cairn_loop *loop;
	char config_hash[65];
	int64_t serial;
	bool locked;
	bool planned;
	json_t *refreshed;       /* address -> attrs after refresh, or null if gone */
	json_t *deleting;        /* address -> true: null in refreshed, but found being deleted
				  * by a run that writes nothing (its read returned {_deleting =
				  * true}: aws.common); the apply waits such objects out */
	json_t *outputs;         /* planned/final output values */
	json_t *output_sensitive;
	cairn_ssh *ssh;          /* the run's SSH sessions (NULL without libssh2) */
	json_t *unreached;       /* host name -> why an apply's refresh could not reach it */
	char *env_base;          /* an ephemeral environment's base (whose overlay it uses), else NULL */
	json_t *env_overrides;   /* owned: opts.var_overrides of an ephemeral environment (its
				  * recorded values, then those given) */
	/* cairn drift's read marks (marks.c; lua/runtime.h), all NULL unless
	 * cairn_engine_read_marks was called */
	bool marks_on;           /* cairn_engine_read_marks ran */
	/* by row (e->state[i]), mark_nrows of them: the key its mark must
	 * have now ("" when its type keeps none), and the digest of the bytes
	 * its row was read from when a valid mark says so ("" otherwise);
	 * cairn_engine_mark_key / _mark_digest */
	struct cairn_row_mark {
		char key[65];
		char digest[65];
	} *mark_rows;
	size_t mark_nrows;
	const cairn_state_res *mark_state; /* the e->state they index */
	json_t *mark_offered;    /* type -> {digest: id}: what list and read_many get in ctx.marks */
	json_t *mark_new;        /* address -> [key, digest]: marks this run found to keep */
	/* e->refreshed[address] may be CAIRN_AS_RECORDED (json true): a read
	 * mark took the object as its row records (the row perhaps not parsed:
	 * cairn_engine_refreshed gives the attributes) */
	json_t *listed_unchanged;/* id -> digest: objects the drift listing found unchanged
				  * (ctx.unchanged of its list calls; NULL: none) */
	json_t *plan_memo;       /* drift's plan as a run kept it (marks.c): {key, inputs,
				  * addresses, unapplied}, or NULL */
	json_t *mark_pages;      /* page mark address -> true once a listing used it
				  * (false: read, not used yet) */
	unsigned char mark_base[32]; /* the marks' key base (marks.c: env_digest) */
	bool mark_base_ok;
	size_t mark_used;        /* rows the refresh took as recorded by their mark */
	size_t pages_used;       /* listing answers served by their page marks */
	bool mark_keep;          /* the run keeps new marks: hash what is read in full too */
} cairn_engine;

/* Load and check the stack for opts->env: config, overlay (ENV.yaml; or,
 * for an environment without one, an ephemeral environment recorded in the
 * state (state/envs.h): its base's overlay, its recorded variable values
 * under opts->var_overrides), variables,
 * module schemas, properties against schemas, references, graph; open the
 * store if it exists (read-only unless for_write). A missing store is an
 * empty state, and e->store stays NULL until cairn_engine_lock creates it,
 * so that a command refused before the lock leaves no state behind. */
int cairn_engine_open(cairn_engine **out, const cairn_engine_opts *opts);
void cairn_engine_free(cairn_engine *e);

/* engine/marks.c: cairn drift's read marks (lua/runtime.h). Load the
 * marks of e's environment from the store and keep those whose key still
 * holds: the key is the digest of the module sources loaded, the
 * environment's provider settings and stack, the type and the row's
 * stored text. A state without marks (or a store that cannot give them)
 * is no marks. keep: the run will keep new ones (a recorded drift run);
 * else objects are hashed only where a mark may be used. */
int cairn_engine_read_marks(cairn_engine *e, bool keep);
/* The key r's mark must have now, and the digest of its valid mark: NULL
 * when none (r: a row of e->state). */
const char *cairn_engine_mark_key(const cairn_engine *e, const cairn_state_res *r);
const char *cairn_engine_mark_digest(const cairn_engine *e, const cairn_state_res *r);
/* {digest: id} of type's rows with a valid mark, or NULL (not marked);
 * with the page marks kept for type's listings: {"#" PAGE: record}
 * (lua/xml.c). */
const json_t *cairn_engine_marks_offered(const cairn_engine *e, const char *type);
/* Page marks (lua/xml.c) in hits, the ctx.unchanged of a type's listing:
 * "#page:P" -> a new record (kept when every digest in it is one the run
 * offered for type) or "" (a kept page served); each such key is taken
 * out of hits. */
void cairn_engine_take_pages(cairn_engine *e, const char *type, json_t *hits);
/* At the end of a refresh whose listings ran: the page marks read and not
 * used are to be dropped (null in e->mark_new). */
void cairn_engine_pages_done(cairn_engine *e);
#define CAIRN_PAGE_MARK "#page:"

/* Drift's plan, kept (cairn drift, drift.c). Its plan is desired vs
 * recorded: no cloud, so a function of what this key digests (the cairn
 * executable, config_hash, the module sources, the variables but
 * sensitive ones, env, stack, directory, the serial and every row's
 * address, type, id, text and sensitive list) and of the files the
 * configuration read (kept with it, checked apart). The read marks'
 * table keeps the last one under the address CAIRN_PLAN_MEMO; the marks'
 * reading puts it in e->plan_memo. -1 when there is no key (pending
 * operations, an unreadable executable). */
#define CAIRN_PLAN_MEMO "#plan"
#define CAIRN_AS_RECORDED json_true()
/* What the refresh found for row (NULL: not refreshed; json null: gone;
 * an object: the attributes read, or the row's own when a mark took it
 * as recorded). Borrowed. */
json_t *cairn_engine_refreshed(const cairn_engine *e, const cairn_state_res *row);
int cairn_engine_plan_key(cairn_engine *e, char out[65]);
/* Drift's result for the environment, kept (drift.c): a function of the
 * plan key's inputs, the provider settings and the answers to the
 * requests the run made (kept with it, checked apart). This key digests
 * the plan key, the provider settings (as the read marks' key) and what
 * (a short text of the run's options that change the result). -1 as the
 * plan key. The read marks' table keeps the last one under CAIRN_ENV_MEMO. */
int cairn_engine_env_key(cairn_engine *e, const char *what, char out[65]);
/* Fix the read marks' key base now (it digests the module sources loaded
 * so far): before loading modules the run would not load first (the
 * memo's), so that the marks' keys do not depend on it. */
void cairn_engine_mark_base(cairn_engine *e);
#define CAIRN_ENV_MEMO "#env"
/* Make again the requests of a capture (loop.h, cairn_loop_captured:
 * [[request, digest], ...]) and compare their answers' digests: *same is
 * true when every one was answered as before. Stops at the first that
 * differs or fails. 0, or an error (a signal: interrupted). */
int cairn_engine_replay(cairn_engine *e, const json_t *requests, bool *same);
/* Is the request (cairn_loop_http's) a read: a GET or HEAD without an
 * action, or one whose single Action (AWS Query: in the URL or the form
 * body) is a Describe, List or Get? A replay makes no other: whoever can
 * write the state must not have a drift job send anything else signed. */
bool cairn_engine_request_is_read(const json_t *req);
/* May a plan of e be kept at all: no value that the configuration marks
 * sensitive (a sensitive attribute set, a property reading a sensitive
 * value): the plan adds those to what reports redact. */
bool cairn_engine_plan_memo_allowed(const cairn_engine *e);

/* engine/ephemeral.c: load e->env for e->opts.env as described above. */
int cairn_engine__load_env(cairn_engine *e);

/* Take the environment lock (for_write engines), first creating the store
 * if there was none; releases in free. */
int cairn_engine_lock(cairn_engine *e, const char *operation);

/* Ask the modules for the current attributes of every recorded resource
 * (read_many per type where the module has it). */
int cairn_engine_refresh(cairn_engine *e);

/* Compute the plan. `destroy`: plan the deletion of everything. `forced`:
 * object address -> {action, attributes:[...]} from a saved plan (or NULL). */
int cairn_engine_plan(cairn_engine *e, bool destroy, json_t *forced);

/* Re-read state rows and intents from the store. */
int cairn_engine_reload_state(cairn_engine *e);
/* Lock heartbeat: returns whether the engine holds a lock, with its period. */
int cairn_engine_heartbeat_every(cairn_engine *e, double *every, int (**fn)(void *));
/* Make an instance's attributes visible to expressions. */
void cairn_engine_publish(cairn_engine *e, const cairn_inst *in, json_t *attrs);
/* The ctx object passed to module operations. */
json_t *cairn_engine_op_ctx(cairn_engine *e, const char *address, const char *token);

/* Evaluate an instance's properties with defaults and types applied. */
int cairn_engine_desired(cairn_engine *e, cairn_inst *in, const cairn_res_cfg *res, json_t **out);
/* Reconcile intents left by an interrupted run (needs the lock). */
int cairn_engine_recover(cairn_engine *e, int64_t rev);

/* Import an existing object as ADDRESS (planned instance without state). */
int cairn_engine_import(cairn_engine *e, const char *address, const char *id);

/* Counts of the plan's actions. */
void cairn_engine_counts(const cairn_engine *e, int *add, int *change, int *destroy);

/* Check prevent_destroy for every planned deletion / replacement. */
int cairn_engine_check_prevent_destroy(cairn_engine *e);

/* Execute the plan. Fills *summary with {done:[...], failed:[...],
 * skipped:[...]} addresses. Returns 0 if everything succeeded, CAIRN_ERROR
 * if something failed (the summary says what). */
int cairn_engine_apply(cairn_engine *e, const char *command, json_t **summary);

/* Evaluate the stack's outputs with the current root (after apply or plan). */
int cairn_engine_outputs(cairn_engine *e, json_t **values, json_t **sensitive);

/* Evaluate a resource-level expression for an instance (count/each set). */
int cairn_engine_eval(cairn_engine *e, const cairn_expr *x, const cairn_inst *in, json_t **out);

/* Replace every secret in msg by "(sensitive)"; returns malloc'd text. */
char *cairn_engine_redact(const cairn_engine *e, const char *msg);
/* Add to the secrets redacted from every message the values of the
 * attributes of attrs named in names (an array of attribute names): values
 * that became known during the run (a generated password, a property
 * evaluated at apply time). */
void cairn_engine_add_secrets(cairn_engine *e, const json_t *attrs, const json_t *names);
/* The names of the sensitive attributes of an instance of resource `name`
 * (schema s): the schema's sensitive ones and the properties whose
 * expressions read a sensitive value. New array. */
json_t *cairn_engine_sensitive_names(const cairn_engine *e, const cairn_schema *s, const char *name);
/* msg with what a terminal would act on escaped: newline as \n, tab \t,
 * other C0 controls, DEL and C1 controls as \xNN (malloc'd). For text a
 * module chose (log lines, errors) on its way to a terminal. */
char *cairn_engine_escape(const char *msg);
/* Both: redacted, then escaped (malloc'd, NULL if out of memory). */
char *cairn_engine_clean(const cairn_engine *e, const char *msg);

/* The stack's `timeouts` of the resource an address belongs to (seconds
 * per cairn_timeout_kind, 0 = the module's), or NULL for an orphan. */
const double *cairn_engine_timeouts(const cairn_engine *e, const char *address);

/* A Lua runtime with cairn's module search path: STACK_DIR/modules first
 * (the stack's own, untrusted), then CAIRN_MODULES_PATH (':'-separated) or
 * the modules cairn ships (trusted). The engine's own adds its log and the
 * state paths it denies; drift's parity uses it bare, for schemas. */
int cairn_engine_new_lua(cairn_lua **out, const char *stack_dir);

/* The instance of an address, or NULL. */
cairn_inst *cairn_engine_inst(cairn_engine *e, const char *address);

/* plan.c */
/* Is the attribute name of in sensitive (its value never shown)? */
bool cairn_inst_is_sensitive(const cairn_inst *in, const char *name);
/* JSON plan document (docs/plan-json.md). */
int cairn_plan_json(cairn_engine *e, json_t **out);
/* The text of a saved plan (plan -out): the JSON document with "destroy"
 * and a "mac", an HMAC-SHA256 over its canonical form keyed by the state
 * key (state/secret.h: $CAIRN_STATE_KEY, or the key file beside the state
 * database, created 0600 with its directory if missing). extra, when not
 * NULL, is an object whose members are added to the document before the
 * MAC (a rollback's "rollback" member). *out is malloc'd. */
int cairn_plan_save(cairn_engine *e, const json_t *extra, char **out);
/* Does the saved plan doc (from the file `path`) carry a MAC that verifies
 * under the key of the state at state_path? 0, or CAIRN_EINVAL saying it
 * was edited. (cairn_plan_load_saved checks it too; this is for what must
 * be checked before an engine is opened: a rollback plan's directory.) */
int cairn_plan_check_mac(const char *state_path, json_t *doc, const char *path);
/* Forced actions from a saved plan document `path` holds, after checking,
 * in this order, that it is the plan as written (its MAC verifies under
 * this state's key: CAIRN_EINVAL "was edited" otherwise), that no
 * interrupted run left pending intents, and that the configuration, the
 * files it read and the state serial are those it was made against
 * (CAIRN_ESTALE, naming what changed). */
int cairn_plan_load_saved(cairn_engine *e, json_t *doc, const char *path, json_t **forced);
int cairn_plan_verify_saved(cairn_engine *e, json_t *forced);

/* Address of an instance: name, name[3], name["key"]. malloc'd. */
char *cairn_address(const char *name, const json_t *key);

/* Run Lua operations concurrently (sched.c). */
typedef struct cairn_sched cairn_sched;
typedef struct cairn_task cairn_task;

/* hosts.c: which machine an operation runs on (see hosts.c). */
/* ssh.host (an entry of hosts:) or a host.* type. */
bool cairn_engine_is_host_type(const char *type);
/* The name of the host an object of type runs on: its own address for an
 * ssh.host, attrs.host for a host.* type; NULL for other types. */
const char *cairn_engine_host_of(const char *type, const char *address, const json_t *attrs);
/* The connection of host `name` (provisioner/ssh/ssh.h's shape), new. */
int cairn_engine_host_spec(cairn_engine *e, const char *name, json_t **out);
/* Before an operation of (type, address, attrs) starts on task t: its
 * host's connection into *slot (owned by the caller, replaced), t->host
 * pointed at it, and ctx.host = {name, address, port, user, become}.
 * Nothing for types that are not hosts'. */
int cairn_engine_task_host(cairn_engine *e, cairn_task *t, json_t **slot, json_t *ctx, const char *type,
			   const char *address, const json_t *attrs);
/* Why the host of an object (type, address, attrs) could not be
 * refreshed in this apply, or NULL: its operations fail with it. */
const char *cairn_engine_unreached(const cairn_engine *e, const char *type, const char *address, const json_t *attrs);
/* A planned ssh.host's name (what `host: web[0]` reads) is its address. */
void cairn_engine_name_host(cairn_engine *e, cairn_inst *in);
/* After planning an instance: names a host (above); a host that moves to
 * another machine (cairn_engine_host_moves) is no longer "unreached" for
 * what an apply's refresh could not reach at its old address. */
void cairn_engine_plan_host(cairn_engine *e, cairn_inst *in);
/* During a plan: the name of the host an object of a host.* type (its
 * desired attrs, its recorded ones) runs on, when that host goes to
 * another machine in this plan (its address or port changes or is known
 * only after apply), as an instance planned already; else NULL (not a
 * host.* type, another host, a host new to the state). The object is made
 * again there. */
const char *cairn_engine_host_moves(cairn_engine *e, const char *type, const json_t *attrs,
				    const json_t *recorded);
/* For a refresh: the name of a host that the object (a state row) needs
 * and that is not in the state (forgotten, or its creation failed), for a
 * host.* type its host, for an ssh.host its bastion; NULL when the state
 * has every host it goes through, or it is not a host type. */
const char *cairn_engine_host_unrecorded(const cairn_engine *e, const char *type, const char *address,
					 const json_t *attrs);
/* `host:` and `bastion:` name hosts (ssh.host), not other resources. */
int cairn_engine_check_hosts(cairn_engine *e);

/* Signals (engine.c). From cairn_engine_lock until cairn_engine_free, and
 * during every scheduler run, SIGINT and SIGTERM stop the run: the running
 * operations are abandoned with their intents kept (their waits end at
 * once), nothing new starts, and the command fails; the lock is released
 * by cairn_engine_free. on/off nest. */
void cairn_engine_signals_on(cairn_engine *e);
void cairn_engine_signals_off(cairn_engine *e);
/* The signal e received (SIGINT, SIGTERM), or 0. */
int cairn_engine_signal(const cairn_engine *e);
const char *cairn_engine_signal_name(int sig);
/* cairn_sched_run with the signals on and wired to the scheduler, and the
 * run's SSH sessions (e->ssh) for cairn.ssh requests. */
int cairn_engine_run_sched(cairn_engine *e, cairn_sched *s);
/* Set the "interrupted by SIGTERM: ..." error; returns CAIRN_ERROR. */
int cairn_engine_interrupted_error(const cairn_engine *e);

#endif
