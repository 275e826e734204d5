/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Save and restore jobs (design.md layer 6), built from the set, stream and transport
 * layers.  The same code serves the CLI and the daemon: progress and arcs are
 * reported through callbacks, cancellation through a file descriptor.
 */

#include <stdbool.h>
#include <stdint.h>

#include "set.h"
#include "vfiomig.h"

struct vfm_endpoint;

enum vfm_job_phase {
	VFM_JOB_HEADER,    /* sending or reading the header */
	VFM_JOB_COMPAT,    /* waiting for / sending the compatibility answer */
	VFM_JOB_PRECOPY,   /* streaming precopy data while devices run */
	VFM_JOB_QUIESCE,   /* devices to P2P states; the quiesced hook */
	VFM_JOB_STOP_COPY, /* streaming the final data */
	VFM_JOB_RESUMING,  /* destination: loading data */
	VFM_JOB_LOAD,      /* destination: RESUMING -> STOP -> RUNNING */
	VFM_JOB_VERDICT,   /* save: waiting for READY (or the one-way stream's flush);
			      restore: sending the verdict */
	VFM_JOB_COMMIT,	   /* save: COMMIT sent, waiting for the verdict; restore:
			      READY sent, waiting for COMMIT */
	VFM_JOB_DONE,
	VFM_JOB_ROLLBACK,
};

const char *vfm_job_phase_name(enum vfm_job_phase phase);

struct vfm_job_dev {
	char name[VFM_NAME_MAX];
	uint64_t estimate;        /* driver's STOP_COPY estimate, UINT64_MAX unknown */
	uint64_t precopy_bytes;   /* bytes moved while running */
	uint64_t stopcopy_bytes;  /* bytes moved while stopped */
	uint64_t stopcopy_usec;   /* time to read (save) or write (restore) them */
	char vf_config[96];       /* the VF's network settings: "sent: mac,vlan",
				     "applied: mac", "none (not a network VF)"... */
};

/* Progress and final report of a job. */
struct vfm_job_report {
	enum vfm_job_phase phase;
	size_t n;
	struct vfm_job_dev dev[VFM_SET_MAX];
	uint64_t stream_id;
	uint64_t total_bytes;
	unsigned precopy_rounds;
	unsigned precopy_reinits; /* new initial data reported (VFM_PRECOPY_REINIT) */
	uint64_t start_usec;      /* monotonic */
	uint64_t elapsed_usec;
	uint64_t precopy_usec;
	uint64_t downtime_usec;   /* save: first device quiesced -> verdict (or end) */
	bool rolled_back;         /* devices were returned to RUNNING (or reset) */
	bool devices_left_running; /* save failed and every device runs again */
	bool one_way;             /* a file or pipe: nobody answers, nothing commits */
	bool in_doubt;            /* save: COMMIT sent, no verdict: the devices stay
				     stopped with their state (exit 6) */
	bool verdict_lost;        /* restore: the devices run, the verdict did not go */
	bool reset_failed;        /* restore: a device did not come back to RUNNING */
	char reset_failure[256];  /* ...which, how, and the state read back after it:
				     "sim:x: reset failed (EIO); it reads RESUMING" */
	int error;                /* 0 or -errno */
	char message[1024];       /* what failed, naming the device or the peer */
	char security[160];       /* the transport's, filled in by the front end */
};

typedef void (*vfm_progress_fn)(void *userdata, const struct vfm_job_report *report);

struct vfm_save_opts {
	bool precopy;                /* use PRE_COPY where every device... any device has it */
	unsigned precopy_max_rounds; /* 0: no limit other than time */
	uint64_t precopy_max_usec;   /* 0: no limit other than rounds */
	uint64_t dirty_threshold;    /* stop precopy when pending dirty bytes <= this */
	bool force;                  /* several devices without P2P */
	bool no_vf_config;           /* do not carry VF network settings */
	size_t chunk_size;           /* bytes per DATA record (default 1 MiB) */
	unsigned timeout_ms;         /* each wait on the peer (0: none) */
	int cancel_fd;               /* readable: stop and roll back (-1: none) */
	/* Called once every device is quiesced, before any stops; non-zero aborts. */
	int (*on_quiesced)(void *userdata, char *why, size_t why_size);
	void *hook_userdata;
	vfm_progress_fn progress;
	void *progress_userdata;
	vfm_arc_fn on_arc;
	void *arc_userdata;
};

struct vfm_restore_opts {
	/* map[i]: index in @devs of the device that takes the stream's device i;
	 * NULL: the identity */
	const unsigned *map;
	unsigned timeout_ms;
	int cancel_fd;
	bool skip_compat_ids; /* accept other IDs/driver (the driver still validates) */
	bool no_vf_config;    /* do not apply VF network settings from the stream */
	/* Called in the calling thread around each write of VF network settings:
	 * raise = true just before, false right after.  vfiomigd keeps CAP_NET_ADMIN
	 * permitted but not effective and raises it here (netlink checks the right both
	 * when a socket is opened and when a request is sent: the write opens its own
	 * sockets inside the span).  A raise that fails (< 0, @why says why) does not
	 * stop the write: the kernel decides, and an EPERM's message quotes @why. */
	int (*net_privilege)(void *userdata, bool raise, char *why, size_t why_size);
	void *net_privilege_userdata;
	vfm_progress_fn progress;
	void *progress_userdata;
	vfm_arc_fn on_arc;
	void *arc_userdata;
};

void vfm_save_opts_init(struct vfm_save_opts *opts);
void vfm_restore_opts_init(struct vfm_restore_opts *opts);

/**
 * vfm_save() - stream the state of @devs to @ep.  On success the devices are left in
 * STOP (their state now lives at the destination).  On a two-way transport the
 * destination runs its devices only after our COMMIT, sent once it said READY: any
 * failure before COMMIT, or a failure verdict after it, returns every device to
 * RUNNING through the P2P barrier (reset if it fell into ERROR).  COMMIT sent and no
 * verdict: report->in_doubt, the devices left in STOP with their state.  On a one-way
 * transport success means the stream was written whole and flushed (report->one_way).
 * @report (required) receives figures and, on failure, the cause.  Returns 0 or
 * -errno.
 */
int vfm_save(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
	     const struct vfm_save_opts *opts, struct vfm_job_report *report);

/**
 * vfm_restore() - read a stream from @ep into @devs.  Checks compatibility from the
 * header before touching a device (and answers it on a two-way transport), checks
 * every chunk's CRC before writing it, then loads the devices; on a two-way transport
 * says READY and runs them only after the source's COMMIT, then sends the verdict.
 * On failure the devices are reset (and the source told).  Returns 0 or -errno.
 */
int vfm_restore(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		const struct vfm_restore_opts *opts, struct vfm_job_report *report);
