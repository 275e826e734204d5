#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The shared library's ABI is the public header: the functions declared in
# include/vfiomig.h, the names in src/libvfiomig.sym and the symbols libvfiomig.so
# exports are the same set, each under a LIBVFIOMIG_ version node, and no internal
# helper (parse_int, now_usec, strcopy, vfm_stream_*...) leaks.  TAP on stdout.
set -u
SRC=${1:?usage: lint-exports.sh SOURCE_ROOT PATH-TO-libvfiomig.so}
SO=${2:?usage: lint-exports.sh SOURCE_ROOT PATH-TO-libvfiomig.so}
. "$(dirname "$0")/tap.sh"

command -v nm >/dev/null || { echo "1..0 # SKIP nm (binutils) not installed"; exit 77; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 77; }

# Function declarations of the header: comments and static inline helpers left out.
declared=$(python3 - "$SRC/include/vfiomig.h" <<'PY'
import re, sys
h = re.sub(r'/\*.*?\*/', '', open(sys.argv[1]).read(), flags=re.S)
h = re.sub(r'^static inline[^{]*\{.*?^\}', '', h, flags=re.S | re.M)
for m in re.finditer(r'^(?!typedef|#)[A-Za-z][^;{}()]*?\b(vfm_\w+)\s*\(', h, re.M):
    print(m.group(1))
PY
)
declared=$(sort -u <<<"$declared")
listed=$(sed -e 's|/\*.*\*/||' "$SRC/src/libvfiomig.sym" | grep -oE '^[[:space:]]*vfm_[a-z0-9_]+;' |
	tr -d ' \t;' | sort -u)
exported=$(nm -D --defined-only --with-symbol-versions "$SO" | awk '$2 != "A" { print $3 }')
names=$(sed 's/@.*//' <<<"$exported" | sort -u)
diff_sets() { comm -3 <(printf '%s\n' "$1") <(printf '%s\n' "$2") | tr -d '\t' | paste -sd' '; }

nd=$(wc -l <<<"$declared")
[ "$nd" -ge 60 ] && ok "include/vfiomig.h declares $nd functions" ||
	nok "include/vfiomig.h declares $nd functions (expected 60 or more)"
d=$(diff_sets "$declared" "$listed")
[ -z "$d" ] && ok "src/libvfiomig.sym lists exactly the header's functions" ||
	nok "header and src/libvfiomig.sym differ" "only in one of them: $d"
d=$(diff_sets "$declared" "$names")
[ -z "$d" ] && ok "$(basename "$SO") exports exactly the header's functions ($(wc -l <<<"$names"))" ||
	nok "header and the exports of $(basename "$SO") differ" "only in one of them: $d"
unversioned=$(grep -v '@@\?LIBVFIOMIG_' <<<"$exported" | paste -sd' ')
[ -z "$unversioned" ] && ok "every export carries a LIBVFIOMIG_ version" ||
	nok "exports without a LIBVFIOMIG_ version" "$unversioned"
leaks=$(grep -E '^(parse_|now_usec|strcopy|read_line_file|vfm_(stream|set|sim|nl|rt|dl|vf|pf|crc32c|log|ctx_fail|uri)_)' <<<"$names" | paste -sd' ')
[ -z "$leaks" ] && ok "no internal helper is exported" || nok "internal symbols exported" "$leaks"
soname=$(readelf -d "$SO" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libvfiomig.so.0 ] && ok "soname $soname" || nok "soname is '$soname', docs/abi.md says libvfiomig.so.0"
tap_end
