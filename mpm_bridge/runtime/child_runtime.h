// Everything one httpd child runs Python with: the interpreter, the apps, the
// PyThreads gate and the stop sequence. Created in child_init, destroyed from
// the child pool's cleanup; the module holds the only pointer to it.
#pragma once

#include "asgi/asgi_context.h"
#include "runtime/app_loader.h"
#include "child/child_control.h"
#include "child/child_health.h"
#include "child/child_metrics.h"
#include "child/child_recycling.h"
#include "child/child_requests.h"
#include "config/child_settings.h"
#include "config/effective_model.h"
#include "python/interpreter.h"
#include "base/log.h"
#include "config/mpm_model.h"
#include "request/request_io.h"
#include "timeouts/request_timeouts.h"
#include "admission/slot_gate.h"
#include "status/status_board.h"
#include "request/request_context.h"
#include "websocket/ws_names.h"
#include "websocket/ws_registry.h"
#include "wsgi/wsgi_context.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pympm {

class ChildRuntime {
public:
    ChildRuntime(ChildSettings settings, MpmModel mpm, LogSink& log);
    ~ChildRuntime();
    ChildRuntime(const ChildRuntime&) = delete;
    ChildRuntime& operator=(const ChildRuntime&) = delete;

    // Before start(): the server's status board (null: none) and how to make
    // this child leave.
    void set_status_board(StatusBoard* board) { board_ = board; }
    void set_control(ChildControl* control) { control_ = control; }

    // child_init: starts Python, imports the apps, logs "child ready".
    void start(int generation);

    // Serves one request with the app at `app_index` (into settings().mounts).
    // Returns 0 when a response was sent, else the status for httpd to send.
    int handle(int app_index, RequestIO& io) noexcept;

    // child_stopping: pympm.stopping is set and on_stop callbacks run.
    void notify_stopping() noexcept;
    // Pool cleanup at child exit: the rest of the stop sequence.
    void shutdown() noexcept;

    // For SetHandler pympm-health, from any thread, without the GIL.
    ChildHealth health() const;

    const ChildSettings& settings() const { return settings_; }
    const EffectiveModel& model() const { return model_; }
    bool python_ready() const { return python_ready_; }
    // Safe to destroy: Python never started, or was finalised.
    bool disposable() const { return !python_started_ || finalized_; }

private:
    // Runs the app for one request, GIL held: the handler status, whether
    // the app raised, and the status it answered.
    struct Served {
        int status;
        bool raised;
        int app_status;
    };
    Served serve(App& app, RequestIO& io);
    void log(LogLevel level, const std::string& message) { log_.log(level, message); }
    void warn_about_app_threads();
    void join_board(int generation);
    static void response_ready(void* owner, RequestIO& io);
    void leave_board();
    // A stop reached this thread in the middle of its request (prefork's
    // signal handler): logs PM00033 and exits through control_ at once.
    // Returns only without a control_.
    void exit_mid_request() noexcept;
    // After an outermost request, GIL held.
    void account(RequestIO& io, std::chrono::steady_clock::time_point now, std::chrono::nanoseconds app_time,
                 int status, bool raised);

    ChildSettings settings_;
    MpmModel mpm_;
    EffectiveModel model_;
    LogSink& log_;
    std::unique_ptr<SlotGate> gate_;
    std::vector<App> apps_;
    RequestContext ctx_;
    WsgiContext wsgi_;
    AsgiContext asgi_;
    AppLoader loader_{ctx_.py, asgi_, log_};
    WsNames ws_names_;
    WsRegistry websockets_; // open WebSockets: closed with 1001 at a stop
    bool python_started_ = false;
    bool python_ready_ = false;
    bool finalized_ = false;
    bool shut_down_ = false;
    std::atomic<bool> stopping_notified_{false};
    std::thread stopper_; // signals pympm.stopping while requests finish
    int generation_ = 0;
    StatusBoard* board_ = nullptr;
    ChildControl* control_ = nullptr;
    ChildMetrics metrics_;
    ChildRequests requests_; // the current requests on the status board
    ChildRecycling recycling_{settings_, log_, metrics_};
    RequestTimeouts timeouts_{settings_, ctx_.py, log_, metrics_, recycling_};
    std::atomic<std::int64_t> threads_counted_ns_{0};
    std::atomic<bool> thread_warning_done_{false};
};

} // namespace pympm
