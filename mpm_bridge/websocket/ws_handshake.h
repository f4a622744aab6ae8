// The opening handshake of RFC 6455 §4.2 on the server's side, pure: is this
// request a WebSocket offer we can accept (HTTP/1.1 Upgrade, or mod_http2's
// rewrite of an RFC 8441 CONNECT, which has no Connection header), the
// Sec-WebSocket-Accept answer, and the permessage-deflate negotiation of RFC
// 7692 §7. SHA-1 and base64 are our own (base/sha1.h, base/base64.h):
// mpm_bridge links neither OpenSSL nor APR.
#pragma once

#include "request/request_io.h"
#include "websocket/ws_deflate.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pympm {

struct WsOffer {
    std::string key;                       // Sec-WebSocket-Key, as sent (24 base64 characters)
    std::vector<std::string> subprotocols; // every Sec-WebSocket-Protocol line, split on commas, in order
    std::string extensions;                // every Sec-WebSocket-Extensions line, joined with ", "
    bool http2 = false;                    // an RFC 8441 stream (protocol HTTP/2)
};

// 0 when `request` is an acceptable WebSocket offer (then `offer` is
// filled); else the HTTP status to refuse it with, and `why` says why (for
// the log): 426 for a Sec-WebSocket-Version other than 13 (answer with
// `Sec-WebSocket-Version: 13`), 400 for the rest. Wants GET, HTTP/1.1 or
// later, an Upgrade token "websocket", a Connection token "upgrade" (HTTP/1.x
// only), one Sec-WebSocket-Key that is the base64 of 16 bytes, and valid
// subprotocol tokens. Header names are matched case-insensitively.
int check_offer(const RequestLine& request, WsOffer& offer, std::string& why);

// Sec-WebSocket-Accept: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string ws_accept_key(std::string_view key);

// The first acceptable permessage-deflate offer in a Sec-WebSocket-Extensions
// value (RFC 7692 §5, §7.1): the parameters agreed and the response's
// extension text (e.g. "permessage-deflate; client_max_window_bits=12").
// nullopt when `enabled` is false, nothing was offered, or every offer is
// declined: unknown or repeated parameters, bad values, or
// server_max_window_bits=8 (zlib cannot compress with a 256-byte window).
std::optional<std::pair<DeflateParams, std::string>> negotiate_deflate(std::string_view extensions, bool enabled);

} // namespace pympm
