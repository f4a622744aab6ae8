#include "h2_session.h"

#include <nghttp2/nghttp2.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pympm_test {

namespace {

// Our receive windows: large enough that the server never waits for us.
constexpr std::int32_t kOurWindow = 1 << 30;

nghttp2_nv field(const std::string& name, const std::string& value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
            NGHTTP2_NV_FLAG_NONE};
}

} // namespace

// nghttp2 calls these from nghttp2_session_mem_recv/mem_send, on our thread;
// none may throw (they return to C).
struct H2Session::Callbacks {
    static H2Session& self(void* user) { return *static_cast<H2Session*>(user); }

    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
        H2Session& s = self(user);
        const std::uint32_t id = static_cast<std::uint32_t>(frame->hd.stream_id);
        switch (frame->hd.type) {
        case NGHTTP2_SETTINGS:
            if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) s.settings_received_ = true;
            break;
        case NGHTTP2_GOAWAY:
            s.goaway_ = true;
            s.goaway_code_ = frame->goaway.error_code;
            s.goaway_last_stream_ = static_cast<std::uint32_t>(frame->goaway.last_stream_id);
            break;
        case NGHTTP2_RST_STREAM:
            if (auto it = s.streams_.find(id); it != s.streams_.end()) {
                it->second.reset = true;
                it->second.reset_code = frame->rst_stream.error_code;
            }
            break;
        case NGHTTP2_HEADERS:
        case NGHTTP2_DATA:
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                if (auto it = s.streams_.find(id); it != s.streams_.end()) it->second.end_stream = true;
            break;
        default: break;
        }
        return 0;
    }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
        H2Session& s = self(user);
        const std::uint32_t id = static_cast<std::uint32_t>(frame->hd.stream_id);
        if (auto it = s.streams_.find(id); it != s.streams_.end())
            s.blocks_[id] = it->second.status != 0 ? Block::trailers : Block::response;
        return 0;
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) noexcept {
        H2Session& s = self(user);
        const std::uint32_t id = static_cast<std::uint32_t>(frame->hd.stream_id);
        auto it = s.streams_.find(id);
        if (it == s.streams_.end()) return 0;
        H2Stream& st = it->second;
        std::string n(reinterpret_cast<const char*>(name), namelen);
        std::string v(reinterpret_cast<const char*>(value), valuelen);
        Block& block = s.blocks_[id];
        if (n == ":status") {
            const int status = std::atoi(v.c_str());
            if (status >= 100 && status < 200) {
                st.interim.push_back(status);
                block = Block::interim;
                return 0;
            }
            st.status = status;
        }
        if (block == Block::response)
            st.headers.emplace_back(std::move(n), std::move(v));
        else if (block == Block::trailers)
            st.trailers.emplace_back(std::move(n), std::move(v));
        return 0;
    }

    static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream, const std::uint8_t* data,
                             std::size_t len, void* user) noexcept {
        H2Session& s = self(user);
        if (auto it = s.streams_.find(static_cast<std::uint32_t>(stream)); it != s.streams_.end())
            it->second.body.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }

    static int on_stream_close(nghttp2_session*, std::int32_t stream, std::uint32_t error_code, void* user) noexcept {
        H2Session& s = self(user);
        auto it = s.streams_.find(static_cast<std::uint32_t>(stream));
        // Closed without its end, and without a RST_STREAM from the server:
        // refused by a GOAWAY, or an error nghttp2 found in the stream.
        if (it != s.streams_.end() && !it->second.end_stream && !it->second.reset) {
            it->second.reset = true;
            it->second.reset_code = error_code;
        }
        s.bodies_.erase(static_cast<std::uint32_t>(stream));
        return 0;
    }

    static ssize_t read_body(nghttp2_session*, std::int32_t stream, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* data_flags, nghttp2_data_source*, void* user) noexcept {
        H2Session& s = self(user);
        auto it = s.bodies_.find(static_cast<std::uint32_t>(stream));
        if (it == s.bodies_.end()) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            return 0;
        }
        const std::size_t n = std::min(length, it->second.size());
        std::memcpy(buf, it->second.data(), n);
        it->second.erase(0, n);
        if (it->second.empty()) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            s.bodies_.erase(it);
        }
        return static_cast<ssize_t>(n);
    }
};

H2Session::H2Session(std::uint16_t port, Clock::time_point deadline) : port_(port) {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) throw HttpError("nghttp2_session_callbacks_new failed");
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, Callbacks::on_frame_recv);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, Callbacks::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, Callbacks::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, Callbacks::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, Callbacks::on_stream_close);
    const int rv = nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) throw HttpError(std::string("nghttp2_session_client_new: ") + nghttp2_strerror(rv));
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kOurWindow}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kOurWindow);
    try {
        fd_ = connect_loopback(port, deadline);
        if (!pump_until([this] { return settings_received_; }, deadline))
            throw HttpError(closed_ ? "the server closed the h2c connection before its SETTINGS"
                                    : "no SETTINGS from the server in time");
    } catch (...) {
        close();
        nghttp2_session_del(session_);
        throw;
    }
}

H2Session::~H2Session() {
    close();
    nghttp2_session_del(session_);
}

void H2Session::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_ = true;
}

std::uint32_t H2Session::open(const std::string& method, const std::string& path, const HeaderList& extra,
                              const std::string& body) {
    const std::string authority = "127.0.0.1:" + std::to_string(port_);
    const std::string m = ":method", sc = ":scheme", http = "http", p = ":path", a = ":authority";
    std::vector<nghttp2_nv> nva = {field(m, method), field(sc, http), field(p, path), field(a, authority)};
    for (const auto& [n, v] : extra) nva.push_back(field(n, v));
    nghttp2_data_provider provider{};
    provider.read_callback = Callbacks::read_body;
    const std::int32_t id =
        nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), body.empty() ? nullptr : &provider, nullptr);
    if (id < 0) throw HttpError(std::string("nghttp2_submit_request: ") + nghttp2_strerror(id));
    const auto sid = static_cast<std::uint32_t>(id);
    streams_[sid].id = sid;
    if (!body.empty()) bodies_[sid] = body;
    flush(Clock::now() + std::chrono::seconds(10));
    return sid;
}

void H2Session::flush(Clock::time_point deadline) {
    for (;;) {
        const std::uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) {
            protocol_error_ = nghttp2_strerror(static_cast<int>(n));
            close();
            return;
        }
        if (n == 0) return;
        if (fd_ < 0) continue; // the server is gone: what is lost is lost
        try {
            send_on(fd_, {reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)}, deadline);
        } catch (const HttpError&) {
            close();
        }
    }
}

bool H2Session::pump_until(const std::function<bool()>& done, Clock::time_point deadline) {
    for (;;) {
        flush(deadline);
        if (done()) return true;
        if (closed_) return done();
        if (!wait_readable(fd_, deadline)) return done();
        std::uint8_t buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) { // EOF or reset
            close();
            continue;
        }
        const ssize_t used = nghttp2_session_mem_recv(session_, buf, static_cast<std::size_t>(n));
        if (used < 0) {
            protocol_error_ = nghttp2_strerror(static_cast<int>(used));
            close();
        }
    }
}

bool H2Session::finished(std::uint32_t stream) const {
    auto it = streams_.find(stream);
    if (it != streams_.end() && (it->second.end_stream || it->second.reset)) return true;
    return closed_ || (goaway_ && stream > goaway_last_stream_);
}

bool H2Session::wait_finished(const std::vector<std::uint32_t>& streams, Clock::time_point deadline) {
    return pump_until(
        [&] { return std::all_of(streams.begin(), streams.end(), [&](std::uint32_t id) { return finished(id); }); },
        deadline);
}

const H2Stream& H2Session::stream(std::uint32_t id) const {
    auto it = streams_.find(id);
    if (it == streams_.end()) throw HttpError("no stream " + std::to_string(id) + " on this h2 session");
    return it->second;
}

} // namespace pympm_test
