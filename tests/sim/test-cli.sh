#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The vfiomig CLI against simulated devices and a fake sysfs tree: output, --json,
# error messages and exit codes.  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-cli.sh PATH-TO-vfiomig}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }

. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- general ----
run "$VFIOMIG" --version; expect "--version" 0 '^vfiomig [0-9]'
run "$VFIOMIG" --json --version; jexpect "--json --version" '.version == 1 and (.package_version | test("^[0-9]"))'
run "$VFIOMIG"; expect "no command is a usage error" 2 "" "Usage"
run "$VFIOMIG" lis; expect "commands match exactly (no prefixes)" 2 "" "unknown command 'lis'"
for c in list info state reset plan; do
	run "$VFIOMIG" $c --help; expect "$c --help" 0 "Usage: vfiomig $c"
done
run "$VFIOMIG" info --bogus; expect "unknown option is a usage error" 2

# ---- plan ----
run "$VFIOMIG" plan RUNNING STOP_COPY
expect "plan all flags RUNNING->STOP_COPY" 0 "RUNNING -> RUNNING_P2P"
[ "$(grep -c -- '->' <<<"$out")" = 3 ] && ok "plan has 3 arcs" || nok "plan has 3 arcs" "$out"
run "$VFIOMIG" -j plan --flags stop-copy running stop-copy
jexpect "plan --json stop-copy only" '[.arcs[].to] == ["STOP","STOP_COPY"] and .migration_flags == ["stop-copy"]'
run "$VFIOMIG" plan --flags stop-copy RUNNING PRE_COPY
expect "plan to an unsupported state" 4 "" "not supported"
run "$VFIOMIG" plan STOP_COPY PRE_COPY; expect "plan STOP_COPY->PRE_COPY refused" 4 "" "no path"
run "$VFIOMIG" plan --flags p2p RUNNING STOP; expect "flags without stop-copy" 2
run "$VFIOMIG" plan --flags stop-copy,bogus RUNNING STOP; expect "bad flag name" 2 "" "--flags"
run "$VFIOMIG" plan RUNNING NOWHERE; expect "bad state name" 2 "" "unknown state 'NOWHERE'"
run "$VFIOMIG" plan RUNNING ERROR; expect "ERROR is never a target" 4
run "$VFIOMIG" plan RUNNING RUNNING; expect "plan to the same state" 0 "already in RUNNING"

# ---- state on simulated devices ----
run "$VFIOMIG" state sim:a; expect "state of a sim device" 0 "^RUNNING$"
run "$VFIOMIG" -j state sim:a,state=stop; jexpect "state --json" '.state == "STOP" and .device == "sim:a"'
run "$VFIOMIG" state sim:a STOP_COPY STOP RUNNING_P2P PRE_COPY_P2P PRE_COPY RUNNING
expect "a walk through the states" 0 "final state RUNNING"
run "$VFIOMIG" state sim:a RESUMING STOP
expect "RESUMING -> STOP with no image is refused, like mtty" 1 "final state RESUMING" "RESUMING -> STOP: Invalid argument \(device now in RESUMING\)"
run "$VFIOMIG" -j state sim:a STOP_COPY
jexpect "state --json arcs with times and read-back" \
	'[.steps[] | .to] == ["RUNNING_P2P","STOP","STOP_COPY"] and all(.steps[]; .elapsed_usec >= 0 and .state_after == .to) and .state == "STOP_COPY"'
run "$VFIOMIG" state sim:a,flags=stop-copy PRE_COPY
expect "unsupported target names the device, arc and flags" 4 "" "sim:a: RUNNING -> PRE_COPY: PRE_COPY is not a state of this device \(flags stop-copy\)"
run "$VFIOMIG" state sim:a,no-migration STOP
expect "device without migration" 4 "" "does not support migration"
run "$VFIOMIG" state sim:a STOP_COPY PRE_COPY
expect "STOP_COPY -> PRE_COPY refused" 4 "" "no path"
run "$VFIOMIG" state sim:a BOGUS; expect "bad step is a usage error before touching the device" 2 "" "not a step"

# faults: each ends with a clear error naming the device, the arc and where the device is
run "$VFIOMIG" state sim:f,fail-arc=running_p2p:stop:EIO STOP
expect "injected arc failure" 1 "FAILED" "sim:f: RUNNING_P2P -> STOP: Input/output error \(device now in RUNNING_P2P\)"
run "$VFIOMIG" -j state sim:f,fail-arc=running_p2p:stop:EIO STOP
jexpect "injected arc failure in JSON: the step's error, and the document's with the exit code" \
	'.state == "RUNNING_P2P" and .steps[-1].error.errno_name == "EIO" and .error.exit == 1 and .error.errno_name == "EIO"'
run "$VFIOMIG" state sim:e,error-arc=stop:stop_copy STOP_COPY
expect "arc into ERROR" 1 "" "STOP -> STOP_COPY: .* \(device now in ERROR\)"
run "$VFIOMIG" state -k sim:e,error-arc=stop:stop_copy STOP_COPY reset RUNNING
expect "keep-going: reset brings ERROR back to RUNNING" 1 "final state RUNNING"

# data through files: save from one sim device, load into another
run "$VFIOMIG" state sim:src,seed=7,size=100000 STOP_COPY "read:$tmp/img" STOP
expect "read a STOP_COPY image" 0 "read $tmp/img: 100032 bytes"
run "$VFIOMIG" state sim:dst,size=100000,expect-seed=7 RESUMING "write:$tmp/img" STOP RUNNING
expect "load it into another device" 0 "final state RUNNING"
head -c 5000 "$tmp/img" >"$tmp/trunc"
run "$VFIOMIG" state -k sim:dst,size=100000 RESUMING "write:$tmp/trunc" STOP reset
expect "truncated image: STOP fails, stays RESUMING; reset recovers" 1 "final state RUNNING" "RESUMING -> STOP: Invalid argument \(device now in RESUMING\)"
run "$VFIOMIG" state sim:dst,size=100000,expect-seed=8 RESUMING "write:$tmp/img" STOP
expect "an image of another seed is rejected" 1 "" "RESUMING -> STOP"
run "$VFIOMIG" state sim:src,seed=7,size=100000 PRE_COPY "read:$tmp/img2" PRE_COPY_P2P STOP_COPY "read:$tmp/img2"
expect "PRE_COPY then STOP_COPY reads the same session" 0 "nothing pending"
cmp -s "$tmp/img" "$tmp/img2" && ok "precopy + stop-copy bytes equal a plain STOP_COPY image" || nok "precopy + stop-copy bytes equal a plain STOP_COPY image" "$(cmp "$tmp/img" "$tmp/img2")"
run "$VFIOMIG" state sim:src,size=100000,fail-read-at=50000 STOP_COPY "read:$tmp/x"
expect "injected read failure" 1 "" "sim:src: reading migration data after [0-9]+ bytes: Input/output error"
run "$VFIOMIG" state sim:a "read:$tmp/x"; expect "read without a session" 1 "" "no data session"
run "$VFIOMIG" -j state sim:a,precopy=1000 PRE_COPY info
jexpect "info step shows precopy info" '.steps[-1].precopy.initial_bytes == 1032 or .steps[-1].precopy.initial_bytes == 1000'

# ---- info ----
run "$VFIOMIG" info sim:a,size=96 sim:b,flags=stop-copy
expect "info on two devices" 0 "data size 128 bytes"
run "$VFIOMIG" -j info sim:a,size=96,vendor=0x4348,device=0x3253
jexpect "info --json" '.devices[0].device == "sim:a" and .devices[0].vendor_id == "0x4348" and .devices[0].device_id == "0x3253" and .devices[0].migratable == true and .devices[0].migration_flags == ["stop-copy","p2p","pre-copy"] and .devices[0].state == "RUNNING" and .devices[0].estimate_bytes == 128'
run "$VFIOMIG" info sim:a,sise=4; expect "sim spec error" 3 "" "sim:a.*sise"

# ---- the kernel backend's name handling, against a fake sysfs ----
root=$tmp/root
mkdir -p "$root/sys/devices/pci0000:00/0000:00:01.0" "$root/sys/bus/pci/devices" "$root/sys/bus/pci/drivers/vfio-pci" \
	"$root/sys/bus/pci/drivers/ixgbevf" "$root/sys/kernel/iommu_groups/12" "$root/sys/kernel/iommu_groups/13" \
	"$root/sys/bus/mdev/devices" "$root/sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-2"
mkpci() { # bdf driver group
	local d="$root/sys/devices/pci0000:00/0000:00:01.0/$1"
	mkdir -p "$d"
	echo 0x8086 >"$d/vendor"; echo 0x1515 >"$d/device"; echo 0x8086 >"$d/subsystem_vendor"
	echo 0x0001 >"$d/subsystem_device"; echo 0x01 >"$d/revision"; : >"$d/config"
	ln -s "../../../../bus/pci/drivers/$2" "$d/driver"
	ln -s "../../../../kernel/iommu_groups/$3" "$d/iommu_group"
	ln -s "../../../devices/pci0000:00/0000:00:01.0/$1" "$root/sys/bus/pci/devices/$1"
}
mkpci 0000:3b:00.1 vfio-pci 12
mkpci 0000:3b:00.2 ixgbevf 13
u=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
mkdir -p "$root/sys/devices/virtual/mtty/mtty/$u"
ln -s ../../../../bus/pci/drivers/vfio-pci "$root/sys/devices/virtual/mtty/mtty/$u/driver"
ln -s ../mdev_supported_types/mtty-2 "$root/sys/devices/virtual/mtty/mtty/$u/mdev_type"
ln -s ../../../../kernel/iommu_groups/13 "$root/sys/devices/virtual/mtty/mtty/$u/iommu_group"
ln -s "../../../devices/virtual/mtty/mtty/$u" "$root/sys/bus/mdev/devices/$u"
export VFIOMIG_SYSFS_ROOT=$root
run "$VFIOMIG" -j list --no-probe
jexpect "list finds the vfio PCI function and the mdev, not the ixgbevf one" \
	'[.devices[].device] == ["0000:3b:00.1","'$u'"] and .devices[0].driver == "vfio-pci" and .devices[0].iommu_group == 12 and .devices[0].vendor_id == "0x8086" and .devices[1].mdev_type == "mtty-2" and .devices[1].kind == "mdev"'
run "$VFIOMIG" list
expect "list probing without /dev/vfio says why" 0 "migration unknown"
run "$VFIOMIG" info 3b:00.2
expect "a device bound to another driver" 3 "" "0000:3b:00.2: bound to ixgbevf, not to a vfio driver"
run "$VFIOMIG" info 3b:00.1
expect "no /dev/vfio" 3 "" "/dev/vfio/vfio does not exist"
run "$VFIOMIG" info 0000:3b:00.7; expect "no such PCI device" 3 "" "0000:3b:00.7: no such PCI device"
run "$VFIOMIG" info /sys/devices/pci0000:00/0000:00:01.0/0000:3b:00.1
expect "a sysfs path that resolves to a listed PCI device" 3 "" "/dev/vfio/vfio does not exist"
for p in /sys/bus/pci/devices/0000:3b:00.1/../../../../kernel/iommu_groups/12 /sys/kernel/iommu_groups/12 \
	/sys/bus/pci/devices/0000:3b:00.1/iommu_group /sys/../etc /sys/no/such; do
	run "$VFIOMIG" info "$p"
	expect "sysfs path $p: resolved first, refused alike" 3 "" "^vfiomig: $p: not a device listed in /sys/bus/pci/devices or /sys/bus/mdev/devices"
done
run "$VFIOMIG" info 3b:00.1x; expect "a bad name" 3 "" "not a device name"
run "$VFIOMIG" info /dev/vfio/12; expect "a group without a device name" 3 "" "/dev/vfio/N:NAME"
run "$VFIOMIG" info fd:999; expect "fd that is not open" 3 "" "fd:999: no such open file descriptor"
run "$VFIOMIG" info "$(printf 'x%.0s' $(seq 300))"; expect "over-long name" 3 "" "longer than"
unset VFIOMIG_SYSFS_ROOT

# ---- check: every arc against the uAPI ----
run "$VFIOMIG" check sim:a
expect "check of a conforming device: exit 0" 0 "^  19 ok, 0 warnings, 0 failed, 1 skipped$"
grep -q "^  ok   RESUMING -> STOP " <<<"$out" && grep -q "^  ok   STOP -> STOP_COPY .*: 4128 bytes of data (estimate 4128)" <<<"$out" &&
	ok "check loads the device's own image and reads STOP_COPY to its end" || nok "check arcs" "$out"
run "$VFIOMIG" check sim:a,flags=stop-copy
expect "check of a STOP_COPY-only device: its 6 arcs, the 3 states it lacks refused" 0 "^  ok   refuse PRE_COPY_P2P: Invalid argument, device in RUNNING$"
[ "$(grep -c '^  ok   [A-Z_]* -> ' <<<"$out")" = 6 ] && ok "check: 6 arcs for stop-copy" || nok "6 arcs" "$out"
run "$VFIOMIG" check "sim:a,fail-arc=running_p2p:stop"
expect "check: a failing arc fails (exit 1), the arcs behind it are skipped" 1 "^  fail RUNNING_P2P -> STOP .*Input/output error"
grep -q "^  skip STOP -> RESUMING: cannot test: reaching STOP: Input/output error" <<<"$out" &&
	ok "check names why an arc could not be tested" || nok "skip reason" "$out"
run "$VFIOMIG" check "sim:a,fail-get"
if grep -q "device in unknown: it cannot be read" <<<"$out" && ! grep -qE "\(null\)|in ERROR" <<<"$out"; then
	ok "check of a device whose state cannot be read: says so, never (null) or ERROR"
else
	nok "check fail-get" "$out"
fi
run "$VFIOMIG" check "sim:a,error-arc=resuming:stop"
expect "check: a device that refuses its own image" 1 "^  fail RESUMING -> STOP .*the driver refused its own image"
run "$VFIOMIG" check sim:a,precopy-eof
expect "check: read() = 0 at the end of PRE_COPY data is a warning, not a failure (exit 0)" 0 \
	"^  warn RUNNING -> PRE_COPY .*read\(\) returned 0: the uAPI says a driver should return ENOMSG"
grep -q "^  17 ok, 2 warnings, 0 failed, 1 skipped$" <<<"$out" && ok "check: 2 warnings (PRE_COPY and PRE_COPY_P2P)" || nok "warnings" "$out"
run "$VFIOMIG" check sim:a,fail-reset
expect "check of a device whose reset fails: every arc reached arc by arc instead (exit 0)" 0 \
	"^  skip reset: Input/output error: each arc is reached from RUNNING arc by arc instead"
grep -q "^  18 ok, 0 warnings, 0 failed, 2 skipped$" <<<"$out" && grep -q "^  ok   left RUNNING" <<<"$out" &&
	ok "check without reset: all 15 arcs tested, the device left RUNNING" || nok "check without reset" "$out"
run "$VFIOMIG" check sim:a,no-migration
expect "check of a device without migration: exit 4" 4 "" "sim:a: the driver does not support migration"
run "$VFIOMIG" -j check sim:a,flags=stop-copy+p2p
if jq -e '.devices[0].failed == 0 and .devices[0].migration_flags == ["stop-copy","p2p"] and ([.devices[0].checks[] | select(.check == "arc")] | length) == 8' <<<"$out" >/dev/null 2>&1; then
	ok "check --json: 8 arcs for stop-copy,p2p, none failed"
else
	nok "check --json" "$out"
fi
run "$VFIOMIG" check sim:a sim:b,no-precopy-v2
if grep -q "^  ok   precopy-info-v2: yes: the opt-in took" <<<"$out" &&
	grep -q "^  ok   precopy-info-v2: no: the opt-in was refused (a kernel before 7.1)" <<<"$out"; then
	ok "check says whether the precopy info v2 opt-in took (yes, and no for a device that refuses it)"
else
	nok "check precopy-info-v2" "$out"
fi
run "$VFIOMIG" check
expect "check without devices: usage" 2 "" "check needs devices"

# -j: every failure is a JSON object on stdout (errno name, message, exit code), also
# those before any job (usage, URI, device, connect)
jerr() { # DESC WANT-EXIT WANT-NAME MESSAGE-SUBSTRING
	if [ "$rc" = "$2" ] && [ "$(jq -c '[.version, .error.exit, .error.errno_name]' <<<"$out" 2>/dev/null)" = "[1,$2,\"$3\"]" ] &&
		[ "$(jq -r '.error.message' <<<"$out" 2>/dev/null | grep -c -- "$4")" = 1 ] &&
		[ "$(wc -l <<<"$out")" = 1 ]; then
		ok "$1"
	else
		nok "$1" "exit $rc: $out" "stderr: $err"
	fi
}
run "$VFIOMIG" -j frobnicate
jerr "-j unknown command: {error: EINVAL, exit 2} on stdout" 2 EINVAL "unknown command 'frobnicate'"
run "$VFIOMIG" -j save sim:a --to bogus://x
jerr "-j bad URI: EINVAL, exit 2" 2 EINVAL 'unknown scheme "bogus"'
run "$VFIOMIG" -j info nosuchdevice
jerr "-j a device name that is none: exit 3" 3 EINVAL "'nosuchdevice' is not a device name"
run "$VFIOMIG" -j save sim:a --to tcp://127.0.0.1:1
jerr "-j connection refused: ECONNREFUSED, exit 1" 1 ECONNREFUSED "connect to tcp 127.0.0.1:1"
run "$VFIOMIG" -j --connect="$tmp/no-daemon.sock" jobs
jerr "-j no daemon: ENOENT, exit 1" 1 ENOENT "cannot connect to vfiomigd"
run "$VFIOMIG" -j save sim:a,fail-read-at=100 --to "file:$tmp/j.vfm"
if [ "$rc" = 1 ] && [ "$(jq -c '[.version, .success, .error.exit, .error.errno_name, (.error.message | test("reading precopy data")), (.devices | length)]' <<<"$out" 2>/dev/null)" = '[1,false,1,"EIO",true,1]' ] &&
	[ "$(wc -l <<<"$out")" = 1 ]; then
	ok "-j a failed job: its report is the one JSON document on stdout, its error with errno name, message, exit code"
else
	nok "-j failed job" "exit $rc: $out"
fi
run "$VFIOMIG" -j info --bogus
jerr "-j an unknown option: EINVAL, exit 2, naming it" 2 EINVAL "'--bogus': an unknown option"
run "$VFIOMIG" -j --bogus info sim:a
jerr "-j an unknown global option: EINVAL, exit 2" 2 EINVAL "'--bogus': an unknown option"
run "$VFIOMIG" -j plan --flags
jerr "-j an option without its argument: EINVAL, exit 2" 2 EINVAL "'--flags'"
run "$VFIOMIG" -j --vf-token nope info sim:a
jerr "-j a bad --vf-token: EINVAL, exit 2" 2 EINVAL "is not a UUID"
run "$VFIOMIG" -j plan RUNNING NOWHERE
jerr "-j plan with an unknown state: EINVAL, exit 2" 2 EINVAL "unknown state 'NOWHERE'"
run "$VFIOMIG" -j info sim:a,sise=4
jerr "-j a sim spec the library refuses: exit 3" 3 EINVAL "sise"
run "$VFIOMIG" -j save sim:a --listen --to tcp://192.0.2.1:1
jerr "-j a listener that cannot bind: EADDRNOTAVAIL, exit 1" 1 EADDRNOTAVAIL "192.0.2.1"
run "$VFIOMIG" -j restore sim:b --from "file:$tmp/no-such-image"
jerr "-j a stream that cannot be opened: ENOENT, exit 1" 1 ENOENT "no-such-image"
run "$VFIOMIG" -j check sim:a,flags=stop-copy nosuchdevice
if [ "$rc" = 3 ] && [ "$(jq -c '[.devices[0].failed, .devices[1].device, .devices[1].stage, .devices[1].error.errno_name, .error.exit]' <<<"$out" 2>/dev/null)" = '[0,"nosuchdevice","open","EINVAL",3]' ]; then
	ok "-j check: a device that does not open is in the document with its error; the exit code too"
else
	nok "-j check with a device that does not open" "exit $rc: $out"
fi
run "$VFIOMIG" -j reset sim:a nosuchdevice
if [ "$rc" = 3 ] && [ "$(jq -c '[(.devices | length), .error.exit, (.error.message | test("nosuchdevice"))]' <<<"$out" 2>/dev/null)" = '[1,3,true]' ]; then
	ok "-j reset: the devices reset, and the error of the one that did not open"
else
	nok "-j reset with a device that does not open" "exit $rc: $out"
fi


# VF tokens: a simulated VF of a PF bound to vfio-pci (sim key vf-token=)
TOKEN=8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01
run "$VFIOMIG" info "sim:vf,vf-token=$TOKEN"
expect "a VF without --vf-token: exit 3, VF token required" 3 "" "sim:vf: VF token required"
run "$VFIOMIG" --vf-token ffffffff-0000-4000-8000-000000000bad info "sim:vf,vf-token=$TOKEN"
expect "a VF with another token: exit 3, wrong VF token" 3 "" "sim:vf: wrong VF token"
run "$VFIOMIG" --vf-token "${TOKEN^^}" info "sim:vf,vf-token=$TOKEN" sim:other
expect "--vf-token in capitals opens it, and a device without a token beside it" 0 "sim:other"
run "$VFIOMIG" -j info "sim:vf,vf-token=$TOKEN"
jerr "-j VF token required: EACCES, exit 3" 3 EACCES "VF token required"
for bad in nope "" "$TOKEN " "${TOKEN}0" "${TOKEN//-/}" "$TOKEN vf_token=$TOKEN"; do
	run "$VFIOMIG" --vf-token "$bad" info sim:a
	expect "--vf-token '$bad': exit 2, not a UUID" 2 "" "--vf-token: .* is not a UUID"
done
run "$VFIOMIG" info "sim:vf,vf-token=nope"
expect "sim key vf-token=nope: exit 3, expected a UUID" 3 "" "expected a UUID"
run "$VFIOMIG" vf token sim:a "$TOKEN"
expect "vf token on a device that keeps none: exit 4" 4 "" "keeps no VF token"
run "$VFIOMIG" vf token sim:a nope
expect "vf token with a bad UUID: exit 2" 2 "" "not a UUID"
run "$VFIOMIG" vf token sim:a
expect "vf token without a UUID: exit 2" 2 "" "takes a PF and a UUID"

# A device name with terminal control characters: the error shows them as '?'.
run "$VFIOMIG" info $'/dev/vfio/\e[31mred\a\u0085'
if [ "$rc" = 3 ] && ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$tmp/err" && ! grep -q $'\u0085' "$tmp/err" &&
	grep -qF '/dev/vfio/?[31mred??' "$tmp/err"; then
	ok "a device name with an escape sequence, BEL and a C1 control: each is '?' in the error"
else
	nok "control characters in an error" "exit $rc" "$(od -c "$tmp/err" | head -5)"
fi

tap_end
