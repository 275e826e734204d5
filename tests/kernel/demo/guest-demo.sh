#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# What tests/demo.sh shows inside the guest: vfiomig on the kernel's mtty driver,
# a real save -> TCP -> restore between two network namespaces.
. /etc/vfiomig-test.env
set -- $MTTY2_UUIDS; A=$1 B=$2 C=$3 D=$4
set -- $MTTY1_UUIDS; E=$1 F=$2
show() { echo; echo "\$ $*"; "$@"; echo "(exit $?)"; }

echo "== vfiomig on Linux $(uname -r), mtty mdevs: real VFIO devices, no hardware =="
vfiomig reset $A $B $C $D $E $F >/dev/null
show vfiomig list
show vfiomig info $A
show vfiomig plan RUNNING STOP_COPY

echo; echo "== two hosts: network namespaces 'src' (10.99.0.1) and 'dst' (10.99.0.2) =="
ip netns add src && ip netns add dst && ip link add v0 type veth peer name v1 &&
	ip link set v0 netns src && ip link set v1 netns dst &&
	ip -n src addr add 10.99.0.1/24 dev v0 && ip -n dst addr add 10.99.0.2/24 dev v1 &&
	ip -n src link set v0 up && ip -n dst link set v1 up || { echo "netns setup failed"; exit 1; }

echo; echo "== save $A $B $E (src) -> TCP -> restore into $C $D $F (dst) =="
echo "vfm-mtty plays the VMM: it writes UART registers and queues bytes in each source"
echo "device, hands the devices to vfiomig as fd:N, and checks the UART state afterwards."
echo; echo "\$ ip netns exec dst vfm-mtty --check --state RUNNING $C $D $F -- vfiomig restore @0 @1 @2 --from tcp://10.99.0.2:4444 &"
: >/tmp/dst.out # the wait below must not see the last run's "listening"
ip netns exec dst vfm-mtty --check --state RUNNING $C $D $F -- \
	vfiomig restore @0 @1 @2 --from tcp://10.99.0.2:4444 >/tmp/dst.out 2>&1 &
dst=$!
i=0; while [ $i -lt 100 ] && ! grep -q listening /tmp/dst.out; do sleep 0.1; i=$((i + 1)); done
show ip netns exec src vfm-mtty --set --state STOP $A $B $E -- \
	vfiomig save @0 @1 @2 --to tcp://10.99.0.2:4444 --no-progress
wait $dst
echo "(restore exit $?)"
echo "--- destination:"
cat /tmp/dst.out

echo; echo "== the destination dies mid-migration: the source devices run again, state intact =="
vfiomig reset $A $B $E $C $D $F >/dev/null
: >/tmp/dst.out # the wait below must not see the last run's "listening"
ip netns exec dst vfiomig restore $C $D $F --from tcp://10.99.0.2:4445 >/tmp/dst.out 2>&1 &
dst=$!
i=0; while [ $i -lt 100 ] && ! grep -q listening /tmp/dst.out; do sleep 0.1; i=$((i + 1)); done
show ip netns exec src vfm-mtty --set --check --state RUNNING $A $B $E -- \
	vfiomig save @0 @1 @2 --to tcp://10.99.0.2:4445 --on-quiesced "kill -9 $dst" --no-progress
wait $dst 2>/dev/null

echo; echo "== an mtty-2 device cannot take an mtty-1 stream: refused before anything stops =="
vfiomig reset $A $E >/dev/null
: >/tmp/dst.out # the wait below must not see the last run's "listening"
ip netns exec dst vfiomig restore $A --from tcp://10.99.0.2:4446 >/tmp/dst.out 2>&1 &
dst=$!
i=0; while [ $i -lt 100 ] && ! grep -q listening /tmp/dst.out; do sleep 0.1; i=$((i + 1)); done
show ip netns exec src vfiomig save $E --to tcp://10.99.0.2:4446 --no-progress
wait $dst
vfiomig reset $A $B $C $D $E $F >/dev/null
