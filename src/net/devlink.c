// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * devlink over generic netlink: the ports of a PF's devlink instance (a bounded
 * DEVLINK_CMD_PORT_GET dump), the eswitch mode, and the port function capability
 * "migratable" (DEVLINK_CMD_PORT_SET with DEVLINK_ATTR_PORT_FUNCTION /
 * DEVLINK_PORT_FN_ATTR_CAPS as a bitfield32).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/devlink.h>
#include <linux/genetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "net-internal.h"

/* Attempts at a dump the kernel reports as interrupted (ports added meanwhile). */
#define DUMP_ATTEMPTS 3

static const struct nla_policy port_policy[DEVLINK_ATTR_MAX + 1] = {
	[DEVLINK_ATTR_BUS_NAME] = {.type = NLA_STRING, .maxlen = 32},
	[DEVLINK_ATTR_DEV_NAME] = {.type = NLA_STRING, .maxlen = 128},
	[DEVLINK_ATTR_PORT_INDEX] = {.type = NLA_U32},
	[DEVLINK_ATTR_PORT_NETDEV_IFINDEX] = {.type = NLA_U32},
	[DEVLINK_ATTR_PORT_NETDEV_NAME] = {.type = NLA_STRING, .maxlen = VFM_IFNAME_MAX},
	[DEVLINK_ATTR_PORT_FLAVOUR] = {.type = NLA_U16},
	[DEVLINK_ATTR_PORT_PCI_PF_NUMBER] = {.type = NLA_U16},
	[DEVLINK_ATTR_PORT_PCI_VF_NUMBER] = {.type = NLA_U16},
	[DEVLINK_ATTR_PORT_CONTROLLER_NUMBER] = {.type = NLA_U32},
	[DEVLINK_ATTR_PORT_EXTERNAL] = {.type = NLA_U8},
	[DEVLINK_ATTR_PORT_FUNCTION] = {.type = NLA_NESTED},
	[DEVLINK_ATTR_ESWITCH_MODE] = {.type = NLA_U16},
};

static const struct nla_policy function_policy[DEVLINK_PORT_FUNCTION_ATTR_MAX + 1] = {
	[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR] = {.type = NLA_UNSPEC, .maxlen = 32},
	[DEVLINK_PORT_FN_ATTR_STATE] = {.type = NLA_U8},
	[DEVLINK_PORT_FN_ATTR_OPSTATE] = {.type = NLA_U8},
	[DEVLINK_PORT_FN_ATTR_CAPS] = {.minlen = sizeof(struct nla_bitfield32)},
	[DEVLINK_PORT_FN_ATTR_DEVLINK] = {.type = NLA_NESTED},
};

const char *vfm_port_flavour_name(enum vfm_port_flavour flavour)
{
	switch (flavour) {
	case VFM_PORT_PHYSICAL: return "physical";
	case VFM_PORT_CPU: return "cpu";
	case VFM_PORT_DSA: return "dsa";
	case VFM_PORT_PCI_PF: return "pcipf";
	case VFM_PORT_PCI_VF: return "pcivf";
	case VFM_PORT_VIRTUAL: return "virtual";
	case VFM_PORT_UNUSED: return "unused";
	case VFM_PORT_PCI_SF: return "pcisf";
	case VFM_PORT_OTHER: break;
	}
	return "other";
}

const char *vfm_eswitch_mode_name(enum vfm_eswitch_mode mode)
{
	switch (mode) {
	case VFM_ESWITCH_LEGACY: return "legacy";
	case VFM_ESWITCH_SWITCHDEV: return "switchdev";
	}
	return NULL;
}

static enum vfm_port_flavour flavour_from_kernel(uint16_t f)
{
	switch (f) {
	case DEVLINK_PORT_FLAVOUR_PHYSICAL: return VFM_PORT_PHYSICAL;
	case DEVLINK_PORT_FLAVOUR_CPU: return VFM_PORT_CPU;
	case DEVLINK_PORT_FLAVOUR_DSA: return VFM_PORT_DSA;
	case DEVLINK_PORT_FLAVOUR_PCI_PF: return VFM_PORT_PCI_PF;
	case DEVLINK_PORT_FLAVOUR_PCI_VF: return VFM_PORT_PCI_VF;
	case DEVLINK_PORT_FLAVOUR_VIRTUAL: return VFM_PORT_VIRTUAL;
	case DEVLINK_PORT_FLAVOUR_UNUSED: return VFM_PORT_UNUSED;
	case DEVLINK_PORT_FLAVOUR_PCI_SF: return VFM_PORT_PCI_SF;
	default: return VFM_PORT_OTHER;
	}
}

/* ---- messages ---- */

static struct nl_msg *dl_msg(int family, uint8_t cmd, int flags, const char *bus,
			     const char *dev)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST | flags,
			 cmd, DEVLINK_GENL_VERSION) ||
	    nla_put_string(msg, DEVLINK_ATTR_BUS_NAME, bus) < 0 ||
	    nla_put_string(msg, DEVLINK_ATTR_DEV_NAME, dev) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

struct nl_msg *vfm_dl_build_port_dump(int family, const char *bus, const char *dev)
{
	/* Kernels since 6.3 dump only the named instance; older ones dump every port and
	 * the parser filters. */
	return dl_msg(family, DEVLINK_CMD_PORT_GET, NLM_F_DUMP, bus, dev);
}

struct nl_msg *vfm_dl_build_port_caps(int family, const char *bus, const char *dev,
				      uint32_t port_index, uint32_t value,
				      uint32_t selector)
{
	struct nla_bitfield32 caps = {.value = value, .selector = selector};
	struct nl_msg *msg = dl_msg(family, DEVLINK_CMD_PORT_SET, 0, bus, dev);
	struct nlattr *fn;

	if (!msg)
		return NULL;
	if (nla_put_u32(msg, DEVLINK_ATTR_PORT_INDEX, port_index) < 0)
		goto fail;
	/* The devlink core parses the function with nla_parse_nested(), which insists on
	 * NLA_F_NESTED (libnl 3.7 sets it too; older ones do not). */
	fn = nla_nest_start(msg, DEVLINK_ATTR_PORT_FUNCTION | NLA_F_NESTED);
	if (!fn || nla_put(msg, DEVLINK_PORT_FN_ATTR_CAPS, sizeof(caps), &caps) < 0 ||
	    nla_nest_end(msg, fn) < 0)
		goto fail;
	return msg;
fail:
	nlmsg_free(msg);
	return NULL;
}

struct nl_msg *vfm_dl_build_eswitch_get(int family, const char *bus, const char *dev)
{
	return dl_msg(family, DEVLINK_CMD_ESWITCH_GET, 0, bus, dev);
}

struct nl_msg *vfm_dl_build_eswitch_set(int family, const char *bus, const char *dev,
					uint16_t mode)
{
	struct nl_msg *msg = dl_msg(family, DEVLINK_CMD_ESWITCH_SET, 0, bus, dev);

	if (msg && nla_put_u16(msg, DEVLINK_ATTR_ESWITCH_MODE, mode) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* The generic header and attributes of a devlink reply of @len bytes. */
static int dl_parse(const struct nlmsghdr *hdr, size_t len, int family, uint8_t cmd,
		    struct nlattr **tb)
{
	const struct genlmsghdr *g;

	if (len < NLMSG_HDRLEN || hdr->nlmsg_len > len || hdr->nlmsg_type != family ||
	    !genlmsg_valid_hdr((struct nlmsghdr *)hdr, 0))
		return -EBADMSG;
	g = nlmsg_data(hdr);
	if (g->cmd != cmd)
		return -EBADMSG;
	return vfm_nla_parse_strict(tb, DEVLINK_ATTR_MAX, genlmsg_attrdata(g, 0),
				    genlmsg_attrlen(g, 0), port_policy);
}

static int parse_function(const struct nlattr *nla, struct vfm_devlink_port *port)
{
	struct nlattr *tb[DEVLINK_PORT_FUNCTION_ATTR_MAX + 1];
	int r = vfm_nla_parse_nested_strict(tb, DEVLINK_PORT_FUNCTION_ATTR_MAX, nla,
					    function_policy);

	if (r < 0)
		return r;
	if (tb[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR]) {
		port->hw_addr_len =
			(uint8_t)nla_len(tb[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR]);
		memcpy(port->hw_addr, nla_data(tb[DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR]),
		       port->hw_addr_len);
	}
	if (tb[DEVLINK_PORT_FN_ATTR_CAPS]) {
		struct nla_bitfield32 caps;

		memcpy(&caps, nla_data(tb[DEVLINK_PORT_FN_ATTR_CAPS]), sizeof(caps));
		if (caps.value & ~caps.selector)
			return -EBADMSG;
		/* The selector says which capabilities the driver reported. */
		if (caps.selector & DEVLINK_PORT_FN_CAP_MIGRATABLE)
			port->migratable =
				!!(caps.value & DEVLINK_PORT_FN_CAP_MIGRATABLE);
	}
	return 0;
}

int vfm_dl_parse_port(const struct nlmsghdr *hdr, size_t len, int family,
		      struct vfm_dl_port_msg *ret)
{
	struct nlattr *tb[DEVLINK_ATTR_MAX + 1];
	struct vfm_dl_port_msg m = {
		.port = {.pf_number = -1,
			 .vf_number = -1,
			 .controller = -1,
			 .migratable = -1,
			 .flavour = VFM_PORT_OTHER},
	};
	int r = dl_parse(hdr, len, family, DEVLINK_CMD_PORT_NEW, tb);

	if (r < 0)
		return r;
	if (!tb[DEVLINK_ATTR_BUS_NAME] || !tb[DEVLINK_ATTR_DEV_NAME] ||
	    !tb[DEVLINK_ATTR_PORT_INDEX])
		return -EBADMSG;
	nla_strlcpy(m.bus, tb[DEVLINK_ATTR_BUS_NAME], sizeof(m.bus));
	nla_strlcpy(m.dev, tb[DEVLINK_ATTR_DEV_NAME], sizeof(m.dev));
	m.port.index = nla_get_u32(tb[DEVLINK_ATTR_PORT_INDEX]);
	if (tb[DEVLINK_ATTR_PORT_FLAVOUR])
		m.port.flavour =
			flavour_from_kernel(nla_get_u16(tb[DEVLINK_ATTR_PORT_FLAVOUR]));
	if (tb[DEVLINK_ATTR_PORT_NETDEV_NAME])
		nla_strlcpy(m.port.netdev, tb[DEVLINK_ATTR_PORT_NETDEV_NAME],
			    sizeof(m.port.netdev));
	if (tb[DEVLINK_ATTR_PORT_PCI_PF_NUMBER])
		m.port.pf_number = nla_get_u16(tb[DEVLINK_ATTR_PORT_PCI_PF_NUMBER]);
	if (tb[DEVLINK_ATTR_PORT_PCI_VF_NUMBER])
		m.port.vf_number = nla_get_u16(tb[DEVLINK_ATTR_PORT_PCI_VF_NUMBER]);
	if (tb[DEVLINK_ATTR_PORT_CONTROLLER_NUMBER]) {
		uint32_t c = nla_get_u32(tb[DEVLINK_ATTR_PORT_CONTROLLER_NUMBER]);

		if (c > INT32_MAX)
			return -EBADMSG;
		m.port.controller = (int32_t)c;
	}
	if (tb[DEVLINK_ATTR_PORT_EXTERNAL])
		m.port.external = nla_get_u8(tb[DEVLINK_ATTR_PORT_EXTERNAL]) != 0;
	if (tb[DEVLINK_ATTR_PORT_FUNCTION]) {
		r = parse_function(tb[DEVLINK_ATTR_PORT_FUNCTION], &m.port);
		if (r < 0)
			return r;
	}
	*ret = m;
	return 0;
}

int vfm_dl_parse_eswitch(const struct nlmsghdr *hdr, size_t len, int family,
			 const char *bus, const char *dev,
			 enum vfm_eswitch_mode *ret_mode)
{
	struct nlattr *tb[DEVLINK_ATTR_MAX + 1];
	int r = dl_parse(hdr, len, family, DEVLINK_CMD_ESWITCH_GET, tb);

	if (r < 0)
		return r;
	if (!tb[DEVLINK_ATTR_BUS_NAME] || !tb[DEVLINK_ATTR_DEV_NAME] ||
	    !tb[DEVLINK_ATTR_ESWITCH_MODE] ||
	    nla_strcmp(tb[DEVLINK_ATTR_BUS_NAME], bus) != 0 ||
	    nla_strcmp(tb[DEVLINK_ATTR_DEV_NAME], dev) != 0)
		return -EBADMSG;
	switch (nla_get_u16(tb[DEVLINK_ATTR_ESWITCH_MODE])) {
	case DEVLINK_ESWITCH_MODE_LEGACY: *ret_mode = VFM_ESWITCH_LEGACY; return 0;
	case DEVLINK_ESWITCH_MODE_SWITCHDEV: *ret_mode = VFM_ESWITCH_SWITCHDEV; return 0;
	default: return -EBADMSG;
	}
}

/* ---- operations ---- */

static int open_devlink(struct vfm_nl *nl, struct vfm_ctx *ctx, const struct vfm_pf *pf,
			char *why, size_t why_size)
{
	int r = vfm_nl_open_genl(nl, ctx, DEVLINK_GENL_NAME);

	if (r == -EOPNOTSUPP)
		return vfm_net_fail(
			why, why_size, r,
			"%s: this kernel has no devlink (generic netlink family "
			"\"devlink\" not found)",
			pf->ifname);
	if (r < 0)
		return vfm_net_fail(why, why_size, r, "%s: devlink socket: %s",
				    pf->ifname, strerror(-r));
	return 0;
}

/* The kernel's errno for a devlink handle it does not know is ENODEV. */
static int dl_fail(char *why, size_t why_size, int r, const struct vfm_pf *pf,
		   const char *what, const struct vfm_nl_extack *ext)
{
	if (r == -ENODEV)
		vfm_net_fail(why, why_size, r, "%s: no devlink instance %s/%s (%s: %s)",
			     pf->ifname, pf->bus, pf->dev, what, strerror(-r));
	else
		vfm_net_fail(why, why_size, r, "%s (%s/%s): %s: %s", pf->ifname, pf->bus,
			     pf->dev, what, strerror(-r));
	vfm_nl_why_extack(why, why_size, ext);
	return r;
}

struct eswitch_get {
	int family;
	const struct vfm_pf *pf;
	enum vfm_eswitch_mode mode;
	bool got;
};

static int on_eswitch(const struct nlmsghdr *hdr, void *userdata)
{
	struct eswitch_get *e = userdata;
	int r;

	if (e->got)
		return -EBADMSG;
	r = vfm_dl_parse_eswitch(hdr, hdr->nlmsg_len, e->family, e->pf->bus, e->pf->dev,
				 &e->mode);
	if (r < 0)
		return r;
	e->got = true;
	return 0;
}

static int eswitch_get(struct vfm_nl *nl, const struct vfm_pf *pf,
		       enum vfm_eswitch_mode *ret_mode, char *why, size_t why_size)
{
	struct eswitch_get e = {.family = nl->family, .pf = pf};
	struct vfm_nl_extack ext;
	struct nl_msg *msg = vfm_dl_build_eswitch_get(nl->family, pf->bus, pf->dev);
	int r;

	if (!msg)
		return -ENOMEM;
	r = vfm_nl_transact(nl, msg, on_eswitch, &e, 1, &ext);
	nlmsg_free(msg);
	if (r == 0 && !e.got)
		r = -EBADMSG;
	if (r < 0)
		return dl_fail(why, why_size, r, pf, "eswitch mode", &ext);
	*ret_mode = e.mode;
	return 0;
}

int vfm_devlink_eswitch_get(struct vfm_ctx *ctx, const struct vfm_pf *pf,
			    enum vfm_eswitch_mode *ret_mode, char *why, size_t why_size)
{
	struct vfm_nl nl;
	int r = open_devlink(&nl, ctx, pf, why, why_size);

	if (r < 0)
		return r;
	r = eswitch_get(&nl, pf, ret_mode, why, why_size);
	vfm_nl_close(&nl);
	return r;
}

int vfm_devlink_eswitch_set(struct vfm_ctx *ctx, const struct vfm_pf *pf,
			    enum vfm_eswitch_mode mode, char *why, size_t why_size)
{
	struct vfm_nl_extack ext;
	struct nl_msg *msg;
	struct vfm_nl nl;
	uint16_t kmode;
	char what[64];
	int r;

	switch (mode) {
	case VFM_ESWITCH_LEGACY: kmode = DEVLINK_ESWITCH_MODE_LEGACY; break;
	case VFM_ESWITCH_SWITCHDEV: kmode = DEVLINK_ESWITCH_MODE_SWITCHDEV; break;
	default:
		return vfm_net_fail(why, why_size, -EINVAL, "unknown eswitch mode %d",
				    mode);
	}
	r = open_devlink(&nl, ctx, pf, why, why_size);
	if (r < 0)
		return r;
	msg = vfm_dl_build_eswitch_set(nl.family, pf->bus, pf->dev, kmode);
	if (!msg) {
		vfm_nl_close(&nl);
		return -ENOMEM;
	}
	r = vfm_nl_transact(&nl, msg, NULL, NULL, 0, &ext);
	nlmsg_free(msg);
	vfm_nl_close(&nl);
	snprintf(what, sizeof(what), "set eswitch mode %s", vfm_eswitch_mode_name(mode));
	if (r < 0)
		return dl_fail(why, why_size, r, pf, what, &ext);
	return 0;
}

struct port_dump {
	int family;
	const struct vfm_pf *pf;
	struct vfm_devlink_port *list;
	size_t n, cap;
};

static int on_port(const struct nlmsghdr *hdr, void *userdata)
{
	struct port_dump *d = userdata;
	struct vfm_dl_port_msg m;
	int r = vfm_dl_parse_port(hdr, hdr->nlmsg_len, d->family, &m);

	if (r < 0)
		return r;
	if (!streq(m.bus, d->pf->bus) || !streq(m.dev, d->pf->dev))
		return 0; /* another instance: an old kernel dumps them all */
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct vfm_devlink_port *p;

		if (cap > VFM_DEVLINK_PORTS_MAX)
			return -E2BIG;
		p = reallocarray(d->list, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		d->list = p;
		d->cap = cap;
	}
	d->list[d->n++] = m.port;
	return 0;
}

static int port_dump(struct vfm_nl *nl, const struct vfm_pf *pf,
		     struct vfm_devlink_port **ret_list, char *why, size_t why_size)
{
	struct port_dump d = {.family = nl->family, .pf = pf};
	struct vfm_nl_extack ext = {};
	int r = -EAGAIN;

	for (int attempt = 0; attempt < DUMP_ATTEMPTS && r == -EAGAIN; attempt++) {
		struct nl_msg *msg = vfm_dl_build_port_dump(nl->family, pf->bus, pf->dev);

		if (!msg)
			return -ENOMEM;
		d.n = 0;
		r = vfm_nl_transact(nl, msg, on_port, &d, VFM_DEVLINK_PORTS_MAX, &ext);
		nlmsg_free(msg);
	}
	if (r < 0) {
		free(d.list);
		if (r == -E2BIG)
			return vfm_net_fail(why, why_size, r,
					    "%s: devlink port dump: more than %d ports",
					    pf->ifname, VFM_DEVLINK_PORTS_MAX);
		return dl_fail(why, why_size, r, pf, "devlink port dump", &ext);
	}
	if (d.n == 0) {
		free(d.list);
		d.list = NULL;
	}
	*ret_list = d.list;
	return (int)d.n;
}

int vfm_devlink_ports(struct vfm_ctx *ctx, const struct vfm_pf *pf,
		      struct vfm_devlink_port **ret_list, char *why, size_t why_size)
{
	struct vfm_nl nl;
	int r = open_devlink(&nl, ctx, pf, why, why_size);

	if (r < 0)
		return r;
	r = port_dump(&nl, pf, ret_list, why, why_size);
	vfm_nl_close(&nl);
	return r;
}

int vfm_devlink_vf_port(const struct vfm_devlink_port *ports, size_t n, uint32_t vf)
{
	int32_t pfnum = -1;
	int found = -ENOENT;

	/* The instance's own PF port, when it has one, says which PF number is ours. */
	for (size_t i = 0; i < n; i++)
		if (ports[i].flavour == VFM_PORT_PCI_PF && !ports[i].external &&
		    ports[i].controller <= 0)
			pfnum = ports[i].pf_number;
	for (size_t i = 0; i < n; i++) {
		const struct vfm_devlink_port *p = &ports[i];

		if (p->flavour != VFM_PORT_PCI_VF || p->external || p->vf_number < 0 ||
		    (uint32_t)p->vf_number != vf || (pfnum >= 0 && p->pf_number != pfnum))
			continue;
		if (found >= 0)
			return -ENOTUNIQ;
		found = (int)i;
	}
	return found;
}

int vfm_vf_migratable_set(struct vfm_ctx *ctx, const struct vfm_vf_ref *ref, bool on,
			  char *why, size_t why_size)
{
	const struct vfm_pf *pf = &ref->pf;
	struct vfm_devlink_port *ports = NULL;
	enum vfm_eswitch_mode mode;
	struct vfm_nl_extack ext;
	struct nl_msg *msg;
	struct vfm_nl nl;
	uint32_t port_index;
	int r, n, i;

	/* sysfs first: it needs no privilege and no netlink. */
	if (ref->driver[0])
		return vfm_net_fail(
			why, why_size, -EBUSY,
			"%s VF %u (%s) is bound to %s: the migratable capability "
			"changes only while the VF has no driver (unbind it first)",
			pf->ifname, ref->vf, ref->pci_addr, ref->driver);
	r = open_devlink(&nl, ctx, pf, why, why_size);
	if (r < 0)
		return r;
	r = eswitch_get(&nl, pf, &mode, why, why_size);
	if (r < 0)
		goto out;
	if (mode != VFM_ESWITCH_SWITCHDEV) {
		r = vfm_net_fail(
			why, why_size, -EOPNOTSUPP,
			"%s (%s/%s): the eswitch is in %s mode, not switchdev: the "
			"migratable capability needs switchdev (vfiomig vf eswitch %s "
			"switchdev)",
			pf->ifname, pf->bus, pf->dev, vfm_eswitch_mode_name(mode),
			pf->ifname);
		goto out;
	}
	n = port_dump(&nl, pf, &ports, why, why_size);
	if (n < 0) {
		r = n;
		goto out;
	}
	i = vfm_devlink_vf_port(ports, (size_t)n, ref->vf);
	if (i < 0) {
		r = vfm_net_fail(why, why_size, i == -ENOTUNIQ ? -ENOTUNIQ : -ENOENT,
				 i == -ENOTUNIQ
					 ? "%s (%s/%s): several devlink ports claim VF %u"
					 : "%s (%s/%s): no devlink port for VF %u",
				 pf->ifname, pf->bus, pf->dev, ref->vf);
		goto out;
	}
	port_index = ports[i].index;
	msg = vfm_dl_build_port_caps(nl.family, pf->bus, pf->dev, port_index,
				     on ? DEVLINK_PORT_FN_CAP_MIGRATABLE : 0,
				     DEVLINK_PORT_FN_CAP_MIGRATABLE);
	if (!msg) {
		r = -ENOMEM;
		goto out;
	}
	r = vfm_nl_transact(&nl, msg, NULL, NULL, 0, &ext);
	nlmsg_free(msg);
	if (r < 0) {
		vfm_net_fail(why, why_size, r,
			     "%s VF %u (port %s/%s/%u): migratable %s: %s", pf->ifname,
			     ref->vf, pf->bus, pf->dev, port_index, on ? "on" : "off",
			     strerror(-r));
		vfm_nl_why_extack(why, why_size, &ext);
		goto out;
	}
	/* Read it back when the driver reports it. */
	free(ports);
	ports = NULL;
	n = port_dump(&nl, pf, &ports, why, why_size);
	if (n < 0) {
		r = n;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (ports[i].index == port_index && ports[i].migratable >= 0 &&
		    ports[i].migratable != on) {
			r = vfm_net_fail(why, why_size, -EIO,
					 "%s VF %u (port %s/%s/%u): the kernel accepted "
					 "migratable "
					 "%s but still reports it %s",
					 pf->ifname, ref->vf, pf->bus, pf->dev,
					 port_index, on ? "on" : "off",
					 on ? "off" : "on");
			goto out;
		}
	r = 0;
out:
	free(ports);
	vfm_nl_close(&nl);
	return r;
}
