/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * CRC32C (Castagnoli): reflected polynomial 0x82F63B78, initial value ~0, final xor
 * ~0, as iSCSI, ext4 and btrfs use it.  vfm_crc32c("123456789") == 0xE3069283.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * vfm_crc32c() - extend the CRC32C @crc over @len bytes at @buf.
 * Start with @crc = 0; chaining works: vfm_crc32c(vfm_crc32c(0, a, n), b, m) is the
 * CRC of a followed by b.  @buf may be NULL when @len is 0.
 *
 * On x86-64 the implementation is chosen once, by the dynamic loader (a GNU ifunc):
 * carry-less folding with AVX-512 VPCLMULQDQ where the CPU has it, else the SSE4.2
 * crc32 instruction on three interleaved streams merged with PCLMULQDQ,
 * the crc32 instruction alone when PCLMULQDQ is missing, else slicing-by-8 tables.
 */
uint32_t vfm_crc32c(uint32_t crc, const void *buf, size_t len);

/* The implementations, for tests and benchmarks. */
enum vfm_crc32c_impl {
	VFM_CRC32C_SLICE8,	/* portable: slicing-by-8 tables */
	VFM_CRC32C_SSE42,	/* x86-64 crc32 instruction, one stream */
	VFM_CRC32C_SSE42_CLMUL, /* crc32 on three streams, merged with PCLMULQDQ */
	VFM_CRC32C_AVX512,	/* AVX-512 VPCLMULQDQ folding, 256 bytes a round */
	VFM_CRC32C_IMPL_MAX,
};

/** vfm_crc32c_impl_supported() - whether this CPU runs @impl. */
bool vfm_crc32c_impl_supported(enum vfm_crc32c_impl impl);

/**
 * vfm_crc32c_impl_name() - "slice8", "sse4.2", "sse4.2+pclmul", "avx512+vpclmul";
 * NULL if out of range.
 */
const char *vfm_crc32c_impl_name(enum vfm_crc32c_impl impl);

/** vfm_crc32c_impl_best() - the implementation vfm_crc32c() runs on this CPU. */
enum vfm_crc32c_impl vfm_crc32c_impl_best(void);

/**
 * vfm_crc32c_with() - vfm_crc32c() through a given implementation.  An implementation
 * this CPU lacks (or an out-of-range value) runs the portable one instead.
 */
uint32_t vfm_crc32c_with(enum vfm_crc32c_impl impl, uint32_t crc, const void *buf,
			 size_t len);
