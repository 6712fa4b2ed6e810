/*
 * file.h - reading and writing the files a user names, safely.
 *
 * cairn reads files people point it at (stack.yaml, <env>.yaml, a saved
 * plan, the argument of file()) and writes one (plan -out FILE). A FIFO
 * there would hang the read, a device would be read forever or replaced by
 * the write, a symbolic link would send the write elsewhere. These two
 * functions are the one place that decides: only regular files are read,
 * only a regular file or a new path is written, and the check is made on
 * the opened descriptor (fstat), not on the path, so nothing can be swapped
 * in between the check and the read.
 */
#ifndef CAIRN_FILE_H
#define CAIRN_FILE_H

#include "buf.h"

#include <stddef.h>
#include <sys/types.h>

/* What a st_mode is, for messages: "a directory", "a FIFO (named pipe)",
 * "a character device", "a block device", "a socket", "a symbolic link",
 * "a regular file". Static string. */
const char *cairn_file_kind(mode_t mode);

/* Append the whole content of the regular file at path to b (bounded by
 * b->max). Symbolic links are followed; what they lead to must be a regular
 * file. Anything else is refused without reading from it and without
 * blocking (opened O_NONBLOCK | O_NOCTTY, checked with fstat): CAIRN_EINVAL,
 * "cannot read [WHAT ]PATH: it is a FIFO (named pipe), not a regular file".
 * A missing file is CAIRN_ENOTFOUND, other failures CAIRN_EIO; every
 * message names path, and `what` ("plan file") when it is not NULL. b is
 * left as it was on failure. */
int cairn_file_read(cairn_buf *b, const char *path, const char *what);

/* May path be written by cairn_file_write? 0 when it does not exist or is a
 * regular file; CAIRN_EINVAL naming what it is otherwise (a symbolic link
 * is not followed: it is refused, whatever it points to). */
int cairn_file_check_writable(const char *path);

/* Replace the file at path with data, atomically: path is checked as by
 * cairn_file_check_writable, the data is written to a new temporary file in
 * the same directory (created exclusively, never through a symbolic link,
 * with `mode`), synced, and renamed over path. A reader sees the old file
 * or the new one, never a part; on failure path is untouched and the
 * temporary file removed. */
int cairn_file_write(const char *path, const void *data, size_t len, mode_t mode);

#endif
