// The behaviour matrix of SPEC.md, one row per test: whether an app thread
// runs between requests (ticker) and how two concurrent requests that each
// need 1 s of CPU are served (which pids, one after the other or together,
// when each response arrives). Tolerances are generous (2 loaded cores): the
// tests assert pids, ordering and overlap, and only loose times.
#include "test_mpm_common.h"

#include <algorithm>
#include <future>
#include <iomanip>
#include <iostream>
#include <sstream>

using namespace pympm_test;
using namespace pympm_test::mpm;

namespace {

// One /burn request: what the app reported and when the response arrived.
struct Burn {
    KeyValues kv;
    double sent = 0;    // client, seconds since the pair started
    double arrived = 0; // client, seconds since the pair started
    double start = 0;   // server, seconds since the pair started
    double end = 0;     // server
    long pid = 0;
};

struct Pair {
    Burn first, second;
    bool overlap() const { return first.start < second.end && second.start < first.end; }
};

void report(const std::string& row, const Pair& p) {
    std::cerr << std::fixed << std::setprecision(2) << "[matrix] " << row << ": first pid " << p.first.pid << " run "
              << p.first.start << "-" << p.first.end << " arrived " << p.first.arrived << "; second pid "
              << p.second.pid << " sent " << p.second.sent << " run " << p.second.start << "-" << p.second.end
              << " arrived " << p.second.arrived << "\n";
}

// Two concurrent GET /burn?s=1: the second is sent 150 ms after the first so
// that their arrival order is known (the stagger is part of the scenario,
// not a synchronisation).
Pair burn_pair(const HttpdServer& srv, const std::string& row) {
    const auto t0 = Clock::now();
    auto one = [&srv](std::chrono::milliseconds delay) {
        std::this_thread::sleep_for(delay);
        return http_get(srv.port(), "/burn?s=1.0", 60s);
    };
    auto a = std::async(std::launch::async, one, 0ms);
    auto b = std::async(std::launch::async, one, 150ms);
    HttpResponse ra = a.get(), rb = b.get();
    BOOST_TEST_REQUIRE(ra.status == 200, ra.body);
    BOOST_TEST_REQUIRE(rb.status == 200, rb.body);
    const double base = mono(t0);
    auto fill = [&](Burn& out, const HttpResponse& r) {
        out.kv = parse_kv(r.body);
        out.sent = HttpResponse::seconds(t0, r.started);
        out.arrived = HttpResponse::seconds(t0, r.complete);
        out.start = at_double(out.kv, "start") - base;
        out.end = at_double(out.kv, "end") - base;
        out.pid = at_long(out.kv, "pid");
    };
    Pair p;
    fill(p.first, ra);
    fill(p.second, rb);
    report(row, p);
    return p;
}

// The same pair over HTTP/2 (h2c, prior knowledge), each on its own
// connection, so that mod_http2's workers serve them. Needs SetHandler
// pympm-status at /pympm-status.
Pair burn_pair_h2(const HttpdServer& srv, const std::string& row) {
    const auto t0 = Clock::now();
    struct Reply {
        CommandResult result;
        Clock::time_point started, done;
    };
    auto one = [&srv](std::chrono::milliseconds delay) {
        std::this_thread::sleep_for(delay);
        Reply r;
        r.started = Clock::now();
        r.result = run_command({"/usr/bin/curl", "-sS", "--http2-prior-knowledge", "--max-time", "60", "-w",
                                "\nversion=%{http_version}\n",
                                "http://127.0.0.1:" + std::to_string(srv.port()) + "/burn?s=1.0"});
        r.done = Clock::now();
        return r;
    };
    // Starting curl takes a while, more on a loaded machine: the second
    // starts once the first is in the app (the status page says so without
    // a slot), so that their order at the gate is known.
    auto a = std::async(std::launch::async, one, 0ms);
    BOOST_TEST(
        eventually(
            [&] { return contains(http_get(srv.port(), "/pympm-status?format=json").body, "\"requests_in_app\": 1"); },
            30s),
        "the first request never ran");
    auto b = std::async(std::launch::async, one, 0ms);
    Reply ra = a.get(), rb = b.get();
    BOOST_TEST_REQUIRE(ra.result.exit_code == 0, ra.result.output);
    BOOST_TEST_REQUIRE(rb.result.exit_code == 0, rb.result.output);
    const double base = mono(t0);
    auto fill = [&](Burn& out, const Reply& r) {
        out.kv = parse_kv(r.result.output);
        BOOST_TEST(at(out.kv, "version") == "2");
        out.sent = HttpResponse::seconds(t0, r.started);
        out.arrived = HttpResponse::seconds(t0, r.done);
        out.start = at_double(out.kv, "start") - base;
        out.end = at_double(out.kv, "end") - base;
        out.pid = at_long(out.kv, "pid");
    };
    Pair p;
    fill(p.first, ra);
    fill(p.second, rb);
    report(row, p);
    return p;
}

// One after the other: first response at ≈1 s, delivered as soon as it is
// done (not held until the second is), second at ≈2 s. Absolute times only
// as lower bounds: other processes on the machine make CPU burns slower,
// never faster.
void expect_sequential_arrivals(const Pair& p) {
    BOOST_TEST(p.first.arrived >= 0.95);
    BOOST_TEST(p.first.arrived - p.first.end < 0.7, "the first response is not held back");
    BOOST_TEST(p.first.arrived < p.second.start + 0.7, "first delivered as the second started");
    BOOST_TEST(p.second.arrived >= 1.9);
    BOOST_TEST(p.second.arrived - p.first.arrived >= 0.8);
}

// Ticks of the app's daemon thread before and after `idle` without requests.
long ticks_while_idle(const HttpdServer& srv, std::chrono::milliseconds idle) {
    auto before = get_kv(srv.port(), "/ticks");
    std::this_thread::sleep_for(idle); // the idle period under test
    auto after = get_kv(srv.port(), "/ticks");
    BOOST_TEST(at(before, "pid") == at(after, "pid"), "both /ticks from one child (one child configured)");
    return at_long(after, "ticks") - at_long(before, "ticks");
}

// The request thread blocks in a network write: /stream produces more than
// the sockets buffer while the client does not read for 1.5 s. Returns the
// largest advance of the app's ticker between two consecutive chunks.
long ticks_across_blocked_write(const HttpdServer& srv) {
    constexpr std::size_t chunks = 400, size = 65536; // 26 MB, well above loopback buffers
    HttpConnection c(srv.port());
    const auto deadline = Clock::now() + 60s;
    c.send_all("GET /stream?chunks=" + std::to_string(chunks) + "&size=" + std::to_string(size) +
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
               deadline);
    std::this_thread::sleep_for(1500ms); // the stall under test: nothing is read
    HttpResponse r = c.read_response(false, deadline);
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST_REQUIRE(r.body.size() == chunks * size);
    long max_gap = 0, previous = -1;
    for (std::size_t i = 0; i < chunks; ++i) {
        std::istringstream head(r.body.substr(i * size, 32));
        std::size_t index = 0;
        long ticks = 0;
        head >> index >> ticks;
        BOOST_TEST_REQUIRE(index == i);
        if (previous >= 0) max_gap = std::max(max_gap, ticks - previous);
        previous = ticks;
    }
    return max_gap;
}

// The request thread blocks reading the request body: half of it comes at
// once, the rest after 1.5 s. Returns how far the ticker advanced meanwhile.
long ticks_across_blocked_read(const HttpdServer& srv) {
    HttpConnection c(srv.port());
    const auto deadline = Clock::now() + 30s;
    c.send_all("POST /read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello",
               deadline);
    std::this_thread::sleep_for(1500ms); // the stall under test: the app waits for the rest
    c.send_all("world", deadline);
    auto kv = parse_kv(c.read_response(false, deadline).body);
    BOOST_TEST(at(kv, "bytes") == "10");
    return at_long(kv, "ticks_after") - at_long(kv, "ticks_before");
}

} // namespace

// ===================================================== app thread between requests

BOOST_AUTO_TEST_SUITE(mpm_ticker)

BOOST_AUTO_TEST_CASE(prefork_enable_threads_on_ticker_runs_while_idle) {
    HttpdServer srv(prefork_children(1, kMpmApp + "PyEnableThreads On\n"));
    srv.start();
    long advanced = ticks_while_idle(srv, 2s);
    std::cerr << "[matrix] prefork On: ticker advanced " << advanced << " in 2 s idle\n";
    BOOST_TEST(advanced >= 10, "the app's thread must run between requests; advanced " << advanced);
    BOOST_TEST(srv.count_log("PM00014") == 0u, "no frozen-threads warning under On");
}

BOOST_AUTO_TEST_CASE(prefork_enable_threads_off_ticker_frozen_while_idle) {
    HttpdServer srv(prefork_children(1, kMpmApp + "PyEnableThreads Off\n"));
    srv.start();
    long advanced = ticks_while_idle(srv, 2s);
    std::cerr << "[matrix] prefork Off: ticker advanced " << advanced << " in 2 s idle\n";
    BOOST_TEST(advanced <= 3, "the app's thread must be frozen between requests; advanced " << advanced);
    std::string warning = srv.wait_for_log("PM00014: .*ticker", 10s);
    BOOST_TEST(!warning.empty(), "the warning naming the app's thread is logged");
    BOOST_TEST(contains(warning, "[pympm:warn"), warning);
    BOOST_TEST(contains(warning, "only while"), warning);
    // Once per child, however many requests.
    for (int i = 0; i < 3; ++i) get_kv(srv.port(), "/ticks");
    BOOST_TEST(srv.count_log("PM00014") == 1u);
    // While a request runs Python the thread does advance.
    auto burn = get_kv(srv.port(), "/burn?s=1.0");
    long during = at_long(burn, "ticks_after") - at_long(burn, "ticks_before");
    std::cerr << "[matrix] prefork Off: ticker advanced " << during << " during a 1 s request\n";
    BOOST_TEST(during >= 5, "the thread runs while a request executes Python; advanced " << during);
}

BOOST_AUTO_TEST_CASE(gil_released_around_blocking_httpd_io) {
    // On: the request thread gives the GIL up while httpd blocks on the
    // network for it, so the app's thread keeps running; Off: it keeps it.
    for (bool on : {true, false}) {
        BOOST_TEST_CONTEXT((on ? "On" : "Off")) {
            HttpdServer srv(prefork_children(1, kMpmApp + (on ? "PyEnableThreads On\n" : "PyEnableThreads Off\n")));
            srv.start();
            long write_gap = ticks_across_blocked_write(srv);
            long read_gap = ticks_across_blocked_read(srv);
            std::cerr << "[matrix] prefork " << (on ? "On" : "Off") << ": ticker advanced " << write_gap
                      << " across a 1.5 s blocked write, " << read_gap << " across a 1.5 s blocked read\n";
            if (on) {
                BOOST_TEST(write_gap >= 8, "advanced " << write_gap);
                BOOST_TEST(read_gap >= 10, "advanced " << read_gap);
            } else {
                BOOST_TEST(write_gap <= 3, "advanced " << write_gap);
                BOOST_TEST(read_gap <= 3, "advanced " << read_gap);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(event_ticker_runs_and_waiting_holds_no_gil) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kMpmApp + "PyThreads 1\n"));
    srv.start();
    long advanced = ticks_while_idle(srv, 2s);
    std::cerr << "[matrix] event PyThreads 1: ticker advanced " << advanced << " in 2 s idle\n";
    BOOST_TEST(advanced >= 10, "advanced " << advanced);
    // While one request burns CPU and another waits for the only slot, the
    // app's thread keeps running: the waiting request holds no GIL (if it
    // did, neither the running request nor the thread could go on).
    auto p = burn_pair(srv, "event 1x4 PyThreads 1 + ticker");
    long during = at_long(p.second.kv, "ticks_after") - at_long(p.first.kv, "ticks_before");
    std::cerr << "[matrix] event PyThreads 1: ticker advanced " << during << " during the pair\n";
    BOOST_TEST(during >= 10, "advanced " << during);
    BOOST_TEST(p.first.end <= p.second.start + 0.05, "the second waited for the first");
}

BOOST_AUTO_TEST_SUITE_END()

// ============================================ two concurrent 1 s CPU requests

BOOST_AUTO_TEST_SUITE(mpm_matrix, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(prefork_two_children_parallel) {
    HttpdServer srv(prefork_children(2, kMpmApp));
    srv.start();
    BOOST_TEST_REQUIRE(eventually([&] { return srv.child_pids().size() == 2u; }, 15s));
    auto p = burn_pair(srv, "prefork 2 children");
    BOOST_TEST(p.first.pid != p.second.pid, "two children serve the two requests");
    BOOST_TEST(p.overlap(), "the two requests run at the same time");
    // ≈1 s each on idle cores (other processes on the machine stretch CPU
    // burns, so no upper bound on times). Each is delivered as soon as it
    // is done.
    BOOST_TEST(p.first.arrived >= 0.95);
    BOOST_TEST(p.first.arrived - p.first.end < 0.7);
    BOOST_TEST(p.second.arrived - p.second.end < 0.7);
}

BOOST_AUTO_TEST_CASE(prefork_two_children_enable_threads_off_parallel) {
    HttpdServer srv(prefork_children(2, kMpmApp + "PyEnableThreads Off\n"));
    srv.start();
    BOOST_TEST_REQUIRE(eventually([&] { return srv.child_pids().size() == 2u; }, 15s));
    auto p = burn_pair(srv, "prefork 2 children Off");
    BOOST_TEST(p.first.pid != p.second.pid);
    BOOST_TEST(p.overlap());
}

BOOST_AUTO_TEST_CASE(prefork_one_child_sequential) {
    HttpdServer srv(prefork_children(1, kMpmApp));
    srv.start();
    auto p = burn_pair(srv, "prefork 1 child");
    BOOST_TEST(p.first.pid == p.second.pid, "one child serves both");
    BOOST_TEST(!p.overlap(), "one after the other");
    BOOST_TEST(p.first.end <= p.second.start + 0.01);
    // The first response is sent as soon as it is done (≈1 s), not held
    // until the second one is (≈2 s).
    expect_sequential_arrivals(p);
}

BOOST_AUTO_TEST_CASE(event_py_threads_1_first_come_first_served) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kMpmApp + "PyThreads 1\n"));
    srv.start();
    auto p = burn_pair(srv, "event 1x4 PyThreads 1");
    BOOST_TEST(p.first.pid == p.second.pid, "one child serves both");
    BOOST_TEST(p.first.kv["thread"] != p.second.kv["thread"], "on two httpd threads");
    BOOST_TEST(!p.overlap(), "the gate lets one request run Python at a time");
    BOOST_TEST(p.first.end <= p.second.start + 0.01);
    expect_sequential_arrivals(p);
    auto info = get_kv(srv.port(), "/info");
    BOOST_TEST(at_long(info, "requests_waited") >= 1, "the second request waited for a slot");
    BOOST_TEST(at_double(info, "total_wait_seconds") >= 0.5);
    BOOST_TEST(at(info, "requests_waiting") == "0");
}

BOOST_AUTO_TEST_CASE(event_http2_py_threads_1_first_come_first_served) {
    // h2 requests run on mod_http2's worker threads, not the MPM's: the
    // PyThreads gate counts them all the same.
    HttpdOptions o = threaded_one_child(Mpm::event, 4, kMpmApp + "PyThreads 1\n");
    o.extra_config = "LoadModule http2_module " + httpd_modules_dir() +
                     "/mod_http2.so\nProtocols h2c http/1.1\n"
                     "<Location /pympm-status>\n    SetHandler pympm-status\n</Location>\n";
    HttpdServer srv(o);
    srv.start();
    auto p = burn_pair_h2(srv, "event 1x4 PyThreads 1, h2c");
    BOOST_TEST(p.first.pid == p.second.pid, "one child serves both");
    BOOST_TEST(!p.overlap(), "the gate lets one request run Python at a time");
    BOOST_TEST(p.first.end <= p.second.start + 0.01);
    // Arrival times include starting curl: looser than over HTTP/1.1.
    BOOST_TEST(p.first.arrived >= 0.95);
    BOOST_TEST(p.second.arrived >= 1.9);
    BOOST_TEST(p.second.arrived - p.first.arrived >= 0.7);
}

BOOST_AUTO_TEST_CASE(event_py_threads_2_interleaved) {
    HttpdServer srv(threaded_one_child(Mpm::event, 4, kMpmApp + "PyThreads 2\n"));
    srv.start();
    auto p = burn_pair(srv, "event 1x4 PyThreads 2");
    BOOST_TEST(p.first.pid == p.second.pid, "one child serves both");
    BOOST_TEST(p.overlap(), "both run Python at once, interleaved under the GIL");
    // Sharing the GIL, neither finishes its 1 s of CPU at ≈1 s: both at ≈2 s.
    BOOST_TEST(p.first.arrived >= 1.5, "first response at ≈2 s, got " << p.first.arrived);
    BOOST_TEST(p.second.arrived >= 1.5);
    // Together: unlike one after the other (first at half the second's time).
    BOOST_TEST(p.first.arrived >= 0.75 * p.second.arrived, "both arrive together");
    auto info = get_kv(srv.port(), "/info");
    BOOST_TEST(at_long(info, "requests_waited") == 0, "two slots: nobody waited");
}

BOOST_AUTO_TEST_SUITE_END()
