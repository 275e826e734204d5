#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Prepare a Debian kernel + VFIO modules + out-of-tree mtty (and netdevsim)
# for the real-kernel test tier.  Nothing is installed on the host: the
# kernel packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into a cache directory outside the source tree.
#
# Usage: prepare.sh [--force] [--quiet]
#
# Environment:
#   VFIOMIG_KERNEL_CACHE      cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/vfiomig-kernel)
#   VFIOMIG_KERNEL_NETDEVSIM  0 = do not build netdevsim.ko (default 1; a failed
#                             netdevsim build is reported but not fatal)
#   VFIOMIG_KERNEL_KEEP_DEBS  1 = keep the downloaded .deb files in the cache
#   VFIOMIG_KERNEL_WORKDIR    scratch dir for unpacking (default: a temp dir in
#                             /dev/shm when it has room, else $CACHE/work)
#
# Result (printed on stdout as the last line): the directory holding
#   vmlinuz, config, modules/*.ko, modules/load-order, info
# "$CACHE/current" is a symlink to it.

set -euo pipefail

# ---- pinned kernel ---------------------------------------------------------
PIN_VERSION="6.12.117-1~deb12u1"     # Debian package version
PIN_ABI="6.12.117+deb12"            # ABI part of the package names
SOURCE_PKG="linux-source-6.12"
FLAVOUR="amd64"
# Bump when the content produced below changes, to invalidate old caches.
RECIPE=5

CACHE="${VFIOMIG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomig-kernel}"
WANT_NETDEVSIM="${VFIOMIG_KERNEL_NETDEVSIM:-1}"
FORCE=0
QUIET=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--quiet) QUIET=1 ;;
	-h | --help)
		sed -n '3,/^$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "prepare.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

STAMP_KEY="recipe=$RECIPE pin=$PIN_VERSION netdevsim-wanted=$WANT_NETDEVSIM"

stamp_ok() {
	# $1: directory; true when it holds a finished build for STAMP_KEY
	[ -f "$1/.stamp" ] && [ "$(head -n1 "$1/.stamp")" = "$STAMP_KEY" ] &&
		[ -f "$1/vmlinuz" ] && [ -f "$1/modules/load-order" ]
}

# ---- fast path: nothing to do ---------------------------------------------
if [ "$FORCE" = 0 ] && stamp_ok "$CACHE/current"; then
	[ "$QUIET" = 1 ] || echo "prepare.sh: cached ($(sed -n 2p "$CACHE/current/.stamp"))" >&2
	readlink -f "$CACHE/current"
	exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
# Another run may have finished while we waited for the lock.
if [ "$FORCE" = 0 ] && stamp_ok "$CACHE/current"; then
	readlink -f "$CACHE/current"
	exit 0
fi

LOG="$CACHE/prepare.log"
T0=$(date +%s.%N)
TSTEP=$T0
log() {
	echo "prepare.sh: $*" >&2
	echo "$(date '+%F %T') $*" >>"$LOG"
}
step_done() {
	local now
	now=$(date +%s.%N)
	log "$(awk -v a="$TSTEP" -v b="$now" -v z="$T0" -v s="$1" \
		'BEGIN { printf "%-34s %6.2fs (total %6.2fs)", s, b - a, b - z }')"
	TSTEP=$now
}

for tool in apt-get apt-cache dpkg-deb xz tar make gcc modinfo flock awk; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "prepare.sh: missing tool '$tool' (see tests/kernel/apt-packages.txt)" >&2
		exit 1
	fi
done

log "start (cache $CACHE)"

# ---- choose the kernel version ---------------------------------------------
pkgs_for() { # $1 version, $2 abi
	echo "linux-image-$2-$FLAVOUR-unsigned=$1"
	echo "linux-headers-$2-$FLAVOUR=$1"
	echo "linux-headers-$2-common=$1"
	echo "linux-kbuild-$2=$1"
	echo "$SOURCE_PKG=$1"
}
all_available() { # $1 version, $2 abi; one apt-cache call for all packages
	local p table
	# shellcheck disable=SC2046 # one word per package name
	table=$(apt-cache madison $(pkgs_for "$1" "$2" | sed 's/=.*//') 2>/dev/null |
		awk -F' [|] ' '{ print $1 "=" $2 }') || return 1
	for p in $(pkgs_for "$1" "$2"); do
		grep -qxF "$p" <<<"$table" || return 1
	done
}

VERSION="$PIN_VERSION"
ABI="$PIN_ABI"
if all_available "$VERSION" "$ABI"; then
	log "using pinned kernel $VERSION (ABI $ABI)"
else
	VERSION=$(apt-cache policy "$SOURCE_PKG" | sed -n 's/^ *Candidate: *//p')
	if [ -z "$VERSION" ] || [ "$VERSION" = "(none)" ]; then
		echo "prepare.sh: pinned $PIN_VERSION is gone and $SOURCE_PKG has no candidate" \
			"(run apt-get update?)" >&2
		exit 1
	fi
	# 6.12.120-1~deb12u1 -> 6.12.120+deb12
	ABI="${VERSION%%-*}+deb12"
	if ! all_available "$VERSION" "$ABI"; then
		echo "prepare.sh: fallback $VERSION (ABI $ABI): not all of these exist:" \
			"$(pkgs_for "$VERSION" "$ABI" | tr '\n' ' ')" >&2
		exit 1
	fi
	log "pinned $PIN_VERSION not in the archive any more; FALLING BACK to candidate $VERSION (ABI $ABI)"
fi
KREL="$ABI-$FLAVOUR"
step_done "version selection"

OUT="$CACHE/$KREL"
DEBS="$CACHE/debs"
# The unpacked packages (~200 MB, thousands of files) are only needed while
# building: put them on tmpfs when there is room (several times faster than
# a disk on these VMs), else in the cache.
WORK=""
if [ -z "${VFIOMIG_KERNEL_WORKDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 1048576 ]; then
	WORK=$(mktemp -d /dev/shm/vfiomig-kernel-work.XXXXXX)
else
	WORK="${VFIOMIG_KERNEL_WORKDIR:-$CACHE/work}"
	rm -rf "$WORK"
fi
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
rm -rf "$OUT.tmp"
mkdir -p "$WORK/root" "$WORK/build" "$DEBS" "$OUT.tmp/modules"

# ---- download + unpack ------------------------------------------------------
# Download into a side folder so an interrupted run never leaves a partial
# .deb where the next run would take it for a complete one.
mkdir -p "$DEBS/.partial"
MISSING=()
for p in $(pkgs_for "$VERSION" "$ABI"); do
	name="${p%%=*}"
	ls "$DEBS/${name}_"*.deb >/dev/null 2>&1 || MISSING+=("$p")
done
if [ "${#MISSING[@]}" -gt 0 ]; then
	rm -f "$DEBS/.partial/"*.deb
	if ! (cd "$DEBS/.partial" && apt-get download -q "${MISSING[@]}") >"$DEBS/.partial/log" 2>&1; then
		cat "$DEBS/.partial/log" >&2
		echo "prepare.sh: apt-get download failed" >&2
		exit 1
	fi
	mv "$DEBS/.partial/"*.deb "$DEBS/"
fi
step_done "apt-get download"

# Only the few source files we build are taken out of the 150 MB tarball.
# This runs in the background while the other packages are unpacked.
SRC_MEMBERS="linux-source-6.12/samples/vfio-mdev/mtty.c"
if [ "$WANT_NETDEVSIM" = 1 ]; then
	SRC_MEMBERS="$SRC_MEMBERS linux-source-6.12/drivers/net/netdevsim"
fi
# shellcheck disable=SC2086 # word splitting of SRC_MEMBERS is intended
(
	set -o pipefail
	dpkg-deb --fsys-tarfile "$DEBS/${SOURCE_PKG}_"*.deb |
		tar -xO "./usr/src/$SOURCE_PKG.tar.xz" | xz -dc -T1 |
		tar -x -C "$WORK/build" $SRC_MEMBERS
) &
SRC_PID=$!

for p in $(pkgs_for "$VERSION" "$ABI"); do
	name="${p%%=*}"
	[ "$name" = "$SOURCE_PKG" ] && continue
	dpkg-deb -x "$DEBS/${name}_"*.deb "$WORK/root"
done
step_done "dpkg-deb -x image/headers/kbuild"
if ! wait "$SRC_PID"; then
	echo "prepare.sh: extracting $SRC_MEMBERS from $SOURCE_PKG failed" >&2
	exit 1
fi
step_done "extract sources (in parallel)"

KDIR="$WORK/root/usr/src/linux-headers-$KREL"
MODROOT="$WORK/root/lib/modules/$KREL"
[ -d "$MODROOT" ] || MODROOT="$WORK/root/usr/lib/modules/$KREL"
cp "$WORK/root/boot/vmlinuz-$KREL" "$OUT.tmp/vmlinuz"
cp "$WORK/root/boot/config-$KREL" "$OUT.tmp/config"
# The arch headers Makefile includes the -common one by its installed path.
sed -i "s#^include /usr/src/#include $WORK/root/usr/src/#" "$KDIR/Makefile"

# ---- out-of-tree modules ----------------------------------------------------
BUILD_LOG="$OUT.tmp/build.log"
: >"$BUILD_LOG"
mkdir -p "$WORK/build/mtty"
cp "$WORK/build/linux-source-6.12/samples/vfio-mdev/mtty.c" "$WORK/build/mtty/"
echo 'obj-m += mtty.o' >"$WORK/build/mtty/Makefile"
if ! make -C "$KDIR" M="$WORK/build/mtty" CONFIG_DEBUG_INFO_BTF_MODULES= modules >>"$BUILD_LOG" 2>&1; then
	tail -n 30 "$BUILD_LOG" >&2
	echo "prepare.sh: building mtty.ko failed (log $BUILD_LOG)" >&2
	exit 1
fi
cp "$WORK/build/mtty/mtty.ko" "$OUT.tmp/modules/"
step_done "build mtty.ko"

HAVE_NETDEVSIM=no
if [ "$WANT_NETDEVSIM" = 1 ]; then
	cp -r "$WORK/build/linux-source-6.12/drivers/net/netdevsim" "$WORK/build/netdevsim"
	if make -j"$(nproc)" -C "$KDIR" M="$WORK/build/netdevsim" CONFIG_NETDEVSIM=m \
		CONFIG_DEBUG_INFO_BTF_MODULES= modules >>"$BUILD_LOG" 2>&1; then
		cp "$WORK/build/netdevsim/netdevsim.ko" "$OUT.tmp/modules/"
		HAVE_NETDEVSIM=yes
	else
		tail -n 30 "$BUILD_LOG" >&2
		log "WARNING: building netdevsim.ko failed; continuing without it (log $BUILD_LOG)"
	fi
	step_done "build netdevsim.ko"
fi

# ---- modules and their dependencies, in load order ------------------------
declare -A MODPATH=()
while IFS= read -r f; do
	b="${f##*/}"
	b="${b%%.ko*}"
	MODPATH["${b//-/_}"]="$f"
done < <(find "$MODROOT/kernel" -name '*.ko*')
for b in mtty netdevsim; do
	[ -f "$OUT.tmp/modules/$b.ko" ] && MODPATH[$b]="$OUT.tmp/modules/$b.ko"
done

declare -A SEEN=()
ORDER=()
add_module() { # $1 module name; dependencies are added first
	local m="${1//-/_}" d f
	[ -n "${SEEN[$m]:-}" ] && return 0
	SEEN[$m]=1
	f="${MODPATH[$m]:-}"
	if [ -z "$f" ]; then
		# Built into the kernel?  Then nothing to load.
		if grep -q -E "/${m//_/[-_]}\.ko\$" "$MODROOT/modules.builtin" 2>/dev/null; then
			return 0
		fi
		echo "prepare.sh: module $m not found" >&2
		exit 1
	fi
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		add_module "$d"
	done
	ORDER+=("$m")
}

# vfio_pci (+ vfio_pci_core, irqbypass) binds nothing by itself: the PCI
# test hands it a device through driver_override.
# tls + gcm(aes): kTLS (35-tls); the kernel loads no crypto module by itself here;
# aesni_intel and ghash_clmulni_intel: the AES-NI and PCLMUL drivers, as a real
# host loads them (qemu -cpu max has both instructions), so that kTLS is measured
# against GnuTLS with the same instructions (bench/guest-tls-bench.sh)
WANTED=(vfio vfio_iommu_type1 mdev mtty veth psample vfio_pci tls gcm ghash_generic
	aesni_intel ghash_clmulni_intel)
[ "$HAVE_NETDEVSIM" = yes ] && WANTED+=(netdevsim)
for m in "${WANTED[@]}"; do
	add_module "$m"
done
for m in "${ORDER[@]}"; do
	f="${MODPATH[$m]}"
	case "$f" in
	*.ko.xz) xz -dc "$f" >"$OUT.tmp/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$OUT.tmp/modules/$m.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$OUT.tmp/modules/$m.ko" ;;
	*.ko) [ "$f" = "$OUT.tmp/modules/$m.ko" ] || cp "$f" "$OUT.tmp/modules/$m.ko" ;;
	esac
done
printf '%s\n' "${ORDER[@]}" >"$OUT.tmp/modules/load-order"
step_done "collect modules"

cat >"$OUT.tmp/info" <<EOF
KERNEL_PACKAGE_VERSION=$VERSION
KERNEL_ABI=$ABI
KERNEL_RELEASE=$KREL
PINNED_VERSION=$PIN_VERSION
NETDEVSIM=$HAVE_NETDEVSIM
MODULES="${ORDER[*]}"
EOF
printf '%s\n%s\n' "$STAMP_KEY" "kernel $VERSION ($KREL), netdevsim=$HAVE_NETDEVSIM" >"$OUT.tmp/.stamp"

rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
ln -sfn "$KREL" "$CACHE/current"
[ "${VFIOMIG_KERNEL_KEEP_DEBS:-0}" = 1 ] || rm -rf "$DEBS"
step_done "finish"
log "kernel $VERSION ($KREL); modules in load order: ${ORDER[*]}"
echo "$OUT"
