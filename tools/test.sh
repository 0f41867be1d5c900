#!/usr/bin/env bash
# The whole test suite: build (if needed) and run every CTest, then the
# engine's tests again under AddressSanitizer and UBSan.
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
exit $status
