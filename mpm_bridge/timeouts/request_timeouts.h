// PyRequestTimeout, acted on: a request that runs the app longer than the
// timeout is logged with its Python stack and gets pympm.RequestTimeout
// raised in its thread; one still in the app a timeout later (blocked in C,
// or it swallowed the exception) makes the child leave: it stops taking
// connections, lets its other requests finish (up to PyShutdownTimeout),
// logs the stack again and exits. Also samples the child's figures once per
// tick for the status board.
#pragma once

#include "child/child_control.h"
#include "child/child_metrics.h"
#include "child/child_recycling.h"
#include "config/child_settings.h"
#include "python/gil_runner.h"
#include "python/interpreter.h"
#include "base/log.h"
#include "timeouts/request_watchdog.h"
#include "admission/slot_gate.h"
#include "timeouts/timeout_target.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <utility>

namespace pympm {

class RequestIO;

class RequestTimeouts final : public RequestWatchdog::Handler {
public:
    RequestTimeouts(const ChildSettings& settings, const PympmModule& py, LogSink& log, ChildMetrics& metrics,
                    ChildRecycling& recycling)
        : settings_(settings), py_(py), log_(log), metrics_(metrics), recycling_(recycling) {}
    ~RequestTimeouts() override { stop(); }

    // Starts the watchdog thread (at child start, with the GIL released).
    // `gate`: the child's PyThreads gate, or null.
    void start(ChildControl* control, StatusBoard* board, SlotGate* gate);
    // Before Python is finalised, without the GIL.
    void stop();

    // Around an outermost request, from its arrival (before it waits for a
    // slot) to its end: a child that leaves lets these finish. The thread's
    // watch is registered here, before the request takes the GIL.
    void request_arrives() {
        in_flight_.fetch_add(1, std::memory_order_relaxed);
        if (watchdog_) RequestWatch::this_thread();
    }
    void request_leaves() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    // The request thread (with the GIL for WSGI, without for ASGI) around
    // an outermost request's time in the app.
    void request_begins(RequestIO& io, const std::string& app, std::chrono::steady_clock::time_point admitted);
    // Returns whether it ran past PyRequestTimeout.
    bool request_ends();
    // What times out for the current thread's request instead of the
    // thread (an ASGI request's task; null: the thread); returns the one it
    // replaces (a nested request gives it back). With or without the GIL.
    std::shared_ptr<TimeoutSource> watch_source(std::shared_ptr<TimeoutSource> source) {
        if (!watchdog_) return nullptr;
        RequestWatch& w = RequestWatch::this_thread();
        std::lock_guard lock(w.mutex);
        return std::exchange(w.source, std::move(source));
    }

    void timed_out(std::shared_ptr<RequestWatch> w, std::uint64_t seq, double elapsed) override;
    void still_stuck(std::shared_ptr<RequestWatch> w, std::uint64_t seq, double elapsed) override;
    void tick() override;

private:
    // Logs `head` and the stack of the watched request's thread; false if
    // the GIL could not be had in time (the head is logged without it).
    bool log_with_stack(std::shared_ptr<RequestWatch> w, std::uint64_t seq, LogLevel level, const std::string& id,
                        const std::string& head, bool raise_timeout);

    const ChildSettings& settings_;
    const PympmModule& py_;
    LogSink& log_;
    ChildMetrics& metrics_;
    ChildRecycling& recycling_;
    ChildControl* control_ = nullptr;
    StatusBoard* board_ = nullptr;
    SlotGate* gate_ = nullptr;
    std::unique_ptr<GilRunner> runner_;
    std::unique_ptr<RequestWatchdog> watchdog_;
    std::atomic<int> in_flight_{0};
    std::atomic<int> stuck_{0};
};

} // namespace pympm
