# An API gateway's request: await `asyncio.sleep(0.05)` (the other services
# it waits on, 50 ms), then a small JSON answer. Under asgi-io-512's 512
# connections every server keeps hundreds of these in flight at once:
# throughput is bounded by 512 / 50 ms, not by CPU; what it costs is
# latency and memory.
import asyncio

BODY = b'{"status":"ok"}\n'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
SLEEP_S = 0.05


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
