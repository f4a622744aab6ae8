"""A raw ASGI 3 app for the ASGI tests (tests/e2e/test_asgi.cpp, issue 14):
the HTTP events of the spec (bodies in chunks, streaming, disconnects), the
scope, lifespan with state, concurrency through asyncio, and errors."""
import asyncio
import contextvars
import hashlib
import inspect
import json
import os
import time

import pympm

DISCONNECTS = []
AFTER_BODY = []  # tags of /sleep_after_body requests whose sleep ended
BACKGROUND = []  # strong references to the app's background tasks
REQUEST_TAG = contextvars.ContextVar("request_tag", default=None)
MARKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "markers")


async def text(send, body, status=200, ctype=b"text/plain"):
    data = body.encode() if isinstance(body, str) else body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def read_body(receive):
    parts, events = [], 0
    while True:
        message = await receive()
        events += 1
        if message["type"] == "http.disconnect":
            return None, events
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), events


async def tick():
    """A background task on the child's loop: it advances between requests
    (the loop thread runs whenever no request holds the GIL)."""
    count = 0
    while True:
        count += 1
        try:
            with open(os.path.join(MARKERS, "ticks-%d" % os.getpid()), "w") as f:
                f.write("%d\n" % count)
        except OSError:
            pass
        await asyncio.sleep(0.05)


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started_by"] = os.getpid()
            BACKGROUND.append(asyncio.get_running_loop().create_task(tick()))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                with open(os.path.join(MARKERS, "shutdown-%d" % os.getpid()), "w") as f:
                    f.write("stopping=%s\n" % pympm.stopping.is_set())
            except OSError:
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return


def _mark(name):
    """An empty file markers/NAME-PID, when the test made the folder."""
    try:
        with open(os.path.join(MARKERS, "%s-%d" % (name, os.getpid())), "w"):
            pass
    except OSError:
        pass


def _late_on_stop_callback(tag):
    async def late_on_stop():
        await asyncio.sleep(0)  # a real coroutine: it runs on the loop
        print("late on_stop callback %s ran in %d" % (tag, os.getpid()), flush=True)
        with open(os.path.join(MARKERS, "late-on-stop-%s-%d" % (tag, os.getpid())), "w") as f:
            f.write("stopping=%s\n" % pympm.stopping.is_set())

    return late_on_stop


async def task_semantics(send, tag):
    """What an app sees of its task before and after its first suspension:
    one asyncio.Task, its own context, and what anyio (FastAPI, Starlette)
    needs of it."""
    import anyio
    import sniffio

    first = asyncio.current_task()
    tag_before = REQUEST_TAG.get()
    REQUEST_TAG.set(tag)
    library = sniffio.current_async_library()
    # A cancel scope opened before the first await and closed after it
    # (anyio keys it by the current task, and refuses a change of task).
    with anyio.CancelScope():
        await asyncio.sleep(0)
    later = asyncio.current_task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(asyncio.sleep, 0)
    in_thread = await anyio.to_thread.run_sync(lambda: 42)
    shown = {
        "same_task": first is later and first is not None,
        "is_asyncio_task": isinstance(first, asyncio.Task),
        "listed": first in asyncio.all_tasks(),
        "tag_before": tag_before,
        "tag_after": REQUEST_TAG.get(),
        "library": library,
        "in_thread": in_thread,
    }
    return await text(send, json.dumps(shown), ctype=b"application/json")


async def cancel_unstarted(limit):
    """Waits (yielding to the loop) for the task of a request to /victim and
    cancels it if its coroutine has not run its first step yet: what the
    first step of a request started eagerly can never meet."""
    deadline = time.monotonic() + limit
    me = asyncio.current_task()
    while time.monotonic() < deadline:
        for task in asyncio.all_tasks():
            frame = getattr(task.get_coro(), "cr_frame", None)
            scope = frame.f_locals.get("scope") if task is not me and frame is not None else None
            if isinstance(scope, dict) and scope.get("path", "").endswith("/victim"):
                if inspect.getcoroutinestate(task.get_coro()) == inspect.CORO_CREATED:
                    task.cancel()
                    return "cancelled before its first step"
                return "found it started"
        await asyncio.sleep(0)
    return "no victim"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    assert scope["type"] == "http"
    path = scope["path"][len(scope["root_path"]) :] if scope["path"].startswith(scope["root_path"]) else scope["path"]
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    if path == "/hello":
        return await text(send, "hello from %d\n" % os.getpid())
    if path == "/scope":
        shown = {k: v for k, v in scope.items() if k not in ("headers", "raw_path", "query_string", "state")}
        shown["raw_path"] = scope["raw_path"].decode("latin-1")
        shown["query_string"] = scope["query_string"].decode("latin-1")
        shown["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        shown["state"] = scope.get("state")
        return await text(send, json.dumps(shown), ctype=b"application/json")
    if path == "/one_byte_objects" or (path == "/" and scope["query_string"] == b"q"):
        # CPython shares one object per 1-byte bytes value: the byte values
        # they no longer hold, after this request's scope was built. Also
        # the header names as the scope gives them, and which of the
        # scope's bytes are CPython's shared object for their value (a
        # fresh 1-byte slice of the same value is that object). At a root
        # mount, /?q gives a 1-byte raw_path.
        wrong = [c for c in range(256) if bytes([c])[0] != c]
        names = [n.decode("latin-1") for n, _ in scope["headers"]]
        named = [("raw_path", scope["raw_path"]), ("query_string", scope["query_string"])]
        for n, v in scope["headers"]:
            named += [("name " + n.decode("latin-1"), n), ("value of " + n.decode("latin-1"), v)]
        shown = {
            "wrong": wrong,
            "shared": [k for k, b in named if len(b) == 1 and (b + b"?")[:1] is b],
            "bytes_88": bytes([88]).decode("latin-1"),
            "names": names,
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query_string": scope["query_string"].decode("latin-1"),
        }
        return await text(send, json.dumps(shown), ctype=b"application/json")
    if path == "/echo":
        body, events = await read_body(receive)
        if body is None:
            return
        return await text(send, "%d %s %d\n" % (len(body), hashlib.md5(body).hexdigest(), events))
    if path == "/stream_echo":
        # Each piece of the body back as it arrives: the response is under
        # way while the body is read.
        begun = False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the response ends here
            if not begun:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream")],
                    }
                )
                begun = True
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": more})
            if not more:
                return
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(int(query.get("n", "3"))):
            await send({"type": "http.response.body", "body": b"chunk %d\n" % i, "more_body": True})
            await asyncio.sleep(float(query.get("pause", "0.3")))
        await send({"type": "http.response.body", "body": b"end\n"})
        return
    if path == "/wait_disconnect":
        # The body, then receive() again: it answers when the client goes.
        await read_body(receive)
        t0 = time.monotonic()
        message = await receive()
        DISCONNECTS.append((message["type"], round(time.monotonic() - t0, 2)))
        # What the app received is its own: the next request's must not
        # show this.
        message["type"] = "changed by an earlier request"
        return
    if path == "/change_scope_asgi":
        # The same for the scope: shown as it came, then changed.
        shown = dict(scope["asgi"])
        scope["asgi"]["version"] = "changed by an earlier request"
        return await text(send, json.dumps(shown), ctype=b"application/json")
    if path == "/disconnects":
        return await text(send, json.dumps(DISCONNECTS), ctype=b"application/json")
    if path == "/sleep":
        await asyncio.sleep(float(query.get("s", "0.5")))
        return await text(send, "slept in %d\n" % os.getpid())
    if path == "/error":
        # An ErrorDocument target: httpd keeps the error's status.
        return await text(send, "asgi error page at %s\n" % scope["path"], ctype=b"text/html")
    if path == "/ssi":
        # Under mod_include: each include is a subrequest into this app, run
        # on the thread that is sending this response.
        n = int(query.get("n", "2"))
        html = "<p>outer</p>\n" + "".join(
            '<!--#include virtual="%s/inner?i=%d" -->\n' % (scope["root_path"], i) for i in range(n)
        )
        return await text(send, html, ctype=b"text/html")
    if path == "/ssi_then_sleep":
        # An include (a nested request on this request's thread), then a
        # wait that only PyRequestTimeout ends.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send(
            {
                "type": "http.response.body",
                "more_body": True,
                "body": b'<p>outer</p>\n<!--#include virtual="%s/inner?i=0" -->\n' % scope["root_path"].encode(),
            }
        )
        await asyncio.sleep(60)
        await send({"type": "http.response.body", "body": b"<p>never</p>\n"})
        return
    if path == "/inner":
        return await text(send, "<p>inner %s pid %d</p>" % (query.get("i", "?"), os.getpid()), ctype=b"text/html")
    if path == "/spin":
        # Never awaits: cancelling the task cannot stop it, and the loop
        # (every ASGI request of the child) is blocked (PyRequestTimeout test).
        print("spin begins")
        # One line: Python versions differ in which line of a loop a frame
        # is on.
        while True:
            pass  # noqa: E701
    if path == "/block":
        print("block begins")
        time.sleep(600)  # blocks the loop in C
    if path == "/raise":
        raise RuntimeError("raised on purpose")
    if path == "/raise_after_start":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("raised after the start")
    if path == "/no_response":
        return
    if path == "/bad_header":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-bad", b"a\r\nb")]})
        return
    if path == "/bad_more_body":
        # bool(more_body) raises: send() raises it to the app (issue: it
        # was ignored, and left set while send() returned).
        class Bad:
            __bool__ = lambda s: 1 / 0  # noqa: E731

        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        try:
            await send({"type": "http.response.body", "body": b"part", "more_body": Bad()})
        except Exception as e:
            await send({"type": "http.response.body", "body": type(e).__name__.encode()})
            return
        await send({"type": "http.response.body", "body": b"-not raised"})
        return
    if path == "/str_header":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-str", "not bytes")]})
        return
    if path == "/info":
        info = pympm.child_info()
        return await text(
            send,
            json.dumps(
                {
                    "asyncio_loop": info.get("asyncio_loop"),
                    "running_loop": type(asyncio.get_running_loop()).__module__,
                    "thread_states": info.get("thread_states"),
                    "asgi_eager_start": info.get("asgi_eager_start"),
                }
            ),
            ctype=b"application/json",
        )
    if path == "/last_part_then_hold":
        # The whole response, then, in the same step (no await), the loop
        # blocked until the file `flag` exists.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"sent before the hold\n"})
        while not os.path.exists(query["flag"]):
            time.sleep(0.01)
        return
    if path == "/hold_loop":
        # Blocks the loop (every ASGI request of the child) without awaiting
        # until the file `flag` exists; the GIL is free meanwhile.
        while not os.path.exists(query["flag"]):
            time.sleep(0.01)
        return await text(send, "loop released\n")
    if path == "/task_semantics":
        return await task_semantics(send, query.get("tag", "?"))
    if path == "/cancel_self":
        # cancel() before the first await (in an eager start, during the
        # first step): CancelledError at that await, as in any task.
        task = asyncio.current_task()
        task.cancel()
        try:
            await asyncio.sleep(0)
            outcome = "not cancelled"
        except asyncio.CancelledError:
            if hasattr(task, "uncancel"):  # 3.11+: its cancel count
                task.uncancel()
            outcome = "cancelled at the first await"
        return await text(send, outcome + "\n")
    if path == "/first_step_blocks":
        # The first step holds the loop (the GIL is free), then the app
        # waits: PyRequestTimeout's cancel lands at that first await.
        time.sleep(float(query.get("s", "2")))
        await asyncio.sleep(60)
        return await text(send, "never cancelled\n")
    if path == "/cancel_unstarted":
        return await text(send, await cancel_unstarted(float(query.get("s", "20"))) + "\n")
    if path == "/victim":
        await asyncio.sleep(0.2)
        return await text(send, "victim answered\n")
    if path == "/stopping":
        return await text(send, "stopping=%s\n" % pympm.stopping.is_set())
    if path == "/sleep_after_body":
        # The whole response, then the app goes on (a "send the mail after
        # answering" endpoint): the client must not wait for the sleep.
        await text(send, "answered before the sleep\n")
        await asyncio.sleep(float(query.get("s", "4")))
        AFTER_BODY.append(query.get("tag", "?"))
        _mark("after-body-%s" % query.get("tag", "?"))
        if query.get("then") == "raise":
            raise RuntimeError("raised after the response was complete")
        if query.get("then") == "probe":
            # The request ended long ago: receive() says so, send() refuses.
            got = (await receive())["type"]
            try:
                await send({"type": "http.response.body", "body": b"late"})
                sent = "sent"
            except RuntimeError:
                sent = "RuntimeError"
            AFTER_BODY.append("probe:%s:%s" % (got, sent))
        return
    if path == "/after_body":
        return await text(send, json.dumps(AFTER_BODY), ctype=b"application/json")
    if path == "/on_stop_in_flight":
        # Waits until the child is stopping, then registers an async on_stop
        # callback from the loop's own thread (it runs at once), then answers.
        print("on_stop_in_flight waits for the stop", flush=True)
        await pympm.wait_stopping()
        pympm.on_stop(_late_on_stop_callback(query.get("tag", "in-flight")))
        return await text(send, "registered while stopping\n")
    if path == "/on_stop_after_response":
        # The same from the rest of a request that has answered already.
        await text(send, "answered\n")
        await pympm.wait_stopping()
        pympm.on_stop(_late_on_stop_callback(query.get("tag", "after-response")))
        return
    return await text(send, "no route %s\n" % path, status=404)
