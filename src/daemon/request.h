/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * vfiomigd's control protocol: one JSON object per line.  This file parses and checks
 * a request line into a struct vfmd_request, and nothing else: it holds no daemon
 * state, so that the fuzzer (tests/fuzz/fuzz-request.c) and the unit tests call it
 * directly.  The protocol is documented in vfiomigd(8); the limits below are part
 * of it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "set.h"
#include "transport.h"
#include "vfiomig.h"

#define VFMD_LINE_MAX	     65536 /* bytes of one request line, newline excluded */
#define VFMD_DEPTH_MAX	     8	   /* JSON nesting of a request */
#define VFMD_ID_MAX	     128   /* bytes of a string "id" */
#define VFMD_FDS_MAX	     72	   /* descriptors a connection may have pending */
#define VFMD_REASON_MAX	     256   /* bytes of a "continue" abort reason */
#define VFMD_ERR_MAX	     512   /* bytes of an error message */
#define VFMD_ACK_TIMEOUT_DEF 30	   /* seconds */
#define VFMD_ACK_TIMEOUT_MAX 3600
/* dirty_report: bytes of all bitmaps of one request, and the largest offset into the
 * client's memfd */
#define VFMD_BITMAP_MAX	       (UINT64_C(256) << 20)
#define VFMD_BITMAP_OFFSET_MAX (UINT64_C(1) << 40)

enum vfmd_cmd {
	VFMD_CMD_VERSION,
	VFMD_CMD_LIST,
	VFMD_CMD_INFO,
	VFMD_CMD_ATTACH,
	VFMD_CMD_DETACH,
	VFMD_CMD_SAVE,
	VFMD_CMD_RESTORE,
	VFMD_CMD_JOB,
	VFMD_CMD_JOBS,
	VFMD_CMD_WATCH,
	VFMD_CMD_UNWATCH,
	VFMD_CMD_CANCEL,
	VFMD_CMD_CONTINUE,
	VFMD_CMD_SHUTDOWN,
	VFMD_CMD_RESUME,       /* a save in doubt: its devices back to RUNNING */
	VFMD_CMD_RELEASE,      /* a save in doubt: give its devices up, stopped */
	VFMD_CMD_DIRTY_START,  /* DMA dirty logging of an attached device */
	VFMD_CMD_DIRTY_REPORT, /* bitmaps into the client's memfd */
	VFMD_CMD_DIRTY_STOP,
	VFMD_CMD_MAX,
};

const char *vfmd_cmd_name(enum vfmd_cmd cmd);

/* A device as a request names it: a name, or a descriptor passed with the request
 * (fd: index among the descriptors the connection received) and its name. */
struct vfmd_devref {
	char name[VFM_NAME_MAX]; /* "" only for an fd without a name */
	int fd;			 /* -1: none */
};

struct json_object;

struct vfmd_request {
	enum vfmd_cmd cmd;
	struct json_object *id; /* NULL: no "id", so no response unless an error */

	size_t n_devices;
	struct vfmd_devref devices[VFM_SET_MAX];
	size_t n_fds; /* descriptors the request uses: max fd index + 1 */

	/* save / restore */
	char uri[VFM_URI_MAX + 1];	   /* "to" / "from"; "" when stream_fd */
	int stream_fd;			   /* index of a passed descriptor, -1: none */
	char stream_name[VFM_URI_MAX + 1]; /* with stream_fd: what to call it ("" none) */
	bool listen;  /* save: listen at uri; restore: the default for sockets */
	bool connect; /* restore: connect to uri */
	bool precopy;
	uint32_t precopy_rounds;
	uint64_t precopy_usec;
	uint64_t dirty_threshold;
	bool force;
	uint32_t chunk;
	unsigned streams; /* save: data connections (0, 1: none) */
	uint32_t timeout_ms;
	bool quiesce_ack;
	uint32_t ack_timeout_ms;
	bool cancel_on_disconnect;
	bool watch;
	bool has_map;
	size_t n_map;
	unsigned map[VFM_SET_MAX];
	bool any_id;
	bool vf_config; /* carry (save) or apply (restore) VF network settings */
	/* TLS (tcp:// and unix: only): "" = not given; paths absolute */
	char tls_creds[VFM_TLS_PATH_MAX + 1];
	char tls_psk[VFM_TLS_PATH_MAX + 1];
	char tls_hostname[VFM_TLS_HOSTNAME_MAX + 1];
	size_t n_tls_authz;
	char tls_authz[VFM_TLS_AUTHZ_MAX][VFM_TLS_AUTHZ_LEN_MAX + 1];

	/* job, watch, cancel, continue */
	uint32_t job;
	bool all;
	char abort_reason[VFMD_REASON_MAX]; /* continue: "" proceeds */

	bool probe; /* list */

	/* dirty_start, dirty_report: ranges bounded here, checked by the library */
	size_t n_ranges;
	struct vfm_dirty_range ranges[VFM_DIRTY_RANGES_MAX];
	uint64_t page_size;	/* start: default 4096; report: 0 = the device's */
	int bitmap_fd;		/* report: index of the passed memfd, -1: none */
	uint64_t bitmap_offset; /* bytes into it where the bitmaps go */
	uint64_t bitmap_size;	/* bytes the daemon may write from there, 0: all */

	/* info, attach, save, restore: presented when a device named here is a VF of a
	 * PF bound to vfio-pci (or such a PF); "" none; a checked UUID otherwise */
	char vf_token[37];
};

struct vfmd_error {
	int err; /* -errno */
	char msg[VFMD_ERR_MAX];
};

/**
 * vfmd_request_parse() - parse one request line (@len bytes, no newline, need not be
 * NUL-terminated).  On success *@ret_req holds a checked request: every field of the
 * command is in range, the device list and fd indexes are consistent, URIs parse.
 * On failure @err says why and *@ret_id (may be NULL) receives the request's "id"
 * when the line got far enough to have one (else NULL), for the error response;
 * the caller puts it.
 *
 * Errors: -EPROTO malformed JSON; -EMSGSIZE a line over VFMD_LINE_MAX; -EINVAL a
 * request that is not an object, an unknown command or field, a value of the wrong
 * type or out of range; -E2BIG too many devices; -EPERM an exec: URI
 * (vfiomigd runs no commands).
 */
int vfmd_request_parse(const char *line, size_t len, struct vfmd_request *ret_req,
		       struct json_object **ret_id, struct vfmd_error *err);

/** vfmd_request_done() - drop the request's references (not the struct). */
void vfmd_request_done(struct vfmd_request *req);

/** vfmd_errno_name() - "EBUSY" for -EBUSY or EBUSY; "E<n>" for others. */
const char *vfmd_errno_name(int err, char *buf, size_t size);

/* tcp:// and unix: URIs: two-way, listened on or connected to. */
bool vfmd_uri_is_socket(const char *uri);
