// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfm-mtty: plays the VMM around vfiomig for the kernel tests.  It opens mtty devices
 * (through libvfiomig), optionally puts a known state into each emulated UART (16550
 * registers and bytes queued in loopback mode), runs a command with the devices
 * handed over as fd:N (the way a VMM hands its devices to vfiomig), and afterwards
 * checks that the UART state is there: on the destination after a restore, or still
 * on the source after a failed save.
 *
 *   vfm-mtty [--set] [--check] [--state STATE] UUID... -- CMD [ARG...]
 *
 * In CMD's arguments "@N" becomes "fd:K" for the Nth device.  Prints TAP lines for
 * the checks; exits with CMD's status, or 3 when a check failed.
 *
 *   vfm-mtty --dirty-raw [--no-report] DEV
 *
 * DMA dirty logging straight to the kernel (VFIO_DEVICE_FEATURE ioctls, no library
 * checks in the way): what the VFIO core validates and what mtty's callbacks answer.
 * --no-report: the kernel cannot report (built without CONFIG_IOMMUFD_DRIVER), so
 * every report that passes the core's first checks must give EOPNOTSUPP.
 *
 *   vfm-mtty --dirty-daemon [--no-report] SOCKET NAME
 *
 * The same through vfiomigd, for NAME attached there: dirty_start, dirty_report into
 * a sealed memfd passed with SCM_RIGHTS (the bytes around the bitmap untouched, the
 * bitmap zeroed: mtty never reports a dirty page), an unsealed memfd refused,
 * dirty_stop; each of vfiomigd's answers goes to stderr, a line each (vfiomigd-message).
 * Both modes print TAP lines and exit 0, or 3 when a check failed.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "vfiomig.h"

#define MAXD 8

/* 16550 registers (offsets in BAR0) */
enum { THR = 0, RBR = 0, IER = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7 };
#define FCR_ENABLE_CLEAR 0x07 /* enable FIFOs, clear receiver and transmitter */
#define LSR_DR 0x01
#define MCR_LOOP 0x10

static const char fifo_text[] = "vfiomig!";

struct pattern {
	uint8_t ier, lcr, mcr, scr;
};

/* A pattern per device, so that a device mix-up is caught too. */
static struct pattern pattern_for(int i)
{
	return (struct pattern){
		.ier = 0x05,
		.lcr = (uint8_t)(0x03 | (i << 3 & 0x38)), /* word length + parity bits */
		.mcr = MCR_LOOP | 0x0b,
		.scr = (uint8_t)(0xa0 + i),
	};
}

static off_t bar0_offset(int fd)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg),
					.index = VFIO_PCI_BAR0_REGION_INDEX };

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0)
		return -1;
	return (off_t)reg.offset;
}

static int rd(int fd, off_t bar, int reg, uint8_t *v)
{
	return pread(fd, v, 1, bar + reg) == 1 ? 0 : -1;
}

static int wr(int fd, off_t bar, int reg, uint8_t v)
{
	return pwrite(fd, &v, 1, bar + reg) == 1 ? 0 : -1;
}

static unsigned tap_n, tap_failed;

__attribute__((format(printf, 2, 3))) static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		tap_failed++;
	fflush(stdout);
}

static int set_uart(int fd, int i)
{
	struct pattern p = pattern_for(i);
	off_t bar = bar0_offset(fd);

	if (bar < 0)
		return -1;
	/* VFIO_DEVICE_RESET does not empty mtty's FIFO, and a full 16-byte ring reads
	 * as empty: start from a cleared one. */
	if (wr(fd, bar, FCR, FCR_ENABLE_CLEAR))
		return -1;
	if (wr(fd, bar, LCR, p.lcr) || wr(fd, bar, IER, p.ier) || wr(fd, bar, MCR, p.mcr) ||
	    wr(fd, bar, SCR, p.scr))
		return -1;
	/* In loopback mode what is written to THR comes back in the receive FIFO. */
	for (size_t k = 0; k < sizeof(fifo_text) - 1; k++)
		if (wr(fd, bar, THR, (uint8_t)fifo_text[k]))
			return -1;
	return 0;
}

static void check_uart(int fd, int i, const char *name)
{
	struct pattern p = pattern_for(i);
	off_t bar = bar0_offset(fd);
	uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, lsr = 0;
	char got[sizeof(fifo_text)] = "";
	size_t k;

	if (bar < 0 || rd(fd, bar, IER, &ier) || rd(fd, bar, LCR, &lcr) ||
	    rd(fd, bar, MCR, &mcr) || rd(fd, bar, SCR, &scr)) {
		tap(0, "%s: UART registers readable", name);
		return;
	}
	tap(ier == p.ier && lcr == p.lcr && mcr == p.mcr && scr == p.scr,
	    "%s: UART registers (IER, LCR, MCR, scratch) carried over", name);
	if (!(ier == p.ier && lcr == p.lcr && mcr == p.mcr && scr == p.scr))
		printf("# %s: IER %02x/%02x LCR %02x/%02x MCR %02x/%02x SCR %02x/%02x (got/want)\n",
		       name, ier, p.ier, lcr, p.lcr, mcr, p.mcr, scr, p.scr);
	for (k = 0; k < sizeof(fifo_text) - 1; k++) {
		if (rd(fd, bar, LSR, &lsr) || !(lsr & LSR_DR))
			break;
		if (rd(fd, bar, RBR, (uint8_t *)&got[k]))
			break;
	}
	got[k] = '\0';
	tap(strcmp(got, fifo_text) == 0, "%s: bytes queued in the loopback FIFO carried over",
	    name);
	if (strcmp(got, fifo_text) != 0)
		printf("# %s: FIFO held '%s', want '%s'\n", name, got, fifo_text);
}

/* ---- DMA dirty logging, straight to the kernel ---- */

static int feature(int fd, uint32_t flags, void *data, size_t size)
{
	struct {
		struct vfio_device_feature hdr;
		uint64_t data[4];
	} buf = {.hdr = {.argsz = (uint32_t)(sizeof(buf.hdr) + size), .flags = flags}};

	if (size > sizeof(buf.data))
		return -EINVAL;
	if (size) /* a probe passes no data (NULL) */
		memcpy(buf.data, data, size);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, &buf) < 0)
		return -errno;
	if (size)
		memcpy(data, buf.data, size);
	return 0;
}

static int log_start(int fd, const struct vfio_device_feature_dma_logging_range *r,
		     uint32_t n, uint64_t *page)
{
	struct vfio_device_feature_dma_logging_control c = {
		.page_size = *page,
		.num_ranges = n,
		.ranges = (uintptr_t)r,
	};
	int ret = feature(fd,
			  VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			  &c, sizeof(c));

	*page = c.page_size;
	return ret;
}

static int log_report(int fd, uint64_t iova, uint64_t len, uint64_t page, void *bm)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = len,
		.page_size = page,
		.bitmap = (uintptr_t)bm,
	};

	return feature(fd,
		       VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
		       &rep, sizeof(rep));
}

static const char *ename(int r)
{
	static char buf[24];

	switch (-r) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case E2BIG: return "E2BIG";
	case EOVERFLOW: return "EOVERFLOW";
	case EFAULT: return "EFAULT";
	case ENOTTY: return "ENOTTY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: snprintf(buf, sizeof(buf), "errno %d", -r); return buf;
	}
}

#define expect_r(got, want, what) \
	tap((got) == (want), "%s: %s (want %s)", what, ename(got), ename(want))

static int dirty_raw(const char *name, bool no_report)
{
	static struct vfio_device_feature_dma_logging_range r[257];
	struct vfm_ctx *ctx = NULL;
	struct vfm_device *dev = NULL;
	uint64_t page, bm[4], *big;
	int fd, ret, rep_ok = no_report ? -EOPNOTSUPP : 0;

	if (vfm_ctx_new(&ctx) < 0 || vfm_device_open(ctx, name, &dev) < 0) {
		fprintf(stderr, "vfm-mtty: %s\n",
			ctx ? vfm_ctx_last_error(ctx) : "no memory");
		vfm_ctx_unref(ctx);
		return 1;
	}
	fd = vfm_device_fd(dev);
	expect_r(feature(fd,
			 VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
				 VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			 NULL, 0),
		 0, "probe START: mtty has log_ops");
	expect_r(feature(fd,
			 VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
				 VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			 NULL, 0),
		 0, "probe REPORT");
	expect_r(feature(fd,
			 VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			 bm, 24),
		 -EINVAL, "START with GET (a SET-only feature)");
	page = 4096;
	expect_r(log_start(fd, r, 0, &page), -EINVAL, "START with 0 ranges");
	for (int i = 0; i < 257; i++)
		r[i] = (struct vfio_device_feature_dma_logging_range){
			.iova = (uint64_t)i << 13, .length = 4096};
	expect_r(log_start(fd, r, 257, &page), -E2BIG,
		 "START with 257 ranges (a page of them is the most)");
	r[0].iova = 0x1001;
	expect_r(log_start(fd, r, 1, &page), -EINVAL, "START with an unaligned range");
	r[0] = (struct vfio_device_feature_dma_logging_range){.iova = 0x100000,
							      .length = 0x3000};
	r[1] = (struct vfio_device_feature_dma_logging_range){.iova = 0x102000,
							      .length = 0x1000};
	expect_r(log_start(fd, r, 2, &page), -EINVAL, "START with overlapping ranges");
	r[0] = (struct vfio_device_feature_dma_logging_range){.iova = UINT64_MAX - 4095,
							      .length = 8192};
	expect_r(log_start(fd, r, 1, &page), -EOVERFLOW,
		 "START with iova + length past 2^64");
	{
		struct vfio_device_feature_dma_logging_control c = {.page_size = 4096,
								    .num_ranges = 1};

		expect_r(feature(fd,
				 VFIO_DEVICE_FEATURE_SET |
					 VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &c, sizeof(c)),
			 -EFAULT, "START with the ranges at address 0");
	}
	r[0] = (struct vfio_device_feature_dma_logging_range){.iova = 0x100000,
							      .length = 0x100000};
	r[1] = (struct vfio_device_feature_dma_logging_range){.iova = 0x400000,
							      .length = 0x2000};
	page = 4096;
	ret = log_start(fd, r, 2, &page);
	expect_r(ret, 0, "START of two ranges");
	tap(page == 4096, "START: mtty keeps the 4K page size asked for (%llu)",
	    (unsigned long long)page);
	page = 4096;
	expect_r(log_start(fd, r, 2, &page), 0,
		 "a second START: the VFIO core keeps no state and mtty none either (the "
		 "library refuses it itself, EALREADY)");

	expect_r(log_report(fd, 0x100000, 0x1000, 2048, bm), -EINVAL,
		 "REPORT in 2K pages");
	expect_r(log_report(fd, 0x100000, 0x3000, 0x3000, bm), -EINVAL,
		 "REPORT in pages that are not a power of two");
	expect_r(log_report(fd, UINT64_MAX - 4095, 8192, 4096, bm), -EOVERFLOW,
		 "REPORT past 2^64");
	memset(bm, 0xa5, sizeof(bm));
	ret = log_report(fd, 0x100000, 0x40000, 4096, bm); /* 64 pages: one word */
	expect_r(ret, rep_ok,
		 no_report ? "REPORT: this kernel cannot report (no "
			     "CONFIG_IOMMUFD_DRIVER)"
			   : "REPORT of 64 pages");
	tap(bm[0] == UINT64_C(0xa5a5a5a5a5a5a5a5) && bm[1] == bm[0],
	    "REPORT never clears a bit (mtty sets none): the library must zero the "
	    "bitmap");
	/* The kernel pins the bitmap's pages only to set a bit (iova_bitmap_set()), and
	 * mtty sets none: a bitmap at address 0 passes.  The library checks it itself. */
	expect_r(log_report(fd, 0x100000, 0x40000, 4096, NULL), rep_ok,
		 no_report ? "REPORT into a bitmap at address 0"
			   : "REPORT into a bitmap at address 0: never touched, mtty "
			     "sets no bit");
	/* a report larger than one pinned window (2 MiB of bitmap on x86: 2^24 pages) */
	big = mmap(NULL, 4u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (big != MAP_FAILED) {
		memset(big, 0, 4u << 20);
		ret = log_report(fd, 0, (uint64_t)32 << 30 /* 32 GiB: 4 MiB of bits */,
				 4096, big);
		expect_r(ret, rep_ok, "REPORT of 32 GiB in 4K pages (a 4 MiB bitmap)");
		munmap(big, 4u << 20);
	}
	expect_r(feature(fd,
			 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			 NULL, 0),
		 0, "STOP");
	expect_r(feature(fd,
			 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			 NULL, 0),
		 0, "a second STOP: mtty answers 0 too");
	vfm_device_unref(dev);
	vfm_ctx_unref(ctx);
	return tap_failed ? 3 : 0;
}

/* ---- DMA dirty logging through vfiomigd, the memfd path ---- */

static int dconnect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 20};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send one request line (with @pass, -1: none) and read the answer line into @buf. */
static int dcall(int s, int pass, char *buf, size_t size, const char *fmt, ...)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} control;
	char line[1024];
	struct iovec iov = {.iov_base = line};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t got = 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		return -1;
	line[n++] = '\n';
	iov.iov_len = (size_t)n;
	if (pass >= 0) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.b;
		mh.msg_controllen = sizeof(control.b);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	}
	if (sendmsg(s, &mh, MSG_NOSIGNAL) != n)
		return -1;
	while (got < size - 1) {
		ssize_t k = read(s, buf + got, 1);

		if (k <= 0)
			return -1;
		if (buf[got] == '\n')
			break;
		got++;
	}
	buf[got] = '\0';
	/* each answer on stderr too, for the guest script to check against schema/ */
	fprintf(stderr, "%s\n", buf);
	return 0;
}

static int dirty_daemon(const char *sock, const char *name, bool no_report)
{
	char ans[4096];
	uint8_t *m;
	int s = dconnect(sock), mfd, ok;

	if (s < 0) {
		fprintf(stderr, "vfm-mtty: cannot connect to %s\n", sock);
		return 1;
	}
	ok = dcall(s, -1, ans, sizeof(ans),
		   "{\"id\":1,\"cmd\":\"dirty_start\",\"devices\":[\"%s\"],"
		   "\"page_size_bytes\":4096,"
		   "\"ranges\":[{\"iova\":1048576,\"length_bytes\":1048576}]}",
		   name) == 0 &&
	     strstr(ans, "\"ok\":true") && strstr(ans, "\"page_size_bytes\":4096") &&
	     strstr(ans, "\"range_count\":1");
	tap(ok, "vfiomigd dirty_start of %s: ok, page size 4096", name);
	if (!ok)
		printf("# %s\n", ans);

	mfd = memfd_create("bitmap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, 8192) < 0 ||
	    (m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0)) ==
		    MAP_FAILED) {
		tap(0, "a memfd");
		return 3;
	}
	memset(m, 0xff, 8192);
	ok = dcall(s, mfd, ans, sizeof(ans),
		   "{\"id\":2,\"cmd\":\"dirty_report\",\"devices\":[\"%s\"],\"bitmap_"
		   "fd\":0,"
		   "\"bitmap_offset\":64,\"ranges\":[{\"iova\":1048576,"
		   "\"length_bytes\":1048576}]}",
		   name) == 0 &&
	     strstr(ans, "\"errno_name\":\"EPERM\"") && strstr(ans, "F_SEAL_SHRINK");
	tap(ok, "vfiomigd dirty_report into an unsealed memfd: EPERM");
	if (!ok)
		printf("# %s\n", ans);
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK);
	dcall(s, mfd, ans, sizeof(ans),
	      "{\"id\":3,\"cmd\":\"dirty_report\",\"devices\":[\"%s\"],\"bitmap_fd\":0,"
	      "\"bitmap_offset\":64,\"ranges\":[{\"iova\":1048576,"
	      "\"length_bytes\":1048576}]}",
	      name);
	if (no_report) {
		ok = strstr(ans, "\"errno_name\":\"EOPNOTSUPP\"") &&
		     strstr(ans, "this kernel cannot report DMA dirty pages");
		tap(ok, "vfiomigd dirty_report on a kernel that cannot report: "
			"EOPNOTSUPP, said");
	} else {
		bool zeroed = true, around = true;

		for (int i = 64; i < 64 + 32; i++) /* 256 pages: 32 bytes */
			zeroed = zeroed && m[i] == 0;
		for (int i = 0; i < 8192; i++)
			around = around && (i >= 64 && i < 96 ? true : m[i] == 0xff);
		ok = strstr(ans, "\"ok\":true") &&
		     strstr(ans, "\"dirty_page_count\":0") &&
		     strstr(ans, "\"bitmap_offset\":64") &&
		     strstr(ans, "\"bitmap_bytes\":32") && zeroed && around;
		tap(ok, "vfiomigd dirty_report into a sealed memfd: 0 dirty pages, bytes "
			"64-95 "
			"zeroed, the rest untouched");
	}
	if (!ok)
		printf("# %s\n", ans);
	ok = dcall(s, -1, ans, sizeof(ans),
		   "{\"id\":4,\"cmd\":\"dirty_stop\",\"devices\":[\"%s\"]}", name) == 0 &&
	     strstr(ans, "\"ok\":true");
	tap(ok, "vfiomigd dirty_stop");
	if (!ok)
		printf("# %s\n", ans);
	munmap(m, 8192);
	close(mfd);
	close(s);
	return tap_failed ? 3 : 0;
}

int main(int argc, char **argv)
{
	struct vfm_ctx *ctx = NULL;
	struct vfm_device *devs[MAXD] = { NULL };
	const char *names[MAXD];
	int n = 0, a = 1, status = 0;
	bool set = false, check = false;
	enum vfm_state want_state = VFM_STATE_MAX;
	char fdarg[MAXD][128];
	char **cmd;
	pid_t pid;

	if (argc >= 3 && strcmp(argv[1], "--dirty-raw") == 0) {
		bool nr = strcmp(argv[2], "--no-report") == 0;

		if (argc != 3 + nr)
			return 2;
		return dirty_raw(argv[2 + nr], nr);
	}
	if (argc >= 4 && strcmp(argv[1], "--dirty-daemon") == 0) {
		bool nr = strcmp(argv[2], "--no-report") == 0;

		if (argc != 4 + nr)
			return 2;
		return dirty_daemon(argv[2 + nr], argv[3 + nr], nr);
	}
	for (; a < argc && argv[a][0] == '-' && strcmp(argv[a], "--") != 0; a++) {
		if (strcmp(argv[a], "--set") == 0)
			set = true;
		else if (strcmp(argv[a], "--check") == 0)
			check = true;
		else if (strcmp(argv[a], "--state") == 0 && a + 1 < argc)
			vfm_state_from_name(argv[++a], &want_state);
		else {
			fprintf(stderr, "usage: vfm-mtty [--set] [--check] [--state S] UUID... -- CMD...\n");
			return 2;
		}
	}
	for (; a < argc && strcmp(argv[a], "--") != 0 && n < MAXD; a++)
		names[n++] = argv[a];
	if (a >= argc - 1 || n == 0) {
		fprintf(stderr, "vfm-mtty: need devices, --, and a command\n");
		return 2;
	}
	cmd = &argv[a + 1];
	if (vfm_ctx_new(&ctx) < 0)
		return 1;
	for (int i = 0; i < n; i++) {
		int fd;

		if (vfm_device_open(ctx, names[i], &devs[i]) < 0) {
			fprintf(stderr, "vfm-mtty: %s\n", vfm_ctx_last_error(ctx));
			goto fail;
		}
		fd = vfm_device_fd(devs[i]);
		/* The child inherits the device: clear close-on-exec. */
		fcntl(fd, F_SETFD, 0);
		/* fd:N:NAME: the fd, and which device it is (for its identity) */
		snprintf(fdarg[i], sizeof(fdarg[i]), "fd:%d:%s", fd, names[i]);
		if (vfm_device_reset(devs[i]) < 0) {
			fprintf(stderr, "vfm-mtty: %s: reset failed\n", names[i]);
			goto fail;
		}
		if (set && set_uart(fd, i) < 0) {
			fprintf(stderr, "vfm-mtty: %s: cannot write the UART registers\n", names[i]);
			goto fail;
		}
	}
	for (char **c = cmd; *c; c++)
		if ((*c)[0] == '@' && (*c)[1] >= '0' && (*c)[1] < '0' + n && !(*c)[2])
			*c = fdarg[(*c)[1] - '0'];

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		goto fail;

	for (int i = 0; i < n; i++) {
		enum vfm_state st = VFM_STATE_ERROR;

		vfm_device_get_state(devs[i], &st);
		if (want_state != VFM_STATE_MAX)
			tap(st == want_state, "%s: state %s after the command (want %s)", names[i],
			    vfm_state_name(st), vfm_state_name(want_state));
		if (check)
			check_uart(vfm_device_fd(devs[i]), i, names[i]);
		vfm_device_unref(devs[i]);
	}
	vfm_ctx_unref(ctx);
	/* Exit status: the command's, so the caller checks both; 3 if a check failed. */
	if (tap_failed)
		return 3;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
fail:
	for (int i = 0; i < n; i++)
		vfm_device_unref(devs[i]); /* NULL for those not opened */
	vfm_ctx_unref(ctx);
	return 1;
}
