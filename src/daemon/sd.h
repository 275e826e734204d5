/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The two small parts of systemd's daemon protocol vfiomigd speaks, without
 * libsystemd: readiness notification (a datagram to $NOTIFY_SOCKET) and socket
 * activation ($LISTEN_FDS/$LISTEN_PID, descriptors from 3).  See sd_notify(3) and
 * sd_listen_fds(3) for the protocol; these follow it.
 */

#include <stdbool.h>
#include <stdint.h>

#define SD_LISTEN_FDS_START 3

/**
 * sd_notify_send() - send @state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET, without
 * blocking.  Returns 1 when sent, 0 when there is no $NOTIFY_SOCKET, or -errno
 * (-EAGAIN: the receiver's queue is full).
 */
int sd_notify_send(const char *state);

/**
 * sd_listen_fds_get() - the number of descriptors passed by socket activation
 * (0 if none, or if $LISTEN_PID is not this process), made close-on-exec.  Unsets
 * $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES.  -EINVAL for a malformed variable.
 */
int sd_listen_fds_get(void);

/**
 * sd_watchdog_usec() - the watchdog interval asked by $WATCHDOG_USEC (when
 * $WATCHDOG_PID is unset or this process), 0 for none.
 */
uint64_t sd_watchdog_usec(void);
