#include "child/request_rates.h"

namespace pympm {

void RequestRates::sample(ChildStats& e, std::chrono::steady_clock::time_point now) {
    if (taken_ > 0 && now - ring_[(taken_ - 1) % kSamples].at < std::chrono::seconds(1)) return;
    Sample& s = ring_[taken_ % kSamples];
    s.at = now;
    s.requests = e.counters.requests.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kMaxApps; ++i) s.apps[i] = e.apps[i].requests.load(std::memory_order_relaxed);
    ++taken_;
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

} // namespace pympm
