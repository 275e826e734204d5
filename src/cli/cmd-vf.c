// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig vf: the host networking side of a VF migration.  "list" shows the VFs of
 * PFs with their devlink port, migratable capability and admin settings; "set"
 * changes them; "eswitch" reads or changes the PF's eswitch mode (switchdev is a
 * precondition of "migratable").  "token" sets the VF token of a PF bound to
 * vfio-pci, which its VFs then need to open.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "net.h"
#include "util.h"

static void help(void)
{
	printf("Usage: vfiomig vf list [PF] [-j] [-p]\n"
	       "       vfiomig vf set PF VF SETTING VALUE [SETTING VALUE...]\n"
	       "       vfiomig vf eswitch PF [legacy|switchdev]\n"
	       "       vfiomig [--vf-token OLD] vf token PF UUID\n\n"
	       "PF: a netdev, a PCI address or a devlink handle (pci/0000:3b:00.0).\n"
	       "VF: the VF's index on that PF.  Settings:\n"
	       "  migratable on|off   devlink port function capability\n"
	       "                      (switchdev mode, VF without a driver)\n"
	       "  mac MAC             52:54:00:12:34:56 (unicast, or all zeros)\n"
	       "  vlan ID [qos Q] [proto 802.1Q|802.1ad]\n"
	       "                      ID 0 to 4095 (0: none), Q 0 to 7\n"
	       "  spoofchk on|off, trust on|off, rss-query on|off\n"
	       "  link-state auto|enable|disable\n"
	       "  min-rate MBPS, max-rate MBPS (0: no limit)\n\n"
	       "vf token: PF is an SR-IOV PF bound to vfio-pci (a PCI address); its VFs\n"
	       "then open only with --vf-token UUID.  While VFs of it are open, opening\n"
	       "the PF takes the current token: --vf-token OLD.\n");
}

/* Exit codes of vfiomig(8): 3 no such PF, VF or port; 4 not supported or a
 * precondition unmet; 1 anything else the kernel refused. */
static int vf_exit(int err)
{
	switch (-err) {
	case 0: return EXIT_OK;
	case ENOENT:
	case ENODEV: return EXIT_NODEV;
	case EOPNOTSUPP:
	case EBUSY:
	case ENOTUNIQ: return EXIT_UNSUPPORTED;
	default: return EXIT_FAILED;
	}
}

static int find_pf(struct cli *cli, const char *name, struct vfm_pf *pf)
{
	char why[VFM_NET_WHY_MAX];
	int r = vfm_pf_find(cli->ctx, name, pf, why, sizeof(why));

	if (r < 0) {
		cli_error(cli, "%s", why);
		return r == -EINVAL ? EXIT_USAGE : EXIT_NODEV;
	}
	return EXIT_OK;
}

/* ---- list ---- */

void cli_print_vf_config(struct out *o, const struct vfm_vf_config *c)
{
	char mac[18];

	if (c->have & VFM_VF_MAC) {
		vfm_mac_format(c->mac, mac);
		out_str(o, "mac", "        mac %s", mac);
	} else {
		out_null(o, "mac");
		out_text(o, "        mac ?");
	}
	if (c->have & VFM_VF_VLAN) {
		out_u64(o, "vlan", " vlan %s", c->vlan);
		out_u64(o, "qos", " qos %s", c->qos);
		out_str(o, "vlan_proto", " proto %s",
			c->vlan_proto == VFM_ETH_P_8021AD ? "802.1ad" : "802.1Q");
	} else {
		out_null(o, "vlan");
		out_null(o, "qos");
		out_null(o, "vlan_proto");
		out_text(o, " vlan ?");
	}
	static const struct {
		uint32_t bit;
		const char *key, *text;
		size_t off;
	} bools[] = {
		{VFM_VF_SPOOFCHK, "spoofchk", " spoofchk %s",
		 offsetof(struct vfm_vf_config, spoofchk)},
		{VFM_VF_TRUST, "trust", " trust %s",
		 offsetof(struct vfm_vf_config, trust)},
		{VFM_VF_RSS_QUERY, "rss_query", " rss-query %s",
		 offsetof(struct vfm_vf_config, rss_query)},
	};
	for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
		bool v = *(const bool *)((const char *)c + bools[i].off);

		if (c->have & bools[i].bit) {
			if (out_is_json(o))
				out_bool(o, bools[i].key, NULL, v);
			else
				out_str(o, NULL, bools[i].text, v ? "on" : "off");
		} else {
			out_null(o, bools[i].key);
			if (!out_is_json(o))
				out_str(o, NULL, bools[i].text, "?");
		}
	}
	if (c->have & VFM_VF_LINK_STATE) {
		out_str(o, "link_state", " link-state %s",
			vfm_vf_link_state_name(c->link_state));
	} else {
		out_null(o, "link_state");
		out_text(o, " link-state ?");
	}
	if (c->have & VFM_VF_RATE) {
		out_u64(o, "min_tx_rate", " min-rate %s", c->min_tx_rate);
		out_u64(o, "max_tx_rate", " max-rate %s", c->max_tx_rate);
	} else {
		out_null(o, "min_tx_rate");
		out_null(o, "max_tx_rate");
		out_text(o, " rate ?");
	}
	out_text(o, "\n");
}

static void print_vf(struct out *o, const struct vfm_vf_info *v)
{
	out_object_begin(o, NULL);
	out_u64(o, "vf", "  vf %s", v->ref.vf);
	if (v->ref.pci_addr[0]) {
		out_str(o, "pci_address", "  pci %s", v->ref.pci_addr);
	} else {
		out_null(o, "pci_address");
		out_text(o, "  pci -");
	}
	if (v->ref.driver[0]) {
		out_str(o, "driver", "  driver %s", v->ref.driver);
	} else {
		out_null(o, "driver");
		out_text(o, "  driver -");
	}
	if (v->has_port) {
		out_object_begin(o, "port");
		out_u64(o, "index", "  port %s", v->port.index);
		out_str(o, "flavour", " %s", vfm_port_flavour_name(v->port.flavour));
		if (v->port.netdev[0])
			out_str(o, "netdev", " %s", v->port.netdev);
		else
			out_null(o, "netdev");
		/* The port function's address: how switchdev drivers set a VF's MAC. */
		if (v->port.hw_addr_len == 6) {
			char mac[18];

			vfm_mac_format(v->port.hw_addr, mac);
			out_str(o, "hw_addr", " hw_addr %s", mac);
		} else {
			out_null(o, "hw_addr");
		}
		out_object_end(o);
	} else {
		out_null(o, "port");
		out_text(o, "  port -");
	}
	if (v->has_port && v->port.migratable >= 0) {
		if (out_is_json(o))
			out_bool(o, "migratable", NULL, v->port.migratable);
		else
			out_str(o, NULL, "  migratable %s",
				v->port.migratable ? "on" : "off");
	} else {
		out_null(o, "migratable");
		out_text(o, "  migratable unknown");
	}
	out_text(o, "\n");
	cli_print_vf_config(o, &v->config);
	out_object_end(o);
}

static int list_pf(struct cli *cli, const struct vfm_pf *pf)
{
	struct out *o = cli->out;
	struct vfm_vf_list_status st;
	struct vfm_vf_info *vfs = NULL;
	char handle[192];
	int n;

	n = vfm_vf_list(cli->ctx, pf, &vfs, &st);
	if (n < 0) {
		cli_error(cli, "%s: cannot list VFs: %s", pf->ifname, strerror(-n));
		return vf_exit(n);
	}
	out_object_begin(o, NULL);
	out_str(o, "pf", "%s", pf->ifname);
	out_i64(o, "ifindex", NULL, pf->ifindex);
	snprintf(handle, sizeof(handle), "%s/%s", pf->bus, pf->dev);
	out_str(o, "devlink", "  %s", handle);
	out_str(o, "sysfs_path", NULL, pf->sysfs_path);
	out_i64(o, "num_vfs", "  %s VFs", n);
	if (pf->total_vfs >= 0)
		out_i64(o, "total_vfs", " (of %s)", pf->total_vfs);
	else
		out_null(o, "total_vfs");
	if (st.eswitch_error == 0) {
		out_str(o, "eswitch", "  eswitch %s", vfm_eswitch_mode_name(st.eswitch));
	} else {
		out_null(o, "eswitch");
		out_text(o, "  eswitch unknown (%s)", strerror(-st.eswitch_error));
		out_str(o, "eswitch_error", NULL, st.eswitch_why);
	}
	out_text(o, "\n");
	if (st.config_error) {
		out_str(o, "config_error", "  settings unknown: %s\n", st.config_why);
	}
	if (st.ports_error) {
		out_str(o, "ports_error", NULL, st.ports_why);
		out_text(o, "  devlink ports unknown (%s)\n", strerror(-st.ports_error));
	}
	out_array_begin(o, "vfs");
	for (int i = 0; i < n; i++)
		print_vf(o, &vfs[i]);
	out_array_end(o);
	out_object_end(o);
	free(vfs);
	return EXIT_OK;
}

static int vf_list(struct cli *cli, int argc, char **argv)
{
	struct vfm_pf *pfs = NULL, one;
	int c, n, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (argc - optind > 1) {
		cli_error(cli, "vf list takes at most one PF");
		return EXIT_USAGE;
	}
	if (optind < argc) {
		ex = find_pf(cli, argv[optind], &one);
		if (ex != EXIT_OK)
			return ex;
		pfs = &one;
		n = 1;
	} else {
		n = vfm_pf_list(cli->ctx, &pfs);
		if (n < 0) {
			cli_error(cli, "cannot list PFs: %s", strerror(-n));
			return EXIT_FAILED;
		}
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_array_begin(cli->out, "pfs");
	for (int i = 0; i < n; i++) {
		int r = list_pf(cli, &pfs[i]);

		if (r != EXIT_OK && ex == EXIT_OK)
			ex = r;
	}
	out_array_end(cli->out);
	out_object_end(cli->out);
	if (n == 0)
		out_text(cli->out, "no PF with VFs\n");
	out_finish(cli->out);
	if (pfs != &one)
		free(pfs);
	return ex;
}

/* ---- set ---- */

struct set_req {
	struct vfm_vf_config cfg; /* have: the rtnetlink settings to send */
	bool min_given, max_given;
	int migratable; /* -1 not asked, 0 off, 1 on */
};

static int parse_onoff(struct cli *cli, const char *key, const char *v, bool *ret)
{
	if (streq(v, "on")) {
		*ret = true;
		return 0;
	}
	if (streq(v, "off")) {
		*ret = false;
		return 0;
	}
	cli_error(cli, "%s takes on or off, not '%s'", key, v);
	return -EINVAL;
}

/* Parse "SETTING VALUE..." pairs; every value is checked before anything is sent. */
static int parse_settings(struct cli *cli, int argc, char **argv, struct set_req *req)
{
	struct vfm_vf_config *c = &req->cfg, tmp;
	bool qos = false, proto = false;
	char why[VFM_NET_WHY_MAX];
	uint32_t v;

	*req = (struct set_req){.migratable = -1, .cfg.vlan_proto = VFM_ETH_P_8021Q};
	if (argc == 0) {
		cli_error(cli,
			  "vf set needs at least one setting (see vfiomig vf --help)");
		return -EINVAL;
	}
	for (int i = 0; i < argc; i += 2) {
		const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		uint32_t bit = 0;
		bool b;

		if (!val) {
			cli_error(cli, "%s needs a value", k);
			return -EINVAL;
		}
		if (streq(k, "migratable")) {
			if (req->migratable >= 0)
				goto dup;
			if (parse_onoff(cli, k, val, &b) < 0)
				return -EINVAL;
			req->migratable = b;
			continue;
		} else if (streq(k, "mac")) {
			bit = VFM_VF_MAC;
			if (vfm_mac_parse(val, c->mac) < 0) {
				cli_error(cli,
					  "mac '%s' is not a MAC address "
					  "(52:54:00:12:34:56)",
					  val);
				return -EINVAL;
			}
		} else if (streq(k, "vlan")) {
			bit = VFM_VF_VLAN;
			if (parse_u32(val, 10, 4095, &v) < 0) {
				cli_error(
					cli,
					"vlan '%s' is not a VLAN ID (0 to 4095; 0: none)",
					val);
				return -EINVAL;
			}
			c->vlan = (uint16_t)v;
		} else if (streq(k, "qos")) {
			if (qos)
				goto dup;
			qos = true;
			if (parse_u32(val, 10, 7, &v) < 0) {
				cli_error(cli, "qos '%s' is not a priority (0 to 7)",
					  val);
				return -EINVAL;
			}
			c->qos = (uint8_t)v;
			continue;
		} else if (streq(k, "proto")) {
			if (proto)
				goto dup;
			proto = true;
			if (streq(val, "802.1Q") || streq(val, "802.1q")) {
				c->vlan_proto = VFM_ETH_P_8021Q;
			} else if (streq(val, "802.1ad") || streq(val, "802.1AD")) {
				c->vlan_proto = VFM_ETH_P_8021AD;
			} else {
				cli_error(cli, "proto '%s' is neither 802.1Q nor 802.1ad",
					  val);
				return -EINVAL;
			}
			continue;
		} else if (streq(k, "spoofchk")) {
			bit = VFM_VF_SPOOFCHK;
			if (parse_onoff(cli, k, val, &c->spoofchk) < 0)
				return -EINVAL;
		} else if (streq(k, "trust")) {
			bit = VFM_VF_TRUST;
			if (parse_onoff(cli, k, val, &c->trust) < 0)
				return -EINVAL;
		} else if (streq(k, "rss-query")) {
			bit = VFM_VF_RSS_QUERY;
			if (parse_onoff(cli, k, val, &c->rss_query) < 0)
				return -EINVAL;
		} else if (streq(k, "link-state")) {
			bit = VFM_VF_LINK_STATE;
			if (vfm_vf_link_state_from_name(val, &c->link_state) < 0) {
				cli_error(cli,
					  "link-state takes auto, enable or disable, not "
					  "'%s'",
					  val);
				return -EINVAL;
			}
		} else if (streq(k, "min-rate") || streq(k, "max-rate")) {
			bool *given = k[1] == 'i' ? &req->min_given : &req->max_given;

			if (*given)
				goto dup;
			*given = true;
			if (parse_u32(val, 10, UINT32_MAX, &v) < 0) {
				cli_error(cli,
					  "%s '%s' is not a rate in Mbit/s (0 to %u)", k,
					  val, UINT32_MAX);
				return -EINVAL;
			}
			if (k[1] == 'i')
				c->min_tx_rate = v;
			else
				c->max_tx_rate = v;
			c->have |= VFM_VF_RATE;
			continue;
		} else {
			cli_error(cli, "unknown setting '%s' (see vfiomig vf --help)", k);
			return -EINVAL;
		}
		if (c->have & bit)
			goto dup;
		c->have |= bit;
		continue;
	dup:
		cli_error(cli, "%s given twice", k);
		return -EINVAL;
	}
	if ((qos || proto) && !(c->have & VFM_VF_VLAN)) {
		cli_error(cli, "qos and proto go with vlan");
		return -EINVAL;
	}
	/* Both rates travel in one attribute: with one of them given, the other is read
	 * from the PF before the pair is checked. */
	tmp = *c;
	if (!(req->min_given && req->max_given))
		tmp.have &= ~(uint32_t)VFM_VF_RATE;
	if (vfm_vf_config_check(&tmp, why, sizeof(why)) < 0) {
		cli_error(cli, "%s", why);
		return -EINVAL;
	}
	return 0;
}

static int vf_set(struct cli *cli, int argc, char **argv)
{
	char why[VFM_NET_WHY_MAX], fields[128];
	struct vfm_vf_ref ref;
	struct set_req req;
	struct vfm_pf pf;
	uint32_t vf, done = 0;
	int c, r, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (argc - optind < 2) {
		cli_error(cli,
			  "vf set needs a PF and a VF index (see vfiomig vf --help)");
		return EXIT_USAGE;
	}
	if (parse_u32(argv[optind + 1], 10, VFM_VF_MAX - 1, &vf) < 0) {
		cli_error(cli, "VF '%s' is not a VF index (0 to %d)", argv[optind + 1],
			  VFM_VF_MAX - 1);
		return EXIT_USAGE;
	}
	if (parse_settings(cli, argc - optind - 2, argv + optind + 2, &req) < 0)
		return EXIT_USAGE;
	ex = find_pf(cli, argv[optind], &pf);
	if (ex != EXIT_OK)
		return ex;
	r = vfm_vf_ref_pf(cli->ctx, &pf, vf, &ref, why, sizeof(why));
	if (r < 0) {
		cli_error(cli, "%s", why);
		return vf_exit(r);
	}

	/* A lone min-rate or max-rate keeps the other one as the PF has it. */
	if ((req.cfg.have & VFM_VF_RATE) && !(req.min_given && req.max_given)) {
		struct vfm_vf_config cur;

		r = vfm_vf_config_get(cli->ctx, &pf, vf, &cur, why, sizeof(why));
		if (r < 0) {
			cli_error(cli, "%s", why);
			return vf_exit(r);
		}
		if (cur.have & VFM_VF_RATE) {
			if (!req.min_given)
				req.cfg.min_tx_rate = cur.min_tx_rate;
			if (!req.max_given)
				req.cfg.max_tx_rate = cur.max_tx_rate;
		}
		r = vfm_vf_config_check(&req.cfg, why, sizeof(why));
		if (r < 0) {
			cli_error(cli, "%s", why);
			return EXIT_USAGE;
		}
	}

	/* The devlink step first: when its preconditions fail, nothing has changed. */
	if (req.migratable >= 0) {
		r = vfm_vf_migratable_set(cli->ctx, &ref, req.migratable, why,
					  sizeof(why));
		if (r < 0) {
			cli_error(cli, "%s", why);
			return vf_exit(r);
		}
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "pf", NULL, pf.ifname);
	out_u64(cli->out, "vf", NULL, vf);
	if (req.migratable >= 0) {
		out_text(cli->out, "%s VF %u: migratable %s\n", pf.ifname, vf,
			 req.migratable ? "on" : "off");
		out_bool(cli->out, "migratable", NULL, req.migratable);
	}
	r = 0;
	if (req.cfg.have)
		r = vfm_vf_config_set(cli->ctx, &pf, vf, &req.cfg, req.cfg.have, &done,
				      why, sizeof(why));
	req.cfg.have = done;
	if (done) {
		char line[256];

		vfm_vf_config_format(&req.cfg, line, sizeof(line));
		out_text(cli->out, "%s VF %u: %s\n", pf.ifname, vf, line);
	}
	vfm_vf_fields_format(done, fields, sizeof(fields));
	out_str_list(cli->out, "set", NULL, fields);
	out_object_end(cli->out);
	out_finish(cli->out);
	if (r < 0) {
		cli_error(cli, "%s", why);
		return vf_exit(r);
	}
	return EXIT_OK;
}

/* ---- eswitch ---- */

static int vf_eswitch(struct cli *cli, int argc, char **argv)
{
	char why[VFM_NET_WHY_MAX];
	enum vfm_eswitch_mode mode;
	struct vfm_pf pf;
	int c, r, ex = EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (argc - optind < 1 || argc - optind > 2) {
		cli_error(cli,
			  "vf eswitch takes a PF and optionally legacy or switchdev");
		return EXIT_USAGE;
	}
	if (argc - optind == 2) {
		if (streq(argv[optind + 1], "legacy")) {
			mode = VFM_ESWITCH_LEGACY;
		} else if (streq(argv[optind + 1], "switchdev")) {
			mode = VFM_ESWITCH_SWITCHDEV;
		} else {
			cli_error(cli,
				  "eswitch mode '%s' is neither legacy nor switchdev",
				  argv[optind + 1]);
			return EXIT_USAGE;
		}
	}
	ex = find_pf(cli, argv[optind], &pf);
	if (ex != EXIT_OK)
		return ex;
	if (argc - optind == 2) {
		r = vfm_devlink_eswitch_set(cli->ctx, &pf, mode, why, sizeof(why));
		if (r < 0) {
			cli_error(cli, "%s", why);
			return vf_exit(r);
		}
	}
	r = vfm_devlink_eswitch_get(cli->ctx, &pf, &mode, why, sizeof(why));
	if (r < 0) {
		cli_error(cli, "%s", why);
		return vf_exit(r);
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "pf", "%s", pf.ifname);
	out_str(cli->out, "eswitch", " eswitch %s\n", vfm_eswitch_mode_name(mode));
	out_object_end(cli->out);
	out_finish(cli->out);
	return EXIT_OK;
}

static int vf_token(struct cli *cli, int argc, char **argv)
{
	struct vfm_device *dev = NULL;
	const char *pf, *uuid;
	int c, ex = EXIT_OK, r;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, help, &ex)) > 0)
		;
	if (c < 0)
		return ex;
	if (argc - optind != 2) {
		cli_error(cli, "vf token takes a PF and a UUID");
		return EXIT_USAGE;
	}
	pf = argv[optind];
	uuid = argv[optind + 1];
	if (!is_uuid(uuid)) {
		cli_error(cli, "'%.64s' is not a UUID (like bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3)",
			  uuid);
		return EXIT_USAGE;
	}
	ex = cli_open(cli, pf, &dev);
	if (ex != EXIT_OK)
		return ex;
	r = vfm_device_set_vf_token(dev, uuid);
	if (r < 0) {
		cli_set_errno(cli, r);
		if (r == -ENOTTY) {
			cli_error(cli, "%s: keeps no VF token (not an SR-IOV PF bound to vfio-pci)",
				  vfm_device_name(dev));
			ex = EXIT_UNSUPPORTED;
		} else {
			cli_error(cli, "%s: cannot set the VF token: %s", vfm_device_name(dev),
				  strerror(-r));
			ex = EXIT_FAILED;
		}
		vfm_device_unref(dev);
		return ex;
	}
	cli->out = out_new(cli->json, cli->pretty);
	out_object_begin(cli->out, NULL);
	out_str(cli->out, "pf", "%s", vfm_device_name(dev));
	out_bool(cli->out, "vf_token_set", NULL, true);
	out_text(cli->out, ": VF token set\n");
	out_object_end(cli->out);
	out_finish(cli->out);
	vfm_device_unref(dev);
	return EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
} subcommands[] = {
	{"list", vf_list},
	{"set", vf_set},
	{"eswitch", vf_eswitch},
	{"token", vf_token},
};

int cmd_vf(struct cli *cli, int argc, char **argv)
{
	if (argc < 2) {
		cli_error(cli, "vf needs a command: list, set, eswitch or token (see vfiomig vf "
			       "--help)");
		return EXIT_USAGE;
	}
	if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
		help();
		return EXIT_OK;
	}
	for (size_t i = 0; i < ELEMENTSOF(subcommands); i++)
		if (streq(argv[1], subcommands[i].name)) {
			optind = 0;
			return subcommands[i].fn(cli, argc - 1, argv + 1);
		}
	cli_error(cli, "unknown vf command '%s' (list, set, eswitch, token)", argv[1]);
	return EXIT_USAGE;
}
