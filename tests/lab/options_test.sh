#!/usr/bin/env bash
# run's options: IPv6, capture on the server's side, sock_diag alone (what
# happens without tracefs), the kernel's default timers: the engine still
# agrees, and the section comment says how the capture was made.
set -u
lab=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
host_state > "$tmp/before"
run_check() { # name, file, run options...
  local name=$1 f=$2; shift 2
  "$lab" run "$@" -o "$tmp/$f" -q > "$tmp/$f.log" 2>&1
  check "$name: run exits 0" test $? = 0
  "$lab" check "$tmp/$f" > "$tmp/$f.check" 2>&1
  local rc=$?
  [ $rc = 0 ] || cat "$tmp/$f.check"
  check "$name: engine agrees (>= 99%)" test $rc = 0
}
run_check "close-4way over IPv6" c6.pcapng close-4way --ipv6
check "IPv6 addresses in the section comment" \
  sh -c "'$lab' check --comments '$tmp/c6.pcapng' | grep -q 'ipv6=1 .*client=\"\\?\\[fd77::1\\]'"
run_check "fin-wait-1 over IPv6, captured at the server" f6.pcapng fin-wait-1 --ipv6 --capture-at server
check "capture point in the section comment" \
  sh -c "'$lab' check --comments '$tmp/f6.pcapng' | grep -q 'capture=server'"
run_check "time-wait with sock_diag alone" tw.pcapng time-wait --no-trace
check "sock_diag alone: src=diag" sh -c "'$lab' check --comments '$tmp/tw.pcapng' | grep -q 'kernel .*src=diag'"
# no tracefs at all (hidden in a private mount namespace): a warning, then
# sock_diag alone
unshare -m sh -c "mount -t tmpfs none /sys/kernel && '$lab' run close-4way -o '$tmp/nt.pcapng' -q" \
  > "$tmp/nt.log" 2>&1
check "without tracefs: run exits 0" test $? = 0
check "without tracefs: a warning" grep -q 'warning: tracefs is not available' "$tmp/nt.log"
"$lab" check "$tmp/nt.pcapng" > "$tmp/nt.check" 2>&1
check "without tracefs: engine agrees" test $? = 0
run_check "handshake-close with the default timers" rt.pcapng handshake-close --real-timers
check "--real-timers: real_timers=1 and tcp_fin_timeout=60" \
  sh -c "'$lab' check --comments '$tmp/rt.pcapng' | grep -q 'real_timers=1 .*sysctl.tcp_fin_timeout=60 '"
"$lab" run syn-sent -o "$tmp/ss.pcapng" -q > /dev/null 2>&1
check "scaled timers: syn-sent records tcp_syn_retries=1" \
  sh -c "'$lab' check --comments '$tmp/ss.pcapng' | grep -q 'sysctl.tcp_syn_retries=1 '"
host_state > "$tmp/after"
check "host unchanged" cmp -s "$tmp/before" "$tmp/after"
finish
