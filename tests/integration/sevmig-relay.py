#!/usr/bin/env python3
# TCP relay for tests/integration/sevmig-*.sh: listens on LISTEN_PORT,
# forwards every connection to 127.0.0.1:TARGET_PORT and appends every byte
# of both directions to CAPTURE (what an eavesdropper on the wire sees).
# Prints "relay ready" once listening.
# Usage: sevmig-relay.py LISTEN TARGET CAPTURE [DELAYS]
# DELAYS: comma-separated seconds, one per connection in accept order: the
# client's bytes of that connection are held that long before the first is
# forwarded (a proxy that is slow on one connection: data channels whose
# preambles arrive out of order).
import socket
import sys
import threading
import time

listen_port, target_port, capture = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
delays = [float(d) for d in sys.argv[4].split(",")] if len(sys.argv) > 4 else []
lock = threading.Lock()
out = open(capture, "wb")


def pump(src, dst, delay=0.0):
    time.sleep(delay)
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with lock:
                out.write(data)
                out.flush()
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(32)
print("relay ready", flush=True)
n = 0
while True:
    c, _ = srv.accept()
    t = socket.create_connection(("127.0.0.1", target_port))
    delay = delays[n] if n < len(delays) else 0.0
    n += 1
    threading.Thread(target=pump, args=(c, t, delay), daemon=True).start()
    threading.Thread(target=pump, args=(t, c), daemon=True).start()
