/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * vfiomigd's state.  One main thread owns everything here: the control connections,
 * the device table and the job table.  Each job runs vfm_save()/vfm_restore() in a
 * thread of its own; while it runs, the job's devices, and the library contexts they
 * were opened in, belong to that thread and nothing else touches them (the library's
 * rule: a context and its devices belong to one thread at a time).  A job thread
 * talks to the main thread only through its mutex-protected snapshot and the event
 * queue; the main thread talks to it through eventfds (cancel, acknowledgement).
 */

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "job.h"
#include "request.h"
#include "transport.h"
#include "vfiomig.h"

#define VFMD_CLIENTS_MAX    64
#define VFMD_CLIENTS_ROOT   4  /* of those, kept for root (and the daemon's own user) */
#define VFMD_CLIENTS_PER_UID 16 /* connections of one other uid at once */
#define VFMD_IDLE_DEF	    60	/* s: --idle-timeout */
#define VFMD_LOG_RATE	    10	/* lines a second about unprivileged clients */
#define VFMD_LOG_MAX_DEF    1000 /* --log-max: such lines an hour */
#define VFMD_CONNECT_RATE   20	/* connections a second of one uid other than root */
#define VFMD_CONNECT_UIDS   32	/* uids whose connection rate is tracked */
#define VFMD_NOFILE_MAX	    65536 /* the soft RLIMIT_NOFILE is raised towards the hard one, to this */
#define VFMD_IDLE_MAX	    86400
#define VFMD_LISTEN_MAX	    8
#define VFMD_JOBS_KEPT	    64	/* finished jobs kept for "job", "jobs", "wait" */
#define VFMD_JOBS_MAX	    256 /* --max-jobs at most */
#define VFMD_OUT_DROP	    (256u << 10) /* output queued: progress events dropped */
#define VFMD_OUT_MAX	    (4u << 20)	 /* output queued: the client is disconnected */
#define VFMD_SOCKET_DEFAULT VFM_RUNSTATEDIR "/vfiomig/control.sock"
/* Descriptors kept out of the in-flight budget (fds_budget): the daemon's own
 * (stdio, signalfd, eventfd, timerfd, listening sockets, log, libraries), one per
 * connection, and VFMD_FDS_PER_JOB for each of --max-jobs jobs (eventfds, the stream
 * and its listener, device, group, container and data fds of a few devices). */
#define VFMD_FDS_RESERVED   64
#define VFMD_FDS_PER_JOB    16
#define VFMD_ACCEPT_BACKOFF_MIN_MS 100
#define VFMD_ACCEPT_BACKOFF_MAX_MS 1000

struct daemon_config {
	const char *socket_path;
	const char *group; /* may connect besides root and our own user */
	gid_t gid;
	bool have_gid;
	unsigned max_jobs; /* running at once */
	unsigned rate;	   /* requests per second per connection (burst: twice) */
	unsigned idle_timeout; /* s without a request before a connection that waits
				  for nothing is closed (0: never) */
	unsigned log_max; /* lines about unprivileged clients an hour (0: none) */
	bool verbose;
	const char *sysfs_root; /* $VFIOMIG_SYSFS_ROOT (tests) */
};

/* A library context and the devices opened through it. */
struct dctx {
	struct vfm_ctx *ctx;
	unsigned n_devices;
	unsigned job; /* the job that owns it now, 0: the main thread */
};

struct ddev {
	char key[VFM_NAME_MAX];	  /* vfm_device_name(): what requests and events use */
	char given[VFM_NAME_MAX]; /* the name as attach gave it */
	struct vfm_device_identity id; /* a copy, readable while a job has the device */
	struct vfm_device *dev;
	struct dctx *dctx;
	/* What identifies the kernel device behind it, for the one-job-per-device rule
	 * across names and descriptors: "sysfs:PATH" or "cdev:MAJ:MIN", "" unknown
	 * (simulated devices, group fds on kernels without fdinfo's syspath). */
	char ident[PATH_MAX + 8];
	bool transient; /* opened for one job, closed when it ends */
	bool passed;	/* from a descriptor passed over the socket */
	uid_t owner_uid; /* attached: who attached it (only it or root detaches or uses it) */
	unsigned job;	/* 0: idle */
	struct ddev *next;
};

enum djob_state { DJOB_RUNNING, DJOB_SUCCEEDED, DJOB_FAILED };

struct djob {
	unsigned id;
	enum vfmd_cmd kind; /* VFMD_CMD_SAVE or VFMD_CMD_RESTORE */
	struct daemon *d;
	pthread_t thread;
	bool thread_started;
	int cancel_fd; /* eventfd: readable = cancel (the library polls it) */
	int ack_fd;    /* eventfd: readable = the quiesced acknowledgement arrived */

	/* Set before the thread starts, read-only after. */
	size_t n;
	struct ddev *devs[VFM_SET_MAX];
	struct vfm_device *vdevs[VFM_SET_MAX];
	char names[VFM_SET_MAX][VFM_NAME_MAX]; /* the devices' keys, kept after the job */
	char uri[VFM_URI_MAX + 1];	       /* "" with a passed stream descriptor */
	int stream_fd;			       /* the passed descriptor, -1: none */
	char stream_name[VFM_URI_MAX + 1];     /* the client's name for it, "" none */
	struct vfm_listener *listener;	       /* listening: created by the main thread;
						  kept for data connections */
	struct vfm_tls *tls;		       /* the job thread's, for data connections */
	bool listen_later; /* a host name to resolve: the job's thread listens */
	/* TLS: strdup'ed, NULL = not given (both NULL: plaintext) */
	char *tls_creds, *tls_psk, *tls_hostname;
	char *tls_authz[VFM_TLS_AUTHZ_MAX];
	size_t n_tls_authz;
	char listening[VFM_URI_MAX + 1];
	struct vfm_save_opts so;
	struct vfm_restore_opts ro;
	unsigned map[VFM_SET_MAX];
	bool quiesce_ack;
	unsigned ack_timeout_ms;
	bool cancel_on_disconnect;
	unsigned owner; /* connection that started it (0: gone) */
	pid_t owner_pid;
	uid_t owner_uid;
	bool owner_privileged; /* root or our own user: its job is always logged */
	uint64_t started_realtime_usec;

	/* The job thread's own. */
	struct vfm_job_report *rep;
	struct vfm_endpoint *ep;

	/* Shared: under lock. */
	pthread_mutex_t lock;
	struct vfm_job_report *snap; /* the latest report */
	enum vfm_job_phase last_phase;
	bool started_phases;
	bool cancel_allowed; /* false once a save waits for the verdict */
	bool cancel_requested;
	char cancel_reason[128];
	bool waiting_ack;
	bool ack_done;
	char ack_abort[VFMD_REASON_MAX];
	char peer[VFM_TRANSPORT_ERR_MAX];
	enum djob_state state; /* DJOB_RUNNING until the thread posted its end */
	int result;
	bool endpoint_failed; /* failed before the job proper: connect, accept */
	char endpoint_error[VFM_TRANSPORT_ERR_MAX];
	enum vfm_state final_state[VFM_SET_MAX];
	bool final_state_known[VFM_SET_MAX];
	uint64_t finished_realtime_usec;

	/* The main thread's own. */
	unsigned watchers[VFMD_CLIENTS_MAX]; /* connection ids */
	size_t n_watchers;
	bool reaped;
	/* A save in doubt keeps its devices (stopped, with their state) until the
	 * operator resumes or releases it: closing them could reset them (vfio-pci). */
	bool holding;
	char resolution[16]; /* "resumed", "released", or "" */
	struct djob *next;
};

/* An event line from a job thread to the main thread, for the job's watchers. */
struct devent {
	unsigned job;
	bool droppable; /* progress: may be dropped for a slow client */
	bool final;	/* the job's last: the main thread reaps the job first */
	char *line;	/* JSON and "\n" */
	struct devent *next;
};

struct client {
	unsigned id;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool privileged; /* root or our own user: may name paths (file:, unix:/PATH) */
	char *in;
	size_t in_len;
	bool discarding; /* skipping the rest of an over-long line */
	char *out;
	size_t out_len, out_cap;
	/* The descriptors of the request line being read (see client_read()); all of
	 * them go with that line, taken or closed, whatever becomes of it. */
	int fds[VFMD_FDS_MAX];
	size_t n_fds;
	bool fds_dropped; /* some were closed on arrival: the line is refused */
	double tokens;
	uint64_t tokens_usec;
	/* Over the rate: at most twice --rate refusals a second are answered (each
	 * costs a parse); the lines beyond are dropped unread (one notice a second),
	 * and the connection is not read until its next token. */
	unsigned refused;	  /* answered refusals in the window */
	uint64_t refused_usec;	  /* start of that window */
	bool noticed;		  /* the window's drops were announced */
	bool refused_now;	  /* the line in hand is over the rate: EAGAIN */
	bool dropping;		  /* the rest of the read in hand is dropped unread */
	uint64_t read_after_usec; /* not polled for input before this */
	bool watch_all;
	unsigned dropped;
	bool closing; /* close once the output is flushed */
	bool not_reading; /* closed for not reading its output (logged when freed) */
	uint64_t last_request_usec; /* the last complete line (or the connect) */
	struct client *next;
};

struct daemon {
	struct daemon_config cfg;
	int listen_fds[VFMD_LISTEN_MAX];
	size_t n_listen;
	struct vfm_listener *own_listener; /* when not socket-activated */
	int signal_fd;
	int event_fd;	 /* job threads -> main: the queue has events */
	int watchdog_fd; /* timerfd, -1 without a watchdog */
	struct client *clients;
	unsigned n_clients, next_client_id;
	struct ddev *devices;
	struct djob *jobs;
	unsigned next_job_id;
	bool shutting_down;
	/* What clients other than root cause is logged at most VFMD_LOG_RATE lines a
	 * second (bursts of 5 s): a member of the group must not fill the journal. */
	double log_tokens;
	uint64_t log_usec;
	unsigned log_suppressed;
	/* and at most --log-max of them in an hour: the log stays bounded in size */
	uint64_t log_hour_usec;
	unsigned log_hour_lines;
	uint64_t log_summary_usec; /* the last "held back" line */
	/* Connections a second of each uid other than root and our own (the last
	 * VFMD_CONNECT_UIDS seen): over VFMD_CONNECT_RATE (bursts of twice that), a
	 * connection is closed before anything is allocated for it. */
	struct uid_rate {
		uid_t uid;
		double tokens;
		uint64_t usec; /* 0: a free slot */
		unsigned refused;	/* in this episode over the rate */
		unsigned refused_untold; /* not logged yet */
		uint64_t logged_usec;	/* lines about it: one every 10 s at most */
	} connect_rate[VFMD_CONNECT_UIDS];
	uint64_t idle_checked_usec; /* close_idle() last looked */
	char last_status[128];

	/* Descriptors received and not yet taken by a request, on all connections;
	 * bounded by fds_budget (unprivileged peers together: half of it). */
	unsigned fds_in_flight, fds_budget;

	/* accept() out of descriptors (EMFILE, ENFILE) or memory: the listening
	 * sockets are not polled until accept_resume_usec, backing off from
	 * VFMD_ACCEPT_BACKOFF_MIN_MS to VFMD_ACCEPT_BACKOFF_MAX_MS; one log line when
	 * an episode starts and one with its count when it ends. */
	uint64_t accept_resume_usec;
	unsigned accept_backoff_ms;
	unsigned accept_failures;
	uint64_t accept_episode_usec;

	pthread_mutex_t qlock;
	struct devent *qhead, *qtail;
};

/* caps.c */
#define VFMD_KEEP_CAPS_MAX 8
struct daemon_privileges {
	const char *user;  /* --user: become this user */
	int keep_caps[VFMD_KEEP_CAPS_MAX];
	size_t n_keep;
	bool no_net_admin; /* do not keep CAP_NET_ADMIN permitted */
};
int daemon_drop_privileges(const struct daemon_privileges *o);
/* vfm_restore_opts.net_privilege: raise/lower CAP_NET_ADMIN in the calling thread */
int daemon_net_privilege(void *userdata, bool raise, char *why, size_t why_size);

/* daemon.c */
int daemon_init(struct daemon *d);
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);
int daemon_new_ctx(struct daemon *d, struct vfm_ctx **ret_ctx);
void daemon_log(int level, const char *fmt, ...) _printf_(2, 3);
int daemon_attach_name(struct daemon *d, const char *name, char *err, size_t errsize);

/* djob.c */
struct djob *djob_new(struct daemon *d, unsigned id, enum vfmd_cmd kind);
int djob_start(struct djob *j);
/* -EALREADY finished, -EBUSY a save waiting for its verdict */
int djob_cancel(struct djob *j, const char *reason);
/* -EALREADY finished or acknowledged, -EAGAIN not waiting for one (yet) */
int djob_ack(struct djob *j, const char *abort_reason);
void djob_owner_gone(struct djob *j);
void djob_post(struct daemon *d, unsigned job, bool droppable, bool final,
	       struct json_object *ev);
/* The job object; with @event, the event of that name carrying it ("version" and
 * "event" first). */
struct json_object *djob_to_json(struct djob *j, bool full, const char *event);
void djob_free(struct djob *j);
/* vfm_stream_open_fn: a data connection, as the job's first connection was made. */
int djob_open_stream(void *userdata, unsigned index, struct vfm_endpoint **ret_ep, char *why,
		     size_t why_size);
