// ChildControl for the MPM httpd runs: how a child leaves the way httpd's
// own recycling (MaxConnectionsPerChild) does, which modules have no API
// for.
//
//  - prefork: AP_SIG_GRACEFUL to itself, what httpd's parent sends a child
//    on a graceful restart: the child stops listening and exits once its
//    connection is done.
//  - worker, event: the next accept() of the child's listener reports
//    APR_EGENERAL (after accepting: that connection is still served), on
//    which the MPM stops the child gracefully, as for a resource shortage:
//    no new connections, requests in flight finish, idle keep-alive
//    connections close. The MPM then exits with its "sick child" status,
//    which makes the parent slow down forking and, with no other child,
//    stop the server: the child exits 0 itself at the end of its cleanup.
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

private:
    bool threaded_;
};

} // namespace pympm::httpd
