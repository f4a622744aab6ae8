// End-to-end tests of the PEP 3333 server side where httpd takes part: the
// standard library's checker (wsgiref.validate) against httpd's environ, a
// body left unread on a kept-alive connection, a blocked read that lets the
// GIL go, LimitRequestBody and a client that goes away, streaming as it
// reaches the client, a large file sent without a copy, how each kind of
// error reaches the client (a status, or a response cut short), and the
// environ (PATH_INFO, REMOTE_USER, HTTPS, HTTP/2). What the core sends for
// what an app returns (start_response, Content-Length, HEAD, file_wrapper,
// wsgi.input's methods) are unit tests: tests/unit/test_wsgi_*.cpp.
#include "http_client.h"
#include "httpd_server.h"
#include "test_bodies.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace pympm_test;
using namespace std::chrono_literals;

namespace {

std::size_t count_of(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
    return n;
}

// One prefork child: every request reaches the same interpreter, so "the
// child serves on" is checked by its pid.
HttpdOptions one_child(std::string pympm_config, std::string extra = "") {
    HttpdOptions o = prefork_one_child(std::move(pympm_config));
    o.extra_config = std::move(extra);
    return o;
}

// One child of `mpm`: prefork, or a threaded MPM with 4 threads.
HttpdOptions one_child_of(Mpm mpm, std::string pympm_config) {
    HttpdOptions o = one_child(std::move(pympm_config));
    if (mpm != Mpm::prefork) {
        o.mpm = mpm;
        o.threads_per_child = 4;
        o.max_request_workers = 4;
        o.thread_limit = 4;
    }
    return o;
}

std::string get_ok(HttpdServer& srv, const std::string& target) {
    auto r = http_get(srv.port(), target);
    BOOST_REQUIRE_MESSAGE(r.status == 200, target << " answered " << r.status << ": " << r.body);
    return r.body;
}

struct RawResult {
    int status = 0;
    std::string head;
    std::string body; // as on the wire (chunk framing included)
    bool closed = false;
    std::size_t status_lines = 0;
    std::uint16_t local_port = 0;
};

RawResult raw_request(HttpdServer& srv, const std::string& method, const std::string& target) {
    auto reply = raw_exchange(srv.port(),
                              method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 20s);
    RawResult r;
    auto [head, body] = split_head(reply.data);
    r.head = head;
    r.body = body;
    r.closed = reply.closed;
    r.local_port = reply.local_port;
    r.status_lines = count_of(reply.data, "HTTP/1.1 ") + count_of(reply.data, "HTTP/1.0 ");
    if (head.size() > 12) r.status = std::atoi(head.substr(9, 3).c_str());
    return r;
}

std::string header_of(const std::string& head, const std::string& name) {
    std::istringstream in(head);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        if (strcasecmp(line.substr(0, colon).c_str(), name.c_str()) == 0) {
            std::string v = line.substr(colon + 1);
            while (!v.empty() && v.front() == ' ') v.erase(0, 1);
            return v;
        }
    }
    return "";
}

// The response was cut short: the connection closed before the body ended
// (no last chunk, or fewer bytes than Content-Length), with one status line.
void expect_aborted(const RawResult& r, const std::string& what) {
    BOOST_TEST(r.status == 200, what << ": " << r.head);
    BOOST_TEST(r.status_lines == 1u, what << ": never a second status line");
    BOOST_TEST(r.closed, what << ": the connection must be closed");
    const std::string cl = header_of(r.head, "Content-Length");
    if (!cl.empty()) {
        BOOST_TEST(r.body.size() < std::stoull(cl), what << ": a full body of " << cl << " bytes arrived");
    } else {
        BOOST_TEST(header_of(r.head, "Transfer-Encoding") == "chunked", what << ": " << r.head);
        BOOST_TEST(!ends_with(r.body, "0\r\n\r\n"), what << ": the last chunk was sent: " << r.body);
    }
    BOOST_TEST(!contains(r.body, "MUST-NOT-BE-SENT"), what);
}

// Waits for a log line from `mark` on; fails the test if none.
void expect_log(HttpdServer& srv, const std::string& regex, std::size_t mark) {
    BOOST_TEST(!srv.wait_for_log(regex, 10s, mark).empty(), "no error-log line matches: " << regex);
}

} // namespace

// ====================================================== wsgiref.validate

BOOST_AUTO_TEST_SUITE(wsgi_validator)

BOOST_AUTO_TEST_CASE(validated_app_sees_no_violation) {
    HttpdServer srv(one_child("PyApp /v @APPS@/wsgi_validated_app.py"));
    srv.start();
    const std::uint16_t port = srv.port();

    auto hello = http_get(port, "/v/hello");
    BOOST_TEST(hello.status == 200);
    BOOST_TEST(hello.body == "hello validated world\n");

    HttpRequest head;
    head.method = "HEAD";
    head.target = "/v/hello";
    auto h = http_request(port, head);
    BOOST_TEST(h.status == 200);
    BOOST_TEST(h.body.empty());
    BOOST_TEST(h.headers.get("Content-Length") == "22");

    const std::string body = make_body(300000, 7);
    const std::string expect_suffix = std::to_string(body.size()) + " ";
    HttpRequest post;
    post.method = "POST";
    post.target = "/v/echo";
    post.body = body;
    auto p = http_request(port, post);
    BOOST_TEST(p.status == 200);
    BOOST_TEST(p.body.rfind(expect_suffix, 0) == 0u, p.body);

    HttpRequest chunked = post;
    chunked.body.clear();
    chunked.chunks = split_chunks(body);
    auto c = http_request(port, chunked);
    BOOST_TEST(c.status == 200);
    BOOST_TEST(c.body == p.body, "chunked and Content-Length bodies read the same");

    HttpRequest lines = chunked;
    lines.target = "/v/lines";
    lines.chunks = {"first line\n", "second\nthird\n", "fourth"};
    auto l = http_request(port, lines);
    BOOST_TEST(l.status == 200);
    BOOST_TEST(l.body == "11 3\n");

    auto s = http_get(port, "/v/stream");
    BOOST_TEST(s.status == 200);
    BOOST_TEST(s.body == "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");

    auto w = http_get(port, "/v/write");
    BOOST_TEST(w.status == 200);
    BOOST_TEST(w.body == "via write()\nand iterable\n");

    auto f = http_get(port, "/v/file");
    BOOST_TEST(f.status == 200);
    std::ifstream src(test_apps_dir() + "/wsgi_validated_app.py", std::ios::binary);
    std::string expected_file((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
    BOOST_TEST((f.body == expected_file));

    auto fl = http_get(port, "/v/filelike");
    BOOST_TEST(fl.status == 200);
    BOOST_TEST(fl.body.size() == 1500u);

    auto e = http_get(port, "/v/exc_info");
    BOOST_TEST(e.status == 500);
    BOOST_TEST(e.body == "handled error\n");

    BOOST_TEST(!contains(srv.error_log(), "AssertionError"), srv.error_log());
    BOOST_TEST(!contains(srv.error_log(), "WSGIWarning"), srv.error_log());
    BOOST_TEST(!contains(srv.error_log(), "garbage collected without being closed"));
}

BOOST_AUTO_TEST_SUITE_END()

// ============================================================ wsgi.input

BOOST_AUTO_TEST_SUITE(wsgi_input)

BOOST_AUTO_TEST_CASE(unread_body_keeps_the_connection_usable) {
    HttpdServer srv(one_child("PyApp /in @APPS@/wsgi_input_app.py"));
    srv.start();
    HttpConnection conn(srv.port());
    const std::string body = make_body(300000, 3);
    for (bool chunked : {false, true}) {
        HttpRequest ignore;
        ignore.method = "POST";
        ignore.target = "/in/ignore";
        ignore.keep_alive = true;
        if (chunked)
            ignore.chunks = split_chunks(body);
        else
            ignore.body = body;
        auto r = conn.request(ignore);
        BOOST_TEST(r.status == 200);
        BOOST_TEST(r.body == "body not read\n");
        BOOST_TEST_REQUIRE(conn.is_open(), "httpd discards the unread body and keeps the connection");

        HttpRequest next;
        next.method = "POST";
        next.target = "/in/read";
        next.body = "next request on the same connection";
        next.keep_alive = true;
        auto r2 = conn.request(next);
        BOOST_TEST(r2.status == 200);
        BOOST_TEST(r2.body == next.body);
        BOOST_TEST_REQUIRE(conn.is_open());
    }
}

BOOST_AUTO_TEST_CASE(blocked_read_does_not_hold_the_gil) {
    HttpdServer srv(one_child("PyApp /in @APPS@/wsgi_input_app.py"));
    srv.start();
    HttpConnection conn(srv.port());
    const auto deadline = Clock::now() + 20s;
    conn.send_all("POST /in/read_ticks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"
                  "Connection: close\r\n\r\nhello",
                  deadline);
    // The app is now blocked in read() for the rest of the body.
    std::this_thread::sleep_for(1s);
    conn.send_all("world", deadline);
    auto r = conn.read_response(false, deadline);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    auto j = parse_flat_json(r.body);
    BOOST_TEST(at(j, "size") == "10");
    BOOST_TEST(std::stod(at(j, "seconds")) >= 0.5);
    // ~100 ticks in 1 s; none could happen if the read kept the GIL.
    BOOST_TEST(std::stoi(at(j, "ticks")) >= 20,
               "the app's thread ran " << at(j, "ticks") << " times while the request waited for its body");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================ body limits, disconnects

BOOST_AUTO_TEST_SUITE(wsgi_body_errors)

BOOST_AUTO_TEST_CASE(limit_request_body_gives_413) {
    HttpdServer srv(one_child("PyApp /in @APPS@/wsgi_input_app.py", "LimitRequestBody 100000\n"));
    srv.start();
    const std::string pid = at(parse_flat_json(get_ok(srv, "/in/last_error")), "pid_now");
    const std::string body = make_body(150000, 9);

    // A declared length over the limit: 413 before the app runs, even for
    // an app that would not read the body.
    for (const std::string target : {"/in/read_until_error_raise", "/in/ignore"}) {
        std::size_t mark = srv.log_mark();
        HttpRequest req;
        req.method = "POST";
        req.target = target;
        req.body = body;
        auto r = http_request(srv.port(), req);
        BOOST_TEST(r.status == 413, target);
        expect_log(srv,
                   R"(\[pympm:info\].*PM00051: request body of )" + target +
                       " refused with 413 before calling .*Content-Length 150000 exceeds LimitRequestBody 100000",
                   mark);
    }
    BOOST_TEST(at(parse_flat_json(get_ok(srv, "/in/last_error")), "type") == "<missing>", "the app did not run");

    // Chunked: httpd's input filter stops the body while the app reads it.
    std::size_t mark = srv.log_mark();
    HttpRequest req;
    req.method = "POST";
    req.target = "/in/read_until_error_raise";
    req.chunks = split_chunks(body);
    auto r = http_request(srv.port(), req);
    BOOST_TEST(r.status == 413);
    expect_log(srv, R"(\[pympm:info\].*PM00027: reading the body of /in/read_until_error_raise failed)", mark);
    expect_log(srv, R"(\[pympm:info\].*PM00050: .*RequestBodyError)", mark);
    auto err = parse_flat_json(get_ok(srv, "/in/last_error"));
    BOOST_TEST(at(err, "type") == "RequestBodyError");
    BOOST_TEST(at(err, "is_oserror") == "true");
    BOOST_TEST(at(err, "pid_now") == pid, "the same child serves on");

    // Below the limit all is well.
    HttpRequest ok;
    ok.method = "POST";
    ok.target = "/in/read";
    ok.body = make_body(99000, 4);
    auto r2 = http_request(srv.port(), ok);
    BOOST_TEST(r2.status == 200);
    BOOST_TEST((r2.body == ok.body));
    BOOST_TEST(srv.count_log(R"(\[pympm:error\])") == 0u, srv.error_log());
}

BOOST_AUTO_TEST_CASE(client_disconnect_mid_body_is_an_oserror) {
    HttpdServer srv(one_child("PyApp /in @APPS@/wsgi_input_app.py"));
    srv.start();
    const std::string pid = at(parse_flat_json(get_ok(srv, "/in/last_error")), "pid_now");

    for (const std::string target : {"/in/read_until_error_raise", "/in/read_until_error"}) {
        BOOST_TEST_CONTEXT(target) {
            std::size_t mark = srv.log_mark();
            {
                HttpConnection conn(srv.port());
                const std::string head = "POST " + target +
                                         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
                                         "Content-Type: application/octet-stream\r\n\r\n";
                conn.send_all(head + std::string(100000, 'b'), Clock::now() + 10s);
                // Close once the app has the first bytes (it reads 64 KiB
                // at a time), mid-body.
                std::this_thread::sleep_for(200ms);
            }
            expect_log(srv, R"(\[pympm:info\].*PM00027: reading the body of )" + target + " failed", mark);
            auto err = parse_flat_json(get_ok(srv, "/in/last_error"));
            BOOST_TEST(at(err, "type") == "ClientDisconnected");
            BOOST_TEST(at(err, "is_oserror") == "true");
            BOOST_TEST(at(err, "got") == "100000");
            BOOST_TEST(at(err, "pid_now") == pid, "the same child serves on");
            BOOST_TEST(at(err, "pid") == pid);
        }
    }
    BOOST_TEST(srv.count_log(R"(\[pympm:error\])") == 0u, srv.error_log());
}

BOOST_AUTO_TEST_SUITE_END()

// ====================================================== streaming, HEAD

BOOST_AUTO_TEST_SUITE(wsgi_streaming)

void check_streaming(Mpm mpm) {
    HttpdServer srv(one_child_of(mpm, "PyApp /r @APPS@/wsgi_response_app.py"));
    srv.start();
    HttpRequest req;
    req.target = "/r/stream_sleep?sleep=1";
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST(r.body == "first\nsecond\n");
    BOOST_TEST(r.chunked);
    // Find when each chunk's bytes arrived.
    std::string so_far;
    Clock::time_point first_at{}, second_at{};
    for (const auto& piece : r.pieces) {
        so_far += piece.data;
        if (first_at == Clock::time_point{} && contains(so_far, "first\n")) first_at = piece.at;
        if (second_at == Clock::time_point{} && contains(so_far, "second\n")) second_at = piece.at;
    }
    const double gap = HttpResponse::seconds(first_at, second_at);
    BOOST_TEST(gap >= 0.5, "the first chunk arrived only " << gap << " s before the second: it waited for the sleep");
    BOOST_TEST(HttpResponse::seconds(r.sent, first_at) < 0.9, "the first chunk is not held back");
}

BOOST_AUTO_TEST_CASE(generator_chunks_arrive_as_they_are_produced) { check_streaming(Mpm::prefork); }

BOOST_AUTO_TEST_CASE(generator_chunks_arrive_as_they_are_produced_under_event) { check_streaming(Mpm::event); }

BOOST_AUTO_TEST_SUITE_END()

// ======================================================= wsgi.file_wrapper

BOOST_AUTO_TEST_SUITE(wsgi_file_wrapper)

BOOST_AUTO_TEST_CASE(large_file_is_sent_without_copying_through_python) {
    HttpdServer srv(one_child("PyApp /r @APPS@/wsgi_response_app.py", "EnableSendfile On\n"));
    const std::string content = make_body(50u << 20, 50);
    const std::string path = srv.add_app_file("data/big.bin", content);
    srv.start();

    // Warm up the file path, then take the child's peak RSS.
    srv.add_app_file("data/small.bin", std::string(1000, 'x'));
    get_ok(srv, "/r/file?path=" + srv.app_path("data/small.bin"));
    auto before = parse_flat_json(get_ok(srv, "/r/hwm"));

    HttpRequest req;
    req.target = "/r/file?path=" + path;
    req.timeout = 60s;
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST(r.headers.get("Content-Length") == std::to_string(content.size()));
    BOOST_TEST(r.body.size() == content.size());
    BOOST_TEST((std::hash<std::string>{}(r.body) == std::hash<std::string>{}(content)), "checksum differs");
    BOOST_TEST((r.body == content));

    auto after = parse_flat_json(get_ok(srv, "/r/hwm"));
    BOOST_TEST(at(after, "pid") == at(before, "pid"));
    const long grew_kib = std::stol(at(after, "vm_hwm_kib")) - std::stol(at(before, "vm_hwm_kib"));
    BOOST_TEST_MESSAGE("child VmHWM " << at(before, "vm_hwm_kib") << " KiB -> " << at(after, "vm_hwm_kib")
                                      << " KiB after sending 51200 KiB");
    BOOST_TEST(grew_kib < 8 * 1024, "peak RSS grew by " << grew_kib << " KiB for a 50 MiB file");
}

BOOST_AUTO_TEST_SUITE_END()

// ============================================================ error paths

BOOST_AUTO_TEST_SUITE(wsgi_error_paths)

void check_error_paths(Mpm mpm) {
    HttpdServer srv(one_child_of(mpm, "PyApp /r @APPS@/wsgi_response_app.py"));
    srv.start();
    srv.allow_traceback_lines();
    const std::string pid = get_ok(srv, "/r/pid");

    enum class Expect { status500, aborted, complete };
    struct Case {
        std::string path;
        Expect expect;
        std::string log; // regex of the line naming the cause (the URI is checked too)
    };
    // One path of each outcome, as httpd puts it on the wire (every path's
    // outcome is a unit test: tests/unit/test_wsgi_response.cpp).
    const std::vector<Case> cases = {
        {"/raise_before", Expect::status500, "RuntimeError: pympm-test-raise-before"},
        {"/midstream_raise", Expect::aborted, "RuntimeError: pympm-test-midstream-boom midstream_raise"},
        {"/cl_shorter", Expect::aborted, "PM00025: .*sent 10 bytes but declared Content-Length 100"},
        {"/cl_longer", Expect::complete, "PM00023: .*more than its Content-Length of 5 bytes"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("path " << c.path) {
            std::size_t mark = srv.log_mark();
            auto r = raw_request(srv, "GET", "/r" + c.path);
            srv.allow_client_errors(r.local_port);
            switch (c.expect) {
            case Expect::status500:
                BOOST_TEST(r.status == 500, r.head);
                BOOST_TEST(r.status_lines == 1u);
                BOOST_TEST(!contains(r.body, "MUST-NOT-BE-SENT"));
                BOOST_TEST(!contains(r.body, "pympm-test"), "no traceback reaches the client");
                break;
            case Expect::aborted: expect_aborted(r, c.path); break;
            case Expect::complete:
                BOOST_TEST(r.status == 200, r.head);
                BOOST_TEST(!contains(r.body, "MUST-NOT-BE-SENT"));
                break;
            }
            const std::string tag = regex_escape(client_log_tag(r.local_port));
            expect_log(srv, R"(\[pympm:error\].*)" + tag + ".*" + c.log, mark);
            BOOST_TEST(contains(srv.log_since(mark), "/r" + c.path), "the log names the URI");
            BOOST_TEST(get_ok(srv, "/r/pid") == pid, "the same child serves the next request");
        }
    }
    // Bodies that must be exactly the declared length.
    auto longer = http_get(srv.port(), "/r/cl_longer");
    BOOST_TEST(longer.body == "12345");
    // A longer-than-declared response keeps the connection usable.
    HttpConnection conn(srv.port());
    HttpRequest ka;
    ka.target = "/r/cl_longer";
    ka.keep_alive = true;
    BOOST_TEST(conn.request(ka).body == "12345");
    BOOST_TEST_REQUIRE(conn.is_open());
    ka.target = "/r/pid";
    BOOST_TEST(conn.request(ka).body == pid);
    for (auto port : {longer.local_port, conn.local_port()}) srv.allow_client_errors(port);
}

BOOST_AUTO_TEST_CASE(each_error_path_logs_and_the_child_serves_on) { check_error_paths(Mpm::prefork); }

BOOST_AUTO_TEST_CASE(each_error_path_under_event) { check_error_paths(Mpm::event); }

// A client that goes away mid-stream ends the response (logged at info) and
// close() is called once (every other path's close() is a unit test).
BOOST_AUTO_TEST_CASE(a_client_gone_mid_stream_ends_it_and_close_is_called) {
    HttpdServer srv(one_child("PyApp /r @APPS@/wsgi_response_app.py"));
    srv.start();
    const std::string pid = get_ok(srv, "/r/pid");

    // The client goes away in the middle of an endless stream.
    std::size_t mark = srv.log_mark();
    {
        HttpConnection conn(srv.port());
        conn.send_all("GET /r/endless HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", Clock::now() + 10s);
        std::size_t got = 0;
        char buf[65536];
        const auto deadline = Clock::now() + 20s;
        while (got < 300000 && Clock::now() < deadline) {
            pollfd pfd{conn.fd(), POLLIN, 0};
            if (::poll(&pfd, 1, 1000) <= 0) continue;
            ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
            if (n > 0) got += static_cast<std::size_t>(n);
        }
        BOOST_TEST_REQUIRE(got >= 300000u);
    }
    expect_log(srv, R"(\[pympm:info\].*PM00024: client went away while .* /r/endless)", mark);

    auto closes = parse_flat_json(get_ok(srv, "/r/closes"));
    BOOST_TEST(at(closes, "endless") == "1", "close() calls of endless");
    BOOST_TEST(get_ok(srv, "/r/pid") == pid);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ environ

BOOST_AUTO_TEST_SUITE(wsgi_environ)

BOOST_AUTO_TEST_CASE(cgi_variables_and_path_info_as_latin1) {
    HttpdServer srv(one_child("PyApp /env @APPS@/wsgi_environ_app.py\nPyApp /wsgi-file @APPS@/env/app.wsgi"));
    std::ifstream src(test_apps_dir() + "/wsgi_environ_app.py", std::ios::binary);
    srv.add_app_file("env/app.wsgi",
                     std::string(std::istreambuf_iterator<char>(src), std::istreambuf_iterator<char>()));
    srv.start();
    HttpRequest req;
    req.target = "/env/caf%C3%A9/x%20y?q=%C3%A9&a=1";
    req.headers = {{"X-Custom", "v1"}, {"Cookie", "a=b"}, {"Content-Type", "text/plain"}, {"Proxy", "evil:1"}};
    req.method = "POST";
    req.body = "abc";
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200);
    auto env = parse_flat_json(r.body);
    // PEP 3333: the URL-decoded bytes, each as one latin-1 code point.
    BOOST_TEST(at(env, "pympm.PATH_INFO_HEX") == "2f636166c3a92f782079"); // "/caf\xc3\xa9/x y"
    BOOST_TEST(at(env, "pympm.SCRIPT_NAME_HEX") == "2f656e76");
    BOOST_TEST(at(env, "pympm.not_native") == "", "every CGI value is a native string");
    BOOST_TEST(at(env, "QUERY_STRING") == "q=%C3%A9&a=1");
    BOOST_TEST(at(env, "REQUEST_URI") == "/env/caf%C3%A9/x%20y?q=%C3%A9&a=1");
    BOOST_TEST(at(env, "REQUEST_METHOD") == "POST");
    BOOST_TEST(at(env, "CONTENT_TYPE") == "text/plain");
    BOOST_TEST(at(env, "CONTENT_LENGTH") == "3");
    BOOST_TEST(at(env, "HTTP_X_CUSTOM") == "v1");
    BOOST_TEST(at(env, "HTTP_COOKIE") == "a=b");
    BOOST_TEST(env.count("HTTP_CONTENT_TYPE") == 0u);
    BOOST_TEST(env.count("HTTP_CONTENT_LENGTH") == 0u);
    BOOST_TEST(env.count("HTTP_PROXY") == 0u, "httpoxy: the Proxy header is not passed");
    // CGI's: PATH_INFO looked up as a URL (under DocumentRoot here).
    const std::string translated = at(env, "PATH_TRANSLATED");
    BOOST_TEST(translated.rfind(at(env, "DOCUMENT_ROOT") + "/caf", 0) == 0u, translated);
    BOOST_TEST(translated.size() > 4u);
    BOOST_TEST(translated.substr(translated.size() - 4) == "/x y", translated);
    BOOST_TEST(at(env, "SCRIPT_FILENAME") == srv.app_path("wsgi_environ_app.py"));
    BOOST_TEST(at(env, "SERVER_PROTOCOL") == "HTTP/1.1");
    BOOST_TEST(at(env, "SERVER_NAME") == "127.0.0.1");
    BOOST_TEST(at(env, "SERVER_PORT") == std::to_string(srv.port()));
    BOOST_TEST(at(env, "SERVER_ADDR") == "127.0.0.1");
    BOOST_TEST(at(env, "REMOTE_ADDR") == "127.0.0.1");
    BOOST_TEST(at(env, "REMOTE_PORT") == std::to_string(r.local_port));
    BOOST_TEST(at(env, "GATEWAY_INTERFACE") == "CGI/1.1");
    BOOST_TEST(env.count("SERVER_SOFTWARE") == 1u);
    BOOST_TEST(env.count("DOCUMENT_ROOT") == 1u);
    BOOST_TEST(env.count("REQUEST_SCHEME") == 1u);
    BOOST_TEST(at(env, "wsgi.url_scheme") == "http");
    BOOST_TEST(env.count("HTTPS") == 0u);
    BOOST_TEST(env.count("REMOTE_USER") == 0u);
    BOOST_TEST(at(env, "pympm.input_terminated") == "True");

    // A mod_wsgi-style .wsgi script file mounts the same way.
    auto w = parse_flat_json(get_ok(srv, "/wsgi-file/x"));
    BOOST_TEST(at(w, "SCRIPT_NAME") == "/wsgi-file");
    BOOST_TEST(at(w, "PATH_INFO") == "/x");
}

// One child, requests whose variables differ from the first one's (which
// the environ template keeps): each environ has its own request's values,
// and nothing of another's.
BOOST_AUTO_TEST_CASE(each_request_has_its_own_variables) {
    HttpdServer srv(one_child("PyPath @APPS@\nPyApp /env @APPS@/wsgi_environ_app.py\n"
                              "PyApp /mod wsgi_environ_app:application\n"));
    srv.start();
    auto first = parse_flat_json(get_ok(srv, "/env/a?x=1"));
    BOOST_TEST(at(first, "SCRIPT_FILENAME") == srv.app_path("wsgi_environ_app.py"));
    BOOST_TEST(at(first, "REQUEST_METHOD") == "GET");
    HttpRequest post;
    post.method = "POST";
    post.target = "/mod/b";
    post.body = "x";
    auto r = http_request(srv.port(), post);
    BOOST_TEST_REQUIRE(r.status == 200);
    auto mod = parse_flat_json(r.body);
    BOOST_TEST(mod.count("SCRIPT_FILENAME") == 0u, "a module mount has no script file");
    BOOST_TEST(at(mod, "SCRIPT_NAME") == "/mod");
    BOOST_TEST(at(mod, "REQUEST_METHOD") == "POST");
    BOOST_TEST(at(mod, "QUERY_STRING") == "");
    auto again = parse_flat_json(get_ok(srv, "/env/c?y=2"));
    BOOST_TEST(at(again, "SCRIPT_FILENAME") == srv.app_path("wsgi_environ_app.py"));
    BOOST_TEST(at(again, "SCRIPT_NAME") == "/env");
    BOOST_TEST(at(again, "QUERY_STRING") == "y=2");
    BOOST_TEST(at(again, "REQUEST_METHOD") == "GET");
}

BOOST_AUTO_TEST_CASE(remote_user_and_auth_type_from_basic_auth) {
    HttpdServer srv(one_child("PyApp /env @APPS@/wsgi_environ_app.py"));
    srv.options().extra_config = mpm::basic_auth_config(srv, "/env/private");
    srv.start();
    auto denied = http_get(srv.port(), "/env/private/x");
    BOOST_TEST(denied.status == 401);
    HttpRequest req;
    req.target = "/env/private/x";
    req.headers = {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}}; // alice:secret
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    auto env = parse_flat_json(r.body);
    BOOST_TEST(at(env, "REMOTE_USER") == "alice");
    BOOST_TEST(at(env, "AUTH_TYPE") == "Basic");
    BOOST_TEST(at(env, "PATH_INFO") == "/private/x");
    auto open = parse_flat_json(get_ok(srv, "/env/public"));
    BOOST_TEST(open.count("REMOTE_USER") == 0u);
}

BOOST_AUTO_TEST_CASE(https_under_mod_ssl_and_http2) {
    HttpdServer srv(HttpdOptions{});
    srv.options().mpm = Mpm::event;
    srv.options().start_servers = 1;
    srv.options().pympm_config = "PyApp /env @APPS@/wsgi_environ_app.py";
    srv.options().extra_config =
        "LoadModule http2_module " + httpd_modules_dir() + "/mod_http2.so\nProtocols h2c http/1.1\n";
    const std::uint16_t tls_port = add_tls_vhost(srv, "    SSLOptions +StdEnvVars\n");
    srv.start();

    const std::string base = "https://127.0.0.1:" + std::to_string(tls_port);
    auto tls = run_command({"/usr/bin/curl", "-sS", "-k", "--http1.1", "--max-time", "20", base + "/env/tls"});
    BOOST_TEST_REQUIRE(tls.exit_code == 0, tls.output + srv.error_log());
    auto env = parse_flat_json(tls.output);
    BOOST_TEST(at(env, "wsgi.url_scheme") == "https");
    BOOST_TEST(at(env, "HTTPS") == "on");
    BOOST_TEST(at(env, "SERVER_PORT") == std::to_string(tls_port));
    BOOST_TEST(at(env, "SERVER_PROTOCOL") == "HTTP/1.1");
    BOOST_TEST(at(env, "REQUEST_SCHEME") == "https");
    // mod_ssl's variables (SSLOptions +StdEnvVars) come through.
    BOOST_TEST(contains(at(env, "SSL_PROTOCOL"), "TLS"));
    BOOST_TEST(!at(env, "SSL_CIPHER").empty());

    auto h2 = run_command({"/usr/bin/curl", "-sS", "-k", "--http2", "--max-time", "20", base + "/env/h2"});
    BOOST_TEST_REQUIRE(h2.exit_code == 0, h2.output);
    auto env2 = parse_flat_json(h2.output);
    BOOST_TEST(at(env2, "SERVER_PROTOCOL") == "HTTP/2.0");
    BOOST_TEST(at(env2, "wsgi.url_scheme") == "https");
    BOOST_TEST(at(env2, "PATH_INFO") == "/h2");

    auto h2c = run_command({"/usr/bin/curl", "-sS", "--http2-prior-knowledge", "--max-time", "20",
                            "http://127.0.0.1:" + std::to_string(srv.port()) + "/env/h2c"});
    BOOST_TEST_REQUIRE(h2c.exit_code == 0, h2c.output);
    auto env3 = parse_flat_json(h2c.output);
    BOOST_TEST(at(env3, "SERVER_PROTOCOL") == "HTTP/2.0");
    BOOST_TEST(at(env3, "wsgi.url_scheme") == "http");
}

BOOST_AUTO_TEST_SUITE_END()
