// The open WebSockets of a child: what a stop (graceful restart or stop,
// recycling) closes with 1001, and the counts for the status page. A leaf
// mutex; stop() calls only wake a session (an eventfd write).
#pragma once

#include "base/lock_order.h"

#include <atomic>
#include <cstdint>
#include <vector>

namespace pympm {

class WebSocketSession;

class WsRegistry {
public:
    // A session whose WebSocket opened; false (not added) once the child
    // stops: the caller closes with `stop_code()` at once.
    bool add(WebSocketSession* s);
    void remove(WebSocketSession* s);
    // Any thread: every open WebSocket, and each opened later, closes with
    // `code`.
    void close_all(std::uint16_t code);
    std::uint16_t stop_code() const { return stop_code_.load(std::memory_order_acquire); }

    // The status board's gauge of this child (null: none).
    void attach(std::atomic<std::int64_t>* open_gauge) { gauge_.store(open_gauge, std::memory_order_release); }

    std::uint64_t open() const { return open_.load(std::memory_order_relaxed); }
    std::uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }

private:
    LeafMutex mutex_;
    std::vector<WebSocketSession*> sessions_;
    std::atomic<std::uint16_t> stop_code_{0};
    std::atomic<std::uint64_t> open_{0};
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::atomic<std::int64_t>*> gauge_{nullptr};
    void publish(); // under mutex_
};

} // namespace pympm
