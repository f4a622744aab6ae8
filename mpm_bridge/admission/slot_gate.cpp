#include "admission/slot_gate.h"

namespace pympm {

SlotGate::SlotGate(int slots, std::chrono::milliseconds lend_after)
    : slots_(slots < 1 ? 1 : slots), lend_after_(lend_after), free_(slots_) {}

void SlotGate::unlink_io(Holder& h) {
    if (!h.in_io_) return;
    (h.prev_ ? h.prev_->next_ : io_head_) = h.next_;
    (h.next_ ? h.next_->prev_ : io_tail_) = h.prev_;
    h.prev_ = h.next_ = nullptr;
    h.in_io_ = false;
}

bool SlotGate::take_slot(Clock::time_point now, Clock::time_point& wake) {
    if (free_ > 0) {
        --free_;
        return true;
    }
    if (!io_head_) return false;
    const Clock::time_point lendable = io_head_->io_since_ + lend_after_;
    if (now < lendable) {
        wake = lendable;
        return false;
    }
    // The oldest holder in I/O loses its slot to this waiter; it queues for
    // one again when its I/O completes.
    Holder* from = io_head_;
    unlink_io(*from);
    from->holds_ = false;
    ++lent_;
    return true;
}

void SlotGate::wake_waiters() {
    if (waiting_ > 0) cv_.notify_all();
}

bool SlotGate::wait_turn(LeafCondition::Lock& lock) {
    // New and returning requests draw from one sequence: whoever joined the
    // queue first is admitted first, so nobody is overtaken.
    const std::uint64_t ticket = next_ticket_++;
    Clock::time_point wake = Clock::time_point::max();
    const bool waits = !(ticket == next_to_admit_ && take_slot(Clock::now(), wake));
    if (waits) {
        const auto start = Clock::now();
        ++waiting_;
        for (;;) {
            // Only the head of the queue computes a lending deadline; the
            // others sleep until someone ahead of them is admitted.
            if (wake == Clock::time_point::max())
                cv_.wait(lock);
            else
                cv_.wait_until(lock, wake);
            wake = Clock::time_point::max();
            if (ticket == next_to_admit_ && take_slot(Clock::now(), wake)) break;
        }
        --waiting_;
        total_wait_ += Clock::now() - start;
    }
    ++next_to_admit_;
    // The next ticket may be admissible too if several slots are free.
    wake_waiters();
    return waits;
}

bool SlotGate::acquire(Holder& h) {
    std::unique_lock lock(mutex_);
    const bool waited = wait_turn(lock);
    ++admitted_;
    if (waited) ++waited_;
    h.holds_ = true;
    return waited;
}

void SlotGate::release(Holder& h) {
    std::lock_guard lock(mutex_);
    unlink_io(h);
    if (h.holds_) {
        h.holds_ = false;
        ++free_;
    }
    // All waiters wake and only the holder of the next ticket proceeds; with
    // tens of threads per child this is cheaper than per-ticket queues.
    wake_waiters();
}

void SlotGate::begin_io(Holder& h) {
    std::lock_guard lock(mutex_);
    if (!h.holds_ || h.in_io_) return;
    h.in_io_ = true;
    h.io_since_ = Clock::now();
    h.prev_ = io_tail_;
    (io_tail_ ? io_tail_->next_ : io_head_) = &h;
    io_tail_ = &h;
    // The head waiter learns when this slot becomes lendable.
    wake_waiters();
}

bool SlotGate::end_io(Holder& h) {
    std::unique_lock lock(mutex_);
    if (h.holds_) {
        unlink_io(h);
        return false;
    }
    // The slot was lent while this request waited on its client: it queues
    // again behind everyone already waiting. Going ahead of them instead
    // would let a few slow clients, coming back in turn, keep the queue
    // from ever moving.
    wait_turn(lock);
    h.holds_ = true;
    return true;
}

void SlotGate::add_slot() {
    std::lock_guard lock(mutex_);
    ++slots_;
    ++free_;
    wake_waiters();
}

SlotGateStats SlotGate::stats() const {
    std::lock_guard lock(mutex_);
    SlotGateStats s;
    s.slots = slots_;
    s.busy = slots_ - free_;
    s.waiting = waiting_;
    s.admitted = admitted_;
    s.waited = waited_;
    s.lent = lent_;
    s.total_wait = total_wait_;
    return s;
}

} // namespace pympm
