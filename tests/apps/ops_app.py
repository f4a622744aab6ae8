"""Routes for the operations tests (tests/e2e/test_operations.cpp, issue
11): requests that never end in every way a request can (a pure-Python
loop, time.sleep, a lock, an app that swallows RequestTimeout, a stream that
stalls), error answers for the status counters, and memory that grows."""
import json
import os
import threading
import time
from urllib.parse import parse_qs

import pympm

_NEVER = threading.Lock()
_NEVER.acquire()
_HOARD = []


def _text(start_response, body, status="200 OK"):
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def spin_forever():
    n = 0
    while True:
        n += 1


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/hello":
        return _text(start_response, "hello from %d\n" % os.getpid())
    if path == "/busy":
        print("busy begins", flush=True)
        spin_forever()
    if path == "/sleep":
        print("sleep begins", flush=True)
        time.sleep(3600)
    if path == "/lock":
        print("lock begins", flush=True)
        _NEVER.acquire()
    if path == "/swallow":
        print("swallow begins", flush=True)
        while True:
            try:
                time.sleep(0.05)
                sum(range(1000))
            except BaseException:
                pass  # an app that ignores everything, RequestTimeout too
    if path in ("/stream_stall", "/stream_busy"):

        def body():
            yield b"first chunk\n"
            print("stream stalls", flush=True)
            if path == "/stream_stall":
                time.sleep(3600)
            spin_forever()

        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()
    if path == "/trickle":
        # A response whose head goes out at once and whose end comes `ms`
        # later (test_leaving: a child begins to leave meanwhile).
        def pieces():
            yield b"first piece from %d\n" % os.getpid()
            time.sleep(int(q.get("ms", "1000")) / 1000)
            yield b"last piece\n"

        start_response("200 OK", [("Content-Type", "text/plain")])
        return pieces()
    if path == "/status":
        code = int(q.get("code", "200"))
        return _text(start_response, "status %d\n" % code, status="%d Status %d" % (code, code))
    if path == "/raise":
        raise RuntimeError("raised on purpose")
    if path == "/grow":
        _HOARD.append(bytearray(int(q.get("mb", "16")) * 1024 * 1024))
        return _text(start_response, "holding %d MiB in %d\n" % (sum(len(b) for b in _HOARD) >> 20, os.getpid()))
    if path == "/info":
        body = json.dumps(pympm.child_info()).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return _text(start_response, "no route\n", status="404 Not Found")
