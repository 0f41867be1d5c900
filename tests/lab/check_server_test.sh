#!/usr/bin/env bash
# Every experiment again, captured at the server's end of the veth: what the
# capture point sees differs (the server's packets are seen as they leave,
# the client's after the link; crossing FINs look different), and the
# engine must still agree with the kernel on at least 99% of the packets of
# every capture.  The host is left as it was.
#   check_server_test.sh LAB
set -u
lab=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
host_state > "$tmp/before"
"$lab" run --all --capture-at server -d "$tmp/out" > "$tmp/log" 2>&1
check "run --all --capture-at server exits 0" test $? = 0
for x in $("$lab" list | awk '{print $1}'); do
  cap=$tmp/out/$x.pcapng
  check "$x: captured at the server" grep -q "^$x: .* captured at the server" "$tmp/log"
  if [ -s "$cap" ]; then
    out=$("$lab" check "$cap" 2>&1); rc=$?
    [ $rc = 0 ] || printf '%s\n' "$out" | grep -E 'DIFF|agrees'
    check "$x: engine agrees with the kernel (server capture)" test $rc = 0
  else
    check "$x.pcapng written" false
  fi
done
host_state > "$tmp/after"
check "host unchanged" cmp -s "$tmp/before" "$tmp/after"
[ "$fail" = 0 ] || grep -E 'INCOMPLETE|tcpstate-lab:|experiments complete' "$tmp/log"
finish
