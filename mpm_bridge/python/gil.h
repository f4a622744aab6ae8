// The GIL in one place: the guards that take it and let it go, waiting for
// a C++ mutex without it, and PYMPM_ASSERT_GIL() where code needs it.
// Every place that takes the GIL goes through take_gil() or GilAcquire, so
// the lock-order checker (base/lock_order.h) sees it.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "base/lock_order.h"

#include <mutex>

namespace pympm {

// Code that needs the GIL: with PYMPM_LOCK_CHECKS, aborts with the stack if
// this thread does not hold it, or holds a leaf mutex (Python may run
// there, and let the GIL go). Nothing otherwise.
#if PYMPM_LOCK_CHECKS
void gil_required(const char* where) noexcept;
#define PYMPM_ASSERT_GIL() ::pympm::gil_required(__func__)
#else
#define PYMPM_ASSERT_GIL() ((void)0)
#endif

// Takes the GIL back on `state`, saved by PyEval_SaveThread (or a thread's
// own state).
inline void take_gil(PyThreadState* state) {
    lock_order::gil_wanted("PyEval_RestoreThread");
    PyEval_RestoreThread(state);
}

// Takes the GIL on any thread (PyGILState_Ensure); for rare paths such as the
// child_stopping hook, never for requests (they use RequestAdmission).
class GilAcquire {
public:
    GilAcquire() : state_((lock_order::gil_wanted("PyGILState_Ensure"), PyGILState_Ensure())) {}
    ~GilAcquire() { PyGILState_Release(state_); }
    GilAcquire(const GilAcquire&) = delete;
    GilAcquire& operator=(const GilAcquire&) = delete;

private:
    PyGILState_STATE state_;
};

// Releases the GIL, which this thread holds, for the scope of a blocking
// call when `active` (PyEnableThreads On); under Off the request thread
// keeps it.
class GilRelease {
public:
    explicit GilRelease(bool active = true) : state_(active ? PyEval_SaveThread() : nullptr) {}
    ~GilRelease() {
        if (state_) take_gil(state_);
    }
    GilRelease(const GilRelease&) = delete;
    GilRelease& operator=(const GilRelease&) = delete;

    // Takes the GIL back for a scope inside the release (where Python is
    // needed after all), and lets it go again.
    class Back {
    public:
        explicit Back(GilRelease& r) : r_(r) {
            if (r_.state_) take_gil(r_.state_);
        }
        ~Back() {
            if (r_.state_) r_.state_ = PyEval_SaveThread();
        }
        Back(const Back&) = delete;
        Back& operator=(const Back&) = delete;

    private:
        GilRelease& r_;
    };

private:
    PyThreadState* state_;
};

// Lets the GIL go for a scope if this thread holds it (any thread: a
// request's, or an app thread), and takes it back after.
class GilReleaseIfHeld {
public:
    GilReleaseIfHeld();
    ~GilReleaseIfHeld() {
        if (state_) take_gil(state_);
    }
    GilReleaseIfHeld(const GilReleaseIfHeld&) = delete;
    GilReleaseIfHeld& operator=(const GilReleaseIfHeld&) = delete;

private:
    PyThreadState* state_ = nullptr;
};

// Locks `m`, a lock whose holder may need the GIL to finish (the I/O lock,
// the import lock): never waits for it holding the GIL, which it takes back
// once it has `m`. Lock order: GIL before `m`, so a leaf mutex must not be
// held.
void lock_without_gil(std::mutex& m);

} // namespace pympm
