/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "output.h"
#include "vfiomig.h"

/* Exit codes, documented in vfiomig(8). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* the operation failed (a SET, a read, a write...) */
	EXIT_USAGE = 2,       /* bad command line */
	EXIT_NODEV = 3,       /* a device could not be opened */
	EXIT_UNSUPPORTED = 4, /* not migratable, or the request is not possible for it */
	EXIT_INCOMPATIBLE = 5, /* the destination's devices cannot take the source's */
	EXIT_IN_DOUBT = 6,     /* save: COMMIT sent, no verdict: the destination may run
				  the devices; ours stay stopped with their state */
};

struct cli {
	bool json, pretty, verbose;
	const char *connect; /* --connect: vfiomigd's control socket */
	const char *vf_token; /* --vf-token: presented when opening VFs (and to vfiomigd) */
	bool verbose_identity; /* text: subsystem IDs, revision, sysfs path too (info) */
	struct vfm_ctx *ctx;
	struct out *out;
	const char *argv0;
	/* The first error reported (cli_error()) and its errno when known
	 * (cli_set_errno()): under -j a failed command that printed no JSON prints them
	 * as {"error": {...}} on stdout. */
	char error[1024];
	int error_errno;
};

/* A library context, pointed at $VFIOMIG_SYSFS_ROOT when set (tests).  -EINVAL: a
 * bad root; -ENOMEM. */
int cli_ctx_new(struct vfm_ctx **ret_ctx);

/* Report an error once, on stderr ("vfiomig: <msg>"). */
void cli_error(struct cli *cli, const char *fmt, ...) _printf_(2, 3);
/* The errno (negative or positive) behind the first error, for -j. */
void cli_set_errno(struct cli *cli, int err);
/* Open a device, reporting failure; returns an exit code (EXIT_OK on success). */
int cli_open(struct cli *cli, const char *name, struct vfm_device **ret_dev);
/* Exit code for a -errno from a device operation. */
int cli_exit_code(int err);

/*
 * Option parsing for a command: -j/-p/-v/-h are handled here, the command's own
 * options are returned one at a time (like getopt).  Returns 0 when done (optind
 * is the first operand), -1 when the command should exit with *ret_exit (after
 * --help or a bad option).
 */
struct option;
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, void (*help)(void), int *ret_exit);

int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_state(struct cli *cli, int argc, char **argv);
int cmd_reset(struct cli *cli, int argc, char **argv);
int cmd_plan(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_save(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_vf(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_soak(struct cli *cli, int argc, char **argv);
int cmd_timeline(struct cli *cli, int argc, char **argv);
int cmd_dirty(struct cli *cli, int argc, char **argv);
/* through vfiomigd (cmd-daemon.c) */
int cmd_save_remote(struct cli *cli, int argc, char **argv);
int cmd_restore_remote(struct cli *cli, int argc, char **argv);
int cmd_jobs(struct cli *cli, int argc, char **argv);
int cmd_wait(struct cli *cli, int argc, char **argv);
int cmd_cancel(struct cli *cli, int argc, char **argv);
int cmd_continue(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
int cmd_release(struct cli *cli, int argc, char **argv);
int cmd_attach(struct cli *cli, int argc, char **argv);
int cmd_detach(struct cli *cli, int argc, char **argv);

/* Identity fields shared by list and info. */
void cli_print_identity(struct cli *cli, const struct vfm_device_identity *id);

struct vfm_vf_config;
/* A VF's admin settings (cmd-vf.c): one indented text line ("?" for a setting not
 * held), or their JSON fields (null for one not held). */
void cli_print_vf_config(struct out *o, const struct vfm_vf_config *c);
