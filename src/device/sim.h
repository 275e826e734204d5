/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Introspection of simulated devices ("sim:NAME[,key=value...]", see sim.c), for tests
 * and for the layers above that want to check what a restore delivered.  Not part of
 * the public API.
 *
 * The image a simulated device saves and accepts: a 32-byte header, then the body.
 *   0  magic "VFMSIM01"
 *   8  seed, u64 little-endian
 *  16  body length in bytes, u64 little-endian
 *  24  the source's migration flags (VFM_MIG_*), u32 little-endian
 *  28  CRC32C (Castagnoli, reflected, init and final xor ~0) of bytes 0..27, u32 LE
 *  32  body: 8-byte little-endian word k is splitmix64(seed + k), the last word
 *      truncated to the body length
 * where splitmix64(x) is z = x + 0x9e3779b97f4a7c15; z = (z ^ z >> 30) *
 * 0xbf58476d1ce4e5b9; z = (z ^ z >> 27) * 0x94d049bb133111eb; return z ^ z >> 31.
 */

#include <stddef.h>
#include <stdint.h>

#include "vfiomig.h"

#define VFM_SIM_MAGIC	    "VFMSIM01"
#define VFM_SIM_HEADER_SIZE 32

struct vfm_device;

/*
 * vfm_sim_default_seed() - the seed a simulated device named @name saves when the spec
 * has no seed= key (FNV-1a 64 of NAME).  @name may be "NAME", "sim:NAME" or a whole
 * spec "sim:NAME,key=value...".
 */
uint64_t vfm_sim_default_seed(const char *name);

/*
 * vfm_sim_image_seed() - the seed of the image @dev saves now (its seed= key, or the
 * seed of the last image restored into it).  -ENOTTY if @dev is not simulated.
 */
int vfm_sim_image_seed(const struct vfm_device *dev, uint64_t *ret_seed);

/*
 * vfm_sim_loaded_seed() - the seed of the last image a successful RESUMING -> STOP
 * loaded.  -ENODATA if nothing was ever loaded, -ENOTTY if @dev is not simulated.
 */
int vfm_sim_loaded_seed(const struct vfm_device *dev, uint64_t *ret_seed);

/* What a simulated device was given to load, over its whole life (resets and new
 * sessions do not clear it). */
struct vfm_sim_write_stats {
	uint64_t calls;	   /* write calls in RESUMING with at least one byte */
	uint64_t max_size; /* the largest such call, in bytes */
	uint64_t taken;	   /* bytes the device accepted */
};

/*
 * vfm_sim_write_stats() - the writes @dev received.  Returns 0 or -ENOTTY if @dev is
 * not simulated.
 */
int vfm_sim_write_stats(const struct vfm_device *dev, struct vfm_sim_write_stats *ret);

/*
 * vfm_sim_last_path() - the single arcs the last SET completed, in order (the states
 * reached; a failed arc is not listed).  Shows how a combination request was walked.
 * Returns 0 or -ENOTTY if @dev is not simulated.
 */
int vfm_sim_last_path(const struct vfm_device *dev, enum vfm_state path[VFM_PLAN_MAX],
		      size_t *ret_len);

/*
 * vfm_sim_set_state_raw() - one SET straight to the simulator, bypassing the arcs that
 * vfm_device_set_state() refuses on its own (STOP_COPY -> PRE_COPY*), so that tests can
 * check what the simulated driver answers.  Returns 0 or -errno like the driver.
 */
int vfm_sim_set_state_raw(struct vfm_device *dev, enum vfm_state state);
