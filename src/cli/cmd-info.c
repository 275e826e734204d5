// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
	printf("Usage: vfiomig info DEV... [-j] [-p]\n\n"
	       "Identity (IDs, driver, IOMMU group, mdev type), migration flags, current\n"
	       "state, the driver's STOP_COPY data size estimate, and precopy info when the\n"
	       "device is in PRE_COPY.  All devices are opened together in one process.\n");
}

/* Print the variable part of a device: flags, state, sizes.  Shared with `state info`. */
void cli_print_migration(struct cli *cli, struct vfm_device *dev);

void cli_print_migration(struct cli *cli, struct vfm_device *dev)
{
	struct out *o = cli->out;
	enum vfm_state st;
	uint64_t size, initial, dirty;
	uint32_t mig;
	char buf[64];
	int r;

	r = vfm_device_get_flags(dev, &mig);
	if (r == -ENOTTY) {
		out_bool(o, "migratable", NULL, false);
		out_text(o, "  migration not migratable\n");
		return;
	}
	if (r < 0) {
		out_null(o, "migratable");
		out_str(o, "migration_error", "  migration unknown (%s)\n", strerror(-r));
		return;
	}
	vfm_flags_format(mig, buf, sizeof(buf));
	out_bool(o, "migratable", NULL, true);
	out_str_list(o, "migration_flags", "  migration %s\n", buf);
	if (mig & VFM_MIG_PRE_COPY) {
		/* whether the kernel took the opt-in: Linux 7.1+ */
		out_bool(o, "precopy_info_v2", NULL, vfm_device_precopy_v2(dev));
		out_text(o, "  precopy info v2 %s\n",
			 vfm_device_precopy_v2(dev) ? "yes (new initial data is reported)"
						    : "no (kernel before 7.1)");
	}

	r = vfm_device_get_state(dev, &st);
	if (r < 0)
		out_str(o, "state_error", "  state unknown (%s)\n", strerror(-r));
	else
		out_str(o, "state", "  state %s\n", vfm_state_name(st));

	r = vfm_device_get_data_size(dev, &size);
	if (r < 0) {
		out_null(o, "estimate_bytes");
		out_str(o, NULL, "  data size %s\n",
			r == -ENOTTY ? "not reported by the driver" : strerror(-r));
	} else {
		out_u64(o, "estimate_bytes", "  data size %s bytes (STOP_COPY estimate)\n", size);
	}

	if (r >= 0 && (st == VFM_STATE_PRE_COPY || st == VFM_STATE_PRE_COPY_P2P) &&
	    vfm_device_get_precopy_info(dev, &initial, &dirty) >= 0) {
		out_object_begin(o, "precopy");
		out_u64(o, "initial_bytes", "  precopy initial %s bytes", initial);
		out_u64(o, "dirty_bytes", ", dirty %s bytes\n", dirty);
		out_object_end(o);
	}
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	struct vfm_device *devs[64] = { NULL };
	int c, n, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	n = argc - optind;
	if (n < 1) {
		cli_error(cli, "info needs at least one device (see vfiomig info --help)");
		return EXIT_USAGE;
	}
	if (n > (int)ELEMENTSOF(devs)) {
		cli_error(cli, "at most %zu devices at once", ELEMENTSOF(devs));
		return EXIT_USAGE;
	}
	for (int i = 0; i < n && ex == EXIT_OK; i++)
		ex = cli_open(cli, argv[optind + i], &devs[i]);

	if (ex == EXIT_OK) {
		cli->verbose_identity = true;
		cli->out = out_new(cli->json, cli->pretty);
		out_object_begin(cli->out, NULL);
		out_array_begin(cli->out, "devices");
		for (int i = 0; i < n; i++) {
			out_object_begin(cli->out, NULL);
			out_str(cli->out, "device", "%s\n", vfm_device_name(devs[i]));
			cli_print_identity(cli, vfm_device_identity(devs[i]));
			out_text(cli->out, "\n");
			cli_print_migration(cli, devs[i]);
			out_object_end(cli->out);
		}
		out_array_end(cli->out);
		out_object_end(cli->out);
		out_finish(cli->out);
	}
	for (int i = 0; i < n; i++)
		vfm_device_unref(devs[i]);
	return ex;
}
