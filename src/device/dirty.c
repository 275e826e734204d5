// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*), backend-independent half:
 * every argument is checked here, with a sentence naming the device, before a backend
 * sees it, and whether logging is on is tracked per open, since the kernel's VFIO core
 * does not (mtty takes a second start, or a report before any start, without a word).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx-internal.h"
#include "device-internal.h"
#include "util.h"

_printf_(3, 4) static int fail(struct vfm_dirty_err *err, int r, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool page_size_ok(uint64_t p)
{
	return p >= VFM_DIRTY_PAGE_MIN && p <= VFM_DIRTY_PAGE_MAX && !(p & (p - 1));
}

/* The driver has no logging at all (the kernel's ENOTTY: no log_ops), or the kernel
 * cannot report (EOPNOTSUPP: the iova_bitmap of CONFIG_IOMMUFD_DRIVER is missing). */
static int unsupported(struct vfm_device *dev, struct vfm_dirty_err *err, int r,
		       bool report)
{
	if (report && r == -EOPNOTSUPP)
		return fail(err, -EOPNOTSUPP,
			    "%s: this kernel cannot report DMA dirty pages (EOPNOTSUPP: "
			    "built without CONFIG_IOMMUFD_DRIVER?)",
			    dev->id.name);
	return fail(err, -EOPNOTSUPP, "%s: the driver does not support DMA dirty logging",
		    dev->id.name);
}

_public_ int vfm_device_dirty_probe(struct vfm_device *dev, struct vfm_dirty_err *err)
{
	int r;

	if (!dev)
		return -EINVAL;
	if (!dev->ops->dirty_probe)
		return unsupported(dev, err, -ENOTTY, false);
	r = dev->ops->dirty_probe(dev);
	/* ENOTTY: no log_ops; EINVAL: kernels that predate the feature */
	if (r == -ENOTTY || r == -EOPNOTSUPP || r == -EINVAL)
		return unsupported(dev, err, r, false);
	if (r < 0)
		return fail(err, r, "%s: probing DMA dirty logging: %s", dev->id.name,
			    strerror(-r));
	return 0;
}

_public_ int vfm_dirty_bitmap_size(uint64_t length, uint64_t page_size,
				   uint64_t *ret_bytes)
{
	uint64_t pages, bytes;

	if (!page_size_ok(page_size) || length == 0 || length % page_size)
		return -EINVAL;
	pages = length / page_size;
	/* whole u64 words; pages <= 2^52 here, so nothing overflows */
	bytes = (pages + 63) / 64 * 8;
	if (bytes > VFM_DIRTY_BITMAP_MAX)
		return -E2BIG;
	if (ret_bytes)
		*ret_bytes = bytes;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct vfm_dirty_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

_public_ int vfm_device_dirty_start(struct vfm_device *dev,
				    const struct vfm_dirty_range *ranges, size_t n,
				    uint64_t page_size, uint64_t *ret_page_size,
				    struct vfm_dirty_err *err)
{
	_cleanup_free_ struct vfm_dirty_range *sorted = NULL;
	const char *name;
	uint64_t used;
	int r;

	if (!dev)
		return -EINVAL;
	name = dev->id.name;
	if (dev->dirty_active)
		return fail(err, -EALREADY,
			    "%s: DMA dirty logging is already started (stop it first)",
			    name);
	if (!ranges || n == 0)
		return fail(err, -EINVAL,
			    "%s: DMA dirty logging needs at least one range", name);
	if (n > VFM_DIRTY_RANGES_MAX)
		return fail(err, -E2BIG,
			    "%s: %zu ranges: at most %d can be logged at once", name, n,
			    VFM_DIRTY_RANGES_MAX);
	if (!page_size_ok(page_size))
		return fail(
			err, -EINVAL,
			"%s: page size %llu: expected a power of two from %llu to %llu",
			name, (unsigned long long)page_size,
			(unsigned long long)VFM_DIRTY_PAGE_MIN,
			(unsigned long long)VFM_DIRTY_PAGE_MAX);
	for (size_t i = 0; i < n; i++) {
		uint64_t iova = ranges[i].iova, len = ranges[i].length, end;

		if (len == 0)
			return fail(err, -EINVAL, "%s: range %zu (IOVA 0x%llx) is empty",
				    name, i, (unsigned long long)iova);
		if (len > VFM_DIRTY_RANGE_MAX)
			return fail(
				err, -E2BIG,
				"%s: range %zu (IOVA 0x%llx) is 0x%llx bytes long: at "
				"most 0x%llx",
				name, i, (unsigned long long)iova,
				(unsigned long long)len,
				(unsigned long long)VFM_DIRTY_RANGE_MAX);
		if (__builtin_add_overflow(iova, len, &end))
			return fail(err, -EOVERFLOW,
				    "%s: range %zu: IOVA 0x%llx + 0x%llx is past 2^64",
				    name, i, (unsigned long long)iova,
				    (unsigned long long)len);
		if (iova % page_size || len % page_size)
			return fail(err, -EINVAL,
				    "%s: range %zu: IOVA 0x%llx + 0x%llx is not aligned "
				    "to the "
				    "%llu-byte page",
				    name, i, (unsigned long long)iova,
				    (unsigned long long)len,
				    (unsigned long long)page_size);
	}
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, ranges, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_range);
	for (size_t i = 1; i < n; i++)
		if (sorted[i - 1].iova + sorted[i - 1].length > sorted[i].iova)
			return fail(err, -EINVAL,
				    "%s: ranges at IOVA 0x%llx and 0x%llx overlap", name,
				    (unsigned long long)sorted[i - 1].iova,
				    (unsigned long long)sorted[i].iova);

	if (!dev->ops->dirty_start)
		return unsupported(dev, err, -ENOTTY, false);
	used = page_size;
	r = dev->ops->dirty_start(dev, ranges, n, &used);
	if (r == -ENOTTY || r == -EOPNOTSUPP)
		return unsupported(dev, err, r, false);
	if (r < 0)
		return fail(err, r, "%s: cannot start DMA dirty logging: %s", name,
			    strerror(-r));
	if (!page_size_ok(used)) {
		/* a driver that answers nonsense: stop what it started */
		if (dev->ops->dirty_stop)
			dev->ops->dirty_stop(dev);
		return fail(err, -EPROTO,
			    "%s: the driver chose page size %llu for DMA dirty logging",
			    name, (unsigned long long)used);
	}
	vfm_dbg(dev->ctx,
		"%s: DMA dirty logging on, %zu ranges, page size %llu (asked %llu)", name,
		n, (unsigned long long)used, (unsigned long long)page_size);
	dev->dirty_active = true;
	dev->dirty_page_size = used;
	dev->dirty_ranges = TAKE_PTR(sorted);
	dev->dirty_n = n;
	if (ret_page_size)
		*ret_page_size = used;
	return 0;
}

/* Whether [iova, end) lies inside the union of the logged ranges (sorted, disjoint). */
static bool inside_logged(const struct vfm_device *dev, uint64_t iova, uint64_t end)
{
	uint64_t at = iova;

	for (size_t i = 0; i < dev->dirty_n && at < end; i++) {
		const struct vfm_dirty_range *rg = &dev->dirty_ranges[i];

		if (rg->iova + rg->length <= at)
			continue;
		if (rg->iova > at)
			return false; /* a hole */
		at = rg->iova + rg->length;
	}
	return at >= end;
}

_public_ int64_t vfm_device_dirty_report(struct vfm_device *dev, uint64_t iova,
					 uint64_t length, uint64_t page_size,
					 uint64_t *bitmap, size_t bitmap_size,
					 struct vfm_dirty_err *err)
{
	const char *name;
	uint64_t need, end, count = 0;
	int r;

	if (!dev)
		return -EINVAL;
	name = dev->id.name;
	if (!dev->dirty_active)
		return fail(err, -EINVAL, "%s: DMA dirty logging is not started", name);
	if (page_size == 0)
		page_size = dev->dirty_page_size;
	if (!page_size_ok(page_size))
		return fail(
			err, -EINVAL,
			"%s: report page size %llu: expected a power of two from %llu to "
			"%llu",
			name, (unsigned long long)page_size,
			(unsigned long long)VFM_DIRTY_PAGE_MIN,
			(unsigned long long)VFM_DIRTY_PAGE_MAX);
	if (length == 0 || iova % page_size || length % page_size)
		return fail(
			err, -EINVAL,
			"%s: report of IOVA 0x%llx + 0x%llx: expected a non-empty range "
			"aligned to the %llu-byte page",
			name, (unsigned long long)iova, (unsigned long long)length,
			(unsigned long long)page_size);
	if (__builtin_add_overflow(iova, length, &end))
		return fail(err, -EOVERFLOW,
			    "%s: report: IOVA 0x%llx + 0x%llx is past 2^64", name,
			    (unsigned long long)iova, (unsigned long long)length);
	if (!inside_logged(dev, iova, end))
		return fail(err, -ERANGE,
			    "%s: report of IOVA 0x%llx + 0x%llx: not inside the logged "
			    "ranges",
			    name, (unsigned long long)iova, (unsigned long long)length);
	r = vfm_dirty_bitmap_size(length, page_size, &need);
	if (r < 0)
		return fail(
			err, r,
			"%s: report of 0x%llx bytes in %llu-byte pages: its bitmap would "
			"exceed %llu bytes",
			name, (unsigned long long)length, (unsigned long long)page_size,
			(unsigned long long)VFM_DIRTY_BITMAP_MAX);
	if (!bitmap || (uintptr_t)bitmap % 8)
		return fail(err, -EINVAL, "%s: report: the bitmap is %s", name,
			    bitmap ? "not 8-byte aligned" : "missing");
	if (bitmap_size < need)
		return fail(
			err, -ENOBUFS,
			"%s: report of IOVA 0x%llx + 0x%llx in %llu-byte pages needs a "
			"bitmap of %llu bytes, given %zu",
			name, (unsigned long long)iova, (unsigned long long)length,
			(unsigned long long)page_size, (unsigned long long)need,
			bitmap_size);
	if (!dev->ops->dirty_report)
		return unsupported(dev, err, -ENOTTY, true);

	memset(bitmap, 0, need);
	r = dev->ops->dirty_report(dev, iova, length, page_size, bitmap);
	if (r == -ENOTTY || r == -EOPNOTSUPP)
		return unsupported(dev, err, r, true);
	if (r < 0)
		return fail(
			err, r,
			"%s: cannot report DMA dirty pages of IOVA 0x%llx + 0x%llx: %s "
			"(the log may be lost: treat the range as dirty)",
			name, (unsigned long long)iova, (unsigned long long)length,
			strerror(-r));
	/* bits past the last page are the kernel's to leave alone: not counted */
	for (uint64_t w = 0, pages = length / page_size; w < need / 8; w++) {
		uint64_t v = bitmap[w];

		if (w == need / 8 - 1 && pages % 64)
			v &= (UINT64_C(1) << (pages % 64)) - 1;
		count += (uint64_t)__builtin_popcountll(v);
	}
	return (int64_t)count;
}

_public_ int vfm_device_dirty_stop(struct vfm_device *dev, struct vfm_dirty_err *err)
{
	int r = 0;

	if (!dev)
		return -EINVAL;
	if (!dev->dirty_active)
		return fail(err, -EINVAL, "%s: DMA dirty logging is not started",
			    dev->id.name);
	if (dev->ops->dirty_stop)
		r = dev->ops->dirty_stop(dev);
	dev->dirty_active = false;
	free(dev->dirty_ranges);
	dev->dirty_ranges = NULL;
	dev->dirty_n = 0;
	if (r < 0)
		return fail(err, r, "%s: stopping DMA dirty logging: %s", dev->id.name,
			    strerror(-r));
	return 0;
}

_public_ bool vfm_device_dirty_active(const struct vfm_device *dev,
				      uint64_t *ret_page_size)
{
	if (!dev || !dev->dirty_active)
		return false;
	if (ret_page_size)
		*ret_page_size = dev->dirty_page_size;
	return true;
}

void vfm_device_dirty_release(struct vfm_device *dev)
{
	if (dev->dirty_active) {
		vfm_dbg(dev->ctx, "%s: stopping DMA dirty logging at close",
			dev->id.name);
		vfm_device_dirty_stop(dev, NULL);
	}
	free(dev->dirty_ranges);
	dev->dirty_ranges = NULL;
}
