// End-to-end tests of the module's foundation: directives and their config
// errors, mounts, the WSGI environ, an app's exception in the error log,
// logging of the app's output, the child-ready line and graceful restarts.
// (What start_response accepts and what the module sends for a bad
// response are unit tests: tests/unit/test_wsgi_*.cpp.)
#include "http_client.h"
#include "httpd_server.h"
#include "test_support.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <map>
#include <sstream>

using namespace pympm_test;
using namespace std::chrono_literals;

namespace {

HttpdOptions prefork(std::string pympm_config) {
    HttpdOptions o;
    o.mpm = Mpm::prefork;
    o.start_servers = 2;
    o.pympm_config = std::move(pympm_config);
    return o;
}

// Checks that `apache2 -t` refuses the config and names `needle`.
void expect_config_error(const std::string& pympm_config, const std::string& needle) {
    HttpdServer srv(prefork(pympm_config));
    std::string expected = needle;
    for (auto [from, to] : {std::pair<std::string, std::string>{"@APPS@", srv.apps_dir()},
                            std::pair<std::string, std::string>{"@ROOT@", srv.root()}}) {
        for (std::size_t p; (p = expected.find(from)) != std::string::npos;) expected.replace(p, from.size(), to);
    }
    auto r = srv.config_test();
    BOOST_TEST(r.exit_code != 0, "apache2 -t accepted: " << pympm_config << "\n" << r.output);
    BOOST_TEST(contains(r.output, expected), "apache2 -t output does not name '" << expected << "' for config '"
                                                                                 << pympm_config << "':\n"
                                                                                 << r.output);
}

// Waits for an error-level line tagged with the client port of `local_port`
// (the request's own error report) and allows that request's lines.
void expect_request_error_logged(HttpdServer& srv, std::uint16_t local_port, std::size_t mark) {
    srv.allow_client_errors(local_port);
    std::string tag = regex_escape(client_log_tag(local_port));
    std::string line = srv.wait_for_log(R"(\[pympm:error\].*)" + tag, 10s, mark);
    BOOST_TEST(!line.empty(), "no [pympm:error] line for the request from client port " << local_port);
}

} // namespace

// ================================================================= config

BOOST_AUTO_TEST_SUITE(foundation_config)

BOOST_AUTO_TEST_CASE(valid_config_passes) {
    HttpdServer srv(prefork("PyApp / @APPS@/hello.py\n"
                            "PyApp /o @APPS@/named_callables.py:other\n"
                            "PyPath @APPS@/pkgdir\n"
                            "PyApp /pkg pympm_testpkg.wsgi:app\n"));
    auto r = srv.config_test();
    BOOST_TEST(r.exit_code == 0, r.output);
    BOOST_TEST(contains(r.output, "Syntax OK"), r.output);
}

BOOST_AUTO_TEST_CASE(missing_script) {
    expect_config_error("PyApp / @ROOT@/no/such/app.py", "@ROOT@/no/such/app.py");
    expect_config_error("PyApp /x @ROOT@/no/such/app.py:app", "@ROOT@/no/such/app.py");
}

BOOST_AUTO_TEST_CASE(script_is_a_directory) { expect_config_error("PyApp / @APPS@/pkgdir", "@APPS@/pkgdir"); }

BOOST_AUTO_TEST_CASE(malformed_module_targets) {
    expect_config_error("PyApp / a.b:", "a.b:");
    expect_config_error("PyApp / :x", ":x");
    expect_config_error("PyApp / foo", "foo");
}

BOOST_AUTO_TEST_CASE(nonexistent_pyhome) {
    expect_config_error("PyHome @ROOT@/no-such-venv\nPyApp / @APPS@/hello.py", "@ROOT@/no-such-venv");
}

BOOST_AUTO_TEST_CASE(pyhome_of_another_python_version) {
    HttpdServer srv(prefork("PyHome @APPS@/oldvenv\nPyApp / @APPS@/hello.py"));
    srv.add_app_file("oldvenv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.9.2\n");
    srv.add_app_file("oldvenv/lib/python3.9/site-packages/.keep", "");
    srv.add_app_file("oldvenv/bin/.keep", "");
    auto r = srv.config_test();
    BOOST_TEST(r.exit_code != 0, r.output);
    BOOST_TEST(contains(r.output, "3.9"), r.output);
    BOOST_TEST(contains(r.output, python_version()), r.output);
}

BOOST_AUTO_TEST_CASE(pyhome_venv_of_this_python_passes) {
    HttpdServer srv(prefork("PyHome @ROOT@/venv\nPyApp / @APPS@/hello.py"));
    auto mk = run_command({python_executable(), "-m", "venv", "--without-pip", srv.root() + "/venv"});
    BOOST_REQUIRE_MESSAGE(mk.exit_code == 0, mk.output);
    auto r = srv.config_test();
    BOOST_TEST(r.exit_code == 0, r.output);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ routing

BOOST_AUTO_TEST_SUITE(foundation_routing)

BOOST_AUTO_TEST_CASE(longest_prefix_wins) {
    // Declared out of order on purpose: the longest prefix wins, not the first.
    HttpdServer srv(prefork("PyApp /app/sub @APPS@/named_callables.py:other\n"
                            "PyApp / @APPS@/environ_app.py\n"
                            "PyApp /app @APPS@/environ_app.py:second\n"));
    srv.start();

    struct Case {
        std::string target, callable, script_name, path_info;
    };
    for (const Case& c : {Case{"/app", "second", "/app", ""}, Case{"/app/", "second", "/app", "/"},
                          Case{"/app/x/y", "second", "/app", "/x/y"}, Case{"/apple", "application", "", "/apple"},
                          Case{"/app/subway", "second", "/app", "/subway"}, Case{"/", "application", "", "/"},
                          Case{"/other/thing", "application", "", "/other/thing"}}) {
        auto r = http_get(srv.port(), c.target);
        BOOST_TEST_CONTEXT("GET " << c.target) {
            BOOST_TEST_REQUIRE(r.status == 200);
            auto env = parse_flat_json(r.body);
            BOOST_TEST(at(env, "callable") == c.callable);
            BOOST_TEST(at(env, "SCRIPT_NAME") == c.script_name);
            BOOST_TEST(at(env, "PATH_INFO") == c.path_info);
        }
    }
    for (const std::string target : {"/app/sub", "/app/sub/z"}) {
        auto r = http_get(srv.port(), target);
        BOOST_TEST(r.status == 200, target);
        BOOST_TEST(r.body == "named_callables.other", target);
    }
}

BOOST_AUTO_TEST_CASE(script_callables_and_packages) {
    HttpdServer srv(prefork("PyPath @APPS@/pkgdir\n"
                            "PyApp /default @APPS@/named_callables.py\n"
                            "PyApp /named @APPS@/named_callables.py:other\n"
                            "PyApp /pkg pympm_testpkg.wsgi:app\n"
                            "PyApp /hello @APPS@/hello.py\n"));
    srv.start();
    BOOST_TEST(http_get(srv.port(), "/default").body == "named_callables.application");
    BOOST_TEST(http_get(srv.port(), "/named").body == "named_callables.other");
    auto pkg = http_get(srv.port(), "/pkg/x");
    BOOST_TEST(pkg.status == 200);
    // PyPath prepends: the folder is sys.path[0].
    BOOST_TEST(pkg.body == "pympm_testpkg.wsgi:app sys.path[0]=" + srv.apps_dir() + "/pkgdir");
    auto hello = http_get(srv.port(), "/hello/there");
    BOOST_TEST(hello.status == 200);
    BOOST_TEST(contains(hello.body, "path=/hello/there"), hello.body);
    // Nothing is mounted at /: httpd's own 404.
    BOOST_TEST(http_get(srv.port(), "/elsewhere").status == 404);
}

BOOST_AUTO_TEST_CASE(pyhome_venv_is_used) {
    HttpdServer srv(prefork("PyHome @ROOT@/venv\nPyApp / @APPS@/sysinfo_app.py"));
    auto mk = run_command({python_executable(), "-m", "venv", "--without-pip", srv.root() + "/venv"});
    BOOST_REQUIRE_MESSAGE(mk.exit_code == 0, mk.output);
    srv.start();
    auto r = http_get(srv.port(), "/");
    BOOST_TEST_REQUIRE(r.status == 200);
    auto info = parse_json(r.body);
    BOOST_TEST(info.get<std::string>("prefix") == srv.root() + "/venv");
    BOOST_TEST(info.get<std::string>("version").rfind(python_version() + ".", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ environ

BOOST_AUTO_TEST_SUITE(foundation_environ)

BOOST_AUTO_TEST_CASE(get_request_environ) {
    HttpdServer srv(prefork("PyApp /env @APPS@/environ_app.py"));
    srv.start();
    HttpRequest req;
    req.target = "/env/some/path?x=1&y=%20z";
    req.headers = {{"X-Test-Header", "hello"}, {"User-Agent", "pympm-e2e"}};
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST(r.headers.get("Content-Type") == "application/json");
    auto env = parse_flat_json(r.body);
    BOOST_TEST(at(env, "REQUEST_METHOD") == "GET");
    BOOST_TEST(at(env, "SCRIPT_NAME") == "/env");
    BOOST_TEST(at(env, "PATH_INFO") == "/some/path");
    BOOST_TEST(at(env, "QUERY_STRING") == "x=1&y=%20z");
    BOOST_TEST(at(env, "SERVER_NAME") == "127.0.0.1");
    BOOST_TEST(at(env, "SERVER_PORT") == std::to_string(srv.port()));
    BOOST_TEST(at(env, "SERVER_PROTOCOL") == "HTTP/1.1");
    BOOST_TEST(at(env, "HTTP_X_TEST_HEADER") == "hello");
    BOOST_TEST(at(env, "HTTP_USER_AGENT") == "pympm-e2e");
    BOOST_TEST(at(env, "HTTP_HOST") == "127.0.0.1:" + std::to_string(srv.port()));
    BOOST_TEST(at(env, "REMOTE_ADDR") == "127.0.0.1");
    BOOST_TEST(at(env, "wsgi.version") == "(1, 0)");
    BOOST_TEST(at(env, "wsgi.url_scheme") == "http");
    BOOST_TEST(at(env, "wsgi.multithread") == "False");
    BOOST_TEST(at(env, "wsgi.multiprocess") == "True");
    BOOST_TEST(at(env, "wsgi.run_once") == "False");
    BOOST_TEST(env.count("wsgi.input") == 1u);
    BOOST_TEST(env.count("wsgi.errors") == 1u);
    BOOST_TEST(at(env, "body") == "");
    // A GET without a body has no CONTENT_LENGTH (or an empty/zero one).
    if (env.count("CONTENT_LENGTH")) BOOST_TEST((env["CONTENT_LENGTH"] == "" || env["CONTENT_LENGTH"] == "0"));
}

BOOST_AUTO_TEST_CASE(post_body_through_wsgi_input) {
    HttpdServer srv(prefork("PyApp / @APPS@/environ_app.py"));
    srv.start();
    HttpRequest req;
    req.method = "POST";
    req.target = "/form";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    req.body = "hello=world&n=42";
    auto r = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r.status == 200);
    auto env = parse_flat_json(r.body);
    BOOST_TEST(at(env, "REQUEST_METHOD") == "POST");
    BOOST_TEST(at(env, "CONTENT_TYPE") == "application/x-www-form-urlencoded");
    BOOST_TEST(at(env, "CONTENT_LENGTH") == "16");
    BOOST_TEST(at(env, "body") == "hello=world&n=42");
    BOOST_TEST(at(env, "SCRIPT_NAME") == "");
    BOOST_TEST(at(env, "PATH_INFO") == "/form");

    // A larger body, several reads' worth.
    std::string big;
    for (int i = 0; big.size() < 300000; ++i) big += "line " + std::to_string(i) + "\n";
    req.body = big;
    req.headers = {{"Content-Type", "text/plain"}};
    auto r2 = http_request(srv.port(), req);
    BOOST_TEST_REQUIRE(r2.status == 200);
    auto env2 = parse_flat_json(r2.body);
    BOOST_TEST(at(env2, "CONTENT_LENGTH") == std::to_string(big.size()));
    BOOST_TEST((at(env2, "body") == big));
}

BOOST_AUTO_TEST_CASE(wsgi_errors_goes_to_the_error_log) {
    HttpdServer srv(prefork("PyApp / @APPS@/environ_app.py"));
    srv.start();
    srv.allow_log_error("pympm-test-wsgi-errors-marker");
    auto r = http_get(srv.port(), "/?errors=1");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(!srv.wait_for_log("pympm-test-wsgi-errors-marker").empty());
}

BOOST_AUTO_TEST_CASE(keep_alive_requests_reach_the_app) {
    HttpdServer srv(prefork("PyApp / @APPS@/environ_app.py"));
    srv.start();
    HttpConnection conn(srv.port());
    for (int i = 0; i < 3; ++i) {
        HttpRequest req;
        req.target = "/k" + std::to_string(i);
        req.keep_alive = true;
        auto r = conn.request(req);
        BOOST_TEST_REQUIRE(r.status == 200);
        BOOST_TEST(at(parse_flat_json(r.body), "PATH_INFO") == req.target);
        BOOST_TEST_REQUIRE(conn.is_open());
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ============================================================= app errors

BOOST_AUTO_TEST_SUITE(foundation_app_errors)

BOOST_AUTO_TEST_CASE(exception_gives_500_and_traceback_child_survives) {
    HttpdServer srv(prefork_one_child("PyApp /errors @APPS@/errors_app.py"));
    srv.start();
    srv.allow_traceback_lines();
    srv.allow_log_error("pympm-test-boom");
    auto pid_before = http_get(srv.port(), "/errors/pid");
    BOOST_TEST_REQUIRE(pid_before.status == 200);

    std::size_t mark = srv.log_mark();
    auto r = http_get(srv.port(), "/errors/raise");
    BOOST_TEST(r.status == 500);
    BOOST_TEST(!contains(r.body, "pympm-test-boom"), "the traceback must not reach the client");
    expect_request_error_logged(srv, r.local_port, mark);
    BOOST_TEST(!srv.wait_for_log("RuntimeError: pympm-test-boom", 10s, mark).empty());
    BOOST_TEST(contains(srv.log_since(mark), "/errors/raise"), "the log names the request URI");
    BOOST_TEST(contains(srv.log_since(mark), "Traceback"));

    mark = srv.log_mark();
    auto r2 = http_get(srv.port(), "/errors/raise_after_start");
    BOOST_TEST(r2.status == 500);
    expect_request_error_logged(srv, r2.local_port, mark);
    BOOST_TEST(!srv.wait_for_log("ValueError: pympm-test-boom-after-start", 10s, mark).empty());

    auto pid_after = http_get(srv.port(), "/errors/pid");
    BOOST_TEST(pid_after.status == 200);
    BOOST_TEST(pid_after.body == pid_before.body, "the same child serves after the exceptions");
}

BOOST_AUTO_TEST_SUITE_END()

// ====================================================== import errors

BOOST_AUTO_TEST_SUITE(foundation_import_error)

BOOST_AUTO_TEST_CASE(broken_app_gets_500_others_work) {
    HttpdServer srv(prefork_one_child("PyApp /broken @APPS@/import_error_app.py\n"
                                      "PyApp /ok @APPS@/hello.py\n"));
    // The import fails in child_init (no request) and again on each request.
    srv.allow_traceback_lines();
    srv.allow_log_error("pympm-test-import-failure");
    srv.allow_log_error("import_error_app");
    srv.allow_log_error("/broken");
    srv.start();
    BOOST_TEST(!srv.wait_for_log("ImportError: pympm-test-import-failure").empty(),
               "the import error is logged when the child starts");

    BOOST_TEST(http_get(srv.port(), "/ok/x").status == 200);
    for (int i = 0; i < 2; ++i) {
        std::size_t mark = srv.log_mark();
        auto r = http_get(srv.port(), "/broken/x");
        BOOST_TEST(r.status == 500);
        BOOST_TEST(!contains(r.body, "pympm-test-import-failure"));
        // Retried on each request, so logged again (naming the mount).
        BOOST_TEST(!srv.wait_for_log("pympm-test-import-failure", 10s, mark).empty());
        BOOST_TEST(!srv.wait_for_log(R"(\[pympm:error\].*/broken)", 10s, mark).empty());
    }
    BOOST_TEST(http_get(srv.port(), "/ok/y").status == 200);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================ logging

BOOST_AUTO_TEST_SUITE(foundation_logging)

BOOST_AUTO_TEST_CASE(print_goes_to_the_error_log) {
    HttpdServer srv(prefork("PyApp /p @APPS@/print_app.py"));
    srv.allow_log_error("pympm-test-stderr-marker");
    srv.start();
    std::size_t mark = srv.log_mark();
    auto r = http_get(srv.port(), "/p/where");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == "printed");
    std::string out = srv.wait_for_log("pympm-test-stdout-marker /where", 10s, mark);
    BOOST_TEST(contains(out, "[pympm:notice]"), "stdout line: " << out);
    std::string err = srv.wait_for_log("pympm-test-stderr-marker", 10s, mark);
    BOOST_TEST(contains(err, "[pympm:error]"), "stderr line: " << err);
}

BOOST_AUTO_TEST_CASE(child_ready_line_and_graceful_restart) {
    HttpdServer srv(prefork("PyApp / @APPS@/hello.py"));
    srv.start();
    std::string ready = srv.wait_for_log("child ready: mpm=prefork");
    BOOST_TEST_REQUIRE(!ready.empty());
    BOOST_TEST(contains(ready, "[pympm:notice]"), ready);
    BOOST_TEST(contains(ready, "python=" + python_version()), ready);
    BOOST_TEST(contains(ready, "apps=/="), ready);
    BOOST_TEST(contains(ready, "threads_per_child=1"), ready);
    BOOST_TEST(contains(ready, "py_threads=1"), ready);
    BOOST_TEST(contains(ready, "enable_threads=on"), ready);
    BOOST_TEST(contains(ready, "PM"), "log lines carry a PMnnnnn id: " << ready);
    BOOST_TEST(http_get(srv.port(), "/").status == 200);

    // The ready line comes from each child.
    std::size_t before = srv.count_log("child ready: ");
    std::size_t mark = srv.log_mark();
    srv.graceful_restart();
    BOOST_TEST(!srv.wait_for_log("child ready: mpm=prefork", 15s, mark).empty(),
               "a child of the new generation logs its ready line");
    BOOST_TEST(srv.count_log("child ready: ") > before);
    for (int i = 0; i < 4; ++i) {
        auto r = http_get(srv.port(), "/after/" + std::to_string(i));
        BOOST_TEST(r.status == 200);
        BOOST_TEST(contains(r.body, "path=/after/"), r.body);
    }
    // And once more, to catch state that does not survive two restarts.
    srv.graceful_restart();
    BOOST_TEST(http_get(srv.port(), "/again").status == 200);
}

BOOST_AUTO_TEST_SUITE_END()

// ======================================================= threaded MPMs

BOOST_AUTO_TEST_SUITE(foundation_threaded_mpms)

BOOST_AUTO_TEST_CASE(event_and_worker_smoke) {
    for (Mpm mpm : {Mpm::event, Mpm::worker}) {
        BOOST_TEST_CONTEXT("mpm " << mpm_name(mpm)) {
            HttpdOptions o;
            o.mpm = mpm;
            o.start_servers = 1;
            o.server_limit = 1;
            o.threads_per_child = 4;
            o.pympm_config = "PyApp / @APPS@/environ_app.py";
            HttpdServer srv(o);
            srv.start();
            std::string ready = srv.wait_for_log(std::string("child ready: mpm=") + mpm_name(mpm));
            BOOST_TEST(!ready.empty());
            BOOST_TEST(contains(ready, "threads_per_child=4"), ready);

            auto r = http_get(srv.port(), "/t?x=1");
            BOOST_TEST_REQUIRE(r.status == 200);
            auto env = parse_flat_json(r.body);
            BOOST_TEST(at(env, "wsgi.multithread") == "True");
            // wsgi.multiprocess is not asserted: with ServerLimit 1 one
            // process serves, and the module may well say so.
            BOOST_TEST(at(env, "PATH_INFO") == "/t");

            std::vector<std::future<HttpResponse>> all;
            for (int i = 0; i < 8; ++i)
                all.push_back(std::async(std::launch::async,
                                         [&srv, i] { return http_get(srv.port(), "/c/" + std::to_string(i)); }));
            for (int i = 0; i < 8; ++i) {
                auto ri = all[static_cast<std::size_t>(i)].get();
                BOOST_TEST(ri.status == 200);
                BOOST_TEST(at(parse_flat_json(ri.body), "PATH_INFO") == "/c/" + std::to_string(i));
            }
            BOOST_TEST(srv.child_pids().size() == 1u);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
