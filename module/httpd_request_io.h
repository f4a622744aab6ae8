// RequestIO over request_rec: the WSGI core's view of one httpd request.
#pragma once

#include "pympm_module.h"

#include "request/request_io.h"

#include <apr_buckets.h>

#include <atomic>
#include <memory>

namespace pympm::httpd {

struct MountEntry;
class HttpdWebSocketIO;

class HttpdRequestIO final : public RequestIO {
public:
    HttpdRequestIO(request_rec* r, const MountEntry& mount, std::size_t script_name_len);
    ~HttpdRequestIO() override;

    // CGI's PATH_TRANSLATED for the environ (null: none), found by the
    // handler before the request waits for its slot.
    void set_path_translated(const char* value) { path_translated_ = value; }

    void cgi_environ(CgiEnviron& out) override;
    bool is_https() const override;
    void request_line(RequestLine& out) override;
    bool peer_closed() override;
    std::optional<std::uint64_t> body_length() const override;
    bool is_head() const override { return r_->header_only != 0; }
    std::string_view uri() const override;
    std::string describe() const override;
    void end_keepalive() override;

    int refuse_body_early(std::string& why) override;
    std::size_t read_body(char* buf, std::size_t len) override;

    void set_head(const ResponseHead& head) override;
    void send_body(const char* data, std::size_t len, Send mode) override;
    void send_file(int fd, std::uint64_t offset, std::uint64_t len, bool last) override;
    void finish() override;
    void abort() override;
    bool head_sent() const override { return head_sent_; }

    WebSocketIO* websocket() override;

    void log(LogLevel level, std::string_view message) override;

private:
    void pass(const char* what);

    request_rec* r_;
    const MountEntry& mount_;
    std::size_t script_name_len_;
    const char* path_translated_ = nullptr;
    apr_bucket_brigade* out_ = nullptr;
    apr_bucket_brigade* in_ = nullptr;
    bool in_eos_ = false;
    // Read without the request's I/O lock by other threads of the app.
    std::atomic<bool> head_sent_{false};
    bool eos_sent_ = false;
    // httpd already answered (an input filter sent 413/400): the app's
    // response is discarded.
    bool error_sent_ = false;
    const char* uri_ = nullptr;
    // The body is not this request's to read: a subrequest's belongs to its
    // main request; an ErrorDocument's internal redirect follows a body
    // that failed or was refused (or was never wanted).
    bool body_not_ours_ = false;
    // An ErrorDocument's internal redirect: the error status to answer with
    // unless the app gives another than 200.
    int error_status_ = 0;
    // SERVER_PORT and REMOTE_PORT as text, for the environ.
    char server_port_[12] = {};
    char remote_port_[12] = {};
    std::unique_ptr<HttpdWebSocketIO> websocket_;
};

} // namespace pympm::httpd
