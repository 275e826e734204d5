#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The CLI as vfiomigd's client, on simulated devices: `vfiomig --connect save|restore`
# gives the local commands' output and exit codes; jobs, wait, cancel, continue,
# attach, detach; a job outlives its client; SIGINT cancels; the quiesced hook runs in
# the client; streams through passed descriptors ("-", file:).  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-daemon-cli.sh PATH-TO-vfiomig PATH-TO-vfiomigd}
VFIOMIGD=${2:?usage: test-daemon-cli.sh PATH-TO-vfiomig PATH-TO-vfiomigd [PATH-TO-vfm-relay]}
RELAY=${3:-}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
dpid=
trap '[ -n "$dpid" ] && kill $dpid 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

S=$tmp/control.sock
export VFIOMIG_SOCKET=$S
"$VFIOMIGD" --socket "$S" 2>"$tmp/daemon.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.05; done
V() { "$VFIOMIG" --connect "$@"; }

# same DESC: the last two runs (local, then daemon) printed the same, timings aside
# (and the peer: a stream the client passes is "fd N" to the daemon)
norm() { jq -S 'del(.elapsed_usec, .precopy_usec, .downtime_usec, .stream_id, .peer) | (.devices[]?.stopcopy_usec) = 0' 2>/dev/null; }

# shellcheck disable=SC2054 # the commas are sim device keys
SRC=(sim:a,seed=31,size=2M sim:b,seed=32,size=64K)
# shellcheck disable=SC2054
DST=(sim:x,size=2M,expect-seed=31 sim:y,size=64K,expect-seed=32)

# ---- the same output as the local commands ----
run "$VFIOMIG" -j save "${SRC[@]}" --to "file:$tmp/l.vfm"; l_out=$out; l_rc=$rc
run V -j save "${SRC[@]}" --to "file:$tmp/d.vfm"
if [ "$rc$l_rc" = 00 ] && [ "$(norm <<<"$l_out" | sed "s|l.vfm|X|")" = "$(norm <<<"$out" | sed "s|d.vfm|X|")" ]; then
	ok "save --json through the daemon prints what the local save prints"
else
	nok "save --json through the daemon" "local ($l_rc): $l_out" "daemon ($rc): $out" "$err"
fi
# stream ids differ; sizes must not
[ "$(stat -c %s "$tmp/l.vfm")" = "$(stat -c %s "$tmp/d.vfm")" ] && ok "the file the daemon wrote (a passed descriptor) has the local one's size" || nok "file sizes differ"
run V save "${SRC[@]}" --to "file:$tmp/d2.vfm"
expect "save text output" 0 "^wrote 2 devices to file:$tmp/d2.vfm: 2.1 MiB in [0-9.]+ s .*downtime .* 1 precopy round"
grep -qE "^  sim:a: precopy [0-9]+ bytes, stop-copy [0-9]+ bytes \(driver estimate [0-9]+\)(; VF network settings none \(not a network VF\))?$" <<<"$out" && ok "device lines as the local ones" || nok "device lines" "$out"
run "$VFIOMIG" -j restore "${DST[@]}" --from "file:$tmp/d.vfm"; l_out=$out; l_rc=$rc
run V -j restore "${DST[@]}" --from "file:$tmp/d.vfm"
if [ "$rc$l_rc" = 00 ] && [ "$(norm <<<"$l_out")" = "$(norm <<<"$out")" ]; then
	ok "restore --json through the daemon prints what the local restore prints"
else
	nok "restore --json through the daemon" "local ($l_rc): $l_out" "daemon ($rc): $out" "$err"
fi

run "$VFIOMIG" -j save "${SRC[@]}" --to "file:$tmp/l.vfm" --no-vf-config --no-precopy; l_out=$out; l_rc=$rc
run V -j save "${SRC[@]}" --to "file:$tmp/d.vfm" --no-vf-config --no-precopy
if [ "$rc$l_rc" = 00 ] && [ "$(norm <<<"$l_out" | sed "s|l.vfm|X|")" = "$(norm <<<"$out" | sed "s|d.vfm|X|")" ]; then
	ok "save --no-vf-config --no-precopy: the same through the daemon"
else
	nok "save --no-vf-config --no-precopy" "local ($l_rc): $l_out" "daemon ($rc): $out" "$err"
fi

# errors: same messages, same exit codes
for args in "sim:a,bogus=1 --to file:$tmp/e.vfm" "sim:a --to tcp://127.0.0.1:1" "sim:a --to file:/nonexistent/dir/x" "sim:a,no-migration --to file:$tmp/e.vfm" "sim:a sim:a --to file:$tmp/e.vfm"; do
	# shellcheck disable=SC2086
	run "$VFIOMIG" save $args; l_err=$err; l_rc=$rc
	# shellcheck disable=SC2086
	run V save $args
	if [ "$rc" = "$l_rc" ] && [ "$err" = "$l_err" ]; then
		ok "save $args: exit $rc and the local message"
	else
		nok "save $args" "local: $l_rc $l_err" "daemon: $rc $err"
	fi
done

# options: one parser for both ways; every option reaches the daemon's job
run "$VFIOMIG" -j save "${SRC[@]}" --to "file:$tmp/l.vfm" --chunk 64K --precopy-rounds 2 --timeout 5 --force; l_out=$out; l_rc=$rc
run V -j save "${SRC[@]}" --to "file:$tmp/d.vfm" --chunk 64K --precopy-rounds 2 --timeout 5 --force
if [ "$rc$l_rc" = 00 ] && [ "$(norm <<<"$l_out" | sed "s|l.vfm|X|")" = "$(norm <<<"$out" | sed "s|d.vfm|X|")" ] &&
	[ "$(stat -c %s "$tmp/l.vfm")" = "$(stat -c %s "$tmp/d.vfm")" ]; then
	ok "save --chunk 64K --precopy-rounds 2 --timeout 5 --force: the same report and file size through the daemon"
else
	nok "save --chunk 64K ... through the daemon" "local ($l_rc): $l_out" "daemon ($rc): $out" "$err"
fi
run "$VFIOMIG" save sim:a --to "file:$tmp/e.vfm" --ack-timeout 5
expect "a daemon-only option without --connect: exit 2, and says so" 2 "" "^vfiomig: --ack-timeout is an option of jobs run by vfiomigd: vfiomig --connect save"
# shellcheck disable=SC2054
REV=(sim:y,size=64K,expect-seed=32 sim:x,size=2M,expect-seed=31)
run "$VFIOMIG" -j restore "${REV[@]}" --from "file:$tmp/d.vfm" --map 1,0 --timeout 5; l_out=$out; l_rc=$rc
run V -j restore "${REV[@]}" --from "file:$tmp/d.vfm" --map 1,0 --timeout 5
if [ "$rc$l_rc" = 00 ] && [ "$(norm <<<"$l_out")" = "$(norm <<<"$out")" ]; then
	ok "restore --map 1,0 (devices named the other way round): the same through the daemon"
else
	nok "restore --map 1,0" "local ($l_rc): $l_out" "daemon ($rc): $out" "$err"
fi
run V restore "${REV[@]}" --from "file:$tmp/d.vfm"
expect "without --map the swapped devices fail to load, and the report says so" 1 "^failed to restore 2 devices from file:" \
	"restore failed in phase resuming: sim:[xy]: writing migration data"
for args in "save sim:a --to file:$tmp/e.vfm --timeout 9x" "save sim:a --to file:$tmp/e.vfm --chunk 0" \
	"save sim:a --to file:$tmp/e.vfm --dirty-threshold 1Q" "save sim:a --to file:$tmp/e.vfm --listen" \
	"save sim:a" "restore sim:a sim:b --from file:$tmp/e.vfm --map 0,0" "restore sim:a --from file:$tmp/e.vfm --connect" \
	"restore sim:a --from file:$tmp/e.vfm --timeout 86401"; do
	# shellcheck disable=SC2086
	run "$VFIOMIG" $args; l_err=$err; l_rc=$rc
	# shellcheck disable=SC2086
	run V $args
	if [ "$rc" = 2 ] && [ "$l_rc" = 2 ] && [ -n "$err" ] && [ "$err" = "$l_err" ]; then
		ok "$args: usage error (exit 2), the same message both ways"
	else
		nok "$args" "local: $l_rc $l_err" "daemon: $rc $err"
	fi
done
run "$VFIOMIG" restore sim:m,type=other --from "file:$tmp/d2.vfm"; l_err=$err; l_rc=$rc
run V restore sim:m,type=other --from "file:$tmp/d2.vfm"
[ "$rc" = 5 ] && [ "$rc" = "$l_rc" ] && [ "$err" = "$l_err" ] && ok "an incompatible restore: exit 5, the local message" || nok "incompatible restore" "local: $l_rc $l_err" "daemon: $rc $err"

# ---- tcp: a restore listening in the daemon, a save through it ----
: >"$tmp/r.err" # listen_uri must not see the last run's "listening on"
V restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!
uri=
for _ in $(seq 100); do uri=$(sed -n 's/^vfiomig: listening on //p' "$tmp/r.err"); [ -n "$uri" ] && break; sleep 0.05; done
run V save "${SRC[@]}" --to "$uri"
wait $rpid; r_rc=$?
if [ "$rc$r_rc" = 00 ] && grep -q "^restored 2 devices from tcp://127.0.0.1:0" "$tmp/r.out"; then
	ok "restore listening and save, both through the daemon, over TCP"
else
	nok "tcp through the daemon" "save $rc: $out $err" "restore $r_rc: $(cat "$tmp/r.out" "$tmp/r.err")"
fi

# ---- --streams through the daemon: both jobs open the data connections ----
: >"$tmp/r.err"
V -j restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!
uri=
for _ in $(seq 100); do uri=$(sed -n 's/^vfiomig: listening on //p' "$tmp/r.err"); [ -n "$uri" ] && break; sleep 0.05; done
run V -j save "${SRC[@]}" --to "$uri" --streams 3
wait $rpid; r_rc=$?
if [ "$rc$r_rc" = 00 ] && [ "$(jq -r .streams <<<"$out")" = 3 ] && [ "$(jq -r .streams "$tmp/r.out")" = 3 ]; then
	ok "save --streams 3 and restore, both through the daemon: 3 data connections each"
else
	nok "--streams through the daemon" "save $rc: $out $err" "restore $r_rc: $(cat "$tmp/r.out" "$tmp/r.err")"
fi
run V save sim:a --to "file:$tmp/s.vfm" --streams 2
expect "the daemon refuses --streams to a file: exit 2" 2 "" "streams"

# ---- the verdict lost after COMMIT: the daemon's save job is in doubt ----
# in_doubt_job: a daemon save through a relay that drops the verdict; sets job, rc,
# out, err (of 'wait'), r_rc (the destination's exit)
in_doubt_job() {
	: >"$tmp/r.err"; : >"$tmp/p.err"
	"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
	rpid=$!
	uri=
	for _ in $(seq 100); do uri=$(sed -n 's/^vfiomig: listening on //p' "$tmp/r.err"); [ -n "$uri" ] && break; sleep 0.05; done
	"$RELAY" 127.0.0.1:0 "${uri#tcp://}" --drop-back-after 131 2>"$tmp/p.err" &
	ppid=$!
	ruri=
	for _ in $(seq 100); do ruri=$(sed -n 's/^vfm-relay: listening on //p' "$tmp/p.err"); [ -n "$ruri" ] && break; sleep 0.05; done
	run V save "${SRC[@]}" --to "tcp://$ruri" --timeout 2 --detach
	job=$(sed -n 's/^job //p' <<<"$out")
	run "$VFIOMIG" wait "$job"
	wait $rpid; r_rc=$?; wait $ppid
}
if [ -x "$RELAY" ]; then
	in_doubt_job
	jobs_json=$(jrun "$VFIOMIG" -j jobs)
	if [ "$rc" = 6 ] && [ "$r_rc" = 0 ] && grep -q "in doubt: COMMIT went to .*held by vfiomigd: 'vfiomig resume $job'" <<<"$err" &&
		[ "$(jq ".jobs[] | select(.job == $job) | .in_doubt and .holding_devices and (.devices_left_running | not) and .state == \"failed\"" <<<"$jobs_json")" = true ]; then
		ok "a daemon save whose verdict is lost: wait exits 6, the job says in_doubt and holds its devices"
	else
		nok "daemon in doubt" "wait $rc: $out $err" "restore $r_rc" "$(jq ".jobs[] | select(.job == $job)" <<<"$jobs_json")"
	fi
	# the devices are still the job's: another job cannot take them
	run V save "${SRC[0]}" --to "file:$tmp/busy.vfm"
	expect "a device held in doubt is busy for other jobs (exit 3, as a busy device locally)" 3 "" "sim:a is in job $job"
	run "$VFIOMIG" resume "$job"
	expect "resume JOB: the devices back to RUNNING" 0 "^sim:a RUNNING"
	run "$VFIOMIG" resume "$job"
	expect "resume again: refused, it was resumed" 1 "" "not a save in doubt that holds its devices: they were resumed"
	run V save "${SRC[0]}" --to "file:$tmp/busy.vfm"
	expect "once resumed, the device is free again" 0 "^wrote 1 device"
	run "$VFIOMIG" resume 999999
	expect "resume of a job that does not exist" 1 "" "no job 999999"
	in_doubt_job
	[ "$rc" = 6 ] && ok "a second save in doubt" || nok "second in doubt" "$rc $err"
	run "$VFIOMIG" -j release "$job"
	if [ $rc = 0 ] && [ "$(jq '[.devices[].state] == ["STOP", "STOP"]' <<<"$out")" = true ] &&
		[ "$(jrun "$VFIOMIG" -j jobs | jq ".jobs[] | select(.job == $job) | .resolution == \"released\" and (.holding_devices | not)")" = true ]; then
		ok "release JOB: the devices given up stopped, the job says released"
	else
		nok "release" "$rc $out $err"
	fi
else
	skip "a daemon save whose verdict is lost" "vfm-relay not given"
fi

# ---- stdin/stdout: passed descriptors ----
V save "${SRC[@]}" --to - 2>"$tmp/s.err" | V restore "${DST[@]}" --from - >"$tmp/r.out" 2>&1
st=("${PIPESTATUS[@]}")
if [ "${st[0]}${st[1]}" = 00 ] && grep -q "^wrote 2 devices to -" "$tmp/s.err" && grep -q "^restored 2 devices from -" "$tmp/r.out"; then
	ok "save --to - | restore --from -: the pipe passed to the daemon, the save report on stderr"
else
	nok "save | restore through the daemon" "exits ${st[*]}" "$(cat "$tmp/s.err" "$tmp/r.out")"
fi

# ---- --detach, jobs, wait ----
run V restore "${DST[@]}" --from tcp://127.0.0.1:0 --detach
job=$(sed -n 's/^job //p' <<<"$out"); uri=$(sed -n 's/^vfiomig: listening on //p' <<<"$err")
[ "$rc" = 0 ] && [ -n "$job" ] && [ -n "$uri" ] && ok "restore --detach prints the job and where it listens" || nok "restore --detach" "$out" "$err"
run "$VFIOMIG" -j jobs
[ "$(jq -r ".jobs[] | select(.job == $job) | .state + \" \" + .phase" <<<"$out")" = "running accepting" ] && ok "jobs (default socket from \$VFIOMIG_SOCKET): running, accepting" || nok "jobs" "$out" "$err"
run "$VFIOMIG" jobs
grep -qE "^$job +restore +running +accepting +sim:x,sim:y <- $uri" <<<"$out" && ok "jobs as text" || nok "jobs as text" "$out"
run V save "${SRC[@]}" --to "$uri"; s_rc=$rc
run "$VFIOMIG" wait "$job"
[ "$s_rc$rc" = 00 ] && grep -q "^restored 2 devices from $uri" <<<"$out" && ok "wait JOB prints the restore's report" || nok "wait" "save $s_rc" "$rc $out $err"
run "$VFIOMIG" -j wait "$job"
jq -e '.operation == "restore" and .success and .outcome == "loaded"' <<<"$out" >/dev/null && ok "wait on a finished job reports at once (--json)" || nok "wait --json" "$out"
run "$VFIOMIG" wait 99999; expect "wait on an unknown job" 1 "" "no job 99999"
run "$VFIOMIG" wait; expect "wait without a job" 2

# ---- a job outlives its client ----
"$VFIOMIG" --connect save sim:o1,arc-usec=300000 --to "file:$tmp/o.vfm" >"$tmp/o.out" 2>&1 &
cpid=$!
sleep 0.3
job=$(jrun "$VFIOMIG" -j jobs | jq '[.jobs[] | select(.state == "running")] | last | .job')
kill -9 $cpid; wait $cpid 2>/dev/null
[ ! -s "$tmp/o.out" ] && ok "the client died before the end" || nok "the client died before the end" "$(cat "$tmp/o.out")"
run "$VFIOMIG" wait "$job"
expect "kill -9 the client: the job carries on, wait finds it" 0 "^wrote 1 device to file:$tmp/o.vfm"

# ---- SIGINT cancels ----
"$VFIOMIG" --connect save sim:i1,arc-usec=400000 --to "file:$tmp/i.vfm" >"$tmp/i.out" 2>"$tmp/i.err" &
cpid=$!
sleep 0.5
kill -INT $cpid; wait $cpid; rc=$?
out=$(cat "$tmp/i.out"); err=$(cat "$tmp/i.err")
expect "SIGINT: the job is cancelled, the devices run again (exit 130)" 130 "^failed to save 1 device to " "save failed in phase .*: cancelled \(by pid [0-9]+\) \(the devices are running again\)"

# ---- the quiesced hook runs in the client ----
run V save sim:h1 --to "file:$tmp/h.vfm" --on-quiesced "echo \$VFIOMIG_EVENT \$VFIOMIG_JOB >$tmp/hook"
[ "$rc" = 0 ] && grep -qE "^quiesced [0-9]+$" "$tmp/hook" && ok "--on-quiesced runs (VFIOMIG_EVENT, VFIOMIG_JOB) and the save completes" || nok "--on-quiesced" "$rc $err" "$(cat "$tmp/hook" 2>&1)"
run "$VFIOMIG" save sim:h1 --to "file:$tmp/h.vfm" --on-quiesced "exit 3"; l_err=$err; l_rc=$rc
run V save sim:h1 --to "file:$tmp/h.vfm" --on-quiesced "exit 3"
[ "$rc" = 1 ] && [ "$rc" = "$l_rc" ] && [ "$err" = "$l_err" ] && ok "a failing hook: the local message and exit code" || nok "failing hook" "local $l_rc $l_err" "daemon $rc $err"
run V save sim:h1 --to "file:$tmp/h.vfm" --on-quiesced true --detach
expect "--on-quiesced with --detach is a usage error" 2

# ---- a manual acknowledgement ----
run V save sim:w1 --to "file:$tmp/w.vfm" --wait-ack --detach
job=$(sed -n 's/^job //p' <<<"$out")
for _ in $(seq 100); do
	[ "$("$VFIOMIG" -j jobs | jq ".jobs[] | select(.job == $job) | .waiting_ack")" = true ] && break; sleep 0.05
done
run "$VFIOMIG" continue "$job"; expect "continue JOB" 0
run "$VFIOMIG" wait "$job"; expect "the acknowledged save completes" 0 "^wrote 1 device"
run "$VFIOMIG" continue "$job"; expect "continue of a finished job" 1 "" "finished or was acknowledged"
run V save sim:w3 --to "file:$tmp/w.vfm" --wait-ack --detach
job=$(sed -n 's/^job //p' <<<"$out")
for _ in $(seq 100); do
	[ "$("$VFIOMIG" -j jobs | jq ".jobs[] | select(.job == $job) | .waiting_ack")" = true ] && break; sleep 0.05
done
run "$VFIOMIG" continue "$job" --abort "the VMM said no"; expect "continue --abort" 0
run "$VFIOMIG" wait "$job"
expect "an aborted save rolls back" 1 "" "the quiesced hook failed: the VMM said no \(the devices are running again\)"

# ---- cancel ----
run V restore sim:c1 --from tcp://127.0.0.1:0 --detach
job=$(sed -n 's/^job //p' <<<"$out")
run "$VFIOMIG" cancel "$job"; expect "cancel JOB" 0
run "$VFIOMIG" wait "$job"; expect "the cancelled job reports why" 1 "" "cancelled \(by pid"
run "$VFIOMIG" cancel "$job"; expect "cancel of a finished job" 1 "" "has finished"

# ---- attach, detach, passed descriptors ----
run "$VFIOMIG" attach sim:at1,seed=41 sim:at2; expect "attach" 0 "^sim:at1$"
run "$VFIOMIG" attach sim:at1; expect "attach twice" 3 "" "already attached"
run V save sim:at1 --to "file:$tmp/at.vfm"; expect "save of an attached device" 0 "^wrote 1 device"
run V restore sim:at2 --from "file:$tmp/at.vfm" --any-id; expect "restore into an attached device" 0 "^restored 1 device"
run "$VFIOMIG" detach sim:at1 sim:at2; expect "detach" 0 "sim:at2"
run "$VFIOMIG" detach sim:at1; expect "detach of a device not attached" 3 "" "not attached"
exec 7<"$tmp/at.vfm"
run V save fd:7:sim:q --to "file:$tmp/q.vfm"; expect "a passed file as a device: refused" 3 "" "not a VFIO device \(it is $tmp/at.vfm\)"
run "$VFIOMIG" attach fd:7:some-name; expect "attach of a passed non-VFIO descriptor: refused" 3 "" "not a VFIO device"
exec 7<&-
run V save fd:9:x --to "file:$tmp/q.vfm"; expect "fd:N that is not open" 3 "" "fd:9:x: no such open file descriptor"

# ---- a finished job holds no descriptor (the passed file, its eventfds) ----
fds_before=$(ls /proc/$dpid/fd | wc -l)
for i in 1 2 3; do V save sim:fd$i --to "file:$tmp/fd$i.vfm" >/dev/null 2>&1; done
exec 8>"$tmp/pipe.vfm"
V save sim:fd4 --to - >&8 2>/dev/null
exec 8>&-
fds_after=$(ls /proc/$dpid/fd | wc -l)
[ "$fds_after" = "$fds_before" ] && ok "four finished jobs leave the daemon's descriptor count as it was ($fds_after)" ||
	nok "descriptors held by finished jobs" "before $fds_before, after $fds_after" "$(ls -l /proc/$dpid/fd)"

# ---- -j: each daemon command's document (checked against schema/ by run), errors
# as the JSON error object ----
run "$VFIOMIG" -j attach sim:ja1 sim:ja2
[ $rc = 0 ] && [ "$(jq -c '[.version, [.devices[] | .device, .attached]]' <<<"$out")" = '[1,["sim:ja1",true,"sim:ja2",true]]' ] &&
	ok "attach -j: the devices, attached" || nok "attach -j" "$rc $out $err"
run "$VFIOMIG" -j attach sim:ja1
[ $rc = 3 ] && [ "$(jq -c '[.error.errno_name, .error.exit]' <<<"$out")" = '["EEXIST",3]' ] &&
	ok "attach -j of an attached device: EEXIST, exit 3, on stdout" || nok "attach -j twice" "$rc $out $err"
run "$VFIOMIG" -j detach sim:ja1 sim:ja2
[ $rc = 0 ] && [ "$(jq -c '.devices' <<<"$out")" = '[{"device":"sim:ja1"},{"device":"sim:ja2"}]' ] &&
	ok "detach -j: the devices" || nok "detach -j" "$rc $out $err"
run V -j restore sim:jr1 --from tcp://127.0.0.1:0 --detach
job=$(jq '.job' <<<"$out")
[ $rc = 0 ] && [ "$(jq -r '.listening | startswith("tcp://127.0.0.1:")' <<<"$out")" = true ] &&
	ok "restore --detach -j: the job and where it listens" || nok "restore --detach -j" "$rc $out $err"
run "$VFIOMIG" -j cancel "$job"
[ $rc = 0 ] && [ "$out" = '{"version":1}' ] && ok "cancel -j: an empty document with its version" || nok "cancel -j" "$rc $out $err"
run "$VFIOMIG" -j wait "$job"
[ $rc = 1 ] && [ "$(jq -c '[.error.errno_name, .error.exit]' <<<"$out")" = '["ECANCELED",1]' ] &&
	ok "wait -j on a job cancelled before it connected: the error object" || nok "wait -j cancelled" "$rc $out $err"
run "$VFIOMIG" -j cancel "$job"
[ $rc = 1 ] && [ "$(jq -c '[.error.errno_name, .error.exit]' <<<"$out")" = '["EALREADY",1]' ] &&
	ok "cancel -j of a finished job: EALREADY" || nok "cancel -j twice" "$rc $out $err"
run "$VFIOMIG" -j continue "$job"
[ $rc = 1 ] && [ "$(jq -r '.error.errno_name' <<<"$out")" = EALREADY ] && ok "continue -j of a finished job: its error" ||
	nok "continue -j" "$rc $out $err"
run "$VFIOMIG" -j resume "$job"
[ $rc = 2 ] && [ "$(jq -r '.error.errno_name' <<<"$out")" = EINVAL ] && ok "resume -j of a job not in doubt: EINVAL, exit 2" ||
	nok "resume -j" "$rc $out $err"
run V -j save sim:jp1,size=3M --to "file:$tmp/jp.vfm" --progress=json
jvalid_lines vfiomig-progress "$tmp/err" "vfiomig --connect save --progress=json"
[ $rc = 0 ] && [ "$(grep -c '^{' "$tmp/err")" -ge 2 ] && ok "--connect save --progress=json: JSON lines on stderr" ||
	nok "--connect --progress=json" "$rc $(head -c 500 "$tmp/err")"
run V -j save "sim:jb,bogus=1" --to "file:$tmp/e.vfm"
[ $rc = 3 ] && [ "$(jq -c '[.error.errno_name, .error.exit]' <<<"$out")" = '["EINVAL",3]' ] &&
	ok "--connect -j save of a device the daemon cannot open: EINVAL, exit 3, on stdout" || nok "--connect -j bad device" "$rc $out $err"
run "$VFIOMIG" -j --connect="$tmp/none.sock" save sim:a --to "file:$tmp/e.vfm"
[ $rc = 1 ] && [ "$(jq -c '[.error.errno_name, .error.exit]' <<<"$out")" = '["ENOENT",1]' ] &&
	ok "--connect -j without a daemon: ENOENT, exit 1, on stdout" || nok "--connect -j no daemon" "$rc $out $err"

# ---- commands that do not run through the daemon; no daemon ----
run V info sim:a; expect "info does not run through the daemon" 2 "" "'info' does not run through vfiomigd"
run "$VFIOMIG" --connect="$tmp/none.sock" jobs; expect "no daemon" 1 "" "cannot connect to vfiomigd at $tmp/none.sock"
run "$VFIOMIG" --help; expect "--help mentions --connect and the daemon commands" 0 "--connect\[=SOCKET\]"

kill $dpid; wait $dpid; drc=$?
[ $drc = 0 ] && ok "the daemon exits 0 on SIGTERM" || nok "daemon exit $drc" "$(tail -5 "$tmp/daemon.log")"
if grep -qE "^vfiomigd: error:|runtime error|Sanitizer" "$tmp/daemon.log"; then
	nok "the daemon logged no error and no sanitizer report" "$(grep -E -A3 'error|Sanitizer' "$tmp/daemon.log" | head -20)"
else
	ok "the daemon logged no error and no sanitizer report"
fi
dpid=
tap_end
