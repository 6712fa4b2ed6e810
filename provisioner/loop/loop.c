/*
 * loop.c - the event loop: one curl multi handle and a min-heap of timers
 * (see loop.h). User timers and the requests' waits (backoff, rate tokens)
 * share the heap; cairn_loop_run_once polls curl, fires what is due and
 * delivers answers. The requests themselves live in loop_http.c, the retry
 * and rate policy in loop_retry.c. Watched file descriptors (SSH sockets)
 * are polled in the same call, as curl's extra descriptors.
 */
#include "loop_int.h"

#include <math.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FOREVER_MS 3600000

struct loop_timer {
	double due;
	uint64_t id;   /* also the tie-break: equal deadlines fire in order */
	size_t idx;    /* position in the heap */
	bool internal; /* a request's wait, not a user timer */
	cairn_timer_fn fn;
	void *ud;
};
typedef struct loop_timer timer;

/* -- time and randomness ------------------------------------------------ */

double cairn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rng_seed(cairn_loop *loop)
{
	uint64_t seed = 0;

	if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	loop->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: a uniform double in [0, 1). */
double cairn_loop_random(cairn_loop *loop)
{
	uint64_t x = loop->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	loop->rng = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

/* -- timers: a binary min-heap ordered by (due, id) --------------------- */

static bool timer_before(const timer *a, const timer *b)
{
	return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static void heap_set(cairn_loop *loop, size_t i, timer *t)
{
	loop->heap[i] = t;
	t->idx = i;
}

static void heap_up(cairn_loop *loop, size_t i)
{
	timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(cairn_loop *loop, size_t i)
{
	timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= loop->nheap)
			break;
		if (child + 1 < loop->nheap && timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static void heap_remove(cairn_loop *loop, size_t i)
{
	timer *last = loop->heap[--loop->nheap];

	if (i == loop->nheap)
		return;
	heap_set(loop, i, last);
	heap_down(loop, i);
	heap_up(loop, last->idx);
}

static int timer_add(cairn_loop *loop, double seconds, bool internal,
		     cairn_timer_fn fn, void *ud, uint64_t *id_out)
{
	timer *t;

	if (loop->nheap == loop->aheap) {
		size_t n = loop->aheap ? loop->aheap * 2 : 64;
		timer **h = realloc(loop->heap, n * sizeof(*h));

		if (!h)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		loop->heap = h;
		loop->aheap = n;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	t->due = cairn_now() + (seconds > 0 ? seconds : 0);
	t->id = loop->next_id++;
	t->internal = internal;
	t->fn = fn;
	t->ud = ud;
	loop->heap[loop->nheap] = t;
	t->idx = loop->nheap++;
	heap_up(loop, t->idx);
	if (!internal)
		loop->user_timers++;
	if (id_out)
		*id_out = t->id;
	return 0;
}

int cairn_loop_wait(cairn_loop *loop, double seconds, cairn_timer_fn fn, void *ud)
{
	return timer_add(loop, seconds, true, fn, ud, NULL);
}

int cairn_loop_timer(cairn_loop *loop, double seconds, cairn_timer_fn fn, void *ud, uint64_t *id_out)
{
	if (!loop || !fn || isnan(seconds))
		return cairn_error_set(CAIRN_EINVAL, "invalid timer");
	if (seconds > 1e9)
		seconds = 1e9;
	return timer_add(loop, seconds, false, fn, ud, id_out);
}

void cairn_loop_wait_cancel(cairn_loop *loop, cairn_timer_fn fn, void *ud)
{
	size_t i;

	for (i = 0; i < loop->nheap; i++) {
		timer *t = loop->heap[i];

		if (t->internal && t->fn == fn && t->ud == ud) {
			heap_remove(loop, i);
			free(t);
			return;
		}
	}
}

void cairn_loop_timer_cancel(cairn_loop *loop, uint64_t id)
{
	size_t i;

	/* Linear: cancels are rare next to fires; the heap stays simple. */
	for (i = 0; loop && i < loop->nheap; i++) {
		timer *t = loop->heap[i];

		if (t->id == id && !t->internal) {
			heap_remove(loop, i);
			loop->user_timers--;
			free(t);
			return;
		}
	}
}

/* Fire every timer due now, in (due, id) order. Timers added by the
 * callbacks wait for the next round, so a callback re-arming a zero
 * timer cannot spin here. */
static void fire_timers(cairn_loop *loop)
{
	double now = cairn_now();
	uint64_t limit = loop->next_id;

	while (loop->nheap && loop->heap[0]->due <= now && loop->heap[0]->id < limit) {
		timer *t = loop->heap[0];
		cairn_timer_fn fn = t->fn;
		void *ud = t->ud;

		heap_remove(loop, 0);
		if (!t->internal)
			loop->user_timers--;
		free(t);
		fn(ud);
	}
}

/* -- watched file descriptors ------------------------------------------ */

static fd_watch *watch_find(cairn_loop *loop, uint64_t id)
{
	size_t i;

	for (i = 0; id && i < loop->nwatches; i++)
		if (loop->watches[i].id == id)
			return &loop->watches[i];
	return NULL;
}

int cairn_loop_watch_fd(cairn_loop *loop, int fd, int events, cairn_fd_fn fn, void *ud, uint64_t *id_out)
{
	fd_watch *w = NULL;
	size_t i;

	if (!loop || fd < 0 || !fn || (events & ~(CAIRN_FD_IN | CAIRN_FD_OUT)))
		return cairn_error_set(CAIRN_EINVAL, "invalid file descriptor watch");
	/* SSH, a name resolution, a check: not what a capture can replay */
	if (loop->capture)
		loop->capture_broken = true;
	for (i = 0; i < loop->nwatches && !w; i++)
		if (!loop->watches[i].id)
			w = &loop->watches[i];
	if (!w) {
		if (loop->nwatches == loop->awatches) {
			size_t n = loop->awatches ? loop->awatches * 2 : 16;
			fd_watch *p = realloc(loop->watches, n * sizeof(*p));

			if (!p)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			loop->watches = p;
			loop->awatches = n;
		}
		w = &loop->watches[loop->nwatches++];
	}
	w->id = ++loop->next_watch;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->ud = ud;
	if (id_out)
		*id_out = w->id;
	return 0;
}

void cairn_loop_watch_set(cairn_loop *loop, uint64_t id, int events)
{
	fd_watch *w = loop ? watch_find(loop, id) : NULL;

	if (w)
		w->events = events & (CAIRN_FD_IN | CAIRN_FD_OUT);
}

void cairn_loop_unwatch_fd(cairn_loop *loop, uint64_t id)
{
	fd_watch *w = loop ? watch_find(loop, id) : NULL;

	if (!w)
		return;
	memset(w, 0, sizeof(*w));
	while (loop->nwatches && !loop->watches[loop->nwatches - 1].id)
		loop->nwatches--;
}

static size_t active_watches(const cairn_loop *loop)
{
	size_t i, n = 0;

	for (i = 0; i < loop->nwatches; i++)
		if (loop->watches[i].id && loop->watches[i].events)
			n++;
	return n;
}

typedef struct fd_event {
	uint64_t id;
	int revents;
} fd_event;

/* Wait on curl's sockets and the watched descriptors together, then learn
 * exactly what happened to ours with a poll() of no wait: curl reports
 * only IN / OUT / PRI for extra descriptors, and an error or a hang-up
 * must wake their owner too. The events go to *events (malloc'd). */
static CURLMcode poll_all(cairn_loop *loop, int ms, fd_event **events, size_t *nevents)
{
	size_t n = active_watches(loop), i, k = 0;
	struct curl_waitfd *wfd = NULL;
	struct pollfd *pfd = NULL;
	uint64_t *ids = NULL;
	CURLMcode mc;

	*events = NULL;
	*nevents = 0;
	if (n && (!(wfd = calloc(n, sizeof(*wfd))) || !(pfd = calloc(n, sizeof(*pfd))) ||
		  !(ids = calloc(n, sizeof(*ids))))) {
		free(wfd);
		free(pfd);
		return CURLM_OUT_OF_MEMORY;
	}
	for (i = 0; i < loop->nwatches; i++) {
		fd_watch *w = &loop->watches[i];

		if (!w->id || !w->events)
			continue;
		wfd[k].fd = w->fd;
		wfd[k].events = (short)(((w->events & CAIRN_FD_IN) ? CURL_WAIT_POLLIN : 0) |
					((w->events & CAIRN_FD_OUT) ? CURL_WAIT_POLLOUT : 0));
		pfd[k].fd = w->fd;
		pfd[k].events = (short)(((w->events & CAIRN_FD_IN) ? POLLIN : 0) |
					((w->events & CAIRN_FD_OUT) ? POLLOUT : 0));
		ids[k++] = w->id;
	}
	mc = curl_multi_poll(loop->multi, wfd, (unsigned)n, ms, NULL);
	if (mc == CURLM_OK && n && poll(pfd, n, 0) > 0 && (*events = calloc(n, sizeof(**events)))) {
		for (i = 0; i < n; i++) {
			int r = 0;

			if (pfd[i].revents & POLLIN)
				r |= CAIRN_FD_IN;
			if (pfd[i].revents & POLLOUT)
				r |= CAIRN_FD_OUT;
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL))
				r |= CAIRN_FD_ERR;
			if (r)
				(*events)[(*nevents)++] = (fd_event){ ids[i], r };
		}
	}
	free(wfd);
	free(pfd);
	free(ids);
	return mc;
}

/* Call the owners of the descriptors that are ready; a callback may add,
 * change or remove watches (the array may move: look each one up again). */
static void dispatch_fds(cairn_loop *loop, const fd_event *ev, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		fd_watch *w = watch_find(loop, ev[i].id);

		if (w)
			w->fn(w->ud, w->fd, ev[i].revents);
	}
}

/* -- the loop ----------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void cairn_loop_opts_default(cairn_loop_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_connections = 64;
	o->max_attempts = 8;
	o->backoff_base = 0.1;
	o->backoff_cap = 20;
	o->retry_budget = 1000;
	o->default_timeout = 60;
	o->rate_limits = true;
	o->classes = NULL;
}

static int normalize_opts(cairn_loop *loop, const cairn_loop_opts *in)
{
	cairn_loop_opts *o = &loop->opts;

	if (in)
		*o = *in;
	else
		cairn_loop_opts_default(o);
	if (o->max_connections < 0 || o->max_attempts < 0 || o->backoff_base < 0 ||
	    o->backoff_cap < 0 || o->default_timeout < 0 || isnan(o->backoff_base) ||
	    isnan(o->backoff_cap) || isnan(o->default_timeout))
		return cairn_error_set(CAIRN_EINVAL, "invalid loop options: negative limit");
	if (!o->max_connections)
		o->max_connections = 64;
	if (!o->max_attempts)
		o->max_attempts = 8;
	if (o->backoff_base == 0)
		o->backoff_base = 0.1;
	if (o->backoff_cap == 0)
		o->backoff_cap = 20;
	if (o->default_timeout == 0)
		o->default_timeout = 60;
	if (o->default_timeout > 86400)
		o->default_timeout = 86400;
	if (o->backoff_cap > 3600)
		o->backoff_cap = 3600;
	loop->retry_left = o->retry_budget == 0 ? 1000 : o->retry_budget < 0 ? 0 : o->retry_budget;
	return 0;
}

static int copy_rules(cairn_loop *loop, const cairn_rate_class *c)
{
	size_t n = 0, i;

	while (c && c[n].service)
		n++;
	if (!n)
		return 0;
	if (!(loop->rules = calloc(n, sizeof(*loop->rules))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (!c[i].klass || (strcmp(c[i].klass, "describe") != 0 && strcmp(c[i].klass, "mutate") != 0))
			return cairn_error_set(CAIRN_EINVAL, "invalid rate class for '%s': expected describe or mutate",
					       c[i].service);
		if (isnan(c[i].rate) || isnan(c[i].burst) || (c[i].rate > 0 && c[i].burst < 1))
			return cairn_error_set(CAIRN_EINVAL, "invalid rate class %s/%s: burst must be at least 1",
					       c[i].service, c[i].klass);
		loop->rules[i].rate = c[i].rate;
		loop->rules[i].burst = c[i].burst;
		if (!(loop->rules[i].service = strdup(c[i].service)) ||
		    !(loop->rules[i].klass = strdup(c[i].klass)))
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		loop->nrules = i + 1;
	}
	return 0;
}

int cairn_loop_new(cairn_loop **out, const cairn_loop_opts *opts)
{
	cairn_loop *loop = NULL;
	int rc;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return cairn_error_set(CAIRN_ERROR, "cannot initialize libcurl: %s", curl_easy_strerror(curl_init_rc));
	if (!(loop = calloc(1, sizeof(*loop))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	loop->next_id = 1;
	loop->body_max = CAIRN_LOOP_BODY_MAX;
	rng_seed(loop);
	if ((rc = normalize_opts(loop, opts)) < 0 || (rc = copy_rules(loop, loop->opts.classes)) < 0)
		goto cleanup;
	loop->opts.classes = NULL; /* borrowed; the copy in rules is what counts */
	if (!(loop->multi = curl_multi_init())) {
		rc = cairn_error_set(CAIRN_ERROR, "cannot create a curl multi handle");
		goto cleanup;
	}
	curl_multi_setopt(loop->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)loop->opts.max_connections);
	curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, (long)loop->opts.max_connections);
	*out = loop;
	loop = NULL;
cleanup:
	cairn_loop_free(loop);
	return rc;
}

void cairn_loop_free(cairn_loop *loop)
{
	size_t i;

	if (!loop)
		return;
	cairn_loop_http_free_all(loop);
	json_decref(loop->capture);
	free(loop->watches);
	for (i = 0; i < loop->nheap; i++)
		free(loop->heap[i]);
	free(loop->heap);
	if (loop->multi)
		curl_multi_cleanup(loop->multi);
	for (i = 0; i < loop->nrules; i++) {
		free(loop->rules[i].service);
		free(loop->rules[i].klass);
	}
	free(loop->rules);
	cairn_loop_set_signer(loop, NULL);
	free(loop);
}

void cairn_loop_set_signer(cairn_loop *loop, const cairn_loop_signer *signer)
{
	if (loop->signer.free)
		loop->signer.free(loop->signer.ud);
	memset(&loop->signer, 0, sizeof(loop->signer));
	if (signer)
		loop->signer = *signer;
}

void cairn_loop_set_body_limit(cairn_loop *loop, size_t max_bytes)
{
	loop->body_max = max_bytes ? max_bytes : CAIRN_LOOP_BODY_MAX;
}

void cairn_loop_get_stats(const cairn_loop *loop, cairn_loop_stats *out)
{
	*out = loop->stats;
}

static void collect_done(cairn_loop *loop)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(loop->multi, &left))) {
		CURL *e = msg->easy_handle;
		CURLcode cc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_multi_remove_handle(loop->multi, e); /* msg is invalid from here */
		cairn_loop_http_done(loop, e, cc);
	}
	cairn_loop_http_pump(loop);
}

/* How long to block: 0 with answers to deliver, else until the next timer,
 * bounded by max_wait; -1 for "no deadline". */
static double next_wait(const cairn_loop *loop, double max_wait)
{
	double wait = -1;

	if (loop->ready_q.head)
		return 0;
	if (loop->nheap) {
		wait = loop->heap[0]->due - cairn_now();
		if (wait < 0)
			wait = 0;
	}
	if (max_wait >= 0 && (wait < 0 || wait > max_wait))
		wait = max_wait;
	return wait;
}

void cairn_loop_flush(cairn_loop *loop)
{
	int still = 0;

	if (loop->running && curl_multi_perform(loop->multi, &still) == CURLM_OK)
		collect_done(loop);
}

int cairn_loop_run_once(cairn_loop *loop, double max_wait, int *pending)
{
	double wait = next_wait(loop, max_wait);
	size_t watching = active_watches(loop), nev = 0;
	fd_event *ev = NULL;
	int still = 0, rc = 0;
	CURLMcode mc;

	if (wait < 0 && loop->running == 0 && watching == 0)
		goto done; /* nothing could ever wake us */
	if (wait != 0 || loop->running || watching) {
		int ms = wait < 0 || wait * 1000 > FOREVER_MS ? FOREVER_MS : (int)ceil(wait * 1000);

		if ((mc = poll_all(loop, ms, &ev, &nev)) != CURLM_OK) {
			rc = cairn_error_set(CAIRN_ERROR, "cannot wait for network events: %s",
					     curl_multi_strerror(mc));
			goto done;
		}
	}
	if (loop->running) {
		if ((mc = curl_multi_perform(loop->multi, &still)) != CURLM_OK) {
			rc = cairn_error_set(CAIRN_ERROR, "cannot run network transfers: %s",
					     curl_multi_strerror(mc));
			goto done;
		}
		collect_done(loop);
	}
	dispatch_fds(loop, ev, nev);
	fire_timers(loop);
	cairn_loop_http_deliver(loop);
done:
	free(ev);
	if (pending)
		*pending = (int)(loop->user_timers + loop->nxfers + active_watches(loop));
	return rc;
}

