// PyRequestTimeout: one watchdog thread per child looks at every request
// thread's watch once per tick. A request costs it a timestamp and a few
// stores; nothing runs per request on the watchdog's side.
//
// A watch is published and withdrawn by its request thread while it holds
// the GIL, so a Python job (run with the GIL) that finds the watch still at
// the sequence number it was given sees the same request, alive.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace pympm {

class RequestIO;
class AsgiRequest;

struct RequestWatch {
    // Steady-clock nanoseconds the request got its slot; 0: no request.
    std::atomic<std::int64_t> admitted_ns{0};
    std::atomic<std::uint64_t> seq{0};
    // 0: running; 1: timed out, RequestTimeout raised; 2: stuck, recycling.
    std::atomic<int> phase{0};
    // Valid while admitted; read under the GIL.
    unsigned long py_ident = 0;
    RequestIO* io = nullptr;
    const std::string* app = nullptr;
    bool exception_sent = false; // under the GIL
    AsgiRequest* asgi = nullptr;  // an ASGI request: its task is what times out

    RequestWatch();
    ~RequestWatch();
    RequestWatch(const RequestWatch&) = delete;
    RequestWatch& operator=(const RequestWatch&) = delete;

    // The calling thread's watch.
    static RequestWatch& this_thread();
    // Runs f() if `w` is still a live thread's watch at `seq` with a request
    // admitted; the watch stays alive meanwhile. Returns whether f ran.
    template <class F>
    static bool if_current(RequestWatch* w, std::uint64_t seq, F&& f) {
        std::lock_guard lock(registry_mutex());
        if (!registered(w) || w->seq.load() != seq || w->admitted_ns.load() == 0) return false;
        f();
        return true;
    }

private:
    static std::mutex& registry_mutex();
    static bool registered(RequestWatch* w);
};

class RequestWatchdog {
public:
    using Clock = std::chrono::steady_clock;

    class Handler {
    public:
        virtual ~Handler() = default;
        // The request of `w` (at `seq`) ran longer than the timeout.
        virtual void timed_out(RequestWatch& w, std::uint64_t seq, double elapsed) = 0;
        // ... and still runs one timeout later.
        virtual void still_stuck(RequestWatch& w, std::uint64_t seq, double elapsed) = 0;
        // Once per tick, whatever the requests do (sampling figures).
        virtual void tick() = 0;
    };

    // timeout 0: no timeouts, only ticks.
    RequestWatchdog(std::chrono::milliseconds timeout, std::chrono::milliseconds tick, Handler& handler);
    ~RequestWatchdog();
    RequestWatchdog(const RequestWatchdog&) = delete;
    RequestWatchdog& operator=(const RequestWatchdog&) = delete;
    void stop();

private:
    void loop();
    void check(Clock::time_point now);

    const std::chrono::milliseconds timeout_;
    const std::chrono::milliseconds tick_;
    Handler& handler_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace pympm
