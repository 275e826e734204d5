// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The extension rules of the public structs (vfiomig.h): options carry the size the
 * caller compiled them with, the library refuses options it cannot have been given
 * by its _init(), and options from a newer header with unknown fields set, and takes
 * them when those fields are unset; the report says how much of it was written.
 * Also the by-fd openers' argument checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "vfiomig.h"

/* Options as a newer header would have them: ours, then a field we do not know. */
struct newer_save_opts {
	struct vfm_save_opts o;
	uint64_t appended;
};

struct newer_tls_opts {
	struct vfm_tls_opts o;
	uint64_t appended;
};

static void test_init(void)
{
	struct vfm_save_opts so;
	struct vfm_restore_opts ro;
	struct vfm_tls_opts to;

	memset(&so, 0xa5, sizeof(so));
	vfm_save_opts_init(&so);
	tap_eq(so.size, sizeof(so), "save opts: size is the caller's sizeof");
	tap_eq(so.report_size, sizeof(struct vfm_job_report),
	       "save opts: report_size is the caller's sizeof(struct vfm_job_report)");
	tap_ok(so.precopy && so.cancel_fd == -1 && so.chunk_size == 1u << 20 &&
		       !so.progress && !so.on_quiesced,
	       "save opts: the documented defaults");
	vfm_restore_opts_init(&ro);
	tap_ok(ro.size == sizeof(ro) && ro.report_size == sizeof(struct vfm_job_report) &&
		       ro.cancel_fd == -1 && ro.timeout_ms == 60000 && !ro.map,
	       "restore opts: sizes and defaults");
	memset(&to, 0xa5, sizeof(to));
	vfm_tls_opts_init(&to);
	tap_ok(to.size == sizeof(to) && !to.creds_dir && !to.psk_file && !to.n_authz,
	       "tls opts: size, nothing else set");

	/* A newer caller's init: our defaults, its unknown tail zeroed. */
	struct newer_save_opts n;

	memset(&n, 0xa5, sizeof(n));
	vfm_save_opts_init_sized(&n.o, sizeof(n), sizeof(struct vfm_job_report) + 64);
	tap_ok(n.o.size == sizeof(n) && n.o.precopy && n.appended == 0,
	       "a newer caller's save opts: defaults, appended field zero");
}

static void test_refusals(void)
{
	struct vfm_job_report *rep = malloc(sizeof(*rep));
	struct vfm_save_opts zero = { 0 };
	struct newer_save_opts n;
	struct vfm_transport_err err = { "" };
	struct vfm_tls *tls = NULL;
	int r;

	if (!rep)
		abort();
	memset(rep, 0x5a, sizeof(*rep));
	r = vfm_save(NULL, 0, NULL, &zero, rep);
	tap_eq(r, -EINVAL, "save: options not from vfm_save_opts_init(): EINVAL");
	tap_ok(((unsigned char *)rep)[0] == 0x5a && rep->error != -EINVAL,
	       "...and the report is left alone (its size unknown)");

	vfm_save_opts_init_sized(&n.o, sizeof(n), sizeof(*rep));
	n.appended = 1;
	memset(rep, 0x5a, sizeof(*rep));
	r = vfm_save(NULL, 1, NULL, &n.o, rep);
	tap_eq(r, -EOPNOTSUPP, "save: a newer caller sets a field we lack: EOPNOTSUPP");
	tap_ok(rep->size == sizeof(*rep) && rep->error == -EOPNOTSUPP &&
		       strstr(rep->message, "does not know") && rep->devices_left_running,
	       "...the report says so, and the devices were not touched: '%s'",
	       rep->message);

	n.appended = 0;
	r = vfm_save(NULL, 0, NULL, &n.o, rep);
	tap_eq(r, -EINVAL, "save: the same with the field unset goes on (to its n = 0)");
	tap_ok(rep->size == sizeof(*rep) && rep->message[0],
	       "...the report is written: '%s'", rep->message);

	struct vfm_restore_opts ro;

	vfm_restore_opts_init(&ro);
	ro.report_size = offsetof(struct vfm_job_report, streams) - 1;
	memset(rep, 0x5a, sizeof(*rep));
	r = vfm_restore(NULL, 1, NULL, &ro, rep);
	tap_ok(r == -EINVAL && ((unsigned char *)rep)[0] == 0x5a,
	       "restore: a report smaller than the first layout's: EINVAL, report untouched");

	struct vfm_tls_opts to = { .creds_dir = "/nonexistent" };

	r = vfm_tls_new(&to, false, &tls, &err);
	tap_ok(r == -EINVAL && strstr(err.msg, "vfm_tls_opts_init"),
	       "tls: options without size: EINVAL, '%s'", err.msg);

	struct newer_tls_opts nt;

	vfm_tls_opts_init_sized(&nt.o, sizeof(nt));
	nt.o.creds_dir = "/nonexistent";
	nt.appended = 7;
	r = vfm_tls_new(&nt.o, false, &tls, &err);
	tap_ok(r == -EOPNOTSUPP, "tls: an unknown field set: EOPNOTSUPP, '%s'", err.msg);
	nt.appended = 0;
	r = vfm_tls_new(&nt.o, false, &tls, &err);
	tap_eq(r, -ENOENT, "tls: unset, the options are read (no such directory)");
	vfm_tls_free(tls);
	free(rep);
}

static void test_by_fd(void)
{
	struct vfm_transport_err err = { "" };
	struct vfm_endpoint *ep = NULL;
	struct vfm_device *dev = NULL;
	struct vfm_ctx *ctx = NULL;
	int p[2], r;
	char c = 0;

	r = vfm_endpoint_open_fd(-1, VFM_EP_READ, 0, -1, &ep, &err);
	tap_eq(r, -EBADF, "endpoint from fd -1: EBADF (%s)", err.msg);
	if (pipe(p) < 0)
		abort();
	r = vfm_endpoint_open_fd(p[0], VFM_EP_READ, 1000, -1, &ep, &err);
	tap_eq(r, 0, "endpoint from a pipe's read end");
	if (r == 0) {
		tap_ok(write(p[1], "x", 1) == 1 && vfm_endpoint_read(ep, &c, 1) == 1 &&
			       c == 'x',
		       "...reads what the pipe carries");
		tap_ok(!vfm_endpoint_is_two_way(ep), "...one way");
		vfm_endpoint_free(ep);
	}
	tap_ok(fcntl(p[0], F_GETFD) >= 0, "the caller's fd stays open");
	close(p[0]);
	close(p[1]);

	if (vfm_ctx_new(&ctx) < 0)
		abort();
	r = vfm_device_open_fd(ctx, -1, NULL, &dev);
	tap_eq(r, -EINVAL, "device from fd -1: EINVAL");
	r = vfm_device_open_fd(ctx, 0, "", &dev);
	tap_eq(r, -EINVAL, "device with an empty name: EINVAL");
	r = vfm_device_open_fd(ctx, 999, NULL, &dev);
	tap_eq(r, -EBADF, "device from a closed fd: EBADF (%s)", vfm_ctx_last_error(ctx));
	vfm_ctx_unref(ctx);
}

/*
 * A program built against 0.1: its options end before `streams`, its report too.
 * It migrates, gets the defaults for what it lacks, and not a byte is written past
 * its report.
 */
static void test_older_caller(void)
{
	size_t osz = offsetof(struct vfm_save_opts, streams);
	size_t rsz = offsetof(struct vfm_job_report, streams);
	struct vfm_save_opts so;
	unsigned char *buf = malloc(sizeof(struct vfm_job_report) + 64);
	struct vfm_job_report *rep = (struct vfm_job_report *)buf;
	struct vfm_transport_err err;
	struct vfm_endpoint *ep = NULL;
	struct vfm_ctx *ctx = NULL;
	struct vfm_device *dev = NULL;
	int fd = memfd_create("abi", MFD_CLOEXEC), r;
	char uri[32];
	bool untouched = true;

	if (!buf || fd < 0 || vfm_ctx_new(&ctx) < 0 ||
	    vfm_device_open(ctx, "sim:old,size=64K", &dev) < 0)
		abort();
	memset(&so, 0xa5, sizeof(so)); /* what lies past the old struct: never read */
	vfm_save_opts_init_sized(&so, osz, rsz);
	memset(buf, 0x5a, sizeof(struct vfm_job_report) + 64);
	snprintf(uri, sizeof(uri), "fd:%d", fd);
	if (vfm_endpoint_open(uri, VFM_EP_WRITE, 1000, -1, &ep, &err) < 0)
		abort();
	r = vfm_save(&dev, 1, ep, &so, rep);
	for (size_t i = rsz; i < sizeof(struct vfm_job_report) + 64; i++)
		untouched &= buf[i] == 0x5a;
	tap_ok(r == 0 && rep->error == 0 && rep->total_bytes > 65536,
	       "a 0.1 caller's save runs with the defaults for the new fields (%s)",
	       r ? rep->message : "ok");
	tap_ok(rep->size == rsz && untouched,
	       "...and its report is written up to its size (%zu) and not a byte further",
	       rsz);
	vfm_endpoint_free(ep);
	vfm_device_unref(dev);
	vfm_ctx_unref(ctx);
	close(fd);
	free(buf);
}

int main(void)
{
	test_init();
	test_refusals();
	test_by_fd();
	test_older_caller();
	return tap_done();
}
