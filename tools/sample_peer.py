#!/usr/bin/env python3
"""Socket actions for tools/record-sample.sh (run inside its namespaces)."""
import socket, sys, threading, time

SERVER = "10.99.0.2"
# the orphan FIN's retries (Linux default budget) end about 108 s after close()
ORPHAN_WAIT = 112.0


def serve(port, handler):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((SERVER, port))
    ls.listen(8)
    def loop():
        c, _ = ls.accept()
        handler(c)
    threading.Thread(target=loop, daemon=True).start()


def echo_then_close(c):            # 8080: answer, close when the client closes
    c.recv(100)
    c.sendall(b"hello back\n")
    while c.recv(100):
        pass
    c.close()


def late_writer(c):                # 8082: answer, then write and close much later
    c.recv(100)
    c.sendall(b"ok\n")
    time.sleep(ORPHAN_WAIT + 1.0)
    try:
        c.sendall(b"late data\n")
        time.sleep(0.2)
        c.close()
    except OSError:
        pass


def half_close_peer(c):            # 8083: keep sending after the client's FIN
    c.recv(100)
    for i in range(3):
        time.sleep(0.15)
        c.sendall(b"chunk %d\n" % i)
    c.close()


def server():
    serve(8080, echo_then_close)
    serve(8082, late_writer)
    serve(8083, half_close_peer)
    open("/tmp/tcps-sample-ready", "w").close()
    time.sleep(ORPHAN_WAIT + 20)


def client():
    s = socket.create_connection((SERVER, 8080))
    s.sendall(b"hello\n"); s.recv(100); time.sleep(0.1); s.close()
    time.sleep(0.3)
    try:
        socket.create_connection((SERVER, 8081), timeout=2)
    except OSError:
        pass
    time.sleep(0.3)
    s = socket.create_connection((SERVER, 8082))
    s.sendall(b"request\n"); s.recv(100)
    open("/tmp/tcps-sample-drop", "w").close()   # the script adds the drop rule
    time.sleep(0.5)
    s.close()                                      # orphan FIN that never arrives
    time.sleep(ORPHAN_WAIT + 2.0)
    s = socket.create_connection((SERVER, 8083))
    s.sendall(b"upload\n"); s.shutdown(socket.SHUT_WR)
    while s.recv(100):
        pass
    s.close()
    time.sleep(0.5)


{"server": server, "client": client}[sys.argv[1]]()
