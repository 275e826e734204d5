#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libvfiomig as a VMM's build sees it: install this build into a DESTDIR, build
# examples/vmm-save-restore.c with `pkg-config --cflags --libs libvfiomig` against
# the installed header and .pc alone (no path into the source or build tree), run it
# against the installed library, and check what it reports.  Also: the .pc's private
# requirements, the library's soname link, and that an internal symbol does not link.
# TAP on stdout.
# Then the files for operators: the units and the sysusers.d entry where systemd.pc
# says and the bash completion where bash-completion.pc says, also when the build's
# prefix is /opt/vfiomig (a fresh configuration, inspected, not installed).
# Environment: CC (meson's compiler), VFM_EXAMPLE_CFLAGS (the build's sanitizer flags:
# an instrumented library needs an instrumented program), VFM_UNITDIR,
# VFM_SYSUSERSDIR, VFM_COMPLETIONSDIR (the directories this build chose).
set -u
BUILD=${1:?usage: test-install.sh BUILD_ROOT SOURCE_ROOT}
SRC=${2:?usage: test-install.sh BUILD_ROOT SOURCE_ROOT}
CC=${CC:-cc}
# meson points this at the build tree; the example must load the installed library.
unset LD_LIBRARY_PATH
read -ra EXTRA <<<"${VFM_EXAMPLE_CFLAGS:-}"
read -ra CCV <<<"$CC"
. "$(dirname "$0")/../tap.sh"

for p in meson pkg-config; do
	command -v "$p" >/dev/null || { echo "1..0 # SKIP $p not installed"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$tmp/work"

if out=$(meson install -C "$BUILD" --no-rebuild --quiet --destdir "$root" 2>&1); then
	ok "meson install --destdir DESTDIR"
else
	nok "meson install --destdir DESTDIR" "$out"
	tap_end
	exit
fi

pcs=$(find "$root" -name libvfiomig.pc)
if [ "$(wc -l <<<"$pcs")" = 1 ] && [ -n "$pcs" ]; then
	ok "libvfiomig.pc installed (${pcs#"$root"})"
else
	nok "libvfiomig.pc installed once" "found: $pcs"
	tap_end
	exit
fi
pc() { PKG_CONFIG_PATH=$(dirname "$pcs") PKG_CONFIG_SYSROOT_DIR=$root pkg-config "$@"; }
# Variables come without the sysroot.
includedir=$root$(PKG_CONFIG_PATH=$(dirname "$pcs") pkg-config --variable=includedir libvfiomig)
libdir=$root$(PKG_CONFIG_PATH=$(dirname "$pcs") pkg-config --variable=libdir libvfiomig)

[ -f "$includedir/vfiomig.h" ] && ok "vfiomig.h installed in the .pc's includedir" ||
	nok "vfiomig.h installed in the .pc's includedir" "not in $includedir"
[ -L "$libdir/libvfiomig.so" ] && [ -e "$libdir/libvfiomig.so.0" ] &&
	ok "libvfiomig.so and libvfiomig.so.0 in the .pc's libdir" ||
	nok "libvfiomig.so and libvfiomig.so.0 in the .pc's libdir" "$(ls -l "$libdir" 2>&1)"

flags=$(pc --cflags --libs libvfiomig 2>&1)
case $flags in
*"$SRC"* | *"$BUILD"*) nok "pkg-config flags point into the DESTDIR only" "$flags" ;;
*"-I$root"*"-L$root"*"-lvfiomig"*) ok "pkg-config --cflags --libs: $flags" ;;
*) nok "pkg-config --cflags --libs names the DESTDIR's include and lib" "$flags" ;;
esac
static=$(pc --static --libs libvfiomig 2>&1)
miss=
for l in -lnl-3 -lnl-genl-3 -pthread; do
	[[ " $static " == *" $l "* ]] || miss="$miss $l"
done
[ -z "$miss" ] && ok "pkg-config --static adds libnl, libnl-genl and -pthread" ||
	nok "pkg-config --static lacks:$miss" "$static"
# GnuTLS is loaded when TLS is first used, never linked: neither the .pc nor the
# library's DT_NEEDED name it
needed=$(readelf -d "$libdir/libvfiomig.so.0" 2>&1 | grep NEEDED)
case "$static $needed" in
*gnutls*) nok "GnuTLS is not linked (loaded at run time)" "$static / $needed" ;;
*) ok "GnuTLS is not linked (loaded at run time): the .pc and DT_NEEDED lack it" ;;
esac

read -ra FLAGS <<<"$flags"
exe=$tmp/vmm-save-restore
if out=$("${CCV[@]}" "${EXTRA[@]}" -std=gnu11 -Wall -Wextra -Werror -o "$exe" \
	"$SRC/examples/vmm-save-restore.c" "${FLAGS[@]}" -pthread 2>&1); then
	ok "examples/vmm-save-restore.c builds against the installed header and .pc"
else
	nok "examples/vmm-save-restore.c builds against the installed header and .pc" "$out"
fi

# What a VMM's own helper of the same name would collide with, were it exported.
cat >"$tmp/internal.c" <<'C'
#include <vfiomig.h>
int parse_int(const char *s, int min, int max, int *ret);
int main(void) { int v; return parse_int("1", 0, 9, &v); }
C
if out=$("${CCV[@]}" "${EXTRA[@]}" -o "$tmp/internal" "$tmp/internal.c" "${FLAGS[@]}" 2>&1); then
	nok "an internal symbol (parse_int) does not link" "it linked"
else
	grep -q 'undefined reference to .parse_int' <<<"$out" &&
		ok "an internal symbol (parse_int) does not link" ||
		nok "an internal symbol (parse_int) does not link, for that reason" "$out"
fi

if [ ! -x "$exe" ]; then
	skip "the example runs" "it did not build"
	tap_end
	exit
fi
lib=$(LD_LIBRARY_PATH=$libdir ldd "$exe" 2>&1 | awk '$1 == "libvfiomig.so.0" { print $3 }')
[ "$lib" = "$libdir/libvfiomig.so.0" ] && ok "the example loads the installed libvfiomig.so.0" ||
	nok "the example loads the installed libvfiomig.so.0" "it loads '$lib'"
out=$(LD_LIBRARY_PATH=$libdir "$exe" "$tmp/work" 2>"$tmp/stderr")
rc=$?
[ "$rc" = 0 ] && ok "the example exits 0" ||
	nok "the example exits 0 (got $rc)" "$out" "$(cat "$tmp/stderr")"
for want in "file: save 2 devices" "file: restore into" "file: the destinations run" \
	"live: save, committed" "live: restore" "live: the quiesced hook ran once" \
	"live: the sources are stopped, the destinations run" \
	"live: DMA dirty logging started" "live: dirty pages before the save, bit for bit" \
	"live: dirty pages in the quiesced hook, bit for bit" "live: DMA dirty logging stopped" \
	"cancel: save returns ECANCELED" "cancel: the devices run"; do
	grep -q "^ok - $want" <<<"$out" && ok "example: $want" ||
		nok "example: $want" "$(grep -F "$want" <<<"$out")"
done
fails=$(grep -c '^FAIL' <<<"$out")
[ "$fails" = 0 ] && ok "example: no check failed ($(grep -c '^ok' <<<"$out") passed)" ||
	nok "example: $fails checks failed" "$(grep '^FAIL' <<<"$out")"

# ---- for operators: units, sysusers.d, completion ----
# installed FILE DIR PC VARIABLE: FILE is in DIR in the DESTDIR, and DIR is what PC's
# VARIABLE says when PC is installed.
installed() {
	local pcdir
	if pkg-config --exists "$3"; then
		pcdir=$(pkg-config --variable="$4" "$3")
		[ "$2" = "$pcdir" ] && ok "$1 goes to $3.pc's $4 ($2)" ||
			nok "$1 goes to $3.pc's $4" "this build: $2, $3.pc: $pcdir"
	else
		skip "$1 goes to $3.pc's $4" "no $3.pc"
	fi
	[ -f "$root$2/$1" ] && ok "$1 installed in $2" || nok "$1 installed in $2" "$(ls "$root$2" 2>&1)"
}
installed vfiomigd.service "${VFM_UNITDIR:?}" systemd systemdsystemunitdir
installed vfiomigd.socket "$VFM_UNITDIR" systemd systemdsystemunitdir
installed vfiomig-restore@.service "$VFM_UNITDIR" systemd systemdsystemunitdir
installed vfiomig.conf "${VFM_SYSUSERSDIR:?}" systemd sysusersdir
if [ "${VFM_COMPLETIONSDIR:?}" = no ]; then
	skip "bash completion installed" "-Dbashcompletiondir=no"
else
	installed vfiomig "$VFM_COMPLETIONSDIR" bash-completion completionsdir
fi

# ---- the JSON contract: every schema of schema/ in share/vfiomig/schema ----
sdir=$(find "$root" -type d -path '*/share/vfiomig/schema' | head -n 1)
missing=
for f in "$SRC"/schema/*.schema.json; do
	cmp -s "$f" "$sdir/$(basename "$f")" || missing="$missing $(basename "$f")"
done
[ -n "$sdir" ] && [ -z "$missing" ] && ok "the JSON Schemas installed in ${sdir#"$root"}" ||
	nok "the JSON Schemas installed in share/vfiomig/schema" "missing or different:$missing" \
		"$(find "$root" -name '*.schema.json' | head -5)"

# Another prefix changes the binaries' paths in the units, not where the units go.
b=$tmp/prefix-build
if out=$(meson setup --prefix=/opt/vfiomig -Dman=disabled -Dkernel-tests=disabled "$b" "$SRC" 2>&1) &&
	inst=$(meson introspect --installed "$b" 2>&1); then
	for f in "$VFM_UNITDIR/vfiomigd.service" "$VFM_SYSUSERSDIR/vfiomig.conf" \
		"$VFM_COMPLETIONSDIR/vfiomig" /opt/vfiomig/include/vfiomig.h; do
		[ "${f#no/}" != "$f" ] && continue
		grep -qF "\"$f\"" <<<"$inst" && ok "prefix /opt/vfiomig: $f" ||
			nok "prefix /opt/vfiomig: $f" "$(grep -F "$(basename "$f")" <<<"$inst")"
	done
	grep -q '^ExecStart=/opt/vfiomig/sbin/vfiomigd' "$b/contrib/systemd/vfiomigd.service" &&
		ok "prefix /opt/vfiomig: vfiomigd.service runs /opt/vfiomig/sbin/vfiomigd" ||
		nok "prefix /opt/vfiomig: vfiomigd.service runs /opt/vfiomig/sbin/vfiomigd" \
			"$(grep ExecStart "$b/contrib/systemd/vfiomigd.service")"
else
	nok "meson setup --prefix=/opt/vfiomig" "$out" "$inst"
fi
tap_end
