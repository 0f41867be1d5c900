#!/usr/bin/env bash
# Screenshots of the Wireshark GUI with the tcpstate profile, for docs/.
#
#   tools/screenshots.sh [PLUGIN.so [OUTDIR]]
#
# Runs Debian's wireshark (wireshark-qt) under Xvfb on lab captures, with
# the plugin and the profile (profiles/tcpstate) in a throw-away HOME, as
# nobody when run as root (Wireshark ignores personal folders, and nags,
# when run as root), and writes PNG files:
#   wireshark-fin-wait-1.png      packet list and the tcpstate tree of a FIN retransmission
#   wireshark-keepalive-dead.png  keepalive probes and the RST that ends them
#   wireshark-close-wait.png      CLOSE_WAIT, the orphan client, the RST to late data
#   wireshark-flow-graph.png      Statistics > Flow Graph, flow type TCP Endpoint States
#   wireshark-connections.png     Statistics > TCP Endpoint States/Connections
# Needs Xvfb, xdotool and ImageMagick's import (tools/setup.sh installs
# them).  The menus and dialogs are driven by keys and clicks at fixed
# positions of a 1600x1000 screen (Wireshark 4.0); look at the images.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=${1:-$root/build/plugin/tcpstate.so}
out=${2:-$root/docs}
for t in Xvfb xdotool import wireshark; do
  command -v "$t" >/dev/null || { echo "screenshots.sh: $t not found (tools/setup.sh installs it)" >&2; exit 2; }
done
[ -f "$plugin" ] || { echo "screenshots.sh: no plugin at $plugin (build first)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

tmp=$(mktemp -d)
xpid= wpid=
cleanup() {
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
  [ -n "$xpid" ] && kill "$xpid" 2>/dev/null && wait "$xpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp"
if [ "$(id -u)" = 0 ]; then
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  run_as=()
fi
mkdir -p "$tmp/run" "$tmp/noglobal"
chmod 700 "$tmp/run"
[ "$(id -u)" = 0 ] && chown 65534:65534 "$tmp/run"
cp "$root"/captures/lab/*.pcapng "$tmp/"
chmod a+r "$tmp"/*.pcapng

Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3> "$tmp/display" > "$tmp/xvfb.log" 2>&1 &
xpid=$!
for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
[ -s "$tmp/display" ] || { echo "screenshots.sh: Xvfb did not start" >&2; exit 1; }
export DISPLAY=:$(head -1 "$tmp/display")

# a fresh HOME for every run: plugin, profile, no byte pane (room for the tree)
fresh_home() {
  rm -rf "$tmp/home"
  local h=$tmp/home
  mkdir -p "$h/.local/lib/wireshark/plugins/4.0/epan" "$h/.config/wireshark/profiles"
  cp "$plugin" "$h/.local/lib/wireshark/plugins/4.0/epan/tcpstate.so"
  cp -r "$root/profiles/tcpstate" "$h/.config/wireshark/profiles/"
  printf 'gui.byte_view_show: FALSE\n' \
    >> "$h/.config/wireshark/profiles/tcpstate/recent"
  chmod -R a+rwX "$h"
}
# start CAPTURE ARGS...: wireshark on a lab capture, main window at 1600x1000
start() {
  local cap=$1; shift
  fresh_home
  (cd "$tmp" && exec "${run_as[@]}" env -u WIRESHARK_CONFIG_DIR HOME="$tmp/home" \
     XDG_CONFIG_HOME="$tmp/home/.config" WIRESHARK_PLUGIN_DIR="$tmp/noglobal" \
     WIRESHARK_EXTCAP_DIR="$tmp/noglobal" \
     XDG_RUNTIME_DIR="$tmp/run" QT_QPA_PLATFORM=xcb LC_ALL=C.UTF-8 \
     wireshark -C tcpstate -o gui.update.enabled:FALSE "$@" -r "$tmp/$cap.pcapng") \
     > "$tmp/ws.log" 2>&1 &
  wpid=$!
  win=
  for _ in $(seq 120); do
    win=$(xdotool search --name "^$cap\\.pcapng" 2>/dev/null | head -1) && [ -n "$win" ] && break
    sleep 0.5
  done
  [ -n "$win" ] || { echo "screenshots.sh: no window for $cap" >&2; cat "$tmp/ws.log" >&2; exit 1; }
  xdotool windowmove "$win" 0 0 windowsize "$win" 1600 1000
  sleep 3
  xdotool windowfocus --sync "$win"
}
stop() {
  kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true
  wpid=
  if grep -iE 'warn|error|critical|preference|profile|plugin|tcpstate|colorfilter|dfilter' "$tmp/ws.log"; then
    echo "screenshots.sh: wireshark reported the above" >&2; exit 1
  fi
}
# find NAME: the id of a window whose title matches
find_win() {
  local w=
  for _ in $(seq 40); do
    w=$(xdotool search --name "$1" 2>/dev/null | head -1) && [ -n "$w" ] && break
    sleep 0.25
  done
  [ -n "$w" ] || { echo "screenshots.sh: no window '$1'" >&2; exit 1; }
  echo "$w"
}
# main window with packet N selected and the tcpstate subtree (6th row of
# the details: packet comments, frame, Ethernet, IP, TCP, tcpstate) expanded
packet_shot() { # CAPTURE N OUT.png [wireshark args]
  local cap=$1 n=$2 png=$3; shift 3
  start "$cap" -g "$n" "$@"
  xdotool mousemove 300 632 click 1
  sleep 0.5
  xdotool key shift+Right
  sleep 1.5
  import -window root "$out/$png"
  stop
  echo "$out/$png"
}

packet_shot fin-wait-1 11 wireshark-fin-wait-1.png
packet_shot keepalive-dead 10 wireshark-keepalive-dead.png
packet_shot close-wait 10 wireshark-close-wait.png

# Statistics > Flow Graph (the 19th entry of the Statistics menu in 4.0),
# then the flow type "TCP Endpoint States" (the last of the list)
start fin-wait-1
xdotool key alt+s
sleep 0.5
for _ in $(seq 18); do xdotool key Down; done
xdotool key Return
fw=$(find_win ' Flow ')
xdotool windowmove "$fw" 0 0 windowsize "$fw" 1600 800
sleep 1
xdotool mousemove 835 745 click 1
sleep 0.5
xdotool key End Return
sleep 1.5
import -window "$fw" "$out/wireshark-flow-graph.png"
stop
echo "$out/wireshark-flow-graph.png"

# Statistics > TCP Endpoint States/Connections (-z tcpstate,flows opens it)
start tw-reuse -z tcpstate,flows
cw=$(find_win 'TCP Endpoint States/Connections')
xdotool windowmove "$cw" 0 0 windowsize "$cw" 1600 260
sleep 1.5
import -window "$cw" "$out/wireshark-connections.png"
stop
echo "$out/wireshark-connections.png"
