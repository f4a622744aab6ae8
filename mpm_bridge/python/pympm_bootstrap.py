# The Python half of the `pympm` module, executed once per child right after
# the interpreter starts. Cold paths only (loading apps, logging streams,
# shutdown); the per-request path is C++. What only ASGI needs (the event
# loop, lifespan, async stop support) is mpm_bridge/asgi/pympm_asgi.py,
# loaded by _load_asgi() the first time it is needed.
import atexit
import contextvars
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
_asgi_loop_choice = "auto"  # PyAsyncioLoop, set by the module (read by the ASGI part)
_asgi_eager_start = True  # PyAsgiEagerStart, set by the module (read by the ASGI part)
_asgi_part = None  # the ASGI part once loaded (_load_asgi)
_asgi_part_lock = threading.Lock()


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


# The channel of the ASGI request whose task runs (set by pympm's ASGI part
# in each request's task): what the task writes goes to that request's log.
_asgi_request_channel = contextvars.ContextVar("pympm_asgi_request", default=None)


def _log_line(level, line):
    channel = _asgi_request_channel.get()
    # A WebSocket's channel has no request log of its own: its lines go to
    # the child's log.
    log = getattr(channel, "log", None)
    if log is None or not log(level, line):
        _pympm.log(level, line)


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
            _log_line(self._level, b"PM00040: " + line)
        return len(data)

    def flush(self):
        with self._lock:
            data, self._pending = self._pending, b""
        if data:
            _log_line(self._level, b"PM00040: " + data)

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
    if _is_coroutine_function(app):
        return "%r is an async function, as an ASGI app is" % (app,)
    if not isinstance(app, type) and _is_coroutine_function(getattr(type(app), "__call__", None)):
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
            _load_asgi()._run_async_callback(fn, deadline)
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
    # Waiters registered before _stop_signalled was set, so the part is loaded.
    if _asgi_part is not None:
        _asgi_part._wake_async_waiters()
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
    loop_thread = _asgi_part._asgi_shutdown(deadline, timeout) if _asgi_part is not None else None
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
    # The ASGI loop's thread is a daemon, but one still running must not
    # meet finalisation either (PM00121 said why).
    return [t.name for t in stuck] + ([loop_thread.name] if loop_thread is not None else [])


def _is_coroutine_function(fn):
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return code is not None and bool(code.co_flags & 0x80)  # CO_COROUTINE


def _load_asgi():
    """The ASGI part of pympm (mpm_bridge/asgi/pympm_asgi.py, module
    _pympm_asgi), executed on the first call: when the child imports an ASGI
    app, or an app first uses something that needs asyncio."""
    global _asgi_part
    part = _asgi_part
    if part is None:
        with _asgi_part_lock:
            if _asgi_part is None:
                _asgi_part = _pympm.exec_asgi()
            part = _asgi_part
    return part


async def wait_stopping():
    """Returns once this child is told to stop: pympm.stopping for async
    code (`await pympm.wait_stopping()`)."""
    if stopping.is_set():
        return
    await _load_asgi().wait_stopping()
