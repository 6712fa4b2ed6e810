/*
 * faults.c - injected trouble for `cairn sim`, so that callers can test
 * their retries: random throttling (the service's own throttling error,
 * with Retry-After on a share of them), random internal errors (500/503),
 * and optional token buckets per API as EC2 documents them (non-mutating
 * actions: 100 tokens, 20/s; mutating: 50 tokens, 5/s). Latency and
 * dropped connections are applied by the server, which owns connections.
 *
 * It also owns the fault rules of the admin endpoint (POST /_sim/faults):
 * deterministic errors for named actions, e.g. "the next DescribeVpcAttribute
 * answers InvalidVpcID.NotFound", so that a test can reproduce a race (an
 * object deleted between two calls) without timing one.
 */
#include "sim_internal.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket {
	const cairn_sim_action *action;
	double tokens;
	double last;
} bucket;

typedef struct rule {
	char *service; /* NULL: any */
	char *action;
	char *code;
	char *message;
	int status;
	long count;    /* left; -1: unlimited */
} rule;

struct cairn_sim_faults {
	pthread_mutex_t lock; /* guards the buckets and the rules */
	bucket *buckets;
	size_t n, alloc;
	rule *rules;
	size_t n_rules, alloc_rules;
};

static _Thread_local uint64_t rng_state;

double cairn_sim_random(void)
{
	uint64_t x;

	if (!rng_state) {
		if (RAND_bytes((unsigned char *)&rng_state, sizeof(rng_state)) != 1 || !rng_state)
			rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&rng_state;
	}
	/* xorshift64* */
	x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

int cairn_sim_faults_new(struct cairn_sim_faults **out, const cairn_sim_options *opt)
{
	struct cairn_sim_faults *f = calloc(1, sizeof(*f));

	(void)opt;
	if (!f)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
}

static void rule_release(rule *r)
{
	free(r->service);
	free(r->action);
	free(r->code);
	free(r->message);
}

/* Remove every rule; the caller holds f->lock (or is the only user). */
static void rules_clear(struct cairn_sim_faults *f)
{
	size_t i;

	for (i = 0; i < f->n_rules; i++)
		rule_release(&f->rules[i]);
	f->n_rules = 0;
}

void cairn_sim_faults_free(struct cairn_sim_faults *f)
{
	if (!f)
		return;
	rules_clear(f);
	pthread_mutex_destroy(&f->lock);
	free(f->rules);
	free(f->buckets);
	free(f);
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*failed = 1;
	return d;
}

int cairn_sim_faults_add(struct cairn_sim_faults *f, const cairn_sim_fault_rule *in)
{
	rule r = { NULL, NULL, NULL, NULL, in->status, in->count };
	char msg[512];
	int failed = 0, rc = 0;

	if (!in->message)
		snprintf(msg, sizeof(msg), "%s failed with %s (injected by cairn sim: POST /_sim/faults)",
			in->action, in->code);
	r.service = dup_or_null(in->service, &failed);
	r.action = dup_or_null(in->action, &failed);
	r.code = dup_or_null(in->code, &failed);
	r.message = dup_or_null(in->message ? in->message : msg, &failed);
	if (failed) {
		rule_release(&r);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&f->lock);
	if (f->n_rules == f->alloc_rules) {
		size_t alloc = f->alloc_rules ? f->alloc_rules * 2 : 8;
		rule *nr = realloc(f->rules, alloc * sizeof(*nr));

		if (!nr) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto unlock;
		}
		f->rules = nr;
		f->alloc_rules = alloc;
	}
	f->rules[f->n_rules++] = r;
	r.service = r.action = r.code = r.message = NULL;
unlock:
	pthread_mutex_unlock(&f->lock);
	rule_release(&r);
	return rc;
}

/* A rule in the shape POST /_sim/faults takes; NULL when out of memory. */
static json_t *rule_json(const rule *r)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "action", r->action, "code", r->code,
		"status", r->status, "message", r->message);

	if (o && r->service && json_object_set_new(o, "service", json_string(r->service)) != 0)
		goto fail;
	if (o && r->count >= 0 && json_object_set_new(o, "count", json_integer(r->count)) != 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *cairn_sim_faults_rules_json(struct cairn_sim_faults *f)
{
	json_t *arr = json_array();
	size_t i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; arr && i < f->n_rules; i++) {
		if (json_array_append_new(arr, rule_json(&f->rules[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return arr;
}

void cairn_sim_faults_clear(struct cairn_sim_faults *f)
{
	pthread_mutex_lock(&f->lock);
	rules_clear(f);
	pthread_mutex_unlock(&f->lock);
}

/* The first rule for req's service and action answers it, and one is
 * taken from its count (at zero it goes); 0 when no rule matches. */
static int rule_fire(struct cairn_sim_faults *f, cairn_sim_req *req)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->n_rules; i++) {
		rule *r = &f->rules[i];

		if (strcmp(r->action, req->action->name) != 0 ||
		    (r->service && strcmp(r->service, req->service->name) != 0))
			continue;
		rc = cairn_sim_fail(req, r->status, r->code, "%s", r->message);
		if (r->count > 0 && --r->count == 0) {
			rule_release(r);
			memmove(r, r + 1, (f->n_rules - i - 1) * sizeof(*r));
			f->n_rules--;
		}
		break;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Take a token from the action's bucket; 0 when there was none. */
static int bucket_take(struct cairn_sim_faults *f, const cairn_sim_action *action, double scale)
{
	double size = (action->klass == CAIRN_SIM_MUTATING ? 50.0 : 100.0) * scale;
	double rate = (action->klass == CAIRN_SIM_MUTATING ? 5.0 : 20.0) * scale;
	double now = cairn_sim_now();
	bucket *b = NULL;
	size_t i;
	int ok = 1;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < f->n; i++) {
		if (f->buckets[i].action == action) {
			b = &f->buckets[i];
			break;
		}
	}
	if (!b) {
		if (f->n == f->alloc) {
			size_t alloc = f->alloc ? f->alloc * 2 : 32;
			bucket *nb = realloc(f->buckets, alloc * sizeof(*nb));

			if (!nb)
				goto unlock; /* cannot track: let it through */
			f->buckets = nb;
			f->alloc = alloc;
		}
		b = &f->buckets[f->n++];
		b->action = action;
		b->tokens = size;
		b->last = now;
	}
	b->tokens += (now - b->last) * rate;
	if (b->tokens > size)
		b->tokens = size;
	b->last = now;
	if (b->tokens >= 1.0)
		b->tokens -= 1.0;
	else
		ok = 0;
unlock:
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static int throttle(cairn_sim *sim, cairn_sim_req *req)
{
	const cairn_sim_service *svc = req->service;

	if (sim->opt.retry_after_share > 0 && cairn_sim_random() < sim->opt.retry_after_share)
		snprintf(req->retry_after, sizeof(req->retry_after), "%d", sim->opt.retry_after_s);
	return cairn_sim_fail(req, svc->throttle_status ? svc->throttle_status : 400,
		svc->throttle_code ? svc->throttle_code : "Throttling", "%s",
		svc->throttle_message ? svc->throttle_message : "Rate exceeded");
}

int cairn_sim_faults_check(cairn_sim *sim, cairn_sim_req *req)
{
	const cairn_sim_options *o = &sim->opt;

	if (req->action && rule_fire(sim->faults, req) != 0)
		return CAIRN_EREMOTE;
	if (o->rate_limit && req->action &&
	    !bucket_take(sim->faults, req->action, o->rate_limit_scale > 0 ? o->rate_limit_scale : 1.0))
		return throttle(sim, req);
	if (o->throttle_rate > 0 && cairn_sim_random() < o->throttle_rate)
		return throttle(sim, req);
	if (o->error_rate > 0 && cairn_sim_random() < o->error_rate) {
		const char *code = req->service->internal_code ? req->service->internal_code : "InternalError";

		if (cairn_sim_random() < 0.5)
			return cairn_sim_fail(req, 500, code,
				"An internal error has occurred. (injected by cairn sim --error-rate)");
		return cairn_sim_fail(req, 503, req->service->protocol == CAIRN_SIM_PROTO_EC2 ?
			"Unavailable" : "ServiceUnavailable",
			"The server is overloaded or unable to handle the request. (injected by cairn sim --error-rate)");
	}
	return 0;
}
