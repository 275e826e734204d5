/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include "macro.h"
#include "vfiomig.h"

#define VFM_MAX_GROUPS 64

struct vfm_group {
	int number;
	int fd;
	unsigned users;
};

struct vfm_ctx {
	unsigned refcount;
	enum vfm_log_level log_max;
	vfm_log_fn log_fn;
	void *log_userdata;
	char *root; /* sysfs/dev root prefix, "" for the real one */

	/* kernel backend: one container shared by all groups of this context */
	int container_fd;
	bool iommu_set;
	struct vfm_group groups[VFM_MAX_GROUPS];
	unsigned n_groups;

	/* vfm_ctx_set_vf_token(): presented when a VF (or its PF) guarded by a token
	 * is opened; vf_token_str is the canonical lowercase form */
	bool has_vf_token;
	uint8_t vf_token[16];
	char vf_token_str[37];

	char last_error[512];
};

void vfm_log(struct vfm_ctx *ctx, enum vfm_log_level level, const char *fmt, ...)
	_printf_(3, 4);
#define vfm_dbg(ctx, ...) vfm_log((ctx), VFM_LOG_DEBUG, __VA_ARGS__)

/* Record a sentence for vfm_ctx_last_error() and return @err (a negative errno). */
int vfm_ctx_fail(struct vfm_ctx *ctx, int err, const char *fmt, ...) _printf_(3, 4);
void vfm_ctx_clear_error(struct vfm_ctx *ctx);

/* Prefix @path (absolute) with the context's root into @buf. -ENAMETOOLONG. */
int vfm_ctx_path(const struct vfm_ctx *ctx, char *buf, size_t size, const char *path);

/* The VF token to present when opening @name, or NULL: only for a VF whose PF is
 * bound to a vfio driver and for such a PF (@vf_of_pf: the VF's PF address or "",
 * @token_pf: @name is an SR-IOV PF bound to a vfio driver).  The kernel refuses a
 * token anywhere else (EINVAL), so one token given for a whole set of devices is
 * presented only where it means something. */
const char *vfm_ctx_vf_token_for(struct vfm_ctx *ctx, const char *name,
				 const char *vf_of_pf, bool token_pf);

/* Record and return -EACCES for a token the kernel refused while opening @name (see
 * vfm_ctx_vf_token_for() for the arguments); @given: whether one was presented. */
int vfm_ctx_vf_token_refused(struct vfm_ctx *ctx, const char *name, const char *vf_of_pf,
			     bool given);

/* Group handling for the kernel backend (src/device/kernel.c). */
int vfm_ctx_group_get(struct vfm_ctx *ctx, int number, int *ret_fd);
void vfm_ctx_group_put(struct vfm_ctx *ctx, int number);
