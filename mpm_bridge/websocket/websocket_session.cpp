#include "websocket/websocket_session.h"

#include "admission/request_scope.h"
#include "asgi/asgi_request.h"
#include "python/gil.h"
#include "timeouts/request_timeouts.h"
#include "websocket/ws_handshake.h"
#include "websocket/ws_registry.h"

#include <algorithm>
#include <mutex>

namespace pympm {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxInbox = 32;         // messages waiting for receive() (websockets' max_queue)
constexpr std::size_t kWriteHigh = 64 * 1024; // send() waits above this many bytes queued
constexpr std::size_t kWriteLow = 16 * 1024;  // and goes on below this
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
    : core_(ctx, io, app_name), asgi_(asgi), names_(names), ws_(ws), limits_(limits), registry_(registry),
      timeouts_(timeouts) {}

WebSocketSession::~WebSocketSession() {
    if (registered_) registry_.remove(this);
    detach_ws_channel(channel_.get());
}

int WebSocketSession::response_status() const {
    if (codec_) return 101;
    if (core_.response.head_set()) return core_.response.head().status;
    return denial_status_;
}

PyRef WebSocketSession::build_scope(const RequestLine& line, PyObject* state, bool mount_relative_path) {
    PYMPM_ASSERT_GIL();
    PyRef scope = build_http_scope(asgi_, line, state, mount_relative_path);
    if (!scope) return scope;
    PyObject* d = scope.get();
    PyRef subprotocols = PyRef::steal(PyList_New(0));
    if (!subprotocols) return PyRef();
    for (const std::string& p : offer_.subprotocols) {
        PyRef s = PyRef::steal(PyUnicode_DecodeUTF8(p.data(), static_cast<Py_ssize_t>(p.size()), "surrogateescape"));
        if (!s || PyList_Append(subprotocols.get(), s.get()) != 0) return PyRef();
    }
    PyRef extensions = PyRef::steal(PyDict_Copy(names_.extensions.get()));
    if (!extensions || PyDict_SetItem(d, asgi_.k_type.get(), names_.v_websocket.get()) != 0 ||
        PyDict_SetItem(d, asgi_.k_asgi.get(), names_.asgi_version.get()) != 0 ||
        PyDict_SetItem(d, asgi_.k_scheme.get(), line.https ? names_.v_wss.get() : names_.v_ws.get()) != 0 ||
        PyDict_SetItem(d, names_.k_subprotocols.get(), subprotocols.get()) != 0 ||
        PyDict_SetItem(d, names_.k_extensions.get(), extensions.get()) != 0 ||
        PyDict_DelItem(d, asgi_.k_method.get()) != 0)
        return PyRef();
    return scope;
}

void WebSocketSession::wake() noexcept { ws_.wake(); }

void WebSocketSession::stop(std::uint16_t code) noexcept {
    std::uint16_t none = 0;
    stop_code_.compare_exchange_strong(none, code);
    ws_.wake();
}

bool WebSocketSession::post(Out&& o) {
    {
        std::lock_guard lock(mutex_);
        if (finished_) return false;
        if (o.kind == WsSendType::send && !o.done) out_bytes_ += o.data.data.size();
        outbox_.push_back(std::move(o));
    }
    wake();
    return true;
}

// The loop's side ---------------------------------------------------------------------

PyObject* WebSocketSession::message_of(WsData&& d) {
    PyRef value =
        PyRef::steal(d.text ? PyUnicode_DecodeUTF8(d.data.data(), static_cast<Py_ssize_t>(d.data.size()), "strict")
                            : PyBytes_FromStringAndSize(d.data.data(), static_cast<Py_ssize_t>(d.data.size())));
    if (!value) return nullptr;
    return Py_BuildValue("{O:O,O:O}", asgi_.k_type.get(), names_.v_receive.get(),
                         d.text ? names_.k_text.get() : names_.k_bytes.get(), value.get());
}

PyObject* WebSocketSession::disconnect_message() {
    // Under mutex_ or after the end: end_code_/end_reason_ no longer change.
    PyRef reason =
        PyRef::steal(PyUnicode_DecodeUTF8(end_reason_.data(), static_cast<Py_ssize_t>(end_reason_.size()), "replace"));
    if (!reason) return nullptr;
    return Py_BuildValue("{O:O,O:i,O:O}", asgi_.k_type.get(), names_.v_disconnect.get(), names_.k_code.get(),
                         static_cast<int>(end_code_), names_.k_reason.get(), reason.get());
}

PyObject* WebSocketSession::receive() {
    if (!connect_delivered_) {
        connect_delivered_ = true;
        return PyDict_Copy(names_.connect_message.get());
    }
    std::optional<WsData> got;
    bool wake_reader = false;
    {
        std::lock_guard lock(mutex_);
        if (!inbox_.empty()) {
            wake_reader = inbox_.size() == kMaxInbox; // the reader paused on a full queue
            got = std::move(inbox_.front());
            inbox_.pop_front();
        } else if (ended_) {
            return disconnect_message();
        }
    }
    if (got) {
        if (wake_reader) wake();
        return message_of(std::move(*got));
    }
    if (receive_future_) {
        PyErr_SetString(PyExc_RuntimeError, "websocket receive() called while another receive() waits");
        return nullptr;
    }
    PyRef future = PyRef::steal(PyObject_CallNoArgs(asgi_.create_future.get()));
    if (!future) return nullptr;
    {
        std::lock_guard lock(mutex_);
        if (!inbox_.empty() || ended_) {
            // It came in meanwhile: answered at once.
            PyObject* m = ended_ && inbox_.empty() ? disconnect_message() : nullptr;
            if (!m) {
                WsData d = std::move(inbox_.front());
                inbox_.pop_front();
                return message_of(std::move(d));
            }
            return m;
        }
        receive_waiting_ = true;
    }
    receive_future_ = future;
    wake(); // the reader may have paused for this receive()
    return future.release();
}

PyObject* WebSocketSession::send(PyObject* message) {
    const std::optional<WsSendType> type = ws_send_type(asgi_, names_, message);
    if (!type) return nullptr;
    if (http_done_) {
        PyErr_SetString(PyExc_RuntimeError, "a message sent after the denial response was complete");
        return nullptr;
    }
    Out o;
    o.kind = *type;
    switch (*type) {
    case WsSendType::accept:
        if (accepted_ || closed_) {
            PyErr_SetString(PyExc_RuntimeError,
                            accepted_ ? "websocket.accept sent twice" : "websocket.accept sent after websocket.close");
            return nullptr;
        }
        if (!parse_accept(asgi_, names_, message, offer_.subprotocols, o.accept)) return nullptr;
        accepted_ = true;
        break;
    case WsSendType::send:
        if (!accepted_ || closed_) {
            PyErr_SetString(PyExc_RuntimeError, closed_ ? "Cannot call \"send\" once a close message has been sent"
                                                        : "websocket.send sent before websocket.accept");
            return nullptr;
        }
        if (!parse_send(names_, message, o.data)) return nullptr;
        break;
    case WsSendType::close:
        if (closed_) {
            PyErr_SetString(PyExc_RuntimeError, "Cannot call \"send\" once a close message has been sent");
            return nullptr;
        }
        if (!parse_close(names_, message, o.close)) return nullptr;
        closed_ = true;
        break;
    case WsSendType::http_start: {
        if (accepted_ || closed_) {
            PyErr_SetString(PyExc_RuntimeError, "websocket.http.response.start sent after the handshake was answered");
            return nullptr;
        }
        if (!parse_response_start(asgi_, message, o.start)) return nullptr;
        closed_ = true;
        break;
    }
    case WsSendType::http_body: {
        if (accepted_ || !closed_ || http_done_) {
            PyErr_SetString(PyExc_RuntimeError,
                            "websocket.http.response.body sent without websocket.http.response.start");
            return nullptr;
        }
        AsgiResponseBody part;
        if (!parse_response_body(asgi_, message, part)) return nullptr;
        o.body.assign(PyBytes_AS_STRING(part.body.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(part.body.get())));
        o.more_body = part.more_body;
        if (!o.more_body) http_done_ = true;
        break;
    }
    }
    bool over = false;
    {
        std::lock_guard lock(mutex_);
        over = ended_ && *type == WsSendType::send;
    }
    if (over) {
        PyErr_SetString(core_.ctx.py.client_disconnected.get(), "the WebSocket is closed");
        return nullptr;
    }
    if (!post(std::move(o))) {
        PyErr_SetString(core_.ctx.py.client_disconnected.get(), "the WebSocket is closed");
        return nullptr;
    }
    if (*type != WsSendType::send) Py_RETURN_NONE;
    {
        std::lock_guard lock(mutex_);
        if (out_bytes_ <= kWriteHigh) Py_RETURN_NONE;
        send_waiting_ = true;
    }
    // Flow control: the app waits until the request thread caught up.
    PyRef future = PyRef::steal(PyObject_CallNoArgs(asgi_.create_future.get()));
    if (!future) return nullptr;
    send_futures_.push_back(future);
    return future.release();
}

bool WebSocketSession::done(PyObject* exc) {
    Out o;
    o.done = true;
    if (exc != Py_None) o.exc = PyRef::borrow(exc);
    // Refused once the session ended: `o` dies here, with the GIL.
    return post(std::move(o));
}

std::unique_ptr<TimeoutTarget> WebSocketSession::timeout_target(bool) { return task_timeout_target(asgi_, task_); }

// The request thread's side -------------------------------------------------------------

int WebSocketSession::run(PyObject* app, PyObject* state, bool mount_relative_path) {
    PYMPM_ASSERT_GIL();
    if (!names_.build()) return core_.fail("could not set up a WebSocket");
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
    PyRef scope = build_scope(line, state, mount_relative_path);
    if (!scope) return core_.fail("could not get an ASGI WebSocket scope");
    channel_ = PyRef::steal(new_ws_channel(names_.channel_type.get(), this));
    if (!channel_) return core_.fail("could not get an ASGI channel");
    PyRef scheduled = PyRef::steal(PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(), asgi_.begin.get(),
                                                                app, scope.get(), channel_.get(), nullptr));
    if (!scheduled) return core_.fail("could not be started on the ASGI event loop");
    // A WebSocket waits on its client for its life: it holds no PyThreads
    // slot (the app runs on the loop, which needs none either), so idle
    // sockets never keep HTTP requests out.
    RequestScope::give_up_slot();
    int status = 0;
    {
        GilRelease released;
        status = serve(released);
    }
    std::deque<Out> left;
    {
        std::lock_guard lock(mutex_);
        finished_ = true;
        left.swap(outbox_);
        ended_ = true;
    }
    left.clear(); // their references die with the GIL
    if (receive_future_) {
        PyRef m = PyRef::steal(disconnect_message());
        if (m) {
            PyRef r = PyRef::steal(PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(), asgi_.resolve.get(),
                                                                receive_future_.get(), m.get(), nullptr));
        }
        PyErr_Clear();
        receive_future_.reset();
    }
    send_futures_.clear();
    detach_ws_channel(channel_.get());
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
    {
        std::lock_guard lock(mutex_);
        if (!ended_) {
            ended_ = true;
            end_code_ = code;
            end_reason_.assign(reason);
        }
    }
    if (over) {
        phase_ = Phase::over;
        if (registered_) {
            registry_.remove(this);
            registered_ = false;
        }
    }
}

void WebSocketSession::do_accept(const WsAccept& a, GilRelease& released) {
    HeaderList headers;
    headers.emplace_back("Sec-WebSocket-Accept", ws_accept_key(offer_.key));
    if (a.subprotocol) headers.emplace_back("Sec-WebSocket-Protocol", *a.subprotocol);
    if (deflate_) headers.emplace_back("Sec-WebSocket-Extensions", deflate_->second);
    for (const auto& h : a.headers) headers.push_back(h);
    {
        // PyRequestTimeout covers the handshake, not the open socket; the
        // request counts (PyMaxRequests) once it is answered.
        GilRelease::Back gil(released);
        if (timeouts_) timeouts_->request_ends();
        if (core_.ctx.response_ready) core_.ctx.response_ready(core_.ctx.response_ready_owner, core_.io);
    }
    WsLimits limits;
    limits.max_message = limits_.ws.max_message;
    codec_.emplace(limits, deflate_ ? std::optional<DeflateParams>(deflate_->first) : std::nullopt);
    try {
        ws_.accept(headers);
    } catch (const ClientGone&) {
        end(ws_close::abnormal, "", true);
        return;
    }
    core_.log(LogLevel::debug, std::string(PYMPM_APLOGNO(00300)) + "WebSocket " + std::string(core_.io.uri()) +
                                   " accepted (HTTP/" + (ws_.http2() ? "2" : "1.1") +
                                   (a.subprotocol ? ", subprotocol " + *a.subprotocol : std::string()) +
                                   (deflate_ ? ", " + deflate_->second : std::string()) + ")");
    phase_ = Phase::open;
    last_input_ = Clock::now();
    registered_ = registry_.add(this);
    if (!registered_) stop(registry_.stop_code() ? registry_.stop_code() : ws_close::going_away);
}

bool WebSocketSession::handle(Out& o, GilRelease& released, int& status) {
    if (o.done) {
        {
            std::lock_guard lock(mutex_);
            task_done_ = true;
        }
        PyRef exc = std::move(o.exc);
        struct Drop { // the exception dies with the GIL
            PyRef& e;
            GilRelease& r;
            ~Drop() {
                if (e) {
                    GilRelease::Back gil(r);
                    e.reset();
                }
            }
        } drop{exc, released};
        if (phase_ == Phase::connecting || phase_ == Phase::denying) {
            GilRelease::Back gil(released);
            if (exc) {
                PyObject* tb = PyException_GetTraceback(exc.get());
                Py_INCREF(Py_TYPE(exc.get()));
                Py_INCREF(exc.get());
                PyErr_Restore(reinterpret_cast<PyObject*>(Py_TYPE(exc.get())), exc.get(), tb);
                status = core_.error_response("raised an exception");
                if (core_.io.head_sent()) status = 0;
            } else if (phase_ == Phase::denying) {
                status = core_.response.finish(); // it returned without its last body part
            } else {
                status = core_.fail_message("the ASGI app returned without sending websocket.accept");
            }
            return false;
        }
        if (exc) {
            {
                GilRelease::Back gil(released);
                PyObject* tb = PyException_GetTraceback(exc.get());
                Py_INCREF(Py_TYPE(exc.get()));
                Py_INCREF(exc.get());
                PyErr_Restore(reinterpret_cast<PyObject*>(Py_TYPE(exc.get())), exc.get(), tb);
                core_.fail("raised an exception");
            }
            if (phase_ == Phase::open) {
                send_close(ws_close::internal_error, "");
                end(ws_close::internal_error, "", true);
            }
        } else if (phase_ == Phase::open) {
            // It returned without closing: a normal close, as websockets.
            send_close(ws_close::normal, "");
            phase_ = Phase::closing;
            close_deadline_ = Clock::now() + kCloseTimeout;
        }
        return true;
    }
    switch (o.kind) {
    case WsSendType::accept:
        if (phase_ == Phase::connecting) do_accept(o.accept, released);
        return true;
    case WsSendType::send: {
        std::lock_guard lock(mutex_);
        out_bytes_ -= std::min(out_bytes_, o.data.data.size());
    }
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
        void message(bool text, std::string&& data) override {
            std::lock_guard lock(s.mutex_);
            s.inbox_.push_back(WsData{text, std::move(data)});
        }
        void ping(std::string_view payload) override { s.write_frame(WsOp::pong, payload); }
        void pong(std::string_view) override {}
        void close(std::uint16_t code, std::string_view reason) override {
            if (s.phase_ == Phase::open) {
                // Echoed (RFC 6455 §5.5.1): the same code, none for none.
                s.write_raw(WsCodec::close_frame(code));
            }
            s.end(code, reason, true);
        }
    } sink(*this);
    if (read_buf_.size() < kReadChunk) read_buf_.resize(kReadChunk);
    try {
        for (;;) {
            {
                std::lock_guard lock(mutex_);
                if (inbox_.size() >= kMaxInbox) return; // TCP pushes back
            }
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

void WebSocketSession::deliver(GilRelease& released) {
    bool resolve_receive = false, resolve_sends = false, reject_sends = false;
    {
        std::lock_guard lock(mutex_);
        resolve_receive = receive_waiting_ && (!inbox_.empty() || ended_);
        if (send_waiting_ && (ended_ || out_bytes_ < kWriteLow)) {
            resolve_sends = !ended_;
            reject_sends = ended_;
        }
    }
    if (!resolve_receive && !resolve_sends && !reject_sends) return;
    GilRelease::Back gil(released);
    if (resolve_receive) {
        PyRef message;
        {
            std::lock_guard lock(mutex_);
            receive_waiting_ = false;
            if (!inbox_.empty()) {
                WsData d = std::move(inbox_.front());
                inbox_.pop_front();
                message = PyRef::steal(message_of(std::move(d)));
            } else {
                message = PyRef::steal(disconnect_message());
            }
        }
        PyRef future = std::move(receive_future_);
        if (message && future) {
            PyRef r = PyRef::steal(PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(), asgi_.resolve.get(),
                                                                future.get(), message.get(), nullptr));
        }
        PyErr_Clear();
    }
    if (resolve_sends || reject_sends) {
        {
            std::lock_guard lock(mutex_);
            send_waiting_ = false;
        }
        PyRef exc = reject_sends ? PyRef::steal(PyObject_CallFunction(core_.ctx.py.client_disconnected.get(), "s",
                                                                      "the WebSocket is closed"))
                                 : PyRef();
        for (PyRef& f : send_futures_) {
            PyRef r = PyRef::steal(reject_sends
                                       ? PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(),
                                                                      asgi_.reject.get(), f.get(), exc.get(), nullptr)
                                       : PyObject_CallFunctionObjArgs(asgi_.call_soon_threadsafe.get(),
                                                                      asgi_.resolve.get(), f.get(), Py_None, nullptr));
        }
        send_futures_.clear();
        PyErr_Clear();
    }
}

int WebSocketSession::serve(GilRelease& released) {
    int status = 0;
    std::optional<Clock::time_point> task_deadline; // the socket is over; the task may run on this long
    for (;;) {
        std::deque<Out> batch;
        bool task_done = false;
        {
            std::lock_guard lock(mutex_);
            batch.swap(outbox_);
            task_done = task_done_;
        }
        while (!batch.empty()) {
            Out o = std::move(batch.front());
            batch.pop_front();
            if (!handle(o, released, status)) {
                // Answered as HTTP (403, a denial, 500): the app hears the
                // end; what it still queued is dropped with the GIL.
                end(ws_close::abnormal, "", false);
                phase_ = Phase::over;
                deliver(released);
                GilRelease::Back gil(released);
                batch.clear();
                return status;
            }
        }
        {
            std::lock_guard lock(mutex_);
            task_done = task_done_;
        }
        const auto now = Clock::now();
        if (phase_ == Phase::open || phase_ == Phase::closing) {
            std::uint16_t stop = stop_code_.load();
            if (!stop && ws_.child_stopping()) stop = ws_close::going_away;
            if (stop && phase_ == Phase::open) {
                core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00304)) + "WebSocket " +
                                              std::string(core_.io.uri()) + " closed with " + std::to_string(stop) +
                                              ": the child is stopping");
                send_close(stop, "going away");
                end(stop, "going away", false);
                if (phase_ == Phase::open) {
                    phase_ = Phase::closing;
                    const auto budget = std::min<std::chrono::seconds>(
                        kCloseTimeout, std::chrono::seconds(std::max(1, limits_.shutdown_timeout_s)));
                    close_deadline_ = now + budget;
                }
            }
            if (phase_ == Phase::open || phase_ == Phase::closing) read_input();
        }
        if (phase_ == Phase::closing && Clock::now() >= close_deadline_) {
            core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00305)) + "WebSocket " + std::string(core_.io.uri()) +
                                          ": the client did not finish the close handshake in time; dropped");
            end(ws_close::abnormal, "", true);
        }
        if (phase_ == Phase::open && limits_.ws.ping_s > 0) {
            const auto t = Clock::now();
            if (ping_outstanding_ && t - ping_sent_ >= std::chrono::seconds(limits_.ws.ping_timeout_s) &&
                limits_.ws.ping_timeout_s > 0) {
                core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00303)) + "WebSocket " +
                                              std::string(core_.io.uri()) + ": no answer to a ping in " +
                                              std::to_string(limits_.ws.ping_timeout_s) + " s; closed with 1011");
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
        deliver(released);
        if (phase_ == Phase::over) {
            if (task_done) break;
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
        bool want_input = phase_ == Phase::open || phase_ == Phase::closing;
        if (want_input) {
            std::lock_guard lock(mutex_);
            want_input = inbox_.size() < kMaxInbox;
        }
        auto t = Clock::now();
        Clock::time_point next = t + std::chrono::hours(1);
        if (phase_ == Phase::closing) next = std::min(next, close_deadline_);
        if (phase_ == Phase::open && limits_.ws.ping_s > 0)
            next = std::min(next, ping_outstanding_ ? ping_sent_ + std::chrono::seconds(limits_.ws.ping_timeout_s)
                                                    : last_input_ + std::chrono::seconds(limits_.ws.ping_s));
        if (task_deadline) next = std::min(next, *task_deadline);
        {
            std::lock_guard lock(mutex_);
            if (!outbox_.empty()) continue;
        }
        ws_.wait(until(next, t), want_input);
    }
    return status;
}

} // namespace pympm
