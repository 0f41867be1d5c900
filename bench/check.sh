#!/usr/bin/env bash
# The CTest "bench": the small versions of one benchmark group, held to the
# budgets of bench/RESULTS.md (written by bench/run-all.sh).  Fails when a
# ratio is more than twice the one recorded, in two measurements running;
# never on absolute times.
#
#   bench/check.sh BUILD_DIR GROUP     (GROUP: engine, engine-live, analyze, plugin)
set -uo pipefail
build=${1:?usage: check.sh BUILD_DIR GROUP} group=${2:?usage: check.sh BUILD_DIR GROUP}
root=$(cd "$(dirname "$0")/.." && pwd)
results=$root/bench/RESULTS.md
. "$root/bench/lib.sh"
build=$(realpath "$build")

# recorded ratio and limit of KEY from the budgets table
budget() {
  awk -F'|' -v k="\`$1\`" '/^## Budgets/ {b=1} b && $2 ~ /`/ {gsub(/ /, "", $2); if ($2 == k) {gsub(/ /, "", $3); gsub(/ /, "", $4); print $3, $4; exit}}' "$results"
}

fail=0
for attempt in 1 2; do
  got=$(bench_group "$group" "$build" ci) || { echo "FAIL: the benchmark did not run"; exit 1; }
  [ -n "$got" ] || { echo "FAIL: no ratio from $(bench_command "$group" "$build" ci)"; exit 1; }
  fail=0
  while read -r key ratio; do
    read -r rec limit <<< "$(budget "$key")"
    if [ -z "${limit:-}" ]; then
      echo "FAIL: $key: no budget in bench/RESULTS.md (run bench/run-all.sh)"
      exit 1
    fi
    if awk -v r="$ratio" -v l="$limit" 'BEGIN { exit !(r > 0 && r <= l) }'; then
      echo "ok: $key ratio $ratio (recorded $rec, fails above $limit)"
    else
      echo "over budget: $key ratio $ratio (recorded $rec, fails above $limit), attempt $attempt"
      fail=1
    fi
  done <<< "$got"
  [ $fail = 0 ] && break
done
[ $fail = 0 ] || echo "FAIL: $group over budget twice"
exit $fail
