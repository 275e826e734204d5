/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfiomig.h"

struct vfm_ctx;

/* How a kernel device name resolved. */
struct vfm_resolved {
	struct vfm_device_identity id;
	char group_name[VFM_NAME_MAX]; /* name for VFIO_GROUP_GET_DEVICE_FD */
	char cdev[VFM_NAME_MAX];       /* /dev/vfio/devices/vfioN if sysfs shows one */
	bool vfio_bound;               /* bound to a vfio driver */
	/* SR-IOV under a vfio driver's PF, whose VF token the kernel checks: the PF's
	 * address when this is a VF of a PF bound to a vfio driver, else ""; whether
	 * this is an SR-IOV PF bound to a vfio driver */
	char vf_of_pf[16];
	bool token_pf;
};

/*
 * Resolve a PCI address ("0000:3b:00.1", "3b:00.1"), an mdev UUID or a sysfs device
 * path to its sysfs directory and identity.  Errors: -EINVAL not such a name,
 * -ENOENT no such device, -ENODEV no driver; the context's last error explains.
 */
int vfm_sysfs_resolve(struct vfm_ctx *ctx, const char *name, struct vfm_resolved *ret);

/* Fill identity from an absolute sysfs device directory (already realpath'ed). */
int vfm_sysfs_identity(struct vfm_ctx *ctx, const char *dir, struct vfm_resolved *ret);

/* Normalise a PCI address to "dddd:bb:dd.f" into @buf (≥ 13 bytes). -EINVAL. */
int vfm_pci_addr_normalize(const char *s, char *buf, size_t size);

/* The basename of the target of the symlink @dir/@link into @buf: a device's driver,
 * IOMMU group, mdev type.  Returns 0 or -errno. */
int vfm_link_basename(const char *dir, const char *link, char *buf, size_t size);
