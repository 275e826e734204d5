/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "job.h"

struct cli;

/* SIGINT/SIGTERM write to a self-pipe (SIGPIPE ignored); returns its read end, to
 * use as a job's cancel fd, or -errno. */
int cli_setup_signals(void);

/* The progress line on stderr (when @tty). */
struct cli_progress {
	bool tty;
	bool json; /* one JSON object a line instead (--progress=json) */
	bool shown;
	const char *verb; /* "save", "restore" */
	uint64_t last_bytes, last_usec;
	double rate;
	int last_phase;
};
void cli_show_progress(struct cli_progress *p, const struct vfm_job_report *rep);

/*
 * The end of a save or restore: the failure sentence on stderr, the report (text or
 * JSON) on stdout (on stderr with @report_to_stderr: stdout carried the stream), and
 * the exit code for @rep's error.  @where is the URI, @peer the endpoint's
 * description ("tcp 10.0.0.2:4444"; NULL or "" when it never opened).
 */
int cli_finish_job(struct cli *cli, bool save, const struct vfm_job_report *rep,
		   const char *where, const char *peer, bool report_to_stderr);
