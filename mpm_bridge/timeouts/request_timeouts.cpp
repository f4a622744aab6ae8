#include "timeouts/request_timeouts.h"

#include "request/request_io.h"

#include <algorithm>
#include <mutex>
#include <cstdio>
#include <optional>
#include <thread>
#include <unistd.h>

namespace pympm {

namespace {

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", s);
    return buf;
}

std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The default target: the request's own thread (a WSGI app runs there).
class ThreadTarget final : public TimeoutTarget {
public:
    ThreadTarget(const PympmModule& py, std::shared_ptr<RequestWatch> w)
        : thread_stack_(py.thread_stack), request_timeout_(py.request_timeout), watch_(std::move(w)),
          ident_(watch_->py_ident) {}
    const char* stack_name() const override { return "its Python stack"; }
    const char* cancel_action() const override { return "pympm.RequestTimeout is raised in it"; }
    std::string stack() const override {
        PYMPM_ASSERT_GIL();
        PyRef ident = PyRef::steal(PyLong_FromUnsignedLong(ident_));
        return call_for_text(thread_stack_.get(), ident.get());
    }
    void cancel() override {
        PYMPM_ASSERT_GIL();
        PyThreadState_SetAsyncExc(ident_, request_timeout_.get());
        // Cleared at the request's end if it came too late to be seen.
        watch_->exception_sent = true;
    }

private:
    PyRef thread_stack_, request_timeout_;
    std::shared_ptr<RequestWatch> watch_;
    unsigned long ident_;
};

} // namespace

void RequestTimeouts::start(ChildControl* control, StatusBoard* board, SlotGate* gate) {
    control_ = control;
    board_ = board;
    gate_ = gate;
    using namespace std::chrono;
    const milliseconds timeout = seconds(settings_.request_timeout_s);
    if (timeout.count() == 0 && !board) return; // nothing to watch or sample
    // A quarter of the timeout, so a timeout is acted on within 25 % of it;
    // once a second at most for sampling.
    milliseconds tick = milliseconds(1000);
    if (timeout.count() > 0) tick = std::clamp(timeout / 4, milliseconds(50), milliseconds(1000));
    if (timeout.count() > 0) runner_ = std::make_unique<GilRunner>();
    watchdog_ = std::make_unique<RequestWatchdog>(timeout, tick, *this);
}

void RequestTimeouts::stop() {
    if (watchdog_) watchdog_->stop();
    if (runner_) runner_->stop();
}

void RequestTimeouts::request_begins(RequestIO& io, const std::string& app,
                                     std::chrono::steady_clock::time_point admitted) {
    if (!watchdog_ || settings_.request_timeout_s == 0) return;
    RequestWatch& w = RequestWatch::this_thread();
    std::lock_guard lock(w.mutex);
    w.phase.store(0, std::memory_order_relaxed);
    w.py_ident = PyThread_get_thread_ident();
    w.io = &io;
    w.app = &app;
    w.exception_sent = false;
    w.seq.fetch_add(1, std::memory_order_release);
    w.admitted_ns.store(steady_ns(admitted), std::memory_order_release);
}

bool RequestTimeouts::request_ends() {
    if (!watchdog_ || settings_.request_timeout_s == 0) return false;
    RequestWatch& w = RequestWatch::this_thread();
    // Past phase 0: the watchdog found it over the limit.
    const bool timed_out = w.phase.load(std::memory_order_relaxed) > 0;
    {
        std::lock_guard lock(w.mutex);
        w.admitted_ns.store(0, std::memory_order_release);
        w.seq.fetch_add(1, std::memory_order_release);
    }
    if (w.exception_sent) {
        // Only a thread target sets it: a WSGI request, which holds the GIL.
        PYMPM_ASSERT_GIL();
        // Raised too late to be seen (the app had already returned): it
        // must not go off in this thread's next request.
        PyThreadState_SetAsyncExc(w.py_ident, nullptr);
        w.exception_sent = false;
    }
    return timed_out;
}

bool RequestTimeouts::log_with_stack(std::shared_ptr<RequestWatch> w, std::uint64_t seq, LogLevel level,
                                     const std::string& id, const std::string& head, bool raise_timeout) {
    // The job owns copies of what it needs, the watch too: it may run after
    // we stopped waiting for it, and after the request's thread exited. No
    // lock is held while it runs Python.
    auto job = [this, w = std::move(w), seq, level, id, head, raise_timeout] {
        PYMPM_ASSERT_GIL();
        // Taken before any Python runs here, under the watch's mutex: the
        // request is alive while it is held (and a WSGI one until this
        // thread lets the GIL go). An ASGI app runs as a task on the event
        // loop: its coroutines' stack, and the task is cancelled.
        std::shared_ptr<TimeoutSource> source;
        std::string described;
        {
            std::lock_guard lock(w->mutex);
            if (!w->current(seq)) return;
            source = w->source;
            described = w->io->describe() + ", app " + *w->app;
        }
        std::unique_ptr<TimeoutTarget> target =
            source ? source->timeout_target(raise_timeout) : std::make_unique<ThreadTarget>(py_, w);
        const std::string what =
            head + (raise_timeout ? std::string("; ") + target->cancel_action() : "") + " (" + described + ")";
        // To the request's log (its vhost's ErrorLog, next to its traceback)
        // while it runs: its RequestIO lives while the watch's mutex shows
        // it current. No Python runs under the mutex.
        auto emit = [&](const std::string& line) {
            std::lock_guard lock(w->mutex);
            if (w->current(seq))
                w->io->log(level, line);
            else
                log_.log(level, line);
        };
        emit(id + what + "; " + target->stack_name() + ", innermost last:");
        const std::string stack = target->stack();
        // The whole stack is in the log before the request can end: the
        // cancellation (Python code on asyncio's loop) may let the GIL go.
        for_each_line(stack.empty() ? std::string("(no Python frame: in C code, or not known)") : stack,
                      [&](std::string_view line) { emit(id + "  " + std::string(line)); });
        // Still the same request? The stack's Python code may have let the
        // GIL go, and the request end meanwhile.
        if (!raise_timeout || !w->current(seq)) return;
        target->cancel();
        metrics_.timed_out();
    };
    if (runner_->run(std::move(job), std::chrono::seconds(2))) return true;
    log_.log(level, id + head + "; its stack could not be taken: another thread holds the GIL in C code");
    return false;
}

void RequestTimeouts::timed_out(std::shared_ptr<RequestWatch> w, std::uint64_t seq, double elapsed) {
    log_with_stack(std::move(w), seq, LogLevel::error, PYMPM_APLOGNO(00060),
                   "request ran the app for " + seconds_text(elapsed) + ", longer than PyRequestTimeout " +
                       std::to_string(settings_.request_timeout_s) + " s",
                   true);
}

void RequestTimeouts::still_stuck(std::shared_ptr<RequestWatch> w, std::uint64_t seq, double elapsed) {
    stuck_.fetch_add(1);
    log_with_stack(std::move(w), seq, LogLevel::error, PYMPM_APLOGNO(00062),
                   "request still in the app after " + seconds_text(elapsed) + " (twice PyRequestTimeout " +
                       std::to_string(settings_.request_timeout_s) +
                       " s): it does not return (blocked in C, or it caught pympm.RequestTimeout); the child is "
                       "recycled",
                   false);
    recycling_.leave(LeaveReason::request_timeout, "a request is stuck in the app past twice PyRequestTimeout");
    // Requests waiting for the stuck one's PyThreads slot get one.
    if (gate_) gate_->add_slot();
    // The stuck thread will never let httpd's graceful stop finish: the
    // other requests get up to PyShutdownTimeout, then the child exits.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings_.shutdown_timeout_s);
    while (in_flight_.load() > stuck_.load() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int others = std::max(0, in_flight_.load() - stuck_.load());
    log_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00063)) + "child " + std::to_string(::getpid()) +
                                  " exits now with " + std::to_string(stuck_.load()) + " stuck request(s)" +
                                  (others ? " and " + std::to_string(others) + " other(s) still running" : "") +
                                  "; their connections are closed and Python is not finalised");
    if (board_) board_->release(metrics_.stats(), LeaveReason::request_timeout);
    if (control_) control_->exit_now();
}

void RequestTimeouts::tick() {
    metrics_.set_rss(resident_bytes());
    metrics_.tick(recycling_.served());
}

} // namespace pympm
