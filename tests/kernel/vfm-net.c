// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfm-net: what the kernel tests need of the net layer that the CLI does not offer.
 *
 *   vfm-net raw PF VF SETTING VALUE...
 *       Send settings through vfm_vf_config_set() unchecked (the CLI refuses bad
 *       values itself), so that the kernel's own refusal shows: VF index beyond the
 *       VF count, multicast MAC, VLAN 4096, qos 8, link state 7.
 *       SETTING: mac M | vlan V [qos Q] [proto HEX] | link-state N | min-rate R max-rate
 * R vfm-net copy SRC_PF SRC_VF DST_PF DST_VF The migration path: capture on the source,
 * encode to the stream's bytes, decode, apply on the destination (what save and restore
 * will do). vfm-net capture DEV vfm_vf_config_capture() of a VF device (PCI address, mdev
 * UUID...). vfm-net caps PF PORT VALUE SELECTOR DEVLINK_CMD_PORT_SET of port function
 * caps {VALUE, SELECTOR} as given, with no precondition checked: shows how the kernel
 * answers malformed requests, so that a test can tell them from the well-formed one.
 *
 * vfm-net libnl-vlan PF VF VLAN QOS PROTO
 *     Send libnl-route's own request for a VF VLAN (rtnl_link_vf_set_vlans(),
 *     rtnl_link_build_change_request()), which src/net/rtnl.c does not use for a
 *     protocol other than 802.1Q: shows what the kernel makes of it.
 * vfm-net time PF N
 *     Read the settings of every VF of PF N times (vfm_vf_config_get_all(), one
 *     RTM_GETLINK each) and print the VF count and the microseconds per read.
 *
 * Prints one line per step; on failure "error NAME: <why>" and exit 1 (2: usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/rtnetlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>

#include "macro.h"
#include "net-internal.h"
#include "net.h"
#include "util.h"
#include "vfiomig.h"

static int fail(int r, const char *why)
{
	printf("error %s: %s\n", strerrorname_np(-r) ? strerrorname_np(-r) : "?", why);
	return 1;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: vfm-net raw PF VF SETTING VALUE... | copy SPF SVF DPF DVF | "
		"capture DEV | caps PF PORT VALUE SELECTOR | libnl-vlan PF VF VLAN QOS "
		"PROTO | time PF N\n");
	return 2;
}

static int get_pf(struct vfm_ctx *ctx, const char *name, struct vfm_pf *pf)
{
	char why[VFM_NET_WHY_MAX];
	int r = vfm_pf_find(ctx, name, pf, why, sizeof(why));

	return r < 0 ? fail(r, why) : 0;
}

static int cmd_raw(struct vfm_ctx *ctx, int argc, char **argv)
{
	struct vfm_vf_config c = {.vlan_proto = VFM_ETH_P_8021Q};
	char why[VFM_NET_WHY_MAX], done_s[128];
	struct vfm_pf pf;
	uint32_t vf, v, done = 0;
	int r;

	if (argc < 4 || argc % 2 != 0 || parse_u32(argv[1], 10, UINT32_MAX, &vf) < 0)
		return usage();
	if (get_pf(ctx, argv[0], &pf))
		return 1;
	for (int i = 2; i < argc; i += 2) {
		const char *k = argv[i], *val = argv[i + 1];

		if (streq(k, "mac")) {
			if (vfm_mac_parse(val, c.mac) < 0)
				return usage();
			c.have |= VFM_VF_MAC;
		} else if (streq(k, "vlan") && parse_u32(val, 0, UINT16_MAX, &v) == 0) {
			c.vlan = (uint16_t)v;
			c.have |= VFM_VF_VLAN;
		} else if (streq(k, "qos") && parse_u32(val, 0, UINT8_MAX, &v) == 0) {
			c.qos = (uint8_t)v;
		} else if (streq(k, "proto") && parse_u32(val, 0, UINT16_MAX, &v) == 0) {
			c.vlan_proto = (uint16_t)v;
		} else if (streq(k, "link-state") &&
			   parse_u32(val, 0, UINT8_MAX, &v) == 0) {
			c.link_state = (uint8_t)v;
			c.have |= VFM_VF_LINK_STATE;
		} else if (streq(k, "min-rate") &&
			   parse_u32(val, 0, UINT32_MAX, &v) == 0) {
			c.min_tx_rate = v;
			c.have |= VFM_VF_RATE;
		} else if (streq(k, "max-rate") &&
			   parse_u32(val, 0, UINT32_MAX, &v) == 0) {
			c.max_tx_rate = v;
			c.have |= VFM_VF_RATE;
		} else {
			return usage();
		}
	}
	r = vfm_vf_config_set(ctx, &pf, vf, &c, c.have, &done, why, sizeof(why));
	vfm_vf_fields_format(done, done_s, sizeof(done_s));
	printf("accepted %s\n", done_s);
	if (r < 0)
		return fail(r, why);
	return 0;
}

static int cmd_copy(struct vfm_ctx *ctx, int argc, char **argv)
{
	struct vfm_vf_ref src, dst;
	struct vfm_vf_config cfg, back;
	uint8_t wire[VFM_VF_CONFIG_WIRE_SIZE];
	char why[VFM_NET_WHY_MAX], line[256], changed_s[128];
	struct vfm_pf spf, dpf;
	uint32_t svf, dvf, changed = 0;
	int r;

	if (argc != 4 || parse_u32(argv[1], 10, VFM_VF_MAX - 1, &svf) < 0 ||
	    parse_u32(argv[3], 10, VFM_VF_MAX - 1, &dvf) < 0)
		return usage();
	if (get_pf(ctx, argv[0], &spf) || get_pf(ctx, argv[2], &dpf))
		return 1;
	r = vfm_vf_ref_pf(ctx, &spf, svf, &src, why, sizeof(why));
	if (r == 0)
		r = vfm_vf_ref_pf(ctx, &dpf, dvf, &dst, why, sizeof(why));
	if (r < 0)
		return fail(r, why);

	r = vfm_vf_config_capture_ref(ctx, &src, &cfg, why, sizeof(why));
	if (r < 0)
		return fail(r, why);
	vfm_vf_config_format(&cfg, line, sizeof(line));
	printf("captured %s VF %u: %s\n", spf.ifname, svf, line);

	r = vfm_vf_config_encode(&cfg, wire);
	if (r < 0)
		return fail(r, "encode");
	printf("wire");
	for (int i = 0; i < r; i++)
		printf("%s%02x", i % 4 ? "" : " ", wire[i]);
	printf("\n");

	r = vfm_vf_config_decode(wire, sizeof(wire), &back, why, sizeof(why));
	if (r < 0)
		return fail(r, why);
	if (!vfm_vf_config_equal(&back, &cfg) || back.vf != cfg.vf)
		return fail(-EIO, "decode gives another config than was encoded");

	r = vfm_vf_config_apply_ref(ctx, &dst, &back, &changed, why, sizeof(why));
	vfm_vf_fields_format(changed, changed_s, sizeof(changed_s));
	printf("changed %s\n", changed_s);
	if (r < 0)
		return fail(r, why);
	printf("applied to %s VF %u\n", dpf.ifname, dvf);
	return 0;
}

static int cmd_capture(struct vfm_ctx *ctx, int argc, char **argv)
{
	struct vfm_vf_config cfg;
	char why[VFM_NET_WHY_MAX], line[256];
	int r;

	if (argc != 1)
		return usage();
	r = vfm_vf_config_capture(ctx, argv[0], &cfg, why, sizeof(why));
	if (r < 0)
		return fail(r, why);
	vfm_vf_config_format(&cfg, line, sizeof(line));
	printf("captured %s: %s\n", argv[0], line);
	return 0;
}

static int cmd_caps(struct vfm_ctx *ctx, int argc, char **argv)
{
	struct vfm_nl_extack ext;
	struct nl_msg *msg;
	struct vfm_nl nl;
	struct vfm_pf pf;
	uint32_t port, value, selector;
	int r;

	if (argc != 4 || parse_u32(argv[1], 0, UINT32_MAX, &port) < 0 ||
	    parse_u32(argv[2], 0, UINT32_MAX, &value) < 0 ||
	    parse_u32(argv[3], 0, UINT32_MAX, &selector) < 0)
		return usage();
	if (get_pf(ctx, argv[0], &pf))
		return 1;
	r = vfm_nl_open_genl(&nl, ctx, "devlink");
	if (r < 0)
		return fail(r, "devlink socket");
	msg = vfm_dl_build_port_caps(nl.family, pf.bus, pf.dev, port, value, selector);
	r = msg ? vfm_nl_transact(&nl, msg, NULL, NULL, 0, &ext) : -ENOMEM;
	nlmsg_free(msg);
	vfm_nl_close(&nl);
	if (r < 0) {
		printf("error %s: extack \"%s\"\n", strerrorname_np(-r), ext.msg);
		return 1;
	}
	printf("accepted\n");
	return 0;
}

static int cmd_libnl_vlan(struct vfm_ctx *ctx, int argc, char **argv)
{
	struct rtnl_link *orig = NULL, *changes = NULL;
	struct rtnl_link_vf *v = NULL;
	nl_vf_vlans_t *vlans = NULL;
	struct vfm_nl_extack ext = {};
	struct nl_msg *msg = NULL;
	struct vfm_pf pf;
	struct vfm_nl nl;
	uint32_t vf, vlan, qos, proto;
	int r;

	if (argc != 5 || parse_u32(argv[1], 10, UINT32_MAX, &vf) < 0 ||
	    parse_u32(argv[2], 0, UINT16_MAX, &vlan) < 0 ||
	    parse_u32(argv[3], 0, UINT8_MAX, &qos) < 0 ||
	    parse_u32(argv[4], 0, UINT16_MAX, &proto) < 0)
		return usage();
	if (get_pf(ctx, argv[0], &pf))
		return 1;
	orig = rtnl_link_alloc();
	changes = rtnl_link_alloc();
	v = rtnl_link_vf_alloc();
	if (!orig || !changes || !v || rtnl_link_vf_vlan_alloc(&vlans, 1) < 0) {
		r = -ENOMEM;
		goto out;
	}
	rtnl_link_set_ifindex(orig, pf.ifindex);
	rtnl_link_vf_set_index(v, vf);
	vlans->vlans[0] = (nl_vf_vlan_info_t){vlan, qos, (uint16_t)proto};
	rtnl_link_vf_set_vlans(v, vlans);
	r = vfm_nl_errno(rtnl_link_vf_add(changes, v));
	if (r == 0)
		r = vfm_nl_errno(rtnl_link_build_change_request(orig, changes, 0, &msg));
	if (r == 0) {
		nlmsg_hdr(msg)->nlmsg_type = RTM_SETLINK;
		r = vfm_nl_open_route(&nl, ctx);
	}
	if (r == 0) {
		r = vfm_nl_transact(&nl, msg, NULL, NULL, 0, &ext);
		vfm_nl_close(&nl);
	}
out:
	nlmsg_free(msg);
	rtnl_link_vf_vlan_put(vlans);
	rtnl_link_vf_put(v);
	if (changes)
		rtnl_link_put(changes);
	if (orig)
		rtnl_link_put(orig);
	if (r < 0) {
		printf("error %s: extack \"%s\"\n", strerrorname_np(-r), ext.msg);
		return 1;
	}
	printf("accepted\n");
	return 0;
}

static int cmd_time(struct vfm_ctx *ctx, int argc, char **argv)
{
	char why[VFM_NET_WHY_MAX];
	struct timespec t0, t1;
	struct vfm_pf pf;
	uint32_t rounds;
	int64_t ns;
	int n = 0;

	if (argc != 2 || parse_u32(argv[1], 10, 100000, &rounds) < 0 || rounds == 0)
		return usage();
	if (get_pf(ctx, argv[0], &pf))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < rounds; i++) {
		struct vfm_vf_config *list = NULL;

		n = vfm_vf_config_get_all(ctx, &pf, &list, why, sizeof(why));
		free(list);
		if (n < 0)
			return fail(n, why);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
	printf("read %d VFs of %s %u times: %lld us each\n", n, pf.ifname, rounds,
	       (long long)(ns / 1000 / rounds));
	return 0;
}

int main(int argc, char **argv)
{
	struct vfm_ctx *ctx = NULL;
	int r;

	if (argc < 2)
		return usage();
	if (vfm_ctx_new(&ctx) < 0)
		return 1;
	if (streq(argv[1], "raw"))
		r = cmd_raw(ctx, argc - 2, argv + 2);
	else if (streq(argv[1], "copy"))
		r = cmd_copy(ctx, argc - 2, argv + 2);
	else if (streq(argv[1], "capture"))
		r = cmd_capture(ctx, argc - 2, argv + 2);
	else if (streq(argv[1], "caps"))
		r = cmd_caps(ctx, argc - 2, argv + 2);
	else if (streq(argv[1], "libnl-vlan"))
		r = cmd_libnl_vlan(ctx, argc - 2, argv + 2);
	else if (streq(argv[1], "time"))
		r = cmd_time(ctx, argc - 2, argv + 2);
	else
		r = usage();
	vfm_ctx_unref(ctx);
	return r;
}
