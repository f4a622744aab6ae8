# The ASGI half of the `pympm` module, executed the first time the child
# needs it (mpm_bridge/python/pympm_bootstrap.py, _load_asgi): when it
# imports an ASGI app, or when an app awaits pympm.wait_stopping() or
# registers an `async def` with pympm.on_stop. A WSGI-only child never runs
# it, and never imports asyncio (it costs every child a few MiB).
#
# One asyncio event loop per child, on a thread of its own, started when the
# child has an ASGI app. httpd's request threads own the connections: a
# request schedules its app on the loop and then reads and writes for it
# (mpm_bridge/asgi/asgi_request.cpp).
import sys
import threading
from functools import partial as _functools_partial

import _pympm

# The core module; state it rebinds (_stop_signalled, the settings the module
# sets) is read through it, at the time of use.
import pympm as _core
from pympm import _asgi_request_channel, _child_info, _is_coroutine_function, _log_exception, _on_stop_lock

traceback = _core.traceback  # the core's lazy import

_asgi_loop = None
_asgi_thread = None
_asgi_tasks = set()  # requests' app tasks (they may run on after their response)
_on_stop_tasks = set()  # async on_stop callbacks running on a loop
_asgi_lifespans = []
_stopping_waiters = []  # (loop, future) of wait_stopping() callers


def _asgi_new_loop():
    """The event loop PyAsyncioLoop asks for: uvloop's (auto: when it can be
    imported, as uvicorn does), else asyncio's. Returns (loop, name)."""
    import asyncio

    if _core._asgi_loop_choice in ("auto", "uvloop"):
        try:
            import uvloop

            return uvloop.new_event_loop(), "uvloop " + getattr(uvloop, "__version__", "?")
        except ImportError as exc:
            if _core._asgi_loop_choice == "uvloop":
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
        # On the loop's thread, before any request: eager start's self-test
        # steps a coroutine as a request's would be.
        loop.call_soon(_asgi_choose_start, loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run, name="pympm-asgi-loop", daemon=True)
    thread.start()
    ready.wait()
    _asgi_loop, _asgi_thread = loop, thread
    return loop


async def _asgi_serve(app, scope, native, prepared):
    # The task is known to the request (timeouts cancel it, and log its
    # stack) from the first line the app runs, eager or not. The task runs
    # in a context of its own: its print()s go to its request. `prepared`:
    # the loop did both before this first step (asgi_loop.cpp,
    # begin_asgi_app).
    if not prepared:
        native.task = _current_task()
        _asgi_request_channel.set(native)
    try:
        # receive() and send() return awaitables of the channel's
        # (asgi/asgi_awaitable.h): one that needs no I/O completes at once.
        await app(scope, native.app_receive, native.app_send)
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


_current_task = None  # asyncio.current_task, once the loop starts
_asgi_start = None  # coroutine -> task: eager (PyAsgiEagerStart On) or loop.create_task


def _asgi_eager_starter(loop):
    """A function that makes a request's coroutine a task and runs its first
    step at once, on this thread (the loop's, in a callback of its own, as a
    task's step would be): a task that finishes there is never scheduled.
    None when this Python cannot do it.

    3.12+: asyncio's own eager start. 3.11: an asyncio.Task as any, whose
    first step is taken from it instead of scheduled, in C
    (mpm_bridge/python/eager_task.h): while the Task is made, the loop's
    call_soon (looked up on the loop by the Task, for its first step only)
    is one that keeps the step. The task is the same asyncio.Task object
    from its first line on (asyncio.current_task(), anyio's cancel scopes),
    in a copy of the context, as a scheduled task would be. While the loop
    has a task factory (or, on 3.11, a call_soon of the app's), the task is
    made by loop.create_task instead, scheduled."""
    import asyncio

    if sys.version_info >= (3, 12):
        Task = asyncio.Task
        task_factory = loop.get_task_factory
        create_task = loop.create_task

        def start_312(coro):
            # A task factory the app set (at any time: lifespan startup)
            # makes its tasks, scheduled, as with PyAsgiEagerStart Off.
            if task_factory() is None:
                return Task(coro, loop=loop, eager_start=True)
            return create_task(coro)

        return start_312
    return _pympm.eager_task_starter(loop)


def _asgi_eager_self_test(start, loop):
    """Whether `start` steps a coroutine at once, as a task: the same task
    before and after its first suspension, in a context of its own."""
    import asyncio
    import contextvars

    seen = {}
    var = contextvars.ContextVar("pympm_eager_self_test", default="outside")
    gate = loop.create_future()

    async def probe():
        seen["first"] = asyncio.current_task()
        var.set("inside")
        await gate
        seen["later"] = asyncio.current_task()

    task = start(probe())
    ok = seen.get("first") is task and not task.done() and var.get() == "outside" and isinstance(task, asyncio.Task)
    # Its end (a later step, scheduled as any) is checked by nobody: the
    # first step is what eager start changes.
    gate.set_result(None)
    return ok


def _asgi_choose_start(loop):
    """On the loop's thread, before its first request: how requests' tasks
    start (PyAsgiEagerStart)."""
    global _asgi_start, _current_task
    import asyncio

    _current_task = asyncio.current_task
    _asgi_start = loop.create_task
    _child_info["asgi_eager_start"] = False
    if not _core._asgi_eager_start:
        return
    why = None
    try:
        start = _asgi_eager_starter(loop)
        if start is None:
            why = "the event loop %s takes no attribute" % (type(loop).__name__,)
        elif not _asgi_eager_self_test(start, loop):
            why = "its self-test failed"
    except Exception as exc:
        why = "its self-test raised %s: %s" % (type(exc).__name__, exc)
    if why:
        _pympm.log(
            4,
            "PM00210: PyAsgiEagerStart On, but Python %d.%d cannot start tasks eagerly here (%s); "
            "each ASGI request runs as a scheduled task (PyAsgiEagerStart Off)" % (sys.version_info[:2] + (why,)),
        )
        return
    _asgi_start = start
    _child_info["asgi_eager_start"] = True


def _asgi_task_ended(native, task):
    """A request's task that was scheduled (it suspended, or was not started
    eagerly) ended."""
    _asgi_tasks.discard(task)
    if task.cancelled():
        # Cancelled before its first step: _asgi_serve never ran to tell the
        # request, which would learn of it only when the channel dies (a 503
        # as if the loop had stopped).
        try:
            task.result()
        except BaseException as exc:
            native.done(exc)


def _asgi_track(task, native):
    """A request's task that did not finish in its first step, or was not
    started (PyAsgiEagerStart Off): kept referenced (asyncio holds tasks only
    weakly) until it ends, and the stop sequence waits for it. The loop
    (asgi/asgi_loop.cpp, StartWork) starts each request's task with
    _asgi_start(_asgi_serve(app, scope, native, prepared)) and calls this if it
    is not done."""
    # Scheduled, not started (PyAsgiEagerStart Off): a timeout before its
    # first step finds it too.
    native.task = task
    _asgi_tasks.add(task)
    task.add_done_callback(_functools_partial(_asgi_task_ended, native))


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
    completed, within the deadline; then the loop stops. Returns the loop's
    thread if it still runs at the deadline, else None. Never runs on the
    loop's thread (it waits for the loop)."""
    import asyncio
    import concurrent.futures
    import time

    loop = _asgi_loop
    if loop is None:
        return None
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
    if _asgi_thread.is_alive():
        # Still in Python (a task or lifespan.shutdown that outlived the
        # deadline, or just leaving run_forever): finalising now would free
        # what it runs on.
        return _asgi_thread
    loop.close()
    return None


async def wait_stopping():
    """Returns once this child is told to stop: pympm.stopping for async
    code (`await pympm.wait_stopping()`)."""
    if _core.stopping.is_set():
        return
    import asyncio

    loop = asyncio.get_running_loop()
    future = loop.create_future()
    with _on_stop_lock:
        if not _core._stop_signalled:
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
            deadline = time.monotonic() + _core._stop_timeout
        future = asyncio.run_coroutine_threadsafe(_stop_callback(fn), loop)
        try:
            future.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            # It goes on on the loop; the stop sequence waits for it with the
            # app's tasks.
            _pympm.log(
                4,
                "PM00122: pympm.on_stop callback %r still running after PyShutdownTimeout %gs; "
                "not waiting for it here" % (fn, _core._stop_timeout),
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
