// What an ASGI app sends on a WebSocket (ASGI WebSocket 2.4), checked and
// turned into C++ values on the loop thread before anything reaches the
// request thread. A message that breaks a rule raises in the app: each
// function returns false (nullopt) with a Python exception set. GIL held; no
// I/O.
#pragma once

#include "asgi/asgi_context.h"
#include "request/request_io.h"
#include "websocket/ws_names.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pympm {

enum class WsSendType { accept, send, close, http_start, http_body };

std::optional<WsSendType> ws_send_type(const AsgiNames& asgi, const WsNames& names, PyObject* message);

struct WsAccept {
    std::optional<std::string> subprotocol;
    HeaderList headers; // lower-cased names, as the app gave them
};
// `offered`: the client's subprotocols; the app must pick one of them.
bool parse_accept(const AsgiNames& asgi, const WsNames& names, PyObject* message,
                  const std::vector<std::string>& offered, WsAccept& out);

struct WsData {
    bool text = false;
    std::string data; // UTF-8 for text
};
bool parse_send(const WsNames& names, PyObject* message, WsData& out);

struct WsClose {
    int code = 1000;
    std::string reason; // UTF-8, at most 123 bytes
};
bool parse_close(const WsNames& names, PyObject* message, WsClose& out);

} // namespace pympm
