// permessage-deflate (RFC 7692): the RFC's own byte vectors both ways, the
// context-takeover modes, a deflate bomb stopped at the limit, corrupt
// streams, and the negotiation of every offer shape browsers and websockets
// send.
#include "websocket/ws_codec.h"
#include "websocket/ws_deflate.h"
#include "websocket/ws_handshake.h"
#include "ws_test_frames.h"

#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

using namespace pympm;
using namespace pympm::test;

namespace {

constexpr unsigned kRsv1 = 0x40;

FeedResult feed_deflated(const std::string& wire, DeflateParams params = {}, WsLimits limits = {}) {
    FeedResult whole = feed(wire, 0, limits, params);
    FeedResult bytewise = feed(wire, 1, limits, params);
    BOOST_TEST((whole == bytewise));
    return whole;
}

std::string encoded(WsCodec& codec, std::string_view message) {
    const WsFrame f = codec.encode(WsOp::text, message);
    return std::string(f.header()) + std::string(f.payload);
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_deflate)

// RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello" compressed, then again with the
// window of the first (context takeover).
BOOST_AUTO_TEST_CASE(the_rfc_7692_hello_vectors_inflate) {
    const std::string first = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    const std::string second = bytes({0xf2, 0x00, 0x11, 0x00, 0x00});
    FeedResult r = feed_deflated(frame(WsOp::text, first, true, kRsv1) + frame(WsOp::text, second, true, kRsv1));
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == (std::vector<std::string>{"text:Hello", "text:Hello"}));

    // §7.2.3.3: a stored (uncompressed) block; §7.2.3.4: a final block
    // (BFINAL); §7.2.3.5: two blocks in one message.
    for (const std::string& payload :
         {bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}),
          bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}),
          bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})}) {
        r = feed_deflated(frame(WsOp::text, payload, true, kRsv1) + frame(WsOp::text, payload, true, kRsv1));
        BOOST_TEST(r.ok);
        BOOST_TEST(r.events == (std::vector<std::string>{"text:Hello", "text:Hello"}));
    }

    // §7.2.3.1 fragmented: RSV1 on the first frame only.
    r = feed_deflated(frame(WsOp::text, first.substr(0, 3), false, kRsv1) +
                      frame(WsOp::continuation, first.substr(3, 2), false) + frame(WsOp::ping, "between") +
                      frame(WsOp::continuation, first.substr(5)));
    BOOST_TEST(r.events == (std::vector<std::string>{"ping:between", "text:Hello"}));

    // An uncompressed message (RSV1 clear) on a deflate connection.
    r = feed_deflated(frame(WsOp::text, "plain"));
    BOOST_TEST(r.events == std::vector<std::string>{"text:plain"});
}

BOOST_AUTO_TEST_CASE(the_server_compresses_as_the_rfc_shows) {
    WsCodec takeover({}, DeflateParams{});
    BOOST_TEST(encoded(takeover, "Hello") == bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    BOOST_TEST(encoded(takeover, "Hello") == bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}));
    // server_no_context_takeover: every message stands alone.
    DeflateParams alone;
    alone.server_no_takeover = true;
    WsCodec fresh({}, alone);
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(encoded(fresh, "Hello") == bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    // An empty message is one 0x00 byte (the tail stripped from an empty
    // stored block).
    WsCodec empty({}, DeflateParams{});
    BOOST_TEST(encoded(empty, "") == bytes({0xc1, 0x01, 0x00}));
    // Again after a message: zlib writes nothing for a flush without input
    // in between, and the payload would be empty, which inflates to nothing
    // valid.
    BOOST_TEST(encoded(empty, "") == bytes({0xc1, 0x01, 0x00}));
    encoded(empty, "Hello");
    BOOST_TEST(encoded(empty, "") == bytes({0xc1, 0x01, 0x00}));
    // Control frames are never compressed.
    const WsFrame ping = empty.encode(WsOp::ping, "p");
    BOOST_TEST(std::string(ping.header()) == bytes({0x89, 0x01}));
}

// What our deflater writes, our inflater reads, in every takeover mode and
// at message sizes from 0 to 300 KB.
BOOST_AUTO_TEST_CASE(compressed_messages_round_trip_in_every_takeover_mode) {
    std::mt19937_64 rng(7692);
    for (int mode = 0; mode < 4; ++mode) {
        DeflateParams p;
        p.server_no_takeover = p.client_no_takeover = mode & 1;
        p.server_bits = p.client_bits = mode & 2 ? 9 : 12;
        // The "client" compresses with our deflater, as server and client
        // speak the same format; its params mirrored.
        PerMessageDeflate client(p);
        std::string wire;
        std::vector<std::string> want;
        for (int i = 0; i < 300; ++i) {
            const std::size_t n = i % 50 == 0 ? rng() % 300000 : rng() % 2000;
            std::string m(n, '\0');
            for (char& c : m) c = static_cast<char>('a' + rng() % (i % 3 == 0 ? 3 : 26));
            const std::string z(client.deflate(m));
            // Random fragmentation of the compressed bytes.
            std::size_t at = 0;
            bool first = true;
            do {
                const std::size_t part = rng() % 2 ? z.size() - at : std::min<std::size_t>(z.size() - at, rng() % 64);
                wire += frame(first ? WsOp::text : WsOp::continuation, z.substr(at, part), at + part == z.size(),
                              first ? kRsv1 : 0);
                at += part;
                first = false;
            } while (at < z.size());
            want.push_back("text:" + m);
        }
        const FeedResult r = feed(wire, 1 + rng() % 5000, {}, p);
        BOOST_TEST(r.ok, "mode " << mode << ": " << r.reason);
        BOOST_TEST((r.events == want), "mode " << mode);
    }
}

// 20 MiB of zeros deflate to about 20 KB: inflation stops one byte past
// the limit and the connection fails 1009.
BOOST_AUTO_TEST_CASE(a_deflate_bomb_closes_1009_without_inflating_it_all) {
    PerMessageDeflate client(DeflateParams{});
    const std::string bomb(client.deflate(std::string(20 * 1024 * 1024, '\0')));
    BOOST_TEST(bomb.size() < 64 * 1024u);
    const WsLimits limits{1024 * 1024};
    FeedResult r = feed(frame(WsOp::binary, bomb, true, kRsv1), 0, limits, DeflateParams{});
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.code == ws_close::too_big);
    r = feed(frame(WsOp::binary, bomb, true, kRsv1), 997, limits, DeflateParams{});
    BOOST_TEST(r.code == ws_close::too_big);

    PerMessageDeflate server(DeflateParams{});
    std::string out;
    BOOST_TEST((server.inflate(bomb, true, out, limits.max_message) == PerMessageDeflate::Inflated::too_big));
    BOOST_TEST(out.size() == limits.max_message + 1);

    // Exactly at the limit passes.
    PerMessageDeflate c2(DeflateParams{});
    const std::string fits(c2.deflate(std::string(limits.max_message, '\0')));
    r = feed(frame(WsOp::binary, fits, true, kRsv1), 0, limits, DeflateParams{});
    BOOST_TEST(r.ok);
    BOOST_TEST(r.events == std::vector<std::string>{"binary:1048576"});
}

BOOST_AUTO_TEST_CASE(corrupt_and_misplaced_compression_fails_1002) {
    FeedResult r = feed_deflated(frame(WsOp::text, bytes({0xff, 0xff, 0xff, 0xff}), true, kRsv1));
    BOOST_TEST(r.code == ws_close::protocol_error);
    // RSV1 on a continuation frame, or on a control frame.
    r = feed_deflated(frame(WsOp::text, bytes({0xf2, 0x48}), false, kRsv1) +
                      frame(WsOp::continuation, bytes({0xcd, 0xc9, 0xc9, 0x07, 0x00}), true, kRsv1));
    BOOST_TEST(r.code == ws_close::protocol_error);
    r = feed_deflated(frame(WsOp::ping, "", true, kRsv1));
    BOOST_TEST(r.code == ws_close::protocol_error);
    // A back-reference to a window the client promised not to keep.
    DeflateParams no_takeover;
    no_takeover.client_no_takeover = true;
    r = feed_deflated(frame(WsOp::text, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), true, kRsv1) +
                          frame(WsOp::text, bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), true, kRsv1),
                      no_takeover);
    BOOST_TEST(r.events == std::vector<std::string>{"text:Hello"});
    BOOST_TEST(r.code == ws_close::protocol_error);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_deflated_text_fails_1007) {
    PerMessageDeflate client(DeflateParams{});
    const std::string z(client.deflate("ok \xED\xA0\x80 no"));
    FeedResult r = feed_deflated(frame(WsOp::text, z, true, kRsv1));
    BOOST_TEST(r.code == ws_close::invalid_data);
    // Split across fragments; and truncated at the end.
    PerMessageDeflate c2(DeflateParams{});
    const std::string z2(c2.deflate("abc\xE2\x82"));
    r = feed_deflated(frame(WsOp::text, z2.substr(0, 2), false, kRsv1) + frame(WsOp::continuation, z2.substr(2)));
    BOOST_TEST(r.code == ws_close::invalid_data);
    // Binary is not checked.
    PerMessageDeflate c3(DeflateParams{});
    BOOST_TEST(feed_deflated(frame(WsOp::binary, std::string(c3.deflate("\xFF")), true, kRsv1)).ok);
}

struct Offer {
    const char* offer;
    const char* response; // nullptr: declined
    DeflateParams params;
};

BOOST_AUTO_TEST_CASE(the_offer_matrix) {
    const Offer cases[] = {
        // Firefox, websockets' client, Chromium.
        {"permessage-deflate", "permessage-deflate; server_max_window_bits=12", {false, false, 12, 15}},
        {"permessage-deflate; client_max_window_bits",
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
         {false, false, 12, 12}},
        {"permessage-deflate; client_max_window_bits=15",
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
         {false, false, 12, 12}},
        {"permessage-deflate; client_max_window_bits=10",
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
         {false, false, 12, 10}},
        {"permessage-deflate; client_max_window_bits=\"9\"",
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
         {false, false, 12, 9}},
        {"permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_max_window_bits=10",
         {false, false, 10, 15}},
        {"permessage-deflate; server_max_window_bits=15",
         "permessage-deflate; server_max_window_bits=12",
         {false, false, 12, 15}},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
         {true, true, 12, 15}},
        {"PerMessage-Deflate ;Client_Max_Window_Bits", // case and spaces do not matter
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
         {false, false, 12, 12}},
        // The first acceptable offer wins; others are skipped.
        {"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=11",
         "permessage-deflate; server_max_window_bits=11",
         {false, false, 11, 15}},
        {"permessage-deflate; server_max_window_bits=8, permessage-deflate",
         "permessage-deflate; server_max_window_bits=12",
         {false, false, 12, 15}},
        {"permessage-deflate; x=1, permessage-deflate; client_no_context_takeover",
         "permessage-deflate; client_no_context_takeover; server_max_window_bits=12",
         {false, true, 12, 15}},
        // Declined.
        {"", nullptr, {}},
        {"x-webkit-deflate-frame", nullptr, {}},
        {"permessage-deflate; server_max_window_bits=8", nullptr, {}},
        {"permessage-deflate; server_max_window_bits", nullptr, {}},
        {"permessage-deflate; server_max_window_bits=16", nullptr, {}},
        {"permessage-deflate; server_max_window_bits=010", nullptr, {}},
        {"permessage-deflate; client_max_window_bits=7", nullptr, {}},
        {"permessage-deflate; client_max_window_bits=abc", nullptr, {}},
        {"permessage-deflate; client_max_window_bits; client_max_window_bits", nullptr, {}},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", nullptr, {}},
        {"permessage-deflate; server_no_context_takeover=1", nullptr, {}},
        {"permessage-deflate; unknown", nullptr, {}},
        {"permessage-deflate;; client_max_window_bits", nullptr, {}},
    };
    for (const Offer& c : cases) {
        BOOST_TEST_CONTEXT(c.offer) {
            const auto got = negotiate_deflate(c.offer, true);
            BOOST_TEST(got.has_value() == (c.response != nullptr));
            if (got && c.response) {
                BOOST_TEST(got->second == c.response);
                BOOST_TEST(got->first.server_no_takeover == c.params.server_no_takeover);
                BOOST_TEST(got->first.client_no_takeover == c.params.client_no_takeover);
                BOOST_TEST(got->first.server_bits == c.params.server_bits);
                BOOST_TEST(got->first.client_bits == c.params.client_bits);
            }
        }
    }
    BOOST_TEST(!negotiate_deflate("permessage-deflate", false).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
