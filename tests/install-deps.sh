#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install what building and testing vfiomig needs on Debian 12 (run as root).
# Installs only what is missing; apt-get update runs first when anything is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

pkgs=(
	# build
	gcc libc6-dev make meson ninja-build pkg-config scdoc
	libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libjson-c-dev libcap-ng-dev
	libgnutls28-dev
	# tests (clang + its runtime: the libFuzzer run of the fuzz suite; systemd:
	# systemd-analyze verifies the units)
	jq valgrind cppcheck clang libclang-rt-14-dev iproute2 systemd
	# the completion test loads bash-completion and installs where its .pc says
	bash-completion
	# the tests' relays, replays and raw control-socket clients (standard library);
	# setpriv runs those as other uids
	python3 util-linux
	# every -j output and vfiomigd message checked against schema/ (validate-json.py)
	python3-jsonschema
	# file(1) reads contrib/file/vfiomig.magic (the inspect test)
	file
	# the exec: transport over a real ssh (an sshd the test starts on loopback)
	openssh-client openssh-server
	# the TLS tests make their CA and certificates with certtool
	gnutls-bin
	# the trace test renders timeline's SVGs with a real renderer
	librsvg2-bin
	# kernel test tier: a qemu guest with Debian's 6.12 kernel and the mtty driver
	qemu-system-x86 busybox-static cpio xz-utils kmod
)
if [ -f "$here/kernel/apt-packages.txt" ]; then
	while read -r p; do
		case $p in ''|'#'*) ;; *) pkgs+=("$p") ;; esac
	done <"$here/kernel/apt-packages.txt"
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
# root runs apt-get itself (containers often have no sudo); anyone else through sudo
as_root=()
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
		exit 1
	fi
	as_root=(sudo DEBIAN_FRONTEND=noninteractive)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
