// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig state DEV [STEP...]`: a device driven step by step in one process (the
 * kernel resets a device when its fd closes, so a sequence must run in one go).
 * Steps: a state name (driven arc by arc along the plan), reset, info,
 * read:FILE (drain the data session into FILE), write:FILE (feed FILE to it).
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define IO_BUF (1u << 20)
#define MAX_STEPS 256

void cli_print_migration(struct cli *cli, struct vfm_device *dev);

static void help(void)
{
	printf("Usage: vfiomig state DEV [STEP...] [--no-readback] [--keep-going] [-j] [-p]\n\n"
	       "Without steps, print the device's migration state.  Each STEP is one of:\n"
	       "  STATE         drive to STATE arc by arc (each arc printed with its time)\n"
	       "  reset         VFIO_DEVICE_RESET (back to RUNNING)\n"
	       "  info          print flags, state, data size and precopy info\n"
	       "  read:FILE     read the open data session into FILE (until the end in\n"
	       "                STOP_COPY, until nothing is pending in PRE_COPY); a FILE\n"
	       "                named twice in one command is appended to\n"
	       "  write:FILE    write FILE into the data session (RESUMING)\n"
	       "All steps run in one process; what the driver does when the device is\n"
	       "closed at the end differs (vfio-pci resets it, mtty keeps its state).\n"
	       "  --no-readback   do not read the state back after each arc\n"
	       "  --keep-going    run the remaining steps after a failed one\n");
}

struct state_run {
	struct cli *cli;
	const char *seen[MAX_STEPS]; /* read: files already opened in this run */
	unsigned n_seen;
};

static void on_arc(void *userdata, const struct vfm_device *dev,
		   const struct vfm_arc_result *arc)
{
	struct state_run *run = userdata;
	struct out *o = run->cli->out;

	out_object_begin(o, NULL);
	out_str(o, "step", NULL, "arc");
	out_str(o, "from", "%s -> ", vfm_state_name(arc->from));
	out_str(o, "to", "%s", vfm_state_name(arc->to));
	out_u64(o, "elapsed_usec", " %s us", arc->usec);
	if (arc->error < 0) {
		out_text(o, " FAILED: %s", strerror(-arc->error));
		out_error(o, "error", arc->error, strerror(-arc->error));
	}
	if (arc->readback)
		out_str(o, "state_after", " (now %s)", vfm_state_name(arc->after));
	out_text(o, "\n");
	out_object_end(o);
	if (arc->error < 0) {
		cli_set_errno(run->cli, arc->error);
		if (arc->readback)
			cli_error(run->cli, "%s: %s -> %s: %s (device now in %s)",
				  vfm_device_name(dev), vfm_state_name(arc->from),
				  vfm_state_name(arc->to), strerror(-arc->error),
				  vfm_state_name(arc->after));
		else
			cli_error(run->cli, "%s: %s -> %s: %s", vfm_device_name(dev),
				  vfm_state_name(arc->from), vfm_state_name(arc->to),
				  strerror(-arc->error));
	} else if (arc->readback && arc->after != arc->to) {
		cli_error(run->cli, "%s: %s -> %s succeeded but the device reports %s",
			  vfm_device_name(dev), vfm_state_name(arc->from),
			  vfm_state_name(arc->to), vfm_state_name(arc->after));
	}
}

static int step_drive(struct state_run *run, struct vfm_device *dev, enum vfm_state target,
		      unsigned flags)
{
	struct cli *cli = run->cli;
	enum vfm_state now = VFM_STATE_ERROR;
	uint32_t mig;
	char fbuf[64];
	int r;

	r = vfm_device_drive(dev, target, flags, on_arc, run, &now);
	if (r >= 0 || r == -EIO)
		return r < 0 ? EXIT_FAILED : EXIT_OK;
	/* Errors before any arc: say why the target cannot be reached. */
	if (r == -ENOTTY) {
		cli_error(cli, "%s: the driver does not support migration", vfm_device_name(dev));
		return EXIT_UNSUPPORTED;
	}
	if (vfm_device_get_flags(dev, &mig) < 0)
		mig = 0;
	vfm_flags_format(mig, fbuf, sizeof(fbuf));
	if (r == -EOPNOTSUPP) {
		cli_error(cli, "%s: %s -> %s: %s is not a state of this device (flags %s)",
			  vfm_device_name(dev), vfm_state_name(now), vfm_state_name(target),
			  vfm_state_name(target), fbuf);
		return EXIT_UNSUPPORTED;
	}
	if (r == -ENOENT) {
		cli_error(cli, "%s: %s -> %s: no path (%s)", vfm_device_name(dev),
			  vfm_state_name(now), vfm_state_name(target),
			  now == VFM_STATE_ERROR ? "the device is in ERROR: reset it"
						 : "STOP_COPY never goes back to PRE_COPY");
		return EXIT_UNSUPPORTED;
	}
	/* A failed arc was already reported by on_arc. */
	return cli_exit_code(r) == EXIT_OK ? EXIT_FAILED : cli_exit_code(r);
}

static int step_read(struct state_run *run, struct vfm_device *dev, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	bool append = false, precopy = false;
	uint64_t total = 0;
	const char *end = "end of data";
	enum vfm_state st;

	for (unsigned i = 0; i < run->n_seen; i++)
		if (streq(run->seen[i], path))
			append = true;
	if (!append && run->n_seen < MAX_STEPS)
		run->seen[run->n_seen++] = path;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
	if (fd < 0) {
		cli_error(run->cli, "%s: %m", path);
		return EXIT_FAILED;
	}
	buf = malloc(IO_BUF);
	if (!buf)
		return EXIT_FAILED;
	precopy = vfm_device_get_state(dev, &st) >= 0 &&
		  (st == VFM_STATE_PRE_COPY || st == VFM_STATE_PRE_COPY_P2P);
	for (;;) {
		ssize_t n = vfm_device_read(dev, buf, IO_BUF), w;

		if (n == -ENOMSG) {
			end = "nothing pending (PRE_COPY)";
			break;
		}
		if (n < 0) {
			cli_error(run->cli, "%s: reading migration data after %llu bytes: %s",
				  vfm_device_name(dev), (unsigned long long)total,
				  n == -EBADF ? "no data session (enter STOP_COPY, PRE_COPY)"
					      : strerror((int)-n));
			return EXIT_FAILED;
		}
		if (n == 0) {
			/* The uAPI asks for ENOMSG at PRE_COPY's temporary end; some drivers
			 * (mtty) return 0 there.  Say which one the driver did. */
			if (precopy)
				end = "nothing pending (PRE_COPY; the driver returned 0, not ENOMSG)";
			break;
		}
		for (ssize_t off = 0; off < n; off += w) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0) {
				cli_error(run->cli, "%s: %m", path);
				return EXIT_FAILED;
			}
		}
		total += (uint64_t)n;
	}
	out_object_begin(run->cli->out, NULL);
	out_str(run->cli->out, "step", NULL, "read");
	out_str(run->cli->out, "file", "read %s: ", path);
	out_u64(run->cli->out, "total_bytes", "%s bytes", total);
	out_str(run->cli->out, "end", " (%s)\n", end);
	out_object_end(run->cli->out);
	return EXIT_OK;
}

static int step_write(struct state_run *run, struct vfm_device *dev, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	uint64_t total = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_error(run->cli, "%s: %m", path);
		return EXIT_FAILED;
	}
	buf = malloc(IO_BUF);
	if (!buf)
		return EXIT_FAILED;
	for (;;) {
		ssize_t n = read(fd, buf, IO_BUF);

		if (n < 0) {
			cli_error(run->cli, "%s: %m", path);
			return EXIT_FAILED;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = vfm_device_write(dev, buf + off, (size_t)(n - off));

			if (w <= 0) {
				cli_error(run->cli,
					  "%s: writing migration data after %llu bytes: %s",
					  vfm_device_name(dev),
					  (unsigned long long)(total + (uint64_t)off),
					  w == -EBADF ? "no data session (enter RESUMING)"
						      : strerror(w < 0 ? (int)-w : EIO));
				return EXIT_FAILED;
			}
			off += w;
		}
		total += (uint64_t)n;
	}
	out_object_begin(run->cli->out, NULL);
	out_str(run->cli->out, "step", NULL, "write");
	out_str(run->cli->out, "file", "wrote %s: ", path);
	out_u64(run->cli->out, "total_bytes", "%s bytes\n", total);
	out_object_end(run->cli->out);
	return EXIT_OK;
}

static int step_reset(struct state_run *run, struct vfm_device *dev)
{
	uint64_t t0 = now_usec();
	enum vfm_state st;
	int r = vfm_device_reset(dev);

	out_object_begin(run->cli->out, NULL);
	out_str(run->cli->out, "step", "%s", "reset");
	out_u64(run->cli->out, "elapsed_usec", " %s us", now_usec() - t0);
	if (r < 0) {
		out_text(run->cli->out, " FAILED: %s", strerror(-r));
		out_error(run->cli->out, "error", r, strerror(-r));
	}
	if (vfm_device_get_state(dev, &st) >= 0)
		out_str(run->cli->out, "state_after", " (now %s)", vfm_state_name(st));
	out_text(run->cli->out, "\n");
	out_object_end(run->cli->out);
	if (r < 0) {
		cli_error(run->cli, "%s: reset: %s", vfm_device_name(dev),
			  r == -ENOTTY ? "the device has no reset method" : strerror(-r));
		return r == -ENOTTY ? EXIT_UNSUPPORTED : EXIT_FAILED;
	}
	return EXIT_OK;
}

int cmd_state(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-readback", no_argument, NULL, 'R' },
		{ "keep-going", no_argument, NULL, 'k' },
		{}
	};
	struct state_run run = { .cli = cli };
	struct vfm_device *dev = NULL;
	unsigned flags = VFM_DRIVE_READBACK;
	bool keep_going = false;
	enum vfm_state st;
	int c, r, ex = EXIT_OK, first_fail = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "k", opts, help, &ex)) > 0) {
		if (c == 'R')
			flags &= ~(unsigned)VFM_DRIVE_READBACK;
		else if (c == 'k')
			keep_going = true;
	}
	if (c < 0)
		return ex;
	if (optind >= argc) {
		cli_error(cli, "state needs a device (see vfiomig state --help)");
		return EXIT_USAGE;
	}
	if (argc - optind - 1 > MAX_STEPS) {
		cli_error(cli, "at most %d steps", MAX_STEPS);
		return EXIT_USAGE;
	}
	/* Check every step before touching the device. */
	for (int i = optind + 1; i < argc; i++) {
		const char *s = argv[i];

		if (streq(s, "reset") || streq(s, "info") ||
		    (strncmp(s, "read:", 5) == 0 && s[5]) ||
		    (strncmp(s, "write:", 6) == 0 && s[6]))
			continue;
		if (vfm_state_from_name(s, &st) < 0 || st == VFM_STATE_ERROR) {
			cli_error(cli, "'%s' is not a step: a state (STOP RUNNING STOP_COPY "
				       "RESUMING RUNNING_P2P PRE_COPY PRE_COPY_P2P), reset, "
				       "info, read:FILE or write:FILE", s);
			return EXIT_USAGE;
		}
	}

	ex = cli_open(cli, argv[optind], &dev);
	if (ex != EXIT_OK)
		return ex;

	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "device", NULL, vfm_device_name(dev));
	if (optind + 1 == argc) {
		r = vfm_device_get_state(dev, &st);
		if (r < 0) {
			cli_error(cli, "%s: cannot get state: %s", vfm_device_name(dev),
				  r == -ENOTTY ? "the driver does not support migration"
					       : strerror(-r));
			first_fail = cli_exit_code(r);
		} else {
			out_str(cli->out, "state", "%s\n", vfm_state_name(st));
		}
		goto done;
	}

	out_array_begin(cli->out, "steps");
	for (int i = optind + 1; i < argc; i++) {
		const char *s = argv[i];

		if (streq(s, "reset")) {
			ex = step_reset(&run, dev);
		} else if (streq(s, "info")) {
			out_object_begin(cli->out, NULL);
			out_str(cli->out, "step", "%s\n", "info");
			cli_print_migration(cli, dev);
			out_object_end(cli->out);
			ex = EXIT_OK;
		} else if (strncmp(s, "read:", 5) == 0) {
			ex = step_read(&run, dev, s + 5);
		} else if (strncmp(s, "write:", 6) == 0) {
			ex = step_write(&run, dev, s + 6);
		} else {
			vfm_state_from_name(s, &st);
			ex = step_drive(&run, dev, st, flags);
		}
		if (ex != EXIT_OK && first_fail == EXIT_OK)
			first_fail = ex;
		if (ex != EXIT_OK && !keep_going)
			break;
	}
	out_array_end(cli->out);
	if (vfm_device_get_state(dev, &st) >= 0)
		out_str(cli->out, "state", "final state %s\n", vfm_state_name(st));
done:
	out_object_end(cli->out);
	out_finish(cli->out);
	vfm_device_unref(dev);
	return first_fail;
}

static void reset_help(void)
{
	printf("Usage: vfiomig reset DEV... [-j] [-p]\n\n"
	       "VFIO_DEVICE_RESET each device: back to RUNNING from any state, ERROR\n"
	       "included.  Any data session is ended.\n");
}

int cmd_reset(struct cli *cli, int argc, char **argv)
{
	struct state_run run = { .cli = cli };
	int c, ex = EXIT_OK, first_fail = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, reset_help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (optind >= argc) {
		cli_error(cli, "reset needs at least one device");
		return EXIT_USAGE;
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_array_begin(cli->out, "devices");
	for (int i = optind; i < argc; i++) {
		struct vfm_device *dev = NULL;

		ex = cli_open(cli, argv[i], &dev);
		if (ex == EXIT_OK) {
			out_object_begin(cli->out, NULL);
			out_str(cli->out, "device", "%s: ", vfm_device_name(dev));
			out_array_begin(cli->out, "steps");
			ex = step_reset(&run, dev);
			out_array_end(cli->out);
			out_object_end(cli->out);
		}
		if (ex != EXIT_OK && first_fail == EXIT_OK)
			first_fail = ex;
		vfm_device_unref(dev);
	}
	out_array_end(cli->out);
	out_object_end(cli->out);
	out_finish(cli->out);
	return first_fail;
}
