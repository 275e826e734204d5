// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomigd's request parser on its own (unit tier): defaults equal the library's,
 * every field lands where it should, descriptor indexes are counted, and each kind
 * of bad request gets its errno and a sentence that names the problem.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "job.h"
#include "request.h"
#include "tap.h"

static struct vfmd_request req;

static int parse(const char *s, struct vfmd_error *e)
{
	vfmd_request_done(&req);
	return vfmd_request_parse(s, strlen(s), &req, NULL, e);
}

static void good(const char *s, const char *desc)
{
	struct vfmd_error e = {0};
	int r = parse(s, &e);

	if (!tap_ok(r == 0, "%s", desc))
		tap_diag("  %s: %s", s, e.msg);
}

static void bad(const char *s, int err, const char *part)
{
	struct vfmd_error e = {0};
	struct json_object *id = NULL;
	int r;

	vfmd_request_done(&req);
	r = vfmd_request_parse(s, strlen(s), &req, &id, &e);
	if (!tap_ok(r == err && e.err == err && strstr(e.msg, part), "refused: %s", s))
		tap_diag("  got %d '%s', want %d '...%s...'", r, e.msg, err, part);
	json_object_put(id);
}

int main(void)
{
	struct vfm_save_opts so;
	struct vfmd_error e;
	struct json_object *id = NULL;

	vfm_save_opts_init(&so);
	good("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"file:/x\"}",
	     "a minimal save");
	tap_ok(req.cmd == VFMD_CMD_SAVE && req.n_devices == 1 &&
		       !strcmp(req.devices[0].name, "sim:a") && req.devices[0].fd == -1 &&
		       req.stream_fd == -1 && req.n_fds == 0 && !req.id,
	       "its device, no descriptor, no id");
	tap_ok(req.precopy == so.precopy && req.precopy_rounds == so.precopy_max_rounds &&
		       req.precopy_usec == so.precopy_max_usec &&
		       req.chunk == so.chunk_size && req.timeout_ms == so.timeout_ms &&
		       req.dirty_threshold == so.dirty_threshold &&
		       req.vf_config == !so.no_vf_config,
	       "defaults are the library's (vfm_save_opts_init)");
	tap_ok(req.watch && !req.quiesce_ack && req.ack_timeout_ms == 30000 &&
		       !req.listen,
	       "watch on, no acknowledgement (30 s when asked), no listening");

	good("{\"version\":1,\"id\":\"x\",\"cmd\":\"save\",\"devices\":[{\"fd\":2,"
	     "\"device\":\"u\"},{\"fd\":0}],"
	     "\"stream_fd\":1,\"stream_name\":\"file:/"
	     "y\",\"precopy\":false,\"precopy_max_rounds\":7,"
	     "\"precopy_max_usec\":3000000,\"dirty_threshold_bytes\":4096,\"force\":true,"
	     "\"chunk_bytes\":65536,"
	     "\"timeout_usec\":8999001,\"quiesce_ack\":true,\"ack_timeout_usec\":5000000,"
	     "\"cancel_on_disconnect\":true,"
	     "\"watch\":false,\"vf_config\":false}",
	     "a save with every field");
	tap_ok(req.n_fds == 3 && req.devices[0].fd == 2 && req.devices[1].fd == 0 &&
		       !req.devices[1].name[0] && req.stream_fd == 1 &&
		       !strcmp(req.stream_name, "file:/y"),
	       "descriptors: indexes kept, count = highest + 1");
	tap_ok(!req.precopy && req.precopy_rounds == 7 && req.precopy_usec == 3000000 &&
		       req.dirty_threshold == 4096 && req.force && req.chunk == 65536 &&
		       req.timeout_ms == 9000 && req.quiesce_ack &&
		       req.ack_timeout_ms == 5000 && req.cancel_on_disconnect &&
		       !req.watch && !req.vf_config,
	       "every field where it belongs");
	tap_ok(req.id && !strcmp(json_object_get_string(req.id), "x"),
	       "a string id is kept");

	good("{\"cmd\":\"restore\",\"devices\":[\"a\",\"b\",\"c\"],\"from\":\"tcp://"
	     "[::]:4444\",\"map\":[2,0,1]}",
	     "a restore with a map");
	tap_ok(req.listen && req.has_map && req.n_map == 3 && req.map[0] == 2 &&
		       req.map[2] == 1,
	       "a socket restore listens; the map is kept");
	good("{\"cmd\":\"restore\",\"devices\":[\"a\"],\"from\":\"unix:@v\",\"connect\":"
	     "true}",
	     "a connecting restore");
	tap_ok(!req.listen && req.connect, "--connect: not listening");
	good("{\"cmd\":\"restore\",\"devices\":[\"a\"],\"from\":\"file:/v\"}",
	     "a file restore");
	tap_ok(!req.listen, "a file is not listened on");
	good("{\"id\":99,\"cmd\":\"continue\",\"job\":4,\"abort\":\"no\"}",
	     "continue with abort");
	tap_ok(req.job == 4 && !strcmp(req.abort_reason, "no") &&
		       json_object_get_int(req.id) == 99,
	       "job, reason, id");
	good(" \t{\"cmd\":\"watch\",\"all\":true} \r", "white space around the object");
	good("{\"cmd\":\"attach\",\"devices\":[{\"fd\":1,\"device\":\"a\"},{\"fd\":0,"
	     "\"device\":\"b\"}]}",
	     "attach with two descriptors");
	tap_ok(req.n_fds == 2, "attach counts its descriptors");

	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"file:/x\",\"stream_fd\":0}",
	    -EINVAL, "exactly one of \"to\" and \"stream_fd\"");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"tcp://h\"}", -EINVAL,
	    "\"to\":");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"fd:3\"}", -EINVAL,
	    "daemon's own");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"exec:ssh dst vfiomig "
	    "restore b --from -\"}",
	    -EPERM, "vfiomigd does not run commands (exec:)");
	bad("{\"cmd\":\"restore\",\"devices\":[\"a\"],\"from\":\"exec:sh\"}", -EPERM,
	    "\"from\": vfiomigd does not run commands (exec:), that would run them as root");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"stream_fd\":0,\"listen\":true}",
	    -EINVAL, "\"listen\" needs a tcp:// or unix: URI");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"file:/"
	    "x\",\"stream_name\":\"n\"}",
	    -EINVAL, "goes with \"stream_fd\"");
	bad("{\"cmd\":\"save\",\"devices\":[{\"fd\":0},{\"fd\":0}],\"to\":\"file:/x\"}",
	    -EINVAL, "descriptor 0 is used twice");
	bad("{\"cmd\":\"save\",\"devices\":[{\"fd\":0}],\"stream_fd\":0}", -EINVAL,
	    "descriptor 0 is used twice");
	bad("{\"cmd\":\"save\",\"devices\":[{\"fd\":72}],\"to\":\"file:/x\"}", -EINVAL,
	    "0..71");
	bad("{\"cmd\":\"info\",\"devices\":[{\"fd\":0}]}", -EINVAL, "no \"fd\" here");
	bad("{\"cmd\":\"attach\",\"devices\":[{\"fd\":0}]}", -EINVAL,
	    "needs the device's name");
	bad("{\"cmd\":\"attach\",\"devices\":[{\"fd\":0,\"device\":\"a\",\"x\":1}]}",
	    -EINVAL, "unknown field \"x\"");
	bad("{\"cmd\":\"attach\",\"devices\":[{}]}", -EINVAL, "needs \"device\" or \"fd\"");

	/* fd:N from a client: descriptor N of its request, never the daemon's own */
	good("{\"cmd\":\"attach\",\"devices\":[\"fd:1:0000:3b:00.1\",{\"device\":"
	     "\"fd:0:sim:x\"}]}",
	     "attach fd:N:NAME");
	tap_ok(req.n_fds == 2 && req.devices[0].fd == 1 &&
		       !strcmp(req.devices[0].name, "0000:3b:00.1") &&
		       req.devices[1].fd == 0 && !strcmp(req.devices[1].name, "sim:x"),
	       "fd:N:NAME is descriptor N of the request, with NAME");
	good("{\"cmd\":\"save\",\"devices\":[\"fd:0\"],\"to\":\"file:/x\"}",
	     "save fd:0");
	tap_ok(req.n_fds == 1 && req.devices[0].fd == 0 && !req.devices[0].name[0],
	       "fd:0 is the request's first descriptor, so it must come with it");
	bad("{\"cmd\":\"attach\",\"devices\":[\"fd:5\"]}", -EINVAL,
	    "needs the device's name (fd:N:NAME)");
	bad("{\"cmd\":\"info\",\"devices\":[\"fd:5\"]}", -EINVAL,
	    "descriptor N (0..71) of those sent with the request");
	bad("{\"cmd\":\"detach\",\"devices\":[\"fd:3:sim:a\"]}", -EINVAL,
	    "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[\"fd:72\"],\"to\":\"file:/x\"}", -EINVAL,
	    "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[\"fd:-1\"],\"to\":\"file:/x\"}", -EINVAL,
	    "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[\"fd: 1\"],\"to\":\"file:/x\"}", -EINVAL,
	    "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[\"fd:1:\"],\"to\":\"file:/x\"}", -EINVAL,
	    "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[\"fd:1:fd:2\"],\"to\":\"file:/x\"}",
	    -EINVAL, "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[{\"fd\":0,\"device\":\"fd:1\"}],\"to\":"
	    "\"file:/x\"}",
	    -EINVAL, "of those sent with the request");
	bad("{\"cmd\":\"save\",\"devices\":[\"fd:0\",{\"fd\":0}],\"to\":\"file:/x\"}",
	    -EINVAL, "descriptor 0 is used twice");
	bad("{\"cmd\":\"attach\",\"devices\":[\"\"]}", -EINVAL, "non-empty printable text");
	/* text that ends up in a log line or on a terminal: no controls, no bidi */
	bad("{\"cmd\":\"attach\",\"devices\":[\"sim:a\\nvfiomigd: fake line\"]}", -EINVAL,
	    "non-empty printable text");
	bad("{\"cmd\":\"attach\",\"devices\":[\"sim:\\u202egnp.exe\"]}", -EINVAL,
	    "non-empty printable text");
	bad("{\"cmd\":\"continue\",\"job\":1,\"abort\":\"no\\u001b[2J\"}", -EINVAL,
	    "printable reason");
	bad("{\"cmd\":\"restore\",\"devices\":[\"a\",\"b\"],\"from\":\"file:/"
	    "x\",\"map\":[0]}",
	    -EINVAL, "needs 2 entries");
	bad("{\"cmd\":\"restore\",\"devices\":[\"a\"],\"from\":\"file:/"
	    "x\",\"connect\":true}",
	    -EINVAL, "\"connect\" needs a tcp:// or unix: URI");
	bad("{\"cmd\":\"restore\",\"devices\":[\"a\"],\"to\":\"file:/x\"}", -EINVAL,
	    "unknown field \"to\"");
	bad("{\"cmd\":\"watch\",\"job\":1,\"all\":true}", -EINVAL,
	    "give \"job\" or \"all\"");
	bad("{\"cmd\":\"watch\",\"all\":false}", -EINVAL, "give \"job\" or \"all\"");
	bad("{\"cmd\":\"continue\",\"job\":1,\"abort\":\"\"}", -EINVAL,
	    "non-empty printable reason");
	bad("{\"cmd\":\"job\",\"job\":4294967296}", -EINVAL, "1..4294967295");
	bad("{\"cmd\":\"job\",\"job\":1.5}", -EINVAL, "must be an integer");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"file:/"
	    "x\",\"dirty_threshold_bytes\":-1}",
	    -EINVAL, "must be an integer");
	bad("{\"cmd\":1}", -EINVAL, "\"cmd\" must be a command name");
	/* the JSON contract: its version, the names of one release (vfiomig(8)) */
	bad("{\"cmd\":\"version\",\"version\":2}", -EPROTONOSUPPORT, "speaks version 1");
	bad("{\"cmd\":\"version\",\"version\":\"1\"}", -EPROTONOSUPPORT, "speaks version 1");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"file:/x\",\"timeout\":9}", -EINVAL,
	    "unknown field \"timeout\"");
	bad("{\"cmd\":\"attach\",\"devices\":[{\"fd\":0,\"name\":\"a\"}]}", -EINVAL,
	    "unknown field \"name\"");
	bad("{\"cmd\":\"save\",\"devices\":[\"a\"],\"to\":\"file:/x\",\"ack_timeout_usec\":999}",
	    -EINVAL, "1000..3600000000");
	bad("{\"cmd\":\"VERSION\"}", -EINVAL, "unknown command \"VERSION\"");
	bad("{\"id\":true,\"cmd\":\"version\"}", -EINVAL, "\"id\" must be");
	bad("{\"cmd\":\"version\",\"cmd\":\"jobs\",\"job\":1}", -EINVAL,
	    "jobs: unknown field \"job\"");
	bad("{\"cmd\":\"version\"", -EPROTO, "ends early");
	bad("", -EPROTO, "ends early");
	bad("{'cmd':'version'}", -EPROTO, "malformed JSON at byte");
	bad("{\"cmd\":\"version\",}", -EPROTO, "malformed JSON");
	bad("{\"cmd\":\"version\"}x", -EPROTO, "malformed JSON");
	{
		char many[8192] = "{\"cmd\":\"info\",\"devices\":[";

		for (int i = 0; i < 65; i++)
			strcat(many, i ? ",\"d\"" : "\"d\"");
		strcat(many, "]}");
		bad(many, -E2BIG, "at most 64 devices");
	}
	/* the id of a refused request comes back for its error response */
	vfmd_request_done(&req);
	memset(&e, 0, sizeof(e));
	tap_ok(vfmd_request_parse("{\"id\":5,\"cmd\":\"nope\"}", 21, &req, &id, &e) ==
			       -EINVAL &&
		       id && json_object_get_int(id) == 5 && !req.id,
	       "a refused request hands its id back");
	json_object_put(id);
	/* the parser reads @len bytes, not up to a NUL */
	vfmd_request_done(&req);
	tap_ok(vfmd_request_parse("{\"cmd\":\"jobs\"}GARBAGE", 14, &req, NULL, &e) == 0,
	       "only len bytes are read");
	vfmd_request_done(&req);
	/* TLS fields: bounded, paths absolute, only on tcp:// and unix: */
	good("{\"cmd\":\"restore\",\"devices\":[\"sim:a\"],\"from\":\"tcp://[::]:4444\","
	     "\"tls_creds\":\"/etc/pki/qemu\",\"tls_authz\":[\"*CN=src*\",\"CN=x\"]}",
	     "restore with x509 credentials and two DN patterns");
	tap_ok(!strcmp(req.tls_creds, "/etc/pki/qemu") && req.n_tls_authz == 2 &&
		       !strcmp(req.tls_authz[1], "CN=x") && !req.tls_psk[0],
	       "the TLS fields are kept");
	good("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"unix:/run/x\","
	     "\"tls_psk\":\"/etc/pki/qemu/keys.psk\"}",
	     "save over unix with a PSK file");
	good("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://dst:4444\","
	     "\"tls_creds\":\"/etc/pki/qemu\",\"tls_hostname\":\"dst.example\"}",
	     "save with a host name to check");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://d:1\",\"tls_creds\":"
	    "\"pki\"}",
	    -EINVAL, "\"tls_creds\" must be an absolute path");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"file:/x\",\"tls_creds\":"
	    "\"/pki\"}",
	    -EINVAL, "TLS runs on tcp:// and unix: streams only");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://d:1\",\"tls_creds\":"
	    "\"/pki\",\"tls_psk\":\"/k\"}",
	    -EINVAL, "exclude each other");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://d:1\",\"tls_psk\":"
	    "\"/k\",\"tls_authz\":[\"*\"]}",
	    -EINVAL, "need \"tls_creds\"");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://d:1\",\"tls_creds\":"
	    "\"/p\",\"tls_authz\":[]}",
	    -EINVAL, "\"tls_authz\" must have 1..32 patterns");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://d:1\",\"tls_creds\":"
	    "\"/p\",\"tls_authz\":[\"\"]}",
	    -EINVAL, "tls_authz[0] must be a pattern of 1..256 bytes");
	bad("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"tcp://d:1\",\"tls_creds\":"
	    "\"/p\",\"tls_authz\":[1]}",
	    -EINVAL, "tls_authz[0] must be a pattern");
	{
		char big[2048];
		int o = snprintf(big, sizeof(big), "{\"cmd\":\"save\",\"devices\":[\"sim:a\"],"
					     "\"to\":\"tcp://d:1\",\"tls_creds\":\"/p\","
					     "\"tls_authz\":[");

		for (int i = 0; i < 33; i++)
			o += snprintf(big + o, sizeof(big) - (size_t)o, "%s\"p%d\"",
				      i ? "," : "", i);
		snprintf(big + o, sizeof(big) - (size_t)o, "]}");
		bad(big, -EINVAL, "\"tls_authz\" must have 1..32 patterns");
		memset(big, 0, sizeof(big));
		o = snprintf(big, sizeof(big), "{\"cmd\":\"save\",\"devices\":[\"sim:a\"],"
					       "\"to\":\"tcp://d:1\",\"tls_creds\":\"/p\","
					       "\"tls_hostname\":\"");
		memset(big + o, 'h', 254);
		snprintf(big + o + 254, sizeof(big) - (size_t)o - 254, "\"}");
		bad(big, -EINVAL, "\"tls_hostname\" must be a name of 1..253 bytes");
	}

	/* vf_token: a UUID, on the commands that open devices by name */
	good("{\"cmd\":\"attach\",\"devices\":[\"sim:a\"],"
	     "\"vf_token\":\"8A1F0A4E-65f0-4bd1-9c2e-3f6f0c1d2e01\"}",
	     "attach with a vf_token");
	tap_ok(!strcmp(req.vf_token, "8A1F0A4E-65f0-4bd1-9c2e-3f6f0c1d2e01"), "kept as given");
	good("{\"cmd\":\"info\",\"devices\":[\"sim:a\"],"
	     "\"vf_token\":\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\"}",
	     "info with a vf_token");
	good("{\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"file:/x\","
	     "\"vf_token\":\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\"}",
	     "save with a vf_token");
	good("{\"cmd\":\"restore\",\"devices\":[\"sim:a\"],\"from\":\"file:/x\","
	     "\"vf_token\":\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\"}",
	     "restore with a vf_token");
	good("{\"cmd\":\"attach\",\"devices\":[\"sim:a\"]}", "attach without one");
	tap_ok(req.vf_token[0] == '\0', "no vf_token: empty");
	bad("{\"cmd\":\"detach\",\"devices\":[\"sim:a\"],"
	    "\"vf_token\":\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\"}",
	    -EINVAL, "unknown field \"vf_token\"");
	bad("{\"cmd\":\"jobs\",\"vf_token\":\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\"}",
	    -EINVAL, "unknown field \"vf_token\"");
	{
		static const char *const refused[] = {
			"\"\"",
			"\"nope\"",
			"\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e0\"",   /* short */
			"\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e011\"", /* long */
			"\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01 vf_token=x\"",
			"\"8a1f0a4e65f04bd19c2e3f6f0c1d2e01\"",       /* no dashes */
			"\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e0g\"",
			"\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\\n\"",
			"12",
			"null",
			"[\"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01\"]",
		};
		char line[512];

		for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
			snprintf(line, sizeof(line),
				 "{\"cmd\":\"attach\",\"devices\":[\"sim:a\"],\"vf_token\":%s}",
				 refused[i]);
			bad(line, -EINVAL, "\"vf_token\" must be a UUID");
		}
		/* a long string is refused by its length, before anything reads it */
		{
			char big[8192];
			int o = snprintf(big, sizeof(big),
					 "{\"cmd\":\"attach\",\"devices\":[\"sim:a\"],"
					 "\"vf_token\":\"");

			memset(big + o, 'a', 4000);
			snprintf(big + o + 4000, sizeof(big) - (size_t)o - 4000, "\"}");
			bad(big, -EINVAL, "\"vf_token\" must be a UUID");
		}
	}

	/* ---- DMA dirty logging ---- */
	good("{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{\"iova\":"
	     "4096,"
	     "\"length_bytes\":8192},{\"iova\":9223372036854775807,\"length_bytes\":1}]}",
	     "dirty_start with two ranges, the largest IOVA");
	tap_ok(req.cmd == VFMD_CMD_DIRTY_START && req.n_ranges == 2 &&
		       req.ranges[0].iova == 4096 && req.ranges[0].length == 8192 &&
		       req.ranges[1].iova == INT64_MAX && req.page_size == 4096 &&
		       req.n_fds == 0,
	       "its ranges, page size 4096 by default, no descriptor");
	good("{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{\"iova\":0,"
	     "\"length_bytes\":4096}],\"bitmap_fd\":3,\"bitmap_offset\":1099511627776,"
	     "\"bitmap_size_bytes\":268435456,\"page_size_bytes\":1073741824}",
	     "dirty_report with every field at its bound");
	tap_ok(req.cmd == VFMD_CMD_DIRTY_REPORT && req.bitmap_fd == 3 && req.n_fds == 4 &&
		       req.bitmap_offset == (UINT64_C(1) << 40) &&
		       req.bitmap_size == (UINT64_C(1) << 28) &&
		       req.page_size == (1u << 30),
	       "bitmap_fd counted as a descriptor (4), offset, size, page size");
	good("{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{\"iova\":0,"
	     "\"length_bytes\":4096}],\"bitmap_fd\":0}",
	     "dirty_report with the defaults");
	tap_ok(req.page_size == 0 && req.bitmap_offset == 0 && req.bitmap_size == 0,
	       "page size 0 (the driver's), offset 0, size 0 (to the memfd's end)");
	good("{\"cmd\":\"dirty_stop\",\"devices\":[\"sim:a\"]}", "dirty_stop");
	{
		static const struct {
			const char *req;
			int err;
			const char *part;
		} dirty_bad[] = {
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"]}", -EINVAL,
			 "\"ranges\" is required"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[]"
			 "}",
			 -EINVAL, "1..256 entries"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":{}"
			 "}",
			 -EINVAL, "must be an array"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[1]"
			 "}",
			 -EINVAL, "ranges[0] must be"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0}]}",
			 -EINVAL, "ranges[0] needs"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":0}]}",
			 -EINVAL, "ranges[0] needs"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":281474976710657}]}",
			 -EINVAL, "ranges[0] needs"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":"
			 "9223372036854775808,\"length_bytes\":4096}]}",
			 -EINVAL, "ranges[0] needs"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":-1,"
			 "\"length_bytes\":4096}]}",
			 -EINVAL, "ranges[0] needs"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0.5,"
			 "\"length_bytes\":4096}]}",
			 -EINVAL, "ranges[0] needs"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096,\"len\":1}]}",
			 -EINVAL, "unknown field \"len\""},
			/* the contract's names (vfiomigd(8)): not "length", "page_size"
			 */
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,\"length\":4096}]}",
			 -EINVAL, "unknown field \"length\""},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,\"length_bytes\":4096}],\"page_size\":4096}",
			 -EINVAL, "unknown field \"page_size\""},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\",\"sim:b\"],"
			 "\"ranges\":[{"
			 "\"iova\":0,\"length_bytes\":4096}]}",
			 -EINVAL, "exactly one device"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[{\"fd\":0,\"device\":"
			 "\"x\"}"
			 "],\"ranges\":"
			 "[{\"iova\":0,\"length_bytes\":4096}]}",
			 -EINVAL, "no \"fd\" here"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"fd:0:x\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}]}",
			 -EINVAL, "fd:N[:NAME]"},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}],\"page_size_bytes\":1073741825}",
			 -EINVAL, "\"page_size_bytes\""},
			{"{\"cmd\":\"dirty_start\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}],\"bitmap_fd\":0}",
			 -EINVAL, "unknown field \"bitmap_fd\""},
			{"{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}]}",
			 -EINVAL, "\"bitmap_fd\" is required"},
			{"{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}],\"bitmap_fd\":72}",
			 -EINVAL, "\"bitmap_fd\""},
			{"{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}],\"bitmap_fd\":0,\"bitmap_offset\":"
			 "1099511627777}",
			 -EINVAL, "\"bitmap_offset\""},
			{"{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}],\"bitmap_fd\":0,\"bitmap_size_bytes\":"
			 "0}",
			 -EINVAL, "\"bitmap_size_bytes\""},
			{"{\"cmd\":\"dirty_report\",\"devices\":[\"sim:a\"],\"ranges\":[{"
			 "\"iova\":0,"
			 "\"length_bytes\":4096}],\"bitmap_fd\":0,\"bitmap_size_bytes\":"
			 "268435457}",
			 -EINVAL, "\"bitmap_size_bytes\""},
			{"{\"cmd\":\"dirty_stop\",\"devices\":[\"sim:a\"],\"ranges\":[]}",
			 -EINVAL, "unknown field \"ranges\""},
		};

		for (size_t i = 0; i < ELEMENTSOF(dirty_bad); i++)
			bad(dirty_bad[i].req, dirty_bad[i].err, dirty_bad[i].part);
		/* 257 ranges */
		{
			static char big[16384];
			int o = snprintf(big, sizeof(big),
					 "{\"cmd\":\"dirty_start\",\"devices\":[\"sim:"
					 "a\"],\"ranges\":[");

			for (int i = 0; i < 257; i++)
				o += snprintf(big + o, sizeof(big) - (size_t)o,
					      "%s{\"iova\":%d,\"length_bytes\":4096}",
					      i ? "," : "", i * 8192);
			snprintf(big + o, sizeof(big) - (size_t)o, "]}");
			bad(big, -E2BIG, "1..256 entries");
		}
	}

	return tap_done();
}
