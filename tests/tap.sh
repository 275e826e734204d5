# SPDX-License-Identifier: GPL-2.0-or-later
# TAP for the host-side bash tests (the C tests have tap.h, the guest lib/tap.sh):
#   ok DESC; nok DESC [DIAGNOSTIC...]; skip DESC REASON; tap_end (prints the plan;
#   false if any failed)
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
# every line of a diagnostic starts with "# " (a bare line breaks TAP)
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# JSON against schema/ (tests/validate-json.py, python3-jsonschema):
#   jvalid KIND FILE [DESC]   FILE is one document of KIND (vfiomig-list, vfiomig-save,
#                             vfiomigd-event...: a schema's name without .schema.json)
#   jvalid_lines KIND FILE [DESC]  each line of FILE that starts with '{' is one
#                             (--progress=json on stderr)
#   jkind ARGS...             the KIND of what "vfiomig ARGS..." prints under -j
#   jwants_json ARGS...       true when ARGS ask for JSON (-j, -p, --format json)
#   jrun ARGS...              run ARGS with stdout through a file, then jvalid it
#                             when ARGS ask for JSON; the exit code is ARGS'
# The documents are copied to a spool; tap_end checks them all in one python run, as
# one test point that fails naming every document that does not match its schema.
_tap_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VFM_SCHEMA_DIR=${VFM_SCHEMA_DIR:-$_tap_here/../schema}
_jspool=${TMPDIR:-/tmp}/vfm-json.$$
# spool names: a number that orders them (the time, and the subshell's pid: $(...)
# runs these in subshells, whose counters would not come back)
_jspool_add() { # KIND FILE DESC SUFFIX
	local id=${EPOCHREALTIME/./}$BASHPID
	mkdir -p "$_jspool" || return
	if [ "$4" = .lines ]; then grep '^{' "$2" >"$_jspool/$id.$1.lines"; else cp "$2" "$_jspool/$id.$1" 2>/dev/null || : >"$_jspool/$id.$1"; fi
	[ -z "$3" ] || printf '%s\n' "$3" | head -c 300 >"$_jspool/$id.desc"
}
# an empty FILE is reported as such at the end
jvalid() { _jspool_add "$1" "$2" "${3:-}" ""; }
jvalid_lines() { _jspool_add "$1" "$2" "${3:-}" .lines; }
jwants_json() {
	local a prev=
	for a in "$@"; do
		case $a in -j|-p|--json|--pretty|--format=json|-jp|-pj|-jv|-vj) return 0 ;; esac
		[ "$prev" = --format ] && [ "$a" = json ] && return 0
		prev=$a
	done
	return 1
}
jkind() {
	local a skip=1 want_arg=0
	for a in "$@"; do
		if [ $skip = 1 ]; then skip=0; continue; fi # the program
		if [ $want_arg = 1 ]; then want_arg=0; continue; fi
		case $a in
		--vf-token) want_arg=1 ;;
		--version) echo vfiomig-version; return ;;
		-*) ;;
		*)
			# no such command: what it prints is the error object (the lint
			# checks that every command has a schema)
			if [ -f "$VFM_SCHEMA_DIR/vfiomig-$a.schema.json" ]; then echo "vfiomig-$a"; else echo vfiomig-error; fi
			return ;;
		esac
	done
	echo vfiomig-error
}
jrun() {
	local o rc
	o=$(mktemp)
	"$@" >"$o"
	rc=$?
	cat "$o"
	jwants_json "$@" && jvalid "$(jkind "$@")" "$o" "$*"
	rm -f "$o"
	return $rc
}
# the check, at the end (tap_end)
_jcheck() {
	local out rc k
	[ -d "$_jspool" ] || return 0
	k=$(find "$_jspool" -type f ! -name '*.desc' | wc -l)
	out=$(python3 "$_tap_here/validate-json.py" --spool "$VFM_SCHEMA_DIR" "$_jspool" 2>&1)
	rc=$?
	if [ $rc = 77 ] || ! command -v python3 >/dev/null; then
		skip "$k JSON documents against schema/" "python3-jsonschema not installed"
	elif [ $rc = 0 ]; then
		ok "$k JSON documents match their schemas in schema/"
	else
		nok "$k JSON documents match their schemas in schema/" "$out"
	fi
	rm -rf "$_jspool"
}
# Helpers of the CLI tests (they need $tmp, a scratch directory):
#   run CMD...                 sets $out, $err, $rc; what -j prints is checked against
#                              its schema (jvalid, at tap_end)
#   expect DESC RC [OUT-RE [ERR-RE]]  the last run exited RC, its stdout and stderr
#                              match the extended regular expressions
#   jexpect DESC JQ-EXPR       the last stdout is JSON and EXPR is true of it
#   listen_uri FILE            the URI a backgrounded vfiomig says it listens on
#                              (waits up to 20 s)
run() {
	"$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
	if jwants_json "$@"; then jvalid "$(jkind "$@")" "$tmp/out" "$*"; fi
}
expect() {
	local desc=$1 want=$2 pout=${3:-} perr=${4:-}
	if [ "$rc" != "$want" ]; then nok "$desc" "exit $rc, wanted $want" "stdout: $out" "stderr: $err"; return; fi
	if [ -n "$pout" ] && ! grep -qE -- "$pout" <<<"$out"; then nok "$desc" "stdout lacks /$pout/" "stdout: $out"; return; fi
	if [ -n "$perr" ] && ! grep -qE -- "$perr" <<<"$err"; then nok "$desc" "stderr lacks /$perr/" "stderr: $err"; return; fi
	ok "$desc"
}
jexpect() {
	# jq prints nothing (and exits 0) on empty input: demand exactly "true".
	if [ "$(jq "$2" <<<"$out" 2>/dev/null)" = true ]; then ok "$1"; else nok "$1" "exit $rc; jq '$2' not true on: $out" "stderr: $err"; fi
}
listen_uri() {
	local i u
	for i in $(seq 200); do
		u=$(sed -n 's/^vfiomig: listening on \([a-z]*:.*[^ ]\)$/\1/p' "$1" 2>/dev/null | head -1)
		[ -n "$u" ] && { echo "$u"; return 0; }
		sleep 0.1
	done
	return 1
}

tap_end() { _jcheck; echo "1..$n"; [ "$failed" = 0 ]; }
