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
 */
#include "internal.h"
#include "../provisioner/buf.h"

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_SEP '\x01'
#define MAX_DEPTH 256

typedef struct frame {
	char *name;
	json_t *obj;    /* children and _attr; NULL while a leaf */
	cairn_buf text;
} frame;

typedef struct xp {
	XML_Parser parser;
	frame stack[MAX_DEPTH];
	size_t depth;
	json_t *root;
	char *root_name;
	char *err;
	size_t errlen;
	bool failed;
} xp;

static const char *local_name(const char *name)
{
	const char *sep = strrchr(name, NS_SEP);

	return sep ? sep + 1 : name;
}

static void fail(xp *x, const char *msg)
{
	if (!x->failed)
		snprintf(x->err, x->errlen, "invalid XML at line %lu: %s",
			 (unsigned long)XML_GetCurrentLineNumber(x->parser), msg);
	x->failed = true;
	XML_StopParser(x->parser, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	xp *x = ud;
	frame *f;
	json_t *a = NULL;
	size_t i;

	if (x->failed)
		return;
	if (x->depth >= MAX_DEPTH) {
		fail(x, "elements nested too deeply");
		return;
	}
	f = &x->stack[x->depth++];
	memset(f, 0, sizeof(*f));
	cairn_buf_init(&f->text, 0);
	f->name = strdup(local_name(name));
	if (!f->name)
		goto oom;
	for (i = 0; attrs[i]; i += 2) {
		if (!a && !(a = json_object()))
			goto oom;
		if (json_object_set_new(a, local_name(attrs[i]), json_string(attrs[i + 1])) < 0)
			goto oom;
	}
	if (a) {
		if (!(f->obj = json_object()) || json_object_set_new(f->obj, "_attr", a) < 0) {
			a = NULL;
			goto oom;
		}
	}
	return;
oom:
	json_decref(a);
	fail(x, "out of memory");
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	xp *x = ud;

	if (x->failed || !x->depth)
		return;
	if (cairn_buf_put(&x->stack[x->depth - 1].text, s, (size_t)len) < 0)
		fail(x, "text too large");
}

static bool blank(const cairn_buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (b->ptr[i] != ' ' && b->ptr[i] != '\t' && b->ptr[i] != '\n' && b->ptr[i] != '\r')
			return false;
	return true;
}

static int add_child(json_t *parent, const char *name, json_t *v)
{
	json_t *old = json_object_get(parent, name), *arr;

	if (!old)
		return json_object_set_new(parent, name, v);
	if (json_is_array(old))
		return json_array_append_new(old, v);
	arr = json_array();
	if (!arr || json_array_append(arr, old) < 0 || json_array_append_new(arr, v) < 0) {
		json_decref(arr);
		return -1;
	}
	return json_object_set_new(parent, name, arr);
}

static void frame_release(frame *f)
{
	free(f->name);
	json_decref(f->obj);
	cairn_buf_release(&f->text);
	memset(f, 0, sizeof(*f));
}

static void on_end(void *ud, const XML_Char *name)
{
	xp *x = ud;
	frame *f, *parent;
	json_t *v;

	if (x->failed || !x->depth)
		return;
	f = &x->stack[--x->depth];
	if (!f->obj) {
		v = json_stringn(cairn_buf_cstr(&f->text), f->text.len);
	} else {
		v = f->obj;
		f->obj = NULL;
		if (!blank(&f->text) &&
		    json_object_set_new(v, "_text", json_stringn(f->text.ptr, f->text.len)) < 0) {
			json_decref(v);
			v = NULL;
		}
	}
	if (!v) {
		frame_release(f);
		fail(x, "out of memory");
		return;
	}
	if (x->depth == 0) {
		x->root = v;
		x->root_name = f->name;
		f->name = NULL;
		frame_release(f);
		return;
	}
	parent = &x->stack[x->depth - 1];
	if (!parent->obj && !(parent->obj = json_object())) {
		json_decref(v);
		frame_release(f);
		fail(x, "out of memory");
		return;
	}
	if (add_child(parent->obj, f->name, v) < 0)
		fail(x, "out of memory");
	frame_release(f);
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal_subset)
{
	fail(ud, "document type declarations are not accepted");
}

json_t *cairn_xml_to_json(const char *text, size_t len, char **root_name, char *err, size_t errlen)
{
	xp *x = calloc(1, sizeof(*x));
	json_t *out = NULL;
	size_t i;

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->err = err;
	x->errlen = errlen;
	x->parser = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!x->parser) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetCharacterDataHandler(x->parser, on_text);
	XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
	if (len > (size_t)0x7fffffff) {
		snprintf(err, errlen, "XML document too large");
		goto cleanup;
	}
	if (XML_Parse(x->parser, text, (int)len, XML_TRUE) != XML_STATUS_OK && !x->failed) {
		snprintf(err, errlen, "invalid XML at line %lu: %s",
			 (unsigned long)XML_GetCurrentLineNumber(x->parser),
			 XML_ErrorString(XML_GetErrorCode(x->parser)));
		x->failed = true;
	}
	if (!x->failed && !x->root) {
		snprintf(err, errlen, "invalid XML: no root element");
		x->failed = true;
	}
	if (!x->failed) {
		out = x->root;
		x->root = NULL;
		*root_name = x->root_name;
		x->root_name = NULL;
	}
cleanup:
	for (i = 0; i < x->depth; i++)
		frame_release(&x->stack[i]);
	json_decref(x->root);
	free(x->root_name);
	if (x->parser)
		XML_ParserFree(x->parser);
	free(x);
	return out;
}

/* cairn.xml.decode(text) -> value, root_name | nil, err */
static int l_decode(lua_State *L)
{
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	char err[512], *root_name = NULL;
	json_t *j;
	int status;

	j = cairn_xml_to_json(s, len, &root_name, err, sizeof(err));
	if (!j) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	status = cairn_lua_push_json_safe(L, j);
	json_decref(j);
	if (status != LUA_OK) {
		free(root_name);
		return lua_error(L);
	}
	cairn_lua_push_owned(L, root_name, strlen(root_name));
	return 2;
}

/* cairn.xml.list(node, name) -> array of node[name] (always an array). */
static int l_list(lua_State *L)
{
	int marked = 0;

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
	if (lua_istable(L, -1) && lua_getmetatable(L, -1)) {
		marked = lua_topointer(L, -1) == cairn_lua_rt(L)->array_mt;
		lua_pop(L, 1);
	}
	if (marked)
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
