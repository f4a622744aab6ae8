// Binding of httpd threads to persistent PyThreadStates: each thread that
// runs Python for requests keeps one state for its life (C extensions using
// PyGILState_Ensure find it), and gives it back to the interpreter when the
// thread exits (mod_http2's workers come and go).
//
// Whether this thread holds the GIL is always asked of CPython, never
// remembered: a nested request (an internal redirect or a subrequest that
// httpd runs on this thread while the outer request waits on httpd without
// the GIL) must see the truth.
#pragma once

#include "python/python_ref.h"

namespace pympm::thread_binding {

// Python has started on this thread, which now holds the GIL on the main
// thread state.
void python_started();
// True if this thread holds the GIL now (on its binding's state or, for a
// thread Python started, its own).
bool holds_gil();
// Takes the GIL on this thread's own state unless it holds it already;
// true if it took it.
bool acquire();
// Releases the GIL this thread holds.
void release();

// The GIL on this thread's own state for a scope, unless it holds it
// already (a request thread that otherwise runs no Python: an ASGI app's
// import retried on a request).
class Held {
public:
    Held() : took_(acquire()) {}
    ~Held() {
        if (took_) release();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

private:
    bool took_;
};
// PyEnableThreads Off: this thread keeps the GIL from now on.
void keep();
// PyEnableThreads Off: another thread keeps the GIL for good, so this one
// can never take it.
bool gil_kept_elsewhere();

// Deletes the states of httpd threads that exited since (they never wait
// for the GIL on their way out). Needs the GIL; cheap when there are none.
void delete_exited_thread_states();
// Python is gone: forget this thread's state.
void interpreter_finalized();

} // namespace pympm::thread_binding
