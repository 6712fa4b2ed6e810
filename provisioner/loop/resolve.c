/*
 * resolve.c - host names resolved without blocking the loop (loop.h).
 *
 * getaddrinfo blocks for as long as the resolver waits (seconds for a
 * name server that does not answer), and nothing else of the loop moves
 * meanwhile: not the other operations, not a signal's prompt end. So a
 * name is resolved by getaddrinfo in a thread of its own, which hands the
 * answer back through a socket pair the loop watches; an address (numeric)
 * is answered at once, with no thread. A cancelled request's thread is
 * left to finish on its own: the request is freed by whichever of the two
 * sides lets go of it last.
 */
#include "loop.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct req {
	atomic_int refs;        /* the loop's side and the thread's */
	char *host, *port;
	struct addrinfo *ai;    /* the answer, until handed over */
	int gai;                /* getaddrinfo's result */
	int fds[2];             /* [0] watched by the loop, [1] the answering side's */
} req;

struct cairn_resolve {
	cairn_loop *loop;
	req *r;
	uint64_t watch;
	cairn_resolve_fn fn;
	void *ud;
};

static void req_release(req *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	if (r->ai)
		freeaddrinfo(r->ai);
	if (r->fds[0] >= 0)
		close(r->fds[0]);
	if (r->fds[1] >= 0)
		close(r->fds[1]);
	free(r->host);
	free(r->port);
	free(r);
}

/* The answering side: the answer is in r, say so. */
static void req_answered(req *r)
{
	ssize_t n;

	do
		n = send(r->fds[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
}

static void *resolver(void *ud)
{
	req *r = ud;
	struct addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	r->gai = getaddrinfo(r->host, r->port, &hints, &r->ai);
	if (r->gai != 0)
		r->ai = NULL;
	req_answered(r);
	req_release(r);
	return NULL;
}

static void on_answer(void *ud, int fd, int revents)
{
	cairn_resolve *h = ud;
	req *r = h->r;
	struct addrinfo *ai = r->ai;
	char msg[512], byte;
	cairn_resolve_fn fn = h->fn;
	void *fud = h->ud;

	(void)revents;
	if (recv(fd, &byte, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	r->ai = NULL;
	if (!ai)
		snprintf(msg, sizeof(msg), "cannot resolve %s: %s", r->host,
			 r->gai ? gai_strerror(r->gai) : "no answer");
	cairn_loop_unwatch_fd(h->loop, h->watch);
	req_release(r);
	free(h);
	fn(fud, ai, ai ? NULL : msg);
}

int cairn_loop_resolve(cairn_loop *loop, const char *host, const char *port, cairn_resolve_fn fn, void *ud,
		       cairn_resolve **out)
{
	cairn_resolve *h = calloc(1, sizeof(*h));
	req *r = calloc(1, sizeof(*r));
	struct addrinfo hints;
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int rc = 0;

	*out = NULL;
	if (!h || !r || !(r->host = strdup(host ? host : "")) || !(r->port = strdup(port ? port : ""))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	r->fds[0] = r->fds[1] = -1;
	atomic_init(&r->refs, 1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, r->fds) != 0) {
		r->fds[0] = r->fds[1] = -1;
		rc = cairn_error_set(CAIRN_EIO, "cannot resolve %s: %s", r->host, strerror(errno));
		goto fail;
	}
	h->loop = loop;
	h->r = r;
	h->fn = fn;
	h->ud = ud;
	if ((rc = cairn_loop_watch_fd(loop, r->fds[0], CAIRN_FD_IN, on_answer, h, &h->watch)) != 0)
		goto fail;

	/* an address: answered now (delivered by the loop, as any answer) */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(r->host, r->port, &hints, &r->ai) == 0) {
		req_answered(r);
		*out = h;
		return 0;
	}
	r->ai = NULL;

	/* a name: a thread of its own, which takes no signal (the loop's thread does) */
	atomic_fetch_add(&r->refs, 1);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	errno = pthread_create(&th, &attr, resolver, r);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (errno != 0) {
		atomic_fetch_sub(&r->refs, 1);
		rc = cairn_error_set(CAIRN_ERROR, "cannot resolve %s: no thread: %s", r->host, strerror(errno));
		cairn_loop_unwatch_fd(loop, h->watch);
		goto fail;
	}
	*out = h;
	return 0;
fail:
	if (r && r->host)
		req_release(r);
	else
		free(r);
	free(h);
	return rc;
}

void cairn_resolve_cancel(cairn_resolve *h)
{
	if (!h)
		return;
	cairn_loop_unwatch_fd(h->loop, h->watch);
	req_release(h->r);
	free(h);
}
