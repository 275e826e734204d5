// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vmm-save-restore: what a VMM does with libvfiomig, written against the installed
 * header and pkg-config file alone:
 *
 *	cc -o vmm-save-restore vmm-save-restore.c $(pkg-config --cflags --libs libvfiomig)
 *
 * It uses simulated devices ("sim:NAME,key=value...", see vfiomig(8)) so that it runs
 * anywhere; a VMM names its VFs or mdevs instead, or hands over the device fds it
 * holds with vfm_device_open_fd().  Three steps:
 *
 *  1. suspend to disk: save two devices to file:DIR/vm.vfm, restore the file into two
 *     other devices (a one-way stream: nobody answers, nothing commits);
 *  2. live migration over a socketpair the VMM made itself, handed to the library as
 *     fds: the source half in a thread, the destination half here, with the two-way
 *     protocol (the destination says READY, the source COMMITs), the quiesced hook
 *     (where a VMM stops its vCPUs) and progress;
 *  3. a save cancelled through its eventfd: the devices keep running and no file is
 *     left behind.
 *
 * The destination devices are told the seed of the image they must receive
 * (expect-seed=), so a restore that loaded anything else fails.
 *
 * Usage: vmm-save-restore DIR
 * Prints "ok - ..." or "FAIL - ..." per check; exits 0 when all passed, 1 otherwise,
 * 2 on a usage error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vfiomig.h>

#define N_DEV 2

static int failures;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

static void log_stderr(void *userdata, enum vfm_log_level level, const char *msg)
{
	(void)userdata;
	(void)level;
	fprintf(stderr, "libvfiomig: %s\n", msg);
}

/* Open N_DEV simulated devices: sources with a seed each, or destinations that
 * insist on receiving the image of that seed. */
static int open_devices(struct vfm_ctx *ctx, const char *tag, bool destination,
			struct vfm_device *devs[N_DEV])
{
	for (int i = 0; i < N_DEV; i++) {
		char spec[128];
		int r;

		snprintf(spec, sizeof(spec), "sim:%s-%s%d,size=256K,%s=0x%x", tag,
			 destination ? "dst" : "src", i,
			 destination ? "expect-seed" : "seed", 0x5eed0 + i);
		r = vfm_device_open(ctx, spec, &devs[i]);
		if (r < 0) {
			fprintf(stderr, "%s: %s (%s)\n", spec, strerror(-r),
				vfm_ctx_last_error(ctx));
			while (i-- > 0)
				devs[i] = vfm_device_unref(devs[i]);
			return r;
		}
	}
	return 0;
}

static void close_devices(struct vfm_device *devs[N_DEV])
{
	for (int i = 0; i < N_DEV; i++)
		devs[i] = vfm_device_unref(devs[i]);
}

/* Whether every device reads @want. */
static bool all_in(struct vfm_device *devs[N_DEV], enum vfm_state want)
{
	for (int i = 0; i < N_DEV; i++) {
		enum vfm_state s;

		if (vfm_device_get_state(devs[i], &s) < 0 || s != want)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------- */
/* 1. suspend to disk                                                        */

static void suspend_to_disk(struct vfm_ctx *ctx, const char *dir)
{
	struct vfm_device *src[N_DEV] = { NULL }, *dst[N_DEV] = { NULL };
	struct vfm_transport_err err = { "" };
	struct vfm_job_report *rep = calloc(1, sizeof(*rep));
	struct vfm_endpoint *ep = NULL;
	char uri[4200];
	int r;

	if (!rep || open_devices(ctx, "disk", false, src) < 0 ||
	    open_devices(ctx, "disk", true, dst) < 0) {
		check(false, "file: open the devices");
		goto out;
	}
	snprintf(uri, sizeof(uri), "file:%s/vm.vfm", dir);

	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 10000, -1, &ep, &err);
	check(r == 0, "file: open %s for writing%s%s", uri, r ? ": " : "", err.msg);
	if (r < 0)
		goto out;
	r = vfm_save(src, N_DEV, ep, NULL, rep);
	/* For file: only a close that succeeds puts the file in place. */
	if (r == 0)
		r = vfm_endpoint_close(ep);
	else
		vfm_endpoint_free(ep);
	ep = NULL;
	check(r == 0 && rep->error == 0, "file: save %d devices (%s)", N_DEV,
	      r ? rep->message : "saved");
	check(rep->size == sizeof(*rep) && rep->n == N_DEV &&
		      rep->one_way && rep->total_bytes >= N_DEV * 256 * 1024,
	      "file: report: %zu devices, %llu bytes, one-way", rep->n,
	      (unsigned long long)rep->total_bytes);
	check(all_in(src, VFM_STATE_STOP),
	      "file: the sources are stopped after the save");

	r = vfm_endpoint_open(uri, VFM_EP_READ, 10000, -1, &ep, &err);
	check(r == 0, "file: open %s for reading%s%s", uri, r ? ": " : "", err.msg);
	if (r < 0)
		goto out;
	r = vfm_restore(dst, N_DEV, ep, NULL, rep);
	check(r == 0 && rep->error == 0, "file: restore into %s and %s (%s)",
	      vfm_device_name(dst[0]), vfm_device_name(dst[1]),
	      r ? rep->message : "loaded");
	check(all_in(dst, VFM_STATE_RUNNING), "file: the destinations run");
out:
	vfm_endpoint_free(ep);
	close_devices(src);
	close_devices(dst);
	free(rep);
}

/* ------------------------------------------------------------------------- */
/* 2. live migration over descriptors the VMM owns                           */

struct source {
	struct vfm_device *devs[N_DEV];
	struct vfm_endpoint *ep;
	struct vfm_job_report *rep;
	int r;
	int quiesced;		/* times the hook ran */
	unsigned progress_calls; /* progress reports received (atomic) */
	enum vfm_job_phase last_phase;
};

static int on_quiesced(void *userdata, char *why, size_t why_size)
{
	struct source *s = userdata;

	(void)why;
	(void)why_size;
	/* Every device is in a P2P state: a VMM stops its vCPUs here.  Returning
	 * non-zero (with a reason in @why) would abort and roll back. */
	s->quiesced++;
	return 0;
}

static void on_progress(void *userdata, const struct vfm_job_report *rep)
{
	struct source *s = userdata;

	__atomic_add_fetch(&s->progress_calls, 1, __ATOMIC_RELAXED);
	s->last_phase = rep->phase;
}

static void *source_thread(void *userdata)
{
	struct source *s = userdata;
	struct vfm_save_opts opts;

	vfm_save_opts_init(&opts);
	opts.timeout_ms = 10000;
	opts.on_quiesced = on_quiesced;
	opts.hook_userdata = s;
	opts.progress = on_progress;
	opts.progress_userdata = s;
	s->r = vfm_save(s->devs, N_DEV, s->ep, &opts, s->rep);
	return NULL;
}

static void live_migration(struct vfm_ctx *ctx)
{
	struct source s = { .r = -1 };
	struct vfm_device *dst[N_DEV] = { NULL };
	struct vfm_transport_err err = { "" };
	struct vfm_job_report *rep = calloc(1, sizeof(*rep));
	struct vfm_endpoint *ep = NULL;
	struct vfm_restore_opts opts;
	pthread_t t;
	int sv[2] = { -1, -1 }, r;

	s.rep = calloc(1, sizeof(*s.rep));
	if (!rep || !s.rep || open_devices(ctx, "live", false, s.devs) < 0 ||
	    open_devices(ctx, "live", true, dst) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		check(false, "live: devices and a socketpair");
		goto out;
	}
	/* The library works on its own duplicates: close ours once they are made, so
	 * that each side sees the end of the stream when the other closes. */
	r = vfm_endpoint_open_fd(sv[0], VFM_EP_READ | VFM_EP_WRITE, 10000, -1, &s.ep,
				 &err);
	if (r == 0)
		r = vfm_endpoint_open_fd(sv[1], VFM_EP_READ | VFM_EP_WRITE, 10000, -1,
					 &ep, &err);
	close(sv[0]);
	close(sv[1]);
	check(r == 0 && vfm_endpoint_is_two_way(ep), "live: endpoints from fds%s%s",
	      r ? ": " : "", err.msg);
	if (r < 0)
		goto out;

	if (pthread_create(&t, NULL, source_thread, &s) != 0) {
		check(false, "live: start the source thread");
		goto out;
	}
	vfm_restore_opts_init(&opts);
	opts.timeout_ms = 10000;
	r = vfm_restore(dst, N_DEV, ep, &opts, rep);
	pthread_join(t, NULL);

	check(s.r == 0 && s.rep->error == 0 && !s.rep->one_way && !s.rep->in_doubt,
	      "live: save, committed (%s)", s.r ? s.rep->message : "verdict: loaded");
	check(r == 0 && rep->error == 0, "live: restore (%s)",
	      r ? rep->message : "running");
	check(s.quiesced == 1, "live: the quiesced hook ran once (%d)", s.quiesced);
	check(s.progress_calls > 0 && s.last_phase == VFM_JOB_DONE,
	      "live: progress reported (%u calls, last phase %s)", s.progress_calls,
	      vfm_job_phase_name(s.last_phase));
	check(s.rep->stream_id == rep->stream_id &&
		      rep->total_bytes == s.rep->total_bytes,
	      "live: both reports name stream %016llx, %llu bytes",
	      (unsigned long long)rep->stream_id, (unsigned long long)rep->total_bytes);
	check(all_in(s.devs, VFM_STATE_STOP) && all_in(dst, VFM_STATE_RUNNING),
	      "live: the sources are stopped, the destinations run");
out:
	vfm_endpoint_free(s.ep);
	vfm_endpoint_free(ep);
	close_devices(s.devs);
	close_devices(dst);
	free(s.rep);
	free(rep);
}

/* ------------------------------------------------------------------------- */
/* 3. cancel                                                                 */

static void cancelled_save(struct vfm_ctx *ctx, const char *dir)
{
	struct vfm_device *src[N_DEV] = { NULL };
	struct vfm_transport_err err = { "" };
	struct vfm_job_report *rep = calloc(1, sizeof(*rep));
	struct vfm_endpoint *ep = NULL;
	struct vfm_save_opts opts;
	char uri[4300], path[4200];
	int efd = -1, r;

	efd = eventfd(0, EFD_CLOEXEC);
	if (!rep || efd < 0 || open_devices(ctx, "cancel", false, src) < 0) {
		check(false, "cancel: devices and an eventfd");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/cancelled.vfm", dir);
	snprintf(uri, sizeof(uri), "file:%s", path);
	r = vfm_endpoint_open(uri, VFM_EP_WRITE, 10000, efd, &ep, &err);
	if (r < 0) {
		check(false, "cancel: open %s: %s", uri, err.msg);
		goto out;
	}
	/* Another thread or a signal handler would do this; before the start is the
	 * case that needs no timing. */
	if (eventfd_write(efd, 1) < 0)
		abort();
	vfm_save_opts_init(&opts);
	opts.cancel_fd = efd;
	r = vfm_save(src, N_DEV, ep, &opts, rep);
	vfm_endpoint_free(ep); /* a failed save's file is abandoned */
	ep = NULL;
	check(r == -ECANCELED && rep->error == -ECANCELED,
	      "cancel: save returns ECANCELED (%s)", rep->message);
	check(rep->devices_left_running && all_in(src, VFM_STATE_RUNNING),
	      "cancel: the devices run");
	check(access(path, F_OK) < 0 && errno == ENOENT, "cancel: no %s left", path);
out:
	if (efd >= 0)
		close(efd);
	vfm_endpoint_free(ep);
	close_devices(src);
	free(rep);
}

int main(int argc, char **argv)
{
	struct vfm_ctx *ctx = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	r = vfm_ctx_new(&ctx);
	if (r < 0) {
		fprintf(stderr, "vfm_ctx_new: %s\n", strerror(-r));
		return 1;
	}
	vfm_ctx_set_log(ctx, VFM_LOG_WARNING, log_stderr, NULL);
	printf("# libvfiomig %s (header)\n", VFM_VERSION);

	suspend_to_disk(ctx, argv[1]);
	live_migration(ctx);
	cancelled_save(ctx, argv[1]);

	vfm_ctx_unref(ctx);
	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
