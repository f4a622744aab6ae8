#include "wsgi_request.h"

#include "http_validation.h"
#include "request_scope.h"
#include "thread_binding.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace pympm {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

std::string_view as_view(PyObject* bytes) {
    return {PyBytes_AS_STRING(bytes), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes))};
}

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
    PyRef b = PyRef::steal(PyUnicode_AsLatin1String(o));
    if (!b) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s %R is not latin-1 (PEP 3333 native string)", what, o);
        return false;
    }
    out.assign(as_view(b.get()));
    return true;
}

} // namespace

WsgiRequest::WsgiRequest(WsgiContext& ctx, RequestIO& io, const std::string& app_name)
    : ctx_(ctx), io_(io), app_name_(app_name), body_length_(io.body_length()) {}

WsgiRequest::~WsgiRequest() { end_calls(); }

void WsgiRequest::end_calls() {
    // Under the GIL: no new call can start once the objects are detached.
    detach_request_object(start_response_obj_.get());
    detach_request_object(input_obj_.get());
    if (calls_.load() == 0) return;
    // An app thread is still inside write() or a wsgi.input read; it needs
    // the GIL to finish, whatever the PyEnableThreads mode.
    PyThreadState* saved = thread_binding::holds_gil() ? PyEval_SaveThread() : nullptr;
    {
        std::unique_lock lock(calls_mutex_);
        calls_done_.wait(lock, [&] { return calls_.load() == 0; });
    }
    if (saved) PyEval_RestoreThread(saved);
}

void WsgiRequest::call_finished() {
    if (--calls_ == 0) {
        std::lock_guard lock(calls_mutex_);
        calls_done_.notify_all();
    }
}

WsgiRequest::IoLock::IoLock(WsgiRequest& req, Entry entry) : req_(req) {
    if (req_.io_owner_.load() == std::this_thread::get_id()) {
        if (entry == Entry::internal) {
            locked_ = true; // held further up this thread's stack
            return;
        }
        PyErr_SetString(PyExc_RuntimeError,
                        "this WSGI request is already reading or writing on this thread (a nested request's "
                        "app used the outer request's wsgi.input or write())");
        return;
    }
    if (!req_.io_mutex_.try_lock()) {
        // Held by a thread that waits on httpd without the GIL and needs it
        // back to finish: never wait for the lock holding the GIL.
        PyThreadState* saved = thread_binding::holds_gil() ? PyEval_SaveThread() : nullptr;
        req_.io_mutex_.lock();
        if (saved) PyEval_RestoreThread(saved);
    }
    req_.io_owner_ = std::this_thread::get_id();
    locked_ = owns_ = true;
}

WsgiRequest::IoLock::~IoLock() {
    if (!owns_) return;
    req_.io_owner_ = std::thread::id();
    req_.io_mutex_.unlock();
}

void WsgiRequest::log(LogLevel level, const std::string& message) {
    IoLock lock(*this, IoLock::Entry::internal);
    io_.log(level, message);
}

void WsgiRequest::log_lines(LogLevel level, const std::string& head, const std::string& body) {
    log(level, head);
    for_each_line(body, [&](std::string_view line) {
        log(level, std::string(PYMPM_APLOGNO(00021)) + "  " + std::string(line));
    });
}

int WsgiRequest::fail(const char* what) {
    app_raised_ = true;
    std::string trace = take_python_error(ctx_.py);
    log_lines(LogLevel::error,
              std::string(PYMPM_APLOGNO(00020)) + "app " + app_name_ + " " + what + " for " +
                  std::string(io_.uri()) + ":",
              trace);
    return 500;
}

int WsgiRequest::fail_message(const std::string& message) {
    log(LogLevel::error, std::string(PYMPM_APLOGNO(00022)) + "app " + app_name_ + ": " + message +
                                 " (" + std::string(io_.uri()) + ")");
    return 500;
}

PyRef WsgiRequest::build_environ() {
    CgiVars vars;
    vars.reserve(48);
    io_.cgi_vars(vars);
    // Sized once for everything it will hold: no rehash while filling it.
    PyObject* tmpl = ctx_.environ_template.get();
    PyRef env = PyRef::steal(_PyDict_NewPresized(PyDict_GET_SIZE(tmpl) + static_cast<Py_ssize_t>(vars.size()) + 2));
    if (!env) return env;
    Py_ssize_t pos = 0;
    PyObject *tk = nullptr, *tv = nullptr;
    while (PyDict_Next(tmpl, &pos, &tk, &tv))
        if (PyDict_SetItem(env.get(), tk, tv) != 0) return PyRef();
    for (const auto& [k, v] : vars) {
        EnvironKeys::Entry* key = ctx_.keys.get(k);
        if (!key) return PyRef();
        PyRef val = PyRef::steal(EnvironKeys::value(*key, v));
        if (!val || PyDict_SetItem(env.get(), key->key.get(), val.get()) != 0) return PyRef();
    }
    input_obj_ = PyRef::steal(new_input(ctx_.input_type.get(), this));
    if (!input_obj_) return PyRef();
    if (PyDict_SetItem(env.get(), ctx_.key_url_scheme.get(),
                       io_.is_https() ? ctx_.str_https.get() : ctx_.str_http.get()) != 0 ||
        PyDict_SetItem(env.get(), ctx_.key_input.get(), input_obj_.get()) != 0)
        return PyRef();
    return env;
}

// start_response -----------------------------------------------------------------

PyObject* WsgiRequest::start_response(PyObject* args, PyObject* kwargs) {
    static const char* kwlist[] = {"status", "headers", "exc_info", nullptr};
    PyObject* status = nullptr;
    PyObject* headers = nullptr;
    PyObject* exc_info = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", const_cast<char**>(kwlist),
                                     &status, &headers, &exc_info))
        return nullptr;

    if (exc_info != Py_None) {
        if (io_.head_sent() || sent_ > 0) {
            // Too late to change the response: re-raise the app's error.
            PyObject *t = nullptr, *v = nullptr, *tb = nullptr;
            if (!PyArg_ParseTuple(exc_info, "OOO", &t, &v, &tb)) return nullptr;
            Py_INCREF(t); Py_INCREF(v); Py_INCREF(tb);
            PyErr_Restore(t, v, tb == Py_None ? nullptr : tb);
            if (tb == Py_None) Py_DECREF(tb);
            return nullptr;
        }
    } else if (head_set_) {
        PyErr_SetString(PyExc_AssertionError,
                        "start_response() called a second time without exc_info (PEP 3333)");
        return nullptr;
    }

    ResponseHead head;
    if (!native_string(status, head.status_line, "status")) return nullptr;
    if (!is_valid_status_line(head.status_line, head.status)) {
        PyErr_Format(PyExc_ValueError, "invalid status %R: write a three-digit code, a space and a reason, "
                                       "as in '200 OK'", status);
        return nullptr;
    }
    if (head.status < 200) {
        // The client would take the body for the next response.
        PyErr_Format(PyExc_ValueError, "status %R is an interim (1xx) response: a WSGI app gives the final "
                                       "status (httpd sends 100 Continue itself when the app reads the body)",
                     status);
        return nullptr;
    }
    if (head.status > 599) {
        PyErr_Format(PyExc_ValueError, "status %R is outside 200-599, which HTTP defines", status);
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
        if (!is_http_token(name)) {
            PyErr_Format(PyExc_ValueError, "invalid response header name %R: must be an HTTP token "
                                           "(no spaces, colons or control characters)", PyTuple_GET_ITEM(item, 0));
            return nullptr;
        }
        if (!is_valid_header_value(value)) {
            PyErr_Format(PyExc_ValueError, "invalid value for response header %R: CR, LF and control "
                                           "characters are not allowed", PyTuple_GET_ITEM(item, 0));
            return nullptr;
        }
        if (is_hop_by_hop_header(name)) {
            PyErr_Format(PyExc_ValueError, "hop-by-hop header %R is not allowed in a WSGI response "
                                           "(PEP 3333); httpd manages the connection", PyTuple_GET_ITEM(item, 0));
            return nullptr;
        }
        if (iequals(name, "content-length")) {
            std::uint64_t len = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), len);
            if (ec != std::errc() || p != value.data() + value.size() || value.empty()) {
                PyErr_Format(PyExc_ValueError, "invalid Content-Length %R", PyTuple_GET_ITEM(item, 1));
                return nullptr;
            }
            if (len > static_cast<std::uint64_t>(INT64_MAX)) {
                PyErr_Format(PyExc_ValueError, "Content-Length %R is larger than httpd can send (2**63 - 1)",
                             PyTuple_GET_ITEM(item, 1));
                return nullptr;
            }
            if (declared && *declared != len) {
                PyErr_Format(PyExc_ValueError, "two different Content-Length headers (%llu and %R)",
                             static_cast<unsigned long long>(*declared), PyTuple_GET_ITEM(item, 1));
                return nullptr;
            }
            declared = len;
        }
        head.headers.emplace_back(std::move(name), std::move(value));
    }
    head_ = std::move(head);
    declared_length_ = declared;
    head_set_ = true;
    return PyObject_GetAttr(start_response_obj_.get(), ctx_.str_write.get());
}

bool WsgiRequest::send_head_if_needed() {
    IoLock lock(*this, IoLock::Entry::internal);
    if (io_.head_sent()) return true;
    if (!head_set_) {
        fail_message("the app produced body bytes without calling start_response() first (PEP 3333)");
        return false;
    }
    io_.set_head(head_);
    return true;
}

void WsgiRequest::log_excess() {
    if (length_error_logged_) return;
    length_error_logged_ = true;
    log(LogLevel::error, std::string(PYMPM_APLOGNO(00023)) + "app " + app_name_ +
                                 " produced more than its Content-Length of " + std::to_string(*declared_length_) +
                                 " bytes for " + std::string(io_.uri()) + "; the excess was not sent");
}

void WsgiRequest::log_client_gone(const char* doing, const char* why) {
    log(LogLevel::info, std::string(PYMPM_APLOGNO(00024)) + "client went away while " + app_name_ + " was " +
                                doing + " " + std::string(io_.uri()) + ": " + why);
}

bool WsgiRequest::send_bytes(const char* data, std::size_t len, RequestIO::Send mode) {
    IoLock lock(*this, IoLock::Entry::internal);
    if (client_gone_) return false;
    // 204 and 304 have no body (RFC 9110): what the app yields is dropped
    // (finish_response() ends the response), and a Content-Length describes
    // the resource, not this response.
    if (no_body()) return true;
    if (declared_length_ && sent_ + len > *declared_length_) {
        // PEP 3333: never more than the declared length.
        log_excess();
        len = static_cast<std::size_t>(*declared_length_ - sent_);
        if (len == 0 && mode != RequestIO::Send::last) return true;
    }
    try {
        BlockingSection unlocked(ctx_.release_gil);
        io_.send_body(data, len, mode);
    } catch (const ClientGone& e) {
        client_gone_ = true;
        log_client_gone("sending", e.what());
        return false;
    }
    sent_ += len;
    return true;
}

bool WsgiRequest::send_chunk(PyObject* item, RequestIO::Send mode) {
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError,
                     "the response iterable yielded %.100s; every item must be bytes (PEP 3333)",
                     Py_TYPE(item)->tp_name);
        return false;
    }
    if (PyBytes_GET_SIZE(item) == 0 && mode != RequestIO::Send::last) return true;
    if (!send_head_if_needed()) return false;
    // The item stays referenced (by the caller) while the GIL is released.
    return send_bytes(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)), mode);
}

PyObject* WsgiRequest::write(PyObject* data) {
    if (!head_set_) {
        PyErr_SetString(PyExc_AssertionError, "write() called before start_response() (PEP 3333)");
        return nullptr;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return nullptr;
    }
    // Other threads may write too, and `data` stays referenced by our
    // caller while the GIL is released.
    IoLock lock(*this, IoLock::Entry::app_call);
    if (!lock) return nullptr;
    if (client_gone_) {
        PyErr_SetString(ctx_.py.client_disconnected.get(), "the client went away");
        return nullptr;
    }
    if (PyBytes_GET_SIZE(data) > 0) {
        if (!send_head_if_needed()) {
            PyErr_SetString(PyExc_AssertionError, "write() called before start_response() (PEP 3333)");
            return nullptr;
        }
        // write() data is on the wire before write() returns (PEP 3333).
        if (!send_bytes(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data)),
                        RequestIO::Send::flush)) {
            PyErr_SetString(ctx_.py.client_disconnected.get(), "the client went away");
            return nullptr;
        }
    }
    Py_RETURN_NONE;
}

int WsgiRequest::finish_response() {
    IoLock lock(*this, IoLock::Entry::internal);
    if (client_gone_) return 0;
    if (!io_.head_sent()) {
        if (!head_set_) {
            fail_message("the app returned without ever calling start_response() (PEP 3333)");
            return 500;
        }
        io_.set_head(head_);
    }
    if (declared_length_ && sent_ < *declared_length_ && !io_.is_head() && !no_body()) {
        // HEAD is exempt: frameworks answer it with the GET's Content-Length
        // and no body.
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00025)) + "app " + app_name_ + " sent " +
                                 std::to_string(sent_) + " bytes but declared Content-Length " +
                                 std::to_string(*declared_length_) + " for " + std::string(io_.uri()) +
                                 "; the connection is closed so the client sees a truncated response");
        abort_response();
        return 0;
    }
    try {
        BlockingSection unlocked(ctx_.release_gil);
        io_.finish();
    } catch (const ClientGone& e) {
        client_gone_ = true;
        log_client_gone("ending", e.what());
    }
    return 0;
}

void WsgiRequest::abort_response() {
    IoLock lock(*this, IoLock::Entry::internal);
    if (aborted_ || client_gone_) return;
    aborted_ = true;
    BlockingSection unlocked(ctx_.release_gil);
    io_.abort();
}

// wsgi.file_wrapper over a real file: httpd sends it (sendfile) from the
// file's current position. Returns nullopt to fall back to iteration.
std::optional<int> WsgiRequest::try_send_file(PyObject* result) {
    if (Py_TYPE(result) != reinterpret_cast<PyTypeObject*>(ctx_.py.file_wrapper.get())) return std::nullopt;
    if (!head_set_) return std::nullopt; // let the iteration path report it
    PyRef filelike = PyRef::steal(PyObject_GetAttr(result, ctx_.str_filelike.get()));
    if (!filelike) { PyErr_Clear(); return std::nullopt; }
    PyRef fileno = PyRef::steal(PyObject_CallMethodObjArgs(filelike.get(), ctx_.str_fileno.get(), nullptr));
    if (!fileno) { PyErr_Clear(); return std::nullopt; }
    int fd = PyLong_Check(fileno.get()) ? static_cast<int>(PyLong_AsLong(fileno.get())) : -1;
    if (fd < 0) { PyErr_Clear(); return std::nullopt; }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    // tell(), not lseek(): a buffered file object may have read ahead.
    std::uint64_t offset = 0;
    PyRef pos = PyRef::steal(PyObject_CallMethodObjArgs(filelike.get(), ctx_.str_tell.get(), nullptr));
    if (pos && PyLong_Check(pos.get())) {
        offset = PyLong_AsUnsignedLongLong(pos.get());
        if (PyErr_Occurred()) { PyErr_Clear(); return std::nullopt; }
    } else {
        PyErr_Clear();
        off_t o = ::lseek(fd, 0, SEEK_CUR);
        if (o < 0) return std::nullopt;
        offset = static_cast<std::uint64_t>(o);
    }
    IoLock lock(*this, IoLock::Entry::internal);
    if (client_gone_) return 0;
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t len = offset < size ? size - offset : 0;
    if (declared_length_) {
        // The Content-Length says how much of the file to send (a range),
        // and what write() already sent counts: never past it.
        const std::uint64_t room = *declared_length_ > sent_ ? *declared_length_ - sent_ : 0;
        len = std::min(len, room);
    } else if (!io_.head_sent()) {
        head_.headers.emplace_back("Content-Length", std::to_string(len));
        declared_length_ = len;
    }
    if (!send_head_if_needed()) return 500;
    if (len > 0 && !no_body()) {
        // The file completes the response: it goes with the end of the
        // response in one pass (finish() below then has nothing to do).
        const bool last = !declared_length_ || sent_ + len >= *declared_length_;
        try {
            BlockingSection unlocked(ctx_.release_gil);
            io_.send_file(fd, offset, len, last);
        } catch (const ClientGone& e) {
            client_gone_ = true;
            log_client_gone("sending a file for", e.what());
            return 0;
        }
        sent_ += len;
    }
    return finish_response();
}

void WsgiRequest::call_close(PyObject* result) {
    if (!PyObject_HasAttr(result, ctx_.str_close.get())) return;
    PyRef r = PyRef::steal(PyObject_CallMethodObjArgs(result, ctx_.str_close.get(), nullptr));
    if (!r) {
        std::string trace = take_python_error(ctx_.py);
        log_lines(LogLevel::error,
                  std::string(PYMPM_APLOGNO(00026)) + "close() of the response iterable of " + app_name_ +
                      " raised for " + std::string(io_.uri()) + " (the response was already complete):",
                  trace);
    }
}

// The app raised ClientDisconnected/RequestBodyError that we raised in it
// because the client went away or httpd refused the body: not an app bug.
bool WsgiRequest::disconnect_error_pending() const {
    if (!client_gone_ && !input_gone_ && !body_error_status_) return false;
    return PyErr_ExceptionMatches(ctx_.py.client_disconnected.get()) ||
           PyErr_ExceptionMatches(ctx_.py.request_body_error.get());
}

int WsgiRequest::error_response(const char* what) {
    if (PyErr_Occurred() && PyErr_ExceptionMatches(ctx_.py.request_timeout.get())) {
        // PyRequestTimeout: the watchdog logged the request and its stack.
        PyErr_Clear();
        app_raised_ = true;
        log(LogLevel::warning, std::string(PYMPM_APLOGNO(00061)) + "app " + app_name_ + " stopped serving " +
                                   std::string(io_.uri()) + " on pympm.RequestTimeout" +
                                   (io_.head_sent() ? "; the response is cut short" : "; 504 to the client"));
        if (io_.head_sent()) {
            abort_response();
            return 0;
        }
        return 504;
    }
    if (PyErr_Occurred()) {
        if (disconnect_error_pending()) {
            PyObject *t = nullptr, *v = nullptr, *tb = nullptr;
            PyErr_Fetch(&t, &v, &tb);
            PyRef type = PyRef::steal(t), value = PyRef::steal(v), trace = PyRef::steal(tb);
            PyRef text = value ? PyRef::steal(PyObject_Str(value.get())) : PyRef();
            const char* msg = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
            PyErr_Clear();
            log(LogLevel::info, std::string(PYMPM_APLOGNO(00050)) + "app " + app_name_ + " stopped serving " +
                                        std::string(io_.uri()) + ": " +
                                        reinterpret_cast<PyTypeObject*>(type.get())->tp_name + ": " +
                                        (msg ? msg : "?"));
        } else {
            fail(what);
        }
    }
    if (body_error_status_) return io_.head_sent() ? 0 : body_error_status_;
    if (io_.head_sent()) {
        // Bytes are out: a second status line is impossible, so the client
        // must see the response cut short.
        abort_response();
        return 0;
    }
    // The client went away while sending the body: nobody reads an answer.
    if (input_gone_) return 400;
    return 500;
}

int WsgiRequest::send_sequence(PyObject* seq) {
    // The GIL is released for every item sent, and an app thread may change
    // a list meanwhile: a list of several items is sent from a copy of its
    // item pointers (a tuple cannot change; one item is held by reference).
    PyRef snapshot;
    if (PyList_CheckExact(seq) && PyList_GET_SIZE(seq) > 1) {
        snapshot = PyRef::steal(PyList_GetSlice(seq, 0, PyList_GET_SIZE(seq)));
        if (!snapshot) return error_response("returned a response that could not be copied");
        seq = snapshot.get();
    }
    // The whole body is known: give it a Content-Length when the app did
    // not, and end the response with its last item.
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject** items = PySequence_Fast_ITEMS(seq);
    if (head_set_ && !declared_length_ && !io_.head_sent()) {
        std::uint64_t total = 0;
        bool all_bytes = true;
        for (Py_ssize_t i = 0; i < n && all_bytes; ++i) {
            all_bytes = PyBytes_Check(items[i]);
            if (all_bytes) total += static_cast<std::uint64_t>(PyBytes_GET_SIZE(items[i]));
        }
        // A HEAD answered with an empty list says nothing about the length.
        if (all_bytes && !(total == 0 && io_.is_head())) {
            head_.headers.emplace_back("Content-Length", std::to_string(total));
            declared_length_ = total;
        }
    }
    Py_ssize_t i = 0;
    for (; i < n && !client_gone_ && !length_complete(); ++i) {
        PyRef item = PyRef::borrow(items[i]);
        const std::uint64_t size = PyBytes_Check(item.get()) ? static_cast<std::uint64_t>(PyBytes_GET_SIZE(item.get())) : 0;
        const bool last = declared_length_ && sent_ + size >= *declared_length_ && size > 0;
        if (!send_chunk(item.get(), last ? RequestIO::Send::last : RequestIO::Send::buffer))
            return client_gone_ ? 0 : error_response("returned a bad response body");
    }
    // Items past the declared length were not sent.
    for (; i < n && !length_error_logged_; ++i)
        if (!PyBytes_Check(items[i]) || PyBytes_GET_SIZE(items[i]) > 0) log_excess();
    if (client_gone_) return 0;
    return finish_response();
}

int WsgiRequest::send_iterable(PyObject* result) {
    PyRef iter = PyRef::steal(PyObject_GetIter(result));
    if (!iter) return error_response("returned a response that is not iterable");
    // PEP 3333: stop asking for items once the declared length is sent.
    while (!client_gone_ && !length_complete()) {
        PyRef item = PyRef::steal(PyIter_Next(iter.get()));
        if (!item) {
            if (PyErr_Occurred()) return error_response("failed while producing its response");
            break;
        }
        // Each chunk of a generator reaches the client before the next one
        // is asked for (PEP 3333 streaming).
        if (!send_chunk(item.get(), RequestIO::Send::flush)) {
            if (client_gone_) return 0;
            return error_response("failed while producing its response");
        }
    }
    if (client_gone_) return 0;
    return finish_response();
}

int WsgiRequest::run(PyObject* app) {
    std::string why;
    if (int refused = io_.refuse_body_early(why)) {
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00051)) + "request body of " + std::string(io_.uri()) +
                                    " refused with " + std::to_string(refused) + " before calling " + app_name_ +
                                    ": " + why);
        return refused;
    }
    start_response_obj_ = PyRef::steal(new_start_response(ctx_.start_response_type.get(), this));
    PyRef environ = start_response_obj_ ? build_environ() : PyRef();
    if (!environ) return fail("could not get an environ");

    PyRef result = PyRef::steal(PyObject_CallFunctionObjArgs(app, environ.get(), start_response_obj_.get(), nullptr));
    if (!result) return error_response("raised an exception");
    if (ctx_.response_ready) ctx_.response_ready(ctx_.response_ready_owner, io_);

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

// wsgi.input ---------------------------------------------------------------------

PyObject* WsgiRequest::raise_read_error() {
    PyObject* type = body_error_status_ ? ctx_.py.request_body_error.get() : ctx_.py.client_disconnected.get();
    PyErr_SetString(type, read_error_.c_str());
    return nullptr;
}

void WsgiRequest::InBuffer::reserve(std::size_t n) {
    if (n <= cap) return;
    auto grown = std::make_unique_for_overwrite<char[]>(n);
    if (size > 0) std::memcpy(grown.get(), data.get(), size);
    data = std::move(grown);
    cap = n;
}

bool WsgiRequest::read_into(char* buf, std::size_t len, std::size_t want, std::size_t& got) {
    try {
        while (!in_eof_ && got < want && got < len) {
            std::size_t n = io_.read_body(buf + got, len - got);
            if (n == 0) in_eof_ = true;
            got += n;
            body_read_ += n;
        }
        return true;
    } catch (const BadRequestBody& e) {
        body_error_status_ = e.status;
        read_error_ = e.what();
    } catch (const ClientGone& e) {
        input_gone_ = true;
        read_error_ = std::string("the client went away while sending the request body: ") + e.what();
    }
    return false;
}

void WsgiRequest::log_read_error() {
    log(LogLevel::info, std::string(PYMPM_APLOGNO(00027)) + "reading the body of " + std::string(io_.uri()) +
                                " failed: " + read_error_);
}

// Reads until the buffer holds `want` unread bytes or the body ends.
bool WsgiRequest::fill(std::size_t want) {
    if (inbuf_.size - inpos_ >= want) return true;
    if (!read_error_.empty()) { raise_read_error(); return false; }
    if (in_eof_) return true;
    // Drop what was consumed, so the buffer never holds more than one read
    // ahead of the app however it reads (read(n) loops, readline).
    if (inpos_ > 0) {
        std::memmove(inbuf_.data.get(), inbuf_.data.get() + inpos_, inbuf_.size - inpos_);
        inbuf_.size -= inpos_;
        inpos_ = 0;
    }
    bool ok = true;
    {
        BlockingSection unlocked(ctx_.release_gil);
        while (ok && !in_eof_ && inbuf_.size < want) {
            // Doubling keeps a long line (readline) linear in its length.
            if (inbuf_.size == inbuf_.cap) inbuf_.reserve(std::max(inbuf_.size + kReadChunk, inbuf_.cap * 2));
            ok = read_into(inbuf_.data.get(), inbuf_.cap, inbuf_.size + 1, inbuf_.size);
        }
    }
    if (!ok) {
        log_read_error();
        raise_read_error();
    }
    return ok;
}

PyObject* WsgiRequest::read(Py_ssize_t size) {
    IoLock lock(*this, IoLock::Entry::app_call);
    return lock ? read_locked(size) : nullptr;
}

PyObject* WsgiRequest::read_locked(Py_ssize_t size) {
    const std::size_t avail = inbuf_.size - inpos_;
    if (read_error_.empty() && !in_eof_ && (size < 0 || static_cast<std::size_t>(size) > avail)) {
        // Read straight into the bytes object that read() returns: as much
        // as the declared length says is left, else (chunked) as much as
        // asked for or until the end of the body.
        std::uint64_t target = size < 0 ? UINT64_MAX : static_cast<std::uint64_t>(size);
        if (body_length_) {
            const std::uint64_t rest = *body_length_ > body_read_ ? *body_length_ - body_read_ : 0;
            target = std::min<std::uint64_t>(target, avail + rest);
        }
        target = std::min<std::uint64_t>(target, static_cast<std::uint64_t>(PY_SSIZE_T_MAX));
        if (target > avail) return read_direct(size, static_cast<std::size_t>(target));
    }
    return read_buffered(size);
}

PyObject* WsgiRequest::read_direct(Py_ssize_t size, std::size_t target) {
    // A client may declare a length it never sends: the first allocation is
    // bounded, later ones follow what arrives, doubling (so that a body of
    // unknown length costs time linear in its size).
    constexpr std::size_t kFirstAlloc = 16 * 1024 * 1024;
    std::size_t got = inbuf_.size - inpos_;
    std::size_t cap = std::min(target, body_length_ ? kFirstAlloc : std::max(kReadChunk, 2 * got));
    PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(cap));
    if (!out) return nullptr;
    if (got > 0) std::memcpy(PyBytes_AS_STRING(out), inbuf_.data.get() + inpos_, got);
    inbuf_.size = inpos_ = 0;
    bool ok = true;
    for (;;) {
        {
            // `out` is not visible to any other thread yet.
            BlockingSection unlocked(ctx_.release_gil);
            ok = read_into(PyBytes_AS_STRING(out), cap, cap, got);
        }
        if (!ok || in_eof_ || got >= target) break;
        cap = cap > target / 2 ? target : cap * 2;
        if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(cap)) != 0) return nullptr;
    }
    if (!ok) {
        log_read_error();
        // What arrived before the failure is returned first; the error is
        // raised by the next read.
        if (got == 0) {
            Py_DECREF(out);
            return raise_read_error();
        }
    }
    if (got != cap && _PyBytes_Resize(&out, static_cast<Py_ssize_t>(got)) != 0) return nullptr;
    if (ok && !in_eof_ && (size < 0 || static_cast<std::size_t>(size) > got)) {
        // More was asked for than the Content-Length promised: an input
        // filter may have changed the body's length, or read() wants the
        // end of the body to be seen. The buffered path finds out; what we
        // have is returned now and an error raised on the next read.
        if (!fill(1)) {
            PyErr_Clear();
        } else if (inbuf_.size > inpos_) {
            PyRef more = PyRef::steal(read_buffered(size < 0 ? -1 : size - static_cast<Py_ssize_t>(got)));
            if (!more) {
                PyErr_Clear();
            } else if (const Py_ssize_t n = PyBytes_GET_SIZE(more.get()); n > 0) {
                if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(got) + n) != 0) return nullptr;
                std::memcpy(PyBytes_AS_STRING(out) + got, PyBytes_AS_STRING(more.get()), static_cast<std::size_t>(n));
            }
        }
    }
    return out;
}

PyObject* WsgiRequest::read_buffered(Py_ssize_t size) {
    if (!fill(size < 0 ? SIZE_MAX / 2 : static_cast<std::size_t>(size))) {
        // What arrived before the failure is returned first; the error is
        // raised by the next read.
        if (inbuf_.size == inpos_) return nullptr;
        PyErr_Clear();
    }
    std::size_t avail = inbuf_.size - inpos_;
    std::size_t n = size < 0 ? avail : std::min(avail, static_cast<std::size_t>(size));
    PyObject* out = PyBytes_FromStringAndSize(inbuf_.data.get() + inpos_, static_cast<Py_ssize_t>(n));
    if (out) inpos_ += n;
    return out;
}

PyObject* WsgiRequest::readline(Py_ssize_t limit) {
    IoLock lock(*this, IoLock::Entry::app_call);
    return lock ? readline_locked(limit) : nullptr;
}

PyObject* WsgiRequest::readline_locked(Py_ssize_t limit) {
    if (limit == 0) return PyBytes_FromStringAndSize(nullptr, 0);
    std::size_t scanned = 0;
    for (;;) {
        std::string_view avail(inbuf_.data.get() + inpos_, inbuf_.size - inpos_);
        std::size_t cap = limit < 0 ? avail.size() : std::min(avail.size(), static_cast<std::size_t>(limit));
        std::size_t nl = avail.substr(0, cap).find('\n', scanned);
        std::size_t n = 0;
        if (nl != std::string_view::npos) n = nl + 1;
        else if (limit >= 0 && avail.size() >= static_cast<std::size_t>(limit)) n = static_cast<std::size_t>(limit);
        else if (in_eof_) n = avail.size();
        if (n > 0 || (in_eof_ && avail.empty())) {
            PyObject* out = PyBytes_FromStringAndSize(avail.data(), static_cast<Py_ssize_t>(n));
            if (out) inpos_ += n;
            return out;
        }
        scanned = avail.size();
        if (!fill(avail.size() + 8192)) {
            // fill() may have moved the buffer: `avail` is stale.
            const std::size_t left = inbuf_.size - inpos_;
            if (left == 0) return nullptr;
            PyErr_Clear(); // the partial line now, the error next time
            const std::size_t take = limit < 0 ? left : std::min(left, static_cast<std::size_t>(limit));
            PyObject* out = PyBytes_FromStringAndSize(inbuf_.data.get() + inpos_, static_cast<Py_ssize_t>(take));
            if (out) inpos_ += take;
            return out;
        }
    }
}

PyObject* WsgiRequest::readlines(Py_ssize_t hint) {
    IoLock lock(*this, IoLock::Entry::app_call);
    if (!lock) return nullptr;
    PyRef lines = PyRef::steal(PyList_New(0));
    if (!lines) return nullptr;
    Py_ssize_t total = 0;
    for (;;) {
        PyRef line = PyRef::steal(readline_locked(-1));
        if (!line) {
            if (PyList_GET_SIZE(lines.get()) == 0) return nullptr;
            PyErr_Clear(); // the lines so far now, the error next time
            break;
        }
        if (PyBytes_GET_SIZE(line.get()) == 0) break;
        if (PyList_Append(lines.get(), line.get()) != 0) return nullptr;
        total += PyBytes_GET_SIZE(line.get());
        if (hint > 0 && total >= hint) break;
    }
    return lines.release();
}

} // namespace pympm
