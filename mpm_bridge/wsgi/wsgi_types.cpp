// The Python objects a WSGI app sees for one request: start_response (with
// its write() method) and wsgi.input. They forward to the C++ WsgiRequest
// and are detached when it ends, so a stale reference raises instead of
// touching freed memory.
#include "wsgi/wsgi_request.h"

#include "python/python_entry.h"

#include <structmember.h>

namespace pympm {

namespace {

struct RequestObject {
    PyObject_HEAD WsgiRequest* req;
};

// One call from Python into a live request: the request does not end
// while it runs (it may come from an app thread).
class RequestCall {
public:
    explicit RequestCall(PyObject* self) : req_(reinterpret_cast<RequestObject*>(self)->req) {
        if (req_)
            req_->call_started();
        else
            PyErr_SetString(PyExc_RuntimeError, "this WSGI request has already finished");
    }
    ~RequestCall() {
        if (req_) req_->call_finished();
    }
    RequestCall(const RequestCall&) = delete;
    RequestCall& operator=(const RequestCall&) = delete;
    WsgiRequest* operator->() const { return req_; }
    explicit operator bool() const { return req_ != nullptr; }

private:
    WsgiRequest* req_;
};

// Runs `f(request)` for a live request, with no C++ exception escaping.
template <class F>
PyObject* with_request(PyObject* self, F&& f) {
    return python_entry([&]() -> PyObject* {
        RequestCall req(self);
        return req ? f(req) : nullptr;
    });
}

void request_object_dealloc(PyObject* self) {
    PyTypeObject* tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

// start_response ------------------------------------------------------------

PyObject* sr_call(PyObject* self, PyObject* args, PyObject* kwargs) {
    return with_request(self, [&](RequestCall& req) { return req->start_response(args, kwargs); });
}

PyObject* sr_write(PyObject* self, PyObject* data) {
    return with_request(self, [&](RequestCall& req) { return req->write(data); });
}

PyMethodDef sr_methods[] = {{"write", sr_write, METH_O, "write(data): the PEP 3333 write() callable"},
                            {nullptr, nullptr, 0, nullptr}};

PyType_Slot sr_slots[] = {{Py_tp_call, reinterpret_cast<void*>(sr_call)},
                          {Py_tp_methods, sr_methods},
                          {Py_tp_dealloc, reinterpret_cast<void*>(request_object_dealloc)},
                          {Py_tp_doc, const_cast<char*>("start_response(status, headers, exc_info=None)")},
                          {0, nullptr}};

PyType_Spec sr_spec = {"pympm.StartResponse", sizeof(RequestObject), 0, Py_TPFLAGS_DEFAULT, sr_slots};

// wsgi.input ------------------------------------------------------------------

bool size_arg(PyObject* const* args, Py_ssize_t nargs, Py_ssize_t& out) {
    out = -1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "expected at most one argument");
        return false;
    }
    if (nargs == 1 && args[0] != Py_None) {
        out = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
        if (out == -1 && PyErr_Occurred()) return false;
    }
    return true;
}

PyObject* in_read(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    Py_ssize_t n;
    if (!size_arg(args, nargs, n)) return nullptr;
    return with_request(self, [&](RequestCall& req) { return req->read(n); });
}

PyObject* in_readline(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    Py_ssize_t n;
    if (!size_arg(args, nargs, n)) return nullptr;
    return with_request(self, [&](RequestCall& req) { return req->readline(n); });
}

PyObject* in_readlines(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    Py_ssize_t n;
    if (!size_arg(args, nargs, n)) return nullptr;
    return with_request(self, [&](RequestCall& req) { return req->readlines(n); });
}

PyObject* in_iter(PyObject* self) {
    Py_INCREF(self);
    return self;
}

PyObject* in_next(PyObject* self) {
    return with_request(self, [&](RequestCall& req) -> PyObject* {
        PyObject* line = req->readline(-1);
        if (line && PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            return nullptr; // StopIteration
        }
        return line;
    });
}

PyMethodDef in_methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(in_read)), METH_FASTCALL,
     "read(size=-1): up to size bytes of the request body; all of it without size"},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(in_readline)), METH_FASTCALL,
     "readline(limit=-1): one line, ending with b'\\n' unless at the end of the body"},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(in_readlines)), METH_FASTCALL,
     "readlines(hint=-1): the remaining lines"},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot in_slots[] = {{Py_tp_iter, reinterpret_cast<void*>(in_iter)},
                          {Py_tp_iternext, reinterpret_cast<void*>(in_next)},
                          {Py_tp_methods, in_methods},
                          {Py_tp_dealloc, reinterpret_cast<void*>(request_object_dealloc)},
                          {Py_tp_doc, const_cast<char*>("wsgi.input: the request body")},
                          {0, nullptr}};

PyType_Spec in_spec = {"pympm.Input", sizeof(RequestObject), 0, Py_TPFLAGS_DEFAULT, in_slots};

PyObject* new_request_object(PyObject* type, WsgiRequest* req) {
    auto* tp = reinterpret_cast<PyTypeObject*>(type);
    PyObject* o = tp->tp_alloc(tp, 0);
    if (o) reinterpret_cast<RequestObject*>(o)->req = req;
    return o;
}

} // namespace

bool make_wsgi_types(PyRef& start_response_type, PyRef& input_type, std::string& error) {
    start_response_type = PyRef::steal(PyType_FromSpec(&sr_spec));
    input_type = PyRef::steal(PyType_FromSpec(&in_spec));
    if (!start_response_type || !input_type) {
        PyErr_Clear();
        error = "could not create the WSGI request types";
        return false;
    }
    return true;
}

PyObject* new_start_response(PyObject* type, WsgiRequest* req) { return new_request_object(type, req); }

// What getattr(start_response, "write") gives, without the attribute lookup.
PyObject* new_write_callable(PyObject* start_response) {
    return PyCFunction_NewEx(&sr_methods[0], start_response, nullptr);
}
PyObject* new_input(PyObject* type, WsgiRequest* req) { return new_request_object(type, req); }

void detach_request_object(PyObject* obj) {
    if (obj) reinterpret_cast<RequestObject*>(obj)->req = nullptr;
}

} // namespace pympm
