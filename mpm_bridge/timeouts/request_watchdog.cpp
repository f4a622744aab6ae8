#include "timeouts/request_watchdog.h"

#include <algorithm>
#include <pthread.h>
#include <signal.h>
#include <vector>

namespace pympm {

namespace {

// Every thread's watch. Leaked: a thread may exit after static destruction
// began (httpd's children end with exit()).
struct Registry {
    LeafMutex mutex;
    std::vector<std::shared_ptr<RequestWatch>> watches;
};
Registry& registry() {
    static Registry* r = new Registry;
    return *r;
}

// A thread's entry, withdrawn when the thread exits (a job may still hold
// the watch).
struct ThreadWatch {
    std::shared_ptr<RequestWatch> watch = std::make_shared<RequestWatch>();
    ThreadWatch() {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        r.watches.push_back(watch);
    }
    ~ThreadWatch() {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        r.watches.erase(std::remove(r.watches.begin(), r.watches.end(), watch), r.watches.end());
    }
    ThreadWatch(const ThreadWatch&) = delete;
    ThreadWatch& operator=(const ThreadWatch&) = delete;
};

} // namespace

RequestWatch& RequestWatch::this_thread() {
    thread_local ThreadWatch t;
    return *t.watch;
}

RequestWatchdog::RequestWatchdog(std::chrono::milliseconds timeout, std::chrono::milliseconds tick, Handler& handler)
    : timeout_(timeout), tick_(tick), handler_(handler) {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous); // httpd's signals are its threads'
    thread_ = std::thread([this] { loop(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

RequestWatchdog::~RequestWatchdog() { stop(); }

void RequestWatchdog::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void RequestWatchdog::loop() {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, tick_, [&] { return stopping_; })) {
        lock.unlock();
        try {
            if (timeout_.count() > 0) check(Clock::now());
            handler_.tick();
        } catch (...) {}
        lock.lock();
    }
}

void RequestWatchdog::check(Clock::time_point now) {
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const std::int64_t limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout_).count();
    struct Due {
        std::shared_ptr<RequestWatch> watch;
        std::uint64_t seq;
        double elapsed;
        bool stuck;
    };
    std::vector<Due> due;
    {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        for (const std::shared_ptr<RequestWatch>& w : r.watches) {
            const std::uint64_t seq = w->seq.load(std::memory_order_acquire);
            const std::int64_t admitted = w->admitted_ns.load(std::memory_order_acquire);
            if (admitted == 0) continue;
            const std::int64_t elapsed_ns = now_ns - admitted;
            // A phase moves on only for the request that was read: one that
            // began meanwhile (it resets the phase first, then moves seq)
            // keeps 0.
            auto advance = [&](int from) {
                int expected = from;
                if (!w->phase.compare_exchange_strong(expected, from + 1)) return false;
                if (w->seq.load(std::memory_order_acquire) == seq) return true;
                expected = from + 1;
                w->phase.compare_exchange_strong(expected, 0);
                return false;
            };
            const int phase = w->phase.load();
            const double elapsed = static_cast<double>(elapsed_ns) / 1e9;
            if (phase == 0 && elapsed_ns >= limit_ns && advance(0))
                due.push_back({w, seq, elapsed, false});
            else if (phase == 1 && elapsed_ns >= 2 * limit_ns && advance(1))
                due.push_back({w, seq, elapsed, true});
        }
    }
    // Acted on outside the registry's lock, which is a leaf: the handler's
    // Python jobs hold the watches themselves and check them again under
    // the GIL (RequestWatch::current).
    for (Due& d : due) {
        if (d.stuck)
            handler_.still_stuck(std::move(d.watch), d.seq, d.elapsed);
        else
            handler_.timed_out(std::move(d.watch), d.seq, d.elapsed);
    }
}

} // namespace pympm
