"""Behaviour-matrix app of the MPM-bridge tests (tests/e2e/test_mpm_*.cpp).

At import it starts a daemon thread "ticker" that adds 1 to a counter every
100 ms. Routes (answers are "key=value" lines):
  /burn?s=1.0   burns s seconds of this thread's CPU time (time.thread_time,
                so GIL interleaving stretches the wall time); reports pid,
                start and end on time.monotonic (CLOCK_MONOTONIC, the clock
                of the client's std::chrono::steady_clock) and the ticks
  /ticks        the counter
  /info         pympm.child_info() and wsgi.multithread/multiprocess
  /read         reads the whole request body; the ticks before and after
  /stream?chunks=N&size=B
                yields N chunks of B bytes, each starting with
                "<index> <ticks>\n" (the ticks when it was produced)
"""
import os
import threading
import time
import urllib.parse

import pympm

_ticks = 0


def _tick():
    global _ticks
    while True:
        time.sleep(0.1)
        _ticks += 1


threading.Thread(target=_tick, name="ticker", daemon=True).start()


def _lines(pairs):
    return "".join("%s=%s\n" % (k, v) for k, v in pairs).encode()


def _stream(chunks, size):
    for i in range(chunks):
        head = b"%d %d\n" % (i, _ticks)
        yield head + b"." * (size - len(head) - 1) + b"\n"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/burn":
        seconds = float(query.get("s", ["1.0"])[0])
        ticks_before = _ticks
        start = time.monotonic()
        cpu0 = time.thread_time()
        x = 0
        while time.thread_time() - cpu0 < seconds:
            for i in range(1000):
                x += i
        end = time.monotonic()
        body = _lines(
            [
                ("pid", os.getpid()),
                ("thread", threading.get_ident()),
                ("start", repr(start)),
                ("end", repr(end)),
                ("ticks_before", ticks_before),
                ("ticks_after", _ticks),
            ]
        )
    elif path == "/ticks":
        body = _lines([("pid", os.getpid()), ("ticks", _ticks), ("now", repr(time.monotonic()))])
    elif path == "/info":
        info = pympm.child_info()
        pairs = sorted(info.items())
        pairs += [
            ("wsgi.multithread", environ["wsgi.multithread"]),
            ("wsgi.multiprocess", environ["wsgi.multiprocess"]),
            ("stopping", pympm.stopping.is_set()),
        ]
        body = _lines((k, ",".join(v) if isinstance(v, list) else v) for k, v in pairs)
    elif path == "/read":
        ticks_before = _ticks
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        body = _lines(
            [("pid", os.getpid()), ("bytes", len(data)), ("ticks_before", ticks_before), ("ticks_after", _ticks)]
        )
    elif path == "/stream":
        chunks = int(query.get("chunks", ["100"])[0])
        size = int(query.get("size", ["65536"])[0])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(chunks * size))])
        return _stream(chunks, size)
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"unknown route\n"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
