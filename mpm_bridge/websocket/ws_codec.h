// The WebSocket framing of RFC 6455 on the server's side, pure: bytes from
// the client in (any split, down to one byte per feed()), events out through
// a Sink, and the headers of server frames (unmasked) into the caller's
// buffer. No I/O, no Python, no clock: the caller answers pings, echoes the
// close and sends what fails (fail_code(), fail_reason()). One thread.
//
// What it enforces, as websockets 10.4 does (the differential test compares):
// client frames masked; RSV2/RSV3 clear, RSV1 only on the first frame of a
// data message and only with permessage-deflate; opcodes 0-2 and 8-10; no
// orphan continuation and no new data message inside one; control frames
// FIN and at most 125 bytes, allowed between fragments; a 64-bit length
// with its MSB clear (non-minimal lengths accepted): else 1002. Close
// payloads: empty (1005), or a code in {1000-1003, 1007-1014} or
// 3000-4999 and a UTF-8 reason: else 1002 (a 1-byte payload too), 1007 for
// the reason. Text: UTF-8 checked as bytes arrive (after inflate): 1007.
// Size: a data message above WsLimits::max_message fails 1009, on the
// declared frame length before any payload is read, or on inflated bytes.
// A compressed stream zlib refuses: 1002.
#pragma once

#include "websocket/ws_deflate.h"
#include "websocket/ws_utf8.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pympm {

enum class WsOp : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// Close codes this module sends or reports (RFC 6455 §7.4.1).
namespace ws_close {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005; // received Close without a code; never sent
inline constexpr std::uint16_t abnormal = 1006;  // the connection dropped; never sent
inline constexpr std::uint16_t invalid_data = 1007;
inline constexpr std::uint16_t policy = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
} // namespace ws_close

// A code a peer may put in a Close frame: {1000-1003, 1007-1014} or
// 3000-4999 (websockets' EXTERNAL_CLOSE_CODES plus the private range). The
// app's websocket.close is checked against the same set.
bool ws_close_code_is_valid(std::uint16_t code);

struct WsLimits {
    std::uint64_t max_message = 16 * 1024 * 1024; // bytes of one data message, after inflate
};

// The longest Close reason that fits a control frame (125 - 2).
inline constexpr std::size_t kWsMaxCloseReason = 123;
inline constexpr std::size_t kWsMaxControlPayload = 125;
inline constexpr std::size_t kWsMaxHeader = 10; // a server frame's header (no mask)

// A server frame ready to write: head then payload (the payload may view the
// codec's deflate buffer: write it before the next encode()).
struct WsFrame {
    char head[kWsMaxHeader];
    std::size_t head_len = 0;
    std::string_view payload;
    std::string_view header() const { return {head, head_len}; }
};

class WsCodec {
public:
    // What a fed frame produces. Called from inside feed(); the views are
    // valid only during the call. After close() the codec ignores the rest.
    struct Sink {
        virtual ~Sink() = default;
        virtual void message(bool text, std::string&& data) = 0; // whole, inflated, valid UTF-8 if text
        virtual void ping(std::string_view payload) = 0;         // answer with a Pong of this payload
        virtual void pong(std::string_view payload) = 0;
        virtual void close(std::uint16_t code, std::string_view reason) = 0; // 1005: no code
    };

    // `deflate`: permessage-deflate was agreed (RSV1 allowed, messages
    // compressed by encode()).
    explicit WsCodec(WsLimits limits, std::optional<DeflateParams> deflate = std::nullopt);
    ~WsCodec();
    WsCodec(const WsCodec&) = delete;
    WsCodec& operator=(const WsCodec&) = delete;

    // Consumes all `len` bytes. False when the client broke the protocol:
    // fail_code() (1002, 1007 or 1009) and fail_reason() say how; the
    // connection must close with that code and feed() is not to be called
    // again (it keeps returning false). Events of frames before the fault
    // have been delivered. True after a Close frame too: later bytes are
    // ignored (close_received()).
    bool feed(const char* data, std::size_t len, Sink& sink);
    bool failed() const { return fail_code_ != 0; }
    std::uint16_t fail_code() const { return fail_code_; }
    // Short ASCII text for the log and the Close frame's reason (<= 123 bytes).
    const std::string& fail_reason() const { return fail_reason_; }
    bool close_received() const { return close_received_; }
    bool deflate_enabled() const { return deflate_ != nullptr; }
    // Bytes of an unfinished data message buffered so far (backpressure).
    std::size_t buffered() const { return message_.size(); }

    // The header of a server frame (FIN set unless `fin` is false, no mask)
    // into `out`; returns its length (2, 4 or 10).
    static std::size_t header(char (&out)[kWsMaxHeader], WsOp op, std::uint64_t len, bool rsv1 = false,
                              bool fin = true);
    // A data message as one frame, compressed (RSV1) when permessage-deflate
    // was agreed, or a control frame as is (payload <= 125 bytes).
    WsFrame encode(WsOp op, std::string_view payload);
    // Compresses a message payload (deflate_enabled() only): valid until the
    // next compress()/encode().
    std::string_view compress(std::string_view payload);
    // A whole Close frame: empty for ws_close::no_status, else the code and
    // the reason (cut to 123 bytes, at a UTF-8 boundary).
    static std::string close_frame(std::uint16_t code, std::string_view reason = {});

private:
    enum class State : std::uint8_t { head, length, payload, closed, failed };
    bool fail(std::uint16_t code, std::string reason);
    bool begin_frame(Sink& sink);
    bool payload_part(const char* data, std::size_t len, Sink& sink);
    bool inflate_part(std::string_view part, bool last);
    bool end_frame(Sink& sink);
    bool control_frame(Sink& sink);

    WsLimits limits_;
    std::unique_ptr<PerMessageDeflate> deflate_;
    State state_ = State::head;
    // The frame being read.
    unsigned char head_[14] = {};
    std::size_t head_have_ = 0;
    std::size_t head_need_ = 2;
    bool fin_ = false;
    bool rsv1_ = false;
    WsOp op_ = WsOp::continuation;
    std::uint64_t remaining_ = 0;
    unsigned char mask_[4] = {};
    std::size_t mask_pos_ = 0;
    // The data message being assembled.
    bool in_message_ = false;
    bool message_text_ = false;
    bool message_compressed_ = false;
    std::string message_;
    std::string control_; // a control frame's payload (<= 125)
    std::string scratch_; // unmasked compressed bytes
    Utf8Validator utf8_;
    bool close_received_ = false;
    std::uint16_t fail_code_ = 0;
    std::string fail_reason_;
};

} // namespace pympm
