// The ASGI inbox (request threads -> the event loop) and a request's
// exchange (loop -> request thread), without Python: a burst of work wakes
// the loop once, nothing pushed is lost or run twice, a closed inbox
// answers what it still held, and the loop wakes a request thread only
// when it waits.
#include "asgi/asgi_context.h"
#include "asgi/asgi_exchange.h"
#include "asgi/asgi_inbox.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <poll.h>
#include <string>
#include <thread>
#include <vector>

using namespace pympm;
using namespace std::chrono_literals;

namespace {

struct Numbered final : LoopWork {
    Numbered(int n, std::vector<int>& ran, std::atomic<int>* abandoned = nullptr)
        : n_(n), ran_(ran), abandoned_(abandoned) {}
    void run() noexcept override { ran_.push_back(n_); }
    void abandon() noexcept override {
        if (abandoned_) abandoned_->fetch_add(1);
    }
    int n_;
    std::vector<int>& ran_;
    std::atomic<int>* abandoned_;
};

bool readable(int fd, int timeout_ms = 0) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

void run_all(std::vector<std::unique_ptr<LoopWork>>& works) {
    for (auto& w : works) w->run();
    works.clear();
}

} // namespace

BOOST_AUTO_TEST_SUITE(asgi_inbox)

BOOST_AUTO_TEST_CASE(the_inbox_wakes_the_loop_once_per_burst) {
    AsgiInbox inbox;
    std::string error;
    BOOST_REQUIRE(inbox.open(error));
    BOOST_TEST(!readable(inbox.fd()));
    std::vector<int> ran;
    for (int i = 0; i < 10; ++i) BOOST_REQUIRE(inbox.push(std::make_unique<Numbered>(i, ran)));
    BOOST_TEST(readable(inbox.fd()));
    BOOST_TEST(inbox.stats().wakes == 1u);
    std::vector<std::unique_ptr<LoopWork>> works;
    BOOST_TEST(inbox.take(works, 64) == 10u);
    BOOST_TEST(!inbox.more_left());
    run_all(works);
    BOOST_TEST(ran == std::vector<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), boost::test_tools::per_element());
    // Taken: the eventfd is quiet until the next push, which wakes again.
    BOOST_TEST(!readable(inbox.fd()));
    BOOST_REQUIRE(inbox.push(std::make_unique<Numbered>(10, ran)));
    BOOST_TEST(readable(inbox.fd()));
    BOOST_TEST(inbox.stats().wakes == 2u);
    BOOST_TEST(inbox.stats().pushed == 11u);
}

BOOST_AUTO_TEST_CASE(a_burst_larger_than_a_batch_is_taken_in_batches_after_one_wake_up) {
    AsgiInbox inbox;
    std::string error;
    BOOST_REQUIRE(inbox.open(error));
    std::vector<int> ran;
    for (int i = 0; i < 100; ++i) BOOST_REQUIRE(inbox.push(std::make_unique<Numbered>(i, ran)));
    std::vector<std::unique_ptr<LoopWork>> works;
    BOOST_TEST(inbox.take(works, 64) == 64u);
    BOOST_TEST(inbox.more_left());
    run_all(works);
    // Pushed while the rest waits: no new wake-up (the loop comes back for
    // the rest anyway).
    BOOST_REQUIRE(inbox.push(std::make_unique<Numbered>(100, ran)));
    BOOST_TEST(inbox.take(works, 64) == 37u);
    BOOST_TEST(!inbox.more_left());
    run_all(works);
    BOOST_TEST(inbox.stats().wakes == 1u);
    BOOST_REQUIRE(ran.size() == 101u);
    for (int i = 0; i < 101; ++i) BOOST_TEST(ran[static_cast<std::size_t>(i)] == i);
}

BOOST_AUTO_TEST_CASE(the_inbox_refuses_after_close_and_abandons_what_it_held) {
    AsgiInbox inbox;
    std::string error;
    BOOST_REQUIRE(inbox.open(error));
    std::vector<int> ran;
    std::atomic<int> abandoned{0};
    BOOST_REQUIRE(inbox.push(std::make_unique<Numbered>(1, ran, &abandoned)));
    BOOST_REQUIRE(inbox.push(std::make_unique<Numbered>(2, ran, &abandoned)));
    inbox.close();
    BOOST_TEST(abandoned.load() == 2);
    std::unique_ptr<LoopWork> late = std::make_unique<Numbered>(3, ran, &abandoned);
    BOOST_TEST(!inbox.push(late));
    BOOST_TEST(static_cast<bool>(late)); // left with the caller, who answers it
    std::vector<std::unique_ptr<LoopWork>> works;
    BOOST_TEST(inbox.take(works, 64) == 0u);
    BOOST_TEST(ran.empty());
}

BOOST_AUTO_TEST_CASE(pushes_from_many_threads_are_all_taken_once_by_a_loop_that_sleeps_on_the_fd) {
    AsgiInbox inbox;
    std::string error;
    BOOST_REQUIRE(inbox.open(error));
    constexpr int kThreads = 4, kEach = 2000;
    std::vector<int> ran;
    std::atomic<bool> lost{false};
    std::thread loop([&] {
        std::vector<std::unique_ptr<LoopWork>> works;
        while (ran.size() < static_cast<std::size_t>(kThreads * kEach)) {
            // A lost wake-up would leave items queued behind a quiet fd.
            if (!inbox.more_left() && !readable(inbox.fd(), 10000)) {
                lost = true;
                return;
            }
            inbox.take(works, 64);
            run_all(works);
        }
    });
    std::vector<std::thread> pushers;
    for (int t = 0; t < kThreads; ++t)
        pushers.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) inbox.push(std::make_unique<Numbered>(t * kEach + i, ran));
        });
    for (auto& p : pushers) p.join();
    loop.join();
    BOOST_TEST(!lost.load());
    std::vector<int> seen(kThreads * kEach, 0);
    for (int n : ran) ++seen[static_cast<std::size_t>(n)];
    BOOST_TEST(std::count(seen.begin(), seen.end(), 1) == kThreads * kEach);
    BOOST_TEST(inbox.stats().wakes <= inbox.stats().pushed);
}

BOOST_AUTO_TEST_CASE(a_mailbox_notifies_only_a_waiting_thread) {
    AsgiContext asgi;
    AsgiExchange x(asgi);
    AsgiEvent e;
    e.kind = AsgiEvent::Kind::body;
    e.data = "queued";
    // Nobody waits: no wake-up, and the next wait returns at once.
    BOOST_REQUIRE(x.post(std::move(e)));
    BOOST_TEST(x.wakes() == 0u);
    std::vector<AsgiEvent> got = x.wait(std::nullopt);
    BOOST_REQUIRE(got.size() == 1u);
    BOOST_TEST(got[0].data == "queued");
    std::thread r([&] { got = x.wait(std::nullopt); });
    // Posted once the request thread sleeps in wait() (polled): one wake-up.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!x.has_waiter() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    BOOST_REQUIRE(x.has_waiter());
    AsgiEvent last;
    last.kind = AsgiEvent::Kind::done;
    BOOST_REQUIRE(x.post(std::move(last)));
    r.join();
    BOOST_REQUIRE(got.size() == 1u);
    BOOST_TEST((got[0].kind == AsgiEvent::Kind::done));
    BOOST_TEST(x.wakes() == 1u);
}

BOOST_AUTO_TEST_CASE(a_finished_mailbox_refuses_posts_and_hands_back_what_was_queued) {
    AsgiContext asgi;
    AsgiExchange x(asgi);
    AsgiEvent a;
    a.kind = AsgiEvent::Kind::done;
    BOOST_REQUIRE(x.post(std::move(a)));
    std::vector<AsgiEvent> left = x.finish();
    BOOST_TEST(left.size() == 1u);
    BOOST_TEST(x.finished());
    AsgiEvent b;
    b.kind = AsgiEvent::Kind::done;
    BOOST_TEST(!x.post(std::move(b)));
}

BOOST_AUTO_TEST_SUITE_END()
