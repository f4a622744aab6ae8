#include "websocket/ws_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <new>

namespace pympm {

namespace {

// RFC 7692 §7.2.2: the tail every compressed message lost (an empty stored
// block, what Z_SYNC_FLUSH ends with).
constexpr unsigned char kTail[4] = {0x00, 0x00, 0xff, 0xff};
// Output grows by at most this much per inflate() call.
constexpr std::size_t kInflateChunk = 16 * 1024;

} // namespace

struct PerMessageDeflate::Streams {
    z_stream in{};
    z_stream out{};
    bool in_ready = false;
    bool out_ready = false;
    bool in_broken = false;
    std::string buffer; // the last deflate() output

    ~Streams() {
        if (in_ready) inflateEnd(&in);
        if (out_ready) deflateEnd(&out);
    }
};

PerMessageDeflate::PerMessageDeflate(const DeflateParams& params) : params_(params), z_(new Streams) {}

PerMessageDeflate::~PerMessageDeflate() = default;

PerMessageDeflate::Inflated PerMessageDeflate::inflate(std::string_view part, bool last, std::string& out,
                                                       std::uint64_t max_out) {
    Streams& z = *z_;
    if (z.in_broken) return Inflated::corrupt;
    if (!z.in_ready) {
        // zlib's deflate silently widens a raw window of 8 to 9, so a zlib
        // client told 8 may still send 9-bit distances: inflate with >= 9.
        const int bits = std::clamp(params_.client_bits, 9, 15);
        if (inflateInit2(&z.in, -bits) != Z_OK) {
            z.in_broken = true;
            return Inflated::corrupt;
        }
        z.in_ready = true;
    }
    const auto run = [&](const unsigned char* data, std::size_t len) -> Inflated {
        z.in.next_in = const_cast<unsigned char*>(data);
        z.in.avail_in = static_cast<uInt>(len);
        for (;;) {
            if (out.size() > max_out) return Inflated::too_big;
            // Never more than max_out + 1 bytes in total: one byte past the
            // cap proves the message too big without inflating the rest.
            const std::uint64_t room = max_out - out.size() + 1;
            // Sized to the input, so a small message does not zero 16 KiB.
            const std::size_t want = std::clamp<std::size_t>(len * 4, 1024, kInflateChunk);
            const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(room, want));
            const std::size_t before = out.size();
            out.resize(before + chunk);
            z.in.next_out = reinterpret_cast<unsigned char*>(out.data() + before);
            z.in.avail_out = static_cast<uInt>(chunk);
            const int rc = ::inflate(&z.in, Z_SYNC_FLUSH);
            out.resize(before + chunk - z.in.avail_out);
            if (rc == Z_STREAM_END) {
                // A final block (BFINAL) ended the stream: what follows, if
                // anything, is a new one (the window is lost).
                inflateReset(&z.in);
                if (z.in.avail_in == 0) break;
                continue;
            }
            if (rc == Z_BUF_ERROR) break; // no progress possible: all input used
            if (rc != Z_OK) return Inflated::corrupt;
            if (z.in.avail_in == 0 && z.in.avail_out != 0) break;
        }
        return out.size() > max_out ? Inflated::too_big : Inflated::ok;
    };
    // The input's length fits in uInt: a frame part is at most what one
    // read returned.
    Inflated result = run(reinterpret_cast<const unsigned char*>(part.data()), part.size());
    if (result == Inflated::ok && last) {
        result = run(kTail, sizeof kTail);
        if (result == Inflated::ok && params_.client_no_takeover) inflateReset(&z.in);
    }
    if (result != Inflated::ok) z.in_broken = true;
    return result;
}

std::string_view PerMessageDeflate::deflate(std::string_view message) {
    Streams& z = *z_;
    if (!z.out_ready) {
        const int bits = std::clamp(params_.server_bits, 9, kDeflateMaxServerBits);
        if (deflateInit2(&z.out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, kDeflateMemLevel, Z_DEFAULT_STRATEGY) !=
            Z_OK)
            throw std::bad_alloc();
        z.out_ready = true;
    }
    z.buffer.resize(deflateBound(&z.out, static_cast<uLong>(message.size())) + 16);
    // avail_in is 32 bits: a bigger message goes in by parts.
    constexpr std::size_t kMaxIn = std::size_t(1) << 30;
    std::string_view rest = message;
    const auto refill = [&] {
        const std::size_t n = std::min(rest.size(), kMaxIn);
        z.out.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(rest.data()));
        z.out.avail_in = static_cast<uInt>(n);
        rest.remove_prefix(n);
    };
    refill();
    std::size_t produced = 0;
    // The input with Z_NO_FLUSH, then Z_SYNC_FLUSH on its own: zlib writes
    // nothing for a second Z_SYNC_FLUSH with no input between, and an empty
    // message must still be one empty stored block (00 before the tail).
    int flush = Z_NO_FLUSH;
    for (;;) {
        if (z.out.avail_in == 0 && !rest.empty()) refill();
        if (z.buffer.size() - produced < 64) z.buffer.resize(z.buffer.size() * 2);
        z.out.next_out = reinterpret_cast<unsigned char*>(z.buffer.data() + produced);
        z.out.avail_out = static_cast<uInt>(z.buffer.size() - produced);
        const std::size_t room = z.out.avail_out;
        const int rc = ::deflate(&z.out, flush);
        produced += room - z.out.avail_out;
        if (rc == Z_STREAM_ERROR) throw std::bad_alloc(); // cannot happen with a valid stream
        if (flush == Z_NO_FLUSH) {
            if (z.out.avail_in == 0 && rest.empty()) flush = Z_SYNC_FLUSH;
        } else if (z.out.avail_out != 0) {
            break; // the flush left room: it is complete
        }
    }
    if (produced >= 4 && std::equal(kTail, kTail + 4, z.buffer.data() + produced - 4,
                                    [](unsigned char a, char b) { return a == static_cast<unsigned char>(b); }))
        produced -= 4;
    if (params_.server_no_takeover) deflateReset(&z.out);
    return {z.buffer.data(), produced};
}

} // namespace pympm
