// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Save and restore, phase by phase as in design.md.  The rule that governs the save
 * side: until the destination says every device loaded, the source can resume, so
 * every failure path ends in vfm_set_rollback().
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "job.h"
#include "macro.h"
#include "net.h"
#include "stream.h"
#include "transport.h"
#include "util.h"

#define DEFAULT_CHUNK (1u << 20)
#define PROGRESS_USEC 100000

static const char *const phase_names[] = {
	[VFM_JOB_HEADER] = "header",	   [VFM_JOB_COMPAT] = "compat",
	[VFM_JOB_PRECOPY] = "precopy",	   [VFM_JOB_QUIESCE] = "quiesce",
	[VFM_JOB_STOP_COPY] = "stop-copy", [VFM_JOB_RESUMING] = "resuming",
	[VFM_JOB_LOAD] = "load",	   [VFM_JOB_VERDICT] = "verdict",
	[VFM_JOB_DONE] = "done",	   [VFM_JOB_ROLLBACK] = "rollback",
};

const char *vfm_job_phase_name(enum vfm_job_phase phase)
{
	if ((size_t)phase >= ELEMENTSOF(phase_names))
		return "unknown";
	return phase_names[phase];
}

void vfm_save_opts_init(struct vfm_save_opts *opts)
{
	*opts = (struct vfm_save_opts){
		.precopy = true,
		.precopy_max_rounds = 30,
		.precopy_max_usec = 60 * 1000000ull,
		.dirty_threshold = 0,
		.chunk_size = DEFAULT_CHUNK,
		.timeout_ms = 60000,
		.cancel_fd = -1,
	};
}

void vfm_restore_opts_init(struct vfm_restore_opts *opts)
{
	*opts = (struct vfm_restore_opts){
		.timeout_ms = 60000,
		.cancel_fd = -1,
	};
}

/* ---- shared helpers ---- */

struct job {
	struct vfm_job_report *rep;
	struct vfm_endpoint *ep;
	struct vfm_set set;
	vfm_progress_fn progress;
	void *progress_userdata;
	uint64_t last_progress;
	int cancel_fd;
	vfm_arc_fn arc_fn; /* the caller's, called for every arc of every device */
	void *arc_userdata;
	uint8_t *buf;      /* prefix + chunk + trailer */
	size_t chunk;
	uint8_t *msgbuf;   /* encoded control records */
	/* Stop-copy reads devices in parallel: records are written whole under this
	 * lock, and the report's shared fields change under it. */
	pthread_mutex_t lock;
	bool locked_mode;
};

/* Record the first failure: the message names the device or the peer. */
static int fail(struct job *j, int err, const char *fmt, ...) _printf_(3, 4);
static int fail(struct job *j, int err, const char *fmt, ...)
{
	va_list ap;

	if (j->locked_mode)
		pthread_mutex_lock(&j->lock);
	if (j->rep->error) {
		err = j->rep->error;
	} else {
		if (err >= 0)
			err = -EIO;
		__atomic_store_n(&j->rep->error, err, __ATOMIC_RELAXED);
		va_start(ap, fmt);
		vsnprintf(j->rep->message, sizeof(j->rep->message), fmt, ap);
		va_end(ap);
	}
	if (j->locked_mode)
		pthread_mutex_unlock(&j->lock);
	return err;
}

static void set_phase(struct job *j, enum vfm_job_phase phase)
{
	j->rep->phase = phase;
	j->rep->elapsed_usec = now_usec() - j->rep->start_usec;
	if (j->progress)
		j->progress(j->progress_userdata, j->rep);
	j->last_progress = now_usec();
}

static void tick(struct job *j)
{
	uint64_t now = now_usec();

	if (!j->progress || now - j->last_progress < PROGRESS_USEC)
		return;
	j->rep->elapsed_usec = now - j->rep->start_usec;
	j->progress(j->progress_userdata, j->rep);
	j->last_progress = now;
}

static bool cancelled(const struct job *j)
{
	struct pollfd p = { .fd = j->cancel_fd, .events = POLLIN };

	return j->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

static ssize_t ep_read_fn(void *userdata, void *buf, size_t len)
{
	ssize_t n = vfm_endpoint_read_full(userdata, buf, len);

	/* The stream reader wants "fewer than len" for a stream that ended inside a
	 * read, never 0 there (0 at a record boundary is a clean end). */
	if (n == -ENODATA)
		return len > 1 ? 1 : 0;
	return n;
}

static int send_record(struct job *j, const struct vfm_record *rec)
{
	ssize_t n = vfm_stream_encode(rec, j->msgbuf, VFM_STREAM_HEADER_RECORD_MAX);

	if (n < 0)
		return (int)n;
	return vfm_endpoint_write_full(j->ep, j->msgbuf, (size_t)n);
}

static int send_preamble(struct job *j)
{
	uint8_t pre[VFM_STREAM_PREAMBLE_SIZE];

	vfm_stream_encode_preamble(pre);
	return vfm_endpoint_write_full(j->ep, pre, sizeof(pre));
}

static const char *peer(const struct job *j)
{
	return vfm_endpoint_description(j->ep);
}

static int job_init(struct job *j, struct vfm_job_report *rep, struct vfm_endpoint *ep,
		    size_t chunk)
{
	memset(rep, 0, sizeof(*rep));
	rep->start_usec = now_usec();
	pthread_mutex_init(&j->lock, NULL);
	j->rep = rep;
	j->ep = ep;
	j->chunk = chunk ? MIN(chunk, (size_t)VFM_STREAM_CHUNK_MAX) : DEFAULT_CHUNK;
	j->buf = malloc(VFM_STREAM_DATA_PREFIX_SIZE + j->chunk + VFM_STREAM_CRC_SIZE);
	j->msgbuf = malloc(VFM_STREAM_HEADER_RECORD_MAX);
	if (!j->buf || !j->msgbuf)
		return fail(j, -ENOMEM, "out of memory");
	return 0;
}

static void job_done(struct job *j)
{
	pthread_mutex_destroy(&j->lock);
	free(j->buf);
	free(j->msgbuf);
	j->rep->elapsed_usec = now_usec() - j->rep->start_usec;
}

static int kind_to_stream(enum vfm_device_kind k)
{
	switch (k) {
	case VFM_DEVICE_PCI: return VFM_STREAM_KIND_PCI;
	case VFM_DEVICE_MDEV: return VFM_STREAM_KIND_MDEV;
	case VFM_DEVICE_FD: return VFM_STREAM_KIND_FD;
	case VFM_DEVICE_SIM: return VFM_STREAM_KIND_SIM;
	}
	return VFM_STREAM_KIND_FD;
}

static uint32_t flags_to_stream(uint32_t f)
{
	return ((f & VFM_MIG_STOP_COPY) ? VFM_STREAM_MIG_STOP_COPY : 0) |
	       ((f & VFM_MIG_P2P) ? VFM_STREAM_MIG_P2P : 0) |
	       ((f & VFM_MIG_PRE_COPY) ? VFM_STREAM_MIG_PRE_COPY : 0);
}

static void on_set_arc(void *userdata, const struct vfm_device *dev,
		       const struct vfm_arc_result *arc)
{
	const struct job *j = userdata;

	if (j->arc_fn)
		j->arc_fn(j->arc_userdata, dev, arc);
}

static int phase_or_fail(struct job *j, enum vfm_phase phase)
{
	size_t failed = 0;
	enum vfm_state st = VFM_STATE_ERROR;
	int r = vfm_set_phase(&j->set, phase, &failed);

	if (r >= 0)
		return 0;
	vfm_device_get_state(j->set.dev[failed], &st);
	if (j->set.failed_arc)
		return fail(j, r, "%s: %s -> %s (%s phase): %s (device now in %s)",
			    vfm_device_name(j->set.dev[failed]), vfm_state_name(j->set.failed_from),
			    vfm_state_name(j->set.failed_to), vfm_phase_name(phase), strerror(-r),
			    vfm_state_name(st));
	return fail(j, r, "%s: %s phase: %s (device now in %s)",
		    vfm_device_name(j->set.dev[failed]), vfm_phase_name(phase), strerror(-r),
		    vfm_state_name(st));
}

/* ---- VF network settings (src/net) ---- */

/* The network VF a device is: a simulated one names it (pf=, vf=), a real one is
 * found in sysfs.  -ENODEV: not a network VF. */
static int vf_ref_for(struct vfm_device *dev, struct vfm_vf_ref *ref, char *why,
		      size_t size)
{
	const struct vfm_device_identity *id = vfm_device_identity(dev);
	struct vfm_ctx *ctx = vfm_device_ctx(dev);

	if (id->pf_netdev[0] && id->vf_index >= 0) {
		struct vfm_pf pf;
		int r = vfm_pf_find(ctx, id->pf_netdev, &pf, why, size);

		if (r < 0)
			return r;
		return vfm_vf_ref_pf(ctx, &pf, (uint32_t)id->vf_index, ref, why, size);
	}
	if (id->kind == VFM_DEVICE_SIM || !id->sysfs_path[0]) {
		snprintf(why, size, "%s: no PF netdev", id->name);
		return -ENODEV;
	}
	return vfm_vf_find(ctx, id->sysfs_path, ref, why, size);
}

/* Write a VF's settings inside the caller's privilege span (see net_privilege). */
static int vf_apply(const struct vfm_restore_opts *o, struct vfm_device *dev,
		    const struct vfm_vf_ref *ref, const struct vfm_vf_config *cfg,
		    uint32_t *ret_changed, char *why, size_t why_size)
{
	char pwhy[256] = "";
	int pr = 0, r;

	if (o->net_privilege)
		pr = o->net_privilege(o->net_privilege_userdata, true, pwhy, sizeof(pwhy));
	r = vfm_vf_config_apply_ref(vfm_device_ctx(dev), ref, cfg, ret_changed, why,
				    why_size);
	if (o->net_privilege)
		(void)o->net_privilege(o->net_privilege_userdata, false, NULL, 0);
	if (r == -EPERM && pr < 0 && pwhy[0] && why && why_size) {
		size_t len = strnlen(why, why_size - 1);

		snprintf(why + len, why_size - len, " (%s)", pwhy);
	}
	return r;
}

static void vf_status(struct vfm_job_dev *d, const char *what, uint32_t fields)
{
	char list[64] = "";

	if (fields)
		vfm_vf_fields_format(fields, list, sizeof(list));
	snprintf(d->vf_config, sizeof(d->vf_config), "%s%s%s", what, fields ? ": " : "",
		 fields ? list : "");
}

/* ---- save ---- */

/*
 * Read what the device has now and send it as DATA records.  STOP_COPY: until the
 * permanent end (0).  PRE_COPY: until nothing is pending (ENOMSG; some drivers, mtty
 * among them, return 0 there instead).
 */
static int stream_device_buf(struct job *j, size_t i, bool precopy, uint64_t *offset,
			     uint8_t *buf)
{
	struct vfm_device *dev = j->set.dev[i];
	struct vfm_job_dev *d = &j->rep->dev[i];
	uint8_t *payload = buf + VFM_STREAM_DATA_PREFIX_SIZE;
	uint64_t t0 = now_usec();

	for (;;) {
		ssize_t n;
		int r;

		if (cancelled(j))
			return fail(j, -ECANCELED, "cancelled");
		if (j->locked_mode && __atomic_load_n(&j->rep->error, __ATOMIC_RELAXED))
			return j->rep->error; /* another device failed: stop too */
		n = vfm_device_read(dev, payload, j->chunk);
		if (n == -ENOMSG || (n == 0 && precopy))
			break;
		if (n < 0)
			return fail(j, (int)n, "%s: reading %s data at offset %llu: %s",
				    vfm_device_name(dev), precopy ? "precopy" : "stop-copy",
				    (unsigned long long)*offset, strerror((int)-n));
		if (n == 0)
			break;
		r = vfm_stream_data_prefix(buf, (uint16_t)i,
					   precopy ? VFM_STREAM_PHASE_PRECOPY
						   : VFM_STREAM_PHASE_STOPCOPY,
					   *offset, (uint32_t)n);
		if (r >= 0)
			r = vfm_stream_data_crc(buf, payload, (size_t)n, payload + n);
		if (r >= 0) {
			if (j->locked_mode)
				pthread_mutex_lock(&j->lock);
			r = vfm_endpoint_write_full(j->ep, buf,
						    VFM_STREAM_DATA_PREFIX_SIZE + (size_t)n +
							    VFM_STREAM_CRC_SIZE);
			if (r >= 0) {
				j->rep->total_bytes += (uint64_t)n;
				tick(j);
			}
			if (j->locked_mode)
				pthread_mutex_unlock(&j->lock);
		}
		if (r < 0)
			return fail(j, r, "sending %s data to %s: %s", vfm_device_name(dev),
				    peer(j), strerror(-r));
		*offset += (uint64_t)n;
		if (precopy)
			d->precopy_bytes += (uint64_t)n;
		else
			d->stopcopy_bytes += (uint64_t)n;
	}
	if (!precopy)
		d->stopcopy_usec += now_usec() - t0;
	return 0;
}

static int stream_device(struct job *j, size_t i, bool precopy, uint64_t *offset)
{
	return stream_device_buf(j, i, precopy, offset, j->buf);
}

static int send_device_end(struct job *j, size_t i, uint64_t total)
{
	struct vfm_record rec = {
		.type = VFM_STREAM_DEVICE_END,
		.device_end = { .dev = (uint16_t)i,
				.total = total,
				.precopy = j->rep->dev[i].precopy_bytes },
	};
	int r;

	if (j->locked_mode)
		pthread_mutex_lock(&j->lock);
	r = send_record(j, &rec);
	if (j->locked_mode)
		pthread_mutex_unlock(&j->lock);
	if (r < 0)
		return fail(j, r, "sending to %s: %s", peer(j), strerror(-r));
	return 0;
}

/*
 * Several devices read at once (stop-copy, and each precopy round): one thread per
 * device (at most STREAM_THREADS at once), each with its own chunk buffer, so that
 * slow drivers overlap and both cores are used; the stream interleaves their chunks.
 */
#define STREAM_THREADS 16

struct stream_worker {
	struct job *j;
	uint64_t *offsets;
	bool precopy;	   /* a precopy round: no DEVICE_END */
	const bool *want;  /* the devices to read (precopy: those in PRE_COPY) */
	size_t next;	   /* next device to take, under j->lock */
};

static void *stream_thread(void *arg)
{
	struct stream_worker *w = arg;
	struct job *j = w->j;
	uint8_t *buf = malloc(VFM_STREAM_DATA_PREFIX_SIZE + j->chunk + VFM_STREAM_CRC_SIZE);

	if (!buf) {
		fail(j, -ENOMEM, "out of memory");
		return NULL;
	}
	for (;;) {
		size_t i;
		int r;

		pthread_mutex_lock(&j->lock);
		i = w->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->set.n || __atomic_load_n(&j->rep->error, __ATOMIC_RELAXED))
			break;
		if (!w->want[i])
			continue;
		r = stream_device_buf(j, i, w->precopy, &w->offsets[i], buf);
		if (r >= 0 && !w->precopy)
			r = send_device_end(j, i, w->offsets[i]);
		if (r < 0)
			break;
	}
	free(buf);
	return NULL;
}

/* Read the @want devices (precopy: one round; else stop-copy to the end, each
 * followed by its DEVICE_END), in parallel when there are several. */
static int stream_all(struct job *j, uint64_t *offsets, bool precopy, const bool *want)
{
	struct stream_worker w = { .j = j, .offsets = offsets, .precopy = precopy,
				   .want = want };
	pthread_t th[STREAM_THREADS];
	size_t n_want = 0, only = 0, nth, started = 0;

	for (size_t i = 0; i < j->set.n; i++)
		if (want[i]) {
			n_want++;
			only = i;
		}
	if (n_want == 0)
		return 0;
	if (n_want == 1) {
		int r = stream_device(j, only, precopy, &offsets[only]);

		return r < 0 || precopy ? r : send_device_end(j, only, offsets[only]);
	}
	nth = MIN(n_want, (size_t)STREAM_THREADS);
	j->locked_mode = true;
	for (; started < nth; started++)
		if (pthread_create(&th[started], NULL, stream_thread, &w) != 0)
			break;
	if (started == 0) {
		j->locked_mode = false;
		return fail(j, -EAGAIN, "cannot start threads");
	}
	for (size_t k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	j->locked_mode = false;
	if (j->rep->error)
		return j->rep->error;
	if (w.next < j->set.n) /* fewer threads than wanted, and they stopped early */
		return fail(j, -EAGAIN, "%s stopped early", precopy ? "precopy" : "stop-copy");
	return 0;
}

/*
 * Restore writes: one writer thread per device, fed in stream order through a FIFO
 * of copied chunks, so that the devices load in parallel and the next chunk is read
 * from the peer (and its CRC checked) while the last is written.  The chunks queued
 * for all devices together stay under eight chunks a device and WRITE_BUDGET_MAX
 * bytes (one record always fits).
 */
#define WRITE_BUDGET_MAX (32u << 20)

struct wchunk {
	struct wchunk *next;
	uint64_t offset;
	uint32_t len, cap;
	bool precopy;
	uint8_t bytes[];
};

struct writers;

struct writer {
	struct writers *ws;
	size_t dev;
	struct wchunk *head, *tail;
	pthread_cond_t wake; /* a chunk, or the end */
	pthread_t th;
	bool started;
};

struct writers {
	struct job *j;
	struct writer w[VFM_SET_MAX];
	size_t n;
	pthread_mutex_t lock;
	pthread_cond_t room; /* queued bytes went down */
	size_t queued;
	struct wchunk *spare; /* written chunks, reused: no allocation per chunk */
	bool threaded;	      /* false: one device, written by the caller */
	bool closing;     /* no more chunks: finish the queues and stop */
	int bad_dev;      /* the first device whose write failed, -1: none */
};

/* One chunk into device @i, whole; after a failure anywhere, nothing more. */
static int write_chunk(struct job *j, size_t i, const uint8_t *bytes, uint32_t len,
		       uint64_t offset, bool precopy)
{
	struct vfm_device *dev = j->set.dev[i];
	struct vfm_job_dev *d = &j->rep->dev[i];
	uint64_t t0 = now_usec();
	uint32_t off = 0;
	int err = 0;

	while (off < len && !__atomic_load_n(&j->rep->error, __ATOMIC_RELAXED)) {
		ssize_t n = vfm_device_write(dev, bytes + off, len - off);

		if (n <= 0) {
			err = n < 0 ? (int)n : -EIO;
			fail(j, err, "%s: writing migration data at offset %llu: %s",
			     vfm_device_name(dev), (unsigned long long)(offset + off),
			     strerror(-err));
			break;
		}
		off += (uint32_t)n;
	}
	/* what the device took */
	if (precopy) {
		__atomic_add_fetch(&d->precopy_bytes, off, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&d->stopcopy_bytes, off, __ATOMIC_RELAXED);
		__atomic_add_fetch(&d->stopcopy_usec, now_usec() - t0, __ATOMIC_RELAXED);
	}
	return err;
}

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct writers *ws = w->ws;

	for (;;) {
		struct wchunk *c;
		int err;

		pthread_mutex_lock(&ws->lock);
		while (!w->head && !ws->closing)
			pthread_cond_wait(&w->wake, &ws->lock);
		c = w->head;
		if (c) {
			w->head = c->next;
			if (!w->head)
				w->tail = NULL;
		}
		pthread_mutex_unlock(&ws->lock);
		if (!c)
			break; /* closing, and nothing left */

		err = write_chunk(ws->j, w->dev, c->bytes, c->len, c->offset, c->precopy);
		pthread_mutex_lock(&ws->lock);
		if (err < 0 && ws->bad_dev < 0)
			ws->bad_dev = (int)w->dev;
		ws->queued -= c->len;
		c->next = ws->spare;
		ws->spare = c;
		pthread_cond_broadcast(&ws->room);
		pthread_mutex_unlock(&ws->lock);
	}
	return NULL;
}

static int writers_start(struct writers *ws, struct job *j, size_t n)
{
	*ws = (struct writers){ .j = j, .n = n, .bad_dev = -1 };
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->room, NULL);
	/* One device: written inline.  A thread would overlap reading and writing,
	 * but costs a copy, and on a small host competes with the sender; measured in
	 * bench/, it lost on fast devices. */
	if (n == 1)
		return 0;
	ws->threaded = true;
	j->locked_mode = true; /* fail() from several threads */
	for (size_t i = 0; i < n; i++) {
		struct writer *w = &ws->w[i];

		w->ws = ws;
		w->dev = i;
		pthread_cond_init(&w->wake, NULL);
		if (pthread_create(&w->th, NULL, writer_thread, w) != 0)
			return fail(j, -EAGAIN, "cannot start a writer thread for %s",
				    vfm_device_name(j->set.dev[i]));
		w->started = true;
	}
	return 0;
}

/* Queue a copy of a DATA record's bytes for its device; waits for room. */
static int writers_push(struct writers *ws, const struct vfm_record *rec)
{
	struct writer *w = &ws->w[rec->data.dev];
	uint32_t len = rec->data.len;
	struct wchunk *c;
	size_t budget;

	if (!ws->threaded) {
		int err = write_chunk(ws->j, rec->data.dev, rec->data.bytes, len,
				      rec->data.offset,
				      rec->data.phase == VFM_STREAM_PHASE_PRECOPY);

		if (err < 0 && ws->bad_dev < 0)
			ws->bad_dev = rec->data.dev;
		return err;
	}
	budget = MIN((size_t)WRITE_BUDGET_MAX, 8 * ws->n * (size_t)len);
	pthread_mutex_lock(&ws->lock);
	while (ws->queued > 0 && ws->queued + len > budget &&
	       !__atomic_load_n(&ws->j->rep->error, __ATOMIC_RELAXED))
		pthread_cond_wait(&ws->room, &ws->lock);
	c = ws->spare;
	if (c)
		ws->spare = c->next;
	pthread_mutex_unlock(&ws->lock);
	if (c && c->cap < len) {
		free(c);
		c = NULL;
	}
	if (!c) {
		/* a source's chunk size is the same for the whole stream */
		c = malloc(sizeof(*c) + len);
		if (!c)
			return fail(ws->j, -ENOMEM, "out of memory");
		c->cap = len;
	}
	c->next = NULL;
	c->offset = rec->data.offset;
	c->len = len;
	c->precopy = rec->data.phase == VFM_STREAM_PHASE_PRECOPY;
	memcpy(c->bytes, rec->data.bytes, len);
	pthread_mutex_lock(&ws->lock);
	if (w->tail)
		w->tail->next = c;
	else
		w->head = c;
	w->tail = c;
	ws->queued += c->len;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&ws->lock);
	return 0;
}

/* Let the writers finish what is queued (or drop it after a failure) and stop.
 * Returns the index of the device whose write failed first, or -1. */
static int writers_stop(struct writers *ws)
{
	if (!ws->threaded) {
		pthread_cond_destroy(&ws->room);
		pthread_mutex_destroy(&ws->lock);
		return ws->bad_dev;
	}
	pthread_mutex_lock(&ws->lock);
	ws->closing = true;
	for (size_t i = 0; i < ws->n; i++)
		pthread_cond_signal(&ws->w[i].wake);
	pthread_mutex_unlock(&ws->lock);
	for (size_t i = 0; i < ws->n; i++) {
		struct writer *w = &ws->w[i];

		if (w->started)
			pthread_join(w->th, NULL);
		while (w->head) { /* a writer that never started */
			struct wchunk *c = w->head;

			w->head = c->next;
			free(c);
		}
		pthread_cond_destroy(&w->wake);
	}
	while (ws->spare) {
		struct wchunk *c = ws->spare;

		ws->spare = c->next;
		free(c);
	}
	pthread_cond_destroy(&ws->room);
	pthread_mutex_destroy(&ws->lock);
	ws->j->locked_mode = false;
	return ws->bad_dev;
}

/* Why a stream read failed: the reader's sentence, else the error's text. */
static const char *reader_why(const struct vfm_stream_reader *r, int err)
{
	return *vfm_stream_reader_error(r) ? vfm_stream_reader_error(r) : strerror(-err);
}

/* Wait for the destination's first answer: COMPAT, or an early VERDICT (failure). */
static int read_compat(struct job *j, struct vfm_stream_reader *rr)
{
	struct vfm_record rec;
	int t = vfm_stream_read(rr, &rec);

	if (t < 0)
		return fail(j, t, "no compatibility answer from %s: %s", peer(j),
			    t == -ETIMEDOUT ? "timed out" : reader_why(rr, t));
	if (t == 0)
		return fail(j, -ECONNRESET, "%s closed the connection before answering", peer(j));
	if (t == VFM_STREAM_VERDICT)
		return fail(j, -(int)(rec.verdict.status ? rec.verdict.status : EPROTO),
			    "destination %s refused: %s", peer(j), rec.verdict.reason);
	for (size_t i = 0; i < rec.compat->n_devices; i++)
		if (rec.compat->dev[i].code != VFM_COMPAT_OK)
			return fail(j, -EREMOTEIO,
				    "destination %s: device %zu (%s here) is not compatible: %s",
				    peer(j), i, vfm_device_name(j->set.dev[i]),
				    rec.compat->dev[i].reason);
	return 0;
}

static int read_verdict(struct job *j, struct vfm_stream_reader *rr)
{
	struct vfm_record rec;
	int t = vfm_stream_read(rr, &rec);

	if (t < 0)
		return fail(j, t, "no verdict from %s: %s", peer(j),
			    t == -ETIMEDOUT ? "timed out" : reader_why(rr, t));
	if (t != VFM_STREAM_VERDICT)
		return fail(j, -ECONNRESET, "%s closed the connection without a verdict", peer(j));
	if (rec.verdict.status) {
		if (rec.verdict.dev != VFM_STREAM_NO_DEVICE && rec.verdict.dev < j->set.n)
			return fail(j, -(int)rec.verdict.status,
				    "destination %s failed to load device %u (%s here): %s",
				    peer(j), rec.verdict.dev,
				    vfm_device_name(j->set.dev[rec.verdict.dev]),
				    rec.verdict.reason);
		return fail(j, -(int)rec.verdict.status, "destination %s failed: %s", peer(j),
			    rec.verdict.reason);
	}
	return 0;
}

static int precopy_rounds(struct job *j, const struct vfm_save_opts *o, uint64_t *offsets)
{
	uint64_t t0 = now_usec();

	for (;;) {
		uint64_t initial = 0, dirty = 0, moved = j->rep->total_bytes;
		bool any = false, want[VFM_SET_MAX] = { false };
		int r;

		for (size_t i = 0; i < j->set.n; i++) {
			enum vfm_state st;

			want[i] = vfm_device_get_state(j->set.dev[i], &st) == 0 &&
				  st == VFM_STATE_PRE_COPY;
			any |= want[i];
		}
		r = stream_all(j, offsets, true, want);
		if (r < 0)
			return r;
		for (size_t i = 0; i < j->set.n; i++) {
			uint64_t in, di;

			if (!want[i])
				continue;
			r = vfm_device_get_precopy_info(j->set.dev[i], &in, &di);
			if (r < 0)
				return fail(j, r, "%s: precopy info: %s",
					    vfm_device_name(j->set.dev[i]), strerror(-r));
			initial += in;
			dirty += di;
		}
		j->rep->precopy_rounds++;
		if (!any)
			break;
		if (initial == 0 && dirty <= o->dirty_threshold)
			break;
		if (o->precopy_max_rounds && j->rep->precopy_rounds >= o->precopy_max_rounds)
			break;
		if (o->precopy_max_usec && now_usec() - t0 >= o->precopy_max_usec)
			break;
		/* Nothing came although the driver says some is pending: give it a moment
		 * rather than spin. */
		if (j->rep->total_bytes == moved)
			usleep(1000);
	}
	j->rep->precopy_usec = now_usec() - t0;
	return 0;
}

int vfm_save(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
	     const struct vfm_save_opts *opts, struct vfm_job_report *rep)
{
	struct vfm_save_opts defaults;
	const struct vfm_save_opts *o = opts;
	_cleanup_free_ struct vfm_stream_header *hdr = NULL;
	struct vfm_stream_reader *rr = NULL;
	struct job j = { 0 };
	uint64_t offsets[VFM_SET_MAX] = { 0 }, t_quiesce = 0;
	bool two_way, use_precopy = false, touched = false, has_vf[VFM_SET_MAX] = { false };
	uint8_t vf_wire[VFM_SET_MAX][VFM_VF_CONFIG_WIRE_SIZE];
	size_t failed = 0;
	struct vfm_record rec;
	int r;

	if (!o) {
		vfm_save_opts_init(&defaults);
		o = &defaults;
	}
	j.progress = o->progress;
	j.progress_userdata = o->progress_userdata;
	j.cancel_fd = o->cancel_fd;
	j.arc_fn = o->on_arc;
	j.arc_userdata = o->arc_userdata;
	r = job_init(&j, rep, ep, o->chunk_size);
	if (r < 0)
		goto out;
	if (n == 0 || n > VFM_SET_MAX) {
		r = fail(&j, -EINVAL, "between 1 and %d devices", VFM_SET_MAX);
		goto out;
	}
	rep->n = n;
	r = vfm_set_init(&j.set, devs, n, &failed);
	if (r < 0) {
		r = fail(&j, r, "%s: %s", vfm_device_name(devs[failed]),
			 r == -ENOTTY ? "the driver does not support migration" : strerror(-r));
		goto out;
	}
	j.set.on_arc = on_set_arc;
	j.set.userdata = &j;
	if (n > 1 && !vfm_set_all_p2p(&j.set) && !o->force) {
		for (failed = 0; failed < n && (j.set.flags[failed] & VFM_MIG_P2P); failed++)
			;
		r = fail(&j, -EOPNOTSUPP,
			 "%s lacks P2P: several devices can only be stopped safely when all have "
			 "it (--force to migrate anyway)",
			 vfm_device_name(devs[failed]));
		goto out;
	}

	/* 0: the VF network settings that travel with each device, read before
	 * anything is sent so that a failure touches nothing. */
	for (size_t i = 0; i < n; i++) {
		struct vfm_vf_ref ref;
		struct vfm_vf_config cfg;
		char why[VFM_NET_WHY_MAX] = "";

		if (o->no_vf_config) {
			vf_status(&rep->dev[i], "skipped (--no-vf-config)", 0);
			continue;
		}
		r = vf_ref_for(devs[i], &ref, why, sizeof(why));
		if (r >= 0)
			r = vfm_vf_config_capture_ref(vfm_device_ctx(devs[i]), &ref, &cfg, why,
						      sizeof(why));
		if (r == -ENODEV) {
			vf_status(&rep->dev[i], "none (not a network VF)", 0);
			continue;
		}
		if (r >= 0)
			r = vfm_vf_config_encode(&cfg, vf_wire[i]);
		if (r < 0) {
			r = fail(&j, r,
				 "%s: reading its VF network settings: %s (--no-vf-config to "
				 "skip)",
				 vfm_device_name(devs[i]), why[0] ? why : strerror(-r));
			goto out;
		}
		has_vf[i] = true;
		vf_status(&rep->dev[i], "sent", cfg.have);
	}

	/* 1: the header, with every device's identity. */
	set_phase(&j, VFM_JOB_HEADER);
	hdr = calloc(1, sizeof(*hdr));
	if (!hdr) {
		r = fail(&j, -ENOMEM, "out of memory");
		goto out;
	}
	if (getrandom(&hdr->stream_id, sizeof(hdr->stream_id), GRND_NONBLOCK) !=
	    sizeof(hdr->stream_id))
		hdr->stream_id = now_usec() ^ ((uint64_t)getpid() << 32);
	rep->stream_id = hdr->stream_id;
	hdr->n_devices = (uint16_t)n;
	for (size_t i = 0; i < n; i++) {
		const struct vfm_device_identity *id = vfm_device_identity(devs[i]);
		struct vfm_stream_devdesc *d = &hdr->dev[i];
		uint64_t size;

		d->mig_flags = flags_to_stream(j.set.flags[i]);
		d->vendor = id->vendor;
		d->device = id->device;
		d->subsystem_vendor = id->subsystem_vendor;
		d->subsystem_device = id->subsystem_device;
		d->revision = id->revision;
		d->data_size = vfm_device_get_data_size(devs[i], &size) >= 0
				       ? size
				       : VFM_STREAM_SIZE_UNKNOWN;
		d->kind = (uint16_t)kind_to_stream(id->kind);
		strcopy(d->driver, sizeof(d->driver), id->driver);
		strcopy(d->mdev_type, sizeof(d->mdev_type), id->mdev_type);
		strcopy(d->name, sizeof(d->name), id->name);
		strcopy(rep->dev[i].name, sizeof(rep->dev[i].name), id->name);
		rep->dev[i].estimate = d->data_size;
		if (has_vf[i])
			d->dev_flags |= VFM_STREAM_DEV_VF_CONFIG;
		if (o->precopy && (j.set.flags[i] & VFM_MIG_PRE_COPY))
			use_precopy = true;
	}
	if (use_precopy)
		hdr->flags |= VFM_STREAM_F_PRECOPY;
	rec = (struct vfm_record){ .type = VFM_STREAM_HEADER, .header = hdr };
	r = send_preamble(&j);
	if (r >= 0)
		r = send_record(&j, &rec);
	if (r < 0) {
		r = fail(&j, r, "sending the header to %s: %s", peer(&j), strerror(-r));
		goto out;
	}

	/* 2: a two-way peer says whether its devices can take this, before any stops. */
	two_way = vfm_endpoint_is_two_way(ep);
	if (two_way) {
		set_phase(&j, VFM_JOB_COMPAT);
		r = vfm_stream_reader_new(VFM_STREAM_TO_SOURCE, (unsigned)n, ep_read_fn, ep, &rr);
		if (r < 0) {
			r = fail(&j, r, "out of memory");
			goto out;
		}
		r = read_compat(&j, rr);
		if (r < 0)
			goto out; /* no device was touched */
	}

	/* 2b: the VF network settings, before any data. */
	for (size_t i = 0; i < n; i++) {
		if (!has_vf[i])
			continue;
		rec = (struct vfm_record){ .type = VFM_STREAM_VF_CONFIG,
					   .vf_config = { .dev = (uint16_t)i,
							  .bytes = vf_wire[i],
							  .len = VFM_VF_CONFIG_WIRE_SIZE } };
		r = send_record(&j, &rec);
		if (r < 0) {
			r = fail(&j, r, "sending to %s: %s", peer(&j), strerror(-r));
			goto out;
		}
	}

	/* 3: precopy while the devices run. */
	touched = true;
	if (use_precopy) {
		set_phase(&j, VFM_JOB_PRECOPY);
		r = phase_or_fail(&j, VFM_PHASE_PRECOPY);
		if (r >= 0)
			r = precopy_rounds(&j, o, offsets);
		if (r < 0)
			goto rollback;
	}

	/* 4: quiesce every device (a barrier), then let the VMM stop its vCPUs. */
	set_phase(&j, VFM_JOB_QUIESCE);
	t_quiesce = now_usec();
	r = phase_or_fail(&j, VFM_PHASE_QUIESCE);
	if (r < 0)
		goto rollback;
	if (o->on_quiesced) {
		char why[256] = "";

		if (o->on_quiesced(o->hook_userdata, why, sizeof(why)) != 0) {
			r = fail(&j, -ECANCELED, "the quiesced hook failed%s%s", why[0] ? ": " : "",
				 why);
			goto rollback;
		}
	}
	if (cancelled(&j)) {
		r = fail(&j, -ECANCELED, "cancelled");
		goto rollback;
	}

	/* 5: stop every device and stream the rest. */
	set_phase(&j, VFM_JOB_STOP_COPY);
	r = phase_or_fail(&j, VFM_PHASE_STOP_COPY);
	if (r < 0)
		goto rollback;
	{
		bool all[VFM_SET_MAX];

		for (size_t i = 0; i < n; i++)
			all[i] = true;
		r = stream_all(&j, offsets, false, all);
	}
	if (r < 0)
		goto rollback;
	rec = (struct vfm_record){ .type = VFM_STREAM_END,
				   .end = { .n_devices = (uint16_t)n,
					    .total = rep->total_bytes } };
	r = send_record(&j, &rec);
	if (r < 0) {
		r = fail(&j, r, "sending to %s: %s", peer(&j), strerror(-r));
		goto rollback;
	}

	/* 6: the verdict (two-way), or the stream safely written (one-way). */
	set_phase(&j, VFM_JOB_VERDICT);
	if (two_way) {
		r = vfm_endpoint_shutdown_write(ep);
		if (r < 0) {
			r = fail(&j, r, "finishing the stream to %s: %s", peer(&j), strerror(-r));
			goto rollback;
		}
		r = read_verdict(&j, rr);
	} else {
		/* fsync'ed and closed: success only for data the disk (or pipe) has */
		r = vfm_endpoint_shutdown_write(ep);
		if (r < 0)
			r = fail(&j, r, "finishing %s: %s", peer(&j), strerror(-r));
	}
	if (r < 0)
		goto rollback;
	rep->downtime_usec = now_usec() - t_quiesce;

	/* The state lives at the destination now: leave the devices stopped.  Not
	 * reaching STOP only keeps a finished session open; it is not a failure. */
	(void)vfm_set_phase(&j.set, VFM_PHASE_STOP, NULL);
	set_phase(&j, VFM_JOB_DONE);
	r = 0;
	goto out;

rollback:
	if (t_quiesce)
		rep->downtime_usec = now_usec() - t_quiesce;
	/* Tell the destination, when the connection still works, so it resets now. */
	rec = (struct vfm_record){ .type = VFM_STREAM_ABORT,
				   .abort = { .error = (uint32_t)-r, .reason = rep->message } };
	/* A cancel still shows on the cancel fd: telling the peer must not be
	 * cancelled too, only bounded in time. */
	vfm_endpoint_set_cancel_fd(ep, -1);
	vfm_endpoint_set_timeout(ep, 2000);
	if (r != -EPIPE && r != -ECONNRESET)
		(void)send_record(&j, &rec);
	/* A write error may hide the destination's reason: look for its verdict. */
	if (two_way && rr && (r == -EPIPE || r == -ECONNRESET)) {
		char saved[sizeof(rep->message)];
		int saved_err = rep->error;

		memcpy(saved, rep->message, sizeof(saved));
		vfm_endpoint_set_timeout(ep, 2000);
		rep->error = 0;
		if (read_verdict(&j, rr) >= 0 || rep->error == -ECONNRESET ||
		    rep->error == -ETIMEDOUT || strstr(rep->message, "no verdict")) {
			rep->error = saved_err;
			memcpy(rep->message, saved, sizeof(saved));
		}
	}
out:
	if (touched && r < 0) {
		int rb;

		rb = vfm_set_rollback(&j.set);
		rep->rolled_back = true;
		rep->devices_left_running = rb >= 0;
		if (rb < 0) {
			size_t len = strlen(rep->message);

			snprintf(rep->message + len, sizeof(rep->message) - len,
				 "; rollback incomplete: %s", strerror(-rb));
		}
	} else if (r < 0) {
		rep->devices_left_running = true; /* untouched */
	}
	vfm_stream_reader_free(rr);
	job_done(&j);
	return r;
}

/* ---- restore ---- */

static bool str_differs(const char *a, const char *b)
{
	return a[0] && b[0] && strcmp(a, b) != 0;
}

static uint32_t compat_check(const struct vfm_stream_devdesc *d,
			     const struct vfm_device_identity *id, uint32_t flags, bool several,
			     bool skip_ids, char *why, size_t size)
{
	uint32_t want = VFM_STREAM_MIG_STOP_COPY | (several ? (d->mig_flags & VFM_STREAM_MIG_P2P) : 0);
	uint32_t have = flags_to_stream(flags);

	if (!skip_ids) {
		if ((d->vendor >= 0 && id->vendor >= 0 && d->vendor != id->vendor) ||
		    (d->device >= 0 && id->device >= 0 && d->device != id->device)) {
			snprintf(why, size, "source %04x:%04x, destination %04x:%04x",
				 (unsigned)d->vendor, (unsigned)d->device, (unsigned)id->vendor,
				 (unsigned)id->device);
			return VFM_COMPAT_ID;
		}
		if ((d->subsystem_vendor >= 0 && id->subsystem_vendor >= 0 &&
		     d->subsystem_vendor != id->subsystem_vendor) ||
		    (d->subsystem_device >= 0 && id->subsystem_device >= 0 &&
		     d->subsystem_device != id->subsystem_device)) {
			snprintf(why, size, "source subsystem %04x:%04x, destination %04x:%04x",
				 (unsigned)d->subsystem_vendor, (unsigned)d->subsystem_device,
				 (unsigned)id->subsystem_vendor, (unsigned)id->subsystem_device);
			return VFM_COMPAT_SUBSYSTEM;
		}
		if (str_differs(d->driver, id->driver)) {
			snprintf(why, size, "source driver %.40s, destination %.40s", d->driver,
				 id->driver);
			return VFM_COMPAT_DRIVER;
		}
		if (str_differs(d->mdev_type, id->mdev_type)) {
			snprintf(why, size, "source mdev type '%.40s', destination '%.40s'",
				 d->mdev_type, id->mdev_type);
			return VFM_COMPAT_MDEV_TYPE;
		}
	}
	if ((have & want) != want) {
		snprintf(why, size, "destination %.60s lacks %s", id->name,
			 (want & ~have & VFM_STREAM_MIG_P2P) ? "P2P (several devices)" : "STOP_COPY");
		return VFM_COMPAT_FLAGS;
	}
	why[0] = '\0';
	return VFM_COMPAT_OK;
}

/* Send a failure verdict, then let the source see it before the connection closes. */
static void send_failure(struct job *j, bool two_way, uint16_t dev)
{
	struct vfm_record rec = {
		.type = VFM_STREAM_VERDICT,
		.verdict = { .status = (uint32_t)(j->rep->error ? -j->rep->error : EIO),
			     .dev = dev,
			     .reason = j->rep->message },
	};
	uint8_t drain[4096];

	if (!two_way)
		return;
	if (rec.verdict.status > VFM_STREAM_ERRNO_MAX)
		rec.verdict.status = EIO;
	/* As for ABORT: a cancel must not keep the reason from the source. */
	vfm_endpoint_set_cancel_fd(j->ep, -1);
	vfm_endpoint_set_timeout(j->ep, 2000);
	if (send_record(j, &rec) < 0)
		return;
	if (vfm_endpoint_shutdown_write(j->ep) < 0)
		return;
	/* Read (and drop) what the source still sends, briefly, so that closing does
	 * not reset the connection under the verdict. */
	vfm_endpoint_set_timeout(j->ep, 2000);
	for (int i = 0; i < 4096; i++)
		if (vfm_endpoint_read(j->ep, drain, sizeof(drain)) <= 0)
			break;
}

int vfm_restore(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		const struct vfm_restore_opts *opts, struct vfm_job_report *rep)
{
	struct vfm_restore_opts defaults;
	const struct vfm_restore_opts *o = opts;
	_cleanup_free_ struct vfm_stream_compat *compat = NULL;
	struct vfm_stream_reader *rd = NULL;
	const struct vfm_stream_header *hdr;
	struct vfm_device *order[VFM_SET_MAX];
	struct job j = { 0 };
	uint16_t bad_dev = VFM_STREAM_NO_DEVICE;
	bool two_way = vfm_endpoint_is_two_way(ep), touched = false, compatible = true;
	/* VF network settings: the destination VFs, what they had (to undo), what
	 * the stream brings, which were applied */
	_cleanup_free_ struct vfm_vf_ref *vf_ref = NULL;
	_cleanup_free_ struct vfm_vf_config *vf_orig = NULL, *vf_new = NULL;
	bool vf_want[VFM_SET_MAX] = { false }, vf_got[VFM_SET_MAX] = { false };
	bool vf_applied[VFM_SET_MAX] = { false };
	struct vfm_record rec;
	size_t failed = 0;
	int r, t;

	_cleanup_free_ struct writers *ws = calloc(1, sizeof(*ws));
	bool writing = false;

	if (!o) {
		vfm_restore_opts_init(&defaults);
		o = &defaults;
	}
	j.progress = o->progress;
	j.progress_userdata = o->progress_userdata;
	j.cancel_fd = o->cancel_fd;
	j.arc_fn = o->on_arc;
	j.arc_userdata = o->arc_userdata;
	r = job_init(&j, rep, ep, 0);
	if (r < 0)
		goto out;
	if (n == 0 || n > VFM_SET_MAX) {
		r = fail(&j, -EINVAL, "between 1 and %d devices", VFM_SET_MAX);
		goto out;
	}
	rep->n = n;

	/* 1: the header. */
	set_phase(&j, VFM_JOB_HEADER);
	r = vfm_stream_reader_new(VFM_STREAM_TO_DESTINATION, 0, ep_read_fn, ep, &rd);
	if (r < 0) {
		r = fail(&j, r, "out of memory");
		goto out;
	}
	t = vfm_stream_read(rd, &rec);
	if (t <= 0) {
		r = fail(&j, t < 0 ? t : -EPROTO, "reading the stream from %s: %s", peer(&j),
			 t == 0 ? "empty stream" : reader_why(rd, t));
		goto out;
	}
	hdr = rec.header;
	rep->stream_id = hdr->stream_id;

	/* 2: compatibility, before touching any device. */
	set_phase(&j, VFM_JOB_COMPAT);
	compat = calloc(1, sizeof(*compat));
	if (!compat) {
		r = fail(&j, -ENOMEM, "out of memory");
		goto out;
	}
	compat->n_devices = hdr->n_devices;
	vf_ref = calloc(VFM_SET_MAX, sizeof(*vf_ref));
	vf_orig = calloc(VFM_SET_MAX, sizeof(*vf_orig));
	vf_new = calloc(VFM_SET_MAX, sizeof(*vf_new));
	if (!vf_ref || !vf_orig || !vf_new || !ws) {
		r = fail(&j, -ENOMEM, "out of memory");
		goto out;
	}
	if (hdr->n_devices != n) {
		for (size_t i = 0; i < hdr->n_devices; i++) {
			compat->dev[i].code = VFM_COMPAT_COUNT;
			snprintf(compat->dev[i].reason, sizeof(compat->dev[i].reason),
				 "the stream has %u devices, the destination %zu", hdr->n_devices,
				 n);
		}
		compatible = false;
		r = fail(&j, -EREMOTEIO, "the stream has %u devices, %zu given here",
			 hdr->n_devices, n);
	} else {
		for (size_t i = 0; i < n; i++) {
			unsigned k = o->map ? o->map[i] : (unsigned)i;

			if (k >= n) {
				r = fail(&j, -EINVAL, "mapping of device %zu out of range", i);
				goto out;
			}
			order[i] = devs[k];
		}
		r = vfm_set_init(&j.set, order, n, &failed);
		for (size_t i = 0; i < n; i++) {
			const struct vfm_device_identity *id = vfm_device_identity(order[i]);
			char *why = compat->dev[i].reason;

			strcopy(rep->dev[i].name, sizeof(rep->dev[i].name), id->name);
			rep->dev[i].estimate = hdr->dev[i].data_size;
			if (r < 0 && (i == failed || i > failed)) {
				compat->dev[i].code = VFM_COMPAT_OPEN;
				snprintf(why, VFM_STREAM_COMPAT_REASON_SIZE, "%.80s: %s", id->name,
					 i == failed && r == -ENOTTY ? "no migration support"
								     : "not prepared");
			} else {
				compat->dev[i].code = compat_check(&hdr->dev[i], id, j.set.flags[i],
								   n > 1, o->skip_compat_ids, why,
								   VFM_STREAM_COMPAT_REASON_SIZE);
			}
			if (compat->dev[i].code == VFM_COMPAT_OK &&
			    (hdr->dev[i].dev_flags & VFM_STREAM_DEV_VF_CONFIG)) {
				if (o->no_vf_config) {
					vf_status(&rep->dev[i], "ignored (--no-vf-config)", 0);
				} else {
					char nwhy[VFM_NET_WHY_MAX] = "";
					int q = vf_ref_for(order[i], &vf_ref[i], nwhy, sizeof(nwhy));

					if (q >= 0)
						q = vfm_vf_config_capture_ref(vfm_device_ctx(order[i]),
									      &vf_ref[i], &vf_orig[i],
									      nwhy, sizeof(nwhy));
					if (q < 0) {
						compat->dev[i].code = VFM_COMPAT_VF_CONFIG;
						snprintf(why, VFM_STREAM_COMPAT_REASON_SIZE,
							 "cannot take the VF network settings: "
							 "%.60s",
							 nwhy[0] ? nwhy : strerror(-q));
					} else {
						vf_want[i] = true;
					}
				}
			}
			if (compat->dev[i].code != VFM_COMPAT_OK && compatible) {
				compatible = false;
				bad_dev = (uint16_t)i;
				r = fail(&j, -EREMOTEIO,
					 "stream device %zu (%s at the source) does not fit %s: %s", i,
					 hdr->dev[i].name, id->name, why);
			}
		}
	}
	if (two_way) {
		uint8_t pre[VFM_STREAM_PREAMBLE_SIZE];
		int w;

		vfm_stream_encode_preamble(pre);
		rec = (struct vfm_record){ .type = VFM_STREAM_COMPAT, .compat = compat };
		w = vfm_endpoint_write_full(ep, pre, sizeof(pre));
		if (w >= 0)
			w = send_record(&j, &rec);
		if (w < 0 && compatible) {
			r = fail(&j, w, "answering %s: %s", peer(&j), strerror(-w));
			goto out;
		}
	}
	if (!compatible)
		goto out; /* no device was touched */
	j.set.on_arc = on_set_arc;
	j.set.userdata = &j;

	/* 3: every device to RESUMING, then the data, each chunk's CRC checked by the
	 * reader before its bytes reach a device. */
	set_phase(&j, VFM_JOB_RESUMING);
	touched = true;
	r = phase_or_fail(&j, VFM_PHASE_RESUMING);
	if (r < 0)
		goto fail_verdict;
	r = writers_start(ws, &j, n);
	writing = true;
	if (r < 0)
		goto stop_writers;
	for (;;) {
		r = __atomic_load_n(&j.rep->error, __ATOMIC_RELAXED);
		if (r < 0) /* a writer failed */
			goto stop_writers;
		if (cancelled(&j)) {
			r = fail(&j, -ECANCELED, "cancelled");
			goto stop_writers;
		}
		t = vfm_stream_read(rd, &rec);
		if (t <= 0) {
			r = fail(&j, t < 0 ? t : -EPROTO, "stream from %s: %s", peer(&j),
				 t == 0 ? "ended before its END record" : reader_why(rd, t));
			goto stop_writers;
		}
		if (t == VFM_STREAM_END)
			break;
		if (t == VFM_STREAM_ABORT) {
			r = fail(&j, -(int)(rec.abort.error ? rec.abort.error : ECONNABORTED),
				 "the source gave up: %s", rec.abort.reason);
			two_way = false; /* it is not listening for a verdict */
			goto stop_writers;
		}
		if (t == VFM_STREAM_VF_CONFIG) {
			char nwhy[VFM_NET_WHY_MAX] = "";
			uint16_t k = rec.vf_config.dev;

			if (!vf_want[k])
				continue; /* --no-vf-config */
			r = vfm_vf_config_decode(rec.vf_config.bytes, rec.vf_config.len,
						 &vf_new[k], nwhy, sizeof(nwhy));
			if (r < 0) {
				bad_dev = k;
				r = fail(&j, r, "VF network settings of stream device %u: %s", k,
					 nwhy);
				goto stop_writers;
			}
			vf_got[k] = true;
			continue;
		}
		if (t != VFM_STREAM_DATA)
			continue;
		r = writers_push(ws, &rec);
		if (r < 0)
			goto stop_writers;
		rep->total_bytes += rec.data.len;
		tick(&j);
	}
	/* every chunk is in its device once the writers are done */
	writing = false;
	t = writers_stop(ws);
	if (j.rep->error) {
		r = j.rep->error;
		if (t >= 0)
			bad_dev = (uint16_t)t;
		goto fail_verdict;
	}

	/* 4: load (the driver validates on RESUMING -> STOP), then run, with the P2P
	 * barrier between. */
	set_phase(&j, VFM_JOB_LOAD);
	r = vfm_set_phase(&j.set, VFM_PHASE_STOP, &failed);
	if (r < 0) {
		bad_dev = (uint16_t)failed;
		r = fail(&j, r, "%s: RESUMING -> STOP: %s (the driver rejected the migration data)",
			 vfm_device_name(j.set.dev[failed]), strerror(-r));
		goto fail_verdict;
	}
	/* The VFs' network settings, once every device has loaded and before any
	 * runs (a VF must come up with its MAC and VLAN). */
	for (size_t i = 0; i < n; i++) {
		char nwhy[VFM_NET_WHY_MAX] = "";
		uint32_t changed = 0;

		if (!vf_want[i])
			continue;
		if (!vf_got[i]) {
			bad_dev = (uint16_t)i;
			r = fail(&j, -EPROTO,
				 "the stream announced VF network settings for device %zu but "
				 "sent none",
				 i);
			goto undo_vf;
		}
		r = vf_apply(o, j.set.dev[i], &vf_ref[i], &vf_new[i], &changed, nwhy,
			     sizeof(nwhy));
		vf_applied[i] = true;
		if (r < 0) {
			bad_dev = (uint16_t)i;
			r = fail(&j, r, "%s: applying the VF network settings: %s",
				 vfm_device_name(j.set.dev[i]), nwhy);
			goto undo_vf;
		}
		vf_status(&rep->dev[i], changed ? "applied" : "applied (already set)", changed);
	}
	r = phase_or_fail(&j, VFM_PHASE_UNQUIESCE);
	if (r >= 0)
		r = phase_or_fail(&j, VFM_PHASE_RUN);
	if (r < 0)
		goto undo_vf;

	/* 5: the verdict. */
	set_phase(&j, VFM_JOB_VERDICT);
	if (two_way) {
		rec = (struct vfm_record){ .type = VFM_STREAM_VERDICT,
					   .verdict = { .status = 0,
							.dev = VFM_STREAM_NO_DEVICE,
							.reason = "" } };
		r = send_record(&j, &rec);
		if (r >= 0)
			r = vfm_endpoint_shutdown_write(ep);
		if (r < 0) {
			/* The devices run with the state, but the source cannot know: it
			 * will resume its own copy.  Say so. */
			r = fail(&j, r,
				 "devices loaded, but the verdict could not reach %s (%s): the "
				 "source will resume its devices",
				 peer(&j), strerror(-r));
			goto fail_verdict;
		}
	}
	set_phase(&j, VFM_JOB_DONE);
	r = 0;
	goto out;

stop_writers:
	if (writing) {
		writing = false;
		t = writers_stop(ws);
		if (t >= 0 && bad_dev == VFM_STREAM_NO_DEVICE)
			bad_dev = (uint16_t)t;
	}
	goto fail_verdict;

undo_vf:
	/* Put back what the destination VFs had: the source keeps its device. */
	for (size_t i = 0; i < n; i++)
		if (vf_applied[i]) {
			char nwhy[VFM_NET_WHY_MAX];

			(void)vf_apply(o, j.set.dev[i], &vf_ref[i], &vf_orig[i], NULL, nwhy,
				       sizeof(nwhy));
		}
fail_verdict:
	send_failure(&j, two_way, bad_dev);
out:
	if (r < 0 && touched) {
		for (size_t i = 0; i < j.set.n; i++)
			(void)vfm_device_reset(j.set.dev[i]);
		rep->rolled_back = true;
	}
	vfm_stream_reader_free(rd);
	job_done(&j);
	return r;
}
