#include "runtime/child_runtime.h"

#include "admission/request_admission.h"
#include "base/request_log.h"
#include "request/request_log_sink.h"
#include "runtime/request_listing.h"
#include "asgi/asgi_request.h"
#include "python/interpreter.h"
#include "python/thread_binding.h"
#include "runtime/child_info.h"
#include "runtime/stop_sequence.h"
#include "status/test_pause.h"
#include "websocket/websocket_session.h"
#include "wsgi/wsgi_request.h"

#include <chrono>
#include <unistd.h>

namespace pympm {

namespace {

// The status page lists the request as an open WebSocket from here.
void websocket_opened() {
    if (RequestSlot* slot = request_activity::current()) slot_set_state(*slot, RequestState::websocket_open);
}

// The outermost request on this thread was counted for recycling when its
// response was ready (ChildRuntime::response_ready).
thread_local bool t_request_counted = false;

} // namespace

ChildRuntime::ChildRuntime(ChildSettings settings, MpmModel mpm, LogSink& log)
    : settings_(std::move(settings)), mpm_(std::move(mpm)), model_(compute_effective_model(settings_, mpm_)),
      log_(log) {
    if (model_.gate_needed) gate_ = std::make_unique<SlotGate>(model_.py_threads);
    for (const auto& m : settings_.mounts) {
        App& app = apps_.emplace_back();
        app.target = m.target;
        app.name = m.url_prefix + "=" + m.target.describe();
    }
}

ChildRuntime::~ChildRuntime() {
    forget_child_info_sources(gate_.get(), &recycling_, &asgi_.inbox);
    if (stopper_.joinable()) stopper_.detach();
}

ChildHealth ChildRuntime::health() const {
    ChildHealth h;
    h.pid = static_cast<long>(::getpid());
    h.generation = generation_;
    if (stopping_notified_.load() || recycling_.leaving()) {
        h.state = ChildHealth::State::stopping;
    } else if (!python_ready_) {
        h.state = ChildHealth::State::python_unavailable;
    } else {
        for (const App& app : apps_)
            if (!app.usable->load()) {
                std::string url = app.name.substr(0, app.name.find('='));
                h.failed.push_back(url.empty() ? "/" : url);
            }
        if (!h.failed.empty()) h.state = ChildHealth::State::import_failed;
    }
    return h;
}

void ChildRuntime::start(int generation) {
    generation_ = generation;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& w : model_.warnings) log(LogLevel::warning, std::string(PYMPM_APLOGNO(00013)) + w);

    PythonStart ps = start_python(settings_, log_);
    if (!ps.ok) {
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00001)) + "Python could not start in child " +
                                 std::to_string(::getpid()) + ": " + ps.error +
                                 "; its requests get 500 (check PyHome)");
        return;
    }
    python_started_ = true;
    std::string error;
    if (!load_pympm_module(ctx_.py, error) || !wsgi_.init(ctx_.py, model_.multithread, model_.multiprocess, error)) {
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00003)) + error);
        thread_binding::release();
        return;
    }
    {
        // Before the apps are imported: an ASGI app's import starts the loop.
        PyRef choice = PyRef::steal(PyUnicode_FromString(asyncio_loop_name(settings_.asyncio_loop)));
        if (!choice || PyObject_SetAttrString(ctx_.py.module.get(), "_asgi_loop_choice", choice.get()) != 0)
            PyErr_Clear();
        if (PyObject_SetAttrString(ctx_.py.module.get(), "_asgi_eager_start",
                                   settings_.asgi_eager_start ? Py_True : Py_False) != 0)
            PyErr_Clear();
        // How long signalling the stop waits for an async on_stop callback.
        PyRef timeout = PyRef::steal(PyFloat_FromDouble(settings_.shutdown_timeout_s));
        if (!timeout || PyObject_SetAttrString(ctx_.py.module.get(), "_stop_timeout", timeout.get()) != 0)
            PyErr_Clear();
    }
    ctx_.release_gil = model_.enable_threads;
    ctx_.response_ready = &ChildRuntime::response_ready;
    ctx_.response_ready_owner = this;
    child_info_sources(gate_.get(), &recycling_, &asgi_.inbox);

    std::string apps;
    std::vector<std::string> names;
    for (auto& app : apps_) {
        loader_.import(app, true);
        if (!apps.empty()) apps += ",";
        apps += app.name;
        names.push_back(app.name);
    }

    publish_child_info(ctx_.py, {mpm_, model_, generation, ps, names, settings_.utf8_mode});
    join_board(generation);
    recycling_.start(control_, board_,
                     static_cast<unsigned>(::getpid()) ^
                         static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
    metrics_.set_limits(settings_.request_timeout_s, recycling_.request_limit(),
                        static_cast<std::uint64_t>(settings_.max_memory_mib) * 1024 * 1024);

    python_ready_ = true;
    log(LogLevel::notice, std::string(PYMPM_APLOGNO(00010)) + "child ready: " + describe_model(model_, mpm_) +
                              " python=" + ps.version + " home=" + ps.home + " apps=" + apps + " (" +
                              log_seconds(std::chrono::steady_clock::now() - t0) + ")");
    if (!model_.enable_threads) warn_about_app_threads();

    // PyEnableThreads Off under prefork: this thread serves the requests and
    // keeps the GIL for the life of the child. Otherwise requests come on
    // other threads (or the GIL is released between them).
    if (!model_.enable_threads && !mpm_.threaded)
        thread_binding::keep();
    else
        thread_binding::release();
    timeouts_.start(control_, board_, gate_.get());
}

void ChildRuntime::join_board(int generation) {
    if (!board_) return;
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    ChildModel model;
    model.mpm = mpm_.name;
    model.threads_per_child = mpm_.threads_per_child;
    model.py_threads = model_.py_threads;
    model.enable_threads = model_.enable_threads;
    model.http2 = mpm_.http2;
    ChildStats* entry = board_->claim(OwnerId::self(), generation, now_ms, model);
    if (!entry) {
        log(LogLevel::warning, std::string(PYMPM_APLOGNO(00065)) + "the status board is full; child " +
                                   std::to_string(::getpid()) + " is not shown on pympm-status");
        return;
    }
    test_pause::at("claim:live");
    child_info_entry(entry);
    entry->rss_bytes = resident_bytes();
    metrics_.attach(entry);
    std::vector<std::string> names;
    for (const App& app : apps_) names.push_back(app.name);
    requests_.attach(board_, entry, names);
    websockets_.attach(&entry->websockets_open);
}

void ChildRuntime::response_ready(void* owner, RequestIO& io) {
    // The last response of a child that leaves closes its connection, so
    // the client does not send on one the child is about to close.
    auto* self = static_cast<ChildRuntime*>(owner);
    if (RequestAdmission::depth() != 1 || t_request_counted) return;
    t_request_counted = true;
    if (!self->recycling_.count_request()) return;
    io.end_keepalive();
    // Leaves now, before this response ends: over HTTP/2 the GOAWAY then
    // reaches the client ahead of this stream's end, so a client sending
    // one request at a time opens its next stream on a new connection.
    self->recycling_.leave_if_due();
}

void ChildRuntime::leave_board() {
    if (!board_ || !metrics_.stats()) return;
    requests_.detach();
    child_info_entry(nullptr);
    websockets_.attach(nullptr);
    board_->release(metrics_.stats(), recycling_.leaving() ? recycling_.reason() : LeaveReason::httpd);
    metrics_.attach(nullptr);
}

void ChildRuntime::account(RequestIO& io, std::chrono::steady_clock::time_point now, std::chrono::nanoseconds app_time,
                           int status, bool raised) {
    metrics_.app_ends(app_time, status, raised);
    // Python threads alive: counted at most once a second, with the GIL (an
    // ASGI request thread has none: the loop counts).
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (metrics_.stats() && now_ns - threads_counted_ns_.load(std::memory_order_relaxed) > 1000000000) {
        threads_counted_ns_.store(now_ns, std::memory_order_relaxed);
        if (thread_binding::holds_gil())
            metrics_.set_python_threads(static_cast<std::uint64_t>(count_thread_states()));
        else
            asgi_.inbox.push(
                loop_work([this] { metrics_.set_python_threads(static_cast<std::uint64_t>(count_thread_states())); }));
    }
    if (!t_request_counted && recycling_.count_request()) io.end_keepalive();
    t_request_counted = false;
    recycling_.leave_if_due();
}

void ChildRuntime::warn_about_app_threads() {
    PYMPM_ASSERT_GIL();
    if (thread_warning_done_.load(std::memory_order_relaxed)) return;
    PyRef fn = PyRef::steal(PyObject_GetAttrString(ctx_.py.module.get(), "_app_threads"));
    // Daemon threads too: they are the ones frozen between requests.
    PyRef threads = fn ? PyRef::steal(PyObject_CallFunctionObjArgs(fn.get(), Py_True, nullptr)) : PyRef();
    if (!threads || !PyList_Check(threads.get())) {
        PyErr_Clear();
        return;
    }
    if (PyList_GET_SIZE(threads.get()) == 0) return;
    std::string names;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(threads.get()); ++i) {
        PyRef name = PyRef::steal(PyObject_GetAttrString(PyList_GET_ITEM(threads.get(), i), "name"));
        const char* s = name && PyUnicode_Check(name.get()) ? PyUnicode_AsUTF8(name.get()) : nullptr;
        if (!names.empty()) names += ", ";
        names += s ? s : "?";
    }
    PyErr_Clear();
    thread_warning_done_ = true;
    log(LogLevel::warning, std::string(PYMPM_APLOGNO(00014)) + "PyEnableThreads Off: the app started threads (" +
                               names +
                               ") that run only while this child handles a request; between requests "
                               "they are frozen. Use PyEnableThreads On for background threads.");
}

int ChildRuntime::handle(int app_index, RequestIO& io) noexcept {
    try {
        if (!python_ready_ || shut_down_) {
            io.log(LogLevel::error, std::string(PYMPM_APLOGNO(00002)) +
                                        "Python is not available in this child (see its startup error); 500 for " +
                                        std::string(io.uri()));
            return 500;
        }
        if (app_index < 0 || static_cast<std::size_t>(app_index) >= apps_.size()) return 500;
        App& app = apps_[static_cast<std::size_t>(app_index)];
        if (!model_.enable_threads && thread_binding::gil_kept_elsewhere()) {
            // The configuration check refuses what brings requests to other
            // threads (HTTP/2); waiting for the GIL here would be for ever.
            io.log(LogLevel::error, std::string(PYMPM_APLOGNO(00015)) +
                                        "PyEnableThreads Off keeps the GIL on another thread of this child, so "
                                        "this request thread cannot run Python; 500 for " +
                                        std::string(io.uri()) + " (use PyEnableThreads On)");
            return 500;
        }
        // Waits for a PyThreads slot (holding no GIL), then takes the GIL;
        // a nested request runs with its outer request's.
        const bool outer = RequestAdmission::depth() == 0;
        const bool gated = gate_ && outer;
        const auto arrived = gated ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        if (gated) metrics_.wait_begins();
        struct InFlight {
            RequestTimeouts* t;
            ~InFlight() {
                if (t) t->request_leaves();
            }
        } in_flight{outer ? &timeouts_ : nullptr};
        if (outer) timeouts_.request_arrives();
        RequestListing listing(outer ? &requests_ : nullptr, app_index, io, gated);
        // An ASGI app runs on the event loop: its request thread takes a
        // slot, never the GIL (AsgiRequest).
        const bool asgi = app.target.interface != AppTarget::Interface::wsgi && model_.enable_threads;
        RequestAdmission admission(gate_.get(), !model_.enable_threads, !asgi);
        const auto admitted = std::chrono::steady_clock::now();
        if (gated) metrics_.wait_ends(admission.waited(), admitted - arrived);
        listing.admitted();
        if (!admission.outermost()) return serve(app, io).status;
        // From here, the request's end is accounted on every way out, a C++
        // exception included (then as the 500 answered below): else in_app
        // stays one too high, the recycling count misses the request and
        // the timeout watchdog keeps watching it. Runs before `admission` gives
        // the GIL back.
        metrics_.app_begins();
        Served served{500, false, 0};
        {
            struct RequestEnds {
                ChildRuntime& rt;
                RequestIO& io;
                std::chrono::steady_clock::time_point admitted;
                const Served& s;
                RequestListing& listing;
                ~RequestEnds() {
                    ChildRequests::Outcome o;
                    o.timed_out = rt.timeouts_.request_ends();
                    o.status = s.status ? s.status : s.app_status;
                    o.raised = s.raised;
                    const auto now = std::chrono::steady_clock::now();
                    o.app_time = now - admitted;
                    listing.outcome(o);
                    try {
                        rt.account(io, now, o.app_time, o.status, o.raised);
                    } catch (...) {}
                }
            } ends{*this, io, admitted, served, listing};
            timeouts_.request_begins(io, app.name, admitted);
            served = serve(app, io);
        }
        if (!model_.enable_threads) warn_about_app_threads();
        return served.status;
    } catch (const std::exception& e) {
        io.log(LogLevel::error,
               std::string(PYMPM_APLOGNO(00004)) + "internal error serving " + std::string(io.uri()) + ": " + e.what());
    } catch (...) {
        io.log(LogLevel::error, std::string(PYMPM_APLOGNO(00004)) + "internal error serving " + std::string(io.uri()));
    }
    return 500;
}

ChildRuntime::Served ChildRuntime::serve(App& app, RequestIO& io) {
    if (app.target.interface == AppTarget::Interface::wsgi) {
        PYMPM_ASSERT_GIL();
        PyObject* callable = loader_.callable(app);
        if (!callable) return {500, false, 0};
        RequestLogSink request_log(io);
        ThreadRequestLog output_to(request_log); // the app's print()s go with its traceback
        WsgiRequest req(ctx_, wsgi_, io, app.name);
        const int status = req.run(callable);
        return {status, req.app_raised(), req.response_status()};
    }
    // Imported and its lifespan did not fail (published after the
    // callable): nothing here needs the GIL. Else the import is retried, or
    // the failure reported, with it.
    if (!app.usable->load(std::memory_order_acquire)) {
        thread_binding::Held gil;
        if (!loader_.callable(app)) return {500, false, 0};
        if (!app.lifespan_failure.empty()) {
            io.log(LogLevel::error, std::string(PYMPM_APLOGNO(00072)) + "app " + app.name +
                                        " failed its lifespan startup (" + app.lifespan_failure + "); 500 for " +
                                        std::string(io.uri()));
            return {500, false, 0};
        }
    }
    const AsgiMount mount{app.callable.get(), app.lifespan_state.get(), app.path_without_mount};
    if (WebSocketIO* ws = io.websocket()) {
        WebSocketSession session(ctx_, asgi_, ws_names_, io, *ws,
                                 {settings_.websocket, settings_.shutdown_timeout_s, &websocket_opened}, websockets_,
                                 &timeouts_, app.name);
        struct Watch {
            RequestTimeouts& t;
            std::shared_ptr<TimeoutSource> outer;
            ~Watch() { t.watch_source(std::move(outer)); }
        } watch{timeouts_, timeouts_.watch_source(session.exchange())};
        const int status = session.run(mount);
        return {status, session.app_raised(), session.response_status()};
    }
    AsgiRequest req(ctx_, asgi_, io, app.name);
    // A nested request (a subrequest from this thread's outer ASGI
    // response) gives the outer request its watch back.
    struct Watch {
        RequestTimeouts& t;
        std::shared_ptr<TimeoutSource> outer;
        ~Watch() { t.watch_source(std::move(outer)); }
    } watch{timeouts_, timeouts_.watch_source(req.exchange())};
    const int status = req.run(mount);
    return {status, req.app_raised(), req.response_status()};
}

void ChildRuntime::notify_stopping() noexcept {
    metrics_.draining();
    if (!python_ready_ || shut_down_) return;
    // Only prefork tells a child to stop on the thread of a running request
    // (from its SIGTERM handler, which ends the child right after).
    const bool mid_request = RequestAdmission::depth() > 0;
    if (mid_request && !mpm_.threaded) exit_mid_request();
    // Open WebSockets close with 1001 now (their threads wait on their
    // clients: a wake-up each).
    websockets_.close_all(1001);
    if (mid_request) return;
    // Prefork calls this just before the child exits, where shutdown()
    // signals anyway. Under PyEnableThreads Off another thread may keep the
    // GIL until it exits; shutdown() signals then too.
    if (!mpm_.threaded || !model_.enable_threads) return;
    if (stopping_notified_.exchange(true)) return;
    try {
        // Requests may still be running (and holding the GIL, or taking
        // long in an on_stop callback): signalling must neither block httpd
        // nor let a watchdog end them. A thread of its own does it; the
        // stop sequence waits for it under its watchdog.
        stopper_ = start_stopper(ctx_.py, log_);
    } catch (...) {}
}

void ChildRuntime::shutdown() noexcept {
    if (!python_ready_ || shut_down_) return;
    if (RequestAdmission::depth() > 0) {
        exit_mid_request();
        if (stopper_.joinable()) stopper_.detach(); // no way to exit: Python is left as it is
        return;
    }
    leave_board();
    shut_down_ = true;
    try {
        const auto t0 = std::chrono::steady_clock::now();
        StopWatchdog watchdog(std::chrono::seconds(settings_.shutdown_timeout_s) + kStopGrace, log_,
                              "the stop sequence");
        // Every request is over: the watchdog covers what signalling still
        // takes, then the rest.
        timeouts_.stop();
        if (stopper_.joinable()) stopper_.join();
        // Nothing is queued for the loop now; anything pushed later gets 503.
        asgi_.close_inbox();
        thread_binding::acquire();
        std::string stuck;
        if (!run_stop_steps(ctx_.py, static_cast<double>(settings_.shutdown_timeout_s), log_, stuck)) {
            log(LogLevel::warning, std::string(PYMPM_APLOGNO(00031)) + "not finalising Python: thread(s) " + stuck +
                                       " still running after PyShutdownTimeout " +
                                       std::to_string(settings_.shutdown_timeout_s) + " s; the child exits now");
            return; // exit without finalising: Py_FinalizeEx would wait for them
        }
        for (auto& app : apps_) app.callable.reset();
        for (auto& app : apps_) app.lifespan_state.reset();
        wsgi_.clear();
        asgi_.clear();
        ws_names_.clear();
        ctx_.py = PympmModule{};
        forget_child_info_sources(gate_.get(), nullptr, &asgi_.inbox);
        const int rc = Py_FinalizeEx();
        thread_binding::interpreter_finalized();
        finalized_ = true;
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00032)) + "Python finalised" +
                                (rc != 0 ? " (flushing buffered data failed)" : "") + " in " +
                                log_seconds(std::chrono::steady_clock::now() - t0));
    } catch (...) {}
}

void ChildRuntime::exit_mid_request() noexcept {
    // prefork ends a child from its SIGTERM handler, which runs on this very
    // thread on top of the interrupted request: that request may be inside
    // malloc, or hold a lock of Python's, the allocator's or stdio's. Python
    // cannot run, and neither can the rest of httpd's exit (the child pool's
    // destruction, exit()'s atexit handlers and destructors, a sanitizer's
    // exit checks): any of them may take such a lock and hang the child
    // until httpd's SIGKILL. So only async-signal-safe steps: the board's
    // atomics, one line written with write(2) (no allocation, no time
    // stamp: localtime takes a lock), and _exit.
    leave_board();
    log_.log_from_signal_handler(LogLevel::info,
                                 PYMPM_APLOGNO(00033) "child stopped during a request: it exits at once, without "
                                                      "finalising Python or running the rest of the child's cleanup");
    if (control_) control_->exit_now();
}

} // namespace pympm
