#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The iommufd cdev path (/dev/vfio/devices/vfioN with /dev/iommu), the one QEMU's
# iommufd backend and Cloud Hypervisor use: list, info, state, check, save and
# restore of mtty devices by their cdev; a migration whose source opens by group and
# whose destination opens by cdev; a cdev descriptor handed over as fd:N to the CLI
# and to vfiomigd; a cdev already bound elsewhere; vfio-pci functions behind the
# emulated VT-d by cdev.  With VFIO_DEBUGFS, after each arc the kernel's own view
# (/sys/kernel/debug/vfio/DEV/migration/state) must say what vfiomig says.
#
# Debian's kernels are built without IOMMUFD: this script skips there (exit 77) and
# runs on the kernels tests/kernel/build-kernel.sh builds.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if [ ! -c /dev/iommu ]; then
	echo "# no /dev/iommu: kernel $(uname -r) is built without IOMMUFD (Debian's are; the built kernels have it)"
	exit 77
fi
if ! have_vfiomig || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig or vfm-mtty not in the guest"; tap_done; exit $?
fi
T=/tmp/vfm-iommufd; mkdir -p $T
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2 C=$3 D=$4

cdev_of() { # mdev UUID or PCI BDF -> /dev/vfio/devices/vfioN
	for _d in /sys/bus/mdev/devices/"$1"/vfio-dev/vfio* /sys/bus/pci/devices/"$1"/vfio-dev/vfio*; do
		[ -e "$_d" ] && { echo "/dev/vfio/devices/${_d##*/}"; return 0; }
	done
	return 1
}
# the kernel's view of a device's migration state (VFIO_DEBUGFS), "" without it
DBG=/sys/kernel/debug/vfio
mount | grep -q ' /sys/kernel/debug ' || mount -t debugfs none /sys/kernel/debug 2>/dev/null
kstate() { cat "$DBG/$1/migration/state" 2>/dev/null | tr -d '\n'; }
# state_is NAME DEV WANT: vfiomig's view and the kernel's agree on WANT
state_is() {
	_v=$(vfiomig state "$2" 2>&1)
	_k=$(kstate "$1")
	if [ -z "$_k" ] && [ ! -d "$DBG/$1" ]; then
		tap_check "$3: vfiomig says $_v (no debugfs view of $1)" test "$_v" = "$3"
	else
		tap_check "$3: vfiomig says $_v, the kernel's debugfs says $_k" \
			sh -c "[ '$_v' = '$3' ] && [ '$_k' = '$3' ]"
	fi
}

tap_check "/dev/iommu is a character device" test -c /dev/iommu
CA=$(cdev_of "$A") CB=$(cdev_of "$B") CC=$(cdev_of "$C") CD=$(cdev_of "$D")
tap_check "every mtty mdev has a cdev ($CA $CB $CC $CD)" \
	sh -c "[ -c '$CA' ] && [ -c '$CB' ] && [ -c '$CC' ] && [ -c '$CD' ]"
tap_check "VFIO_DEBUGFS: $DBG/$A/migration/state exists" test -e "$DBG/$A/migration/state"

vfiomig reset "$A" "$B" "$C" "$D" >/dev/null 2>&1

# ---- list, info, state, check by cdev ----
out=$(vfiomig list 2>&1)
tap_check "list names the cdev of $A" sh -c "echo '$out' | grep -q '$CA\|$(basename "$CA")'" ||
	tap_diag "$out"
out=$(vfiomig info "$CA" 2>&1)
rc=$?
tap_check "info by cdev: mtty-2, 96 bytes, RUNNING (exit $rc)" \
	sh -c "[ $rc = 0 ] && echo '$out' | grep -q 'data size 96 bytes' && echo '$out' | grep -q 'state RUNNING'" ||
	tap_diag "$out"
state_is "$A" "$CA" RUNNING
for arc in RUNNING_P2P STOP STOP_COPY STOP RUNNING; do
	vfiomig state "$CA" "$arc" >$T/out 2>&1 || tap_diag "$(cat $T/out)"
	state_is "$A" "$CA" "$arc"
done
vfiomig state "$CA" PRE_COPY >/dev/null 2>&1
state_is "$A" "$CA" PRE_COPY
vfiomig state "$CA" PRE_COPY_P2P >/dev/null 2>&1
state_is "$A" "$CA" PRE_COPY_P2P
vfiomig reset "$CA" >/dev/null 2>&1
state_is "$A" "$CA" RUNNING
vfiomig check "$CA" >$T/out 2>&1
rc=$?
tap_check "check walks every arc by cdev (exit $rc)" test $rc = 0 || tap_diag "$(tail -5 $T/out)"

# ---- save and restore by cdev, the UART state checked ----
vfm-mtty --set --state STOP "$CA" -- vfiomig save @0 --to file:$T/a.img >$T/src.out 2>&1
src_rc=$?
tap_check "save by cdev (exit $src_rc)" test $src_rc = 0 || tap_diag "$(cat $T/src.out)"
state_is "$A" "$CA" STOP
vfm-mtty --check --state RUNNING "$CB" -- vfiomig restore @0 --from file:$T/a.img --any-id >$T/dst.out 2>&1
dst_rc=$?
tap_check "restore into another mdev by cdev, the UART state there (exit $dst_rc)" test $dst_rc = 0 ||
	tap_diag "$(cat $T/dst.out)"
tap_relay "restore by cdev" $T/dst.out
state_is "$B" "$CB" RUNNING

# ---- source by group, destination by cdev, over TCP ----
vfiomig reset "$A" "$B" "$C" "$D" >/dev/null 2>&1
vfm-mtty --check --state RUNNING "$CD" -- vfiomig restore @0 --from tcp://127.0.0.1:4470 --any-id \
	>$T/dst.out 2>&1 &
dpid=$!
i=0
while [ $i -lt 200 ] && ! grep -q "listening on" $T/dst.out 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
vfm-mtty --set --state STOP "$C" -- vfiomig save @0 --to tcp://127.0.0.1:4470 >$T/src.out 2>&1
src_rc=$?
wait $dpid
dst_rc=$?
tap_check "source by group ($C), destination by cdev ($CD): migrated (exits $src_rc/$dst_rc)" \
	test "$src_rc$dst_rc" = 00 || tap_diag "$(cat $T/src.out $T/dst.out)"
tap_relay "group -> cdev" $T/dst.out
state_is "$D" "$CD" RUNNING
state_is "$C" "$C" STOP

# ---- a cdev already bound elsewhere ----
vfiomig reset "$A" "$C" >/dev/null 2>&1
vfm-mtty "$CA" -- sh -c "vfiomig state '$CA' >$T/busy.out 2>&1; echo \$? >$T/busy.rc" >/dev/null 2>&1
rc=$(cat $T/busy.rc)
tap_check "a cdev another process has bound: exit $rc, a sentence naming it" \
	sh -c "[ '$rc' = 3 ] && grep -q '$CA is in use by another process' $T/busy.out" ||
	tap_diag "$(cat $T/busy.out)"
tap_diag "what it says: $(cat $T/busy.out)"
g=$(mdev_group "$A")
vfm-mtty "$A" -- sh -c "vfiomig state '$CA' >$T/busy.out 2>&1; echo \$? >$T/busy.rc" >/dev/null 2>&1
rc=$(cat $T/busy.rc)
tap_check "a cdev whose device is open through its group ($g): exit $rc, a sentence" \
	sh -c "[ '$rc' = 3 ] && grep -q '$CA is in use by another process (the device is open through its IOMMU group' $T/busy.out" ||
	tap_diag "$(cat $T/busy.out)"
tap_diag "what it says: $(cat $T/busy.out)"

# ---- a cdev descriptor handed over: to the CLI, and to vfiomigd ----
vfiomig reset "$A" "$B" >/dev/null 2>&1
vfm-mtty --set --state STOP "$CA" -- vfiomig save @0 --to file:$T/fd.img >$T/out 2>&1
rc=$?
tap_check "a cdev descriptor as fd:N to the CLI: saved (exit $rc)" test $rc = 0 || tap_diag "$(cat $T/out)"
if command -v vfiomigd >/dev/null; then
	S=$T/d.sock
	vfiomigd --socket $S 2>$T/d.log &
	dmn=$!
	daemon_up $S
	vfiomig reset "$A" "$B" >/dev/null 2>&1
	vfm-mtty --check --state RUNNING "$CB" -- vfiomig --connect=$S restore @0 --from file:$T/fd.img --any-id \
		>$T/out 2>&1
	rc=$?
	tap_check "a cdev descriptor as fd:N to vfiomigd: restored, the UART state there (exit $rc)" test $rc = 0 ||
		tap_diag "$(cat $T/out)"
	vfm-mtty "$CB" -- vfiomig --connect=$S attach @0 >$T/out 2>&1
	vfiomig --connect=$S attach "$B" >$T/out2 2>&1
	rc=$?
	tap_check "the daemon knows a cdev descriptor's device: $B by name is refused (exit $rc)" \
		sh -c "[ $rc = 3 ] && grep -q 'already attached\|same device\|in use' $T/out2" ||
		tap_diag "$(cat $T/out $T/out2)"
	vfiomig --connect=$S detach "$B" >/dev/null 2>&1
	kill -TERM $dmn
	wait $dmn
	tap_check "vfiomigd exits 0 ($?)" test $? = 0
fi

# ---- vfio-pci functions behind the emulated VT-d, by cdev ----
PCI=/sys/bus/pci/devices
E=""
for b in 0000:00:04.0 0000:01:00.0; do
	[ -e "$PCI/$b" ] && [ "$(cat $PCI/$b/vendor):$(cat $PCI/$b/device)" = "0x1234:0x11e8" ] && { E=$b; break; }
done
if [ -z "$E" ]; then
	tap_skip "vfio-pci by cdev: no edu device (booted with --no-iommu?)"
else
	[ -e "$PCI/$E/driver" ] && echo "$E" >"$PCI/$E/driver/unbind"
	echo vfio-pci >"$PCI/$E/driver_override"
	echo "$E" >/sys/bus/pci/drivers_probe 2>/dev/null
	i=0
	while [ -z "$(cdev_of "$E")" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
	CE=$(cdev_of "$E")
	tap_check "edu $E bound to vfio-pci has a cdev ($CE)" test -c "$CE"
	out=$(vfiomig info "$CE" 2>&1)
	rc=$?
	tap_check "info by cdev of a vfio-pci function without migration: says so (exit $rc)" \
		sh -c "echo '$out' | grep -qi 'migration'" || tap_diag "$out"
	tap_diag "info $CE: $(echo "$out" | tr '\n' ' ')"
	out=$(vfiomig save "$CE" --to file:$T/edu.img 2>&1)
	rc=$?
	tap_check "save by cdev of a function without migration: exit 4, not supported ($rc)" test $rc = 4 ||
		tap_diag "$out"
	echo "$E" >"$PCI/$E/driver/unbind"
	echo >"$PCI/$E/driver_override"
fi

tap_done
