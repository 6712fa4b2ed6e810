/*
 * ssh_int.h - what session.c (the pool, sessions: connect, host keys,
 * authentication, keepalives, tunnels), ops.c (commands, SFTP) and
 * hostkey.c share. Internal: nothing outside provisioner/ssh/ includes it.
 *
 * libssh2 runs in non-blocking mode: every call may answer EAGAIN, and
 * must then be made again, with the same arguments, when the socket is
 * ready in the direction libssh2_session_block_directions() names. Two
 * rules of libssh2 shape the code: a packet that was partly sent must be
 * finished by the same call before any other call sends anything (else
 * LIBSSH2_ERROR_BAD_USE), so an operation blocked on sending is the only
 * one stepped until it has gone out (sess.send_blocked); and opening a
 * channel (a command, a tunnel, the SFTP subsystem) keeps its state in the
 * session, so one opens at a time (sess.opening). SFTP requests keep
 * theirs in the SFTP handle: one at a time (sess.sftp_busy).
 */
#ifndef CAIRN_SSH_INT_H
#define CAIRN_SSH_INT_H

#include "ssh.h"
#include "base/buf.h"

#include <libssh2.h>
#include <libssh2_sftp.h>

#define SSH_DEFAULT_PORT 22
#define SSH_OUTPUT_DEFAULT ((size_t)1 << 20)
#define SSH_OUTPUT_MAX ((size_t)64 << 20)
#define SSH_READ_DEFAULT ((size_t)16 << 20)

typedef struct sess sess;
typedef struct op op;

typedef enum {
	S_NEW, S_RESOLVE, S_TUNNEL, S_CONNECT, S_HANDSHAKE, S_AUTH, S_READY, S_FAILED,
} sess_state;

typedef enum {
	OP_HOSTKEY, OP_EXEC, OP_STAT, OP_READ, OP_WRITE, OP_MKDIR, OP_SYMLINK, OP_READLINK,
	OP_REMOVE, OP_SETSTAT, OP_TUNNEL,
} op_kind;

/* What a step of an operation (or of a session) achieved. */
typedef enum { STEP_AGAIN, STEP_PROGRESS, STEP_DONE } step_rc;

struct op {
	op *next;              /* in the session's queue or active list */
	sess *s;
	op_kind kind;
	json_t *req;
	cairn_ssh_fn fn;
	void *ud;
	int phase;
	int xphase;            /* the command's own phase (exec_run) */
	const char *lock;      /* borrowed from req */
	const char *path;      /* borrowed from req */
	/* exec (also the `mv` that finishes a write over an existing file) */
	char *command;
	LIBSSH2_CHANNEL *ch;
	bool counted;          /* holds one of the session's channels */
	cairn_buf in;          /* stdin, or the content to write */
	size_t in_off;
	bool eof_sent;
	cairn_buf out, err;
	bool out_trunc, err_trunc;
	int exit_code;
	char *signal;
	uint64_t timer;
	bool timer_set;
	double timeout;
	/* sftp */
	LIBSSH2_SFTP_HANDLE *fh;
	char *tmp;             /* write: the temporary file */
	json_t *result;        /* set when the answer is known (before cleanup) */
	/* tunnel: the bastion's side of a socketpair carried over direct-tcpip */
	sess *inner;
	int sock;
	uint64_t sock_watch;
	cairn_buf to_chan, to_sock;
	bool chan_eof, sock_eof;
};

struct sess {
	cairn_ssh *pool;
	sess *next;
	char *key;             /* user@address:port[>bastion's key] */
	json_t *host;          /* the first host description that named it */
	const char *name, *address, *user; /* borrowed from host */
	int port;
	sess_state state;
	int fd;
	uint64_t watch;
	bool watching;
	cairn_resolve *resolving; /* the address's name being resolved (S_RESOLVE) */
	LIBSSH2_SESSION *ssh;
	/* authentication */
	int auth_method;       /* index in auth_plan */
	char *auth_plan[4];    /* "agent" or a key file path */
	int nauth;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *ident;
	cairn_buf auth_errors;
	/* the host key, once checked */
	char *key_type, *key_b64, *fingerprint, *key_source;
	/* operations */
	op *queue, *queue_tail;
	op *active;
	op *opening;
	op *sftp_busy;
	op *send_blocked;
	int nchannels;
	LIBSSH2_SFTP *sftp;
	int sftp_state;        /* 0 none, 1 opening, 2 ready, -1 failed */
	char *sftp_error;
	/* failure */
	char *error;
	const char *error_code;
	/* timers */
	uint64_t conn_timer, ka_timer;
	bool conn_timer_set, ka_timer_set;
	/* through a bastion */
	sess *bastion;
	op *tunnel;            /* the bastion's tunnel operation for us */
	bool driving, redrive;
};

typedef struct done_item {
	cairn_ssh_fn fn;
	void *ud;
	json_t *result;
} done_item;

struct cairn_ssh {
	cairn_loop *loop;
	cairn_ssh_opts opts;
	sess *sessions;
	done_item *done;
	size_t ndone, adone;
	uint64_t deliver_timer;
	bool deliver_armed;
	cairn_ssh_stats stats;
};

/* session.c */
/* Run the session: its connection steps, then its operations, until
 * nothing more can happen without waiting; then wait on the right events. */
void cairn_ssh__drive(sess *s);
/* The answer to an operation: queued for delivery from the loop. Takes
 * the reference to result. */
void cairn_ssh__deliver(cairn_ssh *pool, cairn_ssh_fn fn, void *ud, json_t *result);
/* {"error": "<host>: msg", "code": code} */
json_t *cairn_ssh__error(const sess *s, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The last libssh2 error of the session, as text (borrowed). */
const char *cairn_ssh__lasterr(const sess *s);
/* Is the session ready to send (no partial packet from another op)? */
bool cairn_ssh__blocked_out(const sess *s);

/* The bastion's tunnel for inner is open (fd: inner's end of the
 * socketpair), could not be opened, or has closed. */
void cairn_ssh__tunnel_ready(sess *inner, int fd);
void cairn_ssh__tunnel_failed(sess *inner, const char *why);
void cairn_ssh__tunnel_closed(sess *inner);

/* ops.c */
/* Check a request and make its operation (not yet queued). */
int cairn_ssh__op_new(op **out, sess *s, const json_t *req, cairn_ssh_fn fn, void *ud);
/* Can op start now (channels, the SFTP subsystem, its lock)? */
bool cairn_ssh__op_can_start(sess *s, const op *o);
/* One step of an operation. STEP_DONE: it has answered (o->result) and
 * released everything; the caller unlinks and frees it. */
step_rc cairn_ssh__op_step(op *o);
/* Answer an operation whose session is gone (or never came): deliver
 * result, forget its libssh2 handles (freed with the session), free it. */
void cairn_ssh__op_abort(op *o, json_t *result);
/* Free an operation without answering (the pool is being freed). */
void cairn_ssh__op_free(op *o);
/* Start an operation's timer (exec timeouts). */
void cairn_ssh__op_arm(op *o);
/* The tunnel operation a session asks of its bastion. */
int cairn_ssh__tunnel_new(op **out, sess *bastion, sess *inner);

/* hostkey.c */
/* Check the session's host key (strict; see ssh.h). 0, or <0 with
 * *msg (malloc'd) and *code saying why. Fills s->key_* on success. */
int cairn_ssh__check_hostkey(sess *s, char **msg, const char **code);
/* The preferred host key algorithms for a session (the recorded key's
 * type first, then OpenSSH's order). Static or s-owned. */
const char *cairn_ssh__hostkey_prefs(const sess *s, char *buf, size_t n);

/* base64 of (p, n), malloc'd; decode into b (replacing its content). */
char *cairn_ssh__b64(const void *p, size_t n);
int cairn_ssh__unb64(cairn_buf *b, const char *s, size_t n);
/* Shell quoting: 'text' with ' written as '\'' (appended to b). */
int cairn_ssh__quote(cairn_buf *b, const char *s);

#endif
