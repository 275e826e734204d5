// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * VF admin settings: checking, reading, setting, capture and apply for migration,
 * the wire form of struct vfm_vf_config, and the list "vf list" shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net-internal.h"
#include "util.h"

/* The order settings are sent in: the link comes up last, with everything else set. */
static const uint32_t field_order[] = {
	VFM_VF_MAC,   VFM_VF_VLAN,	VFM_VF_RATE,	   VFM_VF_SPOOFCHK,
	VFM_VF_TRUST, VFM_VF_RSS_QUERY, VFM_VF_LINK_STATE,
};
assert_cc(VFM_VF_ALL == ((VFM_VF_LINK_STATE << 1) - 1));

const char *vfm_vf_field_name(uint32_t field)
{
	switch (field) {
	case VFM_VF_MAC: return "mac";
	case VFM_VF_VLAN: return "vlan";
	case VFM_VF_RATE: return "rate";
	case VFM_VF_SPOOFCHK: return "spoofchk";
	case VFM_VF_TRUST: return "trust";
	case VFM_VF_RSS_QUERY: return "rss-query";
	case VFM_VF_LINK_STATE: return "link-state";
	default: return NULL;
	}
}

int vfm_vf_fields_format(uint32_t fields, char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	if (fields == 0)
		return snprintf(buf, size, "none") < (int)size ? 4 : -ENOBUFS;
	for (unsigned bit = 0; bit < 32; bit++) {
		const char *name;
		int k;

		if (!(fields & (1u << bit)))
			continue;
		name = vfm_vf_field_name(1u << bit);
		if (name)
			k = snprintf(buf + n, size - n, "%s%s", n ? "," : "", name);
		else
			k = snprintf(buf + n, size - n, "%s0x%x", n ? "," : "",
				     1u << bit);
		if (k < 0 || (size_t)k >= size - n)
			return -ENOBUFS;
		n += (size_t)k;
	}
	return (int)n;
}

const char *vfm_vf_link_state_name(unsigned state)
{
	switch (state) {
	case VFM_VF_LINK_STATE_AUTO: return "auto";
	case VFM_VF_LINK_STATE_ENABLE: return "enable";
	case VFM_VF_LINK_STATE_DISABLE: return "disable";
	default: return NULL;
	}
}

int vfm_vf_link_state_from_name(const char *name, uint8_t *ret_state)
{
	for (uint8_t s = 0; s <= VFM_VF_LINK_STATE_DISABLE; s++)
		if (streq(name, vfm_vf_link_state_name(s))) {
			*ret_state = s;
			return 0;
		}
	return -EINVAL;
}

int vfm_mac_parse(const char *s, uint8_t ret_mac[6])
{
	uint8_t mac[6];
	char sep = 0;

	if (!s)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i == 5)
			break;
		if (!sep && (*s == ':' || *s == '-'))
			sep = *s;
		if (*s != sep)
			return -EINVAL;
		s++;
	}
	if (*s)
		return -EINVAL;
	memcpy(ret_mac, mac, sizeof(mac));
	return 0;
}

void vfm_mac_format(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

static const char *proto_name(uint16_t proto)
{
	switch (proto) {
	case VFM_ETH_P_8021Q: return "802.1Q";
	case VFM_ETH_P_8021AD: return "802.1ad";
	default: return NULL;
	}
}

/* One field as words for messages: "vlan 10 qos 3 proto 802.1ad". */
static void field_format(const struct vfm_vf_config *cfg, uint32_t field, char *buf,
			 size_t size)
{
	char mac[18];
	const char *name;

	switch (field) {
	case VFM_VF_MAC:
		vfm_mac_format(cfg->mac, mac);
		snprintf(buf, size, "mac %s", mac);
		break;
	case VFM_VF_VLAN:
		name = proto_name(cfg->vlan_proto);
		if (name)
			snprintf(buf, size, "vlan %u qos %u proto %s", cfg->vlan,
				 cfg->qos, name);
		else
			snprintf(buf, size, "vlan %u qos %u proto 0x%04x", cfg->vlan,
				 cfg->qos, cfg->vlan_proto);
		break;
	case VFM_VF_RATE:
		snprintf(buf, size, "min-rate %u max-rate %u", cfg->min_tx_rate,
			 cfg->max_tx_rate);
		break;
	case VFM_VF_SPOOFCHK:
		snprintf(buf, size, "spoofchk %s", cfg->spoofchk ? "on" : "off");
		break;
	case VFM_VF_TRUST:
		snprintf(buf, size, "trust %s", cfg->trust ? "on" : "off");
		break;
	case VFM_VF_RSS_QUERY:
		snprintf(buf, size, "rss-query %s", cfg->rss_query ? "on" : "off");
		break;
	case VFM_VF_LINK_STATE:
		name = vfm_vf_link_state_name(cfg->link_state);
		if (name)
			snprintf(buf, size, "link-state %s", name);
		else
			snprintf(buf, size, "link-state %u", cfg->link_state);
		break;
	default: snprintf(buf, size, "setting 0x%x", field); break;
	}
}

int vfm_vf_config_format(const struct vfm_vf_config *cfg, char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(field_order); i++) {
		char f[64];
		int k;

		if (!(cfg->have & field_order[i]))
			continue;
		field_format(cfg, field_order[i], f, sizeof(f));
		k = snprintf(buf + n, size - n, "%s%s", n ? " " : "", f);
		if (k < 0 || (size_t)k >= size - n)
			return -ENOBUFS;
		n += (size_t)k;
	}
	return (int)n;
}

int vfm_vf_config_check(const struct vfm_vf_config *cfg, char *why, size_t why_size)
{
	char mac[18];

	if (cfg->have & ~(uint32_t)VFM_VF_ALL)
		return vfm_net_fail(why, why_size, -EINVAL, "unknown settings (0x%x)",
				    cfg->have & ~(uint32_t)VFM_VF_ALL);
	if ((cfg->have & VFM_VF_MAC) && (cfg->mac[0] & 1)) {
		vfm_mac_format(cfg->mac, mac);
		return vfm_net_fail(
			why, why_size, -EINVAL,
			"mac %s is a multicast address: a VF's MAC must be unicast", mac);
	}
	if (cfg->have & VFM_VF_VLAN) {
		if (cfg->vlan > 4095)
			return vfm_net_fail(why, why_size, -EINVAL,
					    "vlan %u is out of range (0 to 4095)",
					    cfg->vlan);
		if (cfg->qos > 7)
			return vfm_net_fail(why, why_size, -EINVAL,
					    "qos %u is out of range (0 to 7)", cfg->qos);
		if (!proto_name(cfg->vlan_proto))
			return vfm_net_fail(
				why, why_size, -EINVAL,
				"VLAN protocol 0x%04x is neither 802.1Q nor 802.1ad",
				cfg->vlan_proto);
	}
	if ((cfg->have & VFM_VF_RATE) && cfg->max_tx_rate &&
	    cfg->min_tx_rate > cfg->max_tx_rate)
		return vfm_net_fail(why, why_size, -EINVAL,
				    "min-rate %u is above max-rate %u", cfg->min_tx_rate,
				    cfg->max_tx_rate);
	if ((cfg->have & VFM_VF_LINK_STATE) && !vfm_vf_link_state_name(cfg->link_state))
		return vfm_net_fail(why, why_size, -EINVAL,
				    "link-state %u is none of auto, enable, disable",
				    cfg->link_state);
	return 0;
}

/* ---- wire form ---- */

/*
 * Wire form, version 1, 40 bytes, little-endian (VFM_VF_CONFIG_WIRE_SIZE):
 *
 *   0  2  version: 1
 *   2  2  length of the record in bytes, this field included: 40 (a later writer may
 *         append fields; a reader takes the first 40 and checks the have bits)
 *   4  4  have: VFM_VF_* bits, the settings present (bit 0 mac, 1 vlan, 2 rate,
 *         3 spoofchk, 4 trust, 5 rss-query, 6 link-state); other bits refused
 *   8  4  the VF's index on the source PF (for messages)
 *  12  6  MAC
 *  18  2  VLAN ID, 0 to 4095
 *  20  2  VLAN protocol: 0x8100 (802.1Q) or 0x88a8 (802.1ad)
 *  22  1  VLAN qos, 0 to 7
 *  23  1  link state: 0 auto, 1 enable, 2 disable
 *  24  1  bit 0 spoof check, bit 1 trust, bit 2 RSS query; other bits 0
 *  25  3  reserved, 0
 *  28  4  min TX rate, Mbit/s
 *  32  4  max TX rate, Mbit/s (0: no limit)
 *  36  4  reserved, 0
 *
 * A setting whose have bit is clear is written as zeros, and a reader refuses
 * anything else there.
 */
#define WIRE_LEN_MAX 256

enum {
	WIRE_SPOOFCHK = 1u << 0,
	WIRE_TRUST = 1u << 1,
	WIRE_RSS_QUERY = 1u << 2,
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int vfm_vf_config_encode(const struct vfm_vf_config *cfg,
			 uint8_t buf[VFM_VF_CONFIG_WIRE_SIZE])
{
	uint8_t flags = 0;
	int r = vfm_vf_config_check(cfg, NULL, 0);

	if (r < 0)
		return r;
	memset(buf, 0, VFM_VF_CONFIG_WIRE_SIZE);
	put16(buf + 0, VFM_VF_CONFIG_WIRE_VERSION);
	put16(buf + 2, VFM_VF_CONFIG_WIRE_SIZE);
	put32(buf + 4, cfg->have);
	put32(buf + 8, cfg->vf);
	if (cfg->have & VFM_VF_MAC)
		memcpy(buf + 12, cfg->mac, 6);
	if (cfg->have & VFM_VF_VLAN) {
		put16(buf + 18, cfg->vlan);
		put16(buf + 20, cfg->vlan_proto);
		buf[22] = cfg->qos;
	}
	if (cfg->have & VFM_VF_LINK_STATE)
		buf[23] = cfg->link_state;
	if ((cfg->have & VFM_VF_SPOOFCHK) && cfg->spoofchk)
		flags |= WIRE_SPOOFCHK;
	if ((cfg->have & VFM_VF_TRUST) && cfg->trust)
		flags |= WIRE_TRUST;
	if ((cfg->have & VFM_VF_RSS_QUERY) && cfg->rss_query)
		flags |= WIRE_RSS_QUERY;
	buf[24] = flags;
	if (cfg->have & VFM_VF_RATE) {
		put32(buf + 28, cfg->min_tx_rate);
		put32(buf + 32, cfg->max_tx_rate);
	}
	return VFM_VF_CONFIG_WIRE_SIZE;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int vfm_vf_config_decode(const void *data, size_t size, struct vfm_vf_config *ret,
			 char *why, size_t why_size)
{
	const uint8_t *b = data;
	struct vfm_vf_config cfg = {};
	uint16_t version, len;
	uint8_t flags;
	int r;

	if (size < 4)
		return vfm_net_fail(why, why_size, -EBADMSG,
				    "VF config: %zu bytes, too short", size);
	version = get16(b);
	len = get16(b + 2);
	if (version != VFM_VF_CONFIG_WIRE_VERSION)
		return vfm_net_fail(why, why_size, -EPROTONOSUPPORT,
				    "VF config version %u, this vfiomig reads %d",
				    version, VFM_VF_CONFIG_WIRE_VERSION);
	if (len < VFM_VF_CONFIG_WIRE_SIZE || len > WIRE_LEN_MAX || len != size)
		return vfm_net_fail(
			why, why_size, -EBADMSG,
			"VF config: length field %u, %zu bytes given (%d to %d)", len,
			size, VFM_VF_CONFIG_WIRE_SIZE, WIRE_LEN_MAX);
	cfg.have = get32(b + 4);
	if (cfg.have & ~(uint32_t)VFM_VF_ALL)
		return vfm_net_fail(
			why, why_size, -EPROTONOSUPPORT,
			"VF config holds settings this vfiomig does not know (0x%x): "
			"they would be lost",
			cfg.have & ~(uint32_t)VFM_VF_ALL);
	cfg.vf = get32(b + 8);
	flags = b[24];
	if (!all_zero(b + 25, 3) || !all_zero(b + 36, 4) ||
	    (flags & ~(WIRE_SPOOFCHK | WIRE_TRUST | WIRE_RSS_QUERY)))
		return vfm_net_fail(why, why_size, -EBADMSG,
				    "VF config: reserved bits set");
	/* Absent settings are zeros. */
	if ((!(cfg.have & VFM_VF_MAC) && !all_zero(b + 12, 6)) ||
	    (!(cfg.have & VFM_VF_VLAN) && !all_zero(b + 18, 5)) ||
	    (!(cfg.have & VFM_VF_LINK_STATE) && b[23]) ||
	    (!(cfg.have & VFM_VF_RATE) && !all_zero(b + 28, 8)) ||
	    (!(cfg.have & VFM_VF_SPOOFCHK) && (flags & WIRE_SPOOFCHK)) ||
	    (!(cfg.have & VFM_VF_TRUST) && (flags & WIRE_TRUST)) ||
	    (!(cfg.have & VFM_VF_RSS_QUERY) && (flags & WIRE_RSS_QUERY)))
		return vfm_net_fail(why, why_size, -EBADMSG,
				    "VF config: a value for a setting marked absent");
	memcpy(cfg.mac, b + 12, 6);
	cfg.vlan = get16(b + 18);
	cfg.vlan_proto = get16(b + 20);
	cfg.qos = b[22];
	cfg.link_state = b[23];
	cfg.spoofchk = flags & WIRE_SPOOFCHK;
	cfg.trust = flags & WIRE_TRUST;
	cfg.rss_query = flags & WIRE_RSS_QUERY;
	cfg.min_tx_rate = get32(b + 28);
	cfg.max_tx_rate = get32(b + 32);
	r = vfm_vf_config_check(&cfg, why, why_size);
	if (r < 0)
		return -EBADMSG;
	*ret = cfg;
	return 0;
}

/* ---- reading and setting ---- */

static int read_link(struct vfm_ctx *ctx, const struct vfm_pf *pf,
		     struct vfm_rt_link **ret, char *why, size_t why_size)
{
	struct vfm_nl_extack ext;
	struct vfm_rt_link *link;
	struct vfm_nl nl;
	int r;

	link = malloc(sizeof(*link));
	if (!link)
		return -ENOMEM;
	r = vfm_nl_open_route(&nl, ctx);
	if (r < 0) {
		free(link);
		return vfm_net_fail(why, why_size, r, "%s: rtnetlink socket: %s",
				    pf->ifname, strerror(-r));
	}
	r = vfm_rt_get_link(&nl, pf->ifindex, link, &ext);
	vfm_nl_close(&nl);
	if (r < 0) {
		free(link);
		if (r == -EBADMSG || r == -E2BIG)
			return vfm_net_fail(
				why, why_size, r,
				"%s: the kernel's link reply is malformed or over the "
				"limits (%s)",
				pf->ifname, strerror(-r));
		vfm_net_fail(why, why_size, r, "%s (ifindex %d): read link: %s",
			     pf->ifname, pf->ifindex, strerror(-r));
		vfm_nl_why_extack(why, why_size, &ext);
		return r;
	}
	if (!streq(link->ifname, pf->ifname))
		vfm_dbg(ctx, "ifindex %d is %s now, was %s", pf->ifindex, link->ifname,
			pf->ifname);
	*ret = link;
	return 0;
}

static int link_vfinfo(const struct vfm_pf *pf, const struct vfm_rt_link *link, char *why,
		       size_t why_size)
{
	if (!link->has_vfinfo)
		return vfm_net_fail(why, why_size, -EOPNOTSUPP,
				    "%s reports no VF settings (its driver has no "
				    "ndo_get_vf_config, or it is not the PF netdev)",
				    pf->ifname);
	return 0;
}

int vfm_vf_config_get_all(struct vfm_ctx *ctx, const struct vfm_pf *pf,
			  struct vfm_vf_config **ret_list, char *why, size_t why_size)
{
	struct vfm_rt_link *link = NULL;
	struct vfm_vf_config *list = NULL;
	int r = read_link(ctx, pf, &link, why, why_size);

	if (r < 0)
		return r;
	r = link_vfinfo(pf, link, why, why_size);
	if (r == 0 && link->n_vfs > 0) {
		list = calloc(link->n_vfs, sizeof(*list));
		if (!list)
			r = -ENOMEM;
		else
			memcpy(list, link->vfs, link->n_vfs * sizeof(*list));
	}
	if (r == 0) {
		*ret_list = list;
		r = (int)link->n_vfs;
	}
	free(link);
	return r;
}

int vfm_vf_config_get(struct vfm_ctx *ctx, const struct vfm_pf *pf, uint32_t vf,
		      struct vfm_vf_config *ret, char *why, size_t why_size)
{
	struct vfm_rt_link *link = NULL;
	int r = read_link(ctx, pf, &link, why, why_size);

	if (r < 0)
		return r;
	r = link_vfinfo(pf, link, why, why_size);
	if (r == 0) {
		r = vfm_net_fail(why, why_size, -ENOENT, "%s lists no VF %u (it has %u)",
				 pf->ifname, vf, link->n_vfs);
		for (uint32_t i = 0; i < link->n_vfs; i++)
			if (link->vfs[i].vf == vf) {
				*ret = link->vfs[i];
				r = 0;
				break;
			}
	}
	free(link);
	return r;
}

int vfm_vf_config_set(struct vfm_ctx *ctx, const struct vfm_pf *pf, uint32_t vf,
		      const struct vfm_vf_config *cfg, uint32_t fields,
		      uint32_t *ret_done, char *why, size_t why_size)
{
	struct vfm_nl nl;
	uint32_t done = 0;
	int r;

	if (ret_done)
		*ret_done = 0;
	if (fields & ~(uint32_t)VFM_VF_ALL)
		return vfm_net_fail(why, why_size, -EINVAL, "unknown settings (0x%x)",
				    fields & ~(uint32_t)VFM_VF_ALL);
	r = vfm_nl_open_route(&nl, ctx);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: rtnetlink socket: %s",
				    pf->ifname, strerror(-r));
	for (size_t i = 0; i < ELEMENTSOF(field_order) && r == 0; i++) {
		uint32_t field = field_order[i];
		struct vfm_nl_extack ext;
		struct nl_msg *msg;
		char what[80];

		if (!(fields & field))
			continue;
		msg = vfm_rt_build_setvf(pf->ifindex, vf, field, cfg);
		if (!msg) {
			r = -ENOMEM;
			break;
		}
		r = vfm_nl_transact(&nl, msg, NULL, NULL, 0, &ext);
		nlmsg_free(msg);
		field_format(cfg, field, what, sizeof(what));
		if (r < 0) {
			vfm_net_fail(why, why_size, r, "%s VF %u: set %s: %s", pf->ifname,
				     vf, what, strerror(-r));
			vfm_nl_why_extack(why, why_size, &ext);
			break;
		}
		vfm_dbg(ctx, "%s VF %u: %s set", pf->ifname, vf, what);
		done |= field;
	}
	vfm_nl_close(&nl);
	if (ret_done)
		*ret_done = done;
	return r;
}

/* ---- capture and apply ---- */

int vfm_vf_config_capture_ref(struct vfm_ctx *ctx, const struct vfm_vf_ref *ref,
			      struct vfm_vf_config *ret, char *why, size_t why_size)
{
	return vfm_vf_config_get(ctx, &ref->pf, ref->vf, ret, why, why_size);
}

int vfm_vf_config_capture(struct vfm_ctx *ctx, const char *vf_dev,
			  struct vfm_vf_config *ret, char *why, size_t why_size)
{
	struct vfm_vf_ref ref;
	int r = vfm_vf_find(ctx, vf_dev, &ref, why, why_size);

	if (r < 0)
		return r;
	return vfm_vf_config_capture_ref(ctx, &ref, ret, why, why_size);
}

static bool field_equal(const struct vfm_vf_config *a, const struct vfm_vf_config *b,
			uint32_t field)
{
	switch (field) {
	case VFM_VF_MAC: return memcmp(a->mac, b->mac, sizeof(a->mac)) == 0;
	case VFM_VF_VLAN:
		/* No VLAN is no VLAN, whatever protocol the driver remembers. */
		if (a->vlan == 0 && a->qos == 0 && b->vlan == 0 && b->qos == 0)
			return true;
		return a->vlan == b->vlan && a->qos == b->qos &&
		       a->vlan_proto == b->vlan_proto;
	case VFM_VF_RATE:
		return a->min_tx_rate == b->min_tx_rate &&
		       a->max_tx_rate == b->max_tx_rate;
	case VFM_VF_SPOOFCHK: return a->spoofchk == b->spoofchk;
	case VFM_VF_TRUST: return a->trust == b->trust;
	case VFM_VF_RSS_QUERY: return a->rss_query == b->rss_query;
	case VFM_VF_LINK_STATE: return a->link_state == b->link_state;
	default: return false;
	}
}

bool vfm_vf_config_equal(const struct vfm_vf_config *a, const struct vfm_vf_config *b)
{
	if (a->have != b->have)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(field_order); i++)
		if ((a->have & field_order[i]) && !field_equal(a, b, field_order[i]))
			return false;
	return true;
}

int vfm_vf_config_apply_ref(struct vfm_ctx *ctx, const struct vfm_vf_ref *ref,
			    const struct vfm_vf_config *cfg, uint32_t *ret_changed,
			    char *why, size_t why_size)
{
	struct vfm_vf_config cur, after;
	uint32_t diff = 0, done = 0;
	int r;

	if (ret_changed)
		*ret_changed = 0;
	r = vfm_vf_config_check(cfg, why, why_size);
	if (r < 0)
		return r;
	r = vfm_vf_config_get(ctx, &ref->pf, ref->vf, &cur, why, why_size);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(field_order); i++) {
		uint32_t f = field_order[i];

		if ((cfg->have & f) && (!(cur.have & f) || !field_equal(cfg, &cur, f)))
			diff |= f;
	}
	if (diff == 0)
		return 0;
	r = vfm_vf_config_set(ctx, &ref->pf, ref->vf, cfg, diff, &done, why, why_size);
	if (ret_changed)
		*ret_changed = done;
	if (r < 0)
		return r;
	r = vfm_vf_config_get(ctx, &ref->pf, ref->vf, &after, why, why_size);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(field_order); i++) {
		uint32_t f = field_order[i];
		char want[80], got[80];

		/* A setting the driver does not report cannot be read back. */
		if (!(diff & f) || !(after.have & f) || field_equal(cfg, &after, f))
			continue;
		field_format(cfg, f, want, sizeof(want));
		field_format(&after, f, got, sizeof(got));
		return vfm_net_fail(why, why_size, -EIO,
				    "%s VF %u: the kernel accepted %s but reports %s",
				    ref->pf.ifname, ref->vf, want, got);
	}
	return 0;
}

int vfm_vf_config_apply(struct vfm_ctx *ctx, const char *vf_dev,
			const struct vfm_vf_config *cfg, uint32_t *ret_changed, char *why,
			size_t why_size)
{
	struct vfm_vf_ref ref;
	int r;

	if (ret_changed)
		*ret_changed = 0;
	r = vfm_vf_find(ctx, vf_dev, &ref, why, why_size);
	if (r < 0)
		return r;
	return vfm_vf_config_apply_ref(ctx, &ref, cfg, ret_changed, why, why_size);
}

/* ---- the list ---- */

int vfm_vf_list(struct vfm_ctx *ctx, const struct vfm_pf *pf,
		struct vfm_vf_info **ret_list, struct vfm_vf_list_status *ret_status)
{
	struct vfm_vf_list_status st = {};
	struct vfm_devlink_port *ports = NULL;
	struct vfm_rt_link *link = NULL;
	struct vfm_vf_info *list = NULL;
	int n_ports, n;

	st.config_error = read_link(ctx, pf, &link, st.config_why, sizeof(st.config_why));
	if (st.config_error == 0)
		st.config_error =
			link_vfinfo(pf, link, st.config_why, sizeof(st.config_why));
	/* The kernel's count first: sysfs may lag behind or lack sriov_numvfs. */
	if (link && link->num_vf >= 0)
		n = link->num_vf;
	else if (pf->num_vfs >= 0)
		n = pf->num_vfs;
	else
		n = link ? (int)link->n_vfs : 0;
	if (n > VFM_VF_MAX)
		n = VFM_VF_MAX;

	st.eswitch_error = vfm_devlink_eswitch_get(ctx, pf, &st.eswitch, st.eswitch_why,
						   sizeof(st.eswitch_why));
	n_ports = vfm_devlink_ports(ctx, pf, &ports, st.ports_why, sizeof(st.ports_why));
	if (n_ports < 0)
		st.ports_error = n_ports;

	if (n > 0) {
		list = calloc((size_t)n, sizeof(*list));
		if (!list) {
			free(link);
			free(ports);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < n; i++) {
		struct vfm_vf_info *v = &list[i];
		int p;

		v->ref = (struct vfm_vf_ref){.pf = *pf, .vf = (uint32_t)i};
		vfm_vf_ref_pf(ctx, pf, (uint32_t)i, &v->ref, NULL, 0);
		v->config.vf = (uint32_t)i;
		for (uint32_t j = 0; link && st.config_error == 0 && j < link->n_vfs; j++)
			if (link->vfs[j].vf == (uint32_t)i)
				v->config = link->vfs[j];
		p = n_ports > 0 ? vfm_devlink_vf_port(ports, (size_t)n_ports, (uint32_t)i)
				: -1;
		if (p >= 0) {
			v->has_port = true;
			v->port = ports[p];
		}
	}
	free(link);
	free(ports);
	if (ret_status)
		*ret_status = st;
	*ret_list = list;
	return n;
}
