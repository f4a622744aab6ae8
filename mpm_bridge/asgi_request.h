// One ASGI request (ASGI 3.0, HTTP 2.3): the app runs as a task on the
// child's event loop; httpd's request thread keeps the connection. The app's
// receive() and send() post events to the request thread (a channel, below),
// which reads the body or writes the response for them without the GIL and
// resolves their futures on the loop. Messages that need no I/O complete at
// once on the loop (a request without a body, the response head, the last
// body part), so a small request costs the request thread one wake-up.
//
// The body reader, the response writer and the error rules are the request's
// core (request_core.h), which WSGI shares.
#pragma once

#include "asgi_context.h"
#include "request_core.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace pympm {

struct RequestWatch;

class AsgiRequest {
public:
    AsgiRequest(RequestContext& ctx, AsgiContext& asgi, RequestIO& io, const std::string& app_name);
    ~AsgiRequest();
    AsgiRequest(const AsgiRequest&) = delete;
    AsgiRequest& operator=(const AsgiRequest&) = delete;

    // Runs `app` for the request; GIL held. `state`: the app's lifespan
    // state (copied into the scope), or null. `mount_relative_path`: give
    // `path` without the mount (for Starlette before 0.35). Returns 0 once a
    // response went out, else the status httpd should answer with.
    int run(PyObject* app, PyObject* state, bool mount_relative_path);
    int response_status() const { return core_.response.head_set() ? core_.response.head().status : 0; }
    bool app_raised() const { return core_.app_raised(); }

    // For PyRequestTimeout, GIL held: the app task's coroutine stack (or
    // ""), and its cancellation (on the loop).
    std::string task_stack();
    void cancel_for_timeout();

    // The channel's methods, on the loop thread, GIL held.
    PyObject* receive();
    PyObject* send(PyObject* message);
    void done(PyObject* exc);
    void set_task(PyObject* task) { task_ = PyRef::borrow(task); }

private:
    struct Event {
        enum class Kind { receive, start, body, done } kind;
        PyRef future;        // to resolve, or null
        ResponseHead head;   // start
        std::optional<std::uint64_t> content_length;
        PyRef body;          // body (bytes)
        bool more_body = false;
        PyRef exception;     // done: what the app raised, or null
    };

    PyRef build_scope(PyObject* state, bool mount_relative_path);
    void post(Event&& e);
    // Waits (without the GIL) for events, or `timeout` when one is given.
    std::deque<Event> wait_events(std::optional<std::chrono::milliseconds> timeout);
    // Handles one event; false once the app is done.
    bool handle(Event& e, int& status);
    void answer_receive(PyObject* future);
    void resolve(PyObject* future, PyObject* value);
    void reject_disconnected(PyObject* future);
    void complete_response();
    int finish_after_done(PyObject* exc);

    RequestCore core_;
    AsgiContext& asgi_;
    PyRef channel_;
    PyRef task_;
    // Shared with the loop thread (under the GIL): what the app saw.
    bool started_ = false;      // http.response.start sent by the app
    bool completed_ = false;    // its last body part sent
    bool body_delivered_ = false;
    bool disconnected_ = false; // the client went away
    bool cancelled_for_timeout_ = false;
    PyRef waiting_disconnect_;  // a receive() after the body, answered at the end
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Event> events_;
};

// The Python type of the native channel (its methods call the request).
PyRef make_asgi_channel_type();
PyObject* new_asgi_channel(PyObject* type, AsgiRequest* req);
void detach_asgi_channel(PyObject* channel);

} // namespace pympm
