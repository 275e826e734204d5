// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Data connections (vfiomig-stream(5), DATA CONNECTIONS): the migration data spread
 * over several connections, the control records on the main one.
 *
 * Source: the device readers (pipeline.c) fill buffers of a small pool and queue
 * them, in the order they were read; one sender thread per connection takes the
 * next queued record and sends it whole.  So a connection's records are in queue
 * order, and so are each device's chunks.
 *
 * Destination: one reader thread per connection checks each record (CRC, bounds)
 * and writes a chunk into its device once every byte before it is in: a reader
 * whose chunk is early waits for the others.  That cannot deadlock: the earliest
 * queued chunk not yet written is at the head of its connection (whatever came
 * before it there was queued before it) and every byte of its device before it was
 * queued before it too, so it can always be written.  A reader that waits while
 * every other one waits or has finished waits for bytes that will never come: that
 * fails the job.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "job-internal.h"
#include "transport.h"
#include "util.h"

/* Connections that are not this migration's (a stranger, a retry of an old one)
 * dropped while the destination waits for its own, at most. */
#define STRAYS_MAX 8
/* Queued records' buffers: two a connection, within this many bytes. */
#define POOL_BYTES_MAX (64u << 20)

struct sbuf {
	struct sbuf *next;
	size_t len;
	uint16_t dev;
	uint32_t data; /* device bytes in it */
	uint8_t bytes[];
};

struct streams {
	struct job *j;
	unsigned n;
	struct vfm_endpoint *ep[VFM_STREAM_MAX_CONNECTIONS];
	struct vfm_stream_reader *rd[VFM_STREAM_MAX_CONNECTIONS];
	pthread_t th[VFM_STREAM_MAX_CONNECTIONS];
	unsigned started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a buffer queued or freed, a turn, the end, a failure */

	/* source */
	struct sbuf *free, *head, *tail;
	bool closing; /* nothing more will be queued */
	uint64_t bytes[VFM_STREAM_MAX_CONNECTIONS], records[VFM_STREAM_MAX_CONNECTIONS];

	/* destination */
	uint64_t next[VFM_SET_MAX];	/* each device's bytes written */
	uint64_t precopy[VFM_SET_MAX];	/* ...of which precopy */
	bool stopcopy[VFM_SET_MAX];	/* a stop-copy chunk was written */
	bool busy[VFM_SET_MAX];		/* a reader writes the chunk at next[] now */
	/* Readers: which ended; each waiter's view of the progress (gen counts
	 * chunks written and readers ended), UINT64_MAX when it does not wait. */
	uint64_t gen;
	uint64_t seen[VFM_STREAM_MAX_CONNECTIONS];
	bool ended[VFM_STREAM_MAX_CONNECTIONS];
};

static struct streams *streams_new(struct job *j)
{
	struct streams *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->j = j;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	return st;
}

static bool failed(const struct job *j)
{
	return __atomic_load_n(&j->rep->error, __ATOMIC_RELAXED) != 0;
}

/* Bytes moved: the report and progress, as pipeline.c counts them. */
static void count_bytes(struct job *j, uint32_t n)
{
	pthread_mutex_lock(&j->lock);
	j->rep->total_bytes += n;
	job_tick(j);
	pthread_mutex_unlock(&j->lock);
}

void job_streams_wake(struct job *j)
{
	struct streams *st = j->streams;

	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	/* A thread blocked on a connection returns at once. */
	for (unsigned k = 0; k < st->n; k++)
		if (st->ep[k] && vfm_endpoint_fd(st->ep[k]) >= 0)
			(void)shutdown(vfm_endpoint_fd(st->ep[k]), SHUT_RDWR);
}

static void join_threads(struct streams *st)
{
	for (unsigned k = 0; k < st->started; k++)
		pthread_join(st->th[k], NULL);
	st->started = 0;
}

void job_streams_free(struct job *j)
{
	struct streams *st = j->streams;

	if (!st)
		return;
	if (st->started) {
		pthread_mutex_lock(&st->lock);
		st->closing = true;
		pthread_mutex_unlock(&st->lock);
		job_streams_wake(j);
		join_threads(st);
	}
	for (unsigned k = 0; k < st->n; k++) {
		vfm_endpoint_free(st->ep[k]);
		vfm_stream_reader_free(st->rd[k]);
	}
	for (struct sbuf *b = st->free, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	for (struct sbuf *b = st->head, *next; b; b = next) { /* queued, never sent */
		next = b->next;
		free(b);
	}
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
	j->streams = NULL;
}

static void prepare_ep(struct job *j, struct vfm_endpoint *ep)
{
	vfm_endpoint_set_timeout(ep, j->timeout_ms);
	vfm_endpoint_set_cancel_fd(ep, j->cancel_fd);
}

/* ------------------------------------------------------------------------- */
/* source                                                                    */

static struct sbuf *to_sbuf(uint8_t *bytes)
{
	return (struct sbuf *)(bytes - offsetof(struct sbuf, bytes));
}

uint8_t *job_streams_buf(struct job *j)
{
	struct streams *st = j->streams;
	struct sbuf *b;

	pthread_mutex_lock(&st->lock);
	while (!st->free && !failed(j))
		pthread_cond_wait(&st->cond, &st->lock);
	b = failed(j) ? NULL : st->free;
	if (b)
		st->free = b->next;
	pthread_mutex_unlock(&st->lock);
	return b ? b->bytes : NULL;
}

void job_streams_put(struct job *j, uint8_t *buf)
{
	struct streams *st = j->streams;
	struct sbuf *b = to_sbuf(buf);

	pthread_mutex_lock(&st->lock);
	b->next = st->free;
	st->free = b;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

int job_streams_push(struct job *j, uint8_t *buf, size_t len, uint16_t dev, uint32_t data)
{
	struct streams *st = j->streams;
	struct sbuf *b = to_sbuf(buf);

	b->len = len;
	b->dev = dev;
	b->data = data;
	b->next = NULL;
	pthread_mutex_lock(&st->lock);
	if (st->tail)
		st->tail->next = b;
	else
		st->head = b;
	st->tail = b;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	return failed(j) ? j->rep->error : 0;
}

struct sender {
	struct streams *st;
	unsigned k;
};

static int send_done(struct streams *st, unsigned k)
{
	struct vfm_record rec = { .type = VFM_STREAM_DONE,
				  .done = { .bytes = st->bytes[k], .records = st->records[k] } };
	uint8_t buf[VFM_STREAM_DONE_SIZE + VFM_STREAM_RECORD_OVERHEAD];
	ssize_t n = vfm_stream_encode(&rec, buf, sizeof(buf));
	int r = n < 0 ? (int)n : vfm_endpoint_write_full(st->ep[k], buf, (size_t)n);

	return r < 0 ? r : vfm_endpoint_shutdown_write(st->ep[k]);
}

static void *sender_thread(void *arg)
{
	struct sender *s = arg;
	struct streams *st = s->st;
	struct job *j = st->j;
	unsigned k = s->k;

	free(s);
	for (;;) {
		struct sbuf *b;
		int r;

		pthread_mutex_lock(&st->lock);
		while (!st->head && !st->closing && !failed(j))
			pthread_cond_wait(&st->cond, &st->lock);
		b = failed(j) ? NULL : st->head;
		if (b) {
			st->head = b->next;
			if (!st->head)
				st->tail = NULL;
		}
		pthread_mutex_unlock(&st->lock);
		if (!b) {
			if (failed(j))
				break;
			r = send_done(st, k); /* closing, and the queue is empty */
			if (r < 0)
				job_fail(j, r, "ending data connection %u of %u to %s: %s", k + 1,
					 st->n, job_peer(j), strerror(-r));
			break;
		}
		r = vfm_endpoint_write_full(st->ep[k], b->bytes, b->len);
		if (r < 0) {
			job_fail(j, r, "sending %s data to %s over data connection %u of %u: %s",
				 vfm_device_name(j->set.dev[b->dev]), job_peer(j), k + 1, st->n,
				 strerror(-r));
			job_streams_put(j, b->bytes);
			break;
		}
		st->bytes[k] += b->data;
		st->records[k]++;
		count_bytes(j, b->data);
		job_streams_put(j, b->bytes);
	}
	return NULL;
}

static int say_join(struct job *j, struct vfm_endpoint *ep, unsigned k, unsigned count,
		    const uint8_t *token)
{
	uint8_t buf[VFM_STREAM_PREAMBLE_SIZE + VFM_STREAM_JOIN_SIZE +
		    VFM_STREAM_RECORD_OVERHEAD];
	struct vfm_record rec = { .type = VFM_STREAM_JOIN,
				  .join = { .stream_id = j->rep->stream_id,
					    .index = (uint16_t)k,
					    .count = (uint16_t)count,
					    .token = token } };
	ssize_t n;

	vfm_stream_encode_preamble_data(buf);
	n = vfm_stream_encode(&rec, buf + VFM_STREAM_PREAMBLE_SIZE,
			      sizeof(buf) - VFM_STREAM_PREAMBLE_SIZE);
	if (n < 0)
		return (int)n;
	return vfm_endpoint_write_full(ep, buf, VFM_STREAM_PREAMBLE_SIZE + (size_t)n);
}

int job_streams_open(struct job *j, unsigned count, vfm_stream_open_fn fn, void *userdata,
		     const uint8_t *token)
{
	size_t bufsize = sizeof(struct sbuf) + VFM_STREAM_DATA_PREFIX_SIZE + j->chunk +
			 VFM_STREAM_CRC_SIZE;
	size_t nbuf = MAX(2, MIN(2 * (size_t)count + 2, POOL_BYTES_MAX / bufsize));
	struct streams *st;

	if (count < 1 || count > VFM_STREAM_MAX_CONNECTIONS || !fn)
		return job_fail(j, -EINVAL, "data connections: %u (1 to %d, with a way to "
					    "open them)",
				count, VFM_STREAM_MAX_CONNECTIONS);
	st = j->streams = streams_new(j);
	if (!st)
		return job_fail(j, -ENOMEM, "out of memory");
	for (size_t i = 0; i < nbuf; i++) {
		struct sbuf *b = malloc(bufsize);

		if (!b)
			return job_fail(j, -ENOMEM, "out of memory");
		b->next = st->free;
		st->free = b;
	}
	for (unsigned k = 0; k < count; k++) {
		char why[256] = "";
		int r;

		if (job_cancelled(j))
			return job_fail(j, -ECANCELED, "cancelled");
		r = fn(userdata, k, &st->ep[k], why, sizeof(why));
		if (r >= 0 && !st->ep[k])
			r = -EINVAL;
		if (r < 0)
			return job_fail(j, r, "opening data connection %u of %u to %s: %s", k + 1,
					count, job_peer(j), why[0] ? why : strerror(-r));
		st->n = k + 1;
		prepare_ep(j, st->ep[k]);
		r = say_join(j, st->ep[k], k, count, token);
		if (r < 0)
			return job_fail(j, r, "starting data connection %u of %u to %s: %s",
					k + 1, count, job_peer(j), strerror(-r));
	}
	j->rep->streams = count;
	j->locked_mode = true; /* job_fail() from the senders */
	for (unsigned k = 0; k < count; k++) {
		struct sender *s = malloc(sizeof(*s));

		if (!s)
			return job_fail(j, -ENOMEM, "out of memory");
		*s = (struct sender){ st, k };
		if (pthread_create(&st->th[k], NULL, sender_thread, s) != 0) {
			free(s);
			return job_fail(j, -EAGAIN, "cannot start a sender thread");
		}
		st->started++;
	}
	return 0;
}

int job_streams_finish(struct job *j)
{
	struct streams *st = j->streams;

	pthread_mutex_lock(&st->lock);
	st->closing = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	join_threads(st);
	return j->rep->error;
}

/* ------------------------------------------------------------------------- */
/* destination                                                               */

int job_streams_accept(struct job *j, const struct vfm_stream_header *hdr, unsigned count,
		       const uint8_t *token, vfm_stream_open_fn fn, void *userdata)
{
	struct streams *st;
	unsigned got = 0, strays = 0;
	char last[256] = "";

	if (!fn)
		return job_fail(j, -EPROTONOSUPPORT,
				"the source sends its data over %u more connections, which "
				"this destination cannot take",
				count);
	st = j->streams = streams_new(j);
	if (!st)
		return job_fail(j, -ENOMEM, "out of memory");
	st->n = count;
	j->rep->streams = count;
	for (unsigned k = 0; k < count; k++)
		st->seen[k] = UINT64_MAX;
	while (got < count) {
		struct vfm_endpoint *ep = NULL;
		struct vfm_stream_reader *rd = NULL;
		struct vfm_record rec;
		char why[256] = "";
		int r, t;

		if (job_cancelled(j))
			return job_fail(j, -ECANCELED, "cancelled");
		r = fn(userdata, got, &ep, why, sizeof(why));
		if (r >= 0 && !ep)
			r = -EINVAL;
		if (r < 0)
			return job_fail(j, r, "data connection %u of %u from %s: %s", got + 1,
					count, job_peer(j), why[0] ? why : strerror(-r));
		prepare_ep(j, ep);
		r = vfm_stream_reader_new(VFM_STREAM_DATA_CONNECTION, 0, job_ep_read, ep, &rd);
		if (r < 0) {
			vfm_endpoint_free(ep);
			return job_fail(j, r, "out of memory");
		}
		vfm_stream_reader_set_join(rd, hdr, (uint16_t)count, token);
		/* its JOIN within the job's timeout, however it trickles */
		vfm_endpoint_set_deadline(ep, j->timeout_ms ? now_usec() + j->timeout_ms * 1000ull
							    : 0);
		t = vfm_stream_read(rd, &rec);
		vfm_endpoint_set_deadline(ep, 0);
		if (t == VFM_STREAM_JOIN && !st->ep[rec.join.index]) {
			st->ep[rec.join.index] = ep;
			st->rd[rec.join.index] = rd;
			got++;
			continue;
		}
		if (t == VFM_STREAM_JOIN)
			snprintf(last, sizeof(last), "a second data connection %u",
				 rec.join.index + 1);
		else
			snprintf(last, sizeof(last), "%s",
				 t == 0 ? "it ended before its JOIN record"
					: job_reader_why(j, rd, t < 0 ? t : -EPROTO, why,
							 sizeof(why)));
		vfm_stream_reader_free(rd);
		vfm_endpoint_free(ep);
		if (++strays > STRAYS_MAX)
			return job_fail(j, -EPROTO,
					"%u connections that are not this migration's data "
					"connections came from %s instead of its %u (the last: "
					"%s)",
					strays, job_peer(j), count - got, last);
	}
	return 0;
}

struct receiver {
	struct streams *st;
	unsigned k;
};

/* Whether every reader but @k has ended, or waits since the last progress: then
 * nothing can move any more. */
static bool all_stuck(const struct streams *st, unsigned k)
{
	for (unsigned m = 0; m < st->n; m++)
		if (m != k && !st->ended[m] && st->seen[m] != st->gen)
			return false;
	return true;
}

/* Wait until @dev has every byte before @offset and no other reader writes it, then
 * take the device's turn (busy[] until the chunk is in); false: give up (the job
 * failed, or the chunk overlaps or its bytes before cannot come: the job fails). */
static bool wait_turn(struct streams *st, unsigned k, uint16_t dev, uint64_t offset)
{
	struct job *j = st->j;
	bool ok = true;

	pthread_mutex_lock(&st->lock);
	while (!failed(j) && (st->next[dev] != offset || st->busy[dev])) {
		if (st->next[dev] > offset || (st->next[dev] == offset && st->busy[dev]) ||
		    all_stuck(st, k)) {
			uint64_t have = st->next[dev];

			pthread_mutex_unlock(&st->lock);
			job_fail(j, -EPROTO,
				 "data connection %u of %u from %s: DATA record for device %u "
				 "at offset %llu, %s %llu",
				 k + 1, st->n, job_peer(j), dev, (unsigned long long)offset,
				 have > offset	    ? "which overlaps the bytes it has, up to"
				 : have == offset ? "which another chunk at that offset is "
						    "writing: it has"
						  : "but the bytes before it never came: it has",
				 (unsigned long long)have);
			return false;
		}
		st->seen[k] = st->gen;
		pthread_cond_wait(&st->cond, &st->lock);
		st->seen[k] = UINT64_MAX;
	}
	ok = !failed(j);
	if (ok)
		st->busy[dev] = true;
	pthread_mutex_unlock(&st->lock);
	return ok;
}

static void *receiver_thread(void *arg)
{
	struct receiver *rv = arg;
	struct streams *st = rv->st;
	struct job *j = st->j;
	unsigned k = rv->k;

	free(rv);
	for (;;) {
		struct vfm_record rec;
		char why[256];
		bool pre;
		int t, r;

		t = vfm_stream_read(st->rd[k], &rec);
		if (t == 0)
			break; /* DONE, and the connection ended there */
		if (t < 0) {
			if (!failed(j))
				job_fail(j, t, "data connection %u of %u from %s: %s", k + 1,
					 st->n, job_peer(j),
					 job_reader_why(j, st->rd[k], t, why, sizeof(why)));
			break;
		}
		if (t != VFM_STREAM_DATA)
			continue; /* DONE: the next read checks that nothing follows */
		pre = rec.data.phase == VFM_STREAM_PHASE_PRECOPY;
		if (!wait_turn(st, k, rec.data.dev, rec.data.offset))
			break;
		if (pre && st->stopcopy[rec.data.dev]) {
			pthread_mutex_lock(&st->lock);
			st->busy[rec.data.dev] = false;
			pthread_mutex_unlock(&st->lock);
			job_fail(j, -EPROTO,
				 "data connection %u of %u from %s: DATA record for device %u: "
				 "precopy after stop-copy",
				 k + 1, st->n, job_peer(j), rec.data.dev);
			break;
		}
		/* the device's turn is ours until next[] moves */
		r = job_write_chunk(j, rec.data.dev, rec.data.bytes, rec.data.len,
				    rec.data.offset, pre);
		pthread_mutex_lock(&st->lock);
		st->busy[rec.data.dev] = false;
		if (r < 0) {
			pthread_cond_broadcast(&st->cond);
			pthread_mutex_unlock(&st->lock);
			break;
		}
		st->next[rec.data.dev] += rec.data.len;
		st->gen++;
		if (pre)
			st->precopy[rec.data.dev] += rec.data.len;
		else
			st->stopcopy[rec.data.dev] = true;
		pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->lock);
		count_bytes(j, rec.data.len);
	}
	pthread_mutex_lock(&st->lock);
	st->ended[k] = true;
	st->gen++;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (failed(j))
		job_streams_wake(j);
	return NULL;
}

int job_streams_receive(struct job *j, uint64_t *ret_total, uint64_t *ret_precopy)
{
	struct streams *st = j->streams;

	j->locked_mode = true;
	for (unsigned k = 0; k < st->n; k++) {
		struct receiver *rv = malloc(sizeof(*rv));

		if (!rv) {
			job_fail(j, -ENOMEM, "out of memory");
			break;
		}
		*rv = (struct receiver){ st, k };
		if (pthread_create(&st->th[k], NULL, receiver_thread, rv) != 0) {
			free(rv);
			job_fail(j, -EAGAIN, "cannot start a reader thread");
			break;
		}
		st->started++;
	}
	if (st->started < st->n)
		job_streams_wake(j);
	join_threads(st);
	j->locked_mode = false;
	for (size_t i = 0; i < j->set.n; i++) {
		ret_total[i] = st->next[i];
		ret_precopy[i] = st->precopy[i];
	}
	return j->rep->error;
}
