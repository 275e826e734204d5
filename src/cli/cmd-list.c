// SPDX-License-Identifier: GPL-2.0-or-later
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
	printf("Usage: vfiomig list [--no-probe] [-j] [-p]\n\n"
	       "List PCI functions bound to a vfio driver and mdevs, with driver, IOMMU group\n"
	       "and migration flags.  Finding the flags opens each device briefly (a device\n"
	       "held by a VMM shows as busy); --no-probe skips that.\n");
}

static const char *kind_name(enum vfm_device_kind k)
{
	switch (k) {
	case VFM_DEVICE_PCI: return "pci";
	case VFM_DEVICE_MDEV: return "mdev";
	case VFM_DEVICE_FD: return "fd";
	case VFM_DEVICE_SIM: return "sim";
	}
	return "unknown";
}

/* "/dev/vfio/devices/vfioN" of a device, from <sysfs path>/vfio-dev/ */
static bool cdev_of(const struct vfm_device_identity *id, char *buf, size_t size)
{
	const char *root = getenv("VFIOMIG_SYSFS_ROOT");
	char dir[VFM_NAME_MAX + 256];
	struct dirent *e;
	bool found = false;
	DIR *d;

	if (!id->sysfs_path[0])
		return false;
	snprintf(dir, sizeof(dir), "%s%s/vfio-dev", root ? root : "", id->sysfs_path);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		if (strncmp(e->d_name, "vfio", 4) == 0 && strlen(e->d_name) < 16) {
			snprintf(buf, size, "/dev/vfio/devices/%s", e->d_name);
			found = true;
		}
	closedir(d);
	return found;
}

void cli_print_identity(struct cli *cli, const struct vfm_device_identity *id)
{
	struct out *o = cli->out;
	char buf[64];

	out_str(o, "kind", NULL, kind_name(id->kind));
	if (id->driver[0]) {
		out_str(o, "driver", "  driver %s", id->driver);
	} else {
		out_null(o, "driver");
		out_text(o, "  driver -");
	}
	if (id->iommu_group >= 0)
		out_i64(o, "iommu_group", "  group %s", id->iommu_group);
	else
		out_null(o, "iommu_group");
	if (id->vendor >= 0) {
		snprintf(buf, sizeof(buf), "%04x:%04x", (unsigned)id->vendor,
			 (unsigned)id->device);
		out_text(o, "  id %s", buf);
		snprintf(buf, sizeof(buf), "0x%04x", (unsigned)id->vendor);
		out_str(o, "vendor_id", NULL, buf);
		snprintf(buf, sizeof(buf), "0x%04x", (unsigned)id->device);
		out_str(o, "device_id", NULL, buf);
	}
	if (id->subsystem_vendor >= 0) {
		snprintf(buf, sizeof(buf), "0x%04x", (unsigned)id->subsystem_vendor);
		out_str(o, "subsystem_vendor_id", NULL, buf);
		snprintf(buf, sizeof(buf), "0x%04x", (unsigned)id->subsystem_device);
		out_str(o, "subsystem_device_id", NULL, buf);
	}
	if (id->revision >= 0) {
		snprintf(buf, sizeof(buf), "0x%02x", (unsigned)id->revision);
		out_str(o, "revision", NULL, buf);
	}
	if (id->mdev_type[0])
		out_str(o, "mdev_type", "  type %s", id->mdev_type);
	if (id->sysfs_path[0])
		out_str(o, "sysfs_path", NULL, id->sysfs_path);
	/* the iommufd cdev, where the kernel has one (CONFIG_VFIO_DEVICE_CDEV) */
	if (cdev_of(id, buf, sizeof(buf)))
		out_str(o, "cdev", "  cdev %s", buf);
	else if (cli->json)
		out_null(o, "cdev");
	if (cli->verbose_identity) {
		if (id->subsystem_vendor >= 0)
			out_text(o, "\n  subsystem %04x:%04x", (unsigned)id->subsystem_vendor,
				 (unsigned)id->subsystem_device);
		if (id->revision >= 0)
			out_text(o, "  revision %02x", (unsigned)id->revision);
		if (id->sysfs_path[0])
			out_text(o, "\n  sysfs %s", id->sysfs_path);
	}
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "no-probe", no_argument, NULL, 'n' }, {} };
	struct vfm_host_device *list = NULL;
	bool probe = true;
	int c, r, n, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", opts, help, &ex)) > 0)
		if (c == 'n')
			probe = false;
	if (c < 0)
		return ex;
	if (optind < argc) {
		cli_error(cli, "list takes no operands");
		return EXIT_USAGE;
	}

	n = vfm_host_list(cli->ctx, &list);
	if (n < 0) {
		cli_error(cli, "cannot list devices: %s", strerror(-n));
		return EXIT_FAILED;
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_array_begin(cli->out, "devices");
	for (int i = 0; i < n; i++) {
		struct vfm_device_identity *id = &list[i].id;
		struct vfm_ctx *pctx = NULL;
		struct vfm_device *dev = NULL;
		char flags[64];
		uint32_t mig;

		out_object_begin(cli->out, NULL);
		out_str(cli->out, "device", "%s", id->name);
		cli_print_identity(cli, id);
		if (!probe) {
			out_text(cli->out, "\n");
			out_object_end(cli->out);
			continue;
		}
		/* A context per device: a busy or broken group must not affect the others. */
		r = cli_ctx_new(&pctx);
		if (r >= 0 && cli->vf_token)
			r = vfm_ctx_set_vf_token(pctx, cli->vf_token);
		if (r >= 0)
			r = vfm_device_open(pctx, id->name, &dev);
		if (r >= 0)
			r = vfm_device_get_flags(dev, &mig);
		if (r >= 0) {
			vfm_flags_format(mig, flags, sizeof(flags));
			out_bool(cli->out, "migratable", NULL, true);
			out_str_list(cli->out, "migration_flags", "  migration %s", flags);
		} else if (r == -ENOTTY) {
			out_bool(cli->out, "migratable", NULL, false);
			out_text(cli->out, "  not migratable");
		} else {
			const char *why = pctx ? vfm_ctx_last_error(pctx) : "";

			out_null(cli->out, "migratable");
			if (r == -EBUSY)
				why = "busy: in use by another process";
			else if (r == -EPERM && *why)
				why = "group not viable";
			else if (!*why)
				why = strerror(-r);
			out_str(cli->out, "probe_error", "  migration unknown (%s)", why);
		}
		out_text(cli->out, "\n");
		out_object_end(cli->out);
		vfm_device_unref(dev);
		vfm_ctx_unref(pctx);
	}
	out_array_end(cli->out);
	out_object_end(cli->out);
	if (n == 0)
		out_text(cli->out, "no VFIO devices\n");
	out_finish(cli->out);
	free(list);
	return EXIT_OK;
}
