// Issue 11: running it in production. PyRequestTimeout (stack dumps,
// pympm.RequestTimeout, recycling a child that stays stuck), PyMaxRequests
// and PyMaxMemory (graceful recycling under load), the pympm-status page in
// its three formats, mod_status's section, and the directives' checks.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

std::string module_line(const std::string& name, const std::string& file) {
    return "LoadModule " + name + " " + httpd_modules_dir() + "/" + file + "\n";
}

struct OpsVariant {
    std::string name;
    HttpdOptions options;
    bool threaded;
};

std::vector<OpsVariant> variants(const std::string& config) {
    std::vector<OpsVariant> out;
    out.push_back({"prefork", prefork_one_child(config), false});
    for (const char* py : {"1", "auto"})
        out.push_back({std::string("event 1x4 PyThreads ") + py,
                       threaded_one_child(Mpm::event, 4, config + "PyThreads " + py + "\n"), true});
    return out;
}

long pid_answering(const HttpdServer& srv, std::chrono::milliseconds timeout = 20s) {
    auto r = http_get(srv.port(), "/o/hello", timeout);
    if (r.status != 200) return -1;
    const std::string prefix = "hello from ";
    return r.body.rfind(prefix, 0) == 0 ? std::stol(r.body.substr(prefix.size())) : -1;
}

// Polls until a child other than `old` answers.
long replacement_of(const HttpdServer& srv, long old) {
    long now = -1;
    eventually(
        [&] {
            try {
                now = pid_answering(srv, 5s);
            } catch (const HttpError&) {
                now = -1;
            }
            return now > 0 && now != old;
        },
        30s);
    return now;
}

} // namespace

// ------------------------------------------------------- PyRequestTimeout
BOOST_AUTO_TEST_SUITE(ops_request_timeouts, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(a_python_loop_gets_request_timeout_and_a_504) {
    for (auto& v : variants(kOpsApp + "PyRequestTimeout 1\nPyShutdownTimeout 1\n")) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            srv.allow_log_error("PM00060");
            srv.start();
            const long pid = pid_answering(srv);
            std::size_t mark = srv.log_mark();
            auto r = http_get(srv.port(), "/o/busy", 30s);
            BOOST_TEST(r.status == 504);
            // The request, the stack (innermost last: the loop), the outcome.
            auto head = srv.log_lines_matching("PM00060: request ran the app for", mark);
            BOOST_TEST_REQUIRE(head.size() == 1u, srv.log_since(mark));
            BOOST_TEST(contains(head[0], "GET /o/busy HTTP/1.1 from 127.0.0.1"), head[0]);
            BOOST_TEST(contains(head[0], "PyRequestTimeout 1 s"), head[0]);
            auto stack = srv.log_lines_matching("PM00060:   ", mark);
            BOOST_TEST_REQUIRE(!stack.empty());
            BOOST_TEST(srv.count_log("PM00060: .*in spin_forever", mark) == 1u);
            BOOST_TEST(srv.count_log("PM00061: .*504 to the client", mark) == 1u);
            // Ended, not stuck: the same child serves on.
            BOOST_TEST(pid_answering(srv) == pid);
            BOOST_TEST(srv.count_log("PM00062|PM00063", mark) == 0u);
            auto info = parse_json(http_get(srv.port(), "/o/info").body);
            BOOST_TEST(info.get<int>("timeouts") == 1);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_stream_that_loops_after_its_first_chunk_is_cut) {
    for (auto& v : variants(kOpsApp + "PyRequestTimeout 1\nPyShutdownTimeout 1\n")) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            srv.allow_log_error("PM00060");
            srv.start();
            const long pid = pid_answering(srv);
            auto reply = raw_exchange(srv.port(), "GET /o/stream_busy HTTP/1.1\r\nHost: x\r\n\r\n", 30s);
            BOOST_TEST(!reply.timed_out);
            BOOST_TEST(contains(reply.data, "first chunk"), reply.data);
            BOOST_TEST(!ends_with(reply.data, "0\r\n\r\n"), "the response is cut: no last chunk");
            BOOST_TEST(pid_answering(srv) == pid);
        }
    }
}

BOOST_AUTO_TEST_CASE(requests_stuck_in_c_recycle_the_child) {
    // time.sleep, a lock, an app that swallows RequestTimeout, a stream that
    // stalls after its first chunk: none returns, so the child leaves.
    for (auto& v : variants(kOpsApp + "PyRequestTimeout 1\nPyShutdownTimeout 1\n")) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            srv.allow_log_error("PM00060|PM00062|PM00063");
            srv.start();
            for (const char* route : {"sleep", "lock", "swallow", "stream_stall"}) {
                BOOST_TEST_CONTEXT(route) {
                    const long pid = pid_answering(srv);
                    std::size_t mark = srv.log_mark();
                    auto stuck = std::async(std::launch::async, [&] {
                        return raw_exchange(srv.port(), std::string("GET /o/") + route + " HTTP/1.1\r\nHost: x\r\n\r\n",
                                            40s);
                    });
                    BOOST_TEST_REQUIRE(
                        !srv.wait_for_log("PM00040: (sleep|lock|swallow) begins|stream stalls", 20s, mark).empty());
                    if (v.threaded) {
                        // Other clients of the child are served meanwhile
                        // (under PyThreads 1 once the stuck request's slot
                        // is given up, when the child starts to leave).
                        auto other = http_get(srv.port(), "/o/hello", 30s);
                        BOOST_TEST(other.status == 200);
                    }
                    auto reply = stuck.get();
                    BOOST_TEST(!reply.timed_out, "the stuck request's connection is closed");
                    BOOST_TEST(reply.closed);
                    if (std::string(route) == "stream_stall") {
                        BOOST_TEST(contains(reply.data, "first chunk"));
                        BOOST_TEST(!ends_with(reply.data, "0\r\n\r\n"));
                    } else {
                        BOOST_TEST(reply.data.empty(), reply.data);
                    }
                    BOOST_TEST(srv.count_log("PM00060: request ran the app", mark) == 1u);
                    BOOST_TEST(srv.count_log("PM00062: request still in the app", mark) == 1u);
                    BOOST_TEST(srv.count_log("PM00062:   ", mark) >= 1u, "the stack is logged again");
                    BOOST_TEST(srv.count_log("PM00064: child " + std::to_string(pid) + " leaves \\(request_timeout\\)",
                                             mark) == 1u);
                    BOOST_TEST(
                        !srv.wait_for_log("PM00063: child " + std::to_string(pid) + " exits now", 20s, mark).empty());
                    const long next = replacement_of(srv, pid);
                    BOOST_TEST(next > 0, "a new child replaces the one that left");
                    BOOST_TEST(next != pid);
                }
            }
        }
    }
}

// ASGI: the app's task is cancelled (asyncio's way to stop a coroutine at
// its next await); a coroutine that never awaits, or blocks the loop in C,
// recycles the child as a stuck WSGI request does.
BOOST_AUTO_TEST_CASE(asgi_tasks_are_cancelled_or_recycle_the_child) {
    const std::string config =
        kOpsApp + "PyApp /a @APPS@/asgi_app.py:app asgi\nPyRequestTimeout 1\nPyShutdownTimeout 1\n";
    for (auto& v : variants(config)) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            srv.allow_log_error("PM00060|PM00062|PM00063");
            srv.start();
            const long pid = pid_answering(srv);
            std::size_t mark = srv.log_mark();
            auto r = http_get(srv.port(), "/a/sleep?s=60", 30s);
            BOOST_TEST(r.status == 504);
            BOOST_TEST(srv.count_log("PM00060: request ran the app .*GET /a/sleep.*its coroutine stack", mark) == 1u);
            BOOST_TEST(srv.count_log("PM00060:   .*in app", mark) >= 1u, srv.log_since(mark));
            BOOST_TEST(srv.count_log("PM00061: .*504 to the client", mark) == 1u);
            BOOST_TEST(pid_answering(srv) == pid, "cancelled, not stuck: the child serves on");
            BOOST_TEST(srv.count_log("PM00062", mark) == 0u);

            for (const char* route : {"spin", "block"}) {
                BOOST_TEST_CONTEXT(route) {
                    const long before = pid_answering(srv);
                    mark = srv.log_mark();
                    auto reply =
                        raw_exchange(srv.port(), std::string("GET /a/") + route + " HTTP/1.1\r\nHost: x\r\n\r\n", 40s);
                    BOOST_TEST(!reply.timed_out, "the stuck request's connection is closed");
                    BOOST_TEST(srv.count_log("PM00060: request ran the app", mark) == 1u);
                    BOOST_TEST(srv.count_log(std::string("PM00062:   .*") +
                                                 (route == std::string("spin") ? "while True" : "time.sleep"),
                                             mark) >= 1u,
                               "the coroutine's stack is logged again: " << srv.log_since(mark));
                    BOOST_TEST(!srv.wait_for_log("PM00063: child " + std::to_string(before) + " exits now", 20s, mark)
                                    .empty());
                    const long next = replacement_of(srv, before);
                    BOOST_TEST(next > 0, "a new child replaces the one that left");
                    BOOST_TEST(next != before);
                }
            }
        }
    }
}

// A request nested in an ASGI request (mod_include's subrequest into the
// mount, run on the outer request's thread while it sends) must give the
// outer request its watch back: the outer task is cancelled at its timeout,
// not taken for stuck.
BOOST_AUTO_TEST_CASE(an_asgi_request_that_ran_a_subrequest_is_still_cancelled) {
    const std::string config = kOpsApp +
                               "PyApp /a @APPS@/asgi_app.py:app asgi\nPyRequestTimeout 1\nPyShutdownTimeout 1\n" +
                               module_line("include_module", "mod_include.so") +
                               "<Location /a/ssi_then_sleep>\n    SetOutputFilter INCLUDES\n    Options +Includes\n"
                               "</Location>\n";
    for (auto& v : variants(config)) {
        BOOST_TEST_CONTEXT(v.name) {
            HttpdServer srv(v.options);
            srv.allow_log_error("PM00060");
            srv.start();
            const long pid = pid_answering(srv);
            const std::size_t mark = srv.log_mark();
            auto reply = raw_exchange(srv.port(), "GET /a/ssi_then_sleep HTTP/1.1\r\nHost: x\r\n\r\n", 30s);
            BOOST_TEST(!reply.timed_out);
            BOOST_TEST(contains(reply.data, "<p>inner 0 pid "), reply.data);
            BOOST_TEST(!contains(reply.data, "never"));
            BOOST_TEST(srv.count_log("PM00060: request ran the app .*its task is cancelled \\(GET /a/ssi_then_sleep",
                                     mark) == 1u,
                       srv.log_since(mark));
            BOOST_TEST(srv.count_log("PM00062", mark) == 0u, "cancelled, not stuck: " << srv.log_since(mark));
            BOOST_TEST(pid_answering(srv) == pid, "the child serves on");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------- recycling
BOOST_AUTO_TEST_SUITE(ops_recycling, *boost::unit_test::label("slow"))

// Steady load from `clients` threads for `duration`: GET and POST, with and
// without keep-alive. A keep-alive GET that finds its connection closed by
// the server before any byte of a response is sent again on a new one, as
// HTTP clients do (RFC 9112 9.3.1); everything else counts as it is.
struct LoadResult {
    int sent = 0, ok = 0, failed = 0;
    std::set<long> pids;
    std::vector<std::string> failures;
};

LoadResult run_load(std::uint16_t port, int clients, std::chrono::seconds duration) {
    LoadResult total;
    std::mutex m;
    const auto until = Clock::now() + duration;
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            LoadResult mine;
            std::unique_ptr<HttpConnection> conn;
            for (int i = 0; Clock::now() < until; ++i) {
                // POSTs go on fresh connections: a client may not send a
                // POST again on its own when a keep-alive connection it
                // reuses turns out closed (only idempotent requests).
                const bool keep_alive = (c % 2) == 0;
                const bool post = !keep_alive && (i % 3) == 2;
                HttpRequest req;
                req.method = post ? "POST" : "GET";
                req.target = "/o/hello";
                req.body = post ? std::string(1000, 'p') : "";
                req.keep_alive = keep_alive;
                req.timeout = 30s;
                ++mine.sent;
                for (int attempt = 0;; ++attempt) {
                    try {
                        HttpResponse r;
                        if (keep_alive) {
                            if (!conn || !conn->is_open()) conn = std::make_unique<HttpConnection>(port);
                            r = conn->request(req);
                            if (r.connection_closed) conn.reset();
                        } else {
                            r = http_request(port, req);
                        }
                        if (r.status == 200) {
                            ++mine.ok;
                            mine.pids.insert(std::stol(r.body.substr(11)));
                        } else {
                            ++mine.failed;
                            mine.failures.push_back(std::to_string(r.status) + " " + r.body);
                        }
                        break;
                    } catch (const HttpError& e) {
                        const bool reused = keep_alive && conn && attempt == 0;
                        conn.reset();
                        if (reused && !post && std::string(e.what()).find("before a response") != std::string::npos)
                            continue; // the server closed an idle keep-alive connection
                        ++mine.failed;
                        mine.failures.push_back(e.what());
                        break;
                    }
                }
            }
            std::lock_guard lock(m);
            total.sent += mine.sent;
            total.ok += mine.ok;
            total.failed += mine.failed;
            total.pids.insert(mine.pids.begin(), mine.pids.end());
            total.failures.insert(total.failures.end(), mine.failures.begin(), mine.failures.end());
        });
    }
    for (auto& t : threads) t.join();
    return total;
}

BOOST_AUTO_TEST_CASE(max_requests_recycles_under_load_without_failing_a_request) {
    for (Mpm mpm : {Mpm::prefork, Mpm::worker, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdOptions o = mpm == Mpm::prefork ? prefork_children(2, kOpsApp + "PyMaxRequests 100\n")
                                                 : threaded_one_child(mpm, 4, kOpsApp + "PyMaxRequests 100\n");
            if (mpm != Mpm::prefork) {
                o.server_limit = 4;
                o.max_request_workers = 8;
                o.start_servers = 2;
                o.min_spare_threads = 4;
                o.max_spare_threads = 16;
            }
            HttpdServer srv(o);
            srv.start();
            auto load = run_load(srv.port(), 4, 10s);
            BOOST_TEST_MESSAGE(mpm_name(mpm) << ": " << load.sent << " sent, " << load.ok << " ok, " << load.failed
                                             << " failed, " << load.pids.size() << " children served");
            BOOST_TEST(load.failed == 0);
            for (std::size_t i = 0; i < std::min<std::size_t>(load.failures.size(), 5); ++i)
                BOOST_TEST_MESSAGE("failure: " << load.failures[i]);
            BOOST_TEST(load.ok == load.sent);
            const std::size_t leaves = srv.count_log("PM00064: child [0-9]+ leaves \\(max_requests\\)");
            BOOST_TEST(leaves >= 2u, leaves << " children left");
            BOOST_TEST(load.pids.size() >= 3u);
        }
    }
}

BOOST_AUTO_TEST_CASE(jitter_spreads_the_request_limits_of_a_generation) {
    HttpdServer srv(prefork_children(4, kOpsApp + "PyMaxRequests 1000 500\n"));
    srv.start();
    // Every child ready (a child still importing takes no connection).
    BOOST_TEST_REQUIRE(eventually([&] { return srv.count_log("PM00010: child ready") >= 4u; }, 20s));
    std::set<long> limits;
    std::set<long> pids;
    for (int i = 0; i < 200 && pids.size() < 4; ++i) {
        auto info = parse_json(http_get(srv.port(), "/o/info").body);
        if (pids.insert(info.get<long>("pid")).second) limits.insert(info.get<long>("request_limit"));
    }
    BOOST_TEST_REQUIRE(pids.size() == 4u, "reached " << pids.size() << " children");
    for (long l : limits) BOOST_TEST((l >= 1000 && l <= 1500), l);
    BOOST_TEST(limits.size() >= 3u, "limits of 4 children: " << limits.size() << " distinct");
}

BOOST_AUTO_TEST_CASE(max_memory_recycles_an_app_that_grows) {
    HttpdServer srv(prefork_one_child(kOpsApp + "PyMaxMemory 96\n"));
    srv.start();
    const long pid = pid_answering(srv);
    std::size_t mark = srv.log_mark();
    int grown = 0;
    for (; grown < 12 && srv.count_log("PM00064", mark) == 0; ++grown) {
        auto r = http_get(srv.port(), "/o/grow?mb=16");
        BOOST_TEST_REQUIRE(r.status == 200, r.body);
    }
    BOOST_TEST(grown < 12, "the child never left");
    BOOST_TEST(
        srv.count_log("PM00064: child " + std::to_string(pid) + " leaves \\(max_memory\\).*above PyMaxMemory 96 MiB",
                      mark) == 1u);
    const long next = replacement_of(srv, pid);
    BOOST_TEST(next > 0);
    auto info = parse_json(http_get(srv.port(), "/o/info").body);
    BOOST_TEST(info.get<std::string>("predecessor_left") == "max_memory");
}

BOOST_AUTO_TEST_SUITE_END()

// ----------------------------------------------------------- status page
BOOST_AUTO_TEST_SUITE(ops_status, *boost::unit_test::label("slow"))

std::string status_config() {
    return module_line("authz_host_module", "mod_authz_host.so") + module_line("status_module", "mod_status.so") +
           "<Location /pympm-status>\n    SetHandler pympm-status\n    Require local\n</Location>\n"
           "<Location /server-status>\n    SetHandler server-status\n    Require local\n</Location>\n";
}

// Sends a known mix: 10 ok, 3 app 404s, 2 app 503s, 2 exceptions (500).
void send_known_mix(const HttpdServer& srv) {
    for (int i = 0; i < 10; ++i) BOOST_TEST(http_get(srv.port(), "/o/hello").status == 200);
    for (int i = 0; i < 3; ++i) BOOST_TEST(http_get(srv.port(), "/o/status?code=404").status == 404);
    for (int i = 0; i < 2; ++i) BOOST_TEST(http_get(srv.port(), "/o/status?code=503").status == 503);
    for (int i = 0; i < 2; ++i) BOOST_TEST(http_get(srv.port(), "/o/raise").status == 500);
}

BOOST_AUTO_TEST_CASE(json_and_prometheus_count_what_the_test_sent) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdOptions o = mpm == Mpm::prefork ? prefork_children(2, kOpsApp) : threaded_one_child(mpm, 4, kOpsApp);
            o.extra_config = status_config();
            HttpdServer srv(o);
            srv.allow_log_error("PM00020: app /o=.* raised an exception for [A-Z]+ /o/raise");
            srv.allow_log_error("RuntimeError: raised on purpose");
            srv.allow_traceback_lines();
            srv.start();
            // A child is on the status board once it is ready: every child
            // httpd started is, before the board is read.
            BOOST_TEST_REQUIRE(
                eventually([&] { return srv.count_log("PM00010: child ready") >= srv.child_pids().size(); }, 20s));
            send_known_mix(srv);
            auto j = status_json(srv);
            const auto& t = j.get_child("totals");
            BOOST_TEST(t.get<int>("requests") == 17);
            BOOST_TEST(t.get<int>("app_4xx") == 3);
            BOOST_TEST(t.get<int>("app_5xx") == 4);
            BOOST_TEST(t.get<int>("exceptions") == 2);
            BOOST_TEST(t.get<int>("requests_in_app") == 0);
            BOOST_TEST(t.get<int>("app_seconds_buckets.+Inf") == 17);
            // Every live child is listed, whichever child answered.
            std::set<long> listed;
            for (auto& [k, c] : j.get_child("children")) listed.insert(c.get<long>("pid"));
            for (pid_t p : srv.child_pids()) BOOST_TEST(listed.count(p) == 1u, "child " << p << " listed");

            // Prometheus, parsed by the official client's parser, agrees.
            auto prom = http_get(srv.port(), "/pympm-status?format=prometheus");
            BOOST_TEST_REQUIRE(prom.status == 200);
            BOOST_TEST(contains(prom.headers.get("Content-Type"), "version=0.0.4"));
            const std::string file = srv.add_app_file("prom.txt", prom.body);
            auto parsed = run_command(
                {python_executable(), "-c",
                 "import sys, json\n"
                 "from prometheus_client.parser import text_string_to_metric_families\n"
                 "out = {}\n"
                 "for fam in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                 "    for s in fam.samples:\n"
                 "        key = s.name + ''.join('{%s=%s}' % kv for kv in sorted(s.labels.items()) if kv[0] != 'pid')\n"
                 "        if 'pid' not in s.labels: out[key] = s.value\n"
                 "    out['type:' + fam.name] = fam.type\n"
                 "print(json.dumps(out))\n",
                 file});
            BOOST_TEST_REQUIRE(parsed.exit_code == 0, parsed.output);
            auto p = parse_json(parsed.output);
            BOOST_TEST(p.get<double>("pympm_requests_total") == 17);
            BOOST_TEST(p.get<double>("pympm_app_responses_total{class=4xx}") == 3);
            BOOST_TEST(p.get<double>("pympm_app_responses_total{class=5xx}") == 4);
            BOOST_TEST(p.get<double>("pympm_app_exceptions_total") == 2);
            BOOST_TEST(p.get<double>("pympm_app_duration_seconds_count") == 17);
            BOOST_TEST(p.get<double>("pympm_app_duration_seconds_bucket{le=+Inf}") == 17);
            BOOST_TEST(p.get<std::string>("type:pympm_app_duration_seconds") == "histogram");
            BOOST_TEST(p.get<std::string>("type:pympm_requests") == "counter");
            BOOST_TEST(p.get<double>("pympm_children") == static_cast<double>(srv.child_pids().size()));
            // JSON and Prometheus from the same data.
            auto j2 = status_json(srv);
            BOOST_TEST(p.get<double>("pympm_app_duration_seconds_sum") ==
                           j2.get_child("totals").get<double>("app_seconds_total"),
                       boost::test_tools::tolerance(1e-3));
        }
    }
}

BOOST_AUTO_TEST_CASE(totals_keep_what_recycled_children_counted) {
    HttpdOptions o = prefork_children(2, kOpsApp + "PyMaxRequests 5\n");
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    int before = 0;
    for (int i = 0; i < 40; ++i) {
        BOOST_TEST_REQUIRE(http_get(srv.port(), "/o/hello").status == 200);
        if (i % 10 == 9) {
            // Never backwards, across children leaving.
            const int now = status_json(srv).get_child("totals").get<int>("requests");
            BOOST_TEST(now >= before);
            before = now;
        }
    }
    auto j = status_json(srv);
    BOOST_TEST(j.get_child("totals").get<int>("requests") == 40);
    BOOST_TEST(j.get_child("leaves").get<int>("max_requests") >= 6);
    BOOST_TEST(j.get<int>("children_started") >= 8);
}

BOOST_AUTO_TEST_CASE(child_info_reads_the_same_figures) {
    HttpdOptions o = prefork_one_child(kOpsApp);
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    for (int i = 0; i < 3; ++i) http_get(srv.port(), "/o/status?code=404");
    auto info = parse_json(http_get(srv.port(), "/o/info").body);
    auto j = status_json(srv);
    auto child = j.get_child("children").begin()->second;
    BOOST_TEST(info.get<long>("pid") == child.get<long>("pid"));
    BOOST_TEST(info.get<int>("app_4xx") == child.get<int>("app_4xx"));
    BOOST_TEST(info.get<int>("app_4xx") == 3);
    BOOST_TEST(info.get<int>("requests_in_app") == 1); // the /o/info request itself
    BOOST_TEST(info.get<long>("rss_bytes") > 1000000);
}

BOOST_AUTO_TEST_CASE(html_page_renders_every_child_in_a_browser) {
    HttpdOptions o = prefork_children(3, kOpsApp);
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    BOOST_TEST_REQUIRE(eventually([&] { return srv.child_pids().size() == 3u; }, 20s));
    BOOST_TEST_REQUIRE(eventually([&] { return srv.count_log("PM00010: child ready") >= 3u; }, 20s));
    send_known_mix(srv);
    const std::string profile = srv.root() + "/chromium-profile";
    auto dom = run_command({"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--user-data-dir=" + profile, "--dump-dom",
                            "http://127.0.0.1:" + std::to_string(srv.port()) + "/pympm-status"},
                           std::chrono::seconds(60));
    BOOST_TEST_REQUIRE(dom.exit_code == 0, dom.output);
    BOOST_TEST(contains(dom.output, "<h1>mod_pympm status</h1>"), dom.output);
    for (pid_t p : srv.child_pids())
        BOOST_TEST(contains(dom.output, "<td>" + std::to_string(p) + "</td>"), "child " << p << " on the page");
    srv.allow_log_error("PM00020|RuntimeError: raised on purpose");
    srv.allow_traceback_lines();
}

BOOST_AUTO_TEST_CASE(mod_status_gains_a_pympm_section) {
    HttpdOptions o = threaded_one_child(Mpm::event, 4, kOpsApp);
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    for (int i = 0; i < 5; ++i) http_get(srv.port(), "/o/hello");
    auto aut = http_get(srv.port(), "/server-status?auto");
    BOOST_TEST_REQUIRE(aut.status == 200);
    BOOST_TEST(contains(aut.body, "pympmRequests: 5"), aut.body);
    BOOST_TEST(contains(aut.body, "pympmChildren: 1"), aut.body);
    auto html = http_get(srv.port(), "/server-status");
    BOOST_TEST(contains(html.body, "<h2>mod_pympm</h2>"), html.body);
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------ directive checks
BOOST_AUTO_TEST_SUITE(ops_directives)

BOOST_AUTO_TEST_CASE(bad_values_are_refused_with_a_sentence) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"PyRequestTimeout soon", "is not a number of seconds"},
        {"PyRequestTimeout -1", "is not a number of seconds"},
        {"PyMaxRequests many", "is not a number of requests"},
        {"PyMaxRequests 100 lots", "is not a jitter"},
        {"PyMaxRequests 0 10", "a jitter needs a limit"},
        {"PyMaxMemory 1GB", "is not a size; write a whole number of MiB"},
    };
    for (const auto& [line, expected] : cases) {
        BOOST_TEST_CONTEXT(line) {
            HttpdServer srv(prefork_one_child(kOpsApp + line + "\n"));
            auto r = srv.config_test();
            BOOST_TEST(r.exit_code != 0);
            BOOST_TEST(contains(r.output, expected), r.output);
        }
    }
    HttpdServer ok(prefork_one_child(kOpsApp + "PyRequestTimeout 30\nPyMaxRequests 1000 100\nPyMaxMemory 512\n"));
    BOOST_TEST(ok.config_test().exit_code == 0);
}

BOOST_AUTO_TEST_SUITE_END()
