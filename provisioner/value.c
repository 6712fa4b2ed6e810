/*
 * value.c - helpers over json_t values (see value.h).
 */
#include "value.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

json_t *cairn_unknown(void)
{
	json_t *o = json_object();

	if (o)
		json_object_set_new(o, CAIRN_UNKNOWN_KEY, json_true());
	return o;
}

bool cairn_is_unknown(const json_t *v)
{
	return v && json_is_object(v) && json_object_size(v) == 1 &&
	       json_object_get(v, CAIRN_UNKNOWN_KEY) != NULL;
}

bool cairn_has_unknown(const json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;

	if (!v)
		return false;
	if (cairn_is_unknown(v))
		return true;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if (cairn_has_unknown(x))
				return true;
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			if (cairn_has_unknown(x))
				return true;
	}
	return false;
}

const char *cairn_value_type_name(const json_t *v)
{
	if (!v || json_is_null(v))
		return "null";
	if (cairn_is_unknown(v))
		return "unknown";
	switch (json_typeof(v)) {
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	case JSON_ARRAY: return "list";
	case JSON_OBJECT: return "map";
	default: return "null";
	}
}

char *cairn_value_render(const json_t *v)
{
	if (cairn_is_unknown(v))
		return strdup("(known after apply)");
	if (!v)
		return strdup("null");
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
}

bool cairn_value_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_array(a) && json_is_array(b)) {
		size_t n = json_array_size(a), i;

		if (n != json_array_size(b))
			return false;
		for (i = 0; i < n; i++)
			if (!cairn_value_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t *x;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, k, x)
			if (!cairn_value_equal(x, json_object_get(b, k)))
				return false;
		return true;
	}
	return json_equal((json_t *)a, (json_t *)b);
}
