# SPDX-License-Identifier: GPL-2.0-or-later
#
# Helpers for guest test scripts (POSIX sh, busybox).  In the guest this file
# is /usr/share/vfiomig-test/tap.sh; source it with
#     . /usr/share/vfiomig-test/tap.sh
# It also sources /etc/vfiomig-test.env (MTTY2_UUIDS, MTTY1_UUIDS, ...).
#
#   tap_ok DESC            print "ok N - DESC"
#   tap_fail DESC          print "not ok N - DESC"
#   tap_check DESC CMD...  run CMD; ok if it exits 0
#   tap_skip REASON        print "ok N # SKIP REASON"
#   tap_diag TEXT          print "# TEXT"
#   tap_done               print the plan "1..N"; returns 1 if anything failed
#                          (end a script with: tap_done; exit $?)
#   tap_relay PREFIX FILE  re-emit the TAP lines and diagnostics another program
#                          (vfm-mtty) wrote to FILE as ours, prefixed
#   tap_json KIND FILE     hand the JSON FILE holds (lines that start with '{') to
#                          the host, which checks each against schema/KIND
#                          (KIND: vfiomig-list, vfiomig-save...; run-guest.sh)
#   have_vfiomig           true if the vfiomig CLI is in PATH
#   mdev_group UUID        print the IOMMU group number of an mdev

# shellcheck disable=SC1091
[ -f /etc/vfiomig-test.env ] && . /etc/vfiomig-test.env

TAP_N=0
TAP_FAILED=0

tap_ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

tap_fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

tap_check() {
	_tap_desc=$1
	shift
	if "$@"; then
		tap_ok "$_tap_desc"
	else
		tap_fail "$_tap_desc"
		return 1 # so that `tap_check ... || tap_diag ...` explains a failure
	fi
}

tap_skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP $*"
}

tap_diag() {
	echo "$*" | sed 's/^/# /'
}

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

have_vfiomig() {
	command -v vfiomig >/dev/null 2>&1
}

mdev_group() {
	_g=$(readlink "/sys/bus/mdev/devices/$1/iommu_group") || return 1
	echo "${_g##*/}"
}

tap_relay() {
	_tap_relay=${TMPDIR:-/tmp}/tap-relay.$$
	grep -E '^((not )?ok |# )' "$2" | while read -r line; do
		case $line in
		"not ok "*) echo "TAPFAIL $1: ${line#not ok * - }" ;;
		"ok "*) echo "TAPOK $1: ${line#ok * - }" ;;
		*) echo "TAPDIAG $1: ${line#\# }" ;;
		esac
	done >"$_tap_relay"
	while read -r kind desc; do
		case $kind in
		TAPOK) tap_ok "$desc" ;;
		TAPFAIL) tap_fail "$desc" ;;
		*) tap_diag "$desc" ;;
		esac
	done <"$_tap_relay"
	rm -f "$_tap_relay"
}

tap_json() {
	if grep -q '^{' "$2" 2>/dev/null; then
		grep '^{' "$2" | while IFS= read -r _tap_l; do echo "@@VFM-JSON $1 $_tap_l"; done
	else
		echo "@@VFM-JSON $1 "
	fi
}

# daemon_up SOCKET: wait until the vfiomigd on SOCKET answers (at most 20 s)
daemon_up() {
	_i=0
	while [ $_i -lt 200 ]; do
		vfiomig --connect="$1" jobs >/dev/null 2>&1 && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
