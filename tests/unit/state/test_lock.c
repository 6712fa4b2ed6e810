/*
 * test_lock.c - leased environment locks: acquire / renew / release, races
 * between processes, takeover of dead and expired holders, waiting,
 * force-unlock. On both backends: CAIRN_TEST_STATE_URL selects PostgreSQL
 * (backend.h, tests/pg/unit.sh).
 *
 * Children are forked before the parent opens any store handle they could
 * inherit (an SQLite connection must not cross a fork), and each opens its
 * own.
 */
#include "t.h"
#include "state/backend.h"
#include "state/lock.h"
#include "state/store.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

static t_state ts;

/* A fresh directory with an initialised store at ts.loc. */
static const char *setup(void)
{
	cairn_store_free(t_state_open(&ts, "lock"));
	return ts.loc;
}

static void teardown(void)
{
	t_state_close(&ts, NULL);
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int read_byte(int fd)
{
	unsigned char c;
	ssize_t n;

	while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? c : -1;
}

static void write_byte(int fd, int c)
{
	unsigned char b = (unsigned char)c;

	if (write(fd, &b, 1) != 1)
		_exit(9);
}

static void test_lock__acquire_renew_release(void)
{
	const char *db = setup();
	cairn_store *st = NULL;
	cairn_lock_info *li = NULL;
	int64_t expires;

	T_OK(cairn_store_open(&st, db, 0));
	T_EQ_INT(cairn_lock_get(st, "dev", &li), CAIRN_ENOTFOUND);
	T_OK(cairn_lock_acquire(st, "dev", "apply", 60, 0, NULL));
	T_OK(cairn_lock_get(st, "dev", &li));
	T_EQ_STR(li->env, "dev");
	T_EQ_STR(li->lock_id, cairn_lock_id(st));
	T_EQ_INT(strlen(li->lock_id), 32);
	T_EQ_STR(li->operation, "apply");
	T_EQ_INT(li->pid, getpid());
	T_CHECK(strchr(li->holder, '@') != NULL);
	T_CHECK(strstr(li->holder, li->host) != NULL);
	T_CHECK(li->expires >= li->since + 60);
	expires = li->expires;
	cairn_lock_info_free(li);
	li = NULL;

	/* taking it again is a renewal, not a conflict */
	T_OK(cairn_lock_acquire(st, "dev", "apply", 60, 0, NULL));
	/* other environments are independent */
	T_OK(cairn_lock_acquire(st, "prod", "plan", 60, 0, NULL));

	msleep(1100);
	T_OK(cairn_lock_renew(st, "dev"));
	T_OK(cairn_lock_get(st, "dev", &li));
	T_CHECK(li->expires > expires);
	cairn_lock_info_free(li);
	li = NULL;

	T_OK(cairn_lock_release(st, "dev"));
	T_EQ_INT(cairn_lock_get(st, "dev", &li), CAIRN_ENOTFOUND);
	T_OK(cairn_lock_release(st, "dev")); /* not held: no error */
	T_EQ_INT(cairn_lock_renew(st, "dev"), CAIRN_ELOCKED);
	T_OK(cairn_lock_get(st, "prod", &li));
	cairn_lock_info_free(li);

	cairn_store_free(st);
	teardown();
}

static void test_lock__held_by_another_handle(void)
{
	const char *db = setup();
	cairn_store *a = NULL, *b = NULL;
	cairn_lock_info *holder = NULL;
	const char *msg;

	T_OK(cairn_store_open(&a, db, 0));
	T_OK(cairn_store_open(&b, db, 0));
	T_CHECK(strcmp(cairn_lock_id(a), cairn_lock_id(b)) != 0);
	T_OK(cairn_lock_acquire(a, "dev", "apply", 60, 0, NULL));
	T_EQ_INT(cairn_lock_acquire(b, "dev", "destroy", 60, 0, &holder), CAIRN_ELOCKED);
	msg = cairn_error_last()->message;
	printf("# %s\n", msg);
	T_CONTAINS(msg, "environment 'dev' is locked by ");
	T_CONTAINS(msg, "(pid ");
	T_CONTAINS(msg, ", apply)");
	T_CONTAINS(msg, " UTC");
	T_CONTAINS(msg, "lease expires in ");
	T_CONTAINS(msg, "cairn lock force-unlock -e dev");
	T_CHECK(holder != NULL);
	T_EQ_STR(holder->lock_id, cairn_lock_id(a));
	T_EQ_STR(holder->operation, "apply");
	cairn_lock_info_free(holder);
	/* the loser cannot renew or release what it does not hold */
	T_EQ_INT(cairn_lock_renew(b, "dev"), CAIRN_ELOCKED);
	T_OK(cairn_lock_release(b, "dev"));
	T_OK(cairn_lock_renew(a, "dev"));

	cairn_store_free(a);
	cairn_store_free(b);
	teardown();
}

/* N processes race for one lock; each holds on until all have tried. */
static void test_lock__race_between_processes(void)
{
	enum { N = 6 };
	const char *db = setup();
	int go[2], res[2], done[2];
	pid_t pids[N];
	int i, won = 0, lost = 0, other = 0, status;

	T_CHECK(pipe(go) == 0 && pipe(res) == 0 && pipe(done) == 0);
	for (i = 0; i < N; i++) {
		pids[i] = fork();
		T_CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			cairn_store *st = NULL;
			int rc;

			close(go[1]);
			close(res[0]);
			close(done[1]);
			if (cairn_store_open(&st, db, 0) != 0)
				_exit(3);
			read_byte(go[0]); /* EOF when the parent says go */
			rc = cairn_lock_acquire(st, "dev", "apply", 60, 0, NULL);
			write_byte(res[1], rc == 0 ? 'W' : rc == CAIRN_ELOCKED ? 'L' : 'E');
			read_byte(done[0]); /* hold until every child has tried */
			if (rc == 0)
				cairn_lock_release(st, "dev");
			cairn_store_free(st);
			_exit(0);
		}
	}
	close(go[0]);
	close(res[1]);
	close(done[0]);
	close(go[1]); /* go */
	for (i = 0; i < N; i++) {
		int c = read_byte(res[0]);

		won += c == 'W';
		lost += c == 'L';
		other += c != 'W' && c != 'L';
	}
	close(done[1]);
	close(res[0]);
	for (i = 0; i < N; i++) {
		waitpid(pids[i], &status, 0);
		T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	T_EQ_INT(won, 1);
	T_EQ_INT(lost, N - 1);
	T_EQ_INT(other, 0);
	teardown();
}

/* A child takes the lock and dies without releasing it. */
static void test_lock__dead_holder_taken_over(void)
{
	const char *db = setup();
	cairn_store *st = NULL;
	cairn_lock_info *li = NULL;
	pid_t pid;
	int status = -1;

	pid = fork();
	T_CHECK(pid >= 0);
	if (pid == 0) {
		cairn_store *c = NULL;

		if (cairn_store_open(&c, db, 0) != 0 ||
		    cairn_lock_acquire(c, "dev", "apply", 3600, 0, NULL) != 0)
			_exit(1);
		_exit(0); /* like kill -9: no release, no close */
	}
	waitpid(pid, &status, 0);
	T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	T_OK(cairn_store_open(&st, db, 0));
	/* the lease is far from expiry, but its pid is gone: stale */
	T_EQ_INT(cairn_lock_get(st, "dev", &li), CAIRN_ETIMEOUT);
	T_CHECK(li != NULL);
	T_EQ_INT(li->pid, pid);
	cairn_lock_info_free(li);
	li = NULL;
	T_OK(cairn_lock_acquire(st, "dev", "apply", 60, 0, NULL));
	T_OK(cairn_lock_get(st, "dev", &li));
	T_EQ_INT(li->pid, getpid());
	T_EQ_STR(li->lock_id, cairn_lock_id(st));
	cairn_lock_info_free(li);

	cairn_store_free(st);
	teardown();
}

static void test_lock__expired_lease_taken_over(void)
{
	const char *db = setup();
	cairn_store *a = NULL, *b = NULL;
	cairn_lock_info *li = NULL;

	double t0;
	int rc;

	T_OK(cairn_store_open(&a, db, 0));
	T_OK(cairn_store_open(&b, db, 0));
	t0 = now_mono();
	T_OK(cairn_lock_acquire(a, "dev", "apply", 1, 0, NULL));
	rc = cairn_lock_acquire(b, "dev", "apply", 60, 0, NULL);
	/* refused while the 1 s lease runs; a loaded machine (a state on
	 * PostgreSQL in CI) may take longer than that to get here, and then
	 * the lease has expired and b rightly takes the lock: that check
	 * cannot be made, and b's lock is given back for the rest */
	if (now_mono() - t0 < 0.9) {
		T_EQ_INT(rc, CAIRN_ELOCKED);
	} else {
		printf("# the lease expired before the second acquire (%.2f s): refusal not checked\n", now_mono() - t0);
		if (rc == 0) {
			T_OK(cairn_lock_release(b, "dev"));
			T_OK(cairn_lock_acquire(a, "dev", "apply", 1, 0, NULL));
		}
	}
	msleep(2100);
	/* expired: still there, reported stale */
	T_EQ_INT(cairn_lock_get(b, "dev", &li), CAIRN_ETIMEOUT);
	T_CHECK(li != NULL);
	T_EQ_STR(li->lock_id, cairn_lock_id(a));
	cairn_lock_info_free(li);
	li = NULL;

	T_OK(cairn_lock_acquire(b, "dev", "destroy", 60, 0, NULL));
	T_OK(cairn_lock_get(b, "dev", &li));
	T_EQ_STR(li->lock_id, cairn_lock_id(b));
	T_EQ_STR(li->operation, "destroy");
	cairn_lock_info_free(li);

	/* the old holder finds out at its next heartbeat */
	T_EQ_INT(cairn_lock_renew(a, "dev"), CAIRN_ELOCKED);
	T_CONTAINS(cairn_error_last()->message, "taken over");
	T_OK(cairn_lock_release(a, "dev")); /* not ours: leaves b's lock */
	T_OK(cairn_lock_renew(b, "dev"));

	cairn_store_free(a);
	cairn_store_free(b);
	teardown();
}

/* A child holds the lock for a while; the parent waits for it. */
static void test_lock__wait_until_released(void)
{
	const char *db = setup();
	cairn_store *st = NULL;
	cairn_lock_info *holder = NULL;
	int ready[2], status = -1;
	double t0, waited;
	pid_t pid;

	T_CHECK(pipe(ready) == 0);
	pid = fork();
	T_CHECK(pid >= 0);
	if (pid == 0) {
		cairn_store *c = NULL;

		close(ready[0]);
		if (cairn_store_open(&c, db, 0) != 0 ||
		    cairn_lock_acquire(c, "dev", "apply", 60, 0, NULL) != 0)
			_exit(1);
		write_byte(ready[1], 'R');
		msleep(1200);
		cairn_lock_release(c, "dev");
		cairn_store_free(c);
		_exit(0);
	}
	close(ready[1]);
	T_EQ_INT(read_byte(ready[0]), 'R');
	close(ready[0]);

	T_OK(cairn_store_open(&st, db, 0));
	/* a short wait runs out */
	t0 = now_mono();
	T_EQ_INT(cairn_lock_acquire(st, "dev", "apply", 60, 0.3, &holder), CAIRN_ELOCKED);
	waited = now_mono() - t0;
	T_CHECK(waited >= 0.25 && waited < 1.0);
	T_CHECK(holder && holder->pid == pid);
	cairn_lock_info_free(holder);

	/* a long one succeeds when the holder lets go */
	t0 = now_mono();
	T_OK(cairn_lock_acquire(st, "dev", "apply", 60, 10, NULL));
	waited = now_mono() - t0;
	printf("# waited %.2fs\n", waited);
	T_CHECK(waited >= 0.3 && waited < 5);
	waitpid(pid, &status, 0);
	T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	cairn_store_free(st);
	teardown();
}

static void test_lock__force_unlock(void)
{
	const char *db = setup();
	cairn_store *a = NULL, *b = NULL;
	cairn_lock_info *li = NULL;

	T_OK(cairn_store_open(&a, db, 0));
	T_OK(cairn_store_open(&b, db, 0));
	T_EQ_INT(cairn_lock_force_unlock(b, "dev"), CAIRN_ENOTFOUND);
	T_OK(cairn_lock_acquire(a, "dev", "apply", 60, 0, NULL));
	T_OK(cairn_lock_force_unlock(b, "dev"));
	T_EQ_INT(cairn_lock_get(b, "dev", &li), CAIRN_ENOTFOUND);
	T_EQ_INT(cairn_lock_renew(a, "dev"), CAIRN_ELOCKED);
	T_CONTAINS(cairn_error_last()->message, "it was released by someone else (a force-unlock");
	T_OK(cairn_lock_acquire(b, "dev", "apply", 60, 0, NULL));
	T_EQ_INT(cairn_lock_force_unlock(b, "staging"), CAIRN_ENOTFOUND);

	cairn_store_free(a);
	cairn_store_free(b);
	teardown();
}

/* An unfinished revision is 'running' while its process holds the lock. */
static void test_lock__history_running_while_locked(void)
{
	const char *db = setup();
	cairn_store *st = NULL;
	json_t *h = NULL;
	int64_t rev = 0;

	T_OK(cairn_store_open(&st, db, 0));
	T_OK(cairn_lock_acquire(st, "dev", "apply", 60, 0, NULL));
	T_OK(cairn_store_rev_begin(st, "dev", "cairn apply", &rev));
	T_OK(cairn_store_history(st, "dev", 0, &h));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(h, 0), "status")), "running");
	json_decref(h);
	T_OK(cairn_lock_release(st, "dev"));
	T_OK(cairn_store_history(st, "dev", 0, &h));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(h, 0), "status")), "interrupted");
	json_decref(h);
	cairn_store_free(st);
	teardown();
}

static const t_case cases[] = {
	T_CASE(test_lock__acquire_renew_release),
	T_CASE(test_lock__held_by_another_handle),
	T_CASE(test_lock__race_between_processes),
	T_CASE(test_lock__dead_holder_taken_over),
	T_CASE(test_lock__expired_lease_taken_over),
	T_CASE(test_lock__wait_until_released),
	T_CASE(test_lock__force_unlock),
	T_CASE(test_lock__history_running_while_locked),
	{ 0 }
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
