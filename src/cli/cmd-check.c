// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig check DEV...`: for driver developers and test labs, walk every single arc
 * a device's flags claim and say where the driver departs from the VFIO migration
 * uAPI (linux/vfio.h): each arc must succeed and leave the device in its target
 * state; entering STOP_COPY, PRE_COPY* or RESUMING from outside the saving group must
 * open a data session, moving inside the group must keep it, leaving must end it;
 * STOP_COPY data must end with read() = 0; PRE_COPY must answer PRECOPY_INFO and end
 * its reads with ENOMSG ("should", a warning); the device must load its own image
 * (RESUMING -> STOP); states the flags lack must be refused.  The device is reset
 * before every arc (or driven back arc by arc when its reset fails) and left RUNNING.
 * STOP_COPY -> PRE_COPY* is never requested (some kernels hang on it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#define IMAGE_MAX (1ull << 30) /* a device image this command keeps in memory */
#define READ_CHUNK (1u << 20)

enum result { CK_OK, CK_WARN, CK_FAIL, CK_SKIP };
static const char *const result_name[] = {"ok", "warn", "fail", "skip"};

struct check {
	struct cli *cli;
	struct vfm_device *dev;
	uint32_t flags;
	unsigned n[4];
	uint8_t *image; /* the device's own STOP_COPY data */
	size_t image_len;
	bool have_image;
};

static void report(struct check *c, const char *what, enum vfm_state from, enum vfm_state to,
		   enum result res, uint64_t usec, const char *fmt, ...) _printf_(7, 8);
static void report(struct check *c, const char *what, enum vfm_state from, enum vfm_state to,
		   enum result res, uint64_t usec, const char *fmt, ...)
{
	struct out *o = c->cli->out;
	char detail[512] = "", name[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	c->n[res]++;
	if (what)
		snprintf(name, sizeof(name), "%s", what);
	else
		snprintf(name, sizeof(name), "%s -> %s", vfm_state_name(from),
			 vfm_state_name(to));
	out_object_begin(o, NULL);
	out_text(o, "  %-4s %s", result_name[res], name);
	out_str(o, "result", NULL, result_name[res]);
	out_str(o, "check", NULL, what ? what : "arc");
	if (!what) {
		out_str(o, "from", NULL, vfm_state_name(from));
		out_str(o, "to", NULL, vfm_state_name(to));
	}
	if (usec != UINT64_MAX)
		out_u64(o, "usec", " (%s us)", usec);
	out_str(o, "detail", detail[0] ? ": %s" : NULL, detail);
	out_text(o, "\n");
	out_object_end(o);
}

static bool in_saving_group(enum vfm_state s)
{
	return s == VFM_STATE_STOP_COPY || s == VFM_STATE_PRE_COPY ||
	       s == VFM_STATE_PRE_COPY_P2P;
}

static bool has_session(enum vfm_state s)
{
	return in_saving_group(s) || s == VFM_STATE_RESUMING;
}

/* A state read back, or say it could not be: never a guess (VFM_STATE_MAX: unread). */
static const char *state_read(enum vfm_state st)
{
	const char *n = vfm_state_name(st);

	return n ? n : "unknown: it cannot be read";
}

/* Back to RUNNING: a reset, or, for a device whose reset fails, arc by arc. */
static int to_running(struct check *c, char *why, size_t size)
{
	enum vfm_state now = VFM_STATE_MAX;
	int r = vfm_device_reset(c->dev), q;

	if (r == 0)
		return 0;
	q = vfm_device_drive(c->dev, VFM_STATE_RUNNING, VFM_DRIVE_READBACK, NULL, NULL, &now);
	if (q < 0)
		snprintf(why, size, "reset: %s; back to RUNNING arc by arc: %s (device in %s)",
			 strerror(-r), strerror(-q), state_read(now));
	return q;
}

/* Back to RUNNING, then drive to @s.  Returns 0, or -errno with @why filled. */
static int setup(struct check *c, enum vfm_state s, char *why, size_t size)
{
	enum vfm_state now = VFM_STATE_MAX;
	int r = to_running(c, why, size);

	if (r < 0)
		return r;
	r = vfm_device_drive(c->dev, s, VFM_DRIVE_READBACK, NULL, NULL, &now);
	if (r < 0)
		snprintf(why, size, "reaching %s: %s (device in %s)", vfm_state_name(s),
			 strerror(-r), state_read(now));
	return r;
}

/* Read the STOP_COPY session to its end; keeps the bytes as the device's image when
 * @keep.  Returns the byte count or -errno. */
static ssize_t read_stop_copy(struct check *c, bool keep, char *why, size_t size)
{
	uint8_t *buf = malloc(READ_CHUNK);
	size_t total = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = vfm_device_read(c->dev, buf, READ_CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(why, size, "STOP_COPY read at offset %zu: %s%s", total,
				 strerror((int)-n),
				 n == -ENOMSG ? " (ENOMSG may not be returned in STOP_COPY)" : "");
			break;
		}
		if (total + (size_t)n > IMAGE_MAX) {
			snprintf(why, size, "more than %llu bytes of STOP_COPY data",
				 (unsigned long long)IMAGE_MAX);
			n = -EFBIG;
			break;
		}
		if (keep) {
			uint8_t *p = realloc(c->image, total + (size_t)n);

			if (!p) {
				n = -ENOMEM;
				break;
			}
			c->image = p;
			memcpy(c->image + total, buf, (size_t)n);
		}
		total += (size_t)n;
	}
	free(buf);
	if (n < 0)
		return n;
	if (keep) {
		c->image_len = total;
		c->have_image = true;
	}
	return (ssize_t)total;
}

/* What the data session looks like after an arc from @from to @to (fd: what the SET
 * returned).  Appends to @why; returns the worst result. */
static enum result check_session(struct check *c, enum vfm_state from, enum vfm_state to,
				 int fd, char *why, size_t size)
{
	bool kernel = vfm_device_identity(c->dev)->kind != VFM_DEVICE_SIM;
	bool want_new = has_session(to) && !(in_saving_group(from) && in_saving_group(to));
	int cur = vfm_device_data_fd(c->dev);
	bool open = cur >= 0 || cur == -EOPNOTSUPP;

	if (!kernel) /* the simulator has no fds: ask its session by a read */
		open = has_session(to) && !(to == VFM_STATE_RESUMING) ?
			       vfm_device_read(c->dev, NULL, 0) != -EBADF :
			       has_session(to);
	if (want_new && kernel && fd < 0) {
		snprintf(why, size, "no data_fd returned on entering %s", vfm_state_name(to));
		return CK_FAIL;
	}
	if (!want_new && kernel && fd >= 0) {
		snprintf(why, size, "a new data_fd returned on %s -> %s (the session continues)",
			 vfm_state_name(from), vfm_state_name(to));
		return CK_FAIL;
	}
	if (has_session(to) && !open) {
		snprintf(why, size, "no data session in %s", vfm_state_name(to));
		return CK_FAIL;
	}
	if (!has_session(to) && kernel && cur >= 0) {
		snprintf(why, size, "the data session is still open in %s", vfm_state_name(to));
		return CK_FAIL;
	}
	return CK_OK;
}

/* PRE_COPY: PRECOPY_INFO answers, reads end with ENOMSG. */
static enum result check_precopy(struct check *c, char *why, size_t size)
{
	uint8_t *buf;
	uint64_t initial, dirty, total = 0;
	enum result res = CK_OK;
	int r = vfm_device_get_precopy_info(c->dev, &initial, &dirty);

	if (r < 0) {
		snprintf(why, size, "VFIO_MIG_GET_PRECOPY_INFO: %s (mandatory with PRE_COPY)",
			 strerror(-r));
		return CK_FAIL;
	}
	buf = malloc(READ_CHUNK);
	if (!buf)
		return CK_FAIL;
	for (unsigned i = 0;; i++) {
		ssize_t n = vfm_device_read(c->dev, buf, READ_CHUNK);

		if (n == -ENOMSG) {
			snprintf(why, size, "initial %llu, dirty %llu bytes; %llu read, then ENOMSG",
				 (unsigned long long)initial, (unsigned long long)dirty,
				 (unsigned long long)total);
			break;
		}
		if (n == 0) {
			snprintf(why, size,
				 "initial %llu, dirty %llu bytes; %llu read, then read() returned 0: "
				 "the uAPI says a driver should return ENOMSG at the temporary end "
				 "of PRE_COPY data (0 is STOP_COPY's permanent end)",
				 (unsigned long long)initial, (unsigned long long)dirty,
				 (unsigned long long)total);
			res = CK_WARN;
			break;
		}
		if (n < 0) {
			snprintf(why, size, "PRE_COPY read at offset %llu: %s",
				 (unsigned long long)total, strerror((int)-n));
			res = CK_FAIL;
			break;
		}
		total += (uint64_t)n;
		if (i == 4096 || total > IMAGE_MAX) {
			snprintf(why, size, "PRE_COPY data does not end (%llu bytes read)",
				 (unsigned long long)total);
			res = CK_WARN;
			break;
		}
	}
	free(buf);
	return res;
}

/* Write the device's own image into the RESUMING session. */
static int load_image(struct check *c, char *why, size_t size)
{
	for (size_t off = 0; off < c->image_len;) {
		ssize_t n = vfm_device_write(c->dev, c->image + off, c->image_len - off);

		if (n <= 0) {
			snprintf(why, size, "RESUMING write at offset %zu: %s", off,
				 strerror(n < 0 ? (int)-n : EIO));
			return n < 0 ? (int)n : -EIO;
		}
		off += (size_t)n;
	}
	return 0;
}

static void check_arc(struct check *c, enum vfm_state from, enum vfm_state to)
{
	char why[400] = "", more[400] = "";
	enum vfm_state after;
	enum result res;
	uint64_t t0;
	int fd = -1, r;

	if (setup(c, from, why, sizeof(why)) < 0) {
		/* the arc that failed on the way has its own line */
		report(c, NULL, from, to, CK_SKIP, UINT64_MAX, "cannot test: %s", why);
		return;
	}
	if (from == VFM_STATE_RESUMING) {
		/* the device's own image: the driver must accept it */
		if (!c->have_image) {
			report(c, NULL, from, to, CK_SKIP, UINT64_MAX,
			       "no image of this device to load (STOP_COPY failed)");
			return;
		}
		r = load_image(c, why, sizeof(why));
		if (r < 0) {
			report(c, NULL, from, to, CK_FAIL, UINT64_MAX, "%s", why);
			return;
		}
	}
	t0 = now_usec();
	r = vfm_device_set_state(c->dev, to, &fd);
	t0 = now_usec() - t0;
	if (r < 0) {
		/* "now in X" only for a state read back, never a guess */
		if (vfm_device_get_state(c->dev, &after) < 0)
			after = VFM_STATE_MAX;
		report(c, NULL, from, to, CK_FAIL, t0, "%s (device now in %s)%s", strerror(-r),
		       state_read(after),
		       from == VFM_STATE_RESUMING ? "; the driver refused its own image" : "");
		return;
	}
	r = vfm_device_get_state(c->dev, &after);
	if (r < 0 || after != to) {
		report(c, NULL, from, to, CK_FAIL, t0, "succeeded, but the device reports %s",
		       r < 0 ? strerror(-r) : vfm_state_name(after));
		return;
	}
	res = check_session(c, from, to, fd, why, sizeof(why));
	if (res == CK_OK && to == VFM_STATE_STOP_COPY) {
		ssize_t n = read_stop_copy(c, !c->have_image, more, sizeof(more));
		uint64_t est;

		if (n < 0) {
			res = CK_FAIL;
		} else if (vfm_device_get_data_size(c->dev, &est) == 0) {
			snprintf(more, sizeof(more), "%zd bytes of data (estimate %llu)", n,
				 (unsigned long long)est);
		} else {
			snprintf(more, sizeof(more), "%zd bytes of data", n);
		}
	} else if (res == CK_OK && (to == VFM_STATE_PRE_COPY || to == VFM_STATE_PRE_COPY_P2P) &&
		   !in_saving_group(from)) {
		res = check_precopy(c, more, sizeof(more));
	}
	report(c, NULL, from, to, res, t0, "%s%s%s", why, why[0] && more[0] ? "; " : "", more);
	/* a device without a working reset leaves RESUMING only with valid data */
	if (to == VFM_STATE_RESUMING && c->have_image)
		(void)load_image(c, why, sizeof(why));
}

static void check_device(struct check *c)
{
	static const enum vfm_state all[] = {
		VFM_STATE_RUNNING,     VFM_STATE_RUNNING_P2P, VFM_STATE_STOP,
		VFM_STATE_STOP_COPY,   VFM_STATE_RESUMING,    VFM_STATE_PRE_COPY,
		VFM_STATE_PRE_COPY_P2P,
	};
	char why[400];
	uint64_t est;
	int r;

	r = vfm_device_reset(c->dev);
	if (r < 0)
		/* VFIO_DEVICE_RESET is optional: reach each arc by driving back instead */
		report(c, "reset", 0, 0, CK_SKIP, UINT64_MAX,
		       "%s: each arc is reached from RUNNING arc by arc instead", strerror(-r));
	else
		report(c, "reset", 0, 0, CK_OK, UINT64_MAX, "%s", "");
	r = vfm_device_get_data_size(c->dev, &est);
	if (r == -ENOTTY)
		report(c, "data-size", 0, 0, CK_SKIP, UINT64_MAX,
		       "no VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (optional)");
	else if (r < 0)
		report(c, "data-size", 0, 0, CK_FAIL, UINT64_MAX, "%s", strerror(-r));
	else
		report(c, "data-size", 0, 0, CK_OK, UINT64_MAX, "%llu bytes",
		       (unsigned long long)est);

	/* STOP_COPY first: its data is the image RESUMING -> STOP loads. */
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ELEMENTSOF(all); i++)
			for (size_t k = 0; k < ELEMENTSOF(all); k++) {
				bool first = all[k] == VFM_STATE_STOP_COPY;

				if ((pass == 0) != first ||
				    !vfm_fsm_arc_valid(c->flags, all[i], all[k]))
					continue;
				check_arc(c, all[i], all[k]);
			}
	/* states the flags lack: refused, the device where it was */
	for (size_t i = 0; i < ELEMENTSOF(all); i++) {
		enum vfm_state after;
		char name[64];

		if (vfm_fsm_state_supported(c->flags, all[i]))
			continue;
		snprintf(name, sizeof(name), "refuse %s", vfm_state_name(all[i]));
		if (to_running(c, why, sizeof(why)) < 0) {
			report(c, name, 0, 0, CK_SKIP, UINT64_MAX, "%s", why);
			continue;
		}
		r = vfm_device_set_state(c->dev, all[i], NULL);
		if (vfm_device_get_state(c->dev, &after) < 0)
			after = VFM_STATE_MAX;
		if (r == 0)
			report(c, name, 0, 0, CK_FAIL, UINT64_MAX,
			       "a state the flags lack was accepted (now %s)",
			       state_read(after));
		else
			report(c, name, 0, 0, after == VFM_STATE_RUNNING ? CK_OK : CK_FAIL,
			       UINT64_MAX, "%s, device in %s", strerror(-r),
			       state_read(after));
	}
	if (c->flags & VFM_MIG_PRE_COPY) {
		report(c, "never STOP_COPY -> PRE_COPY", 0, 0, CK_SKIP, UINT64_MAX,
		       "not requested: kernels before 6.12.96 hang inside the ioctl");
	}
	r = to_running(c, why, sizeof(why));
	report(c, "left RUNNING", 0, 0, r < 0 ? CK_FAIL : CK_OK, UINT64_MAX, "%s",
	       r < 0 ? why : "");
}

static void help(void)
{
	printf("Usage: vfiomig check DEV... [-j] [-p]\n\n"
	       "Walk every arc the device's migration flags claim and report where the\n"
	       "driver departs from the VFIO migration uAPI: each arc's result and state,\n"
	       "data sessions opened, kept and closed, STOP_COPY data ending with 0,\n"
	       "PRE_COPY's PRECOPY_INFO and ENOMSG, the device loading its own image,\n"
	       "states it lacks refused.  The device is reset before each arc (driven\n"
	       "back arc by arc when its reset fails) and left RUNNING: use it on a device\n"
	       "no VM is using.  Exit 0 when nothing failed (warnings allowed), 1 when a\n"
	       "check failed, 4 when a device does not support migration.\n");
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (optind >= argc) {
		cli_error(cli, "check needs devices (see vfiomig check --help)");
		return EXIT_USAGE;
	}
	cli->out = out_new(cli->json, cli->pretty);
	if (!cli->out)
		return EXIT_FAILED;
	out_array_begin(cli->out, NULL);
	for (int i = optind; i < argc; i++) {
		struct check chk = {.cli = cli};
		char flags[64];
		int r, e;

		e = cli_open(cli, argv[i], &chk.dev);
		if (e != EXIT_OK) {
			ex = ex == EXIT_OK ? e : ex;
			continue;
		}
		r = vfm_device_get_flags(chk.dev, &chk.flags);
		if (r < 0) {
			cli_error(cli, "%s: %s", vfm_device_name(chk.dev),
				  r == -ENOTTY ? "the driver does not support migration"
					       : strerror(-r));
			ex = ex == EXIT_OK ? cli_exit_code(r) : ex;
			vfm_device_unref(chk.dev);
			continue;
		}
		vfm_flags_format(chk.flags, flags, sizeof(flags));
		out_object_begin(cli->out, NULL);
		out_str(cli->out, "device", "%s", vfm_device_name(chk.dev));
		out_str(cli->out, "flags", ": flags %s\n", flags);
		out_array_begin(cli->out, "checks");
		check_device(&chk);
		out_array_end(cli->out);
		out_u64(cli->out, "ok", "  %s ok", chk.n[CK_OK]);
		out_u64(cli->out, "warnings", ", %s warnings", chk.n[CK_WARN]);
		out_u64(cli->out, "failed", ", %s failed", chk.n[CK_FAIL]);
		out_u64(cli->out, "skipped", ", %s skipped\n", chk.n[CK_SKIP]);
		out_object_end(cli->out);
		if (chk.n[CK_FAIL] && ex == EXIT_OK)
			ex = EXIT_FAILED;
		free(chk.image);
		vfm_device_unref(chk.dev);
	}
	out_array_end(cli->out);
	out_finish(cli->out);
	cli->out = NULL;
	return ex;
}
