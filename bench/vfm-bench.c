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
 * Prints, per (devices, total state size): seconds and GB/s of each, the ratios, and
 * the peak RSS of the save and restore processes.
 *
 * --write-mbps N makes the destination devices (of vfiomig's run and of B) take their
 * data at N MB/s each: drivers that load state slowly.  B writes them one after the
 * other; vfiomig loads them in parallel, so v/B then shows what that gains.
 *
 *   vfm-bench [--vfiomig PATH] [--devices 1,4,16] [--sizes 64M,1G,4G] [--repeat N]
 *             [--write-mbps N]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vfiomig.h"

#define MAXD 64
#define BUF (1u << 20)

static uint64_t write_mbps; /* 0: the destination devices are as fast as memory */

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

static struct result vfiomig_run(const char *vfiomig, int n, uint64_t per)
{
	struct result res = { 0 };
	char *rargv[MAXD + 8], *sargv[MAXD + 8], specs[2][MAXD][128], uri[128] = "", line[256];
	int pfd[2], st1 = -1, st2 = -1, k;
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
	rargv[k] = NULL;

	if (pipe(pfd) < 0)
		return res;
	t0 = now();
	rx = fork();
	if (rx == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
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
	sargv[k] = NULL;
	tx = fork();
	if (tx == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
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
	res.ok = st1 == 0 && st2 == 0;
	return res;
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

static double best(struct result (*fn)(void *), void *arg, int repeat, struct result *out)
{
	double b = 0;

	for (int r = 0; r < repeat; r++) {
		struct result x;

		fflush(stdout); /* the children must not inherit buffered output */
		x = fn(arg);

		if (!x.ok) {
			out->ok = 0;
			return 0;
		}
		if (!b || x.secs < b) {
			b = x.secs;
			*out = x;
		}
	}
	return b;
}

struct args {
	const char *vfiomig;
	int n;
	uint64_t per;
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

	return vfiomig_run(a->vfiomig, a->n, a->per);
}

int main(int argc, char **argv)
{
	const char *vfiomig = "build/src/cli/vfiomig";
	uint64_t devs[8] = { 1, 4, 16 }, sizes[8] = { 64ull << 20, 1ull << 30, 4ull << 30 };
	int nd = 3, ns = 3, repeat = 1;

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
		else {
			fprintf(stderr, "usage: vfm-bench [--vfiomig PATH] [--devices 1,4,16] "
					"[--sizes 64M,1G,4G] [--repeat N] [--write-mbps N]\n");
			return 2;
		}
		if (nd < 0 || ns < 0 || repeat < 1) {
			fprintf(stderr, "vfm-bench: bad list or count\n");
			return 2;
		}
	}
	if (access(vfiomig, X_OK) < 0) {
		fprintf(stderr, "vfm-bench: %s: not executable (--vfiomig PATH)\n", vfiomig);
		return 2;
	}
	printf("# save -> loopback TCP -> restore of simulated devices, best of %d; GB = 1e9 B\n",
	       repeat);
	printf("# A: plain TCP copy of the same byte count; B: the device bytes over TCP with\n"
	       "#    no protocol (same devices, same reads, writes and validation)\n");
	if (write_mbps)
		printf("# destination devices take %llu MB/s each (B loads them one by one)\n",
		       (unsigned long long)write_mbps);
	printf("%4s %8s | %8s %7s | %7s %6s | %7s %6s | %9s %9s\n", "devs", "state", "vfiomig",
	       "GB/s", "A GB/s", "v/A", "B GB/s", "v/B", "RSS save", "RSS rest");
	for (int di = 0; di < nd; di++)
		for (int si = 0; si < ns; si++) {
			struct args a = { vfiomig, (int)devs[di], sizes[si] / devs[di] };
			struct result ra = { 0 }, rb = { 0 }, rv = { 0 };
			double total = (double)(a.per * (uint64_t)a.n), ta, tb, tv;
			char sz[16];

			tv = best(run_v, &a, repeat, &rv);
			ta = best(run_a, &a, repeat, &ra);
			tb = best(run_b, &a, repeat, &rb);
			snprintf(sz, sizeof(sz), "%lluM", (unsigned long long)(sizes[si] >> 20));
			if (!rv.ok || !ra.ok || !rb.ok) {
				printf("%4d %8s | run failed (vfiomig %d, A %d, B %d)\n", a.n, sz,
				       rv.ok, ra.ok, rb.ok);
				continue;
			}
			printf("%4d %8s | %7.3fs %7.2f | %7.2f %6.2f | %7.2f %6.2f | %6.1f MiB %5.1f MiB\n",
			       a.n, sz, tv, total / tv / 1e9, total / ta / 1e9, ta / tv,
			       total / tb / 1e9, tb / tv, (double)rv.rss_src_kib / 1024,
			       (double)rv.rss_dst_kib / 1024);
			fflush(stdout);
		}
	return 0;
}
