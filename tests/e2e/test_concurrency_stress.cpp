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

// `n` concurrent GETs of `target`, each on its own connection; the statuses
// (0: no answer within `timeout`).
std::vector<int> burst(std::uint16_t port, const std::string& target, int n, std::chrono::milliseconds timeout) {
    std::vector<std::future<int>> answers;
    for (int i = 0; i < n; ++i)
        answers.push_back(std::async(std::launch::async, [=] {
            try {
                return http_get(port, target, timeout).status;
            } catch (const HttpError&) {
                return 0;
            }
        }));
    std::vector<int> out;
    for (auto& a : answers) out.push_back(a.get());
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(concurrency_stress)

// The watchdog's job formats the stack of a request in the app past
// PyRequestTimeout; Python lets the GIL go meanwhile. A thread serving its
// first request (it registers its watch then, holding the GIL) must neither
// wait for the job nor make it wait: the child keeps answering, and the
// spinning request gets its 504.
BOOST_AUTO_TEST_CASE(a_timeout_never_deadlocks_threads_serving_their_first_request) {
    for (const char* iface : {"w", "a"}) {
        BOOST_TEST_CONTEXT("interface " << iface) {
            HttpdOptions o = threaded_one_child(Mpm::event, 200, kApps + "PyRequestTimeout 1\nPyShutdownTimeout 1\n");
            HttpdServer srv(o);
            srv.allow_log_error("PM00060");
            srv.start();
            const std::string prefix = std::string("/") + iface;
            int fresh_answers = 0;
            // Each round: one request spins with a deep stack until its
            // timeout fires, while bursts of concurrent requests bring
            // threads that never served one to the app.
            for (int round = 0; round < 4; ++round) {
                BOOST_TEST_CONTEXT("round " << round) {
                    const std::size_t mark = srv.log_mark();
                    auto spin = std::async(std::launch::async, [&] {
                        try {
                            return http_get(srv.port(), prefix + "/spin?depth=600", 60s).status;
                        } catch (const HttpError&) {
                            return 0;
                        }
                    });
                    BOOST_TEST_REQUIRE(!srv.wait_for_log("PM00040: (wsgi|asgi) spin begins", 30s, mark).empty());
                    bool answered = true;
                    while (answered && spin.wait_for(0ms) != std::future_status::ready) {
                        for (int status : burst(srv.port(), prefix + "/hello", 40, 60s)) {
                            answered = answered && status == 200;
                            fresh_answers += status == 200;
                        }
                    }
                    BOOST_TEST_REQUIRE(answered, "every burst request is answered within a minute");
                    BOOST_TEST(spin.get() == 504, "the spinning request gets its 504 within a minute");
                    BOOST_TEST(srv.count_log("PM00060: request ran the app", mark) == 1u, srv.log_since(mark));
                }
            }
            BOOST_TEST_MESSAGE("interface " << iface << ": " << fresh_answers << " burst requests answered");
            BOOST_TEST(http_get(srv.port(), prefix + "/hello", 30s).status == 200);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
