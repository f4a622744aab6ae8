"""The raw ASGI 3 WebSocket app of the differential test (tests/e2e/
test_websocket.cpp, websocket_differential): the same app, mounted at /,
under bare uvicorn (its websockets implementation) and under mod_pympm,
driven by the same client script; what the client sees must be the same.
One scenario per path."""

from ws_common import echo, lifespan, query


async def echo_until_disconnect(receive, send):
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await echo(send, message)


async def websocket(scope, receive, send):
    path = scope["path"]
    q = query(scope)
    assert (await receive())["type"] == "websocket.connect"
    if path == "/echo":
        await send({"type": "websocket.accept"})
        await echo_until_disconnect(receive, send)
    elif path == "/subprotocol":
        # The server's pick among what the client offered.
        offered = scope["subprotocols"]
        chosen = "superchat" if "superchat" in offered else None
        await send({"type": "websocket.accept", "subprotocol": chosen})
        await send({"type": "websocket.send", "text": ",".join(offered)})
        await echo_until_disconnect(receive, send)
    elif path == "/close":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "closing"})
        await send({"type": "websocket.close", "code": int(q.get("code", "1000")), "reason": q.get("reason", "")})
    elif path == "/deny":
        # The denial response where the server offers it (ASGI spec 2.4),
        # else a plain refusal, as frameworks do.
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", b"8"),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"no entry"})
        else:
            await send({"type": "websocket.close"})
    elif path == "/refuse":
        await send({"type": "websocket.close", "code": 4003})
    elif path == "/return_after":
        await send({"type": "websocket.accept"})
        await receive()
    elif path == "/raise_after":
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("raised after accept (expected by the test)")
    else:
        await send({"type": "websocket.close", "code": 1008})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    body = b"ws_diff_app"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
