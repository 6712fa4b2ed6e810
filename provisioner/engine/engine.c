/*
 * engine.c - load and check a stack for one environment, expand resources
 * into instances, refresh them and compute the plan (see engine.h).
 */
#include "checks.h"
#include "engine.h"
#include "scheduler.h"
#include "aws/creds.h"
#include "aws/sign.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_RES SIZE_MAX

const char *cairn_action_name(cairn_action a)
{
	static const char *const names[] = { "no-op", "create", "update", "replace", "delete" };

	return names[a];
}

char *cairn_address(const char *name, const json_t *key)
{
	char *out = NULL;

	if (!key)
		return strdup(name);
	if (json_is_integer(key)) {
		if (asprintf(&out, "%s[%lld]", name, (long long)json_integer_value(key)) < 0)
			return NULL;
		return out;
	}
	{
		char *k = json_dumps(key, JSON_ENCODE_ANY);

		if (!k)
			return NULL;
		if (asprintf(&out, "%s[%s]", name, k) < 0)
			out = NULL;
		free(k);
	}
	return out;
}

cairn_inst *cairn_engine_inst(cairn_engine *e, const char *address)
{
	json_t *ix = json_object_get(e->index, address);

	return ix ? &e->insts[json_integer_value(ix)] : NULL;
}

static void inst_release(cairn_inst *in)
{
	free(in->address);
	free(in->name);
	free(in->type);
	json_decref(in->key);
	json_decref(in->each_value);
	json_decref(in->current);
	json_decref(in->desired);
	json_decref(in->planned);
	json_decref(in->changes);
	json_decref(in->sensitive);
	free(in->reason);
	free(in->deps);
}

static void reset_instances(cairn_engine *e)
{
	size_t i;

	for (i = 0; i < e->ninsts; i++)
		inst_release(&e->insts[i]);
	e->ninsts = 0;
	json_object_clear(e->index);
}

/* ---------- signals ---------- */

/* SIGINT and SIGTERM while an engine holds its lock or runs operations:
 * the signal number is kept, the Lua runtime stops whatever runs
 * (cairn_lua_interrupt), and the scheduler abandons the running operations
 * (cairn_sched_set_interrupt). Without SA_RESTART, a blocking read (the
 * apply prompt) returns. One engine at a time handles them. */
static volatile sig_atomic_t signal_seen;
static cairn_lua *signal_lua;
static const cairn_engine *signal_owner;
static int signal_depth;
static struct sigaction signal_old_int, signal_old_term;

static void on_signal(int sig)
{
	signal_seen = sig;
	if (signal_lua)
		cairn_lua_interrupt(signal_lua);
}

void cairn_engine_signals_on(cairn_engine *e)
{
	struct sigaction sa;

	if (signal_depth++ > 0)
		return;
	if (signal_owner != e)
		signal_seen = 0; /* a signal belongs to the engine that saw it */
	signal_owner = e;
	signal_lua = e->lua;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &signal_old_int);
	sigaction(SIGTERM, &sa, &signal_old_term);
	if (signal_seen && e->lua)
		cairn_lua_interrupt(e->lua);
}

void cairn_engine_signals_off(cairn_engine *e)
{
	(void)e;
	if (signal_depth == 0 || --signal_depth > 0)
		return;
	sigaction(SIGINT, &signal_old_int, NULL);
	sigaction(SIGTERM, &signal_old_term, NULL);
	signal_lua = NULL;
}

int cairn_engine_signal(const cairn_engine *e)
{
	return signal_owner == e ? (int)signal_seen : 0;
}

const char *cairn_engine_signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

int cairn_engine_run_sched(cairn_engine *e, cairn_sched *s)
{
	int rc;

	cairn_engine_signals_on(e);
	cairn_sched_set_interrupt(s, &signal_seen);
	cairn_sched_set_ssh(s, e->ssh);
	rc = cairn_sched_run(s);
	cairn_engine_signals_off(e);
	return rc;
}

/* ---------- replaying requests (drift's environment memo) ---------- */

typedef struct replay {
	size_t left;
	bool differ;
} replay;

typedef struct replay_one {
	replay *r;
	const char *want;
} replay_one;

static void on_replayed(void *ud, json_t *resp)
{
	replay_one *o = ud;
	const char *got = json_string_value(json_object_get(resp, "answer_digest"));

	if (!got || strcmp(got, o->want) != 0)
		o->r->differ = true;
	o->r->left--;
	json_decref(resp);
}

/* Count the Action parameters of a query string or form body (s..end);
 * *read: every one names a read. A parameter name with an escape in it
 * cannot be told from Action: counted as an action that is not a read. */
static void actions_in(const char *s, const char *end, int *n, bool *read)
{
	static const char *const reads[] = { "Describe", "List", "Get" };

	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s)), *stop = amp ? amp : end;
		const char *eq = memchr(s, '=', (size_t)(stop - s)), *nend = eq ? eq : stop;
		size_t i;
		bool ok = false;

		if (memchr(s, '%', (size_t)(nend - s)) || memchr(s, '+', (size_t)(nend - s))) {
			(*n)++;
			*read = false;
		} else if ((size_t)(nend - s) == 6 && !strncasecmp(s, "Action", 6)) {
			(*n)++;
			for (i = 0; eq && i < sizeof(reads) / sizeof(reads[0]); i++)
				if ((size_t)(stop - eq - 1) > strlen(reads[i]) && !strncmp(eq + 1, reads[i], strlen(reads[i])))
					ok = true;
			if (!ok)
				*read = false;
		}
		s = amp ? amp + 1 : end;
	}
}

bool cairn_engine_request_is_read(const json_t *req)
{
	const char *m = json_string_value(json_object_get(req, "method"));
	const char *url = json_string_value(json_object_get(req, "url")), *b = json_string_value(json_object_get(req, "body"));
	const char *q = url ? strchr(url, '?') : NULL;
	bool get = !m || !strcasecmp(m, "GET") || !strcasecmp(m, "HEAD"), read = true;
	int n = 0;

	if (!url || (!get && (!m || strcasecmp(m, "POST"))))
		return false;
	if (q)
		actions_in(q + 1, q + strlen(q), &n, &read);
	if (b)
		actions_in(b, b + strlen(b), &n, &read);
	/* a GET without an action (a REST read), or one action, a read */
	return read && (n == 1 || (n == 0 && get && (!b || !*b)));
}

int cairn_engine_replay(cairn_engine *e, const json_t *requests, bool *same)
{
	size_t n = json_array_size(requests), i, started = 0;
	replay r = { 0, false };
	replay_one *ones = calloc(n ? n : 1, sizeof(*ones));
	int rc = 0;

	*same = false;
	if (!ones)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	cairn_loop_capture(e->loop, CAIRN_CAPTURE_DIGESTS);
	for (i = 0; i < n && !r.differ; i++) {
		const json_t *pair = json_array_get(requests, i);

		ones[i].r = &r;
		ones[i].want = json_string_value(json_array_get(pair, 1));
		if (!ones[i].want || !json_is_object(json_array_get(pair, 0)) ||
		    !cairn_engine_request_is_read(json_array_get(pair, 0)) ||
		    cairn_loop_http(e->loop, json_array_get(pair, 0), on_replayed, &ones[i]) != 0) {
			cairn_error_clear();
			r.differ = true;
			break;
		}
		started++;
		r.left++;
	}
	cairn_engine_signals_on(e);
	/* the first answer that differs ends it: the run reads everything */
	while (r.left && !r.differ && !cairn_engine_signal(e))
		cairn_loop_run_once(e->loop, 0.1, NULL);
	cairn_engine_signals_off(e);
	for (i = 0; i < started; i++)
		cairn_loop_http_cancel(e->loop, &ones[i]);
	cairn_loop_capture(e->loop, CAIRN_CAPTURE_OFF);
	if (cairn_engine_signal(e))
		rc = cairn_engine_interrupted_error(e);
	else
		*same = !r.differ && !r.left;
	free(ones);
	return rc;
}

int cairn_engine_interrupted_error(const cairn_engine *e)
{
	return cairn_error_set(CAIRN_ERROR, "interrupted by %s: the running operations were abandoned and nothing "
		"new was started; their intents are kept, and the next run recovers them",
		cairn_engine_signal_name(cairn_engine_signal(e)));
}

void cairn_engine_free(cairn_engine *e)
{
	if (!e)
		return;
	if (e->locked) {
		cairn_lock_release(e->store, e->opts.env);
		cairn_engine_signals_off(e);
	}
	if (signal_owner == e) {
		if (signal_seen)
			cairn_store_skip_checkpoint(e->store); /* leave now: the WAL waits for the next run */
		signal_owner = NULL;
		signal_lua = NULL;
	}
	reset_instances(e);
	free(e->insts);
	json_decref(e->index);
	cairn_state_res_free_array(e->state, e->nstate);
	cairn_intent_free_array(e->intents, e->nintents);
	cairn_store_free(e->store);
	free(e->state_path);
	cairn_graph_free(e->graph);
	free(e->graph_names);
	free(e->graph_pos);
	free(e->order);
	free(e->schemas);
	json_decref(e->tainted);
	json_decref(e->each_sensitive);
	cairn_lua_free(e->lua);
#ifdef HAVE_LIBSSH2
	cairn_ssh_free(e->ssh); /* before the loop its timers are on */
#endif
	cairn_loop_free(e->loop);
	json_decref(e->root);
	json_decref(e->inputs);
	json_decref(e->vars);
	json_decref(e->sensitive_vars);
	json_decref(e->secrets);
	json_decref(e->outputs);
	json_decref(e->refreshed);
	free(e->mark_rows);
	json_decref(e->mark_offered);
	json_decref(e->mark_new);
	json_decref(e->mark_pages);
	json_decref(e->listed_unchanged);
	json_decref(e->plan_memo);
	json_decref(e->deleting);
	json_decref(e->output_sensitive);
	json_decref(e->unreached);
	cairn_env_free(e->env);
	free(e->env_base);
	json_decref(e->env_overrides);
	cairn_stack_free(e->stack);
	free((char *)e->opts.dir);
	free((char *)e->opts.stack_file);
	free((char *)e->opts.state_file);
	free((char *)e->opts.env);
	free(e);
}

/* ---------- redaction ---------- */

/* secrets is a set (an object: secret text -> true), so that a value seen
 * again (in the plan, then by the apply) is kept once. */
static void collect_secrets(json_t *secrets, const json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;

	if (json_is_string(v) && json_string_length(v) >= 3 && !memchr(json_string_value(v), 0, json_string_length(v)))
		json_object_set_new(secrets, json_string_value(v), json_true());
	else if (json_is_array(v))
		json_array_foreach(v, i, x) collect_secrets(secrets, x);
	else if (json_is_object(v))
		json_object_foreach((json_t *)v, k, x) collect_secrets(secrets, x);
	else if (json_is_number(v)) {
		char *s = json_dumps(v, JSON_ENCODE_ANY);

		if (s && strlen(s) >= 4)
			json_object_set_new(secrets, s, json_true());
		free(s);
	}
}

char *cairn_engine_escape(const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	cairn_buf b = CAIRN_BUF_INIT;
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p; p++) {
		unsigned char c = *p;

		if (c == '\n')
			cairn_buf_puts(&b, "\\n");
		else if (c == '\r')
			cairn_buf_puts(&b, "\\r");
		else if (c == '\t')
			cairn_buf_puts(&b, "\\t");
		else if (c < 0x20 || c == 0x7f || (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
			/* C0 controls, DEL, and the C1 controls as UTF-8 (U+0080..U+009F):
			 * a terminal would act on them */
			cairn_buf_printf(&b, "\\x%c%c", hex[c >> 4], hex[c & 15]);
			if (c == 0xc2) {
				p++;
				cairn_buf_printf(&b, "\\x%c%c", hex[*p >> 4], hex[*p & 15]);
			}
		} else {
			cairn_buf_putc(&b, (char)c);
		}
	}
	return b.ptr ? cairn_buf_detach(&b) : strdup("");
}

char *cairn_engine_clean(const cairn_engine *e, const char *msg)
{
	char *r = cairn_engine_redact(e, msg), *m = r ? cairn_engine_escape(r) : NULL;

	free(r);
	return m;
}

char *cairn_engine_redact(const cairn_engine *e, const char *msg)
{
	cairn_buf b = CAIRN_BUF_INIT;
	const char *p = msg, **in = NULL, *sv;
	size_t n = 0, i;
	json_t *x;

	if (!e || !e->secrets || json_object_size(e->secrets) == 0)
		return strdup(msg);
	/* the secrets this message holds: usually none */
	json_object_foreach(e->secrets, sv, x)
		if (strstr(msg, sv)) {
			const char **grown = realloc(in, (n + 1) * sizeof(*in));

			if (!grown) {
				free(in);
				return NULL;
			}
			in = grown;
			in[n++] = sv;
		}
	if (n == 0)
		return strdup(msg);
	while (*p) {
		size_t blen = 0;

		for (i = 0; i < n; i++) {
			size_t len = strlen(in[i]);

			if (len > blen && strncmp(p, in[i], len) == 0)
				blen = len;
		}
		if (blen) {
			cairn_buf_puts(&b, "(sensitive)");
			p += blen;
		} else {
			cairn_buf_putc(&b, *p++);
		}
	}
	free(in);
	return cairn_buf_detach(&b);
}

void cairn_engine_add_secrets(cairn_engine *e, const json_t *attrs, const json_t *names)
{
	size_t i;
	json_t *n;

	json_array_foreach(names, i, n)
		collect_secrets(e->secrets, json_object_get(attrs, json_string_value(n)));
}

/* Whether s holds one of the engine's secrets. */
static bool holds_secret(const cairn_engine *e, const char *s)
{
	char *r = cairn_engine_redact(e, s);
	bool held = !r || strcmp(r, s) != 0;

	free(r);
	return held;
}

/* The last error again, with the secrets known so far redacted: for the
 * errors of a failed cairn_engine_open, whose engine the CLI never sees. */
static void redact_last_error(const cairn_engine *e)
{
	const cairn_error *last = cairn_error_last();
	cairn_error err;
	char *m;

	if (!last || !e->secrets || json_object_size(e->secrets) == 0)
		return;
	err = *last;
	m = cairn_engine_redact(e, err.message);
	cairn_error_set_at(err.code, &(cairn_pos){ err.file[0] ? err.file : NULL, err.line, err.col }, "%s",
			   m ? m : "(error text withheld: it may hold a sensitive value)");
	free(m);
}

/* ---------- loading ---------- */

static int hash_file(EVP_MD_CTX *md, const char *path)
{
	cairn_buf b = CAIRN_BUF_INIT;
	int rc = cairn_buf_read_file(&b, path);

	if (!rc) {
		EVP_DigestUpdate(md, path, strlen(path) + 1);
		EVP_DigestUpdate(md, b.ptr, b.len);
	}
	cairn_buf_release(&b);
	return rc;
}

static int compute_config_hash(cairn_engine *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char dig[32];
	unsigned int n = 0, i;
	size_t r;
	char *ov = NULL;
	int rc = 0;

	if (!md)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	if ((rc = hash_file(md, e->stack->path)) || (rc = hash_file(md, e->env->path)))
		goto cleanup;
	{
		/* each module file once, in a stable order */
		json_t *files = json_object();

		for (r = 0; r < e->stack->nresources; r++)
			if (e->schemas[r])
				json_object_set_new(files, e->schemas[r]->file, json_true());
		{
			size_t n, k;
			const char **names = cairn_json_sorted_keys(files, &n);

			if (!names) {
				json_decref(files);
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			for (k = 0; k < n && !rc; k++)
				rc = hash_file(md, names[k]);
			free(names);
		}
		json_decref(files);
		if (rc)
			goto cleanup;
	}
	if (e->opts.var_overrides) {
		ov = json_dumps(e->opts.var_overrides, JSON_SORT_KEYS | JSON_COMPACT);
		if (ov)
			EVP_DigestUpdate(md, ov, strlen(ov));
	}
	EVP_DigestFinal_ex(md, dig, &n);
	for (i = 0; i < n && i < 32; i++)
		snprintf(e->config_hash + 2 * i, 3, "%02x", dig[i]);
cleanup:
	free(ov);
	EVP_MD_CTX_free(md);
	return rc;
}

static const char *suggest(const char *word, const char *const *cands, size_t n)
{
	size_t i, best = SIZE_MAX;
	const char *found = NULL;

	for (i = 0; i < n; i++) {
		/* Levenshtein distance, small strings */
		size_t la = strlen(word), lb = strlen(cands[i]), x, y;
		size_t *row;

		if (la > 64 || lb > 64)
			continue;
		row = malloc((lb + 1) * sizeof(size_t));
		if (!row)
			return NULL;
		for (y = 0; y <= lb; y++)
			row[y] = y;
		for (x = 1; x <= la; x++) {
			size_t prev = row[0], tmp;

			row[0] = x;
			for (y = 1; y <= lb; y++) {
				size_t c = prev + (word[x - 1] != cands[i][y - 1]);

				tmp = row[y];
				if (row[y] + 1 < c)
					c = row[y] + 1;
				if (row[y - 1] + 1 < c)
					c = row[y - 1] + 1;
				row[y] = c;
				prev = tmp;
			}
		}
		if (row[lb] < best && row[lb] <= (la > 4 ? 2u : 1u)) {
			best = row[lb];
			found = cands[i];
		}
		free(row);
	}
	return found;
}

static int attr_names_hint(const cairn_schema *s, const char *word, char *hint, size_t n)
{
	const char **names = malloc((s->nattrs + 1) * sizeof(char *));
	const char *best;
	size_t i;

	hint[0] = '\0';
	if (!names)
		return 0;
	for (i = 0; i < s->nattrs; i++)
		names[i] = s->attrs[i].name;
	best = suggest(word, names, s->nattrs);
	if (best)
		snprintf(hint, n, "; did you mean '%s'?", best);
	free(names);
	return 0;
}

/* Conform v to an attribute type; lossless conversions only. */
static int attr_conform(json_t **out, cairn_attr_type t, json_t *v)
{
	if (json_is_null(v) || cairn_has_unknown(v) || t == CAIRN_T_ANY) {
		*out = json_incref(v);
		return 0;
	}
	switch (t) {
	case CAIRN_T_STRING:
		if (json_is_string(v)) {
			*out = json_incref(v);
			return 0;
		}
		if (json_is_number(v) || json_is_boolean(v)) {
			char *s = json_dumps(v, JSON_ENCODE_ANY);

			*out = json_string(s);
			free(s);
			return 0;
		}
		break;
	case CAIRN_T_NUMBER:
		if (json_is_number(v)) {
			*out = json_incref(v);
			return 0;
		}
		if (json_is_string(v)) {
			const char *s = json_string_value(v);
			char *end;
			long long ll;
			double d;

			errno = 0;
			ll = strtoll(s, &end, 10);
			if (*s && !*end && !errno) {
				*out = json_integer(ll);
				return 0;
			}
			d = strtod(s, &end);
			if (*s && !*end) {
				*out = json_real(d);
				return 0;
			}
		}
		break;
	case CAIRN_T_BOOL:
		if (json_is_boolean(v)) {
			*out = json_incref(v);
			return 0;
		}
		if (json_is_string(v) && (!strcmp(json_string_value(v), "true") || !strcmp(json_string_value(v), "false"))) {
			*out = json_boolean(!strcmp(json_string_value(v), "true"));
			return 0;
		}
		break;
	case CAIRN_T_LIST:
		if (json_is_array(v)) {
			*out = json_incref(v);
			return 0;
		}
		break;
	case CAIRN_T_MAP:
		if (json_is_object(v)) {
			*out = json_incref(v);
			return 0;
		}
		break;
	default:
		break;
	}
	{
		static const char *const tn[] = { "any", "string", "number", "bool", "list", "map" };

		return cairn_error_set(CAIRN_EINVAL, "expected %s, got %s", tn[t], cairn_value_type_name(v));
	}
}

typedef struct refcheck {
	cairn_engine *e;
	size_t res;     /* resource the expression belongs to, NO_RES for outputs */
	json_t *deps;   /* object: dependency resource names */
	bool sensitive; /* the expression reads a sensitive value */
	bool self_ok;   /* a resource's checks: self.ATTR is the instance's attribute */
} refcheck;

static int check_ref(void *ud, const cairn_ref *ref)
{
	refcheck *rc = ud;
	cairn_engine *e = rc->e;
	const cairn_res_cfg *self = rc->res != NO_RES ? &e->stack->resources[rc->res] : NULL;
	const cairn_res_cfg *target;
	size_t i;

	if (!strcmp(ref->root, "var")) {
		if (!ref->attr)
			return 0;
		if (!json_object_get(e->vars, ref->attr)) {
			const char **names = malloc((e->stack->nvars + 1) * sizeof(char *));
			const char *best = NULL;

			for (i = 0; names && i < e->stack->nvars; i++)
				names[i] = e->stack->vars[i].name;
			if (names)
				best = suggest(ref->attr, names, e->stack->nvars);
			free(names);
			return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "unknown reference 'var.%s'%s%s%s",
				ref->attr, best ? "; did you mean 'var." : "", best ? best : "", best ? "'?" : "");
		}
		if (json_object_get(e->sensitive_vars, ref->attr))
			rc->sensitive = true;
		return 0;
	}
	if (!strcmp(ref->root, "env") || !strcmp(ref->root, "path"))
		return 0;
	if (!strcmp(ref->root, "self")) {
		char hint[128];

		if (!rc->self_ok || !self)
			return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "'self' is only for the checks of a resource");
		if (ref->attr && e->schemas[rc->res] && !cairn_schema_attr(e->schemas[rc->res], ref->attr) &&
		    strcmp(ref->attr, "id") != 0) {
			attr_names_hint(e->schemas[rc->res], ref->attr, hint, sizeof(hint));
			return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "resource '%s' (%s) has no attribute '%s'%s",
				self->name, self->type, ref->attr, hint);
		}
		return 0;
	}
	if (!strcmp(ref->root, "count")) {
		if (!self || !self->count)
			return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "'count.%s' used outside a resource with count",
				ref->attr ? ref->attr : "index");
		return 0;
	}
	if (!strcmp(ref->root, "each")) {
		if (!self || !self->for_each)
			return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "'each' used outside a resource with for_each");
		/* the keys are refused when they hold a secret (expand_keys) */
		if ((!ref->attr || strcmp(ref->attr, "key") != 0) && json_object_get(e->each_sensitive, self->name))
			rc->sensitive = true;
		return 0;
	}
	target = cairn_stack_resource(e->stack, ref->root);
	if (!target) {
		const char **names = malloc((e->stack->nresources + 1) * sizeof(char *));
		const char *best = NULL;

		for (i = 0; names && i < e->stack->nresources; i++)
			names[i] = e->stack->resources[i].name;
		if (names)
			best = suggest(ref->root, names, e->stack->nresources);
		free(names);
		return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "unknown reference '%s'%s%s%s", ref->root,
			best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
	}
	i = (size_t)(target - e->stack->resources);
	if (ref->attr && e->schemas[i]) {
		const cairn_attr_schema *a = cairn_schema_attr(e->schemas[i], ref->attr);
		json_t *t = json_object_get(e->tainted, target->name);
		size_t k;
		json_t *x;

		if (!a && strcmp(ref->attr, "id") != 0) {
			char hint[128];

			attr_names_hint(e->schemas[i], ref->attr, hint, sizeof(hint));
			return cairn_error_set_at(CAIRN_EINVAL, &ref->pos, "resource '%s' (%s) has no attribute '%s'%s",
				target->name, target->type, ref->attr, hint);
		}
		if (a && a->sensitive)
			rc->sensitive = true;
		json_array_foreach(t, k, x)
			if (!strcmp(json_string_value(x), ref->attr))
				rc->sensitive = true;
	}
	if (!ref->attr && e->schemas[i]) {
		size_t k;

		for (k = 0; k < e->schemas[i]->nattrs; k++)
			if (e->schemas[i]->attrs[k].sensitive)
				rc->sensitive = true;
		if (json_array_size(json_object_get(e->tainted, target->name)) > 0)
			rc->sensitive = true;
	}
	if (rc->deps)
		json_object_set_new(rc->deps, target->name, json_true());
	return 0;
}

static int check_expr(cairn_engine *e, size_t res, const cairn_expr *x, json_t *deps, bool *sensitive)
{
	refcheck rc = { e, res, deps, false, false };
	int r;

	if (!x)
		return 0;
	r = cairn_expr_refs(x, check_ref, &rc);
	if (sensitive)
		*sensitive = rc.sensitive;
	return r;
}

/* A resource's checks: their references (self.ATTR, other resources,
 * which add no dependency: the checks run once the instance is applied). */
static int check_res_checks(cairn_engine *e, size_t res)
{
	const cairn_res_cfg *r = &e->stack->resources[res];
	size_t i;
	int rc;

	for (i = 0; i < r->nchecks; i++) {
		refcheck ck = { e, res, NULL, false, true };

		if ((rc = cairn_expr_refs(r->checks[i].target, check_ref, &ck)) != 0)
			return rc;
	}
	return 0;
}

static char *path_join(const char *dir, const char *name);

/* A known value of a property against its schema's constraints and, for
 * a local path, against cairn's own files; the error at `pos`. */
static int check_value(cairn_engine *e, const cairn_schema *s, const cairn_attr_schema *a, const json_t *v,
		       bool sensitive, const cairn_pos *pos)
{
	char msg[2048];
	char *full;
	int rc;

	if (!v || json_is_null(v) || cairn_has_unknown(v))
		return 0;
	if (cairn_attr_check(a, v, sensitive) != 0) {
		snprintf(msg, sizeof(msg), "%s", cairn_error_last()->message);
		return cairn_error_set_at(CAIRN_EINVAL, pos, "property '%s' of %s %s", a->name, s->type, msg);
	}
	if (!a->local_path || !json_is_string(v))
		return 0;
	if (!(full = path_join(e->stack->dir, json_string_value(v))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_lua_check_path(e->lua, full);
	free(full);
	if (rc) {
		snprintf(msg, sizeof(msg), "%s", cairn_error_last()->message);
		return cairn_error_set_at(CAIRN_EINVAL, pos, "property '%s' of %s: '%s' %s; cairn keeps its state there",
					  a->name, s->type, json_string_value(v), msg);
	}
	return 0;
}

/* Properties against the schema: unknown, computed-only, required, constant types. */
static int check_props(cairn_engine *e, size_t r)
{
	const cairn_res_cfg *res = &e->stack->resources[r];
	const cairn_schema *s = e->schemas[r];
	size_t i, n = cairn_expr_size(res->props);

	for (i = 0; i < n; i++) {
		const cairn_pos *kp = NULL;
		const char *k = cairn_expr_key(res->props, i, &kp);
		const cairn_attr_schema *a = cairn_schema_attr(s, k);
		const cairn_expr *v = cairn_expr_item(res->props, i);
		char hint[128];

		if (!a) {
			attr_names_hint(s, k, hint, sizeof(hint));
			return cairn_error_set_at(CAIRN_EINVAL, kp, "unknown property '%s' for resource type %s%s", k, s->type, hint);
		}
		if (a->computed && !a->optional && !a->required)
			return cairn_error_set_at(CAIRN_EINVAL, kp, "property '%s' of %s is computed and cannot be set", k, s->type);
		if (cairn_expr_kind_of(v) == CAIRN_EXPR_CONST) {
			json_t *conv = NULL;

			int rc;

			if (attr_conform(&conv, a->type, (json_t *)cairn_expr_const(v)) != 0) {
				const cairn_error *err = cairn_error_last();
				char msg[2048];

				snprintf(msg, sizeof(msg), "%s", err ? err->message : "wrong type");
				return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(v), "property '%s' of %s: %s", k, s->type, msg);
			}
			rc = check_value(e, s, a, conv, false, cairn_expr_pos(v));
			json_decref(conv);
			if (rc)
				return rc;
		}
	}
	for (i = 0; i < s->nattrs; i++) {
		const cairn_expr *w = s->attrs[i].watch ? cairn_expr_get(res->props, s->attrs[i].name) : NULL;
		size_t k;

		if (w && cairn_expr_kind_of(w) != CAIRN_EXPR_LIST)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(w), "'%s' of %s is a list of resource names, "
				"like [app_conf, unit]", s->attrs[i].name, s->type);
		for (k = 0; w && k < cairn_expr_size(w); k++) {
			const json_t *nm = cairn_expr_const(cairn_expr_item(w, k));

			if (!json_is_string(nm) || !cairn_stack_resource(e->stack, json_string_value(nm)))
				return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(cairn_expr_item(w, k)),
					"'%s' of %s lists resource names (without ${ }); %s%s%s is not one", s->attrs[i].name,
					s->type, json_is_string(nm) ? "'" : "", json_is_string(nm) ? json_string_value(nm) :
					"this", json_is_string(nm) ? "'" : "");
		}
	}
	for (i = 0; i < s->nattrs; i++)
		if (s->attrs[i].required && !cairn_expr_get(res->props, s->attrs[i].name))
			return cairn_error_set_at(CAIRN_EINVAL, &res->pos, "resource '%s' (%s) is missing required property '%s'",
				res->name, s->type, s->attrs[i].name);
	for (i = 0; i < res->nignore_changes; i++)
		if (!cairn_schema_attr(s, res->ignore_changes[i]))
			return cairn_error_set_at(CAIRN_EINVAL, &res->ignore_changes_pos[i],
				"ignore_changes names unknown property '%s' of %s", res->ignore_changes[i], s->type);
	return 0;
}

static int build_graph(cairn_engine *e)
{
	cairn_stack *st = e->stack;
	const char **names = NULL;
	cairn_pos *pos = NULL;
	size_t i, j;
	int rc = 0;

	names = calloc(st->nresources + 1, sizeof(char *));
	pos = calloc(st->nresources + 1, sizeof(cairn_pos));
	e->order = calloc(st->nresources + 1, sizeof(size_t));
	e->tainted = json_object();
	e->each_sensitive = json_object();
	if (!names || !pos || !e->order) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < st->nresources; i++) {
		names[i] = st->resources[i].name;
		pos[i] = st->resources[i].pos;
	}
	/* the graph keeps borrowed pointers: names live in the stack, positions we keep */
	if ((rc = cairn_graph_new(&e->graph, st->nresources, names, pos)) != 0)
		goto cleanup;
	for (i = 0; i < st->nresources; i++) {
		const cairn_res_cfg *res = &st->resources[i];
		json_t *deps = json_object();
		const char *k;
		json_t *x;

		if ((rc = check_expr(e, i, res->count, deps, NULL)) || (rc = check_expr(e, i, res->for_each, deps, NULL)) ||
		    (rc = check_expr(e, i, res->prevent_destroy, NULL, NULL)) || (rc = check_res_checks(e, i))) {
			json_decref(deps);
			goto cleanup;
		}
		for (j = 0; j < res->ndepends_on; j++) {
			if (!cairn_stack_resource(st, res->depends_on[j])) {
				rc = cairn_error_set_at(CAIRN_EINVAL, &res->depends_on_pos[j],
					"depends_on names unknown resource '%s'", res->depends_on[j]);
				json_decref(deps);
				goto cleanup;
			}
			json_object_set_new(deps, res->depends_on[j], json_true());
		}
		json_object_foreach(deps, k, x) {
			const cairn_res_cfg *d = cairn_stack_resource(st, k);

			if ((rc = cairn_graph_add_edge(e->graph, i, (size_t)(d - st->resources))) != 0)
				break;
		}
		json_decref(deps);
		if (rc)
			goto cleanup;
	}
	/* property references need the dependency order for transitive taint */
	for (i = 0; i < st->nresources; i++) {
		const cairn_res_cfg *res = &st->resources[i];
		size_t n = cairn_expr_size(res->props);
		json_t *deps = json_object();
		const char *k;
		json_t *x;

		for (j = 0; j < n && !rc; j++)
			rc = check_expr(e, i, cairn_expr_item(res->props, j), deps, NULL);
		for (j = 0; !rc && e->schemas[i] && j < e->schemas[i]->nattrs; j++) {
			/* a watched resource goes first (check_props checked the names) */
			const cairn_expr *w = e->schemas[i]->attrs[j].watch ?
					      cairn_expr_get(res->props, e->schemas[i]->attrs[j].name) : NULL;
			size_t k;

			for (k = 0; w && k < cairn_expr_size(w); k++)
				json_object_set_new(deps, json_string_value(cairn_expr_const(cairn_expr_item(w, k))), json_true());
		}
		json_object_foreach(deps, k, x) {
			const cairn_res_cfg *d = cairn_stack_resource(st, k);

			if (!rc)
				rc = cairn_graph_add_edge(e->graph, i, (size_t)(d - st->resources));
		}
		json_decref(deps);
		if (rc)
			goto cleanup;
	}
	if ((rc = cairn_graph_toposort(e->graph, e->order)) != 0)
		goto cleanup;
	for (i = 0; i < st->nresources; i++) {
		size_t r = e->order[i], n;
		const cairn_res_cfg *res = &st->resources[r];
		json_t *t = json_array();

		if (res->for_each) {
			bool sens = false;

			check_expr(e, r, res->for_each, NULL, &sens);
			if (sens)
				json_object_set_new(e->each_sensitive, res->name, json_true());
		}
		n = cairn_expr_size(res->props);
		for (j = 0; j < n; j++) {
			bool sens = false;
			const char *k = cairn_expr_key(res->props, j, NULL);

			check_expr(e, r, cairn_expr_item(res->props, j), NULL, &sens);
			if (sens)
				json_array_append_new(t, json_string(k));
		}
		json_object_set_new(e->tainted, res->name, t);
	}
	/* names and positions must outlive the graph */
	e->graph_names = names;
	e->graph_pos = pos;
	names = NULL;
	pos = NULL;
cleanup:
	free(names);
	free(pos);
	return rc;
}

static char *path_join(const char *dir, const char *name)
{
	char *out = NULL;

	if (name[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
		return strdup(name);
	if (asprintf(&out, "%s/%s", dir, name) < 0)
		return NULL;
	return out;
}

static int load_state(cairn_engine *e)
{
	struct stat sb;
	int rc;

	/* no state yet: empty; a writing engine creates it when it takes the
	 * lock, so that a run that fails before (bad input) leaves none */
	if (e->opts.no_state || (!cairn_store_is_url(e->state_path) && stat(e->state_path, &sb) != 0))
		return 0;
	/* on PostgreSQL a writing engine opens without CAIRN_STORE_CREATE too:
	 * an empty schema stays empty until the lock is taken */
	rc = cairn_store_open(&e->store, e->state_path,
			      (!e->opts.for_write ? CAIRN_STORE_READONLY
						  : cairn_store_is_url(e->state_path) ? 0 : CAIRN_STORE_CREATE) |
			      (e->opts.store_checked ? CAIRN_STORE_CHECKED : 0));
	if (rc == CAIRN_ENOTFOUND && cairn_store_is_url(e->state_path)) {
		cairn_error_clear();
		return 0; /* a PostgreSQL state nothing has been written to yet */
	}
	if (rc)
		return rc;
	return cairn_engine_reload_state(e);
}

int cairn_engine_reload_state(cairn_engine *e)
{
	int rc;

	cairn_state_res_free_array(e->state, e->nstate);
	e->state = NULL;
	e->nstate = 0;
	cairn_intent_free_array(e->intents, e->nintents);
	e->intents = NULL;
	e->nintents = 0;
	if (!e->store)
		return 0;
	if ((rc = (e->opts.lazy_rows ? cairn_store_list_lazy : cairn_store_list)(e->store, e->opts.env, &e->state,
											   &e->nstate)) != 0)
		return rc;
	if ((rc = cairn_store_intents(e->store, e->opts.env, &e->intents, &e->nintents)) != 0)
		return rc;
	return cairn_store_serial(e->store, e->opts.env, &e->serial);
}

static int add_state_secrets(cairn_engine *e)
{
	size_t i, j;
	json_t *n;

	for (i = 0; i < e->nstate; i++)
		json_array_foreach(e->state[i].sensitive, j, n)
			collect_secrets(e->secrets, json_object_get(cairn_state_res_attrs(&e->state[i]),
								    json_string_value(n)));
	return 0;
}

static json_t *make_env_value(cairn_engine *e)
{
	json_t *env = json_deep_copy(e->env->provider);

	if (!env)
		env = json_object();
	json_object_set_new(env, "name", json_string(e->opts.env));
	json_object_set_new(env, "stack", json_string(e->stack->name));
	return env;
}

static int setup_aws(cairn_engine *e);
static bool uses_aws(const cairn_engine *e);

/* A module's cairn.log line: warnings and errors always go to the progress
 * log, info and debug with -v; secrets are redacted, and control
 * characters escaped (\x1b, \n): a module's text never drives the terminal. */
static void module_log(void *ud, const char *level, const char *address, const char *msg)
{
	cairn_engine *e = ud;
	char *m;

	if (!e->opts.log || (!e->opts.verbose && strcmp(level, "warn") != 0 && strcmp(level, "error") != 0))
		return;
	/* secrets out first (they may hold a newline), then whatever a
	 * terminal would act on */
	m = cairn_engine_clean(e, msg);
	fprintf(e->opts.log, "%s: %s: %s\n", address && *address ? address : "cairn", level, m ? m : "(out of memory)");
	free(m);
}

/* The module search path: the stack's own modules/ first, then the
 * trusted directories: CAIRN_MODULES_PATH (':'-separated: the operator's
 * choice) or the modules cairn ships. Only trusted modules get cairn.fs,
 * and none reaches the state directory (its key). */
int cairn_engine_new_lua(cairn_lua **out, const char *stack_dir)
{
	const char *builtin = getenv("CAIRN_MODULES_PATH");
	char *user_mods = path_join(stack_dir, "modules"), *list = NULL, *dir, *next;
	const char *dirs[17];
	size_t n = 0;
	int rc;

	if (!user_mods || !(list = strdup(builtin && *builtin ? builtin : CAIRN_MODULES_DIR))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	dirs[n++] = user_mods;
	for (dir = list; dir; dir = next) {
		if ((next = strchr(dir, ':')))
			*next++ = '\0';
		if (*dir && n < sizeof(dirs) / sizeof(dirs[0]))
			dirs[n++] = dir;
	}
	if ((rc = cairn_lua_new(out, dirs, n, NULL)) == 0)
		cairn_lua_set_trusted(*out, 1); /* every directory but the stack's own */
cleanup:
	free(user_mods);
	free(list);
	return rc;
}

static int open_lua(cairn_engine *e)
{
	int rc;

	if ((rc = cairn_engine_new_lua(&e->lua, e->stack->dir)) != 0)
		return rc;
	cairn_lua_set_log(e->lua, module_log, e);
	return 0;
}

/* No module may reach cairn's own files: the stack's .cairn directory, the
 * state database (with its -wal, -shm) and key wherever --state put them,
 * and the directory --state names. The first entry that holds a path names
 * it in the refusal. */
static int protect_state(cairn_engine *e)
{
	char *dot = path_join(e->stack->dir, ".cairn"), *key = NULL, *slash, *state_dir = NULL;
	int rc;

	if (!dot || !e->state_path) {
		free(dot);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if ((rc = cairn_lua_protect(e->lua, dot, true, "cairn's state directory")) == 0 &&
	    !cairn_store_is_url(e->state_path) && (rc = cairn_lua_protect(e->lua, e->state_path, false, "cairn's state database")) == 0) {
		slash = strrchr(e->state_path, '/');
		if (asprintf(&key, "%.*s%skey", slash ? (int)(slash - e->state_path) : 0, e->state_path,
			     slash ? "/" : "") < 0)
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		else
			rc = cairn_lua_protect(e->lua, key, false, "cairn's state key");
	}
	if (!rc && e->opts.state_file) {
		slash = strrchr(e->opts.state_file, '/');
		state_dir = slash ? strndup(e->opts.state_file, (size_t)(slash - e->opts.state_file + (slash == e->opts.state_file)))
				  : strdup(".");
		rc = state_dir ? cairn_lua_protect(e->lua, state_dir, true, "cairn's state directory")
			       : cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	free(state_dir);
	free(key);
	free(dot);
	return rc;
}

int cairn_engine_open(cairn_engine **out, const cairn_engine_opts *opts)
{
	cairn_engine *e = calloc(1, sizeof(*e));
	cairn_loop_opts lo;
	size_t i;
	int rc;

	if (!e)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	e->opts = *opts;
	e->opts.dir = strdup(opts->dir ? opts->dir : ".");
	e->opts.stack_file = opts->stack_file ? strdup(opts->stack_file) : path_join(e->opts.dir, "stack.yaml");
	e->opts.env = strdup(opts->env ? opts->env : "");
	e->opts.state_file = opts->state_file ? strdup(opts->state_file) : NULL;
	if (e->opts.parallelism <= 0)
		e->opts.parallelism = 10;
	e->index = json_object();
	e->secrets = json_object();
	e->sensitive_vars = json_object();
	if ((rc = cairn_stack_load(&e->stack, e->opts.stack_file)) != 0)
		goto fail;
	if (!opts->env || !*opts->env) {
		rc = cairn_error_set(CAIRN_EINVAL, "no environment given: use -e ENV (or set CAIRN_ENV)");
		goto fail;
	}
	e->state_path = cairn_store_location(e->opts.state_file, e->stack->state)
		? strdup(cairn_store_location(e->opts.state_file, e->stack->state))
		: path_join(e->stack->dir, ".cairn/state.db");
	if ((rc = cairn_engine__load_env(e)) != 0)
		goto fail;
	if ((rc = cairn_vars_resolve(&e->vars, e->stack, e->env, e->opts.var_overrides)) != 0)
		goto fail;
	for (i = 0; i < e->stack->nvars; i++)
		if (e->stack->vars[i].sensitive) {
			json_object_set_new(e->sensitive_vars, e->stack->vars[i].name, json_true());
			collect_secrets(e->secrets, json_object_get(e->vars, e->stack->vars[i].name));
		}
	if ((rc = open_lua(e)) != 0)
		goto fail;
	if ((rc = protect_state(e)) != 0)
		goto fail;
	e->schemas = calloc(e->stack->nresources + 1, sizeof(*e->schemas));
	if (!e->schemas) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < e->stack->nresources; i++) {
		const cairn_res_cfg *res = &e->stack->resources[i];

		if ((rc = cairn_lua_schema(e->lua, res->type, &e->schemas[i])) != 0) {
			const cairn_error *err = cairn_error_last();
			char msg[2048];

			snprintf(msg, sizeof(msg), "%s", err ? err->message : "cannot load module");
			rc = cairn_error_set_at(rc == CAIRN_ENOTFOUND ? CAIRN_EINVAL : rc, &res->type_pos, "%s", msg);
			goto fail;
		}
		if ((rc = check_props(e, i)) != 0)
			goto fail;
	}
	if ((rc = cairn_checks_validate(e)) != 0)
		goto fail;
	if ((rc = cairn_engine_check_hosts(e)) != 0 || (rc = build_graph(e)) != 0)
		goto fail;
	for (i = 0; i < e->stack->noutputs; i++)
		if ((rc = check_expr(e, NO_RES, e->stack->outputs[i].value, NULL, NULL)) != 0)
			goto fail;
	if ((rc = compute_config_hash(e)) != 0)
		goto fail;
	if ((rc = load_state(e)) != 0)
		goto fail;
	add_state_secrets(e);
	e->root = json_object();
	e->inputs = json_object();
	json_object_set(e->root, "var", e->vars);
	json_object_set_new(e->root, "env", make_env_value(e));
	json_object_set_new(e->root, "path", json_pack("{s:s}", "stack", e->stack->dir));
	cairn_loop_opts_default(&lo);
	if (getenv("CAIRN_RATE_LIMITS") && !strcmp(getenv("CAIRN_RATE_LIMITS"), "0"))
		lo.rate_limits = false; /* e.g. against a local sim that does not limit */
	if ((rc = cairn_loop_new(&e->loop, &lo)) != 0)
		goto fail;
#ifdef HAVE_LIBSSH2
	{
		cairn_ssh_opts so = { 0 };

		so.accept_new = opts->ssh_accept_new;
		if ((rc = cairn_ssh_new(&e->ssh, e->loop, &so)) != 0)
			goto fail;
	}
#endif
	if (uses_aws(e) && (rc = setup_aws(e)) != 0)
		goto fail;
	json_object_set_new(e->root, "env", make_env_value(e));
	*out = e;
	return 0;
fail:
	redact_last_error(e);
	cairn_engine_free(e);
	return rc;
}

static bool is_loopback_url(const char *url)
{
	static const char *const prefixes[] = { "http://127.", "http://localhost", "http://[::1]" };
	size_t i;

	for (i = 0; url && i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(url, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* Whether the stack or the state has aws.* resources: only then are AWS
 * credentials looked for (a profile's credential_process may prompt). */
static bool uses_aws(const cairn_engine *e)
{
	size_t i;

	for (i = 0; i < e->stack->nresources; i++)
		if (strncmp(e->stack->resources[i].type, "aws.", 4) == 0)
			return true;
	for (i = 0; i < e->nstate; i++)
		if (strncmp(e->state[i].type, "aws.", 4) == 0)
			return true;
	return false;
}

/* Temporary credentials that expired during the run: the same chain again
 * (a role is assumed anew, a credential_process run again). */
static int renew_aws(void *ud, cairn_aws_creds *out)
{
	cairn_engine *e = ud;
	json_t *p = e->env->provider;
	int rc = cairn_aws_creds_resolve(out, json_string_value(json_object_get(p, "profile")),
					 json_string_value(json_object_get(p, "region")),
					 json_string_value(json_object_get(p, "endpoint")));

	if (rc && e->opts.log) {
		const cairn_error *err = cairn_error_last();

		fprintf(e->opts.log, "cairn: cannot renew the expired AWS credentials: %s\n",
			err ? err->message : "unknown error");
	} else if (e->opts.log) {
		fprintf(e->opts.log, "cairn: AWS credentials expired; renewed (%s)\n", out->source ? out->source : "");
	}
	return rc;
}

/* Credentials for modules that sign requests: the standard AWS chain, with
 * the overlay's profile, region and endpoint. Against a local endpoint
 * (cairn sim) with no credentials anywhere, the sim's documented test key.
 * Modules see the resolved region and endpoint in ctx.provider, never keys. */
static int setup_aws(cairn_engine *e)
{
	json_t *p = e->env->provider;
	const char *profile = json_string_value(json_object_get(p, "profile"));
	const char *region = json_string_value(json_object_get(p, "region"));
	const char *endpoint = json_string_value(json_object_get(p, "endpoint"));
	cairn_aws_creds c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = cairn_aws_creds_resolve(&c, profile, region, endpoint);
	if (rc == CAIRN_ENOTFOUND) {
		cairn_aws_creds_release(&c);
		memset(&c, 0, sizeof(c));
		if (!is_loopback_url(endpoint)) {
			cairn_error_clear();
			return 0; /* no credentials: a module that signs will say so */
		}
		c.access_key = strdup(CAIRN_SIM_ACCESS_KEY);
		c.secret_key = strdup(CAIRN_SIM_SECRET_KEY);
		c.region = region ? strdup(region) : NULL;
		c.endpoint = strdup(endpoint);
		c.source = strdup("the cairn sim test key");
	} else if (rc) {
		cairn_error_prefix("environment '%s' (%s)", e->opts.env, e->env->path);
		return rc;
	}
	if (c.region)
		json_object_set_new(p, "region", json_string(c.region));
	if (c.endpoint)
		json_object_set_new(p, "endpoint", json_string(c.endpoint));
	{
		/* a per-service endpoint map: each of its URLs may be signed for */
		json_t *map = json_object_get(p, "endpoint"), *v;
		const char *eps[64], *k;
		size_t n = 0;

		json_object_foreach(json_is_object(map) ? map : NULL, k, v)
			if (json_is_string(v) && n < sizeof(eps) / sizeof(eps[0]) - 1)
				eps[n++] = json_string_value(v);
		eps[n] = NULL;
		rc = cairn_aws_signer_install(e->loop, &c, eps, c.session_token ? renew_aws : NULL, e);
	}
	cairn_aws_creds_release(&c);
	return rc;
}

static int lock_heartbeat(void *ud)
{
	cairn_engine *e = ud;

	return cairn_lock_renew(e->store, e->opts.env);
}

int cairn_engine_lock(cairn_engine *e, const char *operation)
{
	int rc;

	if (!e->store && !e->opts.for_write)
		return cairn_error_set(CAIRN_ERROR, "no state store open for writing");
	if (!e->store && (rc = cairn_store_open(&e->store, e->state_path, CAIRN_STORE_CREATE)) != 0)
		return rc;
	rc = cairn_lock_acquire(e->store, e->opts.env, operation, e->opts.lease > 0 ? e->opts.lease : CAIRN_LOCK_DEFAULT_LEASE,
				e->opts.lock_timeout, NULL);
	if (rc)
		return rc;
	e->locked = true;
	/* from here a signal must end the run with the lock released */
	cairn_engine_signals_on(e);
	/* the state may have moved while we waited */
	return cairn_engine_reload_state(e);
}

int cairn_engine_heartbeat_every(cairn_engine *e, double *every, int (**fn)(void *))
{
	*every = (e->opts.lease > 0 ? e->opts.lease : CAIRN_LOCK_DEFAULT_LEASE) / 3.0;
	*fn = lock_heartbeat;
	return e->locked;
}

/* ---------- evaluation ---------- */

/* count.index / each.key and each.value of in where expressions find them
 * (in NULL or without a key: neither); scope_end takes them away. */
static void scope_begin(cairn_engine *e, const cairn_inst *in)
{
	if (in && in->key && json_is_integer(in->key))
		json_object_set_new(e->root, "count", json_pack("{s:O}", "index", in->key));
	if (in && in->key && json_is_string(in->key))
		json_object_set_new(e->root, "each", json_pack("{s:O,s:O}", "key", in->key,
			"value", in->each_value ? in->each_value : json_null()));
}

static void scope_end(cairn_engine *e, const cairn_inst *in)
{
	if (in && in->key && json_is_integer(in->key))
		json_object_del(e->root, "count");
	if (in && in->key && json_is_string(in->key))
		json_object_del(e->root, "each");
}

int cairn_engine_eval(cairn_engine *e, const cairn_expr *x, const cairn_inst *in, json_t **out)
{
	cairn_eval_ctx ctx = { e->root, e->stack->dir, e->inputs };
	int rc;

	scope_begin(e, in);
	rc = cairn_expr_eval(out, x, &ctx);
	scope_end(e, in);
	return rc;
}

/* Set an instance's attributes where expressions find them. */
void cairn_engine_publish(cairn_engine *e, const cairn_inst *in, json_t *attrs)
{
	const cairn_res_cfg *res;
	json_t *slot;

	if (in->res == NO_RES || !attrs)
		return;
	res = &e->stack->resources[in->res];
	slot = json_object_get(e->root, res->name);
	if (!in->key) {
		json_object_set(e->root, res->name, attrs);
	} else if (json_is_integer(in->key)) {
		size_t idx = (size_t)json_integer_value(in->key);

		if (!json_is_array(slot)) {
			slot = json_array();
			json_object_set_new(e->root, res->name, slot);
		}
		while (json_array_size(slot) <= idx)
			json_array_append_new(slot, json_null());
		json_array_set(slot, idx, attrs);
	} else {
		if (!json_is_object(slot)) {
			slot = json_object();
			json_object_set_new(e->root, res->name, slot);
		}
		json_object_set(slot, json_string_value(in->key), attrs);
	}
}

json_t *cairn_engine_op_ctx(cairn_engine *e, const char *address, const char *token)
{
	json_t *ctx = json_pack("{s:s,s:s,s:s,s:s,s:O}", "env", e->opts.env, "stack", e->stack->name,
		"address", address ? address : "", "base_dir", e->stack->dir, "provider", e->env->provider);

	if (ctx && token)
		json_object_set_new(ctx, "token", json_string(token));
	/* a run that writes nothing (plan, drift) does not wait on the cloud:
	 * an object found being deleted is taken as gone at once (aws.common) */
	if (ctx && !e->opts.for_write)
		json_object_set_new(ctx, "planning", json_true());
	return ctx;
}

/* ---------- refresh ---------- */

typedef struct refresh_job {
	cairn_engine *e;
	const char *type;
	size_t *rows;    /* state rows */
	size_t nrows;
	bool many;
	bool attrs;      /* read_many wants the recorded attrs */
	const json_t *keys; /* NULL, or only these of them */
	bool marks;      /* a read_marks type in a run with marks (marks.c) */
	json_t *host;    /* host types: the connection of the rows' host (hosts.c) */
	double timeouts[CAIRN_TIMEOUT_N]; /* read: the longest of its resources' */
} refresh_job;

const double *cairn_engine_timeouts(const cairn_engine *e, const char *address)
{
	size_t n = strcspn(address, "[~"), i;

	for (i = 0; i < e->stack->nresources; i++)
		if (strlen(e->stack->resources[i].name) == n && !strncmp(e->stack->resources[i].name, address, n))
			return e->stack->resources[i].timeouts;
	return NULL;
}

/* attrs, or (keys given) an object of only those of its members (shared) */
static json_t *some_keys(json_t *attrs, const json_t *keys)
{
	json_t *out, *k, *v;
	size_t i;

	if (!keys || !json_is_object(attrs))
		return json_incref(attrs);
	out = json_object();
	json_array_foreach(keys, i, k)
		if ((v = json_object_get(attrs, json_string_value(k))) != NULL)
			json_object_set(out, json_string_value(k), v);
	return out;
}

/* The digest hits (ctx.unchanged of a list or read_many) name r's object
 * with, when it is the digest of r's mark; else NULL. */
static const char *hit_of(const cairn_engine *e, const cairn_state_res *r, const json_t *hits)
{
	const char *got, *want;

	if (!r->id || !hits)
		return NULL;
	got = json_string_value(json_object_get(hits, r->id));
	want = got ? cairn_engine_mark_digest(e, r) : NULL;
	return want && !strcmp(got, want) ? got : NULL;
}

json_t *cairn_engine_refreshed(const cairn_engine *e, const cairn_state_res *row)
{
	json_t *r = e->refreshed ? json_object_get(e->refreshed, row->address) : NULL;

	return json_is_true(r) ? cairn_state_res_attrs(row) : r;
}

/* A row the drift listing already found unchanged (taken in phase 0). */
static bool listed_hit(const cairn_engine *e, const refresh_job *j, const cairn_state_res *r)
{
	return j->marks && e->listed_unchanged && hit_of(e, r, e->listed_unchanged);
}

static cairn_step_rc refresh_step(cairn_sched *s, cairn_task *t)
{
	refresh_job *j = t->ud;
	cairn_engine *e = j->e;
	size_t i;

	if (t->phase == 0) {
		json_t *args, *ctx;
		size_t left = 0;
		int rc;

		t->phase = 1;
		/* the rows whose objects the listing found unchanged: as recorded,
		 * with no read (their objects were not kept for one) */
		for (i = 0; i < j->nrows; i++) {
			cairn_state_res *r = &e->state[j->rows[i]];

			if (listed_hit(e, j, r)) {
				json_object_set(e->refreshed, r->address, CAIRN_AS_RECORDED);
				e->mark_used++;
			} else {
				left++;
			}
		}
		if (!left)
			return CAIRN_STEP_DONE;
		if (j->many) {
			json_t *list = json_array();

			for (i = 0; i < j->nrows; i++) {
				cairn_state_res *r = &e->state[j->rows[i]];

				if (listed_hit(e, j, r))
					continue;

				json_array_append_new(list, j->attrs ?
					json_pack("{s:s?,s:s,s:o}", "id", r->id, "address", r->address, "attrs",
						  some_keys(cairn_state_res_attrs(r), j->keys)) :
					json_pack("{s:s?,s:s}", "id", r->id, "address", r->address));
			}
			args = json_pack("[o]", list);
			ctx = cairn_engine_op_ctx(e, NULL, NULL);
			if (j->marks) {
				/* {digest: id} of the batch's rows with a valid mark */
				json_t *m = json_object();
				const char *d;

				for (i = 0; i < j->nrows; i++) {
					cairn_state_res *r = &e->state[j->rows[i]];

					if (r->id && !listed_hit(e, j, r) && (d = cairn_engine_mark_digest(e, r)))
						json_object_set_new(m, d, json_string(r->id));
				}
				if (json_object_size(m) || e->mark_keep)
					json_object_set_new(ctx, "marks", m);
				else
					json_decref(m);
			}
			rc = cairn_engine_task_host(e, t, &j->host, ctx, j->type, e->state[j->rows[0]].address,
						    cairn_state_res_attrs(&e->state[j->rows[0]]));
			if (!rc)
				rc = cairn_sched_start_op(s, t, j->type, "read_many", ctx, args);
		} else {
			cairn_state_res *r = &e->state[j->rows[0]];

			args = json_pack("[s?,O]", r->id, cairn_state_res_attrs(r));
			ctx = cairn_engine_op_ctx(e, r->address, r->token);
			rc = cairn_engine_task_host(e, t, &j->host, ctx, j->type, r->address, cairn_state_res_attrs(r));
			if (!rc)
				rc = cairn_sched_start_op(s, t, j->type, "read", ctx, args);
		}
		json_decref(args);
		json_decref(ctx);
		if (rc) {
			const cairn_error *err = cairn_error_last();

			return cairn_task_fail(t, "%s", err ? err->message : "cannot start read");
		}
		return CAIRN_STEP_WAIT;
	}
	if (t->op_failed)
		return CAIRN_STEP_FAILED;
	for (i = 0; i < j->nrows; i++) {
		cairn_state_res *r = &e->state[j->rows[i]];
		json_t *v = j->many ? (r->id ? json_object_get(t->op_result, r->id) : NULL) : t->op_result;
		json_t *dig = NULL;
		const char *unch = NULL;

		if (listed_hit(e, j, r))
			continue;
		if (j->marks && json_is_string(v) && !strncmp(json_string_value(v), "#unchanged:", 11))
			unch = json_string_value(v) + 11;
		else if (j->marks && j->many && !v && r->id && t->op_unchanged)
			unch = json_string_value(json_object_get(t->op_unchanged, r->id));
		if (unch) {
			/* read marks: the bytes are those of the read the row was found
			 * equal to; only a mark this run offered for this row */
			const char *want = cairn_engine_mark_digest(e, r);

			if (!want || strcmp(want, unch))
				return cairn_task_fail(t, "module %s answered \"unchanged\" for %s, which has no such read mark",
						       j->type, r->address);
			json_object_set(e->refreshed, r->address, CAIRN_AS_RECORDED);
			e->mark_used++;
			continue;
		}
		if (j->many && json_is_object(v) && (dig = json_object_get(v, "#digest"))) {
			dig = json_incref(dig);
			json_object_del(v, "#digest");
		}
		if (!v || json_is_null(v)) {
			json_object_set_new(e->refreshed, r->address, json_null());
		} else if (json_is_object(v) && json_is_true(json_object_get(v, "_deleting"))) {
			/* being deleted, and this run does not wait (ctx.planning) */
			json_object_set_new(e->refreshed, r->address, json_null());
			json_object_set_new(e->deleting, r->address, json_true());
		} else if (json_is_object(v)) {
			/* what read does not return (write-only properties) stays as
			 * recorded: then a shallow copy, as two rows may share an id;
			 * when read returned every recorded key (the usual case), the
			 * result itself, shared (nothing changes e->refreshed's
			 * members in place: the "_run" path replaces its row) */
			const char *k;
			json_t *x, *cur = NULL;

			json_t *rec = cairn_state_res_attrs(r);

			json_object_foreach(rec, k, x)
				if (!json_object_get(v, k)) {
					cur = json_copy(v);
					json_object_update_missing(cur, rec);
					break;
				}
			json_object_set_new(e->refreshed, r->address, cur ? cur : json_incref(v));
			if (j->marks && json_is_string(dig) && json_equal(cur ? cur : v, rec) &&
			    cairn_engine_mark_key(e, r))
				json_object_set_new(e->mark_new, r->address,
					json_pack("[s,O]", cairn_engine_mark_key(e, r), dig));
		} else {
			json_decref(dig);
			return cairn_task_fail(t, "module %s returned %s from read, expected a table or nil", j->type,
					       cairn_value_type_name(v));
		}
		json_decref(dig);
	}
	return CAIRN_STEP_DONE;
}

static void log_task(void *ud, cairn_task *t, cairn_task_state from, cairn_task_state to)
{
	cairn_engine *e = ud;

	if (e->opts.log && e->opts.verbose)
		fprintf(e->opts.log, "cairn: %s: %s -> %s\n", t->label, cairn_task_state_name(from), cairn_task_state_name(to));
}

static const char *row_host(const cairn_engine *e, size_t row)
{
	const cairn_state_res *r = &e->state[row];
	/* only a host type's row is read (rows are parsed on first use) */
	const char *h = cairn_engine_is_host_type(r->type) ?
			cairn_engine_host_of(r->type, r->address, cairn_state_res_attrs(r)) : NULL;

	return h ? h : "";
}

static bool same_host(const cairn_engine *e, size_t a, size_t b)
{
	return !strcmp(row_host(e, a), row_host(e, b));
}

static int by_host(const void *a, const void *b, void *ud)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(row_host(ud, x), row_host(ud, y));

	return c ? c : (x < y ? -1 : x > y);
}

/* Rows of a host type, grouped by host (in state order within a host). */
static void sort_by_host(const cairn_engine *e, size_t *rows, size_t n)
{
	qsort_r(rows, n, sizeof(*rows), by_host, (void *)e);
}

typedef struct type_count {
	const char *type;
	json_int_t n;
} type_count;

static int by_count(const void *a, const void *b)
{
	const type_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return strcmp(x->type, y->type);
}

/* While a locked run refreshes (minutes when objects are deleting, or for
 * thousands of resources), its lease is renewed as during the apply: a
 * refresh longer than the lease must not let another run take the lock. */
typedef struct refresh_beat {
	cairn_engine *e;
	double next, every;
	int (*fn)(void *);
} refresh_beat;

static int refresh_idle(void *ud)
{
	refresh_beat *rb = ud;

	if (cairn_now() < rb->next)
		return 0;
	rb->next = cairn_now() + rb->every;
	if (rb->fn(rb->e) != 0) {
		const cairn_error *err = cairn_error_last();

		return cairn_error_set(CAIRN_ELOCKED, "lost the lock of environment '%s' (%.800s); stopped "
				       "before writing anything else", rb->e->opts.env,
				       err ? err->message : "taken by another run");
	}
	return 0;
}

int cairn_engine_refresh(cairn_engine *e)
{
	refresh_job *jobs = NULL;
	cairn_task *tasks = NULL;
	cairn_sched *s = NULL;
	type_count *order = NULL;
	size_t *rows = NULL, njobs = 0, ntypes = 0, i, k, t;
	json_t *types = json_object();
	const char *type;
	json_t *x;
	refresh_beat beat = { 0 };
	int rc = 0;

	json_decref(e->refreshed);
	e->refreshed = json_object();
	json_decref(e->deleting);
	e->deleting = json_object();
	if (e->nstate == 0)
		goto cleanup;
	rows = malloc(e->nstate * sizeof(size_t));
	jobs = calloc(e->nstate, sizeof(*jobs));
	tasks = calloc(e->nstate, sizeof(*tasks));
	if (!rows || !jobs || !tasks) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* types with fewer resources first: their reads are the ones that
	 * take several calls in turn per resource (a VPC's attributes), and
	 * the long runs of batches of the big types fill the slots after them */
	for (i = 0; i < e->nstate; i++) {
		json_t *n = json_object_get(types, e->state[i].type);

		json_object_set_new(types, e->state[i].type, json_integer(n ? json_integer_value(n) + 1 : 1));
	}
	if (!(order = malloc(json_object_size(types) * sizeof(*order)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	json_object_foreach(types, type, x)
		order[ntypes++] = (type_count){ type, json_integer_value(x) };
	qsort(order, ntypes, sizeof(*order), by_count);
	k = 0;
	for (t = 0; t < ntypes; t++) {
		const cairn_schema *sch;
		size_t first = k;

		type = order[t].type;
		if ((rc = cairn_lua_schema(e->lua, type, &sch)) != 0)
			goto cleanup;
		for (i = 0; i < e->nstate; i++) {
			const char *missing;

			if (strcmp(e->state[i].type, type) != 0)
				continue;
			/* a host the state forgot (or failed to make again) cannot be
			 * reached before the plan makes it: what is on it keeps what
			 * the state recorded until then (hosts.c) */
			missing = !cairn_engine_is_host_type(type) ? NULL :
				  cairn_engine_host_unrecorded(e, type, e->state[i].address,
							       cairn_state_res_attrs(&e->state[i]));
			if (missing) {
				if (e->opts.log)
					fprintf(e->opts.log, "cairn: warning: cannot refresh %s: host %s is not in the state "
						"(forgotten, or not made again yet); it keeps what the state recorded\n",
						e->state[i].address, missing);
				continue;
			}
			rows[k++] = i;
		}
		if (cairn_engine_is_host_type(type))
			sort_by_host(e, rows + first, k - first);
		if (sch->ops & CAIRN_OPS_READ_MANY) {
			/* batches of read_many_batch, run in parallel like any tasks;
			 * a batch of a host type holds the objects of one host */
			size_t b = sch->read_many_batch ? sch->read_many_batch : 200, at, n;

			for (at = first; at < k; at += n) {
				for (n = 1; at + n < k && n < b && same_host(e, rows[at], rows[at + n]); n++)
					;
				jobs[njobs] = (refresh_job){ e, sch->type, rows + at, n, true, sch->read_many_attrs,
							     sch->read_many_keys, sch->read_marks && e->marks_on,
							     NULL, { 0 } };
				tasks[njobs].label = sch->type;
				njobs++;
			}
		} else {
			for (i = first; i < k; i++) {
				jobs[njobs] = (refresh_job){ e, sch->type, rows + i, 1, false, true, NULL, false, NULL,
							     { 0 } };
				tasks[njobs].label = e->state[rows[i]].address;
				njobs++;
			}
		}
	}
	for (i = 0; i < njobs; i++) {
		tasks[i].step = refresh_step;
		tasks[i].ud = &jobs[i];
		for (k = 0; k < jobs[i].nrows; k++) {
			const double *to = cairn_engine_timeouts(e, e->state[jobs[i].rows[k]].address);

			if (to && to[CAIRN_TIMEOUT_READ] > jobs[i].timeouts[CAIRN_TIMEOUT_READ])
				jobs[i].timeouts[CAIRN_TIMEOUT_READ] = to[CAIRN_TIMEOUT_READ];
		}
		tasks[i].timeouts = jobs[i].timeouts;
	}
	if ((rc = cairn_sched_new(&s, e->loop, e->lua, NULL, tasks, njobs, e->opts.parallelism)) != 0)
		goto cleanup;
	cairn_sched_set_log(s, log_task, e);
	if (e->locked) {
		cairn_engine_heartbeat_every(e, &beat.every, &beat.fn);
		beat.e = e;
		beat.next = cairn_now(); /* the time since the lock was taken counts too */
		cairn_sched_set_idle(s, refresh_idle, &beat, 0.2);
	}
	rc = cairn_engine_run_sched(e, s);
	if (rc == CAIRN_ERROR && e->opts.for_write && !cairn_engine_signal(e)) {
		/* An apply goes on past hosts it cannot reach: their objects keep
		 * what the state recorded, and their operations fail (the session
		 * failed), while the other hosts' and the cloud's are done. */
		bool hosts_only = true;

		for (i = 0; i < njobs; i++)
			if (tasks[i].state == CAIRN_TASK_FAILED && !cairn_engine_is_host_type(jobs[i].type))
				hosts_only = false;
		for (i = 0; hosts_only && i < njobs; i++)
			if (tasks[i].state == CAIRN_TASK_FAILED) {
				char *m = cairn_engine_clean(e, tasks[i].error ? tasks[i].error : "failed");

				if (!e->unreached)
					e->unreached = json_object();
				/* the host's operations fail with this (apply.c) */
				if (!json_object_get(e->unreached, row_host(e, jobs[i].rows[0])))
					json_object_set_new(e->unreached, row_host(e, jobs[i].rows[0]), json_string(m));
				if (e->opts.log)
					fprintf(e->opts.log, "cairn: warning: cannot refresh %s: %s; the other hosts go on\n",
						tasks[i].label, m);
				free(m);
			}
		if (hosts_only)
			rc = 0;
	}
	if (rc == CAIRN_ERROR && cairn_engine_signal(e)) {
		rc = cairn_engine_interrupted_error(e);
	} else if (rc == CAIRN_ERROR) {
		for (i = 0; i < njobs; i++)
			if (tasks[i].state == CAIRN_TASK_FAILED) {
				char *m = cairn_engine_clean(e, tasks[i].error ? tasks[i].error : "failed");

				rc = cairn_error_set(CAIRN_EREMOTE, "cannot refresh %s: %s", tasks[i].label, m ? m : "failed");
				free(m);
				break;
			}
	}
	for (i = 0; i < e->nstate; i++) {
		json_t *cur = json_object_get(e->refreshed, e->state[i].address);
		size_t j;
		json_t *n;

		json_array_foreach(e->state[i].sensitive, j, n)
			collect_secrets(e->secrets, json_object_get(cur, json_string_value(n)));
	}
cleanup:
	cairn_sched_free(s);
	for (i = 0; tasks && i < njobs; i++) {
		free(tasks[i].error);
		json_decref(jobs[i].host);
	}
	free(tasks);
	free(jobs);
	free(rows);
	free(order);
	json_decref(types);
	return rc;
}

/* ---------- plan ---------- */

static int add_inst(cairn_engine *e, size_t res, const char *name, const char *type, json_t *key,
		    json_t *each_value, const char *address, size_t *idx_out)
{
	cairn_inst *in;

	if (e->ninsts == e->ainsts) {
		size_t a = e->ainsts ? e->ainsts * 2 : 64;
		cairn_inst *p = realloc(e->insts, a * sizeof(*p));

		if (!p)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		e->insts = p;
		e->ainsts = a;
	}
	in = &e->insts[e->ninsts];
	memset(in, 0, sizeof(*in));
	in->res = res;
	in->name = strdup(name);
	in->type = strdup(type);
	in->key = key ? json_incref(key) : NULL;
	in->each_value = each_value ? json_incref(each_value) : NULL;
	in->address = address ? strdup(address) : cairn_address(name, key);
	in->changes = json_array();
	in->sensitive = json_array();
	in->targeted = true;
	if (!in->name || !in->type || !in->address)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (json_object_get(e->index, in->address))
		return cairn_error_set(CAIRN_EINVAL, "duplicate instance address %s", in->address);
	json_object_set_new(e->index, in->address, json_integer((json_int_t)e->ninsts));
	*idx_out = e->ninsts++;
	return 0;
}

static bool name_in(const char *name, char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

static json_t *planned_new(const cairn_schema *s, json_t *desired)
{
	json_t *p = json_deep_copy(desired);
	size_t i;

	for (i = 0; i < s->nattrs; i++) {
		const cairn_attr_schema *a = &s->attrs[i];
		json_t *v = json_object_get(p, a->name);

		if (!v || json_is_null(v))
			json_object_set_new(p, a->name, a->computed ? cairn_unknown() : json_null());
	}
	if (!json_object_get(p, s->id_attr))
		json_object_set_new(p, s->id_attr, cairn_unknown());
	return p;
}

/* Does the property read a sensitive value (its value must not be shown)? */
static bool prop_tainted(const cairn_engine *e, const cairn_res_cfg *res, const char *k)
{
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(e->tainted, res->name), i, x)
		if (!strcmp(json_string_value(x), k))
			return true;
	return false;
}

int cairn_engine_desired(cairn_engine *e, cairn_inst *in, const cairn_res_cfg *res, json_t **out)
{
	const cairn_schema *s = in->schema;
	cairn_eval_ctx ctx = { e->root, e->stack->dir, e->inputs };
	json_t *d = json_object();
	size_t i, n = cairn_expr_size(res->props);
	int rc = 0;

	scope_begin(e, in);
	for (i = 0; i < n && !rc; i++) {
		const char *k = cairn_expr_key(res->props, i, NULL);
		const cairn_expr *x = cairn_expr_item(res->props, i);
		const cairn_attr_schema *a = cairn_schema_attr(s, k);
		json_t *v = NULL, *conv = NULL;

		if ((rc = cairn_expr_eval(&v, x, &ctx)) != 0)
			break;
		if (attr_conform(&conv, a->type, v) != 0) {
			const cairn_error *err = cairn_error_last();
			char msg[2048];

			snprintf(msg, sizeof(msg), "%s", err ? err->message : "wrong type");
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(x), "property '%s' of %s: %s", k, s->type, msg);
		} else if ((rc = check_value(e, s, a, conv, prop_tainted(e, res, k), cairn_expr_start(x))) != 0) {
			json_decref(conv);
		} else {
			json_object_set_new(d, k, conv);
		}
		json_decref(v);
	}
	scope_end(e, in);
	for (i = 0; i < s->nattrs && !rc; i++) {
		const cairn_attr_schema *a = &s->attrs[i];
		json_t *v = json_object_get(d, a->name);

		if ((!v || json_is_null(v)) && a->def)
			json_object_set(d, a->name, a->def);
		v = json_object_get(d, a->name);
		if (a->required && (!v || json_is_null(v)))
			rc = cairn_error_set_at(CAIRN_EINVAL, &res->pos, "resource '%s': required property '%s' is null",
						in->address, a->name);
	}
	if (rc) {
		json_decref(d);
		return rc;
	}
	*out = d;
	return 0;
}

static void add_change(cairn_inst *in, const cairn_attr_schema *a, json_t *before, json_t *after, bool sens)
{
	json_array_append_new(in->changes, json_pack("{s:s,s:O,s:O,s:b,s:b}", "attribute", a->name,
		"before", before ? before : json_null(), "after", after ? after : json_null(),
		"force_new", a->force_new, "sensitive", sens));
}

static bool inst_sensitive(const cairn_inst *in, const char *name)
{
	size_t i;
	json_t *x;

	json_array_foreach(in->sensitive, i, x)
		if (!strcmp(json_string_value(x), name))
			return true;
	return false;
}

static void computed_unknown(cairn_inst *in);
json_t *cairn_engine_sensitive_names(const cairn_engine *e, const cairn_schema *s, const char *name)
{
	json_t *names = json_array(), *t;
	size_t i;

	for (i = 0; s && i < s->nattrs; i++)
		if (s->attrs[i].sensitive)
			json_array_append_new(names, json_string(s->attrs[i].name));
	json_array_foreach(json_object_get(e->tainted, name), i, t)
		if (!s || !cairn_schema_attr(s, json_string_value(t)) || !cairn_schema_attr(s, json_string_value(t))->sensitive)
			json_array_append(names, t);
	return names;
}

static int plan_instance(cairn_engine *e, cairn_inst *in, const cairn_res_cfg *res, json_t *forced)
{
	const cairn_schema *s = in->schema;
	json_t *cur = NULL, *t;
	const char *fact = forced ? json_string_value(json_object_get(forced, "action")) : NULL, *moved;
	bool force_new = false;
	size_t i;
	int rc;

	if ((rc = cairn_engine_desired(e, in, res, &in->desired)) != 0)
		return rc;
	t = cairn_engine_sensitive_names(e, s, res->name);
	json_array_extend(in->sensitive, t);
	json_decref(t);
	cairn_engine_add_secrets(e, in->desired, in->sensitive);

	if (in->prior) {
		json_t *r = cairn_engine_refreshed(e, in->prior);

		if (r && json_is_null(r)) {
			in->gone = true;
			if (e->deleting && json_object_get(e->deleting, in->address)) {
				in->deleting = true;
				free(in->reason);
				in->reason = strdup("it is being deleted; it will be created once the deletion finishes");
			}
		} else
			cur = r ? r : cairn_state_res_attrs(in->prior);
	}
	if (cur && json_is_string(json_object_get(cur, "_run"))) {
		/* read says a run is due (a command's guard): not an attribute */
		json_t *clean = json_copy(cur);

		free(in->reason);
		in->reason = strdup(json_string_value(json_object_get(cur, "_run")));
		in->run_pending = true;
		json_object_del(clean, "_run");
		if (!e->refreshed)
			e->refreshed = json_object();
		json_object_set_new(e->refreshed, in->address, clean);
		cur = clean;
	}
	if (cur && (moved = cairn_engine_host_moves(e, in->type, in->desired, cur)) != NULL) {
		/* its host is another machine now (hosts.c): made again there */
		free(in->reason);
		in->reason = NULL;
		in->run_pending = false;
		if (asprintf(&in->reason, "its host %s moves to a new machine", moved) < 0)
			in->reason = NULL;
		cur = NULL;
	}
	if (fact && !strcmp(fact, "create") && cur) {
		cur = NULL;
		in->gone = true;
	}
	if (!cur) {
		in->action = CAIRN_ACT_CREATE;
		if (in->gone && !in->reason)
			in->reason = strdup("it no longer exists (deleted outside cairn)");
		in->planned = planned_new(s, in->desired);
		return 0;
	}
	in->current = json_incref(cur);
	for (i = 0; i < s->nattrs; i++) {
		const cairn_attr_schema *a = &s->attrs[i];
		json_t *want = json_object_get(in->desired, a->name), *have = json_object_get(cur, a->name);
		json_t *fattrs = forced ? json_object_get(forced, "attributes") : NULL;
		bool forced_attr = false;
		size_t k;
		json_t *fx;

		if (!a->required && !a->optional)
			continue;
		if (!want && a->computed)
			continue;
		if (res->ignore_all_changes || name_in(a->name, res->ignore_changes, res->nignore_changes))
			continue;
		json_array_foreach(fattrs, k, fx)
			if (!strcmp(json_string_value(fx), a->name))
				forced_attr = true;
		if (json_is_null(want))
			want = NULL;
		if (json_is_null(have))
			have = NULL;
		if (!forced_attr && ((!want && !have) || (want && have && cairn_value_equal(want, have))))
			continue;
		add_change(in, a, have, want, inst_sensitive(in, a->name));
		if (a->write_only && !have && want)
			/* the cloud never returns it and the state has none (an
			 * import): the cloud's value is unknown, not absent */
			json_object_set_new(json_array_get(in->changes, json_array_size(in->changes) - 1),
					    "write_only", json_true());
		if (a->force_new)
			force_new = true;
	}
	if (json_array_size(in->changes) == 0 && !(fact && !strcmp(fact, "replace")) &&
	    !(in->run_pending && (s->ops & CAIRN_OPS_UPDATE))) {
		in->action = CAIRN_ACT_NOOP;
		in->run_pending = false;
		in->planned = json_incref(cur);
		return 0;
	}
	if (force_new || !(s->ops & CAIRN_OPS_UPDATE) || (fact && !strcmp(fact, "replace"))) {
		if (in->run_pending) { /* the replacement runs it anyway */
			free(in->reason);
			in->reason = NULL;
			in->run_pending = false;
		}
		in->action = CAIRN_ACT_REPLACE;
		/* a rollout keeps the old objects until their batch passed its checks */
		in->cbd = res->create_before_destroy || res->rollout_batch || res->rollout_percent > 0;
		in->planned = planned_new(s, in->desired);
		if (!in->reason)
			in->reason = strdup(force_new ? "a property that forces replacement changed"
						      : "the module cannot update in place");
		return 0;
	}
	in->action = CAIRN_ACT_UPDATE;
	in->planned = json_deep_copy(cur);
	{
		const char *k;
		json_t *v;

		json_object_foreach(in->desired, k, v)
			if (!(res->ignore_all_changes || name_in(k, res->ignore_changes, res->nignore_changes)))
				json_object_set(in->planned, k, v);
	}
	if (in->run_pending)
		computed_unknown(in);
	return 0;
}

/* An update that runs something (a command whose guard says so, a watch
 * that fired) yields new values for what the module computes: those are
 * known after apply, so that what reads them is planned again. */
static void computed_unknown(cairn_inst *in)
{
	const cairn_schema *s = in->schema;
	size_t i;

	for (i = 0; i < s->nattrs; i++)
		if (s->attrs[i].computed && !s->attrs[i].optional && strcmp(s->attrs[i].name, s->id_attr) != 0)
			json_object_set_new(in->planned, s->attrs[i].name, cairn_unknown());
}

/* An attribute that watches resources (schema `watch`): when one of them
 * is created, updated or replaced by this plan, the attribute changes too
 * (with the addresses in triggered_by), so the resource is updated and its
 * module's update sees the attribute in `changed`. The watched resources
 * are dependencies: planned before it. */
static void plan_watch(cairn_engine *e, cairn_inst *in)
{
	const cairn_schema *s = in->schema;
	size_t i, j, k;

	if (in->action != CAIRN_ACT_NOOP && in->action != CAIRN_ACT_UPDATE)
		return;
	for (i = 0; i < s->nattrs; i++) {
		json_t *names = s->attrs[i].watch ? json_object_get(in->desired, s->attrs[i].name) : NULL, *nm, *c;
		json_t *by = json_array(), *change = NULL;

		json_array_foreach(names, j, nm)
			for (k = 0; k < e->ninsts; k++) {
				cairn_inst *w = &e->insts[k];

				if (w != in && w->res != SIZE_MAX && w->action != CAIRN_ACT_NOOP &&
				    !strcmp(w->name, json_string_value(nm)))
					json_array_append_new(by, json_string(w->address));
			}
		if (json_array_size(by) == 0) {
			json_decref(by);
			continue;
		}
		json_array_foreach(in->changes, j, c)
			if (!strcmp(json_string_value(json_object_get(c, "attribute")), s->attrs[i].name))
				change = c;
		if (!change) {
			add_change(in, &s->attrs[i], json_object_get(in->current, s->attrs[i].name), names, false);
			change = json_array_get(in->changes, json_array_size(in->changes) - 1);
		}
		json_object_set_new(change, "triggered_by", by);
		if (in->action == CAIRN_ACT_NOOP) {
			json_t *planned = json_deep_copy(in->current ? in->current : in->planned);

			json_object_update(planned, in->desired);
			json_decref(in->planned);
			in->planned = planned;
			in->action = CAIRN_ACT_UPDATE;
			free(in->reason);
			in->reason = strdup("a resource it watches changes in this apply");
		}
		computed_unknown(in);
	}
}

/* A for_each key holds a sensitive value: refused, as Terraform does, for
 * keys name the instances in plans, messages and the state, in clear. The
 * message does not repeat the key. */
static int sensitive_key(const cairn_res_cfg *res)
{
	return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_start(res->for_each),
		"for_each of '%s' uses a sensitive value as an instance key; keys name the instances in plans, "
		"messages and the state, where they are shown in clear: key the instances by something that is not "
		"secret (a map of names to secrets keeps the secrets in each.value, which stays sensitive)", res->name);
}

/* "count ... must be a whole number from 0 to 100000, got N", N as written. */
static int count_range(const cairn_res_cfg *res, const json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY);
	int rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->count),
		"count of '%s' must be a whole number from 0 to %d, got %s", res->name, CAIRN_COUNT_MAX, s ? s : "?");

	free(s);
	return rc;
}

static int expand_keys(cairn_engine *e, const cairn_res_cfg *res, json_t **keys, json_t **values)
{
	json_t *v = NULL;
	bool sens_keys = json_object_get(e->each_sensitive, res->name) != NULL;
	int rc;

	*keys = json_array();
	*values = json_array();
	if (res->count) {
		json_int_t n, i;

		if ((rc = cairn_engine_eval(e, res->count, NULL, &v)) != 0)
			return rc;
		if (cairn_has_unknown(v))
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->count),
				"count of '%s' depends on values known only after apply", res->name);
		else if (!json_is_number(v) || json_number_value(v) != floor(json_number_value(v)))
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->count),
				"count of '%s' must be a whole number from 0 to %d, got %s", res->name, CAIRN_COUNT_MAX,
				cairn_value_type_name(v));
		else if (json_number_value(v) < 0 || json_number_value(v) > CAIRN_COUNT_MAX)
			rc = count_range(res, v);
		else
			for (i = 0, n = (json_int_t)json_number_value(v); i < n; i++) {
				json_array_append_new(*keys, json_integer(i));
				json_array_append_new(*values, json_null());
			}
	} else if (res->for_each) {
		if ((rc = cairn_engine_eval(e, res->for_each, NULL, &v)) != 0)
			return rc;
		if (cairn_has_unknown(v)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->for_each),
				"for_each of '%s' depends on values known only after apply", res->name);
		} else if (json_is_object(v)) {
			const char *k;
			json_t *x;

			json_object_foreach(v, k, x) {
				if (sens_keys && holds_secret(e, k)) {
					rc = sensitive_key(res);
					break;
				}
				json_array_append_new(*keys, json_string(k));
				json_array_append(*values, x);
			}
		} else if (json_is_array(v)) {
			json_t *seen = json_object(), *x;
			size_t i;

			rc = seen ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");
			json_array_foreach(v, i, x) {
				if (rc)
					break;
				if (!json_is_string(x)) {
					rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->for_each),
						"for_each of '%s' must be a map or a list of strings, got %s at index %zu",
						res->name, cairn_value_type_name(x), i);
					break;
				}
				/* a list's values are its keys */
				if (sens_keys) {
					rc = sensitive_key(res);
					break;
				}
				if (json_object_get(seen, json_string_value(x))) {
					rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->for_each),
						"for_each of '%s' has the key \"%s\" twice (at index %lld and %zu): "
						"each instance needs its own key", res->name, json_string_value(x),
						(long long)json_integer_value(json_object_get(seen, json_string_value(x))), i);
					break;
				}
				json_object_set_new(seen, json_string_value(x), json_integer((json_int_t)i));
				json_array_append(*keys, x);
				json_array_append(*values, x);
			}
			json_decref(seen);
		} else {
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(res->for_each),
				"for_each of '%s' must be a map or a list of strings, got %s", res->name, cairn_value_type_name(v));
		}
	} else {
		json_array_append_new(*keys, json_null());
		json_array_append_new(*values, json_null());
		rc = 0;
	}
	json_decref(v);
	return rc;
}

/* --target / --exclude. Planning: a target brings in what it depends on,
 * an exclusion takes out what depends on it. Destroying, the other way (as
 * Terraform): destroying a target destroys what depends on it first, and
 * keeping an excluded resource keeps what it depends on. */
static void apply_targets(cairn_engine *e, bool destroy)
{
	unsigned char *inc = NULL, *exc = NULL;
	size_t i, j;
	bool any;

	if (!e->opts.ntargets && !e->opts.nexcludes)
		return;
	inc = calloc(e->ninsts + 1, 1);
	exc = calloc(e->ninsts + 1, 1);
	if (!inc || !exc)
		goto cleanup;
	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];

		if (!e->opts.ntargets || name_in(in->address, e->opts.targets, e->opts.ntargets) ||
		    name_in(in->name, e->opts.targets, e->opts.ntargets))
			inc[i] = 1;
		if (name_in(in->address, e->opts.excludes, e->opts.nexcludes) ||
		    name_in(in->name, e->opts.excludes, e->opts.nexcludes))
			exc[i] = 1;
	}
	do {
		any = false;
		for (i = e->ninsts; i-- > 0;) {
			cairn_inst *in = &e->insts[i];
			size_t nstate = in->res == NO_RES && in->prior ? json_array_size(in->prior->deps) : 0;

			/* an orphan (every instance, destroying) knows its dependencies
			 * from the state; the others from the configuration */
			for (j = 0; j < in->ndeps + nstate; j++) {
				size_t d;
				unsigned char *from, *to;

				if (j < in->ndeps) {
					d = in->deps[j];
				} else {
					cairn_inst *dep = cairn_engine_inst(e,
						json_string_value(json_array_get(in->prior->deps, j - in->ndeps)));

					if (!dep)
						continue;
					d = (size_t)(dep - e->insts);
				}
				from = destroy ? &inc[d] : &inc[i];
				to = destroy ? &inc[i] : &inc[d];
				if (*from && !*to && e->opts.ntargets) {
					*to = 1;
					any = true;
				}
				from = destroy ? &exc[i] : &exc[d];
				to = destroy ? &exc[d] : &exc[i];
				if (*from && !*to) {
					*to = 1;
					any = true;
				}
			}
		}
	} while (any);
	for (i = 0; i < e->ninsts; i++)
		e->insts[i].targeted = inc[i] && !exc[i];
cleanup:
	free(inc);
	free(exc);
}

static int plan_orphans(cairn_engine *e, unsigned char *used, bool destroy)
{
	const char *moved;
	size_t i, idx = 0;
	int rc;

	for (i = 0; i < e->nstate; i++) {
		cairn_state_res *r = &e->state[i];
		const cairn_res_cfg *cfg;
		cairn_inst *in;

		if (used[i])
			continue;
		if ((rc = add_inst(e, NO_RES, r->name, r->type, NULL, NULL, r->address, &idx)) != 0)
			return rc;
		in = &e->insts[idx];
		in->prior = r;
		if ((rc = cairn_lua_schema(e->lua, r->type, &in->schema)) != 0)
			return rc;
		json_array_extend(in->sensitive, r->sensitive);
		{
			json_t *cur = cairn_engine_refreshed(e, r);

			if (cur && json_is_null(cur)) {
				in->gone = true;
				in->action = CAIRN_ACT_NOOP; /* already gone: only forget it */
				in->deleting = e->deleting && json_object_get(e->deleting, r->address);
				in->reason = strdup(in->deleting ? "it is being deleted; it will be forgotten once the deletion "
							       "finishes" : "it no longer exists; it will be forgotten");
				continue;
			}
			in->current = json_incref(cur ? cur : cairn_state_res_attrs(r));
			if (!destroy && (moved = cairn_engine_host_moves(e, r->type, in->current, in->current)) != NULL) {
				/* it was on the machine its host leaves: nothing to delete */
				in->gone = true;
				in->action = CAIRN_ACT_NOOP;
				if (asprintf(&in->reason, "its host %s moves to a new machine; it will be forgotten", moved) < 0)
					in->reason = NULL;
				continue;
			}
		}
		in->action = CAIRN_ACT_DELETE;
		cfg = cairn_stack_resource(e->stack, r->name);
		if (destroy)
			in->reason = strdup("destroy");
		else if (strstr(r->address, "~deposed"))
			in->reason = strdup("it was replaced and its old object remains");
		else if (cfg)
			in->reason = strdup("its index or key is no longer in the configuration");
		else
			in->reason = strdup("it is no longer in the configuration");
	}
	return 0;
}

int cairn_engine_plan(cairn_engine *e, bool destroy, json_t *forced)
{
	cairn_stack *st = e->stack;
	size_t *first = NULL, *count = NULL, r, i, j, k, idx = 0;
	unsigned char *used = NULL;
	json_t *stmap = json_object();
	int rc = 0;

	reset_instances(e);
	for (r = 0; r < st->nresources; r++)
		json_object_del(e->root, st->resources[r].name);
	first = calloc(st->nresources + 1, sizeof(size_t));
	count = calloc(st->nresources + 1, sizeof(size_t));
	used = calloc(e->nstate + 1, 1);
	if (!first || !count || !used) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < e->nstate; i++)
		json_object_set_new(stmap, e->state[i].address, json_integer((json_int_t)i));
	for (k = 0; !destroy && k < st->nresources; k++) {
		const cairn_res_cfg *res;
		json_t *keys = NULL, *values = NULL;

		r = e->order[k];
		res = &st->resources[r];
		if (res->count)
			json_object_set_new(e->root, res->name, json_array());
		else if (res->for_each)
			json_object_set_new(e->root, res->name, json_object());
		if ((rc = expand_keys(e, res, &keys, &values)) != 0) {
			json_decref(keys);
			json_decref(values);
			goto cleanup;
		}
		first[r] = e->ninsts;
		for (j = 0; j < json_array_size(keys) && !rc; j++) {
			json_t *key = json_array_get(keys, j);
			cairn_inst *in;
			json_t *sx;

			rc = add_inst(e, r, res->name, res->type, json_is_null(key) ? NULL : key,
				      json_array_get(values, j), NULL, &idx);
			if (rc)
				break;
			in = &e->insts[idx];
			in->schema = e->schemas[r];
			if ((sx = json_object_get(stmap, in->address)) != NULL) {
				in->prior = &e->state[json_integer_value(sx)];
				used[json_integer_value(sx)] = 1;
			}
			rc = plan_instance(e, in, res, forced ? json_object_get(forced, in->address) : NULL);
			if (!rc)
				plan_watch(e, in);
			if (!rc) {
				cairn_engine_plan_host(e, in);
				cairn_engine_publish(e, in, in->planned);
			}
		}
		count[r] = json_array_size(keys);
		json_decref(keys);
		json_decref(values);
		if (rc)
			goto cleanup;
	}
	/* instance dependencies: every instance of every dependency resource */
	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		const size_t *deps;
		size_t nd, total = 0, d;

		if (in->res == NO_RES)
			continue;
		deps = cairn_graph_deps(e->graph, in->res, &nd);
		for (d = 0; d < nd; d++)
			total += count[deps[d]];
		in->deps = malloc((total + 1) * sizeof(size_t));
		if (!in->deps) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		for (d = 0; d < nd; d++)
			for (j = 0; j < count[deps[d]]; j++)
				in->deps[in->ndeps++] = first[deps[d]] + j;
	}
	if ((rc = plan_orphans(e, used, destroy)) != 0)
		goto cleanup;
	apply_targets(e, destroy);
	json_decref(e->outputs);
	json_decref(e->output_sensitive);
	e->outputs = NULL;
	e->output_sensitive = NULL;
	if (!destroy && (rc = cairn_engine_outputs(e, &e->outputs, &e->output_sensitive)) != 0)
		goto cleanup;
	e->planned = true;
cleanup:
	json_decref(stmap);
	free(first);
	free(count);
	free(used);
	return rc;
}

void cairn_engine_counts(const cairn_engine *e, int *add, int *change, int *destroy)
{
	size_t i;

	*add = *change = *destroy = 0;
	for (i = 0; i < e->ninsts; i++) {
		const cairn_inst *in = &e->insts[i];

		if (!in->targeted)
			continue;
		switch (in->action) {
		case CAIRN_ACT_CREATE: (*add)++; break;
		case CAIRN_ACT_UPDATE: (*change)++; break;
		case CAIRN_ACT_REPLACE: (*add)++; (*destroy)++; break;
		case CAIRN_ACT_DELETE: (*destroy)++; break;
		default: break;
		}
	}
}

int cairn_engine_outputs(cairn_engine *e, json_t **values, json_t **sensitive)
{
	json_t *vals = json_object(), *sens = json_array();
	size_t i;
	int rc = 0;

	for (i = 0; i < e->stack->noutputs && !rc; i++) {
		const cairn_output_cfg *o = &e->stack->outputs[i];
		json_t *v = NULL;
		bool tainted = false;

		check_expr(e, NO_RES, o->value, NULL, &tainted);
		if ((rc = cairn_expr_eval(&v, o->value, &(cairn_eval_ctx){ e->root, e->stack->dir, e->inputs })) != 0)
			break;
		json_object_set_new(vals, o->name, v);
		if (o->sensitive || tainted) {
			json_array_append_new(sens, json_string(o->name));
			collect_secrets(e->secrets, v);
		}
	}
	if (rc) {
		json_decref(vals);
		json_decref(sens);
		return rc;
	}
	*values = vals;
	*sensitive = sens;
	return 0;
}

int cairn_engine_check_prevent_destroy(cairn_engine *e)
{
	size_t i;
	int rc;

	for (i = 0; i < e->ninsts; i++) {
		cairn_inst *in = &e->insts[i];
		const cairn_res_cfg *cfg;
		json_t *v = NULL;
		bool on;

		if (!in->targeted || (in->action != CAIRN_ACT_DELETE && in->action != CAIRN_ACT_REPLACE))
			continue;
		cfg = cairn_stack_resource(e->stack, in->name);
		if (!cfg || !cfg->prevent_destroy)
			continue;
		if ((rc = cairn_engine_eval(e, cfg->prevent_destroy, in, &v)) != 0)
			return rc;
		if (!json_is_boolean(v)) {
			rc = cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(cfg->prevent_destroy),
				"prevent_destroy of '%s' must be a bool, got %s", cfg->name, cairn_value_type_name(v));
			json_decref(v);
			return rc;
		}
		on = json_is_true(v);
		json_decref(v);
		if (on)
			return cairn_error_set_at(CAIRN_EINVAL, cairn_expr_pos(cfg->prevent_destroy),
				"%s has lifecycle.prevent_destroy set, but the plan would %s it; "
				"remove prevent_destroy (or make it false for environment '%s') to allow this",
				in->address, in->action == CAIRN_ACT_DELETE ? "destroy" : "replace", e->opts.env);
	}
	return 0;
}
