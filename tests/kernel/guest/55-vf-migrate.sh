#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# VF network settings travel with a migration: save -> TCP -> restore of devices that
# stand for netdevsim VFs (simulated migration state, real PF netdevs and rtnetlink),
# the settings read back on the destination VF; a destination that is no network VF
# is refused before anything stops; a destination PF that refuses a setting gets its
# old settings back and the devices are reset.  Through vfiomigd: the daemon holds
# CAP_NET_ADMIN permitted but not effective, raises it in the job thread only to write
# the settings (as root and as user nobody); --no-net-admin drops it, and a restore
# that must write says why it cannot.

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
: >$T/r.err # listen_uri must not see the last run's "listening on"
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
: >$T/r.err # listen_uri must not see the last run's "listening on"
vfiomig restore sim:y --from tcp://127.0.0.1:0 >$T/r.out 2>$T/r.err &
rpid=$!
uri=$(listen_uri $T/r.err)
vfiomig save "sim:a,pf=$SRC,vf=1" --to "$uri" --no-progress >$T/s.out 2>&1
src_rc=$?
wait $rpid; dst_rc=$?
tap_check "a destination that is no network VF is refused (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 55
grep -q "cannot take the VF network settings" $T/s.out || { tap_fail "the reason says why"; tap_diag "$(cat $T/s.out)"; }
: >$T/r.err # listen_uri must not see the last run's "listening on"
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
	: >$T/r.err # listen_uri must not see the last run's "listening on"
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
# ---- through vfiomigd: CAP_NET_ADMIN only while the settings are written ----
# caps PID FIELD: the hex mask of FIELD (CapEff, CapPrm) in /proc/PID/status
caps() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"; }
# thread_caps PID FIELD: FIELD of every thread, one a line
thread_caps() { for t in /proc/"$1"/task/*; do sed -n "s/^$2:[[:space:]]*//p" "$t/status"; done; }
NET_ADMIN=0000000000001000 NONE=0000000000000000
# through_daemon NAME SOCKET DAEMON_PID SRC_VF DST_VF PORT: a CLI save to a restore
# run by the daemon; sets src_rc, dst_rc; $T/NAME.{s,r}.out
through_daemon() {
	vfiomig --connect="$2" restore "sim:d$5,pf=$DST,vf=$5" --from "tcp://127.0.0.1:$6" \
		>"$T/$1.r.out" 2>&1 &
	rpid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q "listening on" "$T/$1.r.out"; do sleep 0.1; i=$((i + 1)); done
	# the job thread exists now, waiting for its source: it holds nothing
	waiting_caps=$(thread_caps "$3" CapEff | sort -u | tr '\n' ' ')
	vfiomig save "sim:s$4,pf=$SRC,vf=$4" --to "tcp://127.0.0.1:$6" --no-progress >"$T/$1.s.out" 2>&1
	src_rc=$?
	wait $rpid; dst_rc=$?
}

vfiomig vf set "$DST" 0 mac 02:00:00:00:0d:00 vlan 0 >/dev/null 2>&1
vfiomig vf set "$SRC" 0 mac 02:00:00:00:05:00 vlan 42 trust on >$T/set 2>&1
tap_check "set the source VF 0's settings" test $? = 0
if ! command -v vfiomigd >/dev/null; then
	tap_skip "vfiomigd not in the guest"; tap_done; exit $?
fi
DS=$T/d.sock
vfiomigd --socket $DS 2>$T/d.log &
dpid=$!
if daemon_up $DS; then
	prm=$(caps $dpid CapPrm) eff=$(caps $dpid CapEff)
	tap_check "vfiomigd as root: CAP_NET_ADMIN permitted ($prm), nothing effective ($eff)" \
		test "$prm" = $NET_ADMIN -a "$eff" = $NONE
	through_daemon root $DS $dpid 0 0 4460
	tap_check "while its restore job waits, no thread of the daemon has a capability ($waiting_caps)" \
		test "$waiting_caps" = "$NONE "
	tap_check "save -> TCP -> restore through the daemon (exits $src_rc/$dst_rc)" test "$src_rc$dst_rc" = 00
	grep -q "VF network settings applied: mac,vlan,trust" $T/root.r.out ||
		{ tap_fail "the daemon's restore report says applied"; tap_diag "$(cat $T/root.r.out)"; }
	src_set=$(settings "$SRC" 0); dst_set=$(settings "$DST" 0)
	tap_diag "source VF 0: $src_set"
	tap_diag "destination VF 0: $dst_set"
	case "$dst_set" in *02:00:00:00:05:00*) mac=yes ;; *) mac=no ;; esac
	tap_check "the daemon wrote the source VF's settings to the destination VF (MAC: $mac)" \
		test "$mac" = yes -a "$src_set" = "$dst_set"
	grep -q "CAP_NET_ADMIN raised" $T/d.log && grep -q "CAP_NET_ADMIN lowered" $T/d.log
	tap_check "the job thread raised CAP_NET_ADMIN for the write and lowered it" test $? = 0
	after=$(thread_caps $dpid CapEff | sort -u | tr '\n' ' ')
	tap_check "afterwards no thread of the daemon has a capability ($after)" test "$after" = "$NONE "
	tap_check "and CAP_NET_ADMIN is still permitted" test "$(caps $dpid CapPrm)" = $NET_ADMIN
else
	tap_fail "vfiomigd answers"; tap_diag "$(cat $T/d.log)"
fi
kill $dpid 2>/dev/null; wait $dpid 2>/dev/null

# as uid 65534 (nobody): the permitted right survives the change of user
vfiomigd --socket $DS --user 65534 2>$T/u.log &
dpid=$!
if daemon_up $DS; then
	prm=$(caps $dpid CapPrm)
	uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$dpid/status)
	tap_check "vfiomigd --user 65534: uid $uid, CAP_NET_ADMIN permitted ($prm)" \
		test "$uid" = 65534 -a "$prm" = $NET_ADMIN
	vfiomig vf set "$DST" 1 mac 02:00:00:00:0d:01 vlan 0 trust off >/dev/null 2>&1
	vfiomig vf set "$SRC" 2 mac 02:00:00:00:05:02 vlan 43 >/dev/null 2>&1
	through_daemon user $DS $dpid 2 1 4461
	tap_check "an unprivileged daemon restores and writes the VF settings (exits $src_rc/$dst_rc)" \
		test "$src_rc$dst_rc" = 00
	src_set=$(settings "$SRC" 2); dst_set=$(settings "$DST" 1)
	case "$dst_set" in *02:00:00:00:05:02*) mac=yes ;; *) mac=no ;; esac
	tap_check "the destination VF 1 has source VF 2's settings (MAC: $mac)" \
		test "$mac" = yes -a "$src_set" = "$dst_set"
	[ "$src_set" = "$dst_set" ] || tap_diag "$(cat $T/user.r.out $T/u.log)"
else
	tap_fail "vfiomigd --user 65534 answers"; tap_diag "$(cat $T/u.log)"
fi
kill $dpid 2>/dev/null; wait $dpid 2>/dev/null

# --no-net-admin: nothing permitted; a restore that must write fails and says why
vfiomigd --socket $DS --no-net-admin 2>$T/n.log &
dpid=$!
if daemon_up $DS; then
	prm=$(caps $dpid CapPrm)
	tap_check "vfiomigd --no-net-admin: nothing permitted ($prm)" test "$prm" = $NONE
	vfiomig vf set "$SRC" 0 mac 02:00:00:00:05:99 >/dev/null 2>&1
	before=$(settings "$DST" 0)
	through_daemon none $DS $dpid 0 0 4462
	tap_check "a restore that must write VF settings fails (exits $src_rc/$dst_rc)" \
		test "$src_rc" != 0 -a "$dst_rc" != 0
	grep -q "holds no CAP_NET_ADMIN" $T/none.r.out && grep -q "holds no CAP_NET_ADMIN" $T/none.s.out
	tap_check "both ends say the daemon holds no CAP_NET_ADMIN" test $? = 0
	tap_diag "destination: $(grep -i 'error\|fail' $T/none.r.out | head -n 2)"
	grep -q "running again" $T/none.s.out || { tap_fail "the source devices run again"; tap_diag "$(cat $T/none.s.out)"; }
	tap_check "the destination VF 0 keeps its settings" test -n "$before" -a "$(settings "$DST" 0)" = "$before"
else
	tap_fail "vfiomigd --no-net-admin answers"; tap_diag "$(cat $T/n.log)"
fi
kill $dpid 2>/dev/null; wait $dpid 2>/dev/null
tap_done
