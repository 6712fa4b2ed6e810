/*
 * progress.c - the events of an apply as lines people or pipelines read
 * (progress.h). The engine says when an operation starts and ends, and
 * ticks while operations run; this file keeps the running ones with their
 * start times and decides when one has been running long enough to be
 * mentioned again.
 */
#include "progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cairn_progress_op {
	char *label, *address, *type, *action;
	double start, last;      /* when it started, when it was last mentioned */
};

int cairn_progress_init(cairn_progress *p, cairn_jout *jout, FILE *log)
{
	const char *env = getenv("CAIRN_PROGRESS_INTERVAL");

	memset(p, 0, sizeof(*p));
	p->jout = jout;
	p->log = log;
	p->interval = CAIRN_PROGRESS_DEFAULT_INTERVAL;
	if (env && *env) {
		char *end;
		double v;

		errno = 0;
		v = strtod(env, &end);
		if (end == env || (*end && strcmp(end, "s") != 0) || errno || !(v > 0) || v > 86400)
			return cairn_error_set(CAIRN_EINVAL, "CAIRN_PROGRESS_INTERVAL expects seconds between progress "
					       "lines (a number > 0, e.g. 30 or 0.5), got '%s'", env);
		p->interval = v;
	}
	return 0;
}

static void op_release(cairn_progress_op *o)
{
	free(o->label);
	free(o->address);
	free(o->type);
	free(o->action);
}

void cairn_progress_release(cairn_progress *p)
{
	size_t i;

	for (i = 0; i < p->nops; i++)
		op_release(&p->ops[i]);
	free(p->ops);
	p->ops = NULL;
	p->nops = p->aops = 0;
}

/* What an operation is doing, for people: "creating", "destroying"... */
static const char *doing(const char *action)
{
	if (!strcmp(action, "delete"))
		return "destroying";
	if (!strcmp(action, "update"))
		return "modifying";
	if (!strcmp(action, "forget"))
		return "forgetting";
	return "creating";
}

static const char *done_noun(const char *action)
{
	if (!strcmp(action, "delete"))
		return "destruction";
	if (!strcmp(action, "update"))
		return "modifications";
	if (!strcmp(action, "forget"))
		return "forgetting";
	return "creation";
}

static cairn_progress_op *find_op(cairn_progress *p, const char *label)
{
	size_t i;

	for (i = 0; i < p->nops; i++)
		if (!strcmp(p->ops[i].label, label))
			return &p->ops[i];
	return NULL;
}

/* The operation's event object members: resource, action, elapsed. */
static json_t *hook(const cairn_event *ev, double elapsed, bool with_elapsed)
{
	json_t *o = json_pack("{s:{s:s,s:s},s:s}", "resource", "address", ev->address, "type", ev->type,
			      "action", ev->action);

	if (o && strcmp(ev->label, ev->address) != 0)
		json_object_set_new(o, "old_object", json_true()); /* the old object of a replacement */
	if (o && with_elapsed)
		json_object_set_new(o, "elapsed_seconds", json_real((double)(long long)(elapsed * 1000) / 1000));
	return o;
}

static void started(cairn_progress *p, const cairn_event *ev)
{
	cairn_progress_op *o;

	if (p->nops == p->aops) {
		size_t n = p->aops ? 2 * p->aops : 16;

		if (!(o = realloc(p->ops, n * sizeof(*o))))
			return;
		p->ops = o;
		p->aops = n;
	}
	o = &p->ops[p->nops];
	o->label = strdup(ev->label);
	o->address = strdup(ev->address);
	o->type = strdup(ev->type);
	o->action = strdup(ev->action);
	if (!o->label || !o->address || !o->type || !o->action) {
		op_release(o);
		return;
	}
	o->start = o->last = cairn_now();
	p->nops++;
	if (p->jout)
		cairn_jout_emit(p->jout, "apply_start", "info", hook(ev, 0, false), "%s: %s...", ev->label,
				doing(ev->action));
	/* the human line is the engine's log line ("web: creating...") */
}

static void finished(cairn_progress *p, const cairn_event *ev)
{
	cairn_progress_op *o = find_op(p, ev->label);
	double elapsed = o ? cairn_now() - o->start : 0;
	char d[32];

	cairn_jout_duration(d, sizeof(d), elapsed);
	if (p->jout && ev->kind == CAIRN_EV_DONE)
		cairn_jout_emit(p->jout, "apply_complete", "info", hook(ev, elapsed, true), "%s: %s complete after %s",
				ev->label, done_noun(ev->action), d);
	else if (p->jout) {
		json_t *f = hook(ev, elapsed, true);

		json_object_set_new(f, "error", json_string(ev->message));
		cairn_jout_emit(p->jout, "apply_errored", "error", f, "%s: %s failed after %s: %s", ev->label,
				ev->action, d, ev->message);
	}
	if (o) {
		op_release(o);
		*o = p->ops[--p->nops];
	}
}

/* Every operation running for another interval gets a line. */
static void tick(cairn_progress *p)
{
	double now = cairn_now();
	size_t i;

	for (i = 0; i < p->nops; i++) {
		cairn_progress_op *o = &p->ops[i];
		cairn_event ev = { CAIRN_EV_TICK, o->address, o->label, o->type, o->action, NULL };
		char d[32];

		if (now - o->last < p->interval)
			continue;
		o->last = now;
		cairn_jout_duration(d, sizeof(d), now - o->start);
		if (p->jout)
			cairn_jout_emit(p->jout, "apply_progress", "info", hook(&ev, now - o->start, true),
					"%s: still %s... (%s elapsed)", o->label, doing(o->action), d);
		else if (p->log) {
			fprintf(p->log, "%s: still %s... (%s elapsed)\n", o->label, doing(o->action), d);
			fflush(p->log);
		}
	}
}

void cairn_progress_event(void *ud, const cairn_event *ev)
{
	cairn_progress *p = ud;

	switch (ev->kind) {
	case CAIRN_EV_START: started(p, ev); break;
	case CAIRN_EV_DONE:
	case CAIRN_EV_FAILED: finished(p, ev); break;
	case CAIRN_EV_TICK: tick(p); break;
	}
}
