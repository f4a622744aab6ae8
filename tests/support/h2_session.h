// The tests' HTTP/2 client for well-formed traffic, over libnghttp2 (the
// library curl and nghttp2's tools use): cleartext with prior knowledge
// (h2c) on 127.0.0.1. It opens requests as streams, sends their bodies,
// and records each stream's response and the server's GOAWAY. It never
// blocks without a deadline. (The request fuzzer sends hand-made frames
// instead: tests/e2e/fuzz/raw_h2_connection.h.)
#pragma once

#include "h2_stream.h"
#include "http_client.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

struct nghttp2_session;

namespace pympm_test {

class H2Session {
public:
    // Connects, sends the preface and our SETTINGS (no push, large windows)
    // and waits for the server's SETTINGS. Throws HttpError on failure.
    H2Session(std::uint16_t port, Clock::time_point deadline);
    ~H2Session();
    H2Session(const H2Session&) = delete;
    H2Session& operator=(const H2Session&) = delete;

    // A request on a new stream: :method, :scheme http, :path, :authority,
    // then `extra` (lower-case names), then `body` (none when empty and
    // `end_stream`). Returns the stream id; throws HttpError if the session
    // cannot open one (after a GOAWAY, say).
    std::uint32_t open(const std::string& method, const std::string& path, const HeaderList& extra = {},
                       const std::string& body = {});

    // Reads and handles frames until `done()` is true (checked first), the
    // connection ends, or `deadline`: true iff done() held.
    bool pump_until(const std::function<bool()>& done, Clock::time_point deadline);
    // The stream can get nothing more: ended, reset, refused by GOAWAY, or
    // the connection is gone.
    bool finished(std::uint32_t stream) const;
    bool wait_finished(const std::vector<std::uint32_t>& streams, Clock::time_point deadline);

    const H2Stream& stream(std::uint32_t id) const;
    bool closed() const { return closed_; }
    bool goaway() const { return goaway_; }
    std::uint32_t goaway_code() const { return goaway_code_; }
    std::uint32_t goaway_last_stream() const { return goaway_last_stream_; }
    // What nghttp2 found wrong in the server's frames (a connection error).
    const std::string& protocol_error() const { return protocol_error_; }
    void close();

    // nghttp2's callbacks (C functions) land here.
    struct Callbacks;

private:
    void flush(Clock::time_point deadline);

    int fd_ = -1;
    std::uint16_t port_;
    nghttp2_session* session_ = nullptr;
    std::map<std::uint32_t, H2Stream> streams_;
    std::map<std::uint32_t, std::string> bodies_; // request bodies not yet sent, by stream
    // What a stream's current header block is: the final response's fields,
    // a 1xx response (only its :status is kept), or trailers.
    enum class Block { response, interim, trailers };
    std::map<std::uint32_t, Block> blocks_;
    bool settings_received_ = false;
    bool closed_ = false;
    bool goaway_ = false;
    std::uint32_t goaway_code_ = 0;
    std::uint32_t goaway_last_stream_ = 0;
    std::string protocol_error_;
};

} // namespace pympm_test
