// The WSGI environ of a request: httpd's CGI variables (as latin-1 native
// strings, PEP 3333; cgi_environ.h), the constant wsgi.* keys from a
// per-child template, wsgi.url_scheme and wsgi.input.
#include "wsgi/wsgi_request.h"

namespace pympm {

PyRef WsgiRequest::build_environ() {
    PYMPM_ASSERT_GIL();
    CgiEnviron cgi;
    core_.io.cgi_environ(cgi);
    const bool https = core_.io.is_https();
    if (!wsgi_.template_adopted && !wsgi_.adopt_template(cgi, https)) return PyRef();
    PyRef env = PyRef::steal(PyDict_Copy(wsgi_.environ_template.get()));
    if (!env) return env;
    // Later entries win: variables httpd's modules set, then headers, then
    // the fixed CGI variables (as ap_add_common_vars overrides a module's).
    auto put = [&](EnvironKeys::Entry& key, std::string_view raw) {
        PyRef val = PyRef::steal(EnvironKeys::value(key, raw));
        return val && PyDict_SetItem(env.get(), key.key.get(), val.get()) == 0;
    };
    std::array<bool, kCgiKeyCount> shadowed{}; // a variable took a fixed key's name
    bool ok = true;
    cgi.for_each_named([&](const CgiEnviron::Named& n) {
        if (!ok) return;
        EnvironKeys::Entry* key = n.header ? wsgi_.header_keys.get(n.name) : wsgi_.keys.get(n.name);
        if (!key) {
            ok = false;
            return;
        }
        if (!key->key) return; // a header name CGI does not pass
        if (key->fixed >= 0) shadowed[static_cast<std::size_t>(key->fixed)] = true;
        ok = put(*key, n.value);
    });
    if (!ok) return PyRef();
    for (std::size_t i = 0; i < kCgiKeyCount; ++i) {
        const std::string_view raw = cgi.fixed[i];
        if (wsgi_.template_has[i]) {
            if (!raw.data()) {
                // In the template, not in this request.
                if (!shadowed[i] && PyDict_DelItem(env.get(), wsgi_.fixed_keys[i].key.get()) != 0) return PyRef();
                continue;
            }
            if (!shadowed[i] && raw == wsgi_.template_raw[i]) continue; // copied with the template
        } else if (!raw.data()) {
            continue;
        }
        if (!put(wsgi_.fixed_keys[i], raw)) return PyRef();
    }
    input_obj_ = PyRef::steal(new_input(wsgi_.input_type.get(), this));
    if (!input_obj_) return PyRef();
    if ((https != wsgi_.template_https && PyDict_SetItem(env.get(), wsgi_.key_url_scheme.get(),
                                                         https ? wsgi_.str_https.get() : wsgi_.str_http.get()) != 0) ||
        PyDict_SetItem(env.get(), wsgi_.key_input.get(), input_obj_.get()) != 0)
        return PyRef();
    return env;
}

} // namespace pympm
