// What every ASGI request of a child shares: the event loop and the
// functions of pympm's ASGI part (asgi/pympm_asgi.py) that run requests on
// it, the native channel type, and the interned strings of scopes and
// messages. Owned by ChildRuntime; used with the GIL held.
#pragma once

#include "asgi/asgi_inbox.h"
#include "python/interpreter.h"
#include "python/python_ref.h"

#include <array>
#include <string>

namespace pympm {

// The interned strings of scopes and messages, and b'': what checking a
// message needs (asgi_messages.h), without an event loop.
struct AsgiNames {
    PyRef k_type, k_asgi, k_http_version, k_method, k_scheme, k_path, k_raw_path, k_query_string, k_root_path,
        k_headers, k_client, k_server, k_state, k_body, k_more_body, k_status, k_trailers, k_flush;
    PyRef v_http, v_https, v_http_request, v_http_disconnect, v_response_start, v_response_body, v_1_0, v_1_1, v_2;
    PyRef empty_bytes;

    // GIL held; false with a Python exception set.
    bool intern();
};

struct AsgiContext : AsgiNames {
    AsgiContext() = default;
    AsgiContext(const AsgiContext&) = delete;
    AsgiContext& operator=(const AsgiContext&) = delete;

    const PympmModule* pympm = nullptr;
    // Request threads -> the loop (read by a reader callback on the loop).
    AsgiInbox inbox;
    PyRef drain; // the reader callback
    PyRef loop;
    PyRef call_soon_threadsafe; // loop.call_soon_threadsafe
    PyRef call_soon;            // loop.call_soon (on the loop thread)
    PyRef serve;                // _asgi_serve(app, scope, channel): a request's coroutine
    PyRef start_task;           // _asgi_start(coro): its task, started eagerly (PyAsgiEagerStart)
    PyRef track;                // _asgi_track(task, channel): a task not done after its first step
    PyRef done_name;            // "done"
    PyRef task_name;            // "task"
    PyRef request_var;          // pympm's ContextVar of the request a task runs for
    PyRef resolve;              // _asgi_resolve(future, value)
    PyRef reject;               // _asgi_reject(future, exc)
    PyRef task_stack;           // _asgi_task_stack(task)
    PyRef create_future;        // loop.create_future
    PyRef channel_type;
    PyRef caller_type;  // the app's receive and send (asgi_awaitable.h)
    PyRef call_type;    // what receive() and send() return (asgi_awaitable.h)
    PyRef asgi_version; // {"version": "3.0", "spec_version": "2.3"}
    // What every scope starts from (asgi_scope.cpp, made on the first):
    // its keys in order, "type" set. Copied, never handed out.
    PyRef scope_template;
    // Made once: GET, HEAD, POST, PUT, DELETE, as scope["method"].
    std::array<PyRef, 5> methods;
    // The last client and server addresses, as scope tuples: the requests
    // of a connection share them (a tuple of a str and an int: immutable).
    struct Address {
        std::string ip;
        int port = 0;
        PyRef value;
    };
    Address last_client, last_server;
    PyRef disconnect_message; // {"type": "http.disconnect"}, one per child

    bool started() const { return static_cast<bool>(loop); }
    // Starts the loop thread and looks up what requests need. GIL held.
    bool start(const PympmModule& py, std::string& error);
    // The child stops: requests queued for the loop get 503 from now on.
    void close_inbox() { inbox.close(); }
    // Drops the Python references (before Python is finalised). GIL held.
    void clear();
};

} // namespace pympm
