#include "asgi/asgi_context.h"

#include "asgi/asgi_awaitable.h"
#include "asgi/asgi_loop.h"

namespace pympm {

namespace {
PyRef interned(const char* s) { return PyRef::steal(PyUnicode_InternFromString(s)); }
} // namespace

bool AsgiNames::intern() {
    PYMPM_ASSERT_GIL();
    k_type = interned("type");
    k_asgi = interned("asgi");
    k_http_version = interned("http_version");
    k_method = interned("method");
    k_scheme = interned("scheme");
    k_path = interned("path");
    k_raw_path = interned("raw_path");
    k_query_string = interned("query_string");
    k_root_path = interned("root_path");
    k_headers = interned("headers");
    k_client = interned("client");
    k_server = interned("server");
    k_state = interned("state");
    k_body = interned("body");
    k_more_body = interned("more_body");
    k_status = interned("status");
    k_trailers = interned("trailers");
    k_flush = interned("flush");
    v_http = interned("http");
    v_https = interned("https");
    v_http_request = interned("http.request");
    v_http_disconnect = interned("http.disconnect");
    v_response_start = interned("http.response.start");
    v_response_body = interned("http.response.body");
    v_1_0 = interned("1.0");
    v_1_1 = interned("1.1");
    v_2 = interned("2");
    empty_bytes = PyRef::steal(PyBytes_FromStringAndSize(nullptr, 0));
    for (const PyRef* r : {&k_type,
                           &k_asgi,
                           &k_http_version,
                           &k_method,
                           &k_scheme,
                           &k_path,
                           &k_raw_path,
                           &k_query_string,
                           &k_root_path,
                           &k_headers,
                           &k_client,
                           &k_server,
                           &k_state,
                           &k_body,
                           &k_more_body,
                           &k_status,
                           &k_trailers,
                           &k_flush,
                           &v_http,
                           &v_https,
                           &v_http_request,
                           &v_http_disconnect,
                           &v_response_start,
                           &v_response_body,
                           &v_1_0,
                           &v_1_1,
                           &v_2,
                           &empty_bytes})
        if (!*r) return false;
    return true;
}

bool AsgiContext::start(const PympmModule& py, std::string& error) {
    PYMPM_ASSERT_GIL();
    if (started()) return true;
    // The loop and what runs requests on it live in the ASGI part
    // (asgi/pympm_asgi.py), loaded with the child's first ASGI app.
    PyRef part = load_asgi_part(py);
    auto get = [&](const char* name) {
        return part ? PyRef::steal(PyObject_GetAttrString(part.get(), name)) : PyRef();
    };
    PyRef start_loop = get("_asgi_start_loop");
    serve = get("_asgi_serve");
    track = get("_asgi_track");
    resolve = get("_asgi_resolve");
    reject = get("_asgi_reject");
    task_stack = get("_asgi_task_stack");
    channel_type = make_asgi_channel_type();
    call_type = make_asgi_call_type();
    caller_type = make_asgi_caller_type();
    PyRef l = start_loop ? PyRef::steal(PyObject_CallNoArgs(start_loop.get())) : PyRef();
    // Chosen on the loop's thread when the loop started (_asgi_choose_start).
    start_task = l ? get("_asgi_start") : PyRef();
    done_name = PyRef::steal(PyUnicode_InternFromString("done"));
    task_name = PyRef::steal(PyUnicode_InternFromString("task"));
    request_var = get("_asgi_request_channel");
    if (!l || !serve || !start_task || !track || !done_name || !task_name || !request_var || !resolve || !reject ||
        !task_stack || !channel_type || !call_type || !caller_type) {
        error = "the ASGI event loop could not start: " + take_python_error(py);
        clear();
        return false;
    }
    call_soon_threadsafe = PyRef::steal(PyObject_GetAttrString(l.get(), "call_soon_threadsafe"));
    create_future = PyRef::steal(PyObject_GetAttrString(l.get(), "create_future"));
    call_soon = PyRef::steal(PyObject_GetAttrString(l.get(), "call_soon"));
    const bool named = intern();
    asgi_version = PyRef::steal(Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version", "2.3"));
    disconnect_message = PyRef::steal(PyDict_New());
    if (!named || !call_soon_threadsafe || !call_soon || !create_future || !asgi_version || !disconnect_message ||
        PyDict_SetItem(disconnect_message.get(), k_type.get(), v_http_disconnect.get()) != 0) {
        error = "the ASGI context could not be built: " + take_python_error(py);
        clear();
        return false;
    }
    // The loop takes requests from the inbox's eventfd. Registered on the
    // loop's own thread (add_reader is not thread-safe); a request pushed
    // before that is taken on the first wake-up.
    pympm = &py;
    drain = make_asgi_drain(*this);
    PyRef add_reader = PyRef::steal(PyObject_GetAttrString(l.get(), "add_reader"));
    PyRef fd = inbox.open(error) ? PyRef::steal(PyLong_FromLong(inbox.fd())) : PyRef();
    PyRef registered = drain && add_reader && fd
                           ? PyRef::steal(PyObject_CallFunctionObjArgs(call_soon_threadsafe.get(), add_reader.get(),
                                                                       fd.get(), drain.get(), nullptr))
                           : PyRef();
    if (!registered) {
        if (error.empty()) error = "the ASGI event loop could not watch its inbox: " + take_python_error(py);
        clear();
        return false;
    }
    loop = l;
    return true;
}

void AsgiContext::clear() {
    inbox.close();
    static_cast<AsgiNames&>(*this) = AsgiNames{};
    pympm = nullptr;
    drain = loop = call_soon_threadsafe = call_soon = serve = start_task = track = done_name = task_name = request_var =
        resolve = reject = task_stack = create_future = channel_type = call_type = caller_type = asgi_version =
            disconnect_message = scope_template = PyRef();
    methods = {};
    last_client = last_server = Address{};
}

} // namespace pympm
