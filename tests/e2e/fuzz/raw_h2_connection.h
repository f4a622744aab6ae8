// The request fuzzer's HTTP/2 client, built from hand-made frames because it
// must send what a library refuses to (tests that need only well-formed h2
// traffic use H2Session, over libnghttp2: h2_session.h). Cleartext with prior
// knowledge (h2c, RFC 9113 section 3.3) on 127.0.0.1. It sends the
// connection preface and SETTINGS, requests as HEADERS (HPACK literals, see
// hpack.h) and DATA with send-side flow control, and RST_STREAM,
// WINDOW_UPDATE, PING or any raw frame or bytes for hostile tests. It reads
// frames (answering SETTINGS and PING, decoding header blocks) until a
// condition holds, the connection ends or a deadline passes: it never
// blocks without a deadline.
//
// What the server does wrong at the HTTP/2 level (a malformed frame, an
// undecodable header block, a frame on a stream we never opened) is
// recorded in violations(), not thrown: a test decides what is a failure.
#pragma once

#include "h2_stream.h"
#include "hpack.h"
#include "http_client.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pympm_test {

namespace h2 {
enum FrameType : std::uint8_t {
    DATA = 0x0,
    HEADERS = 0x1,
    PRIORITY = 0x2,
    RST_STREAM = 0x3,
    SETTINGS = 0x4,
    PUSH_PROMISE = 0x5,
    PING = 0x6,
    GOAWAY = 0x7,
    WINDOW_UPDATE = 0x8,
    CONTINUATION = 0x9,
};
enum Flag : std::uint8_t {
    END_STREAM = 0x1,
    ACK = 0x1,
    END_HEADERS = 0x4,
    PADDED = 0x8,
    PRIORITY_FLAG = 0x20,
};
enum ErrorCode : std::uint32_t {
    NO_ERROR = 0x0,
    PROTOCOL_ERROR = 0x1,
    INTERNAL_ERROR = 0x2,
    FLOW_CONTROL_ERROR = 0x3,
    STREAM_CLOSED = 0x5,
    FRAME_SIZE_ERROR = 0x6,
    REFUSED_STREAM = 0x7,
    CANCEL = 0x8,
    COMPRESSION_ERROR = 0x9,
};
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// One frame on the wire: 9-byte header, then the payload.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload);
std::string u32(std::uint32_t v); // big-endian
} // namespace h2

class RawH2Connection {
public:
    // Connects, sends the preface and our SETTINGS (no push, large windows)
    // and waits for the server's SETTINGS. Throws HttpError on failure.
    RawH2Connection(std::uint16_t port, Clock::time_point deadline);
    ~RawH2Connection();
    RawH2Connection(const RawH2Connection&) = delete;
    RawH2Connection& operator=(const RawH2Connection&) = delete;

    // A request's HEADERS on a new stream: :method, :scheme http, :path,
    // :authority, then `extra` (lower-case names). Returns the stream id.
    std::uint32_t open(const std::string& method, const std::string& path, const HeaderList& extra, bool end_stream);
    // A header block as given (pseudo-headers included), for malformed requests.
    std::uint32_t open_raw(const HeaderList& fields, bool end_stream);
    // DATA within the server's flow-control windows (waits for WINDOW_UPDATE
    // until `deadline`, then throws HttpError).
    void send_data(std::uint32_t stream, std::string_view data, bool end_stream, Clock::time_point deadline);
    void send_rst(std::uint32_t stream, std::uint32_t code);
    void send_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload);
    void send_raw(std::string_view bytes);
    std::uint32_t next_stream_id() const { return next_id_; }
    // Streams below `id` were opened by raw bytes: frames on them are
    // expected, and open() continues after them.
    void skip_stream_ids_to(std::uint32_t id);
    std::uint16_t local_port() const { return local_port_; }

    // Reads and handles frames until `done()` is true (checked before each
    // read), the connection closes, or `deadline`: true iff done() held.
    bool pump_until(const std::function<bool()>& done, Clock::time_point deadline);
    // The stream can get nothing more: ended, reset, refused by GOAWAY, or
    // the connection is gone.
    bool finished(std::uint32_t stream) const;
    // Waits for every given stream to finish; false on deadline.
    bool wait_finished(const std::vector<std::uint32_t>& streams, Clock::time_point deadline);
    // PING and wait for its ACK: false if the connection ended or the deadline passed.
    bool ping(Clock::time_point deadline);

    const H2Stream& stream(std::uint32_t id) const;
    bool closed() const { return closed_; }
    bool goaway() const { return goaway_; }
    std::uint32_t goaway_code() const { return goaway_code_; }
    std::uint32_t goaway_last_stream() const { return goaway_last_stream_; }
    const std::vector<std::string>& violations() const { return violations_; }
    // Every byte we sent, for reproducers.
    const std::string& sent() const { return sent_; }
    void close();

private:
    void write_all(std::string_view bytes);
    bool read_some(Clock::time_point deadline); // false on deadline
    void handle_frames();
    void handle(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload);
    void header_block_done(std::uint32_t stream, bool end_stream);
    void violation(std::string what);

    int fd_ = -1;
    std::uint16_t port_;
    std::uint16_t local_port_ = 0;
    std::string in_;
    std::string sent_;
    std::map<std::uint32_t, H2Stream> streams_;
    std::map<std::uint32_t, std::int64_t> send_windows_;
    std::int64_t conn_send_window_ = 65535;
    std::int64_t peer_initial_window_ = 65535;
    std::size_t peer_max_frame_ = 16384;
    std::uint32_t next_id_ = 1;
    HpackDecoder decoder_;
    // A header block being received (HEADERS then CONTINUATION).
    std::uint32_t block_stream_ = 0;
    bool block_end_stream_ = false;
    std::string block_;
    bool settings_received_ = false;
    std::uint64_t pings_acked_ = 0;
    std::uint64_t pings_sent_ = 0;
    bool closed_ = false;
    bool goaway_ = false;
    std::uint32_t goaway_code_ = 0;
    std::uint32_t goaway_last_stream_ = 0;
    std::vector<std::string> violations_;
};

} // namespace pympm_test
