#!/usr/bin/env bash
# The Wireshark plugin on the adversarial captures (smaller sizes than the
# engine's: tshark keeps every packet).
#
#   plugin_adversarial.sh PLUGIN.so TCPSTATE-ADVERSARIAL TSHARK
#
# As nobody when run as root (tshark ignores personal plugins for root),
# with the plugin in the personal plugin folder of a throw-away HOME:
#   - tshark -2 -V with the statistics taps and the flow graph: exit status
#     0, no "Dissector bug", no malformed tcpstate item, no sanitizer or GLib
#     critical message, the plugin's tree on every packet;
#   - tshark -2 with the plugin's fields against tshark -2 with
#     --disable-protocol tcpstate: the extra peak RSS stays within four
#     times what the README documents (300 bytes per TCP packet, 1 KiB per
#     connection) plus 32 MiB.  The README's figures come from connections
#     of 19 packets; here most have one or two and cost about 3.5 KiB each
#     (README, Hardening).
set -u
plugin=$1 adv=$2 tshark=$3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/home" "$tmp/noglobal"
chmod 777 "$tmp/home"
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "SKIP: running as root without setpriv"; exit 77; }
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  run_as=()
fi
cp "$adv" "$tmp/adv" && chmod 755 "$tmp/adv"
# ts: tshark as the test user; mts: the same under `measure` (peak RSS)
ts() { (cd "$tmp" && "${run_as[@]}" env HOME="$tmp/home" WIRESHARK_PLUGIN_DIR="$tmp/noglobal" \
          XDG_CONFIG_HOME="$tmp/home/.config" "$tshark" "$@"); }
mts() { (cd "$tmp" && "${run_as[@]}" env HOME="$tmp/home" WIRESHARK_PLUGIN_DIR="$tmp/noglobal" \
          XDG_CONFIG_HOME="$tmp/home/.config" "$tmp/adv" measure "$tshark" "$@"); }
pers=$(ts -G folders 2>/dev/null | awk -F'\t' '/^Personal Plugins:/ {print $2}')
[ -n "$pers" ] || { echo "FAIL: tshark -G folders gives no personal plugin folder"; exit 1; }
mkdir -p "$pers/epan" && cp "$plugin" "$pers/epan/tcpstate.so" && chmod -R a+rX "$tmp/home"
ts -G plugins 2>/dev/null | grep -qF "$pers/epan/tcpstate.so" \
  || { echo "FAIL: the plugin under test is not the one tshark loads"; exit 1; }

fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# case, size, connections in it (0: count with tshark)
for spec in "syn-flood 20000 20000" "retrans 10000 1" "seq-wrap 20000 501" \
            "rst-only 20000 0" "tw-reuse 4000 4000"; do
  set -- $spec
  name=$1 n=$2 conns=$3
  f=$tmp/$name.pcap
  "$adv" write "$name" "$n" "$f" || { bad "$name: generator"; continue; }
  chmod a+r "$f"
  # full tree, two passes, every statistic: no bug; the output is only searched
  ts -2 -V -r "$name.pcap" -z tcpstate,flows -z tcpstate,states -z flow,tcpstate,network \
    > "$tmp/out" 2> "$tmp/err"
  st=$?
  [ "$st" = 0 ] || bad "$name: tshark -2 -V exit status $st: $(head -n 3 "$tmp/err")"
  if grep -qiE 'dissector bug|malformed packet: tcpstate|tcpstate.*malformed' "$tmp/out"; then
    bad "$name: $(grep -iE -m1 'dissector bug|malformed' "$tmp/out")"
  fi
  if grep -qE 'ERROR|runtime error|Sanitizer|CRITICAL|WARNING \*\*' "$tmp/err"; then
    bad "$name: $(grep -E -m1 'ERROR|runtime error|Sanitizer|CRITICAL|WARNING \*\*' "$tmp/err")"
  fi
  packets=$(grep -c '^Frame [0-9]' "$tmp/out")
  trees=$(grep -c '^\[TCP Endpoint States' "$tmp/out")
  [ "$packets" -gt 0 ] && [ "$trees" = "$packets" ] \
    || bad "$name: $trees plugin trees for $packets packets"
  [ "$(grep -c '^TCP Endpoint States/' "$tmp/out")" = 2 ] || bad "$name: statistics missing"
  if [ "$conns" = 0 ]; then
    conns=$(ts -2 -r "$name.pcap" -T fields -e tcpstate.flow.id 2>/dev/null | sort -u | grep -c .)
  fi
  # memory: the plugin's fields, two passes, against tshark without it
  mts -2 -r "$name.pcap" -T fields -e frame.number -e tcpstate.client.state \
    -e tcpstate.server.state > /dev/null 2> "$tmp/err"
  read -r kb secs st < <(tail -n 1 "$tmp/err")
  [ "$st" = 0 ] || bad "$name: tshark -2 exit status $st"
  mts -2 -r "$name.pcap" -T fields -e frame.number -e tcp.flags --disable-protocol tcpstate \
    > /dev/null 2> "$tmp/err0"
  read -r kb0 secs0 st0 < <(tail -n 1 "$tmp/err0")
  limit=$(( (4 * (300 * packets + 1024 * conns)) / 1024 + 32768 ))
  extra=$(( kb - kb0 ))
  awk -v n="$name" -v p="$packets" -v c="$conns" -v s="$secs" -v s0="$secs0" -v k="$kb" \
      -v k0="$kb0" -v l="$limit" 'BEGIN { printf "plugin   %-10s %7d packets %6d conns  tshark -2 %5.2f s CPU, without the plugin %5.2f s  peak RSS %6.1f MiB, without %6.1f MiB (+%.1f MiB, limit +%.1f MiB)\n", n, p, c, s, s0, k / 1024, k0 / 1024, (k - k0) / 1024, l / 1024 }'
  [ "$extra" -le "$limit" ] || bad "$name: the plugin adds $extra KiB, limit $limit KiB"
  rm -f "$f"
done
[ $fail = 0 ] && echo "plugin_adversarial: all passed"
[ $fail = 0 ]
