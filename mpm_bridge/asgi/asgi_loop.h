// The event loop's side of an ASGI request (L, GIL held): the work items
// request threads push on the inbox (a request to start, a body chunk read,
// a part written, the client gone), the channel object behind the app's
// receive() and send(), and the inbox's reader callback. The channel keeps
// the request's Python state (its task, the futures the app awaits) and
// shares the AsgiExchange with the request thread.
#pragma once

#include "asgi/asgi_exchange.h"
#include "asgi/asgi_inbox.h"
#include "python/python_ref.h"

#include <memory>
#include <string>

namespace pympm {

struct AsgiContext;

// An ASGI app as its requests need it; borrowed from the child's app table,
// which outlives every request.
struct AsgiMount {
    PyObject* app = nullptr;
    PyObject* lifespan_state = nullptr; // copied into each scope, or null
    bool path_without_mount = false;    // Starlette before 0.35
};

// Work for the inbox, pushed by R.
std::unique_ptr<LoopWork> asgi_start_work(std::shared_ptr<AsgiExchange> x, const AsgiMount& mount);
// A receive() answered: `data` read, the body's end seen (`end`), or the
// read failed (`failed`: the app hears http.disconnect).
std::unique_ptr<LoopWork> asgi_body_work(std::shared_ptr<AsgiExchange> x, std::string data, bool end, bool failed);
// A streamed part is on its way (ok), or could not be written.
std::unique_ptr<LoopWork> asgi_sent_work(std::shared_ptr<AsgiExchange> x, bool ok);
// The client went away while a receive() waited for it.
std::unique_ptr<LoopWork> asgi_disconnected_work(std::shared_ptr<AsgiExchange> x);
// Any callable, run on the loop with the GIL (statistics and the like).
template <class F>
std::unique_ptr<LoopWork> loop_work(F f) {
    struct W final : LoopWork {
        explicit W(F g) : fn(std::move(g)) {}
        void run() noexcept override { fn(); }
        F fn;
    };
    return std::make_unique<W>(std::move(f));
}

// Runs an app for its channel on the loop (GIL held): its coroutine
// (_asgi_serve) as a task started eagerly (PyAsgiEagerStart), its first
// step taken at once; a task that is not done then is kept (_asgi_track).
// False with a Python exception if it could not be started.
bool begin_asgi_app(AsgiContext& asgi, PyObject* app, PyObject* scope, PyObject* channel);

// The channel's Python type; GIL held.
PyRef make_asgi_channel_type();
// The request's task, or null (GIL held).
PyRef asgi_channel_task(PyObject* channel);
// The reader callback of the inbox's eventfd: drains the inbox in bounded
// batches (the loop's other callbacks run between them).
PyRef make_asgi_drain(AsgiContext& asgi);

// The app's exception as plain C++ for its request thread: its kind, and
// its traceback formatted (GIL held, on the loop).
AppFailure classify_app_exception(AsgiContext& asgi, PyObject* exc, bool cancelled_for_timeout);
// What PyRequestTimeout reports and cancels for an app's task on the loop
// (GIL held): its stack, and `cancellable` whether it may be cancelled.
std::unique_ptr<TimeoutTarget> asgi_task_target(const AsgiContext& asgi, PyRef task, bool cancellable);

// The scope of a request (asgi_scope.cpp); new reference or null with a
// Python error.
PyRef build_asgi_scope(AsgiContext& asgi, const AsgiHead& head, PyObject* state, bool mount_relative_path);

} // namespace pympm
