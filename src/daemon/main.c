// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomigd: start-up.  The order matters: sockets (our own, or systemd's), then the
 * devices named on the command line, then every capability goes (caps.c), then
 * READY=1.  After that the daemon opens only what its remaining rights allow: see
 * "PRIVILEGES" in vfiomigd(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cap-ng.h>

#include "config.h"
#include "daemon.h"
#include "macro.h"
#include "sd.h"
#include "util.h"

#define ATTACH_MAX VFM_SET_MAX

struct options {
	const char *attach[ATTACH_MAX];
	size_t n_attach;
	struct daemon_privileges priv;
};

static void help(void)
{
	printf("Usage: vfiomigd [OPTIONS]\n\n"
	       "The vfiomig daemon: runs save and restore jobs of VFIO devices for the\n"
	       "clients of its control socket (newline-delimited JSON, see "
	       "vfiomigd(8)).\n\n"
	       "  -s, --socket PATH    control socket (default %s; @NAME: abstract);\n"
	       "                       ignored under socket activation\n"
	       "  -g, --group GROUP    members of GROUP may connect (socket mode 0660)\n"
	       "  -a, --attach DEV     open DEV at start, before dropping privileges\n"
	       "  -u, --user USER      run as USER (or UID[:GID]) once sockets and "
	       "devices\n"
	       "                       are open\n"
	       "      --keep-cap CAP   keep capability CAP (e.g. dac_override)\n"
	       "      --no-net-admin   drop CAP_NET_ADMIN too (by default it stays\n"
	       "                       permitted, raised only to write VF network\n"
	       "                       settings)\n"
	       "      --max-jobs N     jobs running at once (default 16, at most 256)\n"
	       "      --rate N         requests a second per connection (default 50)\n"
	       "      --idle-timeout S close a connection that waits for no job after S\n"
	       "                       seconds without a request (default 60; 0: never)\n"
	       "      --log-max N      log at most N lines an hour about what clients\n"
	       "                       other than root do (default %d; at most 10 a\n"
	       "                       second)\n"
	       "  -v, --verbose        the library's debug messages on stderr\n"
	       "  -h, --help, -V, --version\n",
	       VFMD_SOCKET_DEFAULT, VFMD_LOG_MAX_DEF);
}

/*
 * vfiomigd polls with poll(), never select(): its soft RLIMIT_NOFILE may be raised
 * towards the hard limit (systemd's advice for such programs; its default soft limit
 * is 1024), to VFMD_NOFILE_MAX at most.  The bounds on descriptors are computed
 * from the result (daemon_init()).
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY ? VFMD_NOFILE_MAX
					    : MIN(rl.rlim_max, (rlim_t)VFMD_NOFILE_MAX);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			daemon_log(4, "cannot raise RLIMIT_NOFILE to %llu: %m",
				   (unsigned long long)want);
	}
}

static int check_listen_fd(int fd)
{
	int v;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v)
		return -EINVAL;
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ? -errno : 0;
}

static int open_sockets(struct daemon *d)
{
	const char *path = d->cfg.socket_path;
	struct vfm_transport_err err = {""};
	char uri[VFM_URI_MAX + 1];
	mode_t old;
	int n, r;

	n = sd_listen_fds_get();
	if (n < 0) {
		daemon_log(3, "$LISTEN_FDS or $LISTEN_PID is malformed");
		return n;
	}
	if (n > 0) {
		if (n > VFMD_LISTEN_MAX) {
			daemon_log(3, "%d sockets passed, at most %d", n,
				   VFMD_LISTEN_MAX);
			return -E2BIG;
		}
		for (int i = 0; i < n; i++) {
			r = check_listen_fd(SD_LISTEN_FDS_START + i);
			if (r < 0) {
				daemon_log(3,
					   "passed descriptor %d is not a listening Unix "
					   "stream socket",
					   SD_LISTEN_FDS_START + i);
				return r;
			}
			d->listen_fds[d->n_listen++] = SD_LISTEN_FDS_START + i;
		}
		daemon_log(6, "socket-activated: %d control socket%s", n,
			   n == 1 ? "" : "s");
		return 0;
	}

	if (path[0] == '/') {
		/* the parent directory (/run/vfiomig), unless systemd made it */
		_cleanup_free_ char *dir = strdup(path);
		char *slash = dir ? strrchr(dir, '/') : NULL;

		if (!dir)
			return -ENOMEM;
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				daemon_log(3, "cannot create %s: %m", dir);
				return -errno;
			}
		}
	} else if (path[0] != '@') {
		daemon_log(3, "--socket %s: an absolute path or @NAME", path);
		return -EINVAL;
	}
	snprintf(uri, sizeof(uri), "unix:%s", path);
	/* 0660 from the start: no moment where others could connect */
	old = umask(0117);
	r = vfm_listener_new(uri, &d->own_listener, &err);
	umask(old);
	if (r < 0) {
		daemon_log(3, "%s", err.msg[0] ? err.msg : strerror(-r));
		return r;
	}
	if (path[0] == '/') {
		if (d->cfg.have_gid && chown(path, (uid_t)-1, d->cfg.gid) < 0) {
			daemon_log(3, "chown %s to group %s: %m", path, d->cfg.group);
			return -errno;
		}
		if (chmod(path, 0660) < 0) {
			daemon_log(3, "chmod %s: %m", path);
			return -errno;
		}
	}
	d->listen_fds[d->n_listen++] = vfm_listener_fd(d->own_listener);
	daemon_log(6, "listening on %s", path);
	return 0;
}

static int parse_uint_opt(const char *name, const char *s, unsigned max, unsigned *ret)
{
	uint32_t v;

	if (parse_u32(s, 10, max, &v) < 0 || v == 0) {
		fprintf(stderr, "vfiomigd: %s '%s': a number 1..%u\n", name, s, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_KEEP_CAP = 0x100, OPT_NO_NET_ADMIN, OPT_MAX_JOBS, OPT_RATE, OPT_IDLE,
	       OPT_LOG_MAX };
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"group", required_argument, NULL, 'g'},
		{"attach", required_argument, NULL, 'a'},
		{"user", required_argument, NULL, 'u'},
		{"keep-cap", required_argument, NULL, OPT_KEEP_CAP},
		{"no-net-admin", no_argument, NULL, OPT_NO_NET_ADMIN},
		{"max-jobs", required_argument, NULL, OPT_MAX_JOBS},
		{"rate", required_argument, NULL, OPT_RATE},
		{"idle-timeout", required_argument, NULL, OPT_IDLE},
		{"log-max", required_argument, NULL, OPT_LOG_MAX},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{}};
	struct daemon d = {.cfg = {.socket_path = VFMD_SOCKET_DEFAULT,
				   .max_jobs = 16,
				   .rate = 50,
				   .idle_timeout = VFMD_IDLE_DEF,
				   .log_max = VFMD_LOG_MAX_DEF,
				   .sysfs_root = getenv("VFIOMIG_SYSFS_ROOT")}};
	struct options o = {0};
	char err[VFMD_ERR_MAX];
	int c, r, cap;

	while ((c = getopt_long(argc, argv, "s:g:a:u:vhV", opts, NULL)) >= 0) {
		switch (c) {
		case 's': d.cfg.socket_path = optarg; break;
		case 'g': d.cfg.group = optarg; break;
		case 'a':
			if (o.n_attach == ATTACH_MAX) {
				fprintf(stderr, "vfiomigd: at most %d --attach\n",
					ATTACH_MAX);
				return 2;
			}
			o.attach[o.n_attach++] = optarg;
			break;
		case 'u': o.priv.user = optarg; break;
		case OPT_KEEP_CAP:
			cap = capng_name_to_capability(strncasecmp(optarg, "cap_", 4) == 0
							       ? optarg + 4
							       : optarg);
			if (cap < 0 || o.priv.n_keep == VFMD_KEEP_CAPS_MAX) {
				fprintf(stderr,
					"vfiomigd: --keep-cap '%s': unknown, or too "
					"many\n",
					optarg);
				return 2;
			}
			o.priv.keep_caps[o.priv.n_keep++] = cap;
			break;
		case OPT_NO_NET_ADMIN: o.priv.no_net_admin = true; break;
		case OPT_MAX_JOBS:
			if (parse_uint_opt("--max-jobs", optarg, VFMD_JOBS_MAX,
					   &d.cfg.max_jobs) < 0)
				return 2;
			break;
		case OPT_RATE:
			if (parse_uint_opt("--rate", optarg, 100000, &d.cfg.rate) < 0)
				return 2;
			break;
		case OPT_IDLE:
			if (parse_uint_opt("--idle-timeout", optarg, VFMD_IDLE_MAX,
					   &d.cfg.idle_timeout) < 0)
				return 2;
			break;
		case OPT_LOG_MAX:
			if (parse_uint_opt("--log-max", optarg, 1000000, &d.cfg.log_max) < 0)
				return 2;
			break;
		case 'v': d.cfg.verbose = true; break;
		case 'h': help(); return 0;
		case 'V': printf("vfiomigd %s\n", VFM_PACKAGE_VERSION); return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vfiomigd: no operands expected (see --help)\n");
		return 2;
	}
	if (d.cfg.group) {
		struct group *g = getgrnam(d.cfg.group);

		if (!g) {
			fprintf(stderr, "vfiomigd: --group %s: no such group\n",
				d.cfg.group);
			return 2;
		}
		d.cfg.gid = g->gr_gid;
		d.cfg.have_gid = true;
	}

	raise_nofile();
	r = daemon_init(&d);
	if (r < 0) {
		daemon_log(3, "cannot initialise: %s", strerror(-r));
		goto out;
	}
	r = open_sockets(&d);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < o.n_attach; i++) {
		r = daemon_attach_name(&d, o.attach[i], err, sizeof(err));
		if (r < 0) {
			daemon_log(3, "--attach %s: %s", o.attach[i], err);
			goto out;
		}
	}
	r = daemon_drop_privileges(&o.priv);
	if (r < 0)
		goto out;
	(void)sd_notify_send("READY=1");
	daemon_log(6, "vfiomigd %s ready", VFM_PACKAGE_VERSION);
	r = daemon_run(&d);
out:
	daemon_free(&d);
	if (r < 0)
		(void)sd_notify_send("STOPPING=1");
	return r < 0 ? 1 : 0;
}
