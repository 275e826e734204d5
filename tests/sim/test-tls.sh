#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# TLS on save/restore with simulated devices: certificates made here with certtool;
# mutual authentication over tcp and unix; every refusal (plaintext either way,
# another CA, no client certificate, DN not allowed, expired, wrong name, wrong PSK)
# named on both ends, and the same listener then still takes the right peer; PSK; a
# capture between the two holds none of the device's bytes (and does without TLS).
set -u
VFIOMIG=$(realpath "${1:?usage: test-tls.sh PATH-TO-vfiomig [PATH-TO-vfiomigd]}")
VFIOMIGD=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
command -v certtool >/dev/null || { echo "1..0 # SKIP certtool missing (gnutls-bin; tests/install-deps.sh)"; exit 0; }
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
tmp=$(mktemp -d)
dpid=
trap '[ -n "$dpid" ] && kill $dpid 2>/dev/null; kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

bash "$here/tls-certs.sh" "$tmp/pki" || { echo "Bail out! certtool failed"; exit 1; }
P=$tmp/pki
SEED=0x5eed7e57
SRC=(sim:a,seed=$SEED,size=2M)
DST=(sim:x,size=2M,expect-seed=$SEED)


# wait_for FILE REGEX: until FILE has a line matching REGEX (10 s)
wait_for() {
	local i
	for i in $(seq 100); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# restore_bg URI ARGS...: a restore listening in the background: $rpid, $ruri
restore_bg() {
	local u=$1; shift
	: >"$tmp/r.err"
	"$VFIOMIG" restore "${DST[@]}" --from "$u" --timeout 60 "$@" >"$tmp/r.out" 2>"$tmp/r.err" &
	rpid=$!
	ruri=$(listen_uri "$tmp/r.err") || { echo "Bail out! restore never listened: $(cat "$tmp/r.err")"; exit 1; }
}

# refused DESC CLIENT-REGEX SERVER-REGEX SAVE-ARGS...: save fails, its stderr names the
# reason, and the listening restore logged the rejection with its reason.
refused() {
	local desc=$1 cre=$2 sre=$3; shift 3
	local before
	before=$(grep -c "rejected" "$tmp/r.err")
	"$VFIOMIG" save "${SRC[@]}" --to "$ruri" --timeout 10 "$@" >"$tmp/s.out" 2>"$tmp/s.err"
	local rc=$?
	if [ $rc = 0 ] || ! grep -qE "$cre" "$tmp/s.err"; then
		nok "$desc: the source says why" "exit $rc" "$(cat "$tmp/s.err" "$tmp/s.out")"
	else
		ok "$desc: the source says why"
	fi
	if wait_for "$tmp/r.err" "rejected .*$sre" && [ "$(grep -c rejected "$tmp/r.err")" -gt "$before" ]; then
		ok "$desc: the destination logs the rejection"
	else
		nok "$desc: the destination logs the rejection" "$(cat "$tmp/r.err")"
	fi
}

# accepted DESC SAVE-ARGS...: save succeeds into the listening restore, which ends too
accepted() {
	local desc=$1; shift
	"$VFIOMIG" --json save "${SRC[@]}" --to "$ruri" --timeout 10 "$@" >"$tmp/s.out" 2>"$tmp/s.err"
	local src=$?
	wait $rpid; local dst=$?
	jvalid vfiomig-save "$tmp/s.out" "save --json: $desc"
	if [ "$src$dst" = 00 ] && grep -q "restored 1 device" "$tmp/r.out" &&
	   jq -e '.success and (.security | startswith("TLS 1.3"))' "$tmp/s.out" >/dev/null &&
	   grep -q "security: TLS 1.3" "$tmp/r.out"; then
		ok "$desc"
	else
		nok "$desc" "exits $src/$dst" "save: $(cat "$tmp/s.err" "$tmp/s.out")" "restore: $(cat "$tmp/r.err" "$tmp/r.out")"
	fi
}

# ---- mutual authentication ----
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/server"
accepted "x509 over tcp: migrates, both reports say TLS 1.3" --tls-creds "$P/client"
grep -q "x509 peer '.*CN=src.example'" "$tmp/r.out" && jq -e '.security | test("x509 peer .*CN=dst.example")' "$tmp/s.out" >/dev/null \
	&& ok "each report names the peer's DN" || nok "each report names the peer's DN" "$(cat "$tmp/s.out" "$tmp/r.out")"

restore_bg "unix:$tmp/sock" --tls-creds "$P/server"
accepted "x509 over unix: migrates" --tls-creds "$P/client"

restore_bg "tcp://localhost:0" --tls-creds "$P/server"
accepted "x509, the server's name checked against the URI's host name" --tls-creds "$P/client"

# ---- refusals, one listener: it still takes the right peer afterwards ----
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/server" --tls-authz '*CN=src.example' --tls-authz 'CN=none'
refused "plaintext source to a TLS listener" "looks like this: give both sides --tls-creds" "does not speak TLS"
refused "a client certificate of another CA" "refused the connection: TLS alert" "issuer is unknown" --tls-creds "$P/foreign-client"
refused "a client without certificate" "TLS alert 'Certificate is required'" "presented no certificate" --tls-creds "$P/nocert-client"
refused "a client whose DN is not allowed" "refused the connection: TLS alert 'Access was denied'" "DN '.*CN=stranger.example' matches no allowed pattern" --tls-creds "$P/stranger-client"
refused "an expired client certificate" "refused the connection: TLS alert" "expired" --tls-creds "$P/expired-client"
accepted "after five refusals the same listener migrates with the right peer" --tls-creds "$P/client"
# the refusals above that need --tls-creds of their own
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/server"
refused "a client of another CA altogether: it refuses the server" "certificate was refused: .*issuer is unknown" "TLS alert 'Certificate is bad'" --tls-creds "$P/other-client"
accepted "and then the right peer" --tls-creds "$P/client"

# ---- the server's certificate, checked by the client ----
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/wrongname-server"
refused "a server certificate of another name" "name in the certificate does not match" "TLS alert 'Certificate is bad'" --tls-creds "$P/client"
accepted "the same server with --tls-hostname naming it" --tls-creds "$P/client" --tls-hostname wrong.example
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/other-server"
refused "a server of another CA" "issuer is unknown" "TLS alert 'Certificate is bad'" --tls-creds "$P/client"
kill $rpid 2>/dev/null; wait $rpid 2>/dev/null

# ---- TLS source to a plaintext listener ----
restore_bg tcp://127.0.0.1:0
"$VFIOMIG" save "${SRC[@]}" --to "$ruri" --timeout 10 --tls-creds "$P/client" >"$tmp/s.out" 2>"$tmp/s.err"
rc=$?; wait $rpid; rrc=$?
[ $rc != 0 ] && grep -q "TLS handshake failed: the peer closed the connection" "$tmp/s.err" \
	&& ok "TLS source to a plaintext listener: the source says why" || nok "TLS source to plaintext: source" "$rc $(cat "$tmp/s.err")"
[ $rrc != 0 ] && grep -q "16 03 .*looks like this: give both sides --tls-creds" "$tmp/r.err" \
	&& ok "TLS source to a plaintext listener: the destination says why" || nok "TLS source to plaintext: destination" "$rrc $(cat "$tmp/r.err")"

# ---- PSK ----
printf '# lab keys\nlab:%s\nother:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	"$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/keys.psk"
printf 'lab:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/wrong.psk"
printf 'nobody:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/unknown.psk"
restore_bg tcp://127.0.0.1:0 --tls-psk "$tmp/keys.psk"
refused "a different key for the identity" "TLS handshake failed" "pre-shared key" --tls-psk "$tmp/wrong.psk"
refused "an unknown PSK identity" "TLS handshake failed" "unknown PSK identity 'nobody'" --tls-psk "$tmp/unknown.psk"
accepted "PSK migrates after two refusals" --tls-psk "$tmp/keys.psk"
# an external PSK allows the SHA-256 suites only: AES-128-GCM, not ChaCha20 (NORMAL's
# next one, at a tenth of the speed where the CPU has AES instructions)
jq -e '.security | startswith("TLS 1.3 AES-128-GCM, PSK")' "$tmp/s.out" >/dev/null &&
	ok "PSK: AES-128-GCM is chosen" || nok "PSK: AES-128-GCM is chosen" "$(cat "$tmp/s.out")"
grep -q "PSK identity 'lab'" "$tmp/r.out" && ok "the report names the PSK identity" || nok "PSK identity in the report" "$(cat "$tmp/r.out")"

# ---- what a wire tap sees ----
# tap DESC RESTORE-ARGS -- SAVE-ARGS: restore listening, a relay in between recording
# the source's bytes in $tmp/cap; $tap_rc: both exits
tap() {
	local rargs=() sargs=() port relay i
	while [ $# -gt 0 ] && [ "$1" != -- ]; do rargs+=("$1"); shift; done
	shift
	sargs=("$@")
	restore_bg tcp://127.0.0.1:0 "${rargs[@]}"
	: >"$tmp/relay.out" # the wait below must not see the last relay's port
	python3 "$here/relay.py" "${ruri##*:}" "$tmp/cap" >"$tmp/relay.out" &
	relay=$!
	for i in $(seq 50); do grep -q port "$tmp/relay.out" && break; sleep 0.1; done
	port=$(awk '{print $2}' "$tmp/relay.out")
	"$VFIOMIG" save "${SRC[@]}" --to "tcp://127.0.0.1:$port" --timeout 10 "${sargs[@]}" >"$tmp/s.out" 2>"$tmp/s.err"
	local rc=$?
	wait $rpid; tap_rc=$rc$?
	wait $relay
}
tap --
if [ "$tap_rc" = 00 ] && python3 "$here/known.py" $SEED "$tmp/cap"; then
	ok "plaintext: the tap sees the device's bytes (so the next check can fail)"
else
	nok "plaintext capture" "$tap_rc $(cat "$tmp/s.err")"
fi
tap --tls-creds "$P/server" -- --tls-creds "$P/client"
size=$(stat -c %s "$tmp/cap")
if [ "$tap_rc" = 00 ] && [ "$size" -gt 2000000 ] && ! python3 "$here/known.py" $SEED "$tmp/cap" && ! grep -q "sim:a" "$tmp/cap"; then
	ok "TLS: the tap's $size bytes hold none of the device's bytes"
else
	nok "TLS capture" "exits $tap_rc, $size bytes" "$(cat "$tmp/s.err" "$tmp/r.err")"
fi

# ---- bounds, usage, setup errors ----
"$VFIOMIG" save "${SRC[@]}" --to "file:$tmp/f" --tls-creds "$P/client" >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && grep -q "tcp:// and unix: streams only" "$tmp/e" && ok "TLS with file: is a usage error" || nok "TLS with file:" "$rc $(cat "$tmp/e")"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 --tls-creds "$P/server" --tls-psk "$tmp/keys.psk" >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && grep -q "exclude each other" "$tmp/e" && ok "--tls-creds with --tls-psk is a usage error" || nok "creds+psk" "$rc $(cat "$tmp/e")"
args=(); for i in $(seq 33); do args+=(--tls-authz "CN=$i"); done
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 --tls-creds "$P/server" "${args[@]}" >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 2 ] && grep -q "at most 32" "$tmp/e" && ok "33 --tls-authz patterns: usage error" || nok "33 patterns" "$rc $(cat "$tmp/e")"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 --timeout 2 --tls-creds "$P/client" >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 1 ] && grep -q "$P/client/server-cert.pem: No such file" "$tmp/e" && ok "a missing credential file is named before listening" || nok "missing file" "$rc $(cat "$tmp/e")"
# GnuTLS is loaded when TLS is first used: without it, TLS fails with a clear error
# and everything else works (a mount namespace hides the library)
gt=$(ldconfig -p 2>/dev/null | sed -n 's/^[[:space:]]*libgnutls.so.30 (libc6,x86-64) => //p' | head -n1)
if [ "$(id -u)" != 0 ] || [ -z "$gt" ] || ! unshare -m true 2>/dev/null; then
	skip "without GnuTLS" "needs root, unshare -m and libgnutls.so.30 in ldconfig's cache"
else
	unshare -m sh -c 'mount --bind /dev/null "$1" && shift &&
		"$@" save sim:a --to tcp://127.0.0.1:9 --tls-psk "$0" >/dev/null 2>"$0.e1"
		echo $? >"$0.rc1"
		"$@" save sim:a --to "file:$0.vfm" --no-progress >/dev/null 2>"$0.e2"
		echo $? >"$0.rc2"' "$tmp/keys.psk" "$gt" "$VFIOMIG"
	grep -q "cannot load GnuTLS (libgnutls.so.30)" "$tmp/keys.psk.e1" && [ "$(cat "$tmp/keys.psk.rc1")" = 1 ] &&
		[ "$(cat "$tmp/keys.psk.rc2")" = 0 ] &&
		ok "without GnuTLS: TLS fails naming the library (exit 1), a save without TLS works" ||
		nok "without GnuTLS" "$(cat "$tmp/keys.psk.rc1" "$tmp/keys.psk.e1" "$tmp/keys.psk.rc2" "$tmp/keys.psk.e2" 2>&1)"
fi

printf 'lab:00zz\n' >"$tmp/bad.psk"
"$VFIOMIG" save "${SRC[@]}" --to tcp://127.0.0.1:9 --tls-psk "$tmp/bad.psk" >/dev/null 2>"$tmp/e"; rc=$?
[ $rc = 1 ] && grep -q "bad.psk: line 1: " "$tmp/e" && ok "a malformed keys.psk is named with its line" || nok "bad psk" "$rc $(cat "$tmp/e")"

# A silent peer holds the listener no longer than the accept's deadline.
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/server" --timeout 2
python3 -c "import socket,sys,time; s=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); time.sleep(8)" "${ruri##*:}" &
t0=$(date +%s%N); wait $rpid; rc=$?; t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ $rc != 0 ] && [ $ms -lt 5000 ] && grep -q "no authenticated peer" "$tmp/r.err" \
	&& ok "a silent peer cannot hold the listener past its deadline (${ms} ms)" || nok "silent peer" "$rc ${ms} ms $(cat "$tmp/r.err")"

# A peer that trickles a TLS hello byte by byte holds the listener no longer than the
# handshake's own deadline (10 s); the right peer, queued behind it, then migrates.
restore_bg tcp://127.0.0.1:0 --tls-creds "$P/server" --timeout 40
python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.send(b'\x16')
for _ in range(30):
    time.sleep(1)
    try: s.send(b'\x03')
    except OSError: break
" "${ruri##*:}" &
# (handshakes are served one at a time: the right peer's own 10 s deadline runs
# while it waits, so it comes 3 s after the trickler)
sleep 3
t0=$(date +%s%N)
"$VFIOMIG" save "${SRC[@]}" --to "$ruri" --timeout 30 --tls-creds "$P/client" >"$tmp/s.out" 2>"$tmp/s.err"
rc=$?; wait $rpid; rrc=$?; t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$rc$rrc" = 00 ] && [ $ms -lt 12000 ] && grep -q "rejected .*not done within 10000 ms" "$tmp/r.err" \
	&& ok "a trickling peer is dropped at the handshake deadline, the next one migrates (${ms} ms)" \
	|| nok "trickling peer" "$rc/$rrc ${ms} ms" "$(cat "$tmp/s.err" "$tmp/r.err")"

# Plaintext on an address others can reach: a warning.
"$VFIOMIG" restore "${DST[@]}" --from tcp://0.0.0.0:0 --timeout 1 >/dev/null 2>"$tmp/e"
grep -q "without TLS: anyone who reaches it can load state into the devices" "$tmp/e" \
	&& ok "plaintext on 0.0.0.0 warns" || nok "warning" "$(cat "$tmp/e")"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 --timeout 1 >/dev/null 2>"$tmp/e"
! grep -q "without TLS" "$tmp/e" && ok "plaintext on loopback does not warn" || nok "loopback warning" "$(cat "$tmp/e")"
# ---- through vfiomigd: the same options as request fields ----
if [ -n "$VFIOMIGD" ]; then
	S=$tmp/control.sock
	"$VFIOMIGD" --socket "$S" 2>"$tmp/daemon.log" &
	dpid=$!
	for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.05; done
	: >"$tmp/r.err"
	# a relative --tls-creds: the client makes it absolute for the daemon
	(cd "$P" && "$VFIOMIG" --connect="$S" -j restore "${DST[@]}" --from tcp://127.0.0.1:0 --timeout 30 \
		--tls-creds server --tls-authz '*CN=src.example' >"$tmp/r.out" 2>"$tmp/r.err") &
	rpid=$!
	if ruri=$(listen_uri "$tmp/r.err"); then
		"$VFIOMIG" save "${SRC[@]}" --to "$ruri" --timeout 10 --tls-creds "$P/stranger-client" >/dev/null 2>"$tmp/s.err"
		rc=$?
		[ $rc != 0 ] && grep -q "Access was denied" "$tmp/s.err" && wait_for "$tmp/daemon.log" "rejected .*matches no allowed pattern" \
			&& ok "vfiomigd: a peer outside tls_authz is refused and logged" || nok "vfiomigd refusal" "$rc $(cat "$tmp/s.err" "$tmp/daemon.log")"
		"$VFIOMIG" save "${SRC[@]}" --to "$ruri" --timeout 10 --tls-creds "$P/client" >/dev/null 2>"$tmp/s.err"
		rc=$?; wait $rpid; rrc=$?
		jvalid vfiomig-restore "$tmp/r.out" "vfiomig --connect -j restore over TLS"
		[ "$rc$rrc" = 00 ] && jq -e '.success and (.security | test("^TLS 1.3 .*CN=src.example"))' "$tmp/r.out" >/dev/null \
			&& ok "vfiomigd: restore over TLS, security in its JSON report" || nok "vfiomigd restore over TLS" "$rc/$rrc $(cat "$tmp/s.err" "$tmp/r.err" "$tmp/r.out")"
	else
		nok "vfiomigd: restore listening" "$(cat "$tmp/r.err")"
	fi
	# the daemon as the TLS client (save --connect), the CLI as the listener
	restore_bg tcp://127.0.0.1:0 --tls-psk "$tmp/keys.psk"
	"$VFIOMIG" --connect="$S" -j save "${SRC[@]}" --to "$ruri" --timeout 10 --tls-psk "$tmp/keys.psk" >"$tmp/s.out" 2>"$tmp/s.err"
	rc=$?; wait $rpid; rrc=$?
	jvalid vfiomig-save "$tmp/s.out" "vfiomig --connect -j save with a PSK"
	[ "$rc$rrc" = 00 ] && jq -e '.security | test("PSK identity .lab.")' "$tmp/s.out" >/dev/null \
		&& ok "vfiomigd: save with a PSK" || nok "vfiomigd save PSK" "$rc/$rrc $(cat "$tmp/s.err" "$tmp/s.out" "$tmp/r.err")"
	"$VFIOMIG" --connect="$S" save "${SRC[@]}" --to "file:$tmp/x" --tls-psk "$tmp/keys.psk" >/dev/null 2>"$tmp/e"; rc=$?
	[ $rc = 2 ] && ok "vfiomig --connect: TLS with file: is a usage error too" || nok "--connect file: tls" "$rc $(cat "$tmp/e")"
fi
tap_end
