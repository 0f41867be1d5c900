#!/usr/bin/env bash
# tcpstate-lab analyze --flows against tcptrace and a bare libpcap read loop,
# on the same generated capture in the same run.
#
#   bench/analyze.sh [BUILD_DIR] [PACKETS] [RUNS] [CONCURRENT]
#
# BUILD_DIR (default build) must hold capture-helper/tcpstate-lab,
# bench/bench_gen_capture and bench/bench_pcap_loop.  The capture: PACKETS
# packets (default 1,000,000) over connections of which CONCURRENT (default
# 1,000) are open at a time (bench/gen_capture.c), headers only.  Each
# command runs RUNS times (default 3), the commands taking turns; the best
# wall time of each counts.  Output to /dev/null.
#   bare loop        bench_pcap_loop FILE      (one pass over the file)
#   bare loop x2     bench_pcap_loop FILE 2    (two passes, as analyze's default)
#   analyze          tcpstate-lab analyze --flows FILE   (two passes)
#   analyze 1-pass   tcpstate-lab analyze --flows --one-pass FILE
#   tcptrace         tcptrace -n -l FILE
# Every command must report the capture's packet count.  The last lines are
# "ratio NAME VALUE" (time of the first over time of the second; below 1 the
# first is faster):
#   ratio analyze/bare, analyze/bare2, analyze1/bare, analyze/tcptrace
set -euo pipefail
build=${1:-build} packets=${2:-1000000} runs=${3:-3} conc=${4:-1000}
lab=$build/capture-helper/tcpstate-lab gen=$build/bench/bench_gen_capture
loop=$build/bench/bench_pcap_loop
for f in "$lab" "$gen" "$loop"; do
  [ -x "$f" ] || { echo "analyze.sh: $f missing (build first)" >&2; exit 2; }
done
tcptrace=$(command -v tcptrace) || { echo "analyze.sh: tcptrace not found (apt-get install tcptrace)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cap=$tmp/bench.pcap
"$gen" "$cap" --packets "$packets" --concurrent "$conc"

# the packet count each tool reports (a tool that read less is not measured)
n_loop=$("$loop" "$cap" | awk '{print $1}')
n_lab=$("$lab" analyze --flows "$cap" 2>&1 > /dev/null | awk '/^tcpstate-lab: [0-9]+ packets/ {print $2}')
"$tcptrace" -n -l "$cap" > "$tmp/tcptrace.out" 2> /dev/null
n_tt=$(awk '/packets seen/ {print $1; exit}' "$tmp/tcptrace.out")
for n in "$n_loop" "$n_lab" "$n_tt"; do
  [ "$n" = "$packets" ] || {
    echo "analyze.sh: packet counts differ: bare loop $n_loop, analyze $n_lab, tcptrace $n_tt, generated $packets" >&2
    exit 1
  }
done

names=(bare bare2 analyze analyze1 tcptrace)
cmds=("$loop $cap" "$loop $cap 2" "$lab analyze --flows $cap" "$lab analyze --flows --one-pass $cap"
      "$tcptrace -n -l $cap")
declare -A best
for _ in $(seq "$runs"); do
  for i in "${!names[@]}"; do
    s=$(date +%s%N)
    ${cmds[$i]} > /dev/null 2>&1
    e=$(date +%s%N)
    b=${best[${names[$i]}]:-}
    if [ -z "$b" ] || [ $((e - s)) -lt "$b" ]; then best[${names[$i]}]=$((e - s)); fi
  done
done

echo "capture: $packets packets, $conc connections open at a time, $(du -h "$cap" | cut -f1) (bench_gen_capture)"
label=("bare libpcap loop (bench_pcap_loop)" "bare libpcap loop, two passes"
       "tcpstate-lab analyze --flows (two passes)" "tcpstate-lab analyze --flows --one-pass"
       "tcptrace -n -l")
for i in "${!names[@]}"; do
  awk -v l="${label[$i]}" -v ns="${best[${names[$i]}]}" -v n="$packets" \
    'BEGIN { printf "%-44s %8.3f s %12.0f packets/s\n", l, ns / 1e9, n / (ns / 1e9) }'
done
ratio() { awk -v a="${best[$2]}" -v b="${best[$3]}" -v k="$1" 'BEGIN { printf "ratio %s %.2f\n", k, a / b }'; }
ratio analyze/bare analyze bare
ratio analyze/bare2 analyze bare2
ratio analyze1/bare analyze1 bare
ratio analyze/tcptrace analyze tcptrace
