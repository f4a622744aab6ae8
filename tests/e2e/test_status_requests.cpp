// Issue 22 (triage): the status page lists the requests in progress (child,
// app, method, path, client, vhost, age, state), per-app figures, the
// configured limits and each child's distance to them, request rates,
// auto-refresh, and children draining after a graceful restart; client
// bytes are escaped in HTML and JSON.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>
#include <atomic>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const std::string kApps = "PyApp /a @APPS@/status_app.py\nPyApp /b @APPS@/hello.py\n";

std::string status_config() {
    return "LoadModule authz_host_module " + httpd_modules_dir() +
           "/mod_authz_host.so\n<Location /pympm-status>\n    SetHandler pympm-status\n    Require "
           "local\n</Location>\n";
}

struct RequestsRow {
    std::string name;
    HttpdOptions options;
};

std::vector<RequestsRow> requests_rows(const std::string& extra = "") {
    std::vector<RequestsRow> out;
    out.push_back({"prefork", prefork_children(2, kApps + extra)});
    out.push_back({"worker 1x4", threaded_one_child(Mpm::worker, 4, kApps + extra)});
    out.push_back({"event 1x4 PyThreads 1", threaded_one_child(Mpm::event, 4, kApps + extra + "PyThreads 1\n")});
    for (auto& r : out) r.options.extra_config = status_config();
    return out;
}

// A request that stays in the app until release().
struct Held {
    Held(const HttpdServer& srv, const std::string& path) : gate(next_gate(srv)) {
        const std::uint16_t port = srv.port();
        const std::string target = path + "?gate=" + gate;
        reply = std::async(std::launch::async, [port, target] { return http_get(port, target, 90s); });
    }
    ~Held() {
        release();
        if (reply.valid()) reply.wait();
    }
    void release() const { std::ofstream(gate) << "go\n"; }
    static std::string next_gate(const HttpdServer& srv) {
        static int n = 0;
        return make_markers_dir(srv) + "/gate-" + std::to_string(++n);
    }
    std::string gate;
    std::future<HttpResponse> reply;
};

// The listed requests whose path starts with `prefix`.
std::vector<boost::property_tree::ptree> listed(const boost::property_tree::ptree& j, const std::string& prefix) {
    std::vector<boost::property_tree::ptree> out;
    for (auto& [k, r] : j.get_child("requests"))
        if (r.get<std::string>("path").rfind(prefix, 0) == 0) out.push_back(r);
    return out;
}

const boost::property_tree::ptree* app_row(const boost::property_tree::ptree& j, const std::string& mount) {
    for (auto& [k, a] : j.get_child("apps"))
        if (a.get<std::string>("mount") == mount) return &a;
    return nullptr;
}

// The JSON page through Python's strict parser: what a client sees of the
// listed requests' `field`, one per line, as Python's repr (ASCII).
std::string python_view(HttpdServer& srv, const std::string& body, const std::string& field) {
    const std::string file = srv.add_app_file("page.json", body);
    auto out = run_command({python_executable(), "-c",
                            "import json, sys\n"
                            "page = json.loads(open(sys.argv[1], encoding='utf-8', errors='strict').read())\n"
                            "for r in page['requests']: print(ascii(r[sys.argv[2]]))\n",
                            file, field});
    BOOST_TEST_REQUIRE(out.exit_code == 0, out.output);
    return out.output;
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_requests, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(a_slow_request_is_listed_with_its_app_method_path_and_state_until_it_ends) {
    for (auto& row : requests_rows()) {
        BOOST_TEST_CONTEXT(row.name) {
            HttpdServer srv(row.options);
            srv.start();
            {
                Held held(srv, "/a/hold/slow");
                boost::property_tree::ptree j;
                BOOST_TEST_REQUIRE(eventually(
                    [&] {
                        j = status_json(srv);
                        return listed(j, "/a/hold/slow").size() == 1u;
                    },
                    20s));
                auto r = listed(j, "/a/hold/slow").front();
                BOOST_TEST(r.get<std::string>("method") == "GET");
                BOOST_TEST(r.get<std::string>("mount") == "/a");
                BOOST_TEST(contains(r.get<std::string>("app"), "status_app.py"));
                BOOST_TEST(r.get<std::string>("state") == "in_app");
                BOOST_TEST(r.get<std::string>("client") == "127.0.0.1");
                BOOST_TEST(!r.get<std::string>("vhost").empty());
                BOOST_TEST(r.get<double>("age_seconds") >= 0.0);
                BOOST_TEST(r.get<bool>("path_truncated") == false);
                const auto pids = srv.child_pids();
                BOOST_TEST(std::count(pids.begin(), pids.end(), r.get<pid_t>("pid")) == 1);
                BOOST_TEST(app_row(j, "/a")->get<int>("requests_in_app") == 1);
                // The age grows while it stays.
                const double first_age = r.get<double>("age_seconds");
                BOOST_TEST(eventually(
                    [&] {
                        auto now = listed(status_json(srv), "/a/hold/slow");
                        return now.size() == 1u && now.front().get<double>("age_seconds") > first_age;
                    },
                    20s));
                auto html = http_get(srv.port(), "/pympm-status", 20s).body;
                BOOST_TEST(contains(html, "<td class=\"p\">/a/hold/slow</td>"), html);
                BOOST_TEST(contains(html, "in the app"));

                if (row.options.mpm == Mpm::event) {
                    // PyThreads 1 and one request in the app: the next waits.
                    Held second(srv, "/a/hold/second");
                    BOOST_TEST(eventually(
                        [&] {
                            auto w = listed(status_json(srv), "/a/hold/second");
                            return w.size() == 1u && w.front().get<std::string>("state") == "waiting_for_slot";
                        },
                        20s));
                    second.release();
                }
                held.release();
                BOOST_TEST(held.reply.get().status == 200);
            }
            {
                // A body that comes slowly: the request reads it.
                const auto deadline = Clock::now() + 60s;
                const int fd = connect_loopback(srv.port(), deadline);
                send_on(fd,
                        "POST /a/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
                        "Connection: close\r\n\r\n0123456789",
                        deadline);
                BOOST_TEST(eventually(
                    [&] {
                        auto u = listed(status_json(srv), "/a/upload");
                        return u.size() == 1u && u.front().get<std::string>("state") == "reading_body" &&
                               u.front().get<std::string>("method") == "POST";
                    },
                    20s));
                ::close(fd);
                srv.allow_log_error("PM000(2|5)[0-9].*upload|/a/upload");
                srv.allow_traceback_lines();
            }
            // Gone once it ended.
            BOOST_TEST(eventually(
                [&] {
                    auto j = status_json(srv);
                    return listed(j, "/a/").empty() && app_row(j, "/a")->get<int>("requests_in_app") == 0;
                },
                20s));
        }
    }
}

BOOST_AUTO_TEST_CASE(hostile_path_bytes_are_escaped_in_html_and_json) {
    HttpdOptions o = threaded_one_child(Mpm::event, 4, kApps);
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    // Decoded by httpd: <b>x<\b>"'& SOH ESC[31m 0xff 0xfe U+202E (right-to-left
    // override) U+00E9, then a path cut at 128 bytes.
    const std::string hostile = "/a/hold/%3Cb%3Ex%3C%5Cb%3E%22%27%26%01%1b%5b31m%ff%fe%e2%80%ae%c3%a9";
    const std::string shown = "/a/hold/<b>x<\\\\b>\"'&\\x01\\x1b[31m\\xff\\xfe\\u{202E}\xc3\xa9";
    Held held(srv, hostile);
    Held long_one(srv, "/a/hold/" + std::string(300, 'z'));
    boost::property_tree::ptree j;
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            j = status_json(srv);
            return listed(j, "/a/hold/").size() == 2u;
        },
        20s));
    auto json = http_get(srv.port(), "/pympm-status?json", 20s);
    BOOST_TEST(json.headers.get("Content-Type") == "application/json");
    // Strict JSON (valid UTF-8), and the path as shown.
    const std::string paths = python_view(srv, json.body, "path");
    BOOST_TEST(contains(paths, "'/a/hold/<b>x<\\\\\\\\b>\"\\'&\\\\x01\\\\x1b[31m\\\\xff\\\\xfe\\\\u{202E}\\xe9'"),
               paths);
    for (const auto& r : listed(j, "/a/hold/")) {
        if (r.get<std::string>("path").rfind("/a/hold/zz", 0) == 0) {
            BOOST_TEST(r.get<bool>("path_truncated"));
            BOOST_TEST(r.get<std::string>("path").size() == 128u);
        } else {
            BOOST_TEST(r.get<std::string>("path") == shown);
            BOOST_TEST(!r.get<bool>("path_truncated"));
        }
    }
    for (char raw : {'\x01', '\x1b', '\xff', '\xfe'}) {
        BOOST_TEST(json.body.find(raw) == std::string::npos);
    }
    auto html = http_get(srv.port(), "/pympm-status", 20s).body;
    BOOST_TEST(
        contains(html, "/a/hold/&lt;b&gt;x&lt;\\\\b&gt;&quot;&#39;&amp;\\x01\\x1b[31m\\xff\\xfe\\u{202E}\xc3\xa9"),
        html);
    BOOST_TEST(!contains(html, "<b>x"));
    BOOST_TEST(!contains(html, "\xe2\x80\xae"), "no raw right-to-left override");
    for (char raw : {'\x01', '\x1b', '\xff', '\xfe'}) BOOST_TEST(html.find(raw) == std::string::npos);
    BOOST_TEST(contains(html, std::string(120, 'z') + "&hellip;"));
    held.release();
    long_one.release();
    BOOST_TEST(held.reply.get().status == 200);
}

BOOST_AUTO_TEST_CASE(under_load_a_browser_shows_the_requests_and_charts_and_runs_no_hostile_script) {
    HttpdOptions o = prefork_children(3, kApps);
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    // Load: clients back to back on the other app while the page is taken.
    std::atomic<bool> stop{false};
    std::atomic<int> served{0};
    std::vector<std::thread> load;
    for (int i = 0; i < 2; ++i)
        load.emplace_back([&] {
            while (!stop.load())
                if (http_get(srv.port(), "/b/load").status == 200) ++served;
        });
    struct Stop {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~Stop() {
            stop = true;
            for (auto& t : threads) t.join();
        }
    } stop_load{stop, load};
    Held visible(srv, "/a/hold/visible");
    Held held(srv, "/a/hold/%3Cscript%3Edocument.title=%27pwned%27%3C/script%3E%3Cimg%20src=x%20onerror=alert(1)%3E");
    // Both listed, and a child has a point of its chart with requests in it
    // (a point every 5 s).
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            auto j = status_json(srv);
            bool charted = false;
            for (auto& [k, c] : j.get_child("children"))
                for (auto& [n, v] : c.get_child("history.requests_per_second")) charted |= v.get_value<double>() > 0;
            return listed(j, "/a/hold/").size() == 2u && charted;
        },
        60s));
    BOOST_TEST(served.load() > 0);
    const std::string profile = srv.root() + "/chromium-profile";
    auto dom = run_command({"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--user-data-dir=" + profile, "--dump-dom",
                            "http://127.0.0.1:" + std::to_string(srv.port()) + "/pympm-status"},
                           std::chrono::seconds(60));
    BOOST_TEST_REQUIRE(dom.exit_code == 0, dom.output);
    BOOST_TEST(contains(dom.output, "<title>mod_pympm status</title>"), dom.output);
    BOOST_TEST(!contains(dom.output, "pwned</title>"));
    BOOST_TEST(!contains(dom.output, "<img"));
    // The path is on the page as text, next to the other held request.
    BOOST_TEST(contains(dom.output, "/a/hold/&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img"), dom.output);
    BOOST_TEST(contains(dom.output, "/a/hold/visible"), dom.output);
    // The children's charts, drawn without JavaScript.
    BOOST_TEST(contains(dom.output, "<svg class=\"chart\""), dom.output);
    BOOST_TEST(contains(dom.output, "<polyline"), dom.output);
    held.release();
    visible.release();
    BOOST_TEST(held.reply.get().status == 200);
    BOOST_TEST(visible.reply.get().status == 200);
}

BOOST_AUTO_TEST_CASE(each_app_has_its_own_counts) {
    for (Mpm mpm : {Mpm::prefork, Mpm::event}) {
        BOOST_TEST_CONTEXT(mpm_name(mpm)) {
            HttpdOptions o = mpm == Mpm::prefork ? prefork_children(2, kApps) : threaded_one_child(mpm, 4, kApps);
            o.extra_config = status_config();
            HttpdServer srv(o);
            srv.allow_log_error("PM00020: app /a=.* raised an exception for GET /a/raise");
            srv.allow_log_error("RuntimeError: raised on purpose");
            srv.allow_traceback_lines();
            srv.start();
            for (int i = 0; i < 3; ++i) BOOST_TEST(http_get(srv.port(), "/a/hello").status == 200);
            for (int i = 0; i < 2; ++i) BOOST_TEST(http_get(srv.port(), "/a/status?code=404").status == 404);
            BOOST_TEST(http_get(srv.port(), "/a/status?code=503").status == 503);
            BOOST_TEST(http_get(srv.port(), "/a/raise").status == 500);
            for (int i = 0; i < 4; ++i) BOOST_TEST(http_get(srv.port(), "/b/x").status == 200);
            auto j = status_json(srv);
            const auto* a = app_row(j, "/a");
            const auto* b = app_row(j, "/b");
            BOOST_TEST_REQUIRE(a);
            BOOST_TEST_REQUIRE(b);
            BOOST_TEST(a->get<int>("requests") == 7);
            BOOST_TEST(a->get<int>("app_4xx") == 2);
            BOOST_TEST(a->get<int>("app_5xx") == 2);
            BOOST_TEST(a->get<int>("exceptions") == 1);
            BOOST_TEST(b->get<int>("requests") == 4);
            BOOST_TEST(b->get<int>("app_4xx") == 0);
            BOOST_TEST(contains(b->get<std::string>("app"), "hello.py"));

            // Prometheus: per-app series labelled with the app (mount).
            auto prom = http_get(srv.port(), "/pympm-status?format=prometheus");
            const std::string file = srv.add_app_file("prom.txt", prom.body);
            auto parsed = run_command({python_executable(), "-c",
                                       "import sys\n"
                                       "from prometheus_client.parser import text_string_to_metric_families\n"
                                       "for fam in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                                       "    if fam.name == 'pympm_mount_duration_seconds':\n"
                                       "        print('type', fam.type)\n"
                                       "    for s in fam.samples:\n"
                                       "        if 'mount' in s.labels:\n"
                                       "            print(s.name, s.labels['mount'], s.labels.get('class', "
                                       "s.labels.get('le', '-')), int(s.value))\n",
                                       file});
            BOOST_TEST_REQUIRE(parsed.exit_code == 0, parsed.output);
            BOOST_TEST(contains(parsed.output, "pympm_app_requests_total /a - 7\n"), parsed.output);
            BOOST_TEST(contains(parsed.output, "pympm_app_requests_total /b - 4\n"), parsed.output);
            BOOST_TEST(contains(parsed.output, "pympm_app_error_responses_total /a 5xx 2\n"), parsed.output);
            BOOST_TEST(contains(parsed.output, "pympm_app_raised_total /a - 1\n"), parsed.output);
            // App time per mount: a histogram whose count is the app's requests.
            BOOST_TEST(contains(parsed.output, "type histogram\n"), parsed.output);
            BOOST_TEST(contains(parsed.output, "pympm_mount_duration_seconds_count /a - 7\n"), parsed.output);
            BOOST_TEST(contains(parsed.output, "pympm_mount_duration_seconds_bucket /b +Inf 4\n"), parsed.output);
            BOOST_TEST(a->get<int>("app_seconds_buckets.+Inf") == 7);

            // Rates: requests per second over the last seconds, once the
            // children have sampled them.
            BOOST_TEST(eventually(
                [&] {
                    http_get(srv.port(), "/b/x");
                    auto now = status_json(srv);
                    return now.get_child("totals").get<double>("requests_per_second") > 0 &&
                           app_row(now, "/b")->get<double>("requests_per_second") > 0;
                },
                30s));
        }
    }
}

BOOST_AUTO_TEST_CASE(the_limits_and_each_childs_distance_to_recycling_are_shown) {
    HttpdOptions o = prefork_one_child(kApps + "PyRequestTimeout 30\nPyMaxRequests 50\nPyMaxMemory 2048\n");
    o.extra_config = status_config();
    HttpdServer srv(o);
    srv.start();
    for (int i = 0; i < 5; ++i) BOOST_TEST_REQUIRE(http_get(srv.port(), "/b/x").status == 200);
    boost::property_tree::ptree j;
    // The child publishes its count once a second.
    BOOST_TEST_REQUIRE(eventually(
        [&] {
            j = status_json(srv);
            return j.get_child("children").begin()->second.get<int>("requests_counted") >= 5;
        },
        20s));
    BOOST_TEST(j.get<int>("limits.request_timeout_seconds") == 30);
    BOOST_TEST(j.get<std::uint64_t>("limits.max_memory_bytes") == 2048ull * 1024 * 1024);
    const auto& c = j.get_child("children").begin()->second;
    BOOST_TEST(c.get<int>("request_limit") == 50);
    BOOST_TEST(c.get<int>("requests_until_recycling") == 50 - c.get<int>("requests_counted"));
    BOOST_TEST(c.get<std::string>("state") == "serving");
    auto html = http_get(srv.port(), "/pympm-status?refresh=5", 20s).body;
    BOOST_TEST(contains(html, "<meta http-equiv=\"refresh\" content=\"5\">"), html);
    BOOST_TEST(contains(html, "PyRequestTimeout 30 s"));
    BOOST_TEST(contains(html, "PyMaxMemory 2048 MiB"));
    BOOST_TEST(contains(html, " of 50</td>"), html);
    BOOST_TEST(contains(html, "% of PyMaxMemory)"));
    BOOST_TEST(contains(html, "<h2>Legend</h2>"));
    // Without limits, none are claimed.
    HttpdOptions plain = prefork_one_child(kApps);
    plain.extra_config = status_config();
    HttpdServer srv2(plain);
    srv2.start();
    auto j2 = status_json(srv2);
    BOOST_TEST(j2.get<int>("limits.request_timeout_seconds") == 0);
    BOOST_TEST(j2.get_child("children").begin()->second.get<std::string>("requests_until_recycling") == "null");
    BOOST_TEST(!contains(http_get(srv2.port(), "/pympm-status").body, "http-equiv=\"refresh\""));
}

BOOST_AUTO_TEST_CASE(a_child_draining_after_a_graceful_restart_is_listed_with_its_request) {
    std::vector<RequestsRow> matrix;
    matrix.push_back({"prefork", prefork_children(2, kApps)});
    HttpdOptions event = threaded_one_child(Mpm::event, 4, kApps);
    event.server_limit = 2;
    event.max_request_workers = 8;
    matrix.push_back({"event 1x4", event});
    for (auto& row : matrix) {
        BOOST_TEST_CONTEXT(row.name) {
            row.options.extra_config = status_config();
            HttpdServer srv(row.options);
            srv.start();
            Held held(srv, "/a/hold/across-restart");
            pid_t old = -1;
            BOOST_TEST_REQUIRE(eventually(
                [&] {
                    auto l = listed(status_json(srv), "/a/hold/across-restart");
                    if (l.size() == 1u) old = l.front().get<pid_t>("pid");
                    return old > 0;
                },
                20s));
            srv.graceful_restart();
            boost::property_tree::ptree j;
            BOOST_TEST_REQUIRE(eventually(
                [&] {
                    j = status_json(srv);
                    for (auto& [k, c] : j.get_child("children"))
                        if (c.get<pid_t>("pid") == old)
                            return c.get<std::string>("state") == "draining" &&
                                   c.get<int>("generation") < j.get<int>("newest_generation");
                    return false;
                },
                30s));
            auto l = listed(j, "/a/hold/across-restart");
            BOOST_TEST_REQUIRE(l.size() == 1u);
            BOOST_TEST(l.front().get<pid_t>("pid") == old);
            BOOST_TEST(contains(http_get(srv.port(), "/pympm-status", 20s).body, "<td class=\"l\">draining: "));
            held.release();
            BOOST_TEST(held.reply.get().status == 200);
            BOOST_TEST(eventually(
                [&] {
                    auto now = status_json(srv);
                    for (auto& [k, c] : now.get_child("children"))
                        if (c.get<pid_t>("pid") == old) return false;
                    return true;
                },
                30s));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
