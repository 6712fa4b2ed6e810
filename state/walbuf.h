/*
 * walbuf.h - a SQLite VFS that hands each transaction's WAL frames to the
 * kernel in writes of up to 64 KiB instead of two writes per page (see
 * walbuf.c).
 */
#ifndef CAIRN_WALBUF_H
#define CAIRN_WALBUF_H

/* Register the VFS (once per process; safe to call from several threads)
 * and set *name_out to its name, to pass to sqlite3_open_v2(). The name is
 * static. Returns 0, or CAIRN_ERROR if SQLite has no default VFS. */
int cairn_walbuf_vfs(const char **name_out);

#endif
