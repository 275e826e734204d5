// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysfs: what a device name refers to, who drives it, its IDs, and the list of VFIO
 * devices on the host.
 */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctx-internal.h"
#include "device-internal.h"
#include "sysfs.h"
#include "util.h"

int vfm_pci_addr_normalize(const char *s, char *buf, size_t size)
{
	unsigned dom = 0, bus, dev, fn;
	int n = 0;
	size_t len = strlen(s);

	/* Accept exactly "bb:dd.f" or "dddd:bb:dd.f" in hex. */
	if (len == 7) {
		if (sscanf(s, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) != 3 || n != 7)
			return -EINVAL;
	} else if (len == 12) {
		if (sscanf(s, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) != 4 ||
		    n != 12)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
			return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	if (snprintf(buf, size, "%04x:%02x:%02x.%x", dom, bus, dev, fn) >= (int)size)
		return -ENOBUFS;
	return 0;
}

int vfm_link_basename(const char *dir, const char *link, char *buf, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, link) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return strcopy(buf, size, base);
}

static bool dir_has(const char *dir, const char *entry)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, entry) >= (int)sizeof(path))
		return false;
	return lstat(path, &st) == 0;
}

static void read_id(const char *dir, const char *attr, int32_t *ret)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", dir, attr) < (int)sizeof(path))
		(void)read_hex_file(path, ret);
}

static bool driver_is_vfio(const char *driver)
{
	/* vfio-pci and the variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, ...) */
	return strstr(driver, "vfio") != NULL;
}

int vfm_sysfs_identity(struct vfm_ctx *ctx, const char *dir, struct vfm_resolved *ret)
{
	struct vfm_device_identity *id = &ret->id;
	const char *base = strrchr(dir, '/');
	char group[32];
	int r;

	base = base ? base + 1 : dir;
	memset(ret, 0, sizeof(*ret));
	id->vendor = id->device = id->subsystem_vendor = id->subsystem_device = -1;
	id->revision = id->iommu_group = -1;
	id->vf_index = -1;

	/* A path under ctx->root: strip the root from what we show. */
	r = strcopy(id->sysfs_path, sizeof(id->sysfs_path), dir + strlen(ctx->root));
	if (r < 0)
		return vfm_ctx_fail(ctx, -ENAMETOOLONG, "%s: sysfs path too long", dir);

	if (dir_has(dir, "mdev_type")) {
		id->kind = VFM_DEVICE_MDEV;
		if (!is_uuid(base))
			return vfm_ctx_fail(ctx, -EINVAL, "%s: mdev name is not a UUID", dir);
		(void)vfm_link_basename(dir, "mdev_type", id->mdev_type, sizeof(id->mdev_type));
	} else if (dir_has(dir, "vendor") && dir_has(dir, "config")) {
		id->kind = VFM_DEVICE_PCI;
		read_id(dir, "vendor", &id->vendor);
		read_id(dir, "device", &id->device);
		read_id(dir, "subsystem_vendor", &id->subsystem_vendor);
		read_id(dir, "subsystem_device", &id->subsystem_device);
		read_id(dir, "revision", &id->revision);
	} else {
		return vfm_ctx_fail(ctx, -ENODEV, "%s: neither a PCI function nor an mdev",
				    id->sysfs_path);
	}
	strcopy(id->name, sizeof(id->name), base);
	strcopy(ret->group_name, sizeof(ret->group_name), base);

	if (vfm_link_basename(dir, "driver", id->driver, sizeof(id->driver)) < 0)
		id->driver[0] = '\0';
	if (vfm_link_basename(dir, "iommu_group", group, sizeof(group)) >= 0) {
		int g;

		if (parse_int(group, 0, INT_MAX, &g) >= 0)
			id->iommu_group = g;
	}

	if (dir_has(dir, "vfio-dev")) {
		char vd[PATH_MAX];
		_cleanup_(closedirp_) DIR *d = NULL;
		struct dirent *de;

		snprintf(vd, sizeof(vd), "%s/vfio-dev", dir);
		d = opendir(vd);
		while (d && (de = readdir(d)))
			if (strncmp(de->d_name, "vfio", 4) == 0 &&
			    strlen(de->d_name) < 32) {
				snprintf(ret->cdev, sizeof(ret->cdev), "/dev/vfio/devices/%.31s",
					 de->d_name);
				break;
			}
	}

	if (id->kind == VFM_DEVICE_PCI) {
		char pf[32], pfdir[PATH_MAX], pfdrv[64];

		if (vfm_link_basename(dir, "physfn", pf, sizeof(pf)) >= 0 &&
		    strlen(pf) < sizeof(ret->vf_of_pf) &&
		    snprintf(pfdir, sizeof(pfdir), "%s/physfn", dir) < (int)sizeof(pfdir) &&
		    vfm_link_basename(pfdir, "driver", pfdrv, sizeof(pfdrv)) >= 0 &&
		    driver_is_vfio(pfdrv))
			strcopy(ret->vf_of_pf, sizeof(ret->vf_of_pf), pf);
		ret->token_pf = dir_has(dir, "sriov_totalvfs") && id->driver[0] &&
				driver_is_vfio(id->driver);
	}

	/* An mdev is a VFIO device when its parent driver registered it with vfio;
	 * the group link is the sign.  A PCI function needs a vfio driver. */
	if (id->kind == VFM_DEVICE_MDEV)
		ret->vfio_bound = id->driver[0] && id->iommu_group >= 0;
	else
		ret->vfio_bound = id->driver[0] &&
				  (driver_is_vfio(id->driver) || ret->cdev[0]);
	return 0;
}

/* A device found, bound to a vfio driver. */
static int resolved_vfio(struct vfm_ctx *ctx, const char *real, struct vfm_resolved *ret)
{
	int r = vfm_sysfs_identity(ctx, real, ret);

	if (r < 0)
		return r;
	if (!ret->id.driver[0])
		return vfm_ctx_fail(ctx, -ENODEV,
				    "%s: not bound to any driver (bind it to vfio-pci or a "
				    "vfio variant driver)",
				    ret->id.name);
	if (!ret->vfio_bound)
		return vfm_ctx_fail(ctx, -ENODEV,
				    "%s: bound to %s, not to a vfio driver (bind it to vfio-pci "
				    "or a vfio variant driver)",
				    ret->id.name, ret->id.driver);
	return 0;
}

/*
 * A sysfs path, from a client that may not read what we (root) can: it counts only
 * when, symlinks and ".." resolved, it is a device that /sys/bus/pci/devices or
 * /sys/bus/mdev/devices lists under its own name.  Nothing else is read, and every
 * other path (missing ones included) gets the same answer, so that no path's
 * existence can be probed through us.
 */
static int resolve_sysfs_path(struct vfm_ctx *ctx, const char *name, const char *path,
			      struct vfm_resolved *ret)
{
	static const char *const buses[] = { "/sys/bus/pci/devices/", "/sys/bus/mdev/devices/" };
	char real[PATH_MAX], bus[PATH_MAX], bus_real[PATH_MAX], rel[PATH_MAX];
	const char *base;

	if (realpath(path, real)) {
		base = strrchr(real, '/');
		base = base ? base + 1 : real;
		for (size_t i = 0; *base && i < ELEMENTSOF(buses); i++) {
			int n = snprintf(rel, sizeof(rel), "%s%s", buses[i], base);

			if (n < 0 || (size_t)n >= sizeof(rel) ||
			    vfm_ctx_path(ctx, bus, sizeof(bus), rel) < 0 ||
			    !realpath(bus, bus_real) || !streq(bus_real, real))
				continue;
			return resolved_vfio(ctx, real, ret);
		}
	}
	return vfm_ctx_fail(ctx, -ENOENT,
			    "%s: not a device listed in /sys/bus/pci/devices or "
			    "/sys/bus/mdev/devices (once symlinks and .. are resolved)",
			    name);
}

int vfm_sysfs_resolve(struct vfm_ctx *ctx, const char *name, struct vfm_resolved *ret)
{
	char path[PATH_MAX], real[PATH_MAX], addr[16];
	const char *what;
	int r;

	if (name[0] == '/') {
		if (strncmp(name, "/sys/", 5) != 0)
			return vfm_ctx_fail(ctx, -EINVAL, "%s: not a sysfs device path", name);
		r = vfm_ctx_path(ctx, path, sizeof(path), name);
		what = "sysfs device";
	} else if (is_uuid(name)) {
		char lower[40];

		for (size_t i = 0; i <= strlen(name); i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		snprintf(real, sizeof(real), "/sys/bus/mdev/devices/%s", lower);
		r = vfm_ctx_path(ctx, path, sizeof(path), real);
		what = "mdev";
	} else if (vfm_pci_addr_normalize(name, addr, sizeof(addr)) == 0) {
		snprintf(real, sizeof(real), "/sys/bus/pci/devices/%s", addr);
		r = vfm_ctx_path(ctx, path, sizeof(path), real);
		what = "PCI device";
	} else {
		return vfm_ctx_fail(ctx, -EINVAL,
				    "'%s' is not a device name (PCI address, mdev UUID, sysfs "
				    "path, /dev/vfio/N:NAME, /dev/vfio/devices/vfioN, fd:N or "
				    "sim:NAME)",
				    name);
	}
	if (r < 0)
		return vfm_ctx_fail(ctx, r, "%s: path too long", name);
	if (name[0] == '/')
		return resolve_sysfs_path(ctx, name, path, ret);
	if (!realpath(path, real)) {
		if (errno == ENOENT || errno == ENOTDIR)
			return vfm_ctx_fail(ctx, -ENOENT, "%s: no such %s", name, what);
		return vfm_ctx_fail(ctx, -errno, "%s: %m", path);
	}
	return resolved_vfio(ctx, real, ret);
}

static int list_add(struct vfm_host_device **list, size_t *n, size_t *cap,
		    const struct vfm_resolved *res)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct vfm_host_device *l;

		if (ncap > 65536)
			return -E2BIG;
		l = realloc(*list, ncap * sizeof(**list));
		if (!l)
			return -ENOMEM;
		*list = l;
		*cap = ncap;
	}
	(*list)[(*n)++].id = res->id;
	return 0;
}

static int scan_bus(struct vfm_ctx *ctx, const char *bus, struct vfm_host_device **list,
		    size_t *n, size_t *cap)
{
	char path[PATH_MAX];
	_cleanup_(closedirp_) DIR *d = NULL;
	struct dirent *de;
	int r;

	r = vfm_ctx_path(ctx, path, sizeof(path), bus);
	if (r < 0)
		return r;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char dev[PATH_MAX], real[PATH_MAX];
		struct vfm_resolved res;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(dev, sizeof(dev), "%s/%s", path, de->d_name) >= (int)sizeof(dev))
			continue;
		if (!realpath(dev, real))
			continue;
		if (vfm_sysfs_identity(ctx, real, &res) < 0 || !res.vfio_bound)
			continue;
		r = list_add(list, n, cap, &res);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_host(const void *a, const void *b)
{
	const struct vfm_host_device *x = a, *y = b;

	return strcmp(x->id.name, y->id.name);
}

_public_ int vfm_host_list(struct vfm_ctx *ctx, struct vfm_host_device **ret_list)
{
	struct vfm_host_device *list = NULL;
	size_t n = 0, cap = 0;
	int r;

	r = scan_bus(ctx, "/sys/bus/pci/devices", &list, &n, &cap);
	if (r >= 0)
		r = scan_bus(ctx, "/sys/bus/mdev/devices", &list, &n, &cap);
	if (r < 0) {
		free(list);
		return r;
	}
	if (n)
		qsort(list, n, sizeof(*list), cmp_host);
	*ret_list = list;
	return (int)n;
}
