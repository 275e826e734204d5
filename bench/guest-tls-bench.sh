#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kTLS figures from the qemu test guest (this host's kernel has no tls ULP; Debian's
# 6.12 in the guest has it as a module).  Inside the guest, between two network
# namespaces joined by veth (loopback when that cannot be set up): save -> restore of
# sim devices in three modes, in one run:
#   plaintext    no TLS
#   TLS user     TLS 1.3 x509 (ECDSA P-256, both ways), VFIOMIG_NO_KTLS=1: GnuTLS
#                does the record layer
#   TLS kTLS     the same, the kernel does the record layer (the report must say kTLS)
# and prints seconds, GB/s, the ratio to plaintext and the record layer that ran, then
# the handshake: the median wall time of N migrations of one 4 KiB device per mode.
# With vfm-bench in the guest too, it then runs `vfm-bench --tls` on loopback (both
# TLS rows, the in-process handshake time).
#
# The guest is TCG (no KVM): only the ratios mean anything, not the GB/s.  And the
# guest loads no aesni_intel/ghash_clmulni (tests/kernel/prepare.sh collects gcm and
# ghash_generic only), so its kTLS runs gcm_base(ctr(aes-generic),ghash-generic), C
# code, where GnuTLS runs AES-NI and PCLMUL (emulated by TCG): the kTLS row compares
# two crypto implementations as much as two record layers.  The script prints the
# driver it got.
#
# Run from the source tree with a release build (about 5-10 minutes under TCG):
#   tests/kernel/run-guest.sh --timeout 1500 --demo bench/guest-tls-bench.sh \
#       --bin build-rel/src/cli/vfiomig build-rel/bench/vfm-bench \
#             "$(command -v certtool)" /usr/sbin/ip \
#       [--env BENCH_SIZE=1G --env BENCH_DEVICES=1 --env BENCH_REPEAT=1 \
#        --env BENCH_HANDSHAKES=5 --env BENCH_LOOPBACK_SIZE=256M]
# BENCH_LOOPBACK_SIZE=0 skips the vfm-bench part.

SIZE=${BENCH_SIZE:-1G}
DEVS=${BENCH_DEVICES:-1}
REPEAT=${BENCH_REPEAT:-1}
HS=${BENCH_HANDSHAKES:-5}
LOOPSIZE=${BENCH_LOOPBACK_SIZE:-256M}
T=/tmp/vfm-tls-bench
mkdir -p $T

say() { echo "$*"; }
die() { echo "guest-tls-bench: $*"; exit 1; }

command -v vfiomig >/dev/null || die "vfiomig not in the guest (--bin)"
command -v certtool >/dev/null || die "certtool not in the guest (--bin \$(command -v certtool))"

ulp=no
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && ulp=yes

# ---- credentials, as tests/sim/tls-certs.sh makes them -----------------------
P=$T/pki
key() { certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$1" 2>/dev/null; }
mkdir -p $P/ca $P/dst $P/src
key $P/ca/ca-key.pem
printf 'cn = "bench CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >$P/ca/t
certtool --generate-self-signed --load-privkey $P/ca/ca-key.pem --template $P/ca/t \
	--outfile $P/ca/ca-cert.pem 2>/dev/null || die "certtool failed"
leaf() { # DIR ROLE CN EXTRA
	cp $P/ca/ca-cert.pem "$1/" && key "$1/$2-key.pem" &&
		printf 'cn = "%s"\nsigning_key\nencryption_key\nexpiration_days = 2\n%s\n' "$3" "$4" >"$1/t" &&
		certtool --generate-certificate --load-privkey "$1/$2-key.pem" \
			--load-ca-certificate $P/ca/ca-cert.pem --load-ca-privkey $P/ca/ca-key.pem \
			--template "$1/t" --outfile "$1/$2-cert.pem" 2>/dev/null
}
leaf $P/dst server dst.example "$(printf 'tls_www_server\nip_address = "10.99.0.2"\nip_address = "127.0.0.1"')" ||
	die "certtool failed"
leaf $P/src client src.example tls_www_client || die "certtool failed"

# ---- two namespaces over veth ------------------------------------------------
net=veth
if command -v ip >/dev/null && ip netns add bsrc 2>/dev/null && ip netns add bdst &&
	ip link add bfm0 type veth peer name bfm1 &&
	ip link set bfm0 netns bsrc && ip link set bfm1 netns bdst &&
	ip -n bsrc addr add 10.99.0.1/24 dev bfm0 && ip -n bdst addr add 10.99.0.2/24 dev bfm1 &&
	ip -n bsrc link set bfm0 up && ip -n bdst link set bfm1 up &&
	ip -n bsrc link set lo up && ip -n bdst link set lo up; then
	SRC="ip netns exec bsrc" DST="ip netns exec bdst" ADDR=10.99.0.2
else
	net=loopback SRC="" DST="" ADDR=127.0.0.1
fi

ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
wait_listening() {
	i=0
	while [ $i -lt 300 ] && ! grep -q "listening on" "$1" 2>/dev/null; do
		sleep 0.05; i=$((i + 1))
	done
}
port=4500

# one N PER-DEVICE-SIZE MODE: one save -> restore; prints "WALL_MS LAYER" or "FAIL ..."
one() {
	n=$1 per=$2 mode=$3
	port=$((port + 1))
	dspecs="" sspecs="" i=0
	while [ $i -lt "$n" ]; do
		dspecs="$dspecs sim:x$i,size=$per,expect-seed=$((1000 + i))"
		sspecs="$sspecs sim:a$i,size=$per,seed=$((1000 + i))"
		i=$((i + 1))
	done
	dtls="" stls="" env=""
	case $mode in
	plain) ;;
	user) dtls="--tls-creds $P/dst" stls="--tls-creds $P/src" env="VFIOMIG_NO_KTLS=1" ;;
	ktls) dtls="--tls-creds $P/dst" stls="--tls-creds $P/src" ;;
	esac
	: >$T/dst.out
	# shellcheck disable=SC2086
	$DST env $env vfiomig restore $dspecs --from tcp://$ADDR:$port --no-progress $dtls \
		>$T/dst.out 2>&1 &
	dpid=$!
	wait_listening $T/dst.out
	t0=$(ms)
	# shellcheck disable=SC2086
	$SRC env $env vfiomig save $sspecs --to tcp://$ADDR:$port --no-progress $stls \
		>$T/src.out 2>&1
	src_rc=$?
	wait $dpid
	dst_rc=$?
	t1=$(ms)
	if [ $src_rc != 0 ] || [ $dst_rc != 0 ]; then
		echo "FAIL save $src_rc restore $dst_rc: $(tail -n 3 $T/src.out | tr '\n' ' ') / $(tail -n 3 $T/dst.out | tr '\n' ' ')"
		return
	fi
	layer=$(sed -n 's/^ *security: //p' $T/src.out | sed 's/.*, //')
	echo "$((t1 - t0)) $layer"
}

# best MODE N PER REPEAT: the fastest of REPEAT runs
best() {
	b="" r=0
	while [ $r -lt "$4" ]; do
		x=$(one "$2" "$3" "$1")
		case $x in FAIL*) echo "$x"; return ;; esac
		if [ -z "$b" ] || [ "${x%% *}" -lt "${b%% *}" ]; then b=$x; fi
		r=$((r + 1))
	done
	echo "$b"
}

bytes() { # 1G, 256M, 4K -> bytes
	case $1 in
	*G) echo $((${1%G} * 1024 * 1024 * 1024)) ;;
	*M) echo $((${1%M} * 1024 * 1024)) ;;
	*K) echo $((${1%K} * 1024)) ;;
	*) echo "$1" ;;
	esac
}

total=$(bytes "$SIZE")
per=$((total / DEVS))
say "# vfiomig save -> TCP ($net between two netns) -> restore of $DEVS sim device(s), $SIZE in all, best of $REPEAT"
say "# qemu TCG guest, kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs, $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo):"
say "#   the figures are from an emulated CPU; only the ratios mean anything"
say "# kernel tls ULP: $ulp; TLS 1.3 x509 both ways (ECDSA P-256); ratio = plaintext time / this time"
say "# time: wall clock from the save's start to both processes' exit (10 ms resolution)"
printf '%-10s %8s | %9s %7s | %6s | %s\n' mode state seconds GB/s ratio "record layer (save's report)"
plain_ms=""
for mode in plain user ktls; do
	if [ $mode = ktls ] && [ $ulp = no ]; then
		printf '%-10s %8s | no tls ULP in this kernel: no kTLS row\n' "TLS kTLS" "$SIZE"
		continue
	fi
	x=$(best $mode "$DEVS" "$per" "$REPEAT")
	case $mode in plain) label=plaintext ;; user) label="TLS user" ;; ktls) label="TLS kTLS" ;; esac
	case $x in FAIL*)
		printf '%-10s %8s | %s\n' "$label" "$SIZE" "$x"
		continue ;;
	esac
	t=${x%% *} layer=${x#* }
	[ $mode = plain ] && plain_ms=$t
	ratio=$(awk -v p="$plain_ms" -v t="$t" 'BEGIN { if (p != "" && t > 0) printf "%.2f", p / t; else print "-" }')
	printf '%-10s %8s | %8.2fs %7.3f | %6s | %s\n' "$label" "$SIZE" \
		"$(awk -v t="$t" 'BEGIN { print t / 1000 }')" \
		"$(awk -v b="$total" -v t="$t" 'BEGIN { print b / (t / 1000) / 1e9 }')" "$ratio" "$layer"
done
# which AES-GCM the kernel's kTLS ran on (the guest loads no aesni_intel module)
drv=$(awk '/^name/ { n = $3 } /^driver/ { if (n == "gcm(aes)") { print $3; exit } }' /proc/crypto)
say "# kernel gcm(aes) driver: ${drv:-none instantiated} (GnuTLS: AES-NI, as TCG emulates it)"

# ---- handshake: migrations of one 4 KiB device --------------------------------
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
say "# handshake: median wall time of $HS migrations of one 4 KiB device (connect, TLS"
say "#   handshake, one record each way; both processes' start and credential loading)"
for mode in plain user ktls; do
	[ $mode = ktls ] && [ $ulp = no ] && continue
	: >$T/hs
	i=0
	while [ $i -lt "$HS" ]; do
		x=$(one 1 4096 $mode)
		case $x in FAIL*) say "#   $mode: $x"; break ;; esac
		echo "${x%% *}" >>$T/hs
		i=$((i + 1))
	done
	m=$(median <$T/hs)
	[ $mode = plain ] && hs_plain=$m
	say "#   $mode: $m ms$([ $mode != plain ] && awk -v a="$m" -v b="$hs_plain" 'BEGIN { printf " (TLS adds %.0f ms)", a - b }')"
done

if [ $net = veth ]; then
	ip netns del bsrc
	ip netns del bdst
fi

# ---- vfm-bench on loopback: both TLS rows, in-process handshake -----------------
if [ "$LOOPSIZE" != 0 ] && command -v vfm-bench >/dev/null; then
	say ""
	say "# vfm-bench --tls on the guest's loopback (TCG: ratios only)"
	vfm-bench --vfiomig "$(command -v vfiomig)" --devices "$DEVS" --sizes "$LOOPSIZE" \
		--repeat 1 --tls --handshakes "$HS"
fi
exit 0
