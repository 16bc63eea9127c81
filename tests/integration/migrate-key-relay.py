#!/usr/bin/env python3
# TCP relay for tests/integration/migrate-auth.sh: listens on LISTEN,
# forwards every connection to 127.0.0.1:TARGET, and in MODE:
#   rechunk      re-cuts the first 16 KiB of each direction of each
#                connection into pieces of 1 to 11 bytes, each sent on its
#                own (TCP_NODELAY, a pause between): what any router, proxy
#                or TCP stack may do, and a reader that takes one read for
#                one frame, or a frame for a message, would trip on.
# Prints "relay ready" once listening.
# Usage: migrate-key-relay.py LISTEN TARGET MODE
import random
import socket
import sys
import threading
import time

listen_port, target_port, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
RECHUNK = 16384


def pump(src, dst, rechunk, head=b""):
    left = RECHUNK if rechunk else 0
    rng = random.Random(src.fileno())
    try:
        while True:
            data = head or src.recv(65536)
            head = b""
            if not data:
                break
            while data and left > 0:
                n = min(rng.randint(1, 11), len(data), left)
                dst.sendall(data[:n])
                data, left = data[n:], left - n
                time.sleep(0.0003)
            if data:
                dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise OSError("closed")
        b += d
    return b


def serve(c):
    try:
        pre = recv_exact(c, 24)
    except OSError:
        c.close()
        return
    t = socket.create_connection(("127.0.0.1", target_port))
    for s in (c, t):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rechunk = mode == "rechunk"
    threading.Thread(target=pump, args=(c, t, rechunk, pre), daemon=True).start()
    threading.Thread(target=pump, args=(t, c, rechunk), daemon=True).start()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(32)
print("relay ready", flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
