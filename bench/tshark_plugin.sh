#!/usr/bin/env bash
# What the Wireshark plugin costs tshark: the same generated capture (at
# least 200,000 packets over at least 10,000 interleaved connections) read
#   1. with the plugin's fields,
#   2. with --disable-protocol tcpstate and plain TCP fields,
# each best of N runs, and the ratio.  Also the two-pass read (tshark -2).
#
#   bench/tshark_plugin.sh [BUILD_DIR] [FLOWS] [RUNS]
#
# Needs a build with the plugin (BUILD_DIR/plugin/tcpstate.so and
# tcpstate-plugin-gen).  The plugin goes into the personal plugin folder of
# a throw-away HOME; as root, tshark runs as nobody (it ignores personal
# plugins for root).
set -euo pipefail
build=${1:-build} flows=${2:-12000} runs=${3:-3}
plugin=$build/plugin/tcpstate.so gen=$build/plugin/tcpstate-plugin-gen
[ -f "$plugin" ] && [ -x "$gen" ] || { echo "build the plugin first ($plugin, $gen)" >&2; exit 2; }
tshark=$(command -v tshark) || { echo "tshark not found" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/home" && chmod 777 "$tmp/home"
run_as=()
[ "$(id -u)" = 0 ] && run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
mkdir -p "$tmp/noglobal" # hides a tcpstate.so installed in the global plugin folder
ts() { (cd "$tmp" && "${run_as[@]}" env HOME="$tmp/home" WIRESHARK_PLUGIN_DIR="$tmp/noglobal" WIRESHARK_EXTCAP_DIR="$tmp/noglobal" "$tshark" "$@"); }
pers=$(ts -G folders 2>/dev/null | awk -F'\t' '/^Personal Plugins:/ {print $2}')
mkdir -p "$pers/epan" && cp "$plugin" "$pers/epan/" && chmod -R a+rX "$tmp/home"

"$gen" bench "$tmp/bench.pcap" "$flows"
chmod a+r "$tmp/bench.pcap"
if command -v capinfos > /dev/null; then # (a tshark run just to count costs seconds)
  packets=$(capinfos -c -M "$tmp/bench.pcap" | awk -F': *' '/^Number of packets/ {print $2}')
else
  packets=$(ts -r bench.pcap -T fields -e frame.number --disable-protocol tcpstate 2>/dev/null | wc -l)
fi
echo "capture: $packets packets, $flows connections ($(du -h "$tmp/bench.pcap" | cut -f1))"

best() { # best wall time in seconds of $runs runs of tshark "$@"
  local b="" s e
  for _ in $(seq "$runs"); do
    s=$(date +%s%N)
    ts "$@" > /dev/null 2>&1
    e=$(date +%s%N)
    if [ -z "$b" ] || [ $((e - s)) -lt "$b" ]; then b=$((e - s)); fi
  done
  awk -v ns="$b" 'BEGIN { printf "%.3f", ns / 1e9 }'
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

plain=$(best -r bench.pcap --disable-protocol tcpstate -T fields -e frame.number \
        -e tcp.srcport -e tcp.dstport -e tcp.flags)
one=$(best -r bench.pcap -T fields -e frame.number -e tcpstate.client.state \
      -e tcpstate.server.state -e tcpstate.transition)
two=$(best -2 -r bench.pcap -T fields -e frame.number -e tcpstate.client.state \
      -e tcpstate.server.state -e tcpstate.transition)
printf '%-46s %8s s %10.0f packets/s\n' "plain TCP fields, tcpstate disabled" "$plain" \
  "$(calc "$packets / $plain")"
printf '%-46s %8s s %10.0f packets/s  ratio %s\n' "tcpstate fields, one pass (tshark -r)" "$one" \
  "$(calc "$packets / $one")" "$(calc "$one / $plain")"
printf '%-46s %8s s %10.0f packets/s  ratio %s\n' "tcpstate fields, two passes (tshark -2 -r)" "$two" \
  "$(calc "$packets / $two")" "$(calc "$two / $plain")"
