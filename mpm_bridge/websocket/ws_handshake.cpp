#include "websocket/ws_handshake.h"

#include "base/base64.h"
#include "base/sha1.h"
#include "request/http_validation.h"

#include <algorithm>

namespace pympm {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Splits on `sep` outside double quotes; calls f(trimmed part) for each
// part, empty ones included (callers skip them where the list rule allows).
template <typename F>
void split_outside_quotes(std::string_view s, char sep, F&& f) {
    bool quoted = false, escaped = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i < s.size()) {
            const char c = s[i];
            if (escaped) {
                escaped = false;
                continue;
            }
            if (quoted && c == '\\') {
                escaped = true;
                continue;
            }
            if (c == '"') quoted = !quoted;
            if (quoted || c != sep) continue;
        }
        f(trim(s.substr(start, i - start)));
        start = i + 1;
    }
}

bool has_token(std::string_view list, std::string_view token) {
    bool found = false;
    split_outside_quotes(list, ',', [&](std::string_view t) { found = found || iequals(t, token); });
    return found;
}

// "HTTP/1.1" or later (HTTP/2.0, HTTP/2, HTTP/3).
bool http11_or_later(std::string_view protocol, bool& http2) {
    if (protocol.substr(0, 5) != "HTTP/" || protocol.size() < 6) return false;
    const char major = protocol[5];
    if (major < '1' || major > '9') return false;
    http2 = major >= '2';
    if (major > '1') return true;
    return protocol.size() >= 8 && protocol[6] == '.' && protocol[7] >= '1' && protocol[7] <= '9';
}

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

} // namespace

int check_offer(const RequestLine& request, WsOffer& offer, std::string& why) {
    offer = WsOffer{};
    if (request.method != "GET") {
        why = "a WebSocket handshake must be a GET, not " + std::string(request.method);
        return 400;
    }
    if (!http11_or_later(request.protocol, offer.http2)) {
        why = "a WebSocket handshake needs HTTP/1.1 or later, not " + std::string(request.protocol);
        return 400;
    }
    bool upgrade = false, connection = false, version_seen = false, version_13 = false;
    int keys = 0;
    std::string versions;
    for (const auto& [name, value] : request.headers) {
        if (iequals(name, "upgrade")) {
            upgrade = upgrade || has_token(value, "websocket");
        } else if (iequals(name, "connection")) {
            connection = connection || has_token(value, "upgrade");
        } else if (iequals(name, "sec-websocket-key")) {
            ++keys;
            offer.key = std::string(trim(value));
        } else if (iequals(name, "sec-websocket-version")) {
            // Two lines are a list, and "13, 8" is not 13.
            version_13 = !version_seen && trim(value) == "13";
            version_seen = true;
            versions += versions.empty() ? "" : ", ";
            versions += value;
        } else if (iequals(name, "sec-websocket-protocol")) {
            bool bad = false;
            split_outside_quotes(value, ',', [&](std::string_view p) {
                if (p.empty()) return;
                if (!is_http_token(p)) bad = true;
                offer.subprotocols.emplace_back(p);
            });
            if (bad) {
                why = "invalid Sec-WebSocket-Protocol: " + std::string(value);
                return 400;
            }
        } else if (iequals(name, "sec-websocket-extensions")) {
            if (!offer.extensions.empty()) offer.extensions += ", ";
            offer.extensions += trim(value);
        }
    }
    if (!upgrade) {
        why = "no Upgrade: websocket";
        return 400;
    }
    // mod_http2's rewrite of an RFC 8441 CONNECT adds no Connection header.
    if (!connection && !offer.http2) {
        why = "no Connection: upgrade";
        return 400;
    }
    if (keys != 1) {
        why = keys == 0 ? "no Sec-WebSocket-Key" : "more than one Sec-WebSocket-Key";
        return 400;
    }
    const auto raw = base64_decode(offer.key);
    if (!raw || raw->size() != 16) {
        why = "Sec-WebSocket-Key is not the base64 of 16 bytes: " + offer.key.substr(0, 64);
        return 400;
    }
    if (!version_seen) {
        why = "no Sec-WebSocket-Version";
        return 400;
    }
    if (!version_13) {
        why = "unsupported Sec-WebSocket-Version: " + versions.substr(0, 64);
        return 426;
    }
    return 0;
}

std::string ws_accept_key(std::string_view key) {
    std::string text(key);
    text += kGuid;
    const auto digest = sha1(text);
    return base64_encode(digest.data(), digest.size());
}

namespace {

// A window-bits value: a decimal integer 8..15 without leading zeros,
// possibly quoted (RFC 7692 §7.1: token or quoted-string).
std::optional<int> window_bits(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
    return std::nullopt;
}

// One offer's parameters; nullopt declines it.
std::optional<std::pair<DeflateParams, std::string>> accept_offer(const std::vector<std::string_view>& params) {
    bool server_nt = false, client_nt = false;
    std::optional<int> server_bits, client_bits;
    bool client_bits_seen = false, server_bits_seen = false;
    for (std::string_view p : params) {
        std::string_view name = p, value;
        bool has_value = false;
        if (const auto eq = p.find('='); eq != std::string_view::npos) {
            name = trim(p.substr(0, eq));
            value = trim(p.substr(eq + 1));
            has_value = true;
        }
        if (iequals(name, "server_no_context_takeover")) {
            if (server_nt || has_value) return std::nullopt;
            server_nt = true;
        } else if (iequals(name, "client_no_context_takeover")) {
            if (client_nt || has_value) return std::nullopt;
            client_nt = true;
        } else if (iequals(name, "server_max_window_bits")) {
            if (server_bits_seen || !has_value) return std::nullopt;
            server_bits_seen = true;
            server_bits = window_bits(value);
            // zlib compresses with no window under 9 bits (8 becomes 9).
            if (!server_bits || *server_bits < 9) return std::nullopt;
        } else if (iequals(name, "client_max_window_bits")) {
            if (client_bits_seen) return std::nullopt;
            client_bits_seen = true;
            if (has_value) {
                client_bits = window_bits(value);
                if (!client_bits) return std::nullopt;
            }
        } else {
            return std::nullopt;
        }
    }
    DeflateParams agreed;
    agreed.server_no_takeover = server_nt;
    agreed.client_no_takeover = client_nt;
    agreed.server_bits = std::min(kDeflateMaxServerBits, server_bits.value_or(15));
    agreed.client_bits = client_bits_seen ? std::min(kDeflateMaxServerBits, client_bits.value_or(15)) : 15;
    std::string response = "permessage-deflate";
    if (server_nt) response += "; server_no_context_takeover";
    if (client_nt) response += "; client_no_context_takeover";
    // Telling the client our (smaller) window lets it inflate with less.
    response += "; server_max_window_bits=" + std::to_string(agreed.server_bits);
    if (client_bits_seen) response += "; client_max_window_bits=" + std::to_string(agreed.client_bits);
    return std::make_pair(agreed, std::move(response));
}

} // namespace

std::optional<std::pair<DeflateParams, std::string>> negotiate_deflate(std::string_view extensions, bool enabled) {
    if (!enabled) return std::nullopt;
    std::optional<std::pair<DeflateParams, std::string>> chosen;
    split_outside_quotes(extensions, ',', [&](std::string_view element) {
        if (chosen || element.empty()) return;
        std::vector<std::string_view> parts;
        split_outside_quotes(element, ';', [&](std::string_view part) { parts.push_back(part); });
        if (parts.empty() || !iequals(parts.front(), "permessage-deflate")) return;
        parts.erase(parts.begin());
        for (std::string_view part : parts)
            if (part.empty()) return; // "permessage-deflate;;x" is malformed
        chosen = accept_offer(parts);
    });
    return chosen;
}

} // namespace pympm
