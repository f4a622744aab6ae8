// What one child records on the status board, request by request: a thin,
// null-safe front to its ChildStats entry (a child without a board, when the
// shared memory could not be set up, records nothing). A few relaxed atomic
// updates per request.
#pragma once

#include "status/status_board.h"

#include <chrono>
#include <cstdint>

namespace pympm {

class ChildMetrics {
public:
    explicit ChildMetrics(ChildStats* stats = nullptr) : s_(stats) {}
    void attach(ChildStats* stats) { s_ = stats; }
    ChildStats* stats() const { return s_; }

    void wait_begins() { if (s_) s_->waiting.fetch_add(1, std::memory_order_relaxed); }
    void wait_ends(bool waited, std::chrono::nanoseconds took);
    void app_begins() { if (s_) s_->in_app.fetch_add(1, std::memory_order_relaxed); }
    void app_ends(std::chrono::nanoseconds took, int status, bool raised);
    void timed_out() { if (s_) s_->counters.timeouts.fetch_add(1, std::memory_order_relaxed); }
    void set_rss(std::uint64_t bytes) { if (s_) s_->rss_bytes.store(bytes, std::memory_order_relaxed); }
    void set_python_threads(std::uint64_t n) { if (s_) s_->python_threads.store(n, std::memory_order_relaxed); }
    void leaving(LeaveReason r) { if (s_) s_->leaving.store(static_cast<std::uint32_t>(r)); }

private:
    ChildStats* s_;
};

// This process's resident set size, from /proc/self/statm (0 if unknown).
std::uint64_t resident_bytes();

} // namespace pympm
