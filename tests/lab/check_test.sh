#!/usr/bin/env bash
# tcpstate-lab check on the capture of one experiment (from lab.run-all):
# the engine must agree with the kernel on at least 99% of the packets.
#   check_test.sh LAB DIR NAME
set -u
lab=$1 dir=$2 x=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
cap=$dir/$x.pcapng
[ -s "$cap" ] || { echo "FAIL: $cap missing (lab.run-all failed?)"; exit 1; }
"$lab" check "$cap"
