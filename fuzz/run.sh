#!/usr/bin/env bash
# Run the engine's libFuzzer harness for a bounded time.
#
#   fuzz/run.sh [BUILD_DIR] [SECONDS] [libFuzzer options...]
#
# BUILD_DIR is a build configured with -DTCPSTATE_FUZZ=ON and clang
# (default build-fuzz; tools/test.sh makes it).  Seeds: every scenario file
# (both modes) and fuzz/regressions/; new inputs accumulate in
# BUILD_DIR/fuzz/corpus between runs.  A finding (invariant violation,
# sanitizer report, crash, timeout, memory limit) is written to
# BUILD_DIR/fuzz/artifacts/ and the exit status is non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz} secs=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
fuzzer=$build/fuzz/tcpstate-fuzz-engine seeds=$build/fuzz/tcpstate-fuzz-seeds
[ -x "$fuzzer" ] && [ -x "$seeds" ] || {
  echo "fuzz/run.sh: $fuzzer not built (cmake -DCMAKE_C_COMPILER=clang -DTCPSTATE_FUZZ=ON)" >&2; exit 2; }
case $secs in ''|*[!0-9]*) echo "fuzz/run.sh: SECONDS must be a number, got '$secs'" >&2; exit 2;; esac
out=$build/fuzz
rm -rf "$out/seeds"
mkdir -p "$out/corpus" "$out/seeds" "$out/artifacts"
"$seeds" "$out/seeds" tests/scenarios/*.scn >/dev/null
regressions=()
for f in fuzz/regressions/*; do
  case $(basename "$f") in README*) ;; *) [ -f "$f" ] && regressions+=("$f") ;; esac
done
if [ ${#regressions[@]} -gt 0 ]; then cp "${regressions[@]}" "$out/seeds/"; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -use_value_profile=1 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
  "$@" "$out/corpus" "$out/seeds" 2> "$out/fuzz.log" || status=$?
if [ $status -eq 0 ]; then
  echo "fuzz/run.sh: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/fuzz.log" | tail -n 1) ($secs s, no finding)"
else
  grep -E 'invariant violated|^  op [0-9]|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' \
    "$out/fuzz.log" | head -n 5 >&2
  tail -n 15 "$out/fuzz.log" >&2
  echo "fuzz/run.sh: FINDING (exit $status); full log $out/fuzz.log; input(s):" >&2
  ls -t "$out/artifacts/" | head -3 | sed "s|^|  $out/artifacts/|" >&2
  echo "  reproduce: $build/fuzz/tcpstate-fuzz-replay -v FILE; once fixed, keep it in fuzz/regressions/" >&2
fi
exit $status
