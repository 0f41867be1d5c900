#!/usr/bin/env bash
# Install the Debian 12 packages tcpstate needs, build everything, install.
#   tools/setup.sh            packages + build + install
#   tools/setup.sh --no-apt   build + install only
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(build-essential cmake pkg-config libpcap-dev tcpdump iproute2 nftables
          tshark libwireshark-dev wireshark-dev python3
          libnftables-dev libmnl-dev libwiretap-dev util-linux tcptrace
          wireshark-qt xvfb xdotool imagemagick
          clang libclang-rt-14-dev llvm)
if [ "${1:-}" != "--no-apt" ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "setup.sh: installing ${missing[*]} needs root" >&2; exit 2; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
if [ "$(id -u)" = 0 ]; then cmake --install build >/dev/null; fi
