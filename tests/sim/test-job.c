// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Save and restore jobs on simulated devices, source and destination in two threads
 * over a socketpair (or a file): success, and a fault at every arc and I/O step on
 * each side.  After every failure the source devices must be RUNNING and the
 * destination devices reset (RUNNING), with an error naming the cause.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "sim.h"
#include "tap.h"
#include "transport.h"
#include "vfiomig.h"

#define MAXD 4

static uint64_t now_usec_for_test(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct side {
	struct vfm_ctx *ctx;
	struct vfm_device *dev[MAXD];
	size_t n;
	struct vfm_endpoint *ep;
	struct vfm_job_report rep;
	int r;
	/* destination that cuts the connection after this many bytes (0: a real one) */
	size_t cut_after;
};

static struct vfm_endpoint *ep_for_fd(int fd, unsigned dir)
{
	struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err;
	char uri[32];

	snprintf(uri, sizeof(uri), "fd:%d", fd);
	if (vfm_endpoint_open(uri, dir, 10000, -1, &ep, &err) < 0) {
		tap_diag("endpoint %s: %s", uri, err.msg);
		return NULL;
	}
	close(fd); /* the endpoint holds its own copy */
	return ep;
}

static int open_side(struct side *s, const char *const *specs)
{
	memset(s, 0, sizeof(*s));
	if (vfm_ctx_new(&s->ctx) < 0)
		return -1;
	for (; specs[s->n]; s->n++)
		if (vfm_device_open(s->ctx, specs[s->n], &s->dev[s->n]) < 0) {
			tap_diag("open %s: %s", specs[s->n], vfm_ctx_last_error(s->ctx));
			return -1;
		}
	return 0;
}

static void close_side(struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		vfm_device_unref(s->dev[i]);
	vfm_endpoint_free(s->ep);
	vfm_ctx_unref(s->ctx);
}

static bool all_in(struct side *s, enum vfm_state want, const char *who)
{
	bool ok = true;

	for (size_t i = 0; i < s->n; i++) {
		enum vfm_state st = VFM_STATE_ERROR;
		uint32_t flags;

		/* a device without migration support has no state to check */
		if (vfm_device_get_flags(s->dev[i], &flags) == -ENOTTY)
			continue;
		vfm_device_get_state(s->dev[i], &st);
		if (st != want) {
			tap_diag("%s %s is %s, expected %s", who, vfm_device_name(s->dev[i]),
				 vfm_state_name(st), vfm_state_name(want));
			ok = false;
		}
	}
	return ok;
}

static void *restore_thread(void *arg)
{
	struct side *d = arg;

	if (d->cut_after) {
		/* A destination that reads a while, then drops the connection. */
		char buf[4096];
		size_t got = 0;

		while (got < d->cut_after) {
			ssize_t k = vfm_endpoint_read(d->ep, buf, sizeof(buf));

			if (k <= 0)
				break;
			got += (size_t)k;
		}
		d->ep = vfm_endpoint_free(d->ep);
		d->r = 0;
		return NULL;
	}
	d->r = vfm_restore(d->dev, d->n, d->ep, NULL, &d->rep);
	return NULL;
}

struct hook_ctx {
	int calls;
	int fail;
	struct side *src;
	bool p2p_seen;
};

static int hook(void *userdata, char *why, size_t size)
{
	struct hook_ctx *h = userdata;

	h->calls++;
	/* At the hook every device is quiesced and none is stopped. */
	h->p2p_seen = true;
	for (size_t i = 0; i < h->src->n; i++) {
		enum vfm_state st;

		vfm_device_get_state(h->src->dev[i], &st);
		if (st != VFM_STATE_RUNNING_P2P && st != VFM_STATE_PRE_COPY_P2P)
			h->p2p_seen = false;
	}
	if (h->fail)
		snprintf(why, size, "the VMM could not stop its vCPUs");
	return h->fail;
}

/* the source's report of the last migrate() */
static struct vfm_job_report last_src_rep;

/* FAIL_NOSTATE: the source's state cannot be read back (a driver whose GET fails):
 * the job must say the rollback is incomplete rather than claim success. */
enum expect { OK, FAIL, FAIL_NOSTATE };

/*
 * Save @src_specs into @dst_specs over a socketpair.  On OK: source STOP, destination
 * RUNNING with the source's seeds loaded.  On FAIL: both sides RUNNING, an error on
 * the source naming @what (substring).
 */
static void migrate(const char *desc, const char *const *src_specs,
		    const char *const *dst_specs, const struct vfm_save_opts *opts_in,
		    enum expect expect, const char *what, size_t cut_after, int hook_fail)
{
	struct side s, d;
	struct vfm_save_opts o;
	struct hook_ctx h = { .fail = hook_fail, .src = &s };
	pthread_t th;
	int sv[2];
	bool ok = true;

	if (opts_in)
		o = *opts_in;
	else
		vfm_save_opts_init(&o);
	o.timeout_ms = 10000;
	o.on_quiesced = hook;
	o.hook_userdata = &h;
	if (open_side(&s, src_specs) < 0 || open_side(&d, dst_specs) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		tap_ok(false, "%s: setup", desc);
		return;
	}
	d.cut_after = cut_after;
	s.ep = ep_for_fd(sv[0], VFM_EP_READ | VFM_EP_WRITE);
	d.ep = ep_for_fd(sv[1], VFM_EP_READ | VFM_EP_WRITE);
	pthread_create(&th, NULL, restore_thread, &d);
	s.r = vfm_save(s.dev, s.n, s.ep, &o, &s.rep);
	/* a source that failed may leave the destination waiting: end the connection */
	if (s.r < 0)
		s.ep = vfm_endpoint_free(s.ep);
	pthread_join(th, NULL);

	if (expect == OK) {
		ok &= s.r == 0 && d.r == 0;
		if (s.r || d.r)
			tap_diag("save: %s / restore: %s", s.rep.message, d.rep.message);
		ok &= all_in(&s, VFM_STATE_STOP, "source");
		ok &= all_in(&d, VFM_STATE_RUNNING, "destination");
		for (size_t i = 0; i < s.n && i < d.n; i++) {
			uint64_t want = 0, got = 1;

			if (vfm_sim_image_seed(s.dev[i], &want) < 0 ||
			    vfm_sim_loaded_seed(d.dev[i], &got) < 0 || got != want) {
				tap_diag("destination %zu loaded seed %llu, source %llu", i,
					 (unsigned long long)got, (unsigned long long)want);
				ok = false;
			}
		}
		ok &= h.calls == 1 && h.p2p_seen;
		tap_ok(ok, "%s: migrated (%llu bytes, %u precopy rounds, downtime %llu us)",
		       desc, (unsigned long long)s.rep.total_bytes, s.rep.precopy_rounds,
		       (unsigned long long)s.rep.downtime_usec);
	} else {
		ok &= s.r < 0;
		if (expect == FAIL_NOSTATE)
			ok &= strstr(s.rep.message, "rollback incomplete") != NULL;
		else
			ok &= all_in(&s, VFM_STATE_RUNNING, "source");
		if (!cut_after)
			ok &= d.r < 0 && all_in(&d, VFM_STATE_RUNNING, "destination");
		if (what && !strstr(s.rep.message, what)) {
			tap_diag("source error lacks '%s'", what);
			ok = false;
		}
		ok &= s.rep.message[0] != '\0';
		tap_ok(ok, "%s: fails cleanly: %s", desc, s.rep.message);
		if (!cut_after && d.rep.message[0])
			tap_diag("  destination: %s", d.rep.message);
	}
	last_src_rep = s.rep;
	close_side(&s);
	close_side(&d);
}

/*
 * New initial data in the middle of PRE_COPY (Linux 7.1's VFIO_PRECOPY_INFO_REINIT,
 * after the precopy info v2 opt-in): PRE_COPY is not left, whatever the round limit,
 * until the new initial bytes are read; a device that did not opt in (a kernel before
 * 7.1) never reports it, and the limit holds.
 */
static void precopy_reinit(void)
{
	struct vfm_save_opts o;
	const uint64_t hdr = 32, first = 10000, more = 50000;
	const struct vfm_job_dev *dv = &last_src_rep.dev[0];

	vfm_save_opts_init(&o);
	o.precopy = true;
	o.precopy_max_rounds = 1;
	migrate("new initial data mid-PRE_COPY (REINIT), one precopy round allowed",
		(const char *const[]){ "sim:a,seed=9,size=200000,precopy=10000,reinit=50000", NULL },
		(const char *const[]){ "sim:x,size=200000", NULL }, &o, OK, NULL, 0, 0);
	tap_ok(last_src_rep.precopy_reinits == 1 && dv->precopy_bytes >= hdr + first + more &&
		       last_src_rep.precopy_rounds >= 2,
	       "REINIT: reported once (%u), PRE_COPY kept until the new initial bytes were "
	       "read: %llu precopy bytes (>= %llu) in %u rounds",
	       last_src_rep.precopy_reinits, (unsigned long long)dv->precopy_bytes,
	       (unsigned long long)(hdr + first + more), last_src_rep.precopy_rounds);
	/* during a round: the driver reports it while initial bytes are still pending
	 * (offset 20000 < 32 + 40000) */
	migrate("REINIT during a round (at byte 20000 of 40032 initial)",
		(const char *const[]){ "sim:a,seed=9,size=200000,precopy=40000,reinit=30000,"
				       "reinit-at=20000", NULL },
		(const char *const[]){ "sim:x,size=200000", NULL }, &o, OK, NULL, 0, 0);
	tap_ok(last_src_rep.precopy_reinits == 1 && dv->precopy_reinits == 1 &&
		       dv->precopy_bytes >= hdr + 40000 + 30000,
	       "REINIT during a round: counted for the device (%u), %llu precopy bytes "
	       "(>= %llu)",
	       dv->precopy_reinits, (unsigned long long)dv->precopy_bytes,
	       (unsigned long long)(hdr + 40000 + 30000));
	/* several in a row: each round reaches the next offset, one device of two */
	migrate("three REINITs in a row on one device of two",
		(const char *const[]){ "sim:a,seed=9,size=200000,precopy=10000,reinit=5000,"
				       "reinit-at=10032+15032+20032",
				       "sim:b,seed=3,size=70000", NULL },
		(const char *const[]){ "sim:x,size=200000", "sim:y,size=70000", NULL }, &o, OK,
		NULL, 0, 0);
	tap_ok(last_src_rep.precopy_reinits == 3 && last_src_rep.dev[0].precopy_reinits == 3 &&
		       last_src_rep.dev[1].precopy_reinits == 0 &&
		       last_src_rep.dev[0].precopy_bytes >= hdr + 10000 + 3 * 5000 &&
		       last_src_rep.precopy_rounds >= 4,
	       "three REINITs in a row: 3 for the device, 0 for the other, %llu precopy bytes "
	       "(>= %llu), %u rounds with one allowed",
	       (unsigned long long)last_src_rep.dev[0].precopy_bytes,
	       (unsigned long long)(hdr + 10000 + 3 * 5000), last_src_rep.precopy_rounds);
	migrate("the same device without the opt-in (a kernel before 7.1)",
		(const char *const[]){ "sim:a,seed=9,size=200000,precopy=10000,reinit=50000,"
				       "no-precopy-v2", NULL },
		(const char *const[]){ "sim:x,size=200000", NULL }, &o, OK, NULL, 0, 0);
	tap_ok(last_src_rep.precopy_reinits == 0 && dv->precopy_bytes < hdr + first + more &&
		       last_src_rep.precopy_rounds == 1,
	       "without the opt-in: no REINIT, the round limit holds: %llu precopy bytes in "
	       "%u round",
	       (unsigned long long)dv->precopy_bytes, last_src_rep.precopy_rounds);
}

/* ---- one-way streams through a file, and damaged streams ---- */

static int save_to_file(const char *path, const char *const *specs, struct vfm_job_report *rep)
{
	struct side s;
	struct vfm_transport_err err;
	char uri[512];
	int r;

	if (open_side(&s, specs) < 0)
		return -1;
	snprintf(uri, sizeof(uri), "file:%s", path);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &s.ep, &err);
	if (r >= 0)
		r = vfm_save(s.dev, s.n, s.ep, NULL, rep);
	if (r >= 0 && !all_in(&s, VFM_STATE_STOP, "source"))
		r = -EIO;
	close_side(&s);
	return r;
}

static int restore_from_file(const char *path, const char *const *specs,
			     struct vfm_job_report *rep, bool *devices_running)
{
	struct side d;
	struct vfm_transport_err err;
	char uri[512];
	int r;

	if (open_side(&d, specs) < 0)
		return -1;
	snprintf(uri, sizeof(uri), "file:%s", path);
	r = vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &d.ep, &err);
	if (r >= 0)
		r = vfm_restore(d.dev, d.n, d.ep, NULL, rep);
	*devices_running = all_in(&d, VFM_STATE_RUNNING, "destination");
	close_side(&d);
	return r;
}

/* ---- events (on_event): what a trace is made of ---- */

#define EVENTS_MAX 4096

struct events {
	struct vfm_event ev[EVENTS_MAX];
	char dev_name[EVENTS_MAX][64];
	size_t n;
	int inside; /* calls under way: the library says one at a time */
	bool overlap, bad_size;
};

static void collect(void *userdata, const struct vfm_event *ev)
{
	struct events *e = userdata;

	if (__atomic_add_fetch(&e->inside, 1, __ATOMIC_SEQ_CST) != 1)
		e->overlap = true;
	usleep(50); /* room for another thread to come in, if the library let it */
	if (ev->size != sizeof(*ev))
		e->bad_size = true;
	if (e->n < EVENTS_MAX) {
		e->ev[e->n] = *ev;
		snprintf(e->dev_name[e->n], sizeof(e->dev_name[0]), "%s",
			 ev->device_name ? ev->device_name : "");
		e->n++;
	}
	__atomic_sub_fetch(&e->inside, 1, __ATOMIC_SEQ_CST);
}

static size_t count_ev(const struct events *e, enum vfm_event_type type, int dev,
		       enum vfm_job_phase phase)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n; i++)
		n += e->ev[i].type == type && e->ev[i].device == dev &&
		     (type != VFM_EVENT_READ || e->ev[i].phase == phase);
	return n;
}

static void events(void)
{
	static const char *const src[] = {
		"sim:a,seed=1,size=300000,dirty=4000,dirty-rounds=3", "sim:b,seed=2,size=70000",
		NULL };
	static const char *const dst[] = { "sim:x,size=300000", "sim:y,size=70000", NULL };
	char path[64], uri[80];
	struct events *e = calloc(2, sizeof(*e));
	struct vfm_job_report *rep = calloc(2, sizeof(*rep));
	struct vfm_transport_err err;
	struct vfm_save_opts so;
	struct vfm_restore_opts ro;
	struct side s, d;
	bool ordered = true, names = true, rounds = true, bytes = true;
	size_t verdicts = 0, quiesce_at = SIZE_MAX, verdict_at = 0;
	int r = -1;

	if (!e || !rep)
		abort();
	snprintf(path, sizeof(path), "/tmp/vfm-test-events.%d.vfm", (int)getpid());
	snprintf(uri, sizeof(uri), "file:%s", path);
	vfm_save_opts_init(&so);
	so.chunk_size = 16384;
	so.on_event = collect;
	so.event_userdata = &e[0];
	if (open_side(&s, src) == 0 &&
	    vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &s.ep, &err) == 0)
		r = vfm_save(s.dev, s.n, s.ep, &so, &rep[0]);
	tap_ok(r == 0 && e[0].n > 0 && e[0].n < EVENTS_MAX, "events: a save of two devices (%zu events)",
	       e[0].n);
	for (size_t i = 0; i < e[0].n; i++) {
		const struct vfm_event *ev = &e[0].ev[i];

		ordered &= !i || ev->time_usec >= e[0].ev[i - 1].time_usec;
		if (ev->device >= 0)
			names &= ev->device < 2 &&
				 streq(e[0].dev_name[i], vfm_device_name(s.dev[ev->device]));
		if (ev->type == VFM_EVENT_PHASE && ev->phase == VFM_JOB_QUIESCE)
			quiesce_at = i;
		if (ev->type == VFM_EVENT_VERDICT) {
			verdicts++;
			verdict_at = i;
		}
	}
	tap_ok(!e[0].overlap && !e[0].bad_size && ordered && names,
	       "events: one call at a time (threads too), size set, in time order, named devices");
	for (int i = 0; i < 2; i++) {
		unsigned k = 0;
		uint64_t last = 0;

		for (size_t x = 0; x < e[0].n; x++) {
			const struct vfm_event *ev = &e[0].ev[x];

			if (ev->device != i)
				continue;
			if (ev->type == VFM_EVENT_READ && ev->phase == VFM_JOB_PRECOPY)
				rounds &= ev->round == ++k;
			if (ev->type == VFM_EVENT_READ || ev->type == VFM_EVENT_BYTES)
				last = ev->bytes;
		}
		rounds &= k == rep[0].precopy_rounds &&
			  count_ev(&e[0], VFM_EVENT_READ, i, VFM_JOB_STOP_COPY) == 1;
		bytes &= last == rep[0].dev[i].precopy_bytes + rep[0].dev[i].stopcopy_bytes;
	}
	tap_ok(rounds && rep[0].precopy_rounds >= 3,
	       "events: per device a precopy READ per round (1..%u), one stop-copy READ",
	       rep[0].precopy_rounds);
	tap_ok(bytes, "events: each device's last bytes are the report's");
	tap_ok(count_ev(&e[0], VFM_EVENT_ARC, 0, 0) == 4 && count_ev(&e[0], VFM_EVENT_ARC, 1, 0) == 4,
	       "events: four arcs per device");
	tap_ok(verdicts == 1 && quiesce_at < verdict_at && e[0].ev[verdict_at].error == 0 &&
		       e[0].ev[verdict_at].duration_usec == rep[0].downtime_usec &&
		       /* the trace's window holds the report's, and the callbacks' time */
		       e[0].ev[verdict_at].time_usec - e[0].ev[quiesce_at].time_usec >=
			       rep[0].downtime_usec &&
		       e[0].ev[verdict_at].time_usec - e[0].ev[quiesce_at].time_usec <=
			       rep[0].downtime_usec + 100000,
	       "events: one verdict, after the quiesce phase, with the report's downtime");
	close_side(&s);

	r = -1;
	vfm_restore_opts_init(&ro);
	ro.on_event = collect;
	ro.event_userdata = &e[1];
	if (open_side(&d, dst) == 0 &&
	    vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &d.ep, &err) == 0)
		r = vfm_restore(d.dev, d.n, d.ep, &ro, &rep[1]);
	bytes = r == 0;
	for (int i = 0; i < 2; i++) {
		uint64_t last = 0;
		size_t writes = 0;

		for (size_t x = 0; x < e[1].n; x++)
			if (e[1].ev[x].device == i && e[1].ev[x].type == VFM_EVENT_WRITE) {
				last = e[1].ev[x].bytes;
				writes++;
			}
		bytes &= writes > 0 &&
			 last == rep[1].dev[i].precopy_bytes + rep[1].dev[i].stopcopy_bytes;
	}
	verdicts = 0;
	for (size_t x = 0; x < e[1].n; x++)
		verdicts += e[1].ev[x].type == VFM_EVENT_VERDICT;
	tap_ok(bytes && verdicts == 1 && !e[1].overlap && count_ev(&e[1], VFM_EVENT_MARK, -1, 0) == 0,
	       "events: the restore's writes reach each device's bytes, one verdict, no "
	       "READY/COMMIT on a file");
	close_side(&d);
	unlink(path);
	free(e);
	free(rep);
}

/* ---- source reads: in the job's thread while fast, a thread per device once slow ---- */

/* Whether a READ span of device @a and one of device @b overlap in time. */
static bool reads_overlap(const struct events *e, int a, int b)
{
	for (size_t x = 0; x < e->n; x++)
		for (size_t y = 0; y < e->n; y++) {
			const struct vfm_event *p = &e->ev[x], *q = &e->ev[y];

			if (p->type != VFM_EVENT_READ || q->type != VFM_EVENT_READ ||
			    p->device != a || q->device != b)
				continue;
			if (p->time_usec - p->duration_usec < q->time_usec &&
			    q->time_usec - q->duration_usec < p->time_usec)
				return true;
		}
	return false;
}

static void slow_reads(void)
{
	struct events *e = calloc(1, sizeof(*e));
	struct vfm_save_opts o;

	if (!e)
		abort();
	vfm_save_opts_init(&o);
	o.precopy = false;
	o.on_event = collect;
	o.event_userdata = e;
	/* 4 MB at 200 MB/s: 20 ms a device, every 1 MiB chunk 5 ms (slow from the
	 * first): the first device's reads move to a thread after two chunks, the
	 * second's start in another at once */
	migrate("two devices that save slowly: the reads move to a thread each",
		(const char *const[]){ "sim:a,seed=41,size=4000000,read-mbps=200",
				       "sim:b,seed=42,size=4000000,read-mbps=200", NULL },
		(const char *const[]){ "sim:x,size=4000000", "sim:y,size=4000000", NULL }, &o,
		OK, NULL, 0, 0);
	tap_ok(reads_overlap(e, 0, 1) && count_ev(e, VFM_EVENT_READ, 0, VFM_JOB_STOP_COPY) == 1 &&
		       count_ev(e, VFM_EVENT_READ, 1, VFM_JOB_STOP_COPY) == 1,
	       "slow reads: the devices were read at the same time, one READ span each (the "
	       "first begun in the job's thread, ended in its own)");
	memset(e, 0, sizeof(*e));
	migrate("two devices that save slowly, the second fails a read in its thread",
		(const char *const[]){ "sim:a,seed=41,size=4000000,read-mbps=200",
				       "sim:b,seed=42,size=4000000,read-mbps=200,"
				       "fail-read-at=3000000",
				       NULL },
		(const char *const[]){ "sim:x,size=4000000", "sim:y,size=4000000", NULL }, &o,
		FAIL, "sim:b: reading stop-copy data at offset", 0, 0);
	/* a precopy round turns slow: the rounds after it and stop-copy stay threaded */
	memset(e, 0, sizeof(*e));
	o.precopy = true;
	migrate("two devices that save slowly, with precopy",
		(const char *const[]){ "sim:a,seed=43,size=4000000,read-mbps=200",
				       "sim:b,seed=44,size=4000000,read-mbps=200", NULL },
		(const char *const[]){ "sim:x,size=4000000", "sim:y,size=4000000", NULL }, &o,
		OK, NULL, 0, 0);
	tap_ok(reads_overlap(e, 0, 1), "slow reads with precopy: the devices were read at the "
	       "same time");
	free(e);
}

static int rewrite(const char *from, const char *to, long cut, long flip_at, int flip_xor)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	long pos = 0;
	int c, r = 0;

	if (!in || !out)
		r = -1;
	while (r == 0 && (c = fgetc(in)) != EOF && (cut < 0 || pos < cut)) {
		if (pos == flip_at)
			c ^= flip_xor;
		fputc(c, out);
		pos++;
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	return r;
}

static void damaged_streams(void)
{
	static const char *const src[] = { "sim:a,size=300000,seed=11", "sim:b,size=5000,seed=12", NULL };
	static const char *const dst[] = { "sim:x,size=300000,expect-seed=11",
					   "sim:y,size=5000,expect-seed=12", NULL };
	char dir[] = "/tmp/vfm-test-job-XXXXXX", good[64], bad[64];
	struct vfm_job_report rep;
	bool running;
	int r;

	if (!mkdtemp(dir)) {
		tap_ok(false, "mkdtemp");
		return;
	}
	snprintf(good, sizeof(good), "%s/good", dir);
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	tap_ok(save_to_file(good, src, &rep) == 0, "save two devices to a file (%llu bytes)",
	       (unsigned long long)rep.total_bytes);
	r = restore_from_file(good, dst, &rep, &running);
	tap_ok(r == 0 && running, "restore them from the file%s%s", r ? ": " : "",
	       r ? rep.message : "");

	static const struct {
		const char *desc;
		long cut, flip;
		int xor;
		const char *what;
	} cases[] = {
		{ "wrong magic", -1, 1, 0x20, "not a vfiomig stream" },
		{ "wrong version", -1, 8, 0x02, "version" },
		{ "empty stream", 0, -1, 0, "empty" },
		/* the counts are what the file holds: 10 bytes; 100 - 16 - 8 */
		{ "truncated in the preamble", 10, -1, 0, "10 of the 16 bytes of the preamble" },
		{ "truncated in the header", 100, -1, 0, "HEADER record at byte 16 has 76 of its" },
		{ "truncated in the data", 150000, -1, 0, "" },
		{ "truncated before END", -2, -1, 0, "" },
		{ "a corrupt data byte (CRC)", -1, 120000, 0x01, "CRC" },
		{ "an oversized record length", -1, 16 + 16 + 512 + 7, 0x7f, "" },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		long cut = cases[i].cut;

		if (cut == -2) {
			FILE *f = fopen(good, "rb");

			fseek(f, 0, SEEK_END);
			cut = ftell(f) - 5;
			fclose(f);
		}
		rewrite(good, bad, cut, cases[i].flip, cases[i].xor);
		r = restore_from_file(bad, dst, &rep, &running);
		tap_ok(r < 0 && running && strstr(rep.message, cases[i].what),
		       "%s is rejected, devices reset: %s", cases[i].desc, rep.message);
	}
	unlink(good);
	unlink(bad);
	rmdir(dir);
}

/* ---- a cancel while a slow device loads a peer's 16 MiB chunks ---- */

struct canceller {
	int fd;
	struct vfm_device **dev; /* cancel once one of them has taken its first piece */
	size_t n;
	unsigned waited_ms;
};

/*
 * Cancel while the writes run, not while the image is still being read: on a loaded
 * machine (sanitizers, parallel builds) reading the first 16 MiB chunk can take longer
 * than any fixed delay.  At most 10 s.
 */
static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct vfm_sim_write_stats ws = { 0 };

	for (c->waited_ms = 0; c->waited_ms < 10000; c->waited_ms += 5) {
		bool writing = false;

		for (size_t i = 0; i < c->n; i++)
			writing |= vfm_sim_write_stats(c->dev[i], &ws) == 0 && ws.calls > 0;
		if (writing)
			break;
		usleep(5000);
	}
	if (write(c->fd, "x", 1) != 1)
		tap_diag("cancel write: %m");
	return NULL;
}

static void cancel_slow_writes(const char *desc, const char *const *src,
			       const char *const *dst)
{
	char dir[] = "/tmp/vfm-test-job-XXXXXX", path[64], uri[80];
	struct vfm_save_opts so;
	struct vfm_restore_opts ro;
	struct vfm_transport_err err;
	struct vfm_job_report rep;
	struct canceller c = { .fd = -1 };
	struct side s, d;
	pthread_t th;
	uint64_t t0, t1;
	int p[2], r;
	bool ok;

	if (!mkdtemp(dir) || pipe2(p, O_CLOEXEC) < 0) {
		tap_ok(false, "%s: mkdtemp/pipe: %m", desc);
		return;
	}
	snprintf(path, sizeof(path), "%s/img", dir);
	snprintf(uri, sizeof(uri), "file:%s", path);
	vfm_save_opts_init(&so);
	so.precopy = false;
	so.chunk_size = 16u << 20; /* the largest chunk a peer may send */
	r = open_side(&s, src);
	if (r >= 0)
		r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &s.ep, &err);
	if (r >= 0)
		r = vfm_save(s.dev, s.n, s.ep, &so, &rep);
	close_side(&s);
	if (r < 0) {
		tap_ok(false, "%s: saving the image: %s", desc, rep.message);
		goto out;
	}

	vfm_restore_opts_init(&ro);
	ro.cancel_fd = p[0];
	c.fd = p[1];
	if (open_side(&d, dst) < 0 ||
	    vfm_endpoint_open(uri, VFM_EP_READ, 0, p[0], &d.ep, &err) < 0) {
		tap_ok(false, "%s: opening the destination", desc);
		close_side(&d);
		goto out;
	}
	c.dev = d.dev;
	c.n = d.n;
	pthread_create(&th, NULL, cancel_later, &c);
	t0 = now_usec_for_test();
	r = vfm_restore(d.dev, d.n, d.ep, &ro, &rep);
	t1 = now_usec_for_test();
	pthread_join(th, NULL);
	ok = r == -ECANCELED && strstr(rep.message, "cancelled") && c.waited_ms < 10000;
	if (!ok)
		tap_diag("restore: %d %s", r, rep.message);
	for (size_t i = 0; i < d.n; i++) {
		struct vfm_sim_write_stats ws;

		if (vfm_sim_write_stats(d.dev[i], &ws) < 0) {
			ok = false;
			continue;
		}
		tap_diag("%s: %llu writes, largest %llu bytes, %llu bytes taken",
			 vfm_device_name(d.dev[i]), (unsigned long long)ws.calls,
			 (unsigned long long)ws.max_size, (unsigned long long)ws.taken);
		/* pieces of at most 1 MiB, and nothing more after the cancel */
		if (ws.max_size > (1u << 20) || ws.taken >= (2u << 20))
			ok = false;
	}
	ok = all_in(&d, VFM_STATE_RUNNING, "destination") && ok;
	tap_diag("%s: cancelled after the first piece (%u ms), the restore returned %.0f ms "
		 "later", desc, c.waited_ms, (double)(t1 - t0) / 1000 - c.waited_ms);
	tap_ok(ok, "%s: a cancel stops the writes between pieces, devices reset", desc);
	close_side(&d);
out:
	close(p[0]);
	close(p[1]);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	static const char *const two_src[] = { "sim:a,seed=1,size=200000", "sim:b,seed=2,size=70000", NULL };
	static const char *const two_dst[] = { "sim:x,size=200000", "sim:y,size=70000", NULL };
	struct vfm_save_opts o;
	char spec[256];
	const char *src[3], *dst[3];

	/* Success: one device, several, with and without precopy, dirty rounds. */
	migrate("one device", (const char *const[]){ "sim:a,seed=5", NULL },
		(const char *const[]){ "sim:x", NULL }, NULL, OK, NULL, 0, 0);
	migrate("two devices", two_src, two_dst, NULL, OK, NULL, 0, 0);
	vfm_save_opts_init(&o);
	o.precopy = false;
	migrate("two devices without precopy", two_src, two_dst, &o, OK, NULL, 0, 0);
	migrate("precopy with dirty rounds",
		(const char *const[]){ "sim:a,seed=9,size=100000,dirty=5000,dirty-rounds=3", NULL },
		(const char *const[]){ "sim:x,size=100000", NULL }, NULL, OK, NULL, 0, 0);
	migrate("drivers that end PRE_COPY data with 0, not ENOMSG (as mtty), dirty rounds",
		(const char *const[]){ "sim:a,seed=9,size=100000,dirty=5000,dirty-rounds=3,precopy-eof",
				       "sim:b,seed=2,size=70000,precopy-eof", NULL },
		(const char *const[]){ "sim:x,size=100000", "sim:y,size=70000", NULL }, NULL, OK,
		NULL, 0, 0);
	precopy_reinit();
	events();
	slow_reads();
	o.chunk_size = 4096;
	o.precopy = true;
	migrate("small chunks, three devices, mixed flags",
		(const char *const[]){ "sim:a,seed=1,size=50000", "sim:b,seed=2,flags=stop-copy+p2p",
				       "sim:c,seed=3,size=1", NULL },
		(const char *const[]){ "sim:x,size=50000", "sim:y", "sim:z,size=1", NULL }, &o, OK,
		NULL, 0, 0);

	/* Refusals before anything moves. */
	migrate("several devices without P2P",
		(const char *const[]){ "sim:a,flags=stop-copy", "sim:b", NULL }, two_dst, NULL, FAIL,
		"lacks P2P", 0, 0);
	migrate("other device ID at the destination", two_src,
		(const char *const[]){ "sim:x,size=200000", "sim:y,size=70000,device=0x1234", NULL },
		NULL, FAIL, "not compatible", 0, 0);
	migrate("other device count", two_src, (const char *const[]){ "sim:x,size=200000", NULL },
		NULL, FAIL, "not compatible", 0, 0);
	migrate("destination device without migration", two_src,
		(const char *const[]){ "sim:x,size=200000", "sim:y,no-migration", NULL }, NULL, FAIL,
		"not compatible", 0, 0);

	/* Source faults at every arc of its path and in its reads. */
	static const char *const src_faults[] = {
		"fail-arc=running:pre_copy",	     "fail-arc=pre_copy:pre_copy_p2p",
		"fail-arc=pre_copy_p2p:stop_copy",   "error-arc=pre_copy:pre_copy_p2p",
		"error-arc=pre_copy_p2p:stop_copy",  "fail-read-at=0",
		"fail-read-at=1000",		     "fail-read-at=60000",
		"fail-read-at=70032",
	};
	for (size_t i = 0; i < ELEMENTSOF(src_faults); i++) {
		snprintf(spec, sizeof(spec), "sim:b,seed=2,size=70000,%s", src_faults[i]);
		src[0] = two_src[0];
		src[1] = spec;
		src[2] = NULL;
		migrate(src_faults[i], src, two_dst, NULL, FAIL, "sim:b", 0, 0);
	}
	src[0] = two_src[0];
	src[1] = "sim:b,seed=2,size=70000,fail-get";
	src[2] = NULL;
	migrate("fail-get", src, two_dst, NULL, FAIL_NOSTATE, "sim:b", 0, 0);

	vfm_save_opts_init(&o);
	o.precopy = false;
	static const char *const src_faults_np[] = {
		"fail-arc=running:running_p2p", "fail-arc=running_p2p:stop", "error-arc=running_p2p:stop",
		"fail-arc=stop:stop_copy", "error-arc=stop:stop_copy",
	};
	for (size_t i = 0; i < ELEMENTSOF(src_faults_np); i++) {
		snprintf(spec, sizeof(spec), "sim:b,seed=2,size=70000,%s", src_faults_np[i]);
		src[0] = two_src[0];
		src[1] = spec;
		src[2] = NULL;
		migrate(src_faults_np[i], src, two_dst, &o, FAIL, "sim:b", 0, 0);
	}
	/* Data corrupted inside the source device: the destination driver refuses it. */
	src[0] = two_src[0];
	src[1] = "sim:b,seed=2,size=70000,corrupt-at=50000";
	src[2] = NULL;
	migrate("corrupt device data", src, two_dst, NULL, FAIL, "failed to load device 1", 0, 0);

	/* Destination faults at every arc of its path and in its writes. */
	static const char *const dst_faults[] = {
		"fail-arc=running:running_p2p", "fail-arc=running_p2p:stop", "fail-arc=stop:resuming",
		"fail-arc=resuming:stop",	"error-arc=resuming:stop",   "fail-arc=stop:running_p2p",
		"fail-arc=running_p2p:running", "fail-write-at=0",	     "fail-write-at=40000",
		"expect-seed=3",
	};
	for (size_t i = 0; i < ELEMENTSOF(dst_faults); i++) {
		snprintf(spec, sizeof(spec), "sim:y,size=70000,%s", dst_faults[i]);
		dst[0] = two_dst[0];
		dst[1] = spec;
		dst[2] = NULL;
		migrate(dst_faults[i], two_src, dst, NULL, FAIL, "destination", 0, 0);
	}

	/* The devices load in parallel: a write refused by the second names that
	 * device in the verdict the source reports. */
	dst[0] = two_dst[0];
	dst[1] = "sim:y,size=70000,fail-write-at=40000";
	dst[2] = NULL;
	migrate("the second device refuses a write", two_src, dst, NULL, FAIL,
		"failed to load device 1", 0, 0);

	/* Devices that load slowly get a writer thread each once two chunks went in
	 * slowly (fast ones are written inline): the state still arrives whole, and a
	 * write refused in a writer thread still names its device. */
	migrate("two slow devices: the writes move to writer threads",
		(const char *const[]){ "sim:a,seed=31,size=4000000",
				       "sim:b,seed=32,size=4000000", NULL },
		(const char *const[]){ "sim:x,size=4000000,write-mbps=100",
				       "sim:y,size=4000000,write-mbps=100", NULL },
		NULL, OK, NULL, 0, 0);
	migrate("two slow devices, the second refuses a write in its thread",
		(const char *const[]){ "sim:a,seed=31,size=4000000",
				       "sim:b,seed=32,size=4000000", NULL },
		(const char *const[]){ "sim:x,size=4000000,write-mbps=100",
				       "sim:y,size=4000000,write-mbps=100,fail-write-at=3500000",
				       NULL },
		NULL, FAIL, "failed to load device 1", 0, 0);

	/* The connection cut mid-stream; the VMM's hook failing. */
	migrate("connection cut mid-stream", two_src, two_dst, NULL, FAIL, NULL, 100000, 0);
	migrate("connection cut right after the header", two_src, two_dst, NULL, FAIL, NULL, 100, 0);
	migrate("quiesced hook fails", two_src, two_dst, NULL, FAIL, "vCPUs", 0, 1);

	damaged_streams();

	cancel_slow_writes("one slow device",
			   (const char *const[]){ "sim:a,seed=21,size=20000000", NULL },
			   (const char *const[]){ "sim:x,size=20000000,write-mbps=1", NULL });
	cancel_slow_writes("two slow devices (writer threads)",
			   (const char *const[]){ "sim:a,seed=21,size=17000000",
						  "sim:b,seed=22,size=17000000", NULL },
			   (const char *const[]){ "sim:x,size=17000000,write-mbps=1",
						  "sim:y,size=17000000,write-mbps=1", NULL });
	return tap_done();
}
