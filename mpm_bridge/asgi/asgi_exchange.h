// One ASGI request between httpd's request thread (R) and the event loop
// thread (L), in plain C++: R copies the request's head into it and waits;
// L posts what the app asks of R (a response part to write, a body chunk
// to read, the app's end) as events. R answers through the inbox
// (asgi_inbox.h). Shared by R, L (the request's channel object) and the
// timeout watch; it holds no Python reference, so it may die on any thread.
#pragma once

#include "base/lock_order.h"
#include "request/app_failure.h"
#include "request/request_io.h"
#include "timeouts/timeout_target.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

typedef struct _object PyObject;

namespace pympm {

struct AsgiContext;

// The request head, copied by R from httpd's request (no Python): L never
// reads request_rec memory. Header names are lower-cased here, in our own
// strings (never in a bytes object CPython may share).
struct AsgiHead {
    std::string method, protocol, path, target, query, client_ip, server_ip;
    std::size_t mount_length = 0;
    bool https = false;
    int client_port = 0, server_port = 0;
    std::optional<std::uint64_t> body_length; // Content-Length, unless chunked
    std::vector<std::pair<std::string, std::string>> headers;

    static AsgiHead capture(RequestIO& io);
};

// L -> R.
struct AsgiEvent {
    enum class Kind {
        body,      // a response part (the head rides with the first)
        read_body, // receive() wants up to `max` bytes of the body
        wait_end,  // receive() waits for the client to go: watch it
        done,      // the app returned or raised (`failure`)
        log        // a line the app wrote (stdout, stderr) for the request's log: `data` at `level`
    } kind = Kind::done;
    LogLevel level = LogLevel::info;
    bool has_head = false; // http.response.start, held on L until now
    ResponseHead head;
    std::optional<std::uint64_t> content_length;
    std::string data;
    bool more_body = false;
    bool ack = false; // the app awaits the part: R answers sent(ok)
    std::size_t max = 0;
    AppFailure failure;
};

class AsgiExchange final : public TimeoutSource {
public:
    explicit AsgiExchange(AsgiContext& asgi) : asgi_(asgi) {}
    AsgiExchange(const AsgiExchange&) = delete;
    AsgiExchange& operator=(const AsgiExchange&) = delete;

    AsgiHead head; // written by R before the start is pushed; read by L

    // R: waits for events (or `timeout`), and takes them all.
    std::vector<AsgiEvent> wait(std::optional<std::chrono::milliseconds> timeout);
    // R: takes no more events; returns those queued.
    std::vector<AsgiEvent> finish();
    // Any thread: false once R finished (the event is dropped). Wakes R
    // only if it waits.
    bool post(AsgiEvent&& e);
    bool finished() const { return finished_flag_.load(std::memory_order_acquire); }

    // What R and L both look at.
    std::atomic<bool> completed{false};    // the app sent its last part (or R ended the response)
    std::atomic<bool> disconnected{false}; // the client went away
    std::atomic<bool> cancelled_for_timeout{false};

    // The channel object of the request; set and cleared by it (GIL).
    PyObject* channel = nullptr;

    // For PyRequestTimeout, GIL held: the app's task.
    std::unique_ptr<TimeoutTarget> timeout_target(bool cancelling) override;

    AsgiContext& asgi() const { return asgi_; }

    // Unit tests: how many times post() woke a waiting R; whether R waits.
    std::uint64_t wakes() const { return wakes_.load(std::memory_order_relaxed); }
    bool has_waiter();

private:
    AsgiContext& asgi_;
    LeafMutex mutex_;
    LeafCondition cv_;
    std::vector<AsgiEvent> events_;
    bool waiting_ = false;
    bool finished_ = false;
    std::atomic<bool> finished_flag_{false};
    std::atomic<std::uint64_t> wakes_{0};
};

} // namespace pympm
