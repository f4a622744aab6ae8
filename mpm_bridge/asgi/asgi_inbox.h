// Work for the child's event loop thread, handed over by any thread without
// the GIL: request threads starting an ASGI request or answering its app
// (a body chunk read, a part written). The loop takes the work in bursts:
// an eventfd registered with the loop (loop.add_reader) becomes readable
// when the queue goes from empty to not empty, so a burst of pushes costs
// one write and one wake-up of the loop, whatever its size. No Python here:
// a work item runs Python only in run(), on the loop, with the GIL.
#pragma once

#include "base/lock_order.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pympm {

class LoopWork {
public:
    virtual ~LoopWork() = default;
    // On the loop thread, with the GIL. Must not throw; a Python error it
    // leaves is cleared by the caller.
    virtual void run() noexcept = 0;
    // The inbox closed before the work ran (the child stops): whoever waits
    // for it must be answered. Any thread, no GIL, no Python.
    virtual void abandon() noexcept {}
};

class AsgiInbox {
public:
    AsgiInbox() = default;
    ~AsgiInbox();
    AsgiInbox(const AsgiInbox&) = delete;
    AsgiInbox& operator=(const AsgiInbox&) = delete;

    // Creates the eventfd; false with `error` set.
    bool open(std::string& error);
    // What the loop watches for readability; -1 before open().
    int fd() const { return fd_; }
    // Any thread. False, leaving `work` with the caller, once closed (or
    // before open()).
    bool push(std::unique_ptr<LoopWork>& work);
    bool push(std::unique_ptr<LoopWork>&& work) { return push(work); }
    // The loop thread: consumes the wake-up and moves up to `max` items to
    // `out` in the order they were pushed. Returns how many; more_left()
    // then says whether to come back without waiting for a wake-up.
    std::size_t take(std::vector<std::unique_ptr<LoopWork>>& out, std::size_t max);
    bool more_left() const;
    // Refuses pushes from now on and abandons what is queued. The eventfd
    // stays open (the loop may still watch it) until destruction.
    void close();

    struct Stats {
        std::uint64_t pushed = 0; // work items
        std::uint64_t wakes = 0;  // eventfd writes: bursts that woke the loop
        std::uint64_t takes = 0;  // take() calls that found work
    };
    Stats stats() const;

private:
    mutable LeafMutex mutex_;
    std::vector<std::unique_ptr<LoopWork>> queue_;
    std::size_t head_ = 0; // queue_[head_..] are pending
    // A wake-up is written and not yet consumed by take(): pushes add no
    // other. Under mutex_.
    bool signalled_ = false;
    bool closed_ = true;
    int fd_ = -1;
    std::atomic<std::uint64_t> pushed_{0}, wakes_{0}, takes_{0};
};

} // namespace pympm
