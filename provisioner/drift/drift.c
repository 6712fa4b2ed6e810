/*
 * drift.c - one drift run: every environment read at once, each in its own
 * thread with its own engine, and the findings put together in one
 * document (see drift.h for why threads and not one shared loop).
 *
 * An environment is read in this order: open (stack, overlay, modules,
 * read-only state); its lock row (a live holder: "applying", not read);
 * the first list calls for unmanaged objects (the managed containers'
 * contents, which the refresh then takes its objects from); the refresh
 * (batched read_many); the rest of the search for unmanaged objects;
 * then a plan against the *recorded* state (the refresh set aside), whose
 * changes are exactly the configuration not yet applied. The refreshed
 * attributes against the recorded ones give what changed outside cairn.
 */
#include "drift_int.h"
#include "state/drift.h"

#include <errno.h>
#include <libgen.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ENVS_AT_ONCE 8

static char *path_join(const char *dir, const char *name)
{
	char *out = NULL;

	if (name[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
		return strdup(name);
	if (asprintf(&out, "%s/%s", dir, name) < 0)
		return NULL;
	return out;
}

static int load_stack(const cairn_drift_opts *o, cairn_stack **out)
{
	char *file = o->stack_file ? strdup(o->stack_file) : path_join(o->dir ? o->dir : ".", "stack.yaml");
	int rc;

	if (!file)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_stack_load(out, file);
	free(file);
	return rc;
}

int cairn_drift_all_envs(const cairn_drift_opts *o, char ***out, size_t *n)
{
	cairn_stack *st = NULL;
	int rc;

	if ((rc = load_stack(o, &st)) == 0)
		rc = cairn_env_list(out, n, st);
	cairn_stack_free(st);
	return rc;
}

json_t *cairn_drift_doc(const cairn_drift_run *r)
{
	return r->doc;
}

/* ---- one environment ---- */

static void set_error(json_t *res, const cairn_engine *e)
{
	const cairn_error *err = cairn_error_last();
	char msg[4096];
	char *red;

	cairn_error_format(err, msg, sizeof(msg));
	red = e ? cairn_engine_redact(e, msg) : NULL;
	json_object_set_new(res, "status", json_string("error"));
	json_object_set_new(res, "error", json_string(red ? red : msg[0] ? msg : "unknown error"));
	free(red);
}

/* The lock row: a live holder means a run (an apply) is under way. */
static bool applying(cairn_engine *e, json_t *res)
{
	cairn_lock_info *li = NULL;
	int rc;

	if (!e->store)
		return false;
	rc = cairn_lock_get(e->store, e->opts.env, &li);
	if (rc == 0)
		json_object_set_new(res, "lock", json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "operation", li->operation,
			"holder", li->holder, "host", li->host, "pid", (json_int_t)li->pid, "since", (json_int_t)li->since,
			"expires", (json_int_t)li->expires));
	cairn_lock_info_free(li);
	cairn_error_clear();
	return rc == 0;
}

/* Changed and deleted outside cairn: every state row against its refresh. */
static int outside_changes(cairn_engine *e, json_t *refreshed, json_t *findings, size_t *managed)
{
	size_t i;
	int rc;

	for (i = 0; i < e->nstate; i++) {
		const cairn_state_res *row = &e->state[i];
		json_t *cur = json_object_get(refreshed, row->address);
		const cairn_schema *s = NULL;
		const cairn_res_cfg *cfg = cairn_stack_resource(e->stack, row->name);

		if ((rc = cairn_lua_schema(e->lua, row->type, &s)) != 0)
			return rc;
		if (!cur)
			continue;
		if (json_is_null(cur)) {
			json_t *f = cairn_drift__finding("deleted", row->address, row->type, row->id, NULL);

			json_object_set_new(f, "reason", json_string("recorded in the state, gone from the cloud"));
			json_array_append_new(findings, f);
			continue;
		}
		if (s->remote)
			(*managed)++;
		if (json_is_true(cur)) /* a read mark's: as recorded, nothing changed */
			continue;
		if (cfg && strcmp(cfg->type, row->type) != 0)
			cfg = NULL;
		if ((rc = cairn_drift__changed(findings, row, s, cur, row->sensitive, cfg)) != 0)
			return rc;
	}
	return 0;
}

/* What parity compares: per address, the configuration's values and the
 * cloud's (or the recorded ones when the refresh did not see it). */
static json_t *parity_data(cairn_engine *e, json_t *refreshed)
{
	json_t *out = json_object();
	size_t i;

	for (i = 0; i < e->ninsts; i++) {
		const cairn_inst *in = &e->insts[i];
		json_t *cur = in->prior ? json_object_get(refreshed, in->address) : NULL;
		bool exists;

		if (json_is_true(cur)) /* a read mark's: as recorded */
			cur = NULL;
		exists = in->prior && !(cur && json_is_null(cur));

		json_object_set_new(out, in->address, json_pack("{s:s,s:b,s:b,s:O?,s:O?,s:O}", "type", in->type,
			"config", in->res != SIZE_MAX, "exists", exists,
			"desired", in->res != SIZE_MAX ? in->desired : NULL,
			"actual", exists ? (cur ? cur : cairn_state_res_attrs(in->prior)) : NULL,
			"sensitive", in->sensitive ? in->sensitive : json_array()));
	}
	return out;
}

/* Every address the run looked at, sorted: the plan's instances (the
 * configuration's and the state's), or the state's rows alone. */
static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *addresses(cairn_engine *e, bool planned)
{
	size_t n = planned ? e->ninsts : e->nstate, i;
	const char **v = malloc((n + 1) * sizeof(*v));
	json_t *out = json_array();

	if (!v)
		return out;
	for (i = 0; i < n; i++)
		v[i] = planned ? e->insts[i].address : e->state[i].address;
	qsort(v, n, sizeof(*v), by_text);
	for (i = 0; i < n; i++)
		json_array_append_new(out, json_string(v[i]));
	free(v);
	return out;
}

static void count_findings(json_t *res, json_t *findings)
{
	json_t *per = json_object(), *f, *counts;
	static const char *const kinds[] = { "changed", "deleted", "unapplied", "unmanaged" };
	size_t i, ignored = 0, active = 0;

	for (i = 0; i < 4; i++)
		json_object_set_new(per, kinds[i], json_object());
	json_array_foreach(findings, i, f) {
		const char *kind = json_string_value(json_object_get(f, "kind"));
		const char *addr = json_string_value(json_object_get(f, "address"));
		json_t *set = json_object_get(per, kind);
		cairn_buf subj = CAIRN_BUF_INIT;

		if (json_object_get(f, "ignored")) {
			ignored++;
			continue;
		}
		active++;
		if (!set)
			continue;
		if (addr)
			cairn_buf_puts(&subj, addr);
		else
			cairn_buf_printf(&subj, "%s:%s", json_string_value(json_object_get(f, "type")),
					 json_string_value(json_object_get(f, "id")));
		json_object_set_new(set, cairn_buf_cstr(&subj), json_true());
		cairn_buf_release(&subj);
	}
	counts = json_object();
	for (i = 0; i < 4; i++)
		json_object_set_new(counts, kinds[i], json_integer((json_int_t)json_object_size(json_object_get(per, kinds[i]))));
	json_object_set_new(counts, "ignored", json_integer((json_int_t)ignored));
	json_object_set_new(counts, "findings", json_integer((json_int_t)active));
	json_object_set_new(res, "counts", counts);
	json_object_set_new(res, "status", json_string(active ? "drift" : "clean"));
	json_decref(per);
}

/* Findings in reading order: by resource (unmanaged objects last), then
 * deleted, changed, not applied, then by attribute. */
static int kind_rank(const json_t *f)
{
	static const char *const order[] = { "deleted", "changed", "unapplied", "unmanaged" };
	const char *k = json_string_value(json_object_get(f, "kind"));
	int i;

	for (i = 0; i < 4; i++)
		if (k && !strcmp(k, order[i]))
			return i;
	return 4;
}

static int finding_cmp(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	const char *aa = json_string_value(json_object_get(a, "address")), *ba = json_string_value(json_object_get(b, "address"));
	const char *at, *bt;
	int c;

	if (!aa != !ba)
		return aa ? -1 : 1;
	if (aa && (c = strcmp(aa, ba)) != 0)
		return c;
	if (!aa) {
		at = json_string_value(json_object_get(a, "key"));
		bt = json_string_value(json_object_get(b, "key"));
		if ((c = strcmp(at ? at : "", bt ? bt : "")) != 0)
			return c;
	}
	if ((c = kind_rank(a) - kind_rank(b)) != 0)
		return c;
	at = json_string_value(json_object_get(a, "attribute"));
	bt = json_string_value(json_object_get(b, "attribute"));
	return strcmp(at ? at : "", bt ? bt : "");
}

static void sort_findings(json_t *findings)
{
	size_t n = json_array_size(findings), i;
	json_t **v = malloc((n + 1) * sizeof(*v));

	if (!v)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(findings, i));
	qsort(v, n, sizeof(*v), finding_cmp);
	json_array_clear(findings);
	for (i = 0; i < n; i++)
		json_array_append_new(findings, v[i]);
	free(v);
}

/* A row whose attributes did not parse when they were first read (rows
 * are parsed on first use, eo.lazy_rows): an error of the environment. */
static int damaged_row(const cairn_engine *e)
{
	size_t i;

	for (i = 0; i < e->nstate; i++)
		if (e->state[i].damaged)
			return cairn_error_set(CAIRN_ECORRUPT, "resource '%s' of environment '%s' has a damaged row "
					       "(its attributes are not a JSON object)", e->state[i].address, e->opts.env);
	return 0;
}

/* Do the files a kept plan's configuration read still read the same? */
static bool inputs_hold(const json_t *inputs)
{
	const char *path;
	json_t *fp;
	char now[96];

	if (!json_is_object(inputs))
		return false;
	json_object_foreach((json_t *)inputs, path, fp)
		if (!json_is_string(fp) || !cairn_file_unchanged(path, json_string_value(fp), now, sizeof(now)))
			return false;
	return true;
}

/*
 * The configuration not yet applied: drift's plan is desired vs recorded
 * (no cloud), so a recorded run keeps it, with its key (engine.h,
 * cairn_engine_plan_key) and the files the configuration read, in the
 * read marks' table; the next run whose key is the same and whose files
 * read the same takes it instead of planning. Not with --parity (it
 * reads the plan's instances) nor when a sensitive value reaches the
 * configuration (the plan adds it to what the reports redact).
 * *addresses: the instances' addresses when the plan was taken so.
 */
static int plan_or_memo(cairn_drift_run *r, drift_env *de, cairn_engine *e, json_t *findings, json_t **addrs)
{
	const cairn_drift_opts *o = &r->opts;
	const json_t *m = e->plan_memo;
	bool keep = !o->parity && e->marks_on && cairn_engine_plan_memo_allowed(e);
	size_t n0 = json_array_size(findings), i;
	char key[65];
	json_t *f, *mine, *memo;
	int rc;

	*addrs = NULL;
	if (keep && cairn_engine_plan_key(e, key) != 0)
		keep = false;
	if (keep && m && !strcmp(json_string_value(json_object_get(m, "key")), key) &&
	    json_is_array(json_object_get(m, "addresses")) && json_is_array(json_object_get(m, "unapplied")) &&
	    inputs_hold(json_object_get(m, "inputs"))) {
		json_array_foreach(json_object_get(m, "unapplied"), i, f)
			json_array_append_new(findings, json_deep_copy(f));
		*addrs = json_incref(json_object_get(m, "addresses"));
		if (o->verbose && o->log)
			fprintf(o->log, "cairn: %s: the configuration not yet applied as the last run found it "
				"(the same configuration, modules and state: not planned again)\n", de->name);
		return 0;
	}
	if ((rc = cairn_engine_plan(e, false, NULL)) != 0 || (rc = cairn_drift__unapplied(findings, e)) != 0 ||
	    (rc = damaged_row(e)) != 0)
		return rc;
	if (!keep || !o->record || !de->marks)
		return 0;
	/* kept redacted: the state holds no secret in clear */
	mine = json_array();
	for (i = n0; i < json_array_size(findings); i++)
		json_array_append(mine, json_array_get(findings, i));
	memo = json_pack("{s:O,s:o,s:o}", "inputs", e->inputs, "addresses", addresses(e, true),
			 "unapplied", cairn_drift__redact(e, mine));
	json_decref(mine);
	if (memo && (!m || strcmp(json_string_value(json_object_get(m, "key")), key) ||
		     !json_equal(json_object_get(m, "addresses"), json_object_get(memo, "addresses")) ||
		     !json_equal(json_object_get(m, "unapplied"), json_object_get(memo, "unapplied")) ||
		     !json_equal(json_object_get(m, "inputs"), json_object_get(memo, "inputs")))) {
		char *text = json_dumps(memo, JSON_COMPACT | JSON_SORT_KEYS);

		if (text)
			json_object_set_new(de->marks, CAIRN_PLAN_MEMO, json_pack("[s,s]", key, text));
		free(text);
	}
	json_decref(memo);
	return 0;
}

/*
 * The environment's memo. A run's result for an environment is a function
 * of what the env key digests (engine.h: the configuration, the modules,
 * the state, the provider settings) and of the answers to the requests it
 * made. A complete recorded run keeps, in the read marks' table under
 * CAIRN_ENV_MEMO, those requests with their answers' digests (loop.h,
 * cairn_loop_capture) and its result: the findings (redacted, before the
 * ignore rules, which are applied at each run), the addresses and the
 * coverage counts. The next run with the same key and the same files read
 * by the configuration makes those requests again, all at once, and when
 * every answer is the one the last run got (but its request id), takes
 * that result: nothing is decoded, compared or planned. The first answer
 * that differs ends the replay, and the environment is read as always.
 *
 * Not kept (nor taken): with --parity or --no-env-memo, pending
 * operations, a sensitive value in the configuration (as the kept plan),
 * a type of the local provider (it reads files, not answers), a module
 * that read the clock, randomness or a file, anything that went through
 * the loop but HTTP (SSH: hosts), a request that failed without an
 * answer, an error, a request carrying a value the state holds as
 * sensitive, or one that is not a read. The memo is sealed with the
 * state's key (state/drift.h: its requests go out signed, so whoever can
 * write the state without the key must not be able to forge one), and a
 * replay refuses anything but reads (engine.h) all the same.
 */
#define MEMO_WHAT(o) ((o)->unmanaged ? "drift: managed and unmanaged" : "drift: managed only")

static bool memo_possible(const cairn_drift_run *r, const cairn_engine *e)
{
	const cairn_drift_opts *o = &r->opts;
	size_t i;

	if (!o->env_memo || o->parity || e->nintents || !cairn_engine_plan_memo_allowed(e))
		return false;
	for (i = 0; i < e->stack->nresources; i++)
		if (!strncmp(e->stack->resources[i].type, "local.", 6))
			return false;
	for (i = 0; i < e->nstate; i++)
		if (!strncmp(e->state[i].type, "local.", 6))
			return false;
	return true;
}

/* 1: the memo's result is this run's (*findings, *addrs, the counts set);
 * 0: read the environment; <0: an error (a signal). */
static int memo_take(cairn_drift_run *r, drift_env *de, cairn_engine *e, json_t **findings, json_t **addrs,
		     size_t *managed, size_t *unmanaged)
{
	char *key = NULL, *sealed = NULL, *text = NULL, now[65];
	json_t *m = NULL, *t;
	size_t i;
	bool same = false;
	int rc = 0;

	if (cairn_store_read_mark(e->store, de->name, CAIRN_ENV_MEMO, &key, &sealed) != 0 || !key ||
	    cairn_store_unseal_text(e->store, sealed, &text) != 0) {
		cairn_error_clear();
		goto out;
	}
	if (!(m = json_loads(text, 0, NULL)) || !json_is_array(json_object_get(m, "types")) ||
	    !json_is_array(json_object_get(m, "requests")) || !json_is_array(json_object_get(m, "findings")) ||
	    !json_is_array(json_object_get(m, "addresses")) || !json_is_integer(json_object_get(m, "managed")) ||
	    !json_is_integer(json_object_get(m, "unmanaged")))
		goto out;
	/* the modules the run loaded, so that the key digests their sources
	 * (the read marks' key, of what the configuration alone loads, first) */
	cairn_engine_mark_base(e);
	json_array_foreach(json_object_get(m, "types"), i, t) {
		const cairn_schema *sch;

		if (!json_is_string(t) || cairn_lua_schema(e->lua, json_string_value(t), &sch) != 0) {
			cairn_error_clear();
			goto out;
		}
	}
	if (cairn_engine_env_key(e, MEMO_WHAT(&r->opts), now) != 0 || strcmp(now, key) ||
	    !inputs_hold(json_object_get(m, "inputs")))
		goto out;
	if ((rc = cairn_engine_replay(e, json_object_get(m, "requests"), &same)) != 0 || !same)
		goto out;
	/* taken from the memo's document, which this function lets go */
	*findings = json_incref(json_object_get(m, "findings"));
	*addrs = json_incref(json_object_get(m, "addresses"));
	*managed = (size_t)json_integer_value(json_object_get(m, "managed"));
	*unmanaged = (size_t)json_integer_value(json_object_get(m, "unmanaged"));
	rc = 1;
	if (r->opts.verbose && r->opts.log)
		fprintf(r->opts.log, "cairn: %s: every answer (%zu requests) as the last run got it: its result "
			"taken again (environment memo: nothing decoded or compared)\n", de->name,
			json_array_size(json_object_get(m, "requests")));
out:
	json_decref(m);
	free(key);
	free(sealed);
	free(text);
	return rc < 0 ? -1 : rc;
}

/* Does any request carry a value the state holds as sensitive, or is it
 * not a read (a replay would refuse it)? */
static bool requests_unkeepable(const cairn_engine *e, const json_t *requests)
{
	const json_t *pair;
	size_t i;

	json_array_foreach(requests, i, pair) {
		char *t, *red;
		bool clear;

		if (!cairn_engine_request_is_read(json_array_get(pair, 0)))
			return true;
		if (!(t = json_dumps(json_array_get(pair, 0), JSON_COMPACT | JSON_SORT_KEYS)))
			return true;
		red = cairn_engine_redact(e, t);
		clear = red && !strcmp(red, t);
		free(red);
		free(t);
		if (!clear)
			return true;
	}
	return false;
}

/* After a complete run: keep its memo (kept: the memo's findings, redacted,
 * before the ignore rules), or drop the one it could not use. */
static void memo_keep(cairn_drift_run *r, drift_env *de, cairn_engine *e, json_t *kept, json_t *addrs,
		      size_t managed, size_t unmanaged)
{
	json_t *req = NULL, *memo = NULL;
	char key[65], *text = NULL, *sealed = NULL;

	if (!de->marks)
		return;
	if (!kept || !addrs || !e->inputs || cairn_lua_saw_outside(e->lua) || !(req = cairn_loop_captured(e->loop)) ||
	    requests_unkeepable(e, req) || cairn_engine_env_key(e, MEMO_WHAT(&r->opts), key) != 0 ||
	    !(memo = json_pack("{s:o?,s:O,s:O,s:O,s:I,s:I,s:O}", "types", cairn_lua_loaded_types(e->lua),
			       "requests", req, "findings", kept, "addresses", addrs, "managed", (json_int_t)managed,
			       "unmanaged", (json_int_t)unmanaged, "inputs", e->inputs)) ||
	    !(text = json_dumps(memo, JSON_COMPACT | JSON_SORT_KEYS)) ||
	    cairn_store_seal_text(e->store, text, &sealed) != 0) {
		cairn_error_clear();
		json_object_set_new(de->marks, CAIRN_ENV_MEMO, json_null());
	} else {
		json_object_set_new(de->marks, CAIRN_ENV_MEMO, json_pack("[s,s]", key, sealed));
	}
	free(text);
	free(sealed);
	json_decref(memo);
	json_decref(req);
}

static void check_env(cairn_drift_run *r, drift_env *de)
{
	const cairn_drift_opts *o = &r->opts;
	json_t *res = de->result, *findings = json_array(), *refreshed = NULL, *red;
	cairn_engine_opts eo;
	cairn_engine *e = NULL;
	cairn_drift_search *search = NULL;
	size_t managed = 0, seen = 0, listed_managed = 0, unmanaged = 0;
	double t0 = cairn_now();
	json_t *planned = NULL, *findings_memo = NULL, *addrs, *kept = NULL;
	bool memo = false;
	int rc = 0;

	memset(&eo, 0, sizeof(eo));
	eo.dir = o->dir;
	eo.stack_file = o->stack_file;
	eo.state_file = r->state_path;
	eo.env = de->name;
	eo.var_overrides = o->var_overrides ? json_deep_copy(o->var_overrides) : NULL;
	eo.parallelism = o->parallelism;
	eo.refresh = true;
	/* rows parsed on first use: a steady-state run reads few of them */
	eo.lazy_rows = true;
	eo.log = o->log;
	eo.verbose = o->verbose;
	/* the run's writer (open_store) has checked the file: one quick_check a run */
	eo.store_checked = r->store != NULL;
	if ((rc = cairn_engine_open(&e, &eo)) != 0) {
		set_error(res, NULL);
		goto done;
	}
	if (applying(e, res)) {
		json_object_set_new(res, "status", json_string("applying"));
		goto done;
	}
	if (e->nintents)
		json_object_set_new(res, "pending_operations", json_integer((json_int_t)e->nintents));
	/* the environment's memo: every answer as the last run got it */
	if ((memo = memo_possible(r, e))) {
		int hit = memo_take(r, de, e, &findings_memo, &planned, &managed, &unmanaged);

		if (hit < 0) {
			set_error(res, e);
			goto done;
		}
		if (hit > 0) {
			json_decref(findings);
			findings = findings_memo;
			memo = false;
			goto report;
		}
		/* this run's requests and their answers, for the next */
		cairn_loop_capture(e->loop, CAIRN_CAPTURE_ON);
	}
	/* read marks: objects whose bytes did not change since a read that
	 * matched the state are not decoded again (lua/runtime.h) */
	if ((rc = cairn_engine_read_marks(e, o->record)) != 0) {
		set_error(res, e);
		goto done;
	}
	/* a failed search for unmanaged objects is an error of the
	 * environment, but the rest is still compared and reported (a failed
	 * refresh's error replaces it) */
	if (o->unmanaged && cairn_drift__unmanaged_begin(e, &search) != 0)
		set_error(res, e);
	if ((rc = cairn_engine_refresh(e)) != 0) {
		set_error(res, e);
		goto done;
	}
	/* page marks are used by the search's listings alone: a run without
	 * it (--no-unmanaged) leaves them for the next one that lists */
	if (search)
		cairn_engine_pages_done(e);
	de->marks = json_incref(e->mark_new);
	if (o->verbose && o->log)
		fprintf(o->log, "cairn: %s: %zu of %zu objects unchanged since a read that matched the state "
			"(read marks: not decoded again); %zu listing answers unchanged (page marks: not parsed)\n",
			de->name, e->mark_used, e->nstate, e->pages_used);
	if (search && cairn_drift__unmanaged_end(search, findings, &seen, &listed_managed) != 0)
		set_error(res, e);
	/* the listings' decoded answers are garbage now (the refresh took its
	 * objects from them): freed before the plan, which reuses the memory */
	cairn_lua_collect(e->lua);
	unmanaged = json_array_size(findings);
	/* the plan against the recorded state: desired vs recorded */
	refreshed = e->refreshed;
	e->refreshed = NULL;
	if ((rc = outside_changes(e, refreshed, findings, &managed)) == 0)
		rc = plan_or_memo(r, de, e, findings, &planned);
	if (!rc)
		rc = damaged_row(e);
	if (rc && !json_object_get(res, "error")) {
		set_error(res, e);
	} else if (!rc && o->parity) {
		de->resources = parity_data(e, refreshed);
	}
report:
	addrs = planned ? json_incref(planned) : addresses(e, rc == 0);
	json_object_set_new(res, "addresses", json_incref(addrs));
	json_decref(planned);
	sort_findings(findings);
	if (memo && !rc && !json_object_get(res, "error") && r->opts.record)
		memo_keep(r, de, e, (kept = cairn_drift__redact(e, findings)), addrs, managed, unmanaged);
	json_decref(kept);
	json_decref(addrs);
	cairn_drift__apply_ignores(r->stack, findings, r->now);
	red = cairn_drift__redact(e, findings);
	json_decref(findings);
	findings = red;
	json_object_set_new(res, "resources", json_integer((json_int_t)e->nstate));
	json_object_set_new(res, "coverage", json_pack("{s:I,s:I,s:I,s:f}", "managed", (json_int_t)managed,
		"unmanaged", (json_int_t)unmanaged, "seen", (json_int_t)(managed + unmanaged),
		"ratio", managed + unmanaged ? (double)managed / (double)(managed + unmanaged) : 1.0));
	if (!json_object_get(res, "error")) {
		count_findings(res, findings);
		de->complete = true;
	} else {
		json_t *st = json_incref(json_object_get(res, "status"));

		count_findings(res, findings);
		json_object_set_new(res, "status", st);
	}
done:
	if (e && refreshed)
		e->refreshed = refreshed;
	json_object_set_new(res, "findings", findings);
	de->findings = findings;
	json_object_set_new(res, "duration_s", json_real(cairn_now() - t0));
	json_decref(eo.var_overrides);
	cairn_drift__unmanaged_free(search);
	cairn_engine_free(e);
}

/* ---- the run ---- */

/*
 * glibc's malloc gives each thread an arena of its own, a heap it grows by
 * mprotect, one call per growth (a page or so at a time): four environments
 * of 2,500 resources took ~22,600 calls, each splitting or merging a
 * mapping in the kernel (now ~1,100). So
 * each reading thread asks its arena once for more than it will use and
 * gives it back: the heap is then mapped for that size (what is given back
 * is returned to the kernel, not kept resident), and later growth makes no
 * call. For the one request to come from the arena and not from an mmap of
 * its own, blocks up to 32 MiB are taken from the heaps (mallopt, once per
 * run: drift is the whole process). What an environment frees stays with
 * its thread's heap (M_TRIM_THRESHOLD) for the next environment the thread
 * reads, instead of going back to the kernel to be faulted in again.
 */
#define ARENA_PREGROW ((size_t)30 << 20)

static void pregrow_setup(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

static void pregrow_arena(void)
{
#ifdef __GLIBC__
	void *volatile p = malloc(ARENA_PREGROW); /* volatile: not optimised away */

	free(p);
#endif
}

typedef struct worker {
	cairn_drift_run *r;
	pthread_mutex_t *mu;
} worker;

static void *work(void *ud)
{
	worker *w = ud;

	pregrow_arena();
	for (;;) {
		size_t i;

		pthread_mutex_lock(w->mu);
		i = w->r->next++;
		pthread_mutex_unlock(w->mu);
		if (i >= w->r->nenvs)
			return NULL;
		check_env(w->r, &w->r->envs[i]);
	}
}

static int read_all(cairn_drift_run *r)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	size_t n = r->opts.envs_at_once > 0 ? (size_t)r->opts.envs_at_once : ENVS_AT_ONCE, i, started = 0;
	pthread_t *th;
	worker w = { r, &mu };
	int rc = 0;

	if (n > r->nenvs)
		n = r->nenvs;
	pregrow_setup();
	if (n <= 1) {
		work(&w);
		return 0;
	}
	if (!(th = calloc(n, sizeof(*th))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if ((errno = pthread_create(&th[i], NULL, work, &w)) != 0)
			break;
		started++;
	}
	if (started == 0)
		rc = cairn_error_set(CAIRN_ERROR, "cannot start a thread to read the environments: %s", strerror(errno));
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	pthread_mutex_destroy(&mu);
	return rc;
}

static int open_store(cairn_drift_run *r)
{
	struct stat sb;

	if (!cairn_store_is_url(r->state_path) && stat(r->state_path, &sb) != 0 && !r->opts.record)
		return 0;
	/* a writer: it upgrades the schema before the engines open it read-only;
	 * drift --all has just checked the file listing the ephemeral environments */
	return cairn_store_open(&r->store, r->state_path, CAIRN_STORE_CREATE |
				(r->opts.checked_state && !strcmp(r->opts.checked_state, r->state_path)
				 ? CAIRN_STORE_CHECKED : 0));
}

int cairn_drift_run_new(cairn_drift_run **out, const cairn_drift_opts *o)
{
	cairn_drift_run *r = calloc(1, sizeof(*r));
	json_t *envs;
	size_t i;
	int rc;

	if (!r)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	r->opts = *o;
	r->t0 = cairn_now();
	r->now = o->now ? o->now : (int64_t)time(NULL);
	if ((rc = load_stack(o, &r->stack)) != 0)
		goto fail;
	r->state_path = cairn_store_location(o->state_file, r->stack->state)
		? strdup(cairn_store_location(o->state_file, r->stack->state))
		: path_join(r->stack->dir, ".cairn/state.db");
	if (!r->state_path) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = open_store(r)) != 0)
		goto fail;
	if (!(r->envs = calloc(o->nenvs ? o->nenvs : 1, sizeof(*r->envs)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	r->nenvs = o->nenvs;
	envs = json_array();
	for (i = 0; i < r->nenvs; i++) {
		r->envs[i].name = strdup(o->envs[i]);
		r->envs[i].result = json_pack("{s:s,s:s}", "name", o->envs[i], "status", "error");
		json_array_append(envs, r->envs[i].result);
	}
	r->doc = json_pack("{s:s,s:s,s:I,s:o,s:[]}", "schema", CAIRN_DRIFT_SCHEMA, "stack", r->stack->name,
			   "started_at", (json_int_t)r->now, "environments", envs, "parity");
	if ((rc = read_all(r)) != 0)
		goto fail;
	json_object_set_new(r->doc, "duration_s", json_real(cairn_now() - r->t0));
	*out = r;
	return 0;
fail:
	cairn_drift_run_free(r);
	return rc;
}

void cairn_drift_run_free(cairn_drift_run *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nenvs; i++) {
		free(r->envs[i].name);
		json_decref(r->envs[i].result);
		json_decref(r->envs[i].resources);
		json_decref(r->envs[i].marks);
	}
	free(r->envs);
	json_decref(r->doc);
	cairn_store_free(r->store);
	free(r->state_path);
	cairn_stack_free(r->stack);
	free(r);
}

int cairn_drift_exit_code(const json_t *doc)
{
	bool drift = false, error = false;
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(doc, "environments"), i, x) {
		const char *st = json_string_value(json_object_get(x, "status"));

		if (!st || !strcmp(st, "error"))
			error = true;
		if (json_integer_value(json_object_get(json_object_get(x, "counts"), "findings")) > 0)
			drift = true;
	}
	json_array_foreach(json_object_get(doc, "parity"), i, x) {
		const char *st = json_string_value(json_object_get(x, "status"));

		if (!st || !strcmp(st, "error"))
			error = true;
		else if (!strcmp(st, "differ"))
			drift = true;
	}
	return error ? 1 : drift ? 2 : 0;
}
