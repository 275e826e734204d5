// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rtnetlink: a PF's VF list (RTM_GETLINK with RTEXT_FILTER_VF: IFLA_NUM_VF,
 * IFLA_VFINFO_LIST) and one VF setting per RTM_SETLINK (IFLA_VFINFO_LIST /
 * IFLA_VF_INFO / IFLA_VF_*).  Messages are built with libnl and parsed with
 * policies; every value from the kernel is checked before it is used.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>

#include "net-internal.h"

/* At most this many entries in one IFLA_VF_VLAN_LIST (the kernel sends one). */
#define VLAN_LIST_MAX 8

static const struct nla_policy link_policy[IFLA_MAX + 1] = {
	[IFLA_IFNAME] = {.type = NLA_STRING, .maxlen = VFM_IFNAME_MAX},
	[IFLA_ADDRESS] = {.type = NLA_UNSPEC, .maxlen = 32},
	[IFLA_NUM_VF] = {.type = NLA_U32},
	[IFLA_VFINFO_LIST] = {.type = NLA_NESTED},
};

static const struct nla_policy vf_policy[IFLA_VF_MAX + 1] = {
	[IFLA_VF_MAC] = {.minlen = sizeof(struct ifla_vf_mac)},
	[IFLA_VF_VLAN] = {.minlen = sizeof(struct ifla_vf_vlan)},
	[IFLA_VF_TX_RATE] = {.minlen = sizeof(struct ifla_vf_tx_rate)},
	[IFLA_VF_SPOOFCHK] = {.minlen = sizeof(struct ifla_vf_spoofchk)},
	[IFLA_VF_LINK_STATE] = {.minlen = sizeof(struct ifla_vf_link_state)},
	[IFLA_VF_RATE] = {.minlen = sizeof(struct ifla_vf_rate)},
	[IFLA_VF_RSS_QUERY_EN] = {.minlen = sizeof(struct ifla_vf_rss_query_en)},
	[IFLA_VF_STATS] = {.type = NLA_NESTED},
	[IFLA_VF_TRUST] = {.minlen = sizeof(struct ifla_vf_trust)},
	[IFLA_VF_VLAN_LIST] = {.type = NLA_NESTED},
};

void vfm_rt_link_init(struct vfm_rt_link *link)
{
	memset(link, 0, offsetof(struct vfm_rt_link, vfs));
	link->ifindex = -1;
	link->num_vf = -1;
}

/* A 0/1 setting; the kernel's -1 ("not reported") and anything else leave it unknown. */
static void get_bool(const struct nlattr *nla, struct vfm_vf_config *cfg, uint32_t bit,
		     bool *field)
{
	struct ifla_vf_trust s; /* same layout as spoofchk and rss_query_en */

	memcpy(&s, nla_data(nla), sizeof(s));
	if (s.setting <= 1) {
		*field = s.setting;
		cfg->have |= bit;
	}
}

static int parse_vlan_list(const struct nlattr *list, struct ifla_vf_vlan_info *ret,
			   bool *found)
{
	struct nlattr *nla;
	int rem;
	unsigned n = 0;

	nla_for_each_nested(nla, list, rem)
	{
		if (nla_type(nla) != IFLA_VF_VLAN_INFO ||
		    nla_len(nla) < (int)sizeof(struct ifla_vf_vlan_info) ||
		    ++n > VLAN_LIST_MAX)
			return -EBADMSG;
		if (n == 1)
			memcpy(ret, nla_data(nla), sizeof(*ret));
	}
	if (rem > 0)
		return -EBADMSG;
	*found = n > 0;
	return 0;
}

/* One IFLA_VF_INFO.  Structure faults are -EBADMSG; a value outside what a VF can
 * have only leaves that setting unknown. */
static int parse_vf(const struct nlattr *info, struct vfm_vf_config *ret)
{
	struct nlattr *tb[IFLA_VF_MAX + 1];
	struct vfm_vf_config cfg = {};
	struct ifla_vf_mac mac;
	int r;

	r = vfm_nla_parse_nested_strict(tb, IFLA_VF_MAX, info, vf_policy);
	if (r < 0)
		return r;
	/* The kernel always sends the MAC first; every struct names the VF again. */
	if (!tb[IFLA_VF_MAC])
		return -EBADMSG;
	memcpy(&mac, nla_data(tb[IFLA_VF_MAC]), sizeof(mac));
	cfg.vf = mac.vf;
	memcpy(cfg.mac, mac.mac, sizeof(cfg.mac));
	cfg.have |= VFM_VF_MAC;

	if (tb[IFLA_VF_VLAN_LIST] || tb[IFLA_VF_VLAN]) {
		struct ifla_vf_vlan_info vi = {};
		bool found = false;

		if (tb[IFLA_VF_VLAN_LIST]) {
			r = parse_vlan_list(tb[IFLA_VF_VLAN_LIST], &vi, &found);
			if (r < 0)
				return r;
		}
		if (!found && tb[IFLA_VF_VLAN]) {
			struct ifla_vf_vlan v;

			memcpy(&v, nla_data(tb[IFLA_VF_VLAN]), sizeof(v));
			vi = (struct ifla_vf_vlan_info){.vf = v.vf,
							.vlan = v.vlan,
							.qos = v.qos,
							.vlan_proto =
								htons(VFM_ETH_P_8021Q)};
			found = true;
		}
		if (found) {
			uint16_t proto = ntohs(vi.vlan_proto);

			if (vi.vf != cfg.vf)
				return -EBADMSG;
			/* A driver that never set a protocol reports 0: 802.1Q. */
			if (proto == 0)
				proto = VFM_ETH_P_8021Q;
			if (vi.vlan <= 4095 && vi.qos <= 7 &&
			    (proto == VFM_ETH_P_8021Q || proto == VFM_ETH_P_8021AD)) {
				cfg.vlan = (uint16_t)vi.vlan;
				cfg.qos = (uint8_t)vi.qos;
				cfg.vlan_proto = proto;
				cfg.have |= VFM_VF_VLAN;
			}
		}
	}
	if (tb[IFLA_VF_RATE]) {
		struct ifla_vf_rate v;

		memcpy(&v, nla_data(tb[IFLA_VF_RATE]), sizeof(v));
		if (v.vf != cfg.vf)
			return -EBADMSG;
		cfg.min_tx_rate = v.min_tx_rate;
		cfg.max_tx_rate = v.max_tx_rate;
		cfg.have |= VFM_VF_RATE;
	} else if (tb[IFLA_VF_TX_RATE]) {
		struct ifla_vf_tx_rate v;

		memcpy(&v, nla_data(tb[IFLA_VF_TX_RATE]), sizeof(v));
		if (v.vf != cfg.vf)
			return -EBADMSG;
		cfg.max_tx_rate = v.rate;
		cfg.have |= VFM_VF_RATE;
	}
	if (tb[IFLA_VF_SPOOFCHK]) {
		struct ifla_vf_spoofchk v;

		memcpy(&v, nla_data(tb[IFLA_VF_SPOOFCHK]), sizeof(v));
		if (v.vf != cfg.vf)
			return -EBADMSG;
		get_bool(tb[IFLA_VF_SPOOFCHK], &cfg, VFM_VF_SPOOFCHK, &cfg.spoofchk);
	}
	if (tb[IFLA_VF_TRUST]) {
		struct ifla_vf_trust v;

		memcpy(&v, nla_data(tb[IFLA_VF_TRUST]), sizeof(v));
		if (v.vf != cfg.vf)
			return -EBADMSG;
		get_bool(tb[IFLA_VF_TRUST], &cfg, VFM_VF_TRUST, &cfg.trust);
	}
	if (tb[IFLA_VF_RSS_QUERY_EN]) {
		struct ifla_vf_rss_query_en v;

		memcpy(&v, nla_data(tb[IFLA_VF_RSS_QUERY_EN]), sizeof(v));
		if (v.vf != cfg.vf)
			return -EBADMSG;
		get_bool(tb[IFLA_VF_RSS_QUERY_EN], &cfg, VFM_VF_RSS_QUERY,
			 &cfg.rss_query);
	}
	if (tb[IFLA_VF_LINK_STATE]) {
		struct ifla_vf_link_state v;

		memcpy(&v, nla_data(tb[IFLA_VF_LINK_STATE]), sizeof(v));
		if (v.vf != cfg.vf)
			return -EBADMSG;
		switch (v.link_state) {
		case IFLA_VF_LINK_STATE_AUTO:
			cfg.link_state = VFM_VF_LINK_STATE_AUTO;
			cfg.have |= VFM_VF_LINK_STATE;
			break;
		case IFLA_VF_LINK_STATE_ENABLE:
			cfg.link_state = VFM_VF_LINK_STATE_ENABLE;
			cfg.have |= VFM_VF_LINK_STATE;
			break;
		case IFLA_VF_LINK_STATE_DISABLE:
			cfg.link_state = VFM_VF_LINK_STATE_DISABLE;
			cfg.have |= VFM_VF_LINK_STATE;
			break;
		default: break;
		}
	}
	*ret = cfg;
	return 0;
}

int vfm_rt_parse_link(const struct nlmsghdr *hdr, size_t len, struct vfm_rt_link *ret)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg ifi;
	struct nlattr *nla;
	int r, rem;

	if (len < NLMSG_HDRLEN || hdr->nlmsg_len > len ||
	    !nlmsg_valid_hdr(hdr, sizeof(struct ifinfomsg)) ||
	    hdr->nlmsg_type != RTM_NEWLINK)
		return -EBADMSG;
	memcpy(&ifi, nlmsg_data(hdr), sizeof(ifi));
	r = vfm_nla_parse_strict(tb, IFLA_MAX, nlmsg_attrdata(hdr, sizeof(ifi)),
				 nlmsg_attrlen(hdr, sizeof(ifi)), link_policy);
	if (r < 0)
		return r;
	if (ifi.ifi_index <= 0)
		return -EBADMSG;
	ret->ifindex = ifi.ifi_index;
	ret->type = ifi.ifi_type;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(ret->ifname, tb[IFLA_IFNAME], sizeof(ret->ifname));
	if (tb[IFLA_ADDRESS])
		ret->addr_len = (uint8_t)nla_len(tb[IFLA_ADDRESS]);
	if (tb[IFLA_NUM_VF]) {
		uint32_t n = nla_get_u32(tb[IFLA_NUM_VF]);

		if (n > INT32_MAX)
			return -EBADMSG;
		ret->num_vf = (int32_t)n;
	}
	if (!tb[IFLA_VFINFO_LIST])
		return 0;
	ret->has_vfinfo = true;
	nla_for_each_nested(nla, tb[IFLA_VFINFO_LIST], rem)
	{
		struct vfm_vf_config cfg;

		if (nla_type(nla) != IFLA_VF_INFO)
			return -EBADMSG;
		if (ret->n_vfs >= VFM_VF_MAX)
			return -E2BIG;
		r = parse_vf(nla, &cfg);
		if (r < 0)
			return r;
		if (cfg.vf >= VFM_VF_MAX)
			return -E2BIG;
		for (uint32_t i = 0; i < ret->n_vfs; i++)
			if (ret->vfs[i].vf == cfg.vf)
				return -EBADMSG;
		/* A MAC is 6 bytes on an Ethernet PF only. */
		if (ret->type != ARPHRD_ETHER || (ret->addr_len && ret->addr_len != 6))
			cfg.have &= ~VFM_VF_MAC;
		ret->vfs[ret->n_vfs++] = cfg;
	}
	if (rem > 0)
		return -EBADMSG;
	/* More VFs listed than the PF says it has: not a reply we can trust. */
	if (ret->num_vf >= 0 && ret->n_vfs > (uint32_t)ret->num_vf)
		return -EBADMSG;
	return 0;
}

struct nl_msg *vfm_rt_build_getlink(int32_t ifindex)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST);

	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS) <
		    0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int put_vf_field(struct nl_msg *msg, uint32_t vf, uint32_t field,
			const struct vfm_vf_config *cfg)
{
	switch (field) {
	case VFM_VF_MAC: {
		struct ifla_vf_mac v = {.vf = vf};

		memcpy(v.mac, cfg->mac, sizeof(cfg->mac));
		return nla_put(msg, IFLA_VF_MAC, sizeof(v), &v);
	}
	case VFM_VF_VLAN:
		if (cfg->vlan_proto == VFM_ETH_P_8021Q) {
			struct ifla_vf_vlan v = {
				.vf = vf, .vlan = cfg->vlan, .qos = cfg->qos};

			return nla_put(msg, IFLA_VF_VLAN, sizeof(v), &v);
		} else {
			/* Only the list form carries a protocol. */
			struct ifla_vf_vlan_info v = {.vf = vf,
						      .vlan = cfg->vlan,
						      .qos = cfg->qos,
						      .vlan_proto =
							      htons(cfg->vlan_proto)};
			struct nlattr *list =
				nla_nest_start(msg, IFLA_VF_VLAN_LIST | NLA_F_NESTED);

			if (!list || nla_put(msg, IFLA_VF_VLAN_INFO, sizeof(v), &v) < 0)
				return -NLE_NOMEM;
			return nla_nest_end(msg, list);
		}
	case VFM_VF_RATE: {
		struct ifla_vf_rate v = {.vf = vf,
					 .min_tx_rate = cfg->min_tx_rate,
					 .max_tx_rate = cfg->max_tx_rate};

		return nla_put(msg, IFLA_VF_RATE, sizeof(v), &v);
	}
	case VFM_VF_SPOOFCHK: {
		struct ifla_vf_spoofchk v = {.vf = vf, .setting = cfg->spoofchk};

		return nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(v), &v);
	}
	case VFM_VF_TRUST: {
		struct ifla_vf_trust v = {.vf = vf, .setting = cfg->trust};

		return nla_put(msg, IFLA_VF_TRUST, sizeof(v), &v);
	}
	case VFM_VF_RSS_QUERY: {
		struct ifla_vf_rss_query_en v = {.vf = vf, .setting = cfg->rss_query};

		return nla_put(msg, IFLA_VF_RSS_QUERY_EN, sizeof(v), &v);
	}
	case VFM_VF_LINK_STATE: {
		/* Sent as given: the kernel judges values outside auto/enable/disable. */
		struct ifla_vf_link_state v = {.vf = vf, .link_state = cfg->link_state};

		return nla_put(msg, IFLA_VF_LINK_STATE, sizeof(v), &v);
	}
	default: return -NLE_INVAL;
	}
}

struct nl_msg *vfm_rt_build_setvf(int32_t ifindex, uint32_t vf, uint32_t field,
				  const struct vfm_vf_config *cfg)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
	struct nlattr *list, *info;
	struct nl_msg *msg;

	if (!vfm_vf_field_name(field))
		return NULL;
	msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST);
	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		goto fail;
	list = nla_nest_start(msg, IFLA_VFINFO_LIST | NLA_F_NESTED);
	if (!list)
		goto fail;
	info = nla_nest_start(msg, IFLA_VF_INFO | NLA_F_NESTED);
	if (!info || put_vf_field(msg, vf, field, cfg) < 0 ||
	    nla_nest_end(msg, info) < 0 || nla_nest_end(msg, list) < 0)
		goto fail;
	return msg;
fail:
	nlmsg_free(msg);
	return NULL;
}

struct getlink {
	struct vfm_rt_link *link;
	int32_t ifindex;
	bool got;
};

static int on_link(const struct nlmsghdr *hdr, void *userdata)
{
	struct getlink *g = userdata;
	int r;

	if (g->got)
		return -EBADMSG; /* one reply to a request for one link */
	r = vfm_rt_parse_link(hdr, hdr->nlmsg_len, g->link);
	if (r < 0)
		return r;
	if (g->link->ifindex != g->ifindex)
		return -EBADMSG;
	g->got = true;
	return 0;
}

int vfm_rt_get_link(struct vfm_nl *nl, int32_t ifindex, struct vfm_rt_link *ret,
		    struct vfm_nl_extack *ret_ext)
{
	struct getlink g = {.link = ret, .ifindex = ifindex};
	struct nl_msg *msg;
	int r;

	vfm_rt_link_init(ret);
	msg = vfm_rt_build_getlink(ifindex);
	if (!msg)
		return -ENOMEM;
	r = vfm_nl_transact(nl, msg, on_link, &g, 1, ret_ext);
	nlmsg_free(msg);
	if (r == 0 && !g.got)
		r = -EBADMSG;
	return r;
}
