// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The data pipelines: save's device readers (one thread per device, chunks sent as
 * DATA records) and restore's device writers (one thread per device, fed in stream
 * order).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "job-internal.h"
#include "transport.h"
#include "util.h"

/*
 * Reads and writes are "slow" below this many bytes a microsecond (MB/s), once
 * SLOW_CHUNKS chunks of 64 KiB or more were: see job_stream_all() and writers_push().
 */
#define SLOW_MBPS   500
#define SLOW_CHUNKS 2

/* Whether a transfer of @len bytes that took @usec counts as slow. */
static bool slow_chunk(size_t len, uint64_t usec)
{
	return len >= 65536 && usec * SLOW_MBPS > len;
}

/*
 * Read what the device has now and send it as DATA records.  STOP_COPY: until the
 * permanent end (0).  PRE_COPY: until nothing is pending (ENOMSG; some drivers, mtty
 * among them, return 0 there instead).  Returns 1 when j->watch_reads is set and the
 * reads turned slow: the chunk read last is sent, the rest of the device is not read
 * yet (*@offset says where it stands).
 */
static int stream_device_buf(struct job *j, size_t i, bool precopy, uint64_t *offset,
			     uint8_t *buf)
{
	struct vfm_device *dev = j->set.dev[i];
	struct vfm_job_dev *d = &j->rep->dev[i];
	uint8_t *payload = buf + VFM_STREAM_DATA_PREFIX_SIZE;
	uint64_t t0 = now_usec();

	/* the device the job's thread handed over: one read span, begun there */
	if (!j->watch_reads && j->threaded_reads) {
		pthread_mutex_lock(&j->lock);
		if (j->handed_t0 && j->handed_dev == i) {
			t0 = j->handed_t0;
			j->handed_t0 = 0;
		}
		pthread_mutex_unlock(&j->lock);
	}

	for (;;) {
		uint64_t t_read;
		ssize_t n;
		int r;

		if (job_cancelled(j))
			return job_fail(j, -ECANCELED, "cancelled");
		if (j->locked_mode && __atomic_load_n(&j->rep->error, __ATOMIC_RELAXED))
			return j->rep->error; /* another device failed: stop too */
		if (j->streams) { /* a buffer of the data connections' queue */
			buf = job_streams_buf(j);
			if (!buf)
				return j->rep->error;
			payload = buf + VFM_STREAM_DATA_PREFIX_SIZE;
		}
		t_read = j->watch_reads ? now_usec() : 0;
		n = vfm_device_read(dev, payload, j->chunk);
		if (j->watch_reads && n > 0 && slow_chunk((size_t)n, now_usec() - t_read))
			j->slow_reads++;
		if (n <= 0 && j->streams)
			job_streams_put(j, buf);
		if (n == -ENOMSG || (n == 0 && precopy))
			break;
		if (n < 0)
			return job_fail(j, (int)n, "%s: reading %s data at offset %llu: %s",
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
		if (r >= 0 && j->streams) {
			r = job_streams_push(j, buf,
					     VFM_STREAM_DATA_PREFIX_SIZE + (size_t)n +
						     VFM_STREAM_CRC_SIZE,
					     (uint16_t)i, (uint32_t)n);
		} else if (r < 0 && j->streams) {
			job_streams_put(j, buf);
		} else if (r >= 0) {
			if (j->locked_mode)
				pthread_mutex_lock(&j->lock);
			r = vfm_endpoint_write_full(j->ep, buf,
						    VFM_STREAM_DATA_PREFIX_SIZE + (size_t)n +
							    VFM_STREAM_CRC_SIZE);
			if (r >= 0) {
				j->rep->total_bytes += (uint64_t)n;
				job_tick(j);
			}
			if (j->locked_mode)
				pthread_mutex_unlock(&j->lock);
		}
		if (r < 0 && j->streams) /* a sender failed, and said why */
			return j->rep->error ? j->rep->error : job_fail(j, r, "queueing data");
		if (r < 0)
			return job_fail(j, r, "sending %s data to %s: %s", vfm_device_name(dev),
				    job_peer(j), strerror(-r));
		*offset += (uint64_t)n;
		if (precopy)
			d->precopy_bytes += (uint64_t)n;
		else
			d->stopcopy_bytes += (uint64_t)n;
		job_bytes_event(j, i);
		if (j->watch_reads && j->slow_reads >= SLOW_CHUNKS) {
			j->handed_t0 = t0;
			j->handed_dev = i;
			return 1; /* its span and time go on in its thread */
		}
	}
	if (!precopy)
		d->stopcopy_usec += now_usec() - t0;
	job_data_event(j, VFM_EVENT_READ, i, precopy, t0);
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

	if (j->streams)
		return 0; /* after the data connections' DONE (save_stop_copy()) */
	if (j->locked_mode)
		pthread_mutex_lock(&j->lock);
	r = job_send(j, &rec);
	if (j->locked_mode)
		pthread_mutex_unlock(&j->lock);
	if (r < 0)
		return job_fail(j, r, "sending to %s: %s", job_peer(j), strerror(-r));
	return 0;
}

/*
 * Several devices (stop-copy, and each precopy round).  They are read one after
 * another in the job's thread while their reads are fast: on a fast driver a thread
 * per device only adds switches, a lock on the stream and a chunk buffer each in the
 * cache (measured in bench/: 16 devices of 64 MiB each saved 15% faster in a third of
 * the memory, on 2 cores).  Once SLOW_CHUNKS chunks were read slower than SLOW_MBPS,
 * the device being read and those after it get one thread each (at most
 * STREAM_THREADS at once), each with its own chunk buffer, so that slow drivers
 * overlap; the stream interleaves their chunks.  The job keeps its threads from then
 * on.  One device is always read inline.
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
		job_fail(j, -ENOMEM, "out of memory");
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

/* Devices from @first on, in threads. */
static int stream_threaded(struct job *j, uint64_t *offsets, bool precopy,
			   const bool *want, size_t first)
{
	struct stream_worker w = { .j = j, .offsets = offsets, .precopy = precopy,
				   .want = want, .next = first };
	pthread_t th[STREAM_THREADS];
	size_t n_want = 0, nth, started = 0;
	bool was_locked = j->locked_mode; /* the data connections' senders run */

	for (size_t i = first; i < j->set.n; i++)
		n_want += want[i];
	if (n_want == 0)
		return 0;
	nth = MIN(n_want, (size_t)STREAM_THREADS);
	j->locked_mode = true;
	for (; started < nth; started++)
		if (pthread_create(&th[started], NULL, stream_thread, &w) != 0)
			break;
	if (started == 0) {
		j->locked_mode = was_locked;
		return job_fail(j, -EAGAIN, "cannot start threads");
	}
	for (size_t k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	j->locked_mode = was_locked;
	if (j->rep->error)
		return j->rep->error;
	if (w.next < j->set.n) /* fewer threads than wanted, and they stopped early */
		return job_fail(j, -EAGAIN, "%s stopped early", precopy ? "precopy" : "stop-copy");
	return 0;
}

int job_stream_all(struct job *j, uint64_t *offsets, bool precopy, const bool *want)
{
	size_t n_want = 0, i;
	int r = 0;

	for (i = 0; i < j->set.n; i++)
		n_want += want[i];
	if (n_want > 1 && j->threaded_reads)
		return stream_threaded(j, offsets, precopy, want, 0);
	j->watch_reads = n_want > 1;
	for (i = 0; i < j->set.n; i++) {
		if (!want[i])
			continue;
		r = stream_device(j, i, precopy, &offsets[i]);
		if (r == 1) /* slow: this device and the rest in threads */
			break;
		if (r >= 0 && !precopy)
			r = send_device_end(j, i, offsets[i]);
		if (r < 0)
			break;
	}
	j->watch_reads = false;
	if (r != 1)
		return r < 0 ? r : 0;
	j->threaded_reads = true;
	r = stream_threaded(j, offsets, precopy, want, i);
	j->handed_t0 = 0;
	return r;
}

/*
 * Restore writes: one writer thread per device, fed in stream order through a FIFO
 * of copied chunks, so that the devices load in parallel and the next chunk is read
 * from the peer (and its CRC checked) while the last is written; a chunk is the buffer
 * the stream reader read it into (no copy).  The chunks queued
 * for all devices together stay under eight chunks a device and WRITE_BUDGET_MAX
 * bytes (one record always fits).
 */
#define WRITE_BUDGET_MAX (32u << 20)

struct wchunk {
	struct wchunk *next;
	uint64_t offset;
	uint32_t len;
	bool precopy;
	const uint8_t *bytes; /* in buf */
	uint8_t *buf;	      /* a payload buffer taken from the stream reader */
	size_t cap;
};

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
	bool threaded;	      /* false: written by the caller (one device, or fast ones) */
	unsigned slow;	      /* chunks written inline slower than SLOW_MBPS */
	bool closing;     /* no more chunks: finish the queues and stop */
	int bad_dev;      /* the first device whose write failed, -1: none */
};

/*
 * A device takes at most this much per write: a peer's chunk may be 16 MiB, and a
 * driver that loads slowly holds the writing thread for the whole call, so a cancel
 * (or another device's failure) is noticed between pieces, within a piece's time
 * (0.26 s at 1 MB/s).  On a fast device a call per 256 KiB costs nothing measurable.
 */
#define WRITE_PIECE_MAX (256u << 10)

/* One chunk into device @i, whole, in pieces; after a cancel or a failure anywhere,
 * nothing more. */
int job_write_chunk(struct job *j, size_t i, const uint8_t *bytes, uint32_t len,
		    uint64_t offset, bool precopy)
{
	struct vfm_device *dev = j->set.dev[i];
	struct vfm_job_dev *d = &j->rep->dev[i];
	uint64_t t0 = now_usec();
	uint32_t off = 0;
	int err = 0;

	while (off < len && !__atomic_load_n(&j->rep->error, __ATOMIC_RELAXED)) {
		ssize_t n;

		if (job_cancelled(j)) {
			job_fail(j, -ECANCELED, "cancelled");
			err = -ECANCELED; /* not this device's failure */
			break;
		}
		n = vfm_device_write(dev, bytes + off, MIN(len - off, WRITE_PIECE_MAX));

		if (n <= 0) {
			err = n < 0 ? (int)n : -EIO;
			job_fail(j, err, "%s: writing migration data at offset %llu: %s",
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
	job_data_event(j, VFM_EVENT_WRITE, i, precopy, t0);
	return err;
}

struct writers *writers_new(void)
{
	return calloc(1, sizeof(struct writers));
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

		err = job_write_chunk(ws->j, w->dev, c->bytes, c->len, c->offset, c->precopy);
		pthread_mutex_lock(&ws->lock);
		if (err < 0 && err != -ECANCELED && ws->bad_dev < 0)
			ws->bad_dev = (int)w->dev;
		ws->queued -= c->len;
		c->next = ws->spare;
		ws->spare = c;
		pthread_cond_broadcast(&ws->room);
		pthread_mutex_unlock(&ws->lock);
	}
	return NULL;
}

/*
 * Writes start inline: a device that takes its state fast gains nothing from a thread
 * (the switches and the queue cost more; measured in bench/, 4 and 16 fast devices
 * restored 10-12% faster inline, in a third of the memory).  Once SLOW_CHUNKS chunks
 * of 64 KiB or more went in slower than SLOW_MBPS, each device gets its writer
 * thread from the next chunk on, so that slow drivers load in parallel.  Every chunk
 * before was written whole, so the order per device holds.  One device: always
 * inline.
 */
int writers_start(struct writers *ws, struct job *j, size_t n)
{
	*ws = (struct writers){ .j = j, .n = n, .bad_dev = -1 };
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->room, NULL);
	return 0;
}

static int writers_threads(struct writers *ws)
{
	struct job *j = ws->j;
	size_t n = ws->n;

	ws->threaded = true;
	j->locked_mode = true; /* job_fail() from several threads */
	for (size_t i = 0; i < n; i++) {
		struct writer *w = &ws->w[i];

		w->ws = ws;
		w->dev = i;
		pthread_cond_init(&w->wake, NULL);
		if (pthread_create(&w->th, NULL, writer_thread, w) != 0)
			return job_fail(j, -EAGAIN, "cannot start a writer thread for %s",
				    vfm_device_name(j->set.dev[i]));
		w->started = true;
	}
	return 0;
}

int writers_push(struct writers *ws, struct vfm_stream_reader *rd,
		 const struct vfm_record *rec)
{
	struct writer *w = &ws->w[rec->data.dev];
	uint32_t len = rec->data.len;
	struct wchunk *c;
	size_t budget;

	if (!ws->threaded) {
		uint64_t t0 = now_usec();
		int err = job_write_chunk(ws->j, rec->data.dev, rec->data.bytes, len,
				      rec->data.offset,
				      rec->data.phase == VFM_STREAM_PHASE_PRECOPY);

		if (err < 0 && err != -ECANCELED && ws->bad_dev < 0)
			ws->bad_dev = rec->data.dev;
		if (err >= 0 && ws->n > 1 && slow_chunk(len, now_usec() - t0) &&
		    ++ws->slow >= SLOW_CHUNKS)
			err = writers_threads(ws);
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
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return job_fail(ws->j, -ENOMEM, "out of memory");
	}
	/* No copy: the chunk keeps the buffer the reader read the record into, and the
	 * reader gets a written chunk's buffer back for the next records. */
	c->buf = vfm_stream_reader_swap_buf(rd, c->buf, c->cap, &c->cap);
	c->next = NULL;
	c->offset = rec->data.offset;
	c->len = len;
	c->precopy = rec->data.phase == VFM_STREAM_PHASE_PRECOPY;
	c->bytes = rec->data.bytes;
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

int writers_stop(struct writers *ws)
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
			free(c->buf);
			free(c);
		}
		pthread_cond_destroy(&w->wake);
	}
	while (ws->spare) {
		struct wchunk *c = ws->spare;

		ws->spare = c->next;
		free(c->buf);
		free(c);
	}
	pthread_cond_destroy(&ws->room);
	pthread_mutex_destroy(&ws->lock);
	ws->j->locked_mode = false;
	return ws->bad_dev;
}
