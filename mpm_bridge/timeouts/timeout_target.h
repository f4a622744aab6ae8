// What PyRequestTimeout reports and stops: the work of a request in the app.
// The watchdog knows only these two interfaces. By default the target is
// the request's thread (its Python stack; pympm.RequestTimeout raised in
// it); a request whose work runs elsewhere (an ASGI app's task on the
// event loop) is a TimeoutSource and gives its own.
#pragma once

#include <memory>
#include <string>

namespace pympm {

// Used by the watchdog's job with the GIL held, after Python code that may
// let the GIL go (and the request end meanwhile): it owns what it uses
// (references, a thread ident), never the request. Destroyed with the GIL.
class TimeoutTarget {
public:
    virtual ~TimeoutTarget() = default;
    // For the log: what the stack is ("its Python stack") and what
    // cancel() does ("pympm.RequestTimeout is raised in it").
    virtual const char* stack_name() const = 0;
    virtual const char* cancel_action() const = 0;
    // The work's stack, innermost last; "" when not known. Runs Python.
    virtual std::string stack() const = 0;
    // Stops the work; called only while the request is still the one
    // watched.
    virtual void cancel() = 0;
};

// A request that gives its own target (set on its thread's watch for its
// time in the app).
class TimeoutSource {
public:
    // With the GIL, while the request surely runs (no Python has run since
    // its watch was found current). `cancelling`: cancel() will follow.
    virtual std::unique_ptr<TimeoutTarget> timeout_target(bool cancelling) = 0;

protected:
    ~TimeoutSource() = default;
};

} // namespace pympm
