/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * libvfiomig: move the state of VFIO devices with the VFIO migration v2 uAPI.
 *
 * Conventions: functions return 0 (or a count) on success and a negative errno on
 * failure; out-parameters named ret_* are written only on success.  The library never
 * prints: it logs at debug level through the context's log function, and callers
 * report errors once.  Objects are reference counted; *_unref() accepts NULL.
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
struct vfm_ctx *vfm_ctx_ref(struct vfm_ctx *ctx);
struct vfm_ctx *vfm_ctx_unref(struct vfm_ctx *ctx);

/** vfm_ctx_set_log() - route library debug messages; @fn NULL silences them. */
void vfm_ctx_set_log(struct vfm_ctx *ctx, enum vfm_log_level max_level, vfm_log_fn fn,
		     void *userdata);

/**
 * vfm_ctx_set_sysfs_root() - read sysfs and /dev below @root instead of "/" (tests).
 * Returns 0, -EINVAL for a relative path, -ENOMEM.
 */
int vfm_ctx_set_sysfs_root(struct vfm_ctx *ctx, const char *root);

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
struct vfm_device *vfm_device_ref(struct vfm_device *dev);
/* Dropping the last reference closes the data fd and the device fd; the kernel then
 * resets the device to RUNNING. */
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

#ifdef __cplusplus
}
#endif
