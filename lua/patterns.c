/*
 * patterns.c - string.find, string.match, string.gmatch, string.gsub and
 * string.rep for the sandbox: the same behaviour as Lua 5.4's, with a cost
 * that the operation's limits see.
 *
 * Why: Lua's own matcher (lstrlib.c) is C code that runs no hook. A
 * pattern's cost is the product of its backtracking items' expansions:
 * string.find(("a"):rep(2000), ".-.-.-.-.-b") tries about 2000^5 paths
 * and runs for hours, during which the count hook never fires, so neither
 * the instruction limit, nor the operation's deadline, nor a signal can stop
 * it. A static bound (reject long subjects times many quantifiers) would
 * refuse ordinary code (trimming a response body with "^%s*(.-)%s*$" is
 * linear in practice but cubic by that count), so the bound here is
 * dynamic and exact: this matcher is Lua's algorithm (the manual's pattern
 * language, item by item: single-character classes, sets, the * + - ?
 * quantifiers, anchors, captures and position captures, %b, %f, back
 * references) written with a step counter. Every call of the recursive
 * matcher, every character an expansion or a %b scan looks at and every
 * byte a back reference compares is a step; each 4096 steps are charged to
 * the running operation as instructions (cairn_lua_charge), which raises
 * when the instruction limit, the deadline or an interrupt is reached. So
 * the cost of a pattern is bounded by the same budget as the Lua code that
 * calls it, and a runaway match ends at the next 4096 steps (microseconds).
 *
 * A plain find (4th argument true, or a pattern without specials) uses
 * memmem, which is linear (glibc's two-way search), instead of Lua's
 * quadratic loop of memchr + memcmp. string.rep refuses at once a result
 * larger than the state's memory cap, returns "" when both the string and
 * the separator are empty (Lua's loop would copy nothing a huge number of
 * times), and charges its output size.
 *
 * Differences from lstrlib.c, on purpose: %b at the end of the subject
 * never reads the terminating zero; gmatch raises its errors in the thread
 * that calls it. Error messages are Lua's.
 */
#include "internal.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#define MAX_DEPTH 200       /* recursion of the matcher (Lua's MAXCCALLS) */
#define MAX_CAPTURES 32     /* Lua's LUA_MAXCAPTURES */
#define CHARGE_EVERY 4096   /* steps between charges */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define ESC '%'
#define SPECIALS "^$*+?.([%-"

typedef struct mstate {
	lua_State *L;
	const char *src_init, *src_end; /* the subject */
	const char *p_end;              /* end of the pattern */
	int depth;                      /* recursion left */
	int level;                      /* captures open or closed */
	long long steps;                /* not yet charged */
	struct {
		const char *init;
		ptrdiff_t len;
	} capture[MAX_CAPTURES];
} mstate;

static void step(mstate *ms, long long n)
{
	ms->steps += n;
	if (ms->steps >= CHARGE_EVERY) {
		long long s = ms->steps;

		ms->steps = 0;
		cairn_lua_charge(ms->L, s);
	}
}

static void settle(mstate *ms)
{
	long long s = ms->steps;

	ms->steps = 0;
	if (s)
		cairn_lua_charge(ms->L, s);
}

static const char *match(mstate *ms, const char *s, const char *p);

/* -- single characters -------------------------------------------------------- */

static int class_matches(int c, int cl)
{
	int res;

	switch (tolower(cl)) {
	case 'a': res = isalpha(c); break;
	case 'c': res = iscntrl(c); break;
	case 'd': res = isdigit(c); break;
	case 'g': res = isgraph(c); break;
	case 'l': res = islower(c); break;
	case 'p': res = ispunct(c); break;
	case 's': res = isspace(c); break;
	case 'u': res = isupper(c); break;
	case 'w': res = isalnum(c); break;
	case 'x': res = isxdigit(c); break;
	case 'z': res = c == 0; break; /* deprecated, still in Lua 5.4 */
	default: return cl == c;
	}
	if (isupper(cl))
		res = !res;
	return res;
}

/* c against the set [...] from p ('[') to ec (its ']'). */
static int set_matches(int c, const char *p, const char *ec)
{
	int yes = 1;

	if (p[1] == '^') {
		yes = 0;
		p++;
	}
	while (++p < ec) {
		if (*p == ESC) {
			p++;
			if (class_matches(c, (unsigned char)*p))
				return yes;
		} else if (p[1] == '-' && p + 2 < ec) {
			p += 2;
			if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p)
				return yes;
		} else if ((unsigned char)*p == c) {
			return yes;
		}
	}
	return !yes;
}

/* The end of the single-character class that starts at p. */
static const char *class_end(mstate *ms, const char *p)
{
	switch (*p++) {
	case ESC:
		if (p == ms->p_end)
			luaL_error(ms->L, "malformed pattern (ends with '%%')");
		return p + 1;
	case '[':
		if (*p == '^')
			p++;
		do { /* the first character of a set may be ']' */
			if (p == ms->p_end)
				luaL_error(ms->L, "malformed pattern (missing ']')");
			if (*(p++) == ESC && p < ms->p_end)
				p++;
		} while (*p != ']');
		return p + 1;
	default:
		return p;
	}
}

/* Does the character at s match the class [p, ep)? */
static int single(const mstate *ms, const char *s, const char *p, const char *ep)
{
	int c;

	if (s >= ms->src_end)
		return 0;
	c = (unsigned char)*s;
	switch (*p) {
	case '.': return 1;
	case ESC: return class_matches(c, (unsigned char)p[1]);
	case '[': return set_matches(c, p, ep - 1);
	default: return (unsigned char)*p == c;
	}
}

/* -- items -------------------------------------------------------------------- */

static const char *balance(mstate *ms, const char *s, const char *p)
{
	int open, close, depth = 1;
	const char *start = s;

	if (p >= ms->p_end - 1)
		luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= ms->src_end || *s != *p)
		return NULL;
	open = *p;
	close = p[1];
	while (++s < ms->src_end) {
		if (*s == close) {
			if (--depth == 0) {
				step(ms, s - start);
				return s + 1;
			}
		} else if (*s == open) {
			depth++;
		}
	}
	step(ms, s - start);
	return NULL;
}

/* The longest run of the class, then shorter ones, until the rest matches. */
static const char *expand_max(mstate *ms, const char *s, const char *p, const char *ep)
{
	ptrdiff_t i = 0;
	const char *res;

	while (single(ms, s + i, p, ep))
		i++;
	step(ms, i);
	for (; i >= 0; i--) {
		if ((res = match(ms, s + i, ep + 1)))
			return res;
	}
	return NULL;
}

/* The shortest run of the class that lets the rest match. */
static const char *expand_min(mstate *ms, const char *s, const char *p, const char *ep)
{
	const char *res;

	for (;;) {
		if ((res = match(ms, s, ep + 1)))
			return res;
		if (!single(ms, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *open_capture(mstate *ms, const char *s, const char *p, ptrdiff_t what)
{
	const char *res;
	int level = ms->level;

	if (level >= MAX_CAPTURES)
		luaL_error(ms->L, "too many captures");
	ms->capture[level].init = s;
	ms->capture[level].len = what;
	ms->level = level + 1;
	if (!(res = match(ms, s, p)))
		ms->level--;
	return res;
}

static const char *close_capture(mstate *ms, const char *s, const char *p)
{
	const char *res;
	int l;

	for (l = ms->level - 1; l >= 0; l--)
		if (ms->capture[l].len == CAP_UNFINISHED)
			break;
	if (l < 0)
		luaL_error(ms->L, "invalid pattern capture");
	ms->capture[l].len = s - ms->capture[l].init;
	if (!(res = match(ms, s, p)))
		ms->capture[l].len = CAP_UNFINISHED;
	return res;
}

static int capture_index(mstate *ms, int digit)
{
	int l = digit - '1';

	if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
		return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
	return l;
}

/* A back reference %1..%9: the same text again. */
static const char *back_reference(mstate *ms, const char *s, int digit)
{
	int l = capture_index(ms, digit);
	ptrdiff_t len = ms->capture[l].len;

	if (len < 0 || ms->src_end - s < len)
		return NULL; /* a position capture matches nothing */
	step(ms, len);
	if (memcmp(ms->capture[l].init, s, (size_t)len) != 0)
		return NULL;
	return s + len;
}

/* %f[set]: a frontier, where the previous character is not in the set and
 * the next one is. */
static const char *frontier(mstate *ms, const char *s, const char **pp)
{
	const char *p = *pp + 2, *ep;
	int prev, cur;

	if (*p != '[')
		luaL_error(ms->L, "missing '[' after '%%f' in pattern");
	ep = class_end(ms, p);
	prev = s == ms->src_init ? '\0' : (unsigned char)s[-1];
	cur = s < ms->src_end ? (unsigned char)*s : '\0';
	if (set_matches(prev, p, ep - 1) || !set_matches(cur, p, ep - 1))
		return NULL;
	*pp = ep;
	return s;
}

/* Match the pattern from p against the subject from s: the end of the
 * match, or NULL. */
static const char *match(mstate *ms, const char *s, const char *p)
{
	const char *ep;

	if (ms->depth-- == 0)
		luaL_error(ms->L, "pattern too complex");
	for (;;) {
		step(ms, 1);
		if (p == ms->p_end)
			break;
		if (*p == '(') {
			s = p + 1 < ms->p_end && p[1] == ')' ? open_capture(ms, s, p + 2, CAP_POSITION)
							      : open_capture(ms, s, p + 1, CAP_UNFINISHED);
			break;
		}
		if (*p == ')') {
			s = close_capture(ms, s, p + 1);
			break;
		}
		if (*p == '$' && p + 1 == ms->p_end) {
			s = s == ms->src_end ? s : NULL;
			break;
		}
		if (*p == ESC && p[1] == 'b') {
			if (!(s = balance(ms, s, p + 2)))
				break;
			p += 4;
			continue;
		}
		if (*p == ESC && p[1] == 'f') {
			if (!(s = frontier(ms, s, &p)))
				break;
			continue;
		}
		if (*p == ESC && p[1] >= '0' && p[1] <= '9') {
			if (!(s = back_reference(ms, s, (unsigned char)p[1])))
				break;
			p += 2;
			continue;
		}
		/* a single-character class, maybe with a quantifier */
		ep = class_end(ms, p);
		if (!single(ms, s, p, ep)) {
			if (*ep == '*' || *ep == '?' || *ep == '-') {
				p = ep + 1; /* zero of them is a match */
				continue;
			}
			s = NULL;
			break;
		}
		if (*ep == '?') {
			const char *res = match(ms, s + 1, ep + 1);

			if (res) {
				s = res;
				break;
			}
			p = ep + 1;
			continue;
		}
		if (*ep == '+') {
			s = expand_max(ms, s + 1, p, ep);
			break;
		}
		if (*ep == '*') {
			s = expand_max(ms, s, p, ep);
			break;
		}
		if (*ep == '-') {
			s = expand_min(ms, s, p, ep);
			break;
		}
		s++;
		p = ep;
	}
	ms->depth++;
	return s;
}

/* -- captures ----------------------------------------------------------------- */

/* Capture i (or the whole match s..e when there are none): pushes a
 * position capture, else sets *cap and returns the length. */
static ptrdiff_t get_capture(mstate *ms, int i, const char *s, const char *e, const char **cap)
{
	ptrdiff_t len;

	if (i >= ms->level) {
		if (i != 0)
			luaL_error(ms->L, "invalid capture index %%%d", i + 1);
		*cap = s;
		return e - s;
	}
	len = ms->capture[i].len;
	*cap = ms->capture[i].init;
	if (len == CAP_UNFINISHED)
		luaL_error(ms->L, "unfinished capture");
	else if (len == CAP_POSITION)
		lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
	return len;
}

static void push_capture(mstate *ms, int i, const char *s, const char *e)
{
	const char *cap;
	ptrdiff_t len = get_capture(ms, i, s, e, &cap);

	if (len != CAP_POSITION)
		lua_pushlstring(ms->L, cap, (size_t)len);
}

static int push_captures(mstate *ms, const char *s, const char *e)
{
	int n = ms->level == 0 && s ? 1 : ms->level, i;

	luaL_checkstack(ms->L, n, "too many captures");
	for (i = 0; i < n; i++)
		push_capture(ms, i, s, e);
	return n;
}

static void state_init(mstate *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
	ms->L = L;
	ms->src_init = s;
	ms->src_end = s + ls;
	ms->p_end = p + lp;
	ms->steps = 0;
}

static void state_reset(mstate *ms)
{
	ms->level = 0;
	ms->depth = MAX_DEPTH;
}

/* -- the library functions -------------------------------------------------------- */

/* A 1-based position, negative from the end, clipped to [1, len + 1]. */
static size_t start_index(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static bool no_specials(const char *p, size_t lp)
{
	size_t upto = 0;

	do {
		if (strpbrk(p + upto, SPECIALS))
			return false;
		upto += strlen(p + upto) + 1; /* past an embedded zero */
	} while (upto <= lp);
	return true;
}

static int find_or_match(lua_State *L, bool find)
{
	size_t ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *s1, *res;
	bool anchor;
	mstate ms;

	init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
		const char *at = lp ? memmem(s + init, ls - init, p, lp) : s + init;

		cairn_lua_charge(L, (long long)((ls - init) / 64));
		if (!at) {
			luaL_pushfail(L);
			return 1;
		}
		lua_pushinteger(L, (lua_Integer)(at - s) + 1);
		lua_pushinteger(L, (lua_Integer)(at - s + (ptrdiff_t)lp));
		return 2;
	}
	anchor = *p == '^';
	if (anchor) {
		p++;
		lp--;
	}
	state_init(&ms, L, s, ls, p, lp);
	s1 = s + init;
	do {
		state_reset(&ms);
		if ((res = match(&ms, s1, p))) {
			settle(&ms);
			if (find) {
				lua_pushinteger(L, (lua_Integer)(s1 - s) + 1);
				lua_pushinteger(L, (lua_Integer)(res - s));
				return push_captures(&ms, NULL, NULL) + 2;
			}
			return push_captures(&ms, s1, res);
		}
	} while (s1++ < ms.src_end && !anchor);
	settle(&ms);
	luaL_pushfail(L);
	return 1;
}

static int l_find(lua_State *L)
{
	return find_or_match(L, true);
}

static int l_match(lua_State *L)
{
	return find_or_match(L, false);
}

typedef struct gmatch_state {
	const char *src;       /* where the next search starts */
	const char *p;
	const char *lastmatch; /* end of the last match */
	mstate ms;
} gmatch_state;

static int gmatch_next(lua_State *L)
{
	gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
	const char *src, *e;

	gm->ms.L = L; /* the thread that calls it now */
	for (src = gm->src; src <= gm->ms.src_end; src++) {
		state_reset(&gm->ms);
		if ((e = match(&gm->ms, src, gm->p)) && e != gm->lastmatch) {
			gm->src = gm->lastmatch = e;
			settle(&gm->ms);
			return push_captures(&gm->ms, src, e);
		}
	}
	gm->src = src;
	settle(&gm->ms);
	return 0;
}

static int l_gmatch(lua_State *L)
{
	size_t ls, lp, init;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	gmatch_state *gm;

	init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	lua_settop(L, 2); /* the strings stay alive as upvalues */
	gm = lua_newuserdatauv(L, sizeof(*gm), 0);
	if (init > ls)
		init = ls + 1; /* no match at all */
	state_init(&gm->ms, L, s, ls, p, lp);
	gm->src = s + init;
	gm->p = p;
	gm->lastmatch = NULL;
	lua_pushcclosure(L, gmatch_next, 3);
	return 1;
}

/* The replacement string (argument 3) with %0..%9 and %%. */
static void add_string(mstate *ms, luaL_Buffer *b, const char *s, const char *e)
{
	lua_State *L = ms->L;
	size_t l;
	const char *news = lua_tolstring(L, 3, &l), *p;

	while ((p = memchr(news, ESC, l))) {
		luaL_addlstring(b, news, (size_t)(p - news));
		p++;
		if (*p == ESC) {
			luaL_addchar(b, *p);
		} else if (*p == '0') {
			luaL_addlstring(b, s, (size_t)(e - s));
		} else if (isdigit((unsigned char)*p)) {
			push_capture(ms, *p - '1', s, e);
			luaL_tolstring(L, -1, NULL);
			lua_remove(L, -2);
			luaL_addvalue(b);
		} else {
			luaL_error(L, "invalid use of '%c' in replacement string", ESC);
		}
		l -= (size_t)(p + 1 - news);
		news = p + 1;
	}
	luaL_addlstring(b, news, l);
}

/* Add the replacement of the match s..e; false when the match stays. */
static bool add_value(mstate *ms, luaL_Buffer *b, const char *s, const char *e, int tr)
{
	lua_State *L = ms->L;

	switch (tr) {
	case LUA_TFUNCTION:
		lua_pushvalue(L, 3);
		lua_call(L, push_captures(ms, s, e), 1);
		break;
	case LUA_TTABLE:
		push_capture(ms, 0, s, e);
		lua_gettable(L, 3);
		break;
	default:
		add_string(ms, b, s, e);
		return true;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return false;
	}
	if (!lua_isstring(L, -1))
		luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	luaL_addvalue(b);
	return true;
}

static int l_gsub(lua_State *L)
{
	size_t srcl, lp;
	const char *src = luaL_checklstring(L, 1, &srcl);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *lastmatch = NULL, *e;
	int tr = lua_type(L, 3);
	lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1), n = 0;
	bool anchor = *p == '^', changed = false;
	mstate ms;
	luaL_Buffer b;

	luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE,
			 3, "string/function/table");
	luaL_buffinit(L, &b);
	if (anchor) {
		p++;
		lp--;
	}
	state_init(&ms, L, src, srcl, p, lp);
	while (n < max_s) {
		state_reset(&ms);
		if ((e = match(&ms, src, p)) && e != lastmatch) {
			n++;
			changed = add_value(&ms, &b, src, e, tr) || changed;
			src = lastmatch = e;
		} else if (src < ms.src_end) {
			luaL_addchar(&b, *src++);
		} else {
			break;
		}
		if (anchor)
			break;
	}
	settle(&ms);
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

/* string.rep(s, n [, sep]) with its size checked against the memory cap
 * before anything is allocated. */
static int l_rep(lua_State *L)
{
	cairn_lua *rt = cairn_lua_rt(L);
	size_t l, lsep, total;
	const char *s = luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	const char *sep = luaL_optlstring(L, 3, "", &lsep);
	luaL_Buffer b;
	char *p;

	if (n <= 0 || l + lsep == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (l + lsep < l || (lua_Unsigned)n > rt->mem_limit / (l + lsep) + 1)
		return luaL_error(L, "resulting string too large");
	total = (size_t)n * l + (size_t)(n - 1) * lsep;
	if (total > rt->mem_limit)
		return luaL_error(L, "resulting string too large");
	cairn_lua_charge(L, (long long)(total / 64));
	p = luaL_buffinitsize(L, &b, total);
	while (n-- > 1) {
		memcpy(p, s, l);
		p += l;
		if (lsep) {
			memcpy(p, sep, lsep);
			p += lsep;
		}
	}
	memcpy(p, s, l);
	luaL_pushresultsize(&b, total);
	return 1;
}

static const luaL_Reg pattern_lib[] = {
	{ "find", l_find },
	{ "match", l_match },
	{ "gmatch", l_gmatch },
	{ "gsub", l_gsub },
	{ "rep", l_rep },
	{ NULL, NULL },
};

void cairn_lua_open_patterns(lua_State *L, int string_idx)
{
	string_idx = lua_absindex(L, string_idx);
	lua_pushvalue(L, string_idx);
	luaL_setfuncs(L, pattern_lib, 0);
	lua_pop(L, 1);
}
