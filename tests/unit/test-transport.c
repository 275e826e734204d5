// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Transport tests: URI table, loopback TCP (v4, v6, dual stack), unix (path and
 * abstract), file, stdin/stdout (one-way and two-way), fd:N, exec: commands (echo,
 * half-close, exit status, reaping, descriptor and signal hygiene), half-close,
 * timeouts, cancellation, peer loss, and a throughput figure (reported, not asserted).
 * Loopback addresses only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "tap.h"
#include "transport.h"
#include "util.h"

#define MiB	      (1024u * 1024u)
#define IO_TIMEOUT_MS 20000 /* backstop: a bug fails a check instead of hanging */

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static char tmpdir[] = "/tmp/test-transport-XXXXXX";

static uint8_t pattern_byte(uint64_t off)
{
	return (uint8_t)((off * 0x9E3779B97F4A7C15ull) >> 56);
}

static uint8_t *pattern_new(size_t len)
{
	uint8_t *p = malloc(len);

	if (!p)
		abort();
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(i);
	return p;
}

static uint64_t elapsed_ms(uint64_t start)
{
	return (now_usec() - start) / 1000;
}

/* Port of a "tcp://HOST:PORT" listener URI, 0 on failure. */
static unsigned uri_port(const char *uri)
{
	struct vfm_uri u;

	if (vfm_uri_parse(uri, true, &u, NULL) < 0)
		return 0;
	return u.port;
}

/* ------------------------------------------------------------------------- */
/* URI parsing                                                               */

struct uri_case {
	const char *uri;
	bool listen;
	int kind; /* -1: rejected */
};

static const struct uri_case uri_cases[] = {
	{"tcp://example.com:4444", false, VFM_URI_TCP},
	{"tcp://dst:1", false, VFM_URI_TCP},
	{"tcp://10.0.0.2:65535", false, VFM_URI_TCP},
	{"tcp://[::1]:4444", false, VFM_URI_TCP},
	{"tcp://[fe80::1%eth0]:4444", false, VFM_URI_TCP},
	{"tcp://host.example.:80", false, VFM_URI_TCP},
	{"tcp://[::]:4444", true, VFM_URI_TCP},
	{"tcp://0.0.0.0:4444", true, VFM_URI_TCP},
	{"tcp://:4444", true, VFM_URI_TCP},
	{"tcp://127.0.0.1:0", true, VFM_URI_TCP},
	{"unix:/run/vfiomig.sock", false, VFM_URI_UNIX},
	{"unix:rel.sock", true, VFM_URI_UNIX},
	{"unix:@vfiomig", false, VFM_URI_UNIX},
	{"file:/var/tmp/x", false, VFM_URI_FILE},
	{"file:img", false, VFM_URI_FILE},
	{"-", false, VFM_URI_STDIO},
	{"fd:0", false, VFM_URI_FD},
	{"fd:2147483647", false, VFM_URI_FD},
	{"exec:cat", false, VFM_URI_EXEC},
	{"exec:ssh dst vfiomig restore 0000:5e:00.1 --from -", false, VFM_URI_EXEC},
	{"exec: cat", false, VFM_URI_EXEC},
	{"exec:echo \xc3\xa9", false, VFM_URI_EXEC}, /* UTF-8 is fine */

	{"", false, -1},
	{"tcp://host:0", false, -1},	 /* port 0: listening only */
	{"tcp://host:65536", false, -1}, /* out of range */
	{"tcp://host:65536", true, -1},
	{"tcp://host:-1", false, -1},
	{"tcp://host:+80", false, -1},
	{"tcp://host:0x50", false, -1},
	{"tcp://host:80x", false, -1},
	{"tcp://host:80/", false, -1},
	{"tcp://host", false, -1},  /* missing port */
	{"tcp://host:", false, -1}, /* empty port */
	{"tcp://:4444", false, -1}, /* no host to connect to */
	{"tcp://", false, -1},
	{"tcp://[::1:4444", false, -1}, /* bad brackets */
	{"tcp://::1]:4444", false, -1},
	{"tcp://::1:4444", false, -1},
	{"tcp://[]:4444", false, -1},
	{"tcp://[::1]4444", false, -1},
	{"tcp://[::1]", false, -1},
	{"tcp://[1.2.3.4]:80", false, -1},
	{"tcp://[::1%]:80", false, -1},
	{"tcp://[[::1]]:80", false, -1},
	{"tcp://256.1.1.1:80", false, -1},
	{"tcp://1.2.3:80", false, -1},
	{"tcp://a..b:80", false, -1},
	{"tcp://-a:80", false, -1},
	{"tcp://a b:80", false, -1},
	{"tcp://a/b:80", false, -1},
	{"http://host:80", false, -1}, /* unknown scheme */
	{"udp://host:80", true, -1},
	{"TCP://host:80", false, -1},
	{"/tmp/img", false, -1},
	{"unix:", false, -1}, /* empty paths */
	{"unix:@", false, -1},
	{"file:", false, -1},
	{"fd:", false, -1},
	{"fd:-1", false, -1},
	{"fd:abc", false, -1},
	{"fd:+3", false, -1},
	{"fd: 3", false, -1},
	{"fd:3x", false, -1},
	{"fd:2147483648", false, -1},
	{"exec:", false, -1}, /* no command */
	{"exec:   ", false, -1},
	{"exec:cat\nrm -rf /", false, -1}, /* control characters */
	{"exec:a\tb", false, -1},
	{"exec:a\rb", false, -1},
	{"exec:a\x1b[2Jb", false, -1},
	{"exec:a\x7f", false, -1},
	{"EXEC:cat", false, -1},
	{"exec:cat", true, -1},
	{"file:/x", true, -1}, /* cannot listen on these */
	{"-", true, -1},
	{"fd:3", true, -1},
};

static void test_uri_table(void)
{
	for (size_t i = 0; i < ELEMENTSOF(uri_cases); i++) {
		const struct uri_case *c = &uri_cases[i];
		struct vfm_transport_err err = {""};
		struct vfm_uri u;
		int r = vfm_uri_parse(c->uri, c->listen, &u, &err);
		char shown[96];
		size_t o = 0;

		/* TAP lines must stay lines: show control characters as '?' */
		for (size_t k = 0; c->uri[k] && o + 1 < sizeof(shown); k++)
			shown[o++] = (unsigned char)c->uri[k] < 0x20 ? '?' : c->uri[k];
		shown[o] = '\0';

		if (c->kind < 0)
			tap_ok(r == -EINVAL && err.msg[0], "uri %s\"%s\" rejected: %s",
			       c->listen ? "(listen) " : "", shown, err.msg);
		else
			tap_ok(r == 0 && (int)u.kind == c->kind,
			       "uri %s\"%s\" accepted%s%s", c->listen ? "(listen) " : "",
			       shown, r ? ": " : "", r ? err.msg : "");
	}
}

static void test_uri_fields(void)
{
	struct vfm_transport_err err = {""};
	_cleanup_free_ char *s = malloc(VFM_URI_MAX + 2);
	struct vfm_uri u;
	int r;

	r = vfm_uri_parse("tcp://[::1]:4444", false, &u, NULL);
	tap_ok(r == 0 && streq(u.host, "::1") && u.host_v6 && u.port == 4444,
	       "[::1]:4444 -> host ::1, port 4444");
	r = vfm_uri_parse("tcp://dst.example:80", false, &u, NULL);
	tap_ok(r == 0 && streq(u.host, "dst.example") && !u.host_v6 && u.port == 80,
	       "dst.example:80 -> host, port");
	r = vfm_uri_parse("tcp://:0", true, &u, NULL);
	tap_ok(r == 0 && u.host[0] == '\0' && u.port == 0, "tcp://:0 -> any, port 0");
	r = vfm_uri_parse("unix:@name", false, &u, NULL);
	tap_ok(r == 0 && u.abstract && streq(u.path, "name"), "unix:@name is abstract");
	r = vfm_uri_parse("fd:7", false, &u, NULL);
	tap_ok(r == 0 && u.fd == 7, "fd:7 -> 7");

	/* Length bounds: 4096 bytes is fine, 4097 is not. */
	memcpy(s, "file:", 5);
	memset(s + 5, 'a', VFM_URI_MAX - 5);
	s[VFM_URI_MAX] = '\0';
	r = vfm_uri_parse(s, false, &u, &err);
	tap_ok(r == 0 && strlen(u.path) == VFM_URI_MAX - 5, "4096-byte URI accepted");
	s[VFM_URI_MAX] = 'a';
	s[VFM_URI_MAX + 1] = '\0';
	r = vfm_uri_parse(s, false, &u, &err);
	tap_ok(r == -EINVAL && strstr(err.msg, "4096"), "4097-byte URI rejected: %s",
	       err.msg);

	/* unix paths must fit sockaddr_un. */
	memcpy(s, "unix:/", 6);
	memset(s + 6, 'b', 107);
	s[113] = '\0';
	r = vfm_uri_parse(s, false, &u, &err);
	tap_ok(r == -EINVAL, "unix path of 108 bytes rejected: %s", err.msg);
	s[112] = '\0';
	tap_eq(vfm_uri_parse(s, false, &u, &err), 0, "unix path of 107 bytes accepted");

	/* exec: is bounded by the URI's length; the command lands in path. */
	memcpy(s, "exec:", 5);
	memset(s + 5, 'c', VFM_URI_MAX - 5);
	s[VFM_URI_MAX] = '\0';
	r = vfm_uri_parse(s, false, &u, &err);
	tap_ok(r == 0 && u.kind == VFM_URI_EXEC && strlen(u.path) == VFM_URI_MAX - 5,
	       "4096-byte exec: URI accepted");
	s[VFM_URI_MAX] = 'c';
	s[VFM_URI_MAX + 1] = '\0';
	r = vfm_uri_parse(s, false, &u, &err);
	tap_ok(r == -EINVAL && strstr(err.msg, "4096"),
	       "4097-byte exec: URI rejected: %s", err.msg);
	r = vfm_uri_parse("exec:ssh h cmd", false, &u, NULL);
	tap_ok(r == 0 && streq(u.path, "ssh h cmd"), "exec:ssh h cmd -> the command");
	r = vfm_uri_parse("exec:a\nb", false, &u, &err);
	tap_ok(r == -EINVAL && strstr(err.msg, "0x0a at byte 1"),
	       "a newline in the command is named: %s", err.msg);

	memset(s, 'h', 300);
	memcpy(s, "tcp://", 6);
	memcpy(s + 290, ":80", 4);
	r = vfm_uri_parse(s, false, &u, &err);
	tap_ok(r == -EINVAL, "host of 284 bytes rejected: %s", err.msg);

	tap_eq(vfm_endpoint_open("tcp://127.0.0.1:1", 0, 0, -1,
				 &(struct vfm_endpoint *){0}, &err),
	       -EINVAL, "no direction flags: -EINVAL");
}

/* ------------------------------------------------------------------------- */
/* threads: echo server and writer                                           */

struct echo {
	struct vfm_listener *l;
	int result;
	uint64_t bytes;
};

static void *echo_main(void *p)
{
	struct echo *e = p;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	_cleanup_free_ uint8_t *buf = malloc(65537);
	int r;

	r = vfm_listener_accept(e->l, IO_TIMEOUT_MS, -1, &ep, NULL);
	while (r == 0) {
		ssize_t n = vfm_endpoint_read(ep, buf, 65537);

		if (n <= 0) {
			r = n < 0 ? (int)n : vfm_endpoint_shutdown_write(ep);
			break;
		}
		e->bytes += (uint64_t)n;
		r = vfm_endpoint_write_full(ep, buf, (size_t)n);
	}
	if (ep) {
		int q = vfm_endpoint_close(TAKE_PTR(ep));

		if (r == 0)
			r = q;
	}
	e->result = r;
	return NULL;
}

struct writer {
	struct vfm_endpoint *ep;
	const uint8_t *src;
	size_t len;
	const size_t *sizes; /* cycled; NULL: chunk is fixed */
	size_t nsizes, chunk;
	bool shutdown;
	int result;
};

/* Odd sizes; every third write goes out as header + payload + trailer. */
static const size_t odd_write_sizes[] = {
	1, 7, 4093, 65537, 3, 1000003, 131071, 17, 8191, 2 * 1024 * 1024 + 5};
static const size_t odd_read_sizes[] = {13, 65521, 1, 524287, 4099, 3 * 1024 * 1024 + 1,
					77};

static void *writer_main(void *p)
{
	struct writer *w = p;
	size_t off = 0, i = 0;
	int r = 0;

	while (off < w->len && r == 0) {
		size_t n = w->sizes ? w->sizes[i % w->nsizes] : w->chunk;

		n = MIN(n, w->len - off);
		if (w->sizes && i % 3 == 2 && n >= 8) {
			const struct iovec v[] = {
				{(void *)(w->src + off), 5},
				{NULL, 0},
				{(void *)(w->src + off + 5), n - 8},
				{(void *)(w->src + off + n - 3), 3},
			};

			r = vfm_endpoint_writev_full(w->ep, v, ELEMENTSOF(v));
		} else {
			r = vfm_endpoint_write_full(w->ep, w->src + off, n);
		}
		off += n;
		i++;
	}
	if (r == 0 && w->shutdown)
		r = vfm_endpoint_shutdown_write(w->ep);
	w->result = r;
	return NULL;
}

/* ------------------------------------------------------------------------- */
/* TCP echo of 64 MiB                                                        */

static void echo_64m(const char *name, struct vfm_listener *l, const char *connect_uri)
{
	const size_t len = 64 * MiB;
	_cleanup_free_ uint8_t *src = pattern_new(len);
	_cleanup_free_ uint8_t *dst = malloc(len);
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	struct echo e = {.l = l};
	struct writer w = {.src = src,
			   .len = len,
			   .sizes = odd_write_sizes,
			   .nsizes = ELEMENTSOF(odd_write_sizes),
			   .shutdown = true};
	pthread_t te, tw;
	size_t got = 0, i = 0;
	ssize_t n = 0;
	uint64_t start = now_usec();
	int r;

	pthread_create(&te, NULL, echo_main, &e);
	r = vfm_endpoint_open(connect_uri, VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep, &err);
	if (!tap_ok(r == 0, "%s: connect to %s: %s", name, connect_uri,
		    r ? err.msg : "ok")) {
		pthread_join(te, NULL); /* its accept times out */
		return;
	}
	tap_ok(vfm_endpoint_is_two_way(ep), "%s: tcp is two-way (%s)", name,
	       vfm_endpoint_description(ep));
	w.ep = ep;
	pthread_create(&tw, NULL, writer_main, &w);
	while (got < len) {
		size_t want = odd_read_sizes[i++ % ELEMENTSOF(odd_read_sizes)];

		want = MIN(want, len - got);

		n = vfm_endpoint_read_full(ep, dst + got, want);
		if (n != (ssize_t)want)
			break;
		got += want;
	}
	pthread_join(tw, NULL);
	tap_eq(w.result, 0, "%s: writer wrote 64 MiB in odd sizes, then half-closed",
	       name);
	tap_eq(got, len, "%s: read back 64 MiB in odd sizes (last %zd)", name, n);
	tap_ok(got == len && memcmp(src, dst, len) == 0, "%s: echoed bytes match", name);
	tap_eq(vfm_endpoint_read_full(ep, dst, 1), 0, "%s: then a clean end of stream",
	       name);
	tap_ok(vfm_endpoint_bytes_read(ep) == len &&
		       vfm_endpoint_bytes_written(ep) == len,
	       "%s: byte counters: read %llu, written %llu", name,
	       (unsigned long long)vfm_endpoint_bytes_read(ep),
	       (unsigned long long)vfm_endpoint_bytes_written(ep));
	pthread_join(te, NULL);
	tap_ok(e.result == 0 && e.bytes == len, "%s: echo side saw EOF after 64 MiB (%d)",
	       name, e.result);
	tap_diag("%s: 64 MiB echoed in %llu ms", name,
		 (unsigned long long)elapsed_ms(start));
	tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "%s: close", name);
}

static void test_tcp_v4(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	struct vfm_transport_err err = {""};
	int r = vfm_listener_new("tcp://127.0.0.1:0", &l, &err);
	unsigned port;

	if (!tap_ok(r == 0, "listen on tcp://127.0.0.1:0: %s", r ? err.msg : "ok"))
		return;
	port = uri_port(vfm_listener_uri(l));
	tap_ok(port != 0 && strncmp(vfm_listener_uri(l), "tcp://127.0.0.1:", 16) == 0,
	       "port 0 listener reports its real port: %s", vfm_listener_uri(l));
	echo_64m("tcp v4", l, vfm_listener_uri(l));
}

static void test_tcp_v6(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	struct vfm_transport_err err = {""};
	char reason[400];
	int r = vfm_listener_new("tcp://[::1]:0", &l, &err);

	if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) {
		snprintf(reason, sizeof(reason), "no IPv6 loopback here (%s)", err.msg);
		tap_skip(reason);
		return;
	}
	if (!tap_ok(r == 0, "listen on tcp://[::1]:0: %s", r ? err.msg : "ok"))
		return;
	tap_ok(strncmp(vfm_listener_uri(l), "tcp://[::1]:", 12) == 0 &&
		       uri_port(vfm_listener_uri(l)) != 0,
	       "v6 listener URI %s", vfm_listener_uri(l));
	echo_64m("tcp v6", l, vfm_listener_uri(l));
}

/* Accept one connection on @l from @uri; check the accepted side's description. */
static void accept_one(const char *name, struct vfm_listener *l, const char *uri,
		       const char *peer_prefix)
{
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *c = NULL, *s = NULL;
	struct vfm_transport_err err = {""};
	int r;

	r = vfm_endpoint_open(uri, VFM_EP_READ, IO_TIMEOUT_MS, -1, &c, &err);
	if (!tap_ok(r == 0, "%s: connect %s: %s", name, uri, r ? err.msg : "ok"))
		return;
	r = vfm_listener_accept(l, IO_TIMEOUT_MS, -1, &s, &err);
	tap_ok(r == 0 && strncmp(vfm_endpoint_description(s), peer_prefix,
				 strlen(peer_prefix)) == 0,
	       "%s: accepted, peer \"%s\"", name,
	       r ? err.msg : vfm_endpoint_description(s));
}

static void test_tcp_any(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l6 = NULL, *l4 = NULL,
							  *la = NULL;
	struct vfm_transport_err err = {""};
	char uri[64];
	int r;

	r = vfm_listener_new("tcp://0.0.0.0:0", &l4, &err);
	if (tap_ok(r == 0 && strncmp(vfm_listener_uri(l4), "tcp://0.0.0.0:", 14) == 0,
		   "listen on tcp://0.0.0.0:0 -> %s",
		   r ? err.msg : vfm_listener_uri(l4))) {
		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u",
			 uri_port(vfm_listener_uri(l4)));
		accept_one("0.0.0.0", l4, uri, "tcp 127.0.0.1:");
	}

	r = vfm_listener_new("tcp://:0", &la, &err);
	if (tap_ok(r == 0 && uri_port(vfm_listener_uri(la)) != 0,
		   "listen on tcp://:0 -> %s", r ? err.msg : vfm_listener_uri(la))) {
		snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u",
			 uri_port(vfm_listener_uri(la)));
		accept_one("tcp://: from IPv4", la, uri, "tcp 127.0.0.1:");
	}

	r = vfm_listener_new("tcp://[::]:0", &l6, &err);
	if (r == -EAFNOSUPPORT) {
		tap_skip("no IPv6: [::] dual stack not tested");
		return;
	}
	if (!tap_ok(r == 0, "listen on tcp://[::]:0 -> %s",
		    r ? err.msg : vfm_listener_uri(l6)))
		return;
	if (strncmp(vfm_listener_uri(l6), "tcp://[::]:", 11) != 0) {
		tap_skip("[::] fell back to IPv4");
		return;
	}
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", uri_port(vfm_listener_uri(l6)));
	/* IPv4-mapped peers are shown as IPv4. */
	accept_one("[::] from IPv4 (dual stack)", l6, uri, "tcp 127.0.0.1:");
	snprintf(uri, sizeof(uri), "tcp://[::1]:%u", uri_port(vfm_listener_uri(l6)));
	accept_one("[::] from IPv6", l6, uri, "tcp [::1]:");
}

/* ------------------------------------------------------------------------- */
/* half-close: the protocol's verdict flow                                   */

#define VERDICT_STREAM 100003
static const char verdict[] = "verdict: loaded 100003 bytes";

struct verdict_server {
	struct vfm_listener *l;
	int result;
	uint64_t got;
};

static void *verdict_server_main(void *p)
{
	struct verdict_server *v = p;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	uint8_t buf[4096];
	ssize_t n;
	int r;

	r = vfm_listener_accept(v->l, IO_TIMEOUT_MS, -1, &ep, NULL);
	if (r < 0)
		goto out;
	/* Read the whole stream, to its end: the source half-closed. */
	while ((n = vfm_endpoint_read(ep, buf, sizeof(buf))) > 0)
		v->got += (uint64_t)n;
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	/* ... then answer on the same connection. */
	r = vfm_endpoint_write_full(ep, verdict, sizeof(verdict) - 1);
	if (r == 0)
		r = vfm_endpoint_close(TAKE_PTR(ep));
out:
	v->result = r;
	return NULL;
}

static void verdict_flow(const char *name, const char *listen_uri)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	_cleanup_free_ uint8_t *src = pattern_new(VERDICT_STREAM);
	struct vfm_transport_err err = {""};
	struct verdict_server v = {0};
	char answer[sizeof(verdict)] = "";
	pthread_t t;
	int r;

	r = vfm_listener_new(listen_uri, &l, &err);
	if (!tap_ok(r == 0, "%s: listen on %s: %s", name, listen_uri, r ? err.msg : "ok"))
		return;
	v.l = l;
	pthread_create(&t, NULL, verdict_server_main, &v);
	r = vfm_endpoint_open(vfm_listener_uri(l), VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep,
			      &err);
	if (!tap_ok(r == 0, "%s: connect to %s: %s", name, vfm_listener_uri(l),
		    r ? err.msg : vfm_endpoint_description(ep))) {
		pthread_cancel(t);
		pthread_join(t, NULL);
		return;
	}
	tap_eq(vfm_endpoint_write_full(ep, src, VERDICT_STREAM), 0, "%s: stream sent",
	       name);
	tap_eq(vfm_endpoint_shutdown_write(ep), 0, "%s: half-closed", name);
	tap_eq(vfm_endpoint_shutdown_write(ep), 0, "%s: half-closing again is a no-op",
	       name);
	tap_eq(vfm_endpoint_write_full(ep, "x", 1), -EPIPE,
	       "%s: writing after the half-close: -EPIPE", name);
	r = (int)vfm_endpoint_read_full(ep, answer, sizeof(verdict) - 1);
	tap_ok(r == (int)sizeof(verdict) - 1 && streq(answer, verdict),
	       "%s: the peer saw EOF and its answer came back: \"%s\"", name, answer);
	tap_eq(vfm_endpoint_read(ep, answer, sizeof(answer)), 0, "%s: then end of stream",
	       name);
	pthread_join(t, NULL);
	tap_ok(v.result == 0 && v.got == VERDICT_STREAM, "%s: the server read %llu bytes",
	       name, (unsigned long long)v.got);
}

static void test_half_close(void)
{
	char uri[128];

	verdict_flow("tcp half-close", "tcp://127.0.0.1:0");
	snprintf(uri, sizeof(uri), "unix:%s/verdict.sock", tmpdir);
	verdict_flow("unix half-close", uri);
	snprintf(uri, sizeof(uri), "unix:@vfiomig-test-%d", (int)getpid());
	verdict_flow("abstract unix half-close", uri);
}

/* ------------------------------------------------------------------------- */
/* unix                                                                      */

static void test_unix(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL, *l2 = NULL,
							  *la = NULL;
	struct vfm_transport_err err = {""};
	char path[128], uri[160];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	snprintf(path, sizeof(path), "%s/live.sock", tmpdir);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	r = vfm_listener_new(uri, &l, &err);
	tap_ok(r == 0 && streq(vfm_listener_uri(l), uri), "listen on %s", uri);
	if (r == 0)
		accept_one("unix", l, uri, "unix /");
	r = vfm_listener_new(uri, &l2, &err);
	tap_ok(r == -EADDRINUSE, "a live unix socket is not taken over: %s", err.msg);
	l = vfm_listener_free(l);
	tap_ok(lstat(path, &st) < 0 && errno == ENOENT, "freeing the listener unlinks %s",
	       path);

	/* A stale socket (its listener died) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", tmpdir);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	tap_ok(r == 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
	       "stale socket made");
	r = vfm_listener_new(uri, &l, &err);
	tap_ok(r == 0, "stale socket replaced: %s", r ? err.msg : "ok");
	if (r == 0)
		accept_one("unix (was stale)", l, uri, "unix /");

	/* Anything that is not a socket stays. */
	snprintf(path, sizeof(path), "%s/regular", tmpdir);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);
	r = vfm_listener_new(uri, &l2, &err);
	tap_ok(r == -EADDRINUSE && lstat(path, &st) == 0 && S_ISREG(st.st_mode),
	       "a regular file is not unlinked: %s", err.msg);

	snprintf(uri, sizeof(uri), "unix:@vfiomig-test-abs-%d", (int)getpid());
	r = vfm_listener_new(uri, &la, &err);
	tap_ok(r == 0 && streq(vfm_listener_uri(la), uri), "listen on %s", uri);
	if (r == 0)
		accept_one("abstract unix", la, uri, "unix @vfiomig-test-abs-");

	snprintf(uri, sizeof(uri), "unix:%s/nobody.sock", tmpdir);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 1000, -1, &(struct vfm_endpoint *){0},
			      &err);
	tap_ok(r == -ENOENT && strstr(err.msg, "nobody.sock"),
	       "connect to a missing unix socket: -ENOENT: %s", err.msg);
}

/* ------------------------------------------------------------------------- */
/* files                                                                     */

static void test_file(void)
{
	const size_t len = 3 * MiB + 11;
	_cleanup_free_ uint8_t *src = pattern_new(len), *dst = malloc(len + 1);
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	char uri[160], desc[160];
	struct stat st;
	size_t off = 0;
	int r = 0;

	snprintf(uri, sizeof(uri), "file:%s/img.vfm", tmpdir);
	snprintf(desc, sizeof(desc), "file %s/img.vfm", tmpdir);
	tap_eq(vfm_endpoint_open(uri, VFM_EP_READ | VFM_EP_WRITE, 0, -1, &ep, &err),
	       -EINVAL, "file: both ways refused: %s", err.msg);
	r = vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &ep, &err);
	tap_ok(r == -ENOENT && strstr(err.msg, "img.vfm"), "missing file: -ENOENT: %s",
	       err.msg);

	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &ep, &err);
	if (!tap_ok(r == 0, "open %s for writing: %s", uri, r ? err.msg : "ok"))
		return;
	tap_ok(!vfm_endpoint_is_two_way(ep) && streq(vfm_endpoint_description(ep), desc),
	       "one-way, described as \"%s\"", vfm_endpoint_description(ep));
	tap_eq(vfm_endpoint_read(ep, dst, 1), -EBADF, "reading a written file: -EBADF");
	while (off < len && r == 0) {
		size_t n = MIN((size_t)262147, len - off);

		r = vfm_endpoint_write_full(ep, src + off, n);
		off += n;
	}
	tap_eq(r, 0, "wrote 3 MiB");
	tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "close (fsync) reports success");
	tap_ok(stat(uri + 5, &st) == 0 && (st.st_mode & 0777) == 0600 &&
		       (size_t)st.st_size == len,
	       "created with mode 0600, %zu bytes", len);

	r = vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &ep, &err);
	if (!tap_ok(r == 0, "open %s for reading: %s", uri, r ? err.msg : "ok"))
		return;
	tap_eq(vfm_endpoint_write_full(ep, "x", 1), -EBADF,
	       "writing a read file: -EBADF");
	tap_eq(vfm_endpoint_shutdown_write(ep), -EBADF,
	       "shutdown_write of a reader: -EBADF");
	tap_eq(vfm_endpoint_read_full(ep, dst, len), (ssize_t)len, "read it back");
	tap_ok(memcmp(src, dst, len) == 0, "same bytes");
	tap_eq(vfm_endpoint_read_full(ep, dst, 1), 0, "then end of file");
	tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "close");

	/* Truncated: EOF in the middle of a read_full is -ENODATA. */
	r = vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &ep, &err);
	if (r == 0) {
		tap_eq(vfm_endpoint_read_full(ep, dst, len + 1), -ENODATA,
		       "end of file inside read_full: -ENODATA");
		tap_eq(vfm_endpoint_bytes_read(ep), len,
		       "byte counter has the partial read");
		ep = vfm_endpoint_free(ep);
	}

	/* Rewriting truncates; shutdown_write finishes a file like close. */
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &ep, &err);
	if (r == 0) {
		tap_eq(vfm_endpoint_write_full(ep, "abc", 3), 0, "rewrite");
		tap_eq(vfm_endpoint_shutdown_write(ep), 0, "shutdown_write of a file");
		tap_eq(vfm_endpoint_fd(ep), -1, "... closes it");
		tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "close after that");
		tap_ok(stat(uri + 5, &st) == 0 && st.st_size == 3,
		       "truncated to 3 bytes");
	}

	snprintf(uri, sizeof(uri), "file:%s", tmpdir);
	tap_eq(vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &ep, &err), -EISDIR,
	       "a directory: %s", err.msg);
	snprintf(uri, sizeof(uri), "file:%s/no/such/dir/img", tmpdir);
	tap_eq(vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &ep, &err), -ENOENT,
	       "a missing directory: %s", err.msg);
}

/* file: outputs go to a temporary and replace their target only when finished. */

/* How many ".NAME.*" temporaries @dir holds; the mode of the last in *@ret_mode. */
static int count_temps(const char *dir, const char *name, mode_t *ret_mode)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t len = strlen(name);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] != '.' || strncmp(e->d_name + 1, name, len) != 0 ||
		    e->d_name[1 + len] != '.')
			continue;
		n++;
		if (ret_mode && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
			*ret_mode = st.st_mode & 07777;
	}
	closedir(d);
	return n;
}

static bool file_is(const char *path, const char *want)
{
	char buf[64] = "";
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return streq(buf, want);
}

/* Write @what to file:@path; finish with close (@finish) or abandon with free. */
static int write_uri(const char *path, const char *what, bool finish, char *msg,
		     size_t size)
{
	struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	char uri[256];
	int r;

	snprintf(uri, sizeof(uri), "file:%s", path);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &ep, &err);
	if (msg)
		snprintf(msg, size, "%s", err.msg);
	if (r < 0)
		return r;
	r = vfm_endpoint_write_full(ep, what, strlen(what));
	if (r < 0 || !finish) {
		vfm_endpoint_free(ep);
		return r;
	}
	return vfm_endpoint_close(ep);
}

static void test_file_replace(void)
{
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	char dir[128], path[192], uri[200], other[192], msg[256];
	mode_t mode = 0;
	struct stat st;
	int r;

	snprintf(dir, sizeof(dir), "%s/replace", tmpdir);
	snprintf(path, sizeof(path), "%s/img", dir);
	snprintf(uri, sizeof(uri), "file:%s", path);
	if (!tap_ok(mkdir(dir, 0700) == 0, "mkdir %s", dir))
		return;
	tap_eq(write_uri(path, "OLD", true, NULL, 0), 0, "an image written and closed");

	/* While a save writes, the target is the old image and the new one is a 0600
	 * temporary beside it. */
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &ep, &err);
	if (tap_ok(r == 0, "open it again for writing: %s", r ? err.msg : "ok")) {
		tap_eq(vfm_endpoint_write_full(ep, "NEW", 3), 0, "write the new image");
		tap_ok(file_is(path, "OLD"), "the target still holds the old image");
		r = count_temps(dir, "img", &mode);
		tap_ok(r == 1 && mode == 0600, "one temporary .img.XXXXXX (%d), mode 0600 (%o)",
		       r, (unsigned)mode);
		tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "close reports success");
		tap_ok(file_is(path, "NEW") && count_temps(dir, "img", NULL) == 0,
		       "then the new image replaced it, no temporary left");
		tap_ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
		       "the image has mode 0600");
	}
	/* An abandoned save (vfm_endpoint_free): the old image stays, no temporary. */
	tap_eq(write_uri(path, "PARTIAL", false, NULL, 0), 0, "a save abandoned midway");
	tap_ok(file_is(path, "NEW") && count_temps(dir, "img", NULL) == 0,
	       "the old image survives, its temporary removed");
	/* shutdown_write finishes like close (a one-way save's success). */
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 0, -1, &ep, &err);
	if (r == 0) {
		tap_ok(vfm_endpoint_write_full(ep, "DONE", 4) == 0 &&
			       vfm_endpoint_shutdown_write(ep) == 0 && file_is(path, "DONE"),
		       "shutdown_write renames the finished image over the target");
		ep = vfm_endpoint_free(ep);
		tap_ok(file_is(path, "DONE"), "free after that keeps it");
	}

	/* A symbolic link as the target is refused, and nothing is created. */
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/link", dir);
	if (symlink(other, path) == 0) {
		r = write_uri(path, "X", true, msg, sizeof(msg));
		tap_ok(r == -ELOOP && strstr(msg, "symbolic link") &&
			       access(other, F_OK) < 0 && count_temps(dir, "link", NULL) == 0,
		       "a symlink target is refused: %s", msg);
		unlink(path);
	} else {
		tap_ok(false, "symlink %s", path);
	}

	/* Another user's file in a sticky world-writable directory (as /tmp). */
	if (geteuid() != 0) {
		tap_skip("sticky directory: needs root to chown a file to uid 65534");
	} else {
		char sticky[160], theirs[200], mine[200];

		snprintf(sticky, sizeof(sticky), "%s/sticky", dir);
		snprintf(theirs, sizeof(theirs), "%s/theirs", sticky);
		snprintf(mine, sizeof(mine), "%s/mine", sticky);
		if (mkdir(sticky, 0700) == 0 && chmod(sticky, 01777) == 0 &&
		    write_uri(theirs, "THEIRS", true, NULL, 0) == 0 &&
		    chown(theirs, 65534, 65534) == 0 &&
		    write_uri(mine, "MINE", true, NULL, 0) == 0) {
			r = write_uri(theirs, "X", true, msg, sizeof(msg));
			tap_ok(r == -EACCES && strstr(msg, "uid 65534") &&
				       file_is(theirs, "THEIRS") &&
				       count_temps(sticky, "theirs", NULL) == 0,
			       "another user's file in a sticky directory is refused: %s",
			       msg);
			tap_ok(write_uri(mine, "NEW", true, msg, sizeof(msg)) == 0 &&
				       file_is(mine, "NEW"),
			       "our own file there is replaced");
			/* the directory's owner's files are fair game (protected_regular) */
			if (chown(sticky, 65534, 65534) == 0)
				tap_ok(write_uri(theirs, "OURS", true, msg, sizeof(msg)) == 0 &&
					       file_is(theirs, "OURS"),
				       "a file of the directory's owner is replaced");
			/* not sticky: the directory's permissions decide, as before */
			if (chown(sticky, 0, 0) == 0 && chown(theirs, 65534, 65534) == 0 &&
			    chmod(sticky, 0777) == 0)
				tap_ok(write_uri(theirs, "AGAIN", true, msg, sizeof(msg)) == 0,
				       "without the sticky bit it is replaced");
		} else {
			tap_ok(false, "setting up %s: %s", sticky, strerror(errno));
		}
		unlink(theirs);
		unlink(mine);
		rmdir(sticky);
	}

	/* ENOSPC: a full file system keeps the old image. */
	{
		char small[160], img[200];
		static char big[128 * 1024];

		snprintf(small, sizeof(small), "%s/small", dir);
		snprintf(img, sizeof(img), "%s/img", small);
		memset(big, 'x', sizeof(big) - 1);
		if (mkdir(small, 0700) < 0 ||
		    mount("vfm-test", small, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") < 0) {
			char why[160];

			snprintf(why, sizeof(why), "ENOSPC: cannot mount a 64 KiB tmpfs: %s",
				 strerror(errno));
			tap_skip(why);
		} else {
			tap_eq(write_uri(img, "OLD", true, NULL, 0), 0, "an image on a 64 KiB tmpfs");
			r = write_uri(img, big, true, msg, sizeof(msg));
			tap_ok(r == -ENOSPC && file_is(img, "OLD") &&
				       count_temps(small, "img", NULL) == 0,
			       "a 128 KiB save there fails with ENOSPC (%d), the old image "
			       "survives, no temporary left",
			       r);
			unlink(img);
			if (umount2(small, MNT_DETACH) < 0)
				tap_diag("umount %s: %s", small, strerror(errno));
		}
		rmdir(small);
	}
	snprintf(path, sizeof(path), "%s/img", dir);
	unlink(path);
	tap_ok(rmdir(dir) == 0, "nothing else left in %s", dir);
}

/* ------------------------------------------------------------------------- */
/* stdin / stdout / fd:N                                                     */

/* Run @fn in a child, return its exit status (or 128 + signal). */
static int run_child(int (*fn)(int), int arg)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define STDIO_LEN (1 * MiB + 3)

static int child_stdout_writer(int fd)
{
	_cleanup_free_ uint8_t *src = pattern_new(STDIO_LEN);
	struct vfm_endpoint *ep = NULL;

	if (dup2(fd, STDOUT_FILENO) < 0)
		return 10;
	close(fd);
	if (vfm_endpoint_open("-", VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep, NULL) < 0)
		return 11;
	if (!streq(vfm_endpoint_description(ep), "stdout") || vfm_endpoint_is_two_way(ep))
		return 12;
	if (vfm_endpoint_write_full(ep, src, STDIO_LEN) < 0)
		return 13;
	if (vfm_endpoint_close(ep) < 0)
		return 14;
	return 0;
}

static int child_stdin_reader(int fd)
{
	_cleanup_free_ uint8_t *src = pattern_new(STDIO_LEN), *dst = malloc(STDIO_LEN);
	struct vfm_endpoint *ep = NULL;

	if (dup2(fd, STDIN_FILENO) < 0)
		return 10;
	close(fd);
	if (vfm_endpoint_open("-", VFM_EP_READ, IO_TIMEOUT_MS, -1, &ep, NULL) < 0)
		return 11;
	if (!streq(vfm_endpoint_description(ep), "stdin"))
		return 12;
	if (vfm_endpoint_read_full(ep, dst, STDIO_LEN) != STDIO_LEN)
		return 13;
	if (memcmp(src, dst, STDIO_LEN) != 0)
		return 14;
	if (vfm_endpoint_read_full(ep, dst, 1) != 0)
		return 15;
	return vfm_endpoint_close(ep) < 0 ? 16 : 0;
}

/* stdout is a pipe nobody reads: the write must fail with EPIPE, not kill us. */
static int child_sigpipe(int fd)
{
	_cleanup_free_ uint8_t *src = pattern_new(MiB);
	struct vfm_endpoint *ep = NULL;
	int r;

	signal(SIGPIPE, SIG_DFL);
	if (dup2(fd, STDOUT_FILENO) < 0)
		return 10;
	close(fd);
	if (vfm_endpoint_open("-", VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep, NULL) < 0)
		return 11;
	r = vfm_endpoint_write_full(ep, src, MiB);
	vfm_endpoint_free(ep);
	return r == -EPIPE ? 0 : 12;
}

static void test_stdio(void)
{
	_cleanup_free_ uint8_t *src = pattern_new(STDIO_LEN), *dst = malloc(STDIO_LEN);
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	char uri[32];
	int p[2], r;

	/* stdout -> pipe; the parent reads it through fd:N concurrently. */
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	r = vfm_endpoint_open(uri, VFM_EP_READ, IO_TIMEOUT_MS, -1, &ep, &err);
	tap_ok(r == 0 && !vfm_endpoint_is_two_way(ep), "%s (pipe) is one-way", uri);
	close(p[0]);
	{
		/* the child writes 1 MiB: more than a pipe holds, so read while it runs
		 */
		pid_t pid;
		int status;
		ssize_t n;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			vfm_endpoint_free(ep);
			free(src);
			free(dst);
			_exit(child_stdout_writer(p[1]));
		}
		close(p[1]);
		n = vfm_endpoint_read_full(ep, dst, STDIO_LEN);
		tap_ok(n == (ssize_t)STDIO_LEN && memcmp(src, dst, STDIO_LEN) == 0,
		       "a child's stdout via \"-\" arrived intact (%zd)", n);
		tap_eq(vfm_endpoint_read_full(ep, dst, 1), 0, "then EOF when it closed");
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "child writing \"-\" exited 0 (status %d)", status);
	}
	ep = vfm_endpoint_free(ep);

	/* stdin <- pipe; the parent writes through fd:N. */
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	tap_eq(vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &ep, &err), -EINVAL,
	       "%s (write end) for reading: %s", uri, err.msg);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep, &err);
	tap_ok(r == 0, "%s (pipe) for writing", uri);
	close(p[1]);
	{
		pid_t pid;
		int status;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			vfm_endpoint_free(ep);
			free(src);
			free(dst);
			_exit(child_stdin_reader(p[0]));
		}
		close(p[0]);
		tap_eq(vfm_endpoint_write_full(ep, src, STDIO_LEN), 0,
		       "wrote 1 MiB into a child's stdin");
		tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "closed: the child sees EOF");
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "child reading \"-\" got it all, then EOF (status %d)", status);
	}
}

static void test_sigpipe(void)
{
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	close(p[0]);
	r = run_child(child_sigpipe, p[1]);
	close(p[1]);
	tap_eq(r, 0, "writing \"-\" into a closed pipe: -EPIPE, no SIGPIPE death");
}

static void test_fd(void)
{
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	char uri[32], buf[16] = "";
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	r = vfm_endpoint_open(uri, VFM_EP_READ, IO_TIMEOUT_MS, -1, &ep, &err);
	if (tap_ok(r == 0 && vfm_endpoint_is_two_way(ep),
		   "%s (socketpair) is two-way: %s", uri,
		   r ? err.msg : vfm_endpoint_description(ep))) {
		tap_ok(vfm_endpoint_fd(ep) != sv[0] &&
			       (fcntl(vfm_endpoint_fd(ep), F_GETFD) & FD_CLOEXEC),
		       "a CLOEXEC duplicate");
		tap_eq(vfm_endpoint_write_full(ep, "ping", 4), 0, "write");
		tap_ok(read(sv[1], buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0,
		       "the other end got it");
		tap_eq(write(sv[1], "pong", 4), 4, "answer");
		tap_ok(vfm_endpoint_read_full(ep, buf, 4) == 4 &&
			       memcmp(buf, "pong", 4) == 0,
		       "read the answer");
		tap_eq(vfm_endpoint_shutdown_write(ep), 0, "half-close");
		tap_eq(read(sv[1], buf, sizeof(buf)), 0, "the other end sees EOF");
		tap_eq(vfm_endpoint_close(TAKE_PTR(ep)), 0, "close");
		tap_ok(fcntl(sv[0], F_GETFD) >= 0, "fd %d is still open", sv[0]);
	}
	close(sv[0]);
	close(sv[1]);

	tap_eq(vfm_endpoint_open("fd:1000000", VFM_EP_READ, 0, -1, &ep, &err), -EBADF,
	       "fd:1000000 not open: %s", err.msg);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	snprintf(uri, sizeof(uri), "fd:%d", sv[0]);
	tap_eq(vfm_endpoint_open(uri, VFM_EP_READ, 0, -1, &ep, &err), -EINVAL,
	       "a datagram socket: %s", err.msg);
	close(sv[0]);
	close(sv[1]);
}

/* ------------------------------------------------------------------------- */
/* FIFOs, inherited pipes, devices: the non-socket wait paths                */

struct fifo_writer {
	char uri[160];
	int result;
};

static void *fifo_writer_main(void *p)
{
	struct fifo_writer *w = p;
	_cleanup_free_ uint8_t *src = pattern_new(MiB);
	struct vfm_endpoint *ep = NULL;
	int r;

	usleep(50 * 1000); /* let the reader wait for a writer first */
	r = vfm_endpoint_open(w->uri, VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep, NULL);
	if (r == 0)
		r = vfm_endpoint_write_full(ep, src, MiB);
	if (r == 0)
		r = vfm_endpoint_close(TAKE_PTR(ep));
	vfm_endpoint_free(ep);
	w->result = r;
	return NULL;
}

static void test_fifo(void)
{
	_cleanup_free_ uint8_t *src = pattern_new(MiB), *dst = malloc(MiB);
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	struct vfm_transport_err err = {""};
	struct fifo_writer w = {.result = -1};
	char path[128];
	uint64_t start;
	pthread_t t;
	int r;

	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	snprintf(w.uri, sizeof(w.uri), "file:%s", path);
	if (mkfifo(path, 0600) < 0)
		return (void)tap_ok(false, "mkfifo %s", path);

	start = now_usec();
	r = vfm_endpoint_open(w.uri, VFM_EP_WRITE, 100, -1, &ep, &err);
	tap_ok(r == -ETIMEDOUT && elapsed_ms(start) < 2000,
	       "FIFO without a reader: -ETIMEDOUT: %s", err.msg);

	r = vfm_endpoint_open(w.uri, VFM_EP_READ, IO_TIMEOUT_MS, -1, &ep, &err);
	if (!tap_ok(r == 0, "FIFO opened for reading before any writer: %s",
		    r ? err.msg : "ok"))
		return;
	pthread_create(&t, NULL, fifo_writer_main, &w);
	tap_ok(vfm_endpoint_read_full(ep, dst, MiB) == MiB && memcmp(src, dst, MiB) == 0,
	       "no false end of stream: the writer's 1 MiB arrived");
	tap_eq(vfm_endpoint_read_full(ep, dst, 1), 0, "EOF once the writer closed");
	pthread_join(t, NULL);
	tap_eq(w.result, 0, "the writer waited for this reader, then wrote");
}

static void test_inherited_modes(void)
{
	_cleanup_free_ uint8_t *buf = calloc(1, MiB), *zero = calloc(1, MiB);
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	char uri[32];
	int p[2], fd, r;

	/* A blocking pipe stays blocking for its other users, yet timeouts hold. */
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	r = vfm_endpoint_open(uri, VFM_EP_READ, 100, -1, &ep, NULL);
	tap_eq(r, 0, "blocking pipe read end");
	if (r == 0) {
		tap_eq(vfm_endpoint_read(ep, buf, 1), -ETIMEDOUT,
		       "empty: read -ETIMEDOUT");
		ep = vfm_endpoint_free(ep);
	}
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 100, -1, &ep, NULL);
	tap_eq(r, 0, "blocking pipe write end");
	if (r == 0) {
		tap_eq(vfm_endpoint_write_full(ep, buf, MiB), -ETIMEDOUT,
		       "full: write_full -ETIMEDOUT after %llu KiB",
		       (unsigned long long)(vfm_endpoint_bytes_written(ep) / 1024));
		ep = vfm_endpoint_free(ep);
	}
	tap_ok(!(fcntl(p[0], F_GETFL) & O_NONBLOCK) &&
		       !(fcntl(p[1], F_GETFL) & O_NONBLOCK),
	       "the inherited pipe was not switched to O_NONBLOCK");
	close(p[0]);
	close(p[1]);

	/* Already O_NONBLOCK (set by its owner): EAGAIN becomes a wait. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
	snprintf(uri, sizeof(uri), "fd:%d", p[0]);
	r = vfm_endpoint_open(uri, VFM_EP_READ, 100, -1, &ep, NULL);
	if (tap_eq(r, 0, "O_NONBLOCK pipe read end")) {
		tap_eq(vfm_endpoint_read(ep, buf, 1), -ETIMEDOUT,
		       "O_NONBLOCK pipe, empty: -ETIMEDOUT, not -EAGAIN");
		tap_eq(write(p[1], "hello", 5), 5, "data");
		tap_eq(vfm_endpoint_read(ep, buf, 16), 5, "read 5 bytes");
		ep = vfm_endpoint_free(ep);
	}
	close(p[0]);
	close(p[1]);

	/* /dev/full refuses RWF_NOWAIT: the poll fallback reads its zeros. */
	fd = open("/dev/full", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		tap_skip("no /dev/full");
		return;
	}
	snprintf(uri, sizeof(uri), "fd:%d", fd);
	memset(buf, 0xff, MiB);
	r = vfm_endpoint_open(uri, VFM_EP_READ, 1000, -1, &ep, NULL);
	if (tap_eq(r, 0, "/dev/full for reading")) {
		tap_ok(vfm_endpoint_read_full(ep, buf, MiB) == MiB &&
			       memcmp(buf, zero, MiB) == 0,
		       "/dev/full read through the poll fallback");
		ep = vfm_endpoint_free(ep);
	}
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 1000, -1, &ep, NULL);
	if (tap_eq(r, 0, "/dev/full for writing")) {
		tap_eq(vfm_endpoint_write_full(ep, buf, 4096), -ENOSPC,
		       "/dev/full write: -ENOSPC comes back");
		ep = vfm_endpoint_free(ep);
	}
	close(fd);
}

/* ------------------------------------------------------------------------- */
/* failures: refused, timeouts, cancel, peer loss                            */

static void test_refused(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	struct vfm_transport_err err = {""};
	char uri[64], want[64];
	unsigned port;
	int r;

	if (vfm_listener_new("tcp://127.0.0.1:0", &l, &err) < 0)
		return (void)tap_ok(false, "listen: %s", err.msg);
	port = uri_port(vfm_listener_uri(l));
	l = vfm_listener_free(l); /* now the port is closed */
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", port);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 5000, -1, &(struct vfm_endpoint *){0},
			      &err);
	tap_ok(r == -ECONNREFUSED && strstr(err.msg, want),
	       "closed port: -ECONNREFUSED, \"%s\"", err.msg);
	r = vfm_endpoint_open("tcp://localhost:1", VFM_EP_WRITE, 5000, -1,
			      &(struct vfm_endpoint *){0}, &err);
	tap_ok(r == -ECONNREFUSED && strstr(err.msg, ":1"),
	       "localhost:1 (every address tried): \"%s\"", err.msg);
}

/* Connected pair over loopback TCP. */
static int tcp_pair(struct vfm_listener **ret_l, struct vfm_endpoint **ret_c,
		    struct vfm_endpoint **ret_s)
{
	int r = vfm_listener_new("tcp://127.0.0.1:0", ret_l, NULL);

	if (r == 0)
		r = vfm_endpoint_open(vfm_listener_uri(*ret_l), VFM_EP_WRITE,
				      IO_TIMEOUT_MS, -1, ret_c, NULL);
	if (r == 0)
		r = vfm_listener_accept(*ret_l, IO_TIMEOUT_MS, -1, ret_s, NULL);
	return r;
}

static void test_timeouts(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *c = NULL, *s = NULL;
	_cleanup_free_ uint8_t *buf = calloc(1, MiB);
	struct vfm_transport_err err = {""};
	uint64_t start, ms;
	int r = 0;

	if (tcp_pair(&l, &c, &s) < 0)
		return (void)tap_ok(false, "tcp pair");

	start = now_usec();
	r = vfm_listener_accept(l, 100, -1, &(struct vfm_endpoint *){0}, &err);
	ms = elapsed_ms(start);
	tap_ok(r == -ETIMEDOUT && ms >= 95 && ms < 2000,
	       "accept: -ETIMEDOUT after %llu ms: %s", (unsigned long long)ms, err.msg);

	vfm_endpoint_set_timeout(s, 100);
	start = now_usec();
	r = (int)vfm_endpoint_read(s, buf, 1);
	ms = elapsed_ms(start);
	tap_ok(r == -ETIMEDOUT && ms >= 95 && ms < 2000, "read: -ETIMEDOUT after %llu ms",
	       (unsigned long long)ms);
	r = (int)vfm_endpoint_read_full(s, buf, 1);
	tap_eq(r, -ETIMEDOUT, "read_full: -ETIMEDOUT");

	/* Nobody reads: the socket buffers fill, then the write times out. */
	vfm_endpoint_set_timeout(c, 200);
	r = 0;
	for (int i = 0; i < 4096 && r == 0; i++)
		r = vfm_endpoint_write_full(c, buf, MiB);
	tap_eq(r, -ETIMEDOUT,
	       "write_full to a peer that does not read: -ETIMEDOUT after %llu KiB",
	       (unsigned long long)(vfm_endpoint_bytes_written(c) / 1024));
}

struct canceller {
	int fd;
	unsigned delay_ms;
};

static void *canceller_main(void *p)
{
	struct canceller *k = p;
	uint64_t one = 1;

	usleep(k->delay_ms * 1000);
	if (write(k->fd, &one, sizeof(one)) < 0)
		abort();
	return NULL;
}

static void test_cancel(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *c = NULL, *s = NULL;
	_cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC);
	struct vfm_transport_err err = {""};
	struct canceller k = {.fd = efd, .delay_ms = 50};
	uint8_t buf[16];
	uint64_t start, ms, v;
	pthread_t t;
	int r;

	if (efd < 0 || tcp_pair(&l, &c, &s) < 0)
		return (void)tap_ok(false, "eventfd and tcp pair");

	/* While blocked (no timeout): cancel arrives 50 ms later. */
	start = now_usec();
	pthread_create(&t, NULL, canceller_main, &k);
	r = vfm_listener_accept(l, 0, efd, &(struct vfm_endpoint *){0}, &err);
	pthread_join(t, NULL);
	ms = elapsed_ms(start);
	tap_ok(r == -ECANCELED && ms < 1000,
	       "blocked accept: -ECANCELED after %llu ms: %s", (unsigned long long)ms,
	       err.msg);

	vfm_endpoint_set_timeout(s, 0);
	vfm_endpoint_set_cancel_fd(s, efd);
	if (read(efd, &v, sizeof(v)) != sizeof(v))
		abort();
	start = now_usec();
	pthread_create(&t, NULL, canceller_main, &k);
	r = (int)vfm_endpoint_read_full(s, buf, sizeof(buf));
	pthread_join(t, NULL);
	ms = elapsed_ms(start);
	tap_ok(r == -ECANCELED && ms < 1000, "blocked read: -ECANCELED after %llu ms",
	       (unsigned long long)ms);

	/* Already signalled: everything stops at once, even with data ready. */
	tap_eq(vfm_endpoint_write_full(c, "data", 4), 0, "data on the way");
	tap_eq(vfm_endpoint_read(s, buf, sizeof(buf)), -ECANCELED,
	       "read with cancel signalled: -ECANCELED");
	tap_eq(vfm_endpoint_write_full(s, "x", 1), -ECANCELED,
	       "write with cancel signalled: -ECANCELED");
	r = vfm_endpoint_open(vfm_listener_uri(l), VFM_EP_WRITE, 0, efd,
			      &(struct vfm_endpoint *){0}, &err);
	tap_eq(r, -ECANCELED, "connect with cancel signalled: %s", err.msg);
	vfm_endpoint_set_cancel_fd(s, -1);
	tap_eq(vfm_endpoint_read_full(s, buf, 4), 4, "without it the data is there");
}

struct closer {
	struct vfm_listener *l;
	size_t write_first; /* send this many bytes, then close */
	size_t read_first;  /* read this many bytes, then close */
	int result;
};

static void *closer_main(void *p)
{
	struct closer *k = p;
	_cleanup_free_ uint8_t *buf = pattern_new(MiB);
	struct vfm_endpoint *ep = NULL;
	int r;

	r = vfm_listener_accept(k->l, IO_TIMEOUT_MS, -1, &ep, NULL);
	if (r == 0 && k->write_first)
		r = vfm_endpoint_write_full(ep, buf, k->write_first);
	if (r == 0 && k->read_first)
		r = vfm_endpoint_read_full(ep, buf, k->read_first) ==
				    (ssize_t)k->read_first
			    ? 0
			    : -EIO;
	vfm_endpoint_free(ep); /* unread data pending: the kernel sends a reset */
	k->result = r;
	return NULL;
}

static void test_peer_loss(void)
{
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	_cleanup_free_ uint8_t *buf = pattern_new(MiB);
	struct closer k = {.write_first = 1000};
	pthread_t t;
	uint64_t start;
	int r, i;

	if (vfm_listener_new("tcp://127.0.0.1:0", &l, NULL) < 0)
		return (void)tap_ok(false, "listen");
	k.l = l;

	pthread_create(&t, NULL, closer_main, &k);
	r = vfm_endpoint_open(vfm_listener_uri(l), VFM_EP_READ, IO_TIMEOUT_MS, -1, &ep,
			      NULL);
	if (r == 0)
		r = (int)vfm_endpoint_read_full(ep, buf, 4096);
	pthread_join(t, NULL);
	tap_eq(r, -ENODATA, "peer closed after 1000 of 4096 bytes: -ENODATA");
	ep = vfm_endpoint_free(ep);

	k = (struct closer){.l = l, .read_first = MiB};
	pthread_create(&t, NULL, closer_main, &k);
	start = now_usec();
	r = vfm_endpoint_open(vfm_listener_uri(l), VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep,
			      NULL);
	for (i = 0; i < 4096 && r == 0; i++)
		r = vfm_endpoint_write_full(ep, buf, MiB);
	pthread_join(t, NULL);
	tap_ok(r == -EPIPE || r == -ECONNRESET,
	       "peer closed mid-transfer: writer gets %s after %llu MiB, %llu ms (no "
	       "hang)",
	       strerror(-r), (unsigned long long)(vfm_endpoint_bytes_written(ep) / MiB),
	       (unsigned long long)elapsed_ms(start));
	tap_eq(k.result, 0, "the peer read 1 MiB before closing");
}

/* ------------------------------------------------------------------------- */
/* throughput (reported, not asserted)                                       */

struct sink {
	struct vfm_listener *l;
	size_t len;
	int result;
};

static void *sink_main(void *p)
{
	struct sink *k = p;
	_cleanup_free_ uint8_t *buf = malloc(MiB);
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	size_t got = 0;
	int r;

	r = vfm_listener_accept(k->l, IO_TIMEOUT_MS, -1, &ep, NULL);
	while (r == 0 && got < k->len) {
		ssize_t n =
			vfm_endpoint_read_full(ep, buf, MIN((size_t)MiB, k->len - got));

		if (n <= 0)
			r = n < 0 ? (int)n : -ENODATA;
		else
			got += (size_t)n;
	}
	k->result = r;
	return NULL;
}

static void test_throughput(void)
{
	const size_t total = (SANITIZED ? 256u : 2048u) * MiB;
	_cleanup_(vfm_listener_freep) struct vfm_listener *l = NULL;
	_cleanup_(vfm_endpoint_freep) struct vfm_endpoint *ep = NULL;
	_cleanup_free_ uint8_t *buf = pattern_new(MiB);
	struct sink k = {.len = total};
	uint64_t start, usec;
	pthread_t t;
	int r;

	if (vfm_listener_new("tcp://127.0.0.1:0", &l, NULL) < 0)
		return (void)tap_ok(false, "listen");
	k.l = l;
	pthread_create(&t, NULL, sink_main, &k);
	r = vfm_endpoint_open(vfm_listener_uri(l), VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep,
			      NULL);
	start = now_usec();
	for (size_t off = 0; r == 0 && off < total; off += MiB)
		r = vfm_endpoint_write_full(ep, buf, MiB);
	pthread_join(t, NULL);
	usec = now_usec() - start;
	tap_ok(r == 0 && k.result == 0, "throughput run: %zu MiB", total / MiB);
	tap_diag("loopback TCP write_full/read_full, 1 MiB buffers: %.0f MiB/s (%zu MiB "
		 "in "
		 "%.3f s%s)",
		 (double)total / MiB / ((double)usec / 1e6), total / MiB,
		 (double)usec / 1e6, SANITIZED ? ", sanitizers on" : "");
}

/* ------------------------------------------------------------------------- */
/* exec: commands                                                            */

#define EXEC_LEN (1 * MiB + 3)

static struct vfm_endpoint *exec_open(const char *uri, unsigned timeout_ms)
{
	struct vfm_transport_err err = {""};
	struct vfm_endpoint *ep = NULL;
	int r = vfm_endpoint_open(uri, VFM_EP_READ | VFM_EP_WRITE, timeout_ms, -1, &ep,
				  &err);

	if (!tap_ok(r == 0, "open %s: %s", uri,
		    r ? err.msg : vfm_endpoint_description(ep)))
		return NULL;
	return ep;
}

/* No child of ours is left, running or dead. */
static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static void test_exec_echo(void)
{
	_cleanup_free_ uint8_t *src = pattern_new(EXEC_LEN), *dst = malloc(EXEC_LEN);
	struct vfm_endpoint *ep = exec_open("exec:cat", IO_TIMEOUT_MS);
	struct writer w = {.src = src,
			   .len = EXEC_LEN,
			   .sizes = odd_write_sizes,
			   .nsizes = ELEMENTSOF(odd_write_sizes),
			   .shutdown = true};
	pthread_t t;
	ssize_t n;

	if (!ep)
		return;
	tap_ok(vfm_endpoint_is_two_way(ep) && !vfm_endpoint_writes_stdout(ep) &&
		       streq(vfm_endpoint_description(ep), "exec 'cat'") &&
		       !vfm_endpoint_exit_status(ep),
	       "exec:cat is two-way, described as %s, no status yet",
	       vfm_endpoint_description(ep));
	tap_ok(fcntl(vfm_endpoint_fd(ep), F_GETFL) & O_NONBLOCK &&
		       fcntl(vfm_endpoint_fd(ep), F_GETFD) & FD_CLOEXEC,
	       "our end of its stdout is O_NONBLOCK and CLOEXEC");
	/* More than two pipes hold: write in a thread while reading here. */
	w.ep = ep;
	pthread_create(&t, NULL, writer_main, &w);
	n = vfm_endpoint_read_full(ep, dst, EXEC_LEN);
	pthread_join(t, NULL);
	tap_eq(w.result, 0, "exec:cat: 1 MiB written in odd sizes, then its input ended");
	tap_ok(n == (ssize_t)EXEC_LEN && memcmp(src, dst, EXEC_LEN) == 0,
	       "exec:cat: the same bytes came back (%zd)", n);
	tap_eq(vfm_endpoint_read(ep, dst, 1), 0,
	       "then end of stream: cat saw EOF and exited");
	tap_eq(vfm_endpoint_write_full(ep, "x", 1), -EPIPE,
	       "writing after the shutdown: -EPIPE");
	tap_eq(vfm_endpoint_shutdown_write(ep), 0, "shutting down again is a no-op");
	tap_eq(vfm_endpoint_wait(ep), 0, "exec:cat reaped");
	tap_ok(vfm_endpoint_exit_status(ep) &&
		       streq(vfm_endpoint_exit_status(ep), "exited with 0"),
	       "its status: %s", vfm_endpoint_exit_status(ep));
	tap_ok(vfm_endpoint_bytes_read(ep) == EXEC_LEN &&
		       vfm_endpoint_bytes_written(ep) == EXEC_LEN,
	       "byte counters");
	tap_eq(vfm_endpoint_close(ep), 0, "close");
	tap_ok(no_children(), "no child left");
}

/* The command reads to EOF, then answers: the answer still reaches us. */
static void test_exec_half_close(void)
{
	_cleanup_free_ uint8_t *src = pattern_new(100003);
	struct vfm_endpoint *ep = exec_open("exec:wc -c; echo done", IO_TIMEOUT_MS);
	char answer[64] = "";
	ssize_t n;

	if (!ep)
		return;
	tap_eq(vfm_endpoint_write_full(ep, src, 100003), 0, "exec:wc: 100003 bytes sent");
	tap_eq(vfm_endpoint_shutdown_write(ep), 0, "exec:wc: our direction ended");
	n = vfm_endpoint_read_full(ep, answer, 12);
	tap_ok(n == 12 && streq(answer, "100003\ndone\n"),
	       "its answer arrives after our EOF (%zd bytes)", n);
	tap_eq(vfm_endpoint_read(ep, answer, sizeof(answer)), 0, "then its end");
	tap_eq(vfm_endpoint_close(ep), 0, "closed, exit 0");
	tap_ok(no_children(), "no child left");
}

static void test_exec_status(void)
{
	struct vfm_endpoint *ep;
	uint8_t buf[16];

	ep = exec_open("exec:cat >/dev/null; exit 3", IO_TIMEOUT_MS);
	if (ep) {
		tap_eq(vfm_endpoint_wait(ep), -EIO, "a command that exits 3: -EIO");
		tap_ok(vfm_endpoint_exit_status(ep) &&
			       streq(vfm_endpoint_exit_status(ep), "exited with 3"),
		       "its status: %s", vfm_endpoint_exit_status(ep));
		tap_eq(vfm_endpoint_wait(ep), -EIO, "waiting again says the same");
		tap_eq(vfm_endpoint_close(ep), -EIO, "close reports it too");
	}
	ep = exec_open("exec:cat >/dev/null; exit 255", IO_TIMEOUT_MS);
	if (ep)
		tap_eq(vfm_endpoint_close(ep), -EIO,
		       "close alone reaps and reports exit 255");
	ep = exec_open("exec:/nonexistent/vfm-no-such-command", IO_TIMEOUT_MS);
	if (ep) {
		tap_eq(vfm_endpoint_read(ep, buf, sizeof(buf)), 0,
		       "a command that cannot run: end of stream");
		vfm_endpoint_wait(ep);
		tap_ok(vfm_endpoint_exit_status(ep) &&
			       streq(vfm_endpoint_exit_status(ep), "exited with 127"),
		       "and sh's 127: %s", vfm_endpoint_exit_status(ep));
		vfm_endpoint_free(ep);
	}
	ep = exec_open("exec:kill -USR1 $$", IO_TIMEOUT_MS);
	if (ep) {
		tap_eq(vfm_endpoint_wait(ep), -EIO, "a command killed by a signal: -EIO");
		tap_ok(vfm_endpoint_exit_status(ep) &&
			       streq(vfm_endpoint_exit_status(ep), "killed by SIGUSR1"),
		       "its status: %s", vfm_endpoint_exit_status(ep));
		vfm_endpoint_free(ep);
	}
	/* It is gone: our write fails with EPIPE and SIGPIPE does not kill us. */
	ep = exec_open("exec:exit 0", IO_TIMEOUT_MS);
	if (ep) {
		_cleanup_free_ uint8_t *src = pattern_new(MiB);

		tap_eq(vfm_endpoint_write_full(ep, src, MiB), -EPIPE,
		       "writing to a command that exited: -EPIPE, no SIGPIPE death");
		tap_eq(vfm_endpoint_close(ep), 0, "and it exited 0");
	}
	ep = exec_open("exec:true \xc3\xa9 "
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaa",
		       IO_TIMEOUT_MS);
	if (ep) {
		const char *d = vfm_endpoint_description(ep);

		tap_ok(strncmp(d, "exec 'true \\xc3\\xa9 aaa", 23) == 0 &&
			       strlen(d) < 110 && strstr(d, "...'"),
		       "the description escapes and cuts the command: %s", d);
		vfm_endpoint_free(ep);
	}
	tap_ok(no_children(), "no child left");
}

struct reaper {
	const char *uri;
	int result;
	uint64_t ms;
	char status[128];
};

static void *reaper_main(void *p)
{
	struct reaper *k = p;
	struct vfm_endpoint *ep = NULL;
	uint64_t start;

	k->result =
		vfm_endpoint_open(k->uri, VFM_EP_READ | VFM_EP_WRITE, 0, -1, &ep, NULL);
	if (k->result < 0)
		return NULL;
	usleep(200000); /* let sh set its trap before the clock starts */
	start = now_usec();
	k->result = vfm_endpoint_wait(ep);
	k->ms = elapsed_ms(start);
	snprintf(k->status, sizeof(k->status), "%s", vfm_endpoint_exit_status(ep));
	vfm_endpoint_free(ep);
	return NULL;
}

/* Commands that never exit are stopped within the bound: SIGTERM, then SIGKILL. */
static void test_exec_reap(void)
{
	struct reaper term = {.uri = "exec:exec sleep 60"},
		      kill9 = {.uri = "exec:trap '' TERM; exec sleep 60"};
	pthread_t t1, t2;

	pthread_create(&t1, NULL, reaper_main, &term);
	pthread_create(&t2, NULL, reaper_main, &kill9);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	tap_ok(term.result == -ETIMEDOUT && term.ms >= VFM_EXEC_EXIT_MS &&
		       term.ms < VFM_EXEC_EXIT_MS + VFM_EXEC_TERM_MS &&
		       strstr(term.status, "did not exit") &&
		       strstr(term.status, "killed by SIGTERM"),
	       "a command deaf to EOF: SIGTERM after %llu ms: %s",
	       (unsigned long long)term.ms, term.status);
	tap_ok(kill9.result == -ETIMEDOUT &&
		       kill9.ms >= VFM_EXEC_EXIT_MS + VFM_EXEC_TERM_MS &&
		       kill9.ms < VFM_EXEC_EXIT_MS + VFM_EXEC_TERM_MS + 2000 &&
		       strstr(kill9.status, "killed by SIGKILL"),
	       "one that ignores SIGTERM too: SIGKILL after %llu ms: %s",
	       (unsigned long long)kill9.ms, kill9.status);
	tap_ok(no_children(), "no child left, no zombie");
}

/*
 * The command sees 0, 1 and 2 only, even beside a descriptor we left without
 * CLOEXEC, and no signal blocked or ignored though we have both.
 */
static void test_exec_hygiene(void)
{
	_cleanup_close_ int marker = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_hup;
	sigset_t set, old_mask;
	struct vfm_endpoint *ep;
	char out[256] = "";
	ssize_t n;

	sigaction(SIGPIPE, &ign, &old_pipe);
	sigaction(SIGHUP, &ign, &old_hup);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, &old_mask);
	ep = exec_open(
		"exec:ls /proc/$$/fd; exec grep -E '^Sig(Blk|Ign)' /proc/self/status",
		IO_TIMEOUT_MS);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (!ep)
		return;
	tap_ok(marker > 2, "a marker descriptor %d without CLOEXEC", marker);
	n = vfm_endpoint_read_full(ep, out, sizeof(out) - 1);
	tap_ok(n == -ENODATA && streq(out, "0\n1\n2\nSigBlk:\t0000000000000000\n"
					   "SigIgn:\t0000000000000000\n"),
	       "the command has descriptors 0 1 2 only, no signal blocked or ignored");
	if (!streq(out,
		   "0\n1\n2\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"))
		tap_diag("got: %s", out);
	tap_eq(vfm_endpoint_close(ep), 0, "closed");
}

static void test_exec_timeout_cancel(void)
{
	_cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC);
	struct vfm_transport_err err = {""};
	struct vfm_endpoint *ep = exec_open("exec:cat >/dev/null", 100);
	uint8_t buf[16];
	uint64_t start, ms, one = 1;
	int r;

	if (!ep || efd < 0)
		return;
	start = now_usec();
	r = (int)vfm_endpoint_read(ep, buf, sizeof(buf));
	ms = elapsed_ms(start);
	tap_ok(r == -ETIMEDOUT && ms >= 95 && ms < 2000,
	       "exec: a silent command: read -ETIMEDOUT after %llu ms",
	       (unsigned long long)ms);
	vfm_endpoint_set_timeout(ep, 0);
	vfm_endpoint_set_cancel_fd(ep, efd);
	{
		struct canceller k = {.fd = efd, .delay_ms = 50};
		pthread_t t;

		start = now_usec();
		pthread_create(&t, NULL, canceller_main, &k);
		r = (int)vfm_endpoint_read(ep, buf, sizeof(buf));
		pthread_join(t, NULL);
		ms = elapsed_ms(start);
	}
	tap_ok(r == -ECANCELED && ms < 1000,
	       "exec: blocked read: -ECANCELED after %llu ms", (unsigned long long)ms);
	tap_eq(vfm_endpoint_write_full(ep, "x", 1), -ECANCELED,
	       "exec: write with cancel signalled: -ECANCELED");
	tap_eq(vfm_endpoint_close(ep), 0, "the command ends at EOF: exit 0");
	r = vfm_endpoint_open("exec:cat", VFM_EP_READ | VFM_EP_WRITE, 0, efd,
			      &(struct vfm_endpoint *){0}, &err);
	tap_ok(r == -ECANCELED && no_children(),
	       "exec with cancel signalled: nothing started: %s", err.msg);
	(void)one;
}

/* ------------------------------------------------------------------------- */
/* "-" both ways                                                             */

/* In a child whose stdin and stdout are @in and @out: read all, answer the count. */
static int child_stdio_two_way(int in, int out)
{
	_cleanup_free_ uint8_t *src = pattern_new(EXEC_LEN), *dst = malloc(EXEC_LEN);
	struct vfm_endpoint *ep = NULL;
	char answer[32];
	int len;

	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0)
		return 10;
	if (in > 2)
		close(in);
	if (out > 2 && out != in)
		close(out);
	if (vfm_endpoint_open("-", VFM_EP_READ | VFM_EP_WRITE, IO_TIMEOUT_MS, -1, &ep,
			      NULL) < 0)
		return 11;
	if (!vfm_endpoint_is_two_way(ep) || !vfm_endpoint_writes_stdout(ep) ||
	    !streq(vfm_endpoint_description(ep), "stdin/stdout"))
		return 12;
	if ((fcntl(STDIN_FILENO, F_GETFL) | fcntl(STDOUT_FILENO, F_GETFL)) & O_NONBLOCK)
		return 13; /* borrowed: never switched to O_NONBLOCK */
	if (vfm_endpoint_read_full(ep, dst, EXEC_LEN) != EXEC_LEN ||
	    memcmp(src, dst, EXEC_LEN) != 0)
		return 14;
	if (vfm_endpoint_read(ep, dst, 1) != 0)
		return 15;
	len = snprintf(answer, sizeof(answer), "got %zu", (size_t)EXEC_LEN);
	if (vfm_endpoint_write_full(ep, answer, (size_t)len) < 0)
		return 16;
	if (vfm_endpoint_shutdown_write(ep) < 0)
		return 17;
	return vfm_endpoint_close(ep) < 0 ? 18 : 0;
}

static void stdio_two_way(const char *name, int in_child, int out_child, int to_child,
			  int from_child)
{
	_cleanup_free_ uint8_t *src = pattern_new(EXEC_LEN);
	char answer[32] = "", want[32];
	pid_t pid;
	int status = -1;
	ssize_t n;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(to_child);
		close(from_child);
		_exit(child_stdio_two_way(in_child, out_child));
	}
	close(in_child);
	if (out_child != in_child)
		close(out_child);
	/* Blocking descriptors here: the child reads while we write. */
	n = 0;
	for (size_t off = 0; off < EXEC_LEN; off += (size_t)n) {
		n = write(to_child, src + off, EXEC_LEN - off);
		if (n <= 0)
			break;
	}
	if (to_child == from_child)
		shutdown(to_child, SHUT_WR);
	else
		close(to_child);
	n = read(from_child, answer, sizeof(answer) - 1);
	snprintf(want, sizeof(want), "got %zu", (size_t)EXEC_LEN);
	tap_ok(n > 0 && streq(answer, want),
	       "%s: the child read 1 MiB from stdin and "
	       "answered on stdout: '%s'",
	       name, answer);
	close(from_child);
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status %d", name,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static int child_stdio_refused(int fd)
{
	struct vfm_transport_err err = {""};
	struct vfm_endpoint *ep = NULL;

	if (dup2(fd, STDOUT_FILENO) < 0)
		return 10;
	if (vfm_endpoint_open("-", VFM_EP_READ | VFM_EP_WRITE, 0, -1, &ep, &err) !=
	    -EINVAL)
		return 11;
	return strstr(err.msg, "stdout is not open for writing") ? 0 : 12;
}

static void test_stdio_two_way(void)
{
	int sv[2], in[2], out[2], ro;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	stdio_two_way("\"-\" two-way over one socket", sv[1], sv[1], sv[0], sv[0]);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		abort();
	stdio_two_way("\"-\" two-way over two pipes", in[0], out[1], in[1], out[0]);
	ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	tap_eq(run_child(child_stdio_refused, ro), 0,
	       "\"-\" two-way with a read-only stdout: refused, named");
	close(ro);
}

/* ------------------------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void cleanup_tmpdir(void)
{
	static const char *const left[] = {"img.vfm", "regular", "fifo"};
	char path[128];

	for (size_t i = 0; i < ELEMENTSOF(left); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, left[i]);
		(void)unlink(path);
	}
	/* Sockets were unlinked by their listeners: rmdir checks that too. */
	if (rmdir(tmpdir) < 0)
		tap_diag("could not remove %s: %s", tmpdir, strerror(errno));
}

int main(void)
{
	int fds = count_fds();

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	/* SIGPIPE stays at its default on purpose: the transport must not raise it. */
	test_uri_table();
	test_uri_fields();
	test_tcp_v4();
	test_tcp_v6();
	test_tcp_any();
	test_half_close();
	test_unix();
	test_file();
	test_file_replace();
	test_stdio();
	test_sigpipe();
	test_fd();
	test_fifo();
	test_inherited_modes();
	test_refused();
	test_timeouts();
	test_cancel();
	test_peer_loss();
	test_exec_echo();
	test_exec_half_close();
	test_exec_status();
	test_exec_hygiene();
	test_exec_timeout_cancel();
	test_exec_reap();
	test_stdio_two_way();
	test_throughput();
	cleanup_tmpdir();
	tap_eq(count_fds(), fds, "no descriptor leaked");
	return tap_done();
}
