/*
 * xml.c - cairn.xml: XML text to Lua tables, with expat.
 *
 * The mapping, chosen for AWS Query-protocol answers:
 *   - decode(text) returns the root element's value and the root's name:
 *       local r, name = cairn.xml.decode(body)  -- name "DescribeVpcsResponse"
 *   - an element without child elements and without attributes is its text
 *     (a string; "" when empty): <vpcId>vpc-1</vpcId> -> "vpc-1";
 *   - an element with children is a table: child name -> child value; a name
 *     that repeats becomes an array (in document order); attributes go under
 *     "_attr" (name -> value), and the element's own text, if not blank,
 *     under "_text";
 *   - namespaces are dropped: names are local names ("ec2:item" -> "item");
 *   - DTDs are refused (no entity expansion games).
 * Because a list of one <item> is not an array, read lists with
 * cairn.xml.list(node, "item"), which always returns an array ({} when the
 * node is nil, "" or has no such child).
 *
 * decode(text, skip): skip, a set of local names ({ name = true, ... }):
 * elements of these names are left out, with all they contain, at any
 * depth; expat still reads them, but no Lua value is made of them. An
 * element whose every child is skipped is then a leaf (its text). For a
 * caller that reads a few fields of a large answer (aws.common's listings).
 *
 * decode(text, skip, marks): marks = { set = "subnetSet", id = "subnetId",
 * known = { [digest] = id, ... } } (cairn drift's read marks, see
 * runtime.h): each <item> directly inside the root's <set> element gets
 * "#digest", the SHA-256 (hex) of its bytes as they stand in the text.
 * With a non-empty `known`, an item whose digest is a key of it is not
 * decoded at all: its value is the stub { [id] = known[digest],
 * ["#digest"] = digest, ["#unchanged"] = true } (the caller recorded what
 * these very bytes mean); the other items are decoded as usual. ('#'
 * cannot begin an XML name: no element collides with these keys.)
 * With marks.hits, a table, such an item is left out of the answer
 * altogether and hits[known[digest]] = digest is set instead (no table
 * per item: the runtime hands hits to the engine, see ctx.unchanged in
 * runtime.h).
 *
 * Page marks, in that mode (known and hits): an answer of which at least
 * half the items were hits is kept too. hits["#page:" .. P] = its record,
 * where P is the SHA-256 of the answer's bytes less its request id
 * (<requestId> near the start, EC2; <RequestId> near the end, RDS and
 * ElastiCache: the one part that differs on every call), and the record is
 *   CAIRN_PAGE_RECORD_MAGIC .. the hits' digests (64 hex digits each, in
 *   order) .. "\n" .. the answer with the hits' bytes cut out.
 * When known["#" .. P] holds such a record (the engine offers the pages
 * it kept with the marks) and every digest in it is a key of known, the
 * answer is not parsed: hits gets each of those items as above, and the
 * value is the cut-out answer's, decoded with the same marks (its other
 * items hits now, or decoded with their digests; a set left without items
 * an empty table); hits["#page:" .. P] = "" says the page served. Equal
 * bytes are equal items, so the answer is the one a full decode would
 * give (its request id that of the page's first answer). Anything else
 * (another page, a digest the marks no longer offer, a record that does
 * not parse) decodes the text in full.
 */
#include "internal.h"
#include "base/buf.h"
#include "base/digest.h"

#include <lauxlib.h>

#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256
#define XML_DECODER "cairn.xml.decoder"

/* Tables are built on the Lua stack as expat reports the elements: an
 * element's table is pushed when its first child (or an attribute) makes it
 * one; a leaf's value is pushed at its end; every finished value goes into
 * its parent's table at once. A Lua error (memory) may unwind through
 * expat: the decoder is a userdata whose __gc frees the parser. */
typedef struct frame {
	bool table;      /* its table is on the stack */
	unsigned hint;   /* slot in xp.hints for this element */
	unsigned nkeys;  /* distinct keys set in its table */
	cairn_buf text;
} frame;

/* Tables are created with room for as many keys as the last element of the
 * same name at the same depth had: a describe item of twenty fields is then
 * not rehashed five times on its way there. */
#define HINTS 256
#define HINT_MAX 64

/* Element names made Lua strings, by hint slot: an answer repeats the same
 * few dozen names thousands of times, and taking the string from a table
 * costs a fraction of making it again (hashing and interning). The table
 * sits on the Lua stack at xp.names; names[slot] is the C text it holds. */
#define NAME_MAX_CACHED 48

typedef struct xp {
	lua_State *L;
	XML_Parser parser;
	frame stack[MAX_DEPTH];
	size_t depth;
	bool done;       /* the root element ended; its value is on the stack */
	bool failed;
	unsigned char hints[HINTS];
	int names_idx;   /* stack index of the name strings' table */
	int skip_idx;    /* stack index of the skip set, 0 without one */
	size_t skipping; /* > 0: inside a skipped element, this deep */
	unsigned char skip_memo[HINTS]; /* by hint slot: 1 kept, 2 skipped (of skip_name) */
	char skip_name[HINTS][NAME_MAX_CACHED];
	char names[HINTS][NAME_MAX_CACHED];
	char err[512];
	/* read marks (decode's third argument) */
	const char *text;   /* the whole document (one XML_Parse call) */
	int marks_idx;      /* stack index of the marks table, 0 without */
	const char *set;    /* marks.set */
	const char *set_id; /* marks.id */
	int known_idx;      /* stack index of marks.known when not empty, else 0 */
	int hits_idx;       /* stack index of marks.hits (a table), else 0 */
	long item_at;       /* byte offset of the <item> being hashed, -1 */
	bool deferring;     /* it is skipped until its end (known non-empty) */
	bool in_set;        /* the open child of the root is marks.set */
	/* page marks (hits mode): what a record of this answer needs */
	const char *page;   /* the answer's page digest (hex), or NULL */
	unsigned nsets, nitems, nhits;
	long set_open_end;  /* just past the set's start tag */
	long set_close_at;  /* the set's end tag */
	cairn_buf page_digests; /* the hits' digests, in order */
	cairn_buf page_cuts;    /* the hits' byte ranges, long[2] each, in order */
} xp;

static int decode_text(lua_State *L, const char *s, size_t len, int skip_idx, int marks_idx,
		       const char *page, char *err, size_t errlen);

static unsigned hint_slot(const char *name, size_t depth)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return (h ^ (uint32_t)depth * 0x9e3779b1u) % HINTS;
}

static void new_frame_table(xp *x, frame *f, int extra)
{
	lua_createtable(x->L, 0, x->hints[f->hint] + extra);
	f->table = true;
}

static const char *local_name(const char *name)
{
	const char *sep = strrchr(name, ':');

	return sep ? sep + 1 : name;
}

/* xmlns and xmlns:prefix declare namespaces: not attributes here */
static bool is_xmlns(const char *name)
{
	return strncmp(name, "xmlns", 5) == 0 && (name[5] == '\0' || name[5] == ':');
}

static void fail(xp *x, const char *msg)
{
	if (!x->failed)
		snprintf(x->err, sizeof(x->err), "invalid XML at line %lu: %s",
			 (unsigned long)XML_GetCurrentLineNumber(x->parser), msg);
	x->failed = true;
	XML_StopParser(x->parser, XML_FALSE);
}

/* Whether the element name (a local name) at depth is in the skip set;
 * the answer is kept by hint slot, as names repeat. */
static bool skipped(xp *x, const char *name, unsigned slot)
{
	size_t n;
	bool skip;

	if (x->skip_memo[slot] && !strcmp(x->skip_name[slot], name))
		return x->skip_memo[slot] == 2;
	lua_pushstring(x->L, name);
	lua_rawget(x->L, x->skip_idx);
	skip = lua_toboolean(x->L, -1);
	lua_pop(x->L, 1);
	if ((n = strlen(name)) < NAME_MAX_CACHED) {
		memcpy(x->skip_name[slot], name, n + 1);
		x->skip_memo[slot] = skip ? 2 : 1;
	}
	return skip;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	xp *x = ud;
	lua_State *L = x->L;
	frame *f;
	unsigned slot;

	if (x->failed)
		return;
	if (x->skipping) {
		x->skipping++;
		return;
	}
	slot = hint_slot(local_name(name), x->depth + 1);
	if (x->skip_idx && x->depth > 0 && skipped(x, local_name(name), slot)) {
		x->skipping = 1;
		return;
	}
	if (x->marks_idx && x->depth == 1) {
		x->in_set = !strcmp(local_name(name), x->set);
		if (x->in_set) {
			x->nsets++;
			x->set_open_end = XML_GetCurrentByteIndex(x->parser) + XML_GetCurrentByteCount(x->parser);
		}
	}
	if (x->marks_idx && x->depth == 2 && x->in_set && !strcmp(local_name(name), "item")) {
		x->item_at = XML_GetCurrentByteIndex(x->parser);
		x->nitems++;
		if (x->known_idx) {
			/* decoded at its end, if its digest is not known */
			if (!x->stack[1].table)
				new_frame_table(x, &x->stack[1], 0);
			x->deferring = true;
			x->skipping = 1;
			return;
		}
	}
	if (x->depth >= MAX_DEPTH) {
		fail(x, "elements nested too deeply");
		return;
	}
	if (!lua_checkstack(L, 8)) {
		fail(x, "elements nested too deeply");
		return;
	}
	if (x->depth > 0 && !x->stack[x->depth - 1].table)
		new_frame_table(x, &x->stack[x->depth - 1], 0);
	f = &x->stack[x->depth++];
	f->table = false;
	f->nkeys = 0;
	f->hint = slot;
	f->text.len = 0;
	if (attrs[0]) {
		size_t i, n = 0;

		for (i = 0; attrs[i]; i += 2)
			n += !is_xmlns(attrs[i]);
		if (!n)
			return;
		new_frame_table(x, f, 1);
		f->nkeys = 1;
		lua_createtable(L, 0, (int)n);
		for (i = 0; attrs[i]; i += 2) {
			if (is_xmlns(attrs[i]))
				continue;
			lua_pushstring(L, attrs[i + 1]);
			lua_setfield(L, -2, local_name(attrs[i]));
		}
		lua_setfield(L, -2, "_attr");
	}
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	xp *x = ud;

	if (x->failed || !x->depth || x->skipping)
		return;
	if (cairn_buf_put(&x->stack[x->depth - 1].text, s, (size_t)len) < 0)
		fail(x, "text too large");
}

static bool blank_text(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

static bool blank(const cairn_buf *b)
{
	return blank_text(b->ptr, b->len);
}

/* Push the Lua string of name (a local name), from the cache when slot
 * holds it. */
static void push_name(xp *x, unsigned slot, const char *name)
{
	lua_State *L = x->L;
	size_t n;

	if (!strcmp(x->names[slot], name)) {
		lua_rawgeti(L, x->names_idx, (lua_Integer)slot + 1);
		return;
	}
	n = strlen(name);
	lua_pushlstring(L, name, n);
	if (n < NAME_MAX_CACHED) {
		memcpy(x->names[slot], name, n + 1);
		lua_pushvalue(L, -1);
		lua_rawseti(L, x->names_idx, (lua_Integer)slot + 1);
	}
}

/* value on top, parent table below it: parent[name] = value, or append
 * when the name repeats (the first repetition makes an array). The name is
 * made a Lua string once. */
static bool add_child(xp *x, unsigned slot, const char *name)
{
	lua_State *L = x->L;

	push_name(x, slot, name);                         /* parent value key */
	lua_pushvalue(L, -1);
	if (lua_rawget(L, -4) == LUA_TNIL) {              /* parent value key old */
		lua_pop(L, 1);
		lua_insert(L, -2);                        /* parent key value */
		lua_rawset(L, -3);
		return true;
	}
	if (cairn_lua_is_marked_array(L, -1)) {
		lua_rotate(L, -3, 1);                     /* parent old value key */
		lua_pop(L, 1);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		lua_pop(L, 1);
		return false;
	}
	lua_createtable(L, 2, 0);                         /* parent value key old arr */
	lua_insert(L, -2);                                /* parent value key arr old */
	lua_rawseti(L, -2, 1);                            /* parent value key arr */
	lua_rotate(L, -3, -1);                            /* parent key arr value */
	lua_rawseti(L, -2, 2);                            /* parent key arr */
	cairn_lua_mark_array(L);
	lua_rawset(L, -3);
	return false;
}

/* The hex SHA-256 of the <item> that has just ended (from x->item_at to
 * the end of its end tag), pushed. */
static void push_item_digest(xp *x)
{
	long end = XML_GetCurrentByteIndex(x->parser) + XML_GetCurrentByteCount(x->parser);
	char out[65];

	if (x->item_at < 0 || end < x->item_at ||
	    cairn_sha256_hex(x->text + x->item_at, (size_t)(end - x->item_at), out) < 0)
		lua_pushliteral(x->L, "");
	else
		lua_pushlstring(x->L, out, 64);
}

/* A deferred <item> ended: its stub when its digest is known, else its
 * bytes decoded now; either way a child "item" of the set's table. */
static void end_deferred(xp *x)
{
	lua_State *L = x->L;
	long end = XML_GetCurrentByteIndex(x->parser) + XML_GetCurrentByteCount(x->parser);
	long at = x->item_at;

	x->deferring = false;
	if (!lua_checkstack(L, 24)) {
		x->item_at = -1;
		fail(x, "out of stack");
		return;
	}
	push_item_digest(x);                              /* set digest */
	x->item_at = -1;
	lua_pushvalue(L, -1);
	if (lua_rawget(L, x->known_idx) == LUA_TSTRING && x->hits_idx) { /* set digest id */
		/* hits[id] = digest, and no item */
		long cut[2] = { at, end };

		x->nhits++;
		if (x->page && (cairn_buf_put(&x->page_digests, lua_tostring(L, -2), 64) < 0 ||
				cairn_buf_put(&x->page_cuts, (const char *)cut, sizeof(cut)) < 0))
			x->page = NULL;
		lua_insert(L, -2);                        /* set id digest */
		lua_rawset(L, x->hits_idx);               /* set */
		return;
	} else if (lua_type(L, -1) == LUA_TSTRING) {      /* set digest id */
		lua_createtable(L, 0, 3);                 /* set digest id stub */
		lua_insert(L, -2);
		lua_setfield(L, -2, x->set_id);
		lua_insert(L, -2);                        /* set stub digest */
		lua_setfield(L, -2, "#digest");
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "#unchanged");
	} else {
		char err[sizeof(x->err)];

		lua_pop(L, 1);                            /* set digest */
		if (decode_text(L, x->text + at, (size_t)(end - at), x->skip_idx, 0, NULL, err, sizeof(err)) < 0) {
			lua_pop(L, 1);
			if (!x->failed)
				snprintf(x->err, sizeof(x->err), "%.500s", err);
			x->failed = true;
			XML_StopParser(x->parser, XML_FALSE);
			return;
		}
		lua_pop(L, 1);                            /* set digest value */
		if (lua_istable(L, -1)) {
			lua_insert(L, -2);
			lua_setfield(L, -2, "#digest");   /* set value */
		} else {
			lua_remove(L, -2);
		}
	}
	if (add_child(x, hint_slot("item", 3), "item"))
		x->stack[1].nkeys++;
}

static void on_end(void *ud, const XML_Char *name)
{
	xp *x = ud;
	lua_State *L = x->L;
	frame *f;

	if (x->failed || !x->depth)
		return;
	if (x->skipping) {
		if (--x->skipping == 0 && x->deferring)
			end_deferred(x);
		return;
	}
	f = &x->stack[--x->depth];
	if (x->depth == 1 && x->in_set)
		x->set_close_at = XML_GetCurrentByteIndex(x->parser);
	if (!f->table) {
		lua_pushlstring(L, f->text.len ? f->text.ptr : "", f->text.len);
	} else {
		if (!blank(&f->text)) {
			lua_pushlstring(L, f->text.ptr, f->text.len);
			lua_setfield(L, -2, "_text");
			f->nkeys++;
		}
		x->hints[f->hint] = (unsigned char)(f->nkeys < HINT_MAX ? f->nkeys : HINT_MAX);
	}
	if (x->depth == 0) {
		x->done = true;
		lua_pushstring(L, local_name(name));
		return;
	}
	if (x->item_at >= 0 && x->depth == 2) {
		if (f->table) {
			push_item_digest(x);
			lua_setfield(L, -2, "#digest");
		}
		x->item_at = -1;
	}
	if (add_child(x, f->hint, local_name(name)))
		x->stack[x->depth - 1].nkeys++;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal_subset)
{
	fail(ud, "document type declarations are not accepted");
}

static void decoder_release(xp *x)
{
	size_t i;

	if (x->parser)
		XML_ParserFree(x->parser);
	x->parser = NULL;
	for (i = 0; i < MAX_DEPTH; i++)
		cairn_buf_release(&x->stack[i].text);
	cairn_buf_release(&x->page_digests);
	cairn_buf_release(&x->page_cuts);
}

static int decoder_gc(lua_State *L)
{
	decoder_release(luaL_checkudata(L, 1, XML_DECODER));
	return 0;
}

/* ---- page marks ---- */

#define PAGE_MAGIC CAIRN_PAGE_RECORD_MAGIC

/* At least half the items of this answer were hits: hits["#page:" .. P]
 * = its record (the hits table is on the stack at x->hits_idx): their
 * digests, and the answer without their bytes. */
static void keep_page(xp *x, size_t len)
{
	lua_State *L = x->L;
	const long *cut = (const long *)(const void *)x->page_cuts.ptr;
	size_t i, at = 0;
	luaL_Buffer b;

	if (!lua_checkstack(L, 4))
		return;
	lua_pushfstring(L, "#page:%s", x->page);
	luaL_buffinit(L, &b);
	luaL_addstring(&b, PAGE_MAGIC);
	luaL_addlstring(&b, x->page_digests.ptr, x->page_digests.len);
	luaL_addchar(&b, '\n');
	for (i = 0; i < x->nhits; i++) {
		if (cut[2 * i] < (long)at || cut[2 * i + 1] < cut[2 * i] || (size_t)cut[2 * i + 1] > len) {
			luaL_pushresult(&b);
			lua_pop(L, 2);
			return;
		}
		luaL_addlstring(&b, x->text + at, (size_t)cut[2 * i] - at);
		at = (size_t)cut[2 * i + 1];
	}
	luaL_addlstring(&b, x->text + at, len - at);
	luaL_pushresult(&b);
	lua_rawset(L, x->hits_idx);
}

/* Serve the answer from its page record rec, known's (a table at known),
 * when every digest in it is one known offers: pushes the value and the
 * root's name, fills hits, returns 0; else pushes nothing, returns -1.
 * skip: as decode's. */
static int page_hit(lua_State *L, const char *rec, size_t reclen, const char *page, const char *set,
		    int known, int hits, int skip, int marks)
{
	size_t ml = sizeof(PAGE_MAGIC) - 1, n, i;
	const char *d, *nl, *rest;
	char err[512];

	if (reclen < ml || memcmp(rec, PAGE_MAGIC, ml) || !(nl = memchr(rec + ml, '\n', reclen - ml)))
		return -1;
	d = rec + ml;
	n = (size_t)(nl - d);
	if (n == 0 || n % 64 || !lua_checkstack(L, 8))
		return -1;
	for (i = 0; i < n; i += 64) {
		lua_pushlstring(L, d + i, 64);
		if (lua_rawget(L, known) != LUA_TSTRING) {
			lua_pop(L, 1);
			return -1;
		}
		lua_pop(L, 1);
	}
	rest = nl + 1;
	/* the items left in it (not hits when the page was kept) decoded as
	 * in a full decode: hits now, or decoded with their digests */
	if (decode_text(L, rest, (size_t)(rec + reclen - rest), skip, marks, NULL, err, sizeof(err)) < 0)
		return -1;
	/* value name: a set emptied of its items is an empty table */
	if (!lua_istable(L, -2)) {
		lua_pop(L, 2);
		return -1;
	}
	if (lua_getfield(L, -2, set) == LUA_TSTRING) {
		/* its text, when not blank, as a table's (decode's mapping) */
		size_t tl;
		const char *t = lua_tolstring(L, -1, &tl);

		lua_newtable(L);
		if (!blank_text(t, tl)) {
			lua_insert(L, -2);
			lua_setfield(L, -2, "_text");
		} else {
			lua_remove(L, -2);
		}
		lua_setfield(L, -3, set);
	} else {
		lua_pop(L, 1);
	}
	for (i = 0; i < n; i += 64) {
		lua_pushlstring(L, d + i, 64);            /* digest */
		lua_pushvalue(L, -1);
		lua_rawget(L, known);                     /* digest id */
		lua_insert(L, -2);                        /* id digest */
		lua_rawset(L, hits);
	}
	lua_pushfstring(L, "#page:%s", page);
	lua_pushliteral(L, "");
	lua_rawset(L, hits);
	return 0;
}

/* Decode s: pushes its value and its root's name and returns 0, or pushes
 * nothing, writes err and returns -1. skip_idx, marks_idx: stack indexes
 * of decode's skip set and marks table (0: none). The decoder is a
 * userdata for the time of the parse (a Lua error unwinding through expat
 * frees it). */
static int decode_text(lua_State *L, const char *s, size_t len, int skip_idx, int marks_idx,
		       const char *page, char *err, size_t errlen)
{
	int base = lua_gettop(L), i;
	xp *x;

	if (len > (size_t)0x7fffffff) {
		snprintf(err, errlen, "XML document too large");
		return -1;
	}
	x = lua_newuserdatauv(L, sizeof(*x), 0);
	memset(x, 0, sizeof(*x));
	for (i = 0; i < MAX_DEPTH; i++)
		cairn_buf_init(&x->stack[i].text, 0);
	cairn_buf_init(&x->page_digests, 0);
	cairn_buf_init(&x->page_cuts, 0);
	if (luaL_newmetatable(L, XML_DECODER)) {
		lua_pushcfunction(L, decoder_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	lua_createtable(L, HINTS, 0);
	x->names_idx = lua_gettop(L);
	x->skip_idx = skip_idx;
	x->text = s;
	x->item_at = -1;
	if (marks_idx) {
		lua_getfield(L, marks_idx, "set");
		lua_getfield(L, marks_idx, "id");
		lua_getfield(L, marks_idx, "known");
		x->set = lua_tostring(L, -3);
		x->set_id = lua_tostring(L, -2);
		if (x->set && x->set_id) {
			x->marks_idx = marks_idx;
			if (lua_istable(L, -1)) {
				lua_pushnil(L);
				if (lua_next(L, -2)) {
					lua_pop(L, 2);
					x->known_idx = lua_gettop(L);
				}
			}
			lua_getfield(L, marks_idx, "hits");
			if (x->known_idx && lua_istable(L, -1)) {
				x->hits_idx = lua_gettop(L);
				x->page = page;
			}
		}
	}
	x->L = L;
	/* no namespace processing: names are taken after their prefix */
	x->parser = XML_ParserCreate("UTF-8");
	if (!x->parser)
		return luaL_error(L, "not enough memory");
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetCharacterDataHandler(x->parser, on_text);
	XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
	if (XML_Parse(x->parser, s, (int)len, XML_TRUE) != XML_STATUS_OK && !x->failed) {
		snprintf(x->err, sizeof(x->err), "invalid XML at line %lu: %s",
			 (unsigned long)XML_GetCurrentLineNumber(x->parser),
			 XML_ErrorString(XML_GetErrorCode(x->parser)));
		x->failed = true;
	}
	if (!x->failed && !x->done) {
		snprintf(x->err, sizeof(x->err), "invalid XML: no root element");
		x->failed = true;
	}
	if (!x->failed && x->page && x->nsets == 1 && x->nhits && x->nhits * 2 >= x->nitems &&
	    x->page_digests.len == 64 * (size_t)x->nhits && x->page_cuts.len == 2 * sizeof(long) * x->nhits)
		keep_page(x, len);
	decoder_release(x);
	if (x->failed) {
		snprintf(err, errlen, "%s", x->err);
		lua_settop(L, base);
		return -1;
	}
	/* base+1 decoder, +2 names, [marks' three], value, name */
	lua_rotate(L, base + 1, 2);
	lua_settop(L, base + 2);
	return 0;
}

/* cairn.xml.decode(text [, skip [, marks]]) -> value, root_name | nil, err */
static int l_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	char err[512], page[65];
	bool have_page = false;

	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	lua_settop(L, 3);
	/* page marks: with marks.set, .id, a non-empty .known and .hits */
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "set");
		lua_getfield(L, 3, "id");
		lua_getfield(L, 3, "known");
		lua_getfield(L, 3, "hits");
		if (lua_type(L, 4) == LUA_TSTRING && lua_type(L, 5) == LUA_TSTRING && lua_istable(L, 6) &&
		    lua_istable(L, 7)) {
			lua_pushnil(L);
			if (lua_next(L, 6)) {
				lua_pop(L, 2);
				cairn_answer_digest(s, len, page); /* the page's digest */
				lua_pushfstring(L, "#%s", page);
				if (lua_rawget(L, 6) == LUA_TSTRING) {
					size_t rl;
					const char *rec = lua_tolstring(L, -1, &rl);

					if (page_hit(L, rec, rl, page, lua_tostring(L, 4), 6, 7,
						     lua_istable(L, 2) ? 2 : 0, 3) == 0)
						return 2;
				}
				have_page = true;
			}
		}
		lua_settop(L, 3);
	}
	if (decode_text(L, s, len, lua_istable(L, 2) ? 2 : 0, lua_istable(L, 3) ? 3 : 0, have_page ? page : NULL,
			err, sizeof(err)) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
	}
	return 2;
}

/* cairn.xml.list(node, name) -> array of node[name] (always an array). */
static int l_list(lua_State *L)
{
	luaL_checkstring(L, 2);
	lua_settop(L, 2);
	if (!lua_istable(L, 1)) {
		lua_newtable(L);
		cairn_lua_mark_array(L);
		return 1;
	}
	lua_pushvalue(L, 2);
	lua_gettable(L, 1);
	if (lua_isnil(L, -1)) {
		lua_newtable(L);
		cairn_lua_mark_array(L);
		return 1;
	}
	if (cairn_lua_is_marked_array(L, -1))
		return 1;
	lua_createtable(L, 1, 0);
	lua_pushvalue(L, -2);
	lua_rawseti(L, -2, 1);
	cairn_lua_mark_array(L);
	return 1;
}

/* cairn.xml.escape(s): text safe inside an element or attribute. */
static int l_escape(lua_State *L)
{
	size_t len, i;
	const char *s = luaL_checklstring(L, 1, &len);
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '<': luaL_addstring(&b, "&lt;"); break;
		case '>': luaL_addstring(&b, "&gt;"); break;
		case '&': luaL_addstring(&b, "&amp;"); break;
		case '"': luaL_addstring(&b, "&quot;"); break;
		case '\'': luaL_addstring(&b, "&apos;"); break;
		default: luaL_addchar(&b, s[i]);
		}
	}
	luaL_pushresult(&b);
	return 1;
}

static const luaL_Reg xml_lib[] = {
	{ "decode", l_decode },
	{ "list", l_list },
	{ "escape", l_escape },
	{ NULL, NULL },
};

int cairn_lua_open_xml(lua_State *L)
{
	luaL_newlib(L, xml_lib);
	return 1;
}
