# The Python half of the `pympm` module, executed once per child right after
# the interpreter starts. Cold paths only (loading apps, logging streams,
# shutdown); the per-request path is C++.
import atexit
import importlib
import importlib.machinery
import importlib.util
import io
import os

# _signal, not signal: the same calls, without signal's enum wrappers (enum
# costs every child about 0.3 MiB).
import _signal as signal
import sys
import threading

import _pympm


class _LazyModule:
    """Imports a module on first use. traceback pulls in linecache,
    tokenize and re (about 0.5 MiB per child) and only error and stop paths
    need it."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


traceback = _LazyModule("traceback")

__all__ = [
    "stopping",
    "wait_stopping",
    "on_stop",
    "child_info",
    "ClientDisconnected",
    "RequestBodyError",
    "RequestTimeout",
    "FileWrapper",
]

stopping = threading.Event()
_on_stop = []
_on_stop_lock = threading.Lock()
_stop_signalled = False
_child_info = {}
_stop_timeout = 5.0  # PyShutdownTimeout, set by the module


class ClientDisconnected(ConnectionError):
    """The client went away while the request body was being read."""


class RequestBodyError(OSError):
    """The request body was refused by httpd (too large or malformed)."""


class RequestTimeout(BaseException):
    """Raised in a request's thread when it has run the app for longer than
    PyRequestTimeout. A BaseException, as KeyboardInterrupt is: an app's
    `except Exception:` must not swallow it and carry on; `finally` blocks
    and context managers still run."""


def _thread_stack(ident):
    """The Python stack of thread `ident`, innermost last, or None."""
    frames = _current_frames() if _current_frames else {}
    frame = frames.get(ident)
    if frame is None:
        return None
    return "".join(traceback.format_stack(frame)).rstrip("\n")


def on_stop(fn):
    """Registers fn() to run once when this child is told to stop (before the
    child waits for app threads). Returns fn, so it can be a decorator. Once
    the child is stopping, fn runs at once; an `async def` called so from a
    coroutine is started as a task on the caller's loop."""
    if not callable(fn):
        raise TypeError("pympm.on_stop() needs a callable")
    with _on_stop_lock:
        run_now = _stop_signalled
        if not run_now:
            _on_stop.append(fn)
    if run_now:
        _run_callback(fn, None)
    return fn


def child_info():
    """This child's effective model, as logged in its "child ready" line."""
    info = dict(_child_info)
    info.update(_pympm.gate_stats())
    return info


class _LogWriter(io.BufferedIOBase):
    """The binary stream under sys.stdout, sys.stderr and wsgi.errors: each
    line written becomes one entry of httpd's error log ("PM00040: line");
    flush() sends an unfinished line as it is. fileno() is the process's
    descriptor of the same name (1 or 2), which the module points at httpd's
    error log: what writes to it directly (faulthandler, subprocesses, C
    code) lands there too, unformatted."""

    def __init__(self, level, name, fd):
        super().__init__()
        self._level = level
        self._name = name
        self._fd = fd
        self._pending = b""
        self._lock = threading.Lock()

    @property
    def name(self):
        return self._name

    @property
    def mode(self):
        return "wb"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    # An unfinished line is held up to this size: httpd cuts an entry at
    # about 8 KiB anyway, and a stream never written a newline must not grow.
    _MAX_PENDING = 8192

    def write(self, b):
        if isinstance(b, str):
            raise TypeError("a bytes-like object is required, not 'str'")
        data = memoryview(b).tobytes()
        with self._lock:
            lines = (self._pending + data).split(b"\n")
            pending = lines.pop()
            while len(pending) > self._MAX_PENDING:
                lines.append(pending[: self._MAX_PENDING])
                pending = pending[self._MAX_PENDING :]
            self._pending = pending
        for line in lines:
            _pympm.log(self._level, b"PM00040: " + line)
        return len(data)

    def flush(self):
        with self._lock:
            data, self._pending = self._pending, b""
        if data:
            _pympm.log(self._level, b"PM00040: " + data)

    def close(self):
        # The error log is httpd's: closing a stream (wsgi.errors is shared by
        # every request) sends what is pending and leaves it usable.
        self.flush()


def _log_stream(level, name, fd):
    """A text stream into httpd's error log at `level`, like python3's
    sys.stdout: a TextIOWrapper over a binary stream, so .buffer, .encoding
    and the rest are there. Line buffered and written through: each complete
    line is logged as soon as it is written."""
    stream = io.TextIOWrapper(
        _LogWriter(level, name, fd),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )
    stream.mode = "w"
    return stream


class FileWrapper:
    """wsgi.file_wrapper: the server sends a real file with sendfile; any
    other file-like object is iterated in blocks."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def _script_module_name(path):
    """The module name of a script app: its base name ("app" for
    /srv/site/app.py), as logging's %(name)s and Flask(__name__) show it,
    unless that name is taken by another module or would shadow one that
    is importable; then the base name and a digest of the path."""
    stem = os.path.splitext(os.path.basename(path))[0]
    real = os.path.realpath(path)
    if stem.isidentifier():
        loaded = sys.modules.get(stem)
        if loaded is not None:
            if os.path.realpath(getattr(loaded, "__file__", None) or "") == real:
                return stem
        else:
            try:
                spec = importlib.util.find_spec(stem)
            except (ImportError, ValueError):
                spec = False
            if spec is None or (spec and spec.origin and os.path.realpath(spec.origin) == real):
                return stem
    # The built-in _md5 gives hashlib's digest without hashlib, which loads
    # OpenSSL's libcrypto into every child (about 4 MiB of RSS).
    try:
        from _md5 import md5
    except ImportError:
        from hashlib import md5
    digest = md5(path.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()[:12]
    return "%s_%s" % (stem if stem.isidentifier() else "app", digest)


def _load_app(kind, location, callable_path):
    if kind == "script":
        name = _script_module_name(location)
        module = sys.modules.get(name)
        if module is None:
            # Like running the script: its folder is importable (appended, so
            # it never shadows the standard library).
            folder = os.path.dirname(location)
            if folder not in sys.path:
                sys.path.append(folder)
            loader = importlib.machinery.SourceFileLoader(name, location)
            spec = importlib.util.spec_from_file_location(name, location, loader=loader)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
    else:
        module = importlib.import_module(location)
    obj = module
    for part in callable_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(
                "%s has no attribute %r (PyApp %s:%s)" % (location, part, location, callable_path)
            ) from None
    if not callable(obj):
        raise TypeError("PyApp %s:%s is %s, not a callable" % (location, callable_path, type(obj).__name__))
    return obj


def _wsgi_mount_problem(app):
    """Why `app`, mounted as WSGI, is an ASGI app, or None. Only an async
    callable is taken for one: a WSGI server calls app(environ,
    start_response) and gets a coroutine that never runs."""

    def is_async(fn):
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        return code is not None and bool(code.co_flags & 0x80)  # CO_COROUTINE

    if is_async(app):
        return "%r is an async function, as an ASGI app is" % (app,)
    if not isinstance(app, type) and is_async(getattr(type(app), "__call__", None)):
        kind = type(app)
        return "%s.%s has an async __call__, as an ASGI app has" % (kind.__module__, kind.__qualname__)
    return None


def _format_exception(etype, value, tb):
    return "".join(traceback.format_exception(etype, value, tb))


def _run_callback(fn, deadline):
    """Runs one on_stop callback; an async one is waited for until
    `deadline` (time.monotonic(); None: PyShutdownTimeout from now)."""
    try:
        if _is_coroutine_function(fn):
            _run_async_callback(fn, deadline)
        else:
            fn()
    except BaseException:
        _log_exception(3, "PM00041: pympm.on_stop callback %r raised:" % (fn,))


def _signal_stopping(deadline=None):
    """Sets pympm.stopping and runs the on_stop callbacks; async ones are
    waited for until `deadline` (None: PyShutdownTimeout from now)."""
    global _stop_signalled
    import time

    with _on_stop_lock:
        if _stop_signalled:
            return
        _stop_signalled = True
        callbacks = list(_on_stop)
        _on_stop.clear()
    if deadline is None:
        deadline = time.monotonic() + _stop_timeout
    stopping.set()
    _wake_async_waiters()
    for fn in callbacks:
        _run_callback(fn, deadline)


# httpd steers its children with these signals and expects its own thread to
# take them: prefork runs the whole stop sequence from its SIGTERM handler,
# which must not land on an app thread (possibly inside Python, holding the
# GIL). Threads that Python starts are born with them blocked, as those
# started during child_init already are (httpd blocks them there).
_CONTROL_SIGNALS = {
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGALRM,
}


def _internal(owner, name, purpose):
    """A CPython internal the child relies on, or None (with a warning, once)
    when this Python does not have it."""
    value = getattr(owner, name, None)
    if value is None:
        _pympm.log(
            4,
            "PM00016: Python %s has no %s.%s: %s"
            % (sys.version.split()[0], getattr(owner, "__name__", owner), name, purpose),
        )
    return value


def _masked(start):
    def start_thread(*args, **kwargs):
        # The new thread inherits the creator's mask; the creator gets its own
        # back at once (a signal arriving meanwhile stays pending for it).
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _CONTROL_SIGNALS)
        try:
            return start(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    start_thread.__doc__ = start.__doc__
    start_thread.__name__ = getattr(start, "__name__", "start_thread")
    return start_thread


def _wrap_thread_starts():
    import _thread

    # threading.Thread.start calls threading._start_new_thread up to 3.12 and
    # threading._start_joinable_thread from 3.13; code that uses _thread
    # directly calls its functions.
    name = "_start_joinable_thread" if hasattr(threading, "_start_joinable_thread") else "_start_new_thread"
    start = _internal(
        threading,
        name,
        "threads the app starts may take httpd's control signals (SIGTERM, "
        "SIGUSR1, ...) meant for the child's own threads",
    )
    if start is not None:
        setattr(threading, name, _masked(start))
    for attr in ("start_new_thread", "start_new", "start_joinable_thread"):
        fn = getattr(_thread, attr, None)
        if fn is not None:
            setattr(_thread, attr, _masked(fn))


_wrap_thread_starts()

# What the stop sequence and the request threads use, checked once so that a
# Python without them says so in the log.
_threading_atexits = _internal(
    threading,
    "_threading_atexits",
    "concurrent.futures executors are not woken before the stop sequence waits for " "their threads",
)
_internal(
    threading, "_active", "states of httpd threads that exit are deleted without forgetting their " "threading entries"
)
_DummyThread = _internal(threading, "_DummyThread", "httpd threads are not told apart from the app's threads") or ()
_current_frames = _internal(sys, "_current_frames", "stuck threads are logged without their stacks")
_run_exitfuncs = _internal(atexit, "_run_exitfuncs", "atexit handlers do not run when a child stops")


def _app_threads(include_daemon=False):
    """Threads the app started (not this one, not httpd's threads that ran
    Python); the stop sequence waits only for the non-daemon ones, the
    PyEnableThreads Off warning names them all."""
    me = threading.current_thread()
    return [
        t
        for t in threading.enumerate()
        if t is not me
        and (include_daemon or not t.daemon)
        and t.is_alive()
        and t is not threading.main_thread()
        and not isinstance(t, _DummyThread)
    ]


def _run_threading_atexits(deadline):
    """What threading._shutdown does before it joins threads, in its order:
    hooks registered with threading._register_atexit, last first. That is
    how concurrent.futures wakes the idle workers of its executors. They run
    on a thread of their own so that the deadline holds even if one blocks
    (an executor waits for its running tasks)."""
    import time

    if hasattr(threading, "_SHUTTING_DOWN"):
        threading._SHUTTING_DOWN = True
    calls = list(reversed(_threading_atexits or ()))
    if not calls:
        return

    def run():
        for call in calls:
            try:
                call()
            except BaseException:
                _log_exception(3, "PM00043: a threading atexit hook %r raised:" % (call,))

    runner = threading.Thread(target=run, name="pympm-threading-atexit", daemon=True)
    runner.start()
    runner.join(max(0.0, deadline - time.monotonic()))


def _log_exception(level, head):
    _pympm.log(level, head)
    for line in traceback.format_exc().rstrip("\n").split("\n"):
        _pympm.log(level, head.split(":", 1)[0] + ":   " + line)


def _shutdown(timeout):
    """Steps 1-4 of the child's stop sequence; returns the names of threads
    still running (the caller skips finalisation if there are any)."""
    import time

    # One deadline for the whole sequence, as the stop watchdog has one: slow
    # async on_stop callbacks leave less time for the steps after them.
    deadline = time.monotonic() + timeout
    _signal_stopping(deadline)
    _asgi_shutdown(deadline, timeout)
    _run_threading_atexits(deadline)
    for t in _app_threads():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        t.join(remaining)
    stuck = _app_threads()
    if stuck:
        frames = _current_frames() if _current_frames else {}
        for t in stuck:
            _pympm.log(
                4,
                "PM00042: thread %r (ident %s) still running after PyShutdownTimeout %gs; its stack:"
                % (t.name, t.ident, timeout),
            )
            frame = frames.get(t.ident)
            if frame is not None:
                for line in "".join(traceback.format_stack(frame)).rstrip("\n").split("\n"):
                    _pympm.log(4, "PM00042:   " + line)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        if _run_exitfuncs:
            _run_exitfuncs()
    except BaseException:
        pass
    return [t.name for t in stuck]


# --------------------------------------------------------------------- ASGI
# One asyncio event loop per child, on a thread of its own, started when the
# child has an ASGI app. httpd's request threads own the connections: a
# request schedules its app on the loop and then reads and writes for it
# (mpm_bridge/asgi_request.cpp). asyncio is imported only by children that
# need it (it costs every child a few MiB).

_asgi_loop = None
_asgi_thread = None
_asgi_tasks = set()  # requests' app tasks (they may run on after their response)
_on_stop_tasks = set()  # async on_stop callbacks running on a loop
_asgi_lifespans = []
_stopping_waiters = []  # (loop, future) of wait_stopping() callers


_asgi_loop_choice = "auto"  # PyAsyncioLoop, set by the module


def _asgi_new_loop():
    """The event loop PyAsyncioLoop asks for: uvloop's (auto: when it can be
    imported, as uvicorn does), else asyncio's. Returns (loop, name)."""
    import asyncio

    if _asgi_loop_choice in ("auto", "uvloop"):
        try:
            import uvloop

            return uvloop.new_event_loop(), "uvloop " + getattr(uvloop, "__version__", "?")
        except ImportError as exc:
            if _asgi_loop_choice == "uvloop":
                _pympm.log(
                    3,
                    "PM00077: PyAsyncioLoop uvloop, but uvloop cannot be imported (%s; on Debian: "
                    "apt install python3-uvloop); ASGI apps run on asyncio's loop" % (exc,),
                )
    return asyncio.new_event_loop(), "asyncio"


def _asgi_start_loop():
    global _asgi_loop, _asgi_thread
    if _asgi_loop is not None:
        return _asgi_loop
    import asyncio

    loop, name = _asgi_new_loop()
    _child_info["asyncio_loop"] = name
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run, name="pympm-asgi-loop", daemon=True)
    thread.start()
    ready.wait()
    _asgi_loop, _asgi_thread = loop, thread
    return loop


class _AsgiCalls:
    """The receive and send an app gets: awaitables over the native channel
    (a message that needs no I/O completes at once)."""

    __slots__ = ("native",)

    def __init__(self, native):
        self.native = native

    async def receive(self):
        got = self.native.receive()
        return got if type(got) is dict else await got

    async def send(self, message):
        pending = self.native.send(message)
        if pending is not None:
            await pending


async def _asgi_serve(app, scope, native):
    calls = _AsgiCalls(native)
    try:
        await app(scope, calls.receive, calls.send)
    except BaseException as exc:  # reported to the request; never re-raised into asyncio
        if not native.done(exc):
            # The request ended with its response; the app went on (a
            # background task) and raised: nobody else will say so.
            _log_exception(
                3,
                "PM00120: the ASGI app at %s raised after its response to %s %s was complete:"
                % (scope.get("root_path") or "/", scope.get("method"), scope.get("path")),
            )
    else:
        native.done(None)


def _asgi_begin(app, scope, native):
    """On the loop: runs one request's app as a task (kept referenced, as
    asyncio holds tasks only weakly)."""
    task = _asgi_loop.create_task(_asgi_serve(app, scope, native))
    _asgi_tasks.add(task)
    task.add_done_callback(_asgi_tasks.discard)
    native.task = task


def _asgi_resolve(future, value):
    if not future.done():
        future.set_result(value)


def _asgi_reject(future, exc):
    if not future.done():
        future.set_exception(exc)


def _asgi_task_stack(task):
    """A request task's stack as text, innermost last (for timeouts). A task
    running on the loop now (one that does not await) is shown with the loop
    thread's stack; a suspended one by its chain of awaits."""
    coro = task.get_coro()
    frames = []
    if getattr(coro, "cr_running", False) and _asgi_thread is not None:
        # From the innermost frame out to the task's own (not the loop's).
        frame = sys._current_frames().get(_asgi_thread.ident)
        while frame is not None:
            frames.append((frame, frame.f_lineno))
            if frame is coro.cr_frame:
                break
            frame = frame.f_back
        frames.reverse()
        coro = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append((frame, frame.f_lineno))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if not frames:
        return None
    return "".join(traceback.StackSummary.extract(frames).format()).rstrip("\n")


class _Lifespan:
    """The lifespan protocol of one ASGI app (ASGI lifespan 2.0)."""

    def __init__(self, app, name):
        import concurrent.futures

        self.app = app
        self.name = name
        self.state = {}
        self.startup = concurrent.futures.Future()
        self.shutdown = concurrent.futures.Future()
        self.queue = None
        self.supported = True

    async def main(self):
        import asyncio

        self.queue = asyncio.Queue()
        self.queue.put_nowait({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            if not self.startup.done():
                # Apps that do not support lifespan raise on its scope: that
                # is how they say so (the spec), and they are fine.
                self.supported = False
                self.startup.set_result(("unsupported", "%s: %s" % (type(exc).__name__, exc)))
            elif not self.shutdown.done():
                self.shutdown.set_result(
                    ("failed", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
                )
        finally:
            for fut in (self.startup, self.shutdown):
                if not fut.done():
                    fut.set_result(("ended", "the app returned from its lifespan"))

    async def receive(self):
        return await self.queue.get()

    async def send(self, message):
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            self.startup.set_result(("complete", ""))
        elif kind == "lifespan.startup.failed":
            self.startup.set_result(("failed", message.get("message", "")))
        elif kind == "lifespan.shutdown.complete":
            self.shutdown.set_result(("complete", ""))
        elif kind == "lifespan.shutdown.failed":
            self.shutdown.set_result(("failed", message.get("message", "")))
        else:
            raise ValueError("unexpected lifespan message %r" % (kind,))


def _asgi_lifespan_startup(app, name):
    """In child_init: runs the app's lifespan startup; returns (outcome,
    detail, state) with outcome complete, failed, unsupported or ended."""
    import asyncio

    loop = _asgi_start_loop()
    lifespan = _Lifespan(app, name)
    asyncio.run_coroutine_threadsafe(lifespan.main(), loop)
    outcome, detail = lifespan.startup.result()
    if outcome == "complete":
        _asgi_lifespans.append(lifespan)
    return outcome, detail, lifespan.state


async def _asgi_drain(deadline):
    """On the loop: waits until the requests' app tasks (work after their
    response) and async on_stop callbacks are done, or the deadline; returns
    those still running. Tasks started meanwhile (a callback registered by
    a task that ends) are waited for too."""
    import asyncio
    import time

    loop = asyncio.get_running_loop()
    while True:
        running = [t for t in _asgi_tasks | _on_stop_tasks if not t.done() and t.get_loop() is loop]
        remaining = deadline - time.monotonic()
        if not running or remaining <= 0:
            return running
        await asyncio.wait(running, timeout=remaining)


def _asgi_task_label(task):
    """What a task runs, for the log: a request's app or an on_stop callback."""
    frame = getattr(task.get_coro(), "cr_frame", None)
    names = frame.f_locals if frame is not None else {}
    scope = names.get("scope")
    if isinstance(scope, dict) and "path" in scope:
        return "the ASGI app's task for %s %s (after its response)" % (scope.get("method"), scope.get("path"))
    if "fn" in names:
        return "the pympm.on_stop callback %r" % (names["fn"],)
    return "the ASGI task %s" % (task.get_name(),)


def _asgi_shutdown(deadline, timeout):
    """Step of the stop sequence: waits for the app's request tasks and async
    on_stop callbacks, then lifespan.shutdown for each app whose startup
    completed, within the deadline; then the loop stops. Never runs on the
    loop's thread (it waits for the loop)."""
    import asyncio
    import concurrent.futures
    import time

    loop = _asgi_loop
    if loop is None:
        return
    if loop.is_running() and threading.current_thread() is not _asgi_thread:
        try:
            running = asyncio.run_coroutine_threadsafe(_asgi_drain(deadline), loop).result(
                max(0.0, deadline - time.monotonic())
            )
        except concurrent.futures.TimeoutError:
            # The deadline, or a loop blocked by a coroutine that never
            # awaits: what runs is read from here (set() copies with the GIL).
            running = [t for t in set(_asgi_tasks) | set(_on_stop_tasks) if not t.done()]
        for task in running:
            _pympm.log(
                4,
                "PM00121: %s still running after PyShutdownTimeout %gs; the loop stops without it; "
                "its stack:" % (_asgi_task_label(task), timeout),
            )
            for line in (_asgi_task_stack(task) or "(none)").split("\n"):
                _pympm.log(4, "PM00121:   " + line)
    for lifespan in _asgi_lifespans:
        loop.call_soon_threadsafe(lifespan.queue.put_nowait, {"type": "lifespan.shutdown"})
    for lifespan in _asgi_lifespans:
        try:
            outcome, detail = lifespan.shutdown.result(max(0.0, deadline - time.monotonic()))
        except Exception:
            outcome, detail = "timeout", "not finished within PyShutdownTimeout"
        if outcome == "complete":
            _pympm.log(6, "PM00074: lifespan shutdown of %s complete" % lifespan.name)
        else:
            _pympm.log(3, "PM00075: lifespan shutdown of %s %s: %s" % (lifespan.name, outcome, detail.rstrip()))
    loop.call_soon_threadsafe(loop.stop)
    _asgi_thread.join(max(0.0, deadline - time.monotonic()))
    if not _asgi_thread.is_alive():
        loop.close()


async def wait_stopping():
    """Returns once this child is told to stop: pympm.stopping for async
    code (`await pympm.wait_stopping()`)."""
    if stopping.is_set():
        return
    import asyncio

    loop = asyncio.get_running_loop()
    future = loop.create_future()
    with _on_stop_lock:
        if not _stop_signalled:
            _stopping_waiters.append((loop, future))
        else:
            return
    await future


def _wake_async_waiters():
    with _on_stop_lock:
        waiters = list(_stopping_waiters)
        _stopping_waiters.clear()
    for loop, future in waiters:
        try:
            loop.call_soon_threadsafe(_asgi_resolve, future, None)
        except RuntimeError:
            pass  # its loop is closed


def _is_coroutine_function(fn):
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return code is not None and bool(code.co_flags & 0x80)  # CO_COROUTINE


async def _stop_callback(fn):
    """An async on_stop callback as a task: its exceptions are logged as
    those of the others are."""
    import asyncio

    task = asyncio.current_task()
    _on_stop_tasks.add(task)
    try:
        await fn()
    except asyncio.CancelledError:
        raise
    except BaseException:
        _log_exception(3, "PM00041: pympm.on_stop callback %r raised:" % (fn,))
    finally:
        _on_stop_tasks.discard(task)


def _run_async_callback(fn, deadline):
    """An `async def` on_stop callback. Called from a coroutine (the thread
    runs an event loop), it becomes a task on that loop: waiting for it there
    would stop the very loop that must run it. Otherwise it runs on the ASGI
    loop, waited for until `deadline`, when the child has one; else in a
    loop of its own."""
    import asyncio
    import concurrent.futures
    import time

    running = asyncio._get_running_loop()
    if running is not None:
        task = running.create_task(_stop_callback(fn))
        _on_stop_tasks.add(task)  # referenced until it ends (asyncio keeps tasks weakly)
        task.add_done_callback(_on_stop_tasks.discard)
        return
    loop = _asgi_loop
    if loop is not None and loop.is_running():
        if deadline is None:
            deadline = time.monotonic() + _stop_timeout
        future = asyncio.run_coroutine_threadsafe(_stop_callback(fn), loop)
        try:
            future.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            # It goes on on the loop; the stop sequence waits for it with the
            # app's tasks.
            _pympm.log(
                4,
                "PM00122: pympm.on_stop callback %r still running after PyShutdownTimeout %gs; "
                "not waiting for it here" % (fn, _stop_timeout),
            )
    else:
        asyncio.run(fn())


def _asgi_problem(app):
    """Why `app` cannot be an ASGI 3 app, or None."""
    if not callable(app):
        return "%r is not callable" % (app,)
    if _is_coroutine_function(app) or _is_coroutine_function(getattr(type(app), "__call__", None)):
        return None
    import inspect

    try:
        inspect.signature(app).bind(None, None, None)
    except TypeError:
        try:
            inspect.signature(app).bind(None, None)
            return (
                "%r takes 2 arguments, like a WSGI app: mount it without asgi (an ASGI 3 app is called as "
                "app(scope, receive, send) and is async)" % (app,)
            )
        except TypeError:
            return "%r cannot be called as app(scope, receive, send) (ASGI 3)" % (app,)
    except ValueError:
        pass  # no signature to inspect (a builtin): trust the configuration
    return None


def _starlette_path_without_mount():
    """Starlette before 0.35 routes on scope["path"] without root_path
    (Debian 12 ships 0.26); later versions, and the ASGI spec, have the
    mount in both."""
    starlette = sys.modules.get("starlette")
    version = getattr(starlette, "__version__", "") if starlette else ""
    if not version:
        return False
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return bool(parts) and tuple(parts) < (0, 35)


def _asgi_prepare(app, name):
    """Once an ASGI app is imported: checks that it is one, starts the loop
    and runs its lifespan startup. Returns (problem, path_without_mount,
    lifespan outcome, detail, state)."""
    problem = _asgi_problem(app)
    if problem:
        return problem, False, "", "", None
    outcome, detail, state = _asgi_lifespan_startup(app, name)
    return None, _starlette_path_without_mount(), outcome, detail, state
