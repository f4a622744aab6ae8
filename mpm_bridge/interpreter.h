// The embedded interpreter of one child: started in child_init (never in the
// root parent), finalised from the child pool's cleanup. Also the binding of
// httpd threads to persistent PyThreadStates.
#pragma once

#include "child_settings.h"
#include "log.h"
#include "python_ref.h"

#include <string>

namespace pympm {

struct PythonStart {
    bool ok = false;
    std::string error;       // what went wrong, when !ok
    std::string version;     // "3.11.2"
    std::string home;        // sys.prefix
};

// Initialises CPython from an isolated PyConfig (no signal handlers, no
// environment), installs the `pympm` module and the log streams, prepends
// PyPath to sys.path. On return the calling thread holds the GIL.
PythonStart start_python(const ChildSettings& settings, LogSink& log);

// The `pympm` module's objects the C++ side calls into.
struct PympmModule {
    PyRef module;
    PyRef load_app;          // _load_app(kind, location, callable)
    PyRef format_exception;  // _format_exception(type, value, tb)
    PyRef signal_stopping;   // _signal_stopping()
    PyRef shutdown;          // _shutdown(timeout) -> [stuck thread names]
    PyRef file_wrapper;      // FileWrapper type
    PyRef client_disconnected; // ClientDisconnected exception type
    PyRef request_body_error;  // RequestBodyError exception type
    PyRef errors_stream;     // wsgi.errors
    PyRef child_info;        // the dict behind pympm.child_info()
};

// Loads the bootstrap into a fresh `pympm` module. Needs the GIL.
bool load_pympm_module(PympmModule& out, std::string& error);

// pympm.child_info() merges in what this returns (PyThreads gate counters).
void set_gate_stats_provider(PyObject* (*fn)());

// Formats the current Python exception (and clears it) as text lines.
std::string take_python_error(const PympmModule& m);

// Thread binding: each httpd thread that runs Python keeps one PyThreadState
// for its life. enter() takes the GIL on it, leave() releases it unless the
// GIL is to be kept (PyEnableThreads Off).
namespace thread_binding {
// The thread that started Python uses the main thread state.
void adopt_main_thread();
void enter();
void leave(bool keep_gil);
// True if this thread holds the GIL through its binding.
bool holds_gil();
// True while this thread is inside a request (set by RequestScope).
bool in_request();
void set_in_request(bool v);
// Python is gone: forget the bindings' thread states.
void interpreter_finalized();
} // namespace thread_binding

} // namespace pympm
