#!/usr/bin/env python3
"""Generate docs/walkthrough.md from the committed lab captures.

    tools/gen-walkthrough.py [--lab TCPSTATE-LAB] [--plugin tcpstate.so]
                             [--tshark TSHARK] [-o OUT]

Every excerpt comes from running the tools on captures/lab/*.pcapng:
`tcpstate-lab list -v`, `analyze`, `check --comments`, and tshark with the
plugin and the profile in profiles/tcpstate (columns, colouring rules,
filter buttons, the tcpstate flow graph).  The only hand-written parts are
the introduction and, per experiment, what to look at and which filter
button to press; generation fails if an experiment has no capture or no
such text, or if its button selects nothing.  The output depends on the
captures and the code only (relative times, no paths, no dates), so the
CTest profile.walkthrough regenerates it and compares it with the
committed file.

tshark runs with a throw-away HOME holding the plugin (personal plugin
folder) and the profile; as root it runs as nobody, since tshark ignores
the personal folders of root.
"""
import argparse
import decimal
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE_FILES = ["preferences", "colorfilters", "dfilter_buttons", "dfilters", "recent"]

# The profile's columns, by title (see profiles/tcpstate/preferences).
COLUMNS = ["Client state", "Server state", "Phase", "Retrans", "Keepalive",
           "Client in state", "Server in state"]

# What to look at in each experiment, and the filter button that shows it.
LOOK = {
    "handshake-close": ("State changes", [
        "Three packets close the connection: the client's FIN (client FIN_WAIT_1, "
        "server CLOSE_WAIT), the server's FIN+ACK (client TIME_WAIT, server LAST_ACK) "
        "and the client's last ACK (server CLOSED).",
        "The server's application closed before its delayed ACK went out, so its FIN "
        "carries the ACK: the close kind is `THREE_WAY` and the client never shows "
        "FIN_WAIT_2.",
    ]),
    "close-4way": ("State changes", [
        "The server's kernel ACKs the client's FIN on its own: the client moves to "
        "FIN_WAIT_2 while the server sits in CLOSE_WAIT (phase *half-closed*, yellow).",
        "The server's FIN comes 300 ms later (LAST_ACK), the client answers from "
        "TIME_WAIT: four packets, close kind `FOUR_WAY`.",
    ]),
    "syn-sent": ("SYN retries", [
        "Every SYN is dropped at the server, which stays in LISTEN: the client is in "
        "SYN_SENT on each copy, and the Retrans column counts them (`SYN,1`, `SYN,2`), "
        "1 s apart (linear SYN timeouts).",
        "After the last retransmission nothing more is sent: giving up a SYN is "
        "silent (connect() gets ETIMEDOUT), the Zeek state is `S0`.",
    ]),
    "syn-recv": ("SYN retries", [
        "The server's request (SYN_RECV) retransmits its SYN-ACK on its own timer and "
        "answers each retransmitted SYN at once with another SYN-ACK; the client "
        "never sees one and stays in SYN_SENT.",
        "Both kinds of retransmission are numbered in the Retrans column; the request "
        "then expires without a packet.",
    ]),
    "fin-wait-1": ("FIN_WAIT_1", [
        "The client closed: its FIN and every copy of it leave the client in "
        "FIN_WAIT_1 while the server, which never receives them, stays ESTABLISHED.",
        "The Retrans column numbers the copies: the first is a tail loss probe, then "
        "RTO retransmissions whose gaps double; the colour darkens with the index. "
        "*Client in state* is the time since the first FIN.",
        "The orphan gives up silently after its time budget (`tcp_orphan_retries`); "
        "the server's later data finds no socket and gets a bare RST (cause in the "
        "tree, brown row).",
    ]),
    "fin-wait-2": ("FIN_WAIT_2", [
        "The client's FIN is ACKed (client FIN_WAIT_2, an orphan with the "
        "`tcp_fin_timeout` timer), the server closes and retransmits its FIN from "
        "LAST_ACK because the client's kernel drops every copy.",
        "The client's FIN_WAIT_2 ends by its timer with no packet (client CLOSED "
        "while the server still retransmits); the next FIN gets a RST.",
    ]),
    "close-wait": ("CLOSE_WAIT", [
        "The server's application never closes: after the client's FIN the server "
        "stays in CLOSE_WAIT to the end.",
        "The client, an orphan in FIN_WAIT_2, times out silently (`tcp_fin_timeout` "
        "= 1 s here); the server's late data then gets a RST.",
    ]),
    "time-wait": ("TIME_WAIT", [
        "The client enters TIME_WAIT at the server's FIN; its final ACK is dropped, "
        "so the server stays in LAST_ACK and retransmits the FIN.",
        "Every copy is ACKed again from TIME_WAIT; once the rule is lifted the next "
        "ACK arrives and the server closes.",
    ]),
    "keepalive": ("Keepalive", [
        "After 1 s of silence the client sends a keepalive probe (a zero-length ACK "
        "one byte below the next sequence number); the server answers it.",
        "Each answer restarts the idle time, so every probe is probe 1 again "
        "(Keepalive column, blue rows).",
    ]),
    "keepalive-dead": ("Keepalive", [
        "The probes are dropped at the server: the Keepalive column counts them "
        "(1, 2), nothing answers.",
        "After `tcp_keepalive_probes` unanswered probes the client resets the "
        "connection with RST+ACK: cause *keepalive timeout* (navy row).",
    ]),
    "simultaneous-close": ("State changes", [
        "Both sides close at once and both FINs are dropped: both are in FIN_WAIT_1.",
        "When the rules are lifted the retransmitted FINs cross: each side goes to "
        "CLOSING, then to TIME_WAIT when its FIN is ACKed; close kind `SIMULTANEOUS`.",
    ]),
    "half-close": ("Half-close", [
        "The client calls shutdown(SHUT_WR): its FIN is ACKed and it stays in "
        "FIN_WAIT_2 with no timer, still receiving the server's data (yellow rows, "
        "*Half-closed* in the tree).",
        "It is no orphan (the *Orphans* button selects nothing here); the server "
        "closes when it is done and the client ends in TIME_WAIT.",
    ]),
    "abort-linger0": ("RST", [
        "With SO_LINGER {1, 0}, close() sends RST+ACK instead of a FIN: both sides "
        "go straight from ESTABLISHED to CLOSED, no TIME_WAIT.",
        "On the wire this abort looks the same as a close() with unread data: the "
        "cause is the engine's reading of the context.",
    ]),
    "abort-unread": ("RST", [
        "close() with received data still unread aborts the connection: RST+ACK, "
        "both sides CLOSED, cause *closed with unread data* (crimson row).",
    ]),
    "refused": ("RST", [
        "No listener: the SYN is answered by RST+ACK, the client goes from SYN_SENT "
        "to CLOSED (connect() gets ECONNREFUSED); cause *connection refused* "
        "(purple row), Zeek state `REJ`.",
    ]),
    "tw-reuse": ("State changes", [
        "The server closes first and ends in TIME_WAIT; the client then connects "
        "again from the same port.",
        "The new SYN reuses the 4-tuple in TIME_WAIT: it is a new connection (id 2), "
        "and the server's new ISN is its old send sequence + 65537, the sign that "
        "it accepted the SYN into its TIME_WAIT (expert info).",
    ]),
}


def die(msg):
    sys.stderr.write("gen-walkthrough: %s\n" % msg)
    sys.exit(1)


def run(cmd, env=None, cwd=None, check=True):
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        die("%s failed (%d): %s" % (" ".join(cmd[:3]), p.returncode, p.stderr.strip()[:500]))
    return p


def uat_unescape(s):
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), s)


def read_buttons(profile):
    out = []
    with open(os.path.join(profile, "dfilter_buttons"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
            if len(fields) != 4:
                die("dfilter_buttons: bad line %r" % line)
            out.append((uat_unescape(fields[1]), uat_unescape(fields[2]), uat_unescape(fields[3])))
    return out


def read_colours(profile):
    out = []
    with open(os.path.join(profile, "colorfilters"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^@([^@]*)@([^@]*)@\[(\d+),(\d+),(\d+)\]\[(\d+),(\d+),(\d+)\]\s*$", line)
            if not m:
                continue
            bg = "#%02X%02X%02X" % tuple(int(m.group(i)) // 257 for i in (3, 4, 5))
            fg = "#%02X%02X%02X" % tuple(int(m.group(i)) // 257 for i in (6, 7, 8))
            out.append((m.group(1), m.group(2), bg, fg))
    return out


class Tshark:
    def __init__(self, tshark, plugin, profile, tmp):
        self.tshark = tshark
        self.tmp = tmp
        home = os.path.join(tmp, "home")
        noglobal = os.path.join(tmp, "noglobal")
        os.makedirs(home)
        os.makedirs(noglobal)
        os.chmod(tmp, 0o755)
        self.env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                        WIRESHARK_PLUGIN_DIR=noglobal, WIRESHARK_EXTCAP_DIR=noglobal,
                        LC_ALL="C.UTF-8", TZ="UTC")
        self.env.pop("WIRESHARK_CONFIG_DIR", None)
        self.prefix = []
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                die("running as root needs setpriv (util-linux) to run tshark as nobody")
            self.prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        folders = self.run(["-G", "folders"])
        pers = conf = None
        for line in folders.splitlines():
            k, _, v = line.partition("\t")
            if k.startswith("Personal Plugins:"):
                pers = v.strip()
            elif k.startswith("Personal configuration:"):
                conf = v.strip()
        if not pers or not conf:
            die("tshark -G folders shows no personal folders")
        os.makedirs(os.path.join(pers, "epan"))
        shutil.copy(plugin, os.path.join(pers, "epan", "tcpstate.so"))
        dest = os.path.join(conf, "profiles", "tcpstate")
        os.makedirs(dest)
        for f in PROFILE_FILES:
            shutil.copy(os.path.join(profile, f), dest)
        for d, _, files in os.walk(home):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        os.chmod(home, 0o777)  # tshark may write its own files there

    def run(self, args, cwd=None):
        p = run(self.prefix + [self.tshark] + args, env=self.env, cwd=cwd or self.tmp)
        err = "\n".join(l for l in p.stderr.splitlines() if l.strip())
        if err:
            die("tshark %s printed: %s" % (" ".join(args), err[:500]))
        return p.stdout


def align(rows, right=()):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return out


def lab_list(lab):
    """[(name, short, paragraph, [extra lines])] from tcpstate-lab list -v."""
    text = run([lab, "list", "-v"]).stdout
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        name = lines[0].strip()
        short = lines[1].strip() if len(lines) > 1 else ""
        para = lines[2].strip() if len(lines) > 2 else ""
        out.append((name, short, para, [l.strip() for l in lines[3:]]))
    names = run([lab, "list"]).stdout.split()
    listed = [l.split()[0] for l in run([lab, "list"]).stdout.splitlines() if l.strip()]
    if [o[0] for o in out] != listed:
        die("tcpstate-lab list -v and list disagree (%r)" % names[:3])
    return out


def lab_events(lab, cap, t0):
    out = []
    text = run([lab, "check", "--comments", cap], cwd=ROOT, check=False).stdout
    for line in text.splitlines():
        m = re.match(r"^packet (\d+): tcpstate-lab/1 (event|rule) (.*)$", line)
        if not m:
            continue
        kv = {}
        for tok in shlex.split(m.group(3)):
            k, _, v = tok.partition("=")
            kv[k] = v
        t = decimal.Decimal(kv.get("t", "0")) - t0
        when = "%.6f" % t
        if m.group(2) == "event":
            what = kv.get("what", "")
        else:
            what = "rule %s (%s %s): %s" % ("added" if kv.get("action") == "add" else "lifted",
                                           kv.get("side", "?"), kv.get("hook", "?"), kv.get("text", ""))
        out.append(("packet %s" % m.group(1), when, kv.get("side", ""), what))
    return out


def main():
    ap = argparse.ArgumentParser(description="generate docs/walkthrough.md")
    ap.add_argument("--lab", default=None, help="tcpstate-lab (default: build/capture-helper/tcpstate-lab)")
    ap.add_argument("--plugin", default=None, help="tcpstate.so (default: build/plugin/tcpstate.so)")
    ap.add_argument("--tshark", default="tshark")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    lab = a.lab or os.path.join(ROOT, "build", "capture-helper", "tcpstate-lab")
    plugin = a.plugin or os.path.join(ROOT, "build", "plugin", "tcpstate.so")
    for what, path in (("tcpstate-lab", lab), ("plugin", plugin)):
        if not os.path.isfile(path):
            die("%s not found: %s" % (what, path))
    if not shutil.which(a.tshark):
        die("tshark not found: %s" % a.tshark)
    lab = os.path.abspath(lab)
    profile = os.path.join(ROOT, "profiles", "tcpstate")
    capdir = os.path.join(ROOT, "captures", "lab")

    with tempfile.TemporaryDirectory(prefix="tcpstate-walk.") as tmp:
        ts = Tshark(a.tshark, plugin, profile, tmp)
        text = generate(ts, lab, profile, capdir, tmp)
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(text)


def generate(ts, lab, profile, capdir, tmp):
    experiments = lab_list(lab)
    buttons = read_buttons(profile)
    bfilter = {b[0]: b[1] for b in buttons}
    colours = read_colours(profile)
    missing = [e[0] for e in experiments if e[0] not in LOOK]
    if missing:
        die("no 'what to look at' text for: %s" % ", ".join(missing))
    stale = sorted(set(LOOK) - {e[0] for e in experiments})
    if stale:
        die("text for experiments tcpstate-lab does not list: %s" % ", ".join(stale))

    o = []
    w = o.append
    w("# Walk-through: the TCP lifecycle in the lab captures")
    w("")
    w("<!-- Generated by tools/gen-walkthrough.py from captures/lab/*.pcapng; do not edit.")
    w("     The CTest profile.walkthrough fails when this file differs from a fresh run. -->")
    w("")
    w("Each section below is one experiment of `tcpstate-lab`: the classic TCP "
      "lifecycle situations, reproduced against the real Linux kernel between two "
      "network namespaces (see the README). For each: the command that records it, "
      "what happens, what to look at, and excerpts of what the tools show on the "
      "capture committed in `captures/lab/`.")
    w("")
    w("## Before you start")
    w("")
    w("```sh")
    w("tools/setup.sh                      # packages, build, install: plugin + profile")
    w("wireshark -C tcpstate captures/lab/fin-wait-1.pcapng")
    w("tshark -C tcpstate -2 -r captures/lab/fin-wait-1.pcapng")
    w("```")
    w("")
    w("`-C tcpstate` selects the profile (in the GUI: *Edit → Configuration Profiles*, or "
      "the *Profile* field at the bottom right). The experiments scale the kernel's "
      "timers down with sysctls; the capture records them, and the plugin (preference "
      "`tcpstate.lab_profile`), `tcpstate-lab analyze` and `check` run the engine with "
      "them, so timer-driven state changes come when the kernel's did.")
    w("")
    w("### The columns")
    w("")
    w("| column | field | meaning |")
    w("|---|---|---|")
    w("| Client state, Server state | `tcpstate.client.state`, `tcpstate.server.state` | "
      "each endpoint's state after this packet (the sender's as it sent it) |")
    w("| Phase | `tcpstate.phase` | handshake, established, half-closed, closing, "
      "time-wait, closed, reset |")
    w("| Retrans | `tcpstate.retrans.kind`, `tcpstate.retrans.index` | e.g. `FIN,3`: "
      "the third retransmission of a FIN |")
    w("| Keepalive | `tcpstate.keepalive.index` | keepalive probe number since the "
      "peer last answered |")
    w("| Client in state, Server in state | `tcpstate.client.time_in_state`, "
      "`tcpstate.server.time_in_state` | seconds in the current state |")
    w("")
    w("### The colours")
    w("")
    w("The first matching rule colours a row (*View → Coloring Rules*). "
      "The text column of the tables below names the rule that coloured each packet.")
    w("")
    w("| rule | filter | background | text |")
    w("|---|---|---|---|")
    for name, flt, bg, fg in colours:
        w("| %s | `%s` | `%s` | `%s` |" % (name.replace("tcpstate: ", ""),
                                          flt.replace("|", "\\|"), bg, fg))
    w("")
    w("### The filter buttons")
    w("")
    w("| button | filter | shows |")
    w("|---|---|---|")
    for label, flt, comment in buttons:
        w("| %s | `%s` | %s |" % (label, flt.replace("|", "\\|"), comment))
    w("")
    w("## The experiments")
    w("")
    for i, (name, _, _, _) in enumerate(experiments, 1):
        w("%d. [%s](#%d-%s)" % (i, name, i, name))
    w("")

    for i, (name, short, para, extra) in enumerate(experiments, 1):
        cap_rel = "captures/lab/%s.pcapng" % name
        cap = os.path.join(capdir, name + ".pcapng")
        if not os.path.isfile(cap):
            die("no capture for experiment %s: %s" % (name, cap_rel))
        local = os.path.join(tmp, name + ".pcapng")
        shutil.copy(cap, local)
        os.chmod(local, 0o644)
        button, look = LOOK[name]
        if button not in bfilter:
            die("%s: no filter button %r" % (name, button))

        w("## %d. %s" % (i, name))
        w("")
        w("*%s*" % short)
        w("")
        w(para)
        w("")
        w("- record it: `sudo tcpstate-lab run %s` (writes `%s.pcapng`; the committed "
          "one is `%s`)" % (name, name, cap_rel))
        for line in extra:
            m = re.match(r"sysctl (\S+)", line)
            if m:
                w("- sysctl in the lab namespaces: `%s`" % m.group(1))
                continue
            m = re.match(r"rule \((\w+), (\w+)\): (.*)", line)
            if m:
                w("- drop rule, %s %s hook: `%s`" % (m.group(1), m.group(2),
                                                    m.group(3).replace("{S}", "8080")))
                continue
            w("- %s" % line)
        w("- open it: `wireshark -C tcpstate %s`" % cap_rel)
        w("")
        w("### What to look at")
        w("")
        for p in look:
            w("- " + p)
        sel = ts.run(["-C", "tcpstate", "-2", "-r", local] +
                     ["-Y", bfilter[button], "-T", "fields", "-e", "frame.number"]).split()
        if not sel:
            die("%s: the %s button selects no packet" % (name, button))
        w("- Button **%s** (`%s`) shows packet%s %s." % (
            button, bfilter[button], "" if len(sel) == 1 else "s", ", ".join(sel)))
        w("")

        # the packet list as the profile shows it
        fields = ["frame.number", "_ws.col.Time"] + ["_ws.col." + c for c in COLUMNS] + \
                 ["frame.coloring_rule.name", "tcpstate.kernel.agree", "frame.time_epoch"]
        args = ["-C", "tcpstate", "-2", "--color", "-r", local] + \
               ["-T", "fields", "-E", "occurrence=f"]
        for f in fields:
            args += ["-e", f]
        rows = [l.split("\t") for l in ts.run(args).splitlines() if l]
        an = run([lab, "analyze", cap_rel], cwd=ROOT).stdout.splitlines()
        an = [l.split("\t") for l in an if l and not l.startswith("#")]
        if len(an) != len(rows):
            die("%s: analyze gives %d packets, tshark %d" % (name, len(an), len(rows)))
        table = [["No.", "Time", "Dir", "Flags"] + COLUMNS + ["Colour rule"]]
        disagree = []
        for r, a in zip(rows, an):
            if r[0] != a[0]:
                die("%s: packet numbers differ (%s, %s)" % (name, r[0], a[0]))
            table.append([r[0], r[1], a[3], a[4]] + r[2:2 + len(COLUMNS)] +
                         [r[2 + len(COLUMNS)].replace("tcpstate: ", "")])
            if r[-2] in ("0", "False"):
                disagree.append(r[0])
        w("### The packets, as the profile shows them")
        w("")
        w("`tshark -C tcpstate -2 %s` (the profile's columns; direction and "
          "flags from `tcpstate-lab analyze`):" % cap_rel)
        w("")
        w("```")
        o.extend(align(table, right={0}))
        w("```")
        w("")
        w("The kernel's states recorded in the capture %s." % (
            "match on every packet" if not disagree else
            "differ on packet%s %s" % ("" if len(disagree) == 1 else "s", ", ".join(disagree))))
        chk = run([lab, "check", cap_rel], cwd=ROOT, check=False).stdout.strip().splitlines()
        if chk:
            w("`tcpstate-lab check`: %s" % chk[-1])
        w("")

        notes = [(a[0], a[10]) for a in an if len(a) > 10 and a[10]]
        w("### Why: `tcpstate-lab analyze %s`" % cap_rel)
        w("")
        w("The notes column (packets with a note):")
        w("")
        w("```")
        o.extend(align([[n, t] for n, t in notes], right={0}))
        w("```")
        w("")
        flows = run([lab, "analyze", "--flows", cap_rel], cwd=ROOT).stdout.splitlines()
        w("Per connection (`--flows`):")
        w("")
        w("```")
        o.extend(align([l.split("\t") for l in flows if l]))
        w("```")
        w("")

        ev = lab_events(lab, cap_rel, decimal.Decimal(rows[0][-1]))
        if ev:
            w("### What the programs did (lab comments)")
            w("")
            w("Application calls and drop rules, on the packet whose kernel state first "
              "includes them (time since the first packet):")
            w("")
            w("```")
            o.extend(align([list(e) for e in ev]))
            w("```")
            w("")

        w("### Ladder diagram")
        w("")
        w("`tshark -2 -q -r %s -z flow,tcpstate,network` (Wireshark: *Statistics → "
          "Flow Graph*, flow type *TCP Endpoint States*):" % cap_rel)
        w("")
        w("```")
        flow = ts.run(["-2", "-q", "-r", local, "-z", "flow,tcpstate,network"])
        o.extend(l.rstrip() for l in flow.splitlines() if l.strip())
        w("```")
        w("")
    return "\n".join(o).rstrip() + "\n"


if __name__ == "__main__":
    main()
