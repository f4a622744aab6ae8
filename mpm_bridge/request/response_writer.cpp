#include "request/response_writer.h"

#include "request/request_core.h"
#include "admission/request_admission.h"

#include <algorithm>

namespace pympm {

using IoLock = RequestCore::IoLock;

void ResponseWriter::set_head(ResponseHead head, std::optional<std::uint64_t> content_length) {
    head_ = std::move(head);
    declared_length_ = content_length;
    head_set_ = true;
}

void ResponseWriter::declare_length(std::uint64_t length) {
    head_.headers.emplace_back("Content-Length", std::to_string(length));
    declared_length_ = length;
}

bool ResponseWriter::has_head() {
    if (head_set_ || core_.io.head_sent()) return true;
    core_.fail_message("the app produced body bytes before it gave its status and headers");
    return false;
}

// Called just before something is passed to httpd, which sends the head with
// it: httpd adds every header it is given again, so it gets the head once.
bool ResponseWriter::send_head_if_needed() {
    IoLock lock(core_, IoLock::Entry::internal);
    if (core_.io.head_sent()) return true;
    if (!has_head()) return false;
    core_.io.set_head(head_);
    return true;
}

void ResponseWriter::log_excess() {
    if (length_error_logged_) return;
    length_error_logged_ = true;
    core_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00023)) + "app " + core_.app_name +
                                   " produced more than its Content-Length of " + std::to_string(*declared_length_) +
                                   " bytes for " + std::string(core_.io.uri()) + "; the excess was not sent");
}

bool ResponseWriter::send(const char* data, std::size_t len, RequestIO::Send mode) {
    IoLock lock(core_, IoLock::Entry::internal);
    if (client_gone_) return false;
    // 204 and 304 have no body (RFC 9110): what the app yields is dropped
    // (finish() sends the head and ends the response), and a Content-Length
    // describes the resource, not this response.
    if (no_body()) return has_head();
    if (!send_head_if_needed()) return false;
    // HEAD: the app's body is counted, not sent (mod_http2 would send it as
    // DATA where HTTP/1 drops it); the head goes out when it would for GET.
    const bool head_only = core_.io.is_head();
    if (declared_length_ && sent_ + len > *declared_length_) {
        // Never more than the declared length (PEP 3333; HTTP framing).
        log_excess();
        len = static_cast<std::size_t>(*declared_length_ - sent_);
        if (len == 0 && mode != RequestIO::Send::last) return true;
    }
    try {
        BlockingSection unlocked(core_.ctx.release_gil);
        core_.io.send_body(data, head_only ? 0 : len, mode);
    } catch (const ClientGone& e) {
        client_gone_ = true;
        core_.log_client_gone("sending", e.what());
        return false;
    }
    sent_ += len;
    return true;
}

int ResponseWriter::send_file(int fd, std::uint64_t offset, std::uint64_t len) {
    IoLock lock(core_, IoLock::Entry::internal);
    if (client_gone_) return 0;
    if (declared_length_) {
        // The Content-Length says how much of the file to send (a range),
        // and what was already sent counts: never past it.
        const std::uint64_t room = *declared_length_ > sent_ ? *declared_length_ - sent_ : 0;
        len = std::min(len, room);
    } else if (!core_.io.head_sent()) {
        declare_length(len);
    }
    if (len > 0 && !no_body() && !core_.io.is_head()) {
        if (!send_head_if_needed()) return 500;
        // The file completes the response: it goes with the end of the
        // response in one pass (finish() below then has nothing to do).
        const bool last = !declared_length_ || sent_ + len >= *declared_length_;
        try {
            BlockingSection unlocked(core_.ctx.release_gil);
            core_.io.send_file(fd, offset, len, last);
        } catch (const ClientGone& e) {
            client_gone_ = true;
            core_.log_client_gone("sending a file for", e.what());
            return 0;
        }
        sent_ += len;
    }
    return finish();
}

int ResponseWriter::finish() {
    IoLock lock(core_, IoLock::Entry::internal);
    if (client_gone_) return 0;
    if (!core_.io.head_sent()) {
        if (!head_set_) return 500; // the interface logged why
        core_.io.set_head(head_);   // goes out with the end below
    }
    if (declared_length_ && sent_ < *declared_length_ && !core_.io.is_head() && !no_body()) {
        // HEAD is exempt: frameworks answer it with the GET's Content-Length
        // and no body.
        core_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00025)) + "app " + core_.app_name + " sent " +
                                       std::to_string(sent_) + " bytes but declared Content-Length " +
                                       std::to_string(*declared_length_) + " for " + std::string(core_.io.uri()) +
                                       "; the connection is closed so the client sees a truncated response");
        abort();
        return 0;
    }
    try {
        BlockingSection unlocked(core_.ctx.release_gil);
        core_.io.finish();
    } catch (const ClientGone& e) {
        client_gone_ = true;
        core_.log_client_gone("ending", e.what());
    }
    return 0;
}

void ResponseWriter::abort() {
    IoLock lock(core_, IoLock::Entry::internal);
    if (aborted_ || client_gone_) return;
    aborted_ = true;
    BlockingSection unlocked(core_.ctx.release_gil);
    core_.io.abort();
}

} // namespace pympm
