#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completion of vfiomig: sourced in a bash without rc files, asked to complete
# command lines as readline would (COMP_LINE, COMP_POINT, the default
# COMP_WORDBREAKS).  Its command and option lists match what vfiomig's --help outputs
# say; devices come from a fake sysfs; then the same under the bash-completion package
# (skipped when it is not installed).  TAP on stdout.
set -u
COMPLETION=${1:?usage: test-completion.sh COMPLETION-FILE PATH-TO-vfiomig}
VFIOMIG=${2:?usage: test-completion.sh COMPLETION-FILE PATH-TO-vfiomig}
. "$(dirname "$0")/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A fake sysfs: a PCI function on vfio-pci, one on a vendor's *_vfio_pci, one on a
# network driver, and an mdev.
root=$tmp/root
mkdir -p "$root/sys/bus/pci/devices" "$root/sys/bus/pci/drivers"/{vfio-pci,mlx5_vfio_pci,ixgbevf} \
	"$root/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" "$root/sys/class/net/eth7"
for d in 0000:3b:00.1:vfio-pci 0000:3b:00.2:ixgbevf 0000:5e:00.3:mlx5_vfio_pci; do
	mkdir -p "$root/sys/bus/pci/devices/${d%:*}"
	ln -s "../../drivers/${d##*:}" "$root/sys/bus/pci/devices/${d%:*}/driver"
done
: >"$tmp/image.vfm"
mkdir "$tmp/creds"

# complete PRELOAD LINE: what the completion offers for LINE, one per line, sorted.
complete_line() {
	env -i PATH="$PATH" HOME="$tmp" VFIOMIG_SYSFS_ROOT="$root" LINE="$2" \
		bash --norc --noprofile -c '
		'"$1"'
		. "'"$COMPLETION"'" || exit 1
		COMP_WORDBREAKS=$'"'"' \t\n"\x27><=;|&(:'"'"'
		COMP_LINE=$LINE COMP_POINT=${#LINE} COMPREPLY=()
		f=$(complete -p vfiomig | sed -n "s/.*-F \([^ ]*\) vfiomig$/\1/p")
		"$f" vfiomig "" "" 2>/dev/null
		printf "%s\n" "${COMPREPLY[@]}"' | sort
}
# expect LINE WANT DESC [PRELOAD]: the completions are exactly WANT (words).
expect() {
	local got want
	got=$(complete_line "${4:-}" "$1" | paste -sd' ')
	want=$(tr ' ' '\n' <<<"$2" | sort | paste -sd' ')
	[ "$got" = "$want" ] && ok "$3" || nok "$3" "line: '$1'" "got:  $got" "want: $want"
}
# options: from the usage line and the option lines, not from prose that quotes
# another command's ("what 'vfiomig save --to file:FILE' wrote")
longopts() {
	grep -E -- '^Usage:|^ *-|^--' | grep -oE -- '--[a-z][a-z0-9-]+' | grep -vx -- '--connect' |
		sort -u
}

# Commands as `vfiomig --help` lists them.
cmds=$("$VFIOMIG" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' | paste -sd' ')
expect "vfiomig " "$cmds" "the commands of vfiomig --help ($(wc -w <<<"$cmds"))"
expect "vfiomig sa" "save" "a command's prefix"
expect "vfiomig -j --connect re" "restore reset resume release" "after global options"

# Each command's options as its --help names them (plus -j -p -v -h).
bad=
for c in $cmds; do
	want=$( ("$VFIOMIG" "$c" --help; printf '%s\n' --json --pretty --verbose --help) | longopts)
	got=$(complete_line "" "vfiomig $c --" | sort -u)
	[ "$want" = "$got" ] || bad+=" $c(missing: $(comm -23 <(echo "$want") <(echo "$got") | paste -sd,) extra: $(comm -13 <(echo "$want") <(echo "$got") | paste -sd,))"
done
[ -z "$bad" ] && ok "every command completes the options its --help names" ||
	nok "options differ from --help" "$bad"
for c in save restore; do
	want=$( ("$VFIOMIG" --connect "$c" --help; printf '%s\n' --json --pretty --verbose --help) | longopts)
	got=$(complete_line "" "vfiomig --connect $c --" | sort -u)
	[ "$want" = "$got" ] && ok "--connect $c: the options of vfiomig --connect $c --help" ||
		nok "--connect $c options differ from its --help" "got: $got" "want: $want"
done

# Devices from sysfs, states, URIs, paths.
expect "vfiomig info " "0000:3b:00.1 0000:5e:00.3 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" \
	"devices: the mdev and the PCI functions on vfio drivers, not the ixgbevf one"
# readline replaces what follows the word's last ':', so that is what comes back
expect "vfiomig save 0000:3b:00.1 0000:5" "5e:00.3" "a second device (':' in the name)"
expect "vfiomig state 0000:3b:00.1 RUNNING_" "RUNNING_P2P" "state: a state name"
expect "vfiomig state 0000:3b:00.1 STOP pre" "pre_copy pre_copy_p2p" "state: lower case states"
expect "vfiomig state 0000:3b:00.1 r" "reset read: resuming running running_p2p" \
	"state: steps and states"
expect "vfiomig soak 0000:3b:00.1 --format " "text json junit" "soak --format: its three formats"
expect "vfiomig check 0000:3b:00.1 --format " "text json tap junit" "check --format: its four formats"
expect "vfiomig soak --cycles 5 0000:3b:00.1 0" "0000:3b:00.1 0000:5e:00.3" \
	"soak: devices after an option's value"
expect "vfiomig plan RUNNING S" "STOP STOP_COPY" "plan: states"
expect "vfiomig plan --flags stop-copy,p" "stop-copy,p2p stop-copy,pre-copy" "plan --flags: a flag list"
expect "vfiomig save 0000:3b:00.1 --to " "tcp:// unix: file: fd: exec: -" "--to: URI schemes"
expect "vfiomig restore 0000:3b:00.1 --from f" "file: fd:" "--from: URI schemes"
expect "vfiomig save 0000:3b:00.1 --to file:$tmp/ima" "$tmp/image.vfm" \
	"--to file:PATH completes the path (what follows the ':')"
expect "vfiomig save 0000:3b:00.1 --tls-creds $tmp/cr" "$tmp/creds/" "--tls-creds: directories"
expect "vfiomig save 0000:3b:00.1 --trace $tmp/ima" "$tmp/image.vfm" "--trace: a path"
expect "vfiomig timeline $tmp/ima" "$tmp/image.vfm" "timeline: the trace's path"
expect "vfiomig timeline $tmp/image.vfm -o $tmp/ima" "$tmp/image.vfm" "timeline -o: a path"
expect "vfiomig check --trace $tmp/image.vfm 0000:3b" "3b:00.1" \
	"check: devices after --trace's value"
expect "vfiomig vf " "list set eswitch token" "vf: its subcommands"
expect "vfiomig vf set e" "eth7" "vf set: netdevs"
expect "vfiomig vf set eth7 0 trust " "on off" "vf set: a setting's values"
expect "vfiomig vf eswitch eth7 " "legacy switchdev" "vf eswitch: the modes"

# Under bash-completion, which loads completions on demand and changes nothing here.
bc=/usr/share/bash-completion/bash_completion
if command -v pkg-config >/dev/null && pkg-config --exists bash-completion; then
	bc=$(pkg-config --variable=prefix bash-completion)/share/bash-completion/bash_completion
fi
if [ -r "$bc" ]; then
	expect "vfiomig save 0000:3b:00.1 --to t" "tcp://" "with bash-completion loaded: --to" ". $bc"
	expect "vfiomig inf" "info" "with bash-completion loaded: a command" ". $bc"
else
	skip "with bash-completion loaded" "bash-completion is not installed ($bc)"
fi
tap_end
