// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Netlink messages of src/net without a socket: requests built into buffers and
 * parsed back; kernel replies made the way the kernel makes them (rtnl_fill_vfinfo(),
 * devlink_nl_port_fill(), netlink_ack()) and parsed, then broken one way at a time:
 * short or truncated attributes, bytes left over, wrong types, inconsistent VF
 * indexes, over the limits; and what libnl-route (the VF settings' parser and most
 * builders) gets wrong, which src/net/rtnl.c works around.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/devlink.h>
#include <linux/genetlink.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>

#include "macro.h"
#include "net-internal.h"
#include "net.h"
#include "tap.h"

#define FAMILY 0x1d /* a devlink family id, as the controller would give */

/* A copy of a built message in a plain buffer, for breaking it. */
struct buf {
	uint8_t b[1 << 18];
	size_t len;
};

static struct buf *to_buf(struct nl_msg *m)
{
	struct buf *b = calloc(1, sizeof(*b));

	b->len = nlmsg_hdr(m)->nlmsg_len;
	memcpy(b->b, nlmsg_hdr(m), b->len);
	nlmsg_free(m);
	return b;
}

static struct nlmsghdr *H(struct buf *b)
{
	return (struct nlmsghdr *)b->b;
}

/* ---- rtnetlink: requests ---- */

/* Parse a built RTM_SETLINK down to the IFLA_VF_INFO payload. */
static int setlink_vfinfo(struct nl_msg *m, int32_t *ifindex, struct nlattr **info_tb,
			  bool *flags_ok)
{
	struct nlmsghdr *h = nlmsg_hdr(m);
	struct nlattr *tb[IFLA_MAX + 1], *list[2], *info;
	struct ifinfomsg ifi;
	int rem, n = 0;

	if (h->nlmsg_type != RTM_SETLINK || !(h->nlmsg_flags & NLM_F_REQUEST) ||
	    !nlmsg_valid_hdr(h, sizeof(ifi)))
		return -1;
	memcpy(&ifi, nlmsg_data(h), sizeof(ifi));
	*ifindex = ifi.ifi_index;
	if (nlmsg_parse(h, sizeof(ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_VFINFO_LIST])
		return -1;
	*flags_ok = tb[IFLA_VFINFO_LIST]->nla_type & NLA_F_NESTED;
	nla_for_each_nested(info, tb[IFLA_VFINFO_LIST], rem)
	{
		if (nla_type(info) != IFLA_VF_INFO || n == 1)
			return -1;
		list[n++] = info;
		*flags_ok = *flags_ok && (info->nla_type & NLA_F_NESTED);
	}
	if (n != 1 || nla_parse_nested(info_tb, IFLA_VF_MAX, list[0], NULL) < 0)
		return -1;
	/* exactly one setting in it */
	n = 0;
	for (int i = 0; i <= IFLA_VF_MAX; i++)
		n += info_tb[i] != NULL;
	return n == 1 ? 0 : -1;
}

static void test_rt_build(void)
{
	struct vfm_vf_config c = {
		.mac = {0x02, 1, 2, 3, 4, 5},
		.vlan = 10,
		.qos = 3,
		.vlan_proto = VFM_ETH_P_8021Q,
		.min_tx_rate = 10,
		.max_tx_rate = 100,
		.spoofchk = true,
		.trust = true,
		.rss_query = false,
		.link_state = 7,
	};
	struct nlattr *tb[IFLA_VF_MAX + 1];
	struct nl_msg *m;
	int32_t ifindex = 0;
	bool flags = false;

	m = vfm_rt_build_getlink(42);
	{
		struct nlmsghdr *h = nlmsg_hdr(m);
		struct nlattr *t2[IFLA_MAX + 1];
		struct ifinfomsg ifi;

		memcpy(&ifi, nlmsg_data(h), sizeof(ifi));
		tap_ok(h->nlmsg_type == RTM_GETLINK && !(h->nlmsg_flags & NLM_F_DUMP) &&
			       ifi.ifi_index == 42 && ifi.ifi_family == AF_UNSPEC &&
			       nlmsg_parse(h, sizeof(ifi), t2, IFLA_MAX, NULL) == 0 &&
			       t2[IFLA_EXT_MASK] &&
			       nla_get_u32(t2[IFLA_EXT_MASK]) ==
				       (RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS),
		       "getlink: RTM_GETLINK of ifindex 42, RTEXT_FILTER_VF|SKIP_STATS");
	}
	nlmsg_free(m);

	m = vfm_rt_build_setvf(7, 3, VFM_VF_MAC, &c);
	if (setlink_vfinfo(m, &ifindex, tb, &flags) == 0 && tb[IFLA_VF_MAC]) {
		struct ifla_vf_mac v;

		memcpy(&v, nla_data(tb[IFLA_VF_MAC]), sizeof(v));
		tap_ok(ifindex == 7 && flags && nla_len(tb[IFLA_VF_MAC]) == sizeof(v) &&
			       v.vf == 3 && memcmp(v.mac, c.mac, 6) == 0 &&
			       memcmp(v.mac + 6, (uint8_t[26]){0}, 26) == 0,
		       "setvf mac: ifindex, NLA_F_NESTED, struct ifla_vf_mac");
	} else {
		tap_ok(false, "setvf mac: shape");
	}
	nlmsg_free(m);

	m = vfm_rt_build_setvf(7, 3, VFM_VF_VLAN, &c);
	if (setlink_vfinfo(m, &ifindex, tb, &flags) == 0 && tb[IFLA_VF_VLAN]) {
		struct ifla_vf_vlan v;

		memcpy(&v, nla_data(tb[IFLA_VF_VLAN]), sizeof(v));
		tap_ok(v.vf == 3 && v.vlan == 10 && v.qos == 3,
		       "setvf vlan 802.1Q: IFLA_VF_VLAN");
	} else {
		tap_ok(false, "setvf vlan 802.1Q: shape");
	}
	nlmsg_free(m);

	c.vlan_proto = VFM_ETH_P_8021AD;
	m = vfm_rt_build_setvf(7, 3, VFM_VF_VLAN, &c);
	if (setlink_vfinfo(m, &ifindex, tb, &flags) == 0 && tb[IFLA_VF_VLAN_LIST]) {
		struct nlattr *e = nla_data(tb[IFLA_VF_VLAN_LIST]);
		struct ifla_vf_vlan_info v;

		memcpy(&v, nla_data(e), sizeof(v));
		tap_ok(nla_type(e) == IFLA_VF_VLAN_INFO && nla_len(e) == sizeof(v) &&
			       nla_len(tb[IFLA_VF_VLAN_LIST]) ==
				       nla_total_size(sizeof(v)) &&
			       v.vf == 3 && v.vlan == 10 && v.qos == 3 &&
			       v.vlan_proto == htons(0x88a8),
		       "setvf vlan 802.1ad: one IFLA_VF_VLAN_INFO, protocol big-endian");
	} else {
		tap_ok(false, "setvf vlan 802.1ad: shape");
	}
	nlmsg_free(m);

	m = vfm_rt_build_setvf(7, 3, VFM_VF_RATE, &c);
	if (setlink_vfinfo(m, &ifindex, tb, &flags) == 0 && tb[IFLA_VF_RATE]) {
		struct ifla_vf_rate v;

		memcpy(&v, nla_data(tb[IFLA_VF_RATE]), sizeof(v));
		tap_ok(v.vf == 3 && v.min_tx_rate == 10 && v.max_tx_rate == 100,
		       "setvf rate: IFLA_VF_RATE min and max");
	} else {
		tap_ok(false, "setvf rate: shape");
	}
	nlmsg_free(m);

	static const struct {
		uint32_t field;
		int attr;
		uint32_t want;
	} settings[] = {
		{VFM_VF_SPOOFCHK, IFLA_VF_SPOOFCHK, 1},
		{VFM_VF_TRUST, IFLA_VF_TRUST, 1},
		{VFM_VF_RSS_QUERY, IFLA_VF_RSS_QUERY_EN, 0},
		{VFM_VF_LINK_STATE, IFLA_VF_LINK_STATE,
		 7}, /* unchecked: the kernel judges */
	};
	for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
		m = vfm_rt_build_setvf(7, 3, settings[i].field, &c);
		if (setlink_vfinfo(m, &ifindex, tb, &flags) == 0 &&
		    tb[settings[i].attr] && nla_len(tb[settings[i].attr]) == 8) {
			uint32_t v[2];

			memcpy(v, nla_data(tb[settings[i].attr]), sizeof(v));
			tap_ok(v[0] == 3 && v[1] == settings[i].want,
			       "setvf %s: {vf 3, %u}",
			       vfm_vf_field_name(settings[i].field), v[1]);
		} else {
			tap_ok(false, "setvf %s: shape",
			       vfm_vf_field_name(settings[i].field));
		}
		nlmsg_free(m);
	}
	/* Why an 802.1ad VLAN stays hand-built: libnl-route's own request for it writes
	 * the protocol in host byte order.  When this fails, libnl-route was fixed and
	 * src/net/rtnl.c can send 802.1ad through it too. */
	{
		struct rtnl_link *orig = rtnl_link_alloc(), *ch = rtnl_link_alloc();
		struct rtnl_link_vf *v = rtnl_link_vf_alloc();
		nl_vf_vlans_t *vl = NULL;
		struct ifla_vf_vlan_info vi = {};
		bool found = false;

		rtnl_link_set_ifindex(orig, 7);
		rtnl_link_vf_set_index(v, 3);
		rtnl_link_vf_vlan_alloc(&vl, 1);
		vl->vlans[0] = (nl_vf_vlan_info_t){10, 3, 0x88a8};
		rtnl_link_vf_set_vlans(v, vl);
		rtnl_link_vf_add(ch, v);
		m = NULL;
		if (rtnl_link_build_change_request(orig, ch, 0, &m) == 0) {
			nlmsg_hdr(m)->nlmsg_type = RTM_SETLINK;
			nlmsg_hdr(m)->nlmsg_flags |= NLM_F_REQUEST;
			if (setlink_vfinfo(m, &ifindex, tb, &flags) == 0 &&
			    tb[IFLA_VF_VLAN_LIST]) {
				struct nlattr *e = nla_data(tb[IFLA_VF_VLAN_LIST]);

				memcpy(&vi, nla_data(e), sizeof(vi));
				found = true;
			}
		}
		tap_ok(found && vi.vlan == 10 && vi.vlan_proto != htons(0x88a8),
		       "libnl-route's own 802.1ad request is still wrong: protocol bytes "
		       "%02x %02x, the kernel reads big-endian 88 a8",
		       ((uint8_t *)&vi.vlan_proto)[0], ((uint8_t *)&vi.vlan_proto)[1]);
		nlmsg_free(m);
		rtnl_link_vf_vlan_put(vl);
		rtnl_link_vf_put(v);
		rtnl_link_put(ch);
		rtnl_link_put(orig);
	}
	tap_ok(!vfm_rt_build_setvf(7, 3, 0, &c) &&
		       !vfm_rt_build_setvf(7, 3, VFM_VF_MAC | VFM_VF_VLAN, &c) &&
		       !vfm_rt_build_setvf(7, 3, 1u << 7, &c),
	       "setvf refuses anything but one known field");
}

/* ---- rtnetlink: replies ---- */

struct kvf {
	uint32_t vf, vf2; /* vf2: the index the other structs carry */
	uint8_t mac[6];
	uint32_t vlan, qos;
	uint16_t proto; /* host order; 0 as netdevsim reports before any VLAN */
	uint32_t min, max, spoof, link, rss, trust;
	bool no_vlan_list, no_mac, no_rate, mac_only;
	bool empty_vlan_list; /* an IFLA_VF_VLAN_LIST with no entry */
	bool tx_rate_only;    /* IFLA_VF_TX_RATE without IFLA_VF_RATE (before 3.16) */
	int stats;	      /* IFLA_VF_STATS: 0 none, 1 whole, 2 one counter short */
};

static struct kvf kvf(uint32_t vf)
{
	return (struct kvf){.vf = vf,
			    .vf2 = vf,
			    .mac = {0x02, 0, 0, 0, 0, (uint8_t)vf},
			    .vlan = 10 + vf,
			    .qos = 1,
			    .proto = 0x8100,
			    .min = 1,
			    .max = 100,
			    .spoof = 1,
			    .link = 2,
			    .rss = 0,
			    .trust = 1};
}

static void put_vfinfo(struct nl_msg *m, const struct kvf *k, bool noflag)
{
	struct nlattr *vf = nla_nest_start(m, IFLA_VF_INFO), *vl;
	struct ifla_vf_mac mac = {.vf = k->vf};
	struct ifla_vf_broadcast bc;
	struct ifla_vf_vlan vlan = {.vf = k->vf2, .vlan = k->vlan, .qos = k->qos};
	struct ifla_vf_rate rate = {
		.vf = k->vf2, .min_tx_rate = k->min, .max_tx_rate = k->max};
	struct ifla_vf_tx_rate txr = {.vf = k->vf2, .rate = k->max};
	struct ifla_vf_spoofchk sp = {.vf = k->vf2, .setting = k->spoof};
	struct ifla_vf_link_state ls = {.vf = k->vf2, .link_state = k->link};
	struct ifla_vf_rss_query_en rq = {.vf = k->vf2, .setting = k->rss};
	struct ifla_vf_trust tr = {.vf = k->vf2, .setting = k->trust};
	struct ifla_vf_vlan_info vi = {.vf = k->vf2,
				       .vlan = k->vlan,
				       .qos = k->qos,
				       .vlan_proto = htons(k->proto)};

	memcpy(mac.mac, k->mac, 6);
	memset(&bc, 0xff, sizeof(bc));
	if (!k->no_mac)
		nla_put(m, IFLA_VF_MAC, sizeof(mac), &mac);
	if (k->mac_only) {
		nla_nest_end(m, vf);
		return;
	}
	nla_put(m, IFLA_VF_BROADCAST, sizeof(bc), &bc);
	nla_put(m, IFLA_VF_VLAN, sizeof(vlan), &vlan);
	if (!k->no_rate) {
		if (!k->tx_rate_only)
			nla_put(m, IFLA_VF_RATE, sizeof(rate), &rate);
		nla_put(m, IFLA_VF_TX_RATE, sizeof(txr), &txr);
	}
	if (k->stats) {
		struct nlattr *st = nla_nest_start(m, IFLA_VF_STATS);

		for (int i = IFLA_VF_STATS_RX_PACKETS; i <= IFLA_VF_STATS_MULTICAST;
		     i++) {
			uint64_t v = 1000u + (unsigned)i;

			nla_put(m, i,
				k->stats == 2 && i == IFLA_VF_STATS_BROADCAST ? 4 : 8,
				&v);
		}
		nla_put_u64(m, IFLA_VF_STATS_PAD, 0);
		nla_nest_end(m, st);
	}
	nla_put(m, IFLA_VF_SPOOFCHK, sizeof(sp), &sp);
	nla_put(m, IFLA_VF_LINK_STATE, sizeof(ls), &ls);
	nla_put(m, IFLA_VF_RSS_QUERY_EN, sizeof(rq), &rq);
	nla_put(m, IFLA_VF_TRUST, sizeof(tr), &tr);
	if (!k->no_vlan_list) {
		vl = nla_nest_start(m, IFLA_VF_VLAN_LIST);
		if (!k->empty_vlan_list)
			nla_put(m, IFLA_VF_VLAN_INFO, sizeof(vi), &vi);
		nla_nest_end_keep_empty(m, vl);
		if (noflag)
			vl->nla_type &= (uint16_t)~NLA_F_NESTED;
	}
	nla_nest_end(m, vf);
	if (noflag) /* the kernel nests with nla_nest_start_noflag() */
		vf->nla_type &= (uint16_t)~NLA_F_NESTED;
}

/* An RTM_NEWLINK as rtnl_fill_ifinfo() makes it; num_vf < 0: no IFLA_NUM_VF. */
static struct nl_msg *newlink(int32_t ifindex, uint16_t type, int num_vf,
			      const struct kvf *vfs, size_t n, bool vfinfo)
{
	struct nl_msg *m = nlmsg_alloc_size(1 << 18);
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_type = type};
	static const uint8_t addr[20] = {0x76, 0x34, 0xe4, 1, 0x13, 0xae};
	struct nlattr *list;

	nlmsg_put(m, 0, 1, RTM_NEWLINK, 0, 0);
	nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	nla_put_string(m, IFLA_IFNAME, "eth0");
	nla_put_u32(m, IFLA_MTU, 1500);
	nla_put(m, IFLA_ADDRESS, type == ARPHRD_ETHER ? 6 : 20, addr);
	if (num_vf >= 0)
		nla_put_u32(m, IFLA_NUM_VF, (uint32_t)num_vf);
	if (vfinfo) {
		list = nla_nest_start(m, IFLA_VFINFO_LIST);
		for (size_t i = 0; i < n; i++)
			put_vfinfo(m, &vfs[i], i % 2 == 1);
		nla_nest_end_keep_empty(m, list); /* the kernel keeps an empty list */
	}
	nla_put_u32(m, IFLA_GROUP, 0);
	return m;
}

static int parse_newlink(struct buf *b, struct vfm_rt_link *link)
{
	vfm_rt_link_init(link);
	return vfm_rt_parse_link(H(b), b->len, link);
}

/* Find the first attribute of type @type at or after @from in @b. */
static struct nlattr *find_attr(struct buf *b, size_t from, uint16_t type, uint16_t len)
{
	for (size_t off = from; off + 4 <= b->len; off += 4) {
		struct nlattr *a = (struct nlattr *)(b->b + off);

		if ((a->nla_type & NLA_TYPE_MASK) == type && (!len || a->nla_len == len))
			return a;
	}
	return NULL;
}

static void test_rt_parse(void)
{
	struct vfm_rt_link *link = malloc(sizeof(*link));
	struct kvf vfs[4] = {kvf(0), kvf(1), kvf(2), kvf(3)};
	struct buf *b;
	int r;

	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	r = parse_newlink(b, link);
	tap_ok(r == 0 && link->ifindex == 5 && streq(link->ifname, "eth0") &&
		       link->addr_len == 6 && link->num_vf == 4 && link->has_vfinfo &&
		       link->n_vfs == 4,
	       "newlink: 4 VFs (%d)", r);
	if (r == 0) {
		const struct vfm_vf_config *c = &link->vfs[3];

		tap_ok(c->vf == 3 && c->have == VFM_VF_ALL && c->mac[5] == 3 &&
			       c->vlan == 13 && c->qos == 1 && c->vlan_proto == 0x8100 &&
			       c->min_tx_rate == 1 && c->max_tx_rate == 100 &&
			       c->spoofchk && c->trust && !c->rss_query &&
			       c->link_state == VFM_VF_LINK_STATE_DISABLE,
		       "newlink: every setting of VF 3 (nests without NLA_F_NESTED too)");
	}
	free(b);

	/* What a driver reports that is outside the known values stays unknown. */
	vfs[1].spoof = UINT32_MAX; /* the kernel's -1: not reported */
	vfs[1].trust = 5;
	vfs[1].link = 7;
	vfs[1].rss = UINT32_MAX;
	vfs[2].proto = 0; /* netdevsim before any VLAN: 802.1Q */
	vfs[3].vlan = 4096;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	r = parse_newlink(b, link);
	/* libnl-route reads any value but -1 as on: trust 5 is on. */
	tap_ok(r == 0 &&
		       link->vfs[1].have ==
			       (VFM_VF_MAC | VFM_VF_VLAN | VFM_VF_RATE | VFM_VF_TRUST) &&
		       link->vfs[1].trust,
	       "newlink: spoofchk -1, link state 7, rss -1 are unknown, trust 5 is on "
	       "(have 0x%x)",
	       link->vfs[1].have);
	tap_ok(r == 0 && (link->vfs[2].have & VFM_VF_VLAN) &&
		       link->vfs[2].vlan_proto == 0x8100,
	       "newlink: VLAN protocol 0 reads as 802.1Q");
	tap_ok(r == 0 && !(link->vfs[3].have & VFM_VF_VLAN),
	       "newlink: VLAN 4096 is unknown");
	free(b);

	vfs[1] = kvf(1);
	vfs[1].no_vlan_list = true;
	vfs[2] = kvf(2);
	vfs[2].no_rate = true;
	vfs[3] = kvf(3);
	vfs[3].proto = 0x88a8;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	r = parse_newlink(b, link);
	tap_ok(r == 0 && (link->vfs[1].have & VFM_VF_VLAN) && link->vfs[1].vlan == 11 &&
		       link->vfs[1].vlan_proto == 0x8100,
	       "newlink: IFLA_VF_VLAN alone (older kernels) gives an 802.1Q VLAN");
	tap_ok(r == 0 && !(link->vfs[2].have & VFM_VF_RATE),
	       "newlink: no rate attribute");
	tap_ok(r == 0 && link->vfs[3].vlan_proto == 0x88a8,
	       "newlink: 802.1ad from the VLAN list");
	free(b);

	/* What libnl-route reports as absent, but the kernel sent. */
	vfs[0] = kvf(0);
	vfs[0].min = vfs[0].max = 0;
	vfs[1] = kvf(1);
	vfs[1].no_vlan_list = true;
	vfs[1].vlan = 0;
	vfs[2] = kvf(2);
	vfs[2].tx_rate_only = true;
	vfs[3] = kvf(3);
	vfs[3].stats = 1;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	r = parse_newlink(b, link);
	tap_ok(r == 0 && (link->vfs[0].have & VFM_VF_RATE) &&
		       link->vfs[0].min_tx_rate == 0 && link->vfs[0].max_tx_rate == 0,
	       "newlink: rates 0 and 0 are no limit, not unknown");
	tap_ok(r == 0 && (link->vfs[1].have & VFM_VF_VLAN) && link->vfs[1].vlan == 0 &&
		       link->vfs[1].vlan_proto == 0x8100,
	       "newlink: IFLA_VF_VLAN of VLAN 0 alone is no VLAN, not unknown");
	tap_ok(r == 0 && (link->vfs[2].have & VFM_VF_RATE) &&
		       link->vfs[2].min_tx_rate == 0 && link->vfs[2].max_tx_rate == 100,
	       "newlink: IFLA_VF_TX_RATE alone is the max rate");
	tap_ok(r == 0 && link->vfs[3].have == VFM_VF_ALL && link->vfs[3].vlan == 13,
	       "newlink: VF statistics (a kernel that ignores SKIP_STATS) parse");
	free(b);

	b = to_buf(newlink(5, ARPHRD_INFINIBAND, 2, vfs, 2, true));
	r = parse_newlink(b, link);
	tap_ok(r == 0 && link->n_vfs == 2 && !(link->vfs[0].have & VFM_VF_MAC),
	       "newlink: no 6-byte MAC on a non-Ethernet PF");
	free(b);

	b = to_buf(newlink(5, ARPHRD_ETHER, 0, vfs, 0, true));
	r = parse_newlink(b, link);
	tap_ok(r == 0 && link->has_vfinfo && link->n_vfs == 0 && link->num_vf == 0,
	       "newlink: 0 VFs, an empty list");
	free(b);
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 0, false));
	r = parse_newlink(b, link);
	tap_ok(r == 0 && !link->has_vfinfo && link->num_vf == 4,
	       "newlink: no IFLA_VFINFO_LIST (no ndo_get_vf_config)");
	free(b);

	/* ---- broken replies ---- */
	vfs[0] = kvf(0), vfs[1] = kvf(1), vfs[2] = kvf(2), vfs[3] = kvf(3);
	b = to_buf(newlink(5, ARPHRD_ETHER, 3, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG,
	       "newlink: more VFs listed than IFLA_NUM_VF");
	free(b);
	vfs[2].vf = 1;
	vfs[2].vf2 = 1;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: VF index 1 twice");
	free(b);
	vfs[2] = kvf(2);
	vfs[2].vf2 = 3;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG,
	       "newlink: MAC says VF 2, the others VF 3");
	free(b);
	vfs[2] = kvf(2);
	vfs[2].no_mac = true;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: a VF without IFLA_VF_MAC");
	free(b);
	/* libnl-route gives VF 2 the VLANs of VF 1, and frees them twice. */
	vfs[2] = kvf(2);
	vfs[2].empty_vlan_list = true;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: an empty IFLA_VF_VLAN_LIST");
	free(b);
	vfs[2] = kvf(2);
	vfs[2].stats = 2;
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: a VF counter of 4 bytes");
	free(b);
	vfs[2] = kvf(2);
	b = to_buf(newlink(5, ARPHRD_ETHER, -1, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: VFs listed, no IFLA_NUM_VF");
	free(b);
	b = to_buf(newlink(5, ARPHRD_ETHER, 0, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: VFs listed, IFLA_NUM_VF 0");
	free(b);
	vfs[2] = kvf(VFM_VF_MAX);
	b = to_buf(newlink(5, ARPHRD_ETHER, -1, vfs, 4, true));
	tap_eq(parse_newlink(b, link), -E2BIG, "newlink: VF index %d", VFM_VF_MAX);
	free(b);
	{
		struct kvf *many = calloc(VFM_VF_MAX + 1, sizeof(*many));

		for (uint32_t i = 0; i <= VFM_VF_MAX; i++) {
			/* 44 bytes each: the list's 16-bit length holds 1025 of them */
			many[i] = kvf(i);
			many[i].mac_only = true;
		}
		b = to_buf(newlink(5, ARPHRD_ETHER, -1, many, VFM_VF_MAX + 1, true));
		tap_eq(parse_newlink(b, link), -E2BIG, "newlink: %d VFs listed",
		       VFM_VF_MAX + 1);
		free(b);
		b = to_buf(newlink(5, ARPHRD_ETHER, VFM_VF_MAX, many, VFM_VF_MAX, true));
		tap_ok(parse_newlink(b, link) == 0 && link->n_vfs == VFM_VF_MAX &&
			       link->vfs[VFM_VF_MAX - 1].vf == VFM_VF_MAX - 1,
		       "newlink: %d VFs, the limit, parse", VFM_VF_MAX);
		free(b);
		free(many);
	}

	vfs[2] = kvf(2);
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	{
		struct nlattr *a =
			find_attr(b, NLMSG_HDRLEN + sizeof(struct ifinfomsg), IFLA_VF_MAC,
				  NLA_HDRLEN + sizeof(struct ifla_vf_mac));

		/* Shrink the first MAC by 4: it is then 32 bytes, short of struct
		 * ifla_vf_mac, and 4 stray bytes follow it inside the VF_INFO. */
		a->nla_len -= 4;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: IFLA_VF_MAC 4 bytes short");
		a->nla_len += 4;
		tap_eq(parse_newlink(b, link), 0, "newlink: restored, parses again");
		a->nla_len = 3;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: an attribute length of 3");
		a->nla_len += 0xfff;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: an attribute longer than its nest");
		a->nla_len = NLA_HDRLEN + sizeof(struct ifla_vf_mac);
	}
	{
		struct nlattr *list = find_attr(
			b, NLMSG_HDRLEN + sizeof(struct ifinfomsg), IFLA_VFINFO_LIST, 0);
		struct nlattr *first = nla_data(list);

		first->nla_type = IFLA_VF_INFO + 1;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: a list entry that is not IFLA_VF_INFO");
		first->nla_type = IFLA_VF_INFO;
		/* The list claims 2 more bytes: they hold no attribute. */
		list->nla_len += 2;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: 2 bytes left over in the VF list");
		list->nla_len -= 2;
		/* The whole message cut inside the list. */
		H(b)->nlmsg_len = (uint32_t)((uint8_t *)list - b->b) + 100;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: cut inside the VF list");
	}
	free(b);
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	{
		struct nlattr *vl =
			find_attr(b, NLMSG_HDRLEN + sizeof(struct ifinfomsg),
				  IFLA_VF_VLAN_LIST, NLA_HDRLEN + NLA_HDRLEN + 16);
		struct nlattr *vi = nla_data(vl);

		vi->nla_type = 2;
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: a VLAN list entry of type 2");
		vi->nla_type = IFLA_VF_VLAN_INFO;
		vi->nla_len = NLA_HDRLEN + 12;
		vl->nla_len = NLA_HDRLEN + NLA_HDRLEN + 12;
		tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: a 12-byte VLAN info");
	}
	free(b);
	b = to_buf(newlink(5, ARPHRD_ETHER, 4, vfs, 4, true));
	tap_eq(vfm_rt_parse_link(H(b), b->len - 1, link), -EBADMSG,
	       "newlink: nlmsg_len beyond the buffer");
	tap_eq(vfm_rt_parse_link(H(b), 8, link), -EBADMSG, "newlink: 8 bytes");
	H(b)->nlmsg_type = RTM_DELLINK;
	tap_eq(parse_newlink(b, link), -EBADMSG, "newlink: RTM_DELLINK");
	H(b)->nlmsg_type = RTM_NEWLINK;
	{
		struct nlattr *name = find_attr(
			b, NLMSG_HDRLEN + sizeof(struct ifinfomsg), IFLA_IFNAME, 0);

		memcpy(nla_data(name), "eth0X",
		       5); /* "eth0" + NUL: now without its NUL */
		tap_eq(parse_newlink(b, link), -EBADMSG,
		       "newlink: IFLA_IFNAME without its NUL");
	}
	H(b)->nlmsg_len = NLMSG_HDRLEN + 8;
	tap_eq(parse_newlink(b, link), -EBADMSG,
	       "newlink: shorter than struct ifinfomsg");
	free(b);
	free(link);
}

/* ---- devlink ---- */

static void test_dl_build(void)
{
	struct nlattr *tb[DEVLINK_ATTR_MAX + 1];
	struct nl_msg *m;
	struct genlmsghdr *g;

	m = vfm_dl_build_port_dump(FAMILY, "pci", "0000:3b:00.0");
	g = nlmsg_data(nlmsg_hdr(m));
	tap_ok(nlmsg_hdr(m)->nlmsg_type == FAMILY &&
		       (nlmsg_hdr(m)->nlmsg_flags & NLM_F_DUMP) &&
		       g->cmd == DEVLINK_CMD_PORT_GET &&
		       g->version == DEVLINK_GENL_VERSION &&
		       genlmsg_parse(nlmsg_hdr(m), 0, tb, DEVLINK_ATTR_MAX, NULL) == 0 &&
		       tb[DEVLINK_ATTR_BUS_NAME] &&
		       nla_strcmp(tb[DEVLINK_ATTR_BUS_NAME], "pci") == 0 &&
		       tb[DEVLINK_ATTR_DEV_NAME] &&
		       nla_strcmp(tb[DEVLINK_ATTR_DEV_NAME], "0000:3b:00.0") == 0,
	       "port dump: PORT_GET, NLM_F_DUMP, the handle");
	nlmsg_free(m);

	m = vfm_dl_build_port_caps(FAMILY, "netdevsim", "netdevsim10", 129,
				   DEVLINK_PORT_FN_CAP_MIGRATABLE,
				   DEVLINK_PORT_FN_CAP_MIGRATABLE);
	g = nlmsg_data(nlmsg_hdr(m));
	if (genlmsg_parse(nlmsg_hdr(m), 0, tb, DEVLINK_ATTR_MAX, NULL) == 0 &&
	    tb[DEVLINK_ATTR_PORT_FUNCTION] && tb[DEVLINK_ATTR_PORT_INDEX]) {
		struct nlattr *fn[DEVLINK_PORT_FUNCTION_ATTR_MAX + 1];
		struct nla_bitfield32 caps = {0};
		int n = 0;

		nla_parse_nested(fn, DEVLINK_PORT_FUNCTION_ATTR_MAX,
				 tb[DEVLINK_ATTR_PORT_FUNCTION], NULL);
		for (int i = 1; i <= DEVLINK_PORT_FUNCTION_ATTR_MAX; i++)
			n += fn[i] != NULL;
		if (fn[DEVLINK_PORT_FN_ATTR_CAPS])
			memcpy(&caps, nla_data(fn[DEVLINK_PORT_FN_ATTR_CAPS]),
			       sizeof(caps));
		tap_ok(g->cmd == DEVLINK_CMD_PORT_SET &&
			       !(nlmsg_hdr(m)->nlmsg_flags & NLM_F_DUMP) &&
			       nla_get_u32(tb[DEVLINK_ATTR_PORT_INDEX]) == 129 &&
			       (tb[DEVLINK_ATTR_PORT_FUNCTION]->nla_type &
				NLA_F_NESTED) &&
			       n == 1 && fn[DEVLINK_PORT_FN_ATTR_CAPS] &&
			       nla_len(fn[DEVLINK_PORT_FN_ATTR_CAPS]) == 8 &&
			       caps.value == 2 && caps.selector == 2,
		       "port caps: PORT_SET, index, nested function with CAPS {2, 2} "
		       "only");
	} else {
		tap_ok(false, "port caps: shape");
	}
	nlmsg_free(m);
	m = vfm_dl_build_port_caps(FAMILY, "pci", "0000:3b:00.0", 1, 0,
				   DEVLINK_PORT_FN_CAP_MIGRATABLE);
	{
		struct nlattr *a = nlmsg_find_attr(nlmsg_hdr(m), GENL_HDRLEN,
						   DEVLINK_ATTR_PORT_FUNCTION);
		struct nlattr *c =
			a ? nla_find(nla_data(a), nla_len(a), DEVLINK_PORT_FN_ATTR_CAPS)
			  : NULL;
		struct nla_bitfield32 caps = {1, 1};

		if (c)
			memcpy(&caps, nla_data(c), sizeof(caps));
		tap_ok(caps.value == 0 && caps.selector == 2, "port caps off: {0, 2}");
	}
	nlmsg_free(m);

	m = vfm_dl_build_eswitch_set(FAMILY, "pci", "0000:3b:00.0",
				     DEVLINK_ESWITCH_MODE_SWITCHDEV);
	g = nlmsg_data(nlmsg_hdr(m));
	tap_ok(g->cmd == DEVLINK_CMD_ESWITCH_SET &&
		       genlmsg_parse(nlmsg_hdr(m), 0, tb, DEVLINK_ATTR_MAX, NULL) == 0 &&
		       tb[DEVLINK_ATTR_ESWITCH_MODE] &&
		       nla_len(tb[DEVLINK_ATTR_ESWITCH_MODE]) == 2 &&
		       nla_get_u16(tb[DEVLINK_ATTR_ESWITCH_MODE]) ==
			       DEVLINK_ESWITCH_MODE_SWITCHDEV,
	       "eswitch set: ESWITCH_SET, mode u16");
	nlmsg_free(m);
	m = vfm_dl_build_eswitch_get(FAMILY, "pci", "0000:3b:00.0");
	g = nlmsg_data(nlmsg_hdr(m));
	tap_ok(g->cmd == DEVLINK_CMD_ESWITCH_GET &&
		       !(nlmsg_hdr(m)->nlmsg_flags & NLM_F_DUMP),
	       "eswitch get: ESWITCH_GET, no dump");
	nlmsg_free(m);
}

struct kport {
	const char *bus, *dev, *netdev;
	uint32_t index;
	int flavour; /* -1: none */
	int pf, vf;  /* -1: absent */
	bool function;
	struct nla_bitfield32 caps;
	bool no_caps;
};

/* A PORT_NEW as devlink_nl_port_fill() makes it. */
static struct nl_msg *port_msg(const struct kport *k)
{
	struct nl_msg *m = nlmsg_alloc();
	static const uint8_t hw[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};

	genlmsg_put(m, 0, 1, FAMILY, 0, NLM_F_MULTI, DEVLINK_CMD_PORT_NEW, 1);
	nla_put_string(m, DEVLINK_ATTR_BUS_NAME, k->bus);
	nla_put_string(m, DEVLINK_ATTR_DEV_NAME, k->dev);
	nla_put_u32(m, DEVLINK_ATTR_PORT_INDEX, k->index);
	nla_put_u16(m, DEVLINK_ATTR_PORT_TYPE, DEVLINK_PORT_TYPE_ETH);
	if (k->netdev) {
		nla_put_u32(m, DEVLINK_ATTR_PORT_NETDEV_IFINDEX, 7);
		nla_put_string(m, DEVLINK_ATTR_PORT_NETDEV_NAME, k->netdev);
	}
	nla_put_u8(m, DEVLINK_ATTR_PORT_SPLITTABLE, 0);
	if (k->flavour >= 0)
		nla_put_u16(m, DEVLINK_ATTR_PORT_FLAVOUR, (uint16_t)k->flavour);
	if (k->pf >= 0) {
		nla_put_u32(m, DEVLINK_ATTR_PORT_CONTROLLER_NUMBER, 0);
		nla_put_u16(m, DEVLINK_ATTR_PORT_PCI_PF_NUMBER, (uint16_t)k->pf);
	}
	if (k->vf >= 0)
		nla_put_u16(m, DEVLINK_ATTR_PORT_PCI_VF_NUMBER, (uint16_t)k->vf);
	if (k->pf >= 0)
		nla_put_u8(m, DEVLINK_ATTR_PORT_EXTERNAL, 0);
	if (k->function) {
		struct nlattr *fn = nla_nest_start(m, DEVLINK_ATTR_PORT_FUNCTION);

		nla_put(m, DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR, sizeof(hw), hw);
		if (!k->no_caps)
			nla_put(m, DEVLINK_PORT_FN_ATTR_CAPS, sizeof(k->caps), &k->caps);
		nla_put_u8(m, DEVLINK_PORT_FN_ATTR_STATE, 1);
		nla_put_u8(m, DEVLINK_PORT_FN_ATTR_OPSTATE, 1);
		nla_nest_end(m, fn);
	}
	return m;
}

static void test_dl_parse(void)
{
	struct kport vf = {
		"pci", "0000:3b:00.0", "pf0vf1", 65537, DEVLINK_PORT_FLAVOUR_PCI_VF, 0,
		1,     true,	       {2, 2},	 false};
	struct vfm_dl_port_msg p;
	struct buf *b;
	int r;

	b = to_buf(port_msg(&vf));
	r = vfm_dl_parse_port(H(b), b->len, FAMILY, &p);
	tap_ok(r == 0 && streq(p.bus, "pci") && streq(p.dev, "0000:3b:00.0") &&
		       p.port.index == 65537 && p.port.flavour == VFM_PORT_PCI_VF &&
		       p.port.pf_number == 0 && p.port.vf_number == 1 &&
		       p.port.controller == 0 && !p.port.external &&
		       streq(p.port.netdev, "pf0vf1") && p.port.hw_addr_len == 6 &&
		       p.port.hw_addr[5] == 0xee && p.port.migratable == 1,
	       "port: a VF port with its function, migratable on (%d)", r);
	tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY + 1, &p), -EBADMSG,
	       "port: another family");
	free(b);
	vf.caps = (struct nla_bitfield32){0, 2};
	b = to_buf(port_msg(&vf));
	tap_ok(vfm_dl_parse_port(H(b), b->len, FAMILY, &p) == 0 && p.port.migratable == 0,
	       "port: migratable reported off");
	free(b);
	vf.caps = (struct nla_bitfield32){1, 1};
	b = to_buf(port_msg(&vf));
	tap_ok(vfm_dl_parse_port(H(b), b->len, FAMILY, &p) == 0 &&
		       p.port.migratable == -1,
	       "port: caps without the migratable bit in the selector: unknown");
	free(b);
	vf.caps = (struct nla_bitfield32){3, 1};
	b = to_buf(port_msg(&vf));
	tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), -EBADMSG,
	       "port: caps value outside its selector");
	free(b);
	vf.no_caps = true;
	vf.caps = (struct nla_bitfield32){2, 2};
	b = to_buf(port_msg(&vf));
	tap_ok(vfm_dl_parse_port(H(b), b->len, FAMILY, &p) == 0 &&
		       p.port.migratable == -1,
	       "port: no caps reported: unknown");
	free(b);
	vf.no_caps = false;
	vf.function = false;
	vf.flavour = 42;
	vf.netdev = NULL;
	b = to_buf(port_msg(&vf));
	tap_ok(vfm_dl_parse_port(H(b), b->len, FAMILY, &p) == 0 &&
		       p.port.migratable == -1 && p.port.flavour == VFM_PORT_OTHER &&
		       p.port.hw_addr_len == 0 && !p.port.netdev[0],
	       "port: no function, unknown flavour 42");
	free(b);

	vf = (struct kport){
		"pci", "0000:3b:00.0", "pf0vf1", 3,    DEVLINK_PORT_FLAVOUR_PCI_VF, 0,
		1,     true,	       {2, 2},	 false};
	b = to_buf(port_msg(&vf));
	{
		struct nlattr *caps =
			find_attr(b, NLMSG_HDRLEN + GENL_HDRLEN,
				  DEVLINK_PORT_FN_ATTR_CAPS, NLA_HDRLEN + 8);
		struct nlattr *idx = find_attr(b, NLMSG_HDRLEN + GENL_HDRLEN,
					       DEVLINK_ATTR_PORT_INDEX, NLA_HDRLEN + 4);
		struct genlmsghdr *g = nlmsg_data(H(b));

		caps->nla_len = NLA_HDRLEN + 4;
		tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), -EBADMSG,
		       "port: a 4-byte bitfield32, 4 stray bytes after it");
		caps->nla_len = NLA_HDRLEN + 8;
		idx->nla_type =
			DEVLINK_ATTR_PORT_INDEX + 1000; /* beyond the max: ignored */
		tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), -EBADMSG,
		       "port: no port index");
		idx->nla_type = DEVLINK_ATTR_PORT_INDEX;
		idx->nla_len = NLA_HDRLEN + 2;
		tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), -EBADMSG,
		       "port: a 2-byte port index");
		idx->nla_len = NLA_HDRLEN + 4;
		g->cmd = DEVLINK_CMD_PORT_DEL;
		tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), -EBADMSG,
		       "port: PORT_DEL");
		g->cmd = DEVLINK_CMD_PORT_NEW;
		tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), 0,
		       "port: restored, parses");
		H(b)->nlmsg_len -= 4; /* cut into the last attribute */
		tap_eq(vfm_dl_parse_port(H(b), b->len, FAMILY, &p), -EBADMSG,
		       "port: the last attribute cut short");
		tap_eq(vfm_dl_parse_port(H(b), 3, FAMILY, &p), -EBADMSG, "port: 3 bytes");
	}
	free(b);

	/* eswitch */
	{
		struct nl_msg *m = nlmsg_alloc();
		enum vfm_eswitch_mode mode = 99;

		genlmsg_put(m, 0, 1, FAMILY, 0, 0, DEVLINK_CMD_ESWITCH_GET, 1);
		nla_put_string(m, DEVLINK_ATTR_BUS_NAME, "netdevsim");
		nla_put_string(m, DEVLINK_ATTR_DEV_NAME, "netdevsim10");
		nla_put_u16(m, DEVLINK_ATTR_ESWITCH_MODE, DEVLINK_ESWITCH_MODE_SWITCHDEV);
		nla_put_u8(m, DEVLINK_ATTR_ESWITCH_INLINE_MODE, 0);
		b = to_buf(m);
		r = vfm_dl_parse_eswitch(H(b), b->len, FAMILY, "netdevsim", "netdevsim10",
					 &mode);
		tap_ok(r == 0 && mode == VFM_ESWITCH_SWITCHDEV, "eswitch: switchdev");
		tap_eq(vfm_dl_parse_eswitch(H(b), b->len, FAMILY, "netdevsim",
					    "netdevsim11", &mode),
		       -EBADMSG, "eswitch: the reply of another instance");
		find_attr(b, NLMSG_HDRLEN + GENL_HDRLEN, DEVLINK_ATTR_ESWITCH_MODE,
			  NLA_HDRLEN + 2)
			->nla_len = NLA_HDRLEN; /* and 4 bytes of padding left over */
		tap_eq(vfm_dl_parse_eswitch(H(b), b->len, FAMILY, "netdevsim",
					    "netdevsim10", &mode),
		       -EBADMSG, "eswitch: an empty mode attribute");
		free(b);
		m = nlmsg_alloc();
		genlmsg_put(m, 0, 1, FAMILY, 0, 0, DEVLINK_CMD_ESWITCH_GET, 1);
		nla_put_string(m, DEVLINK_ATTR_BUS_NAME, "netdevsim");
		nla_put_string(m, DEVLINK_ATTR_DEV_NAME, "netdevsim10");
		nla_put_u16(m, DEVLINK_ATTR_ESWITCH_MODE, 2);
		b = to_buf(m);
		tap_eq(vfm_dl_parse_eswitch(H(b), b->len, FAMILY, "netdevsim",
					    "netdevsim10", &mode),
		       -EBADMSG, "eswitch: mode 2 (unknown)");
		free(b);
	}
}

static void test_vf_port(void)
{
	struct vfm_devlink_port p[] = {
		{.index = 0,
		 .flavour = VFM_PORT_PHYSICAL,
		 .pf_number = -1,
		 .vf_number = -1,
		 .controller = -1},
		{.index = 1,
		 .flavour = VFM_PORT_PCI_PF,
		 .pf_number = 1,
		 .vf_number = -1,
		 .controller = 0},
		{.index = 2,
		 .flavour = VFM_PORT_PCI_VF,
		 .pf_number = 0,
		 .vf_number = 0,
		 .controller = 0},
		{.index = 3,
		 .flavour = VFM_PORT_PCI_VF,
		 .pf_number = 1,
		 .vf_number = 0,
		 .controller = 0},
		{.index = 4,
		 .flavour = VFM_PORT_PCI_VF,
		 .pf_number = 1,
		 .vf_number = 1,
		 .controller = 1,
		 .external = true},
		{.index = 5,
		 .flavour = VFM_PORT_PCI_VF,
		 .pf_number = 1,
		 .vf_number = 1,
		 .controller = 0},
		{.index = 6,
		 .flavour = VFM_PORT_PCI_PF,
		 .pf_number = 0,
		 .vf_number = -1,
		 .controller = 1,
		 .external = true},
	};

	tap_eq(vfm_devlink_vf_port(p, ELEMENTSOF(p), 0), 3,
	       "vf port: VF 0 of the instance's PF 1");
	tap_eq(vfm_devlink_vf_port(p, ELEMENTSOF(p), 1), 5,
	       "vf port: external ports skipped");
	tap_eq(vfm_devlink_vf_port(p, ELEMENTSOF(p), 2), -ENOENT,
	       "vf port: none for VF 2");
	/* netdevsim: no PF port, VF ports with pfnum 0 */
	tap_eq(vfm_devlink_vf_port(p + 2, 1, 0), 0,
	       "vf port: without a PF port, any PF number");
	p[3].pf_number = 0;
	tap_eq(vfm_devlink_vf_port(p + 2, 2, 0), -ENOTUNIQ,
	       "vf port: two ports claim VF 0");
	tap_eq(vfm_devlink_vf_port(NULL, 0, 0), -ENOENT, "vf port: no ports");
}

/* ---- acks ---- */

/* An NLMSG_ERROR (or DONE) as netlink_ack() makes it, in @b. */
static void make_ack(struct buf *b, uint16_t type, int error, bool capped,
		     const char *msg, int offs)
{
	struct nlmsghdr req = {
		.nlmsg_len = NLMSG_HDRLEN + 20, .nlmsg_type = 0x10, .nlmsg_seq = 9};
	size_t off = NLMSG_HDRLEN;
	struct nlmsghdr *h = H(b);

	memset(b->b, 0, sizeof(b->b));
	h->nlmsg_type = type;
	if (type == NLMSG_ERROR) {
		struct nlmsgerr e = {.error = error, .msg = req};

		memcpy(b->b + off, &e, sizeof(e));
		off += sizeof(e);
		if (!capped) {
			memset(b->b + off, 0xab, 20); /* the request's payload, echoed */
			off += 20;
		} else {
			h->nlmsg_flags |= NLM_F_CAPPED;
		}
	} else {
		memcpy(b->b + off, &error, sizeof(error));
		off += sizeof(error);
	}
	off = NLMSG_ALIGN(off);
	if (msg || offs >= 0) {
		h->nlmsg_flags |= NLM_F_ACK_TLVS;
		if (msg) {
			struct nlattr *a = (struct nlattr *)(b->b + off);

			a->nla_type = NLMSGERR_ATTR_MSG;
			a->nla_len = (uint16_t)(NLA_HDRLEN + strlen(msg) + 1);
			memcpy(b->b + off + NLA_HDRLEN, msg, strlen(msg) + 1);
			off += NLA_ALIGN(a->nla_len);
		}
		if (offs >= 0) {
			struct nlattr *a = (struct nlattr *)(b->b + off);
			uint32_t v = (uint32_t)offs;

			a->nla_type = NLMSGERR_ATTR_OFFS;
			a->nla_len = NLA_HDRLEN + 4;
			memcpy(b->b + off + NLA_HDRLEN, &v, 4);
			off += 8;
		}
	}
	h->nlmsg_len = (uint32_t)off;
	b->len = off;
}

static void test_ack(void)
{
	struct buf *b = calloc(1, sizeof(*b));
	struct vfm_nl_extack ext;
	char why[128];
	int err, r;

	make_ack(b, NLMSG_ERROR, -EOPNOTSUPP, true,
		 "Port doesn't support migratable function attribute", 36);
	r = vfm_nl_parse_ack(H(b), b->len, &err, &ext);
	tap_ok(r == 0 && err == -EOPNOTSUPP &&
		       streq(ext.msg,
			     "Port doesn't support migratable function attribute") &&
		       ext.has_offset && ext.offset == 36,
	       "ack: capped error with message and offset");
	make_ack(b, NLMSG_ERROR, -EINVAL, false, "Attribute failed policy validation",
		 -1);
	r = vfm_nl_parse_ack(H(b), b->len, &err, &ext);
	tap_ok(r == 0 && err == -EINVAL &&
		       streq(ext.msg, "Attribute failed policy validation") &&
		       !ext.has_offset,
	       "ack: uncapped error (request echoed), TLVs after it");
	make_ack(b, NLMSG_ERROR, 0, true, NULL, -1);
	r = vfm_nl_parse_ack(H(b), b->len, &err, &ext);
	tap_ok(r == 0 && err == 0 && !ext.msg[0], "ack: success, no TLVs");
	make_ack(b, NLMSG_DONE, -ENODEV, false, "no such device", -1);
	r = vfm_nl_parse_ack(H(b), b->len, &err, &ext);
	tap_ok(r == 0 && err == -ENODEV && streq(ext.msg, "no such device"),
	       "ack: DONE of a failed dump carries its error and message");
	make_ack(b, NLMSG_ERROR, -EINVAL, true, "line one\nline\ttwo\x7f", -1);
	r = vfm_nl_parse_ack(H(b), b->len, &err, &ext);
	tap_ok(r == 0 && streq(ext.msg, "line one?line?two?"),
	       "ack: control characters become '?': %s", ext.msg);
	make_ack(b, NLMSG_ERROR, 5, true, NULL, -1);
	tap_ok(vfm_nl_parse_ack(H(b), b->len, &err, NULL) == 0 && err == -EPROTO,
	       "ack: a positive error code is -EPROTO");
	make_ack(b, NLMSG_ERROR, -5000, true, NULL, -1);
	tap_ok(vfm_nl_parse_ack(H(b), b->len, &err, NULL) == 0 && err == -EPROTO,
	       "ack: error -5000 is -EPROTO");
	make_ack(b, NLMSG_ERROR, -EINVAL, true, "cut", -1);
	H(b)->nlmsg_len -= 2;
	tap_eq(vfm_nl_parse_ack(H(b), b->len, &err, &ext), -EBADMSG,
	       "ack: message TLV cut short");
	make_ack(b, NLMSG_ERROR, -EINVAL, true, "x", -1);
	b->b[NLMSG_HDRLEN + sizeof(struct nlmsgerr) + NLA_HDRLEN + 1] =
		'y'; /* lose its NUL */
	tap_eq(vfm_nl_parse_ack(H(b), b->len, &err, &ext), -EBADMSG,
	       "ack: message without its NUL");
	make_ack(b, NLMSG_ERROR, -EINVAL, false, "x", -1);
	((struct nlmsgerr *)NLMSG_DATA(H(b)))->msg.nlmsg_len =
		4000; /* echo longer than the ack */
	tap_eq(vfm_nl_parse_ack(H(b), b->len, &err, &ext), -EBADMSG,
	       "ack: echoed request longer than the ack");
	make_ack(b, NLMSG_ERROR, -EINVAL, true, NULL, -1);
	H(b)->nlmsg_len = NLMSG_HDRLEN + 8;
	tap_eq(vfm_nl_parse_ack(H(b), b->len, &err, &ext), -EBADMSG,
	       "ack: shorter than nlmsgerr");
	make_ack(b, NLMSG_ERROR, -EINVAL, true, NULL, -1);
	tap_eq(vfm_nl_parse_ack(H(b), b->len - 1, &err, &ext), -EBADMSG,
	       "ack: nlmsg_len beyond the buffer");
	make_ack(b, NLMSG_DONE, 0, false, NULL, -1);
	H(b)->nlmsg_type = 0x20;
	tap_eq(vfm_nl_parse_ack(H(b), b->len, &err, &ext), -EBADMSG,
	       "ack: neither ERROR nor DONE");

	why[0] = '\0';
	snprintf(why, sizeof(why), "eth0 VF 1: migratable on: Operation not supported");
	strcpy(ext.msg, "Port doesn't support migratable function attribute");
	vfm_nl_why_extack(why, sizeof(why), &ext);
	tap_ok(streq(why, "eth0 VF 1: migratable on: Operation not supported; kernel "
			  "says: Port "
			  "doesn't support migratable function attribute"),
	       "why: the extack message appended verbatim");
	ext.msg[0] = '\0';
	vfm_nl_why_extack(why, 20, &ext);
	tap_ok(strlen(why) > 20, "why: nothing appended without a message");
	free(b);
}

static void test_strict(void)
{
	struct nl_msg *m = nlmsg_alloc();
	struct nlattr *tb[4];
	static const struct nla_policy pol[4] = {[1] = {.type = NLA_U32}};
	struct nlattr *head;
	int len;

	nlmsg_put(m, 0, 0, 0x10, 0, 0);
	nla_put_u32(m, 1, 7);
	nla_put_u32(m, 2, 8);
	head = nlmsg_attrdata(nlmsg_hdr(m), 0);
	len = nlmsg_attrlen(nlmsg_hdr(m), 0);
	tap_ok(vfm_nla_parse_strict(tb, 3, head, len, pol) == 0 &&
		       nla_get_u32(tb[1]) == 7,
	       "strict parse: good attributes");
	tap_eq(vfm_nla_parse_strict(tb, 3, head, len + 3, pol), -EBADMSG,
	       "strict parse: 3 bytes left over");
	tap_eq(vfm_nla_parse_strict(tb, 3, head, len - 2, pol), -EBADMSG,
	       "strict parse: the last attribute cut (libnl alone would stop quietly)");
	head->nla_len = NLA_HDRLEN + 2;
	tap_eq(vfm_nla_parse_strict(tb, 3, head, len, pol), -EBADMSG,
	       "strict parse: a u32 of 2 bytes");
	tap_eq(vfm_nla_parse_strict(tb, 3, head, -1, pol), -EBADMSG,
	       "strict parse: negative length");
	nlmsg_free(m);
}

static uint32_t rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* @orig with 1 to 4 random bytes changed and maybe cut short, into @b. */
static void mutate(struct buf *b, const struct buf *orig, uint32_t *seed)
{
	memcpy(b->b, orig->b, orig->len);
	b->len = orig->len;
	for (uint32_t k = rnd(seed) % 4 + 1; k; k--)
		b->b[rnd(seed) % b->len] = (uint8_t)rnd(seed);
	if (rnd(seed) % 4 == 0)
		b->len = rnd(seed) % b->len;
}

/* Kernel replies with random damage: the parsers never read outside the message
 * (ASan watches) and what they accept holds only values a VF can have. */
static void test_parse_robust(void)
{
	struct kvf vfs[3] = {kvf(0), kvf(1), kvf(2)};
	struct kport port = {
		"pci", "0000:3b:00.0", "pf0vf1", 3,    DEVLINK_PORT_FLAVOUR_PCI_VF, 0,
		1,     true,	       {2, 2},	 false};
	struct vfm_rt_link *link = malloc(sizeof(*link));
	struct buf *nl = to_buf(newlink(5, ARPHRD_ETHER, 3, vfs, 3, true));
	struct buf *pm = to_buf(port_msg(&port));
	struct buf *ack = calloc(1, sizeof(*ack)), *b = calloc(1, sizeof(*b));
	uint32_t seed = 0x726f6231, ok_link = 0, ok_port = 0, ok_ack = 0, bad = 0;

	make_ack(ack, NLMSG_ERROR, -EOPNOTSUPP, false, "Port doesn't support it", 36);
	for (int i = 0; i < 30000; i++) {
		struct vfm_dl_port_msg p;
		struct vfm_nl_extack ext;
		int err;

		mutate(b, nl, &seed);
		vfm_rt_link_init(link);
		if (vfm_rt_parse_link(H(b), b->len, link) == 0) {
			ok_link++;
			if (link->n_vfs > 3)
				bad++;
			for (uint32_t v = 0; v < link->n_vfs; v++) {
				const struct vfm_vf_config *c = &link->vfs[v];

				if (c->vf >= VFM_VF_MAX ||
				    (c->have & ~(uint32_t)VFM_VF_ALL) ||
				    ((c->have & VFM_VF_VLAN) &&
				     (c->vlan > 4095 || c->qos > 7 ||
				      (c->vlan_proto != 0x8100 &&
				       c->vlan_proto != 0x88a8))) ||
				    ((c->have & VFM_VF_LINK_STATE) && c->link_state > 2))
					bad++;
			}
		}
		mutate(b, pm, &seed);
		if (vfm_dl_parse_port(H(b), b->len, FAMILY, &p) == 0) {
			ok_port++;
			if (p.port.hw_addr_len > sizeof(p.port.hw_addr) ||
			    p.port.migratable > 1 || p.port.migratable < -1 ||
			    strnlen(p.port.netdev, 16) == 16)
				bad++;
		}
		mutate(b, ack, &seed);
		if (vfm_nl_parse_ack(H(b), b->len, &err, &ext) == 0) {
			ok_ack++;
			if (err > 0 || err < -4095 ||
			    strnlen(ext.msg, sizeof(ext.msg)) == sizeof(ext.msg))
				bad++;
			for (const char *c = ext.msg; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					bad++;
		}
	}
	tap_ok(bad == 0,
	       "30000 damaged replies of each kind: accepted %u links, %u ports, %u "
	       "acks, none with an impossible value (%u)",
	       ok_link, ok_port, ok_ack, bad);
	free(nl);
	free(pm);
	free(ack);
	free(b);
	free(link);
}

int main(void)
{
	test_rt_build();
	test_rt_parse();
	test_dl_build();
	test_dl_parse();
	test_vf_port();
	test_ack();
	test_strict();
	test_parse_robust();
	return tap_done();
}
