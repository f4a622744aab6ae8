#include "asgi/asgi_loop.h"

#include "asgi/asgi_awaitable.h"
#include "asgi/asgi_context.h"
#include "asgi/asgi_messages.h"
#include "base/small_fifo.h"
#include "python/eager_task.h"
#include "python/py_err_scope.h"
#include "python/python_entry.h"

#include <algorithm>

namespace pympm {

namespace {

constexpr std::size_t kBodyChunk = 64 * 1024;
constexpr std::size_t kBatch = 64; // work items per wake-up of the loop

// What the loop keeps of a request; dies with the channel object (GIL).
struct ChannelState {
    ChannelState(AsgiContext& a, std::shared_ptr<AsgiExchange> ex) : asgi(a), x(std::move(ex)) {}
    AsgiContext& asgi;
    std::shared_ptr<AsgiExchange> x;
    PyRef task;
    SmallFifo<PyRef> receive_futures; // waiting for a body chunk, in order (some may be cancelled since)
    std::size_t reads_posted = 0;     // read_body events whose chunk has not come back yet
    // Chunks read for a receive() that no longer waited (cancelled): the
    // next receive() takes them first, as under uvicorn nothing is lost.
    struct Unclaimed {
        PyRef message;
        bool end;
    };
    SmallFifo<Unclaimed> unclaimed;
    std::size_t given_back = 0;    // unclaimed's first items: answers given back (give_back), in their order
    SmallFifo<PyRef> send_futures; // streamed parts on their way, in order
    // receive() calls after the body, each waiting for the end (Starlette's
    // listen_for_disconnect beside request.is_disconnected()): all answered
    // at the disconnect or the request's end.
    SmallFifo<PyRef> end_futures;
    bool started = false;        // http.response.start sent
    bool body_delivered = false; // the last chunk was handed to the app
    bool end_posted = false;
    bool done_posted = false;
    // http.response.start, held until the first part or the app's end: the
    // request thread writes nothing for a head alone.
    bool have_head = false;
    ResponseHead head;
    std::optional<std::uint64_t> content_length;
};

struct ChannelObject {
    PyObject_HEAD ChannelState* st;
};

ChannelState* state(PyObject* channel) { return reinterpret_cast<ChannelObject*>(channel)->st; }

void resolve(AsgiContext& asgi, const PyRef& future, PyObject* value) {
    if (!future) return;
    PyRef r = PyRef::steal(PyObject_CallFunctionObjArgs(asgi.resolve.get(), future.get(), value, nullptr));
    if (!r) PyErr_Clear();
}

void reject_disconnected(AsgiContext& asgi, const PyRef& future) {
    if (!future) return;
    PyRef exc = PyRef::steal(PyObject_CallFunction(asgi.pympm->client_disconnected.get(), "s", "the client went away"));
    PyRef r =
        exc ? PyRef::steal(PyObject_CallFunctionObjArgs(asgi.reject.get(), future.get(), exc.get(), nullptr)) : PyRef();
    if (!r) PyErr_Clear();
}

// A disconnect message of the app's own: the app may change what it
// receives, and the next request must not see that.
PyObject* disconnect_copy(AsgiContext& asgi) { return PyDict_Copy(asgi.disconnect_message.get()); }

void resolve_disconnected(AsgiContext& asgi, const PyRef& future) {
    if (!future) return;
    PyRef message = PyRef::steal(disconnect_copy(asgi));
    if (!message) {
        PyErr_Clear();
        reject_disconnected(asgi, future);
        return;
    }
    resolve(asgi, future, message.get());
}

// Whether `future` is done (cancelled, most likely); an error counts as done.
bool future_done(AsgiContext& asgi, const PyRef& future) {
    PyRef r = PyRef::steal(PyObject_CallMethodNoArgs(future.get(), asgi.done_name.get()));
    if (!r) {
        PyErr_Clear();
        return true;
    }
    return r.get() != Py_False;
}

// Futures of receive() calls whose tasks were cancelled since, dropped.
void drop_done(AsgiContext& asgi, SmallFifo<PyRef>& futures) {
    futures.erase_if([&](const PyRef& f) { return future_done(asgi, f); });
}

// The first future still waiting, taken off the list; null if none.
PyRef take_waiting(AsgiContext& asgi, SmallFifo<PyRef>& futures) {
    while (!futures.empty()) {
        PyRef f = futures.take_front();
        if (!future_done(asgi, f)) return f;
    }
    return PyRef();
}

void end_wait_ends(ChannelState& st) {
    SmallFifo<PyRef> waiting;
    std::swap(waiting, st.end_futures);
    while (!waiting.empty()) resolve_disconnected(st.asgi, waiting.take_front());
}

// The first receive() still waiting for a chunk, taken off the list; null
// if none.
PyRef take_body_waiter(ChannelState& st) { return take_waiting(st.asgi, st.receive_futures); }

// A body chunk to the first receive() still waiting; one nobody waits for
// any more is kept for the next receive(). `given_back`: an answer whose
// cancelled task never took it (give_back), which comes before what was
// read after it, and after what was given back before it.
void deliver(ChannelState& st, PyRef message, bool end, bool given_back) {
    if (PyRef f = take_body_waiter(st)) {
        if (end) st.body_delivered = true;
        resolve(st.asgi, f, message.get());
        return;
    }
    if (!given_back) {
        st.unclaimed.push_back({std::move(message), end});
        return;
    }
    // A receive() made once this last chunk was out waits for the end: the
    // chunk is its answer, as under uvicorn.
    if (PyRef f = end ? take_waiting(st.asgi, st.end_futures) : PyRef()) {
        st.body_delivered = true;
        resolve(st.asgi, f, message.get());
        return;
    }
    st.unclaimed.insert(st.given_back++, {std::move(message), end});
}

void move_head(ChannelState& st, AsgiEvent& e) {
    if (!st.have_head) return;
    st.have_head = false;
    e.has_head = true;
    e.head = std::move(st.head);
    e.content_length = st.content_length;
}

bool post_done(ChannelState& st, AppFailure failure) {
    st.done_posted = true;
    st.task.reset(); // the task holds the channel (through the app's receive/send): no cycle
    AsgiEvent e;
    e.kind = AsgiEvent::Kind::done;
    move_head(st, e);
    e.failure = std::move(failure);
    return st.x->post(std::move(e));
}

// The channel's methods -------------------------------------------------------------

PyObject* receive(ChannelState& st) {
    AsgiContext& asgi = st.asgi;
    AsgiExchange& x = *st.x;
    // After the response completed, the client went away or the request
    // ended (the app goes on after its response): the spec's disconnect.
    if (x.disconnected || x.completed || x.finished()) return disconnect_copy(asgi);
    if (!st.unclaimed.empty()) {
        // Read for a receive() that was cancelled: this one's.
        ChannelState::Unclaimed u = st.unclaimed.take_front();
        if (st.given_back > 0) --st.given_back;
        if (u.end) st.body_delivered = true;
        return u.message.release();
    }
    if (!st.body_delivered && x.head.body_length == std::optional<std::uint64_t>(0)) {
        // No body: nothing to read from httpd.
        st.body_delivered = true;
        return Py_BuildValue("{O:O,O:O,O:O}", asgi.k_type.get(), asgi.v_http_request.get(), asgi.k_body.get(),
                             asgi.empty_bytes.get(), asgi.k_more_body.get(), Py_False);
    }
    PyRef future = PyRef::steal(PyObject_CallNoArgs(asgi.create_future.get()));
    if (!future) return nullptr;
    if (st.body_delivered) {
        // Nothing more to read: answered when the response completes or the
        // client goes away (the request thread watches it); every receive()
        // that waits for it is answered then, as under uvicorn.
        drop_done(asgi, st.end_futures);
        st.end_futures.push_back(future);
        if (!st.end_posted) {
            st.end_posted = true;
            AsgiEvent e;
            e.kind = AsgiEvent::Kind::wait_end;
            if (!x.post(std::move(e))) end_wait_ends(st);
        }
        return future.release();
    }
    // A read still on its way whose receive() was cancelled serves this
    // one: no second read for it.
    drop_done(asgi, st.receive_futures);
    if (st.reads_posted <= st.receive_futures.size()) {
        AsgiEvent e;
        e.kind = AsgiEvent::Kind::read_body;
        e.max = kBodyChunk;
        if (!x.post(std::move(e))) return disconnect_copy(asgi);
        ++st.reads_posted;
    }
    st.receive_futures.push_back(future);
    return future.release();
}

PyObject* send(ChannelState& st, PyObject* message) {
    AsgiContext& asgi = st.asgi;
    AsgiExchange& x = *st.x;
    const std::optional<AsgiSendType> type = asgi_send_type(asgi, message);
    if (!type) return nullptr;
    const bool is_start = *type == AsgiSendType::response_start;
    if (x.completed || x.finished()) {
        // Whether the request thread is done with it yet or not: one rule.
        PyErr_Format(PyExc_RuntimeError, "%S sent after the response was complete",
                     is_start ? asgi.v_response_start.get() : asgi.v_response_body.get());
        return nullptr;
    }
    if (x.disconnected) {
        PyErr_SetString(asgi.pympm->client_disconnected.get(), "the client went away");
        return nullptr;
    }
    if (is_start) {
        if (st.started) {
            PyErr_SetString(PyExc_RuntimeError, "http.response.start sent twice");
            return nullptr;
        }
        AsgiResponseStart start;
        if (!parse_response_start(asgi, message, start)) return nullptr;
        st.started = st.have_head = true;
        st.head = std::move(start.head);
        st.content_length = start.content_length;
        Py_RETURN_NONE;
    }
    if (!st.started) {
        PyErr_SetString(PyExc_RuntimeError, "http.response.body sent before http.response.start");
        return nullptr;
    }
    AsgiResponseBody part;
    if (!parse_response_body(asgi, message, part)) return nullptr;
    AsgiEvent e;
    e.kind = AsgiEvent::Kind::body;
    move_head(st, e);
    // Copied: the request thread writes it without the GIL, and every
    // reference dies here, on the loop.
    e.data.assign(PyBytes_AS_STRING(part.body.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(part.body.get())));
    e.more_body = part.more_body;
    if (!e.more_body) {
        // The last part: the app goes on at once, the request thread ends
        // the response; a receive() waiting for the end has it.
        x.completed = true;
        x.post(std::move(e));
        end_wait_ends(st);
        Py_RETURN_NONE;
    }
    // A part of a stream: the app waits until it is on its way (flow
    // control).
    PyRef future = PyRef::steal(PyObject_CallNoArgs(asgi.create_future.get()));
    if (!future) return nullptr;
    e.ack = true;
    if (!x.post(std::move(e))) {
        PyErr_SetString(asgi.pympm->client_disconnected.get(), "the client went away");
        return nullptr;
    }
    st.send_futures.push_back(future);
    return future.release();
}

// The app returned (None) or raised. False once the request has ended (its
// response was complete): the caller reports the exception.
PyObject* done(ChannelState& st, PyObject* exc) {
    if (st.done_posted) Py_RETURN_FALSE;
    AppFailure f;
    if (exc != Py_None) f = classify_app_exception(st.asgi, exc, st.x->cancelled_for_timeout);
    return PyBool_FromLong(post_done(st, std::move(f)));
}

PyObject* ch_receive(PyObject* self, PyObject*) {
    return python_entry([&]() -> PyObject* { return receive(*state(self)); });
}

PyObject* ch_send(PyObject* self, PyObject* message) {
    return python_entry([&]() -> PyObject* { return send(*state(self), message); });
}

// A body chunk resolved for a receive() whose task was cancelled before it
// took it: first in line for the next receive(). (A disconnect needs no
// keeping: the exchange says so to the next one.)
void give_back(ChannelState& st, PyObject* answer) {
    AsgiContext& asgi = st.asgi;
    if (!PyDict_CheckExact(answer) || PyDict_GetItemWithError(answer, asgi.k_type.get()) != asgi.v_http_request.get()) {
        PyErr_Clear();
        return;
    }
    PyObject* more = PyDict_GetItemWithError(answer, asgi.k_more_body.get());
    PyErr_Clear();
    const bool end = more == Py_False;
    if (end) st.body_delivered = false;
    deliver(st, PyRef::borrow(answer), end, true);
}

void ch_give_back(PyObject* self, PyObject* answer) {
    if (python_entry([&]() -> int {
            give_back(*state(self), answer);
            return 0;
        }) != 0)
        PyErr_Clear();
}

// What the app gets as receive() and send(): callables whose awaitables
// run the methods above when awaited (asgi/asgi_awaitable.h).
PyObject* ch_get_app_receive(PyObject* self, void*) {
    return new_app_caller(state(self)->asgi, self, ch_receive, false, ch_give_back);
}

PyObject* ch_get_app_send(PyObject* self, void*) { return new_app_caller(state(self)->asgi, self, ch_send, true); }

PyObject* ch_done(PyObject* self, PyObject* exc) {
    return python_entry([&]() -> PyObject* { return done(*state(self), exc); });
}

// A line the app's task wrote (sys.stdout, sys.stderr): to the request's
// log, by its thread, which alone may use the request. False once the
// request ended: the caller logs it to the child's log.
PyObject* ch_log(PyObject* self, PyObject* args) {
    return python_entry([&]() -> PyObject* {
        int level = 0;
        const char* text = nullptr;
        Py_ssize_t len = 0;
        if (!PyArg_ParseTuple(args, "iy#", &level, &text, &len)) return nullptr;
        AsgiEvent e;
        e.kind = AsgiEvent::Kind::log;
        e.level = static_cast<LogLevel>(std::clamp(level, 0, 7));
        e.data.assign(text, static_cast<std::size_t>(len));
        return PyBool_FromLong(state(self)->x->post(std::move(e)));
    });
}

int ch_set_task(PyObject* self, PyObject* value, void*) {
    return python_entry([&]() -> int {
        ChannelState& st = *state(self);
        // Kept only while the app runs: the task refers to this channel.
        if (!st.done_posted) st.task = value ? PyRef::borrow(value) : PyRef();
        return 0;
    });
}

PyObject* ch_get_task(PyObject* self, void*) {
    ChannelState& st = *state(self);
    PyObject* t = st.task ? st.task.get() : Py_None;
    Py_INCREF(t);
    return t;
}

void ch_dealloc(PyObject* self) {
    PyTypeObject* tp = Py_TYPE(self);
    ChannelState* st = state(self);
    if (st) {
        st->x->channel = nullptr;
        // An app whose coroutine was dropped before it ended (the loop
        // closed): its request thread must not wait for ever.
        if (!st->done_posted) {
            AppFailure f;
            f.kind = AppFailure::Kind::unavailable;
            post_done(*st, std::move(f));
        }
        delete st;
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyMethodDef ch_methods[] = {
    {"receive", ch_receive, METH_NOARGS, "receive(): the next message, or a future of it"},
    {"send", ch_send, METH_O, "send(message): None when done, or a future"},
    {"done", ch_done, METH_O, "done(exc_or_None): the app returned or raised; False if the request had ended"},
    {"log", ch_log, METH_VARARGS, "log(level, bytes): a line for the request's log; False if the request had ended"},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef ch_getset[] = {{"task", ch_get_task, ch_set_task, "the asyncio task running the app", nullptr},
                           {"app_receive", ch_get_app_receive, nullptr, "the app's receive (a new one)", nullptr},
                           {"app_send", ch_get_app_send, nullptr, "the app's send (a new one)", nullptr},
                           {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot ch_slots[] = {{Py_tp_methods, ch_methods},
                          {Py_tp_getset, ch_getset},
                          {Py_tp_dealloc, reinterpret_cast<void*>(ch_dealloc)},
                          {Py_tp_doc, const_cast<char*>("the server's side of one ASGI request")},
                          {0, nullptr}};

PyType_Spec ch_spec = {"pympm.AsgiChannel", sizeof(ChannelObject), 0, Py_TPFLAGS_DEFAULT, ch_slots};

PyObject* new_channel(AsgiContext& asgi, const std::shared_ptr<AsgiExchange>& x) {
    auto* tp = reinterpret_cast<PyTypeObject*>(asgi.channel_type.get());
    PyObject* o = tp->tp_alloc(tp, 0);
    if (!o) return nullptr;
    try {
        reinterpret_cast<ChannelObject*>(o)->st = new ChannelState(asgi, x);
    } catch (...) {
        Py_DECREF(o);
        return PyErr_NoMemory();
    }
    x->channel = o;
    return o;
}

// The work items -------------------------------------------------------------------

ChannelState* live_state(const std::shared_ptr<AsgiExchange>& x) { return x->channel ? state(x->channel) : nullptr; }

class StartWork final : public LoopWork {
public:
    StartWork(std::shared_ptr<AsgiExchange> x, const AsgiMount& m) : x_(std::move(x)), mount_(m) {}
    void run() noexcept override {
        AsgiContext& asgi = x_->asgi();
        PyRef scope = build_asgi_scope(asgi, x_->head, mount_.lifespan_state, mount_.path_without_mount);
        PyRef channel = scope ? PyRef::steal(new_channel(asgi, x_)) : PyRef();
        if (channel && begin_asgi_app(asgi, mount_.app, scope.get(), channel.get())) return;
        AppFailure f;
        f.kind = AppFailure::Kind::raised;
        f.what = "could not be started on the ASGI event loop";
        f.traceback = take_python_error(*asgi.pympm);
        if (ChannelState* st = live_state(x_)) {
            // The app may have answered in its eager first step, which
            // posted its done: the request thread takes one only.
            if (!st->done_posted) post_done(*st, std::move(f));
        } else {
            post_failure(std::move(f));
        }
    }
    void abandon() noexcept override {
        AppFailure f;
        f.kind = AppFailure::Kind::unavailable;
        post_failure(std::move(f));
    }

private:
    void post_failure(AppFailure f) {
        AsgiEvent e;
        e.kind = AsgiEvent::Kind::done;
        e.failure = std::move(f);
        x_->post(std::move(e));
    }
    std::shared_ptr<AsgiExchange> x_;
    AsgiMount mount_;
};

class BodyWork final : public LoopWork {
public:
    BodyWork(std::shared_ptr<AsgiExchange> x, std::string data, bool end, bool failed)
        : x_(std::move(x)), data_(std::move(data)), end_(end), failed_(failed) {}
    void run() noexcept override {
        ChannelState* st = live_state(x_);
        if (!st) return;
        AsgiContext& asgi = st->asgi;
        if (st->reads_posted > 0) --st->reads_posted;
        if (failed_) {
            resolve_disconnected(asgi, take_body_waiter(*st));
            return;
        }
        PyRef message = PyRef::steal(PyDict_New());
        PyRef chunk = PyRef::steal(PyBytes_FromStringAndSize(data_.data(), static_cast<Py_ssize_t>(data_.size())));
        if (!message || !chunk || PyDict_SetItem(message.get(), asgi.k_type.get(), asgi.v_http_request.get()) != 0 ||
            PyDict_SetItem(message.get(), asgi.k_body.get(), chunk.get()) != 0 ||
            PyDict_SetItem(message.get(), asgi.k_more_body.get(), end_ ? Py_False : Py_True) != 0) {
            PyErr_Clear();
            resolve_disconnected(asgi, take_body_waiter(*st));
            return;
        }
        deliver(*st, std::move(message), end_, false);
    }

private:
    std::shared_ptr<AsgiExchange> x_;
    std::string data_;
    bool end_, failed_;
};

class SentWork final : public LoopWork {
public:
    SentWork(std::shared_ptr<AsgiExchange> x, bool ok) : x_(std::move(x)), ok_(ok) {}
    void run() noexcept override {
        ChannelState* st = live_state(x_);
        if (!st || st->send_futures.empty()) return;
        PyRef future = st->send_futures.take_front();
        if (ok_) {
            resolve(st->asgi, future, Py_None);
            return;
        }
        reject_disconnected(st->asgi, future);
        end_wait_ends(*st);
    }

private:
    std::shared_ptr<AsgiExchange> x_;
    bool ok_;
};

class DisconnectedWork final : public LoopWork {
public:
    explicit DisconnectedWork(std::shared_ptr<AsgiExchange> x) : x_(std::move(x)) {}
    void run() noexcept override {
        if (ChannelState* st = live_state(x_)) end_wait_ends(*st);
    }

private:
    std::shared_ptr<AsgiExchange> x_;
};

// The reader callback: one burst per wake-up, bounded.
PyObject* drain(PyObject* self, PyObject*) {
    return python_entry([&]() -> PyObject* {
        auto* asgi = static_cast<AsgiContext*>(PyCapsule_GetPointer(self, "pympm.asgi"));
        if (!asgi) return nullptr;
        std::vector<std::unique_ptr<LoopWork>> batch;
        batch.reserve(kBatch);
        asgi->inbox.take(batch, kBatch);
        for (auto& w : batch) {
            w->run();
            if (PyErr_Occurred()) PyErr_Clear();
            w.reset(); // its references (none Python) go before the next runs
        }
        // More queued: the loop runs its other ready callbacks (timers, the
        // steps of running tasks), then this again, without sleeping.
        if (asgi->drain && asgi->inbox.more_left()) {
            PyRef again = PyRef::steal(PyObject_CallOneArg(asgi->call_soon.get(), asgi->drain.get()));
            if (!again) PyErr_Clear();
        }
        Py_RETURN_NONE;
    });
}

PyMethodDef drain_def = {"_asgi_drain_inbox", drain, METH_NOARGS, "takes the requests queued for the loop"};

} // namespace

// The app's exception, classified and formatted here (the request thread
// runs no Python).
AppFailure classify_app_exception(AsgiContext& asgi, PyObject* exc, bool cancelled_for_timeout) {
    AppFailure f;
    const PympmModule& py = *asgi.pympm;
    if (cancelled_for_timeout && std::string_view(Py_TYPE(exc)->tp_name) == "CancelledError") {
        f.kind = AppFailure::Kind::timeout;
        return f;
    }
    const bool disconnect_class = PyErr_GivenExceptionMatches(exc, py.client_disconnected.get()) ||
                                  PyErr_GivenExceptionMatches(exc, py.request_body_error.get());
    f.kind = disconnect_class ? AppFailure::Kind::disconnect_class : AppFailure::Kind::raised;
    f.type_name = Py_TYPE(exc)->tp_name;
    if (disconnect_class) {
        PyRef text = PyRef::steal(PyObject_Str(exc));
        const char* s = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
        f.message = s ? s : "?";
        PyErr_Clear();
    }
    // The traceback, as for a WSGI app.
    PyErrScope::raise(PyRef::borrow(exc));
    f.traceback = take_python_error(py);
    return f;
}

namespace {

struct Prepared {
    AsgiContext& asgi;
    PyObject* channel;
};

// In the task's context, before its first step: what _asgi_serve does
// otherwise (the channel knows its task; the channel is the context's
// request, for print()).
int prepare_task(void* arg, PyObject* task) {
    auto* p = static_cast<Prepared*>(arg);
    if (PyObject_SetAttr(p->channel, p->asgi.task_name.get(), task) != 0) return -1;
    PyObject* token = PyContextVar_Set(p->asgi.request_var.get(), p->channel);
    if (!token) return -1;
    Py_DECREF(token);
    return 0;
}

} // namespace

bool begin_asgi_app(AsgiContext& asgi, PyObject* app, PyObject* scope, PyObject* channel) {
    PYMPM_ASSERT_GIL();
    // PyAsgiEagerStart On on 3.11: started here, the task prepared by C++;
    // else (Off, 3.12's own eager start, a loop with a task factory or a
    // call_soon of the app's) _asgi_serve prepares it.
    PyObject* starter = asgi.start_task.get();
    const bool ours = is_eager_task_starter(starter);
    const int native = ours ? eager_task_ready(starter) : 0;
    if (native < 0) return false;
    PyObject* args[] = {app, scope, channel, native ? Py_True : Py_False};
    PyRef coro = PyRef::steal(PyObject_Vectorcall(asgi.serve.get(), args, 4, nullptr));
    Prepared prepared{asgi, channel};
    PyRef task = !coro    ? PyRef()
                 : native ? PyRef::steal(eager_task_start(starter, coro.get(), prepare_task, &prepared))
                 : ours   ? PyRef::steal(eager_task_schedule(starter, coro.get()))
                          : PyRef::steal(PyObject_CallOneArg(starter, coro.get()));
    PyRef done = task ? PyRef::steal(PyObject_CallMethodNoArgs(task.get(), asgi.done_name.get())) : PyRef();
    if (!done) return false;
    if (done.get() == Py_True) return true; // answered in its first step: never scheduled
    PyObject* kept[] = {task.get(), channel};
    return static_cast<bool>(PyRef::steal(PyObject_Vectorcall(asgi.track.get(), kept, 2, nullptr)));
}

std::unique_ptr<LoopWork> asgi_start_work(std::shared_ptr<AsgiExchange> x, const AsgiMount& mount) {
    return std::make_unique<StartWork>(std::move(x), mount);
}
std::unique_ptr<LoopWork> asgi_body_work(std::shared_ptr<AsgiExchange> x, std::string data, bool end, bool failed) {
    return std::make_unique<BodyWork>(std::move(x), std::move(data), end, failed);
}
std::unique_ptr<LoopWork> asgi_sent_work(std::shared_ptr<AsgiExchange> x, bool ok) {
    return std::make_unique<SentWork>(std::move(x), ok);
}
std::unique_ptr<LoopWork> asgi_disconnected_work(std::shared_ptr<AsgiExchange> x) {
    return std::make_unique<DisconnectedWork>(std::move(x));
}

PyRef make_asgi_channel_type() { return PyRef::steal(PyType_FromSpec(&ch_spec)); }

PyRef asgi_channel_task(PyObject* channel) {
    if (!channel) return PyRef();
    return state(channel)->task;
}

PyRef make_asgi_drain(AsgiContext& asgi) {
    PyRef capsule = PyRef::steal(PyCapsule_New(&asgi, "pympm.asgi", nullptr));
    return capsule ? PyRef::steal(PyCFunction_New(&drain_def, capsule.get())) : PyRef();
}

// The timeout target (exchange's side) ---------------------------------------------

namespace {

// The app's task; owns its references (see TimeoutTarget).
class TaskTarget final : public TimeoutTarget {
public:
    TaskTarget(PyRef task, PyRef task_stack, PyRef call_soon_threadsafe, bool cancellable)
        : task_(std::move(task)), task_stack_(std::move(task_stack)),
          call_soon_threadsafe_(std::move(call_soon_threadsafe)), cancellable_(cancellable) {}
    const char* stack_name() const override { return "its coroutine stack"; }
    const char* cancel_action() const override { return "its task is cancelled"; }
    std::string stack() const override {
        PYMPM_ASSERT_GIL();
        return call_for_text(task_stack_.get(), task_.get());
    }
    void cancel() override {
        PYMPM_ASSERT_GIL();
        if (!task_ || !cancellable_) return;
        // On the loop: the task belongs to it.
        PyRef method = PyRef::steal(PyObject_GetAttrString(task_.get(), "cancel"));
        PyRef r = method
                      ? PyRef::steal(PyObject_CallFunctionObjArgs(call_soon_threadsafe_.get(), method.get(), nullptr))
                      : PyRef();
        PyErr_Clear();
    }

private:
    PyRef task_, task_stack_, call_soon_threadsafe_;
    bool cancellable_;
};

} // namespace

std::unique_ptr<TimeoutTarget> asgi_task_target(const AsgiContext& asgi, PyRef task, bool cancellable) {
    return std::make_unique<TaskTarget>(std::move(task), asgi.task_stack, asgi.call_soon_threadsafe, cancellable);
}

std::unique_ptr<TimeoutTarget> AsgiExchange::timeout_target(bool cancelling) {
    PYMPM_ASSERT_GIL();
    PyRef task = asgi_channel_task(channel);
    // Work after the response is not timed: nothing to cancel then.
    const bool cancellable = task && !completed;
    if (cancelling && cancellable) cancelled_for_timeout = true;
    return asgi_task_target(asgi_, task, cancellable);
}

} // namespace pympm
