// Issue 10: the child's Python behaves like python3. One test per item,
// named after it, and a Flask app that needs all of it at once.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <cctype>
#include <future>
#include <regex>
#include <set>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

// After a graceful restart, the old child `pid` finalised Python: returns
// the seconds its stop took (PM00032), or -1.
double finalised_in(const HttpdServer& srv, long pid, std::size_t mark) {
    const std::string line =
        srv.wait_for_log("\\[pid " + std::to_string(pid) + "(:tid [0-9]+)?\\].*PM00032: Python finalised", 20s, mark);
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(" in ([0-9.]+) s"))) return -1;
    return std::stod(m[1].str());
}

HttpResponse get_with(std::uint16_t port, const std::string& target, const std::string& authorization) {
    HttpRequest req;
    req.target = target;
    req.headers = {{"Authorization", authorization}};
    return http_request(port, req);
}

} // namespace

BOOST_AUTO_TEST_SUITE(python_like_python3, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(item1_text_is_utf8_by_default) {
    for (const char* mode : {"", "PyUTF8Mode On\n"}) {
        BOOST_TEST_CONTEXT("config: '" << mode << "'") {
            HttpdServer srv(prefork_one_child(std::string("PyApp /p @APPS@/python3_like/app.py\n") + mode));
            std::string scratch = make_markers_dir(srv);
            srv.start();
            std::size_t mark = srv.log_mark();
            auto r = http_get(srv.port(), "/p/text?" + scratch);
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            auto j = parse_json(r.body);
            BOOST_TEST(j.get<std::string>("text") == "Grüße aus Köln – naïve café ✓ 日本語\n");
            BOOST_TEST(j.get<std::string>("fs_encoding") == "utf-8");
            BOOST_TEST(j.get<int>("utf8_mode") == 1);
            std::string preferred = j.get<std::string>("preferred"); // "UTF-8" before 3.11
            for (char& ch : preferred) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            BOOST_TEST(preferred == "utf-8");
            BOOST_TEST(j.get<std::string>("roundtrip") == "ünïcode ✓");
            BOOST_TEST(j.get<bool>("listed"));
            // httpd writes bytes outside printable ASCII as \xNN: UTF-8.
            BOOST_TEST(
                !srv.wait_for_log(regex_escape("PM00040: pympm says h\\xc3\\xa9llo w\\xc3\\xb6rld \\xe2\\x9c\\x93"),
                                  10s, mark)
                     .empty(),
                "print() of non-ASCII text reaches the error log as UTF-8");
        }
    }
}

BOOST_AUTO_TEST_CASE(item1_utf8_mode_off_follows_the_locale) {
    // Off: the encoding python3 without UTF-8 mode has in the same
    // environment (httpd inherits this test's).
    auto expected = run_command(
        {python_executable(), "-I", "-X", "utf8=0", "-c", "import sys; print(sys.getfilesystemencoding())"});
    BOOST_TEST_REQUIRE(expected.exit_code == 0, expected.output);
    std::string encoding = expected.output.substr(0, expected.output.find('\n'));
    HttpdServer srv(prefork_one_child("PyApp /p @APPS@/python3_like/app.py\nPyUTF8Mode Off\n"));
    srv.start();
    auto r = http_get(srv.port(), "/p/encoding");
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    auto j = parse_json(r.body);
    BOOST_TEST(j.get<int>("utf8_mode") == 0);
    BOOST_TEST(j.get<std::string>("fs_encoding") == encoding);
}

// A stop that waited for an executor's idle threads would take the whole
// PyShutdownTimeout; one that does not takes well under half of it, even
// under ASan on a loaded machine (1.66 s there).
constexpr int kShutdownTimeout = 10;

BOOST_AUTO_TEST_CASE(item2_idle_executors_do_not_delay_the_stop) {
    for (auto& [name, options] : prefork_and_event("PyApp /p @APPS@/python3_like/app.py\nPyShutdownTimeout " +
                                                   std::to_string(kShutdownTimeout) + "\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto r = http_get(srv.port(), "/p/executor");
            BOOST_TEST_REQUIRE(r.status == 200, r.body);
            BOOST_TEST(contains(r.body, "\"sum\": 9"), r.body);
            const long pid = srv.child_pids().at(0);
            std::size_t mark = srv.log_mark();
            srv.graceful_restart();
            const double took = finalised_in(srv, pid, mark);
            BOOST_TEST(took >= 0, "the old child finalised Python");
            BOOST_TEST(took < kShutdownTimeout / 2.0, "the stop took " << took << " s");
            BOOST_TEST(srv.count_log("PM00042|PM00031|PM00070", mark) == 0u, srv.log_since(mark));
        }
    }
}

BOOST_AUTO_TEST_CASE(item3_concurrent_requests_share_one_import_retry) {
    HttpdOptions o = threaded_one_child(Mpm::event, 4, "PyApp /r @APPS@/retry_import_app.py\n");
    HttpdServer srv(o);
    std::string markers = make_markers_dir(srv);
    srv.allow_log_error("PM00012");
    srv.allow_log_error("PM00002|no Python runtime");
    srv.start();
    BOOST_TEST_REQUIRE(!srv.wait_for_log("PM00012: could not import app", 10s).empty());
    // Fixed: the next requests import it, three at once.
    { std::ofstream(markers + "/ready") << "yes\n"; }
    std::size_t mark = srv.log_mark();
    std::vector<std::future<HttpResponse>> replies;
    for (int i = 0; i < 3; ++i)
        replies.push_back(std::async(std::launch::async, [&] { return http_get(srv.port(), "/r/x", 30s); }));
    for (auto& f : replies) {
        auto r = f.get();
        BOOST_TEST(r.status == 200, r.body);
        BOOST_TEST(r.body == "imported\n");
    }
    BOOST_TEST(srv.count_log("PM00012", mark) == 0u, srv.log_since(mark));
    BOOST_TEST(srv.count_log("PM00011: imported app /r=", mark) == 1u, "one import for the three requests");
}

BOOST_AUTO_TEST_CASE(item4_authorization_reaches_the_app) {
    HttpdServer srv(prefork_one_child("PyApp /p @APPS@/python3_like/app.py\n"));
    srv.options().extra_config = basic_auth_config(srv, "/p/auth/private");
    srv.start();
    // The app authenticates: it gets the header, as from any WSGI server.
    auto bearer = get_with(srv.port(), "/p/auth", "Bearer abc.def.ghi");
    BOOST_TEST_REQUIRE(bearer.status == 200, bearer.body);
    BOOST_TEST(parse_json(bearer.body).get<std::string>("authorization") == "Bearer abc.def.ghi");
    auto basic = get_with(srv.port(), "/p/auth", "Basic YWxpY2U6c2VjcmV0");
    BOOST_TEST(parse_json(basic.body).get<std::string>("authorization") == "Basic YWxpY2U6c2VjcmV0");
    // httpd authenticates: REMOTE_USER says who, the credentials stay out.
    auto by_httpd = get_with(srv.port(), "/p/auth/private", "Basic YWxpY2U6c2VjcmV0");
    BOOST_TEST_REQUIRE(by_httpd.status == 200, by_httpd.body);
    auto j = parse_json(by_httpd.body);
    BOOST_TEST(j.get<std::string>("remote_user") == "alice");
    BOOST_TEST(j.get<std::string>("authorization") == "null");
}

BOOST_AUTO_TEST_CASE(item5_threads_the_app_starts_block_httpd_signals) {
    // SIGTERM (15), SIGUSR1 (10), SIGHUP (1), SIGWINCH (28) are httpd's: no
    // thread the app starts may take them, however it starts it.
    HttpdServer srv(prefork_one_child("PyApp /p @APPS@/python3_like/app.py\n"));
    srv.start();
    auto r = http_get(srv.port(), "/p/signals");
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    auto j = parse_json(r.body);
    for (const char* how : {"thread", "_thread"}) {
        std::set<int> blocked;
        for (auto& [k, v] : j.get_child(how)) blocked.insert(v.get_value<int>());
        for (int sig : {1, 10, 15, 28}) BOOST_TEST(blocked.count(sig) == 1u, how << " thread: signal " << sig);
    }
    BOOST_TEST(srv.count_log("PM00016") == 0u, "this Python has every internal the child uses");
}

BOOST_AUTO_TEST_CASE(flask_app_with_utf8_templates_executor_and_bearer_token) {
    for (auto& [name, options] : prefork_and_event("PyApp /f @APPS@/flask_utf8/app.py:app\nPyShutdownTimeout " +
                                                   std::to_string(kShutdownTimeout) + "\n")) {
        BOOST_TEST_CONTEXT(name) {
            HttpdServer srv(options);
            srv.start();
            auto page = http_get(srv.port(), "/f/page/Jürgen");
            BOOST_TEST_REQUIRE(page.status == 200, page.body);
            BOOST_TEST(contains(page.body, "Grüß Gott, Jürgen!"), page.body);
            BOOST_TEST(contains(page.body, "Straße, Äpfel, naïve, 東京"), page.body);
            BOOST_TEST(http_get(srv.port(), "/f/api/secret").status == 401);
            BOOST_TEST(get_with(srv.port(), "/f/api/secret", "Bearer wrong").status == 401);
            auto ok = get_with(srv.port(), "/f/api/secret", "Bearer s3cr3t-token");
            BOOST_TEST(ok.status == 200, ok.body);
            BOOST_TEST(contains(ok.body, "granted"), ok.body);
            const long pid = srv.child_pids().at(0);
            std::size_t mark = srv.log_mark();
            srv.graceful_restart();
            const double took = finalised_in(srv, pid, mark);
            BOOST_TEST(took >= 0, "the old child finalised Python");
            BOOST_TEST(took < kShutdownTimeout / 2.0, "the stop took " << took << " s");
            BOOST_TEST(srv.count_log("PM00042|PM00031|PM00070", mark) == 0u, srv.log_since(mark));
            BOOST_TEST(http_get(srv.port(), "/f/page/Zoë").status == 200);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
