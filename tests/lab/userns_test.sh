#!/usr/bin/env bash
# tcpstate-lab run without root, in a user namespace of its own: a real
# experiment (fin-wait-1: nft rule, scaled per-namespace sysctl, capture,
# sock_diag) as nobody, its packets and kernel comments; the host unchanged;
# and the one-line error where no user namespace can be created.
#   userns_test.sh LAB
# As root the runs are made as nobody (setpriv); as another user, as that
# user.  Exit 77 (skipped) when the kernel refuses user namespaces to it.
set -u
lab=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v setpriv > /dev/null && command -v unshare > /dev/null ||
  { echo "SKIP: needs setpriv and unshare (util-linux)"; exit 77; }
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups
                                --inh-caps=-all --bounding-set=-all)
if ! "${as_user[@]}" unshare --user --map-root-user --net true 2> /dev/null; then
  echo "SKIP: the kernel does not allow this user a user namespace"
  echo "  (kernel.unprivileged_userns_clone=$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo n/a)," \
       "user.max_user_namespaces=$(cat /proc/sys/user/max_user_namespaces))"
  exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp"
before=$(host_state)

cap=$tmp/fin-wait-1.pcapng
"${as_user[@]}" "$lab" run fin-wait-1 -o "$cap" > "$tmp/out" 2> "$tmp/err"
rc=$?
check "unprivileged run: exit 0" test $rc = 0
check "unprivileged run: summary line" grep -q '^fin-wait-1: .* packets captured at the client' "$tmp/out"
check "unprivileged run: warns that tracefs is not used" grep -q 'warning: not root: .*sock_diag alone' "$tmp/err"
check "unprivileged run: nothing else on stderr" test "$(wc -l < "$tmp/err")" = 1
check "capture written, owned by the caller" test -s "$cap" -a "$(stat -c %u "$cap")" = "$("${as_user[@]}" id -u)"

t=$tmp/table
packets "$lab" "$cap" > "$t"
"$lab" check --comments --threshold 0 "$cap" > "$tmp/comments" 2>&1
a() { awk -F'\t' "$1" "$t"; }
has() { grep -q -- "$1" "$tmp/comments"; }
check "packets captured" test -s "$t"
check "handshake: SYN, SYN-ACK, ACK" test "$(head -n 3 "$t" | cut -f3,4 | tr '\t\n' ' ;')" = "C>S S;S>C SA;C>S A;"
check "a kernel comment on every packet" a '$12=="NOKERNEL"{bad=1} END{exit bad}'
check "kernel states from sock_diag (no tracepoint)" has 'kernel client=.* src=diag'
check "no tracepoint source" sh -c "! grep -q 'src=trace' '$tmp/comments'"
# the nft rule in the server's namespace drops the FIN: retransmitted, never ACKed
check "rule added in a comment" has 'rule .*action=add text="tcp dport 8080 tcp flags & fin == fin drop" side=server'
check "at least 3 FIN retransmissions" a '$3=="C>S"&&$4~/F/{if(s=="")s=$5; if($5==s)n++} END{exit !(n>=4)}'
check "the FIN is never acknowledged" a '$3=="C>S"&&$4~/F/{e=$5+1} $3=="S>C"&&e!=""&&$6==e{b=1} END{exit b}'
check "client FIN_WAIT_1 at every FIN" a '$3=="C>S"&&$4~/F/&&$8!="FIN_WAIT_1"{b=1} END{exit b}'
check "kernel timer on(...) of the FIN" has 'client.timer=on('
# the namespace's own tcp_orphan_retries=2 (the host's is untouched): the
# orphan gives up after seconds, then RSTs the server's late data
check "section comment: the lab's sysctl" has '^section: .* sysctl.tcp_orphan_retries=2 '
check "client CLOSED (silently) before the server's data" a '$3=="C>S"&&$4~/F/{f=1} f&&$3=="S>C"&&$7>0&&$8=="CLOSED"{ok=1} END{exit !ok}'
check "the orphan gave up within 10 s" a '$3=="S>C"&&$7>0&&$8=="CLOSED"{if($2<10)ok=1} END{exit !ok}'
check "RST from the client at the end" test "$(tail -n 1 "$t" | cut -f3,4)" = "C>S"$'\t'"R"
"$lab" check "$cap" > /dev/null 2>&1
check "engine agrees with the kernel (check, 99 %)" test $? = 0
check "no run left" wait_gone
after=$(host_state)
check "host unchanged" test "$before" = "$after"
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after")

# where no user namespace can be made: one line, exit 2, nothing written
if [ "$(id -u)" = 0 ]; then
  no_userns 65534 setpriv --inh-caps=-all --bounding-set=-all \
    "$lab" run close-4way -o "$tmp/x.pcapng" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  check "no user namespaces: exit 2" test $rc = 2
  check "no user namespaces: one line" test "$(wc -l < "$tmp/err")" = 1
  check "no user namespaces: says root or user namespaces" \
    grep -q 'needs root .* or unprivileged user namespaces' "$tmp/err"
  check "no user namespaces: says which call failed" grep -q 'unshare(CLONE_NEWUSER' "$tmp/err"
  check "no user namespaces: nothing run" test ! -s "$tmp/out"
  check "no user namespaces: no file" test ! -e "$tmp/x.pcapng"
fi
finish
