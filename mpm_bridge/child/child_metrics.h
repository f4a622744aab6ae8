// What one child records on the status board, request by request: a thin,
// null-safe front to its ChildStats entry (a child without a board, when the
// shared memory could not be set up, records nothing). A few relaxed atomic
// updates per request. The entry is attached and detached (at the child's
// stop) while other threads record (the watchdog's tick, requests): the
// pointer is atomic.
#pragma once

#include "child/request_rates.h"
#include "status/status_board.h"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace pympm {

class ChildMetrics {
public:
    explicit ChildMetrics(ChildStats* stats = nullptr) : s_(stats) {}
    void attach(ChildStats* stats) { s_.store(stats, std::memory_order_release); }
    ChildStats* stats() const { return s_.load(std::memory_order_acquire); }

    void wait_begins() {
        if (ChildStats* s = stats()) s->waiting.fetch_add(1, std::memory_order_relaxed);
    }
    void wait_ends(bool waited, std::chrono::nanoseconds took);
    void app_begins() {
        if (ChildStats* s = stats()) s->in_app.fetch_add(1, std::memory_order_relaxed);
    }
    void app_ends(std::chrono::nanoseconds took, int status, bool raised);
    void timed_out() {
        if (ChildStats* s = stats()) s->counters.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    void set_rss(std::uint64_t bytes) {
        if (ChildStats* s = stats()) s->rss_bytes.store(bytes, std::memory_order_relaxed);
    }
    void set_python_threads(std::uint64_t n) {
        if (ChildStats* s = stats()) s->python_threads.store(n, std::memory_order_relaxed);
    }
    void leaving(LeaveReason r) {
        if (ChildStats* s = stats()) s->leaving.store(static_cast<std::uint32_t>(r));
    }
    // httpd told the child to stop (graceful restart or stop): it finishes
    // its requests.
    void draining() {
        if (ChildStats* s = stats()) s->draining.store(1, std::memory_order_relaxed);
    }
    // Its limits, for the page (0: none).
    void set_limits(int request_timeout_s, std::uint64_t request_limit, std::uint64_t max_memory_bytes);
    // Once per watchdog tick: requests counted towards PyMaxRequests, and
    // the request rates.
    void tick(std::uint64_t served);

private:
    std::atomic<ChildStats*> s_;
    RequestRates rates_; // the watchdog thread's
};

// This process's resident set size, from /proc/self/statm (0 if unknown).
std::uint64_t resident_bytes();

} // namespace pympm
