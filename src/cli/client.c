// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "config.h"
#include "contract.h"
#include "macro.h"

struct vfmc {
	int fd;
	char *buf;
	size_t len, cap;
	int next_id;
};

const char *vfmc_default_socket(void)
{
	const char *s = getenv("VFIOMIG_SOCKET");

	return s && *s ? s : VFM_RUNSTATEDIR "/vfiomig/control.sock";
}

int vfmc_connect(const char *path, struct vfmc **ret, char *err, size_t errsize)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	socklen_t salen;
	struct vfmc *c;
	int fd;

	if (len == 0 || len >= sizeof(sa.sun_path) ||
	    (path[0] != '/' && path[0] != '@')) {
		snprintf(err, errsize, "%s: not an absolute socket path or @NAME", path);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			    (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		int r = -errno;

		snprintf(err, errsize, "cannot connect to vfiomigd at %s: %s", path,
			 strerror(-r));
		safe_close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

void vfmc_free(struct vfmc *c)
{
	if (!c)
		return;
	safe_close(c->fd);
	free(c->buf);
	free(c);
}

int vfmc_send(struct vfmc *c, struct json_object *req, const int *fds, size_t n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 80)];
	} control;
	const char *s;
	size_t len, off = 0;
	int id = ++c->next_id;

	if (n_fds > 80)
		return -E2BIG;
	json_object_object_add(req, "id", json_object_new_int(id));
	/* the contract this client speaks: a daemon that speaks another refuses */
	json_object_object_add(req, "version", json_object_new_int(VFM_JSON_VERSION));
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	while (off <= len) {
		/* the line, then its newline; descriptors ride with the first byte */
		struct iovec iov[2] = {
			{.iov_base = (char *)s + off, .iov_len = len - off},
			{.iov_base = (char *)"\n", .iov_len = 1}};
		struct msghdr mh = {.msg_iov = off < len ? iov : iov + 1,
				    .msg_iovlen = off < len ? 2 : 1};
		ssize_t n;

		if (off == 0 && n_fds) {
			struct cmsghdr *cm;

			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
		if (off == len + 1)
			break;
	}
	return id;
}

int vfmc_next(struct vfmc *c, int timeout_ms, int extra_fd, struct json_object **ret)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
				      {.fd = extra_fd, .events = POLLIN}};
		ssize_t n;
		int r;

		if (nl) {
			size_t linelen = (size_t)(nl - c->buf);
			struct json_tokener *tok = json_tokener_new();
			struct json_object *o = NULL;

			if (tok) {
				o = json_tokener_parse_ex(tok, c->buf, (int)linelen);
				json_tokener_free(tok);
			}
			memmove(c->buf, nl + 1, c->len - linelen - 1);
			c->len -= linelen + 1;
			if (!o || !json_object_is_type(o, json_type_object)) {
				json_object_put(o);
				return -EPROTO;
			}
			*ret = o;
			return 1;
		}
		if (c->len == VFMC_MSG_MAX)
			return -EMSGSIZE;
		if (c->len == c->cap) {
			size_t cap =
				MIN(MAX(c->cap * 2, (size_t)65536), (size_t)VFMC_MSG_MAX);
			char *b = realloc(c->buf, cap);

			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		r = poll(p, extra_fd >= 0 ? 2 : 1, timeout_ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		if (extra_fd >= 0 && p[1].revents)
			return 2;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		c->len += (size_t)n;
	}
}

const char *vfmc_str(struct json_object *o, const char *key, const char *def)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return def;
	return json_object_get_string(v);
}

long long vfmc_int(struct json_object *o, const char *key, long long def)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return (long long)json_object_get_int64(v);
}

bool vfmc_bool(struct json_object *o, const char *key, bool def)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return def;
	return json_object_get_boolean(v);
}

int vfmc_error_of(struct json_object *resp, char *err, size_t errsize, char *err_device,
		  size_t devsize)
{
	struct json_object *e;
	long long no;

	if (vfmc_bool(resp, "ok", false))
		return 0;
	if (!json_object_object_get_ex(resp, "error", &e)) {
		snprintf(err, errsize, "a malformed answer from vfiomigd");
		return -EPROTO;
	}
	no = vfmc_int(e, "errno", EIO);
	snprintf(err, errsize, "%s", vfmc_str(e, "message", "unknown error"));
	if (err_device)
		snprintf(err_device, devsize, "%s", vfmc_str(e, "device", ""));
	return no > 0 && no < 4096 ? -(int)no : -EIO;
}

int vfmc_call(struct vfmc *c, struct json_object *req, const int *fds, size_t n_fds,
	      struct json_object **ret_result, char *err, size_t errsize,
	      char *err_device, size_t devsize,
	      void (*on_event)(void *userdata, struct json_object *ev), void *userdata)
{
	int id = vfmc_send(c, req, fds, n_fds);

	if (id < 0) {
		snprintf(err, errsize, "cannot send to vfiomigd: %s", strerror(-id));
		return id;
	}
	for (;;) {
		struct json_object *m = NULL, *res;
		int r = vfmc_next(c, -1, -1, &m);

		if (r <= 0) {
			snprintf(err, errsize, "%s",
				 r == 0		? "vfiomigd closed the connection"
				 : r == -EPROTO ? "a malformed line from vfiomigd"
						: strerror(-r));
			return r == 0 ? -ECONNRESET : r;
		}
		if (json_object_object_get_ex(m, "event", NULL)) {
			if (on_event)
				on_event(userdata, m);
			json_object_put(m);
			continue;
		}
		/* an error without our id (rate, a refused connection) is ours too */
		if (vfmc_int(m, "id", -1) != id && vfmc_bool(m, "ok", true)) {
			json_object_put(m);
			continue;
		}
		r = vfmc_error_of(m, err, errsize, err_device, devsize);
		if (r == 0 && ret_result) {
			if (json_object_object_get_ex(m, "result", &res))
				*ret_result = json_object_get(res);
			else
				*ret_result = json_object_new_object();
		}
		json_object_put(m);
		return r;
	}
}
