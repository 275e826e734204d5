/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Host networking, layer 8 of docs/design.md: the admin settings of an SR-IOV VF that
 * live on its PF (rtnetlink, IFLA_VFINFO_LIST / IFLA_VF_*), and the devlink port
 * function capability "migratable" (generic netlink family "devlink").
 *
 * Every call opens the netlink sockets it needs and closes them before it returns:
 * the context only lends its sysfs root (tests) and its debug log.  Calls whose
 * failure deserves a sentence take @why/@why_size (may be NULL/0): on failure it gets
 * one line naming the PF, the VF and the step; when the kernel sent an extended ack
 * message, the line ends with "kernel says: <the message, verbatim>".
 *
 * Errors common to all calls: -ENODEV the PF or VF is not a network device (no PF
 * netdev: an mdev, a non-network VF, a virtual interface); -ENOENT no such PF, VF
 * index out of range, no devlink port; -EBADMSG the kernel's reply broke a policy
 * (length, nesting, trailing bytes); -E2BIG a reply over the limits below; others
 * from the kernel (-EPERM without CAP_NET_ADMIN, -EOPNOTSUPP, -EINVAL...).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfiomig.h"

#define VFM_IFNAME_MAX	      16   /* IFNAMSIZ */
#define VFM_VF_MAX	      1024 /* VFs of one PF that vfiomig handles */
#define VFM_DEVLINK_PORTS_MAX 4096 /* ports in one devlink port dump */
#define VFM_NET_WHY_MAX	      512  /* a good size for @why buffers */

/* A PF: its netdev and its devlink handle ("pci/0000:3b:00.0", "netdevsim/netdevsim10").
 */
struct vfm_pf {
	char ifname[VFM_IFNAME_MAX];
	int32_t ifindex;
	char bus[32];		       /* devlink bus name: "pci", "netdevsim" */
	char dev[128];		       /* devlink device name: "0000:3b:00.0" */
	char sysfs_path[VFM_NAME_MAX]; /* the PF device's directory */
	int32_t num_vfs;	       /* sriov_numvfs, -1 unknown */
	int32_t total_vfs;	       /* sriov_totalvfs, -1 unknown */
};

/* A VF: its PF and its index there, plus its own PCI function when it has one. */
struct vfm_vf_ref {
	struct vfm_pf pf;
	uint32_t vf;
	char pci_addr[32]; /* the PF's virtfnN, "" when the VF has no PCI function
			      (netdevsim) */
	char driver[64];   /* driver bound to the VF, "" for none or no PCI function */
};

/**
 * vfm_pf_find() - a PF by netdev name ("eth0"), PCI address ("0000:3b:00.0",
 * "3b:00.0") or devlink handle ("pci/0000:3b:00.0", "netdevsim/netdevsim10").  For a
 * device, the PF netdev is the one that is not a port representor (phys_port_name
 * "pf0vf1", "c1pf0"...).  Errors: -ENOENT no such device; -ENODEV the device has no
 * netdev; -EINVAL a name that is none of the forms.
 */
int vfm_pf_find(struct vfm_ctx *ctx, const char *name, struct vfm_pf *ret_pf, char *why,
		size_t why_size);

/**
 * vfm_pf_list() - every PF with VFs (sriov_numvfs > 0) and a netdev, one per device,
 * in netdev name order.  *@ret_list is malloc'ed, the caller frees it.  Returns the
 * count or -errno.
 */
int vfm_pf_list(struct vfm_ctx *ctx, struct vfm_pf **ret_list);

/**
 * vfm_vf_find() - a VF by its own device: PCI address or sysfs path of the VF
 * function; its PF through the physfn link, its index through the PF's virtfnN links.
 * Errors: -ENOENT no such device; -ENODEV not an SR-IOV VF (an mdev UUID, a PF, a
 * plain function) or its PF has no netdev ("no PF netdev": not a network VF).
 */
int vfm_vf_find(struct vfm_ctx *ctx, const char *vf_dev, struct vfm_vf_ref *ret_ref,
		char *why, size_t why_size);

/**
 * vfm_vf_ref_pf() - VF @vf of @pf; fills its PCI function and driver from virtfnN
 * when there is one.  -ENOENT when @vf is not below the PF's VF count.
 */
int vfm_vf_ref_pf(struct vfm_ctx *ctx, const struct vfm_pf *pf, uint32_t vf,
		  struct vfm_vf_ref *ret_ref, char *why, size_t why_size);

/* ------------------------------------------------------------------------- */
/* admin settings                                                            */

enum vfm_vf_link_state {
	VFM_VF_LINK_STATE_AUTO = 0, /* follows the PF's link */
	VFM_VF_LINK_STATE_ENABLE = 1,
	VFM_VF_LINK_STATE_DISABLE = 2,
};

#define VFM_ETH_P_8021Q	 0x8100u
#define VFM_ETH_P_8021AD 0x88a8u

/* Bits of struct vfm_vf_config.have: the settings the PF reported (capture), or the
 * settings to send (set, apply). */
enum {
	VFM_VF_MAC = 1u << 0,
	VFM_VF_VLAN = 1u << 1, /* vlan, qos, vlan_proto together */
	VFM_VF_RATE = 1u << 2, /* min_tx_rate, max_tx_rate together */
	VFM_VF_SPOOFCHK = 1u << 3,
	VFM_VF_TRUST = 1u << 4,
	VFM_VF_RSS_QUERY = 1u << 5,
	VFM_VF_LINK_STATE = 1u << 6,
	VFM_VF_ALL = (1u << 7) - 1,
};

/* One VF's admin settings.  Plain values, no pointers: copy it freely. */
struct vfm_vf_config {
	uint32_t have;	     /* VFM_VF_* */
	uint32_t vf;	     /* the VF's index on the PF it was read from */
	uint8_t mac[6];	     /* 00:00:00:00:00:00 = none set (the VF picks its own) */
	uint16_t vlan;	     /* 0..4095, 0 = no port VLAN */
	uint8_t qos;	     /* 0..7 */
	uint16_t vlan_proto; /* VFM_ETH_P_8021Q or VFM_ETH_P_8021AD */
	uint8_t link_state;  /* enum vfm_vf_link_state */
	bool spoofchk, trust, rss_query;
	uint32_t min_tx_rate; /* Mbit/s, 0 = no limit */
	uint32_t max_tx_rate;
};

/**
 * vfm_vf_config_check() - whether the fields in @cfg->have are values a VF can take:
 * a unicast (or all-zero) MAC, VLAN 0..4095, qos 0..7, a known VLAN protocol, a known
 * link state, min rate not above a non-zero max rate, no unknown bit in have.
 * Returns 0 or -EINVAL with the reason in @why.
 */
int vfm_vf_config_check(const struct vfm_vf_config *cfg, char *why, size_t why_size);

/**
 * vfm_vf_config_get() - the settings of VF @vf as its PF reports them (RTM_GETLINK
 * with RTEXT_FILTER_VF).  @ret->have holds what the driver reported: a driver that
 * does not report spoof check, trust or RSS query (the kernel's -1) leaves its bit
 * clear, and so does a value outside the known ones.
 * Errors: -ENOENT the PF does not list that VF; -EOPNOTSUPP the PF reports no VF
 * settings at all (its driver has no ndo_get_vf_config).
 */
int vfm_vf_config_get(struct vfm_ctx *ctx, const struct vfm_pf *pf, uint32_t vf,
		      struct vfm_vf_config *ret, char *why, size_t why_size);

/**
 * vfm_vf_config_get_all() - the settings of every VF the PF lists, in the PF's order.
 * *@ret_list is malloc'ed (NULL when the count is 0).  Returns the count or -errno
 * (-EOPNOTSUPP as above).
 */
int vfm_vf_config_get_all(struct vfm_ctx *ctx, const struct vfm_pf *pf,
			  struct vfm_vf_config **ret_list, char *why, size_t why_size);

/**
 * vfm_vf_config_set() - send the fields in @fields (VFM_VF_*) of @cfg to VF @vf of
 * @pf, one RTM_SETLINK per field in this order: mac, vlan, rate, spoofchk, trust,
 * rss query, link state; stops at the first refusal and names that field.  It does
 * not check the values (call vfm_vf_config_check() first), so that the kernel's own
 * refusal can be seen: the kernel is the judge.  *@ret_done (may be NULL) receives the
 * fields the kernel accepted, also on failure.
 */
int vfm_vf_config_set(struct vfm_ctx *ctx, const struct vfm_pf *pf, uint32_t vf,
		      const struct vfm_vf_config *cfg, uint32_t fields,
		      uint32_t *ret_done, char *why, size_t why_size);

/**
 * vfm_vf_config_capture() - the admin settings of the VF @vf_dev (a PCI address or
 * sysfs path, see vfm_vf_find()), for a migration stream.
 * Errors: -ENODEV with "no PF netdev" in @why when @vf_dev is not a network VF (an
 * mdev, a VF whose PF has no netdev, a plain PCI function): the caller says "no VF
 * config (not a network VF)" and goes on; the errors of vfm_vf_config_get().
 */
int vfm_vf_config_capture(struct vfm_ctx *ctx, const char *vf_dev,
			  struct vfm_vf_config *ret, char *why, size_t why_size);
int vfm_vf_config_capture_ref(struct vfm_ctx *ctx, const struct vfm_vf_ref *ref,
			      struct vfm_vf_config *ret, char *why, size_t why_size);

/**
 * vfm_vf_config_apply() - give the VF @vf_dev the settings in @cfg (captured on
 * another host, typically): check them (vfm_vf_config_check()), read the VF's
 * current settings, send only the fields in @cfg->have that differ (order as
 * vfm_vf_config_set()), then read them back and compare.  @cfg->vf is ignored: the
 * VF is @vf_dev.  Settings equal to the current ones are not sent, so a destination
 * that cannot set a field (rates in switchdev mode) is fine as long as it already
 * has the value.  *@ret_changed (may be NULL) gets the fields sent, also on failure:
 * a failure may leave the VF with some of them changed; the caller that wants to undo
 * them captures the VF first and applies that capture back.
 * Errors: -EINVAL from the check; -ENODEV as capture; the kernel's -errno for the
 * first field it refused (@why names the field); -EIO when the read-back differs.
 */
int vfm_vf_config_apply(struct vfm_ctx *ctx, const char *vf_dev,
			const struct vfm_vf_config *cfg, uint32_t *ret_changed, char *why,
			size_t why_size);
int vfm_vf_config_apply_ref(struct vfm_ctx *ctx, const struct vfm_vf_ref *ref,
			    const struct vfm_vf_config *cfg, uint32_t *ret_changed,
			    char *why, size_t why_size);

/*
 * Wire form of struct vfm_vf_config, for a stream record: VFM_VF_CONFIG_WIRE_SIZE
 * bytes, little-endian, layout in vfm_vf_config_encode()'s kernel-doc
 * (src/net/vfconfig.c).
 */
#define VFM_VF_CONFIG_WIRE_VERSION 1
#define VFM_VF_CONFIG_WIRE_SIZE	   40

/**
 * vfm_vf_config_encode() - write @cfg into @buf (VFM_VF_CONFIG_WIRE_SIZE bytes).
 * Returns the size written, or -EINVAL when @cfg fails vfm_vf_config_check().
 */
int vfm_vf_config_encode(const struct vfm_vf_config *cfg,
			 uint8_t buf[VFM_VF_CONFIG_WIRE_SIZE]);

/**
 * vfm_vf_config_decode() - read @size bytes of untrusted input.  A version 1 record
 * may be longer than VFM_VF_CONFIG_WIRE_SIZE (fields appended later); the length field
 * must then match @size.  Errors: -EBADMSG short, length mismatch, a reserved byte not
 * 0, a value vfm_vf_config_check() refuses; -EPROTONOSUPPORT another version, or a
 * "have" bit this version does not know (a setting that would be lost).
 */
int vfm_vf_config_decode(const void *buf, size_t size, struct vfm_vf_config *ret,
			 char *why, size_t why_size);

/**
 * vfm_vf_config_equal() - whether @a and @b hold the same settings: the same have
 * bits and equal values for each (VLAN 0 with qos 0 is "no VLAN" whatever the
 * protocol).  @a->vf and @b->vf are not compared.
 */
bool vfm_vf_config_equal(const struct vfm_vf_config *a, const struct vfm_vf_config *b);

/** vfm_vf_field_name() - "mac", "vlan", ... for one VFM_VF_* bit; NULL otherwise. */
const char *vfm_vf_field_name(uint32_t field);

/**
 * vfm_vf_fields_format() - "mac,vlan,trust" for a VFM_VF_* mask ("none" for 0).
 * Returns the length, or -ENOBUFS.
 */
int vfm_vf_fields_format(uint32_t fields, char *buf, size_t size);

/** vfm_vf_config_format() - the fields in @cfg->have on one line, as "vf list" prints
 * them. */
int vfm_vf_config_format(const struct vfm_vf_config *cfg, char *buf, size_t size);

/** vfm_mac_parse() - "52:54:00:12:34:56" (hex pairs, ':' or '-'); -EINVAL otherwise. */
int vfm_mac_parse(const char *s, uint8_t ret_mac[6]);
void vfm_mac_format(const uint8_t mac[6], char buf[18]);

/** vfm_vf_link_state_name() - "auto", "enable", "disable"; NULL for other values. */
const char *vfm_vf_link_state_name(unsigned state);
int vfm_vf_link_state_from_name(const char *name, uint8_t *ret_state);

/* ------------------------------------------------------------------------- */
/* devlink                                                                   */

enum vfm_eswitch_mode {
	VFM_ESWITCH_LEGACY = 0,
	VFM_ESWITCH_SWITCHDEV = 1,
};

/**
 * vfm_devlink_eswitch_get() / _set() - the PF's eswitch mode (DEVLINK_CMD_ESWITCH_GET
 * / _SET on the PF's devlink handle).  Errors: -ENODEV no devlink instance for the
 * PF; -EOPNOTSUPP its driver has no eswitch; -EPERM without CAP_NET_ADMIN; -EBADMSG
 * a mode outside the known ones.
 */
int vfm_devlink_eswitch_get(struct vfm_ctx *ctx, const struct vfm_pf *pf,
			    enum vfm_eswitch_mode *ret_mode, char *why, size_t why_size);
int vfm_devlink_eswitch_set(struct vfm_ctx *ctx, const struct vfm_pf *pf,
			    enum vfm_eswitch_mode mode, char *why, size_t why_size);
const char *vfm_eswitch_mode_name(enum vfm_eswitch_mode mode);

enum vfm_port_flavour {
	VFM_PORT_PHYSICAL,
	VFM_PORT_CPU,
	VFM_PORT_DSA,
	VFM_PORT_PCI_PF,
	VFM_PORT_PCI_VF,
	VFM_PORT_VIRTUAL,
	VFM_PORT_UNUSED,
	VFM_PORT_PCI_SF,
	VFM_PORT_OTHER, /* a flavour this vfiomig does not know */
};

/* One devlink port, as DEVLINK_CMD_PORT_GET reports it. */
struct vfm_devlink_port {
	uint32_t index;
	enum vfm_port_flavour flavour;
	char netdev[VFM_IFNAME_MAX]; /* the port's netdev (a representor), "" if none */
	int32_t pf_number;	     /* PCI PF / VF flavours, else -1 */
	int32_t vf_number;	     /* PCI VF flavour, else -1 */
	int32_t controller;	     /* -1 unknown */
	bool external;	     /* a port of another host's (controller's) function */
	uint8_t hw_addr[32]; /* port function hardware address */
	uint8_t hw_addr_len; /* 0 when not reported */
	int8_t migratable;   /* port function caps: 1, 0, or -1 when not reported */
};

/** vfm_port_flavour_name() - iproute2's names: "physical", "pcipf", "pcivf", ... */
const char *vfm_port_flavour_name(enum vfm_port_flavour flavour);

/**
 * vfm_devlink_ports() - the ports of the PF's devlink instance (a bounded dump of
 * DEVLINK_CMD_PORT_GET).  *@ret_list is malloc'ed (NULL for 0).  Returns the count,
 * or -errno (-EOPNOTSUPP when the kernel has no devlink family).
 */
int vfm_devlink_ports(struct vfm_ctx *ctx, const struct vfm_pf *pf,
		      struct vfm_devlink_port **ret_list, char *why, size_t why_size);

/**
 * vfm_devlink_vf_port() - which of @ports is VF @vf of the PF: flavour pcivf, that VF
 * number, not external, and the PF number of the instance's own pcipf port when it
 * lists one.  Returns the index into @ports, -ENOENT none, -ENOTUNIQ several.
 */
int vfm_devlink_vf_port(const struct vfm_devlink_port *ports, size_t n, uint32_t vf);

/**
 * vfm_vf_migratable_set() - set or clear DEVLINK_PORT_FN_CAP_MIGRATABLE on the VF's
 * devlink port function, after checking what the kernel would refuse less clearly,
 * in this order: the VF must have no driver bound (-EBUSY), the eswitch must be in
 * switchdev mode (-EOPNOTSUPP "not switchdev"), its port must exist (-ENOENT).  The
 * kernel's refusal comes back with its extack message verbatim in @why.  When the
 * kernel reports the capability, it is read back (-EIO if it did not change).
 */
int vfm_vf_migratable_set(struct vfm_ctx *ctx, const struct vfm_vf_ref *ref, bool on,
			  char *why, size_t why_size);

/* ------------------------------------------------------------------------- */
/* listing                                                                   */

/* One VF as "vf list" shows it.  Errors are kept per part: one unknown part does not
 * hide the others. */
struct vfm_vf_info {
	struct vfm_vf_ref ref;
	struct vfm_vf_config config; /* config.have == 0 when the PF reported nothing */
	bool has_port;
	struct vfm_devlink_port port; /* valid if has_port */
};

struct vfm_vf_list_status {
	int config_error;	       /* 0, or -errno reading the VF settings */
	int eswitch_error;	       /* 0, or -errno reading the eswitch mode */
	enum vfm_eswitch_mode eswitch; /* valid if eswitch_error == 0 */
	int ports_error;	       /* 0, or -errno of the port dump */
	char config_why[VFM_NET_WHY_MAX];
	char eswitch_why[VFM_NET_WHY_MAX];
	char ports_why[VFM_NET_WHY_MAX];
};

/**
 * vfm_vf_list() - every VF of @pf (its VF count from the kernel's IFLA_NUM_VF, else
 * sysfs), with PCI function, driver, settings and devlink port.  *@ret_list is
 * malloc'ed (NULL for 0).  Returns the count or -errno (only when nothing could be
 * read; partial failures are in *@ret_status).
 */
int vfm_vf_list(struct vfm_ctx *ctx, const struct vfm_pf *pf,
		struct vfm_vf_info **ret_list, struct vfm_vf_list_status *ret_status);
