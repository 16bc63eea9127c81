#!/usr/bin/env python3
# TCP relay for tests/integration/migrate-auth.sh: listens on LISTEN,
# forwards every connection to 127.0.0.1:TARGET, and in MODE:
#   rechunk      re-cuts the first 16 KiB of each direction of each
#                connection into pieces of 1 to 11 bytes, each sent on its
#                own (TCP_NODELAY, a pause between): what any router, proxy
#                or TCP stack may do, and a reader that takes one read for
#                one frame, or a frame for a message, would trip on.
#   clear-data   before the source's first data connection, opens one of
#                its own for data channel 1 of the same session (read from
#                the control preamble, which is in clear), with a clear
#                preamble and a clear record after it, and keeps it open.
#   keyed-data   the same with the keyed flag and a made-up sealed frame:
#                someone on the path who takes the channel number first.
#   keyed-data-late  the same between the source's first data connection
#                and its second: a second claim to a channel already taken.
#   silent-data  three keyed claims to channel 1 before the source's, each
#                only its preamble, then silent (held open).
#   stalled-data one keyed claim to channel 1 before the source's, with the
#                length word of a 256 KiB frame and half the frame, then
#                silent (held open).
#   bounds-data  four keyed claims to channel 1 before the source's, each a
#                whole first frame by its length word: 0 (no frame), 1 and
#                256 KiB (the bounds, made up: they do not authenticate),
#                256 KiB + 1 (too long), then held open.
#   flood-data   48 such stalled claims (twice the destination's pending
#                places) from another address, 127.0.0.2, all at once,
#                before the source's.
#   own-race     23 connections from the source's own address that send
#                one byte each and hold still (the destination's 24 pending
#                places less one), then, with the destination stopped
#                (SIGSTOP to DSTPID), the source's first data connection
#                with its preamble and one more such connection: both wait
#                in the accept queue, so the destination accepts them in
#                one go, the source's before it has read a byte of it (as a
#                busy host may do any time).
# Prints "relay ready" once listening, and "injected ..." when it has.
# Usage: migrate-key-relay.py LISTEN TARGET MODE [DSTPID]
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

listen_port, target_port, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dst_pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0
RECHUNK = 16384
AUTH = 0x80000000
session = None
injected = []
data_seen = []
lock = threading.Lock()


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


def claim_pre(keyed):
    return b"LKVMMIG\0" + struct.pack("<IIQ", 2, 1 | (AUTH if keyed else 0), session)


def inject(keyed, body=None):
    """A data connection of our own for channel 1 of the source's session."""
    s = socket.create_connection(("127.0.0.1", target_port))
    pre = claim_pre(keyed)
    if body is not None:
        kind = "%d-byte" % len(body)
    elif keyed:
        body = struct.pack("<I", 100) + os.urandom(116)	# length, "ciphertext", "tag"
        kind = "keyed"
    else:
        body = os.urandom(40)	# a record header's worth, in clear
        kind = "clear"
    s.sendall(pre + body)
    injected.append(s)	# held open until the relay ends
    print("injected a %s data connection for channel 1 of session %#x" % (kind, session),
          flush=True)


# The claims silent-data and stalled-data make: what each sends after its preamble.
HALF_FRAME = struct.pack("<I", 256 << 10) + os.urandom(128 << 10)
CLAIMS = {
    "silent-data": [b""] * 3,
    "stalled-data": [HALF_FRAME],
    "bounds-data": [struct.pack("<I", n) + os.urandom(n + 16)
                    for n in (0, 1, 256 << 10, (256 << 10) + 1)],
}
FLOOD = 48


def flood_claim():
    """One stalled claim from 127.0.0.2; the destination may drop it at once."""
    try:
        s = socket.create_connection(("127.0.0.1", target_port),
                                     source_address=("127.0.0.2", 0))
        injected.append(s)
        s.sendall(claim_pre(True) + HALF_FRAME)
    except OSError:
        pass


def one_byte_claim():
    """From the source's own address: one byte of a preamble, then still."""
    s = socket.create_connection(("127.0.0.1", target_port))
    s.sendall(b"L")
    injected.append(s)


def own_race(pre):
    """The source's data connection (returned) and a stranger, queued together."""
    for _ in range(23):
        one_byte_claim()
    time.sleep(0.3)		# the destination has read their bytes
    os.kill(dst_pid, signal.SIGSTOP)
    try:
        t = socket.create_connection(("127.0.0.1", target_port))
        t.sendall(pre)
        one_byte_claim()
        time.sleep(0.2)	# both handshakes done, both in the accept queue
    finally:
        os.kill(dst_pid, signal.SIGCONT)
    print("injected %d one-byte connections from 127.0.0.1 around the source's first "
          "data connection" % len(injected), flush=True)
    return t


def serve(c):
    global session
    t = None
    try:
        pre = recv_exact(c, 24)
    except OSError:
        c.close()
        return
    word, sess = struct.unpack("<IQ", pre[12:24])
    if word & ~AUTH == 0:
        session = sess
    elif mode in ("clear-data", "keyed-data", "keyed-data-late") and session is not None:
        with lock:		# one, before the first (late: the second) of the source's
            data_seen.append(word)
            if not injected and len(data_seen) == (2 if mode == "keyed-data-late" else 1):
                inject(mode != "clear-data")
                time.sleep(0.3)	# the destination reads ours first
    elif mode == "flood-data" and session is not None:
        with lock:
            if not injected:
                for _ in range(FLOOD):
                    threading.Thread(target=flood_claim, daemon=True).start()
                time.sleep(1)
                print("injected %d stalled claims to channel 1 from 127.0.0.2 (%d open)" %
                      (FLOOD, len(injected)), flush=True)
    elif mode == "own-race" and session is not None:
        with lock:		# the source's first only
            if not injected:
                t = own_race(pre)
                pre = b""
    elif mode in CLAIMS and session is not None:
        with lock:		# all before the source's first
            if not injected:
                for body in CLAIMS[mode]:
                    inject(True, body)
                time.sleep(0.3)	# the destination has read their preambles
    if t is None:
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
