#!/usr/bin/python3
"""Checks that every bench app (bench/apps/*.py) is a valid WSGI app, or
for asgi_*.py a valid ASGI 3 app (asgi_ws_echo.py: its WebSocket echo too).

Imports each app with this interpreter (run it with /usr/bin/python3, the one
mod_pympm embeds), calls it through wsgiref.validate with a fake environ (an
ASGI app: with a fake scope, receive and send on an asyncio loop, lifespan
included, checking the messages against the spec) and checks the body. No
network; well under a second. Exit status 0 if all apps are valid. Used by
the test suite (label `unit`); the bench itself is not part of the suite.
"""
import asyncio
import importlib.util
import inspect
import io
import json
import os
import shutil
import sys
import tempfile
import wsgiref.util
import wsgiref.validate

APPS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")


def load(path, callable_name="application"):
    name = "bench_app_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, callable_name)


def asgi_lifespan(app):
    """Runs the lifespan protocol: startup, then shutdown, both complete."""
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        if events:
            return events.pop(0)
        await asyncio.sleep(3600)  # the server never sends a third event

    async def send(message):
        sent.append(message["type"])

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    if sent != ["lifespan.startup.complete", "lifespan.shutdown.complete"]:
        raise AssertionError("lifespan sent %r" % sent)


def asgi_call(app, method="GET", body=b"", query="", path="/"):
    """One HTTP request through an ASGI 3 app; checks the messages as a
    strict server would and returns (status line, body)."""
    # A coroutine function, or an object whose __call__ is one (FastAPI,
    # Starlette).
    call = app if inspect.iscoroutinefunction(app) else getattr(type(app), "__call__", None)
    if not inspect.iscoroutinefunction(call) or len(inspect.signature(app).parameters) != 3:
        raise AssertionError("not an ASGI 3 app: async def app(scope, receive, send)")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ["127.0.0.1", 50000],
        "server": ["127.0.0.1", 80],
    }
    requests = [{"type": "http.request", "body": body, "more_body": False}]
    seen = {"status": None, "headers": [], "body": [], "done": False}

    async def receive():
        if requests:
            return requests.pop(0)
        return {"type": "http.disconnect"}

    async def send(message):
        kind = message.get("type")
        if seen["done"]:
            raise AssertionError("%s after the response was complete" % kind)
        if kind == "http.response.start":
            if seen["status"] is not None:
                raise AssertionError("http.response.start twice")
            status = message["status"]
            if not isinstance(status, int) or not 200 <= status <= 599:
                raise AssertionError("status %r" % (status,))
            for pair in message.get("headers", []):
                name, value = pair
                if not isinstance(name, bytes) or not isinstance(value, bytes):
                    raise AssertionError("header %r: names and values must be bytes" % (pair,))
                if name != name.lower():
                    raise AssertionError("header name %r is not lower case" % name)
            seen["status"], seen["headers"] = status, list(message.get("headers", []))
        elif kind == "http.response.body":
            if seen["status"] is None:
                raise AssertionError("http.response.body before http.response.start")
            chunk = message.get("body", b"")
            if not isinstance(chunk, bytes):
                raise AssertionError("body %r is not bytes" % type(chunk))
            seen["body"].append(chunk)
            seen["done"] = not message.get("more_body", False)
        else:
            raise AssertionError("unexpected message %r" % kind)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    if not seen["done"]:
        raise AssertionError("the app returned before the last body part")
    out = b"".join(seen["body"])
    length = dict(seen["headers"]).get(b"content-length")
    if length is not None and int(length) != len(out):
        raise AssertionError("content-length %s but %d bytes sent" % (length.decode(), len(out)))
    return "%d " % seen["status"], out


def asgi_websocket(app, messages):
    """A WebSocket through an ASGI 3 app: connect, the client's `messages`
    (str or bytes), then its going away; returns what the app sent."""
    events = [{"type": "websocket.connect"}]
    events += [{"type": "websocket.receive", "text" if isinstance(m, str) else "bytes": m} for m in messages]
    events.append({"type": "websocket.disconnect", "code": 1000})
    sent = []

    async def receive():
        return events.pop(0)

    async def send(message):
        if message["type"] == "websocket.send" and (message.get("text") is None) == (message.get("bytes") is None):
            raise AssertionError("websocket.send needs exactly one of text and bytes: %r" % message)
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ["127.0.0.1", 50000],
        "server": ["127.0.0.1", 80],
        "subprotocols": [],
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    return sent


def check_asgi(file, websocket=None, **spec):
    app = load(file, "app")
    asgi_lifespan(app)
    if websocket is not None:
        sent = asgi_websocket(app, websocket)
        want = [{"type": "websocket.accept"}] + [
            {"type": "websocket.send", "text" if isinstance(m, str) else "bytes": m} for m in websocket
        ]
        if sent != want:
            raise AssertionError("the WebSocket got %r, expected %r" % (sent, want))
    return asgi_call(app, **spec)


def call(app, method="GET", body=b"", query=""):
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/octet-stream"
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.file_wrapper"] = wsgiref.util.FileWrapper
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status
        seen["headers"] = headers
        return lambda data: None

    result = wsgiref.validate.validator(app)(environ, start_response)
    try:
        out = b"".join(result)
    finally:
        result.close()
    length = dict((k.lower(), v) for k, v in seen["headers"]).get("content-length")
    if length is not None and int(length) != len(out):
        raise AssertionError("Content-Length %s but %d bytes sent" % (length, len(out)))
    return seen["status"], out


def main():
    failures = 0
    tmp = tempfile.mkdtemp(prefix="pympm-check-apps-")
    try:
        # Apps may read data files next to themselves: check copies, so the
        # source tree stays clean.
        for name in sorted(os.listdir(APPS_DIR)):
            if name.endswith(".py"):
                shutil.copy(os.path.join(APPS_DIR, name), tmp)
        data = bytes(range(256)) * 1024
        with open(os.path.join(tmp, "file10m.bin"), "wb") as f:
            f.write(data)
        expected = {
            "hello.py": dict(check=lambda out: out == b"Hello, World!\n"),
            "body64k.py": dict(check=lambda out: len(out) == 65536),
            "file10m.py": dict(check=lambda out: out == data),
            "echo.py": dict(
                method="POST", body=b"x" * 300000 + b"end", check=lambda out: out == b"x" * 300000 + b"end"
            ),
            "cpu.py": dict(query="ms=2", check=lambda out: out.startswith(b"ok ")),
            "asgi_hello.py": dict(check=lambda out: out == b"Hello, World!\n"),
            "asgi_sleep.py": dict(check=lambda out: out == b"Hello, World!\n"),
            "asgi_io.py": dict(check=lambda out: json.loads(out) == {"status": "ok"}),
            "asgi_ws_echo.py": dict(websocket=["x" * 16, b"\x00\xff"], check=lambda out: out == b"Hello, World!\n"),
            "asgi_fastapi_json.py": dict(
                path="/items/42", query="q=x", check=lambda out: json.loads(out) == {"item_id": 42, "q": "x"}
            ),
        }
        names = sorted(n for n in os.listdir(tmp) if n.endswith(".py"))
        for name in names:
            spec = dict(expected.get(name, {}))
            check = spec.pop("check", lambda out: True)
            try:
                path = os.path.join(tmp, name)
                if name.startswith("asgi_"):
                    status, out = check_asgi(path, **spec)
                else:
                    status, out = call(load(path), **spec)
                if not status.startswith("200 "):
                    raise AssertionError("status %r" % status)
                if not check(out):
                    raise AssertionError("unexpected body %r..." % out[:40])
                print("ok   %s" % name)
            except Exception as e:  # report every app, not just the first bad one
                failures += 1
                print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        missing = set(expected) - set(names)
        for name in sorted(missing):
            failures += 1
            print("FAIL %s: missing" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
