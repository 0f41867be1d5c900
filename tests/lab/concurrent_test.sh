#!/usr/bin/env bash
# Two tcpstate-lab runs at once must not interfere: fin-wait-1 next to
# syn-sent, time-wait next to itself, close-4way over IPv4 next to itself
# over IPv6.  Each run exits 0, its capture holds only its own connection
# (its client port, server port 8080, its address family), has the packet
# sequence and kernel states experiment_test.sh asserts for it, and
# `tcpstate-lab check` agrees on it; the host is unchanged afterwards.
#   concurrent_test.sh LAB
set -u
lab=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
host_state > "$tmp/before"

# client_port FILE: the client's port from the section comment
client_port() {
  "$lab" check --comments --threshold 0 "$1" 2>/dev/null |
    sed -n 's/^section: .* client="\{0,1\}\[\{0,1\}[0-9a-f.:]*\]\{0,1\}:\([0-9]*\).*/\1/p' | head -1
}
# only_own FILE PORT V6: every TCP packet is between PORT and 8080, over
# IPv6 (V6=1) or IPv4
only_own() {
  local f=$1 port=$2 v6=$3 bad
  tshark -r "$f" -T fields -e tcp.srcport -e tcp.dstport -e ip.version -e ipv6.version \
    > "$tmp/ports" 2>/dev/null || { echo "  tshark cannot read $f"; return 1; }
  [ -s "$tmp/ports" ] || { echo "  no packets in $f"; return 1; }
  bad=$(awk -F'\t' -v p="$port" -v v6="$v6" '
    !(($1==p && $2==8080) || ($1==8080 && $2==p)) || (v6 ? $4!=6 : $3!=4) {n++}
    END {print n+0}' "$tmp/ports")
  [ "$bad" = 0 ] || { echo "  $bad packets in $(basename "$f") not of its own connection:"; sort -u "$tmp/ports" | head; return 1; }
}

pair=0
together() { # NAME_A OPTS_A -- NAME_B OPTS_B  (OPTS as one word, may be empty)
  local xa=$1 oa=$2 xb=$3 ob=$4
  pair=$((pair + 1))
  local da=$tmp/p$pair-a db=$tmp/p$pair-b
  mkdir -p "$da" "$db"
  echo "== $xa${oa:+ $oa} together with $xb${ob:+ $ob}"
  # shellcheck disable=SC2086
  "$lab" run "$xa" $oa -o "$da/$xa.pcapng" > "$da/log" 2>&1 & local pa=$!
  # shellcheck disable=SC2086
  "$lab" run "$xb" $ob -o "$db/$xb.pcapng" > "$db/log" 2>&1 & local pb=$!
  wait $pa; local ra=$?
  wait $pb; local rb=$?
  check "$xa: run exits 0 (see its log below)" test $ra = 0
  check "$xb: run exits 0 (see its log below)" test $rb = 0
  [ $ra = 0 ] || tail -5 "$da/log"
  [ $rb = 0 ] || tail -5 "$db/log"
  local porta portb
  porta=$(client_port "$da/$xa.pcapng") portb=$(client_port "$db/$xb.pcapng")
  check "client ports recorded ($porta, $portb)" test -n "$porta" -a -n "$portb"
  local v6a=0 v6b=0
  case " $oa " in *" --ipv6 "*) v6a=1 ;; esac
  case " $ob " in *" --ipv6 "*) v6b=1 ;; esac
  check "$xa: only its own connection in the capture" only_own "$da/$xa.pcapng" "$porta" $v6a
  check "$xb: only its own connection in the capture" only_own "$db/$xb.pcapng" "$portb" $v6b
  local out
  out=$("$here/experiment_test.sh" "$lab" "$da" "$xa" 2>&1)
  check "$xa: the experiment's packet sequence and kernel states" test $? = 0
  echo "$out" | grep FAIL
  out=$("$here/experiment_test.sh" "$lab" "$db" "$xb" 2>&1)
  check "$xb: the experiment's packet sequence and kernel states" test $? = 0
  echo "$out" | grep FAIL
  local d x rc
  for d in "$da:$xa" "$db:$xb"; do
    x=${d##*:} d=${d%:*}
    "$lab" check "$d/$x.pcapng" > "$d/check" 2>&1; rc=$?
    check "$x: tcpstate-lab check agrees" test $rc = 0
    [ $rc = 0 ] || tail -15 "$d/check"
  done
}

together fin-wait-1 "" syn-sent ""
together time-wait "" time-wait ""
together close-4way "" close-4way "--ipv6"

check "no run left" wait_gone
host_state > "$tmp/after"
if ! cmp -s "$tmp/before" "$tmp/after"; then diff -u "$tmp/before" "$tmp/after"; fi
check "host unchanged" cmp -s "$tmp/before" "$tmp/after"
finish
