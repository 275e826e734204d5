// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Finding PFs and VFs in sysfs: a PF by netdev, PCI address or devlink handle; a VF
 * by its own PCI function (physfn, virtfnN).  Paths go through the context's sysfs
 * root, so that tests can run on a fake tree.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net-internal.h"
#include "util.h"

/* sysfs paths: below PATH_MAX, and a sysfs root of a test is short. */
#define SYSPATH_MAX PATH_MAX

bool vfm_is_representor_port_name(const char *s)
{
	/* (c<N>)?pf<N>((vf|sf)<N>)? */
	if (*s == 'c' && isdigit((unsigned char)s[1])) {
		for (s++; isdigit((unsigned char)*s); s++)
			;
	}
	if (s[0] != 'p' || s[1] != 'f' || !isdigit((unsigned char)s[2]))
		return false;
	for (s += 2; isdigit((unsigned char)*s); s++)
		;
	if ((s[0] == 'v' || s[0] == 's') && s[1] == 'f' && isdigit((unsigned char)s[2]))
		for (s += 2; isdigit((unsigned char)*s); s++)
			;
	return *s == '\0';
}

/* The kernel's dev_valid_name(), and short enough. */
static bool is_netdev_name(const char *s)
{
	size_t n = strnlen(s, VFM_IFNAME_MAX);

	if (n == 0 || n >= VFM_IFNAME_MAX || streq(s, ".") || streq(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s) ||
		    (unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* "0000:3b:00.1" (domain of 4 to 8 hex digits) or "3b:00.1", written canonically into
 * @buf (domain 0000 added). */
static bool pci_addr_canonical(const char *s, char *buf, size_t size)
{
	const char *p = s;
	size_t dom = 0;

	while (isxdigit((unsigned char)p[dom]))
		dom++;
	if (p[dom] == ':' && dom >= 4 && dom <= 8)
		p += dom + 1;
	else
		dom = 0;
	if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
	    p[2] != ':' || !isxdigit((unsigned char)p[3]) ||
	    !isxdigit((unsigned char)p[4]) || p[5] != '.' || p[6] < '0' || p[6] > '7' ||
	    p[7] != '\0')
		return false;
	if (dom)
		return snprintf(buf, size, "%s", s) < (int)size;
	return snprintf(buf, size, "0000:%s", s) < (int)size;
}

/* A sysfs path component: printable, no '/', not "." or "..". */
static bool is_component(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n >= max || streq(s, ".") || streq(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* realpath() of root + @path; *@ret_rel points into @buf past the root. */
static int resolve(struct vfm_ctx *ctx, const char *path, char buf[SYSPATH_MAX],
		   const char **ret_rel)
{
	char p[SYSPATH_MAX];
	size_t rootlen = strlen(ctx->root);
	int r = vfm_ctx_path(ctx, p, sizeof(p), path);

	if (r < 0)
		return r;
	if (!realpath(p, buf))
		return -errno;
	if (strncmp(buf, ctx->root, rootlen) != 0 || (buf[rootlen] != '/' && rootlen))
		return -EXDEV; /* a link out of the fake root */
	if (ret_rel)
		*ret_rel = buf + rootlen;
	return 0;
}

static int read_int_file(struct vfm_ctx *ctx, const char *dir, const char *file, int max,
			 int32_t *ret)
{
	char rel[SYSPATH_MAX], p[SYSPATH_MAX], line[32];
	int v, r;

	if (snprintf(rel, sizeof(rel), "%s/%s", dir, file) >= (int)sizeof(rel))
		return -ENAMETOOLONG;
	r = vfm_ctx_path(ctx, p, sizeof(p), rel);
	if (r < 0)
		return r;
	r = (int)read_line_file(p, line, sizeof(line));
	if (r < 0)
		return r;
	r = parse_int(line, 0, max, &v);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

static bool netdev_is_representor(struct vfm_ctx *ctx, const char *ifname)
{
	char p[SYSPATH_MAX], line[64];

	if (snprintf(p, sizeof(p), "%s/sys/class/net/%s/phys_port_name", ctx->root,
		     ifname) >= (int)sizeof(p))
		return false;
	/* No phys_port_name (EOPNOTSUPP on read): not a switch port at all. */
	if (read_line_file(p, line, sizeof(line)) <= 0)
		return false;
	return vfm_is_representor_port_name(line);
}

static int sort_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* The PF netdev of the device at @devrel: the first of its net/ entries, by name,
 * that is not a port representor. */
static int pick_netdev(struct vfm_ctx *ctx, const char *devrel, char ret[VFM_IFNAME_MAX])
{
	char p[SYSPATH_MAX];
	struct dirent **names = NULL;
	int n, r = -ENODEV;

	if (snprintf(p, sizeof(p), "%s%s/net", ctx->root, devrel) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	n = scandir(p, &names, NULL, sort_names);
	if (n < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		if (r < 0 && is_netdev_name(name) && name[0] != '.' &&
		    !netdev_is_representor(ctx, name)) {
			strcopy(ret, VFM_IFNAME_MAX, name);
			r = 0;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* Fill @pf for netdev @ifname of the device whose resolved sysfs path is @devrel. */
static int fill_pf(struct vfm_ctx *ctx, const char *devrel, const char *ifname,
		   struct vfm_pf *pf, char *why, size_t why_size)
{
	char p[SYSPATH_MAX], buf[SYSPATH_MAX];
	const char *rel;
	int r;

	*pf = (struct vfm_pf){.ifindex = -1, .num_vfs = -1, .total_vfs = -1};
	strcopy(pf->ifname, sizeof(pf->ifname), ifname);
	if (strcopy(pf->sysfs_path, sizeof(pf->sysfs_path), devrel) < 0)
		return vfm_net_fail(why, why_size, -ENAMETOOLONG,
				    "%s: sysfs path too long", ifname);
	snprintf(p, sizeof(p), "/sys/class/net/%s", ifname);
	r = read_int_file(ctx, p, "ifindex", INT32_MAX, &pf->ifindex);
	if (r < 0 || pf->ifindex <= 0)
		return vfm_net_fail(why, why_size, r < 0 ? r : -EIO,
				    "%s: cannot read its ifindex from sysfs", ifname);
	/* The devlink handle is the device's bus and name. */
	if (snprintf(p, sizeof(p), "%s/subsystem", devrel) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	r = resolve(ctx, p, buf, &rel);
	if (r < 0)
		return vfm_net_fail(why, why_size, r,
				    "%s: %s has no bus (subsystem link)", ifname, devrel);
	if (!is_component(base_name(rel), sizeof(pf->bus)) ||
	    !is_component(base_name(devrel), sizeof(pf->dev)))
		return vfm_net_fail(why, why_size, -EINVAL, "%s: unusable device name %s",
				    ifname, devrel);
	strcopy(pf->bus, sizeof(pf->bus), base_name(rel));
	strcopy(pf->dev, sizeof(pf->dev), base_name(devrel));
	if (read_int_file(ctx, devrel, "sriov_numvfs", 65535, &pf->num_vfs) < 0)
		pf->num_vfs = -1;
	if (read_int_file(ctx, devrel, "sriov_totalvfs", 65535, &pf->total_vfs) < 0)
		pf->total_vfs = -1;
	return 0;
}

static int pf_from_netdev(struct vfm_ctx *ctx, const char *ifname, struct vfm_pf *ret,
			  char *why, size_t why_size)
{
	char p[SYSPATH_MAX], buf[SYSPATH_MAX];
	const char *devrel = NULL;
	int r;

	snprintf(p, sizeof(p), "/sys/class/net/%s/device", ifname);
	r = resolve(ctx, p, buf, &devrel);
	if (r == -ENOENT)
		return vfm_net_fail(
			why, why_size, -ENODEV,
			"%s is not backed by a device (a virtual interface): no PF "
			"netdev, no VFs",
			ifname);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: %s", ifname, strerror(-r));
	return fill_pf(ctx, devrel, ifname, ret, why, why_size);
}

static int pf_from_device(struct vfm_ctx *ctx, const char *path, const char *name,
			  struct vfm_pf *ret, char *why, size_t why_size)
{
	char buf[SYSPATH_MAX], ifname[VFM_IFNAME_MAX];
	const char *devrel = NULL;
	int r = resolve(ctx, path, buf, &devrel);

	if (r == -ENOENT)
		return vfm_net_fail(why, why_size, -ENOENT, "%s: no such device", name);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: %s", name, strerror(-r));
	r = pick_netdev(ctx, devrel, ifname);
	if (r == -ENODEV)
		return vfm_net_fail(
			why, why_size, r,
			"%s has no network interface (no PF netdev): not a network PF",
			name);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: %s", name, strerror(-r));
	return fill_pf(ctx, devrel, ifname, ret, why, why_size);
}

int vfm_pf_find(struct vfm_ctx *ctx, const char *name, struct vfm_pf *ret_pf, char *why,
		size_t why_size)
{
	char p[SYSPATH_MAX], addr[32];
	const char *slash;

	if (!name || !*name)
		return vfm_net_fail(why, why_size, -EINVAL, "empty PF name");
	if (is_netdev_name(name)) {
		snprintf(p, sizeof(p), "%s/sys/class/net/%s", ctx->root, name);
		if (access(p, F_OK) == 0)
			return pf_from_netdev(ctx, name, ret_pf, why, why_size);
	}
	if (pci_addr_canonical(name, addr, sizeof(addr))) {
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", addr);
		return pf_from_device(ctx, p, addr, ret_pf, why, why_size);
	}
	slash = strchr(name, '/');
	if (slash && slash - name < 32 && is_component(slash + 1, 128)) {
		char bus[32];

		memcpy(bus, name, (size_t)(slash - name));
		bus[slash - name] = '\0';
		if (is_component(bus, sizeof(bus))) {
			snprintf(p, sizeof(p), "/sys/bus/%s/devices/%s", bus, slash + 1);
			return pf_from_device(ctx, p, name, ret_pf, why, why_size);
		}
	}
	if (is_netdev_name(name))
		return vfm_net_fail(why, why_size, -ENOENT, "no network interface %s",
				    name);
	return vfm_net_fail(
		why, why_size, -EINVAL,
		"'%s' is not a netdev name, a PCI address or a devlink handle "
		"(BUS/DEV)",
		name);
}

int vfm_pf_list(struct vfm_ctx *ctx, struct vfm_pf **ret_list)
{
	char p[SYSPATH_MAX];
	struct dirent **names = NULL;
	struct vfm_pf *list = NULL;
	size_t n_list = 0;
	int n, r = 0;

	snprintf(p, sizeof(p), "%s/sys/class/net", ctx->root);
	n = scandir(p, &names, NULL, sort_names);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct vfm_pf pf, *grown;
		bool dup = false;

		if (r < 0 || !is_netdev_name(name) || name[0] == '.' ||
		    netdev_is_representor(ctx, name) ||
		    pf_from_netdev(ctx, name, &pf, NULL, 0) < 0 || pf.num_vfs <= 0)
			continue;
		/* One PF per device: a multi-port function shows its first netdev. */
		for (size_t j = 0; j < n_list; j++)
			dup = dup || streq(list[j].sysfs_path, pf.sysfs_path);
		if (dup)
			continue;
		grown = reallocarray(list, n_list + 1, sizeof(*list));
		if (!grown) {
			r = -ENOMEM;
			continue;
		}
		list = grown;
		list[n_list++] = pf;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r < 0) {
		free(list);
		return r;
	}
	*ret_list = list;
	return (int)n_list;
}

/* PCI function and driver of VF @vf from the PF's virtfnN link, when there is one. */
static void vf_function(struct vfm_ctx *ctx, struct vfm_vf_ref *ref)
{
	char p[SYSPATH_MAX], buf[SYSPATH_MAX];
	const char *rel;

	ref->pci_addr[0] = ref->driver[0] = '\0';
	snprintf(p, sizeof(p), "%s/virtfn%u", ref->pf.sysfs_path, ref->vf);
	if (resolve(ctx, p, buf, &rel) < 0 ||
	    !is_component(base_name(rel), sizeof(ref->pci_addr)))
		return;
	strcopy(ref->pci_addr, sizeof(ref->pci_addr), base_name(rel));
	snprintf(p, sizeof(p), "%s/driver", rel);
	if (resolve(ctx, p, buf, &rel) == 0 &&
	    is_component(base_name(rel), sizeof(ref->driver)))
		strcopy(ref->driver, sizeof(ref->driver), base_name(rel));
}

int vfm_vf_ref_pf(struct vfm_ctx *ctx, const struct vfm_pf *pf, uint32_t vf,
		  struct vfm_vf_ref *ret_ref, char *why, size_t why_size)
{
	if (vf >= VFM_VF_MAX)
		return vfm_net_fail(why, why_size, -ENOENT,
				    "%s: VF %u is beyond what vfiomig "
				    "handles (%d VFs)",
				    pf->ifname, vf, VFM_VF_MAX);
	if (pf->num_vfs == 0)
		return vfm_net_fail(why, why_size, -ENOENT,
				    "%s has no VFs (sriov_numvfs is 0): "
				    "no VF %u",
				    pf->ifname, vf);
	if (pf->num_vfs > 0 && vf >= (uint32_t)pf->num_vfs)
		return vfm_net_fail(why, why_size, -ENOENT,
				    "%s has %d VFs (0 to %d): no VF %u", pf->ifname,
				    pf->num_vfs, pf->num_vfs - 1, vf);
	*ret_ref = (struct vfm_vf_ref){.pf = *pf, .vf = vf};
	vf_function(ctx, ret_ref);
	return 0;
}

int vfm_vf_find(struct vfm_ctx *ctx, const char *vf_dev, struct vfm_vf_ref *ret_ref,
		char *why, size_t why_size)
{
	char p[SYSPATH_MAX], addr[32], buf[SYSPATH_MAX], pfbuf[SYSPATH_MAX];
	char ifname[VFM_IFNAME_MAX];
	const char *devrel, *pfrel;
	struct dirent **names = NULL;
	struct vfm_vf_ref ref = {};
	int n, r, index = -1;

	if (!vf_dev || !*vf_dev)
		return vfm_net_fail(why, why_size, -EINVAL, "empty device name");
	if (is_uuid(vf_dev))
		return vfm_net_fail(why, why_size, -ENODEV,
				    "%s is an mdev: no PF netdev, not a network VF",
				    vf_dev);
	if (pci_addr_canonical(vf_dev, addr, sizeof(addr)))
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", addr);
	else if (strncmp(vf_dev, "/sys/", 5) == 0 && strlen(vf_dev) < sizeof(p))
		snprintf(p, sizeof(p), "%s", vf_dev);
	else
		return vfm_net_fail(
			why, why_size, -ENODEV,
			"%s is not a PCI function: no PF netdev, not a network VF",
			vf_dev);
	r = resolve(ctx, p, buf, &devrel);
	if (r == -ENOENT)
		return vfm_net_fail(why, why_size, -ENOENT, "%s: no such device", vf_dev);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: %s", vf_dev, strerror(-r));
	snprintf(p, sizeof(p), "%s/physfn", devrel);
	r = resolve(ctx, p, pfbuf, &pfrel);
	if (r == -ENOENT)
		return vfm_net_fail(
			why, why_size, -ENODEV,
			"%s is not an SR-IOV VF (no physfn): no PF netdev, not a "
			"network VF",
			vf_dev);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: physfn: %s", vf_dev,
				    strerror(-r));

	/* Our index: the PF's virtfnN link that leads back to us. */
	snprintf(p, sizeof(p), "%s%s", ctx->root, pfrel);
	n = scandir(p, &names, NULL, sort_names);
	if (n < 0)
		return vfm_net_fail(why, why_size, -errno, "%s: %s", pfrel,
				    strerror(errno));
	for (int i = 0; i < n; i++) {
		char link[SYSPATH_MAX], lbuf[SYSPATH_MAX];
		const char *lrel;
		int v;

		if (index < 0 && strncmp(names[i]->d_name, "virtfn", 6) == 0 &&
		    parse_int(names[i]->d_name + 6, 0, VFM_VF_MAX - 1, &v) == 0 &&
		    snprintf(link, sizeof(link), "%s/%s", pfrel, names[i]->d_name) <
			    (int)sizeof(link) &&
		    resolve(ctx, link, lbuf, &lrel) == 0 && streq(lrel, devrel))
			index = v;
		free(names[i]);
	}
	free(names);
	if (index < 0)
		return vfm_net_fail(
			why, why_size, -ENODEV,
			"%s: not among the virtfn links of its PF %s (or beyond VF %d)",
			vf_dev, base_name(pfrel), VFM_VF_MAX - 1);

	r = pick_netdev(ctx, pfrel, ifname);
	if (r == -ENODEV)
		return vfm_net_fail(
			why, why_size, -ENODEV,
			"%s: its PF %s has no network interface (no PF netdev): not a "
			"network VF",
			vf_dev, base_name(pfrel));
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: PF %s: %s", vf_dev,
				    base_name(pfrel), strerror(-r));
	r = fill_pf(ctx, pfrel, ifname, &ref.pf, why, why_size);
	if (r < 0)
		return r;
	ref.vf = (uint32_t)index;
	vf_function(ctx, &ref);
	*ret_ref = ref;
	return 0;
}
