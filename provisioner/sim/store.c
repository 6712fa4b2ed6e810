/*
 * store.c - the state of `cairn sim`: one SQLite file (WAL) holding every
 * simulated resource, keyed by id, with its type, region, parent, JSON
 * attributes and tags, status and a pending status change that is applied
 * lazily when the resource is read. Also the helpers that mint AWS-style
 * ids. Callers serialise access (the sim's lock); see sim_internal.h.
 */
#include "sim_internal.h"

#include <errno.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

enum {
	ST_INSERT, ST_UPDATE, ST_GET, ST_DELETE, ST_LIST, ST_CHILDREN,
	ST_META_GET, ST_META_SET, ST_STATUS, ST_CHILD_ATTR, ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_INSERT] = "INSERT INTO sim_resources(id, type, region, parent_id, status, next_status,"
		" status_at, attrs, tags, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
	[ST_UPDATE] = "UPDATE sim_resources SET type=?2, region=?3, parent_id=?4, status=?5,"
		" next_status=?6, status_at=?7, attrs=?8, tags=?9, updated_at=?11 WHERE id=?1",
	[ST_GET] = "SELECT seq, id, type, region, parent_id, status, next_status, status_at,"
		" attrs, tags, created_at, updated_at FROM sim_resources WHERE id=?",
	[ST_DELETE] = "DELETE FROM sim_resources WHERE id=?",
	[ST_LIST] = "SELECT seq, id, type, region, parent_id, status, next_status, status_at,"
		" attrs, tags, created_at, updated_at FROM sim_resources"
		" WHERE (?1 IS NULL OR type=?1) AND (?2 IS NULL OR region=?2)"
		" AND (?3 IS NULL OR parent_id=?3) ORDER BY seq",
	[ST_CHILDREN] = "SELECT count(*) FROM sim_resources WHERE parent_id=?1 AND (?2 IS NULL OR type=?2)"
		" AND NOT (coalesce(next_status, '')='" CAIRN_SIM_STATUS_GONE "' AND coalesce(status_at, 0)<=?3)",
	[ST_META_GET] = "SELECT value FROM sim_meta WHERE key=?",
	[ST_META_SET] = "INSERT INTO sim_meta(key, value) VALUES(?1, ?2)"
		" ON CONFLICT(key) DO UPDATE SET value=?2",
	[ST_STATUS] = "UPDATE sim_resources SET status=?2, next_status=NULL, status_at=NULL,"
		" updated_at=?3 WHERE id=?1",
	[ST_CHILD_ATTR] = "SELECT json_extract(attrs, '$.' || ?3) FROM sim_resources"
		" WHERE parent_id=?1 AND type=?2"
		" AND NOT (coalesce(next_status, '')='" CAIRN_SIM_STATUS_GONE "' AND coalesce(status_at, 0)<=?4)",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS sim_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sim_resources("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" id TEXT NOT NULL UNIQUE,"
	" type TEXT NOT NULL,"
	" region TEXT NOT NULL,"
	" parent_id TEXT,"
	" status TEXT NOT NULL DEFAULT '',"
	" next_status TEXT,"
	" status_at REAL,"
	" attrs TEXT NOT NULL,"
	" tags TEXT NOT NULL,"
	" created_at REAL NOT NULL,"
	" updated_at REAL NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sim_resources_type ON sim_resources(type, region);"
	"CREATE INDEX IF NOT EXISTS sim_resources_parent ON sim_resources(parent_id);"
	"INSERT OR IGNORE INTO sim_meta(key, value) VALUES('schema_version', '1');";

/* PRAGMA application_id of a sim database, "csim"; cairn's state database
 * has "carn" (CAIRN_STORE_APP_ID in state/store.h, which the sim may not
 * include). */
#define SIM_APP_ID 0x6373696d
#define STATE_APP_ID 0x6361726e
#define APP_ID_DEC "1668508013" /* SIM_APP_ID in decimal, for the PRAGMA */
_Static_assert(SIM_APP_ID == 1668508013, "APP_ID_DEC is SIM_APP_ID");

struct cairn_sim_store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
};

double cairn_sim_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int db_error(cairn_sim_store *s, const char *what)
{
	return cairn_error_set(CAIRN_EIO, "sim store: cannot %s: %s", what, sqlite3_errmsg(s->db));
}

static int64_t query_int(sqlite3 *db, const char *sql, int *rc)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (*rc != SQLITE_OK)
		return 0;
	if ((*rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) == SQLITE_OK) {
		if ((*rc = sqlite3_step(st)) == SQLITE_ROW) {
			v = sqlite3_column_int64(st, 0);
			*rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return v;
}

/* The application_id in the header of the SQLite file at path (bytes 68-71,
 * big-endian), read without SQLite so that nothing beside the file is
 * created; -1 if the file is not an SQLite database. */
static int64_t header_app_id(const char *path)
{
	unsigned char h[100];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(h, 1, sizeof(h), f) : 0;

	if (f)
		fclose(f);
	if (n < sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0)
		return -1;
	return (int64_t)((uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 | (uint32_t)h[70] << 8 | h[71]);
}

/* Is the existing file at path the sim's own (or empty)? A file that is
 * not (cairn's state.db, anything else) is refused before a byte of it
 * changes: its header is read directly, and only a file without an
 * application_id is opened, read-only, to see whether it is a sim database
 * made before the sim set one (the sim's tables and nothing else). */
static int check_sim_file(const char *path)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int64_t app, nobj = 0, foreign = 0;
	int rc = SQLITE_OK, ret = 0;

	if (stat(path, &sb) != 0)
		return errno == ENOENT ? 0 : cairn_error_set(CAIRN_EIO, "cannot open sim database %s: %s", path,
							       strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return cairn_error_set(CAIRN_EINVAL, "%s is not a cairn sim database (not a file); refusing to touch it",
				       path);
	if (sb.st_size == 0)
		return 0;
	if ((app = header_app_id(path)) < 0)
		return cairn_error_set(CAIRN_EINVAL, "%s is not a cairn sim database (not an SQLite database); "
				       "refusing to touch it", path);
	if (app == SIM_APP_ID)
		return 0;
	if (app == STATE_APP_ID)
		return cairn_error_set(CAIRN_EINVAL, "%s is cairn's state database, not a sim database; refusing to "
				       "touch it (give the sim a file of its own, or none for memory)", path);
	if (app != 0)
		return cairn_error_set(CAIRN_EINVAL, "%s is not a cairn sim database (application_id 0x%08llx, "
				       "expected 0x%08x); refusing to touch it", path, (unsigned long long)app, SIM_APP_ID);
	if ((rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL)) == SQLITE_OK) {
		sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_busy_timeout(db, 5000);
		nobj = query_int(db, "SELECT count(*) FROM sqlite_schema", &rc);
		foreign = query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sim\\_%' ESCAPE '\\'"
				    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'", &rc);
	}
	if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
		ret = cairn_error_set(CAIRN_EINVAL, "%s is not a cairn sim database (not an SQLite database); "
				      "refusing to touch it", path);
	else if (rc != SQLITE_OK)
		ret = cairn_error_set(CAIRN_EIO, "cannot read sim database %s: %s", path, sqlite3_errstr(rc));
	else if (nobj > 0 && foreign > 0)
		ret = cairn_error_set(CAIRN_EINVAL, "%s is not a cairn sim database (it has tables of its own and no "
				      "application_id); refusing to touch it", path);
	sqlite3_close(db);
	return ret;
}

int cairn_sim_store_open(cairn_sim_store **out, const char *path)
{
	cairn_sim_store *s = calloc(1, sizeof(*s));
	char *errmsg = NULL;
	int rc = 0, i;

	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (path && (rc = check_sim_file(path)) != 0)
		goto cleanup;
	if (sqlite3_open_v2(path ? path : ":memory:", &s->db,
			SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = cairn_error_set(CAIRN_EIO, "cannot open sim database %s: %s",
			path ? path : ":memory:", s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto cleanup;
	}
	sqlite3_busy_timeout(s->db, 5000);
	/* a page cache of up to 32 MiB (SQLite's default is 2): every Describe
	 * scans the objects of its type, which otherwise came from the file by
	 * pread each time */
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			" PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;", NULL, NULL, &errmsg) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema_sql, NULL, NULL, &errmsg) != SQLITE_OK ||
	    (path && sqlite3_exec(s->db, "PRAGMA application_id = " APP_ID_DEC, NULL, NULL, &errmsg) != SQLITE_OK)) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "cannot initialise sim database %s: %s",
			path ? path : ":memory:", errmsg ? errmsg : "unknown error");
		goto cleanup;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				&s->st[i], NULL) != SQLITE_OK) {
			rc = db_error(s, "prepare statement");
			goto cleanup;
		}
	}
	*out = s;
	s = NULL;
cleanup:
	sqlite3_free(errmsg);
	cairn_sim_store_free(s);
	return rc;
}

void cairn_sim_store_free(cairn_sim_store *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

int cairn_sim_store_begin(cairn_sim_store *s, int write)
{
	if (sqlite3_exec(s->db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s, "begin a transaction");
	return 0;
}

int cairn_sim_store_commit(cairn_sim_store *s)
{
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = db_error(s, "commit");

		cairn_sim_store_rollback(s);
		return rc;
	}
	return 0;
}

void cairn_sim_store_rollback(cairn_sim_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- resources ---------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int cairn_sim_resource_new(cairn_sim_resource **out, const char *id,
	const char *type, const char *region)
{
	cairn_sim_resource *r = calloc(1, sizeof(*r));
	double now = cairn_sim_now();

	if (!r)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	r->id = strdup(id);
	r->type = strdup(type);
	r->region = strdup(region);
	r->status = strdup("");
	r->attrs = json_object();
	r->tags = json_object();
	r->created_at = r->updated_at = now;
	if (!r->id || !r->type || !r->region || !r->status || !r->attrs || !r->tags) {
		cairn_sim_resource_free(r);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

void cairn_sim_resource_free(cairn_sim_resource *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->type);
	free(r->region);
	free(r->parent_id);
	free(r->status);
	free(r->next_status);
	json_decref(r->attrs);
	json_decref(r->tags);
	free(r);
}

int cairn_sim_resource_set_status(cairn_sim_resource *r, const char *status,
	const char *next_status, double at)
{
	char *s = strdup(status), *n = dup_or_null(next_status);

	if (!s || (next_status && !n)) {
		free(s);
		free(n);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	free(r->status);
	free(r->next_status);
	r->status = s;
	r->next_status = n;
	r->status_at = next_status ? at : 0;
	return 0;
}

int cairn_sim_resource_set_parent(cairn_sim_resource *r, const char *parent_id)
{
	char *p = dup_or_null(parent_id);

	if (parent_id && !p)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	free(r->parent_id);
	r->parent_id = p;
	return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int cairn_sim_store_put(cairn_sim_store *s, cairn_sim_resource *r)
{
	sqlite3_stmt *st = s->st[r->seq ? ST_UPDATE : ST_INSERT];
	char *attrs = json_dumps(r->attrs, JSON_COMPACT | JSON_SORT_KEYS);
	char *tags = json_dumps(r->tags, JSON_COMPACT);
	int rc = 0;

	if (!attrs || !tags) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	r->updated_at = cairn_sim_now();
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->region, -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, r->parent_id);
	sqlite3_bind_text(st, 5, r->status ? r->status : "", -1, SQLITE_STATIC);
	bind_text_or_null(st, 6, r->next_status);
	if (r->next_status)
		sqlite3_bind_double(st, 7, r->status_at);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_text(st, 8, attrs, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, tags, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 10, r->created_at);
	sqlite3_bind_double(st, 11, r->updated_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(s, "store a resource");
	else if (!r->seq)
		r->seq = sqlite3_last_insert_rowid(s->db);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
cleanup:
	free(attrs);
	free(tags);
	return rc;
}

static json_t *load_json_object(const unsigned char *text)
{
	json_t *j = text ? json_loads((const char *)text, 0, NULL) : NULL;

	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j ? j : json_object();
}

static int row_to_resource(sqlite3_stmt *st, cairn_sim_resource **out)
{
	cairn_sim_resource *r = calloc(1, sizeof(*r));

	if (!r)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	r->seq = sqlite3_column_int64(st, 0);
	r->id = dup_or_null((const char *)sqlite3_column_text(st, 1));
	r->type = dup_or_null((const char *)sqlite3_column_text(st, 2));
	r->region = dup_or_null((const char *)sqlite3_column_text(st, 3));
	r->parent_id = dup_or_null((const char *)sqlite3_column_text(st, 4));
	r->status = dup_or_null((const char *)sqlite3_column_text(st, 5));
	r->next_status = dup_or_null((const char *)sqlite3_column_text(st, 6));
	r->status_at = sqlite3_column_double(st, 7);
	r->attrs = load_json_object(sqlite3_column_text(st, 8));
	r->tags = load_json_object(sqlite3_column_text(st, 9));
	r->created_at = sqlite3_column_double(st, 10);
	r->updated_at = sqlite3_column_double(st, 11);
	if (!r->id || !r->type || !r->region || !r->status || !r->attrs || !r->tags) {
		cairn_sim_resource_free(r);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

/* Apply r's pending status change if it is due. *gone = 1 when the change
 * removed the resource. */
static int apply_due_status(cairn_sim_store *s, cairn_sim_resource *r, int *gone)
{
	double now = cairn_sim_now();
	sqlite3_stmt *st = s->st[ST_STATUS];
	int rc = 0;

	*gone = 0;
	if (!r->next_status || r->status_at > now)
		return 0;
	if (strcmp(r->next_status, CAIRN_SIM_STATUS_GONE) == 0) {
		*gone = 1;
		return cairn_sim_store_delete(s, r->id);
	}
	if ((rc = cairn_sim_resource_set_status(r, r->next_status, NULL, 0)) != 0)
		return rc;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->status, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(s, "update a status");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int cairn_sim_store_get(cairn_sim_store *s, const char *id, cairn_sim_resource **out)
{
	sqlite3_stmt *st = s->st[ST_GET];
	cairn_sim_resource *r = NULL;
	int rc, step, gone = 0;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = row_to_resource(st, &r);
	else if (step == SQLITE_DONE)
		rc = CAIRN_ENOTFOUND;
	else
		rc = db_error(s, "read a resource");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc)
		return rc;
	if ((rc = apply_due_status(s, r, &gone)) != 0 || gone) {
		cairn_sim_resource_free(r);
		return rc ? rc : CAIRN_ENOTFOUND;
	}
	*out = r;
	return 0;
}

static int reslist_add(cairn_sim_reslist *l, cairn_sim_resource *r)
{
	if (l->n == l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 16;
		cairn_sim_resource **v = realloc(l->v, alloc * sizeof(*v));

		if (!v)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		l->v = v;
		l->alloc = alloc;
	}
	l->v[l->n++] = r;
	return 0;
}

void cairn_sim_reslist_release(cairn_sim_reslist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		cairn_sim_resource_free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

int cairn_sim_store_list(cairn_sim_store *s, const char *type, const char *region,
	const char *parent_id, cairn_sim_reslist *out)
{
	sqlite3_stmt *st = s->st[ST_LIST];
	cairn_sim_reslist all = { NULL, 0, 0 };
	size_t i;
	int rc = 0, step;

	bind_text_or_null(st, 1, type);
	bind_text_or_null(st, 2, region);
	bind_text_or_null(st, 3, parent_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		cairn_sim_resource *r = NULL;

		if ((rc = row_to_resource(st, &r)) != 0)
			break;
		if ((rc = reslist_add(&all, r)) != 0) {
			cairn_sim_resource_free(r);
			break;
		}
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, "list resources");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	/* apply due status changes after the statement is done with */
	for (i = 0; !rc && i < all.n; i++) {
		int gone = 0;

		if ((rc = apply_due_status(s, all.v[i], &gone)) != 0)
			break;
		if (gone) {
			cairn_sim_resource_free(all.v[i]);
			all.v[i] = NULL;
			continue;
		}
		if ((rc = reslist_add(out, all.v[i])) != 0)
			break;
		all.v[i] = NULL;
	}
	cairn_sim_reslist_release(&all);
	return rc;
}

int cairn_sim_store_delete(cairn_sim_store *s, const char *id)
{
	sqlite3_stmt *st = s->st[ST_DELETE];
	int rc = 0;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(s, "delete a resource");
	else if (sqlite3_changes(s->db) == 0)
		rc = CAIRN_ENOTFOUND;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int cairn_sim_store_child_attrs(cairn_sim_store *s, const char *parent_id, const char *type,
	const char *attr, int (*fn)(void *ud, const char *value), void *ud)
{
	sqlite3_stmt *st = s->st[ST_CHILD_ATTR];
	int rc = 0, step = SQLITE_DONE;

	sqlite3_bind_text(st, 1, parent_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, attr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, cairn_sim_now());
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);

		if (v)
			rc = fn(ud, (const char *)v);
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, "list the children of a resource");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Through cairn_sim_store_list, so that children whose pending "gone" has
 * fallen due (a deleting RDS instance's network links) no longer count. */
int cairn_sim_store_count_children(cairn_sim_store *s, const char *parent_id,
	const char *type, int64_t *out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	int rc;

	if ((rc = cairn_sim_store_list(s, type, NULL, parent_id, &l)) == 0)
		*out = (int64_t)l.n;
	cairn_sim_reslist_release(&l);
	return rc;
}

int cairn_sim_store_meta_get(cairn_sim_store *s, const char *key, char **out)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	int rc = 0, step;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	step = sqlite3_step(st);
	*out = NULL;
	if (step == SQLITE_ROW) {
		if (!(*out = strdup((const char *)sqlite3_column_text(st, 0))))
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	} else if (step != SQLITE_DONE) {
		rc = db_error(s, "read metadata");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int cairn_sim_store_meta_set(cairn_sim_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = s->st[ST_META_SET];
	int rc = 0;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(s, "write metadata");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int cairn_sim_store_reset(cairn_sim_store *s)
{
	if (sqlite3_exec(s->db, "DELETE FROM sim_resources;"
			" DELETE FROM sim_meta WHERE key <> 'schema_version';", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s, "reset");
	return 0;
}

json_t *cairn_sim_resource_to_json(const cairn_sim_resource *r)
{
	char created[32], updated[32], due[32];
	json_t *j;

	cairn_sim_iso_time(created, r->created_at);
	cairn_sim_iso_time(updated, r->updated_at);
	j = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:O, s:O, s:s, s:s, s:I}",
		"id", r->id, "type", r->type, "region", r->region, "parent_id", r->parent_id,
		"status", r->status, "attributes", r->attrs, "tags", r->tags,
		"created_at", created, "updated_at", updated, "seq", (json_int_t)r->seq);
	if (j && r->next_status) {
		cairn_sim_iso_time(due, r->status_at);
		json_object_set_new(j, "next_status", json_string(r->next_status));
		json_object_set_new(j, "next_status_at", json_string(due));
	}
	return j;
}

/* ---- ids and times ------------------------------------------------------- */

void cairn_sim_hex_id(char *out, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t i;

	if (n > sizeof(raw))
		n = sizeof(raw);
	if (RAND_bytes(raw, (int)n) != 1)
		memset(raw, 0, n);
	for (i = 0; i < n; i++)
		out[i] = digits[raw[i] & 15];
	out[n] = '\0';
}

void cairn_sim_new_id(char *out, size_t size, const char *prefix)
{
	char hex[18];

	cairn_sim_hex_id(hex, 17);
	snprintf(out, size, "%s-%s", prefix, hex);
}

void cairn_sim_uuid(char out[37])
{
	unsigned char b[16];
	static const char digits[] = "0123456789abcdef";
	size_t i, o = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = digits[b[i] >> 4];
		out[o++] = digits[b[i] & 15];
	}
	out[o] = '\0';
}

void cairn_sim_iso_time(char out[32], double t)
{
	time_t secs = (time_t)t;
	struct tm tm;
	int ms = (int)((t - (double)secs) * 1000.0);

	gmtime_r(&secs, &tm);
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		out[0] = '\0';
	snprintf(out + strlen(out), 32 - strlen(out), ".%03dZ", ms < 0 ? 0 : ms % 1000);
}
