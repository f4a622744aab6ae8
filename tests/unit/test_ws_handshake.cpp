// The opening handshake (RFC 6455 §4.2): which requests are WebSocket offers
// we accept, with which refusal otherwise, and the Sec-WebSocket-Accept
// answer; with the SHA-1 and base64 it is built on.
#include "base/base64.h"
#include "base/sha1.h"
#include "websocket/ws_handshake.h"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace pympm;

namespace {

std::string hex(const std::array<std::uint8_t, 20>& d) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (auto b : d) s += {digits[b >> 4], digits[b & 15]};
    return s;
}

using Headers = std::vector<std::pair<std::string_view, std::string_view>>;

Headers offer_headers() {
    return {{"Host", "example.com"},
            {"Upgrade", "websocket"},
            {"Connection", "Upgrade"},
            {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
            {"Sec-WebSocket-Version", "13"}};
}

int check(const Headers& headers, WsOffer& offer, std::string_view method = "GET",
          std::string_view protocol = "HTTP/1.1") {
    RequestLine r;
    r.method = method;
    r.protocol = protocol;
    r.headers = headers;
    std::string why;
    const int status = check_offer(r, offer, why);
    BOOST_TEST((status == 0) == why.empty(), "why: " << why);
    return status;
}

Headers without(Headers h, std::string_view name) {
    std::erase_if(h, [&](const auto& kv) { return kv.first == name; });
    return h;
}

Headers with(Headers h, std::string_view name, std::string_view value) {
    h = without(std::move(h), name);
    h.emplace_back(name, value);
    return h;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_handshake)

BOOST_AUTO_TEST_CASE(sha1_matches_the_fips_vectors) {
    BOOST_TEST(hex(sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    BOOST_TEST(hex(sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
    BOOST_TEST(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
               "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    BOOST_TEST(hex(sha1(std::string(1000000, 'a'))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // The padding's edges: one block or two.
    BOOST_TEST(hex(sha1(std::string(55, 'x'))) == "cef734ba81a024479e09eb5a75b6ddae62e6abf1");
    BOOST_TEST(hex(sha1(std::string(56, 'x'))) == "901305367c259952f4e7af8323f480d59f81335b");
    BOOST_TEST(hex(sha1(std::string(63, 'x'))) == "0ddc4e0cccd9a12850deb5abb0853a4425559fec");
    BOOST_TEST(hex(sha1(std::string(64, 'x'))) == "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163");
    BOOST_TEST(hex(sha1(std::string(119, 'x'))) == "4300320394f7ee239bcdce7d3b8bcee173a0cd5c");
    BOOST_TEST(hex(sha1(std::string(120, 'x'))) == "ceb2821639c4b6dcb10bce0e522ca2e608ce056d");
}

BOOST_AUTO_TEST_CASE(base64_matches_rfc_4648_and_refuses_non_canonical_text) {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                           {"f", "Zg=="},
                                                           {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},
                                                           {"foob", "Zm9vYg=="},
                                                           {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, text] : vectors) {
        BOOST_TEST(base64_encode(reinterpret_cast<const unsigned char*>(plain), std::strlen(plain)) == text);
        const auto back = base64_decode(text);
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST(*back == plain);
    }
    const unsigned char all[] = {0x00, 0xff, 0xfe, 0x3e, 0x3f, 0x80};
    BOOST_TEST(base64_encode(all, sizeof all) == "AP/+Pj+A");
    for (const char* bad : {"Zg=", "Zh==", "Zm9=", "Z===", "Zm9v!A==", "=Zm9", "Zm=v", "Zm9vYg==Zm9v", "Zm 9"})
        BOOST_TEST(!base64_decode(bad).has_value(), bad);
}

// RFC 6455 §1.3's example (and §4.2.2's): the nonce and its answer.
BOOST_AUTO_TEST_CASE(the_accept_key_is_the_rfc_example) {
    BOOST_TEST(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

BOOST_AUTO_TEST_CASE(a_well_formed_offer_is_accepted) {
    WsOffer offer;
    BOOST_TEST(check(offer_headers(), offer) == 0);
    BOOST_TEST(offer.key == "dGhlIHNhbXBsZSBub25jZQ==");
    BOOST_TEST(!offer.http2);
    BOOST_TEST(offer.subprotocols.empty());
    BOOST_TEST(offer.extensions.empty());
    // Browsers' shapes: several Connection tokens, any case.
    BOOST_TEST(check(with(offer_headers(), "Connection", "keep-alive, Upgrade"), offer) == 0);
    BOOST_TEST(check(with(offer_headers(), "Upgrade", "WebSocket"), offer) == 0);
    Headers lower = {{"upgrade", "websocket"},
                     {"connection", "upgrade"},
                     {"sec-websocket-key", " AQIDBAUGBwgJCgsMDQ4PEA== "},
                     {"sec-websocket-version", "13"}};
    BOOST_TEST(check(lower, offer) == 0);
    BOOST_TEST(offer.key == "AQIDBAUGBwgJCgsMDQ4PEA==");
    BOOST_TEST(check(offer_headers(), offer, "GET", "HTTP/1.2") == 0);
}

BOOST_AUTO_TEST_CASE(subprotocols_and_extensions_are_collected_from_every_line) {
    Headers h = offer_headers();
    h.emplace_back("Sec-WebSocket-Protocol", "chat, superchat");
    h.emplace_back("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
    h.emplace_back("sec-websocket-protocol", " v2.json ,");
    h.emplace_back("Sec-WebSocket-Extensions", "x-foo");
    WsOffer offer;
    BOOST_TEST(check(h, offer) == 0);
    BOOST_TEST(offer.subprotocols == (std::vector<std::string>{"chat", "superchat", "v2.json"}));
    BOOST_TEST(offer.extensions == "permessage-deflate; client_max_window_bits, x-foo");
    h.emplace_back("Sec-WebSocket-Protocol", "a b");
    BOOST_TEST(check(h, offer) == 400);
}

// mod_http2 turns an RFC 8441 CONNECT into a GET with Upgrade and a key of
// its own, and no Connection header.
BOOST_AUTO_TEST_CASE(an_http2_offer_needs_no_connection_header) {
    WsOffer offer;
    BOOST_TEST(check(without(offer_headers(), "Connection"), offer, "GET", "HTTP/2.0") == 0);
    BOOST_TEST(offer.http2);
    BOOST_TEST(check(without(offer_headers(), "Connection"), offer, "GET", "HTTP/1.1") == 400);
}

BOOST_AUTO_TEST_CASE(a_broken_offer_is_refused_400_or_426) {
    WsOffer offer;
    BOOST_TEST(check(offer_headers(), offer, "POST") == 400);
    BOOST_TEST(check(offer_headers(), offer, "GET", "HTTP/1.0") == 400);
    BOOST_TEST(check(offer_headers(), offer, "GET", "HTTP/0.9") == 400);
    BOOST_TEST(check(without(offer_headers(), "Upgrade"), offer) == 400);
    BOOST_TEST(check(with(offer_headers(), "Upgrade", "h2c"), offer) == 400);
    BOOST_TEST(check(with(offer_headers(), "Connection", "keep-alive"), offer) == 400);
    BOOST_TEST(check(without(offer_headers(), "Sec-WebSocket-Key"), offer) == 400);
    // Keys: not base64, or not of 16 bytes.
    for (const char* key : {"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ==x",
                            "dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZSE=", "!!!!!!!!!!!!!!!!!!!!!!=="})
        BOOST_TEST(check(with(offer_headers(), "Sec-WebSocket-Key", key), offer) == 400, key);
    Headers two_keys = offer_headers();
    two_keys.emplace_back("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA==");
    BOOST_TEST(check(two_keys, offer) == 400);
    // Versions: missing is malformed; another one asks for 426.
    BOOST_TEST(check(without(offer_headers(), "Sec-WebSocket-Version"), offer) == 400);
    for (const char* v : {"8", "12", "14", "13, 8", "", "0013"})
        BOOST_TEST(check(with(offer_headers(), "Sec-WebSocket-Version", v), offer) == 426, v);
    Headers two_versions = offer_headers();
    two_versions.emplace_back("Sec-WebSocket-Version", "8");
    BOOST_TEST(check(two_versions, offer) == 426);
}

BOOST_AUTO_TEST_SUITE_END()
