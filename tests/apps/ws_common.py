"""What the raw ASGI 3 WebSocket test apps share (ws_app.py, ws_diff_app.py):
imported from the app's folder, which mod_pympm and uvicorn put on sys.path."""


def query(scope):
    out = {}
    for part in scope["query_string"].decode().split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def echo(send, message):
    """Sends a websocket.receive back as it came, text or bytes."""
    if message.get("text") is not None:
        await send({"type": "websocket.send", "text": message["text"]})
    else:
        await send({"type": "websocket.send", "bytes": message["bytes"]})
