// One ASGI request (ASGI 3.0, HTTP 2.3): the app runs as a task on the
// child's event loop; httpd's request thread keeps the connection. The app's
// receive() and send() post events to the request thread (a channel, below),
// which reads the body or writes the response for them without the GIL and
// resolves their futures on the loop. Messages that need no I/O complete at
// once on the loop (a request without a body, the response head, the last
// body part), so a small request costs the request thread one wake-up; the
// request thread takes the GIL only for events that need Python (a body
// read, a future to resolve, an exception), not to write a response. The
// request ends once its response is complete, or the app returns: what the
// app does after its last body part (a background task) runs on the loop
// alone, as under uvicorn, and holds up neither the client nor the
// connection's next request.
//
// The body reader, the response writer and the error rules are the request's
// core (request_core.h), which WSGI shares.
#pragma once

#include "asgi/asgi_context.h"
#include "base/lock_order.h"
#include "request/request_core.h"
#include "timeouts/timeout_target.h"

#include <atomic>
#include <deque>
#include <optional>
#include <vector>

namespace pympm {

// A TimeoutSource: PyRequestTimeout reports and cancels the app's task.
class AsgiRequest final : public TimeoutSource {
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

    // For PyRequestTimeout: the app's task, its coroutine stack, cancelled
    // on the loop. `cancelling`: its CancelledError is then reported as the
    // timeout.
    std::unique_ptr<TimeoutTarget> timeout_target(bool cancelling) override;

    // The channel's methods, on the loop thread, GIL held.
    PyObject* receive();
    PyObject* send(PyObject* message);
    // The app returned (exc: None) or raised. False once the request has
    // ended (its response was complete): the caller reports the exception.
    bool done(PyObject* exc);
    // Posts the events held back (called on the loop's next iteration).
    void flush();
    void set_task(PyObject* task) { task_ = PyRef::borrow(task); }

private:
    struct Event {
        enum class Kind { receive, start, body, done } kind = Kind::done;
        PyRef future;      // to resolve, or null
        ResponseHead head; // start
        std::optional<std::uint64_t> content_length;
        PyRef body; // body (bytes)
        bool more_body = false;
        PyRef exception; // done: what the app raised, or null
    };

    PyRef build_scope(PyObject* state, bool mount_relative_path);
    // Posts `e` after the events held back: one wake-up of the request
    // thread for all. False, leaving `e` to the caller, once the request
    // thread takes no more events.
    bool post(Event&& e);
    // Holds back an event that needs no answer (the response head, the last
    // body part) until the next post or the loop's next iteration: most apps
    // send both and return in one step, which then wakes the request thread
    // once.
    void hold(Event&& e);
    // Moves the events held back to the request thread's queue (mutex_
    // held).
    void release_held();
    // Waits (without the GIL) for events, or `timeout` when one is given.
    // The events hold references: they die with the GIL held.
    std::deque<Event> wait_events(std::optional<std::chrono::milliseconds> timeout);
    // Whether handling `e` needs the GIL (else the request thread handles
    // it without).
    bool needs_python(const Event& e) const;
    // Handles one event; false once the request thread's part is over (the
    // response is complete or the app is done).
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
    // Shared with the loop thread: what the app saw.
    std::atomic<bool> started_{false};   // http.response.start sent by the app
    std::atomic<bool> completed_{false}; // its last body part sent
    std::atomic<bool> body_delivered_{false};
    std::atomic<bool> disconnected_{false}; // the client went away
    bool cancelled_for_timeout_ = false;
    PyRef waiting_disconnect_;      // a receive() after the body, answered at the end
    std::vector<PyRef> unreleased_; // let go of without the GIL; dropped with it
    LeafMutex mutex_;
    LeafCondition cv_;
    std::deque<Event> events_;
    bool finished_ = false; // the request thread takes no more events
    // Loop thread only (GIL): the events held back, and whether a flush()
    // is scheduled.
    std::vector<Event> held_;
    bool flush_scheduled_ = false;
};

// The HTTP scope of `line` (a WebSocket's scope starts from it too). GIL
// held.
PyRef build_http_scope(const AsgiContext& asgi, const RequestLine& line, PyObject* state, bool mount_relative_path);

// What PyRequestTimeout reports and cancels for an app's task on the loop.
std::unique_ptr<TimeoutTarget> task_timeout_target(const AsgiContext& asgi, PyRef task);

// The Python type of the native channel (its methods call the request).
PyRef make_asgi_channel_type();
PyObject* new_asgi_channel(PyObject* type, AsgiRequest* req);
void detach_asgi_channel(PyObject* channel);

} // namespace pympm
