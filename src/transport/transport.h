/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Transport (layer 5): moves bytes, knows nothing of the stream format above it.
 * The public part (endpoints, listeners, TLS; the URI forms and the blocking rules)
 * is in vfiomig.h; what is here is shared with the CLI, the daemon and the tests
 * but not exported from the shared library.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "macro.h"
#include "vfiomig.h"

#define VFM_WRITEV_MAX	      16   /* iovecs of one vfm_endpoint_writev_full() */

#define VFM_TLS_PSK_FILE_MAX	 (64 * 1024) /* bytes of a keys.psk file */
#define VFM_TLS_PSK_LINES_MAX	 256  /* lines of a keys.psk file */
#define VFM_TLS_PSK_LINE_MAX	 512  /* bytes of one line, newline excluded */
#define VFM_TLS_PSK_ID_MAX	 128  /* bytes of an identity */
#define VFM_TLS_PSK_KEY_MIN	 16   /* bytes of a key (32 hex digits) */
#define VFM_TLS_PSK_KEY_MAX	 64   /* bytes of a key (128 hex digits) */

enum vfm_uri_kind {
	VFM_URI_TCP,
	VFM_URI_UNIX,
	VFM_URI_FILE,
	VFM_URI_STDIO,
	VFM_URI_FD,
	VFM_URI_EXEC,
};

/* A parsed URI.  Large (a path buffer): keep it off small stacks. */
struct vfm_uri {
	enum vfm_uri_kind kind;
	char host[VFM_URI_HOST_MAX + 1]; /* TCP: without brackets, "" = any */
	bool host_v6;			 /* TCP: HOST was a bracketed IPv6 literal */
	uint16_t port;			 /* TCP */
	bool abstract;			 /* UNIX: unix:@NAME; path holds NAME */
	char path[VFM_URI_MAX + 1];	 /* UNIX, FILE; EXEC: the command */
	int fd;				 /* FD, else -1 */
};

/**
 * vfm_uri_parse() - check and split a URI (at most VFM_URI_MAX bytes).
 * @listen: parse it as an address to listen on: tcp and unix only; an empty HOST and
 * port 0 are allowed.  Otherwise HOST is required and PORT is 1..65535.
 * Returns 0, or -EINVAL with the reason in @err.  *@ret_uri is written on success.
 */
int vfm_uri_parse(const char *s, bool listen, struct vfm_uri *ret_uri,
		  struct vfm_transport_err *err);

/**
 * vfm_endpoint_writev_full() - write all of @iov (at most VFM_WRITEV_MAX entries,
 * total at most SSIZE_MAX; -EINVAL beyond) without copying.  @iov is not modified.
 * Returns as vfm_endpoint_write_full().
 */
int vfm_endpoint_writev_full(struct vfm_endpoint *ep, const struct iovec *iov,
			     size_t iovcnt);

/*
 * vfm_cancel_poll() - 0, or -ECANCELED (-EBADF for a closed fd) while @cancel_fd (-1:
 * none) is readable, polled at most once a millisecond: *@checked (__atomic, start at
 * 0) holds when it was last found clear; once found readable, every call polls until
 * it is clear again.  For checks that need not wait: an endpoint's I/O, a job's loops.
 */
int vfm_cancel_poll(int cancel_fd, uint64_t *checked);


/* A key of a keys.psk file. */
struct vfm_tls_psk {
	char identity[VFM_TLS_PSK_ID_MAX + 1];
	uint8_t key[VFM_TLS_PSK_KEY_MAX];
	size_t key_len;
};

/**
 * vfm_tls_psk_parse() - parse keys.psk text: "identity:hexkey" lines; empty lines and
 * lines starting with '#' are skipped.  Bounded by the VFM_TLS_PSK_* limits; an
 * identity is 1..VFM_TLS_PSK_ID_MAX printable ASCII bytes without ':', given once.
 * Returns the number of keys (>= 1) and a calloc'ed array in *@ret (free() it), or
 * -EINVAL with "line N: ..." in @err, -E2BIG, -ENOMEM.
 */
int vfm_tls_psk_parse(const char *text, size_t len, struct vfm_tls_psk **ret,
		      struct vfm_transport_err *err);

/**
 * vfm_tls_dn_allowed() - whether @dn matches one of @patterns (fnmatch(3), no flags);
 * true when @n is 0.
 */
bool vfm_tls_dn_allowed(const char *dn, const char *const *patterns, size_t n);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct vfm_tls *, vfm_tls_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vfm_endpoint *, vfm_endpoint_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct vfm_listener *, vfm_listener_free)
