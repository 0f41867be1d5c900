#!/usr/bin/env bash
# Mutation fuzzing of the Wireshark plugin in tshark.
#
#   fuzz_tshark.sh PLUGIN.so MUTATE GEN SRCDIR [options]
#     --iterations N   mutated inputs to run (default 100)
#     --time SECONDS   run until this much time has passed instead
#     --seed S         first seed (default: from the clock); iteration i
#                      uses seed S+i, so every input can be made again
#     --one SEED       run the iteration of this seed only, keep its files
#                      and print the tshark commands
#     --jobs J         parallel workers (default 2)
#     --findings DIR   where failing inputs are saved (default ./fuzz-findings)
#     --regressions-only   only the fixtures in tests/fuzz-tshark/regressions
#
# PLUGIN.so is normally built with -fsanitize=address,undefined (build
# directory configured with those CMAKE_C_FLAGS): tshark itself is not, so
# the sanitizer runtimes the plugin needs are preloaded.  tshark runs as
# nobody when run as root, with the plugin in the personal plugin folder of
# a throw-away HOME and WIRESHARK_PLUGIN_DIR pointed at an empty directory
# (so an installed global copy is not loaded instead).
#
# Inputs: captures/sample.pcap, captures/lab/*.pcapng (as pcapng, comments
# included, and converted to pcap), and `GEN basic|tunnels|bad|bench`.  Each
# iteration takes one, applies (all chosen from the seed) MUTATE's
# structural mutations, `editcap -E` byte errors, an `editcap -s` snap
# length and a cut of the file at a random offset, picks preferences
# (profile, overrides, two_pass, info_tag, lab_profile, close_wait_threshold)
# and sometimes -c N, and runs tshark:
#   full     -2 -V -z tcpstate,flows -z tcpstate,states -z flow,tcpstate,network
#   fields   -T fields -e <every tcpstate field> -z tcpstate,flows
#            -z tcpstate,states, one pass (every other seed: -2)
#   filtered (a third of the seeds) -2 with a first-pass filter (-R), a
#            display filter (-Y) and filtered statistics
# A run fails on a crash or abort (exit status >= 128), a timeout, an
# AddressSanitizer or UBSan report, "Dissector bug", a malformed TCPSTATE
# tree, a GLib critical or warning.  A failure that tshark shows the same
# way with the plugin disabled (--disable-protocol tcpstate) is tshark's
# own: reported, saved under DIR/tshark-only, not counted.
#
# Every failing input is saved in DIR with a .log (seed, mutations,
# commands, report) and a .args file (the tshark options it needs); copy
# both into tests/fuzz-tshark/regressions/ to keep it as a fixture.  The
# fixtures there run first, every time, in every mode.
#
# Exit status: 0 no finding, 1 findings, 2 usage, 77 skipped (no tshark).
set -u
usage() { sed -n '2,14p' "$0" >&2; exit 2; }
[ $# -ge 4 ] || usage
plugin=$1 mutate=$2 gen=$3 src=$4; shift 4
iterations=100 duration= seed= one= jobs=2 findings=$PWD/fuzz-findings regonly=0
while [ $# -gt 0 ]; do
  case $1 in
  --iterations) iterations=$2; shift 2 ;;
  --time) duration=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  --one) one=$2; shift 2 ;;
  --jobs) jobs=$2; shift 2 ;;
  --findings) findings=$2; shift 2 ;;
  --regressions-only) regonly=1; shift ;;
  *) usage ;;
  esac
done
for n in "$iterations" "$jobs" ${duration:+"$duration"} ${seed:+"$seed"} ${one:+"$one"}; do
  case $n in ''|*[!0-9]*) echo "fuzz_tshark.sh: not a number: '$n'" >&2; exit 2 ;; esac
done
tshark=${TSHARK:-$(command -v tshark)}
editcap=${EDITCAP:-$(command -v editcap)}
[ -n "$tshark" ] && [ -n "$editcap" ] || { echo "SKIP: tshark or editcap not found"; exit 77; }
for f in "$plugin" "$mutate" "$gen"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "fuzz_tshark.sh: $f: not found" >&2; exit 2; }
done
regdir=$src/tests/fuzz-tshark/regressions

tmp=$(mktemp -d /tmp/fuzz-tshark.XXXXXX)
cleanup() { [ -n "$one" ] || rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp"
mkdir -p "$tmp/home" "$tmp/noglobal" "$tmp/pool"
chmod 777 "$tmp/home"

if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "SKIP: running as root without setpriv"; exit 77; }
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  run_as=()
fi

# The sanitizer runtimes the plugin was linked with (none: a plain build,
# then only crashes, hangs and dissector bugs are seen).
# ASan's runtime must come first.
preload=$(ldd "$plugin" 2>/dev/null | awk '/libasan\.so/ {a=$3} /libubsan\.so/ {u=$3}
  END {s=a; if (u != "") s = s (s != "" ? ":" : "") u; print s}')
sanitized=0
case $preload in *libasan*) sanitized=1 ;; esac
# (no extcap helpers: they would start with the sanitizer runtime preloaded)
export_env=(HOME="$tmp/home" WIRESHARK_PLUGIN_DIR="$tmp/noglobal" WIRESHARK_EXTCAP_DIR="$tmp/noglobal"
  XDG_CONFIG_HOME="$tmp/home/.config"
  WIRESHARK_ABORT_ON_DISSECTOR_BUG=1
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_abort=1:symbolize=1:hard_rss_limit_mb=4096:allocator_may_return_null=0
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
  LD_PRELOAD="$preload")
ts_timeout=${FUZZ_TSHARK_TIMEOUT:-120}
ts() { # DIR ARGS...: tshark as the test user in DIR
  local d=$1; shift
  (cd "$d" && timeout -k 5 "$ts_timeout" "${run_as[@]}" env "${export_env[@]}" "$tshark" "$@")
}

# Install into the personal plugin folder this tshark reports (-G folders
# does not load plugins).
pers=$(cd "$tmp" && "${run_as[@]}" env HOME="$tmp/home" "$tshark" -G folders 2>/dev/null |
       awk -F'\t' '/^Personal Plugins:/ {print $2}')
[ -n "$pers" ] || { echo "FAIL: tshark -G folders gives no personal plugin folder"; exit 1; }
mkdir -p "$pers/epan"
cp "$plugin" "$pers/epan/tcpstate.so"
chmod -R a+rX "$tmp/home"

# The plugin loads and its fields are there (and with them the -e list).
cp "$src/captures/sample.pcap" "$tmp/pool/sample.pcap"
chmod a+r "$tmp/pool/sample.pcap"
ts "$tmp/pool" -r sample.pcap -T fields -e tcpstate.client.state > "$tmp/probe" 2>&1
grep -q ESTABLISHED "$tmp/probe" || { echo "FAIL: the plugin does not work in tshark:"; head -20 "$tmp/probe"; exit 1; }
fields=()
while IFS= read -r f; do fields+=(-e "$f"); done < <(ts "$tmp" -G fields 2>/dev/null |
  awk -F'\t' '$1 == "F" && $3 ~ /^tcpstate\./ {print $3}')
[ ${#fields[@]} -gt 20 ] || { echo "FAIL: tshark -G fields lists no tcpstate fields"; exit 1; }
echo "fuzz_tshark: plugin $plugin ($( [ $sanitized = 1 ] && echo "ASan+UBSan" || echo "no sanitizers")), $((${#fields[@]} / 2)) tcpstate fields"

# ---- the inputs -------------------------------------------------------------------
for k in basic tunnels bad; do "$gen" "$k" "$tmp/pool/gen-$k.pcap" >/dev/null || exit 1; done
"$gen" bench "$tmp/pool/gen-bench.pcap" 40 >/dev/null || exit 1
for f in "$src"/captures/lab/*.pcapng; do
  b=$(basename "$f" .pcapng)
  cp "$f" "$tmp/pool/lab-$b.pcapng"
  "$editcap" -F pcap "$f" "$tmp/pool/lab-$b.pcap" >/dev/null 2>&1 || rm -f "$tmp/pool/lab-$b.pcap"
done
chmod a+r "$tmp"/pool/*
pool=()
while IFS= read -r f; do pool+=("$f"); done < <(ls "$tmp/pool" | grep -E '\.pcap(ng)?$' | sort)

# ---- one check --------------------------------------------------------------------
# verdict OUT ERR RC: prints the problem (empty: fine)
verdict() {
  local out=$1 err=$2 rc=$3
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "timeout (${ts_timeout}s)"; return; fi
  # UBSan first: its abort is reported by ASan too
  if grep -q 'runtime error:' "$err"; then echo "UBSan: $(grep -m1 'runtime error:' "$err")"; return; fi
  if grep -q 'ERROR: AddressSanitizer' "$err"; then
    echo "$(grep -m1 'ERROR: AddressSanitizer' "$err" | sed 's/^==[0-9]*==//')"; return
  fi
  if grep -q 'AddressSanitizer' "$err" && [ "$rc" -ge 128 ]; then
    echo "AddressSanitizer: $(grep -m1 'AddressSanitizer' "$err")"; return
  fi
  if [ "$rc" -ge 128 ]; then echo "crash: exit status $rc (signal $((rc - 128)))"; return; fi
  if grep -qi 'dissector bug' "$out" "$err"; then echo "$(grep -hi -m1 'dissector bug' "$out" "$err")"; return; fi
  if grep -q 'Malformed Packet: TCPSTATE' "$out"; then
    echo "malformed TCPSTATE tree"; return
  fi
  if grep -qE '(CRITICAL|WARNING) \*\*' "$err"; then echo "GLib: $(grep -m1 -E '(CRITICAL|WARNING) \*\*' "$err")"; return; fi
}

full_args=(-2 -V -z tcpstate,flows -z tcpstate,states -z flow,tcpstate,network)
fields_args=(-T fields -E occurrence=a -E aggregator=, -e frame.number "${fields[@]}"
             -z tcpstate,flows -z tcpstate,states)
# filters in both passes (frames the second pass never draws) and on the
# statistics' taps
filtered_args=(-2 -R 'tcpstate.from == "client" || !tcp' -Y 'tcpstate.transition || tcpstate.revised || tcpstate.kernel.agree == 0'
               -T fields -e frame.number -e tcpstate.transition -e tcpstate.flow.history -e tcpstate.kernel.agree
               -z 'tcpstate,flows,tcpstate.flow.close == "ABORT" || tcpstate.retrans.index > 1'
               -z 'tcpstate,states,tcp.port == 8080')

# run_modes DIR FILE TAG EXTRA...: both modes on FILE; prints one line per
# failure "TAG mode: problem"; leaves logs in DIR/TAG.MODE.{out,err}
run_modes() {
  local d=$1 f=$2 tag=$3; shift 3
  local extra=("$@") mode args rc v
  for mode in ${modes:-full fields}; do
    case $mode in
    full) args=("${full_args[@]}") ;;
    fields) args=("${fields_args[@]}") ;;
    *) args=("${filtered_args[@]}") ;;
    esac
    [ $mode = fields ] && [ "${twopass_fields:-0}" = 1 ] && args=(-2 "${args[@]}")
    ts "$d" -r "$f" "${extra[@]}" "${args[@]}" > "$d/$tag.$mode.out" 2> "$d/$tag.$mode.err"
    rc=$?
    v=$(verdict "$d/$tag.$mode.out" "$d/$tag.$mode.err" $rc)
    [ -z "$v" ] && continue
    # the same without the plugin's dissection: tshark's own problem?
    ts "$d" -r "$f" --disable-protocol tcpstate "${extra[@]}" "${args[@]}" \
      > "$d/$tag.$mode.plain.out" 2> "$d/$tag.$mode.plain.err"
    rc=$?
    if [ -n "$(verdict "$d/$tag.$mode.plain.out" "$d/$tag.$mode.plain.err" $rc)" ]; then
      echo "TSHARK $tag $mode: $v"
    else
      echo "FAIL $tag $mode: $v"
    fi
  done
}

# ---- one iteration ------------------------------------------------------------------
profiles=(linux linux-pre-6.5 macos windows)
okeys=(syn_retries syn_linear synack_retries orphan_retries retries2 ka_probes rto_init_ms rto_min_ms
       rto_max_ms fin_timeout_ms timewait_ms ka_time_ms ka_intvl_ms rfc1337 bogus)
ovals=(0 1 2 255 256 3600000 86400000 864000000 4294967295 -1 x "")
# iteration SEED DIR: makes DIR/input.* and DIR/args, runs the modes
iteration() {
  local s=$1 d=$2
  RANDOM=$s
  mkdir -p "$d"; chmod 755 "$d"
  local in=${pool[RANDOM % ${#pool[@]}]} ext cur next log=$d/mutations
  ext=${in##*.}
  : > "$log"
  echo "seed $s: input $in" >> "$log"
  cp "$tmp/pool/$in" "$d/step0.$ext"; cur=$d/step0.$ext
  local step=0
  nextf() { step=$((step + 1)); next=$d/step$step.$ext; }
  if [ "$ext" = pcapng ] && [ $((RANDOM % 5)) = 0 ]; then
    ext=pcap; nextf
    "$editcap" -F pcap "$cur" "$next" >/dev/null 2>&1 && { cur=$next; echo "editcap -F pcap" >> "$log"; }
  fi
  if [ $((RANDOM % 10)) -lt 8 ]; then
    nextf
    echo "mutate $s:" >> "$log"
    "$mutate" -v "$s" "$cur" "$next" 2>> "$log" && cur=$next
  fi
  if [ $((RANDOM % 100)) -lt 35 ]; then
    local probs=(0.0005 0.002 0.01 0.03 0.1) p
    p=${probs[RANDOM % 5]}; nextf
    "$editcap" --seed "$s" -E "$p" "$cur" "$next" >/dev/null 2>&1 && { cur=$next; echo "editcap --seed $s -E $p" >> "$log"; }
  fi
  if [ $((RANDOM % 100)) -lt 15 ]; then
    local snaps=(14 20 34 38 40 54 58 60 64 66 74 80 100 200) sl
    sl=${snaps[RANDOM % 14]}; nextf
    "$editcap" -s "$sl" "$cur" "$next" >/dev/null 2>&1 && { cur=$next; echo "editcap -s $sl" >> "$log"; }
  fi
  if [ $((RANDOM % 100)) -lt 20 ]; then
    local size cut
    size=$(stat -c %s "$cur")
    # mostly in the second half (the first packets' records survive)
    if [ $((RANDOM % 4)) = 0 ]; then cut=$(( (RANDOM * 32768 + RANDOM) % (size + 1) ))
    else cut=$(( size - (RANDOM * 32768 + RANDOM) % (size / 2 + 1) )); fi
    nextf
    head -c "$cut" "$cur" > "$next"; cur=$next; echo "file cut at byte $cut of $size" >> "$log"
  fi
  mv "$cur" "$d/input.$ext"
  rm -f "$d"/step*.*
  chmod a+r "$d/input.$ext"
  # preferences
  local extra=()
  [ $((RANDOM % 10)) -lt 3 ] && extra+=(-o "tcpstate.profile:${profiles[RANDOM % 4]}")
  if [ $((RANDOM % 10)) -lt 2 ]; then
    local ov="" k
    for ((k = RANDOM % 4; k >= 0; k--)); do
      ov+="${ov:+,}${okeys[RANDOM % ${#okeys[@]}]}=${ovals[RANDOM % ${#ovals[@]}]}"
    done
    extra+=(-o "tcpstate.overrides:$ov")
  fi
  [ $((RANDOM % 100)) -lt 15 ] && extra+=(-o tcpstate.two_pass:FALSE)
  [ $((RANDOM % 100)) -lt 10 ] && extra+=(-o tcpstate.info_tag:FALSE)
  [ $((RANDOM % 100)) -lt 10 ] && extra+=(-o tcpstate.lab_profile:FALSE)
  [ $((RANDOM % 100)) -lt 10 ] && extra+=(-o "tcpstate.close_wait_threshold:$((RANDOM % 3 * 1000))")
  [ $((RANDOM % 100)) -lt 10 ] && extra+=(-c "$((1 + RANDOM % 40))")
  twopass_fields=$((s % 2))
  modes="full fields"
  [ $((RANDOM % 3)) = 0 ] && modes="full fields filtered"
  printf '%s\n' "${extra[@]}" > "$d/args"
  [ "$twopass_fields" = 1 ] && echo "fields mode with -2" >> "$log"
  [ ${#extra[@]} -gt 0 ] && echo "tshark options: ${extra[*]}" >> "$log"
  echo "modes: $modes" >> "$log"
  run_modes "$d" "input.$ext" it "${extra[@]}"
}

# save DIR WHERE: keep a failing input with what is needed to run it again
save() {
  local d=$1 where=$2 s=$3 f base
  mkdir -p "$where"
  f=$(ls "$d"/input.* | head -1)
  base=s$s-$(sed -n '1s/.*input //p' "$d/mutations" | sed 's/\.pcap\(ng\)\?$//')
  cp "$f" "$where/$base.${f##*.}"
  cp "$d/args" "$where/$base.args"
  { cat "$d/mutations"; echo; cat "$d/verdicts"; echo
    for e in "$d"/it.*.err; do echo "== $(basename "$e")"; head -80 "$e"; done; } > "$where/$base.log"
  echo "  saved $where/$base.${f##*.} (+ .args, .log)"
}

# ---- the regression fixtures ------------------------------------------------------------
fails=0 foreign=0 runs=0
mkdir -p "$tmp/reg"; chmod 755 "$tmp/reg"
if [ -z "$one" ]; then
  nreg=0
  for f in "$regdir"/*.pcap "$regdir"/*.pcapng; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    cp "$f" "$tmp/reg/$b"; chmod a+r "$tmp/reg/$b"
    extra=()
    if [ -f "${f%.*}.args" ]; then while IFS= read -r a; do [ -n "$a" ] && extra+=("$a"); done < "${f%.*}.args"; fi
    for twopass_fields in 0 1; do
      if [ $twopass_fields = 0 ]; then modes="full fields filtered"; else modes=fields; fi
      r=$(run_modes "$tmp/reg" "$b" "reg" "${extra[@]}")
      nreg=$((nreg + 1))
      if [ -n "$r" ]; then
        echo "$r" | sed "s#^\(FAIL\|TSHARK\) reg#\1 regression $b#"
        if echo "$r" | grep -q '^FAIL'; then
          fails=$((fails + 1))
          for m in $(echo "$r" | awk '$1 == "FAIL" {sub(":", "", $3); print $3}'); do
            sed -n '1,30p' "$tmp/reg/reg.$m.err"
          done
        fi
      fi
    done
    modes=
  done
  echo "fuzz_tshark: $((nreg / 2)) regression fixtures, $fails failing runs"
  [ $regonly = 1 ] && { [ $fails = 0 ]; exit $?; }
fi

# ---- the mutations ---------------------------------------------------------------------------
if [ -n "$one" ]; then
  d=$tmp/one
  iteration "$one" "$d" > "$d.verdicts" 2>&1 || true
  cat "$d/mutations"
  cat "$d.verdicts"
  echo "files kept in $d (input, args, it.*.out/err)"
  mapfile -t extra < "$d/args"
  for m in $(sed -n 's/^modes: //p' "$d/mutations"); do
    case $m in
    full) args=("${full_args[@]}") ;;
    fields) args=("${fields_args[@]}"); [ $((one % 2)) = 1 ] && args=(-2 "${args[@]}") ;;
    *) args=("${filtered_args[@]}") ;;
    esac
    echo "$m: (cd $d &&${run_as[*]:+ ${run_as[*]}} env$(printf ' %q' "${export_env[@]}") $tshark -r $(basename "$d"/input.*)$(printf ' %q' "${extra[@]}" "${args[@]}"))"
  done
  grep -q '^FAIL' "$d.verdicts" && exit 1
  exit 0
fi

[ -n "$seed" ] || seed=$(( $(date +%s) % 100000000 ))
if [ -n "$duration" ]; then
  echo "fuzz_tshark: seed $seed, $duration s, $jobs jobs"
  deadline=$(( $(date +%s) + duration ))
else
  echo "fuzz_tshark: seed $seed, $iterations iterations, $jobs jobs"
  deadline=
fi
worker() { # W: iterations W, W+jobs, ...
  local w=$1 i=$1 s d
  while :; do
    if [ -n "$deadline" ]; then [ "$(date +%s)" -lt "$deadline" ] || break
    else [ "$i" -lt "$iterations" ] || break; fi
    s=$((seed + i)); d=$tmp/w$w
    rm -rf "$d"
    iteration "$s" "$d" > "$tmp/w$w.verdicts" 2>&1
    cp "$tmp/w$w.verdicts" "$d/verdicts"
    echo "run $s" >> "$tmp/w$w.status"
    if grep -q '^FAIL' "$d/verdicts"; then
      { echo "FINDING seed $s: $(sed -n '1s/.*input //p' "$d/mutations")"; sed 's/^/  /' "$d/verdicts"
        save "$d" "$findings" "$s"; } >> "$tmp/w$w.status"
    elif grep -q '^TSHARK' "$d/verdicts"; then
      { echo "tshark's own problem, seed $s:"; sed 's/^/  /' "$d/verdicts"
        save "$d" "$findings/tshark-only" "$s"; } >> "$tmp/w$w.status"
    fi
    i=$((i + jobs))
  done
}
pids=()
for ((w = 0; w < jobs; w++)); do : > "$tmp/w$w.status"; worker $w & pids+=($!); done
wait "${pids[@]}"
for ((w = 0; w < jobs; w++)); do
  runs=$((runs + $(grep -c '^run ' "$tmp/w$w.status")))
  fails=$((fails + $(grep -c '^FINDING' "$tmp/w$w.status")))
  foreign=$((foreign + $(grep -c "^tshark's own" "$tmp/w$w.status")))
  grep -v '^run ' "$tmp/w$w.status"
done
echo "fuzz_tshark: $runs mutated inputs (seeds from $seed), $fails with findings, $foreign tshark-only"
if [ "$fails" != 0 ]; then
  echo "reproduce one: $0 $plugin $mutate $gen $src --one SEED"
  exit 1
fi
exit 0
