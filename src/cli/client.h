/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A connection to vfiomigd's control socket (protocol: vfiomigd(8)): requests out,
 * with descriptors passed alongside (SCM_RIGHTS); responses and events in, one JSON
 * object a line.
 */

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct vfmc;

#define VFMC_MSG_MAX (8u << 20) /* bytes of one line from the daemon */

/* The socket $VFIOMIG_SOCKET names, else the daemon's default. */
const char *vfmc_default_socket(void);

/**
 * vfmc_connect() - connect to PATH (or @NAME, abstract).  Returns 0, or -errno with a
 * sentence in @err.
 */
int vfmc_connect(const char *path, struct vfmc **ret, char *err, size_t errsize);
void vfmc_free(struct vfmc *c);

/**
 * vfmc_send() - send @req (borrowed) with a fresh "id" and the contract's "version",
 * and @fds alongside its first byte.  Returns the id (> 0) or -errno.
 */
int vfmc_send(struct vfmc *c, struct json_object *req, const int *fds, size_t n_fds);

/**
 * vfmc_next() - the next message.  Returns 1 and *@ret (the caller puts it), 0 when
 * the daemon closed the connection, 2 when @extra_fd (may be -1) became readable
 * first, -ETIMEDOUT after @timeout_ms (-1: none), -EPROTO for a line that is not a
 * JSON object, or -errno.
 */
int vfmc_next(struct vfmc *c, int timeout_ms, int extra_fd, struct json_object **ret);

/**
 * vfmc_call() - send @req and wait for its response; events meanwhile go to
 * @on_event (may be NULL: dropped).  On success *@ret_result is the "result" (a
 * reference the caller puts).  A daemon error returns its -errno with the message in
 * @err and the device it concerns, if any, in @err_device.
 */
int vfmc_call(struct vfmc *c, struct json_object *req, const int *fds, size_t n_fds,
	      struct json_object **ret_result, char *err, size_t errsize,
	      char *err_device, size_t devsize,
	      void (*on_event)(void *userdata, struct json_object *ev), void *userdata);

/** vfmc_error_of() - a response's error: -errno and message (and device), 0 if ok. */
int vfmc_error_of(struct json_object *resp, char *err, size_t errsize, char *err_device,
		  size_t devsize);

/* json-c getters that tolerate absent keys and wrong types. */
const char *vfmc_str(struct json_object *o, const char *key, const char *def);
long long vfmc_int(struct json_object *o, const char *key, long long def);
bool vfmc_bool(struct json_object *o, const char *key, bool def);
