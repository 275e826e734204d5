// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel backend: VFIO devices through the group/container path or the iommufd
 * cdev path, and the migration v2 features.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "ctx-internal.h"
#include "device-internal.h"
#include "sysfs.h"
#include "util.h"

/* ---- state mapping: a switch each way, never a cast ---- */

static int to_kernel_state(enum vfm_state s, uint32_t *ret)
{
	switch (s) {
	case VFM_STATE_ERROR: *ret = VFIO_DEVICE_STATE_ERROR; return 0;
	case VFM_STATE_STOP: *ret = VFIO_DEVICE_STATE_STOP; return 0;
	case VFM_STATE_RUNNING: *ret = VFIO_DEVICE_STATE_RUNNING; return 0;
	case VFM_STATE_STOP_COPY: *ret = VFIO_DEVICE_STATE_STOP_COPY; return 0;
	case VFM_STATE_RESUMING: *ret = VFIO_DEVICE_STATE_RESUMING; return 0;
	case VFM_STATE_RUNNING_P2P: *ret = VFIO_DEVICE_STATE_RUNNING_P2P; return 0;
	case VFM_STATE_PRE_COPY: *ret = VFIO_DEVICE_STATE_PRE_COPY; return 0;
	case VFM_STATE_PRE_COPY_P2P: *ret = VFIO_DEVICE_STATE_PRE_COPY_P2P; return 0;
	case VFM_STATE_MAX: break;
	}
	return -EINVAL;
}

static int from_kernel_state(uint32_t k, enum vfm_state *ret)
{
	switch (k) {
	case VFIO_DEVICE_STATE_ERROR: *ret = VFM_STATE_ERROR; return 0;
	case VFIO_DEVICE_STATE_STOP: *ret = VFM_STATE_STOP; return 0;
	case VFIO_DEVICE_STATE_RUNNING: *ret = VFM_STATE_RUNNING; return 0;
	case VFIO_DEVICE_STATE_STOP_COPY: *ret = VFM_STATE_STOP_COPY; return 0;
	case VFIO_DEVICE_STATE_RESUMING: *ret = VFM_STATE_RESUMING; return 0;
	case VFIO_DEVICE_STATE_RUNNING_P2P: *ret = VFM_STATE_RUNNING_P2P; return 0;
	case VFIO_DEVICE_STATE_PRE_COPY: *ret = VFM_STATE_PRE_COPY; return 0;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P: *ret = VFM_STATE_PRE_COPY_P2P; return 0;
	}
	return -EPROTO; /* a state this build does not know */
}

/* ---- VFIO_DEVICE_FEATURE ---- */

/* The feature header followed by up to 32 bytes of payload, 8-byte aligned. */
struct feature_buf {
	struct vfio_device_feature hdr;
	uint64_t data[4];
};
assert_cc(sizeof(struct vfio_device_feature) == 8);

static int feature(int fd, uint32_t flags, void *data, size_t size)
{
	struct feature_buf buf = { 0 };

	if (size > sizeof(buf.data))
		return -EINVAL;
	buf.hdr.argsz = (uint32_t)(sizeof(buf.hdr) + size);
	buf.hdr.flags = flags;
	if (size)
		memcpy(buf.data, data, size);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, &buf) < 0)
		return -errno;
	if (size)
		memcpy(data, buf.data, size);
	return 0;
}

static int k_get_flags(struct vfm_device *dev, uint32_t *ret_flags)
{
	struct vfio_device_feature_migration mig = { 0 };
	uint32_t flags = 0;
	int r;

	r = feature(dev->fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, &mig,
		    sizeof(mig));
	if (r < 0)
		return r == -EINVAL ? -ENOTTY : r; /* old kernels: EINVAL for unknown */
	if (mig.flags & VFIO_MIGRATION_STOP_COPY)
		flags |= VFM_MIG_STOP_COPY;
	if (mig.flags & VFIO_MIGRATION_P2P)
		flags |= VFM_MIG_P2P;
	if (mig.flags & VFIO_MIGRATION_PRE_COPY)
		flags |= VFM_MIG_PRE_COPY;
	*ret_flags = flags;
	return 0;
}

static int k_get_state(struct vfm_device *dev, enum vfm_state *ret_state)
{
	struct vfio_device_feature_mig_state st = { 0 };
	int r;

	r = feature(dev->fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		    &st, sizeof(st));
	if (r < 0)
		return r;
	return from_kernel_state(st.device_state, ret_state);
}

static void k_close_session(struct vfm_device *dev)
{
	dev->data_fd = safe_close(dev->data_fd);
}

static int k_set_state(struct vfm_device *dev, enum vfm_state state, bool *ret_new_session,
		       int *ret_data_fd)
{
	struct vfio_device_feature_mig_state st = { .data_fd = -1 };
	enum vfm_state now;
	int r;

	r = to_kernel_state(state, &st.device_state);
	if (r < 0)
		return r;
	r = feature(dev->fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		    &st, sizeof(st));
	if (r < 0) {
		/* The device may have moved along the way: drop a session that ended. */
		if (k_get_state(dev, &now) < 0 ||
		    !(vfm_state_is_saving(now) || now == VFM_STATE_RESUMING))
			k_close_session(dev);
		return r;
	}
	if (st.data_fd >= 0) {
		/* A new session replaces any old one. */
		k_close_session(dev);
		dev->data_fd = st.data_fd;
		*ret_new_session = true;
		*ret_data_fd = st.data_fd;
	} else {
		/* Still in the same saving-group session (e.g. PRE_COPY_P2P -> STOP_COPY
		 * on mtty), or the session ended. */
		if (!(vfm_state_is_saving(state) || state == VFM_STATE_RESUMING))
			k_close_session(dev);
		*ret_new_session = false;
		*ret_data_fd = -1;
	}
	return 0;
}

static int k_get_data_size(struct vfm_device *dev, uint64_t *ret_bytes)
{
	struct vfio_device_feature_mig_data_size sz = { 0 };
	int r;

	r = feature(dev->fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &sz,
		    sizeof(sz));
	if (r < 0)
		return r;
	*ret_bytes = sz.stop_copy_length;
	return 0;
}

static int k_get_precopy_info(struct vfm_device *dev, uint64_t *ret_initial,
			      uint64_t *ret_dirty, uint32_t *ret_flags)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (dev->data_fd < 0)
		return -EINVAL;
	if (ioctl(dev->data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return -errno;
	*ret_initial = info.initial_bytes;
	*ret_dirty = info.dirty_bytes;
	/* without the opt-in the field is reserved: whatever it holds means nothing */
	*ret_flags = dev->precopy_v2 && (info.flags & VFIO_PRECOPY_INFO_REINIT)
			     ? VFM_PRECOPY_REINIT
			     : 0;
	return 0;
}

/*
 * Opt in to precopy info v2 (Linux 7.1+): a driver may then report new initial data in
 * the middle of PRE_COPY (VFIO_PRECOPY_INFO_REINIT).  The opt-in belongs to this open
 * of the device and is cleared when it closes, so it is made on every open.  Kernels
 * before 7.1 refuse the unknown feature (EINVAL, ENOTTY), and so does a device without
 * PRE_COPY: then flags stay reserved and are not read.
 */
static void precopy_v2_opt_in(struct vfm_ctx *ctx, struct vfm_device *dev)
{
	int r = feature(dev->fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
			NULL, 0);

	dev->precopy_v2 = r == 0;
	vfm_dbg(ctx, "%s: precopy info v2 %s%s%s", dev->id.name, r == 0 ? "on" : "off",
		r == 0 ? "" : ": ", r == 0 ? "" : strerror(-r));
}

static ssize_t k_read(struct vfm_device *dev, void *buf, size_t size)
{
	ssize_t n;

	if (dev->data_fd < 0)
		return -EBADF;
	do
		n = read(dev->data_fd, buf, size);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t k_write(struct vfm_device *dev, const void *buf, size_t size)
{
	ssize_t n;

	if (dev->data_fd < 0)
		return -EBADF;
	do
		n = write(dev->data_fd, buf, size);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int k_reset(struct vfm_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	int err;

	k_close_session(dev);
	if (ioctl(dev->fd, VFIO_DEVICE_RESET) >= 0)
		return 0;
	err = -errno;
	/* A PCI function without a reset method gets EINVAL; the device info tells.
	 * (Only after a failure: mtty resets fine without advertising the flag.) */
	if (err == -EINVAL && ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &info) >= 0 &&
	    !(info.flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTTY;
	return err;
}

static int k_set_vf_token(struct vfm_device *dev, const uint8_t uuid[16])
{
	uint8_t b[16];

	memcpy(b, uuid, sizeof(b));
	return feature(dev->fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, b,
		       sizeof(b));
}

/* ---- DMA dirty logging (arguments checked by dirty.c) ---- */

static int k_dirty_probe(struct vfm_device *dev)
{
	return feature(dev->fd,
		       VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
		       NULL, 0);
}

static int k_dirty_start(struct vfm_device *dev, const struct vfm_dirty_range *ranges,
			 size_t n, uint64_t *page_size)
{
	_cleanup_free_ struct vfio_device_feature_dma_logging_range *kr = NULL;
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = *page_size,
		.num_ranges = (uint32_t)n,
	};
	int r;

	assert_cc(sizeof(ctl) == 24);
	kr = calloc(n, sizeof(*kr));
	if (!kr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		kr[i].iova = ranges[i].iova;
		kr[i].length = ranges[i].length;
	}
	ctl.ranges = (uintptr_t)kr;
	r = feature(dev->fd,
		    VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl,
		    sizeof(ctl));
	if (r < 0)
		return r;
	*page_size = ctl.page_size; /* the driver's choice */
	return 0;
}

static int k_dirty_report(struct vfm_device *dev, uint64_t iova, uint64_t length,
			  uint64_t page_size, uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	assert_cc(sizeof(rep) == 32);
	return feature(dev->fd,
		       VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
		       &rep, sizeof(rep));
}

static int k_dirty_stop(struct vfm_device *dev)
{
	return feature(dev->fd,
		       VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
		       NULL, 0);
}

static void k_destroy(struct vfm_device *dev)
{
	k_close_session(dev);
	dev->fd = safe_close(dev->fd);
	if (dev->group >= 0)
		vfm_ctx_group_put(dev->ctx, dev->group);
	dev->iommufd = safe_close(dev->iommufd);
}

static const struct vfm_device_ops kernel_ops = {
	.backend = "kernel",
	.get_flags = k_get_flags,
	.get_state = k_get_state,
	.set_state = k_set_state,
	.get_data_size = k_get_data_size,
	.get_precopy_info = k_get_precopy_info,
	.read = k_read,
	.write = k_write,
	.reset = k_reset,
	.set_vf_token = k_set_vf_token,
	.dirty_probe = k_dirty_probe,
	.dirty_start = k_dirty_start,
	.dirty_report = k_dirty_report,
	.dirty_stop = k_dirty_stop,
	.close_session = k_close_session,
	.destroy = k_destroy,
};

/* ---- container and groups (shared through the context) ---- */

static int container_open(struct vfm_ctx *ctx)
{
	char path[PATH_MAX];
	int fd, r;

	if (ctx->container_fd >= 0)
		return 0;
	r = vfm_ctx_path(ctx, path, sizeof(path), "/dev/vfio/vfio");
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return vfm_ctx_fail(ctx, -ENODEV,
					    "/dev/vfio/vfio does not exist: is the vfio module "
					    "loaded?");
		return vfm_ctx_fail(ctx, -errno, "cannot open /dev/vfio/vfio: %m");
	}
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		close(fd);
		return vfm_ctx_fail(ctx, -EPROTONOSUPPORT, "unknown VFIO API version");
	}
	ctx->container_fd = fd;
	return 0;
}

/* Name a device of the group that is bound to a driver other than a vfio one. */
static void group_culprit(struct vfm_ctx *ctx, int number, char *buf, size_t size)
{
	char path[PATH_MAX], rel[64];
	_cleanup_(closedirp_) DIR *d = NULL;
	struct dirent *de;

	snprintf(buf, size, "a device of the group is bound to another driver");
	snprintf(rel, sizeof(rel), "/sys/kernel/iommu_groups/%d/devices", number);
	if (vfm_ctx_path(ctx, path, sizeof(path), rel) < 0 || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char dev[PATH_MAX + 256], drv[64];

		if (de->d_name[0] == '.')
			continue;
		snprintf(dev, sizeof(dev), "%s/%s", path, de->d_name);
		if (vfm_link_basename(dev, "driver", drv, sizeof(drv)) < 0)
			continue;
		if (!strstr(drv, "vfio")) {
			snprintf(buf, size, "%.40s is bound to %.40s", de->d_name, drv);
			return;
		}
	}
}

int vfm_ctx_group_get(struct vfm_ctx *ctx, int number, int *ret_fd)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX], name[32];
	struct vfm_group *g;
	int fd, r;

	for (unsigned i = 0; i < ctx->n_groups; i++)
		if (ctx->groups[i].number == number) {
			ctx->groups[i].users++;
			*ret_fd = ctx->groups[i].fd;
			return 0;
		}
	if (ctx->n_groups == VFM_MAX_GROUPS)
		return vfm_ctx_fail(ctx, -EMFILE, "more than %d IOMMU groups in one context",
				    VFM_MAX_GROUPS);
	r = container_open(ctx);
	if (r < 0)
		return r;

	snprintf(name, sizeof(name), "/dev/vfio/%d", number);
	r = vfm_ctx_path(ctx, path, sizeof(path), name);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EBUSY)
			return vfm_ctx_fail(ctx, -EBUSY,
					    "IOMMU group %d is in use by another process (a VMM "
					    "holding the device? it can hand the device fd over: "
					    "fd:N)",
					    number);
		if (errno == ENOENT)
			return vfm_ctx_fail(ctx, -ENODEV, "%s does not exist", name);
		return vfm_ctx_fail(ctx, -errno, "cannot open %s: %m", name);
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
		r = vfm_ctx_fail(ctx, -errno, "%s: VFIO_GROUP_GET_STATUS: %m", name);
		close(fd);
		return r;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		char culprit[160];

		close(fd);
		group_culprit(ctx, number, culprit, sizeof(culprit));
		return vfm_ctx_fail(ctx, -EPERM,
				    "IOMMU group %d is not viable: %s (every device of a group "
				    "must be bound to a vfio driver or to none)",
				    number, culprit);
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &ctx->container_fd) < 0) {
		r = vfm_ctx_fail(ctx, -errno, "%s: VFIO_GROUP_SET_CONTAINER: %m", name);
		close(fd);
		return r;
	}
	/* The IOMMU model is chosen once, after the first group joined the container. */
	if (!ctx->iommu_set) {
		long type = VFIO_TYPE1v2_IOMMU;

		if (ioctl(ctx->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
			type = VFIO_TYPE1_IOMMU;
		if (ioctl(ctx->container_fd, VFIO_SET_IOMMU, type) < 0) {
			r = vfm_ctx_fail(ctx, -errno, "VFIO_SET_IOMMU: %m");
			close(fd);
			return r;
		}
		ctx->iommu_set = true;
	}
	g = &ctx->groups[ctx->n_groups++];
	g->number = number;
	g->fd = fd;
	g->users = 1;
	*ret_fd = fd;
	return 0;
}

void vfm_ctx_group_put(struct vfm_ctx *ctx, int number)
{
	for (unsigned i = 0; i < ctx->n_groups; i++) {
		if (ctx->groups[i].number != number)
			continue;
		if (--ctx->groups[i].users == 0) {
			safe_close(ctx->groups[i].fd);
			ctx->groups[i] = ctx->groups[--ctx->n_groups];
		}
		/* When the last group leaves a container the kernel drops its IOMMU
		 * model: start again with a new container next time. */
		if (ctx->n_groups == 0) {
			ctx->container_fd = safe_close(ctx->container_fd);
			ctx->iommu_set = false;
		}
		return;
	}
}

/* ---- opening ---- */

/* Whether the kernel checks a VF token when @res opens. */
static bool token_checked(const struct vfm_resolved *res)
{
	return res && (res->vf_of_pf[0] || res->token_pf);
}

/* @res: what sysfs says about the device, NULL when it does not know it. */
static int open_in_group(struct vfm_ctx *ctx, struct vfm_device *dev, int group,
			 const char *devname, const struct vfm_resolved *res)
{
	const char *token = token_checked(res) ? vfm_ctx_vf_token_for(ctx, devname,
								       res->vf_of_pf,
								       res->token_pf)
					       : NULL;
	char arg[VFM_NAME_MAX + 64];
	int gfd, fd, r;

	r = vfm_ctx_group_get(ctx, group, &gfd);
	if (r < 0)
		return r;
	dev->group = group;
	/* The group path takes the token in the name: "0000:04:10.0 vf_token=UUID". */
	if (token)
		snprintf(arg, sizeof(arg), "%s vf_token=%s", devname, token);
	else
		strcopy(arg, sizeof(arg), devname);
	fd = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, arg);
	if (fd < 0) {
		if (errno == EACCES && token_checked(res))
			return vfm_ctx_vf_token_refused(ctx, devname, res->vf_of_pf, token);
		if (errno == EBUSY)
			return vfm_ctx_fail(ctx, -EBUSY, "%s: device already open", devname);
		return vfm_ctx_fail(ctx, -errno, "%s: VFIO_GROUP_GET_DEVICE_FD in group %d: %m",
				    devname, group);
	}
	dev->fd = fd;
	return 0;
}

/* @res: what sysfs says about the device behind @cdev. */
static int open_cdev(struct vfm_ctx *ctx, struct vfm_device *dev, const char *cdev,
		     const struct vfm_resolved *res)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	const char *token = token_checked(res) ? vfm_ctx_vf_token_for(ctx, res->id.name,
								       res->vf_of_pf,
								       res->token_pf)
					       : NULL;
	uint8_t uuid[16];
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	char path[PATH_MAX];
	int r;

	r = vfm_ctx_path(ctx, path, sizeof(path), cdev);
	if (r < 0)
		return r;
	dev->fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		if (errno == EBUSY)
			return vfm_ctx_fail(ctx, -EBUSY, "%s is in use by another process", cdev);
		return vfm_ctx_fail(ctx, -errno, "cannot open %s: %m", cdev);
	}
	r = vfm_ctx_path(ctx, path, sizeof(path), "/dev/iommu");
	if (r < 0)
		return r;
	dev->iommufd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->iommufd < 0)
		return vfm_ctx_fail(ctx, errno == ENOENT ? -ENODEV : -errno,
				    "cannot open /dev/iommu (kernel without IOMMUFD?): %m");
	bind.iommufd = dev->iommufd;
	if (token) {
		memcpy(uuid, ctx->vf_token, sizeof(uuid));
		bind.flags = VFIO_DEVICE_BIND_FLAG_TOKEN;
		bind.token_uuid_ptr = (uintptr_t)uuid;
	}
	r = ioctl(dev->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 ? -errno : 0;
	if (r == -EINVAL && token) {
		/* Before Linux 6.17 the flag is unknown (EINVAL), but EINVAL also says
		 * that another open is bound: a bind without the flag tells them apart.
		 * If that one succeeds, this kernel never checks a token on the cdev
		 * path: refuse rather than open a VF behind its PF owner's back. */
		bind.flags = 0;
		bind.token_uuid_ptr = 0;
		r = ioctl(dev->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 ? -errno : 0;
		if (r == 0)
			return vfm_ctx_fail(ctx, -EOPNOTSUPP,
					    "%s (%s): this kernel takes no VF token on the cdev "
					    "path (Linux 6.17+); open it by its PCI address (the "
					    "group path) instead",
					    cdev, res->id.name);
	}
	if (r == -EACCES && token_checked(res))
		return vfm_ctx_vf_token_refused(ctx, res->id.name, res->vf_of_pf, token);
	if (r < 0) {
		/* A cdev opens once: EINVAL when another open of it is bound, EBUSY
		 * when the device is open through its group. */
		if (r == -EINVAL || r == -EBUSY)
			return vfm_ctx_fail(ctx, -EBUSY,
					    "%s is in use by another process (%s; a VMM "
					    "holding it can hand its fd over: fd:N)",
					    cdev,
					    r == -EBUSY ? "the device is open through its "
							  "IOMMU group"
							: "another open of the cdev is bound "
							  "to an iommufd");
		errno = -r;
		return vfm_ctx_fail(ctx, r, "%s: VFIO_DEVICE_BIND_IOMMUFD: %m", cdev);
	}
	if (ioctl(dev->iommufd, IOMMU_IOAS_ALLOC, &ioas) < 0)
		return vfm_ctx_fail(ctx, -errno, "%s: IOMMU_IOAS_ALLOC: %m", cdev);
	attach.pt_id = ioas.out_ioas_id;
	if (ioctl(dev->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
		return vfm_ctx_fail(ctx, -errno, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT: %m", cdev);
	return 0;
}

/* Fill vendor/device IDs from PCI config space when sysfs has none (mdevs). */
static void ids_from_config(struct vfm_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint8_t cfg[0x30];

	if (dev->id.vendor >= 0 || ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &info) < 0 ||
	    !(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= reg.index)
		return;
	if (ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0 || reg.size < sizeof(cfg) ||
	    pread(dev->fd, cfg, sizeof(cfg), (off_t)reg.offset) != (ssize_t)sizeof(cfg))
		return;
	dev->id.vendor = cfg[0] | cfg[1] << 8;
	dev->id.device = cfg[2] | cfg[3] << 8;
	dev->id.revision = cfg[8];
	dev->id.subsystem_vendor = cfg[0x2c] | cfg[0x2d] << 8;
	dev->id.subsystem_device = cfg[0x2e] | cfg[0x2f] << 8;
}

/* "/dev/vfio/devices/vfioN" -> sysfs identity through /sys/class/vfio-dev. */
static int resolve_cdev(struct vfm_ctx *ctx, const char *cdev, struct vfm_resolved *res)
{
	char path[PATH_MAX], real[PATH_MAX];
	const char *node = cdev + strlen("/dev/vfio/devices/");
	int r;

	if (strncmp(node, "vfio", 4) != 0 || strchr(node, '/'))
		return vfm_ctx_fail(ctx, -EINVAL, "%s: not a VFIO device node", cdev);
	snprintf(real, sizeof(real), "/sys/class/vfio-dev/%s/device", node);
	r = vfm_ctx_path(ctx, path, sizeof(path), real);
	if (r < 0)
		return r;
	if (!realpath(path, real))
		return vfm_ctx_fail(ctx, -ENOENT, "%s: no such VFIO device", cdev);
	return vfm_sysfs_identity(ctx, real, res);
}

static int open_fd(struct vfm_ctx *ctx, struct vfm_device *dev, const char *name)
{
	char link[64], target[PATH_MAX];
	struct vfm_resolved res;
	ssize_t n;
	int fd, r;

	const char *colon = strchr(name + 3, ':');
	char num[16];

	/* fd:N, or fd:N:NAME where NAME says which device it is (for its identity). */
	if ((colon ? (size_t)(colon - (name + 3)) : strlen(name + 3)) >= sizeof(num))
		return vfm_ctx_fail(ctx, -EINVAL, "%s: not a file descriptor number", name);
	memcpy(num, name + 3, colon ? (size_t)(colon - (name + 3)) : strlen(name + 3) + 1);
	num[colon ? colon - (name + 3) : (long)strlen(name + 3)] = '\0';
	r = parse_int(num, 0, INT_MAX, &fd);
	if (r < 0)
		return vfm_ctx_fail(ctx, -EINVAL, "%s: not a file descriptor number", name);
	if (colon && !colon[1])
		return vfm_ctx_fail(ctx, -EINVAL, "%s: empty device name after the fd", name);
	if (fcntl(fd, F_GETFD) < 0)
		return vfm_ctx_fail(ctx, -EBADF, "%s: no such open file descriptor", name);
	/* Our own reference: the caller's fd stays theirs. */
	dev->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dev->fd < 0)
		return vfm_ctx_fail(ctx, -errno, "%s: cannot duplicate: %m", name);
	dev->id.kind = VFM_DEVICE_FD;
	strcopy(dev->id.name, sizeof(dev->id.name), name);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		if (strncmp(target, "/dev/vfio/devices/", 18) == 0 &&
		    resolve_cdev(ctx, target, &res) >= 0) {
			dev->id = res.id;
			dev->id.kind = VFM_DEVICE_FD;
			strcopy(dev->id.name, sizeof(dev->id.name), name);
		}
	}
	if (colon) {
		/* The caller named the device: take its identity from sysfs (a cdev
		 * path names it too: /dev/vfio/devices/vfioN). */
		if (strncmp(colon + 1, "/dev/vfio/devices/", 18) == 0)
			r = resolve_cdev(ctx, colon + 1, &res);
		else
			r = vfm_sysfs_resolve(ctx, colon + 1, &res);
		if (r < 0)
			return r;
		dev->id = res.id;
		dev->id.kind = VFM_DEVICE_FD;
		strcopy(dev->id.name, sizeof(dev->id.name), res.id.name);
	}
	vfm_ctx_clear_error(ctx);
	ids_from_config(dev);
	return 0;
}

int vfm_kernel_open(struct vfm_ctx *ctx, const char *name, struct vfm_device **ret_dev)
{
	struct vfm_device *dev;
	struct vfm_resolved res;
	char devname[VFM_NAME_MAX];
	int r;

	dev = vfm_device_alloc(ctx, &kernel_ops);
	if (!dev)
		return -ENOMEM;

	if (strncmp(name, "fd:", 3) == 0) {
		r = open_fd(ctx, dev, name);
	} else if (strncmp(name, "/dev/vfio/devices/", 18) == 0) {
		r = resolve_cdev(ctx, name, &res);
		if (r >= 0) {
			dev->id = res.id;
			r = open_cdev(ctx, dev, name, &res);
		}
	} else if (strncmp(name, "/dev/vfio/", 10) == 0) {
		/* /dev/vfio/N:NAME */
		const char *colon = strchr(name + 10, ':');
		char num[16];
		int group;

		r = -EINVAL;
		if (!colon || (size_t)(colon - (name + 10)) >= sizeof(num) || !colon[1]) {
			r = vfm_ctx_fail(ctx, -EINVAL,
					 "%s: a group needs the device name: /dev/vfio/N:NAME",
					 name);
		} else {
			memcpy(num, name + 10, (size_t)(colon - (name + 10)));
			num[colon - (name + 10)] = '\0';
			if (parse_int(num, 0, INT_MAX, &group) < 0)
				r = vfm_ctx_fail(ctx, -EINVAL, "%s: bad group number", name);
			else
				r = 0;
		}
		if (r >= 0) {
			const struct vfm_resolved *known = NULL;

			strcopy(devname, sizeof(devname), colon + 1);
			if (vfm_sysfs_resolve(ctx, devname, &res) >= 0) {
				dev->id = res.id;
				strcopy(devname, sizeof(devname), res.group_name);
				known = &res;
			} else {
				strcopy(dev->id.name, sizeof(dev->id.name), devname);
			}
			vfm_ctx_clear_error(ctx);
			dev->id.iommu_group = group;
			r = open_in_group(ctx, dev, group, devname, known);
		}
	} else {
		r = vfm_sysfs_resolve(ctx, name, &res);
		if (r >= 0) {
			dev->id = res.id;
			if (res.id.iommu_group >= 0) {
				char gpath[64], p[PATH_MAX];
				struct stat st;

				snprintf(gpath, sizeof(gpath), "/dev/vfio/%d", res.id.iommu_group);
				if (res.cdev[0] && vfm_ctx_path(ctx, p, sizeof(p), gpath) >= 0 &&
				    stat(p, &st) < 0)
					r = open_cdev(ctx, dev, res.cdev, &res);
				else
					r = open_in_group(ctx, dev, res.id.iommu_group,
							  res.group_name, &res);
			} else if (res.cdev[0]) {
				r = open_cdev(ctx, dev, res.cdev, &res);
			} else {
				r = vfm_ctx_fail(ctx, -ENODEV,
						 "%s: no IOMMU group and no VFIO cdev",
						 res.id.name);
			}
		}
	}
	if (r < 0) {
		vfm_device_unref(dev);
		return r;
	}
	ids_from_config(dev);
	precopy_v2_opt_in(ctx, dev);
	*ret_dev = dev;
	return 0;
}
