/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * --trace FILE: Chrome trace-event JSON ("Trace Event Format": an object with
 * "traceEvents"), which Perfetto and chrome://tracing open and `vfiomig timeline`
 * draws.  One process (this command), a track ("thread") per job side and one per
 * device: job phases and barriers on the job's track, arcs, precopy rounds and
 * stop-copy reads or writes on the device's, the exchanges with the peer and the
 * verdict as global instants, each device's bytes as a counter.
 *
 * Bounded: counters are written at most once per device per TRACE_COUNTER_MS (the
 * last value of a read, a write span or a job always), a restore's chunk writes are
 * merged into one span while they follow each other, and at most TRACE_EVENTS_MAX
 * events are written (then the trace says "truncated": true in otherData).
 * Thread-safe: the jobs of a soak write into one trace.
 */
#include <stdbool.h>
#include <stdint.h>

#include "vfiomig.h"

#define TRACE_EVENTS_MAX  200000u
#define TRACE_COUNTER_MS  20u
#define TRACE_WRITE_GAP_MS 5u /* a restore's chunk writes further apart: a new span */
#define TRACE_FORMAT	  1   /* otherData.vfiomig_trace */

struct trace;

/*
 * Create @path (truncated; not through a symlink) and start the document; @title
 * names the process ("vfiomig save").  Times are counted from now.  Returns 0, or
 * -errno with @why ("--trace /x/y: No such file or directory").
 */
int trace_open(const char *path, const char *title, struct trace **ret, char *why,
	       size_t size);

/*
 * The end of the document: open spans closed, pending counters written, the file
 * flushed and closed, @t freed (NULL is fine).  Returns 0, or the first write error
 * with @why.  *@ret_truncated (may be NULL): events were dropped at the limit.
 */
int trace_close(struct trace *t, bool *ret_truncated, char *why, size_t size);

/*
 * A job's events go to the job track named @side ("save", "restore") and to one track
 * per device (by name, shared by the jobs of a trace).  The returned pointer is the
 * userdata of trace_job_event(), a vfm_event_fn; it lives as long as @t.  A side used
 * again (the next cycle of a soak) continues its track.  NULL: out of tracks/memory
 * (the events are then dropped).
 */
void *trace_job(struct trace *t, const char *side);
void trace_job_event(void *userdata, const struct vfm_event *ev);

/*
 * A span of what the command itself does (a check, a soak cycle) on the track
 * @track (a device's when @device, else one above the devices), from @start_usec to
 * @end_usec (CLOCK_MONOTONIC), with string arguments (key, value pairs, @n_args of
 * them; NULL values are skipped).
 */
void trace_span(struct trace *t, const char *track, bool device, const char *name,
		const char *cat, uint64_t start_usec, uint64_t end_usec,
		const char *const *args, size_t n_args);

/* A device's state change outside a job (check): on @device's track. */
void trace_arc(struct trace *t, const char *device, const struct vfm_arc_result *arc);

/* A device's data read outside a job (check): a span and the bytes read. */
void trace_read(struct trace *t, const char *device, const char *name, const char *cat,
		uint64_t start_usec, uint64_t end_usec, uint64_t bytes);

/* An instant on @track (global: a line across every track in the viewers). */
void trace_instant(struct trace *t, const char *track, const char *name, const char *cat,
		   uint64_t time_usec, const char *const *args, size_t n_args);
