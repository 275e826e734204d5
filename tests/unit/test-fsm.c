// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fsm against two references written here from the uAPI digest
 * (docs/vfio-migration-uapi.md), not from src/fsm/fsm.c:
 *  - a brute-force search over every simple path built from the table "Arcs a driver
 *    implements", keeping the paths that obey the saving-group rule;
 *  - the kernel's next-step table vfio_from_fsm_table, walked the way
 *    vfio_mig_get_next_state() does (skip states the device lacks, stop on ERROR).
 * Every flag set (the 8 combinations of the 3 known bits and some with unknown bits)
 * times every pair of states (and two out-of-range values) is checked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "tap.h"
#include "vfiomig.h"

#define ERROR	     VFM_STATE_ERROR
#define STOP	     VFM_STATE_STOP
#define RUNNING	     VFM_STATE_RUNNING
#define STOP_COPY    VFM_STATE_STOP_COPY
#define RESUMING     VFM_STATE_RESUMING
#define RUNNING_P2P  VFM_STATE_RUNNING_P2P
#define PRE_COPY     VFM_STATE_PRE_COPY
#define PRE_COPY_P2P VFM_STATE_PRE_COPY_P2P
#define NSTATES	     VFM_STATE_MAX

#define SC  VFM_MIG_STOP_COPY
#define P2P VFM_MIG_P2P
#define PRE VFM_MIG_PRE_COPY

/* ------------------------------------------------------------------------- */
/* references                                                                */

enum level { L_BASE, L_NO_P2P, L_P2P, L_PRE_COPY, L_P2P_PRE_COPY };

/* The doc's table "Arcs a driver implements", one row per arc. */
static const struct {
	enum level level;
	enum vfm_state from, to;
} doc_arcs[] = {
	{L_BASE, RESUMING, STOP},
	{L_BASE, STOP, RESUMING},
	{L_BASE, STOP, STOP_COPY},
	{L_BASE, STOP_COPY, STOP},
	{L_NO_P2P, RUNNING, STOP},
	{L_NO_P2P, STOP, RUNNING},
	{L_P2P, RUNNING, RUNNING_P2P},
	{L_P2P, RUNNING_P2P, RUNNING},
	{L_P2P, RUNNING_P2P, STOP},
	{L_P2P, STOP, RUNNING_P2P},
	{L_PRE_COPY, RUNNING, PRE_COPY},
	{L_PRE_COPY, PRE_COPY, RUNNING},
	{L_PRE_COPY, PRE_COPY, STOP_COPY},
	{L_P2P_PRE_COPY, RUNNING, PRE_COPY},
	{L_P2P_PRE_COPY, PRE_COPY, RUNNING},
	{L_P2P_PRE_COPY, PRE_COPY, PRE_COPY_P2P},
	{L_P2P_PRE_COPY, PRE_COPY_P2P, PRE_COPY},
	{L_P2P_PRE_COPY, PRE_COPY_P2P, RUNNING_P2P},
	{L_P2P_PRE_COPY, PRE_COPY_P2P, STOP_COPY},
	{L_P2P_PRE_COPY, RUNNING_P2P, PRE_COPY_P2P},
};

/* The kernel's vfio_from_fsm_table[cur][target] as the doc gives it; the diagonal is
 * the state itself; the ERROR row and column are ERROR (0, the default). */
/* clang-format off */
static const enum vfm_state kernel_next[NSTATES][NSTATES] = {
	[STOP] = { [STOP] = STOP, [RUNNING] = RUNNING_P2P, [STOP_COPY] = STOP_COPY,
		   [RESUMING] = RESUMING, [RUNNING_P2P] = RUNNING_P2P,
		   [PRE_COPY] = RUNNING_P2P, [PRE_COPY_P2P] = RUNNING_P2P },
	[RUNNING] = { [STOP] = RUNNING_P2P, [RUNNING] = RUNNING,
		      [STOP_COPY] = RUNNING_P2P, [RESUMING] = RUNNING_P2P,
		      [RUNNING_P2P] = RUNNING_P2P, [PRE_COPY] = PRE_COPY,
		      [PRE_COPY_P2P] = RUNNING_P2P },
	[STOP_COPY] = { [STOP] = STOP, [RUNNING] = STOP, [STOP_COPY] = STOP_COPY,
			[RESUMING] = STOP, [RUNNING_P2P] = STOP, [PRE_COPY] = ERROR,
			[PRE_COPY_P2P] = ERROR },
	[RESUMING] = { [STOP] = STOP, [RUNNING] = STOP, [STOP_COPY] = STOP,
		       [RESUMING] = RESUMING, [RUNNING_P2P] = STOP, [PRE_COPY] = STOP,
		       [PRE_COPY_P2P] = STOP },
	[RUNNING_P2P] = { [STOP] = STOP, [RUNNING] = RUNNING, [STOP_COPY] = STOP,
			  [RESUMING] = STOP, [RUNNING_P2P] = RUNNING_P2P,
			  [PRE_COPY] = RUNNING, [PRE_COPY_P2P] = PRE_COPY_P2P },
	[PRE_COPY] = { [STOP] = RUNNING, [RUNNING] = RUNNING, [STOP_COPY] = PRE_COPY_P2P,
		       [RESUMING] = RUNNING, [RUNNING_P2P] = RUNNING,
		       [PRE_COPY] = PRE_COPY, [PRE_COPY_P2P] = PRE_COPY_P2P },
	[PRE_COPY_P2P] = { [STOP] = RUNNING_P2P, [RUNNING] = RUNNING_P2P,
			   [STOP_COPY] = STOP_COPY, [RESUMING] = RUNNING_P2P,
			   [RUNNING_P2P] = RUNNING_P2P, [PRE_COPY] = PRE_COPY,
			   [PRE_COPY_P2P] = PRE_COPY_P2P },
};
/* clang-format on */

static bool flags_ok(uint32_t flags)
{
	return (flags & SC) && !(flags & ~(uint32_t)(SC | P2P | PRE));
}

static bool in_range(enum vfm_state s)
{
	return (unsigned)s < NSTATES;
}

static bool has_state(uint32_t flags, enum vfm_state s)
{
	if (!flags_ok(flags))
		return false;
	switch (s) {
	case ERROR:
	case STOP:
	case RUNNING:
	case STOP_COPY:
	case RESUMING: return true;
	case RUNNING_P2P: return flags & P2P;
	case PRE_COPY: return flags & PRE;
	case PRE_COPY_P2P: return (flags & P2P) && (flags & PRE);
	default: return false;
	}
}

static bool level_applies(enum level l, uint32_t flags)
{
	switch (l) {
	case L_BASE: return true;
	case L_NO_P2P: return !(flags & P2P);
	case L_P2P: return flags & P2P;
	case L_PRE_COPY: return (flags & PRE) && !(flags & P2P);
	case L_P2P_PRE_COPY: return (flags & PRE) && (flags & P2P);
	}
	return false;
}

static bool has_arc(uint32_t flags, enum vfm_state from, enum vfm_state to)
{
	if (!flags_ok(flags))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(doc_arcs); i++)
		if (doc_arcs[i].from == from && doc_arcs[i].to == to &&
		    level_applies(doc_arcs[i].level, flags))
			return true;
	return false;
}

static bool saving(enum vfm_state s)
{
	return s == STOP_COPY || s == PRE_COPY || s == PRE_COPY_P2P;
}

static bool to_pre_copy(enum vfm_state a, enum vfm_state b)
{
	return a == STOP_COPY && (b == PRE_COPY || b == PRE_COPY_P2P);
}

/*
 * The saving-group rule on a whole path p[0..n] (p[0] is the start), written as
 * its three consequences: no STOP_COPY -> PRE_COPY*; the path enters or leaves the
 * saving group at most once; a saving state inside the path only when the whole
 * path is in the group.  Returns NULL or what is wrong.
 */
static const char *rule_broken(const enum vfm_state *p, size_t n)
{
	unsigned crossings = 0;
	bool all_saving = true;

	for (size_t i = 0; i <= n; i++)
		all_saving = all_saving && saving(p[i]);
	for (size_t i = 1; i <= n; i++) {
		if (to_pre_copy(p[i - 1], p[i]))
			return "STOP_COPY -> PRE_COPY*";
		if (saving(p[i]) != saving(p[i - 1]))
			crossings++;
	}
	if (crossings > 1)
		return "crosses the saving-group border twice";
	for (size_t i = 1; i < n; i++)
		if (saving(p[i]) && !all_saving)
			return "saving state inside the path";
	return NULL;
}

/* Brute force: every simple path from p[0] to @to, depth first, lower states first,
 * so the first shortest path found is the lexicographically smallest. */
struct search {
	uint32_t flags;
	enum vfm_state to;
	enum vfm_state p[NSTATES];
	size_t best_len; /* SIZE_MAX: none found */
	unsigned best_count;
	enum vfm_state best[NSTATES];
};

static void search(struct search *s, size_t n)
{
	if (s->p[n] == s->to) {
		if (rule_broken(s->p, n))
			return;
		if (n < s->best_len) {
			s->best_len = n;
			s->best_count = 1;
			memcpy(s->best, s->p + 1, n * sizeof(s->p[0]));
		} else if (n == s->best_len) {
			s->best_count++;
		}
		return;
	}
	if (n + 1 >= NSTATES)
		return;
	for (unsigned x = 0; x < NSTATES; x++) {
		enum vfm_state next = (enum vfm_state)x;
		bool seen = false;

		for (size_t i = 0; i <= n; i++)
			seen = seen || s->p[i] == next;
		if (seen || !has_state(s->flags, next) ||
		    !has_arc(s->flags, s->p[n], next))
			continue;
		s->p[n + 1] = next;
		search(s, n + 1);
	}
}

/* The kernel's walk: returns the number of steps into @out, -1 when it stops on
 * ERROR, -2 when it does not end (a broken table). */
static int kernel_walk(uint32_t flags, enum vfm_state from, enum vfm_state to,
		       enum vfm_state out[NSTATES])
{
	enum vfm_state cur = from;
	int n = 0;

	while (cur != to) {
		enum vfm_state next = kernel_next[cur][to];
		int guard = 0;

		while (next != ERROR && !has_state(flags, next) && guard++ < NSTATES)
			next = kernel_next[next][to];
		if (next == ERROR)
			return -1;
		if (guard > NSTATES || n == NSTATES)
			return -2;
		out[n++] = next;
		cur = next;
	}
	return n;
}

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */

static const char *name(enum vfm_state s)
{
	const char *n = vfm_state_name(s);

	return n ? n : "(out of range)";
}

static void format_path(char *buf, size_t size, enum vfm_state from,
			const enum vfm_state *p, size_t n)
{
	int w = snprintf(buf, size, "%s", name(from));

	for (size_t i = 0; i < n && w >= 0 && (size_t)w < size; i++)
		w += snprintf(buf + w, size - (size_t)w, " -> %s", name(p[i]));
}

static const char *err_name(int r)
{
	switch (r) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -ENOENT: return "-ENOENT";
	default: return "other";
	}
}

static const uint32_t flag_sets[] = {
	0,
	SC,
	P2P,
	SC | P2P,
	PRE,
	SC | PRE,
	P2P | PRE,
	SC | P2P | PRE,
	SC | P2P | PRE | (1u << 3),
	SC | (1u << 31),
	UINT32_MAX,
	1u << 3,
};

/* Every state, then two out of range. */
static const enum vfm_state all_states[] = {
	ERROR,
	STOP,
	RUNNING,
	STOP_COPY,
	RESUMING,
	RUNNING_P2P,
	PRE_COPY,
	PRE_COPY_P2P,
	(enum vfm_state)NSTATES,
	(enum vfm_state)0x7fffffff,
};

#define SENTINEL ((enum vfm_state)0x5a5a)

static unsigned triples, kernel_agree, kernel_error, ties;

/* One (flags, from, to): returns whether all properties hold, with diagnostics. */
static bool check_triple(uint32_t flags, enum vfm_state from, enum vfm_state to)
{
	enum vfm_state path[VFM_PLAN_MAX];
	struct search s = {.flags = flags, .to = to, .best_len = SIZE_MAX};
	size_t len = 12345;
	int r, expect;
	char buf[256];
	bool ok = true;

	triples++;
	for (size_t i = 0; i < VFM_PLAN_MAX; i++)
		path[i] = SENTINEL;

	if (!flags_ok(flags) || !in_range(from) || !in_range(to)) {
		expect = -EINVAL;
	} else if (to == ERROR || !has_state(flags, to) || !has_state(flags, from)) {
		expect = -EOPNOTSUPP;
	} else {
		s.p[0] = from;
		search(&s, 0);
		expect = s.best_len == SIZE_MAX ? -ENOENT : 0;
		if (s.best_count > 1) {
			ties++;
			tap_diag("flags 0x%x %s -> %s: %u shortest paths", flags,
				 name(from), name(to), s.best_count);
		}
	}

	r = vfm_fsm_plan(flags, from, to, path, &len);
	if (r != expect) {
		tap_diag("flags 0x%x %s -> %s: got %s (%d), expected %s", flags,
			 name(from), name(to), err_name(r), r, err_name(expect));
		return false;
	}
	if (r < 0) {
		/* Nothing written on failure. */
		for (size_t i = 0; i < VFM_PLAN_MAX; i++)
			ok = ok && path[i] == SENTINEL;
		if (!ok || len != 12345) {
			tap_diag("flags 0x%x %s -> %s: output written on failure", flags,
				 name(from), name(to));
			return false;
		}
		return true;
	}

	format_path(buf, sizeof(buf), from, path, len > VFM_PLAN_MAX ? 0 : len);
	if (len > VFM_PLAN_MAX) {
		tap_diag("flags 0x%x %s -> %s: length %zu", flags, name(from), name(to),
			 len);
		return false;
	}
	if (len == 0 ? from != to : path[len - 1] != to) {
		tap_diag("flags 0x%x: %s does not end at %s", flags, buf, name(to));
		ok = false;
	}
	for (size_t i = 0; i < len; i++) {
		enum vfm_state prev = i ? path[i - 1] : from;

		if (!has_arc(flags, prev, path[i]) ||
		    !vfm_fsm_arc_valid(flags, prev, path[i])) {
			tap_diag("flags 0x%x: %s: %s -> %s is not a single arc", flags,
				 buf, name(prev), name(path[i]));
			ok = false;
		}
	}
	{
		enum vfm_state full[VFM_PLAN_MAX + 1];
		const char *why;

		full[0] = from;
		memcpy(full + 1, path, len * sizeof(path[0]));
		why = rule_broken(full, len);
		if (why) {
			tap_diag("flags 0x%x: %s: %s", flags, buf, why);
			ok = false;
		}
	}
	if (from != to &&
	    (len != s.best_len || memcmp(path, s.best, len * sizeof(path[0])))) {
		char want[256];

		format_path(want, sizeof(want), from, s.best, s.best_len);
		tap_diag("flags 0x%x: got %s, brute force says %s", flags, buf, want);
		ok = false;
	}

	return ok;
}

/* The same triple against the kernel's table (valid flags, states of the device). */
static bool check_kernel(uint32_t flags, enum vfm_state from, enum vfm_state to)
{
	enum vfm_state path[VFM_PLAN_MAX], walk[NSTATES];
	size_t len = 0;
	int r, k;

	r = vfm_fsm_plan(flags, from, to, path, &len);
	k = kernel_walk(flags, from, to, walk);
	if (k == -2) {
		tap_diag("flags 0x%x %s -> %s: the kernel walk does not end", flags,
			 name(from), name(to));
		return false;
	}
	if (k == -1) {
		kernel_error++;
		if (r != -ENOENT) {
			tap_diag("flags 0x%x %s -> %s: kernel hits ERROR, plan gives %s",
				 flags, name(from), name(to), err_name(r));
			return false;
		}
		return true;
	}
	kernel_agree++;
	if (r < 0 || len != (size_t)k || memcmp(path, walk, len * sizeof(path[0]))) {
		char got[256], want[256];

		format_path(want, sizeof(want), from, walk, (size_t)k);
		if (r < 0)
			snprintf(got, sizeof(got), "%s", err_name(r));
		else
			format_path(got, sizeof(got), from, path, len);
		tap_diag("flags 0x%x: plan %s, kernel walks %s", flags, got, want);
		return false;
	}
	return true;
}

static void test_exhaustive(void)
{
	bool kernel_ok = true;

	for (size_t f = 0; f < ELEMENTSOF(flag_sets); f++) {
		uint32_t flags = flag_sets[f];
		bool ok = true;

		for (size_t i = 0; i < ELEMENTSOF(all_states); i++)
			if (vfm_fsm_state_supported(flags, all_states[i]) !=
			    has_state(flags, all_states[i])) {
				tap_diag("flags 0x%x: state_supported(%s) wrong", flags,
					 name(all_states[i]));
				ok = false;
			}
		tap_ok(ok, "flags 0x%x: vfm_fsm_state_supported", flags);

		ok = true;
		for (size_t i = 0; i < ELEMENTSOF(all_states); i++)
			for (size_t j = 0; j < ELEMENTSOF(all_states); j++) {
				enum vfm_state a = all_states[i], b = all_states[j];
				bool v = vfm_fsm_arc_valid(flags, a, b);

				if (v != has_arc(flags, a, b) ||
				    (v && to_pre_copy(a, b))) {
					tap_diag("flags 0x%x: arc_valid(%s, %s) = %d",
						 flags, name(a), name(b), v);
					ok = false;
				}
			}
		tap_ok(ok, "flags 0x%x: vfm_fsm_arc_valid", flags);

		for (size_t i = 0; i < ELEMENTSOF(all_states); i++) {
			enum vfm_state from = all_states[i];

			ok = true;
			for (size_t j = 0; j < ELEMENTSOF(all_states); j++) {
				enum vfm_state to = all_states[j];

				ok = check_triple(flags, from, to) && ok;
				if (flags_ok(flags) && has_state(flags, from) &&
				    has_state(flags, to) && from != ERROR && to != ERROR)
					kernel_ok = check_kernel(flags, from, to) &&
						    kernel_ok;
			}
			tap_ok(ok, "flags 0x%x: plans from %s (%u)", flags, name(from),
			       (unsigned)from);
		}
	}
	tap_ok(kernel_ok,
	       "plans equal the kernel walk in %u triples, -ENOENT in the %u "
	       "where it hits ERROR",
	       kernel_agree, kernel_error);
	/* n^2 pairs for the n non-ERROR states of SC, SC|P2P, SC|PRE, SC|P2P|PRE */
	tap_ok(kernel_agree + kernel_error == 16 + 25 + 25 + 49,
	       "kernel comparison covers every pair of states of every valid flag set");
	tap_ok(ties == 0, "shortest plans are unique (%u ties)", ties);
	tap_diag("%u (flags, from, to) triples checked", triples);
}

/* ------------------------------------------------------------------------- */
/* well-known paths                                                          */

/* clang-format off */
static const struct spot {
	uint32_t flags;
	enum vfm_state from, to;
	int r;
	size_t len;
	enum vfm_state path[VFM_PLAN_MAX];
} spots[] = {
	{ SC | P2P | PRE, RUNNING, STOP_COPY, 0, 3, { RUNNING_P2P, STOP, STOP_COPY } },
	{ SC, RUNNING, STOP_COPY, 0, 2, { STOP, STOP_COPY } },
	{ SC | P2P | PRE, RESUMING, RUNNING, 0, 3, { STOP, RUNNING_P2P, RUNNING } },
	{ SC | P2P | PRE, PRE_COPY, STOP_COPY, 0, 2, { PRE_COPY_P2P, STOP_COPY } },
	{ SC | PRE, PRE_COPY, STOP_COPY, 0, 1, { STOP_COPY } },
	{ SC | PRE, RUNNING, STOP_COPY, 0, 2, { STOP, STOP_COPY } },
	{ SC | PRE, PRE_COPY, STOP, 0, 2, { RUNNING, STOP } },
	{ SC | PRE, STOP, PRE_COPY, 0, 2, { RUNNING, PRE_COPY } },
	{ SC | P2P, RUNNING, STOP, 0, 2, { RUNNING_P2P, STOP } },
	{ SC | P2P, STOP_COPY, RUNNING, 0, 3, { STOP, RUNNING_P2P, RUNNING } },
	{ SC, STOP, RUNNING, 0, 1, { RUNNING } },
	{ SC, RESUMING, STOP_COPY, 0, 2, { STOP, STOP_COPY } },
	{ SC | P2P | PRE, PRE_COPY, RESUMING, 0, 4,
	  { RUNNING, RUNNING_P2P, STOP, RESUMING } },
	{ SC | P2P | PRE, RESUMING, PRE_COPY, 0, 4,
	  { STOP, RUNNING_P2P, RUNNING, PRE_COPY } },
	{ SC | P2P | PRE, RUNNING, PRE_COPY_P2P, 0, 2, { RUNNING_P2P, PRE_COPY_P2P } },
	{ SC | P2P | PRE, RUNNING_P2P, PRE_COPY, 0, 2, { RUNNING, PRE_COPY } },
	{ SC | P2P | PRE, PRE_COPY_P2P, STOP, 0, 2, { RUNNING_P2P, STOP } },
	{ SC | P2P | PRE, PRE_COPY_P2P, RUNNING, 0, 2, { RUNNING_P2P, RUNNING } },
	{ SC | P2P | PRE, PRE_COPY, STOP, 0, 3, { RUNNING, RUNNING_P2P, STOP } },
	{ SC | P2P | PRE, PRE_COPY_P2P, PRE_COPY, 0, 1, { PRE_COPY } },
	{ SC | P2P | PRE, STOP, STOP, 0, 0, { 0 } },
	{ SC | P2P | PRE, STOP_COPY, STOP_COPY, 0, 0, { 0 } },
	/* refusals */
	{ SC | P2P | PRE, STOP_COPY, PRE_COPY, -ENOENT, 0, { 0 } },
	{ SC | P2P | PRE, STOP_COPY, PRE_COPY_P2P, -ENOENT, 0, { 0 } },
	/* ... even where STOP_COPY -> STOP -> RUNNING -> PRE_COPY are arcs */
	{ SC | PRE, STOP_COPY, PRE_COPY, -ENOENT, 0, { 0 } },
	{ SC | P2P | PRE, ERROR, RUNNING, -ENOENT, 0, { 0 } },
	{ SC, ERROR, STOP, -ENOENT, 0, { 0 } },
	{ SC | P2P | PRE, RUNNING, ERROR, -EOPNOTSUPP, 0, { 0 } },
	{ SC | P2P | PRE, ERROR, ERROR, -EOPNOTSUPP, 0, { 0 } },
	{ SC, STOP, RUNNING_P2P, -EOPNOTSUPP, 0, { 0 } },
	{ SC, RUNNING, PRE_COPY, -EOPNOTSUPP, 0, { 0 } },
	{ SC | P2P, PRE_COPY_P2P, RUNNING, -EOPNOTSUPP, 0, { 0 } },
	{ SC | PRE, RUNNING, PRE_COPY_P2P, -EOPNOTSUPP, 0, { 0 } },
	{ P2P | PRE, RUNNING, STOP, -EINVAL, 0, { 0 } },
	{ 0, RUNNING, STOP, -EINVAL, 0, { 0 } },
	{ SC | (1u << 3), RUNNING, STOP, -EINVAL, 0, { 0 } },
	{ SC, (enum vfm_state)NSTATES, STOP, -EINVAL, 0, { 0 } },
	{ SC, STOP, (enum vfm_state)NSTATES, -EINVAL, 0, { 0 } },
};
/* clang-format on */

static void test_spots(void)
{
	for (size_t i = 0; i < ELEMENTSOF(spots); i++) {
		const struct spot *t = &spots[i];
		enum vfm_state path[VFM_PLAN_MAX];
		size_t len = 0;
		char want[256], got[256];
		int r;

		r = vfm_fsm_plan(t->flags, t->from, t->to, path, &len);
		format_path(want, sizeof(want), t->from, t->path, t->len);
		if (r < 0)
			snprintf(got, sizeof(got), "%s", err_name(r));
		else
			format_path(got, sizeof(got), t->from, path,
				    MIN(len, VFM_PLAN_MAX));
		tap_ok(r == t->r &&
			       (r < 0 || (len == t->len &&
					  !memcmp(path, t->path, len * sizeof(path[0])))),
		       "flags 0x%x: %s -> %s: %s", t->flags, name(t->from), name(t->to),
		       t->r < 0 ? err_name(t->r) : want);
		if (r != t->r || (r == 0 && strcmp(got, want)))
			tap_diag("  got %s", got);
	}
}

int main(void)
{
	test_spots();
	test_exhaustive();
	return tap_done();
}
