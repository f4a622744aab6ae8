// A request's log (ap_log_rerror: its virtual host's ErrorLog, with the
// client) as a LogSink, for ThreadRequestLog.
#pragma once

#include "base/log.h"
#include "request/request_io.h"

namespace pympm {

class RequestLogSink final : public LogSink {
public:
    explicit RequestLogSink(RequestIO& io) : io_(io) {}
    void log(LogLevel level, std::string_view message) override { io_.log(level, message); }

private:
    RequestIO& io_;
};

} // namespace pympm
