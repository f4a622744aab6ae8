// What the interpreter core may ask of the httpd child it runs in: to leave
// the way httpd's own recycling does, or to exit at once. The module
// implements it for the MPM at hand.
#pragma once

namespace pympm {

class ChildControl {
public:
    virtual ~ChildControl() = default;
    // Stop taking connections, finish the requests in flight, exit; the MPM
    // starts a replacement. Returns at once; safe from any thread.
    virtual void leave_gracefully() = 0;
    // Exit now, finishing nothing: no cleanup, atexit handler or destructor
    // runs (a request is stuck for good, or the child was stopped in the
    // middle of one). Async-signal-safe: also called from a signal handler.
    [[noreturn]] virtual void exit_now() = 0;
};

} // namespace pympm
