// The embedded interpreter of one child: started in child_init (never in the
// root parent), finalised from the child pool's cleanup.
#pragma once

#include "config/child_settings.h"
#include "base/log.h"
#include "python/python_ref.h"

#include <string>

namespace pympm {

struct PythonStart {
    bool ok = false;
    std::string error;   // what went wrong, when !ok
    std::string version; // "3.11.2"
    std::string home;    // sys.prefix
};

// Initialises CPython from an isolated PyConfig (no signal handlers, no
// environment), installs the `pympm` module and the log streams, prepends
// PyPath to sys.path. On return the calling thread holds the GIL.
PythonStart start_python(const ChildSettings& settings, LogSink& log);

// The `pympm` module's objects the C++ side calls into.
struct PympmModule {
    PyRef module;
    PyRef load_app;            // _load_app(kind, location, callable)
    PyRef format_exception;    // _format_exception(type, value, tb)
    PyRef signal_stopping;     // _signal_stopping()
    PyRef shutdown;            // _shutdown(timeout) -> [stuck thread names]
    PyRef file_wrapper;        // FileWrapper type
    PyRef client_disconnected; // ClientDisconnected exception type
    PyRef request_body_error;  // RequestBodyError exception type
    PyRef request_timeout;     // RequestTimeout exception type
    PyRef thread_stack;        // _thread_stack(ident) -> str or None
    PyRef errors_stream;       // wsgi.errors
    PyRef child_info;          // the dict behind pympm.child_info()
    PyRef load_asgi;           // _load_asgi() -> the ASGI part (asgi/pympm_asgi.py), loaded once
};

// The ASGI part of the module, executed on the first call; null with a Python
// exception set if it fails. Needs the GIL.
PyRef load_asgi_part(const PympmModule& m);

// Loads the bootstrap into a fresh `pympm` module. Needs the GIL.
bool load_pympm_module(PympmModule& out, std::string& error);

// pympm.child_info() merges in what this returns (PyThreads gate counters).
void set_gate_stats_provider(PyObject* (*fn)());

// Formats the current Python exception (and clears it) as text lines.
std::string take_python_error(const PympmModule& m);

} // namespace pympm
