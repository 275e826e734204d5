#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Parallel streams on a network that caps each flow, in the qemu test guest (this
# host's kernel has neither sch_fq nor sch_netem; the kernels built by
# tests/kernel/build-kernel.sh have both).  Two network namespaces joined by a veth
# pair; the source's side shapes every flow to BENCH_RATE with `fq maxrate` (a
# per-flow cap, as a policer or one ECMP path would), the destination's side delays
# its packets (the ACKs) by BENCH_DELAY with netem (a path latency).  Then, in one
# run: plain TCP with 1, 2, 4, 8 flows (bench/vfm-flows.c, the same byte count split
# over the flows), and vfiomig save -> restore of sim devices with --streams 1, 2, 4, 8.
# Prints seconds, MB/s, the speed-up over one stream and the efficiency
# (speed-up / N); the goal is N streams >= 0.9 N x one stream's throughput.
#
# The guest is TCG: BENCH_RATE must stay well below what the emulated CPU moves
# (the script prints the unshaped single-stream rate first, to show the headroom).
#
#   tests/kernel/run-guest.sh --kernel 6.12 --timeout 1500 --demo bench/guest-streams-bench.sh \
#       --bin build-rel/src/cli/vfiomig build-rel/bench/vfm-flows /usr/sbin/ip /usr/sbin/tc \
#       [--env BENCH_RATE=40mbit --env BENCH_DELAY=5ms --env BENCH_SIZE=48M \
#        --env BENCH_DEVICES=1 --env BENCH_STREAMS="1 2 4 8"]

RATE=${BENCH_RATE:-40mbit}
DELAY=${BENCH_DELAY:-5ms}
SIZE=${BENCH_SIZE:-48M}
DEVS=${BENCH_DEVICES:-1}
STREAMS=${BENCH_STREAMS:-1 2 4 8}
T=/tmp/vfm-streams-bench
mkdir -p $T

die() { echo "guest-streams-bench: $*"; exit 1; }
command -v vfiomig >/dev/null || die "vfiomig not in the guest (--bin)"
command -v ip >/dev/null || die "ip not in the guest (--bin /usr/sbin/ip)"
command -v tc >/dev/null || die "tc not in the guest (--bin /usr/sbin/tc)"
command -v vfm-flows >/dev/null || die "vfm-flows not in the guest (--bin build-rel/bench/vfm-flows)"

ip netns add bsrc && ip netns add bdst &&
	ip link add bfm0 type veth peer name bfm1 &&
	ip link set bfm0 netns bsrc && ip link set bfm1 netns bdst &&
	ip -n bsrc addr add 10.98.0.1/24 dev bfm0 && ip -n bdst addr add 10.98.0.2/24 dev bfm1 &&
	ip -n bsrc link set bfm0 up && ip -n bdst link set bfm1 up &&
	ip -n bsrc link set lo up && ip -n bdst link set lo up ||
	die "no veth between two namespaces"
SRC="ip netns exec bsrc" DST="ip netns exec bdst" ADDR=10.98.0.2

shape() {
	tc -n bsrc qdisc del dev bfm0 root 2>/dev/null
	tc -n bdst qdisc del dev bfm1 root 2>/dev/null
	[ "$1" = off ] && return 0
	tc -n bsrc qdisc add dev bfm0 root fq maxrate "$RATE" &&
		tc -n bdst qdisc add dev bfm1 root netem delay "$DELAY" ||
		die "tc: no fq or netem in this kernel ($(uname -r))"
}

ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
bytes() {
	case $1 in
	*G) echo $((${1%G} * 1024 * 1024 * 1024)) ;;
	*M) echo $((${1%M} * 1024 * 1024)) ;;
	*K) echo $((${1%K} * 1024)) ;;
	*) echo "$1" ;;
	esac
}
total=$(bytes "$SIZE")
per=$((total / DEVS))
port=5100

# plain N: N TCP flows (vfm-flows) carry the total between the namespaces; prints ms
plain() {
	port=$((port + 1))
	$DST vfm-flows recv $port "$1" >$T/flows.out &
	rpid=$!
	sleep 0.3
	t=$($SRC vfm-flows send $ADDR $port "$total" "$1")
	wait $rpid
	echo "$t"
}

# migrate N: vfiomig with --streams N; prints ms or FAIL
migrate() {
	n=$1 i=0 dspecs="" sspecs=""
	while [ $i -lt "$DEVS" ]; do
		dspecs="$dspecs sim:x$i,size=$per,expect-seed=$((1000 + i))"
		sspecs="$sspecs sim:a$i,size=$per,seed=$((1000 + i))"
		i=$((i + 1))
	done
	port=$((port + 1))
	: >$T/dst.out
	# shellcheck disable=SC2086
	$DST vfiomig restore $dspecs --from tcp://$ADDR:$port --no-progress >$T/dst.out 2>&1 &
	dpid=$!
	i=0
	while [ $i -lt 300 ] && ! grep -q "listening on" $T/dst.out; do sleep 0.05; i=$((i + 1)); done
	t0=$(ms)
	# shellcheck disable=SC2086
	$SRC vfiomig save $sspecs --to tcp://$ADDR:$port --no-progress --no-precopy \
		--streams "$n" >$T/src.out 2>&1
	src_rc=$?
	wait $dpid
	dst_rc=$?
	t1=$(ms)
	if [ $src_rc != 0 ] || [ $dst_rc != 0 ]; then
		echo "FAIL save $src_rc restore $dst_rc: $(tail -n 2 $T/src.out | tr '\n' ' ') / $(tail -n 2 $T/dst.out | tr '\n' ' ')"
		return
	fi
	echo $((t1 - t0))
}

row() { # LABEL N MS BASE_MS
	awk -v l="$1" -v n="$2" -v t="$3" -v b="$4" -v bytes="$total" 'BEGIN {
		s = b / t
		printf "%-9s %3d | %7.2fs %8.2f | %7.2f %6.2f\n", l, n, t / 1000, bytes / (t / 1000) / 1e6, s, s / n
	}'
}

echo "# $SIZE over veth between two netns, $DEVS sim device(s); qemu TCG guest, kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
shape off
x=$(migrate 1)
case $x in FAIL*) die "unshaped run: $x" ;; esac
echo "# unshaped, one stream: $(awk -v t="$x" -v b="$total" 'BEGIN { printf "%.1f MB/s", b / (t / 1000) / 1e6 }') (the emulated CPU's ceiling)"
shape on
echo "# shaped: fq maxrate $RATE per flow on the source's side, netem delay $DELAY on the destination's"
echo "# speed-up: one flow's (stream's) time / this time; efficiency: speed-up / N (goal >= 0.9)"
printf '%-9s %3s | %8s %8s | %7s %6s\n' what N seconds MB/s speedup eff
base=""
for n in $STREAMS; do
	t=$(plain "$n")
	[ -z "$base" ] && base=$t
	row "plain TCP" "$n" "$t" "$base"
done
base=""
for n in $STREAMS; do
	t=$(migrate "$n")
	case $t in FAIL*) printf '%-9s %3d | %s\n' vfiomig "$n" "$t"; continue ;; esac
	[ -z "$base" ] && base=$t
	row vfiomig "$n" "$t" "$base"
done
shape off
ip netns del bsrc
ip netns del bdst
