"""A Starlette app (Debian's python3-starlette): routing, a JSON body, a
streaming response, a background task and a lifespan that sets state
(tests/e2e/test_asgi.cpp)."""
import asyncio
import contextlib
import os

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

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


app = Starlette(
    routes=[
        Route("/greet/{name}", greet),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/later", later, methods=["POST"]),
        Route("/events", events),
    ],
    lifespan=lifespan,
)
