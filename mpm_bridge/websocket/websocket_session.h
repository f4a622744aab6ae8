// One ASGI WebSocket (ASGI WebSocket 2.4, RFC 6455): the app runs as a task
// on the child's event loop, as an HTTP request's does; the request thread
// owns the connection. Before the app accepts, the request is an HTTP
// request (403 when the app closes, its own denial response, 500 when it
// fails). Once it accepts, the request thread answers 101, gives its
// PyThreads slot up for good and runs the socket without the GIL: it waits in
// poll() on the client and an eventfd the loop's send() writes, decodes
// frames (WsCodec), answers pings, and writes what the app sends. So an idle
// WebSocket holds one httpd thread, never a slot or the GIL.
//
// The loop and the request thread share a queue each way under one leaf
// mutex: messages received wait for the app's receive() (at most 32; the
// thread then stops reading and TCP pushes back), messages sent wait for the
// thread (send() returns at once below 64 KiB queued, else a future resolved
// below 16 KiB). A receive() that finds nothing gets a future the request
// thread resolves, taking the GIL once for the batch.
#pragma once

#include "asgi/asgi_context.h"
#include "asgi/asgi_messages.h"
#include "base/lock_order.h"
#include "config/child_settings.h"
#include "request/request_core.h"
#include "request/websocket_io.h"
#include "timeouts/timeout_target.h"
#include "websocket/ws_codec.h"
#include "websocket/ws_handshake.h"
#include "websocket/ws_messages.h"
#include "websocket/ws_names.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace pympm {

class GilRelease;
class RequestTimeouts;
class WsRegistry;

class WebSocketSession final : public TimeoutSource {
public:
    struct Limits {
        WsSettings ws;
        int shutdown_timeout_s = 5; // how long the task may run on after the socket closed
    };
    WebSocketSession(RequestContext& ctx, AsgiContext& asgi, WsNames& names, RequestIO& io, WebSocketIO& ws,
                     Limits limits, WsRegistry& registry, RequestTimeouts* timeouts, const std::string& app_name);
    ~WebSocketSession();
    WebSocketSession(const WebSocketSession&) = delete;
    WebSocketSession& operator=(const WebSocketSession&) = delete;

    // Runs `app` for the handshake; GIL held. Returns 0 once a response (the
    // 101 or a denial) went out, else the status httpd should answer with.
    int run(PyObject* app, PyObject* state, bool mount_relative_path);
    // For the accounting: 101 once accepted, the denial's status, or 0.
    int response_status() const;
    bool app_raised() const { return core_.app_raised(); }

    std::unique_ptr<TimeoutTarget> timeout_target(bool cancelling) override;

    // The channel's methods, on the loop thread, GIL held.
    PyObject* receive();
    PyObject* send(PyObject* message);
    bool done(PyObject* exc);
    void set_task(PyObject* task) { task_ = PyRef::borrow(task); }

    // Any thread: close with `code` (1001 at a stop).
    void stop(std::uint16_t code) noexcept;

private:
    struct Out {
        WsSendType kind = WsSendType::send;
        bool done = false; // the app's task ended (exc: what it raised)
        WsData data;
        WsAccept accept;
        WsClose close;
        AsgiResponseStart start;
        std::string body;
        bool more_body = false;
        PyRef exc;
    };
    enum class Phase { connecting, denying, open, closing, over };

    PyRef build_scope(const RequestLine& line, PyObject* state, bool mount_relative_path);
    bool post(Out&& o);
    void wake() noexcept;

    // The request thread's side (without the GIL unless said).
    int serve(GilRelease& released);
    // One event of the app; false once the request thread's part of an
    // HTTP answer is over (status set).
    bool handle(Out& o, GilRelease& released, int& status);
    void do_accept(const WsAccept& a, GilRelease& released);
    void read_input();
    void write_frame(WsOp op, std::string_view payload);
    void write_raw(std::string_view frame);
    void send_close(std::uint16_t code, std::string_view reason);
    // The app hears `code` (its receive() gets websocket.disconnect); the
    // socket is done with once `over` (else the close handshake goes on).
    void end(std::uint16_t code, std::string_view reason, bool over);
    void deliver(GilRelease& released);
    PyObject* message_of(WsData&& d);
    PyObject* disconnect_message();

    RequestCore core_;
    AsgiContext& asgi_;
    WsNames& names_;
    WebSocketIO& ws_;
    Limits limits_;
    WsRegistry& registry_;
    RequestTimeouts* timeouts_;
    PyRef channel_;
    PyRef task_;

    // Request thread only.
    WsOffer offer_;
    std::optional<std::pair<DeflateParams, std::string>> deflate_;
    std::optional<WsCodec> codec_;
    Phase phase_ = Phase::connecting;
    bool registered_ = false;
    int denial_status_ = 0;
    std::chrono::steady_clock::time_point last_input_{};
    std::chrono::steady_clock::time_point ping_sent_{};
    bool ping_outstanding_ = false;
    std::chrono::steady_clock::time_point close_deadline_{};
    std::string read_buf_;

    // Loop thread only (GIL).
    bool connect_delivered_ = false;
    bool accepted_ = false;  // websocket.accept sent
    bool closed_ = false;    // websocket.close sent (or the denial started)
    bool http_done_ = false; // the denial's last body part sent
    PyRef receive_future_;   // a receive() waiting
    std::vector<PyRef> send_futures_;

    // Shared, under mutex_.
    LeafMutex mutex_;
    std::deque<Out> outbox_;
    std::size_t out_bytes_ = 0;
    std::deque<WsData> inbox_;
    bool receive_waiting_ = false;
    bool send_waiting_ = false;
    bool ended_ = false; // the app hears websocket.disconnect from now on
    std::uint16_t end_code_ = 1006;
    std::string end_reason_;
    bool task_done_ = false;
    bool finished_ = false; // the request thread takes no more events
    std::atomic<std::uint16_t> stop_code_{0};
};

// The Python type of the native channel a WebSocket's app talks to.
PyRef make_ws_channel_type();
PyObject* new_ws_channel(PyObject* type, WebSocketSession* s);
void detach_ws_channel(PyObject* channel);

} // namespace pympm
