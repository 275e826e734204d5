// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TLS on tcp:// and unix: endpoints, with GnuTLS (what QEMU and libvirt use): TLS 1.3
 * only, x509 with both sides authenticated (QEMU's tls-creds-x509 file layout) or a
 * pre-shared key (QEMU's keys.psk), with (EC)DHE either way.  See transport.h.
 *
 * The socket stays non-blocking: every GnuTLS call that would block returns
 * GNUTLS_E_AGAIN and we poll() the fd as transport.c does, with the same deadline and
 * cancel fd.  GnuTLS may hold decrypted records of its own; we only poll after a call
 * said EAGAIN, which it says only when nothing is buffered.
 *
 * kTLS: a GnuTLS built with --enable-ktls hands the record layer to the kernel when
 * its system configuration says "[global]" "ktls = true" (/etc/gnutls/config).
 * Debian 12's 3.7.9 is built without it (its gnutls_transport_is_ktls_enabled() is
 * the stub that returns 0; Debian bug #1034350 notes it), so after the handshake we
 * hand the keys to the kernel ourselves (ktls_start()) where it has the tls ULP, and
 * fall back to GnuTLS's user-space crypto otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/tls.h>

#include "config.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#if HAVE_GNUTLS_KTLS
#include <gnutls/socket.h>
#endif

#include <dlfcn.h>
#include <pthread.h>

#include "macro.h"
#include "transport-internal.h"
#include "transport.h"
#include "util.h"

/*
 * GnuTLS is loaded (dlopen) by the first vfm_tls_new(), not linked: it brings nine
 * shared libraries whose loading and relocation took 3.7 ms of every process's start
 * on the machine of bench/ (a 2 ms process took 5.7 ms), which a migration without TLS,
 * a query command and a VMM that links libvfiomig do not need.  The functions are
 * called through this table, under their own names (the macros below); the headers
 * give their types.  GNUTLS_SONAME is the ABI of GnuTLS 3.x.
 */
#define GNUTLS_SONAME "libgnutls.so.30"
#define GNUTLS_SYMS(X)                                                                  \
	X(gnutls_alert_get) X(gnutls_alert_get_name) X(gnutls_alert_send)               \
	X(gnutls_alert_send_appropriate) X(gnutls_bye)                                  \
	X(gnutls_certificate_allocate_credentials)                                      \
	X(gnutls_certificate_free_credentials) X(gnutls_certificate_get_peers)          \
	X(gnutls_certificate_send_x509_rdn_sequence)                                    \
	X(gnutls_certificate_server_set_request)                                        \
	X(gnutls_certificate_set_x509_crl_file)                                         \
	X(gnutls_certificate_set_x509_key_file)                                         \
	X(gnutls_certificate_set_x509_trust_file)                                       \
	X(gnutls_certificate_verification_status_print) X(gnutls_cipher_get)            \
	X(gnutls_cipher_get_name) X(gnutls_credentials_set) X(gnutls_deinit)            \
	X(gnutls_error_is_fatal) X(gnutls_free) X(gnutls_global_deinit)                 \
	X(gnutls_global_init) X(gnutls_handshake) X(gnutls_init) X(gnutls_malloc)       \
	X(gnutls_priority_deinit) X(gnutls_priority_init) X(gnutls_priority_set)        \
	X(gnutls_protocol_get_version) X(gnutls_psk_allocate_client_credentials)        \
	X(gnutls_psk_allocate_server_credentials)                                       \
	X(gnutls_psk_free_client_credentials) X(gnutls_psk_free_server_credentials)     \
	X(gnutls_psk_server_get_username) X(gnutls_psk_set_client_credentials)          \
	X(gnutls_psk_set_server_credentials_function) X(gnutls_record_check_pending)    \
	X(gnutls_record_get_direction) X(gnutls_record_get_state) X(gnutls_record_recv) \
	X(gnutls_record_send) X(gnutls_server_name_set)                                 \
	X(gnutls_session_get_ptr) X(gnutls_session_get_verify_cert_status)             \
	X(gnutls_session_set_ptr) X(gnutls_session_set_verify_cert) X(gnutls_strerror) \
	X(gnutls_transport_set_int2) X(gnutls_x509_crt_deinit)                          \
	X(gnutls_x509_crt_get_dn2) X(gnutls_x509_crt_import) X(gnutls_x509_crt_init)

/* A pointer to each function (and to the variables gnutls_malloc and gnutls_free). */
static struct {
#define X(name) __typeof__(name) *name;
	GNUTLS_SYMS(X)
#undef X
#if HAVE_GNUTLS_KTLS
	__typeof__(gnutls_transport_is_ktls_enabled) *gnutls_transport_is_ktls_enabled;
#endif
} gt;

static pthread_once_t gt_once = PTHREAD_ONCE_INIT;
static char gt_error[192]; /* why GnuTLS cannot be used; "" when it can */

static void gt_load(void)
{
	void *h = dlopen(GNUTLS_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	const char *e;

	if (!h) {
		e = dlerror();
		snprintf(gt_error, sizeof(gt_error), "cannot load GnuTLS (%s): %s",
			 GNUTLS_SONAME, e ? e : "unknown error");
		return;
	}
#define X(name)                                                                          \
	if (!gt_error[0] && !(gt.name = (__typeof__(gt.name))dlsym(h, #name)))           \
		snprintf(gt_error, sizeof(gt_error), "GnuTLS (%s) lacks %s", GNUTLS_SONAME, \
			 #name);
	GNUTLS_SYMS(X)
#undef X
#if HAVE_GNUTLS_KTLS
	/* optional: our own kTLS hand-off works without it */
	gt.gnutls_transport_is_ktls_enabled = (__typeof__(gt.gnutls_transport_is_ktls_enabled))
		dlsym(h, "gnutls_transport_is_ktls_enabled");
#endif
	/* h stays open (RTLD_NODELETE too): sessions and credentials may live on */
}

/* 0, or -ENOPKG with the reason in @err. */
static int gt_ready(struct vfm_transport_err *err)
{
	pthread_once(&gt_once, gt_load);
	if (!gt_error[0])
		return 0;
	if (err)
		snprintf(err->msg, sizeof(err->msg), "%s", gt_error);
	return -ENOPKG;
}

/* Every GnuTLS name below is a call through the table. */
#undef gnutls_free
#define gnutls_free(a) ((*gt.gnutls_free)((void *)(a)), (a) = NULL)
#define gnutls_alert_get (*gt.gnutls_alert_get)
#define gnutls_alert_get_name (*gt.gnutls_alert_get_name)
#define gnutls_alert_send (*gt.gnutls_alert_send)
#define gnutls_alert_send_appropriate (*gt.gnutls_alert_send_appropriate)
#define gnutls_bye (*gt.gnutls_bye)
#define gnutls_certificate_allocate_credentials (*gt.gnutls_certificate_allocate_credentials)
#define gnutls_certificate_free_credentials (*gt.gnutls_certificate_free_credentials)
#define gnutls_certificate_get_peers (*gt.gnutls_certificate_get_peers)
#define gnutls_certificate_send_x509_rdn_sequence (*gt.gnutls_certificate_send_x509_rdn_sequence)
#define gnutls_certificate_server_set_request (*gt.gnutls_certificate_server_set_request)
#define gnutls_certificate_set_x509_crl_file (*gt.gnutls_certificate_set_x509_crl_file)
#define gnutls_certificate_set_x509_key_file (*gt.gnutls_certificate_set_x509_key_file)
#define gnutls_certificate_set_x509_trust_file (*gt.gnutls_certificate_set_x509_trust_file)
#define gnutls_certificate_verification_status_print (*gt.gnutls_certificate_verification_status_print)
#define gnutls_cipher_get (*gt.gnutls_cipher_get)
#define gnutls_cipher_get_name (*gt.gnutls_cipher_get_name)
#define gnutls_credentials_set (*gt.gnutls_credentials_set)
#define gnutls_deinit (*gt.gnutls_deinit)
#define gnutls_error_is_fatal (*gt.gnutls_error_is_fatal)
#define gnutls_global_deinit (*gt.gnutls_global_deinit)
#define gnutls_global_init (*gt.gnutls_global_init)
#define gnutls_handshake (*gt.gnutls_handshake)
#define gnutls_init (*gt.gnutls_init)
#define gnutls_malloc (*gt.gnutls_malloc)
#define gnutls_priority_deinit (*gt.gnutls_priority_deinit)
#define gnutls_priority_init (*gt.gnutls_priority_init)
#define gnutls_priority_set (*gt.gnutls_priority_set)
#define gnutls_protocol_get_version (*gt.gnutls_protocol_get_version)
#define gnutls_psk_allocate_client_credentials (*gt.gnutls_psk_allocate_client_credentials)
#define gnutls_psk_allocate_server_credentials (*gt.gnutls_psk_allocate_server_credentials)
#define gnutls_psk_free_client_credentials (*gt.gnutls_psk_free_client_credentials)
#define gnutls_psk_free_server_credentials (*gt.gnutls_psk_free_server_credentials)
#define gnutls_psk_server_get_username (*gt.gnutls_psk_server_get_username)
#define gnutls_psk_set_client_credentials (*gt.gnutls_psk_set_client_credentials)
#define gnutls_psk_set_server_credentials_function (*gt.gnutls_psk_set_server_credentials_function)
#define gnutls_record_check_pending (*gt.gnutls_record_check_pending)
#define gnutls_record_get_direction (*gt.gnutls_record_get_direction)
#define gnutls_record_get_state (*gt.gnutls_record_get_state)
#define gnutls_record_recv (*gt.gnutls_record_recv)
#define gnutls_record_send (*gt.gnutls_record_send)
#define gnutls_server_name_set (*gt.gnutls_server_name_set)
#define gnutls_session_get_ptr (*gt.gnutls_session_get_ptr)
#define gnutls_session_get_verify_cert_status (*gt.gnutls_session_get_verify_cert_status)
#define gnutls_session_set_ptr (*gt.gnutls_session_set_ptr)
#define gnutls_session_set_verify_cert (*gt.gnutls_session_set_verify_cert)
#define gnutls_strerror (*gt.gnutls_strerror)
#define gnutls_transport_set_int2 (*gt.gnutls_transport_set_int2)
#define gnutls_x509_crt_deinit (*gt.gnutls_x509_crt_deinit)
#define gnutls_x509_crt_get_dn2 (*gt.gnutls_x509_crt_get_dn2)
#define gnutls_x509_crt_import (*gt.gnutls_x509_crt_import)
#define gnutls_x509_crt_init (*gt.gnutls_x509_crt_init)
#if HAVE_GNUTLS_KTLS
#define gnutls_transport_is_ktls_enabled(s)                                              \
	(gt.gnutls_transport_is_ktls_enabled ? (*gt.gnutls_transport_is_ktls_enabled)(s) : 0)
#endif

#define PRIO_X509 "NORMAL:-VERS-ALL:+VERS-TLS1.3"
/*
 * TLS 1.3 PSK with (EC)DHE only (psk_dhe_ke): a leaked key does not open old streams.
 * An external PSK's binder hash is SHA-256, so only the SHA-256 suites can be chosen:
 * NORMAL lists CHACHA20-POLY1305 before AES-128-GCM, which made every PSK stream
 * ChaCha20 (194 MiB/s where AES-128-GCM, which CPUs with AES instructions run at
 * GB/s, moved 1.3 GB/s: see the commit).  AES-128-GCM first; ChaCha20 stays for a
 * peer that has only it.
 */
#define PRIO_PSK                                                                         \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK:-CIPHER-ALL:"         \
	"+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
#define ACCEPT_BYTE 0x56 /* 'V': "I accept you", one per side after the handshake */
#define REASON_MAX  256
#define DN_SHOW_MAX 96 /* bytes of a DN quoted in the security string */

struct vfm_tls {
	int refs; /* __atomic */
	bool server, psk;
	gnutls_certificate_credentials_t x509;
	gnutls_psk_client_credentials_t psk_client;
	gnutls_psk_server_credentials_t psk_server;
	gnutls_priority_t prio;
	struct vfm_tls_psk *keys;
	size_t n_keys;
	char *hostname;
	char **authz;
	size_t n_authz;
	unsigned handshake_timeout_ms;
	bool no_ktls;
};

struct tls_conn {
	gnutls_session_t s;
	struct vfm_tls *tls; /* a reference: the credentials must outlive the session */
	bool bye_sent;
	bool ktls_tx, ktls_rx; /* our own hand-off to the kernel (see ktls_start()) */
	bool ktls_eof;	       /* kTLS: the peer's close_notify was read */
	int send_error; /* the GnuTLS code of the last failed send (handshake only) */
	char unknown_identity[VFM_TLS_PSK_ID_MAX +
			      1]; /* server: a PSK identity not ours */
};

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */

/* Copy @s into @buf, escaping what is not printable ASCII (and quotes) as \xNN. */
static void escape(char *buf, size_t size, const char *s, size_t max)
{
	size_t o = 0, i;

	for (i = 0; s[i] && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max) {
			snprintf(buf + o, size - o, "...");
			return;
		}
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	buf[o] = '\0';
}

static void reason_add(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void reason_add(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

/* Read a whole small file (at most @max bytes) for the PSK parser. */
static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len,
			   struct vfm_transport_err *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(err, negative_errno(), "%s: %m", path);
	if (!S_ISREG(st.st_mode))
		return fail(err, -EINVAL, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return fail(err, -E2BIG, "%s: larger than %zu bytes", path, max);
	buf = malloc(max + 1);
	if (!buf)
		return fail(err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(err, negative_errno(), "%s: %m", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return fail(err, -E2BIG, "%s: larger than %zu bytes", path, max);
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* keys.psk and DN patterns (pure, unit-tested)                              */

static int parse_psk_line(const char *l, size_t len, unsigned lineno,
			  struct vfm_tls_psk *k, struct vfm_transport_err *err)
{
	const char *colon = memchr(l, ':', len);
	size_t idlen, hexlen;

	if (!colon)
		return fail(err, -EINVAL, "line %u: expected identity:hexkey", lineno);
	idlen = (size_t)(colon - l);
	if (idlen == 0)
		return fail(err, -EINVAL, "line %u: empty identity", lineno);
	if (idlen > VFM_TLS_PSK_ID_MAX)
		return fail(err, -EINVAL, "line %u: identity longer than %d bytes",
			    lineno, VFM_TLS_PSK_ID_MAX);
	for (size_t i = 0; i < idlen; i++)
		if (l[i] < 0x21 || l[i] > 0x7e)
			return fail(err, -EINVAL,
				    "line %u: identity has a character that is not "
				    "printable ASCII",
				    lineno);
	hexlen = len - idlen - 1;
	if (hexlen == 0)
		return fail(err, -EINVAL, "line %u: empty key", lineno);
	if (hexlen % 2)
		return fail(err, -EINVAL, "line %u: key has an odd number of hex digits",
			    lineno);
	if (hexlen / 2 < VFM_TLS_PSK_KEY_MIN || hexlen / 2 > VFM_TLS_PSK_KEY_MAX)
		return fail(err, -EINVAL,
			    "line %u: key of %zu bytes (%d..%d bytes, twice as many hex "
			    "digits)",
			    lineno, hexlen / 2, VFM_TLS_PSK_KEY_MIN, VFM_TLS_PSK_KEY_MAX);
	for (size_t i = 0; i < hexlen; i += 2) {
		int hi = hexval(colon[1 + i]), lo = hexval(colon[2 + i]);

		if (hi < 0 || lo < 0)
			return fail(err, -EINVAL, "line %u: key is not hexadecimal",
				    lineno);
		k->key[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(k->identity, l, idlen);
	k->identity[idlen] = '\0';
	k->key_len = hexlen / 2;
	return 0;
}

int vfm_tls_psk_parse(const char *text, size_t len, struct vfm_tls_psk **ret,
		      struct vfm_transport_err *err)
{
	_cleanup_free_ struct vfm_tls_psk *keys = NULL;
	size_t n = 0, pos = 0;
	unsigned lineno = 0;
	int r;

	if (len > VFM_TLS_PSK_FILE_MAX)
		return fail(err, -E2BIG, "larger than %d bytes", VFM_TLS_PSK_FILE_MAX);
	if (memchr(text, '\0', len))
		return fail(err, -EINVAL, "holds a NUL byte");
	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - l) : len - pos;

		pos += llen + (nl ? 1 : 0);
		if (++lineno > VFM_TLS_PSK_LINES_MAX)
			return fail(err, -E2BIG, "more than %d lines",
				    VFM_TLS_PSK_LINES_MAX);
		if (llen > VFM_TLS_PSK_LINE_MAX)
			return fail(err, -EINVAL, "line %u: longer than %d bytes", lineno,
				    VFM_TLS_PSK_LINE_MAX);
		if (llen && l[llen - 1] == '\r')
			llen--;
		if (llen == 0 || l[0] == '#')
			continue;
		if (!keys) {
			keys = calloc(VFM_TLS_PSK_LINES_MAX, sizeof(*keys));
			if (!keys)
				return fail(err, -ENOMEM, "out of memory");
		}
		r = parse_psk_line(l, llen, lineno, &keys[n], err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (streq(keys[i].identity, keys[n].identity))
				return fail(err, -EINVAL,
					    "line %u: identity '%s' given twice", lineno,
					    keys[n].identity);
		n++;
	}
	if (n == 0)
		return fail(err, -EINVAL, "no key (lines identity:hexkey)");
	*ret = TAKE_PTR(keys);
	return (int)n;
}

bool vfm_tls_dn_allowed(const char *dn, const char *const *patterns, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (fnmatch(patterns[i], dn, 0) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------------- */
/* credentials                                                               */

static struct vfm_tls *tls_ref(struct vfm_tls *tls)
{
	__atomic_add_fetch(&tls->refs, 1, __ATOMIC_RELAXED);
	return tls;
}

_public_ struct vfm_tls *vfm_tls_free(struct vfm_tls *tls)
{
	if (!tls || __atomic_sub_fetch(&tls->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	if (tls->x509)
		gnutls_certificate_free_credentials(tls->x509);
	if (tls->psk_client)
		gnutls_psk_free_client_credentials(tls->psk_client);
	if (tls->psk_server)
		gnutls_psk_free_server_credentials(tls->psk_server);
	if (tls->prio)
		gnutls_priority_deinit(tls->prio);
	if (tls->keys)
		explicit_bzero(tls->keys, tls->n_keys * sizeof(*tls->keys));
	free(tls->keys);
	free(tls->hostname);
	for (size_t i = 0; i < tls->n_authz; i++)
		free(tls->authz[i]);
	free(tls->authz);
	free(tls);
	return NULL;
}

_public_ bool vfm_tls_is_server(const struct vfm_tls *tls)
{
	return tls->server;
}

/* @dir/@name readable?  0, or the error naming the file. */
static int check_file(const char *dir, const char *name, bool required, char *path,
		      size_t size, struct vfm_transport_err *err)
{
	int fd;

	snprintf(path, size, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !required)
			return -ENOENT;
		return fail(err, negative_errno(), "%s: %m", path);
	}
	close(fd);
	return 0;
}

static int load_x509(struct vfm_tls *tls, const char *dir, struct vfm_transport_err *err)
{
	const char *cert = tls->server ? "server-cert.pem" : "client-cert.pem";
	const char *key = tls->server ? "server-key.pem" : "client-key.pem";
	char ca_p[VFM_TLS_PATH_MAX + 32], crl_p[sizeof(ca_p)], cert_p[sizeof(ca_p)],
		key_p[sizeof(ca_p)];
	int r, rc, rk;

	r = gnutls_certificate_allocate_credentials(&tls->x509);
	if (r < 0)
		return fail(err, -ENOMEM, "out of memory");
	r = check_file(dir, "ca-cert.pem", true, ca_p, sizeof(ca_p), err);
	if (r < 0)
		return r;
	r = gnutls_certificate_set_x509_trust_file(tls->x509, ca_p, GNUTLS_X509_FMT_PEM);
	if (r <= 0)
		return fail(err, -EINVAL, "%s: no CA certificate loaded%s%s", ca_p,
			    r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
	r = check_file(dir, "ca-crl.pem", false, crl_p, sizeof(crl_p), err);
	if (r == 0) {
		r = gnutls_certificate_set_x509_crl_file(tls->x509, crl_p,
							 GNUTLS_X509_FMT_PEM);
		if (r < 0)
			return fail(err, -EINVAL, "%s: %s", crl_p, gnutls_strerror(r));
	} else if (r != -ENOENT) {
		return r;
	}
	/* A client may go without a certificate (as QEMU's): the server refuses it
	 * then, with a reason on both ends.  A server may not. */
	rc = check_file(dir, cert, tls->server, cert_p, sizeof(cert_p), err);
	if (rc < 0 && (tls->server || rc != -ENOENT))
		return rc;
	rk = check_file(dir, key, tls->server, key_p, sizeof(key_p), err);
	if (rk < 0 && (tls->server || rk != -ENOENT))
		return rk;
	if ((rc == 0) != (rk == 0))
		return fail(
			err, -ENOENT, "%s: %s", rc == 0 ? key_p : cert_p,
			"No such file or directory (certificate and key go together)");
	if (rc == 0) {
		r = gnutls_certificate_set_x509_key_file(tls->x509, cert_p, key_p,
							 GNUTLS_X509_FMT_PEM);
		if (r < 0)
			return fail(err, -EINVAL, "%s, %s: %s", cert_p, key_p,
				    gnutls_strerror(r));
	}
	return 0;
}

static int psk_server_key(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
	struct tls_conn *c = gnutls_session_get_ptr(s);
	struct vfm_tls *tls = c->tls;

	for (size_t i = 0; i < tls->n_keys; i++)
		if (streq(tls->keys[i].identity, identity)) {
			key->data = gnutls_malloc(tls->keys[i].key_len);
			if (!key->data)
				return -1;
			memcpy(key->data, tls->keys[i].key, tls->keys[i].key_len);
			key->size = (unsigned)tls->keys[i].key_len;
			return 0;
		}
	escape(c->unknown_identity, sizeof(c->unknown_identity), identity, 64);
	return -1;
}

static int load_psk(struct vfm_tls *tls, const char *path, struct vfm_transport_err *err)
{
	_cleanup_free_ char *text = NULL;
	struct vfm_transport_err perr = {""};
	size_t len = 0; /* gcc 12 -O2 warns maybe-uninitialized */
	int r;

	r = read_small_file(path, VFM_TLS_PSK_FILE_MAX, &text, &len, err);
	if (r < 0)
		return r;
	r = vfm_tls_psk_parse(text, len, &tls->keys, &perr);
	explicit_bzero(text, len);
	if (r < 0)
		return fail(err, r, "%s: %s", path, perr.msg);
	tls->n_keys = (size_t)r;
	if (tls->server) {
		if (gnutls_psk_allocate_server_credentials(&tls->psk_server) < 0)
			return fail(err, -ENOMEM, "out of memory");
		gnutls_psk_set_server_credentials_function(tls->psk_server,
							   psk_server_key);
	} else {
		gnutls_datum_t key = {.data = tls->keys[0].key,
				      .size = (unsigned)tls->keys[0].key_len};

		if (gnutls_psk_allocate_client_credentials(&tls->psk_client) < 0)
			return fail(err, -ENOMEM, "out of memory");
		r = gnutls_psk_set_client_credentials(
			tls->psk_client, tls->keys[0].identity, &key, GNUTLS_PSK_KEY_RAW);
		if (r < 0)
			return fail(err, -EINVAL, "%s: %s", path, gnutls_strerror(r));
	}
	return 0;
}

_public_ void vfm_tls_opts_init_sized(struct vfm_tls_opts *opts, size_t size)
{
	memset(opts, 0, size);
	if (size >= sizeof(opts->size))
		opts->size = size;
}

/* The caller's options as far as it knows them (see vfm_save_opts); the others 0. */
static int copy_opts(struct vfm_tls_opts *o, const struct vfm_tls_opts *theirs,
		     struct vfm_transport_err *err)
{
	if (!theirs || theirs->size < sizeof(*o))
		return fail(err, -EINVAL, "TLS options not made by vfm_tls_opts_init()");
	for (size_t i = sizeof(*o); i < theirs->size; i++)
		if (((const uint8_t *)theirs)[i])
			return fail(err, -EOPNOTSUPP,
				    "TLS options set that this libvfiomig does not know");
	memcpy(o, theirs, sizeof(*o));
	return 0;
}

static int check_opts(const struct vfm_tls_opts *o, struct vfm_transport_err *err)
{
	const char *path = o->creds_dir ? o->creds_dir : o->psk_file;

	if (!o->creds_dir == !o->psk_file)
		return fail(err, -EINVAL,
			    "give x509 credentials or a PSK file (one of them)");
	if (strnlen(path, VFM_TLS_PATH_MAX + 1) > VFM_TLS_PATH_MAX || !*path)
		return fail(err, -EINVAL,
			    "TLS credentials path empty or longer than %d bytes",
			    VFM_TLS_PATH_MAX);
	if (o->hostname &&
	    (strnlen(o->hostname, VFM_TLS_HOSTNAME_MAX + 1) > VFM_TLS_HOSTNAME_MAX ||
	     !*o->hostname))
		return fail(err, -EINVAL, "TLS host name empty or longer than %d bytes",
			    VFM_TLS_HOSTNAME_MAX);
	if (o->n_authz > VFM_TLS_AUTHZ_MAX)
		return fail(err, -E2BIG, "more than %d DN patterns", VFM_TLS_AUTHZ_MAX);
	for (size_t i = 0; i < o->n_authz; i++)
		if (!*o->authz[i] || strnlen(o->authz[i], VFM_TLS_AUTHZ_LEN_MAX + 1) >
					     VFM_TLS_AUTHZ_LEN_MAX)
			return fail(err, -EINVAL,
				    "DN pattern empty or longer than %d bytes",
				    VFM_TLS_AUTHZ_LEN_MAX);
	if (o->psk_file && (o->n_authz || o->hostname))
		return fail(
			err, -EINVAL,
			"DN patterns and a host name need x509 credentials, not a PSK");
	return 0;
}

static bool env_no_ktls(void)
{
	const char *s = secure_getenv("VFIOMIG_NO_KTLS");

	return s && streq(s, "1");
}

_public_ int vfm_tls_new(const struct vfm_tls_opts *opts, bool server,
			 struct vfm_tls **ret, struct vfm_transport_err *err)
{
	_cleanup_(vfm_tls_freep) struct vfm_tls *tls = NULL;
	struct vfm_tls_opts copy;
	const struct vfm_tls_opts *o = &copy;
	const char *epos = NULL;
	int r;

	r = copy_opts(&copy, opts, err);
	if (r >= 0)
		r = check_opts(o, err);
	if (r < 0)
		return r;
	r = gt_ready(err);
	if (r < 0)
		return r;
	r = gnutls_global_init(); /* refcounted; the library's constructor did it too */
	if (r < 0)
		return fail(err, -EIO, "GnuTLS: %s", gnutls_strerror(r));
	gnutls_global_deinit();
	tls = calloc(1, sizeof(*tls));
	if (!tls)
		return fail(err, -ENOMEM, "out of memory");
	tls->refs = 1;
	tls->server = server;
	tls->psk = o->psk_file != NULL;
	tls->handshake_timeout_ms =
		o->handshake_timeout_ms ? o->handshake_timeout_ms : VFM_TLS_HANDSHAKE_MS;
	/* VFIOMIG_NO_KTLS=1 keeps the record layer in user space where kTLS would run,
	 * so that a benchmark can compare both on one kernel (bench/guest-tls-bench.sh). */
	tls->no_ktls = o->no_ktls || env_no_ktls();
	if (o->hostname && !(tls->hostname = strdup(o->hostname)))
		return fail(err, -ENOMEM, "out of memory");
	if (o->n_authz) {
		tls->authz = calloc(o->n_authz, sizeof(*tls->authz));
		if (!tls->authz)
			return fail(err, -ENOMEM, "out of memory");
		for (; tls->n_authz < o->n_authz; tls->n_authz++) {
			tls->authz[tls->n_authz] = strdup(o->authz[tls->n_authz]);
			if (!tls->authz[tls->n_authz])
				return fail(err, -ENOMEM, "out of memory");
		}
	}
	r = tls->psk ? load_psk(tls, o->psk_file, err)
		     : load_x509(tls, o->creds_dir, err);
	if (r < 0)
		return r;
	r = gnutls_priority_init(&tls->prio, tls->psk ? PRIO_PSK : PRIO_X509, &epos);
	if (r < 0)
		return fail(err, -EINVAL, "GnuTLS priority at '%s': %s", epos ? epos : "",
			    gnutls_strerror(r));
	*ret = TAKE_PTR(tls);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* record I/O                                                                */

struct tls_conn *tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return NULL;
	if (c->s)
		gnutls_deinit(c->s);
	vfm_tls_free(c->tls);
	free(c);
	return NULL;
}

/* A GnuTLS error as -errno; @saved_errno is errno right after the call. */
static int tls_errno(int g, int saved_errno)
{
	switch (g) {
	case GNUTLS_E_PUSH_ERROR: return saved_errno > 0 ? -saved_errno : -EPIPE;
	case GNUTLS_E_PULL_ERROR: return saved_errno > 0 ? -saved_errno : -ECONNRESET;
	case GNUTLS_E_FATAL_ALERT_RECEIVED: return -ECONNRESET;
	case GNUTLS_E_MEMORY_ERROR: return -ENOMEM;
	default: return -EPROTO;
	}
}

/* poll for what GnuTLS waits for after GNUTLS_E_AGAIN (@reading: the caller's own
 * direction, which a concurrent call of the other direction may have overwritten in
 * gnutls_record_get_direction(): poll for both then). */
static short tls_events(struct tls_conn *c, bool reading)
{
	int dir = gnutls_record_get_direction(c->s);

	if (reading)
		return dir ? (POLLIN | POLLOUT) : POLLIN;
	return dir ? POLLOUT : (POLLIN | POLLOUT);
}

/* ------------------------------------------------------------------------- */
/* kTLS                                                                      */

#define REC_ALERT     21
#define REC_HANDSHAKE 22
#define REC_DATA      23

union ktls_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* The kernel's crypto info for one direction (@rx) of a TLS 1.3 session. */
static int ktls_info(gnutls_session_t s, bool rx, union ktls_info *u, socklen_t *len)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[16];

	if (gnutls_record_get_state(s, rx, &mac, &iv, &key, seq) < 0)
		return -EIO;
	memset(u, 0, sizeof(*u));
	u->info.version = TLS_1_3_VERSION;
	switch (gnutls_cipher_get(s)) {
	case GNUTLS_CIPHER_AES_128_GCM:
		if (key.size != TLS_CIPHER_AES_GCM_128_KEY_SIZE ||
		    iv.size != TLS_CIPHER_AES_GCM_128_SALT_SIZE +
				       TLS_CIPHER_AES_GCM_128_IV_SIZE)
			return -EINVAL;
		u->info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(u->gcm128.salt, iv.data, TLS_CIPHER_AES_GCM_128_SALT_SIZE);
		memcpy(u->gcm128.iv, iv.data + TLS_CIPHER_AES_GCM_128_SALT_SIZE,
		       TLS_CIPHER_AES_GCM_128_IV_SIZE);
		memcpy(u->gcm128.key, key.data, key.size);
		memcpy(u->gcm128.rec_seq, seq, TLS_CIPHER_AES_GCM_128_REC_SEQ_SIZE);
		*len = sizeof(u->gcm128);
		return 0;
	case GNUTLS_CIPHER_AES_256_GCM:
		if (key.size != TLS_CIPHER_AES_GCM_256_KEY_SIZE ||
		    iv.size != TLS_CIPHER_AES_GCM_256_SALT_SIZE +
				       TLS_CIPHER_AES_GCM_256_IV_SIZE)
			return -EINVAL;
		u->info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(u->gcm256.salt, iv.data, TLS_CIPHER_AES_GCM_256_SALT_SIZE);
		memcpy(u->gcm256.iv, iv.data + TLS_CIPHER_AES_GCM_256_SALT_SIZE,
		       TLS_CIPHER_AES_GCM_256_IV_SIZE);
		memcpy(u->gcm256.key, key.data, key.size);
		memcpy(u->gcm256.rec_seq, seq, TLS_CIPHER_AES_GCM_256_REC_SEQ_SIZE);
		*len = sizeof(u->gcm256);
		return 0;
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		if (key.size != TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE ||
		    iv.size != TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE)
			return -EINVAL;
		u->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(u->chacha.iv, iv.data, iv.size);
		memcpy(u->chacha.key, key.data, key.size);
		memcpy(u->chacha.rec_seq, seq, TLS_CIPHER_CHACHA20_POLY1305_REC_SEQ_SIZE);
		*len = sizeof(u->chacha);
		return 0;
	default: return -EOPNOTSUPP;
	}
}

/*
 * Hand the record layer to the kernel (Linux kTLS, the "tls" ULP) once the handshake
 * and the acceptances are done, as GnuTLS itself does when it is built with kTLS
 * (Debian 12's 3.7.9 is not: its gnutls_transport_is_ktls_enabled() always says 0).
 * The keys and sequence numbers come from gnutls_record_get_state(); from then on
 * that direction is plain send/recvmsg on the socket and GnuTLS is not used for it
 * again.  Only on TCP, only with nothing decrypted and unread inside GnuTLS (it reads
 * whole records, so nothing raw is held back either); any refusal leaves user-space
 * crypto in place.  Post-handshake messages (KeyUpdate, tickets: we send none) are
 * not supported on a kTLS receive path and fail the read.
 */
static void ktls_start(struct vfm_endpoint *ep)
{
	struct tls_conn *c = ep->tls;
	union ktls_info u;
	socklen_t len;
	int proto = 0;
	socklen_t plen = sizeof(proto);

#if HAVE_GNUTLS_KTLS
	if (gnutls_transport_is_ktls_enabled(c->s))
		return; /* GnuTLS did it */
#endif
	if (c->tls->no_ktls || gnutls_protocol_get_version(c->s) != GNUTLS_TLS1_3)
		return;
	if (getsockopt(ep->fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) < 0 ||
	    proto != IPPROTO_TCP)
		return;
	if (gnutls_record_check_pending(c->s) > 0)
		return;
	if (ktls_info(c->s, false, &u, &len) < 0)
		return;
	if (setsockopt(ep->fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0)
		goto out;
	c->ktls_tx = setsockopt(ep->fd, SOL_TLS, TLS_TX, &u, len) == 0;
	if (ktls_info(c->s, true, &u, &len) == 0)
		c->ktls_rx = setsockopt(ep->fd, SOL_TLS, TLS_RX, &u, len) == 0;
out:
	explicit_bzero(&u, sizeof(u));
}

/* One recvmsg on a kTLS socket: the count, or -errno; *@type the record's type. */
static ssize_t ktls_recv(int fd, void *buf, size_t size, int flags, uint8_t *type)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec v = {.iov_base = buf, .iov_len = size};
	struct msghdr m = {
		.msg_iov = &v,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | flags);

	*type = REC_DATA;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_level == SOL_TLS && h->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *(uint8_t *)CMSG_DATA(h);
	return n;
}

static ssize_t ktls_read_some(struct vfm_endpoint *ep, void *buf, size_t size)
{
	struct tls_conn *c = ep->tls;

	for (;;) {
		uint8_t type, alert[2] = {0, 0};
		bool small = size < sizeof(alert);
		ssize_t n;
		int r;

		if (c->ktls_eof)
			return 0;
		/* A control record comes alone and whole: to read fewer bytes than an
		 * alert, look at the record's type first. */
		n = ktls_recv(ep->fd, small ? alert : buf, small ? sizeof(alert) : size,
			      small ? MSG_PEEK : 0, &type);
		if (n > 0 && type == REC_DATA && small)
			n = ktls_recv(ep->fd, buf, size, 0, &type);
		else if (n > 0 && small)
			n = ktls_recv(ep->fd, alert, sizeof(alert), 0, &type);
		if (n > 0 && type == REC_DATA) {
			__atomic_fetch_add(&ep->bytes_read, (uint64_t)n,
					   __ATOMIC_RELAXED);
			return n;
		}
		if (n > 0 && type == REC_ALERT) {
			if (!small)
				memcpy(alert, buf, MIN((size_t)n, sizeof(alert)));
			if (alert[1] == GNUTLS_A_CLOSE_NOTIFY) {
				c->ktls_eof = true;
				return 0;
			}
			return -ECONNRESET;
		}
		if (n > 0)
			return -EPROTO; /* a post-handshake message */
		if (n == 0)
			return 0;
		if (n == -EINTR)
			continue;
		if (n != -EAGAIN)
			return n == -EBADMSG ? -EPROTO : n;
		r = wait_fd(ep->fd, POLLIN, io_deadline(ep),
			    ep->cancel_fd);
		if (r < 0)
			return r;
	}
}

/* close_notify as a kTLS alert record. */
static int ktls_bye(struct vfm_endpoint *ep)
{
	uint64_t deadline = io_deadline(ep);
	uint8_t alert[2] = {GNUTLS_AL_WARNING, GNUTLS_A_CLOSE_NOTIFY};

	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(uint8_t))] = {0};
		struct iovec v = {.iov_base = alert, .iov_len = sizeof(alert)};
		struct msghdr m = {
			.msg_iov = &v,
			.msg_iovlen = 1,
			.msg_control = cbuf,
			.msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		ssize_t n;
		int r;

		h->cmsg_level = SOL_TLS;
		h->cmsg_type = TLS_SET_RECORD_TYPE;
		h->cmsg_len = CMSG_LEN(sizeof(uint8_t));
		*(uint8_t *)CMSG_DATA(h) = REC_ALERT;
		n = sendmsg(ep->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(alert))
			return 0;
		if (n >= 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = wait_fd(ep->fd, POLLOUT, deadline, ep->cancel_fd);
		if (r < 0)
			return r;
	}
}

ssize_t tls_read_some(struct vfm_endpoint *ep, void *buf, size_t size)
{
	struct tls_conn *c = ep->tls;

	if (c->ktls_rx)
		return ktls_read_some(ep, buf, size);

	for (;;) {
		ssize_t n = gnutls_record_recv(c->s, buf, size);
		int e = errno, r;

		if (n >= 0) {
			__atomic_fetch_add(&ep->bytes_read, (uint64_t)n,
					   __ATOMIC_RELAXED);
			return n;
		}
		/* The stream's END record and totals catch a truncation: a peer gone
		 * without close_notify reads as end of stream, as plaintext does. */
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n != GNUTLS_E_AGAIN)
			return tls_errno((int)n, e);
		r = wait_fd(ep->fd, tls_events(c, true), io_deadline(ep),
			    ep->cancel_fd);
		if (r < 0)
			return r;
	}
}

/* Send all of @buf: 0 or -errno.  @deadline (usec, 0 = none) fixed, or per wait from
 * the endpoint's timeout when @fixed is false. */
static int send_all(struct vfm_endpoint *ep, const void *buf, size_t size, bool fixed,
		    uint64_t deadline)
{
	struct tls_conn *c = ep->tls;
	size_t done = 0;

	while (done < size) {
		ssize_t n = gnutls_record_send(c->s, (const uint8_t *)buf + done,
					       size - done);
		int e = errno, r;

		if (n > 0) {
			done += (size_t)n;
			if (!fixed)
				__atomic_fetch_add(&ep->bytes_written, (uint64_t)n,
						   __ATOMIC_RELAXED);
			continue;
		}
		/* GNUTLS_E_AGAIN: call again with the same data (it may have kept
		 * part of the record); GnuTLS accepts that. */
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n != GNUTLS_E_AGAIN) {
			if (fixed)
				c->send_error = (int)n;
			return n == 0 ? -EIO : tls_errno((int)n, e);
		}
		r = wait_fd(ep->fd, tls_events(c, false),
			    fixed ? deadline : io_deadline(ep),
			    ep->cancel_fd);
		if (r < 0)
			return r;
	}
	return 0;
}

bool tls_kernel_tx(const struct vfm_endpoint *ep)
{
	return ep->tls->ktls_tx;
}

int tls_writev(struct vfm_endpoint *ep, const struct iovec *iov, size_t cnt)
{
	for (size_t i = 0; i < cnt; i++) {
		int r = send_all(ep, iov[i].iov_base, iov[i].iov_len, false, 0);

		if (r < 0)
			return r;
	}
	return 0;
}

int tls_shutdown_write(struct vfm_endpoint *ep)
{
	struct tls_conn *c = ep->tls;
	uint64_t deadline = io_deadline(ep);

	if (ep->write_shut)
		return 0;
	if (c->ktls_tx && !c->bye_sent) {
		int r = ktls_bye(ep);

		/* as below: a peer gone after our last record is not an error */
		if (r < 0 && r != -EPIPE && r != -ECONNRESET && r != -ENOTCONN)
			return r;
		c->bye_sent = true;
	}
	while (!c->bye_sent) {
		int g = gnutls_bye(c->s, GNUTLS_SHUT_WR), e = errno, r;

		if (g == GNUTLS_E_SUCCESS) {
			c->bye_sent = true;
			break;
		}
		if (g == GNUTLS_E_INTERRUPTED)
			continue;
		/* The peer closed after what we wrote last was handed to the kernel
		 * (a source closes once it has read our verdict, and our close_notify
		 * finds no reader): the same as a plaintext half-close, which does
		 * not know either whether the peer read it.  Not an error. */
		if (g == GNUTLS_E_PUSH_ERROR &&
		    (e == EPIPE || e == ECONNRESET || e == ENOTCONN))
			break;
		if (g != GNUTLS_E_AGAIN)
			return tls_errno(g, e);
		r = wait_fd(ep->fd, POLLOUT, deadline, ep->cancel_fd);
		if (r < 0)
			return r;
	}
	/* ENOTCONN: the peer closed the whole connection after our close_notify was
	 * queued (it resets it when that record arrives unread): all we wrote was
	 * handed to the kernel, which is what a plaintext half-close promises too. */
	if (shutdown(ep->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -errno;
	ep->write_shut = true;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* the handshake                                                             */

/* Why the handshake failed, from our side's point of view. */
static int handshake_reason(struct tls_conn *c, int g, char *why, size_t size)
{
	gnutls_datum_t out = {NULL, 0};
	unsigned status;

	switch (g) {
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		snprintf(why, size, "the peer refused the connection: TLS alert '%s'",
			 gnutls_alert_get_name(gnutls_alert_get(c->s)));
		return -ECONNREFUSED;
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_ERROR:
		status = gnutls_session_get_verify_cert_status(c->s);
		if (status && gnutls_certificate_verification_status_print(
				      status, GNUTLS_CRT_X509, &out, 0) == 0) {
			snprintf(why, size, "the peer's certificate was refused: %s",
				 (const char *)out.data);
			gnutls_free(out.data);
			for (size_t n = strlen(why); n && why[n - 1] == ' ';)
				why[--n] = '\0';
		} else {
			snprintf(why, size, "the peer's certificate was refused: %s",
				 gnutls_strerror(g));
		}
		return -EACCES;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		snprintf(why, size, "the peer presented no certificate");
		return -EACCES;
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
	case GNUTLS_E_UNEXPECTED_PACKET:
	case GNUTLS_E_RECORD_OVERFLOW:
		snprintf(why, size, "the peer does not speak TLS (%s): a plaintext peer?",
			 gnutls_strerror(g));
		return -EPROTO;
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PULL_ERROR:
		snprintf(why, size,
			 "the peer closed the connection during the handshake "
			 "(a plaintext or refusing peer?)");
		return -ECONNRESET;
	default: break;
	}
	if (c->unknown_identity[0]) {
		snprintf(why, size, "unknown PSK identity '%s'", c->unknown_identity);
		return -EACCES;
	}
	snprintf(why, size, "%s", gnutls_strerror(g));
	if (c->tls->psk &&
	    (g == GNUTLS_E_DECRYPTION_FAILED || g == GNUTLS_E_INSUFFICIENT_CREDENTIALS ||
	     g == GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER || g == GNUTLS_E_NO_CIPHER_SUITES))
		reason_add(why, size, " (a different pre-shared key?)");
	return -EPROTO;
}

/* After the handshake: the peer's DN (x509), for checks and the report. */
static int peer_dn(struct tls_conn *c, char *dn, size_t size, char *why, size_t wsize)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = {NULL, 0};
	unsigned n = 0;
	int g;

	certs = gnutls_certificate_get_peers(c->s, &n);
	if (!certs || n == 0) {
		snprintf(why, wsize, "the peer presented no certificate");
		return -EACCES;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	g = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
	if (g == 0)
		g = gnutls_x509_crt_get_dn2(crt, &d);
	gnutls_x509_crt_deinit(crt);
	if (g < 0) {
		snprintf(why, wsize, "the peer's certificate: %s", gnutls_strerror(g));
		return -EACCES;
	}
	/* The DN may hold anything (a NUL, escapes): match what we got, bounded. */
	if (d.size >= size) {
		gnutls_free(d.data);
		snprintf(why, wsize, "the peer's certificate DN is longer than %zu bytes",
			 size - 1);
		return -EACCES;
	}
	snprintf(dn, size, "%.*s", (int)d.size, (char *)d.data);
	if (strlen(dn) != d.size) {
		gnutls_free(d.data);
		snprintf(why, wsize, "the peer's certificate DN is not a string");
		return -EACCES;
	}
	gnutls_free(d.data);
	return 0;
}

/* Wait for one record of I/O within @deadline: returns 0 or < 0. */
static int exchange_byte(struct vfm_endpoint *ep, bool send, uint64_t deadline,
			 unsigned budget_ms, char *why, size_t wsize)
{
	struct tls_conn *c = ep->tls;
	uint8_t b = ACCEPT_BYTE;

	if (send) {
		int r = send_all(ep, &b, 1, true, deadline);

		if (r < 0 && c->send_error) {
			/* the peer's alert, if it sent one, says more than our send */
			gnutls_record_recv(c->s, &b, 1);
			r = handshake_reason(c,
					     gnutls_alert_get(c->s)
						     ? GNUTLS_E_FATAL_ALERT_RECEIVED
						     : c->send_error,
					     why, wsize);
			return r == -EACCES ? -ECONNREFUSED : r;
		}
		if (r < 0)
			snprintf(why, wsize, "sending our acceptance: %s", strerror(-r));
		return r;
	}
	for (;;) {
		ssize_t n = gnutls_record_recv(c->s, &b, 1);
		int r;

		if (n == 1 && b == ACCEPT_BYTE)
			return 0;
		if (n == 1 || n == 0) {
			snprintf(why, wsize,
				 n ? "the peer sent no acceptance (not vfiomig?)"
				   : "the peer closed the connection");
			return n ? -EPROTO : -ECONNREFUSED;
		}
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n != GNUTLS_E_AGAIN) {
			r = handshake_reason(c, (int)n, why, wsize);
			return r == -EACCES ? -ECONNREFUSED : r;
		}
		r = wait_fd(ep->fd, tls_events(c, true), deadline, ep->cancel_fd);
		if (r == -ETIMEDOUT)
			snprintf(why, wsize,
				 "no answer from the peer within the handshake's "
				 "%u ms",
				 budget_ms);
		else if (r < 0)
			snprintf(why, wsize, "%s",
				 r == -ECANCELED ? "canceled" : strerror(-r));
		if (r < 0)
			return r;
	}
}

static void describe(struct vfm_endpoint *ep, const char *dn)
{
	struct tls_conn *c = ep->tls;
	const char *cipher = gnutls_cipher_get_name(gnutls_cipher_get(c->s));
	const char *crypto = "user-space crypto";
	char shown[DN_SHOW_MAX + 8];

#if HAVE_GNUTLS_KTLS
	switch (gnutls_transport_is_ktls_enabled(c->s)) {
	case GNUTLS_KTLS_DUPLEX: crypto = "kTLS"; break;
	case GNUTLS_KTLS_SEND: crypto = "kTLS send, user-space receive"; break;
	case GNUTLS_KTLS_RECV: crypto = "kTLS receive, user-space send"; break;
	default: break;
	}
#endif
	if (c->ktls_tx && c->ktls_rx)
		crypto = "kTLS";
	else if (c->ktls_tx)
		crypto = "kTLS send, user-space receive";
	else if (c->ktls_rx)
		crypto = "kTLS receive, user-space send";
	if (c->tls->psk) {
		const char *id = c->tls->server ? gnutls_psk_server_get_username(c->s)
						: c->tls->keys[0].identity;

		escape(shown, sizeof(shown), id ? id : "", 32);
		snprintf(ep->security, sizeof(ep->security),
			 "TLS 1.3 %.20s, PSK identity '%.48s', %s", cipher ? cipher : "?",
			 shown, crypto);
	} else {
		escape(shown, sizeof(shown), dn, 64);
		snprintf(ep->security, sizeof(ep->security),
			 "TLS 1.3 %.20s, x509 peer '%.72s', %s", cipher ? cipher : "?",
			 shown, crypto);
	}
}

/*
 * Server: a TLS client speaks first, with a handshake record (0x16).  Anything else
 * is a plaintext peer (our stream starts with its magic): say so now rather than let
 * GnuTLS wait for the rest of a "record" that never comes.
 */
static int first_byte(struct vfm_endpoint *ep, uint64_t deadline, unsigned budget_ms,
		      char *why, size_t wsize)
{
	for (;;) {
		uint8_t b;
		ssize_t n = recv(ep->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		int r;

		if (n == 1 && b == 0x16)
			return 0;
		if (n == 1) {
			snprintf(why, wsize,
				 "the peer does not speak TLS (first byte 0x%02x): a "
				 "plaintext "
				 "peer?",
				 b);
			return -EPROTO;
		}
		if (n == 0) {
			snprintf(why, wsize,
				 "the peer closed the connection before a TLS hello");
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			r = negative_errno();
			snprintf(why, wsize, "%s", strerror(-r));
			return r;
		}
		r = wait_fd(ep->fd, POLLIN, deadline, ep->cancel_fd);
		if (r == -ETIMEDOUT)
			snprintf(why, wsize, "no TLS hello within %u ms", budget_ms);
		else if (r < 0)
			snprintf(why, wsize, "%s",
				 r == -ECANCELED ? "canceled" : strerror(-r));
		if (r < 0)
			return r;
	}
}

/* The handshake and the acceptances, all before @deadline (usec, monotonic). */
static int start_tls(struct vfm_endpoint *ep, struct vfm_tls *tls, const char *peer_host,
		     uint64_t deadline, unsigned budget_ms, struct vfm_transport_err *err)
{
	char why[REASON_MAX] = "", dn[1024] = "";
	struct tls_conn *c;
	const char *name = NULL;
	int g, r;

	if (!ep->net_socket || ep->fd < 0 || ep->write_shut)
		return fail(err, -EINVAL, "%s: TLS runs on tcp:// and unix: sockets only",
			    ep->desc);
	if (ep->tls)
		return fail(err, -EINVAL, "%s: TLS runs already", ep->desc);
	c = calloc(1, sizeof(*c));
	if (!c)
		return fail(err, -ENOMEM, "out of memory");
	c->tls = tls_ref(tls);
	ep->tls = c;

	g = gnutls_init(&c->s, (tls->server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
				       GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL |
				       GNUTLS_NO_TICKETS);
	if (g < 0) {
		c->s = NULL;
		return fail(err, -ENOMEM, "%s: GnuTLS: %s", ep->desc, gnutls_strerror(g));
	}
	gnutls_session_set_ptr(c->s, c);
	g = gnutls_priority_set(c->s, tls->prio);
	if (g == 0 && tls->psk)
		g = gnutls_credentials_set(c->s, GNUTLS_CRD_PSK,
					   tls->server ? (void *)tls->psk_server
						       : (void *)tls->psk_client);
	else if (g == 0)
		g = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, tls->x509);
	if (g < 0)
		return fail(err, -EINVAL, "%s: GnuTLS: %s", ep->desc, gnutls_strerror(g));
	if (!tls->psk) {
		if (!tls->server) {
			name = tls->hostname		 ? tls->hostname
			       : peer_host && *peer_host ? peer_host
							 : NULL;
			/* SNI for a DNS name, not for an address literal */
			if (name && strspn(name, "0123456789.:") != strlen(name))
				gnutls_server_name_set(c->s, GNUTLS_NAME_DNS, name,
						       strlen(name));
		} else {
			gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
			/* No list of our CAs in the request: a client then sends the
			 * certificate it has, and a wrong one is refused as "issuer
			 * unknown" rather than looking like no certificate at all. */
			gnutls_certificate_send_x509_rdn_sequence(c->s, 1);
		}
		/* Chain, dates, CRL, name (client), and the key purpose when the
		 * certificate states one (certtool's tls_www_server/_client). */
		gnutls_session_set_verify_cert(c->s, name, 0);
	}
	gnutls_transport_set_int(c->s, ep->fd);
	if (tls->server) {
		r = first_byte(ep, deadline, budget_ms, why, sizeof(why));
		if (r < 0)
			return fail(err, r, "%s: TLS handshake failed: %s", ep->desc,
				    why);
	}

	for (;;) {
		g = gnutls_handshake(c->s);
		if (g == GNUTLS_E_SUCCESS)
			break;
		if (g == GNUTLS_E_INTERRUPTED ||
		    (g != GNUTLS_E_AGAIN && g < 0 && !gnutls_error_is_fatal(g))) {
			/* a warning alert, a signal: call again, within the deadline */
			if (now_usec() < deadline)
				continue;
			r = -ETIMEDOUT;
		} else if (g == GNUTLS_E_AGAIN) {
			r = wait_fd(ep->fd,
				    gnutls_record_get_direction(c->s) ? POLLOUT : POLLIN,
				    deadline, ep->cancel_fd);
		} else {
			r = 1; /* fatal: below */
		}
		if (r <= 0) {
			if (r == -ETIMEDOUT)
				return fail(
					err, r,
					"%s: TLS handshake failed: not done within %u ms",
					ep->desc, budget_ms);
			if (r == -ECANCELED)
				return fail(err, r, "%s: TLS handshake: canceled",
					    ep->desc);
			if (r < 0)
				return fail(err, r, "%s: TLS handshake: %s", ep->desc,
					    strerror(-r));
			continue;
		}
		r = handshake_reason(c, g, why, sizeof(why));
		/* Tell the peer why, where GnuTLS has not (best effort, non-blocking). */
		if (g != GNUTLS_E_FATAL_ALERT_RECEIVED &&
		    g != GNUTLS_E_PREMATURE_TERMINATION && g != GNUTLS_E_PULL_ERROR &&
		    g != GNUTLS_E_PUSH_ERROR)
			(void)gnutls_alert_send_appropriate(c->s, g);
		return fail(err, r, "%s: TLS handshake failed: %s", ep->desc, why);
	}

	if (!tls->psk) {
		r = peer_dn(c, dn, sizeof(dn), why, sizeof(why));
		if (r == 0 && !vfm_tls_dn_allowed(dn, (const char *const *)tls->authz,
						  tls->n_authz)) {
			char shown[DN_SHOW_MAX + 8];

			escape(shown, sizeof(shown), dn, DN_SHOW_MAX);
			snprintf(why, sizeof(why),
				 "the peer's DN '%s' matches no allowed pattern", shown);
			r = -EACCES;
		}
		if (r < 0) {
			(void)gnutls_alert_send(c->s, GNUTLS_AL_FATAL,
						GNUTLS_A_ACCESS_DENIED);
			return fail(err, r, "%s: TLS peer refused: %s", ep->desc, why);
		}
	}

	/* Client: accept, then hear the server's acceptance; server: hear, accept. */
	r = exchange_byte(ep, !tls->server, deadline, budget_ms, why, sizeof(why));
	if (r == 0)
		r = exchange_byte(ep, tls->server, deadline, budget_ms, why, sizeof(why));
	if (r < 0)
		return fail(err, r, "%s: TLS handshake failed: %s", ep->desc, why);
	ktls_start(ep);
	describe(ep, dn);
	return 0;
}

_public_ int vfm_endpoint_start_tls(struct vfm_endpoint *ep, struct vfm_tls *tls,
				    const char *peer_host, struct vfm_transport_err *err)
{
	return start_tls(ep, tls, peer_host,
			 now_usec() + (uint64_t)tls->handshake_timeout_ms * 1000,
			 tls->handshake_timeout_ms, err);
}

_public_ int vfm_listener_accept_tls(struct vfm_listener *l, struct vfm_tls *tls,
				     unsigned timeout_ms, int cancel_fd,
				     void (*on_reject)(void *ud, const char *why),
				     void *ud, struct vfm_endpoint **ret_ep,
				     struct vfm_transport_err *err)
{
	uint64_t deadline = deadline_after(timeout_ms);

	if (!tls->server)
		return fail(err, -EINVAL, "TLS credentials of a client cannot accept");
	for (;;) {
		struct vfm_transport_err perr = {""};
		struct vfm_endpoint *ep = NULL;
		uint64_t hs_deadline;
		unsigned left = 0, budget;
		int r;

		if (deadline) {
			uint64_t now = now_usec();

			if (now >= deadline)
				return fail(err, -ETIMEDOUT,
					    "no authenticated peer on %s within %u ms",
					    vfm_listener_uri(l), timeout_ms);
			left = (unsigned)MIN((deadline - now + 999) / 1000,
					     (uint64_t)UINT_MAX);
		}
		r = vfm_listener_accept(l, left, cancel_fd, &ep, err);
		if (r == -ETIMEDOUT)
			return fail(err, r, "no authenticated peer on %s within %u ms",
				    vfm_listener_uri(l), timeout_ms);
		if (r < 0)
			return r;
		/* The handshake ends at its own deadline or the accept's, the earlier. */
		hs_deadline = now_usec() + (uint64_t)tls->handshake_timeout_ms * 1000;
		budget = tls->handshake_timeout_ms;
		if (deadline && deadline < hs_deadline) {
			budget = (unsigned)((deadline - now_usec() + 999) / 1000);
			hs_deadline = deadline;
		}
		r = start_tls(ep, tls, NULL, hs_deadline, budget, &perr);
		if (r == 0) {
			vfm_endpoint_set_timeout(ep, timeout_ms);
			*ret_ep = ep;
			return 0;
		}
		vfm_endpoint_free(ep);
		if (r == -ECANCELED)
			return fail(err, r, "waiting for a connection on %s: canceled",
				    vfm_listener_uri(l));
		if (r == -ENOMEM)
			return fail(err, r, "%s", perr.msg);
		if (on_reject)
			on_reject(ud, perr.msg);
	}
}
