#!/usr/bin/env bash
# Tests of the Wireshark profile "tcpstate" (profiles/tcpstate).
#
#   profile_test.sh GROUP SRCDIR BUILDDIR PLUGIN.so TCPSTATE-LAB TSHARK CMAKE [WIRESHARK]
#
# Groups: install, columns, colours, buttons, gui, walkthrough.
#
# As in tests/plugin/plugin_test.sh, tshark and wireshark run with a
# throw-away HOME: the plugin in its personal plugin folder, the profile
# installed there by profiles/install-profile.cmake (the script cmake
# --install runs).  Wireshark ignores personal folders when run as root, so
# as root they run as nobody (setpriv).  Nothing outside the temporary
# directory is touched; the GUI test kills its Xvfb and wireshark.  The
# extcap folder is an empty one: no capture helper is started.
#
# Expected values come from how each lab experiment is made
# (capture-helper/experiments.c, `tcpstate-lab list -v`): e.g. in
# fin-wait-1 the server's kernel drops every FIN of the client, so the
# client is in FIN_WAIT_1 on its FIN and on every copy, the server stays
# ESTABLISHED, the n-th copy is retransmission n; keepalive probes are found
# with Wireshark's own tcp.analysis.keep_alive.  The experiments scale timers
# with sysctls; the plugin reads them from the capture (lab_profile).
set -u
group=$1 src=$2 build=$3 plugin=$4 lab=$5 tshark=$6 cmake=$7 wireshark=${8:-}
labdir=$src/captures/lab
profile=$src/profiles/tcpstate

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp"
mkdir -p "$tmp/home" "$tmp/noglobal"

if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "SKIP: running as root without setpriv"; exit 77; }
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  run_as=()
fi
uenv=(env -u WIRESHARK_CONFIG_DIR HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config"
      WIRESHARK_PLUGIN_DIR="$tmp/noglobal" WIRESHARK_EXTCAP_DIR="$tmp/noglobal" LC_ALL=C.UTF-8)
ts() { (cd "$tmp" && "${run_as[@]}" "${uenv[@]}" "$tshark" "$@"); }

pass=0 fail=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }
empty() { [ ! -s "$1" ] || { echo "  $(basename "$1") is not empty:"; head -5 "$1" | sed 's/^/    /'; return 1; }; }
finish() {
  echo "$group: $pass passed, $fail failed"
  [ "$fail" = 0 ]
  exit $?
}

# plugin into the personal plugin folder tshark reports
pers=$(ts -G folders 2>/dev/null | awk -F'\t' '/^Personal Plugins:/ {print $2}')
conf=$(ts -G folders 2>/dev/null | awk -F'\t' '/^Personal configuration:/ {print $2}')
if [ -z "$pers" ] || [ -z "$conf" ]; then
  echo "FAIL: tshark -G folders gives no personal folders"; exit 1
fi
mkdir -p "$pers/epan"
cp "$plugin" "$pers/epan/tcpstate.so"
# the profile, by the install script (as the test user's HOME)
HOME="$tmp/home" XDG_CONFIG_HOME= WIRESHARK_CONFIG_DIR= DESTDIR= SUDO_USER= \
  "$cmake" -DTCPSTATE_PROFILE_SRC="$profile" -P "$src/profiles/install-profile.cmake" > "$tmp/install.log" 2>&1 \
  || { echo "FAIL: install-profile.cmake"; cat "$tmp/install.log"; exit 1; }
chmod -R a+rX "$tmp/home"
chmod 777 "$tmp/home"
for f in "$labdir"/*.pcapng; do cp "$f" "$tmp/"; done
chmod a+r "$tmp"/*.pcapng

# fields NAME OUT FIELD...: tshark -C tcpstate -2 --color -T fields on a lab capture
fields() {
  local name=$1 out=$2; shift 2
  local args=(-C tcpstate -2 --color -r "$name.pcapng" -T fields -E occurrence=f)
  local f
  for f in "$@"; do args+=(-e "$f"); done
  ts "${args[@]}" > "$out" 2> "$out.err"
  [ $? = 0 ] || { echo "  tshark failed on $name"; cat "$out.err"; return 1; }
  empty "$out.err"
}

case "$group" in

install)
  dest=$conf/profiles/tcpstate
  check "installed where tshark looks for profiles" test -d "$dest"
  for f in preferences colorfilters dfilter_buttons dfilters recent; do
    check "$f installed unchanged" cmp -s "$profile/$f" "$dest/$f"
  done
  check "install reports where" grep -q "installed in $dest" "$tmp/install.log"
  ts -C tcpstate -r fin-wait-1.pcapng -c 1 > "$tmp/out" 2> "$tmp/err"
  check "tshark -C tcpstate runs" test $? = 0
  check "tshark -C tcpstate: no error or warning" empty "$tmp/err"
  check "tshark -C tcpstate shows the state columns" grep -q 'SYN_SENT SYN_RECV handshake' "$tmp/out"
  ts -C no-such-profile -r fin-wait-1.pcapng -c 1 > /dev/null 2> "$tmp/err2"
  check "an unknown profile is an error (tshark checks -C)" test $? != 0
  # where Wireshark itself looks, for each way of setting the folder
  for how in xdg wcd legacy; do
    h=$tmp/h-$how; mkdir -p "$h"; chmod 777 "$h"
    e=(HOME="$h" XDG_CONFIG_HOME= WIRESHARK_CONFIG_DIR=)
    case $how in
      xdg) e=(HOME="$h" XDG_CONFIG_HOME="$h/xdg" WIRESHARK_CONFIG_DIR=) ;;
      wcd) e=(HOME="$h" XDG_CONFIG_HOME= WIRESHARK_CONFIG_DIR="$h/wcd") ;;
      legacy) mkdir -p "$h/.wireshark"; chmod 777 "$h/.wireshark" ;;
    esac
    env "${e[@]}" DESTDIR= SUDO_USER= "$cmake" -DTCPSTATE_PROFILE_SRC="$profile" \
      -P "$src/profiles/install-profile.cmake" > "$tmp/log-$how" 2>&1
    envu=("${e[@]}"); for i in "${!envu[@]}"; do case ${envu[$i]} in *=) unset "envu[$i]";; esac; done
    wsconf=$(cd "$tmp" && "${run_as[@]}" env -u XDG_CONFIG_HOME -u WIRESHARK_CONFIG_DIR WIRESHARK_EXTCAP_DIR="$tmp/noglobal" "${envu[@]}" \
             "$tshark" -G folders 2>/dev/null | awk -F'\t' '/^Personal configuration:/ {print $2}')
    check "$how: installed in tshark's personal configuration ($wsconf)" \
      test -n "$wsconf" -a -f "$wsconf/profiles/tcpstate/colorfilters"
  done
  # no home: a message, success, nothing written
  env -u HOME -u XDG_CONFIG_HOME -u WIRESHARK_CONFIG_DIR DESTDIR= SUDO_USER= \
    "$cmake" -DTCPSTATE_PROFILE_SRC="$profile" -P "$src/profiles/install-profile.cmake" > "$tmp/log-nohome" 2>&1
  check "no HOME: exit 0" test $? = 0
  check "no HOME: says so" grep -q 'no home folder' "$tmp/log-nohome"
  # staged install (DESTDIR): no user's folder
  mkdir -p "$tmp/h-staged"
  env HOME="$tmp/h-staged" DESTDIR="$tmp/stage" "$cmake" -DTCPSTATE_PROFILE_SRC="$profile" \
    -P "$src/profiles/install-profile.cmake" > "$tmp/log-staged" 2>&1
  check "DESTDIR: skipped with a message" grep -q 'DESTDIR is set' "$tmp/log-staged"
  check "DESTDIR: nothing written to HOME" test -z "$(ls -A "$tmp/h-staged")"
  if [ "$(id -u)" = 0 ]; then
    # through sudo: SUDO_USER's home; nobody's (/nonexistent) is none
    env HOME="$tmp/h-sudo" SUDO_USER=nobody DESTDIR= "$cmake" -DTCPSTATE_PROFILE_SRC="$profile" \
      -P "$src/profiles/install-profile.cmake" > "$tmp/log-sudo" 2>&1
    check "sudo: uses SUDO_USER's home (nobody has none)" grep -q 'SUDO_USER nobody has no home folder' "$tmp/log-sudo"
  fi
  # a missing profile file is an error
  mkdir -p "$tmp/broken"; cp "$profile/preferences" "$tmp/broken/"
  HOME="$tmp/h-xdg" "$cmake" -DTCPSTATE_PROFILE_SRC="$tmp/broken" -P "$src/profiles/install-profile.cmake" \
    > "$tmp/log-broken" 2>&1
  check "missing profile file: error" test $? != 0
  # cmake --install runs the script
  check "cmake --install runs install-profile.cmake" \
    grep -rqs 'install-profile.cmake' "$build/profiles/cmake_install.cmake"
  finish
  ;;

columns)
  F=(frame.number frame.time_relative ip.src tcp.srcport tcp.flags.syn tcp.flags.fin tcp.flags.reset tcp.len
     "_ws.col.Client state" "_ws.col.Server state" _ws.col.Phase _ws.col.Retrans _ws.col.Keepalive
     "_ws.col.Client in state" "_ws.col.Server in state" _ws.col.Info
     tcp.analysis.keep_alive tcp.analysis.keep_alive_ack)
  # columns: 1 no, 2 t, 3 src, 4 sport, 5 syn, 6 fin, 7 rst, 8 len, 9 C, 10 S, 11 phase,
  #          12 retrans, 13 keepalive, 14 C time, 15 S time, 16 info, 17 ka, 18 ka ack

  # fin-wait-1: every client FIN (sport != 8080) is dropped by the server
  fields fin-wait-1 "$tmp/f1" "${F[@]}"
  awk -F'\t' '$4!=8080 && $6==1' "$tmp/f1" > "$tmp/f1.fins"
  n=$(wc -l < "$tmp/f1.fins")
  check "fin-wait-1: the first FIN and at least 3 copies ($n)" test "$n" -ge 4
  check "fin-wait-1: client FIN_WAIT_1 on every FIN" eq "$(cut -f9 "$tmp/f1.fins" | sort -u)" FIN_WAIT_1
  check "fin-wait-1: server ESTABLISHED on every FIN" eq "$(cut -f10 "$tmp/f1.fins" | sort -u)" ESTABLISHED
  check "fin-wait-1: phase closing" eq "$(cut -f11 "$tmp/f1.fins" | sort -u)" closing
  check "fin-wait-1: Retrans numbers the copies" \
    eq "$(cut -f12 "$tmp/f1.fins" | paste -sd' ')" "$(seq 0 $((n-1)) | sed 's/^0$//; s/^[1-9].*/FIN,&/' | paste -sd' ')"
  check "fin-wait-1: Client in state = time since the first FIN" \
    awk -F'\t' 'NR==1 {t0=$2} {d=$2-t0-$14; if (d<-0.001 || d>0.001) {print "  packet " $1 ": " $14 " vs " $2-t0; bad=1}} END {exit bad}' "$tmp/f1.fins"
  last=$(tail -1 "$tmp/f1")
  check "fin-wait-1: the capture ends with a RST" eq "$(cut -f7 <<<"$last")" 1
  check "fin-wait-1: RST: both CLOSED, phase reset" eq "$(cut -f9-11 <<<"$last")" $'CLOSED\tCLOSED\treset'
  first_fin=$(head -1 "$tmp/f1.fins" | cut -f1)
  check "fin-wait-1: ESTABLISHED on both sides between handshake and FIN" \
    eq "$(awk -F'\t' -v f="$first_fin" '$1>3 && $1<f {print $9, $10, $11}' "$tmp/f1" | sort -u)" "ESTABLISHED ESTABLISHED established"
  check "fin-wait-1: no keepalive" eq "$(cut -f13 "$tmp/f1" | sort -u)" ""
  # the default (column) output shows the same, and no [C:.. S:..] tag (the profile turns it off)
  ts -C tcpstate -2 -r fin-wait-1.pcapng > "$tmp/f1.cols" 2> "$tmp/f1.cols.err"
  second=$(sed -n 2p "$tmp/f1.fins" | cut -f1)
  check "fin-wait-1: column output of the first copy" \
    grep -qE "^ *$second .* FIN_WAIT_1 ESTABLISHED closing FIN,1 " "$tmp/f1.cols"
  check "fin-wait-1: column output, no error" empty "$tmp/f1.cols.err"
  check "profile: no Info tag" eq "$(grep -c '\[C:' "$tmp/f1.cols")" 0
  ts -2 -r fin-wait-1.pcapng > "$tmp/f1.noprof" 2>&1
  check "without the profile the Info tag is there" grep -q '\[C:FIN_WAIT_1 S:ESTABLISHED\]' "$tmp/f1.noprof"

  # syn-sent: every SYN dropped at the listener
  fields syn-sent "$tmp/ss" "${F[@]}"
  n=$(wc -l < "$tmp/ss")
  check "syn-sent: only SYNs" eq "$(cut -f5 "$tmp/ss" | sort -u)" 1
  check "syn-sent: client SYN_SENT throughout" eq "$(cut -f9 "$tmp/ss" | sort -u)" SYN_SENT
  check "syn-sent: the listener never got one" eq "$(cut -f10 "$tmp/ss" | sort -u)" LISTEN
  check "syn-sent: Retrans numbers the SYNs" \
    eq "$(cut -f12 "$tmp/ss" | paste -sd' ')" "$(seq 0 $((n-1)) | sed 's/^0$//; s/^[1-9].*/SYN,&/' | paste -sd' ')"
  check "syn-sent: phase handshake" eq "$(cut -f11 "$tmp/ss" | sort -u)" handshake

  # keepalive-dead: the probes (Wireshark's tcp.analysis.keep_alive) go unanswered
  fields keepalive-dead "$tmp/kd" "${F[@]}"
  awk -F'\t' '$17!=""' "$tmp/kd" > "$tmp/kd.probes"
  n=$(wc -l < "$tmp/kd.probes")
  check "keepalive-dead: probes ($n)" test "$n" -ge 2
  check "keepalive-dead: Keepalive column counts them" eq "$(cut -f13 "$tmp/kd.probes" | paste -sd' ')" "$(seq 1 "$n" | paste -sd' ')"
  check "keepalive-dead: ESTABLISHED during the probes" eq "$(cut -f9,10 "$tmp/kd.probes" | sort -u)" $'ESTABLISHED\tESTABLISHED'
  last=$(tail -1 "$tmp/kd")
  check "keepalive-dead: the client resets" eq "$(cut -f7,9,11 <<<"$last")" $'1\tCLOSED\treset'
  # keepalive: each probe answered, so each is probe 1
  fields keepalive "$tmp/ka" "${F[@]}"
  check "keepalive: probes answered, each is probe 1" eq "$(awk -F'\t' '$17!="" {print $13}' "$tmp/ka" | sort -u)" 1
  check "keepalive: as many answers as probes" \
    eq "$(awk -F'\t' '$18!=""' "$tmp/ka" | wc -l)" "$(awk -F'\t' '$17!=""' "$tmp/ka" | wc -l)"

  # half-close: the server's data after the client's shutdown(SHUT_WR)
  fields half-close "$tmp/hc" "${F[@]}"
  cfin=$(awk -F'\t' '$4!=8080 && $6==1 {print $1; exit}' "$tmp/hc")
  sfin=$(awk -F'\t' '$4==8080 && $6==1 {print $1; exit}' "$tmp/hc")
  awk -F'\t' -v a="$cfin" -v b="$sfin" '$4==8080 && $8>0 && $1>a && $1<b' "$tmp/hc" > "$tmp/hc.data"
  check "half-close: server data after the client's FIN" test -s "$tmp/hc.data"
  check "half-close: client FIN_WAIT_2, server CLOSE_WAIT, half-closed" \
    eq "$(cut -f9-11 "$tmp/hc.data" | sort -u)" $'FIN_WAIT_2\tCLOSE_WAIT\thalf-closed'

  # refused: no listener
  fields refused "$tmp/rf" "${F[@]}"
  check "refused: RST from the server, client CLOSED, reset" \
    eq "$(awk -F'\t' '$7==1 {print $4, $9, $11}' "$tmp/rf")" "8080 CLOSED reset"
  finish
  ;;

colours)
  # the rules themselves: parse, distinct, readable, apart for red-green blindness
  python3 - "$profile/colorfilters" > "$tmp/rules.txt" <<'EOF'
import itertools, re, sys
def lin(c):
    c /= 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
def delin(c):
    c = max(0.0, min(1.0, c))
    return 255 * (12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055)
def lum(c):
    r, g, b = (lin(x) for x in c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
def contrast(a, b):
    x, y = sorted((lum(a), lum(b)), reverse=True)
    return (x + 0.05) / (y + 0.05)
# Machado, Oliveira, Fernandes 2009, severity 1
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]}
def sim(c, m):
    l = [lin(x) for x in c]
    return [delin(sum(m[i][j] * l[j] for j in range(3))) for i in range(3)]
def dist(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5
rules, bad = [], 0
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    m = re.match(r"^@([^@]+)@([^@]+)@\[(\d+),(\d+),(\d+)\]\[(\d+),(\d+),(\d+)\]$", line)
    if not m:
        print("BAD line: %s" % line); bad = 1; continue
    v = [int(m.group(i)) for i in range(3, 9)]
    if any(x > 65535 for x in v):
        print("BAD colour: %s" % line); bad = 1
    rules.append((m.group(1), m.group(2), [x // 257 for x in v[:3]], [x // 257 for x in v[3:]]))
    print("RULE\t%s\t%s" % (m.group(1), m.group(2)))
for n, f, bg, fg in rules:
    if contrast(bg, fg) < 4.5:
        print("BAD contrast %.1f: %s" % (contrast(bg, fg), n)); bad = 1
for (n1, _, b1, _), (n2, _, b2, _) in itertools.combinations(rules, 2):
    d = [dist(b1, b2)] + [dist(sim(b1, m), sim(b2, m)) for m in CVD.values()]
    if min(d) < 20:
        print("BAD too close (%.1f): %s / %s" % (min(d), n1, n2)); bad = 1
print("COUNT\t%d" % len(rules))
sys.exit(bad)
EOF
  rc=$?
  grep '^BAD' "$tmp/rules.txt"
  check "rules: parse, contrast >= 4.5, backgrounds apart (also protanopia, deuteranopia)" test $rc = 0
  check "rules: at least 15" test "$(awk -F'\t' '/^COUNT/ {print $2}' "$tmp/rules.txt")" -ge 15
  check "rules: every name is tcpstate: ..." eq "$(awk -F'\t' '/^RULE/ && $2 !~ /^tcpstate: / {print $2}' "$tmp/rules.txt")" ""
  check "rules: names are unique" eq "$(awk -F'\t' '/^RULE/ {print $2}' "$tmp/rules.txt" | sort | uniq -d)" ""

  F=(frame.number tcp.srcport tcp.flags.fin tcp.flags.reset tcp.len frame.coloring_rule.name
     tcp.analysis.keep_alive tcp.analysis.keep_alive_ack tcpstate.client.state tcpstate.server.state)
  # rule of a packet: 6th column
  fields fin-wait-1 "$tmp/c1" "${F[@]}"
  awk -F'\t' '$2!=8080 && $3==1 {print $6}' "$tmp/c1" > "$tmp/c1.fins"
  check "fin-wait-1: the FIN of the closed (orphan) socket" eq "$(sed -n 1p "$tmp/c1.fins")" "tcpstate: orphan socket"
  check "fin-wait-1: copy 1" eq "$(sed -n 2p "$tmp/c1.fins")" "tcpstate: retransmission 1"
  check "fin-wait-1: copy 2" eq "$(sed -n 3p "$tmp/c1.fins")" "tcpstate: retransmission 2"
  check "fin-wait-1: copies 3 and later" eq "$(sed -n '4,$p' "$tmp/c1.fins" | sort -u)" "tcpstate: retransmission 3 and later"
  check "fin-wait-1: RST to the orphan's peer" eq "$(awk -F'\t' '$4==1 {print $6}' "$tmp/c1")" \
    "tcpstate: RST: no socket (orphan, expired timer, closed)"
  check "fin-wait-1: SYN: handshake" eq "$(awk -F'\t' '$1==1 {print $6}' "$tmp/c1")" "tcpstate: phase handshake"
  fields keepalive-dead "$tmp/c2" "${F[@]}"
  check "keepalive-dead: probes" eq "$(awk -F'\t' '$7!="" {print $6}' "$tmp/c2" | sort -u)" "tcpstate: keepalive probe"
  check "keepalive-dead: RST" eq "$(awk -F'\t' '$4==1 {print $6}' "$tmp/c2")" "tcpstate: RST: keepalive timeout"
  fields keepalive "$tmp/c3" "${F[@]}"
  check "keepalive: answers" eq "$(awk -F'\t' '$8!="" {print $6}' "$tmp/c3" | sort -u)" "tcpstate: keepalive answer"
  fields refused "$tmp/c4" "${F[@]}"
  check "refused: RST" eq "$(awk -F'\t' '$4==1 {print $6}' "$tmp/c4")" "tcpstate: RST: connection refused"
  fields abort-unread "$tmp/c5" "${F[@]}"
  check "abort-unread: RST" eq "$(awk -F'\t' '$4==1 {print $6}' "$tmp/c5")" "tcpstate: RST: application abort"
  fields abort-linger0 "$tmp/c6" "${F[@]}"
  check "abort-linger0: RST" eq "$(awk -F'\t' '$4==1 {print $6}' "$tmp/c6")" "tcpstate: RST: application abort"
  fields half-close "$tmp/c7" "${F[@]}"
  check "half-close: the server's data to the half-closed client" \
    eq "$(awk -F'\t' '$2==8080 && $5>0 && $9=="FIN_WAIT_2" {print $6}' "$tmp/c7" | sort -u)" "tcpstate: half-closed"
  fields handshake-close "$tmp/c8" "${F[@]}"
  check "handshake-close: the last ACK: time-wait" eq "$(tail -1 "$tmp/c8" | cut -f6)" "tcpstate: phase time-wait"
  # every TCP packet of every lab capture gets a tcpstate rule; RSTs never a phase rule
  for f in "$labdir"/*.pcapng; do
    x=$(basename "$f" .pcapng)
    fields "$x" "$tmp/all-$x" "${F[@]}"
    check "$x: every packet coloured by a tcpstate rule" \
      eq "$(awk -F'\t' '$6 !~ /^tcpstate: /' "$tmp/all-$x" | wc -l)" 0
    check "$x: RSTs coloured by their cause" \
      eq "$(awk -F'\t' '$4==1 && $6 !~ /RST: /' "$tmp/all-$x" | wc -l)" 0
  done
  finish
  ;;

buttons)
  # dfilter_buttons: "enabled","label","filter","comment" with \xNN escapes
  python3 - "$profile/dfilter_buttons" "$profile/dfilters" > "$tmp/buttons" <<'EOF'
import re, sys
unesc = lambda s: re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), s)
bad = 0
buttons = {}
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    f = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    if len(f) != 4 or f[0] not in ("TRUE", "FALSE") or not all(x.strip() for x in f[1:]) \
            or ",".join('"%s"' % x for x in f) != line:
        sys.stderr.write("bad button line: %s\n" % line); bad = 1; continue
    buttons[unesc(f[1])] = unesc(f[2])
    print("%s\t%s" % (unesc(f[1]), unesc(f[2])))
for line in open(sys.argv[2], encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    m = re.match(r'^"tcpstate: ([^"]+)" (.+)$', line)
    if not m or buttons.get(m.group(1)) != m.group(2):
        sys.stderr.write("dfilters line without its button: %s\n" % line); bad = 1
sys.exit(bad)
EOF
  check "dfilter_buttons and dfilters parse and agree" test $? = 0
  btn() { awk -F'\t' -v l="$1" '$1==l {print $2}' "$tmp/buttons"; }
  for l in FIN_WAIT_1 CLOSE_WAIT Orphans "SYN retries" Keepalive "State changes"; do
    check "button for '$l'" test -n "$(btn "$l")"
  done
  # every filter compiles (with the plugin) and runs
  while IFS=$'\t' read -r l flt; do
    ts -C tcpstate -r fin-wait-1.pcapng -Y "$flt" -T fields -e frame.number > /dev/null 2> "$tmp/berr"
    check "button '$l' compiles and runs" test $? = 0
    check "button '$l': no error" empty "$tmp/berr"
  done < "$tmp/buttons"
  # sel NAME FILTER: frames the filter selects (two passes)
  sel() { ts -C tcpstate -2 -r "$1.pcapng" -Y "$2" -T fields -e frame.number | paste -sd' '; }
  check "FIN_WAIT_1 on fin-wait-1: exactly the client's FINs" \
    eq "$(sel fin-wait-1 "$(btn FIN_WAIT_1)")" "$(sel fin-wait-1 'tcp.flags.fin == 1 && tcp.srcport != 8080')"
  # close-wait: the server's application never closes: CLOSE_WAIT from the client's FIN until the RST
  cfin=$(sel close-wait 'tcp.flags.fin == 1 && tcp.srcport != 8080' | cut -d' ' -f1)
  rst=$(sel close-wait 'tcp.flags.reset == 1' | cut -d' ' -f1)
  check "CLOSE_WAIT on close-wait: from the client's FIN to before the RST" \
    eq "$(sel close-wait "$(btn CLOSE_WAIT)")" "$(seq "$cfin" $((rst-1)) | paste -sd' ')"
  check "Orphans on fin-wait-1: the client closed its socket" test -n "$(sel fin-wait-1 "$(btn Orphans)")"
  check "Orphans on half-close: shutdown() is no orphan" eq "$(sel half-close "$(btn Orphans)")" ""
  check "SYN retries on syn-sent: every SYN but the first" \
    eq "$(sel syn-sent "$(btn "SYN retries")")" "$(sel syn-sent 'tcp.flags.syn == 1' | cut -d' ' -f2-)"
  check "Keepalive on keepalive: Wireshark's keep-alives and their ACKs" \
    eq "$(sel keepalive "$(btn Keepalive)")" "$(sel keepalive 'tcp.analysis.keep_alive || tcp.analysis.keep_alive_ack')"
  check "RST on refused: the RST" eq "$(sel refused "$(btn RST)")" "$(sel refused 'tcp.flags.reset == 1')"
  check "Half-close on half-close: the client is in FIN_WAIT_2 there" \
    eq "$(sel half-close "($(btn Half-close)) && tcpstate.client.state != \"FIN_WAIT_2\"")" ""
  check "Half-close on half-close: selects packets" test -n "$(sel half-close "$(btn Half-close)")"
  # State changes: exactly the packets after which a state differs from the packet before
  for x in close-4way simultaneous-close tw-reuse fin-wait-2; do
    ts -C tcpstate -2 -r "$x.pcapng" -T fields \
      -e frame.number -e tcpstate.client.state -e tcpstate.server.state > "$tmp/st-$x" 2>/dev/null
    want=$(awk -F'\t' '$2 FS $3 != prev {print $1} {prev=$2 FS $3}' "$tmp/st-$x" | paste -sd' ')
    check "State changes on $x: where a state changes" eq "$(sel "$x" "$(btn "State changes")")" "$want"
  done
  finish
  ;;

gui)
  for t in Xvfb xdotool import; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed (tools/setup.sh installs it)"; exit 77; }
  done
  [ -n "$wireshark" ] && [ -x "$wireshark" ] || { echo "SKIP: wireshark (wireshark-qt) not installed"; exit 77; }
  mkdir -p "$tmp/run"; chmod 700 "$tmp/run"
  [ "$(id -u)" = 0 ] && chown 65534:65534 "$tmp/run"
  Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3> "$tmp/display" > "$tmp/xvfb.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
  [ -s "$tmp/display" ] || { echo "FAIL: Xvfb did not start"; cat "$tmp/xvfb.log"; exit 1; }
  export DISPLAY=:$(head -1 "$tmp/display")
  (cd "$tmp" && exec timeout 120 "${run_as[@]}" "${uenv[@]}" XDG_RUNTIME_DIR="$tmp/run" DISPLAY="$DISPLAY" \
     QT_QPA_PLATFORM=xcb "$wireshark" -C tcpstate -o gui.update.enabled:FALSE \
     -r "$tmp/fin-wait-1.pcapng") > "$tmp/ws.out" 2> "$tmp/ws.err" &
  pids+=($!)
  win=
  for _ in $(seq 120); do
    win=$(xdotool search --name 'fin-wait-1\.pcapng' 2>/dev/null | head -1)
    [ -n "$win" ] && break
    sleep 0.5
  done
  check "a window titled with the capture's name" test -n "$win"
  if [ -n "$win" ]; then
    xdotool windowmove "$win" 0 0 windowsize "$win" 1600 1000 2>/dev/null
    # screenshots until the rows are drawn (at most about 30 s)
    for _ in $(seq 15); do
      sleep 2
      import -window root "$tmp/shot.png" && import -window root -depth 8 "ppm:$tmp/shot.ppm" || continue
      # the profile's colours on the screen: fin-wait-1 has FIN copies 1, 2, 3+ and a RST
      python3 - "$tmp/shot.ppm" "$profile/colorfilters" > "$tmp/pixels" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
w, h = int(m.group(1)), int(m.group(2))
if int(m.group(3)) != 255:
    sys.exit("screenshot: %s levels, not 8-bit" % m.group(3))
px = data[m.end():m.end() + w * h * 3]
counts = {}
for i in range(0, len(px), 3):
    k = px[i:i + 3]
    counts[k] = counts.get(k, 0) + 1
print("size %d %d" % (w, h))
print("colours %d" % len(counts))
print("top %d" % max(counts.values()))
for line in open(sys.argv[2], encoding="utf-8"):
    r = re.match(r"^@([^@]+)@[^@]+@\[(\d+),(\d+),(\d+)\]", line)
    if r:
        k = bytes(int(r.group(i)) // 257 for i in (2, 3, 4))
        print("rule %d\t%s" % (counts.get(k, 0), r.group(1)))
EOF
      grep -qP '^rule [1-9]\d{2,}\ttcpstate: retransmission 1$' "$tmp/pixels" && break
    done
    check "screenshot taken" test -s "$tmp/shot.png"
    # PROFILE_TEST_SHOT=FILE.png keeps the screenshot
    [ -n "${PROFILE_TEST_SHOT:-}" ] && cp "$tmp/shot.png" "$PROFILE_TEST_SHOT"
    px() { awk -F'\t' -v n="tcpstate: $1" '$2==n {split($1, a, " "); print a[2]}' "$tmp/pixels"; }
    total=$(awk '/^size/ {print $2*$3}' "$tmp/pixels")
    check "screenshot is not uniform" test "$(awk '/^colours/ {print $2}' "$tmp/pixels")" -gt 50 \
      -a "$(awk '/^top/ {print $2}' "$tmp/pixels")" -lt "${total:-0}"
    for r in "retransmission 1" "retransmission 2" "retransmission 3 and later" \
             "RST: no socket (orphan, expired timer, closed)" "phase handshake"; do
      check "GUI row colour: $r" test "$(px "$r")" -gt 500
    done
    visible=$(xdotool search --onlyvisible --name . 2>/dev/null | wc -l)
    check "no other window (error dialog) is open" eq "$visible" 1
    alive=0; kill -0 "${pids[1]}" 2>/dev/null && alive=1
    check "wireshark is still running" eq "$alive" 1
  fi
  kill "${pids[1]}" 2>/dev/null; wait "${pids[1]}" 2>/dev/null
  grep -E '^(size|colours|top|rule)' "$tmp/pixels" 2>/dev/null | sed 's/^/  /' > "$tmp/pixels.log"
  [ "$fail" = 0 ] || cat "$tmp/pixels.log"
  # errors Wireshark printed about the profile, its files or the plugin
  grep -iE 'warn|error|critical|fail|invalid|could not|can.t|no such|unknown|preference|profile|plugin|tcpstate|colorfilter|dfilter|uat' \
    "$tmp/ws.out" "$tmp/ws.err" > "$tmp/ws.bad"
  check "wireshark printed no profile or plugin error" empty "$tmp/ws.bad"
  [ -s "$tmp/ws.err" ] && { echo "  wireshark's other messages:"; sed 's/^/    /' "$tmp/ws.err" | head -5; }
  finish
  ;;

walkthrough)
  command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
  python3 "$src/tools/gen-walkthrough.py" --lab "$lab" --plugin "$plugin" --tshark "$tshark" \
    -o "$tmp/walkthrough.md" 2> "$tmp/gen.err"
  check "gen-walkthrough.py runs" test $? = 0
  cat "$tmp/gen.err"
  if ! diff -u "$src/docs/walkthrough.md" "$tmp/walkthrough.md" > "$tmp/diff"; then
    echo "docs/walkthrough.md differs from a fresh run (regenerate with"
    echo "  tools/gen-walkthrough.py --lab $lab --plugin $plugin -o docs/walkthrough.md):"
    head -40 "$tmp/diff"
    fail=$((fail+1)); echo "FAIL: docs/walkthrough.md is current"
  else
    pass=$((pass+1))
  fi
  # it covers every experiment
  for x in $("$lab" list | awk '{print $1}'); do
    check "walkthrough covers $x" grep -qE "^## [0-9]+\. $x\$" "$tmp/walkthrough.md"
    check "walkthrough: the command for $x" grep -qF "sudo tcpstate-lab run $x\`" "$tmp/walkthrough.md"
  done
  finish
  ;;

*)
  echo "unknown group $group"; exit 2 ;;
esac
