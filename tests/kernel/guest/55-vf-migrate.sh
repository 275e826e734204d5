#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# VF network settings travel with a migration: save -> TCP -> restore of devices that
# stand for netdevsim VFs (simulated migration state, real PF netdevs and rtnetlink),
# the settings read back on the destination VF; a destination that is no network VF
# is refused before anything stops; a destination PF that refuses a setting gets its
# old settings back and the devices are reset.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig; then
	tap_skip "vfiomig not in the guest"; tap_done; exit $?
fi
if [ ! -w /sys/bus/netdevsim/new_device ]; then
	echo "# netdevsim is not loaded (modules failed: $VFIOMIG_MODULES_FAILED)"
	exit 77
fi
T=/tmp/vfm-vfmig; mkdir -p $T
SYS=/sys/bus/netdevsim/devices
for id in 20 21; do
	[ -d $SYS/netdevsim$id ] || echo "$id 1" >/sys/bus/netdevsim/new_device
done
i=0
while [ $i -lt 50 ] && ! { ls $SYS/netdevsim20/net/* && ls $SYS/netdevsim21/net/*; } >/dev/null 2>&1; do
	sleep 0.1; i=$((i + 1))
done
echo 4 >$SYS/netdevsim20/sriov_numvfs && echo 4 >$SYS/netdevsim21/sriov_numvfs
SRC=$(ls $SYS/netdevsim20/net | head -n 1)
DST=$(ls $SYS/netdevsim21/net | head -n 1)
tap_check "netdevsim20 and netdevsim21 have PF netdevs ($SRC, $DST)" test -n "$SRC" -a -n "$DST"

# settings: the line after "  vf N ..." in vfiomig vf list
settings() { vfiomig vf list "$1" | grep -A1 "^  vf $2 " | tail -n 1; }
listen_uri() {
	i=0
	while [ $i -lt 100 ]; do
		u=$(sed -n 's/^vfiomig: listening on \([a-z]*:.*[^ ]\)$/\1/p' "$1" 2>/dev/null | head -n 1)
		[ -n "$u" ] && { echo "$u"; return 0; }
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

vfiomig vf set "$SRC" 1 mac 02:11:22:33:44:55 vlan 100 qos 2 spoofchk on trust on link-state disable >$T/set 2>&1
tap_check "set the source VF's settings" test $? = 0
before_dst=$(settings "$DST" 2)

# ---- the settings travel ----
vfiomig restore "sim:x,pf=$DST,vf=2" --from tcp://127.0.0.1:0 >$T/r.out 2>$T/r.err &
rpid=$!
uri=$(listen_uri $T/r.err)
vfiomig save "sim:a,pf=$SRC,vf=1" --to "$uri" --no-progress >$T/s.out 2>&1
src_rc=$?
wait $rpid; dst_rc=$?
tap_check "save and restore succeed (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 00
grep -q "VF network settings sent: mac,vlan,rate,spoofchk,trust,rss-query,link-state" $T/s.out ||
	{ tap_fail "the save report lists what was sent"; tap_diag "$(cat $T/s.out)"; }
grep -q "VF network settings applied: mac,vlan,spoofchk,trust,link-state" $T/r.out ||
	{ tap_fail "the restore report lists what was applied"; tap_diag "$(cat $T/r.out $T/r.err)"; }
src_set=$(settings "$SRC" 1); dst_set=$(settings "$DST" 2)
tap_diag "source VF 1: $src_set"
tap_diag "destination VF 2 before: $before_dst"
tap_diag "destination VF 2 after:  $dst_set"
tap_check "the destination VF has the source VF's settings" test "$src_set" = "$dst_set"
if command -v ip >/dev/null; then
	ip link show "$DST" | grep -E "^ +vf 2 " >$T/ip
	grep -q "02:11:22:33:44:55" $T/ip && grep -q "vlan 100, qos 2" $T/ip && grep -q "trust on" $T/ip
	tap_check "iproute2 sees the same on the destination PF" test $? = 0
	[ -s $T/ip ] && tap_diag "ip: $(cat $T/ip)"
fi

# ---- a destination that is no network VF: refused before anything stops ----
vfiomig restore sim:y --from tcp://127.0.0.1:0 >$T/r.out 2>$T/r.err &
rpid=$!
uri=$(listen_uri $T/r.err)
vfiomig save "sim:a,pf=$SRC,vf=1" --to "$uri" --no-progress >$T/s.out 2>&1
src_rc=$?
wait $rpid; dst_rc=$?
tap_check "a destination that is no network VF is refused (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 55
grep -q "cannot take the VF network settings" $T/s.out || { tap_fail "the reason says why"; tap_diag "$(cat $T/s.out)"; }
vfiomig restore sim:y --from tcp://127.0.0.1:0 --no-vf-config >$T/r.out 2>$T/r.err &
rpid=$!
uri=$(listen_uri $T/r.err)
vfiomig save "sim:a,pf=$SRC,vf=1" --to "$uri" --no-progress >$T/s.out 2>&1
src_rc=$?
wait $rpid; dst_rc=$?
tap_check "restore --no-vf-config takes it anyway (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 00
grep -q "ignored (--no-vf-config)" $T/r.out || { tap_fail "the restore report says ignored"; tap_diag "$(cat $T/r.out)"; }

# ---- a setting the destination refuses: its old settings come back ----
# netdevsim refuses VF rates in switchdev mode (rates move to devlink rate objects)
vfiomig vf set "$SRC" 1 max-rate 100 >/dev/null 2>&1
vfiomig vf set "$DST" 3 mac 02:00:00:00:00:03 >/dev/null 2>&1
if vfiomig vf eswitch "$DST" switchdev >/dev/null 2>&1; then
	before=$(settings "$DST" 3)
	vfiomig restore "sim:x,pf=$DST,vf=3" --from tcp://127.0.0.1:0 >$T/r.out 2>$T/r.err &
	rpid=$!
	uri=$(listen_uri $T/r.err)
	vfiomig save "sim:a,pf=$SRC,vf=1" --to "$uri" --no-progress >$T/s.out 2>&1
	src_rc=$?
	wait $rpid; dst_rc=$?
	# EOPNOTSUPP from the PF: 'not supported' (exit 4) on both ends
	tap_check "a refused setting fails the migration (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 44
	grep -q "applying the VF network settings" $T/s.out ||
		{ tap_fail "the source hears why"; tap_diag "$(cat $T/s.out)"; }
	grep -q "running again" $T/s.out || { tap_fail "the source devices run again"; tap_diag "$(cat $T/s.out)"; }
	after=$(settings "$DST" 3)
	tap_diag "destination VF 3 before: $before"
	tap_diag "destination VF 3 after:  $after"
	tap_check "the destination VF has its old settings back" test "$before" = "$after"
	vfiomig vf eswitch "$DST" legacy >/dev/null 2>&1
else
	tap_skip "cannot switch $DST to switchdev (no devlink eswitch support here)"
fi
tap_done
