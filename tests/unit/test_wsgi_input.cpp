// wsgi.input as an app reads it: read/readline/readlines/iteration with and
// without sizes, over a body with a Content-Length or chunked and arriving in
// uneven pieces; what the app sees when the client goes away or httpd
// refuses the body; a body refused before the app runs.
#include "embedded_python.h"
#include "fake_request_io.h"
#include "test_bodies.h"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace pympm;
using namespace pympm_test;

namespace {

// The body read back through the method PATH_INFO names, then checked to
// stay at its end.
const char* kInputApp = R"(
    from urllib.parse import parse_qs

    def read_all(inp, n):
        return inp.read()

    def read_minus1(inp, n):
        return inp.read(-1)

    def read_none(inp, n):
        return inp.read(None)

    def read_n(inp, n):
        parts = []
        while True:
            b = inp.read(n)
            if not b:
                break
            assert len(b) <= n, (len(b), n)
            parts.append(b)
        return b"".join(parts)

    def readline(inp, n):
        parts = []
        while True:
            line = inp.readline()
            if not line:
                break
            assert line.endswith(b"\n") or not inp.read(1)
            parts.append(line)
        return b"".join(parts)

    def readline_limit(inp, n):
        parts = []
        while True:
            line = inp.readline(n)
            if not line:
                break
            assert len(line) <= n, (len(line), n)
            parts.append(line)
        return b"".join(parts)

    def readlines(inp, n):
        return b"".join(inp.readlines())

    def readlines_hint(inp, n):
        parts = []
        while True:
            lines = inp.readlines(n)
            if not lines:
                break
            parts.extend(lines)
        return b"".join(parts)

    def iterate(inp, n):
        return b"".join(line for line in inp)

    METHODS = {
        "read": read_all, "read_minus1": read_minus1, "read_none": read_none, "read_n": read_n,
        "readline": readline, "readline_limit": readline_limit, "readlines": readlines,
        "readlines_hint": readlines_hint, "iter": iterate,
    }
    LAST_ERROR = {}

    def application(environ, start_response):
        q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
        inp = environ["wsgi.input"]
        name = environ["PATH_INFO"].strip("/")
        if name in METHODS:
            body = METHODS[name](inp, int(q.get("n", "8192")))
            # At the end of the body every method keeps returning nothing.
            assert inp.read() == b"" and inp.read(10) == b"" and inp.readline() == b""
            assert inp.readlines() == [] and list(inp) == []
            start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                      ("X-Input-Terminated", str(environ.get("wsgi.input_terminated"))),
                                      ("X-Content-Length", environ.get("CONTENT_LENGTH", "<absent>"))])
            return [body]
        if name == "ignore":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"body not read\n"]
        if name.startswith("read_until_error"):
            # Reads until the body fails; what the app saw goes to LAST_ERROR.
            parts = []
            try:
                while part := inp.read(65536):
                    parts.append(part)
            except Exception as e:
                LAST_ERROR.update(type=type(e).__name__, is_oserror=isinstance(e, OSError), got=sum(map(len, parts)))
                if name.endswith("_raise"):
                    raise
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"caught\n"]
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"read %d bytes\n" % sum(map(len, parts))]
        raise KeyError(name)
)";

WsgiApp& input_app() {
    static WsgiApp* app = new WsgiApp(kInputApp);
    return *app;
}

std::string last_error(const char* key) { return input_app().eval(std::string("LAST_ERROR.get('") + key + "')"); }

// A POST whose body comes in `chunks`: chunked, or with its Content-Length.
FakeRequestIO post(const std::string& target, std::vector<std::string> chunks, bool chunked) {
    std::uint64_t size = 0;
    for (const auto& c : chunks) size += c.size();
    return FakeRequestIO({.method = "POST",
                          .target = target,
                          .body = std::move(chunks),
                          .chunked = chunked,
                          .content_length = chunked ? std::nullopt : std::optional<std::uint64_t>(size)});
}

} // namespace

BOOST_AUTO_TEST_SUITE(wsgi_input)

BOOST_AUTO_TEST_CASE(uploads_read_back_byte_for_byte) {
    struct Method {
        const char* name;
        const char* query;
    };
    const Method methods[] = {{"read", ""},
                              {"read_minus1", ""},
                              {"read_none", ""},
                              {"read_n", "?n=1000"},
                              {"read_n", "?n=1"},
                              {"readline", ""},
                              {"readline_limit", "?n=777"},
                              {"readlines", ""},
                              {"readlines_hint", "?n=5000"},
                              {"iter", ""}};
    // Up to 1.2 MiB (a 150 KB line at 1 MiB, past the core's 64 KiB read
    // buffer; several doublings of a chunked read); 8 MiB in the next case.
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{64} << 10, std::size_t{1200} << 10}) {
        const std::string body = make_body(size, static_cast<std::uint32_t>(size) + 1);
        const std::vector<std::string> pieces = split_chunks(body);
        for (const auto& m : methods) {
            // read(1) over 1 MiB is a million Python calls: skip that one.
            if (size > (1u << 20) && std::strcmp(m.query, "?n=1") == 0) continue;
            for (bool chunked : {true, false}) {
                BOOST_TEST_CONTEXT(m.name << m.query << " size " << size
                                          << (chunked ? " chunked" : " Content-Length")) {
                    FakeRequestIO io = post(std::string("/") + m.name + m.query, pieces, chunked);
                    BOOST_TEST_REQUIRE(input_app().run(io) == 0, io.log_text());
                    BOOST_TEST(io.status() == 200, io.log_text());
                    BOOST_TEST(io.body().size() == body.size());
                    BOOST_TEST((io.body() == body), "the body read back differs");
                    BOOST_TEST(io.body_read() == body.size());
                    BOOST_TEST(io.header("X-Input-Terminated") == "True");
                    if (chunked)
                        BOOST_TEST(io.header("X-Content-Length") == "<absent>");
                    else
                        BOOST_TEST(io.header("X-Content-Length") == std::to_string(size));
                }
            }
        }
    }
}

// An 8 MiB body read whole: read() grows its bytes object by doubling to
// the whole body (chunked) or takes it at once (Content-Length). The other
// methods go by the core's buffer, whatever the body's size (above).
BOOST_AUTO_TEST_CASE(large_uploads_read_back_byte_for_byte) {
    const std::string body = make_body(std::size_t{8} << 20, 8);
    const std::vector<std::string> pieces = split_chunks(body);
    for (const char* target : {"/read", "/read_minus1"}) {
        for (bool chunked : {true, false}) {
            BOOST_TEST_CONTEXT(target << (chunked ? " chunked" : " Content-Length")) {
                FakeRequestIO io = post(target, pieces, chunked);
                BOOST_TEST_REQUIRE(input_app().run(io) == 0, io.log_text());
                BOOST_TEST(io.body().size() == body.size());
                BOOST_TEST((io.body() == body), "the body read back differs");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(an_unread_body_is_left_to_httpd) {
    FakeRequestIO io = post("/ignore", split_chunks(make_body(300000, 3)), false);
    BOOST_TEST(input_app().run(io) == 0);
    BOOST_TEST(io.body() == "body not read\n");
    BOOST_TEST(io.body_read() == 0u, "nothing is read ahead of the app");
}

// The client goes away mid-body: the app gets what arrived, then an
// OSError (pympm.ClientDisconnected); nothing is logged as an error.
BOOST_AUTO_TEST_CASE(a_client_gone_mid_body_is_an_oserror) {
    for (const std::string target : {"/read_until_error_raise", "/read_until_error"}) {
        BOOST_TEST_CONTEXT(target) {
            FakeRequestIO io({.method = "POST",
                              .target = target,
                              .body = {std::string(60000, 'b'), std::string(40000, 'b')},
                              .content_length = 1000000,
                              .client_gone_at_body_byte = 100000});
            const int status = input_app().run(io);
            BOOST_TEST(last_error("type") == "ClientDisconnected");
            BOOST_TEST(last_error("is_oserror") == "True");
            BOOST_TEST(last_error("got") == "100000", "what arrived comes first, then the error");
            BOOST_TEST(io.logged(LogLevel::info, "PM00027: reading the body of " + target +
                                                     " failed: the client went away while sending the request body"),
                       io.log_text());
            BOOST_TEST(io.count_logs(LogLevel::error) == 0u, io.log_text());
            if (target == "/read_until_error_raise") {
                // Nobody reads an answer; the app's re-raise is no app bug.
                BOOST_TEST(status == 400);
                BOOST_TEST(!io.head());
                BOOST_TEST(io.logged(LogLevel::info, "PM00050: app " + input_app().name() + " stopped serving " +
                                                         target + ": ClientDisconnected"),
                           io.log_text());
            } else {
                BOOST_TEST(status == 0);
                BOOST_TEST(io.status() == 400);
            }
        }
    }
}

// httpd's input filter refuses a chunked body over LimitRequestBody while
// the app reads it, and answers 413 itself: the app sees an OSError
// (pympm.RequestBodyError) and nothing it sends goes out.
BOOST_AUTO_TEST_CASE(a_body_refused_while_read_is_a_request_body_error) {
    FakeRequestIO io({.method = "POST",
                      .target = "/read_until_error_raise",
                      .body = split_chunks(make_body(150000, 9)),
                      .chunked = true,
                      .refuse_body_at_byte = 100000});
    BOOST_TEST(input_app().run(io) == 0, "httpd answered already");
    BOOST_TEST(!io.head());
    BOOST_TEST(last_error("type") == "RequestBodyError");
    BOOST_TEST(last_error("is_oserror") == "True");
    BOOST_TEST(last_error("got") == "100000");
    BOOST_TEST(io.logged(LogLevel::info, "PM00027: reading the body of /read_until_error_raise failed: httpd refused "
                                         "the request body and answered 413"),
               io.log_text());
    BOOST_TEST(io.logged(LogLevel::info, "PM00050: app " + input_app().name() +
                                             " stopped serving /read_until_error_raise: RequestBodyError"),
               io.log_text());
    BOOST_TEST(io.count_logs(LogLevel::error) == 0u, io.log_text());

    // An app that answers anyway: httpd drops it.
    FakeRequestIO caught({.method = "POST",
                          .target = "/read_until_error",
                          .body = split_chunks(make_body(150000, 9)),
                          .chunked = true,
                          .refuse_body_at_byte = 100000});
    BOOST_TEST(input_app().run(caught) == 0);
    BOOST_TEST(!caught.head());
    BOOST_TEST(caught.body().empty());
    BOOST_TEST(caught.count_logs(LogLevel::error) == 0u, caught.log_text());

    // Refused without an answer of httpd's (too large to buffer): the core
    // answers with the status.
    FakeRequestIO unanswered({.method = "POST",
                              .target = "/read_until_error_raise",
                              .body = split_chunks(make_body(150000, 9)),
                              .chunked = true,
                              .refuse_body_at_byte = 100000,
                              .refusal_answered_by_httpd = false});
    BOOST_TEST(input_app().run(unanswered) == 413);
    BOOST_TEST(!unanswered.head());
}

// A declared length over LimitRequestBody: 413 before the app runs, even
// for an app that would not read the body.
BOOST_AUTO_TEST_CASE(a_body_refused_early_never_reaches_the_app) {
    for (const std::string target : {"/read_until_error_raise", "/ignore"}) {
        BOOST_TEST_CONTEXT(target) {
            input_app().eval("LAST_ERROR.clear()");
            FakeRequestIO io({.method = "POST",
                              .target = target,
                              .body = {make_body(150000, 9)},
                              .refuse_early_status = 413,
                              .refuse_early_why = "its Content-Length 150000 exceeds LimitRequestBody 100000"});
            BOOST_TEST(input_app().run(io) == 413);
            BOOST_TEST(io.calls().empty());
            BOOST_TEST(io.body_read() == 0u);
            BOOST_TEST(last_error("type") == "None", "the app did not run");
            BOOST_TEST(io.logged(LogLevel::info, "PM00051: request body of " + target +
                                                     " refused with 413 before calling " + input_app().name() +
                                                     ": its Content-Length 150000 exceeds LimitRequestBody 100000"),
                       io.log_text());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
