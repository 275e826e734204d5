# SPDX-License-Identifier: GPL-2.0-or-later
# TAP for the host-side bash tests (the C tests have tap.h, the guest lib/tap.sh):
#   ok DESC; nok DESC [DIAGNOSTIC...]; skip DESC REASON; tap_end (prints the plan;
#   false if any failed)
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
# every line of a diagnostic starts with "# " (a bare line breaks TAP)
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
tap_end() { echo "1..$n"; [ "$failed" = 0 ]; }
