#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The exec: transport through the CLI on simulated devices: save --to 'exec:vfiomig
# restore ... --from -' migrates (the restore's report on stderr, its stdout being the
# stream), restore --from 'exec:...' too, a destination's refusal and a command that
# fails reach the source, which runs its devices again.  Restores check the data they
# load (expect-seed).  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-exec.sh PATH-TO-vfiomig}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

SRC="sim:a,seed=101,size=3M sim:b,seed=102,size=100K"
DST="sim:x,size=3M,expect-seed=101 sim:y,size=100K,expect-seed=102"
# absolute: the command runs elsewhere (another cwd, through ssh)
V=$(printf '%q' "$(cd "$(dirname "$VFIOMIG")" && pwd)/$(basename "$VFIOMIG")")
# every run is bounded: a hang fails the test instead of the suite's timeout
T() { timeout -k 5 60 "$@"; }

# save --to exec: the restore runs as the command, answering on its stdout
T "$VFIOMIG" save $SRC --to "exec:$V restore $DST --from -" >"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 0 ] && grep -q "^saved 2 devices to exec:" "$tmp/s.out" &&
	grep -q "^restored 2 devices from -" "$tmp/s.err" && ! grep -q "restored" "$tmp/s.out"; then
	ok "save --to 'exec:vfiomig restore ... --from -': both reports, the restore's on stderr"
else
	nok "save --to exec:vfiomig restore" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")"
fi

# the same with --json on both ends: two JSON reports, one per stream
T "$VFIOMIG" -j save $SRC --to "exec:$V -j restore $DST --from -" >"$tmp/s.json" 2>"$tmp/s.err"
rc=$?
jvalid vfiomig-save "$tmp/s.json" "save -j --to exec:"
grep '^{' "$tmp/s.err" >"$tmp/r.json"
jvalid vfiomig-restore "$tmp/r.json" "restore -j --from - (its report on stderr)"
if [ $rc = 0 ] && [ "$(jq '.success and .operation == "save" and (.uri | startswith("exec:"))' "$tmp/s.json")" = true ] &&
	[ "$(jq -s 'map(select(.operation == "restore" and .success)) | length' "$tmp/s.err" 2>/dev/null)" = 1 ]; then
	ok "--json: the save's report on stdout, the restore's on its stderr"
else
	nok "--json through exec:" "exit $rc" "stdout: $(cat "$tmp/s.json")" "stderr: $(cat "$tmp/s.err")"
fi

# restore --from exec: the source runs as the command (one-way: --to - is stdout)
T "$VFIOMIG" restore $DST --from "exec:$V save $SRC --to -" >"$tmp/r.out" 2>"$tmp/r.err"
rc=$?
if [ $rc = 0 ] && grep -q "^restored 2 devices from exec:" "$tmp/r.out" && grep -q "^wrote 2 devices to -" "$tmp/r.err"; then
	ok "restore --from 'exec:vfiomig save ... --to -'"
else
	nok "restore --from exec:" "exit $rc" "stdout: $(cat "$tmp/r.out")" "stderr: $(cat "$tmp/r.err")"
fi

# the destination cannot load the data: its reason reaches the source, which resumes
T "$VFIOMIG" save $SRC --to "exec:$V restore sim:x,size=3M,expect-seed=999 sim:y,size=100K,expect-seed=102 --from -" \
	>"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 1 ] && grep -q "failed to load device 0 (sim:a here)" "$tmp/s.err" && grep -q "running again" "$tmp/s.err" &&
	grep -q "^failed to save 2 devices to exec:" "$tmp/s.out"; then
	ok "a destination that refuses the data: its reason reaches the source, devices running again"
else
	nok "refusal through exec:" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")"
fi

# the command fails before answering: its exit status is in the sentence
T "$VFIOMIG" save $SRC --to "exec:echo 'no route to dst' >&2; exit 7" >"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
if [ $rc = 1 ] && grep -q "no route to dst" "$tmp/s.err" &&
	grep -q "save failed in phase .*exec 'echo.*the command exited with 7 (the devices are running again)" "$tmp/s.err"; then
	ok "a command that exits 7: the save fails saying so, its stderr shown, devices running again"
else
	nok "failing command" "exit $rc" "stdout: $(cat "$tmp/s.out")" "stderr: $(cat "$tmp/s.err")"
fi

# a command that is not there
T "$VFIOMIG" save $SRC --to "exec:/nonexistent/vfiomig-nope" >"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
[ $rc = 1 ] && grep -q "the command exited with 127 (the devices are running again)" "$tmp/s.err" &&
	ok "a missing command: exit 127 named" || nok "missing command" "exit $rc $(cat "$tmp/s.err")"

# usage: exec: cannot be listened on, and a command with a newline is refused
T "$VFIOMIG" save sim:a --to "exec:cat" --listen >"$tmp/s.out" 2>&1
[ $? = 2 ] && grep -q "needs a tcp:// or unix: URI" "$tmp/s.out" && ok "--listen with exec: is a usage error" ||
	nok "--listen exec:" "$(cat "$tmp/s.out")"
T "$VFIOMIG" save sim:a --to "exec:true
rm -rf /" >"$tmp/s.out" 2>&1
[ $? = 2 ] && grep -q "control character 0x0a" "$tmp/s.out" && ! grep -q "^rm -rf" "$tmp/s.out" &&
	ok "a newline in the command is a usage error (exit 2), the command not echoed raw" ||
	nok "newline" "$(cat "$tmp/s.out")"

tap_end
