#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Load test of vfiomigd under hostile local clients (issue 11, "Load test").  It measures:
#  - a 1 GiB save -> restore of sim devices through two vfiomigd (source and
#    destination, tcp on 127.0.0.1), run REPEAT times quiet and REPEAT times while 4
#    hostile clients (uid 65534, in the sockets' group) attack both daemons:
#      fdflood  SCM_RIGHTS floods: 72 descriptors (some requests 100) with valid,
#               malformed and never-finished request lines, connections held and rotated
#      slow     lines sent a byte every 100 ms, never a newline
#      garbage  malformed JSON (syntax, nesting, bad UTF-8, NUL, unknown commands),
#               70 KB and 1 MiB lines, and a connection that never reads its answers
#      churn    connect/disconnect loops (bare, mid-line, one request) and job spam:
#               restores listening on tcp://127.0.0.1:0 with "timeout_usec": 1 s, then cancel
#    -> the median wall time of each phase as throughput; under attack it must be at
#    least 0.8 x the quiet one;
#  - root's `version` round trip on a persistent connection to each daemon, every 20 ms
#    (p50/p99/max; p99 under attack < 100 ms);
#  - each daemon's VmRSS and open descriptors every 200 ms (max < 64 MiB, < 512 fds: the
#    daemons run under RLIMIT_NOFILE 1024, systemd's default, so the in-flight
#    descriptor bound is 320, 160 for unprivileged peers; see vfiomigd(8), PRIVILEGES);
#  - each daemon's log (stderr) size at the end (< 1 MiB).
# Prints a table and one PASS/FAIL line a criterion; exits 0 only if all pass.  Bounded:
# about 1 minute, killed at 170 s; everything started is killed on exit.
#
# Timing criteria, so not a meson test (CI must not run timed assertions).  Run by hand
# as root on a release build (bash + python3's standard library, setpriv, group nogroup):
#   meson setup build-rel --buildtype=release && ninja -C build-rel
#   tests/load/daemon-load.sh build-rel/src/cli/vfiomig build-rel/src/daemon/vfiomigd
# or `ninja -C build-rel load-daemon` (bench/meson.build).  Environment: REPEAT (5
# migrations a phase), ATTACK_MIN (25 s of attack at least), LOAD_NOFILE (1024),
# ATTACKERS (a subset of "fdflood slow garbage churn", to tell which one costs what).
set -u
VFIOMIG=$(realpath "${1:-build-rel/src/cli/vfiomig}")
VFIOMIGD=$(realpath "${2:-build-rel/src/daemon/vfiomigd}")
REPEAT=${REPEAT:-5}
ATTACK_MIN=${ATTACK_MIN:-25}
LOAD_NOFILE=${LOAD_NOFILE:-1024}
PY=/usr/bin/python3
die() { echo "daemon-load: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (the hostile clients run as uid 65534)"
command -v setpriv >/dev/null || die "no setpriv (util-linux)"
[ -x "$PY" ] || die "no $PY"
getent group nogroup >/dev/null || die "no group nogroup"
[ -x "$VFIOMIG" ] && [ -x "$VFIOMIGD" ] || die "usage: daemon-load.sh PATH-TO-vfiomig PATH-TO-vfiomigd"

tmp=$(mktemp -d /tmp/daemon-load.XXXXXX)
chmod 0755 "$tmp"
pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "daemon-load: interrupted" >&2; exit 3' INT TERM
( sleep 170 & s=$!; trap 'kill $s; exit' TERM; wait $s
  echo "daemon-load: over 170 s, killed" >&2; kill -TERM $$ ) &
pids+=($!)
now() { date +%s.%N; }

cat >"$tmp/load.py" <<'PY'
import array, json, os, random, select, signal, socket, sys, time

def stop_on_term():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

def unix(path, timeout=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s

def sendfds(s, data, fds):
    return s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                               array.array('i', fds))] if fds else [])

class Stats(dict):
    def add(self, k, n=1):
        self[k] = self.get(k, 0) + n
    def answers(self, buf):
        for l in buf.split(b'\n'):
            if not l.strip():
                continue
            try:
                o = json.loads(l)
            except ValueError:
                self.add('unparsable-answer')
                continue
            if 'event' in o:
                self.add('event')
            elif o.get('ok'):
                self.add('ok')
            else:
                self.add((o.get('error') or {}).get('name', '?'))

def drain(s, st):
    """Read what is there without blocking; False when the daemon closed."""
    try:
        while True:
            r, _, _ = select.select([s], [], [], 0)
            if not r:
                return True
            b = s.recv(65536)
            if not b:
                return False
            st.answers(b)
    except OSError:
        return False

def close(s):
    try:
        s.close()
    except OSError:
        pass

# ---- hostile clients: MODE DURATION SOCKET... ; a summary (JSON) on stdout at the end
def h_fdflood(socks, until, st):
    null = [os.open('/dev/null', os.O_RDWR) for _ in range(60)]
    pipes = []
    for _ in range(20):
        pipes += list(os.pipe())
    fds72 = null + pipes[:12]
    fds100 = null + pipes
    held = {p: [] for p in socks}
    spam = {p: None for p in socks}
    n = 0
    while time.time() < until:
        for p in socks:
            n += 1
            # a connection holding 72 descriptors with a line it never finishes
            try:
                if len(held[p]) >= 5:
                    close(held[p].pop(0))
                s = unix(p)
                sendfds(s, b'{"id":1,"cmd":"attach","devices":["fd:0:sim:', fds72)
                st.add('fds-sent', 72)
                held[p].append(s)
                st.add('held-conn')
            except OSError as e:
                st.add('connect-' + (e.__class__.__name__))
            # complete requests with descriptors: valid, malformed, over 72
            try:
                if spam[p] is None:
                    spam[p] = unix(p)
                s = spam[p]
                k = n % 4
                if k == 0:
                    line, fds = b'{"id":%d,"cmd":"attach","devices":[{"fd":0,"device":"sim:f%d"}]}\n' % (n, n), fds72
                elif k == 1:
                    line, fds = b'{"id":%d,"cmd":"save","devices":["fd:3"],"stream_fd":70,"to":' % n + b'\n', fds72
                elif k == 2:
                    line, fds = b'{"id":%d,"cmd":"version"}\n' % n, fds100
                else:
                    line, fds = b'{"id":%d,"cmd":"restore","devices":["fd:71:sim:q"],"stream_fd":0}\n' % n, fds72
                sendfds(s, line, fds)
                st.add('fds-sent', len(fds))
                if not drain(s, st):
                    close(s)
                    spam[p] = None
                    st.add('spam-conn-closed')
            except OSError:
                if spam[p] is not None:
                    close(spam[p])
                spam[p] = None
                st.add('send-error')
        time.sleep(0.01)

def h_slow(socks, until, st):
    conns = []
    line = b'{"id":1,"cmd":"version","x":"' + b'a' * 100000
    while time.time() < until:
        conns = [c for c in conns if c[0] is not None]
        per = {p: sum(1 for c in conns if c[1] == p) for p in socks}
        for p in socks:
            for _ in range(4 - per[p]):
                try:
                    conns.append([unix(p), p, 0])
                    st.add('conn')
                except OSError:
                    st.add('connect-error')
        for c in conns:
            try:
                c[0].send(line[c[2]:c[2] + 1])
                c[2] += 1
                st.add('bytes')
                if not drain(c[0], st):
                    raise OSError
            except OSError:
                close(c[0])
                c[0] = None
                st.add('closed-by-daemon')
        time.sleep(0.1)

GARBAGE = [b'{"id":1,"cmd":\n', b'[1,2,3]\n', b'[[[[[[[[[[[[1]]]]]]]]]]]]\n',
           b'{"id":"\xff\xfe","cmd":"version"}\n', b'{"id":2,"cmd":"ver\x00sion"}\n',
           b'{"id":3,"cmd":"version"} trailing\n', b'{"id":4,"cmd":"nope"}\n',
           b'{"id":5,"cmd":"version","bogus":1}\n', b'\x1b[2J\xe2\x80\xae{}\n',
           b'{"id":' + b'9' * 400 + b',"cmd":"version"}\n', b'"just a string"\n',
           b'{"id":6,"cmd":"save","devices":[],"to":"exec:id"}\n']

def h_garbage(socks, until, st):
    reader = {p: None for p in socks}
    mute = {p: None for p in socks}
    n = 0
    big = b'{"id":7,"cmd":"version","x":"' + b'b' * (1 << 20) + b'"}\n'
    long = b'[' + b'1,' * 35000 + b'1]\n'
    while time.time() < until:
        n += 1
        for p in socks:
            try:
                if reader[p] is None:
                    reader[p] = unix(p)
                    st.add('conn')
                s = reader[p]
                s.sendall(b''.join(random.choice(GARBAGE) for _ in range(4)))
                st.add('lines', 4)
                if n % 10 == 0:
                    s.sendall(long)
                    st.add('long-lines')
                if n % 40 == 0:
                    s.sendall(big)
                    st.add('mib-lines')
                if not drain(s, st):
                    raise OSError
            except OSError:
                close(reader[p])
                reader[p] = None
                st.add('reader-closed')
            # never reads: answers pile up in the daemon until it cuts the connection
            try:
                if mute[p] is None:
                    mute[p] = unix(p)
                    mute[p].setblocking(False)
                    st.add('mute-conn')
                mute[p].send(b'x\n' * 2000)
                st.add('mute-lines', 2000)
            except BlockingIOError:
                st.add('mute-blocked')
            except OSError:
                close(mute[p])
                mute[p] = None
                st.add('mute-closed-by-daemon')
        time.sleep(0.005)

def h_churn(socks, until, st):
    spam = {p: None for p in socks}
    n = 0
    while time.time() < until:
        n += 1
        for p in socks:
            # connect / disconnect
            for k in range(3):
                try:
                    s = unix(p, 1.0)
                    if k == 1:
                        s.sendall(b'{"id":1,"cmd":"ver')
                    elif k == 2:
                        s.sendall(b'{"id":1,"cmd":"version"}\n')
                        st.answers(s.recv(4096))
                    close(s)
                    st.add('connects')
                except OSError:
                    st.add('connect-error')
            # job spam: a restore listening on loopback for 1 s, half of them cancelled
            if n % 3:
                continue
            try:
                if spam[p] is None:
                    spam[p] = unix(p)
                    spam[p].settimeout(2.0)
                s = spam[p]
                s.sendall(b'{"id":%d,"cmd":"restore","devices":["sim:spam%d-%d,size=1M,expect-seed=1"],'
                          b'"from":"tcp://127.0.0.1:0","timeout_usec":1000000,"watch":false}\n' % (n, os.getpid(), n))
                st.add('jobs-requested')
                buf = b''
                while not buf.endswith(b'\n'):
                    b = s.recv(65536)
                    if not b:
                        raise OSError
                    buf += b
                for l in buf.split(b'\n'):
                    if not l.strip():
                        continue
                    o = json.loads(l)
                    if o.get('id') == n and o.get('ok'):
                        st.add('jobs-started')
                        if n % 2:
                            s.sendall(b'{"id":%d,"cmd":"cancel","job":%d}\n'
                                      % (-n, o['result']['job']))
                            st.add('cancels')
                    else:
                        st.answers(l)
                if not drain(s, st):
                    raise OSError
            except (OSError, ValueError):
                close(spam[p])
                spam[p] = None
                st.add('spam-conn-lost')
        time.sleep(0.01)

def hostile(mode, secs, socks):
    stop_on_term()
    st = Stats()
    until = time.time() + secs
    try:
        {'fdflood': h_fdflood, 'slow': h_slow, 'garbage': h_garbage,
         'churn': h_churn}[mode](socks, until, st)
    finally:
        print(json.dumps({'mode': mode, 'uid': os.getuid(), 'stats': st}), flush=True)

# ---- root's prober: OUT SECS NAME=SOCKET...: "t name ms ok" every 20 ms a daemon
def probe(out, secs, targets):
    import threading
    stop_on_term()
    until = time.time() + secs
    f = open(out, 'w', buffering=1)
    lock = threading.Lock()
    def run(name, path):
        s, i, buf = None, 0, b''
        nxt = time.monotonic()
        while time.time() < until:
            if s is None:
                try:
                    s = unix(path, 5.0)
                except OSError:
                    time.sleep(0.1)
                    continue
            i += 1
            t0 = time.perf_counter()
            ok = 0
            try:
                s.sendall(b'{"id":%d,"cmd":"version"}\n' % i)
                while True:
                    while b'\n' not in buf:
                        b = s.recv(65536)
                        if not b:
                            raise OSError('closed')
                        buf += b
                    l, buf = buf.split(b'\n', 1)
                    o = json.loads(l)
                    if o.get('id') == i:
                        ok = 1 if o.get('ok') else 0
                        break
            except (OSError, ValueError):
                close(s)
                s, buf = None, b''
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                f.write('%.6f %s %.3f %d\n' % (time.time(), name, ms, ok))
            nxt = max(nxt + 0.02, time.monotonic())
            time.sleep(max(0, nxt - time.monotonic()))
    th = [threading.Thread(target=run, args=a.split('=', 1), daemon=True) for a in targets]
    for t in th:
        t.start()
    while any(t.is_alive() for t in th):
        time.sleep(0.1)

# ---- sampler: OUT SECS NAME=PID...: "t name rss_kib fds" every 200 ms a daemon
def sample(out, secs, targets):
    stop_on_term()
    until = time.time() + secs
    f = open(out, 'w', buffering=1)
    while time.time() < until:
        for a in targets:
            name, pid = a.split('=', 1)
            try:
                rss = 0
                with open('/proc/%s/status' % pid) as st:
                    for l in st:
                        if l.startswith('VmRSS:'):
                            rss = int(l.split()[1])
                nfd = len(os.listdir('/proc/%s/fd' % pid))
            except OSError:
                rss, nfd = -1, -1
            f.write('%.6f %s %d %d\n' % (time.time(), name, rss, nfd))
        time.sleep(0.2)

# ---- report: TMPDIR; exit 0 only if every criterion passes
def pct(v, q):
    if not v:
        return float('nan')
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]

def report(d):
    ph = dict(l.split() for l in open(d + '/phases'))
    ph = {k: float(v) for k, v in ph.items()}
    runs = {}
    for l in open(d + '/runs'):
        phase, secs, rc = l.split()
        runs.setdefault(phase, []).append((float(secs), int(rc)))
    probes = [l.split() for l in open(d + '/probe')]
    samples = [l.split() for l in open(d + '/samples')]
    logs = dict(l.split() for l in open(d + '/logsizes'))
    def window(phase):
        return ph[phase + '-start'], ph[phase + '-end']
    rows, verdicts = [], []
    def row(k, *v):
        rows.append('%-34s %s' % (k, '  '.join('%-22s' % x for x in v)))
    row('', 'quiet', 'attack')
    med = {}
    for phase in ('quiet', 'attack'):
        r = runs.get(phase, [])
        good = [s for s, rc in r if rc == 0]
        med[phase] = pct(good, 0.5) if len(good) == len(r) and r else float('nan')
    row('migrations (1 GiB) ok/run', *['%d/%d' % (sum(rc == 0 for _, rc in runs.get(p, [])),
                                                 len(runs.get(p, []))) for p in ('quiet', 'attack')])
    row('  wall s each', *[' '.join('%.2f' % s for s, _ in runs.get(p, [])) for p in ('quiet', 'attack')])
    row('  median wall s / MiB/s', *['%.3f / %.0f' % (med[p], 1024 / med[p]) for p in ('quiet', 'attack')])
    for name in ('src', 'dst'):
        for phase in ('quiet', 'attack'):
            a, b = window(phase)
            lat = [float(p[2]) for p in probes if p[1] == name and a <= float(p[0]) <= b]
            bad = sum(1 for p in probes if p[1] == name and a <= float(p[0]) <= b and p[3] != '1')
            med[(name, phase)] = (lat, bad)
        row('version %s n/p50/p99/max ms' % name,
            *['%d/%.1f/%.1f/%.1f' % (len(med[(name, p)][0]), pct(med[(name, p)][0], .5),
                                     pct(med[(name, p)][0], .99),
                                     max(med[(name, p)][0] or [float('nan')])) for p in ('quiet', 'attack')])
        row('version %s failed answers' % name, *[str(med[(name, p)][1]) for p in ('quiet', 'attack')])
    mx = {}
    for name in ('src', 'dst'):
        for phase in ('quiet', 'attack', 'after'):
            a, b = window(phase)
            s = [(int(x[2]), int(x[3])) for x in samples if x[1] == name and a <= float(x[0]) <= b]
            mx[(name, phase)] = (max([r for r, _ in s] or [-1]), max([f for _, f in s] or [-1]),
                                 s[-1] if s else (-1, -1), len(s))
        row('RSS %s max MiB' % name, *['%.1f' % (mx[(name, p)][0] / 1024) for p in ('quiet', 'attack')])
        row('fds %s max' % name, *['%d' % mx[(name, p)][1] for p in ('quiet', 'attack')])
        row('%s after attack (RSS MiB, fds)' % name, '', '%.1f MiB, %d fds' %
            (mx[(name, 'after')][2][0] / 1024, mx[(name, 'after')][2][1]))
    for name in ('src', 'dst'):
        row('log %s bytes (start/quiet/end)' % name, '%s/%s' % (logs[name + '-start'], logs[name + '-quiet']),
            logs[name + '-end'])
    w = ph['attack-end'] - ph['attack-start']
    row('log growth under attack B/s', '', ', '.join('%s %.0f' % (n, (int(logs[n + '-end']) - int(logs[n + '-quiet'])) / w)
                                                 for n in ('src', 'dst')))
    row('attack window s', '', '%.1f' % w)
    cpu = [l.split() for l in open(d + '/cpu')]
    row('CPU ms in attack window', '', ', '.join('%s %s' % (a, b) for a, b in cpu))
    for l in open(d + '/fdkinds'):
        n, _, k = l.strip().partition(' ')
        row('%s fds after attack' % n, '', k)
    print('\n'.join(rows))
    for f in sorted(os.listdir(d)):
        if f.startswith('hostile-'):
            for l in open(d + '/' + f):
                try:
                    o = json.loads(l)
                    print('  %-8s %s' % (o['mode'], ' '.join('%s=%s' % kv for kv in sorted(o['stats'].items()))))
                except ValueError:
                    print('  %s: %s' % (f, l.strip()))
    def crit(ok, what):
        verdicts.append(ok)
        print('%s: %s' % ('PASS' if ok else 'FAIL', what))
    q, a = med['quiet'], med['attack']
    crit(a == a and q == q and 1024 / a >= 0.8 * 1024 / q,
         'migration under attack completes, throughput %.0f MiB/s >= 0.8 x quiet %.0f MiB/s'
         % (1024 / a, 1024 / q))
    for name in ('src', 'dst'):
        lat, bad = med[(name, 'attack')]
        crit(len(lat) > 100 and pct(lat, .99) < 100 and bad == 0,
             '%s: root version p99 %.1f ms < 100 ms (%d samples, %d failed)'
             % (name, pct(lat, .99), len(lat), bad))
    for name in ('src', 'dst'):
        r = max(mx[(name, p)][0] for p in ('quiet', 'attack', 'after'))
        n = max(mx[(name, p)][1] for p in ('quiet', 'attack', 'after'))
        crit(0 < r < 64 * 1024, '%s: RSS max %.1f MiB < 64 MiB' % (name, r / 1024))
        crit(0 < n < 512, '%s: descriptors max %d < 512' % (name, n))
    for name in ('src', 'dst'):
        crit(int(logs[name + '-end']) < 1 << 20, '%s: log %s bytes < 1 MiB' % (name, logs[name + '-end']))
    alive = open(d + '/alive').read().split()
    crit(alive == ['1', '1'], 'both daemons alive at the end')
    return 0 if all(verdicts) else 1

if __name__ == '__main__':
    m = sys.argv[1]
    if m == 'hostile':
        hostile(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    elif m == 'probe':
        probe(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    elif m == 'sample':
        sample(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    elif m == 'report':
        sys.exit(report(sys.argv[2]))
PY

SRC=$tmp/src.sock DST=$tmp/dst.sock
start_daemon() { # NAME
	( ulimit -n "$LOAD_NOFILE" && exec "$VFIOMIGD" --socket "$tmp/$1.sock" --group nogroup \
		--idle-timeout 10 ) 2>"$tmp/$1.log" &
	pids+=($!)
	eval "${1}_pid=$!"
}
start_daemon src
start_daemon dst
for _ in $(seq 50); do [ -S "$SRC" ] && [ -S "$DST" ] && break; sleep 0.1; done
[ -S "$SRC" ] && [ -S "$DST" ] || die "the daemons did not start: $(cat "$tmp"/*.log)"
logsize() { for n in src dst; do echo "$n-$1 $(stat -c %s "$tmp/$n.log")"; done >>"$tmp/logsizes"; }
logsize start

# migrate PHASE: one 1 GiB save -> restore; "PHASE seconds rc" in runs
migrate() {
	local err=$tmp/restore.err rpid uri t0 t1 rc=0 i
	: >"$err"
	timeout 60 "$VFIOMIG" --connect="$DST" restore sim:x,size=1G,expect-seed=7 \
		--from tcp://127.0.0.1:0 >"$tmp/restore.out" 2>"$err" &
	rpid=$!
	for i in $(seq 100); do grep -q '^vfiomig: listening on' "$err" && break; sleep 0.05; done
	uri=$(sed -n 's/^vfiomig: listening on //p' "$err")
	t0=$(now)
	if [ -n "$uri" ]; then
		timeout 60 "$VFIOMIG" --connect="$SRC" save sim:a,size=1G,seed=7 --to "$uri" \
			>"$tmp/save.out" 2>&1 || rc=$?
	else
		rc=99
	fi
	wait "$rpid" || { [ $rc = 0 ] && rc=$((100 + $?)); }
	t1=$(now)
	[ $rc = 0 ] || { echo "migration ($1) failed, rc $rc:" >&2; cat "$tmp/save.out" "$tmp/restore.out" "$err" >&2; }
	echo "$1 $(echo "$t1 - $t0" | bc) $rc" >>"$tmp/runs"
}

$PY "$tmp/load.py" probe "$tmp/probe" 160 src="$SRC" dst="$DST" &
pids+=($!)
$PY "$tmp/load.py" sample "$tmp/samples" 160 src="$src_pid" dst="$dst_pid" &
pids+=($!)
sleep 1
echo "quiet-start $(now)" >>"$tmp/phases"
for _ in $(seq "$REPEAT"); do migrate quiet; sleep 0.5; done
echo "quiet-end $(now)" >>"$tmp/phases"
logsize quiet

echo "attack-start $(now)" >>"$tmp/phases"
attack_t0=$(date +%s)
hostile=()
cputime() { # PID: utime + stime in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
cpu0_src=$(cputime "$src_pid") cpu0_dst=$(cputime "$dst_pid")
for mode in ${ATTACKERS:-fdflood slow garbage churn}; do
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$tmp/load.py" hostile "$mode" \
		$((ATTACK_MIN + 60)) "$SRC" "$DST" >"$tmp/hostile-$mode" 2>&1 &
	hostile+=($!)
	pids+=($!)
done
sleep 3
for _ in $(seq "$REPEAT"); do migrate attack; sleep 0.5; done
while [ $(($(date +%s) - attack_t0)) -lt "$ATTACK_MIN" ]; do sleep 0.5; done
echo "attack-end $(now)" >>"$tmp/phases"
hz=$(getconf CLK_TCK)
{
	echo "src $(( ($(cputime "$src_pid") - cpu0_src) * 1000 / hz ))"
	echo "dst $(( ($(cputime "$dst_pid") - cpu0_dst) * 1000 / hz ))"
	for p in "${hostile[@]}"; do echo "$(ps -o args= -p "$p" | awk '{print $4}') $(( $(cputime "$p") * 1000 / hz ))"; done
} >"$tmp/cpu"
kill "${hostile[@]}" 2>/dev/null
wait "${hostile[@]}" 2>/dev/null
sleep 3 # the daemons give back what the attackers held
echo "after-start $(now)" >>"$tmp/phases"
sleep 1
echo "after-end $(now)" >>"$tmp/phases"
fdkinds() { # PID: what the daemon's descriptors are, counted
	for f in /proc/"$1"/fd/*; do readlink "$f"; done 2>/dev/null |
		sed -E 's/\[[0-9]+\]/[]/; s/^anon_inode:/anon:/' | sort | uniq -c | sort -rn |
		awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }'
}
for n in src dst; do eval "echo \"$n \$(fdkinds \$${n}_pid)\""; done >"$tmp/fdkinds"
logsize end
{ kill -0 "$src_pid" 2>/dev/null && echo 1 || echo 0; kill -0 "$dst_pid" 2>/dev/null && echo 1 || echo 0; } >"$tmp/alive"

echo "daemon-load: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), RLIMIT_NOFILE $LOAD_NOFILE, $REPEAT migrations a phase"
$PY "$tmp/load.py" report "$tmp"
rc=$?
for n in src dst; do
	echo "--- $n log: $(wc -l <"$tmp/$n.log") lines; by kind:"
	sed -E 's/[0-9]+/N/g' "$tmp/$n.log" | sort | uniq -c | sort -rn | head -8
done
exit $rc
