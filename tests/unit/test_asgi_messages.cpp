// What an ASGI app may send for an HTTP request, checked before anything
// reaches the request thread (asgi/asgi_messages.h): each message, the C++
// value it becomes, or the exception the app gets.
#include "asgi/asgi_messages.h"

#include "embedded_python.h"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace pympm;
using namespace pympm_test;

namespace {

const AsgiNames& names() {
    // Interned once, like the child's AsgiContext; never let go of.
    static AsgiNames* n = with_python([] {
        auto* made = new AsgiNames();
        BOOST_REQUIRE_MESSAGE(made->intern(), take_exception());
        return made;
    });
    return *n;
}

// The type of `message` (a Python expression), or the exception's text.
std::string type_of(const std::string& message) {
    return with_python([&]() -> std::string {
        PyRef m = python_eval(message);
        const auto type = asgi_send_type(names(), m.get());
        if (!type) return take_exception();
        return *type == AsgiSendType::response_start ? "start" : "body";
    });
}

struct Start {
    std::string error; // "TypeName: message", or ""
    AsgiResponseStart value;
};

Start start_of(const std::string& message) {
    return with_python([&] {
        Start out;
        PyRef m = python_eval(message);
        if (!parse_response_start(names(), m.get(), out.value)) out.error = take_exception();
        BOOST_TEST(!PyErr_Occurred());
        return out;
    });
}

struct Body {
    std::string error;
    std::string bytes;
    bool more_body = false;
    bool same_object = false; // the message's own bytes object, not a copy
};

Body body_of(const std::string& message) {
    return with_python([&] {
        Body out;
        PyRef m = python_eval(message);
        AsgiResponseBody part;
        if (!parse_response_body(names(), m.get(), part)) {
            out.error = take_exception();
            return out;
        }
        BOOST_TEST_REQUIRE(PyBytes_Check(part.body.get()));
        out.bytes.assign(PyBytes_AS_STRING(part.body.get()),
                         static_cast<std::size_t>(PyBytes_GET_SIZE(part.body.get())));
        out.more_body = part.more_body;
        out.same_object = part.body.get() == PyDict_GetItemString(m.get(), "body");
        return out;
    });
}

// http.response.start with these headers (a Python expression).
Start with_headers(const std::string& headers) {
    return start_of("{'type': 'http.response.start', 'status': 200, 'headers': " + headers + "}");
}

} // namespace

BOOST_AUTO_TEST_SUITE(asgi_messages)

BOOST_AUTO_TEST_CASE(the_type_of_a_message) {
    BOOST_TEST(type_of("{'type': 'http.response.start', 'status': 200}") == "start");
    BOOST_TEST(type_of("{'type': 'http.response.body'}") == "body");
    BOOST_TEST(type_of("[('type', 'http.response.start')]") == "TypeError: an ASGI message must be a dict, not list");
    BOOST_TEST(type_of("{'status': 200}") == "ValueError: an ASGI message needs a 'type'");
    BOOST_TEST(type_of("{'type': 'http.response.push'}") ==
               "ValueError: unknown ASGI message type 'http.response.push' for an HTTP request");
    BOOST_TEST(type_of("{'type': b'http.response.start'}") ==
               "ValueError: unknown ASGI message type b'http.response.start' for an HTTP request");
    BOOST_TEST(type_of("{'type': 'websocket.accept'}") ==
               "ValueError: unknown ASGI message type 'websocket.accept' for an HTTP request");
}

BOOST_AUTO_TEST_CASE(response_start_status) {
    Start ok = start_of("{'type': 'http.response.start', 'status': 404}");
    BOOST_TEST(ok.error == "");
    BOOST_TEST(ok.value.head.status == 404);
    BOOST_TEST(ok.value.head.status_line.empty(), "httpd gives the reason phrase");
    BOOST_TEST(ok.value.head.headers.empty());
    BOOST_TEST(!ok.value.content_length.has_value());

    const std::string needs = "ValueError: http.response.start needs an integer 'status'";
    BOOST_TEST(start_of("{'type': 'http.response.start'}").error == needs);
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': '200'}").error == needs);
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': 200.0}").error == needs);
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': 101}").error ==
               "ValueError: status 101 is an interim (1xx) response: the app gives the final status (httpd sends 100 "
               "Continue itself when the app reads the body)");
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': 600}").error ==
               "ValueError: status 600 is outside 200-599, which HTTP defines");
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': 2**70}").error.rfind("OverflowError: ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(response_start_trailers_are_refused) {
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': 200, 'trailers': True}").error ==
               "ValueError: response trailers are not supported by mod_pympm");
    BOOST_TEST(start_of("{'type': 'http.response.start', 'status': 200, 'trailers': False}").error == "");
}

BOOST_AUTO_TEST_CASE(response_start_headers_become_the_head) {
    Start s =
        with_headers("[(b'content-type', b'text/plain'), [b'x-a', bytearray(b'1')], (b'Set-Cookie', b'a=1'), "
                     "(b'set-cookie', b'b=2'), (memoryview(b'content-length'), b'12'), (b'x-latin', b'caf\\xe9')]");
    BOOST_TEST_REQUIRE(s.error == "");
    const HeaderList expected = {{"content-type", "text/plain"}, {"x-a", "1"},
                                 {"Set-Cookie", "a=1"},          {"set-cookie", "b=2"},
                                 {"content-length", "12"},       {"x-latin", "caf\xe9"}};
    BOOST_TEST((s.value.head.headers == expected));
    BOOST_TEST(s.value.content_length.value_or(0) == 12u);
    // Any iterable of pairs.
    Start gen = with_headers("((b'x-%d' % i, b'v') for i in range(3))");
    BOOST_TEST(gen.error == "");
    BOOST_TEST(gen.value.head.headers.size() == 3u);
}

BOOST_AUTO_TEST_CASE(response_start_headers_that_are_refused) {
    struct Case {
        const char* headers;
        const char* error;
    };
    for (
        const Case& c : {
            Case{"5", "TypeError: 'int' object is not iterable"},
            Case{"[5]", "TypeError: each response header must be a pair"},
            Case{"[(b'a', b'b', b'c')]", "ValueError: response header (b'a', b'b', b'c') must be a [name, value] pair"},
            Case{"[(b'a',)]", "ValueError: response header (b'a',) must be a [name, value] pair"},
            Case{"[(b'x-bad', 'str value')]", "TypeError: a header value must be bytes, not str"},
            Case{"[('x-bad', b'v')]", "TypeError: a header name must be bytes, not str"},
            Case{"[(b'x-bad', 5)]", "TypeError: a header value must be bytes, not int"},
            Case{"[(b'bad name', b'v')]",
                 "ValueError: invalid response header name 'bad name': must be an HTTP token (no spaces, colons or "
                 "control characters)"},
            Case{"[(b'', b'v')]", "ValueError: invalid response header name ''"},
            Case{
                "[(b'x-bad', b'a\\r\\nInjected: 1')]",
                "ValueError: invalid value for response header 'x-bad': CR, LF and control characters are not allowed"},
            Case{
                "[(b'x-bad', b'a\\x00')]",
                "ValueError: invalid value for response header 'x-bad': CR, LF and control characters are not allowed"},
            Case{"[(b'connection', b'close')]",
                 "ValueError: hop-by-hop header 'connection' is not allowed in an ASGI response; httpd manages the "
                 "connection"},
            Case{"[(b'transfer-encoding', b'chunked')]", "ValueError: hop-by-hop header 'transfer-encoding'"},
            Case{"[(b'content-length', b'x')]", "ValueError: invalid Content-Length 'x'"},
            Case{"[(b'content-length', b'9223372036854775808')]",
                 "ValueError: Content-Length '9223372036854775808' is larger than httpd can send (2**63 - 1)"},
            Case{"[(b'content-length', b'1'), (b'content-length', b'2')]",
                 "ValueError: two different Content-Length headers (1 and '2')"},
        }) {
        BOOST_TEST_CONTEXT(c.headers) {
            const std::string error = with_headers(c.headers).error;
            BOOST_TEST(error.rfind(c.error, 0) == 0u, error);
        }
    }
}

BOOST_AUTO_TEST_CASE(response_body_parts) {
    Body b = body_of("{'type': 'http.response.body', 'body': b'hello', 'more_body': True}");
    BOOST_TEST(b.error == "");
    BOOST_TEST(b.bytes == "hello");
    BOOST_TEST(b.more_body);
    BOOST_TEST(b.same_object, "bytes are passed on without a copy");

    Body last = body_of("{'type': 'http.response.body', 'body': bytearray(b'ab'), 'more_body': False}");
    BOOST_TEST(last.bytes == "ab");
    BOOST_TEST(!last.more_body);
    BOOST_TEST(!last.same_object, "a bytearray is copied: the app may change it once send() returns");

    BOOST_TEST(body_of("{'type': 'http.response.body', 'body': memoryview(b'mv')}").bytes == "mv");
    Body empty = body_of("{'type': 'http.response.body'}");
    BOOST_TEST(empty.error == "");
    BOOST_TEST(empty.bytes == "");
    BOOST_TEST(!empty.more_body, "more_body defaults to False");
    BOOST_TEST(body_of("{'type': 'http.response.body', 'more_body': 1}").more_body);
    BOOST_TEST(!body_of("{'type': 'http.response.body', 'more_body': None}").more_body);
    BOOST_TEST(body_of("{'type': 'http.response.body', 'body': 'text'}").error.rfind("TypeError: ", 0) == 0u);
    BOOST_TEST(body_of("{'type': 'http.response.body', 'body': 5}").error.rfind("TypeError: ", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
