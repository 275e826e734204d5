#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vfiomigd with real mtty devices: two daemons in two network namespaces, one per
# host.  A save -> TCP -> restore through both, the devices handed over by the VMM
# stand-in as descriptors (SCM_RIGHTS) and the UART state checked on the destination;
# the same with devices the daemons open themselves after dropping every capability,
# and with an unprivileged daemon (--user) that can only be handed its devices;
# SIGTERM while a save waits with its devices quiesced, and a client killed by its own
# hook: the devices run again; non-device descriptors refused.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig || ! command -v vfiomigd >/dev/null || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig, vfiomigd or vfm-mtty not in the guest"; tap_done; exit $?
fi
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2 C=$3 D=$4
T=/tmp/vfm-daemon; mkdir -p $T
SS=$T/src.sock DS=$T/dst.sock

# wait_for FILE PATTERN: until FILE has PATTERN (at most 20 s)
wait_for() {
	i=0
	while [ $i -lt 200 ] && ! grep -q "$2" "$1" 2>/dev/null; do
		sleep 0.1; i=$((i + 1))
	done
}
# job_json SOCKET JOB: the job's own fields from `jobs -j` (no jq in the guest)
job_json() { vfiomig --connect="$1" -j jobs | tr '{' '\n' | grep "^\"job\":$2,"; }
# jobs_json SOCKET: the jobs, handed to the host's schema check too
jobs_json() { vfiomig --connect="$1" -j jobs >$T/jobs.json; tap_json vfiomig-jobs $T/jobs.json; }
# job_has SOCKET JOB TEXT
job_has() { job_json "$1" "$2" | grep -q "$3"; }
# finished_state SOCKET DEVICE STATE: a finished job left DEVICE in STATE
finished_state() {
	vfiomig --connect="$1" -j jobs | grep -q "\"device\":\"$2\",[^}]*\"state\":\"$3\""
}
busy() { ! vfiomig state "$1" >/dev/null 2>&1; }
state_of() { vfiomig state "$1" 2>&1; }

vfiomig reset "$A" "$B" "$C" "$D" >/dev/null

# ---- two hosts: network namespaces joined by veth ----
net=yes
if ! command -v ip >/dev/null || ! ip netns add dsrc 2>/dev/null; then
	net=no
else
	ip netns add ddst && ip link add vfd0 type veth peer name vfd1 &&
		ip link set vfd0 netns dsrc && ip link set vfd1 netns ddst &&
		ip -n dsrc addr add 10.98.0.1/24 dev vfd0 && ip -n ddst addr add 10.98.0.2/24 dev vfd1 &&
		ip -n dsrc link set vfd0 up && ip -n ddst link set vfd1 up &&
		ip -n dsrc link set lo up && ip -n ddst link set lo up || net=no
fi
if [ $net = yes ]; then
	SRC="ip netns exec dsrc" DST="ip netns exec ddst" ADDR=10.98.0.2
else
	SRC="" DST="" ADDR=127.0.0.1
	tap_diag "no iproute2 ip or netns in the guest: both daemons on loopback"
fi

start_src() {
	$SRC vfiomigd --socket $SS 2>>$T/srcd.log &
	srcd=$!
}
start_src
$DST vfiomigd --socket $DS 2>$T/dstd.log &
dstd=$!
if daemon_up $SS && daemon_up $DS; then
	tap_ok "two daemons, one per namespace, answer on their sockets"
else
	tap_fail "two daemons answer"; tap_diag "$(cat $T/srcd.log $T/dstd.log)"
	kill $srcd $dstd 2>/dev/null; tap_done; exit $?
fi
tap_check "both dropped every capability (running as root)" \
	sh -c "grep -q 'capabilities: none' $T/srcd.log && grep -q 'capabilities: none' $T/dstd.log"

# ---- 1: the VMM stand-in hands its devices over as descriptors ----
: >$T/dst.out # the wait below must not see the last run's "listening on"
$DST vfm-mtty --check --state RUNNING "$C" "$D" -- \
	vfiomig --connect=$DS restore @0 @1 --from tcp://$ADDR:4450 >$T/dst.out 2>&1 &
dst=$!
wait_for $T/dst.out "listening on"
$SRC vfm-mtty --set --state STOP "$A" "$B" -- \
	vfiomig --connect=$SS save @0 @1 --to tcp://$ADDR:4450 >$T/src.out 2>&1
src_rc=$?
wait $dst; dst_rc=$?
tap_check "save of two passed mtty devices through the source daemon (exit $src_rc)" test $src_rc = 0
tap_check "restore into two passed devices through the destination daemon (exit $dst_rc)" test $dst_rc = 0
grep -q "^saved 2 devices to tcp://$ADDR:4450" $T/src.out || tap_diag "source: $(cat $T/src.out)"
grep -q "^restored 2 devices from tcp://$ADDR:4450" $T/dst.out || tap_diag "destination: $(cat $T/dst.out)"
tap_relay "passed descriptors, source" $T/src.out
tap_relay "passed descriptors, destination" $T/dst.out

# ---- 2: devices the daemons open by name, after dropping their capabilities ----
vfiomig reset "$A" "$B" "$C" "$D" >/dev/null
tap_check "the source daemon opens $A itself" vfiomig --connect=$SS attach "$A"
tap_check "the destination daemon opens $C itself" vfiomig --connect=$DS attach "$C"
tap_check "while attached, the group is the daemon's (busy here)" busy "$A"
job=$(vfiomig --connect=$DS restore "$C" --from tcp://$ADDR:4451 --detach 2>/dev/null | sed -n 's/^job //p')
vfiomig --connect=$SS save "$A" --to tcp://$ADDR:4451 >$T/src.out 2>&1
src_rc=$?
vfiomig --connect=$DS wait "$job" >$T/dst.out 2>&1
dst_rc=$?
tap_check "save and restore of attached devices (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 00
[ "$src_rc$dst_rc" = 00 ] || tap_diag "$(cat $T/src.out $T/dst.out)"
tap_check "the destination's finished job says $C runs" finished_state $DS "$C" RUNNING
tap_check "the source's finished job says $A is stopped" finished_state $SS "$A" STOP
vfiomig --connect=$SS detach "$A" >/dev/null && vfiomig --connect=$DS detach "$C" >/dev/null
tap_check "detached, the source device stays in STOP (mtty keeps it): $(state_of "$A")" \
	test "$(state_of "$A")" = STOP
tap_check "and the destination device runs: $(state_of "$C")" test "$(state_of "$C")" = RUNNING

# ---- 3: SIGTERM while a save waits with its devices quiesced ----
vfiomig reset "$A" "$B" "$C" "$D" >/dev/null
rjob=$(vfiomig --connect=$DS restore "$C" "$D" --from tcp://$ADDR:4452 --detach 2>/dev/null | sed -n 's/^job //p')
sjob=$(vfiomig --connect=$SS save "$A" "$B" --to tcp://$ADDR:4452 --wait-ack --detach 2>/dev/null | sed -n 's/^job //p')
i=0
while [ $i -lt 200 ] && ! job_has $SS "$sjob" '"waiting_ack":true'; do
	sleep 0.1; i=$((i + 1))
done
tap_check "the save (job $sjob) waits for its acknowledgement, devices quiesced" \
	job_has $SS "$sjob" '"phase":"quiesce"'
kill -TERM $srcd
wait $srcd; rc=$?
tap_check "the source daemon exits 0 on SIGTERM ($rc)" test $rc = 0
tap_check "$A runs again: $(state_of "$A")" test "$(state_of "$A")" = RUNNING
tap_check "$B runs again: $(state_of "$B")" test "$(state_of "$B")" = RUNNING
grep -q "job $sjob: save failed: .*shutting down" $T/srcd.log || tap_diag "$(tail -n 5 $T/srcd.log)"
vfiomig --connect=$DS wait "$rjob" >$T/dst.out 2>&1
tap_check "the destination's restore fails: the source gave up (exit $?)" \
	grep -q "the source gave up" $T/dst.out
grep -q "the source gave up" $T/dst.out || tap_diag "$(cat $T/dst.out)"
tap_check "the destination devices are reset, RUNNING" \
	test "$(state_of "$C") $(state_of "$D")" = "RUNNING RUNNING"

# ---- 4: the client dies in its own quiesced hook ----
start_src
daemon_up $SS || tap_diag "the source daemon did not come back"
vfiomig reset "$A" "$C" >/dev/null
rjob=$(vfiomig --connect=$DS restore "$C" --from tcp://$ADDR:4453 --detach 2>/dev/null | sed -n 's/^job //p')
# the hook's shell is a child of the client: it kills its parent
# shellcheck disable=SC2016 # $PPID is the hook shell's
$SRC vfiomig --connect=$SS save "$A" --to tcp://$ADDR:4453 --on-quiesced 'kill -9 $PPID' >$T/src.out 2>&1
rc=$?
tap_check "the client was killed (exit $rc)" test $rc = 137
sjob=$(vfiomig --connect=$SS -j jobs | tr '{' '\n' | sed -n 's/^"job":\([0-9]*\),.*/\1/p' | tail -n 1)
vfiomig --connect=$SS wait "$sjob" >$T/w.out 2>&1
rc=$?
tap_check "its job rolled back (exit $rc): the client disconnected" \
	grep -q "disconnected.*the devices are running again" $T/w.out
[ $rc = 1 ] || tap_diag "$(cat $T/w.out)"
tap_check "$A runs again: $(state_of "$A")" test "$(state_of "$A")" = RUNNING
vfiomig --connect=$DS wait "$rjob" >/dev/null 2>&1
tap_check "$C on the destination runs (reset): $(state_of "$C")" test "$(state_of "$C")" = RUNNING
jobs_json $SS
jobs_json $DS
vfiomig --connect=$SS -j wait "$sjob" >$T/w.json 2>/dev/null
tap_json vfiomig-wait $T/w.json

# ---- 5: descriptors that are no VFIO device ----
exec 5</dev/vfio/vfio
vfiomig --connect=$SS attach "fd:5:$A" >$T/out 2>&1
tap_check "a container fd (/dev/vfio/vfio) passed as a device is refused" \
	grep -q "not a VFIO device (it is /dev/vfio/vfio)" $T/out
exec 5<&-
exec 5<"/dev/vfio/$(mdev_group "$A")"
vfiomig --connect=$SS attach "fd:5:$A" >$T/out 2>&1
tap_check "a group fd passed as a device is refused" grep -q "not a VFIO device" $T/out
exec 5<&-

# ---- 5b: one device is one device, however it is handed over or named ----
vfm-mtty "$A" -- vfiomig --connect=$SS attach @0 @0 >$T/out 2>&1
rc=$?
tap_check "one descriptor handed over twice in one attach is refused (exit $rc)" \
	sh -c "[ $rc -ne 0 ] && grep -q 'named twice\|same device' $T/out"
# the same open file as two descriptors under two names: the CLI cannot tell, the
# daemon does (kcmp(2) on this kernel, fdinfo's syspath on 6.14+)
vfm-mtty "$A" -- sh -c 'k=${1#fd:}; k=${k%%:*}; exec 7<&$k
	vfiomig --connect='"$SS"' attach "fd:$k:$2" "fd:7:$3"' sh @0 "$A" "$B" >$T/out 2>&1
rc=$?
# before 6.14: kcmp finds one open file ("B is the same device as A", usage, exit 2);
# from 6.14 fdinfo names the device first ("descriptor K is .../A, not B", exit 3)
tap_check "one device as two descriptors under two names is refused by the daemon (exit $rc)" \
	sh -c "{ [ $rc = 2 ] && grep -q '$B is the same device as $A' $T/out; } ||
		{ [ $rc = 3 ] && grep -qE 'descriptor [0-9]+ is /sys/.*$A, not $B' $T/out; }" ||
	tap_diag "$(cat $T/out)"
vfm-mtty "$A" -- vfiomig --connect=$SS attach @0 >$T/out 2>&1
tap_check "$A handed over as a descriptor is attached" grep -q "$A" $T/out
vfiomig --connect=$SS attach "$A" >$T/out 2>&1
rc=$?
tap_check "then named by its UUID, it is the same device: refused (exit $rc)" \
	sh -c "[ $rc = 3 ] && grep -q 'already attached' $T/out"
vfiomig --connect=$SS detach "$A" >/dev/null 2>&1
tap_check "detached: $A is free again ($(state_of "$A"))" test "$(state_of "$A")" = RUNNING
# A descriptor handed over under another device's name: on kernels with
# vfio-device-syspath in fdinfo (6.14+) the daemon knows better.  Before, it has only
# the name to go by, but the kernel still keeps one device one handle: while a device
# descriptor is open, its group is busy and nobody opens the device by name.
rm -f $T/syspath
vfm-mtty "$A" -- sh -c 'k=${1#fd:}; k=${k%%:*}
	grep -q vfio-device-syspath /proc/self/fdinfo/$k && echo syspath >'"$T/syspath"'
	vfiomig --connect='"$SS"' attach "fd:$k:$2"' sh @0 "$B" >$T/out 2>&1
rc=$?
if [ -e $T/syspath ]; then
	tap_check "$A's descriptor handed over as $B is refused: the kernel names it (exit $rc)" \
		sh -c "[ $rc != 0 ] && grep -q 'not $B' $T/out"
else
	tap_check "$A's descriptor handed over as $B: this kernel does not name it, taken at its word (exit $rc)" test $rc = 0
	tap_diag "$(uname -r): no vfio-device-syspath in fdinfo (Linux 6.14+): a group descriptor's name is the client's word"
	vfiomig --connect=$SS attach "$A" >$T/out 2>&1
	rc=$?
	tap_check "but $A by name is refused: its group is busy while the descriptor lives (exit $rc)" \
		sh -c "[ $rc = 3 ] && grep -q 'in use' $T/out" || tap_diag "$(cat $T/out)"
	vfiomig --connect=$SS detach "$B" >/dev/null 2>&1
fi
tap_check "detached again: $A is free ($(state_of "$A"))" test "$(state_of "$A")" = RUNNING

# ---- 6: an unprivileged daemon, handed its devices ----
NB=$T/nobody.sock
$SRC vfiomigd --socket $NB --user 65534:65534 2>$T/nbd.log &
nbd=$!
daemon_up $NB || tap_diag "the unprivileged daemon: $(cat $T/nbd.log)"
tap_check "--user 65534: the daemon runs as uid 65534" \
	grep -qE "^Uid:[[:space:]]+65534[[:space:]]" /proc/$nbd/status
vfiomig --connect=$NB attach "$A" >$T/out 2>&1
rc=$?
tap_check "unprivileged, it cannot open $A itself (exit $rc)" test $rc = 3
grep -q "ermission denied" $T/out || tap_diag "$(cat $T/out)"
vfiomig reset "$A" "$C" >/dev/null
rjob=$(vfiomig --connect=$DS restore "$C" --from tcp://$ADDR:4454 --detach 2>/dev/null | sed -n 's/^job //p')
$SRC vfm-mtty --set --state STOP "$A" -- \
	vfiomig --connect=$NB save @0 --to tcp://$ADDR:4454 >$T/src.out 2>&1
src_rc=$?
vfiomig --connect=$DS wait "$rjob" >$T/dst.out 2>&1
dst_rc=$?
tap_check "but handed the device, it saves it (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 00
[ "$src_rc$dst_rc" = 00 ] || tap_diag "$(cat $T/src.out $T/dst.out)"
tap_relay "unprivileged daemon" $T/src.out
kill -TERM $nbd; wait $nbd
tap_check "the unprivileged daemon exits 0 ($?)" test $? = 0

kill -TERM $srcd $dstd
wait $srcd; rc1=$?
wait $dstd; rc2=$?
tap_check "both daemons exit 0 ($rc1/$rc2)" test "$rc1$rc2" = 00
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" $T/srcd.log $T/dstd.log $T/nbd.log; then
	tap_fail "no sanitizer reports from the daemons"
	tap_diag "$(grep -hE -A5 'runtime error|Sanitizer' $T/srcd.log $T/dstd.log $T/nbd.log | head -n 40)"
else
	tap_ok "no sanitizer reports from the daemons"
fi
vfiomig reset "$A" "$B" "$C" "$D" >/dev/null
[ $net = yes ] && ip netns del dsrc && ip netns del ddst
tap_done
