"""Stop-sequence app of the MPM-bridge tests (tests/e2e/test_mpm_stop.cpp).

At import it starts a non-daemon thread "stop-waiter" that waits on
pympm.stopping and then writes markers/thread.<pid>; it registers an on_stop
callback (markers/on_stop.<pid>) and an atexit handler (markers/atexit.<pid>).
markers/ sits next to this file and must be writable by the child's user.
mpm_stuck_app.py adds a non-daemon thread "stuck-worker" that ignores
pympm.stopping (start_stuck_thread).
Routes: /pid (pid and whether pympm.stopping is set), /sleep?s=N (sleeps
in the request, GIL released), /spin?s=N (a CPU-bound loop in the request,
GIL held but for the interpreter's switches), /alloc?s=N (as /spin, but the
loop builds and drops lists, dicts and strings: mostly inside malloc and
free; with &stdio=1 it first leaves a line in C's stdout buffer, which only
exit() would flush), /hog (starts a daemon thread
"gil-hog" that runs a pure-Python loop for ever), /c-hog?s=N (a daemon
thread that after N s takes the GIL for good in one C call). /sleep and /spin write
markers/request.<pid> once they run.
"""
import atexit
import ctypes
import os
import threading
import time
import urllib.parse

import pympm

MARKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "markers")


def _mark(kind):
    path = os.path.join(MARKERS, "%s.%d" % (kind, os.getpid()))
    with open(path, "w") as f:
        f.write("%f\n" % time.monotonic())


def _wait_for_stop():
    pympm.stopping.wait()
    _mark("thread")


threading.Thread(target=_wait_for_stop, name="stop-waiter", daemon=False).start()
pympm.on_stop(lambda: _mark("on_stop"))
atexit.register(_mark, "atexit")


def spin_forever():
    # Ignores pympm.stopping on purpose: the child must not wait for it.
    while True:
        time.sleep(0.05)


def _hog():
    x = 0
    while True:
        x = (x + 1) % 1000003


def _c_hog(delay):
    # After `delay` s, one C call that never gives the GIL up (sum over a
    # range does not run the eval loop): no Python code can run any more.
    time.sleep(delay)
    sum(range(10**15))


def start_stuck_thread():
    threading.Thread(target=spin_forever, name="stuck-worker", daemon=False).start()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    seconds = float(query.get("s", ["0"])[0])
    if path == "/sleep":
        _mark("request")
        time.sleep(seconds)
    elif path == "/spin":
        _mark("request")
        deadline = time.monotonic() + seconds
        x = 0
        while time.monotonic() < deadline:
            x += 1
    elif path == "/alloc":
        if query.get("stdio") == ["1"]:
            # Descriptor 1 is the error log, a file: C's stdout buffers fully.
            ctypes.CDLL(None).printf(b"mpm-stop-app: unflushed C stdio of %d\n", os.getpid())
        _mark("request")
        deadline = time.monotonic() + seconds
        kept = []
        while time.monotonic() < deadline:
            kept.append({str(i): [i, "x" * (i % 64), (i, -i)] for i in range(100)})
            if len(kept) > 20:
                kept.clear()
    elif path == "/hog":
        threading.Thread(target=_hog, name="gil-hog", daemon=True).start()
    elif path == "/c-hog":
        threading.Thread(target=_c_hog, args=(seconds,), name="c-gil-hog", daemon=True).start()
    body = ("pid=%d\nstopping=%s\n" % (os.getpid(), pympm.stopping.is_set())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
