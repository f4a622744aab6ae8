"""The scenario table: what each scenario runs (app, URL, request, MPM and
counts, connections, pacing), how its load is generated, and what a right
answer is. Adding a scenario is a row in SCENARIOS (and an app in
bench/apps/); a new kind of load or of answer check is a class or a
function here or next to wrk.py."""

import dataclasses
import time
from typing import Callable, Optional

from .tree import DATA_FILE
from .wrk import Wrk
from .wsload import WsLoad

POST_1M = b"0123456789abcdef" * 65536


# ---------------------------------------------------------------- answers
# What verify() accepts (besides status 200) from the one request it makes
# before the load: answer(sc, tree, body, content_type) raises if wrong.
# Benchmarking a 404, a 500 or other bytes is useless.


def expect_bytes(body, want):
    if body != want:
        raise RuntimeError("unexpected body (%d bytes, expected %d): %r..." % (len(body), len(want), body[:60]))


def same_as_app(sc, tree, body, content_type):
    """The bytes and the Content-Type the app answers in-process: in-memory
    answers must carry the app's type, since the floor and the ceiling
    imitate it."""
    want, want_type = tree.app_answer(sc.app)
    expect_bytes(body, want)
    if content_type != want_type:
        raise RuntimeError("Content-Type %r, expected %r" % (content_type, want_type))


def echoed(sc, tree, body, content_type):
    expect_bytes(body, sc.body)


def same_as_file(name):
    def answer(sc, tree, body, content_type):
        expect_bytes(body, tree.read(name))

    return answer


def starts_with(prefix):
    def answer(sc, tree, body, content_type):
        if not body.startswith(prefix):
            raise RuntimeError("unexpected body %r" % body[:60])

    return answer


# ---------------------------------------------------------------- scenarios


@dataclasses.dataclass
class Scenario:
    name: str
    title: str
    app: str  # bench/apps/<app>.py
    path: str
    mpm: str
    procs: int
    threads: int
    conns: int
    static: Optional[str] = None  # file name of the ceiling's static copy
    floor: Optional[str] = None  # file the floor module answers from memory
    pacing: Optional[str] = None  # None (saturating clients), "burst" or "poisson" (see wrk.py)
    think_ms: int = 0
    py_threads: tuple = (None,)  # PyThreads values mod_pympm runs with
    quick: bool = False  # part of --quick
    duration_factor: float = 1.0
    interface: str = "wsgi"  # "wsgi" (callable application) or "asgi" (app)
    method: str = "GET"
    body: Optional[bytes] = None
    headers: tuple = ()  # (name, value) request headers
    answer: Callable = same_as_app
    # The load generator: a class with packages, versions(), (work, args)
    # constructor, verify(sc, port, tree) and run(sc, port, seconds, seed)
    # returning wrk's figures (see measure.one_run). A WebSocket scenario
    # brings its own (messages/s instead of requests/s).
    load: type = Wrk
    # Called as during(server, seconds) on a thread of its own while the
    # measured load runs (say, a graceful restart half-way); what it raises
    # fails the run.
    during: Optional[Callable] = None
    # Graceful reloads `during` makes (the servers that have one run it).
    reloads: int = 0
    # Where mod_pympm and mod_wsgi mount the app: / (PATH_INFO is `path`);
    # profile-callgrind --mount sets `path` itself for an empty PATH_INFO.
    mount: str = "/"
    # A WebSocket scenario (load=WsLoad): ws_load's mode, "echo" or "idle";
    # only the deployments that proxy WebSockets run it.
    ws_mode: Optional[str] = None
    # What the throughput column counts.
    unit: str = "req/s"

    @property
    def model(self):
        if self.mpm == "prefork":
            return "prefork %d children" % self.procs
        model = "%s %d x %d threads" % (self.mpm, self.procs, self.threads)
        if self.interface == "asgi":
            model += ", uvicorn %d workers" % self.procs
        return model


def graceful_reloads(count):
    """A `during`: `count` graceful reloads, evenly spread over the run."""

    def during(server, seconds):
        start = time.monotonic()
        for k in range(1, count + 1):
            time.sleep(max(0.0, start + seconds * k / (count + 1) - time.monotonic()))
            server.reload()

    return during


def hello_world(name, mpm, procs, threads, conns, **kw):
    """The smallest answer, which the floor and the ceiling serve too: the
    per-request cost of each server."""
    return Scenario(
        name=name,
        title="hello world",
        app="hello",
        path="/hello.txt",
        mpm=mpm,
        procs=procs,
        threads=threads,
        conns=conns,
        static="hello.txt",
        floor="hello.txt",
        **kw,
    )


def asgi(name, title, app, path, threads=16, conns=32, **kw):
    """An ASGI app (bench/apps/asgi_*.py, callable `app`), on mod_pympm and
    the ASGI servers only. Same process count for all: httpd 2 event
    children x `threads` (16 unless said; PyThreads auto = as many, and
    the httpd front the same), uvicorn 2 workers (one event loop each, no
    thread limit). mod_pympm needs an httpd request thread for each request
    in flight, uvicorn none: `conns` = 2 x `threads` connections, one per
    httpd thread, so that neither model waits on the other's limit."""
    return Scenario(
        name=name,
        title=title,
        app=app,
        path=path,
        mpm="event",
        procs=2,
        threads=threads,
        conns=conns,
        interface="asgi",
        **kw,
    )


def websocket_echo(name, title, ws_mode, unit, **kw):
    """The raw ASGI WebSocket echo (bench/apps/asgi_ws_echo.py) under
    ws_load's `ws_mode`; only the deployments that proxy WebSockets run it."""
    return asgi(name, title, "asgi_ws_echo", "/ws", load=WsLoad, ws_mode=ws_mode, unit=unit, **kw)


# Connections never exceed the workers: a prefork child (or a sync uWSGI/
# gunicorn worker) holds a keep-alive connection for the whole run, so extra
# connections would only wait in the backlog and time out.
SCENARIOS = [
    hello_world("hello-prefork-2", "prefork", 2, 1, 2, quick=True),
    hello_world("hello-event-1x16", "event", 1, 16, 16),
    hello_world("hello-event-2x8", "event", 2, 8, 16, quick=True),
    # The WSGI twin of asgi-hello (same MPM, counts and connections): how
    # close ASGI gets to mod_pympm's own WSGI path.
    hello_world("hello-event-2x16", "event", 2, 16, 32),
    Scenario(
        name="body-64k",
        title="64 KiB body",
        app="body64k",
        path="/body64k.txt",
        mpm="event",
        procs=2,
        threads=8,
        conns=16,
        static="body64k.txt",
        floor="body64k.txt",
    ),
    Scenario(
        name="file-10m",
        title="10 MiB wsgi.file_wrapper",
        app="file10m",
        path="/file10m.bin",
        mpm="event",
        procs=2,
        threads=8,
        conns=8,
        static=DATA_FILE,
        answer=same_as_file(DATA_FILE),
    ),
    Scenario(
        name="post-1m",
        title="1 MiB POST echo",
        app="echo",
        path="/echo",
        mpm="event",
        procs=2,
        threads=8,
        conns=8,
        method="POST",
        body=POST_1M,
        headers=(("Content-Type", "application/octet-stream"),),
        answer=echoed,
    ),
    # The 8 clients send together at every 250 ms tick, then wait for the
    # next tick: 8 requests (160 ms of CPU) arrive at once in each period.
    # First come first served finishes them at 20, 40, ... 160 ms; GIL
    # interleaving finishes all of them near 160 ms. (Saturating clients with
    # no idle time would show nothing: Little's law then fixes the mean
    # latency at clients / throughput whatever the scheduling.)
    Scenario(
        name="cpu-20ms",
        title="8 clients, 20 ms CPU each",
        app="cpu",
        path="/cpu",
        mpm="event",
        procs=1,
        threads=8,
        conns=8,
        pacing="burst",
        think_ms=250,
        py_threads=(1, 2, 8),
        quick=True,
        duration_factor=1.6,
        answer=starts_with(b"ok "),
    ),
    # ASGI apps (see asgi()).
    asgi("asgi-hello", "ASGI hello world", "asgi_hello", "/hello", floor="hello.txt", quick=True),
    # FastAPI's users' smallest real route: a path and a query parameter
    # validated, a small JSON answer.
    asgi(
        "fastapi-json",
        "FastAPI JSON, path + query parameter",
        "asgi_fastapi_json",
        "/items/42?q=x",
        answer=starts_with(b'{"item_id":42,"q":"x"}'),
    ),
    # 10 ms of awaited I/O per request: throughput is bounded by 32 / 10 ms
    # = 3200 req/s; what is measured is how close each server gets with its
    # requests interleaving on the loop.
    asgi("asgi-sleep", "ASGI await asyncio.sleep(0.01)", "asgi_sleep", "/sleep"),
    # An API gateway waiting on other services: 512 connections, each
    # request awaiting 50 ms, so at most 512 / 50 ms = 10,240 req/s. A
    # mod_pympm request in flight holds an httpd thread: 2 x 256 threads
    # (ThreadLimit follows), whose cost shows in the total RSS column; the
    # fronts are sized by the same counts (httpd 2 x 256, nginx
    # worker_connections 2 x 512 + 64).
    asgi(
        "asgi-io-512",
        "ASGI await asyncio.sleep(0.05), 512 in flight",
        "asgi_io",
        "/io",
        threads=256,
        conns=512,
    ),
    # A graceful reload under load (apachectl -k graceful; gunicorn's and
    # uWSGI's SIGHUP), twice per measured run: p99, max and errors show what
    # the requests that arrive meanwhile pay. The app's import costs 0.5 s
    # of CPU, like a framework's.
    Scenario(
        name="reload",
        title="hello world across 2 graceful reloads",
        app="slow_import",
        path="/hello.txt",
        mpm="event",
        procs=2,
        threads=8,
        conns=16,
        during=graceful_reloads(2),
        reloads=2,
        duration_factor=2.0,
    ),
    # WebSockets (issue 21), raw ASGI echo, on mod_pympm, bare uvicorn and
    # nginx+uvicorn (nginx as the WebSocket proxy). ws-echo: each
    # connection sends 16 bytes and waits for the echo, over and over;
    # messages/s. An open WebSocket holds an httpd thread: 32 connections on
    # 2 x 16 threads, as asgi-hello.
    websocket_echo("ws-echo", "WebSocket echo, 16 bytes", "echo", "msg/s"),
    # 2,000 connections opened and held idle for the run, then one echo
    # each: whether every one is served, total RSS, and the p99 of those
    # 2,000 echoes sent at once. httpd needs a thread per socket: 2 x 1024.
    websocket_echo(
        "ws-idle",
        "2,000 idle WebSockets, then one echo each",
        "idle",
        "echoes",
        threads=1024,
        conns=2000,
        duration_factor=2.0,
    ),
    # --quick keeps hello-prefork-2, hello-event-2x8, asgi-hello and cpu-20ms
    # (with PyThreads 1 and 8 only).
]
NAMES = [s.name for s in SCENARIOS]
