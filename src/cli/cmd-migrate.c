// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `vfiomig save DEV... --to URI` and `vfiomig restore DEV... --from URI`: the CLI
 * over the job layer.  SIGINT/SIGTERM cancel the job (which rolls back) through a
 * self-pipe; progress goes to stderr on a TTY; the report to stdout (to stderr when
 * stdout carries the stream).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "job.h"
#include "migrate-args.h"
#include "report.h"
#include "trace.h"
#include "transport.h"
#include "util.h"

/* ---- progress (report.c prints it) ---- */

static void on_progress(void *userdata, const struct vfm_job_report *rep)
{
	cli_show_progress(userdata, rep);
}

/* ---- the quiesced hook ---- */

struct hook {
	const char *cmd;
	const struct vfm_job_report *rep;
};

static int run_hook(void *userdata, char *why, size_t size)
{
	struct hook *h = userdata;
	char id[32];

	snprintf(id, sizeof(id), "%016llx", (unsigned long long)h->rep->stream_id);
	return cli_run_hook(h->cmd, id, 0, why, size);
}

/* ---- endpoints ---- */

static void on_reject(void *userdata, const char *why)
{
	cli_error(userdata, "rejected %s", why);
}

/* The host of a tcp:// URI (the name the server's certificate must carry). */
static int uri_host(const char *uri, char *host, size_t size)
{
	_cleanup_free_ struct vfm_uri *u = malloc(sizeof(*u));

	host[0] = '\0';
	if (!u)
		return -ENOMEM;
	if (vfm_uri_parse(uri, false, u, NULL) == 0 && u->kind == VFM_URI_TCP)
		snprintf(host, size, "%s", u->host);
	return 0;
}

/* Whether a listener's address is reachable from other hosts. */
static bool exposed(const char *listener_uri)
{
	return strncmp(listener_uri, "tcp://", 6) == 0 &&
	       strncmp(listener_uri, "tcp://127.", 10) != 0 &&
	       strncmp(listener_uri, "tcp://[::1]:", 12) != 0;
}

/*
 * Where the job's connections come from: the URI connected to again, or the
 * listener accepted on again, with the same TLS credentials, for the data
 * connections of --streams (vfm_stream_open_fn).
 */
struct link {
	const char *uri;
	bool listen;
	unsigned dir, timeout_ms;
	int cancel_fd;
	struct cli *cli;
	struct vfm_tls *tls;
	struct vfm_listener *l;
};

static int link_open(struct link *k, struct vfm_endpoint **ret_ep,
		     struct vfm_transport_err *err)
{
	char host[VFM_URI_HOST_MAX + 1];
	int r;

	if (k->l)
		return k->tls ? vfm_listener_accept_tls(k->l, k->tls, k->timeout_ms,
							 k->cancel_fd, on_reject, k->cli,
							 ret_ep, err)
			      : vfm_listener_accept(k->l, k->timeout_ms, k->cancel_fd, ret_ep,
						    err);
	r = vfm_endpoint_open(k->uri, k->dir, k->timeout_ms, k->cancel_fd, ret_ep, err);
	if (r == 0 && k->tls) {
		uri_host(k->uri, host, sizeof(host));
		r = vfm_endpoint_start_tls(*ret_ep, k->tls, host, err);
		if (r < 0)
			*ret_ep = vfm_endpoint_free(*ret_ep);
	}
	return r;
}

static int open_stream(void *userdata, unsigned index, struct vfm_endpoint **ret_ep,
		       char *why, size_t size)
{
	struct vfm_transport_err err = { "" };
	int r = link_open(userdata, ret_ep, &err);

	(void)index;
	if (r < 0)
		snprintf(why, size, "%s", err.msg);
	return r;
}

static void link_free(struct link *k)
{
	k->l = vfm_listener_free(k->l);
	k->tls = vfm_tls_free(k->tls);
}

static int open_endpoint(struct cli *cli, const char *uri, bool listen, bool save,
			 const struct cli_tls_args *ta, unsigned dir, unsigned timeout_ms,
			 int cancel_fd, struct link *k, struct vfm_endpoint **ret_ep)
{
	struct vfm_transport_err err = { "" };
	struct vfm_tls *tls = NULL;
	struct vfm_listener *l = NULL;
	int r;

	*k = (struct link){ .uri = uri, .listen = listen, .dir = dir,
			    .timeout_ms = timeout_ms, .cancel_fd = cancel_fd, .cli = cli };

	if (cli_tls_wanted(ta)) {
		struct vfm_tls_opts o = {
			.size = sizeof(struct vfm_tls_opts),
			.creds_dir = ta->creds,
			.psk_file = ta->psk,
			.hostname = ta->hostname,
			.authz = ta->authz,
			.n_authz = ta->n_authz,
		};

		r = vfm_tls_new(&o, listen, &tls, &err);
		if (r < 0) {
			cli_error(cli, "TLS credentials: %s", err.msg[0] ? err.msg : strerror(-r));
			cli_set_errno(cli, r);
			return r;
		}
		k->tls = tls;
	}
	if (!listen) {
		r = link_open(k, ret_ep, &err);
		if (r < 0) {
			cli_error(cli, "%s", err.msg[0] ? err.msg : strerror(-r));
			cli_set_errno(cli, r);
		}
		return r;
	}
	r = vfm_listener_new(uri, &l, &err);
	if (r < 0) {
		cli_error(cli, "%s", err.msg[0] ? err.msg : strerror(-r));
		cli_set_errno(cli, r);
		return r;
	}
	k->l = l;
	if (!tls && exposed(vfm_listener_uri(l)))
		cli_error(cli, "warning: listening on %s without TLS: anyone who reaches it "
			       "can %s (see --tls-creds)",
			  vfm_listener_uri(l),
			  save ? "read the devices' state" : "load state into the devices");
	/* Say where, so that a peer (or a test using port 0) can connect: one write,
	 * so that a reader never sees half the line. */
	{
		char line[VFM_URI_MAX + 64];
		int len = snprintf(line, sizeof(line), "vfiomig: listening on %s\n",
				   vfm_listener_uri(l));

		if (len > 0 && write(STDERR_FILENO, line, (size_t)MIN(len, (int)sizeof(line) - 1)) < 0) {
			/* stderr gone: nothing to tell */
		}
	}
	r = link_open(k, ret_ep, &err);
	if (r < 0) {
		cli_error(cli, "%s", err.msg[0] ? err.msg : strerror(-r));
		cli_set_errno(cli, r);
	}
	return r;
}

/*
 * An exec: command is reaped before the report (within the transport's bound), so
 * that how it ended joins the failure: for ssh, that is where "Permission denied"
 * (on our stderr) becomes "exited with 255".  After a success it is only a warning:
 * the destination has the state.
 */
static void finish_command(struct cli *cli, struct vfm_endpoint *ep,
			   struct vfm_job_report *rep)
{
	const char *how;

	if (vfm_endpoint_wait(ep) == 0)
		return;
	how = vfm_endpoint_exit_status(ep);
	if (!how)
		return;
	if (rep->error) {
		size_t len = strlen(rep->message);

		snprintf(rep->message + len, sizeof(rep->message) - len,
			 "; the command %s", how);
	} else {
		cli_error(cli, "warning: %s %s after the job ended",
			  vfm_endpoint_description(ep), how);
	}
}

/*
 * restore --from -: two-way (the answers on stdout, the report on stderr) unless
 * stdout is a terminal, which can be no source's return path.
 */
static unsigned restore_directions(const char *from)
{
	if (cli_uri_is_two_way(from) || (streq(from, "-") && !isatty(STDOUT_FILENO)))
		return VFM_EP_READ | VFM_EP_WRITE;
	return VFM_EP_READ;
}

/*
 * A plaintext job over a socket that failed before the peer said anything sensible:
 * a peer that runs TLS looks exactly like that (it closes on our header, or sends a
 * TLS record where our stream expects its own).  Say it may be the reason.
 */
static void hint_tls(struct vfm_job_report *rep, const char *uri,
		     const struct cli_tls_args *ta)
{
	size_t len = strlen(rep->message);

	if (!rep->error || cli_tls_wanted(ta) || !cli_uri_is_socket(uri) ||
	    (rep->phase != VFM_JOB_HEADER && rep->phase != VFM_JOB_COMPAT))
		return;
	/* what a TLS record or a closed connection gives; not an answer we read */
	switch (rep->error) {
	case -ENOMSG:
	case -EPROTO:
	case -EPROTONOSUPPORT:
	case -EBADMSG:
	case -EMSGSIZE:
	case -ECONNRESET:
	case -EPIPE:
	case -ETIMEDOUT: break;
	default: return;
	}
	snprintf(rep->message + len, sizeof(rep->message) - len,
		 " (a peer that uses TLS looks like this: give both sides --tls-creds or "
		 "--tls-psk)");
}

/* --trace: opened before any device is, so that a path that cannot be written stops
 * the command with nothing touched. */
static int open_trace(struct cli *cli, const char *path, const char *title,
		      struct trace **ret)
{
	char why[640];
	int r;

	*ret = NULL;
	if (!path)
		return EXIT_OK;
	r = trace_open(path, title, ret, why, sizeof(why));
	if (r < 0) {
		cli_error(cli, "%s", why);
		cli_set_errno(cli, r);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* The end of the trace: a failure to write it does not change what the job did. */
static void close_trace(struct cli *cli, struct trace *t)
{
	char why[640] = "";
	bool truncated = false;

	if (!t)
		return;
	if (trace_close(t, &truncated, why, sizeof(why)) < 0)
		cli_error(cli, "warning: %s", why);
	else if (truncated)
		cli_error(cli, "warning: --trace: only the first %u events were written",
			  TRACE_EVENTS_MAX);
}

static int open_devices(struct cli *cli, char **names, int n, struct vfm_device **devs)
{
	for (int i = 0; i < n; i++) {
		int ex = cli_open(cli, names[i], &devs[i]);

		if (ex != EXIT_OK)
			return ex;
		for (int k = 0; k < i; k++)
			if (streq(vfm_device_name(devs[k]), vfm_device_name(devs[i]))) {
				cli_error(cli, "%s is named twice", vfm_device_name(devs[i]));
				return EXIT_USAGE;
			}
	}
	return EXIT_OK;
}

#define TLS_HELP                                                                       \
	"\nTLS 1.3 on tcp:// and unix: (the side that listens is the TLS server):\n"        \
	"  --tls-creds DIR         x509 credentials in QEMU's layout (ca-cert.pem,\n"       \
	"                          server-cert.pem, server-key.pem, client-cert.pem,\n"     \
	"                          client-key.pem, ca-crl.pem): /etc/pki/qemu serves\n"     \
	"  --tls-hostname NAME     the name the server's certificate must carry\n"         \
	"                          (default: the URI's host)\n"                             \
	"  --tls-authz PATTERN     allow only peers whose certificate DN matches the\n"    \
	"                          glob PATTERN (repeatable, at most 32)\n"                 \
	"  --tls-psk FILE          a pre-shared key instead (QEMU's keys.psk:\n"           \
	"                          identity:hexkey lines)\n"

/* ---- save ---- */

static void save_help(void)
{
	printf("Usage: vfiomig save DEV... --to URI [options]\n\n"
	       "Stream the state of the devices to URI: tcp://HOST:PORT (connect; with\n"
	       "--listen, listen there instead), unix:/PATH, file:/PATH, - (stdout), fd:N,\n"
	       "exec:CMD (sh -c CMD, e.g. ssh, with its stdin and stdout as the stream).\n"
	       "On success the devices are left stopped.  On any failure before COMMIT\n"
	       "(sent once the destination has loaded every device), or a failure verdict\n"
	       "after it, they are returned to RUNNING.  COMMIT sent and no verdict: they\n"
	       "stay stopped, in doubt (exit 6).\n\n"
	       "  --to URI                where the stream goes (required)\n"
	       "  --listen                wait for the destination to connect\n"
	       "  --no-precopy            do not use PRE_COPY\n"
	       "  --precopy-rounds N      at most N precopy rounds (default 30)\n"
	       "  --precopy-seconds S     at most S seconds of precopy (default 60)\n"
	       "  --dirty-threshold SIZE  stop precopy when dirty bytes <= SIZE (default 0)\n"
	       "  --on-quiesced CMD       run CMD (sh -c) once every device is quiesced,\n"
	       "                          before any stops; its failure aborts and rolls back\n"
	       "  --timeout S             deadline of each exchange with the peer (default 60;\n"
	       "                          the verdict after COMMIT: twice that)\n"
	       "  --force                 several devices even without P2P\n"
	       "  --no-vf-config          do not carry the VFs' network settings (MAC,\n"
	       "                          VLAN, trust...) in the stream\n"
	       "  --chunk SIZE            bytes per stream chunk (default 1M, max 16M)\n"
	       "  --streams N             N connections for the data (tcp:// and unix:;\n"
	       "                          default 1: everything on one connection), plus\n"
	       "                          the first for the control records; at most 16\n"
	       "  --progress[=json], --no-progress  a progress line on stderr (default: on\n"
	       "                   a TTY), or one JSON object a line for programs\n"
	       "  --trace FILE            write what each device did, when, as Chrome\n"
	       "                          trace-event JSON (Perfetto, chrome://tracing,\n"
	       "                          vfiomig timeline)\n"
	       TLS_HELP);
}

int cmd_save(struct cli *cli, int argc, char **argv)
{
	struct vfm_device *devs[VFM_SET_MAX] = { NULL };
	struct vfm_endpoint *ep = NULL;
	struct vfm_job_report *rep = NULL;
	struct vfm_save_opts so;
	struct save_args a;
	struct link link = { 0 };
	struct cli_progress prog = { .verb = "save" };
	struct hook hook = { 0 };
	struct trace *trace = NULL;
	const char *to;
	int n = 0, r, ex = EXIT_OK;

	if (cli_save_args(cli, argc, argv, false, save_help, &a, &ex) < 0)
		return ex;
	vfm_save_opts_init(&so);
	so.precopy = !a.no_precopy;
	if (a.has_rounds)
		so.precopy_max_rounds = (unsigned)a.rounds;
	if (a.has_seconds)
		so.precopy_max_usec = a.seconds * 1000000;
	if (a.has_dirty)
		so.dirty_threshold = a.dirty;
	if (a.has_timeout)
		so.timeout_ms = (unsigned)(a.timeout * 1000);
	if (a.has_chunk)
		so.chunk_size = (size_t)a.chunk;
	so.force = a.force;
	so.no_vf_config = a.no_vf_config;
	if (a.streams > 1) {
		so.streams = (unsigned)a.streams;
		so.open_stream = open_stream;
		so.stream_userdata = &link;
	}
	hook.cmd = a.hook;
	prog.tty = a.tty;
	prog.json = a.progress_json;
	to = a.to;
	n = a.n;
	so.cancel_fd = cli_setup_signals();
	if (so.cancel_fd < 0)
		return EXIT_FAILED;
	ex = open_trace(cli, a.trace, "vfiomig save", &trace);
	if (ex != EXIT_OK)
		return ex;
	ex = open_devices(cli, a.devs, n, devs);
	if (ex != EXIT_OK)
		goto out;
	r = open_endpoint(cli, to, a.listen, true, &a.tls,
			  VFM_EP_WRITE | (cli_uri_is_two_way(to) ? VFM_EP_READ : 0),
			  so.timeout_ms, so.cancel_fd, &link, &ep);
	if (r < 0) {
		ex = EXIT_FAILED;
		goto out;
	}
	rep = calloc(1, sizeof(*rep));
	if (!rep) {
		ex = EXIT_FAILED;
		goto out;
	}
	so.progress = on_progress;
	so.progress_userdata = &prog;
	if (hook.cmd) {
		hook.rep = rep;
		so.on_quiesced = run_hook;
		so.hook_userdata = &hook;
	}
	if (trace) {
		so.on_event = trace_job_event;
		so.event_userdata = trace_job(trace, "save");
	}
	vfm_save(devs, (size_t)n, ep, &so, rep);
	close_trace(cli, trace);
	trace = NULL;
	if (rep->in_doubt) {
		size_t len = strlen(rep->message);

		snprintf(rep->message + len, sizeof(rep->message) - len,
			 ": once you know the destination does not run them, resume them "
			 "with 'vfiomig state DEV RUNNING'");
	}
	snprintf(rep->security, sizeof(rep->security), "%s", vfm_endpoint_security(ep));
	hint_tls(rep, to, &a.tls);
	if (prog.shown)
		fputc('\n', stderr);
	finish_command(cli, ep, rep);
	ex = cli_finish_job(cli, true, rep, to, vfm_endpoint_description(ep),
			    vfm_endpoint_writes_stdout(ep));
out:
	close_trace(cli, trace);
	vfm_endpoint_free(ep);
	link_free(&link);
	for (int i = 0; i < n && i < VFM_SET_MAX; i++)
		vfm_device_unref(devs[i]);
	free(rep);
	return ex;
}

/* ---- restore ---- */

static void restore_help(void)
{
	printf("Usage: vfiomig restore DEV... --from URI [options]\n\n"
	       "Load a stream into the devices: tcp://[ADDR]:PORT (listen; with --connect,\n"
	       "connect there instead), unix:/PATH (listen), file:/PATH, fd:N, exec:CMD,\n"
	       "- (stdin; answers on stdout, and the report on stderr, unless stdout is a\n"
	       "terminal).\n"
	       "The Nth device of the stream goes to the Nth DEV unless --map says otherwise.\n"
	       "The header is checked against the devices before any is touched; every\n"
	       "chunk's CRC before it reaches a device.  On success the devices run.\n\n"
	       "  --from URI        where the stream comes from (required)\n"
	       "  --connect         connect to URI (the source listens)\n"
	       "  --map LIST        stream device i goes to DEV number LIST[i]: e.g. 1,0\n"
	       "  --any-id          accept other device IDs, driver or mdev type (the driver\n"
	       "                    still validates the data)\n"
	       "  --no-vf-config    do not apply the VFs' network settings the stream\n"
	       "                    carries (otherwise they are applied to each VF's PF\n"
	       "                    before the device runs)\n"
	       "  --timeout S       deadline of each exchange with the peer (default 60)\n"
	       "  --progress[=json], --no-progress  a progress line on stderr (default: on\n"
	       "                   a TTY), or one JSON object a line for programs\n"
	       "  --trace FILE      write what each device did, when, as Chrome trace-event\n"
	       "                    JSON (Perfetto, chrome://tracing, vfiomig timeline)\n"
	       TLS_HELP);
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	struct vfm_device *devs[VFM_SET_MAX] = { NULL };
	struct vfm_endpoint *ep = NULL;
	struct vfm_job_report *rep = NULL;
	struct vfm_restore_opts ro;
	struct restore_args a;
	struct link link = { 0 };
	struct cli_progress prog = { .verb = "restore" };
	struct trace *trace = NULL;
	const char *from;
	int n = 0, r, ex = EXIT_OK;

	if (cli_restore_args(cli, argc, argv, false, restore_help, &a, &ex) < 0)
		return ex;
	vfm_restore_opts_init(&ro);
	ro.skip_compat_ids = a.any_id;
	ro.no_vf_config = a.no_vf_config;
	if (a.has_timeout)
		ro.timeout_ms = (unsigned)(a.timeout * 1000);
	if (a.has_map)
		ro.map = a.map;
	prog.tty = a.tty;
	prog.json = a.progress_json;
	from = a.from;
	n = a.n;
	ro.cancel_fd = cli_setup_signals();
	if (ro.cancel_fd < 0)
		return EXIT_FAILED;
	ex = open_trace(cli, a.trace, "vfiomig restore", &trace);
	if (ex != EXIT_OK)
		return ex;
	ex = open_devices(cli, a.devs, n, devs);
	if (ex != EXIT_OK)
		goto out;
	r = open_endpoint(cli, from, cli_uri_is_socket(from) && !a.connect, false, &a.tls,
			  restore_directions(from), ro.timeout_ms, ro.cancel_fd, &link, &ep);
	if (r < 0) {
		ex = EXIT_FAILED;
		goto out;
	}
	rep = calloc(1, sizeof(*rep));
	if (!rep) {
		ex = EXIT_FAILED;
		goto out;
	}
	ro.progress = on_progress;
	ro.progress_userdata = &prog;
	if (cli_uri_is_socket(from)) { /* a source with --streams */
		ro.open_stream = open_stream;
		ro.stream_userdata = &link;
	}
	if (trace) {
		ro.on_event = trace_job_event;
		ro.event_userdata = trace_job(trace, "restore");
	}
	vfm_restore(devs, (size_t)n, ep, &ro, rep);
	close_trace(cli, trace);
	trace = NULL;
	snprintf(rep->security, sizeof(rep->security), "%s", vfm_endpoint_security(ep));
	hint_tls(rep, from, &a.tls);
	if (prog.shown)
		fputc('\n', stderr);
	finish_command(cli, ep, rep);
	ex = cli_finish_job(cli, false, rep, from, vfm_endpoint_description(ep),
			    vfm_endpoint_writes_stdout(ep));
out:
	close_trace(cli, trace);
	vfm_endpoint_free(ep);
	link_free(&link);
	for (int i = 0; i < n && i < VFM_SET_MAX; i++)
		vfm_device_unref(devs[i]);
	free(rep);
	return ex;
}
