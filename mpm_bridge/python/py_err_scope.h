// The pending Python exception, held by C++ for a scope: taken out of the
// thread's error state, so that code may call Python meanwhile (log it,
// format it, clean up), and put back at the end unless the scope took it
// for good. pybind11's error_scope and nanobind's error_scope do the same;
// this one also hands out the exception, normalised, with its traceback
// (PyErr_GetRaisedException on 3.12+, PyErr_Fetch and normalisation
// before).
#pragma once

#include "python/python_ref.h"

namespace pympm {

class PyErrScope {
public:
    // Takes the pending exception, if any; the error state is then clear.
    PyErrScope() noexcept;
    // Puts it back (replacing any exception raised inside the scope),
    // unless take() or discard() was called.
    ~PyErrScope();
    PyErrScope(const PyErrScope&) = delete;
    PyErrScope& operator=(const PyErrScope&) = delete;

    // An exception was pending.
    explicit operator bool() const { return static_cast<bool>(exc_); }
    // The exception object (borrowed; null if none) and its type's name.
    PyObject* value() const { return exc_.get(); }
    const char* type_name() const { return exc_ ? Py_TYPE(exc_.get())->tp_name : ""; }
    // str(exception); `unprintable` if there is none or str() fails (its
    // error is cleared).
    std::string message(const char* unprintable = "?") const;
    // The exception, no longer restored at the end of the scope.
    PyRef take() { return std::move(exc_); }
    // Drops the exception: it is not restored.
    void discard() { exc_.reset(); }

    // Makes `exc` (an exception instance) the pending exception, traceback
    // and all, as `raise exc` would leave it.
    static void raise(PyRef exc);

private:
    PyRef exc_;
};

} // namespace pympm
