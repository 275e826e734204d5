// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The migration stream codec (vfiomig-stream(5), version 1).
 *
 * No packed structs: every field is read and written at its byte offset with the
 * little-endian helpers below, and the offsets are checked against the record sizes
 * at compile time.  The reader checks, in this order: the record header (known type,
 * right direction, flags 0, length within the type's bounds), then reads the payload
 * and the CRC, then checks the CRC, and only then looks at the payload.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "macro.h"
#include "stream.h"

/* ------------------------------------------------------------------------- */
/* layout                                                                    */

enum {
	PRE_MAGIC = 0,
	PRE_VERSION = 8,
	PRE_FLAGS = 12,
	PRE_SIZE = 16,

	REC_TYPE = 0,
	REC_FLAGS = 2,
	REC_LENGTH = 4,
	REC_SIZE = 8,

	HDR_STREAM_ID = 0,
	HDR_N_DEVICES = 8,
	HDR_FLAGS = 10,
	HDR_RESERVED = 12,
	HDR_DEVDESC = 16,

	DD_MIG_FLAGS = 0,
	DD_VENDOR = 4,
	DD_DEVICE = 8,
	DD_SUBVENDOR = 12,
	DD_SUBDEVICE = 16,
	DD_REVISION = 20,
	DD_DATA_SIZE = 24,
	DD_KIND = 32,
	DD_DEVFLAGS = 34,
	DD_RESERVED = 35,
	DD_DRIVER = 40,
	DD_MDEV_TYPE = 104,
	DD_NAME = 168,
	DD_SIZE = 256,

	DATA_DEV = 0,
	DATA_PHASE = 2,
	DATA_RESERVED = 3,
	DATA_OFFSET = 8,
	DATA_BYTES = 16,

	DEND_DEV = 0,
	DEND_RESERVED = 2,
	DEND_TOTAL = 8,
	DEND_PRECOPY = 16,
	DEND_SIZE = 24,

	END_N_DEVICES = 0,
	END_RESERVED = 2,
	END_TOTAL = 8,
	END_SIZE = 16,

	COMMIT_STREAM_ID = 0, /* COMMIT and READY */
	COMMIT_RESERVED = 8,
	COMMIT_SIZE = 16,

	ABORT_ERRNO = 0,
	ABORT_RESERVED = 4,
	ABORT_REASON = 8,

	COMPAT_N_DEVICES = 0,
	COMPAT_RESERVED = 2,
	COMPAT_ENTRIES = 8,
	CE_CODE = 0,
	CE_REASON = 4,
	CE_SIZE = 128,

	STREAMS_COUNT = 0,
	STREAMS_RESERVED = 2,
	STREAMS_TOKEN = 8,
	STREAMS_RESERVED2 = 24,
	STREAMS_SIZE = 32,

	JOIN_STREAM_ID = 0,
	JOIN_INDEX = 8,
	JOIN_COUNT = 10,
	JOIN_RESERVED = 12,
	JOIN_TOKEN = 16,
	JOIN_SIZE = 32,

	DONE_BYTES = 0,
	DONE_RECORDS = 8,
	DONE_SIZE = 16,

	VERDICT_STATUS = 0,
	VERDICT_DEV = 4,
	VERDICT_RESERVED = 6,
	VERDICT_REASON = 8,
};

assert_cc(PRE_SIZE == VFM_STREAM_PREAMBLE_SIZE);
assert_cc(sizeof(VFM_STREAM_MAGIC) - 1 == VFM_STREAM_MAGIC_SIZE);
assert_cc(PRE_VERSION == PRE_MAGIC + VFM_STREAM_MAGIC_SIZE && PRE_FLAGS + 4 == PRE_SIZE);
assert_cc(REC_LENGTH + 4 == REC_SIZE && REC_SIZE == VFM_STREAM_RECORD_HEADER_SIZE);
assert_cc(VFM_STREAM_RECORD_OVERHEAD == REC_SIZE + VFM_STREAM_CRC_SIZE);
assert_cc(HDR_RESERVED + 4 == HDR_DEVDESC);
assert_cc(HDR_DEVDESC + VFM_STREAM_MAX_DEVICES * DD_SIZE == VFM_STREAM_HEADER_MAX);
assert_cc(DD_REVISION + 4 == DD_DATA_SIZE && DD_DATA_SIZE + 8 == DD_KIND);
assert_cc(DD_KIND + 2 == DD_DEVFLAGS && DD_DEVFLAGS + 1 == DD_RESERVED &&
	  DD_RESERVED + 5 == DD_DRIVER);
assert_cc(DD_DRIVER + VFM_STREAM_DRIVER_SIZE == DD_MDEV_TYPE);
assert_cc(DD_MDEV_TYPE + VFM_STREAM_MDEV_TYPE_SIZE == DD_NAME);
assert_cc(DD_NAME + VFM_STREAM_NAME_SIZE == DD_SIZE &&
	  DD_SIZE == VFM_STREAM_DEVDESC_SIZE);
assert_cc(DATA_RESERVED + 5 == DATA_OFFSET && DATA_OFFSET + 8 == DATA_BYTES);
assert_cc(DATA_BYTES == VFM_STREAM_DATA_SUBHEADER);
assert_cc(REC_SIZE + DATA_BYTES == VFM_STREAM_DATA_PREFIX_SIZE);
assert_cc(DEND_RESERVED + 6 == DEND_TOTAL && DEND_PRECOPY + 8 == DEND_SIZE);
assert_cc(DEND_SIZE == VFM_STREAM_DEVICE_END_SIZE);
assert_cc(END_RESERVED + 6 == END_TOTAL && END_TOTAL + 8 == END_SIZE);
assert_cc(END_SIZE == VFM_STREAM_END_SIZE);
assert_cc(COMMIT_RESERVED + 8 == COMMIT_SIZE && COMMIT_SIZE == VFM_STREAM_COMMIT_SIZE);
assert_cc(ABORT_RESERVED + 4 == ABORT_REASON && VERDICT_RESERVED + 2 == VERDICT_REASON);
assert_cc(VFM_STREAM_REASON_MAX == VFM_STREAM_MSG_MAX - ABORT_REASON - 1);
assert_cc(COMPAT_RESERVED + 6 == COMPAT_ENTRIES && CE_SIZE == VFM_STREAM_COMPAT_ENTRY);
assert_cc(CE_REASON + VFM_STREAM_COMPAT_REASON_SIZE == CE_SIZE);
assert_cc(COMPAT_ENTRIES + VFM_STREAM_MAX_DEVICES * CE_SIZE == VFM_STREAM_COMPAT_MAX);
assert_cc(VFM_STREAM_DATA_RECORD_MAX < INT32_MAX);
assert_cc(STREAMS_SIZE == VFM_STREAM_STREAMS_SIZE && STREAMS_TOKEN + 16 == STREAMS_RESERVED2);
assert_cc(JOIN_SIZE == VFM_STREAM_JOIN_SIZE && JOIN_TOKEN + 16 == JOIN_SIZE);
assert_cc(DONE_SIZE == VFM_STREAM_DONE_SIZE && VFM_STREAM_TOKEN_SIZE == 16);

/* The decoded strings hold exactly their wire fields. */
assert_cc(sizeof(((struct vfm_stream_devdesc *)0)->driver) == VFM_STREAM_DRIVER_SIZE);
assert_cc(sizeof(((struct vfm_stream_devdesc *)0)->mdev_type) ==
	  VFM_STREAM_MDEV_TYPE_SIZE);
assert_cc(sizeof(((struct vfm_stream_devdesc *)0)->name) == VFM_STREAM_NAME_SIZE);
assert_cc(sizeof(((struct vfm_stream_compat *)0)->dev[0].reason) ==
	  VFM_STREAM_COMPAT_REASON_SIZE);

#define MIG_FLAGS_KNOWN \
	(VFM_STREAM_MIG_STOP_COPY | VFM_STREAM_MIG_P2P | VFM_STREAM_MIG_PRE_COPY)
#define HEADER_FLAGS_KNOWN \
	(VFM_STREAM_F_PRECOPY | VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS)

/* Bounds of each type's payload length, and its direction. */
struct type_info {
	uint16_t type;
	const char *name;
	enum vfm_stream_dir dir;
	uint32_t min, max;
};

static const struct type_info type_table[] = {
	{VFM_STREAM_HEADER, "HEADER", VFM_STREAM_TO_DESTINATION, HDR_DEVDESC + DD_SIZE,
	 VFM_STREAM_HEADER_MAX},
	{VFM_STREAM_DATA, "DATA", VFM_STREAM_TO_DESTINATION, DATA_BYTES + 1,
	 VFM_STREAM_DATA_MAX},
	{VFM_STREAM_DEVICE_END, "DEVICE_END", VFM_STREAM_TO_DESTINATION, DEND_SIZE,
	 DEND_SIZE},
	{VFM_STREAM_END, "END", VFM_STREAM_TO_DESTINATION, END_SIZE, END_SIZE},
	{VFM_STREAM_ABORT, "ABORT", VFM_STREAM_TO_DESTINATION, ABORT_REASON + 1,
	 VFM_STREAM_MSG_MAX},
	{VFM_STREAM_VF_CONFIG, "VF_CONFIG", VFM_STREAM_TO_DESTINATION,
	 VFM_STREAM_VF_CONFIG_HDR + VFM_STREAM_VF_CONFIG_MIN,
	 VFM_STREAM_VF_CONFIG_HDR + VFM_STREAM_VF_CONFIG_MAX},
	{VFM_STREAM_COMMIT, "COMMIT", VFM_STREAM_TO_DESTINATION, COMMIT_SIZE, COMMIT_SIZE},
	{VFM_STREAM_STREAMS, "STREAMS", VFM_STREAM_TO_DESTINATION, STREAMS_SIZE,
	 STREAMS_SIZE},
	{VFM_STREAM_JOIN, "JOIN", VFM_STREAM_DATA_CONNECTION, JOIN_SIZE, JOIN_SIZE},
	{VFM_STREAM_DONE, "DONE", VFM_STREAM_DATA_CONNECTION, DONE_SIZE, DONE_SIZE},
	{VFM_STREAM_COMPAT, "COMPAT", VFM_STREAM_TO_SOURCE, COMPAT_ENTRIES + CE_SIZE,
	 VFM_STREAM_COMPAT_MAX},
	{VFM_STREAM_VERDICT, "VERDICT", VFM_STREAM_TO_SOURCE, VERDICT_REASON + 1,
	 VFM_STREAM_MSG_MAX},
	{VFM_STREAM_READY, "READY", VFM_STREAM_TO_SOURCE, COMMIT_SIZE, COMMIT_SIZE},
};

static const struct type_info *type_info(uint16_t type)
{
	for (size_t i = 0; i < ELEMENTSOF(type_table); i++)
		if (type_table[i].type == type)
			return &type_table[i];
	return NULL;
}

const char *vfm_stream_type_name(uint16_t type)
{
	const struct type_info *ti = type_info(type);

	return ti ? ti->name : NULL;
}

/* ------------------------------------------------------------------------- */
/* little-endian fields                                                      */

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* ------------------------------------------------------------------------- */
/* text                                                                      */

/*
 * Every string in the stream ends up in a message on somebody's terminal or log, so
 * the format admits printable UTF-8 only: well-formed (no overlong forms, no
 * surrogates, nothing above U+10FFFF) and free of control characters (C0, DEL, C1),
 * bidirectional formatting characters and line or paragraph separators (a peer's
 * name or reason must not reorder or hide the rest of a message).
 * text_char() returns the length of the acceptable character at @s (@n bytes left),
 * or 0.
 */
static size_t text_char(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];

#define CONT(i) (n > (i) && (s[i] & 0xc0) == 0x80)
	if (c < 0x80)
		return c >= 0x20 && c != 0x7f;
	if (c >= 0xc2 && c <= 0xdf) {
		/* U+0080..U+009F are the C1 controls; U+061C (D8 9C) a bidi mark */
		if (!CONT(1) || (c == 0xc2 && s[1] < 0xa0) || (c == 0xd8 && s[1] == 0x9c))
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		/* E0 80..9F: overlong; ED A0..BF: surrogates */
		if (!CONT(1) || !CONT(2) || (c == 0xe0 && s[1] < 0xa0) ||
		    (c == 0xed && s[1] > 0x9f))
			return 0;
		/* text that reorders or breaks what a terminal shows around it: U+200E,
		 * U+200F and U+202A..U+202E (E2 80 8E/8F, AA..AE), the line and paragraph
		 * separators U+2028/U+2029 (E2 80 A8/A9), U+2066..U+2069 (E2 81 A6..A9) */
		if (c == 0xe2 && s[1] == 0x80 &&
		    (s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xa8 && s[2] <= 0xae)))
			return 0;
		if (c == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		/* F0 80..8F: overlong; F4 90..BF: above U+10FFFF */
		if (!CONT(1) || !CONT(2) || !CONT(3) || (c == 0xf0 && s[1] < 0x90) ||
		    (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
#undef CONT
}

static bool text_valid(const uint8_t *s, size_t n)
{
	while (n) {
		size_t k = text_char(s, n);

		if (!k)
			return false;
		s += k;
		n -= k;
	}
	return true;
}

bool vfm_stream_text_valid(const char *s, size_t n)
{
	return text_valid((const uint8_t *)s, n);
}

/*
 * Copy the @n bytes at @src to @dst (@size bytes, >= 1) as text the reader accepts:
 * a byte that starts no acceptable character becomes '?', and the copy stops at the
 * last whole character that fits before the NUL.  Returns the length copied.
 */
static size_t text_sanitize(char *dst, size_t size, const char *src, size_t n)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t o = 0;

	while (n) {
		size_t k = text_char(s, n);
		const uint8_t *c = s;
		size_t clen = k;

		if (!k) {
			c = (const uint8_t *)"?";
			clen = k = 1;
		}
		if (clen > size - 1 - o)
			break;
		memcpy(dst + o, c, clen);
		o += clen;
		s += k;
		n -= k;
	}
	dst[o] = '\0';
	return o;
}

/* Why a fixed-size NUL-terminated, NUL-padded wire field is invalid, or NULL. */
static const char *field_invalid(const uint8_t *f, size_t size)
{
	const uint8_t *nul = memchr(f, 0, size);

	if (!nul)
		return "is not NUL-terminated";
	if (!all_zero(nul, size - (size_t)(nul - f)))
		return "has bytes after its NUL";
	if (!text_valid(f, (size_t)(nul - f)))
		return "is not printable UTF-8";
	return NULL;
}

/* The same for a decoded or caller-filled char array. */
static const char *string_invalid(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		return "is not NUL-terminated";
	if (!text_valid((const uint8_t *)s, n))
		return "is not printable UTF-8";
	return NULL;
}

/* ------------------------------------------------------------------------- */
/* semantic checks shared by the encoders and the reader                     */

static bool id_valid(int32_t id, int32_t max)
{
	return id == VFM_STREAM_ID_UNKNOWN || (id >= 0 && id <= max);
}

/*
 * Whether descriptor @d holds values the format allows (its name aside: that is
 * message text).  On failure writes why to @why.
 */
static bool devdesc_valid(const struct vfm_stream_devdesc *d, char *why, size_t size)
{
	static const struct {
		const char *name;
		size_t off;
		int32_t max;
	} ids[] = {
		{"vendor ID", offsetof(struct vfm_stream_devdesc, vendor), 0xffff},
		{"device ID", offsetof(struct vfm_stream_devdesc, device), 0xffff},
		{"subsystem vendor ID",
		 offsetof(struct vfm_stream_devdesc, subsystem_vendor), 0xffff},
		{"subsystem device ID",
		 offsetof(struct vfm_stream_devdesc, subsystem_device), 0xffff},
		{"revision", offsetof(struct vfm_stream_devdesc, revision), 0xff},
	};
	const char *bad;

	if (d->mig_flags & ~MIG_FLAGS_KNOWN) {
		snprintf(why, size, "migration flags 0x%08x hold unknown bits",
			 d->mig_flags);
		return false;
	}
	if (!(d->mig_flags & VFM_STREAM_MIG_STOP_COPY)) {
		snprintf(why, size, "migration flags 0x%08x lack STOP_COPY",
			 d->mig_flags);
		return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
		int32_t v;

		memcpy(&v, (const char *)d + ids[i].off, sizeof(v));
		if (!id_valid(v, ids[i].max)) {
			snprintf(why, size, "%s 0x%08x is neither -1 nor at most 0x%x",
				 ids[i].name, (uint32_t)v, (unsigned)ids[i].max);
			return false;
		}
	}
	if (d->kind > VFM_STREAM_KIND_SIM) {
		snprintf(why, size, "kind %u is unknown", d->kind);
		return false;
	}
	bad = string_invalid(d->driver, sizeof(d->driver));
	if (bad) {
		snprintf(why, size, "driver name %s", bad);
		return false;
	}
	bad = string_invalid(d->mdev_type, sizeof(d->mdev_type));
	if (bad) {
		snprintf(why, size, "mdev type %s", bad);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------- */
/* encoding                                                                  */

void vfm_stream_encode_preamble(uint8_t out[VFM_STREAM_PREAMBLE_SIZE])
{
	memcpy(out + PRE_MAGIC, VFM_STREAM_MAGIC, VFM_STREAM_MAGIC_SIZE);
	put_le32(out + PRE_VERSION, VFM_STREAM_VERSION);
	put_le32(out + PRE_FLAGS, 0);
}

void vfm_stream_encode_preamble_data(uint8_t out[VFM_STREAM_PREAMBLE_SIZE])
{
	vfm_stream_encode_preamble(out);
	put_le32(out + PRE_FLAGS, VFM_STREAM_PRE_DATA_CONNECTION);
}

static void put_record_header(uint8_t *out, uint16_t type, uint32_t len)
{
	put_le16(out + REC_TYPE, type);
	put_le16(out + REC_FLAGS, 0);
	put_le32(out + REC_LENGTH, len);
}

/* Append the CRC to the record at @rec with a payload of @len bytes; returns its size. */
static ssize_t put_crc(uint8_t *rec, size_t len)
{
	put_le32(rec + REC_SIZE + len, vfm_crc32c(0, rec, REC_SIZE + len));
	return (ssize_t)(REC_SIZE + len + VFM_STREAM_CRC_SIZE);
}

static ssize_t encode_header(const struct vfm_stream_header *h, uint8_t *out, size_t size)
{
	char why[128];
	size_t len;
	uint8_t *p;

	if (!h || h->n_devices < 1 || h->n_devices > VFM_STREAM_MAX_DEVICES ||
	    (h->flags & ~HEADER_FLAGS_KNOWN))
		return -EINVAL;
	for (unsigned i = 0; i < h->n_devices; i++)
		if (!devdesc_valid(&h->dev[i], why, sizeof(why)))
			return -EINVAL;
	len = HDR_DEVDESC + (size_t)h->n_devices * DD_SIZE;
	if (size < len + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;

	put_record_header(out, VFM_STREAM_HEADER, (uint32_t)len);
	p = out + REC_SIZE;
	memset(p, 0, len);
	put_le64(p + HDR_STREAM_ID, h->stream_id);
	put_le16(p + HDR_N_DEVICES, h->n_devices);
	put_le16(p + HDR_FLAGS, h->flags);
	for (unsigned i = 0; i < h->n_devices; i++) {
		const struct vfm_stream_devdesc *d = &h->dev[i];
		uint8_t *q = p + HDR_DEVDESC + (size_t)i * DD_SIZE;

		put_le32(q + DD_MIG_FLAGS, d->mig_flags);
		put_le32(q + DD_VENDOR, (uint32_t)d->vendor);
		put_le32(q + DD_DEVICE, (uint32_t)d->device);
		put_le32(q + DD_SUBVENDOR, (uint32_t)d->subsystem_vendor);
		put_le32(q + DD_SUBDEVICE, (uint32_t)d->subsystem_device);
		put_le32(q + DD_REVISION, (uint32_t)d->revision);
		put_le64(q + DD_DATA_SIZE, d->data_size);
		put_le16(q + DD_KIND, d->kind);
		q[DD_DEVFLAGS] = d->dev_flags;
		memcpy(q + DD_DRIVER, d->driver, strlen(d->driver));
		memcpy(q + DD_MDEV_TYPE, d->mdev_type, strlen(d->mdev_type));
		text_sanitize((char *)q + DD_NAME, VFM_STREAM_NAME_SIZE, d->name,
			      strnlen(d->name, sizeof(d->name)));
	}
	return put_crc(out, len);
}

int vfm_stream_data_prefix(uint8_t out[VFM_STREAM_DATA_PREFIX_SIZE], uint16_t dev,
			   uint8_t phase, uint64_t offset, uint32_t len)
{
	uint8_t *p = out + REC_SIZE;

	if (dev >= VFM_STREAM_MAX_DEVICES ||
	    (phase != VFM_STREAM_PHASE_PRECOPY && phase != VFM_STREAM_PHASE_STOPCOPY) ||
	    len < 1 || len > VFM_STREAM_CHUNK_MAX || offset > UINT64_MAX - len)
		return -EINVAL;
	put_record_header(out, VFM_STREAM_DATA, DATA_BYTES + len);
	put_le16(p + DATA_DEV, dev);
	p[DATA_PHASE] = phase;
	memset(p + DATA_RESERVED, 0, DATA_OFFSET - DATA_RESERVED);
	put_le64(p + DATA_OFFSET, offset);
	return 0;
}

int vfm_stream_data_crc(const uint8_t prefix[VFM_STREAM_DATA_PREFIX_SIZE],
			const void *payload, size_t len,
			uint8_t trailer[VFM_STREAM_CRC_SIZE])
{
	uint32_t crc;

	if (get_le32(prefix + REC_LENGTH) != DATA_BYTES + len)
		return -EINVAL;
	crc = vfm_crc32c(0, prefix, VFM_STREAM_DATA_PREFIX_SIZE);
	put_le32(trailer, vfm_crc32c(crc, payload, len));
	return 0;
}

static ssize_t encode_data(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	size_t len = rec->data.len;
	int r;

	if (!rec->data.bytes)
		return -EINVAL;
	if (size < VFM_STREAM_DATA_PREFIX_SIZE + len + VFM_STREAM_CRC_SIZE) {
		/* -EINVAL before -ENOBUFS, whatever the buffer */
		uint8_t scratch[VFM_STREAM_DATA_PREFIX_SIZE];

		r = vfm_stream_data_prefix(scratch, rec->data.dev, rec->data.phase,
					   rec->data.offset, rec->data.len);
		return r < 0 ? r : -ENOBUFS;
	}
	r = vfm_stream_data_prefix(out, rec->data.dev, rec->data.phase, rec->data.offset,
				   rec->data.len);
	if (r < 0)
		return r;
	memcpy(out + VFM_STREAM_DATA_PREFIX_SIZE, rec->data.bytes, len);
	return put_crc(out, DATA_BYTES + len);
}

static ssize_t encode_vf_config(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;
	size_t len = VFM_STREAM_VF_CONFIG_HDR + rec->vf_config.len;

	if (rec->vf_config.dev >= VFM_STREAM_MAX_DEVICES || !rec->vf_config.bytes ||
	    rec->vf_config.len < VFM_STREAM_VF_CONFIG_MIN ||
	    rec->vf_config.len > VFM_STREAM_VF_CONFIG_MAX)
		return -EINVAL;
	if (size < len + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_VF_CONFIG, (uint32_t)len);
	put_le16(p, rec->vf_config.dev);
	put_le16(p + 2, 0);
	memcpy(p + VFM_STREAM_VF_CONFIG_HDR, rec->vf_config.bytes, rec->vf_config.len);
	return put_crc(out, len);
}

static ssize_t encode_device_end(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;

	if (rec->device_end.dev >= VFM_STREAM_MAX_DEVICES ||
	    rec->device_end.precopy > rec->device_end.total)
		return -EINVAL;
	if (size < DEND_SIZE + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_DEVICE_END, DEND_SIZE);
	memset(p, 0, DEND_SIZE);
	put_le16(p + DEND_DEV, rec->device_end.dev);
	put_le64(p + DEND_TOTAL, rec->device_end.total);
	put_le64(p + DEND_PRECOPY, rec->device_end.precopy);
	return put_crc(out, DEND_SIZE);
}

static ssize_t encode_end(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;

	if (rec->end.n_devices < 1 || rec->end.n_devices > VFM_STREAM_MAX_DEVICES)
		return -EINVAL;
	if (size < END_SIZE + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_END, END_SIZE);
	memset(p, 0, END_SIZE);
	put_le16(p + END_N_DEVICES, rec->end.n_devices);
	put_le64(p + END_TOTAL, rec->end.total);
	return put_crc(out, END_SIZE);
}

/* COMMIT and READY: the stream id, 8 reserved bytes. */
static ssize_t encode_commit(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;

	if (size < COMMIT_SIZE + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, (uint16_t)rec->type, COMMIT_SIZE);
	memset(p, 0, COMMIT_SIZE);
	put_le64(p + COMMIT_STREAM_ID, rec->commit.stream_id);
	return put_crc(out, COMMIT_SIZE);
}

static ssize_t encode_streams(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;

	if (rec->streams.count < 1 || rec->streams.count > VFM_STREAM_MAX_CONNECTIONS ||
	    !rec->streams.token)
		return -EINVAL;
	if (size < STREAMS_SIZE + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_STREAMS, STREAMS_SIZE);
	memset(p, 0, STREAMS_SIZE);
	put_le16(p + STREAMS_COUNT, rec->streams.count);
	memcpy(p + STREAMS_TOKEN, rec->streams.token, VFM_STREAM_TOKEN_SIZE);
	return put_crc(out, STREAMS_SIZE);
}

static ssize_t encode_join(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;

	if (rec->join.count < 1 || rec->join.count > VFM_STREAM_MAX_CONNECTIONS ||
	    rec->join.index >= rec->join.count || !rec->join.token)
		return -EINVAL;
	if (size < JOIN_SIZE + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_JOIN, JOIN_SIZE);
	memset(p, 0, JOIN_SIZE);
	put_le64(p + JOIN_STREAM_ID, rec->join.stream_id);
	put_le16(p + JOIN_INDEX, rec->join.index);
	put_le16(p + JOIN_COUNT, rec->join.count);
	memcpy(p + JOIN_TOKEN, rec->join.token, VFM_STREAM_TOKEN_SIZE);
	return put_crc(out, JOIN_SIZE);
}

static ssize_t encode_done(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t *p = out + REC_SIZE;

	if (size < DONE_SIZE + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_DONE, DONE_SIZE);
	put_le64(p + DONE_BYTES, rec->done.bytes);
	put_le64(p + DONE_RECORDS, rec->done.records);
	return put_crc(out, DONE_SIZE);
}

/* ABORT and VERDICT: 8 bytes of fields, then the reason and its NUL. */
static ssize_t encode_msg(uint16_t type, const uint8_t fields[8], const char *reason,
			  uint8_t *out, size_t size)
{
	char text[VFM_STREAM_REASON_MAX + 1];
	size_t n, len;

	n = text_sanitize(text, sizeof(text), reason ?: "", reason ? strlen(reason) : 0);
	len = ABORT_REASON + n + 1;
	if (size < len + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, type, (uint32_t)len);
	memcpy(out + REC_SIZE, fields, 8);
	memcpy(out + REC_SIZE + ABORT_REASON, text, n + 1);
	return put_crc(out, len);
}

static ssize_t encode_abort(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t f[8] = {0};

	if (rec->abort.error < 1 || rec->abort.error > VFM_STREAM_ERRNO_MAX)
		return -EINVAL;
	put_le32(f + ABORT_ERRNO, rec->abort.error);
	return encode_msg(VFM_STREAM_ABORT, f, rec->abort.reason, out, size);
}

static ssize_t encode_verdict(const struct vfm_record *rec, uint8_t *out, size_t size)
{
	uint8_t f[8] = {0};
	uint16_t dev = rec->verdict.dev;

	if (rec->verdict.status > VFM_STREAM_ERRNO_MAX ||
	    (dev != VFM_STREAM_NO_DEVICE && dev >= VFM_STREAM_MAX_DEVICES) ||
	    (rec->verdict.status == 0 && dev != VFM_STREAM_NO_DEVICE))
		return -EINVAL;
	put_le32(f + VERDICT_STATUS, rec->verdict.status);
	put_le16(f + VERDICT_DEV, dev);
	return encode_msg(VFM_STREAM_VERDICT, f, rec->verdict.reason, out, size);
}

static ssize_t encode_compat(const struct vfm_stream_compat *c, uint8_t *out, size_t size)
{
	size_t len;
	uint8_t *p = out + REC_SIZE;

	if (!c || c->n_devices < 1 || c->n_devices > VFM_STREAM_MAX_DEVICES)
		return -EINVAL;
	for (unsigned i = 0; i < c->n_devices; i++)
		if (c->dev[i].code > VFM_COMPAT_MAX)
			return -EINVAL;
	len = COMPAT_ENTRIES + (size_t)c->n_devices * CE_SIZE;
	if (size < len + VFM_STREAM_RECORD_OVERHEAD)
		return -ENOBUFS;
	put_record_header(out, VFM_STREAM_COMPAT, (uint32_t)len);
	memset(p, 0, len);
	put_le16(p + COMPAT_N_DEVICES, c->n_devices);
	for (unsigned i = 0; i < c->n_devices; i++) {
		uint8_t *q = p + COMPAT_ENTRIES + (size_t)i * CE_SIZE;

		put_le32(q + CE_CODE, c->dev[i].code);
		text_sanitize((char *)q + CE_REASON, VFM_STREAM_COMPAT_REASON_SIZE,
			      c->dev[i].reason,
			      strnlen(c->dev[i].reason, sizeof(c->dev[i].reason)));
	}
	return put_crc(out, len);
}

ssize_t vfm_stream_encode(const struct vfm_record *rec, void *buf, size_t size)
{
	if (!rec || !buf)
		return -EINVAL;
	switch (rec->type) {
	case VFM_STREAM_HEADER: return encode_header(rec->header, buf, size);
	case VFM_STREAM_DATA: return encode_data(rec, buf, size);
	case VFM_STREAM_DEVICE_END: return encode_device_end(rec, buf, size);
	case VFM_STREAM_END: return encode_end(rec, buf, size);
	case VFM_STREAM_ABORT: return encode_abort(rec, buf, size);
	case VFM_STREAM_VF_CONFIG: return encode_vf_config(rec, buf, size);
	case VFM_STREAM_COMPAT: return encode_compat(rec->compat, buf, size);
	case VFM_STREAM_VERDICT: return encode_verdict(rec, buf, size);
	case VFM_STREAM_COMMIT:
	case VFM_STREAM_READY: return encode_commit(rec, buf, size);
	case VFM_STREAM_STREAMS: return encode_streams(rec, buf, size);
	case VFM_STREAM_JOIN: return encode_join(rec, buf, size);
	case VFM_STREAM_DONE: return encode_done(rec, buf, size);
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------------- */
/* reader                                                                    */

enum reader_state {
	RS_PREAMBLE, /* nothing read yet */
	RS_FIRST,    /* preamble read: HEADER next (COMPAT or VERDICT the other way) */
	RS_BODY,     /* after the HEADER (after COMPAT the other way) */
	RS_ENDED,    /* F_COMMIT: END read, COMMIT or ABORT next (READY read, the other
			way: VERDICT next) */
	RS_DONE,     /* final record read: the stream must end */
	RS_EOF,	     /* and it did */
	RS_FAILED,
};

struct devstate {
	uint64_t received; /* bytes, both phases */
	uint64_t precopy;  /* of which precopy */
	bool stopcopy;	   /* a stop-copy chunk came */
	bool ended;	   /* DEVICE_END came */
	bool vf_config;	   /* its VF_CONFIG came */
};

struct vfm_stream_reader {
	enum vfm_stream_dir dir;
	vfm_stream_read_fn read_full;
	void *userdata;

	enum reader_state state;
	int error;
	char reason[256];
	uint64_t pos;	     /* bytes consumed */
	uint64_t record_pos; /* where the current record starts */
	uint16_t final_type;

	uint8_t *buf; /* payload of the current record */
	size_t cap;

	/* VFM_STREAM_TO_DESTINATION */
	struct vfm_stream_header header;
	struct devstate dev[VFM_STREAM_MAX_DEVICES];
	unsigned n_ended;
	uint64_t total; /* bytes of the ended devices */
	bool streams_due;  /* F_STREAMS: the STREAMS record comes next */
	bool streams_seen;
	uint8_t token[VFM_STREAM_TOKEN_SIZE]; /* STREAMS' (control), JOIN's (data) */

	/* VFM_STREAM_DATA_CONNECTION */
	bool join_set;
	uint16_t join_count;
	uint64_t conn_bytes, conn_records; /* its DATA so far, for DONE */

	/* VFM_STREAM_TO_SOURCE */
	unsigned n_expected;
	bool compat_seen;
	bool ready_seen;
	bool stream_id_set;
	uint64_t stream_id;  /* the HEADER's, for READY */
	int compat_refused; /* first refused device, or -1 */
	struct vfm_stream_compat compat;
};

int vfm_stream_reader_new(enum vfm_stream_dir dir, unsigned n_devices,
			  vfm_stream_read_fn read_full, void *userdata,
			  struct vfm_stream_reader **ret_reader)
{
	struct vfm_stream_reader *r;

	if (!read_full || !ret_reader)
		return -EINVAL;
	switch (dir) {
	case VFM_STREAM_TO_DESTINATION:
		if (n_devices != 0)
			return -EINVAL;
		break;
	case VFM_STREAM_TO_SOURCE:
		if (n_devices < 1 || n_devices > VFM_STREAM_MAX_DEVICES)
			return -EINVAL;
		break;
	case VFM_STREAM_DATA_CONNECTION:
		if (n_devices != 0)
			return -EINVAL;
		break;
	default: return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->dir = dir;
	r->read_full = read_full;
	r->userdata = userdata;
	r->n_expected = n_devices;
	r->compat_refused = -1;
	*ret_reader = r;
	return 0;
}

struct vfm_stream_reader *vfm_stream_reader_free(struct vfm_stream_reader *r)
{
	if (r) {
		free(r->buf);
		free(r);
	}
	return NULL;
}

uint8_t *vfm_stream_reader_swap_buf(struct vfm_stream_reader *r, uint8_t *spare,
				    size_t spare_cap, size_t *ret_cap)
{
	uint8_t *b = r->buf;

	*ret_cap = r->cap;
	r->buf = spare;
	r->cap = spare ? spare_cap : 0;
	return b;
}

void vfm_stream_reader_set_stream_id(struct vfm_stream_reader *r, uint64_t stream_id)
{
	r->stream_id = stream_id;
	r->stream_id_set = true;
}

void vfm_stream_reader_set_join(struct vfm_stream_reader *r,
				const struct vfm_stream_header *hdr, uint16_t count,
				const uint8_t token[VFM_STREAM_TOKEN_SIZE])
{
	r->header = *hdr;
	r->join_count = count;
	memcpy(r->token, token, VFM_STREAM_TOKEN_SIZE);
	r->join_set = true;
}

const char *vfm_stream_reader_error(const struct vfm_stream_reader *r)
{
	return r->state == RS_FAILED ? r->reason : "";
}

uint64_t vfm_stream_reader_position(const struct vfm_stream_reader *r)
{
	return r->record_pos;
}

const struct vfm_stream_header *
vfm_stream_reader_header(const struct vfm_stream_reader *r)
{
	return r->header.n_devices ? &r->header : NULL;
}

_printf_(3, 4) static int fail(struct vfm_stream_reader *r, int error, const char *fmt,
			       ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->error = error;
	r->state = RS_FAILED;
	return error;
}

/* Read up to @len bytes: the count (short only at the end of the stream) or -errno. */
static ssize_t pull(struct vfm_stream_reader *r, void *buf, size_t len)
{
	ssize_t n = r->read_full(r->userdata, buf, len);

	if (n < 0) {
		if (n < -4095)
			n = -EIO;
		errno = (int)-n;
		return fail(r, (int)n, "reading the stream at byte %llu: %m",
			    (unsigned long long)r->pos);
	}
	if ((size_t)n > len)
		return fail(r, -EIO, "the read callback returned %zd bytes for %zu", n,
			    len);
	r->pos += (size_t)n;
	return n;
}

static int read_preamble(struct vfm_stream_reader *r)
{
	uint8_t p[PRE_SIZE];
	uint32_t version, flags;
	ssize_t n;

	n = pull(r, p, sizeof(p));
	if (n < 0)
		return (int)n;
	if (memcmp(p, VFM_STREAM_MAGIC, MIN((size_t)n, VFM_STREAM_MAGIC_SIZE)) != 0) {
		char hex[3 * VFM_STREAM_MAGIC_SIZE + 1] = "";

		for (ssize_t i = 0; i < MIN(n, (ssize_t)VFM_STREAM_MAGIC_SIZE); i++)
			snprintf(hex + 3 * i, sizeof(hex) - 3 * (size_t)i, " %02x", p[i]);
		return fail(r, -ENOMSG, "not a vfiomig stream: it starts with%s", hex);
	}
	if (n == 0)
		return fail(r, -EPROTO, "truncated stream: it is empty");
	if (n < PRE_SIZE)
		return fail(r, -EPROTO,
			    "truncated stream: %zd of the %d bytes of the preamble", n,
			    PRE_SIZE);
	version = get_le32(p + PRE_VERSION);
	if (version != VFM_STREAM_VERSION)
		return fail(r, -EPROTONOSUPPORT,
			    "stream version %u, this vfiomig reads %d", version,
			    VFM_STREAM_VERSION);
	flags = get_le32(p + PRE_FLAGS);
	if (r->dir == VFM_STREAM_DATA_CONNECTION) {
		if (flags != VFM_STREAM_PRE_DATA_CONNECTION)
			return fail(r, -EPROTO,
				    "preamble flags 0x%08x: not a data connection (0x%08x)",
				    flags, VFM_STREAM_PRE_DATA_CONNECTION);
	} else if (flags == VFM_STREAM_PRE_DATA_CONNECTION) {
		return fail(r, -EPROTO,
			    "a data connection (preamble flags 0x%08x) where the stream "
			    "itself was expected",
			    flags);
	} else if (flags) {
		return fail(r, -EPROTO, "preamble flags 0x%08x: unknown bits", flags);
	}
	r->state = RS_FIRST;
	return 0;
}

/* Read the @len bytes of payload into r->buf, growing it as the bytes arrive. */
static int read_payload(struct vfm_stream_reader *r, const struct type_info *ti,
			size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		size_t want;

		if (r->cap < len && r->cap - got == 0) {
			/*
			 * Grow by doubling as the bytes come in, so a length field alone
			 * (a lie, or a cut stream) commits little memory.
			 */
			size_t cap = MIN(len, MAX(r->cap * 2, (size_t)65536));
			uint8_t *b = realloc(r->buf, cap);

			if (!b)
				return fail(r, -ENOMEM,
					    "%s record of %zu bytes: out of memory",
					    ti->name, len);
			r->buf = b;
			r->cap = cap;
		}
		want = MIN(len, r->cap) - got;
		n = pull(r, r->buf + got, want);
		if (n < 0)
			return (int)n;
		got += (size_t)n;
		if ((size_t)n < want)
			return fail(
				r, -EPROTO,
				"truncated stream: %s record at byte %llu has %zu of its "
				"%zu payload bytes",
				ti->name, (unsigned long long)r->record_pos, got, len);
	}
	return 0;
}

static const char *dir_name(enum vfm_stream_dir dir)
{
	return dir == VFM_STREAM_TO_SOURCE	    ? "destination-to-source"
	       : dir == VFM_STREAM_DATA_CONNECTION ? "data-connection"
						    : "source-to-destination";
}

/* Check the reason at the end of an ABORT or VERDICT payload. */
static int check_reason(struct vfm_stream_reader *r, const char *what, const uint8_t *s,
			size_t n)
{
	if (s[n - 1] != 0)
		return fail(r, -EPROTO, "%s record: reason is not NUL-terminated", what);
	if (memchr(s, 0, n - 1))
		return fail(r, -EPROTO, "%s record: reason has a NUL before its end",
			    what);
	if (!text_valid(s, n - 1))
		return fail(r, -EPROTO, "%s record: reason is not printable UTF-8", what);
	return 0;
}

static int decode_header(struct vfm_stream_reader *r, const uint8_t *p, size_t len,
			 struct vfm_record *rec)
{
	struct vfm_stream_header *h = &r->header;
	uint16_t n = get_le16(p + HDR_N_DEVICES);
	uint16_t flags = get_le16(p + HDR_FLAGS);
	char why[128];

	if (n < 1 || n > VFM_STREAM_MAX_DEVICES)
		return fail(r, -EPROTO,
			    "HEADER record: device count %u, expected 1 to %d", n,
			    VFM_STREAM_MAX_DEVICES);
	if (len != HDR_DEVDESC + (size_t)n * DD_SIZE)
		return fail(r, -EPROTO,
			    "HEADER record: length %zu, expected %zu for %u devices", len,
			    HDR_DEVDESC + (size_t)n * DD_SIZE, n);
	if (flags & ~HEADER_FLAGS_KNOWN)
		return fail(r, -EPROTO, "HEADER record: flags 0x%04x hold unknown bits",
			    flags);
	if (get_le32(p + HDR_RESERVED))
		return fail(r, -EPROTO, "HEADER record: reserved field not zero");

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *q = p + HDR_DEVDESC + (size_t)i * DD_SIZE;
		struct vfm_stream_devdesc *d = &h->dev[i];
		static const struct {
			const char *name;
			size_t off, size, dst;
		} fields[] = {
			{"driver name", DD_DRIVER, VFM_STREAM_DRIVER_SIZE,
			 offsetof(struct vfm_stream_devdesc, driver)},
			{"mdev type", DD_MDEV_TYPE, VFM_STREAM_MDEV_TYPE_SIZE,
			 offsetof(struct vfm_stream_devdesc, mdev_type)},
			{"device name", DD_NAME, VFM_STREAM_NAME_SIZE,
			 offsetof(struct vfm_stream_devdesc, name)},
		};

		if (!all_zero(q + DD_RESERVED, DD_DRIVER - DD_RESERVED))
			return fail(r, -EPROTO,
				    "HEADER record, device %u: reserved bytes not zero",
				    i);
		for (size_t f = 0; f < ELEMENTSOF(fields); f++) {
			const char *bad =
				field_invalid(q + fields[f].off, fields[f].size);

			if (bad)
				return fail(r, -EPROTO, "HEADER record, device %u: %s %s",
					    i, fields[f].name, bad);
			memcpy((char *)d + fields[f].dst, q + fields[f].off,
			       fields[f].size);
		}
		d->mig_flags = get_le32(q + DD_MIG_FLAGS);
		d->vendor = (int32_t)get_le32(q + DD_VENDOR);
		d->device = (int32_t)get_le32(q + DD_DEVICE);
		d->subsystem_vendor = (int32_t)get_le32(q + DD_SUBVENDOR);
		d->subsystem_device = (int32_t)get_le32(q + DD_SUBDEVICE);
		d->revision = (int32_t)get_le32(q + DD_REVISION);
		d->data_size = get_le64(q + DD_DATA_SIZE);
		d->kind = get_le16(q + DD_KIND);
		d->dev_flags = q[DD_DEVFLAGS];
		if (d->dev_flags & ~VFM_STREAM_DEV_VF_CONFIG)
			return fail(r, -EPROTO,
				    "HEADER record, device %u: device flags 0x%02x hold "
				    "unknown bits",
				    i, d->dev_flags);
		if (!devdesc_valid(d, why, sizeof(why)))
			return fail(r, -EPROTO, "HEADER record, device %u: %s", i, why);
	}
	h->stream_id = get_le64(p + HDR_STREAM_ID);
	h->flags = flags;
	h->n_devices = n;
	r->streams_due = flags & VFM_STREAM_F_STREAMS;
	r->state = RS_BODY;
	rec->header = h;
	return 0;
}

static int decode_data(struct vfm_stream_reader *r, const uint8_t *p, size_t len,
		       struct vfm_record *rec)
{
	uint16_t dev = get_le16(p + DATA_DEV);
	uint8_t phase = p[DATA_PHASE];
	uint64_t offset = get_le64(p + DATA_OFFSET);
	size_t n = len - DATA_BYTES;
	struct devstate *ds;

	if (dev >= r->header.n_devices)
		return fail(r, -EPROTO, "DATA record: device index %u, the stream has %u",
			    dev, r->header.n_devices);
	ds = &r->dev[dev];
	if (phase != VFM_STREAM_PHASE_PRECOPY && phase != VFM_STREAM_PHASE_STOPCOPY)
		return fail(
			r, -EPROTO,
			"DATA record for device %u: phase %u, expected 1 (precopy) or 2 "
			"(stop-copy)",
			dev, phase);
	if (!all_zero(p + DATA_RESERVED, DATA_OFFSET - DATA_RESERVED))
		return fail(r, -EPROTO,
			    "DATA record for device %u: reserved bytes not zero", dev);
	if (ds->ended)
		return fail(r, -EPROTO, "DATA record for device %u after its DEVICE_END",
			    dev);
	if (phase == VFM_STREAM_PHASE_PRECOPY) {
		if (ds->stopcopy)
			return fail(r, -EPROTO,
				    "DATA record for device %u: precopy after stop-copy",
				    dev);
		if (!(r->header.flags & VFM_STREAM_F_PRECOPY))
			return fail(r, -EPROTO,
				    "DATA record for device %u: precopy, but the HEADER "
				    "announces none",
				    dev);
		if (!(r->header.dev[dev].mig_flags & VFM_STREAM_MIG_PRE_COPY))
			return fail(r, -EPROTO,
				    "DATA record for device %u: precopy, but the device "
				    "lacks PRE_COPY",
				    dev);
	}
	if (r->dir == VFM_STREAM_DATA_CONNECTION) {
		/* the device's other chunks travel on other connections */
		if (offset < ds->received)
			return fail(r, -EPROTO,
				    "DATA record for device %u: offset %llu, before the end "
				    "of its last chunk on this connection (%llu)",
				    dev, (unsigned long long)offset,
				    (unsigned long long)ds->received);
	} else if (offset != ds->received) {
		return fail(r, -EPROTO,
			    "DATA record for device %u: offset %llu, expected %llu", dev,
			    (unsigned long long)offset, (unsigned long long)ds->received);
	}
	if (n > UINT64_MAX - offset)
		return fail(r, -EPROTO, "DATA record for device %u: offset overflows",
			    dev);

	ds->received = offset + n;
	r->conn_bytes += n;
	r->conn_records++;
	if (phase == VFM_STREAM_PHASE_PRECOPY)
		ds->precopy += n;
	else
		ds->stopcopy = true;
	rec->data.dev = dev;
	rec->data.phase = phase;
	rec->data.offset = offset;
	rec->data.bytes = p + DATA_BYTES;
	rec->data.len = (uint32_t)n;
	return 0;
}

/* At most one per device, announced by its descriptor, before its first DATA. */
static int decode_vf_config(struct vfm_stream_reader *r, const uint8_t *p, size_t len,
			    struct vfm_record *rec)
{
	uint16_t dev = get_le16(p);
	struct devstate *ds;

	if (dev >= r->header.n_devices)
		return fail(r, -EPROTO,
			    "VF_CONFIG record: device index %u, the stream has %u", dev,
			    r->header.n_devices);
	ds = &r->dev[dev];
	if (get_le16(p + 2))
		return fail(r, -EPROTO,
			    "VF_CONFIG record for device %u: reserved bytes not zero", dev);
	if (!(r->header.dev[dev].dev_flags & VFM_STREAM_DEV_VF_CONFIG))
		return fail(r, -EPROTO,
			    "VF_CONFIG record for device %u, which the HEADER does not "
			    "announce",
			    dev);
	if (ds->vf_config)
		return fail(r, -EPROTO, "second VF_CONFIG record for device %u", dev);
	if (ds->received || ds->ended)
		return fail(r, -EPROTO,
			    "VF_CONFIG record for device %u after its migration data", dev);
	ds->vf_config = true;
	rec->vf_config.dev = dev;
	rec->vf_config.bytes = p + VFM_STREAM_VF_CONFIG_HDR;
	rec->vf_config.len = (uint32_t)(len - VFM_STREAM_VF_CONFIG_HDR);
	return 0;
}

static int decode_device_end(struct vfm_stream_reader *r, const uint8_t *p,
			     struct vfm_record *rec)
{
	uint16_t dev = get_le16(p + DEND_DEV);
	uint64_t total = get_le64(p + DEND_TOTAL), precopy = get_le64(p + DEND_PRECOPY);
	struct devstate *ds;

	if (dev >= r->header.n_devices)
		return fail(r, -EPROTO,
			    "DEVICE_END record: device index %u, the stream has %u", dev,
			    r->header.n_devices);
	ds = &r->dev[dev];
	if (!all_zero(p + DEND_RESERVED, DEND_TOTAL - DEND_RESERVED))
		return fail(r, -EPROTO,
			    "DEVICE_END record for device %u: reserved bytes not zero",
			    dev);
	if (ds->ended)
		return fail(r, -EPROTO,
			    "DEVICE_END record for device %u: the device ended", dev);
	if (r->header.flags & VFM_STREAM_F_STREAMS) {
		/* the data came over the data connections: the caller checks it */
		if (precopy > total)
			return fail(r, -EPROTO,
				    "DEVICE_END record for device %u: precopy %llu bytes of "
				    "%llu",
				    dev, (unsigned long long)precopy,
				    (unsigned long long)total);
	} else if (total != ds->received)
		return fail(r, -EPROTO,
			    "DEVICE_END record for device %u: total %llu bytes, received "
			    "%llu",
			    dev, (unsigned long long)total,
			    (unsigned long long)ds->received);
	if (!(r->header.flags & VFM_STREAM_F_STREAMS) && precopy != ds->precopy)
		return fail(
			r, -EPROTO,
			"DEVICE_END record for device %u: precopy %llu bytes, received "
			"%llu",
			dev, (unsigned long long)precopy,
			(unsigned long long)ds->precopy);
	if (total > UINT64_MAX - r->total)
		return fail(r, -EPROTO,
			    "DEVICE_END record for device %u: the sum overflows", dev);
	ds->ended = true;
	r->n_ended++;
	r->total += total;
	rec->device_end.dev = dev;
	rec->device_end.total = total;
	rec->device_end.precopy = precopy;
	return 0;
}

static int decode_end(struct vfm_stream_reader *r, const uint8_t *p,
		      struct vfm_record *rec)
{
	uint16_t n = get_le16(p + END_N_DEVICES);
	uint64_t total = get_le64(p + END_TOTAL);

	if (n != r->header.n_devices)
		return fail(r, -EPROTO, "END record: device count %u, the HEADER has %u",
			    n, r->header.n_devices);
	if (!all_zero(p + END_RESERVED, END_TOTAL - END_RESERVED))
		return fail(r, -EPROTO, "END record: reserved bytes not zero");
	for (unsigned i = 0; i < n; i++)
		if (!r->dev[i].ended)
			return fail(r, -EPROTO,
				    "END record before the DEVICE_END of device %u", i);
	if (total != r->total)
		return fail(r, -EPROTO,
			    "END record: total %llu bytes, the devices sent %llu",
			    (unsigned long long)total, (unsigned long long)r->total);
	r->state = (r->header.flags & VFM_STREAM_F_COMMIT) ? RS_ENDED : RS_DONE;
	rec->end.n_devices = n;
	rec->end.total = total;
	return 0;
}

static int decode_abort(struct vfm_stream_reader *r, const uint8_t *p, size_t len,
			struct vfm_record *rec)
{
	uint32_t error = get_le32(p + ABORT_ERRNO);
	int ret;

	if (error < 1 || error > VFM_STREAM_ERRNO_MAX)
		return fail(r, -EPROTO, "ABORT record: errno %u, expected 1 to %d", error,
			    VFM_STREAM_ERRNO_MAX);
	if (get_le32(p + ABORT_RESERVED))
		return fail(r, -EPROTO, "ABORT record: reserved field not zero");
	ret = check_reason(r, "ABORT", p + ABORT_REASON, len - ABORT_REASON);
	if (ret < 0)
		return ret;
	r->state = RS_DONE;
	rec->abort.error = error;
	rec->abort.reason = (const char *)p + ABORT_REASON;
	return 0;
}

static int decode_streams(struct vfm_stream_reader *r, const uint8_t *p,
			  struct vfm_record *rec)
{
	uint16_t count = get_le16(p + STREAMS_COUNT);

	if (count < 1 || count > VFM_STREAM_MAX_CONNECTIONS)
		return fail(r, -EPROTO, "STREAMS record: %u data connections, expected 1 to %d",
			    count, VFM_STREAM_MAX_CONNECTIONS);
	if (!all_zero(p + STREAMS_RESERVED, STREAMS_TOKEN - STREAMS_RESERVED) ||
	    !all_zero(p + STREAMS_RESERVED2, STREAMS_SIZE - STREAMS_RESERVED2))
		return fail(r, -EPROTO, "STREAMS record: reserved bytes not zero");
	memcpy(r->token, p + STREAMS_TOKEN, VFM_STREAM_TOKEN_SIZE);
	r->streams_due = false;
	r->streams_seen = true;
	rec->streams.count = count;
	rec->streams.token = r->token;
	return 0;
}

static int decode_join(struct vfm_stream_reader *r, const uint8_t *p,
		       struct vfm_record *rec)
{
	uint64_t id = get_le64(p + JOIN_STREAM_ID);
	uint16_t index = get_le16(p + JOIN_INDEX), count = get_le16(p + JOIN_COUNT);
	uint8_t diff = 0;

	if (get_le32(p + JOIN_RESERVED))
		return fail(r, -EPROTO, "JOIN record: reserved field not zero");
	if (id != r->header.stream_id)
		return fail(r, -EPROTO,
			    "JOIN record: stream id %016llx, this migration's is %016llx",
			    (unsigned long long)id, (unsigned long long)r->header.stream_id);
	if (count != r->join_count)
		return fail(r, -EPROTO, "JOIN record: %u data connections, STREAMS said %u",
			    count, r->join_count);
	if (index >= count)
		return fail(r, -EPROTO, "JOIN record: connection %u of %u", index, count);
	/* in constant time: a stranger learns nothing from how long it takes */
	for (size_t i = 0; i < VFM_STREAM_TOKEN_SIZE; i++)
		diff |= (uint8_t)(p[JOIN_TOKEN + i] ^ r->token[i]);
	if (diff)
		return fail(r, -EACCES, "JOIN record: wrong token (not this migration's "
					"data connection)");
	r->state = RS_BODY;
	rec->join.stream_id = id;
	rec->join.index = index;
	rec->join.count = count;
	rec->join.token = r->token;
	return 0;
}

static int decode_done(struct vfm_stream_reader *r, const uint8_t *p,
		       struct vfm_record *rec)
{
	uint64_t bytes = get_le64(p + DONE_BYTES), records = get_le64(p + DONE_RECORDS);

	if (bytes != r->conn_bytes || records != r->conn_records)
		return fail(r, -EPROTO,
			    "DONE record: %llu bytes in %llu DATA records, the connection "
			    "carried %llu in %llu",
			    (unsigned long long)bytes, (unsigned long long)records,
			    (unsigned long long)r->conn_bytes,
			    (unsigned long long)r->conn_records);
	r->state = RS_DONE;
	rec->done.bytes = bytes;
	rec->done.records = records;
	return 0;
}

/* COMMIT (the HEADER's stream id) or READY (the id set by the caller). */
static int decode_commit(struct vfm_stream_reader *r, const struct type_info *ti,
			 const uint8_t *p, struct vfm_record *rec)
{
	uint64_t id = get_le64(p + COMMIT_STREAM_ID);
	uint64_t want = ti->type == VFM_STREAM_COMMIT ? r->header.stream_id : r->stream_id;

	if (!all_zero(p + COMMIT_RESERVED, COMMIT_SIZE - COMMIT_RESERVED))
		return fail(r, -EPROTO, "%s record: reserved bytes not zero", ti->name);
	if (id != want)
		return fail(r, -EPROTO, "%s record: stream id %016llx, expected %016llx",
			    ti->name, (unsigned long long)id, (unsigned long long)want);
	if (ti->type == VFM_STREAM_COMMIT) {
		r->state = RS_DONE;
	} else {
		r->ready_seen = true;
		r->state = RS_ENDED;
	}
	rec->commit.stream_id = id;
	return 0;
}

static int decode_compat(struct vfm_stream_reader *r, const uint8_t *p,
			 struct vfm_record *rec)
{
	struct vfm_stream_compat *c = &r->compat;
	uint16_t n = get_le16(p + COMPAT_N_DEVICES);

	if (n != r->n_expected)
		return fail(r, -EPROTO,
			    "COMPAT record: device count %u, the HEADER has %u", n,
			    r->n_expected);
	if (!all_zero(p + COMPAT_RESERVED, COMPAT_ENTRIES - COMPAT_RESERVED))
		return fail(r, -EPROTO, "COMPAT record: reserved bytes not zero");
	r->compat_refused = -1;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *q = p + COMPAT_ENTRIES + (size_t)i * CE_SIZE;
		uint32_t code = get_le32(q + CE_CODE);
		const char *bad =
			field_invalid(q + CE_REASON, VFM_STREAM_COMPAT_REASON_SIZE);

		if (code > VFM_COMPAT_MAX)
			return fail(r, -EPROTO,
				    "COMPAT record, device %u: code %u is unknown", i,
				    code);
		if (bad)
			return fail(r, -EPROTO, "COMPAT record, device %u: reason %s", i,
				    bad);
		c->dev[i].code = code;
		memcpy(c->dev[i].reason, q + CE_REASON, VFM_STREAM_COMPAT_REASON_SIZE);
		if (code != VFM_COMPAT_OK && r->compat_refused < 0)
			r->compat_refused = (int)i;
	}
	c->n_devices = n;
	r->compat_seen = true;
	r->state = RS_BODY;
	rec->compat = c;
	return 0;
}

static int decode_verdict(struct vfm_stream_reader *r, const uint8_t *p, size_t len,
			  struct vfm_record *rec)
{
	uint32_t status = get_le32(p + VERDICT_STATUS);
	uint16_t dev = get_le16(p + VERDICT_DEV);
	int ret;

	if (status > VFM_STREAM_ERRNO_MAX)
		return fail(r, -EPROTO, "VERDICT record: status %u, expected 0 to %d",
			    status, VFM_STREAM_ERRNO_MAX);
	if (dev != VFM_STREAM_NO_DEVICE && dev >= r->n_expected)
		return fail(r, -EPROTO,
			    "VERDICT record: device index %u, the stream has %u", dev,
			    r->n_expected);
	if (get_le16(p + VERDICT_RESERVED))
		return fail(r, -EPROTO, "VERDICT record: reserved field not zero");
	if (status == 0) {
		if (dev != VFM_STREAM_NO_DEVICE)
			return fail(r, -EPROTO,
				    "VERDICT record: success, but device %u failed", dev);
		if (!r->compat_seen)
			return fail(r, -EPROTO, "VERDICT record: success without COMPAT");
		if (r->compat_refused >= 0)
			return fail(
				r, -EPROTO,
				"VERDICT record: success, but COMPAT refused device %d",
				r->compat_refused);
		if (!r->ready_seen)
			return fail(r, -EPROTO, "VERDICT record: success without READY");
	}
	ret = check_reason(r, "VERDICT", p + VERDICT_REASON, len - VERDICT_REASON);
	if (ret < 0)
		return ret;
	r->state = RS_DONE;
	rec->verdict.status = status;
	rec->verdict.dev = dev;
	rec->verdict.reason = (const char *)p + VERDICT_REASON;
	return 0;
}

/* After the final record: 0 if the stream ends, -EPROTO if anything follows. */
static int check_eof(struct vfm_stream_reader *r)
{
	uint8_t byte;
	ssize_t n;

	if (r->state == RS_EOF)
		return 0;
	r->record_pos = r->pos;
	n = pull(r, &byte, 1);
	if (n < 0)
		return (int)n;
	if (n > 0)
		return fail(r, -EPROTO, "bytes follow the final %s record, at byte %llu",
			    vfm_stream_type_name(r->final_type),
			    (unsigned long long)r->record_pos);
	r->state = RS_EOF;
	return 0;
}

static int ended_early(struct vfm_stream_reader *r)
{
	if (r->dir == VFM_STREAM_DATA_CONNECTION)
		return fail(r, -EPROTO,
			    "truncated data connection: it ends after byte %llu, before its "
			    "%s record",
			    (unsigned long long)r->pos, r->state == RS_FIRST ? "JOIN" : "DONE");
	if (r->dir == VFM_STREAM_TO_SOURCE)
		return fail(r, -EPROTO,
			    "truncated stream: it ends without a VERDICT record");
	if (r->state == RS_ENDED)
		return fail(r, -EPROTO,
			    "truncated stream: it ends after END, without COMMIT or ABORT");
	if (r->state == RS_FIRST)
		return fail(r, -EPROTO,
			    "truncated stream: it ends before its HEADER record");
	return fail(r, -EPROTO,
		    "truncated stream: it ends after byte %llu, before its END record",
		    (unsigned long long)r->pos);
}

/* Whether a record of type @ti may come now (its contents aside). */
static int check_order(struct vfm_stream_reader *r, const struct type_info *ti)
{
	if (r->dir == VFM_STREAM_DATA_CONNECTION) {
		if (ti->type == VFM_STREAM_JOIN) {
			if (r->state != RS_FIRST)
				return fail(r, -EPROTO, "second JOIN record");
			if (!r->join_set)
				return fail(r, -EPROTO, "JOIN record: nothing to check it against");
			return 0;
		}
		if (r->state == RS_FIRST)
			return fail(r, -EPROTO, "%s record before the JOIN record", ti->name);
		return 0;
	}
	if (r->streams_due && ti->type != VFM_STREAM_STREAMS && ti->type != VFM_STREAM_ABORT)
		return fail(r, -EPROTO,
			    "%s record where the STREAMS record the HEADER announces must "
			    "come",
			    ti->name);
	switch (ti->type) {
	case VFM_STREAM_STREAMS:
		if (!r->streams_due)
			return fail(r, -EPROTO, "STREAMS record %s",
				    r->streams_seen ? "twice"
				    : r->state == RS_FIRST
					    ? "before the HEADER record"
					    : "in a stream whose HEADER announces no data "
					      "connections");
		return 0;
	case VFM_STREAM_DATA:
		if (r->header.flags & VFM_STREAM_F_STREAMS)
			return fail(r, -EPROTO,
				    "DATA record on the control connection of a stream whose "
				    "data goes over data connections");
		break;
	default: break;
	}
	switch (ti->type) {
	case VFM_STREAM_HEADER:
		if (r->state != RS_FIRST)
			return fail(r, -EPROTO, "second HEADER record");
		return 0;
	case VFM_STREAM_COMPAT:
		if (r->state != RS_FIRST)
			return fail(r, -EPROTO, "second COMPAT record");
		return 0;
	case VFM_STREAM_VERDICT: return 0;
	case VFM_STREAM_READY:
		if (r->state != RS_BODY || !r->compat_seen)
			return fail(r, -EPROTO, "READY record %s",
				    r->state == RS_ENDED ? "twice" : "before COMPAT");
		if (r->compat_refused >= 0)
			return fail(r, -EPROTO, "READY record, but COMPAT refused device %d",
				    r->compat_refused);
		if (!r->stream_id_set)
			return fail(r, -EPROTO, "READY record: no stream id to check it against");
		return 0;
	case VFM_STREAM_COMMIT:
		if (r->state != RS_ENDED)
			return fail(r, -EPROTO, "COMMIT record %s",
				    r->state == RS_FIRST ? "before the HEADER record"
				    : (r->header.flags & VFM_STREAM_F_COMMIT)
					    ? "before END"
					    : "in a stream whose HEADER has no commit flag");
		return 0;
	case VFM_STREAM_ABORT:
		if (r->state == RS_FIRST)
			return fail(r, -EPROTO, "ABORT record before the HEADER record");
		return 0;
	default:
		if (r->state == RS_FIRST)
			return fail(r, -EPROTO, "%s record before the HEADER record",
				    ti->name);
		if (r->state == RS_ENDED)
			return fail(r, -EPROTO, "%s record after END", ti->name);
		return 0;
	}
}

int vfm_stream_read(struct vfm_stream_reader *r, struct vfm_record *ret_rec)
{
	uint8_t hdr[REC_SIZE], trailer[VFM_STREAM_CRC_SIZE];
	const struct type_info *ti;
	struct vfm_record rec = {0};
	uint32_t len, crc, want;
	uint16_t type, flags;
	ssize_t n;
	int ret;

	switch (r->state) {
	case RS_FAILED: return r->error;
	case RS_PREAMBLE:
		ret = read_preamble(r);
		if (ret < 0)
			return ret;
		break;
	case RS_DONE:
	case RS_EOF: return check_eof(r);
	default: break;
	}

	r->record_pos = r->pos;
	n = pull(r, hdr, sizeof(hdr));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return ended_early(r);
	if (n < REC_SIZE)
		return fail(
			r, -EPROTO,
			"truncated stream: %zd of the 8 bytes of a record header at byte "
			"%llu",
			n, (unsigned long long)r->record_pos);

	type = get_le16(hdr + REC_TYPE);
	flags = get_le16(hdr + REC_FLAGS);
	len = get_le32(hdr + REC_LENGTH);
	ti = type_info(type);
	if (!ti)
		return fail(r, -EPROTO, "record type %u at byte %llu is unknown", type,
			    (unsigned long long)r->record_pos);
	if (ti->dir != r->dir &&
	    !(r->dir == VFM_STREAM_DATA_CONNECTION && type == VFM_STREAM_DATA))
		return fail(r, -EPROTO, "%s record in the %s stream", ti->name,
			    dir_name(r->dir));
	if (flags)
		return fail(r, -EPROTO, "%s record: flags 0x%04x, expected 0", ti->name,
			    flags);
	if (len > ti->max)
		return fail(r, -EMSGSIZE, "%s record: length %u above the limit %u",
			    ti->name, len, ti->max);
	if (len < ti->min)
		return fail(r, -EPROTO, "%s record: length %u below the minimum %u",
			    ti->name, len, ti->min);
	if (type == VFM_STREAM_HEADER && (len - HDR_DEVDESC) % DD_SIZE)
		return fail(r, -EPROTO, "HEADER record: length %u is not 16 + N * 256",
			    len);
	want = COMPAT_ENTRIES + r->n_expected * CE_SIZE;
	if (type == VFM_STREAM_COMPAT && len != want)
		return fail(r, -EPROTO,
			    "COMPAT record: length %u, expected %u for %u devices", len,
			    want, r->n_expected);

	ret = read_payload(r, ti, len);
	if (ret < 0)
		return ret;
	n = pull(r, trailer, sizeof(trailer));
	if (n < 0)
		return (int)n;
	if (n < (ssize_t)sizeof(trailer))
		return fail(r, -EPROTO,
			    "truncated stream: %s record at byte %llu lacks its CRC",
			    ti->name, (unsigned long long)r->record_pos);
	crc = vfm_crc32c(vfm_crc32c(0, hdr, sizeof(hdr)), r->buf, len);
	if (crc != get_le32(trailer))
		return fail(r, -EBADMSG,
			    "%s record at byte %llu: CRC32C 0x%08x, computed 0x%08x",
			    ti->name, (unsigned long long)r->record_pos,
			    get_le32(trailer), crc);

	ret = check_order(r, ti);
	if (ret < 0)
		return ret;
	switch (ti->type) {
	case VFM_STREAM_HEADER: ret = decode_header(r, r->buf, len, &rec); break;
	case VFM_STREAM_DATA: ret = decode_data(r, r->buf, len, &rec); break;
	case VFM_STREAM_DEVICE_END: ret = decode_device_end(r, r->buf, &rec); break;
	case VFM_STREAM_END: ret = decode_end(r, r->buf, &rec); break;
	case VFM_STREAM_ABORT: ret = decode_abort(r, r->buf, len, &rec); break;
	case VFM_STREAM_VF_CONFIG: ret = decode_vf_config(r, r->buf, len, &rec); break;
	case VFM_STREAM_COMPAT: ret = decode_compat(r, r->buf, &rec); break;
	case VFM_STREAM_VERDICT: ret = decode_verdict(r, r->buf, len, &rec); break;
	case VFM_STREAM_COMMIT:
	case VFM_STREAM_READY: ret = decode_commit(r, ti, r->buf, &rec); break;
	case VFM_STREAM_STREAMS: ret = decode_streams(r, r->buf, &rec); break;
	case VFM_STREAM_JOIN: ret = decode_join(r, r->buf, &rec); break;
	case VFM_STREAM_DONE: ret = decode_done(r, r->buf, &rec); break;
	default: ret = fail(r, -EPROTO, "record type %u is unknown", type); break;
	}
	if (ret < 0)
		return ret;
	if (r->state == RS_DONE)
		r->final_type = type;
	rec.type = (enum vfm_stream_type)type;
	*ret_rec = rec;
	return type;
}

int vfm_stream_reader_finish(struct vfm_stream_reader *r)
{
	switch (r->state) {
	case RS_FAILED: return r->error;
	case RS_DONE:
	case RS_EOF: return check_eof(r);
	default:
		if (r->dir == VFM_STREAM_DATA_CONNECTION)
			return fail(r, -EPROTO, "the data connection has no DONE record yet");
		return r->dir == VFM_STREAM_TO_SOURCE ? fail(r, -EPROTO, "the stream has no VERDICT record yet")
		       : r->state == RS_ENDED	      ? fail(r, -EPROTO, "the stream has no COMMIT record yet")
						      : fail(r, -EPROTO, "the stream has no END record yet");
	}
}

ssize_t vfm_stream_mem_read(void *userdata, void *buf, size_t len)
{
	struct vfm_stream_mem *m = userdata;
	size_t n = m->pos < m->size ? MIN(len, m->size - m->pos) : 0;

	if (n)
		memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}
