// Where the lines an app writes (sys.stdout, sys.stderr, wsgi.errors) go
// while a request's app code runs on this thread: that request's log (its
// virtual host's ErrorLog, with [client ...]), so its output sits next to
// its traceback. Elsewhere (app threads, import, shutdown): the child's log.
#pragma once

#include "base/log.h"

#include <utility>

namespace pympm {

class ThreadRequestLog {
public:
    explicit ThreadRequestLog(LogSink& sink) noexcept : previous_(std::exchange(current_, &sink)) {}
    ~ThreadRequestLog() { current_ = previous_; }
    ThreadRequestLog(const ThreadRequestLog&) = delete;
    ThreadRequestLog& operator=(const ThreadRequestLog&) = delete;

    // The current request's log on this thread, or null.
    static LogSink* current() noexcept { return current_; }

private:
    LogSink* previous_; // a nested request gives its outer one's back
    static inline thread_local LogSink* current_ = nullptr;
};

} // namespace pympm
