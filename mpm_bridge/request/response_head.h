// The checks every response head passes before a byte of it is sent,
// whatever interface produced it (WSGI's start_response, ASGI's
// http.response.start): the status, and each header (an HTTP token for a
// name, no CR/LF/control characters in a value, no hop-by-hop header, a
// Content-Length httpd can send).
#pragma once

#include "request/request_io.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pympm {

// Why a status code is refused, or nullptr.
const char* status_code_problem(int status);

// Adds one header to `head` (and its Content-Length to `content_length`) if
// it passes; otherwise returns why not, in a sentence to raise in the app
// ("invalid response header name 'X Y': ...").
std::optional<std::string> add_response_header(ResponseHead& head, std::optional<std::uint64_t>& content_length,
                                               std::string name, std::string value, const char* interface_name);

} // namespace pympm
