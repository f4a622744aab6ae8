#include "httpd_websocket_io.h"

#include "httpd_child_control.h"

#include <ap_mpm.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <unistd.h>

namespace pympm::httpd {

namespace {

bool has_token(const char* value, const char* token) { return value && ap_find_token(nullptr, value, token); }

// Under prefork a busy child hears of a graceful restart only through its
// MPM state: the wait looks at it this often.
constexpr std::chrono::milliseconds kStopPoll{1000};

} // namespace

bool HttpdWebSocketIO::wanted(const request_rec* r) {
    return r->main == nullptr && r->prev == nullptr && has_token(apr_table_get(r->headers_in, "Upgrade"), "websocket");
}

HttpdWebSocketIO::HttpdWebSocketIO(request_rec* r) : r_(r), c_(r->connection) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        const int err = errno;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, err, r,
                      PYMPM_APLOGNO(00307) "WebSocket %s: no eventfd for its thread; 500", r->uri);
        throw std::runtime_error(std::string("eventfd: ") + std::strerror(err));
    }
    in_ = apr_brigade_create(r->pool, c_->bucket_alloc);
    out_ = apr_brigade_create(r->pool, c_->bucket_alloc);
}

HttpdWebSocketIO::~HttpdWebSocketIO() {
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void HttpdWebSocketIO::refuse_version() { apr_table_setn(r_->err_headers_out, "Sec-WebSocket-Version", "13"); }

void HttpdWebSocketIO::accept(const HeaderList& headers) {
    r_->status = HTTP_SWITCHING_PROTOCOLS;
    r_->status_line = ap_get_status_line(HTTP_SWITCHING_PROTOCOLS);
    apr_table_clear(r_->headers_out);
    apr_table_setn(r_->headers_out, "Upgrade", "websocket");
    apr_table_setn(r_->headers_out, "Connection", "Upgrade");
    for (const auto& [name, value] : headers)
        apr_table_addn(r_->headers_out, apr_pstrmemdup(r_->pool, name.data(), name.size()),
                       apr_pstrmemdup(r_->pool, value.data(), value.size()));
    ap_send_interim_response(r_, 1);
    // From here the connection is the WebSocket's (what
    // ap_proxy_tunnel_create() does): no request timeouts, the connection's
    // own filters, and no keep-alive, so that httpd reads no request body
    // and closes after the handler.
    ap_remove_input_filter_byhandle(c_->input_filters, "reqtimeout");
    r_->output_filters = r_->proto_output_filters = c_->output_filters;
    r_->input_filters = r_->proto_input_filters = c_->input_filters;
    c_->keepalive = AP_CONN_CLOSE;
    forget_upgraded_connection(c_);
    if (c_->aborted) throw ClientGone("the client went away during the handshake");
}

std::size_t HttpdWebSocketIO::read_some(char* buf, std::size_t len) {
    if (eof_) throw ClientGone("the client closed the connection");
    // One more read after an EOS that did not end an HTTP/2 stream: it
    // says whether the stream ended (APR_EOF) or waits for frames (EAGAIN).
    for (int reads = 0; reads < 2; ++reads) {
        apr_brigade_cleanup(in_);
        const apr_status_t rv =
            ap_get_brigade(c_->input_filters, in_, AP_MODE_READBYTES, APR_NONBLOCK_READ, static_cast<apr_off_t>(len));
        if (APR_STATUS_IS_EAGAIN(rv)) return 0;
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(in_);
            throw ClientGone("reading from the client failed");
        }
        std::size_t got = 0;
        bool eos = false;
        for (apr_bucket* b = APR_BRIGADE_FIRST(in_); b != APR_BRIGADE_SENTINEL(in_); b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                // mod_http2 ends the body of the GET it made of an RFC 8441
                // CONNECT with an EOS, while the stream stays open for the
                // frames: on HTTP/2 only APR_EOF or an abort ends it.
                eos = true;
                if (http2()) continue;
                eof_ = true;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) continue;
            const char* data = nullptr;
            apr_size_t n = 0;
            if (apr_bucket_read(b, &data, &n, APR_BLOCK_READ) != APR_SUCCESS) {
                apr_brigade_cleanup(in_);
                throw ClientGone("reading from the client failed");
            }
            n = std::min<apr_size_t>(n, len - got);
            std::memcpy(buf + got, data, n);
            got += n;
        }
        apr_brigade_cleanup(in_);
        if (got == 0 && eof_) throw ClientGone("the client closed the connection");
        if (got > 0 || !eos) return got;
    }
    return 0;
}

void HttpdWebSocketIO::write(std::initializer_list<std::string_view> parts) {
    for (std::string_view p : parts)
        if (!p.empty())
            APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_transient_create(p.data(), p.size(), c_->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_flush_create(c_->bucket_alloc));
    const apr_status_t rv = ap_pass_brigade(c_->output_filters, out_);
    apr_brigade_cleanup(out_);
    if (rv != APR_SUCCESS || c_->aborted) throw ClientGone("writing to the client failed");
}

WebSocketIO::Ready HttpdWebSocketIO::wait(std::chrono::milliseconds timeout, bool input) {
    pollfd fds[2] = {};
    nfds_t n = 0;
    fds[n].fd = wake_fd_;
    fds[n++].events = POLLIN;
    if (input) {
        apr_pollfd_t pfd = {};
        pfd.p = r_->pool;
        // The socket, or on HTTP/2 the stream's input pipe.
        if (ap_get_pollfd_from_conn(c_, &pfd, nullptr) == APR_SUCCESS) {
            if (pfd.desc_type == APR_POLL_SOCKET) {
                apr_os_sock_t fd = -1;
                if (apr_os_sock_get(&fd, pfd.desc.s) == APR_SUCCESS) fds[n].fd = fd;
            } else if (pfd.desc_type == APR_POLL_FILE) {
                apr_os_file_t fd = -1;
                if (apr_os_file_get(&fd, pfd.desc.f) == APR_SUCCESS) fds[n].fd = fd;
            } else {
                return Ready::input; // APR_NO_DESC: the input is closed; read_some() says so
            }
            if (fds[n].fd >= 0) fds[n++].events = POLLIN;
        }
    }
    if (timeout > kStopPoll) timeout = kStopPoll;
    const int rc = ::poll(fds, n, static_cast<int>(timeout.count()));
    if (rc <= 0) return Ready::timeout;
    if (fds[0].revents) {
        std::uint64_t v = 0;
        (void)!::read(wake_fd_, &v, sizeof v);
        return Ready::woken;
    }
    return Ready::input;
}

void HttpdWebSocketIO::wake() noexcept {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

bool HttpdWebSocketIO::child_stopping() const {
    int state = 0;
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS && state == AP_MPMQ_STOPPING;
}

} // namespace pympm::httpd
