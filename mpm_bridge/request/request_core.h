// What every request shares, whatever its interface (WSGI, ASGI): httpd's
// request (RequestIO) behind one lock, the body reader, the response writer,
// and how an app's error turns into a log line and a status.
//
// The lock: app threads may read a WSGI body or write() too. Everything
// that uses httpd's request, or the input buffer, without the GIL is
// serialised by it. It is taken with the GIL held and waited for without
// the GIL.
#pragma once

#include "request/app_failure.h"
#include "request/request_body.h"
#include "request/request_context.h"
#include "request/request_io.h"
#include "request/response_writer.h"

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace pympm {

class RequestCore {
public:
    RequestCore(RequestContext& ctx, RequestIO& io, const std::string& app_name);
    RequestCore(const RequestCore&) = delete;
    RequestCore& operator=(const RequestCore&) = delete;

    class IoLock {
    public:
        // app_call: a call from the app (WSGI's write() or a wsgi.input
        // method): refused, with a Python exception, when this thread holds
        // the lock already (a nested request's app used the outer request's
        // objects). internal: re-entrant for the holder.
        enum class Entry { app_call, internal };
        IoLock(RequestCore& core, Entry entry);
        ~IoLock();
        IoLock(const IoLock&) = delete;
        IoLock& operator=(const IoLock&) = delete;
        explicit operator bool() const { return locked_; }

    private:
        RequestCore& core_;
        bool locked_ = false;
        bool owns_ = false;
    };

    RequestContext& ctx;
    RequestIO& io;
    const std::string& app_name;
    RequestBody body;
    ResponseWriter response;

    void log(LogLevel level, const std::string& message);
    // A head line, then one entry per line of `body` (a traceback).
    void log_lines(LogLevel level, const std::string& head, const std::string& body);
    // Logs the pending Python exception as the app's failure (PM00020).
    int fail(const char* what);
    // PM00020 with the request's method and URI, and its traceback.
    void log_app_exception(const std::string& what, const std::string& traceback);
    // Logs a broken rule of the interface (PM00022).
    int fail_message(const std::string& message);
    void log_client_gone(const char* doing, const char* why);

    // After an app error (a pending Python exception, or one logged
    // already): logs it and returns the status httpd should answer with, or
    // 0 once bytes were sent (the response is then cut short).
    int error_response(const char* what);
    // The same for a failure classified without the GIL held here (ASGI:
    // on the event loop); runs no Python.
    int error_response(const AppFailure& failure);
    bool app_raised() const { return app_raised_; }

private:
    bool disconnect_error_pending() const;
    bool input_failed() const { return response.client_gone() || body.input_gone() || body.error_status(); }
    int timeout_response();
    int status_after_error();

    std::mutex io_mutex_;
    std::atomic<std::thread::id> io_owner_{};
    bool app_raised_ = false;
};

} // namespace pympm
