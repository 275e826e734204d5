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
