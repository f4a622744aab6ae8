// The WebSocket frame parser (RFC 6455) on the server's side: every frame is
// read the same whether it arrives whole or one byte at a time, and every
// rule a client can break fails with the close code RFC 6455 (and websockets
// 10.4, which the differential test compares with) asks for.
#include "websocket/ws_codec.h"
#include "websocket/ws_utf8.h"
#include "ws_test_frames.h"

#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

using namespace pympm;
using namespace pympm::test;

namespace {

// The same result whole and byte by byte (and in 3-byte parts).
FeedResult feed_all_ways(const std::string& wire, WsLimits limits = {},
                         std::optional<DeflateParams> deflate = std::nullopt) {
    FeedResult whole = feed(wire, 0, limits, deflate);
    FeedResult bytewise = feed(wire, 1, limits, deflate);
    FeedResult threes = feed(wire, 3, limits, deflate);
    BOOST_TEST((whole == bytewise));
    BOOST_TEST((whole == threes));
    return whole;
}

void expect_failure(const std::string& wire, std::uint16_t code, const std::string& what,
                    std::optional<DeflateParams> deflate = std::nullopt) {
    BOOST_TEST_CONTEXT(what) {
        const FeedResult r = feed_all_ways(wire, {}, deflate);
        BOOST_TEST(!r.ok);
        BOOST_TEST(r.code == code);
        BOOST_TEST(!r.reason.empty());
        BOOST_TEST(r.reason.size() <= kWsMaxCloseReason);
    }
}

std::string hello_masked() { return bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}); }

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xFF);
    p += reason;
    return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_codec)

// RFC 6455 §5.7, as a server receives them: the masked ones are read, the
// unmasked ones (a server's frames) are refused from a client.
BOOST_AUTO_TEST_CASE(the_rfc_examples_read_the_same_whole_and_byte_by_byte) {
    FeedResult r = feed_all_ways(hello_masked());
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == std::vector<std::string>{"text:Hello"});

    // Masked pong "Hello".
    r = feed_all_ways(bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    BOOST_TEST(r.events == std::vector<std::string>{"pong:Hello"});

    // The fragmented "Hel" + "lo", masked.
    r = feed_all_ways(frame(WsOp::text, "Hel", false) + frame(WsOp::continuation, "lo"));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == std::vector<std::string>{"text:Hello"});

    // 256 bytes (16-bit length) and 64 KiB (64-bit length) of binary.
    r = feed_all_ways(frame(WsOp::binary, std::string(256, 'x')) + frame(WsOp::binary, std::string(65536, 'y')));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == (std::vector<std::string>{"binary:256", "binary:65536"}));
    BOOST_TEST(r.messages[0] == std::string(256, 'x'));
    BOOST_TEST(r.messages[1] == std::string(65536, 'y'));

    for (const std::string& unmasked : {bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
                                        bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}),
                                        bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})})
        expect_failure(unmasked, ws_close::protocol_error, "unmasked");
}

BOOST_AUTO_TEST_CASE(server_frame_headers_match_the_rfc_examples) {
    char h[kWsMaxHeader];
    BOOST_TEST(std::string(h, WsCodec::header(h, WsOp::text, 5)) == bytes({0x81, 0x05}));
    BOOST_TEST(std::string(h, WsCodec::header(h, WsOp::ping, 5)) == bytes({0x89, 0x05}));
    BOOST_TEST(std::string(h, WsCodec::header(h, WsOp::binary, 256)) == bytes({0x82, 0x7E, 0x01, 0x00}));
    BOOST_TEST(std::string(h, WsCodec::header(h, WsOp::binary, 65536)) ==
               bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0}));
    BOOST_TEST(std::string(h, WsCodec::header(h, WsOp::text, 3, false, false)) == bytes({0x01, 0x03}));
    BOOST_TEST(std::string(h, WsCodec::header(h, WsOp::text, 7, true)) == bytes({0xC1, 0x07}));
}

// The length encodings at their edges, written by header() and read back.
BOOST_AUTO_TEST_CASE(lengths_at_125_126_65535_and_65536_round_trip) {
    for (std::uint64_t n : {0, 1, 125, 126, 127, 65535, 65536, 70000}) {
        char h[kWsMaxHeader];
        const std::size_t len = WsCodec::header(h, WsOp::binary, n);
        BOOST_TEST(len == (n < 126 ? 2u : n <= 0xFFFF ? 4u : 10u));
        // The same header, masked, as a client would send it.
        ClientFrame f;
        f.op = WsOp::binary;
        f.payload = std::string(n, 'z');
        const std::string wire = client_frame(f);
        BOOST_TEST(wire.size() == len + 4 + n);
        BOOST_TEST((static_cast<unsigned char>(wire[1]) & 0x7F) == (static_cast<unsigned char>(h[1]) & 0x7F));
        const FeedResult r = feed(wire, n > 1000 ? 0 : 1);
        BOOST_TEST(r.ok);
        BOOST_TEST(r.messages.size() == 1u);
        BOOST_TEST(r.messages.at(0).size() == n);
    }
}

// websockets accepts a length written longer than needed; so do we.
BOOST_AUTO_TEST_CASE(non_minimal_lengths_are_accepted) {
    for (int form : {2, 8}) {
        ClientFrame f;
        f.payload = "Hi";
        f.length_form = form;
        const FeedResult r = feed_all_ways(client_frame(f));
        BOOST_TEST(r.ok);
        BOOST_TEST(r.events == std::vector<std::string>{"text:Hi"});
    }
}

BOOST_AUTO_TEST_CASE(control_frames_between_fragments_are_delivered_first) {
    const std::string wire = frame(WsOp::text, "Hel", false) + frame(WsOp::ping, "p1") +
                             frame(WsOp::continuation, "l", false) + frame(WsOp::pong, "p2") +
                             frame(WsOp::continuation, "o") + frame(WsOp::binary, "");
    const FeedResult r = feed_all_ways(wire);
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == (std::vector<std::string>{"ping:p1", "pong:p2", "text:Hello", "binary:0"}));
}

BOOST_AUTO_TEST_CASE(a_close_is_reported_and_what_follows_it_ignored) {
    FeedResult r = feed_all_ways(frame(WsOp::close, close_payload(1000, "bye")) + frame(WsOp::text, "late") + "junk");
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == std::vector<std::string>{"close:1000:bye"});
    r = feed_all_ways(frame(WsOp::close, ""));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == std::vector<std::string>{"close:1005:"});
    // Between fragments too.
    r = feed_all_ways(frame(WsOp::text, "a", false) + frame(WsOp::close, close_payload(4999)));
    BOOST_TEST(r.events == std::vector<std::string>{"close:4999:"});
}

BOOST_AUTO_TEST_CASE(close_codes_websockets_accepts_are_accepted) {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999}) {
        BOOST_TEST_CONTEXT(code) {
            const FeedResult r = feed_all_ways(frame(WsOp::close, close_payload(static_cast<std::uint16_t>(code))));
            BOOST_TEST(r.ok);
            BOOST_TEST(r.events == std::vector<std::string>{"close:" + std::to_string(code) + ":"});
            BOOST_TEST(ws_close_code_is_valid(static_cast<std::uint16_t>(code)));
        }
    }
}

BOOST_AUTO_TEST_CASE(every_protocol_violation_fails_with_its_code) {
    using ws_close::protocol_error;
    ClientFrame f;
    f.masked = false;
    f.payload = "x";
    expect_failure(client_frame(f), protocol_error, "unmasked text");
    expect_failure(frame(WsOp::text, "x", true, 0x20), protocol_error, "RSV2");
    expect_failure(frame(WsOp::text, "x", true, 0x10), protocol_error, "RSV3");
    expect_failure(frame(WsOp::text, "x", true, 0x40), protocol_error, "RSV1 without deflate");
    for (unsigned op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        ClientFrame r;
        r.raw_op = op;
        r.payload = "x";
        expect_failure(client_frame(r), protocol_error, "opcode " + std::to_string(op));
    }
    expect_failure(frame(WsOp::continuation, "x"), protocol_error, "orphan continuation");
    expect_failure(frame(WsOp::text, "a", false) + frame(WsOp::binary, "b"), protocol_error, "data inside a message");
    expect_failure(frame(WsOp::text, "a", false) + frame(WsOp::text, "b"), protocol_error, "text inside a message");
    expect_failure(frame(WsOp::ping, std::string(126, 'p')), protocol_error, "126-byte ping");
    expect_failure(frame(WsOp::close, close_payload(1000, std::string(124, 'r'))), protocol_error, "126-byte close");
    expect_failure(frame(WsOp::ping, "p", false), protocol_error, "fragmented ping");
    expect_failure(frame(WsOp::close, "", false), protocol_error, "fragmented close");
    expect_failure(frame(WsOp::pong, "p", true, 0x40), protocol_error, "RSV1 on a pong");
    // A 64-bit length with its most significant bit set, decided before any
    // payload.
    expect_failure(bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}), protocol_error, "MSB length");
    expect_failure(frame(WsOp::close, "\x03"), protocol_error, "1-byte close");
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
        expect_failure(frame(WsOp::close, close_payload(static_cast<std::uint16_t>(code))), protocol_error,
                       "close code " + std::to_string(code));
        BOOST_TEST(!ws_close_code_is_valid(static_cast<std::uint16_t>(code)));
    }
    expect_failure(frame(WsOp::close, close_payload(1000, "\xC3")), ws_close::invalid_data, "close reason UTF-8");
}

// Events of frames before the fault are delivered; nothing after it.
BOOST_AUTO_TEST_CASE(a_failure_keeps_what_came_before_and_stops) {
    WsCodec codec({});
    RecordingSink sink;
    const std::string wire = frame(WsOp::text, "ok") + frame(WsOp::continuation, "x") + frame(WsOp::text, "never");
    BOOST_TEST(!codec.feed(wire.data(), wire.size(), sink));
    BOOST_TEST(sink.events == std::vector<std::string>{"text:ok"});
    BOOST_TEST(codec.failed());
    const std::string more = frame(WsOp::text, "after");
    BOOST_TEST(!codec.feed(more.data(), more.size(), sink));
    BOOST_TEST(sink.events.size() == 1u);
}

// Each invalid sequence, split at every byte between two fragments, fails
// 1007; each valid one, split the same way, is read whole.
BOOST_AUTO_TEST_CASE(utf8_is_checked_across_fragments_split_at_every_byte) {
    for (const std::string bad : {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE0\x80\x80", "\xF0\x80\x80\x80",
                                  "\xF5\x80\x80\x80", "\x80", "\xC2\x41"}) {
        const std::string text = "a" + bad + "z";
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            const std::string wire =
                frame(WsOp::text, text.substr(0, cut), false) + frame(WsOp::continuation, text.substr(cut));
            expect_failure(wire, ws_close::invalid_data, "split at " + std::to_string(cut));
        }
    }
    for (const std::string good :
         {"\xE2\x82\xAC", "\xF0\x9D\x84\x9E", "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF", "\xC2\x80", "\xEF\xBF\xBF"}) {
        const std::string text = "a" + good + "z";
        for (std::size_t cut = 0; cut <= text.size(); ++cut) {
            const FeedResult r = feed_all_ways(frame(WsOp::text, text.substr(0, cut), false) +
                                               frame(WsOp::continuation, text.substr(cut)));
            BOOST_TEST(r.ok);
            BOOST_TEST(r.events == std::vector<std::string>{"text:" + text});
        }
    }
    // Binary messages are not text.
    BOOST_TEST(feed_all_ways(frame(WsOp::binary, "\xC0\x80")).ok);
}

BOOST_AUTO_TEST_CASE(utf8_truncated_at_the_final_fragment_fails_1007) {
    expect_failure(frame(WsOp::text, "a\xE2\x82"), ws_close::invalid_data, "truncated, one frame");
    expect_failure(frame(WsOp::text, "a\xF0", false) + frame(WsOp::continuation, "\x9D\x84"), ws_close::invalid_data,
                   "truncated, two frames");
}

// Fail fast (RFC 6455 §8.1): the first bad byte fails the message, before
// its end has arrived.
BOOST_AUTO_TEST_CASE(invalid_utf8_fails_before_the_message_ends) {
    WsCodec codec({});
    RecordingSink sink;
    ClientFrame f;
    f.payload = "ab\xFF" + std::string(1000, 'c');
    const std::string wire = client_frame(f);
    // Header (2 + 2 + 4) and three payload bytes.
    BOOST_TEST(!codec.feed(wire.data(), 8 + 3, sink));
    BOOST_TEST(codec.fail_code() == ws_close::invalid_data);
}

// The limit is decided on the declared length, before any payload byte.
BOOST_AUTO_TEST_CASE(the_size_limit_is_decided_before_the_payload) {
    const WsLimits limits{10};
    BOOST_TEST(feed_all_ways(frame(WsOp::text, std::string(10, 'a')), limits).ok);
    FeedResult r = feed_all_ways(frame(WsOp::text, std::string(11, 'a')), limits);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.code == ws_close::too_big);
    // Across fragments: 6 + 4 fits, 6 + 5 does not.
    BOOST_TEST(feed_all_ways(frame(WsOp::binary, "123456", false) + frame(WsOp::continuation, "7890"), limits).ok);
    r = feed_all_ways(frame(WsOp::binary, "123456", false) + frame(WsOp::continuation, "78901"), limits);
    BOOST_TEST(r.code == ws_close::too_big);

    // The header of a 2^62-byte frame alone fails: no payload needed.
    WsCodec codec(WsLimits{16 * 1024 * 1024});
    RecordingSink sink;
    const std::string head = bytes({0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4});
    BOOST_TEST(!codec.feed(head.data(), head.size(), sink));
    BOOST_TEST(codec.fail_code() == ws_close::too_big);
    // Control frames are bounded by 125 bytes, not by the limit.
    BOOST_TEST(feed_all_ways(frame(WsOp::ping, std::string(100, 'p')), limits).ok);
}

BOOST_AUTO_TEST_CASE(close_frames_carry_the_code_and_a_cut_reason) {
    BOOST_TEST(WsCodec::close_frame(1000, "bye") == bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
    BOOST_TEST(WsCodec::close_frame(ws_close::no_status) == bytes({0x88, 0x00}));
    // 122 ASCII bytes then a 2-byte character: 124 bytes, cut before it.
    const std::string reason = std::string(122, 'r') + "\xC3\xA9";
    const std::string f = WsCodec::close_frame(1001, reason);
    BOOST_TEST(f.size() == 2u + 2 + 122);
    BOOST_TEST(f.substr(4) == std::string(122, 'r'));
    BOOST_TEST(f.size() - 2 <= kWsMaxControlPayload);
}

BOOST_AUTO_TEST_CASE(encode_writes_unmasked_frames) {
    WsCodec codec({});
    WsFrame f = codec.encode(WsOp::text, "Hello");
    BOOST_TEST(std::string(f.header()) + std::string(f.payload) == bytes({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}));
    f = codec.encode(WsOp::pong, "p");
    BOOST_TEST(std::string(f.header()) == bytes({0x8A, 0x01}));
    BOOST_CHECK_THROW(codec.encode(WsOp::ping, std::string(126, 'x')), std::length_error);
    BOOST_CHECK_THROW(codec.compress("x"), std::logic_error);
}

// The validator against a plain decoder written from RFC 3629's table, on
// random byte strings rich in edge bytes, whole and split at random.
BOOST_AUTO_TEST_CASE(utf8_validator_agrees_with_a_reference_decoder) {
    const auto reference = [](const std::string& s) {
        std::size_t i = 0;
        while (i < s.size()) {
            const unsigned char b = static_cast<unsigned char>(s[i]);
            int n;
            std::uint32_t cp, min;
            if (b < 0x80) {
                ++i;
                continue;
            } else if ((b & 0xE0) == 0xC0) {
                n = 1, cp = b & 0x1F, min = 0x80;
            } else if ((b & 0xF0) == 0xE0) {
                n = 2, cp = b & 0x0F, min = 0x800;
            } else if ((b & 0xF8) == 0xF0) {
                n = 3, cp = b & 0x07, min = 0x10000;
            } else {
                return false;
            }
            if (i + n >= s.size()) return false;
            for (int k = 1; k <= n; ++k) {
                const unsigned char c = static_cast<unsigned char>(s[i + k]);
                if ((c & 0xC0) != 0x80) return false;
                cp = cp << 6 | (c & 0x3F);
            }
            if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
            i += n + 1;
        }
        return true;
    };
    std::mt19937 rng(20261203);
    const unsigned char edges[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                   0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
    int valid = 0;
    for (int iter = 0; iter < 200000; ++iter) {
        std::string s(rng() % 9, '\0');
        for (char& c : s) c = static_cast<char>(edges[rng() % sizeof edges]);
        const bool want = reference(s);
        valid += want;
        Utf8Validator v;
        const std::size_t cut = s.empty() ? 0 : rng() % (s.size() + 1);
        const bool got = v.feed(std::string_view(s).substr(0, cut)) & v.feed(std::string_view(s).substr(cut));
        BOOST_TEST_REQUIRE((got && v.complete()) == want, "bytes of iteration " << iter);
    }
    BOOST_TEST(valid > 1000); // both outcomes were exercised
}

// Frame soup from a seeded generator: messages of every size class, split
// into random fragments with pings and pongs between them, fed in random
// parts down to one byte. Every message comes back intact, in order.
BOOST_AUTO_TEST_CASE(ten_thousand_seeded_random_messages_round_trip) {
    std::mt19937_64 rng(0x5eed2026);
    const std::size_t sizes[] = {0, 1, 2, 125, 126, 127, 65535, 65536};
    std::string wire;
    std::vector<std::string> want, want_messages;
    int messages = 0;
    const auto flush = [&] {
        WsCodec codec({});
        RecordingSink sink;
        std::size_t at = 0;
        while (at < wire.size()) {
            std::size_t n = rng() % 4 == 0 ? 1 : 1 + rng() % 3000;
            n = std::min(n, wire.size() - at);
            BOOST_TEST_REQUIRE(codec.feed(wire.data() + at, n, sink));
            at += n;
        }
        BOOST_TEST_REQUIRE(sink.events.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i)
            BOOST_TEST_REQUIRE(sink.events[i] == want[i],
                               "event " << i << " got " << sink.events[i].substr(0, 60) << " (" << sink.events[i].size()
                                        << ") want " << want[i].substr(0, 60) << " (" << want[i].size() << ")");
        BOOST_TEST_REQUIRE(sink.messages == want_messages);
        wire.clear();
        want.clear();
        want_messages.clear();
    };
    for (; messages < 10000; ++messages) {
        std::size_t n = rng() % 20 == 0 ? sizes[rng() % 8] : rng() % 300;
        const bool text = rng() % 2 == 0;
        std::string payload(n, '\0');
        for (char& c : payload) c = text ? static_cast<char>('a' + rng() % 26) : static_cast<char>(rng());
        if (text && n >= 3 && rng() % 3 == 0) payload.replace(n / 2 - 1, 3, "\xE2\x82\xAC"); // a character to split
        std::size_t at = 0;
        bool first = true;
        do {
            const std::size_t part = rng() % 3 == 0 ? n - at : std::min<std::size_t>(n - at, rng() % 200);
            ClientFrame f;
            f.op = first ? (text ? WsOp::text : WsOp::binary) : WsOp::continuation;
            f.payload = payload.substr(at, part);
            at += part;
            f.fin = at == n;
            f.mask = static_cast<std::uint32_t>(rng());
            wire += client_frame(f);
            first = false;
            if (f.fin) {
                want.push_back(text ? "text:" + payload : "binary:" + std::to_string(n));
                want_messages.push_back(payload);
            }
            if (rng() % 8 == 0) {
                const std::string p(rng() % 126, 'p');
                const bool ping = rng() % 2 == 0;
                wire += frame(ping ? WsOp::ping : WsOp::pong, p);
                want.push_back((ping ? "ping:" : "pong:") + p);
            }
        } while (at < n);
        if (wire.size() > 256 * 1024) flush();
    }
    flush();
    BOOST_TEST(messages == 10000);
}

// Garbage, and frames with random bits flipped, with and without deflate:
// the codec never reads out of bounds (ASan) and decides the same whatever
// the split.
BOOST_AUTO_TEST_CASE(random_bytes_end_the_same_way_whatever_the_split) {
    std::mt19937_64 rng(6455);
    int failed = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::string wire;
        while (wire.size() < 200) {
            ClientFrame f;
            f.raw_op = static_cast<unsigned>(rng() % 16);
            f.payload = std::string(rng() % 140, '\0');
            for (char& c : f.payload) c = static_cast<char>(rng() % 4 ? 'a' + rng() % 26 : rng());
            f.fin = rng() % 4 != 0;
            f.rsv = rng() % 6 == 0 ? 0x40 : 0;
            f.masked = rng() % 30 != 0;
            wire += client_frame(f);
        }
        for (int flips = static_cast<int>(rng() % 4); flips > 0; --flips)
            wire[rng() % wire.size()] ^= static_cast<char>(1u << (rng() % 8));
        std::optional<DeflateParams> deflate;
        if (iter % 2) deflate = DeflateParams{};
        const FeedResult whole = feed(wire, 0, WsLimits{4096}, deflate);
        const FeedResult bytewise = feed(wire, 1, WsLimits{4096}, deflate);
        const FeedResult odd = feed(wire, 1 + rng() % 50, WsLimits{4096}, deflate);
        BOOST_TEST_REQUIRE((whole == bytewise),
                           "iteration " << iter << ": " << whole.reason << " / " << bytewise.reason);
        BOOST_TEST_REQUIRE((whole == odd), "iteration " << iter);
        failed += !whole.ok;
        if (!whole.ok) {
            const auto c = whole.code;
            BOOST_TEST((c == ws_close::protocol_error || c == ws_close::invalid_data || c == ws_close::too_big));
        }
    }
    BOOST_TEST(failed > 100); // the garbage did reach the error paths
}

BOOST_AUTO_TEST_SUITE_END()
