// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
	printf("Usage: vfiomig plan [--flags FLAGS] FROM TO [-j] [-p]\n\n"
	       "Print the single arcs vfiomig takes from state FROM to state TO for a device\n"
	       "with migration FLAGS (comma-separated: stop-copy,p2p,pre-copy; default all).\n"
	       "Touches no device.  States: STOP RUNNING STOP_COPY RESUMING RUNNING_P2P\n"
	       "PRE_COPY PRE_COPY_P2P (any case, '-' for '_').\n");
}

int cmd_plan(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { { "flags", required_argument, NULL, 'f' }, {} };
	enum vfm_state from, to, path[VFM_PLAN_MAX];
	uint32_t flags = VFM_MIG_ALL;
	char fbuf[64];
	size_t len;
	int c, r, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "f:", opts, help, &ex)) > 0) {
		if (c == 'f' && vfm_flags_parse(optarg, &flags) < 0) {
			cli_error(cli, "--flags: '%s' is not a list of stop-copy, p2p, pre-copy",
				  optarg);
			return EXIT_USAGE;
		}
	}
	if (c < 0)
		return ex;
	if (argc - optind != 2) {
		cli_error(cli, "plan needs FROM and TO (see vfiomig plan --help)");
		return EXIT_USAGE;
	}
	if (vfm_state_from_name(argv[optind], &from) < 0 ||
	    vfm_state_from_name(argv[optind + 1], &to) < 0) {
		cli_error(cli, "unknown state '%s'",
			  vfm_state_from_name(argv[optind], &from) < 0 ? argv[optind]
								       : argv[optind + 1]);
		return EXIT_USAGE;
	}
	vfm_flags_format(flags, fbuf, sizeof(fbuf));
	r = vfm_fsm_plan(flags, from, to, path, &len);
	if (r < 0) {
		const char *why = r == -EINVAL	    ? "flags must include stop-copy"
				  : r == -EOPNOTSUPP ? "state not supported with these flags"
						     : "no path (never STOP_COPY -> PRE_COPY*; "
						       "ERROR is left only by reset)";
		cli_error(cli, "%s -> %s with flags %s: %s", vfm_state_name(from),
			  vfm_state_name(to), fbuf, why);
		return r == -EINVAL ? EXIT_USAGE : EXIT_UNSUPPORTED;
	}

	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str_list(cli->out, "migration_flags", NULL, fbuf);
	out_str(cli->out, "from", NULL, vfm_state_name(from));
	out_str(cli->out, "to", NULL, vfm_state_name(to));
	out_array_begin(cli->out, "arcs");
	for (size_t i = 0; i < len; i++) {
		out_object_begin(cli->out, NULL);
		out_str(cli->out, "from", "%s -> ", vfm_state_name(i ? path[i - 1] : from));
		out_str(cli->out, "to", "%s\n", vfm_state_name(path[i]));
		out_object_end(cli->out);
	}
	out_array_end(cli->out);
	if (len == 0)
		out_text(cli->out, "already in %s\n", vfm_state_name(to));
	out_object_end(cli->out);
	out_finish(cli->out);
	return EXIT_OK;
}
