// What an ASGI app's receive() and send() return (HTTP and WebSocket): an
// awaitable that runs the channel's operation when it is first stepped, as
// the body of an `async def receive()` would, and completes in that step
// when the answer is ready (a message, a part on its way), or else waits
// on the future the operation answered. No Python frame runs for it.
//
// To asyncio it is a coroutine (it has __await__, send, throw and close):
// asyncio.iscoroutine() holds, so create_task(receive()) and
// ensure_future() take it as they take uvicorn's coroutines. Awaited
// twice, it raises RuntimeError as a coroutine does. GIL held throughout.
#pragma once

#include "python/python_ref.h"

namespace pympm {

struct AsgiContext;

// A channel's receive (`arg` null) or send(`arg`): a new reference to the
// answer when it is ready (a dict, or None), to a future of it, or null with
// a Python exception. The channel's methods have this signature.
using AsgiChannelOp = PyObject* (*)(PyObject* channel, PyObject* arg);
// A receive's answer that came, but that its task, cancelled before it woke
// up, never took: handed back to the channel for the next receive(). No
// exception set on return.
using AsgiGiveBack = void (*)(PyObject* channel, PyObject* answer);

// The app's receive or send of a channel: a callable that returns a new
// awaitable (below) per call. To asyncio.iscoroutinefunction() (asgiref's
// async_to_sync, Starlette's is_async_callable) it is a coroutine
// function, as an `async def receive()` is: its type carries asyncio's
// marker (and inspect's, 3.12+).
PyRef make_asgi_caller_type();
// A new receive (`takes_message` false) or send of `channel` (types made by
// make_asgi_caller_type and make_asgi_call_type). Null with an exception.
// With `give_back`, an answer the task did not take goes back to it.
PyObject* new_asgi_caller(PyObject* caller_type, PyObject* call_type, PyObject* channel, AsgiChannelOp op,
                          bool takes_message, AsgiGiveBack give_back = nullptr);

// What an HTTP or WebSocket channel's app_receive / app_send getter returns:
// new_asgi_caller with the child's types (`asgi`). Null with an exception.
PyObject* new_app_caller(const AsgiContext& asgi, PyObject* channel, AsgiChannelOp op, bool takes_message,
                         AsgiGiveBack give_back = nullptr);

// The awaitable's type, made once per child (AsgiContext).
PyRef make_asgi_call_type();
// A new awaitable of `type` (made by make_asgi_call_type) that runs
// op(channel, arg) when first stepped; `arg` may be null. Null with an
// exception if it could not be allocated.
PyObject* new_asgi_call(PyObject* type, PyObject* channel, AsgiChannelOp op, PyObject* arg,
                        AsgiGiveBack give_back = nullptr);

} // namespace pympm
