#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig check --format tap|junit on simulated devices, one of them with an injected
# arc fault and one name that cannot be opened (with <>&" and a control character in
# it): the TAP read by perl's TAP::Parser (prove's engine) and by prove itself, the
# JUnit XML by python3's xml.etree; counts, names, errno and exit codes asserted.
# TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-check-format.sh PATH-TO-vfiomig}
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GOOD=sim:good
FAULT=sim:fault,fail-arc=running_p2p:stop:EBUSY
BAD=$'sim:x<&">\x01'
DEVS=("$GOOD" "$FAULT" "$BAD")

# run NAME ARGS...: stdout to $tmp/NAME.out, stderr to $tmp/NAME.err, exit in rc_NAME
run() {
	local name=$1; shift
	"$VFIOMIG" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	printf -v "rc_$name" %d $?
}

# ---- the exit code does not depend on the format ----
run text check "${DEVS[@]}"
run json check -j "${DEVS[@]}"
run fjson check --format json "${DEVS[@]}"
run tap check --format tap "${DEVS[@]}"
run junit check --format junit "${DEVS[@]}"
# shellcheck disable=SC2154
if [ "$rc_text" = 1 ] && [ "$rc_json$rc_fjson$rc_tap$rc_junit" = 1111 ]; then
	ok "check exits 1 (a check failed) in every format"
else
	nok "exit codes" "text $rc_text json $rc_json --format json $rc_fjson tap $rc_tap junit $rc_junit" "$(cat "$tmp/text.err")"
fi
for f in text tap junit; do
	if grep -q "vfiomig: 'sim:x<&\">.*is not\|a simulated device's name" "$tmp/$f.err"; then
		ok "$f: the device that cannot be opened is reported on stderr too"
	else
		nok "$f: stderr" "$(cat "$tmp/$f.err")"
	fi
done
for spec in "sim:a,no-migration" "sim:q,bogus-key"; do
	want=$("$VFIOMIG" check "$spec" >/dev/null 2>&1; echo $?)
	got=$(for f in json tap junit; do "$VFIOMIG" check --format $f "$spec" >/dev/null 2>&1; echo -n $?; done)
	[ "$got" = "$want$want$want" ] && ok "check $spec: exit $want in every format" ||
		nok "exit of $spec" "text $want, json/tap/junit $got"
done

# the text run's counts, to compare against
counts() { sed -n "s/^  \([0-9]*\) ok, \([0-9]*\) warnings, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3 \4/p" "$tmp/text.out"; }
read -r g_ok g_warn g_fail g_skip <<<"$(counts | sed -n 1p)"
read -r f_ok f_warn f_fail f_skip <<<"$(counts | sed -n 2p)"
g_n=$((g_ok + g_warn + g_fail + g_skip)) f_n=$((f_ok + f_warn + f_fail + f_skip))
if [ "$g_fail" = 0 ] && [ "$f_fail" = 1 ] && [ "$g_n" -gt 10 ]; then
	ok "text: $g_n checks on $GOOD, $f_n on the faulty device, one failed"
else
	nok "text counts" "$(cat "$tmp/text.out")"
fi

# ---- --format json is -j ----
if command -v jq >/dev/null; then
	strip='.devices |= map(if .checks then .checks |= map(del(.elapsed_usec)) else . end)'
	a=$(jq -c "$strip" "$tmp/json.out") b=$(jq -c "$strip" "$tmp/fjson.out")
	if [ -n "$a" ] && [ "$a" = "$b" ] &&
		[ "$(jq -c '.devices[2] | [.stage, .error.errno_name]' "$tmp/json.out")" = '["open","EINVAL"]' ] &&
		[ "$(jq -c '.devices[1].checks[] | select(.result == "fail") | [.errno_name, .errno]' "$tmp/json.out")" = '["EBUSY",16]' ]; then
		ok "--format json prints what -j prints (the failed arc's errno: EBUSY; the device that does not open, with its error)"
	else
		nok "--format json" "$(cat "$tmp/json.out" "$tmp/fjson.out")"
	fi
else
	skip "--format json is -j" "jq not installed"
fi
jvalid vfiomig-check "$tmp/json.out" "check -j"
jvalid vfiomig-check "$tmp/fjson.out" "check --format json"

# ---- TAP ----
# tap_summary FILE: "version planned run passed failed skipped parse_errors", then
# one line per failed test point with its YAML block's fields, tab-separated
tap_summary() {
	perl -MTAP::Parser -e '
		local $/; my $p = TAP::Parser->new({tap => scalar <STDIN>});
		my (@fail, $last);
		while (my $r = $p->next) {
			$last = $r if $r->is_test;
			if ($r->is_yaml && $last && !$last->is_ok) {
				my $y = $r->data;
				push @fail, join("\t", $last->number, map { $y->{$_} // "-" }
					qw(device arc check errno strerror message severity));
			}
		}
		printf "%s %s %s %d %d %d %d\n", $p->version, $p->tests_planned // "-",
			$p->tests_run, scalar($p->passed), scalar($p->failed),
			scalar($p->skipped), scalar($p->parse_errors);
		print "$_\n" for @fail;
		print STDERR "$_\n" for $p->parse_errors;
	' <"$1"
}
if perl -MTAP::Parser -e 1 2>/dev/null; then
	tap_summary "$tmp/tap.out" >"$tmp/tap.sum" 2>"$tmp/tap.perr"
	n_all=$((g_n + f_n + 1))
	want="13 $n_all $n_all $((n_all - 2)) 2 $((g_skip + f_skip)) 0"
	if [ "$(head -1 "$tmp/tap.sum")" = "$want" ]; then
		ok "TAP::Parser reads TAP 13: $n_all test points, the plan right, 2 failed, $((g_skip + f_skip)) skipped, no parse error"
	else
		nok "TAP summary" "got:  $(head -1 "$tmp/tap.sum")" "want: $want" "$(cat "$tmp/tap.perr" "$tmp/tap.out")"
	fi
	arc=$(sed -n 2p "$tmp/tap.sum")
	IFS=$'\t' read -r num dev arcname check errno serr msg sev <<<"$arc"
	if [ "$dev" = sim:fault ] && [ "$arcname" = "RUNNING_P2P -> STOP" ] && [ "$errno" = EBUSY ] &&
		[ "$serr" = "Device or resource busy" ] && [ "$sev" = fail ] &&
		[ "$msg" = "Device or resource busy (device now in RUNNING_P2P)" ] && [ "$num" -gt "$g_n" ]; then
		ok "the failed arc's YAML block names device, arc, errno name and message"
	else
		nok "failed arc YAML" "$arc" "$(cat "$tmp/tap.out")"
	fi
	open=$(sed -n 3p "$tmp/tap.sum")
	IFS=$'\t' read -r num dev arcname check errno serr msg sev <<<"$open"
	if [ "$dev" = "$BAD" ] && [ "$check" = open ] && [ "$errno" = EINVAL ] && [ "$num" = "$n_all" ] &&
		[[ $msg == *"sim:x<&\">"* ]]; then
		ok "a device that cannot be opened is a failed test point; its YAML carries <&\" and the control character"
	else
		nok "open YAML" "$open" "$(tail -12 "$tmp/tap.out")"
	fi
	if grep -q '^not ok [0-9]* - sim:x<&">?: open$' "$tmp/tap.out" && ! grep -q $'\x01' "$tmp/tap.out"; then
		ok "test point descriptions stay on one line, the control character as '?'"
	else
		nok "description" "$(grep -a 'open' "$tmp/tap.out")"
	fi
	if grep -q "^# sim:fault: $f_ok ok, $f_warn warnings, 1 failed, $f_skip skipped$" "$tmp/tap.out"; then
		ok "a comment line per device with its counts"
	else
		nok "TAP device comment" "$(grep '^#' "$tmp/tap.out")"
	fi
	"$VFIOMIG" check --format tap sim:a,precopy-eof >"$tmp/warn.out"
	if [ "$(tap_summary "$tmp/warn.out" | head -1 | cut -d' ' -f5)" = 0 ] &&
		grep -q '^  severity: warn$' "$tmp/warn.out"; then
		ok "a warning is a passing test point with a YAML block (severity warn)"
	else
		nok "TAP warning" "$(cat "$tmp/warn.out")"
	fi
else
	skip "TAP read by TAP::Parser" "perl's TAP::Parser not installed"
fi
if command -v prove >/dev/null; then
	"$VFIOMIG" check --format tap sim:a >"$tmp/clean.t"
	"$VFIOMIG" check --format tap "$FAULT" >"$tmp/fault.t"
	if prove -e cat "$tmp/clean.t" >"$tmp/prove.out" 2>&1 && grep -q "^Result: PASS" "$tmp/prove.out" &&
		! prove -e cat "$tmp/fault.t" >"$tmp/prove2.out" 2>&1 && grep -q "^Result: FAIL" "$tmp/prove2.out" &&
		grep -q "Failed 1/$f_n subtests" "$tmp/prove2.out"; then
		ok "prove passes a conforming device and fails the faulty one (1/$f_n subtests)"
	else
		nok "prove" "$(cat "$tmp/prove.out" "$tmp/prove2.out")"
	fi
else
	skip "prove" "prove not installed"
fi

# ---- JUnit ----
if command -v python3 >/dev/null; then
	python3 - "$tmp/junit.out" >"$tmp/junit.sum" 2>&1 <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
tot = {k: 0 for k in ("tests", "failures", "errors", "skipped")}
for s in root.findall("testsuite"):
    cases = s.findall("testcase")
    got = {"tests": len(cases),
           "failures": sum(len(c.findall("failure")) for c in cases),
           "errors": sum(len(c.findall("error")) for c in cases),
           "skipped": sum(len(c.findall("skipped")) for c in cases)}
    for k, v in got.items():
        assert int(s.get(k)) == v, (s.get("name"), k, s.get(k), v)
        tot[k] += v
    assert float(s.get("time")) >= 0 and all(float(c.get("time")) >= 0 for c in cases)
    assert s.get("timestamp") and len(s.get("timestamp")) == 19
    ok = got["tests"] - got["failures"] - got["errors"] - got["skipped"]
    print("suite\t%s\t%d %d %d %d" % (s.get("name"), got["tests"], ok, got["failures"], got["skipped"]))
    for c in cases:
        for kind in ("failure", "error"):
            for e in c.findall(kind):
                print("%s\t%s\t%s\t%s\t%s" % (kind, s.get("name"), c.get("name"), e.get("type"), e.get("message")))
for k, v in tot.items():
    assert int(root.get(k)) == v, ("testsuites", k, root.get(k), v)
print("total", tot["tests"], tot["failures"], tot["errors"], tot["skipped"])
EOF
	if [ $? = 0 ]; then
		ok "xml.etree parses the JUnit XML; every count attribute matches its elements"
	else
		nok "JUnit parse" "$(cat "$tmp/junit.sum" "$tmp/junit.out")"
	fi
	grep -q "^total $((g_n + f_n + 1)) 1 1 $((g_skip + f_skip))$" "$tmp/junit.sum" &&
		grep -q "^suite	sim:good	$g_n $((g_ok + g_warn)) 0 $g_skip$" "$tmp/junit.sum" &&
		grep -q "^suite	sim:fault	$f_n $((f_ok + f_warn)) 1 $f_skip$" "$tmp/junit.sum" &&
		ok "JUnit: a testsuite per device, its counts those of the text output" ||
		nok "JUnit counts" "$(cat "$tmp/junit.sum")"
	grep -q "^failure	sim:fault	RUNNING_P2P -> STOP	EBUSY	Device or resource busy (device now in RUNNING_P2P)$" "$tmp/junit.sum" &&
		ok "JUnit: the failed arc's <failure> with errno type and message" ||
		nok "JUnit failure" "$(cat "$tmp/junit.sum")"
	if grep -q "^suite	sim:x<&\">\\\\x01	1 0 0 0$" "$tmp/junit.sum" &&
		grep -q "^error	sim:x<&\">\\\\x01	open	EINVAL	'sim:x<&\">\\\\x01': " "$tmp/junit.sum"; then
		ok "JUnit: <>&\" escaped and read back, the control character as \\x01; an <error> for the device not opened"
	else
		nok "JUnit escaping" "$(cat "$tmp/junit.sum")"
	fi
else
	skip "JUnit read by xml.etree" "python3 not installed"
fi

# ---- usage ----
"$VFIOMIG" check --format yaml sim:a >/dev/null 2>"$tmp/u.err"
[ $? = 2 ] && grep -q "format: 'yaml' is not text, json, tap or junit" "$tmp/u.err" &&
	ok "--format yaml: a usage error" || nok "bad --format" "$(cat "$tmp/u.err")"
"$VFIOMIG" -j check --format tap sim:a >/dev/null 2>"$tmp/u.err"
[ $? = 2 ] && grep -q "format tap and -j/-p exclude each other" "$tmp/u.err" &&
	ok "-j with --format tap: a usage error" || nok "-j --format tap" "$(cat "$tmp/u.err")"
"$VFIOMIG" check --format text sim:a >"$tmp/t2.out" 2>&1
[ $? = 0 ] && grep -q "^  ok   RESUMING -> STOP " "$tmp/t2.out" && ok "--format text is the default output" ||
	nok "--format text" "$(cat "$tmp/t2.out")"

tap_end
