#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig inspect on images saved from simulated devices: text and JSON, the numbers
# against the save report's, VF settings (a record added by image.py), stdin, and
# damaged copies (a flipped payload byte, truncation, wrong magic, huge lengths,
# garbage, trailing bytes, a bad VF setting), each refused with a message naming
# the record and its byte offset, exit 1, never a crash (the sim suite runs under
# ASan).  Also the file(1) magic of contrib/file.  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-inspect.sh PATH-TO-vfiomig [SOURCE_ROOT]}
here=$(cd "$(dirname "$0")" && pwd)
SRC=${2:-$here/../..}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 0; }
. "$here/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img=$tmp/img.vfm

# run ARGS...: sets $out, $err, $rc; -j output is checked against its schema (tap.sh)
run() {
	"$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
	if jwants_json "$@"; then jvalid "$(jkind "$@")" "$tmp/out" "$*"; fi
}
jq_true() { [ "$(jq "$1" <<<"$out" 2>/dev/null)" = true ]; }

# ---- a valid image: two devices, precopy with dirty rounds on the first ----
"$VFIOMIG" -j save sim:a,size=3M,seed=5,dirty=1000,dirty-rounds=2,vendor=0x4348,device=0x3253 \
	sim:b,size=100K,flags=stop-copy+p2p,type=mtty-2 --to "file:$img" >"$tmp/save.json" 2>"$tmp/save.err"
rc=$?
jvalid vfiomig-save "$tmp/save.json" "save two sim devices"
if [ $rc = 0 ] && jq -e '.success and .devices[0].precopy_bytes > 0' "$tmp/save.json" >/dev/null; then
	ok "save two sim devices to a file, with precopy"
else
	nok "save" "$(cat "$tmp/save.json" "$tmp/save.err")"
fi
size=$(stat -c %s "$img")

run "$VFIOMIG" -j inspect "$img"
save=$(cat "$tmp/save.json")
if [ $rc = 0 ] && jq_true '.valid and .stream_version == 2 and .final_record == "END" and .record_count == .crc_checked'; then
	ok "inspect --json: a valid image, every record's CRC checked"
else
	nok "inspect --json" "exit $rc" "$out" "$err"
fi
cmpq() { # DESC JQ-FILTER-ON-INSPECT JQ-FILTER-ON-SAVE
	local a b
	a=$(jq -c "$2" <<<"$out") b=$(jq -c "$3" <<<"$save")
	[ -n "$a" ] && [ "$a" = "$b" ] && ok "$1" || nok "$1" "inspect: $a" "save: $b"
}
cmpq "per-device precopy and stop-copy bytes are the save report's" \
	'[.devices[] | [.device, .precopy_bytes, .stopcopy_bytes]]' '[.devices[] | [.device, .precopy_bytes, .stopcopy_bytes]]'
cmpq "END's total and the stream id are the save report's" '[.end_total_bytes, .stream_id]' '[.total_bytes, .stream_id]'
cmpq "the driver's estimates are in the header" '[.devices[].estimate_bytes]' '[.devices[].estimate_bytes]'
if jq_true ".size_bytes == $size and .precopy and .one_way and .record_counts.HEADER == 1 and
	.record_counts.END == 1 and .record_counts.DEVICE_END == 2 and .record_counts.DATA >= 5 and
	.devices[0].precopy_chunks >= 3 and .devices[1].precopy_chunks == 0 and
	.devices[0].total_bytes == .devices[0].precopy_bytes + .devices[0].stopcopy_bytes"; then
	ok "inspect --json: header flags, record counts, chunks, the whole file read"
else
	nok "inspect counts" "$out"
fi
if jq_true '.devices[0].vendor_id == "0x4348" and .devices[0].device_id == "0x3253" and .devices[0].kind == "sim" and
	.devices[0].driver == "vfiomig-sim" and .devices[0].migration_flags == ["stop-copy","p2p","pre-copy"] and
	.devices[1].mdev_type == "mtty-2" and .devices[1].migration_flags == ["stop-copy","p2p"] and .devices[1].revision == "0x01" and
	.devices[0].vf_config == null'; then
	ok "inspect --json: each device's identity as the header carries it"
else
	nok "inspect identity" "$out"
fi

run "$VFIOMIG" inspect "$img"
pre=$(jq '.devices[0].precopy_bytes' "$tmp/save.json") stop=$(jq '.devices[0].stopcopy_bytes' "$tmp/save.json")
if [ $rc = 0 ] && grep -q "^$img: vfiomig stream version 2$" <<<"$out" &&
	grep -q "^device 0: sim:a$" <<<"$out" && grep -q "^  driver vfiomig-sim  id 4348:3253" <<<"$out" &&
	grep -qE "^  precopy $pre bytes in [0-9]+ chunks, stop-copy $stop bytes in [0-9]+ chunks, $((pre + stop)) bytes in all$" <<<"$out" &&
	grep -q "^valid: every record passed, the stream ends after its END$" <<<"$out" && [ -z "$err" ]; then
	ok "inspect (text): header, devices, bytes per phase, verdict"
else
	nok "inspect text" "exit $rc" "$out" "$err"
fi

run "$VFIOMIG" -j inspect - <"$img"
if [ $rc = 0 ] && [ "$(jq -c 'del(.file)' <<<"$out")" = "$("$VFIOMIG" -j inspect "file:$img" | jq -c 'del(.file)')" ]; then
	ok "inspect - (stdin) and inspect file:PATH read the same"
else
	nok "stdin" "$out" "$err"
fi
cat "$img" | "$VFIOMIG" inspect - >/dev/null 2>&1 && ok "inspect - from a pipe" || nok "inspect from a pipe"

# --records: each record with its offset, checked against image.py's own walk
run "$VFIOMIG" -j inspect --records "$img"
python3 "$here/image.py" records "$img" >"$tmp/walk"
if [ $rc = 0 ] && [ "$(jq -r '.records[] | "\(.offset) \(.size_bytes - 12)"' <<<"$out")" = "$(awk '{print $1, $3}' "$tmp/walk")" ] &&
	jq_true '.records_complete and (.records | length) == .record_count and .records[0].type == "HEADER" and
		([.records[] | select(.type == "DATA" and .device_index == 0) | .data_bytes] | add) == .devices[0].total_bytes'; then
	ok "--records: every record's offset, type and size, as an independent walk finds them"
else
	nok "--records" "$out" "$(cat "$tmp/walk")"
fi
run "$VFIOMIG" inspect --records "$img"
grep -q "^  @16 HEADER (540 bytes)$" <<<"$out" && grep -qE "^  @[0-9]+ DATA \([0-9]+ bytes\): device 0 precopy at 0, [0-9]+ bytes$" <<<"$out" &&
	ok "--records (text): one line per record" || nok "--records text" "$out"

# ---- VF settings: a VF_CONFIG record for device 0, written by image.py ----
python3 "$here/image.py" vf "$img" "$tmp/vf.vfm"
run "$VFIOMIG" -j inspect "$tmp/vf.vfm"
if [ $rc = 0 ] && jq_true '.valid and .record_counts.VF_CONFIG == 1 and .devices[1].vf_config == null and
	.devices[0].vf_config == {"source_vf": 7, "mac": "52:54:00:12:34:56", "vlan": 100, "qos": 3,
		"vlan_proto": "802.1Q", "spoofchk": false, "trust": true, "rss_query": null,
		"link_state": "enable", "min_tx_rate": 10, "max_tx_rate": 1000}'; then
	ok "VF settings record: decoded into JSON"
else
	nok "VF settings JSON" "exit $rc" "$out" "$err"
fi
run "$VFIOMIG" inspect "$tmp/vf.vfm"
grep -q "^  VF settings of source VF 7: mac 52:54:00:12:34:56 vlan 100 qos 3 proto 802.1Q .*trust on link-state enable$" <<<"$out" &&
	ok "VF settings record: one text line" || nok "VF settings text" "$out"

# ---- damaged copies: exit 1, the record and its offset named, no crash ----
# bad DESC FILE PATTERN: inspect fails with exactly exit 1 and stderr matching
bad() {
	local desc=$1 file=$2 pat=$3
	run "$VFIOMIG" inspect "$file"
	if [ $rc = 1 ] && grep -qE -- "^vfiomig: $pat" <<<"$err" && ! grep -q "Sanitizer\|runtime error" <<<"$err"; then
		ok "$desc"
	else
		nok "$desc" "exit $rc, stderr: $err"
	fi
}
read -r o1 _ l1 <<<"$(sed -n 1p "$tmp/walk")" # HEADER
read -r o2 _ l2 <<<"$(sed -n 2p "$tmp/walk")" # the first DATA
read -r oend _ _ <<<"$(tail -1 "$tmp/walk")"  # END
python3 "$here/image.py" flip "$img" "$tmp/flip.vfm" $((o2 + 8 + 16 + 100))
bad "a flipped byte in a DATA payload: its CRC" "$tmp/flip.vfm" \
	"$tmp/flip.vfm: record 2 \(byte $o2\): DATA record at byte $o2: CRC32C 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$"
run "$VFIOMIG" -j inspect "$tmp/flip.vfm"
jq_true ".valid == false and .error_offset == $o2 and .record_count == 1 and (.devices | length) == 2 and (.error.message | test(\"CRC32C\")) and .error.exit == 1" &&
	ok "--json of a bad image: valid false, the error and its offset, what was read before it" || nok "bad image JSON" "$out"
python3 "$here/image.py" flip "$img" "$tmp/flip-h.vfm" $((o1 + 8 + 40 + 168))
bad "a flipped byte in the HEADER (a device name)" "$tmp/flip-h.vfm" "$tmp/flip-h.vfm: record 1 \(byte 16\): HEADER record at byte 16: CRC32C"
head -c $((o2 + 5000)) "$img" >"$tmp/cut.vfm"
bad "truncated inside a DATA payload" "$tmp/cut.vfm" \
	"$tmp/cut.vfm: record 2 \(byte $o2\): truncated stream: DATA record at byte $o2 has 4992 of its $l2 payload bytes$"
head -c "$oend" "$img" >"$tmp/noend.vfm"
bad "truncated before END" "$tmp/noend.vfm" "$tmp/noend.vfm: record [0-9]+ \(byte $oend\): truncated stream: it ends after byte $oend, before its END record$"
head -c 300 "$img" >"$tmp/cut-h.vfm"
bad "truncated inside the HEADER" "$tmp/cut-h.vfm" "$tmp/cut-h.vfm: record 1 \(byte 16\): truncated stream: HEADER record at byte 16 has 276 of its 528 payload bytes$"
head -c 10 "$img" >"$tmp/cut-p.vfm"
bad "truncated inside the preamble" "$tmp/cut-p.vfm" "$tmp/cut-p.vfm: preamble \(byte 0\): truncated stream: 10 of the 16 bytes"
: >"$tmp/empty.vfm"
bad "an empty file" "$tmp/empty.vfm" "$tmp/empty.vfm: preamble \(byte 0\): truncated stream: it is empty$"
python3 "$here/image.py" flip "$img" "$tmp/magic.vfm" 1
bad "wrong magic" "$tmp/magic.vfm" "$tmp/magic.vfm: preamble \(byte 0\): not a vfiomig stream: it starts with 89 a9 46 4d 0d 0a 1a 0a$"
python3 "$here/image.py" len "$img" "$tmp/huge.vfm" "$o2" 4294967295
bad "a DATA length of 4 GiB - 1: refused before anything is read" "$tmp/huge.vfm" \
	"$tmp/huge.vfm: record 2 \(byte $o2\): DATA record: length 4294967295 above the limit 16777232$"
python3 "$here/image.py" len "$img" "$tmp/huge-h.vfm" 16 16401
bad "a HEADER length over 64 devices" "$tmp/huge-h.vfm" "$tmp/huge-h.vfm: record 1 \(byte 16\): HEADER record: length 16401 above the limit 16400$"
python3 "$here/image.py" len "$img" "$tmp/long.vfm" "$o2" 16777232
bad "a DATA length within the limit, longer than the file: truncated" "$tmp/long.vfm" \
	"$tmp/long.vfm: record 2 \(byte $o2\): truncated stream: DATA record at byte $o2 has [0-9]+ of its 16777232 payload bytes$"
{ cat "$img"; printf x; } >"$tmp/trail.vfm"
bad "a byte after END" "$tmp/trail.vfm" "$tmp/trail.vfm: record [0-9]+ \(byte $size\): bytes follow the final END record, at byte $size$"
python3 -c 'import random, sys; r = random.Random(15); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(65536)))' >"$tmp/garbage.vfm"
bad "64 KiB of random bytes" "$tmp/garbage.vfm" "$tmp/garbage.vfm: preamble \(byte 0\): not a vfiomig stream"
{ head -c 16 "$img"; head -c 65536 "$tmp/garbage.vfm"; } >"$tmp/garbage2.vfm"
bad "a good preamble, then random bytes" "$tmp/garbage2.vfm" "$tmp/garbage2.vfm: record 1 \(byte 16\): "
python3 "$here/image.py" vf-bad "$img" "$tmp/vf-bad.vfm"
bad "a VF setting out of range (VLAN 5000) under a good CRC" "$tmp/vf-bad.vfm" \
	"$tmp/vf-bad.vfm: record 2 \(byte $((o1 + 12 + l1))\): VF_CONFIG record for device 0: vlan 5000 is out of range"
if [ -f "$SRC/tests/fuzz/corpus/fuzz-stream/abort" ]; then
	bad "a stream its save aborted" "$SRC/tests/fuzz/corpus/fuzz-stream/abort" ".*: the save aborted the stream: cancelled by the operator \(EINTR\)$"
	run "$VFIOMIG" inspect "$SRC/tests/fuzz/corpus/fuzz-stream/valid-commit"
	[ $rc = 0 ] && grep -q "two-way" <<<"$out" && grep -q "ends after its COMMIT$" <<<"$out" &&
		ok "a recorded two-way stream, ending with COMMIT" || nok "commit stream" "$out" "$err"
else
	skip "streams of the fuzz corpus" "$SRC/tests/fuzz/corpus not found"
fi

# ---- usage and files ----
run "$VFIOMIG" inspect "$tmp/nonexistent"
[ $rc = 1 ] && grep -q "nonexistent: No such file or directory" <<<"$err" && ok "a missing file" || nok "missing file" "$rc $err"
run "$VFIOMIG" inspect "$tmp"
[ $rc = 1 ] && grep -q "Is a directory" <<<"$err" && ok "a directory" || nok "directory" "$rc $err"
run "$VFIOMIG" inspect; [ $rc = 2 ] && ok "inspect without FILE: usage" || nok "no FILE" "$rc $err"
run "$VFIOMIG" inspect "$img" "$img"; [ $rc = 2 ] && ok "inspect with two FILEs: usage" || nok "two FILEs" "$rc $err"

# ---- file(1) with contrib/file/vfiomig.magic ----
magic=$SRC/contrib/file/vfiomig.magic
if ! command -v file >/dev/null; then
	skip "file(1) names the image" "file(1) not installed (Debian package file)"
else
	got=$(file -b -m "$magic" "$img" 2>&1)
	want="vfiomig migration stream, version 2, 2 devices, stream id $(jq -r .stream_id "$tmp/save.json"), precopy, driver vfiomig-sim, first device sim:a"
	[ "$got" = "$want" ] && ok "file -m contrib/file/vfiomig.magic names the image: $got" || nok "file(1)" "got:  $got" "want: $want"
	[ "$(file -b --mime-type -m "$magic" "$img")" = application/x-vfiomig-stream ] &&
		ok "file --mime-type: application/x-vfiomig-stream" || nok "mime" "$(file -b --mime-type -m "$magic" "$img")"
	got=$(file -b -m "$magic" "$tmp/magic.vfm")
	[[ $got != *vfiomig* ]] && ok "file(1): a wrong magic is not a vfiomig stream ($got)" || nok "file wrong magic" "$got"
fi

tap_end
