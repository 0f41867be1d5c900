# The measurements behind bench/RESULTS.md (sourced by run-all.sh and
# check.sh).  Every figure is a ratio of two times measured in the same run:
# the thing measured over its baseline, so above 1 it is slower, and a
# regression makes it grow.
#
# bench_group GROUP BUILD SIZE prints "KEY RATIO" lines; SIZE is "ci" (small,
# a few seconds: what the CTest "bench" runs) or "full" (the sizes quoted in
# bench/RESULTS.md and README.md).  bench_command GROUP BUILD SIZE prints the
# command that produces them.  Full runs also leave the measuring command's
# own output in $BENCH_LOG (if set).
#
#   group    keys                              baseline
#   engine   engine                            plain loop over the same segments (bench_engine)
#   engine-live engine-live                    same, every connection open at once
#   analyze  analyze/bare analyze/tcptrace     bare libpcap loop, tcptrace -n -l (analyze.sh)
#   plugin   plugin/tshark plugin2/tshark      tshark without the plugin (tshark_plugin.sh)

bench_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

bench_command() { # group build size
  local g=$1 b=$2 s=$3
  case $g/$s in
  engine/ci)        echo "$b/bench/bench_engine --flows 2000 --segments 1000000 --repeat 5" ;;
  engine/full)      echo "$b/bench/bench_engine --flows 1000 --segments 1000000" ;;
  engine-live/ci)   echo "$b/bench/bench_engine --flows 100000 --segments 1000000 --repeat 2" ;;
  engine-live/full) echo "$b/bench/bench_engine --flows 100000 --segments 1000000" ;;
  analyze/ci)       echo "bench/analyze.sh $b 200000 5 300" ;;
  analyze/full)     echo "bench/analyze.sh $b 1000000 3 1000" ;;
  plugin/ci)        echo "bench/tshark_plugin.sh $b 3000 1" ;;
  plugin/full)      echo "bench/tshark_plugin.sh $b 12000 3" ;;
  *) echo "bench_command: unknown group/size $g/$s" >&2; return 2 ;;
  esac
}

bench_group() { # group build size
  local g=$1 b=$2 s=$3 cmd out
  cmd=$(bench_command "$g" "$b" "$s") || return 2
  out=$(cd "$bench_src/.." && $cmd 2>&1) || { echo "$out" >&2; echo "bench: '$cmd' failed" >&2; return 1; }
  [ -n "${BENCH_LOG:-}" ] && printf '$ %s\n%s\n\n' "$cmd" "$out" >> "$BENCH_LOG"
  case $g in
  engine | engine-live) echo "$out" | awk -v k="$g" '/^ratio/ {print k, $2}' ;;
  analyze) echo "$out" | awk '$1=="ratio" && ($2=="analyze/bare" || $2=="analyze/tcptrace") {print $2, $3}' ;;
  plugin)
    echo "$out" | awk '/one pass/ {print "plugin/tshark", $NF} /two passes/ {print "plugin2/tshark", $NF}' ;;
  esac
}
