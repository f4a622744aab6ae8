"""WebSocket load from bench/tools/ws_load.c (the ws-echo and ws-idle
scenarios), compiled into the run's folder, and the one echo that checks a
server's answer before any load. Its figures are returned in wrk's terms
(see measure.py): messages for requests, messages/s for rps."""

import base64
import hashlib
import json
import os
import resource
import socket
import struct
import subprocess

from .host import BENCH_DIR, output

WS_LOAD_SRC = os.path.join(BENCH_DIR, "tools", "ws_load.c")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Descriptors for the clients (one each), and for the servers, which
# inherit the limit: httpd needs two per open WebSocket (the connection and
# its eventfd), nginx two per proxied one.
NOFILE = 16384


def raise_nofile(want=NOFILE):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def read_until(sock, buf, n):
    """buf grown from sock to at least n bytes."""
    while len(buf) < n:
        got = sock.recv(65536)
        if not got:
            raise RuntimeError("the server closed the WebSocket")
        buf += got
    return buf


def verify(sc, port, tree):
    """One handshake (101 with the right Sec-WebSocket-Accept) and one echo:
    a masked text frame comes back, unmasked, with the same text."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(
            (
                "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (sc.path, port, key)
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            got = s.recv(4096)
            if not got:
                raise RuntimeError("no handshake answer: %r" % head[:200])
            head += got
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise RuntimeError("handshake answered %r" % lines[0])
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        accept = [v.strip() for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "sec-websocket-accept"]
        if accept != [want]:
            raise RuntimeError("Sec-WebSocket-Accept %r, expected %r" % (accept, want))
        text = b"bench echo"
        mask = os.urandom(4)
        s.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
        frame = read_until(s, rest, 2)
        frame = read_until(s, frame, 2 + (frame[1] & 0x7F))  # 125 bytes at most: a short length
        if frame[0] != 0x81 or frame[1] != len(text) or frame[2:] != text:
            raise RuntimeError("echo %r, expected a text frame %r" % (frame[:60], text))
        s.sendall(bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(struct.pack("!H", 1000))))


class WsLoad:
    """The load generator of WebSocket scenarios (see scenarios.Scenario.load):
    ws_load opens sc.conns connections, then `echo` (each sends 16 bytes and
    waits for the echo, over and over, for the run) or `idle` (holds them
    for the run, then one echo each)."""

    packages = (("gcc", "/usr/bin/gcc"),)

    def __init__(self, work, args):
        self.binary = os.path.join(work, "ws_load")
        cmd = ["/usr/bin/gcc", "-O2", "-Wall", "-Wextra", "-o", self.binary, WS_LOAD_SRC]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("ws_load did not build: %s\n%s" % (" ".join(cmd), r.stderr))
        raise_nofile()

    @staticmethod
    def versions():
        return {"ws_load": "bench/tools/ws_load.c, " + output(["/usr/bin/gcc", "-dumpfullversion"])}

    verify = staticmethod(verify)

    def run(self, sc, port, seconds, seed):
        cmd = [self.binary, "ws://127.0.0.1:%d%s" % (port, sc.path), sc.ws_mode, str(sc.conns), str(seconds), "16"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180)
        try:
            d = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("ws_load failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
        if d["opened"] == 0:
            raise RuntimeError("ws_load opened no connection: %s" % r.stdout)
        d["requests"] = d["messages"]
        if sc.ws_mode == "idle":
            # The figure is the final echoes: how many of the held
            # connections answered, and their latencies.
            d["duration_us"] = seconds * 1e6
            d["rps"] = float(d["messages"])
        else:
            d["duration_us"] = d["seconds"] * 1e6
            d["rps"] = d["msgs_per_s"]
        d["closed"] = 0
        return d
