// The effective model against a real httpd: PyEnableThreads Off refused
// where a child has several request threads (apache2 -t and a real start),
// accepted with ThreadsPerChild 1; PyThreads lowered with a warning;
// pympm.child_info() and wsgi.multithread matching the "child ready" line.
#include "test_mpm_common.h"

#include <iostream>

using namespace pympm_test;
using namespace pympm_test::mpm;

namespace {

// Field `key` ("py_threads=4") of a "child ready" line.
std::string ready_field(const std::string& line, const std::string& key) {
    auto p = line.find(" " + key + "=");
    if (p == std::string::npos) return "<missing>";
    p += key.size() + 2;
    auto e = line.find(' ', p);
    return line.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

// child_info() of the child that answers, checked against its ready line.
KeyValues info_matching_ready_line(const HttpdServer& srv) {
    auto info = get_kv(srv.port(), "/info");
    pid_t pid = static_cast<pid_t>(at_long(info, "pid"));
    std::string ready = ready_line_of(srv, pid);
    BOOST_TEST_REQUIRE(!ready.empty(), "no child ready line for pid " << pid);
    BOOST_TEST(at(info, "mpm") == ready_field(ready, "mpm"));
    BOOST_TEST(at(info, "threads_per_child") == ready_field(ready, "threads_per_child"));
    BOOST_TEST(at(info, "py_threads") == ready_field(ready, "py_threads"));
    BOOST_TEST((at(info, "enable_threads") == "True" ? "on" : "off") == ready_field(ready, "enable_threads"));
    BOOST_TEST(at(info, "python") == ready_field(ready, "python"));
    BOOST_TEST(at(info, "home") == ready_field(ready, "home"));
    BOOST_TEST(at(info, "apps") == ready_field(ready, "apps"));
    return info;
}

void expect_refused(HttpdOptions o, const std::string& mpm) {
    {
        HttpdServer srv(o);
        auto t = srv.config_test();
        BOOST_TEST(t.exit_code != 0, "apache2 -t accepted PyEnableThreads Off under " << mpm << ":\n" << t.output);
        BOOST_TEST(contains(t.output, "PyEnableThreads Off"), t.output);
        BOOST_TEST(contains(t.output, "the " + mpm + " MPM"), t.output);
        BOOST_TEST(contains(t.output, "ThreadsPerChild"), t.output);
        BOOST_TEST(contains(t.output, "PM00005"), t.output);
    }
    {
        HttpdServer srv(o);
        auto r = srv.start_expect_failure();
        BOOST_TEST(r.exit_code != 0);
        // The reason is in the error log (and so in journald / the log file
        // a service manager points to), with the same sentence.
        std::string line = srv.wait_for_log("PM00005: .*PyEnableThreads Off", 5s);
        BOOST_TEST(!line.empty(), "error log of the refused start:\n" << r.error_log << "\noutput:\n" << r.output);
        BOOST_TEST(contains(line, "the " + mpm + " MPM"), line);
        BOOST_TEST(contains(line, "write PyEnableThreads On"), line);
        BOOST_TEST(srv.count_log("child ready") == 0u, "no child started");
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(mpm_model)

BOOST_AUTO_TEST_CASE(enable_threads_off_refused_with_several_threads_per_child) {
    expect_refused(threaded_one_child(Mpm::event, 4, kMpmApp + "PyEnableThreads Off\n"), "event");
    expect_refused(threaded_one_child(Mpm::worker, 2, kMpmApp + "PyEnableThreads Off\n"), "worker");
}

BOOST_AUTO_TEST_CASE(directive_values_checked_by_config_test) {
    struct Case {
        const char* line;
        const char* needle;
    };
    for (Case c :
         {Case{"PyThreads 0", "PyThreads"}, Case{"PyThreads many", "'many'"}, Case{"PyThreads -2", "PyThreads"},
          Case{"PyShutdownTimeout soon", "PyShutdownTimeout"}, Case{"PyShutdownTimeout -1", "PyShutdownTimeout"},
          Case{"PyEnableThreads maybe", "PyEnableThreads"}}) {
        HttpdServer srv(prefork_children(1, kMpmApp + c.line + "\n"));
        auto t = srv.config_test();
        BOOST_TEST(t.exit_code != 0, "accepted '" << c.line << "'");
        BOOST_TEST(contains(t.output, c.needle), c.line << ": " << t.output);
    }
    HttpdServer ok(prefork_children(1, kMpmApp + "PyThreads auto\nPyShutdownTimeout 0\nPyEnableThreads off\n"));
    auto t = ok.config_test();
    BOOST_TEST(t.exit_code == 0, t.output);
}

BOOST_AUTO_TEST_CASE(enable_threads_off_with_one_thread_per_child) {
    // Event with ThreadsPerChild 1: the request thread keeps the GIL between
    // requests, so the app's thread is frozen as under prefork; stopping the
    // child must not hang on that GIL (the request thread gives it back when
    // httpd ends it).
    HttpdServer srv(threaded_one_child(Mpm::event, 1, kMpmApp + "PyEnableThreads Off\n"));
    srv.start();
    auto info = info_matching_ready_line(srv);
    BOOST_TEST(at(info, "enable_threads") == "False");
    BOOST_TEST(at(info, "py_threads") == "1");
    BOOST_TEST(at(info, "wsgi.multithread") == "False");
    auto before = get_kv(srv.port(), "/ticks");
    std::this_thread::sleep_for(1500ms); // idle period under test
    auto after = get_kv(srv.port(), "/ticks");
    long advanced = at_long(after, "ticks") - at_long(before, "ticks");
    std::cerr << "[model] event 1 thread Off: ticker advanced " << advanced << " in 1.5 s idle\n";
    BOOST_TEST(advanced <= 3, "frozen between requests; advanced " << advanced);
    BOOST_TEST(!srv.wait_for_log("PM00014: .*ticker", 10s).empty());
    auto burn = get_kv(srv.port(), "/burn?s=0.5");
    BOOST_TEST(at_long(burn, "ticks_after") - at_long(burn, "ticks_before") >= 2, "runs while a request runs Python");

    pid_t old_pid = static_cast<pid_t>(at_long(info, "pid"));
    std::size_t mark = srv.log_mark();
    srv.graceful_restart();
    double gone = wait_gone(old_pid, 10s);
    std::cerr << "[model] event 1 thread Off: old child gone " << gone << " s after the graceful restart\n";
    BOOST_TEST(gone >= 0, "the old child exits after a graceful restart");
    BOOST_TEST(!srv.wait_for_log("\\[pid " + std::to_string(old_pid) + "(:tid [0-9]+)?\\].*PM00032: Python finalised",
                                 5s, mark)
                    .empty(),
               "the old child finalised Python (the request thread gave the GIL back)");
    auto again = get_kv(srv.port(), "/info");
    BOOST_TEST(at_long(again, "pid") != old_pid);
    BOOST_TEST(at(again, "generation") == "1");

    pid_t new_pid = static_cast<pid_t>(at_long(again, "pid"));
    mark = srv.log_mark();
    const auto t0 = Clock::now();
    // A graceful stop: with SIGTERM, httpd 2.4.71's event MPM itself
    // sometimes segfaults in close_worker_sockets() while its one worker
    // thread exits (apr_os_sock_get on a freed socket; seen without
    // mod_pympm too). What is tested here is that the worker thread gives the
    // GIL back when it ends, which both stops exercise.
    srv.graceful_stop();
    double took = HttpResponse::seconds(t0, Clock::now());
    std::cerr << "[model] event 1 thread Off: stop took " << took << " s\n";
    BOOST_TEST(took < 3.0, "stop took " << took << " s");
    BOOST_TEST(process_gone(new_pid));
    BOOST_TEST(srv.count_log("PM00032: Python finalised", mark) >= 1u);
}

BOOST_AUTO_TEST_CASE(child_info_prefork_matches_ready_line) {
    HttpdServer srv(prefork_children(2, kMpmApp));
    srv.start();
    auto info = info_matching_ready_line(srv);
    auto pids = srv.child_pids();
    BOOST_TEST((std::find(pids.begin(), pids.end(), static_cast<pid_t>(at_long(info, "pid"))) != pids.end()),
               "pid is one of httpd's children");
    BOOST_TEST(at(info, "mpm") == "prefork");
    BOOST_TEST(at(info, "threads_per_child") == "1");
    BOOST_TEST(at(info, "py_threads") == "1");
    BOOST_TEST(at(info, "enable_threads") == "True");
    BOOST_TEST(at(info, "generation") == "0");
    BOOST_TEST(at(info, "python").rfind(python_version() + ".", 0) == 0u, at(info, "python"));
    BOOST_TEST(at(info, "apps") == "/=" + srv.app_path("mpm_app.py") + ":application");
    BOOST_TEST(at(info, "wsgi.multithread") == "False");
    BOOST_TEST(at(info, "stopping") == "False");
    BOOST_TEST(at(info, "requests_waiting") == "0");

    srv.graceful_restart();
    auto after = info_matching_ready_line(srv);
    BOOST_TEST(at(after, "generation") == "1");
}

BOOST_AUTO_TEST_CASE(child_info_event_and_wsgi_multithread) {
    struct Row {
        const char* directive;
        const char* py_threads;
        const char* multithread;
    };
    for (Row row : {Row{"", "4", "True"}, Row{"PyThreads auto\n", "4", "True"}, Row{"PyThreads 2\n", "2", "True"},
                    Row{"PyThreads 1\n", "1", "False"}}) {
        BOOST_TEST_CONTEXT("event 1x4 '" << row.directive << "'") {
            HttpdServer srv(threaded_one_child(Mpm::event, 4, kMpmApp + row.directive));
            srv.start();
            auto info = info_matching_ready_line(srv);
            BOOST_TEST(at(info, "mpm") == "event");
            BOOST_TEST(at(info, "threads_per_child") == "4");
            BOOST_TEST(at(info, "py_threads") == row.py_threads);
            BOOST_TEST(at(info, "wsgi.multithread") == row.multithread);
            BOOST_TEST(at(info, "multithread") == row.multithread);
            BOOST_TEST(srv.count_log("PM00013") == 0u, "nothing lowered");
        }
    }
}

BOOST_AUTO_TEST_CASE(py_threads_lowered_with_a_warning) {
    {
        HttpdServer srv(prefork_children(1, kMpmApp + "PyThreads 3\n"));
        srv.start();
        std::string w = srv.wait_for_log("PM00013: PyThreads 3 lowered to 1", 10s);
        BOOST_TEST(!w.empty());
        BOOST_TEST(contains(w, "[pympm:warn"), w);
        BOOST_TEST(contains(w, "prefork"), w);
        auto info = info_matching_ready_line(srv);
        BOOST_TEST(at(info, "py_threads") == "1");
        BOOST_TEST(at(info, "wsgi.multithread") == "False");
    }
    {
        HttpdServer srv(threaded_one_child(Mpm::event, 4, kMpmApp + "PyThreads 8\n"));
        srv.start();
        std::string w = srv.wait_for_log("PM00013: PyThreads 8 lowered to 4", 10s);
        BOOST_TEST(!w.empty());
        BOOST_TEST(contains(w, "ThreadsPerChild"), w);
        auto info = info_matching_ready_line(srv);
        BOOST_TEST(at(info, "py_threads") == "4");
        BOOST_TEST(at(info, "wsgi.multithread") == "True");
    }
}

BOOST_AUTO_TEST_SUITE_END()
