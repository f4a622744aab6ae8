"""An app that runs unchanged under `python3 -m wsgiref.simple_server` and
must run the same under mod_pympm (tests/e2e/test_python_conformance.cpp,
issue 10): UTF-8 text files and file names, print() of non-ASCII text, a
module-level ThreadPoolExecutor and multiprocessing ThreadPool, the
Authorization header, and the signal mask of the threads it starts."""
import _thread
import concurrent.futures
import json
import multiprocessing.pool
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))

# Used once at import, then idle: its workers are non-daemon threads that
# only concurrent.futures' threading atexit hook wakes up.
EXECUTOR = concurrent.futures.ThreadPoolExecutor(2)
EXECUTOR.submit(sum, [1, 2, 3]).result()
POOL = multiprocessing.pool.ThreadPool(2)
POOL.apply(sum, ([1, 2],))


def _blocked_signals():
    # The calling thread's blocked signal set, from the kernel.
    with open("/proc/thread-self/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                mask = int(line.split()[1], 16)
                return sorted(n for n in range(1, 65) if mask & (1 << (n - 1)))
    return None


def _mask_of_new_thread(start):
    out = {}
    done = threading.Event()

    def body():
        out["blocked"] = _blocked_signals()
        done.set()

    start(body)
    done.wait(10)
    return out.get("blocked")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/text":
        with open(os.path.join(HERE, "templates", "grüße.txt")) as f:
            text = f.read()
        # A file name that is not ASCII, created and listed.
        scratch = environ.get("QUERY_STRING") or "/tmp"
        name = os.path.join(scratch, "café-%d.txt" % os.getpid())
        with open(name, "w") as f:
            f.write("ünïcode ✓")
        with open(name) as f:
            back = f.read()
        listed = os.path.basename(name) in os.listdir(scratch)
        os.remove(name)
        print("pympm says héllo wörld ✓")
        body = json.dumps(
            {
                "text": text,
                "fs_encoding": sys.getfilesystemencoding(),
                "utf8_mode": sys.flags.utf8_mode,
                "preferred": __import__("locale").getpreferredencoding(False),
                "roundtrip": back,
                "listed": listed,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        start_response("200 OK", [("Content-Type", "application/json; charset=utf-8")])
        return [body]
    if path == "/encoding":
        return _json(start_response, {"fs_encoding": sys.getfilesystemencoding(), "utf8_mode": sys.flags.utf8_mode})
    if path == "/executor":
        return _json(start_response, {"sum": EXECUTOR.submit(sum, [4, 5]).result(), "pool": POOL.apply(sum, ([6, 7],))})
    if path.startswith("/auth"):
        return _json(
            start_response,
            {"authorization": environ.get("HTTP_AUTHORIZATION"), "remote_user": environ.get("REMOTE_USER")},
        )
    if path == "/signals":
        return _json(
            start_response,
            {
                "thread": _mask_of_new_thread(lambda f: threading.Thread(target=f).start()),
                "_thread": _mask_of_new_thread(lambda f: _thread.start_new_thread(f, ())),
            },
        )
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route\n"]


def _json(start_response, obj):
    body = json.dumps(obj).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
