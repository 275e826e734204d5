#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# save --streams N through the CLI on simulated devices: real TCP (plaintext, x509 TLS,
# PSK), a Unix socket, the source listening; the reports (text and JSON) say how many
# data connections carried the data; --streams where it cannot work is a usage error.
# Restores check what arrived (expect-seed).
set -u
VFIOMIG=${1:?usage: test-streams-cli.sh PATH-TO-vfiomig}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
here=$(dirname "$0")
. "$here/../tap.sh"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

SRC=(sim:a,seed=101,size=6M sim:b,seed=102,size=300K)
DST=(sim:x,size=6M,expect-seed=101 sim:y,size=300K,expect-seed=102)


# pair DESC N RESTORE-URI [restore args...] -- [save args...]: restore listens, save
# --streams N connects; both must succeed, and both JSON reports say N.
pair() {
	local desc=$1 want=$2 ruri=$3; shift 3
	local common=() save=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do common+=("$1"); shift; done # restore's
	[ $# -gt 0 ] && shift
	save=("$@")
	: >"$tmp/r.err"
	"$VFIOMIG" -j restore "${DST[@]}" --from "$ruri" "${common[@]}" >"$tmp/r.out" 2>"$tmp/r.err" &
	local rpid=$! uri
	if ! uri=$(listen_uri "$tmp/r.err"); then nok "$desc" "restore never listened: $(cat "$tmp/r.err")"; kill $rpid; return; fi
	"$VFIOMIG" -j save "${SRC[@]}" --to "$uri" --streams "$want" "${save[@]}" >"$tmp/s.out" 2>"$tmp/s.err"
	local src=$?; wait $rpid; local dst=$?
	local ss rs
	ss=$(jq -r '.streams' "$tmp/s.out" 2>/dev/null); rs=$(jq -r '.streams' "$tmp/r.out" 2>/dev/null)
	if [ "$src$dst" = 00 ] && [ "$ss" = "$want" ] && [ "$rs" = "$want" ]; then
		ok "$desc: $(jq -r '.total_bytes' "$tmp/s.out") bytes over $want data connections, $(jq -r '.security' "$tmp/s.out")"
	else
		nok "$desc" "exits $src/$dst, streams $ss/$rs" "save: $(cat "$tmp/s.err" "$tmp/s.out")" "restore: $(cat "$tmp/r.err" "$tmp/r.out")"
	fi
}

pair "tcp, 4 data connections" 4 tcp://127.0.0.1:0
pair "tcp, 16 data connections, 64K chunks" 16 tcp://127.0.0.1:0 -- --chunk 64K
pair "tcp over IPv6, 2 data connections" 2 "tcp://[::1]:0"
pair "unix socket, 3 data connections" 3 "unix:$tmp/sock"

bash "$here/tls-certs.sh" "$tmp/pki" >/dev/null 2>&1 || { echo "Bail out! certtool failed"; exit 1; }
P=$tmp/pki
pair "x509 TLS on every connection, 3 data connections" 3 tcp://127.0.0.1:0 --tls-creds "$P/server" -- --tls-creds "$P/client"
grep -q '"security": *"TLS' "$tmp/r.out" && grep -q '"security": *"TLS' "$tmp/s.out" \
	&& ok "...both reports say TLS" || nok "TLS reports" "$(cat "$tmp/s.out" "$tmp/r.out")"
printf 'lab:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/keys.psk"
pair "TLS with a pre-shared key, 2 data connections" 2 tcp://127.0.0.1:0 --tls-psk "$tmp/keys.psk" -- --tls-psk "$tmp/keys.psk"

# The source listens, the destination connects (N + 1 times).
: >"$tmp/s.err"
"$VFIOMIG" -j save "${SRC[@]}" --to tcp://127.0.0.1:0 --listen --streams 3 >"$tmp/s.out" 2>"$tmp/s.err" &
spid=$!
if uri=$(listen_uri "$tmp/s.err"); then
	"$VFIOMIG" -j restore "${DST[@]}" --from "$uri" --connect >"$tmp/r.out" 2>"$tmp/r.err"; rrc=$?
	wait $spid; src=$?
	[ "$src$rrc" = 00 ] && [ "$(jq -r .streams "$tmp/r.out")" = 3 ] \
		&& ok "save --listen --streams 3, restore --connect" \
		|| nok "save --listen --streams 3" "exits $src/$rrc" "$(cat "$tmp/s.err" "$tmp/s.out" "$tmp/r.err" "$tmp/r.out")"
else
	nok "save --listen --streams 3" "never listened: $(cat "$tmp/s.err")"
fi

# the text report
: >"$tmp/r.err"
"$VFIOMIG" restore "${DST[@]}" --from tcp://127.0.0.1:0 >"$tmp/r.out" 2>"$tmp/r.err" &
rpid=$!
uri=$(listen_uri "$tmp/r.err")
"$VFIOMIG" save "${SRC[@]}" --to "$uri" --streams 5 >"$tmp/s.out" 2>&1; src=$?; wait $rpid; dst=$?
[ "$src$dst" = 00 ] && grep -q "5 data connections" "$tmp/s.out" && grep -q "5 data connections" "$tmp/r.out" \
	&& ok "the text reports say '5 data connections'" || nok "text report" "$(cat "$tmp/s.out" "$tmp/r.out")"

# usage errors: exit 2, nothing opened
for bad in "--streams 0" "--streams 17" "--streams x" "--streams 2 --to file:$tmp/f.vfm"; do
	# shellcheck disable=SC2086
	"$VFIOMIG" save sim:a --to tcp://127.0.0.1:9 $bad >"$tmp/o" 2>&1; rc=$?
	[ $rc = 2 ] && grep -q -- "--streams" "$tmp/o" && ok "save $bad: usage error (exit 2): $(head -1 "$tmp/o")" \
		|| nok "save $bad" "exit $rc: $(cat "$tmp/o")"
done
"$VFIOMIG" save sim:a --to tcp://127.0.0.1:9 --streams 1 --timeout 1 >"$tmp/o" 2>&1; rc=$?
[ $rc != 2 ] && ok "save --streams 1 is the one-connection default (exit $rc: connection refused)" \
	|| nok "--streams 1" "$(cat "$tmp/o")"
tap_end
