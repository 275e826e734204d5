#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The systemd units, built to point at this build's binaries: `systemd-analyze verify`
# must pass without a single warning, a unit with a broken ExecStart must fail it (so
# that this test can fail), and the services' `systemd-analyze security` exposure must
# stay at or below MAX_EXPOSURE.  TAP on stdout; exit 77 without systemd-analyze.
#
#   test-systemd-units.sh UNIT-FILE...   (*.build files lose that suffix)
set -u
MAX_EXPOSURE=2.5
if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze not installed (Debian package systemd)"
	exit 77
fi
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
	b=$(basename "$f"); cp "$f" "$tmp/${b%.build}"
done
cp "$tmp/vfiomig-restore@.service" "$tmp/vfiomig-restore@test.service"
cd "$tmp" || exit 1

# verify UNIT...: exit 0 and nothing said (warnings such as unknown keys only print)
verify() {
	local out rc
	out=$(systemd-analyze verify --man=no --generators=no "$@" 2>&1); rc=$?
	if [ $rc = 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify $*"; else nok "systemd-analyze verify $*" "exit $rc" "$out"; fi
}
verify ./vfiomigd.socket ./vfiomigd.service
verify ./vfiomig-restore@.service
verify ./vfiomig-restore@test.service

mkdir bad
sed 's|^ExecStart=.*|ExecStart=/nonexistent/vfiomigd|' vfiomigd.service >bad/vfiomigd.service
cp vfiomigd.socket bad/
if systemd-analyze verify --man=no --generators=no bad/vfiomigd.socket bad/vfiomigd.service >/dev/null 2>&1; then
	nok "a unit whose ExecStart does not exist fails verify" "it passed: this test cannot see errors"
else
	ok "a unit whose ExecStart does not exist fails verify"
fi

grep -q '^Type=notify$' vfiomigd.service && grep -q '^WatchdogSec=' vfiomigd.service &&
	grep -q '^DevicePolicy=closed$' vfiomigd.service && grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN$' vfiomigd.service &&
	ok "vfiomigd.service: Type=notify, a watchdog, DevicePolicy=closed, CAP_NET_ADMIN the one capability" ||
	nok "vfiomigd.service lost part of its hardening"

for u in vfiomigd.service vfiomig-restore@test.service; do
	out=$(systemd-analyze security --offline=true "./$u" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
	if [ -z "$score" ]; then
		nok "systemd-analyze security $u" "$(tail -3 <<<"$out")"
	elif awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
		ok "systemd-analyze security $u: exposure $score (at most $MAX_EXPOSURE)"
	else
		nok "systemd-analyze security $u: exposure $score, more than $MAX_EXPOSURE" "$(grep '✗' <<<"$out")"
	fi
done
tap_end
