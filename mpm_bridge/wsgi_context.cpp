#include "wsgi_context.h"

#include "wsgi_request.h"

namespace pympm {

EnvironKeys::Entry* EnvironKeys::get(std::string_view name) {
    auto it = keys_.find(name);
    if (it != keys_.end()) return &it->second;
    PyObject* s = PyUnicode_DecodeLatin1(name.data(), static_cast<Py_ssize_t>(name.size()), nullptr);
    if (!s) return nullptr;
    PyUnicode_InternInPlace(&s);
    if (keys_.size() >= kMaxKeys) {
        spare_ = Entry{PyRef::steal(s), PyRef(), std::string(), kMaxChanges};
        return &spare_;
    }
    Entry& e = keys_[std::string(name)];
    e.key = PyRef::steal(s);
    return &e;
}

PyObject* EnvironKeys::value(Entry& e, std::string_view raw) {
    if (e.value && e.raw == raw) {
        Py_INCREF(e.value.get());
        return e.value.get();
    }
    PyObject* v = PyUnicode_DecodeLatin1(raw.data(), static_cast<Py_ssize_t>(raw.size()), nullptr);
    if (!v) return nullptr;
    // A value that keeps changing (REMOTE_PORT, REQUEST_URI) stops being
    // kept after a few changes; long values are never kept.
    if (e.value) ++e.changes;
    if (e.changes < kMaxChanges && raw.size() <= kMaxValue) {
        e.raw.assign(raw);
        e.value = PyRef::borrow(v);
    } else if (e.value) {
        e.value.reset();
        std::string().swap(e.raw);
    }
    return v;
}

namespace {
PyRef interned(const char* s) { return PyRef::steal(PyUnicode_InternFromString(s)); }
} // namespace

bool WsgiContext::init(const PympmModule& py, bool multithread, bool multiprocess, std::string& error) {
    if (!make_wsgi_types(start_response_type, input_type, error)) return false;
    str_close = interned("close");
    str_fileno = interned("fileno");
    str_read = interned("read");
    str_tell = interned("tell");
    str_write = interned("write");
    str_filelike = interned("filelike");
    str_https = interned("https");
    str_http = interned("http");
    key_url_scheme = interned("wsgi.url_scheme");
    key_input = interned("wsgi.input");

    PyRef t = PyRef::steal(PyDict_New());
    PyRef version = PyRef::steal(Py_BuildValue("(ii)", 1, 0));
    bool ok = t && version &&
              PyDict_SetItemString(t.get(), "wsgi.version", version.get()) == 0 &&
              PyDict_SetItemString(t.get(), "wsgi.errors", py.errors_stream.get()) == 0 &&
              PyDict_SetItemString(t.get(), "wsgi.multithread", multithread ? Py_True : Py_False) == 0 &&
              PyDict_SetItemString(t.get(), "wsgi.multiprocess", multiprocess ? Py_True : Py_False) == 0 &&
              PyDict_SetItemString(t.get(), "wsgi.run_once", Py_False) == 0 &&
              // Reading past the end of the body always returns b'' here,
              // with or without Content-Length.
              PyDict_SetItemString(t.get(), "wsgi.input_terminated", Py_True) == 0 &&
              PyDict_SetItemString(t.get(), "wsgi.file_wrapper", py.file_wrapper.get()) == 0;
    if (!ok) {
        PyErr_Clear();
        error = "could not build the WSGI environ template";
        return false;
    }
    environ_template = t;
    return true;
}

void WsgiContext::clear() {
    keys.clear();
    environ_template.reset();
    start_response_type.reset();
    input_type.reset();
    str_close.reset(); str_fileno.reset(); str_read.reset(); str_tell.reset(); str_write.reset(); str_filelike.reset();
    str_https.reset(); str_http.reset(); key_url_scheme.reset(); key_input.reset();
}

} // namespace pympm
