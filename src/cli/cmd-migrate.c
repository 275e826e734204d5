// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig save DEV... --to URI` and `vfiomig restore DEV... --from URI`: the CLI
 * over the job layer.  SIGINT/SIGTERM cancel the job (which rolls back) through a
 * self-pipe; progress goes to stderr on a TTY; the report to stdout.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "job.h"
#include "report.h"
#include "transport.h"
#include "util.h"

/* ---- progress (report.c prints it) ---- */

static void on_progress(void *userdata, const struct vfm_job_report *rep)
{
	cli_show_progress(userdata, rep);
}

/* ---- the quiesced hook ---- */

struct hook {
	const char *cmd;
	const struct vfm_job_report *rep;
};

static int run_hook(void *userdata, char *why, size_t size)
{
	struct hook *h = userdata;
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(why, size, "fork: %m");
		return -1;
	}
	if (pid == 0) {
		char id[32];

		snprintf(id, sizeof(id), "%016llx", (unsigned long long)h->rep->stream_id);
		setenv("VFIOMIG_STREAM_ID", id, 1);
		setenv("VFIOMIG_EVENT", "quiesced", 1);
		execl("/bin/sh", "sh", "-c", h->cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(why, size, "waitpid: %m");
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, size, "'%s' exited with %d", h->cmd, WEXITSTATUS(status));
	else
		snprintf(why, size, "'%s' killed by signal %d", h->cmd, WTERMSIG(status));
	return -1;
}

/* ---- endpoints ---- */

static int open_endpoint(struct cli *cli, const char *uri, bool listen, unsigned dir,
			 unsigned timeout_ms, int cancel_fd, struct vfm_endpoint **ret_ep)
{
	struct vfm_transport_err err = { "" };
	struct vfm_listener *l = NULL;
	int r;

	if (!listen) {
		r = vfm_endpoint_open(uri, dir, timeout_ms, cancel_fd, ret_ep, &err);
		if (r < 0)
			cli_error(cli, "%s", err.msg[0] ? err.msg : strerror(-r));
		return r;
	}
	r = vfm_listener_new(uri, &l, &err);
	if (r < 0) {
		cli_error(cli, "%s", err.msg[0] ? err.msg : strerror(-r));
		return r;
	}
	/* Say where, so that a peer (or a test using port 0) can connect: one write,
	 * so that a reader never sees half the line. */
	{
		char line[VFM_URI_MAX + 64];
		int len = snprintf(line, sizeof(line), "vfiomig: listening on %s\n",
				   vfm_listener_uri(l));

		if (len > 0 && write(STDERR_FILENO, line, (size_t)MIN(len, (int)sizeof(line) - 1)) < 0) {
			/* stderr gone: nothing to tell */
		}
	}
	r = vfm_listener_accept(l, timeout_ms, cancel_fd, ret_ep, &err);
	if (r < 0)
		cli_error(cli, "%s", err.msg[0] ? err.msg : strerror(-r));
	vfm_listener_free(l);
	return r;
}

static bool uri_is_socket(const char *uri)
{
	return strncmp(uri, "tcp://", 6) == 0 || strncmp(uri, "unix:", 5) == 0;
}

static int parse_seconds_ms(const char *s, unsigned *ret)
{
	uint64_t v;

	if (parse_u64(s, 10, 86400, &v) < 0)
		return -EINVAL;
	*ret = (unsigned)(v * 1000);
	return 0;
}

static int open_devices(struct cli *cli, char **names, int n, struct vfm_device **devs)
{
	for (int i = 0; i < n; i++) {
		int ex = cli_open(cli, names[i], &devs[i]);

		if (ex != EXIT_OK)
			return ex;
		for (int k = 0; k < i; k++)
			if (streq(vfm_device_name(devs[k]), vfm_device_name(devs[i]))) {
				cli_error(cli, "%s is named twice", vfm_device_name(devs[i]));
				return EXIT_USAGE;
			}
	}
	return EXIT_OK;
}

/* ---- save ---- */

static void save_help(void)
{
	printf("Usage: vfiomig save DEV... --to URI [options]\n\n"
	       "Stream the state of the devices to URI: tcp://HOST:PORT (connect; with\n"
	       "--listen, listen there instead), unix:/PATH, file:/PATH, - (stdout), fd:N.\n"
	       "On success the devices are left stopped; on any failure before the\n"
	       "destination's verdict they are returned to RUNNING.\n\n"
	       "  --to URI                where the stream goes (required)\n"
	       "  --listen                wait for the destination to connect\n"
	       "  --no-precopy            do not use PRE_COPY\n"
	       "  --precopy-rounds N      at most N precopy rounds (default 30)\n"
	       "  --precopy-seconds S     at most S seconds of precopy (default 60)\n"
	       "  --dirty-threshold SIZE  stop precopy when dirty bytes <= SIZE (default 0)\n"
	       "  --on-quiesced CMD       run CMD (sh -c) once every device is quiesced,\n"
	       "                          before any stops; its failure aborts and rolls back\n"
	       "  --timeout S             limit of each wait on the peer (default 60)\n"
	       "  --force                 several devices even without P2P\n"
	       "  --no-vf-config          do not carry the VFs' network settings (MAC,\n"
	       "                          VLAN, trust...) in the stream\n"
	       "  --chunk SIZE            bytes per stream chunk (default 1M, max 16M)\n"
	       "  --progress, --no-progress  progress on stderr (default: on a TTY)\n");
}

int cmd_save(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "listen", no_argument, NULL, 'l' },
		{ "no-precopy", no_argument, NULL, 'P' },
		{ "precopy-rounds", required_argument, NULL, 'R' },
		{ "precopy-seconds", required_argument, NULL, 'S' },
		{ "dirty-threshold", required_argument, NULL, 'D' },
		{ "on-quiesced", required_argument, NULL, 'Q' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-vf-config", no_argument, NULL, 'V' },
		{ "chunk", required_argument, NULL, 'C' },
		{ "progress", no_argument, NULL, 'G' },
		{ "no-progress", no_argument, NULL, 'g' },
		{}
	};
	struct vfm_device *devs[VFM_SET_MAX] = { NULL };
	struct vfm_endpoint *ep = NULL;
	struct vfm_job_report *rep = NULL;
	struct vfm_save_opts so;
	struct cli_progress prog = { .tty = isatty(STDERR_FILENO), .verb = "save" };
	struct hook hook = { 0 };
	const char *to = NULL;
	bool listen = false;
	uint64_t v;
	int c, n, r, ex = EXIT_OK;

	vfm_save_opts_init(&so);
	while ((c = cli_getopt(cli, argc, argv, "", opts, save_help, &ex)) > 0) {
		switch (c) {
		case 't': to = optarg; break;
		case 'l': listen = true; break;
		case 'P': so.precopy = false; break;
		case 'R':
			if (parse_u64(optarg, 10, 1000000, &v) < 0)
				goto bad;
			so.precopy_max_rounds = (unsigned)v;
			break;
		case 'S':
			if (parse_u64(optarg, 10, 86400, &v) < 0)
				goto bad;
			so.precopy_max_usec = v * 1000000;
			break;
		case 'D':
			if (parse_size(optarg, UINT64_MAX, &so.dirty_threshold) < 0)
				goto bad;
			break;
		case 'Q': hook.cmd = optarg; break;
		case 'T':
			if (parse_seconds_ms(optarg, &so.timeout_ms) < 0)
				goto bad;
			break;
		case 'f': so.force = true; break;
		case 'V': so.no_vf_config = true; break;
		case 'C':
			if (parse_size(optarg, 16u << 20, &v) < 0 || v == 0)
				goto bad;
			so.chunk_size = (size_t)v;
			break;
		case 'G': prog.tty = true; break;
		case 'g': prog.tty = false; break;
		}
	}
	if (c < 0)
		return ex;
	n = argc - optind;
	if (n < 1 || !to) {
		cli_error(cli, "save needs devices and --to URI (see vfiomig save --help)");
		return EXIT_USAGE;
	}
	if (n > VFM_SET_MAX) {
		cli_error(cli, "at most %d devices", VFM_SET_MAX);
		return EXIT_USAGE;
	}
	if (listen && !uri_is_socket(to)) {
		cli_error(cli, "--listen needs a tcp:// or unix: URI");
		return EXIT_USAGE;
	}
	so.cancel_fd = cli_setup_signals();
	if (so.cancel_fd < 0)
		return EXIT_FAILED;
	ex = open_devices(cli, argv + optind, n, devs);
	if (ex != EXIT_OK)
		goto out;
	r = open_endpoint(cli, to, listen, VFM_EP_WRITE | (uri_is_socket(to) ? VFM_EP_READ : 0),
			  so.timeout_ms, so.cancel_fd, &ep);
	if (r < 0) {
		ex = EXIT_FAILED;
		goto out;
	}
	rep = calloc(1, sizeof(*rep));
	if (!rep) {
		ex = EXIT_FAILED;
		goto out;
	}
	so.progress = on_progress;
	so.progress_userdata = &prog;
	if (hook.cmd) {
		hook.rep = rep;
		so.on_quiesced = run_hook;
		so.hook_userdata = &hook;
	}
	vfm_save(devs, (size_t)n, ep, &so, rep);
	if (prog.shown)
		fputc('\n', stderr);
	ex = cli_finish_job(cli, true, rep, to, streq(to, "-"));
out:
	vfm_endpoint_free(ep);
	for (int i = 0; i < n && i < VFM_SET_MAX; i++)
		vfm_device_unref(devs[i]);
	free(rep);
	return ex;
bad:
	cli_error(cli, "invalid value '%s' (see vfiomig save --help)", optarg);
	return EXIT_USAGE;
}

/* ---- restore ---- */

static void restore_help(void)
{
	printf("Usage: vfiomig restore DEV... --from URI [options]\n\n"
	       "Load a stream into the devices: tcp://[ADDR]:PORT (listen; with --connect,\n"
	       "connect there instead), unix:/PATH (listen), file:/PATH, - (stdin), fd:N.\n"
	       "The Nth device of the stream goes to the Nth DEV unless --map says otherwise.\n"
	       "The header is checked against the devices before any is touched; every\n"
	       "chunk's CRC before it reaches a device.  On success the devices run.\n\n"
	       "  --from URI        where the stream comes from (required)\n"
	       "  --connect         connect to URI (the source listens)\n"
	       "  --map LIST        stream device i goes to DEV number LIST[i]: e.g. 1,0\n"
	       "  --any-id          accept other device IDs, driver or mdev type (the driver\n"
	       "                    still validates the data)\n"
	       "  --no-vf-config    do not apply the VFs' network settings the stream\n"
	       "                    carries (otherwise they are applied to each VF's PF\n"
	       "                    before the device runs)\n"
	       "  --timeout S       limit of each wait on the peer (default 60)\n"
	       "  --progress, --no-progress  progress on stderr (default: on a TTY)\n");
}

static int parse_map(const char *s, int n, unsigned *map)
{
	bool used[VFM_SET_MAX] = { false };
	int i = 0;

	while (*s) {
		const char *end = strchrnul(s, ',');
		char num[8];
		uint32_t v;

		if (i >= n || end - s == 0 || (size_t)(end - s) >= sizeof(num))
			return -EINVAL;
		memcpy(num, s, (size_t)(end - s));
		num[end - s] = '\0';
		if (parse_u32(num, 10, (uint32_t)n - 1, &v) < 0 || used[v])
			return -EINVAL;
		used[v] = true;
		map[i++] = v;
		s = *end ? end + 1 : end;
	}
	return i == n ? 0 : -EINVAL;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "connect", no_argument, NULL, 'c' },
		{ "map", required_argument, NULL, 'm' },
		{ "any-id", no_argument, NULL, 'a' },
		{ "no-vf-config", no_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "progress", no_argument, NULL, 'G' },
		{ "no-progress", no_argument, NULL, 'g' },
		{}
	};
	struct vfm_device *devs[VFM_SET_MAX] = { NULL };
	struct vfm_endpoint *ep = NULL;
	struct vfm_job_report *rep = NULL;
	struct vfm_restore_opts ro;
	struct cli_progress prog = { .tty = isatty(STDERR_FILENO), .verb = "restore" };
	unsigned map[VFM_SET_MAX];
	const char *from = NULL, *map_arg = NULL;
	bool connect = false;
	int c, n, r, ex = EXIT_OK;

	vfm_restore_opts_init(&ro);
	while ((c = cli_getopt(cli, argc, argv, "", opts, restore_help, &ex)) > 0) {
		switch (c) {
		case 'F': from = optarg; break;
		case 'c': connect = true; break;
		case 'm': map_arg = optarg; break;
		case 'a': ro.skip_compat_ids = true; break;
		case 'V': ro.no_vf_config = true; break;
		case 'T':
			if (parse_seconds_ms(optarg, &ro.timeout_ms) < 0) {
				cli_error(cli, "invalid --timeout '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'G': prog.tty = true; break;
		case 'g': prog.tty = false; break;
		}
	}
	if (c < 0)
		return ex;
	n = argc - optind;
	if (n < 1 || !from) {
		cli_error(cli, "restore needs devices and --from URI (see vfiomig restore --help)");
		return EXIT_USAGE;
	}
	if (n > VFM_SET_MAX) {
		cli_error(cli, "at most %d devices", VFM_SET_MAX);
		return EXIT_USAGE;
	}
	if (map_arg) {
		if (parse_map(map_arg, n, map) < 0) {
			cli_error(cli, "--map '%s': give a permutation of 0..%d, comma-separated",
				  map_arg, n - 1);
			return EXIT_USAGE;
		}
		ro.map = map;
	}
	if (connect && !uri_is_socket(from)) {
		cli_error(cli, "--connect needs a tcp:// or unix: URI");
		return EXIT_USAGE;
	}
	ro.cancel_fd = cli_setup_signals();
	if (ro.cancel_fd < 0)
		return EXIT_FAILED;
	ex = open_devices(cli, argv + optind, n, devs);
	if (ex != EXIT_OK)
		goto out;
	r = open_endpoint(cli, from, uri_is_socket(from) && !connect,
			  VFM_EP_READ | (uri_is_socket(from) ? VFM_EP_WRITE : 0), ro.timeout_ms,
			  ro.cancel_fd, &ep);
	if (r < 0) {
		ex = EXIT_FAILED;
		goto out;
	}
	rep = calloc(1, sizeof(*rep));
	if (!rep) {
		ex = EXIT_FAILED;
		goto out;
	}
	ro.progress = on_progress;
	ro.progress_userdata = &prog;
	vfm_restore(devs, (size_t)n, ep, &ro, rep);
	if (prog.shown)
		fputc('\n', stderr);
	ex = cli_finish_job(cli, false, rep, from, false);
out:
	vfm_endpoint_free(ep);
	for (int i = 0; i < n && i < VFM_SET_MAX; i++)
		vfm_device_unref(devs[i]);
	free(rep);
	return ex;
}
