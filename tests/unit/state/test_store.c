/*
 * test_store.c - the state store: opening and refusing files, resources,
 * serials, intents, batches, sealed secrets, outputs, history.
 *
 * On both backends: CAIRN_TEST_STATE_URL selects PostgreSQL (backend.h,
 * tests/pg/unit.sh).
 */
#include "t.h"
#include "state/backend.h"
#include "state/store.h"
#include "state/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

#define SECRET "hunter2-correct-horse-battery"

/* ---- helpers ---- */

static char tmpdir[256];

static const char *mktmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-test-store-XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	unsetenv("CAIRN_STATE_KEY");
	return tmpdir;
}

static void rmtree(const char *dir)
{
	cairn_buf cmd = CAIRN_BUF_INIT;

	if (strncmp(dir, "/tmp/cairn-test-", 16) != 0)
		return;
	cairn_buf_printf(&cmd, "rm -rf '%s'", dir);
	if (system(cmd.ptr) != 0)
		fprintf(stderr, "# cannot remove %s\n", dir);
	cairn_buf_release(&cmd);
}

static char *path_in(const char *dir, const char *name)
{
	cairn_buf b = CAIRN_BUF_INIT;

	cairn_buf_printf(&b, "%s/%s", dir, name);
	return cairn_buf_detach(&b);
}

static int file_mode(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
}

static char *slurp(const char *path, size_t *len)
{
	cairn_buf b = CAIRN_BUF_INIT;

	if (cairn_buf_read_file(&b, path) < 0) {
		cairn_buf_release(&b);
		*len = 0;
		return NULL;
	}
	*len = b.len;
	return cairn_buf_detach(&b);
}

static int mem_has(const char *hay, size_t n, const char *needle)
{
	return hay && memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* Does the db file or its WAL contain needle anywhere? */
static int raw_contains(const char *db, const char *needle)
{
	char *wal = NULL, *a, *b;
	size_t na, nb;
	int found;
	cairn_buf wp = CAIRN_BUF_INIT;

	if (cairn_store_is_url(db))
		return t_pg_contains(db, needle);
	cairn_buf_printf(&wp, "%s-wal", db);
	wal = cairn_buf_detach(&wp);
	a = slurp(db, &na);
	b = slurp(wal, &nb);
	found = mem_has(a, na, needle) || mem_has(b, nb, needle);
	free(a);
	free(b);
	free(wal);
	return found;
}

static int dump_contains(const char *db, const char *needle)
{
	cairn_buf cmd = CAIRN_BUF_INIT, out = CAIRN_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *p;
	int found;

	if (cairn_store_is_url(db))
		return t_pg_contains(db, needle);
	cairn_buf_printf(&cmd, "sqlite3 '%s' .dump 2>&1", db);
	p = popen(cmd.ptr, "r");
	if (!p)
		abort();
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		cairn_buf_put(&out, chunk, n);
	pclose(p);
	found = strstr(cairn_buf_cstr(&out), needle) != NULL || !strstr(cairn_buf_cstr(&out), "CREATE TABLE resources");
	cairn_buf_release(&cmd);
	cairn_buf_release(&out);
	return found;
}

static int write_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, data, n) == (ssize_t)n;
	close(fd);
	return ok ? 0 : -1;
}

static int sql(const char *db, const char *stmt)
{
	sqlite3 *h = NULL;
	int rc = sqlite3_open(db, &h);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h, stmt, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

static void res_init(cairn_state_res *r, const char *address, const char *type, const char *id)
{
	memset(r, 0, sizeof(*r));
	r->address = (char *)address;
	r->type = (char *)type;
	r->id = (char *)id;
	r->attrs = json_pack("{s:s, s:i}", "path", "/tmp/x", "size", 3);
	r->deps = json_array();
}

static void res_done(cairn_state_res *r)
{
	json_decref(r->attrs);
	json_decref(r->sensitive);
	json_decref(r->deps);
}

static cairn_store *open_new(const char *dir, char **db_out)
{
	cairn_store *st = NULL;
	char *db = t_state_loc(dir);

	if (cairn_store_open(&st, db, CAIRN_STORE_CREATE) != 0) {
		printf("# open %s: %s\n", db, cairn_error_last()->message);
		free(db);
		return NULL;
	}
	if (db_out)
		*db_out = db;
	else
		free(db);
	return st;
}

/* ---- opening and refusing ---- */

static void test_store__open_create_permissions(void)
{
	T_SKIP_ON_PG("about the SQLite file");
	const char *dir = mktmp();
	char *db = path_in(dir, "a/.cairn/state.db"), *cdir = path_in(dir, "a/.cairn");
	char *wal = path_in(dir, "a/.cairn/state.db-wal"), *shm = path_in(dir, "a/.cairn/state.db-shm");
	char *key = path_in(dir, "a/.cairn/key");
	cairn_store *st = NULL;
	cairn_state_res r;
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;

	res_init(&r, "db", "aws.rds", "db-1");
	r.sensitive = json_pack("[s]", "path");
	T_EQ_INT(cairn_store_open(&st, db, 0), CAIRN_ENOTFOUND);
	T_EQ_INT(cairn_store_open(&st, db, CAIRN_STORE_READONLY), CAIRN_ENOTFOUND);
	T_OK(cairn_store_open(&st, db, CAIRN_STORE_CREATE));
	T_EQ_STR(cairn_store_path(st), db);
	T_EQ_INT(file_mode(cdir), 0700);
	T_EQ_INT(file_mode(db), 0600);
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	T_EQ_INT(file_mode(wal), 0600);
	T_EQ_INT(file_mode(shm), 0600);
	T_EQ_INT(file_mode(key), 0600);
	cairn_store_free(st);
	st = NULL;

	T_CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	T_CHECK(sqlite3_prepare_v2(h, "SELECT * FROM pragma_application_id, pragma_user_version, pragma_journal_mode",
				   -1, &s, NULL) == SQLITE_OK);
	T_CHECK(sqlite3_step(s) == SQLITE_ROW);
	T_EQ_INT(sqlite3_column_int64(s, 0), CAIRN_STORE_APP_ID);
	T_EQ_INT(sqlite3_column_int64(s, 1), CAIRN_STORE_SCHEMA_VERSION);
	T_EQ_STR((const char *)sqlite3_column_text(s, 2), "wal");
	sqlite3_finalize(s);
	sqlite3_close(h);

	/* reopening an existing store, read-only too */
	T_OK(cairn_store_open(&st, db, 0));
	cairn_store_free(st);
	T_OK(cairn_store_open(&st, db, CAIRN_STORE_READONLY));
	T_EQ_INT(cairn_store_put(st, "dev", 0, "create", &r, 0), CAIRN_EINVAL);
	cairn_store_free(st);

	res_done(&r);
	free(db); free(cdir); free(wal); free(shm); free(key);
	rmtree(dir);
}

static void test_store__zero_length_file_initialised(void)
{
	T_SKIP_ON_PG("about the SQLite file");
	const char *dir = mktmp();
	char *db = path_in(dir, "state.db");
	cairn_store *st = NULL;
	int64_t serial = -1;

	T_OK(write_file(db, "", 0));
	T_EQ_INT(cairn_store_open(&st, db, CAIRN_STORE_READONLY), CAIRN_ENOTFOUND);
	T_OK(cairn_store_open(&st, db, 0));
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 0);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

static void check_refused(const char *db, unsigned flags, const char *msg_part)
{
	cairn_store *st = NULL;
	char *before, *after;
	size_t nb, na;
	int rc;

	before = slurp(db, &nb);
	rc = cairn_store_open(&st, db, flags);
	after = slurp(db, &na);
	if (rc != CAIRN_ECORRUPT)
		printf("# open %s returned %d\n", db, rc);
	printf("# %s\n", cairn_error_last()->message);
	T_CHECK(rc == CAIRN_ECORRUPT);
	T_CHECK(st == NULL);
	T_CONTAINS(cairn_error_last()->message, db);
	T_CONTAINS(cairn_error_last()->message, msg_part);
	T_CHECK(before && after && nb == na && memcmp(before, after, nb) == 0);
	free(before);
	free(after);
}

static void test_store__foreign_file_refused(void)
{
	T_SKIP_ON_PG("about the SQLite file");
	const char *dir = mktmp();
	char *db = path_in(dir, "state.db");
	char junk[8192];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)("not a database, just some text\n"[i % 31]);
	T_OK(write_file(db, junk, sizeof(junk)));
	check_refused(db, CAIRN_STORE_CREATE, "not a database");
	check_refused(db, CAIRN_STORE_READONLY, "not a database");
	/* a short file too */
	T_OK(write_file(db, "hello\n", 6));
	check_refused(db, CAIRN_STORE_CREATE, "not a");
	free(db);
	rmtree(dir);
}

static void test_store__foreign_sqlite_refused(void)
{
	T_SKIP_ON_PG("about the SQLite file");
	const char *dir = mktmp();
	char *db = path_in(dir, "other.db"), *db2 = path_in(dir, "noid.db");

	T_CHECK(sql(db, "PRAGMA application_id = 42; PRAGMA journal_mode = WAL;"
			"CREATE TABLE t(x); INSERT INTO t VALUES (1)") == SQLITE_OK);
	check_refused(db, CAIRN_STORE_CREATE, "application_id");
	/* no application_id but someone's tables: not ours either */
	T_CHECK(sql(db2, "CREATE TABLE t(x); INSERT INTO t VALUES (1)") == SQLITE_OK);
	check_refused(db2, CAIRN_STORE_CREATE, "not a cairn state database");
	free(db);
	free(db2);
	rmtree(dir);
}

static void test_store__newer_schema_refused(void)
{
	T_SKIP_ON_PG("about the SQLite file");
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);

	T_CHECK(st);
	cairn_store_free(st);
	T_CHECK(sql(db, "PRAGMA user_version = 99") == SQLITE_OK);
	check_refused(db, 0, "newer");
	check_refused(db, CAIRN_STORE_READONLY, "newer");
	free(db);
	rmtree(dir);
}

static void test_store__corrupt_file_refused(void)
{
	T_SKIP_ON_PG("about the SQLite file");
	const char *dir = mktmp();
	char *db = NULL, *data;
	cairn_store *st = open_new(dir, &db);
	cairn_state_res r;
	size_t n, i;
	char addr[32];

	T_CHECK(st);
	res_init(&r, "x", "local.file", NULL);
	T_OK(cairn_store_begin(st));
	for (i = 0; i < 200; i++) {
		snprintf(addr, sizeof(addr), "file[%zu]", i);
		r.address = addr;
		T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	}
	T_OK(cairn_store_commit(st));
	res_done(&r);
	cairn_store_free(st); /* checkpoints: everything in the main file */
	data = slurp(db, &n);
	T_CHECK(data && n > 4 * 4096);
	/* scribble over the pages after the first two */
	for (i = 2 * 4096; i < n; i++)
		data[i] = (char)(i * 7);
	T_OK(write_file(db, data, n));
	free(data);
	check_refused(db, 0, "state.db");
	check_refused(db, CAIRN_STORE_READONLY, "state.db");
	/* CAIRN_STORE_CHECKED (cairn drift's readers, after its writer checked
	 * the file) skips the quick_check only: a file this damaged is still
	 * refused */
	check_refused(db, CAIRN_STORE_READONLY | CAIRN_STORE_CHECKED, "state.db");
	free(db);
	rmtree(dir);
}

/* ---- resources ---- */

static void test_store__put_get_list(void)
{
	const char *dir = mktmp();
	cairn_store *st = open_new(dir, NULL);
	cairn_state_res r, got, *v = NULL;
	size_t n = 0;
	int64_t rev = 0;

	T_CHECK(st);
	T_OK(cairn_store_rev_begin(st, "dev", "apply", &rev));
	res_init(&r, "web[1]", "local.file", "f-1");
	r.token = "tok-1";
	json_array_append_new(r.deps, json_string("net"));
	T_OK(cairn_store_put(st, "dev", rev, "create", &r, 0));
	r.address = "web[0]";
	r.id = "f-0";
	T_OK(cairn_store_put(st, "dev", rev, "create", &r, 0));
	r.address = "net";
	r.type = "aws.vpc";
	r.id = NULL;
	r.token = NULL;
	T_OK(cairn_store_put(st, "dev", rev, "create", &r, 0));
	T_OK(cairn_store_put(st, "prod", rev, "create", &r, 0));

	T_OK(cairn_store_get(st, "dev", "web[1]", &got));
	T_EQ_STR(got.address, "web[1]");
	T_EQ_STR(got.name, "web");
	T_EQ_STR(got.type, "local.file");
	T_EQ_STR(got.id, "f-1");
	T_EQ_STR(got.token, "tok-1");
	T_CHECK(cairn_value_equal(got.attrs, r.attrs));
	T_EQ_INT(json_array_size(got.deps), 1);
	T_EQ_STR(json_string_value(json_array_get(got.deps, 0)), "net");
	T_EQ_INT(json_array_size(got.sensitive), 0);
	T_EQ_INT(got.rev, rev);
	T_CHECK(got.created_at > 0 && got.updated_at >= got.created_at);
	cairn_state_res_release(&got);

	T_EQ_INT(cairn_store_get(st, "dev", "nope", &got), CAIRN_ENOTFOUND);
	T_EQ_INT(cairn_store_get(st, "staging", "net", &got), CAIRN_ENOTFOUND);

	T_OK(cairn_store_list(st, "dev", &v, &n));
	T_EQ_INT(n, 3);
	T_EQ_STR(v[0].address, "net");
	T_EQ_STR(v[1].address, "web[0]");
	T_EQ_STR(v[2].address, "web[1]");
	T_CHECK(v[0].id == NULL);
	cairn_state_res_free_array(v, n);
	T_OK(cairn_store_list(st, "nowhere", &v, &n));
	T_EQ_INT(n, 0);
	cairn_state_res_free_array(v, n);

	/* listed lazily: the attributes as text until read, then parsed once */
	T_OK(cairn_store_list_lazy(st, "dev", &v, &n));
	T_EQ_INT(n, 3);
	T_CHECK(v[1].attrs == NULL && v[1].attrs_text != NULL);
	T_CHECK(cairn_value_equal(cairn_state_res_attrs(&v[1]), r.attrs));
	T_CHECK(v[1].attrs != NULL && v[1].attrs_text == NULL && !v[1].damaged);
	T_CHECK(cairn_state_res_attrs(&v[1]) == v[1].attrs);
	T_CHECK(v[2].attrs == NULL); /* another row: still text */
	/* a row that does not parse: an empty object, and damaged */
	free(v[2].attrs_text);
	v[2].attrs_text = strdup("{\"size\": ");
	T_EQ_INT(json_object_size(cairn_state_res_attrs(&v[2])), 0);
	T_CHECK(v[2].damaged);
	cairn_state_res_free_array(v, n);

	/* update keeps created_at unless given */
	r.address = "net";
	r.created_at = 1000;
	T_OK(cairn_store_put(st, "dev", rev, "update", &r, 0));
	r.created_at = 0;
	json_object_set_new(r.attrs, "size", json_integer(4));
	T_OK(cairn_store_put(st, "dev", rev, "update", &r, 0));
	T_OK(cairn_store_get(st, "dev", "net", &got));
	T_EQ_INT(got.created_at, 1000);
	T_EQ_INT(json_integer_value(json_object_get(got.attrs, "size")), 4);
	cairn_state_res_release(&got);

	/* a revision that does not exist is refused */
	T_EQ_INT(cairn_store_put(st, "dev", 9999, "update", &r, 0), CAIRN_EINVAL);

	res_done(&r);
	cairn_store_free(st);
	rmtree(dir);
}

/* Dependency lists read back as written, whether the store's reader
 * takes them without the JSON parser (plain strings) or not (escapes,
 * control characters, non-ASCII, spaces written by another program); a
 * list that is not JSON is a damaged row. */
static void test_store__deps_lists(void)
{
	static const char *lists[] = {
		"[]", "[\"net\"]", "[\"a\",\"b[0]\",\"c\"]", "[\"q\\\"uote\",\"x\"]", "[\"tab\\t\"]",
		"[\"\u00e9t\u00e9\"]", "[\"\"]",
	};
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);
	cairn_state_res r, got;
	char addr[16];
	size_t i;

	T_CHECK(st);
	res_init(&r, "x", "local.file", NULL);
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		json_t *want = json_loads(lists[i], 0, NULL);

		T_CHECK(want);
		snprintf(addr, sizeof(addr), "r%zu", i);
		r.address = addr;
		json_decref(r.deps);
		r.deps = json_incref(want);
		T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
		T_OK(cairn_store_get(st, "dev", addr, &got));
		T_CHECK(json_equal(got.deps, want));
		cairn_state_res_release(&got);
		json_decref(want);
	}
	if (!t_pg_base()) {
		cairn_store_free(st);
		T_EQ_INT(sql(db, "UPDATE resources SET deps = '[ \"a\" , \"b\" ]' WHERE address = 'r1';"
			     "UPDATE resources SET deps = '[\"a\",]' WHERE address = 'r2'"), SQLITE_OK);
		T_OK(cairn_store_open(&st, db, 0));
		T_OK(cairn_store_get(st, "dev", "r1", &got));
		T_EQ_INT(json_array_size(got.deps), 2);
		T_EQ_STR(json_string_value(json_array_get(got.deps, 1)), "b");
		cairn_state_res_release(&got);
		T_EQ_INT(cairn_store_get(st, "dev", "r2", &got), CAIRN_ECORRUPT);
		T_CONTAINS(cairn_error_last()->message, "dependencies of 'r2' is not valid JSON");
	}
	res_done(&r);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

static void test_store__remove_and_move(void)
{
	const char *dir = mktmp();
	cairn_store *st = open_new(dir, NULL);
	cairn_state_res r, got;

	T_CHECK(st);
	res_init(&r, "web[0]", "local.file", "f-0");
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	r.address = "db";
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));

	T_OK(cairn_store_move(st, "dev", 0, "web[0]", "app[\"a\"]"));
	T_EQ_INT(cairn_store_get(st, "dev", "web[0]", &got), CAIRN_ENOTFOUND);
	T_OK(cairn_store_get(st, "dev", "app[\"a\"]", &got));
	T_EQ_STR(got.name, "app");
	T_EQ_STR(got.id, "f-0");
	cairn_state_res_release(&got);
	T_EQ_INT(cairn_store_move(st, "dev", 0, "db", "app[\"a\"]"), CAIRN_EINVAL);
	T_EQ_INT(cairn_store_move(st, "dev", 0, "gone", "other"), CAIRN_ENOTFOUND);

	T_OK(cairn_store_remove(st, "dev", 0, "delete", "db", 0));
	T_EQ_INT(cairn_store_get(st, "dev", "db", &got), CAIRN_ENOTFOUND);
	T_EQ_INT(cairn_store_remove(st, "dev", 0, "delete", "db", 0), CAIRN_ENOTFOUND);

	res_done(&r);
	cairn_store_free(st);
	rmtree(dir);
}

static void test_store__serial_and_envs(void)
{
	const char *dir = mktmp();
	cairn_store *st = open_new(dir, NULL);
	cairn_state_res r;
	int64_t serial = -1, id = 0;
	json_t *outs = json_pack("{s:i}", "n", 1);
	char **envs = NULL;
	size_t n = 0;

	T_CHECK(st);
	res_init(&r, "a", "local.file", NULL);
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 0);
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 1);
	T_OK(cairn_store_put(st, "dev", 0, "update", &r, 0));
	T_OK(cairn_store_move(st, "dev", 0, "a", "b"));
	T_OK(cairn_store_remove(st, "dev", 0, "rm", "b", 0));
	T_OK(cairn_store_outputs_set(st, "dev", 0, outs, NULL));
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 5);
	/* failed calls and intents leave it alone */
	T_EQ_INT(cairn_store_remove(st, "dev", 0, "rm", "b", 0), CAIRN_ENOTFOUND);
	T_OK(cairn_store_intent_add(st, "dev", 0, "c", "local.file", "create", "t", NULL, &id));
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 5);
	T_OK(cairn_store_serial(st, "prod", &serial));
	T_EQ_INT(serial, 0);

	T_OK(cairn_store_put(st, "prod", 0, "create", &r, 0));
	T_OK(cairn_store_put(st, "dr", 0, "create", &r, 0));
	T_OK(cairn_store_envs(st, &envs, &n));
	T_EQ_INT(n, 3);
	T_EQ_STR(envs[0], "dev");
	T_EQ_STR(envs[1], "dr");
	T_EQ_STR(envs[2], "prod");
	cairn_strv_free(envs, n);

	json_decref(outs);
	res_done(&r);
	cairn_store_free(st);
	rmtree(dir);
}

/* ---- intents ---- */

static void test_store__intents(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);
	cairn_intent *v = NULL;
	cairn_state_res r;
	json_t *payload = json_pack("{s:s, s:{s:s}}", "id", "i-1", "props", "password", SECRET);
	int64_t a = 0, b = 0, c = 0;
	size_t n = 0;

	T_CHECK(st);
	T_OK(cairn_store_intent_add(st, "dev", 0, "web", "local.file", "create", "tok-a", payload, &a));
	T_OK(cairn_store_intent_add(st, "dev", 0, "db", "aws.rds", "delete", "tok-b", NULL, &b));
	T_OK(cairn_store_intent_add(st, "prod", 0, "web", "local.file", "create", "tok-c", NULL, &c));
	T_CHECK(a > 0 && b > a && c > b);

	T_OK(cairn_store_intents(st, "dev", &v, &n));
	T_EQ_INT(n, 2);
	T_EQ_INT(v[0].id, a);
	T_EQ_STR(v[0].address, "web");
	T_EQ_STR(v[0].type, "local.file");
	T_EQ_STR(v[0].op, "create");
	T_EQ_STR(v[0].token, "tok-a");
	T_CHECK(cairn_value_equal(v[0].payload, payload));
	T_CHECK(v[0].started_at > 0);
	T_EQ_STR(v[1].op, "delete");
	T_CHECK(json_is_null(v[1].payload));
	cairn_intent_free_array(v, n);
	/* the payload may hold secrets: sealed at rest */
	T_CHECK(!raw_contains(db, SECRET));

	/* a put clears its intent in the same transaction */
	res_init(&r, "web", "local.file", "f-1");
	r.token = "tok-a";
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, a));
	T_OK(cairn_store_intents(st, "dev", &v, &n));
	T_EQ_INT(n, 1);
	T_EQ_INT(v[0].id, b);
	cairn_intent_free_array(v, n);

	/* ... and a failed put leaves it */
	T_OK(cairn_store_intent_add(st, "dev", 0, "web", "local.file", "create", "tok-d", NULL, &a));
	T_EQ_INT(cairn_store_put(st, "dev", 4242, "create", &r, a), CAIRN_EINVAL);
	T_OK(cairn_store_intents(st, "dev", &v, &n));
	T_EQ_INT(n, 2);
	cairn_intent_free_array(v, n);

	/* remove clears too; intent_clear clears without a change */
	T_OK(cairn_store_remove(st, "dev", 0, "delete", "web", a));
	T_OK(cairn_store_intent_clear(st, b));
	T_OK(cairn_store_intents(st, "dev", &v, &n));
	T_EQ_INT(n, 0);
	cairn_intent_free_array(v, n);
	T_OK(cairn_store_intents(st, "prod", &v, &n));
	T_EQ_INT(n, 1);
	cairn_intent_free_array(v, n);

	res_done(&r);
	json_decref(payload);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

/* ---- batches ---- */

/* Inside a batch, a call whose write fails part-way (a change row for a
 * revision that does not exist: on PostgreSQL that failure comes back from
 * a pipeline, after the statements were sent) undoes only itself; the
 * calls before and after it commit, and intents recorded in the batch get
 * their own ids (RETURNING id on PostgreSQL). */
static void test_store__batch_failed_write(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);
	cairn_state_res r, *v = NULL;
	cairn_intent *it = NULL;
	int64_t serial = 0, i1 = 0, i2 = 0;
	size_t n = 0;

	T_CHECK(st);
	res_init(&r, "a", "local.file", NULL);
	T_OK(cairn_store_begin(st));
	T_OK(cairn_store_intent_add(st, "dev", 0, "a", "local.file", "create", "tok-a", NULL, &i1));
	T_OK(cairn_store_intent_add(st, "dev", 0, "b", "local.file", "create", "tok-b", NULL, &i2));
	T_CHECK(i1 > 0 && i2 > 0 && i1 != i2);
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, i1));
	r.address = "b";
	T_EQ_INT(cairn_store_put(st, "dev", 999, "create", &r, i2), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "cannot record a change");
	r.address = "c";
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	/* read inside the batch: its own two bumps (PostgreSQL adds them at
	 * the commit, and counts them in meanwhile) */
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 2);
	T_OK(cairn_store_commit(st));

	T_OK(cairn_store_list(st, "dev", &v, &n));
	T_EQ_INT(n, 2);
	T_EQ_STR(v[0].address, "a");
	T_EQ_STR(v[1].address, "c");
	cairn_state_res_free_array(v, n);
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 2);
	/* b's intent stays: its put was undone, intent removal included */
	T_OK(cairn_store_intents(st, "dev", &it, &n));
	T_EQ_INT(n, 1);
	T_EQ_INT(it[0].id, i2);
	T_EQ_STR(it[0].address, "b");
	cairn_intent_free_array(it, n);

	res_done(&r);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

static void test_store__batch_commit_rollback(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db), *other = NULL;
	cairn_state_res r, *v = NULL;
	uint64_t ncommits = 0, before = 0;
	double secs = -1;
	int64_t serial = 0;
	size_t n = 0;

	T_CHECK(st);
	res_init(&r, "a", "local.file", NULL);
	cairn_store_commit_stats(st, &before, NULL);

	T_OK(cairn_store_begin(st));
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	r.address = "b";
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	cairn_store_rollback(st);
	T_OK(cairn_store_list(st, "dev", &v, &n));
	T_EQ_INT(n, 0);
	cairn_state_res_free_array(v, n);
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 0);

	T_OK(cairn_store_begin(st));
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	/* a failing call inside a batch undoes only itself */
	T_EQ_INT(cairn_store_remove(st, "dev", 0, "delete", "zzz", 0), CAIRN_ENOTFOUND);
	r.address = "c";
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	/* another handle does not see the batch before it commits */
	T_OK(cairn_store_open(&other, db, CAIRN_STORE_READONLY));
	T_OK(cairn_store_list(other, "dev", &v, &n));
	T_EQ_INT(n, 0);
	cairn_state_res_free_array(v, n);
	T_OK(cairn_store_commit(st));
	T_OK(cairn_store_list(other, "dev", &v, &n));
	T_EQ_INT(n, 2);
	cairn_state_res_free_array(v, n);
	cairn_store_free(other);

	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, 2);
	cairn_store_commit_stats(st, &ncommits, &secs);
	T_EQ_INT(ncommits, before + 1);
	T_CHECK(secs >= 0);

	/* outside a batch every call commits by itself */
	r.address = "d";
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	cairn_store_commit_stats(st, &ncommits, NULL);
	T_EQ_INT(ncommits, before + 2);

	res_done(&r);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

/* ---- secrets ---- */

static void test_store__sealed_secrets(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);
	cairn_state_res r, got, *v = NULL;
	const cairn_error *e;
	size_t n = 0;

	T_CHECK(st);
	res_init(&r, "db", "aws.rds", "db-1");
	json_object_set_new(r.attrs, "password", json_string(SECRET));
	json_object_set_new(r.attrs, "conn", json_pack("{s:s}", "pw", SECRET "-nested"));
	r.sensitive = json_pack("[s, s, s]", "password", "conn", "absent");
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));

	T_OK(cairn_store_get(st, "dev", "db", &got));
	T_EQ_STR(json_string_value(json_object_get(got.attrs, "password")), SECRET);
	T_CHECK(cairn_value_equal(got.attrs, r.attrs));
	T_EQ_INT(json_array_size(got.sensitive), 3);
	cairn_state_res_release(&got);
	T_OK(cairn_store_list(st, "dev", &v, &n));
	T_EQ_INT(n, 1);
	T_EQ_STR(json_string_value(json_object_get(v[0].attrs, "password")), SECRET);
	cairn_state_res_free_array(v, n);
	cairn_store_free(st);
	st = NULL;

	T_CHECK(!raw_contains(db, SECRET));
	T_CHECK(!raw_contains(db, "hunter2"));
	T_CHECK(!dump_contains(db, "hunter2"));

	/* a wrong key is refused, and the message does not leak the value */
	setenv("CAIRN_STATE_KEY", "not the right key", 1);
	T_OK(cairn_store_open(&st, db, 0));
	T_EQ_INT(cairn_store_get(st, "dev", "db", &got), CAIRN_ECORRUPT);
	e = cairn_error_last();
	T_CONTAINS(e->message, "wrong CAIRN_STATE_KEY");
	T_CONTAINS(e->message, "'db'");
	T_CHECK(!strstr(e->message, "hunter2"));
	T_EQ_INT(cairn_store_list(st, "dev", &v, &n), CAIRN_ECORRUPT);
	cairn_store_free(st);
	st = NULL;
	unsetenv("CAIRN_STATE_KEY");

	res_done(&r);
	free(db);
	rmtree(dir);
}

static void test_store__state_key_from_env(void)
{
	const char *dir = mktmp();
	char *db = NULL, *key = path_in(dir, ".cairn/key");
	cairn_store *st = NULL;
	cairn_state_res r, got;
	cairn_secret_key k1, k2;
	json_t *sealed = NULL, *back = NULL, *val = json_string(SECRET);

	setenv("CAIRN_STATE_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
	st = open_new(dir, &db);
	T_CHECK(st);
	res_init(&r, "db", "aws.rds", "db-1");
	r.sensitive = json_pack("[s]", "path");
	T_OK(cairn_store_put(st, "dev", 0, "create", &r, 0));
	cairn_store_free(st);
	T_CHECK(access(key, F_OK) != 0); /* the environment's key: no key file */

	T_OK(cairn_store_open(&st, db, CAIRN_STORE_READONLY));
	T_OK(cairn_store_get(st, "dev", "db", &got));
	T_EQ_STR(json_string_value(json_object_get(got.attrs, "path")), "/tmp/x");
	cairn_state_res_release(&got);
	cairn_store_free(st);

	/* hex is the raw key; other text is hashed */
	T_OK(cairn_secret_key_load(&k1, NULL, 0));
	T_EQ_INT(k1.k[0], 0x00);
	T_EQ_INT(k1.k[31], 0xff);
	setenv("CAIRN_STATE_KEY", "passphrase", 1);
	T_OK(cairn_secret_key_load(&k2, NULL, 0));
	T_CHECK(memcmp(k1.k, k2.k, 32) != 0);
	T_OK(cairn_secret_seal(&sealed, &k2, val));
	T_CHECK(cairn_secret_is_sealed(json_string_value(sealed)));
	T_CHECK(!strstr(json_string_value(sealed), SECRET));
	T_OK(cairn_secret_unseal(&back, &k2, json_string_value(sealed)));
	T_CHECK(json_equal(back, val));
	T_EQ_INT(cairn_secret_unseal(&back, &k1, json_string_value(sealed)), CAIRN_ECORRUPT);
	unsetenv("CAIRN_STATE_KEY");

	json_decref(sealed);
	json_decref(back);
	json_decref(val);
	res_done(&r);
	free(db);
	free(key);
	rmtree(dir);
}

/* ---- outputs ---- */

static void test_store__outputs(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);
	json_t *vals = json_pack("{s:s, s:i, s:s, s:[i,i]}", "url", "http://x", "port", 5432,
				 "db_password", SECRET, "list", 1, 2);
	json_t *sens = json_pack("[s]", "db_password");
	json_t *got = NULL, *gsens = NULL;

	T_CHECK(st);
	T_OK(cairn_store_outputs_get(st, "dev", &got, &gsens));
	T_EQ_INT(json_object_size(got), 0);
	T_EQ_INT(json_array_size(gsens), 0);
	json_decref(got);
	json_decref(gsens);

	T_OK(cairn_store_outputs_set(st, "dev", 0, vals, sens));
	T_OK(cairn_store_outputs_get(st, "dev", &got, &gsens));
	T_CHECK(json_equal(got, vals));
	T_CHECK(json_equal(gsens, sens));
	json_decref(got);
	json_decref(gsens);
	T_CHECK(!raw_contains(db, SECRET));

	/* set replaces them all */
	json_object_del(vals, "url");
	T_OK(cairn_store_outputs_set(st, "dev", 0, vals, NULL));
	T_OK(cairn_store_outputs_get(st, "dev", &got, &gsens));
	T_EQ_INT(json_object_size(got), 3);
	T_CHECK(!json_object_get(got, "url"));
	T_EQ_INT(json_array_size(gsens), 0);
	json_decref(got);
	json_decref(gsens);

	json_decref(vals);
	json_decref(sens);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

/* ---- history ---- */

static void test_store__history(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *st = open_new(dir, &db);
	cairn_state_res r;
	int64_t r1 = 0, r2 = 0, r3 = 0;
	json_t *h = NULL, *e, *c, *summary = json_pack("{s:i}", "created", 2);
	const char *user = getenv("USER");

	T_CHECK(st);
	res_init(&r, "web", "local.file", "f-1");
	T_OK(cairn_store_rev_begin(st, "dev", "cairn apply -e dev", &r1));
	T_OK(cairn_store_put(st, "dev", r1, "create", &r, 0));
	r.address = "db";
	r.id = "db-1";
	T_OK(cairn_store_put(st, "dev", r1, "create", &r, 0));
	T_OK(cairn_store_rev_finish(st, r1, "ok", summary));

	T_OK(cairn_store_rev_begin(st, "dev", "cairn state mv", &r2));
	T_OK(cairn_store_move(st, "dev", r2, "web", "app"));
	T_OK(cairn_store_remove(st, "dev", r2, "delete", "db", 0));
	T_OK(cairn_store_rev_finish(st, r2, "failed", NULL));

	T_OK(cairn_store_rev_begin(st, "dev", "cairn destroy", &r3)); /* never finished */
	T_EQ_INT(cairn_store_rev_finish(st, 999, "ok", NULL), CAIRN_ENOTFOUND);
	cairn_store_free(st);
	st = NULL;

	T_OK(cairn_store_open(&st, db, CAIRN_STORE_READONLY));
	T_OK(cairn_store_history(st, "dev", 0, &h));
	T_EQ_INT(json_array_size(h), 3);
	e = json_array_get(h, 0);
	T_EQ_INT(json_integer_value(json_object_get(e, "rev")), r3);
	T_EQ_STR(json_string_value(json_object_get(e, "status")), "interrupted");
	T_CHECK(json_is_null(json_object_get(e, "finished_at")));
	T_EQ_STR(json_string_value(json_object_get(e, "command")), "cairn destroy");
	T_EQ_INT(json_array_size(json_object_get(e, "changes")), 0);

	e = json_array_get(h, 1);
	T_EQ_STR(json_string_value(json_object_get(e, "status")), "failed");
	c = json_object_get(e, "changes");
	T_EQ_INT(json_array_size(c), 2);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "action")), "mv");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "address")), "app");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "from")), "web");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 1), "action")), "delete");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 1), "id")), "db-1");
	T_EQ_INT(json_integer_value(json_object_get(e, "serial")), 4);

	e = json_array_get(h, 2);
	T_EQ_INT(json_integer_value(json_object_get(e, "rev")), r1);
	T_EQ_STR(json_string_value(json_object_get(e, "status")), "ok");
	T_EQ_INT(json_integer_value(json_object_get(e, "pid")), getpid());
	if (user && *user)
		T_EQ_STR(json_string_value(json_object_get(e, "who")), user);
	T_CHECK(json_string_length(json_object_get(e, "host")) > 0);
	T_CHECK(json_equal(json_object_get(e, "summary"), summary));
	T_CHECK(json_integer_value(json_object_get(e, "finished_at")) >= json_integer_value(json_object_get(e, "started_at")));
	T_EQ_INT(json_integer_value(json_object_get(e, "serial")), 2);
	c = json_object_get(e, "changes");
	T_EQ_INT(json_array_size(c), 2);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "address")), "web");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "type")), "local.file");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "action")), "create");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(c, 0), "id")), "f-1");
	json_decref(h);

	T_OK(cairn_store_history(st, "dev", 1, &h));
	T_EQ_INT(json_array_size(h), 1);
	json_decref(h);
	T_OK(cairn_store_history(st, "prod", 0, &h));
	T_EQ_INT(json_array_size(h), 0);
	json_decref(h);

	json_decref(summary);
	res_done(&r);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

/* Processes creating the same new store at once, then writing to it at
 * once: nobody fails, nobody deadlocks, nothing is lost. */
static void test_store__concurrent_create_and_writes(void)
{
	enum { N = 5, PUTS = 40 };
	const char *dir = mktmp();
	char *db = t_state_loc(dir);
	cairn_store *st = NULL;
	cairn_state_res *v = NULL;
	int go[2], i, status, ok = 0;
	int64_t serial = 0;
	pid_t pids[N];
	size_t n = 0;

	T_CHECK(pipe(go) == 0);
	for (i = 0; i < N; i++) {
		pids[i] = fork();
		T_CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			cairn_state_res r;
			char addr[32], c;
			int j;

			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(2);
			if (cairn_store_open(&st, db, CAIRN_STORE_CREATE) != 0) {
				fprintf(stderr, "# child: %s\n", cairn_error_last()->message);
				_exit(1);
			}
			res_init(&r, "x", "local.file", NULL);
			for (j = 0; j < PUTS; j++) {
				snprintf(addr, sizeof(addr), "f%d[%d]", i, j);
				r.address = addr;
				if (cairn_store_put(st, "dev", 0, "create", &r, 0) != 0) {
					fprintf(stderr, "# child: %s\n", cairn_error_last()->message);
					_exit(1);
				}
			}
			res_done(&r);
			cairn_store_free(st);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < N; i++) {
		waitpid(pids[i], &status, 0);
		ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	T_EQ_INT(ok, N);
	T_OK(cairn_store_open(&st, db, CAIRN_STORE_READONLY));
	T_OK(cairn_store_list(st, "dev", &v, &n));
	T_EQ_INT(n, N * PUTS);
	cairn_state_res_free_array(v, n);
	T_OK(cairn_store_serial(st, "dev", &serial));
	T_EQ_INT(serial, N * PUTS);
	cairn_store_free(st);
	free(db);
	rmtree(dir);
}

/* A writer's transaction excludes every other writer (SQLite's write lock;
 * PostgreSQL's advisory lock on the schema), even when their rows do not
 * collide: the lock's read-check-write (lock.c) relies on it. The second
 * writer waits the busy timeout, then fails with CAIRN_ETIMEOUT. */
static void test_store__writers_serialised(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *a = open_new(dir, &db), *b = NULL;
	cairn_state_res r, *v = NULL;
	size_t n = 0;

	T_CHECK(a);
	T_OK(cairn_store_open(&b, db, 0));
	res_init(&r, "x", "local.file", NULL);
	T_OK(cairn_store_begin(a));
	T_OK(cairn_store_put(a, "dev", 0, "create", &r, 0));
	r.address = "y";
	T_EQ_INT(cairn_store_put(b, "prod", 0, "create", &r, 0), CAIRN_ETIMEOUT);
	T_CONTAINS(cairn_error_last()->message, "busy");
	T_OK(cairn_store_commit(a));
	T_OK(cairn_store_put(b, "prod", 0, "create", &r, 0));
	T_OK(cairn_store_list(a, "prod", &v, &n));
	T_EQ_INT(n, 1);
	cairn_state_res_free_array(v, n);

	res_done(&r);
	cairn_store_free(a);
	cairn_store_free(b);
	free(db);
	rmtree(dir);
}

/* A writer that commits batch after batch, back to back, does not starve
 * another: the other gets the lock within the busy timeout, each time it
 * asks. (SQLite's own busy handler tries every 100 ms, and a writer that
 * takes the lock again microseconds after its commit won nearly every
 * time: ten parallel `env create`s failed that way under load.) The hog
 * holds its first batch 1 s, so that the waiter is waiting when the
 * churn begins, then holds a batch 50 ms, 1 ms apart, until it
 * is stopped (at most 25 s): it must still be running when the waiter
 * is done. */
static void test_store__busy_writer_not_starved(void)
{
	const char *dir = mktmp();
	char *db = NULL;
	cairn_store *a = open_new(dir, &db), *b = NULL;
	cairn_state_res r;
	int go[2], status, j;
	pid_t pid;
	char c = 0, addr[32];

	T_CHECK(a);
	cairn_store_free(a);
	T_CHECK(pipe(go) == 0);
	pid = fork();
	T_CHECK(pid >= 0);
	if (pid == 0) {
		struct timespec first = { 1, 0 }, hold = { 0, 50 * 1000 * 1000 }, gap = { 0, 1000 * 1000 };
		int k;

		close(go[0]);
		if (cairn_store_open(&a, db, 0) != 0)
			_exit(1);
		res_init(&r, "x", "local.file", NULL);
		for (k = 0; k < 500; k++) {
			if (cairn_store_begin(a) != 0)
				_exit(1);
			snprintf(addr, sizeof(addr), "hog[%d]", k);
			r.address = addr;
			if (cairn_store_put(a, "dev", 0, "create", &r, 0) != 0)
				_exit(1);
			if (k == 0 && write(go[1], "g", 1) != 1)
				_exit(1);
			nanosleep(k == 0 ? &first : &hold, NULL);
			if (cairn_store_commit(a) != 0)
				_exit(1);
			nanosleep(&gap, NULL);
		}
		_exit(3); /* never stopped */
	}
	close(go[1]);
	T_CHECK(read(go[0], &c, 1) == 1);
	close(go[0]);
	T_OK(cairn_store_open(&b, db, 0));
	res_init(&r, "y", "local.file", NULL);
	for (j = 0; j < 10; j++) {
		snprintf(addr, sizeof(addr), "waiter[%d]", j);
		r.address = addr;
		T_OK(cairn_store_put(b, "prod", 0, "create", &r, 0));
	}
	res_done(&r);
	cairn_store_free(b);
	T_CHECK(waitpid(pid, &status, WNOHANG) == 0); /* the hog still churning */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	T_CHECK(WIFSIGNALED(status));
	free(db);
	rmtree(dir);
}

/* cairn state migrate's copy: everything reads back the same, or nothing
 * is committed. Between the test's backend and a file; with two key files
 * (SQLite only) the copy cannot be unsealed and is rolled back. */
static void test_store__copy(void)
{
	const char *dir = mktmp();
	char *db = NULL, *file = NULL, *file2 = NULL;
	cairn_store *st = open_new(dir, &db), *dst = NULL;
	cairn_store_copy_stats stats;
	cairn_state_res r, got;
	json_t *h1 = NULL, *h2 = NULL, *outs = json_pack("{s:s}", "pw", SECRET);
	json_t *sens = json_pack("[s]", "pw");
	char **envs = NULL;
	size_t n = 0;
	int64_t rev = 0, id = 0;

	T_CHECK(st);
	res_init(&r, "db", "aws.rds", "db-1");
	json_object_set_new(r.attrs, "password", json_string(SECRET));
	r.sensitive = json_pack("[s]", "password");
	T_OK(cairn_store_rev_begin(st, "dev", "apply", &rev));
	T_OK(cairn_store_put(st, "dev", rev, "create", &r, 0));
	T_OK(cairn_store_outputs_set(st, "dev", rev, outs, sens));
	T_OK(cairn_store_rev_finish(st, rev, "ok", NULL));
	T_OK(cairn_store_intent_add(st, "prod", 0, "web", "local.file", "create", "t", outs, &id));

	if (!t_pg_base()) {
		/* two files, two key files: the copy does not unseal, nothing kept */
		file = path_in(dir, "other/state.db");
		T_OK(cairn_store_open(&dst, file, CAIRN_STORE_CREATE));
		T_EQ_INT(cairn_store_copy(dst, st, &stats), CAIRN_ECORRUPT);
		T_CONTAINS(cairn_error_last()->message, "does not read back");
		T_OK(cairn_store_envs(dst, &envs, &n));
		T_EQ_INT(n, 0);
		cairn_strv_free(envs, n);
		cairn_store_free(dst);
		dst = NULL;
		/* the same key on both sides */
		cairn_store_free(st);
		rmtree(dir);
		dir = mktmp();
		setenv("CAIRN_STATE_KEY", T_PG_KEY, 1);
		free(db);
		st = open_new(dir, &db);
		T_CHECK(st);
		T_OK(cairn_store_rev_begin(st, "dev", "apply", &rev));
		T_OK(cairn_store_put(st, "dev", rev, "create", &r, 0));
		T_OK(cairn_store_outputs_set(st, "dev", rev, outs, sens));
		T_OK(cairn_store_rev_finish(st, rev, "ok", NULL));
		T_OK(cairn_store_intent_add(st, "prod", 0, "web", "local.file", "create", "t", outs, &id));
	}
	free(file);
	file = path_in(dir, "copy/state.db");
	T_OK(cairn_store_open(&dst, file, CAIRN_STORE_CREATE));
	T_OK(cairn_store_copy(dst, st, &stats));
	T_EQ_INT(stats.envs, 1); /* prod has only an intent: no environment row */
	T_EQ_INT(stats.resources, 1);
	T_EQ_INT(stats.revisions, 1);
	T_OK(cairn_store_get(dst, "dev", "db", &got));
	T_EQ_STR(json_string_value(json_object_get(got.attrs, "password")), SECRET);
	cairn_state_res_release(&got);
	T_OK(cairn_store_history(st, "dev", 0, &h1));
	T_OK(cairn_store_history(dst, "dev", 0, &h2));
	T_CHECK(json_equal(h1, h2));
	T_CHECK(!raw_contains(file, SECRET));
	/* a new revision in the copy follows the copied ones */
	T_OK(cairn_store_rev_begin(dst, "dev", "apply", &id));
	T_EQ_INT(id, rev + 1);
	/* and not into a state that has rows */
	T_EQ_INT(cairn_store_copy(dst, st, &stats), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "already holds a state");
	/* back from the file into a fresh location of the test's backend */
	file2 = t_state_loc(dir);
	if (!t_pg_base()) {
		free(file2);
		file2 = path_in(dir, "back/state.db");
	}
	cairn_store_free(st);
	T_OK(cairn_store_open(&st, file2, CAIRN_STORE_CREATE));
	T_OK(cairn_store_copy(st, dst, &stats));
	T_EQ_INT(stats.revisions, 2);

	json_decref(h1);
	json_decref(h2);
	json_decref(outs);
	json_decref(sens);
	res_done(&r);
	cairn_store_free(st);
	cairn_store_free(dst);
	unsetenv("CAIRN_STATE_KEY");
	free(db);
	free(file);
	free(file2);
	rmtree(dir);
}

/* ---- PostgreSQL: what a file's checks are, for a schema ---- */

static void test_store__pg_refusals(void)
{
	const char *dir = mktmp();
	char *db = NULL, *url = NULL;
	const char *schema;
	cairn_store *st = NULL;
	cairn_buf q = CAIRN_BUF_INIT;
	cairn_state_res r;

	if (!t_pg_base()) {
		printf("# PostgreSQL only (CAIRN_TEST_STATE_URL)\n");
		rmtree(dir);
		return;
	}
	/* a schema with someone else's tables: refused, nothing written */
	db = t_state_loc(dir);
	schema = strstr(db, "%3D") + 3;
	cairn_buf_printf(&q, "CREATE TABLE %s.orders (id int)", schema);
	T_OK(t_pg_exec(q.ptr));
	T_EQ_INT(cairn_store_open(&st, db, CAIRN_STORE_CREATE), CAIRN_ECORRUPT);
	T_CONTAINS(cairn_error_last()->message, "is not a cairn state database");
	T_CONTAINS(cairn_error_last()->message, schema);
	cairn_buf_clear(&q);
	cairn_buf_printf(&q, "SELECT 1/(SELECT count(*) - 1 FROM information_schema.tables WHERE table_schema = '%s')", schema);
	T_CHECK(t_pg_exec(q.ptr) != 0); /* still exactly one table: division by zero */
	free(db);

	/* an empty schema: nothing to read; a writer initialises it */
	db = t_state_loc(dir);
	T_EQ_INT(cairn_store_open(&st, db, CAIRN_STORE_READONLY), CAIRN_ENOTFOUND);
	T_CONTAINS(cairn_error_last()->message, "is empty");
	T_OK(cairn_store_open(&st, db, CAIRN_STORE_CREATE));
	/* the key must come from the environment */
	unsetenv("CAIRN_STATE_KEY");
	res_init(&r, "db", "aws.rds", "db-1");
	r.sensitive = json_pack("[s]", "path");
	T_EQ_INT(cairn_store_put(st, "dev", 0, "create", &r, 0), CAIRN_ENOTFOUND);
	T_CONTAINS(cairn_error_last()->message, "CAIRN_STATE_KEY");
	res_done(&r);
	cairn_store_free(st);
	st = NULL;

	/* a newer schema version: refused */
	schema = strstr(db, "%3D") + 3;
	cairn_buf_clear(&q);
	cairn_buf_printf(&q, "UPDATE %s.meta SET value = '99' WHERE key = 'schema_version'", schema);
	T_OK(t_pg_exec(q.ptr));
	T_EQ_INT(cairn_store_open(&st, db, CAIRN_STORE_CREATE), CAIRN_ECORRUPT);
	T_CONTAINS(cairn_error_last()->message, "newer cairn (schema version 99");

	/* a search_path naming no schema */
	cairn_buf_clear(&q);
	cairn_buf_printf(&q, "%s%coptions=-csearch_path%%3Dnosuchschema", t_pg_base(),
			 strchr(t_pg_base(), '?') ? '&' : '?');
	url = cairn_buf_detach(&q);
	T_EQ_INT(cairn_store_open(&st, url, CAIRN_STORE_CREATE), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "no schema to use");

	cairn_buf_release(&q);
	free(url);
	free(db);
	rmtree(dir);
}

/* Passwords never reach a message or the history (both backends). */
static void test_store__redact(void)
{
	static const char *const cases[][2] = {
		{ "postgres://u:s3cret@db.example:5432/state", "postgres://u:***@db.example:5432/state" },
		{ "postgresql://u@h/db", "postgresql://u@h/db" },
		{ "postgres://h/db?password=s3cret&sslmode=require", "postgres://h/db?password=***&sslmode=require" },
		{ "cairn apply --state postgres://a:p%40ss@h/d -e dev", "cairn apply --state postgres://a:***@h/d -e dev" },
		{ "host=h password=s3cret dbname=d", "host=h password=*** dbname=d" },
		{ "/srv/state.db", "/srv/state.db" },
	};
	const char *dir = mktmp();
	cairn_store *st = open_new(dir, NULL);
	json_t *h = NULL;
	int64_t rev = 0;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = cairn_store_redact(cases[i][0]);

		T_EQ_STR(got, cases[i][1]);
		free(got);
	}
	T_CHECK(st);
	T_OK(cairn_store_rev_begin(st, "dev", "cairn apply --state postgres://u:s3cret@h/d", &rev));
	T_OK(cairn_store_history(st, "dev", 0, &h));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(h, 0), "command")),
		 "cairn apply --state postgres://u:***@h/d");
	json_decref(h);
	cairn_store_free(st);
	rmtree(dir);
}

static const t_case cases[] = {
	T_CASE(test_store__open_create_permissions),
	T_CASE(test_store__zero_length_file_initialised),
	T_CASE(test_store__foreign_file_refused),
	T_CASE(test_store__foreign_sqlite_refused),
	T_CASE(test_store__newer_schema_refused),
	T_CASE(test_store__corrupt_file_refused),
	T_CASE(test_store__put_get_list),
	T_CASE(test_store__remove_and_move),
	T_CASE(test_store__serial_and_envs),
	T_CASE(test_store__intents),
	T_CASE(test_store__batch_commit_rollback),
	T_CASE(test_store__batch_failed_write),
	T_CASE(test_store__sealed_secrets),
	T_CASE(test_store__state_key_from_env),
	T_CASE(test_store__outputs),
	T_CASE(test_store__history),
	T_CASE(test_store__concurrent_create_and_writes),
	T_CASE(test_store__writers_serialised),
	T_CASE(test_store__busy_writer_not_starved),
	T_CASE(test_store__deps_lists),
	T_CASE(test_store__copy),
	T_CASE(test_store__pg_refusals),
	T_CASE(test_store__redact),
	{ 0 }
};

int main(int argc, char **argv)
{
	return t_main(cases, argc, argv);
}
