#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test command: install what is missing, build with -Werror under ASan+UBSan, run
# every suite (unit, sim, kernel), and end with "N passed, N failed".
#   tests/run.sh [--suite NAME]... [--build-dir DIR]
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-test
suites=()
while [ $# -gt 0 ]; do
	case $1 in
	--suite) suites+=(--suite "$2"); shift 2 ;;
	--build-dir) build=$2; shift 2 ;;
	*) echo "usage: $0 [--suite NAME]... [--build-dir DIR]" >&2; exit 2 ;;
	esac
done

"$src/tests/install-deps.sh" || exit 1

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" -Dwerror=true -Db_sanitize=address,undefined \
		-Db_lundef=false || exit 1
fi
ninja -C "$build" || exit 1

# The kernel tier runs on Debian's stock kernel and on two built from source: build
# those first (cached; a cold build takes minutes, not what a test's timeout is for).
if [ ${#suites[@]} -eq 0 ] || [[ " ${suites[*]} " == *" kernel "* ]]; then
	for k in 6.12 newest; do
		t0=$(date +%s)
		if kdir=$("$src/tests/kernel/build-kernel.sh" "$k" | tail -n1); then
			echo "run.sh: kernel $k: $(sed -n 2p "$kdir/.stamp") ($(($(date +%s) - t0)) s)"
		else
			echo "run.sh: build-kernel.sh $k failed: its guest tests will fail" >&2
		fi
	done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "$build" --print-errorlogs --num-processes 2 "${suites[@]}" 2>&1 | tee "$build/test-summary.txt"
rc=${PIPESTATUS[0]}

# Count from meson's summary: TAP subtests are folded into their test.
get() { sed -n "s/^$1: *\([0-9]*\) *$/\1/p" "$build/test-summary.txt" | tail -1; }
okc=$(get Ok); fail=$(get Fail); to=$(get Timeout); skip=$(get Skipped); xp=$(get "Unexpected Pass")
checks=$(grep -oE '[0-9]+ subtests passed' "$build/test-summary.txt" | awk '{s += $1} END {print s + 0}')
echo "($checks TAP checks passed inside those tests)"
echo "$((${okc:-0})) passed, $((${fail:-0} + ${to:-0} + ${xp:-0})) failed, $((${skip:-0})) skipped"
exit "$rc"
