// One ASGI WebSocket between httpd's request thread (R) and the event loop
// thread (L), in plain C++, as AsgiExchange is for an HTTP request: R copies
// the handshake's head into it, the loop's channel posts what the app sends
// (checked and copied into C++ values), and R queues what the client sent
// for the app's receive(). It holds no Python reference, so it may die on
// any thread; one leaf mutex guards the queues, and nothing under it runs
// Python or calls httpd (a wake-up is one eventfd write).
//
// Shared by R, L (the channel object) and the timeout watch.
#pragma once

#include "asgi/asgi_exchange.h"
#include "asgi/asgi_messages.h"
#include "base/lock_order.h"
#include "request/app_failure.h"
#include "request/websocket_io.h"
#include "timeouts/timeout_target.h"
#include "websocket/ws_messages.h"

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace pympm {

struct AsgiContext;
struct WsNames;

// L -> R: what the app sent, or its end.
struct WsOut {
    WsSendType kind = WsSendType::send;
    bool done = false;  // the app's task ended
    AppFailure failure; // done: what it raised (none: it returned)
    WsData data;
    WsAccept accept;
    WsClose close;
    AsgiResponseStart start; // plain C++ (a ResponseHead)
    std::string body;
    bool more_body = false;
};

class WsExchange final : public TimeoutSource {
public:
    static constexpr std::size_t kMaxInbox = 32;         // messages waiting for receive() (websockets' max_queue)
    static constexpr std::size_t kWriteHigh = 64 * 1024; // send() waits above this many bytes queued
    static constexpr std::size_t kWriteLow = 16 * 1024;  // and goes on below this

    WsExchange(AsgiContext& asgi, WsNames& names) : asgi_(asgi), names_(names) {}
    WsExchange(const WsExchange&) = delete;
    WsExchange& operator=(const WsExchange&) = delete;

    // Written by R before the start is pushed; read by L.
    AsgiHead head;
    std::vector<std::string> subprotocols; // the client's offer, in order

    // R: the connection a post() wakes (null: none any more).
    void attach(WebSocketIO* io);

    // L: queues `o` for R and wakes it; false once R finished (dropped).
    // `over_high`: more than kWriteHigh bytes of messages wait to be written.
    bool post(WsOut&& o, bool* over_high = nullptr);
    // R: what the app sent since the last call.
    std::deque<WsOut> take_out();
    // R: a message of `n` bytes was written (or dropped).
    void written(std::size_t n);

    // R: a message from the client; the queue is full at kMaxInbox (R then
    // stops reading: TCP pushes back).
    void received(WsData&& d);
    bool inbox_full();
    // R: the app hears websocket.disconnect with `code` from now on (the
    // first end wins).
    void end(std::uint16_t code, std::string_view reason);
    // R: takes no more messages from the app; the app hears the end.
    // Returns what it still queued.
    std::deque<WsOut> finish();

    // R: whether L must run a delivery (a receive() waits and a message or
    // the end is there; sends wait and the queue drained or ended). True
    // once until the delivery ran: R pushes one work item for it.
    bool claim_delivery();

    // L: the next message for receive(), taken under the mutex (built into
    // Python after it). `mark_waiting`: with nothing there, a receive()
    // waits from now on.
    struct Next {
        std::optional<WsData> data;
        bool ended = false;
        std::uint16_t code = 0;
        std::string reason;
        bool wake_reader = false; // R paused on a full queue
    };
    Next take_next(bool mark_waiting);
    // L, in a delivery: the message for the waiting receive() (if any), and
    // whether waiting sends go on (resolve) or fail (reject).
    struct Delivery {
        std::optional<Next> message;
        bool resolve_sends = false, reject_sends = false;
    };
    Delivery take_delivery();
    bool ended();
    void wake();

    std::atomic<bool> cancelled_for_timeout{false};
    // The channel object of the WebSocket; set and cleared by it (GIL).
    PyObject* channel = nullptr;

    // For PyRequestTimeout (before the app accepts), GIL held: the app's task.
    std::unique_ptr<TimeoutTarget> timeout_target(bool cancelling) override;

    AsgiContext& asgi() const { return asgi_; }
    WsNames& names() const { return names_; }

private:
    Next next_locked(bool mark_waiting);

    AsgiContext& asgi_;
    WsNames& names_;
    LeafMutex mutex_;
    WebSocketIO* io_ = nullptr;
    std::deque<WsOut> outbox_;
    std::size_t out_bytes_ = 0;
    std::deque<WsData> inbox_;
    bool receive_waiting_ = false;
    bool send_waiting_ = false;
    bool delivery_pending_ = false;
    bool ended_ = false;
    std::uint16_t end_code_ = 1006;
    std::string end_reason_;
    bool finished_ = false;
};

} // namespace pympm
