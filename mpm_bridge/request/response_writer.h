// The response, as every interface writes it: the head once, body bytes
// never past a declared Content-Length (the excess is dropped and logged),
// a short body cut so that the client can tell, no body for 204/304, files
// sent by httpd without a copy, and the abort that closes the connection
// when an error comes after bytes went out. Sends block on httpd without
// the GIL (PyEnableThreads On), the request's slot lendable meanwhile.
//
// Called with the GIL held; each call takes the request's I/O lock.
#pragma once

#include "request/request_io.h"

#include <cstdint>
#include <optional>

namespace pympm {

class RequestCore;

class ResponseWriter {
public:
    explicit ResponseWriter(RequestCore& core) : core_(core) {}
    ResponseWriter(const ResponseWriter&) = delete;
    ResponseWriter& operator=(const ResponseWriter&) = delete;

    // The app's status and headers, checked (response_head.h). Replaces an
    // earlier head while none was sent.
    void set_head(ResponseHead head, std::optional<std::uint64_t> content_length);
    bool head_set() const { return head_set_; }
    const ResponseHead& head() const { return head_; }
    std::optional<std::uint64_t> declared_length() const { return declared_length_; }
    // The whole body is known and the app gave no length: declare it.
    void declare_length(std::uint64_t length);

    // Sends body bytes (the head first, if it is still here); false if the
    // response must stop: the client went away (client_gone()) or there is
    // no head to send (logged).
    bool send(const char* data, std::size_t len, RequestIO::Send mode);
    // `len` bytes of the open file `fd` from `offset`, the last of the
    // response; the Content-Length (declared, or set here) bounds it.
    // Returns the handler status, as finish().
    int send_file(int fd, std::uint64_t offset, std::uint64_t len);
    // Ends the response: returns 0, or 500 when there is no head at all.
    int finish();
    // Cuts the response short (after an error once bytes were sent).
    void abort();

    bool client_gone() const { return client_gone_; }
    std::uint64_t sent() const { return sent_; }
    bool length_complete() const { return declared_length_ && sent_ >= *declared_length_; }
    bool length_error_logged() const { return length_error_logged_; }
    // More was produced than the declared length (logged once).
    void log_excess();

private:
    // A head to send (the app's, or httpd's already out); logs when not.
    bool has_head();
    bool send_head_if_needed();
    bool no_body() const { return head_.status == 204 || head_.status == 304; }

    RequestCore& core_;
    bool head_set_ = false;
    ResponseHead head_;
    std::optional<std::uint64_t> declared_length_;
    std::uint64_t sent_ = 0;
    bool length_error_logged_ = false;
    bool client_gone_ = false;
    bool aborted_ = false;
};

} // namespace pympm
