// A RequestIO without httpd, for the unit tier: a scripted request (method,
// target, headers, a body in chunks, failures at a given byte), and a record
// of what the request core did with it (the head, each send with its mode,
// files, the end, log lines). It behaves as module/httpd_request_io.cpp does
// where the core can tell (the head goes out with the first send; a refusal
// httpd answered itself ends the response), and fails the running test at
// once (BOOST_ERROR) on a call httpd's RequestIO would take badly: a second
// head, a send after the end, a blocking call with the GIL held while
// PyEnableThreads is On, a read after a failed one.
#pragma once

#include "request/request_io.h"

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pympm_test {

// What the client sends, and how httpd's side fails. Written with
// designated initialisers: FakeRequest{.method = "POST", .body = {"ab", "c"}}
// (every member has an initialiser, so any may be left out).
struct FakeRequest {
    std::string method = "GET";
    std::string mount{};      // SCRIPT_NAME ("" for a mount at /)
    std::string target = "/"; // path after the mount, and ?query
    std::string protocol = "HTTP/1.1";
    bool https = false;
    std::vector<std::pair<std::string, std::string>> headers{};
    // The body as read_body() delivers it: each call returns at most one
    // chunk (less when the caller asks for less).
    std::vector<std::string> body{};
    // Transfer-Encoding: chunked (no declared length).
    bool chunked = false;
    // The declared Content-Length when it differs from the body's size (a
    // client that promises more than it sends).
    std::optional<std::uint64_t> content_length{};

    // read_body() throws ClientGone once this many body bytes went out (or
    // where the scripted body runs out before).
    std::optional<std::size_t> client_gone_at_body_byte{};
    // read_body() throws BadRequestBody(refuse_status) once this many body
    // bytes went out (LimitRequestBody over a chunked body: 413; a malformed
    // chunk: 400). With refusal_answered_by_httpd, httpd's input filter has
    // answered the client itself (AP_FILTER_ERROR): the head counts as sent
    // and what the core sends afterwards is dropped.
    std::optional<std::size_t> refuse_body_at_byte{};
    int refuse_status = 413;
    bool refusal_answered_by_httpd = true;
    // refuse_body_early(): a declared length over LimitRequestBody.
    int refuse_early_status = 0;
    std::string refuse_early_why{};

    // send_body()/send_file() throw ClientGone once the response body would
    // pass this many bytes (what fits is recorded as sent).
    std::optional<std::size_t> client_gone_at_response_byte{};
    // peer_closed()'s answer.
    bool peer_closed = false;
};

class FakeRequestIO final : public pympm::RequestIO {
public:
    // release_gil: the core runs with PyEnableThreads On, so every blocking
    // call must come without the GIL.
    explicit FakeRequestIO(FakeRequest request = {}, bool release_gil = true);

    // ---- RequestIO
    void cgi_environ(pympm::CgiEnviron& out) override;
    bool is_https() const override { return req_.https; }
    void request_line(pympm::RequestLine& out) override;
    bool peer_closed() override { return req_.peer_closed; }
    std::optional<std::uint64_t> body_length() const override;
    bool is_head() const override { return req_.method == "HEAD"; }
    std::string_view uri() const override { return uri_; }
    void end_keepalive() override;
    int refuse_body_early(std::string& why) override;
    std::size_t read_body(char* buf, std::size_t len) override;
    void set_head(const pympm::ResponseHead& head) override;
    void send_body(const char* data, std::size_t len, Send mode) override;
    void send_file(int fd, std::uint64_t offset, std::uint64_t len, bool last) override;
    void finish() override;
    void abort() override;
    bool head_sent() const override;
    void log(pympm::LogLevel level, std::string_view message) override;

    // ---- What the core did
    struct Sent {
        enum class Kind { body, file } kind;
        std::size_t bytes;        // passed on (after any client-gone cut)
        Send mode = Send::buffer; // body
        std::uint64_t offset = 0; // file
        bool last = false;        // file
    };
    struct LogLine {
        pympm::LogLevel level;
        std::string text;
    };
    // The head given with set_head (the last one), if any.
    const std::optional<pympm::ResponseHead>& head() const { return head_; }
    int status() const { return head_ ? head_->status : 0; }
    // A header of the head ("" if absent; several are joined with ", ").
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
    // Every body byte the client would get (files read back from their
    // descriptors), and each send.
    const std::string& body() const { return body_; }
    const std::vector<Sent>& sends() const { return sends_; }
    // The response ended with finish() (or a last send), or with abort().
    bool finished() const { return finished_; }
    bool aborted() const { return aborted_; }
    bool keepalive_ended() const { return keepalive_ended_; }
    // The calls in order, one word each: "head", "body:flush:5", "file:0:10:last",
    // "finish", "abort" (for assertions on the order).
    std::vector<std::string> calls() const;
    // Body bytes read_body() delivered.
    std::size_t body_read() const { return body_pos_; }

    const std::vector<LogLine>& logs() const { return logs_; }
    // A line at `level` containing `needle`.
    bool logged(pympm::LogLevel level, std::string_view needle) const;
    std::size_t count_logs(pympm::LogLevel level) const;
    // Every line, "[level] text\n", for failure messages.
    std::string log_text() const;

private:
    void misuse(const std::string& what) const;
    void check_blocking_call(const char* what) const;
    bool ended() const { return finished_ || aborted_; }
    void go_out(); // the head goes with the first pass, as httpd's

    FakeRequest req_;
    bool release_gil_;
    std::string uri_;
    std::string path_, query_, script_name_, request_uri_, content_length_text_, server_port_;
    std::vector<std::string> header_names_; // HTTP_* storage for cgi_environ
    std::size_t chunk_ = 0, chunk_pos_ = 0, body_pos_ = 0;
    bool read_failed_ = false;
    bool refusal_answered_ = false;

    // Other threads of the app may send (write()) and read: the core
    // serialises them with its I/O lock; this one keeps the record whole.
    mutable std::mutex mutex_;
    std::optional<pympm::ResponseHead> head_;
    int set_head_calls_ = 0;
    bool head_out_ = false;
    bool finished_ = false, aborted_ = false, keepalive_ended_ = false;
    std::string body_;
    std::vector<Sent> sends_;
    std::vector<std::string> calls_;
    std::vector<LogLine> logs_;
};

std::string_view level_name(pympm::LogLevel level);

} // namespace pympm_test
