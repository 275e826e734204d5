// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --trace FILE: the library's job events (vfm_event) as Chrome trace-event JSON.
 * Every event is written as it comes, one a line, so that a command that fails or
 * is interrupted still leaves what happened; spans are complete ("X") events
 * written when they end, counters "C", instants "i", tracks named by "M" metadata.
 * See trace.h for the bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "config.h"
#include "trace.h"
#include "util.h"

#define TRACKS_MAX 256

struct track {
	char name[VFM_NAME_MAX];
	int tid;
	bool job; /* a job side's track */
	/* a device's bytes: the last written, and one held back (TRACE_COUNTER_MS) */
	bool counter_any, counter_pending;
	uint64_t counter_ts, counter_value, pending_ts, pending_value;
	uint64_t last_bytes; /* in the job under way */
	/* a restore's chunk writes merged into one span */
	bool wr_open, wr_precopy;
	uint64_t wr_start, wr_end, wr_bytes0, wr_bytes1;
	unsigned wr_chunks;
	/* a job's track: its phase under way */
	struct jobside *side;
};

/* A job side ("save"): its track and what its job has open. */
struct jobside {
	struct trace *t;
	struct track *track;
	bool phase_open;
	enum vfm_job_phase phase;
	uint64_t phase_start;
	uint64_t read_base[VFM_SET_MAX]; /* a device's bytes before its read */
	struct track *dev[VFM_SET_MAX];	 /* the job's devices' tracks, by index */
	struct jobside *next;
};

struct trace {
	pthread_mutex_t lock;
	FILE *f;
	char path[512];
	uint64_t t0;
	int pid;
	unsigned events;
	bool truncated;
	int error; /* the first write error */
	struct track *tracks[TRACKS_MAX];
	size_t n_tracks;
	struct jobside *sides;
};

/* Strings in the trace: printable ASCII (a device name or a message that is not
 * UTF-8 would make the document invalid JSON). */
static struct json_object *jstr(const char *s)
{
	char buf[1024];
	size_t i = 0;

	for (; s && s[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return json_object_new_string(buf);
}

static uint64_t rel(const struct trace *t, uint64_t usec)
{
	return usec > t->t0 ? usec - t->t0 : 0;
}

/* Write one event (and free it); the limit counts all but the metadata. */
static void emit(struct trace *t, struct json_object *o, bool meta)
{
	const char *s;

	if (!meta && t->events >= TRACE_EVENTS_MAX) {
		t->truncated = true;
		json_object_put(o);
		return;
	}
	if (!meta)
		t->events++;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fprintf(t->f, ",\n%s", s) < 0 && !t->error)
		t->error = errno ? -errno : -EIO;
	json_object_put(o);
}

static struct json_object *event(struct trace *t, const char *ph, const char *name,
				 const char *cat, int tid, uint64_t ts)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ph", json_object_new_string(ph));
	json_object_object_add(o, "name", jstr(name));
	if (cat)
		json_object_object_add(o, "cat", json_object_new_string(cat));
	json_object_object_add(o, "pid", json_object_new_int(t->pid));
	json_object_object_add(o, "tid", json_object_new_int(tid));
	json_object_object_add(o, "ts", json_object_new_uint64(rel(t, ts)));
	return o;
}

static void add_args(struct json_object *o, const char *const *args, size_t n)
{
	struct json_object *a = json_object_new_object();

	for (size_t i = 0; i < n; i++)
		if (args[2 * i + 1])
			json_object_object_add(a, args[2 * i], jstr(args[2 * i + 1]));
	json_object_object_add(o, "args", a);
}

static void span(struct trace *t, int tid, const char *name, const char *cat,
		 uint64_t start, uint64_t end, struct json_object *args)
{
	struct json_object *o = event(t, "X", name, cat, tid, start);

	json_object_object_add(o, "dur", json_object_new_uint64(end > start ? end - start : 0));
	json_object_object_add(o, "args", args ? args : json_object_new_object());
	emit(t, o, false);
}

static void instant(struct trace *t, int tid, const char *name, const char *cat,
		    uint64_t ts, struct json_object *args)
{
	struct json_object *o = event(t, "i", name, cat, tid, ts);

	json_object_object_add(o, "s", json_object_new_string("g"));
	json_object_object_add(o, "args", args ? args : json_object_new_object());
	emit(t, o, false);
}

static void meta(struct trace *t, const char *what, int tid, const char *key,
		 struct json_object *val)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_object();

	json_object_object_add(o, "ph", json_object_new_string("M"));
	json_object_object_add(o, "name", json_object_new_string(what));
	json_object_object_add(o, "pid", json_object_new_int(t->pid));
	json_object_object_add(o, "tid", json_object_new_int(tid));
	json_object_object_add(a, key, val);
	json_object_object_add(o, "args", a);
	emit(t, o, true);
}

/* The track named @name (made on first use, with its metadata); NULL when full. */
static struct track *track(struct trace *t, const char *name, bool job)
{
	struct track *k;

	for (size_t i = 0; i < t->n_tracks; i++)
		if (t->tracks[i]->job == job && streq(t->tracks[i]->name, name))
			return t->tracks[i];
	if (t->n_tracks >= TRACKS_MAX)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->job = job;
	k->tid = (int)t->n_tracks + 1;
	t->tracks[t->n_tracks++] = k;
	meta(t, "thread_name", k->tid, "name", jstr(job ? name : k->name));
	/* job tracks above the devices, each in the order it came */
	meta(t, "thread_sort_index", k->tid, "sort_index",
	     json_object_new_int(k->tid + (job ? 0 : TRACKS_MAX)));
	return k;
}

/* ---- counters ---- */

static void counter_write(struct trace *t, struct track *k, uint64_t ts, uint64_t v)
{
	char name[VFM_NAME_MAX + 8];
	struct json_object *o, *a = json_object_new_object();

	snprintf(name, sizeof(name), "bytes %s", k->name);
	o = event(t, "C", name, "bytes", k->tid, ts);
	json_object_object_add(a, "bytes", json_object_new_uint64(v));
	json_object_object_add(o, "args", a);
	emit(t, o, false);
	k->counter_any = true;
	k->counter_ts = ts;
	k->counter_value = v;
	k->counter_pending = false;
}

static void counter(struct trace *t, struct track *k, uint64_t ts, uint64_t v)
{
	k->last_bytes = v;
	if (k->counter_any && v == k->counter_value) {
		k->counter_pending = false; /* nothing new */
		return;
	}
	if (!k->counter_any || ts >= k->counter_ts + TRACE_COUNTER_MS * 1000ull) {
		counter_write(t, k, ts, v);
		return;
	}
	k->counter_pending = true;
	k->pending_ts = ts;
	k->pending_value = v;
}

static void counter_flush(struct trace *t, struct track *k)
{
	if (k->counter_pending)
		counter_write(t, k, k->pending_ts, k->pending_value);
}

/* ---- a restore's writes ---- */

static void writes_flush(struct trace *t, struct track *k)
{
	struct json_object *a;

	if (!k->wr_open)
		return;
	a = json_object_new_object();
	json_object_object_add(a, "chunks", json_object_new_int64(k->wr_chunks));
	json_object_object_add(a, "bytes", json_object_new_uint64(k->wr_bytes1 - k->wr_bytes0));
	json_object_object_add(a, "device_bytes", json_object_new_uint64(k->wr_bytes1));
	span(t, k->tid, k->wr_precopy ? "precopy writes" : "stop-copy writes",
	     k->wr_precopy ? "precopy" : "stop-copy", k->wr_start, k->wr_end, a);
	k->wr_open = false;
}

static void write_chunk(struct trace *t, struct track *k, const struct vfm_event *ev)
{
	bool precopy = ev->phase == VFM_JOB_PRECOPY;
	uint64_t start = ev->time_usec - ev->duration_usec;

	if (k->wr_open && (k->wr_precopy != precopy ||
			   start > k->wr_end + TRACE_WRITE_GAP_MS * 1000ull))
		writes_flush(t, k);
	if (!k->wr_open) {
		k->wr_open = true;
		k->wr_precopy = precopy;
		k->wr_start = start;
		k->wr_chunks = 0;
		k->wr_bytes0 = k->last_bytes;
	}
	k->wr_end = ev->time_usec;
	k->wr_bytes1 = ev->bytes;
	k->wr_chunks++;
	counter(t, k, ev->time_usec, ev->bytes);
}

/* ---- job events ---- */

static void phase_close(struct trace *t, struct jobside *js, uint64_t end)
{
	const char *name = vfm_job_phase_name(js->phase);
	struct json_object *a;

	if (!js->phase_open)
		return;
	a = json_object_new_object();
	json_object_object_add(a, "phase", json_object_new_string(name));
	span(t, js->track->tid, name, "phase", js->phase_start, end, a);
	js->phase_open = false;
}

static struct json_object *error_arg(struct json_object *a, int err)
{
	char nb[24];

	if (err)
		json_object_object_add(a, "error",
				       json_object_new_string(out_errno_name(-err, nb)));
	return a;
}

static void job_event(struct trace *t, struct jobside *js, const struct vfm_event *ev)
{
	struct track *k = NULL;
	struct json_object *a;
	char name[160];

	if (ev->device >= 0 && ev->device < VFM_SET_MAX && ev->device_name) {
		k = js->dev[ev->device];
		if (!k || !streq(k->name, ev->device_name)) {
			/* the device's first event in this job */
			k = js->dev[ev->device] = track(t, ev->device_name, false);
			if (!k)
				return;
			k->last_bytes = 0;
			counter_flush(t, k);
			if (k->counter_any && k->counter_value)
				counter_write(t, k, ev->time_usec, 0);
		}
	}
	switch (ev->type) {
	case VFM_EVENT_PHASE:
		if (ev->phase == VFM_JOB_HEADER) { /* a new job: its devices count from 0 */
			memset(js->read_base, 0, sizeof(js->read_base));
			memset(js->dev, 0, sizeof(js->dev));
		}
		phase_close(t, js, ev->time_usec);
		js->phase_open = ev->phase != VFM_JOB_DONE; /* the end: no span */
		js->phase = ev->phase;
		js->phase_start = ev->time_usec;
		break;
	case VFM_EVENT_ARC:
		if (!k)
			break;
		snprintf(name, sizeof(name), "%s -> %s", vfm_state_name(ev->from),
			 vfm_state_name(ev->to));
		a = json_object_new_object();
		json_object_object_add(a, "from", json_object_new_string(vfm_state_name(ev->from)));
		json_object_object_add(a, "to", json_object_new_string(vfm_state_name(ev->to)));
		json_object_object_add(a, "usec", json_object_new_uint64(ev->duration_usec));
		json_object_object_add(a, "job_phase",
				       json_object_new_string(vfm_job_phase_name(ev->phase)));
		span(t, k->tid, name, "arc", ev->time_usec - ev->duration_usec, ev->time_usec,
		     error_arg(a, ev->error));
		break;
	case VFM_EVENT_READ:
		if (!k)
			break;
		counter(t, k, ev->time_usec, ev->bytes);
		counter_flush(t, k);
		a = json_object_new_object();
		if (ev->phase == VFM_JOB_PRECOPY) {
			snprintf(name, sizeof(name), "precopy round %u", ev->round);
			json_object_object_add(a, "round", json_object_new_int64(ev->round));
		} else {
			snprintf(name, sizeof(name), "stop-copy read");
		}
		json_object_object_add(a, "bytes", json_object_new_uint64(
							    ev->bytes - js->read_base[ev->device]));
		json_object_object_add(a, "device_bytes", json_object_new_uint64(ev->bytes));
		js->read_base[ev->device] = ev->bytes;
		span(t, k->tid, name, ev->phase == VFM_JOB_PRECOPY ? "precopy" : "stop-copy",
		     ev->time_usec - ev->duration_usec, ev->time_usec, a);
		break;
	case VFM_EVENT_WRITE:
		if (k)
			write_chunk(t, k, ev);
		break;
	case VFM_EVENT_BYTES:
		if (k)
			counter(t, k, ev->time_usec, ev->bytes);
		break;
	case VFM_EVENT_BARRIER:
		snprintf(name, sizeof(name), "barrier: %s", ev->what ? ev->what : "?");
		span(t, js->track->tid, name, "barrier", ev->time_usec - ev->duration_usec,
		     ev->time_usec, error_arg(json_object_new_object(), ev->error));
		if (!ev->error)
			instant(t, js->track->tid, name, "barrier", ev->time_usec, NULL);
		break;
	case VFM_EVENT_MARK:
		instant(t, js->track->tid, ev->what ? ev->what : "?", "exchange", ev->time_usec,
			NULL);
		break;
	case VFM_EVENT_VERDICT:
		phase_close(t, js, ev->time_usec);
		for (size_t i = 0; i < VFM_SET_MAX; i++)
			if (js->dev[i]) {
				writes_flush(t, js->dev[i]);
				counter_flush(t, js->dev[i]);
			}
		a = json_object_new_object();
		if (streq(js->track->name, "save"))
			json_object_object_add(a, "downtime_usec",
					       json_object_new_uint64(ev->duration_usec));
		if (ev->error) {
			char nb[24];

			snprintf(name, sizeof(name), "verdict: failed (%s)",
				 out_errno_name(-ev->error, nb));
		} else {
			snprintf(name, sizeof(name), "verdict: ok");
		}
		json_object_object_add(a, "success", json_object_new_boolean(!ev->error));
		instant(t, js->track->tid, name, "verdict", ev->time_usec, error_arg(a, ev->error));
		break;
	}
}

void trace_job_event(void *userdata, const struct vfm_event *ev)
{
	struct jobside *js = userdata;
	struct trace *t;

	if (!js || !ev || ev->size < sizeof(struct vfm_event))
		return;
	t = js->t;
	pthread_mutex_lock(&t->lock);
	job_event(t, js, ev);
	pthread_mutex_unlock(&t->lock);
}

void *trace_job(struct trace *t, const char *side)
{
	struct jobside *js;

	if (!t)
		return NULL;
	pthread_mutex_lock(&t->lock);
	for (js = t->sides; js; js = js->next)
		if (streq(js->track->name, side))
			goto out;
	js = calloc(1, sizeof(*js));
	if (js) {
		js->t = t;
		js->track = track(t, side, true);
		if (!js->track) {
			free(js);
			js = NULL;
		} else {
			js->next = t->sides;
			t->sides = js;
		}
	}
out:
	pthread_mutex_unlock(&t->lock);
	return js;
}

/* ---- what the command does itself ---- */

void trace_span(struct trace *t, const char *trk, bool device, const char *name,
		const char *cat, uint64_t start_usec, uint64_t end_usec,
		const char *const *args, size_t n_args)
{
	struct track *k;
	struct json_object *o;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	k = track(t, trk, !device);
	if (k) {
		o = event(t, "X", name, cat, k->tid, start_usec);
		json_object_object_add(o, "dur", json_object_new_uint64(
							 end_usec > start_usec ? end_usec - start_usec : 0));
		add_args(o, args, n_args);
		emit(t, o, false);
	}
	pthread_mutex_unlock(&t->lock);
}

void trace_instant(struct trace *t, const char *trk, const char *name, const char *cat,
		   uint64_t time_usec, const char *const *args, size_t n_args)
{
	struct track *k;
	struct json_object *o;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	k = track(t, trk, false);
	if (k) {
		o = event(t, "i", name, cat, k->tid, time_usec);
		json_object_object_add(o, "s", json_object_new_string("g"));
		add_args(o, args, n_args);
		emit(t, o, false);
	}
	pthread_mutex_unlock(&t->lock);
}

void trace_arc(struct trace *t, const char *device, const struct vfm_arc_result *arc)
{
	struct track *k;
	struct json_object *a;
	char name[64];
	uint64_t now = now_usec();

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	k = track(t, device, false);
	if (k) {
		snprintf(name, sizeof(name), "%s -> %s", vfm_state_name(arc->from),
			 vfm_state_name(arc->to));
		a = json_object_new_object();
		json_object_object_add(a, "from", json_object_new_string(vfm_state_name(arc->from)));
		json_object_object_add(a, "to", json_object_new_string(vfm_state_name(arc->to)));
		json_object_object_add(a, "usec", json_object_new_uint64(arc->usec));
		span(t, k->tid, name, "arc", now - MIN(arc->usec, now), now,
		     error_arg(a, arc->error));
	}
	pthread_mutex_unlock(&t->lock);
}

void trace_read(struct trace *t, const char *device, const char *name, const char *cat,
		uint64_t start_usec, uint64_t end_usec, uint64_t bytes)
{
	struct track *k;
	struct json_object *a;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	k = track(t, device, false);
	if (k) {
		a = json_object_new_object();
		json_object_object_add(a, "bytes", json_object_new_uint64(bytes));
		span(t, k->tid, name, cat, start_usec, end_usec, a);
		counter_write(t, k, end_usec, bytes);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- the file ---- */

int trace_open(const char *path, const char *title, struct trace **ret, char *why,
	       size_t size)
{
	struct trace *t;
	int fd, r;

	if (!*path || strlen(path) >= sizeof(t->path)) {
		snprintf(why, size, "--trace: the path is empty or longer than %zu bytes",
			 sizeof(t->path) - 1);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(why, size, "--trace: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(t->path, sizeof(t->path), "%s", path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || !(t->f = fdopen(fd, "we"))) {
		r = -errno;
		snprintf(why, size, "--trace %s: %s", path,
			 r == -ELOOP ? "a symbolic link (refused)" : strerror(-r));
		if (fd >= 0)
			close(fd);
		free(t);
		return r;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->t0 = now_usec();
	t->pid = (int)getpid();
	/* the first element is the process's name: every later one starts with ",\n" */
	fputs("{\"traceEvents\":[\n", t->f);
	{
		struct json_object *o = json_object_new_object(), *a = json_object_new_object();

		json_object_object_add(o, "ph", json_object_new_string("M"));
		json_object_object_add(o, "name", json_object_new_string("process_name"));
		json_object_object_add(o, "pid", json_object_new_int(t->pid));
		json_object_object_add(o, "tid", json_object_new_int(0));
		json_object_object_add(a, "name", jstr(title));
		json_object_object_add(o, "args", a);
		fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE),
		      t->f);
		json_object_put(o);
	}
	*ret = t;
	return 0;
}

int trace_close(struct trace *t, bool *ret_truncated, char *why, size_t size)
{
	uint64_t now = now_usec();
	int r;

	if (!t)
		return 0;
	for (struct jobside *js = t->sides; js; js = js->next)
		phase_close(t, js, now);
	for (size_t i = 0; i < t->n_tracks; i++) {
		writes_flush(t, t->tracks[i]);
		counter_flush(t, t->tracks[i]);
	}
	if (fprintf(t->f,
		    "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"vfiomig_trace\":%d,"
		    "\"version\":\"%s\",\"events\":%u,\"truncated\":%s,"
		    "\"counter_interval_ms\":%u}}\n",
		    TRACE_FORMAT, VFM_PACKAGE_VERSION, t->events,
		    t->truncated ? "true" : "false", TRACE_COUNTER_MS) < 0 &&
	    !t->error)
		t->error = -EIO;
	if (fflush(t->f) != 0 && !t->error)
		t->error = -errno;
	if (fclose(t->f) != 0 && !t->error)
		t->error = -errno;
	r = t->error;
	if (r < 0)
		snprintf(why, size, "--trace %s: %s", t->path, strerror(-r));
	if (ret_truncated)
		*ret_truncated = t->truncated;
	while (t->sides) {
		struct jobside *js = t->sides;

		t->sides = js->next;
		free(js);
	}
	for (size_t i = 0; i < t->n_tracks; i++)
		free(t->tracks[i]);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return r;
}
