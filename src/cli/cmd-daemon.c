// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CLI as a vfiomigd client: `vfiomig --connect[=SOCKET] save|restore ...` runs the
 * job in the daemon with the options and the output of the local commands, and
 * `jobs`, `wait`, `cancel`, `continue`, `attach`, `detach` talk to it.
 *
 * Descriptors the daemon could not open itself travel with the request (SCM_RIGHTS):
 * devices named fd:N[:NAME], and the stream for "-", fd:N and file:PATH (the file is
 * opened here, with the user's rights, never by the daemon).  A quiesced hook
 * (--on-quiesced) runs here; the daemon waits for its result ("continue").  SIGINT
 * and SIGTERM cancel the job; if this process dies, the job carries on in the daemon
 * (`vfiomig wait JOB` finds it) unless it was waiting for the hook, which then fails
 * and rolls the devices back.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "client.h"
#include "migrate-args.h"
#include "report.h"
#include "job.h"
#include "transport.h"
#include "util.h"

#define ERR_MAX 1024

/* read end of report.c's self-pipe: SIGINT/SIGTERM cancel a followed job */
static int signal_fd = -1;

static int connect_daemon(struct cli *cli, struct vfmc **ret)
{
	char err[ERR_MAX];
	int r = vfmc_connect(cli->connect ? cli->connect : vfmc_default_socket(), ret,
			     err, sizeof(err));

	if (r < 0) {
		cli_error(cli, "%s", err);
		cli_set_errno(cli, r);
	}
	return r;
}

/* Exit code of a daemon error response: as the same failure would give locally, so
 * a device the daemon cannot open, or that is busy (in another job, held, its group
 * in use), is EXIT_NODEV. */
static int request_exit_code(int err, const char *device)
{
	if (device && device[0])
		return EXIT_NODEV;
	if (err == -EINVAL)
		return EXIT_USAGE;
	return EXIT_FAILED;
}

/* ---- progress and report: printed by report.c, as for a local job ---- */

static uint64_t u64_of(struct json_object *o, const char *key)
{
	long long v = vfmc_int(o, key, 0);

	return v < 0 ? 0 : (uint64_t)v;
}

/* The daemon's figures (a progress or finished event, a job status) as the job
 * layer's report, so that report.c prints them as it prints a local job's. */
static void report_of(struct json_object *o, struct vfm_job_report *rep)
{
	struct json_object *devs = NULL;
	const char *phase = vfmc_str(o, "phase", "");

	memset(rep, 0, sizeof(*rep));
	for (int p = VFM_JOB_HEADER; p <= VFM_JOB_ROLLBACK; p++)
		if (streq(phase, vfm_job_phase_name((enum vfm_job_phase)p)))
			rep->phase = (enum vfm_job_phase)p;
	rep->stream_id = strtoull(vfmc_str(o, "stream_id", "0"), NULL, 16);
	rep->total_bytes = u64_of(o, "total_bytes");
	rep->elapsed_usec = u64_of(o, "elapsed_usec");
	rep->precopy_rounds = (unsigned)u64_of(o, "precopy_rounds");
	rep->streams = (unsigned)MIN(u64_of(o, "streams"), (uint64_t)VFM_STREAMS_MAX);
	rep->precopy_reinits = (unsigned)u64_of(o, "precopy_reinits");
	rep->precopy_usec = u64_of(o, "precopy_usec");
	rep->downtime_usec = u64_of(o, "downtime_usec");
	rep->rolled_back = vfmc_bool(o, "rolled_back", false);
	if (vfmc_str(o, "reset_failure", NULL)) {
		rep->reset_failed = true;
		strcopy(rep->reset_failure, sizeof(rep->reset_failure),
			vfmc_str(o, "reset_failure", ""));
	}
	rep->devices_left_running = vfmc_bool(o, "devices_left_running", false);
	rep->in_doubt = vfmc_bool(o, "in_doubt", false);
	rep->one_way = vfmc_bool(o, "one_way", false);
	if (vfmc_str(o, "warning", NULL)) {
		rep->verdict_lost = true;
		strcopy(rep->message, sizeof(rep->message), vfmc_str(o, "warning", ""));
	}
	strcopy(rep->security, sizeof(rep->security), vfmc_str(o, "security", ""));
	if (!vfmc_bool(o, "success", true)) {
		struct json_object *e = NULL;

		json_object_object_get_ex(o, "error", &e);
		rep->error = -(int)vfmc_int(e, "errno", EIO);
		if (rep->error >= 0)
			rep->error = -EIO;
		strcopy(rep->message, sizeof(rep->message), vfmc_str(e, "message", ""));
	}
	json_object_object_get_ex(o, "devices", &devs);
	rep->n = devs ? MIN(json_object_array_length(devs), (size_t)VFM_SET_MAX) : 0;
	for (size_t i = 0; i < rep->n; i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);
		struct vfm_job_dev *jd = &rep->dev[i];
		long long est = vfmc_int(d, "estimate_bytes", -1);

		strcopy(jd->name, sizeof(jd->name), vfmc_str(d, "device", "?"));
		jd->precopy_bytes = u64_of(d, "precopy_bytes");
		jd->stopcopy_bytes = u64_of(d, "stopcopy_bytes");
		jd->stopcopy_usec = u64_of(d, "stopcopy_usec");
		jd->precopy_reinits = (unsigned)u64_of(d, "precopy_reinits");
		jd->estimate = est >= 0 ? (uint64_t)est : UINT64_MAX;
		strcopy(jd->vf_config, sizeof(jd->vf_config),
			vfmc_str(d, "vf_config_status", ""));
	}
}

static void show_progress(struct cli_progress *p, struct json_object *ev)
{
	struct vfm_job_report *rep;

	if ((!p->tty && !p->json) || !(rep = malloc(sizeof(*rep))))
		return;
	report_of(ev, rep);
	cli_show_progress(p, rep);
	free(rep);
}

/* Print the outcome of a job as the local command would; returns the exit code. */
static int report_finished(struct cli *cli, struct json_object *fin, const char *where,
			   bool report_to_stderr)
{
	bool save = streq(vfmc_str(fin, "operation", "save"), "save");
	struct vfm_job_report *rep;
	int ex;

	if (!vfmc_bool(fin, "success", false) &&
	    streq(vfmc_str(fin, "stage", "job"), "endpoint")) {
		struct json_object *e = NULL;

		/* as the local command: the transport's sentence, no report */
		json_object_object_get_ex(fin, "error", &e);
		cli_error(cli, "%s", vfmc_str(e, "message", "?"));
		cli_set_errno(cli, (int)vfmc_int(e, "errno", 0));
		return EXIT_FAILED;
	}
	rep = malloc(sizeof(*rep));
	if (!rep)
		return EXIT_FAILED;
	report_of(fin, rep);
	if (!vfmc_bool(fin, "success", false) && !rep->error)
		rep->error = -EIO; /* a finished job that does not say it succeeded */
	ex = cli_finish_job(cli, save, rep, where, vfmc_str(fin, "peer", NULL),
			    report_to_stderr);
	free(rep);
	return ex;
}

/* ---- following a job ---- */

/* "vfiomig: listening on URI" in one write, as the local command: a reader never
 * sees half the line. */
static void print_listening(const char *uri)
{
	char line[VFM_URI_MAX + 64];
	int len = snprintf(line, sizeof(line), "vfiomig: listening on %s\n", uri);

	if (len > 0 && write(STDERR_FILENO, line, (size_t)MIN(len, (int)sizeof(line) - 1)) < 0) {
		/* stderr gone: nothing to tell */
	}
}

struct follow {
	struct cli *cli;
	struct vfmc *c;
	unsigned job;
	struct cli_progress prog;
	const char *hook; /* --on-quiesced */
	bool cancel_on_signal;
	bool cancel_sent;
	int continue_id, cancel_id;
};

static void on_quiesced(struct follow *f, struct json_object *ev)
{
	struct json_object *req;
	char why[256] = "";

	if (!vfmc_bool(ev, "ack_required", false))
		return;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("continue"));
	json_object_object_add(req, "job", json_object_new_uint64(f->job));
	if (f->hook && cli_run_hook(f->hook, vfmc_str(ev, "stream_id", ""), f->job, why,
				sizeof(why)) != 0)
		json_object_object_add(req, "abort", json_object_new_string(why));
	f->continue_id = vfmc_send(f->c, req, NULL, 0);
	json_object_put(req);
}

static void send_cancel(struct follow *f)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string("cancel"));
	json_object_object_add(req, "job", json_object_new_uint64(f->job));
	f->cancel_id = vfmc_send(f->c, req, NULL, 0);
	json_object_put(req);
	f->cancel_sent = true;
}

/* Wait for the job's "finished" event: *@ret_fin. */
static int follow_job(struct follow *f, struct json_object **ret_fin)
{
	for (;;) {
		struct json_object *m = NULL;
		const char *ev;
		int r = vfmc_next(f->c, -1, f->cancel_on_signal ? signal_fd : -1, &m);

		if (r == 2) {
			char sig;

			while (read(signal_fd, &sig, 1) > 0)
				;
			send_cancel(f);
			continue;
		}
		if (r <= 0) {
			if (f->prog.shown)
				fputc('\n', stderr);
			cli_error(f->cli,
				  "lost the connection to vfiomigd (%s): job %u may "
				  "still run "
				  "there (vfiomig wait %u)",
				  r == 0 ? "closed" : strerror(-r), f->job, f->job);
			return -ECONNRESET;
		}
		ev = vfmc_str(m, "event", NULL);
		if (!ev) {
			char err[ERR_MAX];
			long long id = vfmc_int(m, "id", -1);

			/* answers to our cancel or continue; an error says why not */
			if (vfmc_error_of(m, err, sizeof(err), NULL, 0) < 0 &&
			    (id == f->cancel_id || id == f->continue_id || id < 0)) {
				if (f->prog.shown)
					fputc('\n', stderr);
				cli_error(f->cli, "%s", err);
			}
		} else if (vfmc_int(m, "job", 0) != f->job) {
			/* another job's */
		} else if (streq(ev, "phase") || streq(ev, "progress")) {
			show_progress(&f->prog, m);
		} else if (streq(ev, "quiesced")) {
			on_quiesced(f, m);
		} else if (streq(ev, "listening")) {
			/* a host name the daemon resolved in the job's thread */
			print_listening(vfmc_str(m, "listening", ""));
		} else if (streq(ev, "finished")) {
			if (f->prog.shown)
				fputc('\n', stderr);
			*ret_fin = m;
			return 0;
		}
		json_object_put(m);
	}
}

/* ---- save and restore through the daemon ---- */

struct remote {
	struct json_object *req;
	int fds[VFM_SET_MAX + 1];
	size_t n_fds;
	const char *uri;
};

static int add_fd(struct remote *rm, int fd)
{
	rm->fds[rm->n_fds] = fd;
	return (int)rm->n_fds++;
}

/* fd:N[:NAME]: pass N; file:, -, fd:N streams too */
static int add_devices(struct cli *cli, struct remote *rm, char **names, int n)
{
	struct json_object *arr = json_object_new_array();

	json_object_object_add(rm->req, "devices", arr);
	/* the daemon opens the devices named here: with the token */
	if (cli->vf_token)
		json_object_object_add(rm->req, "vf_token",
				       json_object_new_string(cli->vf_token));
	for (int i = 0; i < n; i++) {
		const char *s = names[i];

		if (strncmp(s, "fd:", 3) == 0) {
			struct json_object *d;
			const char *colon = strchr(s + 3, ':');
			char num[16];
			int fd;

			if ((size_t)(colon ? colon - (s + 3) : (long)strlen(s + 3)) >=
			    sizeof(num)) {
				cli_error(cli, "%s: not a file descriptor number", s);
				return EXIT_NODEV;
			}
			snprintf(num, sizeof(num), "%.*s",
				 (int)(colon ? colon - (s + 3) : (long)strlen(s + 3)),
				 s + 3);
			if (parse_int(num, 0, INT32_MAX, &fd) < 0 ||
			    fcntl(fd, F_GETFD) < 0) {
				cli_error(cli, "%s: no such open file descriptor", s);
				return EXIT_NODEV;
			}
			d = json_object_new_object();
			json_object_object_add(d, "fd",
					       json_object_new_int(add_fd(rm, fd)));
			if (colon && colon[1])
				json_object_object_add(d, "device",
						       json_object_new_string(colon + 1));
			json_object_array_add(arr, d);
		} else {
			json_object_array_add(arr, json_object_new_string(s));
		}
	}
	return EXIT_OK;
}

/* file:PATH as the transport opens it (created 0600 for writing). */
static int open_file(struct cli *cli, const char *path, bool save)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (save) {
		_cleanup_free_ char *dir = strdup(path);
		_cleanup_close_ int dir_fd = -1;
		char *slash = dir ? strrchr(dir, '/') : NULL;
		const char *name = slash ? slash + 1 : dir;

		if (!dir)
			return -ENOMEM;
		if (slash)
			*slash = '\0';
		dir_fd = open(!slash	     ? "."
			      : slash == dir ? "/"
					     : dir,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir_fd < 0) {
			cli_error(cli, "file %s: directory: %m", path);
			return -errno;
		}
		if (!*name) {
			cli_error(cli, "file %s: is a directory", path);
			return -EISDIR;
		}
		fd = openat(dir_fd, name,
			    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		cli_error(cli, "file %s: %m", path);
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_error(cli, "file %s: is a directory", path);
		return -EISDIR;
	}
	return TAKE_FD(fd);
}

/* A path as the daemon needs it: absolute (its directory is not ours). */
static int add_path(struct cli *cli, struct json_object *req, const char *key,
		    const char *path)
{
	char cwd[VFM_TLS_PATH_MAX + 1], abs[2 * VFM_TLS_PATH_MAX + 2];

	if (!path)
		return EXIT_OK;
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			cli_error(cli, "%s: cannot make it absolute: %m", path);
			return EXIT_FAILED;
		}
		snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
		if (strlen(abs) > VFM_TLS_PATH_MAX) {
			cli_error(cli, "%s: longer than %d bytes", abs, VFM_TLS_PATH_MAX);
			return EXIT_USAGE;
		}
		path = abs;
	}
	json_object_object_add(req, key, json_object_new_string(path));
	return EXIT_OK;
}

/* --tls-* as the request's tls_* fields */
static int add_tls(struct cli *cli, struct json_object *req, const struct cli_tls_args *t)
{
	int ex = add_path(cli, req, "tls_creds", t->creds);

	if (ex == EXIT_OK)
		ex = add_path(cli, req, "tls_psk", t->psk);
	if (t->hostname)
		json_object_object_add(req, "tls_hostname",
				       json_object_new_string(t->hostname));
	if (t->n_authz) {
		struct json_object *arr = json_object_new_array();

		for (size_t i = 0; i < t->n_authz; i++)
			json_object_array_add(arr, json_object_new_string(t->authz[i]));
		json_object_object_add(req, "tls_authz", arr);
	}
	return ex;
}

static int add_stream(struct cli *cli, struct remote *rm, const char *uri, bool save,
		      int *ret_opened)
{
	const char *key = save ? "to" : "from";
	int fd = -1;

	*ret_opened = -1;
	if (streq(uri, "-")) {
		fd = save ? STDOUT_FILENO : STDIN_FILENO;
	} else if (strncmp(uri, "fd:", 3) == 0) {
		if (parse_int(uri + 3, 0, INT32_MAX, &fd) < 0 || fcntl(fd, F_GETFD) < 0) {
			cli_error(cli, "%s: no such open file descriptor", uri);
			return EXIT_FAILED;
		}
	} else if (strncmp(uri, "file:", 5) == 0) {
		/* opened here, with this user's rights; the messages are the transport's
		 */
		fd = open_file(cli, uri + 5, save);
		if (fd < 0)
			return EXIT_FAILED;
		*ret_opened = fd;
	} else {
		json_object_object_add(rm->req, key, json_object_new_string(uri));
		return EXIT_OK;
	}
	json_object_object_add(rm->req, "stream_fd", json_object_new_int(add_fd(rm, fd)));
	/* what jobs and wait show for it */
	json_object_object_add(rm->req, "stream_name", json_object_new_string(uri));
	return EXIT_OK;
}

/* A saved file is on disk only once its directory is too. */
static void sync_dir_of(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	_cleanup_close_ int fd = -1;

	if (!dir)
		return;
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
}

/* A daemon's result as the command's JSON document (main() prints it). */
static void print_result(struct cli *cli, struct json_object *res)
{
	out_document_set(json_object_get(res), cli->pretty);
}

static void print_started(struct cli *cli, struct json_object *res)
{
	if (cli->json)
		print_result(cli, res);
	else
		printf("job %lld\n", vfmc_int(res, "job", 0));
	fflush(stdout);
}

static int run_remote(struct cli *cli, struct remote *rm, bool save, bool detach,
		      const char *hook, bool progress_tty, bool progress_json, int opened_fd)
{
	struct follow f = {.cli = cli, .hook = hook, .cancel_on_signal = true};
	struct json_object *res = NULL, *fin = NULL;
	char err[ERR_MAX], dev[VFM_NAME_MAX];
	struct vfmc *c = NULL;
	int r, ex;

	signal_fd = cli_setup_signals();
	if (signal_fd < 0 || connect_daemon(cli, &c) < 0) {
		ex = EXIT_FAILED;
		goto out;
	}
	r = vfmc_call(c, rm->req, rm->fds, rm->n_fds, &res, err, sizeof(err), dev,
		      sizeof(dev), NULL, NULL);
	if (r < 0) {
		cli_error(cli, "%s", err);
		cli_set_errno(cli, r);
		ex = request_exit_code(r, dev);
		goto out;
	}
	/* the descriptors are the daemon's now; ours are not needed */
	opened_fd = safe_close(opened_fd);
	f.job = (unsigned)vfmc_int(res, "job", 0);
	if (vfmc_str(res, "listening", NULL))
		print_listening(vfmc_str(res, "listening", ""));
	if (detach) {
		print_started(cli, res);
		ex = EXIT_OK;
		goto out;
	}
	f.c = c;
	f.prog = (struct cli_progress){
		.tty = progress_tty, .json = progress_json, .verb = save ? "save" : "restore"};
	if (follow_job(&f, &fin) < 0) {
		ex = EXIT_FAILED;
		goto out;
	}
	ex = report_finished(cli, fin, rm->uri, save && streq(rm->uri, "-"));
	if (ex == EXIT_OK && save && strncmp(rm->uri, "file:", 5) == 0)
		sync_dir_of(rm->uri + 5);
out:
	safe_close(opened_fd);
	json_object_put(res);
	json_object_put(fin);
	vfmc_free(c);
	return ex;
}

static void save_help(void)
{
	printf("Usage: vfiomig --connect[=SOCKET] save DEV... --to URI [options]\n\n"
	       "Run the save in vfiomigd: the options, output and exit codes of\n"
	       "`vfiomig save` (see its --help), and:\n\n"
	       "  --detach            print the job number and leave it running\n"
	       "  --ack-timeout S     how long the daemon waits for the --on-quiesced\n"
	       "                      command (default 30)\n"
	       "  --wait-ack          wait for a `vfiomig continue JOB` once quiesced\n"
	       "  --cancel-on-exit    the job is cancelled if this command dies\n\n"
	       "DEV may be fd:N[:NAME] (passed to the daemon); file:, - and fd:N streams "
	       "are\n"
	       "opened here and passed too.  SIGINT and SIGTERM cancel the job.\n");
}

static void add_u64(struct json_object *req, const char *key, bool given, uint64_t v)
{
	if (given)
		json_object_object_add(req, key, json_object_new_uint64(v));
}

static void add_true(struct json_object *req, const char *key, bool given)
{
	if (given)
		json_object_object_add(req, key, json_object_new_boolean(true));
}

int cmd_save_remote(struct cli *cli, int argc, char **argv)
{
	struct remote rm = {.req = json_object_new_object()};
	struct save_args a;
	int ex = EXIT_OK, opened = -1;

	json_object_object_add(rm.req, "cmd", json_object_new_string("save"));
	if (cli_save_args(cli, argc, argv, true, save_help, &a, &ex) < 0)
		goto done;
	if (a.no_precopy)
		json_object_object_add(rm.req, "precopy", json_object_new_boolean(false));
	add_u64(rm.req, "precopy_max_rounds", a.has_rounds, a.rounds);
	add_u64(rm.req, "precopy_max_usec", a.has_seconds, a.seconds * 1000000);
	add_u64(rm.req, "dirty_threshold_bytes", a.has_dirty, a.dirty);
	add_u64(rm.req, "timeout_usec", a.has_timeout, a.timeout * 1000000);
	add_u64(rm.req, "chunk_bytes", a.has_chunk, a.chunk);
	add_u64(rm.req, "streams", a.streams > 1, a.streams);
	add_u64(rm.req, "ack_timeout_usec", a.has_ack_timeout, a.ack_timeout * 1000000);
	add_true(rm.req, "force", a.force);
	if (a.no_vf_config)
		json_object_object_add(rm.req, "vf_config", json_object_new_boolean(false));
	/* The hook runs here: without this process the job cannot go on. */
	add_true(rm.req, "cancel_on_disconnect", a.cancel_on_exit || a.hook);
	add_true(rm.req, "listen", a.listen);
	add_true(rm.req, "quiesce_ack", a.hook || a.wait_ack);
	rm.uri = a.to;
	ex = add_tls(cli, rm.req, &a.tls);
	if (ex == EXIT_OK)
		ex = add_devices(cli, &rm, a.devs, a.n);
	if (ex == EXIT_OK)
		ex = add_stream(cli, &rm, a.to, true, &opened);
	if (ex == EXIT_OK)
		ex = run_remote(cli, &rm, true, a.detach, a.hook, a.tty, a.progress_json,
				opened);
	else
		safe_close(opened);
done:
	json_object_put(rm.req);
	return ex;
}

static void restore_help(void)
{
	printf("Usage: vfiomig --connect[=SOCKET] restore DEV... --from URI [options]\n\n"
	       "Run the restore in vfiomigd: the options, output and exit codes of\n"
	       "`vfiomig restore` (see its --help), and:\n\n"
	       "  --detach            print the job number (and where it listens) and "
	       "leave\n"
	       "                      it running\n"
	       "  --cancel-on-exit    the job is cancelled if this command dies\n");
}

int cmd_restore_remote(struct cli *cli, int argc, char **argv)
{
	struct remote rm = {.req = json_object_new_object()};
	struct restore_args a;
	int ex = EXIT_OK, opened = -1;

	json_object_object_add(rm.req, "cmd", json_object_new_string("restore"));
	if (cli_restore_args(cli, argc, argv, true, restore_help, &a, &ex) < 0)
		goto done;
	add_true(rm.req, "any_id", a.any_id);
	if (a.no_vf_config)
		json_object_object_add(rm.req, "vf_config", json_object_new_boolean(false));
	add_u64(rm.req, "timeout_usec", a.has_timeout, a.timeout * 1000000);
	add_true(rm.req, "cancel_on_disconnect", a.cancel_on_exit);
	add_true(rm.req, "connect", a.connect);
	if (a.has_map) {
		struct json_object *arr = json_object_new_array();

		for (int i = 0; i < a.n; i++)
			json_object_array_add(arr, json_object_new_int((int)a.map[i]));
		json_object_object_add(rm.req, "map", arr);
	}
	rm.uri = a.from;
	ex = add_tls(cli, rm.req, &a.tls);
	if (ex == EXIT_OK)
		ex = add_devices(cli, &rm, a.devs, a.n);
	if (ex == EXIT_OK)
		ex = add_stream(cli, &rm, a.from, false, &opened);
	if (ex == EXIT_OK)
		ex = run_remote(cli, &rm, false, a.detach, NULL, a.tty, a.progress_json,
				opened);
	else
		safe_close(opened);
done:
	json_object_put(rm.req);
	return ex;
}

/* ---- jobs, wait, cancel, continue, attach, detach ---- */

/* One request, the result printed as JSON or by @text. */
static int simple_call(struct cli *cli, struct json_object *req, const int *fds,
		       size_t n_fds, void (*text)(struct json_object *res))
{
	struct json_object *res = NULL;
	char err[ERR_MAX], dev[VFM_NAME_MAX];
	struct vfmc *c = NULL;
	int r, ex = EXIT_OK;

	if (connect_daemon(cli, &c) < 0) {
		json_object_put(req);
		return EXIT_FAILED;
	}
	r = vfmc_call(c, req, fds, n_fds, &res, err, sizeof(err), dev, sizeof(dev), NULL,
		      NULL);
	if (r < 0) {
		cli_error(cli, "%s", err);
		cli_set_errno(cli, r);
		ex = request_exit_code(r, dev);
		if (r == -ENOENT && !dev[0])
			ex = EXIT_FAILED;
	} else if (cli->json) {
		print_result(cli, res);
	} else if (text) {
		text(res);
	}
	json_object_put(res);
	json_object_put(req);
	vfmc_free(c);
	return ex;
}

static struct json_object *request(const char *cmd)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	return req;
}

static int job_arg(struct cli *cli, int argc, char **argv, const char *what,
		   unsigned *ret)
{
	uint32_t v;

	if (argc - optind != 1 || parse_u32(argv[optind], 10, UINT32_MAX, &v) < 0 ||
	    v == 0) {
		cli_error(cli, "%s needs one job number (see vfiomig %s --help)", what,
			  what);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static void jobs_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] jobs [-j] [-p]\n\n"
	       "The jobs of vfiomigd: running ones and the last finished ones.\n");
}

static void jobs_text(struct json_object *res)
{
	struct json_object *jobs = NULL;
	size_t n;

	json_object_object_get_ex(res, "jobs", &jobs);
	n = jobs ? json_object_array_length(jobs) : 0;
	if (n == 0)
		printf("no jobs\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *j = json_object_array_get_idx(jobs, i), *devs = NULL;
		struct json_object *e = NULL;
		const char *uri = vfmc_str(j, "listening", vfmc_str(j, "uri", NULL));

		printf("%-4lld %-7s %-9s %-10s", vfmc_int(j, "job", 0),
		       vfmc_str(j, "operation", "?"), vfmc_str(j, "state", "?"),
		       vfmc_str(j, "phase", "?"));
		json_object_object_get_ex(j, "devices", &devs);
		for (size_t k = 0; devs && k < json_object_array_length(devs); k++)
			printf("%s%s", k ? "," : " ",
			       vfmc_str(json_object_array_get_idx(devs, k), "device", "?"));
		printf(" %s %s",
		       streq(vfmc_str(j, "operation", ""), "save") ? "->" : "<-",
		       uri ? uri : "(passed descriptor)");
		if (json_object_object_get_ex(j, "error", &e))
			printf(": %s", vfmc_str(e, "message", ""));
		putchar('\n');
	}
}

int cmd_jobs(struct cli *cli, int argc, char **argv)
{
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, jobs_help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (optind < argc) {
		cli_error(cli, "jobs takes no operands");
		return EXIT_USAGE;
	}
	return simple_call(cli, request("jobs"), NULL, 0, jobs_text);
}

static void wait_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] wait JOB "
	       "[--progress|--no-progress]\n\n"
	       "Wait for a job of vfiomigd to finish and print its report as `save` or\n"
	       "`restore` would, with their exit codes.  A finished job reports at "
	       "once.\n");
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"progress", no_argument, NULL, 'G'},
					     {"no-progress", no_argument, NULL, 'g'},
					     {}};
	struct follow f = {.cli = cli};
	struct json_object *req, *res = NULL, *fin = NULL;
	char err[ERR_MAX];
	struct vfmc *vc = NULL;
	bool tty = isatty(STDERR_FILENO);
	const char *where;
	int c, r, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", opts, wait_help, &ex)) > 0)
		tty = c == 'G';
	if (c < 0)
		return ex;
	if (job_arg(cli, argc, argv, "wait", &f.job) < 0)
		return EXIT_USAGE;
	if (connect_daemon(cli, &vc) < 0)
		return EXIT_FAILED;
	req = request("watch");
	json_object_object_add(req, "job", json_object_new_uint64(f.job));
	r = vfmc_call(vc, req, NULL, 0, &res, err, sizeof(err), NULL, 0, NULL, NULL);
	json_object_put(req);
	if (r < 0) {
		cli_error(cli, "%s", err);
		ex = EXIT_FAILED;
		goto out;
	}
	if (!streq(vfmc_str(res, "state", "running"), "running")) {
		fin = json_object_get(res);
	} else {
		f.c = vc;
		f.prog = (struct cli_progress){.tty = tty,
					   .verb = vfmc_str(res, "operation", "job")};
		if (follow_job(&f, &fin) < 0) {
			ex = EXIT_FAILED;
			goto out;
		}
	}
	where = vfmc_str(fin, "listening", vfmc_str(fin, "uri", "(passed descriptor)"));
	ex = report_finished(cli, fin, where, false);
out:
	json_object_put(res);
	json_object_put(fin);
	vfmc_free(vc);
	return ex;
}

static void cancel_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] cancel JOB\n\n"
	       "Cancel a job of vfiomigd: its devices roll back (RUNNING again).  A save "
	       "that\n"
	       "has sent COMMIT cannot be cancelled (the destination may run the devices).\n");
}

static void ok_text(struct json_object *res)
{
}

/* CMD JOB (no options): one request naming the job; @text prints its result. */
static int job_command(struct cli *cli, int argc, char **argv, const char *cmd,
		       void (*help)(void), void (*text)(struct json_object *res))
{
	struct json_object *req;
	unsigned job;
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (job_arg(cli, argc, argv, cmd, &job) < 0)
		return EXIT_USAGE;
	req = request(cmd);
	json_object_object_add(req, "job", json_object_new_uint64(job));
	return simple_call(cli, req, NULL, 0, text);
}

int cmd_cancel(struct cli *cli, int argc, char **argv)
{
	return job_command(cli, argc, argv, "cancel", cancel_help, ok_text);
}

static void resume_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] resume JOB\n\n"
	       "A save of vfiomigd in doubt (COMMIT sent, no verdict: exit 6) holds its\n"
	       "devices stopped with their state.  Once you know the destination does not\n"
	       "run them, resume them here: back to RUNNING through the P2P barrier, then\n"
	       "given back.  Prints each device and its state.\n");
}

static void release_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] release JOB\n\n"
	       "A save of vfiomigd in doubt (COMMIT sent, no verdict: exit 6) holds its\n"
	       "devices stopped with their state.  Once you know the destination runs\n"
	       "them, give them up here, stopped (a driver may reset a device it no longer\n"
	       "has open).  Prints each device and its state.\n");
}

static void device_states_text(struct json_object *res)
{
	struct json_object *devs = NULL;

	json_object_object_get_ex(res, "devices", &devs);
	for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);

		printf("%s %s\n", vfmc_str(d, "device", "?"), vfmc_str(d, "state", "unknown"));
	}
}

int cmd_resume(struct cli *cli, int argc, char **argv)
{
	return job_command(cli, argc, argv, "resume", resume_help, device_states_text);
}

int cmd_release(struct cli *cli, int argc, char **argv)
{
	return job_command(cli, argc, argv, "release", release_help, device_states_text);
}

static void continue_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] continue JOB [--abort REASON]\n\n"
	       "Acknowledge that a save's devices are quiesced (the VMM stopped its "
	       "vCPUs):\n"
	       "the devices stop and the save goes on.  --abort rolls it back "
	       "instead.\n");
}

int cmd_continue(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"abort", required_argument, NULL, 'A'}, {}};
	struct json_object *req;
	const char *abort_reason = NULL;
	unsigned job;
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", opts, continue_help, &ex)) > 0)
		abort_reason = optarg;
	if (c < 0)
		return ex;
	if (job_arg(cli, argc, argv, "continue", &job) < 0)
		return EXIT_USAGE;
	req = request("continue");
	json_object_object_add(req, "job", json_object_new_uint64(job));
	if (abort_reason)
		json_object_object_add(req, "abort",
				       json_object_new_string(abort_reason));
	return simple_call(cli, req, NULL, 0, ok_text);
}

static void attach_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] attach DEV...\n\n"
	       "Have vfiomigd open devices and keep them for later jobs.  fd:N:NAME "
	       "passes\n"
	       "descriptor N (a VFIO device fd this process holds) with the device's "
	       "name.\n");
}

static void names_text(struct json_object *res)
{
	struct json_object *devs = NULL;

	json_object_object_get_ex(res, "devices", &devs);
	for (size_t i = 0; devs && i < json_object_array_length(devs); i++)
		printf("%s\n", vfmc_str(json_object_array_get_idx(devs, i), "device", "?"));
}

static int devices_command(struct cli *cli, int argc, char **argv, const char *cmd,
			   void (*help)(void))
{
	struct remote rm = {.req = request(cmd)};
	int c, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0 || argc - optind < 1 || argc - optind > VFM_SET_MAX) {
		if (c >= 0) {
			cli_error(cli, "%s needs 1 to %d devices", cmd, VFM_SET_MAX);
			ex = EXIT_USAGE;
		}
		json_object_put(rm.req);
		return ex;
	}
	ex = add_devices(cli, &rm, argv + optind, argc - optind);
	if (ex != EXIT_OK) {
		json_object_put(rm.req);
		return ex;
	}
	/* detach opens nothing */
	if (streq(cmd, "detach"))
		json_object_object_del(rm.req, "vf_token");
	return simple_call(cli, rm.req, rm.fds, rm.n_fds, names_text);
}

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	return devices_command(cli, argc, argv, "attach", attach_help);
}

static void detach_help(void)
{
	printf("Usage: vfiomig [--connect[=SOCKET]] detach DEV...\n\n"
	       "Have vfiomigd close devices it holds (not while a job has them).\n");
}

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	return devices_command(cli, argc, argv, "detach", detach_help);
}
