// Logging seam between the interpreter core and httpd: the core formats
// messages, the module routes them to ap_log_error/ap_log_rerror.
#pragma once

#include <string_view>

// Every message mod_pympm logs starts with a stable id ("PM00010: ...") so
// that users and tests can grep for it. Ids are listed in docs/log-messages.md.
#define PYMPM_APLOGNO(n) "PM" #n ": "

namespace pympm {

// Same order and meaning as httpd's APLOG_EMERG..APLOG_DEBUG (0..7).
enum class LogLevel { emerg = 0, alert, crit, error, warning, notice, info, debug };

class LogSink {
public:
    virtual ~LogSink() = default;
    virtual void log(LogLevel level, std::string_view message) = 0;
    // From a signal handler, on top of whatever the interrupted thread was
    // doing (inside malloc, or localtime with the time zone's lock held):
    // the line goes out without allocating, locking or formatting a time.
    // A sink that cannot do that may drop it; the default is log(), for
    // sinks that are not httpd's (tests).
    virtual void log_from_signal_handler(LogLevel level, std::string_view message) noexcept {
        try {
            log(level, message);
        } catch (...) {}
    }
};

} // namespace pympm

#include <chrono>
#include <cstdio>
#include <string>

namespace pympm {

// A duration as log lines give it: "1.25 s".
inline std::string log_seconds(std::chrono::steady_clock::duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(d).count());
    return buf;
}

// Calls f(line) for each line of a multi-line text (a traceback), so each
// goes to the error log as its own entry.
template <class F>
void for_each_line(const std::string& text, F&& f) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        f(std::string_view(text).substr(start, nl - start));
        start = nl + 1;
    }
}

} // namespace pympm
