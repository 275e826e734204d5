// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A daemon job: vfm_save() or vfm_restore() in a thread of its own, with the
 * library's callbacks turned into events.  Everything the thread shares with the main
 * thread is under the job's lock (the snapshot of the report, the cancel and
 * acknowledgement state); events go through the daemon's queue, so that only the
 * main thread ever writes to a control connection.
 */
#include <errno.h>
#include <syslog.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "contract.h"
#include "daemon.h"
#include "macro.h"
#include "util.h"

static uint64_t realtime_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void djob_post(struct daemon *d, unsigned job, bool droppable, bool final,
	       struct json_object *ev)
{
	const char *s = json_object_to_json_string_ext(
		ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	struct devent *e = calloc(1, sizeof(*e));
	size_t len = strlen(s);
	uint64_t one = 1;

	/* Out of memory: the event is lost, but a final one must arrive or the job is
	 * never reaped, so it is retried until it fits. */
	while (!e || !(e->line = malloc(len + 2))) {
		if (!final) {
			free(e);
			json_object_put(ev);
			return;
		}
		if (!e)
			e = calloc(1, sizeof(*e));
		usleep(10000);
	}
	memcpy(e->line, s, len);
	e->line[len] = '\n';
	e->line[len + 1] = '\0';
	e->job = job;
	e->droppable = droppable;
	e->final = final;
	json_object_put(ev);

	pthread_mutex_lock(&d->qlock);
	if (d->qtail)
		d->qtail->next = e;
	else
		d->qhead = e;
	d->qtail = e;
	pthread_mutex_unlock(&d->qlock);
	if (write(d->event_fd, &one, sizeof(one)) < 0) {
		/* the counter only saturates: the main thread wakes up anyway */
	}
}

static const char *op_name(const struct djob *j)
{
	return j->kind == VFMD_CMD_SAVE ? "save" : "restore";
}

static const char *state_name(enum djob_state s)
{
	switch (s) {
	case DJOB_RUNNING: return "running";
	case DJOB_SUCCEEDED: return "succeeded";
	case DJOB_FAILED: return "failed";
	}
	return "unknown";
}

/* Under j->lock. */
static const char *phase_now(const struct djob *j)
{
	/* a job that ran ends in the library's phase, where it failed */
	if (j->state != DJOB_RUNNING && !j->endpoint_failed)
		return vfm_job_phase_name(j->snap->phase);
	if (!j->started_phases)
		return j->peer[0]	 ? "connected"
		       : j->listening[0] ? "accepting"
					 : "connecting";
	return vfm_job_phase_name(j->last_phase);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

/* The figures of a report (progress events, status, the final event). */
static void add_figures(struct djob *j, struct json_object *o,
			const struct vfm_job_report *rep, bool full)
{
	struct json_object *devs = json_object_new_array();
	bool have = rep->n == j->n;

	add_u64(o, "total_bytes", rep->total_bytes);
	add_u64(o, "elapsed_usec", rep->elapsed_usec);
	add_u64(o, "precopy_rounds", rep->precopy_rounds);
	add_u64(o, "precopy_reinits", rep->precopy_reinits);
	add_u64(o, "streams", rep->streams);
	if (rep->security[0])
		add_str(o, "security", rep->security);
	if (full) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)rep->stream_id);
		add_str(o, "stream_id", buf);
		add_u64(o, "precopy_usec", rep->precopy_usec);
		add_u64(o, "downtime_usec", rep->downtime_usec);
	}
	for (size_t i = 0; i < j->n; i++) {
		struct json_object *d = json_object_new_object();
		const struct vfm_job_dev *jd = &rep->dev[i];

		/* the report lists devices in stream order; before it does, ours */
		add_str(d, "device", have && jd->name[0] ? jd->name : j->names[i]);
		if (have) {
			add_u64(d, "precopy_bytes", jd->precopy_bytes);
			add_u64(d, "stopcopy_bytes", jd->stopcopy_bytes);
			if (full)
				add_u64(d, "stopcopy_usec", jd->stopcopy_usec);
			add_u64(d, "precopy_reinits", jd->precopy_reinits);
			if (jd->estimate != UINT64_MAX)
				add_u64(d, "estimate_bytes", jd->estimate);
			else
				json_object_object_add(d, "estimate_bytes", NULL);
			if (jd->vf_config[0])
				add_str(d, "vf_config_status", jd->vf_config);
			else
				json_object_object_add(d, "vf_config_status", NULL);
		}
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "devices", devs);
}

struct json_object *djob_to_json(struct djob *j, bool full, const char *event)
{
	struct json_object *o = json_object_new_object();

	pthread_mutex_lock(&j->lock);
	if (event) {
		json_object_object_add(o, "version", json_object_new_int(VFM_JSON_VERSION));
		add_str(o, "event", event);
	}
	json_object_object_add(o, "job", json_object_new_uint64(j->id));
	add_str(o, "operation", op_name(j));
	add_str(o, "state", state_name(j->state));
	add_str(o, "phase", phase_now(j));
	if (j->uri[0] || j->stream_name[0])
		add_str(o, "uri", j->uri[0] ? j->uri : j->stream_name);
	else
		json_object_object_add(o, "uri", NULL);
	add_bool(o, "stream_passed", !j->uri[0]);
	if (j->listening[0])
		add_str(o, "listening", j->listening);
	if (j->peer[0])
		add_str(o, "peer", j->peer);
	json_object_object_add(o, "owner_pid", json_object_new_int64(j->owner_pid));
	add_bool(o, "owner_connected", j->owner != 0);
	add_u64(o, "started_usec", j->started_realtime_usec);
	if (j->state != DJOB_RUNNING)
		add_u64(o, "finished_usec", j->finished_realtime_usec);
	if (j->kind == VFMD_CMD_SAVE) {
		add_bool(o, "quiesce_ack", j->quiesce_ack);
		add_bool(o, "waiting_ack", j->waiting_ack);
		add_bool(o, "cancel_allowed",
			 j->cancel_allowed && j->state == DJOB_RUNNING);
	}
	add_figures(j, o, j->snap, full);
	if (j->state != DJOB_RUNNING) {
		struct json_object *devs;
		bool ok = j->state == DJOB_SUCCEEDED;

		add_bool(o, "success", ok);
		/* what became of the state, as vfiomig's report says */
		add_str(o, "outcome",
			j->snap->in_doubt && !j->endpoint_failed ? "in-doubt"
			: !ok					? "failed"
			: j->kind == VFMD_CMD_RESTORE		? "loaded"
			: j->snap->one_way			? "written"
								: "migrated");
		if (!ok) {
			struct json_object *e = json_object_new_object();
			char nb[16];

			add_str(o, "stage", j->endpoint_failed ? "endpoint" : "job");
			json_object_object_add(e, "errno", json_object_new_int(-j->result));
			add_str(e, "errno_name", vfmd_errno_name(j->result, nb, sizeof(nb)));
			add_str(e, "message",
				j->endpoint_failed ? j->endpoint_error : j->snap->message);
			json_object_object_add(o, "error", e);
		}
		add_bool(o, "rolled_back", j->snap->rolled_back);
		if (j->snap->reset_failed)
			add_str(o, "reset_failure", j->snap->reset_failure);
		add_bool(o, "devices_left_running",
			 j->endpoint_failed || j->snap->devices_left_running);
		/* a save that sent COMMIT and got no verdict: its devices stay stopped
		 * with their state (vfiomig exits 6 for it) */
		add_bool(o, "in_doubt", j->snap->in_doubt);
		add_bool(o, "holding_devices", j->holding);
		if (j->resolution[0])
			add_str(o, "resolution", j->resolution);
		add_bool(o, "one_way", j->snap->one_way);
		if (j->snap->verdict_lost)
			add_str(o, "warning", j->snap->message);
		/* where each device is now, read back after the job (our order) */
		if (json_object_object_get_ex(o, "devices", &devs)) {
			for (size_t i = 0; i < j->n; i++) {
				struct json_object *d =
					json_object_array_get_idx(devs, i);
				size_t k = j->snap->n == j->n &&
							   j->kind == VFMD_CMD_RESTORE &&
							   j->ro.map
						   ? j->map[i]
						   : i;

				if (!d)
					continue;
				if (j->final_state_known[k])
					add_str(d, "state",
						vfm_state_name(j->final_state[k]));
				else
					json_object_object_add(d, "state", NULL);
			}
		}
	}
	pthread_mutex_unlock(&j->lock);
	return o;
}

/* ---- callbacks, in the job thread ---- */

static struct json_object *event_new(struct djob *j, const char *name)
{
	struct json_object *ev = json_object_new_object();

	json_object_object_add(ev, "version", json_object_new_int(VFM_JSON_VERSION));
	add_str(ev, "event", name);
	json_object_object_add(ev, "job", json_object_new_uint64(j->id));
	return ev;
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was pending */
	}
}

static void on_progress(void *userdata, const struct vfm_job_report *rep)
{
	struct djob *j = userdata;
	struct json_object *ev;
	bool changed;

	pthread_mutex_lock(&j->lock);
	memcpy(j->snap, rep, sizeof(*rep));
	changed = !j->started_phases || rep->phase != j->last_phase;
	j->started_phases = true;
	j->last_phase = rep->phase;
	/* Once a save sent COMMIT, the destination may already run the devices:
	 * resuming ours then could run the VM twice.  From here on a cancel (SIGTERM
	 * included) waits for the verdict, as the deadline bounds it; a cancel that
	 * raced with this moment is withdrawn. */
	if (j->kind == VFMD_CMD_SAVE && rep->phase == VFM_JOB_COMMIT &&
	    j->cancel_allowed) {
		j->cancel_allowed = false;
		drain(j->cancel_fd);
	}
	pthread_mutex_unlock(&j->lock);

	ev = event_new(j, changed ? "phase" : "progress");
	add_str(ev, "phase", vfm_job_phase_name(rep->phase));
	add_figures(j, ev, rep, false);
	djob_post(j->d, j->id, !changed, false, ev);
}

static int on_quiesced(void *userdata, char *why, size_t size)
{
	struct djob *j = userdata;
	struct json_object *ev = event_new(j, "quiesced"),
			   *names = json_object_new_array();
	struct pollfd p[2] = {{.fd = j->ack_fd, .events = POLLIN},
			      {.fd = j->cancel_fd, .events = POLLIN}};
	char buf[32];
	int r;

	snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)j->rep->stream_id);
	add_str(ev, "stream_id", buf);
	for (size_t i = 0; i < j->n; i++) {
		struct json_object *d = json_object_new_object();

		add_str(d, "device", j->names[i]);
		json_object_array_add(names, d);
	}
	json_object_object_add(ev, "devices", names);
	add_bool(ev, "ack_required", j->quiesce_ack);
	if (j->quiesce_ack)
		add_u64(ev, "ack_timeout_usec", (uint64_t)j->ack_timeout_ms * 1000);
	if (!j->quiesce_ack) {
		djob_post(j->d, j->id, false, false, ev);
		return 0;
	}

	pthread_mutex_lock(&j->lock);
	j->waiting_ack = true; /* before the event: a quick "continue" must find it */
	pthread_mutex_unlock(&j->lock);
	djob_post(j->d, j->id, false, false, ev);

	do
		r = poll(p, 2, (int)j->ack_timeout_ms);
	while (r < 0 && errno == EINTR);

	pthread_mutex_lock(&j->lock);
	if (j->ack_done) {
		/* given (continue, or a cancel turned into an abort), even if the poll
		 * timed out meanwhile: the client was told it counts */
		drain(j->ack_fd);
		r = j->ack_abort[0] ? -1 : 0;
		if (r)
			snprintf(why, size, "%s", j->ack_abort);
		pthread_mutex_unlock(&j->lock);
		return r;
	}
	j->waiting_ack = false;
	j->ack_done = true;
	if (r > 0 && (p[0].revents & POLLIN)) {
		drain(j->ack_fd);
		r = j->ack_abort[0] ? -1 : 0;
		if (r)
			snprintf(why, size, "%s", j->ack_abort);
	} else if (r > 0) {
		snprintf(why, size, "cancelled (%s)", j->cancel_reason);
		r = -1;
	} else if (r == 0) {
		snprintf(why, size, "no acknowledgement (\"continue\") within %u s",
			 j->ack_timeout_ms / 1000);
		r = -1;
	} else {
		snprintf(why, size, "poll: %s", strerror(errno));
		r = -1;
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}


static void on_reject(void *userdata, const char *why)
{
	struct djob *j = userdata;

	daemon_log(LOG_WARNING, "job %u: rejected %s", j->id, why);
}

/* TLS credentials, loaded here (the job's thread) rather than in the main loop: a
 * path may name a slow file system, or a FIFO. */
static int open_tls(struct djob *j, struct vfm_tls **ret, struct vfm_transport_err *err)
{
	struct vfm_tls_opts o = {
		.size = sizeof(struct vfm_tls_opts),
		.creds_dir = j->tls_creds,
		.psk_file = j->tls_psk,
		.hostname = j->tls_hostname,
		.authz = (const char *const *)j->tls_authz,
		.n_authz = j->n_tls_authz,
	};
	int r;

	*ret = NULL;
	if (!j->tls_creds && !j->tls_psk)
		return 0;
	r = vfm_tls_new(&o, j->listener != NULL, ret, err);
	if (r < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		snprintf(err->msg, sizeof(err->msg), "TLS credentials: %.280s", msg);
	}
	return r;
}

/* Accept on the job's listener, or connect to its URI, with its TLS. */
static int link_open(struct djob *j, unsigned dir, struct vfm_endpoint **ret_ep,
		     struct vfm_transport_err *err)
{
	unsigned timeout = j->kind == VFMD_CMD_SAVE ? j->so.timeout_ms : j->ro.timeout_ms;
	int r;

	if (j->listener)
		return j->tls ? vfm_listener_accept_tls(j->listener, j->tls, timeout,
							 j->cancel_fd, on_reject, j, ret_ep, err)
			      : vfm_listener_accept(j->listener, timeout, j->cancel_fd, ret_ep,
						    err);
	r = vfm_endpoint_open(j->uri, dir, timeout, j->cancel_fd, ret_ep, err);
	if (r == 0 && j->tls) {
		_cleanup_free_ struct vfm_uri *u = malloc(sizeof(*u));

		r = -ENOMEM;
		if (u && vfm_uri_parse(j->uri, false, u, err) == 0)
			r = vfm_endpoint_start_tls(*ret_ep, j->tls,
						   u->kind == VFM_URI_TCP ? u->host : NULL, err);
		if (r < 0)
			*ret_ep = vfm_endpoint_free(*ret_ep);
	}
	return r;
}

int djob_open_stream(void *userdata, unsigned index, struct vfm_endpoint **ret_ep, char *why,
		     size_t why_size)
{
	struct vfm_transport_err err = { "" };
	int r = link_open(userdata, VFM_EP_READ | VFM_EP_WRITE, ret_ep, &err);

	(void)index;
	if (r < 0)
		snprintf(why, why_size, "%s", err.msg);
	return r;
}

static int open_endpoint(struct djob *j, struct vfm_transport_err *err)
{
	bool save = j->kind == VFMD_CMD_SAVE;
	unsigned timeout = save ? j->so.timeout_ms : j->ro.timeout_ms;
	unsigned dir;
	int r;

	if (j->listen_later) {
		struct json_object *ev;

		r = vfm_listener_new(j->uri, &j->listener, err);
		if (r < 0)
			return r;
		pthread_mutex_lock(&j->lock);
		snprintf(j->listening, sizeof(j->listening), "%s",
			 vfm_listener_uri(j->listener));
		pthread_mutex_unlock(&j->lock);
		ev = event_new(j, "listening");
		add_str(ev, "listening", vfm_listener_uri(j->listener));
		djob_post(j->d, j->id, false, false, ev);
	}
	r = open_tls(j, &j->tls, err);
	if (r < 0)
		return r;
	if (j->listener) {
		r = link_open(j, 0, &j->ep, err);
		/* kept for data connections (a restore follows the source's choice) */
		if (!(save ? j->so.streams : j->ro.open_stream != NULL))
			j->listener = vfm_listener_free(j->listener);
		return r;
	}
	if (j->stream_fd >= 0) {
		char uri[32];

		snprintf(uri, sizeof(uri), "fd:%d", j->stream_fd);
		r = vfm_endpoint_open(uri, save ? VFM_EP_WRITE : VFM_EP_READ, timeout,
				      j->cancel_fd, &j->ep, err);
		j->stream_fd = safe_close(j->stream_fd);
		return r;
	}
	/* request.c refuses exec: already; a second lock on the root shell door. */
	if (strncmp(j->uri, "exec:", 5) == 0) {
		snprintf(err->msg, sizeof(err->msg), "vfiomigd does not run commands (exec:)");
		return -EPERM;
	}
	dir = save ? VFM_EP_WRITE : VFM_EP_READ;
	if (vfmd_uri_is_socket(j->uri))
		dir = VFM_EP_READ | VFM_EP_WRITE;
	return link_open(j, dir, &j->ep, err);
}

static void *job_main(void *userdata)
{
	struct djob *j = userdata;
	struct vfm_transport_err err = {""};
	struct json_object *ev;
	int r;

	r = open_endpoint(j, &err);
	if (r < 0) {
		pthread_mutex_lock(&j->lock);
		j->endpoint_failed = true;
		if (r == -ECANCELED && j->cancel_reason[0])
			snprintf(j->endpoint_error, sizeof(j->endpoint_error),
				 "cancelled (%s)", j->cancel_reason);
		else
			snprintf(j->endpoint_error, sizeof(j->endpoint_error), "%s",
				 err.msg[0] ? err.msg : strerror(-r));
		pthread_mutex_unlock(&j->lock);
	} else {
		pthread_mutex_lock(&j->lock);
		snprintf(j->peer, sizeof(j->peer), "%s", vfm_endpoint_description(j->ep));
		pthread_mutex_unlock(&j->lock);
		ev = event_new(j, "connected");
		add_str(ev, "peer", j->peer);
		djob_post(j->d, j->id, false, false, ev);

		if (j->kind == VFMD_CMD_SAVE)
			r = vfm_save(j->vdevs, j->n, j->ep, &j->so, j->rep);
		else
			r = vfm_restore(j->vdevs, j->n, j->ep, &j->ro, j->rep);
		if (j->rep->in_doubt) {
			size_t len = strlen(j->rep->message);

			/* vfiomigd holds them until told (daemon.c, reap) */
			snprintf(j->rep->message + len, sizeof(j->rep->message) - len,
				 ", held by vfiomigd: 'vfiomig resume %u' once you know the "
				 "destination does not run them, 'vfiomig release %u' once "
				 "you know it does",
				 j->id, j->id);
		}
		pthread_mutex_lock(&j->lock);
		snprintf(j->rep->security, sizeof(j->rep->security), "%s",
			 vfm_endpoint_security(j->ep));
		pthread_mutex_unlock(&j->lock);
	}
	j->ep = vfm_endpoint_free(j->ep);

	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->n; i++)
		j->final_state_known[i] =
			vfm_device_get_state(j->vdevs[i], &j->final_state[i]) >= 0;
	/* The library says "cancelled"; say by whom. */
	if (r == -ECANCELED && j->cancel_reason[0] && !j->endpoint_failed &&
	    !strstr(j->rep->message, j->cancel_reason)) {
		size_t len = strlen(j->rep->message);

		snprintf(j->rep->message + len, sizeof(j->rep->message) - len, " (%s)",
			 j->cancel_reason);
	}
	if (!j->endpoint_failed)
		memcpy(j->snap, j->rep, sizeof(*j->rep));
	j->result = r;
	j->state = r < 0 ? DJOB_FAILED : DJOB_SUCCEEDED;
	j->waiting_ack = false;
	j->finished_realtime_usec = realtime_usec();
	pthread_mutex_unlock(&j->lock);

	/* The main thread reaps the job (joins this thread, gives the devices back)
	 * before it passes this event on. */
	ev = djob_to_json(j, true, "finished");
	djob_post(j->d, j->id, false, true, ev);
	return NULL;
}

int djob_start(struct djob *j)
{
	int r;

	j->started_realtime_usec = realtime_usec();
	j->so.progress = on_progress;
	j->so.progress_userdata = j;
	j->so.cancel_fd = j->cancel_fd;
	j->ro.progress = on_progress;
	j->ro.progress_userdata = j;
	j->ro.cancel_fd = j->cancel_fd;
	j->ro.net_privilege = daemon_net_privilege;
	if (j->kind == VFMD_CMD_SAVE) {
		j->so.on_quiesced = on_quiesced;
		j->so.hook_userdata = j;
	}
	r = -pthread_create(&j->thread, NULL, job_main, j);
	if (r < 0)
		return r;
	j->thread_started = true;
	return 0;
}

int djob_cancel(struct djob *j, const char *reason)
{
	uint64_t one = 1;
	int r = 0;

	pthread_mutex_lock(&j->lock);
	if (j->state != DJOB_RUNNING) {
		r = -EALREADY;
	} else if (!j->cancel_allowed) {
		r = -EBUSY;
	} else {
		if (!j->cancel_requested)
			snprintf(j->cancel_reason, sizeof(j->cancel_reason), "%s",
				 reason);
		j->cancel_requested = true;
		/* Waiting for the acknowledgement: fail that instead.  The library then
		 * rolls back with the endpoint still usable and tells the destination why
		 * (ABORT); through the cancel fd the endpoint's writes would fail too. */
		if (j->waiting_ack) {
			snprintf(j->ack_abort, sizeof(j->ack_abort), "cancelled (%s)",
				 j->cancel_reason);
			j->waiting_ack = false;
			j->ack_done = true;
			if (write(j->ack_fd, &one, sizeof(one)) < 0)
				r = -errno;
		} else if (write(j->cancel_fd, &one, sizeof(one)) < 0) {
			r = -errno;
		}
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

int djob_ack(struct djob *j, const char *abort_reason)
{
	uint64_t one = 1;
	int r = 0;

	pthread_mutex_lock(&j->lock);
	if (j->state != DJOB_RUNNING || !j->waiting_ack) {
		r = j->state != DJOB_RUNNING || j->ack_done ? -EALREADY : -EAGAIN;
	} else {
		if (abort_reason && abort_reason[0])
			snprintf(j->ack_abort, sizeof(j->ack_abort), "%s", abort_reason);
		/* given: a second one is EALREADY even before the job thread wakes up */
		j->waiting_ack = false;
		j->ack_done = true;
		if (write(j->ack_fd, &one, sizeof(one)) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

void djob_owner_gone(struct djob *j)
{
	pthread_mutex_lock(&j->lock);
	j->owner = 0;
	pthread_mutex_unlock(&j->lock);
}

void djob_free(struct djob *j)
{
	if (!j)
		return;
	free(j->tls_creds);
	free(j->tls_psk);
	free(j->tls_hostname);
	for (size_t i = 0; i < j->n_tls_authz; i++)
		free(j->tls_authz[i]);
	safe_close(j->cancel_fd);
	safe_close(j->ack_fd);
	safe_close(j->stream_fd);
	vfm_listener_free(j->listener);
	vfm_tls_free(j->tls);
	free(j->rep);
	free(j->snap);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

struct djob *djob_new(struct daemon *d, unsigned id, enum vfmd_cmd kind)
{
	struct djob *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->d = d;
	j->id = id;
	j->kind = kind;
	j->stream_fd = -1;
	j->cancel_allowed = true;
	j->state = DJOB_RUNNING;
	pthread_mutex_init(&j->lock, NULL);
	j->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	j->ack_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	j->rep = calloc(1, sizeof(*j->rep));
	j->snap = calloc(1, sizeof(*j->snap));
	vfm_save_opts_init(&j->so);
	vfm_restore_opts_init(&j->ro);
	if (j->cancel_fd < 0 || j->ack_fd < 0 || !j->rep || !j->snap) {
		djob_free(j);
		return NULL;
	}
	return j;
}
