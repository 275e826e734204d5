/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Save and restore jobs (design.md layer 6), built from the set, stream and transport
 * layers.  The same code serves the CLI and the daemon: progress and arcs are
 * reported through callbacks, cancellation through a file descriptor.  The whole
 * interface (vfm_save(), vfm_restore(), their options and the report) is public:
 * vfiomig.h.
 */

#include <stdbool.h>
#include <stdint.h>

#include "set.h"
#include "vfiomig.h"
