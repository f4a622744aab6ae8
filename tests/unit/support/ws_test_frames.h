// Client-side WebSocket frames for the codec tests: masked (or not, to
// break the rules on purpose) and fed to WsCodec whole or split; a Sink that
// records what the codec reports as text.
#pragma once

#include "websocket/ws_codec.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace pympm::test {

struct ClientFrame {
    WsOp op = WsOp::text;
    std::string payload;
    bool fin = true;
    unsigned rsv = 0; // bits 4..6 of the first byte: 0x40 RSV1, 0x20 RSV2, 0x10 RSV3
    bool masked = true;
    std::uint32_t mask = 0x37fa213d; // RFC 6455 §5.7's key
    int length_form = 0;             // 0: minimal; 2 or 8: force that extended length
    unsigned raw_op = 0xFF;          // not 0xFF: this opcode instead of op (reserved ones)
};

inline std::string client_frame(const ClientFrame& f) {
    std::string out;
    const unsigned op = f.raw_op != 0xFF ? f.raw_op : static_cast<unsigned>(f.op);
    out += static_cast<char>((f.fin ? 0x80 : 0) | f.rsv | op);
    const std::uint64_t n = f.payload.size();
    const unsigned m = f.masked ? 0x80 : 0;
    if (f.length_form == 0 && n < 126) {
        out += static_cast<char>(m | n);
    } else if (f.length_form == 2 || (f.length_form == 0 && n <= 0xFFFF)) {
        out += static_cast<char>(m | 126);
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(n & 0xFF);
    } else {
        out += static_cast<char>(m | 127);
        for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
    }
    if (!f.masked) return out + f.payload;
    const unsigned char key[4] = {static_cast<unsigned char>(f.mask >> 24), static_cast<unsigned char>(f.mask >> 16),
                                  static_cast<unsigned char>(f.mask >> 8), static_cast<unsigned char>(f.mask)};
    out.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < f.payload.size(); ++i)
        out += static_cast<char>(static_cast<unsigned char>(f.payload[i]) ^ key[i % 4]);
    return out;
}

inline std::string frame(WsOp op, std::string payload, bool fin = true, unsigned rsv = 0) {
    ClientFrame f;
    f.op = op;
    f.payload = std::move(payload);
    f.fin = fin;
    f.rsv = rsv;
    return client_frame(f);
}

inline std::string bytes(std::initializer_list<int> list) {
    std::string s;
    for (int b : list) s += static_cast<char>(b);
    return s;
}

// Every event as one line: "text:Hello", "binary:<n bytes>", "ping:x",
// "pong:x", "close:1000:bye".
struct RecordingSink : WsCodec::Sink {
    std::vector<std::string> events;
    std::vector<std::string> messages; // data messages' bytes, in order
    void message(bool text, std::string&& data) override {
        events.push_back(text ? "text:" + data : "binary:" + std::to_string(data.size()));
        messages.push_back(std::move(data));
    }
    void ping(std::string_view p) override { events.push_back("ping:" + std::string(p)); }
    void pong(std::string_view p) override { events.push_back("pong:" + std::string(p)); }
    void close(std::uint16_t code, std::string_view reason) override {
        events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
    }
};

struct FeedResult {
    std::vector<std::string> events;
    std::vector<std::string> messages;
    bool ok = true;
    std::uint16_t code = 0;
    std::string reason;
    bool operator==(const FeedResult& o) const {
        return events == o.events && messages == o.messages && ok == o.ok && code == o.code && reason == o.reason;
    }
};

// Feeds `wire` in parts of `step` bytes (0: all at once), stopping at the
// first failure as the caller of the codec does.
inline FeedResult feed(const std::string& wire, std::size_t step, WsLimits limits = {},
                       std::optional<DeflateParams> deflate = std::nullopt) {
    WsCodec codec(limits, deflate);
    RecordingSink sink;
    FeedResult r;
    const std::size_t n = step == 0 ? wire.size() : step;
    for (std::size_t at = 0; at < wire.size() && r.ok; at += n)
        r.ok = codec.feed(wire.data() + at, std::min(n, wire.size() - at), sink);
    if (wire.empty()) r.ok = codec.feed(wire.data(), 0, sink);
    r.events = std::move(sink.events);
    r.messages = std::move(sink.messages);
    r.code = codec.fail_code();
    r.reason = codec.fail_reason();
    return r;
}

} // namespace pympm::test
