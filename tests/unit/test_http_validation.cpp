// What an app hands to start_response is checked before it reaches the wire.
#include "request/http_validation.h"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace pympm;

BOOST_AUTO_TEST_SUITE(http_validation)

BOOST_AUTO_TEST_CASE(status_lines) {
    int code = 0;
    BOOST_TEST(is_valid_status_line("200 OK", code));
    BOOST_TEST(code == 200);
    BOOST_TEST(is_valid_status_line("404 Not Found", code));
    BOOST_TEST(code == 404);
    BOOST_TEST(is_valid_status_line("599 x\ty", code));
    BOOST_TEST(code == 599);
    BOOST_TEST(is_valid_status_line("204 ", code)); // empty reason after the space
    BOOST_TEST(code == 204);
    BOOST_TEST(is_valid_status_line("100 Continue", code));
    BOOST_TEST(is_valid_status_line("999 Max", code));
    BOOST_TEST(code == 999);
    for (const char* bad :
         {"", "200", "200OK", "20 OK", "2000 OK", "abc OK", "099 Low", "200 O\nK", "200 O\rK", "200 \x7f", " 200 OK"}) {
        BOOST_TEST(!is_valid_status_line(bad, code), "accepted '" << bad << "'");
    }
    BOOST_TEST(!is_valid_status_line(std::string("200 a\0b", 7), code));
}

BOOST_AUTO_TEST_CASE(tokens) {
    BOOST_TEST(is_http_token("Content-Type"));
    BOOST_TEST(is_http_token("X-Custom_1!#$%&'*+.^`|~"));
    for (const char* bad : {"", "a b", "a:b", "a\tb", "a(b)", "a,b", "a/b", "a\"b", "a\r", "a@b", "é"})
        BOOST_TEST(!is_http_token(bad), "accepted '" << bad << "'");
}

BOOST_AUTO_TEST_CASE(header_values) {
    BOOST_TEST(is_valid_header_value(""));
    BOOST_TEST(is_valid_header_value("text/html; charset=utf-8"));
    BOOST_TEST(is_valid_header_value("a\tb"));
    BOOST_TEST(is_valid_header_value("caf\xc3\xa9")); // obs-text
    BOOST_TEST(!is_valid_header_value("a\r\nX-Injected: 1"));
    BOOST_TEST(!is_valid_header_value("a\nb"));
    BOOST_TEST(!is_valid_header_value(std::string("a\0b", 3)));
    BOOST_TEST(!is_valid_header_value("a\x7f"));
    BOOST_TEST(!is_valid_header_value("a\x01"));
}

BOOST_AUTO_TEST_CASE(hop_by_hop) {
    for (const char* h : {"Connection", "keep-alive", "PROXY-AUTHENTICATE", "Proxy-Authorization", "TE", "Trailers",
                          "Transfer-Encoding", "Upgrade"})
        BOOST_TEST(is_hop_by_hop_header(h), h);
    for (const char* h : {"Content-Type", "Content-Length", "Trailer", "X-Connection", ""})
        BOOST_TEST(!is_hop_by_hop_header(h), h);
}

BOOST_AUTO_TEST_CASE(case_insensitive_equality) {
    BOOST_TEST(iequals("Content-Type", "content-TYPE"));
    BOOST_TEST(iequals("", ""));
    BOOST_TEST(!iequals("a", "ab"));
    BOOST_TEST(!iequals("a", "b"));
}

BOOST_AUTO_TEST_SUITE_END()
