// PyMaxRequests decided on one request thread and acted on by another: the
// PM00064 line says why the child leaves, whole, once. The reason was
// published before its text was written, so a thread that ended its request
// meanwhile could log an empty or torn "why" (issue 18, item 4).
#include "child/child_recycling.h"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pympm;

namespace {

struct CapturedLog : LogSink {
    std::mutex mutex;
    std::vector<std::string> lines;
    void log(LogLevel, std::string_view message) override {
        std::lock_guard lock(mutex);
        lines.emplace_back(message);
    }
};

struct RecyclingControl : ChildControl {
    std::atomic<int> left{0};
    void leave_gracefully() override { ++left; }
    [[noreturn]] void exit_now() override { std::abort(); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(child_recycling)

BOOST_AUTO_TEST_CASE(the_leave_line_says_why_whole_whichever_thread_logs_it) {
    // One thread ends the request that reaches PyMaxRequests while the
    // others end theirs without pause (leave_if_due after each), as busy
    // request threads do: whichever logs PM00064 must have the whole why.
    constexpr int kOthers = 3;
    constexpr int kRounds = 500;
    int bad = 0;
    std::string example;
    for (int round = 0; round < kRounds && bad == 0; ++round) {
        ChildSettings settings;
        settings.max_requests = 1;
        CapturedLog log;
        ChildMetrics metrics;
        RecyclingControl control;
        ChildRecycling recycling(settings, log, metrics);
        recycling.start(&control, nullptr, 1);
        std::atomic<int> running{0};
        std::vector<std::thread> others;
        for (int t = 0; t < kOthers; ++t)
            others.emplace_back([&] {
                ++running;
                while (!recycling.leaving()) {
                    recycling.leave_if_due();
                    std::this_thread::yield(); // two loaded cores: let the deciding thread run
                }
            });
        while (running.load() < kOthers) std::this_thread::yield();
        recycling.count_request();
        recycling.leave_if_due();
        for (auto& t : others) t.join();
        int leave_lines = 0;
        for (const auto& line : log.lines) {
            if (line.rfind("PM00064: ", 0) != 0) continue;
            ++leave_lines;
            if (line.find(" leaves (max_requests): served 1 requests (PyMaxRequests 1); requests in flight finish") ==
                std::string::npos) {
                ++bad;
                example = line;
            }
        }
        BOOST_TEST_REQUIRE(leave_lines == 1, "round " << round << ": " << leave_lines << " PM00064 lines");
        BOOST_TEST_REQUIRE(control.left.load() == 1);
        BOOST_TEST_REQUIRE((recycling.reason() == LeaveReason::max_requests));
    }
    BOOST_TEST(bad == 0, "a PM00064 line without its whole why: " << example);
}

BOOST_AUTO_TEST_SUITE_END()
