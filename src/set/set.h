/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Several devices moved as one.  Each phase drives every device to that phase's
 * target for its own flags; a phase is a barrier: it completes only when every device
 * reached its target, so no device stops before all are quiesced (P2P), and no device
 * runs before all have loaded.  On failure the whole set rolls back.
 */

#include <stdbool.h>
#include <stddef.h>

#include "vfiomig.h"

enum vfm_phase {
	VFM_PHASE_PRECOPY,   /* PRE_COPY where supported; others stay RUNNING */
	VFM_PHASE_QUIESCE,   /* RUNNING_P2P or PRE_COPY_P2P where P2P; others unchanged */
	VFM_PHASE_STOP_COPY, /* STOP_COPY */
	VFM_PHASE_STOP,      /* STOP */
	VFM_PHASE_RESUMING,  /* RESUMING */
	VFM_PHASE_UNQUIESCE, /* RUNNING_P2P where P2P; others unchanged (STOP) */
	VFM_PHASE_RUN,       /* RUNNING */
};

const char *vfm_phase_name(enum vfm_phase phase);

struct vfm_set {
	size_t n;
	struct vfm_device *dev[VFM_SET_MAX];
	uint32_t flags[VFM_SET_MAX];
	/* Called after every arc of every device (may be NULL). */
	vfm_arc_fn on_arc;
	void *userdata;
	/* The last arc that failed in vfm_set_phase() (valid when failed_arc). */
	bool failed_arc;
	enum vfm_state failed_from, failed_to;
};

/**
 * vfm_set_init() - a set over @devs (references are not taken: the caller keeps
 * the devices alive).  Reads every device's flags.
 * Errors: -E2BIG more than VFM_SET_MAX; -ENOTTY a device has no migration support
 * (*ret_failed is its index); others from the driver.
 */
int vfm_set_init(struct vfm_set *set, struct vfm_device **devs, size_t n,
		 size_t *ret_failed);

/* Whether every device has P2P (a multi-device migration needs it). */
bool vfm_set_all_p2p(const struct vfm_set *set);

/* The state @phase means for a device with @flags currently in @cur. */
enum vfm_state vfm_phase_target(enum vfm_phase phase, uint32_t flags, enum vfm_state cur);

/**
 * vfm_set_phase() - drive every device to @phase's target, arc by arc, reading the
 * state back.  Stops at the first failure: *@ret_failed receives the index of the
 * device that failed.  Devices already moved are left where they are: the caller
 * decides (usually vfm_set_rollback()).
 */
int vfm_set_phase(struct vfm_set *set, enum vfm_phase phase, size_t *ret_failed);

/**
 * vfm_set_rollback() - bring every device back to RUNNING: a device in ERROR or
 * RESUMING, or one that cannot be driven, is reset; the others go through
 * RUNNING_P2P (all of them, a barrier) before any runs.  Keeps going on errors.
 * Returns 0 when every device ends in RUNNING, else the first error.
 */
int vfm_set_rollback(struct vfm_set *set);
