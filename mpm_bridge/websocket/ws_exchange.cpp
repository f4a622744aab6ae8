#include "websocket/ws_exchange.h"

#include "asgi/asgi_loop.h"
#include "python/gil.h"
#include "websocket/ws_loop.h"

#include <algorithm>
#include <mutex>

namespace pympm {

void WsExchange::attach(WebSocketIO* io) {
    std::lock_guard lock(mutex_);
    io_ = io;
}

void WsExchange::wake() {
    // Under the mutex: R clears io_ under it before its connection goes.
    std::lock_guard lock(mutex_);
    if (io_) io_->wake();
}

bool WsExchange::post(WsOut&& o, bool* over_high) {
    std::lock_guard lock(mutex_);
    if (finished_) return false;
    if (o.kind == WsSendType::send && !o.done) out_bytes_ += o.data.data.size();
    outbox_.push_back(std::move(o));
    if (over_high && out_bytes_ > kWriteHigh) {
        *over_high = true;
        send_waiting_ = true;
    }
    if (io_) io_->wake(); // one eventfd write
    return true;
}

std::deque<WsOut> WsExchange::take_out() {
    std::deque<WsOut> out;
    std::lock_guard lock(mutex_);
    out.swap(outbox_);
    return out;
}

void WsExchange::written(std::size_t n) {
    std::lock_guard lock(mutex_);
    out_bytes_ -= std::min(out_bytes_, n);
}

void WsExchange::received(WsData&& d) {
    std::lock_guard lock(mutex_);
    inbox_.push_back(std::move(d));
}

bool WsExchange::inbox_full() {
    std::lock_guard lock(mutex_);
    return inbox_.size() >= kMaxInbox;
}

void WsExchange::end(std::uint16_t code, std::string_view reason) {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    ended_ = true;
    end_code_ = code;
    end_reason_.assign(reason);
}

bool WsExchange::ended() {
    std::lock_guard lock(mutex_);
    return ended_;
}

std::deque<WsOut> WsExchange::finish() {
    std::deque<WsOut> left;
    std::lock_guard lock(mutex_);
    finished_ = true;
    ended_ = true;
    io_ = nullptr;
    left.swap(outbox_);
    out_bytes_ = 0;
    return left;
}

bool WsExchange::claim_delivery() {
    std::lock_guard lock(mutex_);
    if (delivery_pending_) return false;
    const bool receive = receive_waiting_ && (!inbox_.empty() || ended_);
    const bool sends = send_waiting_ && (ended_ || out_bytes_ < kWriteLow);
    if (!receive && !sends) return false;
    delivery_pending_ = true;
    return true;
}

WsExchange::Next WsExchange::next_locked(bool mark_waiting) {
    Next n;
    if (!inbox_.empty()) {
        n.wake_reader = inbox_.size() == kMaxInbox;
        n.data = std::move(inbox_.front());
        inbox_.pop_front();
        receive_waiting_ = false;
    } else if (ended_) {
        n.ended = true;
        n.code = end_code_;
        n.reason = end_reason_;
        receive_waiting_ = false;
    } else if (mark_waiting) {
        receive_waiting_ = true;
    }
    return n;
}

WsExchange::Next WsExchange::take_next(bool mark_waiting) {
    std::lock_guard lock(mutex_);
    return next_locked(mark_waiting);
}

WsExchange::Delivery WsExchange::take_delivery() {
    Delivery d;
    std::lock_guard lock(mutex_);
    delivery_pending_ = false;
    if (receive_waiting_ && (!inbox_.empty() || ended_)) d.message = next_locked(false);
    if (send_waiting_ && (ended_ || out_bytes_ < kWriteLow)) {
        d.resolve_sends = !ended_;
        d.reject_sends = ended_;
        send_waiting_ = false;
    }
    return d;
}

std::unique_ptr<TimeoutTarget> WsExchange::timeout_target(bool cancelling) {
    PYMPM_ASSERT_GIL();
    PyRef task = ws_channel_task(channel);
    if (cancelling && task) cancelled_for_timeout = true;
    return asgi_task_target(asgi_, task, static_cast<bool>(task));
}

} // namespace pympm
