// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfm-bench: save -> loopback TCP -> restore of simulated devices with the real
 * vfiomig binary, against two baselines measured in the same run:
 *
 *   A  plain TCP: the same number of bytes from a buffer through a loopback socket
 *      (what a bare copy tool would do; no device work at all);
 *   B  device bytes over TCP: the same simulated devices read in STOP_COPY, their
 *      bytes sent through a loopback socket and written into the destination
 *      devices, which validate them: everything vfiomig does but its protocol
 *      (header, compatibility answer, framing, CRC32C, precopy, barriers, verdict).
 *
 * Prints, per (devices, total state size): seconds and GB/s of each, the ratios, the
 * peak RSS of the save and restore processes, and the save's downtime (first device
 * quiesced to the destination's verdict, from its report) with precopy and without.
 *
 * After the table, what a migration of one 4 KiB device takes (median of 21), for
 * vfiomig and for B: the part of every row's time that does not depend on its size.
 * Each row runs its variants (vfiomig, A, B, vfiomig --no-precopy, and the --streams
 * and --tls rows) once per repetition, in turn, and keeps each one's best.
 *
 * --write-mbps N makes the destination devices (of vfiomig's run and of B) take their
 * data at N MB/s each: drivers that load state slowly.  B writes them one after the
 * other; vfiomig loads them in parallel, so v/B then shows what that gains.
 *
 * --tls adds, under each row, the same vfiomig run over TLS 1.3 (x509, mutual
 * authentication, ECDSA P-256 certificates made once per run with certtool into a
 * temporary folder in QEMU's tls-creds-x509 layout): its seconds, GB/s, its ratio to
 * the plaintext vfiomig run of the row above (TLS/v) and the record layer that ran, as
 * the save's report names it on its "security:" line.  Where the kernel has the tls
 * ULP there are two TLS rows: VFIOMIG_NO_KTLS=1 (user-space crypto) and the default
 * (kTLS); elsewhere one, which then runs user-space crypto.  After the table, the
 * handshake: the median over --handshakes N (default 20) of
 *   - connect to vfm_endpoint_start_tls() returning in this process (the library's
 *     code: TCP connect, the TLS 1.3 handshake with both certificates checked, and the
 *     acceptance byte each way), credentials loaded beforehand, against a plain
 *     connect plus one byte back;
 *   - a whole vfiomig save -> restore of one 4 KiB device with and without TLS: what
 *     TLS adds to a migration's wall time (two processes loading credentials, the
 *     handshake, the record layer for a few KiB).
 * bench/guest-tls-bench.sh runs it in the qemu test guest, whose kernel has kTLS.
 *
 * --streams 2,4 adds, under each row, the same vfiomig run with --streams N (the data
 * over N more connections): its seconds, GB/s, its ratio to the one-connection run
 * (N/v) and its downtime.  On loopback nothing caps a flow, so this shows what the
 * data connections cost; bench/guest-streams-bench.sh shows what they buy where
 * each flow is capped.
 *
 * --pin SRC,DST puts every variant's sending side (its threads too) on CPU SRC and its
 * receiving side on CPU DST; by default the second and the first CPU this process may
 * use, where it may use two; --no-pin leaves them to the scheduler.
 *
 *   vfm-bench [--vfiomig PATH] [--devices 1,4,16] [--sizes 64M,1G,4G] [--repeat N]
 *             [--write-mbps N] [--tls] [--handshakes N] [--streams 2,4]
 *             [--pin SRC,DST | --no-pin]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport.h"
#include "util.h"
#include "vfiomig.h"

#define MAXD 64
#define BUF (1u << 20)

static uint64_t write_mbps; /* 0: the destination devices are as fast as memory */

/*
 * The CPUs the sending and the receiving side run on (-1: not pinned).  On this
 * project's 2-vCPU machine the same save took 0.36 s on one vCPU and 0.28 s on the
 * other, every time: unpinned, which one a run's sender lands on swung a row's ratio
 * by up to 0.4.  Every variant (A, B, vfiomig and its threads) is pinned alike.
 */
static int pin_src = -1, pin_dst = -1;

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		_exit(125);
}

/* ",write-mbps=N" for a destination spec, or "" */
static const char *dst_extra(void)
{
	static char s[40];

	if (!write_mbps)
		return "";
	snprintf(s, sizeof(s), ",write-mbps=%llu", (unsigned long long)write_mbps);
	return s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t read_all(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

struct result {
	double secs;
	long rss_src_kib, rss_dst_kib;
	int ok;
	char layer[64]; /* vfiomig runs: the record layer the save's report names */
	double downtime_ms; /* vfiomig runs: the save's downtime (quiesce to verdict) */
};

/* A vfiomig run's TLS: none (creds NULL), or x509 from creds/{server,client}. */
struct tls_mode {
	const char *creds;
	bool no_ktls; /* VFIOMIG_NO_KTLS=1 in both processes */
	bool no_precopy; /* the save runs with --no-precopy */
	unsigned streams; /* the save runs with --streams N (0: not given) */
};

static void wait_child(pid_t pid, int *status, long *rss)
{
	struct rusage ru;

	if (wait4(pid, status, 0, &ru) < 0) {
		*status = -1;
		return;
	}
	*rss = ru.ru_maxrss;
}

/* ---- A: plain TCP copy ---- */

static struct result plain_tcp(uint64_t total)
{
	struct result res = { 0 };
	uint16_t port;
	int lfd = listen_any(&port), st1, st2;
	double t0 = now();
	pid_t rx, tx;

	rx = fork();
	if (rx == 0) {
		pin(pin_dst);
		char *buf = malloc(BUF);
		int c = accept(lfd, NULL, NULL);
		uint64_t got = 0;
		ssize_t r;

		while ((r = read(c, buf, BUF)) > 0)
			got += (uint64_t)r;
		_exit(got == total ? 0 : 1);
	}
	tx = fork();
	if (tx == 0) {
		pin(pin_src);
		char *buf = malloc(BUF);
		int c = connect_to(port);

		memset(buf, 0x5a, BUF);
		for (uint64_t left = total; left;) {
			size_t k = left < BUF ? (size_t)left : BUF;

			if (write_all(c, buf, k) < 0)
				_exit(1);
			left -= k;
		}
		_exit(0);
	}
	close(lfd);
	wait_child(tx, &st1, &res.rss_src_kib);
	wait_child(rx, &st2, &res.rss_dst_kib);
	res.secs = now() - t0;
	res.ok = st1 == 0 && st2 == 0;
	return res;
}

/* ---- B: the device bytes through TCP, no protocol ---- */

static int open_sims(struct vfm_ctx *ctx, int n, uint64_t per, int dst, struct vfm_device **d)
{
	for (int i = 0; i < n; i++) {
		char spec[128];

		if (dst)
			snprintf(spec, sizeof(spec), "sim:x%d,size=%llu,expect-seed=%d%s", i,
				 (unsigned long long)per, 1000 + i, dst_extra());
		else
			snprintf(spec, sizeof(spec), "sim:a%d,size=%llu,seed=%d", i,
				 (unsigned long long)per, 1000 + i);
		if (vfm_device_open(ctx, spec, &d[i]) < 0)
			return -1;
	}
	return 0;
}

static struct result device_bytes_tcp(int n, uint64_t per)
{
	struct result res = { 0 };
	uint16_t port;
	int lfd = listen_any(&port), st1, st2;
	double t0 = now();
	pid_t rx, tx;

	rx = fork();
	if (rx == 0) {
		pin(pin_dst);
		struct vfm_ctx *ctx;
		struct vfm_device *d[MAXD];
		char *buf = malloc(BUF);
		int c = accept(lfd, NULL, NULL);

		if (vfm_ctx_new(&ctx) < 0 || open_sims(ctx, n, per, 1, d) < 0)
			_exit(2);
		for (int i = 0; i < n; i++)
			if (vfm_device_set_state(d[i], VFM_STATE_RESUMING, NULL) < 0)
				_exit(3);
		for (int i = 0; i < n; i++) {
			for (uint64_t left = per + 32; left;) {
				size_t k = left < BUF ? (size_t)left : BUF;

				if (read_all(c, buf, k) != (ssize_t)k)
					_exit(4);
				for (size_t off = 0; off < k;) {
					ssize_t w = vfm_device_write(d[i], buf + off, k - off);

					if (w <= 0)
						_exit(5);
					off += (size_t)w;
				}
				left -= k;
			}
			if (vfm_device_set_state(d[i], VFM_STATE_STOP, NULL) < 0)
				_exit(6); /* the device validates what it got */
		}
		_exit(0);
	}
	tx = fork();
	if (tx == 0) {
		pin(pin_src);
		struct vfm_ctx *ctx;
		struct vfm_device *d[MAXD];
		char *buf = malloc(BUF);
		int c = connect_to(port);

		if (vfm_ctx_new(&ctx) < 0 || open_sims(ctx, n, per, 0, d) < 0)
			_exit(2);
		for (int i = 0; i < n; i++) {
			ssize_t r;

			if (vfm_device_drive(d[i], VFM_STATE_STOP_COPY, 0, NULL, NULL, NULL) < 0)
				_exit(3);
			while ((r = vfm_device_read(d[i], buf, BUF)) > 0)
				if (write_all(c, buf, (size_t)r) < 0)
					_exit(4);
			if (r < 0)
				_exit(5);
		}
		_exit(0);
	}
	close(lfd);
	wait_child(tx, &st1, &res.rss_src_kib);
	wait_child(rx, &st2, &res.rss_dst_kib);
	res.secs = now() - t0;
	res.ok = st1 == 0 && st2 == 0;
	return res;
}

/* ---- vfiomig save -> restore ---- */

/* From the save's text report: "user-space crypto" from "  security: TLS 1.3
 * AES-256-GCM, peer ..., user-space crypto", and the figure of ", downtime 12.3 ms". */
static void parse_report(FILE *f, char *out, size_t size, double *downtime_ms)
{
	char line[1024];

	snprintf(out, size, "?");
	*downtime_ms = -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "security: "), *c, *d = strstr(line, ", downtime ");

		if (d)
			*downtime_ms = strtod(d + strlen(", downtime "), NULL);
		if (!p)
			continue;
		p += strlen("security: ");
		p[strcspn(p, "\n")] = '\0';
		c = strrchr(p, ',');
		snprintf(out, size, "%s", c ? c + 2 : p);
		return;
	}
}

static struct result vfiomig_run(const char *vfiomig, int n, uint64_t per,
				 const struct tls_mode *tm)
{
	struct result res = { 0 };
	char *rargv[MAXD + 10], *sargv[MAXD + 10], specs[2][MAXD][128], uri[128] = "",
						   line[256], screds[4096], ccreds[4096],
						   nstreams[16];
	int pfd[2], st1 = -1, st2 = -1, k;
	FILE *rep = NULL;
	pid_t rx, tx;
	FILE *err;
	double t0;

	k = 0;
	rargv[k++] = (char *)vfiomig;
	rargv[k++] = "restore";
	for (int i = 0; i < n; i++) {
		snprintf(specs[1][i], 128, "sim:x%d,size=%llu,expect-seed=%d%s", i,
			 (unsigned long long)per, 1000 + i, dst_extra());
		rargv[k++] = specs[1][i];
	}
	rargv[k++] = "--from";
	rargv[k++] = "tcp://127.0.0.1:0";
	rargv[k++] = "--no-progress";
	if (tm->creds) {
		snprintf(screds, sizeof(screds), "%s/server", tm->creds);
		snprintf(ccreds, sizeof(ccreds), "%s/client", tm->creds);
		rargv[k++] = "--tls-creds";
		rargv[k++] = screds;
	}
	rargv[k] = NULL;

	/* the save's report, for its security line */
	rep = tmpfile();
	if (!rep || pipe(pfd) < 0) {
		if (rep)
			fclose(rep);
		return res;
	}
	t0 = now();
	rx = fork();
	if (rx == 0) {
		pin(pin_dst);
		dup2(pfd[1], 2);
		close(pfd[0]);
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
		if (tm->no_ktls)
			setenv("VFIOMIG_NO_KTLS", "1", 1);
		execv(vfiomig, rargv);
		_exit(127);
	}
	close(pfd[1]);
	err = fdopen(pfd[0], "r");
	while (fgets(line, sizeof(line), err))
		if (sscanf(line, "vfiomig: listening on %127s", uri) == 1)
			break;
	if (!uri[0]) {
		kill(rx, SIGKILL);
		waitpid(rx, NULL, 0);
		fclose(err);
		fclose(rep);
		return res;
	}

	k = 0;
	sargv[k++] = (char *)vfiomig;
	sargv[k++] = "save";
	for (int i = 0; i < n; i++) {
		snprintf(specs[0][i], 128, "sim:a%d,size=%llu,seed=%d", i, (unsigned long long)per,
			 1000 + i);
		sargv[k++] = specs[0][i];
	}
	sargv[k++] = "--to";
	sargv[k++] = uri;
	sargv[k++] = "--no-progress";
	if (tm->no_precopy)
		sargv[k++] = "--no-precopy";
	if (tm->streams) {
		snprintf(nstreams, sizeof(nstreams), "%u", tm->streams);
		sargv[k++] = "--streams";
		sargv[k++] = nstreams;
	}
	if (tm->creds) {
		sargv[k++] = "--tls-creds";
		sargv[k++] = ccreds;
	}
	sargv[k] = NULL;
	tx = fork();
	if (tx == 0) {
		pin(pin_src);
		if (dup2(fileno(rep), STDOUT_FILENO) < 0)
			_exit(126);
		if (tm->no_ktls)
			setenv("VFIOMIG_NO_KTLS", "1", 1);
		execv(vfiomig, sargv);
		_exit(127);
	}
	wait_child(tx, &st1, &res.rss_src_kib);
	wait_child(rx, &st2, &res.rss_dst_kib);
	res.secs = now() - t0;
	while (fgets(line, sizeof(line), err))
		if (strstr(line, "failed"))
			fputs(line, stderr);
	fclose(err);
	rewind(rep);
	parse_report(rep, res.layer, sizeof(res.layer), &res.downtime_ms);
	fclose(rep);
	res.ok = st1 == 0 && st2 == 0;
	return res;
}

/* ---- TLS: credentials and the handshake ---- */

/*
 * x509 credentials in QEMU's tls-creds-x509 layout, as tests/sim/tls-certs.sh makes
 * them: DIR/server (CN=dst.example, for 127.0.0.1) and DIR/client (CN=src.example).
 */
static const char certs_sh[] =
	"set -e; cd \"$1\"\n"
	"key() { certtool --generate-privkey --key-type ecdsa --curve secp256r1 "
	"--outfile \"$1\" 2>/dev/null; }\n"
	"mkdir ca server client\n"
	"key ca/ca-key.pem\n"
	"printf 'cn = \"vfm-bench CA\"\\nca\\ncert_signing_key\\nexpiration_days = 2\\n' "
	">ca/t\n"
	"certtool --generate-self-signed --load-privkey ca/ca-key.pem --template ca/t "
	"--outfile ca/ca-cert.pem 2>/dev/null\n"
	"leaf() {\n"
	"  cp ca/ca-cert.pem $1/; key $1/$1-key.pem\n"
	"  printf 'cn = \"%s\"\\norganization = \"vfm-bench\"\\nsigning_key\\n"
	"encryption_key\\nexpiration_days = 2\\n%s\\n' \"$2\" \"$3\" >$1/t\n"
	"  certtool --generate-certificate --load-privkey $1/$1-key.pem "
	"--load-ca-certificate ca/ca-cert.pem --load-ca-privkey ca/ca-key.pem "
	"--template $1/t --outfile $1/$1-cert.pem 2>/dev/null; rm $1/t\n"
	"}\n"
	"leaf server dst.example \"$(printf 'tls_www_server\\nip_address = \"127.0.0.1\"')\"\n"
	"leaf client src.example tls_www_client\n";

static int make_certs(const char *dir)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", certs_sh, "sh", dir, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Median seconds over @n connections from connect to: vfm_endpoint_start_tls()
 * returning (creds set: the handshake with both certificates checked and the
 * acceptance byte each way), or the first byte the server sends after accept (no
 * creds).  Credentials are loaded before the clock starts, on both sides.
 */
static double handshake_median(const struct tls_mode *tm, int n)
{
	struct vfm_transport_err err = { "" };
	struct vfm_listener *l = NULL;
	struct vfm_tls *ctls = NULL;
	char dir[4096], uri[VFM_URI_MAX + 1];
	struct vfm_tls_opts topts = { .size = sizeof(topts), .creds_dir = dir };
	double *t = calloc((size_t)n, sizeof(*t)), m = -1;
	int st, got = 0;
	pid_t pid;

	if (!t || vfm_listener_new("tcp://127.0.0.1:0", &l, &err) < 0)
		goto out;
	snprintf(uri, sizeof(uri), "%s", vfm_listener_uri(l));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct vfm_tls *stls = NULL;

		if (tm->no_ktls)
			setenv("VFIOMIG_NO_KTLS", "1", 1);
		snprintf(dir, sizeof(dir), "%s/server", tm->creds ? tm->creds : "");
		if (tm->creds && vfm_tls_new(&topts, true, &stls, &err) < 0)
			_exit(2);
		for (int i = 0; i < n; i++) {
			struct vfm_endpoint *ep;
			char c = 'x';

			if ((stls ? vfm_listener_accept_tls(l, stls, 10000, -1, NULL, NULL, &ep, &err)
				  : vfm_listener_accept(l, 10000, -1, &ep, &err)) < 0)
				_exit(3);
			if (!stls && vfm_endpoint_write_full(ep, &c, 1) < 0)
				_exit(4);
			vfm_endpoint_read(ep, &c, 1); /* the client's close */
			vfm_endpoint_free(ep);
		}
		_exit(0);
	}
	if (pid < 0)
		goto out;
	snprintf(dir, sizeof(dir), "%s/client", tm->creds ? tm->creds : "");
	if (tm->creds && vfm_tls_new(&topts, false, &ctls, &err) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	for (; got < n; got++) {
		struct vfm_endpoint *ep;
		double t0 = now();
		char c;

		if (vfm_endpoint_open(uri, VFM_EP_READ | VFM_EP_WRITE, 10000, -1, &ep, &err) < 0)
			break;
		if (ctls ? vfm_endpoint_start_tls(ep, ctls, "127.0.0.1", &err) < 0
			 : vfm_endpoint_read_full(ep, &c, 1) != 1) {
			vfm_endpoint_free(ep);
			break;
		}
		t[got] = now() - t0;
		vfm_endpoint_free(ep);
	}
	if (got < n)
		kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) == pid && got == n && WIFEXITED(st) && !WEXITSTATUS(st))
		m = median(t, n);
	else if (err.msg[0])
		fprintf(stderr, "vfm-bench: handshake: %s\n", err.msg);
out:
	vfm_tls_free(ctls);
	vfm_listener_free(l);
	free(t);
	return m;
}

/* Median wall seconds of @n vfiomig migrations of one 4 KiB device. */
static double tiny_median(const char *vfiomig, const struct tls_mode *tm, int n)
{
	double *t = calloc((size_t)n, sizeof(*t)), m = -1;
	int i;

	for (i = 0; t && i < n; i++) {
		struct result r;

		fflush(stdout);
		r = vfiomig_run(vfiomig, 1, 4096, tm);
		if (!r.ok)
			break;
		t[i] = r.secs;
	}
	if (t && i == n)
		m = median(t, n);
	free(t);
	return m;
}

static bool kernel_has_tls_ulp(void)
{
	char buf[256] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
	bool yes = false;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w;
			     w = strtok_r(NULL, " \n", &save))
				yes |= streq(w, "tls");
		fclose(f);
	}
	return yes;
}

static int parse_list(const char *s, uint64_t *out, int max, bool sizes)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if ((sizes ? parse_size(t, 1ull << 40, &v) : parse_u64(t, 10, MAXD, &v)) < 0 || !v) {
			free(copy);
			return -1;
		}
		out[n++] = v;
	}
	free(copy);
	return n;
}

/* One more run of @fn: *@out (and *@best, when given) keep the fastest so far.  A
 * failed run marks *@out failed for good; returns whether it ran. */
static bool keep_best(struct result (*fn)(void *), void *arg, double *best, struct result *out)
{
	struct result x;
	bool first = out->secs == 0;

	if (!first && !out->ok)
		return false;
	fflush(stdout); /* the children must not inherit buffered output */
	x = fn(arg);
	if (!x.ok) {
		out->ok = 0;
		out->secs = -1;
		return false;
	}
	if (first || x.secs < out->secs)
		*out = x;
	if (best)
		*best = out->secs;
	return true;
}

struct args {
	const char *vfiomig;
	int n;
	uint64_t per;
	const struct tls_mode *tm;
};

static struct result run_a(void *p)
{
	struct args *a = p;

	return plain_tcp(a->per * (uint64_t)a->n);
}
static struct result run_b(void *p)
{
	struct args *a = p;

	return device_bytes_tcp(a->n, a->per);
}
static struct result run_v(void *p)
{
	struct args *a = p;

	return vfiomig_run(a->vfiomig, a->n, a->per, a->tm);
}

int main(int argc, char **argv)
{
	const char *vfiomig = "build/src/cli/vfiomig";
	uint64_t devs[8] = { 1, 4, 16 }, sizes[8] = { 64ull << 20, 1ull << 30, 4ull << 30 };
	uint64_t handshakes = 20, streams[8];
	int nstr = 0;
	int nd = 3, ns = 3, repeat = 1, ntls = 0;
	bool tls = false, pin_set = false;
	char tmpdir[] = "/tmp/vfm-bench.XXXXXX";
	static const struct tls_mode plain = { 0 }, plain_nopre = { .no_precopy = true };
	struct tls_mode tms[2];
	const char *tls_label[2];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--vfiomig") && i + 1 < argc)
			vfiomig = argv[++i];
		else if (!strcmp(argv[i], "--devices") && i + 1 < argc)
			nd = parse_list(argv[++i], devs, 8, false);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
			ns = parse_list(argv[++i], sizes, 8, true);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--write-mbps") && i + 1 < argc &&
			 parse_u64(argv[i + 1], 10, 100000, &write_mbps) >= 0 && write_mbps)
			i++;
		else if (!strcmp(argv[i], "--tls"))
			tls = true;
		else if (!strcmp(argv[i], "--streams") && i + 1 < argc)
			nstr = parse_list(argv[++i], streams, 8, false);
		else if (!strcmp(argv[i], "--pin") && i + 1 < argc &&
			 sscanf(argv[i + 1], "%d,%d", &pin_src, &pin_dst) == 2 && pin_src >= 0 &&
			 pin_src < CPU_SETSIZE && pin_dst >= 0 && pin_dst < CPU_SETSIZE)
			i++, pin_set = true;
		else if (!strcmp(argv[i], "--no-pin"))
			pin_src = pin_dst = -1, pin_set = true;
		else if (!strcmp(argv[i], "--handshakes") && i + 1 < argc &&
			 parse_u64(argv[i + 1], 10, 10000, &handshakes) >= 0 && handshakes)
			i++;
		else {
			fprintf(stderr, "usage: vfm-bench [--vfiomig PATH] [--devices 1,4,16] "
					"[--sizes 64M,1G,4G] [--repeat N] [--write-mbps N] "
					"[--tls] [--handshakes N] [--streams 2,4] "
					"[--pin SRC,DST | --no-pin]\n");
			return 2;
		}
		if (nd < 0 || ns < 0 || nstr < 0 || repeat < 1) {
			fprintf(stderr, "vfm-bench: bad list or count\n");
			return 2;
		}
	}
	if (!pin_set) { /* the first two CPUs we may run on: destination, source */
		cpu_set_t set;
		int k = 0;

		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
				if (CPU_ISSET(c, &set))
					*(k++ ? &pin_src : &pin_dst) = c;
		if (k < 2)
			pin_src = pin_dst = -1;
	}
	if (access(vfiomig, X_OK) < 0) {
		fprintf(stderr, "vfm-bench: %s: not executable (--vfiomig PATH)\n", vfiomig);
		return 2;
	}
	if (tls) {
		if (!mkdtemp(tmpdir) || make_certs(tmpdir) < 0) {
			fprintf(stderr, "vfm-bench: --tls: certtool could not make credentials "
					"in %s (gnutls-bin installed?)\n", tmpdir);
			return 2;
		}
		/* Where kTLS can run, both record layers; elsewhere the default alone. */
		if (kernel_has_tls_ulp()) {
			tms[ntls] = (struct tls_mode){ tmpdir, true };
			tls_label[ntls++] = "TLS VFIOMIG_NO_KTLS=1";
		}
		tms[ntls] = (struct tls_mode){ tmpdir, false };
		tls_label[ntls++] = "TLS";
	}
	printf("# save -> loopback TCP -> restore of simulated devices, best of %d; GB = 1e9 B\n",
	       repeat);
	printf("# A: plain TCP copy of the same byte count; B: the device bytes over TCP with\n"
	       "#    no protocol (same devices, same reads, writes and validation)\n");
	if (pin_src >= 0)
		printf("# every variant's sending side runs on CPU %d, its receiving side on CPU %d "
		       "(--pin, --no-pin)\n", pin_src, pin_dst);
	if (write_mbps)
		printf("# destination devices take %llu MB/s each (B loads them one by one)\n",
		       (unsigned long long)write_mbps);
	if (tls) {
		printf("# TLS rows: the same vfiomig run over TLS 1.3, x509 both ways (ECDSA P-256);\n"
		       "#    TLS/v = plaintext vfiomig time / TLS time (the row above); the record\n"
		       "#    layer is what the save's report says on its security line\n");
		if (ntls == 1)
			printf("# this kernel has no tls ULP: no kTLS row (bench/guest-tls-bench.sh "
			       "measures kTLS in the qemu guest)\n");
	}
	printf("# downtime: the save's, first device quiesced to the destination's verdict,\n"
	       "#    of the best run with precopy (pre) and of one without (--no-precopy)\n");
	printf("%4s %8s | %8s %7s | %7s %6s | %7s %6s | %9s %9s | %9s %9s\n", "devs", "state",
	       "vfiomig", "GB/s", "A GB/s", "v/A", "B GB/s", "v/B", "RSS save", "RSS rest",
	       "down pre", "no pre");
	for (int di = 0; di < nd; di++)
		for (int si = 0; si < ns; si++) {
			struct args a = { vfiomig, (int)devs[di], sizes[si] / devs[di], &plain };
			struct args an = { vfiomig, (int)devs[di], sizes[si] / devs[di], &plain_nopre };
			struct result ra = { 0 }, rb = { 0 }, rv = { 0 }, rn = { 0 };
			double total = (double)(a.per * (uint64_t)a.n), ta, tb, tv;
			char sz[16];

			/* Every variant of the row once per repetition, in turn, so that a
			 * drift in the machine's speed (a neighbour's load) touches them
			 * alike; each keeps its best run. */
			struct tls_mode stm[8];
			struct args as[8], at[4];
			struct result rs[8] = { { 0 } }, rt[4] = { { 0 } };
			double ts[8] = { 0 }, tt[4] = { 0 };
			bool okv = true;

			for (int k = 0; k < nstr; k++) {
				stm[k] = (struct tls_mode){ .streams = (unsigned)streams[k] };
				as[k] = a;
				as[k].tm = &stm[k];
			}
			for (int ti = 0; ti < ntls; ti++) {
				at[ti] = a;
				at[ti].tm = &tms[ti];
			}
			tv = ta = tb = 0;
			for (int r = 0; r < repeat && okv; r++) {
				okv = keep_best(run_v, &a, &tv, &rv) && keep_best(run_a, &a, &ta, &ra) &&
				      keep_best(run_b, &a, &tb, &rb) && keep_best(run_v, &an, NULL, &rn);
				for (int k = 0; k < nstr; k++)
					keep_best(run_v, &as[k], &ts[k], &rs[k]);
				for (int ti = 0; ti < ntls; ti++)
					keep_best(run_v, &at[ti], &tt[ti], &rt[ti]);
			}
			snprintf(sz, sizeof(sz), "%lluM", (unsigned long long)(sizes[si] >> 20));
			if (!rv.ok || !ra.ok || !rb.ok) {
				printf("%4d %8s | run failed (vfiomig %d, A %d, B %d)\n", a.n, sz,
				       rv.ok, ra.ok, rb.ok);
				continue;
			}
			printf("%4d %8s | %7.3fs %7.2f | %7.2f %6.2f | %7.2f %6.2f | %6.1f MiB %5.1f MiB"
			       " | %6.1f ms %6.1f ms\n",
			       a.n, sz, tv, total / tv / 1e9, total / ta / 1e9, ta / tv,
			       total / tb / 1e9, tb / tv, (double)rv.rss_src_kib / 1024,
			       (double)rv.rss_dst_kib / 1024, rv.downtime_ms,
			       rn.ok ? rn.downtime_ms : -1.0);
			for (int k = 0; k < nstr; k++) {
				if (!rs[k].ok) {
					printf("%4d %8s | --streams %u: run failed\n", a.n, sz,
					       stm[k].streams);
					continue;
				}
				printf("%4d %8s | %7.3fs %7.2f | --streams %-2u: N/v %4.2f %22s | "
				       "%6.1f MiB %5.1f MiB | %6.1f ms\n",
				       a.n, sz, ts[k], total / ts[k] / 1e9, stm[k].streams, tv / ts[k],
				       "", (double)rs[k].rss_src_kib / 1024,
				       (double)rs[k].rss_dst_kib / 1024, rs[k].downtime_ms);
			}
			for (int ti = 0; ti < ntls; ti++) {
				if (!rt[ti].ok) {
					printf("%4d %8s | %s: run failed\n", a.n, sz, tls_label[ti]);
					continue;
				}
				printf("%4d %8s | %7.3fs %7.2f | %s: TLS/v %4.2f, record layer: %s | "
				       "%6.1f MiB %5.1f MiB | %6.1f ms\n",
				       a.n, sz, tt[ti], total / tt[ti] / 1e9, tls_label[ti],
				       tv / tt[ti], rt[ti].layer, (double)rt[ti].rss_src_kib / 1024,
				       (double)rt[ti].rss_dst_kib / 1024, rt[ti].downtime_ms);
			}
			fflush(stdout);
		}
	{
		/* what every migration costs whatever its size: B's two forks against
		 * vfiomig's two processes started (exec, loading, the restore listening
		 * before the save starts) and the protocol's exchanges */
		double tb[21], mv = tiny_median(vfiomig, &plain, 21), mb;
		int k;

		for (k = 0; k < 21; k++) {
			struct result r;

			fflush(stdout);
			r = device_bytes_tcp(1, 4096);
			if (!r.ok)
				break;
			tb[k] = r.secs;
		}
		mb = k == 21 ? median(tb, 21) : -1;
		printf("# one 4 KiB device, median of 21: vfiomig %.1f ms, B %.1f ms (what any "
		       "size pays)\n",
		       mv * 1e3, mb * 1e3);
	}
	if (tls) {
		double hp = handshake_median(&plain, (int)handshakes);
		double mp = tiny_median(vfiomig, &plain, (int)handshakes);

		printf("# handshake, median of %d on loopback:\n", (int)handshakes);
		printf("#   connect + one byte back, plaintext:     %8.3f ms\n", hp * 1e3);
		for (int ti = 0; ti < ntls; ti++) {
			double ht = handshake_median(&tms[ti], (int)handshakes);
			double mt = tiny_median(vfiomig, &tms[ti], (int)handshakes);

			printf("#   connect to TLS accepted both ways (%s): %8.3f ms "
			       "(in-process, credentials preloaded)\n",
			       tls_label[ti], ht * 1e3);
			printf("#   migration of one 4 KiB device: plaintext %.1f ms, %s %.1f ms, "
			       "TLS adds %.1f ms (credential loading in both processes, the "
			       "handshake, the record layer)\n",
			       mp * 1e3, tls_label[ti], mt * 1e3, (mt - mp) * 1e3);
		}
		if (fork() == 0) {
			execlp("rm", "rm", "-rf", tmpdir, (char *)NULL);
			_exit(127);
		}
		wait(NULL);
	}
	return 0;
}
