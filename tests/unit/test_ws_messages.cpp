// What an ASGI app may send on a WebSocket, checked on the loop before
// anything reaches the request thread (websocket/ws_messages.h): each
// message, the C++ value it becomes, or the exception the app gets.
#include "websocket/ws_messages.h"

#include "embedded_python.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace pympm;
using pympm_test::contains;
using namespace pympm_test;

namespace {

struct Names {
    AsgiNames asgi;
    WsNames ws;
};

const Names& names() {
    static Names* n = with_python([] {
        auto* made = new Names();
        BOOST_REQUIRE_MESSAGE(made->asgi.intern(), take_exception());
        BOOST_REQUIRE_MESSAGE(made->ws.build(), take_exception());
        return made;
    });
    return *n;
}

std::string type_of(const std::string& message) {
    return with_python([&]() -> std::string {
        PyRef m = python_eval(message);
        const auto t = ws_send_type(names().asgi, names().ws, m.get());
        if (!t) return take_exception();
        switch (*t) {
        case WsSendType::accept: return "accept";
        case WsSendType::send: return "send";
        case WsSendType::close: return "close";
        case WsSendType::http_start: return "http_start";
        case WsSendType::http_body: return "http_body";
        }
        return "?";
    });
}

std::string accept_of(const std::string& message, WsAccept& out) {
    return with_python([&]() -> std::string {
        PyRef m = python_eval(message);
        const bool ok = parse_accept(names().asgi, names().ws, m.get(), {"chat", "json"}, out);
        BOOST_TEST(ok != static_cast<bool>(PyErr_Occurred()));
        return ok ? "" : take_exception();
    });
}

std::string send_of(const std::string& message, WsData& out) {
    return with_python([&]() -> std::string {
        PyRef m = python_eval(message);
        return parse_send(names().ws, m.get(), out) ? "" : take_exception();
    });
}

std::string close_of(const std::string& message, WsClose& out) {
    return with_python([&]() -> std::string {
        PyRef m = python_eval(message);
        return parse_close(names().ws, m.get(), out) ? "" : take_exception();
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_messages)

BOOST_AUTO_TEST_CASE(the_types_a_websocket_takes) {
    BOOST_TEST(type_of("{'type': 'websocket.accept'}") == "accept");
    BOOST_TEST(type_of("{'type': 'websocket.send', 'text': 'x'}") == "send");
    BOOST_TEST(type_of("{'type': 'websocket.close'}") == "close");
    BOOST_TEST(type_of("{'type': 'websocket.http.response.start', 'status': 401}") == "http_start");
    BOOST_TEST(type_of("{'type': 'websocket.http.response.body'}") == "http_body");
    BOOST_TEST(contains(type_of("{'type': 'http.response.start'}"), "ValueError: unknown ASGI message type"));
    BOOST_TEST(contains(type_of("{}"), "ValueError: an ASGI message needs a 'type'"));
    BOOST_TEST(contains(type_of("['websocket.accept']"), "TypeError: an ASGI message must be a dict"));
}

BOOST_AUTO_TEST_CASE(accept_takes_an_offered_subprotocol_and_headers_of_the_app) {
    WsAccept a;
    BOOST_TEST(accept_of("{'type': 'websocket.accept', 'subprotocol': 'json', 'headers': [(b'x-a', b'1')]}", a) == "");
    BOOST_TEST(a.subprotocol.value_or("") == "json");
    BOOST_TEST_REQUIRE(a.headers.size() == 1u);
    BOOST_TEST(a.headers[0].first == "x-a");
    WsAccept none;
    BOOST_TEST(accept_of("{'type': 'websocket.accept', 'subprotocol': None}", none) == "");
    BOOST_TEST(!none.subprotocol);
    WsAccept b;
    BOOST_TEST(contains(accept_of("{'type': 'websocket.accept', 'subprotocol': 'xml'}", b),
                        "RuntimeError: websocket.accept's subprotocol 'xml' is not one the client offered"));
    BOOST_TEST(contains(accept_of("{'type': 'websocket.accept', 'subprotocol': b'chat'}", b), "TypeError"));
    for (const char* own : {"sec-websocket-protocol", "Sec-WebSocket-Accept", "upgrade", "connection"})
        BOOST_TEST(
            contains(accept_of(std::string("{'type': 'websocket.accept', 'headers': [(b'") + own + "', b'v')]}", b),
                     "ValueError: websocket.accept may not set"),
            own);
    BOOST_TEST(contains(accept_of("{'type': 'websocket.accept', 'headers': [(b'x', b'a\\r\\nb')]}", b),
                        "is not a valid HTTP header"));
}

BOOST_AUTO_TEST_CASE(send_takes_exactly_one_of_text_and_bytes) {
    WsData d;
    BOOST_TEST(send_of("{'type': 'websocket.send', 'text': 'h\\u00e9'}", d) == "");
    BOOST_TEST(d.text);
    BOOST_TEST(d.data == "h\xc3\xa9");
    BOOST_TEST(send_of("{'type': 'websocket.send', 'bytes': b'\\x00\\xff', 'text': None}", d) == "");
    BOOST_TEST(!d.text);
    BOOST_TEST(d.data == std::string("\x00\xff", 2));
    BOOST_TEST(contains(send_of("{'type': 'websocket.send'}", d), "ValueError: websocket.send needs exactly one"));
    BOOST_TEST(contains(send_of("{'type': 'websocket.send', 'text': 'a', 'bytes': b'b'}", d), "exactly one"));
    BOOST_TEST(contains(send_of("{'type': 'websocket.send', 'text': b'a'}", d), "TypeError"));
    BOOST_TEST(contains(send_of("{'type': 'websocket.send', 'text': '\\ud800'}", d), "UnicodeEncodeError"));
}

BOOST_AUTO_TEST_CASE(close_takes_a_sendable_code_and_a_short_reason) {
    WsClose c;
    BOOST_TEST(close_of("{'type': 'websocket.close'}", c) == "");
    BOOST_TEST(c.code == 1000);
    BOOST_TEST(close_of("{'type': 'websocket.close', 'code': 4001, 'reason': 'bye'}", c) == "");
    BOOST_TEST(c.code == 4001);
    BOOST_TEST(c.reason == "bye");
    for (int bad : {999, 1004, 1005, 1006, 1015, 2999, 5000})
        BOOST_TEST(contains(close_of("{'type': 'websocket.close', 'code': " + std::to_string(bad) + "}", c),
                            "ValueError: websocket.close's code"),
                   bad);
    for (int good : {1001, 1003, 1007, 1014, 3000, 4999})
        BOOST_TEST(close_of("{'type': 'websocket.close', 'code': " + std::to_string(good) + "}", c) == "", good);
    BOOST_TEST(close_of("{'type': 'websocket.close', 'reason': '" + std::string(123, 'r') + "'}", c) == "");
    BOOST_TEST(contains(close_of("{'type': 'websocket.close', 'reason': '" + std::string(124, 'r') + "'}", c),
                        "at most 123 bytes"));
}

BOOST_AUTO_TEST_SUITE_END()
