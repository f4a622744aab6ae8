// The few RAII types every use of the CPython C API goes through: an owned
// reference, a GIL acquire guard for threads outside our request path, and a
// GIL release guard around blocking calls; and the bytes-out-of-a-conversion
// step that both interfaces' header checks share.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdarg>
#include <string>
#include <utility>

namespace pympm {

// Owns one strong reference.
class PyRef {
public:
    PyRef() = default;
    // Takes ownership of a new reference (may be null).
    static PyRef steal(PyObject* o) { return PyRef(o); }
    // Adds a reference to a borrowed one.
    static PyRef borrow(PyObject* o) { Py_XINCREF(o); return PyRef(o); }

    PyRef(const PyRef& other) : obj_(other.obj_) { Py_XINCREF(obj_); }
    PyRef(PyRef&& other) noexcept : obj_(std::exchange(other.obj_, nullptr)) {}
    PyRef& operator=(PyRef other) noexcept { std::swap(obj_, other.obj_); return *this; }
    ~PyRef() { Py_XDECREF(obj_); }

    PyObject* get() const { return obj_; }
    PyObject* release() { return std::exchange(obj_, nullptr); }
    void reset() { Py_CLEAR(obj_); }
    explicit operator bool() const { return obj_ != nullptr; }

private:
    explicit PyRef(PyObject* o) : obj_(o) {}
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

// Takes the GIL on any thread (PyGILState_Ensure); for rare paths such as the
// child_stopping hook, never for requests (they use RequestThread).
class GilAcquire {
public:
    GilAcquire() : state_(PyGILState_Ensure()) {}
    ~GilAcquire() { PyGILState_Release(state_); }
    GilAcquire(const GilAcquire&) = delete;
    GilAcquire& operator=(const GilAcquire&) = delete;

private:
    PyGILState_STATE state_;
};

// Releases the GIL for the scope of a blocking call, when `active`
// (PyEnableThreads On); under Off the request thread keeps it.
class GilRelease {
public:
    explicit GilRelease(bool active = true) : state_(active ? PyEval_SaveThread() : nullptr) {}
    ~GilRelease() { if (state_) PyEval_RestoreThread(state_); }
    GilRelease(const GilRelease&) = delete;
    GilRelease& operator=(const GilRelease&) = delete;

    // Takes the GIL back for a scope inside the release (where Python is
    // needed after all), and lets it go again.
    class Back {
    public:
        explicit Back(GilRelease& r) : r_(r) { if (r_.state_) PyEval_RestoreThread(r_.state_); }
        ~Back() { if (r_.state_) r_.state_ = PyEval_SaveThread(); }
        Back(const Back&) = delete;
        Back& operator=(const Back&) = delete;

    private:
        GilRelease& r_;
    };

private:
    PyThreadState* state_;
};

} // namespace pympm
