// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>

#include "ctx-internal.h"
#include "set.h"

static const char *const phase_names[] = {
	[VFM_PHASE_PRECOPY] = "precopy",     [VFM_PHASE_QUIESCE] = "quiesce",
	[VFM_PHASE_STOP_COPY] = "stop-copy", [VFM_PHASE_STOP] = "stop",
	[VFM_PHASE_RESUMING] = "resuming",   [VFM_PHASE_UNQUIESCE] = "unquiesce",
	[VFM_PHASE_RUN] = "run",
};

const char *vfm_phase_name(enum vfm_phase phase)
{
	if ((size_t)phase >= ELEMENTSOF(phase_names))
		return "unknown";
	return phase_names[phase];
}

int vfm_set_init(struct vfm_set *set, struct vfm_device **devs, size_t n,
		 size_t *ret_failed)
{
	if (n > VFM_SET_MAX)
		return -E2BIG;
	set->n = n;
	for (size_t i = 0; i < n; i++) {
		int r = vfm_device_get_flags(devs[i], &set->flags[i]);

		if (r < 0) {
			if (ret_failed)
				*ret_failed = i;
			return r;
		}
		set->dev[i] = devs[i];
	}
	return 0;
}

bool vfm_set_all_p2p(const struct vfm_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (!(set->flags[i] & VFM_MIG_P2P))
			return false;
	return true;
}

enum vfm_state vfm_phase_target(enum vfm_phase phase, uint32_t flags, enum vfm_state cur)
{
	bool p2p = flags & VFM_MIG_P2P;
	bool in_precopy = cur == VFM_STATE_PRE_COPY || cur == VFM_STATE_PRE_COPY_P2P;

	switch (phase) {
	case VFM_PHASE_PRECOPY:
		return (flags & VFM_MIG_PRE_COPY) ? VFM_STATE_PRE_COPY : cur;
	case VFM_PHASE_QUIESCE:
		if (!p2p)
			return cur;
		return in_precopy ? VFM_STATE_PRE_COPY_P2P : VFM_STATE_RUNNING_P2P;
	case VFM_PHASE_STOP_COPY:
		return VFM_STATE_STOP_COPY;
	case VFM_PHASE_STOP:
		return VFM_STATE_STOP;
	case VFM_PHASE_RESUMING:
		return VFM_STATE_RESUMING;
	case VFM_PHASE_UNQUIESCE:
		return p2p ? VFM_STATE_RUNNING_P2P : cur;
	case VFM_PHASE_RUN:
		return VFM_STATE_RUNNING;
	}
	return cur;
}

/* Pass arcs on to the caller, remembering a failed one for the error message. */
static void record_arc(void *userdata, const struct vfm_device *dev,
		       const struct vfm_arc_result *arc)
{
	struct vfm_set *set = userdata;

	if (arc->error < 0) {
		set->failed_arc = true;
		set->failed_from = arc->from;
		set->failed_to = arc->to;
	}
	if (set->on_arc)
		set->on_arc(set->userdata, dev, arc);
}

int vfm_set_phase(struct vfm_set *set, enum vfm_phase phase, size_t *ret_failed)
{
	set->failed_arc = false;
	for (size_t i = 0; i < set->n; i++) {
		enum vfm_state cur;
		int r;

		r = vfm_device_get_state(set->dev[i], &cur);
		if (r >= 0)
			r = vfm_device_drive(set->dev[i], vfm_phase_target(phase, set->flags[i], cur),
					     VFM_DRIVE_READBACK, record_arc, set, NULL);
		if (r < 0) {
			if (ret_failed)
				*ret_failed = i;
			return r;
		}
	}
	return 0;
}

/* Reset and check the device is RUNNING afterwards. */
static int reset_to_running(struct vfm_device *dev)
{
	enum vfm_state st;
	int r = vfm_device_reset(dev);

	if (r < 0)
		return r;
	r = vfm_device_get_state(dev, &st);
	if (r < 0)
		return r;
	return st == VFM_STATE_RUNNING ? 0 : -EIO;
}

int vfm_set_rollback(struct vfm_set *set)
{
	bool need_reset[VFM_SET_MAX] = { false };
	int first = 0;

	/* 1: everything that can be driven reaches RUNNING_P2P (or stays RUNNING);
	 * a device in ERROR or RESUMING (whose image would be judged) is reset. */
	for (size_t i = 0; i < set->n; i++) {
		struct vfm_device *dev = set->dev[i];
		enum vfm_state cur;
		int r = vfm_device_get_state(dev, &cur);

		if (r < 0 || cur == VFM_STATE_ERROR || cur == VFM_STATE_RESUMING) {
			need_reset[i] = true;
			continue;
		}
		if (cur == VFM_STATE_RUNNING)
			continue;
		r = vfm_device_drive(dev,
				     (set->flags[i] & VFM_MIG_P2P) ? VFM_STATE_RUNNING_P2P
								   : VFM_STATE_RUNNING,
				     VFM_DRIVE_READBACK, set->on_arc, set->userdata, NULL);
		if (r < 0)
			need_reset[i] = true;
	}
	/* 2: resets, then all run. */
	for (size_t i = 0; i < set->n; i++) {
		if (need_reset[i]) {
			int r = reset_to_running(set->dev[i]);

			if (r < 0 && first == 0)
				first = r;
		}
	}
	for (size_t i = 0; i < set->n; i++) {
		enum vfm_state cur;
		int r;

		if (need_reset[i])
			continue;
		r = vfm_device_drive(set->dev[i], VFM_STATE_RUNNING, VFM_DRIVE_READBACK,
				     set->on_arc, set->userdata, NULL);
		if (r < 0) {
			r = reset_to_running(set->dev[i]);
			if (r < 0 && first == 0)
				first = r;
		}
		if (vfm_device_get_state(set->dev[i], &cur) >= 0 && cur != VFM_STATE_RUNNING &&
		    first == 0)
			first = -EIO;
	}
	return first;
}
