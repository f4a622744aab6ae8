// One WSGI request (PEP 3333): builds environ, calls the app with
// start_response, sends the response iterable, and always calls close().
// Runs with the GIL held. The body reader, the response writer, the I/O
// lock and the error rules are the request's core (request_core.h), which
// ASGI shares.
//
// App threads may call write() and wsgi.input's methods too: the request
// does not end while such a call is still running on another thread.
#pragma once

#include "base/lock_order.h"
#include "request/request_core.h"
#include "wsgi/wsgi_context.h"

#include <atomic>
#include <optional>
#include <string>

namespace pympm {

class WsgiRequest {
public:
    WsgiRequest(RequestContext& ctx, WsgiContext& wsgi, RequestIO& io, const std::string& app_name);
    ~WsgiRequest();
    WsgiRequest(const WsgiRequest&) = delete;
    WsgiRequest& operator=(const WsgiRequest&) = delete;

    // Returns 0 when a response was sent (or the client went away), else the
    // HTTP status httpd should answer with (500, 413, ...).
    int run(PyObject* app);
    // After run(): the status the client got from the app (0 if none), and
    // whether the app raised (client disconnects aside).
    int response_status() const { return core_.response.head_set() ? core_.response.head().status : 0; }
    bool app_raised() const { return core_.app_raised(); }

    // Called by the Python-facing objects (wsgi_types.cpp), GIL held,
    // between call_started() and call_finished().
    PyObject* start_response(PyObject* args, PyObject* kwargs);
    PyObject* write(PyObject* data);
    PyObject* read(Py_ssize_t size);
    PyObject* readline(Py_ssize_t limit);
    PyObject* readlines(Py_ssize_t hint);
    void call_started() { ++calls_; }
    void call_finished();

private:
    PyRef build_environ(); // wsgi_environ.cpp
    // At the end of run(): the Python objects are detached and calls still
    // running on other threads finish first.
    void end_calls();
    // Sends one body item; false if the response must stop (client gone,
    // or an error: a Python exception is set or the cause was logged).
    bool send_chunk(PyObject* item, RequestIO::Send mode);
    bool require_head(const char* what);
    // Each returns the handler status (0 once a response went out).
    std::optional<int> try_send_file(PyObject* result);
    int send_sequence(PyObject* seq);
    int send_iterable(PyObject* result);
    int finish_response();
    void call_close(PyObject* result);

    RequestCore core_;
    WsgiContext& wsgi_;
    PyRef start_response_obj_;
    PyRef input_obj_;
    std::atomic<int> calls_{0};
    LeafMutex calls_mutex_;
    LeafCondition calls_done_;
};

// Creates the Python types for start_response and wsgi.input.
bool make_wsgi_types(PyRef& start_response_type, PyRef& input_type, std::string& error);
// Wraps a request in the per-request Python objects.
PyObject* new_start_response(PyObject* type, WsgiRequest* req);
PyObject* new_write_callable(PyObject* start_response);
PyObject* new_input(PyObject* type, WsgiRequest* req);
// Detaches the objects from a finished request (calls after it raise).
void detach_request_object(PyObject* obj);

} // namespace pympm
