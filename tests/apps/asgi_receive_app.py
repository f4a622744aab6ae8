"""receive() as apps and frameworks really call it (tests/e2e/test_asgi.cpp,
suite asgi_receive): several receive() calls waiting at once, and a receive()
cancelled while it waits (asyncio.wait_for, anyio's cancel scopes, a task's
cancel()), each checked against what uvicorn does."""
import asyncio
import json

from starlette.requests import Request
from starlette.responses import StreamingResponse

END_WAITERS = {"waiting": 0, "seen": []}


async def text(send, body):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body.encode() if isinstance(body, str) else body})


async def read_rest(receive):
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def second_receiver(scope, receive, send):
    # A receive() waiting for the end (Starlette's listen_for_disconnect),
    # then another one beside it (request.is_disconnected()): the first must
    # go on waiting, the client is still there.
    assert (await receive())["type"] == "http.request"
    watcher = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    peek = asyncio.ensure_future(receive())
    await asyncio.sleep(0.05)
    peek.cancel()
    await text(send, b"spurious-disconnect" if watcher.done() else b"ok")
    # The response is complete: the watcher has its disconnect now.
    message = await asyncio.wait_for(watcher, 10)
    assert message["type"] == "http.disconnect", message


async def starlette_stream(scope, receive, send):
    # Starlette's StreamingResponse listens for the disconnect beside the
    # stream; the stream asks is_disconnected() before each part.
    request = Request(scope, receive)

    async def parts():
        for i in range(3):
            if await request.is_disconnected():
                return
            yield b"event %d\n" % i
            await asyncio.sleep(0.02)

    await StreamingResponse(parts(), media_type="text/plain")(scope, receive, send)


async def end_waiters(scope, receive, send):
    # The body, then three receive() calls waiting at once: the client's
    # going away reaches every one.
    await read_rest(receive)
    waiters = [asyncio.ensure_future(receive()) for _ in range(3)]
    await asyncio.sleep(0)
    END_WAITERS["waiting"] = len(waiters)
    messages = await asyncio.wait_for(asyncio.gather(*waiters), 60)
    END_WAITERS["seen"] = [m["type"] for m in messages]


async def cancelled_receive(scope, receive, send, query):
    # A receive() cancelled while its body read is with the request thread:
    # the chunk goes to the next receive().
    t = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    t.cancel()
    if "pause" in query:
        await asyncio.sleep(float(query["pause"]))
    body = await read_rest(receive)
    await text(send, b"%d" % len(body))


async def cancelled_after_answer(scope, receive, send):
    # A receive() cancelled after its answer came but before its task woke
    # up to take it: the answer goes to the next receive().
    t = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    future = t._fut_waiter
    while future is not None and not future.done():
        await asyncio.sleep(0)
    late = not t.done()
    t.cancel()
    body, more = b"", True
    try:
        message = await t  # its task took the answer before the cancel
        body, more = message.get("body", b""), message.get("more_body", False)
    except asyncio.CancelledError:
        pass
    if more:
        body += await read_rest(receive)
    await text(send, b"%d %s" % (len(body), b"late" if late else b"early"))


async def answered(receive):
    # A receive() stepped by hand until its answer is in; its task has not
    # taken it yet (the future holds it).
    call = receive()
    future = call.send(None)
    while not future.done():
        await asyncio.sleep(0)
    return call, future


def cancel(call):
    try:
        call.throw(asyncio.CancelledError())
    except asyncio.CancelledError:
        pass


async def two_given_back(scope, receive, send, query):
    # Two receive() calls answered with the body's first two chunks, both
    # cancelled before their tasks took them: the chunks come back in order.
    first, second = receive(), receive()
    futures = [first.send(None), second.send(None)]
    while not all(f.done() for f in futures):
        await asyncio.sleep(0)
    cancel(first)
    cancel(second)
    body = await read_rest(receive)
    expected = bytes(i % 251 for i in range(int(query["n"])))
    await text(send, b"in order" if body == expected else b"out of order (%d bytes)" % len(body))


async def given_back_to_end_waiter(scope, receive, send):
    # The last chunk is out, another receive() waits for the end, then the
    # one the last chunk answered is cancelled before its task took it (as
    # a task's cancel() would): the waiting one gets it, not a wait until
    # the client goes.
    body = b""
    while True:
        call, future = await answered(receive)
        if not future.result().get("more_body", False):
            break
        try:
            call.send(None)
        except StopIteration as stop:
            body += stop.value.get("body", b"")
    waiter = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    cancel(call)
    message = await asyncio.wait_for(waiter, 5)
    body += message.get("body", b"")
    await text(send, b"%s %d" % (message["type"].encode(), len(body)))


async def wait_for_timeout(scope, receive, send):
    # asyncio.wait_for(receive(), t) timing out while the client is slow to
    # send: nothing of the body is lost.
    body, more = b"", True
    while more:
        try:
            message = await asyncio.wait_for(receive(), 0.05)
        except asyncio.TimeoutError:
            continue
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await text(send, body)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": "lifespan.%s.complete" % kind})
            if kind == "shutdown":
                return
    root, path = scope["root_path"], scope["path"]
    path = path[len(root) :] if path.startswith(root) else path
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    if path == "/second_receiver":
        return await second_receiver(scope, receive, send)
    if path == "/starlette_stream":
        return await starlette_stream(scope, receive, send)
    if path == "/end_waiters":
        return await end_waiters(scope, receive, send)
    if path == "/end_waiters_state":
        return await text(send, json.dumps(END_WAITERS))
    if path == "/cancelled_receive":
        return await cancelled_receive(scope, receive, send, query)
    if path == "/cancelled_after_answer":
        return await cancelled_after_answer(scope, receive, send)
    if path == "/two_given_back":
        return await two_given_back(scope, receive, send, query)
    if path == "/given_back_to_end_waiter":
        return await given_back_to_end_waiter(scope, receive, send)
    if path == "/wait_for_timeout":
        return await wait_for_timeout(scope, receive, send)
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"not found"})
