#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the stream fuzzer with clang (libFuzzer + ASan + UBSan) and run it.
#
#   tests/fuzz/build-libfuzzer.sh OUTDIR SECONDS [libFuzzer options...]
#
# OUTDIR receives the binary, the working corpus (seeded from
# tests/fuzz/corpus/fuzz-stream, which is only read), a dictionary, fuzz.log and, on a
# crash, the reproducer (crash-*, leak-*, timeout-*, oom-*).  Reproduce one with
# `OUTDIR/fuzz-stream FILE`; add it to the seed corpus once fixed.
#
# Prints one summary line.  Exit status: 0 no crash; 1 the fuzzer found a crash,
# leak, timeout or sanitizer report; 2 usage or build error.  CC (default clang) and
# FUZZ_JOBS (default 1: parallel libFuzzer workers) may be set.
set -uo pipefail

if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
	echo "usage: $0 OUTDIR SECONDS [libFuzzer options...]" >&2
	exit 2
fi
out=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-clang}
jobs=${FUZZ_JOBS:-1}

mkdir -p "$out/corpus" || exit 2
out=$(cd "$out" && pwd)

if ! "$cc" -std=gnu11 -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Wno-unused-parameter -Werror \
	-D_GNU_SOURCE -DVFM_LIBFUZZER \
	-I"$src/src/stream" -I"$src/src/shared" -I"$src/include" \
	"$src/tests/fuzz/fuzz-stream.c" "$src"/src/stream/*.c \
	-o "$out/fuzz-stream"; then
	echo "fuzz-stream: BUILD FAILED with $cc"
	exit 2
fi

# Tokens of the format: magic, version, record headers of every type.
cat >"$out/fuzz-stream.dict" <<'EOF'
magic="\x89VFM\x0d\x0a\x1a\x0a"
version="\x02\x00\x00\x00"
data="\x02\x00\x00\x00"
device_end="\x03\x00\x00\x00\x18\x00\x00\x00"
end="\x04\x00\x00\x00\x10\x00\x00\x00"
abort="\x05\x00\x00\x00"
compat="\x81\x00\x00\x00"
verdict="\x82\x00\x00\x00"
commit="\x07\x00\x00\x00\x10\x00\x00\x00"
ready="\x83\x00\x00\x00\x10\x00\x00\x00"
stream_id="\xef\xcd\xab\x89\x67\x45\x23\x01"
devdesc_len="\x10\x01\x00\x00"
no_device="\xff\xff"
unknown="\xff\xff\xff\xff"
EOF

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$out/fuzz.log
args=(-max_total_time="$secs" -max_len=32768 -timeout=10 -rss_limit_mb=2048
	-print_final_stats=1 -artifact_prefix="$out/" -dict="$out/fuzz-stream.dict")
if [ "$jobs" -gt 1 ]; then
	args+=(-fork="$jobs" -ignore_crashes=0)
fi
"$out/fuzz-stream" "${args[@]}" "$@" "$out/corpus" "$src/tests/fuzz/corpus/fuzz-stream" \
	>"$log" 2>&1
rc=$?

last=$(grep -E '^#[0-9]+' "$log" | tail -1)
field() { sed -n "s/.* $1: *\([0-9]*\).*/\1/p" <<<"$last"; }
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
[ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
[ -n "$eps" ] || eps=$(field 'exec/s')
summary="${runs:-?} runs, ${eps:-?} exec/s, cov $(field cov), ft $(field ft), corpus $(sed -n 's/.* corp: *\([0-9]*\).*/\1/p' <<<"$last")"

if [ $rc -ne 0 ]; then
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	echo "fuzz-stream: CRASH (exit $rc): $summary; reproducer ${artifact:-none}; log $log"
	exit 1
fi
echo "fuzz-stream: ok after $secs s: $summary; log $log"
exit 0
