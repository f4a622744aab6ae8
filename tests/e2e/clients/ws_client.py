#!/usr/bin/python3
"""WebSocket client of the e2e tests: runs a script of steps against a URL and
prints what happened as one JSON line (the last line of its output).

Run it with Debian's /usr/bin/python3 (websockets 10.4, asyncio only).

Two modes:
  --mode websockets (default): a well-behaved client, websockets.connect();
  --mode raw: our own handshake and frames on a plain (or TLS) socket, for
      hostile bytes: unmasked frames, reserved bits, bad lengths, invalid
      UTF-8, a deflate bomb, frames sent before the 101, a client that
      vanishes mid-frame. The server's frames are read with wsproto 1.2
      (its FrameProtocol and PerMessageDeflate), an implementation of its
      own that fails ("error" in the transcript) on any frame the server
      gets wrong.

Steps (positional, run in order):
  text=STR           send a text message
  repeat=N:STR       send a text message of STR N times (a large message
                     without a large argument)
  bytes=HEX          send a binary message
  recv               wait for one message (or the close) and record it
  recv-all           record messages until the connection closes
  ping=STR           send a Ping (websockets: and wait for its Pong)
  close=CODE[:WHY]   close with CODE and wait for the server's Close
  wait-close         wait until the server closes; record its Close
  sleep=SECONDS      wait (only where a test needs time to pass, e.g. idling)
  drop               vanish: close the TCP connection without a Close
 raw mode only:
  raw=HEX            send these bytes as they are
  frame=OP:FLAGS:KIND:VALUE
                     send one frame. OP: opcode in hex (1 text, 2 binary, 0
                     continuation, 8 close, 9 ping, a pong, or a reserved one).
                     FLAGS: '-' or '+'-joined fin, rsv1, rsv2, rsv3, nomask,
                     len16, len64 (force that length form), msb (set the 64-bit
                     length's top bit), deflate (compress the payload with the
                     negotiated permessage-deflate and set RSV1), short=N (send
                     only the first N bytes of the frame), claim=N (the header
                     says N bytes, whatever the payload). KIND:VALUE: hex:ABCD,
                     text:any text, zeros:N, close:CODE:WHY (a Close payload).

Options: --subprotocol P (repeatable), --header 'Name: value' (repeatable),
--deflate (offer permessage-deflate; websockets mode offers it by default,
--no-deflate turns that off), --timeout S (each wait; default 10),
--max-size N (websockets mode), --early STEP (raw mode: a frame= or raw= step
sent with the handshake, before the 101; repeatable), --version V (raw mode:
Sec-WebSocket-Version), --no-upgrade-check.

Transcript: {"status": 101 or the refusal's status, "headers": [[name, value],
...], "subprotocol", "extensions", "body" (a refusal's body, raw mode),
"events": [{"type": "text"|"bytes"|"ping"|"pong"|"close"|"eof"|"sent"|
"timeout"|"error", ...}], "close": {"code", "reason"} (the server's Close, or
null), "error": null or text}. bytes are given as hex. Exit status 0 when the
script ran (whatever the server did), 2 for a usage error.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import time
import urllib.parse
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("steps", nargs="*")
    p.add_argument("--mode", choices=["websockets", "raw"], default="websockets")
    p.add_argument("--subprotocol", action="append", default=[])
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--deflate", action="store_true")
    p.add_argument("--no-deflate", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--max-size", type=int, default=16 * 1024 * 1024)
    p.add_argument("--early", action="append", default=[])
    p.add_argument("--version", default="13")
    return p.parse_intermixed_args(argv)


def headers_list(items):
    out = []
    for h in items:
        name, _, value = h.partition(":")
        out.append((name.strip(), value.strip()))
    return out


def close_event(code, reason):
    return {"type": "close", "code": code, "reason": reason}


# ---------------------------------------------------------------- websockets


async def run_websockets(args, t):
    import websockets  # noqa: E402  (Debian's 10.4)

    kwargs = dict(
        subprotocols=args.subprotocol or None,
        extra_headers=headers_list(args.header),
        compression=None if args.no_deflate else "deflate",
        max_size=args.max_size,
        ping_interval=None,
        open_timeout=args.timeout,
        close_timeout=args.timeout,
    )
    if args.url.startswith("wss:"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        kwargs["ssl"] = ctx
    try:
        ws = await websockets.connect(args.url, **kwargs)
    except websockets.exceptions.InvalidStatusCode as e:
        t["status"] = e.status_code
        t["headers"] = [[k, v] for k, v in e.headers.raw_items()]
        return
    t["status"] = 101
    t["headers"] = [[k, v] for k, v in ws.response_headers.raw_items()]
    t["subprotocol"] = ws.subprotocol
    t["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")

    def record_closed(e):
        rcvd = getattr(e, "rcvd", None)
        if rcvd is not None:
            t["close"] = {"code": rcvd.code, "reason": rcvd.reason}
            t["events"].append(close_event(rcvd.code, rcvd.reason))
        else:
            t["events"].append({"type": "eof", "code": e.code})

    async def recv_one():
        try:
            m = await asyncio.wait_for(ws.recv(), args.timeout)
        except asyncio.TimeoutError:
            t["events"].append({"type": "timeout"})
            return False
        except websockets.exceptions.ConnectionClosed as e:
            record_closed(e)
            return False
        if isinstance(m, str):
            t["events"].append({"type": "text", "data": m})
        else:
            t["events"].append({"type": "bytes", "hex": m.hex()})
        return True

    for step in args.steps:
        verb, _, arg = step.partition("=")
        try:
            if verb == "text":
                await ws.send(arg)
            elif verb == "repeat":
                n, _, text = arg.partition(":")
                await ws.send(text * int(n))
            elif verb == "bytes":
                await ws.send(bytes.fromhex(arg))
            elif verb == "recv":
                await recv_one()
            elif verb in ("recv-all", "wait-close"):
                while await recv_one():
                    pass
            elif verb == "ping":
                pong = await ws.ping(arg.encode())
                await asyncio.wait_for(pong, args.timeout)
                t["events"].append({"type": "pong", "data": arg})
            elif verb == "close":
                code, _, why = arg.partition(":")
                await ws.close(int(code), why)
                if ws.close_rcvd is not None:
                    t["close"] = {"code": ws.close_rcvd.code, "reason": ws.close_rcvd.reason}
                    t["events"].append(close_event(ws.close_rcvd.code, ws.close_rcvd.reason))
                else:
                    t["events"].append({"type": "eof", "code": ws.close_code})
            elif verb == "sleep":
                await asyncio.sleep(float(arg))
            elif verb == "drop":
                ws.transport.abort()
                t["events"].append({"type": "dropped"})
                return
            else:
                raise ValueError(f"unknown step {step!r} in websockets mode")
        except websockets.exceptions.ConnectionClosed as e:
            record_closed(e)
            return
    await ws.close()


# ----------------------------------------------------------------------- raw


class Deflater:
    """The client's compressor, as the server agreed it (wsproto inflates)."""

    def __init__(self, params):
        self.client_bits = int(params.get("client_max_window_bits") or 15)
        self.client_reset = "client_no_context_takeover" in params
        self.c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.client_bits)

    def compress(self, data):
        out = self.c.compress(data) + self.c.flush(zlib.Z_SYNC_FLUSH)
        if self.client_reset:
            self.c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.client_bits)
        return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


def parse_extension(value):
    """{param: value or None} of a permessage-deflate response, or None."""
    if not value:
        return None
    parts = [p.strip() for p in value.split(";")]
    if parts[0].lower() != "permessage-deflate":
        return None
    params = {}
    for p in parts[1:]:
        name, eq, v = p.partition("=")
        params[name.strip().lower()] = v.strip().strip('"') if eq else None
    return params


def build_frame(spec, deflater):
    op, flags, kind_value = spec.split(":", 2)
    kind, _, value = kind_value.partition(":")
    flags = set() if flags in ("", "-") else set(flags.split("+"))
    if kind == "hex":
        payload = bytes.fromhex(value)
    elif kind == "text":
        payload = value.encode()
    elif kind == "zeros":
        payload = bytes(int(value))
    elif kind == "close":
        code, _, why = value.partition(":")
        payload = struct.pack("!H", int(code)) + why.encode()
    else:
        raise ValueError(f"unknown payload kind {kind!r}")
    rsv = 0
    if "deflate" in flags:
        if deflater is None:
            raise ValueError("frame flag deflate without a negotiated permessage-deflate")
        payload = deflater.compress(payload)
        rsv |= 0x40
    rsv |= 0x40 if "rsv1" in flags else 0
    rsv |= 0x20 if "rsv2" in flags else 0
    rsv |= 0x10 if "rsv3" in flags else 0
    b0 = (0x80 if "fin" in flags else 0) | rsv | int(op, 16)
    mask_bit = 0 if "nomask" in flags else 0x80
    n = len(payload)
    for f in flags:
        if f.startswith("claim="):
            n = int(f[6:])  # the header claims n bytes whatever follows
    if "len64" in flags or "msb" in flags or n > 0xFFFF:
        length = n | (1 << 63) if "msb" in flags else n
        head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", length)
    elif "len16" in flags or n > 125:
        head = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask_bit | n])
    if mask_bit:
        key = os.urandom(4)
        payload = (
            bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 65536 else mask_fast(payload, key)
        )
        head += key
    frame = head + payload
    for f in flags:
        if f.startswith("short="):
            frame = frame[: int(f[6:])]
    return frame


def mask_fast(payload, key):
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


class RawConnection:
    def __init__(self, args, t):
        self.args = args
        self.t = t
        self.buf = b""
        self.deflater = None
        self.closed = False
        self.fragments = None
        u = urllib.parse.urlsplit(args.url)
        self.tls = u.scheme == "wss"
        self.host = u.hostname
        self.port = u.port or (443 if self.tls else 80)
        self.target = (u.path or "/") + ("?" + u.query if u.query else "")
        self.hostport = u.netloc

    def connect(self):
        s = socket.create_connection((self.host, self.port), timeout=self.args.timeout)
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            s = ctx.wrap_socket(s, server_hostname=self.host)
        self.sock = s

    def recv_some(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            data = b""
        if not data:
            raise EOFError
        self.buf += data

    def handshake(self):
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.target} HTTP/1.1",
            f"Host: {self.hostport}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            f"Sec-WebSocket-Version: {self.args.version}",
        ]
        if self.args.subprotocol:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(self.args.subprotocol))
        if self.args.deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        lines += [f"{k}: {v}" for k, v in headers_list(self.args.header)]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        # Frames before the 101 are built uncompressed (nothing is agreed yet).
        early = b"".join(self.step_bytes(s, None) for s in self.args.early)
        self.sock.sendall(request + early)
        while b"\r\n\r\n" not in self.buf:
            self.recv_some()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = [[h.partition(":")[0].strip(), h.partition(":")[2].strip()] for h in header_lines]
        self.t["status"] = status
        self.t["headers"] = headers
        get = {k.lower(): v for k, v in headers}
        if status != 101:
            self.read_body(get)
            return False
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.t["accept_ok"] = get.get("sec-websocket-accept") == want
        self.t["subprotocol"] = get.get("sec-websocket-protocol")
        self.t["extensions"] = get.get("sec-websocket-extensions")
        params = parse_extension(self.t["extensions"])
        extensions = []
        if params is not None:
            self.deflater = Deflater(params)
            ext = PerMessageDeflate()
            ext.finalize(self.t["extensions"])
            extensions.append(ext)
        self.fp = FrameProtocol(client=True, extensions=extensions)
        self.fp.receive_bytes(self.buf)
        self.buf = b""
        return True

    def read_body(self, headers):
        length = headers.get("content-length")
        try:
            if length is not None:
                while len(self.buf) < int(length):
                    self.recv_some()
                body = self.buf[: int(length)]
            else:
                while True:
                    self.recv_some()
        except (EOFError, TimeoutError):
            body = self.buf
        self.t["body"] = body.decode("utf-8", "replace")

    def step_bytes(self, step, deflater):
        verb, _, arg = step.partition("=")
        if verb == "raw":
            return bytes.fromhex(arg)
        if verb == "frame":
            return build_frame(arg, deflater)
        if verb == "text":
            return build_frame(("1:fin+deflate:text:" if deflater else "1:fin:text:") + arg, deflater)
        if verb == "repeat":
            n, _, text = arg.partition(":")
            return self.step_bytes("text=" + text * int(n), deflater)
        if verb == "bytes":
            return build_frame(("2:fin+deflate:hex:" if deflater else "2:fin:hex:") + arg, deflater)
        if verb == "ping":
            return build_frame("9:fin:text:" + arg, None)
        raise ValueError(f"not a sending step: {step!r}")

    def read_frame(self):
        """The server's next frame, parsed by wsproto; EOFError, TimeoutError."""
        while True:
            frame = next(self.fp.received_frames(), None)
            if frame is not None:
                return frame
            self.recv_some()
            self.fp.receive_bytes(self.buf)
            self.buf = b""

    def recv_event(self):
        """Records the next message or control frame; False at the end."""
        try:
            frame = self.read_frame()
        except TimeoutError:
            self.t["events"].append({"type": "timeout"})
            return False
        except EOFError:
            self.t["events"].append({"type": "eof"})
            self.closed = True
            return False
        if frame.opcode == Opcode.CLOSE:
            code, reason = int(frame.payload[0]), frame.payload[1]
            self.t["close"] = {"code": code, "reason": reason}
            self.t["events"].append(close_event(code, reason))
            return False
        if frame.opcode in (Opcode.PING, Opcode.PONG):
            ping = frame.opcode == Opcode.PING
            self.t["events"].append({"type": "ping" if ping else "pong", "data": frame.payload.decode("latin-1")})
            if ping:
                self.sock.sendall(build_frame("a:fin:hex:" + frame.payload.hex(), None))
            return True
        if frame.opcode != Opcode.CONTINUATION:
            self.fragments = [frame.opcode, frame.payload]
        else:
            self.fragments[1] += frame.payload
        if not frame.message_finished:
            return True
        op, data = self.fragments
        self.fragments = None
        if op == Opcode.TEXT:
            self.t["events"].append({"type": "text", "data": data})
        else:
            self.t["events"].append({"type": "bytes", "hex": bytes(data).hex()})
        return True

    def run(self):
        self.connect()
        if not self.handshake():
            return
        for step in self.args.steps:
            verb, _, arg = step.partition("=")
            if verb in ("raw", "frame", "text", "repeat", "bytes", "ping"):
                try:
                    self.sock.sendall(self.step_bytes(step, self.deflater))
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    self.t["events"].append({"type": "send-failed"})
                    self.closed = True
            elif verb == "recv":
                while True:
                    before = len(self.t["events"])
                    more = self.recv_event()
                    last = self.t["events"][before:]
                    if not more or any(e["type"] in ("text", "bytes") for e in last):
                        break
            elif verb in ("recv-all", "wait-close"):
                while self.recv_event():
                    pass
            elif verb == "close":
                code, _, why = arg.partition(":")
                self.sock.sendall(build_frame(f"8:fin:close:{code}:{why}", None))
                while self.recv_event():
                    pass
            elif verb == "sleep":
                time.sleep(float(arg))
            elif verb == "drop":
                # RST rather than FIN: the server sees the connection vanish.
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.sock.close()
                self.t["events"].append({"type": "dropped"})
                return
            else:
                raise ValueError(f"unknown step {step!r} in raw mode")
        self.sock.close()


def main_transcript(argv, t):
    """Runs the script argv describes, filling the transcript t."""
    global FrameProtocol, Opcode, PerMessageDeflate
    args = parse_args(argv)
    if args.mode == "raw":
        from wsproto.extensions import PerMessageDeflate
        from wsproto.frame_protocol import FrameProtocol, Opcode

        RawConnection(args, t).run()
    else:
        asyncio.run(run_websockets(args, t))


def main(argv):
    t = {"status": None, "headers": [], "subprotocol": None, "extensions": None, "events": [], "close": None}
    t["error"] = None
    try:
        main_transcript(argv, t)
    except Exception as e:  # the transcript says what broke
        t["error"] = f"{type(e).__name__}: {e}"
    sys.stdout.write("\n" + json.dumps(t) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
