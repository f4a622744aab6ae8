// The native channel an ASGI request gives its app (behind the ASGI part's
// receive/send awaitables): it forwards to the C++ AsgiRequest and is
// detached when the request ends, so a stale reference (a background task
// that kept `send`) raises instead of touching freed memory.
#include "asgi/asgi_request.h"

#include "python/python_entry.h"

namespace pympm {

namespace {

struct ChannelObject {
    PyObject_HEAD AsgiRequest* req;
};

AsgiRequest* live(PyObject* self) {
    auto* req = reinterpret_cast<ChannelObject*>(self)->req;
    if (!req) PyErr_SetString(PyExc_RuntimeError, "this ASGI request has already finished");
    return req;
}

PyObject* ch_receive(PyObject* self, PyObject*) {
    return python_entry([&]() -> PyObject* {
        // After the request ended (the app goes on after its response), as
        // after the response completed: the spec's http.disconnect.
        if (AsgiRequest* req = reinterpret_cast<ChannelObject*>(self)->req) return req->receive();
        return Py_BuildValue("{s:s}", "type", "http.disconnect");
    });
}

PyObject* ch_send(PyObject* self, PyObject* message) {
    return python_entry([&]() -> PyObject* {
        AsgiRequest* req = live(self);
        return req ? req->send(message) : nullptr;
    });
}

PyObject* ch_done(PyObject* self, PyObject* exc) {
    return python_entry([&]() -> PyObject* {
        // A request that ended already takes no news: the caller logs.
        AsgiRequest* req = reinterpret_cast<ChannelObject*>(self)->req;
        return PyBool_FromLong(req && req->done(exc));
    });
}

PyObject* ch_flush(PyObject* self, PyObject*) {
    return python_entry([&]() -> PyObject* {
        if (AsgiRequest* req = reinterpret_cast<ChannelObject*>(self)->req) req->flush();
        Py_RETURN_NONE;
    });
}

int ch_set_task(PyObject* self, PyObject* value, void*) {
    return python_entry([&]() -> int {
        if (AsgiRequest* req = reinterpret_cast<ChannelObject*>(self)->req; req && value) req->set_task(value);
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
    {"done", ch_done, METH_O, "done(exc_or_None): the app returned or raised; False if the request had ended"},
    {"flush", ch_flush, METH_NOARGS, "flush(): post the events held back"},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef ch_getset[] = {{"task", ch_get_task, ch_set_task, "the asyncio task running the app", nullptr},
                           {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot ch_slots[] = {{Py_tp_methods, ch_methods},
                          {Py_tp_getset, ch_getset},
                          {Py_tp_dealloc, reinterpret_cast<void*>(ch_dealloc)},
                          {Py_tp_doc, const_cast<char*>("the server's side of one ASGI request")},
                          {0, nullptr}};

PyType_Spec ch_spec = {"pympm.AsgiChannel", sizeof(ChannelObject), 0, Py_TPFLAGS_DEFAULT, ch_slots};

} // namespace

PyRef make_asgi_channel_type() { return PyRef::steal(PyType_FromSpec(&ch_spec)); }

PyObject* new_asgi_channel(PyObject* type, AsgiRequest* req) {
    auto* tp = reinterpret_cast<PyTypeObject*>(type);
    PyObject* o = tp->tp_alloc(tp, 0);
    if (o) reinterpret_cast<ChannelObject*>(o)->req = req;
    return o;
}

void detach_asgi_channel(PyObject* channel) {
    if (channel) reinterpret_cast<ChannelObject*>(channel)->req = nullptr;
}

} // namespace pympm
