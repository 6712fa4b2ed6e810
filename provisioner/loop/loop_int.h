/*
 * loop_int.h - what loop.c (the loop: timers, polling, lifecycle) and
 * http.c (the requests: buckets, attempts, retries) share. Internal:
 * nothing outside provisioner/loop/ includes it.
 */
#ifndef CAIRN_LOOP_INT_H
#define CAIRN_LOOP_INT_H

#include "loop.h"
#include "base/buf.h"

#include <curl/curl.h>

#define CAIRN_LOOP_BODY_MAX ((size_t)32 << 20)
#define CAIRN_LOOP_POOL_MAX 16

typedef struct rule {
	char *service;
	char *klass;
	double rate, burst;
} rule;

typedef struct bucket {
	char *service;
	const char *klass; /* static: "describe" or "mutate" */
	double rate, burst;
	double tokens;     /* may go negative: tokens reserved by waiters */
	double last;
} bucket;

typedef struct xfer xfer;

typedef struct fd_watch {
	uint64_t id;       /* 0: a free slot */
	int fd;
	int events;        /* CAIRN_FD_IN | CAIRN_FD_OUT */
	cairn_fd_fn fn;
	void *ud;
} fd_watch;

typedef struct queue {
	xfer *head, *tail;
} queue;


struct cairn_loop {
	cairn_loop_opts opts; /* normalized; opts.classes copied into rules */
	rule *rules;
	size_t nrules;
	CURLM *multi;

	struct loop_timer **heap;
	size_t nheap, aheap;
	uint64_t next_id;
	size_t user_timers;

	xfer *xfers;
	size_t nxfers;
	queue slot_q, ready_q;
	int running;
	CURL *pool[CAIRN_LOOP_POOL_MAX];
	int npool;

	fd_watch *watches;   /* cairn_loop_watch_fd; slots are reused */
	size_t nwatches, awatches;
	uint64_t next_watch;

	bucket **buckets;
	size_t nbuckets;

	cairn_loop_signer signer;     /* .sign NULL: none */
	long retry_left;
	size_t body_max;
	uint64_t rng;
	cairn_loop_stats stats;
	json_t *capture;      /* cairn_loop_capture: [[request, digest], ...] */
	bool capture_broken;  /* something the capture cannot stand for */
	bool capture_digests; /* CAIRN_CAPTURE_DIGESTS: answers without their body */
};


/* loop.c */
/* A wait on the loop's timer heap that is not a user timer: it does not
 * count as pending and cannot be cancelled by id. */
int cairn_loop_wait(cairn_loop *loop, double seconds, cairn_timer_fn fn, void *ud);
/* Drop the wait of (fn, ud) before it fires. */
void cairn_loop_wait_cancel(cairn_loop *loop, cairn_timer_fn fn, void *ud);
/* Uniform in [0, 1), from the loop's own generator. */
double cairn_loop_random(cairn_loop *loop);

/* http.c */
/* An attempt's easy handle finished (removed from the multi handle). */
void cairn_loop_http_done(cairn_loop *loop, CURL *easy, CURLcode result);
/* Start queued requests while connection slots are free. */
void cairn_loop_http_pump(cairn_loop *loop);
/* Call back every request whose answer was ready before this call. */
void cairn_loop_http_deliver(cairn_loop *loop);
/* Drop every request (no callbacks), every bucket and the handle pool. */
void cairn_loop_http_free_all(cairn_loop *loop);

#endif
