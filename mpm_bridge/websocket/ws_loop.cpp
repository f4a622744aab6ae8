#include "websocket/ws_loop.h"

#include "asgi/asgi_awaitable.h"
#include "asgi/asgi_context.h"
#include "python/python_entry.h"
#include "websocket/ws_exchange.h"
#include "websocket/ws_names.h"

#include <vector>

namespace pympm {

namespace {

// What the loop keeps of a WebSocket; dies with the channel object (GIL).
struct ChannelState {
    ChannelState(AsgiContext& a, std::shared_ptr<WsExchange> ex) : asgi(a), names(ex->names()), x(std::move(ex)) {}
    AsgiContext& asgi;
    WsNames& names;
    std::shared_ptr<WsExchange> x;
    PyRef task;
    PyRef receive_future;            // a receive() waiting
    std::vector<PyRef> send_futures; // sends waiting for the queue to drain
    bool connect_delivered = false;
    bool accepted = false;  // websocket.accept sent
    bool closed = false;    // websocket.close sent (or the denial started)
    bool http_done = false; // the denial's last body part sent
    bool done_posted = false;
};

struct ChannelObject {
    PyObject_HEAD ChannelState* st;
};

ChannelState* state(PyObject* channel) { return reinterpret_cast<ChannelObject*>(channel)->st; }

ChannelState* live_state(const std::shared_ptr<WsExchange>& x) { return x->channel ? state(x->channel) : nullptr; }

void call(const PyRef& fn, PyObject* a, PyObject* b) {
    PyRef r = PyRef::steal(PyObject_CallFunctionObjArgs(fn.get(), a, b, nullptr));
    if (!r) PyErr_Clear();
}

PyObject* message_of(ChannelState& st, WsData&& d) {
    PyRef value =
        PyRef::steal(d.text ? PyUnicode_DecodeUTF8(d.data.data(), static_cast<Py_ssize_t>(d.data.size()), "strict")
                            : PyBytes_FromStringAndSize(d.data.data(), static_cast<Py_ssize_t>(d.data.size())));
    if (!value) return nullptr;
    return Py_BuildValue("{O:O,O:O}", st.asgi.k_type.get(), st.names.v_receive.get(),
                         d.text ? st.names.k_text.get() : st.names.k_bytes.get(), value.get());
}

PyObject* disconnect_message(ChannelState& st, std::uint16_t code, const std::string& why) {
    PyRef reason = PyRef::steal(PyUnicode_DecodeUTF8(why.data(), static_cast<Py_ssize_t>(why.size()), "replace"));
    if (!reason) return nullptr;
    return Py_BuildValue("{O:O,O:i,O:O}", st.asgi.k_type.get(), st.names.v_disconnect.get(), st.names.k_code.get(),
                         static_cast<int>(code), st.names.k_reason.get(), reason.get());
}

// Null without an exception: nothing yet. Built after the exchange's mutex
// was let go (no Python under a leaf mutex).
PyObject* build(ChannelState& st, WsExchange::Next&& n) {
    if (n.wake_reader) st.x->wake(); // the request thread paused on a full queue
    if (n.data) return message_of(st, std::move(*n.data));
    if (n.ended) return disconnect_message(st, n.code, n.reason);
    return nullptr;
}

bool post_done(ChannelState& st, AppFailure failure) {
    st.done_posted = true;
    st.task.reset(); // the task holds the channel (through the app's receive/send): no cycle
    WsOut o;
    o.done = true;
    o.failure = std::move(failure);
    return st.x->post(std::move(o));
}

void set_closed(ChannelState& st, PyObject* exc_type, const char* text) {
    PyErr_SetString(exc_type ? exc_type : st.asgi.pympm->client_disconnected.get(), text);
}

// The channel's methods -------------------------------------------------------------

PyObject* receive(ChannelState& st) {
    if (!st.connect_delivered) {
        st.connect_delivered = true;
        return PyDict_Copy(st.names.connect_message.get());
    }
    if (st.receive_future) {
        PyErr_SetString(PyExc_RuntimeError, "websocket receive() called while another receive() waits");
        return nullptr;
    }
    if (PyObject* m = build(st, st.x->take_next(false))) return m;
    if (PyErr_Occurred()) return nullptr;
    PyRef future = PyRef::steal(PyObject_CallNoArgs(st.asgi.create_future.get()));
    if (!future) return nullptr;
    // It may have come in meanwhile: then answered at once. Else the
    // request thread pushes a delivery once it has one.
    if (PyObject* m = build(st, st.x->take_next(true))) return m;
    if (PyErr_Occurred()) return nullptr;
    st.receive_future = future;
    return future.release();
}

PyObject* send(ChannelState& st, PyObject* message) {
    AsgiContext& asgi = st.asgi;
    const std::optional<WsSendType> type = ws_send_type(asgi, st.names, message);
    if (!type) return nullptr;
    if (st.http_done) {
        PyErr_SetString(PyExc_RuntimeError, "a message sent after the denial response was complete");
        return nullptr;
    }
    WsOut o;
    o.kind = *type;
    switch (*type) {
    case WsSendType::accept:
        if (st.accepted || st.closed) {
            PyErr_SetString(PyExc_RuntimeError, st.accepted ? "websocket.accept sent twice"
                                                            : "websocket.accept sent after websocket.close");
            return nullptr;
        }
        if (!parse_accept(asgi, st.names, message, st.x->subprotocols, o.accept)) return nullptr;
        st.accepted = true;
        break;
    case WsSendType::send:
        if (!st.accepted || st.closed) {
            PyErr_SetString(PyExc_RuntimeError, st.closed ? "Cannot call \"send\" once a close message has been sent"
                                                          : "websocket.send sent before websocket.accept");
            return nullptr;
        }
        if (!parse_send(st.names, message, o.data)) return nullptr;
        break;
    case WsSendType::close:
        if (st.closed) {
            PyErr_SetString(PyExc_RuntimeError, "Cannot call \"send\" once a close message has been sent");
            return nullptr;
        }
        if (!parse_close(st.names, message, o.close)) return nullptr;
        st.closed = true;
        break;
    case WsSendType::http_start:
        if (st.accepted || st.closed) {
            PyErr_SetString(PyExc_RuntimeError, "websocket.http.response.start sent after the handshake was answered");
            return nullptr;
        }
        if (!parse_response_start(asgi, message, o.start)) return nullptr;
        st.closed = true;
        break;
    case WsSendType::http_body: {
        if (st.accepted || !st.closed || st.http_done) {
            PyErr_SetString(PyExc_RuntimeError,
                            "websocket.http.response.body sent without websocket.http.response.start");
            return nullptr;
        }
        AsgiResponseBody part;
        if (!parse_response_body(asgi, message, part)) return nullptr;
        // Copied: the request thread writes it without the GIL.
        o.body.assign(PyBytes_AS_STRING(part.body.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(part.body.get())));
        o.more_body = part.more_body;
        if (!o.more_body) st.http_done = true;
        break;
    }
    }
    if (*type == WsSendType::send && st.x->ended()) {
        set_closed(st, nullptr, "the WebSocket is closed");
        return nullptr;
    }
    bool over_high = false;
    if (!st.x->post(std::move(o), *type == WsSendType::send ? &over_high : nullptr)) {
        set_closed(st, nullptr, "the WebSocket is closed");
        return nullptr;
    }
    if (!over_high) Py_RETURN_NONE;
    // Flow control: the app waits until the request thread caught up (it
    // pushes a delivery below kWriteLow bytes queued).
    PyRef future = PyRef::steal(PyObject_CallNoArgs(asgi.create_future.get()));
    if (!future) return nullptr;
    st.send_futures.push_back(future);
    return future.release();
}

// The app returned (None) or raised. False once the WebSocket has ended:
// the caller reports the exception.
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

// What the app gets as receive() and send(): callables whose awaitables
// run the methods above when awaited (asgi/asgi_awaitable.h).
PyObject* ch_get_app_receive(PyObject* self, void*) {
    return new_app_caller(state(self)->asgi, self, ch_receive, false);
}

PyObject* ch_get_app_send(PyObject* self, void*) { return new_app_caller(state(self)->asgi, self, ch_send, true); }

PyObject* ch_done(PyObject* self, PyObject* exc) {
    return python_entry([&]() -> PyObject* { return done(*state(self), exc); });
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
    if (ChannelState* st = state(self)) {
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
    {"done", ch_done, METH_O, "done(exc_or_None): the app returned or raised; False if the WebSocket had ended"},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef ch_getset[] = {{"task", ch_get_task, ch_set_task, "the asyncio task running the app", nullptr},
                           {"app_receive", ch_get_app_receive, nullptr, "the app's receive (a new one)", nullptr},
                           {"app_send", ch_get_app_send, nullptr, "the app's send (a new one)", nullptr},
                           {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot ch_slots[] = {{Py_tp_methods, ch_methods},
                          {Py_tp_getset, ch_getset},
                          {Py_tp_dealloc, reinterpret_cast<void*>(ch_dealloc)},
                          {Py_tp_doc, const_cast<char*>("the server's side of one ASGI WebSocket")},
                          {0, nullptr}};

PyType_Spec ch_spec = {"pympm.WebSocketChannel", sizeof(ChannelObject), 0, Py_TPFLAGS_DEFAULT, ch_slots};

PyObject* new_channel(AsgiContext& asgi, const std::shared_ptr<WsExchange>& x) {
    auto* tp = reinterpret_cast<PyTypeObject*>(x->names().channel_type.get());
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

// The scope: an HTTP scope's keys, then the WebSocket's (ASGI WebSocket 2.4).
PyRef build_scope(AsgiContext& asgi, WsExchange& x, const AsgiMount& mount) {
    WsNames& names = x.names();
    PyRef scope = build_asgi_scope(asgi, x.head, mount.lifespan_state, mount.path_without_mount);
    if (!scope) return scope;
    PyObject* d = scope.get();
    PyRef subprotocols = PyRef::steal(PyList_New(0));
    if (!subprotocols) return PyRef();
    for (const std::string& p : x.subprotocols) {
        PyRef s = PyRef::steal(PyUnicode_DecodeUTF8(p.data(), static_cast<Py_ssize_t>(p.size()), "surrogateescape"));
        if (!s || PyList_Append(subprotocols.get(), s.get()) != 0) return PyRef();
    }
    // Dicts of the app's own: an app may change its scope.
    PyRef extensions = PyRef::steal(PyDict_Copy(names.extensions.get()));
    PyRef version = PyRef::steal(PyDict_Copy(names.asgi_version.get()));
    if (!extensions || !version || PyDict_SetItem(d, asgi.k_type.get(), names.v_websocket.get()) != 0 ||
        PyDict_SetItem(d, asgi.k_asgi.get(), version.get()) != 0 ||
        PyDict_SetItem(d, asgi.k_scheme.get(), x.head.https ? names.v_wss.get() : names.v_ws.get()) != 0 ||
        PyDict_SetItem(d, names.k_subprotocols.get(), subprotocols.get()) != 0 ||
        PyDict_SetItem(d, names.k_extensions.get(), extensions.get()) != 0 ||
        PyDict_DelItem(d, asgi.k_method.get()) != 0)
        return PyRef();
    return scope;
}

// The work items -------------------------------------------------------------------

class StartWork final : public LoopWork {
public:
    StartWork(std::shared_ptr<WsExchange> x, const AsgiMount& m) : x_(std::move(x)), mount_(m) {}
    void run() noexcept override {
        AsgiContext& asgi = x_->asgi();
        // The names are built on the first WebSocket, here: only the loop
        // uses them.
        PyRef scope = x_->names().build() ? build_scope(asgi, *x_, mount_) : PyRef();
        PyRef channel = scope ? PyRef::steal(new_channel(asgi, x_)) : PyRef();
        if (channel && begin_asgi_app(asgi, mount_.app, scope.get(), channel.get())) return;
        AppFailure f;
        f.kind = AppFailure::Kind::raised;
        f.what = "could not be started on the ASGI event loop";
        f.traceback = take_python_error(*asgi.pympm);
        if (ChannelState* st = live_state(x_)) {
            post_done(*st, std::move(f));
        } else {
            WsOut o;
            o.done = true;
            o.failure = std::move(f);
            x_->post(std::move(o));
        }
    }
    void abandon() noexcept override {
        WsOut o;
        o.done = true;
        o.failure.kind = AppFailure::Kind::unavailable;
        x_->post(std::move(o));
    }

private:
    std::shared_ptr<WsExchange> x_;
    AsgiMount mount_;
};

class DeliveryWork final : public LoopWork {
public:
    explicit DeliveryWork(std::shared_ptr<WsExchange> x) : x_(std::move(x)) {}
    void run() noexcept override {
        WsExchange::Delivery d = x_->take_delivery();
        ChannelState* st = live_state(x_);
        if (!st) return;
        AsgiContext& asgi = st->asgi;
        if (d.message && st->receive_future) {
            PyRef future = std::move(st->receive_future);
            PyRef message = PyRef::steal(build(*st, std::move(*d.message)));
            if (message)
                call(asgi.resolve, future.get(), message.get());
            else
                PyErr_Clear();
        }
        if (d.resolve_sends || d.reject_sends) {
            std::vector<PyRef> futures;
            futures.swap(st->send_futures);
            PyRef exc = d.reject_sends ? PyRef::steal(PyObject_CallFunction(asgi.pympm->client_disconnected.get(), "s",
                                                                            "the WebSocket is closed"))
                                       : PyRef();
            for (PyRef& f : futures) {
                if (d.reject_sends && exc)
                    call(asgi.reject, f.get(), exc.get());
                else
                    call(asgi.resolve, f.get(), Py_None);
            }
            PyErr_Clear();
        }
    }

private:
    std::shared_ptr<WsExchange> x_;
};

} // namespace

std::unique_ptr<LoopWork> ws_start_work(std::shared_ptr<WsExchange> x, const AsgiMount& mount) {
    return std::make_unique<StartWork>(std::move(x), mount);
}

std::unique_ptr<LoopWork> ws_delivery_work(std::shared_ptr<WsExchange> x) {
    return std::make_unique<DeliveryWork>(std::move(x));
}

PyRef make_ws_channel_type() { return PyRef::steal(PyType_FromSpec(&ch_spec)); }

PyRef ws_channel_task(PyObject* channel) {
    if (!channel) return PyRef();
    return state(channel)->task;
}

} // namespace pympm
