// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for vfiomigd's request parser (src/daemon/request.c): every input
 * is one request line.  Beyond "no crash, no leak, no sanitizer report" it checks
 * that:
 *  - a parsed request is consistent: a known command, 1..64 devices where it has
 *    any, each named or with a descriptor index below the request's descriptor
 *    count, that count at most VFMD_FDS_MAX, strings terminated, a map that is a
 *    permutation, exactly one of a URI and a stream descriptor for save/restore;
 *    the dirty_* commands: one device by name, 1..256 ranges each within its bounds,
 *    the bitmap descriptor counted;
 *  - a refusal says why (a message) with one of the documented errnos, and the id it
 *    hands back is an integer or a string;
 *  - parsing is deterministic: the same bytes give the same outcome twice;
 *  - the parser reads only its @len bytes (the copy it gets ends where the input
 *    does, so ASan sees any overread).
 * A failed check aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-request: %s (%s)\n", what, detail);
	abort();
}

static void check_string(const char *s, size_t size, const char *what)
{
	if (!memchr(s, '\0', size))
		broken("an unterminated string", what);
}

static void check_request(const struct vfmd_request *r)
{
	bool jobcmd = r->cmd == VFMD_CMD_SAVE || r->cmd == VFMD_CMD_RESTORE;
	bool dirtycmd = r->cmd == VFMD_CMD_DIRTY_START ||
			r->cmd == VFMD_CMD_DIRTY_REPORT || r->cmd == VFMD_CMD_DIRTY_STOP;
	bool has_devices = jobcmd || dirtycmd || r->cmd == VFMD_CMD_INFO ||
			   r->cmd == VFMD_CMD_ATTACH || r->cmd == VFMD_CMD_DETACH;
	size_t max_fd = 0;

	if ((unsigned)r->cmd >= VFMD_CMD_MAX)
		broken("a command out of range", "");
	if (has_devices && (r->n_devices < 1 || r->n_devices > VFM_SET_MAX))
		broken("a device count out of range", vfmd_cmd_name(r->cmd));
	if (!has_devices && r->n_devices)
		broken("devices on a command without any", vfmd_cmd_name(r->cmd));
	if (r->n_fds > VFMD_FDS_MAX)
		broken("more descriptors than a connection may have", "");
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct vfmd_devref *d = &r->devices[i];

		check_string(d->name, sizeof(d->name), "device name");
		if (d->fd < -1 || d->fd >= VFMD_FDS_MAX)
			broken("a descriptor index out of range", d->name);
		if (d->fd < 0 && !d->name[0])
			broken("a device with neither name nor descriptor", "");
		if (d->fd >= 0 && r->cmd != VFMD_CMD_ATTACH && !jobcmd)
			broken("a descriptor where none is allowed",
			       vfmd_cmd_name(r->cmd));
		if (d->fd >= 0 && (size_t)d->fd + 1 > max_fd)
			max_fd = (size_t)d->fd + 1;
	}
	if (r->stream_fd >= 0 && (size_t)r->stream_fd + 1 > max_fd)
		max_fd = (size_t)r->stream_fd + 1;
	if (r->bitmap_fd >= 0 && (size_t)r->bitmap_fd + 1 > max_fd)
		max_fd = (size_t)r->bitmap_fd + 1;
	if (dirtycmd) {
		if (r->n_devices != 1 || r->devices[0].fd >= 0)
			broken("a dirty_* request not on one device by name", "");
		if ((r->cmd == VFMD_CMD_DIRTY_STOP) != (r->n_ranges == 0) ||
		    r->n_ranges > VFM_DIRTY_RANGES_MAX)
			broken("a dirty_* request with a wrong range count", "");
		for (size_t i = 0; i < r->n_ranges; i++)
			if (r->ranges[i].iova > INT64_MAX || !r->ranges[i].length ||
			    r->ranges[i].length > VFM_DIRTY_RANGE_MAX)
				broken("a range out of bounds", "");
		if ((r->cmd == VFMD_CMD_DIRTY_REPORT) != (r->bitmap_fd >= 0))
			broken("a bitmap descriptor where none goes, or none for a "
			       "report",
			       "");
		if (r->page_size > VFM_DIRTY_PAGE_MAX ||
		    r->bitmap_offset > VFMD_BITMAP_OFFSET_MAX ||
		    r->bitmap_size > VFMD_BITMAP_MAX)
			broken("a dirty_* number out of bounds", "");
	} else if (r->n_ranges || r->bitmap_fd >= 0) {
		broken("ranges or a bitmap on a command without them",
		       vfmd_cmd_name(r->cmd));
	}
	if (max_fd != r->n_fds)
		broken("the descriptor count is not the highest index + 1", "");
	check_string(r->uri, sizeof(r->uri), "uri");
	check_string(r->stream_name, sizeof(r->stream_name), "stream_name");
	check_string(r->abort_reason, sizeof(r->abort_reason), "abort");
	if (jobcmd) {
		if (!r->uri[0] == (r->stream_fd < 0))
			broken("not exactly one of a URI and a stream descriptor", "");
		if (r->chunk < 1 || r->chunk > (16u << 20))
			broken("a chunk size out of range", "");
		if (r->has_map) {
			bool seen[VFM_SET_MAX] = {false};

			if (r->n_map != r->n_devices)
				broken("a map of the wrong length", "");
			for (size_t i = 0; i < r->n_map; i++) {
				if (r->map[i] >= r->n_devices || seen[r->map[i]])
					broken("a map that is no permutation", "");
				seen[r->map[i]] = true;
			}
		}
		if (r->listen && strncmp(r->uri, "tcp://", 6) != 0 &&
		    strncmp(r->uri, "unix:", 5) != 0)
			broken("listening on something that is no socket", r->uri);
	}
	if ((r->cmd == VFMD_CMD_JOB || r->cmd == VFMD_CMD_CANCEL ||
	     r->cmd == VFMD_CMD_CONTINUE) &&
	    r->job == 0)
		broken("a job command without a job", vfmd_cmd_name(r->cmd));
	if (r->id && !json_object_is_type(r->id, json_type_int) &&
	    !json_object_is_type(r->id, json_type_string))
		broken("an id that is neither integer nor string", "");
}

static int parse_once(const uint8_t *data, size_t size, struct vfmd_request *req,
		      struct vfmd_error *e, char *idbuf, size_t idsize)
{
	struct json_object *id = NULL;
	/* an exact-size copy: reading past @size is an ASan report */
	char *line = malloc(size ? size : 1);
	int r;

	if (!line)
		abort();
	memcpy(line, data, size);
	r = vfmd_request_parse(line, size, req, &id, e);
	free(line);
	snprintf(idbuf, idsize, "%s", id ? json_object_to_json_string(id) : "-");
	if (r < 0) {
		switch (r) {
		case -EPROTO:
		case -EMSGSIZE:
		case -EINVAL:
		case -E2BIG:
		case -EPERM:		/* exec: URIs */
		case -EPROTONOSUPPORT: break; /* another contract "version" */
		default: broken("an undocumented error", e->msg);
		}
		if (r != e->err || !e->msg[0])
			broken("a refusal without its reason", e->msg);
		if (id && !json_object_is_type(id, json_type_int) &&
		    !json_object_is_type(id, json_type_string))
			broken("an error id that is neither integer nor string", idbuf);
		if (req->id)
			broken("a refused request still holds its id", "");
	} else {
		check_request(req);
	}
	json_object_put(id);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vfmd_request a, b;
	struct vfmd_error ea = {0}, eb = {0};
	char ida[256], idb[256];
	int ra, rb;

	ra = parse_once(data, size, &a, &ea, ida, sizeof(ida));
	rb = parse_once(data, size, &b, &eb, idb, sizeof(idb));
	if (ra != rb || strcmp(ida, idb) != 0 || (ra < 0 && strcmp(ea.msg, eb.msg) != 0))
		broken("two parses of the same bytes differ", ra < 0 ? ea.msg : "");
	if (ra >= 0 &&
	    (a.cmd != b.cmd || a.n_devices != b.n_devices || a.n_fds != b.n_fds))
		broken("two parses of the same bytes differ", "");
	if (ra >= 0) {
		vfmd_request_done(&a);
		vfmd_request_done(&b);
	}
	return 0;
}
