#include "http_client.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

namespace pympm_test {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    return static_cast<int>(std::min<long long>(left, 1000 * 3600));
}

// Waits until fd is ready for `events`; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) throw HttpError(errno_text("poll"));
    }
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool has_header(const std::vector<std::pair<std::string, std::string>>& hs, std::string_view name) {
    return std::any_of(hs.begin(), hs.end(), [&](const auto& h) { return iequals(h.first, name); });
}

} // namespace

int connect_to(const std::string& host, std::uint16_t port, Clock::time_point deadline) {
    const std::string where = host + ":" + std::to_string(port);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
        throw HttpError("not a numeric IPv4 address: '" + host + "'");
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw HttpError(errno_text("socket"));
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc < 0 && errno != EINPROGRESS) {
        int e = errno;
        ::close(fd);
        errno = e;
        throw HttpError(errno_text("connect to " + where));
    }
    if (rc < 0) {
        if (!wait_fd(fd, POLLOUT, deadline)) {
            ::close(fd);
            throw HttpError("connect to " + where + " timed out");
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            ::close(fd);
            throw HttpError("connect to " + where + ": " + std::strerror(err));
        }
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int connect_loopback(std::uint16_t port, Clock::time_point deadline) { return connect_to("127.0.0.1", port, deadline); }

std::uint16_t local_port_of(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    return ntohs(addr.sin_port);
}

void send_on(int fd, std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline)) throw HttpError("timed out sending the request");
            continue;
        }
        throw HttpError(errno_text("send"));
    }
}

bool wait_readable(int fd, Clock::time_point deadline) { return wait_fd(fd, POLLIN, deadline); }

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
    return ::strcasecmp(a.c_str(), b.c_str()) < 0;
}

void Headers::add(std::string name, std::string value) { map_.emplace(std::move(name), std::move(value)); }

bool Headers::has(const std::string& name) const { return map_.find(name) != map_.end(); }

std::string Headers::get(const std::string& name) const {
    auto it = map_.find(name);
    return it == map_.end() ? std::string() : it->second;
}

std::vector<std::string> Headers::get_all(const std::string& name) const {
    std::vector<std::string> out;
    auto [b, e] = map_.equal_range(name);
    for (auto it = b; it != e; ++it) out.push_back(it->second);
    return out;
}

std::size_t Headers::count(const std::string& name) const { return map_.count(name); }

double HttpResponse::seconds(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds connect_timeout)
    : HttpConnection(kDefaultHost, port, connect_timeout) {}

HttpConnection::HttpConnection(const std::string& host, std::uint16_t port, std::chrono::milliseconds connect_timeout)
    : host_(host), port_(port) {
    fd_ = connect_to(host, port, Clock::now() + connect_timeout);
    connected_at_ = Clock::now();
    local_port_ = local_port_of(fd_);
}

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    buf_.clear();
}

void HttpConnection::send_all(std::string_view data, Clock::time_point deadline) {
    if (fd_ < 0) throw HttpError("connection is closed");
    send_on(fd_, data, deadline);
}

std::size_t HttpConnection::fill(Clock::time_point deadline) {
    char tmp[16384];
    for (;;) {
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, static_cast<std::size_t>(n));
            return static_cast<std::size_t>(n);
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(fd_, POLLIN, deadline))
                throw HttpError("timed out waiting for the response (received so far: " + std::to_string(buf_.size()) +
                                " unread bytes)");
            continue;
        }
        if (errno == ECONNRESET) return 0;
        throw HttpError(errno_text("recv"));
    }
}

std::string HttpConnection::read_line(Clock::time_point deadline) {
    for (;;) {
        auto pos = buf_.find('\n');
        if (pos != std::string::npos) {
            std::string line = buf_.substr(0, pos);
            buf_.erase(0, pos + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (buf_.size() > 1024 * 1024) throw HttpError("response line longer than 1 MiB");
        if (fill(deadline) == 0)
            throw HttpError("connection closed in the middle of the response head (got '" + buf_ + "')");
    }
}

void HttpConnection::read_exact(std::size_t n, Clock::time_point deadline, HttpResponse& resp,
                                const std::function<void(const BodyPiece&)>& on_body) {
    while (n > 0) {
        if (buf_.empty() && fill(deadline) == 0)
            throw HttpError("connection closed with " + std::to_string(n) + " body bytes missing");
        std::size_t take = std::min(n, buf_.size());
        BodyPiece piece{Clock::now(), buf_.substr(0, take)};
        buf_.erase(0, take);
        n -= take;
        resp.body += piece.data;
        if (on_body) on_body(piece);
        resp.pieces.push_back(std::move(piece));
    }
}

HttpResponse HttpConnection::read_response(bool head_request, Clock::time_point deadline,
                                           const std::function<void(const BodyPiece&)>& on_body) {
    if (fd_ < 0) throw HttpError("connection is closed");
    HttpResponse resp;
    for (;;) {
        if (buf_.empty() && fill(deadline) == 0) throw HttpError("connection closed before a response arrived");
        resp.first_byte = Clock::now();
        std::string status_line = read_line(deadline);
        // "HTTP/1.1 200 OK"
        auto sp1 = status_line.find(' ');
        if (sp1 == std::string::npos || status_line.compare(0, 5, "HTTP/") != 0)
            throw HttpError("malformed status line: '" + status_line + "'");
        resp.version = status_line.substr(0, sp1);
        auto sp2 = status_line.find(' ', sp1 + 1);
        std::string code = status_line.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
        auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), resp.status);
        if (ec != std::errc() || code.size() != 3) throw HttpError("malformed status code in '" + status_line + "'");
        resp.reason = sp2 == std::string::npos ? std::string() : status_line.substr(sp2 + 1);
        resp.headers = Headers();
        for (;;) {
            std::string line = read_line(deadline);
            if (line.empty()) break;
            auto colon = line.find(':');
            if (colon == std::string::npos) throw HttpError("malformed header line: '" + line + "'");
            resp.headers.add(line.substr(0, colon), trim(std::string_view(line).substr(colon + 1)));
        }
        if (resp.status >= 100 && resp.status < 200 && resp.status != 101) continue; // interim response (100 Continue)
        break;
    }

    bool no_body =
        head_request || resp.status == 204 || resp.status == 304 || (resp.status >= 100 && resp.status < 200);
    std::string te = resp.headers.get("Transfer-Encoding");
    std::string cl = resp.headers.get("Content-Length");
    if (no_body) {
        // nothing
    } else if (!te.empty() && te.find("chunked") != std::string::npos) {
        resp.chunked = true;
        for (;;) {
            std::string size_line = read_line(deadline);
            auto semi = size_line.find(';');
            std::string hex = trim(size_line.substr(0, semi));
            std::size_t size = 0;
            auto [p, e] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
            if (e != std::errc() || hex.empty() || p != hex.data() + hex.size())
                throw HttpError("malformed chunk size line: '" + size_line + "'");
            if (size == 0) {
                // Trailers, then the blank line.
                for (;;) {
                    std::string t = read_line(deadline);
                    if (t.empty()) break;
                    auto colon = t.find(':');
                    if (colon != std::string::npos)
                        resp.headers.add(t.substr(0, colon), trim(std::string_view(t).substr(colon + 1)));
                }
                break;
            }
            read_exact(size, deadline, resp, on_body);
            if (!read_line(deadline).empty()) throw HttpError("chunk not followed by CRLF");
        }
    } else if (!cl.empty()) {
        std::size_t n = 0;
        auto [p, e] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
        if (e != std::errc() || p != cl.data() + cl.size()) throw HttpError("malformed Content-Length: '" + cl + "'");
        read_exact(n, deadline, resp, on_body);
    } else {
        // Delimited by the end of the connection.
        for (;;) {
            if (!buf_.empty()) {
                BodyPiece piece{Clock::now(), std::move(buf_)};
                buf_.clear();
                resp.body += piece.data;
                if (on_body) on_body(piece);
                resp.pieces.push_back(std::move(piece));
            }
            if (fill(deadline) == 0) break;
        }
        resp.connection_closed = true;
    }
    resp.complete = Clock::now();

    std::string conn = resp.headers.get("Connection");
    bool server_closes = resp.connection_closed || iequals(conn, "close") ||
                         (resp.version == "HTTP/1.0" && !iequals(conn, "keep-alive"));
    if (server_closes) {
        resp.connection_closed = true;
        close();
    }
    return resp;
}

HttpResponse HttpConnection::request(const HttpRequest& req) {
    auto started = Clock::now();
    auto deadline = started + req.timeout;
    if (fd_ < 0) throw HttpError("connection is closed");
    std::string out = req.method + " " + req.target + " HTTP/1.1\r\n";
    for (const auto& [n, v] : req.headers) out += n + ": " + v + "\r\n";
    if (!has_header(req.headers, "Host")) out += "Host: " + host_ + ":" + std::to_string(port_) + "\r\n";
    if (!has_header(req.headers, "Connection"))
        out += req.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    if (!req.chunks.empty()) {
        if (!has_header(req.headers, "Transfer-Encoding")) out += "Transfer-Encoding: chunked\r\n";
    } else if (!has_header(req.headers, "Content-Length") &&
               (!req.body.empty() || req.method == "POST" || req.method == "PUT")) {
        out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
    }
    out += "\r\n";
    if (req.chunks.empty()) {
        out += req.body;
        send_all(out, deadline);
    } else {
        send_all(out, deadline);
        char hex[32];
        for (const auto& c : req.chunks) {
            if (c.empty()) continue; // an empty chunk would end the body
            int n = std::snprintf(hex, sizeof hex, "%zx\r\n", c.size());
            send_all(std::string(hex, static_cast<std::size_t>(n)) + c + "\r\n", deadline);
        }
        send_all("0\r\n\r\n", deadline);
    }
    auto sent = Clock::now();
    HttpResponse resp = read_response(req.method == "HEAD", deadline, req.on_body);
    resp.started = started;
    resp.connected = used_ ? started : connected_at_;
    resp.sent = sent;
    resp.local_port = local_port_;
    used_ = true;
    if (!req.keep_alive) close();
    return resp;
}

HttpResponse http_request(std::uint16_t port, const HttpRequest& req) { return http_request(kDefaultHost, port, req); }

HttpResponse http_request(const std::string& host, std::uint16_t port, const HttpRequest& req) {
    auto started = Clock::now();
    HttpConnection conn(host, port, req.timeout);
    HttpResponse resp = conn.request(req);
    resp.started = started;
    return resp;
}

HttpResponse http_get(std::uint16_t port, const std::string& target, std::chrono::milliseconds timeout) {
    return http_get(kDefaultHost, port, target, timeout);
}

HttpResponse http_get(const std::string& host, std::uint16_t port, const std::string& target,
                      std::chrono::milliseconds timeout) {
    HttpRequest req;
    req.target = target;
    req.timeout = timeout;
    return http_request(host, port, req);
}

RawReply raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout, bool half_close) {
    return raw_exchange(kDefaultHost, port, bytes, timeout, half_close);
}

RawReply raw_exchange(const std::string& host, std::uint16_t port, std::string_view bytes,
                      std::chrono::milliseconds timeout, bool half_close) {
    auto deadline = Clock::now() + timeout;
    int fd = connect_to(host, port, deadline);
    RawReply reply;
    reply.local_port = local_port_of(fd);
    try {
        send_on(fd, bytes, deadline);
        if (half_close) ::shutdown(fd, SHUT_WR);
        char tmp[16384];
        for (;;) {
            if (!wait_fd(fd, POLLIN, deadline)) {
                reply.timed_out = true;
                break;
            }
            ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n > 0) {
                reply.data.append(tmp, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || errno == ECONNRESET) {
                reply.closed = true;
                break;
            }
            if (errno == EINTR || errno == EAGAIN) continue;
            throw HttpError(errno_text("recv"));
        }
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    return reply;
}

std::string client_log_tag(std::uint16_t local_port) { return "[client 127.0.0.1:" + std::to_string(local_port) + "]"; }

std::pair<std::string, std::string> split_head(const std::string& raw) {
    auto pos = raw.find("\r\n\r\n");
    if (pos == std::string::npos) return {raw, std::string()};
    return {raw.substr(0, pos + 2), raw.substr(pos + 4)};
}

} // namespace pympm_test
