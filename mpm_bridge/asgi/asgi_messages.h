// What an ASGI app sends for an HTTP request (ASGI HTTP 2.3), checked and
// turned into C++ values before anything reaches the request thread: the
// message's type, http.response.start's status and headers (through the
// checks every response head passes, request/response_head.h), and
// http.response.body's bytes and more_body. A message that breaks a rule
// raises in the app: each function returns false (nullopt) with a Python
// exception set whose text says what is wrong. GIL held; no I/O.
#pragma once

#include "asgi/asgi_context.h"
#include "request/request_io.h"

#include <cstdint>
#include <optional>

namespace pympm {

enum class AsgiSendType { response_start, response_body };

// A dict with a 'type' this server takes for an HTTP request, or nullopt.
std::optional<AsgiSendType> asgi_send_type(const AsgiNames& names, PyObject* message);

struct AsgiResponseStart {
    ResponseHead head;
    std::optional<std::uint64_t> content_length; // declared by a header
};
bool parse_response_start(const AsgiNames& names, PyObject* message, AsgiResponseStart& out);

struct AsgiResponseBody {
    PyRef body; // bytes (b'' when absent)
    bool more_body = false;
};
bool parse_response_body(const AsgiNames& names, PyObject* message, AsgiResponseBody& out);

} // namespace pympm
