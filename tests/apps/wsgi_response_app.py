"""Response side of PEP 3333, chosen by PATH_INFO: streaming, file_wrapper,
HEAD, the error paths of a WSGI server, and close() accounting. Run it with
one child: module globals (CLOSES) are read back by later requests."""
import io
import json
import os
import sys
import time
from urllib.parse import parse_qs

# name -> how many times close() was called on that response
CLOSES = {}


class Tracked:
    """A response iterable that counts its close() calls. `mode`:
    ok, raise_at=<i> (raise instead of item i), close_raises."""

    def __init__(self, name, items, raise_at=None, close_raises=False, sleep=0.0):
        self.name = name
        self.items = items
        self.raise_at = raise_at
        self.close_raises = close_raises
        self.sleep = sleep
        CLOSES.setdefault(name, 0)

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.raise_at:
                raise RuntimeError("pympm-test-midstream-boom " + self.name)
            if self.sleep and i:
                time.sleep(self.sleep)
            yield item

    def close(self):
        CLOSES[self.name] += 1
        if self.close_raises:
            raise ValueError("pympm-test-close-boom " + self.name)


def vm_hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def text(start_response, body, status="200 OK", extra=()):
    body = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    plain = [("Content-Type", "text/plain")]

    # --- bookkeeping -------------------------------------------------------
    if path == "/pid":
        return text(start_response, str(os.getpid()))
    if path == "/closes":
        return text(start_response, json.dumps(CLOSES, sort_keys=True))
    if path == "/hwm":
        return text(start_response, json.dumps({"pid": os.getpid(), "vm_hwm_kib": vm_hwm_kib()}))

    # --- normal responses --------------------------------------------------
    if path == "/list":
        start_response("200 OK", plain)
        return [b"hello ", b"list ", b"world\n"]
    if path == "/generator":
        def gen():
            yield b"gen-1\n"
            yield b""
            yield b"gen-2\n"
        start_response("200 OK", plain)
        return gen()
    if path == "/lazy_start":
        # start_response called during the first iteration (allowed).
        def gen():
            start_response("200 OK", plain + [("X-Lazy", "yes")])
            yield b"lazy body\n"
        return gen()
    if path == "/write":
        write = start_response("200 OK", plain)
        write(b"written-1\n")
        write(b"written-2\n")
        return [b"returned\n"]
    if path == "/stream_sleep":
        def gen():
            yield b"first\n"
            time.sleep(float(q.get("sleep", "1")))
            yield b"second\n"
        start_response("200 OK", plain)
        return Tracked("stream_sleep", gen())
    if path == "/head_framework":
        # What Werkzeug does for HEAD: the GET's Content-Length, no body.
        body = b"x" * 1234
        start_response("200 OK", plain + [("Content-Length", str(len(body)))])
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        return [body]
    if path == "/tracked":
        start_response("200 OK", plain)
        return Tracked("tracked", [b"a", b"b", b"c"])
    if path == "/tracked_list_cl":
        start_response("200 OK", plain + [("Content-Length", "3")])
        return Tracked("tracked_list_cl", [b"abc"])
    if path == "/endless":
        # Until the client goes away (bounded: 4096 x 64 KiB).
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked("endless", [b"z" * 65536] * 4096, sleep=0.001)

    # --- exc_info ----------------------------------------------------------
    if path == "/exc_info_replaces":
        start_response("200 OK", plain + [("X-First", "1")])
        try:
            raise KeyError("pympm-test-handled")
        except KeyError:
            start_response("503 Service Unavailable", plain + [("X-Second", "1")], sys.exc_info())
        return [b"replaced\n"]
    if path == "/exc_info_too_late":
        def gen():
            yield b"already sent\n"
            try:
                raise KeyError("pympm-test-exc-info-too-late")
            except KeyError:
                start_response("500 Internal Server Error", plain, sys.exc_info())
            yield b"MUST-NOT-BE-SENT"
        start_response("200 OK", plain)
        return gen()

    # --- file_wrapper ------------------------------------------------------
    if path == "/file":
        f = open(q["path"], "rb")
        if "seek" in q:
            f.seek(int(q["seek"]))
        headers = [("Content-Type", "application/octet-stream")]
        if "cl" in q:
            headers.append(("Content-Length", q["cl"]))
        headers.append(("X-Vm-Hwm-Before", str(vm_hwm_kib())))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/filelike":
        data = bytes(range(256)) * int(q.get("n", "1000"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)

    # --- error paths -------------------------------------------------------
    if path == "/raise_before":
        raise RuntimeError("pympm-test-raise-before")
    if path == "/raise_after_start":
        start_response("200 OK", plain)
        raise RuntimeError("pympm-test-raise-after-start")
    if path == "/no_start_response":
        return [b"MUST-NOT-BE-SENT"]
    if path == "/no_start_response_empty":
        return []
    if path == "/start_twice":
        start_response("200 OK", plain)
        start_response("200 OK", plain)
        return [b"MUST-NOT-BE-SENT"]
    if path in ("/item_str", "/item_none", "/item_int"):
        bad = {"/item_str": "MUST-NOT-BE-SENT", "/item_none": None, "/item_int": 42}[path]
        start_response("200 OK", plain)
        return [bad]
    if path == "/item_str_after_bytes":
        def gen():
            yield b"good bytes\n"
            yield "MUST-NOT-BE-SENT"
        start_response("200 OK", plain)
        return gen()
    if path == "/cl_longer":
        start_response("200 OK", plain + [("Content-Length", "5")])
        return [b"12345", b"MUST-NOT-BE-SENT"]
    if path == "/cl_longer_gen":
        def gen():
            yield b"123"
            yield b"45MUST-NOT-BE-SENT"
            raise AssertionError("iterated past the Content-Length")
        start_response("200 OK", plain + [("Content-Length", "5")])
        return Tracked("cl_longer_gen", gen())
    if path == "/cl_shorter":
        start_response("200 OK", plain + [("Content-Length", "100")])
        return [b"only ten.."]
    if path == "/cl_shorter_gen":
        def gen():
            yield b"only "
            yield b"ten.."
        start_response("200 OK", plain + [("Content-Length", "100")])
        return gen()
    if path == "/midstream_raise":
        start_response("200 OK", plain)
        return Tracked("midstream_raise", [b"partial-1\n", b"partial-2\n", b"never\n"], raise_at=2)
    if path == "/midstream_raise_cl":
        start_response("200 OK", plain + [("Content-Length", "30")])
        return Tracked("midstream_raise_cl", [b"partial-1\n", b"never\n"], raise_at=1)
    if path == "/close_raises":
        start_response("200 OK", plain)
        return Tracked("close_raises", [b"complete body\n"], close_raises=True)
    if path == "/hop_by_hop":
        start_response("200 OK", plain + [("Connection", "close")])
        return [b"MUST-NOT-BE-SENT"]
    if path == "/header_not_latin1":
        start_response("200 OK", plain + [("X-Snowman", "\u2603")])
        return [b"MUST-NOT-BE-SENT"]
    if path == "/not_iterable":
        start_response("200 OK", plain)
        return 42

    return text(start_response, "unknown path %s\n" % path, "404 Not Found")
