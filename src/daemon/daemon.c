// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomigd's main thread: control connections, requests, the device and job tables,
 * signals, the watchdog.  One poll() loop; nothing in it blocks for long (opening a
 * device, binding a listener and reading sysfs are the slowest steps); waiting on
 * peers and moving data happen in the job threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/kcmp.h>
#include <linux/magic.h>
#include <linux/vfio.h>

#include <json-c/json.h>

#include "config.h"
#include "contract.h"
#include "daemon.h"
#include "macro.h"
#include "sd.h"
#include "util.h"

/* ---- logging: stderr, with syslog priorities when it is the journal ---- */

/*
 * Whether a line about what an unprivileged client did may be logged now (root's are
 * always); when lines were held back, say how many first.
 */
static bool log_ok(struct daemon *d, bool privileged)
{
	uint64_t now = now_usec();

	if (privileged)
		return true;
	if (!d->log_usec)
		d->log_tokens = 5.0 * VFMD_LOG_RATE;
	d->log_tokens += (double)(now - d->log_usec) * VFMD_LOG_RATE / 1e6;
	if (d->log_tokens > 5.0 * VFMD_LOG_RATE)
		d->log_tokens = 5.0 * VFMD_LOG_RATE;
	d->log_usec = now;
	if (!d->log_hour_usec || now - d->log_hour_usec >= 3600ull * 1000000) {
		d->log_hour_usec = now;
		d->log_hour_lines = 0;
	}
	/* the line that reports what was held back counts too */
	if (d->log_tokens < 1.0 ||
	    d->log_hour_lines + 1 + !!d->log_suppressed > d->cfg.log_max) {
		d->log_suppressed++;
		return false;
	}
	d->log_tokens -= 1.0;
	d->log_hour_lines++;
	/* the count of what was held back: once every 10 s at most, not before every
	 * line a flood lets through */
	if (d->log_suppressed && now - d->log_summary_usec >= 10 * 1000000ull) {
		d->log_summary_usec = now;
		d->log_hour_lines++;
		daemon_log(4, "%u log lines about clients other than root were held back (at "
			      "most %d a second and %u an hour)",
			   d->log_suppressed, VFMD_LOG_RATE, d->cfg.log_max);
		d->log_suppressed = 0;
	}
	return true;
}

void daemon_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {[3] = "error: ", [4] = "warning: "};
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "vfiomigd: %s%s\n",
			level >= 0 && level < (int)ELEMENTSOF(names) && names[level]
				? names[level]
				: "",
			buf);
}

static void lib_log(void *userdata, enum vfm_log_level level, const char *msg)
{
	daemon_log((int)level, "%s", msg);
}

int daemon_new_ctx(struct daemon *d, struct vfm_ctx **ret_ctx)
{
	struct vfm_ctx *ctx;
	int r = vfm_ctx_new(&ctx);

	if (r < 0)
		return r;
	if (d->cfg.sysfs_root) {
		r = vfm_ctx_set_sysfs_root(ctx, d->cfg.sysfs_root);
		if (r < 0) {
			vfm_ctx_unref(ctx);
			return r;
		}
	}
	if (d->cfg.verbose)
		vfm_ctx_set_log(ctx, VFM_LOG_DEBUG, lib_log, NULL);
	*ret_ctx = ctx;
	return 0;
}

/* ---- output to a connection ---- */

static struct client *client_by_id(struct daemon *d, unsigned id)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void client_queue(struct client *c, const char *s, size_t len, bool droppable)
{
	if (c->closing)
		return;
	if (droppable && c->out_len > VFMD_OUT_DROP) {
		c->dropped++;
		return;
	}
	if (c->out_len + len > VFMD_OUT_MAX) {
		/* It does not read: nothing more is queued, and it goes. */
		c->not_reading = true;
		c->closing = true;
		c->out_len = 0;
		return;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = MAX(c->out_cap * 2, c->out_len + len + 4096);
		char *p = realloc(c->out, cap);

		if (!p) {
			c->closing = true;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
}

static void client_send(struct client *c, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	client_queue(c, s, strlen(s), false);
	client_queue(c, "\n", 1, false);
	json_object_put(o);
}

/* A success response (only when the request had an id).  Takes @result. */
static void respond(struct client *c, struct json_object *id, struct json_object *result)
{
	struct json_object *o;

	if (!id) {
		json_object_put(result);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(VFM_JSON_VERSION));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "result", result ? result : json_object_new_object());
	client_send(c, o);
}

/* An error response: always sent, "id": null when the request had none. */
static void respond_error_dev(struct client *c, struct json_object *id, int err,
			      const char *device, const char *fmt, ...) _printf_(5, 6);
static void respond_error_dev(struct client *c, struct json_object *id, int err,
			      const char *device, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	char msg[VFMD_ERR_MAX + 256], nb[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "version", json_object_new_int(VFM_JSON_VERSION));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(e, "errno", json_object_new_int(err < 0 ? -err : err));
	json_object_object_add(
		e, "errno_name",
		json_object_new_string(vfmd_errno_name(err, nb, sizeof(nb))));
	json_object_object_add(e, "message", json_object_new_string(msg));
	if (device)
		json_object_object_add(e, "device", json_object_new_string(device));
	json_object_object_add(o, "error", e);
	client_send(c, o);
}

#define respond_error(c, id, err, ...) respond_error_dev(c, id, err, NULL, __VA_ARGS__)

static void client_flush(struct client *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				c->closing = true;
				c->out_len = 0;
			}
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
}

static void broadcast(struct daemon *d, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	for (struct client *c = d->clients; c; c = c->next) {
		client_queue(c, s, strlen(s), false);
		client_queue(c, "\n", 1, false);
	}
	json_object_put(o);
}

/* ---- devices ---- */

static struct ddev *find_attached(struct daemon *d, const char *name)
{
	for (struct ddev *dd = d->devices; dd; dd = dd->next)
		if (streq(dd->key, name) || streq(dd->given, name))
			return dd;
	return NULL;
}

static struct djob *find_job(struct daemon *d, unsigned id)
{
	for (struct djob *j = d->jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

/* The running job (or the save in doubt holding it) that has a device of this
 * name, 0 if none. */
static unsigned job_of_name(struct daemon *d, const char *key)
{
	for (struct djob *j = d->jobs; j; j = j->next)
		if (!j->reaped || j->holding)
			for (size_t i = 0; i < j->n; i++)
				if (streq(j->names[i], key))
					return j->id;
	return 0;
}

static bool same_device(const struct ddev *a, const struct ddev *b);

/* The running job (or save in doubt) that has this device under any name. */
static unsigned job_of_dev(struct daemon *d, const struct ddev *dd)
{
	for (struct djob *j = d->jobs; j; j = j->next)
		if (!j->reaped || j->holding)
			for (size_t i = 0; i < j->n; i++)
				if (j->devs[i] && j->devs[i] != dd &&
				    same_device(j->devs[i], dd))
					return j->id;
	return job_of_name(d, dd->key);
}

/* An attached device other than @dd that is the same device. */
static struct ddev *attached_same(struct daemon *d, const struct ddev *dd)
{
	for (struct ddev *a = d->devices; a; a = a->next)
		if (a != dd && same_device(a, dd))
			return a;
	return NULL;
}

static void dctx_put(struct dctx *dc)
{
	if (dc && --dc->n_devices == 0) {
		vfm_ctx_unref(dc->ctx);
		free(dc);
	}
}

static void ddev_free(struct ddev *dd)
{
	if (!dd)
		return;
	vfm_device_unref(dd->dev);
	dctx_put(dd->dctx);
	free(dd);
}

/*
 * A descriptor passed over the socket must be a VFIO device, as the kernel says on
 * that descriptor, not as its /proc link text says (a tmpfs file mounted at
 * /dev/vfio/devices/vfio0 in a user namespace has that text):
 *  - its file is an anonymous inode (a device fd from a group) or a character
 *    device (an iommufd cdev): not a regular file (FUSE would answer ioctls), a
 *    socket or a pipe;
 *  - it answers VFIO_DEVICE_GET_INFO, which only a VFIO device does (';' 107 is
 *    VFIO's number): an eventfd or another anonymous inode, /dev/null, a group
 *    or container node and /dev/iommu fail with ENOTTY or EINVAL;
 *  - and fills in its type flag (PCI, platform, ccw, ap...), which every VFIO
 *    driver sets: a restricted FUSE ioctl could succeed without writing anything.
 * Anything else is refused before the library sees it.
 */
static int check_vfio_fd(int fd, char *what, size_t size, char *why, size_t whysize)
{
	struct vfio_device_info info = {.argsz = sizeof(info)};
	char link[64];
	struct statfs sfs;
	struct stat st;
	ssize_t n;
	bool anon;

	/* only to say what it is */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	snprintf(what, size, "?");
	n = readlink(link, what, size - 1);
	if (n >= 0)
		what[n] = '\0';
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		snprintf(why, whysize, "unreadable: %s", strerror(errno));
		return -EBADF;
	}
	anon = (st.st_mode & S_IFMT) == 0 && sfs.f_type == ANON_INODE_FS_MAGIC;
	if (!anon && !S_ISCHR(st.st_mode)) {
		snprintf(why, whysize, "not a character device nor an anonymous inode");
		return -EINVAL;
	}
	if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
		snprintf(why, whysize, "VFIO_DEVICE_GET_INFO: %s", strerror(errno));
		return -EINVAL;
	}
	if (info.flags == 0) {
		snprintf(why, whysize, "VFIO_DEVICE_GET_INFO gave no device type");
		return -EINVAL;
	}
	return 0;
}

/*
 * What identifies the device behind a VFIO device descriptor, from the kernel:
 *  - an iommufd cdev (a character device): its sysfs device, the realpath of
 *    /sys/dev/char/MAJ:MIN/device (the PCI function or mdev; st_rdev alone names the
 *    vfio-dev node, unique per device too: "cdev:MAJ:MIN" when sysfs says nothing);
 *  - a device fd from a group (an anonymous inode, whose st_dev/st_ino every
 *    anonymous file shares, so they identify nothing): the "vfio-device-syspath:"
 *    line of /proc/self/fdinfo/FD (Linux 6.14 and later).  On older kernels ""
 *    (unknown): two such descriptors are then the same device only when they are
 *    the same open file (kcmp(2), see same_device()).
 * Devices opened by name carry their sysfs path from the library (a realpath too),
 * so a device passed and also named by path compares equal.
 */
static void fd_ident(int fd, char *buf, size_t size)
{
	char path[PATH_MAX], real[PATH_MAX], line[PATH_MAX + 32];
	struct stat st;
	FILE *f;

	buf[0] = '\0';
	if (fstat(fd, &st) < 0)
		return;
	if (S_ISCHR(st.st_mode)) {
		snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/device", major(st.st_rdev),
			 minor(st.st_rdev));
		if (realpath(path, real))
			snprintf(buf, size, "sysfs:%s", real);
		else
			snprintf(buf, size, "cdev:%u:%u", major(st.st_rdev),
				 minor(st.st_rdev));
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, "vfio-device-syspath:", 20) != 0)
			continue;
		v = line + 20;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		if (*v && realpath(v, real))
			snprintf(buf, size, "sysfs:%s", real);
		break;
	}
	fclose(f);
}

/* Whether two opened devices are one: same key, same kernel identity, or (kernel
 * identity unknown) the same open file passed twice. */
static bool same_device(const struct ddev *a, const struct ddev *b)
{
	int fa, fb;

	if (a == b || streq(a->key, b->key))
		return true;
	if (a->ident[0] && streq(a->ident, b->ident))
		return true;
	if (a->ident[0] && b->ident[0])
		return false;
	fa = vfm_device_fd(a->dev);
	fb = vfm_device_fd(b->dev);
	/* ENOSYS/EPERM (no CONFIG_KCMP, a filter): not known to be the same */
	return fa >= 0 && fb >= 0 && a->passed && b->passed &&
	       syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, fa, fb) == 0;
}

/* Open one device in @dc: by name, or from the passed descriptor @fd.  Errors are
 * sentences in @err. */
static int open_device(struct dctx *dc, const struct vfmd_devref *ref, int fd,
		       struct ddev **ret, char *err, size_t errsize)
{
	struct ddev *dd;
	char name[VFM_NAME_MAX + 32];
	int r;

	if (fd >= 0) {
		char what[200], why[100];

		r = check_vfio_fd(fd, what, sizeof(what), why, sizeof(why));
		if (r < 0) {
			snprintf(err, errsize,
				 "descriptor %d%s%s is not a VFIO device (it is %s): %s",
				 ref->fd, ref->name[0] ? " for " : "", ref->name, what, why);
			return r;
		}
		if (ref->name[0])
			snprintf(name, sizeof(name), "fd:%d:%s", fd, ref->name);
		else
			snprintf(name, sizeof(name), "fd:%d", fd);
	} else {
		snprintf(name, sizeof(name), "%s", ref->name);
	}
	dd = calloc(1, sizeof(*dd));
	if (!dd)
		return -ENOMEM;
	r = vfm_device_open(dc->ctx, name, &dd->dev);
	if (r < 0) {
		const char *why = vfm_ctx_last_error(dc->ctx);

		if (*why)
			snprintf(err, errsize, "%s", why);
		else
			snprintf(err, errsize, "%s: cannot open: %s", ref->name,
				 strerror(-r));
		free(dd);
		return r;
	}
	snprintf(dd->key, sizeof(dd->key), "%s", vfm_device_name(dd->dev));
	snprintf(dd->given, sizeof(dd->given), "%s", ref->name[0] ? ref->name : dd->key);
	dd->id = *vfm_device_identity(dd->dev);
	dd->passed = fd >= 0;
	if (fd >= 0) {
		fd_ident(fd, dd->ident, sizeof(dd->ident));
		/* the name only says which device it is: it may not say another one */
		if (dd->ident[0] && ref->name[0] && dd->id.sysfs_path[0] &&
		    strncmp(dd->ident, "sysfs:", 6) == 0 &&
		    !streq(dd->ident + 6, dd->id.sysfs_path)) {
			snprintf(err, errsize, "descriptor %d is %s, not %s", ref->fd,
				 dd->ident + 6, ref->name);
			vfm_device_unref(dd->dev);
			free(dd);
			return -EINVAL;
		}
	} else if (dd->id.sysfs_path[0] && dd->id.kind != VFM_DEVICE_SIM) {
		snprintf(dd->ident, sizeof(dd->ident), "sysfs:%s", dd->id.sysfs_path);
	}
	dd->dctx = dc;
	dc->n_devices++;
	*ret = dd;
	return 0;
}

/* @vf_token: a request's checked "vf_token" ("" none), presented by every open. */
static struct dctx *dctx_new(struct daemon *d, const char *vf_token)
{
	struct dctx *dc = calloc(1, sizeof(*dc));

	if (!dc)
		return NULL;
	if (daemon_new_ctx(d, &dc->ctx) < 0) {
		free(dc);
		return NULL;
	}
	if (vf_token[0] && vfm_ctx_set_vf_token(dc->ctx, vf_token) < 0) {
		vfm_ctx_unref(dc->ctx);
		free(dc);
		return NULL;
	}
	/* held while devices are being opened; dropped by the caller */
	dc->n_devices = 1;
	return dc;
}

/* ---- JSON of devices (the keys of `vfiomig -j info`) ---- */

static const char *kind_name(enum vfm_device_kind k)
{
	switch (k) {
	case VFM_DEVICE_PCI: return "pci";
	case VFM_DEVICE_MDEV: return "mdev";
	case VFM_DEVICE_FD: return "fd";
	case VFM_DEVICE_SIM: return "sim";
	}
	return "unknown";
}

static void add_hex(struct json_object *o, const char *key, int32_t v, int width)
{
	char buf[16];

	if (v < 0)
		return;
	snprintf(buf, sizeof(buf), "0x%0*x", width, (unsigned)v);
	json_object_object_add(o, key, json_object_new_string(buf));
}

/* {"KEY": @arr}: results are objects, so that they can grow members */
static struct json_object *wrap(const char *key, struct json_object *arr)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, key, arr);
	return o;
}

/* "stop-copy,p2p" as ["stop-copy", "p2p"] ("none": []) */
static struct json_object *flags_json(const char *list)
{
	struct json_object *arr = json_object_new_array();
	const char *p = list;

	while (*p && !streq(list, "none")) {
		size_t len = strcspn(p, ",");

		json_object_array_add(arr, json_object_new_string_len(p, (int)len));
		p += len;
		if (*p == ',')
			p++;
	}
	return arr;
}

static void identity_json(struct json_object *o, const struct vfm_device_identity *id)
{
	json_object_object_add(o, "kind", json_object_new_string(kind_name(id->kind)));
	json_object_object_add(o, "driver",
			       id->driver[0] ? json_object_new_string(id->driver) : NULL);
	json_object_object_add(o, "iommu_group",
			       id->iommu_group >= 0 ? json_object_new_int(id->iommu_group)
						    : NULL);
	add_hex(o, "vendor_id", id->vendor, 4);
	add_hex(o, "device_id", id->device, 4);
	add_hex(o, "subsystem_vendor_id", id->subsystem_vendor, 4);
	add_hex(o, "subsystem_device_id", id->subsystem_device, 4);
	add_hex(o, "revision", id->revision, 2);
	if (id->mdev_type[0])
		json_object_object_add(o, "mdev_type",
				       json_object_new_string(id->mdev_type));
	if (id->sysfs_path[0])
		json_object_object_add(o, "sysfs_path",
				       json_object_new_string(id->sysfs_path));
}

static void migration_json(struct json_object *o, struct vfm_device *dev)
{
	enum vfm_state st = VFM_STATE_ERROR;
	uint64_t size, initial, dirty;
	uint32_t mig;
	char buf[64];
	int r = vfm_device_get_flags(dev, &mig);

	if (r == -ENOTTY) {
		json_object_object_add(o, "migratable", json_object_new_boolean(false));
		return;
	}
	if (r < 0) {
		json_object_object_add(o, "migratable", NULL);
		json_object_object_add(o, "migration_error",
				       json_object_new_string(strerror(-r)));
		return;
	}
	vfm_flags_format(mig, buf, sizeof(buf));
	json_object_object_add(o, "migratable", json_object_new_boolean(true));
	json_object_object_add(o, "migration_flags", flags_json(buf));
	r = vfm_device_get_state(dev, &st);
	if (r < 0)
		json_object_object_add(o, "state_error",
				       json_object_new_string(strerror(-r)));
	else
		json_object_object_add(o, "state",
				       json_object_new_string(vfm_state_name(st)));
	if (vfm_device_get_data_size(dev, &size) >= 0)
		json_object_object_add(o, "estimate_bytes", json_object_new_uint64(size));
	else
		json_object_object_add(o, "estimate_bytes", NULL);
	if (r >= 0 && (st == VFM_STATE_PRE_COPY || st == VFM_STATE_PRE_COPY_P2P) &&
	    vfm_device_get_precopy_info(dev, &initial, &dirty) >= 0) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "initial_bytes",
				       json_object_new_uint64(initial));
		json_object_object_add(p, "dirty_bytes", json_object_new_uint64(dirty));
		json_object_object_add(o, "precopy", p);
	}
}

static void attached_json(struct json_object *o, const struct ddev *dd)
{
	unsigned job = dd->job ? dd->job : dd->dctx->job;

	json_object_object_add(o, "attached", json_object_new_boolean(true));
	json_object_object_add(o, "passed_fd", json_object_new_boolean(dd->passed));
	json_object_object_add(o, "job", job ? json_object_new_uint64(job) : NULL);
}

/* ---- commands ---- */

struct call {
	struct daemon *d;
	struct client *c;
	struct vfmd_request *req;
	int *fds; /* the request's descriptors; a handler that keeps one sets it to -1 */
};

/*
 * Whether the client may act on what uid @owner owns (a job, an attached device):
 * that uid itself, root, or the daemon's own user.  Otherwise an EPERM response.
 */
static bool may_act(struct call *k, uid_t owner, const char *what, unsigned num,
		    const char *name)
{
	if (k->c->privileged || k->c->uid == owner)
		return true;
	if (name)
		respond_error_dev(k->c, k->req->id, -EPERM, name,
				  "%s belongs to uid %u: only it or root may %s it", name,
				  (unsigned)owner, what);
	else
		respond_error(k->c, k->req->id, -EPERM,
			      "job %u belongs to uid %u: only it or root may %s it", num,
			      (unsigned)owner, what);
	return false;
}

static void cmd_version(struct call *k)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "package_version",
			       json_object_new_string(VFM_PACKAGE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	respond(k->c, k->req->id, o);
}

static void cmd_list(struct call *k)
{
	struct vfm_host_device *list = NULL;
	struct vfm_ctx *ctx = NULL;
	struct json_object *arr;
	int n, r;

	r = daemon_new_ctx(k->d, &ctx);
	n = r < 0 ? r : vfm_host_list(ctx, &list);
	vfm_ctx_unref(ctx);
	if (n < 0) {
		respond_error(k->c, k->req->id, n, "cannot list devices: %s",
			      strerror(-n));
		return;
	}
	arr = json_object_new_array();
	for (int i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		struct ddev *dd = find_attached(k->d, list[i].id.name);

		json_object_object_add(o, "device",
				       json_object_new_string(list[i].id.name));
		identity_json(o, &list[i].id);
		if (dd) {
			attached_json(o, dd);
		} else if (job_of_name(k->d, list[i].id.name)) {
			/* opened by a job of ours: not to be opened again, nor probed */
			json_object_object_add(o, "attached",
					       json_object_new_boolean(false));
			json_object_object_add(o, "job",
					       json_object_new_uint64(job_of_name(
						       k->d, list[i].id.name)));
		} else if (k->req->probe) {
			struct vfm_ctx *pctx = NULL;
			struct vfm_device *dev = NULL;

			json_object_object_add(o, "attached",
					       json_object_new_boolean(false));
			/* a context per device: a busy group must not affect the others
			 */
			r = daemon_new_ctx(k->d, &pctx);
			if (r >= 0)
				r = vfm_device_open(pctx, list[i].id.name, &dev);
			if (r >= 0)
				migration_json(o, dev);
			else
				json_object_object_add(
					o, "probe_error",
					json_object_new_string(
						r == -EBUSY ? "busy: in use by another "
							      "process"
							    : strerror(-r)));
			vfm_device_unref(dev);
			vfm_ctx_unref(pctx);
		} else {
			json_object_object_add(o, "attached",
					       json_object_new_boolean(false));
		}
		json_object_array_add(arr, o);
	}
	free(list);
	respond(k->c, k->req->id, wrap("devices", arr));
}

static void cmd_info(struct call *k)
{
	struct vfmd_request *req = k->req;
	struct json_object *arr = json_object_new_array();
	struct dctx *tmp = NULL;
	struct ddev *opened[VFM_SET_MAX] = {NULL};
	char err[VFMD_ERR_MAX];
	int r = 0;

	for (size_t i = 0; i < req->n_devices && r >= 0; i++) {
		struct json_object *o = json_object_new_object();
		struct ddev *dd = find_attached(k->d, req->devices[i].name);

		json_object_array_add(arr, o);
		if (dd) {
			json_object_object_add(o, "device",
					       json_object_new_string(dd->key));
			identity_json(o, &dd->id);
			attached_json(o, dd);
			/* a device a job has (or whose context it has) is not ours to
			 * touch */
			if (!dd->job && !dd->dctx->job)
				migration_json(o, dd->dev);
			continue;
		}
		if (!tmp && !(tmp = dctx_new(k->d, req->vf_token))) {
			r = -ENOMEM;
			snprintf(err, sizeof(err), "out of memory");
			break;
		}
		r = open_device(tmp, &req->devices[i], -1, &opened[i], err, sizeof(err));
		if (r < 0) {
			respond_error_dev(k->c, req->id, r, req->devices[i].name, "%s",
					  err);
			break;
		}
		json_object_object_add(o, "device", json_object_new_string(opened[i]->key));
		identity_json(o, &opened[i]->id);
		json_object_object_add(o, "attached", json_object_new_boolean(false));
		migration_json(o, opened[i]->dev);
	}
	for (size_t i = 0; i < req->n_devices; i++)
		ddev_free(opened[i]);
	dctx_put(tmp);
	if (r >= 0)
		respond(k->c, req->id, wrap("devices", arr));
	else
		json_object_put(arr);
}

static void cmd_attach(struct call *k)
{
	struct vfmd_request *req = k->req;
	struct ddev *opened[VFM_SET_MAX] = {NULL};
	struct json_object *arr;
	struct dctx *dc;
	char err[VFMD_ERR_MAX];
	int r = 0;

	for (size_t i = 0; i < req->n_devices; i++) {
		struct ddev *dd = find_attached(k->d, req->devices[i].name);

		if (dd) {
			respond_error_dev(k->c, req->id, -EEXIST, req->devices[i].name,
					  "%s is already attached", dd->key);
			return;
		}
		for (size_t m = 0; m < i; m++)
			if (streq(req->devices[m].name, req->devices[i].name)) {
				respond_error(k->c, req->id, -EINVAL, "%s is named twice",
					      req->devices[i].name);
				return;
			}
	}
	dc = dctx_new(k->d, req->vf_token);
	if (!dc) {
		respond_error(k->c, req->id, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < req->n_devices && r >= 0; i++) {
		int fd = req->devices[i].fd >= 0 ? k->fds[req->devices[i].fd] : -1;
		unsigned job;

		r = open_device(dc, &req->devices[i], fd, &opened[i], err, sizeof(err));
		if (r < 0) {
			respond_error_dev(k->c, req->id, r, req->devices[i].name, "%s",
					  err);
			break;
		}
		job = job_of_dev(k->d, opened[i]);
		if (find_attached(k->d, opened[i]->key) || attached_same(k->d, opened[i]) ||
		    job) {
			r = job ? -EBUSY : -EEXIST;
			if (job)
				respond_error_dev(k->c, req->id, r, opened[i]->key,
						  "%s is in job %u", opened[i]->key, job);
			else
				respond_error_dev(k->c, req->id, r, opened[i]->key,
						  "%s is already attached",
						  opened[i]->key);
			break;
		}
		for (size_t m = 0; m < i && r >= 0; m++)
			if (same_device(opened[m], opened[i])) {
				r = -EINVAL;
				respond_error(k->c, req->id, r,
					      streq(opened[m]->key, opened[i]->key)
						      ? "%s is named twice%s"
						      : "%s is the same device as %s",
					      opened[i]->key,
					      streq(opened[m]->key, opened[i]->key)
						      ? ""
						      : opened[m]->key);
			}
	}
	if (r < 0) {
		for (size_t i = 0; i < req->n_devices; i++)
			ddev_free(opened[i]);
		dctx_put(dc);
		return;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < req->n_devices; i++) {
		struct json_object *o = json_object_new_object();

		opened[i]->owner_uid = k->c->uid;
		opened[i]->next = k->d->devices;
		k->d->devices = opened[i];
		json_object_object_add(o, "device", json_object_new_string(opened[i]->key));
		identity_json(o, &opened[i]->id);
		attached_json(o, opened[i]);
		json_object_array_add(arr, o);
		if (log_ok(k->d, k->c->privileged))
			daemon_log(6, "attached %s%s (connection %u, pid %d)", opened[i]->key,
			   opened[i]->passed ? " from a passed descriptor" : "", k->c->id,
			   (int)k->c->pid);
	}
	dctx_put(dc); /* the devices hold it now */
	respond(k->c, req->id, wrap("devices", arr));
}

static void detach_one(struct daemon *d, struct ddev *dd)
{
	for (struct ddev **p = &d->devices; *p; p = &(*p)->next)
		if (*p == dd) {
			*p = dd->next;
			break;
		}
	daemon_log(6, "detached %s", dd->key);
	ddev_free(dd);
}

static void cmd_detach(struct call *k)
{
	struct vfmd_request *req = k->req;
	struct ddev *found[VFM_SET_MAX];
	struct json_object *arr;

	for (size_t i = 0; i < req->n_devices; i++) {
		struct ddev *dd = find_attached(k->d, req->devices[i].name);

		if (!dd) {
			respond_error_dev(k->c, req->id, -ENOENT, req->devices[i].name,
					  "%s is not attached", req->devices[i].name);
			return;
		}
		if (!may_act(k, dd->owner_uid, "detach", 0, dd->key))
			return;
		if (dd->job || dd->dctx->job) {
			respond_error_dev(k->c, req->id, -EBUSY, dd->key,
					  "%s is in job %u", dd->key,
					  dd->job ? dd->job : dd->dctx->job);
			return;
		}
		for (size_t m = 0; m < i; m++)
			if (found[m] == dd) {
				respond_error(k->c, req->id, -EINVAL, "%s is named twice",
					      dd->key);
				return;
			}
		found[i] = dd;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < req->n_devices; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "device", json_object_new_string(found[i]->key));
		json_object_array_add(arr, o);
		detach_one(k->d, found[i]);
	}
	respond(k->c, req->id, wrap("devices", arr));
}

static unsigned running_jobs(struct daemon *d)
{
	unsigned n = 0;

	for (struct djob *j = d->jobs; j; j = j->next)
		n += !j->reaped;
	return n;
}

/* Give a job's devices back: transient ones are closed, attached ones are idle. */
static void release_devices(struct djob *j)
{
	for (size_t i = 0; i < j->n; i++) {
		struct ddev *dd = j->devs[i];

		if (!dd)
			continue;
		if (dd->transient) {
			ddev_free(dd);
		} else {
			dd->job = 0;
			dd->dctx->job = 0;
		}
		j->devs[i] = NULL;
		j->vdevs[i] = NULL;
	}
}

/*
 * Jobs of a uid other than root's: at most half of --max-jobs each (at least one),
 * and one job always left for root.  Responds when it says no.
 */
static bool jobs_quota_ok(struct call *k)
{
	struct daemon *d = k->d;
	unsigned mine = 0, all = 0, per_uid = MAX(d->cfg.max_jobs / 2, 1u);

	for (struct djob *j = d->jobs; j; j = j->next) {
		if (j->reaped)
			continue;
		all++;
		if (j->owner_uid == k->c->uid)
			mine++;
	}
	if (mine >= per_uid) {
		respond_error(k->c, k->req->id, -EAGAIN,
			      "uid %u runs %u job%s: at most %u a uid (half of --max-jobs)",
			      (unsigned)k->c->uid, mine, mine == 1 ? "" : "s", per_uid);
		return false;
	}
	if (d->cfg.max_jobs > 1 && all + 1 >= d->cfg.max_jobs) {
		respond_error(k->c, k->req->id, -EAGAIN,
			      "%u jobs run: the last of --max-jobs is kept for root", all);
		return false;
	}
	return true;
}

/* A tcp:// listen URI whose host is a name, not empty and not an address literal. */
static bool listen_needs_resolving(const char *uri)
{
	_cleanup_free_ struct vfm_uri *u = malloc(sizeof(*u));
	struct in6_addr a6;
	struct in_addr a4;

	if (!u || vfm_uri_parse(uri, true, u, NULL) < 0 || u->kind != VFM_URI_TCP ||
	    !u->host[0])
		return false;
	return inet_pton(AF_INET, u->host, &a4) != 1 && inet_pton(AF_INET6, u->host, &a6) != 1;
}

static bool path_uri(const char *uri)
{
	return strncmp(uri, "file:", 5) == 0 ||
	       (strncmp(uri, "unix:", 5) == 0 && uri[5] != '@');
}

static void cmd_job_start(struct call *k)
{
	struct daemon *d = k->d;
	struct vfmd_request *req = k->req;
	bool save = req->cmd == VFMD_CMD_SAVE;
	struct dctx *tctx = NULL;
	struct djob *j = NULL;
	struct json_object *res;
	char err[VFMD_ERR_MAX];
	int r;

	if (d->shutting_down) {
		respond_error(k->c, req->id, -ESHUTDOWN, "vfiomigd is shutting down");
		return;
	}
	if (running_jobs(d) >= d->cfg.max_jobs) {
		respond_error(k->c, req->id, -EAGAIN,
			      "at most %u job%s at once (--max-jobs)", d->cfg.max_jobs,
			      d->cfg.max_jobs == 1 ? "" : "s");
		return;
	}
	if (!k->c->privileged && !jobs_quota_ok(k))
		return;
	if (req->stream_fd < 0 && path_uri(req->uri) && !k->c->privileged) {
		respond_error(
			k->c, req->id, -EACCES,
			"%s: only root may name a path for the daemon to open; pass a "
			"descriptor instead (\"stream_fd\")",
			req->uri);
		return;
	}
	j = djob_new(d, d->next_job_id, req->cmd);
	if (!j) {
		respond_error(k->c, req->id, -ENOMEM, "out of memory");
		return;
	}
	j->n = req->n_devices;

	/* The devices: attached ones by name, the others opened for this job only, in
	 * one context of the job's own. */
	for (size_t i = 0; i < req->n_devices; i++) {
		const struct vfmd_devref *ref = &req->devices[i];
		struct ddev *dd = ref->fd < 0 ? find_attached(d, ref->name) : NULL;
		unsigned job;

		if (dd && !may_act(k, dd->owner_uid, "use", 0, dd->key))
			goto fail;
		if (dd) {
			if (dd->job || dd->dctx->job) {
				r = -EBUSY;
				if (dd->job)
					respond_error_dev(k->c, req->id, r, dd->key,
							  "%s is in job %u", dd->key,
							  dd->job);
				else
					respond_error_dev(
						k->c, req->id, r, dd->key,
						"%s shares a VFIO context with a device "
						"in job %u (attach them separately)",
						dd->key, dd->dctx->job);
				goto fail;
			}
		} else {
			int fd = ref->fd >= 0 ? k->fds[ref->fd] : -1;

			if (!tctx && !(tctx = dctx_new(d, req->vf_token))) {
				r = -ENOMEM;
				respond_error(k->c, req->id, r, "out of memory");
				goto fail;
			}
			r = open_device(tctx, ref, fd, &dd, err, sizeof(err));
			if (r < 0) {
				job = r == -EBUSY ? job_of_name(d, ref->name) : 0;
				if (job)
					respond_error_dev(k->c, req->id, r, ref->name,
							  "%s is in job %u", ref->name,
							  job);
				else
					respond_error_dev(k->c, req->id, r,
							  ref->name[0] ? ref->name : "fd",
							  "%s", err);
				goto fail;
			}
			dd->transient = true;
			job = job_of_dev(d, dd);
			if (job || find_attached(d, dd->key) || attached_same(d, dd)) {
				r = -EBUSY;
				j->devs[i] = dd; /* freed below */
				if (job)
					respond_error_dev(k->c, req->id, r, dd->key,
							  "%s is in job %u", dd->key,
							  job);
				else
					respond_error_dev(
						k->c, req->id, r, dd->key,
						"%s is attached under another name",
						dd->key);
				goto fail;
			}
		}
		for (size_t m = 0; m < i; m++)
			if (same_device(j->devs[m], dd)) {
				r = -EINVAL;
				if (dd->transient)
					j->devs[i] = dd;
				respond_error(k->c, req->id, r,
					      streq(j->devs[m]->key, dd->key)
						      ? "%s is named twice%s"
						      : "%s is the same device as %s",
					      dd->key,
					      streq(j->devs[m]->key, dd->key) ? ""
									      : j->devs[m]->key);
				goto fail;
			}
		j->devs[i] = dd;
		j->vdevs[i] = dd->dev;
		snprintf(j->names[i], sizeof(j->names[i]), "%s", dd->key);
	}

	/* The stream. */
	if (req->stream_fd >= 0) {
		j->stream_fd = k->fds[req->stream_fd];
		k->fds[req->stream_fd] = -1;
		snprintf(j->stream_name, sizeof(j->stream_name), "%s", req->stream_name);
	} else {
		snprintf(j->uri, sizeof(j->uri), "%s", req->uri);
		if (req->listen && listen_needs_resolving(req->uri)) {
			/* getaddrinfo() may take as long as the resolver likes: not in
			 * the main thread, which serves every client and the watchdog */
			j->listen_later = true;
		} else if (req->listen) {
			struct vfm_transport_err terr = {""};

			r = vfm_listener_new(req->uri, &j->listener, &terr);
			if (r < 0) {
				respond_error(k->c, req->id, r, "%s",
					      terr.msg[0] ? terr.msg : strerror(-r));
				goto fail;
			}
			snprintf(j->listening, sizeof(j->listening), "%s",
				 vfm_listener_uri(j->listener));
		}
	}

	/* TLS: the credentials are loaded by the job's thread. */
	r = 0;
	if (req->tls_creds[0] && !(j->tls_creds = strdup(req->tls_creds)))
		r = -ENOMEM;
	if (req->tls_psk[0] && !(j->tls_psk = strdup(req->tls_psk)))
		r = -ENOMEM;
	if (req->tls_hostname[0] && !(j->tls_hostname = strdup(req->tls_hostname)))
		r = -ENOMEM;
	for (size_t i = 0; i < req->n_tls_authz; i++, j->n_tls_authz++)
		if (!(j->tls_authz[i] = strdup(req->tls_authz[i])))
			r = -ENOMEM;
	if (r == -ENOMEM) {
		respond_error(k->c, req->id, r, "out of memory");
		goto fail;
	}

	/* The options, as the CLI's. */
	j->so.precopy = req->precopy;
	j->so.precopy_max_rounds = req->precopy_rounds;
	j->so.precopy_max_usec = req->precopy_usec;
	j->so.dirty_threshold = req->dirty_threshold;
	j->so.force = req->force;
	j->so.chunk_size = req->chunk;
	if (req->streams > 1) {
		j->so.streams = req->streams;
		j->so.open_stream = djob_open_stream;
		j->so.stream_userdata = j;
	}
	j->so.timeout_ms = req->timeout_ms;
	j->ro.timeout_ms = req->timeout_ms;
	if (req->stream_fd < 0 && vfmd_uri_is_socket(req->uri)) { /* a source with streams */
		j->ro.open_stream = djob_open_stream;
		j->ro.stream_userdata = j;
	}
	j->ro.skip_compat_ids = req->any_id;
	j->so.no_vf_config = !req->vf_config;
	j->ro.no_vf_config = !req->vf_config;
	if (req->has_map) {
		memcpy(j->map, req->map, sizeof(j->map));
		j->ro.map = j->map;
	}
	j->quiesce_ack = save && req->quiesce_ack;
	j->ack_timeout_ms = req->ack_timeout_ms;
	j->cancel_on_disconnect = req->cancel_on_disconnect;
	j->owner = k->c->id;
	j->owner_pid = k->c->pid;
	j->owner_uid = k->c->uid;
	j->owner_privileged = k->c->privileged;
	if (req->watch)
		j->watchers[j->n_watchers++] = k->c->id;

	/* From here the devices are the job's. */
	for (size_t i = 0; i < j->n; i++) {
		j->devs[i]->job = j->id;
		j->devs[i]->dctx->job = j->id;
	}
	r = djob_start(j);
	if (r < 0) {
		for (size_t i = 0; i < j->n; i++) {
			j->devs[i]->job = 0;
			j->devs[i]->dctx->job = 0;
		}
		respond_error(k->c, req->id, r, "cannot start a thread: %s",
			      strerror(-r));
		goto fail;
	}
	d->next_job_id++;
	j->next = d->jobs;
	d->jobs = j;
	dctx_put(tctx); /* the transient devices hold it */
	if (log_ok(d, k->c->privileged))
		daemon_log(6, "job %u: %s of %zu device%s %s %s (connection %u, pid %d)", j->id,
		   save ? "save" : "restore", j->n, j->n == 1 ? "" : "s",
		   save ? "to" : "from",
		   j->listening[0]     ? j->listening
		   : j->uri[0]	       ? j->uri
		   : j->stream_name[0] ? j->stream_name
				       : "a passed descriptor",
		   k->c->id, (int)k->c->pid);
	res = json_object_new_object();
	json_object_object_add(res, "job", json_object_new_uint64(j->id));
	if (j->listening[0])
		json_object_object_add(res, "listening",
				       json_object_new_string(j->listening));
	respond(k->c, req->id, res);
	return;

fail:
	for (size_t i = 0; i < req->n_devices; i++)
		if (j->devs[i] && j->devs[i]->transient)
			ddev_free(j->devs[i]);
	memset(j->devs, 0, sizeof(j->devs));
	dctx_put(tctx);
	djob_free(j);
}

static void cmd_job(struct call *k)
{
	struct djob *j = find_job(k->d, k->req->job);

	if (!j) {
		respond_error(k->c, k->req->id, -ENOENT, "no job %u", k->req->job);
		return;
	}
	respond(k->c, k->req->id, djob_to_json(j, true, NULL));
}

static struct json_object *jobs_json(struct daemon *d)
{
	struct json_object *arr = json_object_new_array();
	struct djob *order[VFMD_JOBS_KEPT + VFMD_JOBS_MAX];
	size_t n = 0;

	/* the list is newest first: print oldest first */
	for (struct djob *j = d->jobs; j && n < ELEMENTSOF(order); j = j->next)
		order[n++] = j;
	while (n > 0)
		json_object_array_add(arr, djob_to_json(order[--n], false, NULL));
	return wrap("jobs", arr);
}

static void cmd_jobs(struct call *k)
{
	respond(k->c, k->req->id, jobs_json(k->d));
}

static void cmd_watch(struct call *k)
{
	struct djob *j;
	bool watch = k->req->cmd == VFMD_CMD_WATCH;

	if (k->req->all) {
		k->c->watch_all = watch;
		respond(k->c, k->req->id, watch ? jobs_json(k->d) : NULL);
		return;
	}
	j = find_job(k->d, k->req->job);
	if (!j) {
		respond_error(k->c, k->req->id, -ENOENT, "no job %u", k->req->job);
		return;
	}
	for (size_t i = 0; i < j->n_watchers; i++)
		if (j->watchers[i] == k->c->id) {
			if (!watch)
				j->watchers[i] = j->watchers[--j->n_watchers];
			watch = false;
			break;
		}
	if (watch) {
		if (j->n_watchers == ELEMENTSOF(j->watchers)) {
			/* ids of gone clients linger: drop them */
			size_t m = 0;

			for (size_t i = 0; i < j->n_watchers; i++)
				if (client_by_id(k->d, j->watchers[i]))
					j->watchers[m++] = j->watchers[i];
			j->n_watchers = m;
		}
		if (j->n_watchers < ELEMENTSOF(j->watchers))
			j->watchers[j->n_watchers++] = k->c->id;
	}
	/* The state as of now: a finished job's watcher gets no more events. */
	respond(k->c, k->req->id,
		k->req->cmd == VFMD_CMD_WATCH ? djob_to_json(j, true, NULL) : NULL);
}

static void cmd_cancel(struct call *k)
{
	struct djob *j = find_job(k->d, k->req->job);
	char why[128];
	int r;

	if (!j) {
		respond_error(k->c, k->req->id, -ENOENT, "no job %u", k->req->job);
		return;
	}
	if (!may_act(k, j->owner_uid, "cancel", j->id, NULL))
		return;
	snprintf(why, sizeof(why), "by pid %d", (int)k->c->pid);
	r = djob_cancel(j, why);
	if (r == -EALREADY)
		respond_error(k->c, k->req->id, r, "job %u has finished", j->id);
	else if (r == -EBUSY)
		respond_error(
			k->c, k->req->id, r,
			"job %u has sent COMMIT: the destination may already run the "
			"devices, so it cannot be cancelled now",
			j->id);
	else if (r < 0)
		respond_error(k->c, k->req->id, r, "cannot cancel job %u: %s", j->id,
			      strerror(-r));
	else
		respond(k->c, k->req->id, NULL);
}

static void cmd_continue(struct call *k)
{
	struct djob *j = find_job(k->d, k->req->job);
	int r;

	if (!j) {
		respond_error(k->c, k->req->id, -ENOENT, "no job %u", k->req->job);
		return;
	}
	if (!may_act(k, j->owner_uid, "acknowledge", j->id, NULL))
		return;
	r = djob_ack(j, k->req->abort_reason);
	if (r == -EALREADY)
		respond_error(k->c, k->req->id, r,
			      "job %u has finished or was acknowledged already", j->id);
	else if (r == -EAGAIN)
		respond_error(k->c, k->req->id, r,
			      "job %u is not waiting for an acknowledgement", j->id);
	else if (r < 0)
		respond_error(k->c, k->req->id, r, "%s", strerror(-r));
	else
		respond(k->c, k->req->id, NULL);
}

static void begin_shutdown(struct daemon *d, const char *why);

/* resume and release: only for a save in doubt that holds its devices. */
static struct djob *held_job(struct call *k)
{
	struct djob *j = find_job(k->d, k->req->job);

	if (!j) {
		respond_error(k->c, k->req->id, -ENOENT, "no job %u", k->req->job);
		return NULL;
	}
	if (!may_act(k, j->owner_uid,
		     k->req->cmd == VFMD_CMD_RESUME ? "resume" : "release", j->id, NULL))
		return NULL;
	if (!j->reaped || !j->holding) {
		respond_error(k->c, k->req->id, j->resolution[0] ? -EALREADY : -EINVAL,
			      "job %u is not a save in doubt that holds its devices%s%s", j->id,
			      j->resolution[0] ? ": they were " : "", j->resolution);
		return NULL;
	}
	return j;
}

static void devices_state_json(struct djob *j, struct json_object *o)
{
	struct json_object *devs = json_object_new_array();

	for (size_t i = 0; i < j->n; i++) {
		struct json_object *dj = json_object_new_object();

		json_object_object_add(dj, "device", json_object_new_string(j->names[i]));
		json_object_object_add(dj, "state",
				       j->final_state_known[i]
					       ? json_object_new_string(
							 vfm_state_name(j->final_state[i]))
					       : NULL);
		json_object_array_add(devs, dj);
	}
	json_object_object_add(o, "devices", devs);
}

/* End the hold: say how (@how: "resumed", "released"), answer with each device's
 * state, give the devices back. */
static void give_up_held(struct call *k, struct djob *j, const char *how)
{
	struct json_object *o = json_object_new_object();

	j->holding = false;
	snprintf(j->resolution, sizeof(j->resolution), "%s", how);
	daemon_log(5, "job %u: its devices were %s by pid %d", j->id, how, (int)k->c->pid);
	json_object_object_add(o, "job", json_object_new_uint64(j->id));
	devices_state_json(j, o);
	release_devices(j);
	respond(k->c, k->req->id, o);
}

/*
 * The operator knows the destination does not run the state: the devices go back
 * to RUNNING through the P2P barrier (as a rollback), then are given back.
 */
static void cmd_resume(struct call *k)
{
	struct djob *j = held_job(k);
	struct vfm_set set = { 0 };
	size_t failed = 0;
	int r;

	if (!j)
		return;
	r = vfm_set_init(&set, j->vdevs, j->n, &failed);
	if (r >= 0)
		r = vfm_set_rollback(&set);
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->n; i++)
		j->final_state_known[i] =
			vfm_device_get_state(j->vdevs[i], &j->final_state[i]) >= 0;
	pthread_mutex_unlock(&j->lock);
	if (r < 0) {
		respond_error(k->c, k->req->id, r,
			      "job %u: resuming its devices failed: %s (they are still held: "
			      "'vfiomig jobs' says where each is)",
			      j->id, strerror(-r));
		return;
	}
	give_up_held(k, j, "resumed");
}

/* The operator knows the destination runs the state: give the devices up stopped. */
static void cmd_release(struct call *k)
{
	struct djob *j = held_job(k);

	if (j)
		give_up_held(k, j, "released");
}

static void cmd_shutdown(struct call *k)
{
	char why[64];

	if (!k->c->privileged) {
		respond_error(k->c, k->req->id, -EPERM,
			      "only root (or vfiomigd's own user) may shut vfiomigd down");
		return;
	}
	respond(k->c, k->req->id, NULL);
	snprintf(why, sizeof(why), "shutdown requested by pid %d", (int)k->c->pid);
	begin_shutdown(k->d, why);
}

/* ---- DMA dirty logging of attached devices ---- */

/*
 * The attached device a dirty_* request names, if the client may use it (its
 * owner, root, the daemon's user).  Logging goes on while a job has the device: the
 * library's dirty calls touch only the device fd and the logging state, which no
 * job uses, and only this thread makes them.
 */
static struct ddev *dirty_device(struct call *k)
{
	const char *name = k->req->devices[0].name;
	struct ddev *dd = find_attached(k->d, name);

	if (!dd) {
		respond_error_dev(
			k->c, k->req->id, -ENOENT, name,
			"%s is not attached: DMA dirty logging needs a device "
			"vfiomigd holds (attach it, or pass its descriptor with "
			"attach)",
			name);
		return NULL;
	}
	if (!may_act(k, dd->owner_uid, "use", 0, dd->key))
		return NULL;
	return dd;
}

static void cmd_dirty_start(struct call *k)
{
	struct vfmd_request *req = k->req;
	struct vfm_dirty_err err = {""};
	struct json_object *o;
	struct ddev *dd = dirty_device(k);
	uint64_t used = 0;
	int r;

	if (!dd)
		return;
	r = vfm_device_dirty_start(dd->dev, req->ranges, req->n_ranges, req->page_size,
				   &used, &err);
	if (r < 0) {
		respond_error_dev(k->c, req->id, r, dd->key, "%s", err.msg);
		return;
	}
	if (log_ok(k->d, k->c->privileged))
		daemon_log(6,
			   "%s: DMA dirty logging started, %zu range%s, page size %llu "
			   "(connection %u, pid %d)",
			   dd->key, req->n_ranges, req->n_ranges == 1 ? "" : "s",
			   (unsigned long long)used, k->c->id, (int)k->c->pid);
	o = json_object_new_object();
	json_object_object_add(o, "device", json_object_new_string(dd->key));
	json_object_object_add(o, "page_size_bytes", json_object_new_uint64(used));
	json_object_object_add(o, "requested_page_size_bytes",
			       json_object_new_uint64(req->page_size));
	json_object_object_add(o, "range_count", json_object_new_uint64(req->n_ranges));
	respond(k->c, req->id, o);
}

static void cmd_dirty_stop(struct call *k)
{
	struct vfm_dirty_err err = {""};
	struct json_object *o;
	struct ddev *dd = dirty_device(k);
	int r;

	if (!dd)
		return;
	r = vfm_device_dirty_stop(dd->dev, &err);
	if (r < 0) {
		respond_error_dev(k->c, k->req->id, r, dd->key, "%s", err.msg);
		return;
	}
	if (log_ok(k->d, k->c->privileged))
		daemon_log(6, "%s: DMA dirty logging stopped", dd->key);
	o = json_object_new_object();
	json_object_object_add(o, "device", json_object_new_string(dd->key));
	json_object_object_add(o, "stopped", json_object_new_boolean(true));
	respond(k->c, k->req->id, o);
}

/*
 * Map @need bytes at @offset of the client's bitmap descriptor for writing.  It must
 * be a memfd (any shmem file): a file whose page faults wait on someone (FUSE, NFS, a
 * disk) could stall this loop, and hugetlbfs can run out of pages under a mapping.  It
 * must be sealed with F_SEAL_SHRINK, or the client could cut it short while we write
 * and the daemon would die of SIGBUS.  Its real size, not the request, bounds what we
 * touch.  Returns 0 with the mapping and where the bitmaps start in it, or -errno with
 * @why.
 */
static int map_bitmap(int fd, uint64_t offset, uint64_t size, uint64_t need,
		      uint8_t **ret_map, size_t *ret_len, size_t *ret_skip, char *why,
		      size_t whysize)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), base, skip, end;
	struct statfs sfs;
	struct stat st;
	void *m;
	int seals, fl;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sfs) < 0 ||
	    sfs.f_type != TMPFS_MAGIC) {
		snprintf(why, whysize, "the bitmap descriptor is not a memfd");
		return -EBADF;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		snprintf(why, whysize,
			 "the bitmap memfd must be sealed with F_SEAL_SHRINK "
			 "(memfd_create "
			 "with MFD_ALLOW_SEALING, then F_ADD_SEALS): a memfd that can "
			 "shrink "
			 "under the daemon's mapping would crash it");
		return -EPERM;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR || (seals & F_SEAL_WRITE)
#ifdef F_SEAL_FUTURE_WRITE
	    || (seals & F_SEAL_FUTURE_WRITE)
#endif
	) {
		snprintf(why, whysize,
			 "the bitmap memfd is not writable (open it O_RDWR, "
			 "without write seals)");
		return -EBADF;
	}
	if (offset % 8) {
		snprintf(why, whysize, "bitmap_offset %llu is not a multiple of 8",
			 (unsigned long long)offset);
		return -EINVAL;
	}
	if (offset > (uint64_t)st.st_size ||
	    (size && (__builtin_add_overflow(offset, size, &end) ||
		      end > (uint64_t)st.st_size))) {
		snprintf(
			why, whysize,
			"bitmap_offset %llu%s%llu is past the end of the %llu-byte memfd",
			(unsigned long long)offset, size ? " + bitmap_size_bytes " : "",
			(unsigned long long)(size ? size : 0),
			(unsigned long long)st.st_size);
		return -ERANGE;
	}
	if (!size)
		size = (uint64_t)st.st_size - offset;
	if (need > size) {
		snprintf(why, whysize,
			 "the bitmaps need %llu bytes, the memfd has %llu from "
			 "bitmap_offset "
			 "%llu",
			 (unsigned long long)need, (unsigned long long)size,
			 (unsigned long long)offset);
		return -ENOBUFS;
	}
	base = offset / page * page;
	skip = offset - base;
	m = mmap(NULL, (size_t)(skip + need), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)base);
	if (m == MAP_FAILED) {
		int r = -errno;

		snprintf(why, whysize, "cannot map the bitmap memfd: %s", strerror(-r));
		return r;
	}
	*ret_map = m;
	*ret_len = (size_t)(skip + need);
	*ret_skip = (size_t)skip;
	return 0;
}

static void cmd_dirty_report(struct call *k)
{
	struct vfmd_request *req = k->req;
	struct vfm_dirty_err err = {""};
	uint64_t sizes[VFM_DIRTY_RANGES_MAX], need = 0, page = req->page_size, total = 0;
	struct json_object *o, *arr;
	struct ddev *dd = dirty_device(k);
	char why[VFMD_ERR_MAX];
	uint8_t *map = NULL;
	size_t len = 0, skip = 0, at = 0;
	int r;

	if (!dd)
		return;
	if (!vfm_device_dirty_active(dd->dev, page ? NULL : &page)) {
		respond_error_dev(k->c, req->id, -EINVAL, dd->key,
				  "%s: DMA dirty logging is not started", dd->key);
		return;
	}
	for (size_t i = 0; i < req->n_ranges; i++) {
		r = vfm_dirty_bitmap_size(req->ranges[i].length, page, &sizes[i]);
		if (r < 0) {
			respond_error_dev(
				k->c, req->id, r, dd->key,
				"%s: ranges[%zu]: 0x%llx bytes in %llu-byte pages: %s",
				dd->key, i, (unsigned long long)req->ranges[i].length,
				(unsigned long long)page,
				r == -E2BIG ? "the bitmap is too large"
					    : "not a whole number of pages (a page "
					      "size is a power of two, 4K-1G)");
			return;
		}
		need += sizes[i]; /* <= 256 * 1 GiB: no overflow */
	}
	if (need > VFMD_BITMAP_MAX) {
		respond_error_dev(
			k->c, req->id, -E2BIG, dd->key,
			"%s: the bitmaps of this report take %llu bytes: at most %llu "
			"in one request",
			dd->key, (unsigned long long)need,
			(unsigned long long)VFMD_BITMAP_MAX);
		return;
	}
	r = map_bitmap(k->fds[req->bitmap_fd], req->bitmap_offset, req->bitmap_size, need,
		       &map, &len, &skip, why, sizeof(why));
	if (r < 0) {
		respond_error_dev(k->c, req->id, r, dd->key, "%s: %s", dd->key, why);
		return;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < req->n_ranges; i++) {
		const struct vfm_dirty_range *rg = &req->ranges[i];
		int64_t n = vfm_device_dirty_report(dd->dev, rg->iova, rg->length, page,
						    (uint64_t *)(void *)(map + skip + at),
						    (size_t)sizes[i], &err);
		struct json_object *e;

		if (n < 0) {
			json_object_put(arr);
			munmap(map, len);
			respond_error_dev(k->c, req->id, (int)n, dd->key,
					  "ranges[%zu]: %s", i, err.msg);
			return;
		}
		e = json_object_new_object();
		json_object_object_add(e, "iova", json_object_new_uint64(rg->iova));
		json_object_object_add(e, "length_bytes",
				       json_object_new_uint64(rg->length));
		json_object_object_add(e, "page_count",
				       json_object_new_uint64(rg->length / page));
		json_object_object_add(e, "bitmap_offset",
				       json_object_new_uint64(req->bitmap_offset + at));
		json_object_object_add(e, "bitmap_bytes",
				       json_object_new_uint64(sizes[i]));
		json_object_object_add(e, "dirty_page_count",
				       json_object_new_uint64((uint64_t)n));
		json_object_array_add(arr, e);
		at += (size_t)sizes[i];
		total += (uint64_t)n;
	}
	munmap(map, len);
	o = json_object_new_object();
	json_object_object_add(o, "device", json_object_new_string(dd->key));
	json_object_object_add(o, "page_size_bytes", json_object_new_uint64(page));
	json_object_object_add(o, "bitmap_bytes", json_object_new_uint64(need));
	json_object_object_add(o, "dirty_page_count", json_object_new_uint64(total));
	json_object_object_add(o, "ranges", arr);
	respond(k->c, req->id, o);
}

typedef void (*handler_fn)(struct call *k);
static const handler_fn handlers[VFMD_CMD_MAX] = {
	[VFMD_CMD_VERSION] = cmd_version,
	[VFMD_CMD_LIST] = cmd_list,
	[VFMD_CMD_INFO] = cmd_info,
	[VFMD_CMD_ATTACH] = cmd_attach,
	[VFMD_CMD_DETACH] = cmd_detach,
	[VFMD_CMD_SAVE] = cmd_job_start,
	[VFMD_CMD_RESTORE] = cmd_job_start,
	[VFMD_CMD_JOB] = cmd_job,
	[VFMD_CMD_JOBS] = cmd_jobs,
	[VFMD_CMD_WATCH] = cmd_watch,
	[VFMD_CMD_UNWATCH] = cmd_watch,
	[VFMD_CMD_CANCEL] = cmd_cancel,
	[VFMD_CMD_CONTINUE] = cmd_continue,
	[VFMD_CMD_SHUTDOWN] = cmd_shutdown,
	[VFMD_CMD_RESUME] = cmd_resume,
	[VFMD_CMD_RELEASE] = cmd_release,
	[VFMD_CMD_DIRTY_START] = cmd_dirty_start,
	[VFMD_CMD_DIRTY_REPORT] = cmd_dirty_report,
	[VFMD_CMD_DIRTY_STOP] = cmd_dirty_stop,
};

/* ---- reading requests ---- */

static bool rate_ok(struct daemon *d, struct client *c)
{
	uint64_t now = now_usec();
	double burst = 2.0 * d->cfg.rate;

	c->tokens += (double)(now - c->tokens_usec) * d->cfg.rate / 1e6;
	if (c->tokens > burst)
		c->tokens = burst;
	c->tokens_usec = now;
	if (c->tokens < 1.0)
		return false;
	c->tokens -= 1.0;
	return true;
}

/*
 * A line over the rate.  Answering it costs a parse and a reply, as much as the
 * sender spends many times over: at most twice --rate of them a second are
 * answered (EAGAIN with their id); beyond that a line is dropped unread and
 * counted, one line a second says how many, and the connection is not read again
 * until it has a token (backpressure instead of work).  Returns whether to answer.
 */
static bool over_rate_answered(struct daemon *d, struct client *c)
{
	uint64_t now = c->tokens_usec; /* rate_ok()'s clock, read just now */

	c->read_after_usec = now + (uint64_t)((1.0 - c->tokens) * 1e6 / d->cfg.rate) + 1;
	if (now - c->refused_usec >= 1000000) {
		c->refused_usec = now;
		c->refused = 0;
		c->noticed = false;
	}
	if (c->refused < 2 * d->cfg.rate) {
		c->refused++;
		c->refused_now = true; /* answered, with the line's id */
		return true;
	}
	c->dropping = true; /* the rest of this read too */
	if (!c->noticed) {
		respond_error(c, NULL, -EAGAIN,
			      "too many requests: at most %u a second; more lines this "
			      "second are dropped unanswered",
			      d->cfg.rate);
		c->noticed = true;
	}
	return false;
}

/* Close what a connection holds for its line in progress. */
static void drop_line_fds(struct daemon *d, struct client *c)
{
	for (size_t i = 0; i < c->n_fds; i++)
		safe_close(c->fds[i]);
	d->fds_in_flight -= (unsigned)c->n_fds;
	c->n_fds = 0;
	c->fds_dropped = false;
}

static void handle_line(struct daemon *d, struct client *c, const char *line, size_t len)
{
	struct vfmd_request *req = NULL; /* 41 KiB: only for a line that is parsed */
	struct json_object *id = NULL;
	struct vfmd_error e = {0};
	int fds[VFMD_FDS_MAX];
	size_t n_fds = c->n_fds;
	bool dropped = c->fds_dropped;
	struct call k = {.d = d, .c = c, .req = req, .fds = fds};
	int r;

	/* The line's descriptors are its own from here: whatever happens to it (an
	 * error, the rate limit, a handler that keeps none), the ones it does not keep
	 * are closed below, never left for the next line. */
	memcpy(fds, c->fds, n_fds * sizeof(int));
	d->fds_in_flight -= (unsigned)n_fds;
	c->n_fds = 0;
	c->fds_dropped = false;
	/* Every line counts, malformed ones too. */
	if (!rate_ok(d, c) && !over_rate_answered(d, c))
		goto out; /* dropped unread, its descriptors closed below */
	c->last_request_usec = c->tokens_usec; /* rate_ok()'s clock */
	k.req = req = malloc(sizeof(*req)); /* the parser zeroes it */
	if (!req) {
		respond_error(c, NULL, -ENOMEM, "out of memory");
		goto out;
	}
	if (c->refused_now) {
		c->refused_now = false;
		r = vfmd_request_parse(line, len, req, &id, &e);
		respond_error(c, r < 0 ? id : req->id, -EAGAIN,
			      "too many requests: at most %u a second", d->cfg.rate);
		goto out;
	}
	r = vfmd_request_parse(line, len, req, &id, &e);
	if (r < 0) {
		respond_error(c, id, e.err, "%s", e.msg);
		goto out;
	}
	if (dropped) {
		respond_error(c, req->id, -EMFILE,
			      "too many descriptors: at most %d with one request, and "
			      "vfiomigd holds at most %u received at once; they were "
			      "closed",
			      VFMD_FDS_MAX, d->fds_budget);
		goto out;
	}
	if (req->n_fds > n_fds) {
		respond_error(
			c, req->id, -EBADF,
			"the request uses %zu descriptor%s, %zu %s received with it",
			req->n_fds, req->n_fds == 1 ? "" : "s", n_fds,
			n_fds == 1 ? "was" : "were");
		goto out;
	}
	handlers[req->cmd](&k);
out:
	for (size_t i = 0; i < n_fds; i++)
		safe_close(fds[i]);
	json_object_put(id);
	if (req)
		vfmd_request_done(req);
	free(req);
}

/*
 * Descriptors that arrived with a read, for the line in progress.  At most
 * VFMD_FDS_MAX for one line; all connections together at most fds_budget, of which
 * unprivileged peers may fill half, so that root can still pass descriptors and the
 * jobs keep room under RLIMIT_NOFILE.  Others are closed at once and the line is
 * refused (EMFILE) when it is complete.
 */
static void take_fds(struct daemon *d, struct client *c, struct msghdr *mh)
{
	unsigned budget = c->privileged ? d->fds_budget : d->fds_budget / 2;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;
		int *p;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(cm);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (c->n_fds < VFMD_FDS_MAX && d->fds_in_flight < budget &&
			    !c->discarding) {
				c->fds[c->n_fds++] = fd;
				d->fds_in_flight++;
			} else {
				safe_close(fd);
				c->fds_dropped = true;
			}
		}
	}
	/* the kernel could not install them all (our RLIMIT_NOFILE) */
	if (mh->msg_flags & MSG_CTRUNC)
		c->fds_dropped = true;
}

static void client_read(struct daemon *d, struct client *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VFMD_FDS_MAX)];
	} control;
	struct iovec iov = {.iov_base = c->in + c->in_len,
			    .iov_len = VFMD_LINE_MAX + 1 - c->in_len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf};
	unsigned budget = c->privileged ? d->fds_budget : d->fds_budget / 2;
	size_t start = 0, room = 0;
	bool taken = false;
	ssize_t n;
	char *nl;

	/*
	 * Room for as many descriptors as could be kept (take_fds()): the kernel closes
	 * the rest itself (MSG_CTRUNC) without installing them in our table, so a peer
	 * that floods descriptors costs us little more than its bytes.  A request sends
	 * its descriptors with its bytes, so the line in progress is the one they join.
	 */
	if (!c->discarding && d->fds_in_flight < budget)
		room = MIN((size_t)(budget - d->fds_in_flight), VFMD_FDS_MAX - c->n_fds);
	mh.msg_controllen = room ? CMSG_SPACE(sizeof(int) * room) : 0;
	if (!room)
		mh.msg_control = NULL;
	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			c->closing = true;
			c->out_len = 0;
		}
		return;
	}
	if (n == 0) {
		/* The peer is gone (or half-closed: it gets its answers, then goes). */
		c->closing = true;
		if (c->in_len)
			respond_error(c, NULL, -EPROTO,
				      "malformed JSON: the last request has no newline");
		c->in_len = 0;
		take_fds(d, c, &mh);
		drop_line_fds(d, c);
		return;
	}
	/*
	 * Which line the descriptors of this read belong to.  A Unix stream socket
	 * never returns bytes that follow a message carrying descriptors in the same
	 * read, so this read ends inside the client's sendmsg() that carried them: they
	 * go with the line that the last byte read belongs to (the client sends a
	 * request's descriptors with its bytes, one request per such sendmsg()).  Lines
	 * completed before that byte take only what they had.
	 */
	c->in_len += (size_t)n;
	c->dropping = false; /* decided again by the first line over the rate */
	while ((nl = memchr(c->in + start, '\n', c->in_len - start))) {
		size_t len = (size_t)(nl - (c->in + start));

		if ((size_t)(nl - c->in) == c->in_len - 1) {
			take_fds(d, c, &mh);
			taken = true;
		}
		if (c->discarding) {
			c->discarding = false;
			drop_line_fds(d, c);
		} else if (c->dropping) {
			/* over the rate, beyond what is answered: the rest of this read
			 * goes as cheaply as it came */
			drop_line_fds(d, c);
		} else if (len > 0 && !(len == 1 && c->in[start] == '\r')) {
			handle_line(d, c, c->in + start, len);
		} else {
			drop_line_fds(d, c); /* an empty line takes none */
		}
		start += len + 1;
		if (c->closing)
			break;
	}
	if (!taken)
		take_fds(d, c, &mh); /* the line in progress */
	if (c->closing)
		drop_line_fds(d, c);
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len == VFMD_LINE_MAX + 1) {
		/* no newline in sight: answer once, then skip to the next newline */
		if (!c->discarding)
			respond_error(c, NULL, -EMSGSIZE,
				      "request longer than %d bytes: skipped to the next "
				      "newline",
				      VFMD_LINE_MAX);
		c->discarding = true;
		c->in_len = 0;
		drop_line_fds(d, c);
	}
}

/* ---- connections ---- */

/* Whether the peer has @gid among its supplementary groups (SO_PEERGROUPS). */
static bool in_group(int fd, gid_t gid)
{
	_cleanup_free_ gid_t *groups = NULL;
	socklen_t len = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 && errno != ERANGE)
		return false;
	if (len == 0 || len > NGROUPS_MAX * sizeof(gid_t))
		return false;
	groups = malloc(len);
	if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void client_free(struct daemon *d, struct client *c)
{
	for (struct djob *j = d->jobs; j; j = j->next) {
		if (j->reaped || j->owner != c->id)
			continue;
		djob_owner_gone(j);
		if (j->cancel_on_disconnect)
			(void)djob_cancel(j,
					  "the client that started the job disconnected");
	}
	safe_close(c->fd);
	drop_line_fds(d, c);
	free(c->in);
	free(c->out);
	free(c);
}

/*
 * Connections: 64 at once, the last 4 of them kept for root and the daemon's own
 * user; 16 at once for any other uid.  Responds (EUSERS) when it says no.
 */
static bool admit(struct daemon *d, struct client *c)
{
	unsigned mine = 0;

	if (d->n_clients >= VFMD_CLIENTS_MAX) {
		respond_error(c, NULL, -EUSERS, "too many connections (at most %d)",
			      VFMD_CLIENTS_MAX);
		return false;
	}
	if (c->privileged)
		return true;
	if (d->n_clients >= VFMD_CLIENTS_MAX - VFMD_CLIENTS_ROOT) {
		respond_error(c, NULL, -EUSERS,
			      "too many connections: the last %d of %d are kept for root",
			      VFMD_CLIENTS_ROOT, VFMD_CLIENTS_MAX);
		return false;
	}
	for (struct client *o = d->clients; o; o = o->next)
		mine += o->uid == c->uid && !o->closing;
	if (mine >= VFMD_CLIENTS_PER_UID) {
		respond_error(c, NULL, -EUSERS,
			      "uid %u has %u connections: at most %d a uid",
			      (unsigned)c->uid, mine, VFMD_CLIENTS_PER_UID);
		return false;
	}
	return true;
}

/*
 * A connection waits for something while it watches a job or started one that
 * runs; otherwise it is idle, and closed after --idle-timeout without a request.
 */
static bool client_waits(const struct daemon *d, const struct client *c)
{
	if (c->watch_all)
		return true;
	for (const struct djob *j = d->jobs; j; j = j->next) {
		if (!j->reaped && j->owner == c->id)
			return true;
		for (size_t i = 0; i < j->n_watchers; i++)
			if (j->watchers[i] == c->id)
				return true;
	}
	return false;
}

static void close_idle(struct daemon *d)
{
	uint64_t now = now_usec(), limit = (uint64_t)d->cfg.idle_timeout * 1000000;

	/* a second's precision is enough: not on every wake-up of a busy loop */
	if (!d->cfg.idle_timeout || now - d->idle_checked_usec < 1000000)
		return;
	d->idle_checked_usec = now;
	for (struct client *c = d->clients; c; c = c->next) {
		if (c->closing || now - c->last_request_usec < limit || client_waits(d, c))
			continue;
		respond_error(c, NULL, -ETIMEDOUT,
			      "no request for %u s: connection closed (--idle-timeout)",
			      d->cfg.idle_timeout);
		c->closing = true;
		if (log_ok(d, c->privileged))
			daemon_log(6, "connection %u (pid %d, uid %u): idle, closed", c->id,
			   (int)c->pid, (unsigned)c->uid);
	}
}

/*
 * accept() failed for want of descriptors or memory.  The pending connection stays
 * in the backlog and the listening socket stays readable: polling it again at once
 * would spin (and log) until something frees a descriptor.  So the listening sockets
 * rest for a while, longer each time in a row, and the episode is logged once when
 * it starts and once, with its count, when an accept succeeds again.
 */
static void accept_backoff(struct daemon *d)
{
	uint64_t now = now_usec();

	if (d->accept_failures++ == 0) {
		d->accept_episode_usec = now;
		daemon_log(4,
			   "accept: %m: not accepting connections for now (retrying "
			   "every %u..%u ms; a connection waits in the backlog)",
			   VFMD_ACCEPT_BACKOFF_MIN_MS, VFMD_ACCEPT_BACKOFF_MAX_MS);
	}
	d->accept_backoff_ms = d->accept_backoff_ms
				       ? MIN(d->accept_backoff_ms * 2,
					     (unsigned)VFMD_ACCEPT_BACKOFF_MAX_MS)
				       : VFMD_ACCEPT_BACKOFF_MIN_MS;
	d->accept_resume_usec = now + (uint64_t)d->accept_backoff_ms * 1000;
}

/*
 * Whether a uid other than root and our own may connect now: VFMD_CONNECT_RATE
 * connections a second, in bursts of twice that, for each of the last
 * VFMD_CONNECT_UIDS uids seen (the one seen longest ago makes room for a new one).
 * A peer that connects and disconnects in a loop costs the daemon an accept() and a
 * close() each time, nothing more.
 */
static bool connect_ok(struct daemon *d, uid_t uid, uint64_t now)
{
	struct uid_rate *e = NULL, *oldest = &d->connect_rate[0];
	const double burst = 2.0 * VFMD_CONNECT_RATE;

	for (size_t i = 0; i < ELEMENTSOF(d->connect_rate); i++) {
		struct uid_rate *x = &d->connect_rate[i];

		if (x->usec && x->uid == uid) {
			e = x;
			break;
		}
		if (x->usec < oldest->usec)
			oldest = x;
	}
	if (!e) {
		e = oldest;
		*e = (struct uid_rate){.uid = uid, .tokens = burst, .usec = now};
	}
	e->tokens += (double)(now - e->usec) * VFMD_CONNECT_RATE / 1e6;
	if (e->tokens > burst)
		e->tokens = burst;
	e->usec = now;
	if (e->tokens < 1.0) {
		e->refused_untold++;
		if (e->refused++ == 0 && now - e->logged_usec >= 10 * 1000000ull &&
		    log_ok(d, false)) {
			e->logged_usec = now;
			daemon_log(5, "uid %u connects more than %d times a second: its "
				      "connections are closed at once for now",
				   (unsigned)uid, VFMD_CONNECT_RATE);
		}
		return false;
	}
	e->tokens -= 1.0;
	e->refused = 0;
	/* a peer that hovers at the rate makes many short episodes: their count is
	 * told once every 10 s at most */
	if (e->refused_untold && now - e->logged_usec >= 10 * 1000000ull &&
	    log_ok(d, false)) {
		e->logged_usec = now;
		daemon_log(5, "uid %u: %u connections were closed over the rate",
			   (unsigned)uid, e->refused_untold);
		e->refused_untold = 0;
	}
	return true;
}

/* The one line a connection refused by connect_ok() gets, if its buffer has room. */
static void refuse_connection(int fd, uid_t uid)
{
	char line[200];
	int n;

	n = snprintf(line, sizeof(line),
		     "{\"version\":%d,\"id\":null,\"ok\":false,\"error\":{\"errno\":%d,"
		     "\"errno_name\":\"EAGAIN\","
		     "\"message\":\"uid %u opens more than %d connections a second: this "
		     "one is closed\"}}\n",
		     VFM_JSON_VERSION, EAGAIN, (unsigned)uid, VFMD_CONNECT_RATE);
	(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void accept_client(struct daemon *d, int lfd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			accept_backoff(d);
		else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			daemon_log(4, "accept: %m");
		return;
	}
	if (d->accept_failures) {
		daemon_log(5, "accepting connections again, after %u failed accept%s "
			   "in %.1f s",
			   d->accept_failures, d->accept_failures == 1 ? "" : "s",
			   (double)(now_usec() - d->accept_episode_usec) / 1e6);
		d->accept_failures = 0;
		d->accept_backoff_ms = 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		daemon_log(4, "SO_PEERCRED: %m");
		close(fd);
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid() && !connect_ok(d, cred.uid, now_usec())) {
		refuse_connection(fd, cred.uid);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->in = malloc(VFMD_LINE_MAX + 1);
	if (!c || !c->in) {
		if (c)
			free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->id = ++d->next_client_id;
	c->tokens = 2.0 * d->cfg.rate;
	c->tokens_usec = now_usec();
	c->privileged = cred.uid == 0 || cred.uid == geteuid();
	if (!c->privileged &&
	    !(d->cfg.have_gid && (cred.gid == d->cfg.gid || in_group(fd, d->cfg.gid)))) {
		if (log_ok(d, false))
			daemon_log(5,
				   "refused a connection from pid %d, uid %u: neither root%s%s",
				   (int)cred.pid, (unsigned)cred.uid,
				   d->cfg.group ? " nor in group " : "",
				   d->cfg.group ? d->cfg.group : "");
		respond_error(c, NULL, -EACCES,
			      "uid %u may not use vfiomigd: neither root%s%s",
			      (unsigned)cred.uid, d->cfg.group ? " nor in group " : "",
			      d->cfg.group ? d->cfg.group : "");
		client_flush(c);
		client_free(d, c);
		return;
	}
	c->last_request_usec = now_usec();
	if (!admit(d, c)) {
		client_flush(c);
		client_free(d, c);
		return;
	}
	c->next = d->clients;
	d->clients = c;
	d->n_clients++;
}

/* ---- job events ---- */

static void reap(struct daemon *d, struct djob *j)
{
	bool in_doubt;

	if (j->reaped)
		return;
	if (j->thread_started)
		pthread_join(j->thread, NULL);
	j->thread_started = false;
	pthread_mutex_lock(&j->lock);
	in_doubt = j->snap->in_doubt;
	pthread_mutex_unlock(&j->lock);
	if (in_doubt && !d->shutting_down)
		j->holding = true; /* until resume or release */
	else
		release_devices(j);
	/* A finished job holds no descriptor: a passed pipe's write end kept here would
	 * keep its reader waiting, and 64 finished jobs are kept.  Cancel and continue
	 * look at the state first, so nothing writes to these any more. */
	j->stream_fd = safe_close(j->stream_fd);
	j->cancel_fd = safe_close(j->cancel_fd);
	j->ack_fd = safe_close(j->ack_fd);
	j->listener = vfm_listener_free(j->listener);
	j->reaped = true;
	pthread_mutex_lock(&j->lock);
	if (in_doubt) /* always: the operator has something to do */
		daemon_log(4, "job %u: save %s%s", j->id, j->snap->message,
			   j->holding ? "" : " (vfiomigd is exiting: they are closed stopped)");
	else if (!log_ok(d, j->owner_privileged))
		; /* held back: counted */
	else if (j->state == DJOB_SUCCEEDED)
		daemon_log(6, "job %u: %s succeeded", j->id,
			   j->kind == VFMD_CMD_SAVE ? "save" : "restore");
	else
		daemon_log(4, "job %u: %s failed: %s", j->id,
			   j->kind == VFMD_CMD_SAVE ? "save" : "restore",
			   j->endpoint_failed ? j->endpoint_error : j->snap->message);
	pthread_mutex_unlock(&j->lock);
}

/* Keep the newest VFMD_JOBS_KEPT finished jobs. */
static void prune_jobs(struct daemon *d)
{
	unsigned finished = 0;

	for (struct djob **p = &d->jobs; *p;) {
		struct djob *j = *p;

		if (j->reaped && !j->holding && ++finished > VFMD_JOBS_KEPT) {
			*p = j->next;
			djob_free(j);
			continue;
		}
		p = &j->next;
	}
}

static void process_events(struct daemon *d)
{
	struct devent *e, *next;
	uint64_t v;

	if (read(d->event_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a previous round took the events */
	}
	pthread_mutex_lock(&d->qlock);
	e = d->qhead;
	d->qhead = d->qtail = NULL;
	pthread_mutex_unlock(&d->qlock);

	for (; e; e = next) {
		struct djob *j = find_job(d, e->job);
		size_t len = strlen(e->line);

		next = e->next;
		if (j && e->final)
			reap(d, j);
		for (struct client *c = d->clients; c && j; c = c->next) {
			bool watching = c->watch_all;

			for (size_t i = 0; i < j->n_watchers && !watching; i++)
				watching = j->watchers[i] == c->id;
			if (watching)
				client_queue(c, e->line, len, e->droppable);
		}
		free(e->line);
		free(e);
	}
	prune_jobs(d);
}

/* ---- status, shutdown ---- */

static void update_status(struct daemon *d)
{
	char status[128];
	unsigned devs = 0, jobs = running_jobs(d);

	for (struct ddev *dd = d->devices; dd; dd = dd->next)
		devs++;
	if (d->shutting_down)
		snprintf(status, sizeof(status), "STATUS=stopping: %u job%s to finish",
			 jobs, jobs == 1 ? "" : "s");
	else
		snprintf(status, sizeof(status),
			 "STATUS=%u job%s running, %u device%s attached, %u connection%s",
			 jobs, jobs == 1 ? "" : "s", devs, devs == 1 ? "" : "s",
			 d->n_clients, d->n_clients == 1 ? "" : "s");
	if (!streq(status, d->last_status)) {
		snprintf(d->last_status, sizeof(d->last_status), "%s", status);
		(void)sd_notify_send(status);
	}
}

static void begin_shutdown(struct daemon *d, const char *why)
{
	struct json_object *ev;

	if (d->shutting_down)
		return;
	d->shutting_down = true;
	daemon_log(6, "stopping: %s", why);
	(void)sd_notify_send("STOPPING=1");
	ev = json_object_new_object();
	json_object_object_add(ev, "version", json_object_new_int(VFM_JSON_VERSION));
	json_object_object_add(ev, "event", json_object_new_string("shutdown"));
	json_object_object_add(ev, "reason", json_object_new_string(why));
	broadcast(d, ev);
	/* Every job rolls back as on any failure; a save that waits for its verdict is
	 * let finish (its timeout bounds it). */
	for (struct djob *j = d->jobs; j; j = j->next)
		if (!j->reaped && djob_cancel(j, "vfiomigd is shutting down") == -EBUSY)
			daemon_log(6,
				   "job %u waits for the destination's verdict: letting "
				   "it finish",
				   j->id);
}

static void handle_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	char why[64];

	if (read(d->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP)
		return; /* nothing to reload */
	snprintf(why, sizeof(why), "%s", strsignal((int)si.ssi_signo));
	begin_shutdown(d, why);
}

/* ---- the loop ---- */

/*
 * How many received descriptors may wait for their requests at once, from
 * RLIMIT_NOFILE (soft; vfiomigd uses poll(), so any number works): what is left
 * after VFMD_FDS_RESERVED, a descriptor per connection and VFMD_FDS_PER_JOB per job,
 * halved again for attached devices and jobs larger than that, and never more than
 * every connection's full share.  With systemd's default 1024 and 16 jobs:
 * (1024 - 64 - 64 - 16 * 16) / 2 = 320 (unprivileged peers together: 160).
 */
static unsigned fds_budget(unsigned max_jobs)
{
	struct rlimit rl;
	uint64_t reserved = VFMD_FDS_RESERVED + VFMD_CLIENTS_MAX +
			    (uint64_t)max_jobs * VFMD_FDS_PER_JOB;
	uint64_t limit;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		limit = 1u << 20;
	else
		limit = rl.rlim_cur;
	if (limit <= reserved)
		return 0;
	return (unsigned)MIN((limit - reserved) / 2,
			     (uint64_t)VFMD_CLIENTS_MAX * VFMD_FDS_MAX);
}

int daemon_init(struct daemon *d)
{
	sigset_t mask;
	uint64_t wd;

	pthread_mutex_init(&d->qlock, NULL);
	d->next_job_id = 1;
	d->fds_budget = fds_budget(d->cfg.max_jobs);
	d->watchdog_fd = -1;
	d->signal_fd = -1;
	d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->event_fd < 0)
		return -errno;
	/* Blocked before any thread exists, so that every thread inherits the mask and
	 * the signals arrive only through the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		return -EINVAL;
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_fd < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	wd = sd_watchdog_usec();
	if (wd) {
		struct itimerspec its = {0};
		uint64_t half = MAX(wd / 2, 1000u);

		d->watchdog_fd =
			timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (d->watchdog_fd < 0)
			return -errno;
		its.it_interval.tv_sec = (time_t)(half / 1000000);
		its.it_interval.tv_nsec = (long)(half % 1000000) * 1000;
		its.it_value = its.it_interval;
		if (timerfd_settime(d->watchdog_fd, 0, &its, NULL) < 0)
			return -errno;
	}
	return 0;
}

int daemon_run(struct daemon *d)
{
	enum { P_SIGNAL, P_EVENT, P_WATCHDOG, P_LISTEN };
	struct pollfd p[P_LISTEN + VFMD_LISTEN_MAX + VFMD_CLIENTS_MAX];
	struct client *pc[VFMD_CLIENTS_MAX];
	uint64_t flush_deadline = 0, now;

	for (;;) {
		size_t n = P_LISTEN, nc = 0;
		int r, timeout = -1;
		bool accepting;

		update_status(d);
		if (d->shutting_down && running_jobs(d) == 0) {
			bool pending = false;

			/* the last events out, briefly */
			for (struct client *c = d->clients; c; c = c->next)
				pending |= c->out_len > 0 && !c->closing;
			if (!flush_deadline)
				flush_deadline = now_usec() + 1000000;
			if (!pending || now_usec() >= flush_deadline)
				break;
			timeout = 50;
		}
		p[P_SIGNAL] = (struct pollfd){.fd = d->signal_fd, .events = POLLIN};
		p[P_EVENT] = (struct pollfd){.fd = d->event_fd, .events = POLLIN};
		p[P_WATCHDOG] = (struct pollfd){.fd = d->watchdog_fd, .events = POLLIN};
		accepting = !d->shutting_down;
		now = now_usec();
		if (accepting && d->accept_resume_usec) {
			if (now < d->accept_resume_usec) {
				int ms = (int)((d->accept_resume_usec - now + 999) / 1000);

				accepting = false;
				timeout = timeout < 0 ? ms : MIN(timeout, ms);
			} else {
				d->accept_resume_usec = 0;
			}
		}
		for (size_t i = 0; i < d->n_listen; i++)
			p[n++] = (struct pollfd){.fd = accepting ? d->listen_fds[i] : -1,
						 .events = POLLIN};
		for (struct client *c = d->clients; c && nc < ELEMENTSOF(pc);
		     c = c->next) {
			short ev = 0;

			if (!c->closing && now >= c->read_after_usec)
				ev |= POLLIN;
			else if (!c->closing) { /* over its rate: back when it has a token */
				int ms = (int)((c->read_after_usec - now) / 1000 + 1);

				timeout = timeout < 0 ? ms : MIN(timeout, ms);
			}
			if (c->out_len)
				ev |= POLLOUT;
			pc[nc++] = c;
			p[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		/* idle connections are looked at every second */
		if (d->cfg.idle_timeout && d->clients && (timeout < 0 || timeout > 1000))
			timeout = 1000;
		r = poll(p, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			daemon_log(3, "poll: %m");
			return -errno;
		}
		close_idle(d);
		if (p[P_SIGNAL].revents)
			handle_signal(d);
		if (p[P_WATCHDOG].revents) {
			uint64_t v;

			if (read(d->watchdog_fd, &v, sizeof(v)) > 0)
				(void)sd_notify_send("WATCHDOG=1");
		}
		if (p[P_EVENT].revents)
			process_events(d);
		for (size_t i = 0; i < nc; i++) {
			struct pollfd *q = &p[P_LISTEN + d->n_listen + i];

			if (q->revents & (POLLIN | POLLHUP | POLLERR))
				client_read(d, pc[i]);
		}
		for (size_t i = 0; i < d->n_listen && !d->accept_resume_usec; i++)
			if (p[P_LISTEN + i].revents & POLLIN)
				accept_client(d, d->listen_fds[i]);
		/* write what is queued; drop connections that are done */
		for (struct client **cp = &d->clients; *cp;) {
			struct client *c = *cp;

			client_flush(c);
			if (c->closing && c->out_len == 0) {
				if (c->not_reading && log_ok(d, c->privileged))
					daemon_log(4, "connection %u (pid %d, uid %u) did not read its "
						      "events: closed",
						   c->id, (int)c->pid, (unsigned)c->uid);
				*cp = c->next;
				d->n_clients--;
				client_free(d, c);
				continue;
			}
			cp = &c->next;
		}
	}
	return 0;
}

void daemon_free(struct daemon *d)
{
	struct devent *e;

	/* Normally every job has ended by now; after an error, make them end. */
	for (struct djob *j = d->jobs; j; j = j->next)
		if (!j->reaped)
			(void)djob_cancel(j, "vfiomigd is exiting");

	while (d->clients) {
		struct client *c = d->clients;

		d->clients = c->next;
		client_free(d, c);
	}
	while (d->jobs) {
		struct djob *j = d->jobs;

		d->jobs = j->next;
		reap(d, j);
		if (j->holding) {
			daemon_log(3, "job %u: exiting with its devices in doubt: they are "
				   "closed stopped", j->id);
			release_devices(j);
		}
		djob_free(j);
	}
	while (d->devices) {
		struct ddev *dd = d->devices;

		d->devices = dd->next;
		ddev_free(dd);
	}
	while ((e = d->qhead)) {
		d->qhead = e->next;
		free(e->line);
		free(e);
	}
	vfm_listener_free(d->own_listener);
	if (!d->own_listener)
		for (size_t i = 0; i < d->n_listen; i++)
			safe_close(d->listen_fds[i]);
	safe_close(d->signal_fd);
	safe_close(d->event_fd);
	safe_close(d->watchdog_fd);
	pthread_mutex_destroy(&d->qlock);
}

int daemon_attach_name(struct daemon *d, const char *name, char *err, size_t errsize)
{
	struct vfmd_devref ref = {.fd = -1};
	struct ddev *dd = NULL;
	struct dctx *dc;
	int r;

	if (strlen(name) >= sizeof(ref.name)) {
		snprintf(err, errsize, "%.64s...: name too long", name);
		return -EINVAL;
	}
	snprintf(ref.name, sizeof(ref.name), "%s", name);
	if (find_attached(d, name)) {
		snprintf(err, errsize, "%s is named twice", name);
		return -EEXIST;
	}
	dc = dctx_new(d, "");
	if (!dc)
		return -ENOMEM;
	r = open_device(dc, &ref, -1, &dd, err, errsize);
	dctx_put(dc);
	if (r < 0)
		return r;
	dd->next = d->devices;
	d->devices = dd;
	return 0;
}
