// What one httpd thread is doing for requests, and the two scopes that
// change it:
//
//  - RequestScope: a request runs Python on this thread. The outermost one
//    waits for a PyThreads slot (without the GIL), then takes the GIL.
//    httpd may run another request on the same thread while one is waiting
//    on httpd (an ErrorDocument's internal redirect from a failed body
//    read, a subrequest made by an output filter): that nested request
//    resumes the outer one's slot and GIL for its duration (it runs on the
//    same thread, so it adds no concurrency) and gives them back after.
//  - BlockingSection: the request waits on httpd or its client (reading the
//    body, passing a brigade). The GIL is released (PyEnableThreads On) and
//    the slot may be lent to a waiting request if the wait is long; the
//    request then queues for a slot again, behind those already waiting,
//    when the section ends.
//
// Lock order is always slot, then GIL: nothing waits for a slot while
// holding the GIL.
#pragma once

#include "python/python_ref.h"
#include "admission/slot_gate.h"

#include <csignal>

namespace pympm {

class BlockingSection;

class RequestScope {
public:
    // keep_gil: PyEnableThreads Off; the thread keeps the GIL after the
    // outermost request.
    RequestScope(SlotGate* gate, bool keep_gil);
    ~RequestScope();
    RequestScope(const RequestScope&) = delete;
    RequestScope& operator=(const RequestScope&) = delete;

    // Requests running on this thread (0 outside any; 2 inside a nested one).
    // Safe to read from a signal handler on this thread.
    static int depth();
    bool outermost() const { return outermost_; }
    // The outermost request on this thread gives its PyThreads slot up for
    // good (an accepted WebSocket: it waits on its client for its life).
    static void give_up_slot();
    // The outermost request had to wait for its PyThreads slot.
    bool waited() const { return waited_; }

private:
    bool keep_gil_;
    bool outermost_;
    bool waited_ = false;
    bool took_gil_ = false;
    SlotGate::Holder holder_;
    BlockingSection* suspended_ = nullptr; // the outer request's, if nested
};

class BlockingSection {
public:
    // release_gil: PyEnableThreads On. Safe on any thread, in or out of a
    // request (app threads reading wsgi.input use it too).
    explicit BlockingSection(bool release_gil);
    ~BlockingSection();
    BlockingSection(const BlockingSection&) = delete;
    BlockingSection& operator=(const BlockingSection&) = delete;

private:
    friend class RequestScope;
    void enter(); // release the GIL, let the slot be lent
    void leave(); // take the slot back (may queue for it), then the GIL

    bool release_gil_;
    PyThreadState* saved_ = nullptr;
    bool in_io_ = false;
    BlockingSection* outer_;
};

} // namespace pympm
