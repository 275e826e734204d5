// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Data connections (vfm_save_opts.streams): save and restore of simulated devices
 * in two threads, the control connection and each data connection a socketpair.
 * Success with chunks spread over up to 16 connections and accepted in any order;
 * strangers on the listener dropped; a data connection lost mid-way; and a source
 * that lies (a gap, an overlap, a wrong DEVICE_END, a wrong token): each failure
 * leaves the source devices RUNNING and the destination's reset, with an error
 * that names the cause.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim.h"
#include "stream.h"
#include "tap.h"
#include "transport.h"
#include "vfiomig.h"

#define MAXD   4
#define MAXC   (VFM_STREAMS_MAX + 12) /* data connections and strays */

static struct vfm_endpoint *ep_for_fd(int fd)
{
	struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err;
	char uri[32];

	snprintf(uri, sizeof(uri), "fd:%d", fd);
	if (vfm_endpoint_open(uri, VFM_EP_READ | VFM_EP_WRITE, 10000, -1, &ep, &err) < 0) {
		tap_diag("endpoint %s: %s", uri, err.msg);
		return NULL;
	}
	close(fd);
	return ep;
}

struct side {
	struct vfm_ctx *ctx;
	struct vfm_device *dev[MAXD];
	size_t n;
	struct vfm_endpoint *ep;
	struct vfm_job_report rep;
	int r;
	/* the data connections this side opens, in order (fds; -1 used) */
	int fd[MAXC];
	unsigned nfd, next;
	pthread_mutex_t lock;
};

static int open_stream(void *userdata, unsigned index, struct vfm_endpoint **ret_ep,
		       char *why, size_t size)
{
	struct side *s = userdata;
	int fd = -1;

	(void)index;
	pthread_mutex_lock(&s->lock);
	if (s->next < s->nfd) {
		fd = s->fd[s->next];
		s->fd[s->next++] = -1;
	}
	pthread_mutex_unlock(&s->lock);
	if (fd < 0) {
		snprintf(why, size, "no more connections in the test");
		return -ECONNREFUSED;
	}
	*ret_ep = ep_for_fd(fd);
	return *ret_ep ? 0 : -EIO;
}

static int open_side(struct side *s, const char *const *specs)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	if (vfm_ctx_new(&s->ctx) < 0)
		return -1;
	for (; specs[s->n]; s->n++)
		if (vfm_device_open(s->ctx, specs[s->n], &s->dev[s->n]) < 0) {
			tap_diag("open %s: %s", specs[s->n], vfm_ctx_last_error(s->ctx));
			return -1;
		}
	return 0;
}

/* The connections never handed out: closed, so that the peer does not wait. */
static void close_unused(struct side *s)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned k = s->next; k < s->nfd; k++)
		if (s->fd[k] >= 0)
			close(s->fd[k]);
	s->next = s->nfd;
	pthread_mutex_unlock(&s->lock);
}

static void close_side(struct side *s)
{
	close_unused(s);
	for (size_t i = 0; i < s->n; i++)
		vfm_device_unref(s->dev[i]);
	vfm_endpoint_free(s->ep);
	vfm_ctx_unref(s->ctx);
	pthread_mutex_destroy(&s->lock);
}

static bool all_in(struct side *s, enum vfm_state want, const char *who)
{
	bool ok = true;

	for (size_t i = 0; i < s->n; i++) {
		enum vfm_state st = VFM_STATE_ERROR;

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
	struct vfm_restore_opts o;

	vfm_restore_opts_init(&o);
	o.timeout_ms = 10000;
	o.open_stream = open_stream;
	o.stream_userdata = d;
	d->r = vfm_restore(d->dev, d->n, d->ep, &o, &d->rep);
	close_unused(d);
	return NULL;
}

/* What a test puts between the two sides. */
struct plan {
	unsigned streams;
	size_t chunk;
	bool reverse;	     /* the destination accepts them last to first */
	unsigned strays;     /* garbage connections the destination gets first */
	bool stray_join;     /* ...and one with a JOIN of the wrong token */
	long cut_conn;	     /* data connection cut after cut_bytes (-1: none) */
	size_t cut_bytes;
};

struct cutter {
	int from, to;
	size_t after;
};

/* Copy @from to @to, then close both after @after bytes: a connection lost. */
static void *cut_thread(void *arg)
{
	struct cutter *c = arg;
	char buf[8192];
	size_t done = 0;

	while (done < c->after) {
		ssize_t k = read(c->from, buf, sizeof(buf) < c->after - done ? sizeof(buf)
									       : c->after - done);

		if (k <= 0 || write(c->to, buf, (size_t)k) != k)
			break;
		done += (size_t)k;
	}
	close(c->from);
	close(c->to);
	return NULL;
}

struct stray {
	int fd;
	bool join;
	uint64_t stream_id;
};

static void *stray_thread(void *arg)
{
	struct stray *s = arg;
	uint8_t buf[256], token[VFM_STREAM_TOKEN_SIZE] = { 0 };
	size_t len = 0;

	if (s->join) {
		struct vfm_record rec = { .type = VFM_STREAM_JOIN,
					  .join = { .stream_id = s->stream_id, .index = 0,
						    .count = 1, .token = token } };
		ssize_t n;

		vfm_stream_encode_preamble_data(buf);
		n = vfm_stream_encode(&rec, buf + 16, sizeof(buf) - 16);
		len = 16 + (size_t)(n > 0 ? n : 0);
	} else {
		memcpy(buf, "GET / HTTP/1.0\r\n\r\n", 18);
		len = 18;
	}
	if (write(s->fd, buf, len) < 0) {
		/* the destination may have dropped it already */
	}
	close(s->fd);
	return NULL;
}

static void run(const char *desc, const char *const *src_specs,
		const char *const *dst_specs, const struct plan *p, bool expect_ok,
		const char *what)
{
	struct side s, d;
	struct vfm_save_opts o;
	pthread_t th, cut_th = 0, stray_th[MAXC];
	struct cutter cut;
	struct stray strays[MAXC];
	unsigned n_stray = 0;
	int sv[2];
	bool ok = true;

	vfm_save_opts_init(&o);
	o.timeout_ms = 10000;
	o.streams = p->streams;
	o.open_stream = open_stream;
	o.stream_userdata = &s;
	if (p->chunk)
		o.chunk_size = p->chunk;
	if (open_side(&s, src_specs) < 0 || open_side(&d, dst_specs) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		tap_ok(false, "%s: setup", desc);
		return;
	}
	s.ep = ep_for_fd(sv[0]);
	d.ep = ep_for_fd(sv[1]);
	for (unsigned k = 0; k < p->strays + p->stray_join && k < MAXC - VFM_STREAMS_MAX; k++) {
		int x[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x) < 0)
			break;
		strays[n_stray] = (struct stray){ x[0], k == 0 && p->stray_join, 0 };
		d.fd[d.nfd++] = x[1];
		pthread_create(&stray_th[n_stray], NULL, stray_thread, &strays[n_stray]);
		n_stray++;
	}
	for (unsigned k = 0; k < p->streams; k++) {
		int x[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x) < 0)
			break;
		if ((long)k == p->cut_conn) {
			int y[2];

			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, y) < 0)
				break;
			cut = (struct cutter){ .from = x[1], .to = y[0], .after = p->cut_bytes };
			pthread_create(&cut_th, NULL, cut_thread, &cut);
			x[1] = y[1];
		}
		s.fd[s.nfd++] = x[0];
		d.fd[d.nfd + (p->reverse ? p->streams - 1 - k : k)] = x[1];
	}
	d.nfd += p->streams;
	pthread_create(&th, NULL, restore_thread, &d);
	s.r = vfm_save(s.dev, s.n, s.ep, &o, &s.rep);
	if (s.r < 0)
		s.ep = vfm_endpoint_free(s.ep);
	close_unused(&s);
	pthread_join(th, NULL);
	if (cut_th)
		pthread_join(cut_th, NULL);
	for (unsigned k = 0; k < n_stray; k++)
		pthread_join(stray_th[k], NULL);

	if (expect_ok) {
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
		if (s.rep.streams != p->streams || d.rep.streams != p->streams) {
			tap_diag("reports say %u and %u data connections", s.rep.streams,
				 d.rep.streams);
			ok = false;
		}
		ok &= s.rep.total_bytes == d.rep.total_bytes && s.rep.total_bytes > 0;
		tap_ok(ok, "%s: migrated, %llu bytes over %u data connections", desc,
		       (unsigned long long)s.rep.total_bytes, p->streams);
	} else {
		ok &= s.r < 0 && d.r < 0;
		ok &= all_in(&s, VFM_STATE_RUNNING, "source");
		ok &= all_in(&d, VFM_STATE_RUNNING, "destination");
		if (what && !strstr(s.rep.message, what) && !strstr(d.rep.message, what)) {
			tap_diag("no side's error has '%s'", what);
			ok = false;
		}
		tap_ok(ok, "%s: fails cleanly: source: %s", desc, s.rep.message);
		tap_diag("  destination: %s", d.rep.message);
	}
	close_side(&s);
	close_side(&d);
}

/* ------------------------------------------------------------------------- */
/* a source that lies                                                        */

/* A genuine image of a 12K sim device, as its stop-copy reads give it. */
static uint8_t image[16384];
static size_t image_len;

static int read_image(void)
{
	struct vfm_ctx *ctx = NULL;
	struct vfm_device *dev = NULL;
	ssize_t n = 0;

	if (vfm_ctx_new(&ctx) < 0 || vfm_device_open(ctx, "sim:src,seed=5,size=12K", &dev) < 0 ||
	    vfm_device_drive(dev, VFM_STATE_STOP_COPY, 0, NULL, NULL, NULL) < 0)
		return -1;
	while (image_len < sizeof(image) &&
	       (n = vfm_device_read(dev, image + image_len, sizeof(image) - image_len)) > 0)
		image_len += (size_t)n;
	vfm_device_unref(dev);
	vfm_ctx_unref(ctx);
	return n == 0 && image_len > 8192 ? 0 : -1;
}

struct liar {
	struct vfm_endpoint *ep;
	int data[2]; /* the data connections' source ends */
	int mode;
	char got[256];
};

enum { GAP, OVERLAP, BAD_END, BAD_TOKEN, BAD_DONE };

static int send_rec(struct vfm_endpoint *ep, const struct vfm_record *rec)
{
	static uint8_t buf[VFM_STREAM_DATA_RECORD_MAX];
	ssize_t n = vfm_stream_encode(rec, buf, sizeof(buf));

	return n < 0 ? (int)n : vfm_endpoint_write_full(ep, buf, (size_t)n);
}

static void *liar_thread(void *arg)
{
	struct liar *l = arg;
	static struct vfm_stream_header h;
	uint8_t token[VFM_STREAM_TOKEN_SIZE], pre[16];
	struct vfm_stream_reader *rd = NULL;
	struct vfm_record rec;
	struct vfm_endpoint *dc[2];
	uint64_t conn_bytes[2] = { 0 }, conn_recs[2] = { 0 };

	memset(&h, 0, sizeof(h));
	memset(token, 7, sizeof(token));
	h.stream_id = 0x1234;
	h.n_devices = 1;
	h.flags = VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS;
	h.dev[0] = (struct vfm_stream_devdesc){ .mig_flags = VFM_STREAM_MIG_STOP_COPY,
						.vendor = -1, .device = -1,
						.subsystem_vendor = -1,
						.subsystem_device = -1, .revision = -1,
						.data_size = VFM_STREAM_SIZE_UNKNOWN,
						.kind = VFM_STREAM_KIND_SIM };
	snprintf(h.dev[0].driver, sizeof(h.dev[0].driver), "vfiomig-sim");
	snprintf(h.dev[0].name, sizeof(h.dev[0].name), "sim:liar");
	vfm_stream_encode_preamble(pre);
	vfm_endpoint_write_full(l->ep, pre, sizeof(pre));
	send_rec(l->ep, &(struct vfm_record){ .type = VFM_STREAM_HEADER, .header = &h });
	send_rec(l->ep, &(struct vfm_record){ .type = VFM_STREAM_STREAMS,
					      .streams = { .count = 2, .token = token } });
	vfm_stream_reader_new(VFM_STREAM_TO_SOURCE, 1,
			      (vfm_stream_read_fn)vfm_endpoint_read_full, l->ep, &rd);
	if (vfm_stream_read(rd, &rec) != VFM_STREAM_COMPAT) {
		snprintf(l->got, sizeof(l->got), "no COMPAT: %s", vfm_stream_reader_error(rd));
		goto out;
	}
	for (int k = 0; k < 2; k++) {
		uint8_t bad[VFM_STREAM_TOKEN_SIZE];

		memset(bad, 8, sizeof(bad));
		dc[k] = ep_for_fd(l->data[k]);
		vfm_stream_encode_preamble_data(pre);
		vfm_endpoint_write_full(dc[k], pre, sizeof(pre));
		send_rec(dc[k], &(struct vfm_record){
					.type = VFM_STREAM_JOIN,
					.join = { .stream_id = 0x1234, .index = (uint16_t)k,
						  .count = 2,
						  .token = l->mode == BAD_TOKEN && k == 1 ? bad
											  : token } });
	}
	/* the image in 3 chunks; conn 0 gets chunks 0 and 2, conn 1 chunk 1 */
	for (int c = 0; c < 3; c++) {
		uint64_t off = (uint64_t)c * 4096;
		uint32_t len = c < 2 ? 4096 : (uint32_t)(image_len - 8192);
		int k = c == 1;

		if (l->mode == GAP && c == 1)
			continue; /* never sent */
		if (l->mode == OVERLAP && c == 1)
			off = 0;
		send_rec(dc[k], &(struct vfm_record){
					.type = VFM_STREAM_DATA,
					.data = { .dev = 0, .phase = VFM_STREAM_PHASE_STOPCOPY,
						  .offset = off, .bytes = image + off,
						  .len = len } });
		conn_bytes[k] += len;
		conn_recs[k]++;
	}
	for (int k = 0; k < 2; k++) {
		send_rec(dc[k], &(struct vfm_record){
					.type = VFM_STREAM_DONE,
					.done = { .bytes = conn_bytes[k] +
							   (l->mode == BAD_DONE && k == 0),
						  .records = conn_recs[k] } });
		vfm_endpoint_shutdown_write(dc[k]);
	}
	send_rec(l->ep, &(struct vfm_record){
				.type = VFM_STREAM_DEVICE_END,
				.device_end = { .dev = 0,
						.total = image_len +
							 (l->mode == BAD_END ? 4096 : 0) } });
	send_rec(l->ep, &(struct vfm_record){
				.type = VFM_STREAM_END,
				.end = { .n_devices = 1,
					 .total = image_len + (l->mode == BAD_END ? 4096 : 0) } });
	/* the destination's verdict */
	while (vfm_stream_read(rd, &rec) > 0)
		if (rec.type == VFM_STREAM_VERDICT)
			snprintf(l->got, sizeof(l->got), "VERDICT %u: %s", rec.verdict.status,
				 rec.verdict.reason);
	for (int k = 0; k < 2; k++)
		vfm_endpoint_free(dc[k]);
out:
	vfm_stream_reader_free(rd);
	return NULL;
}

static void lie(const char *desc, int mode, const char *what)
{
	static const char *const dst[] = { "sim:x,size=12K,expect-seed=5", NULL };
	struct side d;
	struct liar l = { .mode = mode };
	pthread_t th;
	int sv[2], x[2], y[2];

	if (open_side(&d, dst) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, x) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, y) < 0) {
		tap_ok(false, "%s: setup", desc);
		return;
	}
	l.ep = ep_for_fd(sv[0]);
	d.ep = ep_for_fd(sv[1]);
	l.data[0] = x[0];
	l.data[1] = y[0];
	d.fd[0] = x[1];
	d.fd[1] = y[1];
	d.nfd = 2;
	pthread_create(&th, NULL, liar_thread, &l);
	restore_thread(&d);
	vfm_endpoint_shutdown_write(d.ep);
	pthread_join(th, NULL);
	tap_ok(d.r < 0 && strstr(d.rep.message, what) && all_in(&d, VFM_STATE_RUNNING, "dst") &&
		       strstr(l.got, "VERDICT") && !strstr(l.got, "VERDICT 0"),
	       "%s: refused: %s (the source got %s)", desc, d.rep.message, l.got);
	vfm_endpoint_free(l.ep);
	close_side(&d);
}

int main(void)
{
	static const char *const src2[] = { "sim:a,seed=101,size=3M", "sim:b,seed=102,size=100K",
					    NULL };
	static const char *const dst2[] = { "sim:x,size=3M,expect-seed=101",
					    "sim:y,size=100K,expect-seed=102", NULL };
	static const char *const src1[] = { "sim:a,seed=7,size=8M", NULL };
	static const char *const dst1[] = { "sim:x,size=8M,expect-seed=7", NULL };

	run("2 devices, 4 data connections", src2, dst2,
	    &(struct plan){ .streams = 4, .chunk = 65536, .cut_conn = -1 }, true, NULL);
	run("1 device in 16K chunks over 16 connections, accepted last to first", src1, dst1,
	    &(struct plan){ .streams = 16, .chunk = 16384, .reverse = true, .cut_conn = -1 },
	    true, NULL);
	run("1 data connection", src1, dst1,
	    &(struct plan){ .streams = 1, .cut_conn = -1 }, true, NULL);
	run("strangers on the listener first (garbage, a JOIN with the wrong token)", src2,
	    dst2, &(struct plan){ .streams = 3, .strays = 2, .stray_join = true, .cut_conn = -1 },
	    true, NULL);
	run("more strangers than the destination drops", src2, dst2,
	    &(struct plan){ .streams = 2, .strays = 9, .cut_conn = -1 }, false,
	    "not this migration's data connections");
	run("data connection 2 of 4 lost after 300 KB", src1, dst1,
	    &(struct plan){ .streams = 4, .chunk = 65536, .cut_conn = 1,
			    .cut_bytes = 300000 },
	    false, " of 4");
	/* The first side to notice names its connection: the cut one, or one the source
	 * shut down once its sender saw the cut. */
	run("data connection 1 of 3 lost right after its JOIN", src2, dst2,
	    &(struct plan){ .streams = 3, .cut_conn = 0, .cut_bytes = 16 + 44 }, false,
	    " of 3");

	if (read_image() < 0)
		tap_diag("no sim image to lie with");
	lie("a gap in a device's data", GAP, "the bytes before it never came");
	lie("two chunks at one offset", OVERLAP, "which ");
	lie("DEVICE_END that disagrees with the data", BAD_END, "DEVICE_END of device 0 says");
	lie("a data connection with the wrong token (dropped, and no other comes)", BAD_TOKEN,
	    "data connection 2 of 2");
	lie("DONE that disagrees with its connection", BAD_DONE, "DONE record");
	return tap_done();
}
