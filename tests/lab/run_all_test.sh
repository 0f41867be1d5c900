#!/usr/bin/env bash
# tcpstate-lab run --all with the scaled timers: every experiment completes,
# the whole run takes at most 60 s, every capture is written, and the host
# is exactly as before (rules, sysctls, interfaces, tracefs instances).
# The captures are the fixture of the lab.exp.* and lab.check.* tests.
set -u
lab=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
rm -rf "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
host_state > "$tmp/before"
start=$(date +%s%N)
"$lab" run --all -d "$out" > "$tmp/log" 2>&1
rc=$?
secs=$(( ($(date +%s%N) - start) / 1000000000 ))
host_state > "$tmp/after"
cp "$tmp/log" "$out/run.log" 2>/dev/null
check "run --all exits 0 (see $out/run.log)" test $rc = 0
check "run --all takes at most 60 s (took $secs s)" test $secs -le 60
check "16 of 16 complete" grep -q '^16 of 16 experiments complete' "$tmp/log"
for x in $("$lab" list | awk '{print $1}'); do
  check "$x.pcapng written" test -s "$out/$x.pcapng"
  check "$x: summary line" grep -q "^$x: .* wrote $out/$x.pcapng" "$tmp/log"
done
check "progress: states as they change" grep -q 'ESTABLISHED -> FIN_WAIT_1' "$tmp/log"
check "progress: timers" grep -q 'timer on(' "$tmp/log"
check "progress: rules" grep -q 'rule added in the server' "$tmp/log"
if ! diff -u "$tmp/before" "$tmp/after" > "$tmp/diff"; then cat "$tmp/diff"; fi
check "host unchanged after run --all" cmp -s "$tmp/before" "$tmp/after"
if [ "$fail" != 0 ]; then
  echo "--- run.log (incomplete experiments and errors)"
  grep -E 'INCOMPLETE|tcpstate-lab:|!!|experiments complete' "$tmp/log"
fi
finish
