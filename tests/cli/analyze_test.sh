#!/usr/bin/env bash
# tcpstate-lab analyze on the bundled real-kernel capture and on bad input.
# The expectations come from how the capture was made (tools/record-sample.sh):
# conn 1 closes with FIN, FIN+ACK, ACK; conn 2 hits a port with no listener;
# conn 3's client FIN is dropped by the server's kernel, the orphan gives up
# after Linux's default budget and answers the server's late data with RST;
# conn 4 is a half-close.
set -u
lab=$1 sample=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $name"; fi
}
field() { # packet number, column (1-based)
  awk -F'\t' -v n="$1" -v c="$2" '$1==n {print $c}' "$tmp/out"
}
"$lab" analyze "$sample" > "$tmp/out" 2> "$tmp/err"
check "analyze exits 0" test $? -eq 0
check "refused: server CLOSED at the SYN (two-pass)" test "$(field 11 10)" = CLOSED
check "refused: RST cause" grep -q $'^12\t.*connection refused' "$tmp/out"
check "3-packet close: client TIME_WAIT at the peer's FIN" test "$(field 9 9)" = TIME_WAIT
check "dropped FIN: server stays ESTABLISHED" test "$(field 20 10)" = ESTABLISHED
check "TLP first" grep -q $'^21\t.*FIN retransmission 1 (tail loss probe)' "$tmp/out"
check "nine FIN retransmissions" test "$(grep -c 'FIN retransmission [0-9]' "$tmp/out")" = 9
check "orphan gave up before the late data" test "$(field 30 9)" = CLOSED
check "RST after the orphan gave up" grep -q $'^31\t.*segment after the orphan gave up' "$tmp/out"
check "half-close seen" grep -q 'half-close: client shut down its sending side' "$tmp/out"
"$lab" analyze --flows "$sample" > "$tmp/flows" 2>/dev/null
check "four connections" test "$(grep -vc '^#' "$tmp/flows")" = 4
check "conn 2 is REJ/REFUSED" grep -q $'^2\t.*\tREJ\tSr\tREFUSED\t' "$tmp/flows"
check "conn 3 ended by timeout" grep -q $'^3\t.*\tTIMEOUT\t' "$tmp/flows"
check "conn 1 three-packet close" grep -q $'^1\t.*\tSF\t.*\tTHREE_WAY\t' "$tmp/flows"

# a tcpstate-lab capture: its sysctls (orphan_retries scaled down) make the
# orphan give up by its timer before the server's late data, as the kernel did
fw1=$(dirname "$sample")/lab/fin-wait-1.pcapng
if [ -f "$fw1" ]; then
  "$lab" analyze --flows "$fw1" > "$tmp/lf" 2> "$tmp/le"
  check "lab capture: its stack values used" grep -q 'stack values of the capture (experiment fin-wait-1):.* orphan_retries=' "$tmp/le"
  check "lab capture: orphan timeout" grep -q $'^1\t.*\tTIMEOUT\t' "$tmp/lf"
  "$lab" analyze --flows --no-lab-profile "$fw1" > "$tmp/lf2" 2> "$tmp/le2"
  nogrep() { ! grep -q "$@"; }
  check "--no-lab-profile: Linux defaults (the orphan lives on)" nogrep $'\tTIMEOUT\t' "$tmp/lf2"
  check "--no-lab-profile: nothing said" nogrep 'stack values' "$tmp/le2"
  "$lab" analyze --flows --set orphan_retries=8 "$fw1" > "$tmp/lf3" 2>/dev/null
  check "--set wins over the capture's values" nogrep $'\tTIMEOUT\t' "$tmp/lf3"
fi

# bad input: one line on stderr, non-zero exit, nothing on stdout but the header
printf 'not a capture at all\n' > "$tmp/text"
"$lab" analyze "$tmp/text" > "$tmp/o" 2> "$tmp/e"; rc=$?
check "text file: exit 1" test $rc -eq 1
check "text file: one line" test "$(wc -l < "$tmp/e")" = 1
head -c 300 "$sample" > "$tmp/trunc.pcap"
"$lab" analyze "$tmp/trunc.pcap" > "$tmp/o" 2> "$tmp/e"; rc=$?
check "truncated: exit 1" test $rc -eq 1
check "truncated: says so" grep -qi 'truncated' "$tmp/e"
check "truncated: packets before the cut still printed" test "$(grep -vc '^#' "$tmp/o")" -ge 1
"$lab" analyze --no-such-flag "$sample" > /dev/null 2> "$tmp/e"; rc=$?
check "wrong flag: exit 2" test $rc -eq 2
check "wrong flag: one line" test "$(wc -l < "$tmp/e")" = 1
"$lab" analyze /nonexistent.pcap > /dev/null 2> "$tmp/e"; rc=$?
check "missing file: exit 1" test $rc -eq 1
"$lab" frobnicate > /dev/null 2> "$tmp/e"; rc=$?
check "unknown command: exit 2" test $rc -eq 2
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
