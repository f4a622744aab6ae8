// An owned reference, the RAII type every use of the CPython C API goes
// through, and the bytes-out-of-a-conversion step that both interfaces'
// header checks share. The GIL guards are in python/gil.h.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "python/gil.h"
#include "python/python_compat.h"

#include <cstdarg>
#include <string>
#include <utility>

namespace pympm {

// Owns one strong reference. With PYMPM_LOCK_CHECKS, a reference count
// changed without the GIL, or with a leaf mutex held (a decref may run
// __del__), aborts (pybind11's debug builds check the GIL the same way).
class PyRef {
public:
    PyRef() = default;
    // Takes ownership of a new reference (may be null).
    static PyRef steal(PyObject* o) { return PyRef(o); }
    // Adds a reference to a borrowed one.
    static PyRef borrow(PyObject* o) {
        incref(o);
        return PyRef(o);
    }

    PyRef(const PyRef& other) : obj_(other.obj_) { incref(obj_); }
    PyRef(PyRef&& other) noexcept : obj_(std::exchange(other.obj_, nullptr)) {}
    PyRef& operator=(PyRef other) noexcept {
        std::swap(obj_, other.obj_);
        return *this;
    }
    ~PyRef() { decref(obj_); }

    PyObject* get() const { return obj_; }
    PyObject* release() { return std::exchange(obj_, nullptr); }
    void reset() { decref(std::exchange(obj_, nullptr)); }
    explicit operator bool() const { return obj_ != nullptr; }

private:
    explicit PyRef(PyObject* o) : obj_(o) {}
    static void incref(PyObject* o) {
        if (!o) return;
        PYMPM_ASSERT_GIL();
        Py_INCREF(o);
    }
    static void decref(PyObject* o) {
        if (!o) return;
        PYMPM_ASSERT_GIL();
        Py_DECREF(o);
    }
    PyObject* obj_ = nullptr;
};

// The bytes of `converted` (a new reference from a conversion such as
// PyBytes_FromObject, or null) into `out`. A failed conversion's exception
// becomes `error_type` with the caller's message: the app reads what it got
// wrong, not CPython's internals.
inline bool take_bytes(PyObject* converted, std::string& out, PyObject* error_type, const char* format, ...) {
    PyRef b = PyRef::steal(converted);
    if (!b || !PyBytes_Check(b.get())) {
        PyErr_Clear();
        va_list args;
        va_start(args, format);
        PyErr_FormatV(error_type, format, args);
        va_end(args);
        return false;
    }
    out.assign(PyBytes_AS_STRING(b.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(b.get())));
    return true;
}

// fn(arg) as text: "" if it fails or returns no str (its error cleared).
// For diagnostics (a thread's or a task's stack); GIL held.
inline std::string call_for_text(PyObject* fn, PyObject* arg) {
    std::string out;
    PyRef text = fn && arg ? PyRef::steal(PyObject_CallOneArg(fn, arg)) : PyRef();
    if (text && PyUnicode_Check(text.get()))
        if (const char* t = PyUnicode_AsUTF8(text.get())) out = t;
    PyErr_Clear();
    return out;
}

} // namespace pympm
