#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --trace and `vfiomig timeline` on simulated devices: the Chrome trace-event JSON of
# a save, a restore (over a socket, with READY and COMMIT), a failed save, a check and
# a soak, read by python3's json module and checked against the commands' own reports
# (precopy rounds per device, bytes counters' last values, arcs, the verdict, the
# downtime); then each drawn by timeline, the SVG parsed by xml.etree and rendered by
# a real renderer (rsvg-convert, librsvg2-bin) to PNG; damaged traces refused with
# their reason; usage errors.  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-trace.sh PATH-TO-vfiomig}
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a copy of the PNGs for a person to look at
KEEP=${VFIOMIG_TRACE_KEEP:-}

if ! command -v python3 >/dev/null || ! command -v jq >/dev/null; then
	skip "trace" "python3 or jq missing"
	tap_end
	exit
fi

# run NAME ARGS...: stdout to $tmp/NAME.out, stderr to $tmp/NAME.err, exit in rc_NAME;
# -j output is checked against schema/ at the end (tap_end)
run() {
	local name=$1; shift
	"$VFIOMIG" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	printf -v "rc_$name" %d $?
	if jwants_json "$@"; then jvalid "$(jkind "$VFIOMIG" "$@")" "$tmp/$name.out" "$*"; fi
}
# py DESC SCRIPT ARGS...: the python3 script prints "ok" or what is wrong
py() {
	local desc=$1 script=$2 out; shift 2
	out=$(python3 -c "$script" "$@" 2>&1)
	[ "$out" = ok ] && ok "$desc" || nok "$desc" "$out"
}

# What every trace must be: the object format, typed fields, named tracks.
COMMON='
import json, sys
def load(path):
    d = json.load(open(path))
    assert isinstance(d, dict) and isinstance(d["traceEvents"], list), "no traceEvents"
    od = d["otherData"]
    assert od["vfiomig_trace"] == 1 and od["truncated"] is False, od
    assert od["events"] == len([e for e in d["traceEvents"] if e["ph"] != "M"]), od
    tracks, pid = {}, None
    for i, e in enumerate(d["traceEvents"]):
        assert e["ph"] in ("X", "i", "C", "M"), (i, e)
        assert isinstance(e["name"], str) and isinstance(e["pid"], int) and isinstance(e["tid"], int), (i, e)
        assert pid is None or e["pid"] == pid, (i, e)
        pid = e["pid"]
        assert isinstance(e.get("args", {}), dict), (i, e)
        if e["ph"] == "M":
            if e["name"] == "thread_name":
                tracks[e["tid"]] = e["args"]["name"]
            continue
        assert isinstance(e["ts"], int) and e["ts"] >= 0, (i, e)
        if e["ph"] == "X":
            assert isinstance(e["dur"], int) and e["dur"] >= 0, (i, e)
        if e["ph"] == "i":
            assert e["s"] == "g", (i, e)
        if e["ph"] == "C":
            assert isinstance(e["args"]["bytes"], int), (i, e)
    ev = [dict(e, track=tracks.get(e["tid"])) for e in d["traceEvents"] if e["ph"] != "M"]
    assert all(e["track"] for e in ev), "an event on a track without a name"
    return sorted(ev, key=lambda e: e["ts"]), set(tracks.values())
def on(ev, track, ph=None, cat=None):
    return [e for e in ev if e["track"] == track and (ph is None or e["ph"] == ph) and (cat is None or e.get("cat") == cat)]
def last_bytes(ev, dev):
    c = [e for e in ev if e["ph"] == "C" and e["name"] == "bytes " + dev]
    assert c, "no bytes counter for " + dev
    return c[-1]["args"]["bytes"]
'

# ---- a save with precopy rounds, into a file ----
SRC=(sim:a,size=1M,dirty=32768,dirty-rounds=3 sim:b,size=256K,dirty=4096,dirty-rounds=2)
run save save "${SRC[@]}" --to "file:$tmp/img" --trace "$tmp/save.json" --chunk 64K -j
# shellcheck disable=SC2154
[ "$rc_save" = 0 ] && ok "save --trace: exit 0" || nok "save --trace: exit $rc_save" "$(cat "$tmp/save.err")"
py "save trace: valid JSON, typed events, tracks save, sim:a, sim:b" "$COMMON
ev, tracks = load(sys.argv[1])
assert tracks == {'save', 'sim:a', 'sim:b'}, tracks
print('ok')" "$tmp/save.json"
py "save trace: per device, one precopy span per round of the report, in order, and one stop-copy read" "$COMMON
ev, _ = load(sys.argv[1]); rep = json.load(open(sys.argv[2]))
n = rep['precopy_rounds']
assert n >= 3, rep
for d in ('sim:a', 'sim:b'):
    pre = on(ev, d, 'X', 'precopy')
    assert [e['name'] for e in pre] == ['precopy round %d' % (k + 1) for k in range(n)], (d, [e['name'] for e in pre], n)
    assert len(on(ev, d, 'X', 'stop-copy')) == 1, d
print('ok')" "$tmp/save.json" "$tmp/save.out"
py "save trace: each device's last bytes counter and its reads' bytes are the report's bytes" "$COMMON
ev, _ = load(sys.argv[1]); rep = json.load(open(sys.argv[2]))
for dev in rep['devices']:
    want = dev['precopy_bytes'] + dev['stopcopy_bytes']
    assert last_bytes(ev, dev['device']) == want, (dev['device'], last_bytes(ev, dev['device']), want)
    reads = on(ev, dev['device'], 'X', 'precopy') + on(ev, dev['device'], 'X', 'stop-copy')
    assert sum(e['args']['bytes'] for e in reads) == want, dev['device']
    assert on(ev, dev['device'], 'X', 'stop-copy')[0]['args']['bytes'] == dev['stopcopy_bytes'], dev['device']
print('ok')" "$tmp/save.json" "$tmp/save.out"
py "save trace: counters bounded (at most one per device per 20 ms, plus each read's last)" "$COMMON
ev, _ = load(sys.argv[1])
span = ev[-1]['ts'] - ev[0]['ts']
for d in ('sim:a', 'sim:b'):
    c = [e for e in ev if e['ph'] == 'C' and e['name'] == 'bytes ' + d]
    reads = len(on(ev, d, 'X', 'precopy')) + len(on(ev, d, 'X', 'stop-copy'))
    assert 0 < len(c) <= span // 20000 + reads + 2, (d, len(c), span, reads)
    assert [e['args']['bytes'] for e in c] == sorted(e['args']['bytes'] for e in c), d
print('ok')" "$tmp/save.json"
py "save trace: arcs per device RUNNING -> PRE_COPY -> PRE_COPY_P2P -> STOP_COPY -> STOP" "$COMMON
ev, _ = load(sys.argv[1])
for d in ('sim:a', 'sim:b'):
    arcs = [e['name'] for e in on(ev, d, 'X', 'arc')]
    assert arcs == ['RUNNING -> PRE_COPY', 'PRE_COPY -> PRE_COPY_P2P', 'PRE_COPY_P2P -> STOP_COPY', 'STOP_COPY -> STOP'], (d, arcs)
print('ok')" "$tmp/save.json"
py "save trace: barriers precopy, quiesce, stop-copy; phases in order; one verdict, ok, with the report's downtime" "$COMMON
ev, _ = load(sys.argv[1]); rep = json.load(open(sys.argv[2]))
bar = [e['name'] for e in on(ev, 'save', 'X', 'barrier')]
assert bar == ['barrier: precopy', 'barrier: quiesce', 'barrier: stop-copy'], bar
ph = [e['name'] for e in on(ev, 'save', 'X', 'phase')]
assert ph == ['header', 'precopy', 'quiesce', 'stop-copy', 'verdict'], ph
v = [e for e in ev if e.get('cat') == 'verdict']
assert len(v) == 1 and v[0]['name'] == 'verdict: ok' and v[0]['args']['success'] is True, v
assert v[0]['args']['downtime_usec'] == rep['downtime_usec'], (v, rep['downtime_usec'])
q = on(ev, 'save', 'X', 'phase')[2]
# the window holds the report's downtime and the time the trace took to write (a
# loaded CI machine: well under 20 ms)
assert -2 <= (v[0]['ts'] - q['ts']) - rep['downtime_usec'] <= 20000, (v[0]['ts'] - q['ts'], rep['downtime_usec'])
print('ok')" "$tmp/save.json" "$tmp/save.out"

# ---- over a socket: a restore with its trace, READY and COMMIT on both sides ----
sock=$tmp/s.sock
"$VFIOMIG" restore sim:c,size=512K,write-mbps=50 sim:d --from "unix:$sock" --trace "$tmp/rst.json" -j \
	>"$tmp/rst.out" 2>"$tmp/rst.err" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
run src save sim:c,size=512K,dirty=8192,dirty-rounds=2 sim:d --to "unix:$sock" --trace "$tmp/src.json" -j
wait $pid
rc=$?
jvalid vfiomig-restore "$tmp/rst.out" "restore over a socket with --trace"
[ "$rc_src$rc" = 00 ] && ok "save and restore over a socket with --trace on both: exit 0" ||
	nok "socket migration: save $rc_src restore $rc" "$(cat "$tmp/src.err" "$tmp/rst.err")"
py "restore trace: arcs RUNNING -> RUNNING_P2P -> STOP -> RESUMING -> STOP -> RUNNING_P2P -> RUNNING, write spans, counters at the report's bytes" "$COMMON
ev, tracks = load(sys.argv[1]); rep = json.load(open(sys.argv[2]))
assert tracks == {'restore', 'sim:c', 'sim:d'}, tracks
for dev in rep['devices']:
    d = dev['device']
    arcs = [e['name'] for e in on(ev, d, 'X', 'arc')]
    assert arcs == ['RUNNING -> RUNNING_P2P', 'RUNNING_P2P -> STOP', 'STOP -> RESUMING', 'RESUMING -> STOP', 'STOP -> RUNNING_P2P', 'RUNNING_P2P -> RUNNING'], (d, arcs)
    w = on(ev, d, 'X', 'stop-copy')
    assert w and all(e['name'] == 'stop-copy writes' for e in w), (d, w)
    assert sum(e['args']['bytes'] for e in w) == dev['stopcopy_bytes'], d
    assert sum(e['args']['bytes'] for e in on(ev, d, 'X', 'precopy')) == dev['precopy_bytes'], d
    assert last_bytes(ev, d) == dev['precopy_bytes'] + dev['stopcopy_bytes'], (d, last_bytes(ev, d))
bar = [e['name'] for e in on(ev, 'restore', 'X', 'barrier')]
assert bar == ['barrier: resuming', 'barrier: unquiesce', 'barrier: run'], bar
print('ok')" "$tmp/rst.json" "$tmp/rst.out"
py "READY then COMMIT then the verdict, in both traces; the save's COMMIT after the restore's READY" "$COMMON
s, _ = load(sys.argv[1]); r, _ = load(sys.argv[2])
for ev in (s, r):
    m = [e['name'] for e in ev if e.get('cat') in ('exchange', 'verdict')]
    assert m == ['READY', 'COMMIT', 'verdict: ok'], m
print('ok')" "$tmp/src.json" "$tmp/rst.json"

# ---- a save that fails: the trace still says what happened ----
run bad save sim:a sim:b,fail-arc=PRE_COPY_P2P:STOP_COPY:EIO --to "file:$tmp/bad.img" --trace "$tmp/bad.json"
[ "$rc_bad" = 1 ] && py "failed save: the failed arc with its error, a failed verdict (EIO), the rollback arcs after it" "$COMMON
ev, _ = load(sys.argv[1])
failed = [e for e in on(ev, 'sim:b', 'X', 'arc') if e['args'].get('error')]
assert [(e['name'], e['args']['error']) for e in failed] == [('PRE_COPY_P2P -> STOP_COPY', 'EIO')], failed
v = [e for e in ev if e.get('cat') == 'verdict']
assert len(v) == 1 and v[0]['name'] == 'verdict: failed (EIO)' and v[0]['args']['success'] is False, v
after = [e['name'] for e in on(ev, 'sim:a', 'X', 'arc') if e['ts'] >= v[0]['ts']]
assert after and after[-1].endswith('-> RUNNING'), after
print('ok')" "$tmp/bad.json" || nok "failed save: exit $rc_bad" "$(cat "$tmp/bad.err")"

# ---- check ----
run chk check sim:a sim:b,flags=stop-copy -j --trace "$tmp/check.json"
[ "$rc_chk" = 0 ] && py "check trace: a span per check of the report with its result, arcs, a verdict per device" "$COMMON
ev, tracks = load(sys.argv[1]); rep = json.load(open(sys.argv[2]))
assert tracks == {'sim:a', 'sim:b'}, tracks
for dev in rep['devices']:
    spans = on(ev, dev['device'], 'X', 'check')
    assert len(spans) == len(dev['checks']), (dev['device'], len(spans), len(dev['checks']))
    assert [e['args']['result'] for e in spans] == [c['result'] for c in dev['checks']], dev['device']
    assert len(on(ev, dev['device'], 'X', 'arc')) >= sum(c['check'] == 'arc' for c in dev['checks'])
    assert len(on(ev, dev['device'], 'i', 'verdict')) == 1
print('ok')" "$tmp/check.json" "$tmp/chk.out" || nok "check --trace: exit $rc_chk" "$(cat "$tmp/chk.err")"

# ---- soak ----
run soak soak sim:a sim:b --cycles 5 -j --trace "$tmp/soak.json"
[ "$rc_soak" = 0 ] && py "soak trace: a span per cycle, alternating; a save and a restore verdict per cycle, the save's with the cycle's downtime" "$COMMON
ev, tracks = load(sys.argv[1]); rep = json.load(open(sys.argv[2]))
assert tracks == {'save', 'restore', 'soak', 'sim:a', 'sim:b'}, tracks
cyc = on(ev, 'soak', 'X', 'cycle')
assert [e['name'] for e in cyc] == ['cycle %d: %s -> %s' % (c['cycle'], c['from'], c['to']) for c in rep['cycles']], cyc
sv = [e for e in on(ev, 'save', 'i', 'verdict')]
assert len(sv) == 5 and len(on(ev, 'restore', 'i', 'verdict')) == 5
assert [e['args']['downtime_usec'] for e in sv] == [c['downtime_usec'] for c in rep['cycles']]
print('ok')" "$tmp/soak.json" "$tmp/soak.out" || nok "soak --trace: exit $rc_soak" "$(cat "$tmp/soak.err")"

# ---- timeline: each trace drawn; the SVG parsed and rendered ----
have_rsvg=
command -v rsvg-convert >/dev/null && have_rsvg=1
for t in save rst bad check soak; do
	run tl timeline "$tmp/$t.json" -o "$tmp/$t.svg" -j
	# shellcheck disable=SC2154
	if [ "$rc_tl" != 0 ]; then
		nok "timeline $t: exit $rc_tl" "$(cat "$tmp/tl.err")"
		continue
	fi
	cp "$tmp/tl.out" "$tmp/$t.tl"
	py "timeline $t: an SVG xml.etree reads, with a lane label per track and a legend" '
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("width") == "1200", root.attrib
text = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
tl = json.load(open(sys.argv[2]))
for lane in tl["lanes"]:
    assert lane["lane"] in text, (lane["lane"], text[:20])
assert "Legend" in text and tl["drawn_shape_count"] > 0 and tl["not_drawn_shape_count"] == 0, tl
print("ok")' "$tmp/$t.svg" "$tmp/$t.tl"
	if [ -n "$have_rsvg" ]; then
		if rsvg-convert "$tmp/$t.svg" -o "$tmp/$t.png" 2>"$tmp/rsvg.err" &&
			[ "$(head -c 8 "$tmp/$t.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
			ok "timeline $t: rsvg-convert renders it to PNG ($(stat -c %s "$tmp/$t.png") bytes)"
			[ -n "$KEEP" ] && cp "$tmp/$t.png" "$tmp/$t.svg" "$KEEP/"
		else
			nok "timeline $t: rsvg-convert failed" "$(cat "$tmp/rsvg.err")"
		fi
	fi
done
[ -n "$have_rsvg" ] || skip "rendering the SVGs" "rsvg-convert missing (Debian's librsvg2-bin)"
want_tl() {
	if jq -e "$2" "$3" >/dev/null 2>&1; then ok "$1"; else nok "$1" "jq: $2" "$(head -c 2000 "$3")"; fi
}
d=$(jq .downtime_usec "$tmp/save.out")
want_tl "timeline save --json: the devices, one downtime window holding the report's ($d us)" \
	".devices == [{\"device\": \"sim:a\"}, {\"device\": \"sim:b\"}] and (.downtime_windows | length) == 1 and
	 .downtime_windows[0].reported_downtime_usec == $d and
	 .downtime_windows[0].downtime_usec - $d >= -2 and .downtime_windows[0].downtime_usec - $d <= 20000 and
	 .downtime_windows[0].end_usec <= .duration_usec" "$tmp/save.tl"
want_tl "timeline of a restore: no downtime window (no quiesce there), its two devices" \
	'.devices == [{"device": "sim:c"}, {"device": "sim:d"}] and .downtime_windows == []' "$tmp/rst.tl"
want_tl "timeline of a soak: five downtime windows, each the job's own figure" \
	"(.downtime_windows | length) == 5 and ([.downtime_windows[].reported_downtime_usec] == $(jq -c '[.cycles[].downtime_usec]' "$tmp/soak.out"))" \
	"$tmp/soak.tl"
run w timeline "$tmp/save.json" -o "$tmp/w.svg" --width 800
grep -q '<svg [^>]*width="800"' "$tmp/w.svg" && [ "$rc_w" = 0 ] && ok "timeline --width 800" ||
	nok "--width 800: exit $rc_w" "$(head -c 300 "$tmp/w.svg")"

# B/E pairs and a bare array (the other form of the format) are read too
cat >"$tmp/be.json" <<'EOF'
[{"ph":"M","name":"thread_name","pid":1,"tid":7,"args":{"name":"worker"}},
 {"ph":"B","name":"outer","pid":1,"tid":7,"ts":10},{"ph":"B","name":"inner","pid":1,"tid":7,"ts":20.5},
 {"ph":"E","pid":1,"tid":7,"ts":30},{"ph":"E","pid":1,"tid":7,"ts":90},
 {"ph":"s","name":"flow","pid":1,"tid":7,"ts":40,"id":1},{"ph":"i","name":"mark","pid":1,"tid":7,"ts":50,"s":"t"}]
EOF
run be timeline "$tmp/be.json" -o "$tmp/be.svg" -j
[ "$rc_be" = 0 ] && want_tl "a bare array with B/E pairs: one lane 'worker' with 2 spans" \
	'.lanes == [{"lane":"worker","kind":"other","span_count":2,"arc_count":0,"counter_point_count":0}] and .duration_usec == 80 and .event_count == 7 and .devices == [] and .downtime_windows == []' "$tmp/be.out" ||
	nok "B/E trace: exit $rc_be" "$(cat "$tmp/be.err")"

# ---- damaged traces: refused with the reason ----
bad_trace() { # DESC CONTENT WANT
	printf '%s' "$2" >"$tmp/d.json"
	run d timeline "$tmp/d.json" -o "$tmp/d.svg"
	# shellcheck disable=SC2154
	if [ "$rc_d" = 1 ] && grep -qF -- "$3" "$tmp/d.err" && grep -qF "$tmp/d.json" "$tmp/d.err"; then
		ok "bad trace, $1: exit 1, '$(head -c 120 "$tmp/d.err" | tr -d '\n')'"
	else
		nok "bad trace, $1: exit $rc_d" "want: $3" "got: $(cat "$tmp/d.err")"
	fi
}
bad_trace "not JSON" 'garbage' 'not JSON'
bad_trace "empty" '' 'empty'
bad_trace "cut short" '{"traceEvents":[{"ph":"X"' 'it ends early'
bad_trace "trailing bytes" '{"traceEvents":[]} x' 'something follows'
bad_trace "no traceEvents" '{"events":[]}' 'no "traceEvents" array'
bad_trace "traceEvents not an array" '{"traceEvents":5}' 'no "traceEvents" array'
bad_trace "an event not an object" '{"traceEvents":[7]}' 'event 0 is int, not an object'
bad_trace "ts a string" '{"traceEvents":[{"ph":"X","name":"a","ts":"5","dur":1}]}' 'event 0: "ts" is string, not a number'
bad_trace "no ts" '{"traceEvents":[{"ph":"i","name":"a"}]}' 'event 0: no "ts"'
bad_trace "dur negative" '{"traceEvents":[{"ph":"X","name":"a","ts":5,"dur":-1}]}' '"dur" is negative'
bad_trace "tid a float" '{"traceEvents":[{"ph":"X","name":"a","ts":5,"dur":1,"tid":1.5}]}' '"tid" is double, not an integer'
bad_trace "ph not a letter" '{"traceEvents":[{"ph":"XX","name":"a","ts":5}]}' 'is not one letter'
bad_trace "args not an object" '{"traceEvents":[{"ph":"X","name":"a","ts":5,"dur":1,"args":[]}]}' '"args" is array, not an object'
bad_trace "E without B" '{"traceEvents":[{"ph":"E","ts":5}]}' '"E" without a "B"'
bad_trace "counter not a number" '{"traceEvents":[{"ph":"C","name":"bytes x","ts":5,"args":{"bytes":"1"}}]}' 'is string, not a number'
bad_trace "thread_name without a name" '{"traceEvents":[{"ph":"M","name":"thread_name","args":{}}]}' 'without args.name'
bad_trace "ts out of range" '{"traceEvents":[{"ph":"i","name":"a","ts":1e300}]}' 'out of range'
bad_trace "nothing to draw" '{"traceEvents":[{"ph":"M","name":"process_name","args":{"name":"x"}}]}' 'nothing to draw'
bad_trace "nested too deep" "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"a\",\"ts\":1,\"dur\":1,\"args\":$(printf '[%.0s' $(seq 40))$(printf ']%.0s' $(seq 40))}]}" 'not JSON'
truncate -s 65M "$tmp/big.json"
run big timeline "$tmp/big.json" -o "$tmp/big.svg"
[ "$rc_big" = 1 ] && grep -q 'larger than a trace can be here (64 MiB)' "$tmp/big.err" &&
	ok "a 65 MiB trace: refused before it is read" || nok "big trace: exit $rc_big" "$(cat "$tmp/big.err")"
run nf timeline "$tmp/none.json" -o "$tmp/none.svg"
[ "$rc_nf" = 1 ] && grep -q 'No such file' "$tmp/nf.err" && ok "a missing trace: exit 1" ||
	nok "missing trace: exit $rc_nf" "$(cat "$tmp/nf.err")"
ln -s "$tmp/x.svg" "$tmp/link.svg"
run ln timeline "$tmp/save.json" -o "$tmp/link.svg"
[ "$rc_ln" = 1 ] && grep -q 'symbolic link' "$tmp/ln.err" && [ ! -e "$tmp/x.svg" ] &&
	ok "timeline -o a symbolic link: refused" || nok "-o symlink: exit $rc_ln" "$(cat "$tmp/ln.err")"

# ---- usage ----
for args in "timeline $tmp/save.json" "timeline -o $tmp/u.svg" "timeline $tmp/save.json -o $tmp/u.svg --width 100" \
	"timeline a b -o $tmp/u.svg" "save sim:a --to file:$tmp/u --trace=" "check sim:a --trace=" \
	"soak sim:a --trace="; do
	# shellcheck disable=SC2086
	run u $args
	[ "$rc_u" = 2 ] && ok "usage: $args -> exit 2" || nok "usage: $args -> exit $rc_u" "$(cat "$tmp/u.err")"
done
run u --connect="$tmp/no.sock" save sim:a --to "file:$tmp/u" --trace "$tmp/u.json"
[ "$rc_u" = 2 ] && grep -q 'the job runs in vfiomigd' "$tmp/u.err" && ok "--connect save --trace: exit 2, says why" ||
	nok "--connect --trace: exit $rc_u" "$(cat "$tmp/u.err")"
run nd save sim:a --to "file:$tmp/nd.img" --trace "$tmp/no/such/dir/t.json"
[ "$rc_nd" = 1 ] && grep -q "trace $tmp/no/such/dir/t.json: No such file" "$tmp/nd.err" && [ ! -e "$tmp/nd.img" ] &&
	ok "--trace in a missing directory: exit 1 before anything is saved" || nok "--trace bad dir: exit $rc_nd" "$(cat "$tmp/nd.err")"
if [ -w /dev/full ]; then
	run full save sim:a --to "file:$tmp/full.img" --trace /dev/full
	[ "$rc_full" = 0 ] && grep -q 'warning: --trace /dev/full: No space left' "$tmp/full.err" &&
		ok "a trace that cannot be written: a warning, the save itself succeeds" ||
		nok "--trace /dev/full: exit $rc_full" "$(cat "$tmp/full.err")"
fi
tap_end
