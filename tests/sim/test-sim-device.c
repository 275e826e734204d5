// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The simulated device backend through the public API (plus src/device/sim.h): spec
 * parsing, the kernel's state machine, the image format, save/restore round trips,
 * PRE_COPY, every fault key, and the speed of a 1 GiB round trip.
 *
 * The expected values (kernel next-step table, arc list, image bytes) are written here
 * again from docs/vfio-migration-uapi.md rather than taken from sim.c, so that a
 * mistake in the simulator shows up as a difference.
 *
 * VFM_SIM_BIG=SIZE (bytes, K/M/G suffix) changes the size of the speed round trip
 * (default 1G; 0 skips it), e.g. under valgrind.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/device/sim.h"
#include "tap.h"
#include "vfiomig.h"

#define HDR 32

static struct vfm_ctx *ctx;

/* ------------------------------------------------------------------------- */
/* reference model                                                           */

static uint64_t ref_splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return crc ^ 0xffffffffu;
}

static void ref_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ref_get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The byte at stream offset @off of the image of (seed, size, flags). */
static uint8_t ref_byte(uint64_t seed, uint64_t size, uint32_t flags, uint64_t off)
{
	uint8_t hdr[HDR];

	if (off >= HDR) {
		uint64_t b = off - HDR;

		uint64_t k = b / 8; /* word k: the 64 KiB block's table word, mixed */
		uint64_t w = ref_splitmix64(seed + k % 8192) ^ (k / 8192) * 0x9e3779b97f4a7c15ull;

		return (uint8_t)(w >> (8 * (b % 8)));
	}
	memcpy(hdr, "VFMSIM01", 8);
	ref_le(hdr + 8, seed, 8);
	ref_le(hdr + 16, size, 8);
	ref_le(hdr + 24, flags, 4);
	ref_le(hdr + 28, ref_crc32c(hdr, 28), 4);
	return hdr[off];
}

static uint8_t *ref_image(uint64_t seed, uint64_t size, uint32_t flags)
{
	uint8_t *img = malloc(HDR + size);

	for (uint64_t i = 0; img && i < HDR + size; i++)
		img[i] = ref_byte(seed, size, flags, i);
	return img;
}

/* clang-format off */
#define ERR VFM_STATE_ERROR
#define STOP VFM_STATE_STOP
#define RUN VFM_STATE_RUNNING
#define SC VFM_STATE_STOP_COPY
#define RES VFM_STATE_RESUMING
#define RP2P VFM_STATE_RUNNING_P2P
#define PC VFM_STATE_PRE_COPY
#define PCP2P VFM_STATE_PRE_COPY_P2P

/* The doc's vfio_from_fsm_table; ERROR row and column all ERROR. */
static const int ref_next[8][8] = {
	/*           ERR  STOP  RUN   SC    RES   RP2P  PC    PCP2P */
	[ERR] =   { ERR, ERR,  ERR,  ERR,  ERR,  ERR,  ERR,  ERR },
	[STOP] =  { ERR, STOP, RP2P, SC,   RES,  RP2P, RP2P, RP2P },
	[RUN] =   { ERR, RP2P, RUN,  RP2P, RP2P, RP2P, PC,   RP2P },
	[SC] =    { ERR, STOP, STOP, SC,   STOP, STOP, ERR,  ERR },
	[RES] =   { ERR, STOP, STOP, STOP, RES,  STOP, STOP, STOP },
	[RP2P] =  { ERR, STOP, RUN,  STOP, STOP, RP2P, RUN,  PCP2P },
	[PC] =    { ERR, RUN,  RUN,  PCP2P, RUN, RUN,  PC,   PCP2P },
	[PCP2P] = { ERR, RP2P, RP2P, SC,   RP2P, RP2P, PC,   PCP2P },
};
/* clang-format on */

static bool ref_has(uint32_t flags, int s)
{
	switch (s) {
	case STOP:
	case RUN:
	case SC:
	case RES: return true;
	case RP2P: return flags & VFM_MIG_P2P;
	case PC: return flags & VFM_MIG_PRE_COPY;
	case PCP2P: return (flags & VFM_MIG_P2P) && (flags & VFM_MIG_PRE_COPY);
	default: return false;
	}
}

/* The kernel's walk: states after each arc; -1 when the kernel answers EINVAL. */
static int ref_walk(uint32_t flags, int from, int to, int path[8])
{
	int n = 0, cur = from;

	if (!ref_has(flags, from) || !ref_has(flags, to))
		return -1;
	while (cur != to) {
		int next = ref_next[cur][to];

		while (next != ERR && !ref_has(flags, next))
			next = ref_next[next][to];
		if (next == ERR || n == 8)
			return -1;
		path[n++] = cur = next;
	}
	return n;
}

/* The doc's table of single arcs. */
static bool ref_arc(uint32_t flags, int from, int to)
{
	/* clang-format off */
	static const struct {
		int from, to;
		const char *rows; /* b: base, n: no P2P, p: +P2P, c: +PRE_COPY w/o P2P,
				   * C: +PRE_COPY (any), a: all three */
	} arcs[] = {
		{ RES, STOP, "b" },   { STOP, RES, "b" },   { STOP, SC, "b" },
		{ SC, STOP, "b" },    { RUN, STOP, "n" },   { STOP, RUN, "n" },
		{ RUN, RP2P, "p" },   { RP2P, RUN, "p" },   { RP2P, STOP, "p" },
		{ STOP, RP2P, "p" },  { RUN, PC, "C" },     { PC, RUN, "C" },
		{ PC, SC, "c" },      { PC, PCP2P, "a" },   { PCP2P, PC, "a" },
		{ PCP2P, RP2P, "a" }, { PCP2P, SC, "a" },   { RP2P, PCP2P, "a" },
	};
	/* clang-format on */
	bool p2p = flags & VFM_MIG_P2P, pre = flags & VFM_MIG_PRE_COPY;

	for (size_t i = 0; i < sizeof(arcs) / sizeof(arcs[0]); i++) {
		if (arcs[i].from != from || arcs[i].to != to)
			continue;
		switch (arcs[i].rows[0]) {
		case 'b': return true;
		case 'n': return !p2p;
		case 'p': return p2p;
		case 'c': return pre && !p2p;
		case 'C': return pre;
		case 'a': return pre && p2p;
		}
	}
	return false;
}

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */

static struct vfm_device *open_ok(const char *spec)
{
	struct vfm_device *dev = NULL;
	int r = vfm_device_open(ctx, spec, &dev);

	if (r < 0) {
		tap_ok(false, "open %s: %s (%s)", spec, strerror(-r),
		       vfm_ctx_last_error(ctx));
		return NULL;
	}
	return dev;
}

static int state_of(struct vfm_device *dev)
{
	enum vfm_state s;
	int r = vfm_device_get_state(dev, &s);

	return r < 0 ? r : (int)s;
}

/* Read the whole session until 0 (or an error) into @buf, @chunks cycling. */
static int64_t read_all(struct vfm_device *dev, uint8_t *buf, size_t cap,
			const size_t *chunks, size_t n_chunks)
{
	size_t total = 0;

	for (size_t i = 0;; i++) {
		size_t want = chunks[i % n_chunks];
		ssize_t n;

		if (total + want > cap)
			want = cap - total;
		n = vfm_device_read(dev, buf + total, want);
		if (n < 0)
			return n;
		if (n == 0)
			return want == 0 ? -E2BIG : (int64_t)total;
		total += (size_t)n;
	}
}

static int write_all(struct vfm_device *dev, const uint8_t *buf, size_t len,
		     const size_t *chunks, size_t n_chunks)
{
	size_t done = 0;

	for (size_t i = 0; done < len; i++) {
		size_t want = chunks[i % n_chunks];
		ssize_t n;

		if (want > len - done)
			want = len - done;
		n = vfm_device_write(dev, buf + done, want);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static const size_t odd_chunks[] = {1, 7, 3, 13, 4093, 2, 65537, 5, 8, 31};
static const size_t one_chunk[] = {1u << 20};

/* Save @src (RUNNING -> STOP_COPY as one request, read to EOF, back to STOP). */
static uint8_t *save_image(struct vfm_device *src, uint64_t *ret_len)
{
	uint64_t size = 0;
	uint8_t *buf;
	int64_t n;

	if (vfm_device_get_data_size(src, &size) < 0)
		return NULL;
	buf = malloc(size + 1);
	if (!buf)
		return NULL;
	if (vfm_device_set_state(src, VFM_STATE_STOP_COPY, NULL) < 0)
		goto fail;
	n = read_all(src, buf, size + 1, odd_chunks, 10);
	if (n < 0 || vfm_device_set_state(src, VFM_STATE_STOP, NULL) < 0)
		goto fail;
	*ret_len = (uint64_t)n;
	return buf;
fail:
	free(buf);
	return NULL;
}

/* RESUMING, write @img, STOP; returns the SET's result (or a write error). */
static int restore_image(struct vfm_device *dst, const uint8_t *img, size_t len)
{
	int r = vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);

	if (r < 0)
		return r;
	r = write_all(dst, img, len, odd_chunks, 10);
	if (r < 0)
		return r;
	return vfm_device_set_state(dst, VFM_STATE_STOP, NULL);
}

static void expect_open_fail(const char *spec, int err, const char *msg)
{
	struct vfm_device *dev = NULL;
	int r = vfm_device_open(ctx, spec, &dev);
	const char *last = vfm_ctx_last_error(ctx);

	if (!tap_ok(r == err && !dev && strstr(last, msg), "open '%s' fails: %s", spec,
		    last))
		tap_diag("  got %d (%s), expected %d and \"%s\"", r, strerror(-r), err,
			 msg);
	vfm_device_unref(dev);
}

/* ------------------------------------------------------------------------- */
/* spec parsing                                                              */

static void test_spec(void)
{
	static const struct {
		const char *spec;
		int err;
		const char *msg;
	} bad[] = {
		{"sim:", -EINVAL, "1-63 characters"},
		{"sim:a b", -EINVAL, "1-63 characters"},
		{"sim:a/b", -EINVAL, "1-63 characters"},
		{"sim:,size=1", -EINVAL, "1-63 characters"},
		{"sim:a,sise=1", -EINVAL, "sim:a: unknown key 'sise'"},
		{"sim:a,Size=1", -EINVAL, "unknown key 'Size'"},
		{"sim:a,size=1,size=2", -EINVAL, "sim:a: duplicate key 'size'"},
		{"sim:a,fail-get,fail-get=EIO", -EINVAL, "duplicate key 'fail-get'"},
		{"sim:a,size", -EINVAL, "key 'size' needs a value"},
		{"sim:a,size=", -EINVAL, "invalid size ''"},
		{"sim:a,no-migration=1", -EINVAL, "key 'no-migration' takes no value"},
		{"sim:a,", -EINVAL, "sim:a: empty key"},
		{"sim:a,,size=1", -EINVAL, "empty key"},
		{"sim:a,=5", -EINVAL, "empty key"},
		{"sim:a,size=2T", -EINVAL, "sim:a: invalid size '2T'"},
		{"sim:a,size=1025G", -EINVAL, "invalid size '1025G'"},
		{"sim:a,size=-1", -EINVAL, "invalid size '-1'"},
		{"sim:a,size=12X", -EINVAL, "invalid size '12X'"},
		{"sim:a,size=0x10", -EINVAL, "invalid size '0x10'"},
		{"sim:a,flags=p2p", -EINVAL, "stop-copy is required"},
		{"sim:a,flags=stop-copy+bogus", -EINVAL,
		 "invalid flags 'stop-copy+bogus'"},
		{"sim:a,flags=stop-copy+", -EINVAL, "invalid flags"},
		{"sim:a,flags=", -EINVAL, "invalid flags"},
		{"sim:a,flags=stop-copy,p2p", -EINVAL, "unknown key 'p2p'"},
		{"sim:a,seed=0x", -EINVAL, "invalid seed"},
		{"sim:a,seed=18446744073709551616", -EINVAL, "invalid seed"},
		{"sim:a,seed=-1", -EINVAL, "invalid seed"},
		{"sim:a,state=FLYING", -EINVAL, "invalid state 'FLYING'"},
		{"sim:a,flags=stop-copy,state=running-p2p", -EINVAL,
		 "state RUNNING_P2P is not a state of flags stop-copy"},
		{"sim:a,flags=stop-copy+p2p,state=PRE_COPY", -EINVAL,
		 "not a state of flags stop-copy+p2p"},
		{"sim:a,precopy=5000", -EINVAL, "precopy 5000 exceeds size 4096"},
		{"sim:a,size=1K,precopy=1025", -EINVAL, "exceeds size"},
		{"sim:a,flags=stop-copy+p2p,precopy=1", -EINVAL,
		 "precopy needs flags with pre-copy"},
		{"sim:a,flags=stop-copy,dirty=1", -EINVAL,
		 "dirty needs flags with pre-copy"},
		{"sim:a,flags=stop-copy,dirty-rounds=1", -EINVAL, "dirty-rounds needs"},
		{"sim:a,dirty=x", -EINVAL, "invalid dirty 'x'"},
		{"sim:a,dirty-rounds=1048577", -EINVAL, "invalid dirty-rounds"},
		{"sim:a,dirty-rounds=1K", -EINVAL, "invalid dirty-rounds"},
		{"sim:a,expect-seed=x", -EINVAL, "invalid expect-seed 'x'"},
		{"sim:a,arc-usec=10000001", -EINVAL, "invalid arc-usec"},
		{"sim:a,arc-usec=-5", -EINVAL, "invalid arc-usec"},
		{"sim:a,fail-arc=STOP", -EINVAL, "expected FROM:TO[:ERRNO]"},
		{"sim:a,fail-arc=STOP:STOP_COPY:EIO:1", -EINVAL, "FROM:TO[:ERRNO]"},
		{"sim:a,fail-arc=STOP:FLY", -EINVAL, "'FLY' is not a state"},
		{"sim:a,fail-arc=ERROR:STOP", -EINVAL, "'ERROR' is not a state"},
		{"sim:a,fail-arc=STOP:RUNNING", -EINVAL,
		 "fail-arc: STOP -> RUNNING is not an arc of flags "
		 "stop-copy+p2p+pre-copy"},
		{"sim:a,flags=stop-copy,fail-arc=STOP:RUNNING_P2P", -EINVAL,
		 "is not an arc"},
		{"sim:a,fail-arc=STOP_COPY:PRE_COPY", -EINVAL, "is not an arc"},
		{"sim:a,fail-arc=PRE_COPY:STOP_COPY", -EINVAL, "is not an arc"},
		{"sim:a,flags=stop-copy+p2p,fail-arc=RUNNING:STOP", -EINVAL,
		 "is not an arc"},
		{"sim:a,fail-arc=STOP:STOP_COPY:EWHAT", -EINVAL,
		 "'EWHAT' is not an errno"},
		{"sim:a,fail-arc=STOP:STOP_COPY:0", -EINVAL, "is not an errno"},
		{"sim:a,fail-arc=STOP:STOP_COPY:4096", -EINVAL, "is not an errno"},
		{"sim:a,error-arc=STOP:STOP_COPY:EIO", -EINVAL, "expected FROM:TO"},
		{"sim:a,error-arc=RUNNING:STOP_COPY", -EINVAL,
		 "error-arc: RUNNING -> STOP_COPY"},
		{"sim:a,fail-arc=stop:stop-copy,error-arc=STOP:STOP_COPY", -EINVAL,
		 "fail-arc and error-arc name the same arc"},
		{"sim:a,fail-read-at=4129", -EINVAL,
		 "fail-read-at 4129 is beyond the 4128-byte image"},
		{"sim:a,fail-write-at=4128", -EINVAL, "fail-write-at 4128 is beyond"},
		{"sim:a,corrupt-at=4128", -EINVAL, "corrupt-at 4128 is beyond"},
		{"sim:a,corrupt-at=5:EIO", -EINVAL, "invalid corrupt-at '5:EIO'"},
		{"sim:a,fail-read-at=x:EIO", -EINVAL, "invalid fail-read-at"},
		{"sim:a,fail-read-at=5:", -EINVAL, "invalid fail-read-at"},
		{"sim:a,fail-write-at=5:EFOO", -EINVAL, "'EFOO' is not an errno"},
		{"sim:a,fail-reset=EWHAT", -EINVAL, "invalid fail-reset 'EWHAT'"},
		{"sim:a,fail-get=0", -EINVAL, "invalid fail-get '0'"},
		{"sim:a,fail-size=4096", -EINVAL, "invalid fail-size '4096'"},
		{"sim:a,fail-save=0", -EINVAL, "invalid fail-save '0'"},
		{"sim:a,fail-save=2:EWHAT", -EINVAL, "invalid fail-save '2:EWHAT'"},
		{"sim:a,fail-size=", -EINVAL, "invalid fail-size ''"},
		{"sim:a,no-migration,flags=stop-copy", -EINVAL,
		 "no-migration excludes flags"},
		{"sim:a,state=STOP,no-migration", -EINVAL, "no-migration excludes state"},
		{"sim:a,type=mtty 2", -EINVAL, "invalid type 'mtty 2'"},
		{"sim:a,type=", -EINVAL, "invalid type ''"},
		{"sim:a,driver=a/b", -EINVAL, "invalid driver"},
		{"sim:a,type="
		 "0123456789012345678901234567890123456789012345678901234567890123",
		 -EINVAL, "invalid type"},
		{"sim:a,vendor=0x10000", -EINVAL, "invalid vendor '0x10000'"},
		{"sim:a,device=xyz", -EINVAL, "invalid device"},
		{"sim:a,subsystem-vendor=-1", -EINVAL, "invalid subsystem-vendor"},
		{"sim:a,subsystem-device=65536", -EINVAL, "invalid subsystem-device"},
		{"sim:a,revision=256", -EINVAL, "invalid revision '256'"},
	};
	char spec[400];
	struct vfm_device *dev;
	const struct vfm_device_identity *id;
	uint64_t seed;
	uint32_t flags;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_open_fail(bad[i].spec, bad[i].err, bad[i].msg);

	/* NAME of 64 characters is too long, 63 is fine */
	snprintf(spec, sizeof(spec), "sim:%064d", 0);
	expect_open_fail(spec, -EINVAL, "1-63 characters");
	snprintf(spec, sizeof(spec), "sim:%063d,size=1", 0);
	dev = open_ok(spec);
	tap_ok(dev && strlen(vfm_device_name(dev)) == 4 + 63,
	       "63-character name accepted");
	vfm_device_unref(dev);
	/* the whole spec is bounded by the generic layer */
	snprintf(spec, sizeof(spec), "sim:a,type=%0300d", 0);
	expect_open_fail(spec, -ENAMETOOLONG, "longer than");

	dev = open_ok("sim:a");
	if (dev) {
		id = vfm_device_identity(dev);
		tap_ok(strcmp(vfm_device_name(dev), "sim:a") == 0, "name is sim:a");
		tap_ok(id->kind == VFM_DEVICE_SIM &&
			       strcmp(id->driver, "vfiomig-sim") == 0 &&
			       id->vendor == 0x1af4 && id->device == 0x10f0 &&
			       id->subsystem_vendor == 0x1af4 &&
			       id->subsystem_device == 1 && id->revision == 1 &&
			       id->mdev_type[0] == '\0' && id->iommu_group == -1 &&
			       id->sysfs_path[0] == '\0',
		       "default identity");
		tap_ok(vfm_device_get_flags(dev, &flags) == 0 && flags == VFM_MIG_ALL,
		       "default flags are all three");
		tap_eq(state_of(dev), VFM_STATE_RUNNING, "default state RUNNING");
		tap_ok(vfm_sim_image_seed(dev, &seed) == 0 &&
			       seed == vfm_sim_default_seed("a") &&
			       seed == vfm_sim_default_seed("sim:a,size=4") &&
			       seed != vfm_sim_default_seed("b"),
		       "default seed is the hash of NAME");
		tap_eq(vfm_sim_loaded_seed(dev, &seed), -ENODATA, "nothing loaded yet");
		tap_eq(vfm_device_data_fd(dev), -EOPNOTSUPP,
		       "a sim device has no data fd");
		vfm_device_unref(dev);
	}

	dev = open_ok("sim:dev-1.x_Y,type=mtty-2,driver=mtty,vendor=0x8086,device=4660,"
		      "revision=0x2,subsystem-vendor=0,subsystem-device=0xffff,"
		      "flags=STOP_COPY+pre-copy,state=pre-copy,seed=0x1234,size=1M,"
		      "precopy=0,dirty=1K,dirty-rounds=4,expect-seed=7,arc-usec=0,"
		      "fail-get=EBUSY");
	if (dev) {
		id = vfm_device_identity(dev);
		tap_ok(strcmp(id->name, "sim:dev-1.x_Y") == 0 &&
			       strcmp(id->mdev_type, "mtty-2") == 0 &&
			       strcmp(id->driver, "mtty") == 0 && id->vendor == 0x8086 &&
			       id->device == 4660 && id->revision == 2 &&
			       id->subsystem_vendor == 0 &&
			       id->subsystem_device == 0xffff,
		       "identity keys");
		tap_ok(vfm_device_get_flags(dev, &flags) == 0 &&
			       flags == (VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY),
		       "flags= with '+' and any case");
		tap_ok(vfm_sim_image_seed(dev, &seed) == 0 && seed == 0x1234,
		       "seed=0x1234");
		tap_eq(state_of(dev), -EBUSY, "fail-get=EBUSY among many keys");
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:f,fail-reset,fail-get,fail-size=42,fail-read-at=0:ENOSPC,"
		      "fail-write-at=4127,corrupt-at=3,fail-arc=PRE_COPY:RUNNING:EAGAIN,"
		      "error-arc=RUNNING:PRE_COPY");
	tap_ok(dev != NULL, "every fault key at once");
	vfm_device_unref(dev);
	dev = open_ok("sim:arc1,flags=stop-copy+pre-copy,fail-arc=PRE_COPY:STOP_COPY,"
		      "error-arc=RUNNING:STOP");
	tap_ok(dev != NULL, "arcs of a device without P2P");
	vfm_device_unref(dev);
	dev = open_ok("sim:maxes,size=1T,fail-read-at=1099511627808,state=ERROR");
	tap_ok(dev && state_of(dev) == VFM_STATE_ERROR,
	       "size=1T, offset 1T+32, state=ERROR");
	vfm_device_unref(dev);
	dev = open_ok(
		"sim:z,size=0,seed=18446744073709551615,fail-arc=STOP:RESUMING:4095");
	tap_ok(dev != NULL, "size=0, largest seed, errno 4095");
	vfm_device_unref(dev);
}

static void test_no_migration(void)
{
	struct vfm_device *dev = open_ok("sim:nm,no-migration,size=8");
	enum vfm_state st;
	uint64_t v, w;
	uint32_t flags;
	char b[8];

	if (!dev)
		return;
	tap_eq(vfm_device_get_flags(dev, &flags), -ENOTTY, "no-migration: flags ENOTTY");
	tap_eq(vfm_device_get_state(dev, &st), -ENOTTY, "no-migration: get state ENOTTY");
	tap_eq(vfm_device_set_state(dev, VFM_STATE_STOP, NULL), -ENOTTY,
	       "no-migration: set state ENOTTY");
	tap_eq(vfm_device_get_data_size(dev, &v), -ENOTTY,
	       "no-migration: data size ENOTTY");
	tap_eq(vfm_device_get_precopy_info(dev, &v, &w), -EINVAL,
	       "no-migration: precopy info EINVAL");
	tap_eq(vfm_device_read(dev, b, sizeof(b)), -EBADF, "no-migration: read EBADF");
	tap_eq(vfm_device_reset(dev), 0, "no-migration: reset works");
	vfm_device_unref(dev);
}

/* ------------------------------------------------------------------------- */
/* state machine                                                             */

static const struct {
	uint32_t flags;
	const char *spec;
} flag_sets[] = {
	{VFM_MIG_STOP_COPY, "stop-copy"},
	{VFM_MIG_STOP_COPY | VFM_MIG_P2P, "stop-copy+p2p"},
	{VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY, "stop-copy+pre-copy"},
	{VFM_MIG_ALL, "stop-copy+p2p+pre-copy"},
};

static const char *sn(int s)
{
	const char *n = vfm_state_name((enum vfm_state)s);

	return n ? n : "?";
}

/* Give a device in RESUMING a valid image of itself so that RESUMING -> STOP works. */
static int feed_own_image(struct vfm_device *dev, const char *name, uint64_t size)
{
	uint8_t *img = ref_image(vfm_sim_default_seed(name), size, VFM_MIG_ALL);
	int r = img ? write_all(dev, img, HDR + size, odd_chunks, 10) : -ENOMEM;

	free(img);
	return r;
}

static void test_arcs(void)
{
	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
		uint32_t flags = flag_sets[f].flags;
		unsigned singles = 0, doc_singles = 0;

		for (int from = STOP; from <= PCP2P; from++) {
			if (!ref_has(flags, from))
				continue;
			for (int to = ERR; to <= PCP2P; to++) {
				struct vfm_device *dev;
				enum vfm_state path[VFM_PLAN_MAX];
				int ref_path[8], n, r, after, fd = 7;
				size_t len = 99;
				char spec[128];
				bool same;

				if (ref_arc(flags, from, to))
					doc_singles++;
				snprintf(spec, sizeof(spec),
					 "sim:arcs,size=64,flags=%s,state=%s",
					 flag_sets[f].spec, sn(from));
				dev = open_ok(spec);
				if (!dev)
					continue;
				if (from == RES && feed_own_image(dev, "arcs", 64) < 0)
					tap_diag("could not feed an image");
				if (from == SC && (to == PC || to == PCP2P)) {
					/* the library refuses it; the sim must too */
					r = vfm_device_set_state(dev, to, &fd);
					tap_ok(r == -EINVAL && state_of(dev) == SC,
					       "[%s] %s -> %s refused by the library",
					       flag_sets[f].spec, sn(from), sn(to));
					r = vfm_sim_set_state_raw(dev, to);
				} else {
					r = vfm_device_set_state(dev, to, &fd);
				}
				after = state_of(dev);
				n = ref_walk(flags, from, to, ref_path);
				if (n < 0) {
					tap_ok(r == -EINVAL && after == from,
					       "[%s] %s -> %s: EINVAL, state unchanged",
					       flag_sets[f].spec, sn(from), sn(to));
					vfm_device_unref(dev);
					continue;
				}
				vfm_sim_last_path(dev, path, &len);
				same = len == (size_t)n;
				for (int i = 0; same && i < n; i++)
					same = (int)path[i] == ref_path[i];
				/* each step of the walk is a single arc of the doc's
				 * table */
				for (int i = 0, prev = from; same && i < n;
				     prev = ref_path[i++])
					same = ref_arc(flags, prev, ref_path[i]);
				if (n == 1)
					singles++;
				tap_ok(r == 0 && after == to && same && fd == -1 &&
					       (n == 1) == ref_arc(flags, from, to),
				       "[%s] %s -> %s: %d arc%s like the kernel",
				       flag_sets[f].spec, sn(from), sn(to), n,
				       n == 1 ? "" : "s");
				if (r != 0 || after != to || !same)
					tap_diag("  r=%d after=%s path len %zu", r,
						 sn(after), len);
				vfm_device_unref(dev);
			}
		}
		tap_eq(singles, doc_singles, "[%s] the single arcs are exactly the doc's",
		       flag_sets[f].spec);
	}
}

static void test_error_state(void)
{
	struct vfm_device *dev = open_ok("sim:err,state=ERROR");

	if (!dev)
		return;
	tap_ok(vfm_device_set_state(dev, VFM_STATE_RUNNING, NULL) == -EINVAL &&
		       state_of(dev) == VFM_STATE_ERROR,
	       "from ERROR every request is EINVAL");
	tap_ok(vfm_sim_set_state_raw(dev, VFM_STATE_ERROR) == -EINVAL &&
		       vfm_sim_set_state_raw(dev, (enum vfm_state)8) == -EINVAL,
	       "ERROR and out-of-range targets are EINVAL");
	tap_ok(vfm_device_reset(dev) == 0 && state_of(dev) == VFM_STATE_RUNNING,
	       "reset brings ERROR back to RUNNING");
	tap_ok(vfm_sim_set_state_raw(dev, VFM_STATE_ERROR) == -EINVAL &&
		       state_of(dev) == VFM_STATE_RUNNING,
	       "requesting ERROR from RUNNING: EINVAL, unchanged");
	tap_ok(vfm_device_set_state(dev, VFM_STATE_RUNNING, NULL) == 0,
	       "requesting the current state is a no-op");
	vfm_device_unref(dev);
}

/* ------------------------------------------------------------------------- */
/* images                                                                    */

static bool image_is(const uint8_t *img, uint64_t len, uint64_t seed, uint64_t size,
		     uint32_t flags)
{
	if (len != HDR + size)
		return false;
	for (uint64_t i = 0; i < len; i++)
		if (img[i] != ref_byte(seed, size, flags, i)) {
			tap_diag("  image differs at offset %" PRIu64, i);
			return false;
		}
	return true;
}

static void test_round_trip(void)
{
	const uint64_t size = 100003; /* not a multiple of 8 */
	struct vfm_device *src = open_ok("sim:src,size=100003");
	struct vfm_device *dst = open_ok("sim:dst,size=100003");
	struct vfm_device *third = open_ok("sim:third,size=100003,flags=stop-copy");
	uint8_t *img = NULL, *img2 = NULL, b[16];
	uint64_t len = 0, len2 = 0, seed = 0, v;
	enum vfm_state path[VFM_PLAN_MAX];
	size_t plen;
	int r;

	if (!src || !dst || !third)
		goto out;
	for (int s = STOP; s <= RES; s++) {
		vfm_sim_set_state_raw(src, (enum vfm_state)s);
		r = vfm_device_get_data_size(src, &v);
		if (r < 0 || v != HDR + size)
			break;
		if (s == RES)
			tap_ok(true, "MIG_DATA_SIZE is 32 + size in every state");
	}
	vfm_device_reset(src);

	tap_eq(vfm_device_read(src, b, sizeof(b)), -EBADF, "read in RUNNING: EBADF");
	img = save_image(src, &len);
	tap_ok(img && image_is(img, len, vfm_sim_default_seed("src"), size, VFM_MIG_ALL),
	       "full save: %" PRIu64 " bytes, header and body as documented", len);
	tap_eq(vfm_device_read(src, b, sizeof(b)), -EBADF,
	       "read after the session: EBADF");
	if (!img)
		goto out;

	r = vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);
	vfm_sim_last_path(dst, path, &plen);
	tap_ok(r == 0 && plen == 3 && path[0] == RP2P && path[1] == STOP &&
		       path[2] == RES,
	       "RUNNING -> RESUMING walks RUNNING_P2P, STOP");
	tap_eq(vfm_device_read(dst, b, sizeof(b)), -EBADF, "read in RESUMING: EBADF");
	tap_eq(write_all(dst, img, len, odd_chunks, 10), 0, "restore in odd segments");
	r = vfm_device_set_state(dst, VFM_STATE_RUNNING, NULL);
	tap_ok(r == 0 && state_of(dst) == VFM_STATE_RUNNING,
	       "RESUMING -> RUNNING validates");
	tap_ok(vfm_sim_loaded_seed(dst, &seed) == 0 &&
		       seed == vfm_sim_default_seed("src"),
	       "loaded seed is the source's");
	tap_eq(vfm_device_write(dst, img, 1), -EBADF, "write after the session: EBADF");

	img2 = save_image(dst, &len2);
	tap_ok(img2 && len2 == len && memcmp(img, img2, len) == 0,
	       "saving the destination reproduces the image");
	/* the last body byte sits in a partial word (size % 8 == 3) */
	img2[len2 - 1] ^= 0x01;
	tap_eq(restore_image(third, img2, len2), -EINVAL,
	       "a flipped bit in the partial word");
	vfm_device_reset(third);
	img2[len2 - 1] ^= 0x01;
	tap_eq(restore_image(third, img2, len2), 0,
	       "chained restore into a stop-copy-only device");
	tap_ok(vfm_sim_loaded_seed(third, &seed) == 0 &&
		       seed == vfm_sim_default_seed("src"),
	       "the chain delivers the first source's seed");
out:
	free(img);
	free(img2);
	vfm_device_unref(src);
	vfm_device_unref(dst);
	vfm_device_unref(third);
}

/* Unaligned offsets: every read and write segment size from 1 to 17 bytes. */
static void test_unaligned(void)
{
	const uint64_t size = 777;
	struct vfm_device *src = open_ok("sim:una,size=777,seed=99");
	struct vfm_device *dst = open_ok("sim:unb,size=777");
	size_t chunks[17];
	uint8_t img[HDR + 777 + 1];
	int64_t n = -1;

	for (size_t i = 0; i < 17; i++)
		chunks[i] = i + 1;
	if (!src || !dst)
		goto out;
	if (vfm_device_set_state(src, VFM_STATE_STOP_COPY, NULL) == 0)
		n = read_all(src, img, sizeof(img), chunks, 17);
	tap_ok(n >= 0 && image_is(img, (uint64_t)n, 99, size, VFM_MIG_ALL),
	       "reads of 1..17 bytes give the documented image");
	tap_eq(vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL), 0, "dst RESUMING");
	tap_eq(write_all(dst, img, HDR + size, chunks, 17), 0, "writes of 1..17 bytes");
	tap_eq(vfm_device_set_state(dst, VFM_STATE_STOP, NULL), 0,
	       "unaligned image accepted");
out:
	vfm_device_unref(src);
	vfm_device_unref(dst);
}

static void test_bad_images(void)
{
	const uint64_t size = 4096;
	uint8_t *img = ref_image(vfm_sim_default_seed("x"), size, VFM_MIG_ALL);
	uint8_t *big = ref_image(vfm_sim_default_seed("x"), 2 * size, VFM_MIG_ALL);
	uint8_t *bad = malloc(HDR + size);
	struct vfm_device *dst = open_ok("sim:dst");
	uint64_t seed;

	if (!img || !big || !bad || !dst)
		goto out;

	/* truncated, then completed */
	tap_eq(restore_image(dst, img, HDR + size - 1), -EINVAL,
	       "truncated image: EINVAL");
	tap_eq(state_of(dst), VFM_STATE_RESUMING, "... and the device stays RESUMING");
	tap_eq(vfm_sim_loaded_seed(dst, &seed), -ENODATA, "... and nothing is loaded");
	tap_ok(vfm_device_write(dst, img + HDR + size - 1, 1) == 1 &&
		       vfm_device_set_state(dst, VFM_STATE_STOP, NULL) == 0,
	       "the session survives: the last byte completes it");
	vfm_device_reset(dst);

	/* truncated, then reset */
	tap_eq(restore_image(dst, img, 100), -EINVAL, "truncated in the body: EINVAL");
	tap_ok(vfm_device_reset(dst) == 0 && state_of(dst) == VFM_STATE_RUNNING,
	       "reset from RESUMING -> RUNNING");
	tap_eq(vfm_device_write(dst, img, 1), -EBADF, "write after reset: EBADF");

	/* empty */
	tap_eq(restore_image(dst, img, 0), -EINVAL, "empty image: EINVAL");
	tap_eq(restore_image(dst, img, 20), -EINVAL, "header only in part: EINVAL");
	vfm_device_reset(dst);

	/* corrupted body byte: writes pass, STOP refuses */
	for (uint64_t off = HDR; off < HDR + size; off += 1111) {
		memcpy(bad, img, HDR + size);
		bad[off] ^= 0x01;
		if (restore_image(dst, bad, HDR + size) != -EINVAL ||
		    state_of(dst) != VFM_STATE_RESUMING)
			break;
		vfm_device_reset(dst);
		if (off + 1111 >= HDR + size)
			tap_ok(true,
			       "a flipped body bit is rejected at STOP (4 offsets)");
	}
	memcpy(bad, img, HDR + size);
	bad[HDR + size - 1] ^= 0x80;
	tap_eq(restore_image(dst, bad, HDR + size), -EINVAL,
	       "a flipped last byte: EINVAL");
	vfm_device_reset(dst);

	/* header damage fails the write */
	memcpy(bad, img, HDR + size);
	bad[0] = 'X';
	vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);
	tap_eq(vfm_device_write(dst, bad, 1), -EINVAL, "bad magic: the 1st byte fails");
	tap_eq(vfm_device_write(dst, img, 5), 5, "... nothing was consumed");
	bad[0] = 'V';
	bad[10] ^= 4; /* seed, under the checksum */
	tap_eq(vfm_device_write(dst, bad + 5, 27), -EINVAL,
	       "bad checksum: the write completing the header fails");
	tap_eq(vfm_device_write(dst, img + 5, 27 + size), (int64_t)(27 + size),
	       "the right bytes still fit");
	tap_eq(vfm_device_set_state(dst, VFM_STATE_STOP, NULL), 0, "and validate");
	vfm_device_reset(dst);

	/* too much */
	vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);
	tap_eq(vfm_device_write(dst, big, HDR + size + 1), -ENOMEM,
	       "one write past the image: ENOMEM");
	tap_eq(vfm_device_write(dst, img, HDR + size), (int64_t)(HDR + size),
	       "nothing consumed by it");
	tap_eq(vfm_device_write(dst, img, 1), -ENOMEM, "one more byte: ENOMEM");
	tap_eq(vfm_device_set_state(dst, VFM_STATE_STOP, NULL), 0,
	       "the image still loads");
	vfm_device_reset(dst);

	/* an image of another size: EFAULT, like mtty for another type */
	vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);
	tap_eq(vfm_device_write(dst, big, 4096), -EFAULT, "size mismatch: EFAULT");
	tap_eq(vfm_device_write(dst, big, 31), 31, "bytes before the header's end pass");
	tap_eq(vfm_device_write(dst, big + 31, 1), -EFAULT,
	       "the header's last byte: EFAULT");
	tap_eq(vfm_device_set_state(dst, VFM_STATE_STOP, NULL), -EINVAL,
	       "STOP after it: EINVAL");

	/* unknown header flags */
	vfm_device_reset(dst);
	memcpy(bad, img, HDR);
	ref_le(bad + 24, 0x100 | VFM_MIG_ALL, 4);
	ref_le(bad + 28, ref_crc32c(bad, 28), 4);
	vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);
	tap_eq(vfm_device_write(dst, bad, HDR), -EINVAL, "unknown header flags: EINVAL");
out:
	free(img);
	free(big);
	free(bad);
	vfm_device_unref(dst);
}

static void test_seeds(void)
{
	struct vfm_device *src = open_ok("sim:s1,seed=0x1234");
	struct vfm_device *ok = open_ok("sim:s2,expect-seed=4660");
	struct vfm_device *no = open_ok("sim:s3,expect-seed=4661");
	uint8_t *img = NULL;
	uint64_t len = 0, seed = 0;

	if (!src || !ok || !no)
		goto out;
	img = save_image(src, &len);
	tap_ok(img && ref_get_le(img + 8, 8) == 0x1234, "seed= goes into the header");
	if (!img)
		goto out;
	tap_ok(restore_image(ok, img, len) == 0 && vfm_sim_loaded_seed(ok, &seed) == 0 &&
		       seed == 0x1234,
	       "expect-seed matching: loads");
	tap_ok(restore_image(no, img, len) == -EINVAL &&
		       state_of(no) == VFM_STATE_RESUMING &&
		       vfm_sim_loaded_seed(no, &seed) == -ENODATA,
	       "expect-seed differing: EINVAL, stays RESUMING");
out:
	free(img);
	vfm_device_unref(src);
	vfm_device_unref(ok);
	vfm_device_unref(no);
}

/* ------------------------------------------------------------------------- */
/* PRE_COPY                                                                  */

static void expect_info(struct vfm_device *dev, int64_t r, uint64_t initial,
			uint64_t dirty, const char *what)
{
	uint64_t i = 12345, d = 12345;
	int q = vfm_device_get_precopy_info(dev, &i, &d);

	if (!tap_ok(q == r && (r < 0 || (i == initial && d == dirty)), "%s", what))
		tap_diag("  got %d (%" PRIu64 ", %" PRIu64 "), expected %" PRId64
			 " (%" PRIu64 ", %" PRIu64 ")",
			 q, i, d, r, initial, dirty);
}

static void test_precopy(void)
{
	const uint64_t size = 4096;
	struct vfm_device *src = open_ok("sim:pc,precopy=1000,dirty=500,dirty-rounds=3");
	struct vfm_device *dst = open_ok("sim:pcd");
	uint8_t img[HDR + 4096 + 64];
	uint64_t total = 0, seed;
	ssize_t n;

	if (!src || !dst)
		goto out;
	expect_info(src, -EINVAL, 0, 0, "precopy info in RUNNING: EINVAL");
	tap_eq(vfm_device_set_state(src, VFM_STATE_PRE_COPY, NULL), 0,
	       "RUNNING -> PRE_COPY");
	expect_info(src, 0, HDR + 1000, 0, "initial bytes = header + precopy");
	tap_eq(vfm_device_read(src, img, 100), 100, "read 100");
	expect_info(src, 0, HDR + 900, 0, "initial bytes drain");
	expect_info(src, 0, HDR + 900, 0,
		    "no dirty round while initial bytes are pending");
	n = vfm_device_read(src, img + 100, sizeof(img) - 100);
	tap_eq(n, HDR + 900, "the rest of the initial bytes, no more");
	total = 100 + (uint64_t)n;
	tap_eq(vfm_device_read(src, img + total, 64), -ENOMSG, "then ENOMSG");
	tap_eq(vfm_device_read(src, img + total, 64), -ENOMSG,
	       "ENOMSG again: no round by read");
	for (int round = 0; round < 3; round++) {
		expect_info(src, 0, 0, 500, "dirty round makes 500 bytes pending");
		if (round == 1) {
			n = vfm_device_read(src, img + total, 200);
			total += (uint64_t)n;
			expect_info(src, 0, 0, 300, "dirty bytes drain");
			n = vfm_device_read(src, img + total, 300);
		} else {
			n = vfm_device_read(src, img + total, 4096);
		}
		total += n > 0 ? (uint64_t)n : 0;
		tap_eq(vfm_device_read(src, img + total, 64), -ENOMSG,
		       "round read, ENOMSG");
	}
	expect_info(src, 0, 0, 0, "after dirty-rounds: nothing more");
	tap_eq(vfm_device_read(src, img + total, 64), -ENOMSG, "still ENOMSG");
	tap_eq(total, HDR + 1000 + 1500, "precopy delivered header + 1000 + 3 * 500");

	tap_eq(vfm_device_set_state(src, VFM_STATE_PRE_COPY_P2P, NULL), 0,
	       "PRE_COPY -> PRE_COPY_P2P");
	expect_info(src, 0, 0, 0, "precopy info in PRE_COPY_P2P");
	tap_eq(vfm_device_set_state(src, VFM_STATE_STOP_COPY, NULL), 0,
	       "PRE_COPY_P2P -> STOP_COPY");
	expect_info(src, -EINVAL, 0, 0, "precopy info in STOP_COPY: EINVAL");
	n = vfm_device_read(src, img + total, sizeof(img) - total);
	tap_eq(n, size - 2500, "STOP_COPY continues the session with the rest");
	total += n > 0 ? (uint64_t)n : 0;
	tap_eq(vfm_device_read(src, img + total, 64), 0, "then 0 (end)");
	tap_eq(total, HDR + size, "total = 32 + size");
	tap_ok(image_is(img, total, vfm_sim_default_seed("pc"), size, VFM_MIG_ALL),
	       "the precopy + stop-copy stream is the image");
	tap_eq(restore_image(dst, img, total), 0, "and it restores");
	tap_ok(vfm_sim_loaded_seed(dst, &seed) == 0 && seed == vfm_sim_default_seed("pc"),
	       "with the source's seed");
	vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL);
	expect_info(dst, -ENOTTY, 0, 0, "precopy info in RESUMING: ENOTTY (mtty)");

	/* leaving the group ends the session; STOP -> STOP_COPY starts over */
	vfm_device_reset(src);
	vfm_device_set_state(src, VFM_STATE_PRE_COPY, NULL);
	tap_eq(vfm_device_read(src, img, 10), 10, "PRE_COPY again, read 10");
	tap_eq(vfm_device_set_state(src, VFM_STATE_RUNNING, NULL), 0,
	       "PRE_COPY -> RUNNING");
	tap_eq(vfm_device_read(src, img, 10), -EBADF, "the session ended: EBADF");
	vfm_device_set_state(src, VFM_STATE_PRE_COPY, NULL);
	expect_info(src, 0, HDR + 1000, 0, "a new PRE_COPY session starts at 0");
	vfm_device_read(src, img, 10);
	vfm_device_set_state(src, VFM_STATE_STOP, NULL);
	tap_ok(vfm_device_set_state(src, VFM_STATE_STOP_COPY, NULL) == 0 &&
		       read_all(src, img, sizeof(img), one_chunk, 1) ==
			       HDR + (int64_t)size,
	       "STOP -> STOP_COPY is a new session from offset 0");
out:
	vfm_device_unref(src);
	vfm_device_unref(dst);
}

static void test_precopy_variants(void)
{
	struct vfm_device *a = open_ok("sim:np,flags=stop-copy+pre-copy,size=1000");
	struct vfm_device *b = open_ok("sim:cap,size=4096,precopy=4000,dirty=1000,"
				       "dirty-rounds=5");
	struct vfm_device *c = open_ok("sim:zero,size=64,precopy=0");
	uint8_t buf[8192];
	enum vfm_state path[VFM_PLAN_MAX];
	size_t plen;
	int64_t n;

	if (!a || !b || !c)
		goto out;
	vfm_device_set_state(a, VFM_STATE_PRE_COPY, NULL);
	expect_info(a, 0, HDR + 250, 0, "default precopy is size/4");
	tap_eq(vfm_device_read(a, buf, sizeof(buf)), HDR + 250, "read the initial bytes");
	tap_eq(vfm_device_set_state(a, VFM_STATE_STOP_COPY, NULL), 0,
	       "no P2P: PRE_COPY -> STOP_COPY");
	vfm_sim_last_path(a, path, &plen);
	tap_ok(plen == 1 && path[0] == SC, "... a single arc");
	n = read_all(a, buf + HDR + 250, sizeof(buf) - HDR - 250, one_chunk, 1);
	tap_ok(n == 750 && image_is(buf, HDR + 1000, vfm_sim_default_seed("np"), 1000,
				    VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY),
	       "the session continued; header flags are the source's");

	vfm_device_set_state(b, VFM_STATE_PRE_COPY_P2P, NULL);
	tap_eq(vfm_device_read(b, buf, sizeof(buf)), HDR + 4000, "initial bytes");
	expect_info(b, 0, 0, 96, "a dirty round is capped by the image size");
	vfm_device_read(b, buf, sizeof(buf));
	expect_info(b, 0, 0, 0, "nothing beyond the image");
	tap_eq(vfm_device_read(b, buf, sizeof(buf)), -ENOMSG,
	       "PRE_COPY never ends with 0");
	tap_ok(vfm_device_set_state(b, VFM_STATE_STOP_COPY, NULL) == 0 &&
		       vfm_device_read(b, buf, sizeof(buf)) == 0,
	       "STOP_COPY after everything: 0 at once");

	vfm_device_set_state(c, VFM_STATE_PRE_COPY, NULL);
	expect_info(c, 0, HDR, 0, "precopy=0: the header is the initial data");
out:
	vfm_device_unref(a);
	vfm_device_unref(b);
	vfm_device_unref(c);
}

/* ------------------------------------------------------------------------- */
/* faults                                                                    */

static void test_faults(void)
{
	struct vfm_device *dev;
	enum vfm_state path[VFM_PLAN_MAX], st;
	uint8_t buf[8192], *img;
	size_t plen = 0;
	uint64_t v;
	int r;

	dev = open_ok("sim:fa,fail-arc=STOP:STOP_COPY");
	if (dev) {
		r = vfm_device_set_state(dev, VFM_STATE_STOP_COPY, NULL);
		vfm_sim_last_path(dev, path, &plen);
		tap_ok(r == -EIO && state_of(dev) == VFM_STATE_STOP && plen == 2 &&
			       path[0] == RP2P && path[1] == STOP,
		       "fail-arc: EIO, the walk stops before the arc");
		tap_ok(vfm_device_set_state(dev, VFM_STATE_STOP_COPY, NULL) == -EIO &&
			       state_of(dev) == VFM_STATE_STOP,
		       "fail-arc: fails every time");
		tap_ok(vfm_device_set_state(dev, VFM_STATE_RESUMING, NULL) == 0,
		       "fail-arc: other arcs work");
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:fb,fail-arc=running:running-p2p:ETIMEDOUT");
	tap_ok(dev && vfm_device_set_state(dev, VFM_STATE_STOP, NULL) == -ETIMEDOUT &&
		       state_of(dev) == VFM_STATE_RUNNING,
	       "fail-arc with an errno name, state unchanged");
	vfm_device_unref(dev);
	dev = open_ok("sim:fc,flags=stop-copy,fail-arc=RUNNING:STOP:42");
	tap_ok(dev && vfm_device_set_state(dev, VFM_STATE_STOP, NULL) == -42 &&
		       state_of(dev) == VFM_STATE_RUNNING,
	       "fail-arc with an errno number");
	vfm_device_unref(dev);

	dev = open_ok("sim:ea,error-arc=RUNNING_P2P:STOP");
	if (dev) {
		tap_ok(vfm_device_set_state(dev, VFM_STATE_STOP_COPY, NULL) == -EIO &&
			       state_of(dev) == VFM_STATE_ERROR,
		       "error-arc: EIO and ERROR");
		tap_ok(vfm_device_set_state(dev, VFM_STATE_RUNNING, NULL) == -EINVAL,
		       "error-arc: stuck in ERROR");
		tap_ok(vfm_device_reset(dev) == 0 && state_of(dev) == VFM_STATE_RUNNING,
		       "error-arc: reset recovers");
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:eb,state=STOP_COPY,error-arc=STOP_COPY:STOP");
	if (dev) {
		tap_eq(vfm_device_read(dev, buf, 10), 10,
		       "a session from state=STOP_COPY");
		tap_ok(vfm_device_set_state(dev, VFM_STATE_STOP, NULL) == -EIO &&
			       state_of(dev) == VFM_STATE_ERROR &&
			       vfm_device_read(dev, buf, 10) == -EBADF,
		       "error-arc closes the session");
		vfm_device_unref(dev);
	}

	dev = open_ok("sim:fr,fail-read-at=100:EPIPE,state=STOP_COPY");
	if (dev) {
		tap_eq(vfm_device_read(dev, buf, 64), 64,
		       "fail-read-at: bytes before pass");
		tap_eq(vfm_device_read(dev, buf, 64), -EPIPE,
		       "the read reaching it fails");
		tap_eq(vfm_device_read(dev, buf, 64), -EPIPE, "every time");
		tap_eq(vfm_device_read(dev, buf, 36), 36,
		       "a read stopping just before passes");
		tap_eq(vfm_device_read(dev, buf, 1), -EPIPE, "the byte itself fails");
		tap_eq(state_of(dev), VFM_STATE_STOP_COPY, "state unchanged");
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:fe,fail-read-at=4128,state=STOP_COPY");
	if (dev) {
		tap_eq(read_all(dev, buf, sizeof(buf), one_chunk, 1), -EIO,
		       "fail-read-at=32+size: the end-of-data read fails with EIO");
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:fp,fail-read-at=0,precopy=0");
	if (dev) {
		vfm_device_set_state(dev, VFM_STATE_PRE_COPY, NULL);
		tap_eq(vfm_device_read(dev, buf, 1), -EIO, "fail-read-at in PRE_COPY");
		vfm_device_unref(dev);
	}

	img = ref_image(vfm_sim_default_seed("fw"), 4096, VFM_MIG_ALL);
	dev = open_ok("sim:fw,fail-write-at=50:ENOSPC,state=RESUMING");
	if (dev && img) {
		tap_eq(vfm_device_write(dev, img, 50), 50,
		       "fail-write-at: bytes before pass");
		tap_eq(vfm_device_write(dev, img + 50, 10), -ENOSPC,
		       "the write reaching it fails");
		tap_eq(state_of(dev), VFM_STATE_RESUMING, "state unchanged");
		tap_eq(vfm_device_set_state(dev, VFM_STATE_STOP, NULL), -EINVAL,
		       "and the image is incomplete");
	}
	vfm_device_unref(dev);
	free(img);

	dev = open_ok("sim:co,corrupt-at=1000");
	if (dev) {
		struct vfm_device *dst = open_ok("sim:cod");
		uint64_t len = 0;

		img = save_image(dev, &len);
		tap_ok(img && len == 4128 &&
			       (img[1000] ^ ref_byte(vfm_sim_default_seed("co"), 4096,
						     VFM_MIG_ALL, 1000)) == 0xff &&
			       img[999] == ref_byte(vfm_sim_default_seed("co"), 4096,
						    VFM_MIG_ALL, 999),
		       "corrupt-at inverts that one byte");
		tap_ok(img && dst && restore_image(dst, img, len) == -EINVAL &&
			       state_of(dst) == VFM_STATE_RESUMING,
		       "the destination rejects it");
		free(img);
		vfm_device_unref(dst);
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:ch,corrupt-at=3");
	if (dev) {
		struct vfm_device *dst = open_ok("sim:chd");
		uint64_t len = 0;

		img = save_image(dev, &len);
		tap_ok(img && dst &&
			       vfm_device_set_state(dst, VFM_STATE_RESUMING, NULL) == 0 &&
			       vfm_device_write(dst, img, len) == -EINVAL,
		       "corrupt-at in the magic: the write fails");
		free(img);
		vfm_device_unref(dst);
		vfm_device_unref(dev);
	}

	dev = open_ok("sim:rs,fail-reset=EBUSY,state=STOP_COPY");
	if (dev) {
		tap_ok(vfm_device_reset(dev) == -EBUSY &&
			       state_of(dev) == VFM_STATE_STOP_COPY &&
			       vfm_device_read(dev, buf, 8) == 8,
		       "fail-reset=EBUSY: nothing changes, the session lives");
		vfm_device_unref(dev);
	}
	dev = open_ok("sim:rd,fail-reset");
	tap_ok(dev && vfm_device_reset(dev) == -EIO, "fail-reset: EIO");
	vfm_device_unref(dev);

	dev = open_ok("sim:g,fail-get");
	tap_ok(dev && vfm_device_get_state(dev, &st) == -EIO &&
		       vfm_sim_set_state_raw(dev, VFM_STATE_STOP) == 0,
	       "fail-get: EIO, SET still works");
	vfm_device_unref(dev);
	dev = open_ok("sim:g2,fail-get=ENODEV");
	tap_ok(dev && vfm_device_get_state(dev, &st) == -ENODEV, "fail-get=ENODEV");
	vfm_device_unref(dev);

	dev = open_ok("sim:sz,fail-size");
	tap_ok(dev && vfm_device_get_data_size(dev, &v) == -ENOTTY, "fail-size: ENOTTY");
	vfm_device_unref(dev);
	dev = open_ok("sim:sz2,fail-size=EIO");
	tap_ok(dev && vfm_device_get_data_size(dev, &v) == -EIO, "fail-size=EIO");
	vfm_device_unref(dev);

	dev = open_ok("sim:all,fail-arc=STOP:RESUMING:EFAULT,fail-size,fail-get=EBUSY,"
		      "fail-reset=EAGAIN,fail-read-at=40,state=STOP");
	if (dev) {
		tap_ok(vfm_sim_set_state_raw(dev, VFM_STATE_RESUMING) == -EFAULT &&
			       vfm_device_get_data_size(dev, &v) == -ENOTTY &&
			       vfm_device_get_state(dev, &st) == -EBUSY &&
			       vfm_device_reset(dev) == -EAGAIN &&
			       vfm_sim_set_state_raw(dev, VFM_STATE_STOP_COPY) == 0 &&
			       vfm_device_read(dev, buf, 40) == 40 &&
			       vfm_device_read(dev, buf, 1) == -EIO,
		       "faults combine");
		vfm_device_unref(dev);
	}

	dev = open_ok("sim:slow,arc-usec=20000");
	if (dev) {
		struct timespec t0, t1;
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = vfm_device_set_state(dev, VFM_STATE_STOP_COPY, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		tap_ok(r == 0 && ms >= 60.0,
		       "arc-usec=20000: 3 arcs took %.1f ms (>= 60)", ms);
		vfm_device_unref(dev);
	}
}

/* ------------------------------------------------------------------------- */
/* driving (needs vfm_fsm_plan)                                              */

/* fail-save=N: only the Nth save session fails, from its first read. */
static void test_fail_save(void)
{
	struct vfm_device *dev = open_ok("sim:fs,size=64,fail-save=2:ENOSPC");
	uint8_t buf[256];

	if (!dev)
		return;
	for (int k = 1; k <= 3; k++) {
		ssize_t n;

		tap_eq(vfm_device_set_state(dev, VFM_STATE_STOP_COPY, NULL), 0,
		       "fail-save: session %d opens", k);
		n = vfm_device_read(dev, buf, sizeof(buf));
		if (k == 2)
			tap_eq(n, -ENOSPC, "fail-save=2: session 2 fails its reads");
		else
			tap_eq(n, VFM_SIM_HEADER_SIZE + 64, "fail-save=2: session %d reads", k);
		tap_eq(vfm_device_reset(dev), 0, "fail-save: reset after session %d", k);
	}
	vfm_device_unref(dev);
}

struct arc_log {
	unsigned n;
	struct vfm_arc_result arcs[VFM_PLAN_MAX];
};

static void log_arc(void *userdata, const struct vfm_device *dev,
		    const struct vfm_arc_result *arc)
{
	struct arc_log *log = userdata;

	if (log->n < VFM_PLAN_MAX)
		log->arcs[log->n] = *arc;
	log->n++;
}

static void test_drive(void)
{
	struct vfm_device *dev = open_ok("sim:drv");
	struct vfm_device *bad = open_ok("sim:drf,fail-arc=STOP:STOP_COPY:EPIPE");
	struct arc_log log = {0};
	enum vfm_state st = VFM_STATE_MAX;
	int r;

	if (!dev || !bad)
		goto out;
	r = vfm_device_drive(dev, VFM_STATE_STOP_COPY, VFM_DRIVE_READBACK, log_arc, &log,
			     &st);
	tap_ok(r == 0 && st == VFM_STATE_STOP_COPY && log.n == 3 &&
		       log.arcs[0].to == RP2P && log.arcs[1].to == STOP &&
		       log.arcs[2].to == SC && log.arcs[2].readback &&
		       log.arcs[2].after == SC && log.arcs[2].error == 0,
	       "drive RUNNING -> STOP_COPY arc by arc (r=%d, %u arcs)", r, log.n);
	log.n = 0;
	r = vfm_device_drive(bad, VFM_STATE_STOP_COPY, 0, log_arc, &log, &st);
	tap_ok(r == -EPIPE && st == VFM_STATE_STOP && log.n == 3 &&
		       log.arcs[2].error == -EPIPE && log.arcs[2].readback &&
		       log.arcs[2].after == STOP,
	       "drive stops at the failing arc (r=%d, %u arcs)", r, log.n);
	vfm_device_reset(bad);
	r = vfm_device_drive(bad, VFM_STATE_RESUMING, 0, NULL, NULL, &st);
	tap_ok(r == 0 && st == VFM_STATE_RESUMING, "drive RUNNING -> RESUMING (r=%d)", r);
out:
	vfm_device_unref(dev);
	vfm_device_unref(bad);
}

/* ------------------------------------------------------------------------- */
/* independence and speed                                                    */

struct pair_job {
	char src[64], dst[64];
	uint64_t seed;
	int result;
};

static void *pair_thread(void *p)
{
	struct pair_job *job = p;
	struct vfm_device *src = NULL, *dst = NULL;
	struct vfm_ctx *tctx = NULL;
	uint8_t *img = NULL;
	uint64_t len = 0, seed = 0;

	/* Each thread its own context: a context is not shared across threads. */
	job->result = -EIO;
	if (vfm_ctx_new(&tctx) < 0 || vfm_device_open(tctx, job->src, &src) < 0 ||
	    vfm_device_open(tctx, job->dst, &dst) < 0)
		goto out;
	for (int i = 0; i < 20; i++) {
		free(img);
		img = save_image(src, &len);
		if (!img || restore_image(dst, img, len) < 0 ||
		    vfm_sim_loaded_seed(dst, &seed) < 0 || seed != job->seed)
			goto out;
		vfm_device_reset(src);
		vfm_device_reset(dst);
	}
	job->result = 0;
out:
	free(img);
	vfm_device_unref(src);
	vfm_device_unref(dst);
	vfm_ctx_unref(tctx);
	return NULL;
}

static void test_threads(void)
{
	struct pair_job jobs[4];
	pthread_t tids[4];
	bool all = true;

	for (int i = 0; i < 4; i++) {
		snprintf(jobs[i].src, sizeof(jobs[i].src), "sim:t%d,size=256K,seed=%d", i,
			 i);
		snprintf(jobs[i].dst, sizeof(jobs[i].dst), "sim:u%d,size=256K", i);
		jobs[i].seed = (uint64_t)i;
	}
	for (int i = 0; i < 4; i++)
		if (pthread_create(&tids[i], NULL, pair_thread, &jobs[i]) != 0)
			all = false;
	for (int i = 0; i < 4; i++) {
		pthread_join(tids[i], NULL);
		all = all && jobs[i].result == 0;
	}
	tap_ok(all, "four threads, each with its own devices, round-trip concurrently");
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_speed(void)
{
	const char *env = getenv("VFM_SIM_BIG");
	uint64_t size = 1ull << 30, done = 0, seed = 0;
	double t_read = 0, t_write = 0;
	struct vfm_device *src, *dst;
	const size_t chunk = 1u << 20;
	char spec[64];
	uint8_t *buf;
	bool ok = true;

	if (env) {
		char *end;

		size = strtoull(env, &end, 10);
		if (*end == 'K' || *end == 'M' || *end == 'G')
			size <<= *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
	}
	if (size == 0) {
		tap_skip("speed round trip (VFM_SIM_BIG=0)");
		return;
	}
	snprintf(spec, sizeof(spec), "sim:bigsrc,size=%" PRIu64 ",state=STOP_COPY", size);
	src = open_ok(spec);
	snprintf(spec, sizeof(spec), "sim:bigdst,size=%" PRIu64 ",state=RESUMING", size);
	dst = open_ok(spec);
	buf = malloc(chunk);
	if (!src || !dst || !buf)
		goto out;
	while (ok) {
		struct timespec t0;
		ssize_t n, w;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		n = vfm_device_read(src, buf, chunk);
		t_read += seconds_since(&t0);
		if (n <= 0) {
			ok = n == 0;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		w = vfm_device_write(dst, buf, (size_t)n);
		t_write += seconds_since(&t0);
		ok = w == n;
		done += (uint64_t)n;
	}
	ok = ok && done == HDR + size &&
	     vfm_device_set_state(dst, VFM_STATE_STOP, NULL) == 0 &&
	     vfm_sim_loaded_seed(dst, &seed) == 0 &&
	     seed == vfm_sim_default_seed("bigsrc");
	tap_ok(ok, "%" PRIu64 "-byte image round trip", done);
	tap_diag("generate %.2f GB/s, verify %.2f GB/s (%.3f s + %.3f s for %.2f GB)",
		 (double)done / t_read / 1e9, (double)done / t_write / 1e9, t_read,
		 t_write, (double)done / 1e9);
out:
	free(buf);
	vfm_device_unref(src);
	vfm_device_unref(dst);
}

int main(void)
{
	if (vfm_ctx_new(&ctx) < 0) {
		tap_ok(false, "vfm_ctx_new");
		return tap_done();
	}
	test_spec();
	test_no_migration();
	test_arcs();
	test_error_state();
	test_round_trip();
	test_unaligned();
	test_bad_images();
	test_seeds();
	test_precopy();
	test_precopy_variants();
	test_faults();
	test_fail_save();
	test_drive();
	test_threads();
	test_speed();
	vfm_ctx_unref(ctx);
	return tap_done();
}
