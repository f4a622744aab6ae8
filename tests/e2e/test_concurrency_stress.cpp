// Issue 18: locks under concurrency. PyRequestTimeout's watchdog formats a
// stuck request's stack in Python while fresh threads serve their first
// request (a thread's first request registers its watch), and the whole mix
// at once: timeouts on WSGI and ASGI requests with deep stacks, bursts of
// new threads, PyMaxRequests recycling and graceful restarts.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace pympm_test;
using namespace pympm_test::mpm;
using namespace std::chrono_literals;

namespace {

const std::string kApps = "PyApp /w @APPS@/stress_app.py\n"
                          "PyApp /a @APPS@/stress_app.py:app asgi\n";

} // namespace

BOOST_AUTO_TEST_SUITE(concurrency_stress)

// The watchdog's job formats the stack of a request in the app past
// PyRequestTimeout; Python lets the GIL go meanwhile (linecache's os.stat for
// each of the stack's files). A thread serving its first request (it
// registers its watch then) must neither wait for the job nor make it wait:
// the child keeps answering, and the spinning request gets its 504. Each
// round has a child of fresh threads (a graceful restart), and while the
// timeout fires, requests that hold their thread keep arriving, so each one
// needs a thread that never served a request.
BOOST_AUTO_TEST_CASE(a_timeout_never_deadlocks_threads_serving_their_first_request) {
    for (const char* iface : {"w", "a"}) {
        BOOST_TEST_CONTEXT("interface " << iface) {
            HttpdOptions o = threaded_one_child(Mpm::event, 200, kApps + "PyRequestTimeout 2\nPyShutdownTimeout 1\n");
            HttpdServer srv(o);
            srv.allow_log_error("PM00060");
            srv.start();
            const std::string prefix = std::string("/") + iface;
            for (int round = 0; round < 2; ++round) {
                BOOST_TEST_CONTEXT("round " << round) {
                    if (round > 0) srv.graceful_restart();
                    const std::size_t mark = srv.log_mark();
                    auto spin = std::async(std::launch::async, [&] {
                        try {
                            return http_get(srv.port(), prefix + "/spin?depth=600", 60s).status;
                        } catch (const HttpError&) {
                            return 0;
                        }
                    });
                    BOOST_TEST_REQUIRE(!srv.wait_for_log("PM00040: (wsgi|asgi) spin begins", 30s, mark).empty());
                    // From before the timeout (2 s) until after its job (a
                    // tick is 500 ms): one new request every 6 ms, each
                    // holding its thread for 1.2 s (less than the timeout).
                    std::this_thread::sleep_for(1600ms);
                    std::vector<std::future<int>> held;
                    for (int i = 0; i < 150 && spin.wait_for(6ms) != std::future_status::ready; ++i)
                        held.push_back(std::async(std::launch::async, [&] {
                            try {
                                return http_get(srv.port(), prefix + "/hold?s=1.2", 60s).status;
                            } catch (const HttpError&) {
                                return 0;
                            }
                        }));
                    int answered = 0;
                    for (auto& h : held) answered += h.get() == 200;
                    BOOST_TEST_REQUIRE(answered == static_cast<int>(held.size()),
                                       "every held request is answered within a minute");
                    BOOST_TEST(spin.get() == 504, "the spinning request gets its 504 within a minute");
                    BOOST_TEST_REQUIRE(srv.count_log("PM00060: request ran the app", mark) == 1u, srv.log_since(mark));
                }
            }
            BOOST_TEST(http_get(srv.port(), prefix + "/hello", 30s).status == 200);
        }
    }
}

// Everything at once on an event child with many threads, for a bounded
// time: requests spinning in WSGI and ASGI apps with deep stacks that
// PyRequestTimeout stops again and again, bursts of concurrent requests
// (fresh threads of every new child), PyMaxRequests recycling the child and
// graceful restarts. Every request is answered (its 504 for a spinning one),
// no child hangs or dies (the teardown scan: no AH00052, no stuck request,
// no unexpected error), every child that left is gone, and the next request
// is served.
BOOST_AUTO_TEST_CASE(timeouts_recycling_restarts_and_fresh_threads_at_once) {
    constexpr int kThreads = 100;
    constexpr auto kDuration = 15s;
    HttpdOptions o = threaded_one_child(Mpm::event, kThreads,
                                        kApps + "PyRequestTimeout 1\nPyShutdownTimeout 2\nPyMaxRequests 300 100\n");
    o.server_limit = 4; // room for children that leave while their successor starts
    HttpdServer srv(o);
    srv.allow_log_error("PM00060");
    srv.start();

    std::mutex m;
    std::set<long> pids;
    std::vector<std::string> failures;
    std::atomic<int> requests{0}, answered{0}, timeouts{0}, restarts{0};
    auto record = [&](const std::string& target, int status, const std::string& body, int expected) {
        ++requests;
        std::lock_guard lock(m);
        if (status != expected) {
            failures.push_back(target + " answered " + std::to_string(status) + " (expected " +
                               std::to_string(expected) + ") " + body.substr(0, 200));
            return;
        }
        ++answered;
        if (expected == 504)
            ++timeouts;
        else
            pids.insert(std::stol(body.substr(6)));
    };
    auto get = [&](const std::string& target, int expected) {
        try {
            auto r = http_get(srv.port(), target, 60s);
            record(target, r.status, r.body, expected);
        } catch (const HttpError& e) {
            record(target, 0, e.what(), expected);
        }
    };

    const auto start = Clock::now();
    const auto until = start + kDuration;
    std::atomic<bool> restarts_done{false};
    // The load goes on until both the time is up and the restarts are
    // done (a restart takes longer under a sanitizer).
    auto going = [&] { return Clock::now() < until || !restarts_done; };
    std::vector<std::thread> clients;
    // Spinning requests, one after the other on each interface.
    for (const char* iface : {"w", "a"})
        clients.emplace_back([&, iface] {
            for (int i = 0; going(); ++i)
                get(std::string("/") + iface + "/spin?depth=" + std::to_string(200 + 100 * (i % 4)), 504);
        });
    // Bursts of concurrent requests on both interfaces.
    clients.emplace_back([&] {
        for (int round = 0; going(); ++round) {
            std::vector<std::thread> burst;
            for (int i = 0; i < 40; ++i)
                burst.emplace_back([&, i] { get((i % 2 ? "/a" : "/w") + std::string("/hello"), 200); });
            for (auto& t : burst) t.join();
        }
    });
    // Two graceful restarts while all this runs.
    clients.emplace_back([&] {
        try {
            for (int i = 1; i <= 2; ++i) {
                std::this_thread::sleep_until(start + i * kDuration / 3);
                srv.graceful_restart();
                ++restarts;
            }
        } catch (const std::exception& e) {
            std::lock_guard lock(m);
            failures.push_back(std::string("graceful restart: ") + e.what());
        }
        restarts_done = true;
    });
    for (auto& t : clients) t.join();

    const std::size_t fired = srv.count_log("PM00060: request ran the app");
    const std::size_t recycles = srv.count_log("PM00064: child [0-9]+ leaves \\(max_requests\\)");
    BOOST_TEST_MESSAGE("concurrency_stress: " << requests << " requests, " << answered << " answered as expected, "
                                              << timeouts << " 504s, " << fired << " timeouts fired, " << recycles
                                              << " recycles, " << restarts << " graceful restarts, " << pids.size()
                                              << " children served");
    BOOST_TEST(failures.empty(), failures.size()
                                     << " requests failed; first: " << (failures.empty() ? "" : failures[0]));
    BOOST_TEST(answered == requests);
    BOOST_TEST(fired >= static_cast<std::size_t>(timeouts.load()), "every 504 had its timeout logged");
    BOOST_TEST(timeouts >= 4);
    BOOST_TEST(recycles >= 1u);
    BOOST_TEST(restarts == 2);
    // Every child that served and then left (recycled or restarted) is gone.
    const auto current = srv.child_pids();
    for (long pid : pids) {
        if (std::find(current.begin(), current.end(), pid) != current.end()) continue;
        BOOST_TEST(wait_gone(static_cast<pid_t>(pid), 30s) >= 0, "child " << pid << " left and is gone");
    }
    for (const char* target : {"/w/hello", "/a/hello"}) BOOST_TEST(http_get(srv.port(), target, 30s).status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
