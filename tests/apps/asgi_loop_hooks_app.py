"""ASGI apps whose lifespan startup changes the loop (tests/e2e/test_asgi.cpp,
asgi_eager_start): a task factory (factory_app) or a call_soon of its own
(call_soon_app). Eager start must honour both, as PyAsgiEagerStart Off and
uvicorn do, and leave the loop's attributes as the app set them."""
import asyncio
import functools
import json


class MyTask(asyncio.Task):
    pass


CALL_SOON = {}  # the app's call_soon, set on the loop in lifespan startup


def _set_task_factory(loop):
    loop.set_task_factory(lambda lp, c, **k: MyTask(c, loop=lp, **k))


def _set_call_soon(loop):
    CALL_SOON["wrapper"] = functools.partial(loop.call_soon)
    loop.call_soon = CALL_SOON["wrapper"]


def _task_type():
    return type(asyncio.current_task()).__name__


def _own_call_soon():
    own = vars(asyncio.get_running_loop()).get("call_soon")
    return own is not None and own is CALL_SOON.get("wrapper")


def _app(setup, probe):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    setup(asyncio.get_running_loop())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        first = probe()
        await asyncio.sleep(0)
        body = json.dumps({"first": first, "later": probe()}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


factory_app = _app(_set_task_factory, _task_type)
call_soon_app = _app(_set_call_soon, _own_call_soon)
