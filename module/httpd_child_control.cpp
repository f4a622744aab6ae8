#include "httpd_child_control.h"

#include "base/log.h"

#include <ap_listen.h>
#include <ap_mpm.h>
#include <http_connection.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mpm_common.h>
#include <unixd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <unistd.h>

namespace pympm::httpd {

namespace {

// A threaded child's way out (see the header). Only ever moves forward.
enum Phase : int { serving = 0, draining = 1, stopping = 2 };
std::atomic<int> g_phase{serving};
// Whether this child tracks its connections at all (a threaded MPM, and a
// child that runs Python: the only ones that ever leave on their own).
std::atomic<bool> g_tracking{false};
// HTTP/1.x connections whose last response may have said keep-alive: the
// ones a client may be reusing right now. A connection counts from its
// first request on; it stops counting when a request of it is read while
// the child drains (that response says close), or when it closes.
std::atomic<long> g_kept_alive{0};
std::atomic<std::int64_t> g_leave_began_ns{0};
std::atomic<std::int64_t> g_drain_deadline_ns{0};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

apr_status_t accept_nothing_and_stop(void** accepted, ap_listen_rec*, apr_pool_t*) {
    // The MPM stops this child gracefully (requests in flight finish); the
    // connection waiting in the listen queue goes to another child.
    *accepted = nullptr;
    return APR_EGENERAL;
}

void stop(bool drained) {
    int expected = draining;
    if (!g_phase.compare_exchange_strong(expected, stopping)) return;
    const double waited = static_cast<double>(now_ns() - g_leave_began_ns.load()) / 1e9;
    if (drained)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                     PYMPM_APLOGNO(00140) "child %ld stops: its keep-alive connections are drained "
                                          "(%.2f s after it began to leave)",
                     static_cast<long>(::getpid()), waited);
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                     PYMPM_APLOGNO(00141) "child %ld stops with %ld keep-alive connection(s) still open, "
                                          "%.2f s after it began to leave (KeepAliveTimeout + 1 s)",
                     static_cast<long>(::getpid()), g_kept_alive.load(), waited);
    // What the MPM answers once it stops a child itself: on it mod_http2
    // sends its connections a GOAWAY and ends them when their streams are
    // done, and core closes an HTTP/1.x connection after its response. The
    // state lives in httpd's retained data, which every Unix MPM reads it
    // from; nothing else in the child acts on it. The listener and
    // mod_http2's threads read it while this thread writes it: one atomic
    // store of an aligned int (httpd's own reads are plain loads).
    __atomic_store_n(&ap_unixd_mpm_get_retained_data()->mpm_state, AP_MPMQ_STOPPING, __ATOMIC_RELEASE);
    // The listener thread reads it concurrently: one aligned pointer store.
    for (ap_listen_rec* lr = ap_listeners; lr; lr = lr->next)
        __atomic_store_n(&lr->accept_func, &accept_nothing_and_stop, __ATOMIC_RELEASE);
    // A worker child with one listener waits inside accept() itself, which
    // would still take the next connection: SIGHUP, the MPMs' listener
    // wake-up signal (the listener is the only thread that does not block
    // it, and its handler does nothing), makes it return and call the new
    // function. The event MPM's listener just polls again.
    ::kill(::getpid(), SIGHUP);
}

void stop_if_drained() {
    if (g_phase.load() != draining) return;
    if (g_kept_alive.load() == 0)
        stop(true);
    else if (now_ns() >= g_drain_deadline_ns.load())
        stop(false);
}

// Per HTTP/1.x connection, in its pool.
struct ConnState {
    bool kept_alive = false;
};

void forget(ConnState* s) {
    if (!s || !s->kept_alive) return;
    s->kept_alive = false;
    g_kept_alive.fetch_sub(1);
    stop_if_drained();
}

ConnState* conn_state(conn_rec* c) {
    return static_cast<ConnState*>(ap_get_module_config(c->conn_config, &pympm_module));
}

apr_status_t forget_at_cleanup(void* data) {
    forget(static_cast<ConnState*>(data));
    return APR_SUCCESS;
}

int post_read_request(request_rec* r) {
    if (!g_tracking.load(std::memory_order_relaxed)) return DECLINED;
    conn_rec* c = r->connection;
    if (c->master) {
        // An HTTP/2 stream: its connection hears of the stop from mod_http2.
        stop_if_drained();
        return DECLINED;
    }
    ConnState* s = conn_state(c);
    if (!s) {
        s = static_cast<ConnState*>(apr_pcalloc(c->pool, sizeof(ConnState)));
        ap_set_module_config(c->conn_config, &pympm_module, s);
        apr_pool_cleanup_register(c->pool, s, forget_at_cleanup, apr_pool_cleanup_null);
    }
    // Counted before the phase is read, and the phase is set before the
    // count is read when the child begins to leave: either this request
    // sees the child draining, or the child sees this connection.
    if (!s->kept_alive) {
        s->kept_alive = true;
        g_kept_alive.fetch_add(1);
    }
    if (g_phase.load() != serving) {
        c->keepalive = AP_CONN_CLOSE;
        forget(s);
    }
    return DECLINED;
}

int pre_close_connection(conn_rec* c) {
    if (!g_tracking.load(std::memory_order_relaxed) || c->master) return DECLINED;
    forget(conn_state(c));
    stop_if_drained();
    return DECLINED;
}

// An HTTP/1.1 connection upgraded to h2c runs its whole HTTP/2 session from
// here on: from now on it hears of the stop from mod_http2.
int protocol_switch(conn_rec* c, request_rec*, server_rec*, const char* protocol) {
    if (g_tracking.load(std::memory_order_relaxed) && !c->master && protocol &&
        std::strncmp(protocol, "http/1", 6) != 0)
        forget(conn_state(c));
    return DECLINED;
}

} // namespace

void forget_upgraded_connection(conn_rec* c) {
    if (!g_tracking.load(std::memory_order_relaxed) || c->master) return;
    forget(conn_state(c));
}

void HttpdChildControl::leave_gracefully() {
    if (!threaded_) {
        ::kill(::getpid(), AP_SIG_GRACEFUL);
        return;
    }
    if (g_phase.load() != serving) return;
    // A connection idle in keep-alive closes KeepAliveTimeout after its last
    // response at the latest; one still busy then (a long download, an
    // upgraded connection) does not hold the child any longer.
    apr_interval_time_t keep_alive = 0;
    for (server_rec* s = ap_server_conf; s; s = s->next)
        if (s->keep_alive_timeout > keep_alive) keep_alive = s->keep_alive_timeout;
    const std::int64_t began = now_ns();
    g_leave_began_ns.store(began);
    g_drain_deadline_ns.store(began + static_cast<std::int64_t>(keep_alive) * 1000 + 1'000'000'000);
    int expected = serving;
    if (!g_phase.compare_exchange_strong(expected, draining)) return;
    stop_if_drained();
}

// 0, as prefork's own exit on SIGTERM: httpd's parent reaps it as a child
// that exited normally.
void HttpdChildControl::exit_now() { ::_exit(0); }

void HttpdChildControl::finish_leaving() {
    if (g_phase.load() == stopping) ::_exit(0);
}

void HttpdChildControl::track_connections() {
    if (threaded_) g_tracking.store(true);
}

void register_leaving_hooks() {
    ap_hook_post_read_request(post_read_request, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
    ap_hook_pre_close_connection(pre_close_connection, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_protocol_switch(protocol_switch, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
}

} // namespace pympm::httpd
