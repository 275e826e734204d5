#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_START/REPORT/STOP) on mtty, whose
# callbacks accept every start and never report a dirty page, so that what is tested
# is the path: the kernel's VFIO core validating ranges, page sizes and bitmaps
# (vfm-mtty --dirty-raw, raw ioctls), `vfiomig dirty` by group and by cdev, and
# vfiomigd writing the bitmap into a sealed memfd passed by the VMM stand-in that
# handed it the device.  vfio-pci (QEMU's edu device) has no logging at all: the
# kernel's ENOTTY must come out as "the driver does not support DMA dirty logging".
#
# The logging features are device features, on the group path as on the cdev path.
# Reports need the kernel's iova_bitmap (CONFIG_IOMMUFD_DRIVER, which INTEL_IOMMU
# selects when IOMMUFD is on: the built kernels); Debian's stock kernel has neither,
# starts logging and answers every report EOPNOTSUPP, which vfiomig must say clearly.
# POSIX sh; TAP on stdout.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig or vfm-mtty not in the guest"; tap_done; exit $?
fi
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2
if [ -z "$A" ] || [ -z "$B" ]; then
	echo "# fewer than two mtty-2 devices (MTTY2_UUIDS='$MTTY2_UUIDS')"
	exit 77
fi
T=/tmp/vfm-dirty; mkdir -p $T
vfiomig reset "$A" "$B" >/dev/null 2>&1

# Whether this kernel can report: /dev/iommu means a built kernel (IOMMUFD, and with
# INTEL_IOMMU the iova_bitmap); without it, Debian's stock kernel, which cannot.
if [ -c /dev/iommu ]; then NR=""; else NR=--no-report; fi
tap_diag "kernel $(uname -r): $([ -z "$NR" ] && echo "IOMMUFD, reports expected to work" ||
	echo "no IOMMUFD: reports expected to give EOPNOTSUPP")"

cdev_of() { # mdev UUID or PCI BDF -> /dev/vfio/devices/vfioN
	for _d in /sys/bus/mdev/devices/"$1"/vfio-dev/vfio* /sys/bus/pci/devices/"$1"/vfio-dev/vfio*; do
		[ -e "$_d" ] && { echo "/dev/vfio/devices/${_d##*/}"; return 0; }
	done
	return 1
}

# ---- the CLI on mtty by its UUID (the group path) ----
out=$(vfiomig dirty "$A" --probe 2>&1)
rc=$?
tap_check "dirty --probe of mtty: supported (exit $rc)" \
	sh -c "[ $rc = 0 ] && echo '$out' | grep -q 'DMA dirty logging supported'" || tap_diag "$out"

vfiomig -j dirty "$A" --range 0x100000:1M,0x400000:8K -n 2 >$T/out 2>$T/err
rc=$?
if [ -z "$NR" ]; then
	tap_check "dirty by group: started, two reports of two ranges, 0 dirty pages, 4K (exit $rc)" \
		sh -c "[ $rc = 0 ] && grep -q '\"page_size_bytes\":4096' $T/out &&
			grep -q '\"report\":2' $T/out && grep -q '\"dirty_page_count\":0,\"stopped\":true' $T/out" ||
		tap_diag "$(cat $T/out $T/err)"
else
	tap_check "dirty by group on a kernel that cannot report: exit 4, says why (exit $rc)" \
		sh -c "[ $rc = 4 ] && grep -q 'this kernel cannot report DMA dirty pages' $T/err &&
			grep -q '\"errno_name\":\"EOPNOTSUPP\"' $T/out" ||
		tap_diag "$(cat $T/out $T/err)"
	tap_diag "what it says: $(cat $T/err)"
fi
tap_json vfiomig-dirty $T/out
vfiomig dirty "$A" --range 0x100000:8K,0x101000:8K >$T/out 2>&1
rc=$?
tap_check "overlapping ranges are refused before the kernel sees them (exit $rc)" \
	sh -c "[ $rc = 2 ] && grep -q 'overlap' $T/out" || tap_diag "$(cat $T/out)"
out=$(vfiomig state "$A" 2>&1)
tap_check "logging left the migration state alone: $out" test "$out" = RUNNING

# ---- straight to the kernel: what the VFIO core checks, what mtty answers ----
# shellcheck disable=SC2086
vfm-mtty --dirty-raw $NR "$A" >$T/raw.out 2>&1
rc=$?
tap_relay "group path, raw" $T/raw.out
tap_check "vfm-mtty --dirty-raw by group exits 0 ($rc)" test $rc = 0 || tap_diag "$(tail -3 $T/raw.out)"

# ---- the cdev path ----
if [ -c /dev/iommu ]; then
	CA=$(cdev_of "$A")
	vfm-mtty --dirty-raw "$CA" >$T/raw.out 2>&1
	rc=$?
	tap_relay "cdev path, raw" $T/raw.out
	tap_check "vfm-mtty --dirty-raw by cdev $CA exits 0 ($rc)" test $rc = 0
	vfiomig dirty "$CA" --range 0x200000:4M --report-page-size 2M -n 3 >$T/out 2>&1
	rc=$?
	tap_check "dirty by cdev, reports in 2M pages: 0 of 2 pages dirty, 3 reports (exit $rc)" \
		sh -c "[ $rc = 0 ] && grep -q 'report 3: 0x200000+0x400000: 0 of 2 pages dirty' $T/out &&
			grep -q 'total 0 dirty pages in 3 reports' $T/out" ||
		tap_diag "$(cat $T/out)"
else
	tap_skip "the cdev path: no /dev/iommu (kernel without IOMMUFD)"
fi

# ---- vfiomigd: the device handed over, the bitmap into the VMM's memfd ----
if command -v vfiomigd >/dev/null; then
	S=$T/d.sock
	vfiomigd --socket $S 2>$T/d.log &
	dmn=$!
	daemon_up $S
	vfm-mtty "$B" -- vfiomig --connect=$S attach @0 >$T/out 2>&1
	rc=$?
	tap_check "the VMM stand-in hands $B to vfiomigd (exit $rc)" test $rc = 0 || tap_diag "$(cat $T/out)"
	# shellcheck disable=SC2086
	vfm-mtty --dirty-daemon $NR $S "$B" >$T/dd.out 2>&1
	rc=$?
	tap_relay "vfiomigd" $T/dd.out
	tap_json vfiomigd-message $T/dd.out
	tap_check "vfm-mtty --dirty-daemon exits 0 ($rc)" test $rc = 0 || tap_diag "$(tail -3 $T/dd.out)"
	vfiomig --connect=$S detach "$B" >/dev/null 2>&1
	kill -TERM $dmn
	wait $dmn
	rc=$?
	tap_check "vfiomigd exits 0 ($rc)" test $rc = 0 || tap_diag "$(tail -5 $T/d.log)"
else
	tap_skip "vfiomigd not in the guest"
fi

# ---- a driver without logging: vfio-pci ----
PCI=/sys/bus/pci/devices
E=""
for b in 0000:00:04.0 0000:01:00.0; do
	[ -e "$PCI/$b" ] && [ "$(cat $PCI/$b/vendor):$(cat $PCI/$b/device)" = "0x1234:0x11e8" ] && { E=$b; break; }
done
if [ -z "$E" ] || [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
	tap_skip "vfio-pci without logging: no edu device or no vfio-pci (--no-iommu?)"
else
	old=$(readlink "$PCI/$E/driver" 2>/dev/null)
	[ -e "$PCI/$E/driver" ] && echo "$E" >"$PCI/$E/driver/unbind"
	echo vfio-pci >"$PCI/$E/driver_override"
	echo "$E" >/sys/bus/pci/drivers_probe 2>/dev/null
	vfiomig dirty "$E" --probe >$T/out 2>&1
	rc=$?
	tap_check "dirty --probe of vfio-pci $E: exit 4, not supported ($rc)" \
		sh -c "[ $rc = 4 ] && grep -q 'does not support DMA dirty logging' $T/out" ||
		tap_diag "$(cat $T/out)"
	vfiomig -j dirty "$E" --range 0:4K >$T/out 2>$T/err
	rc=$?
	tap_check "dirty on vfio-pci: the kernel's ENOTTY as '$E: the driver does not support DMA dirty logging', exit 4 ($rc)" \
		sh -c "[ $rc = 4 ] && grep -q '^vfiomig: $E: the driver does not support DMA dirty logging$' $T/err &&
			grep -q '\"errno_name\":\"EOPNOTSUPP\"' $T/out" ||
		tap_diag "$(cat $T/out $T/err)"
	tap_json vfiomig-dirty $T/out
	echo "$E" >"$PCI/$E/driver/unbind"
	echo >"$PCI/$E/driver_override"
	[ -n "$old" ] && echo "$E" >/sys/bus/pci/drivers_probe 2>/dev/null
fi

tap_done
