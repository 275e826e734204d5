// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backend-independent half of device access: open dispatch, reference counting,
 * the arcs we refuse to request, and driving a device along a plan.
 */
#include <stdio.h>
#include <string.h>

#include "ctx-internal.h"
#include "device-internal.h"
#include "util.h"

struct vfm_device *vfm_device_alloc(struct vfm_ctx *ctx, const struct vfm_device_ops *ops)
{
	struct vfm_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->refcount = 1;
	dev->ctx = vfm_ctx_ref(ctx);
	dev->ops = ops;
	dev->fd = -1;
	dev->data_fd = -1;
	dev->group = -1;
	dev->iommufd = -1;
	dev->id.vendor = dev->id.device = -1;
	dev->id.subsystem_vendor = dev->id.subsystem_device = -1;
	dev->id.revision = -1;
	dev->id.iommu_group = -1;
	dev->id.vf_index = -1;
	return dev;
}

_public_ int vfm_device_open(struct vfm_ctx *ctx, const char *name,
			     struct vfm_device **ret_dev)
{
	size_t n;

	if (!ctx || !name || !ret_dev)
		return -EINVAL;
	vfm_ctx_clear_error(ctx);
	n = strnlen(name, VFM_NAME_MAX);
	if (n == 0)
		return vfm_ctx_fail(ctx, -EINVAL, "empty device name");
	if (n >= VFM_NAME_MAX)
		return vfm_ctx_fail(ctx, -ENAMETOOLONG, "device name longer than %d bytes",
				    VFM_NAME_MAX - 1);
	if (strncmp(name, "sim:", 4) == 0)
		return vfm_sim_open(ctx, name, ret_dev);
	return vfm_kernel_open(ctx, name, ret_dev);
}

_public_ int vfm_device_open_fd(struct vfm_ctx *ctx, int fd, const char *name,
				struct vfm_device **ret_dev)
{
	char spec[VFM_NAME_MAX + 16];

	if (fd < 0 || (name && !*name))
		return vfm_ctx_fail(ctx, -EINVAL, "fd %d%s: bad descriptor or empty name",
				    fd, name ? " with a name" : "");
	if (name && strnlen(name, VFM_NAME_MAX) >= VFM_NAME_MAX)
		return vfm_ctx_fail(ctx, -ENAMETOOLONG, "fd %d: device name too long", fd);
	if (name)
		snprintf(spec, sizeof(spec), "fd:%d:%s", fd, name);
	else
		snprintf(spec, sizeof(spec), "fd:%d", fd);
	return vfm_device_open(ctx, spec, ret_dev);
}

_public_ int vfm_device_set_vf_token(struct vfm_device *pf, const char *uuid)
{
	uint8_t b[16];

	if (!pf || parse_uuid(uuid, b) < 0)
		return -EINVAL;
	if (!pf->ops->set_vf_token)
		return -ENOTTY;
	return pf->ops->set_vf_token(pf, b);
}

_public_ struct vfm_device *vfm_device_ref(struct vfm_device *dev)
{
	if (dev)
		dev->refcount++;
	return dev;
}

_public_ struct vfm_device *vfm_device_unref(struct vfm_device *dev)
{
	if (!dev || --dev->refcount > 0)
		return NULL;
	vfm_device_dirty_release(dev);
	if (dev->ops->close_session)
		dev->ops->close_session(dev);
	dev->ops->destroy(dev);
	vfm_ctx_unref(dev->ctx);
	free(dev);
	return NULL;
}

_public_ struct vfm_ctx *vfm_device_ctx(const struct vfm_device *dev)
{
	return dev->ctx;
}

_public_ const char *vfm_device_name(const struct vfm_device *dev)
{
	return dev->id.name;
}

_public_ const struct vfm_device_identity *
vfm_device_identity(const struct vfm_device *dev)
{
	return &dev->id;
}

_public_ int vfm_device_get_flags(struct vfm_device *dev, uint32_t *ret_flags)
{
	return dev->ops->get_flags(dev, ret_flags);
}

_public_ int vfm_device_get_state(struct vfm_device *dev, enum vfm_state *ret_state)
{
	return dev->ops->get_state(dev, ret_state);
}

_public_ int vfm_device_set_state(struct vfm_device *dev, enum vfm_state state,
				  int *ret_data_fd)
{
	bool new_session = false;
	int data_fd = -1, r;

	if ((unsigned)state >= VFM_STATE_MAX || state == VFM_STATE_ERROR)
		return -EINVAL;

	/* Kernels before 6.12.96 spin forever inside the ioctl on STOP_COPY -> PRE_COPY*
	 * for PRE_COPY devices: never let that request reach a driver. */
	if (state == VFM_STATE_PRE_COPY || state == VFM_STATE_PRE_COPY_P2P) {
		enum vfm_state cur;

		r = dev->ops->get_state(dev, &cur);
		if (r < 0)
			return r;
		if (cur == VFM_STATE_STOP_COPY) {
			vfm_dbg(dev->ctx, "%s: refusing STOP_COPY -> %s", dev->id.name,
				vfm_state_name(state));
			return -EINVAL;
		}
	}

	r = dev->ops->set_state(dev, state, &new_session, &data_fd);
	if (r < 0)
		return r;
	if (ret_data_fd)
		*ret_data_fd = new_session ? data_fd : -1;
	return 0;
}

_public_ int vfm_device_get_data_size(struct vfm_device *dev, uint64_t *ret_bytes)
{
	return dev->ops->get_data_size(dev, ret_bytes);
}

_public_ int vfm_device_get_precopy_info(struct vfm_device *dev, uint64_t *ret_initial,
					 uint64_t *ret_dirty)
{
	uint32_t flags;

	return dev->ops->get_precopy_info(dev, ret_initial, ret_dirty, &flags);
}

_public_ int vfm_device_get_precopy(struct vfm_device *dev,
				     struct vfm_precopy_info *ret)
{
	struct vfm_precopy_info info = { 0 };
	int r;

	r = dev->ops->get_precopy_info(dev, &info.initial_bytes, &info.dirty_bytes,
				       &info.flags);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

_public_ bool vfm_device_precopy_v2(const struct vfm_device *dev)
{
	return dev && dev->precopy_v2;
}

_public_ ssize_t vfm_device_read(struct vfm_device *dev, void *buf, size_t size)
{
	return dev->ops->read(dev, buf, size);
}

_public_ ssize_t vfm_device_write(struct vfm_device *dev, const void *buf, size_t size)
{
	return dev->ops->write(dev, buf, size);
}

_public_ int vfm_device_fd(const struct vfm_device *dev)
{
	if (strcmp(dev->ops->backend, "kernel") != 0)
		return -EOPNOTSUPP;
	return dev->fd >= 0 ? dev->fd : -EBADF;
}

_public_ int vfm_device_data_fd(const struct vfm_device *dev)
{
	if (strcmp(dev->ops->backend, "kernel") != 0)
		return -EOPNOTSUPP;
	return dev->data_fd >= 0 ? dev->data_fd : -EBADF;
}

_public_ int vfm_device_reset(struct vfm_device *dev)
{
	return dev->ops->reset(dev);
}

_public_ int vfm_device_drive(struct vfm_device *dev, enum vfm_state target,
			      unsigned flags, vfm_arc_fn fn, void *userdata,
			      enum vfm_state *ret_state)
{
	enum vfm_state path[VFM_PLAN_MAX], cur;
	uint32_t mig;
	size_t len;
	int r;

	r = vfm_device_get_flags(dev, &mig);
	if (r < 0)
		return r;
	r = vfm_device_get_state(dev, &cur);
	if (r < 0)
		return r;
	r = vfm_fsm_plan(mig, cur, target, path, &len);
	if (r < 0) {
		if (ret_state)
			*ret_state = cur;
		return r;
	}

	for (size_t i = 0; i < len; i++) {
		struct vfm_arc_result arc = { .from = cur, .to = path[i] };
		uint64_t t0 = now_usec();

		arc.error = vfm_device_set_state(dev, path[i], NULL);
		arc.usec = now_usec() - t0;
		if (arc.error < 0 || (flags & VFM_DRIVE_READBACK)) {
			int q = vfm_device_get_state(dev, &arc.after);

			arc.readback = q >= 0;
		}
		if (fn)
			fn(userdata, dev, &arc);
		if (arc.error < 0) {
			if (ret_state && arc.readback)
				*ret_state = arc.after;
			return arc.error;
		}
		if (arc.readback && arc.after != path[i]) {
			if (ret_state)
				*ret_state = arc.after;
			return -EIO;
		}
		cur = path[i];
	}
	if (ret_state)
		*ret_state = cur;
	return 0;
}
