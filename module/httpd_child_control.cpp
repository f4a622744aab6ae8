#include "httpd_child_control.h"

#include <ap_listen.h>
#include <mpm_common.h>

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace pympm::httpd {

namespace {

// Listeners whose accept_func was replaced, with the original (every MPM
// sets them all to ap_unixd_accept today; kept per listener anyway).
constexpr int kMaxListeners = 64;
struct Replaced {
    ap_listen_rec* listener;
    accept_function original;
};
Replaced g_replaced[kMaxListeners];
std::atomic<int> g_replaced_count{0};
std::atomic<bool> g_leaving_by_accept{false};

apr_status_t accept_then_leave(void** accepted, ap_listen_rec* lr, apr_pool_t* ptrans) {
    accept_function original = nullptr;
    const int n = g_replaced_count.load();
    for (int i = 0; i < n; ++i)
        if (g_replaced[i].listener == lr) original = g_replaced[i].original;
    if (original) original(accepted, lr, ptrans);
    // The MPM serves what was accepted and stops this child gracefully.
    return APR_EGENERAL;
}

} // namespace

void HttpdChildControl::leave_gracefully() {
    if (!threaded_) {
        ::kill(::getpid(), AP_SIG_GRACEFUL);
        return;
    }
    if (g_leaving_by_accept.exchange(true)) return;
    int n = 0;
    for (ap_listen_rec* lr = ap_listeners; lr && n < kMaxListeners; lr = lr->next, ++n) {
        g_replaced[n] = {lr, lr->accept_func};
        g_replaced_count.store(n + 1);
        // The listener thread reads it concurrently: one aligned pointer store.
        __atomic_store_n(&lr->accept_func, &accept_then_leave, __ATOMIC_RELEASE);
    }
}

void HttpdChildControl::exit_now() {
    ::_exit(0);
}

void HttpdChildControl::finish_leaving() {
    if (g_leaving_by_accept.load()) ::_exit(0);
}

} // namespace pympm::httpd
