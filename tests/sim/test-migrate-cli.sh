#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig save/restore through the CLI on simulated devices, over every transport:
# tcp (v4, v6, reverse direction), unix, file, a pipe; mapping; exit codes; the
# quiesced hook; SIGTERM; the JSON report.  Restores check what arrived (expect-seed).
set -u
VFIOMIG=${1:?usage: test-migrate-cli.sh PATH-TO-vfiomig [PATH-TO-vfm-relay]}
RELAY=${2:-}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

SRC=(sim:a,seed=101,size=3M sim:b,seed=102,size=100K)
DST=(sim:x,size=3M,expect-seed=101 sim:y,size=100K,expect-seed=102)


# pair DESC RESTORE-URI SAVE-URI-TEMPLATE [save args...]: restore in the background
# listening on RESTORE-URI; save to the URI it reports (template "@" = that URI).
pair() {
	local desc=$1 ruri=$2 tmpl=$3; shift 3
	: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
	"$VFIOMIG" restore "${DST[@]}" --from "$ruri" >"$tmp/r.out" 2>"$tmp/r.err" &
	local rpid=$! uri
	if ! uri=$(listen_uri "$tmp/r.err"); then nok "$desc" "restore never listened: $(cat "$tmp/r.err")"; kill $rpid; return; fi
	"$VFIOMIG" save "${SRC[@]}" --to "${tmpl/@/$uri}" "$@" >"$tmp/s.out" 2>"$tmp/s.err"
	local src=$?; wait $rpid; local dst=$?
	if [ "$src$dst" = 00 ] && grep -q "saved 2 devices" "$tmp/s.out" && grep -q "restored 2 devices" "$tmp/r.out"; then
		ok "$desc"
	else
		nok "$desc" "exits $src/$dst" "save: $(cat "$tmp/s.err" "$tmp/s.out")" "restore: $(cat "$tmp/r.err" "$tmp/r.out")"
	fi
}

pair "tcp over IPv4 loopback (port 0)" tcp://127.0.0.1:0 @
if "$VFIOMIG" restore sim:z --from tcp://[::1]:0 --timeout 1 2>&1 | grep -q "listening on"; then
	pair "tcp over IPv6 loopback" "tcp://[::1]:0" @
else
	n=$((n + 1)); echo "ok $n # SKIP no IPv6 loopback here"
fi
pair "unix socket" "unix:$tmp/sock" @
pair "abstract unix socket" "unix:@vfiomig-test-$$" @

# reverse direction: save listens, restore connects
"$VFIOMIG" save "${SRC[@]}" --to tcp://127.0.0.1:0 --listen >"$tmp/s.out" 2>"$tmp/s.err" &
spid=$!
if uri=$(listen_uri "$tmp/s.err"); then
	"$VFIOMIG" restore "${DST[@]}" --from "$uri" --connect >"$tmp/r.out" 2>"$tmp/r.err"
	dst=$?; wait $spid; src=$?
	[ "$src$dst" = 00 ] && ok "save --listen, restore --connect" || nok "save --listen, restore --connect" "$src/$dst $(cat "$tmp/s.err" "$tmp/r.err")"
else
	nok "save --listen" "$(cat "$tmp/s.err")"
fi

# file, then restore from it twice (a file can be restored again)
"$VFIOMIG" save "${SRC[@]}" --to "file:$tmp/f.vfm" >"$tmp/s.out" 2>&1
[ $? = 0 ] && ok "save to a file" || nok "save to a file" "$(cat "$tmp/s.out")"
"$VFIOMIG" restore "${DST[@]}" --from "file:$tmp/f.vfm" >"$tmp/r.out" 2>&1
[ $? = 0 ] && ok "restore from the file" || nok "restore from the file" "$(cat "$tmp/r.out")"
"$VFIOMIG" restore "${DST[1]}" "${DST[0]}" --map 1,0 --from "file:$tmp/f.vfm" >"$tmp/r.out" 2>&1
[ $? = 0 ] && ok "restore with --map 1,0" || nok "restore with --map 1,0" "$(cat "$tmp/r.out")"
"$VFIOMIG" restore "${DST[1]}" "${DST[0]}" --from "file:$tmp/f.vfm" >"$tmp/r.out" 2>&1
rc=$?
# Same IDs, so compatibility cannot tell them apart: the driver refuses the data
# (both devices load at once: the first refusal is reported, either device's).
[ $rc = 1 ] && grep -qE "sim:[xy]: writing migration data at offset 0" "$tmp/r.out" && grep -q "devices were reset" "$tmp/r.out" \
	&& ok "devices in the wrong order: the driver refuses, devices reset" || nok "wrong order refused" "exit $rc: $(cat "$tmp/r.out")"
# A device whose reset fails after a refused load: the report names it and the
# state it reads back (RESUMING), and does not claim the devices were reset.
"$VFIOMIG" restore "${DST[1]},fail-reset" "${DST[0]}" --from "file:$tmp/f.vfm" >"$tmp/r.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "not every device was reset: sim:y: reset failed (Input/output error); it is in RESUMING" "$tmp/r.out" \
	&& ! grep -q "devices were reset" "$tmp/r.out" \
	&& ok "a reset that fails: the report names the device and its state" || nok "reset fails" "exit $rc: $(cat "$tmp/r.out")"
"$VFIOMIG" restore "${DST[@]}" --map 0,0 --from "file:$tmp/f.vfm" >"$tmp/r.out" 2>&1
[ $? = 2 ] && ok "a --map that is not a permutation is a usage error" || nok "--map 0,0" "$(cat "$tmp/r.out")"

# a pipe: stdout -> stdin, the save report on stderr
"$VFIOMIG" save "${SRC[@]}" --to - 2>"$tmp/s.err" | "$VFIOMIG" restore "${DST[@]}" --from - >"$tmp/r.out" 2>&1
st=("${PIPESTATUS[@]}")
[ "${st[0]}${st[1]}" = 00 ] && grep -q "wrote 2 devices to -" "$tmp/s.err" && ok "save --to - | restore --from -" || nok "pipe" "${st[*]} $(cat "$tmp/s.err" "$tmp/r.out")"

# the JSON report
: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" -j save "${SRC[@]}" --to "$uri" >"$tmp/s.json" 2>"$tmp/s.err"; wait $rpid
jvalid vfiomig-save "$tmp/s.json" "save -j over tcp"
if [ "$(jq '.version == 1 and .success and .operation == "save" and .outcome == "migrated" and .one_way == false and .uri == "'"$uri"'" and (.peer | startswith("tcp 127.0.0.1:")) and (.devices | length) == 2 and .devices[0].precopy_bytes + .devices[0].stopcopy_bytes == 3145760 and .total_bytes > 3000000 and .downtime_usec > 0 and (.stream_id | length) == 16 and .phase == "done" and (has("error") | not)' "$tmp/s.json")" = true ]; then
	ok "save --json report"
else
	nok "save --json report" "$(cat "$tmp/s.json")"
fi

# failures: exit codes and messages
"$VFIOMIG" save "${SRC[@]}" --to tcp://127.0.0.1:1 --timeout 2 >"$tmp/s.out" 2>&1
rc=$?; [ $rc = 1 ] && grep -q "127.0.0.1" "$tmp/s.out" && ok "connection refused names the address (exit 1)" || nok "refused" "exit $rc $(cat "$tmp/s.out")"
"$VFIOMIG" save sim:a,flags=stop-copy sim:b --to "file:$tmp/x" >"$tmp/s.out" 2>&1
rc=$?; [ $rc = 4 ] && grep -q "sim:a lacks P2P" "$tmp/s.out" && ok "several devices without P2P refused (exit 4)" || nok "no p2p" "exit $rc $(cat "$tmp/s.out")"
"$VFIOMIG" save sim:a,flags=stop-copy sim:b --to "file:$tmp/x" --force >"$tmp/s.out" 2>&1
[ $? = 0 ] && ok "--force migrates them anyway" || nok "--force" "$(cat "$tmp/s.out")"
"$VFIOMIG" save sim:a --to "bogus:x" >"$tmp/s.out" 2>&1
[ $? != 0 ] && grep -qi "scheme\|uri\|bogus" "$tmp/s.out" && ok "a bad URI is named" || nok "bad uri" "$(cat "$tmp/s.out")"
"$VFIOMIG" save sim:a >"$tmp/s.out" 2>&1; [ $? = 2 ] && ok "save without --to is a usage error" || nok "no --to" "$(cat "$tmp/s.out")"
"$VFIOMIG" save sim:a sim:a --to "file:$tmp/x" >"$tmp/s.out" 2>&1
[ $? = 2 ] && grep -q "named twice" "$tmp/s.out" && ok "a device named twice" || nok "twice" "$(cat "$tmp/s.out")"
"$VFIOMIG" restore sim:x --from "file:$tmp/nonexistent" >"$tmp/r.out" 2>&1
[ $? = 1 ] && ok "restore from a missing file fails" || nok "missing file" "$(cat "$tmp/r.out")"
printf 'hello world, not a stream' >"$tmp/junk"
"$VFIOMIG" restore sim:x --from "file:$tmp/junk" >"$tmp/r.out" 2>&1
[ $? = 1 ] && grep -q "not a vfiomig stream" "$tmp/r.out" && ok "a file that is not a stream" || nok "junk" "$(cat "$tmp/r.out")"

# the quiesced hook: it runs with the stream id; its failure rolls back
: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" save "${SRC[@]}" --to "$uri" --on-quiesced "echo \$VFIOMIG_EVENT \$VFIOMIG_STREAM_ID > $tmp/hook" >"$tmp/s.out" 2>&1
src=$?; wait $rpid
[ $src = 0 ] && grep -qE "^quiesced [0-9a-f]{16}$" "$tmp/hook" && ok "the quiesced hook runs with the stream id" || nok "hook" "$src $(cat "$tmp/hook" "$tmp/s.out")"
: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" save "${SRC[@]}" --to "$uri" --on-quiesced "exit 3" >"$tmp/s.out" 2>&1
src=$?; wait $rpid; dst=$?
[ $src = 1 ] && [ $dst = 1 ] && grep -q "'exit 3' exited with 3" "$tmp/s.out" && grep -q "running again" "$tmp/s.out" && grep -q "source gave up" "$tmp/r.err" \
	&& ok "a failing hook rolls back both ends" || nok "hook failure" "$src/$dst $(cat "$tmp/s.out" "$tmp/r.err")"

# SIGTERM during the migration (sent from the hook): rollback, the destination told
: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" save "${SRC[@]}" --to "$uri" --on-quiesced 'kill -TERM $PPID' >"$tmp/s.out" 2>&1
src=$?; wait $rpid; dst=$?
[ $src = 143 ] && grep -q "cancelled" "$tmp/s.out" && grep -q "running again" "$tmp/s.out" && [ $dst = 1 ] \
	&& ok "SIGTERM cancels and rolls back (exit 143)" || nok "SIGTERM" "$src/$dst $(cat "$tmp/s.out" "$tmp/r.err")"

# --progress=json: one JSON object a line on stderr, for programs
"$VFIOMIG" save "${SRC[@]}" --to "file:$tmp/pj.vfm" --progress=json >/dev/null 2>"$tmp/pj.err"
src=$?
jvalid_lines vfiomig-progress "$tmp/pj.err" "save --progress=json"
if [ $src = 0 ] && [ -s "$tmp/pj.err" ] && jq -e -s 'all(.[]; .version == 1 and .operation == "save" and (.total_bytes | type) == "number")
	and any(.[]; .phase == "stop-copy") and (.[-1].devices | length) == 2
	and (.[-1].devices[0].device | startswith("sim:"))' "$tmp/pj.err" >/dev/null; then
	ok "--progress=json: every stderr line a JSON object ($(wc -l <"$tmp/pj.err") lines), phases and devices"
else
	nok "--progress=json" "exit $src" "$(head -c 600 "$tmp/pj.err")"
fi
"$VFIOMIG" save "${SRC[@]}" --to "file:$tmp/pj.vfm" --progress=yaml >/dev/null 2>"$tmp/pj.err"
[ $? = 2 ] && grep -q "'line' or 'json'" "$tmp/pj.err" && ok "--progress=yaml: usage" || nok "--progress=yaml" "$(cat "$tmp/pj.err")"

# Ctrl-C (SIGINT): exit 130, and the destination hears that the source cancelled
: >"$tmp/r.err"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" save "${SRC[@]}" --to "$uri" --on-quiesced 'kill -INT $PPID' >"$tmp/s.out" 2>&1
src=$?; wait $rpid; dst=$?
[ $src = 130 ] && grep -q "running again" "$tmp/s.out" && [ $dst = 1 ] &&
	grep -q "the source gave up: cancelled" "$tmp/r.err" &&
	ok "SIGINT: exit 130, rolled back, the destination told the source cancelled" ||
	nok "SIGINT" "$src/$dst $(cat "$tmp/s.out" "$tmp/r.err")"

# a destination that cannot load the data: the source hears why
: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
"$VFIOMIG" restore sim:x,size=3M,expect-seed=999 "${DST[1]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" save "${SRC[@]}" --to "$uri" >"$tmp/s.out" 2>&1
src=$?; wait $rpid
[ $src = 1 ] && grep -q "failed to load device 0 (sim:a here): sim:x: RESUMING -> STOP" "$tmp/s.out" && ok "the destination's verdict reaches the source" || nok "verdict" "$(cat "$tmp/s.out")"

# a recorded stream replayed into a listening restore (a plain socket, no vfiomig
# at the source) is refused: nothing of it reaches a device
"$VFIOMIG" save "${SRC[@]}" --to "file:$tmp/rec.vfm" >"$tmp/s.out" 2>&1
: >"$tmp/r.err"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 --timeout 5 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!; uri=$(listen_uri "$tmp/r.err")
python3 - "${uri#tcp://}" "$tmp/rec.vfm" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(open(sys.argv[2], 'rb').read())
s.shutdown(socket.SHUT_WR)
try:
    while s.recv(65536):
        pass
except OSError:
    pass
PY
wait $rpid; dst=$?
[ $dst = 1 ] && grep -q "written for a one-way transport .* refused" "$tmp/r.err" && grep -q '"in_doubt"\|failed to restore' "$tmp/r.out" \
	&& ok "a recorded stream replayed into tcp:// is refused" || nok "replay" "exit $dst $(cat "$tmp/r.out" "$tmp/r.err")"

# the commit through a relay that misbehaves at the destination's answers
# relay_pair DESC RELAY-ARGS...: restore <- relay <- save; sets src, dst
relay_pair() {
	local rpid ppid uri ruri
	: >"$tmp/r.err"; : >"$tmp/p.err"
	"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 --timeout 3 >"$tmp/r.out" 2>"$tmp/r.err" &
	rpid=$!; uri=$(listen_uri "$tmp/r.err")
	"$RELAY" 127.0.0.1:0 "${uri#tcp://}" "$@" 2>"$tmp/p.err" &
	ppid=$!
	for _ in $(seq 100); do
		ruri=$(sed -n 's/^vfm-relay: listening on //p' "$tmp/p.err"); [ -n "$ruri" ] && break; sleep 0.05
	done
	"$VFIOMIG" -j save "${SRC[@]}" --to "tcp://$ruri" --timeout 2 >"$tmp/s.json" 2>"$tmp/s.err"
	src=$?; wait $rpid; dst=$?; wait $ppid
	jvalid vfiomig-save "$tmp/s.json" "save -j through vfm-relay $*"
}
if [ -x "$RELAY" ]; then
	relay_pair --drop-back-after 131
	if [ $src = 6 ] && [ $dst = 0 ] && grep -q "in doubt: COMMIT went to" "$tmp/s.err" &&
		grep -q "vfiomig state DEV RUNNING" "$tmp/s.err" &&
		[ "$(jq '.in_doubt and .outcome == "in-doubt" and (.devices_left_running | not) and (.rolled_back | not) and .error.exit == 6' "$tmp/s.json")" = true ]; then
		ok "the verdict lost after COMMIT: the source exits 6, in doubt, devices not resumed; the destination runs them"
	else
		nok "verdict dropped" "save $src, restore $dst" "$(cat "$tmp/s.json" "$tmp/s.err" "$tmp/r.err" "$tmp/p.err")"
	fi
	relay_pair --cut-back-after 129
	if [ $src = 1 ] && [ $dst = 1 ] && grep -q "running again" "$tmp/s.err" &&
		grep -q "no COMMIT\|stream from\|reading the stream\|ended" "$tmp/r.err" &&
		[ "$(jq '.devices_left_running and (.in_doubt | not) and .error.exit == 1' "$tmp/s.json")" = true ]; then
		ok "the connection cut after COMPAT: the source runs again, the destination ran nothing"
	else
		nok "cut after COMPAT" "save $src, restore $dst" "$(cat "$tmp/s.json" "$tmp/s.err" "$tmp/r.err")"
	fi
	relay_pair --drop-back-after 129
	if [ $src = 1 ] && [ $dst = 1 ] && grep -q "no READY" "$tmp/s.err" &&
		grep -q "the source gave up after END" "$tmp/r.err"; then
		ok "READY lost: the source gives up at its deadline and says why; the destination resets"
	else
		nok "READY lost" "save $src, restore $dst" "$(cat "$tmp/s.json" "$tmp/s.err" "$tmp/r.err")"
	fi
else
	skip "the commit through a relay" "vfm-relay not given"
fi

# VF network settings: a device that is no network VF carries none; a VF whose PF
# cannot be read stops the save before anything moves (unless --no-vf-config)
"$VFIOMIG" -j save "${SRC[@]}" --to "file:$tmp/v.vfm" >"$tmp/s.json" 2>&1
jvalid vfiomig-save "$tmp/s.json" "save -j of devices that are no VFs"
[ "$(jq '[.devices[].vf_config_status] == ["none (not a network VF)", "none (not a network VF)"]' "$tmp/s.json")" = true ] \
	&& ok "devices that are no network VFs carry no VF settings" || nok "vf none" "$(cat "$tmp/s.json")"
"$VFIOMIG" save sim:a,pf=vfmnope0,vf=1 --to "file:$tmp/v.vfm" >"$tmp/s.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "sim:a: reading its VF network settings: .*vfmnope0.*(--no-vf-config to skip)" "$tmp/s.out" \
	&& grep -q "running again" "$tmp/s.out" && ok "a VF whose PF is missing stops the save, naming it" || nok "missing PF" "exit $rc $(cat "$tmp/s.out")"
"$VFIOMIG" -j save sim:a,pf=vfmnope0,vf=1 --to "file:$tmp/v.vfm" --no-vf-config >"$tmp/s.json" 2>&1
jvalid vfiomig-save "$tmp/s.json" "save -j --no-vf-config"
[ "$(jq '.success and .devices[0].vf_config_status == "skipped (--no-vf-config)"' "$tmp/s.json")" = true ] \
	&& ok "--no-vf-config skips them" || nok "--no-vf-config" "$(cat "$tmp/s.json")"

tap_end
