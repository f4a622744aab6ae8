// LogSink to httpd's error log for messages that belong to no request.
#pragma once

#include "pympm_module.h"

#include "base/log.h"

namespace pympm::httpd {

class ServerLogSink final : public LogSink {
public:
    explicit ServerLogSink(server_rec* s) : s_(s) {}
    void log(LogLevel level, std::string_view message) override {
        ap_log_error(APLOG_MARK, static_cast<int>(level), 0, s_, "%.*s", static_cast<int>(message.size()),
                     message.data());
    }

private:
    server_rec* s_;
};

} // namespace pympm::httpd
