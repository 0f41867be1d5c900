#!/usr/bin/env bash
# tcpstate-lab run killed at random moments of random experiments.
#   faults_test.sh LAB [ROUNDS]      (FAULTS_SEED=N to run a given seed)
# Each round kills one run with SIGINT, one with SIGTERM, one with SIGKILL
# and one with SIGKILL sent to its whole process group (as a terminal, a CI
# timeout or a service manager does), each at a random moment (a third in
# the first 100 ms: setup) of a random experiment (sometimes run --all,
# with random --ipv6 / --capture-at server / --no-trace).  After every
# kill, once the janitor has finished, the host must be exactly as before:
# nft ruleset, TCP sysctls, interfaces and addresses, named namespaces,
# tracefs instances and mounts, no tcpstate-lab run process left.
# SIGINT/SIGTERM: exit status 128 + signal (or the run had already ended),
# and the partial capture is a valid pcapng that capinfos, tshark and
# tcpstate-lab check read without error.
set -u
lab=$1 rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
seed=${FAULTS_SEED:-$(( $(date +%s) % 1000000 ))}
echo "faults_test: seed $seed (FAULTS_SEED=$seed $0 $lab $rounds reproduces the choices)"
RANDOM=$seed
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mapfile -t exps < <("$lab" list | awk '{print $1}')
check "experiments listed" test ${#exps[@]} -ge 10
host_state > "$tmp/before"

# valid_pcapng FILE: read to the end without an error by three readers
valid_pcapng() {
  local f=$1
  [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 0a0d0d0a ] || { echo "  not pcapng: $f"; return 1; }
  capinfos "$f" > "$tmp/ci.out" 2> "$tmp/ci.err" || { echo "  capinfos:"; cat "$tmp/ci.err"; return 1; }
  [ ! -s "$tmp/ci.err" ] || { echo "  capinfos:"; cat "$tmp/ci.err"; return 1; }
  tshark -r "$f" > /dev/null 2> "$tmp/ts.err"
  local rc=$?
  grep -v '^Running as user' "$tmp/ts.err" > "$tmp/ts.err2"
  [ $rc = 0 ] && [ ! -s "$tmp/ts.err2" ] || { echo "  tshark ($rc):"; cat "$tmp/ts.err2"; return 1; }
  # (a capture interrupted before its first packet has nothing to check)
  grep -q '^Number of packets: *0$' "$tmp/ci.out" && return 0
  "$lab" check --threshold 0 "$f" > "$tmp/chk.out" 2>&1 ||
    { echo "  tcpstate-lab check:"; tail -3 "$tmp/chk.out"; return 1; }
}

n=0
one() { # SIGNAL GROUP(0/1)
  local sig=$1 group=$2 x opts=() delay out rc pid name failed=$fail
  n=$((n + 1))
  if [ $((RANDOM % 8)) = 0 ]; then
    x=--all; mkdir -p "$tmp/all$n"; out=(-d "$tmp/all$n")
  else
    x=${exps[RANDOM % ${#exps[@]}]}; out=(-o "$tmp/k$n.pcapng")
  fi
  [ $((RANDOM % 4)) = 0 ] && opts+=(--ipv6)
  [ $((RANDOM % 4)) = 0 ] && opts+=(--capture-at server)
  [ $((RANDOM % 7)) = 0 ] && opts+=(--no-trace)
  # the moment: in the setup (first 100 ms), some time after the k-th
  # progress line (the experiment's steps, segments, state changes), or
  # anywhere in the first 4 s
  local kind=$((RANDOM % 10)) line=0 when
  if [ $kind -lt 3 ]; then delay=$((RANDOM % 100)); when="$delay ms after the start"
  elif [ $kind -lt 7 ]; then line=$((1 + RANDOM % 30)); delay=$((RANDOM % 200))
    when="$delay ms after progress line $line"
  else delay=$((100 + RANDOM % 3900)); when="$delay ms after the start"; fi
  name="#$n SIG$sig$( [ "$group" = 1 ] && echo ' to the process group') $when of run $x${opts[*]:+ ${opts[*]}}"
  echo "$name"
  # job control on: the run gets a process group of its own (so that the
  # group can be killed alone) and SIGINT as a terminal would leave it
  # (without job control, background jobs start with SIGINT ignored)
  set -m
  "$lab" run "$x" "${opts[@]}" "${out[@]}" > "$tmp/log$n" 2>&1 &
  pid=$!
  set +m
  if [ $line -gt 0 ]; then
    for _ in $(seq 1000); do
      [ "$(grep -c '^ *[0-9]*\.[0-9]* ' "$tmp/log$n")" -ge $line ] && break
      kill -0 $pid 2>/dev/null || break
      sleep 0.01
    done
  fi
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  if [ "$group" = 1 ]; then kill -"$sig" -- "-$pid" 2>/dev/null; else kill -"$sig" "$pid" 2>/dev/null; fi
  { wait "$pid"; } 2>/dev/null; rc=$?
  local signum; signum=$(kill -l "$sig")
  check "$name: janitor finished, no run left" wait_gone
  host_state > "$tmp/after$n"
  if ! cmp -s "$tmp/before" "$tmp/after$n"; then diff -u "$tmp/before" "$tmp/after$n"; fi
  check "$name: host unchanged" cmp -s "$tmp/before" "$tmp/after$n"
  if [ "$sig" = KILL ]; then
    [ "$fail" = "$failed" ] || { echo "  its output:"; tail -5 "$tmp/log$n"; }
    return
  fi
  local ended=0
  if [ $rc != $((128 + signum)) ]; then
    # the run may have ended before the signal came
    if { [ $rc = 0 ] || [ $rc = 1 ]; } && grep -q ' wrote \|experiments complete' "$tmp/log$n"; then
      ended=1; echo "  (the run had ended)"
    fi
  fi
  [ $ended = 1 ] || check "$name: exit status 128+$signum (got $rc)" test $rc = $((128 + signum))
  local files=()
  if [ "$x" = --all ]; then
    mapfile -t files < <(ls "$tmp/all$n"/*.pcapng 2>/dev/null)
  elif [ -e "$tmp/k$n.pcapng" ]; then
    files=("$tmp/k$n.pcapng")
  elif grep -q 'interrupted by' "$tmp/log$n"; then
    check "$name: the capture it reports exists" false
  fi
  for f in "${files[@]}"; do
    check "$name: $(basename "$f") is a valid pcapng" valid_pcapng "$f"
  done
  [ "$fail" = "$failed" ] || { echo "  its output:"; tail -5 "$tmp/log$n"; }
}

for ((r = 0; r < rounds; r++)); do
  one INT 0
  one TERM 0
  one KILL 0
  one KILL 1
done
finish
