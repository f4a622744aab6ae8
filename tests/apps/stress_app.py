"""Routes for the lock and concurrency tests (PyRequestTimeout on requests
with deep stacks while fresh threads serve their first request, recycling
and restarts at once): a WSGI `application` and an ASGI `app` with the same
routes. /spin recurses about `depth` frames, then loops until PyRequestTimeout
stops it (WSGI: pympm.RequestTimeout raised in the loop; ASGI: the task is
cancelled at its next await). Its frames come from many file names that do
not exist: formatting the stack (linecache) then looks each one up on
sys.path, and every os.stat lets the GIL go, as reading real sources does.
/hold sleeps (without the GIL) so that concurrent requests need fresh
threads."""
import asyncio
import os
import threading
import time
from urllib.parse import parse_qs

_LEVELS = 64


def _levels(source, name):
    out = []
    for i in range(_LEVELS):
        ns = {}
        exec(compile(source, "pympm_stress_frame_%d.py" % i, "exec"), ns)
        out.append(ns[name])
    return out


_SYNC_LEVELS = _levels("def level(depth, inner):\n    return inner(depth - 2)\n", "level")
_ASYNC_LEVELS = _levels("async def level(depth, inner):\n    return await inner(depth - 2)\n", "level")


def _query(qs):
    return {k: v[0] for k, v in parse_qs(qs).items()}


def _spin_at(depth):
    if depth > 0:
        return _SYNC_LEVELS[depth // 2 % _LEVELS](depth, _spin_at)
    n = 0
    while True:
        n += 1


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = _query(environ.get("QUERY_STRING", ""))
    if path == "/spin":
        print("wsgi spin begins", flush=True)
        _spin_at(int(q.get("depth", "200")))
    if path == "/hold":
        time.sleep(float(q.get("s", "1")))
        path = "/hello"
    if path == "/hello":
        body = b"hello %d %d\n" % (os.getpid(), threading.get_ident())
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route\n"]


async def _await_at(depth):
    if depth > 0:
        return await _ASYNC_LEVELS[depth // 2 % _LEVELS](depth, _await_at)
    n = 0
    while True:
        n += 1
        if n % 1000 == 0:
            await asyncio.sleep(0)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"][len(scope.get("root_path", "")) :]
    q = _query(scope["query_string"].decode())
    if path == "/spin":
        print("asgi spin begins", flush=True)
        await _await_at(int(q.get("depth", "200")))
    if path == "/hold":
        await asyncio.sleep(float(q.get("s", "1")))
        path = "/hello"
    body = b"hello %d\n" % os.getpid() if path == "/hello" else b"no route\n"
    await send(
        {
            "type": "http.response.start",
            "status": 200 if path == "/hello" else 404,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
