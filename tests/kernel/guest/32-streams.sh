#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# save --streams N -> TCP -> restore of real mtty devices between two network
# namespaces: the data over N data connections besides the control connection, the
# UART state checked on the destination (vfm-mtty --check); the same with TLS (a
# pre-shared key) on every connection; and the source listening while the
# destination connects N + 1 times.  Both reports count the data connections.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig or vfm-mtty not in the guest"; tap_done; exit $?
fi
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2 C=$3 D=$4
# shellcheck disable=SC2086
set -- $MTTY1_UUIDS; E=$1 F=$2
T=/tmp/vfm-streams; mkdir -p $T

wait_listening() {
	i=0
	while [ $i -lt 100 ] && ! grep -q "listening on" "$1" 2>/dev/null; do
		sleep 0.1; i=$((i + 1))
	done
}

net=yes
if ! command -v ip >/dev/null || ! ip netns add ssrc 2>/dev/null; then
	net=no
else
	ip netns add sdst && ip link add sfm0 type veth peer name sfm1 &&
		ip link set sfm0 netns ssrc && ip link set sfm1 netns sdst &&
		ip -n ssrc addr add 10.97.0.1/24 dev sfm0 && ip -n sdst addr add 10.97.0.2/24 dev sfm1 &&
		ip -n ssrc link set sfm0 up && ip -n sdst link set sfm1 up &&
		ip -n ssrc link set lo up && ip -n sdst link set lo up || net=no
fi
if [ $net = yes ]; then
	SRC="ip netns exec ssrc" DST="ip netns exec sdst" ADDR=10.97.0.2
else
	SRC="" DST="" ADDR=127.0.0.1
	tap_diag "no iproute2 ip or netns in the guest: both ends on loopback"
fi

# pair DESC N PORT [extra args for both]: three devices A B E -> C D F, --streams N
pair() {
	desc=$1 n=$2 port=$3
	shift 3
	vfiomig reset "$A" "$B" "$C" "$D" "$E" "$F" >/dev/null
	: >$T/dst.out
	# shellcheck disable=SC2068
	$DST vfm-mtty --check --state RUNNING "$C" "$D" "$F" -- \
		vfiomig -j restore @0 @1 @2 --from tcp://$ADDR:$port $@ >$T/dst.out 2>$T/dst.err &
	dst=$!
	wait_listening $T/dst.err
	# shellcheck disable=SC2068
	$SRC vfm-mtty --set --state STOP "$A" "$B" "$E" -- \
		vfiomig -j save @0 @1 @2 --to tcp://$ADDR:$port --streams "$n" $@ \
		>$T/src.out 2>$T/src.err
	src_rc=$?
	wait $dst; dst_rc=$?
	tap_check "$desc: save and restore of three mtty devices (exits $src_rc/$dst_rc)" \
		test "$src_rc$dst_rc" = 00
	s_n=$(grep -c "\"streams\":$n[,}]" $T/src.out) d_n=$(grep -c "\"streams\":$n[,}]" $T/dst.out)
	tap_check "$desc: both reports say $n data connections" test "$s_n$d_n" = 11
	tap_relay destination $T/dst.out
	tap_json vfiomig-save $T/src.out
	tap_json vfiomig-restore $T/dst.out
	[ "$src_rc$dst_rc" = 00 ] || { tap_diag "source: $(cat $T/src.out $T/src.err)"; tap_diag "destination: $(cat $T/dst.out $T/dst.err)"; }
}

pair "3 data connections" 3 4601
pair "8 data connections" 8 4602
printf 'guest:%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >$T/keys.psk
pair "TLS (PSK) on each of 2 data connections" 2 4603 --tls-psk $T/keys.psk
grep -q '"security":"TLS' $T/src.out && tap_ok "the TLS run's report says TLS" ||
	tap_fail "the TLS run's report says TLS" "$(cat $T/src.out)"

# the source listens, the destination connects N + 1 times
vfiomig reset "$A" "$B" "$C" "$D" >/dev/null
: >$T/src.err
$DST vfm-mtty --set --state STOP "$A" "$B" -- \
	vfiomig save @0 @1 --to tcp://$ADDR:4604 --listen --streams 2 >$T/src.out 2>$T/src.err &
src=$!
wait_listening $T/src.err
$SRC vfm-mtty --check --state RUNNING "$C" "$D" -- \
	vfiomig restore @0 @1 --from tcp://$ADDR:4604 --connect >$T/dst.out 2>&1
dst_rc=$?
wait $src; src_rc=$?
tap_check "save --listen --streams 2, restore --connect: the UART state arrives (exits $src_rc/$dst_rc)" \
	test "$src_rc$dst_rc" = 00
tap_relay destination $T/dst.out
grep -q "2 data connections" $T/dst.out || tap_diag "$(cat $T/src.out $T/src.err $T/dst.out)"

if [ $net = yes ]; then
	ip netns del ssrc
	ip netns del sdst
fi
tap_done
