// The native channel a WebSocket's app gets (behind the bootstrap's receive
// and send awaitables, as for HTTP): it forwards to the C++ session and is
// detached when the session ends, so a stale reference raises instead of
// touching freed memory.
#include "websocket/websocket_session.h"

#include "python/python_entry.h"

namespace pympm {

namespace {

struct ChannelObject {
    PyObject_HEAD WebSocketSession* session;
};

WebSocketSession* of(PyObject* self) { return reinterpret_cast<ChannelObject*>(self)->session; }

PyObject* ch_receive(PyObject* self, PyObject*) {
    return python_entry([&]() -> PyObject* {
        // After the session ended: the connection is gone.
        if (WebSocketSession* s = of(self)) return s->receive();
        return Py_BuildValue("{s:s,s:i,s:s}", "type", "websocket.disconnect", "code", 1006, "reason", "");
    });
}

PyObject* ch_send(PyObject* self, PyObject* message) {
    return python_entry([&]() -> PyObject* {
        if (WebSocketSession* s = of(self)) return s->send(message);
        PyErr_SetString(PyExc_RuntimeError, "this WebSocket has already finished");
        return nullptr;
    });
}

PyObject* ch_done(PyObject* self, PyObject* exc) {
    return python_entry([&]() -> PyObject* {
        WebSocketSession* s = of(self);
        return PyBool_FromLong(s && s->done(exc));
    });
}

PyObject* ch_flush(PyObject*, PyObject*) { Py_RETURN_NONE; }

int ch_set_task(PyObject* self, PyObject* value, void*) {
    return python_entry([&]() -> int {
        if (WebSocketSession* s = of(self); s && value) s->set_task(value);
        return 0;
    });
}

PyObject* ch_get_task(PyObject*, void*) { Py_RETURN_NONE; }

void ch_dealloc(PyObject* self) {
    PyTypeObject* tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

PyMethodDef ch_methods[] = {
    {"receive", ch_receive, METH_NOARGS, "receive(): the next message, or a future of it"},
    {"send", ch_send, METH_O, "send(message): None when done, or a future"},
    {"done", ch_done, METH_O, "done(exc_or_None): the app returned or raised; False if the session had ended"},
    {"flush", ch_flush, METH_NOARGS, "flush(): nothing is held back"},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef ch_getset[] = {{"task", ch_get_task, ch_set_task, "the asyncio task running the app", nullptr},
                           {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot ch_slots[] = {{Py_tp_methods, ch_methods},
                          {Py_tp_getset, ch_getset},
                          {Py_tp_dealloc, reinterpret_cast<void*>(ch_dealloc)},
                          {Py_tp_doc, const_cast<char*>("the server's side of one ASGI WebSocket")},
                          {0, nullptr}};

PyType_Spec ch_spec = {"pympm.WebSocketChannel", sizeof(ChannelObject), 0, Py_TPFLAGS_DEFAULT, ch_slots};

} // namespace

PyRef make_ws_channel_type() { return PyRef::steal(PyType_FromSpec(&ch_spec)); }

PyObject* new_ws_channel(PyObject* type, WebSocketSession* s) {
    auto* tp = reinterpret_cast<PyTypeObject*>(type);
    PyObject* o = tp->tp_alloc(tp, 0);
    if (o) reinterpret_cast<ChannelObject*>(o)->session = s;
    return o;
}

void detach_ws_channel(PyObject* channel) {
    if (channel) reinterpret_cast<ChannelObject*>(channel)->session = nullptr;
}

} // namespace pympm
