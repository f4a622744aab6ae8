// The PyThreads gate admits requests strictly in arrival order. Arrival order
// is made deterministic by starting each waiter only once the previous one is
// seen waiting in the gate's statistics (polled, never slept on).
#include "admission/slot_gate.h"

#include "unit_support.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace pympm;
using pympm_test::eventually;
using namespace std::chrono_literals;

namespace {

// How long eventually() waits for another thread to get there.
constexpr std::chrono::milliseconds kSlotGateWait = 10s;

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
        BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == want; }, kSlotGateWait));
    }
    return threads;
}

// Admissions in order ('a' for a's acquire, again 'a' when a takes a slot
// back after lending it), and the most requests holding a slot at once as
// the requests themselves see it.
struct Order {
    std::mutex mutex;
    std::string order;
    int holding = 0;
    int max_held = 0;

    void admitted(char id, bool in_order = true) {
        std::lock_guard lock(mutex);
        if (in_order) order.push_back(id);
        max_held = std::max(max_held, ++holding);
    }
    void let_go() {
        std::lock_guard lock(mutex);
        --holding;
    }
    std::string snapshot() {
        std::lock_guard lock(mutex);
        return order;
    }
    int max_holding() {
        std::lock_guard lock(mutex);
        return max_held;
    }
};

// One request on its own thread, driven by the test one gate call at a time
// (a call may block, as the request's thread would).
class Actor {
public:
    enum Op { acquire, begin_io, end_io, release, leave };

    Actor(SlotGate& gate, Order& order, char id) : gate_(gate), order_(order), id_(id), thread_([this] { loop(); }) {}
    ~Actor() {
        stop();
        thread_.join();
    }
    Actor(const Actor&) = delete;
    Actor& operator=(const Actor&) = delete;

    // Starts one call; does not wait for it.
    void step(Op op) {
        {
            std::lock_guard lock(mutex_);
            ops_.push_back(op);
        }
        cv_.notify_one();
    }
    // Calls finished so far.
    int done() const { return done_.load(); }
    bool finished(int calls) const {
        return eventually([&] { return done_.load() >= calls; }, kSlotGateWait);
    }
    // Starts one call and waits until this actor has finished `calls` calls.
    void run(Op op, int calls) {
        step(op);
        BOOST_REQUIRE(finished(calls));
    }
    // After its pending calls, gives its slot back and ends, whatever state
    // a failed check left it in.
    void stop() {
        if (!stopping_) step(leave);
        stopping_ = true;
    }

private:
    void loop() {
        for (;;) {
            Op op;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return !ops_.empty(); });
                op = ops_.front();
                ops_.erase(ops_.begin());
            }
            switch (op) {
            case acquire:
                gate_.acquire(holder_);
                order_.admitted(id_);
                break;
            case begin_io:
                order_.let_go(); // counted as not running from here: the slot may go
                gate_.begin_io(holder_);
                break;
            case end_io:
                // Recorded only if it had to take a slot back.
                order_.admitted(id_, gate_.end_io(holder_));
                break;
            case release:
                order_.let_go();
                gate_.release(holder_);
                break;
            case leave: gate_.release(holder_); return;
            }
            ++done_;
        }
    }

    SlotGate& gate_;
    Order& order_;
    const char id_;
    SlotGate::Holder holder_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Op> ops_;
    bool stopping_ = false;
    std::atomic<int> done_{0};
    std::thread thread_;
};

// Declared after the actors: stops all of them before any is joined, so
// that one still waiting for a slot gets it when the others leave.
struct StopAll {
    std::vector<Actor*> actors;
    ~StopAll() {
        for (Actor* a : actors) a->stop();
    }
};

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
        BOOST_REQUIRE(eventually([&] { return rec.count() == static_cast<std::size_t>(i + 1); }, kSlotGateWait));
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
    BOOST_REQUIRE(eventually([&] { return rec.count() == 2u; }, kSlotGateWait));
    BOOST_TEST(gate.stats().busy == 2);
    BOOST_TEST(gate.stats().waiting == n - 2);
    // From then on one leaves, the next in line enters.
    for (int i = 0; i < n; ++i) {
        rec.may_release[static_cast<std::size_t>(i)] = true;
        const std::size_t want = std::min<std::size_t>(static_cast<std::size_t>(i) + 3, n);
        BOOST_REQUIRE(eventually([&] { return rec.count() == want; }, kSlotGateWait));
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
    BOOST_REQUIRE(eventually([&] { return rec.count() == 1u; }, kSlotGateWait));
    // The waiter holds the slot; the newcomer must wait for it.
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 1; }, kSlotGateWait));
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
BOOST_AUTO_TEST_CASE(slot_lent_after_long_io_and_taken_back_when_free) {
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
    BOOST_REQUIRE(eventually([&] { return other_in.load(); }, kSlotGateWait));
    BOOST_TEST(gate.stats().lent == 1u);
    BOOST_TEST(gate.stats().busy == 1);
    std::atomic<bool> slow_back{false};
    std::thread returning([&] {
        BOOST_TEST(gate.end_io(slow)); // the I/O is over: waits, its slot is lent
        slow_back = true;
    });
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 1; }, kSlotGateWait));
    BOOST_TEST(!slow_back.load());
    other_may_leave = true;
    BOOST_REQUIRE(eventually([&] { return slow_back.load(); }, kSlotGateWait));
    returning.join();
    other.join();
    BOOST_TEST(gate.stats().busy == 1); // `slow` holds a slot again
    gate.release(slow);
    BOOST_TEST(gate.stats().busy == 0);
}

// Issue 23, item 2: requests coming back from a lent slot queue again like
// new arrivals, in one first-come-first-served order. Each request below is
// a thread driven one gate call at a time.
BOOST_AUTO_TEST_CASE(a_returning_request_queues_behind_requests_already_waiting) {
    SlotGate gate(1, 5ms);
    Order order;
    Actor a(gate, order, 'a'), b(gate, order, 'b'), n(gate, order, 'n');
    StopAll stop_all{{&a, &b, &n}};
    a.run(Actor::acquire, 1);
    a.run(Actor::begin_io, 2);
    b.run(Actor::acquire, 1); // takes a's slot once a has waited 5 ms
    a.step(Actor::end_io);    // a's client answered: a queues again
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 1; }, kSlotGateWait));
    n.step(Actor::acquire); // a new request, behind a
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 2; }, kSlotGateWait));
    b.run(Actor::begin_io, 2); // b waits on its client: its slot goes to a, first in line
    BOOST_REQUIRE(a.finished(3));
    BOOST_TEST(n.done() == 0);
    b.step(Actor::end_io); // b's client answered: b queues behind n
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 2; }, kSlotGateWait));
    a.run(Actor::begin_io, 4); // a's slot goes to n, who waited longer than b
    BOOST_REQUIRE(n.finished(1));
    BOOST_TEST(b.done() == 2);
    n.run(Actor::release, 2); // then b
    BOOST_REQUIRE(b.finished(3));
    a.step(Actor::end_io);
    b.run(Actor::release, 4);
    BOOST_REQUIRE(a.finished(5));
    a.run(Actor::release, 6);
    BOOST_TEST(order.snapshot() == "abanba");
    BOOST_TEST(order.max_holding() == 1);
    BOOST_TEST(gate.stats().busy == 0);
    BOOST_TEST(gate.stats().lent == 3u);
}

BOOST_AUTO_TEST_CASE(a_returning_request_goes_ahead_of_later_arrivals) {
    SlotGate gate(1, 5ms);
    Order order;
    Actor a(gate, order, 'a'), b(gate, order, 'b'), n(gate, order, 'n');
    StopAll stop_all{{&a, &b, &n}};
    a.run(Actor::acquire, 1);
    a.run(Actor::begin_io, 2);
    b.run(Actor::acquire, 1); // lent a's slot
    a.step(Actor::end_io);    // a queues first...
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 1; }, kSlotGateWait));
    n.step(Actor::acquire); // ...then n arrives
    BOOST_REQUIRE(eventually([&] { return gate.stats().waiting == 2; }, kSlotGateWait));
    b.run(Actor::release, 2);
    BOOST_REQUIRE(a.finished(3));
    BOOST_TEST(n.done() == 0);
    a.run(Actor::release, 4);
    BOOST_REQUIRE(n.finished(1));
    n.run(Actor::release, 2);
    BOOST_TEST(order.snapshot() == "aban");
    BOOST_TEST(order.max_holding() == 1);
}

BOOST_AUTO_TEST_CASE(slow_clients_coming_back_in_turn_do_not_keep_a_newcomer_out) {
    // Issue 23's reproduction in small. Each slow client's wait ends just
    // after its slot was lent (the worst case), so one of them is always
    // coming back for a slot. A request arriving meanwhile gets in after a
    // turn of each of them, not once they are done.
    constexpr int clients = 4, max_rounds = 500;
    SlotGate gate(1, 1ms);
    std::atomic<bool> newcomer_in{false};
    std::atomic<int> inside{0}, max_inside{0};
    std::vector<std::atomic<int>> rounds(clients);
    auto enter = [&] {
        const int now = ++inside;
        int prev = max_inside.load();
        while (now > prev && !max_inside.compare_exchange_weak(prev, now)) {}
    };
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
            SlotGate::Holder h;
            gate.acquire(h);
            enter();
            auto& mine = rounds[static_cast<std::size_t>(c)];
            while (!newcomer_in.load() && mine.load() < max_rounds) {
                // With one slot, only the one holder's slot can be lent: the
                // count moves when this client's slot goes.
                const std::uint64_t lent = gate.stats().lent;
                --inside;
                gate.begin_io(h);
                while (gate.stats().lent == lent && !newcomer_in.load()) std::this_thread::yield();
                gate.end_io(h);
                enter();
                ++mine;
            }
            --inside;
            gate.release(h);
        });
    // Every client has lent its slot and come back a few times.
    BOOST_REQUIRE(eventually(
        [&] {
            return std::all_of(rounds.begin(), rounds.end(), [](const std::atomic<int>& r) { return r.load() >= 3; });
        },
        kSlotGateWait));
    int most_before = 0, most_after = 0;
    for (auto& r : rounds) most_before = std::max(most_before, r.load());
    {
        SlotGate::Holder h;
        gate.acquire(h);
        enter();
        for (auto& r : rounds) most_after = std::max(most_after, r.load());
        newcomer_in = true;
        --inside;
        gate.release(h);
    }
    for (auto& t : threads) t.join();
    BOOST_TEST_MESSAGE("the newcomer got in after " << most_after - most_before << " rounds of the slow clients");
    BOOST_TEST(most_after < max_rounds, "the newcomer got in only once the slow clients were done");
    BOOST_TEST(max_inside.load() <= 1);
    BOOST_TEST(gate.stats().busy == 0);
}

BOOST_AUTO_TEST_CASE(lending_never_lets_more_than_the_slots_run) {
    constexpr int threads_n = 12, rounds = 60, slots = 3;
    SlotGate gate(slots, 1ms);
    std::atomic<int> inside{0}, max_inside{0};
    auto enter = [&] {
        const int now = ++inside;
        int prev = max_inside.load();
        while (now > prev && !max_inside.compare_exchange_weak(prev, now)) {}
        std::this_thread::yield();
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t)
        threads.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r) {
                SlotGuard guard(&gate);
                enter();
                for (int io = 0; io < 3; ++io) {
                    --inside;
                    gate.begin_io(guard.holder());
                    // Some waits end at once, some after the slot was lent.
                    if ((t + r + io) % 3 == 0) std::this_thread::sleep_for(2ms);
                    gate.end_io(guard.holder());
                    enter();
                }
                --inside;
            }
        });
    for (auto& t : threads) t.join();
    BOOST_TEST(max_inside.load() <= slots);
    BOOST_TEST(max_inside.load() >= 1);
    auto s = gate.stats();
    BOOST_TEST(s.admitted == static_cast<std::uint64_t>(threads_n * rounds));
    BOOST_TEST(s.lent >= 1u);
    BOOST_TEST(s.busy == 0);
    BOOST_TEST(s.waiting == 0);
}

BOOST_AUTO_TEST_CASE(prompt_io_keeps_the_slot_and_the_order) {
    SlotGate gate(1, std::chrono::milliseconds(60000));
    Recorder rec(1);
    SlotGate::Holder h;
    gate.acquire(h);
    auto threads = queue_waiters(gate, rec, 1);
    gate.begin_io(h);
    BOOST_TEST(!gate.end_io(h)); // returns at once: nothing was lent
    BOOST_TEST(gate.stats().lent == 0u);
    BOOST_TEST(rec.count() == 0u);
    gate.release(h);
    BOOST_REQUIRE(eventually([&] { return rec.count() == 1u; }, kSlotGateWait));
    rec.may_release[0] = true;
    threads[0].join();
}

BOOST_AUTO_TEST_CASE(null_guard_is_no_limit) {
    SlotGuard guard(nullptr); // no gate: nothing to do
    BOOST_TEST(true);
}

BOOST_AUTO_TEST_SUITE_END()
