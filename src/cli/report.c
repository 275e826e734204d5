// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What save and restore print, run here (cmd-migrate.c) or through vfiomigd
 * (cmd-daemon.c, which turns the daemon's events back into a struct
 * vfm_job_report): the progress line, the report, the failure sentence, the exit
 * code, and the self-pipe that turns SIGINT/SIGTERM into a cancel.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "contract.h"
#include "report.h"

static int signal_pipe[2] = { -1, -1 };

/* the first SIGINT or SIGTERM: a job it cancelled exits 128 + its number */
static volatile sig_atomic_t first_signal;

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (!first_signal)
		first_signal = sig;
	if (write(signal_pipe[1], &c, 1) < 0) {
		/* full: a signal is pending already */
	}
	errno = saved;
}

int cli_setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signal_pipe[0];
}

static void human(char *buf, size_t size, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ELEMENTSOF(unit)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* Columns of the terminal on stderr (80 when it says nothing). */
static unsigned term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* Progress as a JSON line on stderr, for programs (--progress=json). */
static void progress_json(const struct cli_progress *p, const struct vfm_job_report *rep,
			  uint64_t estimate, double eta)
{
	struct json_object *o = json_object_new_object(), *devs = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_int(VFM_JSON_VERSION));
	json_object_object_add(o, "operation", json_object_new_string(p->verb));
	json_object_object_add(o, "phase", json_object_new_string(vfm_job_phase_name(rep->phase)));
	json_object_object_add(o, "total_bytes", json_object_new_uint64(rep->total_bytes));
	json_object_object_add(o, "estimate_bytes",
			       estimate ? json_object_new_uint64(estimate) : NULL);
	json_object_object_add(o, "throughput_bytes_per_second",
			       json_object_new_uint64((uint64_t)p->rate));
	json_object_object_add(o, "eta_usec",
			       eta >= 0 ? json_object_new_uint64((uint64_t)(eta * 1e6)) : NULL);
	json_object_object_add(o, "elapsed_usec", json_object_new_uint64(rep->elapsed_usec));
	for (size_t i = 0; i < rep->n && i < VFM_SET_MAX; i++) {
		struct json_object *d = json_object_new_object();
		const struct vfm_job_dev *dv = &rep->dev[i];

		json_object_object_add(d, "device", json_object_new_string(dv->name));
		json_object_object_add(d, "precopy_bytes",
				       json_object_new_uint64(dv->precopy_bytes));
		json_object_object_add(d, "stopcopy_bytes",
				       json_object_new_uint64(dv->stopcopy_bytes));
		json_object_object_add(d, "estimate_bytes",
				       dv->estimate != UINT64_MAX
					       ? json_object_new_uint64(dv->estimate)
					       : NULL);
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "devices", devs);
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void cli_show_progress(struct cli_progress *p, const struct vfm_job_report *rep)
{
	char total[32], rate[32], est[32], line[512], part[96];
	uint64_t now = rep->elapsed_usec, estimate = 0;
	unsigned width;
	double eta = -1;
	size_t len;
	bool known = rep->n > 0, fresh = false;

	if (!p->tty && !p->json)
		return;
	if (now > p->last_usec + 200000 || rep->phase == VFM_JOB_DONE) {
		if (now > p->last_usec)
			p->rate = (double)(rep->total_bytes - p->last_bytes) * 1e6 /
				  (double)(now - p->last_usec);
		p->last_bytes = rep->total_bytes;
		p->last_usec = now;
		fresh = true;
	}
	/* the drivers' estimates of what is left to move, when every device gives one */
	for (size_t i = 0; i < rep->n && i < VFM_SET_MAX; i++) {
		if (rep->dev[i].estimate == UINT64_MAX)
			known = false;
		else
			estimate += rep->dev[i].estimate;
	}
	if (!known)
		estimate = 0;
	if (estimate && p->rate > 0)
		eta = rep->total_bytes >= estimate
			      ? 0
			      : (double)(estimate - rep->total_bytes) / p->rate;
	if (p->json) {
		/* a line when the figures are new or the phase changed */
		if (fresh || (int)rep->phase != p->last_phase)
			progress_json(p, rep, estimate, eta);
		p->last_phase = (int)rep->phase;
		return;
	}
	human(total, sizeof(total), rep->total_bytes);
	human(rate, sizeof(rate), (uint64_t)p->rate);
	len = (size_t)snprintf(line, sizeof(line), "%s: %s %s", p->verb,
			       vfm_job_phase_name(rep->phase), total);
	if (estimate) {
		human(est, sizeof(est), estimate);
		len += (size_t)snprintf(line + len, sizeof(line) - len, " of %s", est);
	}
	len += (size_t)snprintf(line + len, sizeof(line) - len, ", %s/s", rate);
	if (eta >= 0)
		len += (size_t)snprintf(line + len, sizeof(line) - len, ", ETA %.0f s", eta);
	/* each device's share, while they fit */
	width = MIN(term_width() - 1, (unsigned)sizeof(line) - 1);
	for (size_t i = 0; i < rep->n && i < VFM_SET_MAX; i++) {
		const struct vfm_job_dev *dv = &rep->dev[i];
		uint64_t b = dv->precopy_bytes + dv->stopcopy_bytes;
		int n;

		if (dv->estimate == UINT64_MAX || !dv->estimate)
			continue;
		n = snprintf(part, sizeof(part), "  %.24s %u%%", dv->name,
			     (unsigned)MIN(999, b * 100 / dv->estimate));
		if (n < 0 || len + (size_t)n > width)
			break;
		memcpy(line + len, part, (size_t)n + 1);
		len += (size_t)n;
	}
	if (len > width)
		line[width] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->shown = true;
	p->last_phase = (int)rep->phase;
}

static void print_report(struct cli *cli, const char *verb, const struct vfm_job_report *rep,
			 const char *where, const char *peer)
{
	struct out *o = cli->out;
	char buf[64], sz[32];
	double secs = (double)rep->elapsed_usec / 1e6;

	out_object_begin(o, NULL);
	out_str(o, "operation", NULL, streq(verb, "saved") ? "save" : "restore");
	out_bool(o, "success", NULL, rep->error == 0);
	snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)rep->stream_id);
	out_str(o, "stream_id", NULL, buf);
	out_str(o, "uri", NULL, where);
	if (peer && peer[0])
		out_str(o, "peer", NULL, peer);
	else
		out_null(o, "peer");
	out_bool(o, "one_way", NULL, rep->one_way);
	/* what became of the state: "migrated" (the destination loaded and runs it),
	 * "written" (a one-way stream: nobody said it loaded), "loaded" (restore),
	 * "in-doubt", "failed" */
	out_str(o, "outcome", NULL,
		rep->in_doubt	 ? "in-doubt"
		: rep->error	 ? "failed"
		: !streq(verb, "saved") ? "loaded"
		: rep->one_way	 ? "written"
				 : "migrated");
	out_str(o, "security", NULL, rep->security[0] ? rep->security : "plaintext");
	out_str(o, "phase", NULL, vfm_job_phase_name(rep->phase));
	if (rep->error) {
		out_error(o, "error", rep->error, rep->message);
		out_bool(o, "rolled_back", NULL, rep->rolled_back);
		if (rep->reset_failed)
			out_str(o, "reset_failure", NULL,
				rep->reset_failure[0] ? rep->reset_failure
						      : "a device is not RUNNING");
		out_bool(o, "in_doubt", NULL, rep->in_doubt);
		out_bool(o, "devices_left_running", NULL, rep->devices_left_running);
	} else if (rep->verdict_lost) {
		out_str(o, "warning", NULL, rep->message);
	}
	human(sz, sizeof(sz), rep->total_bytes);
	out_text(o, "%s %zu device%s %s %s: %s in %.3f s",
		 rep->in_doubt ? "in doubt: saved"
		 : !rep->error ? (rep->one_way && streq(verb, "saved") ? "wrote" : verb)
		 : streq(verb, "saved") ? "failed to save" : "failed to restore",
		 rep->n, rep->n == 1 ? "" : "s", streq(verb, "saved") ? "to" : "from", where, sz,
		 secs);
	if (secs > 0 && rep->total_bytes) {
		human(sz, sizeof(sz), (uint64_t)((double)rep->total_bytes / secs));
		out_text(o, " (%s/s)", sz);
	}
	out_u64(o, "total_bytes", NULL, rep->total_bytes);
	out_u64(o, "elapsed_usec", NULL, rep->elapsed_usec);
	out_u64(o, "precopy_rounds", NULL, rep->precopy_rounds);
	out_u64(o, "precopy_reinits", NULL, rep->precopy_reinits);
	out_u64(o, "precopy_usec", NULL, rep->precopy_usec);
	if (streq(verb, "saved")) {
		out_u64(o, "downtime_usec", NULL, rep->downtime_usec);
		if (rep->downtime_usec)
			out_text(o, ", downtime %.1f ms", (double)rep->downtime_usec / 1e3);
		if (rep->precopy_rounds)
			out_text(o, ", %u precopy round%s", rep->precopy_rounds,
				 rep->precopy_rounds == 1 ? "" : "s");
		if (rep->precopy_reinits)
			out_text(o, " (new initial data %u time%s)", rep->precopy_reinits,
				 rep->precopy_reinits == 1 ? "" : "s");
	}
	out_u64(o, "streams", NULL, rep->streams);
	if (rep->streams)
		out_text(o, ", %u data connection%s", rep->streams, rep->streams == 1 ? "" : "s");
	if (!rep->error && rep->one_way && streq(verb, "saved"))
		out_text(o, " (written, not loaded by a destination)");
	out_text(o, "\n  security: %s\n", rep->security[0] ? rep->security : "plaintext");
	out_array_begin(o, "devices");
	for (size_t i = 0; i < rep->n; i++) {
		const struct vfm_job_dev *d = &rep->dev[i];

		out_object_begin(o, NULL);
		out_str(o, "device", "  %s:", d->name);
		out_u64(o, "precopy_bytes", " precopy %s bytes,", d->precopy_bytes);
		out_u64(o, "stopcopy_bytes", " stop-copy %s bytes", d->stopcopy_bytes);
		out_u64(o, "stopcopy_usec", NULL, d->stopcopy_usec);
		out_u64(o, "precopy_reinits", NULL, d->precopy_reinits);
		if (d->precopy_reinits)
			out_text(o, " (new initial data %u time%s)", d->precopy_reinits,
				 d->precopy_reinits == 1 ? "" : "s");
		if (d->estimate != UINT64_MAX)
			out_u64(o, "estimate_bytes", " (driver estimate %s)", d->estimate);
		else
			out_null(o, "estimate_bytes");
		if (d->vf_config[0])
			out_str(o, "vf_config_status", "; VF network settings %s", d->vf_config);
		else
			out_null(o, "vf_config_status");
		out_text(o, "\n");
		out_object_end(o);
	}
	out_array_end(o);
	out_object_end(o);
}

int cli_finish_job(struct cli *cli, bool save, const struct vfm_job_report *rep,
		   const char *where, const char *peer, bool report_to_stderr)
{
	if (rep->error && save && rep->in_doubt)
		cli_error(cli, "%s", rep->message);
	else if (rep->error && save)
		cli_error(cli, "save failed in phase %s: %s%s", vfm_job_phase_name(rep->phase),
			  rep->message,
			  rep->devices_left_running ? " (the devices are running again)"
			  : rep->rolled_back	    ? " (rollback incomplete: see above)"
						    : "");
	else if (rep->error && rep->reset_failed)
		cli_error(cli, "restore failed in phase %s: %s (not every device was reset: %s)",
			  vfm_job_phase_name(rep->phase), rep->message,
			  rep->reset_failure[0] ? rep->reset_failure : "a device is not RUNNING");
	else if (rep->error)
		cli_error(cli, "restore failed in phase %s: %s%s", vfm_job_phase_name(rep->phase),
			  rep->message, rep->rolled_back ? " (the devices were reset)" : "");
	else if (rep->verdict_lost)
		cli_error(cli, "warning: %s", rep->message);
	/* With "--to -" stdout carries the stream: the report goes to stderr. */
	if (report_to_stderr) {
		fflush(stdout);
		dup2(STDERR_FILENO, STDOUT_FILENO);
	}
	cli->out = out_new(cli->json, cli->pretty);
	print_report(cli, save ? "saved" : "restored", rep, where, peer);
	out_finish(cli->out);
	cli->out = NULL;
	if (!rep->error)
		return EXIT_OK;
	if (rep->in_doubt)
		return EXIT_IN_DOUBT;
	if (rep->error == -ECANCELED && first_signal)
		return 128 + first_signal; /* as a shell reports a process killed by it */
	if (rep->error == -EREMOTEIO)
		return EXIT_INCOMPATIBLE;
	if (rep->error == -EOPNOTSUPP || rep->error == -ENOTTY)
		return EXIT_UNSUPPORTED;
	return EXIT_FAILED;
}
