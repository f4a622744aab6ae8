// The event loop's side of an ASGI WebSocket (L, GIL held), as asgi_loop.h
// is for HTTP: the start pushed by the request thread (the scope is built
// and the app's task started here), the channel object behind the app's
// receive() and send(), and the deliveries the request thread pushes when a
// receive() or a send() the app awaits can go on. Every Python object of a
// WebSocket lives and dies on the loop.
#pragma once

#include "asgi/asgi_inbox.h"
#include "asgi/asgi_loop.h"
#include "python/python_ref.h"

#include <memory>

namespace pympm {

class WsExchange;

// Work for the inbox, pushed by R.
std::unique_ptr<LoopWork> ws_start_work(std::shared_ptr<WsExchange> x, const AsgiMount& mount);
// A waiting receive() has its message (or the end), or waiting sends go on.
std::unique_ptr<LoopWork> ws_delivery_work(std::shared_ptr<WsExchange> x);

// The channel's Python type; GIL held.
PyRef make_ws_channel_type();
// The WebSocket's task, or null (GIL held).
PyRef ws_channel_task(PyObject* channel);

} // namespace pympm
