#include "websocket/ws_codec.h"

#include <algorithm>
#include <stdexcept>

namespace pympm {

bool ws_close_code_is_valid(std::uint16_t code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

namespace {

bool is_control(WsOp op) { return (static_cast<unsigned>(op) & 0x8) != 0; }

bool is_known(unsigned op) { return op <= 0x2 || (op >= 0x8 && op <= 0xA); }

// Bytes reserved up front for a message: the declared length when small, so
// a client cannot make us allocate a limit's worth by declaring it.
constexpr std::size_t kMaxReserve = 64 * 1024;

} // namespace

WsCodec::WsCodec(WsLimits limits, std::optional<DeflateParams> deflate) : limits_(limits) {
    if (deflate) deflate_ = std::make_unique<PerMessageDeflate>(*deflate);
}

WsCodec::~WsCodec() = default;

bool WsCodec::fail(std::uint16_t code, std::string reason) {
    state_ = State::failed;
    fail_code_ = code;
    fail_reason_ = std::move(reason);
    message_.clear();
    message_.shrink_to_fit();
    return false;
}

bool WsCodec::feed(const char* data, std::size_t len, Sink& sink) {
    while (true) {
        switch (state_) {
        case State::failed: return false;
        case State::closed: return true; // after a Close nothing more is read
        case State::head:
        case State::length: {
            if (len == 0) return true;
            const std::size_t take = std::min(len, head_need_ - head_have_);
            std::copy(data, data + take, head_ + head_have_);
            head_have_ += take;
            data += take;
            len -= take;
            if (head_have_ < head_need_) return true;
            if (state_ == State::head) {
                if (!begin_frame(sink)) return false;
                if (head_have_ < head_need_) continue; // extended length and mask follow
            }
            // The whole header is here: length, then the mask key.
            const unsigned len7 = head_[1] & 0x7F;
            std::size_t at = 2;
            if (len7 == 126) {
                remaining_ = std::uint64_t(head_[2]) << 8 | head_[3];
                at = 4;
            } else if (len7 == 127) {
                if (head_[2] & 0x80)
                    return fail(ws_close::protocol_error, "frame length with its most significant bit set");
                remaining_ = 0;
                for (int i = 0; i < 8; ++i) remaining_ = remaining_ << 8 | head_[2 + i];
                at = 10;
            } else {
                remaining_ = len7;
            }
            std::copy(head_ + at, head_ + at + 4, mask_);
            mask_pos_ = 0;
            if (!is_control(op_)) {
                // The limit is decided on the declared length, before any
                // payload is read (for a compressed frame: its wire size).
                const std::uint64_t have = message_.size();
                if (have > limits_.max_message || remaining_ > limits_.max_message - have)
                    return fail(ws_close::too_big, "message too big");
                if (message_.empty() && message_.capacity() < kMaxReserve)
                    message_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, kMaxReserve)));
            }
            state_ = State::payload;
            if (remaining_ == 0 && !end_frame(sink)) return false;
            continue;
        }
        case State::payload: {
            if (len == 0) return true;
            const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(len, remaining_));
            remaining_ -= take;
            if (!payload_part(data, take, sink)) return false;
            data += take;
            len -= take;
            if (remaining_ == 0 && !end_frame(sink)) return false;
            continue;
        }
        }
    }
}

// The first two bytes of a frame: every rule that needs no more.
bool WsCodec::begin_frame(Sink&) {
    const unsigned char b0 = head_[0], b1 = head_[1];
    fin_ = (b0 & 0x80) != 0;
    rsv1_ = (b0 & 0x40) != 0;
    const unsigned op = b0 & 0x0F;
    if (b0 & 0x30) return fail(ws_close::protocol_error, "reserved bits must be 0");
    if (!is_known(op)) return fail(ws_close::protocol_error, "invalid opcode " + std::to_string(op));
    op_ = static_cast<WsOp>(op);
    if (!(b1 & 0x80)) return fail(ws_close::protocol_error, "incorrect masking");
    const unsigned len7 = b1 & 0x7F;
    if (is_control(op_)) {
        if (!fin_) return fail(ws_close::protocol_error, "fragmented control frame");
        if (len7 > kWsMaxControlPayload) return fail(ws_close::protocol_error, "control frame too long");
        if (rsv1_) return fail(ws_close::protocol_error, "reserved bits must be 0");
    } else if (op_ == WsOp::continuation) {
        if (!in_message_) return fail(ws_close::protocol_error, "unexpected continuation frame");
        if (rsv1_) return fail(ws_close::protocol_error, "reserved bits must be 0");
    } else {
        if (in_message_) return fail(ws_close::protocol_error, "incomplete fragmented message");
        if (rsv1_ && !deflate_) return fail(ws_close::protocol_error, "reserved bits must be 0");
        in_message_ = true;
        message_text_ = op_ == WsOp::text;
        message_compressed_ = rsv1_;
        message_.clear();
        utf8_.reset();
    }
    head_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    state_ = State::length;
    if (is_control(op_)) control_.clear();
    return true;
}

bool WsCodec::payload_part(const char* data, std::size_t len, Sink&) {
    // Unmasks into the place the bytes go.
    const auto unmask_into = [&](std::string& dst) {
        const std::size_t at = dst.size();
        dst.resize(at + len);
        char* out = dst.data() + at;
        std::size_t m = mask_pos_;
        for (std::size_t i = 0; i < len; ++i) {
            out[i] = static_cast<char>(static_cast<unsigned char>(data[i]) ^ mask_[m]);
            m = (m + 1) & 3;
        }
        mask_pos_ = m;
        return at;
    };
    if (is_control(op_)) {
        unmask_into(control_);
        return true;
    }
    if (!message_compressed_) {
        const std::size_t at = unmask_into(message_);
        if (message_text_ &&
            !utf8_.feed(reinterpret_cast<const unsigned char*>(message_.data()) + at, message_.size() - at))
            return fail(ws_close::invalid_data, "invalid UTF-8 in a text message");
        return true;
    }
    scratch_.clear();
    unmask_into(scratch_);
    return inflate_part(scratch_, false);
}

bool WsCodec::inflate_part(std::string_view part, bool last) {
    const std::size_t at = message_.size();
    const PerMessageDeflate::Inflated r = deflate_->inflate(part, last, message_, limits_.max_message);
    // The bytes inflated before a fault are checked first: the outcome must
    // not depend on how the input was split.
    if (message_text_ &&
        !utf8_.feed(reinterpret_cast<const unsigned char*>(message_.data()) + at, message_.size() - at))
        return fail(ws_close::invalid_data, "invalid UTF-8 in a text message");
    switch (r) {
    case PerMessageDeflate::Inflated::ok: return true;
    case PerMessageDeflate::Inflated::too_big: return fail(ws_close::too_big, "message too big");
    case PerMessageDeflate::Inflated::corrupt: break;
    }
    return fail(ws_close::protocol_error, "decompression failed");
}

bool WsCodec::end_frame(Sink& sink) {
    state_ = State::head;
    head_have_ = 0;
    head_need_ = 2;
    if (is_control(op_)) return control_frame(sink);
    if (!fin_) return true;
    if (message_compressed_ && !inflate_part({}, true)) return false;
    if (message_text_ && !utf8_.complete()) return fail(ws_close::invalid_data, "invalid UTF-8 in a text message");
    in_message_ = false;
    std::string done;
    done.swap(message_);
    sink.message(message_text_, std::move(done));
    return true;
}

bool WsCodec::control_frame(Sink& sink) {
    switch (op_) {
    case WsOp::ping: sink.ping(control_); return true;
    case WsOp::pong: sink.pong(control_); return true;
    default: break;
    }
    // Close.
    std::uint16_t code = ws_close::no_status;
    std::string_view reason;
    if (control_.size() == 1) return fail(ws_close::protocol_error, "close frame too short");
    if (control_.size() >= 2) {
        code = static_cast<std::uint16_t>(static_cast<unsigned char>(control_[0]) << 8 |
                                          static_cast<unsigned char>(control_[1]));
        if (!ws_close_code_is_valid(code))
            return fail(ws_close::protocol_error, "invalid status code " + std::to_string(code));
        reason = std::string_view(control_).substr(2);
        Utf8Validator v;
        if (!v.feed(reason) || !v.complete()) return fail(ws_close::invalid_data, "invalid UTF-8 in the close reason");
    }
    close_received_ = true;
    state_ = State::closed;
    sink.close(code, reason);
    return true;
}

std::size_t WsCodec::header(char (&out)[kWsMaxHeader], WsOp op, std::uint64_t len, bool rsv1, bool fin) {
    out[0] = static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<unsigned>(op));
    if (len < 126) {
        out[1] = static_cast<char>(len);
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = static_cast<char>(len >> 8);
        out[3] = static_cast<char>(len & 0xFF);
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((len >> (56 - 8 * i)) & 0xFF);
    return 10;
}

std::string_view WsCodec::compress(std::string_view payload) {
    if (!deflate_) throw std::logic_error("WsCodec::compress without permessage-deflate");
    return deflate_->deflate(payload);
}

WsFrame WsCodec::encode(WsOp op, std::string_view payload) {
    WsFrame f;
    bool rsv1 = false;
    if (is_control(op)) {
        if (payload.size() > kWsMaxControlPayload) throw std::length_error("control frame payload over 125 bytes");
    } else if (deflate_) {
        payload = deflate_->deflate(payload);
        rsv1 = true;
    }
    f.payload = payload;
    f.head_len = header(f.head, op, payload.size(), rsv1);
    return f;
}

std::string WsCodec::close_frame(std::uint16_t code, std::string_view reason) {
    char head[kWsMaxHeader];
    if (code == ws_close::no_status) return {head, header(head, WsOp::close, 0)};
    if (reason.size() > kWsMaxCloseReason) {
        // Cut at a character boundary: never before a continuation byte.
        std::size_t cut = kWsMaxCloseReason;
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
        reason = reason.substr(0, cut);
    }
    std::string frame(head, header(head, WsOp::close, reason.size() + 2));
    frame += static_cast<char>(code >> 8);
    frame += static_cast<char>(code & 0xFF);
    frame.append(reason);
    return frame;
}

} // namespace pympm
