#include "runtime/child_runtime.h"

#include "python/interpreter.h"
#include "status/test_pause.h"
#include "admission/request_scope.h"
#include "python/thread_binding.h"
#include "asgi/asgi_request.h"
#include "websocket/websocket_session.h"
#include "wsgi/wsgi_request.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <tuple>
#include <mutex>
#include <pthread.h>
#include <signal.h>
#include <thread>
#include <unistd.h>

namespace pympm {

namespace {

// pympm.child_info() reads the gate's counters and the child's entry on
// the status board through these pointers; they are set while a runtime
// exists and own nothing.
const SlotGate* g_stats_gate = nullptr;

// The outermost request on this thread was counted for recycling when its
// response was ready (ChildRuntime::response_ready).
thread_local bool t_request_counted = false;
const ChildStats* g_stats_entry = nullptr;
const ChildRecycling* g_stats_recycling = nullptr;

// Python thread states of the interpreter (GIL held): one per thread that
// has run Python and not exited (httpd's request threads, app threads).
int count_thread_states() {
    int n = 0;
    for (PyThreadState* t = PyInterpreterState_ThreadHead(PyInterpreterState_Main()); t; t = PyThreadState_Next(t)) ++n;
    return n;
}

PyObject* gate_stats_dict() {
    SlotGateStats s;
    if (g_stats_gate) s = g_stats_gate->stats();
    PyRef d = PyRef::steal(Py_BuildValue(
        "{s:i,s:i,s:K,s:K,s:K,s:d,s:i}", "requests_waiting", s.waiting, "slots_busy", s.busy, "requests_admitted",
        static_cast<unsigned long long>(s.admitted), "requests_waited", static_cast<unsigned long long>(s.waited),
        "slots_lent", static_cast<unsigned long long>(s.lent), "total_wait_seconds",
        std::chrono::duration<double>(s.total_wait).count(), "thread_states", count_thread_states()));
    if (!d) return nullptr;
    if (g_stats_recycling) {
        PyRef v = PyRef::steal(Py_BuildValue(
            "{s:K,s:K,s:s}", "requests_served", static_cast<unsigned long long>(g_stats_recycling->served()),
            "request_limit", static_cast<unsigned long long>(g_stats_recycling->request_limit()), "leaving",
            leave_reason_name(g_stats_recycling->reason())));
        if (!v || PyDict_Update(d.get(), v.get()) != 0) return nullptr;
    }
    if (const ChildStats* e = g_stats_entry) {
        // The same figures the status page shows for this child.
        const ChildSnapshot c = read_own_entry(*e);
        PyRef v = PyRef::steal(Py_BuildValue(
            "{s:L,s:K,s:K,s:K,s:K,s:d,s:K,s:K,s:s}", "requests_in_app", static_cast<long long>(c.in_app), "app_4xx",
            static_cast<unsigned long long>(c.app_4xx), "app_5xx", static_cast<unsigned long long>(c.app_5xx),
            "exceptions", static_cast<unsigned long long>(c.exceptions), "timeouts",
            static_cast<unsigned long long>(c.timeouts), "slot_wait_seconds_max",
            static_cast<double>(c.slot_wait_max_ns) / 1e9, "rss_bytes", static_cast<unsigned long long>(c.rss_bytes),
            "python_threads", static_cast<unsigned long long>(c.python_threads), "predecessor_left",
            leave_reason_name(c.predecessor_reason)));
        if (!v || PyDict_Update(d.get(), v.get()) != 0) return nullptr;
    }
    return d.release();
}

std::string seconds(std::chrono::steady_clock::duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(d).count());
    return buf;
}

// Ends the process if a step of the stop sequence does not finish in time.
// An app thread can take the GIL for good (one long C call): then no Python
// runs any more and the child would hang on it, for ever on a graceful
// restart (httpd does not escalate those) and until SIGKILL on a stop.
class StopWatchdog {
public:
    StopWatchdog(std::chrono::milliseconds limit, LogSink& log, std::string what)
        : thread_([this, limit, &log, what = std::move(what)] {
              std::unique_lock lock(mutex_);
              if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
              log.log(LogLevel::warning,
                      std::string(PYMPM_APLOGNO(00070)) + what + " did not finish within " + seconds(limit) +
                          " (an app thread keeps the GIL, or an on_stop callback, "
                          "atexit handler or the interpreter's finalisation blocks); the child exits now");
              ::_exit(0);
          }) {}
    ~StopWatchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    StopWatchdog(const StopWatchdog&) = delete;
    StopWatchdog& operator=(const StopWatchdog&) = delete;

private:
    LeafMutex mutex_;
    LeafCondition cv_;
    bool done_ = false;
    std::thread thread_; // last: starts once the members above exist
};

// PyShutdownTimeout + this is what a stop step may take before the watchdog
// ends the child: within the spec's "timeout + 1 s", with room for logging
// stacks and atexit.
constexpr std::chrono::milliseconds kStopGrace{750};

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
    if (g_stats_gate == gate_.get()) g_stats_gate = nullptr;
    if (g_stats_recycling == &recycling_) g_stats_recycling = nullptr;
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
        // How long signalling the stop waits for an async on_stop callback.
        PyRef timeout = PyRef::steal(PyFloat_FromDouble(settings_.shutdown_timeout_s));
        if (!timeout || PyObject_SetAttrString(ctx_.py.module.get(), "_stop_timeout", timeout.get()) != 0)
            PyErr_Clear();
    }
    ctx_.release_gil = model_.enable_threads;
    ctx_.response_ready = &ChildRuntime::response_ready;
    ctx_.response_ready_owner = this;
    g_stats_gate = gate_.get();
    g_stats_recycling = &recycling_;
    set_gate_stats_provider(gate_stats_dict);

    std::string apps;
    for (auto& app : apps_) {
        import_app(app, true);
        if (!apps.empty()) apps += ",";
        apps += app.name;
    }

    publish_child_info(generation, ps);
    join_board(generation);
    recycling_.start(control_, board_,
                     static_cast<unsigned>(::getpid()) ^
                         static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));

    python_ready_ = true;
    log(LogLevel::notice, std::string(PYMPM_APLOGNO(00010)) + "child ready: " + describe_model(model_, mpm_) +
                              " python=" + ps.version + " home=" + ps.home + " apps=" + apps + " (" +
                              seconds(std::chrono::steady_clock::now() - t0) + ")");
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
    g_stats_entry = entry;
    entry->rss_bytes = resident_bytes();
    metrics_.attach(entry);
    websockets_.attach(&entry->websockets_open);
}

void ChildRuntime::response_ready(void* owner, RequestIO& io) {
    // The last response of a child that leaves closes its connection, so
    // the client does not send on one the child is about to close.
    auto* self = static_cast<ChildRuntime*>(owner);
    if (RequestScope::depth() != 1 || t_request_counted) return;
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
    g_stats_entry = nullptr;
    websockets_.attach(nullptr);
    board_->release(metrics_.stats(), recycling_.leaving() ? recycling_.reason() : LeaveReason::httpd);
    metrics_.attach(nullptr);
}

void ChildRuntime::account(RequestIO& io, std::chrono::steady_clock::time_point admitted, int status, bool raised) {
    PYMPM_ASSERT_GIL();
    const auto now = std::chrono::steady_clock::now();
    metrics_.app_ends(now - admitted, status, raised);
    // Python threads alive: counted at most once a second, with the GIL.
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (metrics_.stats() && now_ns - threads_counted_ns_.load(std::memory_order_relaxed) > 1000000000) {
        threads_counted_ns_.store(now_ns, std::memory_order_relaxed);
        metrics_.set_python_threads(static_cast<std::uint64_t>(count_thread_states()));
    }
    if (!t_request_counted && recycling_.count_request()) io.end_keepalive();
    t_request_counted = false;
    recycling_.leave_if_due();
}

void ChildRuntime::publish_child_info(int generation, const PythonStart& ps) {
    PyObject* info = ctx_.py.child_info.get();
    PyRef apps_list = PyRef::steal(PyList_New(0));
    for (auto& app : apps_) {
        PyRef s = PyRef::steal(PyUnicode_FromString(app.name.c_str()));
        if (s) PyList_Append(apps_list.get(), s.get());
    }
    PyRef values = PyRef::steal(
        Py_BuildValue("{s:i,s:s,s:i,s:i,s:i,s:O,s:O,s:i,s:s,s:s,s:O,s:O}", "pid", static_cast<int>(::getpid()), "mpm",
                      mpm_.name.c_str(), "threads_per_child", mpm_.threads_per_child, "max_daemons", mpm_.max_daemons,
                      "py_threads", model_.py_threads, "enable_threads", model_.enable_threads ? Py_True : Py_False,
                      "multithread", model_.multithread ? Py_True : Py_False, "generation", generation, "python",
                      ps.version.c_str(), "home", ps.home.c_str(), "apps", apps_list ? apps_list.get() : Py_None,
                      "utf8_mode", settings_.utf8_mode ? Py_True : Py_False));
    if (!values || PyDict_Update(info, values.get()) != 0) PyErr_Clear();
}

bool ChildRuntime::import_app(App& app, bool at_startup) {
    PYMPM_ASSERT_GIL();
    const auto t0 = std::chrono::steady_clock::now();
    ++app.attempts;
    PyRef kind = PyRef::steal(PyUnicode_FromString(app.target.kind == AppTarget::Kind::script ? "script" : "module"));
    PyRef location = PyRef::steal(PyUnicode_DecodeFSDefault(app.target.location.c_str()));
    PyRef callable = PyRef::steal(PyUnicode_FromString(app.target.callable.c_str()));
    PyRef result;
    if (kind && location && callable)
        result = PyRef::steal(
            PyObject_CallFunctionObjArgs(ctx_.py.load_app.get(), kind.get(), location.get(), callable.get(), nullptr));
    if (!result) {
        std::string trace = take_python_error(ctx_.py);
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00012)) + "could not import app " + app.name +
                                 (at_startup ? " at child start" : " on request") +
                                 "; its requests get 500 and the import is retried on the next one:");
        for_each_line(trace, [&](std::string_view line) {
            log(LogLevel::error, std::string(PYMPM_APLOGNO(00012)) + "  " + std::string(line));
        });
        return false;
    }
    if (app.target.interface == AppTarget::Interface::asgi && !prepare_asgi_app(app, result.get())) return false;
    app.callable = result;
    app.usable->store(app.lifespan_failure.empty());
    log(LogLevel::info, std::string(PYMPM_APLOGNO(00011)) + "imported app " + app.name + " in " +
                            seconds(std::chrono::steady_clock::now() - t0));
    return true;
}

bool ChildRuntime::prepare_asgi_app(App& app, PyObject* callable) {
    PyRef prepare = PyRef::steal(PyObject_GetAttrString(ctx_.py.module.get(), "_asgi_prepare"));
    PyRef name = PyRef::steal(PyUnicode_FromString(app.name.c_str()));
    PyRef r = prepare && name ? PyRef::steal(PyObject_CallFunctionObjArgs(prepare.get(), callable, name.get(), nullptr))
                              : PyRef();
    PyObject *problem = nullptr, *relative = nullptr, *outcome = nullptr, *detail = nullptr, *state = nullptr;
    std::string error;
    if (!r || !PyArg_ParseTuple(r.get(), "OOOOO", &problem, &relative, &outcome, &detail, &state)) {
        error = take_python_error(ctx_.py);
    } else if (problem != Py_None) {
        const char* text = PyUnicode_Check(problem) ? PyUnicode_AsUTF8(problem) : nullptr;
        error = text ? text : "not an ASGI app";
    } else if (!asgi_.start(ctx_.py, error)) {
        // logged below
    }
    if (!error.empty()) {
        PyErr_Clear();
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00012)) + "could not use app " + app.name +
                                 " as ASGI; its requests get 500 and the import is retried on the next one: " + error);
        return false;
    }
    app.path_without_mount = PyObject_IsTrue(relative) == 1;
    const std::string how = PyUnicode_Check(outcome) ? PyUnicode_AsUTF8(outcome) : "";
    const std::string why = PyUnicode_Check(detail) ? PyUnicode_AsUTF8(detail) : "";
    PyErr_Clear();
    if (how == "complete") {
        app.lifespan_state = PyRef::borrow(state);
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00071)) + "lifespan startup of " + app.name + " complete");
    } else if (how == "failed") {
        app.lifespan_failure = why.empty() ? "lifespan.startup.failed" : why;
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00072)) + "lifespan startup of " + app.name +
                                 " failed: " + app.lifespan_failure + "; its requests get 500");
    } else {
        // Apps without lifespan support raise on its scope (the spec): fine.
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00073)) + "app " + app.name +
                                " does not take part in ASGI lifespan (" + why + ")");
    }
    if (app.path_without_mount)
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00076)) + "app " + app.name +
                                " uses Starlette before 0.35, which routes on a path without its mount: its scope's "
                                "path leaves the mount out (root_path has it)");
    return true;
}

PyObject* ChildRuntime::app_callable(App& app) {
    PYMPM_ASSERT_GIL();
    if (app.callable) return app.callable.get();
    // The import is retried on a request. Two at once would each see the
    // other's half-executed module in sys.modules.
    const unsigned seen = app.attempts;
    lock_without_gil(*app.import_mutex); // the importer needs the GIL
    std::lock_guard lock(*app.import_mutex, std::adopt_lock);
    if (!app.callable && app.attempts == seen) import_app(app, false);
    return app.callable.get();
}

void ChildRuntime::warn_about_app_threads() {
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
        const bool outer = RequestScope::depth() == 0;
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
        RequestScope scope(gate_.get(), !model_.enable_threads);
        const auto admitted = std::chrono::steady_clock::now();
        if (gated) metrics_.wait_ends(scope.waited(), admitted - arrived);
        if (!scope.outermost()) return serve(app, io).status;
        // From here, the request's end is accounted on every way out, a C++
        // exception included (then as the 500 answered below): else in_app
        // stays one too high, the recycling count misses the request and
        // the timeout watchdog keeps watching it. Runs before `scope` gives
        // the GIL back.
        metrics_.app_begins();
        Served served{500, false, 0};
        {
            struct RequestEnds {
                ChildRuntime& rt;
                RequestIO& io;
                std::chrono::steady_clock::time_point admitted;
                const Served& s;
                ~RequestEnds() {
                    rt.timeouts_.request_ends();
                    try {
                        rt.account(io, admitted, s.status ? s.status : s.app_status, s.raised);
                    } catch (...) {}
                }
            } ends{*this, io, admitted, served};
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
    PYMPM_ASSERT_GIL();
    PyObject* callable = app_callable(app);
    if (!callable) return {500, false, 0};
    if (app.target.interface == AppTarget::Interface::wsgi) {
        WsgiRequest req(ctx_, wsgi_, io, app.name);
        const int status = req.run(callable);
        return {status, req.app_raised(), req.response_status()};
    }
    if (!app.lifespan_failure.empty()) {
        io.log(LogLevel::error, std::string(PYMPM_APLOGNO(00072)) + "app " + app.name +
                                    " failed its lifespan startup (" + app.lifespan_failure + "); 500 for " +
                                    std::string(io.uri()));
        return {500, false, 0};
    }
    if (WebSocketIO* ws = io.websocket()) {
        WebSocketSession session(ctx_, asgi_, ws_names_, io, *ws, {settings_.websocket, settings_.shutdown_timeout_s},
                                 websockets_, &timeouts_, app.name);
        struct Watch {
            RequestTimeouts& t;
            TimeoutSource* outer;
            ~Watch() { t.watch_source(outer); }
        } watch{timeouts_, timeouts_.watch_source(&session)};
        const int status = session.run(callable, app.lifespan_state.get(), app.path_without_mount);
        return {status, session.app_raised(), session.response_status()};
    }
    AsgiRequest req(ctx_, asgi_, io, app.name);
    // A nested request (a subrequest from this thread's outer ASGI
    // response) gives the outer request its watch back.
    struct Watch {
        RequestTimeouts& t;
        TimeoutSource* outer;
        ~Watch() { t.watch_source(outer); }
    } watch{timeouts_, timeouts_.watch_source(&req)};
    const int status = req.run(callable, app.lifespan_state.get(), app.path_without_mount);
    return {status, req.app_raised(), req.response_status()};
}

void ChildRuntime::notify_stopping() noexcept {
    if (!python_ready_ || shut_down_) return;
    // Open WebSockets close with 1001 now (their threads wait on their
    // clients: a wake-up each).
    websockets_.close_all(1001);
    if (RequestScope::depth() > 0) return;
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
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &previous);
        stopper_ = std::thread([this] {
            GilAcquire gil;
            PyRef r = PyRef::steal(PyObject_CallNoArgs(ctx_.py.signal_stopping.get()));
            if (!r) {
                std::string trace = take_python_error(ctx_.py);
                log(LogLevel::error, std::string(PYMPM_APLOGNO(00030)) + "signalling pympm.stopping failed: " + trace);
            }
        });
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    } catch (...) {}
}

// Steps 1-4 of the stop sequence (pympm._shutdown). False, with the names of
// the threads still running, if Python must not be finalised. Every Python
// temporary dies inside this function, before any finalisation.
bool ChildRuntime::run_stop_sequence(std::string& stuck_names) {
    PYMPM_ASSERT_GIL();
    PyRef stuck = PyRef::steal(
        PyObject_CallFunction(ctx_.py.shutdown.get(), "d", static_cast<double>(settings_.shutdown_timeout_s)));
    if (!stuck) {
        std::string trace = take_python_error(ctx_.py);
        log(LogLevel::error, std::string(PYMPM_APLOGNO(00034)) + "the stop sequence failed: " + trace);
        return true;
    }
    if (!PyList_Check(stuck.get()) || PyList_GET_SIZE(stuck.get()) == 0) return true;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stuck.get()); ++i) {
        const char* s = PyUnicode_AsUTF8(PyList_GET_ITEM(stuck.get(), i));
        if (!stuck_names.empty()) stuck_names += ", ";
        stuck_names += s ? s : "?";
    }
    PyErr_Clear();
    return false;
}

void ChildRuntime::shutdown() noexcept {
    if (!python_ready_ || shut_down_) return;
    leave_board();
    if (RequestScope::depth() > 0) {
        // httpd killed the child from a signal handler in the middle of a
        // request on this very thread: Python is in an unknown state.
        if (stopper_.joinable()) stopper_.detach();
        log(LogLevel::info,
            std::string(PYMPM_APLOGNO(00033)) + "child stopped during a request; Python is not finalised");
        return;
    }
    shut_down_ = true;
    try {
        const auto t0 = std::chrono::steady_clock::now();
        StopWatchdog watchdog(std::chrono::seconds(settings_.shutdown_timeout_s) + kStopGrace, log_,
                              "the stop sequence");
        // Every request is over: the watchdog covers what signalling still
        // takes, then the rest.
        timeouts_.stop();
        if (stopper_.joinable()) stopper_.join();
        thread_binding::acquire();
        std::string stuck;
        if (!run_stop_sequence(stuck)) {
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
        g_stats_gate = nullptr;
        const int rc = Py_FinalizeEx();
        thread_binding::interpreter_finalized();
        finalized_ = true;
        log(LogLevel::info, std::string(PYMPM_APLOGNO(00032)) + "Python finalised" +
                                (rc != 0 ? " (flushing buffered data failed)" : "") + " in " +
                                seconds(std::chrono::steady_clock::now() - t0));
    } catch (...) {}
}

} // namespace pympm
