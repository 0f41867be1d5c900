#!/usr/bin/env bash
# The packet sequence one experiment must produce, from the capture of
# lab.run-all, and the kernel states recorded in its comments.
#   experiment_test.sh LAB DIR NAME
# The table comes from `tcpstate-lab check --packets`; only the packets and
# the kernel columns are used here (the engine is judged by check_test.sh):
#   1 no  2 time  3 dir  4 flags  5 seq  6 ack  7 len  8 kernel client
#   9 kernel server
set -u
lab=$1 dir=$2 x=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
cap=$dir/$x.pcapng
[ -s "$cap" ] || { echo "FAIL: $cap missing (lab.run-all failed?)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
t=$tmp/table
packets "$lab" "$cap" > "$t"
"$lab" check --comments --threshold 0 "$cap" > "$tmp/comments" 2>&1

# a = awk over the table: a 'PROGRAM'   (exit status is the verdict)
a() { awk -F'\t' "$1" "$t"; }
has() { grep -q -- "$1" "$tmp/comments"; }

# common to every experiment
check "packets captured" test -s "$t"
check "a kernel comment on every packet" a '$12=="NOKERNEL"{bad=1} END{exit bad}'
check "section comment names the experiment" has "^section: tcpstate-lab/1 experiment name=$x "
check "section comment: sysctls" has 'sysctl.tcp_orphan_retries='
check "section comment: kernel and tool" has ' kernel=.* tool="tcpstate-lab '

# after the first FIN: "dir flags" of each packet
seq_after_fin() { awk -F'\t' 'f||$4~/F/{f=1; printf "%s %s\n", $3, $4}' "$t" | tr '\n' ';'; }
last() { tail -n 1 "$t" | cut -f"$1"; }

case $x in
handshake-close)
  check "3-packet close: FIN, FIN+ACK, ACK" test "$(seq_after_fin)" = "C>S FA;S>C FA;C>S A;"
  check "server CLOSE_WAIT after the client's FIN" a '$3=="C>S"&&$4=="FA"&&$9=="CLOSE_WAIT"{ok=1} END{exit !ok}'
  check "client TIME_WAIT, server CLOSED at the end" test "$(last 8) $(last 9)" = "TIME_WAIT CLOSED"
  check "event close() in a comment" has 'event .*side=client what=close()'
  ;;
close-4way)
  check "4-packet close: FIN, ACK, FIN, ACK" test "$(seq_after_fin)" = "C>S FA;S>C A;S>C FA;C>S A;"
  check "FIN_WAIT_2 / CLOSE_WAIT after the ACK" a '$3=="S>C"&&$4=="A"&&$8=="FIN_WAIT_2"&&$9=="CLOSE_WAIT"{ok=1} END{exit !ok}'
  check "server LAST_ACK at its FIN" a '$3=="S>C"&&$4=="FA"&&$9=="LAST_ACK"{ok=1} END{exit !ok}'
  check "client TIME_WAIT, server CLOSED at the end" test "$(last 8) $(last 9)" = "TIME_WAIT CLOSED"
  check "transition FIN_WAIT_2 -> TIME_WAIT (timewait entry) recorded" has 'transition .*side=client from=FIN_WAIT_2 to=TIME_WAIT'
  ;;
syn-sent)
  check "at least 3 SYNs, nothing back" a '$3=="C>S"&&$4=="S"{n++} $3=="S>C"{b=1} END{exit !(n>=3&&!b)}'
  check "SYNs 1 s apart (linear timeouts)" a '$4=="S"{if(p!=""){g=$2-p; if(g<0.8||g>1.5)bad=1} p=$2} END{exit bad}'
  check "client SYN_SENT, server LISTEN throughout" a '$8!="SYN_SENT"||$9!="LISTEN"{bad=1} END{exit bad}'
  check "rule in a comment" has 'rule .*action=add text="tcp dport 8080 tcp flags & (syn | ack) == syn drop"'
  check "connect() timed out" has 'event .*what="connect() failed: ETIMEDOUT'
  ;;
syn-recv)
  check "SYN-ACK retransmitted (at least 2 more)" a '$3=="S>C"&&$4=="SA"{n++} END{exit !(n>=3)}'
  check "a timer retransmission ~1 s after the first SYN-ACK" a '$4=="SA"{if(f=="")f=$2; else if($2-f>0.8&&$2-f<1.5)ok=1} END{exit !ok}'
  check "no ACK from the client" a '$3=="C>S"&&$4=="A"{b=1} END{exit b}'
  check "client SYN_SENT, server SYN_RECV throughout" a '$8!="SYN_SENT"||$9!="SYN_RECV"{bad=1} END{exit bad}'
  check "the request expires (transition SYN_RECV -> CLOSED)" has 'transition .*side=server from=SYN_RECV to=CLOSED'
  ;;
fin-wait-1)
  check "at least 3 FIN retransmissions with doubling gaps" a '
    $3=="C>S"&&$4~/F/{ if(s==""){s=$5} if($5==s){t[n++]=$2} }
    END{ if(n<4) exit 1
         # gaps: TLP, then RTO retransmissions that double
         for(i=2;i<n;i++){ g1=t[i-1]-t[i-2]; g2=t[i]-t[i-1]; if(i>=3 && (g2<1.6*g1||g2>2.5*g1)) exit 1 }
         exit 0 }'
  check "the FIN is never acknowledged" a '$3=="C>S"&&$4~/F/{e=$5+1} $3=="S>C"&&e!=""&&$6==e{b=1} END{exit b}'
  check "client FIN_WAIT_1 at every FIN" a '$3=="C>S"&&$4~/F/&&$8!="FIN_WAIT_1"{b=1} END{exit b}'
  check "server ESTABLISHED while the FINs are dropped" a '$3=="C>S"&&$4~/F/&&$9!="ESTABLISHED"{b=1} END{exit b}'
  check "later data from the server, then a RST from the client" a '$3=="S>C"&&$7>0{d=NR} $3=="C>S"&&$4~/R/&&d&&NR>d{ok=1} END{exit !ok}'
  check "client CLOSED (silently) before the server's data" a '$3=="C>S"&&$4~/F/{f=1} f&&$3=="S>C"&&$7>0&&$8=="CLOSED"{ok=1} END{exit !ok}'
  check "timer on(...) in the kernel comments" has 'client.timer=on('
  ;;
fin-wait-2)
  check "client FIN_WAIT_2 (timewait entry with its timer)" has 'kernel client=FIN_WAIT_2 .*client.timer=timewait('
  check "server's FIN retransmitted in LAST_ACK" a '$3=="S>C"&&$4~/F/{if(s=="")s=$5; if($5==s&&$9=="LAST_ACK")n++} END{exit !(n>=3)}'
  check "client FIN_WAIT_2 ends silently before the last FIN" a '$3=="S>C"&&$4~/F/&&$8=="CLOSED"{ok=1} END{exit !ok}'
  check "RST from the client ends it" test "$(last 3) $(last 4)" = "C>S R"
  check "both CLOSED at the end" test "$(last 8) $(last 9)" = "CLOSED CLOSED"
  check "rule deleted in a comment" has 'rule .*action=delete'
  ;;
close-wait)
  check "server CLOSE_WAIT" a '$9=="CLOSE_WAIT"{ok=1} END{exit !ok}'
  check "client FIN_WAIT_2 then CLOSED with no packet" has 'transition .*side=client from=FIN_WAIT_2 to=CLOSED'
  check "late data from the server gets a RST" a '$3=="S>C"&&$7>0&&$9=="CLOSE_WAIT"&&$8=="CLOSED"{d=1} d&&$3=="C>S"&&$4~/R/{ok=1} END{exit !ok}'
  check "server CLOSED at the end" test "$(last 9)" = "CLOSED"
  ;;
time-wait)
  check "3-packet close first" a '$4~/F/{s=s $3 $4 ";"} END{exit !(s ~ /^C>SFA;S>CFA;/)}'
  check "server's FIN retransmitted at least twice, each ACKed again" a '
    $3=="S>C"&&$4=="FA"{f++; w=1; next} w&&$3=="C>S"&&$4=="A"{a++; w=0} END{exit !(f>=3&&a>=3)}'
  check "client TIME_WAIT at the re-ACKs" a '$3=="S>C"&&$4=="FA"{f=1} f&&$3=="C>S"&&$4=="A"&&$8!="TIME_WAIT"{b=1} END{exit b}'
  check "server LAST_ACK until the last ACK, then CLOSED" test "$(last 9)" = "CLOSED"
  check "timewait timer in the comments" has 'client.timer=timewait('
  ;;
keepalive)
  check "two keepalive probes, each answered" a '
    $3=="C>S"&&$4=="A"&&$7==0&&nx!=""&&$5==nx-1{p++; w=1; next}
    $3=="C>S"{nx=$5+$7+($4~/[SF]/?1:0)}
    w&&$3=="S>C"&&$4=="A"{r++; w=0} END{exit !(p>=2&&r>=2)}'
  check "probes about 1 s apart" a '$3=="C>S"&&$4=="A"&&$7==0{if(p!=""&&$2-p>0.5){g=$2-p; if(g<0.8||g>1.5)bad=1} p=$2} END{exit bad}'
  check "ESTABLISHED during the probes" a '
    $3=="C>S"&&$4=="A"&&$7==0&&nx!=""&&$5==nx-1{if($8!="ESTABLISHED"||$9!="ESTABLISHED")b=1; next}
    $3=="C>S"{nx=$5+$7+($4~/[SF]/?1:0)} END{exit b}'
  check "keepalive timer in the comments" has 'client.timer=keepalive('
  check "setsockopt(SO_KEEPALIVE) in a comment" has 'what="setsockopt(SO_KEEPALIVE, 1)"'
  ;;
keepalive-dead)
  check "two unanswered probes then RST+ACK" a '
    $3=="C>S"&&$4=="A"&&$7==0&&nx!=""&&$5==nx-1{p++; next}
    $3=="C>S"{nx=$5+$7+($4~/[SF]/?1:0)}
    p&&$3=="S>C"{b=1} $3=="C>S"&&$4=="RA"{r=1} END{exit !(p==2&&!b&&r)}'
  check "RST is the last packet" test "$(last 4)" = "RA"
  check "client CLOSED at its RST, server CLOSED after it" test "$(last 8) $(last 9)" = "CLOSED CLOSED"
  check "ETIMEDOUT to the application" has 'what="read() failed: ETIMEDOUT\|what="socket error: ETIMEDOUT'
  ;;
simultaneous-close)
  check "both FINs sent twice (first dropped)" a '$3=="C>S"&&$4~/F/{c++} $3=="S>C"&&$4~/F/{s++} END{exit !(c>=2&&s>=2)}'
  check "client CLOSING" a '$8=="CLOSING"{ok=1} END{exit !ok}'
  check "server CLOSING" a '$9=="CLOSING"{ok=1} END{exit !ok}'
  check "both TIME_WAIT at the end" test "$(last 8) $(last 9)" = "TIME_WAIT TIME_WAIT"
  check "both FIN_WAIT_1 while the rules drop the FINs" a '$8=="FIN_WAIT_1"&&$9=="FIN_WAIT_1"{ok=1} END{exit !ok}'
  ;;
half-close)
  check "the client's FIN comes first" a '$4~/F/{exit !($3=="C>S")}'
  check "server data after the client's FIN, client FIN_WAIT_2" a '
    $3=="C>S"&&$4~/F/{f=1} f&&$3=="S>C"&&$7>0&&$8=="FIN_WAIT_2"&&$9=="CLOSE_WAIT"{n++} END{exit !(n>=3)}'
  check "client keeps ACKing in FIN_WAIT_2" a '$3=="C>S"&&$4=="A"&&$8=="FIN_WAIT_2"{n++} END{exit !(n>=3)}'
  check "client TIME_WAIT, server CLOSED at the end" test "$(last 8) $(last 9)" = "TIME_WAIT CLOSED"
  check "shutdown(SHUT_WR) in a comment" has 'what=shutdown(SHUT_WR)'
  ;;
abort-linger0)
  check "RST+ACK from the client, no FIN" a '$3=="C>S"&&$4=="RA"{r=1} $4~/F/{f=1} END{exit !(r&&!f)}'
  check "both CLOSED at the RST" test "$(last 4) $(last 8) $(last 9)" = "RA CLOSED CLOSED"
  check "setsockopt(SO_LINGER) in a comment" has 'what="setsockopt(SO_LINGER, {1, 0})"'
  ;;
abort-unread)
  check "server data, then RST+ACK from the client, no FIN" a '$3=="S>C"&&$7>0{d=1} d&&$3=="C>S"&&$4=="RA"{r=1} $4~/F/{f=1} END{exit !(r&&!f)}'
  check "both CLOSED at the RST" test "$(last 4) $(last 8) $(last 9)" = "RA CLOSED CLOSED"
  ;;
refused)
  check "SYN, then RST+ACK" test "$(cut -f3,4 "$t" | tr '\t\n' ' ;')" = "C>S S;S>C RA;"
  check "client SYN_SENT at its SYN, CLOSED at the RST" test "$(head -1 "$t" | cut -f8) $(last 8)" = "SYN_SENT CLOSED"
  check "ECONNREFUSED" has 'ECONNREFUSED'
  ;;
tw-reuse)
  check "two SYNs on the same 4-tuple" a '$3=="C>S"&&$4=="S"{n++} END{exit !(n==2)}'
  check "the second SYN has a higher sequence" a '$4=="S"{if(s!=""&&$5>s)ok=1; s=$5} END{exit !ok}'
  check "server TIME_WAIT before the second SYN" a '$4=="S"{n++; if(n==2&&p=="TIME_WAIT")ok=1} {p=$9} END{exit !ok}'
  check "server SYN_RECV at the second SYN" a '$4=="S"{n++; if(n==2&&$9=="SYN_RECV")ok=1} END{exit !ok}'
  check "the new SYN-ACK's ISN is the old send sequence + 65537" a '
    $3=="S>C"&&$4~/F/&&!f{f=$5+1} $3=="S>C"&&$4=="SA"{n++; if(n==2&&$5==(f+65537)%4294967296)ok=1} END{exit !ok}'
  check "client TIME_WAIT at the end" test "$(last 8)" = "TIME_WAIT"
  ;;
*)
  echo "FAIL: no expectations for $x"; exit 1 ;;
esac
finish
