#include "asgi/asgi_messages.h"

#include "request/response_head.h"

namespace pympm {

// bytes-like -> its bytes, for header names and values.
bool asgi_bytes_of(PyObject* o, std::string& out, const char* what) {
    if (PyBytes_Check(o)) {
        out.assign(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)));
        return true;
    }
    return take_bytes(PyBytes_FromObject(o), out, PyExc_TypeError, "%s must be bytes, not %.100s", what,
                      Py_TYPE(o)->tp_name);
}

std::optional<AsgiSendType> asgi_send_type(const AsgiNames& names, PyObject* message) {
    if (!PyDict_Check(message)) {
        PyErr_Format(PyExc_TypeError, "an ASGI message must be a dict, not %.100s", Py_TYPE(message)->tp_name);
        return std::nullopt;
    }
    PyObject* type = PyDict_GetItemWithError(message, names.k_type.get()); // borrowed
    if (!type) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "an ASGI message needs a 'type'");
        return std::nullopt;
    }
    if (PyUnicode_Check(type) && PyUnicode_Compare(type, names.v_response_start.get()) == 0)
        return AsgiSendType::response_start;
    if (PyUnicode_Check(type) && PyUnicode_Compare(type, names.v_response_body.get()) == 0)
        return AsgiSendType::response_body;
    PyErr_Format(PyExc_ValueError, "unknown ASGI message type %R for an HTTP request", type);
    return std::nullopt;
}

bool parse_response_start(const AsgiNames& names, PyObject* message, AsgiResponseStart& out) {
    PyObject* status = PyDict_GetItemWithError(message, names.k_status.get());
    if (!status || !PyLong_Check(status)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "http.response.start needs an integer 'status'");
        return false;
    }
    const long code = PyLong_AsLong(status);
    if (code == -1 && PyErr_Occurred()) return false;
    out.head.status = static_cast<int>(code);
    if (const char* problem = status_code_problem(out.head.status)) {
        PyErr_Format(PyExc_ValueError, "status %ld %s", code, problem);
        return false;
    }
    PyObject* trailers = PyDict_GetItemWithError(message, names.k_trailers.get());
    if (trailers && PyObject_IsTrue(trailers) == 1) {
        PyErr_SetString(PyExc_ValueError, "response trailers are not supported by mod_pympm");
        return false;
    }
    if (PyErr_Occurred()) return false;
    if (PyObject* headers = PyDict_GetItemWithError(message, names.k_headers.get())) {
        const bool taken = for_each_asgi_header(
            headers, "each response header must be a pair", "response header",
            [&](std::string name, std::string value, PyObject*) {
                if (auto problem = add_response_header(out.head, out.content_length, std::move(name), std::move(value),
                                                       "an ASGI")) {
                    PyErr_SetString(PyExc_ValueError, problem->c_str());
                    return false;
                }
                return true;
            });
        if (!taken) return false;
    } else if (PyErr_Occurred()) {
        return false;
    }
    return true;
}

bool parse_response_body(const AsgiNames& names, PyObject* message, AsgiResponseBody& out) {
    PyObject* body = PyDict_GetItemWithError(message, names.k_body.get());
    if (body) {
        out.body = PyBytes_Check(body) ? PyRef::borrow(body) : PyRef::steal(PyBytes_FromObject(body));
        if (!out.body) return false;
    } else if (PyErr_Occurred()) {
        return false;
    } else {
        out.body = names.empty_bytes;
    }
    PyObject* more = PyDict_GetItemWithError(message, names.k_more_body.get());
    if (!more) {
        out.more_body = false;
        return !PyErr_Occurred();
    }
    // bool(more_body) may raise: send() then raises it to the app.
    const int truth = PyObject_IsTrue(more);
    if (truth < 0) return false;
    out.more_body = truth == 1;
    return true;
}

} // namespace pympm
