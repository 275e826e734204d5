/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Inside the net layer: the netlink plumbing (nl.c), message builders and reply
 * parsers for rtnetlink (rtnl.c, on libnl-route's VF API) and devlink (devlink.c),
 * sysfs (pf.c).  Builders and
 * parsers touch no socket, so the unit tests run them on buffers.
 */

#include <stdbool.h>
#include <stdint.h>

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "ctx-internal.h"
#include "net.h"

/* ---- nl.c ----------------------------------------------------------------- */

/**
 * vfm_nl_errno() - the one place that maps libnl's codes to errno: a libnl return
 * (0, a count, or -NLE_*) becomes 0 / the count / -errno.
 */
int vfm_nl_errno(int nle);

#define VFM_EXTACK_MAX 256

/* What an NLMSG_ERROR or NLMSG_DONE carried. */
struct vfm_nl_extack {
	char msg[VFM_EXTACK_MAX]; /* NLMSGERR_ATTR_MSG, control characters replaced; "" */
	bool has_offset;
	uint32_t offset; /* NLMSGERR_ATTR_OFFS: the offending attribute */
	bool has_miss_type;
	uint32_t miss_type; /* NLMSGERR_ATTR_MISS_TYPE: a missing attribute */
};

/**
 * vfm_nl_parse_ack() - the error code and extended ack of an NLMSG_ERROR or NLMSG_DONE
 * message of @len bytes (@len bounds every read; hdr->nlmsg_len must fit in it).
 * *@ret_error: 0 or a negative errno (out-of-range codes become -EPROTO).
 * Returns 0, or -EBADMSG when the message is truncated or its TLVs are malformed.
 */
int vfm_nl_parse_ack(const struct nlmsghdr *hdr, size_t len, int *ret_error,
		     struct vfm_nl_extack *ret_ext);

/**
 * vfm_nla_parse_strict() - nla_parse() with a policy, plus what libnl tolerates: bytes
 * left over after the last attribute (a truncated attribute) are an error.  Every
 * failure is -EBADMSG.  vfm_nla_parse_nested_strict() parses the payload of @nla.
 */
int vfm_nla_parse_strict(struct nlattr **tb, int maxtype, struct nlattr *head, int len,
			 const struct nla_policy *policy);
int vfm_nla_parse_nested_strict(struct nlattr **tb, int maxtype, const struct nlattr *nla,
				const struct nla_policy *policy);

/* A netlink socket for one operation. */
struct vfm_nl {
	struct vfm_ctx *ctx;
	struct nl_sock *sk;
	int family;  /* generic netlink family id; 0 for rtnetlink */
	bool broken; /* a transaction stopped before its end: unread replies remain */
};

/* Open NETLINK_ROUTE, or NETLINK_GENERIC with @family resolved (-EOPNOTSUPP: the
 * kernel has no such family).  Extended acks on, acks capped, CLOEXEC, 60 s receive
 * timeout. */
int vfm_nl_open_route(struct vfm_nl *nl, struct vfm_ctx *ctx);
int vfm_nl_open_genl(struct vfm_nl *nl, struct vfm_ctx *ctx, const char *family);
void vfm_nl_close(struct vfm_nl *nl);

/* Called for each reply (not for ERROR/DONE); return 0 or a -errno that ends the
 * transaction. */
typedef int (*vfm_nl_reply_fn)(const struct nlmsghdr *hdr, void *userdata);

/**
 * vfm_nl_transact() - send @req (its flags set by the builder; NLM_F_ACK is added)
 * and receive until its ACK, ERROR or DONE.  At most @max_replies replies (-E2BIG
 * beyond).  Returns 0, the kernel's -errno (extack in *@ret_ext, may be NULL), a
 * callback's -errno, -EAGAIN when a dump was interrupted (NLM_F_DUMP_INTR: the caller
 * retries), -ETIMEDOUT.
 */
int vfm_nl_transact(struct vfm_nl *nl, struct nl_msg *req, vfm_nl_reply_fn fn,
		    void *userdata, unsigned max_replies, struct vfm_nl_extack *ret_ext);

/* Append "; kernel says: MSG" to @why when the extack has a message. */
void vfm_nl_why_extack(char *why, size_t why_size, const struct vfm_nl_extack *ext);

/* snprintf into @why when it is non-NULL; returns @err. */
int vfm_net_fail(char *why, size_t why_size, int err, const char *fmt, ...)
	_printf_(4, 5);

/* ---- rtnl.c --------------------------------------------------------------- */

/* A link and its VF list, as RTM_NEWLINK reports them. */
struct vfm_rt_link {
	int32_t ifindex;
	char ifname[VFM_IFNAME_MAX];
	uint16_t type;	  /* ARPHRD_* */
	uint8_t addr_len; /* IFLA_ADDRESS length, 0 if none */
	int32_t num_vf;	  /* IFLA_NUM_VF, -1 when absent */
	bool has_vfinfo;  /* IFLA_VFINFO_LIST present */
	uint32_t n_vfs;	  /* entries of vfs[] */
	struct vfm_vf_config vfs[VFM_VF_MAX];
};

/* RTM_GETLINK for @ifindex with RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS (libnl-route's
 * request, SKIP_STATS added).  NULL: no memory or @ifindex not above 0. */
struct nl_msg *vfm_rt_build_getlink(int32_t ifindex);
/* Parse an RTM_NEWLINK of @len bytes into @ret (not zeroed first: set it up with
 * vfm_rt_link_init()): checked first, then the VF settings read by libnl-route.
 * -EBADMSG: policy, nesting, duplicate or inconsistent VF indexes, an empty or short
 * VLAN list, VFs listed beyond IFLA_NUM_VF or without it, trailing bytes, a reply
 * libnl-route refuses; -E2BIG more than VFM_VF_MAX VFs; -ENOMEM. */
void vfm_rt_link_init(struct vfm_rt_link *link);
int vfm_rt_parse_link(const struct nlmsghdr *hdr, size_t len, struct vfm_rt_link *ret);
/* RTM_SETLINK on @ifindex setting one VFM_VF_* @field of VF @vf from @cfg, built by
 * libnl-route (rtnl_link_build_change_request()), but for a VLAN whose protocol is not
 * 802.1Q (hand-built: see rtnl.c).  NULL: no memory or @field is not exactly one known
 * bit. */
struct nl_msg *vfm_rt_build_setvf(int32_t ifindex, uint32_t vf, uint32_t field,
				  const struct vfm_vf_config *cfg);
/* Read the link @ifindex: sends, receives, parses. */
int vfm_rt_get_link(struct vfm_nl *nl, int32_t ifindex, struct vfm_rt_link *ret,
		    struct vfm_nl_extack *ret_ext);

/* ---- devlink.c ------------------------------------------------------------ */

/* One DEVLINK_CMD_PORT_NEW reply: the handle it belongs to, and the port. */
struct vfm_dl_port_msg {
	char bus[32];
	char dev[128];
	struct vfm_devlink_port port;
};

struct nl_msg *vfm_dl_build_port_dump(int family, const char *bus, const char *dev);
int vfm_dl_parse_port(const struct nlmsghdr *hdr, size_t len, int family,
		      struct vfm_dl_port_msg *ret);
/* DEVLINK_CMD_PORT_SET: function caps {value, selector} on one port. */
struct nl_msg *vfm_dl_build_port_caps(int family, const char *bus, const char *dev,
				      uint32_t port_index, uint32_t value,
				      uint32_t selector);
struct nl_msg *vfm_dl_build_eswitch_get(int family, const char *bus, const char *dev);
struct nl_msg *vfm_dl_build_eswitch_set(int family, const char *bus, const char *dev,
					uint16_t mode);
/* An ESWITCH_GET reply for @bus/@dev: the mode, -EBADMSG otherwise. */
int vfm_dl_parse_eswitch(const struct nlmsghdr *hdr, size_t len, int family,
			 const char *bus, const char *dev,
			 enum vfm_eswitch_mode *ret_mode);

/* ---- pf.c ----------------------------------------------------------------- */

/* Whether @name is a port representor's phys_port_name ("pf0vf1", "c1pf0", "pf0sf3"). */
bool vfm_is_representor_port_name(const char *name);
