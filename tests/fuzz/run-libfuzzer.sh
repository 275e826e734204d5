#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Meson wrapper: run build-libfuzzer.sh for a bounded time; exit 77 (skip) with the
# reason when clang or its libFuzzer runtime is missing.
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v "${CC:-clang}" >/dev/null; then
	echo "skip: clang not installed (tests/install-deps.sh installs it)"
	exit 77
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
	"${CC:-clang}" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
	echo "skip: clang has no libFuzzer runtime (libclang-rt-14-dev)"
	exit 77
fi
CC=${CC:-clang} exec "$here/build-libfuzzer.sh" "$@"
