// The WSGI response as the core hands it to httpd: lists, generators and
// write(); never more than a declared Content-Length, a short body cut so
// the client can tell; HEAD, 204 and 304 without body bytes; every error
// path (a status when nothing went out, an abort once bytes did); close()
// exactly once; a client that goes away while the response is sent.
#include "embedded_python.h"
#include "fake_request_io.h"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace pympm;
using namespace pympm_test;
using Calls = std::vector<std::string>;

namespace {

// Routes of the response-side cases, with close() counted per route.
const char* kResponseApp = R"(
    import sys

    CLOSES = {}
    PLAIN = [("Content-Type", "text/plain")]

    class Tracked:
        """A response iterable that counts its close() calls."""

        def __init__(self, name, items, raise_at=None, close_raises=False):
            self.name = name
            self.items = items
            self.raise_at = raise_at
            self.close_raises = close_raises
            CLOSES.setdefault(name, 0)

        def __iter__(self):
            for i, item in enumerate(self.items):
                if i == self.raise_at:
                    raise RuntimeError("pympm-test-midstream-boom " + self.name)
                yield item

        def close(self):
            CLOSES[self.name] += 1
            if self.close_raises:
                raise ValueError("pympm-test-close-boom " + self.name)

    def application(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/list":
            start_response("200 OK", PLAIN)
            return [b"hello ", b"list ", b"world\n"]
        if path == "/tuple":
            start_response("200 OK", PLAIN)
            return (b"a", b"bc")
        if path == "/generator":
            def gen():
                yield b"gen-1\n"
                yield b""
                yield b"gen-2\n"
            start_response("200 OK", PLAIN)
            return gen()
        if path == "/write":
            write = start_response("200 OK", PLAIN)
            write(b"written-1\n")
            write(b"")
            write(b"written-2\n")
            return [b"returned\n"]
        if path == "/head_framework":
            # What Werkzeug does for HEAD: the GET's Content-Length, no body.
            body = b"x" * 1234
            start_response("200 OK", PLAIN + [("Content-Length", str(len(body)))])
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
        if path == "/tracked":
            start_response("200 OK", PLAIN)
            return Tracked("tracked", [b"a", b"b", b"c"])
        if path == "/tracked_gen":
            def gen():
                yield b"first\n"
                yield b"second\n"
            start_response("200 OK", PLAIN)
            return Tracked("tracked_gen", gen())
        if path == "/tracked_raises_first":
            start_response("200 OK", PLAIN)
            return Tracked("tracked_raises_first", [b"never"], raise_at=0)
        if path == "/tracked_str":
            start_response("200 OK", PLAIN)
            return Tracked("tracked_str", ["a str"])
        if path == "/tracked_list_cl":
            start_response("200 OK", PLAIN + [("Content-Length", "3")])
            return Tracked("tracked_list_cl", [b"abc"])
        if path == "/endless":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return Tracked("endless", (b"z" * 65536 for _ in range(4096)))
        if path == "/raise_before":
            raise RuntimeError("pympm-test-raise-before")
        if path == "/raise_after_start":
            start_response("200 OK", PLAIN)
            raise RuntimeError("pympm-test-raise-after-start")
        if path in ("/item_str", "/item_none", "/item_int"):
            bad = {"/item_str": "MUST-NOT-BE-SENT", "/item_none": None, "/item_int": 42}[path]
            start_response("200 OK", PLAIN)
            return [bad]
        if path == "/item_str_gen":
            start_response("200 OK", PLAIN)
            return iter(["MUST-NOT-BE-SENT"])
        if path == "/item_str_after_bytes":
            def gen():
                yield b"good bytes\n"
                yield "MUST-NOT-BE-SENT"
            start_response("200 OK", PLAIN)
            return gen()
        if path == "/cl_longer":
            start_response("200 OK", PLAIN + [("Content-Length", "5")])
            return [b"12345", b"MUST-NOT-BE-SENT"]
        if path == "/cl_longer_gen":
            def gen():
                yield b"123"
                yield b"45MUST-NOT-BE-SENT"
                raise AssertionError("iterated past the Content-Length")
            start_response("200 OK", PLAIN + [("Content-Length", "5")])
            return Tracked("cl_longer_gen", gen())
        if path == "/cl_shorter":
            start_response("200 OK", PLAIN + [("Content-Length", "100")])
            return [b"only ten.."]
        if path == "/cl_shorter_gen":
            def gen():
                yield b"only "
                yield b"ten.."
            start_response("200 OK", PLAIN + [("Content-Length", "100")])
            return gen()
        if path == "/midstream_raise":
            start_response("200 OK", PLAIN)
            return Tracked("midstream_raise", [b"partial-1\n", b"partial-2\n", b"never\n"], raise_at=2)
        if path == "/midstream_raise_cl":
            start_response("200 OK", PLAIN + [("Content-Length", "30")])
            return Tracked("midstream_raise_cl", [b"partial-1\n", b"never\n"], raise_at=1)
        if path == "/close_raises":
            start_response("200 OK", PLAIN)
            return Tracked("close_raises", [b"complete body\n"], close_raises=True)
        if path == "/not_iterable":
            start_response("200 OK", PLAIN)
            return 42
        if path == "/status":
            # ?status&content-length&body, with a header of the app's own.
            status, cl, body = environ["QUERY_STRING"].split("&")
            start_response(status.replace("+", " "), PLAIN + [("Content-Length", cl), ("X-Own", "1")])
            return [body.encode(), body.encode()] if body else []
        raise KeyError(path)
)";

WsgiApp& response_app() {
    // One app for the suite: CLOSES accumulates as a child's module would.
    static WsgiApp* app = new WsgiApp(kResponseApp);
    return *app;
}

FakeRequestIO get(const std::string& target, const std::string& method = "GET") {
    return FakeRequestIO({.method = method, .target = target});
}

int closes(const std::string& name) { return std::stoi(response_app().eval("CLOSES.get('" + name + "', 0)")); }

} // namespace

BOOST_AUTO_TEST_SUITE(wsgi_response)

BOOST_AUTO_TEST_CASE(a_list_is_sent_in_one_pass_with_its_length) {
    FakeRequestIO io = get("/list");
    BOOST_TEST(response_app().run(io) == 0);
    BOOST_TEST(io.header("Content-Length") == "17", "a list gets a Content-Length");
    BOOST_TEST(io.body() == "hello list world\n");
    BOOST_TEST((io.calls() == Calls{"head", "body:buffer:6", "body:buffer:5", "body:last:6", "finish"}));
    FakeRequestIO tuple = get("/tuple");
    BOOST_TEST(response_app().run(tuple) == 0);
    BOOST_TEST(tuple.header("Content-Length") == "3");
    BOOST_TEST(tuple.body() == "abc");
}

BOOST_AUTO_TEST_CASE(each_generator_item_is_flushed_and_empty_ones_are_skipped) {
    FakeRequestIO io = get("/generator");
    BOOST_TEST(response_app().run(io) == 0);
    BOOST_TEST(!io.has_header("Content-Length"));
    BOOST_TEST(io.body() == "gen-1\ngen-2\n");
    BOOST_TEST((io.calls() == Calls{"head", "body:flush:6", "body:flush:6", "finish"}));
}

BOOST_AUTO_TEST_CASE(write_is_on_the_wire_before_it_returns) {
    FakeRequestIO io = get("/write");
    BOOST_TEST(response_app().run(io) == 0);
    BOOST_TEST(io.body() == "written-1\nwritten-2\nreturned\n");
    BOOST_TEST((io.calls() == Calls{"head", "body:flush:10", "body:flush:10", "body:buffer:9", "finish"}));
}

// ---------------------------------------------------------- error paths

// Nothing went out: httpd answers with the returned status.
BOOST_AUTO_TEST_CASE(errors_before_any_byte_give_500) {
    struct Case {
        std::string path, cause;
    };
    const std::vector<Case> cases = {
        {"/raise_before", "RuntimeError: pympm-test-raise-before"},
        {"/raise_after_start", "RuntimeError: pympm-test-raise-after-start"},
        {"/item_str", "TypeError: the response iterable yielded str; every item must be bytes (PEP 3333)"},
        {"/item_str_gen", "TypeError: the response iterable yielded str; every item must be bytes"},
        {"/item_none", "TypeError: the response iterable yielded NoneType; every item must be bytes"},
        {"/item_int", "TypeError: the response iterable yielded int; every item must be bytes"},
        {"/not_iterable", "TypeError: 'int' object is not iterable"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.path) {
            FakeRequestIO io = get(c.path);
            BOOST_TEST(response_app().run(io) == 500);
            BOOST_TEST(io.calls().empty(), "nothing goes to httpd");
            BOOST_TEST(io.body().empty());
            BOOST_TEST(io.logged(LogLevel::error, "PM00020: app " + response_app().name()), io.log_text());
            BOOST_TEST(io.logged(LogLevel::error, " for " + c.path + ":"), "the log names the URI:\n" << io.log_text());
            BOOST_TEST(io.logged(LogLevel::error, c.cause), io.log_text());
            // The traceback comes one line per entry.
            BOOST_TEST(io.logged(LogLevel::error, "PM00021:   "), io.log_text());
            // The app's error is the app's: the next request is served.
            FakeRequestIO next = get("/list");
            BOOST_TEST(response_app().run(next) == 0);
            BOOST_TEST(next.body() == "hello list world\n");
        }
    }
}

// Bytes went out: the response is cut short (httpd closes the connection,
// and a chunked response gets no last chunk).
BOOST_AUTO_TEST_CASE(errors_after_bytes_went_out_abort_the_response) {
    struct Case {
        std::string path, body, cause;
    };
    const std::vector<Case> cases = {
        {"/item_str_after_bytes", "good bytes\n", "yielded str; every item must be bytes"},
        {"/midstream_raise", "partial-1\npartial-2\n", "RuntimeError: pympm-test-midstream-boom midstream_raise"},
        {"/midstream_raise_cl", "partial-1\n", "RuntimeError: pympm-test-midstream-boom midstream_raise_cl"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.path) {
            FakeRequestIO io = get(c.path);
            BOOST_TEST(response_app().run(io) == 0);
            BOOST_TEST(io.status() == 200);
            BOOST_TEST(io.body() == c.body);
            BOOST_TEST(io.aborted());
            BOOST_TEST(!io.finished());
            BOOST_TEST(io.logged(LogLevel::error, c.cause), io.log_text());
            BOOST_TEST(io.logged(LogLevel::error, " for " + c.path), io.log_text());
        }
    }
}

// PEP 3333: never more than the declared length; what is over is dropped
// and logged once, and the response is complete (the connection stays).
BOOST_AUTO_TEST_CASE(bytes_past_the_content_length_are_dropped) {
    for (const std::string path : {"/cl_longer", "/cl_longer_gen"}) {
        BOOST_TEST_CONTEXT(path) {
            FakeRequestIO io = get(path);
            BOOST_TEST(response_app().run(io) == 0);
            BOOST_TEST(io.body() == "12345");
            BOOST_TEST(io.finished());
            BOOST_TEST(!io.aborted());
            BOOST_TEST(io.count_logs(LogLevel::error) == 1u, io.log_text());
            BOOST_TEST(io.logged(LogLevel::error, "PM00023: app " + response_app().name() +
                                                      " produced more than its Content-Length of 5 bytes for " + path +
                                                      "; the excess was not sent"),
                       io.log_text());
        }
    }
    // The generator is not asked for more once the length is reached.
    BOOST_TEST(closes("cl_longer_gen") >= 1);
}

// Fewer bytes than declared: the client must see a truncated response.
BOOST_AUTO_TEST_CASE(a_body_shorter_than_its_content_length_is_cut) {
    for (const std::string path : {"/cl_shorter", "/cl_shorter_gen"}) {
        BOOST_TEST_CONTEXT(path) {
            FakeRequestIO io = get(path);
            BOOST_TEST(response_app().run(io) == 0);
            BOOST_TEST(io.header("Content-Length") == "100");
            BOOST_TEST(io.body() == "only ten..");
            BOOST_TEST(io.aborted());
            BOOST_TEST(!io.finished());
            BOOST_TEST(io.logged(LogLevel::error, "PM00025: app " + response_app().name() +
                                                      " sent 10 bytes but declared Content-Length 100 for " + path +
                                                      "; the connection is closed"),
                       io.log_text());
        }
    }
}

BOOST_AUTO_TEST_CASE(close_raising_after_a_complete_response_is_logged) {
    FakeRequestIO io = get("/close_raises");
    BOOST_TEST(response_app().run(io) == 0);
    BOOST_TEST(io.body() == "complete body\n");
    BOOST_TEST(io.finished());
    BOOST_TEST(!io.aborted());
    BOOST_TEST(io.logged(LogLevel::error, "PM00026: close() of the response iterable of " + response_app().name() +
                                              " raised for /close_raises (the response was already complete):"),
               io.log_text());
    BOOST_TEST(io.logged(LogLevel::error, "ValueError: pympm-test-close-boom close_raises"), io.log_text());
}

// PEP 3333: close() once, whatever happened.
BOOST_AUTO_TEST_CASE(close_is_called_exactly_once_in_every_path) {
    struct Case {
        std::string target, name;
        int status;       // what run() returns
        std::string body; // complete responses
        std::optional<std::size_t> client_gone_at;
    };
    for (const Case& c :
         {Case{"/tracked", "tracked", 0, "abc", {}}, Case{"/tracked_list_cl", "tracked_list_cl", 0, "abc", {}},
          Case{"/tracked_gen", "tracked_gen", 0, "first\nsecond\n", {}},
          Case{"/tracked_raises_first", "tracked_raises_first", 500, "", {}},
          Case{"/tracked_str", "tracked_str", 500, "", {}}, Case{"/midstream_raise", "midstream_raise", 0, "", {}},
          Case{"/midstream_raise_cl", "midstream_raise_cl", 0, "", {}},
          Case{"/cl_longer_gen", "cl_longer_gen", 0, "12345", {}},
          Case{"/close_raises", "close_raises", 0, "complete body\n", {}},
          Case{"/endless", "endless", 0, "", std::size_t{300000}}}) {
        BOOST_TEST_CONTEXT(c.target) {
            const int before = closes(c.name);
            FakeRequestIO io({.target = c.target, .client_gone_at_response_byte = c.client_gone_at});
            BOOST_TEST(response_app().run(io) == c.status, io.log_text());
            BOOST_TEST(closes(c.name) == before + 1);
            if (!c.body.empty()) BOOST_TEST(io.body() == c.body);
            if (c.status == 500) BOOST_TEST(io.count_logs(LogLevel::error) > 0u, "the failure is logged");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_client_gone_while_sending_stops_the_response_quietly) {
    FakeRequestIO io({.target = "/endless", .client_gone_at_response_byte = 300000});
    BOOST_TEST(response_app().run(io) == 0);
    BOOST_TEST(io.body().size() == 300000u);
    BOOST_TEST(io.sends().size() == 5u, "the generator is not asked for more once the client is gone");
    BOOST_TEST(io.count_logs(LogLevel::error) == 0u, io.log_text());
    BOOST_TEST(io.logged(LogLevel::info, "PM00024: client went away while " + response_app().name() +
                                             " was sending /endless: Broken pipe"),
               io.log_text());
}

// ----------------------------------------------------------- no body

// HEAD: the app's body is counted, never sent; the head is the GET's.
BOOST_AUTO_TEST_CASE(head_requests_send_no_body_bytes) {
    for (const std::string target : {"/list", "/generator", "/head_framework", "/write", "/tracked"}) {
        BOOST_TEST_CONTEXT(target) {
            FakeRequestIO g = get(target);
            BOOST_TEST_REQUIRE(response_app().run(g) == 0);
            FakeRequestIO h = get(target, "HEAD");
            BOOST_TEST(response_app().run(h) == 0);
            BOOST_TEST(h.status() == 200);
            BOOST_TEST(h.body().empty());
            for (const auto& s : h.sends()) BOOST_TEST(s.bytes == 0u, "a HEAD response passed body bytes");
            BOOST_TEST(h.header("Content-Type") == g.header("Content-Type"));
            BOOST_TEST(h.header("Content-Length") == g.header("Content-Length"));
            BOOST_TEST(h.finished());
            BOOST_TEST(!h.aborted(), "HEAD with the GET's Content-Length is no short body");
            BOOST_TEST(h.count_logs(LogLevel::error) == 0u, h.log_text());
        }
    }
}

// 204 and 304 have no body (RFC 9110): what the app returns is dropped, a
// Content-Length describes the resource, the response ends normally, and
// the head goes to httpd once.
BOOST_AUTO_TEST_CASE(no_content_and_not_modified_send_no_body) {
    for (const std::string status : {"204+No+Content", "304+Not+Modified"}) {
        for (const std::string body : {"", "0123456789"}) {
            BOOST_TEST_CONTEXT(status << " body '" << body << "'") {
                FakeRequestIO io = get("/status?" + status + "&10&" + body);
                BOOST_TEST(response_app().run(io) == 0);
                BOOST_TEST(io.status() == std::stoi(status.substr(0, 3)));
                BOOST_TEST(io.header("X-Own") == "1");
                BOOST_TEST(io.body().empty());
                BOOST_TEST(io.finished());
                BOOST_TEST(!io.aborted());
                BOOST_TEST(io.logs().empty(), io.log_text());
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
