// PyMaxRequests N [jitter] and PyMaxMemory: when a child should leave, and
// telling it to, once. Leaving is httpd's own graceful child stop (the
// module's ChildControl): requests in flight finish, connections kept
// alive are drained, the next requests go to other children or a new one.
#pragma once

#include "child/child_control.h"
#include "child/child_metrics.h"
#include "config/child_settings.h"
#include "base/log.h"

#include <atomic>
#include <cstdint>
#include <string>

namespace pympm {

class ChildRecycling {
public:
    ChildRecycling(const ChildSettings& settings, LogSink& log, ChildMetrics& metrics)
        : settings_(settings), log_(log), metrics_(metrics) {}

    // At child start: the request limit of this child (N + random(0..jitter)).
    void start(ChildControl* control, StatusBoard* board, unsigned seed);
    // Once per request, when its response is about to start (or at its end
    // if it never got that far): counts it and decides whether the child
    // leaves after it. True if so: the response should not keep the
    // connection alive.
    bool count_request();
    // Leaves if count_request() decided so: as soon as the response is
    // ready (before it is sent), else after the request.
    void leave_if_due();
    // Leaves for `reason` (first call only); `why` goes to the log.
    void leave(LeaveReason reason, const std::string& why);

    bool leaving() const { return reason_.load() != 0; }
    LeaveReason reason() const { return static_cast<LeaveReason>(reason_.load()); }
    std::uint64_t request_limit() const { return limit_; }
    std::uint64_t served() const { return served_.load(std::memory_order_relaxed); }

private:
    const ChildSettings& settings_;
    LogSink& log_;
    ChildMetrics& metrics_;
    ChildControl* control_ = nullptr;
    StatusBoard* board_ = nullptr;
    std::uint64_t limit_ = 0; // 0: none
    std::atomic<std::uint64_t> served_{0};
    std::atomic<std::uint32_t> reason_{0};
    // Decided, not yet acted on: 0, kDeciding while the thread that decided
    // writes due_why_, then the LeaveReason (released once due_why_ is
    // written: a thread that acquires a reason may read it).
    static constexpr std::uint32_t kDeciding = 0xFFFFFFFFu;
    std::atomic<std::uint32_t> due_{0};
    std::string due_why_; // written once, by the thread that moved due_ off 0
};

} // namespace pympm
