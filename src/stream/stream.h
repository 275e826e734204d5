/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The migration stream, version 2: encoders and a validating reader.  The format is
 * vfiomig-stream(5) (man/vfiomig-stream.5.scd); this code follows it to the byte.
 *
 * Encoders write into caller buffers and never allocate.  The reader pulls bytes
 * through a callback, checks each record's length against its type's limit before
 * reading the payload, checks the CRC before looking inside, and then checks the
 * record against everything read before it in that direction.  Nothing it returns
 * has failed a check.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ------------------------------------------------------------------------- */
/* wire constants                                                            */

#define VFM_STREAM_MAGIC	 "\x89VFM\r\n\x1a\n"
#define VFM_STREAM_MAGIC_SIZE	 8
#define VFM_STREAM_VERSION	 2
#define VFM_STREAM_PREAMBLE_SIZE 16
/* Preamble flags: the connection is one of a migration's data connections (JOIN,
 * DATA..., DONE), not the stream itself. */
#define VFM_STREAM_PRE_DATA_CONNECTION (1u << 0)

#define VFM_STREAM_RECORD_HEADER_SIZE 8 /* type, flags, length */
#define VFM_STREAM_CRC_SIZE	      4
#define VFM_STREAM_RECORD_OVERHEAD    12 /* record header and CRC */

#define VFM_STREAM_MAX_DEVICES	  64
#define VFM_STREAM_DEVDESC_SIZE	  256
#define VFM_STREAM_DRIVER_SIZE	  64 /* char fields of a descriptor, NUL included */
#define VFM_STREAM_MDEV_TYPE_SIZE 64
#define VFM_STREAM_NAME_SIZE	  88

/* Payload limits, per record type. */
#define VFM_STREAM_HEADER_MAX	      (16 + VFM_STREAM_MAX_DEVICES * 256)
#define VFM_STREAM_DATA_SUBHEADER     16
#define VFM_STREAM_CHUNK_MAX	      (16u << 20) /* data bytes in one DATA record */
#define VFM_STREAM_DATA_MAX	      (VFM_STREAM_CHUNK_MAX + VFM_STREAM_DATA_SUBHEADER)
#define VFM_STREAM_DEVICE_END_SIZE    24
#define VFM_STREAM_END_SIZE	      16
#define VFM_STREAM_COMMIT_SIZE	      16 /* COMMIT and READY */
#define VFM_STREAM_MSG_MAX	      1024 /* ABORT, VERDICT */
#define VFM_STREAM_REASON_MAX	      1015 /* reason bytes, NUL excluded: 1024 - 8 - 1 */
#define VFM_STREAM_COMPAT_ENTRY	      128
#define VFM_STREAM_COMPAT_REASON_SIZE 124 /* NUL included */
#define VFM_STREAM_COMPAT_MAX	      (8 + VFM_STREAM_MAX_DEVICES * 128)
#define VFM_STREAM_ERRNO_MAX	      4095 /* ABORT errno, VERDICT status */
/* Data connections (HEADER flag F_STREAMS): STREAMS, JOIN and DONE records. */
#define VFM_STREAM_MAX_CONNECTIONS    16
#define VFM_STREAM_TOKEN_SIZE	      16
#define VFM_STREAM_STREAMS_SIZE	      32
#define VFM_STREAM_JOIN_SIZE	      32
#define VFM_STREAM_DONE_SIZE	      16

/* Whole records (header, payload, CRC), for sizing buffers. */
#define VFM_STREAM_HEADER_RECORD_MAX (VFM_STREAM_HEADER_MAX + VFM_STREAM_RECORD_OVERHEAD)
#define VFM_STREAM_DATA_RECORD_MAX   (VFM_STREAM_DATA_MAX + VFM_STREAM_RECORD_OVERHEAD)
#define VFM_STREAM_COMPAT_RECORD_MAX (VFM_STREAM_COMPAT_MAX + VFM_STREAM_RECORD_OVERHEAD)
#define VFM_STREAM_MSG_RECORD_MAX    (VFM_STREAM_MSG_MAX + VFM_STREAM_RECORD_OVERHEAD)

/* Record header + DATA sub-header: what precedes the bytes of a chunk. */
#define VFM_STREAM_DATA_PREFIX_SIZE \
	(VFM_STREAM_RECORD_HEADER_SIZE + VFM_STREAM_DATA_SUBHEADER)

enum vfm_stream_type {
	/* source to destination */
	VFM_STREAM_HEADER = 1,
	VFM_STREAM_DATA = 2,
	VFM_STREAM_DEVICE_END = 3,
	VFM_STREAM_END = 4,
	VFM_STREAM_ABORT = 5,
	VFM_STREAM_VF_CONFIG = 6, /* a VF's network admin settings (vfiomig-stream(5)) */
	VFM_STREAM_COMMIT = 7,	  /* after READY: the destination may run the devices */
	VFM_STREAM_STREAMS = 8,	  /* after a HEADER with F_STREAMS: the data connections */
	/* a data connection, source to destination */
	VFM_STREAM_JOIN = 9,	  /* first record: which migration, which connection */
	VFM_STREAM_DONE = 10,	  /* final record: what the connection carried */
	/* destination to source */
	VFM_STREAM_COMPAT = 129,
	VFM_STREAM_VERDICT = 130,
	VFM_STREAM_READY = 131, /* every device loaded; waiting for COMMIT to run them */
};

/* HEADER flags */
#define VFM_STREAM_F_PRECOPY (1u << 0) /* the stream may carry precopy chunks */
/* The source reads the destination's answers (COMPAT, READY, VERDICT) and ends a
 * complete stream with COMMIT or ABORT after END: the destination runs nothing
 * before COMMIT.  Clear: a one-way stream (a file, a pipe) that ends with END. */
#define VFM_STREAM_F_COMMIT (1u << 1)
/* The migration data goes over separate data connections (a STREAMS record follows
 * the HEADER); this connection carries no DATA, only the control records. */
#define VFM_STREAM_F_STREAMS (1u << 2)

/* Descriptor migration flags: the VFM_MIG_* bits of vfiomig.h. */
#define VFM_STREAM_MIG_STOP_COPY (1u << 0)
#define VFM_STREAM_MIG_P2P	 (1u << 1)
#define VFM_STREAM_MIG_PRE_COPY	 (1u << 2)

/* Descriptor device flags. */
#define VFM_STREAM_DEV_VF_CONFIG (1u << 0) /* a VF_CONFIG record follows for it */

/* VF_CONFIG payload: device index (2), reserved (2), then the settings' wire form. */
#define VFM_STREAM_VF_CONFIG_HDR 4
#define VFM_STREAM_VF_CONFIG_MIN 40  /* bytes of the wire form */
#define VFM_STREAM_VF_CONFIG_MAX 256

/* Descriptor kinds: the values of enum vfm_device_kind. */
enum vfm_stream_kind {
	VFM_STREAM_KIND_PCI = 0,
	VFM_STREAM_KIND_MDEV = 1,
	VFM_STREAM_KIND_FD = 2,
	VFM_STREAM_KIND_SIM = 3,
};

enum vfm_stream_phase {
	VFM_STREAM_PHASE_PRECOPY = 1,
	VFM_STREAM_PHASE_STOPCOPY = 2,
};

enum vfm_stream_compat_code {
	VFM_COMPAT_OK = 0,
	VFM_COMPAT_ID = 1,	  /* other vendor or device ID */
	VFM_COMPAT_SUBSYSTEM = 2, /* other subsystem ID */
	VFM_COMPAT_DRIVER = 3,	  /* other driver */
	VFM_COMPAT_MDEV_TYPE = 4, /* other mdev type */
	VFM_COMPAT_FLAGS = 5,	  /* destination lacks a migration flag the source uses */
	VFM_COMPAT_OPEN = 6,	  /* destination could not open or prepare its device */
	VFM_COMPAT_COUNT = 7,	  /* device count differs */
	VFM_COMPAT_VF_CONFIG = 8, /* destination cannot take the VF's network settings */
	VFM_COMPAT_MAX = VFM_COMPAT_VF_CONFIG,
};

#define VFM_STREAM_ID_UNKNOWN	(-1)	   /* a descriptor's PCI IDs and revision */
#define VFM_STREAM_SIZE_UNKNOWN UINT64_MAX /* a descriptor's data_size */
#define VFM_STREAM_NO_DEVICE	0xffff	   /* VERDICT: no failed device */

/* ------------------------------------------------------------------------- */
/* decoded forms                                                             */

/* A device descriptor of the HEADER.  Strings are NUL-terminated. */
struct vfm_stream_devdesc {
	uint32_t mig_flags; /* VFM_STREAM_MIG_*, STOP_COPY always set */
	int32_t vendor, device, subsystem_vendor, subsystem_device; /* 0..0xffff or -1 */
	int32_t revision;					    /* 0..0xff or -1 */
	uint64_t data_size; /* STOP_COPY estimate, or VFM_STREAM_SIZE_UNKNOWN */
	uint16_t kind;	    /* enum vfm_stream_kind */
	uint8_t dev_flags;  /* VFM_STREAM_DEV_* */
	char driver[VFM_STREAM_DRIVER_SIZE];
	char mdev_type[VFM_STREAM_MDEV_TYPE_SIZE];
	char name[VFM_STREAM_NAME_SIZE]; /* for messages only */
};

struct vfm_stream_header {
	uint64_t stream_id;
	uint16_t n_devices; /* 1..VFM_STREAM_MAX_DEVICES */
	uint16_t flags;	    /* VFM_STREAM_F_* */
	struct vfm_stream_devdesc dev[VFM_STREAM_MAX_DEVICES];
};

struct vfm_stream_compat {
	uint16_t n_devices;
	struct {
		uint32_t code; /* enum vfm_stream_compat_code */
		char reason[VFM_STREAM_COMPAT_REASON_SIZE];
	} dev[VFM_STREAM_MAX_DEVICES];
};

/*
 * One record.  Pointers of a decoded record point into the reader and stay valid
 * until the next vfm_stream_read() on it or its free; for encoding they point to the
 * caller's data.
 */
struct vfm_record {
	enum vfm_stream_type type;
	union {
		const struct vfm_stream_header *header;
		struct {
			uint16_t dev;
			uint8_t phase; /* enum vfm_stream_phase */
			uint64_t offset;
			const uint8_t *bytes;
			uint32_t len; /* 1..VFM_STREAM_CHUNK_MAX */
		} data;
		struct {
			uint16_t dev;
			uint64_t total;	  /* all bytes of the device */
			uint64_t precopy; /* of which precopy */
		} device_end;
		struct {
			uint16_t n_devices;
			uint64_t total; /* all devices' bytes */
		} end;
		struct {
			uint32_t error; /* positive errno */
			const char *reason;
		} abort;
		struct {
			uint16_t dev;
			const uint8_t *bytes; /* the settings' wire form */
			uint32_t len;	      /* 40..256 */
		} vf_config;
		const struct vfm_stream_compat *compat;
		struct {
			uint64_t stream_id; /* the HEADER's */
		} commit;		    /* COMMIT and READY */
		struct {
			uint16_t count; /* data connections, 1..VFM_STREAM_MAX_CONNECTIONS */
			const uint8_t *token; /* VFM_STREAM_TOKEN_SIZE bytes */
		} streams;
		struct {
			uint64_t stream_id; /* the HEADER's */
			uint16_t index;	    /* 0..count-1 */
			uint16_t count;	    /* the STREAMS record's */
			const uint8_t *token;
		} join;
		struct {
			uint64_t bytes;	  /* data bytes of the connection's DATA records */
			uint64_t records; /* its DATA records */
		} done;
		struct {
			uint32_t status; /* 0 success, else a positive errno */
			uint16_t dev;	 /* failed device, or VFM_STREAM_NO_DEVICE */
			const char *reason;
		} verdict;
	};
};

/** vfm_stream_type_name() - "HEADER", "DATA"...; NULL for an unknown type. */
const char *vfm_stream_type_name(uint16_t type);

/**
 * vfm_stream_text_valid() - whether the @n bytes at @s are text the format admits
 * in its strings (vfiomig-stream(5), STRINGS): printable UTF-8 without controls,
 * bidi formatting characters or line separators.  Other untrusted text that ends
 * up in messages and logs (vfiomigd's requests) is held to the same rule.
 */
bool vfm_stream_text_valid(const char *s, size_t n);

/* ------------------------------------------------------------------------- */
/* encoding                                                                  */

/** vfm_stream_encode_preamble() - the 16 bytes that start each direction. */
void vfm_stream_encode_preamble(uint8_t out[VFM_STREAM_PREAMBLE_SIZE]);

/** vfm_stream_encode_preamble_data() - the 16 bytes that start a data connection. */
void vfm_stream_encode_preamble_data(uint8_t out[VFM_STREAM_PREAMBLE_SIZE]);

/**
 * vfm_stream_encode() - write @rec as a whole record (header, payload, CRC) to @buf.
 * Identity fields must be valid as the reader demands (driver and mdev type
 * NUL-terminated printable UTF-8, IDs in range, known flags and kinds, STOP_COPY
 * set...).  Message text (ABORT and VERDICT reasons, COMPAT reasons, a descriptor's
 * name) is never a reason to fail: it is copied with every byte the reader would
 * refuse replaced by '?' and cut, at a character boundary, to fit its field.
 * Context rules (offsets, totals, order) are the caller's business.
 *
 * Returns the record's size, -EINVAL for an invalid record, -ENOBUFS when @size is
 * too small.  Nothing is written on failure.
 */
ssize_t vfm_stream_encode(const struct vfm_record *rec, void *buf, size_t size);

/**
 * vfm_stream_data_prefix() - the first 24 bytes of a DATA record of @len bytes of
 * device @dev (record header, then DATA sub-header), so that a sender can write
 * prefix, device bytes and trailer (vfm_stream_data_crc()) without copying the bytes.
 * Returns 0, or -EINVAL: @dev >= 64, @phase not 1 or 2, @len 0 or above
 * VFM_STREAM_CHUNK_MAX, @offset + @len above 2^64 - 1.
 */
int vfm_stream_data_prefix(uint8_t out[VFM_STREAM_DATA_PREFIX_SIZE], uint16_t dev,
			   uint8_t phase, uint64_t offset, uint32_t len);

/**
 * vfm_stream_data_crc() - the 4-byte trailer of the DATA record made of @prefix and
 * the @len bytes at @payload.  Returns 0, or -EINVAL when @len is not the length
 * @prefix announces.
 */
int vfm_stream_data_crc(const uint8_t prefix[VFM_STREAM_DATA_PREFIX_SIZE],
			const void *payload, size_t len,
			uint8_t trailer[VFM_STREAM_CRC_SIZE]);

/* ------------------------------------------------------------------------- */
/* reading                                                                   */

/**
 * vfm_stream_read_fn - read exactly @len bytes into @buf.  Returns @len; fewer
 * (possibly 0) only when the stream ended first; or -errno.  The reader decides
 * whether an end is clean: between records after a final record, or anywhere else
 * (then the stream is truncated).
 */
typedef ssize_t (*vfm_stream_read_fn)(void *userdata, void *buf, size_t len);

enum vfm_stream_dir {
	VFM_STREAM_TO_DESTINATION, /* preamble, HEADER, DATA..., DEVICE_END..., END
				      [COMMIT] (F_COMMIT), or ABORT */
	VFM_STREAM_TO_SOURCE,	   /* preamble, [COMPAT [READY]], VERDICT */
	VFM_STREAM_DATA_CONNECTION, /* preamble (data connection), JOIN, DATA..., DONE */
};

struct vfm_stream_reader;

/**
 * vfm_stream_reader_new() - a reader of one direction.  @n_devices: 0 for
 * VFM_STREAM_TO_DESTINATION (the HEADER tells); for VFM_STREAM_TO_SOURCE the device
 * count of the HEADER the source sent (1..64), which COMPAT must repeat.
 * Returns 0, -EINVAL, -ENOMEM.
 */
int vfm_stream_reader_new(enum vfm_stream_dir dir, unsigned n_devices,
			  vfm_stream_read_fn read_full, void *userdata,
			  struct vfm_stream_reader **ret_reader);

/**
 * vfm_stream_reader_set_stream_id() - VFM_STREAM_TO_SOURCE: the stream id of the
 * HEADER the source sent, which READY must repeat.  Until it is set, READY is
 * refused.
 */
void vfm_stream_reader_set_stream_id(struct vfm_stream_reader *r, uint64_t stream_id);

/**
 * vfm_stream_reader_set_join() - VFM_STREAM_DATA_CONNECTION: what its JOIN must
 * repeat (the stream id of @hdr, @count, @token) and what its DATA must fit (the
 * devices of @hdr, copied).  Until it is set, JOIN is refused.  A DATA record's offset
 * must lie past the end of the device's last chunk on the same connection (the
 * chunks of one device may be spread over several connections: the caller puts
 * them back in order).
 */
void vfm_stream_reader_set_join(struct vfm_stream_reader *r,
				const struct vfm_stream_header *hdr, uint16_t count,
				const uint8_t token[VFM_STREAM_TOKEN_SIZE]);

/**
 * vfm_stream_reader_swap_buf() - right after a record: take the buffer that holds its
 * payload (the decoded record's pointers point into it; its size in *@ret_cap) and
 * give the reader @spare of @spare_cap bytes (NULL, 0: none, it allocates) for the
 * next ones.  The caller frees what it took with free().  Lets a DATA record's
 * bytes be handed on without a copy.
 */
uint8_t *vfm_stream_reader_swap_buf(struct vfm_stream_reader *r, uint8_t *spare,
				    size_t spare_cap, size_t *ret_cap);

/** vfm_stream_reader_free() - free @r (NULL is fine); returns NULL. */
struct vfm_stream_reader *vfm_stream_reader_free(struct vfm_stream_reader *r);

/**
 * vfm_stream_read() - read and check the next record (the preamble first, on the
 * first call).  *@ret_rec is written only for a record; its pointers are valid until
 * the next call.  After the final record (END, or COMMIT when the HEADER has
 * F_COMMIT; ABORT; VERDICT the other way) the next call checks that the stream ends
 * there.
 *
 * Returns the record type (> 0); 0 when the stream ended cleanly after its final
 * record; or a negative errno, with vfm_stream_reader_error() explaining:
 *  -ENOMSG           not a vfiomig stream (wrong magic);
 *  -EPROTONOSUPPORT  another stream version;
 *  -EMSGSIZE         a record longer than its type allows;
 *  -EBADMSG          CRC mismatch;
 *  -EPROTO           anything else the format forbids, truncation included;
 *  -EACCES           VFM_STREAM_DATA_CONNECTION: a JOIN with another token (a
 *                    connection that is not this migration's);
 *  -ENOMEM, or the read callback's error.
 * Errors are final: every later call returns the same one.
 */
int vfm_stream_read(struct vfm_stream_reader *r, struct vfm_record *ret_rec);

/**
 * vfm_stream_reader_finish() - check that the stream ends right after its final
 * record: 0, or -EPROTO when the final record has not been read or bytes follow it
 * (or an earlier error).  Same as vfm_stream_read() returning 0.
 */
int vfm_stream_reader_finish(struct vfm_stream_reader *r);

/**
 * vfm_stream_reader_error() - why the reader failed, as a sentence naming the record
 * and field ("DATA record for device 3: offset 4096, expected 8192"); "" if it has
 * not.  Valid until @r is freed.
 */
const char *vfm_stream_reader_error(const struct vfm_stream_reader *r);

/**
 * vfm_stream_reader_position() - stream offset of the start of the last record read
 * or being read (0 for the preamble).
 */
uint64_t vfm_stream_reader_position(const struct vfm_stream_reader *r);

/** vfm_stream_reader_header() - the HEADER read so far, or NULL. */
const struct vfm_stream_header *
vfm_stream_reader_header(const struct vfm_stream_reader *r);

/* ------------------------------------------------------------------------- */
/* memory adapter                                                            */

struct vfm_stream_mem {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

/** vfm_stream_mem_read() - a vfm_stream_read_fn over a struct vfm_stream_mem. */
ssize_t vfm_stream_mem_read(void *userdata, void *buf, size_t len);
