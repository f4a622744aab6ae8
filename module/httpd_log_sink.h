// LogSink to httpd's error log for messages that belong to no request.
#pragma once

#include "pympm_module.h"

#include "base/log.h"

#include <apr_portable.h>

#include <unistd.h>

#include <algorithm>
#include <cstddef>

namespace pympm::httpd {

class ServerLogSink final : public LogSink {
public:
    explicit ServerLogSink(server_rec* s) : s_(s) {
        // The error log's descriptor, for log_from_signal_handler: none for
        // ErrorLog syslog (s->error_log is null then).
        apr_os_file_t fd = -1;
        if (s->error_log && apr_os_file_get(&fd, s->error_log) == APR_SUCCESS) error_fd_ = fd;
    }
    void log(LogLevel level, std::string_view message) override {
        ap_log_error(APLOG_MARK, static_cast<int>(level), 0, s_, "%.*s", static_cast<int>(message.size()),
                     message.data());
    }
    // ap_log_error cannot run in a signal handler: its time stamp takes
    // glibc's time zone lock for each new second, and it runs other modules'
    // error_log hooks. The line is written to the error log with one
    // write(2), as "[pympm:LEVEL] [pid N] message", without a time stamp.
    void log_from_signal_handler(LogLevel level, std::string_view message) noexcept override {
        if (error_fd_ < 0 || !APLOG_IS_LEVEL(s_, static_cast<int>(level))) return;
        static constexpr const char* kNames[] = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};
        char line[1024];
        std::size_t n = 0;
        auto put = [&](std::string_view part) {
            const std::size_t k = std::min(part.size(), sizeof line - 1 - n);
            std::copy_n(part.data(), k, line + n);
            n += k;
        };
        put("[pympm:");
        put(kNames[static_cast<int>(level) & 7]);
        put("] [pid ");
        char digits[24];
        std::size_t d = sizeof digits;
        for (unsigned long pid = static_cast<unsigned long>(::getpid()); d == sizeof digits || pid; pid /= 10)
            digits[--d] = static_cast<char>('0' + pid % 10);
        put(std::string_view(digits + d, sizeof digits - d));
        put("] ");
        put(message);
        line[n++] = '\n';
        [[maybe_unused]] const ssize_t written = ::write(error_fd_, line, n);
    }

private:
    server_rec* s_;
    int error_fd_ = -1;
};

} // namespace pympm::httpd
