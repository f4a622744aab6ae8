#include "child/request_rates.h"

#include <algorithm>

namespace pympm {

void RequestRates::sample(ChildStats& e, std::chrono::steady_clock::time_point now) {
    if (taken_ > 0 && now - ring_[(taken_ - 1) % kSamples].at < std::chrono::seconds(1)) return;
    Sample& s = ring_[taken_ % kSamples];
    s.at = now;
    s.requests = e.counters.requests.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kMaxApps; ++i) s.apps[i] = e.apps[i].requests.load(std::memory_order_relaxed);
    ++taken_;
    chart(e, now, s.requests);
    if (taken_ < 2) return;
    const Sample& oldest = ring_[taken_ >= kSamples ? taken_ % kSamples : 0];
    const double seconds = std::chrono::duration<double>(now - oldest.at).count();
    if (seconds <= 0) return;
    auto per_second_milli = [seconds](std::uint64_t to, std::uint64_t from) {
        return static_cast<std::uint64_t>(static_cast<double>(to >= from ? to - from : 0) * 1000.0 / seconds);
    };
    e.rate_milli.store(per_second_milli(s.requests, oldest.requests), std::memory_order_relaxed);
    for (std::size_t i = 0; i < kMaxApps; ++i)
        e.app_rate_milli[i].store(per_second_milli(s.apps[i], oldest.apps[i]), std::memory_order_relaxed);
    e.rate_window_ms.store(static_cast<std::uint32_t>(seconds * 1000.0), std::memory_order_relaxed);
}

void RequestRates::chart(ChildStats& e, std::chrono::steady_clock::time_point now, std::uint64_t requests) {
    const auto in_app = e.in_app.load(std::memory_order_relaxed);
    const std::uint64_t busy = in_app > 0 ? static_cast<std::uint64_t>(in_app) : 0;
    if (!step_open_) {
        step_open_ = true;
        step_at_ = now;
        step_requests_ = requests;
        step_peak_ = busy;
        return;
    }
    step_peak_ = std::max(step_peak_, busy);
    const double seconds = std::chrono::duration<double>(now - step_at_).count();
    if (seconds < kHistoryStepSeconds - 0.5) return;
    const double per_second = static_cast<double>(requests >= step_requests_ ? requests - step_requests_ : 0) / seconds;
    const std::uint64_t n = e.history_count.load(std::memory_order_relaxed);
    e.history[n % kHistoryPoints].store(HistoryPoint::pack(static_cast<std::uint64_t>(per_second * 1000.0), step_peak_),
                                        std::memory_order_relaxed);
    e.history_count.store(n + 1, std::memory_order_release);
    step_at_ = now;
    step_requests_ = requests;
    step_peak_ = busy;
}

} // namespace pympm
