// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What save (save.c) and restore (restore.c) share: the job object, its first
 * failure, progress, control records, deadlines and the VF network settings.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "job-internal.h"
#include "transport.h"
#include "util.h"

#define PROGRESS_USEC 100000

static const char *const phase_names[] = {
	[VFM_JOB_HEADER] = "header",	   [VFM_JOB_COMPAT] = "compat",
	[VFM_JOB_PRECOPY] = "precopy",	   [VFM_JOB_QUIESCE] = "quiesce",
	[VFM_JOB_STOP_COPY] = "stop-copy", [VFM_JOB_RESUMING] = "resuming",
	[VFM_JOB_LOAD] = "load",	   [VFM_JOB_VERDICT] = "verdict",
	[VFM_JOB_COMMIT] = "commit",	   [VFM_JOB_DONE] = "done",
	[VFM_JOB_ROLLBACK] = "rollback",
};

_public_ const char *vfm_job_phase_name(enum vfm_job_phase phase)
{
	if ((size_t)phase >= ELEMENTSOF(phase_names) || !phase_names[phase])
		return "unknown";
	return phase_names[phase];
}

/*
 * The _init_sized() functions write the caller's @size bytes: our defaults as far as
 * the caller's struct goes, zeros beyond (fields of a newer header stay unset).
 */
static void init_sized(void *opts, size_t size, const void *defaults, size_t ours)
{
	memset(opts, 0, size);
	memcpy(opts, defaults, MIN(size, ours));
}

_public_ void vfm_save_opts_init_sized(struct vfm_save_opts *opts, size_t size,
				       size_t report_size)
{
	struct vfm_save_opts d = {
		.size = size,
		.report_size = report_size,
		.precopy = true,
		.precopy_max_rounds = 30,
		.precopy_max_usec = 60 * 1000000ull,
		.dirty_threshold = 0,
		.chunk_size = JOB_DEFAULT_CHUNK,
		.timeout_ms = 60000,
		.cancel_fd = -1,
	};

	init_sized(opts, size, &d, sizeof(d));
}

_public_ void vfm_restore_opts_init_sized(struct vfm_restore_opts *opts, size_t size,
					  size_t report_size)
{
	struct vfm_restore_opts d = {
		.size = size,
		.report_size = report_size,
		.timeout_ms = 60000,
		.cancel_fd = -1,
	};

	init_sized(opts, size, &d, sizeof(d));
}

int job_opts_merge(void *ours, size_t our_size, size_t first_size, const void *theirs,
		   size_t their_size, size_t report_size)
{
	const uint8_t *t = theirs;

	/* Layout 0.1 is the smallest there will be; later ones only append: a caller
	 * built against an older header keeps our defaults for what it lacks. */
	if (their_size < first_size || report_size < JOB_REPORT_0_1)
		return -EINVAL;
	for (size_t i = our_size; i < their_size; i++)
		if (t[i])
			return -EOPNOTSUPP;
	memcpy(ours, theirs, MIN(our_size, their_size));
	return 0;
}

struct vfm_job_report *job_report_begin(struct vfm_job_report *caller, size_t size,
					bool devices_running, int *ret_err)
{
	struct vfm_job_report *ours;

	*ret_err = -EINVAL;
	if (!caller || size < JOB_REPORT_0_1)
		return NULL; /* not from vfm_*_opts_init(): the report is left alone */
	if (size >= sizeof(*caller))
		return caller;
	ours = calloc(1, sizeof(*ours));
	if (!ours) {
		memset(caller, 0, size);
		caller->size = size;
		caller->error = *ret_err = -ENOMEM;
		snprintf(caller->message, sizeof(caller->message), "out of memory");
		caller->devices_left_running = devices_running;
	}
	return ours;
}

void job_report_end(struct vfm_job_report *caller, size_t size, struct vfm_job_report *ours)
{
	if (ours == caller)
		return;
	if (ours->size) { /* else the job never started: the caller's is left alone */
		memcpy(caller, ours, MIN(size, sizeof(*ours)));
		caller->size = size;
	}
	free(ours);
}

int job_not_started(struct vfm_job_report *rep, int err, bool devices_running,
		    const char *msg)
{
	memset(rep, 0, sizeof(*rep));
	rep->size = sizeof(*rep);
	rep->error = err;
	snprintf(rep->message, sizeof(rep->message), "%s", msg);
	rep->devices_left_running = devices_running;
	return err;
}

int job_fail(struct job *j, int err, const char *fmt, ...)
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
	if (j->streams)
		job_streams_wake(j); /* threads on the data connections stop too */
	return err;
}

/* ---- events (a trace) ---- */

void job_set_events(struct job *j, vfm_event_fn fn, void *userdata)
{
	j->event_fn = fn;
	j->event_userdata = userdata;
}

/* Fill in what every event has, and call the caller's function, one call at a time;
 * the time is taken under the lock, so that events come in time order. */
static void job_event(struct job *j, struct vfm_event *ev)
{
	ev->size = sizeof(*ev);
	if (ev->device >= 0 && (size_t)ev->device < j->set.n)
		ev->device_name = vfm_device_name(j->set.dev[ev->device]);
	pthread_mutex_lock(&j->ev_lock);
	ev->time_usec = now_usec();
	j->event_fn(j->event_userdata, ev);
	pthread_mutex_unlock(&j->ev_lock);
}

void job_data_event(struct job *j, enum vfm_event_type type, size_t i, bool precopy,
		    uint64_t t0)
{
	const struct vfm_job_dev *d = &j->rep->dev[i];
	struct vfm_event ev = {
		.type = type,
		.device = (int)i,
		.phase = precopy ? VFM_JOB_PRECOPY : VFM_JOB_STOP_COPY,
		/* restore: the writer threads add to them */
		.bytes = __atomic_load_n(&d->precopy_bytes, __ATOMIC_RELAXED) +
			 __atomic_load_n(&d->stopcopy_bytes, __ATOMIC_RELAXED),
		/* save: rounds are counted once every device has read */
		.round = precopy && type == VFM_EVENT_READ ? j->rep->precopy_rounds + 1 : 0,
	};
	uint64_t now = now_usec();

	if (!j->event_fn)
		return;
	ev.duration_usec = now > t0 ? now - t0 : 0;
	job_event(j, &ev);
}

void job_bytes_event(struct job *j, size_t i)
{
	const struct vfm_job_dev *d = &j->rep->dev[i];
	struct vfm_event ev = { .type = VFM_EVENT_BYTES, .device = (int)i,
				.phase = j->rep->phase };

	if (!j->event_fn)
		return;
	ev.bytes = __atomic_load_n(&d->precopy_bytes, __ATOMIC_RELAXED) +
		   __atomic_load_n(&d->stopcopy_bytes, __ATOMIC_RELAXED);
	job_event(j, &ev);
}

void job_mark_event(struct job *j, const char *what)
{
	struct vfm_event ev = { .type = VFM_EVENT_MARK, .device = -1,
				.phase = j->rep->phase, .what = what };

	if (j->event_fn)
		job_event(j, &ev);
}

void job_verdict_event(struct job *j)
{
	struct vfm_event ev = { .type = VFM_EVENT_VERDICT, .device = -1,
				.phase = j->rep->phase, .error = j->rep->error,
				.duration_usec = j->rep->downtime_usec };

	if (j->event_fn)
		job_event(j, &ev);
}

void job_phase(struct job *j, enum vfm_job_phase phase)
{
	j->rep->phase = phase;
	j->rep->elapsed_usec = now_usec() - j->rep->start_usec;
	if (j->progress)
		j->progress(j->progress_userdata, j->rep);
	j->last_progress = now_usec();
	/* last: the phase's own clock (save's t_quiesce) starts right after */
	if (j->event_fn)
		job_event(j, &(struct vfm_event){ .type = VFM_EVENT_PHASE, .device = -1,
						  .phase = phase });
}

void job_tick(struct job *j)
{
	uint64_t now = now_usec();

	if (!j->progress || now - j->last_progress < PROGRESS_USEC)
		return;
	j->rep->elapsed_usec = now - j->rep->start_usec;
	j->progress(j->progress_userdata, j->rep);
	j->last_progress = now;
}

/* Polled at most once a millisecond: a chunk's loop asks for each chunk, each thread
 * too. */
bool job_cancelled(struct job *j)
{
	return vfm_cancel_poll(j->cancel_fd, &j->cancel_polled) < 0;
}

const char *job_peer(const struct job *j)
{
	return vfm_endpoint_description(j->ep);
}

ssize_t job_ep_read(void *userdata, void *buf, size_t len)
{
	uint64_t before = vfm_endpoint_bytes_read(userdata);
	ssize_t n = vfm_endpoint_read_full(userdata, buf, len);

	/* The stream reader wants how many bytes came before a stream ended inside a
	 * read (its truncation messages count them), never 0 there (0 at a record
	 * boundary is a clean end): the endpoint's counter has them. */
	if (n == -ENODATA) {
		uint64_t got = vfm_endpoint_bytes_read(userdata) - before;

		return got > 0 && got < len ? (ssize_t)got : len > 1 ? 1 : 0;
	}
	return n;
}

int job_send(struct job *j, const struct vfm_record *rec)
{
	ssize_t n = vfm_stream_encode(rec, j->msgbuf, VFM_STREAM_HEADER_RECORD_MAX);

	if (n < 0)
		return (int)n;
	return vfm_endpoint_write_full(j->ep, j->msgbuf, (size_t)n);
}

int job_send_preamble(struct job *j)
{
	uint8_t pre[VFM_STREAM_PREAMBLE_SIZE];

	vfm_stream_encode_preamble(pre);
	return vfm_endpoint_write_full(j->ep, pre, sizeof(pre));
}

const char *job_reader_why(const struct job *j, const struct vfm_stream_reader *r, int err,
			   char *buf, size_t size)
{
	if (err == -ETIMEDOUT) {
		snprintf(buf, size, "timed out after %.1f s",
			 (double)j->timeout_ms * MAX(j->deadline_times, 1u) / 1000);
		return buf;
	}
	if (err == -ECANCELED)
		return "cancelled"; /* the word every other phase uses */
	if (*vfm_stream_reader_error(r))
		return vfm_stream_reader_error(r);
	return strerror_r(-err, buf, size);
}

void job_deadline(struct job *j, unsigned times)
{
	uint64_t ms = (uint64_t)j->timeout_ms * times;

	/* the deadline governs the exchange: the inactivity timeout must not be
	 * shorter (both are restored when it ends) */
	vfm_endpoint_set_deadline(j->ep, ms ? now_usec() + ms * 1000 : 0);
	vfm_endpoint_set_timeout(j->ep, ms ? (unsigned)MIN(ms, (uint64_t)UINT_MAX)
					   : j->timeout_ms);
	if (times)
		j->deadline_times = times;
}

void job_ignore_cancel(struct job *j)
{
	j->cancel_fd = -1;
	vfm_endpoint_set_cancel_fd(j->ep, -1);
}

void job_set_hooks(struct job *j, const struct job_hooks *h)
{
	j->progress = h->progress;
	j->progress_userdata = h->progress_userdata;
	j->cancel_fd = h->cancel_fd;
	j->timeout_ms = h->timeout_ms;
	j->arc_fn = h->on_arc;
	j->arc_userdata = h->arc_userdata;
}

int job_no_memory(struct vfm_job_report *rep, bool devices_running)
{
	return job_not_started(rep, -ENOMEM, devices_running, "out of memory");
}

void job_last_word(struct job *j)
{
	job_ignore_cancel(j);
	vfm_endpoint_set_timeout(j->ep, 2000);
	vfm_endpoint_set_deadline(j->ep, now_usec() + 2000000);
}

int job_init(struct job *j, struct vfm_job_report *rep, struct vfm_endpoint *ep,
	     size_t chunk)
{
	memset(rep, 0, sizeof(*rep));
	rep->size = sizeof(*rep);
	rep->start_usec = now_usec();
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->ev_lock, NULL);
	j->rep = rep;
	j->ep = ep;
	j->chunk = chunk ? MIN(chunk, (size_t)VFM_STREAM_CHUNK_MAX) : JOB_DEFAULT_CHUNK;
	j->buf = malloc(VFM_STREAM_DATA_PREFIX_SIZE + j->chunk + VFM_STREAM_CRC_SIZE);
	j->msgbuf = malloc(VFM_STREAM_HEADER_RECORD_MAX);
	if (!j->buf || !j->msgbuf)
		return job_fail(j, -ENOMEM, "out of memory");
	return 0;
}

void job_done(struct job *j)
{
	job_streams_free(j);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->ev_lock);
	free(j->buf);
	free(j->msgbuf);
	j->rep->elapsed_usec = now_usec() - j->rep->start_usec;
}

int job_kind_to_stream(enum vfm_device_kind k)
{
	switch (k) {
	case VFM_DEVICE_PCI: return VFM_STREAM_KIND_PCI;
	case VFM_DEVICE_MDEV: return VFM_STREAM_KIND_MDEV;
	case VFM_DEVICE_FD: return VFM_STREAM_KIND_FD;
	case VFM_DEVICE_SIM: return VFM_STREAM_KIND_SIM;
	}
	return VFM_STREAM_KIND_FD;
}

uint32_t job_flags_to_stream(uint32_t f)
{
	return ((f & VFM_MIG_STOP_COPY) ? VFM_STREAM_MIG_STOP_COPY : 0) |
	       ((f & VFM_MIG_P2P) ? VFM_STREAM_MIG_P2P : 0) |
	       ((f & VFM_MIG_PRE_COPY) ? VFM_STREAM_MIG_PRE_COPY : 0);
}

void job_on_set_arc(void *userdata, const struct vfm_device *dev,
		    const struct vfm_arc_result *arc)
{
	struct job *j = userdata;

	if (j->arc_fn)
		j->arc_fn(j->arc_userdata, dev, arc);
	if (j->event_fn) {
		struct vfm_event ev = { .type = VFM_EVENT_ARC, .device = -1,
					.phase = j->rep->phase, .from = arc->from,
					.to = arc->to, .duration_usec = arc->usec,
					.error = arc->error };

		for (size_t i = 0; i < j->set.n; i++)
			if (j->set.dev[i] == dev)
				ev.device = (int)i;
		job_event(j, &ev);
	}
}

int job_phase_or_fail(struct job *j, enum vfm_phase phase)
{
	size_t failed = 0;
	enum vfm_state st = VFM_STATE_ERROR;
	uint64_t t0 = now_usec();
	int r = vfm_set_phase(&j->set, phase, &failed);
	const char *now;

	if (j->event_fn)
		job_event(j, &(struct vfm_event){ .type = VFM_EVENT_BARRIER, .device = -1,
						  .phase = j->rep->phase,
						  .duration_usec = now_usec() - t0, .error = r,
						  .what = vfm_phase_name(phase) });
	if (r >= 0)
		return 0;
	/* say "now in X" only for a state read back */
	now = vfm_device_get_state(j->set.dev[failed], &st) >= 0 ? vfm_state_name(st)
								: "unknown: it cannot be read";
	if (j->set.failed_arc)
		return job_fail(j, r, "%s: %s -> %s (%s phase): %s (device now in %s)",
				vfm_device_name(j->set.dev[failed]),
				vfm_state_name(j->set.failed_from),
				vfm_state_name(j->set.failed_to), vfm_phase_name(phase),
				strerror(-r), now);
	return job_fail(j, r, "%s: %s phase: %s (device now in %s)",
			vfm_device_name(j->set.dev[failed]), vfm_phase_name(phase),
			strerror(-r), now);
}

/* ---- VF network settings (src/net) ---- */

/* The network VF a device is: a simulated one names it (pf=, vf=), a real one is
 * found in sysfs.  -ENODEV: not a network VF. */
int job_vf_ref(struct vfm_device *dev, struct vfm_vf_ref *ref, char *why, size_t size)
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
int job_vf_apply(const struct vfm_restore_opts *o, struct vfm_device *dev,
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

void job_vf_status(struct vfm_job_dev *d, const char *what, uint32_t fields)
{
	char list[64] = "";

	if (fields)
		vfm_vf_fields_format(fields, list, sizeof(list));
	snprintf(d->vf_config, sizeof(d->vf_config), "%s%s%s", what, fields ? ": " : "",
		 fields ? list : "");
}
