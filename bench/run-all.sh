#!/usr/bin/env bash
# Run every benchmark and rewrite bench/RESULTS.md: the machine, the date,
# each command, its output and its ratios (full size), and the small-size
# ratios the CTest "bench" (bench/check.sh) holds later runs to.
#
#   bench/run-all.sh [BUILD_DIR]      (default build; a Release build)
#
# Needs tcptrace (tools/setup.sh installs it); the plugin's benchmark runs
# when BUILD_DIR has the plugin.  Takes about 2 minutes.  Run it on a quiet
# machine: the ratios hold up under load better than times do, not fully.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=$(realpath --relative-to=. "${1:-build}")
. bench/lib.sh
[ -x "$build/bench/bench_engine" ] || { echo "run-all.sh: build first ($build/bench/bench_engine)" >&2; exit 2; }
groups=(engine engine-live analyze)
if [ -f "$build/plugin/tcpstate.so" ]; then groups+=(plugin); fi

BENCH_LOG=$(mktemp)
export BENCH_LOG
trap 'rm -f "$BENCH_LOG"' EXIT
declare -A full ci
for g in "${groups[@]}"; do
  echo "== $g" >&2
  full[$g]=$(bench_group "$g" "$build" full)
  ci[$g]=$(bench_group "$g" "$build" ci)
  printf '%s\n' "${full[$g]}" >&2
done

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
git diff --quiet HEAD -- engine pkt capture-helper plugin bench 2> /dev/null || commit="$commit with local changes"
out=bench/RESULTS.md
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bench/run-all.sh $build\`; run it again to update (do not edit"
  echo "by hand: \`bench/check.sh\` reads the budgets below)."
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $cpu, $(nproc) cores, $mem; Linux $(uname -r)," \
       "Debian $(cat /etc/debian_version 2> /dev/null || echo '?')"
  echo "- tools: $(tshark --version 2> /dev/null | head -n 1 || echo 'no tshark');" \
       "tcptrace $(tcptrace -v 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -n 1);" \
       "$(dpkg-query -W -f='libpcap ${Version}' libpcap0.8 2> /dev/null || echo 'libpcap ?')"
  echo "- tree: $commit"
  echo
  echo "Every figure is a ratio of two times measured in the same run, the"
  echo "thing measured over its baseline: above 1 it is slower than the"
  echo "baseline, below 1 faster. Times are the best of several runs."
  echo
  echo "## Figures"
  echo
  echo "| key | ratio | what over what | command |"
  echo "|---|---|---|---|"
  for g in "${groups[@]}"; do
    while read -r k v; do
      case $k in
      engine) what="engine one-pass time per segment over a plain loop's, 1,000 connections interleaved" ;;
      engine-live) what="same, 100,000 connections all open at once" ;;
      analyze/bare) what="\`analyze --flows\` (two passes) over one bare libpcap read of the file" ;;
      analyze/tcptrace) what="\`analyze --flows\` over \`tcptrace -n -l\`" ;;
      plugin/tshark) what="tshark with the plugin's fields over tshark with tcpstate disabled" ;;
      plugin2/tshark) what="same with \`tshark -2\` (two-pass)" ;;
      *) what="" ;;
      esac
      echo "| \`$k\` | $v | $what | \`$(bench_command "$g" "$build" full)\` |"
    done <<< "${full[$g]}"
  done
  echo
  echo "What the commands printed:"
  echo
  echo '```'
  cat "$BENCH_LOG" | grep -v '^(checksum' | sed -e '/^$/N;/^\n$/D'
  echo '```'
  echo
  echo "## Budgets (CTest label \`bench\`)"
  echo
  echo "\`ctest -L bench\` (\`bench/check.sh\`) runs these small versions and fails"
  echo "when a ratio comes out more than twice the one recorded here (measured"
  echo "twice before it fails). It never looks at absolute times."
  echo
  echo "| key | ratio | fails above | command |"
  echo "|---|---|---|---|"
  for g in "${groups[@]}"; do
    while read -r k v; do
      echo "| \`$k\` | $v | $(awk -v v="$v" 'BEGIN { printf "%.2f", 2 * v }') | \`$(bench_command "$g" "$build" ci)\` |"
    done <<< "${ci[$g]}"
  done
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out" >&2
