// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Transport: tcp, unix, file, stdio, fd and exec endpoints behind one small object.  See
 * transport.h for the contract.  Nothing here prints; errors come back as -errno
 * plus, where an address is involved, a message in struct vfm_transport_err.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "transport-internal.h"
#include "transport.h"
#include "util.h"

/* Retry period while a unix listener's backlog is full (connect gives EAGAIN), or
 * while a FIFO has no reader (open gives ENXIO): neither can be polled for. */
#define RETRY_USEC    10000
#define EXEC_DESC_MAX 80 /* bytes of an exec: command quoted in the description */
#define EXEC_POLL_MS  10 /* period of waitpid(WNOHANG) while reaping a command */

/* ------------------------------------------------------------------------- */
/* small helpers                                                             */

int transport_fail(struct vfm_transport_err *err, int r, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r;
}

/* strerror of a negative errno, thread-safe (GNU strerror_r). */
static const char *errstr(int r, char *buf, size_t size)
{
	return strerror_r(-r, buf, size);
}

/* fail() with ": strerror(r)" appended. */
_printf_(3, 4) static int fail_sys(struct vfm_transport_err *err, int r, const char *fmt,
				   ...)
{
	char ebuf[64];
	size_t n;
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
			 errstr(r, ebuf, sizeof(ebuf)));
	}
	return r;
}

static bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

uint64_t deadline_after(unsigned timeout_ms)
{
	return timeout_ms ? now_usec() + (uint64_t)timeout_ms * 1000 : 0;
}

/*
 * Wait until @fd has one of @events (or an error), the cancel fd is readable, or the
 * monotonic @deadline (usec, 0 = none) passes.  @fd < 0 waits for the other two only.
 */
int wait_fd(int fd, short events, uint64_t deadline, int cancel_fd)
{
	for (;;) {
		struct pollfd p[2] = {
			{.fd = fd, .events = events},
			{.fd = cancel_fd, .events = POLLIN},
		};
		int timeout = -1, n;

		if (deadline) {
			uint64_t now = now_usec();

			if (now >= deadline)
				return -ETIMEDOUT;
			timeout = (int)MIN((deadline - now + 999) / 1000,
					   (uint64_t)INT_MAX);
		}
		n = poll(p, cancel_fd >= 0 ? 2 : 1, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (cancel_fd >= 0 && p[1].revents)
			return p[1].revents & POLLNVAL ? -EBADF : -ECANCELED;
		if (n == 0)
			continue; /* the deadline check above ends it */
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		return 0;
	}
}

int check_cancel(int cancel_fd)
{
	struct pollfd p = {.fd = cancel_fd, .events = POLLIN};

	if (cancel_fd < 0)
		return 0;
	if (poll(&p, 1, 0) < 0)
		return errno == EINTR ? 0 : -errno;
	if (p.revents)
		return p.revents & POLLNVAL ? -EBADF : -ECANCELED;
	return 0;
}

/*
 * A cancel before a read or write that need not wait, and in a job's chunk loops:
 * polled at most once a CANCEL_POLL_USEC, not once a call (a record's header, payload
 * and CRC are three reads).  A call that waits polls the cancel fd with the
 * connection's, always.
 */
#define CANCEL_POLL_USEC 1000

int vfm_cancel_poll(int cancel_fd, uint64_t *checked)
{
	uint64_t now;
	int r;

	if (cancel_fd < 0)
		return 0;
	now = now_usec();
	if (now - __atomic_load_n(checked, __ATOMIC_RELAXED) < CANCEL_POLL_USEC)
		return 0;
	r = check_cancel(cancel_fd);
	/* once seen, every call polls until the fd is clear again */
	__atomic_store_n(checked, r < 0 ? 0 : now, __ATOMIC_RELAXED);
	return r;
}

/* "1.2.3.4:80", "[fe80::1%eth0]:80"; IPv4-mapped addresses shown as IPv4. */
static void format_sockaddr(const struct sockaddr *sa, socklen_t len, char *buf,
			    size_t size)
{
	char host[NI_MAXHOST];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
		return;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host,
				  sizeof(host));
			snprintf(buf, size, "%s:%u", host, ntohs(in6->sin6_port));
			return;
		}
		if (getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST))
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
		return;
	}
	default: snprintf(buf, size, "(family %d)", sa->sa_family);
	}
}

static int set_int_opt(int fd, int level, int opt, int value)
{
	if (setsockopt(fd, level, opt, &value, sizeof(value)) < 0)
		return -errno;
	return 0;
}

/*
 * TCP_NODELAY: the stream writes a header, then chunks, then waits for a verdict;
 * Nagle would hold the small records back waiting for ACKs.  Buffer sizes are left to
 * the kernel's autotuning: setting SO_SNDBUF/SO_RCVBUF turns it off, and on loopback
 * fixed 4 MiB buffers were no faster than autotuning (see the transport test).
 */
static void tune_tcp(int fd)
{
	(void)set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

/* ------------------------------------------------------------------------- */
/* URI parsing                                                               */

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* A DNS name or an IPv4 literal: labels of 1..63 characters, one trailing dot. */
static int check_hostname(const char *h, struct vfm_transport_err *err)
{
	size_t len = strlen(h), label = 0;
	bool numeric = true;
	struct in_addr a;

	if (len > VFM_URI_HOST_MAX)
		return fail(err, -EINVAL, "host name longer than %d bytes",
			    VFM_URI_HOST_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (!is_host_char(c))
			return fail(err, -EINVAL, "bad character '%c' in host \"%.64s\"",
				    c >= 0x20 && c < 0x7f ? c : '?', h);
		if (c == '.') {
			if (label == 0)
				return fail(err, -EINVAL, "empty label in host \"%.64s\"",
					    h);
			label = 0;
			continue;
		}
		if (label == 0 && c == '-')
			return fail(err, -EINVAL,
				    "label starts with '-' in host \"%.64s\"", h);
		if (++label > 63)
			return fail(err, -EINVAL,
				    "label longer than 63 bytes in host \"%.64s\"", h);
		if (!(c >= '0' && c <= '9'))
			numeric = false;
	}
	/* All digits and dots: it must be a dotted quad, not inet_aton's "1.2" forms. */
	if (numeric && inet_pton(AF_INET, h, &a) != 1)
		return fail(err, -EINVAL, "bad IPv4 address \"%.64s\"", h);
	return 0;
}

/* ADDR or ADDR%ZONE inside brackets. */
static int check_ipv6(const char *h, struct vfm_transport_err *err)
{
	char addr[INET6_ADDRSTRLEN];
	const char *zone = strchr(h, '%');
	size_t alen = zone ? (size_t)(zone - h) : strlen(h);
	struct in6_addr a;

	if (alen == 0 || alen >= sizeof(addr))
		return fail(err, -EINVAL, "bad IPv6 address \"%.64s\"", h);
	memcpy(addr, h, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1)
		return fail(err, -EINVAL, "bad IPv6 address \"%.64s\"", h);
	if (zone) {
		size_t zlen = strlen(++zone);

		if (zlen == 0 || zlen >= IF_NAMESIZE)
			return fail(err, -EINVAL, "bad zone in IPv6 address \"%.64s\"",
				    h);
		for (size_t i = 0; i < zlen; i++)
			if (!is_host_char(zone[i]))
				return fail(err, -EINVAL,
					    "bad zone in IPv6 address \"%.64s\"", h);
	}
	return 0;
}

static int parse_tcp(const char *a, bool listen, struct vfm_uri *u,
		     struct vfm_transport_err *err)
{
	const char *port, *colon;
	size_t hlen;
	uint32_t p;
	int r;

	if (a[0] == '[') {
		const char *end = strchr(a, ']');

		if (!end)
			return fail(err, -EINVAL, "missing ']' after the IPv6 address");
		hlen = (size_t)(end - a - 1);
		if (hlen == 0)
			return fail(err, -EINVAL, "empty IPv6 address in brackets");
		if (hlen > VFM_URI_HOST_MAX)
			return fail(err, -EINVAL, "bad IPv6 address (too long)");
		memcpy(u->host, a + 1, hlen);
		u->host[hlen] = '\0';
		r = check_ipv6(u->host, err);
		if (r < 0)
			return r;
		u->host_v6 = true;
		if (end[1] != ':')
			return fail(err, -EINVAL,
				    end[1] ? "expected ':PORT' after ']'"
					   : "missing port (tcp://HOST:PORT)");
		port = end + 2;
	} else {
		colon = strchr(a, ':');
		if (!colon)
			return fail(err, -EINVAL, "missing port (tcp://HOST:PORT)");
		if (strchr(colon + 1, ':'))
			return fail(err, -EINVAL,
				    "an IPv6 address needs brackets (tcp://[ADDR]:PORT)");
		hlen = (size_t)(colon - a);
		if (hlen > VFM_URI_HOST_MAX)
			return fail(err, -EINVAL, "host name longer than %d bytes",
				    VFM_URI_HOST_MAX);
		memcpy(u->host, a, hlen);
		u->host[hlen] = '\0';
		if (hlen == 0 && !listen)
			return fail(err, -EINVAL, "missing host (tcp://HOST:PORT)");
		if (hlen > 0) {
			r = check_hostname(u->host, err);
			if (r < 0)
				return r;
		}
		port = colon + 1;
	}

	if (!*port)
		return fail(err, -EINVAL, "missing port (tcp://HOST:PORT)");
	if (parse_u32(port, 10, UINT16_MAX, &p) < 0)
		return fail(err, -EINVAL, "bad port \"%.16s\" (0..65535)", port);
	if (p == 0 && !listen)
		return fail(err, -EINVAL, "port 0 is only valid for listening");
	u->port = (uint16_t)p;
	return 0;
}

static int parse_unix(const char *p, struct vfm_uri *u, struct vfm_transport_err *err)
{
	if (p[0] == '@') {
		u->abstract = true;
		p++;
		if (!*p)
			return fail(err, -EINVAL,
				    "empty abstract socket name (unix:@NAME)");
	} else if (!*p) {
		return fail(err, -EINVAL, "empty socket path (unix:PATH)");
	}
	if (strlen(p) > SUN_PATH_MAX)
		return fail(err, -EINVAL, "unix socket %s longer than %zu bytes",
			    u->abstract ? "name" : "path", SUN_PATH_MAX);
	strcpy(u->path, p); /* bounded by SUN_PATH_MAX above */
	return 0;
}

/*
 * exec:CMD: handed to sh as one argument, so any shell text goes, but not control
 * characters: a newline would hide a second command from whoever reads the URI in a
 * log or a process list, and none has a use in a command line.
 */
static int parse_exec(const char *c, struct vfm_uri *u, struct vfm_transport_err *err)
{
	if (c[strspn(c, " ")] == '\0')
		return fail(err, -EINVAL, "empty command (exec:CMD)");
	for (size_t i = 0; c[i]; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			return fail(err, -EINVAL,
				    "control character 0x%02x at byte %zu of the command "
				    "(exec:CMD)",
				    (unsigned char)c[i], i);
	strcpy(u->path, c); /* the whole URI is at most VFM_URI_MAX bytes */
	return 0;
}

int vfm_uri_parse(const char *s, bool listen, struct vfm_uri *ret_uri,
		  struct vfm_transport_err *err)
{
	struct vfm_uri *u;
	size_t len;
	int r = 0;

	if (!s || !ret_uri)
		return fail(err, -EINVAL, "no URI");
	len = strnlen(s, VFM_URI_MAX + 1);
	if (len == 0)
		return fail(err, -EINVAL, "empty URI");
	if (len > VFM_URI_MAX)
		return fail(err, -EINVAL, "URI longer than %d bytes", VFM_URI_MAX);

	u = calloc(1, sizeof(*u));
	if (!u)
		return fail(err, -ENOMEM, "out of memory");
	u->fd = -1;

	if (streq(s, "-")) {
		u->kind = VFM_URI_STDIO;
	} else if (startswith(s, "tcp://")) {
		u->kind = VFM_URI_TCP;
		r = parse_tcp(s + 6, listen, u, err);
	} else if (startswith(s, "unix:")) {
		u->kind = VFM_URI_UNIX;
		r = parse_unix(s + 5, u, err);
	} else if (startswith(s, "file:")) {
		u->kind = VFM_URI_FILE;
		if (!s[5])
			r = fail(err, -EINVAL, "empty path (file:PATH)");
		else
			strcpy(u->path, s + 5); /* len <= VFM_URI_MAX */
	} else if (startswith(s, "exec:")) {
		u->kind = VFM_URI_EXEC;
		r = parse_exec(s + 5, u, err);
	} else if (startswith(s, "fd:")) {
		uint32_t fd;

		u->kind = VFM_URI_FD;
		if (parse_u32(s + 3, 10, INT_MAX, &fd) < 0)
			r = fail(err, -EINVAL,
				 "bad file descriptor \"%.16s\" (fd:N, N >= 0)", s + 3);
		else
			u->fd = (int)fd;
	} else {
		size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

		if (n > 0 && s[n] == ':')
			r = fail(err, -EINVAL,
				 "unknown scheme \"%.*s\" "
				 "(tcp, unix, file, fd, exec, or -)",
				 (int)MIN(n, 32), s);
		else
			r = fail(err, -EINVAL,
				 "not a URI: \"%.64s\" (tcp://HOST:PORT, unix:PATH, "
				 "file:PATH, fd:N, exec:CMD, or -)",
				 s);
	}

	if (r == 0 && listen && u->kind != VFM_URI_TCP && u->kind != VFM_URI_UNIX)
		r = fail(err, -EINVAL,
			 "cannot listen on \"%.64s\" (tcp:// or unix: only)", s);
	if (r == 0)
		*ret_uri = *u;
	free(u);
	return r;
}

/* ------------------------------------------------------------------------- */
/* endpoint objects                                                          */

/* When the next wait of @ep's I/O ends: the inactivity timeout from now, or the
 * absolute deadline, whichever comes first. */
uint64_t io_deadline(const struct vfm_endpoint *ep)
{
	uint64_t t = deadline_after(ep->timeout_ms);

	if (ep->deadline && (!t || ep->deadline < t))
		t = ep->deadline;
	return t;
}

static struct vfm_endpoint *ep_new(int fd, enum io_mode mode, bool can_read,
				   bool can_write)
{
	struct vfm_endpoint *ep = calloc(1, sizeof(*ep));

	if (!ep)
		return NULL;
	ep->fd = ep->wfd = fd;
	ep->mode = ep->wmode = mode;
	ep->can_read = can_read;
	ep->can_write = can_write;
	ep->two_way = can_read && can_write;
	ep->dir_fd = -1;
	ep->cancel_fd = -1;
	snprintf(ep->security, sizeof(ep->security), "plaintext");
	return ep;
}

static struct vfm_endpoint *ep_new_socket(int fd)
{
	return ep_new(fd, IO_SOCKET, true, true);
}

/* Close @fd; Linux frees it even when close() fails, and EINTR is no error here. */
static int close_checked(int fd)
{
	if (fd >= 0 && close(fd) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* A file: output abandoned: its temporary goes (the target was never touched). */
static void ep_drop_tmp(struct vfm_endpoint *ep)
{
	if (ep->tmp_name && ep->dir_fd >= 0)
		(void)unlinkat(ep->dir_fd, ep->tmp_name, 0);
	ep->tmp_name = (free(ep->tmp_name), NULL);
	ep->final_name = (free(ep->final_name), NULL);
}

/*
 * Close what we write: fsync'ed first when it is a regular file.  A file: output
 * written to a temporary then replaces its target, and the directory is fsync'ed so
 * that the rename holds; on any failure the temporary goes and the target stays.
 */
static int ep_finish_write(struct vfm_endpoint *ep)
{
	int r = 0, k;

	if (ep->wfd < 0)
		return 0;
	if (ep->sync_on_close && ep->can_write && fsync(ep->wfd) < 0)
		r = -errno;
	if (ep->wfd == ep->fd)
		ep->fd = -1;
	k = close_checked(ep->wfd);
	ep->wfd = -1;
	if (r == 0)
		r = k;
	if (r == 0 && ep->tmp_name &&
	    renameat(ep->dir_fd, ep->tmp_name, ep->dir_fd, ep->final_name) < 0)
		r = -errno;
	if (r < 0) {
		ep_drop_tmp(ep);
	} else {
		ep->tmp_name = (free(ep->tmp_name), NULL);
		ep->final_name = (free(ep->final_name), NULL);
		/* Some file systems cannot fsync a directory: not our data's problem. */
		if (ep->sync_on_close && ep->dir_fd >= 0 && fsync(ep->dir_fd) < 0 &&
		    errno != EINVAL)
			r = -errno;
	}
	ep->dir_fd = safe_close(ep->dir_fd);
	return r;
}

/* fsync a written regular file (and its directory), then close both sides. */
static int ep_finish(struct vfm_endpoint *ep)
{
	int r = ep_finish_write(ep), k = close_checked(ep->fd);

	ep->fd = -1;
	return r < 0 ? r : k;
}

static void ep_close_all(struct vfm_endpoint *ep)
{
	ep_drop_tmp(ep);
	if (ep->wfd != ep->fd)
		safe_close(ep->wfd);
	safe_close(ep->fd);
	safe_close(ep->dir_fd);
	ep->fd = ep->wfd = ep->dir_fd = -1;
}

_public_ int vfm_endpoint_close(struct vfm_endpoint *ep)
{
	int r, k;

	if (!ep)
		return 0;
	ep->tls = tls_conn_free(ep->tls);
	r = ep_finish_write(ep);
	k = vfm_endpoint_wait(ep);
	if (r == 0)
		r = k;
	k = close_checked(ep->fd);
	if (r == 0)
		r = k;
	ep->fd = -1;
	ep_close_all(ep);
	free(ep);
	return r;
}

_public_ struct vfm_endpoint *vfm_endpoint_free(struct vfm_endpoint *ep)
{
	if (!ep)
		return NULL;
	ep->tls = tls_conn_free(ep->tls);
	if (ep->wfd != ep->fd)
		ep->wfd = safe_close(ep->wfd);
	(void)vfm_endpoint_wait(ep);
	ep_close_all(ep);
	free(ep);
	return NULL;
}

_public_ void vfm_endpoint_set_timeout(struct vfm_endpoint *ep, unsigned timeout_ms)
{
	ep->timeout_ms = timeout_ms;
}

_public_ void vfm_endpoint_set_deadline(struct vfm_endpoint *ep, uint64_t deadline_usec)
{
	ep->deadline = deadline_usec;
}

_public_ void vfm_endpoint_set_cancel_fd(struct vfm_endpoint *ep, int cancel_fd)
{
	ep->cancel_fd = cancel_fd < 0 ? -1 : cancel_fd;
	ep->cancel_checked = 0; /* the next call polls it */
}

_public_ bool vfm_endpoint_is_two_way(const struct vfm_endpoint *ep)
{
	return ep->two_way;
}

_public_ bool vfm_endpoint_is_socket(const struct vfm_endpoint *ep)
{
	return ep->mode == IO_SOCKET;
}

_public_ bool vfm_endpoint_writes_stdout(const struct vfm_endpoint *ep)
{
	return ep->writes_stdout;
}

_public_ const char *vfm_endpoint_exit_status(const struct vfm_endpoint *ep)
{
	return ep->pid > 0 && ep->reaped ? ep->exit_status : NULL;
}

_public_ const char *vfm_endpoint_description(const struct vfm_endpoint *ep)
{
	return ep->desc;
}

_public_ int vfm_endpoint_fd(const struct vfm_endpoint *ep)
{
	return ep->fd;
}

_public_ const char *vfm_endpoint_security(const struct vfm_endpoint *ep)
{
	return ep->security;
}

_public_ uint64_t vfm_endpoint_bytes_read(const struct vfm_endpoint *ep)
{
	return __atomic_load_n(&ep->bytes_read, __ATOMIC_RELAXED);
}

_public_ uint64_t vfm_endpoint_bytes_written(const struct vfm_endpoint *ep)
{
	return __atomic_load_n(&ep->bytes_written, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------- */
/* I/O                                                                       */

/* One attempt: a count, or -errno; -EAGAIN means "wait, then try again". */
static ssize_t io_read(struct vfm_endpoint *ep, void *buf, size_t size)
{
	ssize_t n;

	switch (ep->mode) {
	case IO_SOCKET: n = recv(ep->fd, buf, size, MSG_DONTWAIT); break;
	case IO_NOWAIT: {
		struct iovec v = {.iov_base = buf, .iov_len = size};

		n = preadv2(ep->fd, &v, 1, -1, RWF_NOWAIT);
		if (n < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
			ep->mode = IO_POLL; /* the next round polls first */
			return -EAGAIN;
		}
		break;
	}
	default: n = read(ep->fd, buf, size); break;
	}
	return n < 0 ? -errno : n;
}

static ssize_t io_write(struct vfm_endpoint *ep, const struct iovec *iov, size_t cnt)
{
	ssize_t n;

	switch (ep->wmode) {
	case IO_SOCKET: {
		struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = cnt};

		n = sendmsg(ep->wfd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case IO_NOWAIT:
		n = pwritev2(ep->wfd, iov, (int)cnt, -1, RWF_NOWAIT);
		if (n < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
			ep->wmode = IO_POLL;
			return -EAGAIN;
		}
		break;
	case IO_POLL:
		/* After POLLOUT a pipe takes PIPE_BUF bytes without blocking; no more. */
		if (ep->fifo) {
			n = write(ep->wfd, iov[0].iov_base,
				  MIN(iov[0].iov_len, PIPE_BUF));
			break;
		}
		n = writev(ep->wfd, iov, (int)cnt);
		break;
	default: n = writev(ep->wfd, iov, (int)cnt); break;
	}
	return n < 0 ? -errno : n;
}

static ssize_t read_some(struct vfm_endpoint *ep, void *buf, size_t size)
{
	if (ep->tls)
		return tls_read_some(ep, buf, size);
	for (;;) {
		ssize_t n;
		int r;

		if (ep->mode == IO_POLL) {
			r = wait_fd(ep->fd, POLLIN, io_deadline(ep),
				    ep->cancel_fd);
			if (r < 0)
				return r;
		}
		n = io_read(ep, buf, size);
		if (n >= 0) {
			__atomic_fetch_add(&ep->bytes_read, (uint64_t)n,
					   __ATOMIC_RELAXED);
			return n;
		}
		if (n == -EINTR || (n == -EAGAIN && ep->mode == IO_POLL))
			continue;
		if (n != -EAGAIN)
			return n;
		r = wait_fd(ep->fd, POLLIN, io_deadline(ep),
			    ep->cancel_fd);
		if (r < 0)
			return r;
	}
}

static int check_readable(struct vfm_endpoint *ep, size_t size)
{
	if (!ep->can_read || ep->fd < 0)
		return -EBADF;
	if (size > SSIZE_MAX)
		return -EINVAL;
	return vfm_cancel_poll(ep->cancel_fd, &ep->cancel_checked);
}

_public_ ssize_t vfm_endpoint_read(struct vfm_endpoint *ep, void *buf, size_t size)
{
	int r = check_readable(ep, size);

	if (r < 0)
		return r;
	if (size == 0)
		return 0;
	return read_some(ep, buf, size);
}

_public_ ssize_t vfm_endpoint_read_full(struct vfm_endpoint *ep, void *buf, size_t size)
{
	size_t done = 0;
	int r = check_readable(ep, size);

	if (r < 0)
		return r;
	while (done < size) {
		ssize_t n = read_some(ep, (uint8_t *)buf + done, size - done);

		if (n < 0)
			return n;
		if (n == 0)
			return done == 0 ? 0 : -ENODATA;
		done += (size_t)n;
	}
	return (ssize_t)size;
}

/*
 * A write to a pipe whose reader is gone raises SIGPIPE, which kills by default.
 * Block it in this thread around the write and discard the one we raised (unless one
 * was already pending), so the caller sees -EPIPE.  Per thread: no global state.
 */
struct sigpipe_guard {
	sigset_t old;
	bool pending_before;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
	g->pending_before = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(struct sigpipe_guard *g, bool raised)
{
	if (raised && !g->pending_before) {
		const struct timespec zero = {0, 0};
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

int vfm_endpoint_writev_full(struct vfm_endpoint *ep, const struct iovec *iov,
			     size_t iovcnt)
{
	struct iovec v[VFM_WRITEV_MAX];
	struct sigpipe_guard guard;
	bool guarded;
	size_t cnt = 0, first = 0, total = 0;
	int r;

	if (ep->write_shut)
		return -EPIPE;
	if (!ep->can_write || ep->wfd < 0)
		return -EBADF;
	if (iovcnt > VFM_WRITEV_MAX)
		return -EINVAL;
	for (size_t i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
		v[cnt++] = iov[i];
	}
	r = vfm_cancel_poll(ep->cancel_fd, &ep->cancel_checked);
	if (r < 0)
		return r;
	if (ep->tls && !tls_kernel_tx(ep))
		return tls_writev(ep, v, cnt);

	guarded = ep->wmode != IO_SOCKET && ep->wmode != IO_REGULAR;
	if (guarded)
		sigpipe_block(&guard);
	while (first < cnt) {
		ssize_t n;

		if (ep->wmode == IO_POLL) {
			r = wait_fd(ep->wfd, POLLOUT, io_deadline(ep),
				    ep->cancel_fd);
			if (r < 0)
				break;
		}
		n = io_write(ep, v + first, cnt - first);
		if (n == -EINTR || (n == -EAGAIN && ep->wmode == IO_POLL))
			continue;
		if (n == -EAGAIN) {
			r = wait_fd(ep->wfd, POLLOUT, io_deadline(ep),
				    ep->cancel_fd);
			if (r < 0)
				break;
			continue;
		}
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0) { /* no progress and no error: do not spin */
			r = -EIO;
			break;
		}
		__atomic_fetch_add(&ep->bytes_written, (uint64_t)n, __ATOMIC_RELAXED);
		for (size_t left = (size_t)n; left > 0;) {
			if (left >= v[first].iov_len) {
				left -= v[first].iov_len;
				first++;
			} else {
				v[first].iov_base = (uint8_t *)v[first].iov_base + left;
				v[first].iov_len -= left;
				left = 0;
			}
		}
		r = 0;
	}
	if (guarded)
		sigpipe_restore(&guard, r == -EPIPE);
	return r;
}

_public_ int vfm_endpoint_write_full(struct vfm_endpoint *ep, const void *buf,
				     size_t size)
{
	struct iovec v = {.iov_base = (void *)buf, .iov_len = size};

	return vfm_endpoint_writev_full(ep, &v, 1);
}

_public_ int vfm_endpoint_shutdown_write(struct vfm_endpoint *ep)
{
	int r;

	if (ep->write_shut)
		return 0;
	if (!ep->can_write || ep->wfd < 0)
		return -EBADF;
	if (ep->tls)
		return tls_shutdown_write(ep);
	if (ep->wmode == IO_SOCKET) {
		if (shutdown(ep->wfd, SHUT_WR) < 0)
			return -errno;
		ep->write_shut = true;
		return 0;
	}
	if (ep->wfd != ep->fd) { /* exec:, two-way "-": our reading side stays */
		r = ep_finish_write(ep);
		ep->write_shut = true;
		return r;
	}
	return ep_finish(ep);
}

/* ------------------------------------------------------------------------- */
/* connecting                                                                */

static int connect_one(const struct sockaddr *sa, socklen_t len, uint64_t deadline,
		       int cancel_fd, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r, e = 0;
	socklen_t elen = sizeof(e);

	r = check_cancel(cancel_fd);
	if (r < 0)
		return r;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	tune_tcp(fd);
	if (connect(fd, sa, len) < 0) {
		/* EINTR: the connection carries on asynchronously, as EINPROGRESS. */
		if (errno != EINPROGRESS && errno != EINTR)
			return -errno;
		r = wait_fd(fd, POLLOUT, deadline, cancel_fd);
		if (r < 0)
			return r;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			return -errno;
		if (e)
			return -e;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int gai_to_errno(int g)
{
	switch (g) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
	case EAI_FAIL: return -ENXIO;
	case EAI_AGAIN: return -EAGAIN;
	case EAI_MEMORY: return -ENOMEM;
	case EAI_FAMILY: return -EAFNOSUPPORT;
	case EAI_SYSTEM: return negative_errno();
	default: return -EINVAL;
	}
}

static int resolve(const struct vfm_uri *u, bool passive, struct addrinfo **ret,
		   struct vfm_transport_err *err)
{
	struct addrinfo hints = {
		.ai_family = u->host_v6 ? AF_INET6 : AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = AI_NUMERICSERV | (u->host_v6 ? AI_NUMERICHOST : 0) |
			    (passive ? AI_PASSIVE : 0),
	};
	char port[8];
	int g;

	snprintf(port, sizeof(port), "%u", u->port);
	g = getaddrinfo(u->host[0] ? u->host : NULL, port, &hints, ret);
	if (g != 0)
		return fail(err, gai_to_errno(g), "cannot resolve \"%s\": %s", u->host,
			    gai_strerror(g));
	return 0;
}

static int open_tcp(const struct vfm_uri *u, unsigned timeout_ms, int cancel_fd,
		    struct vfm_endpoint **ret_ep, struct vfm_transport_err *err)
{
	struct addrinfo *ai = NULL;
	uint64_t deadline = deadline_after(timeout_ms);
	char addr[NI_MAXHOST + 16] = "", ebuf[64];
	unsigned tried = 0;
	int r, fd = -1;

	r = resolve(u, false, &ai, err);
	if (r < 0)
		return r;
	r = -EHOSTUNREACH;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		format_sockaddr(a->ai_addr, a->ai_addrlen, addr, sizeof(addr));
		tried++;
		r = connect_one(a->ai_addr, a->ai_addrlen, deadline, cancel_fd, &fd);
		if (r == 0 || r == -ECANCELED || r == -ETIMEDOUT)
			break;
		if (deadline && now_usec() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
	}
	freeaddrinfo(ai);

	if (r == -ETIMEDOUT && timeout_ms)
		return fail(err, r, "connect to tcp %s: no answer within %u ms", addr,
			    timeout_ms);
	if (r == -ECANCELED)
		return fail(err, r, "connect to tcp %s: canceled", addr);
	if (r < 0)
		return fail(err, r, "connect to tcp %s: %s%s", addr,
			    errstr(r, ebuf, sizeof(ebuf)),
			    tried > 1 ? " (and the other addresses of the host)" : "");

	*ret_ep = ep_new_socket(fd);
	if (!*ret_ep) {
		safe_close(fd);
		return fail(err, -ENOMEM, "out of memory");
	}
	(*ret_ep)->net_socket = true;
	/* Name the address actually connected, and the name if one was given. */
	if (u->host_v6 || inet_pton(AF_INET, u->host, &(struct in_addr){0}) == 1)
		snprintf((*ret_ep)->desc, DESC_MAX, "tcp %s", addr);
	else
		snprintf((*ret_ep)->desc, DESC_MAX, "tcp %s:%u (%s)", u->host, u->port,
			 addr);
	return 0;
}

/*
 * Sleep until the next retry: 0, or -ETIMEDOUT once @deadline (0 = none) has passed,
 * or -ECANCELED.
 */
static int retry_wait(uint64_t deadline, int cancel_fd)
{
	uint64_t next = now_usec() + RETRY_USEC;
	int r = wait_fd(-1, 0, deadline ? MIN(next, deadline) : next, cancel_fd);

	if (r == -ETIMEDOUT && !(deadline && now_usec() >= deadline))
		return 0;
	return r;
}

static socklen_t unix_addr(const struct vfm_uri *u, struct sockaddr_un *sa)
{
	size_t n = strlen(u->path); /* <= SUN_PATH_MAX, checked by the parser */

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (u->abstract) {
		memcpy(sa->sun_path + 1, u->path, n);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	}
	memcpy(sa->sun_path, u->path, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static int open_unix(const struct vfm_uri *u, unsigned timeout_ms, int cancel_fd,
		     struct vfm_endpoint **ret_ep, struct vfm_transport_err *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t len = unix_addr(u, &sa);
	uint64_t deadline = deadline_after(timeout_ms);
	const char *at = u->abstract ? "@" : "";
	int r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail_sys(err, negative_errno(), "socket");
	for (;;) {
		r = check_cancel(cancel_fd);
		if (r < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, len) == 0)
			break;
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN)
			break;
		/* Backlog full: a unix connect cannot be polled for; retry shortly. */
		r = retry_wait(deadline, cancel_fd);
		if (r < 0)
			break;
	}
	if (r == -ETIMEDOUT)
		return fail(err, r, "connect to unix %s%s: no answer within %u ms", at,
			    u->path, timeout_ms);
	if (r == -ECANCELED)
		return fail(err, r, "connect to unix %s%s: canceled", at, u->path);
	if (r < 0)
		return fail_sys(err, r, "connect to unix %s%s", at, u->path);

	*ret_ep = ep_new_socket(fd);
	if (!*ret_ep)
		return fail(err, -ENOMEM, "out of memory");
	TAKE_FD(fd);
	(*ret_ep)->net_socket = true;
	snprintf((*ret_ep)->desc, DESC_MAX, "unix %s%s", at, u->path);
	return 0;
}

/* The mode for a descriptor whose flags we must not change (or did set ourselves). */
static enum io_mode fd_mode(int fd, const struct stat *st)
{
	int fl;

	if (S_ISSOCK(st->st_mode))
		return IO_SOCKET;
	if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode))
		return IO_REGULAR;
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		return IO_NONBLOCK;
	return IO_NOWAIT;
}

static int one_way_flags(unsigned flags, const char *what, struct vfm_transport_err *err)
{
	if (flags != VFM_EP_READ && flags != VFM_EP_WRITE)
		return fail(err, -EINVAL,
			    "%s carries bytes one way: open it for reading or writing",
			    what);
	return 0;
}

/*
 * Where a file: output goes.  An existing target that is a FIFO or a device (a
 * stream): *@ret_fd -1, written in place as before.  Otherwise, a new file or a
 * regular one, the output goes to a temporary ".NAME.XXXXXX" beside it
 * (O_EXCL|O_NOFOLLOW, mode 0600), renamed over NAME once finished, so that the old
 * image survives a failure: its descriptor in *@ret_fd, its name in *@ret_tmp.  Refused: a symbolic link
 * (whatever it points to), and, as the kernel's protected_regular does for O_CREAT,
 * another user's file in a sticky world-writable directory (/tmp): someone else's
 * file there is not ours to replace.
 */
static int open_file_target(int dir_fd, const char *name, const char *path, int *ret_fd,
			    char **ret_tmp, struct vfm_transport_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	struct stat st, dst;
	size_t len;

	*ret_fd = -1;
	*ret_tmp = NULL;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return fail_sys(err, negative_errno(), "file %s", path);
	} else if (S_ISLNK(st.st_mode)) {
		return fail(err, -ELOOP,
			    "file %s: is a symbolic link: refused (name its target itself)",
			    path);
	} else if (S_ISDIR(st.st_mode)) {
		return fail(err, -EISDIR, "file %s: is a directory", path);
	} else if (!S_ISREG(st.st_mode)) {
		return 0; /* a FIFO or a device: a stream, written in place */
	} else {
		if (fstat(dir_fd, &dst) < 0)
			return fail_sys(err, negative_errno(), "file %s: directory", path);
		if ((dst.st_mode & S_ISVTX) && (dst.st_mode & S_IWOTH) &&
		    st.st_uid != geteuid() && st.st_uid != dst.st_uid)
			return fail(err, -EACCES,
				    "file %s: belongs to uid %u in a sticky, world-writable "
				    "directory: refused (another user's file there is not "
				    "ours to replace)",
				    path, (unsigned)st.st_uid);
	}
	/* ".NAME.XXXXXX", NAME shortened to fit NAME_MAX */
	len = MIN(strlen(name), (size_t)NAME_MAX - 8);
	if (asprintf(&tmp, ".%.*s.XXXXXX", (int)len, name) < 0)
		return fail(err, -ENOMEM, "out of memory");
	for (int tries = 0; tries < 100; tries++) {
		static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					    "0123456789";
		uint8_t rnd[6];
		char *x = tmp + strlen(tmp) - 6;
		int fd;

		if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
			uint64_t v = now_usec() ^ ((uint64_t)getpid() << 20) ^ (uint64_t)tries;

			memcpy(rnd, &v, sizeof(rnd));
		}
		for (size_t k = 0; k < 6; k++)
			x[k] = chars[rnd[k] % (sizeof(chars) - 1)];
		fd = openat(dir_fd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			    0600);
		if (fd >= 0) {
			*ret_fd = fd;
			*ret_tmp = TAKE_PTR(tmp);
			return 0;
		}
		if (errno != EEXIST)
			return fail_sys(err, negative_errno(), "file %s: temporary file %s",
					path, tmp);
	}
	return fail(err, -EEXIST, "file %s: no free temporary name", path);
}

static int open_file(const struct vfm_uri *u, unsigned flags, unsigned timeout_ms,
		     int cancel_fd, struct vfm_endpoint **ret_ep,
		     struct vfm_transport_err *err)
{
	_cleanup_close_ int fd = -1, dir_fd = -1;
	_cleanup_free_ char *tmp = NULL, *final = NULL;
	struct vfm_endpoint *ep;
	struct stat st;
	int r;

	r = one_way_flags(flags, "file:", err);
	if (r < 0)
		return r;

	/* O_NONBLOCK: a FIFO must not block the open (and is then ours to drive). */
	if (flags == VFM_EP_WRITE) {
		_cleanup_free_ char *dir = strdup(u->path);
		char *slash, *name;

		if (!dir)
			return fail(err, -ENOMEM, "out of memory");
		slash = strrchr(dir, '/');
		if (!slash) {
			name = dir;
			dir_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		} else {
			name = slash + 1;
			*slash = '\0';
			dir_fd = open(slash == dir ? "/" : dir,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (dir_fd < 0)
			return fail_sys(err, negative_errno(), "file %s: directory",
					u->path);
		if (!*name)
			return fail(err, -EISDIR, "file %s: is a directory", u->path);
		r = open_file_target(dir_fd, name, u->path, &fd, &tmp, err);
		if (r < 0)
			return r;
		if (tmp) {
			final = strdup(name);
			if (!final) {
				(void)unlinkat(dir_fd, tmp, 0);
				return fail(err, -ENOMEM, "out of memory");
			}
		}
		for (uint64_t deadline = deadline_after(timeout_ms); !tmp;) {
			/* a FIFO or a device, written in place: a stream */
			fd = openat(dir_fd, name,
				    O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
					    O_NOFOLLOW);
			if (fd >= 0 || errno != ENXIO)
				break;
			/* A FIFO without a reader: wait for one, as a blocking open
			 * would, but bounded and cancellable. */
			r = retry_wait(deadline, cancel_fd);
			if (r == -ETIMEDOUT)
				return fail(err, r,
					    "file %s: no reader on the FIFO within %u ms",
					    u->path, timeout_ms);
			if (r == -ECANCELED)
				return fail(err, r, "file %s: canceled", u->path);
			if (r < 0)
				return fail_sys(err, r, "file %s", u->path);
		}
	} else {
		fd = open(u->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0)
		return fail_sys(err, negative_errno(), "file %s", u->path);
	if (fstat(fd, &st) < 0)
		return fail_sys(err, negative_errno(), "file %s", u->path);
	if (S_ISDIR(st.st_mode))
		return fail(err, -EISDIR, "file %s: is a directory", u->path);

	ep = ep_new(fd, fd_mode(fd, &st), flags == VFM_EP_READ, flags == VFM_EP_WRITE);
	if (!ep) {
		if (tmp)
			(void)unlinkat(dir_fd, tmp, 0);
		return fail(err, -ENOMEM, "out of memory");
	}
	ep->tmp_name = TAKE_PTR(tmp);
	ep->final_name = TAKE_PTR(final);
	ep->fifo = S_ISFIFO(st.st_mode);
	/* A FIFO read before any writer opened it reads as end of stream: poll first
	 * (poll reports a hang-up only once a writer has come and gone). */
	if (ep->fifo && flags == VFM_EP_READ)
		ep->mode = IO_POLL;
	ep->sync_on_close = flags == VFM_EP_WRITE && S_ISREG(st.st_mode);
	if (ep->sync_on_close)
		ep->dir_fd = TAKE_FD(dir_fd);
	snprintf(ep->desc, DESC_MAX, "file %s", u->path);
	TAKE_FD(fd);
	*ret_ep = ep;
	return 0;
}

/* A socket we inherit: a stream socket that is not listening. */
static int check_inherited_socket(int n, const char *what, struct vfm_transport_err *err)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(n, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return fail_sys(err, negative_errno(), "%s", what);
	if (type != SOCK_STREAM)
		return fail(err, -EINVAL, "%s is not a stream socket", what);
	len = sizeof(listening);
	if (getsockopt(n, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
		return fail(err, -EINVAL, "%s is a listening socket", what);
	return 0;
}

/* stdin or stdout for a two-way "-": checked, then our own CLOEXEC copy. */
static int dup_stdio(int n, struct stat *st, struct vfm_transport_err *err)
{
	const char *what = n == STDIN_FILENO ? "stdin" : "stdout";
	int acc, r, fd;

	if (fstat(n, st) < 0)
		return fail_sys(err, negative_errno(), "%s", what);
	if (S_ISDIR(st->st_mode))
		return fail(err, -EISDIR, "%s is a directory", what);
	if (S_ISSOCK(st->st_mode)) {
		r = check_inherited_socket(n, what, err);
		if (r < 0)
			return r;
	}
	acc = fcntl(n, F_GETFL);
	if (acc < 0)
		return fail_sys(err, negative_errno(), "%s", what);
	if (n == STDIN_FILENO && (acc & O_ACCMODE) == O_WRONLY)
		return fail(err, -EINVAL, "stdin is not open for reading");
	if (n == STDOUT_FILENO && (acc & O_ACCMODE) == O_RDONLY)
		return fail(err, -EINVAL, "stdout is not open for writing");
	fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return fail_sys(err, negative_errno(), "%s", what);
	return fd;
}

/*
 * "-" both ways: read stdin, write stdout (a command at the far end of exec:ssh),
 * each side with the mode its own kind needs, neither switched to O_NONBLOCK.
 */
static int open_stdio_two_way(struct vfm_endpoint **ret_ep, struct vfm_transport_err *err)
{
	_cleanup_close_ int in = -1, out = -1;
	struct vfm_endpoint *ep;
	struct stat ist, ost;

	in = dup_stdio(STDIN_FILENO, &ist, err);
	if (in < 0)
		return in;
	out = dup_stdio(STDOUT_FILENO, &ost, err);
	if (out < 0)
		return out;
	ep = ep_new(in, fd_mode(in, &ist), true, true);
	if (!ep)
		return fail(err, -ENOMEM, "out of memory");
	ep->wfd = TAKE_FD(out);
	ep->wmode = fd_mode(ep->wfd, &ost);
	ep->fifo = S_ISFIFO(ost.st_mode);
	ep->sync_on_close = S_ISREG(ost.st_mode);
	ep->writes_stdout = true;
	snprintf(ep->desc, DESC_MAX, "stdin/stdout");
	TAKE_FD(in);
	*ret_ep = ep;
	return 0;
}

/* stdin/stdout ("-", one-way here) or fd:N (two-way when a stream socket). */
static int open_inherited(int n, bool stdio, unsigned flags, struct vfm_endpoint **ret_ep,
			  struct vfm_transport_err *err)
{
	_cleanup_close_ int fd = -1;
	struct vfm_endpoint *ep;
	struct stat st;
	char what[32];
	bool sock;
	int r, acc;

	if (stdio && flags == (VFM_EP_READ | VFM_EP_WRITE))
		return open_stdio_two_way(ret_ep, err);
	if (stdio) {
		r = one_way_flags(flags, "-", err);
		if (r < 0)
			return r;
		n = flags == VFM_EP_READ ? STDIN_FILENO : STDOUT_FILENO;
		snprintf(what, sizeof(what), "%s",
			 n == STDIN_FILENO ? "stdin" : "stdout");
	} else {
		snprintf(what, sizeof(what), "fd %d", n);
	}
	if (fstat(n, &st) < 0)
		return fail_sys(err, negative_errno(), "%s", what);
	if (S_ISDIR(st.st_mode))
		return fail(err, -EISDIR, "%s is a directory", what);
	sock = S_ISSOCK(st.st_mode);
	if (sock) {
		r = check_inherited_socket(n, what, err);
		if (r < 0)
			return r;
	}
	if (!sock || stdio) {
		r = one_way_flags(flags, stdio ? "-" : what, err);
		if (r < 0)
			return r;
		acc = fcntl(n, F_GETFL);
		if (acc < 0)
			return fail_sys(err, negative_errno(), "%s", what);
		acc &= O_ACCMODE;
		if (flags == VFM_EP_READ && acc == O_WRONLY)
			return fail(err, -EINVAL, "%s is not open for reading", what);
		if (flags == VFM_EP_WRITE && acc == O_RDONLY)
			return fail(err, -EINVAL, "%s is not open for writing", what);
	}

	/* Our own copy: closing it never closes the caller's N, and it is CLOEXEC. */
	fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return fail_sys(err, negative_errno(), "%s", what);

	if (sock && !stdio)
		ep = ep_new_socket(fd);
	else
		ep = ep_new(fd, fd_mode(fd, &st), flags == VFM_EP_READ,
			    flags == VFM_EP_WRITE);
	if (!ep)
		return fail(err, -ENOMEM, "out of memory");
	ep->fifo = S_ISFIFO(st.st_mode);
	ep->sync_on_close = ep->can_write && !ep->two_way && S_ISREG(st.st_mode);
	ep->writes_stdout = stdio && flags == VFM_EP_WRITE;
	snprintf(ep->desc, DESC_MAX, "%s", what);
	TAKE_FD(fd);
	*ret_ep = ep;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* exec:                                                                     */

/* "exec 'CMD'" with CMD cut to EXEC_DESC_MAX bytes and anything unprintable escaped. */
static void exec_description(const char *cmd, char *buf, size_t size)
{
	size_t o = (size_t)snprintf(buf, size, "exec '"), i;

	for (i = 0; i < EXEC_DESC_MAX && cmd[i] && o + 8 < size; i++) {
		unsigned char c = (unsigned char)cmd[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	snprintf(buf + o, size - o, "%s'", cmd[i] ? "..." : "");
}

/*
 * In the child between fork() and exec: async-signal-safe calls only (the parent may
 * have threads).  The pipes become 0 and 1; every other descriptor above 2 goes (a
 * device fd must never reach the command); signals are as after a fresh login.
 */
_noreturn_ static void exec_child(char *const argv[], int in_fd, int out_fd, int max_fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	/* Move both pipes above 2 first, so that neither dup2 clobbers the other. */
	in_fd = fcntl(in_fd, F_DUPFD, 3);
	out_fd = fcntl(out_fd, F_DUPFD, 3);
	if (in_fd < 0 || out_fd < 0 || dup2(in_fd, STDIN_FILENO) < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
#endif
		for (int fd = 3; fd < max_fd; fd++)
			(void)close(fd);
	for (int sig = 1; sig < _NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL); /* SIGKILL, SIGSTOP, glibc's: EINVAL */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve("/bin/sh", argv, environ);
	_exit(127);
}

static int open_exec(const struct vfm_uri *u, int cancel_fd, struct vfm_endpoint **ret_ep,
		     struct vfm_transport_err *err)
{
	_cleanup_close_ int in_r = -1, in_w = -1, out_r = -1, out_w = -1;
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)u->path, NULL};
	struct vfm_endpoint *ep;
	long max_fd = sysconf(_SC_OPEN_MAX);
	int p[2], r;
	pid_t pid;

	r = check_cancel(cancel_fd);
	if (r < 0)
		return fail(err, r, "exec: canceled");
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail_sys(err, negative_errno(), "exec: pipe");
	in_r = p[0], in_w = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail_sys(err, negative_errno(), "exec: pipe");
	out_r = p[0], out_w = p[1];
	/* Our ends only: the command gets ordinary blocking pipes. */
	if (fcntl(in_w, F_SETFL, O_NONBLOCK) < 0 || fcntl(out_r, F_SETFL, O_NONBLOCK) < 0)
		return fail_sys(err, negative_errno(), "exec: fcntl");
	ep = ep_new(out_r, IO_NONBLOCK, true, true);
	if (!ep)
		return fail(err, -ENOMEM, "out of memory");
	exec_description(u->path, ep->desc, DESC_MAX);
	/* whatever the command does: ssh authenticates and encrypts */
	snprintf(ep->security, sizeof(ep->security), "the command's own (exec:)");
	if (max_fd < 0 || max_fd > INT_MAX)
		max_fd = 65536;

	pid = fork();
	if (pid < 0) {
		r = negative_errno();
		ep->fd = ep->wfd = -1;
		vfm_endpoint_free(ep);
		return fail_sys(err, r, "exec: fork");
	}
	if (pid == 0)
		exec_child(argv, in_r, out_w, (int)max_fd);

	ep->pid = pid;
	ep->fd = TAKE_FD(out_r);
	ep->wfd = TAKE_FD(in_w);
	ep->fifo = true;
	*ret_ep = ep;
	return 0;
}

/* Format a wait status: "exited with 3", "killed by SIGPIPE". */
static void format_wait_status(int st, char *buf, size_t size)
{
	const char *name;

	if (WIFEXITED(st)) {
		snprintf(buf, size, "exited with %d", WEXITSTATUS(st));
		return;
	}
	name = WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : NULL;
	if (name)
		snprintf(buf, size, "killed by SIG%s", name);
	else
		snprintf(buf, size, "killed by signal %d",
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/*
 * Wait up to @ms for the command to exit, discarding what it writes meanwhile (a
 * command blocked on a full pipe would never exit).  1: reaped into *@st; 0: still
 * running; -errno from waitpid().
 */
static int reap_within(struct vfm_endpoint *ep, unsigned ms, int *st)
{
	uint64_t deadline = now_usec() + (uint64_t)ms * 1000;
	uint8_t scratch[4096];

	for (;;) {
		pid_t w = waitpid(ep->pid, st, WNOHANG);

		if (w == ep->pid)
			return 1;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_usec() >= deadline)
			return 0;
		if (ep->fd >= 0 &&
		    wait_fd(ep->fd, POLLIN, now_usec() + EXEC_POLL_MS * 1000, -1) == 0) {
			ssize_t n = read(ep->fd, scratch, sizeof(scratch));

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				ep->fd = safe_close(ep->fd); /* its end: just wait now */
		} else if (ep->fd < 0) {
			(void)wait_fd(-1, 0, now_usec() + EXEC_POLL_MS * 1000, -1);
		}
	}
}

_public_ int vfm_endpoint_wait(struct vfm_endpoint *ep)
{
	static const int stops[] = {SIGTERM, SIGKILL};
	bool late = false;
	char how[48];
	int st = 0, r;

	if (ep->pid <= 0 || ep->reaped)
		return ep->reap_err;
	if (ep->wfd >= 0 && ep->wfd != ep->fd) { /* the command reads its end of input */
		ep->wfd = safe_close(ep->wfd);
		ep->write_shut = true;
	}
	r = reap_within(ep, VFM_EXEC_EXIT_MS, &st);
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(stops); i++) {
		(void)kill(ep->pid, stops[i]);
		late = true;
		/* SIGKILL cannot be refused: wait as long as it takes */
		r = reap_within(ep,
				stops[i] == SIGKILL ? UINT_MAX / 1000 : VFM_EXEC_TERM_MS,
				&st);
	}
	ep->reaped = true;
	if (r < 0) {
		ep->reap_err = r == -ECHILD ? -ECHILD : r;
		snprintf(ep->exit_status, sizeof(ep->exit_status),
			 "exit status unknown (waitpid: %s)",
			 errstr(r, how, sizeof(how)));
		return ep->reap_err;
	}
	format_wait_status(st, how, sizeof(how));
	if (late)
		snprintf(ep->exit_status, sizeof(ep->exit_status),
			 "did not exit within %u ms after its input ended: %s",
			 VFM_EXEC_EXIT_MS, how);
	else
		snprintf(ep->exit_status, sizeof(ep->exit_status), "%s", how);
	if (late)
		ep->reap_err = -ETIMEDOUT;
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		ep->reap_err = -EIO;
	return ep->reap_err;
}

_public_ int vfm_endpoint_open(const char *uri, unsigned flags, unsigned timeout_ms,
			       int cancel_fd, struct vfm_endpoint **ret_ep,
			       struct vfm_transport_err *err)
{
	_cleanup_free_ struct vfm_uri *u = malloc(sizeof(*u));
	struct vfm_endpoint *ep = NULL;
	int r;

	if (!u)
		return fail(err, -ENOMEM, "out of memory");
	if (flags == 0 || (flags & ~(unsigned)(VFM_EP_READ | VFM_EP_WRITE)))
		return fail(err, -EINVAL, "bad direction flags 0x%x", flags);
	r = vfm_uri_parse(uri, false, u, err);
	if (r < 0)
		return r;
	if (cancel_fd < 0)
		cancel_fd = -1;

	switch (u->kind) {
	case VFM_URI_TCP: r = open_tcp(u, timeout_ms, cancel_fd, &ep, err); break;
	case VFM_URI_UNIX: r = open_unix(u, timeout_ms, cancel_fd, &ep, err); break;
	case VFM_URI_FILE:
		r = open_file(u, flags, timeout_ms, cancel_fd, &ep, err);
		break;
	case VFM_URI_STDIO: r = open_inherited(-1, true, flags, &ep, err); break;
	case VFM_URI_FD: r = open_inherited(u->fd, false, flags, &ep, err); break;
	case VFM_URI_EXEC: r = open_exec(u, cancel_fd, &ep, err); break;
	default: r = fail(err, -EINVAL, "unknown URI kind"); break;
	}
	if (r < 0)
		return r;
	ep->timeout_ms = timeout_ms;
	ep->cancel_fd = cancel_fd;
	*ret_ep = ep;
	return 0;
}

_public_ int vfm_endpoint_open_fd(int fd, unsigned flags, unsigned timeout_ms,
				  int cancel_fd, struct vfm_endpoint **ret_ep,
				  struct vfm_transport_err *err)
{
	char uri[32];

	if (fd < 0)
		return fail(err, -EBADF, "fd %d: not a file descriptor", fd);
	snprintf(uri, sizeof(uri), "fd:%d", fd);
	return vfm_endpoint_open(uri, flags, timeout_ms, cancel_fd, ret_ep, err);
}

/* ------------------------------------------------------------------------- */
/* listening                                                                 */

static int listen_one(const struct sockaddr *sa, socklen_t len, bool any6, int *ret_fd)
{
	_cleanup_close_ int fd = -1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	if (set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
		return -errno;
	/* [::] takes IPv4 too unless the system forbids it (then v6 only it is). */
	if (any6)
		(void)set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
	if (bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int listen_tcp(const struct vfm_uri *u, struct vfm_listener *l,
		      struct vfm_transport_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[NI_MAXHOST + 16];
	int r;

	if (!u->host[0] || streq(u->host, "::")) {
		struct sockaddr_in6 in6 = {
			.sin6_family = AF_INET6,
			.sin6_port = htons(u->port),
			.sin6_addr = IN6ADDR_ANY_INIT,
		};
		struct sockaddr_in in = {
			.sin_family = AF_INET,
			.sin_port = htons(u->port),
			.sin_addr.s_addr = htonl(INADDR_ANY),
		};

		r = listen_one((struct sockaddr *)&in6, sizeof(in6), true, &l->fd);
		format_sockaddr((struct sockaddr *)&in6, sizeof(in6), addr, sizeof(addr));
		if (r == -EAFNOSUPPORT) { /* a kernel without IPv6 */
			r = listen_one((struct sockaddr *)&in, sizeof(in), false, &l->fd);
			format_sockaddr((struct sockaddr *)&in, sizeof(in), addr,
					sizeof(addr));
		}
	} else {
		struct addrinfo *ai = NULL;

		r = resolve(u, true, &ai, err);
		if (r < 0)
			return r;
		r = -EADDRNOTAVAIL;
		for (struct addrinfo *a = ai; a; a = a->ai_next) {
			format_sockaddr(a->ai_addr, a->ai_addrlen, addr, sizeof(addr));
			r = listen_one(a->ai_addr, a->ai_addrlen, false, &l->fd);
			if (r == 0)
				break;
		}
		freeaddrinfo(ai);
	}
	if (r < 0)
		return fail_sys(err, r, "listen on tcp %s", addr);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &sslen) < 0)
		return fail_sys(err, negative_errno(), "listen on tcp %s: getsockname",
				addr);
	format_sockaddr((struct sockaddr *)&ss, sslen, addr, sizeof(addr));
	snprintf(l->uri, sizeof(l->uri), "tcp://%s", addr);
	return 0;
}

/*
 * A socket file at @path: unlink it if nobody accepts on it (a crashed listener),
 * refuse if somebody does or if it is not a socket.
 */
static int remove_stale_socket(const struct vfm_uri *u, const struct sockaddr_un *sa,
			       socklen_t len, struct vfm_transport_err *err)
{
	_cleanup_close_ int probe = -1;
	struct stat st;

	if (lstat(u->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail_sys(err, negative_errno(), "listen on unix %s", u->path);
	}
	if (!S_ISSOCK(st.st_mode))
		return fail(err, -EADDRINUSE,
			    "listen on unix %s: exists and is not a socket", u->path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return fail_sys(err, negative_errno(), "socket");
	if (connect(probe, (const struct sockaddr *)sa, len) == 0 || errno == EAGAIN)
		return fail(err, -EADDRINUSE,
			    "listen on unix %s: in use by another listener", u->path);
	if (errno != ECONNREFUSED)
		return fail_sys(err, negative_errno(), "listen on unix %s", u->path);
	if (unlink(u->path) < 0 && errno != ENOENT)
		return fail_sys(err, negative_errno(),
				"listen on unix %s: removing the stale socket", u->path);
	return 0;
}

static int listen_unix(const struct vfm_uri *u, struct vfm_listener *l,
		       struct vfm_transport_err *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t len = unix_addr(u, &sa);
	const char *at = u->abstract ? "@" : "";
	struct stat st;
	int r;

	if (!u->abstract) {
		r = remove_stale_socket(u, &sa, len, err);
		if (r < 0)
			return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail_sys(err, negative_errno(), "socket");
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
		return fail_sys(err, negative_errno(), "listen on unix %s%s", at,
				u->path);
	if (!u->abstract && lstat(u->path, &st) == 0) {
		l->unlink_path = true;
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	l->is_unix = true;
	strcpy(l->path, u->path); /* <= SUN_PATH_MAX */
	snprintf(l->uri, sizeof(l->uri), "unix:%s%s", at, u->path);
	l->fd = TAKE_FD(fd);
	return 0;
}

_public_ int vfm_listener_new(const char *uri, struct vfm_listener **ret_l,
			      struct vfm_transport_err *err)
{
	_cleanup_free_ struct vfm_uri *u = malloc(sizeof(*u));
	struct vfm_listener *l;
	int r;

	if (!u)
		return fail(err, -ENOMEM, "out of memory");
	r = vfm_uri_parse(uri, true, u, err);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return fail(err, -ENOMEM, "out of memory");
	l->fd = -1;
	if (u->kind == VFM_URI_TCP)
		r = listen_tcp(u, l, err);
	else
		r = listen_unix(u, l, err);
	if (r < 0) {
		vfm_listener_free(l);
		return r;
	}
	*ret_l = l;
	return 0;
}

static bool accept_retryable(int e)
{
	/* accept(2): errors of the pending connection, to be treated like EAGAIN. */
	switch (e) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case ENETUNREACH: return true;
	default: return false;
	}
}

_public_ int vfm_listener_accept(struct vfm_listener *l, unsigned timeout_ms,
				 int cancel_fd, struct vfm_endpoint **ret_ep,
				 struct vfm_transport_err *err)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct sockaddr_storage ss;
	struct vfm_endpoint *ep;
	char addr[NI_MAXHOST + 16] = "";
	int fd = -1, r;

	if (cancel_fd < 0)
		cancel_fd = -1;
	for (;;) {
		socklen_t len = sizeof(ss);

		r = check_cancel(cancel_fd);
		if (r < 0)
			break;
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			if (!l->is_unix) {
				tune_tcp(fd);
				format_sockaddr((struct sockaddr *)&ss, len, addr,
						sizeof(addr));
			}
			break;
		}
		r = -errno;
		if (accept_retryable(-r))
			continue;
		if (r != -EAGAIN)
			break;
		r = wait_fd(l->fd, POLLIN, deadline, cancel_fd);
		if (r < 0)
			break;
	}
	if (r == -ETIMEDOUT)
		return fail(err, r, "no connection on %s within %u ms", l->uri,
			    timeout_ms);
	if (r == -ECANCELED)
		return fail(err, r, "waiting for a connection on %s: canceled", l->uri);
	if (fd < 0)
		return fail_sys(err, r, "accept on %s", l->uri);

	ep = ep_new_socket(fd);
	if (!ep) {
		safe_close(fd);
		return fail(err, -ENOMEM, "out of memory");
	}
	ep->net_socket = true;
	if (l->is_unix) /* the peer is unnamed: name the socket it came through */
		snprintf(ep->desc, DESC_MAX, "unix %s", l->uri + 5);
	else
		snprintf(ep->desc, DESC_MAX, "tcp %s", addr);
	ep->timeout_ms = timeout_ms;
	ep->cancel_fd = cancel_fd;
	*ret_ep = ep;
	return 0;
}

_public_ const char *vfm_listener_uri(const struct vfm_listener *l)
{
	return l->uri;
}

_public_ int vfm_listener_fd(const struct vfm_listener *l)
{
	return l->fd;
}

_public_ struct vfm_listener *vfm_listener_free(struct vfm_listener *l)
{
	struct stat st;

	if (!l)
		return NULL;
	/* Only our own socket: another listener may have replaced it meanwhile. */
	if (l->unlink_path && lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		(void)unlink(l->path);
	safe_close(l->fd);
	free(l);
	return NULL;
}
