/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The device-access layer's internal interface: one ops table per backend.  Nothing
 * above src/device/ includes this file or knows which backend it talks to.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfiomig.h"

struct vfm_device;

struct vfm_device_ops {
	const char *backend; /* "kernel", "sim" */

	/* Migration flags; -ENOTTY when the device does not support migration. */
	int (*get_flags)(struct vfm_device *dev, uint32_t *ret_flags);
	int (*get_state)(struct vfm_device *dev, enum vfm_state *ret_state);
	/*
	 * One SET.  *ret_new_session: whether a data session was opened (saving group
	 * entered from outside it, or RESUMING entered).  *ret_data_fd: the session fd
	 * (kernel) or -1 (sim).  The generic layer tracks sessions; the backend keeps its
	 * own fd in dev->data_fd (kernel) or its own private data (sim).
	 */
	int (*set_state)(struct vfm_device *dev, enum vfm_state state, bool *ret_new_session,
			 int *ret_data_fd);
	int (*get_data_size)(struct vfm_device *dev, uint64_t *ret_bytes);
	/* *ret_flags: VFM_PRECOPY_* (0 unless the device opted in to precopy info v2) */
	int (*get_precopy_info)(struct vfm_device *dev, uint64_t *ret_initial,
				uint64_t *ret_dirty, uint32_t *ret_flags);
	ssize_t (*read)(struct vfm_device *dev, void *buf, size_t size);
	ssize_t (*write)(struct vfm_device *dev, const void *buf, size_t size);
	int (*reset)(struct vfm_device *dev);
	/*
	 * DMA dirty logging (src/device/dirty.c checks the arguments first); NULL: the
	 * backend has none (-ENOTTY).  dirty_start: *page_size in: asked, out: used.
	 * dirty_report: sets bits in @bitmap (zeroed by the caller), never clears.
	 */
	int (*dirty_probe)(struct vfm_device *dev);
	int (*dirty_start)(struct vfm_device *dev, const struct vfm_dirty_range *ranges,
			   size_t n, uint64_t *page_size);
	int (*dirty_report)(struct vfm_device *dev, uint64_t iova, uint64_t length,
			    uint64_t page_size, uint64_t *bitmap);
	int (*dirty_stop)(struct vfm_device *dev);
	/* VFIO_DEVICE_FEATURE_PCI_VF_TOKEN; NULL: -ENOTTY */
	int (*set_vf_token)(struct vfm_device *dev, const uint8_t uuid[16]);
	/* End any data session; called before destroy.  Backends end sessions
	 * themselves when a SET leaves the group/RESUMING and on reset. */
	void (*close_session)(struct vfm_device *dev);
	/* Release backend resources; called once from the last unref. */
	void (*destroy)(struct vfm_device *dev);
};

struct vfm_device {
	unsigned refcount;
	struct vfm_ctx *ctx;
	const struct vfm_device_ops *ops;
	struct vfm_device_identity id;

	/* kernel backend */
	int fd;           /* device fd */
	int data_fd;      /* open data session, or -1 */
	int group;        /* group number held in ctx, or -1 */
	int iommufd;      /* cdev path only, or -1 */
	/* VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 was SET on this open (Linux 7.1+, a
	 * device with PRE_COPY): vfio_precopy_info.flags is an output */
	bool precopy_v2;

	/* DMA dirty logging started through this open (dirty.c) */
	bool dirty_active;
	uint64_t dirty_page_size;	      /* the driver's */
	struct vfm_dirty_range *dirty_ranges; /* as started, sorted by iova */
	size_t dirty_n;

	void *priv; /* backend private (sim) */
};

/* Allocate a device with refcount 1, fds -1, ctx referenced. */
struct vfm_device *vfm_device_alloc(struct vfm_ctx *ctx, const struct vfm_device_ops *ops);

/* Backends. */
int vfm_kernel_open(struct vfm_ctx *ctx, const char *name, struct vfm_device **ret_dev);
int vfm_sim_open(struct vfm_ctx *ctx, const char *spec, struct vfm_device **ret_dev);

/* Stop logging still on (the last unref); frees the ranges. */
void vfm_device_dirty_release(struct vfm_device *dev);

/* Whether @s is in the saving group (PRE_COPY, PRE_COPY_P2P, STOP_COPY). */
static inline bool vfm_state_is_saving(enum vfm_state s)
{
	return s == VFM_STATE_PRE_COPY || s == VFM_STATE_PRE_COPY_P2P ||
	       s == VFM_STATE_STOP_COPY;
}
