// The scope of an ASGI HTTP request (ASGI HTTP spec 2.3): type, asgi,
// http_version, method, scheme, path (decoded, the mount included) and
// raw_path (as sent), query_string, root_path (the mount), headers as
// lower-cased byte pairs, client, server, and a copy of the app's lifespan
// state.
#include "asgi/asgi_context.h"
#include "asgi/asgi_loop.h"

#include <array>
#include <cstring>
#include <new>
#include <string>

namespace pympm {

namespace {

// A new bytes object that nothing else shares: PyBytes_FromStringAndSize
// with data returns CPython's one shared object for every 1-byte value, so
// the bytes are copied into a fresh allocation instead. An empty value stays
// CPython's shared empty bytes: it has no byte anyone could write.
PyObject* bytes_of(std::string_view s) {
    if (s.empty()) return PyBytes_FromStringAndSize(nullptr, 0);
    PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(s.size()));
    if (b) std::memcpy(PyBytes_AS_STRING(b), s.data(), s.size());
    return b;
}

// Decoded paths are UTF-8; bytes that are not stay as surrogate escapes
// (what the app gets back with .encode("utf-8", "surrogateescape")).
PyObject* text_of(std::string_view s) {
    return PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
}

// [address, port] as a tuple; the connection's last one again when it is
// the same (its requests share it: a tuple of a str and an int).
PyObject* address(AsgiContext::Address& last, std::string_view ip, int port) {
    if (ip.empty()) Py_RETURN_NONE;
    if (last.value && last.port == port && last.ip == ip) return Py_NewRef(last.value.get());
    PyRef host = PyRef::steal(PyUnicode_FromStringAndSize(ip.data(), static_cast<Py_ssize_t>(ip.size())));
    PyRef number = host ? PyRef::steal(PyLong_FromLong(port)) : PyRef();
    PyRef pair = number ? PyRef::steal(PyTuple_Pack(2, host.get(), number.get())) : PyRef();
    if (!pair) return nullptr;
    try {
        last.ip.assign(ip);
    } catch (const std::bad_alloc&) {
        last.value.reset();
        return pair.release(); // not kept: the next request makes its own
    }
    last.port = port;
    last.value = pair;
    return pair.release();
}

// scope["method"]: the usual ones made once (str is immutable), others
// per request.
PyObject* method_of(AsgiContext& asgi, std::string_view method) {
    static constexpr std::array<std::string_view, 5> kCommon = {"GET", "HEAD", "POST", "PUT", "DELETE"};
    for (std::size_t i = 0; i < kCommon.size(); ++i) {
        if (method != kCommon[i]) continue;
        PyRef& made = asgi.methods[i];
        if (!made) made = PyRef::steal(PyUnicode_InternFromString(kCommon[i].data()));
        return made ? Py_NewRef(made.get()) : nullptr;
    }
    return PyUnicode_FromStringAndSize(method.data(), static_cast<Py_ssize_t>(method.size()));
}

// The keys of every scope, in the order the app sees them, "type" set:
// a copy of it is a dict of the right size whose keys are in place, so
// each value is a replacement, not an insertion.
PyObject* scope_template(AsgiContext& asgi) {
    if (asgi.scope_template) return asgi.scope_template.get();
    PyRef t = PyRef::steal(_PyDict_NewPresized(15));
    if (!t) return nullptr;
    for (const PyRef* key :
         {&asgi.k_type, &asgi.k_asgi, &asgi.k_http_version, &asgi.k_method, &asgi.k_scheme, &asgi.k_path,
          &asgi.k_raw_path, &asgi.k_query_string, &asgi.k_root_path, &asgi.k_client, &asgi.k_server, &asgi.k_headers})
        if (PyDict_SetItem(t.get(), key->get(), key == &asgi.k_type ? asgi.v_http.get() : Py_None) != 0) return nullptr;
    asgi.scope_template = t;
    return t.get();
}

} // namespace

PyRef build_asgi_scope(AsgiContext& asgi, const AsgiHead& line, PyObject* state, bool mount_relative_path) {
    PYMPM_ASSERT_GIL();
    PyObject* tmpl = scope_template(asgi);
    PyRef scope = tmpl ? PyRef::steal(PyDict_Copy(tmpl)) : PyRef();
    if (!scope) return scope;
    auto set = [&](const PyRef& key, PyObject* value /* stolen */) {
        PyRef v = PyRef::steal(value);
        return v && PyDict_SetItem(scope.get(), key.get(), v.get()) == 0;
    };
    auto set_borrowed = [&](const PyRef& key, PyObject* value) {
        return PyDict_SetItem(scope.get(), key.get(), value) == 0;
    };
    const std::string_view version = line.protocol == "HTTP/1.0" ? "1.0" : line.protocol == "HTTP/2.0" ? "2" : "1.1";
    PyObject* v = version == "1.0" ? asgi.v_1_0.get() : version == "2" ? asgi.v_2.get() : asgi.v_1_1.get();
    // raw_path: the target's path as sent (absolute-form targets keep only
    // their path).
    std::string_view raw = std::string_view(line.target).substr(0, line.target.find('?'));
    if (raw.rfind("http://", 0) == 0 || raw.rfind("https://", 0) == 0) {
        const auto slash = raw.find('/', raw.find("//") + 2);
        raw = slash == std::string_view::npos ? std::string_view("/") : raw.substr(slash);
    }
    const std::string_view full = line.path;
    const std::string_view mount = full.substr(0, line.mount_length);
    const std::string_view path = mount_relative_path ? full.substr(line.mount_length) : full;
    if (!set(asgi.k_asgi, PyDict_Copy(asgi.asgi_version.get())) || !set_borrowed(asgi.k_http_version, v) ||
        !set(asgi.k_method, method_of(asgi, line.method)) ||
        !set_borrowed(asgi.k_scheme, line.https ? asgi.v_https.get() : asgi.v_http.get()) ||
        !set(asgi.k_path, text_of(path.empty() ? std::string_view("/") : path)) ||
        !set(asgi.k_raw_path, bytes_of(raw)) || !set(asgi.k_query_string, bytes_of(line.query)) ||
        !set(asgi.k_root_path, text_of(mount)) ||
        !set(asgi.k_client, address(asgi.last_client, line.client_ip, line.client_port)) ||
        !set(asgi.k_server, address(asgi.last_server, line.server_ip, line.server_port)))
        return PyRef();
    PyRef headers = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(line.headers.size())));
    if (!headers) return PyRef();
    // Names were lower-cased by AsgiHead::capture, before their bytes
    // objects exist; bytes_of makes each a new object all the same.
    for (std::size_t i = 0; i < line.headers.size(); ++i) {
        const auto& [name, value] = line.headers[i];
        PyObject* n = bytes_of(name);
        PyObject* b = n ? bytes_of(value) : nullptr;
        PyObject* pair = b ? PyTuple_New(2) : nullptr;
        if (!pair) {
            Py_XDECREF(n);
            Py_XDECREF(b);
            return PyRef();
        }
        PyTuple_SET_ITEM(pair, 0, n);
        PyTuple_SET_ITEM(pair, 1, b);
        PyList_SET_ITEM(headers.get(), static_cast<Py_ssize_t>(i), pair);
    }
    if (!set_borrowed(asgi.k_headers, headers.get())) return PyRef();
    // Each request gets its own copy of what the lifespan put there.
    if (state && !set(asgi.k_state, PyDict_Copy(state))) return PyRef();
    return scope;
}

} // namespace pympm
