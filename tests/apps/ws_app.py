"""A raw ASGI 3 app for the WebSocket tests (tests/e2e/test_websocket.cpp,
issue 21): one scenario per path under /ws/, and /events, an HTTP route that
tells what the WebSockets of this child saw (their disconnect codes)."""
import asyncio
import json
import os
import sys

from ws_common import echo, lifespan, query

EVENTS = []  # what the app saw, in order: ["disconnect", tag, code, reason], ...
# Written there too when the test made it (the child runs as nobody): a
# child that stopped cannot answer /events any more.
MARKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "markers")


# The browser tests: the page's HTTP response stays open until its
# WebSocket has echoed (or failed), so that the DOM Chromium dumps at the
# page's load holds the result. tag -> asyncio.Event.
PAGES = {}

PAGE_HEAD = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>waiting</title></head><body>
<p id="result">pending</p>
<script>
const out = document.getElementById("result");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/w/browser?tag=%(tag)s");
let hello = null;
ws.onmessage = (e) => {
  if (hello === null) {
    hello = JSON.parse(e.data);
    ws.send("h\u00e9llo from the page");
    return;
  }
  out.textContent = "echo=[" + e.data + "] http_version=" + hello.http_version + " scheme=" + hello.scheme;
  document.title = "done";
  ws.send("done");
};
ws.onerror = () => {
  out.textContent = "error";
  fetch("/w/page_done?tag=%(tag)s");
};
</script>
"""


def page_event(tag):
    return PAGES.setdefault(tag, asyncio.Event())


def record(event):
    EVENTS.append(event)
    if os.path.isdir(MARKERS):
        with open(os.path.join(MARKERS, "ws-events"), "a") as f:
            f.write(json.dumps(event) + "\n")


async def http_text(send, status, body, ctype=b"application/json"):
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def until_disconnect(receive, tag, send=None):
    """Receives until the client goes; echoes through `send` if given."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            record(["disconnect", tag, message.get("code"), message.get("reason", "")])
            return message
        if send is not None:
            await echo(send, message)


async def websocket(scope, receive, send):
    path = scope["path"]
    q = query(scope)
    tag = q.get("tag", path)
    first = await receive()
    assert first == {"type": "websocket.connect"}, first
    if path.endswith("/echo"):
        await send({"type": "websocket.accept"})
        await until_disconnect(receive, tag, send=send)
    elif path.endswith("/print"):
        # print() and stderr from a WebSocket app's task: lines of the log.
        print("ws-app-print: on stdout")
        print("ws-app-print: on stderr", file=sys.stderr)
        await send({"type": "websocket.accept"})
        await until_disconnect(receive, tag, send=send)
    elif path.endswith("/subprotocol"):
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[-1] if offered else None})
        await send({"type": "websocket.send", "text": json.dumps(offered)})
        await until_disconnect(receive, tag)
    elif path.endswith("/bad_subprotocol"):
        try:
            await send({"type": "websocket.accept", "subprotocol": "never-offered"})
        except RuntimeError as e:
            record(["accept_refused", tag, str(e)])
            await send({"type": "websocket.close"})
    elif path.endswith("/headers"):
        await send({"type": "websocket.accept", "headers": [(b"x-app", b"accepted"), (b"set-cookie", b"a=1")]})
        await until_disconnect(receive, tag)
    elif path.endswith("/scope"):
        await send({"type": "websocket.accept"})
        s = {k: v for k, v in scope.items() if k not in ("state",)}
        s["headers"] = [[k.decode(), v.decode()] for k, v in scope["headers"]]
        s["raw_path"] = scope["raw_path"].decode()
        s["query_string"] = scope["query_string"].decode()
        s["has_method"] = "method" in scope
        await send({"type": "websocket.send", "text": json.dumps(s, default=list)})
        await until_disconnect(receive, tag)
    elif path.endswith("/refuse"):
        await send({"type": "websocket.close", "code": 4003})
    elif path.endswith("/deny"):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})
    elif path.endswith("/raise_before"):
        raise ValueError("refused by raising")
    elif path.endswith("/return_before"):
        return
    elif path.endswith("/close"):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": int(q.get("code", "1000")), "reason": q.get("reason", "")})
        await until_disconnect(receive, tag)
    elif path.endswith("/raise_after"):
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("raised after accept")
    elif path.endswith("/return_after"):
        await send({"type": "websocket.accept"})
        await receive()
    elif path.endswith("/push"):
        await send({"type": "websocket.accept"})
        for i in range(int(q.get("n", "3"))):
            await send({"type": "websocket.send", "text": "push %d" % i})
        await until_disconnect(receive, tag)
    elif path.endswith("/browser"):
        await send({"type": "websocket.accept"})
        hello = {"http_version": scope.get("http_version"), "scheme": scope["scheme"]}
        await send({"type": "websocket.send", "text": json.dumps(hello)})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "done":
                page_event(tag).set()
            else:
                await send({"type": "websocket.send", "text": "echo: %s" % message.get("text")})
    elif path.endswith("/send_after_close"):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})
        try:
            await send({"type": "websocket.send", "text": "late"})
        except RuntimeError as e:
            record(["send_after_close", tag, str(e)])
        await until_disconnect(receive, tag)
    else:
        await send({"type": "websocket.close", "code": 1008})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    if scope["path"].endswith("/events"):
        return await http_text(send, 200, json.dumps({"pid": os.getpid(), "events": EVENTS}))
    if scope["path"].endswith("/page"):
        tag = query(scope).get("tag", "page")
        if not tag.isalnum():
            tag = "page"  # it goes into the page's script as it is
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": (PAGE_HEAD % {"tag": tag}).encode(), "more_body": True})
        try:
            await asyncio.wait_for(page_event(tag).wait(), 30)
        except asyncio.TimeoutError:
            await send({"type": "http.response.body", "body": b"<p>timed out</p>", "more_body": True})
        return await send({"type": "http.response.body", "body": b"</body></html>\n"})
    if scope["path"].endswith("/page_done"):
        page_event(query(scope).get("tag", "page")).set()
        return await http_text(send, 200, "released", b"text/plain")
    if scope["path"].endswith("/hello"):
        return await http_text(send, 200, "hello", b"text/plain")
    if scope["path"].endswith("/sleep"):
        await asyncio.sleep(float(query(scope).get("s", "1")))
        return await http_text(send, 200, "slept", b"text/plain")
    return await http_text(send, 404, "{}")
