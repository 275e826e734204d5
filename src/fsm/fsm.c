// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The VFIO migration v2 state machine: which states and single arcs a device has for
 * its flags, and the planner that breaks a state change into single arcs.
 *
 * Facts from include/uapi/linux/vfio.h and vfio_mig_get_next_state() in
 * drivers/vfio/vfio_main.c.  The kernel accepts combination requests itself, but we
 * request one arc at a time so that every step is timed and checked, a failure points
 * at one arc, and no request can reach the kernels that hang on STOP_COPY -> PRE_COPY.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "macro.h"
#include "vfiomig.h"

/* State sets are bitmasks of 1 << state. */
#define ST(s)	     (1u << VFM_STATE_##s)
#define ANY_STATE    ((1u << VFM_STATE_MAX) - 1)
#define SAVING_GROUP (ST(STOP_COPY) | ST(PRE_COPY) | ST(PRE_COPY_P2P))

assert_cc(VFM_STATE_MAX <= 8); /* state sets fit in a uint8_t */
/* A shortest path is simple, so it has fewer arcs than there are states. */
assert_cc(VFM_STATE_MAX - 1 <= VFM_PLAN_MAX);

/* Flags a device needs to have a state.  Any migratable device can fall into ERROR. */
static const uint32_t state_needs[VFM_STATE_MAX] = {
	[VFM_STATE_ERROR] = VFM_MIG_STOP_COPY,
	[VFM_STATE_STOP] = VFM_MIG_STOP_COPY,
	[VFM_STATE_RUNNING] = VFM_MIG_STOP_COPY,
	[VFM_STATE_STOP_COPY] = VFM_MIG_STOP_COPY,
	[VFM_STATE_RESUMING] = VFM_MIG_STOP_COPY,
	[VFM_STATE_RUNNING_P2P] = VFM_MIG_STOP_COPY | VFM_MIG_P2P,
	[VFM_STATE_PRE_COPY] = VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY,
	[VFM_STATE_PRE_COPY_P2P] = VFM_MIG_STOP_COPY | VFM_MIG_P2P | VFM_MIG_PRE_COPY,
};

/*
 * The single arcs a driver implements, by level of flags: a level applies to a device
 * that has every flag of @need and none of @lack.  @next[from] is the set of states
 * one arc away.  STOP_COPY -> PRE_COPY* is in no level: the kernel forbids it.
 */
/* clang-format off */
static const struct arc_level {
	uint32_t need, lack;
	uint8_t next[VFM_STATE_MAX];
} arc_levels[] = {
	{
		/* base */
		.need = VFM_MIG_STOP_COPY,
		.next = {
			[VFM_STATE_STOP] = ST(RESUMING) | ST(STOP_COPY),
			[VFM_STATE_RESUMING] = ST(STOP),
			[VFM_STATE_STOP_COPY] = ST(STOP),
		},
	},
	{
		/* without P2P, RUNNING and STOP meet directly */
		.need = VFM_MIG_STOP_COPY,
		.lack = VFM_MIG_P2P,
		.next = {
			[VFM_STATE_RUNNING] = ST(STOP),
			[VFM_STATE_STOP] = ST(RUNNING),
		},
	},
	{
		/* with P2P, RUNNING_P2P sits between them */
		.need = VFM_MIG_STOP_COPY | VFM_MIG_P2P,
		.next = {
			[VFM_STATE_RUNNING] = ST(RUNNING_P2P),
			[VFM_STATE_RUNNING_P2P] = ST(RUNNING) | ST(STOP),
			[VFM_STATE_STOP] = ST(RUNNING_P2P),
		},
	},
	{
		/* PRE_COPY without P2P */
		.need = VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY,
		.lack = VFM_MIG_P2P,
		.next = {
			[VFM_STATE_RUNNING] = ST(PRE_COPY),
			[VFM_STATE_PRE_COPY] = ST(RUNNING) | ST(STOP_COPY),
		},
	},
	{
		/* PRE_COPY with P2P: PRE_COPY reaches STOP_COPY via PRE_COPY_P2P */
		.need = VFM_MIG_STOP_COPY | VFM_MIG_P2P | VFM_MIG_PRE_COPY,
		.next = {
			[VFM_STATE_RUNNING] = ST(PRE_COPY),
			[VFM_STATE_PRE_COPY] = ST(RUNNING) | ST(PRE_COPY_P2P),
			[VFM_STATE_PRE_COPY_P2P] = ST(PRE_COPY) | ST(RUNNING_P2P) |
						   ST(STOP_COPY),
			[VFM_STATE_RUNNING_P2P] = ST(PRE_COPY_P2P),
		},
	},
};
/* clang-format on */

static bool flags_valid(uint32_t flags)
{
	return (flags & VFM_MIG_STOP_COPY) && !(flags & ~(uint32_t)VFM_MIG_ALL);
}

static bool state_valid(enum vfm_state state)
{
	return (unsigned)state < VFM_STATE_MAX;
}

/* The states of a device with valid @flags. */
static unsigned states_of(uint32_t flags)
{
	unsigned set = 0;

	for (unsigned s = 0; s < VFM_STATE_MAX; s++)
		if ((flags & state_needs[s]) == state_needs[s])
			set |= 1u << s;
	return set;
}

/* The states one arc away from @from, for valid @flags and @from. */
static unsigned next_of(uint32_t flags, enum vfm_state from)
{
	unsigned set = 0;

	for (size_t i = 0; i < ELEMENTSOF(arc_levels); i++) {
		const struct arc_level *l = &arc_levels[i];

		if ((flags & l->need) == l->need && !(flags & l->lack))
			set |= l->next[from];
	}
	return set & states_of(flags);
}

_public_ bool vfm_fsm_state_supported(uint32_t flags, enum vfm_state state)
{
	return flags_valid(flags) && state_valid(state) &&
	       (states_of(flags) & (1u << state));
}

_public_ bool vfm_fsm_arc_valid(uint32_t flags, enum vfm_state from, enum vfm_state to)
{
	return flags_valid(flags) && state_valid(from) && state_valid(to) &&
	       (next_of(flags, from) & (1u << to));
}

/*
 * Breadth-first search backwards from @to, so that dist[] holds each state's distance
 * to @to; then walk forwards from @from, taking at each step the lowest-numbered next
 * state that is one arc closer.  The plan is thus the lexicographically smallest of
 * the shortest paths, by state value.  With the arcs above the shortest path is
 * unique for every flag set and pair of states, and equals the walk of the kernel's
 * vfio_from_fsm_table (tests/unit/test-fsm.c checks both exhaustively), so the rule
 * only matters should new arcs ever create a tie.
 *
 * Saving-group rule (the uAPI's "no saving group state as an interior state",
 * refined to match the kernel's own PRE_COPY -> PRE_COPY_P2P -> STOP_COPY): the path
 * crosses the border of the saving group at most once.  Between two saving states it
 * stays inside the group, so the data session carries on; otherwise saving states
 * appear only at its ends.  Leaving the group and coming back would end the session
 * and start a new one, which is why STOP_COPY -> PRE_COPY* has no plan.
 */
_public_ int vfm_fsm_plan(uint32_t flags, enum vfm_state from, enum vfm_state to,
			  enum vfm_state path[VFM_PLAN_MAX], size_t *ret_len)
{
	enum vfm_state steps[VFM_PLAN_MAX];
	uint8_t dist[VFM_STATE_MAX];
	unsigned inner, reach, frontier, cur;
	size_t len;

	if (!flags_valid(flags) || !state_valid(from) || !state_valid(to))
		return -EINVAL;
	if (to == VFM_STATE_ERROR || !vfm_fsm_state_supported(flags, to) ||
	    !vfm_fsm_state_supported(flags, from))
		return -EOPNOTSUPP;
	if (from == VFM_STATE_ERROR)
		return -ENOENT; /* only VFIO_DEVICE_RESET leaves ERROR */
	if (from == to) {
		*ret_len = 0;
		return 0;
	}

	/* The states a path may pass through; @reach adds its start. */
	if ((SAVING_GROUP & (1u << from)) && (SAVING_GROUP & (1u << to)))
		inner = SAVING_GROUP;
	else
		inner = ANY_STATE & ~SAVING_GROUP & ~ST(ERROR);
	reach = (inner | (1u << from)) & states_of(flags);

	memset(dist, UINT8_MAX, sizeof(dist));
	dist[to] = 0;
	frontier = 1u << to;
	for (uint8_t d = 1; frontier && dist[from] == UINT8_MAX; d++) {
		unsigned found = 0;

		for (unsigned s = 0; s < VFM_STATE_MAX; s++) {
			if (dist[s] != UINT8_MAX || !(reach & (1u << s)))
				continue;
			if (next_of(flags, (enum vfm_state)s) & frontier) {
				dist[s] = d;
				found |= 1u << s;
			}
		}
		frontier = found;
	}
	if (dist[from] == UINT8_MAX)
		return -ENOENT;

	cur = from;
	for (len = 0; cur != (unsigned)to; len++) {
		unsigned next = next_of(flags, (enum vfm_state)cur);
		unsigned s;

		for (s = 0; s < VFM_STATE_MAX; s++)
			if ((next & (1u << s)) && dist[s] + 1u == dist[cur])
				break;
		if (s == VFM_STATE_MAX || len == VFM_PLAN_MAX)
			return -EIO; /* cannot happen: dist[] says a step exists */
		steps[len] = (enum vfm_state)s;
		cur = s;
	}
	memcpy(path, steps, len * sizeof(steps[0]));
	*ret_len = len;
	return 0;
}
