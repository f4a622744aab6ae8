// A small blocking HTTP/1.1 client over POSIX sockets for the end-to-end
// tests. It talks to loopback addresses (127.0.0.1 unless a host is given:
// any IPv4 address in 127.0.0.0/8), records when bytes arrive (steady_clock)
// so tests can reason about streaming and concurrency, and can send arbitrary
// bytes for malformed-request tests. Every wait is bounded by a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pympm_test {

using Clock = std::chrono::steady_clock;

// Where requests go when no host is named.
inline constexpr const char* kDefaultHost = "127.0.0.1";

// Timeouts, protocol errors, connection failures.
class HttpError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CaseInsensitiveLess {
    bool operator()(const std::string& a, const std::string& b) const;
};

class Headers {
public:
    void add(std::string name, std::string value);
    bool has(const std::string& name) const;
    // First value of `name`, or "" when absent.
    std::string get(const std::string& name) const;
    std::vector<std::string> get_all(const std::string& name) const;
    std::size_t count(const std::string& name) const;
    const std::multimap<std::string, std::string, CaseInsensitiveLess>& all() const { return map_; }

private:
    std::multimap<std::string, std::string, CaseInsensitiveLess> map_;
};

// One piece of response body as it came off the socket (after de-chunking).
struct BodyPiece {
    Clock::time_point at;
    std::string data;
};

struct HttpRequest {
    std::string method = "GET";
    std::string target = "/";
    // Sent as given, in order. Host, Content-Length and Connection are added
    // unless present here.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Non-empty: the body is sent with Transfer-Encoding: chunked, one HTTP
    // chunk per element (and `body` is ignored).
    std::vector<std::string> chunks;
    // Keep the connection open after the response (HttpConnection only).
    bool keep_alive = false;
    std::chrono::milliseconds timeout{30000};
    // Called for every body piece as it arrives (arrival time included).
    std::function<void(const BodyPiece&)> on_body;
};

struct HttpResponse {
    std::string version; // "HTTP/1.1"
    int status = 0;
    std::string reason;
    Headers headers;
    std::string body;
    bool chunked = false;
    bool connection_closed = false; // server closed the connection after it
    // Our side's port: httpd logs it as "[client 127.0.0.1:<port>]", which
    // ties error-log lines to this request.
    std::uint16_t local_port = 0;
    std::vector<BodyPiece> pieces; // body as received, with arrival times
    Clock::time_point started;     // before connect()
    Clock::time_point connected;
    Clock::time_point sent;       // request fully written
    Clock::time_point first_byte; // first byte of the response
    Clock::time_point complete;   // last byte of the body

    // Seconds between two of the time points above.
    static double seconds(Clock::time_point from, Clock::time_point to);
    double total_seconds() const { return seconds(started, complete); }
};

// A connection that can carry several requests (keep-alive).
class HttpConnection {
public:
    explicit HttpConnection(std::uint16_t port, std::chrono::milliseconds connect_timeout = std::chrono::seconds(10));
    // To `host` (a numeric IPv4 address) instead of 127.0.0.1.
    HttpConnection(const std::string& host, std::uint16_t port,
                   std::chrono::milliseconds connect_timeout = std::chrono::seconds(10));
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    HttpResponse request(const HttpRequest& req);
    bool is_open() const { return fd_ >= 0; }
    void close();
    int fd() const { return fd_; }
    const std::string& host() const { return host_; }
    std::uint16_t port() const { return port_; }
    std::uint16_t local_port() const { return local_port_; }

    // Low-level access for tests that write a request in pieces.
    void send_all(std::string_view data, Clock::time_point deadline);
    // Reads one response (skipping 1xx interim responses).
    HttpResponse read_response(bool head_request, Clock::time_point deadline,
                               const std::function<void(const BodyPiece&)>& on_body = {});

private:
    std::size_t fill(Clock::time_point deadline); // 0 at EOF
    std::string read_line(Clock::time_point deadline);
    void read_exact(std::size_t n, Clock::time_point deadline, HttpResponse& resp,
                    const std::function<void(const BodyPiece&)>& on_body);

    int fd_ = -1;
    std::string host_;
    std::uint16_t port_;
    std::uint16_t local_port_ = 0;
    std::string buf_; // received, not yet consumed
    Clock::time_point connected_at_{};
    bool used_ = false;
};

// One request on a fresh connection (Connection: close unless keep_alive).
HttpResponse http_request(std::uint16_t port, const HttpRequest& req);
HttpResponse http_get(std::uint16_t port, const std::string& target,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));
// The same to `host` (a numeric IPv4 address) instead of 127.0.0.1.
HttpResponse http_request(const std::string& host, std::uint16_t port, const HttpRequest& req);
HttpResponse http_get(const std::string& host, std::uint16_t port, const std::string& target,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct RawReply {
    std::string data;
    bool closed = false;    // the server closed the connection
    bool timed_out = false; // the deadline passed first
    std::uint16_t local_port = 0;
};

// Sends `bytes` as they are and reads whatever comes back until the server
// closes the connection or `timeout` passes. half_close: shut down our write
// side after sending (some servers wait for more otherwise).
RawReply raw_exchange(std::uint16_t port, std::string_view bytes,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10), bool half_close = false);
RawReply raw_exchange(const std::string& host, std::uint16_t port, std::string_view bytes,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10), bool half_close = false);

// Socket helpers for tests that speak their own protocol on a connection.
// A non-blocking TCP connection to 127.0.0.1:port with TCP_NODELAY.
int connect_loopback(std::uint16_t port, Clock::time_point deadline);
// Writes all of `data` (waiting for the socket as needed); HttpError on
// failure or when the deadline passes.
void send_on(int fd, std::string_view data, Clock::time_point deadline);
// Waits until `fd` is readable (data, EOF or an error); false on deadline.
bool wait_readable(int fd, Clock::time_point deadline);
// Our side's port of a connected socket.
std::uint16_t local_port_of(int fd);

// "[client 127.0.0.1:<port>]": the tag httpd puts on error-log lines about
// requests from that client port.
std::string client_log_tag(std::uint16_t local_port);

// Splits a raw reply at the first blank line: status line + headers, body.
std::pair<std::string, std::string> split_head(const std::string& raw);

} // namespace pympm_test
