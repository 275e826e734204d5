#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages match the programs: every long option a --help prints is in the man
# page, and (vfiomig(8)) every option the man page names is one some --help prints;
# every command of `vfiomig --help` has its entry; each page renders with scdoc.
# TAP on stdout.
set -u
SRC=${1:?usage: lint-docs.sh SOURCE_ROOT PATH-TO-vfiomig PATH-TO-vfiomigd}
VFIOMIG=${2:?usage: lint-docs.sh SOURCE_ROOT PATH-TO-vfiomig PATH-TO-vfiomigd}
VFIOMIGD=${3:?usage: lint-docs.sh SOURCE_ROOT PATH-TO-vfiomig PATH-TO-vfiomigd}
. "$(dirname "$0")/tap.sh"

opts() { grep -oE -- '--[a-z][a-z0-9-]+' | sort -u; }
man_opts() { grep -oE -- '\*--[a-z][a-z0-9-]+' "$1" | tr -d '*' | sort -u; }
# compare WHAT A B: the lines of A missing from B
missing() { comm -23 <(printf '%s\n' "$1") <(printf '%s\n' "$2") | grep -v '^$'; }

# The commands, from the top-level --help ("  NAME     what it does").
cmds=$("$VFIOMIG" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p')
[ "$(wc -w <<<"$cmds")" -ge 10 ] && ok "vfiomig --help lists its commands ($(wc -w <<<"$cmds"))" ||
	nok "vfiomig --help lists its commands" "got: $cmds"

help_all=$("$VFIOMIG" --help | opts)
bad=
for c in $cmds; do
	h=$("$VFIOMIG" "$c" --help 2>&1) || bad="$bad $c"
	help_all+=$'\n'$(opts <<<"$h")
	# an entry: a line that starts with a bold word and names *CMD* or *CMD ...*
	grep -E '^\*' "$SRC/man/vfiomig.8.scd" | grep -qE "\*$c(\*| )" || bad="$bad $c(man)"
done
for c in save restore; do
	help_all+=$'\n'$("$VFIOMIG" --connect "$c" --help | opts)
done
help_all=$(sort -u <<<"$help_all" | grep -v '^$')
[ -z "$bad" ] && ok "every command has --help (exit 0) and an entry in vfiomig(8)" ||
	nok "commands without --help or a man entry:$bad"

m=$(man_opts "$SRC/man/vfiomig.8.scd")
d=$(missing "$help_all" "$m")
[ -z "$d" ] && ok "every option of vfiomig's --help outputs is in vfiomig(8) ($(wc -l <<<"$help_all"))" ||
	nok "options in --help but not in vfiomig(8)" "$d"
d=$(missing "$m" "$help_all")
[ -z "$d" ] && ok "every option vfiomig(8) names is in some --help" ||
	nok "options in vfiomig(8) that no --help prints" "$d"

dh=$("$VFIOMIGD" --help | opts)
d=$(missing "$dh" "$(man_opts "$SRC/man/vfiomigd.8.scd")")
[ -z "$d" ] && ok "every option of vfiomigd --help is in vfiomigd(8) ($(wc -l <<<"$dh"))" ||
	nok "options in vfiomigd --help but not in vfiomigd(8)" "$d"

if command -v scdoc >/dev/null; then
	for p in "$SRC"/man/*.scd; do
		if out=$(scdoc <"$p" 2>&1 >/dev/null); then ok "scdoc renders ${p##*/}"; else nok "scdoc ${p##*/}" "$out"; fi
	done
else
	echo "ok $((n + 1)) # SKIP scdoc not installed: pages not rendered"; n=$((n + 1))
fi
tap_end
