#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, on a machine with no VFIO hardware: install what is missing, build
# vfiomig, boot Debian's 6.12 kernel under qemu with the kernel's mtty migration
# driver, and run the real vfiomig on real VFIO devices inside it: a save -> TCP ->
# restore of three mtty devices between two network namespaces, the UART state of each
# device checked on the destination.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${VFIOMIG_DEMO_BUILD:-$src/build-demo}

"$src/tests/install-deps.sh"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" >/dev/null
fi
ninja -C "$build" >/dev/null
bins=("$build/src/cli/vfiomig" "$build/tests/kernel/vfm-mtty")
ip=$(command -v ip || true)
[ -n "$ip" ] && bins+=("$ip")
exec "$src/tests/kernel/run-guest.sh" --bin "${bins[@]}" \
	--demo "$src/tests/kernel/demo/guest-demo.sh"
