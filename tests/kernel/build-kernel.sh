#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build a kernel for the real-kernel test tier from Debian's linux-source-X.Y:
# `make tinyconfig` + tests/kernel/kernel.config (IOMMUFD, the VFIO cdev path,
# VFIO_DEBUGFS, vfio-pci, mdev; mtty and netdevsim as modules).  Nothing is
# installed on the host: the source package is fetched with `apt-get download`
# and built in a scratch folder; the result is cached like prepare.sh's.
#
# Usage: build-kernel.sh [--force] [--quiet] KERNEL
#   KERNEL  6.12     linux-source-6.12 from this machine's Debian 12 sources
#           newest   the newest linux-source-X.Y in Debian unstable (read with a
#                    private apt configuration under the cache; the host's
#                    sources are not touched)
#
# Environment: VFIOMIG_KERNEL_CACHE (see prepare.sh), VFIOMIG_KERNEL_JOBS (make -j,
# default nproc), VFIOMIG_KERNEL_WORKDIR (scratch; default a folder in /dev/shm
# when it has 3 GiB free, else $CACHE/work-built).
#
# Result (the last line on stdout): a folder holding vmlinuz, config, info,
# modules/*.ko and modules/load-order, as prepare.sh's.  "$CACHE/built-KERNEL" is
# a symlink to it.  The folder's name carries the source version; its .stamp the
# recipe and the fragment's hash, so a changed fragment rebuilds.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE="${VFIOMIG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomig-kernel}"
FRAGMENT="$HERE/kernel.config"
JOBS="${VFIOMIG_KERNEL_JOBS:-$(nproc)}"
# Bump when what is produced below changes.
RECIPE=1
UNSTABLE_MIRROR="http://deb.debian.org/debian"

FORCE=0 QUIET=0 KERNEL=""
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--quiet) QUIET=1 ;;
	-h | --help)
		sed -n '3,/^$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	6.12 | newest) KERNEL=$arg ;;
	*)
		echo "build-kernel.sh: unknown argument: $arg (KERNEL is 6.12 or newest)" >&2
		exit 2
		;;
	esac
done
[ -n "$KERNEL" ] || { echo "build-kernel.sh: which kernel? 6.12 or newest" >&2; exit 2; }

say() { [ "$QUIET" = 1 ] || echo "build-kernel.sh: $*" >&2; }
FRAG_SUM=$(sha256sum "$FRAGMENT" | cut -c1-16)
LINK="$CACHE/built-$KERNEL"

stamp_ok() { # $1 folder, $2 key
	[ -f "$1/.stamp" ] && [ "$(head -n1 "$1/.stamp")" = "$2" ] &&
		[ -f "$1/vmlinuz" ] && [ -f "$1/modules/load-order" ]
}

# ---- which source package ----------------------------------------------------
# The newest kernel's apt state is private: lists under the cache, the host's
# sources.list and lists untouched.
APT_OPTS=()
if [ "$KERNEL" = newest ]; then
	A="$CACHE/apt-unstable"
	mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/sources.list.d"
	echo "deb $UNSTABLE_MIRROR unstable main" >"$A/sources.list"
	APT_OPTS=(-o "Dir::Etc::SourceList=$A/sources.list" -o "Dir::Etc::SourceParts=$A/sources.list.d"
		-o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache"
		-o "Dir::State::status=/var/lib/dpkg/status" -o "APT::Get::List-Cleanup=0")
fi

# The fast path needs no network: the symlink's stamp names what it was built from.
# A newer source in the archive is picked up by --force (or when the fragment or
# the recipe changes); the tests' results name the version they ran on.
KEY_PREFIX="recipe=$RECIPE kernel=$KERNEL fragment=$FRAG_SUM"
if [ "$FORCE" = 0 ] && [ -e "$LINK" ] &&
	[[ $(head -n1 "$LINK/.stamp" 2>/dev/null) == "$KEY_PREFIX "* ]] &&
	stamp_ok "$LINK" "$(head -n1 "$LINK/.stamp")"; then
	say "cached ($(sed -n 2p "$LINK/.stamp"))"
	readlink -f "$LINK"
	exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-built-$KERNEL"
flock 9
if [ "$FORCE" = 0 ] && [ -e "$LINK" ] &&
	[[ $(head -n1 "$LINK/.stamp" 2>/dev/null) == "$KEY_PREFIX "* ]]; then
	readlink -f "$LINK"
	exit 0
fi

for tool in apt-get apt-cache dpkg-deb xz tar make gcc flex bison bc flock modinfo; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "build-kernel.sh: missing tool '$tool' (see tests/kernel/apt-packages.txt)" >&2; exit 1; }
done

LOG="$CACHE/prepare.log"
T0=$(date +%s)
log() { say "$*"; echo "$(date '+%F %T') built-$KERNEL: $*" >>"$LOG"; }

if [ "$KERNEL" = newest ]; then
	log "reading Debian unstable's package list (private apt state in $A)"
	apt-get "${APT_OPTS[@]}" -q update >"$A/update.log" 2>&1 ||
		{ cat "$A/update.log" >&2; echo "build-kernel.sh: apt-get update (unstable) failed" >&2; exit 1; }
	SOURCE_PKG=$(apt-cache "${APT_OPTS[@]}" pkgnames linux-source- 2>/dev/null |
		grep -E '^linux-source-[0-9]+\.[0-9]+$' | sort -V | tail -n1)
else
	SOURCE_PKG=linux-source-6.12
fi
[ -n "$SOURCE_PKG" ] || { echo "build-kernel.sh: no linux-source-X.Y package found" >&2; exit 1; }
VERSION=$(apt-cache "${APT_OPTS[@]}" policy "$SOURCE_PKG" | sed -n 's/^ *Candidate: *//p')
if [ -z "$VERSION" ] || [ "$VERSION" = "(none)" ]; then
	echo "build-kernel.sh: $SOURCE_PKG has no candidate version (apt-get update?)" >&2
	exit 1
fi
KEY="$KEY_PREFIX source=$SOURCE_PKG=$VERSION"
OUT="$CACHE/built-$KERNEL-${VERSION//[^A-Za-z0-9.+-]/_}"
if [ "$FORCE" = 0 ] && stamp_ok "$OUT" "$KEY"; then
	ln -sfn "$(basename "$OUT")" "$LINK"
	readlink -f "$LINK"
	exit 0
fi
log "building $SOURCE_PKG $VERSION with $(basename "$FRAGMENT") ($FRAG_SUM), make -j$JOBS"

# ---- download and unpack -------------------------------------------------------
if [ -z "${VFIOMIG_KERNEL_WORKDIR:-}" ] && [ -w /dev/shm ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((3 * 1048576)) ]; then
	WORK=$(mktemp -d /dev/shm/vfiomig-kbuild.XXXXXX)
else
	WORK="${VFIOMIG_KERNEL_WORKDIR:-$CACHE/work-built}/$KERNEL"
	rm -rf "$WORK"
	mkdir -p "$WORK"
fi
trap 'rm -rf "$WORK" "$OUT.tmp"' EXIT
(cd "$WORK" && apt-get "${APT_OPTS[@]}" download -q "$SOURCE_PKG=$VERSION") >"$WORK/download.log" 2>&1 ||
	{ cat "$WORK/download.log" >&2; echo "build-kernel.sh: apt-get download $SOURCE_PKG=$VERSION failed" >&2; exit 1; }
T1=$(date +%s)
log "downloaded $(du -h "$WORK"/*.deb | cut -f1) in $((T1 - T0)) s"
dpkg-deb --fsys-tarfile "$WORK"/*.deb | tar -xO "./usr/src/$SOURCE_PKG.tar.xz" |
	xz -dc -T0 | tar -x -C "$WORK"
rm -f "$WORK"/*.deb
SRC="$WORK/$SOURCE_PKG"
[ -f "$SRC/Makefile" ] || { echo "build-kernel.sh: no $SOURCE_PKG/Makefile in the tarball" >&2; exit 1; }
T2=$(date +%s)
log "unpacked in $((T2 - T1)) s"

# ---- configure -----------------------------------------------------------------
BUILD_LOG="$WORK/build.log"
mk() { make -C "$SRC" -j"$JOBS" "$@" >>"$BUILD_LOG" 2>&1; }
fail() {
	tail -n 40 "$BUILD_LOG" >&2
	mkdir -p "$CACHE/logs" && cp "$BUILD_LOG" "$CACHE/logs/build-$KERNEL.log"
	echo "build-kernel.sh: $* (log $CACHE/logs/build-$KERNEL.log)" >&2
	exit 1
}
mk tinyconfig || fail "make tinyconfig failed"
(cd "$SRC" && scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") >>"$BUILD_LOG" 2>&1 ||
	fail "merge_config.sh failed"
mk olddefconfig || fail "make olddefconfig failed"
missing=()
while IFS= read -r line; do
	case "$line" in '#'* | '') continue ;; esac
	grep -qxF "$line" "$SRC/.config" || missing+=("$line")
done <"$FRAGMENT"
if [ "${#missing[@]}" -gt 0 ]; then
	fail "not in the resulting .config (a dependency is missing from the fragment): ${missing[*]}"
fi
KREL=$(make -C "$SRC" -s kernelrelease)

# ---- build -----------------------------------------------------------------------
mk bzImage modules || fail "make bzImage modules failed"
T3=$(date +%s)
log "built $KREL in $((T3 - T2)) s"

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp/modules"
cp "$SRC/arch/x86/boot/bzImage" "$OUT.tmp/vmlinuz"
cp "$SRC/.config" "$OUT.tmp/config"
# Every module built (the fragment builds few: mtty, what it selects, netdevsim), in
# an order that loads each one's dependencies first.
declare -A KO=() SEEN=()
while IFS= read -r f; do
	b=$(basename "$f" .ko)
	KO[${b//-/_}]="$SRC/$f"
done < <(cd "$SRC" && find . -name '*.ko' -printf '%P\n')
ORDER=()
add_module() {
	local m=$1 d
	[ -n "${SEEN[$m]:-}" ] && return 0
	SEEN[$m]=1
	for d in $(modinfo -F depends "${KO[$m]}" | tr ',' ' '); do
		[ -n "${KO[${d//-/_}]:-}" ] || fail "$m needs module $d, which was not built"
		add_module "${d//-/_}"
	done
	ORDER+=("$m")
}
for m in mtty netdevsim; do
	[ -n "${KO[$m]:-}" ] || fail "$m.ko was not built"
done
for m in $(printf '%s\n' "${!KO[@]}" | sort); do
	add_module "$m"
	cp "${KO[$m]}" "$OUT.tmp/modules/$m.ko"
done
printf '%s\n' "${ORDER[@]}" >"$OUT.tmp/modules/load-order"
# what the guest has built in, for its smoke test (modules.builtin names)
sed -e 's#.*/##' -e 's#\.ko$##' -e 's#-#_#g' "$SRC/modules.builtin" | sort -u >"$OUT.tmp/modules/builtin"
cat >"$OUT.tmp/info" <<EOF
KERNEL_PACKAGE_VERSION=$VERSION
KERNEL_SOURCE=$SOURCE_PKG
KERNEL_RELEASE=$KREL
KERNEL_BUILT=$KERNEL
NETDEVSIM=yes
MODULES="${ORDER[*]}"
EOF
printf '%s\n%s\n' "$KEY" "kernel $KREL built from $SOURCE_PKG $VERSION" >"$OUT.tmp/.stamp"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
ln -sfn "$(basename "$OUT")" "$LINK"
log "done: $KREL from $SOURCE_PKG $VERSION in $(($(date +%s) - T0)) s in all"
echo "$OUT"
