/*
 * lock.c - leased locks, one per environment (see lock.h).
 *
 * The lock is a row in the `locks` table. Taking it is a read-check-write
 * inside one BEGIN IMMEDIATE transaction: SQLite's write lock serialises
 * two processes racing for it, so exactly one sees the row free and writes
 * its own. The row names this store handle (a random lock id), so a second
 * handle in the same process is a different holder.
 *
 * A lease is stale, and taken over at once, when it has expired or when its
 * holder ran on this host and its pid no longer exists (kill(pid, 0) fails
 * with ESRCH): a kill -9'd apply frees its environment on the next run
 * instead of after the lease.
 */
#include "lock.h"
#include "store_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

void cairn_lock_info_free(cairn_lock_info *li)
{
	if (!li)
		return;
	free(li->env);
	free(li->lock_id);
	free(li->holder);
	free(li->host);
	free(li->operation);
	free(li);
}

/* Read env's lock row: 1 and *out filled, 0 if none. */
static int read_lock(cairn_store *st, const char *env, cairn_lock_info **out)
{
	cairn_dbstmt *s = NULL;
	cairn_lock_info *li = NULL;
	int rc;

	if ((rc = cairn_store__stmt(st, STMT_LOCK_GET, &s)) < 0)
		return rc;
	cairn_store__bind_text(s, 1, env);
	rc = cairn_db_step(s);
	if (rc == CAIRN_DB_DONE) {
		rc = 0;
		goto cleanup;
	}
	if (rc != CAIRN_DB_ROW) {
		rc = cairn_store__sqlerr(st, rc, "read a lock");
		goto cleanup;
	}
	if (!(li = calloc(1, sizeof(*li)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = 0;
	li->env = cairn_store__col_strdup(s, 0, &rc);
	li->lock_id = cairn_store__col_strdup(s, 1, &rc);
	li->holder = cairn_store__col_strdup(s, 2, &rc);
	li->host = cairn_store__col_strdup(s, 3, &rc);
	li->pid = (long)cairn_db_col_int64(s, 4);
	li->operation = cairn_store__col_strdup(s, 5, &rc);
	li->since = cairn_db_col_int64(s, 6);
	li->expires = cairn_db_col_int64(s, 7);
	if (rc < 0)
		goto cleanup;
	*out = li;
	li = NULL;
	rc = 1;

cleanup:
	cairn_store__done(s);
	cairn_lock_info_free(li);
	return rc;
}

/* Its lease has run out, or its process is gone from this host. */
static int is_stale(const cairn_store *st, const cairn_lock_info *li, int64_t now)
{
	if (li->expires <= now)
		return 1;
	if (li->host && strcmp(li->host, st->host) == 0 && li->pid > 0 &&
	    kill((pid_t)li->pid, 0) != 0 && errno == ESRCH)
		return 1;
	return 0;
}

static int write_lock(cairn_store *st, const char *env, const char *operation, int lease, int64_t now)
{
	cairn_buf holder = CAIRN_BUF_INIT;
	cairn_dbstmt *s = NULL;
	int rc;

	if ((rc = cairn_buf_printf(&holder, "%s@%s", st->user, st->host)) < 0 ||
	    (rc = cairn_store__stmt(st, STMT_LOCK_PUT, &s)) < 0)
		goto cleanup;
	cairn_store__bind_text(s, 1, env);
	cairn_store__bind_text(s, 2, st->lock_id);
	cairn_store__bind_text(s, 3, holder.ptr);
	cairn_store__bind_text(s, 4, st->host);
	cairn_db_bind_int64(s, 5, (int64_t)getpid());
	cairn_store__bind_text(s, 6, operation ? operation : "");
	cairn_db_bind_int64(s, 7, now);
	cairn_db_bind_int64(s, 8, now + lease);
	cairn_db_bind_int64(s, 9, lease);
	rc = cairn_db_step(s);
	rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, "write a lock");

cleanup:
	cairn_store__done(s);
	cairn_buf_release(&holder);
	return rc;
}

/* One attempt: 0 taken, CAIRN_ELOCKED (with *holder) if a live holder has it. */
static int try_acquire(cairn_store *st, const char *env, const char *operation, int lease,
		       cairn_lock_info **holder)
{
	cairn_lock_info *li = NULL;
	int64_t now;
	int rc;

	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	now = cairn_store__now();
	if ((rc = cairn_store__ensure_env(st, env)) < 0 || (rc = read_lock(st, env, &li)) < 0)
		goto cleanup;
	if (rc == 1 && strcmp(li->lock_id, st->lock_id) != 0 && !is_stale(st, li, now)) {
		*holder = li;
		li = NULL;
		rc = CAIRN_ELOCKED;
		goto cleanup;
	}
	rc = write_lock(st, env, operation, lease, now);

cleanup:
	cairn_lock_info_free(li);
	return cairn_store__tx_end(st, rc);
}

static void fmt_utc(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, n, "@%lld", (long long)t);
}

static int locked_error(const char *env, const cairn_lock_info *li)
{
	char since[64];
	int64_t left = li->expires - cairn_store__now();

	fmt_utc(since, sizeof(since), li->since);
	return cairn_error_set(CAIRN_ELOCKED,
		"environment '%s' is locked by %s (pid %ld, %s) since %s, lease expires in %llds; "
		"wait with --lock-timeout or run 'cairn lock force-unlock -e %s'",
		env, li->holder, li->pid, li->operation && *li->operation ? li->operation : "?",
		since, (long long)(left > 0 ? left : 0), env);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_secs(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int cairn_lock_acquire(cairn_store *st, const char *env, const char *operation,
		       int lease_secs, double wait_secs, cairn_lock_info **held_by)
{
	cairn_lock_info *holder = NULL;
	double deadline = mono_now() + (wait_secs > 0 ? wait_secs : 0), pause = 0.05, left;
	int rc;

	if (!env || !*env)
		return cairn_error_set(CAIRN_EINVAL, "cannot lock an environment without a name");
	if (lease_secs <= 0)
		lease_secs = CAIRN_LOCK_DEFAULT_LEASE;
	for (;;) {
		cairn_lock_info_free(holder);
		holder = NULL;
		rc = try_acquire(st, env, operation, lease_secs, &holder);
		/* a busy database is another form of "held": keep polling */
		if (rc != CAIRN_ELOCKED && rc != CAIRN_ETIMEOUT)
			break;
		left = deadline - mono_now();
		if (left <= 0)
			break;
		sleep_secs(pause < left ? pause : left);
		if (pause < 0.5)
			pause *= 1.5;
	}
	if (rc == CAIRN_ELOCKED) {
		locked_error(env, holder);
		if (held_by) {
			*held_by = holder;
			holder = NULL;
		}
	}
	cairn_lock_info_free(holder);
	return rc;
}

static int lock_stmt(cairn_store *st, cairn_stmt_id id, const char *env, int with_id, int with_now,
		     int *changed, const char *what)
{
	cairn_dbstmt *s = NULL;
	int rc;

	if ((rc = cairn_store__tx_begin(st)) < 0)
		return rc;
	if ((rc = cairn_store__stmt(st, id, &s)) == 0) {
		cairn_store__bind_text(s, 1, env);
		if (with_id)
			cairn_store__bind_text(s, 2, st->lock_id);
		if (with_now)
			cairn_db_bind_int64(s, 3, cairn_store__now());
		rc = cairn_db_step(s);
		rc = rc == CAIRN_DB_DONE ? 0 : cairn_store__sqlerr(st, rc, what);
		cairn_store__done(s);
		*changed = cairn_db_changes(st->db);
	}
	return cairn_store__tx_end(st, rc);
}

int cairn_lock_renew(cairn_store *st, const char *env)
{
	cairn_lock_info *li = NULL;
	int changed = 0, rc;

	if ((rc = lock_stmt(st, STMT_LOCK_RENEW, env, 1, 1, &changed, "renew a lock")) < 0)
		return rc;
	if (changed)
		return 0;
	rc = read_lock(st, env, &li);
	if (rc == 1) {
		char since[64];

		fmt_utc(since, sizeof(since), li->since);
		rc = cairn_error_set(CAIRN_ELOCKED,
			"lost the lock of environment '%s': it was taken over by %s (pid %ld, %s) at %s; "
			"stop writing", env, li->holder, li->pid, li->operation, since);
	} else if (rc == 0) {
		rc = cairn_error_set(CAIRN_ELOCKED,
			"lost the lock of environment '%s': it was released by someone else (a force-unlock, or "
			"a run that took it over when its lease ran out); stop writing", env);
	}
	cairn_lock_info_free(li);
	return rc;
}

int cairn_lock_release(cairn_store *st, const char *env)
{
	int changed = 0;

	return lock_stmt(st, STMT_LOCK_RELEASE, env, 1, 0, &changed, "release a lock");
}

int cairn_lock_get(cairn_store *st, const char *env, cairn_lock_info **out)
{
	cairn_lock_info *li = NULL;
	int rc = read_lock(st, env, &li);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return cairn_error_set(CAIRN_ENOTFOUND, "environment '%s' is not locked", env);
	*out = li;
	if (is_stale(st, li, cairn_store__now()))
		return cairn_error_set(CAIRN_ETIMEOUT,
			"the lock of environment '%s' held by %s (pid %ld) is stale", env, li->holder, li->pid);
	return 0;
}

int cairn_lock_force_unlock(cairn_store *st, const char *env)
{
	int changed = 0, rc;

	if ((rc = lock_stmt(st, STMT_LOCK_DELETE, env, 0, 0, &changed, "remove a lock")) < 0)
		return rc;
	if (!changed)
		return cairn_error_set(CAIRN_ENOTFOUND, "environment '%s' is not locked", env);
	return 0;
}

/* The random id of this store handle as a lock holder (borrowed). */
const char *cairn_lock_id(const cairn_store *st)
{
	return st->lock_id;
}
