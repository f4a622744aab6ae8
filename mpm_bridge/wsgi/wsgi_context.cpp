#include "wsgi/wsgi_context.h"

#include "wsgi/wsgi_request.h"

namespace pympm {

EnvironKeys::Entry* EnvironKeys::get(std::string_view name) {
    auto it = keys_.find(name);
    if (it != keys_.end()) return &it->second;
    PyObject* s = nullptr;
    if (names_ == Names::http_header) {
        const std::string key = cgi_header_name(name);
        if (!key.empty() && !(s = PyUnicode_DecodeLatin1(key.data(), static_cast<Py_ssize_t>(key.size()), nullptr)))
            return nullptr;
    } else if (!(s = PyUnicode_DecodeLatin1(name.data(), static_cast<Py_ssize_t>(name.size()), nullptr))) {
        return nullptr;
    }
    if (s) PyUnicode_InternInPlace(&s);
    const int fixed = names_ == Names::as_given ? cgi_key_index(name) : -1;
    if (keys_.size() >= kMaxKeys) {
        spare_ = Entry{PyRef::steal(s), PyRef(), std::string(), kMaxChanges, fixed};
        return &spare_;
    }
    Entry& e = keys_[std::string(name)];
    e.key = PyRef::steal(s);
    e.fixed = fixed;
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
    PYMPM_ASSERT_GIL();
    if (!make_wsgi_types(start_response_type, input_type, error)) return false;
    str_close = interned("close");
    str_fileno = interned("fileno");
    str_read = interned("read");
    str_tell = interned("tell");
    str_filelike = interned("filelike");
    str_https = interned("https");
    str_http = interned("http");
    key_url_scheme = interned("wsgi.url_scheme");
    key_input = interned("wsgi.input");

    for (std::size_t i = 0; i < kCgiKeyCount; ++i) {
        fixed_keys[i] = EnvironKeys::Entry{interned(cgi_key_name(static_cast<CgiKey>(i))), PyRef(), std::string(), 0};
        if (!fixed_keys[i].key) {
            PyErr_Clear();
            error = "could not build the WSGI environ keys";
            return false;
        }
    }
    // Room for a whole environ: PyDict_Copy of a dict without deletions
    // copies its table as it is, so the copy is not resized while a
    // request's variables go in (about 40 with a browser's headers).
    PyRef t = PyRef::steal(_PyDict_NewPresized(64));
    PyRef version = PyRef::steal(Py_BuildValue("(ii)", 1, 0));
    bool ok = t && version && PyDict_SetItemString(t.get(), "wsgi.version", version.get()) == 0 &&
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

bool WsgiContext::adopt_template(const CgiEnviron& cgi, bool https) {
    PyObject* t = environ_template.get();
    for (std::size_t i = 0; i < kCgiKeyCount; ++i) {
        const std::string_view raw = cgi.fixed[i];
        if (!raw.data() || !cgi_key_usually_constant(static_cast<CgiKey>(i))) continue;
        PyRef v = PyRef::steal(PyUnicode_DecodeLatin1(raw.data(), static_cast<Py_ssize_t>(raw.size()), nullptr));
        if (!v || PyDict_SetItem(t, fixed_keys[i].key.get(), v.get()) != 0) return false;
        template_raw[i].assign(raw);
        template_has[i] = true;
    }
    if (PyDict_SetItem(t, key_url_scheme.get(), https ? str_https.get() : str_http.get()) != 0) return false;
    template_https = https;
    template_adopted = true;
    return true;
}

void WsgiContext::clear() {
    keys.clear();
    header_keys.clear();
    for (auto& e : fixed_keys) e = EnvironKeys::Entry{};
    template_adopted = false;
    template_has.fill(false);
    environ_template.reset();
    start_response_type.reset();
    input_type.reset();
    str_close.reset();
    str_fileno.reset();
    str_read.reset();
    str_tell.reset();
    str_filelike.reset();
    str_https.reset();
    str_http.reset();
    key_url_scheme.reset();
    key_input.reset();
}

} // namespace pympm
