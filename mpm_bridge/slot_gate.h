// First-come-first-served gate limiting how many requests of one child run
// Python at once (PyThreads). Requests take a ticket on arrival and are
// admitted strictly in ticket order as slots free up, so a burst of
// CPU-bound requests completes one after the other instead of interleaving
// under the GIL. Callers wait here without holding the GIL.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace pympm {

struct SlotGateStats {
    int slots = 0;
    int busy = 0;               // slots in use now
    int waiting = 0;            // requests waiting now
    std::uint64_t admitted = 0; // requests admitted so far
    std::uint64_t waited = 0;   // of those, how many had to wait
    std::chrono::nanoseconds total_wait{0};
};

class SlotGate {
public:
    explicit SlotGate(int slots);
    SlotGate(const SlotGate&) = delete;
    SlotGate& operator=(const SlotGate&) = delete;

    void acquire();
    void release();
    SlotGateStats stats() const;

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    int slots_;
    int free_;
    std::uint64_t next_ticket_ = 0;   // handed to the next arrival
    std::uint64_t next_to_admit_ = 0; // lowest ticket not yet admitted
    int waiting_ = 0;
    std::uint64_t admitted_ = 0;
    std::uint64_t waited_ = 0;
    std::chrono::nanoseconds total_wait_{0};
};

// Holds one slot for a scope; a null gate means "no limit".
class SlotGuard {
public:
    explicit SlotGuard(SlotGate* gate) : gate_(gate) { if (gate_) gate_->acquire(); }
    ~SlotGuard() { if (gate_) gate_->release(); }
    SlotGuard(const SlotGuard&) = delete;
    SlotGuard& operator=(const SlotGuard&) = delete;

private:
    SlotGate* gate_;
};

} // namespace pympm
