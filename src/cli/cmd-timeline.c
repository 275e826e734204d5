// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig timeline TRACE -o OUT.svg`: the picture of a --trace without a browser.
 * The trace (Chrome trace-event JSON, ours or any other in that format) is read
 * bounded: its size, its events, its tracks; every field it uses is type-checked,
 * and a bad one is named with its event.  The SVG is written here, by hand: a time
 * axis with ticks, one lane per track (the jobs' phases and barriers, each device's
 * precopy rounds, stop-copy reads or writes, checks or soak cycles as coloured bars,
 * its arcs as markers, its bytes as a line), the verdicts and the exchanges with the
 * peer as vertical lines, each downtime window (a save's quiesce to its verdict)
 * shaded and labelled with its length, and a legend.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "util.h"

#define FILE_MAX     (64u << 20) /* bytes of a trace read */
#define EVENTS_MAX   1000000u
#define LANES_MAX    512u
#define DEPTH_MAX    16	   /* JSON nesting */
#define BEGIN_MAX    64	   /* open "B" events on one track */
#define DRAWN_MAX    50000u /* SVG shapes */
#define NAME_MAX_LEN 200
#define WIDTH_MIN    600
#define WIDTH_MAX    10000
#define TS_LIMIT     1e15 /* µs: about 30 years */

struct span {
	double start, end;
	size_t lane;
	char *name;
	const char *cat; /* interned: one of cats[] or "" */
	const char *result; /* check/cycle: "ok", "fail"..., or NULL */
	bool error;	    /* args.error present */
};

struct instant {
	double ts;
	size_t lane;
	char *name;
	const char *cat;
	double downtime; /* verdict: args.downtime_usec, -1 unknown */
	bool failed;
};

struct point {
	double ts, v;
};

struct lane {
	long long pid, tid;
	char name[NAME_MAX_LEN + 1];
	bool named;
	long long sort;
	size_t n_spans, n_arcs;
	/* open "B" events */
	double begin_ts[BEGIN_MAX];
	char *begin_name[BEGIN_MAX];
	const char *begin_cat[BEGIN_MAX];
	size_t n_begin;
	/* its bytes (a counter named "bytes NAME") */
	struct point *bytes;
	size_t n_bytes, cap_bytes;
	double bytes_max;
	size_t order; /* drawing position */
};

struct window {
	double start, end, reported;
	size_t lane;
};

struct tl {
	struct cli *cli;
	const char *path;
	char title[NAME_MAX_LEN + 1];
	struct lane *lanes[LANES_MAX]; /* in the order they came: spans index them */
	struct lane *sorted[LANES_MAX]; /* in the order they are drawn */
	size_t n_lanes;
	bool lanes_full;
	struct span *spans;
	size_t n_spans, cap_spans;
	struct instant *inst;
	size_t n_inst, cap_inst;
	struct window *win;
	size_t n_win, cap_win;
	size_t n_events, n_ignored;
	double t_min, t_max;
	char err[512];
	/* counters seen before their lane was named: kept by name */
	struct {
		char name[NAME_MAX_LEN + 1];
		long long pid;
		struct point *p;
		size_t n, cap;
	} *ctr;
	size_t n_ctr, cap_ctr;
	unsigned drawn, not_drawn;
	unsigned width;
};

static const char *const cats[] = { "phase",  "barrier", "arc",	     "precopy", "stop-copy",
				    "check",  "cycle",	 "verdict",  "exchange", "bytes" };

static const char *intern_cat(const char *c)
{
	for (size_t i = 0; c && i < ELEMENTSOF(cats); i++)
		if (streq(c, cats[i]))
			return cats[i];
	return "";
}

static int fail(struct tl *t, const char *fmt, ...) _printf_(2, 3);
static int fail(struct tl *t, const char *fmt, ...)
{
	va_list ap;
	int len = snprintf(t->err, sizeof(t->err), "%s: ", t->path);

	va_start(ap, fmt);
	if (len > 0 && (size_t)len < sizeof(t->err))
		vsnprintf(t->err + len, sizeof(t->err) - (size_t)len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int grow(void **p, size_t *cap, size_t n, size_t each)
{
	void *q;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 256;
	q = realloc(*p, c * each);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

/* ---- reading, every field checked ---- */

static const char *type_name(struct json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "missing";
}

/* A number field: 0, -ENOENT when absent (and not @required), -EINVAL (said). */
static int num(struct tl *t, size_t k, struct json_object *ev, const char *key,
	       bool required, double *ret)
{
	struct json_object *v;
	double d;

	if (!json_object_object_get_ex(ev, key, &v) || !v) {
		if (required)
			return fail(t, "event %zu: no \"%s\"", k, key);
		return -ENOENT;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return fail(t, "event %zu: \"%s\" is %s, not a number", k, key, type_name(v));
	d = json_object_get_double(v);
	if (!isfinite(d) || d < -TS_LIMIT || d > TS_LIMIT)
		return fail(t, "event %zu: \"%s\" is out of range", k, key);
	*ret = d;
	return 0;
}

static int integer(struct tl *t, size_t k, struct json_object *ev, const char *key,
		   long long *ret)
{
	struct json_object *v;

	*ret = 0;
	if (!json_object_object_get_ex(ev, key, &v) || !v)
		return 0; /* pid, tid: 0 when absent */
	if (!json_object_is_type(v, json_type_int))
		return fail(t, "event %zu: \"%s\" is %s, not an integer", k, key, type_name(v));
	*ret = (long long)json_object_get_int64(v);
	return 0;
}

/* A string field: NULL when absent (-ENOENT unless @required), -EINVAL when not a
 * string. */
static int str(struct tl *t, size_t k, struct json_object *ev, const char *key,
	       bool required, const char **ret)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(ev, key, &v) || !v) {
		if (required)
			return fail(t, "event %zu: no \"%s\"", k, key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return fail(t, "event %zu: \"%s\" is %s, not a string", k, key, type_name(v));
	*ret = json_object_get_string(v);
	return 0;
}

static int args_of(struct tl *t, size_t k, struct json_object *ev, struct json_object **ret)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(ev, "args", &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return fail(t, "event %zu: \"args\" is %s, not an object", k, type_name(v));
	*ret = v;
	return 0;
}

static struct lane *lane_of(struct tl *t, long long pid, long long tid, size_t *ret_index)
{
	struct lane *l;

	for (size_t i = 0; i < t->n_lanes; i++)
		if (t->lanes[i]->pid == pid && t->lanes[i]->tid == tid) {
			*ret_index = i;
			return t->lanes[i];
		}
	if (t->n_lanes >= LANES_MAX) {
		t->lanes_full = true;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->pid = pid;
	l->tid = tid;
	l->sort = tid;
	snprintf(l->name, sizeof(l->name), "pid %lld tid %lld", pid, tid);
	*ret_index = t->n_lanes;
	t->lanes[t->n_lanes++] = l;
	return l;
}

static char *dup_name(const char *s)
{
	return strndup(s ? s : "", NAME_MAX_LEN);
}

static int add_span(struct tl *t, size_t lane, double start, double end, const char *name,
		    const char *cat, struct json_object *args)
{
	struct span *s;
	struct json_object *v;

	if (grow((void **)&t->spans, &t->cap_spans, t->n_spans, sizeof(*s)) < 0)
		return -ENOMEM;
	s = &t->spans[t->n_spans];
	*s = (struct span){ .start = start, .end = end, .lane = lane, .cat = intern_cat(cat) };
	s->name = dup_name(name);
	if (!s->name)
		return -ENOMEM;
	if (args && json_object_object_get_ex(args, "result", &v) &&
	    json_object_is_type(v, json_type_string))
		s->result = streq(json_object_get_string(v), "ok")	   ? "ok"
			    : streq(json_object_get_string(v), "warn") ? "warn"
			    : streq(json_object_get_string(v), "skip") ? "skip"
								      : "fail";
	s->error = args && json_object_object_get_ex(args, "error", &v) && v;
	t->n_spans++;
	t->lanes[lane]->n_spans++;
	if (s->cat == cats[2])
		t->lanes[lane]->n_arcs++;
	return 0;
}

static int add_counter(struct tl *t, size_t k, long long pid, const char *name, double ts,
		       struct json_object *args)
{
	struct json_object *v = NULL;
	size_t i;
	double d;

	if (!args)
		return fail(t, "event %zu: a counter without \"args\"", k);
	json_object_object_foreach(args, key, val) {
		if (!json_object_is_type(val, json_type_int) &&
		    !json_object_is_type(val, json_type_double))
			return fail(t, "event %zu: counter value \"%.40s\" is %s, not a number", k,
				    key, type_name(val));
		if (!v)
			v = val;
	}
	if (!v || strncmp(name, "bytes ", 6) != 0)
		return 0; /* drawn: our bytes counters only */
	d = json_object_get_double(v);
	if (!isfinite(d) || d < 0 || d > 1e19)
		return fail(t, "event %zu: counter value out of range", k);
	for (i = 0; i < t->n_ctr; i++)
		if (t->ctr[i].pid == pid && streq(t->ctr[i].name, name + 6))
			break;
	if (i == t->n_ctr) {
		if (grow((void **)&t->ctr, &t->cap_ctr, t->n_ctr, sizeof(*t->ctr)) < 0)
			return -ENOMEM;
		memset(&t->ctr[i], 0, sizeof(t->ctr[i]));
		snprintf(t->ctr[i].name, sizeof(t->ctr[i].name), "%s", name + 6);
		t->ctr[i].pid = pid;
		t->n_ctr++;
	}
	if (grow((void **)&t->ctr[i].p, &t->ctr[i].cap, t->ctr[i].n, sizeof(struct point)) < 0)
		return -ENOMEM;
	t->ctr[i].p[t->ctr[i].n++] = (struct point){ ts, d };
	return 0;
}

static int read_event(struct tl *t, size_t k, struct json_object *ev)
{
	const char *ph, *name, *cat, *scope;
	struct json_object *args;
	long long pid, tid;
	struct lane *l;
	size_t li = 0;
	double ts = 0, dur = 0;
	int r;

	if (!json_object_is_type(ev, json_type_object))
		return fail(t, "event %zu is %s, not an object", k, type_name(ev));
	if ((r = str(t, k, ev, "ph", true, &ph)) < 0 || (r = str(t, k, ev, "name", false, &name)) < 0 ||
	    (r = str(t, k, ev, "cat", false, &cat)) < 0 || (r = integer(t, k, ev, "pid", &pid)) < 0 ||
	    (r = integer(t, k, ev, "tid", &tid)) < 0 || (r = args_of(t, k, ev, &args)) < 0)
		return r;
	if (strlen(ph) != 1)
		return fail(t, "event %zu: \"ph\" '%.8s' is not one letter", k, ph);
	if (*ph != 'M' && (r = num(t, k, ev, "ts", true, &ts)) < 0)
		return r;
	switch (*ph) {
	case 'M':
		if (!name)
			return fail(t, "event %zu: metadata without \"name\"", k);
		if (streq(name, "process_name") || streq(name, "thread_name") ||
		    streq(name, "thread_sort_index")) {
			struct json_object *v;
			bool sort = streq(name, "thread_sort_index");

			if (!args || !json_object_object_get_ex(args, sort ? "sort_index" : "name", &v) ||
			    !json_object_is_type(v, sort ? json_type_int : json_type_string))
				return fail(t, "event %zu: %s without args.%s (%s)", k, name,
					    sort ? "sort_index" : "name", sort ? "an integer" : "a string");
			if (streq(name, "process_name")) {
				if (!t->title[0])
					snprintf(t->title, sizeof(t->title), "%s", json_object_get_string(v));
				return 0;
			}
			l = lane_of(t, pid, tid, &li);
			if (!l)
				return t->lanes_full ? 0 : -ENOMEM;
			if (sort) {
				l->sort = (long long)json_object_get_int64(v);
			} else {
				snprintf(l->name, sizeof(l->name), "%s", json_object_get_string(v));
				l->named = true;
			}
		}
		return 0;
	case 'X':
		if ((r = num(t, k, ev, "dur", true, &dur)) < 0)
			return r;
		if (dur < 0)
			return fail(t, "event %zu: \"dur\" is negative", k);
		break;
	case 'B':
	case 'E':
	case 'i':
	case 'I':
	case 'C': break;
	default: t->n_ignored++; return 0; /* flows, async, samples...: not drawn */
	}
	if (*ph == 'C')
		return add_counter(t, k, pid, name ? name : "", ts, args);
	l = lane_of(t, pid, tid, &li);
	if (!l)
		return t->lanes_full ? 0 : -ENOMEM;
	t->t_min = MIN(t->t_min, ts);
	t->t_max = MAX(t->t_max, ts + dur);
	switch (*ph) {
	case 'X': return add_span(t, li, ts, ts + dur, name, cat, args);
	case 'B':
		if (l->n_begin >= BEGIN_MAX)
			return fail(t, "event %zu: more than %d \"B\" events open on one track", k,
				    BEGIN_MAX);
		l->begin_ts[l->n_begin] = ts;
		l->begin_name[l->n_begin] = dup_name(name);
		l->begin_cat[l->n_begin] = intern_cat(cat);
		if (!l->begin_name[l->n_begin])
			return -ENOMEM;
		l->n_begin++;
		return 0;
	case 'E':
		if (!l->n_begin)
			return fail(t, "event %zu: \"E\" without a \"B\" on its track", k);
		l->n_begin--;
		if (ts < l->begin_ts[l->n_begin])
			return fail(t, "event %zu: \"E\" before its \"B\"", k);
		r = add_span(t, li, l->begin_ts[l->n_begin], ts, l->begin_name[l->n_begin],
			     l->begin_cat[l->n_begin], args);
		free(l->begin_name[l->n_begin]);
		return r;
	default: break;
	}
	/* an instant */
	if ((r = str(t, k, ev, "s", false, &scope)) < 0)
		return r;
	if (grow((void **)&t->inst, &t->cap_inst, t->n_inst, sizeof(*t->inst)) < 0)
		return -ENOMEM;
	{
		struct instant *in = &t->inst[t->n_inst];
		struct json_object *v;

		*in = (struct instant){ .ts = ts, .lane = li, .cat = intern_cat(cat), .downtime = -1 };
		in->name = dup_name(name);
		if (!in->name)
			return -ENOMEM;
		if (args && json_object_object_get_ex(args, "downtime_usec", &v)) {
			if (!json_object_is_type(v, json_type_int) &&
			    !json_object_is_type(v, json_type_double))
				return fail(t, "event %zu: args.downtime_usec is %s, not a number", k,
					    type_name(v));
			in->downtime = json_object_get_double(v);
		}
		if (args && json_object_object_get_ex(args, "success", &v)) {
			if (!json_object_is_type(v, json_type_boolean))
				return fail(t, "event %zu: args.success is %s, not a boolean", k,
					    type_name(v));
			in->failed = !json_object_get_boolean(v);
		}
		t->n_inst++;
	}
	return 0;
}

static int read_trace(struct tl *t)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct json_tokener *tok;
	struct json_object *root = NULL, *events;
	enum json_tokener_error jerr;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int r = 0;

	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(t, "%s", strerror(errno)), -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > FILE_MAX)
		return fail(t, "%llu bytes: larger than a trace can be here (%u MiB)",
			    (unsigned long long)st.st_size, FILE_MAX >> 20);
	buf = malloc(FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	while ((n = read(fd, buf + len, FILE_MAX + 1 - len)) > 0 && len <= FILE_MAX)
		if ((len += (size_t)n) > FILE_MAX)
			break;
	if (n < 0)
		return fail(t, "%s", strerror(errno)), -EIO;
	if (len > FILE_MAX)
		return fail(t, "larger than a trace can be here (%u MiB)", FILE_MAX >> 20);
	if (len == 0)
		return fail(t, "empty: not a trace");
	tok = json_tokener_new_ex(DEPTH_MAX);
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_success) {
		size_t off = json_tokener_get_parse_end(tok);

		while (off < len && (buf[off] == ' ' || buf[off] == '\n' || buf[off] == '\r' ||
				     buf[off] == '\t'))
			off++;
		if (off < len) {
			json_object_put(root);
			json_tokener_free(tok);
			return fail(t, "not JSON: something follows the document at byte %zu", off);
		}
	}
	if (jerr != json_tokener_success) {
		json_object_put(root);
		r = fail(t, "not JSON: %s at byte %zu",
			 jerr == json_tokener_continue ? "it ends early"
						       : json_tokener_error_desc(jerr),
			 json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return r;
	}
	json_tokener_free(tok);
	/* the object format, or the bare array format */
	if (json_object_is_type(root, json_type_array)) {
		events = root;
	} else if (!json_object_is_type(root, json_type_object) ||
		   !json_object_object_get_ex(root, "traceEvents", &events) ||
		   !json_object_is_type(events, json_type_array)) {
		json_object_put(root);
		return fail(t, "not a trace: no \"traceEvents\" array (Chrome's Trace Event "
			       "Format)");
	}
	t->n_events = json_object_array_length(events);
	if (t->n_events > EVENTS_MAX) {
		json_object_put(root);
		return fail(t, "%zu events: more than %u", t->n_events, EVENTS_MAX);
	}
	t->t_min = INFINITY;
	t->t_max = -INFINITY;
	for (size_t k = 0; k < t->n_events && r >= 0; k++)
		r = read_event(t, k, json_object_array_get_idx(events, k));
	json_object_put(root);
	if (r == -ENOMEM && !t->err[0])
		fail(t, "%s", strerror(ENOMEM));
	if (r < 0)
		return r;
	/* "B" left open: they end with the trace */
	for (size_t i = 0; i < t->n_lanes && r >= 0; i++)
		while (t->lanes[i]->n_begin && r >= 0) {
			struct lane *l = t->lanes[i];

			l->n_begin--;
			r = add_span(t, i, l->begin_ts[l->n_begin], MAX(t->t_max, l->begin_ts[l->n_begin]),
				     l->begin_name[l->n_begin], l->begin_cat[l->n_begin], NULL);
			free(l->begin_name[l->n_begin]);
		}
	if (r < 0)
		return fail(t, "%s", strerror(-r)), r;
	if (!t->n_spans && !t->n_inst)
		return fail(t, "no spans and no instants: nothing to draw");
	if (t->t_max <= t->t_min)
		t->t_max = t->t_min + 1;
	return 0;
}

/* ---- what the trace says ---- */

static bool lane_is_device(const struct tl *t, const struct lane *l)
{
	if (l->n_arcs)
		return true;
	for (size_t i = 0; i < t->n_ctr; i++)
		if (t->ctr[i].pid == l->pid && streq(t->ctr[i].name, l->name))
			return true;
	return false;
}

static int cmp_lane(const void *a, const void *b)
{
	const struct lane *x = *(struct lane *const *)a, *y = *(struct lane *const *)b;

	if (x->sort != y->sort)
		return x->sort < y->sort ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* Each save's quiesce phase to the verdict that follows it on its track. */
static int find_windows(struct tl *t)
{
	for (size_t i = 0; i < t->n_spans; i++) {
		const struct span *s = &t->spans[i];
		const struct instant *v = NULL;

		if (s->cat != cats[0] || !streq(s->name, "quiesce"))
			continue;
		for (size_t k = 0; k < t->n_inst; k++) {
			const struct instant *in = &t->inst[k];

			if (in->cat == cats[7] && in->lane == s->lane && in->ts >= s->start &&
			    (!v || in->ts < v->ts))
				v = in;
		}
		if (!v)
			continue;
		if (grow((void **)&t->win, &t->cap_win, t->n_win, sizeof(*t->win)) < 0)
			return -ENOMEM;
		t->win[t->n_win++] = (struct window){ s->start, v->ts, v->downtime, s->lane };
	}
	return 0;
}

/* Counters to their lanes, in time order. */
static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;

	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static void attach_counters(struct tl *t)
{
	for (size_t i = 0; i < t->n_ctr; i++)
		for (size_t k = 0; k < t->n_lanes; k++) {
			struct lane *l = t->lanes[k];

			if (l->pid != t->ctr[i].pid || !streq(l->name, t->ctr[i].name) || l->bytes)
				continue;
			l->bytes = t->ctr[i].p;
			l->n_bytes = t->ctr[i].n;
			t->ctr[i].p = NULL;
			qsort(l->bytes, l->n_bytes, sizeof(*l->bytes), cmp_point);
			for (size_t p = 0; p < l->n_bytes; p++)
				l->bytes_max = MAX(l->bytes_max, l->bytes[p].v);
			break;
		}
}

/* ---- the SVG ---- */

#define LEFT	  190
#define RIGHT	  40
#define TOP	  96
#define WINDOWS_LABELLED 8  /* downtime windows labelled each; more: the longest */
#define LINES_ACROSS	 60 /* verdicts and exchanges drawn across every lane */
#define LANE_H	  36
#define LANE_GAP  6

static const char *phase_colour(const char *name)
{
	static const struct {
		const char *name, *colour;
	} c[] = {
		{ "header", "#a0a0a0" },   { "compat", "#c7c7c7" },   { "precopy", "#4e79a7" },
		{ "quiesce", "#e15759" },  { "stop-copy", "#f28e2b" }, { "resuming", "#76b7b2" },
		{ "load", "#59a14f" },	   { "verdict", "#b07aa1" },  { "commit", "#edc948" },
		{ "rollback", "#ff9da7" }, { "done", "#d0d0d0" },
	};

	for (size_t i = 0; i < ELEMENTSOF(c); i++)
		if (streq(name, c[i].name))
			return c[i].colour;
	return "#bab0ac";
}

static const char *span_colour(const struct span *s)
{
	if (s->cat == cats[0])
		return phase_colour(s->name);
	if (s->cat == cats[1])
		return s->error ? "#e15759" : "#404040";
	if (s->cat == cats[3])
		return "#4e79a7";
	if (s->cat == cats[4])
		return "#f28e2b";
	if (s->cat == cats[5] || s->cat == cats[6]) {
		if (!s->result)
			return "#bab0ac";
		return streq(s->result, "ok") ? "#8cd17d" : streq(s->result, "warn") ? "#b6992d"
						     : streq(s->result, "skip") ? "#d7d7d7"
										 : "#e15759";
	}
	return "#9d9d9d";
}

/* A lane's name, at most @max bytes: a long one keeps its end (what tells UUIDs and
 * PCI functions of one host apart), after an ellipsis. */
static void esc_tail(FILE *f, const char *s, size_t max)
{
	char buf[NAME_MAX_LEN + 8];
	size_t n = strnlen(s, NAME_MAX_LEN), from;

	if (n <= max || max < 4) {
		out_xml_escaped(f, s);
		return;
	}
	from = n - (max - 1);
	while (from < n && ((unsigned char)s[from] & 0xc0) == 0x80)
		from++;
	memcpy(buf, "\xe2\x80\xa6", 3);
	memcpy(buf + 3, s + from, n - from + 1);
	out_xml_escaped(f, buf);
}

static void esc(FILE *f, const char *s, size_t max)
{
	char buf[NAME_MAX_LEN + 8];
	size_t n = strnlen(s, NAME_MAX_LEN);

	if (n > max && max > 3) {
		/* cut on a character boundary, then an ellipsis */
		n = max - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		memcpy(buf, s, n);
		memcpy(buf + n, "\xe2\x80\xa6", 4);
	} else {
		memcpy(buf, s, n);
		buf[n] = '\0';
	}
	out_xml_escaped(f, buf);
}

static double xpos(const struct tl *t, double ts)
{
	return LEFT + (ts - t->t_min) / (t->t_max - t->t_min) * (double)(t->width - LEFT - RIGHT);
}

static void duration_text(char *buf, size_t size, double usec)
{
	if (usec >= 1e6)
		snprintf(buf, size, "%.3f s", usec / 1e6);
	else if (usec >= 1e3)
		snprintf(buf, size, "%.3f ms", usec / 1e3);
	else
		snprintf(buf, size, "%.0f us", usec);
}

static bool budget(struct tl *t)
{
	if (t->drawn >= DRAWN_MAX) {
		t->not_drawn++;
		return false;
	}
	t->drawn++;
	return true;
}

static void axis(FILE *f, const struct tl *t, double y0, double y1)
{
	static const double mult[] = { 1, 2, 5 };
	double range = t->t_max - t->t_min, step = 1, unit = 1;
	const char *uname = "us";

	for (double p = 1; p < 1e16; p *= 10) {
		size_t i;

		for (i = 0; i < ELEMENTSOF(mult); i++)
			if (range / (p * mult[i]) <= 10) {
				step = p * mult[i];
				break;
			}
		if (i < ELEMENTSOF(mult))
			break;
	}
	if (step >= 1e6) {
		unit = 1e6;
		uname = "s";
	} else if (step >= 1e3) {
		unit = 1e3;
		uname = "ms";
	}
	fprintf(f, "<g class=\"axis\" font-size=\"11\" fill=\"#333\">\n");
	fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%u\" y2=\"%.1f\" stroke=\"#333\"/>\n", LEFT,
		y0, t->width - RIGHT, y0);
	for (double v = 0; v <= range + step * 1e-9; v += step) {
		double x = xpos(t, t->t_min + v);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
			x, y0, x, y0 + 5);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
			x, y0 + 5, x, y1);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g %s</text>\n", x,
			y0 - 5, v / unit, uname);
	}
	fprintf(f, "</g>\n");
}

static void legend(FILE *f, struct tl *t, double y)
{
	static const struct {
		const char *label, *colour;
		int kind; /* 0 box, 1 arc marker, 2 line, 3 window, 4 dashed line */
	} items[] = {
		{ "precopy round / writes", "#4e79a7", 0 },
		{ "stop-copy read / writes", "#f28e2b", 0 },
		{ "quiesce", "#e15759", 0 },
		{ "verdict phase", "#b07aa1", 0 },
		{ "commit phase", "#edc948", 0 },
		{ "other phases", "#a0a0a0", 0 },
		{ "barrier (all devices)", "#404040", 0 },
		{ "check / cycle: ok", "#8cd17d", 0 },
		{ "warn", "#b6992d", 0 },
		{ "skip", "#d7d7d7", 0 },
		{ "failed", "#e15759", 0 },
		{ "arc (state change)", "#222222", 1 },
		{ "bytes moved", "#555555", 2 },
		{ "READY / COMMIT", "#6b6b6b", 4 },
		{ "verdict", "#2e7d32", 2 },
		{ "downtime: quiesce to verdict", "#e15759", 3 },
	};
	double x = LEFT, step = 0;

	fprintf(f, "<g class=\"legend\" font-size=\"11\" fill=\"#222\">\n");
	fprintf(f, "<text x=\"12\" y=\"%.1f\" font-weight=\"bold\">Legend</text>\n", y + 10);
	for (size_t i = 0; i < ELEMENTSOF(items); i++) {
		step = 26 + 6.2 * (double)strlen(items[i].label) + 18;
		if (x + step > t->width - RIGHT) {
			x = LEFT;
			y += 20;
		}
		switch (items[i].kind) {
		case 0:
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"12\" fill=\"%s\"/>\n",
				x, y, items[i].colour);
			break;
		case 1:
			fprintf(f, "<path d=\"M%.1f %.1fl5 9l5 -9z\" fill=\"%s\"/>\n", x + 4, y + 1,
				items[i].colour);
			break;
		case 2:
		case 4:
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
				   "stroke-width=\"2\"%s/>\n",
				x, y + 6, x + 18, y + 6, items[i].colour,
				items[i].kind == 4 ? " stroke-dasharray=\"4 3\"" : "");
			break;
		default:
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"12\" fill=\"%s\" "
				   "fill-opacity=\"0.15\" stroke=\"%s\"/>\n",
				x, y, items[i].colour, items[i].colour);
			break;
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 24, y + 10, items[i].label);
		x += step;
	}
	fprintf(f, "</g>\n");
}

static double lane_y(const struct lane *l)
{
	return TOP + (double)l->order * (LANE_H + LANE_GAP);
}

/* @label: its name inside it, where it fits, instead of the bar */
static void draw_span(FILE *f, struct tl *t, const struct span *s, bool label)
{
	const struct lane *l = t->lanes[s->lane];
	double x0 = xpos(t, s->start), x1 = xpos(t, s->end), y = lane_y(l), h = LANE_H - 8;
	/* dark text on the light fills */
	bool dark = s->cat == cats[5] || s->cat == cats[6] ||
		    (s->cat == cats[0] && (streq(s->name, "commit") || streq(s->name, "header") ||
					   streq(s->name, "compat") || streq(s->name, "done")));
	char d[32];

	if (s->cat == cats[2] || (!label && !budget(t)))
		return;
	if (s->cat == cats[1]) { /* a barrier: a band at the bottom of the job's lane */
		y += LANE_H - 10;
		h = 6;
	} else if (s->cat == cats[5] || s->cat == cats[6]) {
		h = LANE_H - 14; /* room for the arc markers above */
		y += 10;
	} else {
		y += 4;
	}
	if (label) {
		if (x1 - x0 > 7.0 * (double)MIN(strlen(s->name), 30u) + 8 && s->cat != cats[1] &&
		    budget(t)) {
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\" "
				   "text-anchor=\"middle\">",
				(x0 + x1) / 2, y + h / 2 + 4, dark ? "#222" : "#fff");
			esc(f, s->name, 30);
			fputs("</text>\n", f);
		}
		return;
	}
	duration_text(d, sizeof(d), s->end - s->start);
	/* a white edge tells adjacent checks and cycles apart */
	fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"%s>"
		   "<title>",
		x0, y, MAX(x1 - x0, 0.8), h, span_colour(s),
		s->cat == cats[5] || s->cat == cats[6] || s->cat == cats[0]
			? " stroke=\"#fff\" stroke-width=\"0.6\""
			: "");
	esc(f, s->name, NAME_MAX_LEN);
	fprintf(f, " (%s)</title></rect>\n", d);
}

static void draw_arc(FILE *f, struct tl *t, const struct span *s)
{
	const struct lane *l = t->lanes[s->lane];
	double x = xpos(t, s->end), y = lane_y(l);

	if (!budget(t))
		return;
	fprintf(f, "<path d=\"M%.2f %.1fl4 8l4 -8z\" fill=\"%s\"><title>", x - 4, y + 1,
		s->error ? "#d62728" : "#222");
	esc(f, s->name, NAME_MAX_LEN);
	fprintf(f, " (%.0f us)</title></path>\n", s->end - s->start);
}

static void draw_bytes(FILE *f, struct tl *t, const struct lane *l)
{
	double y0 = lane_y(l) + LANE_H - 4, h = LANE_H - 12;
	size_t step = l->n_bytes > 4000 ? l->n_bytes / 4000 + 1 : 1;

	if (!l->n_bytes || l->bytes_max <= 0 || !budget(t))
		return;
	fprintf(f, "<polyline fill=\"none\" stroke=\"#555\" stroke-width=\"1.2\" "
		   "stroke-opacity=\"0.8\" points=\"");
	fprintf(f, "%.2f,%.1f ", xpos(t, l->bytes[0].ts), y0); /* from nothing */
	for (size_t p = 0; p < l->n_bytes; p += step) {
		double y = y0 - l->bytes[p].v / l->bytes_max * h;

		/* a step: the value holds until the next point */
		if (p)
			fprintf(f, "%.2f,%.1f ", xpos(t, l->bytes[p].ts),
				y0 - l->bytes[p - step].v / l->bytes_max * h);
		fprintf(f, "%.2f,%.1f ", xpos(t, l->bytes[p].ts), y);
	}
	fprintf(f, "\"><title>bytes, up to %.0f</title></polyline>\n", l->bytes_max);
}

static void svg(FILE *f, struct tl *t)
{
	size_t n_dev = 0;
	double y_end, total = 0, worst = 0;
	char d[32], d2[32];

	y_end = TOP + (double)t->n_lanes * (LANE_H + LANE_GAP);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%.0f\" "
		   "viewBox=\"0 0 %u %.0f\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n",
		t->width, y_end + 90, t->width, y_end + 90);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
	/* the title: the command, its length, its downtime */
	for (size_t i = 0; i < t->n_lanes; i++)
		n_dev += lane_is_device(t, t->lanes[i]);
	duration_text(d, sizeof(d), t->t_max - t->t_min);
	fputs("<text x=\"12\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", f);
	esc(f, t->title[0] ? t->title : "trace", 80);
	fprintf(f, "</text>\n<text x=\"12\" y=\"44\" font-size=\"12\" fill=\"#333\">%zu "
		   "device%s, %s",
		n_dev, n_dev == 1 ? "" : "s", d);
	for (size_t i = 0; i < t->n_win; i++) {
		total += t->win[i].end - t->win[i].start;
		worst = MAX(worst, t->win[i].end - t->win[i].start);
	}
	if (t->n_win == 1) {
		duration_text(d, sizeof(d), total);
		fprintf(f, "; downtime (quiesce to verdict) %s", d);
	} else if (t->n_win > 1) {
		duration_text(d, sizeof(d), total / (double)t->n_win);
		duration_text(d2, sizeof(d2), worst);
		fprintf(f, "; %zu downtime windows (quiesce to verdict): mean %s, max %s", t->n_win,
			d, d2);
	} else {
		fputs("; no downtime window (no save's quiesce and verdict in this trace)", f);
	}
	fputs("</text>\n", f);
	axis(f, t, TOP - 14, y_end);
	/* lanes: background and name */
	for (size_t i = 0; i < t->n_lanes; i++) {
		const struct lane *l = t->sorted[i];
		double y = lane_y(l);

		fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%u\" height=\"%d\" fill=\"%s\"/>\n",
			LEFT, y, t->width - LEFT - RIGHT, LANE_H, i % 2 ? "#f4f4f4" : "#fafafa");
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\"%s>"
			   "",
			LEFT - 8, y + LANE_H / 2.0 + 4,
			lane_is_device(t, l) ? "" : " font-weight=\"bold\"");
		esc_tail(f, l->name, 22);
		fputs("<title>", f);
		esc(f, l->name, NAME_MAX_LEN);
		fputs("</title></text>\n", f);
	}
	/* what contains (phases, checks, cycles), then what is inside (reads,
	 * writes), then the barriers over their phases, then the names */
	for (int pass = 0; pass < 4; pass++)
		for (size_t i = 0; i < t->n_spans; i++) {
			const char *cat = t->spans[i].cat;
			int p = cat == cats[0] || cat == cats[5] || cat == cats[6] ? 0
				: cat == cats[1]				   ? 2
										   : 1;

			if (p == pass || (pass == 3 && p != 2))
				draw_span(f, t, &t->spans[i], pass == 3);
		}
	for (size_t i = 0; i < t->n_lanes; i++)
		draw_bytes(f, t, t->lanes[i]);
	for (size_t i = 0; i < t->n_spans; i++)
		if (t->spans[i].cat == cats[2])
			draw_arc(f, t, &t->spans[i]);
	/* the downtime windows, over everything; a few labelled each, many (a soak's)
	 * only the longest: the title has the figures */
	{
		double label_end = 0;
		size_t longest = 0;

		for (size_t i = 1; i < t->n_win; i++)
			if (t->win[i].end - t->win[i].start >
			    t->win[longest].end - t->win[longest].start)
				longest = i;
		for (size_t i = 0; i < t->n_win; i++) {
			double x0 = xpos(t, t->win[i].start), x1 = xpos(t, t->win[i].end), w;

			if (!budget(t))
				break;
			fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%.1f\" "
				   "fill=\"#e15759\" fill-opacity=\"0.13\"%s/>\n",
				x0, TOP - 4, MAX(x1 - x0, 1.0), y_end - TOP + 4,
				t->n_win > WINDOWS_LABELLED ? "" : " stroke=\"#e15759\"");
			if (x0 < label_end || (t->n_win > WINDOWS_LABELLED && i != longest))
				continue;
			duration_text(d, sizeof(d), t->win[i].end - t->win[i].start);
			/* bold 12 px: about 8 px a character; kept inside the picture */
			w = 8.0 * (double)(strlen(d) + (t->n_win > WINDOWS_LABELLED ? 18 : 9));
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" fill=\"#b22222\" "
				   "font-weight=\"bold\">%sdowntime %s</text>\n",
				MIN(x0 + 2, (double)t->width - w - 4), TOP - 32,
				t->n_win > WINDOWS_LABELLED ? "longest " : "", d);
			label_end = x0 + w + 10;
		}
	}
	/* exchanges and verdicts: lines across every lane while they are few; many (a
	 * soak's) as ticks on their own job's lane, so that they hide nothing */
	{
		size_t n_lines = 0;

		for (size_t i = 0; i < t->n_inst; i++)
			n_lines += t->inst[i].cat == cats[7] || t->inst[i].cat == cats[8];
		for (size_t i = 0; i < t->n_inst; i++) {
			const struct instant *in = &t->inst[i];
			double x = xpos(t, in->ts), y0 = TOP - 4, y1 = y_end;
			bool verdict = in->cat == cats[7];

			if ((!verdict && in->cat != cats[8]) || !budget(t))
				continue;
			if (n_lines > LINES_ACROSS) {
				y0 = lane_y(t->lanes[in->lane]);
				y1 = y0 + LANE_H;
			}
			fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" "
				   "stroke=\"%s\" stroke-width=\"%s\"%s><title>",
				x, y0, x, y1,
				verdict ? (in->failed ? "#d62728" : "#2e7d32") : "#6b6b6b",
				verdict && n_lines <= LINES_ACROSS ? "2" : "1",
				verdict ? "" : " stroke-dasharray=\"4 3\"");
			esc(f, in->name, NAME_MAX_LEN);
			fputs("</title></line>\n", f);
		}
	}
	if (t->not_drawn)
		fprintf(f, "<text x=\"12\" y=\"%.1f\" font-size=\"11\" fill=\"#b22222\">%u more "
			   "shapes not drawn (at most %u)</text>\n",
			y_end + 84, t->not_drawn, DRAWN_MAX);
	legend(f, t, y_end + 14);
	fputs("</svg>\n", f);
}

static int write_svg(struct tl *t, const char *out)
{
	FILE *f = NULL;
	int fd, r = 0;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || !(f = fdopen(fd, "we"))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		cli_error(t->cli, "%s: %s", out,
			  r == -ELOOP ? "a symbolic link (refused)" : strerror(-r));
		return r;
	}
	svg(f, t);
	if (fflush(f) != 0 || ferror(f))
		r = errno ? -errno : -EIO;
	if (fclose(f) != 0 && !r)
		r = -errno;
	if (r < 0)
		cli_error(t->cli, "%s: %s", out, strerror(-r));
	return r;
}

/* ---- the command ---- */

static void help(void)
{
	printf("Usage: vfiomig timeline TRACE -o OUT.svg [--width PX] [-j]\n\n"
	       "Draw a trace written by --trace (save, restore, check, soak; or any Chrome\n"
	       "trace-event JSON) as an SVG picture: a time axis, one lane per track (the\n"
	       "job's phases and barriers, each device's precopy rounds, stop-copy reads or\n"
	       "writes, checks or soak cycles as coloured bars, its state changes as\n"
	       "markers and its bytes as a line), READY, COMMIT and the verdict as lines,\n"
	       "each downtime window (a save's quiesce to its verdict) shaded and labelled,\n"
	       "and a legend.  The trace is read whole, at most 64 MiB and 1000000 events.\n\n"
	       "  -o, --output FILE  the SVG to write (required)\n"
	       "  --width PX         the picture's width (default 1200, 600-10000)\n");
}

static void free_tl(struct tl *t)
{
	for (size_t i = 0; i < t->n_spans; i++)
		free(t->spans[i].name);
	for (size_t i = 0; i < t->n_inst; i++)
		free(t->inst[i].name);
	for (size_t i = 0; i < t->n_lanes; i++) {
		for (size_t k = 0; k < t->lanes[i]->n_begin; k++)
			free(t->lanes[i]->begin_name[k]);
		free(t->lanes[i]->bytes);
		free(t->lanes[i]);
	}
	for (size_t i = 0; i < t->n_ctr; i++)
		free(t->ctr[i].p);
	free(t->ctr);
	free(t->spans);
	free(t->inst);
	free(t->win);
}

int cmd_timeline(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "width", required_argument, NULL, 'W' },
		{},
	};
	struct tl t = { .cli = cli, .width = 1200 };
	const char *out = NULL;
	struct out *o;
	uint64_t v;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(cli, argc, argv, "o:", opts, help, &ex)) > 0) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'W':
			if (parse_u64(optarg, 10, WIDTH_MAX, &v) < 0 || v < WIDTH_MIN) {
				cli_error(cli, "--width: '%s' is not %d-%d", optarg, WIDTH_MIN,
					  WIDTH_MAX);
				return EXIT_USAGE;
			}
			t.width = (unsigned)v;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (c < 0)
		return ex;
	if (argc - optind != 1 || !out || !*out) {
		cli_error(cli, "timeline needs one TRACE and -o OUT.svg (see vfiomig timeline "
			       "--help)");
		return EXIT_USAGE;
	}
	t.path = argv[optind];
	r = read_trace(&t);
	if (r >= 0)
		r = find_windows(&t);
	if (r < 0) {
		cli_error(cli, "%s", t.err[0] ? t.err : strerror(-r));
		cli_set_errno(cli, r);
		free_tl(&t);
		return EXIT_FAILED;
	}
	attach_counters(&t);
	memcpy(t.sorted, t.lanes, t.n_lanes * sizeof(t.lanes[0]));
	qsort(t.sorted, t.n_lanes, sizeof(t.sorted[0]), cmp_lane);
	for (size_t i = 0; i < t.n_lanes; i++)
		t.sorted[i]->order = i;
	r = write_svg(&t, out);
	if (r < 0) {
		cli_set_errno(cli, r);
		free_tl(&t);
		return EXIT_FAILED;
	}
	o = cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(o, NULL);
	out_str(o, "trace", NULL, t.path);
	out_str(o, "svg", "timeline: %s:", out);
	out_str(o, "title", NULL, t.title);
	out_u64(o, "event_count", " %s events", t.n_events);
	out_u64(o, "duration_usec", NULL, (uint64_t)(t.t_max - t.t_min));
	out_text(o, " over %.3f ms", (t.t_max - t.t_min) / 1e3);
	out_array_begin(o, "lanes");
	for (size_t i = 0; i < t.n_lanes; i++) {
		const struct lane *l = t.sorted[i];

		out_object_begin(o, NULL);
		out_str(o, "lane", NULL, l->name);
		out_str(o, "kind", NULL, lane_is_device(&t, l) ? "device" : "other");
		out_u64(o, "span_count", NULL, l->n_spans);
		out_u64(o, "arc_count", NULL, l->n_arcs);
		out_u64(o, "counter_point_count", NULL, l->n_bytes);
		out_object_end(o);
	}
	out_array_end(o);
	out_text(o, "\n  lanes:");
	out_array_begin(o, "devices");
	for (size_t i = 0; i < t.n_lanes; i++) {
		if (lane_is_device(&t, t.sorted[i])) {
			out_object_begin(o, NULL);
			out_str(o, "device", " %s (device)", t.sorted[i]->name);
			out_object_end(o);
		} else
			out_text(o, " %s", t.sorted[i]->name);
	}
	out_array_end(o);
	out_text(o, "\n");
	/* text: each window of a few; a summary of many (a soak's) */
	out_array_begin(o, "downtime_windows");
	for (size_t i = 0; i < t.n_win; i++) {
		const struct window *w = &t.win[i];
		bool each = t.n_win <= 5;

		out_object_begin(o, NULL);
		out_u64(o, "start_usec", NULL, (uint64_t)(w->start - t.t_min));
		out_u64(o, "end_usec", NULL, (uint64_t)(w->end - t.t_min));
		out_u64(o, "downtime_usec",
			each ? "  downtime %s us (quiesce to verdict)" : NULL,
			(uint64_t)(w->end - w->start));
		if (w->reported >= 0)
			out_u64(o, "reported_downtime_usec",
				each ? ", the job reported %s us" : NULL,
				(uint64_t)w->reported);
		else
			out_null(o, "reported_downtime_usec");
		if (each)
			out_text(o, "\n");
		out_object_end(o);
	}
	out_array_end(o);
	if (t.n_win > 5) {
		double sum = 0, lo = INFINITY, hi = 0;

		for (size_t i = 0; i < t.n_win; i++) {
			double d = t.win[i].end - t.win[i].start;

			sum += d;
			lo = MIN(lo, d);
			hi = MAX(hi, d);
		}
		out_text(o, "  %zu downtime windows (quiesce to verdict): min %.0f us, mean %.0f us, "
			    "max %.0f us\n",
			 t.n_win, lo, sum / (double)t.n_win, hi);
	}
	out_u64(o, "drawn_shape_count", NULL, t.drawn);
	out_u64(o, "not_drawn_shape_count", NULL, t.not_drawn);
	if (t.not_drawn)
		out_text(o, "  %u shapes not drawn (at most %u)\n", t.not_drawn, DRAWN_MAX);
	if (t.lanes_full)
		out_text(o, "  only the first %u tracks drawn\n", LANES_MAX);
	out_bool(o, "lanes_truncated", NULL, t.lanes_full);
	out_object_end(o);
	out_finish(o);
	cli->out = NULL;
	free_tl(&t);
	return EXIT_OK;
}
