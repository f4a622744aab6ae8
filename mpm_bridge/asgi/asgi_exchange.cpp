#include "asgi/asgi_exchange.h"

#include <mutex>
#include <utility>

namespace pympm {

AsgiHead AsgiHead::capture(RequestIO& io) {
    RequestLine line;
    io.request_line(line);
    AsgiHead h;
    h.method.assign(line.method);
    h.protocol.assign(line.protocol);
    h.path.assign(line.path);
    h.mount_length = line.mount_length;
    h.target.assign(line.target);
    h.query.assign(line.query);
    h.https = line.https;
    h.client_ip.assign(line.client_ip);
    h.client_port = line.client_port;
    h.server_ip.assign(line.server_ip);
    h.server_port = line.server_port;
    h.body_length = io.body_length();
    h.headers.reserve(line.headers.size());
    for (const auto& [name, value] : line.headers) {
        std::string lower(name);
        for (char& c : lower)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a'); // ASCII tokens; no locale
        h.headers.emplace_back(std::move(lower), std::string(value));
    }
    return h;
}

std::vector<AsgiEvent> AsgiExchange::wait(std::optional<std::chrono::milliseconds> timeout) {
    std::vector<AsgiEvent> out;
    LeafCondition::Lock lock(mutex_);
    auto ready = [&] { return !events_.empty(); };
    waiting_ = true;
    if (timeout)
        cv_.wait_for(lock, *timeout, ready);
    else
        cv_.wait(lock, ready);
    waiting_ = false;
    out.swap(events_);
    return out;
}

std::vector<AsgiEvent> AsgiExchange::finish() {
    std::vector<AsgiEvent> out;
    std::lock_guard lock(mutex_);
    finished_ = true;
    finished_flag_.store(true, std::memory_order_release);
    out.swap(events_);
    return out;
}

bool AsgiExchange::has_waiter() {
    std::lock_guard lock(mutex_);
    return waiting_;
}

bool AsgiExchange::post(AsgiEvent&& e) {
    bool wake;
    {
        std::lock_guard lock(mutex_);
        if (finished_) return false;
        // wait() takes the vector, capacity and all: room for a part and
        // the app's end at once, not one allocation each.
        if (events_.capacity() == 0) events_.reserve(2);
        events_.push_back(std::move(e));
        // Only a waiting thread needs the futex: R, busy writing an earlier
        // part, finds this one when it next waits.
        wake = std::exchange(waiting_, false);
    }
    if (wake) {
        wakes_.fetch_add(1, std::memory_order_relaxed);
        cv_.notify_one();
    }
    return true;
}

} // namespace pympm
