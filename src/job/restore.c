// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Restore (the destination), phase by phase as in design.md.
 *
 * On a two-way transport the destination runs its devices only once the source has
 * sent COMMIT, which it does only after this side said READY (every device loaded).
 * Until COMMIT every failure resets the devices, and the source keeps running its
 * own; after COMMIT a failure to run resets them too and says so in the VERDICT, the
 * one answer that lets the source resume.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "job-internal.h"
#include "transport.h"
#include "util.h"

struct restore {
	struct job j;
	const struct vfm_restore_opts *o; /* &opts */
	struct vfm_restore_opts opts;
	struct vfm_device **devs;
	size_t n;
	struct vfm_stream_reader *rd;
	const struct vfm_stream_header *hdr;
	struct vfm_stream_compat compat;
	struct vfm_device *order[VFM_SET_MAX];
	struct writers *ws;
	bool answers;	 /* the endpoint can carry answers back */
	bool two_way;	 /* ...and the source reads them (HEADER F_COMMIT) */
	bool touched;	 /* a device left its state: a failure resets */
	bool committed;	 /* COMMIT came: the devices are to run */
	uint16_t bad_dev; /* for the failure VERDICT */
	/* data connections (HEADER F_STREAMS): how many, the token that proves them */
	unsigned n_streams;
	uint8_t token[VFM_STREAM_TOKEN_SIZE];
	/* VF network settings: the destination VFs, what they had (to undo), what the
	 * stream brings, which were applied */
	struct vfm_vf_ref vf_ref[VFM_SET_MAX];
	struct vfm_vf_config vf_orig[VFM_SET_MAX], vf_new[VFM_SET_MAX];
	bool vf_want[VFM_SET_MAX], vf_got[VFM_SET_MAX], vf_applied[VFM_SET_MAX];
};

/* 1: the header, within the job's deadline (a peer that trickles bytes or never
 * speaks holds nothing). */
static int restore_header(struct restore *s)
{
	struct job *j = &s->j;
	struct vfm_record rec;
	char buf[128];
	int r, t;

	if (s->n == 0 || s->n > VFM_SET_MAX)
		return job_fail(j, -EINVAL, "between 1 and %d devices", VFM_SET_MAX);
	j->rep->n = s->n;
	job_phase(j, VFM_JOB_HEADER);
	r = vfm_stream_reader_new(VFM_STREAM_TO_DESTINATION, 0, job_ep_read, j->ep, &s->rd);
	if (r < 0)
		return job_fail(j, r, "out of memory");
	job_deadline(j, 1);
	t = vfm_stream_read(s->rd, &rec);
	job_deadline(j, 0);
	if (t <= 0)
		return job_fail(j, t < 0 ? t : -EPROTO, "reading the stream from %s: %s",
				job_peer(j),
				t == 0 ? "empty stream" : job_reader_why(j, s->rd, t, buf, sizeof(buf)));
	s->hdr = rec.header;
	j->rep->stream_id = s->hdr->stream_id;
	if (s->hdr->flags & VFM_STREAM_F_STREAMS) {
		job_deadline(j, 1);
		t = vfm_stream_read(s->rd, &rec);
		job_deadline(j, 0);
		if (t != VFM_STREAM_STREAMS)
			return job_fail(j, t < 0 ? t : -EPROTO, "reading the stream from %s: %s",
					job_peer(j),
					t == 0 ? "it ended after its HEADER"
					: t > 0 ? "the source gave up"
						: job_reader_why(j, s->rd, t, buf, sizeof(buf)));
		s->n_streams = rec.streams.count;
		memcpy(s->token, rec.streams.token, sizeof(s->token));
	}
	s->two_way = s->answers && (s->hdr->flags & VFM_STREAM_F_COMMIT);
	j->rep->one_way = !s->two_way;
	/* Over a connection the source is a live vfiomig save, which commits; a
	 * stream without the flag was written for a file or a pipe (a recording being
	 * replayed into a socket, perhaps): refused.  Over stdio or exec: a one-way
	 * source (save --to -) is what the operator ran: it is read as a file is, and
	 * answered nothing. */
	if (!s->two_way && vfm_endpoint_is_socket(j->ep))
		return job_fail(j, -EPROTO,
				"the stream from %s was written for a one-way transport (a file "
				"or a pipe), not by a source that commits over a connection: "
				"refused",
				job_peer(j));
	return 0;
}

/* Whether stream device @d fits destination device @id. */
static uint32_t compat_check(const struct vfm_stream_devdesc *d,
			     const struct vfm_device_identity *id, uint32_t flags, bool several,
			     bool skip_ids, char *why, size_t size)
{
	uint32_t want = VFM_STREAM_MIG_STOP_COPY |
			(several ? (d->mig_flags & VFM_STREAM_MIG_P2P) : 0);
	uint32_t have = job_flags_to_stream(flags);

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
		if (d->driver[0] && id->driver[0] && !streq(d->driver, id->driver)) {
			snprintf(why, size, "source driver %.40s, destination %.40s", d->driver,
				 id->driver);
			return VFM_COMPAT_DRIVER;
		}
		if (d->mdev_type[0] && id->mdev_type[0] && !streq(d->mdev_type, id->mdev_type)) {
			snprintf(why, size, "source mdev type '%.40s', destination '%.40s'",
				 d->mdev_type, id->mdev_type);
			return VFM_COMPAT_MDEV_TYPE;
		}
	}
	if ((have & want) != want) {
		snprintf(why, size, "destination %.60s lacks %s", id->name,
			 (want & ~have & VFM_STREAM_MIG_P2P) ? "P2P (several devices)"
							     : "STOP_COPY");
		return VFM_COMPAT_FLAGS;
	}
	why[0] = '\0';
	return VFM_COMPAT_OK;
}

/* The destination VF of device @i can take the settings the stream announces. */
static void compat_vf(struct restore *s, size_t i)
{
	char *why = s->compat.dev[i].reason;
	char nwhy[VFM_NET_WHY_MAX] = "";
	int q;

	if (s->o->no_vf_config) {
		job_vf_status(&s->j.rep->dev[i], "ignored (--no-vf-config)", 0);
		return;
	}
	q = job_vf_ref(s->order[i], &s->vf_ref[i], nwhy, sizeof(nwhy));
	if (q >= 0)
		q = vfm_vf_config_capture_ref(vfm_device_ctx(s->order[i]), &s->vf_ref[i],
					      &s->vf_orig[i], nwhy, sizeof(nwhy));
	if (q < 0) {
		s->compat.dev[i].code = VFM_COMPAT_VF_CONFIG;
		snprintf(why, VFM_STREAM_COMPAT_REASON_SIZE,
			 "cannot take the VF network settings: %.60s",
			 nwhy[0] ? nwhy : strerror(-q));
		return;
	}
	s->vf_want[i] = true;
}

/* 2: compatibility, before touching any device; answered on a two-way transport. */
static int restore_compat(struct restore *s)
{
	struct job *j = &s->j;
	const struct vfm_stream_header *hdr = s->hdr;
	struct vfm_stream_compat *c = &s->compat;
	bool compatible = true;
	size_t failed = 0;
	int r = 0;

	job_phase(j, VFM_JOB_COMPAT);
	c->n_devices = hdr->n_devices;
	if (hdr->n_devices != s->n) {
		for (size_t i = 0; i < hdr->n_devices; i++) {
			c->dev[i].code = VFM_COMPAT_COUNT;
			snprintf(c->dev[i].reason, sizeof(c->dev[i].reason),
				 "the stream has %u devices, the destination %zu", hdr->n_devices,
				 s->n);
		}
		compatible = false;
		r = job_fail(j, -EREMOTEIO, "the stream has %u devices, %zu given here",
			     hdr->n_devices, s->n);
	} else {
		for (size_t i = 0; i < s->n; i++) {
			unsigned k = s->o->map ? s->o->map[i] : (unsigned)i;

			if (k >= s->n)
				return job_fail(j, -EINVAL, "mapping of device %zu out of range", i);
			s->order[i] = s->devs[k];
		}
		r = vfm_set_init(&j->set, s->order, s->n, &failed);
		for (size_t i = 0; i < s->n; i++) {
			const struct vfm_device_identity *id = vfm_device_identity(s->order[i]);
			char *why = c->dev[i].reason;

			strcopy(j->rep->dev[i].name, sizeof(j->rep->dev[i].name), id->name);
			j->rep->dev[i].estimate = hdr->dev[i].data_size;
			if (r < 0 && i >= failed) {
				c->dev[i].code = VFM_COMPAT_OPEN;
				snprintf(why, VFM_STREAM_COMPAT_REASON_SIZE, "%.80s: %s", id->name,
					 i == failed && r == -ENOTTY ? "no migration support"
								     : "not prepared");
			} else {
				c->dev[i].code = compat_check(&hdr->dev[i], id, j->set.flags[i],
							      s->n > 1, s->o->skip_compat_ids, why,
							      VFM_STREAM_COMPAT_REASON_SIZE);
			}
			if (c->dev[i].code == VFM_COMPAT_OK &&
			    (hdr->dev[i].dev_flags & VFM_STREAM_DEV_VF_CONFIG))
				compat_vf(s, i);
			if (c->dev[i].code != VFM_COMPAT_OK && compatible) {
				compatible = false;
				s->bad_dev = (uint16_t)i;
				r = job_fail(j, -EREMOTEIO,
					     "stream device %zu (%s at the source) does not fit %s: %s",
					     i, hdr->dev[i].name, id->name, why);
			}
		}
	}
	if (s->two_way) {
		struct vfm_record rec = { .type = VFM_STREAM_COMPAT, .compat = c };
		int w = job_send_preamble(j);

		if (w >= 0)
			w = job_send(j, &rec);
		if (w < 0 && compatible)
			return job_fail(j, w, "answering %s: %s", job_peer(j), strerror(-w));
	}
	if (!compatible) {
		s->two_way = false; /* COMPAT said it all */
		return r;	    /* no device was touched */
	}
	j->set.on_arc = job_on_set_arc;
	j->set.userdata = j;
	if (s->n_streams)
		return job_streams_accept(j, s->hdr, s->n_streams, s->token, s->o->open_stream,
					  s->o->stream_userdata);
	return 0;
}

/* A VF_CONFIG record: keep the settings for the run phase. */
static int take_vf_config(struct restore *s, const struct vfm_record *rec)
{
	char nwhy[VFM_NET_WHY_MAX] = "";
	uint16_t k = rec->vf_config.dev;
	int r;

	if (!s->vf_want[k])
		return 0; /* --no-vf-config */
	r = vfm_vf_config_decode(rec->vf_config.bytes, rec->vf_config.len, &s->vf_new[k],
				 nwhy, sizeof(nwhy));
	if (r < 0) {
		s->bad_dev = k;
		return job_fail(&s->j, r, "VF network settings of stream device %u: %s", k, nwhy);
	}
	s->vf_got[k] = true;
	return 0;
}

/*
 * 3, with data connections: the data comes over them, each up to its DONE; then the
 * control connection's DEVICE_ENDs (each checked against what its device took) and
 * END.  When a data connection fails, the source may have said why on the control
 * connection (ABORT): that is the reason then.
 */
static int restore_data_streams(struct restore *s)
{
	struct job *j = &s->j;
	uint64_t total[VFM_SET_MAX] = { 0 }, precopy[VFM_SET_MAX] = { 0 };
	struct vfm_record rec;
	char buf[128];
	int r, t;

	r = job_streams_receive(j, total, precopy);
	if (r < 0) {
		/* a brief look for the source's ABORT, after its VF settings */
		vfm_endpoint_set_deadline(j->ep, now_usec() + 2000000);
		for (int i = 0; i <= VFM_SET_MAX; i++) {
			t = vfm_stream_read(s->rd, &rec);
			if (t == VFM_STREAM_ABORT) {
				j->rep->error = 0;
				r = job_fail(j, -(int)rec.abort.error, "the source gave up: %s",
					     rec.abort.reason);
				s->two_way = false; /* it is not listening for a verdict */
			}
			if (t != VFM_STREAM_VF_CONFIG)
				break;
		}
		vfm_endpoint_set_deadline(j->ep, 0);
		return r;
	}
	for (;;) {
		job_deadline(j, 1);
		t = vfm_stream_read(s->rd, &rec);
		job_deadline(j, 0);
		if (t <= 0)
			return job_fail(j, t < 0 ? t : -EPROTO, "stream from %s: %s", job_peer(j),
					t == 0 ? "ended before its END record"
					       : job_reader_why(j, s->rd, t, buf, sizeof(buf)));
		if (t == VFM_STREAM_END)
			return 0;
		if (t == VFM_STREAM_ABORT) {
			s->two_way = false;
			return job_fail(j, -(int)rec.abort.error, "the source gave up: %s",
					rec.abort.reason);
		}
		if (t == VFM_STREAM_VF_CONFIG) {
			r = take_vf_config(s, &rec);
			if (r < 0)
				return r;
			continue;
		}
		if (t != VFM_STREAM_DEVICE_END)
			continue;
		if (rec.device_end.total != total[rec.device_end.dev] ||
		    rec.device_end.precopy != precopy[rec.device_end.dev]) {
			s->bad_dev = rec.device_end.dev;
			return job_fail(j, -EPROTO,
					"stream from %s: DEVICE_END of device %u says %llu bytes "
					"(%llu precopy), its data connections brought %llu (%llu)",
					job_peer(j), rec.device_end.dev,
					(unsigned long long)rec.device_end.total,
					(unsigned long long)rec.device_end.precopy,
					(unsigned long long)total[rec.device_end.dev],
					(unsigned long long)precopy[rec.device_end.dev]);
		}
	}
}

/* 3: every device to RESUMING, then the data up to END, each chunk's CRC checked by
 * the reader before its bytes reach a device. */
static int restore_data(struct restore *s)
{
	struct job *j = &s->j;
	struct vfm_record rec;
	char buf[128];
	int r, t, bad;

	job_phase(j, VFM_JOB_RESUMING);
	s->touched = true;
	r = job_phase_or_fail(j, VFM_PHASE_RESUMING);
	if (r < 0)
		return r;
	if (j->streams)
		return restore_data_streams(s);
	s->ws = writers_new();
	if (!s->ws)
		return job_fail(j, -ENOMEM, "out of memory");
	r = writers_start(s->ws, j, s->n);
	for (;;) {
		if (r < 0)
			break;
		r = __atomic_load_n(&j->rep->error, __ATOMIC_RELAXED);
		if (r < 0) /* a writer failed */
			break;
		if (job_cancelled(j)) {
			r = job_fail(j, -ECANCELED, "cancelled");
			break;
		}
		t = vfm_stream_read(s->rd, &rec);
		if (t <= 0) {
			r = job_fail(j, t < 0 ? t : -EPROTO, "stream from %s: %s", job_peer(j),
				     t == 0 ? "ended before its END record"
					    : job_reader_why(j, s->rd, t, buf, sizeof(buf)));
			break;
		}
		if (t == VFM_STREAM_END)
			break;
		if (t == VFM_STREAM_ABORT) {
			r = job_fail(j, -(int)rec.abort.error, "the source gave up: %s",
				     rec.abort.reason);
			s->two_way = false; /* it is not listening for a verdict */
			break;
		}
		if (t == VFM_STREAM_VF_CONFIG) {
			r = take_vf_config(s, &rec);
			continue;
		}
		if (t != VFM_STREAM_DATA)
			continue;
		r = writers_push(s->ws, s->rd, &rec);
		if (r >= 0) {
			j->rep->total_bytes += rec.data.len;
			job_tick(j);
		}
	}
	/* every chunk is in its device once the writers are done */
	bad = writers_stop(s->ws);
	if (bad >= 0 && s->bad_dev == VFM_STREAM_NO_DEVICE)
		s->bad_dev = (uint16_t)bad;
	if (r >= 0 && j->rep->error)
		r = j->rep->error;
	return r;
}

/* 4: load: the driver validates the data on RESUMING -> STOP. */
static int restore_load(struct restore *s)
{
	struct job *j = &s->j;
	size_t failed = 0;
	int r;

	job_phase(j, VFM_JOB_LOAD);
	r = vfm_set_phase(&j->set, VFM_PHASE_STOP, &failed);
	if (r < 0) {
		s->bad_dev = (uint16_t)failed;
		return job_fail(j, r,
				"%s: RESUMING -> STOP: %s (the driver rejected the migration data)",
				vfm_device_name(j->set.dev[failed]), strerror(-r));
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->vf_want[i] && !s->vf_got[i]) {
			s->bad_dev = (uint16_t)i;
			return job_fail(j, -EPROTO,
					"the stream announced VF network settings for device %zu "
					"but sent none",
					i);
		}
	return 0;
}

/* 5, two-way: READY, then wait for COMMIT.  Without it nothing runs. */
static int restore_commit(struct restore *s)
{
	struct job *j = &s->j;
	struct vfm_record rec = { .type = VFM_STREAM_READY,
				  .commit = { .stream_id = s->hdr->stream_id } };
	char buf[128];
	int r, t;

	job_phase(j, VFM_JOB_COMMIT);
	r = job_send(j, &rec);
	if (r < 0)
		return job_fail(j, r, "telling %s the devices loaded (READY): %s", job_peer(j),
				strerror(-r));
	job_mark_event(j, "READY");
	job_deadline(j, 1);
	t = vfm_stream_read(s->rd, &rec);
	job_deadline(j, 0);
	if (t == VFM_STREAM_COMMIT) {
		job_mark_event(j, "COMMIT");
		s->committed = true;
		/* From here the devices are to run: a cancel no longer applies. */
		job_ignore_cancel(j);
		return 0;
	}
	if (t == VFM_STREAM_ABORT) {
		s->two_way = false; /* it is not listening for a verdict */
		return job_fail(j, -(int)rec.abort.error, "the source gave up after END: %s",
				rec.abort.reason);
	}
	return job_fail(j, t < 0 ? t : -EPROTO, "no COMMIT from %s: %s", job_peer(j),
			t == 0 ? "the stream ended"
			       : job_reader_why(j, s->rd, t, buf, sizeof(buf)));
}

/* 6: the VFs' network settings, then run, with the P2P barrier between. */
static int restore_run(struct restore *s)
{
	struct job *j = &s->j;
	int r;

	for (size_t i = 0; i < s->n; i++) {
		char nwhy[VFM_NET_WHY_MAX] = "";
		uint32_t changed = 0;

		if (!s->vf_want[i])
			continue;
		r = job_vf_apply(s->o, j->set.dev[i], &s->vf_ref[i], &s->vf_new[i], &changed,
				 nwhy, sizeof(nwhy));
		s->vf_applied[i] = true;
		if (r < 0) {
			s->bad_dev = (uint16_t)i;
			return job_fail(j, r, "%s: applying the VF network settings: %s",
					vfm_device_name(j->set.dev[i]), nwhy);
		}
		job_vf_status(&j->rep->dev[i], changed ? "applied" : "applied (already set)",
			      changed);
	}
	r = job_phase_or_fail(j, VFM_PHASE_UNQUIESCE);
	if (r >= 0)
		r = job_phase_or_fail(j, VFM_PHASE_RUN);
	return r;
}

/* 7: the success verdict.  Once the devices run, failing to say so changes nothing
 * here: the source, left in doubt, keeps its devices stopped. */
static void restore_verdict(struct restore *s)
{
	struct job *j = &s->j;
	struct vfm_record rec = { .type = VFM_STREAM_VERDICT,
				  .verdict = { .status = 0,
					       .dev = VFM_STREAM_NO_DEVICE,
					       .reason = "" } };
	int r;

	job_phase(j, VFM_JOB_VERDICT);
	if (!s->two_way)
		return;
	job_deadline(j, 1);
	r = job_send(j, &rec);
	if (r >= 0)
		r = vfm_endpoint_shutdown_write(j->ep);
	job_deadline(j, 0);
	if (r < 0) {
		j->rep->verdict_lost = true;
		snprintf(j->rep->message, sizeof(j->rep->message),
			 "the devices run, but the verdict could not reach %s (%s): the source "
			 "reports the migration in doubt and keeps its devices stopped",
			 job_peer(j), strerror(-r));
	}
}

/* Undo what a failed restore did: the VFs' old settings, the devices reset (so
 * nothing of the state runs here), then the failure verdict. */
static void restore_undo(struct restore *s)
{
	struct job *j = &s->j;
	struct vfm_job_report *rep = j->rep;
	struct vfm_record rec = {
		.type = VFM_STREAM_VERDICT,
		.verdict = { .status = (uint32_t)(rep->error ? -rep->error : EIO),
			     .dev = s->bad_dev,
			     .reason = rep->message },
	};
	uint8_t drain[4096];

	for (size_t i = 0; i < s->n; i++)
		if (s->vf_applied[i]) {
			char nwhy[VFM_NET_WHY_MAX];

			(void)job_vf_apply(s->o, j->set.dev[i], &s->vf_ref[i], &s->vf_orig[i],
					   NULL, nwhy, sizeof(nwhy));
		}
	if (s->touched) {
		int bad = 0;

		for (size_t i = 0; i < j->set.n; i++) {
			struct vfm_device *dev = j->set.dev[i];
			enum vfm_state st;
			int rr = vfm_device_reset(dev), g = vfm_device_get_state(dev, &st);
			char state[64];

			if (rr >= 0 && g >= 0 && st == VFM_STATE_RUNNING)
				continue;
			/* the first such device, with what its state reads now */
			if (bad++ == 0) {
				if (g < 0)
					snprintf(state, sizeof(state),
						 "its state cannot be read (%s)", strerror(-g));
				else
					snprintf(state, sizeof(state), "it is in %s",
						 vfm_state_name(st));
				snprintf(rep->reset_failure, sizeof(rep->reset_failure),
					 "%s: %s%s%s; %s", vfm_device_name(dev),
					 rr < 0 ? "reset failed (" : "reset did not bring it to RUNNING",
					 rr < 0 ? strerror(-rr) : "", rr < 0 ? ")" : "", state);
			}
		}
		if (bad > 1) {
			size_t l = strlen(rep->reset_failure);

			snprintf(rep->reset_failure + l, sizeof(rep->reset_failure) - l,
				 " (and %d more devices not in RUNNING)", bad - 1);
		}
		rep->rolled_back = true;
		rep->reset_failed = bad > 0;
	}
	if (!s->two_way)
		return;
	if (rec.verdict.status > VFM_STREAM_ERRNO_MAX)
		rec.verdict.status = EIO;
	/* A cancel must not keep the reason from the source; bounded in time. */
	job_last_word(j);
	if (job_send(j, &rec) >= 0 && vfm_endpoint_shutdown_write(j->ep) >= 0) {
		/* Read (and drop) what the source still sends, briefly, so that closing
		 * does not reset the connection under the verdict. */
		for (int i = 0; i < 4096; i++)
			if (vfm_endpoint_read(j->ep, drain, sizeof(drain)) <= 0)
				break;
	}
	vfm_endpoint_set_deadline(j->ep, 0);
}

static int restore_job(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		       const struct vfm_restore_opts *opts, struct vfm_job_report *rep)
{
	struct vfm_restore_opts defaults;
	struct restore *s;
	int r;

	vfm_restore_opts_init(&defaults);
	if (opts) {
		r = job_opts_merge(&defaults, sizeof(defaults), JOB_RESTORE_OPTS_0_1, opts,
				   opts->size, opts->report_size);
		if (r == -EOPNOTSUPP)
			return job_not_started(rep, r, false,
					       "options set that this libvfiomig does not "
					       "know (built against a newer one?)");
		if (r < 0)
			return r;
	}
	if (!ep)
		return job_not_started(rep, -EINVAL, false, "no endpoint");
	s = calloc(1, sizeof(*s));
	if (!s)
		return job_no_memory(rep, false);
	s->opts = defaults;
	s->o = opts = &s->opts;
	s->devs = devs;
	s->n = n;
	s->bad_dev = VFM_STREAM_NO_DEVICE;
	s->answers = vfm_endpoint_is_two_way(ep);
	job_set_hooks(&s->j, &(struct job_hooks){ opts->progress, opts->progress_userdata,
						   opts->cancel_fd, opts->timeout_ms,
						   opts->on_arc, opts->arc_userdata });
	job_set_events(&s->j, opts->on_event, opts->event_userdata);

	r = job_init(&s->j, rep, ep, 0);
	if (r >= 0)
		r = restore_header(s);
	if (r >= 0)
		r = restore_compat(s);
	if (r >= 0)
		r = restore_data(s);
	if (r >= 0)
		r = restore_load(s);
	if (r >= 0 && s->two_way)
		r = restore_commit(s);
	if (r >= 0)
		r = restore_run(s);
	if (r >= 0) {
		restore_verdict(s);
		job_phase(&s->j, VFM_JOB_DONE);
		r = 0;
	} else if (s->touched || s->two_way) {
		restore_undo(s);
	}
	job_verdict_event(&s->j);
	free(s->ws);
	vfm_stream_reader_free(s->rd);
	job_done(&s->j);
	free(s);
	return r;
}

_public_ int vfm_restore(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		   const struct vfm_restore_opts *opts, struct vfm_job_report *report)
{
	size_t size = opts ? opts->report_size : sizeof(*report);
	struct vfm_job_report *rep;
	int r;

	rep = job_report_begin(report, size, false, &r);
	if (!rep)
		return r;
	r = restore_job(devs, n, ep, opts, rep);
	job_report_end(report, size, rep);
	return r;
}
