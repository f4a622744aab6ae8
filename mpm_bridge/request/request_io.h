// The request as the WSGI core sees it: an interface the module implements
// over request_rec. Blocking calls (read_body, send_body, send_file) are made
// without the GIL when PyEnableThreads is On.
#pragma once

#include "request/cgi_environ.h"
#include "base/log.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pympm {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The client went away (read or write failed). Maps to OSError in the app.
class ClientGone : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The request body exceeds LimitRequestBody or is malformed; `status` is the
// HTTP status httpd should answer with (413, 400).
class BadRequestBody : public std::runtime_error {
public:
    BadRequestBody(int status_code, const std::string& what) : std::runtime_error(what), status(status_code) {}
    int status;
};

// The request as ASGI's scope describes it; views valid until the request
// ends.
struct RequestLine {
    std::string_view method;
    std::string_view protocol;    // "HTTP/1.1", "HTTP/2.0"
    std::string_view path;        // decoded, the mount included
    std::size_t mount_length = 0; // bytes of `path` that are the mount
    std::string_view target;      // the request target as sent
    std::string_view query;       // after '?', as sent
    bool https = false;
    std::string_view client_ip;
    int client_port = 0;
    std::string_view server_ip;
    int server_port = 0;
    std::vector<std::pair<std::string_view, std::string_view>> headers;
};

struct ResponseHead {
    int status = 200;
    std::string status_line; // "200 OK", as the app gave it; empty: httpd's
                             // reason phrase for the status
    HeaderList headers;      // validated, no hop-by-hop headers
};

class WebSocketIO;

class RequestIO {
public:
    virtual ~RequestIO() = default;

    // CGI/WSGI variables (REQUEST_METHOD, HTTP_*, SCRIPT_NAME, PATH_INFO, ...)
    // as raw bytes; the core decodes them as latin-1 per PEP 3333. Valid
    // until the request ends.
    virtual void cgi_environ(CgiEnviron& out) = 0;
    virtual bool is_https() const = 0;
    // The request line, headers and addresses (ASGI's scope).
    virtual void request_line(RequestLine& out) = 0;
    // The client closed its side of the connection (checked without
    // blocking; false when it cannot be known, e.g. an HTTP/2 stream).
    virtual bool peer_closed() { return false; }
    // The body's declared Content-Length when it is not chunked, else
    // nullopt: lets read() size its bytes object once and read into it.
    virtual std::optional<std::uint64_t> body_length() const { return std::nullopt; }
    virtual bool is_head() const = 0;
    // The request URI for log lines ("/app/x?y=1").
    virtual std::string_view uri() const = 0;
    // "GET /app/x?y=1 HTTP/1.1 from 192.0.2.7:51234", for log lines written
    // away from the request (the timeout watchdog).
    virtual std::string describe() const { return std::string(uri()); }
    // The connection is not kept alive after this response (the child is
    // leaving).
    virtual void end_keepalive() {}

    // Before the app runs: the HTTP status to refuse the request body with
    // (413 when its Content-Length exceeds LimitRequestBody), else 0. `why`
    // says why, for the log.
    virtual int refuse_body_early(std::string& why) {
        (void)why;
        return 0;
    }

    // Reads up to `len` bytes of the request body; 0 at its end. Blocks.
    // Throws ClientGone or BadRequestBody.
    virtual std::size_t read_body(char* buf, std::size_t len) = 0;

    // Sets status and headers; sends nothing yet. Called once, just before
    // the first send, finish() or abort() (httpd adds each header it is
    // given).
    virtual void set_head(const ResponseHead& head) = 0;
    // Sends body bytes to the client. Blocks. Throws ClientGone.
    //   buffer: httpd may hold small amounts until more follows;
    //   flush:  on the wire before returning (streaming);
    //   last:   these are the last bytes: the response ends (as finish()).
    enum class Send { buffer, flush, last };
    virtual void send_body(const char* data, std::size_t len, Send mode) = 0;
    // Sends `len` bytes of the open file `fd` from `offset` without copying
    // through Python (sendfile where httpd can). Throws ClientGone. `fd`
    // stays the caller's: it may be closed once this returns. With `last`,
    // the response ends with the file (as finish()) and httpd may finish
    // writing it after this returns, as it does for a static file;
    // otherwise it is on the wire before this returns.
    virtual void send_file(int fd, std::uint64_t offset, std::uint64_t len, bool last) = 0;
    // Ends the response normally (EOS); nothing to do once a `last` send
    // ended it. Blocks. Throws ClientGone.
    virtual void finish() = 0;
    // Ends the response after an error once bytes were sent: the client sees
    // a truncated response and the connection is closed.
    virtual void abort() = 0;
    // True once status/headers have gone to the network.
    virtual bool head_sent() const = 0;

    // A WebSocket handshake (an Upgrade: websocket request of its own, not a
    // subrequest or an internal redirect): the connection it would take
    // over, else null. Owned by the request.
    virtual WebSocketIO* websocket() { return nullptr; }

    // Logs with the request's context (client address).
    virtual void log(LogLevel level, std::string_view message) = 0;
};

} // namespace pympm
