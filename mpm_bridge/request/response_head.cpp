#include "request/response_head.h"

#include "request/http_validation.h"

#include <charconv>

namespace pympm {

namespace {

// name or value as Python's repr would show it, for the message.
std::string quoted(std::string_view s) {
    std::string out = "'";
    for (unsigned char ch : s) {
        if (ch == '\\' || ch == '\'') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch >= 0x20 && ch < 0x7f)
            out += static_cast<char>(ch);
        else {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out + "'";
}

} // namespace

const char* status_code_problem(int status) {
    // The client would take the body of an interim response for the next
    // response.
    if (status < 200)
        return "is an interim (1xx) response: the app gives the final status (httpd sends 100 "
               "Continue itself when the app reads the body)";
    if (status > 599) return "is outside 200-599, which HTTP defines";
    return nullptr;
}

std::optional<std::string> add_response_header(ResponseHead& head, std::optional<std::uint64_t>& content_length,
                                               std::string name, std::string value, const char* interface_name) {
    if (!is_http_token(name))
        return "invalid response header name " + quoted(name) +
               ": must be an HTTP token (no spaces, colons or control characters)";
    if (!is_valid_header_value(value))
        return "invalid value for response header " + quoted(name) + ": CR, LF and control characters are not allowed";
    if (is_hop_by_hop_header(name))
        return "hop-by-hop header " + quoted(name) + " is not allowed in " + interface_name +
               " response; httpd manages the connection";
    if (name.size() == 14 && iequals(name, "content-length")) {
        std::uint64_t len = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), len);
        if (ec != std::errc() || p != value.data() + value.size() || value.empty())
            return "invalid Content-Length " + quoted(value);
        if (len > static_cast<std::uint64_t>(INT64_MAX))
            return "Content-Length " + quoted(value) + " is larger than httpd can send (2**63 - 1)";
        if (content_length && *content_length != len)
            return "two different Content-Length headers (" + std::to_string(*content_length) + " and " +
                   quoted(value) + ")";
        content_length = len;
    }
    head.headers.emplace_back(std::move(name), std::move(value));
    return std::nullopt;
}

} // namespace pympm
