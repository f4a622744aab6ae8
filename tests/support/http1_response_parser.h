// A strict parser of the bytes an HTTP/1.x server sent on one connection,
// for tests that send malformed or pipelined requests and must tell a
// well-formed answer (CRLF lines, a valid status line and header fields,
// framing by Content-Length, chunked coding or the end of the connection)
// from garbage, a truncated response, or responses out of step with the
// requests. Unlike HttpConnection::read_response it never blocks: it parses
// what has arrived so far.
#pragma once

#include "http_client.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace pympm_test {

struct WireResponse {
    std::string version; // "HTTP/1.1"
    int status = 0;
    std::string reason;
    Headers headers;
    std::string body; // de-chunked
    bool chunked = false;
    bool close_delimited = false; // no Content-Length, not chunked: ends with the connection
    std::size_t begin = 0;        // offsets of the response in the stream
    std::size_t end = 0;
    bool interim() const { return status >= 100 && status < 200; }
    // The server announced it closes the connection after this response.
    bool closes() const;
};

enum class WireParse {
    complete,   // one response, pos moved past it
    incomplete, // more bytes are needed (at EOF: the response was cut short)
    malformed,  // not HTTP: the error says what and where
};

struct WireParseResult {
    WireParse state = WireParse::incomplete;
    WireResponse response; // complete: the response; incomplete: what was parsed of it
    std::string error;
};

// Parses the response that starts at `pos` of `wire` (every byte received so
// far). `head_request`: the response to a HEAD has no body. `at_eof`: the
// server closed the connection after the last byte of `wire`, which ends a
// close-delimited body.
WireParseResult parse_http1_response(std::string_view wire, std::size_t& pos, bool head_request, bool at_eof);

// `bytes` as a C string literal body (\r, \n, \xNN...), cut at `max` bytes
// with a note of the full size: for messages and reproducers.
std::string c_escape(std::string_view bytes, std::size_t max = std::string::npos);

} // namespace pympm_test
