// PEP 3333's start_response as the WSGI core enforces it: what an app may
// give as status and headers, and what happens when it breaks a rule (the
// app sees an exception; the client gets httpd's 500 and nothing of the
// app's response). Each case: the app, the request, what the core did.
#include "embedded_python.h"
#include "fake_request_io.h"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace pympm;
using namespace pympm_test;

namespace {

// The app raised in start_response (or broke a rule): 500 for httpd to
// send, nothing of the app's response given to httpd, and the cause in an
// error line (the traceback's last line, or the rule) with the URI.
void expect_refused(const FakeRequestIO& io, int status, const std::string& cause) {
    BOOST_TEST(status == 500);
    BOOST_TEST(!io.head(), "a head went to httpd: " << io.status());
    BOOST_TEST(io.calls().empty());
    BOOST_TEST(io.body().empty());
    BOOST_TEST(io.logged(LogLevel::error, cause), "no error line says '" << cause << "':\n" << io.log_text());
    BOOST_TEST(io.logged(LogLevel::error, std::string(io.uri())), "the log names the URI:\n" << io.log_text());
}

// An app that calls start_response(STATUS, HEADERS) as a case gives them
// (Python expressions), then returns a body that must never be sent.
const char* kCaseApp = R"(
    CASES = {}

    def application(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/fine":
            body = b"valid response\n"
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        status, headers = CASES[path]
        start_response(status, headers)
        return [b"MUST-NOT-BE-SENT"]
)";

struct Case {
    std::string status; // Python expressions
    std::string headers;
    std::string cause; // in the error log
};

void check_cases(const std::vector<Case>& cases) {
    WsgiApp app(kCaseApp);
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        BOOST_TEST_CONTEXT("start_response(" << c.status << ", " << c.headers << ")") {
            app.eval("CASES.__setitem__('/" + std::to_string(i) + "', (" + c.status + ", " + c.headers + "))");
            FakeRequestIO io({.target = "/" + std::to_string(i)});
            expect_refused(io, app.run(io), c.cause);
            // The app's error is the app's: the next request is served.
            FakeRequestIO fine({.target = "/fine"});
            BOOST_TEST(app.run(fine) == 0);
            BOOST_TEST(fine.body() == "valid response\n");
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(wsgi_start_response)

BOOST_AUTO_TEST_CASE(invalid_status_lines_give_500) {
    check_cases({
        {"'abc'", "[]", "ValueError: invalid status 'abc': write a three-digit code, a space and a reason"},
        {"'2000 Too Big'", "[]", "ValueError: invalid status '2000 Too Big'"},
        {"'99 Too Small'", "[]", "ValueError: invalid status '99 Too Small'"},
        {"'200'", "[]", "ValueError: invalid status '200'"},
        {"'200 O\\nK'", "[]", "ValueError: invalid status '200 O\\nK'"},
        {"b'200 OK'", "[]", "TypeError: status must be str, not bytes"},
        {"'200 \\u2603'", "[]", "ValueError: status '200 \u2603' is not latin-1 (PEP 3333 native string)"},
    });
}

// An interim status line would reach the client before the real response
// (which then reads the body as the next response); HTTP stops at 599.
BOOST_AUTO_TEST_CASE(interim_and_out_of_range_statuses_give_500) {
    check_cases({
        {"'100 Continue'", "[]", "ValueError: status '100 Continue' is an interim (1xx) response"},
        {"'101 Switching Protocols'", "[]", "ValueError: status '101 Switching Protocols' is an interim (1xx)"},
        {"'103 Early Hints'", "[]", "ValueError: status '103 Early Hints' is an interim (1xx)"},
        {"'600 Odd'", "[]", "ValueError: status '600 Odd' is outside 200-599, which HTTP defines"},
        {"'999 Max'", "[]", "ValueError: status '999 Max' is outside 200-599"},
    });
}

BOOST_AUTO_TEST_CASE(headers_that_are_not_a_list_of_str_pairs_give_500) {
    check_cases({
        {"'200 OK'", "(('A', 'b'),)", "TypeError: response headers must be a list, not tuple"},
        {"'200 OK'", "None", "TypeError: response headers must be a list, not NoneType"},
        {"'200 OK'", "['X-Evil: yes']",
         "TypeError: response header 0 must be a (name, value) tuple, not 'X-Evil: yes'"},
        {"'200 OK'", "[('A', 'b'), ['C', 'd']]", "TypeError: response header 1 must be a (name, value) tuple"},
        {"'200 OK'", "[('A', 'b', 'c')]", "TypeError: response header 0 must be a (name, value) tuple"},
        {"'200 OK'", "[(b'A', 'b')]", "TypeError: header name must be str, not bytes"},
        {"'200 OK'", "[('A', 1)]", "TypeError: header value must be str, not int"},
        {"'200 OK'", "[('X-Snowman', '\\u2603')]",
         "ValueError: header value '\u2603' is not latin-1 (PEP 3333 native string)"},
    });
}

BOOST_AUTO_TEST_CASE(header_names_must_be_tokens) {
    check_cases({
        {"'200 OK'", "[('Bad Header', 'x')]",
         "ValueError: invalid response header name 'Bad Header': must be an HTTP token"},
        {"'200 OK'", "[('Bad:Header', 'x')]", "ValueError: invalid response header name 'Bad:Header'"},
        {"'200 OK'", "[('', 'x')]", "ValueError: invalid response header name ''"},
        {"'200 OK'", "[('X-A\\r\\nInjected', 'x')]",
         "ValueError: invalid response header name 'X-A\\x0d\\x0aInjected'"},
        {"'200 OK'", "[('X-\\x00', 'x')]", "ValueError: invalid response header name 'X-\\x00'"},
        {"'200 OK'", "[('Caf\\xe9', 'x')]", "ValueError: invalid response header name 'Caf\\xe9'"},
    });
}

BOOST_AUTO_TEST_CASE(header_values_without_cr_lf_or_controls) {
    check_cases({
        {"'200 OK'", "[('X-Evil', 'a\\r\\nInjected: yes')]",
         "ValueError: invalid value for response header 'X-Evil': CR, LF and control characters are not allowed"},
        {"'200 OK'", "[('X-Evil', 'a\\nInjected: yes')]", "ValueError: invalid value for response header 'X-Evil'"},
        {"'200 OK'", "[('X-Evil', 'a\\rb')]", "ValueError: invalid value for response header 'X-Evil'"},
        {"'200 OK'", "[('X-Evil', 'a\\x01b')]", "ValueError: invalid value for response header 'X-Evil'"},
        {"'200 OK'", "[('X-Evil', 'a\\x00b')]", "ValueError: invalid value for response header 'X-Evil'"},
        {"'200 OK'", "[('X-Evil', 'a\\x7fb')]", "ValueError: invalid value for response header 'X-Evil'"},
    });
}

// RFC 9110's obs-text (bytes 0x80-0xff) is allowed in a value, as latin-1
// characters give them; tabs too.
BOOST_AUTO_TEST_CASE(obs_text_and_tabs_in_values_pass_as_latin1_bytes) {
    WsgiApp app(R"(
        def application(environ, start_response):
            start_response("200 OK", [("X-Name", "caf\xe9\tcr\xe8me \xff")])
            return [b"ok"]
    )");
    FakeRequestIO io;
    BOOST_TEST(app.run(io) == 0);
    BOOST_TEST(io.header("X-Name") == "caf\xe9\tcr\xe8me \xff");
    BOOST_TEST(io.body() == "ok");
}

BOOST_AUTO_TEST_CASE(hop_by_hop_headers_give_500) {
    std::vector<Case> cases;
    for (const char* name : {"Connection", "keep-alive", "Transfer-Encoding", "TE", "Trailers", "Upgrade",
                             "Proxy-Authenticate", "Proxy-Authorization"})
        cases.push_back({"'200 OK'", std::string("[('") + name + "', 'x')]",
                         std::string("ValueError: hop-by-hop header '") + name +
                             "' is not allowed in a WSGI response; httpd manages the connection"});
    check_cases(cases);
}

BOOST_AUTO_TEST_CASE(content_length_must_be_a_length_httpd_can_send) {
    check_cases({
        {"'200 OK'", "[('Content-Length', 'ten')]", "ValueError: invalid Content-Length 'ten'"},
        {"'200 OK'", "[('Content-Length', '')]", "ValueError: invalid Content-Length ''"},
        {"'200 OK'", "[('Content-Length', '-1')]", "ValueError: invalid Content-Length '-1'"},
        {"'200 OK'", "[('Content-Length', '1 ')]", "ValueError: invalid Content-Length '1 '"},
        {"'200 OK'", "[('Content-Length', '+1')]", "ValueError: invalid Content-Length '+1'"},
        {"'200 OK'", "[('Content-Length', '0x10')]", "ValueError: invalid Content-Length '0x10'"},
        {"'200 OK'", "[('Content-Length', str(2**63))]",
         "ValueError: Content-Length '9223372036854775808' is larger than httpd can send (2**63 - 1)"},
        {"'200 OK'", "[('Content-Length', str(2**64))]", "ValueError: invalid Content-Length '18446744073709551616'"},
        {"'200 OK'", "[('Content-Length', '5'), ('content-length', '6')]",
         "ValueError: two different Content-Length headers (5 and '6')"},
    });
}

BOOST_AUTO_TEST_CASE(the_largest_content_length_and_repeated_equal_ones_pass) {
    WsgiApp app(R"(
        def application(environ, start_response):
            if environ["PATH_INFO"] == "/max":
                start_response("200 OK", [("Content-Length", str(2**63 - 1))])
            else:
                start_response("200 OK", [("Content-Length", "2"), ("Content-Length", "2")])
            return [b"ab"]
    )");
    FakeRequestIO max({.target = "/max"});
    // Two bytes of 2**63 - 1: cut short, but the head was acceptable.
    BOOST_TEST(app.run(max) == 0);
    BOOST_TEST(max.header("Content-Length") == "9223372036854775807");
    BOOST_TEST(max.body() == "ab");
    BOOST_TEST(max.aborted());
    FakeRequestIO twice({.target = "/twice"});
    BOOST_TEST(app.run(twice) == 0);
    BOOST_TEST(twice.body() == "ab");
    BOOST_TEST(twice.finished());
    BOOST_TEST(twice.logs().empty(), twice.log_text());
}

BOOST_AUTO_TEST_CASE(wrong_arguments_give_500) {
    WsgiApp app(R"(
        import sys
        CALLS = {
            "/none": lambda sr: sr(),
            "/one": lambda sr: sr("200 OK"),
            "/four": lambda sr: sr("200 OK", [], None, 1),
            "/keyword": lambda sr: sr("200 OK", [], nonsense=1),
            "/exc_info_not_a_tuple": lambda sr: sr("200 OK", [], "not a tuple"),
        }

        def application(environ, start_response):
            CALLS[environ["PATH_INFO"]](start_response)
            return [b"MUST-NOT-BE-SENT"]
    )");
    struct Arg {
        const char* path;
        const char* cause;
    };
    // CPython's own wording of argument errors varies between versions.
    for (const Arg& a : {Arg{"/none", "TypeError: start_response() missing required argument 'status'"},
                         Arg{"/one", "TypeError: start_response() missing required argument 'headers'"},
                         Arg{"/four", "TypeError: start_response() takes at most 3 arguments (4 given)"},
                         Arg{"/keyword", "'nonsense'"}}) {
        BOOST_TEST_CONTEXT(a.path) {
            FakeRequestIO io({.target = a.path});
            expect_refused(io, app.run(io), a.cause);
        }
    }
    // exc_info is looked at only once the response began: before that, it
    // just lets start_response replace the head.
    FakeRequestIO early({.target = "/exc_info_not_a_tuple"});
    BOOST_TEST(app.run(early) == 0);
    BOOST_TEST(early.status() == 200);
}

BOOST_AUTO_TEST_CASE(keyword_arguments_are_accepted) {
    WsgiApp app(R"(
        def application(environ, start_response):
            start_response(status="201 Created", headers=[("X-K", "v")], exc_info=None)
            return [b"made"]
    )");
    FakeRequestIO io;
    BOOST_TEST(app.run(io) == 0);
    BOOST_TEST(io.status() == 201);
    BOOST_TEST(io.head()->status_line == "201 Created");
    BOOST_TEST(io.header("X-K") == "v");
    BOOST_TEST(io.body() == "made");
}

BOOST_AUTO_TEST_CASE(a_second_call_without_exc_info_gives_500) {
    WsgiApp app(R"(
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"MUST-NOT-BE-SENT"]
    )");
    FakeRequestIO io({.target = "/start_twice"});
    expect_refused(io, app.run(io),
                   "AssertionError: start_response() called a second time without exc_info (PEP 3333)");
}

BOOST_AUTO_TEST_CASE(exc_info_before_any_byte_replaces_the_head) {
    WsgiApp app(R"(
        import sys
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
            try:
                raise KeyError("handled")
            except KeyError:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("X-Second", "1")],
                               sys.exc_info())
            return [b"replaced\n"]
    )");
    FakeRequestIO io;
    BOOST_TEST(app.run(io) == 0);
    BOOST_TEST(io.status() == 503);
    BOOST_TEST(io.head()->status_line == "503 Service Unavailable");
    BOOST_TEST(io.header("X-Second") == "1");
    BOOST_TEST(!io.has_header("X-First"), "exc_info replaces the headers");
    BOOST_TEST(io.body() == "replaced\n");
    BOOST_TEST(io.finished());
    BOOST_TEST(io.logs().empty(), io.log_text());
}

// Once bytes are out the status cannot change: start_response re-raises
// the app's exception, and the response is cut short.
BOOST_AUTO_TEST_CASE(exc_info_after_bytes_were_sent_reraises_and_cuts_the_response) {
    WsgiApp app(R"(
        import sys
        def application(environ, start_response):
            def gen():
                yield b"already sent\n"
                try:
                    raise KeyError("pympm-test-exc-info-too-late")
                except KeyError:
                    start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
                yield b"MUST-NOT-BE-SENT"
            start_response("200 OK", [("Content-Type", "text/plain")])
            return gen()
    )");
    FakeRequestIO io({.target = "/exc_info_too_late"});
    BOOST_TEST(app.run(io) == 0);
    BOOST_TEST(io.status() == 200);
    BOOST_TEST(io.body() == "already sent\n");
    BOOST_TEST(io.aborted());
    BOOST_TEST(io.logged(LogLevel::error, "KeyError: 'pympm-test-exc-info-too-late'"), io.log_text());
    BOOST_TEST(io.logged(LogLevel::error, "PM00020: app " + app.name() +
                                              " failed while producing its response for "
                                              "/exc_info_too_late"),
               io.log_text());
}

// The write callable comes from start_response; start_response.write is
// the same method, which refuses to write before start_response was called.
BOOST_AUTO_TEST_CASE(write_before_start_response_gives_500) {
    WsgiApp app(R"(
        def application(environ, start_response):
            if environ["PATH_INFO"] == "/write_first":
                start_response.write(b"MUST-NOT-BE-SENT")
            start_response("200 OK", [])
            start_response.write(b"x")
            return []
    )");
    FakeRequestIO io({.target = "/write_first"});
    expect_refused(io, app.run(io), "AssertionError: write() called before start_response() (PEP 3333)");
    FakeRequestIO ok;
    BOOST_TEST(app.run(ok) == 0);
    BOOST_TEST(ok.body() == "x");
}

BOOST_AUTO_TEST_CASE(write_takes_bytes_only) {
    WsgiApp app(R"(
        def application(environ, start_response):
            write = start_response("200 OK", [])
            write("MUST-NOT-BE-SENT")
            return []
    )");
    FakeRequestIO io({.target = "/write_str"});
    expect_refused(io, app.run(io), "TypeError: write() takes bytes, not str");
}

// start_response may come during the first iteration (PEP 3333).
BOOST_AUTO_TEST_CASE(start_response_in_the_first_iteration) {
    WsgiApp app(R"(
        def application(environ, start_response):
            def gen():
                start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
                yield b"lazy body\n"
            return gen()
    )");
    FakeRequestIO io;
    BOOST_TEST(app.run(io) == 0);
    BOOST_TEST(io.status() == 200);
    BOOST_TEST(io.header("X-Lazy") == "yes");
    BOOST_TEST(io.body() == "lazy body\n");
    BOOST_TEST(io.finished());
}

BOOST_AUTO_TEST_CASE(no_start_response_gives_500) {
    WsgiApp app(R"(
        def application(environ, start_response):
            if environ["PATH_INFO"] == "/empty":
                return []
            return [b"MUST-NOT-BE-SENT"]
    )");
    FakeRequestIO io({.target = "/no_start_response"});
    expect_refused(io, app.run(io),
                   "PM00022: app " + app.name() +
                       ": the app produced body bytes without calling start_response() first "
                       "(PEP 3333) (/no_start_response)");
    FakeRequestIO empty({.target = "/empty"});
    expect_refused(empty, app.run(empty),
                   "PM00022: app " + app.name() +
                       ": the app returned without ever calling start_response() (PEP 3333) "
                       "(/empty)");
}

BOOST_AUTO_TEST_SUITE_END()
