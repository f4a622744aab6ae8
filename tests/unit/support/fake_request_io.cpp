#include "fake_request_io.h"

#include "python/thread_binding.h"

#include <boost/test/unit_test.hpp>

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

using namespace pympm;

namespace pympm_test {

std::string_view level_name(LogLevel level) {
    static constexpr std::string_view names[] = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};
    return names[static_cast<int>(level)];
}

namespace {

const char* mode_name(RequestIO::Send mode) {
    switch (mode) {
    case RequestIO::Send::buffer: return "buffer";
    case RequestIO::Send::flush: return "flush";
    case RequestIO::Send::last: return "last";
    }
    return "?";
}

} // namespace

FakeRequestIO::FakeRequestIO(FakeRequest request, bool release_gil)
    : req_(std::move(request)), release_gil_(release_gil) {
    const std::size_t q = req_.target.find('?');
    path_ = req_.target.substr(0, q);
    query_ = q == std::string::npos ? "" : req_.target.substr(q + 1);
    script_name_ = req_.mount;
    request_uri_ = req_.mount + req_.target;
    uri_ = request_uri_;
    server_port_ = req_.https ? "443" : "80";
    if (const auto length = body_length(); length && (!req_.body.empty() || req_.content_length))
        content_length_text_ = std::to_string(*length);
}

void FakeRequestIO::misuse(const std::string& what) const {
    BOOST_ERROR("FakeRequestIO: the core " << what << " (" << uri_ << ")");
}

void FakeRequestIO::check_blocking_call(const char* what) const {
    // PyEnableThreads On: httpd may block here, and other threads need the GIL.
    if (release_gil_ && Py_IsInitialized() && thread_binding::holds_gil())
        misuse(std::string("called ") + what + " holding the GIL");
}

void FakeRequestIO::go_out() { head_out_ = true; }

// ---------------------------------------------------------------- request

void FakeRequestIO::cgi_environ(CgiEnviron& out) {
    for (const auto& [name, value] : req_.headers) {
        if (!strcasecmp(name.c_str(), "Content-Type"))
            out.set(CgiKey::k_CONTENT_TYPE, value);
        else if (!strcasecmp(name.c_str(), "Content-Length") || !strcasecmp(name.c_str(), "Proxy"))
            continue;
        else
            out.add(name, value, true);
    }
    if (!content_length_text_.empty()) out.set(CgiKey::k_CONTENT_LENGTH, content_length_text_);
    out.set(CgiKey::k_SERVER_SOFTWARE, std::string_view("Apache"));
    out.set(CgiKey::k_SERVER_NAME, std::string_view("localhost"));
    out.set(CgiKey::k_SERVER_ADDR, std::string_view("127.0.0.1"));
    out.set(CgiKey::k_SERVER_PORT, server_port_);
    out.set(CgiKey::k_REMOTE_ADDR, std::string_view("192.0.2.7"));
    out.set(CgiKey::k_REMOTE_PORT, std::string_view("51234"));
    out.set(CgiKey::k_REQUEST_SCHEME, std::string_view(req_.https ? "https" : "http"));
    out.set(CgiKey::k_GATEWAY_INTERFACE, std::string_view("CGI/1.1"));
    out.set(CgiKey::k_SERVER_PROTOCOL, req_.protocol);
    out.set(CgiKey::k_REQUEST_METHOD, req_.method);
    out.set(CgiKey::k_QUERY_STRING, query_);
    out.set(CgiKey::k_REQUEST_URI, request_uri_);
    out.set(CgiKey::k_SCRIPT_NAME, script_name_);
    out.set(CgiKey::k_PATH_INFO, path_);
}

void FakeRequestIO::request_line(RequestLine& out) {
    out.method = req_.method;
    out.protocol = req_.protocol;
    out.path = request_uri_.substr(0, req_.mount.size() + path_.size());
    out.mount_length = req_.mount.size();
    out.target = request_uri_;
    out.query = query_;
    out.https = req_.https;
    out.client_ip = "192.0.2.7";
    out.client_port = 51234;
    out.server_ip = "127.0.0.1";
    out.server_port = req_.https ? 443 : 80;
    for (const auto& [name, value] : req_.headers) out.headers.emplace_back(name, value);
}

std::optional<std::uint64_t> FakeRequestIO::body_length() const {
    if (req_.chunked) return std::nullopt;
    if (req_.content_length) return req_.content_length;
    std::uint64_t n = 0;
    for (const auto& c : req_.body) n += c.size();
    return n;
}

void FakeRequestIO::end_keepalive() {
    std::lock_guard lock(mutex_);
    keepalive_ended_ = true;
    calls_.push_back("end_keepalive");
}

int FakeRequestIO::refuse_body_early(std::string& why) {
    if (req_.refuse_early_status) why = req_.refuse_early_why;
    return req_.refuse_early_status;
}

std::size_t FakeRequestIO::read_body(char* buf, std::size_t len) {
    check_blocking_call("read_body");
    std::lock_guard lock(mutex_);
    if (read_failed_) {
        misuse("read the body again after a read failed");
        return 0;
    }
    if (len == 0) return 0;
    std::optional<std::size_t> fail_at;
    if (req_.client_gone_at_body_byte) fail_at = req_.client_gone_at_body_byte;
    if (req_.refuse_body_at_byte) fail_at = std::min(fail_at.value_or(SIZE_MAX), *req_.refuse_body_at_byte);
    while (chunk_ < req_.body.size() && chunk_pos_ == req_.body[chunk_].size()) {
        ++chunk_;
        chunk_pos_ = 0;
    }
    const bool at_end = chunk_ == req_.body.size();
    // The failure comes at its byte, or where the scripted body runs out
    // before it (a client that declared more than it sent).
    if (fail_at && (body_pos_ >= *fail_at || at_end)) {
        read_failed_ = true;
        if (req_.refuse_body_at_byte && (body_pos_ >= *req_.refuse_body_at_byte || !req_.client_gone_at_body_byte)) {
            if (req_.refusal_answered_by_httpd) {
                refusal_answered_ = true;
                throw BadRequestBody(req_.refuse_status, "httpd refused the request body and answered " +
                                                             std::to_string(req_.refuse_status));
            }
            throw BadRequestBody(req_.refuse_status, "the request body is too large");
        }
        throw ClientGone("End of file found");
    }
    if (at_end) return 0;
    const std::string& c = req_.body[chunk_];
    std::size_t n = std::min(len, c.size() - chunk_pos_);
    if (fail_at) n = std::min(n, *fail_at - body_pos_);
    std::memcpy(buf, c.data() + chunk_pos_, n);
    chunk_pos_ += n;
    body_pos_ += n;
    return n;
}

// --------------------------------------------------------------- response

void FakeRequestIO::set_head(const ResponseHead& head) {
    std::lock_guard lock(mutex_);
    calls_.push_back("head");
    if (head_out_ || refusal_answered_) misuse("set the head once it was sent");
    if (++set_head_calls_ > 1) misuse("set the head twice (httpd adds each header again)");
    head_ = head;
}

void FakeRequestIO::send_body(const char* data, std::size_t len, Send mode) {
    check_blocking_call("send_body");
    std::lock_guard lock(mutex_);
    if (refusal_answered_) {
        calls_.push_back("dropped"); // httpd answered already (error_sent_)
        return;
    }
    if (!head_) misuse("sent body bytes before any head");
    if (ended()) {
        misuse("sent body bytes after the response ended");
        return;
    }
    go_out();
    std::size_t take = len;
    bool gone = false;
    if (req_.client_gone_at_response_byte && body_.size() + len > *req_.client_gone_at_response_byte) {
        take = *req_.client_gone_at_response_byte - std::min(body_.size(), *req_.client_gone_at_response_byte);
        gone = true;
    }
    body_.append(data, take);
    sends_.push_back(Sent{Sent::Kind::body, take, mode, 0, false});
    calls_.push_back(std::string("body:") + mode_name(mode) + ":" + std::to_string(take));
    if (gone) {
        aborted_ = true; // the connection is gone: nothing more can be sent
        throw ClientGone("Broken pipe");
    }
    if (mode == Send::last) finished_ = true;
}

void FakeRequestIO::send_file(int fd, std::uint64_t offset, std::uint64_t len, bool last) {
    check_blocking_call("send_file");
    std::lock_guard lock(mutex_);
    if (refusal_answered_) {
        calls_.push_back("dropped");
        return;
    }
    if (!head_) misuse("sent a file before any head");
    if (ended()) {
        misuse("sent a file after the response ended");
        return;
    }
    go_out();
    // What httpd would send: the file's bytes, read now (the descriptor is
    // the app's and may be closed once this returns).
    std::string data(static_cast<std::size_t>(len), '\0');
    std::size_t got = 0;
    while (got < data.size()) {
        const ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            misuse("sent " + std::to_string(len) + " bytes of a file from offset " + std::to_string(offset) +
                   " that has only " + std::to_string(offset + got));
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    data.resize(got);
    std::size_t take = data.size();
    bool gone = false;
    if (req_.client_gone_at_response_byte && body_.size() + take > *req_.client_gone_at_response_byte) {
        take = *req_.client_gone_at_response_byte - std::min(body_.size(), *req_.client_gone_at_response_byte);
        gone = true;
    }
    body_.append(data, 0, take);
    sends_.push_back(Sent{Sent::Kind::file, take, Send::buffer, offset, last});
    calls_.push_back("file:" + std::to_string(offset) + ":" + std::to_string(len) + (last ? ":last" : ""));
    if (gone) {
        aborted_ = true;
        throw ClientGone("Broken pipe");
    }
    if (last) finished_ = true;
}

void FakeRequestIO::finish() {
    check_blocking_call("finish");
    std::lock_guard lock(mutex_);
    if (refusal_answered_) {
        calls_.push_back("dropped");
        return;
    }
    if (finished_ && !aborted_) {
        // After a last send the response has ended: finish() has nothing
        // left to do (request_io.h).
        calls_.push_back("finish");
        return;
    }
    if (!head_) misuse("ended the response without a head");
    if (aborted_) misuse("ended the response normally after aborting it");
    go_out();
    finished_ = true;
    calls_.push_back("finish");
}

void FakeRequestIO::abort() {
    check_blocking_call("abort");
    std::lock_guard lock(mutex_);
    if (refusal_answered_) {
        calls_.push_back("dropped");
        return;
    }
    // Before anything went out, httpd answers 502 for the error bucket.
    if (!head_) misuse("aborted a response without a head");
    if (ended()) misuse("aborted a response that had ended");
    go_out();
    aborted_ = true;
    calls_.push_back("abort");
}

bool FakeRequestIO::head_sent() const {
    std::lock_guard lock(mutex_);
    return head_out_ || refusal_answered_;
}

void FakeRequestIO::log(LogLevel level, std::string_view message) {
    std::lock_guard lock(mutex_);
    logs_.push_back({level, std::string(message)});
}

// ----------------------------------------------------------------- record

std::string FakeRequestIO::header(std::string_view name) const {
    std::string out;
    if (!head_) return out;
    for (const auto& [n, v] : head_->headers) {
        if (n.size() != name.size() || strncasecmp(n.data(), name.data(), n.size()) != 0) continue;
        if (!out.empty()) out += ", ";
        out += v;
    }
    return out;
}

bool FakeRequestIO::has_header(std::string_view name) const {
    if (!head_) return false;
    return std::any_of(head_->headers.begin(), head_->headers.end(), [&](const auto& h) {
        return h.first.size() == name.size() && strncasecmp(h.first.data(), name.data(), name.size()) == 0;
    });
}

std::vector<std::string> FakeRequestIO::calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
}

bool FakeRequestIO::logged(LogLevel level, std::string_view needle) const {
    std::lock_guard lock(mutex_);
    return std::any_of(logs_.begin(), logs_.end(),
                       [&](const LogLine& l) { return l.level == level && l.text.find(needle) != std::string::npos; });
}

std::size_t FakeRequestIO::count_logs(LogLevel level) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(logs_.begin(), logs_.end(), [&](const LogLine& l) { return l.level == level; }));
}

std::string FakeRequestIO::log_text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : logs_) out += "[" + std::string(level_name(l.level)) + "] " + l.text + "\n";
    return out;
}

} // namespace pympm_test
