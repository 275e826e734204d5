/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The command lines of save and restore, parsed once for both ways of running them:
 * in this process (cmd-migrate.c) and as a job of vfiomigd (--connect, cmd-daemon.c).
 * Values are checked against the bounds the daemon's request parser applies, so that
 * a command line means the same either way.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "set.h"
#include "transport.h"

#define CLI_TIMEOUT_MAX_S     86400   /* --timeout, --precopy-seconds */
#define CLI_ROUNDS_MAX	      1000000 /* --precopy-rounds */
#define CLI_CHUNK_MAX	      (16u << 20)
#define CLI_ACK_TIMEOUT_MAX_S 3600 /* --ack-timeout (vfiomigd's VFMD_ACK_TIMEOUT_MAX) */

/* --tls-creds, --tls-psk, --tls-hostname, --tls-authz (bounded as vfiomigd's) */
struct cli_tls_args {
	const char *creds, *psk, *hostname;
	const char *authz[VFM_TLS_AUTHZ_MAX];
	size_t n_authz;
};

static inline bool cli_tls_wanted(const struct cli_tls_args *t)
{
	return t->creds || t->psk;
}

struct save_args {
	char **devs;
	int n;
	const char *to;
	const char *hook; /* --on-quiesced */
	bool listen, no_precopy, force, no_vf_config;
	bool tty; /* progress on stderr */
	bool progress_json; /* --progress=json: JSON lines instead */
	struct cli_tls_args tls;
	/* given on the command line; otherwise the job's defaults apply */
	bool has_rounds, has_seconds, has_dirty, has_timeout, has_chunk;
	uint64_t rounds, seconds, dirty, timeout, chunk; /* timeout, seconds: in s */
	uint64_t streams; /* --streams: data connections (0, 1: none) */
	/* --connect only */
	bool detach, wait_ack, cancel_on_exit, has_ack_timeout;
	uint64_t ack_timeout;
};

struct restore_args {
	char **devs;
	int n;
	const char *from;
	bool connect, any_id, no_vf_config;
	bool tty;
	bool progress_json;
	bool has_map;
	unsigned map[VFM_SET_MAX]; /* stream device i -> devs[map[i]] */
	bool has_timeout;
	uint64_t timeout; /* s */
	struct cli_tls_args tls;
	/* --connect only */
	bool detach, cancel_on_exit;
};

/* tcp:// and unix: streams: two-way, listened on or connected to */
bool cli_uri_is_socket(const char *uri);

/* The URIs that carry answers back whichever way they are opened: sockets, exec:. */
bool cli_uri_is_two_way(const char *uri);

/*
 * Parse save's (restore's) options and operands; @remote adds the daemon's own
 * options, @help prints the matching --help.  Returns 0 to go on, or -1 when the
 * command should exit with *@ret_exit (after --help, or a usage error it reported).
 */
int cli_save_args(struct cli *cli, int argc, char **argv, bool remote, void (*help)(void),
		  struct save_args *a, int *ret_exit);
int cli_restore_args(struct cli *cli, int argc, char **argv, bool remote,
		     void (*help)(void), struct restore_args *a, int *ret_exit);

/*
 * --on-quiesced: run @cmd with sh -c, $VFIOMIG_EVENT=quiesced, $VFIOMIG_STREAM_ID and
 * (@job non-zero, a daemon's job) $VFIOMIG_JOB.  0 when it exits 0; otherwise -1 and
 * @why says how it ended.
 */
int cli_run_hook(const char *cmd, const char *stream_id, unsigned job, char *why,
		 size_t size);
