#include "wsgi/wsgi_request.h"

#include "request/http_validation.h"
#include "request/response_head.h"

#include <sys/stat.h>
#include <unistd.h>

namespace pympm {

namespace {

using IoLock = RequestCore::IoLock;

// str -> latin-1 bytes, as PEP 3333 wants for status and headers.
bool native_string(PyObject* o, std::string& out, const char* what) {
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(o)->tp_name);
        return false;
    }
    // A str whose characters all fit in one byte is stored as latin-1
    // already: copy it without an intermediate bytes object.
#if PY_VERSION_HEX < 0x030C0000
    const bool ready = PyUnicode_IS_READY(o); // always, from 3.12 on
#else
    const bool ready = true;
#endif
    if (ready && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND) {
        out.assign(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(o)),
                   static_cast<std::size_t>(PyUnicode_GET_LENGTH(o)));
        return true;
    }
    return take_bytes(PyUnicode_AsLatin1String(o), out, PyExc_ValueError,
                      "%s %R is not latin-1 (PEP 3333 native string)", what, o);
}

} // namespace

WsgiRequest::WsgiRequest(RequestContext& ctx, WsgiContext& wsgi, RequestIO& io, const std::string& app_name)
    : core_(ctx, io, app_name), wsgi_(wsgi) {}

WsgiRequest::~WsgiRequest() { end_calls(); }

void WsgiRequest::end_calls() {
    // Under the GIL: no new call can start once the objects are detached.
    detach_request_object(start_response_obj_.get());
    detach_request_object(input_obj_.get());
    if (calls_.load() == 0) return;
    // An app thread is still inside write() or a wsgi.input read; it needs
    // the GIL to finish, whatever the PyEnableThreads mode.
    GilReleaseIfHeld released;
    std::unique_lock lock(calls_mutex_);
    calls_done_.wait(lock, [&] { return calls_.load() == 0; });
}

void WsgiRequest::call_finished() {
    if (--calls_ == 0) {
        std::lock_guard lock(calls_mutex_);
        calls_done_.notify_all();
    }
}

// start_response -----------------------------------------------------------------

PyObject* WsgiRequest::start_response(PyObject* args, PyObject* kwargs) {
    static const char* kwlist[] = {"status", "headers", "exc_info", nullptr};
    PyObject* status = nullptr;
    PyObject* headers = nullptr;
    PyObject* exc_info = Py_None;
    const Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (!kwargs && (nargs == 2 || nargs == 3)) {
        // How apps call it: positional arguments only (the generic parser
        // costs more than the rest of start_response).
        status = PyTuple_GET_ITEM(args, 0);
        headers = PyTuple_GET_ITEM(args, 1);
        if (nargs == 3) exc_info = PyTuple_GET_ITEM(args, 2);
    } else if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", const_cast<char**>(kwlist), &status,
                                            &headers, &exc_info)) {
        return nullptr;
    }

    if (exc_info != Py_None) {
        if (core_.io.head_sent() || core_.response.sent() > 0) {
            // Too late to change the response: re-raise the app's error.
            PyObject *t = nullptr, *v = nullptr, *tb = nullptr;
            if (!PyArg_ParseTuple(exc_info, "OOO", &t, &v, &tb)) return nullptr;
            Py_INCREF(t);
            Py_INCREF(v);
            Py_INCREF(tb);
            PyErr_Restore(t, v, tb == Py_None ? nullptr : tb);
            if (tb == Py_None) Py_DECREF(tb);
            return nullptr;
        }
    } else if (core_.response.head_set()) {
        PyErr_SetString(PyExc_AssertionError, "start_response() called a second time without exc_info (PEP 3333)");
        return nullptr;
    }

    ResponseHead head;
    if (!native_string(status, head.status_line, "status")) return nullptr;
    if (!is_valid_status_line(head.status_line, head.status)) {
        PyErr_Format(PyExc_ValueError,
                     "invalid status %R: write a three-digit code, a space and a reason, as in '200 OK'", status);
        return nullptr;
    }
    if (const char* problem = status_code_problem(head.status)) {
        PyErr_Format(PyExc_ValueError, "status %R %s", status, problem);
        return nullptr;
    }
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "response headers must be a list, not %.100s", Py_TYPE(headers)->tp_name);
        return nullptr;
    }
    std::optional<std::uint64_t> declared;
    const Py_ssize_t n = PyList_GET_SIZE(headers);
    head.headers.reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* item = PyList_GET_ITEM(headers, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError, "response header %zd must be a (name, value) tuple, not %R", i, item);
            return nullptr;
        }
        std::string name, value;
        if (!native_string(PyTuple_GET_ITEM(item, 0), name, "header name") ||
            !native_string(PyTuple_GET_ITEM(item, 1), value, "header value"))
            return nullptr;
        if (auto problem = add_response_header(head, declared, std::move(name), std::move(value), "a WSGI")) {
            PyErr_SetString(PyExc_ValueError, problem->c_str());
            return nullptr;
        }
    }
    core_.response.set_head(std::move(head), declared);
    return new_write_callable(start_response_obj_.get());
}

bool WsgiRequest::require_head(const char* what) {
    if (core_.response.head_set() || core_.io.head_sent()) return true;
    core_.fail_message(std::string("the app ") + what + " (PEP 3333)");
    return false;
}

bool WsgiRequest::send_chunk(PyObject* item, RequestIO::Send mode) {
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError, "the response iterable yielded %.100s; every item must be bytes (PEP 3333)",
                     Py_TYPE(item)->tp_name);
        return false;
    }
    if (PyBytes_GET_SIZE(item) == 0 && mode != RequestIO::Send::last) return true;
    if (!require_head("produced body bytes without calling start_response() first")) return false;
    // The item stays referenced (by the caller) while the GIL is released.
    return core_.response.send(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)), mode);
}

PyObject* WsgiRequest::write(PyObject* data) {
    if (!core_.response.head_set()) {
        PyErr_SetString(PyExc_AssertionError, "write() called before start_response() (PEP 3333)");
        return nullptr;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return nullptr;
    }
    // Other threads may write too, and `data` stays referenced by our
    // caller while the GIL is released.
    IoLock lock(core_, IoLock::Entry::app_call);
    if (!lock) return nullptr;
    if (core_.response.client_gone()) {
        PyErr_SetString(core_.ctx.py.client_disconnected.get(), "the client went away");
        return nullptr;
    }
    // write() data is on the wire before write() returns (PEP 3333).
    if (PyBytes_GET_SIZE(data) > 0 &&
        !core_.response.send(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data)),
                             RequestIO::Send::flush)) {
        PyErr_SetString(core_.ctx.py.client_disconnected.get(), "the client went away");
        return nullptr;
    }
    Py_RETURN_NONE;
}

int WsgiRequest::finish_response() {
    if (core_.response.client_gone()) return 0;
    if (!require_head("returned without ever calling start_response()")) return 500;
    return core_.response.finish();
}

// wsgi.file_wrapper over a real file: httpd sends it (sendfile) from the
// file's current position. Returns nullopt to fall back to iteration.
std::optional<int> WsgiRequest::try_send_file(PyObject* result) {
    if (Py_TYPE(result) != reinterpret_cast<PyTypeObject*>(core_.ctx.py.file_wrapper.get())) return std::nullopt;
    if (!core_.response.head_set()) return std::nullopt; // let the iteration path report it
    PyRef filelike = PyRef::steal(PyObject_GetAttr(result, wsgi_.str_filelike.get()));
    if (!filelike) {
        PyErr_Clear();
        return std::nullopt;
    }
    PyRef fileno = PyRef::steal(PyObject_CallMethodObjArgs(filelike.get(), wsgi_.str_fileno.get(), nullptr));
    if (!fileno) {
        PyErr_Clear();
        return std::nullopt;
    }
    int fd = PyLong_Check(fileno.get()) ? static_cast<int>(PyLong_AsLong(fileno.get())) : -1;
    if (fd < 0) {
        PyErr_Clear();
        return std::nullopt;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    // tell(), not lseek(): a buffered file object may have read ahead.
    std::uint64_t offset = 0;
    PyRef pos = PyRef::steal(PyObject_CallMethodObjArgs(filelike.get(), wsgi_.str_tell.get(), nullptr));
    if (pos && PyLong_Check(pos.get())) {
        offset = PyLong_AsUnsignedLongLong(pos.get());
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return std::nullopt;
        }
    } else {
        PyErr_Clear();
        off_t o = ::lseek(fd, 0, SEEK_CUR);
        if (o < 0) return std::nullopt;
        offset = static_cast<std::uint64_t>(o);
    }
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    return core_.response.send_file(fd, offset, offset < size ? size - offset : 0);
}

void WsgiRequest::call_close(PyObject* result) {
    // Lists and tuples (most responses) have no close().
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) return;
    if (!PyObject_HasAttr(result, wsgi_.str_close.get())) return;
    PyRef r = PyRef::steal(PyObject_CallMethodObjArgs(result, wsgi_.str_close.get(), nullptr));
    if (!r) {
        std::string trace = take_python_error(core_.ctx.py);
        core_.log_lines(LogLevel::error,
                        std::string(PYMPM_APLOGNO(00026)) + "close() of the response iterable of " + core_.app_name +
                            " raised for " + std::string(core_.io.uri()) + " (the response was already complete):",
                        trace);
    }
}

int WsgiRequest::send_sequence(PyObject* seq) {
    ResponseWriter& response = core_.response;
    // The GIL is released for every item sent, and an app thread may change
    // a list meanwhile: a list of several items is sent from a copy of its
    // item pointers (a tuple cannot change; one item is held by reference).
    PyRef snapshot;
    if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) > 1) {
        snapshot = PyRef::steal(PyList_GetSlice(seq, 0, PyList_GET_SIZE(seq)));
        if (!snapshot) return core_.error_response("returned a response that could not be copied");
        seq = snapshot.get();
    }
    // The whole body is known: give it a Content-Length when the app did
    // not, and end the response with its last item.
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject** items = PySequence_Fast_ITEMS(seq);
    if (response.head_set() && !response.declared_length() && !core_.io.head_sent()) {
        std::uint64_t total = 0;
        bool all_bytes = true;
        for (Py_ssize_t i = 0; i < n && all_bytes; ++i) {
            all_bytes = PyBytes_Check(items[i]);
            if (all_bytes) total += static_cast<std::uint64_t>(PyBytes_GET_SIZE(items[i]));
        }
        // A HEAD answered with an empty list says nothing about the length.
        if (all_bytes && !(total == 0 && core_.io.is_head())) response.declare_length(total);
    }
    Py_ssize_t i = 0;
    for (; i < n && !response.client_gone() && !response.length_complete(); ++i) {
        PyRef item = PyRef::borrow(items[i]);
        const std::uint64_t size =
            PyBytes_Check(item.get()) ? static_cast<std::uint64_t>(PyBytes_GET_SIZE(item.get())) : 0;
        const auto declared = response.declared_length();
        const bool last = declared && response.sent() + size >= *declared && size > 0;
        if (!send_chunk(item.get(), last ? RequestIO::Send::last : RequestIO::Send::buffer))
            return response.client_gone() ? 0 : core_.error_response("returned a bad response body");
    }
    // Items past the declared length were not sent.
    for (; i < n && !response.length_error_logged(); ++i)
        if (!PyBytes_Check(items[i]) || PyBytes_GET_SIZE(items[i]) > 0) response.log_excess();
    if (response.client_gone()) return 0;
    return finish_response();
}

int WsgiRequest::send_iterable(PyObject* result) {
    ResponseWriter& response = core_.response;
    PyRef iter = PyRef::steal(PyObject_GetIter(result));
    if (!iter) return core_.error_response("returned a response that is not iterable");
    // PEP 3333: stop asking for items once the declared length is sent.
    while (!response.client_gone() && !response.length_complete()) {
        PyRef item = PyRef::steal(PyIter_Next(iter.get()));
        if (!item) {
            if (PyErr_Occurred()) return core_.error_response("failed while producing its response");
            break;
        }
        // Each chunk of a generator reaches the client before the next one
        // is asked for (PEP 3333 streaming).
        if (!send_chunk(item.get(), RequestIO::Send::flush)) {
            if (response.client_gone()) return 0;
            return core_.error_response("failed while producing its response");
        }
    }
    if (response.client_gone()) return 0;
    return finish_response();
}

int WsgiRequest::run(PyObject* app) {
    PYMPM_ASSERT_GIL();
    std::string why;
    if (int refused = core_.io.refuse_body_early(why)) {
        core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00051)) + "request body of " + std::string(core_.io.uri()) +
                                      " refused with " + std::to_string(refused) + " before calling " + core_.app_name +
                                      ": " + why);
        return refused;
    }
    start_response_obj_ = PyRef::steal(new_start_response(wsgi_.start_response_type.get(), this));
    PyRef environ = start_response_obj_ ? build_environ() : PyRef();
    if (!environ) return core_.fail("could not get an environ");

    PyRef result = PyRef::steal(PyObject_CallFunctionObjArgs(app, environ.get(), start_response_obj_.get(), nullptr));
    if (!result) return core_.error_response("raised an exception");
    if (core_.ctx.response_ready) core_.ctx.response_ready(core_.ctx.response_ready_owner, core_.io);

    int status;
    if (auto sent = try_send_file(result.get())) {
        status = *sent;
    } else if (PyList_CheckExact(result.get()) || PyTuple_CheckExact(result.get())) {
        status = send_sequence(result.get());
    } else {
        status = send_iterable(result.get());
    }
    // Exactly once, whatever happened above (PEP 3333).
    call_close(result.get());
    return status;
}

// wsgi.input: one read at a time, whatever thread reads ----------------------------

PyObject* WsgiRequest::read(Py_ssize_t size) {
    IoLock lock(core_, IoLock::Entry::app_call);
    return lock ? core_.body.read(size) : nullptr;
}

PyObject* WsgiRequest::readline(Py_ssize_t limit) {
    IoLock lock(core_, IoLock::Entry::app_call);
    return lock ? core_.body.readline(limit) : nullptr;
}

PyObject* WsgiRequest::readlines(Py_ssize_t hint) {
    IoLock lock(core_, IoLock::Entry::app_call);
    return lock ? core_.body.readlines(hint) : nullptr;
}

} // namespace pympm
