#include "timeouts/request_watchdog.h"

#include <algorithm>
#include <pthread.h>
#include <signal.h>
#include <vector>

namespace pympm {

namespace {

// Every thread's watch; a thread's entry leaves with the thread.
std::mutex g_watches_mutex;
std::vector<RequestWatch*> g_watches;

} // namespace

std::mutex& RequestWatch::registry_mutex() { return g_watches_mutex; }

bool RequestWatch::registered(RequestWatch* w) {
    return std::find(g_watches.begin(), g_watches.end(), w) != g_watches.end();
}

RequestWatch::RequestWatch() {
    std::lock_guard lock(g_watches_mutex);
    g_watches.push_back(this);
}

RequestWatch::~RequestWatch() {
    std::lock_guard lock(g_watches_mutex);
    g_watches.erase(std::remove(g_watches.begin(), g_watches.end(), this), g_watches.end());
}

RequestWatch& RequestWatch::this_thread() {
    thread_local RequestWatch watch;
    return watch;
}

RequestWatchdog::RequestWatchdog(std::chrono::milliseconds timeout, std::chrono::milliseconds tick,
                                 Handler& handler)
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
        } catch (...) {
        }
        lock.lock();
    }
}

void RequestWatchdog::check(Clock::time_point now) {
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const std::int64_t limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout_).count();
    struct Due {
        RequestWatch* watch;
        std::uint64_t seq;
        double elapsed;
        bool stuck;
    };
    std::vector<Due> due;
    {
        std::lock_guard lock(g_watches_mutex);
        for (RequestWatch* w : g_watches) {
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
            if (phase == 0 && elapsed_ns >= limit_ns && advance(0)) due.push_back({w, seq, elapsed, false});
            else if (phase == 1 && elapsed_ns >= 2 * limit_ns && advance(1)) due.push_back({w, seq, elapsed, true});
        }
    }
    // Acted on outside the registry's lock: the handler's Python jobs check
    // the watch again under it (RequestWatch::if_current).
    for (const Due& d : due) {
        if (d.stuck) handler_.still_stuck(*d.watch, d.seq, d.elapsed);
        else handler_.timed_out(*d.watch, d.seq, d.elapsed);
    }
}

} // namespace pympm
