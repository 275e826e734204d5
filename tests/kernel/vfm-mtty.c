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
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
