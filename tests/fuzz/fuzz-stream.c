// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the stream reader (src/stream/stream.c): the input is read as
 * a source-to-destination stream and as a destination-to-source stream until the
 * reader ends or fails.  Beyond "no crash, no sanitizer report" it checks that:
 *  - every record the reader returns encodes back to the very bytes it was read from
 *    (the reader accepts only canonical records, and the encoders agree with it);
 *  - a DATA record's zero-copy prefix and trailer equal those bytes too;
 *  - an error comes with one of the documented errnos and a reason;
 *  - a clean end is confirmed by vfm_stream_reader_finish().
 * A failed check aborts, which libFuzzer reports as a crash.
 *
 * Built with -DVFM_LIBFUZZER (tests/fuzz/build-libfuzzer.sh), a custom mutator
 * repairs the CRCs of most mutated inputs, so that the fuzzer gets past the CRC
 * check to the record contents; a few inputs keep their broken CRCs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

__attribute__((noreturn)) static void broken(const char *what, const char *reason)
{
	fprintf(stderr, "fuzz-stream: %s (%s)\n", what, reason);
	abort();
}

static void check_record(const struct vfm_record *rec, const uint8_t *raw, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	ssize_t n;

	if (!buf)
		abort();
	n = vfm_stream_encode(rec, buf, len + 1);
	if (n != (ssize_t)len || memcmp(buf, raw, len) != 0)
		broken("a record read does not encode back to its bytes",
		       vfm_stream_type_name((uint16_t)rec->type));
	if (rec->type == VFM_STREAM_DATA) {
		uint8_t prefix[VFM_STREAM_DATA_PREFIX_SIZE], trailer[VFM_STREAM_CRC_SIZE];

		if (vfm_stream_data_prefix(prefix, rec->data.dev, rec->data.phase,
					   rec->data.offset, rec->data.len) < 0 ||
		    vfm_stream_data_crc(prefix, rec->data.bytes, rec->data.len, trailer) <
			    0 ||
		    memcmp(prefix, raw, sizeof(prefix)) != 0 ||
		    memcmp(trailer, raw + len - sizeof(trailer), sizeof(trailer)) != 0)
			broken("DATA prefix or trailer differ", "");
	}
	free(buf);
}

static void run(enum vfm_stream_dir dir, unsigned n_devices, const uint8_t *data,
		size_t size)
{
	struct vfm_stream_mem mem = {.data = data, .size = size};
	struct vfm_stream_reader *r;
	struct vfm_record rec;
	int ret;

	if (vfm_stream_reader_new(dir, n_devices, vfm_stream_mem_read, &mem, &r) < 0)
		abort();
	/* READY must name this id: the seed corpus's (test-stream's std_header) */
	if (dir == VFM_STREAM_TO_SOURCE)
		vfm_stream_reader_set_stream_id(r, 0x0123456789abcdefull);
	if (dir == VFM_STREAM_DATA_CONNECTION) {
		/* the seed corpus's JOIN (test-stream's): 2 devices, its token */
		struct vfm_stream_header h = {.stream_id = 0x0123456789abcdefull,
					      .n_devices = 2,
					      .flags = VFM_STREAM_F_COMMIT | VFM_STREAM_F_STREAMS};

		h.dev[0].mig_flags = h.dev[1].mig_flags = VFM_STREAM_MIG_STOP_COPY;
		vfm_stream_reader_set_join(r, &h, 2, (const uint8_t *)"0123456789abcde");
	}
	while ((ret = vfm_stream_read(r, &rec)) > 0) {
		uint64_t start = vfm_stream_reader_position(r);

		if (ret != (int)rec.type || start > mem.pos)
			broken("record type or position wrong", "");
		check_record(&rec, data + start, mem.pos - start);
	}
	switch (ret) {
	case 0:
		if (vfm_stream_reader_finish(r) != 0 || mem.pos != size)
			broken("a clean end that finish() denies", "");
		break;
	case -ENOMSG:
	case -EPROTONOSUPPORT:
	case -EMSGSIZE:
	case -EBADMSG:
	case -EPROTO:
	case -EACCES: /* a data connection's JOIN with another token */
		if (!vfm_stream_reader_error(r)[0])
			broken("an error without a reason", "");
		if (vfm_stream_read(r, &rec) != ret)
			broken("an error that does not stick",
			       vfm_stream_reader_error(r));
		break;
	default: broken("an undocumented error", vfm_stream_reader_error(r));
	}
	vfm_stream_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(VFM_STREAM_TO_DESTINATION, 0, data, size);
	run(VFM_STREAM_TO_SOURCE, 2, data, size);
	run(VFM_STREAM_DATA_CONNECTION, 0, data, size);
	/* and with the device count of a leading COMPAT, to get past that check */
	if (size >= VFM_STREAM_PREAMBLE_SIZE + 8 + 2 &&
	    le16(data + VFM_STREAM_PREAMBLE_SIZE) == VFM_STREAM_COMPAT) {
		uint16_t n = le16(data + VFM_STREAM_PREAMBLE_SIZE + 8);

		if (n >= 1 && n <= VFM_STREAM_MAX_DEVICES && n != 2)
			run(VFM_STREAM_TO_SOURCE, n, data, size);
	}
	return 0;
}

#ifdef VFM_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Recompute the CRC of every whole record after the preamble. */
static void fix_crcs(uint8_t *data, size_t size)
{
	size_t p = VFM_STREAM_PREAMBLE_SIZE;

	if (size < p)
		return;
	while (size - p >= VFM_STREAM_RECORD_OVERHEAD) {
		uint32_t len = le32(data + p + 4), crc;

		if (len > size - p - VFM_STREAM_RECORD_OVERHEAD)
			break;
		crc = vfm_crc32c(0, data + p, VFM_STREAM_RECORD_HEADER_SIZE + len);
		for (int i = 0; i < 4; i++)
			data[p + VFM_STREAM_RECORD_HEADER_SIZE + len + i] =
				(uint8_t)(crc >> (8 * i));
		p += VFM_STREAM_RECORD_OVERHEAD + len;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 16 != 0)
		fix_crcs(data, size);
	return size;
}
#endif
