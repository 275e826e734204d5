// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The request parser: untrusted bytes from the control socket in, a checked request
 * or an error sentence out.  Strict JSON (json-c's strict mode, UTF-8 checked, depth
 * bounded), then a table of fields: each command names the fields it allows and the
 * ones it requires; anything else is an error, so that a typo never passes as a
 * default.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "contract.h"
#include "job.h"
#include "macro.h"
#include "request.h"
#include "stream.h"
#include "util.h"

enum field {
	F_DEVICES,
	F_TO,
	F_FROM,
	F_STREAM_FD,
	F_STREAM_NAME,
	F_LISTEN,
	F_CONNECT,
	F_PRECOPY,
	F_PRECOPY_ROUNDS,
	F_PRECOPY_SECONDS,
	F_DIRTY_THRESHOLD,
	F_FORCE,
	F_CHUNK,
	F_TIMEOUT,
	F_QUIESCE_ACK,
	F_ACK_TIMEOUT,
	F_CANCEL_ON_DISCONNECT,
	F_WATCH,
	F_MAP,
	F_ANY_ID,
	F_VF_CONFIG,
	F_JOB,
	F_ALL,
	F_ABORT,
	F_PROBE,
	F_TLS_CREDS,
	F_TLS_PSK,
	F_TLS_HOSTNAME,
	F_TLS_AUTHZ,
	F_VF_TOKEN,
	F_RANGES,
	F_PAGE_SIZE,
	F_BITMAP_FD,
	F_BITMAP_OFFSET,
	F_BITMAP_SIZE,
	F_STREAMS,
	F_MAX,
};
_Static_assert(F_MAX <= 64, "fields are bits of a uint64_t");

enum ftype { T_BOOL, T_UINT, T_STRING, T_DEVICES, T_MAP, T_AUTHZ, T_RANGES };

struct field_desc {
	const char *name;
	enum ftype type;
	uint64_t min, max; /* T_UINT */
};

static const struct field_desc fields[F_MAX] = {
	[F_DEVICES] = {"devices", T_DEVICES},
	[F_TO] = {"to", T_STRING},
	[F_FROM] = {"from", T_STRING},
	[F_STREAM_FD] = {"stream_fd", T_UINT, 0, VFMD_FDS_MAX - 1},
	[F_STREAM_NAME] = {"stream_name", T_STRING},
	[F_LISTEN] = {"listen", T_BOOL},
	[F_CONNECT] = {"connect", T_BOOL},
	[F_PRECOPY] = {"precopy", T_BOOL},
	[F_PRECOPY_ROUNDS] = {"precopy_max_rounds", T_UINT, 0, 1000000},
	[F_PRECOPY_SECONDS] = {"precopy_max_usec", T_UINT, 0, 86400ull * 1000000},
	[F_DIRTY_THRESHOLD] = {"dirty_threshold_bytes", T_UINT, 0, INT64_MAX},
	[F_FORCE] = {"force", T_BOOL},
	[F_CHUNK] = {"chunk_bytes", T_UINT, 1, 16u << 20},
	[F_TIMEOUT] = {"timeout_usec", T_UINT, 0, 86400ull * 1000000},
	[F_QUIESCE_ACK] = {"quiesce_ack", T_BOOL},
	[F_ACK_TIMEOUT] = {"ack_timeout_usec", T_UINT, 1000,
			   VFMD_ACK_TIMEOUT_MAX * 1000000ull},
	[F_CANCEL_ON_DISCONNECT] = {"cancel_on_disconnect", T_BOOL},
	[F_WATCH] = {"watch", T_BOOL},
	[F_MAP] = {"map", T_MAP},
	[F_ANY_ID] = {"any_id", T_BOOL},
	[F_VF_CONFIG] = {"vf_config", T_BOOL},
	[F_JOB] = {"job", T_UINT, 1, UINT32_MAX},
	[F_ALL] = {"all", T_BOOL},
	[F_ABORT] = {"abort", T_STRING},
	[F_PROBE] = {"probe", T_BOOL},
	[F_TLS_CREDS] = {"tls_creds", T_STRING},
	[F_TLS_PSK] = {"tls_psk", T_STRING},
	[F_TLS_HOSTNAME] = {"tls_hostname", T_STRING},
	[F_TLS_AUTHZ] = {"tls_authz", T_AUTHZ},
	[F_VF_TOKEN] = {"vf_token", T_STRING},
	[F_RANGES] = {"ranges", T_RANGES},
	[F_PAGE_SIZE] = {"page_size_bytes", T_UINT, 0, VFM_DIRTY_PAGE_MAX},
	[F_BITMAP_FD] = {"bitmap_fd", T_UINT, 0, VFMD_FDS_MAX - 1},
	[F_BITMAP_OFFSET] = {"bitmap_offset", T_UINT, 0, VFMD_BITMAP_OFFSET_MAX},
	[F_BITMAP_SIZE] = {"bitmap_size_bytes", T_UINT, 1, VFMD_BITMAP_MAX},
	[F_STREAMS] = {"streams", T_UINT, 1, VFM_STREAMS_MAX},
};

#define TLS_FIELDS (B(F_TLS_CREDS) | B(F_TLS_PSK) | B(F_TLS_HOSTNAME) | B(F_TLS_AUTHZ))

#define B(f) (UINT64_C(1) << (f))

#define SAVE_FIELDS                                                                     \
	(B(F_DEVICES) | B(F_TO) | B(F_STREAM_FD) | B(F_STREAM_NAME) | B(F_LISTEN) |     \
	 B(F_PRECOPY) | B(F_PRECOPY_ROUNDS) | B(F_PRECOPY_SECONDS) |                    \
	 B(F_DIRTY_THRESHOLD) | B(F_FORCE) | B(F_CHUNK) | B(F_TIMEOUT) |                \
	 B(F_QUIESCE_ACK) | B(F_ACK_TIMEOUT) | B(F_CANCEL_ON_DISCONNECT) | B(F_WATCH) | \
	 B(F_VF_CONFIG) | B(F_VF_TOKEN) | B(F_STREAMS) | TLS_FIELDS)
#define RESTORE_FIELDS                                                                 \
	(B(F_DEVICES) | B(F_FROM) | B(F_STREAM_FD) | B(F_STREAM_NAME) | B(F_CONNECT) | \
	 B(F_MAP) | B(F_ANY_ID) | B(F_TIMEOUT) | B(F_CANCEL_ON_DISCONNECT) |           \
	 B(F_WATCH) | B(F_VF_CONFIG) | B(F_VF_TOKEN) | TLS_FIELDS)

#define DIRTY_FIELDS (B(F_DEVICES) | B(F_RANGES))

struct cmd_desc {
	const char *name;
	uint64_t allowed;
	uint64_t required;
};

static const struct cmd_desc commands[VFMD_CMD_MAX] = {
	[VFMD_CMD_VERSION] = {"version", 0, 0},
	[VFMD_CMD_LIST] = {"list", B(F_PROBE), 0},
	[VFMD_CMD_INFO] = {"info", B(F_DEVICES) | B(F_VF_TOKEN), B(F_DEVICES)},
	[VFMD_CMD_ATTACH] = {"attach", B(F_DEVICES) | B(F_VF_TOKEN), B(F_DEVICES)},
	[VFMD_CMD_DETACH] = {"detach", B(F_DEVICES), B(F_DEVICES)},
	[VFMD_CMD_SAVE] = {"save", SAVE_FIELDS, B(F_DEVICES)},
	[VFMD_CMD_RESTORE] = {"restore", RESTORE_FIELDS, B(F_DEVICES)},
	[VFMD_CMD_JOB] = {"job", B(F_JOB), B(F_JOB)},
	[VFMD_CMD_JOBS] = {"jobs", 0, 0},
	[VFMD_CMD_WATCH] = {"watch", B(F_JOB) | B(F_ALL), 0},
	[VFMD_CMD_UNWATCH] = {"unwatch", B(F_JOB) | B(F_ALL), 0},
	[VFMD_CMD_CANCEL] = {"cancel", B(F_JOB), B(F_JOB)},
	[VFMD_CMD_CONTINUE] = {"continue", B(F_JOB) | B(F_ABORT), B(F_JOB)},
	[VFMD_CMD_SHUTDOWN] = {"shutdown", 0, 0},
	[VFMD_CMD_RESUME] = {"resume", B(F_JOB), B(F_JOB)},
	[VFMD_CMD_RELEASE] = {"release", B(F_JOB), B(F_JOB)},
	[VFMD_CMD_DIRTY_START] = {"dirty_start", DIRTY_FIELDS | B(F_PAGE_SIZE),
				  DIRTY_FIELDS},
	[VFMD_CMD_DIRTY_REPORT] = {"dirty_report",
				   DIRTY_FIELDS | B(F_PAGE_SIZE) | B(F_BITMAP_FD) |
					   B(F_BITMAP_OFFSET) | B(F_BITMAP_SIZE),
				   DIRTY_FIELDS | B(F_BITMAP_FD)},
	[VFMD_CMD_DIRTY_STOP] = {"dirty_stop", B(F_DEVICES), B(F_DEVICES)},
};

const char *vfmd_cmd_name(enum vfmd_cmd cmd)
{
	if ((unsigned)cmd >= VFMD_CMD_MAX)
		return "unknown";
	return commands[cmd].name;
}

static int bad(struct vfmd_error *e, int err, const char *fmt, ...) _printf_(3, 4);
static int bad(struct vfmd_error *e, int err, const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return err;
}

/* A JSON string without NUL bytes, shorter than @size, copied into @buf. */
static int get_string(struct json_object *v, char *buf, size_t size)
{
	const char *s;
	int len;

	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len < 0 || (size_t)len != strlen(s))
		return -EINVAL; /* an embedded NUL */
	if ((size_t)len >= size)
		return -E2BIG;
	/* it may end up in a log line or on a terminal: printable text only */
	if (!vfm_stream_text_valid(s, (size_t)len))
		return -EINVAL;
	memcpy(buf, s, (size_t)len + 1);
	return 0;
}

static int get_uint(struct json_object *v, uint64_t min, uint64_t max, uint64_t *ret)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	/* json-c keeps integers above INT64_MAX as unsigned; none of ours is that big. */
	errno = 0;
	i = json_object_get_int64(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return -ERANGE;
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		return -ERANGE;
	*ret = (uint64_t)i;
	return 0;
}

/*
 * A name "fd:N" or "fd:N:NAME": descriptor N of the request, with NAME as its name
 * (or none).  Not with an "fd" field too; only where descriptors may name devices.
 * 1: @ref is set; -EINVAL otherwise.
 */
static int fd_name(struct vfmd_request *req, struct vfmd_devref *ref, bool has_fd)
{
	const char *colon = strchr(ref->name + 3, ':');
	char num[8];
	size_t len = colon ? (size_t)(colon - (ref->name + 3)) : strlen(ref->name + 3);
	int k;

	if (has_fd || len == 0 || len >= sizeof(num) ||
	    (req->cmd != VFMD_CMD_ATTACH && req->cmd != VFMD_CMD_SAVE &&
	     req->cmd != VFMD_CMD_RESTORE))
		return -EINVAL;
	memcpy(num, ref->name + 3, len);
	num[len] = '\0';
	if (!isdigit((unsigned char)num[0]) || parse_int(num, 0, VFMD_FDS_MAX - 1, &k) < 0)
		return -EINVAL;
	if (colon && (!colon[1] || strncmp(colon + 1, "fd:", 3) == 0))
		return -EINVAL;
	ref->fd = k;
	memmove(ref->name, colon ? colon + 1 : "", colon ? strlen(colon + 1) + 1 : 1);
	return 1;
}

static int parse_devices(struct vfmd_request *req, struct json_object *v,
			 struct vfmd_error *e)
{
	const char *cmd = commands[req->cmd].name;
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return bad(e, -EINVAL, "%s: \"devices\" must be an array", cmd);
	n = json_object_array_length(v);
	if (n == 0)
		return bad(e, -EINVAL, "%s: \"devices\" is empty", cmd);
	if (n > VFM_SET_MAX)
		return bad(e, -E2BIG, "%s: at most %d devices", cmd, VFM_SET_MAX);
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(v, i), *name = NULL,
				   *fd = NULL;
		struct vfmd_devref *ref = &req->devices[i];
		int r;

		ref->fd = -1;
		if (json_object_is_type(d, json_type_object)) {
			json_object_object_foreach (d, key, val) {
				if (streq(key, "device"))
					name = val;
				else if (streq(key, "fd"))
					fd = val;
				else
					return bad(e, -EINVAL,
						   "%s: devices[%zu]: unknown field "
						   "\"%.64s\"",
						   cmd, i, key);
			}
		} else {
			name = d;
		}
		if (name) {
			r = get_string(name, ref->name, sizeof(ref->name));
			if (r < 0 || !ref->name[0])
				return bad(e, -EINVAL,
					   "%s: devices[%zu]: a name is non-empty "
					   "printable text of fewer than %d bytes",
					   cmd, i, VFM_NAME_MAX);
			/* The library would take fd:N as the daemon's own descriptor N
			 * (its listening socket, a job's stream...): from a client it
			 * means descriptor N of those sent with this request. */
			if (strncmp(ref->name, "fd:", 3) == 0) {
				r = fd_name(req, ref, !!fd);
				if (r < 0)
					return bad(e, -EINVAL,
						   "%s: devices[%zu]: \"%.64s\": fd:N[:NAME] "
						   "is descriptor N (0..%d) of those sent with "
						   "the request, as {\"fd\": N, \"device\": NAME}",
						   cmd, i, ref->name, VFMD_FDS_MAX - 1);
				if (ref->fd >= 0 && !ref->name[0] &&
				    req->cmd == VFMD_CMD_ATTACH)
					return bad(e, -EINVAL,
						   "%s: devices[%zu]: an attached descriptor "
						   "needs the device's name (fd:N:NAME)",
						   cmd, i);
				if (r > 0)
					continue;
			}
		}
		if (fd) {
			uint64_t k;

			if (req->cmd != VFMD_CMD_ATTACH && req->cmd != VFMD_CMD_SAVE &&
			    req->cmd != VFMD_CMD_RESTORE)
				return bad(e, -EINVAL, "%s: devices[%zu]: no \"fd\" here",
					   cmd, i);
			if (get_uint(fd, 0, VFMD_FDS_MAX - 1, &k) < 0)
				return bad(e, -EINVAL,
					   "%s: devices[%zu]: \"fd\" must be an integer "
					   "0..%d",
					   cmd, i, VFMD_FDS_MAX - 1);
			ref->fd = (int)k;
		}
		if (!name && !fd)
			return bad(e, -EINVAL, "%s: devices[%zu]: needs \"device\" or \"fd\"",
				   cmd, i);
		if (!name && req->cmd == VFMD_CMD_ATTACH)
			return bad(e, -EINVAL,
				   "%s: devices[%zu]: an attached descriptor needs the "
				   "device's "
				   "name",
				   cmd, i);
	}
	req->n_devices = n;
	return 0;
}

static int parse_map(struct vfmd_request *req, struct json_object *v,
		     struct vfmd_error *e)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return bad(e, -EINVAL, "restore: \"map\" must be an array");
	n = json_object_array_length(v);
	if (n == 0 || n > VFM_SET_MAX)
		return bad(e, -EINVAL, "restore: \"map\" must have 1..%d entries",
			   VFM_SET_MAX);
	for (size_t i = 0; i < n; i++) {
		uint64_t k;

		if (get_uint(json_object_array_get_idx(v, i), 0, VFM_SET_MAX - 1, &k) < 0)
			return bad(e, -EINVAL,
				   "restore: map[%zu] must be an integer 0..%d", i,
				   VFM_SET_MAX - 1);
		req->map[i] = (unsigned)k;
	}
	req->has_map = true;
	req->n_map = n; /* checked against the device count once both are known */
	return 0;
}

/* "tls_authz": an array of 1..VFM_TLS_AUTHZ_MAX non-empty glob patterns */
static int parse_authz(struct vfmd_request *req, struct json_object *v,
		       struct vfmd_error *e)
{
	const char *cmd = commands[req->cmd].name;
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return bad(e, -EINVAL, "%s: \"tls_authz\" must be an array", cmd);
	n = json_object_array_length(v);
	if (n == 0 || n > VFM_TLS_AUTHZ_MAX)
		return bad(e, -EINVAL, "%s: \"tls_authz\" must have 1..%d patterns", cmd,
			   VFM_TLS_AUTHZ_MAX);
	for (size_t i = 0; i < n; i++)
		if (get_string(json_object_array_get_idx(v, i), req->tls_authz[i],
			       sizeof(req->tls_authz[i])) < 0 ||
		    !req->tls_authz[i][0])
			return bad(e, -EINVAL,
				   "%s: tls_authz[%zu] must be a pattern of 1..%d bytes", cmd,
				   i, VFM_TLS_AUTHZ_LEN_MAX);
	req->n_tls_authz = n;
	return 0;
}

/* "ranges": 1..VFM_DIRTY_RANGES_MAX objects {"iova": N, "length_bytes": N}.  The library
 * checks alignment, overlaps and sizes against the page size (with a sentence naming
 * the device); here each number is only bounded. */
static int parse_ranges(struct vfmd_request *req, struct json_object *v,
			struct vfmd_error *e)
{
	const char *cmd = commands[req->cmd].name;
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return bad(e, -EINVAL, "%s: \"ranges\" must be an array", cmd);
	n = json_object_array_length(v);
	if (n == 0 || n > VFM_DIRTY_RANGES_MAX)
		return bad(e, n ? -E2BIG : -EINVAL,
			   "%s: \"ranges\" must have 1..%d entries", cmd,
			   VFM_DIRTY_RANGES_MAX);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(v, i), *iova = NULL,
				   *len = NULL;

		if (!json_object_is_type(r, json_type_object))
			return bad(e, -EINVAL,
				   "%s: ranges[%zu] must be {\"iova\": N, "
				   "\"length_bytes\": N}",
				   cmd, i);
		json_object_object_foreach (r, key, val) {
			if (streq(key, "iova"))
				iova = val;
			else if (streq(key, "length_bytes"))
				len = val;
			else
				return bad(e, -EINVAL,
					   "%s: ranges[%zu]: unknown field \"%.64s\"",
					   cmd, i, key);
		}
		if (!iova || !len ||
		    get_uint(iova, 0, INT64_MAX, &req->ranges[i].iova) < 0 ||
		    get_uint(len, 1, VFM_DIRTY_RANGE_MAX, &req->ranges[i].length) < 0)
			return bad(e, -EINVAL,
				   "%s: ranges[%zu] needs \"iova\" 0..2^63-1 and "
				   "\"length_bytes\" 1..2^48",
				   cmd, i);
	}
	req->n_ranges = n;
	return 0;
}

/* A path field: absolute (the daemon's directory is not the client's). */
static int get_path(struct json_object *v, char *buf, size_t size)
{
	int r = get_string(v, buf, size);

	if (r < 0 || buf[0] != '/')
		return -EINVAL;
	return 0;
}

static int set_field(struct vfmd_request *req, enum field f, struct json_object *v,
		     struct vfmd_error *e)
{
	const struct field_desc *d = &fields[f];
	const char *cmd = commands[req->cmd].name;
	uint64_t u = 0;
	bool b = false;
	int r;

	switch (d->type) {
	case T_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return bad(e, -EINVAL, "%s: \"%s\" must be true or false", cmd,
				   d->name);
		b = json_object_get_boolean(v);
		break;
	case T_UINT:
		r = get_uint(v, d->min, d->max, &u);
		if (r < 0)
			return bad(e, -EINVAL, "%s: \"%s\" must be an integer %llu..%llu",
				   cmd, d->name, (unsigned long long)d->min,
				   (unsigned long long)d->max);
		break;
	case T_STRING: break;
	case T_DEVICES: return parse_devices(req, v, e);
	case T_MAP: return parse_map(req, v, e);
	case T_AUTHZ: return parse_authz(req, v, e);
	case T_RANGES: return parse_ranges(req, v, e);
	}

	switch (f) {
	case F_TO:
	case F_FROM:
		r = get_string(v, req->uri, sizeof(req->uri));
		if (r < 0 || !req->uri[0])
			return bad(e, -EINVAL,
				   "%s: \"%s\" must be a URI of at most %d bytes", cmd,
				   d->name, VFM_URI_MAX);
		break;
	case F_STREAM_NAME:
		r = get_string(v, req->stream_name, sizeof(req->stream_name));
		if (r < 0)
			return bad(e, -EINVAL,
				   "%s: \"stream_name\" must be a string of at most %d "
				   "bytes",
				   cmd, VFM_URI_MAX);
		break;
	case F_ABORT:
		r = get_string(v, req->abort_reason, sizeof(req->abort_reason));
		if (r < 0 || !req->abort_reason[0])
			return bad(e, -EINVAL,
				   "%s: \"abort\" must be a non-empty printable reason "
				   "of fewer than %d bytes",
				   cmd, VFMD_REASON_MAX);
		break;
	case F_TLS_CREDS:
	case F_TLS_PSK:
		r = get_path(v, f == F_TLS_CREDS ? req->tls_creds : req->tls_psk,
			     sizeof(req->tls_creds));
		if (r < 0)
			return bad(e, -EINVAL,
				   "%s: \"%s\" must be an absolute path of at most %d bytes",
				   cmd, d->name, VFM_TLS_PATH_MAX);
		break;
	case F_TLS_HOSTNAME:
		r = get_string(v, req->tls_hostname, sizeof(req->tls_hostname));
		if (r < 0 || !req->tls_hostname[0])
			return bad(e, -EINVAL,
				   "%s: \"tls_hostname\" must be a name of 1..%d bytes", cmd,
				   VFM_TLS_HOSTNAME_MAX);
		break;
	case F_VF_TOKEN:
		/* a UUID and nothing else: it goes into a name the kernel parses */
		r = get_string(v, req->vf_token, sizeof(req->vf_token));
		if (r < 0 || !is_uuid(req->vf_token)) {
			req->vf_token[0] = '\0';
			return bad(e, -EINVAL,
				   "%s: \"vf_token\" must be a UUID "
				   "(bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3)",
				   cmd);
		}
		break;
	case F_STREAM_FD: req->stream_fd = (int)u; break;
	case F_LISTEN: req->listen = b; break;
	case F_CONNECT: req->connect = b; break;
	case F_PRECOPY: req->precopy = b; break;
	case F_PRECOPY_ROUNDS: req->precopy_rounds = (uint32_t)u; break;
	case F_PRECOPY_SECONDS: req->precopy_usec = u; break;
	case F_DIRTY_THRESHOLD: req->dirty_threshold = u; break;
	case F_FORCE: req->force = b; break;
	case F_CHUNK: req->chunk = (uint32_t)u; break;
	case F_STREAMS: req->streams = (unsigned)u; break;
	case F_TIMEOUT: req->timeout_ms = (uint32_t)((u + 999) / 1000); break;
	case F_QUIESCE_ACK: req->quiesce_ack = b; break;
	case F_ACK_TIMEOUT: req->ack_timeout_ms = (uint32_t)((u + 999) / 1000); break;
	case F_CANCEL_ON_DISCONNECT: req->cancel_on_disconnect = b; break;
	case F_WATCH: req->watch = b; break;
	case F_ANY_ID: req->any_id = b; break;
	case F_VF_CONFIG: req->vf_config = b; break;
	case F_JOB: req->job = (uint32_t)u; break;
	case F_ALL: req->all = b; break;
	case F_PROBE: req->probe = b; break;
	case F_PAGE_SIZE: req->page_size = u; break;
	case F_BITMAP_FD: req->bitmap_fd = (int)u; break;
	case F_BITMAP_OFFSET: req->bitmap_offset = u; break;
	case F_BITMAP_SIZE: req->bitmap_size = u; break;
	case F_RANGES:
	case F_DEVICES:
	case F_MAP:
	case F_TLS_AUTHZ:
	case F_MAX: break;
	}
	return 0;
}

bool vfmd_uri_is_socket(const char *uri)
{
	return strncmp(uri, "tcp://", 6) == 0 || strncmp(uri, "unix:", 5) == 0;
}

/* What a save or restore needs beyond each field being in range. */
static int check_job(struct vfmd_request *req, uint64_t seen, struct vfmd_error *e)
{
	const char *cmd = commands[req->cmd].name;
	const char *key = req->cmd == VFMD_CMD_SAVE ? "to" : "from";
	bool used[VFMD_FDS_MAX] = {false};
	int max_fd = -1;
	struct vfm_uri *u;
	bool listen;
	int r;

	if (!!(seen & (B(F_TO) | B(F_FROM))) == !!(seen & B(F_STREAM_FD)))
		return bad(e, -EINVAL, "%s: give exactly one of \"%s\" and \"stream_fd\"",
			   cmd, key);
	if (req->has_map) {
		bool taken[VFM_SET_MAX] = {false};

		if (req->n_map != req->n_devices)
			return bad(e, -EINVAL,
				   "restore: \"map\" needs %zu entries, one per device",
				   req->n_devices);
		for (size_t i = 0; i < req->n_devices; i++) {
			if (req->map[i] >= req->n_devices || taken[req->map[i]])
				return bad(e, -EINVAL,
					   "restore: \"map\" must be a permutation of "
					   "0..%zu",
					   req->n_devices - 1);
			taken[req->map[i]] = true;
		}
	}
	for (size_t i = 0; i <= req->n_devices; i++) {
		int k = i < req->n_devices ? req->devices[i].fd : req->stream_fd;

		if (k < 0)
			continue;
		if (used[k])
			return bad(e, -EINVAL, "%s: descriptor %d is used twice", cmd, k);
		used[k] = true;
		max_fd = MAX(max_fd, k);
	}
	req->n_fds = (size_t)(max_fd + 1);

	if (req->stream_name[0] && req->stream_fd < 0)
		return bad(e, -EINVAL, "%s: \"stream_name\" goes with \"stream_fd\"",
			   cmd);
	if (req->tls_creds[0] && req->tls_psk[0])
		return bad(e, -EINVAL, "%s: \"tls_creds\" and \"tls_psk\" exclude each other",
			   cmd);
	if ((req->tls_hostname[0] || req->n_tls_authz) && !req->tls_creds[0])
		return bad(e, -EINVAL,
			   "%s: \"tls_hostname\" and \"tls_authz\" need \"tls_creds\"", cmd);
	if ((req->tls_creds[0] || req->tls_psk[0]) &&
	    (req->stream_fd >= 0 || !vfmd_uri_is_socket(req->uri)))
		return bad(e, -EINVAL, "%s: TLS runs on tcp:// and unix: streams only", cmd);
	if (req->streams > 1 && (req->stream_fd >= 0 || !vfmd_uri_is_socket(req->uri)))
		return bad(e, -EINVAL,
			   "%s: \"streams\" needs a tcp:// or unix: \"%s\" (the daemon opens "
			   "the data connections itself)",
			   cmd, key);
	if (req->stream_fd >= 0) {
		if (req->listen || req->connect)
			return bad(e, -EINVAL, "%s: \"%s\" needs a tcp:// or unix: URI",
				   cmd, req->listen ? "listen" : "connect");
		return 0;
	}
	/* The daemon runs as root and serves its whole group: exec: would hand any
	 * client a root shell. */
	if (strncmp(req->uri, "exec:", 5) == 0)
		return bad(e, -EPERM,
			   "%s: \"%s\": vfiomigd does not run commands (exec:), that would "
			   "run them as root for any client: run vfiomig %s without "
			   "--connect, or give a tcp://, unix: or file: URI",
			   cmd, key, cmd);
	if (streq(req->uri, "-") || strncmp(req->uri, "fd:", 3) == 0)
		return bad(
			e, -EINVAL,
			"%s: \"%s\": '-' and fd:N would be the daemon's own descriptors: "
			"pass one with the request (\"stream_fd\")",
			cmd, key);
	if ((req->listen || req->connect) && !vfmd_uri_is_socket(req->uri))
		return bad(e, -EINVAL, "%s: \"%s\" needs a tcp:// or unix: URI", cmd,
			   req->listen ? "listen" : "connect");
	/* restore listens on a socket URI unless told to connect, as the CLI does */
	if (req->cmd == VFMD_CMD_RESTORE)
		req->listen = vfmd_uri_is_socket(req->uri) && !req->connect;
	listen = req->listen;
	u = malloc(sizeof(*u));
	if (!u)
		return bad(e, -ENOMEM, "out of memory");
	{
		struct vfm_transport_err terr = {""};

		r = vfm_uri_parse(req->uri, listen, u, &terr);
		free(u);
		if (r < 0)
			return bad(e, -EINVAL, "%s: \"%s\": %s", cmd, key,
				   terr.msg[0] ? terr.msg : strerror(-r));
	}
	return 0;
}

static void request_init(struct vfmd_request *req)
{
	struct vfm_save_opts so;
	struct vfm_restore_opts ro;

	vfm_save_opts_init(&so);
	vfm_restore_opts_init(&ro);
	memset(req, 0, sizeof(*req));
	req->stream_fd = -1;
	req->bitmap_fd = -1;
	req->precopy = so.precopy;
	req->precopy_rounds = so.precopy_max_rounds;
	req->precopy_usec = so.precopy_max_usec;
	req->dirty_threshold = so.dirty_threshold;
	req->chunk = (uint32_t)so.chunk_size;
	req->timeout_ms = so.timeout_ms;
	req->ack_timeout_ms = VFMD_ACK_TIMEOUT_DEF * 1000;
	req->watch = true;
	req->vf_config = !so.no_vf_config;
}

static int check_id(struct json_object *id, struct vfmd_error *e)
{
	if (json_object_is_type(id, json_type_int))
		return 0;
	if (json_object_is_type(id, json_type_string) &&
	    json_object_get_string_len(id) <= VFMD_ID_MAX)
		return 0;
	return bad(e, -EINVAL,
		   "\"id\" must be an integer or a string of at most %d bytes",
		   VFMD_ID_MAX);
}

int vfmd_request_parse(const char *line, size_t len, struct vfmd_request *req,
		       struct json_object **ret_id, struct vfmd_error *e)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *id = NULL, *cmdv = NULL;
	const struct cmd_desc *cd = NULL;
	uint64_t seen = 0;
	char cmdname[32];
	int r;

	request_init(req);
	if (ret_id)
		*ret_id = NULL;
	if (len > VFMD_LINE_MAX) {
		r = bad(e, -EMSGSIZE, "request longer than %d bytes", VFMD_LINE_MAX);
		goto out;
	}
	if (memchr(line, '\0', len)) {
		r = bad(e, -EPROTO, "malformed JSON: a NUL byte in the request");
		goto out;
	}
	tok = json_tokener_new_ex(VFMD_DEPTH_MAX);
	if (!tok) {
		r = bad(e, -ENOMEM, "out of memory");
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, line, (int)len);
	if (!root) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		if (je == json_tokener_continue)
			r = bad(e, -EPROTO, "malformed JSON: the request ends early");
		else
			r = bad(e, -EPROTO, "malformed JSON at byte %zu: %s",
				json_tokener_get_parse_end(tok),
				json_tokener_error_desc(je));
		goto out;
	}
	/* Only white space may follow the object. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (!strchr(" \t\r", line[i])) {
			r = bad(e, -EPROTO,
				"malformed JSON: garbage after the request at byte %zu",
				i);
			goto out;
		}
	if (!json_object_is_type(root, json_type_object)) {
		r = bad(e, -EINVAL, "a request is a JSON object");
		goto out;
	}
	if (json_object_object_get_ex(root, "id", &id)) {
		r = check_id(id, e);
		if (r < 0)
			goto out;
		req->id = json_object_get(id);
	}
	if (!json_object_object_get_ex(root, "cmd", &cmdv)) {
		r = bad(e, -EINVAL, "a request needs \"cmd\"");
		goto out;
	}
	r = get_string(cmdv, cmdname, sizeof(cmdname));
	if (r >= 0)
		for (size_t i = 0; i < VFMD_CMD_MAX; i++)
			if (streq(cmdname, commands[i].name)) {
				cd = &commands[i];
				req->cmd = (enum vfmd_cmd)i;
			}
	if (!cd) {
		if (r >= 0)
			r = bad(e, -EINVAL, "unknown command \"%s\"", cmdname);
		else
			r = bad(e, -EINVAL, "\"cmd\" must be a command name");
		goto out;
	}
	json_object_object_foreach (root, key, val) {
		size_t f;

		if (streq(key, "id") || streq(key, "cmd"))
			continue;
		/* the contract's version, optional: only the one this daemon speaks */
		if (streq(key, "version")) {
			if (!json_object_is_type(val, json_type_int) ||
			    json_object_get_int64(val) != VFM_JSON_VERSION) {
				r = bad(e, -EPROTONOSUPPORT,
					"%s: \"version\" %.16s: this daemon speaks version %d",
					cd->name, json_object_to_json_string(val),
					VFM_JSON_VERSION);
				goto out;
			}
			continue;
		}
		for (f = 0; f < F_MAX; f++)
			if (streq(key, fields[f].name))
				break;
		if (f == F_MAX || !(cd->allowed & B(f))) {
			r = bad(e, -EINVAL, "%s: unknown field \"%.64s\"", cd->name, key);
			goto out;
		}
		/* the save side says "to", the restore side "from" */
		r = set_field(req, (enum field)f, val, e);
		if (r < 0)
			goto out;
		seen |= B(f);
	}
	if ((seen & cd->required) != cd->required) {
		for (size_t f = 0; f < F_MAX; f++)
			if ((cd->required & B(f)) && !(seen & B(f))) {
				r = bad(e, -EINVAL, "%s: \"%s\" is required", cd->name,
					fields[f].name);
				goto out;
			}
	}
	switch (req->cmd) {
	case VFMD_CMD_SAVE:
	case VFMD_CMD_RESTORE: r = check_job(req, seen, e); break;
	case VFMD_CMD_ATTACH:
		for (size_t i = 0; i < req->n_devices; i++)
			for (size_t k = 0; k < i; k++)
				if (req->devices[i].fd >= 0 &&
				    req->devices[i].fd == req->devices[k].fd) {
					r = bad(e, -EINVAL,
						"attach: descriptor %d is used twice",
						req->devices[i].fd);
					goto out;
				}
		for (size_t i = 0; i < req->n_devices; i++)
			req->n_fds = MAX(req->n_fds, (size_t)(req->devices[i].fd + 1));
		r = 0;
		break;
	case VFMD_CMD_DIRTY_START:
	case VFMD_CMD_DIRTY_REPORT:
	case VFMD_CMD_DIRTY_STOP:
		r = 0;
		if (req->n_devices != 1)
			r = bad(e, -EINVAL, "%s: \"devices\" names exactly one device",
				cd->name);
		else if (req->devices[0].fd >= 0)
			r = bad(e, -EINVAL,
				"%s: a device by its name: attach a passed descriptor "
				"first",
				cd->name);
		else if (req->cmd == VFMD_CMD_DIRTY_START && !(seen & B(F_PAGE_SIZE)))
			req->page_size = 4096;
		else if (req->bitmap_fd >= 0)
			req->n_fds = (size_t)req->bitmap_fd + 1;
		break;
	case VFMD_CMD_WATCH:
	case VFMD_CMD_UNWATCH:
		r = 0;
		if (!!(seen & B(F_JOB)) == !!(seen & B(F_ALL)) ||
		    ((seen & B(F_ALL)) && !req->all))
			r = bad(e, -EINVAL, "%s: give \"job\" or \"all\": true",
				cd->name);
		break;
	default: r = 0; break;
	}
out:
	if (r < 0) {
		if (ret_id && req->id)
			*ret_id = json_object_get(req->id);
		vfmd_request_done(req);
	}
	json_object_put(root);
	if (tok)
		json_tokener_free(tok);
	return r;
}

void vfmd_request_done(struct vfmd_request *req)
{
	json_object_put(req->id);
	req->id = NULL;
}

const char *vfmd_errno_name(int err, char *buf, size_t size)
{
	const char *s = strerrorname_np(err < 0 ? -err : err);

	if (s)
		return s;
	snprintf(buf, size, "E%d", err < 0 ? -err : err);
	return buf;
}
