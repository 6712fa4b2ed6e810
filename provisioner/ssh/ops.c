/*
 * ops.c - what runs on a session (see ssh.h for the requests): commands
 * on channels of their own, file operations over the session's one SFTP
 * subsystem, and the tunnels a bastion carries for the sessions behind it.
 *
 * Every operation is a small state machine stepped by the session's drive
 * loop (session.c); a step calls libssh2 until it answers EAGAIN and says
 * whether anything moved. The rules of ssh_int.h apply: one channel opens
 * at a time (sess.opening), one SFTP request at a time (sess.sftp_busy).
 */
#include "ssh_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#define TUNNEL_BUF ((size_t)1 << 20)

static const struct {
	const char *name;
	op_kind kind;
} op_names[] = {
	{ "hostkey", OP_HOSTKEY }, { "exec", OP_EXEC }, { "stat", OP_STAT }, { "read", OP_READ },
	{ "write", OP_WRITE }, { "mkdir", OP_MKDIR }, { "symlink", OP_SYMLINK }, { "readlink", OP_READLINK },
	{ "remove", OP_REMOVE }, { "setstat", OP_SETSTAT }, { NULL, 0 },
};


/* -- making an operation ------------------------------------------------------ */

static bool valid_env_name(const char *k)
{
	const char *p = k;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return false;
	for (p++; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* The command line the login shell runs: exports, the command, and sudo
 * around both when the operation runs with become. */
static int build_command(op *o, const json_t *req)
{
	cairn_buf cmd = CAIRN_BUF_INIT, full = CAIRN_BUF_INIT;
	json_t *env = json_object_get(req, "env"), *v, *b = json_object_get(req, "become");
	const char *k, *user = json_string_value(json_object_get(o->s->host, "become_user"));
	bool become = json_is_boolean(b) ? json_is_true(b) : json_is_true(json_object_get(o->s->host, "become"));
	int rc = 0;

	json_object_foreach(env, k, v) {
		if (!valid_env_name(k) || !json_is_string(v)) {
			rc = cairn_error_set(CAIRN_EINVAL, "cairn.ssh.exec: env names must be shell variable names and "
					     "values strings (got '%s')", k);
			goto cleanup;
		}
		if ((rc = cairn_buf_printf(&cmd, "export %s=", k)) < 0 ||
		    (rc = cairn_ssh__quote(&cmd, json_string_value(v))) < 0 || (rc = cairn_buf_puts(&cmd, "; ")) < 0)
			goto cleanup;
	}
	if ((rc = cairn_buf_puts(&cmd, json_string_value(json_object_get(req, "command")))) < 0)
		goto cleanup;
	if (become) {
		if ((rc = cairn_buf_puts(&full, "sudo -n ")) < 0)
			goto cleanup;
		if (user && *user && ((rc = cairn_buf_puts(&full, "-u ")) < 0 || (rc = cairn_ssh__quote(&full, user)) < 0 ||
				      (rc = cairn_buf_putc(&full, ' ')) < 0))
			goto cleanup;
		if ((rc = cairn_buf_puts(&full, "-- sh -c ")) < 0 || (rc = cairn_ssh__quote(&full, cairn_buf_cstr(&cmd))) < 0)
			goto cleanup;
		o->command = cairn_buf_detach(&full);
	} else {
		o->command = cairn_buf_detach(&cmd);
	}
	if (!o->command)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
cleanup:
	cairn_buf_release(&cmd);
	cairn_buf_release(&full);
	return rc;
}

static int check_mode(const json_t *req, const char *what)
{
	const char *m = json_string_value(json_object_get(req, "mode"));
	char *end;
	long v;

	if (!json_object_get(req, "mode"))
		return 0;
	if (!m)
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.%s: 'mode' must be an octal string like \"0644\"", what);
	errno = 0;
	v = strtol(m, &end, 8);
	if (errno || end == m || *end || v < 0 || v > 07777)
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.%s: bad mode '%s' (want octal, like \"0644\")", what, m);
	return 0;
}

static int check_fields(op *o, const json_t *req, const char *what)
{
	json_t *t = json_object_get(req, "timeout"), *m = json_object_get(req, "max_output");
	json_t *uid = json_object_get(req, "uid"), *gid = json_object_get(req, "gid");
	const char *path = json_string_value(json_object_get(req, "path"));

	if (o->kind == OP_EXEC) {
		if (!json_is_string(json_object_get(req, "command")))
			return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.exec: 'command' must be a string");
		if (t && (!json_is_number(t) || json_number_value(t) <= 0 || json_number_value(t) > 86400))
			return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.exec: 'timeout' must be seconds in (0, 86400]");
		if (m && (!json_is_integer(m) || json_integer_value(m) < 0 || (size_t)json_integer_value(m) > SSH_OUTPUT_MAX))
			return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.exec: 'max_output' must be bytes up to 64 MiB");
		return 0;
	}
	if (o->kind == OP_HOSTKEY)
		return 0;
	if (!path || path[0] != '/')
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.%s: 'path' must be an absolute path", what);
	if (strlen(path) > 4000)
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.%s: 'path' is too long", what);
	if (check_mode(req, what) < 0)
		return CAIRN_EINVAL;
	if ((uid && !json_is_integer(uid)) || (gid && !json_is_integer(gid)) || (!uid != !gid))
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.%s: 'uid' and 'gid' are numbers, given together", what);
	if (o->kind == OP_WRITE && !json_is_string(json_object_get(req, "content_b64")))
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.write: 'content_b64' must be a string");
	if (o->kind == OP_SYMLINK && !json_is_string(json_object_get(req, "target")))
		return cairn_error_set(CAIRN_EINVAL, "cairn.ssh.symlink: 'target' must be a string");
	return 0;
}

static op *op_alloc(sess *s)
{
	op *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->s = s;
	o->sock = -1;
	cairn_buf_init(&o->in, SSH_OUTPUT_MAX);
	cairn_buf_init(&o->out, SSH_OUTPUT_DEFAULT);
	cairn_buf_init(&o->err, SSH_OUTPUT_DEFAULT);
	cairn_buf_init(&o->to_chan, 0);
	cairn_buf_init(&o->to_sock, 0);
	return o;
}

int cairn_ssh__op_new(op **out, sess *s, const json_t *req, cairn_ssh_fn fn, void *ud)
{
	const char *name = json_string_value(json_object_get(req, "op"));
	json_t *x;
	op *o = NULL;
	size_t i;
	int rc;

	for (i = 0; name && op_names[i].name && strcmp(op_names[i].name, name) != 0; i++)
		;
	if (!name || !op_names[i].name)
		return cairn_error_set(CAIRN_EINVAL, "unknown SSH operation '%s'", name ? name : "(none)");
	if (!(o = op_alloc(s)))
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	o->kind = op_names[i].kind;
	o->fn = fn;
	o->ud = ud;
	if (!(o->req = json_deep_copy(req))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = check_fields(o, o->req, name)) < 0)
		goto fail;
	o->path = json_string_value(json_object_get(o->req, "path"));
	o->lock = json_string_value(json_object_get(o->req, "lock"));
	if (o->kind == OP_EXEC) {
		if ((rc = build_command(o, o->req)) < 0)
			goto fail;
		x = json_object_get(o->req, "stdin_b64");
		if (json_is_string(x) && (rc = cairn_ssh__unb64(&o->in, json_string_value(x), json_string_length(x))) < 0)
			goto fail;
		x = json_object_get(o->req, "max_output");
		if (x) {
			o->out.max = o->err.max = (size_t)json_integer_value(x) ? (size_t)json_integer_value(x) : 1;
		}
		x = json_object_get(o->req, "timeout");
		o->timeout = x ? json_number_value(x) : 0;
		if (o->timeout <= 0) {
			x = json_object_get(s->host, "command_timeout");
			o->timeout = json_is_number(x) && json_number_value(x) > 0 ? json_number_value(x)
										   : s->pool->opts.command_timeout;
		}
	} else if (o->kind == OP_WRITE) {
		x = json_object_get(o->req, "content_b64");
		if ((rc = cairn_ssh__unb64(&o->in, json_string_value(x), json_string_length(x))) < 0)
			goto fail;
	}
	*out = o;
	return 0;
fail:
	cairn_ssh__op_free(o);
	return rc;
}

int cairn_ssh__tunnel_new(op **out, sess *bastion, sess *inner)
{
	op *o = op_alloc(bastion);

	if (!o)
		return CAIRN_ENOMEM;
	o->kind = OP_TUNNEL;
	o->inner = inner;
	*out = o;
	return 0;
}

void cairn_ssh__op_free(op *o)
{
	if (!o)
		return;
	if (o->sock_watch)
		cairn_loop_unwatch_fd(o->s->pool->loop, o->sock_watch);
	if (o->sock >= 0)
		close(o->sock);
	if (o->timer_set)
		cairn_loop_timer_cancel(o->s->pool->loop, o->timer);
	json_decref(o->req);
	json_decref(o->result);
	free(o->command);
	free(o->signal);
	free(o->tmp);
	cairn_buf_release(&o->in);
	cairn_buf_release(&o->out);
	cairn_buf_release(&o->err);
	cairn_buf_release(&o->to_chan);
	cairn_buf_release(&o->to_sock);
	free(o);
}

/* -- starting, timing out, answering -------------------------------------------- */

bool cairn_ssh__op_can_start(sess *s, const op *o)
{
	op *w = (op *)o;

	switch (o->kind) {
	case OP_HOSTKEY:
		return true;
	case OP_EXEC:
	case OP_TUNNEL:
		if (s->nchannels >= s->pool->opts.max_channels)
			return false;
		s->nchannels++;
		w->counted = true;
		return true;
	default:
		if (s->sftp_state == 0) {
			if (s->nchannels >= s->pool->opts.max_channels)
				return false;
			s->nchannels++; /* the SFTP channel, for the life of the session */
			s->sftp_state = 1;
			s->sftp_busy = w;
			return true;
		}
		if (s->sftp_state == -1)
			return true; /* fails at once with the reason */
		if (s->sftp_state == 2 && !s->sftp_busy) {
			s->sftp_busy = w;
			return true;
		}
		return false;
	}
}

static void on_op_timeout(void *ud)
{
	op *o = ud;

	o->timer_set = false;
	if (o->result || o->xphase >= 3)
		return;
	o->result = cairn_ssh__error(o->s, "timeout", "the command timed out after %gs: %s", o->timeout,
				     json_string_value(json_object_get(o->req, "command")));
	o->xphase = o->ch ? 3 : 6;
	cairn_ssh__drive(o->s);
}

void cairn_ssh__op_arm(op *o)
{
	if (o->kind == OP_EXEC && o->timeout > 0 &&
	    cairn_loop_timer(o->s->pool->loop, o->timeout, on_op_timeout, o, &o->timer) == 0)
		o->timer_set = true;
}

/* Release what the operation holds of its session. */
static void release(op *o)
{
	sess *s = o->s;

	if (s->opening == o)
		s->opening = NULL;
	if (s->sftp_busy == o)
		s->sftp_busy = NULL;
	if (s->send_blocked == o)
		s->send_blocked = NULL;
	if (o->counted) {
		s->nchannels--;
		o->counted = false;
	}
	if (o->timer_set) {
		cairn_loop_timer_cancel(s->pool->loop, o->timer);
		o->timer_set = false;
	}
}

/* Answer (o->result, or the given result) and let go. */
static step_rc finish(op *o, json_t *result)
{
	if (result) {
		json_decref(o->result);
		o->result = result;
	}
	release(o);
	if (o->fn) {
		cairn_ssh__deliver(o->s->pool, o->fn, o->ud, o->result);
		o->result = NULL;
		o->fn = NULL;
	}
	return STEP_DONE;
}

void cairn_ssh__op_abort(op *o, json_t *result)
{
	sess *s = o->s;

	/* the libssh2 handles go with the session */
	o->ch = NULL;
	o->fh = NULL;
	if (o->kind == OP_TUNNEL && o->inner) {
		sess *inner = o->inner;

		o->inner = NULL;
		inner->tunnel = NULL;
		if (o->sock < 0) {
			cairn_ssh__tunnel_failed(inner, json_string_value(json_object_get(result, "error")));
		} else {
			if (o->sock_watch) {
				cairn_loop_unwatch_fd(s->pool->loop, o->sock_watch);
				o->sock_watch = 0;
			}
			close(o->sock);
			o->sock = -1;
			cairn_ssh__tunnel_closed(inner);
		}
	}
	finish(o, result);
	o->counted = false;
	cairn_ssh__op_free(o);
}

/* -- errors ---------------------------------------------------------------------- */

/* An SFTP call failed: the server's status, or the connection. */
static json_t *sftp_error(op *o, const char *verb)
{
	sess *s = o->s;
	const char *code = "failure", *why;
	unsigned long fx;

	if (libssh2_session_last_errno(s->ssh) != LIBSSH2_ERROR_SFTP_PROTOCOL)
		return cairn_ssh__error(s, "closed", "cannot %s %s: %s", verb, o->path, cairn_ssh__lasterr(s));
	fx = libssh2_sftp_last_error(s->sftp);
	switch (fx) {
	case LIBSSH2_FX_NO_SUCH_FILE: case LIBSSH2_FX_NO_SUCH_PATH:
		code = "no_such_file"; why = "No such file or directory"; break;
	case LIBSSH2_FX_PERMISSION_DENIED:
		code = "permission_denied"; why = "Permission denied"; break;
	case LIBSSH2_FX_FILE_ALREADY_EXISTS:
		why = "File exists"; break;
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: case LIBSSH2_FX_QUOTA_EXCEEDED:
		why = "No space left on device"; break;
	case LIBSSH2_FX_NOT_A_DIRECTORY:
		why = "Not a directory"; break;
	case LIBSSH2_FX_DIR_NOT_EMPTY:
		why = "Directory not empty"; break;
	default:
		why = "Failure"; break;
	}
	return cairn_ssh__error(s, code, "cannot %s %s: %s (SFTP status %lu)", verb, o->path, why, fx);
}

static bool fx_is(op *o, unsigned long fx)
{
	return libssh2_session_last_errno(o->s->ssh) == LIBSSH2_ERROR_SFTP_PROTOCOL &&
	       libssh2_sftp_last_error(o->s->sftp) == fx;
}

/* -- commands --------------------------------------------------------------------------- */

static void take(cairn_buf *b, bool *trunc, const char *p, size_t n)
{
	size_t room = b->max > b->len ? b->max - b->len : 0;

	if (n > room) {
		*trunc = true;
		n = room;
	}
	if (n)
		cairn_buf_put(b, p, n);
}

/* Run o->command with o->in as its input (xphase 0..6). STEP_DONE when the
 * channel is gone: o->exit_code, o->out, o->err hold the outcome, or
 * o->result the failure. */
static step_rc exec_run(op *o)
{
	sess *s = o->s;
	char buf[32768];
	bool moved = false;
	ssize_t n;
	int rc;

	switch (o->xphase) {
	case 0:
		if (s->opening && s->opening != o)
			return STEP_AGAIN;
		s->opening = o;
		o->ch = libssh2_channel_open_session(s->ssh);
		if (!o->ch) {
			if (libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_EAGAIN)
				return STEP_AGAIN;
			s->opening = NULL;
			o->result = cairn_ssh__error(s, libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_CHANNEL_FAILURE ?
						     "failure" : "closed", "cannot open a channel: %s", cairn_ssh__lasterr(s));
			o->xphase = 6;
			return STEP_DONE;
		}
		s->opening = NULL;
		s->pool->stats.channels++;
		o->xphase = 1;
		/* fall through */
	case 1:
		rc = libssh2_channel_exec(o->ch, o->command);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_PROGRESS;
		if (rc) {
			o->result = cairn_ssh__error(s, "failure", "cannot run a command: %s", cairn_ssh__lasterr(s));
			o->xphase = 3;
			return STEP_PROGRESS;
		}
		s->pool->stats.bytes_out += o->in.len;
		o->xphase = 2;
		/* fall through */
	case 2:
		while (o->in_off < o->in.len) {
			n = libssh2_channel_write(o->ch, o->in.ptr + o->in_off, o->in.len - o->in_off);
			if (n == LIBSSH2_ERROR_EAGAIN)
				break;
			if (n < 0) {
				o->in_off = o->in.len; /* the command stopped reading */
				break;
			}
			o->in_off += (size_t)n;
			moved = true;
		}
		if (o->in_off >= o->in.len && !o->eof_sent) {
			rc = libssh2_channel_send_eof(o->ch);
			if (rc != LIBSSH2_ERROR_EAGAIN) {
				o->eof_sent = true;
				moved = true;
			}
		}
		while ((n = libssh2_channel_read(o->ch, buf, sizeof(buf))) > 0) {
			take(&o->out, &o->out_trunc, buf, (size_t)n);
			s->pool->stats.bytes_in += (size_t)n;
			moved = true;
		}
		while ((n = libssh2_channel_read_stderr(o->ch, buf, sizeof(buf))) > 0) {
			take(&o->err, &o->err_trunc, buf, (size_t)n);
			moved = true;
		}
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN && !libssh2_channel_eof(o->ch)) {
			o->result = cairn_ssh__error(s, "closed", "the command's channel failed: %s", cairn_ssh__lasterr(s));
			o->xphase = 3;
			return STEP_PROGRESS;
		}
		if (!libssh2_channel_eof(o->ch) || !o->eof_sent)
			return moved ? STEP_PROGRESS : STEP_AGAIN;
		o->xphase = 3;
		/* fall through */
	case 3:
		rc = libssh2_channel_close(o->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->xphase = 4;
		/* fall through */
	case 4:
		rc = libssh2_channel_wait_closed(o->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->exit_code = libssh2_channel_get_exit_status(o->ch);
		{
			char *sig = NULL;
			size_t siglen = 0;

			if (libssh2_channel_get_exit_signal(o->ch, &sig, &siglen, NULL, NULL, NULL, NULL) == 0 && sig) {
				free(o->signal);
				o->signal = strndup(sig, siglen);
				libssh2_free(s->ssh, sig);
			}
		}
		o->xphase = 5;
		/* fall through */
	case 5:
		rc = libssh2_channel_free(o->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->ch = NULL;
		if (o->counted) {
			s->nchannels--;
			o->counted = false;
		}
		o->xphase = 6;
		/* fall through */
	default:
		return STEP_DONE;
	}
}

static json_t *b64_member(const cairn_buf *b)
{
	char *s = cairn_ssh__b64(b->ptr ? b->ptr : "", b->len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

static step_rc step_exec(op *o)
{
	step_rc r = exec_run(o);
	json_t *res;

	if (r != STEP_DONE)
		return r;
	if (o->result)
		return finish(o, NULL);
	res = json_pack("{s:i,s:o,s:o,s:b,s:b}", "exit_code", o->exit_code, "stdout_b64", b64_member(&o->out),
			"stderr_b64", b64_member(&o->err), "stdout_truncated", o->out_trunc,
			"stderr_truncated", o->err_trunc);
	if (res && o->signal)
		json_object_set_new(res, "signal", json_string(o->signal));
	return finish(o, res);
}

/* -- SFTP ------------------------------------------------------------------------------- */

/* The session's SFTP subsystem, opened by the first file operation:
 * 1 ready, 0 not yet, -1 it cannot be had (o has answered). */
static int sftp_ready(op *o)
{
	sess *s = o->s;

	if (s->sftp_state == 2)
		return 1;
	if (s->sftp_state == -1) {
		finish(o, cairn_ssh__error(s, "failure", "%s", s->sftp_error ? s->sftp_error : "no SFTP"));
		return -1;
	}
	if (s->opening && s->opening != o)
		return 0;
	s->opening = o;
	s->sftp = libssh2_sftp_init(s->ssh);
	if (!s->sftp) {
		cairn_buf b = CAIRN_BUF_INIT;

		if (libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_EAGAIN)
			return 0;
		s->opening = NULL;
		s->sftp_state = -1;
		cairn_buf_printf(&b, "cannot start the SFTP subsystem (is it enabled in sshd_config?): %s",
				 cairn_ssh__lasterr(s));
		s->sftp_error = cairn_buf_detach(&b);
		finish(o, cairn_ssh__error(s, "failure", "%s", s->sftp_error ? s->sftp_error : "no SFTP"));
		return -1;
	}
	s->opening = NULL;
	s->sftp_state = 2;
	return 1;
}

static void fill_attrs(LIBSSH2_SFTP_ATTRIBUTES *a, const json_t *req)
{
	const char *mode = json_string_value(json_object_get(req, "mode"));
	json_t *uid = json_object_get(req, "uid"), *gid = json_object_get(req, "gid");

	memset(a, 0, sizeof(*a));
	if (mode) {
		a->flags |= LIBSSH2_SFTP_ATTR_PERMISSIONS;
		a->permissions = (unsigned long)strtol(mode, NULL, 8);
	}
	if (uid && gid) {
		a->flags |= LIBSSH2_SFTP_ATTR_UIDGID;
		a->uid = (unsigned long)json_integer_value(uid);
		a->gid = (unsigned long)json_integer_value(gid);
	}
}

static json_t *stat_json(const LIBSSH2_SFTP_ATTRIBUTES *a)
{
	unsigned long p = a->permissions;
	const char *type = LIBSSH2_SFTP_S_ISREG(p) ? "file" : LIBSSH2_SFTP_S_ISDIR(p) ? "dir" :
			   LIBSSH2_SFTP_S_ISLNK(p) ? "link" : "other";
	char mode[8];

	snprintf(mode, sizeof(mode), "%04lo", p & 07777);
	return json_pack("{s:b,s:s,s:s,s:I,s:I,s:I,s:I}", "exists", 1, "type", type, "mode", mode,
			 "uid", (json_int_t)a->uid, "gid", (json_int_t)a->gid, "size", (json_int_t)a->filesize,
			 "mtime", (json_int_t)a->mtime);
}

static step_rc step_stat(op *o)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc = libssh2_sftp_stat_ex(o->s->sftp, o->path, (unsigned)strlen(o->path),
				      json_is_true(json_object_get(o->req, "follow")) ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT, &a);

	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	o->s->pool->stats.sftp_ops++;
	if (rc == 0)
		return finish(o, stat_json(&a));
	if (fx_is(o, LIBSSH2_FX_NO_SUCH_FILE) || fx_is(o, LIBSSH2_FX_NO_SUCH_PATH) || fx_is(o, LIBSSH2_FX_NOT_A_DIRECTORY))
		return finish(o, json_pack("{s:b}", "exists", 0));
	return finish(o, sftp_error(o, "stat"));
}

static step_rc step_read(op *o)
{
	sess *s = o->s;
	char buf[32768];
	ssize_t n;
	bool moved = false;

	switch (o->phase) {
	case 0:
		o->fh = libssh2_sftp_open_ex(s->sftp, o->path, (unsigned)strlen(o->path), LIBSSH2_FXF_READ, 0,
					     LIBSSH2_SFTP_OPENFILE);
		if (!o->fh) {
			if (libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_EAGAIN)
				return STEP_AGAIN;
			if (fx_is(o, LIBSSH2_FX_NO_SUCH_FILE) || fx_is(o, LIBSSH2_FX_NO_SUCH_PATH))
				return finish(o, json_pack("{s:b}", "exists", 0));
			return finish(o, sftp_error(o, "read"));
		}
		{
			json_t *m = json_object_get(o->req, "max");

			o->out.max = json_is_integer(m) && json_integer_value(m) > 0 &&
				     (size_t)json_integer_value(m) <= SSH_OUTPUT_MAX ? (size_t)json_integer_value(m)
										     : SSH_READ_DEFAULT;
		}
		o->phase = 1;
		/* fall through */
	case 1:
		while ((n = libssh2_sftp_read(o->fh, buf, sizeof(buf))) > 0) {
			moved = true;
			s->pool->stats.bytes_in += (size_t)n;
			if (o->out.len + (size_t)n > o->out.max) {
				o->result = cairn_ssh__error(s, "failure", "cannot read %s: it is larger than %zu bytes",
							     o->path, o->out.max);
				o->phase = 2;
				return STEP_PROGRESS;
			}
			cairn_buf_put(&o->out, buf, (size_t)n);
		}
		if (n == LIBSSH2_ERROR_EAGAIN)
			return moved ? STEP_PROGRESS : STEP_AGAIN;
		if (n < 0)
			o->result = sftp_error(o, "read");
		o->phase = 2;
		/* fall through */
	case 2:
		if (libssh2_sftp_close_handle(o->fh) == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->fh = NULL;
		s->pool->stats.sftp_ops++;
		if (o->result)
			return finish(o, NULL);
		return finish(o, json_pack("{s:b,s:o}", "exists", 1, "content_b64", b64_member(&o->out)));
	}
	return finish(o, cairn_ssh__error(s, "failure", "internal error: read phase %d", o->phase));
}

static int make_tmp(op *o)
{
	unsigned char r[6];
	const char *slash = strrchr(o->path, '/');
	cairn_buf b = CAIRN_BUF_INIT;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	cairn_buf_printf(&b, "%.*s.%s.cairn-%02x%02x%02x%02x%02x%02x", (int)(slash - o->path + 1), o->path,
			 slash + 1, r[0], r[1], r[2], r[3], r[4], r[5]);
	o->tmp = cairn_buf_detach(&b);
	return o->tmp ? 0 : -1;
}

enum { W_OPEN, W_WRITE, W_SETSTAT, W_CLOSE, W_RENAME, W_MV, W_UNLINK };

/* Write to a temporary file beside the target, set its mode and owner,
 * and rename it over the target. SFTP v3 (OpenSSH) refuses to rename
 * onto an existing file: then `mv -f` on the host, which rename(2)s. */
static step_rc step_write(op *o)
{
	sess *s = o->s;
	LIBSSH2_SFTP_ATTRIBUTES a;
	ssize_t n;
	int rc;

	switch (o->phase) {
	case W_OPEN:
		if (!o->tmp && make_tmp(o) < 0)
			return finish(o, cairn_ssh__error(s, "failure", "out of memory"));
		o->fh = libssh2_sftp_open_ex(s->sftp, o->tmp, (unsigned)strlen(o->tmp),
					     LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL | LIBSSH2_FXF_TRUNC,
					     0600, LIBSSH2_SFTP_OPENFILE);
		if (!o->fh) {
			if (libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_EAGAIN)
				return STEP_AGAIN;
			return finish(o, sftp_error(o, "write"));
		}
		o->phase = W_WRITE;
		/* fall through */
	case W_WRITE:
		while (o->in_off < o->in.len) {
			n = libssh2_sftp_write(o->fh, o->in.ptr + o->in_off, o->in.len - o->in_off);
			if (n == LIBSSH2_ERROR_EAGAIN)
				return STEP_AGAIN;
			if (n < 0) {
				o->result = sftp_error(o, "write");
				o->phase = W_CLOSE;
				return STEP_PROGRESS;
			}
			o->in_off += (size_t)n;
			s->pool->stats.bytes_out += (size_t)n;
		}
		o->phase = W_SETSTAT;
		/* fall through */
	case W_SETSTAT:
		fill_attrs(&a, o->req);
		if (!(a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)) {
			a.flags |= LIBSSH2_SFTP_ATTR_PERMISSIONS;
			a.permissions = 0644;
		}
		rc = libssh2_sftp_fsetstat(o->fh, &a);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		if (rc)
			o->result = sftp_error(o, "set the mode and owner of");
		o->phase = W_CLOSE;
		/* fall through */
	case W_CLOSE:
		rc = libssh2_sftp_close_handle(o->fh);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->fh = NULL;
		if (rc && !o->result)
			o->result = sftp_error(o, "write");
		o->phase = o->result ? W_UNLINK : W_RENAME;
		return STEP_PROGRESS;
	case W_RENAME:
		rc = libssh2_sftp_rename_ex(s->sftp, o->tmp, (unsigned)strlen(o->tmp), o->path, (unsigned)strlen(o->path),
					    LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		s->pool->stats.sftp_ops++;
		if (rc == 0)
			return finish(o, json_pack("{s:b}", "ok", 1));
		if (!fx_is(o, LIBSSH2_FX_FAILURE) && !fx_is(o, LIBSSH2_FX_FILE_ALREADY_EXISTS)) {
			o->result = sftp_error(o, "write");
			o->phase = W_UNLINK;
			return STEP_PROGRESS;
		}
		/* the target exists: replace it with a rename(2) on the host */
		{
			cairn_buf c = CAIRN_BUF_INIT;

			cairn_buf_puts(&c, "T=");
			cairn_ssh__quote(&c, o->tmp);
			cairn_buf_puts(&c, "; mv -f -- \"$T\" ");
			cairn_ssh__quote(&c, o->path);
			cairn_buf_puts(&c, " || { r=$?; rm -f -- \"$T\"; exit $r; }");
			o->command = cairn_buf_detach(&c);
		}
		cairn_buf_clear(&o->in);
		o->in_off = 0;
		s->sftp_busy = NULL; /* other file operations go on meanwhile */
		o->phase = W_MV;
		return STEP_PROGRESS;
	case W_MV:
		if (!o->counted) {
			if (s->nchannels >= s->pool->opts.max_channels)
				return STEP_AGAIN;
			s->nchannels++;
			o->counted = true;
		}
		{
			step_rc r = exec_run(o);

			if (r != STEP_DONE)
				return r;
		}
		if (o->result)
			return finish(o, NULL);
		if (o->exit_code != 0)
			return finish(o, cairn_ssh__error(s, "failure", "cannot replace %s: %.*s", o->path,
							  (int)(o->err.len > 500 ? 500 : o->err.len), o->err.ptr ? o->err.ptr : ""));
		return finish(o, json_pack("{s:b}", "ok", 1));
	case W_UNLINK:
		if (s->sftp_busy && s->sftp_busy != o)
			return STEP_AGAIN;
		s->sftp_busy = o;
		rc = libssh2_sftp_unlink_ex(s->sftp, o->tmp, (unsigned)strlen(o->tmp));
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		return finish(o, NULL);
	}
	return finish(o, cairn_ssh__error(s, "failure", "internal error: write phase %d", o->phase));
}

/* mkdir, then its mode set (the server's umask applies to mkdir). */
static step_rc step_mkdir(op *o)
{
	sess *s = o->s;
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc;

	if (o->phase == 0) {
		rc = libssh2_sftp_mkdir_ex(s->sftp, o->path, (unsigned)strlen(o->path), 0700);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		s->pool->stats.sftp_ops++;
		if (rc)
			return finish(o, sftp_error(o, "create directory"));
		o->phase = 1;
	}
	fill_attrs(&a, o->req);
	if (!(a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)) {
		a.flags |= LIBSSH2_SFTP_ATTR_PERMISSIONS;
		a.permissions = 0755;
	}
	rc = libssh2_sftp_stat_ex(s->sftp, o->path, (unsigned)strlen(o->path), LIBSSH2_SFTP_SETSTAT, &a);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	if (rc)
		return finish(o, sftp_error(o, "set the mode of"));
	return finish(o, json_pack("{s:b}", "ok", 1));
}

/* libssh2 1.10 reads the answer to SSH_FXP_SYMLINK at the wrong place:
 * what it reports as the status is the request's id, so only the first
 * request of a session seems to succeed. The link is checked instead:
 * made when it now points at the target. */
static step_rc step_symlink(op *o)
{
	sess *s = o->s;
	const char *target = json_string_value(json_object_get(o->req, "target"));
	char buf[4096];
	int rc;

	if (o->phase == 0) {
		/* OpenSSH's sftp-server takes (target, link name): the order libssh2 sends */
		rc = libssh2_sftp_symlink_ex(s->sftp, target, (unsigned)strlen(target), (char *)o->path,
					     (unsigned)strlen(o->path), LIBSSH2_SFTP_SYMLINK);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		s->pool->stats.sftp_ops++;
		if (rc && libssh2_session_last_errno(s->ssh) != LIBSSH2_ERROR_SFTP_PROTOCOL)
			return finish(o, sftp_error(o, "create symbolic link"));
		o->phase = 1;
	}
	rc = libssh2_sftp_symlink_ex(s->sftp, o->path, (unsigned)strlen(o->path), buf, sizeof(buf) - 1,
				     LIBSSH2_SFTP_READLINK);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	if (rc >= 0 && (size_t)rc == strlen(target) && !memcmp(buf, target, (size_t)rc))
		return finish(o, json_pack("{s:b}", "ok", 1));
	return finish(o, cairn_ssh__error(s, "failure", "cannot create symbolic link %s -> %s (is something in the "
					  "way, or its directory missing?)", o->path, target));
}

static step_rc step_readlink(op *o)
{
	sess *s = o->s;
	char buf[4096];
	int rc = libssh2_sftp_symlink_ex(s->sftp, o->path, (unsigned)strlen(o->path), buf, sizeof(buf) - 1,
					 LIBSSH2_SFTP_READLINK);
	json_t *t;

	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	s->pool->stats.sftp_ops++;
	if (rc < 0) {
		/* the status of a failed READLINK is not to be trusted either (see
		 * step_symlink): missing, or not a link */
		if (libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_SFTP_PROTOCOL)
			return finish(o, json_pack("{s:b}", "exists", 0));
		return finish(o, sftp_error(o, "read symbolic link"));
	}
	t = cairn_json_stringn(buf, (size_t)rc);
	if (!t)
		return finish(o, cairn_ssh__error(s, "failure", "the link %s points to a name that is not UTF-8", o->path));
	return finish(o, json_pack("{s:b,s:o}", "exists", 1, "target", t));
}

static step_rc step_remove(op *o)
{
	sess *s = o->s;
	bool dir = json_is_true(json_object_get(o->req, "dir"));
	int rc = dir ? libssh2_sftp_rmdir_ex(s->sftp, o->path, (unsigned)strlen(o->path))
		     : libssh2_sftp_unlink_ex(s->sftp, o->path, (unsigned)strlen(o->path));

	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	s->pool->stats.sftp_ops++;
	if (rc == 0)
		return finish(o, json_pack("{s:b}", "removed", 1));
	if (fx_is(o, LIBSSH2_FX_NO_SUCH_FILE) || fx_is(o, LIBSSH2_FX_NO_SUCH_PATH))
		return finish(o, json_pack("{s:b}", "removed", 0));
	return finish(o, sftp_error(o, "remove"));
}

static step_rc step_setstat(op *o)
{
	sess *s = o->s;
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc;

	fill_attrs(&a, o->req);
	if (!a.flags)
		return finish(o, json_pack("{s:b}", "ok", 1));
	rc = libssh2_sftp_stat_ex(s->sftp, o->path, (unsigned)strlen(o->path), LIBSSH2_SFTP_SETSTAT, &a);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return STEP_AGAIN;
	s->pool->stats.sftp_ops++;
	if (rc)
		return finish(o, sftp_error(o, "change the mode or owner of"));
	return finish(o, json_pack("{s:b}", "ok", 1));
}

/* -- tunnels ------------------------------------------------------------------------- */

static void on_tunnel_sock(void *ud, int fd, int revents)
{
	op *o = ud;

	(void)fd;
	(void)revents;
	cairn_ssh__drive(o->s);
}

/* Carry bytes both ways between the direct-tcpip channel and our end of
 * the socketpair, with at most TUNNEL_BUF waiting in either direction. */
static step_rc tunnel_pump(op *o)
{
	sess *s = o->s;
	char buf[32768];
	bool moved = false;
	ssize_t n;
	int ev = 0;

	/* channel -> socket */
	while (o->to_sock.len < TUNNEL_BUF && (n = libssh2_channel_read(o->ch, buf, sizeof(buf))) > 0) {
		cairn_buf_put(&o->to_sock, buf, (size_t)n);
		moved = true;
	}
	while (o->to_sock.len) {
		n = send(o->sock, o->to_sock.ptr, o->to_sock.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0)
			break;
		memmove(o->to_sock.ptr, o->to_sock.ptr + n, o->to_sock.len - (size_t)n);
		o->to_sock.len -= (size_t)n;
		moved = true;
	}
	/* socket -> channel */
	while (!o->sock_eof && o->to_chan.len < TUNNEL_BUF) {
		n = recv(o->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			cairn_buf_put(&o->to_chan, buf, (size_t)n);
			moved = true;
		} else {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				o->sock_eof = true;
			break;
		}
	}
	while (o->to_chan.len) {
		n = libssh2_channel_write(o->ch, o->to_chan.ptr, o->to_chan.len);
		if (n == LIBSSH2_ERROR_EAGAIN)
			break;
		if (n < 0) {
			o->chan_eof = true;
			o->to_chan.len = 0;
			break;
		}
		memmove(o->to_chan.ptr, o->to_chan.ptr + n, o->to_chan.len - (size_t)n);
		o->to_chan.len -= (size_t)n;
		moved = true;
	}
	if (libssh2_channel_eof(o->ch))
		o->chan_eof = true;
	if ((o->chan_eof && !o->to_sock.len) || (o->sock_eof && !o->to_chan.len) || !o->inner)
		return STEP_DONE;
	if (!o->sock_eof && o->to_chan.len < TUNNEL_BUF)
		ev |= CAIRN_FD_IN;
	if (o->to_sock.len)
		ev |= CAIRN_FD_OUT;
	cairn_loop_watch_set(s->pool->loop, o->sock_watch, ev);
	return moved ? STEP_PROGRESS : STEP_AGAIN;
}

static step_rc step_tunnel(op *o)
{
	sess *s = o->s;
	int sp[2], rc;

	switch (o->phase) {
	case 0:
		if (!o->inner)
			return finish(o, NULL);
		if (s->opening && s->opening != o)
			return STEP_AGAIN;
		s->opening = o;
		o->ch = libssh2_channel_direct_tcpip_ex(s->ssh, o->inner->address, o->inner->port, "127.0.0.1", 22);
		if (!o->ch) {
			cairn_buf b = CAIRN_BUF_INIT;
			sess *inner = o->inner;

			if (libssh2_session_last_errno(s->ssh) == LIBSSH2_ERROR_EAGAIN)
				return STEP_AGAIN;
			s->opening = NULL;
			cairn_buf_printf(&b, "the bastion could not connect to %s:%d (%s)", inner->address, inner->port,
					 cairn_ssh__lasterr(s));
			o->inner = NULL;
			inner->tunnel = NULL;
			cairn_ssh__tunnel_failed(inner, cairn_buf_cstr(&b));
			cairn_buf_release(&b);
			return finish(o, NULL);
		}
		s->opening = NULL;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0 ||
		    cairn_loop_watch_fd(s->pool->loop, sp[1], CAIRN_FD_IN, on_tunnel_sock, o, &o->sock_watch) < 0) {
			sess *inner = o->inner;

			o->inner = NULL;
			inner->tunnel = NULL;
			cairn_ssh__tunnel_failed(inner, "cannot make a socket pair");
			o->phase = 2;
			return STEP_PROGRESS;
		}
		o->sock = sp[1];
		o->phase = 1;
		cairn_ssh__tunnel_ready(o->inner, sp[0]);
		return STEP_PROGRESS;
	case 1:
		{
			step_rc r = tunnel_pump(o);

			if (r != STEP_DONE)
				return r;
		}
		/* either side ended: tell the other */
		if (o->sock_watch) {
			cairn_loop_unwatch_fd(s->pool->loop, o->sock_watch);
			o->sock_watch = 0;
		}
		close(o->sock);
		o->sock = -1;
		if (o->inner) {
			sess *inner = o->inner;

			o->inner = NULL;
			cairn_ssh__tunnel_closed(inner);
		}
		o->phase = 2;
		/* fall through */
	case 2:
		rc = libssh2_channel_close(o->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->phase = 3;
		/* fall through */
	default:
		rc = libssh2_channel_free(o->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return STEP_AGAIN;
		o->ch = NULL;
		return finish(o, NULL);
	}
}

/* -- the dispatcher --------------------------------------------------------------------- */

step_rc cairn_ssh__op_step(op *o)
{
	sess *s = o->s;

	if (o->kind == OP_HOSTKEY)
		return finish(o, json_pack("{s:s,s:s,s:s,s:s}", "key_type", s->key_type ? s->key_type : "",
					   "key", s->key_b64 ? s->key_b64 : "", "fingerprint",
					   s->fingerprint ? s->fingerprint : "", "source", s->key_source ? s->key_source : ""));
	if (o->kind == OP_EXEC)
		return step_exec(o);
	if (o->kind == OP_TUNNEL)
		return step_tunnel(o);
	if (o->kind == OP_WRITE && o->phase >= W_MV)
		return step_write(o); /* no longer holds the SFTP subsystem */
	switch (sftp_ready(o)) {
	case 0: return STEP_AGAIN;
	case -1: return STEP_DONE;
	default: break;
	}
	switch (o->kind) {
	case OP_STAT: return step_stat(o);
	case OP_READ: return step_read(o);
	case OP_WRITE: return step_write(o);
	case OP_MKDIR: return step_mkdir(o);
	case OP_SYMLINK: return step_symlink(o);
	case OP_READLINK: return step_readlink(o);
	case OP_REMOVE: return step_remove(o);
	case OP_SETSTAT: return step_setstat(o);
	default: return finish(o, cairn_ssh__error(s, "invalid", "internal error: operation %d", (int)o->kind));
	}
}
