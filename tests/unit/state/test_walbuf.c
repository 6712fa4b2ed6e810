/*
 * test_walbuf.c - the buffering WAL VFS: what a commit writes is in the file
 * when COMMIT returns (another connection sees it, a process killed right
 * after the commit keeps it, WAL recovery accepts its checksums), through
 * cache spills, rollbacks, in-place rewrites and WAL restarts.
 */
#include "t.h"
#include "state/walbuf.h"
#include "base/error.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static char dbpath[300];

static const char *setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-walbuf-XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", tmpdir);
	return dbpath;
}

static void teardown(void)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# cannot remove %s\n", tmpdir);
}

/* Open dbpath through the walbuf VFS (or the default one), in WAL mode. */
static sqlite3 *db_open(int walbuf)
{
	const char *vfs = NULL;
	sqlite3 *db = NULL;

	if (walbuf && cairn_walbuf_vfs(&vfs) != 0)
		return NULL;
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static int ok(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static long long num(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	int good = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		good = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
	sqlite3_finalize(s);
	return good;
}

/* Insert n rows of ~300 bytes (many pages) into t in one transaction. */
static int fill(sqlite3 *db, int n)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) "
		 "INSERT INTO t(v) SELECT printf('%%.300c', 'x') || i FROM c", n);
	return ok(db, "BEGIN IMMEDIATE") && ok(db, sql) && ok(db, "COMMIT");
}

static void test_walbuf__commit_visible_to_another_connection(void)
{
	sqlite3 *a, *b = NULL;

	setup();
	T_CHECK((a = db_open(1)) != NULL);
	T_CHECK(ok(a, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
	T_CHECK(fill(a, 2000));
	/* a plain connection reads the file with its own descriptor */
	T_CHECK((b = db_open(0)) != NULL);
	T_EQ_INT(num(b, "SELECT count(*) FROM t"), 2000);
	T_CHECK(fill(a, 1));
	T_EQ_INT(num(b, "SELECT count(*) FROM t"), 2001);
	T_CHECK(integrity_ok(b));
	sqlite3_close(b);
	sqlite3_close(a);
	teardown();
}

/* A transaction larger than the page cache spills frames before COMMIT,
 * reads them back, rewrites some in place; then one rolls back. */
static void test_walbuf__spill_rewrite_and_rollback(void)
{
	sqlite3 *a, *b = NULL;

	setup();
	T_CHECK((a = db_open(1)) != NULL);
	T_CHECK(ok(a, "PRAGMA cache_size = 8; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
	T_CHECK(ok(a, "BEGIN IMMEDIATE"));
	T_CHECK(ok(a, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) "
		      "INSERT INTO t(v) SELECT printf('%.300c', 'x') FROM c"));
	T_CHECK(ok(a, "UPDATE t SET v = v || 'y' WHERE id % 7 = 0"));
	T_CHECK(ok(a, "UPDATE t SET v = v || 'z' WHERE id % 5 = 0"));
	T_CHECK(ok(a, "COMMIT"));
	T_CHECK(ok(a, "BEGIN IMMEDIATE; DELETE FROM t WHERE id > 100; "
		      "UPDATE t SET v = 'gone'; ROLLBACK"));
	T_CHECK(fill(a, 10));
	T_CHECK((b = db_open(0)) != NULL);
	T_EQ_INT(num(b, "SELECT count(*) FROM t"), 3010);
	T_EQ_INT(num(b, "SELECT count(*) FROM t WHERE v LIKE '%yz'"), 3000 / 35);
	T_EQ_INT(num(b, "SELECT count(*) FROM t WHERE v = 'gone'"), 0);
	T_CHECK(integrity_ok(b));
	sqlite3_close(b);
	sqlite3_close(a);
	teardown();
}

/* Checkpoints reset the WAL: later frames overwrite it from the start. */
static void test_walbuf__wal_restart(void)
{
	sqlite3 *a, *b = NULL;
	int i;

	setup();
	T_CHECK((a = db_open(1)) != NULL);
	T_CHECK(ok(a, "PRAGMA wal_autocheckpoint = 20; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"));
	for (i = 0; i < 40; i++)
		T_CHECK(fill(a, 50));
	T_CHECK(ok(a, "PRAGMA wal_checkpoint(TRUNCATE)"));
	T_CHECK(fill(a, 50));
	T_CHECK((b = db_open(0)) != NULL);
	T_EQ_INT(num(b, "SELECT count(*) FROM t"), 41 * 50);
	T_CHECK(integrity_ok(b));
	sqlite3_close(b);
	sqlite3_close(a);
	teardown();
}

/* A process killed right after COMMIT returned keeps the commit: the next
 * opener recovers the WAL, checking every frame's checksum. */
static void test_walbuf__commit_survives_kill(void)
{
	sqlite3 *b = NULL;
	int status = 0;
	pid_t pid;

	setup();
	fflush(stdout);
	pid = fork();
	T_CHECK(pid >= 0);
	if (pid == 0) {
		sqlite3 *a = db_open(1);

		if (!a || !ok(a, "PRAGMA cache_size = 8; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)") ||
		    !fill(a, 3000) ||
		    !ok(a, "BEGIN IMMEDIATE; UPDATE t SET v = 'new' WHERE id % 3 = 0; COMMIT"))
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	T_CHECK(waitpid(pid, &status, 0) == pid);
	T_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	T_CHECK((b = db_open(0)) != NULL);
	T_EQ_INT(num(b, "SELECT count(*) FROM t"), 3000);
	T_EQ_INT(num(b, "SELECT count(*) FROM t WHERE v = 'new'"), 1000);
	T_CHECK(integrity_ok(b));
	sqlite3_close(b);
	teardown();
}

static const t_case cases[] = {
	T_CASE(test_walbuf__commit_visible_to_another_connection),
	T_CASE(test_walbuf__spill_rewrite_and_rollback),
	T_CASE(test_walbuf__wal_restart),
	T_CASE(test_walbuf__commit_survives_kill),
	{ 0 },
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
