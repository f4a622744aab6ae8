#include "websocket/websocket_session.h"

#include "admission/request_admission.h"
#include "python/gil.h"
#include "timeouts/request_timeouts.h"
#include "websocket/ws_loop.h"
#include "websocket/ws_registry.h"

#include <algorithm>

namespace pympm {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::chrono::seconds kCloseTimeout{10}; // the close handshake (websockets' close_timeout)

std::chrono::milliseconds until(Clock::time_point t, Clock::time_point now) {
    if (t <= now) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - now) + std::chrono::milliseconds(1);
}

} // namespace

WebSocketSession::WebSocketSession(RequestContext& ctx, AsgiContext& asgi, WsNames& names, RequestIO& io,
                                   WebSocketIO& ws, Limits limits, WsRegistry& registry, RequestTimeouts* timeouts,
                                   const std::string& app_name)
    : core_(ctx, io, app_name), asgi_(asgi), ws_(ws), limits_(limits), registry_(registry), timeouts_(timeouts),
      x_(std::make_shared<WsExchange>(asgi, names)) {}

WebSocketSession::~WebSocketSession() {
    if (registered_) registry_.remove(this);
    x_->finish(); // a late post() from the loop no longer wakes a connection that is gone
}

int WebSocketSession::response_status() const {
    if (codec_) return 101;
    if (core_.response.head_set()) return core_.response.head().status;
    return denial_status_;
}

void WebSocketSession::stop(std::uint16_t code) noexcept {
    std::uint16_t none = 0;
    stop_code_.compare_exchange_strong(none, code);
    ws_.wake();
}

void WebSocketSession::deliver() {
    // Refused once the child stops: the loop is gone, nobody waits.
    if (x_->claim_delivery()) asgi_.inbox.push(ws_delivery_work(x_));
}

int WebSocketSession::run(const AsgiMount& mount) {
    // The loop thread needs the GIL to run the app (PyEnableThreads Off
    // leaves this thread holding it).
    GilReleaseIfHeld no_gil;
    RequestLine line;
    core_.io.request_line(line);
    std::string why;
    if (const int refused = check_offer(line, offer_, why)) {
        core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00301)) + "WebSocket handshake for " +
                                      std::string(core_.io.uri()) + " refused with " + std::to_string(refused) + ": " +
                                      why);
        if (refused == 426) ws_.refuse_version();
        denial_status_ = refused;
        return refused;
    }
    deflate_ = negotiate_deflate(offer_.extensions, limits_.ws.compression);
    x_->head = AsgiHead::capture(core_.io);
    x_->subprotocols = offer_.subprotocols;
    x_->attach(&ws_);
    if (!asgi_.inbox.push(ws_start_work(x_, mount))) {
        core_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00200)) +
                                       "the ASGI event loop of this child stopped "
                                       "before it served " +
                                       std::string(core_.io.uri()) + "; 503");
        return 503;
    }
    // A WebSocket waits on its client for its life: it holds no PyThreads
    // slot (the app runs on the loop, which needs none either), so idle
    // sockets never keep HTTP requests out.
    RequestAdmission::give_up_slot();
    const int status = serve();
    if (registered_) {
        registry_.remove(this);
        registered_ = false;
    }
    // What the app still queued is plain C++: it dies here. The app hears
    // the end: a receive() or send() still waiting is answered on the loop.
    x_->finish();
    deliver();
    return status;
}

void WebSocketSession::write_raw(std::string_view frame) { ws_.write({frame}); }

void WebSocketSession::write_frame(WsOp op, std::string_view payload) {
    WsFrame f = codec_->encode(op, payload);
    ws_.write({f.header(), f.payload});
}

void WebSocketSession::send_close(std::uint16_t code, std::string_view reason) {
    try {
        write_raw(WsCodec::close_frame(code, reason));
    } catch (const ClientGone&) {
        end(ws_close::abnormal, "", true);
    }
}

void WebSocketSession::end(std::uint16_t code, std::string_view reason, bool over) {
    x_->end(code, reason);
    if (over) {
        phase_ = Phase::over;
        if (registered_) {
            registry_.remove(this);
            registered_ = false;
        }
    }
}

void WebSocketSession::do_accept(const WsAccept& a) {
    HeaderList headers;
    headers.emplace_back("Sec-WebSocket-Accept", ws_accept_key(offer_.key));
    if (a.subprotocol) headers.emplace_back("Sec-WebSocket-Protocol", *a.subprotocol);
    if (deflate_) headers.emplace_back("Sec-WebSocket-Extensions", deflate_->second);
    for (const auto& h : a.headers) headers.push_back(h);
    // PyRequestTimeout covers the handshake, not the open socket; the
    // request counts (PyMaxRequests) once it is answered.
    if (timeouts_) timeouts_->request_ends();
    if (core_.ctx.response_ready) core_.ctx.response_ready(core_.ctx.response_ready_owner, core_.io);
    WsLimits limits;
    limits.max_message = limits_.ws.max_message;
    codec_.emplace(limits, deflate_ ? std::optional<DeflateParams>(deflate_->first) : std::nullopt);
    try {
        ws_.accept(headers);
    } catch (const ClientGone&) {
        end(ws_close::abnormal, "", true);
        return;
    }
    phase_ = Phase::open;
    last_input_ = Clock::now();
    if (limits_.opened) limits_.opened();
    registered_ = registry_.add(this);
    if (!registered_) stop(registry_.stop_code() ? registry_.stop_code() : ws_close::going_away);
    // Logged once the status page counts and lists it.
    core_.log(LogLevel::debug, std::string(PYMPM_APLOGNO(00300)) + "WebSocket " + std::string(core_.io.uri()) +
                                   " accepted (HTTP/" + (ws_.http2() ? "2" : "1.1") +
                                   (a.subprotocol ? ", subprotocol " + *a.subprotocol : std::string()) +
                                   (deflate_ ? ", " + deflate_->second : std::string()) + ")");
}

bool WebSocketSession::handle_done(const AppFailure& f, int& status) {
    task_done_ = true;
    if (phase_ == Phase::connecting || phase_ == Phase::denying) {
        if (f.kind == AppFailure::Kind::unavailable) {
            core_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00200)) +
                                           "the ASGI event loop of this child stopped "
                                           "before it served " +
                                           std::string(core_.io.uri()) + "; 503");
            status = core_.io.head_sent() ? 0 : 503;
        } else if (f.kind != AppFailure::Kind::none) {
            status = core_.error_response(f);
            if (core_.io.head_sent()) status = 0;
        } else if (phase_ == Phase::denying) {
            status = core_.response.finish(); // it returned without its last body part
        } else {
            status = core_.fail_message("the ASGI app returned without sending websocket.accept");
        }
        return false;
    }
    if (f.kind == AppFailure::Kind::unavailable) {
        // The loop stopped under the app (the child stops).
        if (phase_ == Phase::open) {
            send_close(ws_close::going_away, "going away");
            end(ws_close::going_away, "going away", true);
        }
    } else if (f.kind != AppFailure::Kind::none) {
        if (f.kind == AppFailure::Kind::disconnect_class && x_->ended()) {
            core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00050)) + "app " + core_.app_name +
                                          " stopped serving " + std::string(core_.io.uri()) + ": " + f.type_name +
                                          ": " + f.message);
        } else {
            raised_ = true;
            core_.log_app_exception(f.what, f.traceback);
        }
        if (phase_ == Phase::open) {
            send_close(ws_close::internal_error, "");
            end(ws_close::internal_error, "", true);
        }
    } else if (phase_ == Phase::open) {
        // It returned without closing: a normal close, as websockets.
        send_close(ws_close::normal, "");
        if (phase_ == Phase::open) {
            phase_ = Phase::closing;
            close_deadline_ = Clock::now() + kCloseTimeout;
        }
    }
    return true;
}

bool WebSocketSession::handle(WsOut& o, int& status) {
    if (o.done) return handle_done(o.failure, status);
    switch (o.kind) {
    case WsSendType::accept:
        if (phase_ == Phase::connecting) do_accept(o.accept);
        return true;
    case WsSendType::send:
        x_->written(o.data.data.size());
        if (phase_ != Phase::open) return true;
        try {
            write_frame(o.data.text ? WsOp::text : WsOp::binary, o.data.data);
        } catch (const ClientGone&) {
            end(ws_close::abnormal, "", true);
        }
        return true;
    case WsSendType::close:
        if (phase_ == Phase::connecting) {
            // Closed before accepting: the handshake is refused (httpd's
            // 403, so ErrorDocument applies).
            status = 403;
            denial_status_ = 403;
            return false;
        }
        if (phase_ == Phase::open) {
            send_close(static_cast<std::uint16_t>(o.close.code), o.close.reason);
            if (phase_ == Phase::open) {
                phase_ = Phase::closing;
                close_deadline_ = Clock::now() + kCloseTimeout;
            }
        }
        return true;
    case WsSendType::http_start:
        if (phase_ != Phase::connecting) return true;
        phase_ = Phase::denying;
        core_.response.set_head(std::move(o.start.head), o.start.content_length);
        if (core_.ctx.response_ready) core_.ctx.response_ready(core_.ctx.response_ready_owner, core_.io);
        return true;
    case WsSendType::http_body:
        if (phase_ != Phase::denying) return true;
        if (!core_.response.send(o.body.data(), o.body.size(),
                                 o.more_body ? RequestIO::Send::flush : RequestIO::Send::buffer) ||
            !o.more_body) {
            status = core_.response.finish();
            return false;
        }
        return true;
    }
    return true;
}

void WebSocketSession::read_input() {
    struct Sink final : WsCodec::Sink {
        WebSocketSession& s;
        explicit Sink(WebSocketSession& session) : s(session) {}
        void message(bool text, std::string&& data) override { s.x_->received(WsData{text, std::move(data)}); }
        void ping(std::string_view payload) override { s.write_frame(WsOp::pong, payload); }
        void pong(std::string_view) override {}
        void close(std::uint16_t code, std::string_view reason) override {
            if (s.phase_ == Phase::open) {
                // Echoed (RFC 6455 §5.5.1): the same code, none for none,
                // and its reason, as uvicorn's websockets does.
                s.write_raw(WsCodec::close_frame(code, reason));
            }
            s.end(code, reason, true);
        }
    } sink(*this);
    if (read_buf_.size() < kReadChunk) read_buf_.resize(kReadChunk);
    try {
        for (;;) {
            if (x_->inbox_full()) return; // TCP pushes back
            const std::size_t n = ws_.read_some(read_buf_.data(), read_buf_.size());
            if (n == 0) return;
            last_input_ = Clock::now();
            ping_outstanding_ = false;
            if (!codec_->feed(read_buf_.data(), n, sink)) {
                core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00302)) + "WebSocket " +
                                              std::string(core_.io.uri()) + ": the client broke the protocol (" +
                                              std::to_string(codec_->fail_code()) + " " + codec_->fail_reason() + ")");
                send_close(codec_->fail_code(), codec_->fail_reason());
                end(codec_->fail_code(), codec_->fail_reason(), true);
                return;
            }
            if (phase_ == Phase::over) return;
        }
    } catch (const ClientGone&) {
        end(ws_close::abnormal, "", true);
    }
}

void WebSocketSession::check_stop() {
    std::uint16_t stop = stop_code_.load();
    if (!stop && ws_.child_stopping()) stop = ws_close::going_away;
    if (!stop || phase_ != Phase::open) return;
    core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00304)) + "WebSocket " + std::string(core_.io.uri()) +
                                  " closed with " + std::to_string(stop) + ": the child is stopping");
    // The app hears why first: a Close that meets a stream mod_http2 is
    // already tearing down (a graceful stop) fails to write, and would
    // otherwise tell the app 1006.
    end(stop, "going away", false);
    send_close(stop, "going away");
    if (phase_ == Phase::open) {
        phase_ = Phase::closing;
        const auto budget = std::min<std::chrono::seconds>(
            kCloseTimeout, std::chrono::seconds(std::max(1, limits_.shutdown_timeout_s)));
        close_deadline_ = Clock::now() + budget;
    }
}

void WebSocketSession::check_ping() {
    if (phase_ != Phase::open || limits_.ws.ping_s <= 0) return;
    const auto t = Clock::now();
    if (ping_outstanding_ && limits_.ws.ping_timeout_s > 0 &&
        t - ping_sent_ >= std::chrono::seconds(limits_.ws.ping_timeout_s)) {
        core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00303)) + "WebSocket " + std::string(core_.io.uri()) +
                                      ": no answer to a ping in " + std::to_string(limits_.ws.ping_timeout_s) +
                                      " s; closed with 1011");
        send_close(ws_close::internal_error, "keepalive ping timeout");
        end(ws_close::internal_error, "keepalive ping timeout", true);
    } else if (!ping_outstanding_ && t - last_input_ >= std::chrono::seconds(limits_.ws.ping_s)) {
        try {
            write_frame(WsOp::ping, "");
            ping_outstanding_ = true;
            ping_sent_ = t;
        } catch (const ClientGone&) {
            end(ws_close::abnormal, "", true);
        }
    }
}

int WebSocketSession::serve() {
    int status = 0;
    std::optional<Clock::time_point> task_deadline; // the socket is over; the task may run on this long
    for (;;) {
        std::deque<WsOut> batch = x_->take_out();
        for (WsOut& o : batch) {
            if (!handle(o, status)) {
                // Answered as HTTP (403, a denial, 500): the app hears the
                // end; what it still queued is dropped.
                end(ws_close::abnormal, "", false);
                phase_ = Phase::over;
                return status;
            }
        }
        batch.clear();
        if (phase_ == Phase::open || phase_ == Phase::closing) {
            check_stop();
            if (phase_ == Phase::open || phase_ == Phase::closing) read_input();
        }
        if (phase_ == Phase::closing && Clock::now() >= close_deadline_) {
            core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00305)) + "WebSocket " + std::string(core_.io.uri()) +
                                          ": the client did not finish the close handshake in time; dropped");
            end(ws_close::abnormal, "", true);
        }
        check_ping();
        deliver();
        if (phase_ == Phase::over) {
            if (task_done_) break;
            if (!task_deadline) task_deadline = Clock::now() + std::chrono::seconds(limits_.shutdown_timeout_s);
            if (Clock::now() >= *task_deadline) {
                core_.log(LogLevel::warning, std::string(PYMPM_APLOGNO(00306)) + "app " + core_.app_name +
                                                 " still ran " + std::to_string(limits_.shutdown_timeout_s) +
                                                 " s (PyShutdownTimeout) after its WebSocket " +
                                                 std::string(core_.io.uri()) + " ended; left to run on alone");
                break;
            }
        }
        // What to wait for, and how long.
        const bool want_input = (phase_ == Phase::open || phase_ == Phase::closing) && !x_->inbox_full();
        const auto t = Clock::now();
        Clock::time_point next = t + std::chrono::hours(1);
        if (phase_ == Phase::closing) next = std::min(next, close_deadline_);
        if (phase_ == Phase::open && limits_.ws.ping_s > 0)
            next = std::min(next, ping_outstanding_ ? ping_sent_ + std::chrono::seconds(limits_.ws.ping_timeout_s)
                                                    : last_input_ + std::chrono::seconds(limits_.ws.ping_s));
        if (task_deadline) next = std::min(next, *task_deadline);
        // A post() after take_out() wrote the eventfd: the wait returns at
        // once then.
        ws_.wait(until(next, t), want_input);
    }
    return status;
}

} // namespace pympm
