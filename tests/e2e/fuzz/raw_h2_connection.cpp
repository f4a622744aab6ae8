#include "raw_h2_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pympm_test {

namespace h2 {

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
    const auto len = static_cast<std::uint32_t>(payload.size());
    std::string f = {static_cast<char>(len >> 16), static_cast<char>(len >> 8), static_cast<char>(len),
                     static_cast<char>(type), static_cast<char>(flags)};
    f += u32(stream & 0x7fffffffu);
    f.append(payload);
    return f;
}

} // namespace h2

namespace {

std::uint32_t read_u32(std::string_view p) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[0])) << 24 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[1])) << 16 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[2])) << 8 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[3]));
}

std::string setting(std::uint16_t id, std::uint32_t value) {
    return std::string{static_cast<char>(id >> 8), static_cast<char>(id)} + h2::u32(value);
}

// Our receive windows: large enough that the server never waits for us.
constexpr std::uint32_t kOurWindow = 1u << 30;

} // namespace

RawH2Connection::RawH2Connection(std::uint16_t port, Clock::time_point deadline) : port_(port) {
    fd_ = connect_loopback(port, deadline);
    local_port_ = local_port_of(fd_);
    std::string hello(h2::kPreface);
    hello += h2::frame(h2::SETTINGS, 0, 0, setting(0x2, 0) + setting(0x4, kOurWindow)); // no push; windows
    hello += h2::frame(h2::WINDOW_UPDATE, 0, 0, h2::u32(kOurWindow - 65535));
    write_all(hello);
    if (!pump_until([this] { return settings_received_; }, deadline))
        throw HttpError(closed_ ? "the server closed the h2c connection before its SETTINGS"
                                : "no SETTINGS from the server in time");
}

RawH2Connection::~RawH2Connection() { close(); }

void RawH2Connection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_ = true;
}

void RawH2Connection::write_all(std::string_view bytes) {
    sent_.append(bytes);
    if (fd_ < 0 || closed_) return; // the server is gone: what is lost is lost
    try {
        send_on(fd_, bytes, Clock::now() + std::chrono::seconds(10));
    } catch (const HttpError&) {
        closed_ = true; // reset by the server; reading tells the rest
    }
}

void RawH2Connection::send_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                                 std::string_view payload) {
    write_all(h2::frame(type, flags, stream, payload));
}

void RawH2Connection::send_raw(std::string_view bytes) { write_all(bytes); }

void RawH2Connection::skip_stream_ids_to(std::uint32_t id) {
    for (; next_id_ < id; next_id_ += 2) {
        streams_[next_id_].id = next_id_;
        send_windows_[next_id_] = peer_initial_window_;
    }
}

void RawH2Connection::send_rst(std::uint32_t stream, std::uint32_t code) {
    send_frame(h2::RST_STREAM, 0, stream, h2::u32(code));
}

std::uint32_t RawH2Connection::open_raw(const HeaderList& fields, bool end_stream) {
    const std::uint32_t id = next_id_;
    next_id_ += 2;
    streams_[id].id = id;
    send_windows_[id] = peer_initial_window_;
    const std::string block = hpack_encode(fields);
    // Split into HEADERS + CONTINUATION frames of at most the peer's frame size.
    std::size_t off = 0;
    bool first = true;
    do {
        const std::size_t n = std::min(block.size() - off, peer_max_frame_);
        const bool last = off + n == block.size();
        std::uint8_t flags = last ? h2::END_HEADERS : 0;
        if (first && end_stream) flags |= h2::END_STREAM;
        send_frame(first ? h2::HEADERS : h2::CONTINUATION, flags, id, std::string_view(block).substr(off, n));
        off += n;
        first = false;
    } while (off < block.size());
    return id;
}

std::uint32_t RawH2Connection::open(const std::string& method, const std::string& path, const HeaderList& extra,
                                    bool end_stream) {
    HeaderList fields = {{":method", method},
                         {":scheme", "http"},
                         {":path", path},
                         {":authority", "127.0.0.1:" + std::to_string(port_)}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    return open_raw(fields, end_stream);
}

void RawH2Connection::send_data(std::uint32_t stream, std::string_view data, bool end_stream,
                                Clock::time_point deadline) {
    do {
        std::int64_t window = std::min(conn_send_window_, send_windows_[stream]);
        if (!data.empty() && window <= 0) {
            const bool opened = pump_until(
                [&] { return std::min(conn_send_window_, send_windows_[stream]) > 0 || finished(stream); }, deadline);
            if (!opened) throw HttpError("the server's flow-control window stayed closed");
            if (finished(stream)) return; // refused or reset meanwhile: nothing more to send
            continue;
        }
        const std::size_t n = std::min<std::size_t>(
            {data.size(), static_cast<std::size_t>(std::max<std::int64_t>(window, 0)), peer_max_frame_});
        const bool last = n == data.size();
        send_frame(h2::DATA, last && end_stream ? h2::END_STREAM : 0, stream, data.substr(0, n));
        conn_send_window_ -= static_cast<std::int64_t>(n);
        send_windows_[stream] -= static_cast<std::int64_t>(n);
        data.remove_prefix(n);
    } while (!data.empty() && !closed_);
}

bool RawH2Connection::read_some(Clock::time_point deadline) {
    if (closed_) return true;
    if (!wait_readable(fd_, deadline)) return false;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            in_.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        closed_ = true; // EOF or reset
        return true;
    }
}

bool RawH2Connection::pump_until(const std::function<bool()>& done, Clock::time_point deadline) {
    for (;;) {
        handle_frames();
        if (done()) return true;
        if (closed_) return done();
        if (!read_some(deadline)) return done();
    }
}

bool RawH2Connection::finished(std::uint32_t stream) const {
    auto it = streams_.find(stream);
    if (it != streams_.end() && (it->second.end_stream || it->second.reset)) return true;
    return closed_ || (goaway_ && stream > goaway_last_stream_);
}

bool RawH2Connection::wait_finished(const std::vector<std::uint32_t>& ids, Clock::time_point deadline) {
    return pump_until([&] { return std::all_of(ids.begin(), ids.end(), [&](auto id) { return finished(id); }); },
                      deadline);
}

bool RawH2Connection::ping(Clock::time_point deadline) {
    const std::uint64_t want = ++pings_sent_;
    std::string payload = h2::u32(0x70696e67) + h2::u32(static_cast<std::uint32_t>(want));
    send_frame(h2::PING, 0, 0, payload);
    return pump_until([&] { return pings_acked_ >= want; }, deadline) && pings_acked_ >= want;
}

const H2Stream& RawH2Connection::stream(std::uint32_t id) const {
    static const H2Stream none;
    auto it = streams_.find(id);
    return it == streams_.end() ? none : it->second;
}

void RawH2Connection::violation(std::string what) { violations_.push_back(std::move(what)); }

void RawH2Connection::handle_frames() {
    while (in_.size() >= 9) {
        const std::size_t len = static_cast<std::size_t>(static_cast<std::uint8_t>(in_[0])) << 16 |
                                static_cast<std::size_t>(static_cast<std::uint8_t>(in_[1])) << 8 |
                                static_cast<std::uint8_t>(in_[2]);
        if (len > 16384) {
            // We never raise SETTINGS_MAX_FRAME_SIZE.
            violation("a frame of " + std::to_string(len) + " bytes, over our SETTINGS_MAX_FRAME_SIZE");
            close();
            return;
        }
        if (in_.size() < 9 + len) return;
        const auto type = static_cast<std::uint8_t>(in_[3]);
        const auto flags = static_cast<std::uint8_t>(in_[4]);
        const std::uint32_t stream = read_u32(std::string_view(in_).substr(5, 4)) & 0x7fffffffu;
        const std::string payload = in_.substr(9, len);
        in_.erase(0, 9 + len);
        if (block_stream_ && type != h2::CONTINUATION) {
            violation("frame type " + std::to_string(type) + " in the middle of a header block");
            block_stream_ = 0;
        }
        handle(type, flags, stream, payload);
    }
}

void RawH2Connection::handle(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view p) {
    auto known = [&](const char* what) -> H2Stream* {
        auto it = streams_.find(stream);
        if (stream == 0 || it == streams_.end()) {
            violation(std::string(what) + " on stream " + std::to_string(stream) + ", which we never opened");
            return nullptr;
        }
        return &it->second;
    };
    // Strips padding (and the priority fields of HEADERS); false if malformed.
    auto unpad = [&](std::string_view& body, bool priority) {
        std::size_t pad = 0;
        if (flags & h2::PADDED) {
            if (body.empty()) return false;
            pad = static_cast<std::uint8_t>(body[0]);
            body.remove_prefix(1);
        }
        if (priority) {
            if (body.size() < 5) return false;
            body.remove_prefix(5);
        }
        if (pad > body.size()) return false;
        body.remove_suffix(pad);
        return true;
    };
    switch (type) {
    case h2::DATA: {
        H2Stream* s = known("DATA");
        std::string_view body = p;
        if (!unpad(body, false)) return violation("DATA with bad padding");
        if (!s) return;
        if (s->end_stream) return violation("DATA after END_STREAM on stream " + std::to_string(stream));
        if (s->status == 0) violation("DATA before a final response HEADERS on stream " + std::to_string(stream));
        s->body.append(body);
        if (flags & h2::END_STREAM) s->end_stream = true;
        return;
    }
    case h2::HEADERS: {
        H2Stream* s = known("HEADERS");
        std::string_view body = p;
        if (!unpad(body, flags & h2::PRIORITY_FLAG)) return violation("HEADERS with bad padding");
        (void)s; // decoded even on an unknown stream: the HPACK state must follow every block
        block_.assign(body);
        block_end_stream_ = flags & h2::END_STREAM;
        if (flags & h2::END_HEADERS)
            header_block_done(stream, block_end_stream_);
        else
            block_stream_ = stream;
        return;
    }
    case h2::CONTINUATION:
        if (!block_stream_ || stream != block_stream_) return violation("CONTINUATION without a header block");
        block_.append(p);
        if (flags & h2::END_HEADERS) {
            block_stream_ = 0;
            header_block_done(stream, block_end_stream_);
        }
        return;
    case h2::RST_STREAM:
        if (p.size() != 4) return violation("RST_STREAM of " + std::to_string(p.size()) + " bytes");
        if (H2Stream* s = known("RST_STREAM")) {
            s->reset = true;
            s->reset_code = read_u32(p);
        }
        return;
    case h2::SETTINGS:
        if (stream != 0 || p.size() % 6 != 0) return violation("malformed SETTINGS");
        if (flags & h2::ACK) return;
        for (std::size_t i = 0; i < p.size(); i += 6) {
            const auto id =
                static_cast<std::uint16_t>(static_cast<std::uint8_t>(p[i]) << 8 | static_cast<std::uint8_t>(p[i + 1]));
            const std::uint32_t v = read_u32(p.substr(i + 2, 4));
            if (id == 0x4) {
                for (auto& [sid, w] : send_windows_) w += static_cast<std::int64_t>(v) - peer_initial_window_;
                peer_initial_window_ = v;
            } else if (id == 0x5) {
                peer_max_frame_ = std::clamp<std::size_t>(v, 16384, 16777215);
            }
        }
        settings_received_ = true;
        send_frame(h2::SETTINGS, h2::ACK, 0, {});
        return;
    case h2::PING:
        if (stream != 0 || p.size() != 8) return violation("malformed PING");
        if (flags & h2::ACK)
            ++pings_acked_;
        else
            send_frame(h2::PING, h2::ACK, 0, p);
        return;
    case h2::GOAWAY:
        if (stream != 0 || p.size() < 8) return violation("malformed GOAWAY");
        goaway_ = true;
        goaway_last_stream_ = read_u32(p) & 0x7fffffffu;
        goaway_code_ = read_u32(p.substr(4));
        return;
    case h2::WINDOW_UPDATE: {
        if (p.size() != 4) return violation("malformed WINDOW_UPDATE");
        const std::uint32_t inc = read_u32(p) & 0x7fffffffu;
        if (stream == 0)
            conn_send_window_ += inc;
        else
            send_windows_[stream] += inc;
        return;
    }
    case h2::PUSH_PROMISE: return violation("PUSH_PROMISE although we disabled push");
    default: return; // PRIORITY and unknown types: ignored
    }
}

void RawH2Connection::header_block_done(std::uint32_t stream, bool end_stream) {
    H2Stream& s = streams_[stream];
    HeaderList fields;
    try {
        fields = decoder_.decode(block_);
    } catch (const HpackError& e) {
        violation(std::string("undecodable header block on stream ") + std::to_string(stream) + ": " + e.what());
        close(); // the decoder's state is lost: nothing after this can be read
        return;
    }
    int status = 0;
    for (const auto& [n, v] : fields)
        if (n == ":status") status = (v.size() == 3 && std::all_of(v.begin(), v.end(), ::isdigit)) ? std::stoi(v) : -1;
    if (s.status != 0) {
        if (status != 0) violation(":status in trailers of stream " + std::to_string(stream));
        if (!end_stream) violation("trailers without END_STREAM on stream " + std::to_string(stream));
        s.trailers = std::move(fields);
    } else if (status < 100 || status > 599) {
        violation("response HEADERS without a valid :status on stream " + std::to_string(stream));
    } else if (status < 200) {
        s.interim.push_back(status);
        if (end_stream) violation("a 1xx response with END_STREAM on stream " + std::to_string(stream));
    } else {
        s.status = status;
        s.headers = std::move(fields);
    }
    if (end_stream) s.end_stream = true;
}

} // namespace pympm_test
