// One ASGI request (ASGI 3.0, HTTP 2.3), httpd's request thread's side (R):
// it never runs Python and never takes the GIL. It copies the request's
// head into an AsgiExchange, pushes the start on the event loop's inbox
// and sleeps on the exchange; the loop thread (L) builds the scope, runs
// the app as a task and posts plain C++ events back (a response part to
// write, a body chunk to read, the app's end), which R carries out with
// httpd and answers through the inbox. A small response costs R one
// wake-up. Every Python object of the request lives and dies on L
// (asgi_loop.h).
//
// The request ends once its response is complete, or the app returns: what
// the app does after its last body part (a background task) runs on the
// loop alone, as under uvicorn, and holds up neither the client nor the
// connection's next request.
//
// The body reader, the response writer and the error rules are the request's
// core (request_core.h), which WSGI shares.
#pragma once

#include "asgi/asgi_context.h"
#include "asgi/asgi_exchange.h"
#include "asgi/asgi_loop.h"
#include "request/request_core.h"

#include <memory>

namespace pympm {

class AsgiRequest {
public:
    AsgiRequest(RequestContext& ctx, AsgiContext& asgi, RequestIO& io, const std::string& app_name);
    AsgiRequest(const AsgiRequest&) = delete;
    AsgiRequest& operator=(const AsgiRequest&) = delete;

    // What the timeout watch cancels and reports (shared: the watch's job
    // may outlive the request).
    const std::shared_ptr<AsgiExchange>& exchange() const { return x_; }

    // Runs the app of `mount` for the request, without the GIL (one held by
    // this thread, a nested request's under a WSGI outer, is let go for the
    // time). Returns 0 once a response went out, else the status httpd
    // should answer with.
    int run(const AsgiMount& mount);
    int response_status() const { return core_.response.head_set() ? core_.response.head().status : 0; }
    bool app_raised() const { return core_.app_raised(); }

private:
    // Carries out one event; false once R's part is over (the response is
    // complete or the app is done).
    bool handle(AsgiEvent& e, int& status);
    // An event that came after R's part was over: whoever waits for an
    // answer on L gets one; the app's exception is still logged.
    void handle_late(AsgiEvent& e, int& status);
    void read_body(std::size_t max);
    void take_head(AsgiEvent& e);
    int finish_after_done(const AppFailure& f);
    void answer(std::unique_ptr<LoopWork> work);

    RequestCore core_;
    AsgiContext& asgi_;
    std::shared_ptr<AsgiExchange> x_;
    bool started_ = false;     // the response head was taken
    bool polling_end_ = false; // a receive() waits for the client to go
    bool done_seen_ = false;   // the app's end was handled: a second one is ignored
};

} // namespace pympm
