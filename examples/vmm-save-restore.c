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
 *     (where a VMM stops its vCPUs) and progress; with DMA dirty logging on the
 *     source devices, read once before the save (a RAM pass while the guest runs)
 *     and once in the quiesced hook (the last pass), each bitmap checked bit for bit
 *     against the pattern the simulated devices dirty (dma-dirty=, vfiomig(8));
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
 * insist on receiving the image of that seed; @extra[i] (may be NULL) adds keys. */
static int open_devices(struct vfm_ctx *ctx, const char *tag, bool destination,
			struct vfm_device *devs[N_DEV], const char *const *extra)
{
	for (int i = 0; i < N_DEV; i++) {
		char spec[160];
		int r;

		snprintf(spec, sizeof(spec), "sim:%s-%s%d,size=256K,%s=0x%x%s%s", tag,
			 destination ? "dst" : "src", i,
			 destination ? "expect-seed" : "seed", 0x5eed0 + i,
			 extra && extra[i] ? "," : "", extra && extra[i] ? extra[i] : "");
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

	if (!rep || open_devices(ctx, "disk", false, src, NULL) < 0 ||
	    open_devices(ctx, "disk", true, dst, NULL) < 0) {
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

/*
 * DMA dirty logging: the guest RAM the devices may write, as the VMM mapped it for
 * them (IOVA = guest physical address here).  The source devices dirty pages on a
 * pattern (sim key dma-dirty=N+K): before its k-th report a device writes the pages n
 * (n = IOVA / its page size) with n mod N = (K + k - 1) mod N.  Device 0 logs in the
 * 4K pages asked for with N = 4, K = 1; device 1 picks 8K pages itself (dma-page=) and
 * every report finds all of its pages dirty (N = 1).
 */
#define RAM_IOVA 0x100000ull
#define RAM_SIZE (1024ull * 1024)
static const char *const live_src_keys[N_DEV] = {"dma-dirty=4+1",
						 "dma-dirty=1,dma-page=8K"};
static const uint64_t dirty_every[N_DEV] = {4, 1}, dirty_first[N_DEV] = {1, 0};
static const uint64_t dirty_page[N_DEV] = {4096, 8192};

/* The bitmap of a device's @k-th report of the RAM range, from the pattern. */
static bool dirty_as_expected(int dev, unsigned k, const uint64_t *bm, int64_t count)
{
	uint64_t ps = dirty_page[dev], pages = RAM_SIZE / ps, want_count = 0;

	for (uint64_t i = 0; i < pages; i++) {
		uint64_t n = RAM_IOVA / ps + i;
		bool want = n % dirty_every[dev] ==
			    (dirty_first[dev] + k - 1) % dirty_every[dev];
		bool got = bm[i / 64] >> (i % 64) & 1;

		if (want != got) {
			printf("# device %d report %u: page %llu is %s\n", dev, k,
			       (unsigned long long)i,
			       got ? "dirty, expected clean" : "clean, expected dirty");
			return false;
		}
		want_count += want;
	}
	return count == (int64_t)want_count;
}

/* Report every source device's dirty pages of the RAM range (its @k-th report) and
 * check them; what a VMM does on each pass over guest memory. */
static bool dirty_pass(struct vfm_device *devs[N_DEV], unsigned k, int64_t *ret_pages)
{
	static uint64_t bm[RAM_SIZE / 4096 / 64];
	bool all = true;

	*ret_pages = 0;
	for (int i = 0; i < N_DEV; i++) {
		struct vfm_dirty_err err = {""};
		int64_t n = vfm_device_dirty_report(devs[i], RAM_IOVA, RAM_SIZE, 0, bm,
						    sizeof(bm), &err);

		if (n < 0) {
			printf("# %s\n", err.msg);
			return false;
		}
		all = all && dirty_as_expected(i, k, bm, n);
		*ret_pages += n;
	}
	return all;
}

struct source {
	struct vfm_device *devs[N_DEV];
	struct vfm_endpoint *ep;
	struct vfm_job_report *rep;
	int r;
	int quiesced;		/* times the hook ran */
	bool last_pass_ok; /* the dirty pages read in the hook were the expected ones */
	int64_t last_pass_pages;
	unsigned progress_calls; /* progress reports received (atomic) */
	enum vfm_job_phase last_phase;
};

static int on_quiesced(void *userdata, char *why, size_t why_size)
{
	struct source *s = userdata;

	(void)why;
	(void)why_size;
	/* Every device is in a P2P state: a VMM stops its vCPUs here, and makes its
	 * last pass over guest memory, with the pages the devices wrote by DMA since
	 * the previous pass (the devices no longer write: this bitmap is final).
	 * Returning non-zero (with a reason in @why) would abort and roll back. */
	s->quiesced++;
	s->last_pass_ok = dirty_pass(s->devs, 2, &s->last_pass_pages);
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
	const struct vfm_dirty_range ram = {.iova = RAM_IOVA, .length = RAM_SIZE};
	int64_t pages = 0;
	pthread_t t;
	int sv[2] = { -1, -1 }, r;
	bool dirty_ok = true;

	s.rep = calloc(1, sizeof(*s.rep));
	if (!rep || !s.rep ||
	    open_devices(ctx, "live", false, s.devs, live_src_keys) < 0 ||
	    open_devices(ctx, "live", true, dst, NULL) < 0 ||
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

	/* DMA dirty logging on the source devices over guest RAM, asking for 4K pages;
	 * a driver may pick its own page size, and reports come in it. */
	for (int i = 0; i < N_DEV; i++) {
		struct vfm_dirty_err derr = {""};
		uint64_t used = 0;

		r = vfm_device_dirty_start(s.devs[i], &ram, 1, 4096, &used, &derr);
		if (r < 0 || used != dirty_page[i]) {
			printf("# %s: page size %llu%s%s\n", vfm_device_name(s.devs[i]),
			       (unsigned long long)used, r < 0 ? ": " : "", derr.msg);
			dirty_ok = false;
		}
	}
	check(dirty_ok, "live: DMA dirty logging started, page sizes %llu and %llu",
	      (unsigned long long)dirty_page[0], (unsigned long long)dirty_page[1]);
	/* a pass over guest RAM while the guest still runs */
	dirty_ok = dirty_ok && dirty_pass(s.devs, 1, &pages);
	check(dirty_ok && pages == 64 + 128,
	      "live: dirty pages before the save, bit for bit (%lld pages)",
	      (long long)pages);

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
	check(s.last_pass_ok && s.last_pass_pages == 64 + 128,
	      "live: dirty pages in the quiesced hook, bit for bit (%lld pages)",
	      (long long)s.last_pass_pages);
	dirty_ok = true;
	for (int i = 0; i < N_DEV; i++) {
		struct vfm_dirty_err derr = {""};

		r = vfm_device_dirty_stop(s.devs[i], &derr);
		if (r < 0 || vfm_device_dirty_active(s.devs[i], NULL)) {
			printf("# %s\n", derr.msg);
			dirty_ok = false;
		}
	}
	check(dirty_ok, "live: DMA dirty logging stopped");
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
	if (!rep || efd < 0 || open_devices(ctx, "cancel", false, src, NULL) < 0) {
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
