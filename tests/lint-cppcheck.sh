#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# cppcheck over the sources.  memleak is suppressed: cppcheck does not understand
# the _cleanup_ attribute (every report is a false positive), and real leaks are
# caught at run time by LeakSanitizer in the ASan test build.
src=${1:?usage: lint-cppcheck.sh SOURCE_ROOT}
command -v cppcheck >/dev/null || { echo "skip: cppcheck not installed"; exit 77; }
exec cppcheck --quiet --enable=warning,portability,performance --inline-suppr \
	--error-exitcode=1 --suppress=missingIncludeSystem --suppress=memleak \
	-D_GNU_SOURCE -I "$src/include" -I "$src/src/shared" -I "$src/src/lib" \
	-I "$src/src/uapi" "$src/src" "$src/tests/kernel/vfm-mtty.c" "$src/bench"
