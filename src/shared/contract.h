/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The JSON contract of vfiomig -j and of vfiomigd's control socket: its version, the
 * "version" member of every top-level object either prints.  The schemas in schema/
 * (installed under share/vfiomig/schema/) describe version VFM_JSON_VERSION; what
 * bumps it is said in vfiomig(8), JSON OUTPUT.
 */
#define VFM_JSON_VERSION 1
