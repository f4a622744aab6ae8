"""A WSGI-only app with an `async def` on_stop callback
(tests/e2e/test_hardening.cpp, hardening_stop): its child loads neither
pympm's ASGI part nor asyncio while it serves, and the callback still runs
when the child stops (in an event loop of its own)."""
import json
import os
import sys

import pympm


@pympm.on_stop
async def _flush():
    import asyncio

    await asyncio.sleep(0)
    print("async on_stop ran in %d" % os.getpid(), flush=True)


def application(environ, start_response):
    body = json.dumps(
        {
            "pid": os.getpid(),
            "asyncio": "asyncio" in sys.modules,
            "asgi_part": "_pympm_asgi" in sys.modules,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
