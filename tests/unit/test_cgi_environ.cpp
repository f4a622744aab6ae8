// The CGI names of request headers (as httpd's http2env makes them) and the
// fixed CGI keys' names.
#include "request/cgi_environ.h"

#include <boost/test/unit_test.hpp>

using namespace pympm;

BOOST_AUTO_TEST_SUITE(cgi_environ)

BOOST_AUTO_TEST_CASE(header_names_become_http_variables) {
    BOOST_TEST(cgi_header_name("User-Agent") == "HTTP_USER_AGENT");
    BOOST_TEST(cgi_header_name("x-forwarded-for") == "HTTP_X_FORWARDED_FOR");
    BOOST_TEST(cgi_header_name("DNT") == "HTTP_DNT");
    BOOST_TEST(cgi_header_name("X-Request-Id2") == "HTTP_X_REQUEST_ID2");
}

BOOST_AUTO_TEST_CASE(names_cgi_does_not_pass_are_empty) {
    // An underscore would let "X_Real_IP" pose as the proxy's "X-Real-IP".
    for (const char* name : {"X_Real_IP", "X.Dot", "Caf\xc3\xa9", "A B", "X:Y", "Tab\there"})
        BOOST_TEST(cgi_header_name(name).empty(), name);
}

BOOST_AUTO_TEST_CASE(fixed_keys_have_their_names) {
    BOOST_TEST(std::string(cgi_key_name(CgiKey::k_CONTENT_TYPE)) == "CONTENT_TYPE");
    BOOST_TEST(std::string(cgi_key_name(CgiKey::k_REMOTE_HOST)) == "REMOTE_HOST");
    BOOST_TEST(std::string(cgi_key_name(CgiKey::k_PATH_INFO)) == "PATH_INFO");
    BOOST_TEST(std::string(cgi_key_name(CgiKey::k_PATH_TRANSLATED)) == "PATH_TRANSLATED");
    BOOST_TEST(std::string(cgi_key_name(static_cast<CgiKey>(kCgiKeyCount - 1))) == "PATH_TRANSLATED");
}

BOOST_AUTO_TEST_CASE(absent_and_empty_values_differ) {
    CgiEnviron e;
    BOOST_TEST(e.get(CgiKey::k_QUERY_STRING).data() == nullptr);
    e.set(CgiKey::k_QUERY_STRING, "");
    BOOST_TEST(e.get(CgiKey::k_QUERY_STRING).data() != nullptr);
    BOOST_TEST(e.get(CgiKey::k_QUERY_STRING).empty());
    e.set(CgiKey::k_AUTH_TYPE, static_cast<const char*>(nullptr));
    BOOST_TEST(e.get(CgiKey::k_AUTH_TYPE).data() == nullptr);
    e.unset(CgiKey::k_QUERY_STRING);
    BOOST_TEST(e.get(CgiKey::k_QUERY_STRING).data() == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
