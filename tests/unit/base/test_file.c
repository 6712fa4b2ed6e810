/*
 * test_file.c - reading and writing the files a user names (base/file.h):
 * regular files only, never blocking on a FIFO, never writing through a
 * symbolic link or over a device.
 */
#include "t.h"
#include "base/error.h"
#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *in_dir(const char *name)
{
	static char p[2][256];
	static int i;

	i = !i;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void put(const char *name, const char *text)
{
	FILE *f = fopen(in_dir(name), "w");

	fputs(text, f);
	fclose(f);
}

static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void remove_dir(void)
{
	char cmd[128];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		perror("rm");
	dir[0] = '\0';
}

static void fresh_dir(void)
{
	remove_dir();
	snprintf(dir, sizeof(dir), "/tmp/cairn-file.XXXXXX");
	if (!mkdtemp(dir))
		perror("mkdtemp");
}

static void test_file__read_regular_and_symlink(void)
{
	cairn_buf b = CAIRN_BUF_INIT;

	fresh_dir();
	put("a.yaml", "hello\n");
	T_CHECK(symlink("a.yaml", in_dir("link.yaml")) == 0);
	T_OK(cairn_file_read(&b, in_dir("a.yaml"), NULL));
	T_EQ_STR(cairn_buf_cstr(&b), "hello\n");
	cairn_buf_clear(&b);
	T_OK(cairn_file_read(&b, in_dir("link.yaml"), NULL));
	T_EQ_STR(cairn_buf_cstr(&b), "hello\n");
	cairn_buf_release(&b);
	put("empty", "");
	T_OK(cairn_file_read(&b, in_dir("empty"), NULL));
	T_CHECK(b.ptr != NULL && b.len == 0);
	cairn_buf_release(&b);
}

static void test_file__read_refuses_what_is_not_a_file(void)
{
	cairn_buf b = CAIRN_BUF_INIT;

	fresh_dir();
	T_CHECK(mkfifo(in_dir("fifo"), 0600) == 0);
	T_CHECK(mkdir(in_dir("dir"), 0700) == 0);
	T_CHECK(symlink("fifo", in_dir("to-fifo")) == 0);
	/* returns at once: a blocking open or read would hang here */
	T_EQ_INT(cairn_file_read(&b, in_dir("fifo"), NULL), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "/fifo: it is a FIFO (named pipe), not a regular file");
	T_EQ_INT(cairn_file_read(&b, in_dir("to-fifo"), NULL), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "it is a FIFO");
	T_EQ_INT(cairn_file_read(&b, in_dir("dir"), NULL), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "/dir: it is a directory, not a regular file");
	T_EQ_INT(cairn_file_read(&b, "/dev/zero", "plan file"), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "cannot read plan file /dev/zero: it is a character device");
	T_EQ_INT(cairn_file_read(&b, in_dir("missing"), NULL), CAIRN_ENOTFOUND);
	T_CONTAINS(cairn_error_last()->message, "/missing: No such file or directory");
	T_CHECK(b.len == 0);
	cairn_buf_release(&b);
}

static void test_file__read_bounded_and_untouched_on_failure(void)
{
	cairn_buf b;

	fresh_dir();
	put("big", "0123456789");
	cairn_buf_init(&b, 8);
	T_OK(cairn_buf_puts(&b, "ab"));
	T_EQ_INT(cairn_file_read(&b, in_dir("big"), NULL), CAIRN_ELIMIT);
	T_EQ_STR(cairn_buf_cstr(&b), "ab");
	cairn_buf_release(&b);
}

static void test_file__write_new_and_replace(void)
{
	cairn_buf b = CAIRN_BUF_INIT;
	struct stat st;

	fresh_dir();
	T_OK(cairn_file_write(in_dir("plan"), "one", 3, 0600));
	T_CHECK(stat(in_dir("plan"), &st) == 0 && (st.st_mode & 0777) == 0600);
	put("plan", "old, longer content");
	T_CHECK(chmod(in_dir("plan"), 0644) == 0);
	T_OK(cairn_file_write(in_dir("plan"), "two", 3, 0600));
	T_OK(cairn_file_read(&b, in_dir("plan"), NULL));
	T_EQ_STR(cairn_buf_cstr(&b), "two");
	T_CHECK(stat(in_dir("plan"), &st) == 0 && (st.st_mode & 0777) == 0600);
	T_EQ_INT(entries(), 1); /* no temporary file left */
	cairn_buf_release(&b);
}

static void test_file__write_refuses_links_fifos_dirs(void)
{
	cairn_buf b = CAIRN_BUF_INIT;
	struct stat st;

	fresh_dir();
	put("target", "keep");
	T_CHECK(symlink("target", in_dir("link")) == 0);
	T_CHECK(symlink("nowhere", in_dir("dangling")) == 0);
	T_CHECK(mkfifo(in_dir("fifo"), 0600) == 0);
	T_CHECK(mkdir(in_dir("dir"), 0700) == 0);
	T_EQ_INT(cairn_file_write(in_dir("link"), "x", 1, 0600), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "/link: it is a symbolic link, not a regular file");
	T_EQ_INT(cairn_file_write(in_dir("dangling"), "x", 1, 0600), CAIRN_EINVAL);
	T_EQ_INT(cairn_file_write(in_dir("fifo"), "x", 1, 0600), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "it is a FIFO (named pipe)");
	T_EQ_INT(cairn_file_write(in_dir("dir"), "x", 1, 0600), CAIRN_EINVAL);
	T_CONTAINS(cairn_error_last()->message, "it is a directory");
	T_EQ_INT(cairn_file_write(in_dir("no-such-dir/plan"), "x", 1, 0600), CAIRN_EIO);
	T_CHECK(lstat(in_dir("link"), &st) == 0 && S_ISLNK(st.st_mode));
	T_CHECK(lstat(in_dir("dangling"), &st) == 0 && S_ISLNK(st.st_mode));
	T_CHECK(access(in_dir("nowhere"), F_OK) != 0);
	T_CHECK(lstat(in_dir("fifo"), &st) == 0 && S_ISFIFO(st.st_mode));
	T_OK(cairn_file_read(&b, in_dir("target"), NULL));
	T_EQ_STR(cairn_buf_cstr(&b), "keep");
	T_EQ_INT(entries(), 5);
	cairn_buf_release(&b);
	remove_dir();
}

static const t_case cases[] = {
	T_CASE(test_file__read_regular_and_symlink),
	T_CASE(test_file__read_refuses_what_is_not_a_file),
	T_CASE(test_file__read_bounded_and_untouched_on_failure),
	T_CASE(test_file__write_new_and_replace),
	T_CASE(test_file__write_refuses_links_fifos_dirs),
	{ 0 }
};

int main(int argc, char **argv) { return t_main(cases, argc, argv); }
