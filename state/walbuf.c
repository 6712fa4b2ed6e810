/*
 * walbuf.c - a SQLite VFS that hands each transaction's WAL frames to the
 * kernel in writes of up to 64 KiB instead of two writes per page.
 *
 * Why: SQLite appends a WAL frame as two pwrite()s, the 24-byte frame
 * header and then the page. Measured on the 10,000-resource apply (bench/
 * core.sh): COMMIT is nothing but these appends (~950 frames, no fsync, no
 * checkpoint), and with two system calls per page, each growing a fresh
 * -wal file by a partial block that the file system allocates and zeroes,
 * they cost ~4 us per page. The same bytes written 64 KiB at a time cost
 * about a quarter of that (bench/RESULTS.md, "Core (issue 2)").
 *
 * How: this VFS wraps the default one. Files other than a -wal pass straight
 * through. A -wal file collects contiguous appends in a buffer of WB_MAX
 * bytes and writes it with one xWrite:
 *   - as soon as the frame that ends a transaction is complete (its header
 *     carries the database size, non-zero only in a commit frame: WAL file
 *     format, https://sqlite.org/fileformat2.html#walformat), so the commit
 *     is in the OS before SQLite publishes it in the wal-index, and a failed
 *     write fails the COMMIT exactly as an unbuffered one would;
 *   - when the next append would not fit;
 *   - before anything that must see the file as written: a read, sync,
 *     truncate, size, mmap fetch, close, or a write that is not an append;
 *   - and, as a safety net, at the main database's xShmBarrier, which SQLite
 *     calls before it publishes new frames to other connections.
 * Nothing is ever acknowledged to a caller of the store before it is in the
 * OS: durability is unchanged (see store.c: WAL, synchronous=NORMAL).
 */
#include "walbuf.h"

#include "base/error.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define WB_NAME "cairn-walbuf"
/* The buffer: flushed when the next append would not fit. One xWrite of the
 * unix VFS takes at most 128 KiB - 1 (SQLite itself never writes more than
 * a 64 KiB page at once); past 64 KiB larger writes gain little anyway. */
#define WB_MAX (64 * 1024)
#define WB_FRAME_HDR 24       /* bytes of a WAL frame header */

typedef struct wb_file {
	sqlite3_file base;      /* base.pMethods = &wb_methods; must come first */
	sqlite3_file *real;     /* the wrapped file, allocated right after this struct */
	int is_wal;
	struct wb_file *wal;    /* main database: its open -wal file, if any */
	struct wb_file *main;   /* -wal file: its main database */
	unsigned char *buf;     /* -wal file: WB_MAX bytes, the first len pending,
				 * to be written at `off` */
	size_t len;
	sqlite3_int64 off;
	sqlite3_int64 commit_page_off; /* where the page of the commit frame whose
					* header was just written goes; -1 if none */
} wb_file;

static sqlite3_vfs wb_vfs;

#define REAL(f) (((wb_file *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

/* Write the pending bytes. On failure they stay pending: retrying writes the
 * same bytes at the same offsets, so a later flush can still deliver them. */
static int wb_flush(wb_file *f)
{
	int rc;

	if (!f || !f->len)
		return SQLITE_OK;
	rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
	if (rc == SQLITE_OK)
		f->len = 0;
	return rc;
}

/*
 * A -wal write. A commit frame's header (bytes 4-7, the database size, are
 * non-zero) is buffered only when it extends the pending appends; then the
 * page after it ends the transaction and flushes. Any other commit header
 * (SQLite rewriting checksums of frames it wrote earlier) is written at once,
 * so that no commit ever waits in the buffer for the barrier.
 */
static int wal_write(wb_file *f, const void *data, int n, sqlite3_int64 off)
{
	const unsigned char *p = data;
	int ends_commit = off == f->commit_page_off;
	int commit_hdr = n == WB_FRAME_HDR && (p[4] | p[5] | p[6] | p[7]) != 0;
	int extends = f->len && off == f->off + (sqlite3_int64)f->len;
	int rc;

	f->commit_page_off = commit_hdr ? off + WB_FRAME_HDR : -1;
	if (f->len && (!extends || f->len + (size_t)n > WB_MAX) && (rc = wb_flush(f)) != SQLITE_OK)
		return rc;
	if ((size_t)n > WB_MAX || (commit_hdr && !extends))
		return f->real->pMethods->xWrite(f->real, data, n, off);
	if (!f->buf && !(f->buf = malloc(WB_MAX)))
		return SQLITE_NOMEM;
	if (!f->len)
		f->off = off;
	memcpy(f->buf + f->len, data, (size_t)n);
	f->len += (size_t)n;
	return ends_commit ? wb_flush(f) : SQLITE_OK;
}

/* ---- io methods: pass through, flushing a -wal file's buffer first ---- */

static int wb_close(sqlite3_file *pf)
{
	wb_file *f = (wb_file *)pf;
	int rc = wb_flush(f), rc2;

	if (f->main)
		f->main->wal = NULL;
	if (f->wal)
		f->wal->main = NULL;
	rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
	int rc = wb_flush((wb_file *)pf);

	return rc != SQLITE_OK ? rc : RM(pf)->xRead(REAL(pf), p, n, off);
}

static int wb_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
	wb_file *f = (wb_file *)pf;

	if (f->is_wal)
		return wal_write(f, p, n, off);
	return RM(pf)->xWrite(REAL(pf), p, n, off);
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	int rc = wb_flush((wb_file *)pf);

	return rc != SQLITE_OK ? rc : RM(pf)->xTruncate(REAL(pf), size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
	int rc = wb_flush((wb_file *)pf);

	return rc != SQLITE_OK ? rc : RM(pf)->xSync(REAL(pf), flags);
}

static int wb_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	int rc = wb_flush((wb_file *)pf);

	return rc != SQLITE_OK ? rc : RM(pf)->xFileSize(REAL(pf), size);
}

static int wb_lock(sqlite3_file *pf, int lock)
{
	return RM(pf)->xLock(REAL(pf), lock);
}

static int wb_unlock(sqlite3_file *pf, int lock)
{
	return RM(pf)->xUnlock(REAL(pf), lock);
}

static int wb_check_reserved(sqlite3_file *pf, int *out)
{
	return RM(pf)->xCheckReservedLock(REAL(pf), out);
}

static int wb_file_control(sqlite3_file *pf, int op, void *arg)
{
	return RM(pf)->xFileControl(REAL(pf), op, arg);
}

static int wb_sector_size(sqlite3_file *pf)
{
	return RM(pf)->xSectorSize(REAL(pf));
}

static int wb_device_chars(sqlite3_file *pf)
{
	return RM(pf)->xDeviceCharacteristics(REAL(pf));
}

static int wb_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
	if (RM(pf)->iVersion < 2)
		return SQLITE_IOERR_SHMMAP;
	return RM(pf)->xShmMap(REAL(pf), pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
	if (RM(pf)->iVersion < 2)
		return SQLITE_IOERR_SHMLOCK;
	return RM(pf)->xShmLock(REAL(pf), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *pf)
{
	/* the commit frame was flushed already (wal_write); this only catches a
	 * format we did not recognise, and has no way to report an error */
	wb_flush(((wb_file *)pf)->wal);
	if (RM(pf)->iVersion >= 2)
		RM(pf)->xShmBarrier(REAL(pf));
}

static int wb_shm_unmap(sqlite3_file *pf, int delete_flag)
{
	if (RM(pf)->iVersion < 2)
		return SQLITE_OK;
	return RM(pf)->xShmUnmap(REAL(pf), delete_flag);
}

static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
	int rc = wb_flush((wb_file *)pf);

	*pp = NULL;
	if (rc != SQLITE_OK || RM(pf)->iVersion < 3)
		return rc;
	return RM(pf)->xFetch(REAL(pf), off, n, pp);
}

static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	if (RM(pf)->iVersion < 3)
		return SQLITE_OK;
	return RM(pf)->xUnfetch(REAL(pf), off, p);
}

static const sqlite3_io_methods wb_methods = {
	3, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_file_size,
	wb_lock, wb_unlock, wb_check_reserved, wb_file_control, wb_sector_size,
	wb_device_chars, wb_shm_map, wb_shm_lock, wb_shm_barrier, wb_shm_unmap,
	wb_fetch, wb_unfetch,
};

/* ---- the VFS: xOpen wraps the file; everything else is the default VFS's ---- */

#define ROOT ((sqlite3_vfs *)wb_vfs.pAppData)

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out_flags)
{
	wb_file *f = (wb_file *)pf;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	f->commit_page_off = -1;
	rc = ROOT->xOpen(ROOT, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || !f->real->pMethods) {
		/* SQLite does not close a file whose open failed */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	f->base.pMethods = &wb_methods;
	if ((flags & SQLITE_OPEN_WAL) && name) {
		wb_file *m = (wb_file *)sqlite3_database_file_object(name);

		f->is_wal = 1;
		if (m && m->base.pMethods == &wb_methods) {
			f->main = m;
			m->wal = f;
		}
	}
	return SQLITE_OK;
}

static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	(void)v;
	return ROOT->xDelete(ROOT, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return ROOT->xAccess(ROOT, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return ROOT->xFullPathname(ROOT, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return ROOT->xDlOpen(ROOT, name);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	ROOT->xDlError(ROOT, n, msg);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return ROOT->xDlSym(ROOT, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	ROOT->xDlClose(ROOT, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return ROOT->xRandomness(ROOT, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return ROOT->xSleep(ROOT, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return ROOT->xCurrentTime(ROOT, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	return ROOT->xGetLastError ? ROOT->xGetLastError(ROOT, n, msg) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return ROOT->xCurrentTimeInt64(ROOT, out);
}

static sqlite3_vfs wb_vfs = {
	2, 0, 0, NULL, WB_NAME, NULL,
	wb_open, wb_delete, wb_access, wb_full_pathname,
	wb_dlopen, wb_dlerror, wb_dlsym, wb_dlclose,
	wb_randomness, wb_sleep, wb_current_time, wb_last_error,
	wb_current_time64, NULL, NULL, NULL,
};

int cairn_walbuf_vfs(const char **name_out)
{
	sqlite3_mutex *mx;
	sqlite3_vfs *root;
	int rc = 0;

	if (sqlite3_initialize() != SQLITE_OK)
		return cairn_error_set(CAIRN_ERROR, "cannot initialise SQLite");
	mx = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
	sqlite3_mutex_enter(mx);
	if (!wb_vfs.pAppData) {
		/* version 2 at most: xSetSystemCall and friends are for tests */
		if (!(root = sqlite3_vfs_find(NULL)) || root->iVersion < 2) {
			rc = cairn_error_set(CAIRN_ERROR, "SQLite has no usable default VFS");
		} else {
			wb_vfs.szOsFile = (int)sizeof(wb_file) + root->szOsFile;
			wb_vfs.mxPathname = root->mxPathname;
			wb_vfs.pAppData = root;
			if (sqlite3_vfs_register(&wb_vfs, 0) != SQLITE_OK) {
				wb_vfs.pAppData = NULL;
				rc = cairn_error_set(CAIRN_ERROR, "cannot register the SQLite VFS %s", WB_NAME);
			}
		}
	}
	sqlite3_mutex_leave(mx);
	if (rc == 0)
		*name_out = WB_NAME;
	return rc;
}
