/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * libvfiomig: move the state of VFIO devices with the VFIO migration v2 uAPI.
 *
 * What a VMM does with it: a context (vfm_ctx_new()); its devices opened by name or
 * by the fd it already holds (vfm_device_open(), vfm_device_open_fd()); an endpoint
 * from a URI or an fd (vfm_endpoint_open(), vfm_endpoint_open_fd(), a listener on
 * the destination, TLS optional); then vfm_save() on the source and vfm_restore() on
 * the destination, with a progress callback, a cancel fd and a report.
 * examples/vmm-save-restore.c does all of it with simulated devices.
 *
 * Conventions: functions return 0 (or a count) on success and a negative errno on
 * failure; out-parameters named ret_* are written only on success.  The library never
 * prints: it logs at debug level through the context's log function, and callers
 * report errors once.  Objects are reference counted (*_unref()) or owned by one
 * caller (*_free(), *_close()); all of these accept NULL.  Strings returned are owned
 * by the object they come from, valid while it lives.  Nothing is global: objects of
 * different contexts may be used from different threads; one object needs the
 * caller's serialisation unless its functions say otherwise.
 *
 * ABI: the shared library exports exactly the functions declared here, under the
 * symbol version LIBVFIOMIG_0.1; docs/abi.md says when the soname changes.  Structs
 * the caller fills in (options) and those the library writes into caller memory
 * (reports) carry their size and only ever grow at the end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VFM_VERSION "0.1.0"

/* ------------------------------------------------------------------------- */
/* states and flags                                                          */

/* Our names for the migration states.  Values equal the kernel's, but code maps them
 * with a switch, never a cast. */
enum vfm_state {
	VFM_STATE_ERROR = 0,
	VFM_STATE_STOP = 1,
	VFM_STATE_RUNNING = 2,
	VFM_STATE_STOP_COPY = 3,
	VFM_STATE_RESUMING = 4,
	VFM_STATE_RUNNING_P2P = 5,
	VFM_STATE_PRE_COPY = 6,
	VFM_STATE_PRE_COPY_P2P = 7,
	VFM_STATE_MAX = 8,
};

/* Migration feature flags (VFIO_MIGRATION_*). */
enum {
	VFM_MIG_STOP_COPY = 1u << 0,
	VFM_MIG_P2P = 1u << 1,
	VFM_MIG_PRE_COPY = 1u << 2,
	VFM_MIG_ALL = VFM_MIG_STOP_COPY | VFM_MIG_P2P | VFM_MIG_PRE_COPY,
};

/**
 * vfm_state_name() - the upper-case name of a state ("RUNNING_P2P").
 * Returns a static string, or NULL for a value out of range.
 */
const char *vfm_state_name(enum vfm_state state);

/**
 * vfm_state_from_name() - parse a state name, case-insensitive; '-' and '_' are
 * equivalent ("running-p2p").  Returns 0, or -EINVAL for an unknown name.
 */
int vfm_state_from_name(const char *name, enum vfm_state *ret_state);

/**
 * vfm_flags_format() - write flags as "stop-copy,p2p,pre-copy" ("none" for 0).
 * Returns the length written, or -ENOBUFS when @size is too small.
 */
int vfm_flags_format(uint32_t flags, char *buf, size_t size);

/**
 * vfm_flags_parse() - parse a comma-separated flag list ("stop-copy,p2p").
 * Returns 0, or -EINVAL naming no known flag (an empty list is invalid).
 */
int vfm_flags_parse(const char *s, uint32_t *ret_flags);

/* ------------------------------------------------------------------------- */
/* fsm                                                                       */

/* Longest plan the planner can produce (the arc graph is small: 4 arcs suffice). */
#define VFM_PLAN_MAX 8

/**
 * vfm_fsm_state_supported() - whether a device with @flags has @state.
 * ERROR is "supported" (every device can fall into it) but never a valid target.
 * False for every state when @flags lack STOP_COPY or hold unknown bits.
 */
bool vfm_fsm_state_supported(uint32_t flags, enum vfm_state state);

/**
 * vfm_fsm_arc_valid() - whether @from -> @to is a single arc a driver with @flags
 * implements, and one vfiomig is willing to request (never STOP_COPY -> PRE_COPY*).
 */
bool vfm_fsm_arc_valid(uint32_t flags, enum vfm_state from, enum vfm_state to);

/**
 * vfm_fsm_plan() - shortest path of single arcs from @from to @to for @flags.
 * @path receives the states after each arc (@from excluded, @to last); *@ret_len is
 * the number of arcs (0 when @from == @to).  A plan crosses the border of the saving
 * group (PRE_COPY, PRE_COPY_P2P, STOP_COPY) at most once: between two saving states
 * it stays inside the group, so the data session carries on (PRE_COPY ->
 * PRE_COPY_P2P -> STOP_COPY with P2P); any other plan has saving states only at its
 * ends.  The plan is the walk the kernel's vfio_mig_get_next_state() would take.
 * @path and *@ret_len are written only on success.
 *
 * Errors: -EINVAL: @flags lack STOP_COPY or hold unknown bits, or a state is out of
 * range; -EOPNOTSUPP: @to or @from is not a state of this device, or @to is ERROR;
 * -ENOENT: no path exists (from ERROR, or STOP_COPY -> PRE_COPY*).
 */
int vfm_fsm_plan(uint32_t flags, enum vfm_state from, enum vfm_state to,
		 enum vfm_state path[VFM_PLAN_MAX], size_t *ret_len);

/* ------------------------------------------------------------------------- */
/* context                                                                   */

struct vfm_ctx;

enum vfm_log_level {
	VFM_LOG_ERR = 3,
	VFM_LOG_WARNING = 4,
	VFM_LOG_INFO = 6,
	VFM_LOG_DEBUG = 7,
};

typedef void (*vfm_log_fn)(void *userdata, enum vfm_log_level level, const char *msg);

/**
 * vfm_ctx_new() - a new library context (refcount 1).  The context owns the VFIO
 * container and the group files shared by every device opened through it.
 * Returns 0 or -ENOMEM.
 */
int vfm_ctx_new(struct vfm_ctx **ret_ctx);

/** vfm_ctx_ref() - take a reference; returns @ctx. */
struct vfm_ctx *vfm_ctx_ref(struct vfm_ctx *ctx);

/**
 * vfm_ctx_unref() - drop a reference (NULL is fine); returns NULL.  Each device
 * holds a reference to its context, so the container lives as long as its devices.
 */
struct vfm_ctx *vfm_ctx_unref(struct vfm_ctx *ctx);

/** vfm_ctx_set_log() - route library debug messages; @fn NULL silences them. */
void vfm_ctx_set_log(struct vfm_ctx *ctx, enum vfm_log_level max_level, vfm_log_fn fn,
		     void *userdata);

/**
 * vfm_ctx_set_sysfs_root() - read sysfs and /dev below @root instead of "/" (tests).
 * Returns 0, -EINVAL for a relative path, -ENOMEM.
 */
int vfm_ctx_set_sysfs_root(struct vfm_ctx *ctx, const char *root);

/**
 * vfm_ctx_set_vf_token() - the VF token to present when devices are opened through
 * @ctx from now on.  A PF bound to vfio-pci (or a variant driver) guards its VFs
 * with a shared secret, a UUID its owner sets (vfm_device_set_vf_token()): none of
 * its VFs opens without it, and the PF itself needs it while VFs are open.  The
 * token goes to the kernel for those devices only: in the device name on the group
 * path ("0000:04:10.0 vf_token=UUID"), with VFIO_DEVICE_BIND_FLAG_TOKEN on the cdev
 * path (Linux 6.17+; older kernels take none there: -EOPNOTSUPP from the open).
 * Other devices opened through @ctx (mdevs, a VF whose PF has another driver) open
 * as before, since the kernel refuses a token they do not take.  Presented to such a
 * PF while none of its VFs is open, the token becomes the PF's (the kernel's rule).
 * @uuid: "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3" (either case; copied), NULL to
 * present none again.  Returns 0, -EINVAL @uuid is not a UUID (nothing changed).
 * A refused token fails vfm_device_open() with -EACCES, and vfm_ctx_last_error()
 * says "VF token required" or "wrong VF token" with the device's name.
 */
int vfm_ctx_set_vf_token(struct vfm_ctx *ctx, const char *uuid);

/* ------------------------------------------------------------------------- */
/* device access                                                             */

struct vfm_device;

enum vfm_device_kind {
	VFM_DEVICE_PCI,
	VFM_DEVICE_MDEV,
	VFM_DEVICE_FD,  /* an inherited fd: identity unknown unless sysfs tells */
	VFM_DEVICE_SIM,
};

#define VFM_NAME_MAX 256

/* What sysfs (or the simulator) says about a device.  Unknown numbers are -1,
 * unknown strings empty. */
struct vfm_device_identity {
	enum vfm_device_kind kind;
	char name[VFM_NAME_MAX];       /* canonical: 0000:3b:00.1, UUID, sim:NAME, fd:N */
	char sysfs_path[VFM_NAME_MAX]; /* resolved /sys/devices/... path, or "" */
	char driver[64];
	char mdev_type[64];            /* e.g. "mtty-2" */
	int32_t vendor, device, subsystem_vendor, subsystem_device, revision;
	int32_t iommu_group;
	/* A simulated device standing for a network VF (sim keys pf=, vf=): the PF's
	 * netdev and the VF index.  "" and -1 otherwise (a real VF is found in sysfs). */
	char pf_netdev[16];
	int32_t vf_index;
};

/**
 * vfm_device_open() - open a VFIO device by name:
 *   "0000:3b:00.1" or "3b:00.1"        PCI function bound to a vfio driver
 *   "<uuid>"                           mdev
 *   "/sys/..."                         sysfs device path (PCI function or mdev)
 *   "/dev/vfio/N:NAME"                 group N and the device name within it
 *   "/dev/vfio/devices/vfioN"          cdev, bound through /dev/iommu
 *   "fd:N"                             device fd inherited from a parent
 *   "sim:NAME[,key=value...]"          simulated device (see vfiomig(8))
 * Several devices opened through one context share one container; each group file
 * is opened once.
 *
 * Errors: -ENOENT no such device; -ENODEV not bound to a vfio driver (or /dev/vfio
 * absent); -EBUSY the group is open in another process; -EINVAL bad name;
 * others from the kernel.  On failure vfm_ctx_last_error() explains.
 */
int vfm_device_open(struct vfm_ctx *ctx, const char *name, struct vfm_device **ret_dev);

/**
 * vfm_device_open_fd() - open the VFIO device behind @fd, a device fd the caller
 * already holds (a VMM: a cdev fd bound to its iommufd, or one from
 * VFIO_GROUP_GET_DEVICE_FD): vfm_device_open() of "fd:@fd" or "fd:@fd:@name".  The
 * device keeps its own duplicate; @fd stays the caller's.  @name (may be NULL) is the
 * device as sysfs knows it (PCI address, mdev UUID, /sys path): the identity (IDs,
 * driver) that the destination's compatibility check compares comes from there;
 * without it, from the cdev's sysfs node when @fd is a cdev, else the identity is
 * only "fd:N".  The fd is not checked here to be a VFIO device: a query on it fails.
 * Errors: -EBADF @fd is not open; -EINVAL @fd negative or @name empty;
 * -ENAMETOOLONG @name longer than VFM_NAME_MAX; those of sysfs for @name (-ENOENT).
 */
int vfm_device_open_fd(struct vfm_ctx *ctx, int fd, const char *name,
		       struct vfm_device **ret_dev);

/**
 * vfm_device_set_vf_token() - set the VF token of @pf, an SR-IOV PF bound to vfio-pci
 * that the caller has open (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN): from now on its VFs
 * open only with @uuid (see vfm_ctx_set_vf_token()); VFs already open stay open.  The
 * kernel keeps the token after @pf closes, until it is set again or the PF unbinds.
 * Errors: -EINVAL @uuid is not a UUID; -ENOTTY @pf is not a PF whose driver keeps a
 * VF token (not an SR-IOV PF, another driver, a simulated device, or an open of @pf
 * whose owner is not vfio-pci); others from the kernel.
 */
int vfm_device_set_vf_token(struct vfm_device *pf, const char *uuid);

/** vfm_device_ref() - take a reference; returns @dev. */
struct vfm_device *vfm_device_ref(struct vfm_device *dev);

/**
 * vfm_device_unref() - drop a reference (NULL is fine); returns NULL.  The last one
 * closes the data fd and the device fd; the kernel then resets the device to
 * RUNNING.  A VMM that saved its devices keeps them open until it no longer needs
 * their state here.
 */
struct vfm_device *vfm_device_unref(struct vfm_device *dev);

/**
 * vfm_ctx_last_error() - a human sentence about the last failure of
 * vfm_device_open() on this context (thread: the caller's), or "" if none.
 */
const char *vfm_ctx_last_error(struct vfm_ctx *ctx);

/** vfm_device_ctx() - the context @dev was opened through (not referenced). */
struct vfm_ctx *vfm_device_ctx(const struct vfm_device *dev);

/** vfm_device_name() - canonical name, for messages.  Never NULL. */
const char *vfm_device_name(const struct vfm_device *dev);

/** vfm_device_identity() - what sysfs says about @dev; owned by @dev.  Never NULL. */
const struct vfm_device_identity *vfm_device_identity(const struct vfm_device *dev);

/**
 * vfm_device_get_flags() - migration flags (VFM_MIG_*).
 * Errors: -ENOTTY the device has no migration support.
 */
int vfm_device_get_flags(struct vfm_device *dev, uint32_t *ret_flags);

/** vfm_device_get_state() - current state as the driver reports it. */
int vfm_device_get_state(struct vfm_device *dev, enum vfm_state *ret_state);

/**
 * vfm_device_set_state() - request one state change (one ioctl).  The caller is
 * expected to request single arcs (see vfm_fsm_plan()); the library refuses
 * STOP_COPY -> PRE_COPY* (-EINVAL without calling the driver) because some kernels
 * hang on it.  When the change starts a data session (entering the saving group or
 * RESUMING), the device keeps the new data fd; *@ret_data_fd (may be NULL) receives
 * it, owned by the device (-1 for a simulated device, or when no new session).
 * Leaving the saving group or RESUMING closes the session.
 * On failure the state may be anything along the way, or ERROR: get it again.
 */
int vfm_device_set_state(struct vfm_device *dev, enum vfm_state state, int *ret_data_fd);

/**
 * vfm_device_get_data_size() - the driver's estimate of STOP_COPY data
 * (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE).  -ENOTTY when the driver lacks it.
 */
int vfm_device_get_data_size(struct vfm_device *dev, uint64_t *ret_bytes);

/**
 * vfm_device_get_precopy_info() - initial and dirty bytes pending (only in PRE_COPY
 * or PRE_COPY_P2P with an open data session; -EINVAL otherwise, -ENOTTY on a
 * RESUMING session, as the kernel answers).
 */
int vfm_device_get_precopy_info(struct vfm_device *dev, uint64_t *ret_initial,
				uint64_t *ret_dirty);

/* vfm_precopy_info.flags: the device has new initial data (VFIO_PRECOPY_INFO_REINIT,
 * Linux 7.1+): initial_bytes starts again from any value and dirty_bytes from zero. */
#define VFM_PRECOPY_REINIT (1u << 0)

struct vfm_precopy_info {
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
	uint32_t flags; /* VFM_PRECOPY_* */
};

/**
 * vfm_device_get_precopy() - vfm_device_get_precopy_info() with the flags.  The
 * library opts in to VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 on every open of a device
 * (the kernel clears it on close); where that is refused (kernels before 7.1, a device
 * without PRE_COPY) flags is always 0.  Errors as vfm_device_get_precopy_info();
 * @ret is written only on success.
 */
int vfm_device_get_precopy(struct vfm_device *dev, struct vfm_precopy_info *ret);

/**
 * vfm_device_precopy_v2() - whether the opt-in above took on this device's open.
 */
bool vfm_device_precopy_v2(const struct vfm_device *dev);

/**
 * vfm_device_read() - read migration data from the open session.
 * Returns the byte count; 0 at the end of STOP_COPY data; -ENOMSG in PRE_COPY when
 * nothing is pending now; -EBADF when no session is open; -errno otherwise.
 */
ssize_t vfm_device_read(struct vfm_device *dev, void *buf, size_t size);

/**
 * vfm_device_write() - write migration data in RESUMING.  Returns bytes written
 * (possibly fewer than @size), or -errno (-ENOMEM: more than the device accepts).
 */
ssize_t vfm_device_write(struct vfm_device *dev, const void *buf, size_t size);

/**
 * vfm_device_fd() - the VFIO device fd (kernel backend), owned by @dev: for region
 * access by the caller, or to hand the device to a child as fd:N.  -EOPNOTSUPP for a
 * simulated device.
 */
int vfm_device_fd(const struct vfm_device *dev);

/** vfm_device_data_fd() - the open session's fd, -EBADF if none, -EOPNOTSUPP (sim). */
int vfm_device_data_fd(const struct vfm_device *dev);

/**
 * vfm_device_reset() - VFIO_DEVICE_RESET: back to RUNNING from any state (ERROR,
 * RESUMING, STOP_COPY...).  Closes any data session.  -ENOTTY: the reset failed
 * and the device has no reset method (VFIO_DEVICE_FLAGS_RESET unset).
 */
int vfm_device_reset(struct vfm_device *dev);

/* ------------------------------------------------------------------------- */
/* DMA dirty logging                                                         */

/*
 * A device's own record of the pages it wrote by DMA (VFIO_DEVICE_FEATURE_DMA_LOGGING_
 * START / REPORT / STOP), which a VMM that live-migrates a guest reads alongside its
 * own dirty tracking of guest memory.  Logging belongs to the open device: it starts
 * and stops on this struct vfm_device (on the fd a VMM handed over, for fd:N), and
 * vfm_device_unref() of the last reference stops logging that is still on.  Logging
 * is independent of the migration state.
 *
 * Threads: these calls touch only the device fd and the logging state, which jobs do
 * not use, so a VMM may call them while vfm_save() has the device (from its own
 * thread, or from the on_quiesced hook: the last pass over guest memory).  Two of
 * them on one device need the caller's serialisation.
 *
 * A bitmap has one bit per page of the report's page size, page i (the page at
 * iova + i * page_size) in bit i % 64 of the 64-bit word i / 64, in the host's byte
 * order: the kernel's layout.  A report reads and clears: a page reported dirty is
 * clean afterwards until the device writes it again.  After a failed report, treat
 * the whole range as dirty (the kernel's rule: the log may be lost).
 *
 * Errors of these calls, with err->msg (if @err is not NULL) a sentence that names
 * the device, written only on failure:
 * -EOPNOTSUPP the driver has no DMA logging (the kernel's ENOTTY), or the kernel
 * cannot report (EOPNOTSUPP: a kernel built without CONFIG_IOMMUFD_DRIVER starts
 * logging but reports nothing); -EALREADY logging started already on this device;
 * -EINVAL logging not started (report, stop), a page size that is not a power of two
 * from VFM_DIRTY_PAGE_MIN to VFM_DIRTY_PAGE_MAX, an empty, unaligned or overlapping
 * range; -E2BIG more than VFM_DIRTY_RANGES_MAX ranges, a range longer than
 * VFM_DIRTY_RANGE_MAX, a bitmap above VFM_DIRTY_BITMAP_MAX; -EOVERFLOW iova + length
 * past 2^64; -ERANGE a report outside the logged ranges; -ENOBUFS the bitmap is
 * smaller than the report needs; the driver's -errno otherwise.
 */

#define VFM_DIRTY_RANGES_MAX 256		 /* ranges in one start (a kernel page) */
#define VFM_DIRTY_RANGE_MAX  (UINT64_C(1) << 48) /* bytes of one range: 256 TiB */
#define VFM_DIRTY_PAGE_MIN   UINT64_C(4096)	 /* page sizes: powers of two */
#define VFM_DIRTY_PAGE_MAX   (UINT64_C(1) << 30)
#define VFM_DIRTY_BITMAP_MAX (UINT64_C(1) << 30) /* bytes of one report's bitmap */
#define VFM_DIRTY_ERR_MAX    256

struct vfm_dirty_range {
	uint64_t iova;
	uint64_t length; /* bytes */
};

struct vfm_dirty_err {
	char msg[VFM_DIRTY_ERR_MAX];
};

/**
 * vfm_device_dirty_probe() - whether @dev's driver has DMA dirty logging
 * (VFIO_DEVICE_FEATURE_PROBE of DMA_LOGGING_START): 0 yes, -EOPNOTSUPP no, -errno.
 * A kernel that can start but not report (see above) probes as yes.
 */
int vfm_device_dirty_probe(struct vfm_device *dev, struct vfm_dirty_err *err);

/**
 * vfm_device_dirty_start() - start logging the DMA writes of @dev to @n ranges of
 * IOVA, with @page_size as the granularity asked for.  The ranges must not overlap;
 * each starts and ends on a multiple of @page_size.  The driver may pick another page
 * size: *@ret_page_size (may be NULL) receives the one it uses, and reports made with
 * page_size 0 use it.  @ranges are copied.  Errors: see above.
 */
int vfm_device_dirty_start(struct vfm_device *dev, const struct vfm_dirty_range *ranges,
			   size_t n, uint64_t page_size, uint64_t *ret_page_size,
			   struct vfm_dirty_err *err);

/**
 * vfm_dirty_bitmap_size() - bytes of the bitmap a report of @length bytes in
 * @page_size pages needs: whole 64-bit words, one bit a page.  Returns 0, or -EINVAL
 * (@length 0 or not a multiple of @page_size, @page_size not a power of two from
 * VFM_DIRTY_PAGE_MIN to VFM_DIRTY_PAGE_MAX), -E2BIG (above VFM_DIRTY_BITMAP_MAX).
 */
int vfm_dirty_bitmap_size(uint64_t length, uint64_t page_size, uint64_t *ret_bytes);

/**
 * vfm_device_dirty_report() - read and clear the pages @dev wrote in
 * [@iova, @iova + @length), which must lie inside the logged ranges, into @bitmap
 * (@bitmap_size bytes of caller memory, 8-byte aligned), one bit per @page_size page
 * (0: the page size the driver chose at start; any other power of two from
 * VFM_DIRTY_PAGE_MIN to VFM_DIRTY_PAGE_MAX also works: the driver spreads or merges
 * its own pages).  @iova and @length are multiples of the page size.  The library
 * zeroes the vfm_dirty_bitmap_size() bytes it reports into first (the kernel only ever
 * sets bits); the rest of @bitmap is not touched.  Returns the number of dirty pages
 * in the bitmap, or -errno (see above; -EINVAL also for a misaligned @bitmap).
 */
int64_t vfm_device_dirty_report(struct vfm_device *dev, uint64_t iova, uint64_t length,
				uint64_t page_size, uint64_t *bitmap, size_t bitmap_size,
				struct vfm_dirty_err *err);

/**
 * vfm_device_dirty_stop() - stop logging on @dev.  Returns 0, -EINVAL when logging
 * is not started here, or the driver's -errno (logging counts as stopped anyway).
 */
int vfm_device_dirty_stop(struct vfm_device *dev, struct vfm_dirty_err *err);

/**
 * vfm_device_dirty_active() - whether logging is on for @dev (started through this
 * library and not stopped); *@ret_page_size (may be NULL) gets the driver's page
 * size then.
 */
bool vfm_device_dirty_active(const struct vfm_device *dev, uint64_t *ret_page_size);

/* ------------------------------------------------------------------------- */
/* driving a device along a plan                                             */

struct vfm_arc_result {
	enum vfm_state from, to;
	uint64_t usec;        /* time spent in the SET */
	int error;            /* 0, or -errno of the failed SET */
	bool readback;        /* state read back after the arc */
	enum vfm_state after; /* the state read back (valid if readback) */
};

typedef void (*vfm_arc_fn)(void *userdata, const struct vfm_device *dev,
			   const struct vfm_arc_result *arc);

enum {
	VFM_DRIVE_READBACK = 1u << 0, /* GET the state after each arc and check it */
};

/**
 * vfm_device_drive() - take @dev from its current state to @target arc by arc,
 * following vfm_fsm_plan().  @fn (may be NULL) is called after every arc, the failed
 * one included.  Stops at the first failure.  *@ret_state (may be NULL) receives the
 * state the device is in at the end, read back from the driver, also on failure.
 *
 * Errors: those of vfm_fsm_plan() before anything is touched; the failed SET's
 * -errno; -EIO when a read-back state differs from the arc's target.
 */
int vfm_device_drive(struct vfm_device *dev, enum vfm_state target, unsigned flags,
		     vfm_arc_fn fn, void *userdata, enum vfm_state *ret_state);

/* ------------------------------------------------------------------------- */
/* enumeration                                                               */

/* One VFIO device found on the host (PCI function bound to a vfio driver, or mdev). */
struct vfm_host_device {
	struct vfm_device_identity id;
};

/**
 * vfm_host_list() - enumerate VFIO devices: PCI functions whose driver is a vfio
 * driver (has vfio-dev/ or is vfio-pci / *_vfio_pci) and mdevs.  *@ret_list is a
 * malloc'ed array the caller frees.  Returns the count or -errno.
 */
int vfm_host_list(struct vfm_ctx *ctx, struct vfm_host_device **ret_list);

/* ------------------------------------------------------------------------- */
/* endpoints: where a stream goes or comes from                              */

/*
 * An endpoint moves the bytes of a stream; a listener accepts endpoints.  URIs:
 *
 *   tcp://HOST:PORT  HOST a name, an IPv4 literal or an [IPv6] literal.  To listen,
 *                    HOST may also be empty or [::] (any address, IPv4 included where
 *                    the system allows) or 0.0.0.0, and PORT may be 0 (the kernel picks)
 *   unix:PATH        a Unix socket; unix:@NAME is abstract
 *   file:PATH        a file; written: a temporary ".NAME.XXXXXX" (mode 0600) beside
 *                    it, renamed over PATH when finished (vfm_endpoint_close() or
 *                    vfm_endpoint_shutdown_write()), removed by vfm_endpoint_free();
 *                    a symlink PATH, or another user's file in a sticky
 *                    world-writable directory, refused; a FIFO or a device
 *                    written in place
 *   -                stdin to read, stdout to write; both when both directions are
 *                    asked (two-way: read stdin, write stdout)
 *   fd:N             an inherited descriptor, duplicated (N stays open): a stream socket
 *                    is two-way, anything else one-way
 *   exec:CMD         run "/bin/sh -c CMD" (e.g. ssh) with its stdin and stdout as two
 *                    pipes: two-way, we read its stdout and write its stdin; its stderr
 *                    is ours.  CMD is non-empty, without control characters.
 *
 * Connecting or listening is the caller's choice, not the URI's.  Sockets and exec:
 * are two-way whichever direction was asked for; "-" is two-way when both are asked;
 * the other kinds carry bytes one way.
 *
 * exec: runs CMD with none of our descriptors but 0, 1 (the pipes) and 2, default
 * signal dispositions and an empty signal mask.  vfm_endpoint_wait(), close and free
 * reap it: after the end of its input it has VFM_EXEC_EXIT_MS to exit, then gets
 * SIGTERM, then VFM_EXEC_TERM_MS later SIGKILL; no zombie is left.  Never give exec:
 * a URI that comes from someone who may not run commands as this process.
 *
 * Blocking: every wait goes through poll() with the endpoint's timeout (ms, 0 = none)
 * and cancel fd (an eventfd or pipe the caller owns, -1 = none).  For I/O the timeout
 * bounds inactivity: any progress restarts it; an absolute deadline
 * (vfm_endpoint_set_deadline()) bounds a whole exchange.  Timeout -> -ETIMEDOUT; the
 * cancel fd readable (or hung up) -> -ECANCELED.  A regular file is always ready: the
 * cancel fd is checked once per call.  Name resolution (getaddrinfo) is neither
 * bounded nor cancellable.
 *
 * SIGPIPE never reaches the process from here: sockets use MSG_NOSIGNAL, and writes to
 * pipes block SIGPIPE in the calling thread and discard the one they raised, so the
 * caller gets -EPIPE.  Inherited descriptors are never switched to O_NONBLOCK (that
 * would leak into the processes sharing them); a blocking pipe is driven with
 * RWF_NOWAIT where the kernel has it (6.4+), else poll() and writes of PIPE_BUF.
 *
 * Threads: an endpoint may be read by one thread while another writes it (a socket);
 * anything else on one endpoint or listener needs the caller's serialisation.
 *
 * Errors of the calls that take a struct vfm_transport_err *err (which may be NULL):
 * -EINVAL for a bad URI, the socket call's -errno otherwise; err->msg receives a
 * sentence fragment naming the address ("connect to tcp 127.0.0.1:4444: Connection
 * refused") that the caller can print after its own prefix.  It is written only on
 * failure.
 */

#define VFM_URI_MAX	      4096 /* bytes of a URI, NUL excluded */
#define VFM_URI_HOST_MAX      253  /* a DNS name */
#define VFM_TRANSPORT_ERR_MAX 320  /* bytes of an error message, NUL included */
#define VFM_EXEC_EXIT_MS      5000u /* exec: time to exit after its input ended */
#define VFM_EXEC_TERM_MS      2000u /* exec: then after SIGTERM, before SIGKILL */
#define VFM_SECURITY_MAX      160  /* bytes of vfm_endpoint_security(), NUL included */

struct vfm_transport_err {
	char msg[VFM_TRANSPORT_ERR_MAX];
};

/* Directions for vfm_endpoint_open(). */
enum {
	VFM_EP_READ = 1u << 0,
	VFM_EP_WRITE = 1u << 1,
};

struct vfm_endpoint;
struct vfm_listener;

/**
 * vfm_endpoint_open() - connect to a socket, open a file, stdin/stdout or fd:N, or
 * start an exec: command.
 * @flags: VFM_EP_READ and/or VFM_EP_WRITE, the directions the caller needs.  A socket
 * or exec: is two-way whatever is asked; "-" reads stdin for VFM_EP_READ, writes
 * stdout for VFM_EP_WRITE, and does both (two-way) for both; any other one-way kind
 * must be asked exactly one direction.  Borrowed descriptors (stdin, stdout, fd:N)
 * are never switched to O_NONBLOCK.
 * @timeout_ms, @cancel_fd: bound the connect (and the wait for a reader when file:
 * names a FIFO) and become the endpoint's settings for its I/O.  @cancel_fd stays the
 * caller's: keep it open while the endpoint lives.  TCP tries every address of HOST in
 * turn; the timeout bounds them all.
 *
 * Returns 0 and the endpoint in *@ret_ep (free it with vfm_endpoint_close() or
 * vfm_endpoint_free()).  Errors: -EINVAL (bad URI or flags, an fd of the wrong kind
 * or access mode), -ENXIO (HOST unknown), -ETIMEDOUT, -ECANCELED, the system's
 * -errno (-ECONNREFUSED, -ENOENT, -EACCES...); @err says which address failed.  For
 * exec:, a command that cannot start is seen later: it exits 127 (sh's "not found").
 */
int vfm_endpoint_open(const char *uri, unsigned flags, unsigned timeout_ms, int cancel_fd,
		      struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

/**
 * vfm_endpoint_open_fd() - vfm_endpoint_open() of "fd:@fd": an endpoint over a
 * duplicate of @fd, which stays the caller's (close it when it suits you; the peer
 * sees end of stream only once every copy is closed).  A stream socket is two-way;
 * a pipe, FIFO, file or character device carries the one direction @flags asks,
 * which its access mode must allow.  A VMM hands in a socket it connected or
 * accepted itself, or one end of a pipe to another process.
 * Returns as vfm_endpoint_open(); -EBADF when @fd is not open.
 */
int vfm_endpoint_open_fd(int fd, unsigned flags, unsigned timeout_ms, int cancel_fd,
			 struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

/**
 * vfm_listener_new() - bind and listen on a tcp:// or unix: URI.
 * TCP listeners set SO_REUSEADDR; "tcp://:P" and "tcp://[::]:P" listen on IPv6 with
 * IPV6_V6ONLY off (IPv4 accepted too), or on 0.0.0.0 when the system has no IPv6.
 * A unix: path left over by a dead listener (a socket nobody accepts on) is unlinked;
 * anything else there gives -EADDRINUSE.  The path is unlinked again by
 * vfm_listener_free() if it is still ours.
 * Returns 0 and *@ret_l, -EINVAL for a bad URI, or the socket call's -errno.
 */
int vfm_listener_new(const char *uri, struct vfm_listener **ret_l,
		     struct vfm_transport_err *err);

/**
 * vfm_listener_accept() - wait for one connection (call it again for more).
 * The endpoint inherits @timeout_ms and @cancel_fd for its I/O.
 * Returns 0 and a two-way endpoint in *@ret_ep, -ETIMEDOUT, -ECANCELED, or -errno.
 */
int vfm_listener_accept(struct vfm_listener *l, unsigned timeout_ms, int cancel_fd,
			struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

/**
 * vfm_listener_uri() - the bound address as a URI peers can use, with the real port:
 * "tcp://127.0.0.1:40123", "tcp://[::]:4444", "unix:/run/x.sock", "unix:@name".
 * Owned by the listener.
 */
const char *vfm_listener_uri(const struct vfm_listener *l);

/** vfm_listener_fd() - the listening socket, for the caller's poll loop. */
int vfm_listener_fd(const struct vfm_listener *l);

/** vfm_listener_free() - close, unlink our unix socket path.  NULL is fine. */
struct vfm_listener *vfm_listener_free(struct vfm_listener *l);

/** vfm_endpoint_set_timeout() - inactivity timeout of later I/O, ms (0 = none). */
void vfm_endpoint_set_timeout(struct vfm_endpoint *ep, unsigned timeout_ms);

/**
 * vfm_endpoint_set_deadline() - an absolute limit for later I/O: a monotonic time in
 * usec (CLOCK_MONOTONIC; 0 = none).  Unlike the inactivity timeout, progress does
 * not move it: a peer that trickles bytes gets -ETIMEDOUT once it passes.
 */
void vfm_endpoint_set_deadline(struct vfm_endpoint *ep, uint64_t deadline_usec);

/**
 * vfm_endpoint_set_cancel_fd() - cancel fd of later I/O (-1 = none); caller owns it.
 * While it is readable, I/O fails with -ECANCELED: a call that waits sees it at once;
 * one that need not wait polls it at most once a millisecond (then on every call
 * until it is clear again), so bytes that are ready may still move for up to 1 ms.
 */
void vfm_endpoint_set_cancel_fd(struct vfm_endpoint *ep, int cancel_fd);

/**
 * vfm_endpoint_read() - read what is available, at most @size bytes, waiting for at
 * least one.  Returns the count (0: end of stream; also for @size 0), -EBADF if the
 * endpoint does not read, -ETIMEDOUT, -ECANCELED, or -errno.
 */
ssize_t vfm_endpoint_read(struct vfm_endpoint *ep, void *buf, size_t size);

/**
 * vfm_endpoint_read_full() - read exactly @size bytes.
 * Returns @size; 0 when the stream ended cleanly before the first byte; -ENODATA when
 * it ended after some bytes but before @size (a truncated stream: callers should say
 * "unexpected end of stream"); -ETIMEDOUT, -ECANCELED, -EBADF, -errno.  On error the
 * bytes already read are in @buf and counted by vfm_endpoint_bytes_read().
 */
ssize_t vfm_endpoint_read_full(struct vfm_endpoint *ep, void *buf, size_t size);

/**
 * vfm_endpoint_write_full() - write all of @buf, retrying partial writes.
 * Returns 0, -EPIPE (peer gone, or after vfm_endpoint_shutdown_write()), -ECONNRESET,
 * -ETIMEDOUT, -ECANCELED, -EBADF (a read-only endpoint), -errno.  On error an unknown
 * prefix of @buf has been sent (vfm_endpoint_bytes_written() counts it).
 */
int vfm_endpoint_write_full(struct vfm_endpoint *ep, const void *buf, size_t size);

/**
 * vfm_endpoint_shutdown_write() - end our direction: the peer reads end of stream
 * while we can still read its answer.  A socket is half-closed (shutdown(SHUT_WR);
 * again is a no-op).  exec: and two-way "-" close the descriptor we write (the
 * command's stdin pipe; our copy of stdout, which the peer sees end only once the
 * process's own stdout is closed too); again is a no-op.  A one-way writer is
 * finished as by vfm_endpoint_close(): a regular file is fsync'ed (and, for file:, its
 * directory), then the descriptor is closed and vfm_endpoint_fd() becomes -1.  A peer
 * sees end of stream only when every copy of the descriptor is closed: for "-" and
 * fd:N the original stays open.
 * Returns 0, -EBADF for an endpoint that does not write, or the failing call's -errno.
 */
int vfm_endpoint_shutdown_write(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_close() - finish and free.  A regular file that was written is
 * fsync'ed first (and, for file:, its directory): save must not report success for
 * data the disk does not have.  An exec: command is reaped (vfm_endpoint_wait()).
 * Frees @ep in every case.
 * Returns 0, the -errno of fsync() or close(), or vfm_endpoint_wait()'s error (call
 * that first to learn how the command ended).  NULL returns 0.
 */
int vfm_endpoint_close(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_free() - close without fsync or error report (error paths, where the
 * output is abandoned anyway: a file: output's temporary is removed, its target
 * untouched).  An exec: command is still reaped, within the same
 * bound as vfm_endpoint_wait().  NULL is fine.  Returns NULL.
 */
struct vfm_endpoint *vfm_endpoint_free(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_wait() - for exec:, end our direction, then wait for the command to
 * exit, discarding what it still writes: at most VFM_EXEC_EXIT_MS, then SIGTERM,
 * VFM_EXEC_TERM_MS more, then SIGKILL (and a wait that SIGKILL ends).  Once reaped,
 * later calls return the same.
 * Returns 0 when it exited 0 (or @ep runs no command); -EIO when it exited non-zero
 * or was killed by a signal; -ETIMEDOUT when it had to be stopped; -ECHILD when it
 * was reaped elsewhere (SIGCHLD ignored).  vfm_endpoint_exit_status() says which.
 */
int vfm_endpoint_wait(struct vfm_endpoint *ep);

/**
 * vfm_endpoint_exit_status() - how an exec: command ended, once vfm_endpoint_wait()
 * reaped it: "exited with 0", "exited with 255", "killed by SIGPIPE", "did not exit
 * within 5000 ms after its input ended: killed by SIGTERM".  NULL before that, and for
 * the other kinds.  Owned by the endpoint.
 */
const char *vfm_endpoint_exit_status(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_is_two_way() - whether both directions work (a socket, exec:, "-"
 * opened for both).
 */
bool vfm_endpoint_is_two_way(const struct vfm_endpoint *ep);

/** vfm_endpoint_is_socket() - whether the endpoint is a connected socket. */
bool vfm_endpoint_is_socket(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_writes_stdout() - whether the endpoint writes our stdout ("-" opened
 * for writing, one-way or two-way): the caller's reports must go elsewhere.
 */
bool vfm_endpoint_writes_stdout(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_description() - for messages: "tcp 10.0.0.2:4444", "tcp [::1]:4444",
 * "unix /run/x.sock", "unix @name", "file /var/tmp/x", "stdin", "stdout",
 * "stdin/stdout", "fd 5", "exec 'ssh dst vfiomig restore ...'" (the command cut to
 * 80 bytes, bytes outside printable ASCII as \xNN).  Owned by the endpoint, never
 * NULL.
 */
const char *vfm_endpoint_description(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_fd() - the descriptor we read (for poll), or for a one-way writer the
 * one we write; -1 once a one-way writer is closed by vfm_endpoint_shutdown_write().
 * exec: and two-way "-" write another descriptor, not exposed: poll this one for
 * reading only.  Do not change its flags; reading or writing it directly bypasses
 * the byte counters (and TLS, whose records GnuTLS may already hold decrypted:
 * poll() on it can miss them).
 */
int vfm_endpoint_fd(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_bytes_read() - bytes read so far (plaintext bytes under TLS); safe
 * to call from another thread while a job runs (relaxed atomics).
 */
uint64_t vfm_endpoint_bytes_read(const struct vfm_endpoint *ep);

/** vfm_endpoint_bytes_written() - bytes written so far, as vfm_endpoint_bytes_read(). */
uint64_t vfm_endpoint_bytes_written(const struct vfm_endpoint *ep);

/**
 * vfm_endpoint_security() - how the bytes travel, for reports: "plaintext", or after
 * vfm_endpoint_start_tls() e.g. "TLS 1.3 AES-256-GCM, x509 peer 'CN=dst', kTLS".
 * Owned by the endpoint, never NULL, at most VFM_SECURITY_MAX - 1 bytes, printable.
 */
const char *vfm_endpoint_security(const struct vfm_endpoint *ep);

/* ------------------------------------------------------------------------- */
/* TLS: GnuTLS, TLS 1.3 only, x509 with mutual authentication or PSK          */

#define VFM_TLS_AUTHZ_MAX	 32   /* patterns of struct vfm_tls_opts.authz */
#define VFM_TLS_AUTHZ_LEN_MAX	 256  /* bytes of one pattern */
#define VFM_TLS_HOSTNAME_MAX	 VFM_URI_HOST_MAX
#define VFM_TLS_PATH_MAX	 4096 /* bytes of creds_dir / psk_file */
#define VFM_TLS_HANDSHAKE_MS	 10000 /* default handshake deadline */

struct vfm_tls;

/*
 * creds_dir: x509 credentials in the layout of QEMU's tls-creds-x509 (so libvirt's
 * /etc/pki/qemu serves): ca-cert.pem, optional ca-crl.pem; a server (the side that
 * listens) server-cert.pem and server-key.pem; a client (the side that connects)
 * client-cert.pem and client-key.pem (optional: a server refuses a client without).
 * psk_file: QEMU's keys.psk instead ("identity:hexkey" lines).  Exactly one of the two.
 * hostname: the name the client checks the server's certificate against, instead of
 * the URI's host.  authz: glob patterns (fnmatch) for the peer certificate's DN
 * (RFC 4514, as "CN=dst,O=lab"); none given: any certificate of the CA.
 * handshake_timeout_ms: 0 = VFM_TLS_HANDSHAKE_MS.  Strings are copied.
 * Fill it with vfm_tls_opts_init() first, or give .size = sizeof(struct vfm_tls_opts)
 * in a designated initializer: @size tells the library which fields the caller
 * knows (fields are only ever appended; see vfm_save_opts).
 * kTLS: on TCP, where the kernel has the tls ULP, the record layer goes to the kernel
 * after the handshake (AES-GCM, ChaCha20-Poly1305); elsewhere it stays in GnuTLS.
 */
struct vfm_tls_opts {
	size_t size; /* sizeof(struct vfm_tls_opts) as the caller compiled it */
	const char *creds_dir;
	const char *psk_file;
	const char *hostname;
	const char *const *authz;
	size_t n_authz;
	unsigned handshake_timeout_ms;
	bool no_ktls; /* keep the record layer in user space even where kTLS works */
};

/** vfm_tls_opts_init_sized() - use vfm_tls_opts_init(). */
void vfm_tls_opts_init_sized(struct vfm_tls_opts *opts, size_t size);

/** vfm_tls_opts_init() - all fields to their defaults (none set), @size set. */
static inline void vfm_tls_opts_init(struct vfm_tls_opts *opts)
{
	vfm_tls_opts_init_sized(opts, sizeof(*opts));
}

/**
 * vfm_tls_new() - load and check credentials for one side (@server: the side that
 * listens).  Every file is read here, so that a missing or unreadable one is reported
 * before any connection: err->msg names it ("/etc/pki/qemu/server-key.pem: No such
 * file or directory").
 * The first call loads GnuTLS (libgnutls.so.30); the library does not link it.
 * Returns 0 and *@ret (drop with vfm_tls_free()), -EINVAL (bad options, @opts not
 * made by vfm_tls_opts_init(), a malformed file), -EOPNOTSUPP (@opts sets fields
 * appended after this library was built), -ENOPKG (GnuTLS cannot be loaded: err->msg
 * says why), -ENOENT/-EACCES..., -ENOMEM.
 */
int vfm_tls_new(const struct vfm_tls_opts *opts, bool server, struct vfm_tls **ret,
		struct vfm_transport_err *err);

/**
 * vfm_tls_free() - drop the caller's reference; endpoints secured with it keep their
 * own until they are freed.  NULL is fine.  Returns NULL.
 */
struct vfm_tls *vfm_tls_free(struct vfm_tls *tls);

/** vfm_tls_is_server() - the side @tls was made for. */
bool vfm_tls_is_server(const struct vfm_tls *tls);

/**
 * vfm_endpoint_start_tls() - run the TLS handshake on a connected (client) or
 * accepted (server) tcp:// or unix: endpoint, then check the peer: its certificate
 * chain against ca-cert.pem (and ca-crl.pem), its validity dates, the server's name
 * (client side: @peer_host, the URI's host, or the hostname option; unix: only with
 * the option), the DN patterns; or its PSK.  Both sides then exchange one byte of
 * acceptance inside TLS, so that a side the peer refused learns it here with the
 * peer's reason (its alert), not at its first read.
 * Bounded by the handshake deadline and the endpoint's cancel fd.  Afterwards every
 * read, write and shutdown of @ep goes through TLS (kTLS where GnuTLS and the kernel
 * do it), with the endpoint's timeout, cancel fd and byte counters (plaintext bytes).
 * Returns 0; -EINVAL (not a tcp/unix endpoint, TLS started already), -EACCES (the
 * peer failed our checks), -ECONNREFUSED (the peer refused us), -EPROTO (not TLS, or
 * a TLS failure), -ETIMEDOUT, -ECANCELED, -errno; err->msg says why.  On failure @ep
 * is unusable: free it.
 */
int vfm_endpoint_start_tls(struct vfm_endpoint *ep, struct vfm_tls *tls,
			   const char *peer_host, struct vfm_transport_err *err);

/**
 * vfm_listener_accept_tls() - accept until a peer passes vfm_endpoint_start_tls().
 * A peer that fails (plaintext, another CA, no certificate, DN not allowed, expired,
 * wrong PSK, too slow) is closed and reported through @on_reject (may be NULL) as
 * "tcp 127.0.0.1:40112: TLS handshake failed: ...", and the wait goes on.
 * @timeout_ms (0 = none) bounds the whole wait, not each peer; each handshake is
 * bounded by its own deadline too.  Returns as vfm_listener_accept().
 */
int vfm_listener_accept_tls(struct vfm_listener *l, struct vfm_tls *tls,
			    unsigned timeout_ms, int cancel_fd,
			    void (*on_reject)(void *ud, const char *why), void *ud,
			    struct vfm_endpoint **ret_ep, struct vfm_transport_err *err);

/* ------------------------------------------------------------------------- */
/* save and restore                                                          */

/*
 * A job moves the state of up to VFM_SET_MAX devices as one: vfm_save() on the
 * source, vfm_restore() on the destination, over an endpoint each.  Both run in the
 * calling thread (with a thread per device while data flows) and return when the
 * job is over.  Progress comes through a callback; a job is cancelled from another
 * thread, or a signal handler, by making the cancel fd readable (write to an eventfd
 * or a pipe the caller owns).
 *
 * Extending the option and report structs: fields are only ever appended.  The
 * caller's vfm_save_opts_init() / vfm_restore_opts_init() record the sizes of the
 * options and of struct vfm_job_report as the caller's header has them, so that a
 * newer library reads and writes only what the caller knows, and an older one
 * refuses (-EOPNOTSUPP) options it does not know that the caller set.
 */

/* Devices in one job (and one stream). */
#define VFM_SET_MAX 64

enum vfm_job_phase {
	VFM_JOB_HEADER,    /* sending or reading the header */
	VFM_JOB_COMPAT,    /* waiting for / sending the compatibility answer */
	VFM_JOB_PRECOPY,   /* streaming precopy data while devices run */
	VFM_JOB_QUIESCE,   /* devices to P2P states; the quiesced hook */
	VFM_JOB_STOP_COPY, /* streaming the final data */
	VFM_JOB_RESUMING,  /* destination: loading data */
	VFM_JOB_LOAD,      /* destination: RESUMING -> STOP -> RUNNING */
	VFM_JOB_VERDICT,   /* save: waiting for READY (or the one-way stream's flush);
			      restore: sending the verdict */
	VFM_JOB_COMMIT,	   /* save: COMMIT sent, waiting for the verdict; restore:
			      READY sent, waiting for COMMIT */
	VFM_JOB_DONE,
	VFM_JOB_ROLLBACK,
};

/** vfm_job_phase_name() - "header", "precopy"...; "unknown" out of range. Static. */
const char *vfm_job_phase_name(enum vfm_job_phase phase);

/* One device of a job, in the order the caller gave them. */
struct vfm_job_dev {
	char name[VFM_NAME_MAX];
	uint64_t estimate;        /* driver's STOP_COPY estimate, UINT64_MAX unknown */
	uint64_t precopy_bytes;   /* bytes moved while running */
	uint64_t stopcopy_bytes;  /* bytes moved while stopped */
	uint64_t stopcopy_usec;   /* time to read (save) or write (restore) them */
	char vf_config[96];       /* the VF's network settings: "sent: mac,vlan",
				     "applied: mac", "none (not a network VF)"... */
	unsigned precopy_reinits; /* save: new initial data it reported in PRE_COPY
				     (VFM_PRECOPY_REINIT) */
};

/*
 * Progress and final report of a job, owned by the caller and written by the job
 * (from its start: nothing in it survives from before the call).  The device table
 * has VFM_SET_MAX entries; n are used.  Fields appended in later versions are
 * written only for callers whose header has them: @size says how many bytes of the
 * struct this library filled in.
 */
struct vfm_job_report {
	size_t size;              /* bytes of this struct the library wrote */
	enum vfm_job_phase phase;
	size_t n;
	struct vfm_job_dev dev[VFM_SET_MAX];
	uint64_t stream_id;
	uint64_t total_bytes;
	unsigned precopy_rounds;
	uint64_t start_usec;      /* CLOCK_MONOTONIC */
	uint64_t elapsed_usec;
	uint64_t precopy_usec;
	uint64_t downtime_usec;   /* save: first device quiesced -> verdict (or end) */
	bool rolled_back;         /* devices were returned to RUNNING (or reset) */
	bool devices_left_running; /* save failed and every device runs again */
	bool one_way;             /* a file or pipe: nobody answers, nothing commits */
	bool in_doubt;            /* save: COMMIT sent, no verdict: the devices stay
				     stopped with their state (exit 6) */
	bool verdict_lost;        /* restore: the devices run, the verdict did not go */
	bool reset_failed;        /* restore: a device did not come back to RUNNING */
	char reset_failure[256];  /* ...which, how, and the state read back after it:
				     "sim:x: reset failed (EIO); it reads RESUMING" */
	int error;                /* 0 or -errno */
	char message[1024];       /* what failed, naming the device or the peer */
	char security[160];       /* left empty by the job: room for the caller to keep
				     vfm_endpoint_security() with the rest */
	unsigned precopy_reinits; /* save: times a device reported new initial data
				     (VFM_PRECOPY_REINIT) */
	/* Appended in 0.2. */
	unsigned streams;         /* data connections the job used (0: the data went
				     over the main endpoint) */
};

/*
 * Called at each phase change and at most every 200 ms while data flows, from the
 * thread that called the job or from one of its device threads, never two at once.
 * @report is the caller's report; the callback reads it and must not call into the
 * job's devices or endpoint.
 */
typedef void (*vfm_progress_fn)(void *userdata, const struct vfm_job_report *report);

/*
 * Several connections per migration (vfm_save_opts.streams): the main endpoint
 * carries the control records (header, compatibility, commit, verdict) and the
 * data goes over data connections, spread chunk by chunk and put back in order at
 * the destination (vfiomig-stream(5), DATA CONNECTIONS).
 *
 * vfm_stream_open_fn - open the next data connection: connect to the peer, or accept
 * its next connection, with the same security as the main endpoint (TLS: the same
 * credentials; a connection is not trusted before it authenticated).  The job owns
 * the endpoint returned in *@ret_ep and frees it.  Called from the job's thread
 * after the compatibility answer.  On the source @index is the connection's number
 * (0 to streams - 1); on the destination, how many were accepted so far (one that
 * is not this migration's is dropped, and the function called again, a few times at
 * most).  Returns 0, or -errno with @why (may be filled) saying why.
 */
typedef int (*vfm_stream_open_fn)(void *userdata, unsigned index,
				  struct vfm_endpoint **ret_ep, char *why, size_t why_size);

/* Data connections of one migration, at most. */
#define VFM_STREAMS_MAX 16

/*
 * Events of a job, for a trace (vfiomig's --trace writes them as Chrome trace-event
 * JSON): each device's state changes, data reads and writes, the barriers every
 * device passes together, the exchanges with the peer and the verdict, each with a
 * CLOCK_MONOTONIC time.  A span (an arc, a read, a write, a barrier) is reported once,
 * when it ends: it began @duration_usec before @time_usec.
 */
enum vfm_event_type {
	VFM_EVENT_PHASE = 1, /* the job entered @phase (device -1) */
	VFM_EVENT_ARC,	     /* span: one state change of a device, @from -> @to; @error */
	VFM_EVENT_READ,	     /* save, span: a device's data read and sent: one precopy
				round (@phase VFM_JOB_PRECOPY, @round from 1) or its
				stop-copy data (@phase VFM_JOB_STOP_COPY); @bytes */
	VFM_EVENT_WRITE,     /* restore, span: one chunk written into a device: @phase
				as for READ (@round 0); @bytes */
	VFM_EVENT_BYTES,     /* save: a device's data moved (after each chunk); @bytes */
	VFM_EVENT_BARRIER,   /* span: every device moved to the state of @what (the set
				phase: "precopy", "quiesce", "stop-copy", "resuming",
				"unquiesce", "run"), none going on before all are there;
				@error */
	VFM_EVENT_MARK,	     /* an exchange with the peer that every device waits on:
				@what "READY" (save: it came; restore: it went) or
				"COMMIT" (save: it went; restore: it came) */
	VFM_EVENT_VERDICT,   /* the job's outcome, once: @error 0 or the job's -errno;
				save: @duration_usec is report->downtime_usec */
};

/* One event.  Fields are only ever appended: @size says how many bytes of it this
 * library filled in. */
struct vfm_event {
	size_t size;
	enum vfm_event_type type;
	int device;		 /* index in the job's devices (restore: the stream's
				    order), -1 for the job */
	const char *device_name; /* its name; NULL for the job.  Valid during the call */
	uint64_t time_usec;	 /* CLOCK_MONOTONIC; a span's end */
	uint64_t duration_usec;	 /* a span's length; 0 for a point */
	uint64_t bytes;		 /* READ, WRITE, BYTES: the device's data so far, precopy
				    and stop-copy together */
	unsigned round;		 /* READ in precopy: the round, from 1 */
	enum vfm_job_phase phase;
	enum vfm_state from, to; /* ARC */
	int error;		 /* ARC, BARRIER, VERDICT: 0 or -errno */
	const char *what;	 /* BARRIER, MARK: a static string */
};

/*
 * Called for every event of a job, from the thread that called the job or from one
 * of its device threads, one call at a time (the library serialises them, in time
 * order).  It must return quickly (it holds up the device's data) and must not call
 * into the job's devices or endpoint.
 */
typedef void (*vfm_event_fn)(void *userdata, const struct vfm_event *ev);

struct vfm_save_opts {
	size_t size;                 /* set by vfm_save_opts_init() */
	size_t report_size;          /* set by vfm_save_opts_init() */
	bool precopy;                /* use PRE_COPY on the devices that have it */
	unsigned precopy_max_rounds; /* 0: no limit other than time */
	uint64_t precopy_max_usec;   /* 0: no limit other than rounds */
	uint64_t dirty_threshold;    /* stop precopy when pending dirty bytes <= this */
	bool force;                  /* several devices without P2P */
	bool no_vf_config;           /* do not carry VF network settings */
	size_t chunk_size;           /* bytes per DATA record (default 1 MiB) */
	unsigned timeout_ms;         /* each wait on the peer (0: none) */
	int cancel_fd;               /* readable: stop and roll back (-1: none) */
	/* Called once every device is quiesced, before any stops; non-zero aborts (a
	 * VMM stops its vCPUs here).  @why (may be filled) goes into the report. */
	int (*on_quiesced)(void *userdata, char *why, size_t why_size);
	void *hook_userdata;
	vfm_progress_fn progress;
	void *progress_userdata;
	vfm_arc_fn on_arc;
	void *arc_userdata;
	/* Appended in 0.2. */
	unsigned streams;	     /* data connections: 0 (the data goes over @ep), or 1
					to VFM_STREAMS_MAX: needs a two-way endpoint and
					@open_stream */
	vfm_stream_open_fn open_stream;
	void *stream_userdata;
	/* appended after the first layout (0.1): callers built before have none */
	vfm_event_fn on_event; /* every event of the job (NULL: none) */
	void *event_userdata;
};

struct vfm_restore_opts {
	size_t size;          /* set by vfm_restore_opts_init() */
	size_t report_size;   /* set by vfm_restore_opts_init() */
	/* map[i]: index in @devs of the device that takes the stream's device i;
	 * NULL: the identity */
	const unsigned *map;
	unsigned timeout_ms;
	int cancel_fd;
	bool skip_compat_ids; /* accept other IDs/driver (the driver still validates) */
	bool no_vf_config;    /* do not apply VF network settings from the stream */
	/* Called in the calling thread around each write of VF network settings:
	 * raise = true just before, false right after.  vfiomigd keeps CAP_NET_ADMIN
	 * permitted but not effective and raises it here (netlink checks the right both
	 * when a socket is opened and when a request is sent: the write opens its own
	 * sockets inside the span).  A raise that fails (< 0, @why says why) does not
	 * stop the write: the kernel decides, and an EPERM's message quotes @why. */
	int (*net_privilege)(void *userdata, bool raise, char *why, size_t why_size);
	void *net_privilege_userdata;
	vfm_progress_fn progress;
	void *progress_userdata;
	vfm_arc_fn on_arc;
	void *arc_userdata;
	/* Appended in 0.2.  A source that uses data connections needs this; without
	 * it such a stream is refused ("... cannot take data connections"). */
	vfm_stream_open_fn open_stream;
	void *stream_userdata;
	/* appended after the first layout (0.1): callers built before have none */
	vfm_event_fn on_event; /* every event of the job (NULL: none) */
	void *event_userdata;
};

/** vfm_save_opts_init_sized() - use vfm_save_opts_init(). */
void vfm_save_opts_init_sized(struct vfm_save_opts *opts, size_t size,
			      size_t report_size);
/** vfm_restore_opts_init_sized() - use vfm_restore_opts_init(). */
void vfm_restore_opts_init_sized(struct vfm_restore_opts *opts, size_t size,
				 size_t report_size);

/**
 * vfm_save_opts_init() - the library's defaults: precopy on, at most 30 rounds or
 * 60 s, 1 MiB chunks, 60 s timeout, no cancel fd, no hooks.  Call it before setting
 * fields: it records the struct sizes the caller was compiled with.
 */
static inline void vfm_save_opts_init(struct vfm_save_opts *opts)
{
	vfm_save_opts_init_sized(opts, sizeof(*opts), sizeof(struct vfm_job_report));
}

/** vfm_restore_opts_init() - defaults (60 s timeout, no cancel fd, no hooks). */
static inline void vfm_restore_opts_init(struct vfm_restore_opts *opts)
{
	vfm_restore_opts_init_sized(opts, sizeof(*opts), sizeof(struct vfm_job_report));
}

/**
 * vfm_save() - stream the state of @devs to @ep.  On success the devices are left in
 * STOP (their state now lives at the destination).  On a two-way transport the
 * destination runs its devices only after our COMMIT, sent once it said READY: any
 * failure before COMMIT, or a failure verdict after it, returns every device to
 * RUNNING through the P2P barrier (reset if it fell into ERROR).  COMMIT sent and no
 * verdict: report->in_doubt, the devices left in STOP with their state.  On a one-way
 * transport success means the stream was written whole and flushed (report->one_way).
 *
 * Ownership: @devs, @ep and @opts stay the caller's; the job borrows them until it
 * returns (close @ep afterwards: for file: only vfm_endpoint_close() puts the file
 * in place).  @opts may be NULL for the defaults.  @report (required) receives
 * figures and, on failure, the cause in report->message.
 *
 * Returns 0 or -errno: -EINVAL @opts not made by vfm_save_opts_init() (the report is
 * left alone), or @n is 0 or above VFM_SET_MAX; -EOPNOTSUPP @opts sets fields this
 * library does not know; -ECANCELED the cancel fd became readable; -ETIMEDOUT the
 * peer did not answer in time; -EPROTO the peer broke the stream format;
 * -EREMOTEIO the destination found its devices incompatible; the destination's
 * failure verdict as its -errno; the device's or the endpoint's -errno otherwise.
 */
int vfm_save(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
	     const struct vfm_save_opts *opts, struct vfm_job_report *report);

/**
 * vfm_restore() - read a stream from @ep into @devs.  Checks compatibility from the
 * header before touching a device (and answers it on a two-way transport), checks
 * every chunk's CRC before writing it, then loads the devices; on a two-way transport
 * says READY and runs them only after the source's COMMIT, then sends the verdict.
 * On failure the devices are reset (and the source told).
 *
 * Ownership as vfm_save(); @opts may be NULL.  Returns 0 or -errno: -EINVAL and
 * -EOPNOTSUPP as vfm_save(); -EBADMSG a chunk failed its CRC; -EPROTO,
 * -EPROTONOSUPPORT, -ENOMSG, -EMSGSIZE a malformed stream, another version, not a
 * stream at all (vfiomig-stream(5)); -EREMOTEIO the devices do not match the
 * stream's; -ECANCELED, -ETIMEDOUT; the device's -errno (the driver refused the
 * data) or the endpoint's otherwise.
 */
int vfm_restore(struct vfm_device **devs, size_t n, struct vfm_endpoint *ep,
		const struct vfm_restore_opts *opts, struct vfm_job_report *report);

#ifdef __cplusplus
}
#endif
