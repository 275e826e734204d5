#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig dirty on simulated devices: the dirty pages of the sim pattern (dma-dirty=N+K,
# vfiomig(8)) bit for bit in text and --json, the page size the device chose, --probe,
# and the errors: a driver without logging, bad ranges and page sizes.  TAP on stdout.
set -u
VFIOMIG=${1:?usage: test-dirty-cli.sh PATH-TO-vfiomig}
command -v jq >/dev/null || { echo "1..0 # SKIP jq not installed"; exit 0; }
. "$(dirname "$0")/../tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

jerr() { # DESC WANT-EXIT WANT-NAME MESSAGE-SUBSTRING
	if [ "$rc" = "$2" ] && [ "$(jq -c '[.error.exit, .error.errno_name]' <<<"$out" 2>/dev/null)" = "[$2,\"$3\"]" ] &&
		[ "$(jq -r '.error.message' <<<"$out" 2>/dev/null | grep -c -- "$4")" = 1 ]; then
		ok "$1"
	else
		nok "$1" "exit $rc: $out" "stderr: $err"
	fi
}

run "$VFIOMIG" dirty --help; expect "dirty --help" 0 "Usage: vfiomig dirty"

# N=3, K=2 on pages 0x100..0x10f (16 pages of 4K) and 0x200..0x203; each report is one
# device write: report k dirties n % 3 == (2 + k - 1) % 3.
#   report 1 (range 0, write 1, n%3==2): 0x101 0x104 0x107 0x10a 0x10d -> 1 4 7 10 13
#   report 1 (range 1, write 2, n%3==0): 0x201 (w1: n%3==2 is 0x200? 0x200=512, 512%3=2
#     yes) -> w1 gives 0x200 0x203, w2 gives 0x201 -> 0 1 3
#   report 2 (range 0, write 3, n%3==1): w2 0x102 0x105 0x108 0x10b 0x10e and w3 0x100
#     0x103 0x106 0x109 0x10c 0x10f -> all but 1 4 7 10 13
run "$VFIOMIG" -j dirty "sim:d,dma-dirty=3+2" --range 0x100000:64K,0x200000:16K -n 2
jexpect "--json: report 1 of both ranges, the pattern bit for bit" \
	'.reports[0].ranges[0].dirty_page_indexes == [1,4,7,10,13] and .reports[0].ranges[1].dirty_page_indexes == [0,1,3]'
jexpect "--json: report 2 of range 0: what writes 2 and 3 dirtied, write 1's cleared" \
	'.reports[1].ranges[0].dirty_page_indexes == [0,2,3,5,6,8,9,11,12,14,15] and .reports[1].ranges[0].dirty_page_count == 11'
jexpect "--json: the bitmap in hex, byte j bit b = page 8j+b" \
	'.reports[0].ranges[0].bitmap == "9224" and .reports[0].ranges[1].bitmap == "0b"'
jexpect "--json: page size, totals, stopped" \
	'.page_size_bytes == 4096 and .requested_page_size_bytes == 4096 and .dirty_page_count == 5 + 3 + 11 + (.reports[1].ranges[1].dirty_page_count) and .reports[0].dirty_page_count == 8 and .stopped == true and .device == "sim:d" and .ranges == [{"iova": 1048576, "length_bytes": 65536}, {"iova": 2097152, "length_bytes": 16384}] and (has("error") | not)'

run "$VFIOMIG" dirty "sim:d,dma-dirty=3+2" --range 0x100000:64K --pages
expect "text: counts and, with --pages, the dirty IOVAs" 0 \
	"report 1: 0x100000\+0x10000: 5 of 16 pages dirty"
grep -q "^    0x101000 0x104000 0x107000 0x10a000 0x10d000$" <<<"$out" && ok "text --pages lists the IOVAs" ||
	nok "text --pages" "$out"

run "$VFIOMIG" -j dirty "sim:d,dma-dirty=1,dma-page=16K" --range 0x100000:64K --page-size 4K
jexpect "the device's own page size comes back and reports use it" \
	'.page_size_bytes == 16384 and .requested_page_size_bytes == 4096 and .report_page_size_bytes == 16384 and .reports[0].ranges[0].dirty_page_indexes == [0,1,2,3]'
run "$VFIOMIG" -j dirty "sim:d,dma-dirty=1,dma-page=16K" --range 0x100000:64K --report-page-size 8K
jexpect "--report-page-size 8K spreads each 16K page over two bits" \
	'.report_page_size_bytes == 8192 and .reports[0].ranges[0].page_count == 8 and .reports[0].ranges[0].bitmap == "ff"'

run "$VFIOMIG" dirty sim:d --range 0:4K -n 3 -i 1
expect "no dma-dirty: logging works, nothing is dirty" 0 "total 0 dirty pages in 3 reports"

# SIGINT between reports: logging stopped, what was reported printed, exit 130
"$VFIOMIG" -j dirty "sim:d,dma-dirty=2" --range 0:8K -n 1000 -i 100 >"$tmp/out" 2>"$tmp/err" &
pid=$!
sleep 0.6
kill -INT $pid
wait $pid
rc=$?
out=$(cat "$tmp/out")
err=$(cat "$tmp/err")
jvalid vfiomig-dirty "$tmp/out" "dirty -n 1000 -i 100, SIGINT"
[ $rc = 130 ] && ok "SIGINT: exit 130" || nok "SIGINT: exit 130" "exit $rc" "$out" "$err"
jexpect "SIGINT: the reports made, stopped, interrupted" \
	'.interrupted == "SIGINT" and .stopped == true and (.reports | length) >= 1 and (.reports | length) < 1000 and ([.reports[].ranges[0].dirty_page_count] | all(. == 1))'

run "$VFIOMIG" dirty sim:d --probe; expect "--probe: supported" 0 "DMA dirty logging supported"
run "$VFIOMIG" -j dirty sim:n,no-dma-logging --probe
[ $rc = 4 ] && [ "$(jq -c '[.device, .dma_logging_supported, .error.errno_name, .error.exit]' <<<"$out")" = '["sim:n",false,"EOPNOTSUPP",4]' ] &&
	ok "--probe of a driver without it: exit 4, dma_logging_supported false, the error says why" ||
	nok "--probe without" "exit $rc: $out"
run "$VFIOMIG" -j dirty sim:d --probe
jexpect "-j --probe of a driver with it: exit 0, dma_logging_supported true, no error" \
	'.device == "sim:d" and .dma_logging_supported == true and (has("error") | not)'
run "$VFIOMIG" dirty sim:n,no-dma-logging --range 0:4K
expect "a driver without logging: exit 4, naming the device" 4 "" "sim:n: the driver does not support DMA dirty logging"
run "$VFIOMIG" -j dirty sim:n,no-dma-logging --range 0:4K
jerr "-j: EOPNOTSUPP, exit 4" 4 EOPNOTSUPP "sim:n: the driver does not support DMA dirty logging"
# a report that fails after others were made (range 1 is not aligned to the 8K page
# the device chose, which the reports use): the document keeps what was read and
# cleared, says what failed, logging stops
run "$VFIOMIG" -j dirty "sim:d,dma-dirty=2,dma-page=8K" --range 0:8K,0x3000:8K
jerr "-j: a report that fails: EINVAL, exit 1, naming the range" 1 EINVAL "sim:d: report of IOVA 0x3000 + 0x2000"
jexpect "-j: a failed report: range 0 reported, stopped, the report's count" \
	'(.reports | length) == 1 and (.reports[0].ranges | length) == 1 and .reports[0].ranges[0].dirty_page_indexes == [0] and .dirty_page_count == 1 and .stopped == true'

run "$VFIOMIG" dirty sim:d --range 0x1001:4K; expect "unaligned range: exit 2" 2 "" "not aligned to the 4096-byte page"
run "$VFIOMIG" dirty sim:d --range 0:8K,0x3000:8K --report-page-size 8K
expect "a range the report pages do not tile: exit 2 before logging starts" 2 "" \
	"sim:d: range 0x3000.0x2000 is not aligned to the report page size 8192"
run "$VFIOMIG" dirty sim:d --range 0:8K,4K:8K; expect "overlapping ranges: exit 2" 2 "" "overlap"
run "$VFIOMIG" dirty sim:d --range 0:0; expect "empty range: exit 2" 2 "" "is empty"
run "$VFIOMIG" dirty sim:d --range 0xfffffffffffff000:8K; expect "past 2^64: exit 2" 2 "" "past 2\^64"
run "$VFIOMIG" dirty sim:d --range 0:4K --page-size 3000; expect "page size 3000: exit 2" 2 "" "not a power of two"
run "$VFIOMIG" dirty sim:d --range 0:4K --page-size 2G; expect "page size 2G: exit 2" 2 "" "not a power of two"
run "$VFIOMIG" dirty sim:d --range 0; expect "a range without a length: exit 2" 2 "" "not IOVA:LEN"
run "$VFIOMIG" dirty sim:d --range 0x:4K; expect "a bare 0x: exit 2" 2 "" "not IOVA:LEN"
run "$VFIOMIG" dirty sim:d --range 0:4K -n 0; expect "--count 0: exit 2" 2 "" "--count"
run "$VFIOMIG" dirty sim:d --range 0:4K -i 3600001; expect "--interval too long: exit 2" 2 "" "--interval"
run "$VFIOMIG" dirty sim:d; expect "no --range: exit 2" 2 "" "needs --range"
run "$VFIOMIG" dirty sim:d --probe --range 0:4K; expect "--probe with --range: exit 2" 2 "" "--probe takes no --range"
run "$VFIOMIG" dirty; expect "no device: exit 2" 2 "" "needs one device"
ranges=$(for i in $(seq 0 256); do printf '%s0x%x:4K' "${i:+,}" $((i * 8192)); done)
run "$VFIOMIG" dirty sim:d --range "${ranges#,}"; expect "257 ranges: exit 2" 2 "" "at most 256"
run "$VFIOMIG" dirty sim:d --range 0:256T; expect "a 256 TiB range: refused (bitmap bound)" 2 "" "exceed 1 GiB"
run "$VFIOMIG" dirty nosuch --range 0:4K; expect "a device that does not open: exit 3" 3
tap_end
