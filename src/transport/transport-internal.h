/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What transport.c shares with tls.c: the endpoint and listener objects and the
 * waiting helpers.  Nothing here is exported from the shared library.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "transport.h"

#define _hidden_ __attribute__((visibility("hidden")))

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define DESC_MAX     (VFM_URI_MAX + 64)

/*
 * How I/O on a descriptor is done without blocking past a timeout or a cancel, and
 * without changing flags shared with other processes.
 */
enum io_mode {
	IO_SOCKET,   /* recv/sendmsg with MSG_DONTWAIT | MSG_NOSIGNAL */
	IO_NONBLOCK, /* O_NONBLOCK on a file description we opened, or found set */
	IO_NOWAIT,   /* borrowed blocking pipe/tty: preadv2/pwritev2 with RWF_NOWAIT */
	IO_POLL,     /* RWF_NOWAIT refused: poll, then a call that cannot block long */
	IO_REGULAR,  /* regular file or block device: always ready */
};

struct tls_conn; /* tls.c */

/*
 * fd is what we read (or, one-way, write), wfd what we write: the same descriptor
 * except for exec: (two pipes) and two-way "-" (stdin, stdout), each with its own
 * mode so that a reading thread and a writing thread never share state.
 */
struct vfm_endpoint {
	int fd, wfd;
	enum io_mode mode, wmode;
	bool can_read, can_write, two_way;
	bool fifo;	    /* wfd: IO_POLL writes of at most PIPE_BUF */
	bool sync_on_close; /* a regular file we write */
	bool write_shut;
	bool writes_stdout;
	bool net_socket; /* tcp:// or unix: (connected or accepted): TLS may run on it */
	int dir_fd;	 /* file: written: its directory, fsync'ed at close */
	/* file: to a regular file: we write @tmp_name in dir_fd, renamed over
	 * @final_name once finished; vfm_endpoint_free() unlinks it */
	char *tmp_name, *final_name;
	unsigned timeout_ms;
	uint64_t deadline; /* absolute, monotonic usec; 0 = none */
	int cancel_fd;
	uint64_t cancel_checked; /* vfm_cancel_poll()'s state for cancel_fd */
	uint64_t bytes_read, bytes_written; /* __atomic, relaxed */
	struct tls_conn *tls;		    /* NULL: plaintext */
	/* exec: the command's process, until reaped */
	pid_t pid;
	bool reaped;
	int reap_err;
	char exit_status[128];
	char desc[DESC_MAX];
	char security[VFM_SECURITY_MAX];
};

struct vfm_listener {
	int fd;
	bool is_unix;
	bool unlink_path; /* a unix path we bound: unlinked at free if still ours */
	dev_t dev;
	ino_t ino;
	char path[SUN_PATH_MAX + 1];
	char uri[VFM_URI_MAX + 16];
};

/* transport.c */
/* Write the message into @err (may be NULL); returns @r. */
_hidden_ int transport_fail(struct vfm_transport_err *err, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define fail transport_fail
_hidden_ uint64_t deadline_after(unsigned timeout_ms);
/* When the next wait of @ep's I/O ends: its inactivity timeout from now, or its
 * absolute deadline, whichever comes first. */
_hidden_ uint64_t io_deadline(const struct vfm_endpoint *ep);
_hidden_ int wait_fd(int fd, short events, uint64_t deadline, int cancel_fd);
_hidden_ int check_cancel(int cancel_fd);

/* tls.c: I/O of an endpoint once TLS runs on it (ep->tls set) */
_hidden_ ssize_t tls_read_some(struct vfm_endpoint *ep, void *buf, size_t size);
_hidden_ int tls_writev(struct vfm_endpoint *ep, const struct iovec *iov, size_t cnt);
/* The kernel does the records we send (kTLS): writes are a plain socket's. */
_hidden_ bool tls_kernel_tx(const struct vfm_endpoint *ep);
_hidden_ int tls_shutdown_write(struct vfm_endpoint *ep);
_hidden_ struct tls_conn *tls_conn_free(struct tls_conn *c);
