#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# examples/vmm-client.py, the Python (standard library) client of vfiomigd: a save
# whose stream file it opens and hands over (SCM_RIGHTS), the quiesced event
# acknowledged with "continue", the report read from the "finished" event; the image
# it wrote restores into devices that check the data; a refused save says why; with
# --dirty, the devices' DMA dirty bitmaps read through a sealed memfd when quiesced.
set -u
VFIOMIG=${1:?usage: test-vmm-client.sh PATH-TO-vfiomig PATH-TO-vfiomigd EXAMPLE}
VFIOMIGD=${2:?}
CLIENT=${3:?}
. "$(dirname "$0")/../tap.sh"
PY=$(command -v python3) || { echo "1..0 # SKIP no python3"; exit 0; }
"$PY" -c 'import socket; socket.send_fds' 2>/dev/null ||
	{ echo "1..0 # SKIP python3 before 3.9 (no socket.send_fds)"; exit 0; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
T() { timeout -k 5 60 "$@"; }

S=$tmp/d.sock
"$VFIOMIGD" --socket "$S" 2>"$tmp/d.log" &
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.05; done

T "$PY" "$CLIENT" "$S" --to "$tmp/img" sim:a,seed=5,size=200K sim:b,seed=6 >"$tmp/out" 2>"$tmp/err"
rc=$?
jvalid vfiomigd-event "$tmp/out" "the finished event vmm-client.py prints"
if [ $rc = 0 ] && grep -q "quiesced (sim:a, sim:b): vCPUs stopped, continuing" "$tmp/err" &&
	[ "$(jq -r '.event + " " + .state + " " + (.devices | length | tostring)' "$tmp/out" 2>/dev/null)" = "finished succeeded 2" ]; then
	ok "vmm-client.py: save with the stream handed over, quiesced acknowledged, the report from 'finished'"
else
	nok "vmm-client.py save" "exit $rc" "stdout: $(cat "$tmp/out")" "stderr: $(cat "$tmp/err")"
fi
T "$VFIOMIG" restore sim:x,size=200K,expect-seed=5 sim:y,expect-seed=6 --from "file:$tmp/img" \
	>"$tmp/r.out" 2>&1
rc=$?
[ $rc = 0 ] && ok "the image it wrote restores into devices that check every byte" ||
	nok "restore of the client's image" "exit $rc: $(cat "$tmp/r.out")"

T "$PY" "$CLIENT" "$S" --to "$tmp/img2" sim:a "not a device" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] && grep -q "save refused: " "$tmp/err" && ok "a refused save: exit 1, the daemon's reason" ||
	nok "refused save" "exit $rc: $(cat "$tmp/err")"

# --dirty: the devices attached, DMA dirty logging over 1 MiB at 0x100000 (pages 256..511
# in 4K pages), read into a sealed memfd when quiesced.  sim:c dirties n % 4 == 0 in its
# first write: pages 0, 4, 8... of the range, 0x11 in every byte; sim:d never dirties.
T "$PY" "$CLIENT" "$S" --to "$tmp/img3" --dirty 0x100000:0x100000 sim:c,dma-dirty=4,seed=7 sim:d \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
want_c="vmm-client: sim:c: dirty 64 of 256 pages, bitmap $(printf '11%.0s' $(seq 32))"
want_d="vmm-client: sim:d: dirty 0 of 256 pages, bitmap $(printf '00%.0s' $(seq 32))"
if [ $rc = 0 ] && grep -qx "$want_c" "$tmp/err" && grep -qx "$want_d" "$tmp/err" &&
	[ "$(jq -r '.state' "$tmp/out" 2>/dev/null)" = succeeded ]; then
	ok "vmm-client.py --dirty: the bitmaps read through the memfd when quiesced, bit for bit"
else
	nok "vmm-client.py --dirty" "exit $rc" "want: $want_c" "stdout: $(cat "$tmp/out")" "stderr: $(cat "$tmp/err")"
fi
T "$VFIOMIG" -j --connect="$S" attach sim:c >"$tmp/att" 2>&1
rc=$?
[ $rc = 0 ] && ok "--dirty detached its devices at the end (sim:c attaches again)" ||
	nok "--dirty detached its devices" "exit $rc: $(cat "$tmp/att")"

kill %1 2>/dev/null; wait
grep -qE "runtime error|Sanitizer" "$tmp/d.log" && nok "no sanitizer report from the daemon" "$(cat "$tmp/d.log")" ||
	ok "no sanitizer report from the daemon"
tap_end
