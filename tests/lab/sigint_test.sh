#!/usr/bin/env bash
# SIGINT / SIGTERM in the middle of a run: clean exit (128 + signal), the
# partial capture closed properly (readable, kernel comments), nothing left
# behind (rules, namespaces' interfaces, sysctls, tracefs instance,
# processes).  And SIGKILL: the namespaces go with the process and the
# tracefs instance is removed by the janitor.
set -u
lab=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
host_state > "$tmp/before"

# SIGINT while the orphan retransmits its FIN
"$lab" run fin-wait-1 -o "$tmp/int.pcapng" > "$tmp/int.log" 2>&1 &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid; rc=$?
check "SIGINT: exit 130" test $rc = 130
check "SIGINT: says so" grep -q 'interrupted by SIGINT' "$tmp/int.log"
"$lab" check --packets --threshold 0 "$tmp/int.pcapng" > "$tmp/int.check" 2>&1
check "SIGINT: partial capture readable" test $? = 0
check "SIGINT: partial capture has packets with kernel comments" \
  test "$(grep -c $'^[0-9]*\t.*\t\(ok\|DIFF\)$' "$tmp/int.check")" -ge 8
check "SIGINT: no packet without a kernel comment" test "$(grep -c NOKERNEL "$tmp/int.check")" = 0
host_state > "$tmp/after1"
if ! diff -u "$tmp/before" "$tmp/after1"; then :; fi
check "SIGINT: host unchanged" cmp -s "$tmp/before" "$tmp/after1"

# SIGTERM during run --all: the experiments not run leave no file
mkdir "$tmp/all"
"$lab" run --all -d "$tmp/all" > "$tmp/term.log" 2>&1 &
pid=$!
sleep 4
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM: exit 143" test $rc = 143
check "SIGTERM: says interrupted" grep -q 'interrupted by SIGTERM' "$tmp/term.log"
n=$(ls "$tmp/all" | wc -l)
check "SIGTERM: only the experiments run have files ($n)" test "$n" -ge 2 -a "$n" -le 6
for f in "$tmp"/all/*.pcapng; do
  "$lab" check --threshold 0 "$f" > /dev/null 2>&1
  check "SIGTERM: $(basename "$f") readable" test $? = 0
done
host_state > "$tmp/after2"
if ! diff -u "$tmp/before" "$tmp/after2"; then :; fi
check "SIGTERM: host unchanged" cmp -s "$tmp/before" "$tmp/after2"

# SIGKILL: nothing can be cleaned up by the helper itself
"$lab" run fin-wait-1 -o "$tmp/kill.pcapng" > /dev/null 2>&1 &
pid=$!
sleep 1.5
kill -KILL $pid
wait $pid 2>/dev/null
check "SIGKILL: the janitor ends" wait_gone
host_state > "$tmp/after3"
if ! diff -u "$tmp/before" "$tmp/after3"; then :; fi
check "SIGKILL: host unchanged (namespaces gone, instance removed)" cmp -s "$tmp/before" "$tmp/after3"
"$lab" check --threshold 0 "$tmp/kill.pcapng" > /dev/null 2>&1
check "SIGKILL: what was written is readable" test $? = 0
finish
