/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Transport (layer 5): moves bytes, knows nothing of the stream format above it.
 *
 *   tcp://HOST:PORT  HOST a name, an IPv4 literal or an [IPv6] literal.  To listen,
 *                    HOST may also be empty or [::] (any address, IPv4 included where
 *                    the system allows) or 0.0.0.0, and PORT may be 0 (the kernel picks)
 *   unix:PATH        a Unix socket; unix:@NAME is abstract
 *   file:PATH        a file; written: a temporary ".NAME.XXXXXX" (mode 0600) beside
 *                    it, renamed over PATH when finished (vfm_endpoint_close() or
 *                    vfm_endpoint_shutdown_write()), removed by vfm_endpoint_free();
 *                    a symlink PATH, or another user's file in a sticky
 *                    world-writable directory, refused; a FIFO or a device
 *                    written in place
 *   -                stdin to read, stdout to write; both when both directions are
 *                    asked (two-way: read stdin, write stdout)
 *   fd:N             an inherited descriptor, duplicated (N stays open): a stream socket
 *                    is two-way, anything else one-way
 *   exec:CMD         run "/bin/sh -c CMD" (e.g. ssh) with its stdin and stdout as two
 *                    pipes: two-way, we read its stdout and write its stdin; its stderr
 *                    is ours.  CMD is non-empty, without control characters.
 *
 * Connecting or listening is the caller's choice, not the URI's.  Sockets and exec:
 * are two-way whichever direction was asked for; "-" is two-way when both are asked;
 * the other kinds carry bytes one way.
 *
 * exec: runs CMD with none of our descriptors but 0, 1 (the pipes) and 2, default
 * signal dispositions and an empty signal mask.  vfm_endpoint_wait(), close and free
 * reap it: after the end of its input it has VFM_EXEC_EXIT_MS to exit, then gets
 * SIGTERM, then VFM_EXEC_TERM_MS later SIGKILL; no zombie is left.  Never give exec:
 * a URI that comes from someone who may not run commands as this process.
 *
 * Blocking: every wait goes through poll() with the endpoint's timeout (ms, 0 = none)
 * and cancel fd (an eventfd or pipe the caller owns, -1 = none).  For I/O the timeout
 * bounds inactivity: any progress restarts it; an absolute deadline
 * (vfm_endpoint_set_deadline()) bounds a whole exchange.  Timeout -> -ETIMEDOUT; the cancel fd
 * readable (or hung up) -> -ECANCELED.  A regular file is always ready: the cancel fd
 * is checked once per call.  Name resolution (getaddrinfo) is neither bounded nor
 * cancellable.
 *
 * SIGPIPE never reaches the process from here: sockets use MSG_NOSIGNAL, and writes to
 * pipes block SIGPIPE in the calling thread and discard the one they raised, so the
 * caller gets -EPIPE.  Inherited descriptors are never switched to O_NONBLOCK (that
 * would leak into the processes sharing them); a blocking pipe is driven with
 * RWF_NOWAIT where the kernel has it (6.4+), else poll() and writes of PIPE_BUF.
 *
 * Threads: an endpoint may be read by one thread while another writes it (a socket);
 * anything else on one endpoint or listener needs the caller's serialisation.
 *
 * Errors of the calls that take a struct vfm_transport_err *err (which may be NULL):
 * -EINVAL for a bad URI, the socket call's -errno otherwise; err->msg receives a
 * sentence fragment naming the address ("connect to tcp 127.0.0.1:4444: Connection
 * refused") that the caller can print after its own prefix.  It is written only on
 * failure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "macro.h"

#define VFM_URI_MAX	      4096 /* bytes of a URI, NUL excluded */
#define VFM_URI_HOST_MAX      253  /* a DNS name */
#define VFM_TRANSPORT_ERR_MAX 320  /* bytes of an error message, NUL included */
#define VFM_WRITEV_MAX	      16   /* iovecs of one vfm_endpoint_writev_full() */
#define VFM_EXEC_EXIT_MS      5000u /* exec: time to exit after its input ended */
#define VFM_EXEC_TERM_MS      2000u /* exec: then after SIGTERM, before SIGKILL */
#define VFM_SECURITY_MAX      160  /* bytes of vfm_endpoint_security(), NUL included */

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

struct vfm_transport_err {
	char msg[VFM_TRANSPORT_ERR_MAX];
};

/* Directions for vfm_endpoint_open(). */
enum {
	VFM_EP_READ = 1u << 0,
	VFM_EP_WRITE = 1u << 1,
};

struct vfm_endpoint;
struct vfm_listener;

/**
 * vfm_uri_parse() - check and split a URI (at most VFM_URI_MAX bytes).
 * @listen: parse it as an address to listen on: tcp and unix only; an empty HOST and
 * port 0 are allowed.  Otherwise HOST is required and PORT is 1..65535.
 * Returns 0, or -EINVAL with the reason in @err.  *@ret_uri is written on success.
 */
int vfm_uri_parse(const char *s, bool listen, struct vfm_uri *ret_uri,
		  struct vfm_transport_err *err);

/**
 * vfm_endpoint_open() - connect to a socket, open a file, stdin/stdout or fd:N, or
 * start an exec: command.
 * @flags: VFM_EP_READ and/or VFM_EP_WRITE, the directions the caller needs.  A socket
 * or exec: is two-way whatever is asked; "-" reads stdin for VFM_EP_READ, writes
 * stdout for VFM_EP_WRITE, and does both (two-way) for both; any other one-way kind
 * must be asked exactly one direction.  Borrowed descriptors (stdin, stdout, fd:N)
 * are never switched to O_NONBLOCK.
 * @timeout_ms, @cancel_fd: bound the connect (and the wait for a reader when file:
 * names a FIFO) and become the endpoint's settings for its I/O.  @cancel_fd stays the
 * caller's: keep it open while the endpoint lives.  TCP tries every address of HOST in
 * turn; the timeout bounds them all.
 *
 * Returns 0 and the endpoint in *@ret_ep (free it with vfm_endpoint_close() or
 * vfm_endpoint_free()).  Errors: -EINVAL (bad URI or flags, an fd of the wrong kind
 * or access mode), -ENXIO (HOST unknown), -ETIMEDOUT, -ECANCELED, the system's
 * -errno (-ECONNREFUSED, -ENOENT, -EACCES...); @err says which address failed.  For
 * exec:, a command that cannot start is seen later: it exits 127 (sh's "not found").
 */
int vfm_endpoint_open(const char *uri, unsigned flags, unsigned timeout_ms, int cancel_fd,
		      struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

/**
 * vfm_listener_new() - bind and listen on a tcp:// or unix: URI.
 * TCP listeners set SO_REUSEADDR; "tcp://:P" and "tcp://[::]:P" listen on IPv6 with
 * IPV6_V6ONLY off (IPv4 accepted too), or on 0.0.0.0 when the system has no IPv6.
 * A unix: path left over by a dead listener (a socket nobody accepts on) is unlinked;
 * anything else there gives -EADDRINUSE.  The path is unlinked again by
 * vfm_listener_free() if it is still ours.
 * Returns 0 and *@ret_l, -EINVAL for a bad URI, or the socket call's -errno.
 */
int vfm_listener_new(const char *uri, struct vfm_listener **ret_l,
		     struct vfm_transport_err *err);

/**
 * vfm_listener_accept() - wait for one connection (call it again for more).
 * The endpoint inherits @timeout_ms and @cancel_fd for its I/O.
 * Returns 0 and a two-way endpoint in *@ret_ep, -ETIMEDOUT, -ECANCELED, or -errno.
 */
int vfm_listener_accept(struct vfm_listener *l, unsigned timeout_ms, int cancel_fd,
			struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

/**
 * vfm_listener_uri() - the bound address as a URI peers can use, with the real port:
 * "tcp://127.0.0.1:40123", "tcp://[::]:4444", "unix:/run/x.sock", "unix:@name".
 * Owned by the listener.
 */
const char *vfm_listener_uri(const struct vfm_listener *l);

/** vfm_listener_fd() - the listening socket, for the caller's poll loop. */
int vfm_listener_fd(const struct vfm_listener *l);

/** vfm_listener_free() - close, unlink our unix socket path.  NULL is fine. */
struct vfm_listener *vfm_listener_free(struct vfm_listener *l);

/** vfm_endpoint_set_timeout() - inactivity timeout of later I/O, ms (0 = none). */
void vfm_endpoint_set_timeout(struct vfm_endpoint *ep, unsigned timeout_ms);

/**
 * vfm_endpoint_set_deadline() - an absolute limit for later I/O: a monotonic time in
 * usec (now_usec()'s clock; 0 = none).  Unlike the inactivity timeout, progress does
 * not move it: a peer that trickles bytes gets -ETIMEDOUT once it passes.
 */
void vfm_endpoint_set_deadline(struct vfm_endpoint *ep, uint64_t deadline_usec);

/** vfm_endpoint_set_cancel_fd() - cancel fd of later I/O (-1 = none); caller owns it. */
void vfm_endpoint_set_cancel_fd(struct vfm_endpoint *ep, int cancel_fd);

/**
 * vfm_endpoint_read() - read what is available, at most @size bytes, waiting for at
 * least one.  Returns the count (0: end of stream; also for @size 0), -EBADF if the
 * endpoint does not read, -ETIMEDOUT, -ECANCELED, or -errno.
 */
ssize_t vfm_endpoint_read(struct vfm_endpoint *ep, void *buf, size_t size);

/**
 * vfm_endpoint_read_full() - read exactly @size bytes.
 * Returns @size; 0 when the stream ended cleanly before the first byte; -ENODATA when
 * it ended after some bytes but before @size (a truncated stream: callers should say
 * "unexpected end of stream"); -ETIMEDOUT, -ECANCELED, -EBADF, -errno.  On error the
 * bytes already read are in @buf and counted by vfm_endpoint_bytes_read().
 */
ssize_t vfm_endpoint_read_full(struct vfm_endpoint *ep, void *buf, size_t size);

/**
 * vfm_endpoint_write_full() - write all of @buf, retrying partial writes.
 * Returns 0, -EPIPE (peer gone, or after vfm_endpoint_shutdown_write()), -ECONNRESET,
 * -ETIMEDOUT, -ECANCELED, -EBADF (a read-only endpoint), -errno.  On error an unknown
 * prefix of @buf has been sent (vfm_endpoint_bytes_written() counts it).
 */
int vfm_endpoint_write_full(struct vfm_endpoint *ep, const void *buf, size_t size);

/**
 * vfm_endpoint_writev_full() - write all of @iov (at most VFM_WRITEV_MAX entries,
 * total at most SSIZE_MAX; -EINVAL beyond) without copying.  @iov is not modified.
 * Returns as vfm_endpoint_write_full().
 */
int vfm_endpoint_writev_full(struct vfm_endpoint *ep, const struct iovec *iov,
			     size_t iovcnt);

/**
 * vfm_endpoint_shutdown_write() - end our direction: the peer reads end of stream
 * while we can still read its answer.  A socket is half-closed (shutdown(SHUT_WR);
 * again is a no-op).  exec: and two-way "-" close the descriptor we write (the
 * command's stdin pipe; our copy of stdout, which the peer sees end only once the
 * process's own stdout is closed too); again is a no-op.  A one-way writer is
 * finished as by vfm_endpoint_close(): a regular file is fsync'ed (and, for file:, its
 * directory), then the descriptor is closed and vfm_endpoint_fd() becomes -1.  A peer
 * sees end of stream only when every copy of the descriptor is closed: for "-" and
 * fd:N the original stays open.
 * Returns 0, -EBADF for an endpoint that does not write, or the failing call's -errno.
 */
int vfm_endpoint_shutdown_write(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_close() - finish and free.  A regular file that was written is
 * fsync'ed first (and, for file:, its directory): save must not report success for
 * data the disk does not have.  An exec: command is reaped (vfm_endpoint_wait()).
 * Frees @ep in every case.
 * Returns 0, the -errno of fsync() or close(), or vfm_endpoint_wait()'s error (call
 * that first to learn how the command ended).  NULL returns 0.
 */
int vfm_endpoint_close(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_free() - close without fsync or error report (error paths, where the
 * output is abandoned anyway: a file: output's temporary is removed, its target
 * untouched).  An exec: command is still reaped, within the same
 * bound as vfm_endpoint_wait().  NULL is fine.  Returns NULL.
 */
struct vfm_endpoint *vfm_endpoint_free(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_wait() - for exec:, end our direction, then wait for the command to
 * exit, discarding what it still writes: at most VFM_EXEC_EXIT_MS, then SIGTERM,
 * VFM_EXEC_TERM_MS more, then SIGKILL (and a wait that SIGKILL ends).  Once reaped,
 * later calls return the same.
 * Returns 0 when it exited 0 (or @ep runs no command); -EIO when it exited non-zero
 * or was killed by a signal; -ETIMEDOUT when it had to be stopped; -ECHILD when it
 * was reaped elsewhere (SIGCHLD ignored).  vfm_endpoint_exit_status() says which.
 */
int vfm_endpoint_wait(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_exit_status() - how an exec: command ended, once vfm_endpoint_wait()
 * reaped it: "exited with 0", "exited with 255", "killed by SIGPIPE", "did not exit
 * within 5000 ms after its input ended: killed by SIGTERM".  NULL before that, and for
 * the other kinds.  Owned by the endpoint.
 */
const char *vfm_endpoint_exit_status(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_is_two_way() - whether both directions work (a socket, exec:, "-"
 * opened for both).
 */
bool vfm_endpoint_is_two_way(const struct vfm_endpoint *ep);

/** vfm_endpoint_is_socket() - whether the endpoint is a connected socket. */
bool vfm_endpoint_is_socket(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_writes_stdout() - whether the endpoint writes our stdout ("-" opened
 * for writing, one-way or two-way): the caller's reports must go elsewhere.
 */
bool vfm_endpoint_writes_stdout(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_description() - for messages: "tcp 10.0.0.2:4444", "tcp [::1]:4444",
 * "unix /run/x.sock", "unix @name", "file /var/tmp/x", "stdin", "stdout",
 * "stdin/stdout", "fd 5", "exec 'ssh dst vfiomig restore ...'" (the command cut to
 * 80 bytes, bytes outside printable ASCII as \xNN).  Owned by the endpoint, never
 * NULL.
 */
const char *vfm_endpoint_description(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_fd() - the descriptor we read (for poll), or for a one-way writer the
 * one we write; -1 once a one-way writer is closed by vfm_endpoint_shutdown_write().
 * exec: and two-way "-" write another descriptor, not exposed: poll this one for
 * reading only.  Do not change its flags; reading or writing it directly bypasses
 * the byte counters (and TLS, whose records GnuTLS may already hold decrypted:
 * poll() on it can miss them).
 */
int vfm_endpoint_fd(const struct vfm_endpoint *ep);

/** Bytes moved so far; safe to read from another thread (relaxed atomics). */
uint64_t vfm_endpoint_bytes_read(const struct vfm_endpoint *ep);
uint64_t vfm_endpoint_bytes_written(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_security() - how the bytes travel, for reports: "plaintext", or after
 * vfm_endpoint_start_tls() e.g. "TLS 1.3 AES-256-GCM, x509 peer 'CN=dst', kTLS".
 * Owned by the endpoint, never NULL, at most VFM_SECURITY_MAX - 1 bytes, printable.
 */
const char *vfm_endpoint_security(const struct vfm_endpoint *ep);

/* ------------------------------------------------------------------------- */
/* TLS (tls.c): GnuTLS, TLS 1.3 only, x509 with mutual authentication or PSK.  */

#define VFM_TLS_AUTHZ_MAX	 32   /* patterns of struct vfm_tls_opts.authz */
#define VFM_TLS_AUTHZ_LEN_MAX	 256  /* bytes of one pattern */
#define VFM_TLS_HOSTNAME_MAX	 VFM_URI_HOST_MAX
#define VFM_TLS_PATH_MAX	 4096 /* bytes of creds_dir / psk_file */
#define VFM_TLS_HANDSHAKE_MS	 10000 /* default handshake deadline */
#define VFM_TLS_PSK_FILE_MAX	 (64 * 1024) /* bytes of a keys.psk file */
#define VFM_TLS_PSK_LINES_MAX	 256  /* lines of a keys.psk file */
#define VFM_TLS_PSK_LINE_MAX	 512  /* bytes of one line, newline excluded */
#define VFM_TLS_PSK_ID_MAX	 128  /* bytes of an identity */
#define VFM_TLS_PSK_KEY_MIN	 16   /* bytes of a key (32 hex digits) */
#define VFM_TLS_PSK_KEY_MAX	 64   /* bytes of a key (128 hex digits) */

struct vfm_tls;

/*
 * creds_dir: x509 credentials in the layout of QEMU's tls-creds-x509 (so libvirt's
 * /etc/pki/qemu serves): ca-cert.pem, optional ca-crl.pem; a server (the side that
 * listens) server-cert.pem and server-key.pem; a client (the side that connects)
 * client-cert.pem and client-key.pem (optional: a server refuses a client without).
 * psk_file: QEMU's keys.psk instead ("identity:hexkey" lines).  Exactly one of the two.
 * hostname: the name the client checks the server's certificate against, instead of
 * the URI's host.  authz: glob patterns (fnmatch) for the peer certificate's DN
 * (RFC 4514, as "CN=dst,O=lab"); none given: any certificate of the CA.
 * handshake_timeout_ms: 0 = VFM_TLS_HANDSHAKE_MS.  Strings are copied.
 * kTLS: on TCP, where the kernel has the tls ULP, the record layer goes to the kernel
 * after the handshake (AES-GCM, ChaCha20-Poly1305); elsewhere it stays in GnuTLS.
 */
struct vfm_tls_opts {
	const char *creds_dir;
	const char *psk_file;
	const char *hostname;
	const char *const *authz;
	size_t n_authz;
	unsigned handshake_timeout_ms;
	bool no_ktls; /* keep the record layer in user space even where kTLS works */
};

/**
 * vfm_tls_new() - load and check credentials for one side (@server: the side that
 * listens).  Every file is read here, so that a missing or unreadable one is reported
 * before any connection: err->msg names it ("/etc/pki/qemu/server-key.pem: No such
 * file or directory").
 * Returns 0 and *@ret (drop with vfm_tls_free()), -EINVAL (bad options, a malformed
 * file), -ENOENT/-EACCES..., -ENOMEM.
 */
int vfm_tls_new(const struct vfm_tls_opts *opts, bool server, struct vfm_tls **ret,
		struct vfm_transport_err *err);

/**
 * vfm_tls_free() - drop the caller's reference; endpoints secured with it keep their
 * own until they are freed.  NULL is fine.  Returns NULL.
 */
struct vfm_tls *vfm_tls_free(struct vfm_tls *tls);

/** vfm_tls_is_server() - the side @tls was made for. */
bool vfm_tls_is_server(const struct vfm_tls *tls);

/**
 * vfm_endpoint_start_tls() - run the TLS handshake on a connected (client) or
 * accepted (server) tcp:// or unix: endpoint, then check the peer: its certificate
 * chain against ca-cert.pem (and ca-crl.pem), its validity dates, the server's name
 * (client side: @peer_host, the URI's host, or the hostname option; unix: only with
 * the option), the DN patterns; or its PSK.  Both sides then exchange one byte of
 * acceptance inside TLS, so that a side the peer refused learns it here with the
 * peer's reason (its alert), not at its first read.
 * Bounded by the handshake deadline and the endpoint's cancel fd.  Afterwards every
 * read, write and shutdown of @ep goes through TLS (kTLS where GnuTLS and the kernel
 * do it), with the endpoint's timeout, cancel fd and byte counters (plaintext bytes).
 * Returns 0; -EINVAL (not a tcp/unix endpoint, TLS started already), -EACCES (the
 * peer failed our checks), -ECONNREFUSED (the peer refused us), -EPROTO (not TLS, or
 * a TLS failure), -ETIMEDOUT, -ECANCELED, -errno; err->msg says why.  On failure @ep
 * is unusable: free it.
 */
int vfm_endpoint_start_tls(struct vfm_endpoint *ep, struct vfm_tls *tls,
			   const char *peer_host, struct vfm_transport_err *err);

/**
 * vfm_listener_accept_tls() - accept until a peer passes vfm_endpoint_start_tls().
 * A peer that fails (plaintext, another CA, no certificate, DN not allowed, expired,
 * wrong PSK, too slow) is closed and reported through @on_reject (may be NULL) as
 * "tcp 127.0.0.1:40112: TLS handshake failed: ...", and the wait goes on.
 * @timeout_ms (0 = none) bounds the whole wait, not each peer; each handshake is
 * bounded by its own deadline too.  Returns as vfm_listener_accept().
 */
int vfm_listener_accept_tls(struct vfm_listener *l, struct vfm_tls *tls,
			    unsigned timeout_ms, int cancel_fd,
			    void (*on_reject)(void *ud, const char *why), void *ud,
			    struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

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
