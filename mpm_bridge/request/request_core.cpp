#include "request/request_core.h"

#include "python/gil.h"
#include "python/py_err_scope.h"

namespace pympm {

RequestCore::RequestCore(RequestContext& c, RequestIO& i, const std::string& name)
    : ctx(c), io(i), app_name(name), body(*this), response(*this) {}

RequestCore::IoLock::IoLock(RequestCore& core, Entry entry) : core_(core) {
    if (core_.io_owner_.load() == std::this_thread::get_id()) {
        if (entry == Entry::internal) {
            locked_ = true; // held further up this thread's stack
            return;
        }
        PyErr_SetString(PyExc_RuntimeError,
                        "this request is already reading or writing on this thread (a nested request's app used "
                        "the outer request's wsgi.input or write())");
        return;
    }
    // Held by a thread that waits on httpd without the GIL and needs it back
    // to finish: never waited for holding the GIL.
    lock_without_gil(core_.io_mutex_);
    core_.io_owner_ = std::this_thread::get_id();
    locked_ = owns_ = true;
}

RequestCore::IoLock::~IoLock() {
    if (!owns_) return;
    core_.io_owner_ = std::thread::id();
    core_.io_mutex_.unlock();
}

void RequestCore::log(LogLevel level, const std::string& message) {
    IoLock lock(*this, IoLock::Entry::internal);
    io.log(level, message);
}

void RequestCore::log_lines(LogLevel level, const std::string& head, const std::string& text) {
    log(level, head);
    for_each_line(
        text, [&](std::string_view line) { log(level, std::string(PYMPM_APLOGNO(00021)) + "  " + std::string(line)); });
}

int RequestCore::fail(const char* what) {
    PYMPM_ASSERT_GIL();
    app_raised_ = true;
    log_app_exception(what, take_python_error(ctx.py));
    return 500;
}

void RequestCore::log_app_exception(const std::string& what, const std::string& traceback) {
    log_lines(LogLevel::error,
              std::string(PYMPM_APLOGNO(00020)) + "app " + app_name + " " + what + " for " +
                  (io.method().empty() ? std::string() : std::string(io.method()) + " ") + std::string(io.uri()) + ":",
              traceback);
}

int RequestCore::fail_message(const std::string& message) {
    log(LogLevel::error,
        std::string(PYMPM_APLOGNO(00022)) + "app " + app_name + ": " + message + " (" + std::string(io.uri()) + ")");
    return 500;
}

void RequestCore::log_client_gone(const char* doing, const char* why) {
    log(LogLevel::info, std::string(PYMPM_APLOGNO(00024)) + "client went away while " + app_name + " was " + doing +
                            " " + std::string(io.uri()) + ": " + why);
}

// The app raised ClientDisconnected/RequestBodyError that we raised in it
// because the client went away or httpd refused the body: not an app bug.
bool RequestCore::disconnect_error_pending() const {
    if (!input_failed()) return false;
    return PyErr_ExceptionMatches(ctx.py.client_disconnected.get()) ||
           PyErr_ExceptionMatches(ctx.py.request_body_error.get());
}

int RequestCore::error_response(const char* what) {
    PYMPM_ASSERT_GIL();
    if (PyErr_Occurred() && PyErr_ExceptionMatches(ctx.py.request_timeout.get())) {
        // PyRequestTimeout: the watchdog logged the request and its stack.
        PyErr_Clear();
        return timeout_response();
    }
    if (PyErr_Occurred()) {
        if (disconnect_error_pending()) {
            PyErrScope pending;
            log(LogLevel::info, std::string(PYMPM_APLOGNO(00050)) + "app " + app_name + " stopped serving " +
                                    std::string(io.uri()) + ": " + pending.type_name() + ": " + pending.message());
            pending.discard();
        } else {
            fail(what);
        }
    }
    return status_after_error();
}

int RequestCore::timeout_response() {
    app_raised_ = true;
    log(LogLevel::warning, std::string(PYMPM_APLOGNO(00061)) + "app " + app_name + " stopped serving " +
                               std::string(io.uri()) + " on pympm.RequestTimeout" +
                               (io.head_sent() ? "; the response is cut short" : "; 504 to the client"));
    if (io.head_sent()) {
        response.abort();
        return 0;
    }
    return 504;
}

int RequestCore::error_response(const AppFailure& f) {
    switch (f.kind) {
    case AppFailure::Kind::none:
    case AppFailure::Kind::unavailable: break;
    case AppFailure::Kind::timeout: return timeout_response();
    case AppFailure::Kind::disconnect_class:
        if (input_failed()) {
            log(LogLevel::info, std::string(PYMPM_APLOGNO(00050)) + "app " + app_name + " stopped serving " +
                                    std::string(io.uri()) + ": " + f.type_name + ": " + f.message);
            break;
        }
        [[fallthrough]];
    case AppFailure::Kind::raised:
        app_raised_ = true;
        log_app_exception(f.what, f.traceback);
        break;
    }
    return status_after_error();
}

int RequestCore::status_after_error() {
    if (body.error_status()) return io.head_sent() ? 0 : body.error_status();
    if (io.head_sent()) {
        // Bytes are out: a second status line is impossible, so the client
        // must see the response cut short.
        response.abort();
        return 0;
    }
    // The client went away while sending the body: nobody reads an answer.
    if (body.input_gone()) return 400;
    return 500;
}

} // namespace pympm
