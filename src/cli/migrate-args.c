// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * save's and restore's command lines, for both cmd-migrate.c (the job runs here) and
 * cmd-daemon.c (the job runs in vfiomigd): one option table, one set of bounds, one
 * set of usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migrate-args.h"
#include "util.h"

enum {
	O_TO = 0x100,
	O_FROM,
	O_LISTEN,
	O_CONNECT,
	O_NO_PRECOPY,
	O_ROUNDS,
	O_SECONDS,
	O_DIRTY,
	O_HOOK,
	O_TIMEOUT,
	O_FORCE,
	O_NO_VF_CONFIG,
	O_CHUNK,
	O_STREAMS,
	O_MAP,
	O_ANY_ID,
	O_PROGRESS,
	O_NO_PROGRESS,
	O_TLS_CREDS,
	O_TLS_PSK,
	O_TLS_HOSTNAME,
	O_TLS_AUTHZ,
	/* --connect only */
	O_DETACH,
	O_ACK_TIMEOUT,
	O_WAIT_ACK,
	O_CANCEL_EXIT,
};

#define TLS_OPTIONS                                                         \
	{"tls-creds", required_argument, NULL, O_TLS_CREDS},                \
	{"tls-psk", required_argument, NULL, O_TLS_PSK},                    \
	{"tls-hostname", required_argument, NULL, O_TLS_HOSTNAME},          \
	{"tls-authz", required_argument, NULL, O_TLS_AUTHZ}

#define SAVE_OPTIONS                                                        \
	{"to", required_argument, NULL, O_TO},                              \
	{"listen", no_argument, NULL, O_LISTEN},                            \
	{"no-precopy", no_argument, NULL, O_NO_PRECOPY},                    \
	{"precopy-rounds", required_argument, NULL, O_ROUNDS},              \
	{"precopy-seconds", required_argument, NULL, O_SECONDS},            \
	{"dirty-threshold", required_argument, NULL, O_DIRTY},              \
	{"on-quiesced", required_argument, NULL, O_HOOK},                   \
	{"timeout", required_argument, NULL, O_TIMEOUT},                    \
	{"force", no_argument, NULL, O_FORCE},                              \
	{"no-vf-config", no_argument, NULL, O_NO_VF_CONFIG},                \
	{"chunk", required_argument, NULL, O_CHUNK},                        \
	{"streams", required_argument, NULL, O_STREAMS},                    \
	{"progress", optional_argument, NULL, O_PROGRESS},                        \
	{"no-progress", no_argument, NULL, O_NO_PROGRESS},                  \
	TLS_OPTIONS

#define RESTORE_OPTIONS                                                     \
	{"from", required_argument, NULL, O_FROM},                          \
	{"connect", no_argument, NULL, O_CONNECT},                          \
	{"map", required_argument, NULL, O_MAP},                            \
	{"any-id", no_argument, NULL, O_ANY_ID},                            \
	{"no-vf-config", no_argument, NULL, O_NO_VF_CONFIG},                \
	{"timeout", required_argument, NULL, O_TIMEOUT},                    \
	{"progress", optional_argument, NULL, O_PROGRESS},                        \
	{"no-progress", no_argument, NULL, O_NO_PROGRESS},                  \
	TLS_OPTIONS

bool cli_uri_is_socket(const char *uri)
{
	return strncmp(uri, "tcp://", 6) == 0 || strncmp(uri, "unix:", 5) == 0;
}

bool cli_uri_is_two_way(const char *uri)
{
	return cli_uri_is_socket(uri) || strncmp(uri, "exec:", 5) == 0;
}

/* A number in [min, max], or a size (K/M/G suffixes) when @size. */
static int value(struct cli *cli, const char *cmd, const char *opt, const char *s,
		 bool size, uint64_t min, uint64_t max, uint64_t *ret)
{
	if ((size ? parse_size(s, max, ret) : parse_u64(s, 10, max, ret)) < 0 ||
	    *ret < min) {
		cli_error(cli, "%s %s '%s': %s %llu..%llu (see vfiomig %s --help)", cmd,
			  opt, s, size ? "a size" : "a number", (unsigned long long)min,
			  (unsigned long long)max, cmd);
		return -EINVAL;
	}
	return 0;
}

/* One of the TLS options (@c); 0, or -EINVAL after a usage error. */
static int tls_option(struct cli *cli, const char *cmd, int c, const char *arg,
		      struct cli_tls_args *t)
{
	const char *what = NULL;
	size_t max = VFM_TLS_PATH_MAX;

	switch (c) {
	case O_TLS_CREDS: t->creds = arg; what = "--tls-creds"; break;
	case O_TLS_PSK: t->psk = arg; what = "--tls-psk"; break;
	case O_TLS_HOSTNAME:
		t->hostname = arg;
		what = "--tls-hostname";
		max = VFM_TLS_HOSTNAME_MAX;
		break;
	case O_TLS_AUTHZ:
		if (t->n_authz >= VFM_TLS_AUTHZ_MAX) {
			cli_error(cli, "%s: at most %d --tls-authz patterns", cmd,
				  VFM_TLS_AUTHZ_MAX);
			return -EINVAL;
		}
		t->authz[t->n_authz++] = arg;
		what = "--tls-authz";
		max = VFM_TLS_AUTHZ_LEN_MAX;
		break;
	default: return 0;
	}
	if (!*arg || strnlen(arg, max + 1) > max) {
		cli_error(cli, "%s %s: empty or longer than %zu bytes", cmd, what, max);
		return -EINVAL;
	}
	return 0;
}

/* The TLS options together, and with the stream's @uri. */
/* --progress (the line, even when stderr is no terminal) or --progress=json */
static int progress_arg(struct cli *cli, const char *arg, bool *tty, bool *json)
{
	if (!arg || streq(arg, "line")) {
		*tty = true;
		*json = false;
	} else if (streq(arg, "json")) {
		*tty = false;
		*json = true;
	} else {
		cli_error(cli, "--progress=%s: 'line' or 'json'", arg);
		return -1;
	}
	return 0;
}

/* A URI that cannot be right is a usage error (exit 2), found before any device is
 * opened: the same check the transport makes when it opens the URI. */
static int uri_check(struct cli *cli, const char *opt, const char *uri, bool listen)
{
	struct vfm_transport_err err = { "" };
	struct vfm_uri u;

	if (vfm_uri_parse(uri, listen, &u, &err) < 0) {
		bool printable = true;

		/* the reason names any control byte by its offset: not echoed raw */
		for (const char *p = uri; *p; p++)
			printable &= (unsigned char)*p >= 0x20 && *p != 0x7f;
		if (printable)
			cli_error(cli, "%s %s: %s", opt, uri, err.msg[0] ? err.msg : "not a URI");
		else
			cli_error(cli, "%s: %s", opt, err.msg[0] ? err.msg : "not a URI");
		return -1;
	}
	return 0;
}

static int tls_check(struct cli *cli, const char *uri, const struct cli_tls_args *t)
{
	if (t->creds && t->psk) {
		cli_error(cli, "--tls-creds and --tls-psk exclude each other");
		return -EINVAL;
	}
	if ((t->hostname || t->n_authz) && !t->creds) {
		cli_error(cli, "--tls-hostname and --tls-authz need --tls-creds");
		return -EINVAL;
	}
	if (cli_tls_wanted(t) && !cli_uri_is_socket(uri)) {
		cli_error(cli, "TLS runs on tcp:// and unix: streams only");
		return -EINVAL;
	}
	return 0;
}

/* An option of a vfiomigd job (@c, from @opts) given without --connect. */
static int remote_only(struct cli *cli, const char *cmd, const struct option *opts, int c)
{
	const char *name = "this option";

	for (size_t i = 0; opts[i].name; i++)
		if (opts[i].val == c)
			name = opts[i].name;
	cli_error(cli, "--%s is an option of jobs run by vfiomigd: vfiomig --connect %s ...",
		  name, cmd);
	return -EINVAL;
}

/* Operands: 1..VFM_SET_MAX devices, and the stream's URI given (@uri). */
static int operands(struct cli *cli, int argc, char **argv, const char *cmd,
		    const char *uri, const char *uri_opt, char ***ret_devs, int *ret_n)
{
	int n = argc - optind;

	if (n < 1 || !uri) {
		cli_error(cli, "%s needs devices and %s URI (see vfiomig %s --help)", cmd,
			  uri_opt, cmd);
		return -EINVAL;
	}
	if (n > VFM_SET_MAX) {
		cli_error(cli, "at most %d devices", VFM_SET_MAX);
		return -E2BIG;
	}
	*ret_devs = argv + optind;
	*ret_n = n;
	return 0;
}

int cli_save_args(struct cli *cli, int argc, char **argv, bool remote, void (*help)(void),
		  struct save_args *a, int *ret_exit)
{
	static const struct option opts[] = {
		SAVE_OPTIONS,
		{"detach", no_argument, NULL, O_DETACH},
		{"ack-timeout", required_argument, NULL, O_ACK_TIMEOUT},
		{"wait-ack", no_argument, NULL, O_WAIT_ACK},
		{"cancel-on-exit", no_argument, NULL, O_CANCEL_EXIT},
		{}};
	int c, r = 0;

	*a = (struct save_args){.tty = isatty(STDERR_FILENO)};
	while ((c = cli_getopt(cli, argc, argv, "", opts, help, ret_exit)) > 0) {
		if (c >= O_DETACH && !remote) {
			r = remote_only(cli, "save", opts, c);
			goto usage;
		}
		switch (c) {
		case O_TO: a->to = optarg; break;
		case O_LISTEN: a->listen = true; break;
		case O_NO_PRECOPY: a->no_precopy = true; break;
		case O_ROUNDS:
			r = value(cli, "save", "--precopy-rounds", optarg, false, 0,
				  CLI_ROUNDS_MAX, &a->rounds);
			a->has_rounds = true;
			break;
		case O_SECONDS:
			r = value(cli, "save", "--precopy-seconds", optarg, false, 0,
				  CLI_TIMEOUT_MAX_S, &a->seconds);
			a->has_seconds = true;
			break;
		case O_DIRTY:
			r = value(cli, "save", "--dirty-threshold", optarg, true, 0, INT64_MAX,
				  &a->dirty);
			a->has_dirty = true;
			break;
		case O_HOOK: a->hook = optarg; break;
		case O_TIMEOUT:
			r = value(cli, "save", "--timeout", optarg, false, 0, CLI_TIMEOUT_MAX_S,
				  &a->timeout);
			a->has_timeout = true;
			break;
		case O_FORCE: a->force = true; break;
		case O_NO_VF_CONFIG: a->no_vf_config = true; break;
		case O_CHUNK:
			r = value(cli, "save", "--chunk", optarg, true, 1, CLI_CHUNK_MAX,
				  &a->chunk);
			a->has_chunk = true;
			break;
		case O_STREAMS:
			r = value(cli, "save", "--streams", optarg, false, 1, VFM_STREAMS_MAX,
				  &a->streams);
			break;
		case O_PROGRESS:
			r = progress_arg(cli, optarg, &a->tty, &a->progress_json);
			break;
		case O_NO_PROGRESS: a->tty = a->progress_json = false; break;
		case O_TLS_CREDS:
		case O_TLS_PSK:
		case O_TLS_HOSTNAME:
		case O_TLS_AUTHZ: r = tls_option(cli, "save", c, optarg, &a->tls); break;
		case O_DETACH: a->detach = true; break;
		case O_ACK_TIMEOUT:
			r = value(cli, "save", "--ack-timeout", optarg, false, 1,
				  CLI_ACK_TIMEOUT_MAX_S, &a->ack_timeout);
			a->has_ack_timeout = true;
			break;
		case O_WAIT_ACK: a->wait_ack = true; break;
		case O_CANCEL_EXIT: a->cancel_on_exit = true; break;
		}
		if (r < 0)
			goto usage;
	}
	if (c < 0)
		return -1;
	if (operands(cli, argc, argv, "save", a->to, "--to", &a->devs, &a->n) < 0)
		goto usage;
	if (a->listen && !cli_uri_is_socket(a->to)) {
		cli_error(cli, "--listen needs a tcp:// or unix: URI");
		goto usage;
	}
	if (uri_check(cli, "--to", a->to, a->listen) < 0)
		goto usage;
	if (a->streams > 1 && !cli_uri_is_socket(a->to)) {
		cli_error(cli, "--streams %llu needs a tcp:// or unix: URI (not %s)",
			  (unsigned long long)a->streams, a->to);
		goto usage;
	}
	if (tls_check(cli, a->to, &a->tls) < 0)
		goto usage;
	if (a->hook && a->detach) {
		cli_error(cli, "--on-quiesced runs here: it cannot be combined with --detach");
		goto usage;
	}
	return 0;
usage:
	*ret_exit = EXIT_USAGE;
	return -1;
}

/* --map: a permutation of 0..n-1, comma-separated. */
static int parse_map(const char *s, int n, unsigned *map)
{
	bool used[VFM_SET_MAX] = {false};
	int i = 0;

	while (*s) {
		const char *end = strchrnul(s, ',');
		char num[8];
		uint32_t v;

		if (i >= n || end == s || (size_t)(end - s) >= sizeof(num))
			return -EINVAL;
		memcpy(num, s, (size_t)(end - s));
		num[end - s] = '\0';
		if (parse_u32(num, 10, (uint32_t)n - 1, &v) < 0 || used[v])
			return -EINVAL;
		used[v] = true;
		map[i++] = v;
		s = *end ? end + 1 : end;
	}
	return i == n ? 0 : -EINVAL;
}

int cli_restore_args(struct cli *cli, int argc, char **argv, bool remote,
		     void (*help)(void), struct restore_args *a, int *ret_exit)
{
	static const struct option opts[] = {
		RESTORE_OPTIONS,
		{"detach", no_argument, NULL, O_DETACH},
		{"cancel-on-exit", no_argument, NULL, O_CANCEL_EXIT},
		{}};
	const char *map = NULL;
	int c, r = 0;

	*a = (struct restore_args){.tty = isatty(STDERR_FILENO)};
	while ((c = cli_getopt(cli, argc, argv, "", opts, help, ret_exit)) > 0) {
		if (c >= O_DETACH && !remote) {
			r = remote_only(cli, "restore", opts, c);
			goto usage;
		}
		switch (c) {
		case O_FROM: a->from = optarg; break;
		case O_CONNECT: a->connect = true; break;
		case O_MAP: map = optarg; break;
		case O_ANY_ID: a->any_id = true; break;
		case O_NO_VF_CONFIG: a->no_vf_config = true; break;
		case O_TIMEOUT:
			r = value(cli, "restore", "--timeout", optarg, false, 0,
				  CLI_TIMEOUT_MAX_S, &a->timeout);
			a->has_timeout = true;
			break;
		case O_PROGRESS:
			r = progress_arg(cli, optarg, &a->tty, &a->progress_json);
			break;
		case O_NO_PROGRESS: a->tty = a->progress_json = false; break;
		case O_TLS_CREDS:
		case O_TLS_PSK:
		case O_TLS_HOSTNAME:
		case O_TLS_AUTHZ: r = tls_option(cli, "restore", c, optarg, &a->tls); break;
		case O_DETACH: a->detach = true; break;
		case O_CANCEL_EXIT: a->cancel_on_exit = true; break;
		}
		if (r < 0)
			goto usage;
	}
	if (c < 0)
		return -1;
	if (operands(cli, argc, argv, "restore", a->from, "--from", &a->devs, &a->n) < 0)
		goto usage;
	if (map) {
		if (parse_map(map, a->n, a->map) < 0) {
			cli_error(cli,
				  "--map '%s': give a permutation of 0..%d, comma-separated",
				  map, a->n - 1);
			goto usage;
		}
		a->has_map = true;
	}
	if (a->connect && !cli_uri_is_socket(a->from)) {
		cli_error(cli, "--connect needs a tcp:// or unix: URI");
		goto usage;
	}
	/* a socket URI is listened on unless --connect */
	if (uri_check(cli, "--from", a->from, cli_uri_is_socket(a->from) && !a->connect) < 0)
		goto usage;
	if (tls_check(cli, a->from, &a->tls) < 0)
		goto usage;
	return 0;
usage:
	*ret_exit = EXIT_USAGE;
	return -1;
}

/* ---- --on-quiesced ---- */

int cli_run_hook(const char *cmd, const char *stream_id, unsigned job, char *why,
		 size_t size)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(why, size, "fork: %m");
		return -1;
	}
	if (pid == 0) {
		char j[16];

		snprintf(j, sizeof(j), "%u", job);
		setenv("VFIOMIG_STREAM_ID", stream_id, 1);
		setenv("VFIOMIG_EVENT", "quiesced", 1);
		if (job)
			setenv("VFIOMIG_JOB", j, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(why, size, "waitpid: %m");
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, size, "'%s' exited with %d", cmd, WEXITSTATUS(status));
	else
		snprintf(why, size, "'%s' killed by signal %d", cmd, WTERMSIG(status));
	return -1;
}
