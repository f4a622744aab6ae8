#include "admission/request_scope.h"

#include "python/thread_binding.h"

namespace pympm {

namespace {

struct RequestThread {
    // Read by the stop path, which under prefork runs in a signal handler on
    // this same thread.
    volatile std::sig_atomic_t depth = 0;
    SlotGate* gate = nullptr; // the outermost request's slot
    SlotGate::Holder* holder = nullptr;
    BlockingSection* blocking = nullptr; // innermost open section
};
thread_local RequestThread t_thread;

} // namespace

int RequestScope::depth() { return t_thread.depth; }

void RequestScope::give_up_slot() {
    RequestThread& t = t_thread;
    if (t.depth != 1 || !t.gate || !t.holder) return;
    t.gate->release(*t.holder);
    t.gate = nullptr;
    t.holder = nullptr;
}

// Nested: another request on this thread waits on httpd (or an app thread
// reading a request body made httpd run an ErrorDocument on it).
RequestScope::RequestScope(SlotGate* gate, bool keep_gil)
    : keep_gil_(keep_gil), outermost_(t_thread.depth == 0 && t_thread.blocking == nullptr) {
    RequestThread& t = t_thread;
    if (outermost_) {
        // Waiting for a slot holds no GIL. The depth covers taking the GIL
        // too: a prefork child stopped by a signal there must not touch the
        // GIL from the handler (its interrupted thread may hold the GIL's
        // own mutex).
        if (gate) {
            waited_ = gate->acquire(holder_);
            t.gate = gate;
            t.holder = &holder_;
        }
        t.depth = 1;
        took_gil_ = thread_binding::acquire();
        thread_binding::delete_exited_thread_states();
    } else {
        t.depth = t.depth + 1;
        // The outer request waits on httpd in a blocking section; this
        // request is what httpd does with that wait, so it runs with the
        // outer one's slot and GIL.
        suspended_ = t.blocking;
        t.blocking = nullptr;
        if (suspended_) suspended_->leave();
        // Held now unless the outer section kept it (Off) or there was none.
        if (!thread_binding::holds_gil()) took_gil_ = thread_binding::acquire();
    }
}

RequestScope::~RequestScope() {
    RequestThread& t = t_thread;
    if (outermost_) {
        if (keep_gil_)
            thread_binding::keep();
        else if (took_gil_ || thread_binding::holds_gil())
            thread_binding::release();
        if (t.gate) t.gate->release(*t.holder);
        t.gate = nullptr;
        t.holder = nullptr;
        t.blocking = nullptr;
        t.depth = 0;
        return;
    }
    if (took_gil_) thread_binding::release();
    t.blocking = suspended_;
    if (suspended_) suspended_->enter();
    t.depth = t.depth - 1;
}

BlockingSection::BlockingSection(bool release_gil) : release_gil_(release_gil), outer_(t_thread.blocking) {
    t_thread.blocking = this;
    enter();
}

BlockingSection::~BlockingSection() {
    leave();
    t_thread.blocking = outer_;
}

void BlockingSection::enter() {
    RequestThread& t = t_thread;
    // Any thread: an app thread reading wsgi.input has no binding of ours.
    if (release_gil_ && thread_binding::holds_gil()) saved_ = PyEval_SaveThread();
    if (t.holder && !in_io_) {
        t.gate->begin_io(*t.holder);
        in_io_ = true;
    }
}

void BlockingSection::leave() {
    RequestThread& t = t_thread;
    if (in_io_) {
        in_io_ = false;
        t.gate->end_io(*t.holder); // may wait: before the GIL, never after
    }
    if (saved_) {
        take_gil(saved_);
        saved_ = nullptr;
    }
}

} // namespace pympm
