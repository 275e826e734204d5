// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Save (the source), phase by phase as in design.md.
 *
 * The rule that governs it: a device state never runs on two hosts.  Until COMMIT
 * has gone out, the destination runs nothing, so every failure returns the devices
 * to RUNNING (vfm_set_rollback()).  Once any byte of COMMIT may have reached the
 * destination, only an explicit failure VERDICT lets the devices run here again;
 * without a verdict the job is "in doubt" and leaves them stopped with their state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "job-internal.h"
#include "transport.h"
#include "util.h"

struct save {
	struct job j;
	const struct vfm_save_opts *o; /* &opts */
	struct vfm_save_opts opts;
	struct vfm_device **devs;
	size_t n;
	struct vfm_stream_header *hdr;
	struct vfm_stream_reader *rr; /* the destination's answers (two-way) */
	bool two_way;
	bool use_precopy;
	bool touched;	   /* a device left RUNNING: a failure rolls back */
	bool committed;	   /* COMMIT may have reached the destination */
	bool refused;	   /* a failure VERDICT: the destination runs nothing */
	uint64_t t_quiesce;
	uint8_t token[VFM_STREAM_TOKEN_SIZE]; /* proves a data connection ours */
	uint64_t offsets[VFM_SET_MAX];
	bool has_vf[VFM_SET_MAX];
	bool reinit[VFM_SET_MAX]; /* new initial precopy data not read yet */
	uint8_t vf_wire[VFM_SET_MAX][VFM_VF_CONFIG_WIRE_SIZE];
};

/* 0: the devices, their migration flags, and P2P where several stop together. */
static int save_open(struct save *s)
{
	struct job *j = &s->j;
	size_t failed = 0;
	int r;

	if (s->n == 0 || s->n > VFM_SET_MAX)
		return job_fail(j, -EINVAL, "between 1 and %d devices", VFM_SET_MAX);
	j->rep->n = s->n;
	r = vfm_set_init(&j->set, s->devs, s->n, &failed);
	if (r < 0)
		return job_fail(j, r, "%s: %s", vfm_device_name(s->devs[failed]),
				r == -ENOTTY ? "the driver does not support migration"
					     : strerror(-r));
	j->set.on_arc = job_on_set_arc;
	j->set.userdata = j;
	if (s->n > 1 && !vfm_set_all_p2p(&j->set) && !s->o->force) {
		for (failed = 0; failed < s->n && (j->set.flags[failed] & VFM_MIG_P2P); failed++)
			;
		return job_fail(j, -EOPNOTSUPP,
				"%s lacks P2P: several devices can only be stopped safely when "
				"all have it (--force to migrate anyway)",
				vfm_device_name(s->devs[failed]));
	}
	return 0;
}

/* 0b: the VF network settings that travel with each device, read before anything
 * is sent so that a failure touches nothing. */
static int save_vf_capture(struct save *s)
{
	struct job *j = &s->j;

	for (size_t i = 0; i < s->n; i++) {
		struct vfm_vf_ref ref;
		struct vfm_vf_config cfg;
		char why[VFM_NET_WHY_MAX] = "";
		int r;

		if (s->o->no_vf_config) {
			job_vf_status(&j->rep->dev[i], "skipped (--no-vf-config)", 0);
			continue;
		}
		r = job_vf_ref(s->devs[i], &ref, why, sizeof(why));
		if (r >= 0)
			r = vfm_vf_config_capture_ref(vfm_device_ctx(s->devs[i]), &ref, &cfg,
						      why, sizeof(why));
		if (r == -ENODEV) {
			job_vf_status(&j->rep->dev[i], "none (not a network VF)", 0);
			continue;
		}
		if (r >= 0)
			r = vfm_vf_config_encode(&cfg, s->vf_wire[i]);
		if (r < 0)
			return job_fail(j, r,
					"%s: reading its VF network settings: %s (--no-vf-config "
					"to skip)",
					vfm_device_name(s->devs[i]), why[0] ? why : strerror(-r));
		s->has_vf[i] = true;
		job_vf_status(&j->rep->dev[i], "sent", cfg.have);
	}
	return 0;
}

/* 1: the header, with every device's identity. */
static int save_header(struct save *s)
{
	struct job *j = &s->j;
	struct vfm_job_report *rep = j->rep;
	struct vfm_stream_header *hdr;
	struct vfm_record rec;
	int r;

	job_phase(j, VFM_JOB_HEADER);
	hdr = s->hdr = calloc(1, sizeof(*hdr));
	if (!hdr)
		return job_fail(j, -ENOMEM, "out of memory");
	if (getrandom(&hdr->stream_id, sizeof(hdr->stream_id), GRND_NONBLOCK) !=
	    sizeof(hdr->stream_id))
		hdr->stream_id = now_usec() ^ ((uint64_t)getpid() << 32);
	rep->stream_id = hdr->stream_id;
	hdr->n_devices = (uint16_t)s->n;
	for (size_t i = 0; i < s->n; i++) {
		const struct vfm_device_identity *id = vfm_device_identity(s->devs[i]);
		struct vfm_stream_devdesc *d = &hdr->dev[i];
		uint64_t size;

		d->mig_flags = job_flags_to_stream(j->set.flags[i]);
		d->vendor = id->vendor;
		d->device = id->device;
		d->subsystem_vendor = id->subsystem_vendor;
		d->subsystem_device = id->subsystem_device;
		d->revision = id->revision;
		d->data_size = vfm_device_get_data_size(s->devs[i], &size) >= 0
				       ? size
				       : VFM_STREAM_SIZE_UNKNOWN;
		d->kind = (uint16_t)job_kind_to_stream(id->kind);
		strcopy(d->driver, sizeof(d->driver), id->driver);
		strcopy(d->mdev_type, sizeof(d->mdev_type), id->mdev_type);
		strcopy(d->name, sizeof(d->name), id->name);
		strcopy(rep->dev[i].name, sizeof(rep->dev[i].name), id->name);
		rep->dev[i].estimate = d->data_size;
		if (s->has_vf[i])
			d->dev_flags |= VFM_STREAM_DEV_VF_CONFIG;
		if (s->o->precopy && (j->set.flags[i] & VFM_MIG_PRE_COPY))
			s->use_precopy = true;
	}
	if (s->use_precopy)
		hdr->flags |= VFM_STREAM_F_PRECOPY;
	/* A peer that answers takes part in the commit: it runs nothing before COMMIT. */
	s->two_way = vfm_endpoint_is_two_way(j->ep);
	rep->one_way = !s->two_way;
	if (s->two_way)
		hdr->flags |= VFM_STREAM_F_COMMIT;
	if (s->o->streams) {
		if (s->o->streams > VFM_STREAMS_MAX || !s->o->open_stream)
			return job_fail(j, -EINVAL,
					"%u data connections: 1 to %d, with open_stream set",
					s->o->streams, VFM_STREAMS_MAX);
		if (!s->two_way)
			return job_fail(j, -EINVAL,
					"data connections need a connection to %s, not a "
					"one-way transport",
					job_peer(j));
		if (getrandom(s->token, sizeof(s->token), 0) != sizeof(s->token))
			return job_fail(j, -EIO, "no random bytes for the data connections");
		hdr->flags |= VFM_STREAM_F_STREAMS;
	}
	rec = (struct vfm_record){ .type = VFM_STREAM_HEADER, .header = hdr };
	r = job_send_preamble(j);
	if (r >= 0)
		r = job_send(j, &rec);
	if (r >= 0 && s->o->streams) {
		rec = (struct vfm_record){ .type = VFM_STREAM_STREAMS,
					   .streams = { .count = (uint16_t)s->o->streams,
							.token = s->token } };
		r = job_send(j, &rec);
	}
	if (r < 0)
		return job_fail(j, r, "sending the header to %s: %s", job_peer(j), strerror(-r));
	return 0;
}

/* A failure VERDICT: the destination runs nothing. */
static int verdict_failed(struct save *s, const struct vfm_record *rec)
{
	struct job *j = &s->j;
	int err = -(int)(rec->verdict.status ? rec->verdict.status : EPROTO);

	if (rec->verdict.dev != VFM_STREAM_NO_DEVICE && rec->verdict.dev < s->n)
		return job_fail(j, err, "destination %s failed to load device %u (%s here): %s",
				job_peer(j), rec->verdict.dev,
				vfm_device_name(j->set.dev[rec->verdict.dev]),
				rec->verdict.reason);
	return job_fail(j, err, "destination %s failed: %s", job_peer(j), rec->verdict.reason);
}

/* Read the destination's next answer, within @times the job's timeout. */
static int read_answer(struct save *s, const char *what, unsigned times,
		       struct vfm_record *rec)
{
	struct job *j = &s->j;
	char buf[128];
	int t;

	job_deadline(j, times);
	t = vfm_stream_read(s->rr, rec);
	job_deadline(j, 0);
	if (t < 0)
		return job_fail(j, t, "no %s from %s: %s", what, job_peer(j),
				job_reader_why(j, s->rr, t, buf, sizeof(buf)));
	if (t == 0)
		return job_fail(j, -ECONNRESET, "%s closed the connection without %s",
				job_peer(j), what);
	if (t == VFM_STREAM_VERDICT && rec->verdict.status) {
		s->refused = true;
		return verdict_failed(s, rec);
	}
	return t;
}

/* 2: a two-way peer says whether its devices can take this, before any stops. */
static int save_compat(struct save *s)
{
	struct job *j = &s->j;
	struct vfm_record rec;
	int r;

	if (!s->two_way)
		return 0;
	job_phase(j, VFM_JOB_COMPAT);
	r = vfm_stream_reader_new(VFM_STREAM_TO_SOURCE, (unsigned)s->n, job_ep_read, j->ep,
				  &s->rr);
	if (r < 0)
		return job_fail(j, r, "out of memory");
	vfm_stream_reader_set_stream_id(s->rr, s->hdr->stream_id);
	r = read_answer(s, "compatibility answer", 1, &rec);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rec.compat->n_devices; i++)
		if (rec.compat->dev[i].code != VFM_COMPAT_OK)
			return job_fail(j, -EREMOTEIO,
					"destination %s: device %zu (%s here) is not compatible: %s",
					job_peer(j), i, vfm_device_name(j->set.dev[i]),
					rec.compat->dev[i].reason);
	if (s->o->streams)
		return job_streams_open(j, s->o->streams, s->o->open_stream,
					s->o->stream_userdata, s->token);
	return 0;
}

/* 2b: the VF network settings, before any data. */
static int save_vf_send(struct save *s)
{
	struct job *j = &s->j;

	for (size_t i = 0; i < s->n; i++) {
		struct vfm_record rec = { .type = VFM_STREAM_VF_CONFIG,
					  .vf_config = { .dev = (uint16_t)i,
							 .bytes = s->vf_wire[i],
							 .len = VFM_VF_CONFIG_WIRE_SIZE } };
		int r;

		if (!s->has_vf[i])
			continue;
		r = job_send(j, &rec);
		if (r < 0)
			return job_fail(j, r, "sending to %s: %s", job_peer(j), strerror(-r));
	}
	return 0;
}

/* 3: precopy rounds while the devices run. */
static int save_precopy(struct save *s)
{
	struct job *j = &s->j;
	const struct vfm_save_opts *o = s->o;
	uint64_t t0;
	int r;

	s->touched = true;
	if (!s->use_precopy)
		return 0;
	job_phase(j, VFM_JOB_PRECOPY);
	r = job_phase_or_fail(j, VFM_PHASE_PRECOPY);
	if (r < 0)
		return r;
	t0 = now_usec();
	for (;;) {
		uint64_t initial = 0, dirty = 0, moved = j->rep->total_bytes;
		bool any = false, want[VFM_SET_MAX] = { false }, reinit_pending = false;

		for (size_t i = 0; i < s->n; i++) {
			enum vfm_state st;

			want[i] = vfm_device_get_state(j->set.dev[i], &st) == 0 &&
				  st == VFM_STATE_PRE_COPY;
			any |= want[i];
		}
		r = job_stream_all(j, s->offsets, true, want);
		if (r < 0)
			return r;
		for (size_t i = 0; i < s->n; i++) {
			struct vfm_precopy_info pi;
			uint64_t in, di;

			if (!want[i])
				continue;
			r = vfm_device_get_precopy(j->set.dev[i], &pi);
			if (r < 0)
				return job_fail(j, r, "%s: precopy info: %s",
						vfm_device_name(j->set.dev[i]), strerror(-r));
			in = pi.initial_bytes;
			di = pi.dirty_bytes;
			/*
			 * New initial data (Linux 7.1's REINIT): the device wants it on the
			 * destination before STOP_COPY, so PRE_COPY is not left, whatever the
			 * round and time limits say, until that device's initial bytes are
			 * read.  Cancel and the job's deadlines still apply.
			 */
			if (pi.flags & VFM_PRECOPY_REINIT) {
				s->reinit[i] = true;
				j->rep->precopy_reinits++;
				j->rep->dev[i].precopy_reinits++;
			}
			if (s->reinit[i] && in == 0)
				s->reinit[i] = false;
			reinit_pending |= s->reinit[i];
			initial += in;
			dirty += di;
		}
		j->rep->precopy_rounds++;
		if (!any)
			break;
		if (initial == 0 && dirty <= o->dirty_threshold)
			break;
		if (!reinit_pending && o->precopy_max_rounds &&
		    j->rep->precopy_rounds >= o->precopy_max_rounds)
			break;
		if (!reinit_pending && o->precopy_max_usec &&
		    now_usec() - t0 >= o->precopy_max_usec)
			break;
		/* Nothing came although the driver says some is pending: give it a moment
		 * rather than spin. */
		if (j->rep->total_bytes == moved)
			usleep(1000);
	}
	j->rep->precopy_usec = now_usec() - t0;
	return 0;
}

/* 4: quiesce every device (a barrier), then let the VMM stop its vCPUs. */
static int save_quiesce(struct save *s)
{
	struct job *j = &s->j;
	int r;

	job_phase(j, VFM_JOB_QUIESCE);
	s->t_quiesce = now_usec();
	r = job_phase_or_fail(j, VFM_PHASE_QUIESCE);
	if (r < 0)
		return r;
	if (s->o->on_quiesced) {
		char why[256] = "";

		if (s->o->on_quiesced(s->o->hook_userdata, why, sizeof(why)) != 0)
			return job_fail(j, -ECANCELED, "the quiesced hook failed%s%s",
					why[0] ? ": " : "", why);
	}
	if (job_cancelled(j))
		return job_fail(j, -ECANCELED, "cancelled");
	return 0;
}

/* 5: stop every device and stream the rest, then END. */
static int save_stop_copy(struct save *s)
{
	struct job *j = &s->j;
	bool all[VFM_SET_MAX];
	struct vfm_record rec = { .type = VFM_STREAM_END,
				  .end = { .n_devices = (uint16_t)s->n } };
	int r;

	job_phase(j, VFM_JOB_STOP_COPY);
	r = job_phase_or_fail(j, VFM_PHASE_STOP_COPY);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n; i++)
		all[i] = true;
	r = job_stream_all(j, s->offsets, false, all);
	if (r < 0)
		return r;
	if (j->streams) {
		/* every chunk out and each connection's DONE, then the devices' ends */
		r = job_streams_finish(j);
		for (size_t i = 0; i < s->n && r >= 0; i++) {
			struct vfm_record de = {
				.type = VFM_STREAM_DEVICE_END,
				.device_end = { .dev = (uint16_t)i,
						.total = s->offsets[i],
						.precopy = j->rep->dev[i].precopy_bytes },
			};

			r = job_send(j, &de);
			if (r < 0)
				return job_fail(j, r, "sending to %s: %s", job_peer(j),
						strerror(-r));
		}
		if (r < 0)
			return r;
	}
	rec.end.total = j->rep->total_bytes;
	r = job_send(j, &rec);
	if (r < 0)
		return job_fail(j, r, "sending to %s: %s", job_peer(j), strerror(-r));
	return 0;
}

/* 6, one-way: the stream is whole once it is flushed (a file fsync'ed). */
static int save_finish_one_way(struct save *s)
{
	struct job *j = &s->j;
	int r;

	job_phase(j, VFM_JOB_VERDICT);
	r = vfm_endpoint_shutdown_write(j->ep);
	if (r < 0)
		return job_fail(j, r, "finishing %s: %s", job_peer(j), strerror(-r));
	return 0;
}

/*
 * 6, two-way: the commit.
 *   a. READY: the destination holds the whole state, loaded (RESUMING -> STOP passed)
 *      and runs nothing yet.  Any failure up to here rolls back.
 *   b. COMMIT: from its first byte on, the destination may run the devices.
 *   c. VERDICT: success, or an explicit failure (the destination reset its devices:
 *      ours may run again); nothing (cut, timeout, garbage): in doubt.
 */
static int save_commit(struct save *s)
{
	struct job *j = &s->j;
	struct vfm_record rec;
	uint64_t before;
	int r;

	job_phase(j, VFM_JOB_VERDICT);
	r = read_answer(s, "READY (the destination loaded the devices)", 1, &rec);
	if (r < 0)
		return r;
	if (r != VFM_STREAM_READY) /* the reader allows READY or a failure VERDICT */
		return job_fail(j, -EPROTO, "%s answered %s instead of READY", job_peer(j),
				vfm_stream_type_name((uint16_t)r));
	job_mark_event(j, "READY");

	/* Past this point a cancel would leave the outcome unknown: it is not
	 * honoured; the deadline bounds the wait. */
	job_ignore_cancel(j);
	job_phase(j, VFM_JOB_COMMIT);
	rec = (struct vfm_record){ .type = VFM_STREAM_COMMIT,
				   .commit = { .stream_id = s->hdr->stream_id } };
	before = vfm_endpoint_bytes_written(j->ep);
	job_deadline(j, 1);
	r = job_send(j, &rec);
	if (r < 0 && vfm_endpoint_bytes_written(j->ep) == before) {
		job_deadline(j, 0);
		return job_fail(j, r, "sending COMMIT to %s: %s (nothing of it left here)",
				job_peer(j), strerror(-r));
	}
	s->committed = true;
	job_mark_event(j, "COMMIT");
	if (r >= 0)
		(void)vfm_endpoint_shutdown_write(j->ep); /* the verdict tells */
	job_deadline(j, 0);

	/* read_answer() records why it failed; a failure VERDICT (s->refused) is
	 * the one answer that lets the devices run here again */
	/* Twice the destination's wait for COMMIT: a destination that missed it says
	 * so (a failure verdict) before we give up, which spares an "in doubt". */
	r = read_answer(s, "verdict", 2, &rec);
	if (r < 0)
		return r;
	if (r != VFM_STREAM_VERDICT)
		return job_fail(j, -EPROTO, "%s answered %s instead of its verdict",
				job_peer(j), vfm_stream_type_name((uint16_t)r));
	return 0;
}

/* Before COMMIT: tell the destination (when the connection still works) so it
 * resets now, and look for its reason when a write failed. */
static void save_abort(struct save *s, int r)
{
	struct job *j = &s->j;
	struct vfm_job_report *rep = j->rep;
	struct vfm_record rec = { .type = VFM_STREAM_ABORT,
				  .abort = { .error = (uint32_t)-r, .reason = rep->message } };

	if (rec.abort.error < 1 || rec.abort.error > VFM_STREAM_ERRNO_MAX)
		rec.abort.error = EIO;
	/* A cancel still shows on the cancel fd: telling the peer must not be
	 * cancelled too, only bounded in time. */
	job_last_word(j);
	if (r != -EPIPE && r != -ECONNRESET)
		(void)job_send(j, &rec);
	/* A write error may hide the destination's reason: look for its verdict. */
	if (s->two_way && s->rr && (r == -EPIPE || r == -ECONNRESET)) {
		struct vfm_record v;

		if (vfm_stream_read(s->rr, &v) == VFM_STREAM_VERDICT && v.verdict.status) {
			rep->error = 0;
			(void)verdict_failed(s, &v);
		}
	}
	vfm_endpoint_set_deadline(j->ep, 0);
}

/* After COMMIT without a verdict: keep the devices stopped, with their state. */
static void save_in_doubt(struct save *s)
{
	struct job *j = &s->j;
	struct vfm_job_report *rep = j->rep;
	char why[sizeof(rep->message)];

	memcpy(why, rep->message, sizeof(why));
	(void)vfm_set_phase(&j->set, VFM_PHASE_STOP, NULL); /* ends the data session */
	rep->in_doubt = true;
	snprintf(rep->message, sizeof(rep->message),
		 "in doubt: COMMIT went to %s but no verdict came back (%.800s); the "
		 "destination may be running the devices. They stay stopped here with their "
		 "state",
		 job_peer(j), why);
}

static int save_run(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		    const struct vfm_save_opts *opts, struct vfm_job_report *rep)
{
	struct vfm_save_opts defaults;
	struct save *s;
	int r;

	vfm_save_opts_init(&defaults);
	if (opts) {
		r = job_opts_merge(&defaults, sizeof(defaults), JOB_SAVE_OPTS_0_1, opts,
				   opts->size, opts->report_size);
		if (r == -EOPNOTSUPP)
			return job_not_started(rep, r, true,
					       "options set that this libvfiomig does not "
					       "know (built against a newer one?)");
		if (r < 0)
			return r;
	}
	if (!ep)
		return job_not_started(rep, -EINVAL, true, "no endpoint");
	s = calloc(1, sizeof(*s));
	if (!s)
		return job_no_memory(rep, true);
	s->opts = defaults;
	s->o = opts = &s->opts;
	s->devs = devs;
	s->n = n;
	job_set_hooks(&s->j, &(struct job_hooks){ opts->progress, opts->progress_userdata,
						   opts->cancel_fd, opts->timeout_ms,
						   opts->on_arc, opts->arc_userdata });
	job_set_events(&s->j, opts->on_event, opts->event_userdata);

	r = job_init(&s->j, rep, ep, opts->chunk_size);
	if (r >= 0)
		r = save_open(s);
	if (r >= 0)
		r = save_vf_capture(s);
	if (r >= 0)
		r = save_header(s);
	if (r >= 0)
		r = save_compat(s);
	if (r >= 0)
		r = save_vf_send(s);
	if (r >= 0)
		r = save_precopy(s);
	if (r >= 0)
		r = save_quiesce(s);
	if (r >= 0)
		r = save_stop_copy(s);
	if (r >= 0)
		r = s->two_way ? save_commit(s) : save_finish_one_way(s);
	if (s->t_quiesce)
		rep->downtime_usec = now_usec() - s->t_quiesce;
	job_verdict_event(&s->j);

	if (r >= 0) {
		/* The state lives at the destination now: leave the devices stopped.
		 * Not reaching STOP only keeps a finished session open. */
		(void)vfm_set_phase(&s->j.set, VFM_PHASE_STOP, NULL);
		job_phase(&s->j, VFM_JOB_DONE);
		r = 0;
	} else if (s->committed && !s->refused) {
		save_in_doubt(s);
	} else if (s->touched) {
		int rb;

		if (!s->committed)
			save_abort(s, r);
		rb = vfm_set_rollback(&s->j.set);
		rep->rolled_back = true;
		rep->devices_left_running = rb >= 0;
		if (rb < 0) {
			size_t len = strlen(rep->message);

			snprintf(rep->message + len, sizeof(rep->message) - len,
				 "; rollback incomplete: %s", strerror(-rb));
		}
	} else {
		rep->devices_left_running = true; /* untouched */
	}
	vfm_stream_reader_free(s->rr);
	free(s->hdr);
	job_done(&s->j);
	free(s);
	return r;
}

_public_ int vfm_save(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		const struct vfm_save_opts *opts, struct vfm_job_report *report)
{
	size_t size = opts ? opts->report_size : sizeof(*report);
	struct vfm_job_report *rep;
	int r;

	rep = job_report_begin(report, size, true, &r);
	if (!rep)
		return r;
	r = save_run(devs, n, ep, opts, rep);
	job_report_end(report, size, rep);
	return r;
}
