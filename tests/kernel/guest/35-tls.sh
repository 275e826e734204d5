#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# save -> TLS 1.3 over TCP -> restore of three real mtty devices between two network
# namespaces, the UART state checked on the destination (vfm-mtty --check); the
# report names TLS and whether kTLS did the record layer (the guest kernel has the
# tls module when prepare.sh collected it); a client of another CA is refused by the
# listener, which then migrates with the right one.  Credentials made with certtool.

# shellcheck source=SCRIPTDIR/../lib/tap.sh
. /usr/share/vfiomig-test/tap.sh

if ! have_vfiomig || ! command -v vfm-mtty >/dev/null; then
	tap_skip "vfiomig or vfm-mtty not in the guest"; tap_done; exit $?
fi
if ! command -v certtool >/dev/null; then
	tap_skip "certtool not in the guest (gnutls-bin on the host)"; tap_done; exit $?
fi
# shellcheck disable=SC2086
set -- $MTTY2_UUIDS; A=$1 B=$2 C=$3 D=$4
# shellcheck disable=SC2086
set -- $MTTY1_UUIDS; E=$1 F=$2
T=/tmp/vfm-tls; mkdir -p $T

wait_listening() {
	i=0
	while [ $i -lt 100 ] && ! grep -q "listening on" "$1" 2>/dev/null; do
		sleep 0.1; i=$((i + 1))
	done
}

# ---- credentials: a CA, the destination (server), the source (client), and a
# client certificate of another CA (with our CA to check the server by) ----
key() { certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$1" 2>/dev/null; }
ca() { # DIR
	mkdir -p "$1" && key "$1/ca-key.pem" &&
		printf 'cn = "guest CA %s"\nca\ncert_signing_key\nexpiration_days = 2\n' "$1" >"$1/t" &&
		certtool --generate-self-signed --load-privkey "$1/ca-key.pem" --template "$1/t" \
			--outfile "$1/ca-cert.pem" 2>/dev/null
}
leaf() { # CA-DIR DIR ROLE CN EXTRA
	mkdir -p "$2" && cp "$1/ca-cert.pem" "$2/" && key "$2/$3-key.pem" &&
		printf 'cn = "%s"\nsigning_key\nexpiration_days = 2\n%s\n' "$4" "$5" >"$2/t" &&
		certtool --generate-certificate --load-privkey "$2/$3-key.pem" \
			--load-ca-certificate "$1/ca-cert.pem" --load-ca-privkey "$1/ca-key.pem" \
			--template "$2/t" --outfile "$2/$3-cert.pem" 2>/dev/null
}
P=$T/pki
if ca $P/ca && ca $P/other &&
	leaf $P/ca $P/dst server dst.example "$(printf 'ip_address = "10.98.0.2"\nip_address = "127.0.0.1"\ntls_www_server')" &&
	leaf $P/ca $P/src client src.example tls_www_client &&
	leaf $P/other $P/bad client src.example tls_www_client &&
	cp $P/ca/ca-cert.pem $P/bad/; then
	tap_ok "certtool made a CA, server and client credentials"
else
	tap_fail "certtool failed"; tap_done; exit $?
fi

# kTLS: the kernel's tls ULP (prepare.sh collects tls.ko, gcm.ko, ghash_generic.ko)
ulp=no
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && ulp=yes
tap_diag "kernel tls ULP available: $ulp ($(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null))"

vfiomig reset "$A" "$B" "$C" "$D" "$E" "$F" >/dev/null

net=yes
if ! command -v ip >/dev/null || ! ip netns add tsrc 2>/dev/null; then
	net=no
else
	ip netns add tdst && ip link add tfm0 type veth peer name tfm1 &&
		ip link set tfm0 netns tsrc && ip link set tfm1 netns tdst &&
		ip -n tsrc addr add 10.98.0.1/24 dev tfm0 && ip -n tdst addr add 10.98.0.2/24 dev tfm1 &&
		ip -n tsrc link set tfm0 up && ip -n tdst link set tfm1 up &&
		ip -n tsrc link set lo up && ip -n tdst link set lo up || net=no
fi
if [ $net = yes ]; then
	SRC="ip netns exec tsrc" DST="ip netns exec tdst" ADDR=10.98.0.2
	tap_ok "two network namespaces joined by veth"
else
	SRC="" DST="" ADDR=127.0.0.1
	tap_diag "no iproute2 ip or netns in the guest: both ends on loopback"
fi

# ---- three devices over TLS; a client of another CA refused first ----
: >$T/dst.out
$DST vfm-mtty --check --state RUNNING "$C" "$D" "$F" -- \
	vfiomig restore @0 @1 @2 --from tcp://$ADDR:4454 --tls-creds $P/dst \
	--tls-authz '*CN=src.example' >$T/dst.out 2>&1 &
dst=$!
wait_listening $T/dst.out
$SRC vfiomig save "$A" --to tcp://$ADDR:4454 --tls-creds $P/bad >$T/bad.out 2>&1
bad_rc=$?
tap_check "a client of another CA is refused (exit $bad_rc)" test $bad_rc != 0
tap_check "the source says why" grep -q "TLS handshake failed" $T/bad.out
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
t0=$(ms)
$SRC vfm-mtty --set --state STOP "$A" "$B" "$E" -- \
	vfiomig save @0 @1 @2 --to tcp://$ADDR:4454 --tls-creds $P/src >$T/src.out 2>&1
src_rc=$?
t1=$(ms)
wait $dst; dst_rc=$?
tap_check "save of three mtty devices over TLS succeeds (exit $src_rc)" test $src_rc = 0
tap_check "restore succeeds, UART state checked (exit $dst_rc)" test $dst_rc = 0
tap_check "the destination logged the refused client" grep -q "rejected tcp .*issuer is unknown" $T/dst.out
tap_check "the source's report says TLS 1.3 with the server's DN" grep -q "security: TLS 1.3 .*CN=dst.example" $T/src.out
tap_check "the destination's report says TLS 1.3 with the client's DN" grep -q "security: TLS 1.3 .*CN=src.example" $T/dst.out
if [ $ulp = yes ]; then
	tap_check "kTLS ran on the source (the kernel did the record layer)" grep -q "security: .*, kTLS$" $T/src.out
	tap_check "kTLS ran on the destination" grep -q "security: .*, kTLS$" $T/dst.out
else
	tap_check "no tls ULP: the report says user-space crypto" grep -q "security: .*user-space crypto" $T/src.out
fi
tap_diag "save of three devices over TLS (TCG guest), start to verdict: $((t1 - t0)) ms"
tap_diag "source $(grep 'security:' $T/src.out)"
tap_diag "destination $(grep 'security:' $T/dst.out)"
tap_relay source $T/src.out
tap_relay destination $T/dst.out
[ $src_rc = 0 ] && [ $dst_rc = 0 ] || { tap_diag "source: $(cat $T/src.out)"; tap_diag "destination: $(cat $T/dst.out)"; }

vfiomig reset "$A" "$B" "$C" "$D" "$E" "$F" >/dev/null
[ $net = yes ] && ip netns del tsrc && ip netns del tdst
tap_done
