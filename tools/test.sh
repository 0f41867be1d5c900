#!/usr/bin/env bash
# The whole test suite: build (if needed) and run every CTest, then the
# engine's tests again under AddressSanitizer and UBSan, the engine's
# libFuzzer run, and the plugin built with ASan/UBSan in tshark on mutated
# captures (tests/fuzz-tshark).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
status=0
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@" || status=1
echo "== engine tests under ASan/UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTCPSTATE_WITH_PCAP=OFF \
  -DTCPSTATE_WITH_WIRESHARK=OFF -DTCPSTATE_BENCH=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -L engine || status=1
echo "== engine fuzzing: libFuzzer, ${TCPSTATE_FUZZ_SECONDS:-60} s (fuzz/README.md)"
if command -v clang >/dev/null; then
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTCPSTATE_FUZZ=ON -DTCPSTATE_WITH_PCAP=OFF -DTCPSTATE_WITH_WIRESHARK=OFF \
    -DTCPSTATE_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j"$(nproc)" \
    --target tcpstate-fuzz-engine tcpstate-fuzz-seeds tcpstate-fuzz-replay >/dev/null
  fuzz/run.sh build-fuzz "${TCPSTATE_FUZZ_SECONDS:-60}" || status=1
else
  echo "clang not found (tools/setup.sh installs it)"
  status=1
fi
echo "== the Wireshark plugin under ASan/UBSan in tshark, on mutated captures"
cmake -S . -B build-plugin-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSTATE_WITH_PCAP=OFF \
  -DTCPSTATE_BENCH=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
fuzz_tests=$(ctest --test-dir build-plugin-asan -N -R '^fuzz\.tshark')
if [[ $fuzz_tests == *fuzz.tshark* ]]; then
  cmake --build build-plugin-asan -j"$(nproc)" \
    --target tcpstate_wireshark tcpstate-plugin-gen tcpstate-fuzz-mutate >/dev/null
  ctest --test-dir build-plugin-asan --output-on-failure -R '^fuzz\.tshark' || status=1
else
  echo "(no Wireshark development files: skipped)"
fi
exit $status
