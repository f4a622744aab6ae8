"""Routes for the PyThreads fairness tests (tests/e2e/test_slot_fairness.cpp,
issue 23 item 2): slow uploads read 4 KiB at a time, streamed responses a
slow client reads, and a plain GET that must not wait for either;
`application` is the WSGI app, `asgi_app` the uploads and GET for ASGI.

Every stretch of app code between two waits on the client (a read of
wsgi.input, a yielded piece being sent) runs inside a PyThreads slot. The
app counts how many such stretches are open at once, under a lock, and
keeps the highest count it saw: the gate must never let it exceed
PyThreads. Each stretch also lets the GIL go once (time.sleep(0) keeps the
slot), so that a thread that wrongly runs without a slot gets in while the
stretch is open and is seen overlapping it."""
import json
import threading
import time
from urllib.parse import parse_qs

import pympm

_lock = threading.Lock()
_inside = 0
_max_inside = 0


def _enter():
    global _inside, _max_inside
    with _lock:
        _inside += 1
        _max_inside = max(_max_inside, _inside)
    time.sleep(0)


def _leave():
    global _inside
    with _lock:
        _inside -= 1


def _json(start_response, obj):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _stream(n, piece):
    _enter()
    try:
        for _ in range(n):
            _leave()
            yield piece  # sent while this request waits on its client
            _enter()
    finally:
        _leave()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    if path == "/max_inside":
        # Read without counting itself: it asks about the others.
        with _lock:
            highest = _max_inside
        return _json(start_response, {"max_inside": highest, "slots_lent": pympm.child_info()["slots_lent"]})

    _enter()
    try:
        started = time.monotonic()
        if path == "/upload":
            # One read of 4 KiB at a time, each its own wait on the client.
            stream = environ["wsgi.input"]
            total = 0
            while True:
                _leave()
                try:
                    data = stream.read(4096)
                finally:
                    _enter()
                if not data:
                    break
                total += len(data)
            return _json(start_response, {"bytes": total, "started": started, "ended": time.monotonic()})

        if path == "/stream":
            n = int(q.get("n", "64"))
            piece = b"s" * int(q.get("size", "4096"))
            start_response(
                "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n * len(piece)))]
            )
            return _stream(n, piece)

        # A plain GET: when it got in.
        return _json(start_response, {"started": started})
    finally:
        _leave()


async def asgi_app(scope, receive, send):
    """The same uploads and plain GET for an ASGI mount: each receive() is
    a read of the body by httpd's request thread, which lends its slot
    while it waits on the client. (The app runs on the child's loop, not in
    the request threads' slots, so it counts nothing.)"""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    started = time.monotonic()
    answer = {"started": started}
    if scope["path"].endswith("/upload"):
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            total += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        answer = {"bytes": total, "started": started, "ended": time.monotonic()}
    body = json.dumps(answer, sort_keys=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
