#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vfiomig soak on real mtty devices: 200 migrations between two mtty-2 mdevs (A -> B,
# B -> A, ... each a save and restore with COMMIT and verdict over a socketpair), the
# UART state that vfm-mtty put into A checked on A at the end (even count: the state
# is back on A, which runs); descriptors and memory did not grow; the whole soak
# timed (it must stay well under a minute of TCG guest time).  Then a short soak of
# one device through memory with --trace (its cycles and verdicts counted), and the
# state checked again.
# vfm-mtty plays the VMM: it holds A and hands it to vfiomig as fd:N; B is opened by
# vfiomig itself.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig or vfm-mtty not in the guest"; tap_done; exit $?
fi
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2
T=/tmp/vfm-soak; mkdir -p $T
# ASan's quarantine holds freed memory (256 MiB by default): RSS would grow by the
# jobs' freed buffers and the soak's memory check would fail on an ASan build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
export ASAN_OPTIONS

N=${SOAK_CYCLES:-200}
t0=$(date +%s)
# ASan's allocator took 5.8 MiB at once, once, in a 400-cycle run in the guest (then
# flat): 16 MiB of slack keeps that from failing a run; a leak of more than about
# 80 KiB a cycle still fails it within 200 cycles.
vfm-mtty --set --check --state RUNNING "$A" -- vfiomig soak @0 "$B" --cycles "$N" \
	--rss-slack 16 >$T/out 2>$T/err
rc=$?
t1=$(date +%s)
tap_check "soak: $N cycles between two mtty-2 mdevs, exit 0 (got $rc)" test $rc = 0 ||
	{ tap_diag "$(cat $T/out)"; tap_diag "$(tail -5 $T/err)"; }
tap_relay "after $N cycles" $T/out
tap_check "the summary: $N cycles, $N passed, 0 failed" \
	grep -q "^soak $A <-> $B: $N cycles, $N passed, 0 failed in " $T/out ||
	tap_diag "$(cat $T/out)"
tap_check "a progress line per cycle on stderr, alternating" \
	test "$(grep -c "^soak: cycle [0-9]*/$N .*: ok, downtime " $T/err)" = "$N"
grep -q "^soak: cycle 2/$N $B -> $A: ok" $T/err || tap_diag "$(head -3 $T/err)"
tap_check "mtty-2 moves its 96-byte image each cycle (plus the stream's framing)" \
	grep -q "^soak: cycle 1/$N $A -> $B: ok, downtime [0-9.]* ms, [0-9]* bytes" $T/err
tap_check "descriptors did not grow" grep -q "^  descriptors: .*: ok$" $T/out
tap_check "memory did not grow" grep -q "^  memory: VmRSS .*: ok$" $T/out
tap_check "soak took $((t1 - t0)) s of guest time (under 60)" test $((t1 - t0)) -lt 60
tap_diag "$(grep -E '^(soak |  downtime|  throughput|  descriptors|  memory)' $T/out)"

# ---- one device, through memory ----
vfm-mtty --set --check --state RUNNING "$A" -- vfiomig -j soak @0 --cycles 20 \
	--trace $T/one.json >$T/one.out 2>$T/one.err
rc=$?
tap_json vfiomig-soak $T/one.out
tap_check "soak of one mtty device through memory: 20 cycles, exit 0 (got $rc)" test $rc = 0 ||
	tap_diag "$(tail -3 $T/one.err)"
tap_relay "one device" $T/one.out
tap_check "--json: success, 20 passed" \
	grep -q '"passed":20,"failed":0,.*"success":true}}$' $T/one.out ||
	tap_diag "$(grep '^{' $T/one.out | cut -c1-600)"
# its trace (grep: no python in the guest): a span per cycle, a save and a restore
# verdict per cycle, the device's track
tap_check "--trace: 20 cycle spans, 40 verdicts (20 saves, 20 restores), all ok, whole" \
	test "$(grep -c '"cat":"cycle".*"result":"ok"' $T/one.json)" = 20 -a \
	"$(grep -c '"name":"verdict: ok"' $T/one.json)" = 40 -a \
	"$(grep -c '"name":"verdict: failed' $T/one.json)" = 0 -a \
	"$(grep -c "\"thread_name\".*\"name\":\"$A\"" $T/one.json)" = 1 ||
	tap_diag "$(grep -c '"cat":"cycle"' $T/one.json) cycles, $(tail -c 200 $T/one.json)"
tap_check "--trace: ended whole" grep -q '"truncated":false' $T/one.json
tap_done; exit $?
