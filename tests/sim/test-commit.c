// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The commit, under faults: save and restore of simulated devices in two threads,
 * joined by a relay thread that cuts the connection, drops one direction or
 * trickles it, at every record boundary of either direction and at random bytes.
 *
 * The invariant checked after every run: the destination never ran the state
 * (an arc out of STOP after loading) while the source resumed its devices.  And the
 * outcome each fault must give: before COMMIT can have left the source, the source
 * runs again and the destination does not; once the destination may run, the
 * source is "in doubt" (devices stopped, state kept) unless a verdict came.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "sim.h"
#include "tap.h"
#include "transport.h"
#include "vfiomig.h"

#define TIMEOUT_MS 700	  /* each side's deadline: every faulty run waits it out */
#define TRICKLE_MS 150	  /* a trickling relay forwards one byte this often */
#define MAX_RECORDS 4096

enum { TO_DST = 0, TO_SRC = 1 };

enum fault {
	NONE,
	CUT,	 /* at the byte: the connection ends, both ways */
	DROP,	 /* from the byte: that direction is lost, the other still works */
	TRICKLE, /* from the byte: that direction moves a byte every TRICKLE_MS */
};

static const char *const fault_names[] = {"none", "cut", "drop", "trickle"};

struct relay {
	int fd[2]; /* fd[TO_DST] faces the source (we read what goes to the
		      destination from it), fd[TO_SRC] faces the destination */
	enum fault fault;
	int dir;
	uint64_t at;
	/* what went through */
	uint64_t moved[2];
	/* record starts per direction, parsed as the bytes pass */
	uint64_t starts[2][MAX_RECORDS];
	uint16_t types[2][MAX_RECORDS];
	size_t n_starts[2];
	uint64_t next_start[2]; /* where the next record starts */
	uint8_t hdr[2][8];
	bool in_hdr[2];
	size_t hdr_got[2];
};

/* Follow the record framing of direction @d over the bytes @p (at offset @off). */
static void parse(struct relay *r, int d, const uint8_t *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t pos = off + i;

		if (pos < 16)
			continue; /* preamble */
		if (pos == 16 && r->next_start[d] == 0)
			r->next_start[d] = 16;
		if (pos == r->next_start[d]) {
			r->in_hdr[d] = true;
			r->hdr_got[d] = 0;
			if (r->n_starts[d] < MAX_RECORDS)
				r->starts[d][r->n_starts[d]] = pos;
		}
		if (r->in_hdr[d]) {
			r->hdr[d][r->hdr_got[d]++] = p[i];
			if (r->hdr_got[d] == 8) {
				uint32_t len = (uint32_t)r->hdr[d][4] | (uint32_t)r->hdr[d][5] << 8 |
					       (uint32_t)r->hdr[d][6] << 16 |
					       (uint32_t)r->hdr[d][7] << 24;

				r->in_hdr[d] = false;
				if (r->n_starts[d] < MAX_RECORDS)
					r->types[d][r->n_starts[d]++] =
						(uint16_t)(r->hdr[d][0] | r->hdr[d][1] << 8);
				r->next_start[d] = r->next_start[d] + 8 + len + 4;
			}
		}
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Forward @n bytes of direction @d; false once the other side is gone. */
static bool forward(struct relay *r, int d, const uint8_t *p, size_t n, bool slowly)
{
	for (size_t k = 0; k < n;) {
		size_t step = slowly ? 1 : n - k;

		if (send(r->fd[!d], p + k, step, MSG_NOSIGNAL) != (ssize_t)step)
			return false;
		parse(r, d, p + k, step, r->moved[d]);
		r->moved[d] += step;
		k += step;
		if (slowly)
			sleep_ms(TRICKLE_MS);
	}
	return true;
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	bool open_in[2] = {true, true}; /* reading direction d still works */
	bool lost[2] = {false, false};	/* DROP: what comes is discarded, EOF too */
	bool slow[2] = {false, false};	/* TRICKLE */
	uint8_t buf[65536];

	while (open_in[TO_DST] || open_in[TO_SRC]) {
		struct pollfd p[2] = {{.fd = open_in[0] ? r->fd[0] : -1, .events = POLLIN},
				      {.fd = open_in[1] ? r->fd[1] : -1, .events = POLLIN}};

		if (poll(p, 2, 5000) <= 0 || ((p[0].revents | p[1].revents) & POLLNVAL))
			break; /* both sides went quiet: end */
		for (int d = 0; d < 2; d++) {
			ssize_t n;
			size_t head;

			if (!(p[d].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(r->fd[d], buf, sizeof(buf));
			if (n <= 0) {
				open_in[d] = false;
				if (!lost[d])
					shutdown(r->fd[!d], SHUT_WR);
				continue;
			}
			if (lost[d])
				continue;
			if (r->fault == NONE || d != r->dir || r->moved[d] + (size_t)n <= r->at) {
				if (!forward(r, d, buf, (size_t)n, slow[d]))
					open_in[d] = false;
				continue;
			}
			/* the fault's byte is in this read */
			head = r->at > r->moved[d] ? (size_t)(r->at - r->moved[d]) : 0;
			forward(r, d, buf, head, false);
			switch (r->fault) {
			case CUT:
				shutdown(r->fd[0], SHUT_RDWR);
				shutdown(r->fd[1], SHUT_RDWR);
				return NULL;
			case DROP: lost[d] = true; break;
			case TRICKLE:
				slow[d] = true;
				forward(r, d, buf + head, (size_t)n - head, true);
				break;
			case NONE: break;
			}
			r->fault = NONE;
		}
	}
	return NULL;
}

/* ---- the two sides ---- */

struct side {
	struct vfm_ctx *ctx;
	struct vfm_device *dev[2];
	size_t n;
	struct vfm_endpoint *ep;
	struct vfm_job_report rep;
	int r;
	bool loaded, ran; /* restore: RESUMING -> STOP passed; then an arc out of STOP */
};

static void on_arc(void *userdata, const struct vfm_device *dev,
		   const struct vfm_arc_result *arc)
{
	struct side *s = userdata;

	if (arc->error)
		return;
	if (arc->from == VFM_STATE_RESUMING && arc->to == VFM_STATE_STOP)
		s->loaded = true;
	if (s->loaded && arc->from == VFM_STATE_STOP &&
	    (arc->to == VFM_STATE_RUNNING_P2P || arc->to == VFM_STATE_RUNNING))
		s->ran = true;
}

static int open_side(struct side *s, const char *const *specs)
{
	memset(s, 0, sizeof(*s));
	if (vfm_ctx_new(&s->ctx) < 0)
		return -1;
	for (; specs[s->n]; s->n++)
		if (vfm_device_open(s->ctx, specs[s->n], &s->dev[s->n]) < 0)
			return -1;
	return 0;
}

static void close_side(struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		vfm_device_unref(s->dev[i]);
	vfm_endpoint_free(s->ep);
	vfm_ctx_unref(s->ctx);
}

static struct vfm_endpoint *ep_for_fd(int fd)
{
	struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err;
	char uri[32];

	snprintf(uri, sizeof(uri), "fd:%d", fd);
	if (vfm_endpoint_open(uri, VFM_EP_READ | VFM_EP_WRITE, TIMEOUT_MS, -1, &ep, &err) < 0)
		return NULL;
	close(fd);
	return ep;
}

static void *restore_thread(void *arg)
{
	struct side *d = arg;
	struct vfm_restore_opts o;

	vfm_restore_opts_init(&o);
	o.timeout_ms = TIMEOUT_MS;
	o.on_arc = on_arc;
	o.arc_userdata = d;
	d->r = vfm_restore(d->dev, d->n, d->ep, &o, &d->rep);
	/* the connection ends with the job, as when a process exits */
	d->ep = vfm_endpoint_free(d->ep);
	return NULL;
}

static bool all_in(const struct side *s, enum vfm_state want)
{
	for (size_t i = 0; i < s->n; i++) {
		enum vfm_state st = VFM_STATE_ERROR;

		if (vfm_device_get_state(s->dev[i], &st) < 0 || st != want)
			return false;
	}
	return true;
}

/* What a run gave. */
struct outcome {
	bool ok;	 /* both ends succeeded */
	bool dst_ran;	 /* the destination ran the state */
	bool src_runs;	 /* the source runs its devices again */
	bool in_doubt;	 /* the source said so */
	bool src_stopped; /* every source device in STOP */
	char src_msg[1024], dst_msg[1024];
	struct relay relay;
};

static const char *const SRC[] = {
	"sim:a,size=300K,seed=11,precopy=64K",
	"sim:b,size=40K,seed=12,flags=stop-copy+p2p",
	NULL,
};
static const char *const DST[] = {"sim:x,size=300K", "sim:y,size=40K,flags=stop-copy+p2p",
				  NULL};

static struct outcome run(enum fault fault, int dir, uint64_t at)
{
	struct outcome out;
	struct side s, d;
	struct vfm_save_opts o;
	pthread_t th_r, th_d;
	int a[2], b[2];

	memset(&out, 0, sizeof(out));
	if (open_side(&s, SRC) < 0 || open_side(&d, DST) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) < 0) {
		snprintf(out.src_msg, sizeof(out.src_msg), "setup failed");
		return out;
	}
	out.relay.fd[TO_DST] = a[1];
	out.relay.fd[TO_SRC] = b[1];
	out.relay.fault = fault;
	out.relay.dir = dir;
	out.relay.at = at;
	s.ep = ep_for_fd(a[0]);
	d.ep = ep_for_fd(b[0]);
	pthread_create(&th_r, NULL, relay_thread, &out.relay);
	pthread_create(&th_d, NULL, restore_thread, &d);
	vfm_save_opts_init(&o);
	o.timeout_ms = TIMEOUT_MS;
	o.chunk_size = 64 << 10;
	s.r = vfm_save(s.dev, s.n, s.ep, &o, &s.rep);
	s.ep = vfm_endpoint_free(s.ep);
	pthread_join(th_d, NULL);
	pthread_join(th_r, NULL); /* it ends once both sides closed */
	close(a[1]);
	close(b[1]);

	out.ok = s.r == 0 && d.r == 0;
	out.dst_ran = d.ran;
	out.src_runs = all_in(&s, VFM_STATE_RUNNING);
	out.src_stopped = all_in(&s, VFM_STATE_STOP);
	out.in_doubt = s.rep.in_doubt;
	snprintf(out.src_msg, sizeof(out.src_msg), "%s", s.r ? s.rep.message : "saved");
	snprintf(out.dst_msg, sizeof(out.dst_msg), "%s", d.r ? d.rep.message : "restored");
	/* a destination that ran says so; one that did not left its devices reset */
	if (d.r == 0 && !d.ran)
		snprintf(out.dst_msg, sizeof(out.dst_msg), "restored without running?");
	close_side(&s);
	close_side(&d);
	return out;
}

/* The invariant, and that every end is one of the three allowed. */
static bool invariant(const struct outcome *o, char *why, size_t size)
{
	if (o->dst_ran && o->src_runs) {
		snprintf(why, size, "BOTH RUN (messages above)");
		return false;
	}
	if (o->in_doubt && !o->src_stopped) {
		snprintf(why, size, "in doubt, but the source devices are not all in STOP");
		return false;
	}
	if (!o->ok && !o->in_doubt && !o->src_runs) {
		snprintf(why, size, "a failure that is not in doubt left the source stopped");
		return false;
	}
	if (o->in_doubt && !strstr(o->src_msg, "in doubt")) {
		snprintf(why, size, "in doubt without saying so");
		return false;
	}
	return true;
}

enum want { WANT_OK, WANT_ROLLBACK, WANT_DOUBT_RAN, WANT_DOUBT_NOT_RAN };

static const char *want_name(enum want w)
{
	switch (w) {
	case WANT_OK: return "migrated";
	case WANT_ROLLBACK: return "source runs, destination did not";
	case WANT_DOUBT_RAN: return "in doubt, destination runs";
	case WANT_DOUBT_NOT_RAN: return "in doubt, destination did not run";
	}
	return "?";
}

static bool matches(const struct outcome *o, enum want w)
{
	switch (w) {
	case WANT_OK: return o->ok && o->dst_ran && o->src_stopped && !o->in_doubt;
	case WANT_ROLLBACK: return !o->ok && !o->dst_ran && o->src_runs && !o->in_doubt;
	case WANT_DOUBT_RAN: return o->in_doubt && o->dst_ran;
	case WANT_DOUBT_NOT_RAN: return o->in_doubt && !o->dst_ran;
	}
	return false;
}

static void check(const char *what, const struct outcome *o, enum want w)
{
	char why[256] = "";
	bool inv = invariant(o, why, sizeof(why));

	if (!inv || !matches(o, w))
		tap_diag("source: %s | destination: %s", o->src_msg, o->dst_msg);
	tap_ok(inv && matches(o, w), "%s: %s%s%s", what, want_name(w), inv ? "" : ": ",
	       inv ? "" : why);
}

/* Where the record of @type starts in direction @d of a clean run; 0 if none. */
static uint64_t start_of(const struct relay *r, int d, uint16_t type)
{
	for (size_t i = 0; i < r->n_starts[d]; i++)
		if (r->types[d][i] == type)
			return r->starts[d][i];
	return 0;
}

int main(void)
{
	struct outcome clean = run(NONE, 0, 0);
	const struct relay *cr = &clean.relay;
	uint64_t commit_at, ready_at, verdict_at;
	unsigned seed = (unsigned)time(NULL);
	char what[160];

	check("clean run through the relay", &clean, WANT_OK);
	commit_at = start_of(cr, TO_DST, 7);
	ready_at = start_of(cr, TO_SRC, 131);
	verdict_at = start_of(cr, TO_SRC, 130);
	tap_ok(commit_at && ready_at && verdict_at && verdict_at > ready_at,
	       "the relay saw %zu records to the destination (COMMIT at %llu of %llu) and %zu "
	       "back (READY at %llu, VERDICT at %llu of %llu)",
	       cr->n_starts[TO_DST], (unsigned long long)commit_at,
	       (unsigned long long)cr->moved[TO_DST], cr->n_starts[TO_SRC],
	       (unsigned long long)ready_at, (unsigned long long)verdict_at,
	       (unsigned long long)cr->moved[TO_SRC]);
	if (!commit_at || !ready_at || !verdict_at)
		return tap_done();

	/* the connection cut at every record boundary of each direction, and inside
	 * the first bytes of the stream */
	for (int d = 0; d < 2; d++) {
		uint64_t cuts[MAX_RECORDS + 4];
		size_t n = 0;

		cuts[n++] = 0;
		cuts[n++] = 7;
		for (size_t i = 0; i < cr->n_starts[d] && n < MAX_RECORDS; i++)
			cuts[n++] = cr->starts[d][i];
		for (size_t i = 0; i < n; i++) {
			uint64_t at = cuts[i];
			enum want w;
			struct outcome o;

			if (d == TO_DST)
				w = at < commit_at ? WANT_ROLLBACK : WANT_DOUBT_NOT_RAN;
			else
				w = at < verdict_at ? WANT_ROLLBACK : WANT_DOUBT_RAN;
			o = run(CUT, d, at);
			snprintf(what, sizeof(what), "cut %s at byte %llu",
				 d == TO_DST ? "to the destination" : "to the source",
				 (unsigned long long)at);
			check(what, &o, w);
		}
	}

	/* random bytes, both directions */
	srand(seed);
	tap_diag("random cuts with seed %u", seed);
	for (int k = 0; k < 12; k++) {
		int d = k % 2;
		uint64_t total = cr->moved[d], at = (uint64_t)rand() % total;
		enum want w = d == TO_DST ? (at < commit_at ? WANT_ROLLBACK : WANT_DOUBT_NOT_RAN)
					  : (at < verdict_at ? WANT_ROLLBACK : WANT_DOUBT_RAN);
		struct outcome o = run(CUT, d, at);

		snprintf(what, sizeof(what), "cut %s at random byte %llu",
			 d == TO_DST ? "to the destination" : "to the source",
			 (unsigned long long)at);
		check(what, &o, w);
	}

	/* one direction lost while the other works: each side waits to its deadline */
	{
		static const struct {
			enum fault f;
			int dir;
			int where; /* 0: READY, 1: VERDICT, 2: COMMIT, 3: mid-data */
			enum want w;
			const char *what;
		} cases[] = {
			{DROP, TO_SRC, 1, WANT_DOUBT_RAN, "the verdict dropped"},
			{DROP, TO_SRC, 0, WANT_ROLLBACK, "READY dropped"},
			{DROP, TO_DST, 2, WANT_ROLLBACK, "COMMIT dropped (the destination's "
						      "failure verdict still reaches the source)"},
			{DROP, TO_DST, 3, WANT_ROLLBACK, "the data dropped half-way"},
			{TRICKLE, TO_SRC, 1, WANT_DOUBT_RAN, "the verdict trickled a byte at a time"},
			{TRICKLE, TO_SRC, 0, WANT_ROLLBACK, "READY trickled a byte at a time"},
			{TRICKLE, TO_DST, 2, WANT_DOUBT_NOT_RAN,
			 "COMMIT trickled a byte at a time"},
		};

		for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
			uint64_t at = cases[i].where == 0   ? ready_at
				      : cases[i].where == 1 ? verdict_at
				      : cases[i].where == 2 ? commit_at
							    : cr->moved[TO_DST] / 2;
			struct outcome o = run(cases[i].f, cases[i].dir, at);

			snprintf(what, sizeof(what), "%s %s: %s", fault_names[cases[i].f],
				 cases[i].dir == TO_DST ? "to the destination" : "to the source",
				 cases[i].what);
			check(what, &o, cases[i].w);
		}
	}
	return tap_done();
}
