// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Finding PFs and VFs (src/net/pf.c) on a fake sysfs tree: a PCI PF with two VFs
 * (one bound to vfio-pci) and a port representor netdev next to its PF netdev, a
 * netdevsim PF whose VFs have no PCI function, a non-network PF with a VF, a plain
 * function, a virtual interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "net-internal.h"
#include "net.h"
#include "tap.h"

static char root[256];

static void mkdir_p(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (char *s = p + strlen(root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "we");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void ln(const char *target, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (symlink(target, p) < 0)
		tap_diag("symlink %s: %s", p, strerror(errno));
}

#define PF    "sys/devices/pci0000:3a/0000:3b:00.0"
#define NSIM  "sys/devices/netdevsim10"
#define OTHER "sys/devices/pci0000:3a/0000:5e:00.0"

static void make_tree(void)
{
	mkdir_p("sys/bus/pci/devices");
	mkdir_p("sys/bus/pci/drivers/vfio-pci");
	mkdir_p("sys/bus/netdevsim/devices");
	mkdir_p("sys/class/net");

	/* PCI PF 0000:3b:00.0: eth0, a representor a_rep (sorts first), 2 VFs */
	mkdir_p(PF "/net/eth0");
	mkdir_p(PF "/net/a_rep");
	ln("../../../bus/pci", PF "/subsystem");
	put(PF "/sriov_numvfs", "2\n");
	put(PF "/sriov_totalvfs", "8\n");
	ln("../0000:3b:00.2", PF "/virtfn0");
	ln("../0000:3b:00.3", PF "/virtfn1");
	put(PF "/net/eth0/ifindex", "7\n");
	ln("../../../0000:3b:00.0", PF "/net/eth0/device");
	put(PF "/net/a_rep/ifindex", "9\n");
	put(PF "/net/a_rep/phys_port_name", "pf0vf0\n");
	ln("../../../0000:3b:00.0", PF "/net/a_rep/device");
	ln("../../devices/pci0000:3a/0000:3b:00.0/net/eth0", "sys/class/net/eth0");
	ln("../../devices/pci0000:3a/0000:3b:00.0/net/a_rep", "sys/class/net/a_rep");
	ln("../../../devices/pci0000:3a/0000:3b:00.0",
	   "sys/bus/pci/devices/0000:3b:00.0");
	mkdir_p("sys/devices/pci0000:3a/0000:3b:00.2");
	mkdir_p("sys/devices/pci0000:3a/0000:3b:00.3");
	ln("../0000:3b:00.0", "sys/devices/pci0000:3a/0000:3b:00.2/physfn");
	ln("../0000:3b:00.0", "sys/devices/pci0000:3a/0000:3b:00.3/physfn");
	ln("../../../bus/pci/drivers/vfio-pci",
	   "sys/devices/pci0000:3a/0000:3b:00.2/driver");
	ln("../../../devices/pci0000:3a/0000:3b:00.2",
	   "sys/bus/pci/devices/0000:3b:00.2");
	ln("../../../devices/pci0000:3a/0000:3b:00.3",
	   "sys/bus/pci/devices/0000:3b:00.3");

	/* netdevsim10: eth1, 4 VFs without PCI functions, no sriov_totalvfs */
	mkdir_p(NSIM "/net/eth1");
	ln("../../bus/netdevsim", NSIM "/subsystem");
	put(NSIM "/sriov_numvfs", "4\n");
	put(NSIM "/net/eth1/ifindex", "3\n");
	put(NSIM "/net/eth1/phys_port_name", "p0\n");
	ln("../../../netdevsim10", NSIM "/net/eth1/device");
	ln("../../devices/netdevsim10/net/eth1", "sys/class/net/eth1");
	ln("../../../devices/netdevsim10", "sys/bus/netdevsim/devices/netdevsim10");

	/* a PF without a netdev (a crypto or storage PF), and its VF */
	mkdir_p(OTHER);
	ln("../../../bus/pci", OTHER "/subsystem");
	put(OTHER "/sriov_numvfs", "1\n");
	ln("../0000:5e:00.1", OTHER "/virtfn0");
	mkdir_p("sys/devices/pci0000:3a/0000:5e:00.1");
	ln("../0000:5e:00.0", "sys/devices/pci0000:3a/0000:5e:00.1/physfn");
	ln("../../../devices/pci0000:3a/0000:5e:00.0",
	   "sys/bus/pci/devices/0000:5e:00.0");
	ln("../../../devices/pci0000:3a/0000:5e:00.1",
	   "sys/bus/pci/devices/0000:5e:00.1");

	/* a plain function, and a virtual interface */
	mkdir_p("sys/devices/pci0000:3a/0000:00:1f.0");
	ln("../../../devices/pci0000:3a/0000:00:1f.0",
	   "sys/bus/pci/devices/0000:00:1f.0");
	mkdir_p("sys/devices/virtual/net/lo");
	put("sys/devices/virtual/net/lo/ifindex", "1\n");
	ln("../../devices/virtual/net/lo", "sys/class/net/lo");
}

static void test_representor(void)
{
	static const struct {
		const char *s;
		bool r;
	} t[] = {
		{"pf0vf1", true},   {"pf0", true},    {"c1pf0vf12", true},
		{"pf1sf3", true},   {"c12pf3", true}, {"p0", false},
		{"p0s1", false},    {"pf", false},    {"pf0vf", false},
		{"pf0vf1x", false}, {"c1", false},    {"cpf0", false},
		{"eth0", false},    {"", false},      {"pf0xf1", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		tap_ok(vfm_is_representor_port_name(t[i].s) == t[i].r,
		       "representor name \"%s\": %s", t[i].s, t[i].r ? "yes" : "no");
}

static void test_pf(struct vfm_ctx *ctx)
{
	char why[VFM_NET_WHY_MAX];
	struct vfm_pf pf;
	static const char *const same[] = {"eth0", "0000:3b:00.0", "3b:00.0",
					   "pci/0000:3b:00.0"};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(same); i++) {
		r = vfm_pf_find(ctx, same[i], &pf, why, sizeof(why));
		tap_ok(r == 0 && streq(pf.ifname, "eth0") && pf.ifindex == 7 &&
			       streq(pf.bus, "pci") && streq(pf.dev, "0000:3b:00.0") &&
			       pf.num_vfs == 2 && pf.total_vfs == 8 &&
			       streq(pf.sysfs_path,
				     "/sys/devices/pci0000:3a/0000:3b:00.0"),
		       "pf \"%s\": eth0 of pci/0000:3b:00.0, 2 of 8 VFs (%d %s)", same[i],
		       r, r < 0 ? why : "");
	}
	r = vfm_pf_find(ctx, "netdevsim/netdevsim10", &pf, why, sizeof(why));
	tap_ok(r == 0 && streq(pf.ifname, "eth1") && pf.ifindex == 3 &&
		       streq(pf.bus, "netdevsim") && streq(pf.dev, "netdevsim10") &&
		       pf.num_vfs == 4 && pf.total_vfs == -1,
	       "pf netdevsim/netdevsim10: eth1, 4 VFs (%d)", r);
	r = vfm_pf_find(ctx, "a_rep", &pf, why, sizeof(why));
	tap_ok(r == 0 && streq(pf.ifname, "a_rep"),
	       "pf by a representor's name: taken as named");

	static const struct {
		const char *name;
		int r;
		const char *why;
	} bad[] = {
		{"lo", -ENODEV, "lo is not backed by a device"},
		{"nosuch", -ENOENT, "no network interface nosuch"},
		{"0000:99:00.0", -ENOENT, "0000:99:00.0: no such device"},
		{"0000:5e:00.0", -ENODEV, "no PF netdev"},
		{"0000:00:1f.0", -ENODEV, "no PF netdev"},
		{"netdevsim/netdevsim11", -ENOENT, "no such device"},
		{"a b", -EINVAL, "is not a netdev name"},
		{"pci/..", -EINVAL, "is not a netdev name"},
		{"../sys", -EINVAL, "is not a netdev name"},
		{"0000:3b:00.8", -EINVAL, "is not a netdev name"},
		{"", -EINVAL, "empty"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		why[0] = '\0';
		r = vfm_pf_find(ctx, bad[i].name, &pf, why, sizeof(why));
		tap_ok(r == bad[i].r && strstr(why, bad[i].why), "pf \"%s\": %d, %s",
		       bad[i].name, r, why);
	}
}

static void test_vf(struct vfm_ctx *ctx)
{
	char why[VFM_NET_WHY_MAX];
	struct vfm_vf_ref ref;
	struct vfm_vf_config cfg;
	struct vfm_pf pf;
	int r;

	r = vfm_vf_find(ctx, "0000:3b:00.2", &ref, why, sizeof(why));
	tap_ok(r == 0 && streq(ref.pf.ifname, "eth0") && ref.vf == 0 &&
		       streq(ref.pci_addr, "0000:3b:00.2") &&
		       streq(ref.driver, "vfio-pci"),
	       "vf 0000:3b:00.2: eth0 VF 0, bound to vfio-pci (%d %s)", r,
	       r < 0 ? why : "");
	r = vfm_vf_find(ctx, "3b:00.3", &ref, why, sizeof(why));
	tap_ok(r == 0 && ref.vf == 1 && !ref.driver[0], "vf 3b:00.3: VF 1, no driver");
	r = vfm_vf_find(ctx, "/sys/bus/pci/devices/0000:3b:00.3", &ref, why, sizeof(why));
	tap_ok(r == 0 && ref.vf == 1 && streq(ref.pf.dev, "0000:3b:00.0"),
	       "vf by sysfs path");

	static const struct {
		const char *name;
		int r;
		const char *why;
	} bad[] = {
		{"c0ffee00-0002-4000-8000-000000000001", -ENODEV,
		 "is an mdev: no PF netdev"},
		{"0000:5e:00.1", -ENODEV,
		 "its PF 0000:5e:00.0 has no network interface (no PF netdev)"},
		{"0000:00:1f.0", -ENODEV, "not an SR-IOV VF (no physfn)"},
		{"0000:3b:00.0", -ENODEV, "not an SR-IOV VF"},
		{"0000:3b:00.7", -ENOENT, "no such device"},
		{"sim:a", -ENODEV, "not a PCI function"},
		{"fd:3", -ENODEV, "not a PCI function"},
		{"/sys/nowhere", -ENOENT, "no such device"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		why[0] = '\0';
		r = vfm_vf_find(ctx, bad[i].name, &ref, why, sizeof(why));
		tap_ok(r == bad[i].r && strstr(why, bad[i].why), "vf \"%s\": %d, %s",
		       bad[i].name, r, why);
	}
	/* What save will see for an mdev: a distinct code and a reason, no netlink. */
	r = vfm_vf_config_capture(ctx, "c0ffee00-0002-4000-8000-000000000001", &cfg, why,
				  sizeof(why));
	tap_ok(r == -ENODEV && strstr(why, "no PF netdev"),
	       "capture of an mdev: -ENODEV, %s", why);
	r = vfm_vf_config_apply(ctx, "0000:5e:00.1", &cfg, NULL, why, sizeof(why));
	tap_ok(r == -ENODEV && strstr(why, "no PF netdev"),
	       "apply to a non-network VF: -ENODEV");

	/* The first precondition of migratable, before any netlink. */
	vfm_vf_find(ctx, "0000:3b:00.2", &ref, NULL, 0);
	r = vfm_vf_migratable_set(ctx, &ref, true, why, sizeof(why));
	tap_ok(r == -EBUSY &&
		       strstr(why, "eth0 VF 0 (0000:3b:00.2) is bound to vfio-pci"),
	       "migratable on a VF bound to a driver: -EBUSY, %s", why);

	vfm_pf_find(ctx, "eth0", &pf, NULL, 0);
	r = vfm_vf_ref_pf(ctx, &pf, 1, &ref, why, sizeof(why));
	tap_ok(r == 0 && ref.vf == 1 && streq(ref.pci_addr, "0000:3b:00.3"),
	       "eth0 VF 1 is 0000:3b:00.3");
	r = vfm_vf_ref_pf(ctx, &pf, 2, &ref, why, sizeof(why));
	tap_ok(r == -ENOENT && strstr(why, "eth0 has 2 VFs (0 to 1): no VF 2"),
	       "eth0 VF 2: %s", why);
	r = vfm_vf_ref_pf(ctx, &pf, VFM_VF_MAX, &ref, why, sizeof(why));
	tap_eq(r, -ENOENT, "VF %d is beyond the limit", VFM_VF_MAX);
	vfm_pf_find(ctx, "eth1", &pf, NULL, 0);
	r = vfm_vf_ref_pf(ctx, &pf, 3, &ref, why, sizeof(why));
	tap_ok(r == 0 && !ref.pci_addr[0] && !ref.driver[0],
	       "netdevsim VF 3: no PCI function");
	pf.num_vfs = 0;
	r = vfm_vf_ref_pf(ctx, &pf, 0, &ref, why, sizeof(why));
	tap_ok(r == -ENOENT && strstr(why, "has no VFs"), "a PF with no VFs: %s", why);
	pf.num_vfs = -1;
	r = vfm_vf_ref_pf(ctx, &pf, 100, &ref, why, sizeof(why));
	tap_eq(r, 0, "VF count unknown: the kernel will judge");
}

static void test_list(struct vfm_ctx *ctx)
{
	struct vfm_pf *list = NULL;
	int n = vfm_pf_list(ctx, &list);

	tap_ok(n == 2 && streq(list[0].ifname, "eth0") && streq(list[1].ifname, "eth1"),
	       "pf list: eth0 and eth1 (not the representor, not lo, not the netdev-less "
	       "PF): %d",
	       n);
	free(list);
}

int main(void)
{
	struct vfm_ctx *ctx = NULL;
	char cmd[sizeof(root) + 16];

	snprintf(root, sizeof(root), "%s/vfm-net-sysfs-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		printf("1..0 # SKIP mkdtemp: %s\n", strerror(errno));
		return 0;
	}
	make_tree();
	if (vfm_ctx_new(&ctx) < 0 || vfm_ctx_set_sysfs_root(ctx, root) < 0)
		return 1;
	test_representor();
	test_pf(ctx);
	test_vf(ctx);
	test_list(ctx);
	vfm_ctx_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", root);
	return tap_done();
}
