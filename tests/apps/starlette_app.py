"""A Starlette app (Debian's python3-starlette): routing, a JSON body, a
streaming response, a background task and a lifespan that sets state
(tests/e2e/test_asgi.cpp)."""
import asyncio
import contextlib
import os

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

EVENTS = []


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.greeting = "hello from the lifespan"
    EVENTS.append("startup")
    yield
    EVENTS.append("shutdown")


async def greet(request):
    return PlainTextResponse("%s, %s" % (request.app.state.greeting, request.path_params["name"]))


async def echo(request):
    data = await request.json()
    return JSONResponse({"echo": data, "query": dict(request.query_params)})


async def stream(request):
    async def gen():
        for i in range(3):
            yield b"part %d\n" % i
            await asyncio.sleep(0.01)

    return StreamingResponse(gen(), media_type="text/plain")


async def later(request):
    return JSONResponse({"scheduled": True}, background=BackgroundTask(EVENTS.append, "background"))


async def events(request):
    return JSONResponse({"events": EVENTS, "pid": os.getpid()})


async def ws_echo(websocket):
    """Echoes text and bytes (tests/e2e/test_websocket.cpp); "close" closes
    with 4011 and a reason."""
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                EVENTS.append("ws-disconnect-%d" % message["code"])
                return
            if message.get("text") == "close":
                await websocket.close(code=4011, reason="starlette closes")
                return
            if message.get("text") is not None:
                await websocket.send_text("starlette: " + message["text"])
            else:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect:
        pass


app = Starlette(
    routes=[
        Route("/greet/{name}", greet),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/later", later, methods=["POST"]),
        Route("/events", events),
        WebSocketRoute("/ws", ws_echo),
    ],
    lifespan=lifespan,
)
