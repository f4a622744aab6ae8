// PyRequestTimeout: one watchdog thread per child looks at every request
// thread's watch once per tick. A request costs it a timestamp and a few
// stores; nothing runs per request on the watchdog's side.
//
// A watch is published and withdrawn by its request thread under the
// watch's leaf mutex (a WSGI request holds the GIL too), so a Python job
// that finds the watch still at the sequence number it was given, under
// that mutex, sees the same request, alive. The jobs
// hold the watch by a shared_ptr: no lock is held while they run Python
// (the registry's mutex is a leaf, held only to add, remove or list
// watches).
#pragma once

#include "base/lock_order.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace pympm {

class RequestIO;
class TimeoutSource;

struct RequestWatch {
    // Steady-clock nanoseconds the request got its slot; 0: no request.
    std::atomic<std::int64_t> admitted_ns{0};
    std::atomic<std::uint64_t> seq{0};
    // 0: running; 1: timed out, RequestTimeout raised; 2: stuck, recycling.
    std::atomic<int> phase{0};
    // Valid while admitted. An ASGI request's thread publishes and
    // withdraws them without the GIL: under `mutex` (a leaf), which the
    // job holds while it reads them.
    LeafMutex mutex;
    unsigned long py_ident = 0;
    RequestIO* io = nullptr;
    const std::string* app = nullptr;
    bool exception_sent = false; // under the GIL
    // Gives the target instead of the thread (an ASGI request); shared, as
    // the job may use it after the request ended.
    std::shared_ptr<TimeoutSource> source;

    RequestWatch() = default;
    RequestWatch(const RequestWatch&) = delete;
    RequestWatch& operator=(const RequestWatch&) = delete;

    // The calling thread's watch, registered on its first use.
    static RequestWatch& this_thread();
    // Under the GIL: still the request at `s`, in the app.
    bool current(std::uint64_t s) const { return seq.load() == s && admitted_ns.load() != 0; }
};

class RequestWatchdog {
public:
    using Clock = std::chrono::steady_clock;

    class Handler {
    public:
        virtual ~Handler() = default;
        // The request of `w` (at `seq`) ran longer than the timeout. The
        // watch stays valid as long as the handler keeps `w`, even once
        // its thread has exited.
        virtual void timed_out(std::shared_ptr<RequestWatch> w, std::uint64_t seq, double elapsed) = 0;
        // ... and still runs one timeout later.
        virtual void still_stuck(std::shared_ptr<RequestWatch> w, std::uint64_t seq, double elapsed) = 0;
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
    LeafMutex mutex_;
    LeafCondition cv_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace pympm
