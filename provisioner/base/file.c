/*
 * file.c - reading and writing the files a user names (see file.h).
 */
#include "file.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cairn_file_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO (named pipe)";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link";
	return "not a file";
}

static int not_regular(const char *what, const char *path, mode_t mode)
{
	return cairn_error_set(CAIRN_EINVAL, "cannot read %s%s: it is %s, not a regular file", what, path,
			       cairn_file_kind(mode));
}

static int read_fd(cairn_buf *b, int fd, const char *what, const char *path)
{
	char chunk[65536];
	ssize_t n;
	int rc;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cairn_error_set(CAIRN_EIO, "cannot read %s%s: %s", what, path, strerror(errno));
		if (n == 0)
			return 0;
		if ((rc = cairn_buf_put(b, chunk, (size_t)n)) != 0) {
			cairn_error_prefix("cannot read %s%s", what, path);
			return rc;
		}
	}
}

int cairn_file_read(cairn_buf *b, const char *path, const char *what)
{
	char w[128];
	size_t had = b->len;
	struct stat st;
	int fd = -1, rc;

	snprintf(w, sizeof(w), "%s%s", what ? what : "", what ? " " : "");
	/* a first look, so that a device is not even opened; the check that
	 * counts is fstat on the descriptor below */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return not_regular(w, path, st.st_mode);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_set(errno == ENOENT || errno == ENOTDIR ? CAIRN_ENOTFOUND : CAIRN_EIO,
				       "cannot read %s%s: %s", w, path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot read %s%s: %s", w, path, strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = not_regular(w, path, st.st_mode);
		goto cleanup;
	}
	if ((rc = read_fd(b, fd, w, path)) == 0 && !b->ptr)
		rc = cairn_buf_put(b, "", 0);

cleanup:
	if (rc && b->ptr) {
		b->len = had;
		b->ptr[had] = '\0';
	}
	close(fd);
	return rc;
}

int cairn_file_check_writable(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return cairn_error_set(CAIRN_EINVAL, "refusing to write %s: it is %s, not a regular file "
				       "(only a regular file or a new path is replaced)", path, cairn_file_kind(st.st_mode));
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* "DIR/.BASE.XXXXXX" beside path, for mkostemp. */
static int temp_name(cairn_buf *tmp, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash)
		return cairn_buf_printf(tmp, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
	return cairn_buf_printf(tmp, ".%s.XXXXXX", path);
}

int cairn_file_write(const char *path, const void *data, size_t len, mode_t mode)
{
	cairn_buf tmp = CAIRN_BUF_INIT;
	int fd = -1, rc;

	if ((rc = cairn_file_check_writable(path)) != 0)
		return rc;
	if ((rc = temp_name(&tmp, path)) != 0)
		goto cleanup;
	/* O_EXCL (mkostemp): a new file, never a symbolic link's target */
	fd = mkostemp(tmp.ptr, O_CLOEXEC);
	if (fd < 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
		cairn_buf_release(&tmp);
		goto cleanup;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	/* once more, as close to the rename as it gets */
	if ((rc = cairn_file_check_writable(path)) != 0)
		goto cleanup;
	if (rename(tmp.ptr, path) != 0) {
		rc = cairn_error_set(CAIRN_EIO, "cannot write %s: %s", path, strerror(errno));
		goto cleanup;
	}
	cairn_buf_release(&tmp);

cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp.ptr)
		unlink(tmp.ptr);
	cairn_buf_release(&tmp);
	return rc;
}
