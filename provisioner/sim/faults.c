/*
 * faults.c - injected trouble for `cairn sim`, so that callers can test
 * their retries: random throttling (the service's own throttling error,
 * with Retry-After on a share of them), random internal errors (500/503),
 * and optional token buckets per API as EC2 documents them (non-mutating
 * actions: 100 tokens, 20/s; mutating: 50 tokens, 5/s). Latency and
 * dropped connections are applied by the server, which owns connections.
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

struct cairn_sim_faults {
	pthread_mutex_t lock;
	bucket *buckets;
	size_t n, alloc;
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

void cairn_sim_faults_free(struct cairn_sim_faults *f)
{
	if (!f)
		return;
	pthread_mutex_destroy(&f->lock);
	free(f->buckets);
	free(f);
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
