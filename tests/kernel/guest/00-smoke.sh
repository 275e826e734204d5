#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Guest smoke test: the environment the other kernel tests rely on is there
# (vfio container node, mtty mdevs with their IOMMU groups and group nodes),
# and the vfiomig binary, when present, runs in the guest.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

tap_diag "kernel $VFIOMIG_KERNEL_RELEASE, modules: $VFIOMIG_MODULES_LOADED"
[ -n "$VFIOMIG_MODULES_FAILED" ] && tap_diag "modules that failed to load: $VFIOMIG_MODULES_FAILED"

# a kernel built by build-kernel.sh has all but mtty and netdevsim built in
builtin() { grep -qx "$1" /lib/modules/vfiomig/builtin 2>/dev/null; }
for m in vfio vfio_iommu_type1 mdev mtty; do
	if builtin "$m"; then
		tap_ok "module $m is built in"
	else
		tap_check "module $m is loaded" test -d "/sys/module/$m"
	fi
done
tap_check "/dev/vfio/vfio exists" test -c /dev/vfio/vfio

# shellcheck disable=SC2086 # count the words
set -- $MTTY2_UUIDS
tap_check "4 mtty-2 mdevs (got $#)" test "$#" -eq 4
# shellcheck disable=SC2086
set -- $MTTY1_UUIDS
tap_check "2 mtty-1 mdevs (got $#)" test "$#" -eq 2

for u in $MTTY2_UUIDS $MTTY1_UUIDS; do
	d=/sys/bus/mdev/devices/$u
	if [ ! -e "$d/iommu_group" ]; then
		tap_fail "$u has an iommu_group"
		continue
	fi
	g=$(mdev_group "$u")
	tap_ok "$u has iommu_group $g"
	tap_check "/dev/vfio/$g exists for $u" test -c "/dev/vfio/$g"
done

if have_vfiomig; then
	if out=$(vfiomig --version 2>&1); then
		tap_ok "vfiomig runs in the guest ($out)"
	else
		tap_fail "vfiomig runs in the guest"
		tap_diag "$out"
	fi
else
	tap_skip "vfiomig not in guest"
fi

tap_done
