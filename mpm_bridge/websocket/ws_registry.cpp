#include "websocket/ws_registry.h"

#include "websocket/websocket_session.h"

#include <algorithm>
#include <mutex>

namespace pympm {

bool WsRegistry::add(WebSocketSession* s) {
    accepted_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    if (stop_code_.load(std::memory_order_acquire) != 0) return false;
    sessions_.push_back(s);
    publish();
    return true;
}

void WsRegistry::remove(WebSocketSession* s) {
    std::lock_guard lock(mutex_);
    auto it = std::find(sessions_.begin(), sessions_.end(), s);
    if (it != sessions_.end()) sessions_.erase(it);
    publish();
}

void WsRegistry::publish() {
    open_.store(sessions_.size(), std::memory_order_relaxed);
    if (auto* g = gauge_.load(std::memory_order_acquire))
        g->store(static_cast<std::int64_t>(sessions_.size()), std::memory_order_relaxed);
}

void WsRegistry::close_all(std::uint16_t code) {
    std::lock_guard lock(mutex_);
    std::uint16_t none = 0;
    stop_code_.compare_exchange_strong(none, code, std::memory_order_acq_rel);
    for (WebSocketSession* s : sessions_) s->stop(code);
}

} // namespace pympm
