// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The simulated device backend: "sim:NAME[,key=value...]" is a migration-capable device
 * with no hardware.  It answers like the kernel's VFIO core and the mtty sample driver
 * (the behaviour measured in docs/kernel-test-recipe.md), and produces and checks an
 * image (format in sim.h) that it generates on the fly, so that gigabytes of device
 * state cost no memory and move at memory speed.
 *
 * NAME is 1-63 characters of A-Z a-z 0-9 _ . - ; the device's name is "sim:NAME".
 * Keys, each at most once; numbers take 0x for hex where noted, sizes a K/M/G/T suffix
 * (powers of 1024); ERRNO is a name (EIO, EINVAL, ENOMEM, EFAULT, ENODEV, EBUSY,
 * ETIMEDOUT, EPIPE, ENOSPC, EAGAIN) or a number 1-4095:
 *
 *   flags=F[+F...]      migration flags, '+'-separated: stop-copy (required), p2p,
 *                       pre-copy.  Default stop-copy+p2p+pre-copy.
 *   no-migration        the device cannot migrate: the migration calls give ENOTTY.
 *                       Excludes flags= and state=.
 *   size=SIZE           STOP_COPY body bytes, at most 1T.  Default 4096.  The image is
 *                       32 + SIZE bytes and MIG_DATA_SIZE says so in every state.
 *   seed=N              seed of the image the device saves (0x for hex).  Default: a
 *                       hash of NAME (FNV-1a 64).
 *   state=STATE         initial state (a state of the flags, or ERROR).  Default
 *                       RUNNING.  A saving state or RESUMING starts with a fresh session.
 *   precopy=SIZE        bytes of body offered in PRE_COPY after the header (initial
 *                       bytes), at most SIZE.  Default SIZE/4.  Needs pre-copy.
 *   dirty=SIZE          once the initial bytes are read, each PRECOPY_INFO call that
 *   dirty-rounds=N      finds nothing pending makes SIZE more body bytes pending, N times
 *                       (N at most 1048576).  Default 0 and 0.  Need pre-copy.
 *   reinit=SIZE         new initial data (VFM_PRECOPY_REINIT, Linux 7.1's
 *   reinit-at=OFF[+OFF...]  VFIO_PRECOPY_INFO_REINIT): once a save session has read OFF
 *                       stream bytes in PRE_COPY, the next PRECOPY_INFO reports REINIT,
 *                       SIZE more body bytes (default 64K) become initial bytes and
 *                       dirty bytes start from zero; up to 8 increasing offsets, each
 *                       once a session.  reinit= alone: once, when the first initial
 *                       bytes are read.  Need pre-copy.
 *   no-precopy-v2       the device refuses the precopy info v2 opt-in, as kernels before
 *                       7.1 do: flags stay 0, and reinit= never shows.
 *   read-mbps=N         every read (in a saving state) then sleeps as long as N MB/s
 *   write-mbps=N        takes, and every write in RESUMING: a driver that saves or
 *                       loads its state slowly (N 1-100000).
 *   expect-seed=N       RESUMING -> STOP fails (EINVAL, the device stays RESUMING) unless
 *                       the image written carries seed N: lets a test in another
 *                       process check what a restore delivered.
 *   arc-usec=N          every single arc sleeps N microseconds (at most 10000000), so a
 *                       combination request of k arcs sleeps k*N.
 *   type=TYPE           identity: mdev type (e.g. mtty-2); default none.
 *   driver=NAME         identity: driver name; default vfiomig-sim.
 *   vendor=N device=N subsystem-vendor=N subsystem-device=N   identity, 0..0xffff
 *                       (0x for hex); defaults 0x1af4 0x10f0 0x1af4 0x0001.
 *   revision=N          identity, 0..0xff; default 0x01.
 *   vf-token=UUID       a VF of a PF bound to vfio-pci that holds this VF token: the
 *                       open fails (-EACCES) unless the context presents it.
 *   dma-dirty=N[+K]     DMA dirty logging: before each report the device writes once;
 *                       its k-th write (k = 1, 2... since the start) dirties the pages
 *                       n (n = IOVA / the device's page size) of the logged ranges with
 *                       n mod N = (K + k - 1) mod N.  N 1-65536, K below N (default 0).
 *                       Without it the device logs but never dirties a page (mtty).
 *   dma-page=SIZE       the page size the device logs in, whatever the start asks (a
 *                       power of two, 4K-1G); default the one asked for.
 *   no-dma-logging      the device has no DMA dirty logging: probe, start, report and
 *                       stop give ENOTTY (a driver without log_ops).
 * Faults (several may combine):
 *   fail-arc=FROM:TO[:ERRNO]   that single arc fails with ERRNO (default EIO), the state
 *                              stays FROM.  Also when the arc is one step of a
 *                              combination request, which then stops at FROM.
 *   error-arc=FROM:TO          that single arc fails with EIO and the device falls into
 *                              ERROR (session closed).  Not the same arc as fail-arc.
 *   fail-save=N[:ERRNO]        the device's Nth save session (counting from 1 over the
 *                              life of the device: each entry into the saving group
 *                              from outside it) fails every read with ERRNO (default
 *                              EIO); the sessions before and after it are good, so that
 *                              a loop of migrations (vfiomig soak) fails at one cycle.
 *   fail-read-at=OFF[:ERRNO]   every read that would return the stream byte at offset
 *                              OFF (OFF = 32 + SIZE: the end-of-data read) fails with
 *                              ERRNO (default EIO); nothing is consumed.
 *   fail-write-at=OFF[:ERRNO]  the same for writes in RESUMING (OFF < 32 + SIZE).
 *   corrupt-at=OFF             the stream byte at OFF (< 32 + SIZE) is inverted when
 *                              read, so that a destination must reject the image.
 *   fail-reset[=ERRNO]         reset fails (default EIO); nothing changes.
 *   fail-get[=ERRNO]           reading the state fails (default EIO).
 *   fail-size[=ERRNO]          MIG_DATA_SIZE fails (default ENOTTY, a driver without it).
 * The arcs of fail-arc and error-arc must be single arcs of the device's flags.
 *
 * Behaviour:
 * - SET walks the kernel's vfio_from_fsm_table one single arc at a time, skipping states
 *   the flags lack, and refuses (EINVAL, state unchanged) a target the flags lack,
 *   ERROR, a start in ERROR and STOP_COPY -> PRE_COPY*.  A failed arc ends the walk in
 *   the state before it (or ERROR for error-arc).
 * - Entering the saving group from outside opens a save session at offset 0; moving
 *   within the group keeps it (PRE_COPY reads continue in STOP_COPY, like mtty);
 *   leaving the group ends it.  In PRE_COPY* the readable bytes are the header, the
 *   precopy bytes and the dirty rounds; read gives ENOMSG when none is pending.  In
 *   STOP_COPY read gives the rest, then 0.  Without a save session read gives EBADF.
 * - PRECOPY_INFO: in RESUMING ENOTTY (mtty's resume fd), elsewhere outside PRE_COPY*
 *   EINVAL.
 * - STOP -> RESUMING opens a resume session.  Writes are checked as they arrive, in any
 *   segmentation: a bad magic or checksum or unknown flags fail the write with EINVAL, a
 *   body length other than SIZE with EFAULT (mtty: an image of another type), bytes
 *   past the image with ENOMEM; body bytes that differ from the header's seed are
 *   remembered.  RESUMING -> STOP fails with EINVAL and stays RESUMING (session kept)
 *   if the image is incomplete or differs, or expect-seed does not match; on success
 *   the device's image becomes the loaded one, so saving again reproduces it.
 * - reset returns to RUNNING from any state and ends the session; the image stays.
 * - DMA logging, like the VFIO core before the driver: start needs 1-256 ranges,
 *   aligned to the page size asked for and not overlapping (EINVAL, E2BIG), iova +
 *   length within 2^64 (EOVERFLOW); report a power-of-two page size of at least 4K
 *   (EINVAL).  The device tracks its pages (the ranges rounded out to its page size),
 *   at most 2^24 of them (ENOSPC); a second start gives EBUSY, a report or stop
 *   without one EINVAL.  A report sets bit i when a dirty device page meets the i-th
 *   report page, and clears the device pages it read.  Logging is not a state: reset
 *   leaves it on.
 * - Each device is independent; nothing is global.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctx-internal.h"
#include "device-internal.h"
#include "sim.h"
#include "util.h"

#define SIM_NAME_MAX	 63
#define SIM_SIZE_MAX	 (UINT64_C(1) << 40)
#define SIM_DEFAULT_SIZE 4096
#define SIM_ROUNDS_MAX	 (UINT64_C(1) << 20)
#define SIM_REINIT_MAX	 8 /* reinit-at= offsets */
#define SIM_ARC_USEC_MAX UINT64_C(10000000)
#define SIM_STRING_MAX	 63
#define SIM_ERRNO_MAX	 4095
#define SIM_DMA_PAGES_MAX (UINT64_C(1) << 24) /* device pages a log tracks */
#define SIM_DMA_EVERY_MAX 65536
#define SIM_WORD_CHARS	 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

assert_cc(sizeof(VFM_SIM_MAGIC) - 1 == 8);

/* ------------------------------------------------------------------------- */
/* the kernel's state machine                                                */

/* vfio_mig_get_next_state(): the flags a state needs; ERROR needs everything so that
 * it is never a valid start or target. */
static const uint32_t state_flags[VFM_STATE_MAX] = {
	[VFM_STATE_ERROR] = ~UINT32_C(0),
	[VFM_STATE_STOP] = VFM_MIG_STOP_COPY,
	[VFM_STATE_RUNNING] = VFM_MIG_STOP_COPY,
	[VFM_STATE_STOP_COPY] = VFM_MIG_STOP_COPY,
	[VFM_STATE_RESUMING] = VFM_MIG_STOP_COPY,
	[VFM_STATE_RUNNING_P2P] = VFM_MIG_STOP_COPY | VFM_MIG_P2P,
	[VFM_STATE_PRE_COPY] = VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY,
	[VFM_STATE_PRE_COPY_P2P] = VFM_MIG_STOP_COPY | VFM_MIG_P2P | VFM_MIG_PRE_COPY,
};

/* clang-format off */
#define S_ERR VFM_STATE_ERROR
#define S_STOP VFM_STATE_STOP
#define S_RUN VFM_STATE_RUNNING
#define S_SC VFM_STATE_STOP_COPY
#define S_RES VFM_STATE_RESUMING
#define S_RP2P VFM_STATE_RUNNING_P2P
#define S_PC VFM_STATE_PRE_COPY
#define S_PCP2P VFM_STATE_PRE_COPY_P2P

/* vfio_from_fsm_table[cur][target]: the next state on the way. */
static const enum vfm_state next_state[VFM_STATE_MAX][VFM_STATE_MAX] = {
	[S_STOP] = {
		[S_STOP] = S_STOP, [S_RUN] = S_RP2P, [S_SC] = S_SC, [S_RES] = S_RES,
		[S_RP2P] = S_RP2P, [S_PC] = S_RP2P, [S_PCP2P] = S_RP2P, [S_ERR] = S_ERR,
	},
	[S_RUN] = {
		[S_STOP] = S_RP2P, [S_RUN] = S_RUN, [S_SC] = S_RP2P, [S_RES] = S_RP2P,
		[S_RP2P] = S_RP2P, [S_PC] = S_PC, [S_PCP2P] = S_RP2P, [S_ERR] = S_ERR,
	},
	[S_SC] = {
		[S_STOP] = S_STOP, [S_RUN] = S_STOP, [S_SC] = S_SC, [S_RES] = S_STOP,
		[S_RP2P] = S_STOP, [S_PC] = S_ERR, [S_PCP2P] = S_ERR, [S_ERR] = S_ERR,
	},
	[S_RES] = {
		[S_STOP] = S_STOP, [S_RUN] = S_STOP, [S_SC] = S_STOP, [S_RES] = S_RES,
		[S_RP2P] = S_STOP, [S_PC] = S_STOP, [S_PCP2P] = S_STOP, [S_ERR] = S_ERR,
	},
	[S_RP2P] = {
		[S_STOP] = S_STOP, [S_RUN] = S_RUN, [S_SC] = S_STOP, [S_RES] = S_STOP,
		[S_RP2P] = S_RP2P, [S_PC] = S_RUN, [S_PCP2P] = S_PCP2P, [S_ERR] = S_ERR,
	},
	[S_PC] = {
		[S_STOP] = S_RUN, [S_RUN] = S_RUN, [S_SC] = S_PCP2P, [S_RES] = S_RUN,
		[S_RP2P] = S_RUN, [S_PC] = S_PC, [S_PCP2P] = S_PCP2P, [S_ERR] = S_ERR,
	},
	[S_PCP2P] = {
		[S_STOP] = S_RP2P, [S_RUN] = S_RP2P, [S_SC] = S_SC, [S_RES] = S_RP2P,
		[S_RP2P] = S_RP2P, [S_PC] = S_PC, [S_PCP2P] = S_PCP2P, [S_ERR] = S_ERR,
	},
	[S_ERR] = {
		[S_STOP] = S_ERR, [S_RUN] = S_ERR, [S_SC] = S_ERR, [S_RES] = S_ERR,
		[S_RP2P] = S_ERR, [S_PC] = S_ERR, [S_PCP2P] = S_ERR, [S_ERR] = S_ERR,
	},
};
/* clang-format on */

/* The single arcs a driver implements (the uAPI documentation's table): an arc exists
 * for flags that hold all of @need and none of @lack. */
/* clang-format off */
static const struct sim_arc {
	enum vfm_state from, to;
	uint32_t need, lack;
} sim_arcs[] = {
	{ S_RES, S_STOP, VFM_MIG_STOP_COPY, 0 },
	{ S_STOP, S_RES, VFM_MIG_STOP_COPY, 0 },
	{ S_STOP, S_SC, VFM_MIG_STOP_COPY, 0 },
	{ S_SC, S_STOP, VFM_MIG_STOP_COPY, 0 },
	{ S_RUN, S_STOP, VFM_MIG_STOP_COPY, VFM_MIG_P2P },
	{ S_STOP, S_RUN, VFM_MIG_STOP_COPY, VFM_MIG_P2P },
	{ S_RUN, S_RP2P, VFM_MIG_STOP_COPY | VFM_MIG_P2P, 0 },
	{ S_RP2P, S_RUN, VFM_MIG_STOP_COPY | VFM_MIG_P2P, 0 },
	{ S_RP2P, S_STOP, VFM_MIG_STOP_COPY | VFM_MIG_P2P, 0 },
	{ S_STOP, S_RP2P, VFM_MIG_STOP_COPY | VFM_MIG_P2P, 0 },
	{ S_RUN, S_PC, VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY, 0 },
	{ S_PC, S_RUN, VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY, 0 },
	{ S_PC, S_SC, VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY, VFM_MIG_P2P },
	{ S_PC, S_PCP2P, VFM_MIG_ALL, 0 },
	{ S_PCP2P, S_PC, VFM_MIG_ALL, 0 },
	{ S_PCP2P, S_RP2P, VFM_MIG_ALL, 0 },
	{ S_PCP2P, S_SC, VFM_MIG_ALL, 0 },
	{ S_RP2P, S_PCP2P, VFM_MIG_ALL, 0 },
};
/* clang-format on */

static bool has_state(uint32_t flags, enum vfm_state s)
{
	return (unsigned)s < VFM_STATE_MAX && (state_flags[s] & flags) == state_flags[s];
}

static bool arc_exists(uint32_t flags, enum vfm_state from, enum vfm_state to)
{
	for (size_t i = 0; i < ELEMENTSOF(sim_arcs); i++)
		if (sim_arcs[i].from == from && sim_arcs[i].to == to &&
		    (flags & sim_arcs[i].need) == sim_arcs[i].need &&
		    !(flags & sim_arcs[i].lack))
			return true;
	return false;
}

/* vfio_mig_get_next_state(), minus the endless loop older kernels have on an ERROR
 * entry (STOP_COPY -> PRE_COPY*): stop on ERROR. */
static int next_step(uint32_t flags, enum vfm_state cur, enum vfm_state target,
		     enum vfm_state *ret_next)
{
	enum vfm_state next;

	if (!has_state(flags, cur) || !has_state(flags, target))
		return -EINVAL;
	next = next_state[cur][target];
	for (unsigned i = 0; next != S_ERR && !has_state(flags, next); i++) {
		if (i >= VFM_STATE_MAX)
			return -EINVAL;
		next = next_state[next][target];
	}
	if (next == S_ERR)
		return -EINVAL;
	*ret_next = next;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* the image                                                                 */

static inline uint64_t splitmix64(uint64_t x)
{
	uint64_t z = x + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* CRC32C, bit by bit: it only ever covers 28 bytes. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = ~UINT32_C(0);

	while (n--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (UINT32_C(0x82f63b78) & -(crc & 1));
	}
	return ~crc;
}

static void header_build(uint8_t hdr[VFM_SIM_HEADER_SIZE], uint64_t seed, uint64_t size,
			 uint32_t flags)
{
	memcpy(hdr, VFM_SIM_MAGIC, 8);
	put_le64(hdr + 8, seed);
	put_le64(hdr + 16, size);
	put_le32(hdr + 24, flags);
	put_le32(hdr + 28, crc32c(hdr, 28));
}

/*
 * The body of the image of a seed: word k (8 bytes, little-endian) is
 *
 *	splitmix64(seed + k % 8192) ^ (k / 8192) * 0x9e3779b97f4a7c15
 *
 * so that every 64 KiB block differs (the multiplier is odd: a bijection) and a chunk
 * written at another offset fails the check, while making and checking a block is a
 * table lookup and an XOR a word, about what a memcpy costs: the bench's baseline B
 * then measures our protocol against a cheap device, not against the simulator.
 * The first block is splitmix64(seed + k) itself.
 */
#define BODY_TABLE_WORDS 8192u
#define BODY_BLOCK_MIX	 0x9e3779b97f4a7c15ull

struct body_table {
	uint64_t seed;
	bool valid;
	uint64_t w[BODY_TABLE_WORDS];
};

static const uint64_t *body_table(struct body_table **tp, uint64_t seed)
{
	struct body_table *t = *tp;

	if (!t) {
		t = *tp = malloc(sizeof(*t));
		if (!t)
			return NULL;
		t->valid = false;
	}
	if (!t->valid || t->seed != seed) {
		for (uint64_t k = 0; k < BODY_TABLE_WORDS; k++)
			t->w[k] = splitmix64(seed + k);
		t->seed = seed;
		t->valid = true;
	}
	return t->w;
}

static inline uint64_t body_word(const uint64_t *t, uint64_t k)
{
	return t[k % BODY_TABLE_WORDS] ^ (k / BODY_TABLE_WORDS) * BODY_BLOCK_MIX;
}

/* Body bytes [@off, @off + @n) of the image whose table is @t.  Whole words in the
 * middle, block by block; the partial words at either end go through a bounce word. */
static void body_fill(const uint64_t *t, uint64_t off, uint8_t *buf, size_t n)
{
	uint64_t k = off / 8;
	size_t skip = off % 8;
	uint8_t w[8];

	if (skip) {
		size_t m = MIN(n, 8 - skip);

		put_le64(w, body_word(t, k++));
		memcpy(buf, w + skip, m);
		buf += m;
		n -= m;
	}
	while (n >= 8) {
		size_t i = k % BODY_TABLE_WORDS, run = MIN(n / 8, BODY_TABLE_WORDS - i);
		uint64_t mix = (k / BODY_TABLE_WORDS) * BODY_BLOCK_MIX;

		for (size_t j = 0; j < run; j++)
			put_le64(buf + 8 * j, t[i + j] ^ mix);
		buf += 8 * run;
		n -= 8 * run;
		k += run;
	}
	if (n) {
		put_le64(w, body_word(t, k));
		memcpy(buf, w, n);
	}
}

/* Whether @buf equals body bytes [@off, @off + @n) of the image whose table is @t. */
static bool body_equal(const uint64_t *t, uint64_t off, const uint8_t *buf, size_t n)
{
	uint64_t k = off / 8;
	size_t skip = off % 8;
	uint8_t w[8];

	if (skip) {
		size_t m = MIN(n, 8 - skip);

		put_le64(w, body_word(t, k++));
		if (memcmp(buf, w + skip, m) != 0)
			return false;
		buf += m;
		n -= m;
	}
	/* No early exit inside a block: the loop stays branch-free and fast. */
	while (n >= 8) {
		size_t i = k % BODY_TABLE_WORDS, run = MIN(n / 8, BODY_TABLE_WORDS - i);
		uint64_t mix = (k / BODY_TABLE_WORDS) * BODY_BLOCK_MIX, diff = 0;

		for (size_t j = 0; j < run; j++)
			diff |= get_le64(buf + 8 * j) ^ t[i + j] ^ mix;
		if (diff)
			return false;
		buf += 8 * run;
		n -= 8 * run;
		k += run;
	}
	if (n) {
		put_le64(w, body_word(t, k));
		if (memcmp(buf, w, n) != 0)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------- */
/* the device                                                                */

struct sim_fault {
	bool on;
	int err; /* positive errno */
};

struct sim_arc_fault {
	bool on;
	enum vfm_state from, to;
	int err;
};

struct sim_offset_fault {
	bool on;
	uint64_t at;
	int err;
};

enum sim_session {
	SESSION_NONE,
	SESSION_SAVE,
	SESSION_RESUME,
};

/* One logged range, in device pages. */
struct sim_dma_range {
	uint64_t first, n; /* device pages first .. first + n - 1 */
	uint64_t *bits;	   /* one bit a page: dirty, not yet reported */
};

struct sim {
	struct body_table *body; /* the image body's words, for the seed last used */
	/* configuration */
	bool migration;
	bool dma_logging;	     /* not no-dma-logging */
	uint64_t dma_every, dma_off; /* dma-dirty=N+K; N 0: never dirties */
	uint64_t dma_page;	     /* dma-page=, 0: the one asked for */
	uint32_t flags;
	uint64_t size;	  /* body bytes */
	uint64_t precopy; /* body bytes offered first in PRE_COPY */
	uint64_t dirty, dirty_rounds;
	bool expect_seed_on;
	uint64_t expect_seed;
	uint64_t arc_usec;
	uint64_t write_mbps; /* 0: as fast as memory */
	uint64_t read_mbps;  /* 0: as fast as memory */
	bool precopy_eof;    /* read() gives 0, not ENOMSG, when PRE_COPY data runs out */
	uint64_t reinit;     /* new initial bytes at each REINIT */
	uint64_t reinit_at[SIM_REINIT_MAX]; /* stream offsets; 0 ends the list */
	struct sim_arc_fault fail_arc, error_arc;
	struct sim_offset_fault fail_read, fail_write, corrupt;
	struct sim_offset_fault fail_save; /* .at: the save session that fails */
	struct sim_fault fail_reset, fail_get, fail_size;

	/* device state */
	enum vfm_state state;
	uint64_t seed; /* of the image a save produces */
	bool loaded;
	uint64_t loaded_seed;

	/* data session */
	enum sim_session session;
	uint64_t saves;	      /* save sessions opened so far (fail-save) */
	uint64_t pos;	      /* stream bytes read or written */
	uint64_t avail;	      /* save in PRE_COPY*: stream bytes made readable so far */
	uint64_t rounds_left; /* dirty rounds still to come */
	uint64_t initial_end; /* save: stream offset where the initial bytes end */
	unsigned reinit_next; /* reinit_at[] index of the next REINIT */
	uint8_t header[VFM_SIM_HEADER_SIZE]; /* save: ours; resume: what arrived */
	uint64_t rx_seed;
	bool rx_bad;
	uint64_t rx_bad_at;

	enum vfm_state path[VFM_PLAN_MAX];
	size_t path_len;

	/* every write, over the device's life (vfm_sim_write_stats()) */
	struct vfm_sim_write_stats wstats;

	/* DMA logging */
	bool dma_on;
	uint64_t dma_psize;  /* device page size in use */
	uint64_t dma_writes; /* writes (reports) since the start */
	struct sim_dma_range *dma;
	size_t dma_n;
};

static const struct vfm_device_ops sim_ops;

static struct sim *sim_of(const struct vfm_device *dev)
{
	return dev && dev->ops == &sim_ops ? dev->priv : NULL;
}

static uint64_t image_size(const struct sim *s)
{
	return VFM_SIM_HEADER_SIZE + s->size;
}

static void session_open_save(struct sim *s, enum vfm_state to)
{
	s->session = SESSION_SAVE;
	s->saves++;
	s->pos = 0;
	s->avail = to == S_SC ? image_size(s) : VFM_SIM_HEADER_SIZE + s->precopy;
	s->initial_end = VFM_SIM_HEADER_SIZE + s->precopy;
	s->reinit_next = 0;
	s->rounds_left = s->dirty_rounds;
	header_build(s->header, s->seed, s->size, s->flags);
}

static void session_open_resume(struct sim *s)
{
	s->session = SESSION_RESUME;
	s->pos = 0;
	s->rx_seed = 0;
	s->rx_bad = false;
	s->rx_bad_at = 0;
	memset(s->header, 0, sizeof(s->header));
}

static void session_close(struct sim *s)
{
	s->session = SESSION_NONE;
	s->pos = s->avail = 0;
}

static void sleep_usec(uint64_t usec)
{
	struct timespec ts = {
		.tv_sec = (time_t)(usec / 1000000),
		.tv_nsec = (long)(usec % 1000000) * 1000,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static const char *errno_name(int err);

/* RESUMING -> STOP: is what was written a whole, intact image we may load? */
static int resume_validate(struct vfm_device *dev, struct sim *s)
{
	if (s->session != SESSION_RESUME || s->pos < image_size(s)) {
		vfm_dbg(dev->ctx, "%s: image incomplete: %llu of %llu bytes",
			dev->id.name,
			(unsigned long long)(s->session == SESSION_RESUME ? s->pos : 0),
			(unsigned long long)image_size(s));
		return -EINVAL;
	}
	if (s->rx_bad) {
		vfm_dbg(dev->ctx, "%s: image differs from seed 0x%llx at offset %llu",
			dev->id.name, (unsigned long long)s->rx_seed,
			(unsigned long long)s->rx_bad_at);
		return -EINVAL;
	}
	if (s->expect_seed_on && s->rx_seed != s->expect_seed) {
		vfm_dbg(dev->ctx, "%s: image has seed 0x%llx, expected 0x%llx",
			dev->id.name, (unsigned long long)s->rx_seed,
			(unsigned long long)s->expect_seed);
		return -EINVAL;
	}
	return 0;
}

/* One single arc, with its faults.  On failure the state is unchanged (or ERROR). */
static int do_arc(struct vfm_device *dev, struct sim *s, enum vfm_state to,
		  bool *ret_new_session)
{
	enum vfm_state from = s->state;
	bool opened = false;
	int r;

	if (!arc_exists(s->flags, from, to))
		return -EINVAL; /* cannot happen: the kernel table only yields arcs */
	if (s->arc_usec)
		sleep_usec(s->arc_usec);
	if (s->fail_arc.on && s->fail_arc.from == from && s->fail_arc.to == to) {
		vfm_dbg(dev->ctx, "%s: injected failure of %s -> %s (%s)", dev->id.name,
			vfm_state_name(from), vfm_state_name(to),
			errno_name(s->fail_arc.err));
		return -s->fail_arc.err;
	}
	if (s->error_arc.on && s->error_arc.from == from && s->error_arc.to == to) {
		vfm_dbg(dev->ctx, "%s: injected %s -> %s into ERROR", dev->id.name,
			vfm_state_name(from), vfm_state_name(to));
		session_close(s);
		s->state = S_ERR;
		return -EIO;
	}
	if (from == S_RES) {
		r = resume_validate(dev, s);
		if (r < 0)
			return r;
		s->seed = s->loaded_seed = s->rx_seed;
		s->loaded = true;
		session_close(s);
	}
	if (vfm_state_is_saving(to) && !vfm_state_is_saving(from)) {
		session_open_save(s, to);
		opened = true;
	} else if (vfm_state_is_saving(from) && !vfm_state_is_saving(to)) {
		session_close(s);
	}
	if (to == S_RES) {
		session_open_resume(s);
		opened = true;
	}
	s->state = to;
	*ret_new_session = opened;
	return 0;
}

static int sim_set_state(struct vfm_device *dev, enum vfm_state target,
			 bool *ret_new_session, int *ret_data_fd)
{
	struct sim *s = dev->priv;
	bool opened = false;

	if (!s->migration)
		return -ENOTTY;
	if ((unsigned)target >= VFM_STATE_MAX || target == S_ERR)
		return -EINVAL;
	s->path_len = 0;
	while (s->state != target) {
		enum vfm_state next;
		int r;

		r = next_step(s->flags, s->state, target, &next);
		if (r < 0) {
			vfm_dbg(dev->ctx, "%s: no way from %s to %s", dev->id.name,
				vfm_state_name(s->state), vfm_state_name(target));
			return r;
		}
		if (s->path_len >= VFM_PLAN_MAX)
			return -EINVAL; /* cannot happen: paths are at most 4 arcs */
		r = do_arc(dev, s, next, &opened);
		if (r < 0)
			return r;
		s->path[s->path_len++] = next;
	}
	*ret_new_session = opened;
	*ret_data_fd = -1;
	return 0;
}

static int sim_get_flags(struct vfm_device *dev, uint32_t *ret_flags)
{
	struct sim *s = dev->priv;

	if (!s->migration)
		return -ENOTTY;
	*ret_flags = s->flags;
	return 0;
}

static int sim_get_state(struct vfm_device *dev, enum vfm_state *ret_state)
{
	struct sim *s = dev->priv;

	if (!s->migration)
		return -ENOTTY;
	if (s->fail_get.on)
		return -s->fail_get.err;
	*ret_state = s->state;
	return 0;
}

static int sim_get_data_size(struct vfm_device *dev, uint64_t *ret_bytes)
{
	struct sim *s = dev->priv;

	if (!s->migration)
		return -ENOTTY;
	if (s->fail_size.on)
		return -s->fail_size.err;
	*ret_bytes = image_size(s);
	return 0;
}

static int sim_get_precopy_info(struct vfm_device *dev, uint64_t *ret_initial,
				uint64_t *ret_dirty, uint32_t *ret_flags)
{
	struct sim *s = dev->priv;
	uint64_t initial_end, start;
	uint32_t flags = 0;

	if (s->session == SESSION_RESUME)
		return -ENOTTY; /* mtty: the resume fd has no such ioctl */
	if (s->session != SESSION_SAVE || (s->state != S_PC && s->state != S_PCP2P))
		return -EINVAL;

	/* new initial data at the offsets asked for, as a 7.1 driver may report it */
	if (dev->precopy_v2 && s->reinit_next < SIM_REINIT_MAX &&
	    s->reinit_at[s->reinit_next] && s->pos >= s->reinit_at[s->reinit_next] &&
	    s->avail < image_size(s)) {
		s->reinit_next++;
		s->initial_end = MAX(s->avail, s->pos) + MIN(s->reinit, image_size(s) - s->avail);
		s->avail = s->initial_end;
		flags |= VFM_PRECOPY_REINIT;
	}
	initial_end = s->initial_end;
	if (s->pos >= s->avail && s->pos >= initial_end && s->rounds_left > 0 &&
	    s->dirty > 0 && s->avail < image_size(s)) {
		s->avail += MIN(s->dirty, image_size(s) - s->avail);
		s->rounds_left--;
	}
	start = MAX(s->pos, initial_end);
	*ret_initial = s->pos < initial_end ? initial_end - s->pos : 0;
	*ret_dirty = s->avail > start ? s->avail - start : 0;
	*ret_flags = flags;
	return 0;
}

/* Whether an access of @n bytes at @pos touches the fault's offset. */
static bool offset_hit(const struct sim_offset_fault *f, uint64_t pos, uint64_t n)
{
	return f->on && f->at >= pos && f->at - pos < n;
}

static ssize_t sim_read(struct vfm_device *dev, void *buf, size_t size)
{
	struct sim *s = dev->priv;
	uint64_t limit, off, n;
	uint8_t *p = buf;
	size_t left;

	if (s->session != SESSION_SAVE)
		return -EBADF;
	if (s->fail_save.on && s->saves == s->fail_save.at) {
		vfm_dbg(dev->ctx, "%s: injected failure of save session %llu (%s)",
			dev->id.name, (unsigned long long)s->saves,
			errno_name(s->fail_save.err));
		return -s->fail_save.err;
	}
	limit = s->state == S_SC ? image_size(s) : s->avail;
	if (s->pos >= limit) {
		if (s->state != S_SC)
			return s->precopy_eof ? 0 : -ENOMSG;
		if (s->fail_read.on && s->fail_read.at == s->pos)
			return -s->fail_read.err;
		return 0;
	}
	if (size == 0)
		return 0;
	n = MIN((uint64_t)size, limit - s->pos);
	n = MIN(n, (uint64_t)SSIZE_MAX);
	if (offset_hit(&s->fail_read, s->pos, n)) {
		vfm_dbg(dev->ctx, "%s: injected read failure at offset %llu (%s)",
			dev->id.name, (unsigned long long)s->fail_read.at,
			errno_name(s->fail_read.err));
		return -s->fail_read.err;
	}

	off = s->pos;
	left = (size_t)n;
	if (off < VFM_SIM_HEADER_SIZE) {
		size_t m = MIN(left, (size_t)(VFM_SIM_HEADER_SIZE - off));

		memcpy(p, s->header + off, m);
		p += m;
		off += m;
		left -= m;
	}
	if (left) {
		const uint64_t *t = body_table(&s->body, s->seed);

		if (!t)
			return -ENOMEM;
		body_fill(t, off - VFM_SIM_HEADER_SIZE, p, left);
	}
	if (offset_hit(&s->corrupt, s->pos, n))
		((uint8_t *)buf)[s->corrupt.at - s->pos] ^= 0xff;
	s->pos += n;
	if (s->read_mbps) /* a device that saves its state slowly: MB/s = bytes/us */
		sleep_usec(n / s->read_mbps);
	return (ssize_t)n;
}

/* The header has arrived whole: is it one of ours, for a device like this one? */
static int header_check(struct vfm_device *dev, struct sim *s)
{
	uint64_t len = get_le64(s->header + 16);
	uint32_t flags = get_le32(s->header + 24);

	if (crc32c(s->header, 28) != get_le32(s->header + 28)) {
		vfm_dbg(dev->ctx, "%s: image header checksum mismatch", dev->id.name);
		return -EINVAL;
	}
	if (flags & ~(uint32_t)VFM_MIG_ALL) {
		vfm_dbg(dev->ctx, "%s: image header has unknown flags 0x%x", dev->id.name,
			flags);
		return -EINVAL;
	}
	if (len != s->size) {
		/* mtty answers EFAULT for an image of another type */
		vfm_dbg(dev->ctx, "%s: image body is %llu bytes, this device has %llu",
			dev->id.name, (unsigned long long)len,
			(unsigned long long)s->size);
		return -EFAULT;
	}
	s->rx_seed = get_le64(s->header + 8);
	return 0;
}

static ssize_t sim_write(struct vfm_device *dev, const void *buf, size_t size)
{
	struct sim *s = dev->priv;
	const uint8_t *p = buf;
	uint64_t off;
	size_t left;

	if (s->session != SESSION_RESUME)
		return -EBADF;
	if (size == 0)
		return 0;
	s->wstats.calls++;
	s->wstats.max_size = MAX(s->wstats.max_size, (uint64_t)size);
	if ((uint64_t)size > image_size(s) - s->pos)
		return -ENOMEM; /* like mtty: more than the device's state */
	if (offset_hit(&s->fail_write, s->pos, size)) {
		vfm_dbg(dev->ctx, "%s: injected write failure at offset %llu (%s)",
			dev->id.name, (unsigned long long)s->fail_write.at,
			errno_name(s->fail_write.err));
		return -s->fail_write.err;
	}

	off = s->pos;
	left = size;
	if (off < VFM_SIM_HEADER_SIZE) {
		size_t m = MIN(left, (size_t)(VFM_SIM_HEADER_SIZE - off));

		/* Check the magic as soon as its bytes arrive.  Bytes beyond pos are
		 * scratch until pos moves, so a failed write changes nothing. */
		for (size_t i = 0; i < m && off + i < 8; i++)
			if (p[i] != (uint8_t)VFM_SIM_MAGIC[off + i]) {
				vfm_dbg(dev->ctx, "%s: image has a bad magic",
					dev->id.name);
				return -EINVAL;
			}
		memcpy(s->header + off, p, m);
		if (off + m == VFM_SIM_HEADER_SIZE) {
			int r = header_check(dev, s);

			if (r < 0)
				return r;
		}
		p += m;
		off += m;
		left -= m;
	}
	if (left && !s->rx_bad) {
		const uint64_t *t = body_table(&s->body, s->rx_seed);

		if (!t)
			return -ENOMEM;
		if (!body_equal(t, off - VFM_SIM_HEADER_SIZE, p, left)) {
			s->rx_bad = true;
			s->rx_bad_at = off; /* of the write; enough for a debug message */
		}
	}
	s->pos += size;
	s->wstats.taken += size;
	if (s->write_mbps) /* a device that loads its state slowly: MB/s = bytes/us */
		sleep_usec(size / s->write_mbps);
	return (ssize_t)size;
}

static int sim_reset(struct vfm_device *dev)
{
	struct sim *s = dev->priv;

	if (s->fail_reset.on)
		return -s->fail_reset.err;
	session_close(s);
	s->state = S_RUN;
	s->path_len = 0;
	return 0;
}

static void sim_close_session(struct vfm_device *dev)
{
	session_close(dev->priv);
}

/* ---- DMA dirty logging ---- */

static void dma_free(struct sim *s)
{
	for (size_t i = 0; i < s->dma_n; i++)
		free(s->dma[i].bits);
	free(s->dma);
	s->dma = NULL;
	s->dma_n = 0;
	s->dma_on = false;
}

static int sim_dirty_probe(struct vfm_device *dev)
{
	return ((struct sim *)dev->priv)->dma_logging ? 0 : -ENOTTY;
}

static int sim_dirty_start(struct vfm_device *dev, const struct vfm_dirty_range *ranges,
			   size_t n, uint64_t *page_size)
{
	struct sim *s = dev->priv;
	uint64_t ps = *page_size, dps, total = 0;
	struct sim_dma_range *d;

	if (!s->dma_logging)
		return -ENOTTY;
	/* the VFIO core's checks (vfio_ioctl_device_feature_logging_start) */
	if (n == 0)
		return -EINVAL;
	if (n > VFM_DIRTY_RANGES_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		uint64_t end;

		if (!ps || ranges[i].iova % ps || ranges[i].length % ps)
			return -EINVAL;
		if (__builtin_add_overflow(ranges[i].iova, ranges[i].length, &end))
			return -EOVERFLOW;
		for (size_t j = 0; j < i; j++)
			if (ranges[i].length && ranges[j].length &&
			    ranges[i].iova < ranges[j].iova + ranges[j].length &&
			    ranges[j].iova < end)
				return -EINVAL;
	}
	/* the driver's */
	if (s->dma_on)
		return -EBUSY;
	dps = s->dma_page ? s->dma_page : ps;
	if (dps < VFM_DIRTY_PAGE_MIN || dps & (dps - 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint64_t first = ranges[i].iova / dps;
		uint64_t last = (ranges[i].iova + ranges[i].length - 1) / dps;

		total += last - first + 1;
		if (total > SIM_DMA_PAGES_MAX)
			return -ENOSPC;
	}
	d = calloc(n, sizeof(*d));
	if (!d)
		return -ENOMEM;
	s->dma = d;
	s->dma_n = n;
	for (size_t i = 0; i < n; i++) {
		d[i].first = ranges[i].iova / dps;
		d[i].n = (ranges[i].iova + ranges[i].length - 1) / dps - d[i].first + 1;
		d[i].bits = calloc((d[i].n + 63) / 64, sizeof(uint64_t));
		if (!d[i].bits) {
			dma_free(s);
			return -ENOMEM;
		}
	}
	s->dma_on = true;
	s->dma_psize = dps;
	s->dma_writes = 0;
	*page_size = dps;
	vfm_dbg(dev->ctx, "%s: DMA logging %zu ranges, %llu device pages of %llu bytes",
		dev->id.name, n, (unsigned long long)total, (unsigned long long)dps);
	return 0;
}

/* The device's next write: dma-dirty's pages of every logged range. */
static void dma_write(struct sim *s)
{
	uint64_t want;

	s->dma_writes++;
	if (!s->dma_every)
		return;
	want = (s->dma_off + (s->dma_writes - 1) % s->dma_every) % s->dma_every;
	for (size_t i = 0; i < s->dma_n; i++) {
		struct sim_dma_range *d = &s->dma[i];
		/* the first page n >= first with n mod N == want */
		uint64_t skip =
			(want + s->dma_every - d->first % s->dma_every) % s->dma_every;

		for (uint64_t k = skip; k < d->n; k += s->dma_every)
			d->bits[k / 64] |= UINT64_C(1) << (k % 64);
	}
}

static int sim_dirty_report(struct vfm_device *dev, uint64_t iova, uint64_t length,
			    uint64_t page_size, uint64_t *bitmap)
{
	struct sim *s = dev->priv;
	uint64_t end, dps;

	if (!s->dma_logging)
		return -ENOTTY;
	if (page_size < VFM_DIRTY_PAGE_MIN || page_size & (page_size - 1))
		return -EINVAL;
	if (__builtin_add_overflow(iova, length, &end))
		return -EOVERFLOW;
	if (!s->dma_on)
		return -EINVAL;
	if (!length)
		return 0;
	dma_write(s);
	dps = s->dma_psize;
	for (size_t i = 0; i < s->dma_n; i++) {
		struct sim_dma_range *d = &s->dma[i];
		uint64_t p0 = MAX(d->first, iova / dps);
		uint64_t p1 = MIN(d->first + d->n, (end - 1) / dps + 1);

		for (uint64_t p = p0; p < p1; p++) {
			uint64_t k = p - d->first, *w = &d->bits[k / 64];
			uint64_t lo, hi;

			if (!*w) { /* a clean word: to its end */
				p += 63 - k % 64;
				continue;
			}
			if (!(*w & (UINT64_C(1) << (k % 64))))
				continue;
			*w &= ~(UINT64_C(1) << (k % 64));
			/* report pages the device page [p*dps, (p+1)*dps) meets */
			lo = MAX(p * dps, iova) - iova;
			hi = MIN(p * dps + (dps - 1), end - 1) - iova;
			for (uint64_t b = lo / page_size; b <= hi / page_size; b++)
				bitmap[b / 64] |= UINT64_C(1) << (b % 64);
		}
	}
	return 0;
}

static int sim_dirty_stop(struct vfm_device *dev)
{
	struct sim *s = dev->priv;

	if (!s->dma_logging)
		return -ENOTTY;
	if (!s->dma_on)
		return -EINVAL;
	dma_free(s);
	return 0;
}

static void sim_destroy(struct vfm_device *dev)
{
	struct sim *s = dev->priv;

	dma_free(s);
	free(s->body);
	free(dev->priv);
	dev->priv = NULL;
}

static const struct vfm_device_ops sim_ops = {
	.backend = "sim",
	.get_flags = sim_get_flags,
	.get_state = sim_get_state,
	.set_state = sim_set_state,
	.get_data_size = sim_get_data_size,
	.get_precopy_info = sim_get_precopy_info,
	.read = sim_read,
	.write = sim_write,
	.reset = sim_reset,
	.dirty_probe = sim_dirty_probe,
	.dirty_start = sim_dirty_start,
	.dirty_report = sim_dirty_report,
	.dirty_stop = sim_dirty_stop,
	.close_session = sim_close_session,
	.destroy = sim_destroy,
};

/* ------------------------------------------------------------------------- */
/* the spec                                                                  */

enum sim_key {
	KEY_FLAGS,
	KEY_NO_MIGRATION,
	KEY_SIZE,
	KEY_SEED,
	KEY_STATE,
	KEY_PRECOPY,
	KEY_DIRTY,
	KEY_DIRTY_ROUNDS,
	KEY_EXPECT_SEED,
	KEY_ARC_USEC,
	KEY_WRITE_MBPS,
	KEY_READ_MBPS,
	KEY_PRECOPY_EOF,
	KEY_REINIT,
	KEY_REINIT_AT,
	KEY_NO_PRECOPY_V2,
	KEY_TYPE,
	KEY_DRIVER,
	KEY_VENDOR,
	KEY_DEVICE,
	KEY_SUBSYSTEM_VENDOR,
	KEY_SUBSYSTEM_DEVICE,
	KEY_REVISION,
	KEY_FAIL_ARC,
	KEY_ERROR_ARC,
	KEY_FAIL_READ_AT,
	KEY_FAIL_WRITE_AT,
	KEY_CORRUPT_AT,
	KEY_FAIL_RESET,
	KEY_FAIL_GET,
	KEY_FAIL_SIZE,
	KEY_FAIL_SAVE,
	KEY_PF,
	KEY_VF,
	KEY_VF_TOKEN,
	KEY_DMA_DIRTY,
	KEY_DMA_PAGE,
	KEY_NO_DMA_LOGGING,
	_KEY_MAX,
};

assert_cc(_KEY_MAX <= 64); /* sim_spec.seen */

enum sim_value {
	VALUE_REQUIRED,
	VALUE_NONE,
	VALUE_OPTIONAL,
};

static const struct {
	const char *name;
	enum sim_value value;
} sim_keys[_KEY_MAX] = {
	[KEY_FLAGS] = {"flags", VALUE_REQUIRED},
	[KEY_NO_MIGRATION] = {"no-migration", VALUE_NONE},
	[KEY_SIZE] = {"size", VALUE_REQUIRED},
	[KEY_SEED] = {"seed", VALUE_REQUIRED},
	[KEY_STATE] = {"state", VALUE_REQUIRED},
	[KEY_PRECOPY] = {"precopy", VALUE_REQUIRED},
	[KEY_DIRTY] = {"dirty", VALUE_REQUIRED},
	[KEY_DIRTY_ROUNDS] = {"dirty-rounds", VALUE_REQUIRED},
	[KEY_EXPECT_SEED] = {"expect-seed", VALUE_REQUIRED},
	[KEY_ARC_USEC] = {"arc-usec", VALUE_REQUIRED},
	[KEY_WRITE_MBPS] = {"write-mbps", VALUE_REQUIRED},
	[KEY_READ_MBPS] = {"read-mbps", VALUE_REQUIRED},
	[KEY_PRECOPY_EOF] = {"precopy-eof", VALUE_NONE},
	[KEY_REINIT] = {"reinit", VALUE_REQUIRED},
	[KEY_REINIT_AT] = {"reinit-at", VALUE_REQUIRED},
	[KEY_NO_PRECOPY_V2] = {"no-precopy-v2", VALUE_NONE},
	[KEY_TYPE] = {"type", VALUE_REQUIRED},
	[KEY_DRIVER] = {"driver", VALUE_REQUIRED},
	[KEY_PF] = {"pf", VALUE_REQUIRED},
	[KEY_VF] = {"vf", VALUE_REQUIRED},
	[KEY_VF_TOKEN] = {"vf-token", VALUE_REQUIRED},
	[KEY_VENDOR] = {"vendor", VALUE_REQUIRED},
	[KEY_DEVICE] = {"device", VALUE_REQUIRED},
	[KEY_SUBSYSTEM_VENDOR] = {"subsystem-vendor", VALUE_REQUIRED},
	[KEY_SUBSYSTEM_DEVICE] = {"subsystem-device", VALUE_REQUIRED},
	[KEY_REVISION] = {"revision", VALUE_REQUIRED},
	[KEY_FAIL_ARC] = {"fail-arc", VALUE_REQUIRED},
	[KEY_ERROR_ARC] = {"error-arc", VALUE_REQUIRED},
	[KEY_FAIL_READ_AT] = {"fail-read-at", VALUE_REQUIRED},
	[KEY_FAIL_WRITE_AT] = {"fail-write-at", VALUE_REQUIRED},
	[KEY_CORRUPT_AT] = {"corrupt-at", VALUE_REQUIRED},
	[KEY_FAIL_RESET] = {"fail-reset", VALUE_OPTIONAL},
	[KEY_FAIL_GET] = {"fail-get", VALUE_OPTIONAL},
	[KEY_FAIL_SIZE] = {"fail-size", VALUE_OPTIONAL},
	[KEY_FAIL_SAVE] = {"fail-save", VALUE_REQUIRED},
	[KEY_DMA_DIRTY] = {"dma-dirty", VALUE_REQUIRED},
	[KEY_DMA_PAGE] = {"dma-page", VALUE_REQUIRED},
	[KEY_NO_DMA_LOGGING] = {"no-dma-logging", VALUE_NONE},
};

/* clang-format off */
static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ EIO, "EIO" },       { EINVAL, "EINVAL" },       { ENOMEM, "ENOMEM" },
	{ EFAULT, "EFAULT" }, { ENODEV, "ENODEV" },       { EBUSY, "EBUSY" },
	{ ETIMEDOUT, "ETIMEDOUT" }, { EPIPE, "EPIPE" },   { ENOSPC, "ENOSPC" },
	{ EAGAIN, "EAGAIN" },
};
/* clang-format on */

static const char *errno_name(int err)
{
	for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	return "errno";
}

static int parse_errno(const char *s, int *ret_err)
{
	for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
		if (streq(s, errno_names[i].name)) {
			*ret_err = errno_names[i].err;
			return 0;
		}
	return parse_int(s, 1, SIM_ERRNO_MAX, ret_err);
}

static bool valid_word(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	return strspn(s, SIM_WORD_CHARS) == n;
}

/* Split "A:B[:C]" in place; *ret_c is NULL when absent.  -EINVAL for other shapes. */
static int split_colons(char *s, char **ret_a, char **ret_b, char **ret_c)
{
	char *b = strchr(s, ':'), *c;

	if (!b)
		return -EINVAL;
	*b++ = '\0';
	c = strchr(b, ':');
	if (c) {
		*c++ = '\0';
		if (strchr(c, ':'))
			return -EINVAL;
	}
	*ret_a = s;
	*ret_b = b;
	*ret_c = c;
	return 0;
}

/* Convert a flags list with '+' into vfm_flags_parse()'s comma form. */
static int parse_sim_flags(const char *value, uint32_t *ret_flags)
{
	char buf[64];

	if (strcopy(buf, sizeof(buf), value) < 0)
		return -EINVAL;
	for (char *p = buf; *p; p++) {
		if (*p == ',')
			return -EINVAL;
		if (*p == '+')
			*p = ',';
	}
	return vfm_flags_parse(buf, ret_flags);
}

static void format_sim_flags(uint32_t flags, char *buf, size_t size)
{
	if (vfm_flags_format(flags, buf, size) < 0) {
		strcopy(buf, size, "?");
		return;
	}
	for (char *p = buf; *p; p++)
		if (*p == ',')
			*p = '+';
}

/* Parser state beyond struct sim: what the identity and cross-key checks need. */
struct sim_spec {
	const char *prefix; /* "sim:NAME", for messages */
	uint64_t seen;
	uint64_t seed;
	enum vfm_state state;
	uint8_t vf_token[16]; /* vf-token= */
};

/* "sim:a: invalid size '2T': expected ..." */
_printf_(5, 6) static int bad_value(struct vfm_ctx *ctx, const struct sim_spec *sp,
				    enum sim_key key, const char *value, const char *fmt,
				    ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return vfm_ctx_fail(ctx, -EINVAL, "%s: invalid %s '%s': %s", sp->prefix,
			    sim_keys[key].name, value, why);
}

static int parse_arc_value(struct vfm_ctx *ctx, const struct sim_spec *sp,
			   enum sim_key key, const char *value, bool with_errno,
			   struct sim_arc_fault *ret)
{
	char buf[64], *a, *b, *c;
	enum vfm_state from, to;
	int err = EIO;

	if (strcopy(buf, sizeof(buf), value) < 0 || split_colons(buf, &a, &b, &c) < 0 ||
	    (c && !with_errno))
		return bad_value(ctx, sp, key, value, "expected %s",
				 with_errno ? "FROM:TO[:ERRNO]" : "FROM:TO");
	if (vfm_state_from_name(a, &from) < 0 || from == S_ERR)
		return bad_value(ctx, sp, key, value, "'%s' is not a state", a);
	if (vfm_state_from_name(b, &to) < 0 || to == S_ERR)
		return bad_value(ctx, sp, key, value, "'%s' is not a state", b);
	if (c && parse_errno(c, &err) < 0)
		return bad_value(ctx, sp, key, value,
				 "'%s' is not an errno name (EIO, EINVAL...) or 1-%d", c,
				 SIM_ERRNO_MAX);
	*ret = (struct sim_arc_fault){.on = true, .from = from, .to = to, .err = err};
	return 0;
}

/* "VALUE[:ERRNO]": VALUE into @buf, ERRNO (default EIO) into *@ret_err. */
static int split_errno(struct vfm_ctx *ctx, const struct sim_spec *sp, enum sim_key key,
		       const char *value, bool with_errno, char buf[static 64], int *ret_err)
{
	char *colon;

	*ret_err = EIO;
	if (strcopy(buf, 64, value) < 0)
		return bad_value(ctx, sp, key, value, "too long");
	colon = strchr(buf, ':');
	if (colon) {
		*colon++ = '\0';
		if (!with_errno)
			return bad_value(ctx, sp, key, value, "expected a stream offset");
		if (parse_errno(colon, ret_err) < 0)
			return bad_value(
				ctx, sp, key, value,
				"'%s' is not an errno name (EIO, EINVAL...) or 1-%d",
				colon, SIM_ERRNO_MAX);
	}
	return 0;
}

static int parse_offset_value(struct vfm_ctx *ctx, const struct sim_spec *sp,
			      enum sim_key key, const char *value, bool with_errno,
			      struct sim_offset_fault *ret)
{
	char buf[64];
	uint64_t at;
	int err, r;

	r = split_errno(ctx, sp, key, value, with_errno, buf, &err);
	if (r < 0)
		return r;
	if (parse_size(buf, SIM_SIZE_MAX + VFM_SIM_HEADER_SIZE, &at) < 0)
		return bad_value(ctx, sp, key, value,
				 "'%s' is not a stream offset (at most 1T+32)", buf);
	*ret = (struct sim_offset_fault){.on = true, .at = at, .err = err};
	return 0;
}

/* "N[:ERRNO]", N >= 1: a count, not an offset (fail-save). */
static int parse_count_value(struct vfm_ctx *ctx, const struct sim_spec *sp,
			     enum sim_key key, const char *value, struct sim_offset_fault *ret)
{
	char buf[64];
	uint64_t n;
	int err, r;

	r = split_errno(ctx, sp, key, value, true, buf, &err);
	if (r < 0)
		return r;
	if (parse_u64(buf, 10, UINT32_MAX, &n) < 0 || n == 0)
		return bad_value(ctx, sp, key, value, "'%s' is not a count 1-%u", buf,
				 UINT32_MAX);
	*ret = (struct sim_offset_fault){.on = true, .at = n, .err = err};
	return 0;
}

static int parse_optional_errno(struct vfm_ctx *ctx, const struct sim_spec *sp,
				enum sim_key key, const char *value, int def,
				struct sim_fault *ret)
{
	int err = def;

	if (value && parse_errno(value, &err) < 0)
		return bad_value(ctx, sp, key, value,
				 "not an errno name (EIO, EINVAL...) or 1-%d",
				 SIM_ERRNO_MAX);
	*ret = (struct sim_fault){.on = true, .err = err};
	return 0;
}

static int parse_id_number(struct vfm_ctx *ctx, const struct sim_spec *sp,
			   enum sim_key key, const char *value, uint32_t max,
			   int32_t *ret)
{
	uint32_t v;

	if (parse_u32(value, 0, max, &v) < 0)
		return bad_value(ctx, sp, key, value, "expected a number 0-0x%x", max);
	*ret = (int32_t)v;
	return 0;
}

static int parse_key(struct vfm_ctx *ctx, struct sim_spec *sp, struct sim *s,
		     struct vfm_device_identity *id, enum sim_key key, const char *value)
{
	uint64_t v;

	switch (key) {
	case KEY_FLAGS:
		if (parse_sim_flags(value, &s->flags) < 0)
			return bad_value(ctx, sp, key, value,
					 "expected stop-copy[+p2p][+pre-copy]");
		if (!(s->flags & VFM_MIG_STOP_COPY))
			return bad_value(ctx, sp, key, value, "stop-copy is required");
		return 0;
	case KEY_NO_MIGRATION: s->migration = false; return 0;
	case KEY_NO_PRECOPY_V2: return 0; /* seen(): read at open */
	case KEY_SIZE:
	case KEY_PRECOPY:
	case KEY_DIRTY:
	case KEY_REINIT:
		if (parse_size(value, SIM_SIZE_MAX, &v) < 0)
			return bad_value(ctx, sp, key, value,
					 "expected a size N[K|M|G|T] of at most 1T");
		if (key == KEY_SIZE)
			s->size = v;
		else if (key == KEY_PRECOPY)
			s->precopy = v;
		else if (key == KEY_REINIT)
			s->reinit = v;
		else
			s->dirty = v;
		return 0;
	case KEY_REINIT_AT: {
		char copy[256], *save = NULL;
		unsigned n = 0;

		if (strlen(value) >= sizeof(copy))
			return bad_value(ctx, sp, key, value, "too long");
		strcopy(copy, sizeof(copy), value);
		for (char *t = strtok_r(copy, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
			if (n == SIM_REINIT_MAX || parse_size(t, SIM_SIZE_MAX, &v) < 0 || v == 0 ||
			    (n && v <= s->reinit_at[n - 1]))
				return bad_value(ctx, sp, key, value,
						 "expected up to 8 increasing offsets OFF[+OFF...]");
			s->reinit_at[n++] = v;
		}
		if (!n)
			return bad_value(ctx, sp, key, value, "expected an offset");
		return 0;
	}
	case KEY_DIRTY_ROUNDS:
		if (parse_u64(value, 10, SIM_ROUNDS_MAX, &s->dirty_rounds) < 0)
			return bad_value(ctx, sp, key, value, "expected a count 0-%llu",
					 (unsigned long long)SIM_ROUNDS_MAX);
		return 0;
	case KEY_SEED:
	case KEY_EXPECT_SEED:
		if (parse_u64(value, 0, UINT64_MAX, &v) < 0)
			return bad_value(ctx, sp, key, value, "expected a 64-bit number");
		if (key == KEY_SEED) {
			sp->seed = v;
		} else {
			s->expect_seed_on = true;
			s->expect_seed = v;
		}
		return 0;
	case KEY_STATE:
		if (vfm_state_from_name(value, &sp->state) < 0)
			return bad_value(ctx, sp, key, value, "not a state");
		return 0;
	case KEY_ARC_USEC:
		if (parse_u64(value, 10, SIM_ARC_USEC_MAX, &s->arc_usec) < 0)
			return bad_value(ctx, sp, key, value,
					 "expected 0-%llu microseconds",
					 (unsigned long long)SIM_ARC_USEC_MAX);
		return 0;
	case KEY_PRECOPY_EOF:
		s->precopy_eof = true;
		return 0;
	case KEY_WRITE_MBPS:
	case KEY_READ_MBPS: {
		uint64_t *mbps = key == KEY_READ_MBPS ? &s->read_mbps : &s->write_mbps;

		if (parse_u64(value, 10, 100000, mbps) < 0 || *mbps == 0)
			return bad_value(ctx, sp, key, value, "expected 1-100000 MB/s");
		return 0;
	}
	case KEY_TYPE:
	case KEY_DRIVER:
		if (!valid_word(value, SIM_STRING_MAX))
			return bad_value(ctx, sp, key, value,
					 "expected 1-%d characters of A-Z a-z 0-9 _ . -",
					 SIM_STRING_MAX);
		if (key == KEY_TYPE)
			strcopy(id->mdev_type, sizeof(id->mdev_type), value);
		else
			strcopy(id->driver, sizeof(id->driver), value);
		return 0;
	case KEY_PF:
		/* the netdev of a PF whose VF this simulated device stands for, so that
		 * save/restore carry that VF's network settings (vfiomig(8)) */
		if (!valid_word(value, 15))
			return bad_value(ctx, sp, key, value,
					 "expected a network interface name (1-15 characters)");
		strcopy(id->pf_netdev, sizeof(id->pf_netdev), value);
		return 0;
	case KEY_VF: {
		int vfi;

		if (parse_int(value, 0, 65535, &vfi) < 0)
			return bad_value(ctx, sp, key, value, "expected a VF index 0-65535");
		id->vf_index = vfi;
		return 0;
	}
	case KEY_VF_TOKEN:
		if (parse_uuid(value, sp->vf_token) < 0)
			return bad_value(ctx, sp, key, value, "expected a UUID");
		return 0;
	case KEY_VENDOR: return parse_id_number(ctx, sp, key, value, 0xffff, &id->vendor);
	case KEY_DEVICE: return parse_id_number(ctx, sp, key, value, 0xffff, &id->device);
	case KEY_SUBSYSTEM_VENDOR:
		return parse_id_number(ctx, sp, key, value, 0xffff,
				       &id->subsystem_vendor);
	case KEY_SUBSYSTEM_DEVICE:
		return parse_id_number(ctx, sp, key, value, 0xffff,
				       &id->subsystem_device);
	case KEY_REVISION:
		return parse_id_number(ctx, sp, key, value, 0xff, &id->revision);
	case KEY_FAIL_ARC:
		return parse_arc_value(ctx, sp, key, value, true, &s->fail_arc);
	case KEY_ERROR_ARC:
		return parse_arc_value(ctx, sp, key, value, false, &s->error_arc);
	case KEY_FAIL_READ_AT:
		return parse_offset_value(ctx, sp, key, value, true, &s->fail_read);
	case KEY_FAIL_WRITE_AT:
		return parse_offset_value(ctx, sp, key, value, true, &s->fail_write);
	case KEY_CORRUPT_AT:
		return parse_offset_value(ctx, sp, key, value, false, &s->corrupt);
	case KEY_FAIL_RESET:
		return parse_optional_errno(ctx, sp, key, value, EIO, &s->fail_reset);
	case KEY_FAIL_GET:
		return parse_optional_errno(ctx, sp, key, value, EIO, &s->fail_get);
	case KEY_FAIL_SIZE:
		return parse_optional_errno(ctx, sp, key, value, ENOTTY, &s->fail_size);
	case KEY_FAIL_SAVE:
		return parse_count_value(ctx, sp, key, value, &s->fail_save);
	case KEY_DMA_DIRTY: {
		char buf[64], *plus;

		if (strcopy(buf, sizeof(buf), value) < 0)
			return bad_value(ctx, sp, key, value, "too long");
		plus = strchr(buf, '+');
		if (plus)
			*plus++ = '\0';
		if (parse_u64(buf, 10, SIM_DMA_EVERY_MAX, &s->dma_every) < 0 ||
		    s->dma_every == 0)
			return bad_value(ctx, sp, key, value, "expected N[+K], N 1-%d",
					 SIM_DMA_EVERY_MAX);
		if (plus && parse_u64(plus, 10, s->dma_every - 1, &s->dma_off) < 0)
			return bad_value(ctx, sp, key, value, "K is 0 to N-1");
		return 0;
	}
	case KEY_DMA_PAGE:
		if (parse_size(value, VFM_DIRTY_PAGE_MAX, &v) < 0 ||
		    v < VFM_DIRTY_PAGE_MIN || (v & (v - 1)))
			return bad_value(ctx, sp, key, value,
					 "expected a power of two from 4K to 1G");
		s->dma_page = v;
		return 0;
	case KEY_NO_DMA_LOGGING: s->dma_logging = false; return 0;
	case _KEY_MAX: break;
	}
	return -EINVAL;
}

static bool seen(const struct sim_spec *sp, enum sim_key key)
{
	return sp->seen & (UINT64_C(1) << key);
}

/* Checks that involve several keys, once all are known. */
static int check_spec(struct vfm_ctx *ctx, const struct sim_spec *sp, const struct sim *s)
{
	static const enum sim_key need_pre_copy[] = {KEY_PRECOPY, KEY_DIRTY,
						     KEY_DIRTY_ROUNDS, KEY_REINIT, KEY_REINIT_AT};
	const struct {
		enum sim_key key;
		const struct sim_offset_fault *f;
		uint64_t max;
	} offsets[] = {
		{KEY_FAIL_READ_AT, &s->fail_read, image_size(s)},
		{KEY_FAIL_WRITE_AT, &s->fail_write, image_size(s) - 1},
		{KEY_CORRUPT_AT, &s->corrupt, image_size(s) - 1},
	};
	const struct {
		enum sim_key key;
		const struct sim_arc_fault *f;
	} arcs[] = {
		{KEY_FAIL_ARC, &s->fail_arc},
		{KEY_ERROR_ARC, &s->error_arc},
	};
	char flags[64];

	format_sim_flags(s->flags, flags, sizeof(flags));
	if (!s->migration && (seen(sp, KEY_FLAGS) || seen(sp, KEY_STATE)))
		return vfm_ctx_fail(ctx, -EINVAL, "%s: no-migration excludes %s",
				    sp->prefix, seen(sp, KEY_FLAGS) ? "flags" : "state");
	if (!has_state(s->flags, sp->state) && sp->state != S_ERR)
		return vfm_ctx_fail(ctx, -EINVAL,
				    "%s: state %s is not a state of flags %s", sp->prefix,
				    vfm_state_name(sp->state), flags);
	for (size_t i = 0; i < ELEMENTSOF(need_pre_copy); i++)
		if (seen(sp, need_pre_copy[i]) && !(s->flags & VFM_MIG_PRE_COPY))
			return vfm_ctx_fail(ctx, -EINVAL,
					    "%s: %s needs flags with pre-copy",
					    sp->prefix, sim_keys[need_pre_copy[i]].name);
	if (s->precopy > s->size)
		return vfm_ctx_fail(ctx, -EINVAL, "%s: precopy %llu exceeds size %llu",
				    sp->prefix, (unsigned long long)s->precopy,
				    (unsigned long long)s->size);
	for (size_t i = 0; i < ELEMENTSOF(offsets); i++)
		if (offsets[i].f->on && offsets[i].f->at > offsets[i].max)
			return vfm_ctx_fail(ctx, -EINVAL,
					    "%s: %s %llu is beyond the %llu-byte image",
					    sp->prefix, sim_keys[offsets[i].key].name,
					    (unsigned long long)offsets[i].f->at,
					    (unsigned long long)image_size(s));
	for (size_t i = 0; i < ELEMENTSOF(arcs); i++)
		if (arcs[i].f->on &&
		    !arc_exists(s->flags, arcs[i].f->from, arcs[i].f->to))
			return vfm_ctx_fail(ctx, -EINVAL,
					    "%s: %s: %s -> %s is not an arc of flags %s",
					    sp->prefix, sim_keys[arcs[i].key].name,
					    vfm_state_name(arcs[i].f->from),
					    vfm_state_name(arcs[i].f->to), flags);
	if (!s->dma_logging && (seen(sp, KEY_DMA_DIRTY) || seen(sp, KEY_DMA_PAGE)))
		return vfm_ctx_fail(ctx, -EINVAL, "%s: no-dma-logging excludes %s",
				    sp->prefix,
				    seen(sp, KEY_DMA_DIRTY) ? "dma-dirty" : "dma-page");
	if (s->fail_arc.on && s->error_arc.on && s->fail_arc.from == s->error_arc.from &&
	    s->fail_arc.to == s->error_arc.to)
		return vfm_ctx_fail(ctx, -EINVAL,
				    "%s: fail-arc and error-arc name the same arc",
				    sp->prefix);
	return 0;
}

static uint64_t fnv1a64(const char *s, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t vfm_sim_default_seed(const char *name)
{
	if (strncmp(name, "sim:", 4) == 0)
		name += 4;
	return fnv1a64(name, strcspn(name, ","));
}

int vfm_sim_open(struct vfm_ctx *ctx, const char *spec, struct vfm_device **ret_dev)
{
	_cleanup_free_ struct sim *s = NULL;
	struct vfm_device_identity id = {
		.kind = VFM_DEVICE_SIM,
		.driver = "vfiomig-sim",
		.vendor = 0x1af4,
		.device = 0x10f0,
		.subsystem_vendor = 0x1af4,
		.subsystem_device = 0x0001,
		.revision = 0x01,
		.iommu_group = -1,
	};
	struct sim_spec sp = {.state = S_RUN};
	char buf[VFM_NAME_MAX], *name, *next;
	struct vfm_device *dev;
	size_t n;
	int r;

	if (!ctx || !spec || !ret_dev)
		return -EINVAL;
	n = strnlen(spec, VFM_NAME_MAX);
	if (n >= VFM_NAME_MAX)
		return vfm_ctx_fail(ctx, -ENAMETOOLONG,
				    "device name longer than %d bytes", VFM_NAME_MAX - 1);
	if (strncmp(spec, "sim:", 4) != 0)
		return vfm_ctx_fail(ctx, -EINVAL, "'%s' is not a sim: device", spec);
	memcpy(buf, spec, n + 1);

	name = buf + 4;
	next = strchr(name, ',');
	if (next)
		*next++ = '\0';
	if (!valid_word(name, SIM_NAME_MAX))
		return vfm_ctx_fail(
			ctx, -EINVAL,
			"'%s': a simulated device's name is 1-%d characters of "
			"A-Z a-z 0-9 _ . -",
			spec, SIM_NAME_MAX);
	snprintf(id.name, sizeof(id.name), "sim:%s", name);
	sp.prefix = id.name;
	sp.seed = vfm_sim_default_seed(name);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->migration = true;
	s->dma_logging = true;
	s->flags = VFM_MIG_ALL;
	s->size = SIM_DEFAULT_SIZE;

	while (next) {
		char *item = next, *value;
		int key = -1;

		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		value = strchr(item, '=');
		if (value)
			*value++ = '\0';
		if (!*item)
			return vfm_ctx_fail(ctx, -EINVAL, "%s: empty key", id.name);
		for (int k = 0; k < _KEY_MAX; k++)
			if (streq(item, sim_keys[k].name))
				key = k;
		if (key < 0)
			return vfm_ctx_fail(ctx, -EINVAL, "%s: unknown key '%.32s'",
					    id.name, item);
		if (seen(&sp, key))
			return vfm_ctx_fail(ctx, -EINVAL, "%s: duplicate key '%s'",
					    id.name, item);
		sp.seen |= UINT64_C(1) << key;
		if (value && sim_keys[key].value == VALUE_NONE)
			return vfm_ctx_fail(ctx, -EINVAL, "%s: key '%s' takes no value",
					    id.name, item);
		if (!value && sim_keys[key].value == VALUE_REQUIRED)
			return vfm_ctx_fail(ctx, -EINVAL, "%s: key '%s' needs a value",
					    id.name, item);
		r = parse_key(ctx, &sp, s, &id, key, value);
		if (r < 0)
			return r;
	}
	if (!seen(&sp, KEY_PRECOPY))
		s->precopy = s->size / 4;
	/* reinit= alone: once, when the first initial bytes are read; reinit-at= alone:
	 * 64K each time */
	if (seen(&sp, KEY_REINIT) && !seen(&sp, KEY_REINIT_AT))
		s->reinit_at[0] = VFM_SIM_HEADER_SIZE + s->precopy;
	if (seen(&sp, KEY_REINIT_AT) && !seen(&sp, KEY_REINIT))
		s->reinit = 64u << 10;
	r = check_spec(ctx, &sp, s);
	if (r < 0)
		return r;

	/* A VF of a PF bound to vfio-pci: the kernel's token check at open. */
	if (seen(&sp, KEY_VF_TOKEN) &&
	    (!ctx->has_vf_token || memcmp(ctx->vf_token, sp.vf_token, 16) != 0))
		return vfm_ctx_vf_token_refused(ctx, id.name, "sim-pf", ctx->has_vf_token);

	s->seed = sp.seed;
	s->state = sp.state;
	if (vfm_state_is_saving(s->state))
		session_open_save(s, s->state);
	else if (s->state == S_RES)
		session_open_resume(s);

	dev = vfm_device_alloc(ctx, &sim_ops);
	if (!dev)
		return -ENOMEM;
	dev->id = id;
	/* the precopy info v2 opt-in, as on a 7.1 kernel: a device with PRE_COPY takes it */
	dev->precopy_v2 = (s->flags & VFM_MIG_PRE_COPY) && s->migration &&
			  !seen(&sp, KEY_NO_PRECOPY_V2);
	dev->priv = TAKE_PTR(s);
	*ret_dev = dev;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* introspection (sim.h)                                                     */

int vfm_sim_image_seed(const struct vfm_device *dev, uint64_t *ret_seed)
{
	const struct sim *s = sim_of(dev);

	if (!s)
		return -ENOTTY;
	*ret_seed = s->seed;
	return 0;
}

int vfm_sim_loaded_seed(const struct vfm_device *dev, uint64_t *ret_seed)
{
	const struct sim *s = sim_of(dev);

	if (!s)
		return -ENOTTY;
	if (!s->loaded)
		return -ENODATA;
	*ret_seed = s->loaded_seed;
	return 0;
}

int vfm_sim_write_stats(const struct vfm_device *dev, struct vfm_sim_write_stats *ret)
{
	const struct sim *s = sim_of(dev);

	if (!s)
		return -ENOTTY;
	*ret = s->wstats;
	return 0;
}

int vfm_sim_last_path(const struct vfm_device *dev, enum vfm_state path[VFM_PLAN_MAX],
		      size_t *ret_len)
{
	const struct sim *s = sim_of(dev);

	if (!s)
		return -ENOTTY;
	memcpy(path, s->path, s->path_len * sizeof(path[0]));
	*ret_len = s->path_len;
	return 0;
}

int vfm_sim_set_state_raw(struct vfm_device *dev, enum vfm_state state)
{
	bool new_session;
	int data_fd;

	if (!sim_of(dev))
		return -ENOTTY;
	return sim_set_state(dev, state, &new_session, &data_fd);
}
