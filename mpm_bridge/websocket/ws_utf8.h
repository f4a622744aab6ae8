// Incremental UTF-8 validation (RFC 3629) for WebSocket text messages: the
// bytes of one message arrive split across frames and reads, so the state
// survives between feed() calls, and it fails at the first byte that cannot
// start or continue a valid sequence (RFC 6455 §8.1: fail fast, close 1007).
// Overlong forms, surrogates (ED A0..BF) and code points above U+10FFFF are
// refused at their second byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pympm {

class Utf8Validator {
public:
    // False once the bytes seen so far cannot begin valid UTF-8; stays false
    // until reset().
    bool feed(const unsigned char* data, std::size_t len) {
        if (state_ == kReject) return false;
        std::uint8_t s = state_;
        for (std::size_t i = 0; i < len; ++i) {
            const unsigned char b = data[i];
            if (s == kAccept) {
                if (b < 0x80) continue;
                s = lead_state(b);
                if (s == kReject) break;
                continue;
            }
            // A continuation byte; the first one after E0/ED/F0/F4 has a
            // narrower range.
            unsigned char lo = 0x80, hi = 0xBF;
            switch (s) {
            case kAfterE0: lo = 0xA0; break;
            case kAfterED: hi = 0x9F; break;
            case kAfterF0: lo = 0x90; break;
            case kAfterF4: hi = 0x8F; break;
            default: break;
            }
            if (b < lo || b > hi) {
                s = kReject;
                break;
            }
            s = next_state(s);
        }
        state_ = s;
        return s != kReject;
    }
    bool feed(std::string_view s) { return feed(reinterpret_cast<const unsigned char*>(s.data()), s.size()); }
    // Every sequence begun is finished (and nothing was rejected).
    bool complete() const { return state_ == kAccept; }
    bool failed() const { return state_ == kReject; }
    void reset() { state_ = kAccept; }

private:
    enum : std::uint8_t { kAccept, kNeed1, kNeed2, kNeed3, kAfterE0, kAfterED, kAfterF0, kAfterF4, kReject };
    static std::uint8_t lead_state(unsigned char b) {
        if (b < 0xC2) return kReject; // a stray continuation, or C0/C1 (always overlong)
        if (b < 0xE0) return kNeed1;
        if (b == 0xE0) return kAfterE0;
        if (b == 0xED) return kAfterED;
        if (b < 0xF0) return kNeed2;
        if (b == 0xF0) return kAfterF0;
        if (b < 0xF4) return kNeed3;
        if (b == 0xF4) return kAfterF4;
        return kReject; // F5..FF
    }
    static std::uint8_t next_state(std::uint8_t s) {
        switch (s) {
        case kNeed1: return kAccept;
        case kNeed2: return kNeed1;
        case kNeed3: return kNeed2;
        case kAfterE0:
        case kAfterED: return kNeed1;
        case kAfterF0:
        case kAfterF4: return kNeed2;
        default: return kReject;
        }
    }
    std::uint8_t state_ = kAccept;
};

} // namespace pympm
