// Tests of the test harness itself: the HTTP client against a scripted
// in-process server, and HttpdServer against a real httpd that does not load
// mod_pympm (so these pass whatever state the module is in).
#include "http_client.h"
#include "httpd_server.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

using namespace pympm_test;
using namespace std::chrono_literals;

namespace {

// Accepts one connection, reads the request (head + Content-Length or
// chunked body), then writes `steps` — each after its delay, which stands for
// a slow application, not for synchronisation.
class ScriptedServer {
public:
    struct Step {
        std::chrono::milliseconds delay;
        std::string bytes;
    };

    explicit ScriptedServer(std::vector<Step> steps, bool close_after = true)
        : steps_(std::move(steps)), close_after_(close_after) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        BOOST_REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        BOOST_REQUIRE(::listen(listen_fd_, 4) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }

    ~ScriptedServer() {
        ::shutdown(listen_fd_, SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
        ::close(listen_fd_);
    }

    std::uint16_t port() const { return port_; }
    std::string request() {
        if (thread_.joinable()) thread_.join();
        return request_;
    }

private:
    void run() {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        timeval tv{10, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        for (;;) {
            auto head_end = request_.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                std::string head = request_.substr(0, head_end);
                auto cl = head.find("Content-Length: ");
                if (head.find("Transfer-Encoding: chunked") != std::string::npos) {
                    if (request_.find("\r\n0\r\n\r\n", head_end) != std::string::npos) break;
                } else if (cl != std::string::npos) {
                    std::size_t n = std::stoul(head.substr(cl + 16));
                    if (request_.size() >= head_end + 4 + n) break;
                } else {
                    break;
                }
            }
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            request_.append(buf, static_cast<std::size_t>(n));
        }
        for (auto& s : steps_) {
            std::this_thread::sleep_for(s.delay);
            (void)!::send(fd, s.bytes.data(), s.bytes.size(), MSG_NOSIGNAL);
        }
        if (close_after_)
            ::close(fd);
        else {
            // Hold the connection until the client closes it.
            while (::recv(fd, buf, sizeof buf, 0) > 0) {}
            ::close(fd);
        }
    }

    std::vector<Step> steps_;
    bool close_after_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::string request_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(harness_client)

BOOST_AUTO_TEST_CASE(content_length_body_and_headers) {
    ScriptedServer srv({{0ms, "HTTP/1.1 201 Created\r\nX-Multi: a\r\nx-multi: b\r\nContent-Length: 5\r\n\r\nhello"}});
    auto r = http_get(srv.port(), "/path?q=1");
    BOOST_TEST(r.status == 201);
    BOOST_TEST(r.reason == "Created");
    BOOST_TEST(r.body == "hello");
    BOOST_TEST(r.headers.get("content-length") == "5");
    BOOST_TEST(r.headers.count("X-MULTI") == 2u);
    BOOST_TEST(!r.chunked);
    std::string req = srv.request();
    BOOST_TEST(req.rfind("GET /path?q=1 HTTP/1.1\r\n", 0) == 0);
    BOOST_TEST(req.find("Host: 127.0.0.1:") != std::string::npos);
    BOOST_TEST(req.find("Connection: close") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(chunked_body_arrives_incrementally) {
    ScriptedServer srv({{0ms, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"},
                        {300ms, "6;ext=1\r\nsecond\r\n"},
                        {0ms, "0\r\nX-Trailer: t\r\n\r\n"}});
    std::vector<Clock::time_point> seen;
    HttpRequest req;
    req.on_body = [&](const BodyPiece& p) { seen.push_back(p.at); };
    auto r = http_request(srv.port(), req);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.chunked);
    BOOST_TEST(r.body == "firstsecond");
    BOOST_TEST(r.headers.get("X-Trailer") == "t");
    BOOST_REQUIRE(r.pieces.size() == 2u);
    BOOST_TEST(r.pieces[0].data == "first");
    BOOST_TEST(seen.size() == 2u);
    double gap = HttpResponse::seconds(r.pieces[0].at, r.pieces[1].at);
    BOOST_TEST(gap > 0.2);
    BOOST_TEST(HttpResponse::seconds(r.first_byte, r.complete) > 0.2);
    BOOST_TEST(r.total_seconds() < 10.0);
}

BOOST_AUTO_TEST_CASE(body_until_eof_and_interim_100) {
    ScriptedServer srv({{0ms, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil "}, {50ms, "the end"}});
    auto r = http_get(srv.port(), "/");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == "until the end");
    BOOST_TEST(r.connection_closed);
}

BOOST_AUTO_TEST_CASE(chunked_upload) {
    ScriptedServer srv({{0ms, "HTTP/1.1 204 No Content\r\n\r\n"}});
    HttpRequest req;
    req.method = "POST";
    req.target = "/up";
    req.chunks = {"abc", "defgh"};
    auto r = http_request(srv.port(), req);
    BOOST_TEST(r.status == 204);
    std::string sent = srv.request();
    BOOST_TEST(sent.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    BOOST_TEST(sent.find("\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(timeout_is_reported) {
    ScriptedServer srv({{2000ms, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}});
    HttpRequest req;
    req.timeout = 300ms;
    auto t0 = Clock::now();
    BOOST_CHECK_THROW(http_request(srv.port(), req), HttpError);
    BOOST_TEST(HttpResponse::seconds(t0, Clock::now()) < 1.5);
}

BOOST_AUTO_TEST_CASE(raw_exchange_reads_until_close) {
    ScriptedServer srv({{0ms, "HTTP/1.1 400 Bad Request\r\n\r\nnope"}});
    auto reply = raw_exchange(srv.port(), "GET / HTTP/1.1\r\n\r\n");
    BOOST_TEST(reply.closed);
    BOOST_TEST(!reply.timed_out);
    auto [head, body] = split_head(reply.data);
    BOOST_TEST(head == "HTTP/1.1 400 Bad Request\r\n");
    BOOST_TEST(body == "nope");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------- httpd

namespace {

HttpdOptions plain_httpd(Mpm mpm = Mpm::prefork) {
    HttpdOptions o;
    o.mpm = mpm;
    o.load_pympm = false;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(harness_httpd)

BOOST_AUTO_TEST_CASE(start_serve_graceful_stop) {
    HttpdServer srv(plain_httpd());
    srv.start();
    BOOST_TEST(srv.running());
    BOOST_TEST(srv.port() >= 20000);
    auto r = http_get(srv.port(), "/no-such-file");
    BOOST_TEST(r.status == 404);
    BOOST_TEST(srv.wait_for_log("resuming normal operations") != "");

    // Keep-alive: two requests on one connection.
    HttpConnection conn(srv.port());
    HttpRequest req;
    req.target = "/a";
    req.keep_alive = true;
    BOOST_TEST(conn.request(req).status == 404);
    BOOST_REQUIRE(conn.is_open());
    BOOST_TEST(conn.request(req).status == 404);
    conn.close();

    auto before = srv.child_pids();
    BOOST_TEST(!before.empty());
    srv.graceful_restart();
    BOOST_TEST(srv.count_log("resuming normal operations") == 2u);
    BOOST_TEST(http_get(srv.port(), "/x").status == 404);

    pid_t pid = srv.pid();
    auto children = srv.child_pids();
    srv.stop();
    BOOST_TEST(!srv.running());
    BOOST_TEST(::kill(pid, 0) != 0);
    for (pid_t c : children) BOOST_TEST(::kill(c, 0) != 0, "child " << c << " still alive");
    BOOST_TEST(srv.log_problems().empty());
}

BOOST_AUTO_TEST_CASE(malformed_request_gets_400) {
    HttpdServer srv(plain_httpd());
    srv.start();
    auto reply = raw_exchange(srv.port(), "GARBAGE\r\n\r\n");
    BOOST_TEST(reply.data.rfind("HTTP/1.1 400", 0) == 0, reply.data);
}

BOOST_AUTO_TEST_CASE(threaded_mpms_start) {
    for (Mpm m : {Mpm::worker, Mpm::event}) {
        HttpdOptions o = plain_httpd(m);
        o.threads_per_child = 4;
        o.server_limit = 1;
        HttpdServer srv(o);
        srv.start();
        BOOST_TEST(http_get(srv.port(), "/").status == 404);
        BOOST_TEST(srv.child_pids().size() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(config_test_and_refused_config) {
    {
        HttpdServer srv(plain_httpd());
        auto ok = srv.config_test();
        BOOST_TEST(ok.exit_code == 0, ok.output);
        BOOST_TEST(ok.output.find("Syntax OK") != std::string::npos, ok.output);
    }
    {
        HttpdOptions o = plain_httpd();
        o.extra_config = "NoSuchDirective @ROOT@/x";
        HttpdServer srv(o);
        auto bad = srv.config_test();
        BOOST_TEST(bad.exit_code != 0);
        BOOST_TEST(bad.output.find("NoSuchDirective") != std::string::npos, bad.output);
        auto refused = srv.start_expect_failure();
        BOOST_TEST(refused.exit_code != 0);
        BOOST_TEST(refused.output.find("NoSuchDirective") != std::string::npos, refused.output);
        BOOST_TEST(!srv.running());
    }
}

BOOST_AUTO_TEST_CASE(log_scan_reports_errors_and_crashes) {
    HttpdOptions o = plain_httpd();
    o.start_servers = 1;
    HttpdServer srv(o);
    srv.start();
    BOOST_TEST(srv.log_problems().empty());

    // A child killed by a signal is what a crash in the module looks like.
    auto children = srv.child_pids();
    BOOST_REQUIRE(!children.empty());
    BOOST_REQUIRE(::kill(children.front(), SIGSEGV) == 0);
    BOOST_TEST(srv.wait_for_log("exit signal Segmentation fault") != "");
    auto problems = srv.log_problems();
    BOOST_TEST(!problems.empty());
    bool named = false;
    for (auto& p : problems) named = named || p.find("exit signal") != std::string::npos;
    BOOST_TEST(named);
    // The core itself lands in CoreDumpDirectory when the kernel writes
    // plain core files; the log line above is the part that always works.
    BOOST_TEST_MESSAGE(problems.size() << " problem(s) reported");

    // [pympm:error] lines count unless allowed.
    srv.stop();
    {
        std::ofstream log(srv.error_log_path(), std::ios::app);
        log << "[Mon Jan 01 00:00:00.000000 2024] [pympm:error] [pid 1] PM99999: harness-test marker\n";
        log << "[Mon Jan 01 00:00:00.000000 2024] [pympm:notice] [pid 1] PM99998: not a problem\n";
    }
    auto before = srv.log_problems().size();
    srv.allow_log_error("harness-test marker");
    BOOST_TEST(srv.log_problems().size() == before - 1);
    srv.disable_teardown_scan();
}

BOOST_AUTO_TEST_CASE(apps_are_copied_readable) {
    HttpdServer srv(plain_httpd());
    std::string p = srv.add_app_file("extra/sub/app.py", "x = 1\n");
    BOOST_TEST(p == srv.apps_dir() + "/extra/sub/app.py");
    struct stat st {};
    BOOST_REQUIRE(::stat(p.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0644u);
    BOOST_REQUIRE(::stat(srv.root().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0755u);
    BOOST_REQUIRE(::stat(srv.app_path("hello.py").c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0004) != 0u);
    srv.options().pympm_config = "# @APPS@/hello.py";
    BOOST_TEST(srv.config_text().find("# " + srv.apps_dir() + "/hello.py") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------- sanitizers

namespace {

// Shortened from real gcc 12 reports.
std::string asan_report(const std::string& frames) {
    return "=================================================================\n"
           "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc 0x7f00 bp 0x7f10 sp "
           "0x7f08\n"
           "READ of size 8 at 0x602000000010 thread T0\n" +
           frames +
           "SUMMARY: AddressSanitizer: heap-use-after-free\n"
           "Shadow bytes around the buggy address:\n"
           "  0x0c047fff8000: fa fa fd fd fa fa 00 00 fa fa 00 00 fa fa 00 00\n"
           "==4242==ABORTING\n";
}

const std::string httpd_frames = "    #0 0x55d0 in ap_queue_pop_something (/usr/sbin/apache2+0x8a1f0)\n"
                                 "    #1 0x7f20 in apr_pool_destroy (/lib/x86_64-linux-gnu/libapr-1.so.0+0x2a0b7)\n"
                                 "    #2 0x7f30 in start_thread nptl/pthread_create.c:442\n";

} // namespace

BOOST_AUTO_TEST_SUITE(harness_sanitizer)

BOOST_AUTO_TEST_CASE(reports_are_split_and_attributed) {
    const std::string src = source_dir();
    // ASan: a symbolised frame in mpm_bridge/, an unsymbolised one in the
    // module, and one in httpd and APR only.
    auto bridge = parse_sanitizer_log("asan.1", asan_report("    #0 0x7f40 in pympm::WsgiRequest::finish() " + src +
                                                            "/mpm_bridge/wsgi_request.cpp:120\n" + httpd_frames));
    BOOST_REQUIRE(bridge.size() == 1u);
    BOOST_TEST(bridge[0].error());
    BOOST_TEST(bridge[0].headline.rfind("==4242==ERROR: AddressSanitizer: heap-use-after-free on address", 0) == 0u,
               bridge[0].headline);
    BOOST_TEST(bridge[0].from_project);
    BOOST_TEST(bridge[0].file == "asan.1");
    BOOST_TEST(bridge[0].text.find("==4242==ABORTING") != std::string::npos);

    auto module = parse_sanitizer_log("asan.2", asan_report("    #0 0x7f50 (/tmp/b/module/mod_pympm.so+0x1b2c3)\n"));
    BOOST_REQUIRE(module.size() == 1u);
    BOOST_TEST(module[0].from_project);

    // "AddressSanitizer:DEADLYSIGNAL" comes before the separator; a warning
    // line is not an error.
    auto httpd =
        parse_sanitizer_log("asan.3", "AddressSanitizer:DEADLYSIGNAL\n" + asan_report(httpd_frames) +
                                          "==4242==WARNING: ASan is ignoring requested __asan_handle_no_return\n");
    BOOST_REQUIRE(httpd.size() == 2u);
    BOOST_TEST(!httpd[0].error());
    BOOST_TEST(httpd[1].error());
    BOOST_TEST(!httpd[1].from_project);
    BOOST_TEST(httpd[1].text.find("WARNING: ASan is ignoring") != std::string::npos);

    // UBSan (with log_path, as without ASan): several reports in one file,
    // each starting at its location line.
    auto ubsan = parse_sanitizer_log(
        "ubsan.7",
        src +
            "/module/mod_pympm.cpp:77:12: runtime error: signed integer overflow: 2147483647 + 1\n"
            "    #0 0x7f60 in pympm_handler " +
            src +
            "/module/mod_pympm.cpp:77\n"
            "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior\n"
            "/usr/include/c++/12/bits/stl_vector.h:1123:2: runtime error: reference binding to null pointer\n"
            "    #0 0x7f70 in foo (/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0+0x100)\n");
    BOOST_REQUIRE(ubsan.size() == 2u);
    BOOST_TEST(ubsan[0].error());
    BOOST_TEST(ubsan[0].from_project);
    BOOST_TEST(ubsan[1].error());
    BOOST_TEST(ubsan[1].headline ==
               "/usr/include/c++/12/bits/stl_vector.h:1123:2: runtime error: reference binding to null pointer");
    BOOST_TEST(!ubsan[1].from_project);
    BOOST_TEST(ubsan[0].text.find("SUMMARY") != std::string::npos);

    // The project is module/ and mpm_bridge/, not e.g. the build tree's tests.
    auto tests = parse_sanitizer_log("asan.4", asan_report("    #0 0x7f80 in x " + src + "/tests/e2e/x.cpp:1\n"));
    BOOST_TEST(!tests.at(0).from_project);
}

BOOST_AUTO_TEST_CASE(ubsan_reports_are_found_in_the_error_log) {
    const std::string src = source_dir();
    const std::string log =
        "[Mon Jan 01 00:00:00.000000 2024] [mpm_event:notice] [pid 1:tid 1] AH00489: resuming normal operations\n" +
        src +
        "/mpm_bridge/slot_gate.cpp:40:9: runtime error: load of value 7, which is not a valid value for type 'bool'\n"
        "    #0 0x7f10 in pympm::SlotGate::acquire() " +
        src +
        "/mpm_bridge/slot_gate.cpp:40\n"
        "[Mon Jan 01 00:00:00.000000 2024] [pympm:info] [pid 2:tid 3] PM00011: another thread logs meanwhile\n"
        "    #1 0x7f20 in handler (/b/module/mod_pympm.so+0x1000)\n"
        "\n"
        "[Mon Jan 01 00:00:00.000000 2024] [pympm:error] [pid 2:tid 3] PM00020: ValueError: runtime error: from the "
        "app\n"
        "    #7 not a frame of the report above: a blank line ended it\n"
        "/usr/include/c++/12/bits/stl_vector.h:1123:2: runtime error: reference binding to null pointer\n"
        "    #0 0x7f30 in f (/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0+0x100)\n";
    auto reports = find_ubsan_reports("logs/error_log", log);
    BOOST_REQUIRE(reports.size() == 2u);
    BOOST_TEST(reports[0].file == "logs/error_log");
    BOOST_TEST(reports[0].headline.find("slot_gate.cpp:40:9: runtime error: load of value 7") != std::string::npos);
    BOOST_TEST(reports[0].from_project);
    BOOST_TEST(reports[0].text.find("#1 0x7f20 in handler") != std::string::npos, reports[0].text);
    BOOST_TEST(reports[0].text.find("PM00011") == std::string::npos, reports[0].text);
    BOOST_TEST(reports[0].text.find("#7") == std::string::npos, reports[0].text);
    BOOST_TEST(reports[1].error());
    BOOST_TEST(!reports[1].from_project);
}

BOOST_AUTO_TEST_CASE(scan_fails_only_reports_from_the_project) {
    HttpdServer srv(plain_httpd());
    struct stat st {};
    BOOST_REQUIRE(::stat(srv.sanitizer_log_dir().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0777u); // children run as nobody
    BOOST_TEST(srv.log_problems().empty());

    const std::string ours = srv.sanitizer_log_dir() + "/asan.101";
    const std::string theirs = srv.sanitizer_log_dir() + "/asan.102";
    std::ofstream(theirs) << asan_report(httpd_frames);
    BOOST_TEST(srv.log_problems().empty());
    BOOST_TEST(srv.sanitizer_reports().size() == 1u);

    std::ofstream(ours) << asan_report("    #0 0x7f50 (" + pympm_module_path() + "+0x1b2c3)\n");
    auto problems = srv.log_problems();
    BOOST_REQUIRE(problems.size() == 1u);
    BOOST_TEST(problems[0].find("(sanitizer/asan.101)") != std::string::npos, problems[0]);
    BOOST_TEST(problems[0].find("ERROR: AddressSanitizer: heap-use-after-free") != std::string::npos, problems[0]);

    // UBSan writes to httpd's stderr: the error log and logs/httpd.out.
    std::ofstream(srv.root() + "/logs/httpd.out")
        << source_dir() + "/module/server_config.cpp:12:3: runtime error: division by zero\n";
    problems = srv.log_problems();
    BOOST_REQUIRE(problems.size() == 2u);
    BOOST_TEST(problems[1].find("(logs/httpd.out)") != std::string::npos, problems[1]);
    BOOST_TEST(problems[1].find("server_config.cpp:12:3: runtime error: division by zero") != std::string::npos,
               problems[1]);
    // Planted, not found: keep them out of the teardown scan and its warnings.
    ::unlink(ours.c_str());
    ::unlink(theirs.c_str());
    ::unlink((srv.root() + "/logs/httpd.out").c_str());
}

// The one harness test that loads mod_pympm: a real report from a child
// (running as nobody, with the runtimes preloaded) reaches the scan. The app
// overflows a malloc'ed buffer through ctypes' memset, which ASan intercepts;
// mod_pympm's handler is on that stack, so the report counts as ours.
BOOST_AUTO_TEST_CASE(child_report_reaches_the_scan, *boost::unit_test::precondition(asan_build)) {
    HttpdOptions o;
    o.mpm = Mpm::prefork;
    o.start_servers = 1;
    o.server_limit = 1;
    o.max_request_workers = 1;
    o.pympm_config = "PyApp / @APPS@/overflow.py";
    HttpdServer srv(o);
    srv.add_app_file("overflow.py",
                     "import ctypes\n"
                     "def application(environ, start_response):\n"
                     "    buf = ctypes.create_string_buffer(4096)  # > 512 bytes: from malloc, not pymalloc\n"
                     "    ctypes.memset(buf, 0, 4096 + 64)\n"
                     "    start_response('200 OK', [])\n"
                     "    return [b'not reached']\n");
    srv.start();
    // The child reports and exits (halt_on_error) instead of answering.
    try {
        auto r = http_get(srv.port(), "/");
        BOOST_TEST(r.status != 200, r.body);
    } catch (const HttpError&) {}
    srv.stop();
    auto reports = srv.sanitizer_reports();
    BOOST_REQUIRE(reports.size() == 1u);
    BOOST_TEST_MESSAGE("the provoked report:\n" << reports[0].text);
    BOOST_TEST(reports[0].file.rfind("sanitizer/asan.", 0) == 0u, reports[0].file);
    BOOST_TEST(reports[0].error());
    BOOST_TEST(reports[0].text.find("heap-buffer-overflow") != std::string::npos, reports[0].text);
    BOOST_TEST(reports[0].from_project, reports[0].text);
    bool flagged = false;
    for (auto& p : srv.log_problems())
        flagged = flagged || p.find("AddressSanitizer: heap-buffer-overflow") != std::string::npos;
    BOOST_TEST(flagged);
    // Provoked on purpose: keep it out of the teardown scan and its warnings.
    for (auto& r : reports) ::unlink((srv.root() + "/" + r.file).c_str());
}

BOOST_AUTO_TEST_SUITE_END()
