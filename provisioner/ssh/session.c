/*
 * session.c - the pool of SSH sessions of one run (see ssh.h, ssh_int.h).
 *
 * A session moves through named states (new -> [tunnel] -> connect ->
 * handshake -> auth -> ready, or failed) in one place, sess_move(). Its
 * socket is watched by the event loop; every wake-up, timer or new request
 * runs cairn_ssh__drive(), which advances the connection and then steps
 * every operation until none can go on without waiting, and finally asks
 * the loop for the events libssh2 waits on. Answers are queued and handed
 * out from a zero-delay timer, so a callback never runs inside a call of
 * the caller's (cairn_ssh_submit).
 *
 * A session behind a bastion has no socket of its own: it is given one
 * end of a socketpair, whose other end a tunnel operation of the
 * bastion's session (ops.c) carries over a direct-tcpip channel.
 */
#include "ssh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* What a session in each state is doing, for messages. */
static const char *const state_doing[] = {
	"starting", "resolving the host's name", "opening the tunnel through the bastion", "connecting", "in the SSH handshake",
	"logging in", "ready", "failed",
};

/* -- small helpers ------------------------------------------------------ */

char *cairn_ssh__b64(const void *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

int cairn_ssh__unb64(cairn_buf *b, const char *s, size_t n)
{
	size_t pad = 0;
	int got, rc;

	cairn_buf_clear(b);
	if (n % 4 != 0)
		return cairn_error_set(CAIRN_EINVAL, "invalid base64");
	if (n == 0)
		return cairn_buf_put(b, "", 0);
	if (s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	if ((rc = cairn_buf_put(b, NULL, 0)) < 0)
		return rc;
	/* grow to the decoded size, then decode in place */
	{
		size_t need = 3 * (n / 4) + 1;
		char *p;

		if (need > b->alloc) {
			if ((b->max && need > b->max) || !(p = realloc(b->ptr, need)))
				return cairn_error_set(CAIRN_ELIMIT, "data too large");
			b->ptr = p;
			b->alloc = need;
		}
	}
	got = EVP_DecodeBlock((unsigned char *)b->ptr, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got < pad)
		return cairn_error_set(CAIRN_EINVAL, "invalid base64");
	b->len = (size_t)got - pad;
	b->ptr[b->len] = '\0';
	return 0;
}

int cairn_ssh__quote(cairn_buf *b, const char *s)
{
	int rc = cairn_buf_putc(b, '\'');

	for (; !rc && *s; s++)
		rc = *s == '\'' ? cairn_buf_puts(b, "'\\''") : cairn_buf_putc(b, *s);
	return rc ? rc : cairn_buf_putc(b, '\'');
}

const char *cairn_ssh__lasterr(const sess *s)
{
	char *msg = NULL;

	if (!s->ssh)
		return "no session";
	libssh2_session_last_error(s->ssh, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown error";
}

json_t *cairn_ssh__error(const sess *s, const char *code, const char *fmt, ...)
{
	cairn_buf b = CAIRN_BUF_INIT;
	va_list ap;
	json_t *j;

	cairn_buf_printf(&b, "%s (%s:%d): ", s->name, s->address, s->port);
	va_start(ap, fmt);
	cairn_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	j = json_pack("{s:s,s:s}", "error", cairn_buf_cstr(&b), "code", code);
	if (!j)
		j = json_pack("{s:s,s:s}", "error", "out of memory (or a message that is not UTF-8)", "code", code);
	cairn_buf_release(&b);
	return j;
}

bool cairn_ssh__blocked_out(const sess *s)
{
	return s->send_blocked != NULL;
}

/* -- delivering answers --------------------------------------------------- */

static void deliver_all(void *ud)
{
	cairn_ssh *pool = ud;
	size_t i, n = pool->ndone;
	done_item *items = pool->done;

	pool->done = NULL;
	pool->ndone = pool->adone = 0;
	pool->deliver_armed = false;
	for (i = 0; i < n; i++)
		items[i].fn(items[i].ud, items[i].result);
	free(items);
}

void cairn_ssh_cancel(cairn_ssh *pool, void *ud)
{
	size_t i, j;
	sess *s;

	/* answers not yet delivered */
	for (i = j = 0; i < pool->ndone; i++) {
		if (pool->done[i].ud == ud) {
			json_decref(pool->done[i].result);
			continue;
		}
		pool->done[j++] = pool->done[i];
	}
	pool->ndone = j;
	for (s = pool->sessions; s; s = s->next) {
		op **pp = &s->queue, *o, *prev = NULL;

		/* not started: dropped */
		while ((o = *pp)) {
			if (o->fn && o->ud == ud) {
				*pp = o->next;
				if (s->queue_tail == o)
					s->queue_tail = prev;
				cairn_ssh__op_free(o);
				continue;
			}
			prev = o;
			pp = &o->next;
		}
		/* started: finishes (or times out) unanswered */
		for (o = s->active; o; o = o->next)
			if (o->fn && o->ud == ud)
				o->fn = NULL;
	}
}

void cairn_ssh__deliver(cairn_ssh *pool, cairn_ssh_fn fn, void *ud, json_t *result)
{
	if (!result)
		result = json_pack("{s:s,s:s}", "error", "out of memory", "code", "failure");
	if (pool->ndone == pool->adone) {
		size_t n = pool->adone ? pool->adone * 2 : 16;
		done_item *p = realloc(pool->done, n * sizeof(*p));

		if (!p) {
			/* nothing sensible is left to do: answer now */
			fn(ud, result);
			return;
		}
		pool->done = p;
		pool->adone = n;
	}
	pool->done[pool->ndone++] = (done_item){ fn, ud, result };
	if (!pool->deliver_armed &&
	    cairn_loop_timer(pool->loop, 0, deliver_all, pool, &pool->deliver_timer) == 0)
		pool->deliver_armed = true;
}

/* -- the pool --------------------------------------------------------------- */

static pthread_once_t ssh2_once = PTHREAD_ONCE_INIT;
static int ssh2_init_rc;

static void ssh2_init(void)
{
	ssh2_init_rc = libssh2_init(0);
}

int cairn_ssh_new(cairn_ssh **out, cairn_loop *loop, const cairn_ssh_opts *opts)
{
	cairn_ssh *s;

	pthread_once(&ssh2_once, ssh2_init);
	if (ssh2_init_rc != 0)
		return cairn_error_set(CAIRN_ERROR, "cannot initialize libssh2");
	if (!(s = calloc(1, sizeof(*s))))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->loop = loop;
	if (opts)
		s->opts = *opts;
	if (s->opts.connect_timeout <= 0)
		s->opts.connect_timeout = 15;
	if (s->opts.command_timeout <= 0)
		s->opts.command_timeout = 600;
	if (s->opts.keepalive <= 0)
		s->opts.keepalive = 15;
	if (s->opts.max_channels <= 0)
		s->opts.max_channels = 8;
	*out = s;
	return 0;
}

void cairn_ssh_get_stats(const cairn_ssh *s, cairn_ssh_stats *out)
{
	*out = s->stats;
}

static void sess_release_ssh(sess *s);

static void sess_free(sess *s)
{
	op *o, *next;
	int i;

	if (s->tunnel)
		s->tunnel->inner = NULL;
	for (o = s->active; o; o = next) {
		next = o->next;
		cairn_ssh__op_free(o);
	}
	for (o = s->queue; o; o = next) {
		next = o->next;
		cairn_ssh__op_free(o);
	}
	s->active = s->queue = NULL;
	sess_release_ssh(s);
	if (s->conn_timer_set)
		cairn_loop_timer_cancel(s->pool->loop, s->conn_timer);
	if (s->ka_timer_set)
		cairn_loop_timer_cancel(s->pool->loop, s->ka_timer);
	for (i = 0; i < s->nauth; i++)
		free(s->auth_plan[i]);
	cairn_buf_release(&s->auth_errors);
	free(s->key_type);
	free(s->key_b64);
	free(s->fingerprint);
	free(s->key_source);
	free(s->sftp_error);
	free(s->error);
	free(s->key);
	json_decref(s->host);
	free(s);
}

void cairn_ssh_free(cairn_ssh *pool)
{
	size_t i;

	if (!pool)
		return;
	/* a session goes after every session tunnelled through it */
	while (pool->sessions) {
		sess **pp, *s = NULL, *o;

		for (pp = &pool->sessions; *pp && !s; pp = &(*pp)->next) {
			bool used = false;

			for (o = pool->sessions; o && !used; o = o->next)
				used = o->bastion == *pp;
			if (!used) {
				s = *pp;
				*pp = s->next;
				break;
			}
		}
		if (!s) { /* cannot happen (bastions form no loop): free in order */
			s = pool->sessions;
			pool->sessions = s->next;
		}
		sess_free(s);
	}
	if (pool->deliver_armed)
		cairn_loop_timer_cancel(pool->loop, pool->deliver_timer);
	for (i = 0; i < pool->ndone; i++)
		json_decref(pool->done[i].result);
	free(pool->done);
	free(pool);
}

/* -- states ------------------------------------------------------------------ */

/* The one place a session changes state (sess_state, state_doing[]). */
static void sess_move(sess *s, sess_state to)
{
	s->state = to;
}

/* Free everything libssh2 holds for the session. The socket is shut down
 * first, so that whatever libssh2 still tries to send fails at once (and
 * the descriptor number is not reused under it); then closed. */
static void sess_release_ssh(sess *s)
{
	cairn_resolve_cancel(s->resolving);
	s->resolving = NULL;
	if (s->watching) {
		cairn_loop_unwatch_fd(s->pool->loop, s->watch);
		s->watching = false;
	}
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	if (s->ssh)
		libssh2_session_set_blocking(s->ssh, 1);
	if (s->sftp) {
		libssh2_sftp_shutdown(s->sftp);
		s->sftp = NULL;
	}
	if (s->agent) {
		libssh2_agent_disconnect(s->agent);
		libssh2_agent_free(s->agent);
		s->agent = NULL;
	}
	if (s->ssh) {
		if (s->state == S_READY)
			libssh2_session_disconnect(s->ssh, "cairn is done");
		libssh2_session_free(s->ssh);
		s->ssh = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* The session cannot be used: every operation fails with msg; later
 * requests fail at once with it too. */
static void sess_fail(sess *s, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sess_fail(sess *s, const char *code, const char *fmt, ...)
{
	cairn_buf b = CAIRN_BUF_INIT;
	op *o, *next;
	va_list ap;

	if (s->state == S_FAILED)
		return;
	va_start(ap, fmt);
	cairn_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(s->error);
	s->error = cairn_buf_detach(&b);
	s->error_code = code;
	sess_move(s, S_FAILED);
	for (o = s->active; o; o = next) {
		next = o->next;
		cairn_ssh__op_abort(o, cairn_ssh__error(s, code, "%s", s->error ? s->error : "failed"));
	}
	for (o = s->queue; o; o = next) {
		next = o->next;
		cairn_ssh__op_abort(o, cairn_ssh__error(s, code, "%s", s->error ? s->error : "failed"));
	}
	s->active = s->queue = s->queue_tail = NULL;
	s->opening = s->sftp_busy = s->send_blocked = NULL;
	s->nchannels = 0;
	/* the bastion's tunnel for us has no more use */
	if (s->tunnel) {
		s->tunnel->inner = NULL;
		s->tunnel = NULL;
	}
	if (s->conn_timer_set) {
		cairn_loop_timer_cancel(s->pool->loop, s->conn_timer);
		s->conn_timer_set = false;
	}
	if (s->ka_timer_set) {
		cairn_loop_timer_cancel(s->pool->loop, s->ka_timer);
		s->ka_timer_set = false;
	}
	sess_release_ssh(s);
}

/* -- events ------------------------------------------------------------------- */

static void on_socket(void *ud, int fd, int revents)
{
	(void)fd;
	(void)revents;
	cairn_ssh__drive(ud);
}

static void on_conn_timeout(void *ud)
{
	sess *s = ud;

	s->conn_timer_set = false;
	if (s->state != S_READY && s->state != S_FAILED)
		sess_fail(s, "timeout", "timed out after %gs %s", s->pool->opts.connect_timeout, state_doing[s->state]);
}

static void on_keepalive(void *ud)
{
	sess *s = ud;
	int next = 0;

	s->ka_timer_set = false;
	if (s->state != S_READY)
		return;
	if (!s->send_blocked)
		libssh2_keepalive_send(s->ssh, &next);
	if (cairn_loop_timer(s->pool->loop, s->pool->opts.keepalive, on_keepalive, s, &s->ka_timer) == 0)
		s->ka_timer_set = true;
	cairn_ssh__drive(s);
}

/* Wait for what libssh2 (or the connect) waits for. */
static void sess_wait(sess *s)
{
	int ev = CAIRN_FD_IN, dirs;

	if (s->fd < 0 || s->state == S_FAILED)
		return;
	if (s->state == S_CONNECT) {
		ev = CAIRN_FD_OUT;
	} else if (s->ssh) {
		dirs = libssh2_session_block_directions(s->ssh);
		if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			ev |= CAIRN_FD_OUT;
	}
	if (!s->watching) {
		if (cairn_loop_watch_fd(s->pool->loop, s->fd, ev, on_socket, s, &s->watch) == 0)
			s->watching = true;
	} else {
		cairn_loop_watch_set(s->pool->loop, s->watch, ev);
	}
}

/* -- connecting ------------------------------------------------------------------ */

static void default_keys(sess *s)
{
	static const char *const names[] = { "id_ed25519", "id_ecdsa" };
	const char *home = getenv("HOME");
	char path[4096];
	struct stat st;
	size_t i;

	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	for (i = 0; home && i < sizeof(names) / sizeof(names[0]) && s->nauth < 4; i++) {
		snprintf(path, sizeof(path), "%s/.ssh/%s", home, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			s->auth_plan[s->nauth++] = strdup(path);
	}
}

/* Which ways of logging in to try, in order (see ssh.h). */
static void plan_auth(sess *s)
{
	const char *key = json_string_value(json_object_get(s->host, "key_file"));
	json_t *agent = json_object_get(s->host, "agent");
	const char *sock = getenv("SSH_AUTH_SOCK");

	if (key && *key) {
		s->auth_plan[s->nauth++] = strdup(key);
		return;
	}
	if (json_is_true(agent) || (!json_is_false(agent) && sock && *sock))
		s->auth_plan[s->nauth++] = strdup("agent");
	if (!json_is_true(agent))
		default_keys(s);
}

/* Only the algorithms this libssh2 has: 1.10's method_pref drops the
 * others with an overlapping memcpy. */
static void set_hostkey_prefs(sess *s)
{
	char buf[256], prefs[256], *p, *save = NULL;
	cairn_buf keep = CAIRN_BUF_INIT;
	const char **algs = NULL;
	int n, i;

	snprintf(prefs, sizeof(prefs), "%s", cairn_ssh__hostkey_prefs(s, buf, sizeof(buf)));
	n = libssh2_session_supported_algs(s->ssh, LIBSSH2_METHOD_HOSTKEY, &algs);
	for (p = strtok_r(prefs, ",", &save); p && n > 0; p = strtok_r(NULL, ",", &save)) {
		const char *k = cairn_buf_cstr(&keep);
		size_t plen = strlen(p);
		bool dup = false;

		for (i = 0; i < n && strcmp(algs[i], p) != 0; i++)
			;
		/* once each: the recorded key's algorithm comes first and again in the list */
		for (; *k && !dup; k += strcspn(k, ","), k += *k == ',')
			dup = !strncmp(k, p, plen) && (k[plen] == ',' || !k[plen]);
		if (i < n && !dup) {
			if (keep.len)
				cairn_buf_putc(&keep, ',');
			cairn_buf_puts(&keep, p);
		}
	}
	if (algs)
		libssh2_free(s->ssh, algs);
	if (keep.len)
		libssh2_session_method_pref(s->ssh, LIBSSH2_METHOD_HOSTKEY, keep.ptr);
	cairn_buf_release(&keep);
}

static int start_ssh(sess *s)
{
	s->ssh = libssh2_session_init_ex(NULL, NULL, NULL, s);
	if (!s->ssh)
		return -1;
	libssh2_session_set_blocking(s->ssh, 0);
	set_hostkey_prefs(s);
	return 0;
}

/* The address resolved (a loop callback, resolve.c): connect to it. */
static void on_resolved(void *ud, struct addrinfo *res, const char *error)
{
	sess *s = ud;
	int fd, rc;

	s->resolving = NULL;
	if (s->state != S_RESOLVE) {
		if (res)
			freeaddrinfo(res);
		return;
	}
	if (!res) {
		sess_fail(s, "connect", "%s", error);
		cairn_ssh__drive(s);
		return;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		sess_fail(s, "connect", "cannot create a socket: %s", strerror(errno));
		cairn_ssh__drive(s);
		return;
	}
	s->fd = fd;
	s->pool->stats.sessions++;
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && errno != EINPROGRESS)
		sess_fail(s, "connect", "cannot connect: %s", strerror(errno));
	else
		sess_move(s, rc == 0 ? S_HANDSHAKE : S_CONNECT);
	cairn_ssh__drive(s);
}

static step_rc step_new(sess *s)
{
	char port[16];

	if (start_ssh(s) < 0) {
		sess_fail(s, "failure", "cannot create an SSH session: out of memory");
		return STEP_DONE;
	}
	if (s->bastion) {
		sess_move(s, S_TUNNEL);
		return STEP_PROGRESS;
	}
	/* a name is resolved beside the loop (an address at once): a name
	 * server that does not answer holds neither the other hosts nor a
	 * signal; the connect timeout bounds the wait */
	snprintf(port, sizeof(port), "%d", s->port);
	if (cairn_loop_resolve(s->pool->loop, s->address, port, on_resolved, s, &s->resolving) != 0) {
		s->resolving = NULL;
		sess_fail(s, "connect", "%s", cairn_error_last()->message);
		return STEP_DONE;
	}
	sess_move(s, S_RESOLVE);
	return STEP_AGAIN;
}

static step_rc step_connect(sess *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);

	if (getpeername(s->fd, (struct sockaddr *)&peer, &plen) < 0) {
		if (errno != ENOTCONN) {
			sess_fail(s, "connect", "cannot connect: %s", strerror(errno));
			return STEP_DONE;
		}
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == 0)
			return STEP_AGAIN; /* still connecting */
		sess_fail(s, "connect", "cannot connect: %s", strerror(err));
		return STEP_DONE;
	}
	sess_move(s, S_HANDSHAKE);
	return STEP_PROGRESS;
}

static step_rc step_handshake(sess *s)
{
	const char *code = "hostkey";
	char *msg = NULL;
	int rc = libssh2_session_handshake(s->ssh, s->fd);

	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	if (rc) {
		sess_fail(s, "connect", "SSH handshake failed: %s", cairn_ssh__lasterr(s));
		return STEP_DONE;
	}
	if (cairn_ssh__check_hostkey(s, &msg, &code) < 0) {
		sess_fail(s, code, "%s", msg ? msg : "host key verification failed");
		free(msg);
		return STEP_DONE;
	}
	sess_move(s, S_AUTH);
	return STEP_PROGRESS;
}

static void auth_note(sess *s, const char *what)
{
	if (s->auth_errors.len)
		cairn_buf_puts(&s->auth_errors, "; ");
	cairn_buf_puts(&s->auth_errors, what);
}

/* One identity of the agent after the other. */
static step_rc step_agent(sess *s)
{
	int rc;

	if (!s->agent) {
		if (!(s->agent = libssh2_agent_init(s->ssh))) {
			auth_note(s, "ssh-agent: cannot start");
			return STEP_DONE;
		}
		/* the agent is a local socket: these calls do not wait long */
		if (libssh2_agent_connect(s->agent) != 0 || libssh2_agent_list_identities(s->agent) != 0) {
			cairn_buf b = CAIRN_BUF_INIT;

			cairn_buf_printf(&b, "ssh-agent: cannot use it (%s)", cairn_ssh__lasterr(s));
			auth_note(s, cairn_buf_cstr(&b));
			cairn_buf_release(&b);
			return STEP_DONE;
		}
		s->ident = NULL;
		rc = libssh2_agent_get_identity(s->agent, &s->ident, NULL);
		if (rc != 0) {
			auth_note(s, "ssh-agent: it holds no keys");
			return STEP_DONE;
		}
	}
	rc = libssh2_agent_userauth(s->agent, s->user, s->ident);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	if (rc == 0)
		return STEP_PROGRESS; /* logged in: the caller checks */
	if (libssh2_agent_get_identity(s->agent, &s->ident, s->ident) != 0) {
		auth_note(s, "ssh-agent: the server accepted none of its keys");
		return STEP_DONE;
	}
	return STEP_PROGRESS;
}

static step_rc step_auth(sess *s)
{
	const char *m;
	step_rc r;
	int rc;

	for (;;) {
		if (libssh2_userauth_authenticated(s->ssh)) {
			sess_move(s, S_READY);
			if (s->conn_timer_set) {
				cairn_loop_timer_cancel(s->pool->loop, s->conn_timer);
				s->conn_timer_set = false;
			}
			/* libssh2 counts keepalive intervals in whole seconds */
			libssh2_keepalive_config(s->ssh, 0, s->pool->opts.keepalive < 1 ? 1 : (unsigned)s->pool->opts.keepalive);
			if (cairn_loop_timer(s->pool->loop, s->pool->opts.keepalive, on_keepalive, s, &s->ka_timer) == 0)
				s->ka_timer_set = true;
			return STEP_PROGRESS;
		}
		if (s->auth_method >= s->nauth) {
			if (s->nauth == 0)
				sess_fail(s, "auth", "cannot log in as %s: no key to offer (set key_file, or start "
					  "ssh-agent and set SSH_AUTH_SOCK)", s->user);
			else
				sess_fail(s, "auth", "cannot log in as %s: %s", s->user, cairn_buf_cstr(&s->auth_errors));
			return STEP_DONE;
		}
		m = s->auth_plan[s->auth_method];
		if (!strcmp(m, "agent")) {
			r = step_agent(s);
			if (r == STEP_AGAIN)
				return STEP_AGAIN;
			if (r == STEP_DONE)
				s->auth_method++;
			continue;
		}
		rc = libssh2_userauth_publickey_fromfile_ex(s->ssh, s->user, (unsigned)strlen(s->user), NULL, m, NULL);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		if (rc) {
			cairn_buf b = CAIRN_BUF_INIT;

			if (rc == LIBSSH2_ERROR_FILE || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
				cairn_buf_printf(&b, "cannot use key file %s (%s; an encrypted key must be loaded "
						 "into ssh-agent)", m, cairn_ssh__lasterr(s));
			else
				cairn_buf_printf(&b, "the server refused key file %s (%s)", m, cairn_ssh__lasterr(s));
			auth_note(s, cairn_buf_cstr(&b));
			cairn_buf_release(&b);
			s->auth_method++;
		}
	}
}

/* Advance the connection; STEP_PROGRESS when it moved, STEP_AGAIN when it
 * waits for the network, STEP_DONE when it is ready or failed. */
static step_rc step_session(sess *s)
{
	switch (s->state) {
	case S_NEW: return step_new(s);
	case S_RESOLVE: return STEP_AGAIN; /* on_resolved moves us on */
	case S_TUNNEL: return STEP_AGAIN; /* the bastion's tunnel moves us on */
	case S_CONNECT: return step_connect(s);
	case S_HANDSHAKE: return step_handshake(s);
	case S_AUTH: return step_auth(s);
	default: return STEP_DONE;
	}
}

/* -- operations -------------------------------------------------------------- */

static void unlink_active(sess *s, op *o)
{
	op **pp;

	for (pp = &s->active; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
}

/* Move the queued operations that can run now to the active list, in
 * order (an operation waiting for its lock keeps later ones with the
 * same lock waiting too). */
static void start_queued(sess *s)
{
	op **pp = &s->queue, *o;
	const char *held[64];
	size_t nheld = 0, i;
	op *prev = NULL;

	for (o = s->active; o; o = o->next)
		if (o->lock && nheld < 64)
			held[nheld++] = o->lock;
	while ((o = *pp)) {
		bool locked = false;

		for (i = 0; o->lock && i < nheld; i++)
			if (!strcmp(held[i], o->lock))
				locked = true;
		if (!locked && cairn_ssh__op_can_start(s, o)) {
			*pp = o->next;
			if (s->queue_tail == o)
				s->queue_tail = prev;
			o->next = s->active;
			s->active = o;
			cairn_ssh__op_arm(o);
			if (o->lock && nheld < 64)
				held[nheld++] = o->lock;
			continue;
		}
		if (o->lock && nheld < 64)
			held[nheld++] = o->lock;
		prev = o;
		pp = &o->next;
	}
}

/* Step every active operation once; STEP_PROGRESS if any moved. */
static step_rc step_ops(sess *s)
{
	op *o, *next;
	bool moved = false;
	step_rc r;

	if (s->send_blocked) {
		o = s->send_blocked;
		r = cairn_ssh__op_step(o);
		if (r == STEP_AGAIN && (libssh2_session_block_directions(s->ssh) & LIBSSH2_SESSION_BLOCK_OUTBOUND))
			return STEP_AGAIN;
		s->send_blocked = NULL;
		if (r == STEP_DONE) {
			unlink_active(s, o);
			cairn_ssh__op_free(o);
		}
		return STEP_PROGRESS;
	}
	start_queued(s);
	for (o = s->active; o && s->state == S_READY; o = next) {
		next = o->next;
		r = cairn_ssh__op_step(o);
		if (s->state != S_READY)
			return STEP_DONE; /* the step found the connection gone */
		if (r == STEP_DONE) {
			unlink_active(s, o);
			cairn_ssh__op_free(o);
			moved = true;
		} else if (r == STEP_PROGRESS) {
			moved = true;
		} else if (libssh2_session_block_directions(s->ssh) & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
			/* a packet is half sent: only o may send until it is out */
			s->send_blocked = o;
			return moved ? STEP_PROGRESS : STEP_AGAIN;
		}
	}
	return moved ? STEP_PROGRESS : STEP_AGAIN;
}

/* Did libssh2 notice that the connection is gone? */
static bool sess_dead(sess *s)
{
	int e;

	if (!s->ssh)
		return false;
	e = libssh2_session_last_errno(s->ssh);
	return e == LIBSSH2_ERROR_SOCKET_RECV || e == LIBSSH2_ERROR_SOCKET_SEND ||
	       e == LIBSSH2_ERROR_SOCKET_DISCONNECT || e == LIBSSH2_ERROR_SOCKET_TIMEOUT;
}

void cairn_ssh__drive(sess *s)
{
	step_rc r;
	int rounds = 0;

	if (s->driving) {
		s->redrive = true;
		return;
	}
	s->driving = true;
	do {
		s->redrive = false;
		for (;;) {
			if (s->state == S_FAILED)
				break;
			if (s->state != S_READY) {
				r = step_session(s);
				if (r == STEP_AGAIN || (r == STEP_DONE && s->state != S_READY))
					break;
				continue;
			}
			r = step_ops(s);
			if (s->state == S_READY && sess_dead(s))
				sess_fail(s, "closed", "the connection was lost: %s", cairn_ssh__lasterr(s));
			if (r != STEP_PROGRESS || ++rounds > 100000)
				break;
		}
	} while (s->redrive && s->state != S_FAILED);
	s->driving = false;
	sess_wait(s);
}

/* -- finding or opening a session ------------------------------------------- */

static char *local_user(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *u = pw ? pw->pw_name : getenv("USER");

	return strdup(u && *u ? u : "root");
}

static int sess_key(cairn_buf *b, const json_t *host, int depth);

static int host_fields(const json_t *host, const char **address, int *port, const char **user)
{
	json_t *p = json_object_get(host, "port");

	*address = json_string_value(json_object_get(host, "address"));
	*user = json_string_value(json_object_get(host, "user"));
	*port = SSH_DEFAULT_PORT;
	if (!json_is_object(host) || !*address || !**address)
		return cairn_error_set(CAIRN_EINVAL, "an SSH host needs an address");
	if (p && !json_is_null(p)) {
		if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
			return cairn_error_set(CAIRN_EINVAL, "the port of SSH host %s must be a number from 1 to 65535",
					       *address);
		*port = (int)json_integer_value(p);
	}
	return 0;
}

static int sess_key(cairn_buf *b, const json_t *host, int depth)
{
	const char *address, *user;
	json_t *bastion;
	char *me = NULL;
	int port, rc;

	if (depth > 8)
		return cairn_error_set(CAIRN_EINVAL, "too many bastions in a row (a loop?)");
	if ((rc = host_fields(host, &address, &port, &user)) < 0)
		return rc;
	if (!user)
		user = me = local_user();
	rc = cairn_buf_printf(b, "%s@%s:%d", user ? user : "?", address, port);
	free(me);
	bastion = json_object_get(host, "bastion");
	if (!rc && bastion && !json_is_null(bastion)) {
		rc = cairn_buf_putc(b, '>');
		if (!rc)
			rc = sess_key(b, bastion, depth + 1);
	}
	return rc;
}

static int sess_get(cairn_ssh *pool, const json_t *host, int depth, sess **out);

static int sess_open(cairn_ssh *pool, const json_t *host, const char *key, int depth, sess **out)
{
	sess *s = calloc(1, sizeof(*s));
	json_t *bastion = json_object_get(host, "bastion");
	int rc;

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->pool = pool;
	s->fd = -1;
	s->host = json_deep_copy(host);
	s->key = strdup(key);
	cairn_buf_init(&s->auth_errors, 4096);
	if (!s->host || !s->key) {
		sess_free(s);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (!json_string_value(json_object_get(s->host, "user"))) {
		char *u = local_user();

		json_object_set_new(s->host, "user", json_string(u));
		free(u);
	}
	host_fields(s->host, &s->address, &s->port, &s->user);
	s->name = json_string_value(json_object_get(s->host, "name"));
	if (!s->name)
		s->name = s->address;
	plan_auth(s);
	if (bastion && !json_is_null(bastion)) {
		if ((rc = sess_get(pool, bastion, depth + 1, &s->bastion)) < 0) {
			sess_free(s);
			return rc;
		}
	}
	s->next = pool->sessions;
	pool->sessions = s;
	if (cairn_loop_timer(pool->loop, pool->opts.connect_timeout, on_conn_timeout, s, &s->conn_timer) == 0)
		s->conn_timer_set = true;
	*out = s;
	return 0;
}

/* The session for host, opened (and started) if there is none yet. */
static int sess_get(cairn_ssh *pool, const json_t *host, int depth, sess **out)
{
	cairn_buf key = CAIRN_BUF_INIT;
	sess *s;
	int rc;

	if ((rc = sess_key(&key, host, depth)) < 0)
		goto cleanup;
	for (s = pool->sessions; s; s = s->next)
		if (!strcmp(s->key, cairn_buf_cstr(&key))) {
			*out = s;
			goto cleanup;
		}
	if ((rc = sess_open(pool, host, cairn_buf_cstr(&key), depth, &s)) < 0)
		goto cleanup;
	if (s->bastion) {
		op *t = NULL;

		/* ask the bastion for a tunnel; when it fails, so do we */
		if (s->bastion->state == S_FAILED) {
			sess_fail(s, s->bastion->error_code, "cannot reach the bastion %s: %s", s->bastion->name,
				  s->bastion->error ? s->bastion->error : "failed");
		} else if (cairn_ssh__tunnel_new(&t, s->bastion, s) < 0) {
			sess_fail(s, "failure", "cannot open a tunnel: out of memory");
		} else {
			s->tunnel = t;
			if (s->bastion->queue_tail)
				s->bastion->queue_tail->next = t;
			else
				s->bastion->queue = t;
			s->bastion->queue_tail = t;
			cairn_ssh__drive(s->bastion);
		}
	}
	*out = s;
cleanup:
	cairn_buf_release(&key);
	return rc;
}

int cairn_ssh_submit(cairn_ssh *pool, const json_t *host, const json_t *req, cairn_ssh_fn fn, void *ud)
{
	sess *s = NULL;
	op *o = NULL;
	int rc;

	if (!pool || !fn || !json_is_object(req))
		return cairn_error_set(CAIRN_EINVAL, "invalid SSH request");
	if ((rc = sess_get(pool, host, 0, &s)) < 0)
		return rc;
	if ((rc = cairn_ssh__op_new(&o, s, req, fn, ud)) < 0)
		return rc;
	if (s->state == S_FAILED) {
		cairn_ssh__op_abort(o, cairn_ssh__error(s, s->error_code ? s->error_code : "failure", "%s",
							s->error ? s->error : "failed"));
		return 0;
	}
	if (s->queue_tail)
		s->queue_tail->next = o;
	else
		s->queue = o;
	s->queue_tail = o;
	cairn_ssh__drive(s);
	return 0;
}

/* -- tunnels: called by the bastion's tunnel operation (ops.c) -------------- */

/* The tunnel is open: fd is our end of the socketpair. */
void cairn_ssh__tunnel_ready(sess *inner, int fd)
{
	inner->fd = fd;
	inner->pool->stats.sessions++;
	sess_move(inner, S_HANDSHAKE);
	cairn_ssh__drive(inner);
}

void cairn_ssh__tunnel_failed(sess *inner, const char *why)
{
	inner->tunnel = NULL;
	sess_fail(inner, "connect", "cannot reach it through the bastion %s: %s", inner->bastion->name, why);
}

/* The bastion side saw the tunnel end (or its session fail). */
void cairn_ssh__tunnel_closed(sess *inner)
{
	inner->tunnel = NULL;
	if (inner->state != S_FAILED)
		cairn_ssh__drive(inner); /* reads EOF on its socket and fails */
}
