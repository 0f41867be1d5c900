#!/usr/bin/env bash
# Record captures/sample.pcap from the real kernel: two network namespaces
# joined by veth, a drop rule inside the server's namespace, tcpdump on the
# client's side.  Run as root.  Removes everything it made on exit.
#   tools/record-sample.sh [OUTPUT]
set -euo pipefail
out=${1:-captures/sample.pcap}
here=$(cd "$(dirname "$0")" && pwd)
C=tcps-sample-c S=tcps-sample-s
cleanup() {
  [ -n "${dump:-}" ] && kill "$dump" 2>/dev/null || true
  ip netns del $C 2>/dev/null || true
  ip netns del $S 2>/dev/null || true
  rm -f /tmp/tcps-sample-ready /tmp/tcps-sample-drop
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "record-sample.sh: needs root (network namespaces)" >&2; exit 2; }
cleanup
ip netns add $C; ip netns add $S
ip link add tcps-c0 netns $C type veth peer name tcps-s0 netns $S
ip -n $C addr add 10.99.0.1/24 dev tcps-c0; ip -n $C link set tcps-c0 up; ip -n $C link set lo up
ip -n $S addr add 10.99.0.2/24 dev tcps-s0; ip -n $S link set tcps-s0 up; ip -n $S link set lo up
# the kernel's default timers: the run takes about two minutes
ip netns exec $C tcpdump -q -U -i tcps-c0 -w "$out" tcp 2>/dev/null & dump=$!
ip netns exec $S python3 "$here/sample_peer.py" server & srv=$!
while [ ! -e /tmp/tcps-sample-ready ]; do sleep 0.05; done
ip netns exec $C python3 "$here/sample_peer.py" client & cli=$!
while [ ! -e /tmp/tcps-sample-drop ]; do sleep 0.05; done
# the server's kernel never sees the client's FIN on port 8082
ip netns exec $S nft -f - <<'NFT'
table inet tcps_sample {
  chain in {
    type filter hook input priority 0;
    tcp dport 8082 tcp flags & fin == fin drop
  }
}
NFT
wait $cli
sleep 0.5
kill $srv 2>/dev/null || true
kill -INT $dump; wait $dump 2>/dev/null || true; dump=
echo "wrote $out"
