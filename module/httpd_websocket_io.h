// WebSocketIO over the connection of an upgraded request (the way
// mod_proxy_http forwards a backend's 101): the 101 goes out as an interim
// response, then the request's filters become the connection's, without
// mod_reqtimeout, and the connection closes after the WebSocket. Reads do not
// block; the thread waits in poll() on the client's descriptor (on HTTP/2 the
// stream's pipe) and an eventfd that wake() writes. On an HTTP/2 stream (RFC
// 8441: mod_http2 makes the extended CONNECT a GET with Upgrade, turns the
// 101 into the stream's 200, and ends that GET's body with an EOS while the
// stream stays open) only APR_EOF or an abort ends the input.
#pragma once

#include "pympm_module.h"

#include "request/websocket_io.h"

#include <apr_buckets.h>

namespace pympm::httpd {

class HttpdWebSocketIO final : public WebSocketIO {
public:
    // Throws std::runtime_error (after logging PM00307) when the eventfd
    // cannot be had.
    explicit HttpdWebSocketIO(request_rec* r);
    ~HttpdWebSocketIO() override;
    HttpdWebSocketIO(const HttpdWebSocketIO&) = delete;
    HttpdWebSocketIO& operator=(const HttpdWebSocketIO&) = delete;

    // An Upgrade: websocket request of its own (not a subrequest or an
    // internal redirect).
    static bool wanted(const request_rec* r);

    void accept(const HeaderList& headers) override;
    void refuse_version() override;
    Ready wait(std::chrono::milliseconds timeout, bool input) override;
    std::size_t read_some(char* buf, std::size_t len) override;
    void write(std::initializer_list<std::string_view> parts) override;
    void wake() noexcept override;
    bool child_stopping() const override;
    bool http2() const override { return c_->master != nullptr; }

private:
    request_rec* r_;
    conn_rec* c_;
    int wake_fd_ = -1;
    apr_bucket_brigade* in_ = nullptr;
    apr_bucket_brigade* out_ = nullptr;
    bool eof_ = false;
};

} // namespace pympm::httpd
