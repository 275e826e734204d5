/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the job files share: job.c (the job object, its failure record, progress,
 * control records, deadlines, VF settings), pipeline.c (the device readers of save
 * and the device writers of restore), save.c and restore.c (the phases).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "job.h"
#include "macro.h"
#include "net.h"
#include "stream.h"

struct vfm_endpoint;

#define JOB_HIDDEN __attribute__((visibility("hidden")))

#define JOB_DEFAULT_CHUNK (1u << 20)

struct job {
	struct vfm_job_report *rep;
	struct vfm_endpoint *ep;
	struct vfm_set set;
	vfm_progress_fn progress;
	void *progress_userdata;
	uint64_t last_progress;
	int cancel_fd;
	uint64_t cancel_polled; /* job_cancelled(): vfm_cancel_poll()'s state */
	unsigned timeout_ms; /* inactivity of bulk I/O; deadline of each exchange */
	unsigned deadline_times; /* the exchange under way has timeout_ms times this */
	vfm_arc_fn arc_fn;   /* the caller's, called for every arc of every device */
	void *arc_userdata;
	uint8_t *buf;	     /* prefix + chunk + trailer */
	size_t chunk;
	uint8_t *msgbuf; /* encoded control records */
	/* Several devices read or written at once: records are written whole under
	 * this lock, and the report's shared fields change under it. */
	pthread_mutex_t lock;
	bool locked_mode;
	/* Save: devices are read in the job's thread until reads are slow (pipeline.c);
	 * then each device gets a thread, for the rest of the job. */
	bool watch_reads;  /* count slow reads (the inline reader) */
	unsigned slow_reads;
	bool threaded_reads;
	uint64_t handed_t0; /* the handed-over device's read began (0: none) */
	size_t handed_dev;
	/* Data connections (streams.c): NULL when the data goes over @ep. */
	struct streams *streams;
	/* The caller's event callback (a trace), called under ev_lock. */
	vfm_event_fn event_fn;
	void *event_userdata;
	pthread_mutex_t ev_lock;
};

/* ---- job.c ---- */

/* The caller's hooks and limits, shared by both kinds of options. */
struct job_hooks {
	vfm_progress_fn progress;
	void *progress_userdata;
	int cancel_fd;
	unsigned timeout_ms;
	vfm_arc_fn on_arc;
	void *arc_userdata;
};

JOB_HIDDEN void job_set_hooks(struct job *j, const struct job_hooks *h);
/* A job that could not even start: the report says so. */
JOB_HIDDEN int job_no_memory(struct vfm_job_report *rep, bool devices_running);
JOB_HIDDEN int job_not_started(struct vfm_job_report *rep, int err, bool devices_running,
			       const char *msg);
/*
 * The caller's options (@their_size bytes, as its header has them) into @ours (our
 * layout, our size, our defaults): a caller built against an older header (down to
 * the first layout, 0.1) leaves our defaults for the fields it lacks.  -EINVAL for
 * options not made by the _init() function (sizes below the first layout's; the
 * report cannot be written then), -EOPNOTSUPP when a field this library does not
 * know is set.
 */
JOB_HIDDEN int job_opts_merge(void *ours, size_t our_size, size_t first_size,
			      const void *theirs, size_t their_size, size_t report_size);
/* The options' sizes in the first layout (0.1). */
#define JOB_SAVE_OPTS_0_1    offsetof(struct vfm_save_opts, streams)
#define JOB_RESTORE_OPTS_0_1 offsetof(struct vfm_restore_opts, open_stream)
#define JOB_REPORT_0_1	     offsetof(struct vfm_job_report, streams)
/* The report a job writes: the caller's, or for an older caller's smaller one
 * (@size bytes) a whole one of ours; _end() copies the caller's part out and frees
 * it.  NULL, with *@ret_err: -EINVAL for a report smaller than the first layout's
 * (left alone), -ENOMEM (the caller's report says so, and whether the devices run). */
JOB_HIDDEN struct vfm_job_report *job_report_begin(struct vfm_job_report *caller,
						   size_t size, bool devices_running,
						   int *ret_err);
JOB_HIDDEN void job_report_end(struct vfm_job_report *caller, size_t size,
			       struct vfm_job_report *ours);

JOB_HIDDEN int job_init(struct job *j, struct vfm_job_report *rep, struct vfm_endpoint *ep,
			size_t chunk);
JOB_HIDDEN void job_done(struct job *j);

/* Record the first failure (the message names the device or the peer); returns the
 * first failure's -errno. */
JOB_HIDDEN int job_fail(struct job *j, int err, const char *fmt, ...) _printf_(3, 4);
JOB_HIDDEN void job_phase(struct job *j, enum vfm_job_phase phase);
JOB_HIDDEN void job_tick(struct job *j);
JOB_HIDDEN bool job_cancelled(struct job *j);
JOB_HIDDEN const char *job_peer(const struct job *j);

/* A vfm_stream_read_fn over the job's endpoint. */
JOB_HIDDEN ssize_t job_ep_read(void *userdata, void *buf, size_t len);
JOB_HIDDEN int job_send(struct job *j, const struct vfm_record *rec);
JOB_HIDDEN int job_send_preamble(struct job *j);
/* Why a stream read failed: the reader's sentence, "timed out after N s", or the
 * error's text. */
JOB_HIDDEN const char *job_reader_why(const struct job *j, const struct vfm_stream_reader *r,
				      int err, char *buf, size_t size);

/* An exchange with the peer (an answer awaited) must end within @times the job's
 * timeout, however the peer trickles its bytes: an absolute deadline from now;
 * 0 clears it. */
JOB_HIDDEN void job_deadline(struct job *j, unsigned times);
/* A cancel no longer applies (or must not stop a last word to the peer). */
JOB_HIDDEN void job_ignore_cancel(struct job *j);
/* A last word to the peer after a failure (ABORT, a failure VERDICT): not
 * cancelled, bounded to 2 s in all (the caller clears the deadline after). */
JOB_HIDDEN void job_last_word(struct job *j);

JOB_HIDDEN int job_phase_or_fail(struct job *j, enum vfm_phase phase);
JOB_HIDDEN void job_on_set_arc(void *userdata, const struct vfm_device *dev,
			       const struct vfm_arc_result *arc);
JOB_HIDDEN uint32_t job_flags_to_stream(uint32_t f);
JOB_HIDDEN int job_kind_to_stream(enum vfm_device_kind k);

/* VF network settings (src/net). */
JOB_HIDDEN int job_vf_ref(struct vfm_device *dev, struct vfm_vf_ref *ref, char *why,
			  size_t size);
JOB_HIDDEN int job_vf_apply(const struct vfm_restore_opts *o, struct vfm_device *dev,
			    const struct vfm_vf_ref *ref, const struct vfm_vf_config *cfg,
			    uint32_t *ret_changed, char *why, size_t why_size);
JOB_HIDDEN void job_vf_status(struct vfm_job_dev *d, const char *what, uint32_t fields);

/* ---- streams.c: the data connections ---- */

/* Source: open @count data connections with @fn and say JOIN on each; then sender
 * threads, one a connection, send what job_streams_push() queues. */
JOB_HIDDEN int job_streams_open(struct job *j, unsigned count, vfm_stream_open_fn fn,
				void *userdata, const uint8_t *token);
/* A buffer of prefix + chunk + trailer to fill (waits for one); NULL: the job
 * failed.  Give it back with job_streams_push() or job_streams_put(). */
JOB_HIDDEN uint8_t *job_streams_buf(struct job *j);
JOB_HIDDEN void job_streams_put(struct job *j, uint8_t *buf);
/* Queue the DATA record of device @dev (@len bytes in all, @data bytes of it) in
 * @buf for the next free connection. */
JOB_HIDDEN int job_streams_push(struct job *j, uint8_t *buf, size_t len, uint16_t dev,
				uint32_t data);
/* Source: send what is queued, then DONE on every connection and close them for
 * writing. */
JOB_HIDDEN int job_streams_finish(struct job *j);

/* Destination: accept @count data connections with @fn, each proven by its JOIN. */
JOB_HIDDEN int job_streams_accept(struct job *j, const struct vfm_stream_header *hdr,
				  unsigned count, const uint8_t *token,
				  vfm_stream_open_fn fn, void *userdata);
/* Destination: read every data connection to its DONE, writing each chunk into its
 * device in offset order; @ret_total and @ret_precopy receive each device's bytes. */
JOB_HIDDEN int job_streams_receive(struct job *j, uint64_t *ret_total,
				   uint64_t *ret_precopy);

/* After a failure: wake every thread of the data connections and cut them. */
JOB_HIDDEN void job_streams_wake(struct job *j);
JOB_HIDDEN void job_streams_free(struct job *j);
/*
 * Events for the caller's trace (vfm_event_fn): each helper is one line where the
 * thing happens, and does nothing without a callback.  Phases, arcs and barriers
 * come from job_phase(), job_on_set_arc() and job_phase_or_fail() by themselves.
 */
JOB_HIDDEN void job_set_events(struct job *j, vfm_event_fn fn, void *userdata);
/* @type VFM_EVENT_READ (save: a device's data read) or VFM_EVENT_WRITE (restore: a
 * chunk written), begun at @t0. */
JOB_HIDDEN void job_data_event(struct job *j, enum vfm_event_type type, size_t i,
			       bool precopy, uint64_t t0);
/* A device's data moved (save: after each chunk). */
JOB_HIDDEN void job_bytes_event(struct job *j, size_t i);
/* An exchange with the peer: "READY", "COMMIT" (a static string). */
JOB_HIDDEN void job_mark_event(struct job *j, const char *what);
/* The job's outcome: report->error (and the save's downtime). */
JOB_HIDDEN void job_verdict_event(struct job *j);

/* ---- pipeline.c ---- */

/* Save: read the @want devices (precopy: one round; else stop-copy to the end, each
 * followed by its DEVICE_END) and send their DATA, in parallel when there are
 * several. */
JOB_HIDDEN int job_stream_all(struct job *j, uint64_t *offsets, bool precopy,
			      const bool *want);

/* One chunk into device @i, in pieces (cancel and failures noticed between). */
JOB_HIDDEN int job_write_chunk(struct job *j, size_t i, const uint8_t *bytes, uint32_t len,
			       uint64_t offset, bool precopy);

/* Restore: one writer per device, fed in stream order. */
struct writers;
JOB_HIDDEN struct writers *writers_new(void);
JOB_HIDDEN int writers_start(struct writers *ws, struct job *j, size_t n);
/* Queue a DATA record just read by @rd for its device, taking the reader's buffer
 * (waits for room). */
JOB_HIDDEN int writers_push(struct writers *ws, struct vfm_stream_reader *rd,
			    const struct vfm_record *rec);
/* Finish what is queued (or drop it after a failure) and stop; returns the index of
 * the device whose write failed first, or -1.  Then free with free(). */
JOB_HIDDEN int writers_stop(struct writers *ws);
