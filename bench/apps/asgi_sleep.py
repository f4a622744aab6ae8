# asgi_hello.py answering after `await asyncio.sleep(0.01)`: an I/O-bound
# request (a database or HTTP API call of 10 ms). Requests in flight
# interleave on the event loop; throughput is set by how many of them a
# server keeps in flight, not by CPU.
import asyncio

BODY = b"Hello, World!\n"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]
SLEEP_S = 0.01


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await asyncio.sleep(SLEEP_S)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
