"""Runs a WebSocket conversation over HTTP/2 (RFC 8441: an extended CONNECT
with :protocol websocket on one stream) for tests/e2e/test_websocket.cpp,
and prints its transcript as JSON, one object per step, on one line.

    ws_h2_steps.py URL STEPS_JSON

ws://host:port/path speaks h2c with prior knowledge, wss:// TLS with ALPN
h2 (the certificate is not checked). With Debian's python3-h2 (4.1 knows
:protocol and SETTINGS_ENABLE_CONNECT_PROTOCOL) for HTTP/2 and python3-wsproto's
FrameProtocol for the frames inside the stream. The steps are ws_steps.py's:
  {"connect": {"subprotocols": [..], "compression": true, "headers": {..}}}
  {"send": "text", "repeat": n}  {"send_bytes": "hex"}  {"recv": seconds}
  {"close": code, "reason": ".."}  {"wait_closed": seconds}  {"sleep": seconds}
and two ways to leave without a Close: {"drop": true} closes the TCP
connection, {"end_stream": seconds} ends the stream (END_STREAM) and waits
for the server to end its side. "connect" also takes "version" (the
Sec-WebSocket-Version sent, "13" by default). A refused handshake records {"refused": status}; a step that fails records
what happened ("closed": code, or "error") and the conversation stops there.
"""
import json
import socket
import ssl
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(code)
        self.code = code
        self.reason = reason


class Connection(h2.connection.H2Connection):
    """python-h2 4.1 closes the whole connection when a GOAWAY comes, and
    then refuses the frames of the streams it lets finish (RFC 9113 §6.8),
    as mod_http2 sends at a graceful restart: here a GOAWAY is only told."""

    def _receive_goaway_frame(self, frame):
        told = h2.events.ConnectionTerminated()
        told.error_code = frame.error_code
        told.last_stream_id = frame.last_stream_id
        told.additional_data = frame.additional_data or None
        return [], [told]


class H2WebSocket:
    def __init__(self, url, timeout):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.target = (u.path or "/") + ("?" + u.query if u.query else "")
        self.secure = u.scheme == "wss"
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.secure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=self.host)
            if sock.selected_alpn_protocol() != "h2":
                raise RuntimeError("ALPN gave %r, not h2" % sock.selected_alpn_protocol())
        self.sock = sock
        self.conn = Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(1 << 24)
        self.flush()
        self.stream = None
        self.status = None
        self.response_headers = []
        self.pending = []  # DATA of our stream not yet given to the frames
        self.ended = False
        self.settings_seen = False
        self.proto = None
        self.deflate = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, deadline):
        """Reads once (until `deadline`) and handles the events."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError
        if not data:
            self.ended = True
            return
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.settings_seen = True
            elif isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == self.stream:
                self.response_headers = ev.headers
                self.status = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == self.stream:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                self.pending.append(ev.data)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and ev.stream_id == self.stream:
                self.ended = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                # Streams up to last_stream_id may finish.
                if self.stream is None or ev.last_stream_id < self.stream:
                    self.ended = True
        self.flush()

    def connect(self, c, deadline):
        while not self.settings_seen and not self.ended:
            self.pump(deadline)
        # RFC 8441 §3: the server must say it takes an extended CONNECT.
        if not self.conn.remote_settings.enable_connect_protocol:
            return {"refused": "no SETTINGS_ENABLE_CONNECT_PROTOCOL"}
        self.stream = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https" if self.secure else "http"),
            (":path", self.target),
            (":authority", "%s:%d" % (self.host, self.port)),
            ("sec-websocket-version", c.get("version", "13")),
        ]
        if c.get("subprotocols"):
            headers.append(("sec-websocket-protocol", ", ".join(c["subprotocols"])))
        if c.get("compression"):
            self.deflate = PerMessageDeflate()
            headers.append(("sec-websocket-extensions", "%s; %s" % (self.deflate.name, self.deflate.offer())))
        for k, v in c.get("headers", {}).items():
            headers.append((k.lower(), v))
        self.conn.send_headers(self.stream, headers)
        self.flush()
        while self.status is None and not self.ended:
            self.pump(deadline)
        if self.status != 200:
            return {"refused": self.status}
        got = {k: v for k, v in self.response_headers if not k.startswith(":")}
        extensions = []
        if self.deflate and "sec-websocket-extensions" in got:
            self.deflate.finalize(got["sec-websocket-extensions"])
            extensions.append("PerMessageDeflate")
        self.proto = FrameProtocol(client=True, extensions=[self.deflate] if extensions else [])
        return {
            "connected": True,
            "status": self.status,
            "subprotocol": got.get("sec-websocket-protocol"),
            "headers": got,
            "extensions": extensions,
        }

    def write(self, data, deadline):
        """DATA on the stream, as the flow-control windows let it go."""
        while data:
            window = min(self.conn.local_flow_control_window(self.stream), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump(deadline)
                continue
            self.conn.send_data(self.stream, data[:window])
            data = data[window:]
            self.flush()

    def frames(self, deadline):
        """The next frames of the stream (pings answered here)."""
        while True:
            while self.pending:
                self.proto.receive_bytes(self.pending.pop(0))
            got = list(self.proto.received_frames())
            if got:
                return got
            if self.ended:
                raise Closed(1006, "")
            self.pump(deadline)

    def recv(self, seconds):
        deadline = time.monotonic() + seconds
        parts, text = [], None
        while True:
            for f in self.frames(deadline):
                if f.opcode == Opcode.PING:
                    self.write(self.proto.pong(f.payload), deadline)
                elif f.opcode == Opcode.CLOSE:
                    code, reason = f.payload
                    self.write(self.proto.close(code, reason), deadline)
                    raise Closed(int(code), reason or "")
                elif f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                    if f.opcode != Opcode.CONTINUATION:
                        text = f.opcode == Opcode.TEXT
                    parts.append(f.payload)
                    if f.message_finished:
                        return {"text": "".join(parts)} if text else {"bytes": b"".join(parts).hex()}

    def idle(self, seconds):
        """Sends nothing for `seconds`, answering pings; a message ends it."""
        try:
            return {"slept": True, "message": self.recv(seconds)}
        except TimeoutError:
            return {"slept": True}

    def close(self, code, reason, seconds=10):
        deadline = time.monotonic() + seconds
        self.write(self.proto.close(code, reason), deadline)
        while True:
            for f in self.frames(deadline):
                if f.opcode == Opcode.CLOSE:
                    code, reason = f.payload
                    return {"closed": int(code), "reason": reason or ""}


def conversation(url, steps):
    out = []
    ws = None
    try:
        for step in steps:
            if "connect" in step:
                ws = H2WebSocket(url, 30)
                got = ws.connect(step["connect"], time.monotonic() + 30)
                out.append(got)
                if "refused" in got:
                    break
            elif "send" in step:
                ws.write(ws.proto.send_data(step["send"] * step.get("repeat", 1)), time.monotonic() + 30)
                out.append({"sent": True})
            elif "send_bytes" in step:
                ws.write(ws.proto.send_data(bytes.fromhex(step["send_bytes"])), time.monotonic() + 30)
                out.append({"sent": True})
            elif "recv" in step:
                out.append(ws.recv(step["recv"]))
            elif "close" in step:
                out.append(ws.close(step["close"], step.get("reason", "")))
                break
            elif "sleep" in step:
                out.append(ws.idle(step["sleep"]))
            elif "drop" in step:
                ws.sock.close()
                ws = None
                out.append({"dropped": True})
                break
            elif "end_stream" in step:
                ws.conn.end_stream(ws.stream)
                ws.flush()
                deadline = time.monotonic() + step["end_stream"]
                while not ws.ended:
                    ws.pump(deadline)
                out.append({"stream_ended": True})
                break
            elif "wait_closed" in step:
                ws.recv(step["wait_closed"])
                out.append({"error": "a message came instead of a close"})
                break
    except Closed as e:
        out.append({"closed": e.code, "reason": e.reason})
    except TimeoutError:
        out.append({"error": "timeout"})
    except Exception as e:  # the transcript says what went wrong
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
    finally:
        if ws is not None:
            ws.sock.close()
    return out


def main():
    url, steps = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(conversation(url, steps)))


if __name__ == "__main__":
    main()
