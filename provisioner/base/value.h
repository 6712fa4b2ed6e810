/*
 * value.h - the value model: jansson's json_t, plus "unknown".
 *
 * Every configuration value, attribute and expression result in cairn is a
 * json_t (string, number, bool, null, array = list, object = map). A value
 * that will only be known after apply (a computed attribute of a resource
 * that is still to be created) is the "unknown" marker: a json object with
 * the single key CAIRN_UNKNOWN_KEY. It never reaches the state store or a
 * module; expressions propagate it (unknown + 1 is unknown).
 */
#ifndef CAIRN_VALUE_H
#define CAIRN_VALUE_H

#include <jansson.h>
#include <stdbool.h>

#define CAIRN_UNKNOWN_KEY "\x01unknown"

/* A new reference to an unknown value. */
json_t *cairn_unknown(void);
bool cairn_is_unknown(const json_t *v);
/* True if v or anything inside it is unknown. */
bool cairn_has_unknown(const json_t *v);

/* A JSON string of len bytes, NULL when they are not UTF-8 (or on OOM).
 * Text that is all ASCII skips jansson's byte-by-byte UTF-8 check. */
json_t *cairn_json_stringn(const char *s, size_t len);
bool cairn_is_ascii(const char *s, size_t len);

/* Type names as the user sees them: "string", "number", "bool", "list",
 * "map", "null", "unknown". */
const char *cairn_value_type_name(const json_t *v);

/* Render v for humans (plan output): strings quoted, lists/maps compact JSON,
 * unknown as "(known after apply)". Returns malloc'd string. */
char *cairn_value_render(const json_t *v);
/* The keys of object v, sorted (strcmp), in a malloc'd array the caller
 * frees (the strings are v's); *n their count. NULL when out of memory. */
const char **cairn_json_sorted_keys(const json_t *v, size_t *n);

/* Deep equality that treats 1 and 1.0 as equal. */
bool cairn_value_equal(const json_t *a, const json_t *b);

/* Durations as people write them: "90s", "30m", "1h30m", "2h", "1.5h",
 * "250ms", "2d", or a bare number of seconds. Each part is digits with an
 * optional fraction and a unit (no sign, spaces, exponent, inf or nan); a
 * bare number stands alone ("1h30" is refused: a unit is missing). The
 * caller gives the rules: which units it takes, the bounds in seconds
 * (inclusive) and whether 0 is allowed. One parser for the stack's
 * timeouts, checks' intervals and the CLI's --lock-timeout and --ttl. */
enum {
	CAIRN_DURATION_MS = 1 << 0, /* "ms" */
	CAIRN_DURATION_S = 1 << 1,  /* "s" (a bare number is seconds too) */
	CAIRN_DURATION_M = 1 << 2,  /* "m" */
	CAIRN_DURATION_H = 1 << 3,  /* "h" */
	CAIRN_DURATION_D = 1 << 4,  /* "d", 24 hours */
};
typedef struct {
	double min, max; /* seconds, both inclusive; max may be HUGE_VAL */
	bool zero;       /* 0 is allowed (whatever min says) */
	unsigned units;  /* CAIRN_DURATION_* allowed */
} cairn_duration_rules;

/* The stack's timeouts (Terraform's): s, m, h; more than 0, at most 7 days. */
extern const cairn_duration_rules cairn_duration_timeouts;

/* Parse s by rules into *out (seconds). 0, or CAIRN_EINVAL with *out
 * untouched and no message set: the caller names the place and says what
 * it accepts. */
int cairn_duration_parse(const char *s, const cairn_duration_rules *rules, double *out);
/* The same back as text ("1h30m", "45s", "2.5s") into buf. */
void cairn_duration_format(double seconds, char *buf, size_t n);

#endif
