#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig soak on simulated devices: 50 cycles between two devices with sane figures
# (text, --json read by jq, --format junit read by python3's xml.etree), one device
# through memory, a save that fails at cycle K (fail-save) and a restore that fails,
# --keep-going, --duration, SIGINT, usage errors, devices of different types refused
# before the first cycle.  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-soak.sh PATH-TO-vfiomig}
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# ASan keeps freed memory in quarantine (256 MiB by default): RSS would grow by the
# jobs' freed buffers, cycle after cycle, and the soak's memory check would fail.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

if ! command -v jq >/dev/null || ! command -v python3 >/dev/null; then
	skip "soak" "jq or python3 missing"
	tap_end
	exit
fi

# run NAME ARGS...: stdout to $tmp/NAME.out, stderr to $tmp/NAME.err, exit in rc_NAME
run() {
	local name=$1; shift
	"$VFIOMIG" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	printf -v "rc_$name" %d $?
	# -j, --json, --format json: checked against schema/ (tap.sh)
	if jwants_json "$@"; then jvalid "$(jkind "$VFIOMIG" "$@")" "$tmp/$name.out" "$*"; fi
}
# want DESC JQ-EXPR FILE: the expression is true of the document
want() {
	if jq -e "$2" "$3" >/dev/null 2>&1; then ok "$1"; else nok "$1" "jq: $2" "$(head -c 3000 "$3")"; fi
}

# ---- 50 cycles, text ----
run t50 soak sim:a sim:b --cycles 50
# shellcheck disable=SC2154
[ "$rc_t50" = 0 ] && ok "50 cycles between two sim devices: exit 0" ||
	nok "50 cycles: exit $rc_t50" "$(cat "$tmp/t50.out" "$tmp/t50.err")"
grep -q '^soak sim:a <-> sim:b: 50 cycles, 50 passed, 0 failed in [0-9.]* s ([0-9.]* cycles/s)$' "$tmp/t50.out" &&
	ok "text summary: 50 cycles, 50 passed" || nok "text summary" "$(cat "$tmp/t50.out")"
grep -qE '^  downtime: +p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms$' "$tmp/t50.out" &&
	grep -qE '^  throughput: p50 [0-9.]+ [KMG]?i?B/s, p99 ' "$tmp/t50.out" &&
	ok "text: downtime and throughput p50/p99/max" || nok "text figures" "$(cat "$tmp/t50.out")"
grep -qE '^  descriptors: [0-9]+ after cycle 10, [0-9]+ after cycle 50 \(no growth allowed\): ok$' "$tmp/t50.out" &&
	grep -qE '^  memory: VmRSS [0-9]+ KiB after cycle 10, [0-9]+ KiB after cycle 50 \(at most [0-9]+ KiB more allowed\): ok$' "$tmp/t50.out" &&
	ok "text: descriptors and memory did not grow (cycle 10 -> 50)" || nok "text resources" "$(cat "$tmp/t50.out")"
[ "$(grep -c '^soak: cycle [0-9]*/50 sim:[ab] -> sim:[ab]: ok, downtime [0-9.]* ms, 4128 bytes' "$tmp/t50.err")" = 50 ] &&
	grep -q '^soak: cycle 1/50 sim:a -> sim:b: ok' "$tmp/t50.err" &&
	grep -q '^soak: cycle 2/50 sim:b -> sim:a: ok' "$tmp/t50.err" &&
	ok "a progress line per cycle on stderr, alternating A -> B, B -> A" ||
	nok "progress lines" "$(head -5 "$tmp/t50.err")"

# ---- 50 cycles, JSON ----
run j50 soak -j sim:a sim:b --cycles 50
[ "$rc_j50" = 0 ] && ok "--json: exit 0" || nok "--json: exit $rc_j50" "$(cat "$tmp/j50.err")"
want "--json: 50 cycles, all passed, a summary that says success" \
	'(.cycles | length) == 50 and ([.cycles[] | select(.success)] | length) == 50 and
	 .summary.cycles == 50 and .summary.passed == 50 and .summary.failed == 0 and
	 .summary.success == true and .summary.interrupted == false and .summary.failures == []' \
	"$tmp/j50.out"
want "--json: cycles alternate A -> B, B -> A and each moves the 4128-byte image" \
	'[.cycles[] | select((.cycle % 2 == 1) == (.from == "sim:a" and .to == "sim:b"))] | length == 50' \
	"$tmp/j50.out"
want "--json: every cycle 4128 bytes, downtime > 0, downtime <= elapsed, throughput > 0" \
	'all(.cycles[]; .total_bytes == 4128 and .downtime_usec > 0 and .downtime_usec <= .elapsed_usec and .throughput_bytes_per_second > 0)' \
	"$tmp/j50.out"
want "--json: p50 <= p99 <= max for downtime and throughput, max is the largest cycle's" \
	'.summary.downtime_usec as $d | .summary.throughput_bytes_per_second as $t |
	 $d.p50 > 0 and $d.p50 <= $d.p99 and $d.p99 <= $d.max and $d.max == ([.cycles[].downtime_usec] | max) and
	 $t.min <= $t.p50 and $t.p50 <= $t.p99 and $t.p99 <= $t.max and $t.max == ([.cycles[].throughput_bytes_per_second] | max)' \
	"$tmp/j50.out"
want "--json: resources measured from cycle 10, no growth" \
	'.summary.resources | .measured and .baseline_cycle == 10 and .grew == false and
	 .fds_last <= .fds_baseline and .fd_growth_allowed == 0 and .rss_growth_allowed_bytes >= 8192 * 1024' \
	"$tmp/j50.out"
[ "$(jq '.summary.downtime_usec.p50' "$tmp/j50.out")" -lt 1000000 ] &&
	ok "--json: downtime p50 under a second on the sim ($(jq '.summary.downtime_usec.p50' "$tmp/j50.out") us)" ||
	nok "downtime p50" "$(jq -c .summary "$tmp/j50.out")"

# ---- one device through memory ----
run one soak sim:solo --cycles 20 --format json
[ "$rc_one" = 0 ] && want "one device: 20 save/restore cycles through memory pass" \
	'.summary.passed == 20 and all(.cycles[]; .from == "sim:solo" and .to == "sim:solo" and .total_bytes == 4128)' \
	"$tmp/one.out" || nok "one device: exit $rc_one" "$(cat "$tmp/one.err")"

# ---- a save that fails at cycle K ----
# sim:a is the source of cycles 1, 3, 5, 7...: its 4th save session is cycle 7's
run k7 soak sim:a,fail-save=4 sim:b --cycles 50
[ "$rc_k7" = 1 ] && ok "fail-save=4 on A: exit 1" || nok "fault at cycle 7: exit $rc_k7" "$(cat "$tmp/k7.err")"
grep -q '^soak: cycle 7/50 sim:a -> sim:b: FAILED (save, phase precopy): sim:a: .*Input/output error' "$tmp/k7.err" &&
	! grep -q '^soak: cycle 8/' "$tmp/k7.err" &&
	ok "cycle 7 reported FAILED with its side, phase and message; the soak stopped there" ||
	nok "cycle 7 line" "$(tail -3 "$tmp/k7.err")"
grep -q '^soak sim:a <-> sim:b: 7 cycles, 6 passed, 1 failed' "$tmp/k7.out" &&
	grep -q '^  failed: cycle 7 (save, phase precopy): sim:a: ' "$tmp/k7.out" &&
	ok "text summary names cycle 7, the save side and phase precopy" || nok "summary of the fault" "$(cat "$tmp/k7.out")"
run k7j soak sim:a,fail-save=4 sim:b --cycles 50 --json
[ "$rc_k7j" = 1 ] && want "--json: the failure of cycle 7: save, precopy, sim:a, EIO; 6 cycles before it passed" \
	'.summary.failures == [.cycles[6] | {cycle, side, phase, device, arc, error}] and
	 (.summary.failures[0] | .cycle == 7 and .side == "save" and .phase == "precopy" and
	  .device == "sim:a" and .error.errno_name == "EIO" and .error.errno == 5 and
	  (.error.message | test("Input/output error")))' \
	"$tmp/k7j.out" || nok "--json fault: exit $rc_k7j" "$(cat "$tmp/k7j.err")"
want "--json: success false, 7 cycles, the first 6 passed" \
	'.summary.success == false and (.cycles | length) == 7 and ([.cycles[:6][] | .success] | all) and .cycles[6].success == false' \
	"$tmp/k7j.out"

# without precopy the same fault shows in stop-copy
run k7n soak sim:a,fail-save=4 sim:b --cycles 50 --json --no-precopy
want "--no-precopy: the fault at cycle 7 is in phase stop-copy" \
	'.summary.failures[0] | .cycle == 7 and .phase == "stop-copy"' "$tmp/k7n.out"

# --keep-going: B's 2nd save (cycle 4) fails, the state stays on B (its save rolled
# back), so cycle 5 is B -> A again; every other cycle passes
run kg soak sim:a sim:b,fail-save=2 --cycles 12 --keep-going --json
[ "$rc_kg" = 1 ] && want "--keep-going: 12 cycles, only cycle 4 failed, cycle 5 repeats B -> A, then alternating" \
	'.summary.cycles == 12 and .summary.failed == 1 and .summary.failures[0].cycle == 4 and
	 .cycles[3].from == "sim:b" and .cycles[4].from == "sim:b" and .cycles[4].success and
	 .cycles[5].from == "sim:a" and .cycles[11].from == "sim:a"' "$tmp/kg.out" ||
	nok "--keep-going: exit $rc_kg" "$(cat "$tmp/kg.err")"

# a restore that fails: the destination's side, phase and arc are reported
run rs soak sim:a sim:b,fail-arc=RESUMING:STOP:EINVAL --cycles 5 --json
[ "$rc_rs" = 1 ] && want "a restore fault: cycle 1, the restore side, sim:b, arc RESUMING -> STOP" \
	'.summary.failures[0] | .cycle == 1 and .side == "restore" and .device == "sim:b" and .arc == "RESUMING -> STOP" and .error.errno_name == "EINVAL"' \
	"$tmp/rs.out" || nok "restore fault: exit $rc_rs" "$(cat "$tmp/rs.err")"

# ---- junit ----
run ju soak sim:a sim:b,fail-save=2 --cycles 8 --keep-going --format junit
python3 - "$tmp/ju.out" >"$tmp/ju.py" 2>&1 <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1
cases = suites[0].findall("testcase")
assert len(cases) == 9, len(cases)                      # 8 cycles + the resource check
assert root.get("tests") == "9" and root.get("failures") == "1", root.attrib
failed = [c for c in cases if c.find("failure") is not None]
assert [c.get("name") for c in failed] == ["cycle 4: sim:b -> sim:a"], [c.get("name") for c in failed]
f = failed[0].find("failure")
assert f.get("type") == "EIO" and "save, phase precopy" in f.get("message"), f.attrib
assert "Input/output error" in f.text
assert cases[-1].get("name") == "descriptors and memory" and cases[-1].find("failure") is None
assert all(float(c.get("time")) >= 0 for c in cases)
print("ok")
EOF
[ "$rc_ju" = 1 ] && [ "$(cat "$tmp/ju.py")" = ok ] &&
	ok "junit: xml.etree reads 8 cycle testcases and the resource check, cycle 4 failed with its message" ||
	nok "junit (exit $rc_ju)" "$(cat "$tmp/ju.py")" "$(head -c 2000 "$tmp/ju.out")"

# ---- --duration, SIGINT ----
start=$(date +%s)
run dur soak sim:a sim:b --duration 1 --json
end=$(date +%s)
[ "$rc_dur" = 0 ] && [ $((end - start)) -le 10 ] && want "--duration 1: cycles for about a second, all passed" \
	'.summary.cycles >= 1 and .summary.failed == 0 and .summary.elapsed_usec >= 1000000' "$tmp/dur.out" ||
	nok "--duration: exit $rc_dur after $((end - start)) s" "$(tail -3 "$tmp/dur.err")"

"$VFIOMIG" soak sim:a,arc-usec=20000 sim:b,arc-usec=20000 --cycles 1000 --json >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 100); do grep -q '^soak: cycle 2/' "$tmp/int.err" && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
[ "$rc" = 130 ] && want "SIGINT: the cycle under way ends, the report says interrupted, exit 130" \
	'.summary.interrupted == true and .summary.success == false and .summary.failed == 0 and
	 .summary.cycles >= 2 and .summary.cycles < 1000 and all(.cycles[]; .success)' "$tmp/int.out" ||
	nok "SIGINT: exit $rc" "$(tail -3 "$tmp/int.err")"
jvalid vfiomig-soak "$tmp/int.out" "soak interrupted by SIGINT"

# ---- usage and devices ----
for args in "--cycles 0" "--cycles 1000001" "--cycles 5 --duration 5" "--duration 0" \
	"--format tap" "--timeout x" "--format junit -j"; do
	# shellcheck disable=SC2086
	run u soak sim:a sim:b $args
	[ "$rc_u" = 2 ] && ok "usage error: $args -> exit 2" || nok "usage: $args -> exit $rc_u" "$(cat "$tmp/u.err")"
done
run u soak
[ "$rc_u" = 2 ] && ok "no device: exit 2" || nok "no device: exit $rc_u"
run u soak sim:a sim:b sim:c
[ "$rc_u" = 2 ] && ok "three devices: exit 2" || nok "three devices: exit $rc_u"
run u soak sim:a sim:a
[ "$rc_u" = 2 ] && grep -q 'named twice' "$tmp/u.err" && ok "the same device twice: exit 2" ||
	nok "same device twice: exit $rc_u" "$(cat "$tmp/u.err")"
run u soak sim:a 'sim:bad name'
[ "$rc_u" = 3 ] && ok "a device that does not open: exit 3" || nok "bad device: exit $rc_u" "$(cat "$tmp/u.err")"
# devices of different types: refused before the first cycle, naming both and what
# differs, with the exit code of an incompatible destination (5); nothing migrated
types() { # DESC A B WANT
	run u soak "$2" "$3" --cycles 3
	if [ "$rc_u" = 5 ] && [ ! -s "$tmp/u.out" ] && ! grep -q '^soak: cycle' "$tmp/u.err" &&
		grep -q "^vfiomig: soak: ${2%%,*} and ${3%%,*} are not of the same type ($4): a state cannot move between them$" "$tmp/u.err"; then
		ok "different $1: refused before any cycle, exit 5, both devices named"
	else
		nok "different $1: exit $rc_u" "$(cat "$tmp/u.out" "$tmp/u.err")"
	fi
}
types "mdev types" sim:a,type=mtty-1 sim:b,type=mtty-2 "mdev type 'mtty-1' and 'mtty-2'"
types "migration flags" sim:a sim:b,flags=stop-copy+p2p "migration flags stop-copy,p2p,pre-copy and stop-copy,p2p"
types "device IDs" sim:a,device=0x1234 sim:b,device=0x1235 "device ID 1234 and 1235"
types "drivers" sim:a,driver=mlx5_vfio_pci sim:b,driver=vfio-pci "driver mlx5_vfio_pci and vfio-pci"
run u soak -j sim:a,vendor=0x10de sim:b,vendor=0x8086 --cycles 3
[ "$rc_u" = 5 ] && want "different vendors, -j: the error document names both devices, EREMOTEIO, exit 5" \
	'.error.exit == 5 and .error.errno_name == "EREMOTEIO" and (.error.message | test("sim:a and sim:b .*vendor 10de and 8086"))' "$tmp/u.out" ||
	nok "different vendors: exit $rc_u" "$(cat "$tmp/u.out" "$tmp/u.err")"
run u soak sim:a,type=mtty-2 sim:b,type=mtty-2 --cycles 2
[ "$rc_u" = 0 ] && ok "the same type given explicitly on both: the soak runs" || nok "same type: exit $rc_u" "$(cat "$tmp/u.err")"
tap_end
