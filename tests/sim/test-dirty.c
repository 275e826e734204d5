// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * DMA dirty logging through the public API (vfm_device_dirty_*) on simulated devices:
 * the library's bounds and messages, the simulator's pattern (sim keys dma-dirty,
 * dma-page, no-dma-logging) bit for bit, report page sizes larger and smaller than
 * the device's, read-and-clear, stop and unref with logging on.
 *
 * The expected bitmaps are worked out here from the documented pattern (vfiomig(8):
 * before its k-th report the device dirties the pages n of the logged ranges with
 * n mod N = (K + k - 1) mod N), not from sim.c's code.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "vfiomig.h"

static struct vfm_ctx *ctx;

static struct vfm_device *open_sim(const char *spec)
{
	struct vfm_device *dev = NULL;
	int r = vfm_device_open(ctx, spec, &dev);

	if (r < 0)
		tap_diag("open %s: %s (%s)", spec, strerror(-r), vfm_ctx_last_error(ctx));
	return dev;
}

/* Whether bits [0, pages) of @bm are exactly the pages listed in @want (n entries). */
static bool bits_are(const uint64_t *bm, uint64_t pages, const uint64_t *want, size_t n)
{
	size_t k = 0;

	for (uint64_t i = 0; i < pages; i++) {
		bool set = bm[i / 64] >> (i % 64) & 1;
		bool expect = k < n && want[k] == i;

		if (set != expect) {
			tap_diag("  page %" PRIu64 ": %s, expected %s", i,
				 set ? "dirty" : "clean", expect ? "dirty" : "clean");
			return false;
		}
		k += expect;
	}
	return k == n;
}

static void test_bounds(void)
{
	struct vfm_device *dev = open_sim("sim:b");
	struct vfm_dirty_range r[VFM_DIRTY_RANGES_MAX + 1];
	struct vfm_dirty_err err = {""};
	uint64_t bm[4] = {0}, used = 0, bytes = 0;

	if (!tap_ok(dev != NULL, "open sim:b"))
		return;
	tap_eq(vfm_dirty_bitmap_size(4096 * 64, 4096, &bytes), 0,
	       "bitmap size of 64 pages");
	tap_eq(bytes, 8, "64 pages: one word");
	tap_eq(vfm_dirty_bitmap_size(4096 * 65, 4096, &bytes), 0,
	       "bitmap size of 65 pages");
	tap_eq(bytes, 16, "65 pages: two words");
	tap_eq(vfm_dirty_bitmap_size(0, 4096, &bytes), -EINVAL, "length 0: EINVAL");
	tap_eq(vfm_dirty_bitmap_size(4096, 2048, &bytes), -EINVAL, "page 2K: EINVAL");
	tap_eq(vfm_dirty_bitmap_size(6000, 4096, &bytes), -EINVAL,
	       "partial page: EINVAL");
	tap_eq(vfm_dirty_bitmap_size(UINT64_C(1) << 48, 4096, &bytes), -E2BIG,
	       "256 TiB in 4K pages: an 8 GiB bitmap, E2BIG");
	tap_eq(vfm_dirty_bitmap_size(UINT64_C(1) << 45, 4096, &bytes), 0,
	       "32 TiB in 4K pages: exactly the 1 GiB bound");

	tap_eq(vfm_device_dirty_report(dev, 0, 4096, 0, bm, sizeof(bm), &err), -EINVAL,
	       "report before start: EINVAL");
	tap_ok(strstr(err.msg, "sim:b: DMA dirty logging is not started") != NULL,
	       "... naming the device: %s", err.msg);
	tap_eq(vfm_device_dirty_stop(dev, &err), -EINVAL, "stop before start: EINVAL");

	tap_eq(vfm_device_dirty_start(dev, r, 0, 4096, &used, &err), -EINVAL,
	       "no range: EINVAL");
	for (size_t i = 0; i <= VFM_DIRTY_RANGES_MAX; i++)
		r[i] = (struct vfm_dirty_range){.iova = i * 8192, .length = 4096};
	tap_eq(vfm_device_dirty_start(dev, r, VFM_DIRTY_RANGES_MAX + 1, 4096, &used,
				      &err),
	       -E2BIG, "257 ranges: E2BIG");
	tap_ok(strstr(err.msg, "at most 256") != NULL, "... says the bound: %s", err.msg);
	tap_eq(vfm_device_dirty_start(dev, r, 1, 3000, &used, &err), -EINVAL,
	       "page size 3000: EINVAL");
	tap_eq(vfm_device_dirty_start(dev, r, 1, 2048, &used, &err), -EINVAL,
	       "page size 2K: EINVAL");
	tap_eq(vfm_device_dirty_start(dev, r, 1, UINT64_C(1) << 31, &used, &err), -EINVAL,
	       "page size 2G: EINVAL");
	r[0] = (struct vfm_dirty_range){.iova = 4096, .length = 0};
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -EINVAL,
	       "empty range: EINVAL");
	r[0] = (struct vfm_dirty_range){.iova = 4097, .length = 4096};
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -EINVAL,
	       "unaligned IOVA: EINVAL");
	r[0] = (struct vfm_dirty_range){.iova = 4096, .length = 5000};
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -EINVAL,
	       "unaligned length: EINVAL");
	r[0] = (struct vfm_dirty_range){.iova = 4096,
					.length = (UINT64_C(1) << 48) + 4096};
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -E2BIG,
	       "a range over 256 TiB: E2BIG");
	r[0] = (struct vfm_dirty_range){.iova = UINT64_MAX - 4095, .length = 8192};
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -EOVERFLOW,
	       "iova + length past 2^64: EOVERFLOW");
	r[0] = (struct vfm_dirty_range){.iova = 0x10000, .length = 0x4000};
	r[1] = (struct vfm_dirty_range){.iova = 0x0, .length = 0x8000};
	r[2] = (struct vfm_dirty_range){.iova = 0x13000, .length = 0x2000};
	tap_eq(vfm_device_dirty_start(dev, r, 3, 4096, &used, &err), -EINVAL,
	       "overlapping ranges (given out of order): EINVAL");
	tap_ok(strstr(err.msg, "0x10000 and 0x13000 overlap") != NULL, "... which: %s",
	       err.msg);
	tap_ok(!vfm_device_dirty_active(dev, NULL), "nothing started by the refusals");

	/* adjacent ranges are fine; a report may span them */
	r[2] = (struct vfm_dirty_range){.iova = 0x14000, .length = 0x2000};
	tap_eq(vfm_device_dirty_start(dev, r, 3, 4096, &used, &err), 0, "three ranges");
	tap_eq(used, 4096, "page size used: the one asked for");
	tap_ok(vfm_device_dirty_active(dev, &used) && used == 4096, "active, 4K");
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -EALREADY,
	       "second start: EALREADY");
	tap_ok(strstr(err.msg, "already started") != NULL, "... says so: %s", err.msg);
	tap_eq(vfm_device_dirty_report(dev, 0x10000, 0x6000, 0, bm, sizeof(bm), &err), 0,
	       "a report across two adjacent ranges");
	tap_eq(vfm_device_dirty_report(dev, 0x8000, 0x1000, 0, bm, sizeof(bm), &err),
	       -ERANGE, "a report in the hole between ranges: ERANGE");
	tap_eq(vfm_device_dirty_report(dev, 0x15000, 0x2000, 0, bm, sizeof(bm), &err),
	       -ERANGE, "a report past the last range: ERANGE");
	tap_eq(vfm_device_dirty_report(dev, 0x1000, 0x1000, 0, bm, 0, &err), -ENOBUFS,
	       "a bitmap of 0 bytes: ENOBUFS");
	tap_ok(strstr(err.msg, "needs a bitmap of 8 bytes, given 0") != NULL, "... %s",
	       err.msg);
	tap_eq(vfm_device_dirty_report(dev, 0x1000, 0x1000, 0, NULL, 8, &err), -EINVAL,
	       "no bitmap: EINVAL");
	tap_eq(vfm_device_dirty_report(dev, 0x1000, 0x1000, 0,
				       (uint64_t *)((char *)bm + 4), 8, &err),
	       -EINVAL, "a misaligned bitmap: EINVAL");
	tap_eq(vfm_device_dirty_report(dev, 0x1800, 0x1000, 0, bm, 8, &err), -EINVAL,
	       "a report not on a page boundary: EINVAL");
	tap_eq(vfm_device_dirty_report(dev, 0x1000, 0x1000, 1000, bm, 8, &err), -EINVAL,
	       "report page size 1000: EINVAL");
	tap_eq(vfm_device_dirty_stop(dev, &err), 0, "stop");
	tap_ok(!vfm_device_dirty_active(dev, NULL), "not active after stop");
	r[0] = (struct vfm_dirty_range){.iova = 0x1000, .length = 0x1000};
	tap_eq(vfm_device_dirty_start(dev, r, 1, 8192, &used, &err), -EINVAL,
	       "a restart whose range is not 8K-aligned: EINVAL");
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), 0,
	       "restart after stop");
	vfm_device_unref(dev); /* logging on: the unref stops it (ASan: nothing leaks) */

	dev = open_sim("sim:nolog,no-dma-logging");
	if (!tap_ok(dev != NULL, "open sim:nolog,no-dma-logging"))
		return;
	tap_eq(vfm_device_dirty_probe(dev, &err), -EOPNOTSUPP, "probe: EOPNOTSUPP");
	tap_ok(strcmp(err.msg,
		      "sim:nolog: the driver does not support DMA dirty logging") == 0,
	       "probe message: %s", err.msg);
	err.msg[0] = '\0';
	tap_eq(vfm_device_dirty_start(dev, r, 1, 4096, &used, &err), -EOPNOTSUPP,
	       "start: EOPNOTSUPP");
	tap_ok(strcmp(err.msg,
		      "sim:nolog: the driver does not support DMA dirty logging") == 0,
	       "start message: %s", err.msg);
	vfm_device_unref(dev);
}

static void test_spec(void)
{
	static const char *const bad[] = {
		"sim:s,dma-dirty=0",
		"sim:s,dma-dirty=4+4",
		"sim:s,dma-dirty=65537",
		"sim:s,dma-dirty=x",
		"sim:s,dma-dirty=3+",
		"sim:s,dma-page=3000",
		"sim:s,dma-page=2K",
		"sim:s,dma-page=2G",
		"sim:s,no-dma-logging=1",
		"sim:s,no-dma-logging,dma-dirty=2",
		"sim:s,no-dma-logging,dma-page=8K",
		"sim:s,dma-dirty",
	};
	struct vfm_device *dev = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = vfm_device_open(ctx, bad[i], &dev);

		tap_ok(r == -EINVAL, "%s refused: %s", bad[i], vfm_ctx_last_error(ctx));
		if (r >= 0)
			vfm_device_unref(dev);
	}
	dev = open_sim("sim:s,dma-dirty=65536+65535,dma-page=1G");
	tap_ok(dev != NULL, "dma-dirty=65536+65535,dma-page=1G accepted");
	vfm_device_unref(dev);
}

/* The documented pattern, bit for bit, in the device's own pages. */
static void test_pattern(void)
{
	/* N = 4, K = 1; ranges at device pages 16..31 and 100..109 */
	struct vfm_device *dev = open_sim("sim:p,dma-dirty=4+1");
	struct vfm_dirty_range r[2] = {
		{.iova = 16 * 4096, .length = 16 * 4096},
		{.iova = 100 * 4096, .length = 10 * 4096},
	};
	struct vfm_dirty_err err = {""};
	uint64_t bm[2], used;
	int64_t n;

	if (!tap_ok(dev != NULL, "open sim:p,dma-dirty=4+1"))
		return;
	tap_eq(vfm_device_dirty_probe(dev, &err), 0, "probe: supported");
	tap_eq(vfm_device_dirty_start(dev, r, 2, 4096, &used, &err), 0, "start");

	/* write 1 dirties n % 4 == 1: pages 17 21 25 29 (range 0: bits 1 5 9 13) and
	 * 101 105 109 (range 1: bits 1 5 9) */
	n = vfm_device_dirty_report(dev, r[0].iova, r[0].length, 0, bm, sizeof(bm), &err);
	tap_eq(n, 4, "report 1, range 0: 4 dirty");
	tap_ok(bits_are(bm, 16, (const uint64_t[]){1, 5, 9, 13}, 4),
	       "report 1, range 0: bits 1 5 9 13");
	/* write 2: n % 4 == 2 adds 18 22 26 30 and 102 106; range 1 has 101 105 109 from
	 * write 1 still */
	n = vfm_device_dirty_report(dev, r[1].iova, r[1].length, 0, bm, sizeof(bm), &err);
	tap_eq(n, 5, "report 2, range 1: 5 dirty");
	tap_ok(bits_are(bm, 10, (const uint64_t[]){1, 2, 5, 6, 9}, 5),
	       "report 2, range 1: bits 1 2 5 6 9 (writes 1 and 2)");
	/* write 3: n % 4 == 3 adds 19 23 27 31 and 103 107; range 0 has write 2's too */
	n = vfm_device_dirty_report(dev, r[0].iova, r[0].length, 0, bm, sizeof(bm), &err);
	tap_ok(n == 8 && bits_are(bm, 16, (const uint64_t[]){2, 3, 6, 7, 10, 11, 14, 15},
				  8),
	       "report 3, range 0: bits 2 3 6 7 10 11 14 15 (writes 2 and 3, 1 cleared)");
	/* write 4: n % 4 == 0: 16 20 24 28 and 100 104 108; a report of pages 20..23 only
	 */
	n = vfm_device_dirty_report(dev, 20 * 4096, 4 * 4096, 0, bm, sizeof(bm), &err);
	tap_ok(n == 1 && bits_are(bm, 4, (const uint64_t[]){0}, 1),
	       "report 4 of pages 20-23: only page 20");
	/* write 5: n % 4 == 1 again.  Range 0: 16 24 28 (write 4, not read) + 17 21 25 29
	 */
	n = vfm_device_dirty_report(dev, r[0].iova, r[0].length, 0, bm, sizeof(bm), &err);
	tap_ok(n == 7 && bits_are(bm, 16, (const uint64_t[]){0, 1, 5, 8, 9, 12, 13}, 7),
	       "report 5, range 0: bits 0 1 5 8 9 12 13 (a partial read clears only "
	       "itself)");
	/* the bitmap is zeroed first: stale bits never survive */
	memset(bm, 0xff, sizeof(bm));
	n = vfm_device_dirty_report(dev, 16 * 4096, 4096, 0, bm, sizeof(bm), &err);
	tap_ok(n == 0 && (bm[0] & 1) == 0 && bm[1] == UINT64_MAX,
	       "report 6 of page 16: clean, its word zeroed, the rest of the buffer "
	       "untouched");
	tap_eq(vfm_device_dirty_stop(dev, &err), 0, "stop");
	vfm_device_unref(dev);

	/* no dma-dirty: logs, never dirties (mtty) */
	dev = open_sim("sim:q");
	if (dev && vfm_device_dirty_start(dev, r, 2, 4096, &used, &err) == 0) {
		bm[0] = bm[1] = 0;
		n = vfm_device_dirty_report(dev, r[0].iova, r[0].length, 0, bm,
					    sizeof(bm), &err);
		tap_ok(n == 0 && bm[0] == 0, "without dma-dirty: never a dirty page");
	} else {
		tap_ok(false, "without dma-dirty: %s", err.msg);
	}
	vfm_device_unref(dev);
}

/* The device's page size differs from the one asked for, and from the report's. */
static void test_page_sizes(void)
{
	/* the device logs in 16K pages whatever is asked; every write dirties all */
	struct vfm_device *dev = open_sim("sim:g,dma-page=16K,dma-dirty=2");
	struct vfm_dirty_range r = {.iova = 0x100000, .length = 0x20000}; /* 8 x 16K */
	struct vfm_dirty_err err = {""};
	uint64_t bm[1], used = 0;
	int64_t n;

	if (!tap_ok(dev != NULL, "open sim:g,dma-page=16K,dma-dirty=2"))
		return;
	tap_eq(vfm_device_dirty_start(dev, &r, 1, 4096, &used, &err), 0,
	       "start asking 4K");
	tap_eq(used, 16384, "the device's 16K page size comes back");
	/* write 1: 16K pages n even: 0x100000/16K = 64 (even): device pages 64 66 68 70.
	 * In 4K report pages: 32 bits, dirty 0-3, 8-11, 16-19, 24-27 */
	n = vfm_device_dirty_report(dev, r.iova, r.length, 4096, bm, sizeof(bm), &err);
	tap_ok(n == 16 && bm[0] == UINT64_C(0x0f0f0f0f),
	       "report in 4K pages: each 16K page spread over 4 bits (0x%" PRIx64 ")",
	       bm[0]);
	/* write 2: odd pages 65 67 69 71; in 64K report pages (4 device pages each): both
	 * bits */
	n = vfm_device_dirty_report(dev, r.iova, r.length, 65536, bm, sizeof(bm), &err);
	tap_ok(n == 2 && bm[0] == 3,
	       "report in 64K pages: 2 bits, merged (0x%" PRIx64 ")", bm[0]);
	/* default report page size: the device's */
	n = vfm_device_dirty_report(dev, r.iova, r.length, 0, bm, sizeof(bm), &err);
	tap_ok(n == 4 && bm[0] == 0x55,
	       "report in the device's 16K pages: 0x55 (0x%" PRIx64 ")", bm[0]);
	vfm_device_unref(dev);
}

int main(void)
{
	if (vfm_ctx_new(&ctx) < 0) {
		tap_ok(false, "vfm_ctx_new");
		return tap_done();
	}
	test_bounds();
	test_spec();
	test_pattern();
	test_page_sizes();
	vfm_ctx_unref(ctx);
	return tap_done();
}
