// What every request of a child shares, whatever its interface (WSGI,
// ASGI): the pympm module's objects, the GIL policy, and the hook the
// child's recycling uses. Owned by ChildRuntime; used with the GIL held.
#pragma once

#include "python/interpreter.h"
#include "request/request_io.h"

namespace pympm {

struct RequestContext {
    PympmModule py;
    bool release_gil = true; // PyEnableThreads On
    // Called once the app has its response ready, before any of it is sent
    // (the child may decide then to close the connection after it).
    void (*response_ready)(void* owner, RequestIO& io) = nullptr;
    void* response_ready_owner = nullptr;
};

} // namespace pympm
