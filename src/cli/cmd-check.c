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
 *
 * --format tap|junit writes what CI systems read: TAP 13 as the checks run (one test
 * point per check, the plan last), or one JUnit XML document at the end (a testsuite
 * per device, a testcase per check).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "trace.h"
#include "util.h"

#define IMAGE_MAX (1ull << 30) /* a device image this command keeps in memory */
#define READ_CHUNK (1u << 20)

enum result { CK_OK, CK_WARN, CK_FAIL, CK_SKIP };
static const char *const result_name[] = {"ok", "warn", "fail", "skip"};

enum format { FMT_TEXT, FMT_JSON, FMT_TAP, FMT_JUNIT };
static const char *const format_name[] = {"text", "json", "tap", "junit"};

/* A device has at most 2 + 7 * 7 + 7 + 2 checks (reset, data size, arcs, states
 * refused, the arc never requested, left RUNNING); the valid arcs are far fewer. */
#define ITEMS_MAX 64

/* One check's outcome, kept for JUnit's counts and the TAP/JUnit writers. */
struct item {
	char name[64];	     /* "RUNNING_P2P -> STOP", "reset" */
	bool arc;	     /* a single arc (name is "FROM -> TO") */
	enum result res;
	int err;	     /* the positive errno behind the result, 0 for none */
	uint64_t usec;	     /* the SET, UINT64_MAX when no arc was timed */
	uint64_t wall_usec;  /* since the previous check: setup, SET, data */
	char detail[512];
};

/* A device's checks, or why it could not be checked. */
struct devrun {
	char *name;
	char flags[64];
	struct item items[ITEMS_MAX];
	size_t n_items;
	unsigned n[4];
	int open_err;	       /* positive: not opened, or no migration; no items */
	char open_what[16];    /* the test that stands for it: "open", "migration" */
	char open_why[512];
	uint64_t wall_usec;
	time_t started;
};

struct check {
	struct cli *cli;
	enum format fmt;
	unsigned *tap_n; /* TAP test points so far, over all devices */
	struct devrun *run;
	uint64_t t_last; /* when the previous check ended */
	struct vfm_device *dev;
	uint32_t flags;
	uint8_t *image; /* the device's own STOP_COPY data */
	size_t image_len;
	bool have_image;
	struct trace *trace; /* --trace */
};

/* --trace: every arc on the device's track, those of setting up a check too. */
static void on_arc(void *userdata, const struct vfm_device *dev,
		   const struct vfm_arc_result *arc)
{
	const struct check *c = userdata;

	trace_arc(c->trace, vfm_device_name(dev), arc);
}

/* TAP 13: a failure or a warning carries a YAML block naming what went wrong. */
static void tap_point(unsigned number, const char *dev, const char *name, bool arc,
		      enum result res, int err, uint64_t usec, const char *detail)
{
	char eb[24];

	printf("%sok %u - ", res == CK_FAIL ? "not " : "", number);
	out_tap_description(stdout, dev);
	fputs(": ", stdout);
	out_tap_description(stdout, name);
	if (res == CK_SKIP) {
		fputs(" # SKIP ", stdout);
		out_tap_description(stdout, detail);
	}
	putchar('\n');
	if (res == CK_FAIL || res == CK_WARN) {
		fputs("  ---\n  message: ", stdout);
		out_yaml_quoted(stdout, detail);
		printf("\n  severity: %s\n  device: ", res == CK_FAIL ? "fail" : "warn");
		out_yaml_quoted(stdout, dev);
		fputs(arc ? "\n  arc: " : "\n  check: ", stdout);
		out_yaml_quoted(stdout, name);
		if (err) {
			printf("\n  errno: %s\n  strerror: ", out_errno_name(err, eb));
			out_yaml_quoted(stdout, strerror(err));
		}
		if (usec != UINT64_MAX)
			printf("\n  duration_ms: %.3f", (double)usec / 1e3);
		fputs("\n  ...\n", stdout);
	}
	fflush(stdout);
}

/* @err: the positive errno behind the result, 0 for none. */
static void report(struct check *c, const char *what, enum vfm_state from, enum vfm_state to,
		   enum result res, uint64_t usec, int err, const char *fmt, ...)
	_printf_(8, 9);
static void report(struct check *c, const char *what, enum vfm_state from, enum vfm_state to,
		   enum result res, uint64_t usec, int err, const char *fmt, ...)
{
	struct out *o = c->cli->out;
	struct devrun *d = c->run;
	uint64_t now = now_usec();
	struct item *it;
	char eb[24];
	va_list ap;

	/* never full (ITEMS_MAX); a check past it would still count and print */
	it = d->n_items < ITEMS_MAX ? &d->items[d->n_items++] : &(struct item){0};
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	if (what)
		snprintf(it->name, sizeof(it->name), "%s", what);
	else
		snprintf(it->name, sizeof(it->name), "%s -> %s", vfm_state_name(from),
			 vfm_state_name(to));
	it->arc = !what;
	it->res = res;
	it->err = err;
	it->usec = usec;
	it->wall_usec = now - c->t_last;
	if (c->trace) {
		const char *args[] = { "result", result_name[res], "detail", it->detail };

		trace_span(c->trace, d->name, true, it->name, "check", c->t_last, now, args,
			   it->detail[0] ? 2 : 1);
	}
	c->t_last = now;
	d->n[res]++;

	switch (c->fmt) {
	case FMT_TAP:
		tap_point(++*c->tap_n, d->name, it->name, it->arc, res, err, usec, it->detail);
		return;
	case FMT_JUNIT: return; /* one document at the end */
	case FMT_TEXT:
	case FMT_JSON: break;
	}
	out_object_begin(o, NULL);
	out_text(o, "  %-4s %s", result_name[res], it->name);
	out_str(o, "result", NULL, result_name[res]);
	out_str(o, "check", NULL, what ? what : "arc");
	if (!what) {
		out_str(o, "from", NULL, vfm_state_name(from));
		out_str(o, "to", NULL, vfm_state_name(to));
	}
	if (usec != UINT64_MAX)
		out_u64(o, "elapsed_usec", " (%s us)", usec);
	if (err) {
		out_i64(o, "errno", NULL, err);
		out_str(o, "errno_name", NULL, out_errno_name(err, eb));
	}
	out_str(o, "detail", it->detail[0] ? ": %s" : NULL, it->detail);
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
	q = vfm_device_drive(c->dev, VFM_STATE_RUNNING, VFM_DRIVE_READBACK, on_arc, c, &now);
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
	r = vfm_device_drive(c->dev, s, VFM_DRIVE_READBACK, on_arc, c, &now);
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
static enum result check_precopy(struct check *c, char *why, size_t size, int *ret_err)
{
	uint8_t *buf;
	uint64_t initial, dirty, total = 0;
	enum result res = CK_OK;
	int r = vfm_device_get_precopy_info(c->dev, &initial, &dirty);

	if (r < 0) {
		snprintf(why, size, "VFIO_MIG_GET_PRECOPY_INFO: %s (mandatory with PRE_COPY)",
			 strerror(-r));
		*ret_err = -r;
		return CK_FAIL;
	}
	buf = malloc(READ_CHUNK);
	if (!buf) {
		snprintf(why, size, "%s", strerror(ENOMEM));
		*ret_err = ENOMEM;
		return CK_FAIL;
	}
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
			*ret_err = (int)-n;
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
	int fd = -1, r, err = 0;

	r = setup(c, from, why, sizeof(why));
	if (r < 0) {
		/* the arc that failed on the way has its own line */
		report(c, NULL, from, to, CK_SKIP, UINT64_MAX, -r, "cannot test: %s", why);
		return;
	}
	if (from == VFM_STATE_RESUMING) {
		/* the device's own image: the driver must accept it */
		if (!c->have_image) {
			report(c, NULL, from, to, CK_SKIP, UINT64_MAX, 0,
			       "no image of this device to load (STOP_COPY failed)");
			return;
		}
		r = load_image(c, why, sizeof(why));
		if (r < 0) {
			report(c, NULL, from, to, CK_FAIL, UINT64_MAX, -r, "%s", why);
			return;
		}
	}
	t0 = now_usec();
	r = vfm_device_set_state(c->dev, to, &fd);
	t0 = now_usec() - t0;
	on_arc(c, c->dev, &(struct vfm_arc_result){ .from = from, .to = to, .usec = t0,
						   .error = r < 0 ? r : 0 });
	if (r < 0) {
		/* "now in X" only for a state read back, never a guess */
		if (vfm_device_get_state(c->dev, &after) < 0)
			after = VFM_STATE_MAX;
		report(c, NULL, from, to, CK_FAIL, t0, -r, "%s (device now in %s)%s", strerror(-r),
		       state_read(after),
		       from == VFM_STATE_RESUMING ? "; the driver refused its own image" : "");
		return;
	}
	r = vfm_device_get_state(c->dev, &after);
	if (r < 0 || after != to) {
		report(c, NULL, from, to, CK_FAIL, t0, r < 0 ? -r : 0,
		       "succeeded, but the device reports %s",
		       r < 0 ? strerror(-r) : vfm_state_name(after));
		return;
	}
	res = check_session(c, from, to, fd, why, sizeof(why));
	if (res == CK_OK && to == VFM_STATE_STOP_COPY) {
		uint64_t t_read = now_usec();
		ssize_t n = read_stop_copy(c, !c->have_image, more, sizeof(more));
		uint64_t est;

		if (n >= 0)
			trace_read(c->trace, vfm_device_name(c->dev), "stop-copy read",
				   "stop-copy", t_read, now_usec(), (uint64_t)n);
		if (n < 0) {
			res = CK_FAIL;
			err = (int)-n;
		} else if (vfm_device_get_data_size(c->dev, &est) == 0) {
			snprintf(more, sizeof(more), "%zd bytes of data (estimate %llu)", n,
				 (unsigned long long)est);
		} else {
			snprintf(more, sizeof(more), "%zd bytes of data", n);
		}
	} else if (res == CK_OK && (to == VFM_STATE_PRE_COPY || to == VFM_STATE_PRE_COPY_P2P) &&
		   !in_saving_group(from)) {
		res = check_precopy(c, more, sizeof(more), &err);
	}
	report(c, NULL, from, to, res, t0, err, "%s%s%s", why, why[0] && more[0] ? "; " : "",
	       more);
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
		report(c, "reset", 0, 0, CK_SKIP, UINT64_MAX, -r,
		       "%s: each arc is reached from RUNNING arc by arc instead", strerror(-r));
	else
		report(c, "reset", 0, 0, CK_OK, UINT64_MAX, 0, "%s", "");
	r = vfm_device_get_data_size(c->dev, &est);
	if (r == -ENOTTY)
		report(c, "data-size", 0, 0, CK_SKIP, UINT64_MAX, ENOTTY,
		       "no VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (optional)");
	else if (r < 0)
		report(c, "data-size", 0, 0, CK_FAIL, UINT64_MAX, -r, "%s", strerror(-r));
	else
		report(c, "data-size", 0, 0, CK_OK, UINT64_MAX, 0, "%llu bytes",
		       (unsigned long long)est);
	/* precopy info v2 (Linux 7.1+): what the kernel and driver said to the library's
	 * opt-in; either answer conforms */
	if (c->flags & VFM_MIG_PRE_COPY)
		report(c, "precopy-info-v2", 0, 0, CK_OK, UINT64_MAX, 0, "%s",
		       vfm_device_precopy_v2(c->dev)
			       ? "yes: the opt-in took, new initial data (REINIT) is reported"
			       : "no: the opt-in was refused (a kernel before 7.1)");

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
		r = to_running(c, why, sizeof(why));
		if (r < 0) {
			report(c, name, 0, 0, CK_SKIP, UINT64_MAX, -r, "%s", why);
			continue;
		}
		r = vfm_device_set_state(c->dev, all[i], NULL);
		if (vfm_device_get_state(c->dev, &after) < 0)
			after = VFM_STATE_MAX;
		if (r == 0)
			report(c, name, 0, 0, CK_FAIL, UINT64_MAX, 0,
			       "a state the flags lack was accepted (now %s)",
			       state_read(after));
		else
			report(c, name, 0, 0, after == VFM_STATE_RUNNING ? CK_OK : CK_FAIL,
			       UINT64_MAX, 0, "%s, device in %s", strerror(-r),
			       state_read(after));
	}
	if (c->flags & VFM_MIG_PRE_COPY) {
		report(c, "never STOP_COPY -> PRE_COPY", 0, 0, CK_SKIP, UINT64_MAX, 0,
		       "not requested: kernels before 6.12.96 hang inside the ioctl");
	}
	r = to_running(c, why, sizeof(why));
	report(c, "left RUNNING", 0, 0, r < 0 ? CK_FAIL : CK_OK, UINT64_MAX, r < 0 ? -r : 0,
	       "%s",
	       r < 0 ? why : "");
}

/* ---- JUnit: one document once every device has been checked ---- */

static void xml_attr(const char *name, const char *val)
{
	printf(" %s=\"", name);
	out_xml_escaped(stdout, val);
	putchar('"');
}

/* A testcase: @what NULL for a pass, "failure", "error" or "skipped". */
static void junit_case(const char *classname, const char *name, uint64_t wall_usec,
		       const char *what, int err, const char *detail)
{
	char eb[24];

	fputs("    <testcase", stdout);
	xml_attr("classname", classname);
	xml_attr("name", name);
	printf(" time=\"%.6f\"", (double)wall_usec / 1e6);
	if (!what && !detail[0]) {
		fputs("/>\n", stdout);
		return;
	}
	fputs(">\n", stdout);
	if (what) {
		printf("      <%s", what);
		xml_attr("message", detail);
		if (!streq(what, "skipped"))
			/* no errno: the driver departed from the uAPI without one */
			xml_attr("type", err ? out_errno_name(err, eb) : "uapi");
		fputs(">", stdout);
		out_xml_escaped(stdout, detail);
		printf("</%s>\n", what);
	} else if (detail[0]) {
		fputs("      <system-out>", stdout);
		out_xml_escaped(stdout, detail);
		fputs("</system-out>\n", stdout);
	}
	fputs("    </testcase>\n", stdout);
}

static void junit_write(struct devrun *const *runs, size_t n_runs)
{
	unsigned tests = 0, failures = 0, errors = 0, skipped = 0;
	char host[256] = "";
	uint64_t usec = 0;

	for (size_t i = 0; i < n_runs; i++) {
		const struct devrun *d = runs[i];

		tests += d->open_err ? 1 : (unsigned)d->n_items;
		failures += d->n[CK_FAIL];
		errors += d->open_err ? 1 : 0;
		skipped += d->n[CK_SKIP];
		usec += d->wall_usec;
	}
	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = 0;
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	       "<testsuites name=\"vfiomig check\" tests=\"%u\" failures=\"%u\" errors=\"%u\" "
	       "skipped=\"%u\" time=\"%.6f\">\n",
	       tests, failures, errors, skipped, (double)usec / 1e6);
	for (size_t i = 0; i < n_runs; i++) {
		const struct devrun *d = runs[i];
		_cleanup_free_ char *cls = strdup(d->name);
		char stamp[32] = "1970-01-01T00:00:00";
		struct tm tm;

		if (!cls)
			abort();
		/* CI systems split class names at dots into packages: 0000:3b:00.1 is one */
		for (char *p = cls; *p; p++)
			if (*p == '.')
				*p = '_';
		if (gmtime_r(&d->started, &tm))
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fputs("  <testsuite", stdout);
		xml_attr("name", d->name);
		printf(" tests=\"%u\" failures=\"%u\" errors=\"%u\" skipped=\"%u\" "
		       "time=\"%.6f\" timestamp=\"%s\"",
		       d->open_err ? 1u : (unsigned)d->n_items, d->n[CK_FAIL],
		       d->open_err ? 1u : 0u, d->n[CK_SKIP], (double)d->wall_usec / 1e6, stamp);
		xml_attr("hostname", host);
		fputs(">\n", stdout);
		if (d->flags[0]) {
			fputs("    <properties><property name=\"flags\"", stdout);
			xml_attr("value", d->flags);
			fputs("/></properties>\n", stdout);
		}
		if (d->open_err)
			junit_case(cls, d->open_what, d->wall_usec, "error", d->open_err,
				   d->open_why);
		for (size_t k = 0; k < d->n_items; k++) {
			const struct item *it = &d->items[k];
			static const char *const what[] = {
				[CK_OK] = NULL, [CK_WARN] = NULL,
				[CK_FAIL] = "failure", [CK_SKIP] = "skipped"};
			char detail[sizeof(it->detail) + 16];

			/* a warning passes: its text says so */
			snprintf(detail, sizeof(detail), "%s%s",
				 it->res == CK_WARN ? "warning: " : "", it->detail);
			junit_case(cls, it->name, it->wall_usec, what[it->res], it->err,
				   detail);
		}
		fputs("  </testsuite>\n", stdout);
	}
	fputs("</testsuites>\n", stdout);
	fflush(stdout);
}

/* ---- one device ---- */

/* A device that could not be checked at all: its error, and a test that fails. */
static void device_failed(struct check *c, const char *what, int err, const char *why)
{
	struct devrun *d = c->run;

	cli_error(c->cli, "%s", why);
	d->open_err = err ? err : EIO;
	snprintf(d->open_what, sizeof(d->open_what), "%s", what);
	snprintf(d->open_why, sizeof(d->open_why), "%s", why);
	d->wall_usec = now_usec() - c->t_last;
	if (c->fmt == FMT_TAP)
		tap_point(++*c->tap_n, d->name, what, false, CK_FAIL, d->open_err, UINT64_MAX,
			  why);
	if (c->fmt == FMT_JSON) {
		/* the device is in the document too, with why it was not checked */
		out_object_begin(c->cli->out, NULL);
		out_str(c->cli->out, "device", NULL, d->name);
		out_str(c->cli->out, "stage", NULL, what);
		out_error(c->cli->out, "error", d->open_err, why);
		out_object_end(c->cli->out);
	}
}

/* Check @name; returns the exit code it earns. */
static int check_one(struct check *c, const char *name)
{
	struct cli *cli = c->cli;
	struct devrun *d = c->run;
	uint64_t t0 = now_usec();
	char why[512];
	int r;

	d->started = time(NULL);
	c->t_last = t0;
	r = vfm_device_open(cli->ctx, name, &c->dev);
	if (r < 0) {
		const char *last = vfm_ctx_last_error(cli->ctx);

		if (*last)
			snprintf(why, sizeof(why), "%s", last);
		else
			snprintf(why, sizeof(why), "%s: cannot open: %s", name, strerror(-r));
		device_failed(c, "open", -r, why);
		return EXIT_NODEV;
	}
	free(d->name);
	d->name = strdup(vfm_device_name(c->dev));
	if (!d->name)
		abort();
	r = vfm_device_get_flags(c->dev, &c->flags);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s: %s", d->name,
			 r == -ENOTTY ? "the driver does not support migration"
				      : strerror(-r));
		device_failed(c, "migration", -r, why);
		return cli_exit_code(r);
	}
	vfm_flags_format(c->flags, d->flags, sizeof(d->flags));
	if (c->fmt == FMT_TEXT || c->fmt == FMT_JSON) {
		out_object_begin(cli->out, NULL);
		out_str(cli->out, "device", "%s", d->name);
		out_str_list(cli->out, "migration_flags", ": flags %s\n", d->flags);
		out_array_begin(cli->out, "checks");
	}
	check_device(c);
	d->wall_usec = now_usec() - t0;
	if (c->trace) {
		char what[96];
		const char *args[] = { "flags", d->flags };

		snprintf(what, sizeof(what), "verdict: %u ok, %u warnings, %u failed, %u skipped",
			 d->n[CK_OK], d->n[CK_WARN], d->n[CK_FAIL], d->n[CK_SKIP]);
		trace_instant(c->trace, d->name, what, "verdict", now_usec(), args, 1);
	}
	if (c->fmt == FMT_TEXT || c->fmt == FMT_JSON) {
		out_array_end(cli->out);
		out_u64(cli->out, "ok", "  %s ok", d->n[CK_OK]);
		out_u64(cli->out, "warnings", ", %s warnings", d->n[CK_WARN]);
		out_u64(cli->out, "failed", ", %s failed", d->n[CK_FAIL]);
		out_u64(cli->out, "skipped", ", %s skipped\n", d->n[CK_SKIP]);
		out_object_end(cli->out);
	} else if (c->fmt == FMT_TAP) {
		fputs("# ", stdout);
		out_tap_description(stdout, d->name);
		printf(": %u ok, %u warnings, %u failed, %u skipped\n", d->n[CK_OK],
		       d->n[CK_WARN], d->n[CK_FAIL], d->n[CK_SKIP]);
	}
	return d->n[CK_FAIL] ? EXIT_FAILED : EXIT_OK;
}

static void help(void)
{
	printf("Usage: vfiomig check DEV... [--format text|json|tap|junit] [-j] [-p]\n\n"
	       "Walk every arc the device's migration flags claim and report where the\n"
	       "driver departs from the VFIO migration uAPI: each arc's result and state,\n"
	       "data sessions opened, kept and closed, STOP_COPY data ending with 0,\n"
	       "PRE_COPY's PRECOPY_INFO and ENOMSG, the device loading its own image,\n"
	       "states it lacks refused.  The device is reset before each arc (driven\n"
	       "back arc by arc when its reset fails) and left RUNNING: use it on a device\n"
	       "no VM is using.  Exit 0 when nothing failed (warnings allowed), 1 when a\n"
	       "check failed, 4 when a device does not support migration.\n\n"
	       "  --format FORMAT  text (default), json (as -j), tap (TAP 13, one test\n"
	       "                   point per check, for prove and CI) or junit (JUnit\n"
	       "                   XML, a testsuite per device); the exit code is the same\n"
	       "  --trace FILE     write every check, arc and data read as Chrome\n"
	       "                   trace-event JSON (Perfetto, chrome://tracing,\n"
	       "                   vfiomig timeline)\n");
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'F'},
		{"trace", required_argument, NULL, 'T'},
		{},
	};
	struct devrun **runs = NULL;
	struct trace *trace = NULL;
	const char *trace_path = NULL;
	enum format fmt = FMT_TEXT;
	bool fmt_set = false;
	unsigned tap_n = 0;
	size_t n_runs = 0;
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", opts, help, &ex)) > 0) {
		switch (c) {
		case 'F':
			fmt_set = false;
			for (size_t i = 0; i < ELEMENTSOF(format_name); i++)
				if (streq(optarg, format_name[i])) {
					fmt = (enum format)i;
					fmt_set = true;
				}
			if (!fmt_set) {
				cli_error(cli, "--format: '%s' is not text, json, tap or junit",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case 'T':
			if (!*optarg || strnlen(optarg, 512) > 511) {
				cli_error(cli, "--trace: the path is empty or longer than 511 "
					       "bytes");
				return EXIT_USAGE;
			}
			trace_path = optarg;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (c < 0)
		return ex;
	if (cli->json && fmt_set && fmt != FMT_JSON) {
		cli_error(cli, "--format %s and -j/-p exclude each other", format_name[fmt]);
		return EXIT_USAGE;
	}
	if (cli->json)
		fmt = FMT_JSON;
	cli->json = fmt == FMT_JSON;
	if (optind >= argc) {
		cli_error(cli, "check needs devices (see vfiomig check --help)");
		return EXIT_USAGE;
	}
	if (trace_path) {
		char why[640];
		int r = trace_open(trace_path, "vfiomig check", &trace, why, sizeof(why));

		if (r < 0) {
			cli_error(cli, "%s", why);
			cli_set_errno(cli, r);
			return EXIT_FAILED;
		}
	}
	runs = calloc((size_t)(argc - optind), sizeof(*runs));
	if (!runs)
		return EXIT_FAILED;
	if (fmt == FMT_TAP) {
		puts("TAP version 13");
	} else if (fmt != FMT_JUNIT) {
		cli->out = out_new(cli->json, cli->pretty);
		out_object_begin(cli->out, NULL);
		out_array_begin(cli->out, "devices");
	}
	for (int i = optind; i < argc; i++) {
		struct check chk = {.cli = cli, .fmt = fmt, .tap_n = &tap_n, .trace = trace};
		int e;

		chk.run = runs[n_runs] = calloc(1, sizeof(*chk.run));
		if (!chk.run || !(chk.run->name = strdup(argv[i])))
			abort();
		n_runs++;
		e = check_one(&chk, argv[i]);
		if (ex == EXIT_OK)
			ex = e;
		free(chk.image);
		vfm_device_unref(chk.dev);
	}
	if (fmt == FMT_TAP) {
		printf("1..%u\n", tap_n);
		fflush(stdout);
	} else if (fmt == FMT_JUNIT) {
		junit_write(runs, n_runs);
	} else {
		out_array_end(cli->out);
		out_object_end(cli->out);
		out_finish(cli->out);
		cli->out = NULL;
	}
	for (size_t i = 0; i < n_runs; i++) {
		free(runs[i]->name);
		free(runs[i]);
	}
	free(runs);
	if (trace) {
		char why[640] = "";
		bool truncated = false;

		if (trace_close(trace, &truncated, why, sizeof(why)) < 0)
			cli_error(cli, "warning: %s", why);
		else if (truncated)
			cli_error(cli, "warning: --trace: only the first %u events were written",
				  TRACE_EVENTS_MAX);
	}
	return ex;
}
