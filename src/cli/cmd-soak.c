// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig soak DEV_A DEV_B` and `vfiomig soak DEV`: for test labs, migrate a device
 * state again and again on one host and say when it broke and where the downtime
 * went.
 *
 * Two devices: cycle 1 moves A's state to B, cycle 2 moves it back, and so on.  Each
 * cycle is a real vfm_save() and vfm_restore(), each in its own thread, over the two
 * ends of a socketpair: the same header, compatibility answer, data, READY, COMMIT
 * and verdict as a migration between hosts.  One device: vfm_save() into a memfd (a
 * one-way stream: no COMMIT, no verdict), then vfm_restore() of it into the same
 * device; its downtime is the save's plus the whole restore.
 *
 * A failed cycle whose source came back to RUNNING still holds the state: with
 * --keep-going the next cycle migrates it the same way again.  A source left
 * elsewhere (in doubt, rollback incomplete) ends the soak.
 *
 * Resource check: the descriptors of this process (/proc/self/fd) and its VmRSS are
 * sampled after every cycle; the values after the baseline cycle (the 10th, or the
 * 1st of fewer than 20) are compared with those after the last.  Allowed: no new
 * descriptor, and RSS_SLACK_KIB (--rss-slack) of RSS beyond what this command's own per-cycle
 * records took meanwhile.
 *
 * SIGINT/SIGTERM: the cycle under way ends, then the report (exit 128 + signal); a
 * second signal cancels the cycle under way too (the jobs roll back).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "trace.h"
#include "util.h"

#define CYCLES_MAX     1000000u
#define DURATION_MAX_S (7u * 86400u)
#define DEFAULT_CYCLES 100u
#define FAILURES_KEPT  100u /* failures whose message is kept (all are counted) */
#define RSS_SLACK_KIB  8192u
#define BASELINE_CYCLE 10u
#define TIMEOUT_MAX_S  86400u

enum format { FMT_TEXT, FMT_JSON, FMT_JUNIT };
static const char *const format_name[] = {"text", "json", "junit"};

/* One cycle, compact: a soak may run a million. */
struct cycle {
	uint64_t downtime_usec, elapsed_usec, bytes;
	uint64_t rss_kib;
	uint32_t fds;
	int32_t failure; /* index in soak.failures, -1: passed, -2: failed, not kept */
	uint8_t from;	 /* device index: 0 A, 1 B */
	bool interrupted;
};

struct failure {
	unsigned cycle;
	const char *side;   /* "save" or "restore" */
	const char *device; /* the device of that side */
	enum vfm_job_phase phase;
	int error;
	char arc[64]; /* the failed arc, "" when none failed */
	char message[1024];
};

/* One job of a cycle, run in a thread. */
struct job {
	bool save;
	struct vfm_device *dev;
	struct vfm_endpoint *ep;
	struct soak *soak;
	struct vfm_job_report rep;
	char arc[64]; /* the first arc that failed */
	int done_fd;
	int r;
	pthread_t thread;
};

struct soak {
	struct cli *cli;
	enum format fmt;
	struct vfm_device *dev[2];
	size_t n_dev;
	bool precopy, keep_going;
	unsigned timeout_ms;
	unsigned rss_slack_kib; /* --rss-slack */
	unsigned cycles_wanted; /* 0: until the duration */
	uint64_t duration_usec;
	const char *trace_path; /* --trace */
	struct trace *trace;

	int sig_fd;	  /* cli_setup_signals() */
	int cancel[2];	  /* the jobs' cancel fd, written on a second signal */
	int done_fd;	  /* eventfd: a job thread ended */
	unsigned signals; /* seen so far */
	int first_signal;

	struct cycle *cycles;
	size_t n_cycles, cap_cycles;
	struct failure *failures[FAILURES_KEPT];
	size_t n_failures_kept;
	unsigned failed;
	bool stopped_unsafe; /* a source not back to RUNNING */
	size_t cap_after[2]; /* cap_cycles after cycle 1 and after BASELINE_CYCLE */
	uint64_t t_start, t_elapsed;
};

static const char *dev_name(const struct soak *s, unsigned i)
{
	return vfm_device_name(s->dev[i]);
}

/* ---- what the process holds ---- */

static uint32_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint32_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own */
}

static uint64_t rss_kib(void)
{
	char line[256];
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- one cycle ---- */

static void on_arc(void *userdata, const struct vfm_device *dev,
		   const struct vfm_arc_result *arc)
{
	struct job *j = userdata;

	if (arc->error && !j->arc[0])
		snprintf(j->arc, sizeof(j->arc), "%s -> %s", vfm_state_name(arc->from),
			 vfm_state_name(arc->to));
}

static void *job_thread(void *userdata)
{
	struct job *j = userdata;
	struct soak *s = j->soak;
	uint64_t one = 1;

	if (j->save) {
		struct vfm_save_opts so;

		vfm_save_opts_init(&so);
		so.precopy = s->precopy;
		so.timeout_ms = s->timeout_ms;
		so.cancel_fd = s->cancel[0];
		so.on_arc = on_arc;
		so.arc_userdata = j;
		if (s->trace) {
			so.on_event = trace_job_event;
			so.event_userdata = trace_job(s->trace, "save");
		}
		j->r = vfm_save(&j->dev, 1, j->ep, &so, &j->rep);
	} else {
		struct vfm_restore_opts ro;

		vfm_restore_opts_init(&ro);
		ro.timeout_ms = s->timeout_ms;
		ro.cancel_fd = s->cancel[0];
		ro.on_arc = on_arc;
		ro.arc_userdata = j;
		if (s->trace) {
			ro.on_event = trace_job_event;
			ro.event_userdata = trace_job(s->trace, "restore");
		}
		j->r = vfm_restore(&j->dev, 1, j->ep, &ro, &j->rep);
	}
	/* at once: a peer still waiting on us reads the end of the stream */
	j->ep = vfm_endpoint_free(j->ep);
	if (write(j->done_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow */
	}
	return NULL;
}

/* A signal: the first lets the cycle finish, the second cancels it. */
static void drain_signals(struct soak *s)
{
	char buf[16];
	ssize_t n;

	while ((n = read(s->sig_fd, buf, sizeof(buf))) > 0) {
		if (!s->signals)
			s->first_signal =
				buf[0]; /* the handler writes the signal number */
		s->signals += (unsigned)n;
		if (s->signals >= 2 && write(s->cancel[1], "x", 1) < 0) {
			/* full: cancelled already */
		}
	}
}

/* Run the jobs (already set up) in threads; wait for all, watching for signals. */
static int run_jobs(struct soak *s, struct job *jobs, size_t n)
{
	size_t started = 0;
	uint64_t ended = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		jobs[i].soak = s;
		jobs[i].done_fd = s->done_fd;
		r = -pthread_create(&jobs[i].thread, NULL, job_thread, &jobs[i]);
		if (r < 0)
			break;
		started++;
	}
	if (r < 0 && write(s->cancel[1], "x", 1) < 0) {
		/* the threads started stop on the cancel */
	}
	while (ended < started) {
		struct pollfd p[2] = {{.fd = s->done_fd, .events = POLLIN},
				      {.fd = s->sig_fd, .events = POLLIN}};
		uint64_t v;

		if (poll(p, 2, -1) < 0)
			continue; /* EINTR: the handler wrote the pipe */
		if (p[1].revents)
			drain_signals(s);
		if (p[0].revents && read(s->done_fd, &v, sizeof(v)) == sizeof(v))
			ended += v;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(jobs[i].thread, NULL);
	return r;
}

static int open_ep(int fd, unsigned flags, struct soak *s, struct vfm_endpoint **ret,
		   char *why, size_t size)
{
	struct vfm_transport_err err = {""};
	int r = vfm_endpoint_open_fd(fd, flags, s->timeout_ms, s->cancel[0], ret, &err);

	if (r < 0)
		snprintf(why, size, "loopback stream: %s",
			 err.msg[0] ? err.msg : strerror(-r));
	return r;
}

/* The failure of a cycle: the side whose report names the cause. */
static void record_failure(struct soak *s, struct cycle *c, unsigned number,
			   const struct job *bad, const char *why)
{
	struct failure *f;

	s->failed++;
	c->failure = -2;
	if (s->n_failures_kept >= FAILURES_KEPT)
		return;
	f = calloc(1, sizeof(*f));
	if (!f)
		return;
	f->cycle = number;
	if (bad) {
		f->side = bad->save ? "save" : "restore";
		f->device = vfm_device_name(bad->dev);
		f->phase = bad->rep.phase;
		f->error = bad->rep.error ? bad->rep.error : bad->r;
		snprintf(f->arc, sizeof(f->arc), "%s", bad->arc);
		snprintf(f->message, sizeof(f->message), "%s", bad->rep.message);
	} else {
		f->side = "setup";
		f->device = "";
		f->phase = VFM_JOB_HEADER;
		f->error = -EIO;
		snprintf(f->message, sizeof(f->message), "%s", why);
	}
	c->failure = (int32_t)s->n_failures_kept;
	s->failures[s->n_failures_kept++] = f;
}

/*
 * Which report names the cause: a side whose own device failed (an arc or its data)
 * rather than one that only saw the peer go.  The save's report repeats the
 * destination's failure verdict; the restore's an aborted source's reason.
 */
static const struct job *cause(const struct job *sv, const struct job *rs)
{
	if (!rs || !rs->rep.error)
		return sv;
	if (!sv->rep.error)
		return rs;
	if (rs->arc[0] && !sv->arc[0])
		return rs;
	if (sv->arc[0])
		return sv;
	/* the destination refused or failed on its own: its phase is past the header */
	switch (rs->rep.error) {
	case -ECONNRESET:
	case -EPIPE:
	case -ECANCELED:
	case -ETIMEDOUT:
	case -ENOMSG: return sv;
	default: break;
	}
	switch (sv->rep.error) {
	case -ECONNRESET:
	case -EPIPE:
	case -EREMOTEIO: return rs;
	default: return sv;
	}
}

static void cycle_line(const struct soak *s, unsigned number, const struct cycle *c)
{
	const char *to = s->n_dev == 2 ? dev_name(s, !c->from) : dev_name(s, 0);
	char total[32];

	if (s->cycles_wanted)
		fprintf(stderr, "soak: cycle %u/%u %s -> %s", number, s->cycles_wanted,
			dev_name(s, c->from), to);
	else
		fprintf(stderr, "soak: cycle %u %s -> %s", number, dev_name(s, c->from),
			to);
	if (c->failure != -1) {
		const struct failure *f =
			c->failure >= 0 ? s->failures[c->failure] : NULL;

		if (f)
			fprintf(stderr, ": FAILED (%s, phase %s): %s\n", f->side,
				vfm_job_phase_name(f->phase), f->message);
		else
			fputs(": FAILED\n", stderr);
		return;
	}
	snprintf(total, sizeof(total), "%" PRIu64, c->bytes);
	fprintf(stderr, ": ok, downtime %.3f ms, %s bytes, %.1f MB/s, %.3f ms\n",
		(double)c->downtime_usec / 1e3, total,
		c->elapsed_usec ? (double)c->bytes / (double)c->elapsed_usec : 0.0,
		(double)c->elapsed_usec / 1e3);
}

/*
 * Two devices must be of the same type, or no cycle can pass: the same IDs, driver,
 * mdev type and migration flags, compared before the first cycle.  An ID or a name
 * that one side does not know (-1, "") is not compared, as the destination's
 * compatibility check does not.  Returns an exit code.
 */
static int same_type(struct soak *s)
{
	const struct vfm_device_identity *a = vfm_device_identity(s->dev[0]);
	const struct vfm_device_identity *b = vfm_device_identity(s->dev[1]);
	char what[256] = "", fa[64], fb[64];
	uint32_t flags[2];
	int r;

#define DIFF_ID(field, label)                                                          \
	if (!what[0] && a->field >= 0 && b->field >= 0 && a->field != b->field)        \
	snprintf(what, sizeof(what), label " %04x and %04x", (unsigned)a->field,     \
		 (unsigned)b->field)
	DIFF_ID(vendor, "vendor");
	DIFF_ID(device, "device ID");
	DIFF_ID(subsystem_vendor, "subsystem vendor");
	DIFF_ID(subsystem_device, "subsystem device ID");
#undef DIFF_ID
	if (!what[0] && a->driver[0] && b->driver[0] && !streq(a->driver, b->driver))
		snprintf(what, sizeof(what), "driver %.60s and %.60s", a->driver, b->driver);
	if (!what[0] && a->mdev_type[0] && b->mdev_type[0] &&
	    !streq(a->mdev_type, b->mdev_type))
		snprintf(what, sizeof(what), "mdev type '%.60s' and '%.60s'", a->mdev_type,
			 b->mdev_type);
	for (size_t i = 0; i < 2; i++) {
		r = vfm_device_get_flags(s->dev[i], &flags[i]);
		if (r < 0) {
			cli_error(s->cli, "%s: %s", dev_name(s, (unsigned)i),
				  r == -ENOTTY ? "the driver does not support migration"
					       : strerror(-r));
			cli_set_errno(s->cli, r);
			return cli_exit_code(r);
		}
	}
	if (!what[0] && flags[0] != flags[1]) {
		vfm_flags_format(flags[0], fa, sizeof(fa));
		vfm_flags_format(flags[1], fb, sizeof(fb));
		snprintf(what, sizeof(what), "migration flags %s and %s", fa, fb);
	}
	if (!what[0])
		return EXIT_OK;
	cli_error(s->cli, "soak: %s and %s are not of the same type (%s): a state cannot "
			  "move between them",
		  dev_name(s, 0), dev_name(s, 1), what);
	cli_set_errno(s->cli, EREMOTEIO);
	return EXIT_INCOMPATIBLE;
}

/* Returns 0 when the cycle passed, 1 when it failed (recorded). */
static int run_cycle(struct soak *s, unsigned number, unsigned from, struct cycle *c)
{
	struct job jobs[2] = {
		{.save = true, .dev = s->dev[from], .r = 0},
		{.save = false, .dev = s->dev[s->n_dev == 2 ? !from : 0], .r = 0},
	};
	char why[512] = "";
	uint64_t t0 = now_usec();
	int sv[2] = {-1, -1}, r;

	c->from = (uint8_t)from;
	c->failure = -1;
	if (s->n_dev == 2) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			snprintf(why, sizeof(why), "socketpair: %m");
			goto setup_failed;
		}
		r = open_ep(sv[0], VFM_EP_READ | VFM_EP_WRITE, s, &jobs[0].ep, why,
			    sizeof(why));
		if (r == 0)
			r = open_ep(sv[1], VFM_EP_READ | VFM_EP_WRITE, s, &jobs[1].ep,
				    why, sizeof(why));
		/* the endpoints hold their own copies */
		close(sv[0]);
		close(sv[1]);
		if (r == 0)
			r = run_jobs(s, jobs, 2);
	} else {
		int m = memfd_create("vfiomig-soak", MFD_CLOEXEC);

		if (m < 0) {
			snprintf(why, sizeof(why), "memfd_create: %m");
			goto setup_failed;
		}
		r = open_ep(m, VFM_EP_WRITE, s, &jobs[0].ep, why, sizeof(why));
		if (r == 0)
			r = run_jobs(s, &jobs[0], 1);
		if (r == 0 && jobs[0].r == 0) {
			if (lseek(m, 0, SEEK_SET) < 0) {
				snprintf(why, sizeof(why), "memfd: %m");
				r = -errno;
			}
			if (r == 0)
				r = open_ep(m, VFM_EP_READ, s, &jobs[1].ep, why,
					    sizeof(why));
			if (r == 0)
				r = run_jobs(s, &jobs[1], 1);
		}
		close(m);
	}
	/* a job that never ran leaves its endpoint here */
	jobs[0].ep = vfm_endpoint_free(jobs[0].ep);
	jobs[1].ep = vfm_endpoint_free(jobs[1].ep);
	if (r < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "cannot start a job: %s",
				 strerror(-r));
		goto setup_failed;
	}
	c->elapsed_usec = now_usec() - t0;
	c->bytes = jobs[0].rep.total_bytes;
	c->interrupted = jobs[0].r == -ECANCELED || jobs[1].r == -ECANCELED;
	if (jobs[0].r || jobs[1].r) {
		const struct job *bad = s->n_dev == 2 ? cause(&jobs[0], &jobs[1])
					: jobs[0].r   ? &jobs[0]
						      : &jobs[1];

		record_failure(s, c, number, bad, NULL);
		/* Go on only from a source that runs again with the state: a save that
		 * failed and rolled back.  A failed restore after a good save (one
		 * device: its image is lost with the reset) ends the soak. */
		if (!jobs[0].r || !jobs[0].rep.devices_left_running)
			s->stopped_unsafe = true;
		return 1;
	}
	/* the device is stopped from the first quiesce until the destination runs */
	c->downtime_usec = jobs[0].rep.downtime_usec;
	if (s->n_dev == 1)
		c->downtime_usec += jobs[1].rep.elapsed_usec;
	return 0;

setup_failed:
	c->elapsed_usec = now_usec() - t0;
	record_failure(s, c, number, NULL, why);
	s->stopped_unsafe = true;
	return 1;
}

/* --trace: the cycle as a span on the soak's own track. */
static void trace_cycle(const struct soak *s, unsigned number, const struct cycle *c)
{
	const struct failure *f = c->failure >= 0 ? s->failures[c->failure] : NULL;
	uint64_t now = now_usec();
	char name[2 * VFM_NAME_MAX + 32], dt[32];
	const char *args[] = {
		"result", c->failure == -1 ? "ok" : "FAILED",
		"downtime_usec", dt,
		"failure", f ? f->message : NULL,
	};

	if (!s->trace)
		return;
	snprintf(name, sizeof(name), "cycle %u: %s -> %s", number, dev_name(s, c->from),
		 s->n_dev == 2 ? dev_name(s, !c->from) : dev_name(s, 0));
	snprintf(dt, sizeof(dt), "%" PRIu64, c->downtime_usec);
	trace_span(s->trace, "soak", false, name, "cycle", now - MIN(c->elapsed_usec, now),
		   now, args, ELEMENTSOF(args) / 2);
}

/* ---- the figures ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank of the sorted @v. */
static uint64_t pct(const uint64_t *v, size_t n, unsigned p)
{
	size_t k = (n * p + 99) / 100;

	return n ? v[k ? k - 1 : 0] : 0;
}

struct stats {
	size_t n;
	uint64_t p50, p99, max, min;
};

/* @what: 0 downtime (usec), 1 throughput (bytes/s) */
static struct stats stats_of(const struct soak *s, int what)
{
	struct stats st = {0};
	uint64_t *v = malloc(sizeof(*v) * (s->n_cycles ? s->n_cycles : 1));

	if (!v)
		return st;
	for (size_t i = 0; i < s->n_cycles; i++) {
		const struct cycle *c = &s->cycles[i];

		if (c->failure != -1)
			continue;
		v[st.n++] = what == 0	      ? c->downtime_usec
			    : c->elapsed_usec ? c->bytes * 1000000 / c->elapsed_usec
					      : 0;
	}
	qsort(v, st.n, sizeof(*v), cmp_u64);
	if (st.n) {
		st.p50 = pct(v, st.n, 50);
		st.p99 = pct(v, st.n, 99);
		st.max = v[st.n - 1];
		st.min = v[0];
	}
	free(v);
	return st;
}

struct growth {
	bool measured, grew;
	size_t base; /* index of the baseline cycle */
	uint32_t fds0, fds1;
	uint64_t rss0, rss1, own_kib;
};

static struct growth growth_of(const struct soak *s)
{
	struct growth g = {0};
	size_t last = s->n_cycles - 1;

	if (s->n_cycles < 2)
		return g;
	g.base = s->n_cycles >= 2 * BASELINE_CYCLE ? BASELINE_CYCLE - 1 : 0;
	g.measured = true;
	g.fds0 = s->cycles[g.base].fds;
	g.fds1 = s->cycles[last].fds;
	g.rss0 = s->cycles[g.base].rss_kib;
	g.rss1 = s->cycles[last].rss_kib;
	/* our own records since the baseline: written into a table allocated at once
	 * (its pages become resident as they are written), or copied into a larger one */
	g.own_kib = MAX(last - g.base, s->cap_cycles - s->cap_after[g.base ? 1 : 0]) *
		    sizeof(struct cycle) / 1024;
	g.grew = g.fds1 > g.fds0 || g.rss1 > g.rss0 + g.own_kib + s->rss_slack_kib;
	return g;
}

static void human(char *buf, size_t size, double v, const char *unit)
{
	static const char *const pre[] = {"", "Ki", "Mi", "Gi", "Ti"};
	size_t u = 0;

	while (v >= 1024 && u + 1 < ELEMENTSOF(pre)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s%s", v, pre[u], unit);
}

/* ---- reports ---- */

static void json_stats(struct out *o, const char *key, const struct stats *st)
{
	out_object_begin(o, key);
	out_u64(o, "p50", NULL, st->p50);
	out_u64(o, "p99", NULL, st->p99);
	out_u64(o, "max", NULL, st->max);
	out_u64(o, "min", NULL, st->min);
	out_object_end(o);
}

static void out_failure(struct out *o, const struct soak *s, const struct failure *f)
{
	out_str(o, "side", NULL, f->side);
	out_str(o, "phase", NULL, vfm_job_phase_name(f->phase));
	out_str(o, "device", NULL, f->device);
	if (f->arc[0])
		out_str(o, "arc", NULL, f->arc);
	else
		out_null(o, "arc");
	out_error(o, "error", f->error, f->message);
}

static void print_report(struct soak *s, const struct growth *g, bool interrupted)
{
	struct out *o = s->cli->out;
	struct stats dt = stats_of(s, 0), tp = stats_of(s, 1);
	double secs = (double)s->t_elapsed / 1e6;
	char a[32], b[32], c[32];

	out_object_begin(o, NULL);
	out_array_begin(o, "devices");
	for (size_t i = 0; i < s->n_dev; i++) {
		out_object_begin(o, NULL);
		out_str(o, "device", NULL, dev_name(s, (unsigned)i));
		out_object_end(o);
	}
	out_array_end(o);
	out_bool(o, "precopy", NULL, s->precopy);
	out_array_begin(o, "cycles");
	for (size_t i = 0; i < s->n_cycles; i++) {
		const struct cycle *cy = &s->cycles[i];

		out_object_begin(o, NULL);
		out_u64(o, "cycle", NULL, i + 1);
		out_str(o, "from", NULL, dev_name(s, cy->from));
		out_str(o, "to", NULL, dev_name(s, s->n_dev == 2 ? !cy->from : 0));
		out_bool(o, "success", NULL, cy->failure == -1);
		out_u64(o, "downtime_usec", NULL, cy->downtime_usec);
		out_u64(o, "elapsed_usec", NULL, cy->elapsed_usec);
		out_u64(o, "total_bytes", NULL, cy->bytes);
		out_u64(o, "throughput_bytes_per_second", NULL,
			cy->elapsed_usec ? cy->bytes * 1000000 / cy->elapsed_usec : 0);
		out_u64(o, "fds", NULL, cy->fds);
		out_u64(o, "rss_bytes", NULL, cy->rss_kib * 1024);
		if (cy->failure >= 0)
			out_failure(o, s, s->failures[cy->failure]);
		out_object_end(o);
	}
	out_array_end(o);

	out_object_begin(o, "summary");
	out_text(o, "soak %s", dev_name(s, 0));
	if (s->n_dev == 2)
		out_text(o, " <-> %s", dev_name(s, 1));
	out_u64(o, "cycles", ": %s cycles", s->n_cycles);
	out_u64(o, "passed", ", %s passed", s->n_cycles - s->failed);
	out_u64(o, "failed", ", %s failed", s->failed);
	out_u64(o, "elapsed_usec", NULL, s->t_elapsed);
	out_text(o, " in %.3f s (%.1f cycles/s)%s\n", secs,
		 secs > 0 ? (double)s->n_cycles / secs : 0.0,
		 interrupted ? ", interrupted" : "");
	out_bool(o, "interrupted", NULL, interrupted);
	json_stats(o, "downtime_usec", &dt);
	json_stats(o, "throughput_bytes_per_second", &tp);
	if (dt.n) {
		out_text(o, "  downtime:   p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
			 (double)dt.p50 / 1e3, (double)dt.p99 / 1e3,
			 (double)dt.max / 1e3);
		human(a, sizeof(a), (double)tp.p50, "B/s");
		human(b, sizeof(b), (double)tp.p99, "B/s");
		human(c, sizeof(c), (double)tp.max, "B/s");
		out_text(o, "  throughput: p50 %s, p99 %s, max %s", a, b, c);
		human(a, sizeof(a), (double)tp.min, "B/s");
		out_text(o, " (min %s)\n", a);
	}
	out_object_begin(o, "resources");
	out_bool(o, "measured", NULL, g->measured);
	if (g->measured) {
		out_u64(o, "baseline_cycle", NULL, g->base + 1);
		out_u64(o, "fds_baseline", NULL, g->fds0);
		out_u64(o, "fds_last", NULL, g->fds1);
		out_u64(o, "fd_growth_allowed", NULL, 0);
		out_u64(o, "rss_baseline_bytes", NULL, g->rss0 * 1024);
		out_u64(o, "rss_last_bytes", NULL, g->rss1 * 1024);
		out_u64(o, "rss_growth_allowed_bytes", NULL,
			((uint64_t)s->rss_slack_kib + g->own_kib) * 1024);
		out_bool(o, "grew", NULL, g->grew);
		out_text(o,
			 "  descriptors: %u after cycle %zu, %u after cycle %zu (no "
			 "growth "
			 "allowed): %s\n",
			 g->fds0, g->base + 1, g->fds1, s->n_cycles,
			 g->fds1 > g->fds0 ? "GREW" : "ok");
		out_text(o,
			 "  memory: VmRSS %" PRIu64 " KiB after cycle %zu, %" PRIu64
			 " KiB after cycle %zu (at most %" PRIu64
			 " KiB more allowed): %s\n",
			 g->rss0, g->base + 1, g->rss1, s->n_cycles,
			 (uint64_t)s->rss_slack_kib + g->own_kib,
			 g->rss1 > g->rss0 + g->own_kib + s->rss_slack_kib ? "GREW" : "ok");
	} else {
		out_text(
			o,
			"  descriptors and memory: not compared (fewer than 2 cycles)\n");
	}
	out_object_end(o);
	out_array_begin(o, "failures");
	for (size_t i = 0; i < s->n_failures_kept; i++) {
		const struct failure *f = s->failures[i];

		out_object_begin(o, NULL);
		out_u64(o, "cycle", "  failed: cycle %s", f->cycle);
		out_text(o, " (%s, phase %s", f->side, vfm_job_phase_name(f->phase));
		if (f->arc[0])
			out_text(o, ", arc %s", f->arc);
		out_text(o, "): %s\n", f->message);
		out_failure(o, s, f);
		out_object_end(o);
	}
	out_array_end(o);
	if (s->failed > s->n_failures_kept)
		out_text(o, "  (%zu more failures not kept)\n",
			 s->failed - s->n_failures_kept);
	out_bool(o, "success", NULL, !s->failed && !g->grew && !interrupted);
	out_object_end(o);
	out_object_end(o);
}

static void xml_attr(const char *name, const char *val)
{
	printf(" %s=\"", name);
	out_xml_escaped(stdout, val);
	putchar('"');
}

/* JUnit: a testsuite, a testcase per cycle, one for the resource check. */
static void junit_write(const struct soak *s, const struct growth *g)
{
	char host[256] = "", name[256], eb[24], detail[1400];
	unsigned tests = (unsigned)s->n_cycles + (g->measured ? 1 : 0);
	unsigned failures = s->failed + (g->grew ? 1 : 0);

	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = 0;
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	       "<testsuites name=\"vfiomig soak\" tests=\"%u\" failures=\"%u\" "
	       "errors=\"0\" "
	       "time=\"%.6f\">\n  <testsuite",
	       tests, failures, (double)s->t_elapsed / 1e6);
	snprintf(name, sizeof(name), "%s%s%s", dev_name(s, 0),
		 s->n_dev == 2 ? " <-> " : "", s->n_dev == 2 ? dev_name(s, 1) : "");
	xml_attr("name", name);
	printf(" tests=\"%u\" failures=\"%u\" errors=\"0\" skipped=\"0\" time=\"%.6f\"",
	       tests, failures, (double)s->t_elapsed / 1e6);
	xml_attr("hostname", host);
	fputs(">\n", stdout);
	for (size_t i = 0; i < s->n_cycles; i++) {
		const struct cycle *c = &s->cycles[i];
		const struct failure *f =
			c->failure >= 0 ? s->failures[c->failure] : NULL;

		snprintf(name, sizeof(name), "cycle %zu: %s -> %s", i + 1,
			 dev_name(s, c->from), dev_name(s, s->n_dev == 2 ? !c->from : 0));
		fputs("    <testcase classname=\"soak\"", stdout);
		xml_attr("name", name);
		printf(" time=\"%.6f\"", (double)c->elapsed_usec / 1e6);
		if (c->failure == -1) {
			printf(">\n      <system-out>downtime %.3f ms, %" PRIu64
			       " bytes</system-out>\n    </testcase>\n",
			       (double)c->downtime_usec / 1e3, c->bytes);
			continue;
		}
		fputs(">\n      <failure", stdout);
		if (f) {
			snprintf(detail, sizeof(detail), "%s, phase %s%s%s: %s", f->side,
				 vfm_job_phase_name(f->phase), f->arc[0] ? ", arc " : "",
				 f->arc, f->message);
			xml_attr("message", detail);
			xml_attr("type",
				 out_errno_name(f->error < 0 ? -f->error : f->error, eb));
			fputs(">", stdout);
			out_xml_escaped(stdout, detail);
		} else {
			xml_attr("message", "failed (its message was not kept)");
			fputs(">", stdout);
		}
		fputs("</failure>\n    </testcase>\n", stdout);
	}
	if (g->measured) {
		fputs("    <testcase classname=\"soak\" name=\"descriptors and memory\" "
		      "time=\"0\"",
		      stdout);
		snprintf(detail, sizeof(detail),
			 "descriptors %u -> %u (no growth allowed), VmRSS %" PRIu64
			 " -> %" PRIu64 " KiB (at most %" PRIu64
			 " KiB more), cycles %zu -> %zu",
			 g->fds0, g->fds1, g->rss0, g->rss1,
			 (uint64_t)s->rss_slack_kib + g->own_kib, g->base + 1, s->n_cycles);
		if (g->grew) {
			fputs(">\n      <failure type=\"leak\"", stdout);
			xml_attr("message", detail);
			fputs(">", stdout);
			out_xml_escaped(stdout, detail);
			fputs("</failure>\n    </testcase>\n", stdout);
		} else {
			fputs(">\n      <system-out>", stdout);
			out_xml_escaped(stdout, detail);
			fputs("</system-out>\n    </testcase>\n", stdout);
		}
	}
	fputs("  </testsuite>\n</testsuites>\n", stdout);
	fflush(stdout);
}

/* ---- the command ---- */

static void help(void)
{
	printf("Usage: vfiomig soak DEV_A DEV_B [options]\n"
	       "       vfiomig soak DEV [options]\n\n"
	       "Migrate a device state back and forth between two devices of the same "
	       "type\n"
	       "on this host (A -> B, B -> A, ...), each cycle a real save and restore\n"
	       "over a loopback socket with COMMIT and verdict; or, with one device, "
	       "save\n"
	       "it into memory and restore it.  A progress line per cycle on stderr; at "
	       "the\n"
	       "end p50/p99/max of downtime and throughput, the failures with their "
	       "cycle,\n"
	       "phase and arc, and whether descriptors or memory grew between the 10th\n"
	       "cycle (the 1st when fewer than 20) and the last: no new descriptor, at\n"
	       "most 8 MiB more VmRSS (--rss-slack).  Stops at the first failed cycle unless\n"
	       "--keep-going.  SIGINT ends the soak after the cycle under way (a second\n"
	       "one cancels it).  Exit 0 when every cycle passed and nothing grew, 1\n"
	       "otherwise, 128 + the signal when interrupted.\n\n"
	       "  --cycles N       migrations to run (default 100, at most 1000000)\n"
	       "  --duration S     run cycles for S seconds instead\n"
	       "  --keep-going     go on after a failed cycle whose source runs again\n"
	       "  --no-precopy     do not use PRE_COPY\n"
	       "  --rss-slack MIB  VmRSS growth allowed between the baseline cycle and the\n"
	       "                   last (default 8)\n"
	       "  --timeout S      deadline of each exchange between the jobs (default "
	       "60)\n"
	       "  --format FORMAT  text (default), json (as -j: a document with every "
	       "cycle\n"
	       "                   and the summary) or junit (JUnit XML, a testcase per\n"
	       "                   cycle)\n"
	       "  --trace FILE     write every cycle's jobs as Chrome trace-event JSON\n"
	       "                   (Perfetto, chrome://tracing, vfiomig timeline)\n");
}

enum { O_CYCLES = 256, O_DURATION, O_KEEP_GOING, O_NO_PRECOPY, O_TIMEOUT, O_FORMAT,
       O_RSS_SLACK, O_TRACE };

static int parse_args(struct soak *s, int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {
		{"cycles", required_argument, NULL, O_CYCLES},
		{"duration", required_argument, NULL, O_DURATION},
		{"keep-going", no_argument, NULL, O_KEEP_GOING},
		{"no-precopy", no_argument, NULL, O_NO_PRECOPY},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"format", required_argument, NULL, O_FORMAT},
		{"rss-slack", required_argument, NULL, O_RSS_SLACK},
		{"trace", required_argument, NULL, O_TRACE},
		{},
	};
	struct cli *cli = s->cli;
	bool fmt_set = false, have_cycles = false;
	uint64_t v;
	int c;

	*ret_exit = EXIT_USAGE;
	while ((c = cli_getopt(cli, argc, argv, "", opts, help, ret_exit)) > 0) {
		switch (c) {
		case O_CYCLES:
			if (parse_u64(optarg, 10, CYCLES_MAX, &v) < 0 || v == 0) {
				cli_error(cli, "--cycles: '%s' is not 1-%u", optarg,
					  CYCLES_MAX);
				return -1;
			}
			s->cycles_wanted = (unsigned)v;
			have_cycles = true;
			break;
		case O_DURATION:
			if (parse_u64(optarg, 10, DURATION_MAX_S, &v) < 0 || v == 0) {
				cli_error(cli, "--duration: '%s' is not 1-%u seconds",
					  optarg, DURATION_MAX_S);
				return -1;
			}
			s->duration_usec = v * 1000000;
			break;
		case O_KEEP_GOING: s->keep_going = true; break;
		case O_TRACE:
			if (!*optarg || strnlen(optarg, 512) > 511) {
				cli_error(cli, "--trace: the path is empty or longer than 511 "
					       "bytes");
				return -1;
			}
			s->trace_path = optarg;
			break;
		case O_NO_PRECOPY: s->precopy = false; break;
		case O_TIMEOUT:
			if (parse_u64(optarg, 10, TIMEOUT_MAX_S, &v) < 0 || v == 0) {
				cli_error(cli, "--timeout: '%s' is not 1-%u seconds",
					  optarg, TIMEOUT_MAX_S);
				return -1;
			}
			s->timeout_ms = (unsigned)(v * 1000);
			break;
		case O_RSS_SLACK:
			if (parse_u64(optarg, 10, 4096, &v) < 0) {
				cli_error(cli, "--rss-slack: '%s' is not 0-4096 MiB", optarg);
				return -1;
			}
			s->rss_slack_kib = (unsigned)(v * 1024);
			break;
		case O_FORMAT:
			fmt_set = false;
			for (size_t i = 0; i < ELEMENTSOF(format_name); i++)
				if (streq(optarg, format_name[i])) {
					s->fmt = (enum format)i;
					fmt_set = true;
				}
			if (!fmt_set) {
				cli_error(cli,
					  "--format: '%s' is not text, json or junit",
					  optarg);
				return -1;
			}
			break;
		default: return -1;
		}
	}
	if (c < 0)
		return -1;
	if (have_cycles && s->duration_usec) {
		cli_error(cli, "--cycles and --duration exclude each other");
		return -1;
	}
	if (!have_cycles && !s->duration_usec)
		s->cycles_wanted = DEFAULT_CYCLES;
	if (cli->json && fmt_set && s->fmt != FMT_JSON) {
		cli_error(cli, "--format %s and -j/-p exclude each other",
			  format_name[s->fmt]);
		return -1;
	}
	if (cli->json)
		s->fmt = FMT_JSON;
	cli->json = s->fmt == FMT_JSON;
	if (argc - optind < 1 || argc - optind > 2) {
		cli_error(cli, "soak needs one or two devices (see vfiomig soak --help)");
		return -1;
	}
	return 0;
}

static int grow_cycles(struct soak *s)
{
	size_t cap;
	struct cycle *p;

	if (s->n_cycles < s->cap_cycles)
		return 0;
	cap = s->cap_cycles ? s->cap_cycles * 2 : 1024;
	p = realloc(s->cycles, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	s->cycles = p;
	s->cap_cycles = cap;
	return 0;
}

int cmd_soak(struct cli *cli, int argc, char **argv)
{
	struct soak s = {
		.cli = cli,
		.precopy = true,
		.timeout_ms = 60000,
		.rss_slack_kib = RSS_SLACK_KIB,
		.cancel = {-1, -1},
		.done_fd = -1,
	};
	struct growth g = {0};
	unsigned from = 0;
	bool interrupted = false;
	int ex;

	if (parse_args(&s, argc, argv, &ex) < 0)
		return ex;
	s.n_dev = (size_t)(argc - optind);
	for (size_t i = 0; i < s.n_dev; i++) {
		ex = cli_open(cli, argv[optind + (int)i], &s.dev[i]);
		if (ex != EXIT_OK)
			goto out;
	}
	if (s.n_dev == 2 && streq(dev_name(&s, 0), dev_name(&s, 1))) {
		cli_error(cli, "%s is named twice", dev_name(&s, 0));
		ex = EXIT_USAGE;
		goto out;
	}
	if (s.n_dev == 2) {
		ex = same_type(&s);
		if (ex != EXIT_OK)
			goto out;
	}
	if (s.trace_path) {
		char why[640];
		int r = trace_open(s.trace_path, "vfiomig soak", &s.trace, why, sizeof(why));

		if (r < 0) {
			cli_error(cli, "%s", why);
			cli_set_errno(cli, r);
			ex = EXIT_FAILED;
			goto out;
		}
	}
	ex = EXIT_FAILED;
	s.sig_fd = cli_setup_signals();
	if (s.sig_fd < 0) {
		cli_error(cli, "signals: %s", strerror(-s.sig_fd));
		goto out;
	}
	s.done_fd = eventfd(0, EFD_CLOEXEC);
	if (s.done_fd < 0 || pipe2(s.cancel, O_CLOEXEC | O_NONBLOCK) < 0) {
		cli_error(cli, "soak: %m");
		goto out;
	}
	if (s.cycles_wanted && s.cycles_wanted <= CYCLES_MAX) {
		/* the whole table now, so that it does not count as growth */
		s.cycles = malloc(s.cycles_wanted * sizeof(*s.cycles));
		if (!s.cycles)
			goto out;
		s.cap_cycles = s.cycles_wanted;
	}

	s.t_start = now_usec();
	for (unsigned k = 1;; k++) {
		struct cycle *c;
		int failed;

		if (s.cycles_wanted && k > s.cycles_wanted)
			break;
		if (!s.cycles_wanted &&
		    (now_usec() - s.t_start >= s.duration_usec || k > CYCLES_MAX))
			break;
		if (grow_cycles(&s) < 0) {
			cli_error(cli, "soak: out of memory after %zu cycles",
				  s.n_cycles);
			break;
		}
		c = &s.cycles[s.n_cycles];
		memset(c, 0, sizeof(*c));
		failed = run_cycle(&s, k, from, c);
		trace_cycle(&s, k, c);
		c->fds = count_fds();
		c->rss_kib = rss_kib();
		s.n_cycles++;
		if (s.n_cycles == 1)
			s.cap_after[0] = s.cap_cycles;
		if (s.n_cycles == BASELINE_CYCLE)
			s.cap_after[1] = s.cap_cycles;
		cycle_line(&s, k, c);
		drain_signals(&s);
		if (s.signals || c->interrupted) {
			interrupted = true;
			break;
		}
		if (!failed && s.n_dev == 2)
			from = !from; /* the state moved */
		if (failed && (!s.keep_going || s.stopped_unsafe))
			break;
	}
	s.t_elapsed = now_usec() - s.t_start;
	if (s.n_cycles)
		g = growth_of(&s);

	if (s.trace) {
		char why[640] = "";
		bool truncated = false;

		if (trace_close(s.trace, &truncated, why, sizeof(why)) < 0)
			cli_error(cli, "warning: %s", why);
		else if (truncated)
			cli_error(cli, "warning: --trace: only the first %u events were written",
				  TRACE_EVENTS_MAX);
		s.trace = NULL;
	}
	if (s.fmt == FMT_JUNIT) {
		junit_write(&s, &g);
	} else {
		cli->out = out_new(cli->json, cli->pretty);
		print_report(&s, &g, interrupted);
		out_finish(cli->out);
		cli->out = NULL;
	}
	if (interrupted)
		ex = 128 + (s.first_signal > 0 ? s.first_signal : SIGINT);
	else
		ex = s.failed || g.grew || !s.n_cycles ? EXIT_FAILED : EXIT_OK;
out:
	trace_close(s.trace, NULL, NULL, 0);
	for (size_t i = 0; i < s.n_failures_kept; i++)
		free(s.failures[i]);
	free(s.cycles);
	if (s.done_fd >= 0)
		close(s.done_fd);
	if (s.cancel[0] >= 0) {
		close(s.cancel[0]);
		close(s.cancel[1]);
	}
	for (size_t i = 0; i < s.n_dev; i++)
		vfm_device_unref(s.dev[i]);
	return ex;
}
