// SPDX-License-Identifier: GPL-2.0-or-later
/* The set layer on simulated devices: phases as barriers, rollback after faults. */
#include <errno.h>
#include <string.h>

#include "set.h"
#include "tap.h"
#include "vfiomig.h"

struct trace {
	char log[4096];
	size_t len;
};

static void on_arc(void *userdata, const struct vfm_device *dev,
		   const struct vfm_arc_result *arc)
{
	struct trace *t = userdata;
	int n = snprintf(t->log + t->len, sizeof(t->log) - t->len, "%s:%s>%s%s ",
			 vfm_device_name(dev), vfm_state_name(arc->from),
			 vfm_state_name(arc->to), arc->error ? "!" : "");

	if (n > 0 && (size_t)n < sizeof(t->log) - t->len)
		t->len += (size_t)n;
}

static int open_all(struct vfm_ctx *ctx, const char *const *specs, size_t n,
		    struct vfm_device **devs)
{
	for (size_t i = 0; i < n; i++) {
		int r = vfm_device_open(ctx, specs[i], &devs[i]);

		if (r < 0) {
			tap_diag("open %s: %s (%s)", specs[i], strerror(-r),
				 vfm_ctx_last_error(ctx));
			return r;
		}
	}
	return 0;
}

static bool all_in(struct vfm_device **devs, size_t n, enum vfm_state want)
{
	for (size_t i = 0; i < n; i++) {
		enum vfm_state st;

		if (vfm_device_get_state(devs[i], &st) < 0 || st != want) {
			tap_diag("%s is %s, expected %s", vfm_device_name(devs[i]),
				 vfm_state_name(st), vfm_state_name(want));
			return false;
		}
	}
	return true;
}

static void put_all(struct vfm_device **devs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		devs[i] = vfm_device_unref(devs[i]);
}

/* Save-side phases on three P2P devices, with a fault on @fault_spec (device 1). */
static void save_phases_with_fault(struct vfm_ctx *ctx, const char *fault, int want_err,
				   enum vfm_phase fail_phase)
{
	char spec1[256];
	const char *specs[3] = { "sim:a", spec1, "sim:c" };
	struct vfm_device *devs[3] = { NULL };
	struct vfm_set set = { 0 };
	struct trace t = { 0 };
	size_t failed = 99;
	int r = 0;

	snprintf(spec1, sizeof(spec1), "sim:b,%s", fault);
	if (open_all(ctx, specs, 3, devs) < 0 || vfm_set_init(&set, devs, 3, NULL) < 0) {
		tap_ok(false, "set with %s", fault);
		put_all(devs, 3);
		return;
	}
	set.on_arc = on_arc;
	set.userdata = &t;
	for (enum vfm_phase p = VFM_PHASE_PRECOPY; p <= VFM_PHASE_STOP_COPY && r >= 0; p++) {
		r = vfm_set_phase(&set, p, &failed);
		if (r < 0)
			tap_ok(p == fail_phase && failed == 1 && r == want_err,
			       "%s fails in phase %s on device 1 with %s", fault, vfm_phase_name(p),
			       strerror(-r));
	}
	if (r >= 0)
		tap_ok(false, "%s should have failed", fault);
	r = vfm_set_rollback(&set);
	tap_ok(r == 0 && all_in(devs, 3, VFM_STATE_RUNNING),
	       "after %s, rollback leaves every device RUNNING (%s)", fault, r ? strerror(-r) : "ok");
	put_all(devs, 3);
}

int main(void)
{
	struct vfm_ctx *ctx = NULL;
	struct vfm_device *devs[3] = { NULL };
	struct vfm_set set = { 0 };
	struct trace t = { 0 };
	size_t failed;

	if (vfm_ctx_new(&ctx) < 0)
		return 1;

	/* Phase targets per flags. */
	tap_eq(vfm_phase_target(VFM_PHASE_QUIESCE, VFM_MIG_ALL, VFM_STATE_PRE_COPY),
	       VFM_STATE_PRE_COPY_P2P, "quiesce from PRE_COPY is PRE_COPY_P2P");
	tap_eq(vfm_phase_target(VFM_PHASE_QUIESCE, VFM_MIG_STOP_COPY, VFM_STATE_RUNNING),
	       VFM_STATE_RUNNING, "quiesce without P2P leaves the device running");
	tap_eq(vfm_phase_target(VFM_PHASE_PRECOPY, VFM_MIG_STOP_COPY | VFM_MIG_P2P,
				VFM_STATE_RUNNING),
	       VFM_STATE_RUNNING, "precopy without PRE_COPY stays RUNNING");
	tap_eq(vfm_phase_target(VFM_PHASE_UNQUIESCE, VFM_MIG_ALL, VFM_STATE_STOP),
	       VFM_STATE_RUNNING_P2P, "unquiesce is RUNNING_P2P with P2P");

	/* The barrier: every device is in a P2P state before any device stops. */
	{
		const char *specs[3] = { "sim:a", "sim:b,flags=stop-copy+p2p", "sim:c" };
		const char *first_stop;
		const char *last_p2p;

		if (open_all(ctx, specs, 3, devs) == 0 && vfm_set_init(&set, devs, 3, NULL) == 0) {
			set.on_arc = on_arc;
			set.userdata = &t;
			tap_ok(vfm_set_all_p2p(&set), "all three have P2P");
			tap_ok(vfm_set_phase(&set, VFM_PHASE_PRECOPY, NULL) == 0 &&
				       vfm_set_phase(&set, VFM_PHASE_QUIESCE, NULL) == 0 &&
				       vfm_set_phase(&set, VFM_PHASE_STOP_COPY, NULL) == 0,
			       "precopy, quiesce, stop-copy");
			tap_ok(all_in(devs, 3, VFM_STATE_STOP_COPY), "all in STOP_COPY");
			first_stop = strstr(t.log, ">STOP");
			last_p2p = NULL;
			for (const char *p = t.log; (p = strstr(p, "P2P ")); p++)
				last_p2p = p;
			tap_ok(first_stop && last_p2p && last_p2p < first_stop,
			       "no device stopped before every device reached P2P");
			tap_diag("%s", t.log);
			tap_ok(vfm_set_rollback(&set) == 0 && all_in(devs, 3, VFM_STATE_RUNNING),
			       "rollback from STOP_COPY");
		} else {
			tap_ok(false, "open three sim devices");
		}
		put_all(devs, 3);
	}

	/* A device without migration support is named. */
	{
		const char *specs[2] = { "sim:a", "sim:n,no-migration" };

		failed = 99;
		if (open_all(ctx, specs, 2, devs) == 0)
			tap_ok(vfm_set_init(&set, devs, 2, &failed) == -ENOTTY && failed == 1,
			       "set_init names the device without migration");
		put_all(devs, 2);
	}

	/* Faults at each save-side arc, then rollback. */
	save_phases_with_fault(ctx, "fail-arc=running:pre_copy", -EIO, VFM_PHASE_PRECOPY);
	save_phases_with_fault(ctx, "fail-arc=pre_copy:pre_copy_p2p:ETIMEDOUT", -ETIMEDOUT,
			       VFM_PHASE_QUIESCE);
	save_phases_with_fault(ctx, "fail-arc=pre_copy_p2p:stop_copy", -EIO,
			       VFM_PHASE_STOP_COPY);
	save_phases_with_fault(ctx, "error-arc=pre_copy_p2p:stop_copy", -EIO,
			       VFM_PHASE_STOP_COPY);
	save_phases_with_fault(ctx, "flags=stop-copy+p2p,error-arc=running_p2p:stop", -EIO,
			       VFM_PHASE_STOP_COPY);

	/* Rollback of a destination set: RESUMING devices are reset. */
	{
		const char *specs[2] = { "sim:d1", "sim:d2" };

		if (open_all(ctx, specs, 2, devs) == 0 && vfm_set_init(&set, devs, 2, NULL) == 0) {
			tap_ok(vfm_set_phase(&set, VFM_PHASE_RESUMING, NULL) == 0 &&
				       all_in(devs, 2, VFM_STATE_RESUMING),
			       "destination set in RESUMING");
			tap_ok(vfm_set_rollback(&set) == 0 && all_in(devs, 2, VFM_STATE_RUNNING),
			       "rollback resets RESUMING devices to RUNNING");
		}
		put_all(devs, 2);
	}

	/* A reset that fails is reported. */
	{
		const char *specs[1] = { "sim:r,fail-reset,error-arc=running_p2p:stop" };

		if (open_all(ctx, specs, 1, devs) == 0 && vfm_set_init(&set, devs, 1, NULL) == 0) {
			vfm_set_phase(&set, VFM_PHASE_QUIESCE, NULL);
			tap_ok(vfm_set_phase(&set, VFM_PHASE_STOP, NULL) < 0, "arc into ERROR");
			tap_ok(vfm_set_rollback(&set) < 0, "rollback reports a failed reset");
		}
		put_all(devs, 1);
	}

	vfm_ctx_unref(ctx);
	return tap_done();
}
