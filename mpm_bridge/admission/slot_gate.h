// First-come-first-served gate limiting how many requests of one child run
// Python at once (PyThreads). Requests take a ticket when they join the
// queue and are admitted strictly in ticket order as slots free up, so a
// burst of CPU-bound requests completes one after the other instead of
// interleaving under the GIL. Callers wait here without holding the GIL.
//
// A request waiting on its client (reading the body, or sending to a client
// that reads slowly) runs no Python, so it must not keep others out: once it
// has waited longer than `lend_after`, its slot is lent to the request at
// the head of the queue. When its I/O completes it joins the queue again,
// with a new ticket, exactly as if it arrived then: returning requests and
// new ones are admitted in one order, that of the time they (re)joined.
// A returning request therefore never overtakes one already waiting, and a
// waiting request is overtaken by nobody: it waits for at most one turn of
// each request ahead of it (until that one finishes, or waits on its client
// for `lend_after`), however often slow clients come back. I/O that
// completes within `lend_after` never changes the order of admission.
#pragma once

#include "base/lock_order.h"

#include <chrono>
#include <cstdint>

namespace pympm {

struct SlotGateStats {
    int slots = 0;
    int busy = 0;               // slots in use now (running Python or in short I/O)
    int waiting = 0;            // requests waiting now (new and returning)
    std::uint64_t admitted = 0; // requests admitted so far
    std::uint64_t waited = 0;   // of those, how many had to wait
    std::uint64_t lent = 0;     // slots lent away from requests stuck on their client
    std::chrono::nanoseconds total_wait{0};
};

class SlotGate {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kDefaultLendAfter{50};

    // One request's claim on a slot; lives as long as the request.
    class Holder {
    public:
        Holder() = default;
        Holder(const Holder&) = delete;
        Holder& operator=(const Holder&) = delete;

    private:
        friend class SlotGate;
        bool holds_ = false; // counts against a slot now
        bool in_io_ = false; // on the lendable list
        Clock::time_point io_since_{};
        Holder* prev_ = nullptr;
        Holder* next_ = nullptr;
    };

    explicit SlotGate(int slots, std::chrono::milliseconds lend_after = kDefaultLendAfter);
    SlotGate(const SlotGate&) = delete;
    SlotGate& operator=(const SlotGate&) = delete;

    // Waits for a slot, in arrival order; true if it had to wait.
    bool acquire(Holder& h);
    // Gives the slot back (whatever state the holder is in).
    void release(Holder& h);
    // The holder now waits on its client: its slot may be lent.
    void begin_io(Holder& h);
    // The holder's I/O is over. If its slot was lent meanwhile, it queues
    // for one like a request arriving now; true then.
    bool end_io(Holder& h);

    // One more slot, for good: a request stuck past recovery keeps its
    // slot while the child finishes the others before it leaves.
    void add_slot();

    SlotGateStats stats() const;

private:
    // Under the lock: joins the queue with a new ticket and waits for its
    // turn and a slot; true if it had to wait.
    bool wait_turn(LeafCondition::Lock& lock);
    // Under the lock: takes a free or lendable slot for a waiter; otherwise
    // sets `wake` to when one becomes lendable (unchanged if none will).
    bool take_slot(Clock::time_point now, Clock::time_point& wake);
    void unlink_io(Holder& h);
    void wake_waiters();

    mutable LeafMutex mutex_;
    LeafCondition cv_;
    int slots_;
    const std::chrono::milliseconds lend_after_;
    int free_;
    Holder* io_head_ = nullptr; // holders in I/O, oldest first
    Holder* io_tail_ = nullptr;
    std::uint64_t next_ticket_ = 0;   // handed to the next to join the queue
    std::uint64_t next_to_admit_ = 0; // lowest ticket not yet admitted
    int waiting_ = 0;
    std::uint64_t admitted_ = 0;
    std::uint64_t waited_ = 0;
    std::uint64_t lent_ = 0;
    std::chrono::nanoseconds total_wait_{0};
};

// Holds one slot for a scope; a null gate means "no limit".
class SlotGuard {
public:
    explicit SlotGuard(SlotGate* gate) : gate_(gate) {
        if (gate_) gate_->acquire(holder_);
    }
    ~SlotGuard() {
        if (gate_) gate_->release(holder_);
    }
    SlotGuard(const SlotGuard&) = delete;
    SlotGuard& operator=(const SlotGuard&) = delete;
    SlotGate* gate() const { return gate_; }
    SlotGate::Holder& holder() { return holder_; }

private:
    SlotGate* gate_;
    SlotGate::Holder holder_;
};

} // namespace pympm
