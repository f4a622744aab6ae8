"""Runs a WebSocket conversation for tests/e2e/test_websocket.cpp and prints
its transcript as JSON, one object per step, on one line.

    ws_steps.py URL STEPS_JSON

With Debian's websockets 10.4 (asyncio; websockets.sync came in 11.0). The
steps:
  {"connect": {"subprotocols": [..], "compression": true, "headers": {..}}}
  {"send": "text", "repeat": n}  {"send_bytes": "hex"}  {"recv": seconds}
  {"close": code, "reason": ".."}  {"wait_closed": seconds}  {"sleep": seconds}
A step that fails records what happened ("closed": code, or "error") and the
conversation stops there. A "raw" connect instead does the handshake by hand
and never answers pings: {"raw": seconds} then reports the frames it got
(opcodes, and a Close's code) until the server closes or the time is up.
"""
import asyncio
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

import websockets


def raw_conversation(url, seconds):
    u = urllib.parse.urlparse(url)
    s = socket.create_connection((u.hostname, u.port), timeout=seconds + 5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (u.path or "/", u.hostname, u.port, key)
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = s.recv(4096)
        if not got:
            return {"raw": "no answer"}
        buf += got
    head, buf = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    frames = []
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    def need(n):
        nonlocal buf
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            s.settimeout(left)
            got = s.recv(65536)
            if not got:
                raise EOFError
            buf += got
        out, buf = buf[:n], buf[n:]
        return out

    try:
        while True:
            b0, b1 = need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", need(8))[0]
            payload = need(n)
            frame = {"op": b0 & 0x0F, "after": round(time.monotonic() - started, 1)}
            if frame["op"] == 8 and len(payload) >= 2:
                frame["code"] = struct.unpack("!H", payload[:2])[0]
                frame["reason"] = payload[2:].decode("utf-8", "replace")
            frames.append(frame)
            if frame["op"] == 8:
                break
    except (TimeoutError, socket.timeout):
        frames.append({"timeout": True})
    except (EOFError, ConnectionError):
        frames.append({"eof": True})
    return {"status": status, "frames": frames}


async def conversation(url, steps):
    out = []
    ws = None
    try:
        for step in steps:
            if "raw" in step:
                out.append(await asyncio.get_running_loop().run_in_executor(None, raw_conversation, url, step["raw"]))
            elif "connect" in step:
                c = step["connect"]
                try:
                    ws = await websockets.connect(
                        url,
                        subprotocols=c.get("subprotocols"),
                        compression="deflate" if c.get("compression", False) else None,
                        extra_headers=c.get("headers", {}),
                        max_size=None,
                        ping_interval=None,
                        close_timeout=10,
                    )
                except websockets.exceptions.InvalidStatusCode as e:
                    out.append({"refused": e.status_code})
                    break
                out.append(
                    {
                        "connected": True,
                        "subprotocol": ws.subprotocol,
                        "headers": {k.lower(): v for k, v in ws.response_headers.raw_items()},
                        "extensions": [type(e).__name__ for e in ws.extensions],
                    }
                )
            elif "send" in step:
                await ws.send(step["send"] * step.get("repeat", 1))
                out.append({"sent": True})
            elif "send_bytes" in step:
                await ws.send(bytes.fromhex(step["send_bytes"]))
                out.append({"sent": True})
            elif "recv" in step:
                m = await asyncio.wait_for(ws.recv(), step["recv"])
                out.append({"text": m} if isinstance(m, str) else {"bytes": m.hex()})
            elif "close" in step:
                await ws.close(step["close"], step.get("reason", ""))
                out.append({"closed": ws.close_code, "reason": ws.close_reason})
            elif "wait_closed" in step:
                await asyncio.wait_for(ws.wait_closed(), step["wait_closed"])
                out.append({"closed": ws.close_code, "reason": ws.close_reason})
            elif "sleep" in step:
                await asyncio.sleep(step["sleep"])
                out.append({"slept": True})
    except websockets.exceptions.ConnectionClosed as e:
        out.append({"closed": e.rcvd.code if e.rcvd else 1006, "reason": e.rcvd.reason if e.rcvd else ""})
    except asyncio.TimeoutError:
        out.append({"error": "timeout"})
    except Exception as e:  # the transcript says what went wrong
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
    finally:
        if ws is not None and not ws.closed:
            await ws.close()
    return out


def main():
    url, steps = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(asyncio.run(conversation(url, steps))))


if __name__ == "__main__":
    main()
