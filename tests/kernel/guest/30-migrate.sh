#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# save -> TCP -> restore of real mtty devices between two network namespaces, with
# the UART state (registers, bytes queued in loopback mode) checked on the
# destination; a connection cut mid-stream leaving the source devices RUNNING with
# their state; the verdict lost after COMMIT (in doubt, exit 6: nothing resumed
# until the operator says so); an incompatible destination; file and pipe
# transports.
# vfm-mtty plays the VMM: it holds the devices and hands them to vfiomig as fd:N.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig or vfm-mtty not in the guest"; tap_done; exit $?
fi
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2 C=$3 D=$4
# shellcheck disable=SC2086
set -- $MTTY1_UUIDS; E=$1 F=$2
T=/tmp/vfm-migrate; mkdir -p $T


# wait_listening FILE: until vfiomig says it listens (at most 10 s)
wait_listening() {
	i=0
	while [ $i -lt 100 ] && ! grep -q "listening on" "$1" 2>/dev/null; do
		sleep 0.1; i=$((i + 1))
	done
}

vfiomig reset "$A" "$B" "$C" "$D" "$E" "$F" >/dev/null

# ---- two hosts: network namespaces joined by veth ----
net=yes
if ! command -v ip >/dev/null || ! ip netns add vsrc 2>/dev/null; then
	net=no
else
	ip netns add vdst && ip link add vfm0 type veth peer name vfm1 &&
		ip link set vfm0 netns vsrc && ip link set vfm1 netns vdst &&
		ip -n vsrc addr add 10.99.0.1/24 dev vfm0 && ip -n vdst addr add 10.99.0.2/24 dev vfm1 &&
		ip -n vsrc link set vfm0 up && ip -n vdst link set vfm1 up &&
		ip -n vsrc link set lo up && ip -n vdst link set lo up || net=no
fi
if [ $net = yes ]; then
	SRC="ip netns exec vsrc" DST="ip netns exec vdst" ADDR=10.99.0.2
	tap_ok "two network namespaces joined by veth"
else
	SRC="" DST="" ADDR=127.0.0.1
	tap_diag "no iproute2 ip or netns in the guest: both ends on loopback"
fi

# ---- three devices over TCP ----
: >$T/dst.out # the wait below must not see the last run's "listening on"
$DST vfm-mtty --check --state RUNNING "$C" "$D" "$F" -- \
	vfiomig restore @0 @1 @2 --from tcp://$ADDR:4444 >$T/dst.out 2>&1 &
dst=$!
wait_listening $T/dst.out
$SRC vfm-mtty --set --state STOP "$A" "$B" "$E" -- \
	vfiomig save @0 @1 @2 --to tcp://$ADDR:4444 >$T/src.out 2>&1
src_rc=$?
wait $dst; dst_rc=$?
tap_check "save of three mtty devices over TCP succeeds (exit $src_rc)" test $src_rc = 0
tap_check "restore succeeds (exit $dst_rc)" test $dst_rc = 0
grep -q "saved 3 devices" $T/src.out || tap_diag "$(cat $T/src.out)"
tap_relay source $T/src.out
tap_relay destination $T/dst.out
[ $src_rc = 0 ] && [ $dst_rc = 0 ] || { tap_diag "source: $(cat $T/src.out)"; tap_diag "destination: $(cat $T/dst.out)"; }

# ---- two devices, JSON report, a trace of each side ----
vfiomig reset "$A" "$B" "$C" "$D" >/dev/null
: >$T/dst.out # the wait below must not see the last run's "listening on"
$DST vfm-mtty --check "$C" "$D" -- vfiomig restore @0 @1 --from tcp://$ADDR:4445 \
	--trace $T/rst.json >$T/dst.out 2>&1 &
dst=$!
wait_listening $T/dst.out
$SRC vfm-mtty --set "$A" "$B" -- vfiomig -j save @0 @1 --to tcp://$ADDR:4445 \
	--trace $T/sav.json >$T/src.out 2>$T/src.err
src_rc=$?
wait $dst; dst_rc=$?
tap_json vfiomig-save $T/src.out
tap_check "two devices over TCP (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 00
tap_check "the JSON report says success with 2 devices" \
	grep -q '"operation":"save","success":true.*"devices":\[{.*},{.*}\]' $T/src.out
tap_relay destination $T/dst.out

# The traces, checked with grep (no python in the guest): one event a line.
# count PATTERN FILE: lines that match
count() { grep -c -- "$1" "$2"; }
rounds=$(sed -n 's/.*"precopy_rounds":\([0-9]*\).*/\1/p' $T/src.out)
tap_check "save trace: written whole (otherData ends it, not truncated)" \
	grep -q '"truncated":false,"counter_interval_ms":20}}$' $T/sav.json
for u in "$A" "$B"; do
	tid=$(sed -n "s/.*\"thread_name\".*\"tid\":\([0-9]*\),\"args\":{\"name\":\"$u\"}.*/\1/p" $T/sav.json)
	tap_check "save trace: a track for $u (tid ${tid:-none})" test -n "$tid"
	tap_check "save trace, $u: a precopy span per round of the report ($rounds)" \
		test "$(grep '"cat":"precopy"' $T/sav.json | count "\"tid\":$tid," -)" = "$rounds"
	tap_check "save trace, $u: RUNNING -> PRE_COPY -> PRE_COPY_P2P -> STOP_COPY -> STOP" \
		test "$(grep '"cat":"arc"' $T/sav.json | grep "\"tid\":$tid," |
			sed -n 's/.*"name":"\([A-Z0-9_]* -> [A-Z0-9_]*\)".*/\1/p' | paste -sd,)" = \
		"RUNNING -> PRE_COPY,PRE_COPY -> PRE_COPY_P2P,PRE_COPY_P2P -> STOP_COPY,STOP_COPY -> STOP"
	tap_check "save trace, $u: one stop-copy read, and its bytes counter ends at 96 (mtty-2)" \
		test "$(grep '"cat":"stop-copy"' $T/sav.json | count "\"tid\":$tid," -)" = 1 -a \
		"$(grep "\"name\":\"bytes $u\"" $T/sav.json | tail -1 | sed -n 's/.*"bytes":\([0-9]*\)}}.*/\1/p')" = 96
	tap_check "restore trace, $u... (as $( [ "$u" = "$A" ] && echo "$C" || echo "$D")): stop-copy writes, bytes counter at 96" \
		grep -q "\"name\":\"bytes $( [ "$u" = "$A" ] && echo "$C" || echo "$D")\".*\"bytes\":96}}" $T/rst.json
done
tap_check "save trace: barriers precopy, quiesce, stop-copy; READY, COMMIT, verdict ok" \
	test "$(sed -n 's/.*"ph":"X","name":"barrier: \([a-z-]*\)".*/\1/p' $T/sav.json | paste -sd,)" = \
	"precopy,quiesce,stop-copy" -a "$(sed -n 's/.*"ph":"i","name":"\(READY\|COMMIT\|verdict: [a-z]*\)".*/\1/p' \
	$T/sav.json | paste -sd,)" = "READY,COMMIT,verdict: ok"
tap_check "restore trace: READY, COMMIT, verdict ok; two devices' stop-copy writes" \
	test "$(sed -n 's/.*"ph":"i","name":"\(READY\|COMMIT\|verdict: [a-z]*\)".*/\1/p' $T/rst.json |
		paste -sd,)" = "READY,COMMIT,verdict: ok" -a "$(count '"name":"stop-copy writes"' $T/rst.json)" = 2
vfiomig -j timeline $T/sav.json -o $T/sav.svg >$T/tl.out 2>&1
tap_json vfiomig-timeline $T/tl.out
tap_check "timeline draws the save's trace: 2 devices, one downtime window" \
	grep -q "\"devices\":\[{\"device\":\"$A\"},{\"device\":\"$B\"}\],\"downtime_windows\":\[{\"start_usec\"[^]]*}\]" $T/tl.out
grep -q '"downtime_windows"' $T/tl.out || tap_diag "$(cat $T/tl.out)"
tap_check "the SVG has its lanes and the downtime label" grep -q ">downtime [0-9.]* [mu]*s<" $T/sav.svg
tap_diag "$(sed -n 's/.*"downtime_windows":\[\([^]]*\)\].*/downtime drawn: \1/p' $T/tl.out)"

# ---- the connection cut mid-stream: the source devices run again, state intact ----
vfiomig reset "$A" "$B" "$E" "$C" "$D" "$F" >/dev/null
: >$T/dst.out # the wait below must not see the last run's "listening on"
$DST vfiomig restore "$C" "$D" "$F" --from tcp://$ADDR:4446 >$T/dst.out 2>&1 &
dst=$!
wait_listening $T/dst.out
# Once every device is quiesced, the destination dies (kill -9).
$SRC vfm-mtty --set --check --state RUNNING "$A" "$B" "$E" -- \
	vfiomig save @0 @1 @2 --to tcp://$ADDR:4446 --on-quiesced "kill -9 $dst" >$T/src.out 2>&1
src_rc=$?
wait $dst 2>/dev/null
tap_check "save fails when the destination dies mid-stream (exit $src_rc)" test $src_rc = 1
tap_check "the error says the devices run again" grep -q "the devices are running again" $T/src.out
tap_relay "source after the cut" $T/src.out
grep -q "vfiomig: save failed" $T/src.out && tap_diag "$(grep 'vfiomig: save failed' $T/src.out)"

# ---- the verdict lost after COMMIT: in doubt (exit 6), the source devices stay
# stopped with their state, the destination runs them; then resumed by hand ----
if command -v vfm-relay >/dev/null; then
	vfiomig reset "$A" "$B" "$E" "$C" "$D" "$F" >/dev/null
	: >$T/dst.out; : >$T/relay.err
	$DST vfm-mtty --check --state RUNNING "$C" "$D" "$F" -- \
		vfiomig restore @0 @1 @2 --from tcp://$ADDR:4448 >$T/dst.out 2>&1 &
	dst=$!
	wait_listening $T/dst.out
	# in the source's namespace: it forwards everything but the destination's
	# answers after READY (record type 131)
	$SRC vfm-relay 127.0.0.1:4449 $ADDR:4448 --drop-back-after 131 2>$T/relay.err &
	relay=$!
	i=0; while [ $i -lt 100 ] && ! grep -q "listening on" $T/relay.err; do sleep 0.1; i=$((i + 1)); done
	$SRC vfm-mtty --set --state STOP "$A" "$B" "$E" -- \
		vfiomig save @0 @1 @2 --to tcp://127.0.0.1:4449 --timeout 3 >$T/src.out 2>&1
	src_rc=$?
	wait $dst; dst_rc=$?
	wait $relay
	tap_check "verdict lost after COMMIT: the save exits 6, in doubt (exit $src_rc)" test $src_rc = 6
	tap_check "it says in doubt and how to resume" grep -q "in doubt: COMMIT went to .*vfiomig state DEV RUNNING" $T/src.out
	tap_check "the destination ran the devices (exit $dst_rc)" test $dst_rc = 0
	tap_relay "source in doubt" $T/src.out
	tap_relay "destination of the lost verdict" $T/dst.out
	[ "$src_rc$dst_rc" = 60 ] || { tap_diag "source: $(cat $T/src.out)"; tap_diag "destination: $(cat $T/dst.out)"; tap_diag "relay: $(cat $T/relay.err)"; }
	# the operator checked the destination (say, it was stopped): resume here
	for u in "$A" "$B" "$E"; do vfiomig state "$u" RUNNING >$T/resume.out 2>&1 || tap_diag "resume $u: $(cat $T/resume.out)"; done
	vfm-mtty --check --state RUNNING "$A" "$B" "$E" -- true >$T/src.out 2>&1
	tap_check "resumed by hand, the source devices run with their UART state intact" test $? = 0
	tap_relay "source resumed by hand" $T/src.out
else
	tap_skip "vfm-relay not in the guest"
fi

# ---- an incompatible destination: nothing stops ----
vfiomig reset "$A" "$C" "$D" "$F" "$E" >/dev/null
: >$T/dst.out # the wait below must not see the last run's "listening on"
$DST vfiomig restore "$E" --from tcp://$ADDR:4447 >$T/dst.out 2>&1 &
dst=$!
wait_listening $T/dst.out
$SRC vfm-mtty --state RUNNING "$A" -- vfiomig save @0 --to tcp://$ADDR:4447 >$T/src.out 2>&1
src_rc=$?
wait $dst; dst_rc=$?
tap_check "an mtty-2 stream is refused by an mtty-1 destination (exits $src_rc/$dst_rc)" \
	test "$src_rc$dst_rc" = 55
tap_check "the reason names the mdev type" grep -q "mdev type 'mtty-2', destination 'mtty-1'" $T/src.out
[ "$src_rc$dst_rc" = 55 ] || { tap_diag "source: $(cat $T/src.out)"; tap_diag "destination: $(cat $T/dst.out)"; }
tap_relay "source after the refusal" $T/src.out

# ---- file and pipe ----
vfiomig reset "$A" "$C" >/dev/null
rm -f $T/a.vfm
vfm-mtty --set --state STOP "$A" -- vfiomig save @0 --to file:$T/a.vfm >$T/src.out 2>&1
tap_check "save to a file" test $? = 0
vfm-mtty --check --state RUNNING "$C" -- vfiomig restore @0 --from file:$T/a.vfm >$T/dst.out 2>&1
tap_check "restore from the file" test $? = 0
tap_relay "from a file" $T/dst.out
vfiomig reset "$A" "$C" >/dev/null
vfm-mtty --set "$A" -- vfiomig save @0 --to - 2>$T/src.out |
	vfm-mtty --check "$C" -- vfiomig restore @0 --from - >$T/dst.out 2>&1
tap_check "save | restore through a pipe" test $? = 0
tap_relay "through a pipe" $T/dst.out
grep -q "wrote 1 device to -" $T/src.out || tap_fail "the save report went to stderr with --to -"

vfiomig reset "$A" "$B" "$C" "$D" "$E" "$F" >/dev/null
[ $net = yes ] && ip netns del vsrc && ip netns del vdst
tap_done
