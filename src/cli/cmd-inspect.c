// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig inspect FILE`: what a saved image holds, without a device: the header,
 * each device's identity, its bytes per phase, its VF settings, and whether every
 * record passes the checks a restore would make.  The library's stream reader does
 * all the parsing (lengths bounded per type before anything is read, the CRC before
 * the payload is looked at, the order and totals); this file only counts and prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"
#include "net.h"
#include "stream.h"

/* JSON keeps every record in memory: past this many, the list stops (text does not
 * keep them, and neither list is printed without --records). */
#define JSON_RECORDS_MAX 100000

struct source {
	int fd;
	uint64_t pos; /* bytes read so far */
};

/* What a device's records added up to. */
struct devstat {
	uint64_t bytes[2];  /* precopy, stop-copy */
	uint64_t chunks[2]; /* DATA records of each phase */
	bool ended;
	bool has_vf;
	struct vfm_vf_config vf;
};

struct inspect {
	struct cli *cli;
	const char *path;
	bool records;	     /* --records */
	uint64_t n_records;  /* read and checked, CRC included */
	uint64_t per_type[8]; /* by index of type_order */
	uint64_t listed;
	struct devstat dev[VFM_STREAM_MAX_DEVICES];
	struct vfm_stream_header hdr; /* the reader's copy dies with it */
	bool have_hdr;
	uint16_t final_type; /* END, COMMIT or ABORT, once read; 0 before */
	uint32_t abort_errno;
	char abort_reason[VFM_STREAM_MSG_MAX]; /* the reader's copy dies with it */
	uint64_t end_total; /* END's total */
	char error[1200]; /* room for a whole ABORT reason */
	uint64_t error_offset;
};

static const uint16_t type_order[] = {
	VFM_STREAM_HEADER,     VFM_STREAM_VF_CONFIG, VFM_STREAM_DATA,   VFM_STREAM_DEVICE_END,
	VFM_STREAM_END,	       VFM_STREAM_COMMIT,    VFM_STREAM_ABORT,
};
assert_cc(ELEMENTSOF(type_order) <= ELEMENTSOF(((struct inspect *)0)->per_type));

/* read(2) until @len bytes or the end of the file: a vfm_stream_read_fn. */
static ssize_t read_full(void *userdata, void *buf, size_t len)
{
	struct source *s = userdata;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(s->fd, (uint8_t *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	s->pos += got;
	return (ssize_t)got;
}

static enum vfm_device_kind device_kind(uint16_t kind)
{
	switch (kind) {
	case VFM_STREAM_KIND_MDEV: return VFM_DEVICE_MDEV;
	case VFM_STREAM_KIND_FD: return VFM_DEVICE_FD;
	case VFM_STREAM_KIND_SIM: return VFM_DEVICE_SIM;
	case VFM_STREAM_KIND_PCI:
	default: return VFM_DEVICE_PCI; /* the reader admits no other kind */
	}
}

static void print_header(struct inspect *in, const struct vfm_stream_header *h)
{
	struct out *o = in->cli->out;
	char buf[64];

	/* the reader refuses another version before the HEADER */
	out_u64(o, "stream_version", "vfiomig stream version %s\n", VFM_STREAM_VERSION);
	snprintf(buf, sizeof(buf), "%016" PRIx64, h->stream_id);
	out_str(o, "stream_id", "  stream id %s", buf);
	out_u64(o, "header_flags", ", header flags %s", h->flags);
	out_bool(o, "precopy", NULL, h->flags & VFM_STREAM_F_PRECOPY);
	out_bool(o, "one_way", NULL, !(h->flags & VFM_STREAM_F_COMMIT));
	out_text(o, " (%s%s)\n",
		 h->flags & VFM_STREAM_F_PRECOPY ? "precopy chunks may follow, " : "",
		 h->flags & VFM_STREAM_F_COMMIT ? "two-way: ends with COMMIT or ABORT"
						: "one-way: ends with END or ABORT");
}

/* A device: its descriptor, and once the stream has been read, its bytes. */
static void print_device(struct inspect *in, unsigned i)
{
	const struct vfm_stream_devdesc *d = &in->hdr.dev[i];
	const struct devstat *st = &in->dev[i];
	struct vfm_device_identity id = {
		.kind = device_kind(d->kind),
		.vendor = d->vendor,
		.device = d->device,
		.subsystem_vendor = d->subsystem_vendor,
		.subsystem_device = d->subsystem_device,
		.revision = d->revision,
		.iommu_group = -1,
		.vf_index = -1,
	};
	struct cli *cli = in->cli;
	struct out *o = cli->out;
	char flags[64];

	/* the reader checked that each string is NUL-terminated in its field */
	memcpy(id.driver, d->driver, MIN(sizeof(id.driver), sizeof(d->driver)));
	memcpy(id.mdev_type, d->mdev_type, MIN(sizeof(id.mdev_type), sizeof(d->mdev_type)));
	out_object_begin(o, NULL);
	out_u64(o, "device_index", "device %s", i);
	out_str(o, "device", ": %s\n", d->name);
	cli->verbose_identity = true;
	cli_print_identity(cli, &id);
	vfm_flags_format(d->mig_flags, flags, sizeof(flags));
	out_str_list(o, "migration_flags", "\n  migration %s", flags);
	if (d->data_size != VFM_STREAM_SIZE_UNKNOWN)
		out_u64(o, "estimate_bytes", ", driver estimate %s bytes", d->data_size);
	else
		out_null(o, "estimate_bytes");
	out_u64(o, "precopy_bytes", "\n  precopy %s bytes", st->bytes[0]);
	out_u64(o, "precopy_chunks", " in %s chunks", st->chunks[0]);
	out_u64(o, "stopcopy_bytes", ", stop-copy %s bytes", st->bytes[1]);
	out_u64(o, "stopcopy_chunks", " in %s chunks", st->chunks[1]);
	out_u64(o, "total_bytes", ", %s bytes in all", st->bytes[0] + st->bytes[1]);
	out_bool(o, "ended", st->ended ? NULL : " (no DEVICE_END)", st->ended);
	if (st->has_vf) {
		char line[256];

		if (vfm_vf_config_format(&st->vf, line, sizeof(line)) < 0)
			line[0] = 0;
		out_text(o, "\n  VF settings of source VF %u: %s", st->vf.vf,
			 line[0] ? line : "none held");
		if (out_is_json(o)) { /* its text is vf list's layout: the line above */
			out_object_begin(o, "vf_config");
			out_u64(o, "source_vf", NULL, st->vf.vf);
			cli_print_vf_config(o, &st->vf);
			out_object_end(o);
		}
	} else {
		out_null(o, "vf_config");
		if (d->dev_flags & VFM_STREAM_DEV_VF_CONFIG)
			out_text(o, "\n  VF settings announced, not read");
	}
	out_text(o, "\n");
	out_object_end(o);
}

/* --records: one line (an object) per record, as it is read. */
static void list_record(struct inspect *in, const struct vfm_record *rec, uint64_t at,
			uint64_t size)
{
	struct out *o = in->cli->out;
	char eb[24];

	if (out_is_json(o) && in->listed == JSON_RECORDS_MAX)
		return;
	in->listed++;
	out_object_begin(o, NULL);
	out_u64(o, "offset", "  @%s", at);
	out_str(o, "type", " %s", vfm_stream_type_name(rec->type));
	out_u64(o, "size_bytes", " (%s bytes)", size);
	switch (rec->type) {
	case VFM_STREAM_DATA:
		out_u64(o, "device_index", ": device %s", rec->data.dev);
		out_str(o, "phase", " %s", rec->data.phase == VFM_STREAM_PHASE_PRECOPY
						   ? "precopy"
						   : "stop-copy");
		out_u64(o, "data_offset", " at %s", rec->data.offset);
		out_u64(o, "data_bytes", ", %s bytes", rec->data.len);
		break;
	case VFM_STREAM_VF_CONFIG:
		out_u64(o, "device_index", ": device %s", rec->vf_config.dev);
		break;
	case VFM_STREAM_DEVICE_END:
		out_u64(o, "device_index", ": device %s", rec->device_end.dev);
		out_u64(o, "total_bytes", ", %s bytes", rec->device_end.total);
		out_u64(o, "precopy_bytes", " (%s precopy)", rec->device_end.precopy);
		break;
	case VFM_STREAM_END:
		out_u64(o, "device_count", ": %s devices", rec->end.n_devices);
		out_u64(o, "total_bytes", ", %s bytes", rec->end.total);
		break;
	case VFM_STREAM_ABORT:
		out_u64(o, "errno", ": errno %s", rec->abort.error);
		out_str(o, "errno_name", NULL, out_errno_name((int)rec->abort.error, eb));
		out_str(o, "reason", ", %s", rec->abort.reason);
		break;
	default: break;
	}
	out_text(o, "\n");
	out_object_end(o);
}

static void count_type(struct inspect *in, uint16_t type)
{
	for (size_t i = 0; i < ELEMENTSOF(type_order); i++)
		if (type_order[i] == type)
			in->per_type[i]++;
}

/* A record the reader accepted: count it, decode what it carries for us. */
static int take_record(struct inspect *in, const struct vfm_record *rec)
{
	char why[VFM_NET_WHY_MAX];
	struct devstat *st;
	int r;

	count_type(in, rec->type);
	switch (rec->type) {
	case VFM_STREAM_DATA:
		st = &in->dev[rec->data.dev];
		st->bytes[rec->data.phase == VFM_STREAM_PHASE_STOPCOPY] += rec->data.len;
		st->chunks[rec->data.phase == VFM_STREAM_PHASE_STOPCOPY]++;
		return 0;
	case VFM_STREAM_DEVICE_END:
		in->dev[rec->device_end.dev].ended = true;
		return 0;
	case VFM_STREAM_VF_CONFIG:
		/* the reader checks the record's place; the settings are net.c's */
		st = &in->dev[rec->vf_config.dev];
		r = vfm_vf_config_decode(rec->vf_config.bytes, rec->vf_config.len, &st->vf,
					 why, sizeof(why));
		if (r < 0) {
			snprintf(in->error, sizeof(in->error),
				 "VF_CONFIG record for device %u: %s", rec->vf_config.dev, why);
			return r;
		}
		st->has_vf = true;
		return 0;
	case VFM_STREAM_END:
		in->end_total = rec->end.total;
		in->final_type = rec->type;
		return 0;
	case VFM_STREAM_ABORT:
		in->abort_errno = rec->abort.error;
		snprintf(in->abort_reason, sizeof(in->abort_reason), "%s", rec->abort.reason);
		/* fall through */
	case VFM_STREAM_COMMIT:
		in->final_type = rec->type;
		return 0;
	default: return 0;
	}
}

/* Read the whole stream; 0 when it is valid, or -errno with in->error set. */
static int read_stream(struct inspect *in, struct source *src)
{
	struct vfm_stream_reader *rd = NULL;
	struct out *o = in->cli->out;
	bool listing = false;
	int r;

	r = vfm_stream_reader_new(VFM_STREAM_TO_DESTINATION, 0, read_full, src, &rd);
	if (r < 0) {
		snprintf(in->error, sizeof(in->error), "%s", strerror(-r));
		return r;
	}
	for (;;) {
		struct vfm_record rec;
		uint64_t at;

		r = vfm_stream_read(rd, &rec);
		at = vfm_stream_reader_position(rd);
		if (r == 0) /* the stream ended right after its final record */
			break;
		if (r < 0) {
			in->error_offset = at;
			if (in->n_records == 0 && at == 0)
				snprintf(in->error, sizeof(in->error), "preamble (byte 0): %s",
					 vfm_stream_reader_error(rd));
			else
				snprintf(in->error, sizeof(in->error), "record %" PRIu64
					 " (byte %" PRIu64 "): %s", in->n_records + 1, at,
					 vfm_stream_reader_error(rd));
			break;
		}
		in->n_records++;
		if (rec.type == VFM_STREAM_HEADER) {
			in->hdr = *rec.header;
			in->have_hdr = true;
			print_header(in, &in->hdr);
		}
		r = take_record(in, &rec);
		if (r < 0) {
			char what[sizeof(in->error)];

			memcpy(what, in->error, sizeof(what));
			in->error_offset = at;
			snprintf(in->error, sizeof(in->error),
				 "record %" PRIu64 " (byte %" PRIu64 "): %.500s", in->n_records,
				 at, what);
			break;
		}
		if (in->records) {
			if (!listing) {
				out_text(o, "records:\n");
				out_array_begin(o, "records");
				listing = true;
			}
			list_record(in, &rec, at, src->pos - at);
		}
	}
	if (listing) {
		out_array_end(o);
		out_bool(o, "records_complete", NULL, in->listed == in->n_records);
	}
	vfm_stream_reader_free(rd);
	return r < 0 ? r : 0;
}

static void help(void)
{
	printf("Usage: vfiomig inspect FILE [--records] [-j] [-p]\n\n"
	       "Read a saved image (what 'vfiomig save --to file:FILE' wrote; - for\n"
	       "standard input) and print its header, each device's identity, its bytes\n"
	       "of precopy and stop-copy data and its VF network settings, checking every\n"
	       "record as a restore would (each CRC32C, lengths, offsets, totals, order).\n"
	       "Touches no device.  Exit 0 for a complete, valid image; 1 for a bad\n"
	       "CRC, a truncated or otherwise invalid image (the message names the\n"
	       "record and its byte offset), one whose save aborted, or a read error.\n\n"
	       "  --records        list every record: offset, type, size, contents\n");
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"records", no_argument, NULL, 'R'},
		{},
	};
	struct inspect in = {.cli = cli};
	struct source src = {.fd = -1};
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t k = 0; /* record types seen */
	int c, r, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", opts, help, &ex)) > 0) {
		switch (c) {
		case 'R': in.records = true; break;
		default: return EXIT_USAGE;
		}
	}
	if (c < 0)
		return ex;
	if (optind != argc - 1) {
		cli_error(cli, "inspect needs one FILE (see vfiomig inspect --help)");
		return EXIT_USAGE;
	}
	in.path = argv[optind];
	/* the URI save was given names the same file */
	if (strncmp(in.path, "file:", 5) == 0)
		in.path += 5;
	if (streq(in.path, "-")) {
		if (isatty(STDIN_FILENO)) {
			cli_error(cli, "inspect -: standard input is a terminal, not an image");
			return EXIT_USAGE;
		}
		src.fd = STDIN_FILENO;
	} else {
		fd = open(in.path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			cli_error(cli, "%s: %m", in.path);
			return EXIT_FAILED;
		}
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			cli_error(cli, "%s: %s", in.path, strerror(EISDIR));
			return EXIT_FAILED;
		}
		src.fd = fd;
	}

	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "file", "%s: ", in.path);
	r = read_stream(&in, &src);
	if (!in.have_hdr)
		out_text(cli->out, "no valid HEADER record\n");

	/* what was read, even when the rest is bad */
	out_array_begin(cli->out, "devices");
	for (unsigned i = 0; in.have_hdr && i < in.hdr.n_devices; i++)
		print_device(&in, i);
	out_array_end(cli->out);
	out_object_begin(cli->out, "record_counts");
	for (size_t i = 0; i < ELEMENTSOF(type_order); i++) {
		char fmt[40];

		if (!in.per_type[i])
			continue;
		snprintf(fmt, sizeof(fmt), "%s%%s %s", k++ ? ", " : "",
			 vfm_stream_type_name(type_order[i]));
		out_u64(cli->out, vfm_stream_type_name(type_order[i]), fmt, in.per_type[i]);
	}
	out_object_end(cli->out);
	out_u64(cli->out, "record_count", k ? ": %s records" : "%s records", in.n_records);
	out_u64(cli->out, "crc_checked", ", %s CRC32C checked", in.n_records);
	out_u64(cli->out, "size_bytes", ", %s bytes read\n", src.pos);
	if (in.final_type == VFM_STREAM_END)
		out_u64(cli->out, "end_total_bytes", "END: %s bytes of device data\n",
			in.end_total);
	else
		out_null(cli->out, "end_total_bytes");
	out_str(cli->out, "final_record", NULL,
		in.final_type ? vfm_stream_type_name(in.final_type) : "none");
	if (r == 0 && in.final_type == VFM_STREAM_ABORT) {
		char eb[24];

		snprintf(in.error, sizeof(in.error), "the save aborted the stream: %s (%s)",
			 in.abort_reason, out_errno_name((int)in.abort_errno, eb));
		in.error_offset = 0;
		r = -ECANCELED;
	}
	out_bool(cli->out, "valid", NULL, r == 0);
	if (r < 0) {
		out_error(cli->out, "error", r, in.error);
		if (r != -ECANCELED)
			out_u64(cli->out, "error_offset", NULL, in.error_offset);
		cli_error(cli, "%s: %s", streq(in.path, "-") ? "stdin" : in.path, in.error);
		ex = EXIT_FAILED;
	} else {
		out_text(cli->out, "valid: every record passed, the stream ends after its %s\n",
			 vfm_stream_type_name(in.final_type));
	}
	out_object_end(cli->out);
	out_finish(cli->out);
	cli->out = NULL;
	return ex;
}
