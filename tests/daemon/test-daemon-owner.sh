#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomigd's rules between local clients (issue: a member of its group can use it, not
# break it): a job and an attached device belong to the uid that made them; only it or
# root acts on them (jobs, detach, DMA dirty logging); only root shuts the daemon down; connections and jobs per uid;
# a slot kept for root; idle connections closed.  Clients of other uids are a small
# Python program run through setpriv (uid 65534 and 12345, both in group nogroup).
set -u
VFIOMIG=${1:?usage: test-daemon-owner.sh PATH-TO-vfiomig PATH-TO-vfiomigd}
VFIOMIGD=${2:?usage: test-daemon-owner.sh PATH-TO-vfiomig PATH-TO-vfiomigd}
PY=/usr/bin/python3
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root (to be other uids)"
command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
[ -x "$PY" ] || skip_all "no $PY"
getent group nogroup >/dev/null || skip_all "no group nogroup"
command -v jq >/dev/null || skip_all "jq not installed"
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
chmod 0755 "$tmp"
dpid=
trap '[ -n "$dpid" ] && kill $dpid 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

# client.py SOCKET JSON...: one connection, each request, each answer on a line.
# client.py SOCKET --hold N SECONDS: N connections; prints how many were refused at
# once (an error line), keeps the others open SECONDS.
# client.py SOCKET --churn N: N connections one after another, a version request
# each; prints how many were answered, how many refused, and the last refusal.
# client.py SOCKET --idle SECONDS: one connection that says nothing; prints what it
# got and "closed after S s" or "open after S s".
cat >"$tmp/client.py" <<'PY'
import json, socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
def line(s, timeout=5):
    s.settimeout(timeout)
    buf = b''
    while not buf.endswith(b'\n'):
        try:
            b = s.recv(4096)
        except socket.timeout:
            return None
        if not b:
            return buf.decode() if buf else ''
        buf += b
    return buf.decode().strip()
if sys.argv[2] == '--hold':
    n, secs = int(sys.argv[3]), float(sys.argv[4])
    socks, refused, last = [], 0, ''
    for _ in range(n):
        s = conn()
        try:
            s.sendall(b'{"id":1,"cmd":"version"}\n')
        except OSError:
            pass  # refused at once: the refusal is the line waiting
        r = line(s)
        if r and '"error"' in r:
            refused += 1
            last = r
        socks.append(s)
    print(refused, last)
    sys.stdout.flush()
    time.sleep(secs)
elif sys.argv[2] == '--spam':
    # N jobs that fail at once (nobody listens where they connect), one after another
    s, n = conn(), int(sys.argv[3])
    for i in range(n):
        s.sendall(json.dumps({'id': i + 1, 'cmd': 'restore', 'devices': ['sim:s%d' % i],
                              'from': 'unix:@vfiomig-test-nobody-listens',
                              'connect': True}).encode() + b'\n')
        line(s)
        time.sleep(0.03)  # the job ends; the quota lets the next one in
elif sys.argv[2] == '--churn':
    answered, refused, last = 0, 0, ''
    for _ in range(int(sys.argv[3])):
        s = conn()
        try:
            s.sendall(b'{"id":1,"cmd":"version"}\n')
        except OSError:
            pass
        r = line(s) or ''
        if '"error"' in r:
            refused += 1
            last = r
        elif '"ok":true' in r.replace(' ', ''):
            answered += 1
        s.close()
    print(answered, refused, last)
elif sys.argv[2] == '--idle':
    secs = float(sys.argv[3])
    s = conn()
    t0 = time.time()
    r = line(s, secs)
    if r is None:
        print('open after %.0f s' % secs)
    else:
        print(r)
        print('closed after %.1f s' % (time.time() - t0))
else:
    s = conn()
    for n, req in enumerate(sys.argv[2:]):
        r = json.loads(req)
        r.setdefault('id', n + 1)  # a request without an id gets no answer
        try:
            s.sendall(json.dumps(r).encode() + b'\n')
        except OSError:
            pass  # refused at once: the refusal is the line waiting
        print(line(s))
PY
# as UID REQUEST...: the answers, one a line; those that are JSON are checked against
# vfiomigd-message (tap.sh, at the end)
as_n=0
as() {
	local uid=$1 rc; shift
	as_n=$((as_n + 1))
	setpriv --reuid="$uid" --regid=65534 --clear-groups "$PY" "$tmp/client.py" "$S" "$@" >"$tmp/as.$as_n"
	rc=$?
	cat "$tmp/as.$as_n"
	grep -q '^{' "$tmp/as.$as_n" && jvalid_lines vfiomigd-message "$tmp/as.$as_n" "as $uid $*"
	return $rc
}
S=$tmp/s.sock
# started with systemd's default soft RLIMIT_NOFILE (1024)
(ulimit -Sn 1024 && exec "$VFIOMIGD" --socket "$S" --group nogroup --max-jobs 4 --idle-timeout 2) 2>"$tmp/daemon.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.05; done
V() { "$VFIOMIG" --connect="$S" "$@"; }

# poll(), not select(): the soft RLIMIT_NOFILE is raised towards the hard one
hard=$(ulimit -Hn); want=65536
[ "$hard" != unlimited ] && [ "$hard" -lt $want ] && want=$hard
soft=$(awk '/^Max open files/ {print $4}' /proc/$dpid/limits)
[ "$soft" = "$want" ] && ok "started with a soft RLIMIT_NOFILE of 1024, the daemon raised it to $soft (hard $hard, at most 65536)" ||
	nok "RLIMIT_NOFILE" "soft $soft, want $want"

# a reply's error, "errno_name: message", or "ok"
verdict() { jq -r 'if .error then "\(.error.errno_name // .error.errno): \(.error.message)" else "ok" end' 2>/dev/null; }

out=$(as 65534 '{"cmd":"version"}' | verdict)
if [ "$out" != ok ]; then
	echo "1..0 # SKIP uid 65534 cannot use the daemon here: $out"
	exit 0
fi

# ---- jobs: root's, and another uid's ----
job_of() { sed -n 's/^job //p'; }
rjob=$(V restore sim:r1 --from tcp://127.0.0.1:0 --detach 2>/dev/null | job_of)
out=$(as 65534 "{\"cmd\":\"cancel\",\"job\":$rjob}" | verdict)
[[ $out == "EPERM: job $rjob belongs to uid 0: only it or root may cancel it" ]] &&
	ok "another uid cannot cancel root's job" || nok "cancel root's job" "$out"
out=$(as 65534 "{\"cmd\":\"continue\",\"job\":$rjob}" | verdict)
[[ $out == EPERM:* ]] && ok "nor acknowledge it" || nok "continue root's job" "$out"
out=$(as 65534 '{"cmd":"shutdown"}' | verdict)
[[ $out == "EPERM: only root"* ]] && kill -0 $dpid && ok "another uid cannot shut the daemon down" ||
	nok "shutdown by uid 65534" "$out"
out=$(as 65534 '{"cmd":"jobs"}' | jq -r ".result.jobs[]? | select(.job == $rjob) | .state")
[ "$out" = running ] && ok "it still sees root's job (reading is not acting)" || nok "jobs as 65534" "$out"

out=$(as 65534 '{"cmd":"restore","devices":["sim:q1"],"from":"tcp://127.0.0.1:0"}')
qjob=$(jq -r '.result.job // empty' <<<"$out")
out=$(as 12345 "{\"cmd\":\"cancel\",\"job\":$qjob}" | verdict)
[[ $out == "EPERM: job $qjob belongs to uid 65534"* ]] && ok "a third uid cannot cancel uid 65534's job" ||
	nok "cancel by 12345" "$qjob $out"
out=$(as 65534 "{\"cmd\":\"cancel\",\"job\":$qjob}" | verdict)
[ "$out" = ok ] && ok "its own uid cancels it" || nok "cancel own job" "$out"

# ---- attached devices ----
out=$(as 65534 '{"cmd":"attach","devices":["sim:n1"]}' | verdict)
[ "$out" = ok ] && ok "uid 65534 attaches a device" || nok "attach" "$out"
out=$(as 12345 '{"cmd":"detach","devices":["sim:n1"]}' | verdict)
[[ $out == "EPERM: sim:n1 belongs to uid 65534: only it or root may detach it" ]] &&
	ok "another uid cannot detach it" || nok "detach by 12345" "$out"
out=$(as 12345 '{"cmd":"restore","devices":["sim:n1"],"from":"tcp://127.0.0.1:0"}' | verdict)
[[ $out == "EPERM: sim:n1 belongs to uid 65534: only it or root may use it" ]] &&
	ok "nor use it in a job" || nok "use by 12345" "$out"
out=$(as 12345 '{"cmd":"dirty_start","devices":["sim:n1"],"ranges":[{"iova":0,"length_bytes":4096}]}' | verdict)
[[ $out == "EPERM: sim:n1 belongs to uid 65534: only it or root may use it" ]] &&
	ok "nor start DMA dirty logging on it" || nok "dirty_start by 12345" "$out"
out=$(as 65534 '{"cmd":"dirty_start","devices":["sim:n1"],"ranges":[{"iova":0,"length_bytes":4096}]}' | verdict)
[ "$out" = ok ] && ok "its own uid starts DMA dirty logging" || nok "dirty_start own" "$out"
out=$(as 12345 '{"cmd":"dirty_stop","devices":["sim:n1"]}' | verdict)
[[ $out == "EPERM: sim:n1 belongs to uid 65534: only it or root may use it" ]] &&
	ok "another uid cannot stop it" || nok "dirty_stop by 12345" "$out"
out=$(as 65534 '{"cmd":"detach","devices":["sim:n1"]}' | verdict)
[ "$out" = ok ] && ok "its own uid detaches it (logging on)" || nok "detach own" "$out"

# ---- jobs per uid, and the one kept for root (--max-jobs 4: 2 a uid) ----
j1=$(as 65534 '{"cmd":"restore","devices":["sim:j1"],"from":"tcp://127.0.0.1:0"}' | jq -r '.result.job // .error.message')
j2=$(as 65534 '{"cmd":"restore","devices":["sim:j2"],"from":"tcp://127.0.0.1:0"}' | jq -r '.result.job // .error.message')
out=$(as 65534 '{"cmd":"restore","devices":["sim:j3"],"from":"tcp://127.0.0.1:0"}' | verdict)
[[ $out == "EAGAIN: uid 65534 runs 2 jobs: at most 2 a uid"* ]] && ok "a uid's third job is refused (2 of --max-jobs 4)" ||
	nok "third job" "$j1 $j2 $out"
out=$(as 12345 '{"cmd":"restore","devices":["sim:k1"],"from":"tcp://127.0.0.1:0"}' | verdict)
[[ $out == "EAGAIN: 3 jobs run: the last of --max-jobs is kept for root" ]] &&
	ok "the last job is kept for root" || nok "kept for root" "$out"
rj2=$(V restore sim:r2 --from tcp://127.0.0.1:0 --detach 2>/dev/null | job_of)
[ -n "$rj2" ] && ok "root still starts one" || nok "root's job" "$rj2"
for j in "$rjob" "$j1" "$j2" "$rj2"; do V cancel "$j" >/dev/null 2>&1; done

# ---- the log: what other uids cause is logged at most 10 lines a second ----
lines_before=$(wc -l <"$tmp/daemon.log")
# 80 jobs started and cancelled by uid 65534: 160 lines unbounded
as 65534 --spam 80
sleep 1.2
as 65534 '{"cmd":"attach","devices":["sim:logme"]}' >/dev/null # a line after the pause
as 65534 '{"cmd":"detach","devices":["sim:logme"]}' >/dev/null
spam=$(($(wc -l <"$tmp/daemon.log") - lines_before))
if [ "$spam" -lt 110 ] && grep -q "log lines about clients other than root were held back" "$tmp/daemon.log"; then
	ok "another uid's job spam is logged at a bounded rate ($spam lines), with the count held back"
else
	nok "log bound" "$spam lines" "$(tail -5 "$tmp/daemon.log")"
fi

# ---- connections a second per uid: a connect loop is closed at once ----
sleep 2.1 # a full burst for uid 12345
read -r answered refused last < <(as 12345 --churn 150)
if [ "${answered:-0}" -ge 40 ] && [ "${answered:-0}" -lt 150 ] && [ "${refused:-0}" -gt 0 ] &&
	[[ $last == *"uid 12345 opens more than 20 connections a second: this one is closed"* ]]; then
	ok "a uid's connect loop: $answered of 150 answered, $refused closed at once with EAGAIN"
else
	nok "connect rate" "answered $answered refused $refused: $last"
fi
out=$(V jobs 2>&1) && ok "root connects meanwhile" || nok "root after the churn" "$out"
out=$(as 65534 '{"cmd":"version"}' | verdict)
[ "$out" = ok ] && ok "and so does another uid (the rate is per uid)" || nok "65534 after churn" "$out"
sleep 1.1
out=$(as 12345 '{"cmd":"version"}' | verdict)
[ "$out" = ok ] && ok "uid 12345 connects again a second later" || nok "12345 after a second" "$out"
grep -q "uid 12345 connects more than 20 times a second" "$tmp/daemon.log" &&
	ok "logged once: uid 12345 connects more than 20 times a second" ||
	nok "connect rate log" "$(tail -3 "$tmp/daemon.log")"

# ---- connections per uid; root still gets in ----
as 65534 --hold 17 6 >"$tmp/hold.out" 2>"$tmp/hold.err" &
hold=$!
for _ in $(seq 300); do [ -s "$tmp/hold.out" ] && break; sleep 0.05; done
read -r refused last <"$tmp/hold.out"
[ "$refused" = 1 ] && grep -q "EUSERS\|uid 65534 has 16 connections" <<<"$last" &&
	ok "a uid's 17th connection is refused (16 a uid)" ||
	nok "17 connections" "hold: $(cat "$tmp/hold.out" "$tmp/hold.err")" "$(tail -3 "$tmp/daemon.log")" \
		"daemon fds $(ls /proc/$dpid/fd | wc -l), $(grep State /proc/$dpid/status)" \
		"version as root: $(timeout 5 "$PY" "$tmp/client.py" "$S" '{"cmd":"version"}' 2>&1)"
out=$(V jobs >/dev/null 2>&1 && echo ok)
[ "$out" = ok ] && ok "root connects while they are held" || nok "root locked out"
kill $hold 2>/dev/null; wait $hold 2>/dev/null
# until the daemon has seen those 17 go
for _ in $(seq 50); do
	[ "$(as 65534 '{"cmd":"version"}' | verdict)" = ok ] && break; sleep 0.1
done

# ---- idle connections ----
out=$(as 65534 --idle 6)
if grep -q "no request for 2 s: connection closed (--idle-timeout)" <<<"$out" && grep -q "^closed after" <<<"$out"; then
	ok "a connection that says nothing is closed after --idle-timeout, saying why"
else
	nok "idle" "$out"
fi
wjob=$(V restore sim:w1 --from tcp://127.0.0.1:0 --detach 2>/dev/null | job_of)
"$PY" - "$S" "$wjob" >"$tmp/watch.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(('{"id":1,"cmd":"watch","job":%s}\n' % sys.argv[2]).encode())
s.settimeout(0.5)
t0, got = time.time(), b''
while time.time() - t0 < 4:
    try:
        b = s.recv(65536)
    except socket.timeout:
        continue
    if not b:
        print('closed'); sys.exit(0)
    got += b
print('open' if b'connection closed' not in got else 'closed by idle')
PY
wpid=$!
wait $wpid
[ "$(cat "$tmp/watch.out")" = open ] && ok "a connection that watches a job is not idle" || nok "watcher closed" "$(cat "$tmp/watch.out")"
V cancel "$wjob" >/dev/null 2>&1

# ---- a black-hole resolver: a listen on a host name does not hold the main loop ----
# A second daemon in its own network and mount namespaces, where DNS goes to a UDP
# port that never answers (6 s before getaddrinfo gives up).
if command -v unshare >/dev/null && command -v ip >/dev/null; then
	cat >"$tmp/blackhole.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 53))
import os
with open(sys.argv[1], 'w') as f:
    f.write('%d\n' % os.getpid())
while True:
    s.recvfrom(4096)  # and never answer
PY
	printf 'nameserver 127.0.0.1\noptions timeout:3 attempts:2\n' >"$tmp/resolv.conf"
	printf 'hosts: files dns\n' >"$tmp/nsswitch.conf"
	S2=$tmp/bh.sock
	unshare --net --mount bash -c '
		ip link set lo up &&
		mount --bind "$1/resolv.conf" /etc/resolv.conf &&
		mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf || exit 1
		"$2" "$1/blackhole.py" "$1/bh.ready" >/dev/null 2>&1 </dev/null &
		exec "$3" --socket "$1/bh.sock" 2>"$1/bh.log"' _ "$tmp" "$PY" "$VFIOMIGD" &
	bhpid=$!
	for _ in $(seq 100); do [ -S "$S2" ] && [ -e "$tmp/bh.ready" ] && break; sleep 0.05; done
	out=$("$VFIOMIG" --connect="$S2" restore sim:bh --from tcp://blackhole.vfiomig-test:4444 --detach 2>&1)
	bjob=$(job_of <<<"$out")
	js=$("$VFIOMIG" --connect="$S2" -j jobs 2>&1)
	# the start answer and the listing came while the job still resolves: no
	# "listening" yet, still running (the resolver gives up only after 6 s)
	if [ -n "$bjob" ] && [ "$(jq ".jobs[] | select(.job == $bjob) | .state == \"running\" and (.listening == null)" <<<"$js")" = true ]; then
		ok "a listen on a host name with a black-hole resolver: other requests are answered while it resolves"
	else
		nok "black-hole resolver" "$out" "$js"
	fi
	"$VFIOMIG" --connect="$S2" wait "$bjob" >"$tmp/bh.out" 2>&1
	grep -q "blackhole.vfiomig-test" "$tmp/bh.out" && ok "the job then fails naming the host" || nok "resolver failure" "$(cat "$tmp/bh.out")"
	kill $bhpid "$(cat "$tmp/bh.ready")" 2>/dev/null; wait $bhpid 2>/dev/null
else
	skip "a black-hole resolver" "no unshare or ip"
fi

# ---- the log in total: --log-max lines an hour about other uids ----
S3=$tmp/lm.sock
"$VFIOMIGD" --socket "$S3" --group nogroup --log-max 20 2>"$tmp/lm.log" &
lmpid=$!
for _ in $(seq 100); do [ -S "$S3" ] && break; sleep 0.05; done
for round in 1 2; do
	S=$S3 as 65534 --spam 30 # 60 lines unbounded, within the rate's burst of 50
	[ $round = 1 ] && sleep 1.5 # the rate refills; the hour's budget does not
done
about=$(grep -c "job [0-9]\|held back" "$tmp/lm.log")
if [ "$about" -le 20 ] && [ "$about" -ge 15 ]; then
	ok "--log-max 20: 120 loggable events from another uid in two bursts gave $about log lines"
else
	nok "--log-max" "$about lines" "$(tail -5 "$tmp/lm.log")"
fi
kill $lmpid; wait $lmpid

kill $dpid; wait $dpid; drc=$?
[ $drc = 0 ] && ok "the daemon exits 0 on SIGTERM" || nok "daemon exit $drc" "$(tail -5 "$tmp/daemon.log")"
if grep -qE "runtime error|Sanitizer" "$tmp/daemon.log"; then
	nok "no sanitizer report" "$(grep -E -A3 'Sanitizer|runtime error' "$tmp/daemon.log" | head -20)"
else
	ok "no sanitizer report"
fi
dpid=
tap_end
