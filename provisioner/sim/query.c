/*
 * query.c - the AWS Query protocol's two halves for `cairn sim`: parsing
 * form-encoded requests (with the list conventions Tag.N.Key,
 * Filter.N.Value.M, ...) and writing XML responses with proper escaping.
 * See sim_internal.h.
 */
#include "sim_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- form parsing ------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode s[0..n) into a new string. */
static char *form_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
			   hexval((unsigned char)s[i + 2]) >= 0) {
			*o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int form_add(cairn_sim_form *f, char *key, char *value)
{
	if (f->n == f->alloc) {
		size_t alloc = f->alloc ? f->alloc * 2 : 16;
		cairn_sim_form_pair *p = realloc(f->pairs, alloc * sizeof(*p));

		if (!p)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		f->pairs = p;
		f->alloc = alloc;
	}
	f->pairs[f->n].key = key;
	f->pairs[f->n].value = value;
	f->n++;
	return 0;
}

int cairn_sim_form_parse(cairn_sim_form **out, const char *body, size_t len)
{
	cairn_sim_form *f = calloc(1, sizeof(*f));
	size_t i = 0;
	int rc = 0;

	if (!f)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	while (i < len) {
		size_t start = i, eq, end;
		char *key = NULL, *value = NULL;

		while (i < len && body[i] != '&')
			i++;
		end = i;
		i++; /* skip '&' */
		if (end == start)
			continue;
		for (eq = start; eq < end && body[eq] != '='; eq++)
			;
		key = form_decode(body + start, eq - start);
		value = eq < end ? form_decode(body + eq + 1, end - eq - 1) : form_decode("", 0);
		if (!key || !value) {
			free(key);
			free(value);
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto cleanup;
		}
		if ((rc = form_add(f, key, value)) != 0) {
			free(key);
			free(value);
			goto cleanup;
		}
	}
	*out = f;
	f = NULL;
cleanup:
	cairn_sim_form_free(f);
	return rc;
}

void cairn_sim_form_free(cairn_sim_form *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->pairs[i].key);
		free(f->pairs[i].value);
	}
	free(f->pairs);
	free(f);
}

const char *cairn_sim_form_get(const cairn_sim_form *f, const char *key)
{
	size_t i;

	if (!f)
		return NULL;
	for (i = f->n; i > 0; i--)
		if (strcmp(f->pairs[i - 1].key, key) == 0)
			return f->pairs[i - 1].value;
	return NULL;
}

const char *cairn_sim_form_getf(const cairn_sim_form *f, const char *fmt, ...)
{
	char key[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	return cairn_sim_form_get(f, key);
}

int cairn_sim_parse_integer(const char *v, long long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end || errno)
		return CAIRN_EINVAL;
	*out = n;
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

int cairn_sim_form_indices(const cairn_sim_form *f, const char *prefix, long **out, size_t *n)
{
	size_t plen = strlen(prefix), i, cnt = 0, alloc = 0;
	long *v = NULL;
	int rc = 0;

	for (i = 0; f && i < f->n; i++) {
		const char *k = f->pairs[i].key, *p;
		char *end;
		long idx;
		size_t j;

		if (strncmp(k, prefix, plen) != 0 || k[plen] != '.')
			continue;
		p = k + plen + 1;
		errno = 0;
		idx = strtol(p, &end, 10);
		if (end == p || errno || idx < 1 || idx > 100000 || (*end != '\0' && *end != '.')) {
			rc = cairn_error_set(CAIRN_EINVAL, "%s", k);
			goto cleanup;
		}
		for (j = 0; j < cnt && v[j] != idx; j++)
			;
		if (j < cnt)
			continue;
		if (cnt == alloc) {
			long *nv;

			alloc = alloc ? alloc * 2 : 8;
			nv = realloc(v, alloc * sizeof(*v));
			if (!nv) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto cleanup;
			}
			v = nv;
		}
		v[cnt++] = idx;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_long);
	*out = v;
	*n = cnt;
	v = NULL;
cleanup:
	free(v);
	return rc;
}

int cairn_sim_strs_add(cairn_sim_strs *s, const char *v)
{
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? s->alloc * 2 : 8;
		const char **nv = realloc(s->v, alloc * sizeof(*nv));

		if (!nv)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		s->v = nv;
		s->alloc = alloc;
	}
	s->v[s->n++] = v;
	return 0;
}

void cairn_sim_strs_release(cairn_sim_strs *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->alloc = 0;
}

int cairn_sim_strs_has(const cairn_sim_strs *s, const char *v)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], v) == 0)
			return 1;
	return 0;
}

int cairn_sim_form_list(const cairn_sim_form *f, const char *prefix, cairn_sim_strs *out)
{
	long *idx = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = cairn_sim_form_indices(f, prefix, &idx, &n)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		const char *v = cairn_sim_form_getf(f, "%s.%ld", prefix, idx[i]);

		if (v && (rc = cairn_sim_strs_add(out, v)) != 0)
			break;
	}
	free(idx);
	return rc;
}

int cairn_sim_form_tags(const cairn_sim_form *f, const char *prefix, cairn_sim_tag **out, size_t *n)
{
	long *idx = NULL;
	size_t cnt = 0, i, k = 0;
	cairn_sim_tag *tags = NULL;
	int rc;

	if ((rc = cairn_sim_form_indices(f, prefix, &idx, &cnt)) != 0)
		return rc;
	if (cnt && !(tags = calloc(cnt, sizeof(*tags)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < cnt; i++) {
		const char *key = cairn_sim_form_getf(f, "%s.%ld.Key", prefix, idx[i]);

		if (!key) {
			rc = cairn_error_set(CAIRN_EINVAL, "%s.%ld.Key", prefix, idx[i]);
			goto cleanup;
		}
		tags[k].key = key;
		tags[k].value = cairn_sim_form_getf(f, "%s.%ld.Value", prefix, idx[i]);
		k++;
	}
	*out = tags;
	*n = k;
	tags = NULL;
cleanup:
	free(tags);
	free(idx);
	return rc;
}

void cairn_sim_filters_release(cairn_sim_filters *fl)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		cairn_sim_strs_release(&fl->v[i].values);
	free(fl->v);
	fl->v = NULL;
	fl->n = 0;
}

int cairn_sim_form_filters(const cairn_sim_form *f, const char *prefix, cairn_sim_filters *out)
{
	long *idx = NULL;
	size_t cnt = 0, i;
	char vprefix[128];
	int rc;

	out->v = NULL;
	out->n = 0;
	if ((rc = cairn_sim_form_indices(f, prefix, &idx, &cnt)) != 0)
		return rc;
	if (cnt && !(out->v = calloc(cnt, sizeof(*out->v)))) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < cnt; i++) {
		cairn_sim_filter *flt = &out->v[out->n];

		flt->name = cairn_sim_form_getf(f, "%s.%ld.Name", prefix, idx[i]);
		if (!flt->name) {
			rc = cairn_error_set(CAIRN_EINVAL, "%s.%ld.Name", prefix, idx[i]);
			goto cleanup;
		}
		out->n++;
		snprintf(vprefix, sizeof(vprefix), "%s.%ld.Value", prefix, idx[i]);
		if ((rc = cairn_sim_form_list(f, vprefix, &flt->values)) != 0)
			goto cleanup;
	}
cleanup:
	free(idx);
	if (rc)
		cairn_sim_filters_release(out);
	return rc;
}

int cairn_sim_glob_match(const char *p, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;

	while (*s) {
		if (*p == '\\' && p[1] && p[1] == *s) {
			p += 2;
			s++;
		} else if (*p == '?' ) {
			p++;
			s++;
		} else if (*p == '*') {
			star_p = ++p;
			star_s = s;
		} else if (*p && *p != '\\' && *p == *s) {
			p++;
			s++;
		} else if (star_p) {
			p = star_p;
			s = ++star_s;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* ---- XML writer -------------------------------------------------------- */

void cairn_sim_xml_init(cairn_sim_xml *x)
{
	cairn_buf_init(&x->buf, 0);
	x->err = 0;
}

void cairn_sim_xml_release(cairn_sim_xml *x)
{
	cairn_buf_release(&x->buf);
	x->err = 0;
}

/* The length of the UTF-8 sequence at s if it is well-formed (RFC 3629:
 * no overlong forms, no surrogates, at most U+10FFFF), else 0; *xml_char
 * says whether XML 1.0 allows the character (not U+FFFE, U+FFFF). */
static size_t utf8_len(const unsigned char *s, bool *xml_char)
{
	unsigned c = s[0], n, i, cp;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	*xml_char = cp != 0xFFFE && cp != 0xFFFF;
	return n;
}

bool cairn_sim_utf8_valid(const char *s)
{
	bool xml_char;
	size_t n;

	for (; *s; s += n)
		if ((unsigned char)*s < 0x80)
			n = 1;
		else if ((n = utf8_len((const unsigned char *)s, &xml_char)) == 0)
			return false;
	return true;
}

int cairn_sim_xml_escape(cairn_buf *b, const char *text)
{
	const char *p = text, *run = text;
	int rc = 0;

	for (; *p && !rc; p++) {
		const char *rep = NULL;
		size_t extra = 0;

		if ((unsigned char)*p >= 0x80) {
			bool xml_char = false;
			size_t n = utf8_len((const unsigned char *)p, &xml_char);

			/* a byte that is not UTF-8 would make the whole answer
			 * unreadable: U+FFFD for it (or for U+FFFE, U+FFFF) */
			if (n && xml_char) {
				p += n - 1;
				continue;
			}
			rep = "\xEF\xBF\xBD";
			extra = n ? n - 1 : 0;
		} else switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\r': rep = "&#13;"; break;
		default:
			/* other control characters are not allowed in XML 1.0 */
			if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
				rep = "\xEF\xBF\xBD";
		}
		if (!rep)
			continue;
		if ((rc = cairn_buf_put(b, run, (size_t)(p - run))) == 0)
			rc = cairn_buf_puts(b, rep);
		p += extra;
		run = p + 1;
	}
	if (!rc)
		rc = cairn_buf_put(b, run, (size_t)(p - run));
	return rc;
}

void cairn_sim_xml_raw(cairn_sim_xml *x, const char *s)
{
	if (!x->err)
		x->err = cairn_buf_puts(&x->buf, s);
}

void cairn_sim_xml_text(cairn_sim_xml *x, const char *text)
{
	if (!x->err)
		x->err = cairn_sim_xml_escape(&x->buf, text);
}

/* "<" [slash] name [slash] ">" appended without printf: rendering long
 * describe answers is most of the sim's work per request */
static void xml_tag(cairn_sim_xml *x, const char *name, bool closing, bool empty)
{
	size_t n = strlen(name), len = 0;
	char tmp[128];

	if (x->err)
		return;
	if (n + 3 > sizeof(tmp)) {
		x->err = cairn_buf_printf(&x->buf, closing ? "</%s>" : empty ? "<%s/>" : "<%s>", name);
		return;
	}
	tmp[len++] = '<';
	if (closing)
		tmp[len++] = '/';
	memcpy(tmp + len, name, n);
	len += n;
	if (empty)
		tmp[len++] = '/';
	tmp[len++] = '>';
	x->err = cairn_buf_put(&x->buf, tmp, len);
}

void cairn_sim_xml_open(cairn_sim_xml *x, const char *name)
{
	xml_tag(x, name, false, false);
}

void cairn_sim_xml_close(cairn_sim_xml *x, const char *name)
{
	xml_tag(x, name, true, false);
}

void cairn_sim_xml_empty(cairn_sim_xml *x, const char *name)
{
	xml_tag(x, name, false, true);
}

void cairn_sim_xml_elem(cairn_sim_xml *x, const char *name, const char *text)
{
	if (!text)
		return;
	cairn_sim_xml_open(x, name);
	cairn_sim_xml_text(x, text);
	cairn_sim_xml_close(x, name);
}

void cairn_sim_xml_elemf(cairn_sim_xml *x, const char *name, const char *fmt, ...)
{
	cairn_buf tmp = CAIRN_BUF_INIT;
	va_list ap;
	int rc;

	if (x->err)
		return;
	va_start(ap, fmt);
	rc = cairn_buf_vprintf(&tmp, fmt, ap);
	va_end(ap);
	if (rc)
		x->err = rc;
	else
		cairn_sim_xml_elem(x, name, cairn_buf_cstr(&tmp));
	cairn_buf_release(&tmp);
}

void cairn_sim_xml_bool(cairn_sim_xml *x, const char *name, int v)
{
	cairn_sim_xml_elem(x, name, v ? "true" : "false");
}
