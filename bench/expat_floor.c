/*
 * expat_floor.c - how long expat alone takes to tokenize an answer (no
 * handlers, then empty element and text handlers): the floor of any
 * reading of EC2's XML; and then the design step of bench/RESULTS.md
 * (drift, session 7): each listed object's bytes (an <item> two levels
 * below the root) hashed with SHA-256 as expat finds its end. Run by
 * bench/expat_floor.sh.
 *   expat_floor FILE N    ms per parse and us per object (FILE holds N objects)
 */
#include <expat.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#define REPS 50

static void on_start(void *ud, const char *name, const char **attrs) { (void)ud; (void)name; (void)attrs; }
static void on_end(void *ud, const char *name) { (void)ud; (void)name; }
static void on_text(void *ud, const char *s, int len) { (void)ud; (void)s; (void)len; }

/* the hashing pass: depth, the current object's first byte, the hashes made */
typedef struct hashing {
	XML_Parser p;
	const char *buf;
	int depth;
	long start;
	long objects;
	unsigned char last[32];
} hashing;

static void h_start(void *ud, const char *name, const char **attrs)
{
	hashing *h = ud;

	(void)attrs;
	if (++h->depth == 3 && !strcmp(name, "item"))
		h->start = XML_GetCurrentByteIndex(h->p);
}

static void h_end(void *ud, const char *name)
{
	hashing *h = ud;

	if (h->depth-- == 3 && !strcmp(name, "item") && h->start >= 0) {
		long end = XML_GetCurrentByteIndex(h->p) + XML_GetCurrentByteCount(h->p);
		unsigned int n = 0;

		EVP_Digest(h->buf + h->start, (size_t)(end - h->start), h->last, &n, EVP_sha256(), NULL);
		h->objects++;
		h->start = -1;
	}
}

int main(int argc, char **argv)
{
	FILE *f;
	char *buf;
	long n;

	if (argc != 3 || !(f = fopen(argv[1], "rb")))
		return fprintf(stderr, "usage: expat_floor FILE N\n"), 2;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if (n <= 0 || !(buf = malloc((size_t)n)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
		return fprintf(stderr, "cannot read %s\n", argv[1]), 1;
	fclose(f);
	for (int handlers = 0; handlers < 3; handlers++) {
		hashing h = { 0 };

		struct timespec t0, t1;
		double sec;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		for (int i = 0; i < REPS; i++) {
			XML_Parser p = XML_ParserCreate(NULL);

			if (handlers == 1) {
				XML_SetElementHandler(p, on_start, on_end);
				XML_SetCharacterDataHandler(p, on_text);
			} else if (handlers == 2) {
				h.p = p;
				h.buf = buf;
				h.depth = 0;
				h.start = -1;
				XML_SetUserData(p, &h);
				XML_SetElementHandler(p, h_start, h_end);
			}
			if (XML_Parse(p, buf, (int)n, 1) != XML_STATUS_OK)
				return fprintf(stderr, "%s: not XML\n", argv[1]), 1;
			XML_ParserFree(p);
		}
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (handlers == 2 && h.objects != (long)REPS * atol(argv[2]))
			return fprintf(stderr, "%s: hashed %ld objects, expected %d x %s\n", argv[1], h.objects, REPS, argv[2]), 1;
		printf("  %-22s %.2f ms per parse, %.1f MB/s, %.2f us per object\n",
		       handlers == 0 ? "no handlers:" : handlers == 1 ? "empty handlers:" : "each object hashed:",
		       sec / REPS * 1e3, (double)n * REPS / sec / 1e6, sec / REPS * 1e6 / atof(argv[2]));
	}
	free(buf);
	return 0;
}
