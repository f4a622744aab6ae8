#include "asgi/asgi_request.h"

#include "asgi/asgi_messages.h"

#include <chrono>

namespace pympm {

namespace {

using IoLock = RequestCore::IoLock;

constexpr std::size_t kBodyChunk = 64 * 1024;

} // namespace

AsgiRequest::AsgiRequest(RequestContext& ctx, AsgiContext& asgi, RequestIO& io, const std::string& app_name)
    : core_(ctx, io, app_name), asgi_(asgi) {}

AsgiRequest::~AsgiRequest() { detach_asgi_channel(channel_.get()); }

void AsgiRequest::release_held() {
    for (Event& h : held_) events_.push_back(std::move(h));
    held_.clear();
}

bool AsgiRequest::post(Event&& e) {
    {
        std::lock_guard lock(mutex_);
        if (finished_) return false;
        release_held();
        events_.push_back(std::move(e));
    }
    cv_.notify_one();
    return true;
}

void AsgiRequest::hold(Event&& e) {
    PYMPM_ASSERT_GIL();
    held_.push_back(std::move(e));
    if (flush_scheduled_) return;
    PyRef callback = PyRef::steal(PyObject_GetAttr(channel_.get(), asgi_.k_flush.get()));
    PyRef r = callback ? PyRef::steal(PyObject_CallOneArg(asgi_.call_soon.get(), callback.get())) : PyRef();
    if (r) {
        flush_scheduled_ = true;
        return;
    }
    PyErr_Clear();
    flush();
}

void AsgiRequest::flush() {
    flush_scheduled_ = false;
    if (held_.empty()) return;
    {
        std::lock_guard lock(mutex_);
        release_held();
    }
    cv_.notify_one();
}

std::deque<AsgiRequest::Event> AsgiRequest::wait_events(std::optional<std::chrono::milliseconds> timeout) {
    // Waiting for the app is not waiting for the client: the PyThreads slot
    // stays (the request is in the app).
    std::deque<Event> out;
    std::unique_lock lock(mutex_);
    auto ready = [&] { return !events_.empty(); };
    if (timeout)
        cv_.wait_for(lock, *timeout, ready);
    else
        cv_.wait(lock, ready);
    out.swap(events_); // moves references, touches no reference count
    return out;
}

bool AsgiRequest::needs_python(const Event& e) const {
    // A receive() reads into bytes, futures are resolved on the loop, an
    // exception is logged with its traceback, and a receive() waiting for
    // the end is answered when the response completes.
    return e.kind == Event::Kind::receive || e.future || e.exception || waiting_disconnect_;
}

void AsgiRequest::resolve(PyObject* future, PyObject* value) {
    if (!future) return; // also without the GIL (a body part that nobody awaits)
    PYMPM_ASSERT_GIL();
    PyRef r = PyRef::steal(
        PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(), asgi_.resolve.get(), future, value, nullptr));
    if (!r) PyErr_Clear(); // the loop is closed: nobody waits any more
}

void AsgiRequest::reject_disconnected(PyObject* future) {
    if (!future) return;
    PyRef exc =
        PyRef::steal(PyObject_CallFunction(core_.ctx.py.client_disconnected.get(), "s", "the client went away"));
    PyRef r = exc ? PyRef::steal(PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(), asgi_.reject.get(),
                                                              future, exc.get(), nullptr))
                  : PyRef();
    if (!r) PyErr_Clear();
}

void AsgiRequest::complete_response() {
    completed_ = true;
    if (waiting_disconnect_) {
        // A receive() after the body learns that the response is done.
        resolve(waiting_disconnect_.get(), asgi_.disconnect_message.get());
        waiting_disconnect_.reset();
    }
}

void AsgiRequest::answer_receive(PyObject* future) {
    PYMPM_ASSERT_GIL();
    if (disconnected_ || completed_) {
        resolve(future, asgi_.disconnect_message.get());
        return;
    }
    if (body_delivered_) {
        // Nothing more to read: answered when the response completes or the
        // client goes away.
        if (waiting_disconnect_) resolve(waiting_disconnect_.get(), asgi_.disconnect_message.get());
        waiting_disconnect_ = PyRef::borrow(future);
        return;
    }
    PyRef chunk;
    {
        IoLock lock(core_, IoLock::Entry::internal);
        chunk = PyRef::steal(core_.body.read_some(kBodyChunk));
    }
    if (!chunk) {
        // The client went away, or httpd refused the body (413, 400): either
        // way the app hears no more of it.
        PyErr_Clear();
        disconnected_ = true;
        resolve(future, asgi_.disconnect_message.get());
        return;
    }
    const bool more = !core_.body.ended();
    if (!more) body_delivered_ = true;
    PyRef message = PyRef::steal(PyDict_New());
    if (!message || PyDict_SetItem(message.get(), asgi_.k_type.get(), asgi_.v_http_request.get()) != 0 ||
        PyDict_SetItem(message.get(), asgi_.k_body.get(), chunk.get()) != 0 ||
        PyDict_SetItem(message.get(), asgi_.k_more_body.get(), more ? Py_True : Py_False) != 0) {
        PyErr_Clear();
        return;
    }
    resolve(future, message.get());
}

bool AsgiRequest::handle(Event& e, int& status) {
    switch (e.kind) {
    case Event::Kind::receive: answer_receive(e.future.get()); return true;
    case Event::Kind::start:
        core_.response.set_head(std::move(e.head), e.content_length);
        if (core_.ctx.response_ready) core_.ctx.response_ready(core_.ctx.response_ready_owner, core_.io);
        return true;
    case Event::Kind::body: {
        const char* data = PyBytes_AS_STRING(e.body.get());
        const auto len = static_cast<std::size_t>(PyBytes_GET_SIZE(e.body.get()));
        bool ok = !disconnected_ &&
                  core_.response.send(data, len, e.more_body ? RequestIO::Send::flush : RequestIO::Send::buffer);
        if (ok && !e.more_body) {
            status = core_.response.finish();
            ok = !core_.response.client_gone();
        }
        if (!ok) {
            disconnected_ = true;
            reject_disconnected(e.future.get());
            if (waiting_disconnect_) {
                resolve(waiting_disconnect_.get(), asgi_.disconnect_message.get());
                waiting_disconnect_.reset();
            }
        } else {
            resolve(e.future.get(), Py_None);
        }
        if (e.more_body) return true;
        // The response is complete: the request ends here, whatever the app
        // still does (a background task after its last body part).
        complete_response();
        return false;
    }
    case Event::Kind::done: status = finish_after_done(e.exception.get()); return false;
    }
    return true;
}

int AsgiRequest::finish_after_done(PyObject* exc) {
    if (exc) {
        PYMPM_ASSERT_GIL(); // (without an exception, handled without the GIL)
        if (cancelled_for_timeout_ && PyErr_GivenExceptionMatches(exc, PyExc_BaseException) &&
            std::string(Py_TYPE(exc)->tp_name) == "CancelledError") {
            // Cancelled by PyRequestTimeout: reported as the timeout.
            PyErr_SetNone(core_.ctx.py.request_timeout.get());
        } else {
            // The app's exception becomes the pending one, traceback and
            // all (PyErr_Restore takes the three references).
            PyObject* tb = PyException_GetTraceback(exc); // new reference or null
            Py_INCREF(Py_TYPE(exc));
            Py_INCREF(exc);
            PyErr_Restore(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc, tb);
        }
        const int status = core_.error_response("raised an exception");
        if (completed_ || core_.io.head_sent()) return 0;
        return status;
    }
    if (!started_) {
        // httpd refused the body (it may have answered already), or the
        // client went away: nobody waits for an answer from the app.
        if (const int refused = core_.body.error_status()) return core_.io.head_sent() ? 0 : refused;
        if (disconnected_) return 400;
        return core_.fail_message("the ASGI app returned without sending http.response.start");
    }
    if (!completed_) {
        // It returned without its last body part: the response ends here.
        const int status = core_.response.finish();
        complete_response();
        return status;
    }
    return 0;
}

int AsgiRequest::run(PyObject* app, PyObject* state, bool mount_relative_path) {
    PYMPM_ASSERT_GIL();
    std::string why;
    if (int refused = core_.io.refuse_body_early(why)) {
        core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00051)) + "request body of " + std::string(core_.io.uri()) +
                                      " refused with " + std::to_string(refused) + " before calling " + core_.app_name +
                                      ": " + why);
        return refused;
    }
    PyRef scope = build_scope(state, mount_relative_path);
    if (!scope) return core_.fail("could not get an ASGI scope");
    channel_ = PyRef::steal(new_asgi_channel(asgi_.channel_type.get(), this));
    if (!channel_) return core_.fail("could not get an ASGI channel");
    PyRef scheduled = PyRef::steal(PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(), asgi_.begin.get(),
                                                                app, scope.get(), channel_.get(), nullptr));
    if (!scheduled) return core_.fail("could not be started on the ASGI event loop");
    int status = 0;
    // The events' references die with the GIL: declared before the lease,
    // destroyed after it gives the GIL back.
    std::deque<Event> events;
    {
        // The request thread runs without the GIL while the app runs: it
        // takes it back only for what needs Python, so a small response
        // costs it no contention with the busy loop thread.
        GilRelease released;
        for (bool running = true; running;) {
            // With a receive() waiting for the end, the client is looked at
            // once a second: its going away is what that receive() waits for.
            std::optional<std::chrono::milliseconds> timeout;
            if (waiting_disconnect_) timeout = std::chrono::milliseconds(1000);
            events = wait_events(timeout);
            if (events.empty() && waiting_disconnect_ && core_.io.peer_closed()) {
                GilRelease::Back gil(released);
                disconnected_ = true;
                resolve(waiting_disconnect_.get(), asgi_.disconnect_message.get());
                waiting_disconnect_.reset();
            }
            // A whole batch is handled: the app's return posted with its
            // response ends the request in the same wake-up.
            while (!events.empty()) {
                Event e = std::move(events.front());
                events.pop_front();
                if (needs_python(e)) {
                    GilRelease::Back gil(released);
                    Event mine = std::move(e); // its references die before the GIL goes again
                    running = handle(mine, status) && running;
                    unreleased_.clear();
                } else {
                    // Handled without Python: its references wait for the
                    // GIL, whatever happens.
                    struct Keep {
                        AsgiRequest& r;
                        Event& e;
                        ~Keep() {
                            if (e.body) r.unreleased_.push_back(std::move(e.body));
                        }
                    } keep{*this, e};
                    running = handle(e, status) && running;
                }
            }
        }
    }
    unreleased_.clear();
    {
        // From here the app runs on alone: its done() is its own to report,
        // and a receive() or send() it still makes finds the response over.
        std::lock_guard lock(mutex_);
        finished_ = true;
        events.swap(events_);
    }
    completed_ = true;
    // Posted after the batch that ended the request (the app returned just
    // after its last body part): its exception is still this request's.
    for (Event& e : events) handle(e, status);
    events.clear();
    if (waiting_disconnect_) resolve(waiting_disconnect_.get(), asgi_.disconnect_message.get());
    detach_asgi_channel(channel_.get());
    return status;
}

// The loop's side -------------------------------------------------------------------

PyObject* AsgiRequest::receive() {
    if (disconnected_ || completed_) return PyDict_Copy(asgi_.disconnect_message.get());
    if (!body_delivered_ && core_.io.body_length() == std::optional<std::uint64_t>(0)) {
        // No body: nothing to read from httpd.
        body_delivered_ = true;
        return Py_BuildValue("{O:O,O:O,O:O}", asgi_.k_type.get(), asgi_.v_http_request.get(), asgi_.k_body.get(),
                             asgi_.empty_bytes.get(), asgi_.k_more_body.get(), Py_False);
    }
    PyRef future = PyRef::steal(PyObject_CallNoArgs(asgi_.create_future.get()));
    if (!future) return nullptr;
    // Posted only before the response completes (completed_ is set first).
    post(Event{Event::Kind::receive, future, {}, std::nullopt, PyRef(), false, PyRef()});
    return future.release();
}

PyObject* AsgiRequest::send(PyObject* message) {
    const std::optional<AsgiSendType> type = asgi_send_type(asgi_, message);
    if (!type) return nullptr;
    const bool is_start = *type == AsgiSendType::response_start;
    if (completed_) {
        PyErr_Format(PyExc_RuntimeError, "%S sent after the response was complete",
                     is_start ? asgi_.v_response_start.get() : asgi_.v_response_body.get());
        return nullptr;
    }
    if (disconnected_) {
        PyErr_SetString(core_.ctx.py.client_disconnected.get(), "the client went away");
        return nullptr;
    }
    if (is_start) {
        if (started_) {
            PyErr_SetString(PyExc_RuntimeError, "http.response.start sent twice");
            return nullptr;
        }
        AsgiResponseStart start;
        if (!parse_response_start(asgi_, message, start)) return nullptr;
        Event e{Event::Kind::start, PyRef(), std::move(start.head), start.content_length, PyRef(), false, PyRef()};
        started_ = true;
        hold(std::move(e));
        Py_RETURN_NONE;
    }
    if (!started_) {
        PyErr_SetString(PyExc_RuntimeError, "http.response.body sent before http.response.start");
        return nullptr;
    }
    AsgiResponseBody part;
    if (!parse_response_body(asgi_, message, part)) return nullptr;
    Event e{Event::Kind::body, PyRef(), {}, std::nullopt, std::move(part.body), part.more_body, PyRef()};
    if (!e.more_body) {
        // The last part: the app goes on at once, the request thread ends
        // the response.
        completed_ = true;
        hold(std::move(e));
        Py_RETURN_NONE;
    }
    // A part of a stream: the app waits until it is on its way (flow
    // control).
    e.future = PyRef::steal(PyObject_CallNoArgs(asgi_.create_future.get()));
    if (!e.future) return nullptr;
    PyRef future = e.future;
    post(std::move(e));
    return future.release();
}

bool AsgiRequest::done(PyObject* exc) {
    // The event dies here, after post() let go of the mutex, when refused.
    Event e{
        Event::Kind::done, PyRef(), {}, std::nullopt, PyRef(), false, exc == Py_None ? PyRef() : PyRef::borrow(exc)};
    return post(std::move(e));
}

namespace {

// The app's task; owns its references (see TimeoutTarget).
class TaskTarget final : public TimeoutTarget {
public:
    TaskTarget(PyRef task, PyRef task_stack, PyRef call_soon_threadsafe)
        : task_(std::move(task)), task_stack_(std::move(task_stack)),
          call_soon_threadsafe_(std::move(call_soon_threadsafe)) {}
    const char* stack_name() const override { return "its coroutine stack"; }
    const char* cancel_action() const override { return "its task is cancelled"; }
    std::string stack() const override {
        PYMPM_ASSERT_GIL();
        std::string out;
        if (!task_) return out;
        PyRef text = PyRef::steal(PyObject_CallFunctionObjArgs(task_stack_.get(), task_.get(), nullptr));
        if (text && PyUnicode_Check(text.get()))
            if (const char* s = PyUnicode_AsUTF8(text.get())) out = s;
        PyErr_Clear();
        return out;
    }
    void cancel() override {
        PYMPM_ASSERT_GIL();
        if (!task_) return;
        // On the loop: the task belongs to it.
        PyRef method = PyRef::steal(PyObject_GetAttrString(task_.get(), "cancel"));
        PyRef r = method
                      ? PyRef::steal(PyObject_CallFunctionObjArgs(call_soon_threadsafe_.get(), method.get(), nullptr))
                      : PyRef();
        PyErr_Clear();
    }

private:
    PyRef task_, task_stack_, call_soon_threadsafe_;
};

} // namespace

std::unique_ptr<TimeoutTarget> AsgiRequest::timeout_target(bool cancelling) {
    PYMPM_ASSERT_GIL();
    if (cancelling && task_) cancelled_for_timeout_ = true;
    return task_timeout_target(asgi_, task_);
}

std::unique_ptr<TimeoutTarget> task_timeout_target(const AsgiContext& asgi, PyRef task) {
    return std::make_unique<TaskTarget>(std::move(task), asgi.task_stack, asgi.call_soon_threadsafe);
}

} // namespace pympm
