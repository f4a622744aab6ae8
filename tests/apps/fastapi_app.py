"""A FastAPI app (Debian's python3-fastapi) as people write them: path and
query parameters, a JSON body, a streaming response, BackgroundTasks, and
startup/shutdown handlers (tests/e2e/test_asgi.cpp). Its answers must be
the same through httpd as through FastAPI's own TestClient."""
import asyncio
import os
import time
from typing import List, Optional

from fastapi import BackgroundTasks, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

app = FastAPI()
STATE = {"started": False, "done": []}
MARKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "markers")


class Order(BaseModel):
    name: str
    quantity: int
    tags: List[str] = []


@app.on_event("startup")
async def startup():
    STATE["started"] = True


@app.on_event("shutdown")
async def shutdown():
    if os.path.isdir(MARKERS):
        with open(os.path.join(MARKERS, "fastapi-shutdown-%d" % os.getpid()), "w") as f:
            f.write("ok\n")


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None, limit: int = 10):
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/orders")
async def create_order(order: Order):
    return {
        "name": order.name.upper(),
        "quantity": order.quantity,
        "tags": sorted(order.tags),
        "total": order.quantity * 3,
    }


@app.get("/stream")
async def stream(n: int = 3):
    async def chunks():
        for i in range(n):
            yield "line %d\n" % i
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


def remember(word: str):
    STATE["done"].append(word)


@app.post("/later/{word}")
async def later(word: str, tasks: BackgroundTasks):
    tasks.add_task(remember, word)
    return {"scheduled": word}


async def remember_after(word: str, seconds: float):
    await asyncio.sleep(seconds)
    STATE["done"].append(word)


def remember_after_sync(word: str, seconds: float):
    time.sleep(seconds)  # in Starlette's thread pool
    STATE["done"].append(word)


@app.post("/slow-later/{word}")
async def slow_later(word: str, tasks: BackgroundTasks, seconds: float = 4, sync: bool = False):
    # "Send the mail after answering": the client gets its answer before the
    # task's work.
    tasks.add_task(remember_after_sync if sync else remember_after, word, seconds)
    return {"scheduled": word}


@app.get("/done")
async def done():
    return {"done": STATE["done"], "started": STATE["started"]}


@app.get("/links")
async def links(request: Request):
    return {"item": str(request.url_for("read_item", item_id=7)), "path": request.url.path}


@app.get("/plain", response_class=PlainTextResponse)
async def plain():
    return "plain text ✓"


@app.websocket("/ws/{room}")
async def websocket(ws: WebSocket, room: str, name: str = "anon"):
    """Echoes text in a room (tests/e2e/test_websocket.cpp): the first offered
    subprotocol is picked, "close" closes with 4010."""
    offered = ws.scope["subprotocols"]
    await ws.accept(subprotocol=offered[0] if offered else None)
    try:
        while True:
            text = await ws.receive_text()
            if text == "close":
                await ws.close(code=4010)
                return
            await ws.send_json({"room": room, "name": name, "text": text})
    except WebSocketDisconnect as e:
        STATE["done"].append("ws-disconnect-%d" % e.code)
