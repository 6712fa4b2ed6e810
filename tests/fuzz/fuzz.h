/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz share: splitting one
 * input into several parts, a private temporary directory, writing a file.
 *
 * Every target is a file tests/fuzz/fuzz_<name>.c with
 * LLVMFuzzerTestOneInput; meson builds them with -Dfuzz=true (clang only),
 * tests/fuzz/run.sh runs them. A target must not keep state between inputs
 * beyond what it sets up once (temporary directory, Lua state), so that a
 * crashing input crashes again on its own.
 */
#ifndef CAIRN_FUZZ_H
#define CAIRN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* The separator between the parts of one input: a line of its own, so
 * that seeds stay readable ("stack.yaml\n%%%%\ndev.yaml"). */
#define FUZZ_SEP "\n%%%%\n"

typedef struct fuzz_part {
	const char *ptr;
	size_t len;
} fuzz_part;

/* Split data into at most n parts on FUZZ_SEP; missing parts are empty.
 * The last part takes the rest of the input, separators included. */
static inline void fuzz_split(fuzz_part *parts, size_t n, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	size_t i, sl = strlen(FUZZ_SEP);

	for (i = 0; i < n; i++) {
		const char *hit = NULL, *q;

		parts[i].ptr = p;
		parts[i].len = 0;
		if (i + 1 < n)
			for (q = p; q + sl <= end; q++)
				if (memcmp(q, FUZZ_SEP, sl) == 0) {
					hit = q;
					break;
				}
		parts[i].len = (size_t)((hit ? hit : end) - p);
		p = hit ? hit + sl : end;
	}
}

/* A NUL-terminated copy of a part (free it). */
static inline char *fuzz_strdup(const fuzz_part *p)
{
	char *s = malloc(p->len + 1);

	if (!s)
		abort();
	memcpy(s, p->ptr, p->len);
	s[p->len] = '\0';
	return s;
}

/* A private directory under TMPDIR, made once per process and removed
 * with everything in it at exit. */
static char fuzz_dir_[256];

static inline int fuzz_rm_(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static inline void fuzz_dir_cleanup_(void)
{
	if (fuzz_dir_[0])
		nftw(fuzz_dir_, fuzz_rm_, 16, FTW_DEPTH | FTW_PHYS);
}

static inline const char *fuzz_dir(void)
{
	if (!fuzz_dir_[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(fuzz_dir_, sizeof(fuzz_dir_), "%s/cairn-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(fuzz_dir_))
			abort();
		atexit(fuzz_dir_cleanup_);
	}
	return fuzz_dir_;
}

/* Write (data, len) to fuzz_dir()/name, replacing it; returns the path in
 * out (size n). */
static inline const char *fuzz_write(char *out, size_t n, const char *name, const void *data, size_t len)
{
	FILE *f;

	snprintf(out, n, "%s/%s", fuzz_dir(), name);
	if (!(f = fopen(out, "wb")) || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		abort();
	return out;
}

#endif
