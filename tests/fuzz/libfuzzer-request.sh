#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build vfiomigd's request fuzzer with clang (libFuzzer + ASan + UBSan) and run it.
#
#   tests/fuzz/libfuzzer-request.sh OUTDIR SECONDS [libFuzzer options...]
#
# OUTDIR receives the binary, the working corpus (seeded from
# tests/fuzz/corpus/fuzz-request, only read), a dictionary, fuzz.log and, on a crash,
# the reproducer (crash-*, leak-*, timeout-*, oom-*): `OUTDIR/fuzz-request FILE`
# reproduces it; add it to the seed corpus once fixed.
#
# Prints one summary line.  Exit status: 0 no crash; 1 a crash, leak, timeout or
# sanitizer report; 2 usage or build error; 77 (skip, with the reason) when clang or
# its libFuzzer runtime is missing.  CC (default clang) may be set.
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

if ! command -v "$cc" >/dev/null; then
	echo "skip: $cc not installed (tests/install-deps.sh installs clang)"
	exit 77
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
	"$cc" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
	echo "skip: $cc has no libFuzzer runtime (libclang-rt-14-dev)"
	exit 77
fi
mkdir -p "$out/corpus" || exit 2
out=$(cd "$out" && pwd)
: >"$out/build.log"

# The parser (warnings are errors) and the library it calls (option defaults, URI
# syntax; built as it is, without -Werror: other compilers' warnings are not ours).
# shellcheck disable=SC2054 # commas inside one flag
san=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all)
inc=(-I"$src/src/uapi" -I"$src/include" -I"$src/src/shared" -I"$src/src/lib"
	-I"$src/src/stream" -I"$src/src/transport" -I"$src/src/set" -I"$src/src/job"
	-I"$src/src/net" -I"$src/src/daemon")
deps_cflags=$(pkg-config --cflags json-c libnl-3.0 libnl-genl-3.0 libnl-route-3.0 gnutls 2>/dev/null)
deps_libs=$(pkg-config --libs json-c libnl-3.0 libnl-genl-3.0 libnl-route-3.0 gnutls 2>/dev/null)
# the build's config.h (meson's build root, two levels above OUTDIR), for the library
inc+=(-I"$out/../../..")
mkdir -p "$out/obj"
rm -f "$out"/obj/*.o
for f in "$src"/src/{lib,shared,fsm,device,set,job,stream,transport,net}/*.c; do
	[ -e "$f" ] || continue
	# shellcheck disable=SC2086
	if ! "$cc" -std=gnu11 -D_GNU_SOURCE -w "${san[@]}" -fsanitize=fuzzer-no-link \
		"${inc[@]}" $deps_cflags -c "$f" \
		-o "$out/obj/$(basename "$(dirname "$f")")-$(basename "${f%.c}").o" 2>>"$out/build.log"; then
		echo "fuzz-request: BUILD FAILED with $cc: $f (see $out/build.log)"
		exit 2
	fi
done
# shellcheck disable=SC2086
if ! "$cc" -std=gnu11 -D_GNU_SOURCE "${san[@]}" -fsanitize=fuzzer \
	-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror \
	"${inc[@]}" $deps_cflags \
	"$src/tests/fuzz/fuzz-request.c" "$src/src/daemon/request.c" "$out"/obj/*.o \
	$deps_libs -lpthread -o "$out/fuzz-request" 2>>"$out/build.log"; then
	echo "fuzz-request: BUILD FAILED with $cc (see $out/build.log)"
	exit 2
fi

# The protocol's words.
cat >"$out/fuzz-request.dict" <<'DICT'
"{"
"}"
"["
"]"
"\"id\":"
"\"cmd\":"
"\"version\""
"\"list\""
"\"info\""
"\"attach\""
"\"detach\""
"\"save\""
"\"restore\""
"\"job\""
"\"jobs\""
"\"watch\""
"\"unwatch\""
"\"cancel\""
"\"continue\""
"\"shutdown\""
"\"devices\":"
"\"device\":"
"\"fd\":"
"\"to\":"
"\"from\":"
"\"stream_fd\":"
"\"stream_name\":"
"\"listen\":"
"\"connect\":"
"\"precopy\":"
"\"precopy_max_rounds\":"
"\"precopy_max_usec\":"
"\"dirty_threshold_bytes\":"
"\"force\":"
"\"chunk_bytes\":"
"\"timeout_usec\":"
"\"quiesce_ack\":"
"\"ack_timeout_usec\":"
"\"cancel_on_disconnect\":"
"\"watch\":"
"\"map\":"
"\"any_id\":"
"\"all\":"
"\"abort\":"
"\"probe\":"
"\"version\":"
"\"streams\":"
"\"dirty_start\""
"\"dirty_report\""
"\"dirty_stop\""
"\"ranges\":"
"\"iova\":"
"\"length_bytes\":"
"\"page_size_bytes\":"
"\"bitmap_fd\":"
"\"bitmap_offset\":"
"\"bitmap_size_bytes\":"
"true"
"false"
"null"
"\"tcp://[::1]:4444\""
"\"unix:@x\""
"\"file:/x\""
"\"sim:a\""
"\\u0000"
DICT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$out/fuzz.log
"$out/fuzz-request" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$out/" -dict="$out/fuzz-request.dict" "$@" \
	"$out/corpus" "$src/tests/fuzz/corpus/fuzz-request" >"$log" 2>&1
rc=$?

last=$(grep -E '^#[0-9]+' "$log" | tail -1)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(sed -n 's/.* cov: *\([0-9]*\).*/\1/p' <<<"$last")
summary="${runs:-?} runs, ${eps:-?} exec/s, cov ${cov:-?}"
if [ $rc -ne 0 ]; then
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	echo "fuzz-request: CRASH (exit $rc): $summary; reproducer ${artifact:-none}; log $log"
	tail -30 "$log"
	exit 1
fi
echo "fuzz-request: ok after $secs s: $summary; log $log"
exit 0
