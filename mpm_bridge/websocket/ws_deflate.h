// permessage-deflate (RFC 7692) on top of zlib: what was agreed in the
// handshake (DeflateParams), and the two raw-deflate streams of one
// connection. Inflate appends the 00 00 ff ff tail at the message's end and
// stops past a caller's output cap, so a deflate bomb costs at most cap + 1
// bytes. Deflate uses raw window bits min(12, server_bits) and memLevel 5
// (websockets' enable_server_permessage_deflate); zlib streams are allocated
// on the first message that needs them. Pure: no I/O, one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pympm {

// What the server's answer to the offer agreed (ws_handshake.h:
// negotiate_deflate).
struct DeflateParams {
    bool server_no_takeover = false; // we reset our deflater after every message
    bool client_no_takeover = false; // the client resets; we may reset our inflater
    int server_bits = 15;            // LZ77 window we may use when we compress (9..15)
    int client_bits = 15;            // window the client compresses with (8..15): our inflate window
};

// The window bits and memLevel we compress with, whatever the client allows.
inline constexpr int kDeflateMaxServerBits = 12;
inline constexpr int kDeflateMemLevel = 5;

class PerMessageDeflate {
public:
    explicit PerMessageDeflate(const DeflateParams& params);
    ~PerMessageDeflate();
    PerMessageDeflate(const PerMessageDeflate&) = delete;
    PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;

    enum class Inflated { ok, too_big, corrupt };
    // Inflates the next part of a compressed message (payload bytes already
    // unmasked), appending to `out`. `last`: this part ends the message (the
    // FIN frame); the 00 00 ff ff tail is then added. `too_big` once `out`
    // would exceed `max_out` bytes (inflation stops at max_out + 1);
    // `corrupt` when zlib refuses the stream. After either, the inflater is
    // unusable (the connection fails).
    Inflated inflate(std::string_view part, bool last, std::string& out, std::uint64_t max_out);

    // Compresses one whole message; the 00 00 ff ff tail is stripped (RFC
    // 7692 §7.2.1). The view stays valid until the next deflate() call.
    // Throws std::bad_alloc if zlib cannot allocate its stream.
    std::string_view deflate(std::string_view message);

    const DeflateParams& params() const { return params_; }

private:
    struct Streams;
    DeflateParams params_;
    std::unique_ptr<Streams> z_;
};

} // namespace pympm
