#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Boot Debian's kernel (prepared by prepare.sh) under qemu/TCG with an
# initramfs holding busybox, the VFIO + mtty modules, host binaries and guest
# test scripts; run the scripts and report TAP on stdout.
#
# Usage:
#   run-guest.sh [--bin PATH...] [--tests PATH...] [options]
#   run-guest.sh [--bin PATH...] --demo SCRIPT [options]
#   run-guest.sh [--bin PATH...] --interactive [options]
#
#   --bin PATH...      host executables (files, or folders whose top-level
#                      executable files are taken) to install in the guest's
#                      /usr/bin; their shared libraries (ldd) come along
#   --tests PATH...    guest test scripts: folders (their *.sh) or files;
#                      default: tests/kernel/guest
#   --timeout SECONDS  hard limit for the whole VM (default 300; none for
#                      --interactive unless given)
#   --demo SCRIPT      run one script, show the guest console live, exit
#                      with the script's status
#   --interactive      boot to a shell on the console (Ctrl-A x quits qemu)
#   --env NAME=VALUE   exported to the guest tests (repeatable)
#   --qemu-arg ARG     extra qemu argument (repeatable)
#   --log FILE         console log (default: $CACHE/logs/console-*.log)
#   --verbose          also stream the guest console to stderr
#   --keep             keep the temporary initramfs folder (printed)
#   --no-iommu         boot a plain `pc` machine: no emulated IOMMU and no
#                      PCI devices for vfio-pci (the PCI tests skip)
#   --kernel KERNEL    stock (default): Debian's 6.12 binary kernel (prepare.sh);
#                      6.12 or newest: a kernel built from Debian's
#                      linux-source-X.Y with IOMMUFD and VFIO_DEBUGFS
#                      (build-kernel.sh); every result names it then
#
# Exit status: 0 when every test passed; 1 otherwise; 77 (with a TAP skip
# line) only when qemu-system-x86_64 cannot run at all.
#
# Environment: VFIOMIG_KERNEL_CACHE (see prepare.sh), VFIOMIG_KERNEL_ACCEL
# (qemu -accel value, default tcg,thread=multi), VFIOMIG_QEMU (the qemu
# binary, default qemu-system-x86_64); ASAN_OPTIONS, UBSAN_OPTIONS
# and LSAN_OPTIONS are passed on to the guest tests.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE="${VFIOMIG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomig-kernel}"
ACCEL="${VFIOMIG_KERNEL_ACCEL:-tcg,thread=multi}"

usage() {
	sed -n '3,/^$/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

BINS=()
TESTS=()
ENVS=()
QEMU_EXTRA=()
TIMEOUT=""
MODE=tests
DEMO=""
LOGFILE=""
VERBOSE=0
KEEP=0
IOMMU=1
KERNEL="${VFIOMIG_TEST_KERNEL:-stock}"

# Collect the values of a multi-value option: everything up to the next --opt.
while [ $# -gt 0 ]; do
	opt=$1
	shift
	case "$opt" in
	--bin | --tests)
		n=0
		while [ $# -gt 0 ] && [[ $1 != --* ]]; do
			if [ "$opt" = --bin ]; then BINS+=("$1"); else TESTS+=("$1"); fi
			shift
			n=$((n + 1))
		done
		if [ "$n" = 0 ]; then
			echo "run-guest.sh: $opt needs at least one path" >&2
			exit 2
		fi
		;;
	--timeout)
		TIMEOUT=${1:?--timeout needs a value}
		shift
		[[ $TIMEOUT =~ ^[0-9]+$ ]] || {
			echo "run-guest.sh: bad --timeout $TIMEOUT" >&2
			exit 2
		}
		;;
	--demo)
		MODE=demo
		DEMO=${1:?--demo needs a script}
		shift
		;;
	--interactive) MODE=interactive ;;
	--env)
		[[ ${1:-} == [A-Za-z_]*=* ]] || {
			echo "run-guest.sh: --env needs NAME=VALUE" >&2
			exit 2
		}
		ENVS+=("$1")
		shift
		;;
	--qemu-arg)
		QEMU_EXTRA+=("${1:?--qemu-arg needs a value}")
		shift
		;;
	--log)
		LOGFILE=${1:?--log needs a file}
		shift
		;;
	--verbose) VERBOSE=1 ;;
	--keep) KEEP=1 ;;
	--no-iommu) IOMMU=0 ;;
	--kernel)
		KERNEL=${1:?--kernel needs stock, 6.12 or newest}
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "run-guest.sh: unknown argument: $opt (see --help)" >&2
		exit 2
		;;
	esac
done

if [ -z "$TIMEOUT" ] && [ "$MODE" != interactive ]; then
	TIMEOUT=300
fi
[ "$MODE" = tests ] && [ ${#TESTS[@]} -eq 0 ] && TESTS=("$HERE/guest")

# ---- can qemu run at all?  (the only reason to skip) ------------------------
QEMU="${VFIOMIG_QEMU:-qemu-system-x86_64}"
skip() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	exit 77
}
command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU is not installed"
if ! qv=$("$QEMU" --version 2>&1); then
	skip "$QEMU cannot run ($QEMU --version failed: $(echo "$qv" | head -n1))"
fi

# ---- kernel + modules ------------------------------------------------------
case "$KERNEL" in
stock) PREPARE=("$HERE/prepare.sh" --quiet) ;;
6.12 | newest) PREPARE=("$HERE/build-kernel.sh" --quiet "$KERNEL") ;;
*)
	echo "run-guest.sh: --kernel $KERNEL: stock, 6.12 or newest" >&2
	exit 2
	;;
esac
if ! KDIR=$("${PREPARE[@]}"); then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 - $(basename "${PREPARE[0]}") failed (kernel $KERNEL not available)"
	exit 1
fi
KDIR=$(echo "$KDIR" | tail -n1)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-guest.XXXXXX")
cleanup() {
	if [ "$KEEP" = 1 ]; then
		echo "# kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
ROOT="$TMP/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/share/vfiomig-test,lib/modules/vfiomig,etc,tests,proc,sys,dev,tmp,run,root}

# ---- shared-library closure of an executable, copied at the same paths ------
declare -A COPIED=()
LIBDIRS=()
copy_file_at_same_path() { # $1 absolute host path
	local p=$1
	[ -n "${COPIED[$p]:-}" ] && return 0
	COPIED[$p]=1
	mkdir -p "$ROOT$(dirname "$p")"
	# -L: a symlinked library becomes a regular file under the name asked for
	cp -L "$p" "$ROOT$p"
}
copy_libs_of() { # $1 executable
	local out line lib d
	# ldd fails on static executables and scripts: nothing to copy then.
	out=$(ldd "$1" 2>/dev/null) || return 0
	while IFS= read -r line; do
		lib=""
		case "$line" in
		*"=> not found"*)
			echo "run-guest.sh: $1: ${line%%=>*}not found by ldd" >&2
			exit 1
			;;
		*"=> /"*)
			lib=${line#*=> }
			lib=${lib%% (*}
			;;
		[[:space:]]/*)
			lib=${line#"${line%%[![:space:]]*}"}
			lib=${lib%% (*}
			;;
		esac
		[ -n "$lib" ] || continue
		copy_file_at_same_path "$lib"
		d=$(dirname "$lib")
		[[ " ${LIBDIRS[*]} " == *" $d "* ]] || LIBDIRS+=("$d")
	done <<<"$out"
}

cp "$(command -v busybox)" "$ROOT/bin/busybox"
copy_libs_of "$ROOT/bin/busybox"
# The applet links are made here rather than by `busybox --install` in the
# guest, which would replace a --bin executable of the same name (ip, say).
while IFS= read -r applet; do
	[ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done < <("$ROOT/bin/busybox" --list-full)
# Debian's busybox-static shell runs its own applets ahead of any PATH
# lookup, so under it a --bin `ip` (iproute2) would never run.  The guest
# tests get the host's dash as /bin/sh instead (a plain POSIX sh, as on the
# host); /init and the interactive shell stay busybox ash.
if [ -x /bin/dash ]; then
	rm -f "$ROOT/bin/sh"
	cp -L /bin/dash "$ROOT/bin/sh"
	copy_libs_of /bin/dash
fi

add_bin() { # $1 host file
	local f=$1 name
	name=$(basename "$f")
	# rm first: cp would follow a busybox applet link (to the host's /bin/busybox)
	rm -f "$ROOT/usr/bin/$name"
	cp -L "$f" "$ROOT/usr/bin/$name"
	copy_libs_of "$f"
	BIN_NAMES+=("$name")
}
BIN_NAMES=()
for b in "${BINS[@]}"; do
	if [ -d "$b" ]; then
		while IFS= read -r f; do
			add_bin "$f"
		done < <(find "$b" -maxdepth 1 -type f -perm -u+x | sort)
	elif [ -f "$b" ]; then
		add_bin "$b"
	else
		echo "run-guest.sh: --bin $b: no such file or folder" >&2
		exit 2
	fi
done
# Libraries the binaries load at run time (dlopen), which ldd does not show: GnuTLS,
# which libvfiomig loads for TLS (src/transport/tls.c).
for soname in libgnutls.so.30; do
	lib=$(ldconfig -p 2>/dev/null | sed -n "s|^[[:space:]]*$soname (libc6,x86-64) => ||p" | head -n1)
	if [ -z "$lib" ]; then
		echo "run-guest.sh: $soname not found by ldconfig: TLS will fail in the guest" >&2
		continue
	fi
	copy_file_at_same_path "$lib"
	copy_libs_of "$lib"
	d=$(dirname "$lib")
	[[ " ${LIBDIRS[*]} " == *" $d "* ]] || LIBDIRS+=("$d")
done
# $ORIGIN-relative RUNPATHs do not survive the move to /usr/bin: let the
# loader search every folder a library came from.
if [ ${#LIBDIRS[@]} -gt 0 ]; then
	(
		IFS=:
		echo "${LIBDIRS[*]}"
	) >"$ROOT/etc/vfiomig-libpath"
fi

# ---- modules, helpers, init, tests -----------------------------------------
cp "$KDIR"/modules/*.ko "$KDIR/modules/load-order" "$ROOT/lib/modules/vfiomig/"
# a built kernel has most of it built in: the names, for the smoke test
[ -f "$KDIR/modules/builtin" ] && cp "$KDIR/modules/builtin" "$ROOT/lib/modules/vfiomig/"
cp "$HERE/lib/tap.sh" "$ROOT/usr/share/vfiomig-test/tap.sh"
cp "$HERE/guest-init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"

TEST_NAMES=()
add_test() { # $1 script
	local name
	name=$(basename "$1" .sh)
	if [ -e "$ROOT/tests/$name.sh" ]; then
		echo "run-guest.sh: two guest tests named $name" >&2
		exit 2
	fi
	cp "$1" "$ROOT/tests/$name.sh"
	TEST_NAMES+=("$name")
}
if [ "$MODE" = demo ]; then
	[ -f "$DEMO" ] || {
		echo "run-guest.sh: --demo $DEMO: no such file" >&2
		exit 2
	}
	add_test "$DEMO"
else
	for t in "${TESTS[@]}"; do
		if [ -d "$t" ]; then
			while IFS= read -r f; do
				add_test "$f"
			done < <(find "$t" -maxdepth 1 -type f -name '*.sh' | sort)
		elif [ -f "$t" ]; then
			add_test "$t"
		else
			echo "run-guest.sh: --tests $t: no such file or folder" >&2
			exit 2
		fi
	done
fi
# The guest runs /tests/*.sh in glob (C locale) order; report in that order.
mapfile -t TEST_NAMES < <(printf '%s\n' "${TEST_NAMES[@]}" | LC_ALL=C sort)
if [ "$MODE" = tests ] && [ ${#TEST_NAMES[@]} -eq 0 ]; then
	echo "run-guest.sh: no guest tests (*.sh) found in: ${TESTS[*]}" >&2
	exit 2
fi

{
	echo "MODE=$([ "$MODE" = interactive ] && echo interactive || echo tests)"
} >"$ROOT/etc/vfiomig-run.conf"
: >"$ROOT/etc/vfiomig-host.env"
KREL_INFO=$(sed -n 's/^KERNEL_RELEASE=//p' "$KDIR/info")
ENVS=("VFIOMIG_TEST_KERNEL=$KERNEL" "${ENVS[@]}")
# Sanitizer settings follow the host's (tests/run.sh sets them).
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	[ -n "${!v:-}" ] && ENVS=("$v=${!v}" "${ENVS[@]}")
done
for e in "${ENVS[@]}"; do
	name=${e%%=*}
	value=${e#*=}
	printf "%s='%s'\nexport %s\n" "$name" "${value//\'/\'\\\'\'}" "$name" >>"$ROOT/etc/vfiomig-host.env"
done

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc -R 0:0 --quiet) >"$TMP/initramfs.cpio"

# ---- boot ----------------------------------------------------------------------
# -nic none: no default NIC (and no iPXE ROM to load); tests that want a
# network add their own -netdev/-device through --qemu-arg.
# no_timer_check: under TCG on a busy host the IO-APIC timer check can fail and
# panic ("timer doesn't work through Interrupt-remapped IO-APIC"); the guest's
# clock needs no proof of that here
KCMDLINE="console=ttyS0 quiet panic=-1 no_timer_check"
MACHINE=()
if [ "$IOMMU" = 1 ]; then
	# q35 with an emulated VT-d, so that PCI functions get real IOMMU groups,
	# and PCI devices with no driver in the guest for vfio-pci (see README.md):
	#   00:04.0        edu (QEMU's educational device, 1234:11e8) alone in
	#                  its group, on the root bus: no reset method
	#   00:05.0, 05.1  edu + pci-serial (1b36:0002, taken by the built-in
	#                  8250_pci driver at boot) in one slot with no ACS:
	#                  one group of two functions, for group viability
	#   00:06.0        a PCIe root port (has ACS: a group of its own), with
	#   01:00.0        edu behind it, alone on its bus: a bus reset works
	#   00:07.0        a second PCIe root port, with
	#   02:00.0        QEMU's NVMe controller (1b36:0010) as an SR-IOV PF with up
	#                  to 2 VFs (no guest driver; no namespace): VF tokens
	# kernel-irqchip=split is what intremap=on needs under KVM; TCG ignores it.
	# shellcheck disable=SC2054 # the commas belong to qemu option values
	MACHINE=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on
		-device edu,addr=04.0
		-device edu,addr=05.0,multifunction=on -device pci-serial,addr=05.1
		-device pcie-root-port,id=vfm_rp0,chassis=1,addr=06.0 -device edu,bus=vfm_rp0
		-device pcie-root-port,id=vfm_rp1,chassis=2,addr=07.0
		-device nvme-subsys,id=vfm_nvs0,nqn=vfiomig-sriov
		-device nvme,bus=vfm_rp1,serial=vfm-sriov,subsys=vfm_nvs0,sriov_max_vfs=2,sriov_vq_flexible=4,sriov_vi_flexible=2,max_ioqpairs=6)
	KCMDLINE="$KCMDLINE intel_iommu=on"
fi
QEMU_CMD=("$QEMU" -accel "$ACCEL" -cpu max -smp 2 -m 1G -nographic -no-reboot -nic none
	"${MACHINE[@]}"
	-kernel "$KDIR/vmlinuz" -initrd "$TMP/initramfs.cpio"
	-append "$KCMDLINE")
QEMU_CMD+=("${QEMU_EXTRA[@]}")

if [ "$MODE" = interactive ]; then
	if [ -n "$TIMEOUT" ]; then
		exec timeout -k 5 --foreground "$TIMEOUT" "${QEMU_CMD[@]}"
	fi
	exec "${QEMU_CMD[@]}"
fi

if [ -z "$LOGFILE" ]; then
	mkdir -p "$CACHE/logs"
	LOGFILE="$CACHE/logs/console-$(date +%Y%m%d-%H%M%S)-$$.log"
	# keep the newest 30 logs
	find "$CACHE/logs" -maxdepth 1 -name 'console-*.log' -printf '%T@ %p\n' |
		sort -rn | tail -n +31 | cut -d' ' -f2- | xargs -r rm -f
fi
mkdir -p "$(dirname "$LOGFILE")"

# Serial console to plain text: drop CRs and the firmware's terminal escapes.
clean_console() {
	tr -d '\r' | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g'
}

T_START=$(date +%s.%N)
set +e
if [ "$MODE" = demo ]; then
	# Live: only what the script prints; the log keeps everything.
	timeout -k 5 "$TIMEOUT" "${QEMU_CMD[@]}" </dev/null 2>&1 | clean_console |
		tee "$LOGFILE" | awk '
			/@@VFM-TEST-BEGIN/ { on = 1; next }
			match($0, /@@VFM-TEST-END/) {
				if (on && RSTART > 1) print substr($0, 1, RSTART - 1)
				on = 0; fflush(); next
			}
			on { print; fflush() }'
	QRC=${PIPESTATUS[0]}
elif [ "$VERBOSE" = 1 ]; then
	timeout -k 5 "$TIMEOUT" "${QEMU_CMD[@]}" </dev/null 2>&1 | clean_console | tee "$LOGFILE" >&2
	QRC=${PIPESTATUS[0]}
else
	timeout -k 5 "$TIMEOUT" "${QEMU_CMD[@]}" </dev/null 2>&1 | clean_console >"$LOGFILE"
	QRC=${PIPESTATUS[0]}
fi
set -e
ELAPSED=$(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# ---- parse the console log --------------------------------------------------
# Per test: its TAP result lines, its plan, its output (for diagnostics), rc.
declare -A BEGUN=() RC=() PLAN=() NRES=()
RESULTS=() # "name<TAB>ok|not ok<TAB>description"
ALL_DONE=0
NJSON=0
current=""
OUTDIR="$TMP/out"
mkdir -p "$OUTDIR"
while IFS= read -r line; do
	if [[ $line =~ @@VFM-TEST-BEGIN\ ([^[:space:]]+) ]]; then
		current=${BASH_REMATCH[1]}
		BEGUN[$current]=1
		NRES[$current]=0
		: >"$OUTDIR/$current"
		continue
	fi
	if [[ $line =~ ^(.*)@@VFM-TEST-END\ ([^[:space:]]+)\ rc=([0-9]+) ]]; then
		[ -n "${BASH_REMATCH[1]}" ] && [ -n "$current" ] && echo "${BASH_REMATCH[1]}" >>"$OUTDIR/$current"
		RC[${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}
		current=""
		continue
	fi
	if [[ $line == *@@VFM-ALL-DONE* ]]; then
		ALL_DONE=1
		continue
	fi
	# JSON a guest script hands over (tap_json): checked against schema/ below
	if [[ $line =~ ^@@VFM-JSON\ ([a-z0-9-]+)\ ?(.*)$ ]] && [ -n "$current" ]; then
		NJSON=$((NJSON + 1))
		mkdir -p "$TMP/json"
		printf '%s\n' "${BASH_REMATCH[2]}" >"$TMP/json/$NJSON.${BASH_REMATCH[1]}"
		echo "$current" >"$TMP/json/$NJSON.desc"
		continue
	fi
	[ -n "$current" ] || continue
	[ -n "$line" ] && echo "$line" >>"$OUTDIR/$current"
	if [[ $line =~ ^(ok|not\ ok)([[:space:]]+[0-9]+)?([[:space:]]+-)?[[:space:]]*(.*)$ ]]; then
		status=${BASH_REMATCH[1]}
		num=${BASH_REMATCH[2]// /}
		desc=${BASH_REMATCH[4]}
		NRES[$current]=$((NRES[$current] + 1))
		[ -n "$num" ] || num=${NRES[$current]}
		# A bare directive ("ok 3 # SKIP why") gets a name to hang on.
		[[ $desc == \#* || -z $desc ]] && desc="test $num $desc"
		RESULTS+=("$current"$'\t'"$status"$'\t'"$desc")
	elif [[ $line =~ ^1\.\.([0-9]+) ]]; then
		PLAN[$current]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^Bail\ out!(.*)$ ]]; then
		RESULTS+=("$current"$'\t'"not ok"$'\t'"Bail out!${BASH_REMATCH[1]}")
	fi
done <"$LOGFILE"

# ---- demo mode: the script's status is the answer ---------------------------
if [ "$MODE" = demo ]; then
	name=${TEST_NAMES[0]}
	if [ -n "${RC[$name]:-}" ]; then
		echo "# demo $name: exit status ${RC[$name]} (${ELAPSED}s; console log $LOGFILE)" >&2
		[ "${RC[$name]}" = 0 ] && exit 0
		exit 1
	fi
	echo "# demo $name: did not finish (qemu status $QRC after ${ELAPSED}s; console log $LOGFILE)" >&2
	exit 1
fi

# ---- TAP out ------------------------------------------------------------------
LINES=()
FAILED=0
# results on a built kernel say which (one meson test per kernel runs every script)
KPREFIX=""
[ "$KERNEL" = stock ] || KPREFIX="[$KREL_INFO] "
add() { # $1 ok|not ok, $2 description, $3 name of the test whose output to show on failure
	LINES+=("$1"$'\t'"$KPREFIX$2"$'\t'"${3:-}")
	if [ "$1" = "not ok" ] && [[ $2 != *"# TODO"* ]]; then FAILED=$((FAILED + 1)); fi
}
for name in "${TEST_NAMES[@]}"; do
	for r in "${RESULTS[@]}"; do
		IFS=$'\t' read -r rname rstatus rdesc <<<"$r"
		[ "$rname" = "$name" ] || continue
		add "$rstatus" "$name: $rdesc" "$name"
	done
	if [ -z "${BEGUN[$name]:-}" ]; then
		add "not ok" "$name: never started (guest did not get that far)"
	elif [ -z "${RC[$name]:-}" ]; then
		add "not ok" "$name: did not finish (guest hung, crashed or timed out)" "$name"
	else
		if [ "${RC[$name]}" = 77 ]; then
			# a guest script may skip itself as a whole: exit 77, reason last
			why=$(grep -v '^# kmsg: ' "$OUTDIR/$name" 2>/dev/null | tail -n1 | sed 's/^# *//')
			add "ok" "$name: skipped (exit 77) # SKIP ${why:-no reason printed}"
		elif [ "${RC[$name]}" != 0 ]; then
			add "not ok" "$name: script exited with status ${RC[$name]}" "$name"
		elif [ "${NRES[$name]}" = 0 ]; then
			add "ok" "$name: exited 0 (printed no TAP results)"
		fi
		if [ -n "${PLAN[$name]:-}" ] && [ "${PLAN[$name]}" != "${NRES[$name]}" ]; then
			add "not ok" "$name: planned ${PLAN[$name]} results, printed ${NRES[$name]}" "$name"
		fi
	fi
done
# the guest's -j output against schema/ (python3-jsonschema on the host)
if [ "$NJSON" -gt 0 ]; then
	jrc=0
	jout=$(python3 "$HERE/../validate-json.py" --spool "$HERE/../../schema" "$TMP/json" 2>&1) ||
		jrc=$?
	if [ $jrc = 0 ]; then
		add "ok" "guest: $NJSON JSON documents match their schemas in schema/"
	elif [ $jrc = 77 ]; then
		add "ok" "guest: $NJSON JSON documents against schema/ # SKIP python3-jsonschema not installed"
	else
		add "not ok" "guest: $NJSON JSON documents match their schemas in schema/"
		printf '%s\n' "$jout" | head -40 | sed 's/^/# /' >&2
	fi
fi
if [ "$ALL_DONE" != 1 ]; then
	if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
		why="killed by the ${TIMEOUT}s timeout"
	elif grep -q 'Kernel panic' "$LOGFILE"; then
		why="kernel panic: $(grep -m1 -o 'Kernel panic.*' "$LOGFILE")"
	else
		why="qemu exited with status $QRC"
	fi
	add "not ok" "guest: did not complete the run ($why)"
fi

echo "TAP version 13"
echo "1..${#LINES[@]}"
i=0
declare -A SHOWN=()
for l in "${LINES[@]}"; do
	IFS=$'\t' read -r st desc oname <<<"$l"
	i=$((i + 1))
	echo "$st $i - $desc"
	# A failing script's output, once, after its first failure.
	if [ "$st" = "not ok" ] && [ -n "$oname" ] && [ -z "${SHOWN[$oname]:-}" ] &&
		[ -s "$OUTDIR/$oname" ]; then
		SHOWN[$oname]=1
		echo "# output of $oname (last 40 lines):"
		tail -n 40 "$OUTDIR/$oname" | sed 's/^/#   /'
	fi
done
# Kernel warnings (and worse) logged while a script ran, pass or fail.
for name in "${TEST_NAMES[@]}"; do
	[ -f "$OUTDIR/$name" ] || continue
	grep '^# kmsg: ' "$OUTDIR/$name" | head -n 20 | sed "s/^# /# $name: /" || true
done
# When no script output explains the failure, the console tail may.
if [ "$ALL_DONE" != 1 ] && [ ${#SHOWN[@]} -eq 0 ]; then
	echo "# guest console (last 40 lines):"
	tail -n 40 "$LOGFILE" | sed 's/^/#   /'
fi
KPKG=$(sed -n 's/^KERNEL_PACKAGE_VERSION=//p' "$KDIR/info")
KSRC=$(sed -n 's/^KERNEL_SOURCE=//p' "$KDIR/info")
echo "# ${#TEST_NAMES[@]} guest script(s), ${ELAPSED}s, kernel $KERNEL: $KREL_INFO ($KSRC${KSRC:+ }$KPKG)"
echo "# console log: $LOGFILE"
[ "$FAILED" = 0 ] && [ "$ALL_DONE" = 1 ]
