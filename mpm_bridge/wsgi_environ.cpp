// The WSGI environ of a request: httpd's CGI variables (as latin-1 native
// strings, PEP 3333), the constant wsgi.* keys from a per-child template,
// wsgi.url_scheme and wsgi.input.
#include "wsgi_request.h"

namespace pympm {

PyRef WsgiRequest::build_environ() {
    CgiVars vars;
    vars.reserve(48);
    core_.io.cgi_vars(vars);
    // Sized once for everything it will hold: no rehash while filling it.
    PyObject* tmpl = wsgi_.environ_template.get();
    PyRef env = PyRef::steal(_PyDict_NewPresized(PyDict_GET_SIZE(tmpl) + static_cast<Py_ssize_t>(vars.size()) + 2));
    if (!env) return env;
    Py_ssize_t pos = 0;
    PyObject *tk = nullptr, *tv = nullptr;
    while (PyDict_Next(tmpl, &pos, &tk, &tv))
        if (PyDict_SetItem(env.get(), tk, tv) != 0) return PyRef();
    for (const auto& [k, v] : vars) {
        EnvironKeys::Entry* key = wsgi_.keys.get(k);
        if (!key) return PyRef();
        PyRef val = PyRef::steal(EnvironKeys::value(*key, v));
        if (!val || PyDict_SetItem(env.get(), key->key.get(), val.get()) != 0) return PyRef();
    }
    input_obj_ = PyRef::steal(new_input(wsgi_.input_type.get(), this));
    if (!input_obj_) return PyRef();
    if (PyDict_SetItem(env.get(), wsgi_.key_url_scheme.get(),
                       core_.io.is_https() ? wsgi_.str_https.get() : wsgi_.str_http.get()) != 0 ||
        PyDict_SetItem(env.get(), wsgi_.key_input.get(), input_obj_.get()) != 0)
        return PyRef();
    return env;
}

} // namespace pympm
