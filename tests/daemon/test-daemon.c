// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomigd over its control socket, with simulated devices: every command, malformed
 * and oversized input, the rate limit, descriptors passed over SCM_RIGHTS (refused
 * when they are no VFIO device; a stream through a passed pipe), concurrent jobs on
 * disjoint devices, a device in two jobs, the quiesced acknowledgement, cancel, a
 * client that goes away mid-job, SIGTERM mid-job (devices RUNNING again), sd_notify
 * (READY, STATUS, WATCHDOG, STOPPING), socket activation, peer credentials and the
 * capability drop.  TAP on stdout.
 *
 *   test-daemon PATH-TO-vfiomigd
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tap.h"

#define TIMEOUT_MS 15000

static const char *daemon_path;
static char tmpdir[64];
/* for the next spawn() only: the daemon's RLIMIT_NOFILE soft limit (0: inherited)
 * and a file for its log (NULL: our stderr) */
static rlim_t spawn_nofile;
static const char *spawn_log;

/* ---- time ---- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the daemon ---- */

struct proc {
	pid_t pid;
	char sock[108];
	int notify_fd;
	char notes[8192]; /* what arrived on the notify socket */
	size_t notes_len;
	int exit_status; /* when it exited before it was ready, else -1 */
};

static int bind_unix(const char *path, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		exit(99);
	}
	return fd;
}

/* Read what the notify socket has, for up to @ms; true once @want is among it. */
static bool notify_wait(struct proc *p, const char *want, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		struct pollfd pf = {.fd = p->notify_fd, .events = POLLIN};
		long long left = end - now_ms();
		ssize_t n;

		if (p->notes_len && memmem(p->notes, p->notes_len, want, strlen(want)))
			return true;
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return false;
		if (p->notes_len + 512 >= sizeof(p->notes))
			p->notes_len = 0; /* keep the latest */
		n = recv(p->notify_fd, p->notes + p->notes_len,
			 sizeof(p->notes) - p->notes_len - 2, 0);
		if (n > 0) {
			p->notes_len += (size_t)n;
			p->notes[p->notes_len++] = '\n';
		}
	}
}

static int count_notes(struct proc *p, const char *what)
{
	int k = 0;

	for (char *s = p->notes;
	     (s = memmem(s, p->notes_len - (size_t)(s - p->notes), what, strlen(what)));
	     s++)
		k++;
	return k;
}

static bool wait_socket(const char *path, int ms);

/*
 * Start vfiomigd with @args (NULL-terminated, after the program name), the notify
 * socket and watchdog set.  @listen_fd >= 0: socket activation with it as fd 3.
 */
static void spawn(struct proc *p, const char *name, int listen_fd,
		  const char *const *args, const char *const *env)
{
	char notify[128];

	memset(p, 0, sizeof(*p));
	snprintf(p->sock, sizeof(p->sock), "%s/%s.sock", tmpdir, name);
	snprintf(notify, sizeof(notify), "%s/%s.notify", tmpdir, name);
	p->notify_fd = bind_unix(notify, SOCK_DGRAM);
	/* a daemon that changes its uid (--user) notifies too */
	chmod(notify, 0666);
	fflush(stdout);
	p->pid = fork();
	if (p->pid == 0) {
		const char *argv[32] = {daemon_path};
		size_t n = 1;
		char pid[16];

		if (listen_fd >= 0) {
			if (listen_fd == 3)
				fcntl(3, F_SETFD, 0);
			else
				dup2(listen_fd, 3);
			snprintf(pid, sizeof(pid), "%d", getpid());
			setenv("LISTEN_PID", pid, 1);
			setenv("LISTEN_FDS", "1", 1);
		} else {
			argv[n++] = "--socket";
			argv[n++] = p->sock;
		}
		for (; args && *args && n < 30; args++)
			argv[n++] = *args;
		argv[n] = NULL;
		setenv("NOTIFY_SOCKET", notify, 1);
		/* only the main daemon pings (test_notify counts them) */
		if (strcmp(name, "main") == 0)
			setenv("WATCHDOG_USEC", "200000", 1);
		for (; env && *env; env++)
			putenv((char *)*env);
		if (spawn_nofile) {
			struct rlimit rl;

			/* the hard limit too: the daemon raises its soft limit to it */
			rl.rlim_cur = rl.rlim_max = spawn_nofile;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (spawn_log) {
			int log = open(spawn_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			dup2(log, STDERR_FILENO);
		}
		/* the daemon's log goes with the test's diagnostics */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(daemon_path, (char *const *)argv);
		_exit(127);
	}
	p->exit_status = -1;
	for (long long end = now_ms() + TIMEOUT_MS; now_ms() < end;) {
		int status;

		if (notify_wait(p, "READY=1", 50))
			return;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			/* it gave up: reap() tells how */
			p->exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
							   : 128 + WTERMSIG(status);
			p->pid = 0;
			return;
		}
	}
	if (listen_fd < 0 && !wait_socket(p->sock, 100))
		tap_diag("vfiomigd %s never became ready", name);
}

/* Wait for the daemon to exit; its status, or -1 after @ms. */
static int reap(struct proc *p, int ms)
{
	long long end = now_ms() + ms;
	int status;

	if (p->pid == 0)
		return p->exit_status;
	while (now_ms() < end) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	return -1;
}

static void stop(struct proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		if (reap(p, TIMEOUT_MS) < 0) {
			kill(p->pid, SIGKILL);
			reap(p, 1000);
		}
	}
	if (p->notify_fd > 0)
		close(p->notify_fd);
	p->notify_fd = -1;
}

/* read() from a non-blocking @fd, waiting at most @ms; -1 on timeout */
static ssize_t read_within(int fd, void *buf, size_t size, int ms)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};

	if (poll(&pf, 1, ms) <= 0)
		return -1;
	return read(fd, buf, size);
}

/* ---- connections ---- */

struct conn {
	int fd;
	char buf[1 << 20];
	size_t len;
	struct json_object *backlog[256];
	size_t n_backlog;
	bool eof;
};

static struct conn *conn_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct conn *c = calloc(1, sizeof(*c));

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static bool wait_socket(const char *path, int ms)
{
	long long end = now_ms() + ms;

	while (now_ms() < end) {
		struct conn *c = conn_open(path);

		if (c) {
			close(c->fd);
			free(c);
			return true;
		}
		usleep(20000);
	}
	return false;
}

static void conn_close(struct conn *c)
{
	if (!c)
		return;
	close(c->fd);
	for (size_t i = 0; i < c->n_backlog; i++)
		json_object_put(c->backlog[i]);
	free(c);
}

static void send_raw(struct conn *c, const void *data, size_t len, const int *fds,
		     size_t n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 100)];
	} control;
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t off = 0;

	if (n_fds) {
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
	while (off < len) {
		ssize_t n;

		iov.iov_base = (char *)data + off;
		iov.iov_len = len - off;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			tap_diag("send: %s", strerror(errno));
			return;
		}
		off += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
}

static void sendf_fds(struct conn *c, const int *fds, size_t n_fds, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void sendf_fds(struct conn *c, const int *fds, size_t n_fds, const char *fmt, ...)
{
	char line[16384];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	send_raw(c, line, (size_t)n, fds, n_fds);
}

#define sendf(c, ...) sendf_fds(c, NULL, 0, __VA_ARGS__)

/* Read one more message into the backlog; false on timeout or end. */
static bool read_more(struct conn *c, long long end)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		long long left;
		ssize_t n;

		if (nl) {
			size_t linelen = (size_t)(nl - c->buf);
			struct json_object *o;

			*nl = '\0';
			o = json_tokener_parse(c->buf);
			memmove(c->buf, nl + 1, c->len - linelen - 1);
			c->len -= linelen + 1;
			c->buf[c->len] = '\0';
			if (!o) {
				tap_diag("unparsable line from vfiomigd");
				continue;
			}
			if (c->n_backlog == sizeof(c->backlog) / sizeof(c->backlog[0])) {
				json_object_put(c->backlog[0]);
				memmove(c->backlog, c->backlog + 1,
					(c->n_backlog - 1) * sizeof(c->backlog[0]));
				c->n_backlog--;
			}
			c->backlog[c->n_backlog++] = o;
			return true;
		}
		if (c->eof)
			return false;
		left = end - now_ms();
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return false;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
		if (n <= 0) {
			c->eof = true;
			return false;
		}
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static long long num(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

static bool flag(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, key, &v);
	return v;
}

/* A list in a response's result: {"result": {KEY: [...]}} */
static struct json_object *rlist(struct json_object *r, const char *key)
{
	return get(get(r, "result"), key);
}

/* A finished job's error message ("" when it has none) */
static const char *errmsg(struct json_object *fin)
{
	return str(get(fin, "error"), "message");
}

typedef bool (*match_fn)(struct json_object *o, const void *arg);

/* The first message that matches, taken out of the backlog (the caller puts it). */
static struct json_object *wait_for(struct conn *c, match_fn m, const void *arg, int ms)
{
	long long end = now_ms() + ms;

	for (;;) {
		for (size_t i = 0; i < c->n_backlog; i++) {
			if (m(c->backlog[i], arg)) {
				struct json_object *o = c->backlog[i];

				memmove(c->backlog + i, c->backlog + i + 1,
					(c->n_backlog - i - 1) * sizeof(c->backlog[0]));
				c->n_backlog--;
				return o;
			}
		}
		if (!read_more(c, end))
			return NULL;
	}
}

static bool match_id(struct json_object *o, const void *arg)
{
	return get(o, "id") && num(o, "id") == *(const int *)arg;
}

static bool match_any(struct json_object *o, const void *arg)
{
	return true;
}

static bool match_abc(struct json_object *o, const void *arg)
{
	return strcmp(str(o, "id"), "abc") == 0;
}

static bool match_null_id(struct json_object *o, const void *arg)
{
	struct json_object *v;

	return json_object_object_get_ex(o, "id", &v) && v == NULL;
}

struct ev_match {
	const char *event;
	long long job;
};

static bool match_event(struct json_object *o, const void *arg)
{
	const struct ev_match *e = arg;

	return strcmp(str(o, "event"), e->event) == 0 &&
	       (e->job < 0 || num(o, "job") == e->job);
}

static int next_id = 1000;

/* Send a request (the format gives everything after "id"); its response. */
static struct json_object *call_fds(struct conn *c, const int *fds, size_t n,
				    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static struct json_object *call_fds(struct conn *c, const int *fds, size_t n,
				    const char *fmt, ...)
{
	char body[12000];
	int id = ++next_id;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	sendf_fds(c, fds, n, "{\"id\":%d,%s}", id, body);
	return wait_for(c, match_id, &id, TIMEOUT_MS);
}

#define call(c, ...) call_fds(c, NULL, 0, __VA_ARGS__)

static struct json_object *event(struct conn *c, const char *name, long long job)
{
	struct ev_match e = {name, job};

	return wait_for(c, match_event, &e, TIMEOUT_MS);
}

static bool ok(struct json_object *r)
{
	return flag(r, "ok");
}

static const char *err_name(struct json_object *r)
{
	return str(get(r, "error"), "errno_name");
}

static const char *err_msg(struct json_object *r)
{
	return str(get(r, "error"), "message");
}

static void show(const char *what, struct json_object *o)
{
	tap_diag("%s: %s", what, o ? json_object_to_json_string(o) : "(nothing)");
}

/* Check that a response is an error of @name whose message holds @part. */
static void expect_error(struct json_object *r, const char *name, const char *part,
			 const char *desc)
{
	bool good = r && !ok(r) && strcmp(err_name(r), name) == 0 &&
		    (!part || strstr(err_msg(r), part));

	if (!tap_ok(good, "%s", desc))
		show("got", r);
	json_object_put(r);
}

static void expect_ok(struct json_object *r, const char *desc)
{
	if (!tap_ok(ok(r), "%s", desc))
		show("got", r);
	json_object_put(r);
}

static long long start_job(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static long long start_job(struct conn *c, const char *fmt, ...)
{
	char body[8000];
	struct json_object *r;
	long long job;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	r = call(c, "%s", body);
	job = ok(r) ? num(get(r, "result"), "job") : -1;
	if (job < 0)
		show("starting a job", r);
	json_object_put(r);
	return job;
}

/* The "state" of each device in a finished event, joined by spaces. */
static void final_states(struct json_object *fin, char *buf, size_t size)
{
	struct json_object *devs = get(fin, "devices");

	buf[0] = '\0';
	for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
		size_t len = strlen(buf);

		snprintf(buf + len, size - len, "%s%s", i ? " " : "",
			 str(json_object_array_get_idx(devs, i), "state"));
	}
}

static const char *info_state(struct conn *c, const char *dev, char *buf, size_t size)
{
	struct json_object *r = call(c, "\"cmd\":\"info\",\"devices\":[\"%s\"]", dev);
	struct json_object *arr = get(get(r, "result"), "devices");

	snprintf(buf, size, "%s",
		 arr ? str(json_object_array_get_idx(arr, 0), "state") : "(no answer)");
	json_object_put(r);
	return buf;
}

/* ---- the tests ---- */

static void test_protocol(struct proc *p)
{
	struct conn *c = conn_open(p->sock), *c2;
	struct json_object *r;
	char big[70000 + 64];
	int id;

	if (!tap_ok(c != NULL, "connect to the control socket")) {
		return;
	}
	r = call(c, "\"cmd\":\"version\"");
	if (!tap_ok(ok(r) && num(r, "version") == 1 &&
			    num(get(r, "result"), "pid") == p->pid,
		    "version: contract version 1 and the daemon's pid"))
		show("version", r);
	json_object_put(r);

	/* malformed input: an error response with "id": null, the connection goes on */
	sendf(c, "this is not JSON");
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	if (!tap_ok(r && strcmp(err_name(r), "EPROTO") == 0 &&
			    strstr(err_msg(r), "malformed JSON"),
		    "malformed JSON: EPROTO with id null"))
		show("got", r);
	json_object_put(r);
	expect_ok(call(c, "\"cmd\":\"version\""), "the connection works after it");
	sendf(c, "{\"id\":1,\"cmd\":\"version\"");
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strcmp(err_name(r), "EPROTO") == 0, "a truncated object: EPROTO");
	json_object_put(r);
	sendf(c, "{\"id\":1,\"cmd\":\"version\"} {}");
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strcmp(err_name(r), "EPROTO") == 0,
	       "garbage after the object is refused");
	json_object_put(r);
	send_raw(c, "{\"id\":1,\"cmd\":\"ver\0sion\"}\n", 26, NULL, 0);
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strstr(err_msg(r), "NUL"), "a NUL byte is refused");
	json_object_put(r);
	send_raw(c, "{\"id\":7,\"cmd\":\"\xff\xfe\"}\n", 20, NULL, 0);
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strcmp(err_name(r), "EPROTO") == 0, "invalid UTF-8 is refused");
	json_object_put(r);
	sendf(c, "{\"id\":1,\"cmd\":\"version\",\"x\":[[[[[[[[[[[[1]]]]]]]]]]]}");
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strcmp(err_name(r), "EPROTO") == 0,
	       "nesting deeper than 8 is refused");
	json_object_put(r);
	sendf(c, "[1,2]");
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strcmp(err_name(r), "EINVAL") == 0 &&
		       strstr(err_msg(r), "JSON object"),
	       "an array is not a request");
	json_object_put(r);
	expect_error(call(c, "\"cmd\":\"lis\""), "EINVAL", "unknown command \"lis\"",
		     "an unknown command (no prefix matching)");
	expect_error(call(c, "\"nocmd\":1"), "EINVAL", "needs \"cmd\"",
		     "a request without cmd");
	expect_error(call(c, "\"cmd\":\"list\",\"prob\":true"), "EINVAL",
		     "unknown field \"prob\"",
		     "an unknown field is an error, not ignored");
	expect_error(call(c, "\"cmd\":\"list\",\"probe\":1"), "EINVAL", "true or false",
		     "a field of the wrong type");
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"file:/"
			     "x\",\"chunk_bytes\":0"),
		     "EINVAL", "\"chunk_bytes\" must be an integer 1..16777216",
		     "a value out of range");
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"sim:a\"]"), "EINVAL",
		     "exactly one of \"to\"", "save without a destination");
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"-\""),
		     "EINVAL", "the daemon's own descriptors",
		     "'-' is refused (pass a descriptor)");
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"sim:a\"],\"to\":\"file:/"
			     "x\",\"listen\":true"),
		     "EINVAL", "needs a tcp:// or unix: URI", "--listen on a file");
	expect_error(call(c, "\"cmd\":\"restore\",\"devices\":[\"sim:a\",\"sim:b\"],"
			     "\"from\":\"file:/x\",\"map\":[0,0]"),
		     "EINVAL", "permutation", "a map that is not a permutation");
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[],\"to\":\"file:/x\""),
		     "EINVAL", "is empty", "no devices");
	expect_error(call(c, "\"cmd\":\"job\",\"job\":0"), "EINVAL", "1..4294967295",
		     "job 0");
	expect_error(call(c, "\"cmd\":\"job\",\"job\":99999"), "ENOENT", "no job 99999",
		     "an unknown job");
	expect_error(call(c, "\"cmd\":\"watch\""), "EINVAL", "\"all\"",
		     "watch needs job or all");
	sendf(c, "{\"id\":[1],\"cmd\":\"version\"}");
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	tap_ok(r && strstr(err_msg(r), "\"id\" must be"),
	       "an id that is neither integer nor string");
	json_object_put(r);
	sendf(c, "{\"id\":\"abc\",\"cmd\":\"nope\"}");
	r = wait_for(c, match_abc, NULL, TIMEOUT_MS);
	tap_ok(r && strcmp(err_name(r), "EINVAL") == 0,
	       "a string id is echoed in the error");
	json_object_put(r);

	/* no id: no response on success; an id: exactly one */
	sendf(c, "{\"cmd\":\"version\"}");
	id = ++next_id;
	sendf(c, "{\"id\":%d,\"cmd\":\"version\"}", id);
	r = NULL;
	if (read_more(c, now_ms() + TIMEOUT_MS)) {
		r = c->backlog[c->n_backlog - 1];
		tap_ok(num(r, "id") == id, "a request without id gets no response");
	} else {
		tap_ok(false, "a request without id gets no response (nothing came)");
	}

	/* an over-long line: one error, then the next line is read normally */
	memset(big, 'x', sizeof(big));
	memcpy(big, "{\"id\":5,\"cmd\":\"", 15);
	big[sizeof(big) - 1] = '\n';
	send_raw(c, big, sizeof(big), NULL, 0);
	r = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
	if (!tap_ok(r && strcmp(err_name(r), "EMSGSIZE") == 0 &&
			    strstr(err_msg(r), "65536"),
		    "a 70000-byte line: EMSGSIZE"))
		show("got", r);
	json_object_put(r);
	expect_ok(call(c, "\"cmd\":\"version\""), "the next request after it works");

	/* a line of exactly the maximum is parsed (and refused for what it says) */
	{
		size_t len = 65536;
		char *line = malloc(len + 1);
		int i2 = ++next_id;
		int head = snprintf(line, len,
				    "{\"id\":%d,\"cmd\":\"version\",\"pad\":\"", i2);

		memset(line + head, 'p', len - (size_t)head - 2);
		memcpy(line + len - 2, "\"}", 2);
		line[len] = '\n';
		send_raw(c, line, len + 1, NULL, 0);
		r = wait_for(c, match_id, &i2, TIMEOUT_MS);
		tap_ok(r && strstr(err_msg(r), "unknown field \"pad\""),
		       "a 65536-byte line is read whole");
		json_object_put(r);
		free(line);
	}

	/* jobs and list answer with objects holding arrays */
	r = call(c, "\"cmd\":\"jobs\"");
	tap_ok(ok(r) && json_object_is_type(rlist(r, "jobs"), json_type_array),
	       "jobs: an array");
	json_object_put(r);
	r = call(c, "\"cmd\":\"list\"");
	tap_ok(ok(r) && json_object_is_type(rlist(r, "devices"), json_type_array),
	       "list: an array");
	json_object_put(r);

	/* two connections at once */
	c2 = conn_open(p->sock);
	expect_ok(c2 ? call(c2, "\"cmd\":\"version\"") : NULL,
		  "a second connection at once");
	conn_close(c2);
	conn_close(c);
}

static bool match_null_id_eagain(struct json_object *o, const void *arg)
{
	return !get(o, "id") && strcmp(err_name(o), "EAGAIN") == 0;
}

static void test_rate(void)
{
	static const char *const args[] = {"--rate", "5", NULL};
	struct proc p;
	struct conn *c;
	int refused = 0, served = 0, unanswered = 0, pfd[2];
	struct json_object *notice;

	spawn(&p, "rate", -1, args, NULL);
	c = conn_open(p.sock);
	for (int i = 0; i < 40 && c; i++)
		sendf(c, "{\"id\":%d,\"cmd\":\"version\"}", i + 1);
	for (int i = 0; i < 40 && c; i++) {
		int id = i + 1;
		struct json_object *r = wait_for(c, match_id, &id, i < 20 ? TIMEOUT_MS : 300);

		if (!r)
			unanswered++;
		else if (strcmp(err_name(r), "EAGAIN") == 0)
			refused++;
		else
			served++;
		json_object_put(r);
	}
	notice = c ? wait_for(c, match_null_id_eagain, NULL, 300) : NULL;
	/* the burst (10) served; twice --rate refusals answered with their id; the
	 * rest dropped unread (a parse and an answer each cost more than sending) */
	if (!tap_ok(served >= 10 && served <= 12 && refused == 10 &&
			    unanswered == 40 - served - refused && notice &&
			    strstr(str(get(notice, "error"), "message"), "dropped unanswered"),
		    "--rate 5: of 40 requests at once, the burst (10) is served, 10 refusals "
		    "are answered (EAGAIN), the rest dropped with one notice"))
		tap_diag("served %d, refused %d, unanswered %d, notice %s", served, refused,
			 unanswered, notice ? json_object_to_json_string(notice) : "none");
	json_object_put(notice);
	/* and it still serves the connection once it has tokens again */
	if (c) {
		struct json_object *r;
		int id = 77;

		usleep(1200000);
		sendf(c, "{\"id\":77,\"cmd\":\"version\"}");
		r = wait_for(c, match_id, &id, TIMEOUT_MS);
		tap_ok(r && !get(r, "error"), "a second later the connection is served again");
		json_object_put(r);
	}
	/* over the rate: the refused (or dropped) request's descriptor is closed with it */
	if (c && pipe2(pfd, O_CLOEXEC) == 0) {
		struct json_object *r;
		int id = 99;
		char b;

		for (int i = 0; i < 30; i++)
			sendf(c, "{\"id\":%d,\"cmd\":\"version\"}", 100 + i);
		sendf_fds(c, &pfd[1], 1, "{\"id\":99,\"cmd\":\"save\",\"devices\":["
					 "\"sim:r1\"],\"stream_fd\":0}");
		r = wait_for(c, match_id, &id, 1000);
		close(pfd[1]);
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		if (!tap_ok((!r || strcmp(err_name(r), "EAGAIN") == 0) &&
				    read_within(pfd[0], &b, 1, 2000) == 0,
			    "a request over the rate: refused or dropped, and its descriptor "
			    "is closed"))
			show("got", r);
		json_object_put(r);
		close(pfd[0]);
	}
	conn_close(c);
	stop(&p);
}

static void test_devices(struct proc *p)
{
	struct conn *c = conn_open(p->sock);
	struct json_object *r;
	char st[64];

	r = call(c, "\"cmd\":\"attach\",\"devices\":[\"sim:d1,size=64K\",\"sim:d2\"]");
	if (!tap_ok(ok(r) && json_object_array_length(rlist(r, "devices")) == 2 &&
			    strcmp(str(json_object_array_get_idx(rlist(r, "devices"), 0),
				       "device"),
				   "sim:d1") == 0,
		    "attach two simulated devices"))
		show("attach", r);
	json_object_put(r);
	expect_error(call(c, "\"cmd\":\"attach\",\"devices\":[\"sim:d1\"]"), "EEXIST",
		     "already attached", "attaching again: EEXIST");
	expect_error(call(c, "\"cmd\":\"attach\",\"devices\":[\"sim:d9,bogus=1\"]"),
		     "EINVAL", "sim:d9",
		     "a device that cannot be opened: the library's reason");
	r = call(c, "\"cmd\":\"info\",\"devices\":[\"sim:d1\",\"sim:other,size=1K\"]");
	if (!tap_ok(ok(r) &&
			    flag(json_object_array_get_idx(rlist(r, "devices"), 0),
				 "attached") &&
			    strcmp(str(json_object_array_get_idx(rlist(r, "devices"), 0),
				       "state"),
				   "RUNNING") == 0 &&
			    !flag(json_object_array_get_idx(rlist(r, "devices"), 1),
				  "attached") &&
			    num(json_object_array_get_idx(rlist(r, "devices"), 1),
				"estimate_bytes") == 1056,
		    "info: an attached device and one opened for the answer"))
		show("info", r);
	json_object_put(r);
	expect_error(call(c, "\"cmd\":\"detach\",\"devices\":[\"sim:nope\"]"), "ENOENT",
		     "not attached", "detach of a device not attached: ENOENT");
	r = call(c, "\"cmd\":\"detach\",\"devices\":[\"sim:d2\"]");
	tap_ok(ok(r) && strcmp(str(json_object_array_get_idx(rlist(r, "devices"), 0),
				   "device"),
			       "sim:d2") == 0,
	       "detach");
	json_object_put(r);
	r = call(c, "\"cmd\":\"info\",\"devices\":[\"sim:d1\",\"sim:q,bogus\"]");
	tap_ok(r && !ok(r) && strcmp(str(get(r, "error"), "device"), "sim:q,bogus") == 0,
	       "info with a device that cannot be opened: an error naming it");
	json_object_put(r);
	r = call(c, "\"cmd\":\"info\",\"devices\":[\"sim:q,fail-get\"]");
	tap_ok(ok(r) && strlen(str(json_object_array_get_idx(rlist(r, "devices"), 0),
				   "state_error")),
	       "info of a device whose state cannot be read: state_error");
	json_object_put(r);
	tap_ok(strcmp(info_state(c, "sim:d1", st, sizeof(st)), "RUNNING") == 0,
	       "info_state helper");
	conn_close(c);
}

static void test_save_restore(struct proc *p)
{
	struct conn *c = conn_open(p->sock);
	struct json_object *r, *fin;
	char path[128], states[256];
	long long job;
	bool seen_quiesced, seen_connected;

	snprintf(path, sizeof(path), "%s/img.vfm", tmpdir);
	r = call(c, "\"cmd\":\"attach\",\"devices\":[\"sim:s1,seed=11,size=100K\"]");
	json_object_put(r);
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:s1\",\"sim:s2,seed=12\"],"
			"\"to\":\"file:%s\"",
			path);
	r = event(c, "connected", job);
	seen_connected = r && strstr(str(r, "peer"), "img.vfm");
	json_object_put(r);
	r = event(c, "quiesced", job);
	seen_quiesced = r && !flag(r, "ack_required") &&
			json_object_array_length(get(r, "devices")) == 2;
	json_object_put(r);
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(job > 0 && flag(fin, "success") && strcmp(states, "STOP STOP") == 0,
		    "save of an attached and a named device to a file"))
		show("finished", fin);
	tap_ok(seen_connected && seen_quiesced, "connected and quiesced events came");
	tap_ok(num(fin, "total_bytes") > 100 * 1024 &&
		       strlen(str(fin, "stream_id")) == 16,
	       "the finished event carries the report");
	json_object_put(fin);
	tap_ok(strcmp(info_state(c, "sim:s1", states, sizeof(states)), "STOP") == 0,
	       "the attached device stays attached, in STOP");

	job = start_job(c,
			"\"cmd\":\"restore\",\"devices\":[\"sim:r2,expect-seed=12\","
			"\"sim:r1,expect-seed=11,size=100K\"],"
			"\"from\":\"file:%s\",\"map\":[1,0]",
			path);
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(flag(fin, "success") && strcmp(states, "RUNNING RUNNING") == 0,
		    "restore from the file, with a map"))
		show("finished", fin);
	json_object_put(fin);

	r = call(c, "\"cmd\":\"job\",\"job\":%lld", job);
	tap_ok(ok(r) && strcmp(str(get(r, "result"), "state"), "succeeded") == 0,
	       "job: a finished job's status");
	json_object_put(r);
	r = call(c, "\"cmd\":\"jobs\"");
	tap_ok(ok(r) && json_object_array_length(rlist(r, "jobs")) >= 2,
	       "jobs lists finished jobs");
	json_object_put(r);

	/* a failing restore: the devices are reset, the reason names the device */
	job = start_job(c,
			"\"cmd\":\"restore\",\"devices\":[\"sim:r3,expect-seed=99,size="
			"100K\",\"sim:r4\"],"
			"\"from\":\"file:%s\"",
			path);
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(!flag(fin, "success") && strstr(errmsg(fin), "sim:r3") &&
			    strcmp(str(get(fin, "error"), "errno_name"), "EINVAL") == 0 &&
			    strcmp(states, "RUNNING RUNNING") == 0,
		    "a rejected restore: failed, reason and errno, devices RUNNING"))
		show("finished", fin);
	json_object_put(fin);

	/* a connection refused: stage endpoint, devices untouched */
	job = start_job(
		c, "\"cmd\":\"save\",\"devices\":[\"sim:s1\"],\"to\":\"unix:%s/nobody\"",
		tmpdir);
	fin = event(c, "finished", job);
	tap_ok(!flag(fin, "success") && strcmp(str(fin, "stage"), "endpoint") == 0 &&
		       flag(fin, "devices_left_running"),
	       "a destination that refuses: stage endpoint");
	json_object_put(fin);
	expect_ok(call(c, "\"cmd\":\"detach\",\"devices\":[\"sim:s1\"]"),
		  "detach after the jobs");
	conn_close(c);
}

/*
 * A regular file that /proc calls /dev/vfio/devices/vfio0: created on a tmpfs
 * in a user and mount namespace of a child (unshare -Urm), and handed back.  -1 if namespaces are not available.
 */
static int tmpfs_vfio0(void)
{
	int sp[2], fd = -1, status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char map[64];
		uid_t uid = getuid();
		gid_t gid = getgid();
		int f;

		close(sp[0]);
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			_exit(1);
		f = open("/proc/self/setgroups", O_WRONLY);
		if (f >= 0 && (write(f, "deny", 4) < 0 || close(f) < 0))
			_exit(1);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		f = open("/proc/self/uid_map", O_WRONLY);
		if (f < 0 || write(f, map, strlen(map)) < 0)
			_exit(1);
		close(f);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		f = open("/proc/self/gid_map", O_WRONLY);
		if (f < 0 || write(f, map, strlen(map)) < 0)
			_exit(1);
		close(f);
		/* the tmpfs is mounted where the daemon cannot reach it, so /proc
		 * shows the path from the tmpfs's root: /dev/vfio/devices/vfio0 */
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", tmpdir, "tmpfs", 0, NULL) < 0 || chdir(tmpdir) < 0 ||
		    mkdir("dev", 0755) < 0 || mkdir("dev/vfio", 0755) < 0 ||
		    mkdir("dev/vfio/devices", 0755) < 0)
			_exit(1);
		f = open("dev/vfio/devices/vfio0", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (f < 0)
			_exit(1);
		{
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int))];
			} control = {0};
			struct iovec iov = {.iov_base = (void *)"x", .iov_len = 1};
			struct msghdr mh = {.msg_iov = &iov,
					    .msg_iovlen = 1,
					    .msg_control = control.buf,
					    .msg_controllen = sizeof(control.buf)};
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &f, sizeof(int));
			_exit(sendmsg(sp[1], &mh, 0) == 1 ? 0 : 1);
		}
	}
	close(sp[1]);
	if (pid > 0) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		char x;
		struct iovec iov = {.iov_base = &x, .iov_len = 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.buf,
				    .msg_controllen = sizeof(control.buf)};

		if (recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC) == 1 && CMSG_FIRSTHDR(&mh) &&
		    CMSG_FIRSTHDR(&mh)->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
		waitpid(pid, &status, 0);
	}
	close(sp[0]);
	return fd;
}

static void test_fds(struct proc *p)
{
	struct conn *c = conn_open(p->sock);
	struct json_object *r, *fin;
	int pfd[2], nul, fds[2];
	char path[128], states[64], magic[8];
	long long job;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return;
	r = call_fds(c, pfd, 1,
		     "\"cmd\":\"attach\",\"devices\":[{\"fd\":0,\"device\":\"c0ffee00-0001-"
		     "4000-8000-000000000001\"}]");
	if (!tap_ok(r && strcmp(err_name(r), "EINVAL") == 0 &&
			    strstr(err_msg(r), "not a VFIO device") &&
			    strstr(err_msg(r), "pipe:["),
		    "a passed pipe is refused: not a VFIO device (it is pipe:[...])"))
		show("got", r);
	json_object_put(r);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	r = call_fds(
		c, &nul, 1,
		"\"cmd\":\"save\",\"devices\":[{\"fd\":0}],\"to\":\"file:/dev/null\"");
	if (!tap_ok(r && strstr(err_msg(r), "not a VFIO device (it is /dev/null): "
					    "VFIO_DEVICE_GET_INFO"),
		    "a passed /dev/null as a device is refused: no VFIO_DEVICE_GET_INFO"))
		show("got", r);
	json_object_put(r);
	close(nul);
	expect_error(
		call(c, "\"cmd\":\"attach\",\"devices\":[{\"fd\":0,\"device\":\"x\"}]"),
		"EBADF", "uses 1 descriptor, 0 were received",
		"naming a descriptor never sent: EBADF");
	/* fd:N names descriptor N of the request, never one of the daemon's own
	 * (fd:3..5 were its listening socket, signalfd, eventfd) */
	expect_error(call(c, "\"cmd\":\"attach\",\"devices\":[\"fd:5\"]"), "EINVAL",
		     "needs the device's name", "attach fd:5: not the daemon's fd 5");
	expect_error(call(c, "\"cmd\":\"attach\",\"devices\":[\"fd:3:sim:a\"]"),
		     "EBADF", "0 were received",
		     "attach fd:3:NAME without descriptors: EBADF");
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"fd:4\"],\"to\":"
			     "\"tcp://127.0.0.1:1\""),
		     "EBADF", "0 were received", "save fd:4 without descriptors: EBADF");
	expect_error(call(c, "\"cmd\":\"info\",\"devices\":[\"fd:3\"]"), "EINVAL",
		     "sent with the request", "info fd:3: EINVAL");
	r = call_fds(c, pfd, 1, "\"cmd\":\"attach\",\"devices\":[\"fd:0:sim:a\"]");
	if (!tap_ok(r && strstr(err_msg(r), "not a VFIO device") &&
			    strstr(err_msg(r), "pipe:["),
		    "attach fd:0:NAME takes the request's descriptor 0 (here a pipe)"))
		show("got", r);
	json_object_put(r);
	/* what the kernel says on the descriptor, not its name */
	{
		int other[3] = {eventfd(0, EFD_CLOEXEC), -1, -1}, sp[2];
		char tmp[128];

		snprintf(tmp, sizeof(tmp), "%s/vfio0", tmpdir);
		other[1] = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
			other[2] = sp[0];
			close(sp[1]);
		}
		for (int i = 0; i < 3; i++) {
			static const char *const what[] = {
				"VFIO_DEVICE_GET_INFO", "not a character device",
				"not a character device"};
			static const char *const desc[] = {"an eventfd", "a file",
							   "a socket"};

			r = call_fds(c, &other[i], 1,
				     "\"cmd\":\"save\",\"devices\":[{\"fd\":0}],"
				     "\"to\":\"tcp://127.0.0.1:1\"");
			if (!tap_ok(r && strcmp(err_name(r), "EINVAL") == 0 &&
					    strstr(err_msg(r), "not a VFIO device") &&
					    strstr(err_msg(r), what[i]),
				    "%s passed as a device is refused (%s)", desc[i],
				    what[i]))
				show("got", r);
			json_object_put(r);
			close(other[i]);
		}
		r = NULL;
		other[0] = tmpfs_vfio0();
		if (other[0] < 0) {
			tap_skip("a tmpfs file at /dev/vfio/devices/vfio0: no user "
				 "namespace");
		} else {
			r = call_fds(c, other, 1,
				     "\"cmd\":\"save\",\"devices\":[{\"fd\":0}],"
				     "\"to\":\"tcp://127.0.0.1:1\"");
			if (!tap_ok(r && strstr(err_msg(r), "not a VFIO device") &&
					    strstr(err_msg(r), "/dev/vfio/devices/vfio0"),
				    "a tmpfs file at /dev/vfio/devices/vfio0 (another mount "
				    "namespace) is refused"))
				show("got", r);
			json_object_put(r);
			close(other[0]);
		}
	}
	expect_error(call(c, "\"cmd\":\"attach\",\"devices\":[{\"fd\":0}]"), "EINVAL",
		     "needs the device's name", "attaching a descriptor needs a name");

	/* a stream through passed pipes: save into one, restore from another */
	snprintf(path, sizeof(path), "%s/pipe.vfm", tmpdir);
	fds[0] = pfd[1];
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"sim:f1\"],\"stream_fd\":0"),
		     "EBADF", NULL, "stream_fd without a descriptor sent: EBADF");
	r = call_fds(c, fds, 1,
		     "\"cmd\":\"save\",\"devices\":[\"sim:f1,seed=21,size=8K\"],\"stream_"
		     "fd\":0");
	job = ok(r) ? num(get(r, "result"), "job") : -1;
	json_object_put(r);
	close(pfd[1]);
	{
		int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		char buf[65536];

		while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				break;
		close(out);
	}
	close(pfd[0]);
	fin = event(c, "finished", job);
	tap_ok(flag(fin, "success"), "save into a passed pipe");
	json_object_put(fin);
	{
		int in = open(path, O_RDONLY | O_CLOEXEC);

		tap_ok(in >= 0 && read(in, magic, sizeof(magic)) == 8 &&
			       memcmp(magic, "\x89VFM", 4) == 0,
		       "what came through the pipe is a vfiomig stream");
		if (in >= 0)
			close(in);
	}
	if (pipe2(pfd, O_CLOEXEC) == 0) {
		int in = open(path, O_RDONLY | O_CLOEXEC);
		char buf[65536];

		r = call_fds(c, pfd, 1,
			     "\"cmd\":\"restore\",\"devices\":[\"sim:g1,expect-seed=21,"
			     "size=8K\"],\"stream_fd\":0");
		job = ok(r) ? num(get(r, "result"), "job") : -1;
		json_object_put(r);
		close(pfd[0]);
		while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
			if (write(pfd[1], buf, (size_t)n) != n)
				break;
		close(pfd[1]);
		if (in >= 0)
			close(in);
		fin = event(c, "finished", job);
		final_states(fin, states, sizeof(states));
		if (!tap_ok(flag(fin, "success") && strcmp(states, "RUNNING") == 0,
			    "restore from a passed pipe"))
			show("finished", fin);
		json_object_put(fin);
	}
	/* A refused line's descriptors go with it: the next request never takes them
	 * (a save once wrote its image into the descriptor of a malformed line). */
	if (pipe2(pfd, O_CLOEXEC) == 0 && pipe2(fds, O_CLOEXEC) == 0) {
		struct json_object *e;
		char buf[65536];
		bool closed, right = false;

		sendf_fds(c, &pfd[1], 1, "{\"cmd\":\"save\",");
		e = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
		close(pfd[1]);
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		closed = e && strcmp(err_name(e), "EPROTO") == 0 &&
			 read_within(pfd[0], buf, sizeof(buf), 2000) == 0;
		json_object_put(e);
		tap_ok(closed, "a malformed line's descriptor is closed with it (EPROTO)");
		r = call_fds(c, &fds[1], 1,
			     "\"cmd\":\"save\",\"devices\":[\"sim:f2,seed=22,size=4K\"],"
			     "\"stream_fd\":0");
		job = ok(r) ? num(get(r, "result"), "job") : -1;
		json_object_put(r);
		close(fds[1]);
		/* (without a timeout, a daemon that gave the save the wrong descriptor
		 * would hang the test here) */
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		right = read_within(fds[0], buf, 4, 5000) == 4 &&
			memcmp(buf, "\x89VFM", 4) == 0;
		while (read_within(fds[0], buf, sizeof(buf), 5000) > 0)
			;
		fin = job > 0 ? event(c, "finished", job) : NULL;
		tap_ok(right && flag(fin, "success"),
		       "the next save writes into its own descriptor");
		json_object_put(fin);
		close(fds[0]);
		close(pfd[0]);
	}
	expect_error(call(c, "\"cmd\":\"save\",\"devices\":[\"sim:f1\"],\"stream_fd\":0"),
		     "EBADF", NULL,
		     "descriptors sent with an earlier request are not taken: EBADF");
	/* more than 72 with one request: EMFILE, all of them closed */
	{
		int many[80];
		struct json_object *e;

		for (int i = 0; i < 80; i++)
			many[i] = STDIN_FILENO;
		sendf_fds(c, many, 80, "{\"cmd\":\"jobs\"}");
		e = wait_for(c, match_null_id, NULL, TIMEOUT_MS);
		tap_ok(e && strcmp(err_name(e), "EMFILE") == 0,
		       "more than 72 descriptors with a request: EMFILE, all closed");
		json_object_put(e);
	}
	conn_close(c);
}

static void test_concurrency(struct proc *p)
{
	struct conn *c = conn_open(p->sock);
	struct json_object *r, *f1, *f2;
	char path[2][128];
	long long j1, j2, end;
	int both = 0;

	snprintf(path[0], sizeof(path[0]), "%s/c1.vfm", tmpdir);
	snprintf(path[1], sizeof(path[1]), "%s/c2.vfm", tmpdir);
	json_object_put(
		call(c, "\"cmd\":\"attach\",\"devices\":[\"sim:k1,arc-usec=300000\"]"));
	j1 = start_job(c, "\"cmd\":\"save\",\"devices\":[\"sim:k1\"],\"to\":\"file:%s\"",
		       path[0]);
	j2 = start_job(c,
		       "\"cmd\":\"save\",\"devices\":[\"sim:k2,arc-usec=300000\"],\"to\":"
		       "\"file:%s\"",
		       path[1]);
	tap_ok(j1 > 0 && j2 > 0 && j1 != j2, "two jobs on disjoint devices start");
	/* the same device in a second job: refused, attached or not */
	expect_error(
		call(c, "\"cmd\":\"save\",\"devices\":[\"sim:k1\"],\"to\":\"file:%s/x\"",
		     tmpdir),
		"EBUSY", "sim:k1 is in job",
		"an attached device in a running job: EBUSY");
	expect_error(
		call(c, "\"cmd\":\"save\",\"devices\":[\"sim:k2\"],\"to\":\"file:%s/x\"",
		     tmpdir),
		"EBUSY", "sim:k2 is in job", "a device opened by a running job: EBUSY");
	expect_error(call(c, "\"cmd\":\"detach\",\"devices\":[\"sim:k1\"]"), "EBUSY",
		     "in job", "detach of a device in a job: EBUSY");
	expect_error(call(c,
			  "\"cmd\":\"save\",\"devices\":[\"sim:z1\",\"sim:z1\"],\"to\":"
			  "\"file:%s/x\"",
			  tmpdir),
		     "EINVAL", "named twice", "a device named twice in one job");
	end = now_ms() + TIMEOUT_MS;
	while (now_ms() < end && !both) {
		int running = 0;
		struct json_object *arr;

		r = call(c, "\"cmd\":\"jobs\"");
		arr = rlist(r, "jobs");
		for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
			struct json_object *j = json_object_array_get_idx(arr, i);

			if ((num(j, "job") == j1 || num(j, "job") == j2) &&
			    strcmp(str(j, "state"), "running") == 0 &&
			    strcmp(str(j, "phase"), "precopy") != 0 &&
			    strcmp(str(j, "phase"), "connecting") != 0)
				running++;
		}
		both = running == 2;
		json_object_put(r);
		if (!both)
			usleep(20000);
	}
	tap_ok(both, "both jobs are past precopy at the same time");
	f1 = event(c, "finished", j1);
	f2 = event(c, "finished", j2);
	tap_ok(flag(f1, "success") && flag(f2, "success"), "both succeed");
	json_object_put(f1);
	json_object_put(f2);
	expect_ok(call(c, "\"cmd\":\"detach\",\"devices\":[\"sim:k1\"]"),
		  "detach once idle");
	conn_close(c);
}

static void test_ack_cancel(struct proc *p)
{
	struct conn *c = conn_open(p->sock), *w;
	struct json_object *r, *fin;
	char states[128], path[128];
	long long job;

	snprintf(path, sizeof(path), "%s/ack.vfm", tmpdir);
	/* the acknowledgement: the job waits, the devices quiesced */
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:a1\",\"sim:a2\"],\"to\":"
			"\"file:%s\",\"quiesce_ack\":true",
			path);
	r = event(c, "quiesced", job);
	tap_ok(flag(r, "ack_required") && num(r, "ack_timeout_usec") == 30000000,
	       "quiesced asks for an acknowledgement (30 s by default)");
	json_object_put(r);
	r = call(c, "\"cmd\":\"job\",\"job\":%lld", job);
	tap_ok(flag(get(r, "result"), "waiting_ack") &&
		       strcmp(str(get(r, "result"), "phase"), "quiesce") == 0,
	       "the job waits in phase quiesce");
	json_object_put(r);
	expect_ok(call(c, "\"cmd\":\"continue\",\"job\":%lld", job), "continue");
	expect_error(call(c, "\"cmd\":\"continue\",\"job\":%lld", job), "EALREADY", NULL,
		     "a second continue: EALREADY");
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	tap_ok(flag(fin, "success") && strcmp(states, "STOP STOP") == 0,
	       "the save completes after continue");
	json_object_put(fin);

	/* continue with "abort": the hook's failure, the devices roll back */
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:a3\",\"sim:a4\"],\"to\":"
			"\"file:%s\",\"quiesce_ack\":true",
			path);
	json_object_put(event(c, "quiesced", job));
	expect_ok(call(c,
		       "\"cmd\":\"continue\",\"job\":%lld,\"abort\":\"vCPUs would not "
		       "stop\"",
		       job),
		  "continue with abort");
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(!flag(fin, "success") &&
			    strstr(errmsg(fin), "vCPUs would not stop") &&
			    flag(fin, "rolled_back") &&
			    flag(fin, "devices_left_running") &&
			    strcmp(states, "RUNNING RUNNING") == 0,
		    "abort: failed with the reason, devices RUNNING again"))
		show("finished", fin);
	json_object_put(fin);

	/* no acknowledgement in time */
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:a5\"],\"to\":\"file:%s\","
			"\"quiesce_ack\":true,\"ack_timeout_usec\":1000000",
			path);
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	tap_ok(!flag(fin, "success") && strstr(errmsg(fin), "no acknowledgement") &&
		       strcmp(states, "RUNNING") == 0,
	       "no acknowledgement within ack_timeout_usec: rolled back");
	json_object_put(fin);
	expect_error(call(c, "\"cmd\":\"continue\",\"job\":%lld", job), "EALREADY", NULL,
		     "continue of a finished job: EALREADY");

	/* cancel a restore waiting for its source; another client watches it */
	r = call(c, "\"cmd\":\"restore\",\"devices\":[\"sim:a6\"],\"from\":\"tcp://"
		    "127.0.0.1:0\"");
	job = num(get(r, "result"), "job");
	tap_ok(ok(r) && strncmp(str(get(r, "result"), "listening"),
				"tcp://127.0.0.1:", 16) == 0,
	       "a listening restore says where it listens");
	json_object_put(r);
	w = conn_open(p->sock);
	r = call(w, "\"cmd\":\"watch\",\"job\":%lld", job);
	tap_ok(ok(r) && strcmp(str(get(r, "result"), "phase"), "accepting") == 0,
	       "watch from another connection: phase accepting");
	json_object_put(r);
	expect_error(call(c, "\"cmd\":\"continue\",\"job\":%lld", job), "EAGAIN",
		     "not waiting", "continue of a job that is not waiting: EAGAIN");
	expect_ok(call(c, "\"cmd\":\"cancel\",\"job\":%lld", job), "cancel");
	fin = event(w, "finished", job);
	if (!tap_ok(!flag(fin, "success") &&
			    strstr(errmsg(fin), "cancelled (by pid"),
		    "the watcher sees it cancelled, and by whom"))
		show("finished", fin);
	json_object_put(fin);
	expect_error(call(c, "\"cmd\":\"cancel\",\"job\":%lld", job), "EALREADY",
		     "has finished", "cancel of a finished job: EALREADY");
	conn_close(w);

	/* cancel during stop-copy: rolled back */
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:a7,arc-usec=300000\"],"
			"\"to\":\"file:%s\"",
			path);
	{
		struct ev_match m = {"phase", job};
		long long end = now_ms() + TIMEOUT_MS;

		for (;;) {
			r = wait_for(c, match_event, &m, (int)(end - now_ms()));
			if (!r || strcmp(str(r, "phase"), "stop-copy") == 0)
				break;
			json_object_put(r);
		}
		json_object_put(r);
	}
	expect_ok(call(c, "\"cmd\":\"cancel\",\"job\":%lld", job), "cancel in stop-copy");
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(!flag(fin, "success") && flag(fin, "devices_left_running") &&
			    strcmp(states, "RUNNING") == 0,
		    "cancelled in stop-copy: the device runs again"))
		show("finished", fin);
	json_object_put(fin);
	conn_close(c);
}

static void test_disconnect(struct proc *p)
{
	struct conn *c = conn_open(p->sock), *w = conn_open(p->sock);
	struct json_object *fin, *r;
	char path[128], states[64];
	long long job;

	snprintf(path, sizeof(path), "%s/dis.vfm", tmpdir);
	json_object_put(call(w, "\"cmd\":\"watch\",\"all\":true"));

	/* a job outlives its client */
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:b1,arc-usec=200000\"],"
			"\"to\":\"file:%s\"",
			path);
	conn_close(c);
	fin = event(w, "finished", job);
	tap_ok(flag(fin, "success"), "the client goes: the job carries on and succeeds");
	json_object_put(fin);

	/* waiting for an acknowledgement, with cancel_on_disconnect: the client goes,
	 * the job rolls back at once */
	c = conn_open(p->sock);
	job = start_job(
		c,
		"\"cmd\":\"save\",\"devices\":[\"sim:b2\",\"sim:b3\"],\"to\":\"file:%s\","
		"\"quiesce_ack\":true,\"cancel_on_disconnect\":true",
		path);
	json_object_put(event(c, "quiesced", job));
	conn_close(c);
	fin = event(w, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(!flag(fin, "success") && strstr(errmsg(fin), "disconnected") &&
			    strcmp(states, "RUNNING RUNNING") == 0 &&
			    num(fin, "elapsed_usec") < 5000000,
		    "quiesce_ack + cancel_on_disconnect, the client goes: rolled back at "
		    "once"))
		show("finished", fin);
	json_object_put(fin);

	/* without cancel_on_disconnect, another client may acknowledge */
	c = conn_open(p->sock);
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:b5\"],\"to\":\"file:%s\","
			"\"quiesce_ack\":true",
			path);
	json_object_put(event(c, "quiesced", job));
	conn_close(c);
	expect_ok(call(w, "\"cmd\":\"continue\",\"job\":%lld", job),
		  "its client gone, another connection acknowledges");
	fin = event(w, "finished", job);
	tap_ok(flag(fin, "success") && !flag(fin, "owner_connected"),
	       "and the save completes (owner_connected false)");
	json_object_put(fin);

	/* cancel_on_disconnect */
	c = conn_open(p->sock);
	job = start_job(c, "\"cmd\":\"restore\",\"devices\":[\"sim:b4\"],\"from\":\"tcp:/"
			   "/127.0.0.1:0\",\"cancel_on_disconnect\":true");
	conn_close(c);
	fin = event(w, "finished", job);
	tap_ok(!flag(fin, "success") && strstr(errmsg(fin), "disconnected"),
	       "cancel_on_disconnect: the job is cancelled when its client goes");
	json_object_put(fin);

	/* a client that does not read its events is disconnected, not waited for */
	r = call(w, "\"cmd\":\"unwatch\",\"all\":true");
	json_object_put(r);
	conn_close(w);
}

static void test_sigterm(void)
{
	struct proc p;
	struct conn *c;
	struct json_object *fin, *sd;
	char states[64], path[128];
	long long job, job2;
	int rc;

	spawn(&p, "term", -1, NULL, NULL);
	c = conn_open(p.sock);
	snprintf(path, sizeof(path), "%s/term.vfm", tmpdir);
	job = start_job(c,
			"\"cmd\":\"save\",\"devices\":[\"sim:t1\",\"sim:t2\"],\"to\":"
			"\"file:%s\",\"quiesce_ack\":true",
			path);
	job2 = start_job(c, "\"cmd\":\"restore\",\"devices\":[\"sim:t3\"],\"from\":\"tcp:"
			    "//127.0.0.1:0\"");
	json_object_put(event(c, "quiesced", job));
	kill(p.pid, SIGTERM);
	sd = event(c, "shutdown", -1);
	tap_ok(sd && strstr(str(sd, "reason"), "Terminated"),
	       "SIGTERM: a shutdown event");
	json_object_put(sd);
	fin = event(c, "finished", job);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(!flag(fin, "success") && flag(fin, "rolled_back") &&
			    strstr(errmsg(fin), "shutting down") &&
			    strcmp(states, "RUNNING RUNNING") == 0,
		    "SIGTERM mid-save (devices quiesced): rolled back, RUNNING"))
		show("finished", fin);
	json_object_put(fin);
	fin = event(c, "finished", job2);
	tap_ok(fin && !flag(fin, "success"), "the listening restore ends too");
	json_object_put(fin);
	rc = reap(&p, TIMEOUT_MS);
	tap_ok(rc == 0, "the daemon exits 0 after SIGTERM (%d)", rc);
	tap_ok(notify_wait(&p, "STOPPING=1", 100), "it said STOPPING=1");
	conn_close(c);
	stop(&p);
}

static void test_notify(struct proc *p)
{
	tap_ok(notify_wait(p, "READY=1", 100), "READY=1 on $NOTIFY_SOCKET");
	tap_ok(notify_wait(p, "STATUS=", 100), "STATUS= on $NOTIFY_SOCKET");
	notify_wait(p, "(nothing)", 1000);
	if (!tap_ok(count_notes(p, "WATCHDOG=1") >= 3,
		    "WATCHDOG=1 pings at half of WATCHDOG_USEC (200 ms)"))
		tap_diag("%d pings", count_notes(p, "WATCHDOG=1"));
}

static void test_activation(void)
{
	struct proc p;
	char path[128];
	int lfd, rc;
	struct conn *c;

	snprintf(path, sizeof(path), "%s/activated.sock", tmpdir);
	lfd = bind_unix(path, SOCK_STREAM);
	listen(lfd, 8);
	spawn(&p, "act", lfd, NULL, NULL);
	close(lfd);
	c = conn_open(path);
	expect_ok(c ? call(c, "\"cmd\":\"version\"") : NULL,
		  "socket activation: the daemon serves the passed socket");
	expect_ok(c ? call(c, "\"cmd\":\"shutdown\"") : NULL, "shutdown");
	rc = reap(&p, TIMEOUT_MS);
	tap_ok(rc == 0, "the daemon exits 0 after shutdown (%d)", rc);
	tap_ok(access(path, F_OK) == 0, "it leaves systemd's socket file alone");
	conn_close(c);
	stop(&p);
}

#define CAP_NET_ADMIN_BIT (1ULL << 12)

/* CapPrm of a process (0 when unreadable) */
static unsigned long long test_capprm(pid_t pid)
{
	unsigned long long v = 0;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "CapPrm: %llx", &v);
	if (f)
		fclose(f);
	return v;
}

static void test_privileges(void)
{
	static const char *const args[] = {"--group", "nogroup", NULL};
	struct group *g = getgrnam("nogroup");
	struct proc p;
	struct stat st;
	char path[64], line[256];
	FILE *f;
	unsigned long long capeff = 1, capprm = 0, had = test_capprm(getpid());
	int nnp = 0;

	if (geteuid() != 0 || !g) {
		tap_skip("peer credentials and capabilities: needs root and group "
			 "nogroup");
		return;
	}
	{
		static const char *const no_args[] = {"--no-net-admin", NULL};

		spawn(&p, "priv2", -1, no_args, NULL);
		capprm = test_capprm(p.pid);
		tap_ok(capprm == 0, "--no-net-admin: nothing permitted (%llx)", capprm);
		stop(&p);
	}
	spawn(&p, "priv", -1, args, NULL);
	tap_ok(stat(p.sock, &st) == 0 && (st.st_mode & 0777) == 0660 &&
		       st.st_gid == g->gr_gid,
	       "the socket is 0660, group nogroup");
	snprintf(path, sizeof(path), "/proc/%d/status", p.pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "CapEff: %llx", &capeff);
		sscanf(line, "CapPrm: %llx", &capprm);
		sscanf(line, "NoNewPrivs: %d", &nnp);
	}
	if (f)
		fclose(f);
	tap_ok(capeff == 0 && nnp == 1,
	       "started as root: no capability effective, no new privileges");
	tap_ok(capprm == (had & CAP_NET_ADMIN_BIT),
	       "only CAP_NET_ADMIN stays permitted, if we had it (%llx of %llx)", capprm,
	       had);

	/* uid 65534: with group nogroup it may connect; without it, not */
	for (int pass = 0; pass < 2; pass++) {
		pid_t pid;
		int status = -1;

		/* the socket's mode keeps others out; open it up to reach the
		 * daemon's own check (SO_PEERCRED) */
		if (pass == 1)
			chmod(p.sock, 0666);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			struct conn *c;
			struct json_object *r;
			gid_t gid = pass == 0 ? g->gr_gid : 1;

			if (setgroups(0, NULL) < 0 || setgid(gid) < 0 ||
			    setuid(65534) < 0)
				_exit(98);
			c = conn_open(p.sock);
			if (!c)
				_exit(97);
			sendf(c, "{\"id\":1,\"cmd\":\"version\"}");
			/* the answer, or the refusal (id null) */
			r = wait_for(c, match_any, NULL, 5000);
			if (r && strcmp(err_name(r), "EACCES") == 0)
				_exit(3);
			_exit(ok(r) && num(r, "id") == 1 ? 0 : 4);
		}
		waitpid(pid, &status, 0);
		if (pass == 0)
			tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			       "uid 65534 in group nogroup may use the daemon (%d)",
			       WEXITSTATUS(status));
		else
			tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 3,
			       "uid 65534 outside the group, socket mode opened up: the "
			       "daemon's SO_PEERCRED check says EACCES (%d)",
			       WEXITSTATUS(status));
	}
	chmod(p.sock, 0660);
	/* a non-root client may not name paths for the daemon to open */
	{
		pid_t pid;
		int status = -1;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			struct conn *c;
			struct json_object *r;

			if (setgroups(0, NULL) < 0 || setgid(g->gr_gid) < 0 ||
			    setuid(65534) < 0)
				_exit(98);
			c = conn_open(p.sock);
			r = c ? call(c, "\"cmd\":\"save\",\"devices\":[\"sim:p\"],\"to\":"
					"\"file:/etc/vfm-test\"")
			      : NULL;
			_exit(r && strcmp(err_name(r), "EACCES") == 0 ? 0 : 5);
		}
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "a non-root client naming file: is refused (EACCES)");
	}
	stop(&p);
}

/* A destination that goes away mid-save: the source devices run again. */
static void test_dropped_peer(struct proc *p)
{
	struct conn *c = conn_open(p->sock);
	struct json_object *r, *fin;
	char states[64], uri[128];
	long long rjob, sjob;

	r = call(c,
		 "\"cmd\":\"restore\",\"devices\":[\"sim:v1,size=64K\"],\"from\":\"tcp://"
		 "127.0.0.1:0\"");
	rjob = ok(r) ? num(get(r, "result"), "job") : -1;
	snprintf(uri, sizeof(uri), "%s", str(get(r, "result"), "listening"));
	json_object_put(r);
	sjob = start_job(
		c,
		"\"cmd\":\"save\",\"devices\":[\"sim:w1,size=64K\"],\"to\":\"%s\","
		"\"quiesce_ack\":true",
		uri);
	json_object_put(event(c, "quiesced", sjob));
	/* the destination goes (its connection closes), then the source goes on */
	expect_ok(call(c, "\"cmd\":\"cancel\",\"job\":%lld", rjob),
		  "the destination gives up");
	fin = event(c, "finished", rjob);
	json_object_put(fin);
	expect_ok(call(c, "\"cmd\":\"continue\",\"job\":%lld", sjob),
		  "the source continues");
	fin = event(c, "finished", sjob);
	final_states(fin, states, sizeof(states));
	if (!tap_ok(!flag(fin, "success") && flag(fin, "devices_left_running") &&
			    strcmp(states, "RUNNING") == 0,
		    "the connection lost mid-save: failed, the device runs again"))
		show("finished", fin);
	json_object_put(fin);
	conn_close(c);
}

/* A fake sysfs tree with a vfio-pci function and an mdev, and no /dev/vfio. */
static void test_list(void)
{
	char root[128], env[160], cmd[2048];
	const char *envs[] = {env, NULL};
	struct proc p;
	struct conn *c;
	struct json_object *r, *arr;

	snprintf(root, sizeof(root), "%s/root", tmpdir);
	snprintf(
		cmd, sizeof(cmd),
		"set -e; r=%s; u=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001\n"
		"d=$r/sys/devices/pci0000:00/0000:00:01.0/0000:3b:00.1\n"
		"mkdir -p $d $r/sys/bus/pci/devices $r/sys/bus/pci/drivers/vfio-pci "
		"$r/sys/kernel/iommu_groups/12 $r/sys/kernel/iommu_groups/13 "
		"$r/sys/bus/mdev/devices "
		"$r/sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-2 "
		"$r/sys/devices/virtual/mtty/mtty/$u\n"
		"echo 0x8086 >$d/vendor; echo 0x1515 >$d/device; echo 0x8086 "
		">$d/subsystem_vendor\n"
		"echo 0x0001 >$d/subsystem_device; echo 0x01 >$d/revision; : >$d/config\n"
		"ln -s ../../../../bus/pci/drivers/vfio-pci $d/driver\n"
		"ln -s ../../../../kernel/iommu_groups/12 $d/iommu_group\n"
		"ln -s ../../../devices/pci0000:00/0000:00:01.0/0000:3b:00.1 "
		"$r/sys/bus/pci/devices/0000:3b:00.1\n"
		"m=$r/sys/devices/virtual/mtty/mtty/$u\n"
		"ln -s ../../../../bus/pci/drivers/vfio-pci $m/driver\n"
		"ln -s ../mdev_supported_types/mtty-2 $m/mdev_type\n"
		"ln -s ../../../../kernel/iommu_groups/13 $m/iommu_group\n"
		"ln -s ../../../devices/virtual/mtty/mtty/$u "
		"$r/sys/bus/mdev/devices/$u\n",
		root);
	if (system(cmd) != 0) {
		tap_ok(false, "a fake sysfs tree");
		return;
	}
	snprintf(env, sizeof(env), "VFIOMIG_SYSFS_ROOT=%s", root);
	spawn(&p, "sysfs", -1, NULL, envs);
	c = conn_open(p.sock);
	r = c ? call(c, "\"cmd\":\"list\"") : NULL;
	arr = rlist(r, "devices");
	if (!tap_ok(ok(r) && json_object_array_length(arr) == 2 &&
			    strcmp(str(json_object_array_get_idx(arr, 0), "device"),
				   "0000:3b:00.1") == 0 &&
			    strcmp(str(json_object_array_get_idx(arr, 0), "driver"),
				   "vfio-pci") == 0 &&
			    num(json_object_array_get_idx(arr, 0), "iommu_group") == 12 &&
			    strcmp(str(json_object_array_get_idx(arr, 1), "mdev_type"),
				   "mtty-2") == 0 &&
			    !flag(json_object_array_get_idx(arr, 1), "attached"),
		    "list: the vfio-pci function and the mdev of a fake sysfs"))
		show("list", r);
	json_object_put(r);
	r = c ? call(c, "\"cmd\":\"list\",\"probe\":true") : NULL;
	arr = rlist(r, "devices");
	tap_ok(ok(r) && strlen(str(json_object_array_get_idx(arr, 0), "probe_error")) > 0,
	       "list with probe: devices that cannot be opened say why");
	json_object_put(r);
	r = c ? call(c, "\"cmd\":\"attach\",\"devices\":[\"3b:00.1\"]") : NULL;
	if (!tap_ok(r && !ok(r) &&
			    strcmp(str(get(r, "error"), "device"), "3b:00.1") == 0 &&
			    strstr(err_msg(r), "/dev/vfio/vfio"),
		    "attach without /dev/vfio: the library's reason, naming the device"))
		show("attach", r);
	json_object_put(r);
	conn_close(c);
	stop(&p);
}

/* --max-jobs, and the connection limit. */
static void test_limits(void)
{
	static const char *const args[] = {"--max-jobs", "1", "--attach", "sim:boot1",
					   NULL};
	static const char *const bad_args[] = {"--attach", "sim:boot2,bogus", NULL};
	struct conn *conns[70] = {NULL}, *c;
	struct json_object *r;
	struct proc p;
	int n = 0;

	spawn(&p, "badattach", -1, bad_args, NULL);
	tap_ok(reap(&p, TIMEOUT_MS) == 1,
	       "--attach of a device that cannot be opened: exit 1");
	stop(&p);

	spawn(&p, "limits", -1, args, NULL);
	c = conn_open(p.sock);
	r = call(c, "\"cmd\":\"info\",\"devices\":[\"sim:boot1\"]");
	tap_ok(ok(r) && flag(json_object_array_get_idx(rlist(r, "devices"), 0), "attached"),
	       "--attach: the device is attached from the start");
	json_object_put(r);
	json_object_put(call(c, "\"cmd\":\"restore\",\"devices\":[\"sim:l1\"],\"from\":"
				"\"tcp://127.0.0.1:0\""));
	expect_error(call(c,
			  "\"cmd\":\"restore\",\"devices\":[\"sim:l2\"],\"from\":\"tcp://"
			  "127.0.0.1:0\""),
		     "EAGAIN", "at most 1 job at once",
		     "--max-jobs 1: a second job is EAGAIN");
	/* c is one; 63 more fit */
	for (n = 0; n < 63; n++) {
		conns[n] = conn_open(p.sock);
		if (!conns[n])
			break;
		json_object_put(call(conns[n], "\"cmd\":\"version\""));
	}
	conns[n] = conn_open(p.sock);
	r = conns[n] ? wait_for(conns[n], match_null_id, NULL, TIMEOUT_MS) : NULL;
	if (!tap_ok(n == 63 && r && strcmp(err_name(r), "EUSERS") == 0,
		    "the 65th connection: EUSERS, then closed"))
		tap_diag("%d opened", n);
	json_object_put(r);
	for (int i = 0; i <= n && i < 70; i++)
		conn_close(conns[i]);
	conn_close(c);
	stop(&p);
}

/* utime + stime of @pid, in clock ticks; -1 when unreadable */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* after the comm: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/*
 * Out of descriptors at accept(): with RLIMIT_NOFILE 40 and 120 connections waiting,
 * accept() fails with EMFILE while the listening socket stays readable.  The daemon
 * must rest instead of spinning on it (it used ~100% of a core and wrote ~8 MB of
 * log a second), log the episode once, and serve again once connections close.
 */
static void test_emfile(void)
{
	enum { N = 120 };
	struct conn *conns[N] = {NULL}, *c;
	char log[128];
	long long t0, t1, hz = sysconf(_SC_CLK_TCK);
	struct stat st = {0};
	struct proc p;
	int n, lines = 0;
	FILE *f;

	snprintf(log, sizeof(log), "%s/emfile.log", tmpdir);
	spawn_nofile = 40;
	spawn_log = log;
	spawn(&p, "emfile", -1, NULL, NULL);
	spawn_nofile = 0;
	spawn_log = NULL;
	for (n = 0; n < N; n++)
		if (!(conns[n] = conn_open(p.sock)))
			break;
	usleep(200000);
	t0 = cpu_ticks(p.pid);
	usleep(2000000);
	t1 = cpu_ticks(p.pid);
	if (!tap_ok(n == N && t0 >= 0 && t1 >= 0 && (t1 - t0) * 100 < 30 * 2 * hz,
		    "EMFILE at accept with %d connections waiting: under 30%% of a core "
		    "over 2 s",
		    n))
		tap_diag("%d connected; %lld ticks of %lld a second used in 2 s", n,
			 t1 - t0, hz);
	stat(log, &st);
	f = fopen(log, "r");
	if (f) {
		char line[512];

		while (fgets(line, sizeof(line), f))
			lines += strstr(line, "accept") != NULL;
		fclose(f);
	}
	if (!tap_ok(st.st_size < 4096 && lines == 1,
		    "EMFILE at accept: logged once (%d line%s), the log stays small "
		    "(%lld bytes)",
		    lines, lines == 1 ? "" : "s", (long long)st.st_size))
		tap_diag("see %s", log);
	for (int i = 0; i < n; i++)
		conn_close(conns[i]);
	c = conn_open(p.sock);
	expect_ok(c ? call(c, "\"cmd\":\"version\"") : NULL,
		  "once the connections are gone, root's request is served");
	conn_close(c);
	stop(&p);
	lines = 0;
	f = fopen(log, "r");
	if (f) {
		char line[512];

		while (fgets(line, sizeof(line), f))
			lines += strstr(line, "accepting connections again, after") != NULL;
		fclose(f);
	}
	tap_ok(lines == 1, "and the end of the episode is logged once, with its count");
}

/*
 * Descriptors received and not yet taken are bounded in total from RLIMIT_NOFILE:
 * with 200 and --max-jobs 1, (200 - 64 - 64 - 16) / 2 = 28.  A line in progress
 * holds 20; another connection's 20 do not fit: EMFILE; once the first line is done,
 * they fit again.
 */
static void test_fd_budget(void)
{
	static const char *const args[] = {"--max-jobs", "1", NULL};
	struct conn *a, *b;
	struct proc p;
	int many[20];

	for (int i = 0; i < 20; i++)
		many[i] = STDIN_FILENO;
	spawn_nofile = 200;
	spawn(&p, "budget", -1, args, NULL);
	spawn_nofile = 0;
	a = conn_open(p.sock);
	b = conn_open(p.sock);
	if (!a || !b) {
		tap_ok(false, "descriptor budget: connect");
		goto out;
	}
	send_raw(a, "{\"cmd\":\"vers", 12, many, 20);
	usleep(200000);
	expect_error(call_fds(b, many, 20, "\"cmd\":\"version\""), "EMFILE", "at most 28",
		     "RLIMIT_NOFILE 200: 20 descriptors held by a line in progress, 20 "
		     "more do not fit (at most 28): EMFILE");
	sendf(a, "ion\",\"id\":7}");
	{
		int id = 7;

		expect_ok(wait_for(a, match_id, &id, TIMEOUT_MS),
			  "the line in progress completes with its descriptors");
	}
	expect_ok(call_fds(b, many, 20, "\"cmd\":\"version\""),
		  "then 20 fit again: they went with the request");
out:
	conn_close(a);
	conn_close(b);
	stop(&p);
}

/* --user: sockets opened as root, then uid 65534 and no capability. */
static void test_user(void)
{
	static const char *const args[] = {"--user", "nobody", NULL};
	struct proc p;
	struct conn *c;
	char path[64], line[256];
	unsigned long long capeff = 1;
	unsigned uid = 0;
	FILE *f;
	int rc;

	if (geteuid() != 0 || !getpwnam("nobody")) {
		tap_skip("--user: needs root and user nobody");
		return;
	}
	spawn(&p, "user", -1, args, NULL);
	snprintf(path, sizeof(path), "/proc/%d/status", p.pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "CapEff: %llx", &capeff);
		sscanf(line, "Uid: %u", &uid);
	}
	if (f)
		fclose(f);
	tap_ok(uid == 65534 && capeff == 0,
	       "--user nobody: uid 65534, no capability effective (uid %u)", uid);
	tap_ok(test_capprm(p.pid) == (test_capprm(getpid()) & CAP_NET_ADMIN_BIT),
	       "--user nobody: CAP_NET_ADMIN still permitted, if we had it");
	c = conn_open(p.sock);
	expect_ok(c ? call(c, "\"cmd\":\"attach\",\"devices\":[\"sim:n1\"]") : NULL,
		  "as nobody it serves root, and simulated devices");
	conn_close(c);
	kill(p.pid, SIGTERM);
	rc = reap(&p, TIMEOUT_MS);
	tap_ok(rc == 0, "and exits 0 (%d)", rc);
	stop(&p);
}

int main(int argc, char **argv)
{
	struct proc p;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-vfiomigd\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vfmd-test.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	/* other uids connect in test_privileges */
	chmod(tmpdir, 0711);
	signal(SIGPIPE, SIG_IGN);

	spawn(&p, "main", -1, NULL, NULL);
	test_notify(&p);
	test_protocol(&p);
	test_devices(&p);
	test_save_restore(&p);
	test_fds(&p);
	test_concurrency(&p);
	test_ack_cancel(&p);
	test_disconnect(&p);
	test_dropped_peer(&p);
	{
		struct conn *c = conn_open(p.sock);

		expect_ok(c ? call(c, "\"cmd\":\"shutdown\"") : NULL, "shutdown command");
		conn_close(c);
		rc = reap(&p, TIMEOUT_MS);
		tap_ok(rc == 0, "the daemon exits 0 (%d)", rc);
		tap_ok(access(p.sock, F_OK) != 0, "its own socket is removed");
		stop(&p);
	}
	test_rate();
	test_sigterm();
	test_activation();
	test_privileges();
	test_list();
	test_limits();
	test_emfile();
	test_fd_budget();
	test_user();

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmpdir);
	}
	return tap_done();
}
