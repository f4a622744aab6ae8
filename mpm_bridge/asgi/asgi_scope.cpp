// The scope of an ASGI HTTP request (ASGI HTTP spec 2.3): type, asgi,
// http_version, method, scheme, path (decoded, the mount included) and
// raw_path (as sent), query_string, root_path (the mount), headers as
// lower-cased byte pairs, client, server, and a copy of the app's lifespan
// state.
#include "asgi/asgi_context.h"
#include "asgi/asgi_loop.h"

#include <cstring>
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

PyObject* address(std::string_view ip, int port) {
    if (ip.empty()) Py_RETURN_NONE;
    return Py_BuildValue("(Ni)", PyUnicode_FromStringAndSize(ip.data(), static_cast<Py_ssize_t>(ip.size())), port);
}

} // namespace

PyRef build_asgi_scope(AsgiContext& asgi, const AsgiHead& line, PyObject* state, bool mount_relative_path) {
    PYMPM_ASSERT_GIL();
    PyRef scope = PyRef::steal(_PyDict_NewPresized(15));
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
    if (!set_borrowed(asgi.k_type, asgi.v_http.get()) || !set(asgi.k_asgi, PyDict_Copy(asgi.asgi_version.get())) ||
        !set_borrowed(asgi.k_http_version, v) ||
        !set(asgi.k_method,
             PyUnicode_FromStringAndSize(line.method.data(), static_cast<Py_ssize_t>(line.method.size()))) ||
        !set_borrowed(asgi.k_scheme, line.https ? asgi.v_https.get() : asgi.v_http.get()) ||
        !set(asgi.k_path, text_of(path.empty() ? std::string_view("/") : path)) ||
        !set(asgi.k_raw_path, bytes_of(raw)) || !set(asgi.k_query_string, bytes_of(line.query)) ||
        !set(asgi.k_root_path, text_of(mount)) || !set(asgi.k_client, address(line.client_ip, line.client_port)) ||
        !set(asgi.k_server, address(line.server_ip, line.server_port)))
        return PyRef();
    PyRef headers = PyRef::steal(PyList_New(static_cast<Py_ssize_t>(line.headers.size())));
    if (!headers) return PyRef();
    // Names were lower-cased by AsgiHead::capture, before their bytes
    // objects exist; bytes_of makes each a new object all the same.
    for (std::size_t i = 0; i < line.headers.size(); ++i) {
        const auto& [name, value] = line.headers[i];
        PyObject* n = bytes_of(name);
        if (!n) return PyRef();
        PyObject* pair = Py_BuildValue("(NN)", n, bytes_of(value));
        if (!pair) return PyRef();
        PyList_SET_ITEM(headers.get(), static_cast<Py_ssize_t>(i), pair);
    }
    if (!set_borrowed(asgi.k_headers, headers.get())) return PyRef();
    // Each request gets its own copy of what the lifespan put there.
    if (state && !set(asgi.k_state, PyDict_Copy(state))) return PyRef();
    return scope;
}

} // namespace pympm
