# Shared helpers of the tcpstate-lab tests (sourced).
# Lab runs need root: without it the tests exit 77 (CTest: skipped).

pass=0 fail=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $name"; fi
}
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
}
need_root() {
  if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
}

# no_userns UID COMMAND...: COMMAND as UID (0 or 65534, from root) where no
# user namespace can be created: inside a user namespace of its own whose
# user.max_user_namespaces is 0 (the host's limit is not touched).  COMMAND
# drops the capabilities it must not have (setpriv ...).  Where the kernel
# refuses user namespaces to UID anyway, COMMAND runs as UID directly.
no_userns() {
  local uid=$1; shift
  if setpriv --reuid="$uid" --regid="$uid" --clear-groups unshare --user --map-root-user true \
       2> /dev/null; then
    setpriv --reuid="$uid" --regid="$uid" --clear-groups unshare --user --map-root-user sh -c \
      'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"' sh "$@"
  else
    setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
  fi
}

# Everything of the host a lab run must leave alone: nft ruleset, TCP
# sysctls (and the IPv6 defaults the lab sets in its own namespaces),
# interfaces, named namespaces, tracefs instances.
host_state() {
  echo "== nft"; nft list ruleset 2>&1
  echo "== sysctl"
  for f in /proc/sys/net/ipv4/tcp_* /proc/sys/net/ipv6/conf/default/disable_ipv6 \
           /proc/sys/net/ipv6/conf/default/accept_dad \
           /proc/sys/net/ipv6/conf/default/router_solicitations; do
    [ -r "$f" ] && printf '%s=%s\n' "${f#/proc/sys/}" "$(tr '\t' ' ' < "$f" 2>/dev/null)"
  done
  echo "== links"; ip -o link show | sed 's/ qlen [0-9]*//' | awk '{print $2, $3}'
  echo "== addresses"; ip -o addr show | awk '{print $2, $3, $4}'
  echo "== netns"; ls /run/netns 2>/dev/null
  echo "== tracefs instances"
  if [ -d /sys/kernel/tracing/instances ]; then
    ls /sys/kernel/tracing/instances
  elif [ -d /sys/kernel/debug/tracing/instances ]; then
    ls /sys/kernel/debug/tracing/instances
  else
    unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null &&
                      ls /sys/kernel/tracing/instances' 2>/dev/null
  fi
  echo "== mounts"; grep -c tracefs /proc/self/mounts
  # live ones: a janitor reparented to init stays a zombie until init reaps it
  echo "== processes"; lab_runs

}

# Live `tcpstate-lab run` processes (and their janitors; other commands may
# run in parallel tests).
lab_runs() { ps -C tcpstate-lab -o stat=,args= | grep -v '^Z' | grep -c ' run '; }

# Wait (at most 5 s) until no `tcpstate-lab run` process is alive.
wait_gone() {
  for _ in $(seq 50); do
    [ "$(lab_runs)" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}

# `check --packets` columns: no time dir flags seq ack len kclient kserver
# eclient eserver match
packets() { # lab, capture -> table without header/summary/profile lines
  "$1" check --packets --threshold 0 "$2" 2>/dev/null | grep -E '^[0-9]+'$'\t'
}
