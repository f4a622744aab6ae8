#include "asgi/asgi_inbox.h"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <sys/eventfd.h>
#include <unistd.h>
#include <utility>

namespace pympm {

AsgiInbox::~AsgiInbox() {
    close();
    if (fd_ >= 0) ::close(fd_);
}

bool AsgiInbox::open(std::string& error) {
    if (fd_ >= 0) return true;
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd_ < 0) {
        error = std::string("eventfd: ") + std::strerror(errno);
        return false;
    }
    std::lock_guard lock(mutex_);
    closed_ = false;
    return true;
}

bool AsgiInbox::push(std::unique_ptr<LoopWork>& work) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return false;
        queue_.push_back(std::move(work));
        wake = !std::exchange(signalled_, true);
    }
    pushed_.fetch_add(1, std::memory_order_relaxed);
    if (wake) {
        // Outside the lock: a loop taking meanwhile at worst finds the queue
        // empty on this wake-up (a spurious one), never misses an item.
        const std::uint64_t one = 1;
        ssize_t n;
        do n = ::write(fd_, &one, sizeof one);
        while (n < 0 && errno == EINTR);
        wakes_.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

std::size_t AsgiInbox::take(std::vector<std::unique_ptr<LoopWork>>& out, std::size_t max) {
    // Consumed first: a push after this either lands in the queue taken
    // below or, once signalled_ is cleared, writes a new wake-up.
    std::uint64_t counter;
    ssize_t r;
    do r = ::read(fd_, &counter, sizeof counter);
    while (r < 0 && errno == EINTR);
    std::size_t n = 0;
    {
        std::lock_guard lock(mutex_);
        while (n < max && head_ < queue_.size()) {
            out.push_back(std::move(queue_[head_++]));
            ++n;
        }
        if (head_ == queue_.size()) {
            queue_.clear(); // keeps its capacity
            head_ = 0;
            signalled_ = false;
        }
    }
    if (n) takes_.fetch_add(1, std::memory_order_relaxed);
    return n;
}

bool AsgiInbox::more_left() const {
    std::lock_guard lock(mutex_);
    return head_ < queue_.size();
}

void AsgiInbox::close() {
    std::vector<std::unique_ptr<LoopWork>> left;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        for (std::size_t i = head_; i < queue_.size(); ++i) left.push_back(std::move(queue_[i]));
        queue_.clear();
        head_ = 0;
    }
    // Outside the lock: abandoning wakes request threads.
    for (auto& w : left) w->abandon();
}

AsgiInbox::Stats AsgiInbox::stats() const {
    return {pushed_.load(std::memory_order_relaxed), wakes_.load(std::memory_order_relaxed),
            takes_.load(std::memory_order_relaxed)};
}

} // namespace pympm
