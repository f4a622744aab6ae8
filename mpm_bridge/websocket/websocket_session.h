// One ASGI WebSocket (ASGI WebSocket 2.4, RFC 6455), httpd's request
// thread's side (R). As for an HTTP request (asgi_request.h), R never runs
// Python and never takes the GIL: it checks the handshake, copies the head
// into a WsExchange and pushes the start on the event loop's inbox; the
// loop (L, ws_loop.h) builds the scope and runs the app as a task, and
// posts what the app sends as plain C++ values. Before the app accepts, the
// request is an HTTP request (403 when the app closes, its own denial
// response, 500 when it fails). Once it accepts, R answers 101, gives its
// PyThreads slot up for good and runs the socket: it waits in poll() on the
// client and an eventfd the loop's send() writes, decodes frames (WsCodec),
// answers pings, and writes what the app sends. So an idle WebSocket holds
// one httpd thread, never a slot or the GIL.
//
// Messages received wait in the exchange for the app's receive() (at most
// 32; R then stops reading and TCP pushes back); messages sent wait for R
// (send() returns at once below 64 KiB queued, else a future resolved below
// 16 KiB). A receive() or send() that waits is answered by a delivery R
// pushes on the inbox, one per batch.
#pragma once

#include "asgi/asgi_context.h"
#include "asgi/asgi_loop.h"
#include "config/child_settings.h"
#include "request/request_core.h"
#include "request/websocket_io.h"
#include "websocket/ws_codec.h"
#include "websocket/ws_exchange.h"
#include "websocket/ws_handshake.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace pympm {

class RequestTimeouts;
class WsRegistry;
struct WsNames;

class WebSocketSession {
public:
    struct Limits {
        WsSettings ws;
        int shutdown_timeout_s = 5; // how long the task may run on after the socket closed
        // Called on the request thread once the socket is open (the status
        // page's listing shows the request as an open WebSocket).
        void (*opened)() = nullptr;
    };
    WebSocketSession(RequestContext& ctx, AsgiContext& asgi, WsNames& names, RequestIO& io, WebSocketIO& ws,
                     Limits limits, WsRegistry& registry, RequestTimeouts* timeouts, const std::string& app_name);
    ~WebSocketSession();
    WebSocketSession(const WebSocketSession&) = delete;
    WebSocketSession& operator=(const WebSocketSession&) = delete;

    // What the timeout watch cancels and reports before the app accepts
    // (shared: the watch's job may outlive the session).
    const std::shared_ptr<WsExchange>& exchange() const { return x_; }

    // Runs the app of `mount` for the handshake, without the GIL. Returns 0
    // once a response (the 101 or a denial) went out, else the status httpd
    // should answer with.
    int run(const AsgiMount& mount);
    // For the accounting: 101 once accepted, the denial's status, or 0.
    int response_status() const;
    bool app_raised() const { return raised_ || core_.app_raised(); }

    // Any thread: close with `code` (1001 at a stop).
    void stop(std::uint16_t code) noexcept;

private:
    enum class Phase { connecting, denying, open, closing, over };

    int serve();
    // One event of the app; false once the request thread's part of an
    // HTTP answer is over (status set).
    bool handle(WsOut& o, int& status);
    bool handle_done(const AppFailure& f, int& status);
    void do_accept(const WsAccept& a);
    void read_input();
    void write_frame(WsOp op, std::string_view payload);
    void write_raw(std::string_view frame);
    void send_close(std::uint16_t code, std::string_view reason);
    // The app hears `code` (its receive() gets websocket.disconnect); the
    // socket is done with once `over` (else the close handshake goes on).
    void end(std::uint16_t code, std::string_view reason, bool over);
    // Pushes a delivery when a receive() or send() of the app can go on.
    void deliver();
    void check_stop();
    void check_ping();

    RequestCore core_;
    AsgiContext& asgi_;
    WebSocketIO& ws_;
    Limits limits_;
    WsRegistry& registry_;
    RequestTimeouts* timeouts_;
    std::shared_ptr<WsExchange> x_;

    WsOffer offer_;
    std::optional<std::pair<DeflateParams, std::string>> deflate_;
    std::optional<WsCodec> codec_;
    Phase phase_ = Phase::connecting;
    bool registered_ = false;
    bool task_done_ = false;
    bool raised_ = false; // the app raised after it accepted
    int denial_status_ = 0;
    std::chrono::steady_clock::time_point last_input_{};
    std::chrono::steady_clock::time_point ping_sent_{};
    bool ping_outstanding_ = false;
    std::chrono::steady_clock::time_point close_deadline_{};
    std::string read_buf_;
    std::atomic<std::uint16_t> stop_code_{0};
};

} // namespace pympm
