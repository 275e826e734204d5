// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "sd.h"
#include "util.h"

int sd_notify_send(const char *state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = getenv("NOTIFY_SOCKET");
	_cleanup_close_ int fd = -1;
	socklen_t salen;
	size_t len;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	/* a path, or an abstract name written with a leading '@' */
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			    (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Never block on the manager: a full queue loses this message, not the daemon. */
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
		   (struct sockaddr *)&sa, salen) < 0)
		return -errno;
	return 1;
}

static int env_pid_is_us(const char *name)
{
	const char *s = getenv(name);
	int pid;

	if (!s)
		return 0;
	if (parse_int(s, 1, INT32_MAX, &pid) < 0)
		return -EINVAL;
	return pid == getpid();
}

int sd_listen_fds_get(void)
{
	const char *s = getenv("LISTEN_FDS");
	int us = env_pid_is_us("LISTEN_PID"), n = 0, r = 0;

	if (us < 0) {
		r = -EINVAL;
		goto out;
	}
	if (!us || !s)
		goto out;
	if (parse_int(s, 0, 1024, &n) < 0) {
		r = -EINVAL;
		goto out;
	}
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			r = -errno;
			goto out;
		}
	}
	r = n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

uint64_t sd_watchdog_usec(void)
{
	const char *s = getenv("WATCHDOG_USEC");
	uint64_t v;

	if (!s || env_pid_is_us("WATCHDOG_PID") == -EINVAL)
		return 0;
	if (getenv("WATCHDOG_PID") && env_pid_is_us("WATCHDOG_PID") != 1)
		return 0;
	if (parse_u64(s, 10, UINT64_MAX, &v) < 0)
		return 0;
	return v;
}
