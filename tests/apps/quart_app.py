"""A Quart app (Debian's python3-quart 0.18) with WebSocket routes as people
write them (tests/e2e/test_websocket.cpp): an echo that picks a subprotocol
and closes with a code, a producer/consumer pair, a route that refuses before accepting with Quart's
own response (the denial response) and one that closes before accepting
(403), and /events, an HTTP route that tells what the sockets saw."""
import asyncio
import os

from quart import Quart, abort, jsonify, websocket

app = Quart(__name__)
EVENTS = []


@app.route("/events")
async def events():
    return jsonify({"events": EVENTS, "pid": os.getpid()})


@app.websocket("/ws")
async def echo():
    """Echoes text (prefixed) and bytes (reversed); picks the last offered
    subprotocol; "close" closes with 4012 and a reason."""
    offered = websocket.requested_subprotocols
    await websocket.accept(subprotocol=offered[-1] if offered else None)
    try:
        while True:
            data = await websocket.receive()
            if data == "close":
                await websocket.close(4012, "quart closes")
                return
            if isinstance(data, str):
                await websocket.send("quart: " + data)
            else:
                await websocket.send(data[::-1])
    except asyncio.CancelledError:
        # Quart cancels the handler when the client goes.
        EVENTS.append("ws-cancelled")
        raise


@app.websocket("/ticker")
async def ticker():
    """Quart's producer/consumer pattern: the server sends on its own (3
    ticks, spaced) while another task answers what the client sends."""

    async def producer():
        for i in range(3):
            await websocket.send("tick %d" % i)
            await asyncio.sleep(0.05)

    async def consumer():
        while True:
            await websocket.send("got " + await websocket.receive())

    await websocket.accept()
    await asyncio.gather(producer(), consumer())


@app.websocket("/private")
async def private():
    """Refused with Quart's 401 page unless ?token=let-me-in (Quart sends
    it as the denial response when the server offers the extension)."""
    if websocket.args.get("token") != "let-me-in":
        abort(401)
    await websocket.accept()
    await websocket.send("welcome")
    await websocket.close(1000, "")


@app.websocket("/closed")
async def closed():
    """Closes before accepting: the server answers 403."""
    await websocket.close(1008, "")
