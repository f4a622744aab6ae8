// The PyThreads gate admits requests strictly in arrival order. Arrival order
// is made deterministic by starting each waiter only once the previous one is
// seen waiting in the gate's statistics (polled, never slept on).
#include "admission/slot_gate.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

using namespace pympm;
using namespace std::chrono_literals;

namespace {

// Polls `cond` until it holds or 10 s pass.
bool eventually(const std::function<bool()>& cond) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// Records the order in which threads got a slot; each admitted thread keeps
// its slot until it is told to let go.
struct Recorder {
    std::mutex mutex;
    std::vector<int> order;
    std::vector<std::atomic<bool>> may_release;
    explicit Recorder(std::size_t n) : may_release(n) {}

    void admitted(int id) {
        std::lock_guard lock(mutex);
        order.push_back(id);
    }
    std::size_t count() {
        std::lock_guard lock(mutex);
        return order.size();
    }
    std::vector<int> snapshot() {
        std::lock_guard lock(mutex);
        return order;
    }
};

// Starts `n` waiters one after the other, each once the previous one waits.
std::vector<std::thread> queue_waiters(SlotGate& gate, Recorder& rec, int n, int already_waiting = 0) {
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&gate, &rec, i] {
            SlotGate::Holder h;
            gate.acquire(h);
            rec.admitted(i);
            while (!rec.may_release[static_cast<std::size_t>(i)].load()) std::this_thread::yield();
            gate.release(h);
        });
        const int want = already_waiting + i + 1;
        BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == want; }));
    }
    return threads;
}

} // namespace

BOOST_AUTO_TEST_SUITE(slot_gate)

BOOST_AUTO_TEST_CASE(uncontended) {
    SlotGate gate(2);
    SlotGate::Holder a, b;
    gate.acquire(a);
    gate.acquire(b);
    auto s = gate.stats();
    BOOST_TEST(s.slots == 2);
    BOOST_TEST(s.busy == 2);
    BOOST_TEST(s.waiting == 0);
    BOOST_TEST(s.admitted == 2u);
    BOOST_TEST(s.waited == 0u);
    BOOST_TEST(s.total_wait.count() == 0);
    gate.release(a);
    gate.release(b);
    BOOST_TEST(gate.stats().busy == 0);
}

BOOST_AUTO_TEST_CASE(at_least_one_slot) {
    SlotGate gate(0);
    BOOST_TEST(gate.stats().slots == 1);
}

BOOST_AUTO_TEST_CASE(fifo_one_slot) {
    constexpr int n = 12;
    SlotGate gate(1);
    Recorder rec(n);
    SlotGate::Holder first;
    gate.acquire(first); // the slot is busy while the queue forms
    auto threads = queue_waiters(gate, rec, n);
    BOOST_TEST(rec.count() == 0u);
    gate.release(first);
    for (int i = 0; i < n; ++i) {
        // Exactly one more is admitted each time a slot frees up, the next in line.
        BOOST_REQUIRE(eventually([&] { return rec.count() == static_cast<std::size_t>(i + 1); }));
        BOOST_TEST(gate.stats().busy == 1);
        BOOST_TEST(rec.snapshot().back() == i);
        rec.may_release[static_cast<std::size_t>(i)] = true;
    }
    for (auto& t : threads) t.join();
    std::vector<int> expected(n);
    for (int i = 0; i < n; ++i) expected[static_cast<std::size_t>(i)] = i;
    BOOST_TEST(rec.snapshot() == expected, boost::test_tools::per_element());
    auto s = gate.stats();
    BOOST_TEST(s.busy == 0);
    BOOST_TEST(s.waiting == 0);
    BOOST_TEST(s.admitted == static_cast<std::uint64_t>(n + 1));
    BOOST_TEST(s.waited == static_cast<std::uint64_t>(n));
    BOOST_TEST(s.total_wait.count() > 0);
}

BOOST_AUTO_TEST_CASE(fifo_two_slots) {
    constexpr int n = 9;
    SlotGate gate(2);
    Recorder rec(n);
    SlotGate::Holder a, b;
    gate.acquire(a);
    gate.acquire(b);
    auto threads = queue_waiters(gate, rec, n);
    // Both slots free at once: the first two in line get them, in order.
    gate.release(a);
    gate.release(b);
    BOOST_REQUIRE(eventually([&] { return rec.count() == 2u; }));
    BOOST_TEST(gate.stats().busy == 2);
    BOOST_TEST(gate.stats().waiting == n - 2);
    // From then on one leaves, the next in line enters.
    for (int i = 0; i < n; ++i) {
        rec.may_release[static_cast<std::size_t>(i)] = true;
        const std::size_t want = std::min<std::size_t>(static_cast<std::size_t>(i) + 3, n);
        BOOST_REQUIRE(eventually([&] { return rec.count() == want; }));
        BOOST_TEST(gate.stats().busy <= 2);
    }
    for (auto& t : threads) t.join();
    std::vector<int> expected(n);
    for (int i = 0; i < n; ++i) expected[static_cast<std::size_t>(i)] = i;
    // The first two were admitted together: which of them records itself
    // first is up to the scheduler. Every later one entered alone.
    std::vector<int> seen = rec.snapshot();
    std::sort(seen.begin(), seen.begin() + 2);
    BOOST_TEST(seen == expected, boost::test_tools::per_element());
    BOOST_TEST(gate.stats().busy == 0);
}

BOOST_AUTO_TEST_CASE(newcomer_does_not_overtake) {
    // A slot frees while someone waits: a request arriving just then queues
    // behind the waiter instead of taking the slot (no barging).
    SlotGate gate(1);
    Recorder rec(1);
    SlotGate::Holder first;
    gate.acquire(first);
    auto threads = queue_waiters(gate, rec, 1);
    std::atomic<bool> newcomer_in{false};
    gate.release(first);
    std::thread newcomer([&] {
        SlotGate::Holder h;
        gate.acquire(h);
        newcomer_in = true;
        gate.release(h);
    });
    BOOST_REQUIRE(eventually([&] { return rec.count() == 1u; }));
    // The waiter holds the slot; the newcomer must wait for it.
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 1; }));
    BOOST_TEST(!newcomer_in.load());
    rec.may_release[0] = true;
    newcomer.join();
    threads[0].join();
    BOOST_TEST(newcomer_in.load());
    BOOST_TEST(gate.stats().admitted == 3u);
}

BOOST_AUTO_TEST_CASE(reacquire_by_releaser_waits_its_turn) {
    // The thread that releases and at once asks again (a keep-alive request on
    // the same httpd thread) goes behind the one already waiting.
    SlotGate gate(1);
    Recorder rec(1);
    SlotGate::Holder h;
    gate.acquire(h);
    auto threads = queue_waiters(gate, rec, 1);
    gate.release(h);
    rec.may_release[0] = true;
    gate.acquire(h); // returns only after the waiter had its turn
    BOOST_TEST(rec.count() == 1u);
    gate.release(h);
    threads[0].join();
}

BOOST_AUTO_TEST_CASE(stress_many_threads_keep_the_limit) {
    constexpr int threads_n = 16, rounds = 200, slots = 3;
    SlotGate gate(slots);
    std::atomic<int> inside{0}, max_inside{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t)
        threads.emplace_back([&] {
            for (int r = 0; r < rounds; ++r) {
                SlotGuard guard(&gate);
                int now = ++inside;
                int prev = max_inside.load();
                while (now > prev && !max_inside.compare_exchange_weak(prev, now)) {}
                std::this_thread::yield();
                --inside;
            }
        });
    for (auto& t : threads) t.join();
    BOOST_TEST(max_inside.load() <= slots);
    BOOST_TEST(max_inside.load() >= 1);
    auto s = gate.stats();
    BOOST_TEST(s.admitted == static_cast<std::uint64_t>(threads_n * rounds));
    BOOST_TEST(s.busy == 0);
    BOOST_TEST(s.waiting == 0);
}

// Issue 9, item 5: a request waiting on its client lends its slot.
BOOST_AUTO_TEST_CASE(slot_lent_after_long_io_and_taken_back_first) {
    SlotGate gate(1, 20ms);
    SlotGate::Holder slow;
    gate.acquire(slow);
    gate.begin_io(slow); // e.g. a client that stopped sending its body
    std::atomic<bool> other_in{false}, other_may_leave{false};
    std::thread other([&] {
        SlotGate::Holder h;
        gate.acquire(h); // admitted although `slow` never released
        other_in = true;
        while (!other_may_leave.load()) std::this_thread::yield();
        gate.release(h);
    });
    BOOST_REQUIRE(eventually([&] { return other_in.load(); }));
    BOOST_TEST(gate.stats().lent == 1u);
    BOOST_TEST(gate.stats().busy == 1);
    // A newcomer queues behind the returning request.
    std::atomic<bool> newcomer_in{false};
    std::atomic<bool> slow_back{false};
    std::thread returning([&] {
        gate.end_io(slow); // the I/O is over: waits, its slot is lent
        slow_back = true;
    });
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 1; }));
    std::thread newcomer([&] {
        SlotGate::Holder h;
        gate.acquire(h);
        newcomer_in = true;
        gate.release(h);
    });
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 2; }));
    BOOST_TEST(!slow_back.load());
    other_may_leave = true;
    BOOST_REQUIRE(eventually([&] { return slow_back.load(); }));
    returning.join();
    BOOST_TEST(!newcomer_in.load()); // `slow` holds the slot again
    gate.release(slow);
    newcomer.join();
    other.join();
    BOOST_TEST(newcomer_in.load());
    BOOST_TEST(gate.stats().busy == 0);
}

BOOST_AUTO_TEST_CASE(prompt_io_keeps_the_slot_and_the_order) {
    SlotGate gate(1, std::chrono::milliseconds(60000));
    Recorder rec(1);
    SlotGate::Holder h;
    gate.acquire(h);
    auto threads = queue_waiters(gate, rec, 1);
    gate.begin_io(h);
    gate.end_io(h); // returns at once: nothing was lent
    BOOST_TEST(gate.stats().lent == 0u);
    BOOST_TEST(rec.count() == 0u);
    gate.release(h);
    BOOST_REQUIRE(eventually([&] { return rec.count() == 1u; }));
    rec.may_release[0] = true;
    threads[0].join();
}

BOOST_AUTO_TEST_CASE(null_guard_is_no_limit) {
    SlotGuard guard(nullptr); // no gate: nothing to do
    BOOST_TEST(true);
}

BOOST_AUTO_TEST_SUITE_END()
