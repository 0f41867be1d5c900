#!/usr/bin/env bash
# tcpstate-lab's command line: list, help of every command, unknown
# experiment, no privileges, unwritable output, check on other captures.
set -u
lab=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$lab" list > "$tmp/list"
check "list exits 0" test $? = 0
for x in handshake-close close-4way syn-sent syn-recv fin-wait-1 fin-wait-2 close-wait time-wait \
         keepalive keepalive-dead simultaneous-close half-close abort-linger0 abort-unread refused \
         tw-reuse; do
  check "list names $x" grep -q "^$x " "$tmp/list"
done
check "list: one line each" test "$(wc -l < "$tmp/list")" -ge 16
"$lab" list -v > "$tmp/listv"; check "list -v describes the rules" grep -q 'rule (server, input)' "$tmp/listv"
for c in list run analyze check; do
  "$lab" $c --help > "$tmp/help" 2>&1
  check "$c --help exits 0" test $? = 0
  check "$c --help prints a usage" grep -q "usage: tcpstate-lab $c" "$tmp/help"
done
"$lab" --help > "$tmp/help"; check "--help lists run and check" grep -q 'check' "$tmp/help"

"$lab" run no-such-experiment > "$tmp/out" 2> "$tmp/err"
check "unknown experiment: exit 2" test $? = 2
check "unknown experiment: the list" grep -q '^fin-wait-1 ' "$tmp/err"
"$lab" run > /dev/null 2> "$tmp/err"; check "no experiment: exit 2" test $? = 2
"$lab" run --bogus x > /dev/null 2>&1; check "bad option: exit 2" test $? = 2
"$lab" run --all > /dev/null 2>&1; check "--all without -d: exit 2" test $? = 2

if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
  # (where user namespaces can be made, run works without root: lab.userns)
  no_userns 65534 setpriv --inh-caps=-all --bounding-set=-all \
    "$lab" run close-4way -o "$tmp/x.pcapng" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  check "not root: exit 2" test $rc = 2
  check "not root: one line" test "$(wc -l < "$tmp/err")" = 1
  check "not root: says root" grep -q 'needs root' "$tmp/err"
  check "not root: nothing run" test ! -s "$tmp/out"
  # root without CAP_NET_ADMIN
  no_userns 0 setpriv --inh-caps=-net_admin --bounding-set=-net_admin \
    "$lab" run close-4way -o "$tmp/x.pcapng" > /dev/null 2> "$tmp/err"
  check "no CAP_NET_ADMIN: exit 2" test $? = 2
  start=$(date +%s%N)
  "$lab" run close-4way -o "$tmp/no/such/dir/x.pcapng" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  took=$(( ($(date +%s%N) - start) / 1000000 ))
  check "unwritable output: exit 1" test $rc = 1
  check "unwritable output: says so" grep -q 'cannot write' "$tmp/err"
  check "unwritable output: nothing run" test ! -s "$tmp/out"
  check "unwritable output: fails at once ($took ms)" test $took -lt 1000
  : > "$tmp/file" # a directory cannot be made under a file, even by root
  "$lab" run --all -d "$tmp/file/sub" > "$tmp/out" 2> "$tmp/err"
  check "unwritable directory: exit 1" test $? = 1
  check "unwritable directory: nothing run" test ! -s "$tmp/out"
else
  echo "(not root: privilege tests skipped)"
fi

"$lab" check "$root/captures/sample.pcap" > /dev/null 2> "$tmp/err"
check "check on a capture without lab comments: exit 2" test $? = 2
check "check: says why" grep -q 'not a tcpstate-lab capture' "$tmp/err"
"$lab" check "$tmp/nothing.pcapng" > /dev/null 2>&1
check "check on a missing file: exit 2" test $? = 2
"$lab" check > /dev/null 2>&1; check "check without a file: exit 2" test $? = 2
finish
