// ChildControl for the MPM httpd runs: how a child leaves the way httpd's
// own recycling (MaxConnectionsPerChild) does, which modules have no API
// for, without dropping a request a client sends on a kept-alive
// connection.
//
//  - prefork: AP_SIG_GRACEFUL to itself, what httpd's parent sends a child
//    on a graceful restart. The child holds one connection, the one whose
//    request made it leave (answered with Connection: close): it stops
//    listening and exits once that connection is done.
//  - worker, event: a child holds many connections, and the MPM's graceful
//    stop closes the idle keep-alive ones at once (event), or the ones
//    whose response it just sent (worker): a client that is sending its
//    next request on one then sees it closed without an answer. So leaving
//    has two steps:
//     1. draining: every HTTP/1.x response the child sends from now on says
//        Connection: close (post_read_request), also the static ones. The
//        child waits until no connection is left whose last response said
//        keep-alive: each either brings one more request (answered with
//        close) or closes (KeepAliveTimeout). New connections are still
//        served, one request each. At most max(KeepAliveTimeout) + 1 s.
//     2. stopping: the child tells its modules it stops: the MPM state
//        query answers AP_MPMQ_STOPPING (httpd's shared retained data), on
//        which mod_http2 sends its HTTP/2 connections a GOAWAY and ends
//        them once their streams are done, and core closes every HTTP/1.x
//        connection after its response. Its listeners' next accept()
//        accepts nothing and reports the condition on which the MPM stops
//        a child gracefully (as for a resource shortage): the waiting
//        connection goes to another child, requests in flight finish. The
//        MPM then exits with its "sick child" status, which makes the
//        parent slow down forking and, with no other child, stop the
//        server: the child exits 0 itself at the end of its cleanup.
#pragma once

#include "pympm_module.h"

#include "child/child_control.h"

namespace pympm::httpd {

class HttpdChildControl final : public ChildControl {
public:
    explicit HttpdChildControl(bool threaded_mpm) : threaded_(threaded_mpm) {}
    void leave_gracefully() override;
    [[noreturn]] void exit_now() override;
    // At the end of the child's cleanup: exits 0 if this child is leaving
    // through the accept() route (see above); returns otherwise.
    void finish_leaving();
    // From child_init on: this child's HTTP/1.x connections are tracked
    // (threaded MPMs only; see above).
    void track_connections();

private:
    bool threaded_;
};

// An HTTP/1.1 connection upgraded to a WebSocket: a leaving child does not
// wait for it as for a keep-alive connection (the WebSocket closes itself).
void forget_upgraded_connection(conn_rec* c);

// The hooks that track the child's keep-alive connections (see above).
void register_leaving_hooks();

} // namespace pympm::httpd
