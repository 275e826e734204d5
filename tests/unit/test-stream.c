// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The stream codec (src/stream/stream.c) against vfiomig-stream(5), and CRC32C
 * (src/stream/crc32c.c): known vectors, every implementation against the portable
 * one on every length up to 4096 and unaligned starts, and their speed (diagnostics).
 *
 * Streams are built with the encoders, then broken on purpose: a field rewritten
 * (and the CRC fixed, so that the check under test is the one that fires), a byte
 * flipped, the stream cut at every offset.
 *
 *   test-stream --write-corpus DIR   writes the seed corpus of tests/fuzz instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "macro.h"
#include "stream.h"
#include "tap.h"

#define TO_DST VFM_STREAM_TO_DESTINATION
#define TO_SRC VFM_STREAM_TO_SOURCE

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	/* xorshift64*: the tests are reproducible */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static void fill_random(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd();
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return p;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A growing byte buffer: a stream under construction. */
struct sb {
	uint8_t *d;
	size_t len, cap;
};

static void sb_add(struct sb *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = MAX(s->cap * 2, s->len + n + 4096);
		s->d = realloc(s->d, s->cap);
		if (!s->d) {
			printf("Bail out! out of memory\n");
			exit(1);
		}
	}
	memcpy(s->d + s->len, p, n);
	s->len += n;
}

static void sb_free(struct sb *s)
{
	free(s->d);
	*s = (struct sb){0};
}

static void sb_preamble(struct sb *s)
{
	uint8_t p[VFM_STREAM_PREAMBLE_SIZE];

	vfm_stream_encode_preamble(p);
	sb_add(s, p, sizeof(p));
}

/* Append an encoded record; returns its offset.  Bails out if encoding fails. */
static size_t sb_rec(struct sb *s, struct vfm_record rec)
{
	static uint8_t buf[VFM_STREAM_DATA_RECORD_MAX];
	ssize_t n = vfm_stream_encode(&rec, buf, sizeof(buf));
	size_t off = s->len;

	if (n < 0) {
		printf("Bail out! encoding a record of type %d: %s\n", rec.type,
		       strerror((int)-n));
		exit(1);
	}
	sb_add(s, buf, (size_t)n);
	return off;
}

/* Append a record from raw parts with a right CRC. */
static size_t sb_raw(struct sb *s, uint16_t type, uint16_t flags, const void *payload,
		     uint32_t len)
{
	uint8_t h[8];
	uint8_t crc[4];
	size_t off = s->len;

	put16(h, type);
	put16(h + 2, flags);
	put32(h + 4, len);
	put32(crc, vfm_crc32c(vfm_crc32c(0, h, 8), payload, len));
	sb_add(s, h, 8);
	sb_add(s, payload, len);
	sb_add(s, crc, 4);
	return off;
}

/* Recompute the CRC of the record at @off after its bytes were changed. */
static void fix_crc(struct sb *s, size_t off)
{
	uint32_t len = get32(s->d + off + 4);

	put32(s->d + off + 8 + len, vfm_crc32c(0, s->d + off, 8 + len));
}

/* Overwrite payload bytes of the record at @off and fix its CRC. */
static void poke(struct sb *s, size_t off, size_t at, const void *bytes, size_t n)
{
	memcpy(s->d + off + 8 + at, bytes, n);
	fix_crc(s, off);
}

static void poke8(struct sb *s, size_t off, size_t at, uint8_t v)
{
	poke(s, off, at, &v, 1);
}

static void poke16(struct sb *s, size_t off, size_t at, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	poke(s, off, at, b, 2);
}

static void poke32(struct sb *s, size_t off, size_t at, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	poke(s, off, at, b, 4);
}

static void poke64(struct sb *s, size_t off, size_t at, uint64_t v)
{
	uint8_t b[8];

	put64(b, v);
	poke(s, off, at, b, 8);
}

static struct vfm_stream_header hdr; /* scratch for the builders */
#define STD_ID 0x0123456789abcdefull /* std_header()'s stream id */
static uint8_t pattern[1 << 16];

static void std_header(struct vfm_stream_header *h, unsigned n, uint16_t flags)
{
	memset(h, 0, sizeof(*h));
	h->stream_id = STD_ID;
	h->n_devices = (uint16_t)n;
	h->flags = flags;
	for (unsigned i = 0; i < n; i++) {
		struct vfm_stream_devdesc *d = &h->dev[i];

		d->mig_flags = VFM_STREAM_MIG_STOP_COPY | VFM_STREAM_MIG_P2P |
			       (i % 2 == 0 ? VFM_STREAM_MIG_PRE_COPY : 0);
		d->vendor = 0x15b3;
		d->device = 0x101e;
		d->subsystem_vendor = 0x15b3;
		d->subsystem_device = (int32_t)(0x0001 + i);
		d->revision = 0;
		d->data_size = 1u << 20;
		d->kind = VFM_STREAM_KIND_PCI;
		snprintf(d->driver, sizeof(d->driver), "mlx5_vfio_pci");
		snprintf(d->name, sizeof(d->name), "0000:3b:00.%u", i);
	}
}

static struct vfm_record r_header(const struct vfm_stream_header *h)
{
	return (struct vfm_record){.type = VFM_STREAM_HEADER, .header = h};
}

static struct vfm_record r_data(uint16_t dev, uint8_t phase, uint64_t offset,
				const void *bytes, uint32_t len)
{
	return (struct vfm_record){.type = VFM_STREAM_DATA,
				   .data = {dev, phase, offset, bytes, len}};
}

static struct vfm_record r_dend(uint16_t dev, uint64_t total, uint64_t precopy)
{
	return (struct vfm_record){.type = VFM_STREAM_DEVICE_END,
				   .device_end = {dev, total, precopy}};
}

static struct vfm_record r_end(uint16_t n, uint64_t total)
{
	return (struct vfm_record){.type = VFM_STREAM_END, .end = {n, total}};
}

static struct vfm_record r_abort(uint32_t error, const char *reason)
{
	return (struct vfm_record){.type = VFM_STREAM_ABORT, .abort = {error, reason}};
}

static struct vfm_record r_compat(const struct vfm_stream_compat *c)
{
	return (struct vfm_record){.type = VFM_STREAM_COMPAT, .compat = c};
}

static struct vfm_record r_verdict(uint32_t status, uint16_t dev, const char *reason)
{
	return (struct vfm_record){.type = VFM_STREAM_VERDICT,
				   .verdict = {status, dev, reason}};
}

static struct vfm_record r_ready(uint64_t id)
{
	return (struct vfm_record){.type = VFM_STREAM_READY, .commit = {id}};
}

static struct vfm_record r_commit(uint64_t id)
{
	return (struct vfm_record){.type = VFM_STREAM_COMMIT, .commit = {id}};
}

/* Start a stream: preamble and a standard HEADER of @n devices; returns its offset. */
static size_t start(struct sb *s, unsigned n, uint16_t flags)
{
	std_header(&hdr, n, flags);
	sb_preamble(s);
	return sb_rec(s, r_header(&hdr));
}

static void std_compat(struct vfm_stream_compat *c, unsigned n)
{
	memset(c, 0, sizeof(*c));
	c->n_devices = (uint16_t)n;
	for (unsigned i = 0; i < n; i++)
		snprintf(c->dev[i].reason, sizeof(c->dev[i].reason), "compatible");
}

/* What reading a whole stream gave. */
struct outcome {
	int ret;	   /* 0: ended cleanly; else the error */
	int records;	   /* records returned before that */
	char reason[256];  /* the reader's error */
	uint64_t position; /* vfm_stream_reader_position() at the end */
};

static struct outcome run(enum vfm_stream_dir dir, unsigned n, const uint8_t *d,
			  size_t len)
{
	struct vfm_stream_mem mem = {.data = d, .size = len};
	struct vfm_stream_reader *r;
	struct outcome o = {0};
	struct vfm_record rec;
	int ret;

	ret = vfm_stream_reader_new(dir, n, vfm_stream_mem_read, &mem, &r);
	if (ret < 0) {
		o.ret = ret;
		snprintf(o.reason, sizeof(o.reason), "reader_new: %s", strerror(-ret));
		return o;
	}
	if (dir == VFM_STREAM_TO_SOURCE)
		vfm_stream_reader_set_stream_id(r, STD_ID);
	while ((ret = vfm_stream_read(r, &rec)) > 0)
		o.records++;
	o.ret = ret;
	snprintf(o.reason, sizeof(o.reason), "%s", vfm_stream_reader_error(r));
	o.position = vfm_stream_reader_position(r);
	vfm_stream_reader_free(r);
	return o;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case -EPROTO: return "-EPROTO";
	case -ENOMSG: return "-ENOMSG";
	case -EPROTONOSUPPORT: return "-EPROTONOSUPPORT";
	case -EBADMSG: return "-EBADMSG";
	case -EMSGSIZE: return "-EMSGSIZE";
	case -EACCES: return "-EACCES";
	case -EINVAL: return "-EINVAL";
	case -ENOBUFS: return "-ENOBUFS";
	case -ECONNRESET: return "-ECONNRESET";
	default: return "other";
	}
}

/* The stream in @s must be rejected with @err and a reason containing @needle. */
static void expect_dir(const char *what, enum vfm_stream_dir dir, unsigned n,
		       const struct sb *s, int err, const char *needle)
{
	struct outcome o = run(dir, n, s->d, s->len);
	bool ok = o.ret == err && strstr(o.reason, needle);

	tap_ok(ok, "rejects %s: %s \"%s\"", what, errname(o.ret), o.reason);
	if (!ok)
		tap_diag("  expected %s with \"%s\"", errname(err), needle);
}

static void expect(const char *what, const struct sb *s, int err, const char *needle)
{
	expect_dir(what, TO_DST, 0, s, err, needle);
}

/* ------------------------------------------------------------------------- */
/* CRC32C                                                                    */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_crc32c(void)
{
	static const struct {
		const char *name;
		uint8_t byte;
		size_t len;
		uint32_t crc;
	} vectors[] = {
		{"32 zero bytes", 0x00, 32, 0x8A9136AA},
		{"32 0xff bytes", 0xff, 32, 0x62A8AB43},
	};
	enum { MAXLEN = 4096, BIG = (1 << 20) + 4096 };
	uint8_t *buf = xmalloc(BIG + 8);
	uint8_t fill[32];
	int impl;

	fill_random(buf, BIG + 8);
	tap_diag("CRC32C: vfm_crc32c() runs %s",
		 vfm_crc32c_impl_name(vfm_crc32c_impl_best()));
	tap_eq(vfm_crc32c(0, "123456789", 9), 0xE3069283, "vfm_crc32c(\"123456789\")");
	tap_eq(vfm_crc32c(0, NULL, 0), 0, "CRC of nothing is 0");
	for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
		memset(fill, vectors[v].byte, sizeof(fill));
		tap_eq(vfm_crc32c(0, fill, vectors[v].len), vectors[v].crc,
		       "vfm_crc32c(%s)", vectors[v].name);
	}

	for (impl = 0; impl < VFM_CRC32C_IMPL_MAX; impl++) {
		const char *name = vfm_crc32c_impl_name(impl);
		size_t bad = 0, runs = 0;
		uint32_t c;

		if (!vfm_crc32c_impl_supported(impl)) {
			tap_skip("CRC32C implementation not supported by this CPU");
			continue;
		}
		tap_eq(vfm_crc32c_with(impl, 0, "123456789", 9), 0xE3069283,
		       "%s: \"123456789\"", name);
		for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
			memset(fill, vectors[v].byte, sizeof(fill));
			tap_eq(vfm_crc32c_with(impl, 0, fill, vectors[v].len),
			       vectors[v].crc, "%s: %s", name, vectors[v].name);
		}

		/* every length 0..4096 at every start alignment, against slice8 */
		for (size_t len = 0; len <= MAXLEN; len++)
			for (size_t start = 0; start < 8; start++) {
				uint32_t a = vfm_crc32c_with(impl, 0, buf + start, len);
				uint32_t b = vfm_crc32c_with(VFM_CRC32C_SLICE8, 0,
							     buf + start, len);

				runs++;
				if (a != b && bad++ < 3)
					tap_diag("  %s: length %zu at +%zu: 0x%08x, "
						 "slice8 "
						 "0x%08x",
						 name, len, start, a, b);
			}
		/* lengths around the 3-way round sizes, and a long buffer */
		static const size_t odd[] = {767,   768,   769,	  771,	   12287,
					     12288, 12289, 12295, 13055,   13057,
					     24576, 25000, 65536, BIG - 1, BIG};
		for (size_t i = 0; i < ELEMENTSOF(odd); i++)
			for (size_t start = 0; start < 8; start += 3) {
				runs++;
				if (vfm_crc32c_with(impl, 0, buf + start, odd[i]) !=
					    vfm_crc32c_with(VFM_CRC32C_SLICE8, 0,
							    buf + start, odd[i]) &&
				    bad++ < 3)
					tap_diag("  %s: length %zu at +%zu differs", name,
						 odd[i], start);
			}
		tap_ok(bad == 0,
		       "%s agrees with slice8 on %zu buffers (all lengths to %d, "
		       "every alignment)",
		       name, runs, MAXLEN);

		/* chaining: any split gives the CRC of the whole */
		c = vfm_crc32c_with(impl, 0, buf, 100000);
		bad = 0;
		for (int i = 0; i < 200; i++) {
			size_t cut = rnd() % 100001;
			uint32_t x = vfm_crc32c_with(impl, 0, buf, cut);

			if (vfm_crc32c_with(impl, x, buf + cut, 100000 - cut) != c)
				bad++;
		}
		tap_ok(bad == 0, "%s: chained CRCs equal the CRC of the whole", name);
	}
	tap_eq(vfm_crc32c_with(VFM_CRC32C_IMPL_MAX, 0, "123456789", 9), 0xE3069283,
	       "an unknown implementation falls back to slice8");
	tap_ok(vfm_crc32c_impl_name(VFM_CRC32C_IMPL_MAX) == NULL,
	       "no name for an unknown implementation");

	/* speed: 1 MiB buffers for at least 0.2 s (diagnostics only) */
	for (impl = 0; impl < VFM_CRC32C_IMPL_MAX; impl++) {
		double t0, t;
		size_t bytes = 0;
		uint32_t c = 0;

		if (!vfm_crc32c_impl_supported(impl))
			continue;
		t0 = now();
		do {
			c = vfm_crc32c_with(impl, c, buf, 1 << 20);
			bytes += 1 << 20;
		} while ((t = now() - t0) < 0.2);
		tap_diag("CRC32C speed: %-14s %6.2f GB/s (crc 0x%08x)",
			 vfm_crc32c_impl_name(impl), (double)bytes / t / 1e9, c);
	}
	free(buf);
}

/* ------------------------------------------------------------------------- */
/* encoders                                                                  */

enum { HEADER_EDITS = 14 };

/* Break @h in the way number @i; returns how. */
static const char *edit_header(struct vfm_stream_header *h, int i)
{
	switch (i) {
	case 0: h->n_devices = 0; return "0 devices";
	case 1: h->n_devices = 65; return "65 devices";
	case 2: h->flags = 8; return "unknown header flag";
	case 3: h->dev[1].mig_flags |= 8; return "unknown migration flag";
	case 4: h->dev[0].mig_flags = VFM_STREAM_MIG_P2P; return "no STOP_COPY";
	case 5: h->dev[0].vendor = 0x10000; return "vendor 0x10000";
	case 6: h->dev[0].device = -2; return "device -2";
	case 7: h->dev[1].subsystem_vendor = 0x10000; return "subsystem vendor 0x10000";
	case 8: h->dev[1].subsystem_device = 0x10000; return "subsystem device 0x10000";
	case 9: h->dev[0].revision = 0x100; return "revision 0x100";
	case 10: h->dev[0].kind = 4; return "kind 4";
	case 11: memset(h->dev[0].driver, 'a', 64); return "driver not terminated";
	case 12: strcpy(h->dev[0].driver, "vfio\n"); return "driver with a newline";
	default:
		strcpy(h->dev[1].mdev_type, "mtty\xc0\x80");
		return "invalid UTF-8 mdev type";
	}
}

static void test_encoders(void)
{
	static const uint8_t magic[] = {0x89, 0x56, 0x46, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a};
	uint8_t pre[VFM_STREAM_PREAMBLE_SIZE], buf[2048], canary[2048];
	uint8_t prefix[VFM_STREAM_DATA_PREFIX_SIZE], trailer[4];
	struct vfm_stream_compat compat;
	struct vfm_record rec;
	ssize_t n;

	vfm_stream_encode_preamble(pre);
	tap_ok(memcmp(pre, magic, 8) == 0 && get32(pre + 8) == 2 && get32(pre + 12) == 0,
	       "preamble: magic 89 56 46 4d 0d 0a 1a 0a, version 2, flags 0");

	/* END, byte by byte */
	rec = r_end(2, 0x0102030405060708ull);
	n = vfm_stream_encode(&rec, buf, sizeof(buf));
	{
		static const uint8_t want[] = {4, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0,
					       0, 0, 0, 0, 8,  7, 6, 5, 4, 3, 2, 1};
		tap_ok(n == 28 && memcmp(buf, want, sizeof(want)) == 0 &&
			       get32(buf + 24) == vfm_crc32c(0, buf, 24),
		       "END record: type 4, flags 0, length 16, count, reserved, total "
		       "LE, "
		       "CRC of the 24 bytes before it");
	}

	/* DATA: the zero-copy pieces equal the whole record */
	rec = r_data(3, VFM_STREAM_PHASE_STOPCOPY, 0x1122334455ull, pattern, 1000);
	n = vfm_stream_encode(&rec, buf, sizeof(buf));
	tap_eq(n, 24 + 1000 + 4, "DATA record of 1000 bytes is 1028 bytes");
	tap_eq(vfm_stream_data_prefix(prefix, 3, 2, 0x1122334455ull, 1000), 0,
	       "vfm_stream_data_prefix()");
	tap_eq(vfm_stream_data_crc(prefix, pattern, 1000, trailer), 0,
	       "vfm_stream_data_crc()");
	tap_ok(memcmp(buf, prefix, 24) == 0 && memcmp(buf + 24, pattern, 1000) == 0 &&
		       memcmp(buf + 1024, trailer, 4) == 0,
	       "prefix + bytes + trailer == vfm_stream_encode() of the same DATA");
	{
		static const uint8_t want[] = {2,    0,	   0,	 0,    0xf8, 3, 0, 0,
					       3,    0,	   2,	 0,    0,    0, 0, 0,
					       0x55, 0x44, 0x33, 0x22, 0x11, 0, 0, 0};
		tap_ok(memcmp(prefix, want, 24) == 0,
		       "DATA prefix: type 2, length 1016, device 3, phase 2, offset LE");
	}
	tap_eq(vfm_stream_data_crc(prefix, pattern, 999, trailer), -EINVAL,
	       "vfm_stream_data_crc() with a length other than the prefix's");
	tap_eq(vfm_stream_data_prefix(prefix, 64, 2, 0, 1), -EINVAL, "prefix: device 64");
	tap_eq(vfm_stream_data_prefix(prefix, 0, 0, 0, 1), -EINVAL, "prefix: phase 0");
	tap_eq(vfm_stream_data_prefix(prefix, 0, 3, 0, 1), -EINVAL, "prefix: phase 3");
	tap_eq(vfm_stream_data_prefix(prefix, 0, 2, 0, 0), -EINVAL, "prefix: length 0");
	tap_eq(vfm_stream_data_prefix(prefix, 0, 2, 0, VFM_STREAM_CHUNK_MAX + 1), -EINVAL,
	       "prefix: length 16 MiB + 1");
	tap_eq(vfm_stream_data_prefix(prefix, 0, 2, 0, VFM_STREAM_CHUNK_MAX), 0,
	       "prefix: length 16 MiB");
	tap_eq(vfm_stream_data_prefix(prefix, 0, 2, UINT64_MAX, 1), -EINVAL,
	       "prefix: offset + length overflows");

	/* -ENOBUFS at every size below the record's, and nothing written */
	std_header(&hdr, 2, VFM_STREAM_F_PRECOPY);
	std_compat(&compat, 2);
	{
		const struct vfm_record recs[] = {
			r_header(&hdr),
			r_data(1, 1, 5, pattern, 77),
			r_dend(1, 10, 4),
			r_end(2, 10),
			r_abort(EIO, "device 0000:3b:00.1 failed"),
			r_compat(&compat),
			r_verdict(ENODEV, 1, "no such device"),
		};
		for (size_t i = 0; i < ELEMENTSOF(recs); i++) {
			static uint8_t big[VFM_STREAM_HEADER_RECORD_MAX];
			ssize_t full = vfm_stream_encode(&recs[i], big, sizeof(big));
			size_t bad = 0;

			for (ssize_t size = 0; size < full; size++) {
				memset(canary, 0xa5, sizeof(canary));
				memcpy(buf, canary, sizeof(buf));
				if (vfm_stream_encode(&recs[i], buf, (size_t)size) !=
					    -ENOBUFS ||
				    memcmp(buf, canary, sizeof(buf)) != 0)
					bad++;
			}
			tap_ok(full > 0 && bad == 0,
			       "%s: %zd bytes; -ENOBUFS and nothing written for every "
			       "smaller buffer",
			       vfm_stream_type_name(recs[i].type), full);
		}
	}

	/* -EINVAL */
	for (int i = 0; i < HEADER_EDITS; i++) {
		std_header(&hdr, 2, 0);
		const char *what = edit_header(&hdr, i);

		rec = r_header(&hdr);
		memset(buf, 0xa5, sizeof(buf));
		memcpy(canary, buf, sizeof(buf));
		n = vfm_stream_encode(&rec, buf, sizeof(buf));
		tap_ok(n == -EINVAL && memcmp(buf, canary, sizeof(buf)) == 0,
		       "encoding a HEADER with %s: -EINVAL, nothing written", what);
	}
	std_header(&hdr, 1, 0);
	hdr.dev[0].vendor = hdr.dev[0].device = hdr.dev[0].revision = -1;
	hdr.dev[0].subsystem_vendor = hdr.dev[0].subsystem_device = -1;
	rec = r_header(&hdr);
	tap_ok(vfm_stream_encode(&rec, buf, sizeof(buf)) > 0,
	       "IDs of -1 (unknown) encode");

	{
		const struct {
			const char *what;
			struct vfm_record rec;
		} bad[] = {
			{"DATA of device 64", r_data(64, 2, 0, pattern, 1)},
			{"DATA of 0 bytes", r_data(0, 2, 0, pattern, 0)},
			{"DATA without bytes", r_data(0, 2, 0, NULL, 1)},
			{"DATA in phase 0", r_data(0, 0, 0, pattern, 1)},
			{"DEVICE_END of device 64", r_dend(64, 0, 0)},
			{"DEVICE_END with precopy > total", r_dend(0, 1, 2)},
			{"END of 0 devices", r_end(0, 0)},
			{"END of 65 devices", r_end(65, 0)},
			{"ABORT with errno 0", r_abort(0, "x")},
			{"ABORT with errno 4096", r_abort(4096, "x")},
			{"VERDICT with status 4096", r_verdict(4096, 0xffff, "x")},
			{"VERDICT success naming a device", r_verdict(0, 0, "x")},
			{"VERDICT of device 64", r_verdict(5, 64, "x")},
			{"COMPAT without entries", r_compat(NULL)},
			{"a record of type 11", {.type = 11}},
		};
		for (size_t i = 0; i < ELEMENTSOF(bad); i++)
			tap_eq(vfm_stream_encode(&bad[i].rec, buf, sizeof(buf)), -EINVAL,
			       "encoding %s: -EINVAL", bad[i].what);
		std_compat(&compat, 2);
		compat.dev[1].code = 9;
		rec = r_compat(&compat);
		tap_eq(vfm_stream_encode(&rec, buf, sizeof(buf)), -EINVAL,
		       "encoding COMPAT code 9: -EINVAL");
		std_compat(&compat, 2);
		compat.n_devices = 0;
		tap_eq(vfm_stream_encode(&rec, buf, sizeof(buf)), -EINVAL,
		       "encoding COMPAT of 0 devices: -EINVAL");
	}
	tap_eq(vfm_stream_encode(NULL, buf, sizeof(buf)), -EINVAL,
	       "encoding NULL: -EINVAL");

	tap_ok(streq(vfm_stream_type_name(VFM_STREAM_DEVICE_END), "DEVICE_END") &&
		       streq(vfm_stream_type_name(VFM_STREAM_VERDICT), "VERDICT") &&
		       streq(vfm_stream_type_name(VFM_STREAM_VF_CONFIG), "VF_CONFIG") &&
		       streq(vfm_stream_type_name(VFM_STREAM_COMMIT), "COMMIT") &&
		       streq(vfm_stream_type_name(VFM_STREAM_READY), "READY") &&
		       streq(vfm_stream_type_name(VFM_STREAM_JOIN), "JOIN") &&
		       !vfm_stream_type_name(0) && !vfm_stream_type_name(11),
	       "vfm_stream_type_name()");
}

/* Message text is sanitised, never refused; the reader takes what the encoder makes. */
static void test_text(void)
{
	struct sb s = {0};
	struct vfm_stream_mem mem;
	struct vfm_stream_reader *r;
	struct vfm_record rec;
	char longer[3000];
	size_t n = 0;
	int t;

	start(&s, 1, 0);
	sb_rec(&s, r_abort(EIO, "bad\tline\nend\x1b[31m \xc3\xa9t\xc3\xa9 "
				"\xff\xc2\x9b \xed\xa0\x80!"));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
	vfm_stream_read(r, &rec);
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_ABORT && streq(rec.abort.reason,
					      "bad?line?end?[31m \xc3\xa9t\xc3\xa9 ??? ??"
					      "?!"),
	       "ABORT reason: controls and invalid UTF-8 become '?', UTF-8 stays: \"%s\"",
	       t == VFM_STREAM_ABORT ? rec.abort.reason : "");
	vfm_stream_reader_free(r);

	/* bidi formatting and line separators: '?' (3 bytes, 3 '?'), their neighbours
	 * pass: U+200D, U+2010, U+2027, U+202F, U+2065, U+206A, U+061B */
	sb_free(&s);
	start(&s, 1, 0);
	sb_rec(&s, r_abort(EIO, "a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\x8f" "d\xe2\x80\xa8"
				"e\xd8\x9c" "f\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5"
				"\xe2\x81\xaa\xd8\x9b"));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
	vfm_stream_read(r, &rec);
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_ABORT &&
		       streq(rec.abort.reason,
			     "a???b???c???d???e??" "f\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xa7"
			     "\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xd8\x9b"),
	       "ABORT reason: U+202E, U+2066, U+200F, U+2028, U+061C become '?', their "
	       "neighbours stay");
	vfm_stream_reader_free(r);
	{
		struct vfm_stream_header h;
		uint8_t buf[VFM_STREAM_HEADER_RECORD_MAX];
		ssize_t len;
		size_t at;

		/* a reader refuses a peer's name that holds one (a CRC-valid record) */
		std_header(&h, 1, 0);
		len = vfm_stream_encode(&(struct vfm_record){.type = VFM_STREAM_HEADER,
							     .header = &h},
					buf, sizeof(buf));
		sb_free(&s);
		sb_preamble(&s);
		at = s.len;
		sb_add(&s, buf, (size_t)len);
		memcpy(s.d + at + 8 + 16 + 168, "x\xe2\x80\xae", 4);
		fix_crc(&s, at);
		expect("a device name with U+202E", &s, -EPROTO,
		       "HEADER record, device 0: device name is not printable UTF-8");
	}

	/* the edges of what is accepted pass unchanged */
	sb_free(&s);
	start(&s, 1, 0);
	{
		static const char edges[] =
			" ~\xc2\xa0\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
			"\xef\xbf\xbf\xf0\x90\x80\x80\xf0\x9f\x98\x80"
			"\xf4\x8f\xbf\xbf";

		sb_rec(&s, r_abort(EIO, edges));
		mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
		vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
		vfm_stream_read(r, &rec);
		t = vfm_stream_read(r, &rec);
		tap_ok(t == VFM_STREAM_ABORT && streq(rec.abort.reason, edges),
		       "U+0020, U+007E, U+00A0, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, "
		       "U+10000, U+1F600, U+10FFFF pass unchanged");
		vfm_stream_reader_free(r);
	}

	/* a long reason is cut at a character boundary: 2-byte characters, odd limit */
	while (n + 2 < sizeof(longer)) {
		memcpy(longer + n, "\xc3\xa9", 2);
		n += 2;
	}
	longer[n] = '\0';
	sb_free(&s);
	start(&s, 1, 0);
	sb_rec(&s, r_abort(EIO, longer));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
	vfm_stream_read(r, &rec);
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_ABORT &&
		       strlen(rec.abort.reason) == VFM_STREAM_REASON_MAX - 1 &&
		       strncmp(rec.abort.reason, longer, VFM_STREAM_REASON_MAX - 1) == 0,
	       "a 2998-byte reason is cut to %zu bytes, at a character boundary",
	       t == VFM_STREAM_ABORT ? strlen(rec.abort.reason) : 0);
	vfm_stream_reader_free(r);

	/* a device name of 88 bytes with no NUL, and with controls */
	sb_free(&s);
	std_header(&hdr, 2, 0);
	memset(hdr.dev[0].name, 'n', sizeof(hdr.dev[0].name));
	strcpy(hdr.dev[1].name, "sim:\x1b]0;pwned\x07");
	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_HEADER && strlen(rec.header->dev[0].name) == 87 &&
		       streq(rec.header->dev[1].name, "sim:?]0;pwned?"),
	       "a device name is cut to 87 bytes and cleaned of controls");
	vfm_stream_reader_free(r);
	sb_free(&s);
}

/* ------------------------------------------------------------------------- */
/* round trips                                                               */

static bool devdesc_eq(const struct vfm_stream_devdesc *a,
		       const struct vfm_stream_devdesc *b)
{
	return a->mig_flags == b->mig_flags && a->vendor == b->vendor &&
	       a->device == b->device && a->subsystem_vendor == b->subsystem_vendor &&
	       a->subsystem_device == b->subsystem_device && a->revision == b->revision &&
	       a->data_size == b->data_size && a->kind == b->kind &&
	       streq(a->driver, b->driver) && streq(a->mdev_type, b->mdev_type) &&
	       streq(a->name, b->name);
}

static void test_round_trips(void)
{
	struct vfm_stream_header h;
	struct vfm_stream_compat c;
	struct vfm_stream_mem mem;
	struct vfm_stream_reader *r;
	struct vfm_record rec;
	struct sb s = {0};
	bool same = true;
	int t;

	/* HEADER with every field set, and an ABORT */
	std_header(&h, 4, VFM_STREAM_F_PRECOPY);
	h.stream_id = 0xfedcba9876543210ull;
	h.dev[1].kind = VFM_STREAM_KIND_MDEV;
	snprintf(h.dev[1].driver, sizeof(h.dev[1].driver), "mtty");
	snprintf(h.dev[1].mdev_type, sizeof(h.dev[1].mdev_type), "mtty-2");
	snprintf(h.dev[1].name, sizeof(h.dev[1].name),
		 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
	h.dev[2].vendor = h.dev[2].device = h.dev[2].subsystem_vendor = -1;
	h.dev[2].subsystem_device = h.dev[2].revision = -1;
	h.dev[2].data_size = VFM_STREAM_SIZE_UNKNOWN;
	h.dev[2].kind = VFM_STREAM_KIND_FD;
	h.dev[2].driver[0] = '\0';
	snprintf(h.dev[2].name, sizeof(h.dev[2].name), "fd:3");
	h.dev[3].kind = VFM_STREAM_KIND_SIM;
	h.dev[3].revision = 0xff;
	h.dev[3].mig_flags = VFM_STREAM_MIG_STOP_COPY;
	snprintf(h.dev[3].driver, sizeof(h.dev[3].driver), "sim-\xe2\x82\xac");
	snprintf(h.dev[3].name, sizeof(h.dev[3].name), "sim:b\xc3\xa4r");
	sb_preamble(&s);
	sb_rec(&s, r_header(&h));
	sb_rec(&s, r_abort(ENOSPC, "no space left"));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
	tap_ok(vfm_stream_reader_header(r) == NULL, "no header before reading");
	t = vfm_stream_read(r, &rec);
	for (unsigned i = 0; t == VFM_STREAM_HEADER && i < 4; i++)
		same = same && devdesc_eq(&rec.header->dev[i], &h.dev[i]);
	tap_ok(t == VFM_STREAM_HEADER && rec.type == VFM_STREAM_HEADER &&
		       rec.header->stream_id == h.stream_id &&
		       rec.header->n_devices == 4 &&
		       rec.header->flags == VFM_STREAM_F_PRECOPY && same &&
		       vfm_stream_reader_header(r) == rec.header,
	       "HEADER round trip: id, count, flags, four descriptors of every kind");
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_ABORT && rec.abort.error == ENOSPC &&
		       streq(rec.abort.reason, "no space left"),
	       "ABORT round trip");
	tap_eq(vfm_stream_read(r, &rec), 0, "the stream ends after ABORT");
	tap_eq(vfm_stream_read(r, &rec), 0, "and keeps ending");
	tap_eq(vfm_stream_reader_finish(r), 0, "vfm_stream_reader_finish() agrees");
	tap_ok(streq(vfm_stream_reader_error(r), ""), "no error");
	vfm_stream_reader_free(r);
	sb_free(&s);

	/* the reverse direction: COMPAT, VERDICT */
	std_compat(&c, 3);
	c.dev[2].code = VFM_COMPAT_OK;
	snprintf(c.dev[1].reason, sizeof(c.dev[1].reason), "same driver \xe2\x9c\x93");
	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_ready(0x1122334455667788ull));
	sb_rec(&s, r_verdict(0, VFM_STREAM_NO_DEVICE, "loaded"));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_SRC, 3, vfm_stream_mem_read, &mem, &r);
	vfm_stream_reader_set_stream_id(r, 0x1122334455667788ull);
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_COMPAT && rec.compat->n_devices == 3 &&
		       rec.compat->dev[0].code == 0 &&
		       streq(rec.compat->dev[1].reason, c.dev[1].reason),
	       "COMPAT round trip");
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_READY && rec.commit.stream_id == 0x1122334455667788ull,
	       "READY round trip");
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_VERDICT && rec.verdict.status == 0 &&
		       rec.verdict.dev == VFM_STREAM_NO_DEVICE &&
		       streq(rec.verdict.reason, "loaded"),
	       "VERDICT round trip");
	tap_eq(vfm_stream_read(r, &rec), 0, "the reverse stream ends after VERDICT");
	vfm_stream_reader_free(r);
	sb_free(&s);

	/* a failure verdict may come alone: the destination failed early */
	sb_preamble(&s);
	sb_rec(&s, r_verdict(ENODEV, 1, "cannot open 0000:3b:00.1"));
	{
		struct outcome o = run(TO_SRC, 2, s.d, s.len);

		tap_ok(o.ret == 0 && o.records == 1,
		       "a failure VERDICT without COMPAT: %s", o.reason);
	}
	sb_free(&s);

	/* incompatible, then a failure verdict */
	std_compat(&c, 2);
	c.dev[1].code = VFM_COMPAT_DRIVER;
	snprintf(c.dev[1].reason, sizeof(c.dev[1].reason),
		 "driver mlx5_vfio_pci, here %s", "vfio-pci");
	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_verdict(EOPNOTSUPP, 1, "incompatible"));
	{
		struct outcome o = run(TO_SRC, 2, s.d, s.len);

		tap_ok(o.ret == 0 && o.records == 2,
		       "COMPAT refusing a device, failure "
		       "VERDICT: %s",
		       o.reason);
	}
	sb_free(&s);
}

/* ------------------------------------------------------------------------- */
/* a whole stream                                                            */

enum { NDEV = 3 };

struct sent {
	uint8_t *data[NDEV];
	size_t len[NDEV];
	size_t precopy[NDEV];
};

/*
 * Three devices: 0 sends precopy then stop-copy, 1 stop-copy only, 2 nothing; chunks
 * interleaved, sizes from 1 byte to @big.  Written half with vfm_stream_encode(),
 * half with the zero-copy pieces.
 */
static void build_full(struct sb *s, struct sent *sent, size_t big)
{
	uint64_t off[NDEV] = {0}, total = 0;
	uint8_t prefix[VFM_STREAM_DATA_PREFIX_SIZE], trailer[4];
	size_t sizes0[] = {1, 100, 4096, big, 7};
	size_t sizes1[] = {big, 3, 65536, 1};
	size_t i0 = 0, i1 = 0, k = 0;

	for (int d = 0; d < NDEV; d++) {
		sent->len[d] = 0;
		sent->precopy[d] = 0;
	}
	sent->data[0] = xmalloc(1 + 100 + 4096 + big + 7);
	sent->data[1] = xmalloc(big + 3 + 65536 + 1);
	sent->data[2] = NULL;
	start(s, NDEV, VFM_STREAM_F_PRECOPY);
	while (i0 < ELEMENTSOF(sizes0) || i1 < ELEMENTSOF(sizes1)) {
		int d = (k++ % 2 == 0 && i0 < ELEMENTSOF(sizes0)) ||
					i1 >= ELEMENTSOF(sizes1)
				? 0
				: 1;
		size_t n = d == 0 ? sizes0[i0++] : sizes1[i1++];
		uint8_t phase = d == 0 && i0 <= 2 ? 1 : 2;
		uint8_t *p = sent->data[d] + sent->len[d];

		fill_random(p, n);
		if (k % 2) {
			sb_rec(s, r_data((uint16_t)d, phase, off[d], p, (uint32_t)n));
		} else {
			vfm_stream_data_prefix(prefix, (uint16_t)d, phase, off[d],
					       (uint32_t)n);
			vfm_stream_data_crc(prefix, p, n, trailer);
			sb_add(s, prefix, sizeof(prefix));
			sb_add(s, p, n);
			sb_add(s, trailer, sizeof(trailer));
		}
		off[d] += n;
		sent->len[d] += n;
		if (phase == 1)
			sent->precopy[d] += n;
		if (d == 1 && i1 == ELEMENTSOF(sizes1)) /* device 1 ends mid-stream */
			sb_rec(s, r_dend(1, off[1], 0));
	}
	sb_rec(s, r_dend(2, 0, 0));
	sb_rec(s, r_dend(0, off[0], sent->precopy[0]));
	for (int d = 0; d < NDEV; d++)
		total += off[d];
	sb_rec(s, r_end(NDEV, total));
}

static void test_full_stream(void)
{
	struct sb s = {0};
	struct sent sent;
	struct vfm_stream_mem mem;
	struct vfm_stream_reader *r;
	struct vfm_record rec;
	uint8_t *got[NDEV];
	size_t got_len[NDEV] = {0}, precopy[NDEV] = {0}, ended = 0;
	int t, records = 0;
	bool ok = true;

	build_full(&s, &sent, 200000);
	for (int d = 0; d < NDEV; d++)
		got[d] = xmalloc(sent.len[d]);
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(TO_DST, 0, vfm_stream_mem_read, &mem, &r);
	while ((t = vfm_stream_read(r, &rec)) > 0) {
		records++;
		switch (t) {
		case VFM_STREAM_DATA:
			if (rec.data.offset != got_len[rec.data.dev])
				ok = false;
			memcpy(got[rec.data.dev] + got_len[rec.data.dev], rec.data.bytes,
			       rec.data.len);
			got_len[rec.data.dev] += rec.data.len;
			if (rec.data.phase == VFM_STREAM_PHASE_PRECOPY)
				precopy[rec.data.dev] += rec.data.len;
			break;
		case VFM_STREAM_DEVICE_END:
			if (rec.device_end.total != got_len[rec.device_end.dev] ||
			    rec.device_end.precopy != precopy[rec.device_end.dev])
				ok = false;
			ended++;
			break;
		case VFM_STREAM_END:
			if (rec.end.n_devices != NDEV ||
			    rec.end.total != got_len[0] + got_len[1] + got_len[2])
				ok = false;
			break;
		}
	}
	tap_eq(t, 0, "a 3-device stream of %zu bytes reads to its end: %s", s.len,
	       vfm_stream_reader_error(r));
	tap_eq(records, 1 + 9 + 3 + 1, "HEADER, 9 DATA, 3 DEVICE_END, END");
	tap_ok(ok && ended == NDEV, "offsets and totals as sent");
	for (int d = 0; d < NDEV; d++)
		tap_ok(got_len[d] == sent.len[d] && precopy[d] == sent.precopy[d] &&
			       (sent.len[d] == 0 ||
				memcmp(got[d], sent.data[d], sent.len[d]) == 0),
		       "device %d: %zu bytes (%zu precopy) arrive intact", d, got_len[d],
		       precopy[d]);
	tap_eq(vfm_stream_reader_finish(r), 0, "nothing follows END");
	vfm_stream_reader_free(r);
	for (int d = 0; d < NDEV; d++) {
		free(got[d]);
		free(sent.data[d]);
	}
	sb_free(&s);

	/* the largest chunk passes; one byte more does not */
	{
		uint8_t *chunk = xmalloc(VFM_STREAM_CHUNK_MAX);
		struct outcome o;
		size_t at;

		memset(chunk, 0x5a, VFM_STREAM_CHUNK_MAX);
		start(&s, 1, 0);
		sb_rec(&s, r_data(0, 2, 0, chunk, VFM_STREAM_CHUNK_MAX));
		sb_rec(&s, r_dend(0, VFM_STREAM_CHUNK_MAX, 0));
		sb_rec(&s, r_end(1, VFM_STREAM_CHUNK_MAX));
		o = run(TO_DST, 0, s.d, s.len);
		tap_ok(o.ret == 0 && o.records == 4,
		       "a DATA record of 16 MiB is read: %s", o.reason);
		sb_free(&s);

		start(&s, 1, 0);
		at = sb_rec(&s, r_data(0, 2, 0, chunk, 1));
		put32(s.d + at + 4, VFM_STREAM_DATA_MAX + 1);
		expect("DATA of 16 MiB + 17 bytes (no payload follows)", &s, -EMSGSIZE,
		       "DATA record: length 16777233 above the limit 16777232");
		sb_free(&s);
		free(chunk);
	}
}

/* ------------------------------------------------------------------------- */
/* rejections                                                                */

static void test_preamble(void)
{
	struct sb s = {0};

	sb_add(&s, "PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00", 16);
	expect("a zip file", &s, -ENOMSG,
	       "not a vfiomig stream: it starts with 50 4b 03 04");
	sb_free(&s);

	/* a text-mode transfer turned CR-LF into LF */
	sb_add(&s, "\x89VFM\n\x1a\n\x01\x00\x00\x00\x00\x00\x00\x00\x00", 16);
	expect("a magic damaged by a text-mode transfer", &s, -ENOMSG,
	       "not a vfiomig stream");
	sb_free(&s);

	sb_add(&s, "\x89VFM", 4);
	expect("a cut magic", &s, -EPROTO, "truncated stream: 4 of the 16 bytes");
	sb_free(&s);

	sb_add(&s, "\x89VFX", 4);
	expect("4 wrong bytes", &s, -ENOMSG, "not a vfiomig stream");
	sb_free(&s);

	expect("an empty stream", &s, -EPROTO, "truncated stream: it is empty");

	sb_preamble(&s);
	put32(s.d + 8, 3);
	expect("version 3", &s, -EPROTONOSUPPORT,
	       "stream version 3, this vfiomig reads 2");
	put32(s.d + 8, 1);
	expect("version 1 (no commit)", &s, -EPROTONOSUPPORT,
	       "stream version 1, this vfiomig reads 2");
	put32(s.d + 8, 0);
	expect("version 0", &s, -EPROTONOSUPPORT, "stream version 0");
	put32(s.d + 8, 2);
	put32(s.d + 12, 0x80000000);
	expect("preamble flags", &s, -EPROTO, "preamble flags 0x80000000: unknown bits");
	put32(s.d + 12, 0);
	expect("a preamble alone", &s, -EPROTO, "ends before its HEADER");
	sb_free(&s);

	/* the reverse direction starts with the preamble too */
	sb_add(&s, "\x81\x00\x00\x00", 4);
	expect_dir("a reverse stream without preamble", TO_SRC, 2, &s, -ENOMSG,
		   "not a vfiomig stream");
	sb_free(&s);
}

static void test_framing(void)
{
	struct sb s = {0};
	size_t at;
	uint8_t zeros[VFM_STREAM_HEADER_MAX + 256] = {0};
	static const struct {
		uint16_t type;
		uint32_t max;
		const char *name;
	} limits[] = {
		{VFM_STREAM_HEADER, VFM_STREAM_HEADER_MAX, "HEADER"},
		{VFM_STREAM_DATA, VFM_STREAM_DATA_MAX, "DATA"},
		{VFM_STREAM_DEVICE_END, 24, "DEVICE_END"},
		{VFM_STREAM_END, 16, "END"},
		{VFM_STREAM_ABORT, 1024, "ABORT"},
		{VFM_STREAM_COMPAT, VFM_STREAM_COMPAT_MAX, "COMPAT"},
		{VFM_STREAM_VERDICT, 1024, "VERDICT"},
	};

	/* unknown types; types of the other direction */
	static const uint16_t unknown[] = {0, 11, 128, 132, 0xffff};
	for (size_t i = 0; i < ELEMENTSOF(unknown); i++) {
		char what[64];

		sb_preamble(&s);
		sb_raw(&s, unknown[i], 0, zeros, 16);
		snprintf(what, sizeof(what), "record type %u", unknown[i]);
		expect(what, &s, -EPROTO, "is unknown");
		expect_dir(what, TO_SRC, 1, &s, -EPROTO, "is unknown");
		sb_free(&s);
	}
	sb_preamble(&s);
	sb_raw(&s, VFM_STREAM_VERDICT, 0, zeros, 16);
	expect("VERDICT from the source", &s, -EPROTO,
	       "VERDICT record in the source-to-destination stream");
	sb_free(&s);
	sb_preamble(&s);
	sb_raw(&s, VFM_STREAM_HEADER, 0, zeros, 16 + 256);
	expect_dir("HEADER from the destination", TO_SRC, 1, &s, -EPROTO,
		   "HEADER record in the destination-to-source stream");
	sb_free(&s);

	/* record flags */
	start(&s, 1, 0);
	at = sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	put16(s.d + at + 2, 1);
	fix_crc(&s, at);
	expect("DATA with record flags 1", &s, -EPROTO,
	       "DATA record: flags 0x0001, expected 0");
	sb_free(&s);

	/* length limits, checked before the payload is read */
	for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
		uint8_t h[8];
		char what[64];
		bool fwd = limits[i].type < 128;

		sb_preamble(&s);
		if (fwd && limits[i].type != VFM_STREAM_HEADER)
			sb_rec(&s, r_header((std_header(&hdr, 1, 0), &hdr)));
		put16(h, limits[i].type);
		put16(h + 2, 0);
		put32(h + 4, limits[i].max + 1);
		sb_add(&s, h, 8);
		snprintf(what, sizeof(what), "%s of %u bytes", limits[i].name,
			 limits[i].max + 1);
		expect_dir(what, fwd ? TO_DST : TO_SRC, fwd ? 0 : 1, &s, -EMSGSIZE,
			   "above the limit");
		put32(s.d + s.len - 4, 0xffffffff);
		expect_dir("length 0xffffffff", fwd ? TO_DST : TO_SRC, fwd ? 0 : 1, &s,
			   -EMSGSIZE, "above the limit");
		sb_free(&s);
	}

	/* lengths below a type's minimum, or of the wrong shape */
	start(&s, 1, 0);
	sb_raw(&s, VFM_STREAM_DATA, 0, zeros, 16);
	expect("DATA with no bytes", &s, -EPROTO,
	       "DATA record: length 16 below the minimum 17");
	sb_free(&s);
	start(&s, 1, 0);
	sb_raw(&s, VFM_STREAM_END, 0, zeros, 15);
	expect("END of 15 bytes", &s, -EPROTO,
	       "END record: length 15 below the minimum 16");
	sb_free(&s);
	start(&s, 1, 0);
	sb_raw(&s, VFM_STREAM_ABORT, 0, zeros, 8);
	expect("ABORT of 8 bytes (no NUL)", &s, -EPROTO, "ABORT record: length 8 below");
	sb_free(&s);
	sb_preamble(&s);
	sb_raw(&s, VFM_STREAM_HEADER, 0, zeros, 16 + 255);
	expect("HEADER of 16 + 255 bytes", &s, -EPROTO, "below the minimum 272");
	sb_free(&s);
	sb_preamble(&s);
	sb_raw(&s, VFM_STREAM_HEADER, 0, zeros, 16 + 300);
	expect("HEADER of 16 + 300 bytes", &s, -EPROTO, "is not 16 + N * 256");
	sb_free(&s);
	sb_preamble(&s);
	sb_raw(&s, VFM_STREAM_COMPAT, 0, zeros, 8 + 3 * 128);
	expect_dir("COMPAT of 3 entries for 2 devices", TO_SRC, 2, &s, -EPROTO,
		   "COMPAT record: length 392, expected 264 for 2 devices");
	sb_free(&s);

	/* CRC */
	start(&s, 1, 0);
	at = sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	s.d[at + 8 + 16 + 3] ^= 0x10;
	expect("a DATA byte changed", &s, -EBADMSG, "DATA record at byte 300: CRC32C");
	sb_free(&s);

	/* records before the HEADER, a second HEADER */
	sb_preamble(&s);
	sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	expect("DATA before the HEADER", &s, -EPROTO,
	       "DATA record before the HEADER record");
	sb_free(&s);
	sb_preamble(&s);
	sb_rec(&s, r_abort(EIO, "early"));
	expect("ABORT before the HEADER", &s, -EPROTO, "ABORT record before the HEADER");
	sb_free(&s);
	sb_preamble(&s);
	sb_rec(&s, r_end(1, 0));
	expect("END before the HEADER", &s, -EPROTO, "END record before the HEADER");
	sb_free(&s);
	start(&s, 1, 0);
	sb_rec(&s, r_header(&hdr));
	expect("a second HEADER", &s, -EPROTO, "second HEADER record");
	sb_free(&s);
}

static void test_header_fields(void)
{
	struct sb s = {0};
	size_t at;

#define HDR_CASE(what, stmt, err, needle)      \
	do {                                   \
		at = start(&s, 2, 0);          \
		stmt;                          \
		expect(what, &s, err, needle); \
		sb_free(&s);                   \
	} while (0)
	/* payload offsets: header fields, then descriptor i at 16 + 256 i */
#define DD(i, off) (16 + 256 * (i) + (off))
	HDR_CASE("device count 0", poke16(&s, at, 8, 0), -EPROTO,
		 "HEADER record: device count 0, expected 1 to 64");
	HDR_CASE("device count 65", poke16(&s, at, 8, 65), -EPROTO,
		 "HEADER record: device count 65, expected 1 to 64");
	HDR_CASE("device count 3 in a 2-device record", poke16(&s, at, 8, 3), -EPROTO,
		 "HEADER record: length 528, expected 784 for 3 devices");
	HDR_CASE("header flags 0x0008", poke16(&s, at, 10, 8), -EPROTO,
		 "HEADER record: flags 0x0008 hold unknown bits");
	HDR_CASE("header reserved field", poke32(&s, at, 12, 1), -EPROTO,
		 "HEADER record: reserved field not zero");
	HDR_CASE("migration flags 0x8", poke32(&s, at, DD(1, 0), 0xb), -EPROTO,
		 "HEADER record, device 1: migration flags 0x0000000b hold unknown bits");
	HDR_CASE("migration flags without STOP_COPY", poke32(&s, at, DD(0, 0), 6),
		 -EPROTO, "device 0: migration flags 0x00000006 lack STOP_COPY");
	HDR_CASE("vendor 0x10000", poke32(&s, at, DD(0, 4), 0x10000), -EPROTO,
		 "device 0: vendor ID 0x00010000 is neither -1 nor at most 0xffff");
	HDR_CASE("device ID -2", poke32(&s, at, DD(1, 8), 0xfffffffe), -EPROTO,
		 "device 1: device ID 0xfffffffe");
	HDR_CASE("subsystem vendor 0x10000", poke32(&s, at, DD(1, 12), 0x10000), -EPROTO,
		 "device 1: subsystem vendor ID");
	HDR_CASE("subsystem device 0x80000000", poke32(&s, at, DD(1, 16), 0x80000000),
		 -EPROTO, "device 1: subsystem device ID");
	HDR_CASE("revision 0x100", poke32(&s, at, DD(0, 20), 0x100), -EPROTO,
		 "device 0: revision 0x00000100 is neither -1 nor at most 0xff");
	HDR_CASE("kind 4", poke16(&s, at, DD(1, 32), 4), -EPROTO,
		 "HEADER record, device 1: kind 4 is unknown");
	HDR_CASE("descriptor reserved bytes", poke8(&s, at, DD(1, 39), 1), -EPROTO,
		 "HEADER record, device 1: reserved bytes not zero");
	HDR_CASE("a driver name of 64 bytes without NUL",
		 memset(s.d + at + 8 + DD(0, 40), 'a', 64);
		 fix_crc(&s, at), -EPROTO,
		 "HEADER record, device 0: driver name is not NUL-terminated");
	HDR_CASE("bytes after the driver name's NUL", poke8(&s, at, DD(0, 40 + 63), 'x'),
		 -EPROTO, "device 0: driver name has bytes after its NUL");
	HDR_CASE("an mdev type of 64 bytes without NUL",
		 memset(s.d + at + 8 + DD(1, 104), 'm', 64);
		 fix_crc(&s, at), -EPROTO, "device 1: mdev type is not NUL-terminated");
	HDR_CASE("a device name of 88 bytes without NUL",
		 memset(s.d + at + 8 + DD(1, 168), 'n', 88);
		 fix_crc(&s, at), -EPROTO, "device 1: device name is not NUL-terminated");
	HDR_CASE("a driver name with ESC", poke8(&s, at, DD(0, 41), 0x1b), -EPROTO,
		 "device 0: driver name is not printable UTF-8");
	HDR_CASE("a driver name with DEL", poke8(&s, at, DD(0, 41), 0x7f), -EPROTO,
		 "device 0: driver name is not printable UTF-8");
	HDR_CASE("a device name with a C1 control (U+009B)",
		 poke(&s, at, DD(1, 168), "\xc2\x9b", 2), -EPROTO,
		 "device 1: device name is not printable UTF-8");
	HDR_CASE("an overlong NUL in the mdev type",
		 poke(&s, at, DD(0, 104), "\xc0\x80", 2), -EPROTO,
		 "device 0: mdev type is not printable UTF-8");
	HDR_CASE("a surrogate in the mdev type",
		 poke(&s, at, DD(0, 104), "\xed\xa0\x80", 3), -EPROTO,
		 "device 0: mdev type is not printable UTF-8");
	HDR_CASE("a code point above U+10FFFF",
		 poke(&s, at, DD(0, 168), "\xf4\x90\x80\x80", 4), -EPROTO,
		 "device 0: device name is not printable UTF-8");
	HDR_CASE("a lone continuation byte", poke8(&s, at, DD(0, 168), 0x80), -EPROTO,
		 "device 0: device name is not printable UTF-8");
	HDR_CASE("a cut UTF-8 sequence", poke(&s, at, DD(0, 168), "ab\xe2\x82", 4),
		 -EPROTO, "device 0: device name is not printable UTF-8");
#undef HDR_CASE
#undef DD

	/* 64 devices: the largest HEADER */
	start(&s, 64, 0);
	{
		struct outcome o = run(TO_DST, 0, s.d, s.len);

		tap_ok(o.ret == -EPROTO && o.records == 1 &&
			       strstr(o.reason, "before its END"),
		       "a HEADER of 64 devices (%zu bytes) is read", s.len);
	}
	sb_free(&s);
}

static void test_data_rules(void)
{
	struct sb s = {0};
	size_t at;

	/* the brief's example: device 3 has 8192 bytes, a chunk claims offset 4096 */
	start(&s, 4, 0);
	sb_rec(&s, r_data(3, 2, 0, pattern, 8192));
	sb_rec(&s, r_data(3, 2, 4096, pattern, 10));
	expect("an offset behind", &s, -EPROTO,
	       "DATA record for device 3: offset 4096, expected 8192");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_data(1, 2, 0, pattern, 100));
	sb_rec(&s, r_data(1, 2, 101, pattern, 10));
	expect("an offset gap", &s, -EPROTO,
	       "DATA record for device 1: offset 101, expected 100");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_data(0, 2, 5, pattern, 10));
	expect("a first chunk at offset 5", &s, -EPROTO,
	       "DATA record for device 0: offset 5, expected 0");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_data(2, 2, 0, pattern, 10));
	expect("device index 2 of 2", &s, -EPROTO,
	       "DATA record: device index 2, the stream has 2");
	sb_free(&s);

	start(&s, 2, 0);
	at = sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	poke16(&s, at, 0, 0xffff);
	expect("device index 65535", &s, -EPROTO, "device index 65535");
	sb_free(&s);

	start(&s, 2, 0);
	at = sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	poke8(&s, at, 2, 0);
	expect("phase 0", &s, -EPROTO, "DATA record for device 0: phase 0, expected 1");
	poke8(&s, at, 2, 3);
	expect("phase 3", &s, -EPROTO, "phase 3");
	poke8(&s, at, 2, 2);
	poke8(&s, at, 7, 1);
	expect("DATA reserved bytes", &s, -EPROTO,
	       "DATA record for device 0: reserved bytes");
	sb_free(&s);

	start(&s, 2, VFM_STREAM_F_PRECOPY);
	sb_rec(&s, r_data(0, 1, 0, pattern, 10));
	sb_rec(&s, r_data(0, 2, 10, pattern, 10));
	sb_rec(&s, r_data(0, 1, 20, pattern, 10));
	expect("precopy after stop-copy", &s, -EPROTO,
	       "DATA record for device 0: precopy after stop-copy");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_data(0, 1, 0, pattern, 10));
	expect("precopy the HEADER does not announce", &s, -EPROTO,
	       "DATA record for device 0: precopy, but the HEADER announces none");
	sb_free(&s);

	start(&s, 2, VFM_STREAM_F_PRECOPY); /* device 1 lacks PRE_COPY */
	sb_rec(&s, r_data(1, 1, 0, pattern, 10));
	expect("precopy of a device without PRE_COPY", &s, -EPROTO,
	       "DATA record for device 1: precopy, but the device lacks PRE_COPY");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_data(1, 2, 0, pattern, 10));
	sb_rec(&s, r_dend(1, 10, 0));
	sb_rec(&s, r_data(1, 2, 10, pattern, 10));
	expect("DATA after DEVICE_END", &s, -EPROTO,
	       "DATA record for device 1 after its DEVICE_END");
	sb_free(&s);

	/* DEVICE_END */
	start(&s, 2, 0);
	sb_rec(&s, r_data(1, 2, 0, pattern, 10));
	sb_rec(&s, r_dend(1, 11, 0));
	expect("DEVICE_END total", &s, -EPROTO,
	       "DEVICE_END record for device 1: total 11 bytes, received 10");
	sb_free(&s);

	start(&s, 2, VFM_STREAM_F_PRECOPY);
	sb_rec(&s, r_data(0, 1, 0, pattern, 10));
	sb_rec(&s, r_data(0, 2, 10, pattern, 5));
	sb_rec(&s, r_dend(0, 15, 5));
	expect("DEVICE_END precopy", &s, -EPROTO,
	       "DEVICE_END record for device 0: precopy 5 bytes, received 10");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_dend(1, 0, 0));
	sb_rec(&s, r_dend(1, 0, 0));
	expect("a second DEVICE_END", &s, -EPROTO,
	       "DEVICE_END record for device 1: the device ended");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_dend(2, 0, 0));
	expect("DEVICE_END of device 2 of 2", &s, -EPROTO,
	       "DEVICE_END record: device index 2, the stream has 2");
	sb_free(&s);

	start(&s, 2, 0);
	at = sb_rec(&s, r_dend(1, 0, 0));
	poke8(&s, at, 5, 1);
	expect("DEVICE_END reserved bytes", &s, -EPROTO,
	       "DEVICE_END record for device 1: reserved bytes not zero");
	sb_free(&s);

	/* END */
	start(&s, 3, 0);
	sb_rec(&s, r_dend(0, 0, 0));
	sb_rec(&s, r_dend(2, 0, 0));
	sb_rec(&s, r_end(3, 0));
	expect("END before every device ended", &s, -EPROTO,
	       "END record before the DEVICE_END of device 1");
	sb_free(&s);

	start(&s, 2, 0);
	sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	sb_rec(&s, r_data(1, 2, 0, pattern, 20));
	sb_rec(&s, r_dend(0, 10, 0));
	sb_rec(&s, r_dend(1, 20, 0));
	at = sb_rec(&s, r_end(2, 31));
	expect("END total", &s, -EPROTO,
	       "END record: total 31 bytes, the devices sent 30");
	poke64(&s, at, 8, 30);
	poke16(&s, at, 0, 3);
	expect("END device count", &s, -EPROTO,
	       "END record: device count 3, the HEADER has 2");
	poke16(&s, at, 0, 2);
	poke8(&s, at, 2, 1);
	expect("END reserved bytes", &s, -EPROTO, "END record: reserved bytes not zero");
	poke8(&s, at, 2, 0);
	{
		struct outcome o = run(TO_DST, 0, s.d, s.len);

		tap_ok(o.ret == 0 && o.records == 6,
		       "and repaired, it is read to its end");
	}
	sb_add(&s, "", 1);
	expect("a byte after END", &s, -EPROTO,
	       "bytes follow the final END record, at byte");
	sb_rec(&s, r_end(2, 30));
	expect("a second END", &s, -EPROTO, "bytes follow the final END record");
	sb_free(&s);

	/* the stream ends between records, before END */
	start(&s, 2, 0);
	sb_rec(&s, r_data(0, 2, 0, pattern, 10));
	expect("a stream without END", &s, -EPROTO,
	       "truncated stream: it ends after byte");
	sb_free(&s);

	/* ABORT */
	start(&s, 1, 0);
	at = sb_rec(&s, r_abort(EIO, "reason"));
	poke32(&s, at, 0, 0);
	expect("ABORT errno 0", &s, -EPROTO, "ABORT record: errno 0, expected 1 to 4095");
	poke32(&s, at, 0, 4096);
	expect("ABORT errno 4096", &s, -EPROTO, "ABORT record: errno 4096");
	poke32(&s, at, 0, EIO);
	poke32(&s, at, 4, 1);
	expect("ABORT reserved field", &s, -EPROTO,
	       "ABORT record: reserved field not zero");
	poke32(&s, at, 4, 0);
	poke8(&s, at, 8 + 6, 'x');
	expect("an ABORT reason without NUL", &s, -EPROTO,
	       "ABORT record: reason is not NUL-terminated");
	poke8(&s, at, 8 + 6, 0);
	poke8(&s, at, 8 + 2, 0);
	expect("an ABORT reason with a NUL inside", &s, -EPROTO,
	       "ABORT record: reason has a NUL before its end");
	poke8(&s, at, 8 + 2, '\n');
	expect("an ABORT reason with a newline", &s, -EPROTO,
	       "ABORT record: reason is not printable UTF-8");
	poke8(&s, at, 8 + 2, 'a');
	sb_add(&s, "x", 1);
	expect("a byte after ABORT", &s, -EPROTO, "bytes follow the final ABORT record");
	sb_free(&s);

	/* the largest ABORT */
	{
		char reason[VFM_STREAM_REASON_MAX + 1];

		memset(reason, 'r', sizeof(reason) - 1);
		reason[sizeof(reason) - 1] = '\0';
		start(&s, 1, 0);
		at = sb_rec(&s, r_abort(EIO, reason));
		tap_eq(get32(s.d + at + 4), 1024,
		       "an ABORT with a 1015-byte reason is 1024 bytes");
		struct outcome o = run(TO_DST, 0, s.d, s.len);

		tap_ok(o.ret == 0 && o.records == 2, "and is read");
		sb_free(&s);
	}
}

/* VF_CONFIG: announced per device in the HEADER, at most once, before its data. */
static struct vfm_record r_vfc(uint16_t dev, uint32_t len)
{
	return (struct vfm_record){.type = VFM_STREAM_VF_CONFIG,
				   .vf_config = {dev, pattern, len}};
}

static void test_vf_config(void)
{
	struct vfm_stream_reader *r = NULL;
	struct vfm_stream_mem mem;
	struct vfm_record rec;
	struct sb s = {0};
	uint8_t buf[512];
	size_t at;
	int t;

	for (size_t i = 0; i < 64; i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	tap_eq(vfm_stream_encode(&(struct vfm_record){r_vfc(0, 39).type,
						      .vf_config = {0, pattern, 39}},
				 buf, sizeof(buf)),
	       -EINVAL, "encoding a 39-byte VF config: -EINVAL");
	tap_eq(vfm_stream_encode(&(struct vfm_record){VFM_STREAM_VF_CONFIG,
						      .vf_config = {0, pattern, 257}},
				 buf, sizeof(buf)),
	       -EINVAL, "encoding a 257-byte VF config: -EINVAL");
	tap_eq(vfm_stream_encode(&(struct vfm_record){VFM_STREAM_VF_CONFIG,
						      .vf_config = {64, pattern, 40}},
				 buf, sizeof(buf)),
	       -EINVAL, "encoding a VF config for device 64: -EINVAL");

	/* a good one round-trips */
	std_header(&hdr, 2, 0);
	hdr.dev[1].dev_flags = VFM_STREAM_DEV_VF_CONFIG;
	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	sb_rec(&s, r_vfc(1, 40));
	sb_rec(&s, r_data(1, 2, 0, pattern, 10));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(VFM_STREAM_TO_DESTINATION, 0, vfm_stream_mem_read, &mem, &r);
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_HEADER && rec.header->dev[1].dev_flags == VFM_STREAM_DEV_VF_CONFIG &&
		       rec.header->dev[0].dev_flags == 0,
	       "the HEADER carries the per-device VF config flag");
	t = vfm_stream_read(r, &rec);
	tap_ok(t == VFM_STREAM_VF_CONFIG && rec.vf_config.dev == 1 && rec.vf_config.len == 40 &&
		       memcmp(rec.vf_config.bytes, pattern, 40) == 0,
	       "a VF_CONFIG record round-trips");
	tap_eq(vfm_stream_read(r, &rec), VFM_STREAM_DATA, "DATA may follow it");
	r = vfm_stream_reader_free(r);
	sb_free(&s);

	/* the rules */
	std_header(&hdr, 2, 0);
	hdr.dev[1].dev_flags = VFM_STREAM_DEV_VF_CONFIG;
	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	sb_rec(&s, r_vfc(0, 40));
	expect("a VF_CONFIG the HEADER does not announce", &s, -EPROTO,
	       "VF_CONFIG record for device 0, which the HEADER does not announce");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	sb_rec(&s, r_vfc(1, 40));
	sb_rec(&s, r_vfc(1, 40));
	expect("a second VF_CONFIG", &s, -EPROTO, "second VF_CONFIG record for device 1");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	sb_rec(&s, r_data(1, 2, 0, pattern, 10));
	sb_rec(&s, r_vfc(1, 40));
	expect("a VF_CONFIG after the device's data", &s, -EPROTO,
	       "VF_CONFIG record for device 1 after its migration data");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	at = sb_rec(&s, r_vfc(1, 40));
	poke16(&s, at, 0, 2);
	expect("a VF_CONFIG for device 2 of 2", &s, -EPROTO,
	       "VF_CONFIG record: device index 2, the stream has 2");
	poke16(&s, at, 0, 1);
	poke16(&s, at, 2, 1);
	expect("VF_CONFIG reserved bytes", &s, -EPROTO,
	       "VF_CONFIG record for device 1: reserved bytes not zero");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	sb_rec(&s, r_vfc(1, 256));
	sb_rec(&s, r_data(1, 2, 0, pattern, 10));
	mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
	vfm_stream_reader_new(VFM_STREAM_TO_DESTINATION, 0, vfm_stream_mem_read, &mem, &r);
	vfm_stream_read(r, &rec);
	tap_eq(vfm_stream_read(r, &rec), VFM_STREAM_VF_CONFIG, "a 256-byte VF config is read");
	r = vfm_stream_reader_free(r);
	sb_free(&s);

	std_header(&hdr, 1, 0);
	hdr.dev[0].dev_flags = 0x02;
	tap_eq(vfm_stream_encode(&(struct vfm_record){VFM_STREAM_HEADER, .header = &hdr}, buf,
				 sizeof(buf)) > 0 ? 0 : -EINVAL,
	       0, "the encoder writes device flags as given (the reader judges them)");
	sb_preamble(&s);
	sb_rec(&s, r_header(&hdr));
	expect("unknown device flags", &s, -EPROTO,
	       "HEADER record, device 0: device flags 0x02 hold unknown bits");
	sb_free(&s);
}

static void test_reverse_rules(void)
{
	struct vfm_stream_compat c;
	struct sb s = {0};
	size_t at;

	std_compat(&c, 2);
	sb_preamble(&s);
	at = sb_rec(&s, r_compat(&c));
	poke16(&s, at, 0, 3);
	expect_dir("COMPAT device count 3 for 2", TO_SRC, 2, &s, -EPROTO,
		   "COMPAT record: device count 3, the HEADER has 2");
	poke16(&s, at, 0, 2);
	poke8(&s, at, 7, 1);
	expect_dir("COMPAT reserved bytes", TO_SRC, 2, &s, -EPROTO,
		   "COMPAT record: reserved bytes not zero");
	poke8(&s, at, 7, 0);
	poke32(&s, at, 8 + 128, 9);
	expect_dir("COMPAT code 9", TO_SRC, 2, &s, -EPROTO,
		   "COMPAT record, device 1: code 9 is unknown");
	poke32(&s, at, 8 + 128, 0);
	memset(s.d + at + 8 + 8 + 4, 'r', 124);
	fix_crc(&s, at);
	expect_dir("a COMPAT reason without NUL", TO_SRC, 2, &s, -EPROTO,
		   "COMPAT record, device 0: reason is not NUL-terminated");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_compat(&c));
	expect_dir("a second COMPAT", TO_SRC, 2, &s, -EPROTO, "second COMPAT record");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_verdict(0, VFM_STREAM_NO_DEVICE, "ok"));
	expect_dir("success without COMPAT", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: success without COMPAT");
	sb_free(&s);

	c.dev[1].code = VFM_COMPAT_FLAGS;
	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_verdict(0, VFM_STREAM_NO_DEVICE, "ok"));
	expect_dir("success after a refusal", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: success, but COMPAT refused device 1");
	sb_free(&s);
	c.dev[1].code = 0;

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	at = sb_rec(&s, r_verdict(EIO, 1, "load failed"));
	poke16(&s, at, 4, 2);
	expect_dir("VERDICT device 2 of 2", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: device index 2, the stream has 2");
	poke16(&s, at, 4, 1);
	poke32(&s, at, 0, 4096);
	expect_dir("VERDICT status 4096", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: status 4096, expected 0 to 4095");
	poke32(&s, at, 0, 0);
	expect_dir("success naming a device", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: success, but device 1 failed");
	poke32(&s, at, 0, EIO);
	poke16(&s, at, 6, 1);
	expect_dir("VERDICT reserved field", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: reserved field not zero");
	poke16(&s, at, 6, 0);
	poke8(&s, at, 8 + 4, 0);
	expect_dir("a VERDICT reason with a NUL inside", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: reason has a NUL before its end");
	poke8(&s, at, 8 + 4, ' ');
	sb_add(&s, "\x82", 1);
	expect_dir("a byte after VERDICT", TO_SRC, 2, &s, -EPROTO,
		   "bytes follow the final VERDICT record");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	expect_dir("a reverse stream without VERDICT", TO_SRC, 2, &s, -EPROTO,
		   "ends without a VERDICT record");
	sb_free(&s);
}

/* The commit: COMMIT after END with F_COMMIT; READY between COMPAT and VERDICT. */
static void test_commit_rules(void)
{
	struct vfm_stream_compat c;
	struct sb s = {0};
	size_t at;
	struct outcome o;

	start(&s, 1, VFM_STREAM_F_COMMIT);
	sb_rec(&s, r_dend(0, 0, 0));
	sb_rec(&s, r_end(1, 0));
	o = run(TO_DST, 0, s.d, s.len);
	tap_ok(o.ret == -EPROTO && strstr(o.reason, "after END, without COMMIT or ABORT"),
	       "F_COMMIT: a stream that ends after END is truncated: %s", o.reason);
	at = sb_rec(&s, r_commit(STD_ID));
	o = run(TO_DST, 0, s.d, s.len);
	tap_ok(o.ret == 0 && o.records == 4, "F_COMMIT: END then COMMIT is whole: %s",
	       o.reason);
	poke8(&s, at, 0, 0xee);
	expect("COMMIT of another stream", &s, -EPROTO,
	       "COMMIT record: stream id 0123456789abcdee, expected 0123456789abcdef");
	poke8(&s, at, 0, 0xef);
	poke8(&s, at, 9, 1);
	expect("COMMIT reserved bytes", &s, -EPROTO, "COMMIT record: reserved bytes not zero");
	poke8(&s, at, 9, 0);
	sb_rec(&s, r_commit(STD_ID));
	expect("a second COMMIT", &s, -EPROTO, "bytes follow the final COMMIT record");
	sb_free(&s);

	start(&s, 1, VFM_STREAM_F_COMMIT);
	sb_rec(&s, r_dend(0, 0, 0));
	sb_rec(&s, r_end(1, 0));
	sb_rec(&s, r_abort(ETIMEDOUT, "no READY"));
	o = run(TO_DST, 0, s.d, s.len);
	tap_ok(o.ret == 0 && o.records == 4, "F_COMMIT: ABORT after END ends it: %s",
	       o.reason);
	sb_free(&s);

	start(&s, 1, VFM_STREAM_F_COMMIT);
	sb_rec(&s, r_dend(0, 0, 0));
	sb_rec(&s, r_commit(STD_ID));
	expect("COMMIT before END", &s, -EPROTO, "COMMIT record before END");
	sb_free(&s);

	start(&s, 1, VFM_STREAM_F_COMMIT);
	sb_rec(&s, r_dend(0, 0, 0));
	sb_rec(&s, r_end(1, 0));
	sb_rec(&s, r_data(0, 2, 0, "late", 4));
	expect("DATA after END", &s, -EPROTO, "DATA record after END");
	sb_free(&s);

	start(&s, 1, 0);
	sb_rec(&s, r_dend(0, 0, 0));
	sb_rec(&s, r_end(1, 0));
	sb_rec(&s, r_commit(STD_ID));
	expect("COMMIT in a one-way stream", &s, -EPROTO,
	       "bytes follow the final END record");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_commit(STD_ID));
	expect("COMMIT first", &s, -EPROTO, "COMMIT record before the HEADER record");
	expect_dir("COMMIT from the destination", TO_SRC, 1, &s, -EPROTO,
		   "COMMIT record in the destination-to-source stream");
	sb_free(&s);

	/* READY */
	std_compat(&c, 2);
	sb_preamble(&s);
	sb_rec(&s, r_ready(STD_ID));
	expect_dir("READY before COMPAT", TO_SRC, 2, &s, -EPROTO, "READY record before COMPAT");
	expect("READY from the source", &s, -EPROTO,
	       "READY record in the source-to-destination stream");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_ready(STD_ID));
	sb_rec(&s, r_ready(STD_ID));
	expect_dir("READY twice", TO_SRC, 2, &s, -EPROTO, "READY record twice");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_ready(STD_ID + 1));
	expect_dir("READY of another stream", TO_SRC, 2, &s, -EPROTO,
		   "READY record: stream id 0123456789abcdf0, expected 0123456789abcdef");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_verdict(0, VFM_STREAM_NO_DEVICE, "ran"));
	expect_dir("success without READY", TO_SRC, 2, &s, -EPROTO,
		   "VERDICT record: success without READY");
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_ready(STD_ID));
	sb_rec(&s, r_verdict(EIO, 1, "RUNNING_P2P failed"));
	o = run(TO_SRC, 2, s.d, s.len);
	tap_ok(o.ret == 0 && o.records == 3, "a failure VERDICT after READY: %s", o.reason);
	sb_free(&s);

	c.dev[1].code = VFM_COMPAT_FLAGS;
	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_ready(STD_ID));
	expect_dir("READY after a refusal", TO_SRC, 2, &s, -EPROTO,
		   "READY record, but COMPAT refused device 1");
	sb_free(&s);

	/* a reader told no stream id refuses READY */
	{
		struct vfm_stream_mem mem;
		struct vfm_stream_reader *r;
		struct vfm_record rec;

		c.dev[1].code = 0;
		sb_preamble(&s);
		sb_rec(&s, r_compat(&c));
		sb_rec(&s, r_ready(0));
		mem = (struct vfm_stream_mem){.data = s.d, .size = s.len};
		vfm_stream_reader_new(TO_SRC, 2, vfm_stream_mem_read, &mem, &r);
		tap_ok(vfm_stream_read(r, &rec) == VFM_STREAM_COMPAT &&
			       vfm_stream_read(r, &rec) == -EPROTO &&
			       strstr(vfm_stream_reader_error(r), "no stream id"),
		       "READY without a stream id to check: %s", vfm_stream_reader_error(r));
		vfm_stream_reader_free(r);
		sb_free(&s);
	}
}

/* ------------------------------------------------------------------------- */
/* the reader's interface                                                    */

struct failing {
	struct vfm_stream_mem mem;
	size_t fail_at; /* fail the read that would pass this offset */
	int calls;
};

static ssize_t failing_read(void *userdata, void *buf, size_t len)
{
	struct failing *f = userdata;

	f->calls++;
	if (f->mem.pos + len > f->fail_at)
		return -ECONNRESET;
	return vfm_stream_mem_read(&f->mem, buf, len);
}

static ssize_t lying_read(void *userdata, void *buf, size_t len)
{
	return (ssize_t)len + 1;
}

static void test_reader_api(void)
{
	struct vfm_stream_reader *r = NULL;
	struct vfm_record rec = {.type = 77};
	struct failing f;
	struct sb s = {0};
	char reason[256];
	int calls;

	tap_eq(vfm_stream_reader_new(TO_DST, 1, vfm_stream_mem_read, NULL, &r), -EINVAL,
	       "reader_new: a device count for the source's stream");
	tap_eq(vfm_stream_reader_new(TO_SRC, 0, vfm_stream_mem_read, NULL, &r), -EINVAL,
	       "reader_new: no device count for the destination's stream");
	tap_eq(vfm_stream_reader_new(TO_SRC, 65, vfm_stream_mem_read, NULL, &r), -EINVAL,
	       "reader_new: 65 devices");
	tap_eq(vfm_stream_reader_new(TO_DST, 0, NULL, NULL, &r), -EINVAL,
	       "reader_new: no read function");
	tap_eq(vfm_stream_reader_new(7, 0, vfm_stream_mem_read, NULL, &r), -EINVAL,
	       "reader_new: direction 7");
	tap_ok(r == NULL, "ret_reader untouched on failure");
	tap_ok(vfm_stream_reader_free(NULL) == NULL, "vfm_stream_reader_free(NULL)");

	/* a read error is passed on, and sticks */
	start(&s, 1, 0);
	sb_rec(&s, r_data(0, 2, 0, pattern, 100));
	f = (struct failing){.mem = {.data = s.d, .size = s.len}, .fail_at = s.len - 10};
	vfm_stream_reader_new(TO_DST, 0, failing_read, &f, &r);
	tap_eq(vfm_stream_read(r, &rec), VFM_STREAM_HEADER, "HEADER read");
	rec.type = 77;
	tap_eq(vfm_stream_read(r, &rec), -ECONNRESET,
	       "the callback's -ECONNRESET comes back");
	tap_ok(strstr(vfm_stream_reader_error(r), "reading the stream at byte") &&
		       strstr(vfm_stream_reader_error(r), "Connection reset by peer"),
	       "reason: \"%s\"", vfm_stream_reader_error(r));
	tap_ok(rec.type == 77, "ret_rec untouched on failure");
	snprintf(reason, sizeof(reason), "%s", vfm_stream_reader_error(r));
	calls = f.calls;
	tap_ok(vfm_stream_read(r, &rec) == -ECONNRESET && f.calls == calls &&
		       streq(reason, vfm_stream_reader_error(r)),
	       "the error sticks, without reading again");
	tap_eq(vfm_stream_reader_finish(r), -ECONNRESET, "finish() reports it too");
	tap_eq(vfm_stream_reader_position(r), 16 + 12 + 16 + 256,
	       "position: the start of the record that failed");
	vfm_stream_reader_free(r);

	vfm_stream_reader_new(TO_DST, 0, lying_read, NULL, &r);
	tap_eq(vfm_stream_read(r, &rec), -EIO, "a callback returning too much: -EIO (%s)",
	       vfm_stream_reader_error(r));
	vfm_stream_reader_free(r);

	/* finish() before the final record */
	f = (struct failing){.mem = {.data = s.d, .size = s.len}, .fail_at = SIZE_MAX};
	vfm_stream_reader_new(TO_DST, 0, failing_read, &f, &r);
	vfm_stream_read(r, &rec);
	tap_eq(vfm_stream_reader_finish(r), -EPROTO, "finish() before END: %s",
	       vfm_stream_reader_error(r));
	vfm_stream_reader_free(r);
	sb_free(&s);

	/* the memory adapter */
	{
		uint8_t b[8];
		struct vfm_stream_mem m = {.data = (const uint8_t *)"abcdef", .size = 6};

		tap_ok(vfm_stream_mem_read(&m, b, 4) == 4 && memcmp(b, "abcd", 4) == 0 &&
			       vfm_stream_mem_read(&m, b, 4) == 2 &&
			       memcmp(b, "ef", 2) == 0 &&
			       vfm_stream_mem_read(&m, b, 4) == 0,
		       "memory adapter: full, short, then 0 reads");
	}
}

/* ------------------------------------------------------------------------- */
/* damage: every byte flipped, every cut                                      */

/* A small forward stream, and where its records start. */
static void small_forward(struct sb *s, size_t *starts, size_t *n_starts)
{
	size_t n = 0;

	starts[n++] = start(s, 2, VFM_STREAM_F_PRECOPY);
	starts[n++] = sb_rec(s, r_data(0, 1, 0, "pre", 3));
	starts[n++] = sb_rec(s, r_data(1, 2, 0, "stop1", 5));
	starts[n++] = sb_rec(s, r_data(0, 2, 3, "stop0", 5));
	starts[n++] = sb_rec(s, r_dend(0, 8, 3));
	starts[n++] = sb_rec(s, r_dend(1, 5, 0));
	starts[n++] = sb_rec(s, r_end(2, 13));
	*n_starts = n;
}

/* The same with F_COMMIT: END, then COMMIT. */
static void small_commit(struct sb *s, size_t *starts, size_t *n_starts)
{
	size_t n = 0;

	starts[n++] = start(s, 2, VFM_STREAM_F_PRECOPY | VFM_STREAM_F_COMMIT);
	starts[n++] = sb_rec(s, r_data(0, 1, 0, "pre", 3));
	starts[n++] = sb_rec(s, r_data(1, 2, 0, "stop1", 5));
	starts[n++] = sb_rec(s, r_data(0, 2, 3, "stop0", 5));
	starts[n++] = sb_rec(s, r_dend(0, 8, 3));
	starts[n++] = sb_rec(s, r_dend(1, 5, 0));
	starts[n++] = sb_rec(s, r_end(2, 13));
	starts[n++] = sb_rec(s, r_commit(STD_ID));
	*n_starts = n;
}

static void small_reverse(struct sb *s, size_t *starts, size_t *n_starts)
{
	struct vfm_stream_compat c;
	size_t n = 0;

	std_compat(&c, 2);
	sb_preamble(s);
	starts[n++] = sb_rec(s, r_compat(&c));
	starts[n++] = sb_rec(s, r_ready(STD_ID));
	starts[n++] = sb_rec(s, r_verdict(0, 0xffff, "ok"));
	*n_starts = n;
}

static void damage(const char *what, enum vfm_stream_dir dir, unsigned ndev,
		   void (*build)(struct sb *, size_t *, size_t *))
{
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	struct sb s = {0};
	size_t starts[16], n_starts, accepted = 0, leaked = 0, cut_ok = 0, cut_bad = 0;
	size_t by_err[5] = {0};
	struct outcome o;

	build(&s, starts, &n_starts);
	o = run(dir, ndev, s.d, s.len);
	tap_ok(o.ret == 0 && o.records == (int)n_starts,
	       "%s stream (%zu bytes, %zu records) "
	       "is valid: %s",
	       what, s.len, n_starts, o.reason);

	for (size_t i = 0; i < s.len; i++)
		for (size_t m = 0; m < ELEMENTSOF(masks); m++) {
			size_t rec = 0; /* records entirely before byte i */

			while (rec < n_starts && starts[rec] <= i)
				rec++;
			rec = rec ? rec - 1 : 0;
			s.d[i] ^= masks[m];
			o = run(dir, ndev, s.d, s.len);
			s.d[i] ^= masks[m];
			if (o.ret == 0) {
				if (accepted++ < 3)
					tap_diag("  flip 0x%02x at %zu accepted",
						 masks[m], i);
			}
			/* the damaged record itself never comes out */
			if (o.records > (int)rec && leaked++ < 3)
				tap_diag(
					"  flip at %zu (record %zu): %d records returned",
					i, rec, o.records);
			switch (o.ret) {
			case -ENOMSG: by_err[0]++; break;
			case -EPROTONOSUPPORT: by_err[1]++; break;
			case -EBADMSG: by_err[2]++; break;
			case -EMSGSIZE: by_err[3]++; break;
			default: by_err[4]++; break;
			}
		}
	tap_ok(accepted == 0, "%s: each of %zu bytes flipped 3 ways is rejected", what,
	       s.len);
	tap_ok(leaked == 0, "%s: no damaged record is ever returned", what);
	tap_diag("  flips: %zu wrong magic, %zu version, %zu CRC, %zu length, %zu other",
		 by_err[0], by_err[1], by_err[2], by_err[3], by_err[4]);

	for (size_t len = 0; len < s.len; len++) {
		o = run(dir, ndev, s.d, len);
		if (o.ret == -EPROTO && strstr(o.reason, "truncated stream"))
			cut_ok++;
		else if (cut_bad++ < 3)
			tap_diag("  cut at %zu: %s \"%s\"", len, errname(o.ret),
				 o.reason);
	}
	tap_eq(cut_ok, s.len,
	       "%s: cut at each of %zu offsets: -EPROTO \"truncated "
	       "stream\"",
	       what, s.len);
	sb_free(&s);
}


/* ------------------------------------------------------------------------- */
/* data connections (HEADER F_STREAMS)                                        */

static const uint8_t TOKEN[VFM_STREAM_TOKEN_SIZE] = "0123456789abcde";

static struct vfm_record r_streams(uint16_t count, const uint8_t *token)
{
	return (struct vfm_record){.type = VFM_STREAM_STREAMS, .streams = {count, token}};
}

static struct vfm_record r_join(uint64_t id, uint16_t index, uint16_t count,
				const uint8_t *token)
{
	return (struct vfm_record){.type = VFM_STREAM_JOIN,
				   .join = {id, index, count, token}};
}

static struct vfm_record r_done(uint64_t bytes, uint64_t records)
{
	return (struct vfm_record){.type = VFM_STREAM_DONE, .done = {bytes, records}};
}

static void sb_preamble_data(struct sb *s)
{
	uint8_t p[VFM_STREAM_PREAMBLE_SIZE];

	vfm_stream_encode_preamble_data(p);
	sb_add(s, p, sizeof(p));
}

/* A data connection of the 2-device F_STREAMS header: JOIN as connection 1 of 2. */
static void data_conn(struct sb *s, const uint8_t *token)
{
	sb_preamble_data(s);
	sb_rec(s, r_join(STD_ID, 1, 2, token));
}

/* Read a data connection whose JOIN is checked against the standard header. */
static struct outcome run_data(const uint8_t *d, size_t len)
{
	struct vfm_stream_mem mem = {.data = d, .size = len};
	struct vfm_stream_reader *r;
	struct outcome o = {0};
	struct vfm_record rec;
	struct vfm_stream_header h;
	int ret;

	std_header(&h, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	if (vfm_stream_reader_new(VFM_STREAM_DATA_CONNECTION, 0, vfm_stream_mem_read, &mem,
				  &r) < 0)
		abort();
	vfm_stream_reader_set_join(r, &h, 2, TOKEN);
	while ((ret = vfm_stream_read(r, &rec)) > 0)
		o.records++;
	o.ret = ret;
	snprintf(o.reason, sizeof(o.reason), "%s", vfm_stream_reader_error(r));
	vfm_stream_reader_free(r);
	return o;
}

static void expect_data(const char *what, struct sb *s, int want, const char *reason)
{
	struct outcome o = run_data(s->d, s->len);

	tap_ok(o.ret == want && (!reason || strstr(o.reason, reason)),
	       "data connection, %s: %s \"%s\"", what, errname(o.ret), o.reason);
	sb_free(s);
}

static void expect_ctl(const char *what, struct sb *s, int want, const char *reason)
{
	struct outcome o = run(VFM_STREAM_TO_DESTINATION, 0, s->d, s->len);

	tap_ok(o.ret == want && (!reason || strstr(o.reason, reason)),
	       "control connection, %s: %s \"%s\"", what, errname(o.ret), o.reason);
	sb_free(s);
}

static void test_data_connections(void)
{
	struct sb s = {0};
	uint8_t bad[VFM_STREAM_TOKEN_SIZE];

	memcpy(bad, TOKEN, sizeof(bad));
	bad[15] ^= 1;

	/* a whole data connection: chunks of both devices, with gaps (the other
	 * connection carries what is between), then DONE */
	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	sb_rec(&s, r_data(0, 2, 4096, pattern, 40));
	sb_rec(&s, r_data(1, 2, 100, pattern, 8));
	sb_rec(&s, r_done(88, 3));
	{
		struct outcome o = run_data(s.d, s.len);

		tap_ok(o.ret == 0 && o.records == 5,
		       "data connection: JOIN, DATA with gaps, DONE read whole (%d records)",
		       o.records);
	}
	sb_add(&s, "", 1);
	expect_data("a byte after DONE", &s, -EPROTO, "bytes follow the final DONE");

	data_conn(&s, bad);
	expect_data("JOIN with another token", &s, -EACCES, "wrong token");
	sb_preamble_data(&s);
	sb_rec(&s, r_join(STD_ID + 1, 0, 2, TOKEN));
	expect_data("JOIN of another stream id", &s, -EPROTO, "this migration's is");
	sb_preamble_data(&s);
	sb_rec(&s, r_join(STD_ID, 0, 3, TOKEN));
	expect_data("JOIN with another count", &s, -EPROTO, "STREAMS said 2");
	{
		uint8_t j[VFM_STREAM_JOIN_SIZE] = {0};

		for (int i = 0; i < 8; i++)
			j[i] = (uint8_t)(STD_ID >> (8 * i));
		j[8] = 2; /* index 2 */
		j[10] = 2; /* of 2 */
		memcpy(j + 16, TOKEN, VFM_STREAM_TOKEN_SIZE);
		sb_preamble_data(&s);
		sb_raw(&s, VFM_STREAM_JOIN, 0, j, sizeof(j));
		expect_data("JOIN with its index past the count", &s, -EPROTO,
			    "connection 2 of 2");
	}
	sb_preamble_data(&s);
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	expect_data("DATA before JOIN", &s, -EPROTO, "before the JOIN record");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_join(STD_ID, 1, 2, TOKEN));
	expect_data("a second JOIN", &s, -EPROTO, "second JOIN record");
	sb_preamble(&s);
	sb_rec(&s, r_join(STD_ID, 1, 2, TOKEN));
	expect_data("a stream's preamble", &s, -EPROTO, "not a data connection");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(0, 2, 4096, pattern, 40));
	sb_rec(&s, r_data(0, 2, 4100, pattern, 40));
	expect_data("a device's chunk before the end of its last", &s, -EPROTO,
		    "before the end of its last chunk on this connection");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(2, 2, 0, pattern, 40));
	expect_data("DATA of device 2 of 2", &s, -EPROTO, "device index 2");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	sb_rec(&s, r_data(0, 1, 40, pattern, 40));
	expect_data("precopy after stop-copy", &s, -EPROTO, "precopy after stop-copy");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	sb_rec(&s, r_done(41, 1));
	expect_data("DONE with other counts", &s, -EPROTO, "the connection carried 40 in 1");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	expect_data("ending before DONE", &s, -EPROTO,
		    "truncated data connection: it ends after byte");
	data_conn(&s, TOKEN);
	sb_rec(&s, r_end(2, 0));
	expect_data("END on a data connection", &s, -EPROTO, "END record in the data-connection");

	/* the control connection of a stream with data connections */
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_streams(2, TOKEN));
	sb_rec(&s, r_dend(0, 4136, 0));
	sb_rec(&s, r_dend(1, 8, 0));
	sb_rec(&s, r_end(2, 4144));
	sb_rec(&s, r_commit(STD_ID));
	{
		struct outcome o = run(VFM_STREAM_TO_DESTINATION, 0, s.d, s.len);

		tap_ok(o.ret == 0 && o.records == 6,
		       "control connection: HEADER, STREAMS, DEVICE_ENDs of data it never saw, "
		       "END, COMMIT (%s, %d records)", errname(o.ret), o.records);
	}
	sb_free(&s);
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_dend(0, 0, 0));
	expect_ctl("no STREAMS after the HEADER", &s, -EPROTO, "STREAMS record the HEADER");
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_streams(2, TOKEN));
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	expect_ctl("DATA on it", &s, -EPROTO, "DATA record on the control connection");
	start(&s, 2, VFM_STREAM_F_COMMIT);
	sb_rec(&s, r_streams(2, TOKEN));
	expect_ctl("STREAMS without the HEADER's flag", &s, -EPROTO,
		   "announces no data connections");
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_streams(2, TOKEN));
	sb_rec(&s, r_streams(2, TOKEN));
	expect_ctl("STREAMS twice", &s, -EPROTO, "STREAMS record twice");
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_streams(2, TOKEN));
	{
		uint8_t de[VFM_STREAM_DEVICE_END_SIZE] = {0};

		de[8] = 8;   /* total 8 */
		de[16] = 16; /* precopy 16 */
		sb_raw(&s, VFM_STREAM_DEVICE_END, 0, de, sizeof(de));
	}
	expect_ctl("DEVICE_END with more precopy than total", &s, -EPROTO, "precopy 16 bytes of 8");
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_raw(&s, VFM_STREAM_STREAMS, 0, "\x11\0\0\0\0\0\0\0" "0123456789abcdef" "\0\0\0\0\0\0\0\0", 32);
	expect_ctl("STREAMS of 17 connections", &s, -EPROTO, "17 data connections, expected 1 to 16");
	sb_preamble_data(&s);
	expect_ctl("a data connection's preamble", &s, -EPROTO,
		   "where the stream itself was expected");
	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_streams(2, TOKEN));
	sb_rec(&s, r_join(STD_ID, 0, 2, TOKEN));
	expect_ctl("JOIN on it", &s, -EPROTO, "JOIN record in the source-to-destination");
	{
		struct vfm_record bad_rec[] = { r_streams(0, TOKEN), r_streams(17, TOKEN),
						r_streams(2, NULL), r_join(1, 2, 2, TOKEN),
						r_join(1, 0, 0, TOKEN), r_join(1, 0, 2, NULL) };
		uint8_t buf[64];
		bool all = true;

		for (size_t i = 0; i < ELEMENTSOF(bad_rec); i++)
			all &= vfm_stream_encode(&bad_rec[i], buf, sizeof(buf)) == -EINVAL;
		tap_ok(all, "encoding STREAMS of 0 or 17 or no token, JOIN past its count or "
			    "without a token: -EINVAL");
	}
}

/* ------------------------------------------------------------------------- */
/* seed corpus for tests/fuzz                                                */

static int write_file(const char *dir, const char *name, const struct sb *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fwrite(s->d, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "Failed to write %s: %m\n", path);
		return -1;
	}
	return 0;
}

static int write_corpus(const char *dir)
{
	struct vfm_stream_compat c;
	size_t starts[16], n;
	struct sb s = {0};
	int ret = 0;

	small_forward(&s, starts, &n);
	ret |= write_file(dir, "valid-2dev", &s);
	sb_add(&s, "\0", 1);
	ret |= write_file(dir, "trailing-after-end", &s);
	s.len = starts[5] + 3;
	ret |= write_file(dir, "truncated", &s);
	s.d[starts[2] + 12] ^= 0x40;
	s.len = starts[6];
	ret |= write_file(dir, "bad-crc", &s);
	sb_free(&s);

	small_reverse(&s, starts, &n);
	ret |= write_file(dir, "valid-reverse", &s);
	sb_free(&s);

	sb_preamble(&s);
	sb_rec(&s, r_verdict(ENODEV, 1, "cannot open 0000:3b:00.1"));
	ret |= write_file(dir, "reverse-early-verdict", &s);
	sb_free(&s);

	std_compat(&c, 2);
	c.dev[0].code = VFM_COMPAT_MDEV_TYPE;
	snprintf(c.dev[0].reason, sizeof(c.dev[0].reason),
		 "mdev type mtty-2, here mtty-1");
	sb_preamble(&s);
	sb_rec(&s, r_compat(&c));
	sb_rec(&s, r_verdict(EOPNOTSUPP, 0, "incompatible"));
	ret |= write_file(dir, "reverse-refused", &s);
	sb_free(&s);

	start(&s, 3, VFM_STREAM_F_PRECOPY);
	sb_rec(&s, r_data(2, 1, 0, pattern, 40));
	sb_rec(&s, r_abort(EINTR, "cancelled by the operator"));
	ret |= write_file(dir, "abort", &s);
	sb_free(&s);

	start(&s, 4, 0);
	sb_rec(&s, r_data(3, 2, 0, pattern, 64));
	sb_rec(&s, r_data(3, 2, 32, pattern, 16));
	ret |= write_file(dir, "offset-gap", &s);
	sb_free(&s);

	small_commit(&s, starts, &n);
	ret |= write_file(dir, "valid-commit", &s);
	sb_free(&s);

	data_conn(&s, TOKEN);
	sb_rec(&s, r_data(0, 2, 0, pattern, 40));
	sb_rec(&s, r_data(1, 2, 64, pattern, 8));
	sb_rec(&s, r_done(48, 2));
	ret |= write_file(dir, "data-connection", &s);
	sb_free(&s);

	start(&s, 2, VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS);
	sb_rec(&s, r_streams(2, TOKEN));
	sb_rec(&s, r_dend(0, 40, 0));
	sb_rec(&s, r_dend(1, 72, 0));
	sb_rec(&s, r_end(2, 112));
	sb_rec(&s, r_commit(STD_ID));
	ret |= write_file(dir, "control-connection", &s);
	sb_free(&s);

	sb_add(&s, "\x89VFM\r\n\x1a\n\x03\x00\x00\x00\x00\x00\x00\x00", 16);
	ret |= write_file(dir, "version-3", &s);
	sb_free(&s);
	return ret ? 1 : 0;
}

int main(int argc, char *argv[])
{
	fill_random(pattern, sizeof(pattern));
	if (argc == 3 && streq(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);

	test_crc32c();
	test_encoders();
	test_text();
	test_round_trips();
	test_full_stream();
	test_preamble();
	test_framing();
	test_header_fields();
	test_data_rules();
	test_vf_config();
	test_reverse_rules();
	test_commit_rules();
	test_reader_api();
	test_data_connections();
	damage("forward", TO_DST, 0, small_forward);
	damage("reverse", TO_SRC, 2, small_reverse);
	damage("committing forward", TO_DST, 0, small_commit);
	return tap_done();
}
