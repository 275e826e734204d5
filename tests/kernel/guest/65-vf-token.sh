#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# VF tokens on real VFs: QEMU's NVMe controller is an SR-IOV PF (run-guest.sh's
# 02:00.0).  With the PF bound to vfio-pci (enable_sriov), its VFs bound to vfio-pci
# open only with the PF's VF token (drivers/vfio/pci/vfio_pci_core.c): the token set
# with `vfiomig vf token`, a VF opened with --vf-token on the group path and (Linux
# 6.17+) the cdev path, refused without a token and with a wrong one, and through
# vfiomigd (request field vf_token).  These VFs have no migration: `info` opens them
# and says so, `save` exits 4.  Everything is handed back at the end.  POSIX sh.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

PCI=/sys/bus/pci/devices
ES=/sys/module/vfio_pci/parameters/enable_sriov
TOK=8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01
TOK2=0d6c1a3b-2f44-4b9e-8d1a-5c7e9f0a1b02
TOK_OTHER=ffffffff-0000-4000-8000-000000000bad
T=/tmp/vfm-vftoken
mkdir -p "$T"

if ! have_vfiomig; then
	tap_skip "vfiomig not in the guest"; tap_done; exit $?
fi
if [ ! -d /sys/bus/pci/drivers/vfio-pci ] || [ ! -e "$ES" ]; then
	echo "# the vfio-pci driver (with its enable_sriov parameter) is not in this kernel"
	exit 77
fi
PF=""
for d in "$PCI"/*; do
	if [ -r "$d/sriov_totalvfs" ] && [ "$(cat "$d/sriov_totalvfs")" -gt 0 ]; then
		PF=${d##*/}
		break
	fi
done
if [ -z "$PF" ]; then
	echo "# no SR-IOV PF in this machine (run-guest.sh's q35 has QEMU's nvme as one; --no-iommu?)"
	exit 77
fi

driver_of() { # BDF -> driver name (empty when unbound)
	_d=$(readlink "$PCI/$1/driver" 2>/dev/null) || return 0
	echo "${_d##*/}"
}
group_of() {
	_g=$(readlink "$PCI/$1/iommu_group" 2>/dev/null) || return 0
	echo "${_g##*/}"
}
unbind() { [ -e "$PCI/$1/driver" ] && echo "$1" >"$PCI/$1/driver/unbind"; return 0; }
bind_vfio() {
	[ "$(driver_of "$1")" = vfio-pci ] && return 0
	unbind "$1"
	echo vfio-pci >"$PCI/$1/driver_override"
	echo "$1" >/sys/bus/pci/drivers_probe 2>/dev/null
	[ "$(driver_of "$1")" = vfio-pci ]
}
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
expect() { # DESC RC [STDOUT-ERE [STDERR-ERE]]
	_why=""
	if [ "$rc" != "$2" ]; then
		_why="exit status $rc, wanted $2"
	elif [ -n "${3:-}" ] && ! grep -qE -- "$3" "$T/out"; then
		_why="stdout lacks /$3/"
	elif [ -n "${4:-}" ] && ! grep -qE -- "$4" "$T/err"; then
		_why="stderr lacks /$4/"
	fi
	if [ -z "$_why" ]; then tap_ok "$1"; return 0; fi
	tap_fail "$1"
	tap_diag "$_why"
	tap_diag "stdout: $(cat "$T/out")"
	tap_diag "stderr: $(cat "$T/err")"
	return 1
}

PF_DRIVER=$(driver_of "$PF")
ES_OLD=$(cat "$ES")
cleanup() {
	[ -e "$PCI/$PF/sriov_numvfs" ] && echo 0 >"$PCI/$PF/sriov_numvfs" 2>/dev/null
	unbind "$PF"
	echo >"$PCI/$PF/driver_override"
	echo "$PF" >/sys/bus/pci/drivers_probe 2>/dev/null
	echo "$ES_OLD" >"$ES"
}
tap_diag "PF $PF ($(cat "$PCI/$PF/vendor"):$(cat "$PCI/$PF/device"), driver '${PF_DRIVER:-none}'), kernel $(uname -r)"

# ---- PF to vfio-pci, its token, VFs --------------------------------------------
# The PF's token is set before its VFs exist: opening the PF resets it, and QEMU's
# NVMe PF drops its VFs on a function reset behind the kernel's back (they read as
# all ones afterwards), so the PF is opened again only at the very end.
echo Y >"$ES"
tap_check "PF $PF bound to vfio-pci" bind_vfio "$PF"
run vfiomig vf token "$PF" "$TOK"
expect "vf token $PF UUID: set (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN)" 0 "$PF: VF token set"
run vfiomig -j vf token "$PF" "$TOK"
tap_json vfiomig-vf "$T/out"
expect "-j vf token: {\"vf_token_set\":true}" 0 '"vf_token_set":true'
run vfiomig vf token "$PF" not-a-uuid
expect "vf token with a bad UUID: exit 2" 2 "" "not a UUID"

make_vfs() {
	if echo 2 >"$PCI/$PF/sriov_numvfs" 2>"$T/err"; then
		tap_ok "vfio-pci (enable_sriov) creates 2 VFs"
	else
		tap_fail "vfio-pci (enable_sriov) creates 2 VFs"; tap_diag "$(cat "$T/err")"
		cleanup; tap_done; exit $?
	fi
	VF=$(basename "$(readlink "$PCI/$PF/virtfn0")")
	VF1=$(basename "$(readlink "$PCI/$PF/virtfn1")")
	# vfio-pci sets its own driver_override on the VFs of a PF it owns
	tap_check "VFs $VF $VF1 bound to vfio-pci" sh -c "
		[ \"\$(basename \"\$(readlink $PCI/$VF/driver)\")\" = vfio-pci ] &&
		[ \"\$(basename \"\$(readlink $PCI/$VF1/driver)\")\" = vfio-pci ]"
}
make_vfs
tap_diag "groups: PF $(group_of "$PF"), $VF $(group_of "$VF"), $VF1 $(group_of "$VF1")"

# ---- the group path -------------------------------------------------------------
run vfiomig info "$VF"
expect "info VF without a token: exit 3, VF token required" 3 "" \
	"$VF: VF token required: its PF $PF is bound to a vfio driver"
run vfiomig --vf-token "$TOK_OTHER" info "$VF"
expect "info VF with a wrong token: exit 3, wrong VF token" 3 "" "$VF: wrong VF token"
run vfiomig --vf-token "$TOK" info "$VF"
expect "info VF with the token opens it: not migratable" 0 "migration not migratable"
run vfiomig --vf-token "$(echo "$TOK" | tr a-f A-F)" info "$VF"
expect "the token in capitals opens it too" 0 "$VF"
run vfiomig --vf-token "$TOK" info "/dev/vfio/$(group_of "$VF"):$VF"
expect "by /dev/vfio/N:VF with the token" 0 "migration not migratable"
run vfiomig --vf-token "$TOK" info "$VF" "$VF1"
expect "two VFs, one token" 0 "$VF1"
run vfiomig --vf-token "$TOK" save "$VF" --to file:$T/img
expect "save VF with the token: exit 4, not supported (the open worked)" 4 "" \
	"not support"
# (no `list` here: it probes the PF too, and an open of the PF resets it)
run vfiomig --vf-token "$TOK" vf token "$VF" "$TOK"
expect "vf token on a VF: exit 4, it keeps no token" 4 "" "keeps no VF token"
run vfiomig --vf-token nope info "$VF"
expect "--vf-token nope: exit 2" 2 "" "--vf-token: 'nope' is not a UUID"

# ---- the cdev path --------------------------------------------------------------
CDEV=$(ls "$PCI/$VF/vfio-dev" 2>/dev/null | head -n 1)
KMAJ=$(uname -r | cut -d. -f1) KMIN=$(uname -r | cut -d. -f2)
if [ -z "$CDEV" ] || [ ! -e /dev/iommu ]; then
	tap_skip "cdev path: kernel $(uname -r) has no VFIO cdev / IOMMUFD"
elif [ "$KMAJ" -lt 6 ] || { [ "$KMAJ" -eq 6 ] && [ "$KMIN" -lt 17 ]; }; then
	run vfiomig --vf-token "$TOK" info "/dev/vfio/devices/$CDEV"
	expect "cdev with a token on $(uname -r): exit 3, the kernel takes none there" 3 "" \
		"this kernel takes no VF token on the cdev path \(Linux 6.17\+\)"
	tap_skip "cdev path with a token: Linux 6.17+ only, this is $(uname -r)"
else
	run vfiomig --vf-token "$TOK" info "/dev/vfio/devices/$CDEV"
	expect "cdev $CDEV with the token (VFIO_DEVICE_BIND_FLAG_TOKEN)" 0 \
		"migration not migratable"
	run vfiomig info "/dev/vfio/devices/$CDEV"
	expect "cdev without a token: exit 3, VF token required" 3 "" \
		"$VF: VF token required"
	run vfiomig --vf-token "$TOK_OTHER" info "/dev/vfio/devices/$CDEV"
	expect "cdev with a wrong token: exit 3, wrong VF token" 3 "" "$VF: wrong VF token"
	run vfiomig --vf-token "$TOK" save "/dev/vfio/devices/$CDEV" --to file:$T/img
	expect "save by cdev with the token: exit 4" 4 "" "not support"
fi

# ---- a token presented to the PF's open becomes the PF's ---------------------
# (while none of its VFs is open: the kernel's rule)
echo 0 >"$PCI/$PF/sriov_numvfs"
run vfiomig --vf-token "$TOK2" info "$PF"
expect "info PF --vf-token T2 with no VF open: sets T2" 0 "$PF"
make_vfs
run vfiomig --vf-token "$TOK" info "$VF"
expect "then the old token is wrong" 3 "" "wrong VF token"
run vfiomig --vf-token "$TOK2" info "$VF"
expect "and T2 opens the VF" 0 "migration not migratable"
TOK=$TOK2

# ---- vfiomigd -------------------------------------------------------------------
if command -v vfiomigd >/dev/null; then
	S=$T/d.sock
	vfiomigd --socket $S 2>$T/d.log &
	dpid=$!
	if daemon_up $S; then
		run vfiomig --connect=$S --vf-token "$TOK" save "$VF" --to file:$T/img
		expect "vfiomigd: save with vf_token: exit 4 (the open worked)" 4 "" "not support"
		run vfiomig --connect=$S save "$VF" --to file:$T/img
		expect "vfiomigd: save without vf_token: exit 3" 3 "" "VF token required"
		run vfiomig --connect=$S attach "$VF"
		expect "vfiomigd: attach VF without vf_token: exit 3, VF token required" 3 "" \
			"VF token required"
		run vfiomig --connect=$S --vf-token "$TOK_OTHER" attach "$VF"
		expect "vfiomigd: attach with a wrong vf_token: exit 3" 3 "" "wrong VF token"
		run vfiomig --connect=$S --vf-token "$TOK" attach "$VF"
		expect "vfiomigd: attach with vf_token" 0
		# The VF is open in the daemon: the PF now needs the token too.  (Only
		# when the PF has a group of its own: else the group is busy.)  Only
		# refusals: an open of the PF would reset it and cost QEMU's PF its VFs.
		if [ "$(group_of "$PF")" != "$(group_of "$VF")" ]; then
			run vfiomig info "$PF"
			expect "PF while a VF is open, no token: VF token required" 3 "" \
				"$PF: VF token required: VFs of this PF are in use"
			run vfiomig --vf-token "$TOK_OTHER" info "$PF"
			expect "PF while a VF is open, wrong token" 3 "" "$PF: wrong VF token"
		fi
		run vfiomig --connect=$S detach "$VF"
		expect "vfiomigd: detach" 0
	else
		tap_fail "vfiomigd answers"; tap_diag "$(cat $T/d.log)"
	fi
	kill $dpid 2>/dev/null
	wait $dpid 2>/dev/null
else
	tap_skip "vfiomigd not in the guest"
fi

# ---- back ------------------------------------------------------------------------
cleanup
tap_check "VFs removed, PF back to '${PF_DRIVER:-none}', enable_sriov back to $ES_OLD" sh -c "
	[ ! -e $PCI/$VF ] && [ \"\$(cat $PCI/$PF/sriov_numvfs)\" = 0 ] &&
	[ \"\$(basename \"\$(readlink $PCI/$PF/driver 2>/dev/null)\" 2>/dev/null)\" = \"$PF_DRIVER\" ] &&
	[ \"\$(cat $ES)\" = \"$ES_OLD\" ]"
tap_done
exit $?
