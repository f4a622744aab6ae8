#include "slot_gate.h"

namespace pympm {

SlotGate::SlotGate(int slots) : slots_(slots < 1 ? 1 : slots), free_(slots_) {}

void SlotGate::acquire() {
    std::unique_lock lock(mutex_);
    const std::uint64_t ticket = next_ticket_++;
    if (ticket == next_to_admit_ && free_ > 0) {
        --free_;
        ++next_to_admit_;
        ++admitted_;
        return;
    }
    const auto start = std::chrono::steady_clock::now();
    ++waiting_;
    cv_.wait(lock, [&] { return ticket == next_to_admit_ && free_ > 0; });
    --waiting_;
    --free_;
    ++next_to_admit_;
    ++admitted_;
    ++waited_;
    total_wait_ += std::chrono::steady_clock::now() - start;
    // The next ticket may be admissible too if several slots are free.
    if (free_ > 0 && waiting_ > 0) cv_.notify_all();
}

void SlotGate::release() {
    {
        std::lock_guard lock(mutex_);
        ++free_;
        if (waiting_ == 0) return;
    }
    // All waiters wake and only the holder of the next ticket proceeds; with
    // tens of threads per child this is cheaper than per-ticket queues.
    cv_.notify_all();
}

SlotGateStats SlotGate::stats() const {
    std::lock_guard lock(mutex_);
    SlotGateStats s;
    s.slots = slots_;
    s.busy = slots_ - free_;
    s.waiting = waiting_;
    s.admitted = admitted_;
    s.waited = waited_;
    s.total_wait = total_wait_;
    return s;
}

} // namespace pympm
