#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# What tests/demo.sh shows inside the guest: vfiomig on the kernel's mtty driver.
. /etc/vfiomig-test.env
set -- $MTTY2_UUIDS; A=$1; B=$2
show() { echo; echo "\$ $*"; "$@"; echo "(exit $?)"; }

echo "== vfiomig on Linux $(uname -r), mtty mdevs: real VFIO devices, no hardware =="
vfiomig reset $MTTY2_UUIDS $MTTY1_UUIDS >/dev/null
show vfiomig list
show vfiomig info $A
show vfiomig plan RUNNING STOP_COPY
echo; echo "== move device state from $A to $B through the migration uAPI =="
rm -f /tmp/img
show vfiomig state $A PRE_COPY read:/tmp/img PRE_COPY_P2P STOP_COPY read:/tmp/img STOP
show vfiomig state $B RESUMING write:/tmp/img STOP RUNNING_P2P RUNNING
echo; echo "== a truncated image is refused by the driver; reset recovers the device =="
head -c 40 /tmp/img >/tmp/trunc
show vfiomig state -k $B RESUMING write:/tmp/trunc STOP reset
show vfiomig -p info $B
