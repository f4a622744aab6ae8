#include "child/child_recycling.h"

#include <random>
#include <unistd.h>

namespace pympm {

void ChildRecycling::start(ChildControl* control, StatusBoard* board, unsigned seed) {
    control_ = control;
    board_ = board;
    if (settings_.max_requests <= 0) return;
    limit_ = static_cast<std::uint64_t>(settings_.max_requests);
    if (settings_.max_requests_jitter > 0) {
        // Children of one generation start together: the jitter keeps them
        // from all leaving at the same moment.
        std::mt19937_64 rng(seed);
        std::uniform_int_distribution<long> jitter(0, settings_.max_requests_jitter);
        limit_ += static_cast<std::uint64_t>(jitter(rng));
    }
}

bool ChildRecycling::count_request() {
    const std::uint64_t served = served_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (leaving() || due_.load() != 0) return true;
    LeaveReason reason = LeaveReason::none;
    std::string why;
    if (limit_ && served >= limit_) {
        reason = LeaveReason::max_requests;
        why = "served " + std::to_string(served) + " requests (PyMaxRequests " +
              std::to_string(settings_.max_requests) +
              (settings_.max_requests_jitter ? " " + std::to_string(settings_.max_requests_jitter) +
                                                   ", this child's limit " + std::to_string(limit_)
                                             : std::string()) +
              ")";
    } else if (settings_.max_memory_mib > 0) {
        const std::uint64_t rss = resident_bytes();
        metrics_.set_rss(rss);
        const std::uint64_t limit = static_cast<std::uint64_t>(settings_.max_memory_mib) * 1024 * 1024;
        if (rss > limit) {
            reason = LeaveReason::max_memory;
            why = "its resident memory is " + std::to_string(rss / (1024 * 1024)) +
                  " MiB after the app answered a request, above PyMaxMemory " +
                  std::to_string(settings_.max_memory_mib) + " MiB";
        }
    }
    if (reason == LeaveReason::none) return false;
    std::uint32_t none = 0;
    if (due_.compare_exchange_strong(none, kDeciding)) {
        due_why_ = std::move(why);
        due_.store(static_cast<std::uint32_t>(reason), std::memory_order_release);
    }
    return true;
}

void ChildRecycling::leave_if_due() {
    // While another thread is still deciding, that thread leaves after its
    // own request.
    const std::uint32_t due = due_.load(std::memory_order_acquire);
    if (due && due != kDeciding && !leaving()) leave(static_cast<LeaveReason>(due), due_why_);
}

void ChildRecycling::leave(LeaveReason reason, const std::string& why) {
    std::uint32_t none = 0;
    if (!reason_.compare_exchange_strong(none, static_cast<std::uint32_t>(reason))) return;
    log_.log(LogLevel::notice, std::string(PYMPM_APLOGNO(00064)) + "child " + std::to_string(::getpid()) + " leaves (" +
                                   leave_reason_name(reason) + "): " + why +
                                   "; requests in flight finish, httpd starts a replacement");
    metrics_.leaving(reason);
    if (board_) board_->count_leave(reason);
    if (control_) control_->leave_gracefully();
}

} // namespace pympm
