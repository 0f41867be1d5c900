#!/usr/bin/env bash
# tshark-driven tests of the Wireshark plugin.
#
#   plugin_test.sh GROUP PLUGIN.so GENERATOR TSHARK SAMPLE.pcap [EDITCAP]
#
# The plugin is put in the personal plugin folder of a throw-away HOME (the
# way the README tells a non-root user to install it).  tshark ignores that
# folder when run as root, so as root tshark runs as nobody (setpriv);
# nothing outside the temporary directory is touched.
#
# Expected values come from how each capture was made: the sequences in
# gen_captures.c (commented there) and the recording of captures/sample.pcap
# (tools/record-sample.sh; see tests/cli/analyze_test.sh): conn 1 closes with
# FIN, FIN+ACK, ACK; conn 2 hits a port with no listener; conn 3's client FIN
# is dropped by the server's kernel, the orphan gives up and answers the
# server's late data with RST; conn 4 is a half-close.
set -u
group=$1 plugin=$2 gen=$3 tshark=$4 sample=$5 editcap=${6:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/home"
chmod 777 "$tmp/home"

if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "SKIP: running as root without setpriv"; exit 77; }
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  run_as=()
fi
# WIRESHARK_PLUGIN_DIR (honoured for non-root users) points the global
# plugin folder at an empty directory: a tcpstate.so installed there by
# `cmake --install` would otherwise be loaded instead of the one under test
# (Wireshark scans the global folder first and skips a personal plugin of the
# same name).
mkdir -p "$tmp/noglobal"
ts() { # tshark as the test user, with the throw-away HOME
  (cd "$tmp" && "${run_as[@]}" env HOME="$tmp/home" WIRESHARK_PLUGIN_DIR="$tmp/noglobal" WIRESHARK_EXTCAP_DIR="$tmp/noglobal" \
      XDG_CONFIG_HOME="$tmp/home/.config" "$tshark" "$@")
}

# Install into the personal plugin folder that this tshark reports.
pers=$(ts -G folders 2>/dev/null | awk -F'\t' '/^Personal Plugins:/ {print $2}')
if [ -z "$pers" ]; then
  echo "FAIL: tshark -G folders gives no personal plugin folder"
  exit 1
fi
mkdir -p "$pers/epan"
cp "$plugin" "$pers/epan/tcpstate.so"
chmod -R a+rX "$tmp/home"

pass=0 fail=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }
is_true() { case "$1" in 1|True|true) return 0;; *) echo "  expected true, got '$1'"; return 1;; esac; }
is_false() { case "$1" in 0|False|false) return 0;; *) echo "  expected false, got '$1'"; return 1;; esac; }
has() { grep -q -- "$2" "$1" || { echo "  '$2' not in $(basename "$1")"; return 1; }; }
hasnt() { ! grep -q -- "$2" "$1" || { echo "  '$2' found in $(basename "$1")"; return 1; }; }
# fields FILE FRAME COLUMN: column (1-based) of a -T fields output line whose
# first column is FRAME
col() { awk -F'\t' -v n="$2" -v c="$3" '$1==n {print $c}' "$1"; }
no_bug() { ! grep -qiE 'dissector bug|tcpstate.*malformed|malformed.*tcpstate' "$1" \
             || { echo "  dissector bug / malformed in $(basename "$1")"; return 1; }; }

cp "$sample" "$tmp/sample.pcap"
gen_cap() { "$gen" "$1" "$tmp/$1.pcap" || { echo "FAIL: generator $1"; exit 1; }; }
chmod a+r "$tmp"/*.pcap 2>/dev/null

F="-T fields -E occurrence=a -E aggregator=,"

case "$group" in
load)
  ts -G plugins > "$tmp/plugins" 2>&1
  check "tshark -G plugins lists tcpstate.so" grep -q '^tcpstate.so' "$tmp/plugins"
  check "the plugin under test is the one loaded" grep -qF "$pers/epan/tcpstate.so" "$tmp/plugins"
  ts -G protocols > "$tmp/protos" 2>&1
  check "protocol registered" grep -qP '^TCP Endpoint States\tTCPSTATE\ttcpstate' "$tmp/protos"
  ts -G fields > "$tmp/fields" 2>&1
  for f in tcpstate.client.state tcpstate.server.state tcpstate.from tcpstate.phase \
           tcpstate.transition tcpstate.client.time_in_state tcpstate.server.time_in_state \
           tcpstate.half_closed tcpstate.orphan tcpstate.retrans.kind tcpstate.retrans.index \
           tcpstate.retrans.gap tcpstate.retrans.schedule tcpstate.retrans.budget \
           tcpstate.keepalive.index tcpstate.keepalive.idle tcpstate.keepalive.ack \
           tcpstate.zero_window_probe tcpstate.rst.cause tcpstate.flow.conn_state \
           tcpstate.flow.history tcpstate.flow.close tcpstate.flow.client.final \
           tcpstate.flow.server.final tcpstate.kernel.client.state tcpstate.kernel.server.state \
           tcpstate.kernel.agree tcpstate.lab.experiment tcpstate.lab.event tcpstate.revised \
           tcpstate.provisional; do
    check "field $f" grep -qP "^F\t[^\t]*\t$f\t" "$tmp/fields"
  done
  check "state fields are strings" grep -qP '^F\t[^\t]*\ttcpstate.server.state\tFT_STRING' "$tmp/fields"
  ts -G defaultprefs > "$tmp/prefs" 2>&1
  for p in profile overrides two_pass close_wait_threshold info_tag lab_profile; do
    check "preference tcpstate.$p" grep -q "tcpstate.$p:" "$tmp/prefs"
  done
  ;;

fields)
  gen_cap basic
  ts -2 -r basic.pcap $F -e frame.number -e tcpstate.client.state -e tcpstate.server.state \
     -e tcpstate.from -e tcpstate.phase -e tcpstate.transition -e tcpstate.flow.id \
     -e tcpstate.retrans.kind -e tcpstate.retrans.index -e tcpstate.keepalive.index \
     -e tcpstate.keepalive.ack -e tcpstate.zero_window_probe -e tcpstate.rst.cause_id \
     -e tcpstate.half_closed -e tcpstate.flow.conn_state -e tcpstate.flow.close \
     -e tcpstate.client.time_in_state -e tcpstate.server.time_in_state \
     -e tcpstate.keepalive.idle -e tcpstate.port_reuse -e tcpstate.flow.conn_index \
     -e _ws.expert.message > "$tmp/out" 2> "$tmp/err"
  o=$tmp/out
  check "tshark exit 0" test $? -eq 0
  # connection 1: handshake, data, client FIN at 1 s, server data at 121 s, server FIN
  check "SYN: client SYN_SENT" eq "$(col $o 1 2)" SYN_SENT
  check "SYN: server SYN_RECV" eq "$(col $o 1 3)" SYN_RECV
  check "SYN-ACK: client ESTABLISHED" eq "$(col $o 2 2)" ESTABLISHED
  check "ACK: server ESTABLISHED" eq "$(col $o 3 3)" ESTABLISHED
  check "from: client" eq "$(col $o 1 4)" client
  check "from: server" eq "$(col $o 2 4)" server
  check "phase handshake" eq "$(col $o 1 5)" handshake
  check "phase established" eq "$(col $o 4 5)" established
  check "client FIN: client FIN_WAIT_1" eq "$(col $o 6 2)" FIN_WAIT_1
  check "client FIN: server CLOSE_WAIT" eq "$(col $o 6 3)" CLOSE_WAIT
  check "transition text" eq "$(col $o 6 6)" "client ESTABLISHED → FIN_WAIT_1; server ESTABLISHED → CLOSE_WAIT"
  check "no transition on plain data" eq "$(col $o 4 6)" ""
  check "ACK of FIN: client FIN_WAIT_2" eq "$(col $o 7 2)" FIN_WAIT_2
  check "data in CLOSE_WAIT: server CLOSE_WAIT" eq "$(col $o 41 3)" CLOSE_WAIT
  check "half-closed by the client" eq "$(col $o 41 14)" client
  check "phase half-closed" eq "$(col $o 41 5)" half-closed
  check "server 120 s in CLOSE_WAIT" awk -v v="$(col $o 41 18)" 'BEGIN{exit !(v>119.99 && v<120.01)}'
  check "CLOSE_WAIT expert message" grep -q $'^41\t.*server in CLOSE_WAIT for 120 s: the application has not closed its socket' $o
  check "server FIN: client TIME_WAIT" eq "$(col $o 43 2)" TIME_WAIT
  check "server FIN: server LAST_ACK" eq "$(col $o 43 3)" LAST_ACK
  check "last ACK: server CLOSED" eq "$(col $o 44 3)" CLOSED
  check "four-packet close" eq "$(col $o 44 16)" FOUR_WAY
  check "Zeek SF" eq "$(col $o 1 15)" SF
  check "flow summary on every packet" eq "$(col $o 4 16)" FOUR_WAY
  # connection 2: refused
  check "refused: client CLOSED" eq "$(col $o 9 2)" CLOSED
  check "refused: RST cause" eq "$(col $o 9 13)" REFUSED
  check "refused: REJ" eq "$(col $o 8 15)" REJ
  check "refused: close REFUSED" eq "$(col $o 8 16)" REFUSED
  check "RST expert message" grep -q $'^9\t.*RST: connection refused' $o
  # connection 3: SYN sent 4 times
  check "first SYN is no retransmission" eq "$(col $o 10 8)" ""
  check "second SYN: SYN retransmission 1" eq "$(col $o 11 8),$(col $o 11 9)" "SYN,1"
  check "fourth SYN: SYN retransmission 3" eq "$(col $o 13 9)" 3
  check "SYN retransmission expert message" grep -q $'^13\t.*SYN retransmission 3 of' $o
  check "unanswered client stays SYN_SENT" eq "$(col $o 13 2)" SYN_SENT
  # connection 4: keepalive probe after 7200 s idle, answered
  check "keepalive probe 1" eq "$(col $o 45 10)" 1
  check "keepalive idle 7200 s" awk -v v="$(col $o 45 19)" 'BEGIN{exit !(v>7199.9 && v<7200.1)}'
  check "keepalive answered" eq "$(col $o 46 11)" 1
  check "keepalive keeps ESTABLISHED" eq "$(col $o 46 2),$(col $o 46 3)" "ESTABLISHED,ESTABLISHED"
  # connection 5: 3-packet close, then a new SYN on the 4-tuple in TIME_WAIT
  check "3-packet close: client TIME_WAIT" eq "$(col $o 23 2)" TIME_WAIT
  check "new SYN is a new connection" test "$(col $o 25 7)" != "$(col $o 24 7)"
  check "new SYN: second connection on the 4-tuple" eq "$(col $o 25 21)" 2
  check "new SYN: port reuse marked" is_true "$(col $o 25 20)"
  check "TIME_WAIT reuse expert" grep -q $'^25\t.*new SYN reuses a 4-tuple in TIME_WAIT' $o
  # connection 6: IPv6, client RST after the handshake
  check "IPv6 handshake" eq "$(col $o 30 2),$(col $o 30 3)" "ESTABLISHED,ESTABLISHED"
  check "IPv6 RST: both CLOSED" eq "$(col $o 31 2),$(col $o 31 3)" "CLOSED,CLOSED"
  check "phase after RST" eq "$(col $o 31 5)" reset
  # connection 7: zero-window probes
  check "zero-window probe 1" eq "$(col $o 37 12)" 1
  check "zero-window probe 2" eq "$(col $o 39 12)" 2
  check "probe is no keepalive" eq "$(col $o 37 10)" ""
  # the tree and the Info tag
  ts -r basic.pcap > "$tmp/summary" 2>&1
  check "Info tag" grep -q '40001 → 80 \[FIN, ACK\].*\[C:FIN_WAIT_1 S:CLOSE_WAIT\]' "$tmp/summary"
  ts -2 -r basic.pcap -V -Y 'frame.number == 41' > "$tmp/tree" 2>&1
  check "subtree" grep -q 'TCP Endpoint States: client FIN_WAIT_2, server CLOSE_WAIT (two-pass, final)' "$tmp/tree"
  check "items generated" grep -q '^    \[Client state: FIN_WAIT_2\]' "$tmp/tree"
  check "expert info in the tree" grep -q 'Expert Info (Warning/Sequence): server in CLOSE_WAIT for 120 s' "$tmp/tree"
  check "no dissector bug" no_bug "$tmp/tree"
  ;;

twopass)
  # one pass: what a streaming reader can say at each packet
  ts -r sample.pcap $F -e frame.number -e tcpstate.client.state -e tcpstate.server.state \
     -e tcpstate.provisional -e tcpstate.pass -e tcpstate.revised > "$tmp/one" 2>/dev/null
  # two passes (tshark -2)
  ts -2 -r sample.pcap $F -e frame.number -e tcpstate.client.state -e tcpstate.server.state \
     -e tcpstate.provisional -e tcpstate.pass -e tcpstate.revised -e tcpstate.retrans.kind \
     -e tcpstate.retrans.index -e tcpstate.retrans.schedule -e tcpstate.rst.cause_id \
     -e tcpstate.flow.close -e tcpstate.orphan > "$tmp/two" 2>/dev/null
  check "46 packets in each mode" eq "$(wc -l < "$tmp/one"),$(wc -l < "$tmp/two")" "46,46"
  check "one pass: answers from one pass" eq "$(cut -f5 "$tmp/one" | sort -u)" 1
  check "two passes: final answers" eq "$(cut -f5 "$tmp/two" | sort -u)" 2
  # conn 2: at the SYN a streaming reader cannot know nobody listens
  check "one pass: SYN to a closed port, server SYN_RECV so far" eq "$(col "$tmp/one" 11 3)" SYN_RECV
  check "one pass: that answer is provisional" is_true "$(col "$tmp/one" 11 4)"
  check "two passes: server CLOSED at the SYN" eq "$(col "$tmp/two" 11 3)" CLOSED
  check "two passes: revised" is_true "$(col "$tmp/two" 11 6)"
  check "two passes: no provisional marker" eq "$(col "$tmp/two" 11 4)" ""
  # conn 3: the client's FIN is dropped by the server's kernel
  check "one pass: FIN assumed received" eq "$(col "$tmp/one" 20 3)" CLOSE_WAIT
  check "two passes: server stays ESTABLISHED" eq "$(col "$tmp/two" 20 3)" ESTABLISHED
  check "two passes: revised at the dropped FIN" is_true "$(col "$tmp/two" 20 6)"
  check "first FIN copy: tail loss probe" eq "$(col "$tmp/two" 21 7),$(col "$tmp/two" 21 8),$(col "$tmp/two" 21 9)" "FIN,1,tail loss probe"
  check "nine FIN retransmissions" eq "$(cut -f7 "$tmp/two" | grep -c '^FIN$')" 9
  check "orphan gave up before the late data" eq "$(col "$tmp/two" 30 2)" CLOSED
  check "RST after the orphan gave up" eq "$(col "$tmp/two" 31 10)" AFTER_ORPHAN_GIVEUP
  check "the client is an orphan" grep -qP '^2[0-9]\t.*\tclient$' "$tmp/two"
  check "conn 3 ended by timeout" eq "$(col "$tmp/two" 13 11)" TIMEOUT
  # the same answers every time the file is read twice, and with the
  # preference off -2 keeps the one-pass answers
  ts -2 -r sample.pcap $F -e frame.number -e tcpstate.client.state -e tcpstate.server.state \
     -e tcpstate.provisional -e tcpstate.pass -e tcpstate.revised -e tcpstate.retrans.kind \
     -e tcpstate.retrans.index -e tcpstate.retrans.schedule -e tcpstate.rst.cause_id \
     -e tcpstate.flow.close -e tcpstate.orphan > "$tmp/two2" 2>/dev/null
  check "two-pass answers are stable" cmp -s "$tmp/two" "$tmp/two2"
  ts -2 -o tcpstate.two_pass:FALSE -r sample.pcap $F -e frame.number -e tcpstate.client.state \
     -e tcpstate.server.state -e tcpstate.provisional -e tcpstate.pass -e tcpstate.revised \
     > "$tmp/one2" 2>/dev/null
  check "two_pass off: -2 shows the one-pass answers" cmp -s "$tmp/one" "$tmp/one2"
  # a read filter drops frames in the first pass (tshark numbers the next
  # frame like the dropped one): conn 3 alone, its 8th packet is the FIN
  ts -2 -R 'tcp.port == 8082' -r sample.pcap $F -e frame.number -e tcpstate.client.state \
     -e tcpstate.server.state > "$tmp/rf" 2>/dev/null
  check "read filter: 19 packets, all with states" eq "$(awk -F'\t' '$2!=""' "$tmp/rf" | wc -l)" 19
  check "read filter: dropped FIN, server ESTABLISHED" eq "$(col "$tmp/rf" 8 2),$(col "$tmp/rf" 8 3)" "FIN_WAIT_1,ESTABLISHED"
  # the flow summary in one pass is what is known so far
  ts -r sample.pcap $F -e frame.number -e tcpstate.flow.conn_state -e tcpstate.flow.close \
     > "$tmp/oneflow" 2>/dev/null
  check "one pass: conn 1 after its SYN is S0 so far" eq "$(col "$tmp/oneflow" 1 2)" S0
  check "one pass: conn 1 at its last packet is SF" eq "$(col "$tmp/oneflow" 10 2)" SF
  ;;

filters)
  c() { ts -2 -r sample.pcap -Y "$1" 2>/dev/null | wc -l; }
  # server CLOSE_WAIT: conn 1 at the client's FIN (frame 8); conn 4 from the
  # client's FIN (37) until the server's FIN (45): 37..44
  check "server CLOSE_WAIT" eq "$(c 'tcpstate.server.state == "CLOSE_WAIT"')" 9
  check "every TCP packet has tcpstate" eq "$(c tcpstate)" 46
  check "FIN retransmissions" eq "$(c 'tcpstate.retrans.kind == "FIN"')" 9
  check "refused" eq "$(c 'tcpstate.rst.cause_id == "REFUSED"')" 1
  check "conn_state REJ" eq "$(c 'tcpstate.flow.conn_state == "REJ"')" 2
  check "client TIME_WAIT packets" eq "$(c 'tcpstate.client.state == "TIME_WAIT"')" 4
  check "transitions to TIME_WAIT" eq "$(c 'tcpstate.transition contains "→ TIME_WAIT"')" 2
  check "half-closed" test "$(c 'tcpstate.half_closed == "client"')" -ge 1
  check "state names are strings" eq "$(c 'tcpstate.client.state matches "^SYN_SENT$"')" 4
  check "expert infos filterable" eq "$(c '_ws.expert.message contains "FIN retransmission"')" 9
  ;;

stats)
  ts -2 -q -r sample.pcap -z tcpstate,flows -z tcpstate,states > "$tmp/st" 2> "$tmp/err"
  check "tshark exit 0" test $? -eq 0
  check "flows table" has "$tmp/st" 'TCP Endpoint States/Connections'
  check "four connections" eq "$(grep -cE '^[0-9]+ \|10\.99\.0\.1:' "$tmp/st")" 4
  check "conn 1: SF, 3-packet close" grep -qE '^1 \|10\.99\.0\.1:53708 \|10\.99\.0\.2:8080 \|SF \|[^|]*\|THREE_WAY \|' "$tmp/st"
  check "conn 2: REJ, refused" grep -qE '^2 \|[^|]*\|[^|]*\|REJ \|Sr \|REFUSED \|CLOSED \|CLOSED \|' "$tmp/st"
  check "conn 3: timeout, 9 retransmissions" grep -qE '^3 \|[^|]*\|[^|]*\|[^|]*\|[^|]*\|TIMEOUT \|([^|]*\|){3}19 \|9 \|' "$tmp/st"
  check "conn 4: 4-packet close, client TIME_WAIT" grep -qE '^4 \|([^|]*\|){4}FOUR_WAY \|TIME_WAIT \|CLOSED \|' "$tmp/st"
  check "time in states" grep -qE '^3 \|.*FIN_WAIT_1=11[0-9]\.' "$tmp/st"
  check "states table" has "$tmp/st" 'TCP Endpoint States/States'
  # every client sent a SYN: 4 flows, one SYN_SENT packet each
  check "SYN_SENT: 4 packets, 4 client flows" grep -qE '^SYN_SENT +\|4 \|0 \|4 \|0 \|' "$tmp/st"
  # conn 1 and conn 4 clients reach TIME_WAIT; their servers were in CLOSE_WAIT
  check "TIME_WAIT: 2 client flows" grep -qE '^TIME_WAIT +\|[0-9]+ \|0 \|2 \|0 \|' "$tmp/st"
  check "CLOSE_WAIT: 9 server packets, 2 flows" grep -qE '^CLOSE_WAIT +\|0 \|9 \|0 \|2 \|' "$tmp/st"
  ts -q -r sample.pcap -z tcpstate,flows > "$tmp/st1" 2>&1
  check "one-pass flows table" eq "$(grep -cE '^[0-9]+ \|10\.99\.0\.1:' "$tmp/st1")" 4
  ts -2 -q -r sample.pcap -z 'tcpstate,flows,tcp.port == 8081' > "$tmp/st2" 2>&1
  check "flows table with a filter" eq "$(grep -cE '^[0-9]+ \|10\.99\.0\.1:' "$tmp/st2")" 1
  ;;

flowgraph)
  ts -2 -q -r sample.pcap -z flow,tcpstate,network > "$tmp/fg" 2> "$tmp/err"
  check "tshark exit 0" test $? -eq 0
  check "one arrow per packet" eq "$(grep -cE -- '-{5,}>|<-{5,}' "$tmp/fg")" 46
  # conns 1, 3 and 4: the client closes first
  check "client FIN written beside its packet" eq "$(grep -c 'FIN, ACK .*client ESTABLISHED → FIN_WAIT_1' "$tmp/fg")" 3
  check "state tag" grep -q '\[C:TIME_WAIT S:CLOSED\] server LAST_ACK → CLOSED' "$tmp/fg"
  check "the late RST" grep -q 'RST .*server ESTABLISHED → CLOSED' "$tmp/fg"
  ;;

badinput)
  gen_cap bad
  ts -2 -r bad.pcap -V > "$tmp/v" 2>&1
  check "tshark -2 -V exit 0" test $? -eq 0
  check "no dissector bug (-V)" no_bug "$tmp/v"
  ts -r bad.pcap $F -e frame.number -e tcpstate.client.state > "$tmp/o" 2>&1
  check "tshark exit 0" test $? -eq 0
  # frames 1-3, 11-14 are whole TCP segments; 4-10 are truncated, malformed,
  # not TCP or a TCP header quoted in ICMP
  check "tcpstate only on real TCP segments" eq "$(awk -F'\t' '$2!="" {printf "%s ", $1}' "$tmp/o")" "1 2 3 11 12 13 14 "
  check "ICMP-quoted TCP header not fed" eq "$(col "$tmp/o" 9 2)" ""
  check "connection still closes" eq "$(col "$tmp/o" 13 2)" TIME_WAIT
  # a capture cut in the middle of a record
  head -c 1000 "$tmp/sample.pcap" > "$tmp/cut.pcap"; chmod a+r "$tmp/cut.pcap"
  ts -2 -r cut.pcap -V > "$tmp/cut" 2>&1; rc=$?
  check "cut capture: no crash" test $rc -lt 128
  check "cut capture: packets before the cut" grep -q 'TCP Endpoint States' "$tmp/cut"
  # random byte errors everywhere (fixed seed)
  if [ -n "$editcap" ]; then
    gen_cap basic
    "$editcap" --seed 7 -E 0.02 "$tmp/basic.pcap" "$tmp/fuzz.pcap" >/dev/null 2>&1
    chmod a+r "$tmp/fuzz.pcap"
    for mode in "" "-2"; do
      ts $mode -r fuzz.pcap -V -z tcpstate,flows -z tcpstate,states -z flow,tcpstate,network > "$tmp/fz" 2>&1; rc=$?
      check "fuzzed ($mode): exit 0" test $rc -eq 0
      check "fuzzed ($mode): no dissector bug" no_bug "$tmp/fz"
    done
  fi
  ;;

tunnels)
  gen_cap tunnels
  ts -2 -r tunnels.pcap $F -e frame.number -e tcpstate.client.state -e tcpstate.server.state \
     -e tcpstate.flow.client -e tcpstate.flow.server -e tcpstate.flow.id > "$tmp/o" 2>&1
  check "tshark exit 0" test $? -eq 0
  # each connection: SYN, SYN-ACK, ACK, client FIN, server FIN+ACK, client ACK
  for base in 0 6 12; do
    check "frame $((base+1)) SYN" eq "$(col "$tmp/o" $((base+1)) 2),$(col "$tmp/o" $((base+1)) 3)" "SYN_SENT,SYN_RECV"
    check "frame $((base+3)) ACK" eq "$(col "$tmp/o" $((base+3)) 3)" ESTABLISHED
    check "frame $((base+5)) FIN+ACK" eq "$(col "$tmp/o" $((base+5)) 2),$(col "$tmp/o" $((base+5)) 3)" "TIME_WAIT,LAST_ACK"
    check "frame $((base+6)) last ACK" eq "$(col "$tmp/o" $((base+6)) 3)" CLOSED
  done
  check "VLAN: inner endpoints" eq "$(col "$tmp/o" 1 4) $(col "$tmp/o" 1 5)" "10.0.0.21:40101 10.0.1.1:80"
  check "IPv4 in IPv4: innermost addresses" eq "$(col "$tmp/o" 7 4) $(col "$tmp/o" 8 5)" "10.0.0.22:40102 10.0.1.1:80"
  check "IPv6 in IPv4: innermost addresses" eq "$(col "$tmp/o" 13 4)" "[2001:db8::23]:40103"
  check "three connections" eq "$(cut -f6 "$tmp/o" | sort -u | wc -l)" 3
  ;;

labcomment)
  [ -n "$editcap" ] || { echo "SKIP: editcap not found"; exit 77; }
  "$editcap" -F pcapng \
    -a '1:tcpstate-lab/1 experiment name=sample desc="four connections" capture=client' \
    -a '5:hello world' \
    -a '9:tcpstate-lab/1 kernel client=TIME_WAIT server=LAST_ACK client.timer=timewait(59.99/0/0) t=0.100543 src=diag' \
    -a '12:tcpstate-lab/1 kernel client=NONE server=NONE src=diag' \
    -a '20:tcpstate-lab/1 kernel client=FIN_WAIT_1 server=CLOSE_WAIT src=diag' \
    -a $'37:tcpstate-lab/1 event t=115.2 side=client what="shutdown(SHUT_WR)"\nnote from the lab' \
    -a '38:tcpstate-lab/2 kernel client=CLOSED server=CLOSED' \
    "$tmp/sample.pcap" "$tmp/lab.pcapng" > /dev/null 2>&1
  chmod a+r "$tmp/lab.pcapng"
  ts -2 -r lab.pcapng $F -e frame.number -e tcpstate.kernel.client.state \
     -e tcpstate.kernel.server.state -e tcpstate.kernel.agree -e tcpstate.lab.experiment \
     -e tcpstate.lab.event -e tcpstate.comment -e tcpstate.kernel.client.timer \
     -e tcpstate.client.state > "$tmp/o" 2>&1
  check "tshark exit 0" test $? -eq 0
  check "experiment" eq "$(col "$tmp/o" 1 5)" sample
  check "plain comment shown as is" eq "$(col "$tmp/o" 5 7)" "hello world"
  check "kernel states" eq "$(col "$tmp/o" 9 2),$(col "$tmp/o" 9 3)" "TIME_WAIT,LAST_ACK"
  check "kernel timer" eq "$(col "$tmp/o" 9 8)" "timewait(59.99/0/0)"
  # FIN+ACK that acknowledges the client's FIN: client TIME_WAIT, server LAST_ACK
  check "kernel agrees at the 3-packet close" is_true "$(col "$tmp/o" 9 4)"
  # after a refused SYN neither socket exists
  check "NONE agrees with CLOSED" is_true "$(col "$tmp/o" 12 4)"
  # the server's kernel dropped this FIN: a server in CLOSE_WAIT is wrong
  check "kernel disagrees at the dropped FIN" is_false "$(col "$tmp/o" 20 4)"
  check "lab event" eq "$(col "$tmp/o" 37 6)" "client shutdown(SHUT_WR)"
  check "other line of a lab comment" eq "$(col "$tmp/o" 37 7)" "note from the lab"
  check "other versions ignored" eq "$(col "$tmp/o" 38 2)" ""
  check "no lab fields elsewhere" eq "$(col "$tmp/o" 2 2)$(col "$tmp/o" 2 7)" ""
  ts -2 -r lab.pcapng -Y 'tcpstate.kernel.agree == 0' > "$tmp/dis" 2>&1
  check "filter on disagreement" eq "$(wc -l < "$tmp/dis")" 1
  ts -2 -r lab.pcapng -V -Y 'frame.number == 20' > "$tmp/v" 2>&1
  check "disagreement expert" grep -q 'kernel and tcpstate disagree: server: kernel CLOSE_WAIT, inferred ESTABLISHED' "$tmp/v"
  ;;

labcaptures)
  # The committed captures of `tcpstate-lab run --all` (captures/lab/): the
  # plugin's fields against the kernel's own states recorded in the
  # comments, and what each experiment was built to show (its drop rules
  # and actions in capture-helper/experiments.c).
  labdir=$(dirname "$sample")/lab
  n=0
  for cap in "$labdir"/*.pcapng; do
    [ -f "$cap" ] || continue
    x=$(basename "$cap" .pcapng); n=$((n+1))
    cp "$cap" "$tmp/$x.pcapng"; chmod a+r "$tmp/$x.pcapng"
    ts -2 -r "$x.pcapng" $F -e frame.number -e tcpstate.lab.experiment -e tcpstate.kernel.agree \
       -e tcpstate.kernel.client.state -e tcpstate.kernel.server.state -e tcpstate.from \
       -e tcpstate.client.state -e tcpstate.server.state -e tcpstate.retrans.kind \
       -e tcpstate.retrans.index -e tcpstate.keepalive.index -e tcpstate.rst.cause_id \
       -e tcpstate.half_closed -e tcpstate.flow.conn_index -e tcpstate.port_reuse \
       -e tcpstate.orphan -e tcpstate.flow.close -e tcp.len -e tcp.flags.reset \
       -e tcp.flags.syn -e tcpstate.config > "$tmp/$x.o" 2> "$tmp/$x.err"
    check "$x: tshark exit 0" test $? -eq 0
    total=$(grep -c . "$tmp/$x.o")
    check "$x: has packets" test "$total" -gt 0
    check "$x: experiment named on every packet" eq "$(awk -F'\t' -v x="$x" '$2==x' "$tmp/$x.o" | wc -l)" "$total"
    check "$x: kernel states on every packet" eq "$(awk -F'\t' '$4!="" && $5!=""' "$tmp/$x.o" | wc -l)" "$total"
    agree=$(awk -F'\t' '$3=="1"||$3=="True"' "$tmp/$x.o" | wc -l)
    check "$x: agrees with the kernel on >= 99% ($agree of $total)" test $((agree * 100)) -ge $((total * 99))
    check "$x: the capture's sysctls used" grep -q 'from the capture: .*orphan_retries=' "$tmp/$x.o"
  done
  check "16 lab captures" eq "$n" 16
  # rows EXPERIMENT AWK-CONDITION: how many packets match
  rows() { awk -F'\t' "$2" "$tmp/$1.o" | wc -l; }
  last() { tail -n 1 "$tmp/$1.o" | cut -f"$2"; }
  # $6 from $7 client $8 server $9 rtx kind $10 rtx index $11 ka index
  # $12 rst cause $13 half-closed $14 conn index $15 port reuse $16 orphan
  # $17 close kind $18 tcp.len $19 RST flag $20 SYN flag
  check "handshake-close: three-way close" eq "$(last handshake-close 17)" THREE_WAY
  check "close-4way: four-way close" eq "$(last close-4way 17)" FOUR_WAY
  check "close-4way: client FIN_WAIT_2 while the server is in CLOSE_WAIT" \
    test "$(rows close-4way '$7=="FIN_WAIT_2" && $8=="CLOSE_WAIT"')" -ge 1
  # the server drops SYNs: only the client's SYN and its retransmissions
  check "syn-sent: every packet a SYN from the client" \
    eq "$(rows syn-sent '$6=="client" && ($20=="1"||$20=="True")')" "$(grep -c . "$tmp/syn-sent.o")"
  check "syn-sent: SYN retransmissions numbered 1, 2, ..." \
    eq "$(rows syn-sent '$9=="SYN" && $10==$1-1')" "$(( $(grep -c . "$tmp/syn-sent.o") - 1 ))"
  check "syn-sent: the server never gets a SYN" eq "$(rows syn-sent '$8!="LISTEN"')" 0
  # the client drops SYN-ACKs: it stays in SYN_SENT, the server retransmits
  check "syn-recv: client SYN_SENT throughout" eq "$(rows syn-recv '$7!="SYN_SENT"')" 0
  check "syn-recv: SYN-ACK retransmissions" test "$(rows syn-recv '$6=="server" && $9=="SYN-ACK"')" -ge 2
  check "syn-recv: server SYN_RECV after the first SYN" eq "$(rows syn-recv 'NR>1 && $8!="SYN_RECV"')" 0
  # the server drops the client's FIN: the orphan retransmits it, gives up,
  # and answers the server's later data with RST
  check "fin-wait-1: >= 3 FIN retransmissions from the client, in FIN_WAIT_1" \
    test "$(rows fin-wait-1 '$6=="client" && $9=="FIN" && $7=="FIN_WAIT_1"')" -ge 3
  check "fin-wait-1: retransmissions numbered 1, 2, 3, ..." \
    eq "$(awk -F'\t' '$9=="FIN" {printf "%s ", $10}' "$tmp/fin-wait-1.o" | awk '{for(i=1;i<=NF;i++) if ($i!=i) {print "no"; exit} print "yes"}')" yes
  check "fin-wait-1: the server never gets the FIN" \
    eq "$(rows fin-wait-1 '$9=="FIN" && $8!="ESTABLISHED"')" 0
  check "fin-wait-1: the client is an orphan" test "$(rows fin-wait-1 '$16=="client"')" -ge 3
  check "fin-wait-1: RST to late data after the orphan gave up" \
    eq "$(last fin-wait-1 6) $(last fin-wait-1 12)" "client AFTER_ORPHAN_GIVEUP"
  check "fin-wait-1: close by timeout" eq "$(last fin-wait-1 17)" TIMEOUT
  # the client drops the server's FIN: server LAST_ACK retransmits it, the
  # client's FIN_WAIT_2 times out
  check "fin-wait-2: server FIN retransmissions in LAST_ACK" \
    test "$(rows fin-wait-2 '$6=="server" && $9=="FIN" && $8=="LAST_ACK"')" -ge 2
  check "fin-wait-2: client FIN_WAIT_2 at the first one" \
    eq "$(awk -F'\t' '$9=="FIN" {print $7; exit}' "$tmp/fin-wait-2.o")" FIN_WAIT_2
  check "fin-wait-2: RST after the FIN_WAIT_2 timeout" eq "$(last fin-wait-2 12)" AFTER_FW2
  check "close-wait: server in CLOSE_WAIT, client in FIN_WAIT_2" \
    test "$(rows close-wait '$7=="FIN_WAIT_2" && $8=="CLOSE_WAIT"')" -ge 1
  check "close-wait: ends with the client's RST" eq "$(last close-wait 6) $(last close-wait 19)" "client 1"
  check "time-wait: server FIN retransmissions while the client is in TIME_WAIT" \
    test "$(rows time-wait '$6=="server" && $9=="FIN" && $7=="TIME_WAIT"')" -ge 2
  check "keepalive: answered probes (index 1)" test "$(rows keepalive '$11=="1"')" -ge 2
  check "keepalive: no RST" eq "$(rows keepalive '$19=="1"')" 0
  check "keepalive-dead: probes 1, 2" eq "$(awk -F'\t' '$11!="" {printf "%s ", $11}' "$tmp/keepalive-dead.o")" "1 2 "
  check "keepalive-dead: RST after the last probe" eq "$(last keepalive-dead 12)" KEEPALIVE
  check "simultaneous-close: close kind" eq "$(last simultaneous-close 17)" SIMULTANEOUS
  check "simultaneous-close: CLOSING seen" test "$(rows simultaneous-close '$7=="CLOSING" || $8=="CLOSING"')" -ge 1
  check "half-close: server data while the client is half-closed" \
    test "$(rows half-close '$6=="server" && $18>0 && $13=="client"')" -ge 1
  for x in abort-linger0 abort-unread; do
    check "$x: RST from the client ends it" eq "$(last $x 6) $(last $x 19) $(last $x 7) $(last $x 8)" "client 1 CLOSED CLOSED"
    check "$x: abort" eq "$(last $x 17)" ABORT
  done
  check "refused: RST in reply to the SYN" eq "$(last refused 12) $(last refused 8)" "REFUSED CLOSED"
  check "tw-reuse: a second connection on the 4-tuple" \
    eq "$(rows tw-reuse '$14=="2" && ($15=="1"||$15=="True") && ($20=="1"||$20=="True")')" 1
  ts -2 -r fin-wait-1.pcapng -q -z flow,tcpstate,network > "$tmp/fg" 2>&1
  check "flow graph of a lab capture: the orphan's FIN_WAIT_1" grep -q 'FIN_WAIT_1' "$tmp/fg"
  ;;

prefs)
  gen_cap basic
  fl() { ts -2 -r basic.pcap "$@" $F -e frame.number -e tcpstate.retrans.budget -e tcpstate.event \
         -e tcpstate.config 2>/dev/null; }
  fl -o 'tcpstate.overrides:syn_retries=3,syn_linear=0' > "$tmp/a"
  check "override: SYN budget 3" eq "$(col "$tmp/a" 11 2)" 3
  check "override shown" grep -q 'overrides: syn_retries=3 syn_linear=0' "$tmp/a"
  fl -o 'tcpstate.overrides:syn_retries=3 bogus=1' > "$tmp/b"
  check "bad override reported" grep -q 'ignored (unknown key or bad value): bogus=1' "$tmp/b"
  fl -o tcpstate.profile:windows > "$tmp/c"
  check "profile enum" grep -q 'profile windows' "$tmp/c"
  fl > "$tmp/d"
  check "default: CLOSE_WAIT warning after 60 s" grep -q $'^41\t.*CLOSE_WAIT_LONG' "$tmp/d"
  fl -o tcpstate.close_wait_threshold:200 > "$tmp/e"
  check "threshold 200 s: no warning at 120 s" hasnt "$tmp/e" CLOSE_WAIT_LONG
  ts -r basic.pcap -o tcpstate.info_tag:FALSE > "$tmp/f" 2>&1
  check "Info tag off" hasnt "$tmp/f" '\[C:'
  ts -r basic.pcap > "$tmp/g" 2>&1
  check "Info tag on by default" has "$tmp/g" '\[C:SYN_SENT S:SYN_RECV\]'
  ts -r basic.pcap --disable-protocol tcpstate -T fields -e tcpstate.client.state > "$tmp/h" 2>&1
  check "protocol can be disabled" eq "$(grep -c . "$tmp/h")" 0
  ;;

*)
  echo "unknown group $group"; exit 2 ;;
esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
